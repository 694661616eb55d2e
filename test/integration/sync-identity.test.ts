// Workload identity of the sync engine against the real API server
// (TokenRequest, its service-account issuer and JWKS) and the local
// environment's Entra token endpoint, through @azure/identity's
// ClientAssertionCredential as the engine uses it.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import { createKubeClient, KubeError, loadKubeConfig, type KubeClient } from '../../src/kube/client.ts';
import { decodeJwt } from '../../src/localenv/jwt.ts';
import { issueServingCert, pkiFiles } from '../../src/localenv/pki.ts';
import { JWT_BEARER_ASSERTION_TYPE, startTokenEndpoint, type TokenEndpoint } from '../../src/localenv/token-endpoint.ts';
import { createLogger } from '../../src/log.ts';
import { IdentityError, TOKEN_EXCHANGE_AUDIENCE, vaultScope, WorkloadIdentities } from '../../src/sync/identity.ts';
import { ANNOTATION_SERVICE_ACCOUNT, parseSecretProviderClass, type ParsedClass } from '../../src/sync/spc.ts';
import { createNamespace, testEnv, type TestEnv } from '../helpers/env.ts';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const DEFAULT_SA = 'keyvault-reloader-sync';

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

function post(url: string, ca: Buffer, form: Record<string, string>): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'POST', ca, headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(new URLSearchParams(form).toString());
  });
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

