// The demo's timeline of a rotation, as a pure function of what the cluster
// showed: each step once, in the order seen, a restart counted as a new
// ReplicaSet, a rollout complete only with the new content in place.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEMO } from '../../src/cli/demo/sample.ts';
import { RotationTimeline, rolledOut, settled, type DeploymentView, type PodView, type ReplicaSetView, type Snapshot } from '../../src/cli/demo/timeline.ts';

const V1 = 'v1-version';
const V2 = 'v2-version';
const D1 = 'digest-1';
const D2 = 'digest-2';

interface DeploymentState {
  /** ReplicaSet revisions, oldest first; the last one holds the pods. */
  revisions: number;
  restartedAt?: string;
  /** Pods of the newest ReplicaSet, and of the previous one still running. */
  pods?: number;
  oldPods?: number;
  createdAt?: number;
  /** The Deployment controller has not caught up with the template yet. */
  stale?: boolean;
}

function pod(deployment: string, revision: number, i: number, createdAt: number): PodView {
  return { name: `${deployment}-r${revision}-${i}`, uid: `${deployment}-r${revision}-${i}`, replicaSet: `${deployment}-r${revision}`, createdAt, running: true, deleting: false };
}

function snapshot(opts: { digest?: string; env: DeploymentState; mount: DeploymentState; versions?: Record<string, string> }): Snapshot {
  const deployments = new Map<string, DeploymentView>();
  const replicaSets: ReplicaSetView[] = [];
  const pods: PodView[] = [];
  for (const [name, st] of [[DEMO.envApp, opts.env], [DEMO.mountApp, opts.mount]] as const) {
    const current = st.pods ?? DEMO.replicas;
    const old = st.oldPods ?? 0;
    deployments.set(name, {
      name,
      generation: st.revisions + 1,
      observedGeneration: st.stale ? st.revisions : st.revisions + 1,
      replicas: DEMO.replicas,
      updatedReplicas: current,
      availableReplicas: current + old,
      statusReplicas: current + old,
      restartedAt: st.restartedAt,
      restartReason: st.restartedAt ? `${name === DEMO.envApp ? 'Secret app-db' : 'SecretProviderClass app-files'} changed` : undefined,
      adopted: true,
    });
    for (let r = 1; r <= st.revisions; r++) {
      const n = r === st.revisions ? current : r === st.revisions - 1 ? old : 0;
      replicaSets.push({ name: `${name}-r${r}`, deployment: name, revision: r, replicas: n, readyReplicas: n });
      for (let i = 0; i < n; i++) pods.push(pod(name, r, i, r === st.revisions ? (st.createdAt ?? 0) : 0));
    }
  }
  const podStatuses = pods
    .filter((p) => p.replicaSet.startsWith(DEMO.mountApp))
    .map((p) => ({ podName: p.name, podUid: p.uid, className: DEMO.mountedClass, versions: { [DEMO.objectId]: opts.versions?.[p.name] ?? V1 } }));
  return { secretDigest: opts.digest, deployments, replicaSets, pods, podStatuses };
}

const steady = snapshot({ digest: D1, env: { revisions: 1 }, mount: { revisions: 1 } });

