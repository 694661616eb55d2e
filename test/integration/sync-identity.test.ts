// Workload identity of the sync engine against the real API server
// (TokenRequest, its service-account issuer and JWKS) and the Entra ID
// emulator of the local Azure, which checks the federation for real, through
// @azure/identity's ClientAssertionCredential as the engine uses it: the
// public authority, reached through the egress proxy.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { SecretClient } from '@azure/keyvault-secrets';
import { createKubeClient, KubeError, loadKubeConfig, type KubeClient } from '../../src/kube/client.ts';
import type { AzureHandle } from '../../src/localenv/azure.ts';
import { createLogger } from '../../src/log.ts';
import { IdentityError, TOKEN_EXCHANGE_AUDIENCE, vaultScope, WorkloadIdentities } from '../../src/sync/identity.ts';
import { ANNOTATION_SERVICE_ACCOUNT, parseSecretProviderClass, type ParsedClass } from '../../src/sync/spc.ts';
import { testAzure } from '../helpers/azure.ts';
import { createNamespace, testEnv, type TestEnv } from '../helpers/env.ts';

const DEFAULT_SA = 'keyvault-reloader-sync';
let TENANT = '';

function spc(namespace: string, clientID: string, annotations: Record<string, string> = {}): unknown {
  return {
    apiVersion: 'secrets-store.csi.x-k8s.io/v1',
    kind: 'SecretProviderClass',
    metadata: { name: 'app-secrets', namespace, uid: randomUUID(), annotations },
    spec: {
      provider: 'azure',
      parameters: {
        keyvaultName: 'kv-team',
        tenantId: TENANT,
        clientID,
        objects: 'array:\n  - |\n    objectName: db-password\n    objectType: secret\n',
      },
    },
  };
}

function parsed(obj: unknown): ParsedClass {
  const result = parseSecretProviderClass(obj);
  assert.ok(result.ok, `the test's class parses: ${JSON.stringify(!result.ok && result.problems)}`);
  return result.value;
}

async function createServiceAccount(client: KubeClient, ns: string, name: string): Promise<void> {
  try {
    await client.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { body: { metadata: { name } } });
  } catch (err) {
    if (!(err instanceof KubeError && err.status === 409)) throw err;
  }
}

/** The claims of a JWT (read, not verified: the vault verifies it). */
function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
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

