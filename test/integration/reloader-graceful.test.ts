// Graceful, never a storm: the reloader on the real control plane (kube-
// apiserver, controller-manager, KWOK pods) when workloads are paused, Secrets
// flap or are ignored, annotations are wrong, the digest key is lost, the
// cluster-wide cap applies, and for StatefulSets and DaemonSets. Restarts are
// counted where Kubernetes records them (ReplicaSets, ControllerRevisions,
// metadata.generation), never by counting our own patches.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1DaemonSet, V1Deployment, V1StatefulSet } from '@kubernetes/client-node';
import { PATCH, type KubeClient } from '../../src/kube/client.ts';
import { createLogger } from '../../src/log.ts';
import { NamespaceScope } from '../../src/kube/scope.ts';
import { ANNOTATIONS } from '../../src/reloader/annotations.ts';
import { parseBaseline, type Baseline } from '../../src/reloader/decide.ts';
import { secretDigest } from '../../src/reloader/digest.ts';
import { loadOrCreateKey } from '../../src/reloader/key.ts';
import { createNamespace, eventually, testEnv } from '../helpers/env.ts';
import { captureLog } from '../helpers/log.ts';
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
const KEY_SECRET = 'keyvault-reloader-digest-key';

/** A pod that reads each named Secret through envFrom. */
function envFrom(...secrets: string[]) {
  return { containers: [{ name: 'app', image: 'x', envFrom: secrets.map((name) => ({ secretRef: { name } })) }] };
}

async function baselineOf(client: KubeClient, ns: string, name: string, kind: 'Deployment' | 'StatefulSet' | 'DaemonSet' = 'Deployment'): Promise<Baseline | null> {
  const w = await getWorkload<V1Deployment>(client, ns, kind, name);
  return parseBaseline(w.metadata?.annotations?.[ANNOTATIONS.baseline]);
}

async function adopted(client: KubeClient, ns: string, name: string, kind: 'Deployment' | 'StatefulSet' | 'DaemonSet' = 'Deployment'): Promise<Baseline> {
  return eventually(`${kind} ${name} to be adopted (baseline recorded)`, async () => baselineOf(client, ns, name, kind));
}

/** Lets every event in flight reach the reloader and every reconcile it caused finish. */
async function quiet(r: RunningReloader, ms = 1500): Promise<void> {
  await sleep(ms);
  await r.controller.idle();
}

async function rsCount(client: KubeClient, ns: string, name: string): Promise<number> {
  return (await replicaSetsOf(client, ns, name)).length;
}

async function mergePatch(client: KubeClient, path: string, body: unknown): Promise<void> {
  await client.request('PATCH', path, { body, contentType: PATCH.merge });
}

const deploymentPath = (ns: string, name: string) => `/apis/apps/v1/namespaces/${ns}/deployments/${name}`;

