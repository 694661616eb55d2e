// The one way this project talks to the API server: JSON requests and watch
// streams over the connection settings of a KubeConfig (client-node handles
// auth and TLS). Raw paths keep CRDs, patches and pagination uniform and
// under our control; objects are typed with client-node's models.
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { fetch } from 'undici';
import { RequestContext, HttpMethod } from '@kubernetes/client-node';

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

export type WatchEvent = { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'; object: any };

export interface KubeClient {
  readonly config: KubeConfig;
  /** Counts requests by verb, for metrics and for benchmarks that assert "no LIST per event". */
  readonly onRequest: Set<(verb: string, path: string) => void>;
  request<T = any>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, opts?: RequestOptions): Promise<T>;
  watch(path: string, query: Record<string, string | number | boolean | undefined>, onEvent: (e: WatchEvent) => void, onDone: (err: unknown) => void): Promise<AbortController>;
}

export function loadKubeConfig(file?: string, context?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  if (context) kc.setCurrentContext(context);
  if (!kc.getCurrentCluster()) throw new Error('no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a pod');
  return kc;
}

export function createKubeClient(config: KubeConfig): KubeClient {
  const server = config.getCurrentCluster()?.server;
  if (!server) throw new Error('the kubeconfig has no current cluster');
  const watcher = new Watch(config);
  const onRequest = new Set<(verb: string, path: string) => void>();
  const notify = (verb: string, path: string) => onRequest.forEach((f) => f(verb, path));

  return {
    config,
    onRequest,
    async request(method, path, opts = {}) {
      const url = new URL(server + path);
      for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
      const ctx = new RequestContext(url.toString(), method as HttpMethod);
      await config.applySecurityAuthentication(ctx);
      const headers: Record<string, string> = { ...ctx.getHeaders(), accept: opts.accept ?? 'application/json' };
      let body: string | undefined;
      if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] = opts.contentType ?? 'application/json';
      }
      notify(verbOf(method, path), path);
      const res = await fetch(url, { method, headers, body, dispatcher: ctx.getDispatcher(), signal: opts.signal ?? AbortSignal.timeout(30_000) });
      const text = await res.text();
      if (!res.ok) {
        let reason = res.statusText;
        let message = text;
        try {
          const status = JSON.parse(text) as { reason?: string; message?: string };
          reason = status.reason ?? reason;
          message = status.message ?? message;
        } catch {
          // Not a Status object.
        }
        throw new KubeError(res.status, reason, `${method} ${path}: ${res.status} ${reason}: ${message}`);
      }
      return (text ? JSON.parse(text) : undefined) as any;
    },
    async watch(path, query, onEvent, onDone) {
      notify('WATCH', path);
      return watcher.watch(path, query, (type, object) => onEvent({ type: type as WatchEvent['type'], object }), onDone);
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
