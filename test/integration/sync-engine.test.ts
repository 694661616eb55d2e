// The sync engine on the real control plane, for every path that needs no
// Key Vault content: which classes it takes up, what it says about invalid
// ones, how an identity failure and a throttled vault leave Secrets as they
// were, and that a read is shared by the classes that need it and never
// across identities. Identities are exchanged at the local Azure's Entra ID
// emulator (through the egress proxy, as a pod does); the vault side here is
// the local environment's fault proxy answering every request with 429 — it
// serves no Key Vault objects.
import { NamespaceScope } from '../../src/kube/scope.ts';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { V1Secret } from '@kubernetes/client-node';
import { KeyVaultClients } from '../../src/keyvault/client.ts';
import { createKubeClient, KubeError, loadKubeConfig, type KubeClient } from '../../src/kube/client.ts';
import { createEventRecorder } from '../../src/kube/events.ts';
import { startFaultProxy, type FaultProxy } from '../../src/localenv/fault-proxy.ts';
import type { AzureHandle } from '../../src/localenv/azure.ts';
import { issueServingCert, pkiFiles } from '../../src/localenv/pki.ts';
import { createLogger } from '../../src/log.ts';
import { SyncEngine, type SyncErrorReason } from '../../src/sync/engine.ts';
import { WorkloadIdentities } from '../../src/sync/identity.ts';
import { buildSecrets } from '../../src/sync/secret-data.ts';
import { SecretWriter } from '../../src/sync/secret-writer.ts';
import { ANNOTATION_SERVICE_ACCOUNT, ANNOTATION_SYNC, parseSecretProviderClass, SPC_API_VERSION } from '../../src/sync/spc.ts';
import { testAzure } from '../helpers/azure.ts';
import { createNamespace, eventually, testEnv, type TestEnv } from '../helpers/env.ts';
import { eventsFor } from '../helpers/reloader.ts';

let TENANT = '';
const SA = 'kv-reader';
const spcPath = (ns: string) => `/apis/secrets-store.csi.x-k8s.io/v1/namespaces/${ns}/secretproviderclasses`;

function classBody(name: string, clientID: string, opts: { annotations?: Record<string, string>; objectType?: string; secretName?: string } = {}): object {
  return {
    apiVersion: SPC_API_VERSION,
    kind: 'SecretProviderClass',
    metadata: { name, annotations: { [ANNOTATION_SYNC]: 'true', [ANNOTATION_SERVICE_ACCOUNT]: SA, ...opts.annotations } },
    spec: {
      provider: 'azure',
      parameters: {
        keyvaultName: 'kv-team',
        tenantId: TENANT,
        clientID,
        objects: `array:\n  - |\n    objectName: db-password\n    objectType: ${opts.objectType ?? 'secret'}\n`,
      },
      secretObjects: [{ secretName: opts.secretName ?? `${name}-db`, type: 'Opaque', data: [{ objectName: 'db-password', key: 'password' }] }],
    },
  };
}

async function createClass(client: KubeClient, ns: string, body: object): Promise<any> {
  return client.request('POST', spcPath(ns), { body });
}

async function createServiceAccount(client: KubeClient, ns: string, name: string): Promise<void> {
  try {
    await client.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { body: { metadata: { name } } });
  } catch (err) {
    if (!(err instanceof KubeError && err.status === 409)) throw err;
  }
}

async function warnings(client: KubeClient, ns: string, name: string, reason: string): Promise<string[]> {
  return (await eventsFor(client, ns, name)).filter((e) => e.type === 'Warning' && e.reason === reason).map((e) => e.message);
}

interface Recorded {
  syncErrors: Array<{ namespace: string; name: string; reason: SyncErrorReason }>;
  successes: string[];
  kvRequests: Array<{ vault: string; operation: string; result: string }>;
  tokenRequests: string[];
}