describe('reloader: graceful, never a storm', () => {
  it('a paused Deployment is not patched while paused (a RestartDeferred Event names the Secret) and restarts exactly once when resumed', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'paused');
    await putSecret(env.client, ns, 'creds', { v: '1' });
    await createDeployment(env.client, ns, deployment('app', { replicas: 1, annotations: AUTO, pod: envFrom('creds') }));
    await waitRolledOut(env.client, ns, 'app');
    const r = await startReloader(env, { namespace: ns });
    try {
      const before = await adopted(env.client, ns, 'app');
      await mergePatch(env.client, deploymentPath(ns, 'app'), { spec: { paused: true } });
      await eventually('the reloader to see the Deployment paused', async () => r.controller.workloads.get('Deployment')!.get(`${ns}/app`)?.rollout.paused);
      const template = JSON.stringify((await getDeployment(env.client, ns, 'app')).spec!.template);

      await putSecret(env.client, ns, 'creds', { v: '2' });
      const ev = await eventually('a RestartDeferred Event', async () => (await eventsFor(env.client, ns, 'app')).find((e) => e.reason === 'RestartDeferred'));
      assert.match(ev.message, /Secret creds/, 'the Event names the Secret');
      assert.match(ev.message, /paused/);
      await quiet(r, 2000);
      const paused = await getDeployment(env.client, ns, 'app');
      assert.equal(await rsCount(env.client, ns, 'app'), 1, 'no new ReplicaSet while paused');
      assert.equal(JSON.stringify(paused.spec!.template), template, 'the pod template is untouched while paused');
      assert.deepEqual(parseBaseline(paused.metadata!.annotations![ANNOTATIONS.baseline]), before, 'the baseline is untouched while paused');
      assert.equal(r.counts.restarted, 0);
      assert.ok((r.counts.deferred['paused'] ?? 0) >= 1, 'deferred because paused');

      await mergePatch(env.client, deploymentPath(ns, 'app'), { spec: { paused: false } });
      const sets = await waitRolledOut(env.client, ns, 'app', { replicaSets: 2 });
      assert.equal(sets.length, 2);
      await quiet(r, 2000);
      assert.equal(await rsCount(env.client, ns, 'app'), 2, 'resumed: exactly one restart');
      assert.equal(r.counts.restarted, 1);
      const d = await getDeployment(env.client, ns, 'app');
      assert.equal(d.spec!.template!.metadata!.annotations![ANNOTATIONS.restartReason], 'Secret creds changed');
    } finally {
      await r.stop();
    }
  });

  it('a flapping Secret restarts its workload at most once per minRestartIntervalMs, with a RestartRateLimited Warning, not once per write', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'flap');
    const intervalMs = 4000;
    await putSecret(env.client, ns, 'flap', { v: '0' });
    await createDeployment(env.client, ns, deployment('app', { replicas: 1, annotations: AUTO, pod: envFrom('flap') }));
    await waitRolledOut(env.client, ns, 'app');
    const r = await startReloader(env, { namespace: ns, minRestartIntervalMs: intervalMs, settleMs: 200 });
    try {
      await adopted(env.client, ns, 'app');
      const started = Date.now();
      let writes = 0;
      while (Date.now() - started < 9000) {
        await putSecret(env.client, ns, 'flap', { v: String(++writes) });
        await sleep(300);
      }
      // The last write is not lost: it is acted on once the rate limit allows.
      const keyring = await loadOrCreateKey(env.client, ns, KEY_SECRET, createLogger({ level: 'silent' }));
      const finalDigest = secretDigest(keyring, { type: 'Opaque', data: { v: Buffer.from(String(writes)).toString('base64') } });
      await eventually('the last write to be acted on', async () => (await baselineOf(env.client, ns, 'app'))?.inputs['secret/flap'] === finalDigest, 30_000);
      const sets = await waitRolledOut(env.client, ns, 'app');
      await quiet(r, 1000);
      const elapsed = Date.now() - started;

      const restarts = (await rsCount(env.client, ns, 'app')) - 1;
      assert.equal(restarts, sets.length - 1);
      // restarted-at is RFC 3339 to the second, so a restart may come up to 1 s early.
      const bound = Math.floor(elapsed / (intervalMs - 1000)) + 1;
      assert.ok(writes >= 15, `the Secret was rewritten ${writes} times`);
      assert.ok(restarts >= 2, `restarted ${restarts} times: the first change and the last one are both acted on`);
      assert.ok(restarts <= bound, `${restarts} restarts for ${writes} writes in ${elapsed} ms; at most ${bound} allowed`);
      assert.equal(r.counts.restarted, restarts);
      const created = sets.slice(1).map((rs) => Date.parse(rs.metadata!.creationTimestamp as unknown as string));
      for (let i = 1; i < created.length; i++) {
        assert.ok(created[i]! - created[i - 1]! >= intervalMs - 2000, `restarts ${i} and ${i + 1} are ${created[i]! - created[i - 1]!} ms apart (timestamps are to the second)`);
      }
      const warn = await eventually('a RestartRateLimited Event', async () => (await eventsFor(env.client, ns, 'app')).find((e) => e.reason === 'RestartRateLimited'));
      assert.equal(warn.type, 'Warning');
      assert.match(warn.message, /Secret flap/);
    } finally {
      await r.stop();
    }
  });

  it('changes to a Secret annotated ignore restart nothing; once the annotation is removed, a change restarts once', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'ignore');
    const ignore = { annotations: { [ANNOTATIONS.ignore]: 'true' } };
    await putSecret(env.client, ns, 'quiet', { v: '1' }, ignore);
    await createDeployment(env.client, ns, deployment('app', { replicas: 1, annotations: AUTO, pod: envFrom('quiet') }));
    await waitRolledOut(env.client, ns, 'app');
    const r = await startReloader(env, { namespace: ns });
    try {
      await adopted(env.client, ns, 'app');
      await putSecret(env.client, ns, 'quiet', { v: '2' }, ignore);
      await putSecret(env.client, ns, 'quiet', { v: '3' }, ignore);
      await quiet(r, 2000);
      assert.equal(await rsCount(env.client, ns, 'app'), 1, 'changes to an ignored Secret restart nothing');
      assert.equal(r.counts.restarted, 0);

      // Removing the annotation (same content) records it as an input, restarting nothing.
      await putSecret(env.client, ns, 'quiet', { v: '3' });
      await eventually('the Secret to become an input', async () => (await baselineOf(env.client, ns, 'app'))?.inputs['secret/quiet']);
      await quiet(r, 1000);
      assert.equal(await rsCount(env.client, ns, 'app'), 1, 'removing ignore restarts nothing by itself');

      await putSecret(env.client, ns, 'quiet', { v: '4' });
      await waitRolledOut(env.client, ns, 'app', { replicaSets: 2 });
      await quiet(r);
      assert.equal(await rsCount(env.client, ns, 'app'), 2, 'then a change restarts once');
      assert.equal(r.counts.restarted, 1);
    } finally {
      await r.stop();
    }
  });

  it('exclude-secrets on an auto workload: a change to the excluded Secret restarts nothing, a change to another referenced Secret restarts once', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'exclude');
    await putSecret(env.client, ns, 'noisy', { v: '1' });
    await putSecret(env.client, ns, 'creds', { v: '1' });
    await createDeployment(env.client, ns, deployment('app', { replicas: 1, annotations: { ...AUTO, [ANNOTATIONS.excludeSecrets]: 'noisy' }, pod: envFrom('noisy', 'creds') }));
    await waitRolledOut(env.client, ns, 'app');
    const r = await startReloader(env, { namespace: ns });
    try {
      await adopted(env.client, ns, 'app');
      await putSecret(env.client, ns, 'noisy', { v: '2' });
      await quiet(r, 2000);
      assert.equal(await rsCount(env.client, ns, 'app'), 1, 'the excluded Secret restarts nothing');
      assert.equal(r.counts.restarted, 0);

      await putSecret(env.client, ns, 'creds', { v: '2' });
      await waitRolledOut(env.client, ns, 'app', { replicaSets: 2 });
      await quiet(r);
      assert.equal(await rsCount(env.client, ns, 'app'), 2, 'the other Secret restarts once');
      assert.equal(r.counts.restarted, 1);
      assert.equal((await getDeployment(env.client, ns, 'app')).spec!.template!.metadata!.annotations![ANNOTATIONS.restartReason], 'Secret creds changed');
    } finally {
      await r.stop();
    }
  });

  it('secrets: "a" restarts a workload that does not reference a once; a workload without our annotations that references a is never touched', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'named');
    await putSecret(env.client, ns, 'a', { v: '1' });
    await createDeployment(env.client, ns, deployment('named', { replicas: 1, annotations: { [ANNOTATIONS.secrets]: 'a' } }));
    await createDeployment(env.client, ns, deployment('plain', { replicas: 1, pod: envFrom('a') }));
    await waitRolledOut(env.client, ns, 'named');
    await waitRolledOut(env.client, ns, 'plain');
    const plainBefore = await getDeployment(env.client, ns, 'plain');
    const r = await startReloader(env, { namespace: ns });
    try {
      const b = await adopted(env.client, ns, 'named');
      assert.deepEqual(Object.keys(b.inputs), ['secret/a']);
      await putSecret(env.client, ns, 'a', { v: '2' });
      await waitRolledOut(env.client, ns, 'named', { replicaSets: 2 });
      await quiet(r);
      assert.equal(await rsCount(env.client, ns, 'named'), 2, 'the named workload restarts once');
      assert.equal(r.counts.restarted, 1);

      const plain = await getDeployment(env.client, ns, 'plain');
      assert.equal(await rsCount(env.client, ns, 'plain'), 1, 'no new ReplicaSet for the unannotated workload');
      assert.equal(plain.metadata!.generation, plainBefore.metadata!.generation);
      const ours = [...Object.keys(plain.metadata!.annotations ?? {}), ...Object.keys(plain.spec!.template!.metadata!.annotations ?? {})].filter((k) => k.startsWith('keyvault-reloader.io/'));
      assert.deepEqual(ours, [], 'no baseline or restart annotation written to it');
      assert.deepEqual(await eventsFor(env.client, ns, 'plain').then((es) => es.filter((e) => /Restart|InvalidAnnotation/.test(e.reason))), []);
    } finally {
      await r.stop();
    }
  });

  it('malformed annotations give an InvalidAnnotation Warning that names the annotation and the fix, restart nothing by themselves, and a valid remainder still works', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'malformed');
    for (const s of ['a', 's1', 's2']) await putSecret(env.client, ns, s, { v: '1' });
    await createDeployment(env.client, ns, deployment('settle', { replicas: 1, annotations: { ...AUTO, [ANNOTATIONS.settle]: 'soon' }, pod: envFrom('s1') }));
    await createDeployment(env.client, ns, deployment('auto', { replicas: 1, annotations: { [ANNOTATIONS.auto]: 'yes' }, pod: envFrom('s2') }));
    await createDeployment(env.client, ns, deployment('list', { replicas: 1, annotations: { [ANNOTATIONS.secrets]: 'a,,B_bad' } }));
    for (const name of ['settle', 'auto', 'list']) await waitRolledOut(env.client, ns, name);
    const r = await startReloader(env, { namespace: ns });
    try {
      const invalid = (name: string) =>
        eventually(`an InvalidAnnotation Event on ${name}`, async () => (await eventsFor(env.client, ns, name)).find((e) => e.reason === 'InvalidAnnotation'));
      const settle = await invalid('settle');
      assert.equal(settle.type, 'Warning');
      assert.match(settle.message, /keyvault-reloader\.io\/settle/);
      assert.match(settle.message, /"soon"/);
      assert.match(settle.message, /duration such as "500ms", "15s"/, 'says what to write instead');
      const auto = await invalid('auto');
      assert.equal(auto.type, 'Warning');
      assert.match(auto.message, /keyvault-reloader\.io\/auto/);
      assert.match(auto.message, /"yes" is not "true" or "false"/);
      const list = await invalid('list');
      assert.equal(list.type, 'Warning');
      assert.match(list.message, /keyvault-reloader\.io\/secrets/);
      assert.match(list.message, /entry 2 .* is empty/);
      assert.match(list.message, /"B_bad" is not a valid object name \(lowercase letters, digits/);

      // Adopted where a valid opt-in remains; nothing restarted for the annotations themselves.
      await adopted(env.client, ns, 'settle');
      assert.deepEqual(Object.keys((await adopted(env.client, ns, 'list')).inputs), ['secret/a']);
      await quiet(r);
      assert.equal(await baselineOf(env.client, ns, 'auto'), null, 'auto: "yes" opts nothing in');
      for (const name of ['settle', 'auto', 'list']) assert.equal(await rsCount(env.client, ns, name), 1, `${name}: no restart for a malformed annotation`);

      await Promise.all(['a', 's1', 's2'].map((s) => putSecret(env.client, ns, s, { v: '2' })));
      await waitRolledOut(env.client, ns, 'settle', { replicaSets: 2 });
      await waitRolledOut(env.client, ns, 'list', { replicaSets: 2 });
      await quiet(r, 2000);
      assert.equal(await rsCount(env.client, ns, 'settle'), 2, 'settle: "soon" falls back to the cluster default and restarts once');
      assert.equal(await rsCount(env.client, ns, 'list'), 2, 'secrets: "a,,B_bad" still follows a');
      assert.equal(await rsCount(env.client, ns, 'auto'), 1, 'auto: "yes" follows nothing');

      // Fixing the annotation adopts the workload; that restarts nothing either.
      await mergePatch(env.client, deploymentPath(ns, 'auto'), { metadata: { annotations: { [ANNOTATIONS.auto]: 'true' } } });
      await adopted(env.client, ns, 'auto');
      await quiet(r);
      assert.equal(await rsCount(env.client, ns, 'auto'), 1, 'fixing auto adopts without a restart');
      assert.equal(r.counts.restarted, 2);
      assert.equal(r.counts.failed, 0);
      assert.ok(r.controller.healthy() && r.controller.synced, 'the controller is still healthy');
    } finally {
      await r.stop();
    }
  });

  it('a malformed exclude-secrets or auto holds the workload (no restart for what it may exclude; a change made meanwhile restarts it once after the fix), and a malformed ignore ignores its Secret, each with an InvalidAnnotation Warning', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'held');
    for (const s of ['noisy', 'creds', 'named', 'quiet']) await putSecret(env.client, ns, s, { v: '1' });
    await createDeployment(env.client, ns, deployment('excl', { replicas: 1, annotations: { ...AUTO, [ANNOTATIONS.excludeSecrets]: 'noisy' }, pod: envFrom('noisy', 'creds') }));
    await createDeployment(env.client, ns, deployment('both', { replicas: 1, annotations: { [ANNOTATIONS.secrets]: 'named' } }));
    await createDeployment(env.client, ns, deployment('ign', { replicas: 1, annotations: AUTO, pod: envFrom('quiet') }));
    for (const name of ['excl', 'both', 'ign']) await waitRolledOut(env.client, ns, name);
    const r = await startReloader(env, { namespace: ns });
    try {
      for (const name of ['excl', 'both', 'ign']) await adopted(env.client, ns, name);
      // Typos made after adoption: a separator that is not a comma, a non-boolean auto, a non-boolean ignore.
      await mergePatch(env.client, deploymentPath(ns, 'excl'), { metadata: { annotations: { [ANNOTATIONS.excludeSecrets]: 'noisy;creds' } } });
      await mergePatch(env.client, deploymentPath(ns, 'both'), { metadata: { annotations: { [ANNOTATIONS.auto]: 'yes' } } });
      await putSecret(env.client, ns, 'quiet', { v: '1' }, { annotations: { [ANNOTATIONS.ignore]: 'yes' } });
      const warning = (name: string) => eventually(`an InvalidAnnotation Event on ${name}`, async () => (await eventsFor(env.client, ns, name)).find((e) => e.reason === 'InvalidAnnotation'));
      const excl = await warning('excl');
      assert.equal(excl.type, 'Warning');
      assert.match(excl.message, /keyvault-reloader\.io\/exclude-secrets: "noisy;creds" is not a valid object name .*nothing restarts this workload until it is fixed/);
      assert.match((await warning('both')).message, /keyvault-reloader\.io\/auto: "yes" is not "true" or "false"; nothing restarts this workload until it is fixed/);

      await Promise.all(['noisy', 'creds', 'named'].map((s) => putSecret(env.client, ns, s, { v: '2' })));
      await putSecret(env.client, ns, 'quiet', { v: '2' }, { annotations: { [ANNOTATIONS.ignore]: 'yes' } });
      // The Secret's own Warning is written when a workload that uses it is next reconciled.
      const ign = await warning('quiet');
      assert.match(ign.message, /keyvault-reloader\.io\/ignore: "yes" is not "true" or "false"; this Secret is ignored until it is fixed/);
      await quiet(r, 2500);
      for (const name of ['excl', 'both', 'ign']) assert.equal(await rsCount(env.client, ns, name), 1, `${name}: no restart while held or ignored`);
      assert.ok((r.counts.deferred['invalid_annotation'] ?? 0) >= 2, 'deferred as invalid_annotation');

      // Fixed: the changes made while held are acted on, once.
      await mergePatch(env.client, deploymentPath(ns, 'excl'), { metadata: { annotations: { [ANNOTATIONS.excludeSecrets]: 'noisy' } } });
      await mergePatch(env.client, deploymentPath(ns, 'both'), { metadata: { annotations: { [ANNOTATIONS.auto]: 'false' } } });
      await waitRolledOut(env.client, ns, 'excl', { replicaSets: 2 });
      await waitRolledOut(env.client, ns, 'both', { replicaSets: 2 });
      await quiet(r);
      assert.equal((await getDeployment(env.client, ns, 'excl')).spec!.template!.metadata!.annotations![ANNOTATIONS.restartReason], 'Secret creds changed', 'the excluded Secret is not among the reasons');
      assert.equal((await getDeployment(env.client, ns, 'both')).spec!.template!.metadata!.annotations![ANNOTATIONS.restartReason], 'Secret named changed');
      assert.equal(await rsCount(env.client, ns, 'ign'), 1, 'the ignored Secret restarted nothing');
      assert.equal(r.counts.restarted, 2);
    } finally {
      await r.stop();
    }
  });

  it('losing the digest key restarts nothing: baselines are re-recorded under the new key, and a later change restarts once', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'keyloss');
    await putSecret(env.client, ns, 'creds', { v: '1' });
    await createDeployment(env.client, ns, deployment('app', { replicas: 1, annotations: AUTO, pod: envFrom('creds') }));
    await waitRolledOut(env.client, ns, 'app');
    let r = await startReloader(env, { namespace: ns });
    const first = await adopted(env.client, ns, 'app');
    await r.stop();

    await env.client.request('DELETE', `/api/v1/namespaces/${ns}/secrets/${KEY_SECRET}`);
    await eventually('the key Secret to be gone', async () => env.client.request('GET', `/api/v1/namespaces/${ns}/secrets/${KEY_SECRET}`).then(() => false, (err) => err.status === 404));
    r = await startReloader(env, { namespace: ns });
    try {
      const second = await eventually('the baseline re-recorded under a new key', async () => {
        const b = await baselineOf(env.client, ns, 'app');
        return b && b.keyId !== first.keyId ? b : false;
      });
      assert.deepEqual(Object.keys(second.inputs), ['secret/creds']);
      assert.notEqual(second.inputs['secret/creds'], first.inputs['secret/creds'], 'the digest is keyed');
      await quiet(r, 2000);
      assert.equal(await rsCount(env.client, ns, 'app'), 1, 'a new key restarts nothing');
      assert.equal(r.counts.restarted, 0);

      await putSecret(env.client, ns, 'creds', { v: '2' });
      await waitRolledOut(env.client, ns, 'app', { replicaSets: 2 });
      await quiet(r);
      assert.equal(await rsCount(env.client, ns, 'app'), 2, 'a later change restarts once');
      assert.equal(r.counts.restarted, 1);
      assert.equal((await baselineOf(env.client, ns, 'app'))!.keyId, second.keyId);
    } finally {
      await r.stop();
    }
  });

  it('a StatefulSet and a DaemonSet annotated auto each roll exactly once when their Secret changes, and the rollouts complete', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'stsds');
    await putSecret(env.client, ns, 'creds', { v: '1' });
    await createWorkload(env.client, ns, statefulSet('db', { replicas: 2, annotations: AUTO, pod: envFrom('creds') }));
    await createWorkload(env.client, ns, daemonSet('agent', { annotations: AUTO, pod: envFrom('creds') }));
    const sts0 = await waitStatefulSetRolledOut(env.client, ns, 'db');
    const ds0 = await waitDaemonSetRolledOut(env.client, ns, 'agent');
    const stsPods0 = new Set((await podsWithApp(env.client, ns, 'db')).map((p) => p.metadata!.uid));
    const dsPods0 = new Set((await podsWithApp(env.client, ns, 'agent')).map((p) => p.metadata!.uid));
    assert.equal(stsPods0.size, 2);
    assert.equal(dsPods0.size, 1, 'one DaemonSet pod on kwok-node-0');
    const r = await startReloader(env, { namespace: ns });
    try {
      await adopted(env.client, ns, 'db', 'StatefulSet');
      await adopted(env.client, ns, 'agent', 'DaemonSet');
      await quiet(r);
      assert.equal((await controllerRevisionsOf(env.client, ns, 'StatefulSet', 'db')).length, 1, 'adopting the StatefulSet restarts nothing');
      assert.equal((await controllerRevisionsOf(env.client, ns, 'DaemonSet', 'agent')).length, 1, 'adopting the DaemonSet restarts nothing');
      assert.equal((await getWorkload<V1DaemonSet>(env.client, ns, 'DaemonSet', 'agent')).metadata!.generation, ds0.metadata!.generation);

      await putSecret(env.client, ns, 'creds', { v: '2' });

      await eventually('the StatefulSet to move to a new revision', async () => (await getWorkload<V1StatefulSet>(env.client, ns, 'StatefulSet', 'db')).status?.updateRevision !== sts0.status!.updateRevision);
      await eventually('the DaemonSet template to change', async () => (await getWorkload<V1DaemonSet>(env.client, ns, 'DaemonSet', 'agent')).metadata!.generation! > ds0.metadata!.generation!);
      const sts = await waitStatefulSetRolledOut(env.client, ns, 'db');
      const ds = await waitDaemonSetRolledOut(env.client, ns, 'agent');
      assert.notEqual(sts.status!.currentRevision, sts0.status!.currentRevision, 'the pods now run the new revision');
      assert.equal(sts.status!.updatedReplicas, sts.spec!.replicas);
      assert.equal(ds.status!.updatedNumberScheduled, ds.status!.desiredNumberScheduled);
      const stsPods = await eventually('the StatefulSet pods to be recreated', async () => {
        const pods = await podsWithApp(env.client, ns, 'db');
        return pods.length === 2 && pods.every((p) => !stsPods0.has(p.metadata!.uid) && p.metadata!.labels!['controller-revision-hash'] === sts.status!.updateRevision) ? pods : false;
      });
      assert.equal(stsPods.length, 2);
      const dsPods = await eventually('the DaemonSet pod to be recreated', async () => {
        const pods = await podsWithApp(env.client, ns, 'agent');
        return pods.length === 1 && pods.every((p) => !dsPods0.has(p.metadata!.uid)) ? pods : false;
      });
      assert.ok(dsPods[0]!.metadata!.annotations![ANNOTATIONS.restartedAt], 'the new DaemonSet pod carries restarted-at');

      await quiet(r, 2500);
      const stsAfter = await getWorkload<V1StatefulSet>(env.client, ns, 'StatefulSet', 'db');
      const dsAfter = await getWorkload<V1DaemonSet>(env.client, ns, 'DaemonSet', 'agent');
      assert.equal(stsAfter.metadata!.generation, sts0.metadata!.generation! + 1, 'StatefulSet: exactly one template change');
      assert.equal(dsAfter.metadata!.generation, ds0.metadata!.generation! + 1, 'DaemonSet: exactly one template change');
      assert.equal((await controllerRevisionsOf(env.client, ns, 'StatefulSet', 'db')).length, 2, 'StatefulSet: one new revision');
      assert.equal((await controllerRevisionsOf(env.client, ns, 'DaemonSet', 'agent')).length, 2, 'DaemonSet: one new revision');
      for (const w of [stsAfter, dsAfter]) {
        assert.match(w.spec!.template!.metadata!.annotations![ANNOTATIONS.restartedAt]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.equal(w.spec!.template!.metadata!.annotations![ANNOTATIONS.restartReason], 'Secret creds changed');
      }
      assert.equal(r.counts.restarted, 2, 'one restart per workload');
    } finally {
      await r.stop();
    }
  });

  it('dryRun: a change is logged but nothing is patched (no new ReplicaSet, no baseline change), and adoption writes nothing', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'dryrun');
    await putSecret(env.client, ns, 'creds', { v: '1' });
    await createDeployment(env.client, ns, deployment('app', { replicas: 1, annotations: AUTO, pod: envFrom('creds') }));
    await waitRolledOut(env.client, ns, 'app');
    // Adopted by a real reloader first, so that the dry run sees a change.
    const real = await startReloader(env, { namespace: ns });
    await adopted(env.client, ns, 'app');
    await real.stop();
    await createDeployment(env.client, ns, deployment('fresh', { replicas: 1, annotations: AUTO, pod: envFrom('creds') }));
    await waitRolledOut(env.client, ns, 'fresh');
    const before = await getDeployment(env.client, ns, 'app');

    const logs = captureLog();
    const r = await startReloader(env, { namespace: ns, dryRun: true, log: logs.log });
    const writes: string[] = [];
    r.client.onRequest.add((verb, path) => {
      if (verb !== 'GET' && verb !== 'LIST' && verb !== 'WATCH' && !path.endsWith('/events')) writes.push(`${verb} ${path}`);
    });
    try {
      await eventually('a dry-run adoption log line', async () => logs.lines.find((l) => l['msg'] === 'dry run: would record a baseline (no restart)' && l['workload'] === `Deployment/${ns}/fresh`));
      await putSecret(env.client, ns, 'creds', { v: '2' });
      const line = await eventually('a dry-run restart log line', async () => logs.lines.find((l) => l['msg'] === 'dry run: would restart' && l['workload'] === `Deployment/${ns}/app`));
      assert.deepEqual(line['changed'], ['secret/creds']);
      await quiet(r, 2000);
      const after = await getDeployment(env.client, ns, 'app');
      assert.equal(await rsCount(env.client, ns, 'app'), 1, 'no new ReplicaSet');
      assert.equal(await rsCount(env.client, ns, 'fresh'), 1);
      assert.equal(after.metadata!.annotations![ANNOTATIONS.baseline], before.metadata!.annotations![ANNOTATIONS.baseline], 'the baseline is unchanged');
      assert.equal(after.metadata!.resourceVersion, before.metadata!.resourceVersion, 'the Deployment was not written at all');
      assert.equal(after.spec!.template!.metadata!.annotations?.[ANNOTATIONS.restartedAt], undefined);
      assert.equal(await baselineOf(env.client, ns, 'fresh'), null, 'adoption in dry run writes no baseline');
      assert.deepEqual(writes, [], 'a dry run writes nothing');
      assert.equal(r.counts.restarted, 0);
    } finally {
      await r.stop();
    }
  });

  it('the cluster-wide cap: with restartsPerSecond 1, one change to a Secret five Deployments use restarts each exactly once, spread over at least four seconds', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'cap');
    const names = [0, 1, 2, 3, 4].map((i) => `app-${i}`);
    await putSecret(env.client, ns, 'shared', { v: '1' });
    for (const name of names) await createDeployment(env.client, ns, deployment(name, { replicas: 1, annotations: AUTO, pod: envFrom('shared') }));
    for (const name of names) await waitRolledOut(env.client, ns, name);
    const r = await startReloader(env, { namespace: ns, restartsPerSecond: 1 });
    try {
      for (const name of names) await adopted(env.client, ns, name);
      // Wait until the cache holds every adoption, so restart patches carry current resourceVersions.
      await eventually('the cache to hold every baseline', async () => names.every((n) => r.controller.workloads.get('Deployment')!.get(`${ns}/${n}`)?.baselineText));
      await quiet(r, 500);
      const patches: { at: number; path: string }[] = [];
      r.client.onRequest.add((verb, path) => {
        if (verb === 'PATCH' && path.includes('/deployments/')) patches.push({ at: Date.now(), path });
      });

      await putSecret(env.client, ns, 'shared', { v: '2' });
      for (const name of names) await waitRolledOut(env.client, ns, name, { replicaSets: 2 });
      await quiet(r, 1500);
      const newest: number[] = [];
      for (const name of names) {
        const sets = await replicaSetsOf(env.client, ns, name);
        assert.equal(sets.length, 2, `${name}: exactly one restart`);
        newest.push(Date.parse(sets[1]!.metadata!.creationTimestamp as unknown as string));
      }
      assert.equal(r.counts.restarted, 5);
      assert.equal(new Set(patches.map((p) => p.path)).size, 5, 'each Deployment patched');
      const spread = Math.max(...patches.map((p) => p.at)) - Math.min(...patches.map((p) => p.at));
      assert.ok(spread >= 3500, `five restarts at one per second took ${spread} ms of patches`);
      const rsSpread = Math.max(...newest) - Math.min(...newest);
      assert.ok(rsSpread >= 3000, `the new ReplicaSets were created ${rsSpread} ms apart (timestamps are to the second)`);
      // restarted-at records when each patch went out, not when the restart was decided.
      const stamps = [];
      for (const name of names) stamps.push(Date.parse((await getDeployment(env.client, ns, name)).spec!.template!.metadata!.annotations![ANNOTATIONS.restartedAt]!));
      assert.ok(Math.max(...stamps) - Math.min(...stamps) >= 3500, `restarted-at values span ${Math.max(...stamps) - Math.min(...stamps)} ms`);
    } finally {
      await r.stop();
    }
  });

  it('an update of a Secret no annotated workload uses makes no API write, and Secret events for a workload’s Secret make no LIST', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'quiet');
    await putSecret(env.client, ns, 'creds', { v: '1' });
    await putSecret(env.client, ns, 'other', { v: '1' });
    await createDeployment(env.client, ns, deployment('app', { replicas: 1, annotations: AUTO, pod: envFrom('creds') }));
    await createDeployment(env.client, ns, deployment('plain', { replicas: 1, pod: envFrom('other') }));
    await waitRolledOut(env.client, ns, 'app');
    await waitRolledOut(env.client, ns, 'plain');
    const r = await startReloader(env, { namespace: ns });
    try {
      await adopted(env.client, ns, 'app');
      await quiet(r);
      const seen: string[] = [];
      r.client.onRequest.add((verb, path) => {
        if (verb !== 'WATCH') seen.push(`${verb} ${path}`);
      });
      const verbs = (...vs: string[]) => seen.filter((s) => vs.includes(s.split(' ')[0]!));

      await putSecret(env.client, ns, 'other', { v: '2' });
      await putSecret(env.client, ns, 'other', { v: '3' });
      await putSecret(env.client, ns, 'unused', { v: '1' });
      await putSecret(env.client, ns, 'unused', { v: '2' });
      await eventually('the reloader to see the updates', async () => r.controller.secrets.get(`${ns}/unused`));
      await quiet(r, 2000);
      assert.deepEqual(verbs('PATCH', 'POST', 'PUT', 'DELETE'), [], 'no API write for Secrets nobody annotated uses');
      assert.deepEqual(verbs('LIST'), [], 'no LIST');

      for (const v of ['2', '3', '4']) {
        await putSecret(env.client, ns, 'creds', { v });
        await sleep(100);
      }
      await waitRolledOut(env.client, ns, 'app', { replicaSets: 2 });
      await quiet(r);
      assert.equal(await rsCount(env.client, ns, 'app'), 2, 'three quick updates, one restart');
      assert.deepEqual(verbs('LIST'), [], 'no LIST while a workload’s Secret events are handled');
      assert.ok(verbs('PATCH').length >= 1, 'the restart was a PATCH');
      assert.equal(await rsCount(env.client, ns, 'plain'), 1);
    } finally {
      await r.stop();
    }
  });
});

