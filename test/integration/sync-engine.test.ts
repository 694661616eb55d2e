// The sync engine as `keyvault-reloader run --mode all` runs it, against the
// real API server and the local Azure: which classes it takes up, what it
// says about those it cannot sync, that no class can use another namespace's
// identity or make the API server act for it, what happens to a Secret whose
// secretObjects entry is removed, and that what it holds for a class goes
// with the class.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, before, describe, it } from 'node:test';
import type { V1Secret } from '@kubernetes/client-node';
import type { AzureHandle } from '../../src/localenv/azure.ts';
import { createEventRecorder } from '../../src/kube/events.ts';
import { createLogger } from '../../src/log.ts';
import { buildSecrets } from '../../src/sync/secret-data.ts';
import { SecretWriter } from '../../src/sync/secret-writer.ts';
import { ANNOTATION_SERVICE_ACCOUNT, ANNOTATION_SYNC, parseSecretProviderClass } from '../../src/sync/spc.ts';
import { testAzure } from '../helpers/azure.ts';
import { createNamespace, eventually, testEnv, type TestEnv } from '../helpers/env.ts';
import { eventsFor } from '../helpers/reloader.ts';
import { applyClass, classEvents, ensureServiceAccount, federatedNamespace, getSecret, secretData, spcPath, startSyncController, SYNC_SA, syncClass, vaultName, waitEvent, type SyncController } from '../helpers/sync.ts';

const DB = 'objectName: db-password\nobjectType: secret';
const dbSecret = (secretName: string, extra: object = {}) => ({ secretName, type: 'Opaque', data: [{ objectName: 'db-password', key: 'password' }], ...extra });

