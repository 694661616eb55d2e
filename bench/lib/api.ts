// The benchmark's own writer: a keep-alive connection pool to the API server
// as admin. The benchmark is the load generator, so it must not pay a TLS
// handshake per request (that would cap how fast it can seed objects or fire
// a burst); the controller under test uses the product's KubeClient.
import { readFileSync } from 'node:fs';
import { Agent, fetch } from 'undici';

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface Api {
  request<T = any>(method: string, path: string, body?: unknown, contentType?: string): Promise<T>;
  close(): Promise<void>;
}

export function createApi(opts: { server: string; caFile: string; token: string; connections?: number }): Api {
  const dispatcher = new Agent({ connect: { ca: readFileSync(opts.caFile) }, connections: opts.connections ?? 64, keepAliveTimeout: 30_000 });
  return {
    async request(method, path, body, contentType = 'application/json') {
      const res = await fetch(opts.server + path, {
        method,
        dispatcher,
        headers: { authorization: `Bearer ${opts.token}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': contentType } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
      const text = await res.text();
      if (!res.ok) throw new ApiError(res.status, `${method} ${path}: HTTP ${res.status}: ${text.slice(0, 300)}`);
      return (text ? JSON.parse(text) : undefined) as any;
    },
    close: () => dispatcher.close(),
  };
}
