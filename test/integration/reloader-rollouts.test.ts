// Rollouts that do not finish, and restarts that would replace no pod, on the
// real control plane: a stuck rollout must not hold the cluster-wide cap nor
// its own next rotation for ever; OnDelete and partitioned StatefulSets get
// an honest answer instead of a patch reported as a restart.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1DaemonSet, V1StatefulSet } from '@kubernetes/client-node';
import type { KubeClient } from '../../src/kube/client.ts';
import { ANNOTATIONS } from '../../src/reloader/annotations.ts';
import { parseBaseline } from '../../src/reloader/decide.ts';
import { createNamespace, eventually, testEnv } from '../helpers/env.ts';
import { eventsFor, startReloader, type RunningReloader } from '../helpers/reloader.ts';
import {
  controllerRevisionsOf,
  createDeployment,
  createWorkload,
  daemonSet,
  deployment,
  getDeployment,
  getWorkload,
  podsWithApp,
  putSecret,
  replicaSetsOf,
  statefulSet,
  waitDaemonSetRolledOut,
  waitRolledOut,
  waitStatefulSetRolledOut,
} from '../helpers/workloads.ts';

const AUTO = { [ANNOTATIONS.auto]: 'true' };
type Kind = 'Deployment' | 'StatefulSet' | 'DaemonSet';

function envFrom(secret: string, extra: object = {}) {
  return { containers: [{ name: 'app', image: 'x', envFrom: [{ secretRef: { name: secret } }] }], ...extra };
}

async function adopted(client: KubeClient, ns: string, kind: Kind, name: string) {
  return eventually(`${kind} ${name} adopted`, async () => parseBaseline((await getWorkload(client, ns, kind, name)).metadata?.annotations?.[ANNOTATIONS.baseline]));
}

async function quiet(r: RunningReloader, ms = 1500) {
  await sleep(ms);
  await r.controller.idle();
}

const eventWith = (client: KubeClient, ns: string, name: string, reason: string, match?: RegExp) =>
  eventually(`a ${reason} Event on ${name}`, async () => (await eventsFor(client, ns, name)).find((e) => e.reason === reason && (!match || match.test(e.message))), 60_000);

