import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { describe, it } from 'node:test';
import { renderObject, type RenderedFile } from '../../src/sync/render.ts';
import type { V1Secret } from '@kubernetes/client-node';
import {
  buildSecrets,
  type BuiltSecrets,
  distinctReads,
  getRead,
  tlsPart,
  CSI_MANAGED_LABEL,
  MANAGED_BY_LABEL,
} from '../../src/sync/secret-data.ts';
import { formatProblems, parseSecretProviderClass, type ParsedClass } from '../../src/sync/spc.ts';
import { goPem, pki } from './helpers/pki.ts';

const VAULT = 'https://my-vault.vault.azure.net';

function objectsYaml(entries: string[]): string {
  return `array:\n${entries.map((e) => `  - |\n${e.split('\n').map((l) => `    ${l}`).join('\n')}\n`).join('')}`;
}

function makeClass(options: {
  name?: string;
  namespace?: string;
  uid?: string;
  objects?: string[];
  secretObjects?: unknown[];
  parameters?: Record<string, string>;
  annotations?: Record<string, string>;
} = {}): ParsedClass {
  const result = parseSecretProviderClass({
    apiVersion: 'secrets-store.csi.x-k8s.io/v1',
    kind: 'SecretProviderClass',
    metadata: {
      name: options.name ?? 'app',
      namespace: options.namespace ?? 'team-a',
      ...(options.uid === '' ? {} : { uid: options.uid ?? 'uid-1' }),
      annotations: options.annotations ?? {},
    },
    spec: {
      provider: 'azure',
      parameters: {
        keyvaultName: 'my-vault',
        tenantId: 'tenant-1',
        clientID: 'client-1',
        objects: objectsYaml(options.objects ?? ['objectName: db\nobjectType: secret']),
        ...options.parameters,
      },
      secretObjects: options.secretObjects ?? [],
    },
  });
  if (!result.ok) assert.fail(formatProblems(result.problems));
  return result.value;
}

function built(result: BuiltSecrets): V1Secret[] {
  if (result.failed.length > 0) assert.fail(result.failed.map((f) => `${f.secretName}: ${formatProblems(f.problems)}`).join('\n'));
  return result.secrets;
}

function file(fileName: string, content: Buffer | string, id = 'secret/x', version = 'v1'): RenderedFile {
  return { fileName, content: Buffer.from(content), id, version };
}