describe('sync engine without Key Vault content (real API server, Entra ID emulator, fault proxy)', () => {
  let env: TestEnv;
  let ca: Buffer;
  let azure: AzureHandle;
  let vault: FaultProxy;
  const log = createLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
  const running: Array<() => Promise<void>> = [];
  const apiVersions: string[] = [];

  before(async () => {
    env = await testEnv();
    azure = await testAzure();
    TENANT = azure.tenantId;
    ca = readFileSync(env.caFile);
    const files = pkiFiles(env.dir);
    const vaultTls = await issueServingCert(files, `engine-vault-proxy-${process.pid}`);
    // Nothing is ever forwarded: every request is answered with a fault.
    vault = await startFaultProxy({ target: 'https://127.0.0.1:9', tls: { cert: readFileSync(vaultTls.cert), key: readFileSync(vaultTls.key) } });
    vault.rule = (req) => (apiVersions.push(req.query.get('api-version') ?? ''), { kind: 'status', status: 429, headers: { 'retry-after': '1' }, body: JSON.stringify({ error: { code: 'Throttled', message: 'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached' } }) });
  });
  after(async () => {
    for (const stop of running.splice(0)) await stop();
    await vault?.close();
  });

  async function startEngine(namespace: string): Promise<{ engine: SyncEngine; client: KubeClient; recorded: Recorded; stop(): Promise<void> }> {
    const client = createKubeClient(loadKubeConfig(env.kubeconfig));
    const recorded: Recorded = { syncErrors: [], successes: [], kvRequests: [], tokenRequests: [] };
    client.onRequest.add((verb, path) => {
      if (verb === 'POST' && path.endsWith('/token')) recorded.tokenRequests.push(path);
    });
    const events = createEventRecorder({ client, log, instance: 'test' });
    const abort = new AbortController();
    const engine = new SyncEngine({
      client,
      log,
      events,
      identities: new WorkloadIdentities({ client, log }),
      keyVault: new KeyVaultClients({
        log,
        requestsPerSecond: 50,
        serviceVersion: '7.5',
        tls: { ca },
        disableChallengeResourceVerification: true,
        retry: { maxRetries: 2, baseDelayMs: 100 },
        signal: abort.signal,
        metrics: { request: (v, operation, result) => recorded.kvRequests.push({ vault: v, operation, result }) },
      }),
      writer: new SecretWriter({ client, events, log, metrics: { write: () => {} } }),
      metrics: {
        syncError: (ns, name, reason) => recorded.syncErrors.push({ namespace: ns, name, reason }),
        syncSuccess: (ns, name) => recorded.successes.push(`${ns}/${name}`),
        forget: () => {},
      },
      scope: new NamespaceScope({ client, log, namespaces: [namespace], excludeNamespaces: [] }),
      pollIntervalMs: 10 * 60_000,
      syncAll: false,
      defaultServiceAccount: 'keyvault-reloader-sync',
      isLeader: () => true,
      vaultUrlFor: () => `${vault.url}/`,
    });
    engine.start();
    await engine.waitForSync();
    const stop = async () => {
      engine.queue.stop();
      abort.abort();
      await engine.idle();
      engine.stop();
      await events.flush();
    };
    running.push(stop);
    return { engine, client, recorded, stop };
  }

  it('an invalid class gets a Warning Event naming the field, and the classes beside it are still synced', async () => {
    const ns = await createNamespace(env.client, 'engine');
    await createServiceAccount(env.client, ns, SA);
    // An app that trusts no service account.
    const clientID = await azure.admin.registerApp('engine-unfederated');
    await createClass(env.client, ns, classBody('bad-type', clientID, { objectType: 'password' }));
    await createClass(env.client, ns, classBody('other-namespace', clientID, { annotations: { [ANNOTATION_SERVICE_ACCOUNT]: 'kube-system/default' } }));
    // Valid, and refused by Entra (no federated credential): proves it was taken up.
    await createClass(env.client, ns, classBody('good', clientID));
    const { client, recorded } = await startEngine(ns);

    const badType = await eventually('InvalidSecretProviderClass on bad-type', async () => (await warnings(client, ns, 'bad-type', 'InvalidSecretProviderClass'))[0]);
    assert.match(badType, /spec\.parameters\.objects\[0\]\.objectType: "password" is not one of secret, key, cert/);
    const otherNs = await eventually('InvalidSecretProviderClass on other-namespace', async () => (await warnings(client, ns, 'other-namespace', 'InvalidSecretProviderClass'))[0]);
    assert.ok(otherNs.includes(`metadata.annotations["${ANNOTATION_SERVICE_ACCOUNT}"]: "kube-system/default" is not a service account name`), otherNs);
    const good = await eventually('SyncFailed on good', async () => (await warnings(client, ns, 'good', 'SyncFailed'))[0]);
    assert.match(good, /^federated credential rejected: .*AADSTS700213: No matching federated identity record/);

    assert.ok(recorded.tokenRequests.every((p) => p.startsWith(`/api/v1/namespaces/${ns}/serviceaccounts/${SA}/`)), `only the class namespace's service account was asked for a token: ${recorded.tokenRequests.join(', ')}`);
    assert.ok(recorded.syncErrors.some((e) => e.name === 'bad-type' && e.reason === 'invalid'));
    assert.ok(recorded.syncErrors.some((e) => e.name === 'other-namespace' && e.reason === 'invalid'));
    assert.ok(recorded.syncErrors.some((e) => e.name === 'good' && e.reason === 'identity'));
  });

  it('classes not opted in are left alone', async () => {
    const ns = await createNamespace(env.client, 'engine');
    const clientID = randomUUID();
    await createClass(env.client, ns, classBody('opted-out', clientID, { annotations: { [ANNOTATION_SYNC]: 'false' } }));
    const unannotated = classBody('unannotated', clientID) as { metadata: { annotations: Record<string, string> } };
    delete unannotated.metadata.annotations[ANNOTATION_SYNC];
    await createClass(env.client, ns, unannotated);
    await createClass(env.client, ns, classBody('opted-in', clientID));
    const { engine, client, recorded } = await startEngine(ns);

    await eventually('SyncFailed on opted-in', async () => (await warnings(client, ns, 'opted-in', 'SyncFailed'))[0]);
    await engine.idle();
    assert.deepEqual([...engine.classes.values()].map((c) => c.name), ['opted-in']);
    assert.deepEqual((await eventsFor(client, ns, 'opted-out')), []);
    assert.deepEqual((await eventsFor(client, ns, 'unannotated')), []);
    assert.ok(recorded.syncErrors.every((e) => e.name === 'opted-in'));
  });

  it('when the identity cannot be obtained, the Secret keeps its last value and SyncFailed says what to fix', async () => {
    const ns = await createNamespace(env.client, 'engine');
    const clientID = randomUUID();
    // No service account kv-reader in this namespace.
    const created = await createClass(env.client, ns, classBody('app', clientID));
    const parsed = parseSecretProviderClass(created);
    assert.ok(parsed.ok);
    const built = buildSecrets(parsed.value, [{ fileName: 'db-password', content: Buffer.from('last-good'), id: 'secret/db-password', version: 'v1' }]);
    const events = createEventRecorder({ client: env.client, log, instance: 'test' });
    await new SecretWriter({ client: env.client, events, log, metrics: { write: () => {} } }).apply(parsed.value, built.secrets);
    const before = await env.client.request<V1Secret>('GET', `/api/v1/namespaces/${ns}/secrets/app-db`);

    const { client, recorded } = await startEngine(ns);
    const message = await eventually('SyncFailed on app', async () => (await warnings(client, ns, 'app', 'SyncFailed'))[0]);
    assert.ok(message.startsWith(`service account ${SA} not found in namespace ${ns}: create it`), message);
    assert.ok(message.includes('Left unchanged (last good value kept): Secret app-db'), message);
    const afterwards = await env.client.request<V1Secret>('GET', `/api/v1/namespaces/${ns}/secrets/app-db`);
    assert.equal(afterwards.metadata?.resourceVersion, before.metadata?.resourceVersion);
    assert.equal(Buffer.from(afterwards.data?.['password'] ?? '', 'base64').toString(), 'last-good');
    assert.deepEqual(recorded.kvRequests, [], 'no Key Vault request without an identity');
    assert.ok(recorded.syncErrors.some((e) => e.name === 'app' && e.reason === 'identity'));
    assert.deepEqual(recorded.successes, []);
  });

  it('a throttled vault: Retry-After is waited out between attempts, one read serves the classes that share it, and the Secret keeps its last value', async () => {
    const nsA = await createNamespace(env.client, 'engine');
    const nsB = await createNamespace(env.client, 'engine');
    for (const ns of [nsA, nsB]) await createServiceAccount(env.client, ns, SA);
    const clientID = await azure.admin.registerApp('engine-throttled');
    await azure.admin.federate(clientID, nsA, SA);
    await azure.admin.federate(clientID, nsB, SA);
    // Two classes of namespace A read the same object with the same identity; the class of B reads it with B's.
    const first = await createClass(env.client, nsA, classBody('first', clientID));
    await createClass(env.client, nsA, classBody('second', clientID));
    await createClass(env.client, nsB, classBody('first', clientID));
    const parsed = parseSecretProviderClass(first);
    assert.ok(parsed.ok);
    const events = createEventRecorder({ client: env.client, log, instance: 'test' });
    await new SecretWriter({ client: env.client, events, log, metrics: { write: () => {} } }).apply(
      parsed.value,
      buildSecrets(parsed.value, [{ fileName: 'db-password', content: Buffer.from('last-good'), id: 'secret/db-password', version: 'v1' }]).secrets,
    );
    const before = await env.client.request<V1Secret>('GET', `/api/v1/namespaces/${nsA}/secrets/first-db`);

    // One engine per namespace, one after the other, so that each one's requests can be told apart at the vault.
    const seen: Array<typeof vault.log> = [];
    const engines = [];
    for (const [ns, names] of [[nsA, ['first', 'second']], [nsB, ['first']]] as const) {
      const logStart = vault.log.length;
      const r = await startEngine(ns);
      engines.push(r);
      for (const name of names) {
        const message = await eventually(`SyncFailed on ${ns}/${name}`, async () => (await warnings(r.client, ns, name, 'SyncFailed'))[0]);
        assert.match(message, /^could not read secret\/db-password: .*429 Throttled.*\(after 3 attempts\)/);
      }
      await r.engine.idle();
      seen.push(vault.log.slice(logStart));
      assert.ok(r.recorded.syncErrors.some((e) => e.reason === 'throttled'));
      // One read (three attempts) for the identity, however many classes use it.
      assert.equal(r.recorded.kvRequests.length, 3, `${ns}: ${JSON.stringify(r.recorded.kvRequests)}`);
      assert.ok(r.recorded.kvRequests.every((k) => k.operation === 'get_secret' && k.result === 'throttled'));
    }
    for (const requests of seen) {
      assert.equal(requests.length, 3);
      assert.ok(requests.every((r) => r.status === 429 && r.path === '/secrets/db-password/'), JSON.stringify(requests));
      // Retry-After: 1 is waited out before each retry.
      const gaps = requests.slice(1).map((r, i) => r.at - requests[i]!.at);
      assert.ok(gaps.every((g) => g >= 990), `gaps between attempts: ${gaps.join(', ')} ms`);
    }

    assert.deepEqual([...new Set(apiVersions)], ['7.5'], 'the configured Key Vault api-version is the one sent');

    const afterwards = await env.client.request<V1Secret>('GET', `/api/v1/namespaces/${nsA}/secrets/first-db`);
    assert.equal(afterwards.metadata?.resourceVersion, before.metadata?.resourceVersion, 'not written');
    assert.equal(Buffer.from(afterwards.data?.['password'] ?? '', 'base64').toString(), 'last-good', 'not blanked');
    await assert.rejects(env.client.request('GET', `/api/v1/namespaces/${nsA}/secrets/second-db`), (err: unknown) => err instanceof KubeError && err.status === 404, 'no Secret is created from a failed read');
  });
});
