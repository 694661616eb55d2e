// A rotation in Key Vault, end to end through `keyvault-reloader run --mode
// all`: the sync engine reads the new version within its poll interval and
// updates the Secret; the Deployment that reads it from an environment
// variable rolls once; the Deployment that mounts the class (KWOK pods, no
// CSI driver: no SecretProviderClassPodStatus unless the test writes one)
// rolls once on the sync engine's versions alone, and once — not twice — when
// the driver reports the same rotation too. Key Vault reads are counted at
// the vault's front, outside the controller: one per distinct object and
// identity per interval, however many classes use it.
import assert from 'node:assert/strict';
import { afterEach, before, describe, it } from 'node:test';
import type { KubeClient } from '../../src/kube/client.ts';
import type { AzureHandle, VaultRequest } from '../../src/localenv/azure.ts';
import { recordMount, recordMountsForClass } from '../../src/localenv/csi-driver.ts';
import { ANNOTATIONS } from '../../src/reloader/annotations.ts';
import { parseBaseline } from '../../src/reloader/decide.ts';
import { testAzure } from '../helpers/azure.ts';
import { eventually, testEnv, type TestEnv } from '../helpers/env.ts';
import { eventsFor } from '../helpers/reloader.ts';
import { applyClass, federatedNamespace, secretData, startSyncController, syncClass, vaultName, type SyncController } from '../helpers/sync.ts';
import { createDeployment, deployment, getDeployment, replicaSetsOf, waitRolledOut } from '../helpers/workloads.ts';

const csiPod = (className: string) => ({
  containers: [{ name: 'app', image: 'example.invalid/app:1', volumeMounts: [{ name: 'kv', mountPath: '/mnt/secrets', readOnly: true }] }],
  volumes: [{ name: 'kv', csi: { driver: 'secrets-store.csi.k8s.io', readOnly: true, volumeAttributes: { secretProviderClass: className } } }],
});

async function baselineOf(client: KubeClient, ns: string, name: string, input: string): Promise<string> {
  return eventually(`${name}'s baseline for ${input}`, async () => parseBaseline((await getDeployment(client, ns, name)).metadata?.annotations?.[ANNOTATIONS.baseline])?.inputs[input]);
}

async function restarts(client: KubeClient, ns: string, name: string): Promise<number> {
  return (await eventsFor(client, ns, name)).filter((e) => e.reason === 'Restarted').length;
}

