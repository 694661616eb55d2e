// Leader election against the real API server: Leases are created, renewed,
// expired, released and contended exactly as several replicas would.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeClient } from '../../src/kube/client.ts';
import { LeaderElector, type StopReason } from '../../src/kube/leader.ts';
import { createLogger } from '../../src/log.ts';
import { createNamespace, eventually, serviceAccountClient, testEnv } from '../helpers/env.ts';

const FAST = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 };
// A lease far longer than any takeover the test expects, to tell "released" from "expired".
const SLOW = { leaseDurationMs: 20_000, renewDeadlineMs: 15_000, retryPeriodMs: 500 };
const MICROTIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

const log = createLogger({ level: process.env['LOG_LEVEL'] ?? 'silent' });
const running: LeaderElector[] = [];
afterEach(() => running.splice(0).forEach((e) => e.stop()));

interface Candidate {
  id: string;
  elector: LeaderElector;
  /** Callback calls in order: 'started' or 'stopped:<reason>'. */
  calls: string[];
  /** performance.now() of each callback, parallel to calls. */
  at: number[];
}

function candidate(client: KubeClient, namespace: string, identity: string, timing = FAST): Candidate {
  const calls: string[] = [];
  const at: number[] = [];
  const elector = new LeaderElector({
    client,
    namespace,
    name: 'keyvault-reloader',
    identity,
    ...timing,
    log: log.child({ candidate: identity }),
    onStartedLeading: () => {
      calls.push('started');
      at.push(performance.now());
    },
    onStoppedLeading: (reason: StopReason) => {
      calls.push(`stopped:${reason}`);
      at.push(performance.now());
    },
  });
  running.push(elector);
  elector.start();
  return { id: identity, elector, calls, at };
}

