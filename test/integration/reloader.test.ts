// The reloader on the real control plane: which changes roll a workload, and
// that rollouts really happen (new ReplicaSet Ready, old at 0) exactly once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ANNOTATIONS } from '../../src/reloader/annotations.ts';
import { parseBaseline } from '../../src/reloader/decide.ts';
import { createNamespace, eventually, testEnv } from '../helpers/env.ts';
import { eventsFor, startReloader } from '../helpers/reloader.ts';
import { createDeployment, deployment, getDeployment, putSecret, replicaSetsOf, waitRolledOut } from '../helpers/workloads.ts';

const AUTO = { [ANNOTATIONS.auto]: 'true' };

async function adopted(client: any, ns: string, name: string) {
  return eventually(`${name} to be adopted (baseline recorded)`, async () => {
    const d = await getDeployment(client, ns, name);
    return parseBaseline(d.metadata?.annotations?.[ANNOTATIONS.baseline]) ?? false;
  });
}

describe('reloader', () => {
  it('each kind of Secret reference (env, envFrom, volume, projected) rolls its Deployment exactly once, and the rollout completes', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'refs');
    for (const s of ['env', 'envfrom', 'vol', 'proj']) await putSecret(env.client, ns, s, { v: '1' });
    const pods = {
      env: { containers: [{ name: 'app', image: 'x', env: [{ name: 'V', valueFrom: { secretKeyRef: { name: 'env', key: 'v' } } }] }] },
      envfrom: { initContainers: [{ name: 'init', image: 'x', envFrom: [{ secretRef: { name: 'envfrom' } }] }], containers: [{ name: 'app', image: 'x' }] },
      vol: { containers: [{ name: 'app', image: 'x' }], volumes: [{ name: 'v', secret: { secretName: 'vol' } }] },
      proj: { containers: [{ name: 'app', image: 'x' }], volumes: [{ name: 'p', projected: { sources: [{ secret: { name: 'proj' } }] } }] },
    };
    for (const [name, pod] of Object.entries(pods)) await createDeployment(env.client, ns, deployment(name, { annotations: AUTO, pod }));
    for (const name of Object.keys(pods)) await waitRolledOut(env.client, ns, name);
    const r = await startReloader(env, { namespace: ns });
    try {
      for (const name of Object.keys(pods)) await adopted(env.client, ns, name);
      for (const name of Object.keys(pods)) assert.equal((await replicaSetsOf(env.client, ns, name)).length, 1, `adopting ${name} restarted nothing`);
      for (const s of Object.keys(pods)) await putSecret(env.client, ns, s, { v: '2' });
      for (const name of Object.keys(pods)) {
        const sets = await waitRolledOut(env.client, ns, name, { replicaSets: 2 });
        assert.equal(sets.length, 2, `${name}: one new ReplicaSet`);
        assert.equal(sets[0]!.spec!.replicas, 0);
      }
      await r.controller.idle();
      await sleep(1500);
      for (const name of Object.keys(pods)) assert.equal((await replicaSetsOf(env.client, ns, name)).length, 2, `${name}: still exactly one restart`);
      const d = await getDeployment(env.client, ns, 'env');
      assert.match(d.spec!.template!.metadata!.annotations![ANNOTATIONS.restartedAt]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.equal(d.spec!.template!.metadata!.annotations![ANNOTATIONS.restartReason], 'Secret env changed');
      const ev = await eventually('a Restarted event', async () => (await eventsFor(env.client, ns, 'env')).find((e) => e.reason === 'Restarted'));
      assert.match(ev.message, /Secret env changed/);
      assert.doesNotMatch(ev.message, /\b2\b|MQ==|Mg==/, 'the event names the Secret, never its value');
    } finally {
      await r.stop();
    }
  });

  it('an update with the same content (new resourceVersion, new labels) adds no ReplicaSet', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'noop');
    await putSecret(env.client, ns, 'creds', { password: 'a' });
    await createDeployment(env.client, ns, deployment('app', { annotations: AUTO, pod: { containers: [{ name: 'app', image: 'x', envFrom: [{ secretRef: { name: 'creds' } }] }] } }));
    await waitRolledOut(env.client, ns, 'app');
    const r = await startReloader(env, { namespace: ns });
    try {
      await adopted(env.client, ns, 'app');
      await putSecret(env.client, ns, 'creds', { password: 'a' }, { labels: { touched: 'yes' }, annotations: { note: 'rewritten' } });
      await sleep(2000);
      await r.controller.idle();
      assert.equal((await replicaSetsOf(env.client, ns, 'app')).length, 1);
      assert.equal(r.counts.restarted, 0);
    } finally {
      await r.stop();
    }
  });

  it('Helm release Secrets are filtered out by the API server, listed or watched: never cached, never an input', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'helm');
    const helmRelease = (name: string) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, labels: { owner: 'helm' } },
      type: 'helm.sh/release.v1',
      data: { release: Buffer.alloc(64 * 1024, 1).toString('base64') },
    });
    await env.client.request('POST', `/api/v1/namespaces/${ns}/secrets`, { body: helmRelease('sh.helm.release.v1.app.v1') });
    await putSecret(env.client, ns, 'listed', { v: '1' });
    const r = await startReloader(env, { namespace: ns });
    try {
      await r.controller.waitForSync();
      assert.ok(r.controller.secrets.get(`${ns}/listed`), 'an ordinary Secret is cached');
      assert.equal(r.controller.secrets.get(`${ns}/sh.helm.release.v1.app.v1`), undefined, 'the listed Helm release is not');
      await env.client.request('POST', `/api/v1/namespaces/${ns}/secrets`, { body: helmRelease('sh.helm.release.v1.app.v2') });
      await putSecret(env.client, ns, 'watched', { v: '1' });
      await eventually('the Secret created after the Helm release to arrive on the watch', async () => r.controller.secrets.get(`${ns}/watched`) !== undefined);
      assert.equal(r.controller.secrets.get(`${ns}/sh.helm.release.v1.app.v2`), undefined, 'the watched Helm release is not');
    } finally {
      await r.stop();
    }
  });

  it('three Secrets changed within the settle window give exactly one new ReplicaSet', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'coalesce');
    for (const s of ['a', 'b', 'c']) await putSecret(env.client, ns, s, { v: '1' });
    const pod = { containers: [{ name: 'app', image: 'x', envFrom: [{ secretRef: { name: 'a' } }, { secretRef: { name: 'b' } }, { secretRef: { name: 'c' } }] }] };
    await createDeployment(env.client, ns, deployment('app', { annotations: { ...AUTO, [ANNOTATIONS.settle]: '3s' }, pod }));
    await waitRolledOut(env.client, ns, 'app');
    const r = await startReloader(env, { namespace: ns });
    try {
      await adopted(env.client, ns, 'app');
      for (const s of ['a', 'b', 'c']) {
        await putSecret(env.client, ns, s, { v: '2' });
        await sleep(500);
      }
      const sets = await waitRolledOut(env.client, ns, 'app', { replicaSets: 2 });
      await sleep(3500);
      await r.controller.idle();
      assert.equal((await replicaSetsOf(env.client, ns, 'app')).length, 2, 'one restart for three changes');
      assert.equal(sets.length, 2);
      const reason = (await getDeployment(env.client, ns, 'app')).spec!.template!.metadata!.annotations![ANNOTATIONS.restartReason];
      assert.equal(reason, 'Secret a, Secret b, Secret c changed');
    } finally {
      await r.stop();
    }
  });

  it('restarting the controller with unchanged Secrets adds no ReplicaSet; a change made while it was stopped adds exactly one', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'durable');
    await putSecret(env.client, ns, 'creds', { v: '1' });
    await createDeployment(env.client, ns, deployment('app', { annotations: AUTO, pod: { containers: [{ name: 'app', image: 'x', envFrom: [{ secretRef: { name: 'creds' } }] }] } }));
    await waitRolledOut(env.client, ns, 'app');
    let r = await startReloader(env, { namespace: ns });
    await adopted(env.client, ns, 'app');
    await r.stop();

    r = await startReloader(env, { namespace: ns });
    await sleep(1500);
    await r.controller.idle();
    assert.equal((await replicaSetsOf(env.client, ns, 'app')).length, 1, 'a controller restart restarts nothing');
    await r.stop();

    await putSecret(env.client, ns, 'creds', { v: '2' });
    r = await startReloader(env, { namespace: ns });
    try {
      const sets = await waitRolledOut(env.client, ns, 'app', { replicaSets: 2 });
      assert.equal(sets.length, 2);
      await sleep(1500);
      await r.controller.idle();
      assert.equal((await replicaSetsOf(env.client, ns, 'app')).length, 2, 'the change made while down is acted on once');
      assert.equal(r.counts.restarted, 1);
    } finally {
      await r.stop();
    }
  });
});
