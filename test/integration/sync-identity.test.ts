// Workload identity of the sync engine against the real API server
// (TokenRequest, its service-account issuer and JWKS) and the Entra ID
// emulator, which checks the federation the way Entra does, reached as
// login.microsoftonline.com through the egress proxy — through
// @azure/identity's ClientAssertionCredential exactly as the engine uses it.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { SecretClient } from '@azure/keyvault-secrets';
import { builtInCloud, type CloudEnvironment } from '../../src/keyvault/cloud.ts';
import { createKubeClient, loadKubeConfig, type KubeClient } from '../../src/kube/client.ts';
import type { AzureHandle } from '../../src/localenv/azure.ts';
import { createLogger } from '../../src/log.ts';
import { IdentityError, TOKEN_EXCHANGE_AUDIENCE, vaultScope, WorkloadIdentities } from '../../src/sync/identity.ts';
import { classIdentity } from '../../src/sync/reads.ts';
import { ANNOTATION_SERVICE_ACCOUNT, parseSecretProviderClass, type ParsedClass } from '../../src/sync/spc.ts';
import { testAzure } from '../helpers/azure.ts';
import { createNamespace, testEnv, type TestEnv } from '../helpers/env.ts';
import { ensureServiceAccount } from '../helpers/sync.ts';

const DEFAULT_SA = 'keyvault-reloader-sync';
const PUBLIC = builtInCloud('AzurePublicCloud') as CloudEnvironment;

function claimsOf(jwt: string): Record<string, any> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8'));
}

async function rejection(promise: Promise<unknown>): Promise<IdentityError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof IdentityError, `expected an IdentityError, got ${(err as Error)?.stack ?? String(err)}`);
    return err;
  }
  assert.fail('expected the token request to be refused');
}

