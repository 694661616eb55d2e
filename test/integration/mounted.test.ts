// Mounted-secret rotation on the real control plane. The tests write
// SecretProviderClassPodStatus objects exactly as the CSI driver names,
// labels and owns them (facts.md), and count ReplicaSets, not patches.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeClient } from '../../src/kube/client.ts';
import { recordMount } from '../../src/localenv/csi-driver.ts';
import { ANNOTATIONS } from '../../src/reloader/annotations.ts';
import { parseBaseline } from '../../src/reloader/decide.ts';
import { createNamespace, eventually, testEnv } from '../helpers/env.ts';
import { startReloader } from '../helpers/reloader.ts';
import { controllerRevisionsOf, createDeployment, createWorkload, daemonSet, deployment, getDeployment, getWorkload, podsWithApp, putSecret, replicaSetsOf, statefulSet, waitDaemonSetRolledOut, waitRolledOut, waitStatefulSetRolledOut } from '../helpers/workloads.ts';

function csiPod(className: string, extra: object = {}) {
  return {
    containers: [{ name: 'app', image: 'x', volumeMounts: [{ name: 'kv', mountPath: '/mnt/secrets', readOnly: true }] }],
    volumes: [{ name: 'kv', csi: { driver: 'secrets-store.csi.k8s.io', readOnly: true, volumeAttributes: { secretProviderClass: className } } }],
    ...extra,
  };
}

async function podsOfNewest(client: KubeClient, ns: string, name: string) {
  const sets = await replicaSetsOf(client, ns, name);
  const newest = sets[sets.length - 1]!;
  const pods = await client.request('GET', `/api/v1/namespaces/${ns}/pods`);
  return pods.items.filter((p: any) => p.metadata.ownerReferences?.some((o: any) => o.name === newest.metadata!.name) && !p.metadata.deletionTimestamp);
}

const v = (version: string) => [
  { id: 'secret/db-password', version },
  { id: 'secret/api-key', version: 'k1' },
];

async function adopted(client: KubeClient, ns: string, name: string, input: string) {
  return eventually(`${name} adopted with ${input}`, async () => parseBaseline((await getDeployment(client, ns, name)).metadata?.annotations?.[ANNOTATIONS.baseline])?.inputs[input]);
}

async function settledCount(r: { controller: { idle(): Promise<void> } }, client: KubeClient, ns: string, name: string) {
  await sleep(1500);
  await r.controller.idle();
  return (await replicaSetsOf(client, ns, name)).length;
}

