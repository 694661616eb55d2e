// The egress proxy of the local environment, as AKS's HTTP-proxy feature puts
// one in front of a cluster: an HTTP CONNECT proxy that clients reach through
// HTTPS_PROXY. It tunnels only to the names the environment serves (routing
// each to the listener that plays that name) and refuses everything else
// with 403, so a request that would have left the machine fails loudly
// instead of hanging. Each CONNECT is recorded: tests prove with it that a
// client really went through the proxy.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ConnectRecord {
  /** host:port as the client asked for it. */
  target: string;
  host: string;
  port: number;
  at: number;
  /** 200 when tunnelled; 403 for a name not served; 502 when its listener is down. */
  status: number;
}

export interface EgressProxy {
  /** http://127.0.0.1:<port>, the value for HTTPS_PROXY. */
  readonly url: string;
  readonly connects: readonly ConnectRecord[];
  close(): Promise<void>;
}

export interface EgressProxyOptions {
  /** Where a CONNECT to host:port goes, or undefined when the name is not served. */
  route(host: string, port: number): { host: string; port: number } | undefined;
  /** What the proxy serves, for the refusal's message (e.g. "login.microsoftonline.com:443, *.vault.azure.net:443"). */
  serves: string;
}

export async function startEgressProxy(opts: EgressProxyOptions): Promise<EgressProxy> {
  const connects: ConnectRecord[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    // Plain-HTTP proxying would carry requests in the clear; nothing here needs it.
    res.writeHead(405, { 'content-type': 'text/plain', allow: 'CONNECT' });
    res.end(`keyvault-reloader local egress proxy: only CONNECT is served (to ${opts.serves}); got ${req.method} ${req.url}\n`);
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    const target = req.url ?? '';
    const { host, port } = splitHostPort(target);
    const record: ConnectRecord = { target, host, port, at: Date.now(), status: 0 };
    connects.push(record);
    const refuse = (status: number, reason: string, message: string) => {
      record.status = status;
      client.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nkeyvault-reloader local egress proxy: ${message}\n`);
    };
    const to = host === '' ? undefined : opts.route(host.toLowerCase(), port);
    if (to === undefined) return refuse(403, 'Forbidden', `${target} is not served here (it serves ${opts.serves})`);
    const upstream = net.connect(to.port, to.host);
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.once('connect', () => {
      record.status = 200;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', (err) => {
      if (record.status === 0) refuse(502, 'Bad Gateway', `${target} is down (${(err as NodeJS.ErrnoException).code ?? err.message})`);
      else client.destroy();
    });
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connects,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await closed;
    },
  };
}

function splitHostPort(target: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(target);
  if (!m) return { host: '', port: 0 };
  return { host: m[1] ?? '', port: Number(m[2]) };
}