describe('sync engine workload identity (real API server, Entra ID emulator through the egress proxy)', () => {
  let env: TestEnv;
  let azure: AzureHandle;
  let client: KubeClient;
  const tokenRequests: string[] = [];
  const log = createLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
  // As `run` builds it: no authority configured, so each class's cloud decides (the public one here).
  const identities = () => new WorkloadIdentities({ client, log });
  const spc = (namespace: string, clientID: string, annotations: Record<string, string> = {}): ParsedClass => {
    const result = parseSecretProviderClass({
      apiVersion: 'secrets-store.csi.x-k8s.io/v1',
      kind: 'SecretProviderClass',
      metadata: { name: 'app-secrets', namespace, uid: randomUUID(), annotations },
      spec: { provider: 'azure', parameters: { keyvaultName: 'kv-team', tenantId: azure.tenantId, clientID, objects: 'array:\n  - |\n    objectName: db-password\n    objectType: secret\n' } },
    });
    assert.ok(result.ok, `the test's class parses: ${JSON.stringify(!result.ok && result.problems)}`);
    return result.value;
  };
  const credentialOf = (ids: WorkloadIdentities, cls: ParsedClass) => ids.credentialFor(classIdentity(cls, DEFAULT_SA), cls.cloud);

  before(async () => {
    env = await testEnv();
    azure = await testAzure();
    // The engine's own client, so that its TokenRequests can be counted.
    client = createKubeClient(loadKubeConfig(env.kubeconfig));
    client.onRequest.add((verb, path) => {
      if (verb === 'POST' && path.endsWith('/token')) tokenRequests.push(path);
    });
  });

  it('a class gets a Key Vault access token for its clientID when the app trusts the service account of the class\'s namespace', async () => {
    const ns = await createNamespace(env.client, 'wi-a');
    await ensureServiceAccount(env.client, ns, 'kv-reader');
    const clientID = await azure.admin.workloadIdentity(ns, 'kv-reader');
    const cls = spc(ns, clientID, { [ANNOTATION_SERVICE_ACCOUNT]: 'kv-reader' });
    assert.deepEqual(classIdentity(cls, DEFAULT_SA), { namespace: ns, serviceAccount: 'kv-reader', clientID, tenantId: azure.tenantId });

    const since = Date.now();
    const token = await credentialOf(identities(), cls).getToken(vaultScope(cls.cloud));
    assert.ok(token, 'a token');
    assert.ok(token.expiresOnTimestamp > Date.now() + 30 * 60_000, 'valid for about an hour');
    const claims = claimsOf(token.token);
    assert.equal(claims['aud'], 'https://vault.azure.net', 'scoped to Key Vault');
    assert.equal(claims['tid'], azure.tenantId);
    assert.equal(claims['appid'] ?? claims['azp'], clientID);
    // The Key Vault emulator checks it for real (signature on Entra's JWKS, issuer, audience, expiry).
    const vault = `wi-${randomBytes(4).toString('hex')}`;
    await azure.admin.vault(vault).secrets.setSecret('db-password', 'from-the-vault');
    const reader = new SecretClient(azure.vaultUrl(vault), { getToken: async () => token }, { retryOptions: { maxRetries: 0 } });
    assert.equal((await reader.getSecret('db-password')).value, 'from-the-vault');
    const exchanges = await azure.entraRequests({ since });
    assert.deepEqual(exchanges.map((e) => [e.path, e.status]), [[`/${azure.tenantId}/oauth2/v2.0/token`, 200]], 'one exchange, at login.microsoftonline.com');
    assert.ok((await azure.connects({ since })).some((c) => c.target === 'login.microsoftonline.com:443' && c.status === 200), 'Entra was reached through HTTPS_PROXY');
  });

  it('the same clientID used by a class of another namespace is refused by Entra: its assertion names its own namespace\'s service account', async () => {
    const nsA = await createNamespace(env.client, 'wi-a');
    const nsB = await createNamespace(env.client, 'wi-b');
    await ensureServiceAccount(env.client, nsA, 'kv-reader');
    await ensureServiceAccount(env.client, nsB, 'kv-reader');
    const clientID = await azure.admin.workloadIdentity(nsA, 'kv-reader');
    const ids = identities();

    assert.ok(await credentialOf(ids, spc(nsA, clientID, { [ANNOTATION_SERVICE_ACCOUNT]: 'kv-reader' })).getToken(vaultScope(PUBLIC)), 'namespace A, which the app trusts, gets a token');

    const err = await rejection(credentialOf(ids, spc(nsB, clientID, { [ANNOTATION_SERVICE_ACCOUNT]: 'kv-reader' })).getToken(vaultScope(PUBLIC)));
    assert.equal(err.reason, 'federation-rejected');
    assert.match(err.message, /^federated credential rejected: Entra refused to exchange the token of system:serviceaccount:[-a-z0-9]+:kv-reader for client ID/);
    assert.match(err.message, /AADSTS700213/);
    assert.ok(err.message.includes(`system:serviceaccount:${nsB}:kv-reader`), err.message);
    assert.ok(err.message.includes(`add a federated identity credential for subject system:serviceaccount:${nsB}:kv-reader`), err.message);
    assert.doesNotMatch(err.message, /eyJ/, 'no token in the message');
    const refused = (await azure.admin.entraAudit()).filter((e) => e.clientId === clientID && !e.ok);
    assert.ok(refused.length >= 1, 'Entra refused it, by its own record');
    for (const e of refused) {
      assert.ok(e.reason?.includes(`subject 'system:serviceaccount:${nsB}:kv-reader'`), `B presented B's service account, never A's: ${e.reason}`);
      assert.equal(e.status, 401);
    }
  });

  it('a class cannot name a service account of another namespace: the annotation is refused, and no token is requested', async () => {
    const nsA = await createNamespace(env.client, 'wi-a');
    const nsB = await createNamespace(env.client, 'wi-b');
    await ensureServiceAccount(env.client, nsA, 'kv-reader');
    const clientID = await azure.admin.workloadIdentity(nsA, 'kv-reader');
    const field = `metadata.annotations["${ANNOTATION_SERVICE_ACCOUNT}"]`;

    for (const attempt of [`${nsA}/kv-reader`, `system:serviceaccount:${nsA}:kv-reader`, `${nsA}:kv-reader`, `../${nsA}/kv-reader`]) {
      const result = parseSecretProviderClass({ metadata: { name: 'c', namespace: nsB, annotations: { [ANNOTATION_SERVICE_ACCOUNT]: attempt } }, spec: { provider: 'azure', parameters: { keyvaultName: 'kv-team', tenantId: azure.tenantId, clientID, objects: 'array:\n  - |\n    objectName: s\n    objectType: secret\n' } } });
      assert.equal(result.ok, false, `${attempt} is refused`);
      assert.ok(!result.ok && result.problems.some((p) => p.field === field), `the problem names the annotation for ${attempt}`);
    }

    // Even handed an identity that tries it, the identity layer refuses before asking the API server.
    const requestsBefore = tokenRequests.length;
    assert.throws(
      () => identities().credentialFor({ namespace: nsB, serviceAccount: `${nsA}/kv-reader`, clientID, tenantId: azure.tenantId }, PUBLIC),
      (err: unknown) => err instanceof IdentityError && err.reason === 'invalid' && err.message.includes(ANNOTATION_SERVICE_ACCOUNT) && err.message.includes(`namespace ${nsB}`),
    );
    assert.equal(tokenRequests.length, requestsBefore, 'no TokenRequest was made');

    // A valid name is looked up in the class's own namespace: A's service account is not found from B.
    const since = Date.now();
    const err = await rejection(credentialOf(identities(), spc(nsB, clientID, { [ANNOTATION_SERVICE_ACCOUNT]: 'kv-reader' })).getToken(vaultScope(PUBLIC)));
    assert.equal(err.reason, 'service-account-not-found');
    assert.ok(err.message.includes(`namespace ${nsB}`), err.message);
    assert.ok(tokenRequests.slice(requestsBefore).every((p) => p.startsWith(`/api/v1/namespaces/${nsB}/`)), `every TokenRequest went to ${nsB}: ${tokenRequests.slice(requestsBefore).join(', ')}`);
    assert.deepEqual(await azure.entraRequests({ since }), [], 'nothing was presented to Entra');
    assert.ok(!(await azure.admin.entraAudit()).some((e) => e.clientId === clientID && e.ok), 'Entra never issued a token for the app');
  });

  it('a missing service account gives an error naming it, its namespace and how to fix it; once it exists the same credential works', async () => {
    const ns = await createNamespace(env.client, 'wi-missing');
    const clientID = await azure.admin.workloadIdentity(ns, DEFAULT_SA);
    const cls = spc(ns, clientID);
    const ids = identities();
    const err = await rejection(credentialOf(ids, cls).getToken(vaultScope(cls.cloud)));
    assert.equal(err.reason, 'service-account-not-found');
    assert.equal(err.message, `service account ${DEFAULT_SA} not found in namespace ${ns}: create it, or name an existing service account of namespace ${ns} with the ${ANNOTATION_SERVICE_ACCOUNT} annotation on the SecretProviderClass`);

    await ensureServiceAccount(env.client, ns, DEFAULT_SA);
    const token = await credentialOf(ids, cls).getToken(vaultScope(cls.cloud));
    assert.equal(claimsOf(token!.token)['appid'] ?? claimsOf(token!.token)['azp'], clientID, 'a failure is not cached');
  });

  it('service-account tokens are minted with the exchange audience and reused until near expiry; credentials are reused per identity and dropped with it', async () => {
    const ns = await createNamespace(env.client, 'wi-cache');
    await ensureServiceAccount(env.client, ns, 'kv-reader');
    const clientID = await azure.admin.workloadIdentity(ns, 'kv-reader');
    const ids = identities();
    const cls = spc(ns, clientID, { [ANNOTATION_SERVICE_ACCOUNT]: 'kv-reader' });
    const first = credentialOf(ids, cls);
    assert.equal(credentialOf(ids, spc(ns, clientID, { [ANNOTATION_SERVICE_ACCOUNT]: 'kv-reader' })), first, 'one credential per (namespace, service account, clientID, tenant)');

    const before = tokenRequests.length;
    const since = Date.now();
    await first.getToken('https://vault.azure.net/.default');
    await first.getToken('https://vault.azure.net/.default');
    assert.equal((await azure.entraRequests({ since })).length, 1, 'the access token is reused (MSAL\'s cache): one exchange for two reads of the same resource');
    // Another resource needs another exchange, but not another service-account token.
    await first.getToken('https://storage.azure.com/.default');
    assert.equal((await azure.entraRequests({ since })).length, 2);
    assert.equal(tokenRequests.length - before, 1, 'one TokenRequest for two exchanges');

    const saToken = await ids.serviceAccountToken(ns, 'kv-reader');
    const claims = claimsOf(saToken);
    assert.deepEqual([claims['aud']].flat(), [TOKEN_EXCHANGE_AUDIENCE]);
    assert.equal(claims['sub'], `system:serviceaccount:${ns}:kv-reader`);
    assert.equal(claims['iss'], env.issuer, 'issued by the API server, whose discovery Entra reads');
    assert.ok(claims['exp'] - claims['iat'] <= 3600 + 60, 'short-lived');
    assert.equal(tokenRequests.length - before, 1, 'still cached');
    assert.deepEqual(ids.size, { credentials: 1, tokens: 1 });

    ids.forget(classIdentity(cls, DEFAULT_SA));
    assert.deepEqual(ids.size, { credentials: 0, tokens: 0 }, 'nothing is kept for an identity no class uses');
    assert.notEqual(credentialOf(ids, cls), first, 'a new credential once it is used again');
  });
});
