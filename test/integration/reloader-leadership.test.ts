// Leadership and retries on the real control plane: a patch queued by a
// leader is not sent once it no longer leads; a standby promoted to leader
// starts with a clean slate; a refused patch (RBAC 403, as a mis-scoped
// install gets) backs off exponentially with one Warning per distinct error.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeClient } from '../../src/kube/client.ts';
import { ANNOTATIONS } from '../../src/reloader/annotations.ts';
import { parseBaseline } from '../../src/reloader/decide.ts';
import { createNamespace, eventually, serviceAccountClient, testEnv } from '../helpers/env.ts';
import { eventsFor, startReloader } from '../helpers/reloader.ts';
import { createDeployment, deployment, getDeployment, putSecret, replicaSetsOf, waitRolledOut } from '../helpers/workloads.ts';

const AUTO = { [ANNOTATIONS.auto]: 'true' };
const envFrom = (secret: string) => ({ containers: [{ name: 'app', image: 'x', envFrom: [{ secretRef: { name: secret } }] }] });

async function adopted(client: KubeClient, ns: string, name: string) {
  return eventually(`${name} adopted`, async () => parseBaseline((await getDeployment(client, ns, name)).metadata?.annotations?.[ANNOTATIONS.baseline]));
}

const isRestartPatch = (verb: string, path: string) => verb === 'PATCH' && path.includes('/deployments/');

describe('reloader: leadership', () => {
  it('patches queued behind the rate cap are not sent once this replica stops leading', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'lost-lead');
    const names = ['app-0', 'app-1', 'app-2', 'app-3'];
    await putSecret(env.client, ns, 'shared', { v: '1' });
    for (const n of names) await createDeployment(env.client, ns, deployment(n, { replicas: 1, annotations: AUTO, pod: envFrom('shared') }));
    for (const n of names) await waitRolledOut(env.client, ns, n);
    let leading = true;
    const r = await startReloader(env, { namespace: ns, restartsPerSecond: 1, settleMs: 0, isLeader: () => leading });
    try {
      for (const n of names) await adopted(env.client, ns, n);
      await eventually('the cache to hold every baseline', async () => names.every((n) => r.controller.workloads.get('Deployment')!.get(`${ns}/${n}`)?.baselineText));
      const patches: string[] = [];
      r.client.onRequest.add((verb, path) => {
        if (!isRestartPatch(verb, path)) return;
        patches.push(path);
        // Leadership ends as the first restart goes out; the other three wait behind the 1/s cap.
        leading = false;
      });
      await putSecret(env.client, ns, 'shared', { v: '2' });
      await eventually('the first restart', async () => patches.length >= 1);
      await sleep(4500);
      await r.controller.idle();
      assert.equal(patches.length, 1, `patches sent after leadership ended: ${patches.slice(1).join(', ')}`);
      let restarted = 0;
      for (const n of names) restarted += (await replicaSetsOf(env.client, ns, n)).length - 1;
      assert.equal(restarted, 1);
    } finally {
      await r.stop();
    }
  });

  it('a standby promoted to leader starts with a clean slate: a change it saw as a standby waits a full settle window from the promotion', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'promoted');
    await putSecret(env.client, ns, 'creds', { v: '1' });
    await createDeployment(env.client, ns, deployment('app', { replicas: 1, annotations: AUTO, pod: envFrom('creds') }));
    await waitRolledOut(env.client, ns, 'app');
    let leading = true;
    const settleMs = 3000;
    const r = await startReloader(env, { namespace: ns, settleMs, isLeader: () => leading });
    try {
      await adopted(env.client, ns, 'app');
      leading = false;
      const before = r.controller.secrets.get(`${ns}/creds`)!.digest;
      await putSecret(env.client, ns, 'creds', { v: '2' });
      await eventually('the standby to see the change', async () => r.controller.secrets.get(`${ns}/creds`)!.digest !== before);
      // Longer than the settle window: a stale pending change would be acted on at once.
      await sleep(settleMs + 1500);
      assert.equal((await replicaSetsOf(env.client, ns, 'app')).length, 1, 'a standby restarts nothing');
      let patchedAt = 0;
      r.client.onRequest.add((verb, path) => {
        if (isRestartPatch(verb, path) && !patchedAt) patchedAt = Date.now();
      });
      leading = true;
      const promotedAt = Date.now();
      r.controller.startLeading();
      await waitRolledOut(env.client, ns, 'app', { replicaSets: 2 });
      assert.ok(patchedAt - promotedAt >= settleMs - 100, `restarted ${patchedAt - promotedAt} ms after the promotion; the settle window is ${settleMs} ms`);
    } finally {
      await r.stop();
    }
  });
});

