// Watches that survive: an expired watch (410) re-lists and replays nothing,
// a silent watch is restarted by the watchdog, and the controller recovers
// when the API server itself restarts. Faults the real apiserver will not make
// on demand come from the fault-injecting proxy in front of it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ANNOTATIONS } from '../../src/reloader/annotations.ts';
import { parseBaseline } from '../../src/reloader/decide.ts';
import { createNamespace, eventually, privateEnv, testEnv, type TestEnv } from '../helpers/env.ts';
import { proxiedKubeconfig } from '../helpers/proxy.ts';
import { startReloader } from '../helpers/reloader.ts';
import { createDeployment, deployment, getDeployment, putSecret, replicaSetsOf, waitRolledOut } from '../helpers/workloads.ts';

async function setup(env: TestEnv, prefix: string) {
  const ns = await createNamespace(env.client, prefix);
  await putSecret(env.client, ns, 'creds', { v: '1' });
  await createDeployment(env.client, ns, deployment('app', { annotations: { [ANNOTATIONS.auto]: 'true' }, pod: { containers: [{ name: 'app', image: 'x', envFrom: [{ secretRef: { name: 'creds' } }] }] } }));
  await waitRolledOut(env.client, ns, 'app');
  return ns;
}

const adopted = (env: TestEnv, ns: string) =>
  eventually('adoption', async () => parseBaseline((await getDeployment(env.client, ns, 'app')).metadata?.annotations?.[ANNOTATIONS.baseline]));

describe('reloader watches', () => {
  it('a watch that expires (410 Gone) re-lists, restarts nothing, and the next change still restarts once', async () => {
    const env = await testEnv();
    const ns = await setup(env, 'gone');
    const { proxy, file } = await proxiedKubeconfig(env, 'gone');
    const r = await startReloader(env, { namespace: ns, kubeconfig: file, watchSilenceMs: 2000 });
    try {
      await adopted(env, ns);
      const listsBefore = r.controller.secrets.stats.relists;
      let injected = 0;
      proxy.rule = (req) => (req.isWatch && req.path.endsWith('/secrets') && injected++ < 1 ? { kind: 'watch-gone' } : undefined);
      // End the current watch so that the next one meets the injected 410.
      proxy.freezeStreams();
      await eventually('a re-list after 410', async () => r.controller.secrets.stats.relists > listsBefore, 30_000);
      await sleep(1000);
      await r.controller.idle();
      assert.equal((await replicaSetsOf(env.client, ns, 'app')).length, 1, 're-list replays nothing');
      await putSecret(env.client, ns, 'creds', { v: '2' });
      const sets = await waitRolledOut(env.client, ns, 'app', { replicaSets: 2 });
      assert.equal(sets.length, 2);
      assert.equal(r.counts.restarted, 1);
    } finally {
      await r.stop();
      await proxy.close();
    }
  });

  it('a watch that goes silent is restarted by the watchdog, and a change made during the silence is acted on', async () => {
    const env = await testEnv();
    const ns = await setup(env, 'silent');
    const { proxy, file } = await proxiedKubeconfig(env, 'silent');
    const r = await startReloader(env, { namespace: ns, kubeconfig: file, watchSilenceMs: 2000 });
    try {
      await adopted(env, ns);
      const restartsBefore = r.controller.secrets.stats.watchRestarts;
      proxy.freezeStreams();
      const started = Date.now();
      await putSecret(env.client, ns, 'creds', { v: '2' });
      const sets = await waitRolledOut(env.client, ns, 'app', { replicaSets: 2 });
      assert.equal(sets.length, 2);
      assert.ok(r.controller.secrets.stats.watchRestarts > restartsBefore, 'the secrets watch was restarted');
      // client-node gives up on a silent stream only after 30 s; the watchdog must have been first.
      assert.ok(Date.now() - started < 25_000, `acted on within ${Date.now() - started} ms`);
    } finally {
      await r.stop();
      await proxy.close();
    }
  });

  it('recovers when the API server restarts: no restart for the outage, one for a change made after it', async () => {
    const env = await privateEnv();
    const ns = await setup(env, 'apirestart');
    const r = await startReloader(env, { namespace: ns, watchSilenceMs: 5000 });
    try {
      await adopted(env, ns);
      await env.cluster!.restartApiserver();
      await sleep(2000);
      await r.controller.idle();
      assert.equal((await replicaSetsOf(env.client, ns, 'app')).length, 1, 'the outage itself restarts nothing');
      await putSecret(env.client, ns, 'creds', { v: '2' });
      const sets = await waitRolledOut(env.client, ns, 'app', { replicaSets: 2, timeoutMs: 120_000 });
      assert.equal(sets.length, 2);
      assert.ok(r.controller.healthy());
    } finally {
      await r.stop();
    }
  });
});

describe('clusters without the Secrets Store CSI driver', () => {
  it('the controller becomes ready and rolls Deployments for Secret changes when the driver CRDs are not installed', async () => {
    const env = await privateEnv({ crds: false });
    const ns = await setup(env, 'nocrd');
    const r = await startReloader(env, { namespace: ns });
    try {
      assert.ok(r.controller.synced, 'caches count as synced although SecretProviderClassPodStatus is not served');
      assert.ok(r.controller.healthy());
      await adopted(env, ns);
      await putSecret(env.client, ns, 'creds', { v: '2' });
      const sets = await waitRolledOut(env.client, ns, 'app', { replicaSets: 2 });
      assert.equal(sets.length, 2);
    } finally {
      await r.stop();
    }
  });
});