const getLease = (client: KubeClient, ns: string) => client.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/keyvault-reloader`);
const leads = (c: Candidate, timeoutMs = 15_000) => eventually(`${c.id} to lead`, async () => c.elector.isLeader(), timeoutMs, 25);

describe('leader election', () => {
  it('acquires an absent Lease, records itself with MicroTime stamps, and renews it keeping acquireTime', async () => {
    const { client } = await testEnv();
    const ns = await createNamespace(client, 'leader');
    const a = candidate(client, ns, 'a');
    await leads(a);
    const first = await getLease(client, ns);
    assert.equal(first.spec.holderIdentity, 'a');
    assert.equal(first.spec.leaseDurationSeconds, 3);
    assert.equal(first.spec.leaseTransitions, 0);
    assert.match(first.spec.acquireTime, MICROTIME);
    assert.match(first.spec.renewTime, MICROTIME);
    const renewed = await eventually('a renewal', async () => {
      const l = await getLease(client, ns);
      return l.spec.renewTime !== first.spec.renewTime && l;
    }, 10_000);
    assert.equal(renewed.spec.holderIdentity, 'a');
    assert.equal(renewed.spec.acquireTime, first.spec.acquireTime);
    assert.ok(Date.parse(renewed.spec.renewTime) > Date.parse(first.spec.renewTime));
    assert.equal(renewed.spec.leaseTransitions, 0);
    assert.deepEqual(a.calls, ['started']);
  });

  it('a second candidate stays standby for longer than a lease duration while the leader renews', async () => {
    const { client } = await testEnv();
    const ns = await createNamespace(client, 'leader');
    const a = candidate(client, ns, 'a');
    await leads(a);
    const b = candidate(client, ns, 'b');
    await eventually('b to observe a', async () => b.elector.observedLeader() === 'a', 10_000, 25);
    const until = performance.now() + 2 * FAST.leaseDurationMs;
    while (performance.now() < until) {
      assert.equal(b.elector.isLeader(), false, 'the standby never leads');
      assert.equal(a.elector.isLeader(), true, 'the leader keeps renewing');
      await sleep(50);
    }
    const lease = await getLease(client, ns);
    assert.equal(lease.spec.holderIdentity, 'a');
    assert.equal(lease.spec.leaseTransitions, 0);
    assert.deepEqual(b.calls, []);
  });

  it('after the leader stops without releasing, a standby takes over once the lease expires, and leaseTransitions counts it', async () => {
    const { client } = await testEnv();
    const ns = await createNamespace(client, 'leader');
    const a = candidate(client, ns, 'a');
    await leads(a);
    const b = candidate(client, ns, 'b');
    await eventually('b to observe a', async () => b.elector.observedLeader() === 'a', 10_000, 25);
    const before = await getLease(client, ns);

    const stoppedAt = performance.now();
    a.elector.stop();
    assert.equal(a.elector.isLeader(), false);
    assert.deepEqual(a.calls, ['started', 'stopped:stopped']);
    // a's last renewal as stored; one still in flight could only land later and push expiry further out.
    const lastRenew = Date.parse((await getLease(client, ns)).spec.renewTime);
    await leads(b, 20_000);
    const waited = performance.now() - stoppedAt;
    assert.ok(waited < FAST.leaseDurationMs + 10_000, `b took over within about a lease duration (${Math.round(waited)} ms)`);

    const after = await getLease(client, ns);
    assert.equal(after.spec.holderIdentity, 'b');
    const sinceRenew = Date.parse(after.spec.acquireTime) - lastRenew;
    assert.ok(sinceRenew >= FAST.leaseDurationMs - 50, `b waited a full lease duration after a's last renewal (${sinceRenew} ms)`);
    assert.equal(after.spec.leaseTransitions, before.spec.leaseTransitions + 1);
    assert.notEqual(after.spec.acquireTime, before.spec.acquireTime);
    assert.deepEqual(b.calls, ['started']);
  });

  it('after release() a standby takes over promptly, long before the lease would have expired', async () => {
    const { client } = await testEnv();
    const ns = await createNamespace(client, 'leader');
    const a = candidate(client, ns, 'a', SLOW);
    await leads(a);
    const b = candidate(client, ns, 'b', SLOW);
    await eventually('b to observe a', async () => b.elector.observedLeader() === 'a', 10_000, 25);

    const releasedAt = performance.now();
    await a.elector.release();
    assert.equal(a.elector.isLeader(), false);
    assert.deepEqual(a.calls, ['started', 'stopped:released']);
    await leads(b, SLOW.leaseDurationMs / 2);
    const waited = performance.now() - releasedAt;
    assert.ok(waited < SLOW.leaseDurationMs / 2, `took over in ${Math.round(waited)} ms, not after the ${SLOW.leaseDurationMs} ms lease`);
    const lease = await getLease(client, ns);
    assert.equal(lease.spec.holderIdentity, 'b');
    assert.equal(lease.spec.leaseTransitions, 1);
    assert.equal(lease.spec.leaseDurationSeconds, 20);
  });

  it('release() with no standby leaves the Lease free: no holder, a 1 s duration, transitions kept', async () => {
    const { client } = await testEnv();
    const ns = await createNamespace(client, 'leader');
    const a = candidate(client, ns, 'a', SLOW);
    await leads(a);
    await a.elector.release();
    const lease = await getLease(client, ns);
    assert.ok(!lease.spec.holderIdentity, `holderIdentity cleared (got ${JSON.stringify(lease.spec.holderIdentity)})`);
    assert.equal(lease.spec.leaseDurationSeconds, 1);
    assert.equal(lease.spec.leaseTransitions, 0);
    assert.match(lease.spec.renewTime, MICROTIME);
    await sleep(2 * SLOW.retryPeriodMs);
    assert.equal((await getLease(client, ns)).spec.holderIdentity, lease.spec.holderIdentity, 'a released elector no longer renews');
  });

  it('a restarted candidate with the same identity resumes its own lease at once without counting a transition', async () => {
    const { client } = await testEnv();
    const ns = await createNamespace(client, 'leader');
    const first = candidate(client, ns, 'pod-0', SLOW);
    await leads(first);
    const before = await getLease(client, ns);
    first.elector.stop();
    const again = candidate(client, ns, 'pod-0', SLOW);
    await leads(again, SLOW.leaseDurationMs / 2);
    const after = await getLease(client, ns);
    assert.equal(after.spec.holderIdentity, 'pod-0');
    assert.equal(after.spec.leaseTransitions, 0);
    assert.equal(after.spec.acquireTime, before.spec.acquireTime);
  });

  it('three candidates never report leadership at the same time, across an expiry and a release', async () => {
    const { client } = await testEnv();
    const ns = await createNamespace(client, 'leader');
    const cands = ['a', 'b', 'c'].map((id) => candidate(client, ns, id));
    let maxTogether = 0;
    const seen = new Set<Candidate>();
    const sampler = setInterval(() => {
      const now = cands.filter((c) => c.elector.isLeader());
      maxTogether = Math.max(maxTogether, now.length);
      for (const c of now) seen.add(c);
    }, 5);
    try {
      const leader = () => eventually('a leader', async () => cands.find((c) => c.elector.isLeader()), 20_000, 10);
      // Each leader holds for a lease duration with every other candidate polling, then goes.
      const first = await leader();
      await sleep(FAST.leaseDurationMs);
      first.elector.stop();
      const second = await leader();
      assert.notEqual(second, first);
      await sleep(FAST.leaseDurationMs);
      await second.elector.release();
      const third = await leader();
      assert.ok(third !== first && third !== second);
      await sleep(FAST.leaseDurationMs);
    } finally {
      clearInterval(sampler);
    }
    assert.equal(maxTogether, 1, 'at most one leader at any sample');
    assert.equal(seen.size, 3, 'each candidate led in turn');
    assert.equal((await getLease(client, ns)).spec.leaseTransitions, 2);
  });

  it('a leader that cannot renew stops leading within renewDeadline, before a standby takes over', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'leader');
    await env.client.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
      body: { metadata: { name: 'leases' }, rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }] },
    });
    await env.client.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
      body: { metadata: { name: 'leases' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'leases' }, subjects: [{ kind: 'ServiceAccount', name: 'controller', namespace: ns }] },
    });
    const sa = await serviceAccountClient(env, ns, 'controller');
    const a = candidate(sa.client, ns, 'a');
    await leads(a);
    const b = candidate(env.client, ns, 'b');
    await eventually('b to observe a', async () => b.elector.observedLeader() === 'a', 10_000, 25);

    // Revoke a's rights: its renewals now fail with 403.
    const revokedAt = performance.now();
    await env.client.request('DELETE', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/leases`);
    await eventually('a to stop leading', async () => a.calls.includes('stopped:lost'), FAST.renewDeadlineMs + 10_000, 25);
    const lostAt = a.at[a.calls.indexOf('stopped:lost')]!;
    assert.ok(lostAt - revokedAt <= FAST.renewDeadlineMs + 3_000, `a stopped ${Math.round(lostAt - revokedAt)} ms after its rights were revoked`);
    assert.equal(a.elector.isLeader(), false);

    await leads(b, 20_000);
    const startedAt = b.at[b.calls.indexOf('started')]!;
    assert.ok(lostAt < startedAt, 'a stopped leading before b started');
    assert.equal((await getLease(env.client, ns)).spec.holderIdentity, 'b');
  });

  it('a leader whose Lease is taken over by another holder stops leading at its next renewal, without waiting for the deadline', async () => {
    const { client } = await testEnv();
    const ns = await createNamespace(client, 'leader');
    const a = candidate(client, ns, 'a', SLOW);
    await leads(a);
    const lease = await getLease(client, ns);
    const takenAt = performance.now();
    await client.request('PUT', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/keyvault-reloader`, {
      body: { ...lease, spec: { ...lease.spec, holderIdentity: 'intruder', leaseDurationSeconds: 60 } },
    });
    await eventually('a to stop leading', async () => a.calls.includes('stopped:lost'), SLOW.renewDeadlineMs / 2, 25);
    assert.ok(a.at[1]! - takenAt < SLOW.renewDeadlineMs / 2);
    const until = performance.now() + 4 * SLOW.retryPeriodMs;
    while (performance.now() < until) {
      assert.equal(a.elector.isLeader(), false, 'a does not take back a valid lease');
      await sleep(50);
    }
    assert.equal((await getLease(client, ns)).spec.holderIdentity, 'intruder');
    assert.equal(a.elector.observedLeader(), 'intruder');
  });
});