describe('demo timeline', () => {
  it('settled: the Secret synced, both rolled out and adopted, every mount-app pod reporting the version', () => {
    assert.equal(settled(steady, D1, V1), true);
    assert.equal(settled(steady, D2, V1), false, 'another value in the Secret');
    assert.equal(settled(steady, D1, V2), false, 'the pods mount another version');
    assert.equal(settled(snapshot({ digest: D1, env: { revisions: 1, pods: 2 }, mount: { revisions: 1 } }), D1, V1), false, 'a replica missing');
  });

  it('rolledOut waits for the Deployment controller and for the old ReplicaSet to be empty', () => {
    assert.equal(rolledOut(snapshot({ env: { revisions: 2 }, mount: { revisions: 1 } }), DEMO.envApp), true);
    assert.equal(rolledOut(snapshot({ env: { revisions: 2, oldPods: 1 }, mount: { revisions: 1 } }), DEMO.envApp), false);
    assert.equal(rolledOut(snapshot({ env: { revisions: 2, stale: true }, mount: { revisions: 1 } }), DEMO.envApp), false);
  });

  it('a rotation, step by step: each step once, at the time first seen; the restart at the controller\'s own time', () => {
    const writtenAt = 1_000_000;
    const t = new RotationTimeline({ version: V2, digest: D2, writtenAt }, steady);
    assert.deepEqual(t.observe(steady, writtenAt + 10), [], 'nothing changed yet');

    const remounted = { [`${DEMO.mountApp}-r1-0`]: V2 };
    const s1 = snapshot({ digest: D2, env: { revisions: 1 }, mount: { revisions: 1 }, versions: remounted });
    assert.deepEqual(t.observe(s1, writtenAt + 2000), [
      { kind: 'secret-updated', deployment: DEMO.envApp, at: writtenAt + 2000 },
      { kind: 'remounted', deployment: DEMO.mountApp, at: writtenAt + 2000, pod: `${DEMO.mountApp}-r1-0` },
    ]);
    assert.deepEqual(t.observe(s1, writtenAt + 2100), [], 'seen once');

    const restartedAt = new Date(writtenAt + 4000).toISOString();
    const s2 = snapshot({ digest: D2, env: { revisions: 2, restartedAt, pods: 1, oldPods: 3, createdAt: writtenAt + 4000 }, mount: { revisions: 1 }, versions: remounted });
    assert.deepEqual(t.observe(s2, writtenAt + 4500), [{ kind: 'restart-started', deployment: DEMO.envApp, at: writtenAt + 4000, reason: 'Secret app-db changed' }]);
    assert.equal(t.newReplicaSets(s2, DEMO.envApp), 1);
    assert.equal(t.complete, false);

    const s3 = snapshot({ digest: D2, env: { revisions: 2, restartedAt, createdAt: writtenAt + 4000 }, mount: { revisions: 1 }, versions: remounted });
    assert.deepEqual(t.observe(s3, writtenAt + 7000), [{ kind: 'rolled-out', deployment: DEMO.envApp, at: writtenAt + 7000, replicaSet: `${DEMO.envApp}-r2`, pods: 3 }]);

    // mount-app restarts; its new pods mount the new version only a moment after they run.
    const mountRestart = new Date(writtenAt + 5000).toISOString();
    const newPods = Object.fromEntries([0, 1, 2].map((i) => [`${DEMO.mountApp}-r2-${i}`, V2]));
    const s4 = snapshot({ digest: D2, env: { revisions: 2, restartedAt, createdAt: writtenAt + 4000 }, mount: { revisions: 2, restartedAt: mountRestart } });
    assert.deepEqual(t.observe(s4, writtenAt + 8000), [{ kind: 'restart-started', deployment: DEMO.mountApp, at: writtenAt + 5000, reason: 'SecretProviderClass app-files changed' }], 'rolled out, but its pods do not report the version yet');
    const s5 = snapshot({ digest: D2, env: { revisions: 2, restartedAt, createdAt: writtenAt + 4000 }, mount: { revisions: 2, restartedAt: mountRestart }, versions: newPods });
    assert.deepEqual(t.observe(s5, writtenAt + 9000), [{ kind: 'rolled-out', deployment: DEMO.mountApp, at: writtenAt + 9000, replicaSet: `${DEMO.mountApp}-r2`, pods: 3 }]);
    assert.equal(t.complete, true);
    assert.deepEqual([t.newReplicaSets(s5, DEMO.envApp), t.newReplicaSets(s5, DEMO.mountApp)], [1, 1]);
  });

  it('env-app has not rolled out with the new content while a current pod started before the Secret held it', () => {
    const writtenAt = 1_000_000;
    const t = new RotationTimeline({ version: V2, digest: D2, writtenAt }, steady);
    const restartedAt = new Date(writtenAt + 1000).toISOString();
    // Restarted (for some other reason) before the sync engine wrote the new value.
    t.observe(snapshot({ digest: D1, env: { revisions: 2, restartedAt, createdAt: writtenAt + 1000 }, mount: { revisions: 1 } }), writtenAt + 1500);
    const steps = t.observe(snapshot({ digest: D2, env: { revisions: 2, restartedAt, createdAt: writtenAt + 1000 }, mount: { revisions: 1 } }), writtenAt + 3000);
    assert.deepEqual(steps.map((s) => s.kind), ['secret-updated']);
  });

  it('pods that were not there before the write, and remounts once mount-app restarted, are not the driver\'s steps', () => {
    const writtenAt = 1_000_000;
    const t = new RotationTimeline({ version: V2, digest: D2, writtenAt }, steady);
    const mountRestart = new Date(writtenAt + 1000).toISOString();
    // Restarted with the old pods still reporting V1; then an old pod is remounted, and the new pods mount V2.
    t.observe(snapshot({ digest: D1, env: { revisions: 1 }, mount: { revisions: 2, restartedAt: mountRestart, pods: 1, oldPods: 3 } }), writtenAt + 1100);
    const later = snapshot({ digest: D1, env: { revisions: 1 }, mount: { revisions: 2, restartedAt: mountRestart, pods: 1, oldPods: 3 }, versions: { [`${DEMO.mountApp}-r1-0`]: V2, [`${DEMO.mountApp}-r2-0`]: V2 } });
    assert.deepEqual(t.observe(later, writtenAt + 2000), []);
  });

  it('every restart counts: two new ReplicaSets are two restarts', () => {
    const t = new RotationTimeline({ version: V2, digest: D2, writtenAt: 0 }, steady);
    assert.equal(t.newReplicaSets(snapshot({ env: { revisions: 3 }, mount: { revisions: 1 } }), DEMO.envApp), 2);
    assert.equal(t.newReplicaSets(snapshot({ env: { revisions: 3 }, mount: { revisions: 1 } }), DEMO.mountApp), 0);
  });
});