describe('sync engine workload identity (real API server, local Entra token endpoint)', () => {
  let env: TestEnv;
  let endpoint: TokenEndpoint;
  let ca: Buffer;
  let client: KubeClient;
  const tokenRequests: string[] = [];
  const log = createLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
  const identities = () => new WorkloadIdentities({ client, log, authorityHost: endpoint.url, authorityTls: { ca } });

  before(async () => {
    env = await testEnv();
    ca = readFileSync(env.caFile);
    const tls = await issueServingCert(pkiFiles(env.dir), `token-endpoint-${process.pid}`);
    endpoint = await startTokenEndpoint({ client: env.client, tls: { cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, tenantId: TENANT });
    // The engine's own client, so that its TokenRequests can be counted.
    client = createKubeClient(loadKubeConfig(env.kubeconfig));
    client.onRequest.add((verb, path) => {
      if (verb === 'POST' && path.endsWith('/token')) tokenRequests.push(path);
    });
  });
  after(() => endpoint?.close());

  it('the local token endpoint serves MSAL\'s discovery document and refuses what Entra refuses, with Entra\'s error codes', async () => {
    const discovery = await new Promise<any>((resolve, reject) => {
      https.get(`${endpoint.url}${TENANT}/v2.0/.well-known/openid-configuration`, { ca }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve(JSON.parse(text)));
      }).on('error', reject);
    });
    assert.equal(discovery.issuer, `${endpoint.url}${TENANT}/v2.0`);
    assert.equal(discovery.token_endpoint, `${endpoint.url}${TENANT}/oauth2/v2.0/token`);

    const ns = await createNamespace(env.client, 'wi-endpoint');
    await createServiceAccount(env.client, ns, 'kv-reader');
    const clientID = randomUUID();
    endpoint.federate(clientID, `system:serviceaccount:${ns}:kv-reader`);
    const mint = async (audiences: string[]) =>
      (await env.client.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts/kv-reader/token`, { body: { spec: { audiences, expirationSeconds: 600 } } })).status.token as string;
    const good = await mint([TOKEN_EXCHANGE_AUDIENCE]);
    const form = (over: Record<string, string> = {}) => ({ grant_type: 'client_credentials', client_id: clientID, scope: 'https://vault.azure.net/.default', client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: good, ...over });
    const tokenUrl = (tenant = TENANT) => `${endpoint.url}${tenant}/oauth2/v2.0/token`;
    const code = (r: { body: any }) => r.body.error_codes?.[0];

    const ok = await post(tokenUrl(), ca, form());
    assert.equal(ok.status, 200);
    assert.equal(ok.body.token_type, 'Bearer');
    assert.ok(ok.body.expires_in > 0);

    // Same claims, signed by a key the API server never had.
    const { header, claims } = decodeJwt(good);
    const forger = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const forged = `${input}.${sign('RSA-SHA256', Buffer.from(input), forger.privateKey).toString('base64url')}`;
    const cases: Array<[string, Promise<{ status: number; body: any }>, number, string, number]> = [
      ['a forged assertion', post(tokenUrl(), ca, form({ client_assertion: forged })), 401, 'invalid_client', 50027],
      ['a token for another audience', post(tokenUrl(), ca, form({ client_assertion: await mint(['https://kubernetes.default.svc.cluster.local']) })), 400, 'invalid_request', 70021],
      ['an unknown application', post(tokenUrl(), ca, form({ client_id: randomUUID() })), 400, 'unauthorized_client', 700016],
      ['another tenant', post(tokenUrl(randomUUID()), ca, form()), 400, 'invalid_tenant', 90002],
      ['a scope without /.default', post(tokenUrl(), ca, form({ scope: 'https://vault.azure.net/user_impersonation' })), 400, 'invalid_scope', 1002012],
      ['another grant type', post(tokenUrl(), ca, form({ grant_type: 'password' })), 400, 'unsupported_grant_type', 70003],
      ['no assertion', post(tokenUrl(), ca, form({ client_assertion: '' })), 401, 'invalid_client', 7000218],
    ];
    for (const [what, pending, status, error, aadsts] of cases) {
      const r = await pending;
      assert.deepEqual([r.status, r.body.error, code(r)], [status, error, aadsts], `${what}: ${JSON.stringify(r.body)}`);
      assert.match(r.body.error_description, new RegExp(`^AADSTS${aadsts}: `));
      assert.equal(r.body.access_token, undefined);
    }
  });

  it('a class gets a Key Vault access token for its clientID when the app trusts the service account of the class\'s namespace', async () => {
    const nsA = await createNamespace(env.client, 'wi-a');
    await createServiceAccount(env.client, nsA, 'kv-reader');
    const clientID = randomUUID();
    endpoint.federate(clientID, `system:serviceaccount:${nsA}:kv-reader`);
    const cls = parsed(spc(nsA, clientID, { [ANNOTATION_SERVICE_ACCOUNT]: 'kv-reader' }));

    const { identity, credential } = identities().credentialForClass(cls, DEFAULT_SA);
    assert.deepEqual(identity, { namespace: nsA, serviceAccount: 'kv-reader', clientID, tenantId: TENANT });
    const token = await credential.getToken(vaultScope(cls.cloud));
    assert.ok(token, 'a token');
    assert.ok(token.expiresOnTimestamp > Date.now() + 30 * 60_000, 'valid for the hour the endpoint issues');

    const claims = endpoint.verifyAccessToken(token.token, 'https://vault.azure.net');
    assert.equal(claims.aud, 'https://vault.azure.net', 'scoped to Key Vault');
    assert.equal(claims['tid'], TENANT);
    assert.equal(claims['appid'], clientID);
    const exchange = endpoint.exchanges.at(-1)!;
    assert.equal(exchange.status, 200);
    assert.equal(exchange.clientId, clientID);
    assert.equal(exchange.subject, `system:serviceaccount:${nsA}:kv-reader`, 'the assertion was the service account of the class\'s namespace');
    assert.equal(exchange.scope, 'https://vault.azure.net/.default');
  });

  it('the same clientID used by a class of another namespace is refused by Entra: its assertion names its own namespace\'s service account', async () => {
    const nsA = await createNamespace(env.client, 'wi-a');
    const nsB = await createNamespace(env.client, 'wi-b');
    await createServiceAccount(env.client, nsA, 'kv-reader');
    await createServiceAccount(env.client, nsB, 'kv-reader');
    const clientID = randomUUID();
    endpoint.federate(clientID, `system:serviceaccount:${nsA}:kv-reader`);
    const ids = identities();

    const ok = await ids.credentialForClass(parsed(spc(nsA, clientID, { [ANNOTATION_SERVICE_ACCOUNT]: 'kv-reader' })), DEFAULT_SA).credential.getToken('https://vault.azure.net/.default');
    assert.ok(ok, 'namespace A, which the app trusts, gets a token');

    const before = endpoint.exchanges.length;
    const err = await rejection(ids.credentialForClass(parsed(spc(nsB, clientID, { [ANNOTATION_SERVICE_ACCOUNT]: 'kv-reader' })), DEFAULT_SA).credential.getToken('https://vault.azure.net/.default'));
    assert.equal(err.reason, 'federation-rejected');
    assert.match(err.message, /^federated credential rejected/);
    assert.match(err.message, /AADSTS70021/);
    assert.ok(err.message.includes(`system:serviceaccount:${nsB}:kv-reader`), err.message);
    assert.doesNotMatch(err.message, /eyJ/, 'no token in the message');
    const refused = endpoint.exchanges.slice(before);
    assert.ok(refused.length >= 1);
    for (const e of refused) {
      assert.equal(e.subject, `system:serviceaccount:${nsB}:kv-reader`, 'B presented B\'s service account, never A\'s');
      assert.equal(e.status, 400);
      assert.equal(e.errorCode, 70021);
    }
  });

  it('a class cannot name a service account of another namespace: the annotation is refused, and no token is requested', async () => {
    const nsA = await createNamespace(env.client, 'wi-a');
    const nsB = await createNamespace(env.client, 'wi-b');
    await createServiceAccount(env.client, nsA, 'kv-reader');
    const clientID = randomUUID();
    endpoint.federate(clientID, `system:serviceaccount:${nsA}:kv-reader`);
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
    const err = await rejection(identities().credentialForClass(parsed(spc(nsB, clientID, { [ANNOTATION_SERVICE_ACCOUNT]: 'kv-reader' })), DEFAULT_SA).credential.getToken('https://vault.azure.net/.default'));
    assert.equal(err.reason, 'service-account-not-found');
    assert.ok(err.message.includes(`namespace ${nsB}`), err.message);
    assert.ok(tokenRequests.slice(requestsBefore).every((p) => p.startsWith(`/api/v1/namespaces/${nsB}/`)), `every TokenRequest went to ${nsB}: ${tokenRequests.slice(requestsBefore).join(', ')}`);
    assert.ok(!endpoint.exchanges.some((e) => e.clientId === clientID && e.status === 200), 'A\'s identity was never exchanged');
  });

  it('a missing service account gives an error naming it, its namespace and how to fix it', async () => {
    const ns = await createNamespace(env.client, 'wi-missing');
    const clientID = randomUUID();
    endpoint.federate(clientID, `system:serviceaccount:${ns}:${DEFAULT_SA}`);
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
    assert.equal(endpoint.verifyAccessToken(token!.token, 'https://vault.azure.net')['appid'], clientID);
  });

  it('service-account tokens are minted with the exchange audience and reused until near expiry; credentials are reused per identity', async () => {
    const ns = await createNamespace(env.client, 'wi-cache');
    await createServiceAccount(env.client, ns, 'kv-reader');
    const clientID = randomUUID();
    endpoint.federate(clientID, `system:serviceaccount:${ns}:kv-reader`);
    const ids = identities();
    const cls = parsed(spc(ns, clientID, { [ANNOTATION_SERVICE_ACCOUNT]: 'kv-reader' }));
    const first = ids.credentialForClass(cls, DEFAULT_SA).credential;
    assert.equal(ids.credentialForClass(parsed(spc(ns, clientID, { [ANNOTATION_SERVICE_ACCOUNT]: 'kv-reader' })), DEFAULT_SA).credential, first, 'one credential per (namespace, service account, clientID, tenant)');

    const before = tokenRequests.length;
    const exchangesBefore = endpoint.exchanges.length;
    await first.getToken('https://vault.azure.net/.default');
    await first.getToken('https://vault.azure.net/.default');
    assert.equal(endpoint.exchanges.length - exchangesBefore, 1, 'the access token is reused (MSAL\'s cache): one exchange for two reads of the same resource');
    // Another resource needs another exchange, but not another service-account token.
    await first.getToken('https://managedhsm.azure.net/.default');
    assert.equal(endpoint.exchanges.length - exchangesBefore, 2);
    assert.equal(tokenRequests.length - before, 1, 'one TokenRequest for two exchanges');

    const saToken = await ids.serviceAccountToken(ns, 'kv-reader');
    const { claims } = decodeJwt(saToken);
    assert.deepEqual([claims.aud].flat(), [TOKEN_EXCHANGE_AUDIENCE]);
    assert.equal(claims.sub, `system:serviceaccount:${ns}:kv-reader`);
    assert.ok(claims.exp - (claims.iat ?? 0) <= 3600 + 60, 'short-lived');
    assert.equal(tokenRequests.length - before, 1, 'still cached');
  });
});
