// The HTTP edge on a real listening server: probes follow their callbacks,
// /metrics serves the registry, everything else is refused.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/log.ts';
import { startHttpServer, type HttpServer } from '../../src/server/http.ts';
import { createMetrics } from '../../src/server/metrics.ts';

describe('http server', () => {
  const metrics = createMetrics();
  const state = { healthy: { ok: true, detail: 'all informers watching' }, ready: { ok: true, detail: 'synced' }, readyThrows: false };
  let server: HttpServer;
  let base: string;

  before(async () => {
    server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      metrics,
      healthy: () => state.healthy,
      ready: () => {
        if (state.readyThrows) throw new Error('boom');
        return state.ready;
      },
      log: createLogger({ level: 'silent' }),
    });
    base = `http://127.0.0.1:${server.port}`;
  });
  after(() => server.close());

  it('listens on the free port it was given 0 for', () => {
    assert.ok(server.port > 0);
  });

  it('/healthz answers 200 ok while healthy and 503 with the detail when not', async () => {
    let res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 200);
    assert.equal((await res.text()).trim(), 'ok');
    state.healthy = { ok: false, detail: 'informer secrets silent for 400s' };
    res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 503);
    assert.equal((await res.text()).trim(), 'informer secrets silent for 400s');
    state.healthy = { ok: true, detail: '' };
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
  });

  it('/readyz answers 200 ok while ready and 503 with the detail when not, independently of /healthz', async () => {
    state.ready = { ok: false, detail: 'waiting for the first list of secrets' };
    let res = await fetch(`${base}/readyz`);
    assert.equal(res.status, 503);
    assert.equal((await res.text()).trim(), 'waiting for the first list of secrets');
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    state.ready = { ok: true, detail: '' };
    res = await fetch(`${base}/readyz?verbose`);
    assert.equal(res.status, 200);
    assert.equal((await res.text()).trim(), 'ok');
  });

  it('a probe callback that throws answers 503 with the error', async () => {
    state.readyThrows = true;
    try {
      const res = await fetch(`${base}/readyz`);
      assert.equal(res.status, 503);
      assert.match(await res.text(), /probe failed: boom/);
    } finally {
      state.readyThrows = false;
    }
  });

  it('/metrics serves Prometheus text including a counter just incremented', async () => {
    metrics.restarts.inc({ kind: 'StatefulSet', result: 'dry_run' }, 3);
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(text, /^# TYPE keyvault_reloader_restarts_total counter$/m);
    assert.match(text, /^keyvault_reloader_restarts_total\{kind="StatefulSet",result="dry_run"\} 3$/m);
    assert.match(text, /^keyvault_reloader_process_cpu_seconds_total /m);
  });

  it('an unknown path answers 404', async () => {
    for (const p of ['/', '/metricsx', '/healthz/extra']) {
      const res = await fetch(`${base}${p}`);
      assert.equal(res.status, 404, p);
      await res.text();
    }
  });

  it('a method other than GET or HEAD answers 405 with an Allow header', async () => {
    const res = await fetch(`${base}/healthz`, { method: 'POST', body: 'x' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
    await res.text();
    assert.equal((await fetch(`${base}/readyz`, { method: 'HEAD' })).status, 200);
  });

  it('close() returns promptly even with a keep-alive connection open, and the port stops answering', async () => {
    const other = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      metrics: createMetrics({ defaultMetrics: false }),
      healthy: () => ({ ok: true, detail: '' }),
      ready: () => ({ ok: true, detail: '' }),
      log: createLogger({ level: 'silent' }),
    });
    const res = await fetch(`http://127.0.0.1:${other.port}/metrics`, { headers: { connection: 'keep-alive' } });
    await res.text();
    await other.close();
    await assert.rejects(fetch(`http://127.0.0.1:${other.port}/healthz`));
  });

  it('a port already in use fails with an error that says what to do', async () => {
    await assert.rejects(
      startHttpServer({
        host: '127.0.0.1',
        port: server.port,
        metrics: createMetrics({ defaultMetrics: false }),
        healthy: () => ({ ok: true, detail: '' }),
        ready: () => ({ ok: true, detail: '' }),
        log: createLogger({ level: 'silent' }),
      }),
      /--health-port/,
    );
  });
});
