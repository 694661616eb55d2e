// Reads the controller's /metrics (Prometheus text) into numbers the
// scenarios subtract: API requests by verb, restarts, and the reaction
// histogram's buckets.
import type { Bucket } from './stats.ts';

export type Samples = Map<string, number>;

export const VERBS = ['GET', 'LIST', 'WATCH', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export type Verb = (typeof VERBS)[number];
export const WRITE_VERBS: readonly Verb[] = ['POST', 'PUT', 'PATCH', 'DELETE'];

/** `name{labels} value` lines, keyed by `name{labels}` exactly as served. */
export function parseMetrics(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

export function requestsByVerb(s: Samples): Record<Verb, number> {
  const out = {} as Record<Verb, number>;
  for (const v of VERBS) out[v] = s.get(`keyvault_reloader_api_requests_total{verb="${v}"}`) ?? 0;
  return out;
}

export function diffVerbs(after: Record<Verb, number>, before: Record<Verb, number>): Record<Verb, number> {
  const out = {} as Record<Verb, number>;
  for (const v of VERBS) out[v] = after[v] - before[v];
  return out;
}

export function writes(byVerb: Record<Verb, number>): number {
  return WRITE_VERBS.reduce((n, v) => n + byVerb[v], 0);
}

export function restartsStarted(s: Samples): number {
  let n = 0;
  for (const [k, v] of s) if (k.startsWith('keyvault_reloader_restarts_total{') && k.includes('result="restarted"')) n += v;
  return n;
}

/** keyvault_reloader_deferred_total by reason. */
export function deferrals(s: Samples): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of s) {
    const m = /^keyvault_reloader_deferred_total\{reason="([^"]+)"\}$/.exec(k);
    if (m) out[m[1]!] = v;
  }
  return out;
}

export function reactionBuckets(s: Samples): Bucket[] {
  const out: Bucket[] = [];
  for (const [k, v] of s) {
    const m = /^keyvault_reloader_reaction_seconds_bucket\{le="([^"]+)"\}$/.exec(k);
    if (m) out.push({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), count: v });
  }
  return out.sort((a, b) => a.le - b.le);
}

export function diffBuckets(after: Bucket[], before: Bucket[]): Bucket[] {
  return after.map((b) => ({ le: b.le, count: b.count - (before.find((x) => x.le === b.le)?.count ?? 0) }));
}

export interface HeapUse {
  heapUsedMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
}

/** The V8 heap as prom-client's default metrics report it: what part of RSS is JavaScript objects. */
export function heapUse(s: Samples): HeapUse {
  const mib = (k: string) => (s.get(`keyvault_reloader_${k}`) ?? NaN) / 2 ** 20;
  return { heapUsedMiB: mib('nodejs_heap_size_used_bytes'), heapTotalMiB: mib('nodejs_heap_size_total_bytes'), externalMiB: mib('nodejs_external_memory_bytes') };
}