describe('reloader: refused patches', () => {
  it('a patch refused by RBAC (403) is retried with exponential backoff and one Warning per distinct error, and goes through once the rights are granted', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'forbidden');
    await putSecret(env.client, ns, 'creds', { v: '1' });
    await createDeployment(env.client, ns, deployment('app', { replicas: 1, annotations: AUTO, pod: envFrom('creds') }));
    await createDeployment(env.client, ns, deployment('fresh', { replicas: 1, annotations: AUTO, pod: envFrom('creds') }));
    await waitRolledOut(env.client, ns, 'app');
    await waitRolledOut(env.client, ns, 'fresh');
    // Adopted by a fully privileged reloader first, so that the next one meets a change.
    const admin = await startReloader(env, { namespace: ns });
    await adopted(env.client, ns, 'app');
    await admin.stop();
    await env.client.request('PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/fresh`, { body: { metadata: { annotations: { [ANNOTATIONS.baseline]: null } } }, contentType: 'application/merge-patch+json' });

    // Everything the reloader reads, and Events; but no patch on Deployments.
    const rules = [
      { apiGroups: [''], resources: ['secrets', 'pods'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['apps'], resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['secrets-store.csi.x-k8s.io'], resources: ['secretproviderclasspodstatuses'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
    ];
    const rolePath = `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/reloader`;
    await env.client.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, { body: { metadata: { name: 'reloader' }, rules } });
    await env.client.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
      body: { metadata: { name: 'reloader' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reloader' }, subjects: [{ kind: 'ServiceAccount', name: 'reloader', namespace: ns }] },
    });
    const sa = await serviceAccountClient(env, ns, 'reloader');
    await putSecret(env.client, ns, 'creds', { v: '2' });
    const r = await startReloader(env, { namespace: ns, kubeconfig: sa.kubeconfig, settleMs: 0 });
    const attempts: number[] = [];
    r.client.onRequest.add((verb, path) => {
      if (verb === 'PATCH' && path.endsWith('/deployments/app')) attempts.push(Date.now());
    });
    try {
      await eventually('five refused restarts', async () => attempts.length >= 5, 40_000);
      const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
      // Backoff of 0.5–1 s, 1–2 s, 2–4 s, 4–8 s (plus the request itself); unfixed, every 2–5 s.
      assert.ok(gaps[0]! < 1800, `first retry after ${gaps[0]} ms`);
      assert.ok(gaps[3]! >= 3800, `fourth retry after ${gaps[3]} ms`);
      assert.ok(gaps[3]! > gaps[0]! * 2, `gaps grow: ${gaps.join(', ')} ms`);

      const failed = (await eventsFor(env.client, ns, 'app')).filter((e) => e.reason === 'RestartFailed');
      assert.equal(failed.length, 1, 'one Warning for five refusals of the same kind');
      assert.equal(failed[0]!.type, 'Warning');
      assert.match(failed[0]!.message, /^could not restart after Secret creds changed: PATCH .*: 403 Forbidden: .*cannot patch resource "deployments".*Retried with backoff \(at most every 5m\) until it succeeds/);
      const baseline = await eventually('a BaselineFailed Warning on the workload it could not adopt', async () => (await eventsFor(env.client, ns, 'fresh')).find((e) => e.reason === 'BaselineFailed'));
      assert.match(baseline.message, /^could not record what it depends on \(nothing was restarted\): PATCH .*: 403 Forbidden/);
      assert.equal((await replicaSetsOf(env.client, ns, 'app')).length, 1);

      // Granted: the next retry goes through.
      await env.client.request('PUT', rolePath, { body: { metadata: { name: 'reloader' }, rules: [...rules, { apiGroups: ['apps'], resources: ['deployments'], verbs: ['patch'] }] } });
      await waitRolledOut(env.client, ns, 'app', { replicaSets: 2, timeoutMs: 60_000 });
      await adopted(env.client, ns, 'fresh');
      await sleep(1000);
      await r.controller.idle();
      assert.equal((await eventsFor(env.client, ns, 'app')).filter((e) => e.reason === 'RestartFailed').length, 1);
      assert.equal((await replicaSetsOf(env.client, ns, 'app')).length, 2, 'restarted exactly once');
    } finally {
      await r.stop();
    }
  });
});