describe('mounted-secret rotation', () => {
  it('N pods reporting the same rotation give one new ReplicaSet; the new pods reporting it and old pods still reporting the old version add nothing', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'mounted');
    await createDeployment(env.client, ns, deployment('app', { replicas: 3, annotations: { [ANNOTATIONS.auto]: 'true' }, pod: csiPod('kv') }));
    await waitRolledOut(env.client, ns, 'app');
    const firstPods = await podsOfNewest(env.client, ns, 'app');
    for (const p of firstPods) await recordMount(env.client, p, 'kv', v('v1'));
    const r = await startReloader(env, { namespace: ns });
    try {
      await adopted(env.client, ns, 'app', 'spc/kv');
      assert.equal(await settledCount(r, env.client, ns, 'app'), 1, 'adoption restarts nothing');

      // Driver ≤ 1.5: the rotation reconciler updates each pod's status in place.
      for (const p of firstPods) {
        await recordMount(env.client, p, 'kv', v('v2'));
        await sleep(150);
      }
      await waitRolledOut(env.client, ns, 'app', { replicaSets: 2 });
      for (const p of await podsOfNewest(env.client, ns, 'app')) await recordMount(env.client, p, 'kv', v('v2'));
      assert.equal(await settledCount(r, env.client, ns, 'app'), 2, 'one restart for three pods reporting one rotation');

      // A real pod owned by the old ReplicaSet (labels outside its selector, so
      // the ReplicaSet controller leaves it alone) still reporting the old version.
      const oldRs = (await replicaSetsOf(env.client, ns, 'app'))[0]!;
      const stale = await env.client.request('POST', `/api/v1/namespaces/${ns}/pods`, {
        body: {
          metadata: { name: `${oldRs.metadata!.name}-stale`, labels: { role: 'stale' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: oldRs.metadata!.name, uid: oldRs.metadata!.uid }] },
          spec: { nodeName: 'kwok-node-0', ...csiPod('kv') },
        },
      });
      await recordMount(env.client, stale, 'kv', v('v1'));
      await eventually('the stale pod and its status in the cache', async () => r.controller.mounted!.pods.get(`${ns}/${stale.metadata.name}`) && r.controller.mounted!.statuses.get(`${ns}/${stale.metadata.name}-${ns}-kv`));
      assert.equal(await settledCount(r, env.client, ns, 'app'), 2, 'old versions from outside the current revision restart nothing');
      assert.equal(r.counts.restarted, 1);
    } finally {
      await r.stop();
    }
  });

  it('a status rewritten with the same versions (driver 1.6 republish) and a status created for a new pod restart nothing', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'republish');
    await createDeployment(env.client, ns, deployment('app', { replicas: 2, annotations: { [ANNOTATIONS.secretProviderClasses]: 'kv' }, pod: csiPod('kv') }));
    await waitRolledOut(env.client, ns, 'app');
    const pods = await podsOfNewest(env.client, ns, 'app');
    await recordMount(env.client, pods[0], 'kv', v('v1'));
    const r = await startReloader(env, { namespace: ns });
    try {
      await adopted(env.client, ns, 'app', 'spc/kv');
      await recordMount(env.client, pods[0], 'kv', v('v1'));
      await recordMount(env.client, pods[1], 'kv', v('v1'));
      // Scale up: a new pod mounts and reports the same versions.
      await env.client.request('PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/app`, { body: { spec: { replicas: 3 } }, contentType: 'application/merge-patch+json' });
      const third = await eventually('a third pod', async () => {
        const now = await podsOfNewest(env.client, ns, 'app');
        return now.length === 3 ? now.find((p: any) => !pods.some((q: any) => q.metadata.name === p.metadata.name)) : false;
      });
      await recordMount(env.client, third, 'kv', v('v1'));
      assert.equal(await settledCount(r, env.client, ns, 'app'), 1);
      assert.equal(r.counts.restarted, 0);
    } finally {
      await r.stop();
    }
  });

  it('a second rotation during the rollout converges to exactly one more restart, not a loop', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'tworot');
    // maxSurge 1 / maxUnavailable 0 with 3 replicas: the rollout takes a few steps.
    await createDeployment(env.client, ns, deployment('app', { replicas: 3, annotations: { [ANNOTATIONS.auto]: 'true', [ANNOTATIONS.settle]: '1s' }, pod: csiPod('kv') }));
    await waitRolledOut(env.client, ns, 'app');
    for (const p of await podsOfNewest(env.client, ns, 'app')) await recordMount(env.client, p, 'kv', v('v1'));
    const r = await startReloader(env, { namespace: ns });
    try {
      await adopted(env.client, ns, 'app', 'spc/kv');
      for (const p of await podsOfNewest(env.client, ns, 'app')) await recordMount(env.client, p, 'kv', v('v2'));
      // As soon as the second ReplicaSet exists, its pods mount v3 (rotated again meanwhile).
      await eventually('the first restart', async () => (await replicaSetsOf(env.client, ns, 'app')).length === 2);
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        for (const p of await podsOfNewest(env.client, ns, 'app')) await recordMount(env.client, p, 'kv', v('v3'));
        if ((await replicaSetsOf(env.client, ns, 'app')).length >= 3) break;
        await sleep(300);
      }
      await waitRolledOut(env.client, ns, 'app', { replicaSets: 3 });
      for (const p of await podsOfNewest(env.client, ns, 'app')) await recordMount(env.client, p, 'kv', v('v3'));
      await sleep(2000);
      assert.equal(await settledCount(r, env.client, ns, 'app'), 3, 'two rotations, two restarts');
      assert.equal(r.counts.restarted, 2);
    } finally {
      await r.stop();
    }
  });

  it('a rotation that updates both the driver-synced Secret and the pods’ status objects within the settle window restarts once', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'both');
    const managed = { 'secrets-store.csi.k8s.io/managed': 'true' };
    await putSecret(env.client, ns, 'db', { password: 'p1' }, { labels: managed });
    const pod = csiPod('kv', { containers: [{ name: 'app', image: 'x', env: [{ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }], volumeMounts: [{ name: 'kv', mountPath: '/mnt/secrets' }] }] });
    await createDeployment(env.client, ns, deployment('app', { replicas: 2, annotations: { [ANNOTATIONS.auto]: 'true', [ANNOTATIONS.settle]: '3s' }, pod }));
    await waitRolledOut(env.client, ns, 'app');
    for (const p of await podsOfNewest(env.client, ns, 'app')) await recordMount(env.client, p, 'kv', v('v1'));
    const r = await startReloader(env, { namespace: ns });
    try {
      await adopted(env.client, ns, 'app', 'spc/kv');
      await adopted(env.client, ns, 'app', 'secret/db');
      await putSecret(env.client, ns, 'db', { password: 'p2' }, { labels: managed });
      await sleep(500);
      for (const p of await podsOfNewest(env.client, ns, 'app')) await recordMount(env.client, p, 'kv', v('v2'));
      await waitRolledOut(env.client, ns, 'app', { replicaSets: 2 });
      for (const p of await podsOfNewest(env.client, ns, 'app')) await recordMount(env.client, p, 'kv', v('v2'));
      assert.equal(await settledCount(r, env.client, ns, 'app'), 2);
      assert.equal(r.counts.restarted, 1);
      const reason = (await getDeployment(env.client, ns, 'app')).spec!.template!.metadata!.annotations![ANNOTATIONS.restartReason];
      assert.equal(reason, 'Secret db, SecretProviderClass kv changed');
    } finally {
      await r.stop();
    }
  });
});

