// Mounted-secret rotation beside the real add-on: a new version written into
// the Key Vault emulator reaches the pods through the real CSI driver and
// Azure provider (workload identity as on AKS, the kubelet stand-in
// republishing), the driver records it in each pod's
// SecretProviderClassPodStatus and the synced Secret, and the reloader rolls
// each workload once. Restarts are counted as ReplicaSets and
// ControllerRevisions, not as patches.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import type { KubeClient } from '../../src/kube/client.ts';
import type { AddonHandle } from '../../src/localenv/addon.ts';
import { ANNOTATIONS } from '../../src/reloader/annotations.ts';
import { parseBaseline } from '../../src/reloader/decide.ts';
import { allReport, deleteAfter, mountingPod, statusOf, testAddon, vaultName, workloadIdentityClass } from '../helpers/addon.ts';
import { createNamespace, eventually } from '../helpers/env.ts';
import { startReloader, type RunningReloader } from '../helpers/reloader.ts';
import {
  controllerRevisionsOf,
  createWorkload,
  daemonSet,
  deployment,
  getWorkload,
  podsWithApp,
  replicaSetsOf,
  statefulSet,
  waitDaemonSetRolledOut,
  waitRolledOut,
  waitStatefulSetRolledOut,
} from '../helpers/workloads.ts';

const VAULT = vaultName('mounted');
// A short rotation interval and kubelet resync (1.5–2.25 s), so that a
// rotation shows within seconds; the driver fetches again on a republish only
// once the interval has passed since its last write.
const setup = () => testAddon({ republishPeriodMs: 1500, rotationPollInterval: '3s', vaults: [VAULT] });

type Kind = 'Deployment' | 'StatefulSet' | 'DaemonSet';

/** The pods of a workload (by its app label) once it has rolled out, its current revision only. */
async function currentPods(client: KubeClient, ns: string, kind: Kind, name: string): Promise<V1Pod[]> {
  if (kind === 'Deployment') {
    const sets = await waitRolledOut(client, ns, name);
    const newest = sets[sets.length - 1]!.metadata!.name;
    return (await podsWithApp(client, ns, name)).filter((p) => p.metadata?.ownerReferences?.some((o) => o.name === newest));
  }
  if (kind === 'StatefulSet') {
    const s = await waitStatefulSetRolledOut(client, ns, name);
    return (await podsWithApp(client, ns, name)).filter((p) => p.metadata?.labels?.['controller-revision-hash'] === s.status?.updateRevision);
  }
  const d = await waitDaemonSetRolledOut(client, ns, name);
  return (await podsWithApp(client, ns, name)).filter((p) => p.metadata?.labels?.['pod-template-generation'] === String(d.metadata?.generation));
}

/** Restarts so far: each one is a new ReplicaSet, or a new ControllerRevision. */
async function revisions(client: KubeClient, ns: string, kind: Kind, name: string): Promise<number> {
  return kind === 'Deployment' ? (await replicaSetsOf(client, ns, name)).length : (await controllerRevisionsOf(client, ns, kind, name)).length;
}

async function adopted(client: KubeClient, ns: string, kind: Kind, name: string, input: string) {
  return eventually(`${kind} ${name} adopted with ${input}`, async () => parseBaseline((await getWorkload(client, ns, kind, name)).metadata?.annotations?.[ANNOTATIONS.baseline])?.inputs[input]);
}

/**
 * Waits, by condition rather than by the clock, until every given pod has been
 * republished `cycles` more times (a few rotation intervals: the driver has
 * fetched again and rewritten what it records), then until the reloader has
 * nothing left to do: whatever those republishes would restart has started.
 */
async function quietFor(addon: AddonHandle, r: RunningReloader, ns: string, pods: V1Pod[], cycles = 3): Promise<void> {
  const uids = new Set(pods.map((p) => p.metadata!.uid!));
  const start = new Map((await addon.volumes()).filter((v) => uids.has(v.uid)).map((v) => [v.uid, v.publishes]));
  assert.equal(start.size, uids.size, 'every pod to wait on has a mounted volume');
  await eventually(`${cycles} more republishes of ${uids.size} pod(s) in ${ns}`, async () => {
    const now = (await addon.volumes()).filter((v) => uids.has(v.uid));
    return now.length === uids.size && now.every((v) => v.publishes >= start.get(v.uid)! + cycles);
  }, 60_000);
  await r.controller.idle();
}

