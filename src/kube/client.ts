// The one way this project talks to the API server: JSON requests and watch
// streams over node:https with a keep-alive agent. Raw paths keep CRDs,
// patches and pagination uniform and under our control; objects are typed
// with client-node's models (types only: erased at run time).
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import { http } from '../core/node-http.ts';
import { createInterface } from 'node:readline';
import { loadConnection, type Connection } from './connection.ts';
import { ListSplitter } from './list-stream.ts';

export const PATCH = {
  strategicMerge: 'application/strategic-merge-patch+json',
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
} as const;

export class KubeError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  accept?: string;
  signal?: AbortSignal;
}

/** What a LIST answers besides its items. */
export interface ListMeta {
  metadata: { resourceVersion: string; continue?: string };
}

/**
 * Ask for PartialObjectMetadata (apiVersion meta.k8s.io/v1): name, namespace, labels,
 * annotations, ownerReferences, resourceVersion, and no spec, status or data.
 */
export const METADATA_ONLY = {
  list: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1',
  watch: 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1',
} as const;

export type WatchEvent = { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'; object: any };

export interface KubeClient {
  readonly connection: Connection;
  /** Counts requests by verb, for metrics and for benchmarks that assert "no LIST per event". */
  readonly onRequest: Set<(verb: string, path: string) => void>;
  request<T = any>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, opts?: RequestOptions): Promise<T>;
  /** One LIST page, its items handed to onItem one at a time as they arrive, never the whole page at once. */
  list(path: string, opts: RequestOptions, onItem: (item: any) => void): Promise<ListMeta>;
  /**
   * Resolves once the server has accepted the watch (or it failed, reported through onDone).
   * Aborting `signal` ends it at any stage, opening included; onDone then gets null.
   */
  watch(path: string, query: Record<string, string | number | boolean | undefined>, onEvent: (e: WatchEvent) => void, onDone: (err: unknown) => void, opts?: { accept?: string; signal?: AbortSignal }): Promise<AbortController>;
}

export function loadKubeConfig(file?: string, context?: string): Connection {
  return loadConnection(file, context);
}

const REQUEST_TIMEOUT_MS = 30_000;

export function createKubeClient(connection: Connection): KubeClient {
  const onRequest = new Set<(verb: string, path: string) => void>();
  const notify = (verb: string, path: string) => onRequest.forEach((f) => f(verb, path));
  const transport = connection.server.startsWith('https:') ? https : http;

  const url = (path: string, query: Record<string, string | number | boolean | undefined> = {}) => {
    const u = new URL(connection.server + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, String(v));
    return u;
  };

  const open = async (method: string, u: URL, headers: Record<string, string>, signal: AbortSignal, body?: string) => {
    const auth = await connection.headers();
    return new Promise<IncomingMessage>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      // Aborting destroys the request, whose errors every caller listens for; the listener
      // goes once the exchange is over, so a late timeout never touches a finished request.
      const req = transport.request(u, { method, agent: connection.agent, headers: { ...auth, ...headers } }, (res) => {
        res.on('close', () => signal.removeEventListener('abort', onAbort));
        resolve(res);
      });
      const onAbort = () => req.destroy();
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      });
      req.end(body);
    });
  };

  const readText = (res: IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', reject);
    });

  const statusError = (method: string, path: string, status: number, text: string) => {
    let reason = http.STATUS_CODES[status] ?? 'Error';
    let message = text;
    try {
      const s = JSON.parse(text) as { reason?: string; message?: string };
      reason = s.reason ?? reason;
      message = s.message ?? message;
    } catch {
      // Not a Status object.
    }
    return new KubeError(status, reason, `${method} ${path}: ${status} ${reason}: ${message}`);
  };

  return {
    connection,
    onRequest,
    async request(method, path, opts = {}) {
      const headers: Record<string, string> = { accept: opts.accept ?? 'application/json' };
      let body: string | undefined;
      if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] = opts.contentType ?? 'application/json';
        headers['content-length'] = String(Buffer.byteLength(body));
      }
      notify(verbOf(method, path), path);
      const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
      const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
      const res = await open(method, url(path, opts.query), headers, signal, body);
      const text = await readText(res);
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) throw statusError(method, path, status, text);
      return (text ? JSON.parse(text) : undefined) as any;
    },
    async list(path, opts, onItem) {
      notify('LIST', path);
      const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
      const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
      const res = await open('GET', url(path, opts.query), { accept: opts.accept ?? 'application/json' }, signal);
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) throw statusError('GET', path, status, await readText(res));
      return new Promise<ListMeta>((resolve, reject) => {
        const splitter = new ListSplitter((json) => onItem(JSON.parse(json)));
        res.on('data', (chunk: Buffer) => {
          try {
            splitter.write(chunk);
          } catch (err) {
            res.destroy();
            reject(err);
          }
        });
        res.on('end', () => {
          try {
            resolve(splitter.end<ListMeta>());
          } catch (err) {
            reject(err instanceof SyntaxError ? new Error(`GET ${path}: the list response is not valid JSON: ${err.message}`) : err);
          }
        });
        res.on('error', reject);
      });
    },
    async watch(path, query, onEvent, onDone, opts = {}) {
      const signal = opts.signal;
      notify('WATCH', path);
      const abort = new AbortController();
      const onAbort = () => abort.abort();
      if (signal?.aborted) abort.abort();
      else signal?.addEventListener('abort', onAbort, { once: true });
      let done = false;
      const finish = (err: unknown) => {
        if (done) return;
        done = true;
        signal?.removeEventListener('abort', onAbort);
        abort.abort();
        onDone(err);
      };
      try {
        const res = await open('GET', url(path, { ...query, watch: 'true' }), { accept: opts.accept ?? 'application/json' }, abort.signal);
        if (res.statusCode !== 200) {
          const text = await readText(res).catch(() => '');
          const err = statusError('WATCH', path, res.statusCode ?? 0, text);
          finish(Object.assign(err, { statusCode: err.status }));
          return abort;
        }
        const lines = createInterface({ input: res, crlfDelay: Infinity });
        // readline re-emits the stream's errors; the stream's own handler below reports them.
        lines.on('error', () => undefined);
        lines.on('line', (line) => {
          if (!line) return;
          let e: WatchEvent;
          try {
            e = JSON.parse(line) as WatchEvent;
          } catch {
            return;
          }
          onEvent(e);
        });
        res.on('error', (err) => finish(abort.signal.aborted ? null : err));
        res.on('close', () => finish(null));
      } catch (err) {
        finish(abort.signal.aborted ? null : err);
      }
      return abort;
    },
  };
}

function verbOf(method: string, path: string): string {
  if (method !== 'GET') return method;
  // A GET on a collection is a LIST: /api/v1/secrets, /apis/apps/v1/namespaces/x/deployments.
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  let rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  if (rest[0] === 'namespaces' && rest.length >= 3) rest = rest.slice(2);
  return rest.length === 1 ? 'LIST' : 'GET';
}