describe('mounted-secret rotation for a StatefulSet', () => {
  it('pods of the current revision reporting a rotation roll the StatefulSet once; its recreated pods reporting it add nothing', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'mounted-sts');
    await createWorkload(env.client, ns, statefulSet('db', { replicas: 2, annotations: { [ANNOTATIONS.auto]: 'true' }, pod: csiPod('kv') }));
    const before = await waitStatefulSetRolledOut(env.client, ns, 'db');
    for (const p of await podsWithApp(env.client, ns, 'db')) await recordMount(env.client, p, 'kv', v('v1'));
    const r = await startReloader(env, { namespace: ns });
    try {
      await eventually('adoption', async () => parseBaseline((await getWorkload(env.client, ns, 'StatefulSet', 'db')).metadata?.annotations?.[ANNOTATIONS.baseline])?.inputs['spc/kv']);
      for (const p of await podsWithApp(env.client, ns, 'db')) await recordMount(env.client, p, 'kv', v('v2'));
      const after = await eventually('a new revision rolled out', async () => {
        const s = await waitStatefulSetRolledOut(env.client, ns, 'db');
        return s.status?.updateRevision !== before.status?.updateRevision && s.status?.currentRevision === s.status?.updateRevision ? s : false;
      });
      const pods = await eventually('pods of the new revision', async () => {
        const now = await podsWithApp(env.client, ns, 'db');
        return now.length === 2 && now.every((p) => p.metadata?.labels?.['controller-revision-hash'] === after.status?.updateRevision) ? now : false;
      });
      for (const p of pods) await recordMount(env.client, p, 'kv', v('v2'));
      await sleep(1500);
      await r.controller.idle();
      assert.equal((await controllerRevisionsOf(env.client, ns, 'StatefulSet', 'db')).length, 2, 'exactly one restart');
      assert.equal(r.counts.restarted, 1);
    } finally {
      await r.stop();
    }
  });
});

describe('mounted-secret rotation for a DaemonSet', () => {
  it('pods of the current template generation reporting a rotation roll the DaemonSet once; its recreated pods reporting it add nothing', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'mounted-ds');
    await createWorkload(env.client, ns, daemonSet('agent', { annotations: { [ANNOTATIONS.auto]: 'true' }, pod: csiPod('kv') }));
    const before = await waitDaemonSetRolledOut(env.client, ns, 'agent');
    const firstPods = await podsWithApp(env.client, ns, 'agent');
    assert.ok(firstPods.length >= 1);
    // The pods carry both labels; only pod-template-generation matches the DaemonSet's revision.
    assert.ok(firstPods[0]!.metadata!.labels!['controller-revision-hash'] && firstPods[0]!.metadata!.labels!['pod-template-generation']);
    for (const p of firstPods) await recordMount(env.client, p, 'kv', v('v1'));
    const r = await startReloader(env, { namespace: ns });
    try {
      await eventually('adoption', async () => parseBaseline((await getWorkload(env.client, ns, 'DaemonSet', 'agent')).metadata?.annotations?.[ANNOTATIONS.baseline])?.inputs['spc/kv']);
      for (const p of firstPods) await recordMount(env.client, p, 'kv', v('v2'));
      await eventually('the DaemonSet template to change', async () => (await getWorkload(env.client, ns, 'DaemonSet', 'agent')).metadata!.generation! > before.metadata!.generation!);
      await waitDaemonSetRolledOut(env.client, ns, 'agent');
      const pods = await eventually('the DaemonSet pods to be recreated', async () => {
        const now = await podsWithApp(env.client, ns, 'agent');
        return now.length === firstPods.length && now.every((p) => !firstPods.some((q) => q.metadata!.uid === p.metadata!.uid)) ? now : false;
      });
      for (const p of pods) await recordMount(env.client, p, 'kv', v('v2'));
      await sleep(1500);
      await r.controller.idle();
      assert.equal((await controllerRevisionsOf(env.client, ns, 'DaemonSet', 'agent')).length, 2, 'exactly one restart');
      assert.equal((await getWorkload(env.client, ns, 'DaemonSet', 'agent')).metadata!.generation, before.metadata!.generation! + 1);
      assert.equal(r.counts.restarted, 1);
    } finally {
      await r.stop();
    }
  });
});
