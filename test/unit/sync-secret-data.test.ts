import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildSecrets, CSI_MANAGED_LABEL, MANAGED_BY_LABEL } from '../../src/sync/secret-data.ts';
import { built, file, makeClass } from './helpers/spc.ts';

describe('buildSecrets', () => {
  it('writes one Secret per secretObjects entry, data base64 of the file bytes', () => {
    const parsed = makeClass({
      objects: ['objectName: db\nobjectType: secret', 'objectName: blob\nobjectType: secret'],
      secretObjects: [{
        secretName: 'db-creds',
        type: 'Opaque',
        labels: { app: 'web' },
        annotations: { team: 'a' },
        data: [{ objectName: 'db', key: 'password' }, { objectName: 'blob', key: 'raw' }],
      }],
    });
    const raw = Buffer.from([0, 159, 146, 150, 255]);
    assert.deepEqual(built(buildSecrets(parsed, [file('db', 'hunter2'), file('blob', raw)])), [{
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'db-creds',
        namespace: 'team-a',
        labels: { app: 'web', [MANAGED_BY_LABEL]: 'keyvault-reloader' },
        annotations: { team: 'a' },
        ownerReferences: [{ apiVersion: 'secrets-store.csi.x-k8s.io/v1', kind: 'SecretProviderClass', name: 'app', uid: 'uid-1', controller: true }],
      },
      type: 'Opaque',
      data: { password: Buffer.from('hunter2').toString('base64'), raw: raw.toString('base64') },
    }]);
  });

  it('always sets our ownership label and never the CSI driver\'s', () => {
    const parsed = makeClass({
      secretObjects: [{ secretName: 's', type: 'Opaque', labels: { [MANAGED_BY_LABEL]: 'someone-else', [CSI_MANAGED_LABEL]: 'true' }, data: [{ objectName: 'db', key: 'k' }] }],
    });
    assert.deepEqual(built(buildSecrets(parsed, [file('db', 'x')]))[0]?.metadata?.labels, { [MANAGED_BY_LABEL]: 'keyvault-reloader' });
  });

  it('sets no ownerReference when the class has no uid', () => {
    const parsed = makeClass({ uid: '', secretObjects: [{ secretName: 's', type: 'Opaque', data: [{ objectName: 'db', key: 'k' }] }] });
    assert.equal(built(buildSecrets(parsed, [file('db', 'x')]))[0]?.metadata?.ownerReferences, undefined);
  });

  it('leaves out a Secret whose file was not rendered, and only that one', () => {
    const parsed = makeClass({
      objects: ['objectName: db\nobjectType: secret', 'objectName: other\nobjectType: secret'],
      secretObjects: [
        { secretName: 'broken', type: 'Opaque', data: [{ objectName: 'other', key: 'o' }, { objectName: 'db', key: 'k' }] },
        { secretName: 'fine', type: 'Opaque', data: [{ objectName: 'other', key: 'o' }] },
      ],
    });
    const result = buildSecrets(parsed, [file('other', 'x')]);
    assert.deepEqual(result.failed, [{
      secretName: 'broken',
      problems: [{ field: 'spec.secretObjects[0].data[1].objectName', message: 'no object wrote the file "db"' }],
    }]);
    assert.deepEqual(result.secrets.map((s) => s.metadata?.name), ['fine']);
  });

  it('refuses a file that two rendered objects wrote', () => {
    const parsed = makeClass({ secretObjects: [{ secretName: 's', type: 'Opaque', data: [{ objectName: 'db', key: 'k' }] }] });
    const result = buildSecrets(parsed, [file('db', 'a'), file('db', 'b')]);
    assert.deepEqual(result.secrets, []);
    assert.match(result.failed[0]?.problems[0]?.message ?? '', /two objects wrote the file "db"/);
  });

  it('returns no Secrets for a class without secretObjects', () => {
    assert.deepEqual(buildSecrets(makeClass(), [file('db', 'x')]), { secrets: [], failed: [] });
  });
});