describe('namespace scope', () => {
  it('with a namespace selector, only matching namespaces are acted in, and labelling a namespace brings it in', async () => {
    const env = await testEnv();
    const selector = `kvr-scope-${Date.now()}=on`;
    const [key] = selector.split('=') as [string];
    const inNs = await createNamespace(env.client, 'scope-in');
    const outNs = await createNamespace(env.client, 'scope-out');
    await env.client.request('PATCH', `/api/v1/namespaces/${inNs}`, { body: { metadata: { labels: { [key]: 'on' } } }, contentType: PATCH.merge });
    for (const ns of [inNs, outNs]) {
      await putSecret(env.client, ns, 'creds', { v: '1' });
      await createDeployment(env.client, ns, deployment('app', { annotations: { [ANNOTATIONS.auto]: 'true' }, pod: { containers: [{ name: 'app', image: 'x', envFrom: [{ secretRef: { name: 'creds' } }] }] } }));
      await waitRolledOut(env.client, ns, 'app');
    }
    const log = createLogger({ level: 'silent' });
    const scope = new NamespaceScope({ client: env.client, log, namespaces: [], excludeNamespaces: [], namespaceSelector: selector });
    scope.start();
    const r = await startReloader(env, { namespace: inNs, scope });
    try {
      await eventually('the selected namespace adopted', async () => (await getDeployment(env.client, inNs, 'app')).metadata?.annotations?.[ANNOTATIONS.baseline]);
      await putSecret(env.client, outNs, 'creds', { v: '2' });
      await putSecret(env.client, inNs, 'creds', { v: '2' });
      await waitRolledOut(env.client, inNs, 'app', { replicaSets: 2 });
      await sleep(1500);
      await r.controller.idle();
      assert.equal((await getDeployment(env.client, outNs, 'app')).metadata?.annotations?.[ANNOTATIONS.baseline], undefined, 'an unselected namespace is not touched');
      assert.equal((await replicaSetsOf(env.client, outNs, 'app')).length, 1);

      await env.client.request('PATCH', `/api/v1/namespaces/${outNs}`, { body: { metadata: { labels: { [key]: 'on' } } }, contentType: PATCH.merge });
      await eventually('the newly selected namespace adopted', async () => (await getDeployment(env.client, outNs, 'app')).metadata?.annotations?.[ANNOTATIONS.baseline]);
      assert.equal((await replicaSetsOf(env.client, outNs, 'app')).length, 1, 'coming into scope adopts, it does not restart');
      await putSecret(env.client, outNs, 'creds', { v: '3' });
      await waitRolledOut(env.client, outNs, 'app', { replicaSets: 2 });
    } finally {
      await r.stop();
      scope.stop();
    }
  });
});
