import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSyncCandidate } from '../../src/sync/engine.ts';
import { builtInCloud, type CloudEnvironment } from '../../src/keyvault/cloud.ts';
import { authorityFor, identityProblem, IdentityError, redactTokens, serviceAccountSubject, vaultScope } from '../../src/sync/identity.ts';
import { classIdentity } from '../../src/sync/reads.ts';
import { ANNOTATION_SERVICE_ACCOUNT, parseSecretProviderClass } from '../../src/sync/spc.ts';

const PUBLIC = builtInCloud('AzurePublicCloud') as CloudEnvironment;
const CHINA = builtInCloud('AzureChinaCloud') as CloudEnvironment;
const identity = { namespace: 'team-a', serviceAccount: 'kv-reader', clientID: 'c1', tenantId: 't1' };

describe('authorityFor', () => {
  it('uses the class\'s cloud, with instance discovery, when no authority is configured', () => {
    assert.deepEqual(authorityFor(PUBLIC), { authorityHost: 'https://login.microsoftonline.com/', disableInstanceDiscovery: false });
    assert.deepEqual(authorityFor(CHINA, ''), { authorityHost: 'https://login.chinacloudapi.cn/', disableInstanceDiscovery: false });
  });

  it('lets the class\'s cloud decide when a Microsoft host is configured (as the workload-identity webhook injects)', () => {
    assert.deepEqual(authorityFor(CHINA, 'https://login.microsoftonline.com/'), { authorityHost: 'https://login.chinacloudapi.cn/', disableInstanceDiscovery: false });
  });

  it('uses a private or local authority as configured, without instance discovery', () => {
    assert.deepEqual(authorityFor(PUBLIC, 'https://127.0.0.1:8443'), { authorityHost: 'https://127.0.0.1:8443/', disableInstanceDiscovery: true });
  });

  it('refuses an authority that is not https or not a URL, saying which setting to fix', () => {
    assert.throws(() => authorityFor(PUBLIC, 'http://127.0.0.1:8080/'), (e: unknown) => e instanceof IdentityError && /must use https/.test(e.message));
    assert.throws(() => authorityFor(PUBLIC, 'login'), (e: unknown) => e instanceof IdentityError && /--authority-host/.test(e.message));
  });
});

describe('identity of a class', () => {
  const cls = (annotations: Record<string, string> = {}) => {
    const r = parseSecretProviderClass({
      metadata: { name: 'c', namespace: 'team-a', uid: 'u', annotations },
      spec: { provider: 'azure', parameters: { keyvaultName: 'kv1', tenantId: 't1', clientID: 'c1', objects: 'array:\n  - |\n    objectName: s\n    objectType: secret\n' } },
    });
    assert.ok(r.ok);
    return r.value;
  };

  it('is the annotated service account, else the default, always in the class\'s own namespace', () => {
    assert.deepEqual(classIdentity(cls({ [ANNOTATION_SERVICE_ACCOUNT]: 'kv-reader' }), 'default-sa'), identity);
    assert.deepEqual(classIdentity(cls(), 'default-sa'), { ...identity, serviceAccount: 'default-sa' });
  });

  it('refuses a service account name that tries to reach another namespace, naming the annotation', () => {
    for (const sa of ['other/kv-reader', 'system:serviceaccount:other:kv-reader', 'KV', '']) {
      const problem = identityProblem({ ...identity, serviceAccount: sa });
      assert.ok(problem?.startsWith(`${ANNOTATION_SERVICE_ACCOUNT} ${JSON.stringify(sa)} is not a service account name`), `${sa}: ${problem}`);
      assert.ok(problem?.includes('namespace team-a'));
    }
    assert.equal(identityProblem(identity), undefined);
    assert.match(identityProblem({ ...identity, namespace: 'a/b' }) ?? '', /not a namespace name/);
    assert.match(identityProblem({ ...identity, clientID: '' }) ?? '', /clientID/);
  });

  it('names the Entra subject and the vault scope of each cloud', () => {
    assert.equal(serviceAccountSubject('team-a', 'kv-reader'), 'system:serviceaccount:team-a:kv-reader');
    assert.equal(vaultScope(PUBLIC), 'https://vault.azure.net/.default');
    assert.equal(vaultScope(CHINA), 'https://vault.azure.cn/.default');
  });
});

describe('redactTokens', () => {
  it('replaces anything shaped like a JWT', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    assert.equal(redactTokens(`assertion ${jwt} refused`), 'assertion [token] refused');
    assert.equal(new IdentityError('invalid', `bad ${jwt}`).message, 'bad [token]');
    assert.equal(redactTokens('AADSTS70021: no match'), 'AADSTS70021: no match');
  });
});

describe('isSyncCandidate', () => {
  const spc = (annotations?: Record<string, string>, provider = 'azure') => ({ metadata: { annotations }, spec: { provider } });

  it('takes up azure classes annotated sync "true", or every azure class with sync-all', () => {
    assert.equal(isSyncCandidate(spc({ 'keyvault-reloader.io/sync': 'true' }), false), true);
    assert.equal(isSyncCandidate(spc(), false), false);
    assert.equal(isSyncCandidate(spc(), true), true);
  });

  it('lets a class opt out of sync-all with "false"', () => {
    assert.equal(isSyncCandidate(spc({ 'keyvault-reloader.io/sync': 'false' }), true), false);
  });

  it('takes up a malformed value so that it is reported, not silently ignored', () => {
    assert.equal(isSyncCandidate(spc({ 'keyvault-reloader.io/sync': 'yes' }), false), true);
  });

  it('never takes up another provider\'s class', () => {
    assert.equal(isSyncCandidate(spc({ 'keyvault-reloader.io/sync': 'true' }, 'vault'), true), false);
  });
});