describe('reloader: rollouts that never finish', () => {
  it('a restarted rollout that never completes stalls after --rollout-timeout: it frees its place under --max-in-flight, other workloads restart, and its next change restarts it anyway', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'stuck');
    await putSecret(env.client, ns, 'a', { v: '1' });
    await putSecret(env.client, ns, 'b', { v: '1' });
    // No node matches: its pods stay Pending, so its rollout never completes
    // (the Deployment's own deadline, 10 minutes by default, is far off).
    await createDeployment(env.client, ns, deployment('stuck', { replicas: 1, annotations: AUTO, pod: envFrom('a', { nodeSelector: { 'kvr.test/none': 'x' } }) }));
    await createDeployment(env.client, ns, deployment('ok', { replicas: 1, annotations: AUTO, pod: envFrom('b') }));
    await waitRolledOut(env.client, ns, 'ok');
    const timeoutMs = 6000;
    const r = await startReloader(env, { namespace: ns, maxInFlight: 1, rolloutTimeoutMs: timeoutMs, settleMs: 200 });
    try {
      await adopted(env.client, ns, 'Deployment', 'stuck');
      await adopted(env.client, ns, 'Deployment', 'ok');

      // Unfixed, a change to a workload whose rollout is still "progressing" waited for ever.
      await putSecret(env.client, ns, 'a', { v: '2' });
      await eventually('stuck restarted although its rollout never finished', async () => (await replicaSetsOf(env.client, ns, 'stuck')).length === 2, 30_000);
      const restarted = await eventWith(env.client, ns, 'stuck', 'Restarted');
      assert.match(restarted.message, /the previous rollout was not waited for: its rollout has not finished within 6s \(--rollout-timeout\)/);

      // The stuck rollout holds the only place under the cap, until it stalls.
      const capBefore = r.counts.deferred['cap'] ?? 0;
      await putSecret(env.client, ns, 'b', { v: '2' });
      await waitRolledOut(env.client, ns, 'ok', { replicaSets: 2, timeoutMs: 30_000 });
      assert.ok((r.counts.deferred['cap'] ?? 0) > capBefore, 'ok waited for the cap while stuck was rolling');
      const stalled = await eventWith(env.client, ns, 'stuck', 'RolloutStalled');
      assert.equal(stalled.type, 'Warning');
      assert.match(stalled.message, /is stalled: its rollout has not finished within 6s .* no longer counts against --max-in-flight/);
      assert.equal(r.counts.rollouts.stalled, 1, 'the metric says stuck is stalled');

      await putSecret(env.client, ns, 'a', { v: '3' });
      await eventually('stuck restarted again', async () => (await replicaSetsOf(env.client, ns, 'stuck')).length === 3, 30_000);
      await quiet(r);
      assert.equal(r.counts.restarted, 3);
      assert.equal((await replicaSetsOf(env.client, ns, 'ok')).length, 2);
    } finally {
      await r.stop();
    }
  });

  it('a Deployment past its own progressDeadlineSeconds is stalled at once: a change restarts it without waiting for --rollout-timeout', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'deadline');
    await putSecret(env.client, ns, 'a', { v: '1' });
    const d = deployment('stuck', { replicas: 1, annotations: AUTO, pod: envFrom('a', { nodeSelector: { 'kvr.test/none': 'x' } }) });
    d.spec!.progressDeadlineSeconds = 2;
    await createDeployment(env.client, ns, d);
    await eventually('ProgressDeadlineExceeded', async () => (await getDeployment(env.client, ns, 'stuck')).status?.conditions?.some((c) => c.reason === 'ProgressDeadlineExceeded'), 60_000);
    const r = await startReloader(env, { namespace: ns, rolloutTimeoutMs: 3_600_000 });
    try {
      await adopted(env.client, ns, 'Deployment', 'stuck');
      await putSecret(env.client, ns, 'a', { v: '2' });
      await eventually('stuck restarted', async () => (await replicaSetsOf(env.client, ns, 'stuck')).length === 2, 30_000);
      // Its new rollout gets a deadline of its own: 2 s later it has failed again, and a change is not held back.
      await eventually('the new rollout past its deadline', async () => {
        const now = await getDeployment(env.client, ns, 'stuck');
        return (now.status?.observedGeneration ?? 0) >= now.metadata!.generation! && now.status?.conditions?.some((c) => c.reason === 'ProgressDeadlineExceeded');
      }, 60_000);
      await putSecret(env.client, ns, 'a', { v: '3' });
      await eventually('stuck restarted again', async () => (await replicaSetsOf(env.client, ns, 'stuck')).length === 3, 30_000);
      const ev = await eventWith(env.client, ns, 'stuck', 'Restarted', /ProgressDeadlineExceeded/);
      assert.match(ev.message, /the previous rollout was not waited for: its rollout exceeded its progress deadline/);
    } finally {
      await r.stop();
    }
  });
});