describe('mounted-secret rotation beside the real CSI driver and Azure provider', () => {
  it('a vault rotation reaches the mounted pods and restarts each Deployment, StatefulSet and DaemonSet that mounts the class exactly once', async (t) => {
    const { env, azure, addon } = await setup();
    const ns = await createNamespace(env.client, 'mounted');
    deleteAfter(env.client, ns);
    const secrets = azure.admin.vault(VAULT).secrets;
    const v1 = (await secrets.setSecret('db-password', 'p1')).properties.version!;
    await workloadIdentityClass(env.client, azure, ns, { name: 'kv', vault: VAULT, serviceAccount: 'app', objects: [{ objectName: 'db-password', objectType: 'secret' }] });
    const pod = mountingPod('kv', 'app');
    const auto = { [ANNOTATIONS.auto]: 'true' };
    await createWorkload(env.client, ns, deployment('web', { replicas: 2, annotations: auto, pod }));
    await createWorkload(env.client, ns, statefulSet('db', { replicas: 2, annotations: auto, pod }));
    await createWorkload(env.client, ns, daemonSet('agent', { annotations: auto, pod }));
    const workloads: Array<[Kind, string]> = [['Deployment', 'web'], ['StatefulSet', 'db'], ['DaemonSet', 'agent']];
    for (const [kind, name] of workloads) {
      await eventually(`${kind} ${name}'s pods mounting ${v1}`, async () => allReport(env.client, ns, await currentPods(env.client, ns, kind, name), 'kv', v1));
    }
    const r = await startReloader(env, { namespace: ns });
    try {
      for (const [kind, name] of workloads) await adopted(env.client, ns, kind, name, 'spc/kv');
      for (const [kind, name] of workloads) assert.equal(await revisions(env.client, ns, kind, name), 1, `adopting ${kind} ${name} restarts nothing`);

      const rotatedAt = Date.now();
      const v2 = (await secrets.setSecret('db-password', 'p2')).properties.version!;
      const took = await Promise.all(
        workloads.map(async ([kind, name]) => {
          await eventually(`${kind} ${name} rolled out with its pods mounting ${v2}`, async () => {
            if ((await revisions(env.client, ns, kind, name)) < 2) return false;
            return allReport(env.client, ns, await currentPods(env.client, ns, kind, name), 'kv', v2);
          }, 90_000);
          return `${kind} ${((Date.now() - rotatedAt) / 1000).toFixed(1)}s`;
        }),
      );
      const pods = (await Promise.all(workloads.map(([kind, name]) => currentPods(env.client, ns, kind, name)))).flat();
      const files = await addon.mountedFiles({ namespace: ns, name: pods[0]!.metadata!.name! }, 'kv');
      assert.equal(files['db-password']?.toString(), 'p2');

      await quietFor(addon, r, ns, pods);
      for (const [kind, name] of workloads) assert.equal(await revisions(env.client, ns, kind, name), 2, `${kind} ${name} restarted exactly once`);
      assert.equal(r.counts.restarted, 3);
      t.diagnostic(`vault write → rolled out with the new version mounted: ${took.join(', ')}`);
    } finally {
      await r.stop();
    }
  });

  it('a Deployment that reads the driver-synced Secret from an env var restarts once; one that mounts the class and reads it too restarts once', async () => {
    const { env, azure, addon } = await setup();
    const ns = await createNamespace(env.client, 'mounted-env');
    deleteAfter(env.client, ns);
    const secrets = azure.admin.vault(VAULT).secrets;
    await secrets.setSecret('api-key', 'k1');
    await workloadIdentityClass(env.client, azure, ns, {
      name: 'kv',
      vault: VAULT,
      serviceAccount: 'app',
      objects: [{ objectName: 'api-key', objectType: 'secret' }],
      secretObjects: [{ secretName: 'api', type: 'Opaque', data: [{ objectName: 'api-key', key: 'key' }] }],
    });
    const envFrom = { name: 'API_KEY', valueFrom: { secretKeyRef: { name: 'api', key: 'key' } } };
    // Without a pod that mounts the class the driver syncs nothing: "mounter" keeps it mounted and is annotated for nothing.
    await createWorkload(env.client, ns, deployment('mounter', { replicas: 1, pod: mountingPod('kv', 'app') }));
    await eventually('the driver to sync Secret api', async () => (await addon.syncedSecrets(ns, 'kv'))['api']);
    await createWorkload(env.client, ns, deployment('reader', { replicas: 2, annotations: { [ANNOTATIONS.auto]: 'true' }, pod: { containers: [{ name: 'app', image: 'example.invalid/app:1', env: [envFrom] }] } }));
    await createWorkload(env.client, ns, deployment('both', { replicas: 2, annotations: { [ANNOTATIONS.auto]: 'true', [ANNOTATIONS.settle]: '3s' }, pod: mountingPod('kv', 'app', { env: [envFrom] }) }));
    for (const name of ['mounter', 'reader', 'both']) await waitRolledOut(env.client, ns, name);
    const r = await startReloader(env, { namespace: ns });
    try {
      await adopted(env.client, ns, 'Deployment', 'reader', 'secret/api');
      await adopted(env.client, ns, 'Deployment', 'both', 'secret/api');
      await adopted(env.client, ns, 'Deployment', 'both', 'spc/kv');

      const before = (await addon.syncedSecrets(ns, 'kv'))['api'].metadata.resourceVersion;
      await secrets.setSecret('api-key', 'k2');
      await eventually('the driver to write k2 into Secret api', async () => {
        const s = (await addon.syncedSecrets(ns, 'kv'))['api'];
        return s.metadata.resourceVersion !== before && Buffer.from(s.data.key, 'base64').toString() === 'k2';
      }, 60_000);
      await waitRolledOut(env.client, ns, 'reader', { replicaSets: 2 });
      await waitRolledOut(env.client, ns, 'both', { replicaSets: 2 });
      const mounting = [...(await currentPods(env.client, ns, 'Deployment', 'mounter')), ...(await currentPods(env.client, ns, 'Deployment', 'both'))];
      await quietFor(addon, r, ns, mounting);
      assert.equal((await replicaSetsOf(env.client, ns, 'reader')).length, 2, 'the env-var reader restarted once');
      assert.equal((await replicaSetsOf(env.client, ns, 'both')).length, 2, 'Secret and pod status changing together restart once');
      assert.equal((await replicaSetsOf(env.client, ns, 'mounter')).length, 1, 'a workload annotated for nothing is never restarted');
      assert.equal(r.counts.restarted, 2);
    } finally {
      await r.stop();
    }
  });

  it("the driver's republishes that change nothing restart nothing, however often it rewrites what it records", async () => {
    const { env, azure, addon } = await setup();
    const ns = await createNamespace(env.client, 'mounted-quiet');
    deleteAfter(env.client, ns);
    await azure.admin.vault(VAULT).secrets.setSecret('steady', 's1');
    await workloadIdentityClass(env.client, azure, ns, {
      name: 'kv',
      vault: VAULT,
      serviceAccount: 'app',
      objects: [{ objectName: 'steady', objectType: 'secret' }],
      secretObjects: [{ secretName: 'steady', type: 'Opaque', data: [{ objectName: 'steady', key: 'value' }] }],
    });
    const pod = mountingPod('kv', 'app', { env: [{ name: 'STEADY', valueFrom: { secretKeyRef: { name: 'steady', key: 'value' } } }] });
    await createWorkload(env.client, ns, deployment('app', { replicas: 2, annotations: { [ANNOTATIONS.auto]: 'true' }, pod }));
    const pods = await eventually('the pods mounted and the Secret synced', async () => {
      const current = await currentPods(env.client, ns, 'Deployment', 'app');
      return current.length === 2 && (await addon.syncedSecrets(ns, 'kv'))['steady'] && (await Promise.all(current.map((p) => statusOf(env.client, ns, p.metadata!.name!, 'kv')))).every(Boolean) ? current : false;
    });
    const r = await startReloader(env, { namespace: ns });
    try {
      await adopted(env.client, ns, 'Deployment', 'app', 'spc/kv');
      await adopted(env.client, ns, 'Deployment', 'app', 'secret/steady');
      const since = Date.now();
      await quietFor(addon, r, ns, pods, 5);
      // The republishes really reached the vault again (the driver fetched and rewrote), and still nothing restarted.
      const gets = (await azure.vaultRequests({ since })).filter((q) => q.vault === VAULT && q.path.startsWith('/secrets/steady') && q.status === 200);
      assert.ok(gets.length >= pods.length, `the driver fetched again on its republishes (${gets.length} reads)`);
      await addon.republishNow();
      await r.controller.idle();
      assert.equal((await replicaSetsOf(env.client, ns, 'app')).length, 1);
      assert.equal(r.counts.restarted, 0);
    } finally {
      await r.stop();
    }
  });

  it('pods of an older revision still reporting the old version restart nothing once the current revision reports the new one', async () => {
    const { env, azure, addon } = await setup();
    const ns = await createNamespace(env.client, 'mounted-stale');
    deleteAfter(env.client, ns);
    const secrets = azure.admin.vault(VAULT).secrets;
    const v1 = (await secrets.setSecret('token', 't1')).properties.version!;
    await workloadIdentityClass(env.client, azure, ns, { name: 'kv', vault: VAULT, serviceAccount: 'app', objects: [{ objectName: 'token', objectType: 'secret' }] });
    await createWorkload(env.client, ns, deployment('app', { replicas: 2, annotations: { [ANNOTATIONS.auto]: 'true' }, pod: mountingPod('kv', 'app') }));
    await eventually(`the pods mounting ${v1}`, async () => allReport(env.client, ns, await currentPods(env.client, ns, 'Deployment', 'app'), 'kv', v1));
    // A real pod of the first ReplicaSet (owned, not controlled, with labels
    // outside its selector, so that the ReplicaSet controller leaves it be)
    // whose kubelet lags: it keeps reporting the version it mounted.
    const oldRs = (await replicaSetsOf(env.client, ns, 'app'))[0]!;
    await env.client.request('POST', `/api/v1/namespaces/${ns}/pods`, {
      body: {
        metadata: { name: 'lagging', labels: { role: 'lagging' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: oldRs.metadata!.name, uid: oldRs.metadata!.uid }] },
        spec: mountingPod('kv', 'app'),
      },
    });
    await addon.waitMounted({ namespace: ns, name: 'lagging' }, 'kv');
    await addon.holdRepublish({ namespace: ns, name: 'lagging' }, true);
    const r = await startReloader(env, { namespace: ns });
    try {
      await adopted(env.client, ns, 'Deployment', 'app', 'spc/kv');
      const v2 = (await secrets.setSecret('token', 't2')).properties.version!;
      const current = await eventually(`a new ReplicaSet whose pods mount ${v2}`, async () => {
        if ((await replicaSetsOf(env.client, ns, 'app')).length < 2) return false;
        const pods = await currentPods(env.client, ns, 'Deployment', 'app');
        return (await allReport(env.client, ns, pods, 'kv', v2)) ? pods : false;
      }, 90_000);
      await quietFor(addon, r, ns, current);
      const lagging = await statusOf(env.client, ns, 'lagging', 'kv');
      assert.equal(lagging.status.objects[0].version, v1, 'the old-revision pod still reports the old version');
      assert.equal((await replicaSetsOf(env.client, ns, 'app')).length, 2, 'one restart, none for the lagging pod');
      assert.equal(r.counts.restarted, 1);
    } finally {
      await r.stop();
    }
  });

  it('a second rotation during the rollout makes exactly one more restart, not a loop', async () => {
    const { env, azure, addon } = await setup();
    const ns = await createNamespace(env.client, 'mounted-twice');
    deleteAfter(env.client, ns);
    const secrets = azure.admin.vault(VAULT).secrets;
    const v1 = (await secrets.setSecret('cert-pass', 'c1')).properties.version!;
    await workloadIdentityClass(env.client, azure, ns, { name: 'kv', vault: VAULT, serviceAccount: 'app', objects: [{ objectName: 'cert-pass', objectType: 'secret' }] });
    await createWorkload(env.client, ns, deployment('app', { replicas: 3, annotations: { [ANNOTATIONS.auto]: 'true', [ANNOTATIONS.settle]: '1s' }, pod: mountingPod('kv', 'app') }));
    await eventually(`the pods mounting ${v1}`, async () => allReport(env.client, ns, await currentPods(env.client, ns, 'Deployment', 'app'), 'kv', v1));
    const r = await startReloader(env, { namespace: ns });
    try {
      await adopted(env.client, ns, 'Deployment', 'app', 'spc/kv');
      await secrets.setSecret('cert-pass', 'c2');
      await eventually('the first restart', async () => (await replicaSetsOf(env.client, ns, 'app')).length >= 2, 90_000);
      // Rotated again while the first rollout runs: its pods mount v2 or v3, whichever they meet first.
      const v3 = (await secrets.setSecret('cert-pass', 'c3')).properties.version!;
      // The second restart always comes (the first restart's baseline is v2), whether the
      // second ReplicaSet's pods mounted v2 or already v3: wait for it before waiting for quiet,
      // or the pods waited on may be the second ReplicaSet's, about to be replaced.
      const current = await eventually(`a third ReplicaSet whose pods all mount ${v3}`, async () => {
        if ((await replicaSetsOf(env.client, ns, 'app')).length < 3) return false;
        const pods = await currentPods(env.client, ns, 'Deployment', 'app');
        return (await allReport(env.client, ns, pods, 'kv', v3)) ? pods : false;
      }, 90_000);
      await quietFor(addon, r, ns, current);
      assert.equal((await replicaSetsOf(env.client, ns, 'app')).length, 3, 'two rotations, two restarts');
      assert.equal(r.counts.restarted, 2);
    } finally {
      await r.stop();
    }
  });
});