/** Waits until the vault's front has seen `n` more successful reads of `path`: that many poll rounds have passed. */
async function polls(azure: AzureHandle, vault: string, path: string, n: number): Promise<void> {
  const since = Date.now();
  await eventually(`${n} more polls of ${vault}${path}`, async () => (await azure.vaultRequests({ since })).filter((r) => r.vault === vault && r.path === path && r.status === 200).length >= n, 60_000);
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

  it('a new version updates the Secret; the env-var Deployment and the Deployment that mounts the class each roll once, with no CSI driver and its rotation off', async () => {
    const { ns, clientID } = await federatedNamespace(env, azure, 'rotation');
    const vault = vaultName('rotation');
    const { secrets } = azure.admin.vault(vault);
    await secrets.setSecret('db-password', 'v1');
    await applyClass(env.client, ns, syncClass('db', {
      vault, clientID, tenantId: azure.tenantId,
      objects: ['objectName: db-password\nobjectType: secret'],
      secretObjects: [{ secretName: 'db-creds', type: 'Opaque', data: [{ objectName: 'db-password', key: 'password' }] }],
    }));
    const c = await startSyncController(env, { namespaces: [ns] });
    controllers.push(c);
    await secretData(env.client, ns, 'db-creds', (d) => d['password']?.toString() === 'v1');

    await createDeployment(env.client, ns, deployment('env-app', {
      annotations: { [ANNOTATIONS.auto]: 'true' },
      pod: { containers: [{ name: 'app', image: 'example.invalid/app:1', env: [{ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db-creds', key: 'password' } } }] }] },
    }));
    await createDeployment(env.client, ns, deployment('mount-app', { annotations: { [ANNOTATIONS.auto]: 'true' }, pod: csiPod('db') }));
    await waitRolledOut(env.client, ns, 'env-app');
    await waitRolledOut(env.client, ns, 'mount-app');
    await baselineOf(env.client, ns, 'env-app', 'secret/db-creds');
    const mountedBefore = await baselineOf(env.client, ns, 'mount-app', 'spc/db');
    assert.equal((await replicaSetsOf(env.client, ns, 'mount-app')).length, 1, 'adopting the mounting workload restarted nothing');

    const v2 = await secrets.setSecret('db-password', 'v2');
    await secretData(env.client, ns, 'db-creds', (d) => d['password']?.toString() === 'v2');
    await waitRolledOut(env.client, ns, 'env-app', { replicaSets: 2 });
    await waitRolledOut(env.client, ns, 'mount-app', { replicaSets: 2 });
    assert.notEqual(await baselineOf(env.client, ns, 'mount-app', 'spc/db'), mountedBefore);
    const restartEvent = (await eventsFor(env.client, ns, 'mount-app')).find((e) => e.reason === 'Restarted');
    assert.match(restartEvent?.message ?? '', /SecretProviderClass db changed/);

    // The driver (its rotation on after all) reports the same rotation from the new pods, and an
    // old pod still reports the old version: neither restarts anything again.
    await recordMountsForClass(env.client, ns, 'db', [{ id: 'secret/db-password', version: v2.properties.version! }]);
    const [stalePod] = (await env.client.request('GET', `/api/v1/namespaces/${ns}/pods`, { query: { labelSelector: 'app=mount-app' } })).items;
    await recordMount(env.client, stalePod, 'db', [{ id: 'secret/db-password', version: 'an-older-version' }]);
    await polls(azure, vault, '/secrets/db-password/', 3);
    assert.equal((await replicaSetsOf(env.client, ns, 'env-app')).length, 2, 'the env-var Deployment rolled once');
    assert.equal((await replicaSetsOf(env.client, ns, 'mount-app')).length, 2, 'the mounting Deployment rolled once');
    assert.equal(await restarts(env.client, ns, 'env-app'), 1);
    assert.equal(await restarts(env.client, ns, 'mount-app'), 1);

    // A rotation that the engine and the driver both see, the driver first: one more restart.
    const v3 = await secrets.setSecret('db-password', 'v3');
    await recordMountsForClass(env.client, ns, 'db', [{ id: 'secret/db-password', version: v3.properties.version! }]);
    await waitRolledOut(env.client, ns, 'mount-app', { replicaSets: 3 });
    await secretData(env.client, ns, 'db-creds', (d) => d['password']?.toString() === 'v3');
    await polls(azure, vault, '/secrets/db-password/', 3);
    await waitRolledOut(env.client, ns, 'env-app', { replicaSets: 3 });
    assert.equal((await replicaSetsOf(env.client, ns, 'mount-app')).length, 3, 'seen by both, restarted once');
    assert.equal((await replicaSetsOf(env.client, ns, 'env-app')).length, 3);
    // Counted by the controller too (Events of the same text are not repeated within 10 minutes).
    assert.equal(await c.metric('keyvault_reloader_restarts_total', { kind: 'Deployment', result: 'restarted' }), 4);
  });

  it('a controller restart while the pods report other versions than the engine read restarts nothing: the pods\' reports never stand in for the engine\'s first read', async () => {
    const { ns, clientID } = await federatedNamespace(env, azure, 'rotation-restart');
    const vault = vaultName('restart');
    await azure.admin.vault(vault).secrets.setSecret('db-password', 'v1');
    await applyClass(env.client, ns, syncClass('db', {
      vault, clientID, tenantId: azure.tenantId,
      objects: ['objectName: db-password\nobjectType: secret'],
      secretObjects: [{ secretName: 'db-creds', type: 'Opaque', data: [{ objectName: 'db-password', key: 'password' }] }],
    }));
    await createDeployment(env.client, ns, deployment('mount-app', { annotations: { [ANNOTATIONS.auto]: 'true' }, pod: csiPod('db') }));
    await waitRolledOut(env.client, ns, 'mount-app');
    const first = await startSyncController(env, { namespaces: [ns] });
    controllers.push(first);
    await secretData(env.client, ns, 'db-creds');
    const recorded = await baselineOf(env.client, ns, 'mount-app', 'spc/db');
    await first.proc.kill9();

    // The driver reports a version the engine never read (its rotation off, pods started earlier).
    await recordMountsForClass(env.client, ns, 'db', [{ id: 'secret/db-password', version: 'an-older-version' }]);
    // The new process's first read waits on a slow Entra, well past the settle window.
    await azure.faults.delayEntraTokens(5000);
    try {
      const second = await startSyncController(env, { namespaces: [ns] });
      controllers.push(second);
      await eventually('the engine\'s first read', async () => (await second.metric('keyvault_reloader_sync_last_success_timestamp_seconds', { namespace: ns, class: 'db' })) > 0, 60_000);
      await polls(azure, vault, '/secrets/db-password/', 2);
      assert.equal((await replicaSetsOf(env.client, ns, 'mount-app')).length, 1, 'no restart');
      assert.equal(await second.metric('keyvault_reloader_restarts_total', { kind: 'Deployment', result: 'restarted' }), 0);
      assert.equal(await baselineOf(env.client, ns, 'mount-app', 'spc/db'), recorded);
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
