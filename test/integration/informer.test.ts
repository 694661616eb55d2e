// The informer against the real API server: relist() is never lost, whatever
// the path is doing when it lands (a paginated LIST, a watch being opened),
// and a CRD deleted while watched empties the cache instead of looping on 404.
// Slow LISTs and watches come from the fault-injecting proxy in front of it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKubeClient, KubeError, loadKubeConfig, type KubeClient } from '../../src/kube/client.ts';
import { Informer } from '../../src/kube/informer.ts';
import { createLogger } from '../../src/log.ts';
import { createNamespace, eventually, testEnv } from '../helpers/env.ts';
import { captureLog } from '../helpers/log.ts';
import { proxiedKubeconfig } from '../helpers/proxy.ts';
import { putSecret } from '../helpers/workloads.ts';

const silent = createLogger({ level: 'silent' });

/** An informer over a namespace's Secrets that keeps the names `allowed` lets through, as the namespace scope filters. */
function secretNames(client: KubeClient, ns: string, allowed: Set<string>, extra: { pageSize?: number } = {}) {
  return new Informer<string>({
    name: 'test-secrets',
    client,
    paths: [`/api/v1/namespaces/${ns}/secrets`],
    log: silent,
    transform: (o) => (allowed.has(o.metadata.name) ? o.metadata.name : null),
    ...extra,
  });
}

describe('informer: relist() is never lost', () => {
  it('a relist() that lands between the pages of a LIST lists again at once, so objects of the first page are judged by the new scope', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'relist-list');
    await putSecret(env.client, ns, 'a', { v: '1' });
    await putSecret(env.client, ns, 'b', { v: '1' });
    const { proxy, file } = await proxiedKubeconfig(env, 'relist-list');
    const path = `/api/v1/namespaces/${ns}/secrets`;
    let secondPage = false;
    // The second page of the first LIST is slow; later requests pass untouched.
    proxy.rule = (req) => {
      if (req.method !== 'GET' || req.isWatch || req.path !== path || !req.query.has('continue') || secondPage) return undefined;
      secondPage = true;
      return { kind: 'delay', ms: 2000 };
    };
    const allowed = new Set<string>();
    const informer = secretNames(createKubeClient(loadKubeConfig(file)), ns, allowed, { pageSize: 1 });
    informer.start();
    try {
      await eventually('the LIST to reach its second page', async () => secondPage);
      // The scope changes while the LIST is half done: "a" was already judged out.
      allowed.add('a').add('b');
      informer.relist();
      await eventually('both Secrets in the cache', async () => informer.get(`${ns}/a`) && informer.get(`${ns}/b`), 10_000);
      assert.equal(informer.size, 2);
    } finally {
      informer.stop();
      await proxy.close();
    }
  });

  it('a relist() that lands while a watch is being opened lists again at once instead of after the watch ends', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'relist-watch');
    await putSecret(env.client, ns, 'a', { v: '1' });
    await putSecret(env.client, ns, 'b', { v: '1' });
    const { proxy, file } = await proxiedKubeconfig(env, 'relist-watch');
    const path = `/api/v1/namespaces/${ns}/secrets`;
    let watchOpening = false;
    proxy.rule = (req) => {
      if (!req.isWatch || req.path !== path || watchOpening) return undefined;
      watchOpening = true;
      return { kind: 'delay', ms: 3000 };
    };
    const allowed = new Set<string>();
    const informer = secretNames(createKubeClient(loadKubeConfig(file)), ns, allowed);
    informer.start();
    try {
      await informer.waitForSync();
      assert.equal(informer.size, 0, 'nothing in scope yet');
      await eventually('the watch to be opening', async () => watchOpening);
      allowed.add('a').add('b');
      informer.relist();
      // Unfixed, the re-list waited for the watch to end: 4 to 8 minutes.
      await eventually('both Secrets in the cache', async () => informer.size === 2, 10_000);
      const lists = proxy.log.filter((e) => e.method === 'GET' && e.path === path).length;
      assert.equal(lists, 2, 'one LIST at the start and one for the relist()');
    } finally {
      informer.stop();
      await proxy.close();
    }
  });
});

describe('informer: a CRD deleted while watched', () => {
  it('empties the cache, stays healthy and synced without looping on 404, and picks the resource up when it is served again', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'crd-gone');
    const group = `t${randomBytes(4).toString('hex')}.kvr.test`;
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `widgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    };
    const crdPath = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.${group}`;
    const widgets = `/apis/${group}/v1/namespaces/${ns}/widgets`;
    const createCrd = async () => {
      await env.client.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: crd });
      await eventually('the CRD to be served', async () => env.client.request('GET', widgets).then(() => true, () => false));
    };
    const widget = (name: string) => env.client.request('POST', widgets, { body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name } } });
    await createCrd();
    await widget('w1');
    await widget('w2');

    const captured = captureLog('debug');
    const silenceMs = 1000;
    const informer = new Informer<string>({ name: 'widgets', client: env.client, paths: [widgets], log: captured.log, silenceMs, missingRetryMs: 500, transform: (o) => o.metadata.name });
    informer.start();
    try {
      await informer.waitForSync();
      assert.equal(informer.size, 2);
      await env.client.request('DELETE', crdPath);
      await eventually('the CRD to be gone', async () => env.client.request('GET', crdPath).then(() => false, (err) => err instanceof KubeError && err.status === 404), 60_000);
      await eventually('the cache to be empty', async () => informer.size === 0, 10_000);
      // Unfixed, the watch was retried on 404 for ever: unhealthy after 3 silences, with a warning each time.
      const until = Date.now() + 4 * silenceMs;
      while (Date.now() < until) {
        assert.ok(informer.healthy(), 'healthy while the resource is not served');
        await sleep(100);
      }
      assert.ok(informer.synced);
      assert.equal(captured.withMsg('list/watch failed; retrying').length, 0, 'a resource that is not served is not a failure');
      assert.equal(captured.withMsg('resource not served by this cluster (CRD not installed?); treating it as empty and looking again').length, 1, 'said once');

      await createCrd();
      await widget('w3');
      await eventually('the new widget in the cache', async () => informer.get(`${ns}/w3`), 20_000);
      assert.equal(informer.size, 1);
    } finally {
      informer.stop();
      await env.client.request('DELETE', crdPath).catch(() => undefined);
    }
  });
});
