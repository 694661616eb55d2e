// A rotation in Key Vault, end to end through `keyvault-reloader run --mode
// all`: the sync engine reads the new version within its poll interval and
// updates the Secret; the Deployment that reads it from an environment
// variable rolls once; the Deployment that mounts a class the engine reads
// rolls once on the engine's versions alone when the real CSI driver does
// not see the rotation (its republish held, as with the add-on's rotation
// off), and once — not twice — when the driver sees it too. Key Vault reads
// are counted at the vault's front, outside the controller: one per distinct
// object and identity per interval, however many classes use it.
import assert from 'node:assert/strict';
import { afterEach, before, describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import type { KubeClient } from '../../src/kube/client.ts';
import type { AddonHandle } from '../../src/localenv/addon.ts';
import type { AzureHandle, VaultRequest } from '../../src/localenv/azure.ts';
import { ANNOTATIONS } from '../../src/reloader/annotations.ts';
import { parseBaseline } from '../../src/reloader/decide.ts';
import { allReport, deleteAfter, mountingPod, statusOf, testAddon } from '../helpers/addon.ts';
import { testAzure } from '../helpers/azure.ts';
import { eventually, testEnv, type TestEnv } from '../helpers/env.ts';
import { eventsFor } from '../helpers/reloader.ts';
import { applyClass, ensureServiceAccount, federatedNamespace, secretData, startSyncController, syncClass, vaultName, type SyncController } from '../helpers/sync.ts';
import { createDeployment, deployment, getDeployment, podsWithApp, replicaSetsOf, waitRolledOut } from '../helpers/workloads.ts';

// The vault the add-on's provider can reach (a hosts file names each vault).
const VAULT = vaultName('rotation');
// The driver fetches again on a republish (every 1.5–2.25 s) once 3 s have passed since its last write.
const addon = () => testAddon({ republishPeriodMs: 1500, rotationPollInterval: '3s', vaults: [VAULT] });
/** The service account the pods mount as (the sync engine reads as helpers/sync.ts's SYNC_SA). */
const POD_SA = 'app';

async function baselineOf(client: KubeClient, ns: string, name: string, input: string): Promise<string> {
  return eventually(`${name}'s baseline for ${input}`, async () => parseBaseline((await getDeployment(client, ns, name)).metadata?.annotations?.[ANNOTATIONS.baseline])?.inputs[input]);
}

async function restarts(client: KubeClient, ns: string, name: string): Promise<number> {
  return (await eventsFor(client, ns, name)).filter((e) => e.reason === 'Restarted').length;
}

/** Waits until the vault's front has seen `n` more successful reads of `path` by the sync engine: that many poll rounds have passed. */
async function polls(azure: AzureHandle, vault: string, path: string, n: number): Promise<void> {
  const since = Date.now();
  const byEngine = (r: VaultRequest) => r.vault === vault && r.path === path && r.status === 200 && r.userAgent.startsWith('keyvault-reloader');
  await eventually(`${n} more polls of ${vault}${path}`, async () => (await azure.vaultRequests({ since })).filter(byEngine).length >= n, 60_000);
}

/** The live pods of a Deployment's newest ReplicaSet, once it has rolled out. */
async function currentPods(client: KubeClient, ns: string, name: string, replicaSets = 1): Promise<V1Pod[]> {
  const newest = (await waitRolledOut(client, ns, name, { replicaSets })).at(-1)!.metadata!.name;
  return (await podsWithApp(client, ns, name)).filter((p) => p.metadata?.ownerReferences?.some((o) => o.name === newest));
}

/** Waits until each pod has been republished `cycles` more times: the driver has fetched again and rewritten what it records. */
async function republished(addonHandle: AddonHandle, pods: V1Pod[], cycles = 3): Promise<void> {
  const uids = new Set(pods.map((p) => p.metadata!.uid!));
  const start = new Map((await addonHandle.volumes()).filter((v) => uids.has(v.uid) && !v.removed).map((v) => [v.uid, v.publishes]));
  assert.equal(start.size, uids.size, 'every pod to wait on has a mounted volume');
  await eventually(`${cycles} more republishes of ${uids.size} pod(s)`, async () => {
    const now = (await addonHandle.volumes()).filter((v) => uids.has(v.uid) && !v.removed);
    return now.length === uids.size && now.every((v) => v.publishes >= start.get(v.uid)! + cycles);
  }, 60_000);
}

/**
 * A namespace whose sync service account and pod service account are both
 * federated to one app (two federated credentials, as on AKS), and two
 * classes the sync engine reads: `db` with a secretObjects Secret for
 * env-app, and `files` with none, which mount-app mounts through the
 * driver (so that the driver never writes the engine's Secret).
 */
async function mountedNamespace(env: TestEnv, azure: AzureHandle, prefix: string, object: string): Promise<{ ns: string }> {
  const { ns, clientID } = await federatedNamespace(env, azure, prefix);
  deleteAfter(env.client, ns);
  await ensureServiceAccount(env.client, ns, POD_SA);
  await azure.admin.federate(clientID, ns, POD_SA);
  const objects = [`objectName: ${object}\nobjectType: secret`];
  await applyClass(env.client, ns, syncClass('db', { vault: VAULT, clientID, tenantId: azure.tenantId, objects, secretObjects: [{ secretName: 'db-creds', type: 'Opaque', data: [{ objectName: object, key: 'password' }] }] }));
  await applyClass(env.client, ns, syncClass('files', { vault: VAULT, clientID, tenantId: azure.tenantId, objects }));
  return { ns };
}

describe('sync engine: a Key Vault rotation, end to end', () => {
  let env: TestEnv;
  let azure: AzureHandle;
  const controllers: SyncController[] = [];
  afterEach(async () => {
    await Promise.all(controllers.splice(0).map((c) => c.proc.kill9()));
  });

  before(async () => {
    env = await testEnv();
    azure = await testAzure();
  });

  it('a new version updates the Secret; the env-var Deployment and the Deployment that mounts the class each roll once, on the engine\'s read while the driver does not see it, and once more when both see the next one', async () => {
    const { addon: driver } = await addon();
    const { secrets } = azure.admin.vault(VAULT);
    const v1 = (await secrets.setSecret('db-password', 'v1')).properties.version!;
    const { ns } = await mountedNamespace(env, azure, 'rotation', 'db-password');
    const c = await startSyncController(env, { namespaces: [ns] });
    controllers.push(c);
    await secretData(env.client, ns, 'db-creds', (d) => d['password']?.toString() === 'v1');

    await createDeployment(env.client, ns, deployment('env-app', {
      annotations: { [ANNOTATIONS.auto]: 'true' },
      pod: { containers: [{ name: 'app', image: 'example.invalid/app:1', env: [{ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db-creds', key: 'password' } } }] }] },
    }));
    await createDeployment(env.client, ns, deployment('mount-app', { annotations: { [ANNOTATIONS.auto]: 'true' }, pod: mountingPod('files', POD_SA) }));
    await waitRolledOut(env.client, ns, 'env-app');
    const firstPods = await eventually(`mount-app's pods mounting ${v1}`, async () => {
      const pods = await currentPods(env.client, ns, 'mount-app');
      return (await allReport(env.client, ns, pods, 'files', v1)) ? pods : false;
    });
    await baselineOf(env.client, ns, 'env-app', 'secret/db-creds');
    const mountedBefore = await baselineOf(env.client, ns, 'mount-app', 'spc/files');
    assert.equal((await replicaSetsOf(env.client, ns, 'mount-app')).length, 1, 'adopting the mounting workload restarted nothing');

    // The driver does not see the next rotation: its republishes are held, as when the add-on's
    // rotation is off. A pod of the first ReplicaSet (owned, not controlled, with labels outside
    // its selector) keeps reporting v1 after the rollout.
    const oldRs = (await replicaSetsOf(env.client, ns, 'mount-app'))[0]!;
    await env.client.request('POST', `/api/v1/namespaces/${ns}/pods`, {
      body: {
        metadata: { name: 'lagging', labels: { role: 'lagging' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: oldRs.metadata!.name, uid: oldRs.metadata!.uid }] },
        spec: mountingPod('files', POD_SA),
      },
    });
    await driver.waitMounted({ namespace: ns, name: 'lagging' }, 'kv');
    for (const name of ['lagging', ...firstPods.map((p) => p.metadata!.name!)]) await driver.holdRepublish({ namespace: ns, name }, true);

    const v2 = (await secrets.setSecret('db-password', 'v2')).properties.version!;
    await secretData(env.client, ns, 'db-creds', (d) => d['password']?.toString() === 'v2');
    await waitRolledOut(env.client, ns, 'env-app', { replicaSets: 2 });
    // The new pods mount what the vault holds now, whatever the old ones report.
    const secondPods = await eventually(`mount-app rolled out with its pods mounting ${v2}`, async () => {
      const pods = await currentPods(env.client, ns, 'mount-app', 2);
      return (await allReport(env.client, ns, pods, 'files', v2)) ? pods : false;
    }, 90_000);
    assert.notEqual(await baselineOf(env.client, ns, 'mount-app', 'spc/files'), mountedBefore);
    const restartEvent = (await eventsFor(env.client, ns, 'mount-app')).find((e) => e.reason === 'Restarted');
    assert.match(restartEvent?.message ?? '', /SecretProviderClass files changed/);

    // The new pods' republishes report v2 again, the lagging pod still reports v1: neither restarts anything.
    await polls(azure, VAULT, '/secrets/db-password/', 3);
    await republished(driver, secondPods);
    assert.equal((await statusOf(env.client, ns, 'lagging', 'files'))?.status.objects[0].version, v1, 'the old-revision pod still reports the old version');
    assert.equal((await replicaSetsOf(env.client, ns, 'env-app')).length, 2, 'the env-var Deployment rolled once');
    assert.equal((await replicaSetsOf(env.client, ns, 'mount-app')).length, 2, 'the mounting Deployment rolled once');
    assert.equal(await restarts(env.client, ns, 'env-app'), 1);
    assert.equal(await restarts(env.client, ns, 'mount-app'), 1);

    // A rotation that the engine and the driver both see (the new pods are not held): one more restart.
    const v3 = (await secrets.setSecret('db-password', 'v3')).properties.version!;
    await secretData(env.client, ns, 'db-creds', (d) => d['password']?.toString() === 'v3');
    const thirdPods = await eventually(`mount-app rolled out with its pods mounting ${v3}`, async () => {
      const pods = await currentPods(env.client, ns, 'mount-app', 3);
      return (await allReport(env.client, ns, pods, 'files', v3)) ? pods : false;
    }, 90_000);
    await waitRolledOut(env.client, ns, 'env-app', { replicaSets: 3 });
    await polls(azure, VAULT, '/secrets/db-password/', 3);
    await republished(driver, thirdPods);
    assert.equal((await replicaSetsOf(env.client, ns, 'mount-app')).length, 3, 'seen by both, restarted once');
    assert.equal((await replicaSetsOf(env.client, ns, 'env-app')).length, 3);
    // Counted by the controller too (Events of the same text are not repeated within 10 minutes).
    assert.equal(await c.metric('keyvault_reloader_restarts_total', { kind: 'Deployment', result: 'restarted' }), 4);
  });

  it('a controller restart while the pods report other versions than the engine read restarts nothing: the pods\' reports never stand in for the engine\'s first read', async () => {
    const { addon: driver } = await addon();
    const { secrets } = azure.admin.vault(VAULT);
    const v0 = (await secrets.setSecret('api-token', 't0')).properties.version!;
    const { ns } = await mountedNamespace(env, azure, 'rotation-restart', 'api-token');
    await createDeployment(env.client, ns, deployment('mount-app', { annotations: { [ANNOTATIONS.auto]: 'true' }, pod: mountingPod('files', POD_SA) }));
    const pods = await eventually(`mount-app's pods mounting ${v0}`, async () => {
      const current = await currentPods(env.client, ns, 'mount-app');
      return (await allReport(env.client, ns, current, 'files', v0)) ? current : false;
    });
    // The pods started before the vault changed, and their driver does not see it (rotation off).
    for (const p of pods) await driver.holdRepublish({ namespace: ns, name: p.metadata!.name! }, true);
    await secrets.setSecret('api-token', 't1');

    const first = await startSyncController(env, { namespaces: [ns] });
    controllers.push(first);
    await secretData(env.client, ns, 'db-creds', (d) => d['password']?.toString() === 't1');
    const recorded = await baselineOf(env.client, ns, 'mount-app', 'spc/files');
    await first.proc.kill9();
    assert.equal((await replicaSetsOf(env.client, ns, 'mount-app')).length, 1, 'adopted on the engine\'s read, restarting nothing');

    // The new process's first read waits on a slow Entra, well past the settle window, while the pods report t0's version.
    await azure.faults.delayEntraTokens(5000);
    try {
      const second = await startSyncController(env, { namespaces: [ns] });
      controllers.push(second);
      await eventually('the engine\'s first read', async () => (await second.metric('keyvault_reloader_sync_last_success_timestamp_seconds', { namespace: ns, class: 'files' })) > 0, 60_000);
      await polls(azure, VAULT, '/secrets/api-token/', 2);
      assert.equal((await statusOf(env.client, ns, pods[0]!.metadata!.name!, 'files'))?.status.objects[0].version, v0, 'the pods still report the version they mounted');
      assert.equal((await replicaSetsOf(env.client, ns, 'mount-app')).length, 1, 'no restart');
      assert.equal(await second.metric('keyvault_reloader_restarts_total', { kind: 'Deployment', result: 'restarted' }), 0);
      assert.equal(await baselineOf(env.client, ns, 'mount-app', 'spc/files'), recorded);
    } finally {
      await azure.faults.clearEntra();
    }
  });

  it('one Key Vault read per distinct object and identity per interval, however many classes use it, counted at the vault', async () => {
    const a = await federatedNamespace(env, azure, 'reads-a');
    const b = await federatedNamespace(env, azure, 'reads-b');
    const vault = vaultName('reads');
    const { secrets, keys } = azure.admin.vault(vault);
    await secrets.setSecret('shared', 's');
    await keys.createRsaKey('signing', { keySize: 2048 });
    const objects = ['objectName: shared\nobjectType: secret', 'objectName: signing\nobjectType: key'];
    const intervalMs = 2000;
    // Five classes in A (one identity), two in B (another), all polling every 2 s.
    for (const [{ ns, clientID }, count] of [[a, 5], [b, 2]] as const) {
      for (let i = 0; i < count; i++) {
        await applyClass(env.client, ns, syncClass(`c${i}`, { vault, clientID, tenantId: azure.tenantId, objects, pollInterval: '2s', secretObjects: [{ secretName: `s${i}`, type: 'Opaque', data: [{ objectName: 'shared', key: 'v' }] }] }));
      }
    }
    controllers.push(await startSyncController(env, { namespaces: [a.ns, b.ns] }));
    for (let i = 0; i < 5; i++) await secretData(env.client, a.ns, `s${i}`);
    for (let i = 0; i < 2; i++) await secretData(env.client, b.ns, `s${i}`);

    // From the second grid point on, every class is on the grid (its first sync was off it, at start-up).
    const since = (Math.ceil(Date.now() / intervalMs) + 1) * intervalMs;
    const windowsWanted = 4;
    const reads = await eventually(`${windowsWanted} poll windows of reads`, async () => {
      const seen = (await azure.vaultRequests({ since })).filter((r) => r.vault === vault && r.status === 200);
      return seen.length > 0 && Math.floor(Date.now() / intervalMs) - since / intervalMs > windowsWanted ? seen : undefined;
    }, 60_000, 500);
    const last = since / intervalMs + windowsWanted;
    const perWindow = new Map<number, VaultRequest[]>();
    for (const r of reads) {
      const w = Math.floor(r.at / intervalMs);
      if (w < last) perWindow.set(w, [...(perWindow.get(w) ?? []), r]);
    }
    assert.equal(perWindow.size, windowsWanted, `reads in every window: ${[...perWindow.keys()].join(', ')}`);
    for (const [w, rs] of perWindow) {
      const byPath = new Map<string, number>();
      for (const r of rs) byPath.set(r.path, (byPath.get(r.path) ?? 0) + 1);
      // Two identities, so two reads of each object: never seven.
      assert.deepEqual(Object.fromEntries(byPath), { '/secrets/shared/': 2, '/keys/signing/': 2 }, `window ${w}`);
    }
  });
});
