// A small reverse proxy on loopback that produces the faults real servers
// will not produce on demand: 429 with Retry-After, 5xx, dropped connections,
// watches that expire (410) or go silent, a host that goes down. It also
// counts requests, so tests and benchmarks can assert how many reads or LISTs
// really went out (the local Azure's fronts on port 443 are two of these).
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  isWatch: boolean;
}

export type Fault =
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  /** Destroys the client connection without a response. */
  | { kind: 'reset' }
  /** Answers a watch with a 410 Expired ERROR event, as an apiserver does for a too-old resourceVersion. */
  | { kind: 'watch-gone' }
  | { kind: 'delay'; ms: number };

export interface ProxyLogEntry {
  method: string;
  /** The Host header as the client sent it. */
  host: string;
  path: string;
  userAgent: string;
  /** The status sent back (0 for a reset). */
  status: number;
  at: number;
}

export interface FaultProxy {
  readonly url: string;
  readonly port: number;
  /** Every request seen, in order. */
  readonly log: ProxyLogEntry[];
  /** Decides a fault per request; undefined forwards it untouched. */
  rule: ((req: ProxiedRequest) => Fault | undefined) | undefined;
  /** Stops passing bytes on every open streaming response (watches), leaving the connections open and silent. */
  freezeStreams(): void;
  count(filter: (e: ProxyLogEntry) => boolean): number;
  /** Stops accepting connections and drops the open ones, as a host that went down (connections are refused). */
  suspend(): Promise<void>;
  /** Listens again on the same address. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

export interface FaultProxyOptions {
  /** Upstream base URL, e.g. https://127.0.0.1:6443. */
  target: string;
  /** CA that signed the upstream's certificate. */
  targetCa?: string | Buffer;
  /** Serve TLS with this certificate (the Azure SDK sends bearer tokens only over https). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Where to listen (default 127.0.0.1 on a free port). */
  listen?: { host: string; port: number };
  /** Forward the client's Host header instead of the target's, for an upstream that routes by name (vaults, Entra's surfaces). */
  preserveHost?: boolean;
}

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(opts.target);
  const upstreamAgent = target.protocol === 'https:' ? new https.Agent({ ca: opts.targetCa, keepAlive: true }) : new http.Agent({ keepAlive: true });
  const streams = new Set<{ frozen: boolean; res: http.ServerResponse }>();
  const log: FaultProxy['log'] = [];

  const proxy: FaultProxy = {
    url: '',
    port: 0,
    log,
    rule: undefined,
    freezeStreams() {
      for (const s of streams) s.frozen = true;
    },
    count(filter) {
      return log.filter(filter).length;
    },
    suspend: async () => {
      for (const s of streams) s.res.destroy();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
    resume: () => listen(proxy.port),
    close: async () => {
      if (server.listening) await proxy.suspend();
      upstreamAgent.destroy();
    },
  };

  const handler = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const pr: ProxiedRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, isWatch: url.searchParams.get('watch') === 'true' };
    const entry: ProxyLogEntry = { method: pr.method, host: req.headers.host ?? '', path: pr.path + (pr.isWatch ? '?watch' : ''), userAgent: req.headers['user-agent'] ?? '', status: 0, at: Date.now() };
    log.push(entry);
    const fault = proxy.rule?.(pr);
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'status') {
      entry.status = fault.status;
      res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
      res.end(fault.body ?? JSON.stringify({ error: { code: 'InjectedFault', message: `injected ${fault.status}` } }));
      return;
    }
    if (fault?.kind === 'watch-gone') {
      entry.status = 200;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'injected: too old resource version', reason: 'Expired', code: 410 } }) + '\n');
      return;
    }
    if (fault?.kind === 'delay') await new Promise((r) => setTimeout(r, fault.ms));

    const client = target.protocol === 'https:' ? https : http;
    const headers = opts.preserveHost ? req.headers : { ...req.headers, host: target.host };
    const upstream = client.request(
      { protocol: target.protocol, hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent: upstreamAgent },
      (up) => {
        entry.status = up.statusCode ?? 0;
        res.writeHead(up.statusCode ?? 502, up.headers);
        // A watch with nothing to report yet must still reach the client as accepted.
        res.flushHeaders();
        const stream = { frozen: false, res };
        streams.add(stream);
        up.on('data', (chunk) => {
          if (!stream.frozen) res.write(chunk);
        });
        up.on('end', () => {
          streams.delete(stream);
          if (!stream.frozen) res.end();
        });
        up.on('error', () => {
          streams.delete(stream);
          res.destroy();
        });
        res.on('close', () => {
          streams.delete(stream);
          up.destroy();
        });
      },
    );
    upstream.on('error', () => {
      entry.status = 502;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('upstream unreachable');
    });
    req.pipe(upstream);
  };

  const server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, handler) : http.createServer(handler);
  const host = opts.listen?.host ?? '127.0.0.1';
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(opts.listen?.port ?? 0);
  const port = (server.address() as AddressInfo).port;
  Object.assign(proxy, { port, url: `${opts.tls ? 'https' : 'http'}://${host}${port === (opts.tls ? 443 : 80) ? '' : `:${port}`}` });
  return proxy;
}