describe('reloader: restarts that would replace no pod', () => {
  it('a StatefulSet and a DaemonSet with updateStrategy OnDelete are not patched: the change is recorded and a ManualRestartRequired Warning says what to do', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'ondelete');
    await putSecret(env.client, ns, 'creds', { v: '1' });
    const sts = statefulSet('db', { replicas: 2, annotations: AUTO, pod: envFrom('creds') });
    sts.spec!.updateStrategy = { type: 'OnDelete' };
    const ds = daemonSet('agent', { annotations: AUTO, pod: envFrom('creds') });
    ds.spec!.updateStrategy = { type: 'OnDelete' };
    await createWorkload(env.client, ns, sts);
    await createWorkload(env.client, ns, ds);
    const sts0 = await waitStatefulSetRolledOut(env.client, ns, 'db');
    const ds0 = await waitDaemonSetRolledOut(env.client, ns, 'agent');
    const r = await startReloader(env, { namespace: ns });
    try {
      const stsBase = await adopted(env.client, ns, 'StatefulSet', 'db');
      await adopted(env.client, ns, 'DaemonSet', 'agent');
      await putSecret(env.client, ns, 'creds', { v: '2' });
      const stsEv = await eventWith(env.client, ns, 'db', 'ManualRestartRequired');
      const dsEv = await eventWith(env.client, ns, 'agent', 'ManualRestartRequired');
      for (const ev of [stsEv, dsEv]) assert.equal(ev.type, 'Warning');
      assert.match(stsEv.message, /^Secret creds changed, but the StatefulSet's updateStrategy is OnDelete, so a restart would replace no pod: delete its pods one at a time \(kubectl delete pod -n \S+ db-<ordinal>\)/);
      assert.match(dsEv.message, /^Secret creds changed, but the DaemonSet's updateStrategy is OnDelete/);
      const recorded = await eventually('the change recorded', async () => {
        const b = await adopted(env.client, ns, 'StatefulSet', 'db');
        return b.inputs['secret/creds'] !== stsBase.inputs['secret/creds'] ? b : false;
      });
      assert.ok(recorded);
      await quiet(r);
      assert.equal((await getWorkload<V1StatefulSet>(env.client, ns, 'StatefulSet', 'db')).metadata!.generation, sts0.metadata!.generation, 'the StatefulSet template is untouched');
      assert.equal((await getWorkload<V1DaemonSet>(env.client, ns, 'DaemonSet', 'agent')).metadata!.generation, ds0.metadata!.generation, 'the DaemonSet template is untouched');
      assert.equal(r.counts.restarted, 0, 'nothing reported as restarted');
      assert.equal(r.counts.manual, 2);
      assert.deepEqual((await eventsFor(env.client, ns, 'db')).filter((e) => e.reason === 'Restarted'), []);
    } finally {
      await r.stop();
    }
  });

  it('a partitioned StatefulSet: a partition below replicas rolls the ordinals above it, says so, and frees the workload for the next change; a partition at replicas gets ManualRestartRequired', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'partition');
    await putSecret(env.client, ns, 'creds', { v: '1' });
    const part = statefulSet('part', { replicas: 2, annotations: AUTO, pod: envFrom('creds') });
    part.spec!.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { partition: 1 } };
    const frozen = statefulSet('frozen', { replicas: 2, annotations: AUTO, pod: envFrom('creds') });
    frozen.spec!.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { partition: 2 } };
    await createWorkload(env.client, ns, part);
    await createWorkload(env.client, ns, frozen);
    const part0 = await waitStatefulSetRolledOut(env.client, ns, 'part');
    const frozen0 = await waitStatefulSetRolledOut(env.client, ns, 'frozen');
    const r = await startReloader(env, { namespace: ns, settleMs: 200 });
    try {
      await adopted(env.client, ns, 'StatefulSet', 'part');
      await adopted(env.client, ns, 'StatefulSet', 'frozen');
      const partitionedRollout = (generation: number) =>
        eventually(`part at generation ${generation}, ordinal 1 updated`, async () => {
          const s = await getWorkload<V1StatefulSet>(env.client, ns, 'StatefulSet', 'part');
          const st = s.status;
          if (s.metadata!.generation !== generation || (st?.observedGeneration ?? 0) < generation || st?.updatedReplicas !== 1 || st?.readyReplicas !== 2) return false;
          const pods = await podsWithApp(env.client, ns, 'part');
          const rev = (n: string) => pods.find((p) => p.metadata!.name === n)?.metadata?.labels?.['controller-revision-hash'];
          return rev('part-1') === st.updateRevision && rev('part-0') !== st.updateRevision ? s : false;
        }, 60_000);

      await putSecret(env.client, ns, 'creds', { v: '2' });
      await partitionedRollout(part0.metadata!.generation! + 1);
      const ev = await eventWith(env.client, ns, 'part', 'Restarted');
      assert.match(ev.message, /only pods with an ordinal of 1 or more are replaced \(rollingUpdate\.partition\); lower the partition to roll the others/);
      const frozenEv = await eventWith(env.client, ns, 'frozen', 'ManualRestartRequired');
      assert.match(frozenEv.message, /rollingUpdate\.partition \(2\) is not below its replicas \(2\), so a restart would replace no pod: lower the partition/);

      // Unfixed, updateRevision ≠ currentRevision kept it "in progress" for ever, and the next change waited for ever.
      await putSecret(env.client, ns, 'creds', { v: '3' });
      await partitionedRollout(part0.metadata!.generation! + 2);
      await quiet(r);
      assert.equal((await controllerRevisionsOf(env.client, ns, 'StatefulSet', 'part')).length, 3, 'two restarts');
      assert.equal((await getWorkload<V1StatefulSet>(env.client, ns, 'StatefulSet', 'frozen')).metadata!.generation, frozen0.metadata!.generation, 'frozen is never patched');
      assert.equal(r.counts.restarted, 2);
    } finally {
      await r.stop();
    }
  });
});
