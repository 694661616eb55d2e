// High availability with real processes: two `keyvault-reloader run` replicas
// on one Lease. A leader killed with SIGKILL mid-rotation loses nothing and
// doubles nothing; a leader stopped with SIGTERM hands the Lease over at once.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeClient } from '../../src/kube/client.ts';
import { ANNOTATIONS } from '../../src/reloader/annotations.ts';
import { startControllerProcess, waitReady, type ControllerProcess } from '../helpers/controller.ts';
import { createNamespace, eventually, testEnv, type TestEnv } from '../helpers/env.ts';
import { createDeployment, deployment, getDeployment, putSecret, replicaSetsOf, waitRolledOut } from '../helpers/workloads.ts';

const LEASE_MS = 4_000;
const SHORT_LEASE = ['--lease-duration', '4s', '--renew-deadline', '3s', '--retry-period', '1s'];

const started: ControllerProcess[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((c) => c.proc.kill9()));
});

async function replicas(env: TestEnv, ns: string, lease: string[]): Promise<[ControllerProcess, ControllerProcess]> {
  const args = ['--mode', 'reloader', '--namespace', ns, '--namespaces', ns, '--settle', '1s', ...lease];
  const pair = await Promise.all(['replica-a', 'replica-b'].map((identity) => startControllerProcess(env, { identity, args })));
  started.push(...pair);
  await Promise.all(pair.map((c) => waitReady(c)));
  return pair as [ControllerProcess, ControllerProcess];
}

const holder = async (client: KubeClient, ns: string): Promise<string> =>
  (await client.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/keyvault-reloader`)).spec?.holderIdentity ?? '';

async function leaderOf(client: KubeClient, ns: string, pair: ControllerProcess[]): Promise<{ leader: ControllerProcess; standby: ControllerProcess }> {
  const id = await eventually('a leader', async () => {
    try {
      return await holder(client, ns);
    } catch {
      return '';
    }
  }, 20_000, 100);
  const leader = pair.find((c) => c.identity === id);
  assert.ok(leader, `the Lease holder ${id} is one of the replicas`);
  return { leader, standby: pair.find((c) => c !== leader)! };
}

describe('high availability', () => {
  it('SIGKILL of the leader right after a Secret change: the standby takes the Lease within the lease duration and the Deployment restarts exactly once', async (t) => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'ha-kill');
    await putSecret(env.client, ns, 'db', { password: 'v1' });
    await createDeployment(env.client, ns, deployment('app', {
      replicas: 1,
      annotations: { [ANNOTATIONS.auto]: 'true' },
      pod: { containers: [{ name: 'app', image: 'example.invalid/app:1', env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }] }] },
    }));
    await waitRolledOut(env.client, ns, 'app');
    const pair = await replicas(env, ns, SHORT_LEASE);
    const { leader, standby } = await leaderOf(env.client, ns, pair);
    await eventually('the leader to record a baseline', async () => (await getDeployment(env.client, ns, 'app')).metadata?.annotations?.[ANNOTATIONS.baseline]);

    await putSecret(env.client, ns, 'db', { password: 'v2' });
    await leader.proc.kill9();
    const killedAt = Date.now();

    await eventually(`${standby.identity} to take the Lease`, async () => (await holder(env.client, ns)) === standby.identity, LEASE_MS + 10_000, 50);
    const takeoverMs = Date.now() - killedAt;
    // Worst case: a standby poll (retry period 1 s + 50% jitter) to see the last renewal, the
    // lease duration, one more poll: 7 s; the rest is margin for a loaded machine.
    t.diagnostic(`takeover after SIGKILL: ${takeoverMs} ms (lease duration ${LEASE_MS} ms)`);
    assert.ok(takeoverMs < LEASE_MS + 5_000, `takeover took ${takeoverMs} ms; lease duration ${LEASE_MS} ms`);

    const sets = await waitRolledOut(env.client, ns, 'app', { replicaSets: 2 });
    assert.equal(sets.length, 2, 'the change made while the leader died is not lost');
    // Past the settle window and a few reconciles: nothing restarts it a second time.
    await sleep(4_000);
    assert.equal((await replicaSetsOf(env.client, ns, 'app')).length, 2, 'exactly one restart: none lost, none doubled');
    const d = await getDeployment(env.client, ns, 'app');
    assert.equal(d.spec?.template?.metadata?.annotations?.[ANNOTATIONS.restartReason], 'Secret db changed');
    const restartedBy = (await standby.logs()).filter((l) => l['msg'] === 'restarted');
    assert.equal(restartedBy.length, 1, 'the new leader restarted it once');
  });

  it('SIGTERM on the leader releases the Lease: the standby leads well before the lease would expire, and the leader exits 0', async (t) => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'ha-term');
    // A long lease, so that a takeover by expiry cannot pass for a release.
    const pair = await replicas(env, ns, ['--lease-duration', '20s', '--renew-deadline', '15s', '--retry-period', '1s']);
    const { leader, standby } = await leaderOf(env.client, ns, pair);

    const termAt = Date.now();
    await leader.proc.stop('SIGTERM', 10_000);
    assert.equal(await leader.proc.exited, 0, 'graceful exit');
    const lease = await env.client.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/keyvault-reloader`);
    assert.notEqual(lease.spec.holderIdentity, leader.identity, 'the stopped leader no longer holds the Lease');
    assert.ok((await leader.logs()).some((l) => l['msg'] === 'released the lease'));

    await eventually(`${standby.identity} to lead`, async () => (await holder(env.client, ns)) === standby.identity, 10_000, 50);
    const takeoverMs = Date.now() - termAt;
    t.diagnostic(`takeover after SIGTERM: ${takeoverMs} ms (lease duration 20 s)`);
    assert.ok(takeoverMs < 5_000, `takeover after SIGTERM took ${takeoverMs} ms; the lease duration is 20 s`);
  });
});