describe('sync engine end to end: which classes, whose identity, which Secrets', () => {
  let env: TestEnv;
  let azure: AzureHandle;
  const controllers: SyncController[] = [];
  const log = createLogger({ level: 'silent' });
  afterEach(async () => {
    await Promise.all(controllers.splice(0).map((c) => c.proc.kill9()));
  });
  const start = async (namespaces: string[], args: string[] = []) => {
    const c = await startSyncController(env, { namespaces, args });
    controllers.push(c);
    return c;
  };

  before(async () => {
    env = await testEnv();
    azure = await testAzure();
  });

  it('an invalid class gets a Warning naming the field and is not read; the classes beside it are synced; classes not opted in are left alone', async () => {
    const { ns, clientID } = await federatedNamespace(env, azure, 'engine');
    const vault = vaultName('engine');
    await azure.admin.vault(vault).secrets.setSecret('db-password', 'pw-1');
    const base = { vault, clientID, tenantId: azure.tenantId, objects: [DB] };
    await applyClass(env.client, ns, syncClass('bad-type', { ...base, objects: ['objectName: db-password\nobjectType: password'], secretObjects: [dbSecret('bad-type-db')] }));
    await applyClass(env.client, ns, syncClass('other-namespace', { ...base, annotations: { [ANNOTATION_SERVICE_ACCOUNT]: 'kube-system/default' }, secretObjects: [dbSecret('other-namespace-db')] }));
    await applyClass(env.client, ns, syncClass('good', { ...base, secretObjects: [dbSecret('good-db')] }));
    await applyClass(env.client, ns, syncClass('opted-out', { ...base, annotations: { [ANNOTATION_SYNC]: 'false' }, secretObjects: [dbSecret('opted-out-db')] }));
    const unannotated = syncClass('unannotated', { ...base, secretObjects: [dbSecret('unannotated-db')] }) as { metadata: { annotations: Record<string, string> } };
    delete unannotated.metadata.annotations[ANNOTATION_SYNC];
    await applyClass(env.client, ns, unannotated);
    const since = Date.now();
    const c = await start([ns]);

    const badType = await waitEvent(env.client, ns, 'bad-type', 'InvalidSecretProviderClass');
    assert.match(badType, /spec\.parameters\.objects\[0\]\.objectType: "password" is not one of secret, key, cert/);
    const otherNs = await waitEvent(env.client, ns, 'other-namespace', 'InvalidSecretProviderClass');
    assert.ok(otherNs.includes(`metadata.annotations["${ANNOTATION_SERVICE_ACCOUNT}"]: "kube-system/default" is not a service account name`), otherNs);
    assert.equal((await secretData(env.client, ns, 'good-db'))['password']!.toString(), 'pw-1');

    assert.equal(await getSecret(env.client, ns, 'bad-type-db'), undefined);
    assert.equal(await getSecret(env.client, ns, 'other-namespace-db'), undefined);
    assert.equal(await getSecret(env.client, ns, 'opted-out-db'), undefined);
    assert.equal(await getSecret(env.client, ns, 'unannotated-db'), undefined);
    assert.deepEqual(await eventsFor(env.client, ns, 'opted-out'), []);
    assert.deepEqual(await eventsFor(env.client, ns, 'unannotated'), []);
    assert.ok(await c.metric('keyvault_reloader_sync_errors_total', { namespace: ns, class: 'bad-type', reason: 'invalid' }) >= 1);
    assert.ok(await c.metric('keyvault_reloader_sync_last_success_timestamp_seconds', { namespace: ns, class: 'good' }) * 1000 >= since - 1000);
    const reads = await azure.vaultRequests({ since });
    assert.ok(reads.length > 0 && reads.every((r) => r.vault === vault && r.path === '/secrets/db-password/'), 'only the valid class read, and only its object');
  });

  it('a class whose clientID has no federated credential for its namespace\'s service account, or trusts another namespace\'s, gets a clear Event and writes nothing', async () => {
    const a = await federatedNamespace(env, azure, 'engine-a');
    const nsB = await createNamespace(env.client, 'engine-b');
    await ensureServiceAccount(env.client, nsB, SYNC_SA);
    const unfederated = await azure.admin.registerApp(`unfederated-${randomUUID()}`);
    const vault = vaultName('engine');
    await azure.admin.vault(vault).secrets.setSecret('db-password', 'a-only');
    const base = { vault, tenantId: azure.tenantId, objects: [DB] };
    // B borrows A's client ID: Entra sees B's own service account and refuses it.
    await applyClass(env.client, nsB, syncClass('borrowed', { ...base, clientID: a.clientID, secretObjects: [dbSecret('db')] }));
    await applyClass(env.client, nsB, syncClass('unfederated', { ...base, clientID: unfederated, secretObjects: [dbSecret('db-2')] }));
    // A Secret of that name in A is A's business: B's class can only ever write into B.
    await applyClass(env.client, a.ns, syncClass('owner', { ...base, clientID: a.clientID, secretObjects: [dbSecret('db')] }));
    await start([a.ns, nsB]);

    assert.equal((await secretData(env.client, a.ns, 'db'))['password']!.toString(), 'a-only');
    for (const [name, clientID] of [['borrowed', a.clientID], ['unfederated', unfederated]] as const) {
      const message = await waitEvent(env.client, nsB, name, 'SyncFailed');
      assert.ok(message.startsWith(`federated credential rejected: Entra refused to exchange the token of system:serviceaccount:${nsB}:${SYNC_SA} for client ID ${clientID}`), message);
      assert.match(message, /AADSTS700213/);
      assert.ok(message.includes(`add a federated identity credential for subject system:serviceaccount:${nsB}:${SYNC_SA}`), message);
      assert.match(message, /Left unchanged \(last good value kept\): Secret db/);
      assert.doesNotMatch(message, /eyJ/, 'no token in an Event');
    }
    assert.equal(await getSecret(env.client, nsB, 'db'), undefined, 'nothing written for B');
    assert.equal(await getSecret(env.client, nsB, 'db-2'), undefined);
    const aSecret = await getSecret(env.client, a.ns, 'db');
    assert.deepEqual(aSecret?.metadata?.ownerReferences?.map((o) => o.name), ['owner'], 'A\'s Secret is owned by A\'s class only');
  });

  it('refuses a secretObjects type that makes the API server act for the Secret, so a class author gets no token through the controller', async () => {
    const { ns, clientID } = await federatedNamespace(env, azure, 'engine-type');
    const vault = vaultName('engine');
    await azure.admin.vault(vault).secrets.setSecret('db-password', 'x');
    await applyClass(env.client, ns, syncClass('token-grab', {
      vault,
      clientID,
      tenantId: azure.tenantId,
      objects: [DB],
      secretObjects: [dbSecret('stolen', { type: 'kubernetes.io/service-account-token', annotations: { 'kubernetes.io/service-account.name': 'default' } })],
    }));
    await start([ns]);
    const message = await waitEvent(env.client, ns, 'token-grab', 'InvalidSecretProviderClass');
    assert.match(message, /spec\.secretObjects\[0\]\.type: "kubernetes\.io\/service-account-token" is not allowed \(Kubernetes would put a service account token into it\): use one of Opaque, /);
    assert.equal(await getSecret(env.client, ns, 'stolen'), undefined);
  });

  it('a secretObjects entry removed from its class: its Secret is kept as it is, with a Warning, and no longer updated', async () => {
    const { ns, clientID } = await federatedNamespace(env, azure, 'engine-removed');
    const vault = vaultName('engine');
    const { secrets } = azure.admin.vault(vault);
    await secrets.setSecret('db-password', 'v1');
    const spec = { vault, clientID, tenantId: azure.tenantId, objects: [DB] };
    await applyClass(env.client, ns, syncClass('app', { ...spec, secretObjects: [dbSecret('kept'), dbSecret('dropped')] }));
    await start([ns]);
    await secretData(env.client, ns, 'kept');
    await secretData(env.client, ns, 'dropped');
    const before = await getSecret(env.client, ns, 'dropped');
    assert.equal(Buffer.from(before?.data?.['password'] ?? '', 'base64').toString(), 'v1');

    await applyClass(env.client, ns, syncClass('app', { ...spec, secretObjects: [dbSecret('kept')] }));
    const warning = await waitEvent(env.client, ns, 'app', 'SecretObjectRemoved');
    assert.match(warning, /^secretObjects no longer lists Secret dropped: it is kept as it is and no longer updated/);
    await secrets.setSecret('db-password', 'v2');
    await secretData(env.client, ns, 'kept', (d) => d['password']?.toString() === 'v2');
    const afterwards = await getSecret(env.client, ns, 'dropped');
    assert.equal(afterwards?.metadata?.resourceVersion, before?.metadata?.resourceVersion, 'not written again');
    assert.equal(Buffer.from(afterwards?.data?.['password'] ?? '', 'base64').toString(), 'v1');
  });

  it('when the identity cannot be obtained, the Secret keeps its last value byte for byte and SyncFailed says what to fix; nothing is asked of Key Vault', async () => {
    const ns = await createNamespace(env.client, 'engine-nosa');
    const clientID = await azure.admin.workloadIdentity(ns, SYNC_SA);
    const vault = vaultName('engine');
    await azure.admin.vault(vault).secrets.setSecret('db-password', 'new');
    // No service account keyvault-reloader-sync in this namespace; the Secret holds what an earlier sync wrote.
    const created = await applyClass(env.client, ns, syncClass('app', { vault, clientID, tenantId: azure.tenantId, objects: [DB], secretObjects: [dbSecret('app-db')] }));
    const parsed = parseSecretProviderClass(created);
    assert.ok(parsed.ok);
    const events = createEventRecorder({ client: env.client, log, instance: 'test' });
    await new SecretWriter({ client: env.client, events, log, metrics: { write: () => {} } }).apply(parsed.value, buildSecrets(parsed.value, [{ fileName: 'db-password', content: Buffer.from('last-good'), id: 'secret/db-password', version: 'v1' }]).secrets);
    const before = await env.client.request<V1Secret>('GET', `/api/v1/namespaces/${ns}/secrets/app-db`);

    const since = Date.now();
    const c = await start([ns]);
    const message = await waitEvent(env.client, ns, 'app', 'SyncFailed');
    assert.ok(message.startsWith(`service account ${SYNC_SA} not found in namespace ${ns}: create it`), message);
    assert.ok(message.includes('Left unchanged (last good value kept): Secret app-db'), message);
    const afterwards = await env.client.request<V1Secret>('GET', `/api/v1/namespaces/${ns}/secrets/app-db`);
    assert.equal(afterwards.metadata?.resourceVersion, before.metadata?.resourceVersion);
    assert.deepEqual(afterwards.data, before.data);
    assert.deepEqual((await azure.vaultRequests({ since })).filter((r) => r.vault === vault), [], 'no Key Vault request without an identity');
    assert.ok(await c.metric('keyvault_reloader_sync_errors_total', { namespace: ns, class: 'app', reason: 'identity' }) >= 1);

    // Creating the service account is all it takes: the engine recovers by itself.
    await ensureServiceAccount(env.client, ns, SYNC_SA);
    await secretData(env.client, ns, 'app-db', (d) => d['password']?.toString() === 'new');
    await waitEvent(env.client, ns, 'app', 'SyncRecovered');
  });

  it('what the engine holds for classes (identities, credentials, tokens, vault clients, reads, versions) goes with them', async () => {
    const namespaces = await Promise.all([0, 1].map(() => federatedNamespace(env, azure, 'engine-mem')));
    const vaults = [vaultName('mem'), vaultName('mem')];
    for (const v of vaults) await azure.admin.vault(v).secrets.setSecret('db-password', 'x');
    for (const [i, { ns, clientID }] of namespaces.entries()) {
      for (const [j, vault] of vaults.entries()) await applyClass(env.client, ns, syncClass(`c${j}`, { vault, clientID, tenantId: azure.tenantId, objects: [DB], secretObjects: [dbSecret(`s${i}-${j}`)] }));
    }
    const c = await start(namespaces.map((n) => n.ns));
    for (const [i, { ns }] of namespaces.entries()) for (const j of [0, 1]) await secretData(env.client, ns, `s${i}-${j}`);
    const cache = (name: string) => c.metric('keyvault_reloader_sync_cache_entries', { cache: name });
    assert.equal(await cache('classes'), 4);
    assert.equal(await cache('identities'), 2);
    assert.equal(await cache('credentials'), 2);
    assert.equal(await cache('tokens'), 2);
    assert.equal(await cache('vaults'), 2);
    assert.equal(await cache('vault_clients'), 2);
    assert.ok(await cache('reads') >= 2);

    for (const { ns } of namespaces) for (const j of [0, 1]) await env.client.request('DELETE', spcPath(ns, `c${j}`));
    await eventually('every cache empty once the classes are gone', async () => {
      for (const name of ['classes', 'identities', 'credentials', 'tokens', 'vaults', 'vault_clients', 'reads']) if ((await cache(name)) !== 0) return false;
      return true;
    });
    assert.deepEqual(await classEvents(env.client, namespaces[0]!.ns, 'c0', 'SyncFailed'), []);
  });
});
