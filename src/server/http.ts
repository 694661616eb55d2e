// The controller's HTTP edge: liveness, readiness and Prometheus metrics on
// one plain node:http server. Probes answer from callbacks that the caller
// owns, so this file knows nothing about what "healthy" means.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { http } from '../core/node-http.ts';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.ts';
import type { Metrics } from './metrics.ts';

export interface ProbeResult {
  ok: boolean;
  detail: string;
}

export interface HttpServerOptions {
  host: string;
  /** 0 picks any free port; the one chosen is returned. */
  port: number;
  metrics: Metrics;
  healthy: () => ProbeResult;
  ready: () => ProbeResult;
  log: Logger;
}

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const server = http.createServer((req, res) => {
    handle(opts, req, res).catch((err: unknown) => {
      opts.log.error({ err: (err as Error).message, path: req.url }, 'http handler failed');
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const hint = err.code === 'EADDRINUSE' ? ': the port is taken; choose another with --health-port (0 picks a free one)' : '';
      reject(new Error(`cannot listen on ${opts.host}:${opts.port}: ${err.message}${hint}`));
    };
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => opts.log.error({ err: err.message }, 'http server error'));

  const port = (server.address() as AddressInfo).port;
  opts.log.info({ host: opts.host, port }, 'serving /healthz, /readyz and /metrics');

  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Scrapers keep connections alive; without this close() would wait for them.
        server.closeAllConnections();
      }),
  };
}

async function handle(opts: HttpServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const probe = path === '/healthz' ? opts.healthy : path === '/readyz' ? opts.ready : undefined;
  if (!probe && path !== '/metrics') {
    send(res, 404, 'not found: try /healthz, /readyz or /metrics\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    send(res, 405, `method ${req.method} not allowed: use GET\n`);
    return;
  }
  if (probe) {
    let result: ProbeResult;
    try {
      result = probe();
    } catch (err) {
      result = { ok: false, detail: `probe failed: ${(err as Error).message}` };
    }
    send(res, result.ok ? 200 : 503, result.ok ? 'ok\n' : `${result.detail}\n`);
    return;
  }
  const text = await opts.metrics.registry.metrics();
  send(res, 200, text, opts.metrics.registry.contentType);
}

function send(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}