describe('buildSecrets', () => {
  it('writes one Secret per secretObjects entry, data base64 of the file bytes', () => {
    const parsed = makeClass({
      objects: ['objectName: db\nobjectType: secret', 'objectName: blob\nobjectType: secret'],
      secretObjects: [{
        secretName: 'db-creds',
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
      secretObjects: [{ secretName: 's', labels: { [MANAGED_BY_LABEL]: 'someone-else', [CSI_MANAGED_LABEL]: 'true' }, data: [{ objectName: 'db', key: 'k' }] }],
    });
    assert.deepEqual(built(buildSecrets(parsed, [file('db', 'x')]))[0]?.metadata?.labels, { [MANAGED_BY_LABEL]: 'keyvault-reloader' });
  });

  it('sets no ownerReference when the class has no uid', () => {
    const parsed = makeClass({ uid: '', secretObjects: [{ secretName: 's', data: [{ objectName: 'db', key: 'k' }] }] });
    assert.equal(built(buildSecrets(parsed, [file('db', 'x')]))[0]?.metadata?.ownerReferences, undefined);
  });

  it('leaves out a Secret whose file was not rendered, and only that one', () => {
    const parsed = makeClass({
      objects: ['objectName: db\nobjectType: secret', 'objectName: other\nobjectType: secret'],
      secretObjects: [
        { secretName: 'broken', data: [{ objectName: 'other', key: 'o' }, { objectName: 'db', key: 'k' }] },
        { secretName: 'fine', data: [{ objectName: 'other', key: 'o' }] },
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
    const parsed = makeClass({ secretObjects: [{ secretName: 's', data: [{ objectName: 'db', key: 'k' }] }] });
    const result = buildSecrets(parsed, [file('db', 'a'), file('db', 'b')]);
    assert.deepEqual(result.secrets, []);
    assert.match(result.failed[0]?.problems[0]?.message ?? '', /two objects wrote the file "db"/);
  });

  it('returns no Secrets for a class without secretObjects', () => {
    assert.deepEqual(buildSecrets(makeClass(), [file('db', 'x')]), { secrets: [], failed: [] });
  });
});

describe('kubernetes.io/tls Secrets', () => {
  const p = pki();
  const { leaf, intermediate, root } = p.rsa;
  const tlsClass = (objectName = 'tls') => makeClass({
    objects: ['objectName: tls\nobjectType: secret', 'objectName: tls-pfx\nobjectType: secret\nobjectFormat: pfx\nobjectEncoding: base64'],
    secretObjects: [{ secretName: 'ingress-tls', type: 'kubernetes.io/tls', data: [{ objectName, key: 'tls.crt' }, { objectName, key: 'tls.key' }] }],
  });
  const renderTls = (parsed: ParsedClass, index: number, pfx: Buffer): RenderedFile[] => {
    const result = renderObject(parsed.objects[index]!, {
      objectType: 'secret',
      bundle: { id: `${VAULT}/secrets/tls/v7`, value: pfx.toString('base64'), contentType: 'application/x-pkcs12', kid: `${VAULT}/keys/tls/v7` },
    });
    if (!result.ok) assert.fail(result.problem.message);
    return result.files;
  };
  const decoded = (data: Record<string, string> | undefined, key: string) => Buffer.from(data?.[key] ?? '', 'base64').toString('latin1');

  it('puts the certificate chain in tls.crt and the key as PKCS#1 in tls.key, as the driver does', () => {
    const parsed = tlsClass();
    const secret = built(buildSecrets(parsed, renderTls(parsed, 0, p.pfx.rsaLegacy)))[0];
    assert.equal(secret?.type, 'kubernetes.io/tls');
    assert.equal(decoded(secret?.data, 'tls.crt'), [leaf, intermediate, root].map((c) => goPem('CERTIFICATE', c.certDer)).join(''));
    const pkcs1 = createPrivateKey({ key: leaf.keyDer, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs1', format: 'der' });
    assert.equal(decoded(secret?.data, 'tls.key'), goPem('RSA PRIVATE KEY', pkcs1));
  });

  it('writes an EC key as SEC 1 EC PRIVATE KEY', () => {
    const parsed = tlsClass();
    const secret = built(buildSecrets(parsed, renderTls(parsed, 0, p.pfx.ec)))[0];
    const sec1 = createPrivateKey({ key: p.ec.leaf.keyDer, format: 'der', type: 'pkcs8' }).export({ type: 'sec1', format: 'der' });
    assert.equal(decoded(secret?.data, 'tls.key'), goPem('EC PRIVATE KEY', sec1));
  });

  it('reads a binary PFX file, keeping the archive order and its attributes as PEM headers', () => {
    const parsed = tlsClass('tls-pfx');
    const secret = built(buildSecrets(parsed, renderTls(parsed, 1, p.pfx.rsaLegacy)))[0];
    const crt = decoded(secret?.data, 'tls.crt');
    const blocks = crt.split('-----END CERTIFICATE-----\n').filter((b) => b !== '');
    assert.equal(blocks.length, 3);
    // Go's pkcs12.ToPEM turns bag attributes into headers; the driver keeps them.
    assert.match(blocks[0] ?? '', /^-----BEGIN CERTIFICATE-----\nlocalKeyId: [0-9a-f]{40}\n\n/);
    assert.ok(blocks[1]?.includes(root.certPem.split('\n')[1] ?? '-'), 'archive order: leaf, root, intermediate');
    const pkcs1 = createPrivateKey({ key: leaf.keyDer, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs1', format: 'der' });
    assert.equal(decoded(secret?.data, 'tls.key'), goPem('RSA PRIVATE KEY', pkcs1));
  });

  it('fails rather than write an empty key when the file holds none', () => {
    const parsed = makeClass({
      objects: ['objectName: only-cert\nobjectType: cert'],
      secretObjects: [{ secretName: 'ingress-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'only-cert', key: 'tls.key' }] }],
    });
    const result = buildSecrets(parsed, [file('only-cert', leaf.certPem, 'cert/only-cert', 'v3')]);
    assert.deepEqual(result, {
      secrets: [],
      failed: [{
        secretName: 'ingress-tls',
        problems: [{ field: 'spec.secretObjects[0].data[0]', message: 'cert/only-cert (version v3), file "only-cert": holds no private key block' }],
      }],
    });
  });
});

describe('tlsPart', () => {
  const { leaf } = pki().rsa;

  it('takes the last non-certificate block as the key, as the driver does', () => {
    const other = pki().ec.leaf;
    const content = Buffer.from(goPem('PRIVATE KEY', leaf.keyDer) + leaf.certPem + goPem('PRIVATE KEY', other.keyDer));
    const sec1 = createPrivateKey({ key: other.keyDer, format: 'der', type: 'pkcs8' }).export({ type: 'sec1', format: 'der' });
    assert.equal((tlsPart(content, 'tls.key') as Buffer).toString('latin1'), goPem('EC PRIVATE KEY', sec1));
  });

  it('accepts PKCS#1 and SEC 1 keys as they are', () => {
    const pkcs1 = createPrivateKey({ key: leaf.keyDer, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs1', format: 'der' });
    assert.equal((tlsPart(Buffer.from(goPem('RSA PRIVATE KEY', pkcs1)), 'tls.key') as Buffer).toString('latin1'), goPem('RSA PRIVATE KEY', pkcs1));
  });

  it('explains content it cannot use', () => {
    assert.equal(tlsPart(Buffer.from(goPem('PRIVATE KEY', leaf.keyDer)), 'tls.crt'), 'holds no CERTIFICATE block');
    assert.equal(tlsPart(Buffer.from(goPem('PUBLIC KEY', Buffer.from('junk'))), 'tls.key'), 'the private key is not PKCS#1, PKCS#8 or SEC 1');
    assert.match(tlsPart(Buffer.from('plain text secret'), 'tls.crt') as string, /holds neither PEM blocks nor a readable PKCS#12/);
    assert.equal(tlsPart(Buffer.from(leaf.certPem), 'ca.crt'), '"ca.crt" is not a kubernetes.io/tls key: use tls.crt or tls.key');
  });
});

describe('distinctReads', () => {
  const shared = [
    'objectName: a\nobjectType: secret',
    'objectName: b\nobjectType: secret\nobjectAlias: bee\nobjectEncoding: base64',
    'objectName: c\nobjectType: key',
    'objectName: d\nobjectType: cert',
    'objectName: e\nobjectType: secret\nobjectVersion: 1234',
  ];

  it('collapses 50 classes sharing 5 objects into 5 reads', () => {
    const classes = Array.from({ length: 50 }, (_, i) => makeClass({ name: `app-${i}`, objects: shared }));
    const demands = distinctReads(classes, { defaultServiceAccount: 'keyvault-reader' });
    assert.equal(demands.length, 5);
    assert.deepEqual(demands.map((d) => [d.read.kind, d.read.objectType, d.read.objectName, d.read.kind === 'get' ? d.read.objectVersion : '-']), [
      ['get', 'secret', 'a', ''],
      ['get', 'secret', 'b', ''],
      ['get', 'key', 'c', ''],
      ['get', 'cert', 'd', ''],
      ['get', 'secret', 'e', '1234'],
    ]);
    assert.ok(demands.every((d) => d.consumers.length === 50));
    assert.deepEqual(demands[1]?.consumers[7], { namespace: 'team-a', name: 'app-7', objectIndex: 1 });
    assert.deepEqual(demands[0]?.read.identity, { namespace: 'team-a', serviceAccount: 'keyvault-reader', clientID: 'client-1', tenantId: 'tenant-1' });
  });

  it('does not split reads for alias, format or encoding', () => {
    const classes = [
      makeClass({ name: 'x', objects: ['objectName: s\nobjectType: secret'] }),
      makeClass({ name: 'y', objects: ['objectName: s\nobjectType: secret\nobjectAlias: other\nobjectFormat: pfx\nobjectEncoding: base64'] }),
    ];
    assert.equal(distinctReads(classes, { defaultServiceAccount: 'sa' }).length, 1);
  });

  it('never shares a read across namespaces or identities', () => {
    const classes = [
      makeClass({ name: 'x', namespace: 'team-a' }),
      makeClass({ name: 'x', namespace: 'team-b' }),
      makeClass({ name: 'y', parameters: { clientID: 'client-2' } }),
      makeClass({ name: 'z', parameters: { tenantId: 'tenant-2' } }),
      makeClass({ name: 'w', annotations: { 'keyvault-reloader.io/service-account': 'other-sa' } }),
      makeClass({ name: 'v' }),
    ];
    const demands = distinctReads(classes, { defaultServiceAccount: 'sa' });
    assert.equal(demands.length, 5);
    assert.deepEqual(demands.find((d) => d.read.identity.serviceAccount === 'other-sa')?.consumers.map((c) => c.name), ['w']);
    assert.deepEqual(demands.find((d) => d.consumers.some((c) => c.name === 'v'))?.consumers.map((c) => c.name), ['x', 'v']);
  });

  it('splits reads by vault, type and version', () => {
    const classes = [
      makeClass({ name: 'a' }),
      makeClass({ name: 'b', parameters: { keyvaultName: 'other-vault' } }),
      makeClass({ name: 'c', objects: ['objectName: db\nobjectType: key'] }),
      makeClass({ name: 'd', objects: ['objectName: db\nobjectType: secret\nobjectVersion: v2'] }),
      makeClass({ name: 'e', parameters: { keyvaultName: 'MY-VAULT' } }),
    ];
    const demands = distinctReads(classes, { defaultServiceAccount: 'sa' });
    assert.equal(demands.length, 4, 'the vault name is case-insensitive');
  });

  it('lists versions once for objectVersionHistory, separately from a plain read', () => {
    const classes = [
      makeClass({ name: 'a', objects: ['objectName: db\nobjectType: secret\nobjectVersionHistory: 3'] }),
      makeClass({ name: 'b', objects: ['objectName: db\nobjectType: secret\nobjectVersionHistory: 5'] }),
      makeClass({ name: 'c', objects: ['objectName: db\nobjectType: secret'] }),
    ];
    const demands = distinctReads(classes, { defaultServiceAccount: 'sa' });
    assert.deepEqual(demands.map((d) => [d.read.kind, d.consumers.map((c) => c.name)]), [
      ['list-versions', ['a', 'b']],
      ['get', ['c']],
    ]);
  });

  it('gives the versions picked from a listing the same key as a direct read', () => {
    const [demand] = distinctReads([makeClass({ objects: ['objectName: db\nobjectType: secret\nobjectVersion: v9'] })], { defaultServiceAccount: 'sa' });
    const identity = { namespace: 'team-a', serviceAccount: 'sa', clientID: 'client-1', tenantId: 'tenant-1' };
    assert.equal(getRead('https://MY-VAULT.vault.azure.net/', identity, 'secret', 'db', 'v9').key, demand?.read.key);
  });
});