describe('sync engine workload identity (real API server, Entra ID emulator)', () => {
  let env: TestEnv;
  let azure: AzureHandle;
  let client: KubeClient;
  const tokenRequests: string[] = [];
  const log = createLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
  // Nothing but the client: Entra is reached by the route a pod has (HTTPS_PROXY, the CA bundle).
  const identities = () => new WorkloadIdentities({ client, log });
  const refusalsOf = async (clientID: string) => (await azure.admin.entraAudit()).filter((e) => e.clientId === clientID && !e.ok);

  before(async () => {
    env = await testEnv();
    azure = await testAzure();
    TENANT = azure.tenantId;
    // The engine's own client, so that its TokenRequests can be counted.
    client = createKubeClient(loadKubeConfig(env.kubeconfig));
    client.onRequest.add((verb, path) => {
      if (verb === 'POST' && path.endsWith('/token')) tokenRequests.push(path);
    });
  });

  it('a class gets a Key Vault access token for its clientID when the app trusts the service account of the class\'s namespace', async () => {
    const nsA = await createNamespace(env.client, 'wi-a');
    await createServiceAccount(env.client, nsA, 'kv-reader');
    const clientID = await azure.admin.workloadIdentity(nsA, 'kv-reader');
    const cls = parsed(spc(nsA, clientID, { [ANNOTATION_SERVICE_ACCOUNT]: 'kv-reader' }));
    const since = Date.now();

    const { identity, credential } = identities().credentialForClass(cls, DEFAULT_SA);
    assert.deepEqual(identity, { namespace: nsA, serviceAccount: 'kv-reader', clientID, tenantId: TENANT });
    const token = await credential.getToken(vaultScope(cls.cloud));
    assert.ok(token, 'a token');
    assert.ok(token.expiresOnTimestamp > Date.now() + 30 * 60_000, 'valid for the hour Entra issues');

    const claims = claimsOf(token.token);
    assert.equal(claims['aud'], 'https://vault.azure.net', 'scoped to Key Vault');
    assert.equal(claims['tid'], TENANT);
    assert.equal(claims['appid'], clientID);
    // The Key Vault emulator checks it for real (signature on Entra's JWKS, issuer, audience, expiry).
    const vault = `wi-${randomBytes(4).toString('hex')}`;
    await azure.admin.vault(vault).secrets.setSecret('db-password', 'from-the-vault');
    const reader = new SecretClient(azure.vaultUrl(vault), { getToken: async () => token }, { retryOptions: { maxRetries: 0 } });
    assert.equal((await reader.getSecret('db-password')).value, 'from-the-vault');
    assert.deepEqual((await azure.entraRequests({ since })).map((r) => [r.path, r.status]), [[`/${TENANT}/oauth2/v2.0/token`, 200]], 'one exchange, through the proxy to the public authority');
    assert.ok((await azure.connects({ since })).some((c) => c.target === 'login.microsoftonline.com:443' && c.status === 200), 'Entra was reached through HTTPS_PROXY');
  });

  it('the same clientID used by a class of another namespace is refused by Entra: its assertion names its own namespace\'s service account', async () => {
    const nsA = await createNamespace(env.client, 'wi-a');
    const nsB = await createNamespace(env.client, 'wi-b');
    await createServiceAccount(env.client, nsA, 'kv-reader');
    await createServiceAccount(env.client, nsB, 'kv-reader');
    const clientID = await azure.admin.workloadIdentity(nsA, 'kv-reader');
    const ids = identities();

    const ok = await ids.credentialForClass(parsed(spc(nsA, clientID, { [ANNOTATION_SERVICE_ACCOUNT]: 'kv-reader' })), DEFAULT_SA).credential.getToken('https://vault.azure.net/.default');
    assert.ok(ok, 'namespace A, which the app trusts, gets a token');

    const err = await rejection(ids.credentialForClass(parsed(spc(nsB, clientID, { [ANNOTATION_SERVICE_ACCOUNT]: 'kv-reader' })), DEFAULT_SA).credential.getToken('https://vault.azure.net/.default'));
    assert.equal(err.reason, 'federation-rejected');
    assert.match(err.message, /^federated credential rejected/);
    assert.match(err.message, /AADSTS700213/);
    assert.ok(err.message.includes(`system:serviceaccount:${nsB}:kv-reader`), err.message);
    assert.doesNotMatch(err.message, /eyJ/, 'no token in the message');
    const refused = await refusalsOf(clientID);
    assert.ok(refused.length >= 1, 'Entra recorded the refusal');
    for (const e of refused) {
      assert.ok(e.reason?.includes(`subject 'system:serviceaccount:${nsB}:kv-reader'`), `B presented B's service account, never A's: ${e.reason}`);
      assert.equal(e.status, 401);
    }
  });

  it('a class cannot name a service account of another namespace: the annotation is refused, and no token is requested', async () => {
    const nsA = await createNamespace(env.client, 'wi-a');
    const nsB = await createNamespace(env.client, 'wi-b');
    await createServiceAccount(env.client, nsA, 'kv-reader');
    const clientID = await azure.admin.workloadIdentity(nsA, 'kv-reader');
    const field = `metadata.annotations["${ANNOTATION_SERVICE_ACCOUNT}"]`;

    for (const attempt of [`${nsA}/kv-reader`, `system:serviceaccount:${nsA}:kv-reader`, `${nsA}:kv-reader`, `../${nsA}/kv-reader`]) {
      const result = parseSecretProviderClass(spc(nsB, clientID, { [ANNOTATION_SERVICE_ACCOUNT]: attempt }));
      assert.equal(result.ok, false, `${attempt} is refused`);
      assert.ok(!result.ok && result.problems.some((p) => p.field === field), `the problem names the annotation for ${attempt}`);
    }

    // Even handed an identity that tries it, the identity layer refuses before asking the API server.
    const requestsBefore = tokenRequests.length;
    const cloud = parsed(spc(nsB, clientID)).cloud;
    assert.throws(
      () => identities().credentialFor({ namespace: nsB, serviceAccount: `${nsA}/kv-reader`, clientID, tenantId: TENANT }, cloud),
      (err: unknown) => err instanceof IdentityError && err.reason === 'invalid' && err.message.includes(ANNOTATION_SERVICE_ACCOUNT) && err.message.includes(`namespace ${nsB}`),
    );
    assert.equal(tokenRequests.length, requestsBefore, 'no TokenRequest was made');

    // A valid name is looked up in the class's own namespace: A's service account is not found from B.
    const since = Date.now();
    const err = await rejection(identities().credentialForClass(parsed(spc(nsB, clientID, { [ANNOTATION_SERVICE_ACCOUNT]: 'kv-reader' })), DEFAULT_SA).credential.getToken('https://vault.azure.net/.default'));
    assert.equal(err.reason, 'service-account-not-found');
    assert.ok(err.message.includes(`namespace ${nsB}`), err.message);
    assert.ok(tokenRequests.slice(requestsBefore).every((p) => p.startsWith(`/api/v1/namespaces/${nsB}/`)), `every TokenRequest went to ${nsB}: ${tokenRequests.slice(requestsBefore).join(', ')}`);
    assert.deepEqual(await azure.entraRequests({ since }), [], 'nothing was presented to Entra: A\'s identity was never exchanged');
    assert.ok(!(await azure.admin.entraAudit()).some((e) => e.clientId === clientID && e.ok), 'Entra never issued a token for the app');
  });

  it('a missing service account gives an error naming it, its namespace and how to fix it', async () => {
    const ns = await createNamespace(env.client, 'wi-missing');
    const clientID = await azure.admin.workloadIdentity(ns, DEFAULT_SA);
    const cls = parsed(spc(ns, clientID));
    const err = await rejection(identities().credentialForClass(cls, DEFAULT_SA).credential.getToken(vaultScope(cls.cloud)));
    assert.equal(err.reason, 'service-account-not-found');
    assert.equal(
      err.message,
      `service account ${DEFAULT_SA} not found in namespace ${ns}: create it, or name an existing service account of namespace ${ns} with the ${ANNOTATION_SERVICE_ACCOUNT} annotation on the SecretProviderClass`,
    );

    // Once it exists, the same credential works: a failure is not cached.
    await createServiceAccount(env.client, ns, DEFAULT_SA);
    const ids = identities();
    const token = await ids.credentialForClass(cls, DEFAULT_SA).credential.getToken(vaultScope(cls.cloud));
    assert.equal(claimsOf(token!.token)['appid'], clientID);
  });

  it('service-account tokens are minted with the exchange audience and reused until near expiry; credentials are reused per identity', async () => {
    const ns = await createNamespace(env.client, 'wi-cache');
    await createServiceAccount(env.client, ns, 'kv-reader');
    const clientID = await azure.admin.workloadIdentity(ns, 'kv-reader');
    const ids = identities();
    const cls = parsed(spc(ns, clientID, { [ANNOTATION_SERVICE_ACCOUNT]: 'kv-reader' }));
    const first = ids.credentialForClass(cls, DEFAULT_SA).credential;
    assert.equal(ids.credentialForClass(parsed(spc(ns, clientID, { [ANNOTATION_SERVICE_ACCOUNT]: 'kv-reader' })), DEFAULT_SA).credential, first, 'one credential per (namespace, service account, clientID, tenant)');

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
    assert.ok((claims['exp'] as number) - ((claims['iat'] as number | undefined) ?? 0) <= 3600 + 60, 'short-lived');
    assert.equal(tokenRequests.length - before, 1, 'still cached');
  });
});
