// The controller's Prometheus metrics: one registry per createMetrics() call
// (never prom-client's global one, so tests and several controllers in one
// process keep separate counts), typed handles for the code that records,
// and METRICS_DOC, the table the README and a unit test are held to.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { KubeClient } from '../kube/client.ts';

export const METRICS_PREFIX = 'keyvault_reloader_';

/** prom-client's process and Node.js metrics carry these prefixes; they are documented by reference, not one by one. */
export const DEFAULT_METRICS_PREFIXES = [`${METRICS_PREFIX}process_`, `${METRICS_PREFIX}nodejs_`] as const;

export type RestartResult = 'restarted' | 'failed' | 'dry_run' | 'manual_required';
export type DeferReason = 'settle' | 'rate_limited' | 'paused' | 'rollout_in_progress' | 'cap' | 'invalid_annotation' | 'conflict';

export interface MetricDoc {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  labels: readonly string[];
  help: string;
}

export const METRICS_DOC: readonly MetricDoc[] = [
  {
    name: 'keyvault_reloader_restarts_total',
    type: 'counter',
    labels: ['kind', 'result'],
    help: 'Workload restarts by workload kind and result (restarted; failed: a refused patch attempt; dry_run; manual_required: a restart would replace no pod, OnDelete or partition, so a ManualRestartRequired Warning was given instead).',
  },
  {
    name: 'keyvault_reloader_reaction_seconds',
    type: 'histogram',
    labels: [],
    help: 'Time from the Secret event to the restart patch being sent.',
  },
  { name: 'keyvault_reloader_queue_depth', type: 'gauge', labels: [], help: 'Workloads waiting in the restart queue.' },
  {
    name: 'keyvault_reloader_rollouts',
    type: 'gauge',
    labels: ['state'],
    help: 'Rollouts this controller started that have not finished, by state (rolling: counted against --max-in-flight; stalled: past the Deployment progress deadline or --rollout-timeout, no longer counted).',
  },
  {
    name: 'keyvault_reloader_deferred_total',
    type: 'counter',
    labels: ['reason'],
    help: 'Restarts postponed, by reason (settle, rate_limited, paused, rollout_in_progress, cap, invalid_annotation: held until a malformed annotation is fixed, conflict: the workload changed under a patch, which is decided again).',
  },
  {
    name: 'keyvault_reloader_events_total',
    type: 'counter',
    labels: ['type', 'reason'],
    help: 'Kubernetes Events emitted, by event type and reason.',
  },
  {
    name: 'keyvault_reloader_watch_restarts_total',
    type: 'counter',
    labels: ['informer'],
    help: 'Watches that ended (closed, erred or went silent) and were resumed, by informer.',
  },
  {
    name: 'keyvault_reloader_relists_total',
    type: 'counter',
    labels: ['informer'],
    help: 'Full re-lists after a watch expired (410 Gone), by informer.',
  },
  { name: 'keyvault_reloader_leader', type: 'gauge', labels: [], help: '1 while this replica holds the leader Lease, else 0.' },
  {
    name: 'keyvault_reloader_keyvault_requests_total',
    type: 'counter',
    labels: ['vault', 'operation', 'result'],
    help: 'Azure Key Vault requests by vault, operation and result.',
  },
  {
    name: 'keyvault_reloader_keyvault_request_seconds',
    type: 'histogram',
    labels: ['operation'],
    help: 'Azure Key Vault request duration by operation.',
  },
  {
    name: 'keyvault_reloader_sync_errors_total',
    type: 'counter',
    labels: ['namespace', 'class', 'reason'],
    help: 'Failed syncs of a SecretProviderClass into a Secret, by namespace, class and reason.',
  },
  {
    name: 'keyvault_reloader_sync_last_success_timestamp_seconds',
    type: 'gauge',
    labels: ['namespace', 'class'],
    help: 'Unix time of the last successful sync of a SecretProviderClass, by namespace and class.',
  },
  {
    name: 'keyvault_reloader_sync_cache_entries',
    type: 'gauge',
    labels: ['cache'],
    help: 'Entries the sync engine holds in memory, by cache (classes, identities, credentials, tokens, vaults, vault_clients, reads); each goes with the last class that uses it.',
  },
  {
    name: 'keyvault_reloader_secret_writes_total',
    type: 'counter',
    labels: ['result'],
    help: 'Writes of synced Secrets by result.',
  },
  {
    name: 'keyvault_reloader_api_requests_total',
    type: 'counter',
    labels: ['verb'],
    help: 'Kubernetes API requests by verb (GET, LIST, WATCH, POST, PUT, PATCH, DELETE).',
  },
];

/** What an informer counts about itself (cumulative). */
export interface InformerCounts {
  readonly name: string;
  readonly stats: { readonly relists: number; readonly watchRestarts: number };
}

export interface Metrics {
  readonly registry: Registry;
  readonly restarts: Counter<'kind' | 'result'>;
  readonly reactionSeconds: Histogram;
  readonly queueDepth: Gauge;
  readonly rollouts: Gauge<'state'>;
  readonly deferred: Counter<'reason'>;
  readonly events: Counter<'type' | 'reason'>;
  readonly watchRestarts: Counter<'informer'>;
  readonly relists: Counter<'informer'>;
  /** The informers whose watch restarts and re-lists are served; read at scrape time, so no timer runs between scrapes. */
  countInformers(informers: readonly InformerCounts[]): void;
  readonly leader: Gauge;
  readonly keyvaultRequests: Counter<'vault' | 'operation' | 'result'>;
  readonly keyvaultRequestSeconds: Histogram<'operation'>;
  readonly syncErrors: Counter<'namespace' | 'class' | 'reason'>;
  readonly syncLastSuccess: Gauge<'namespace' | 'class'>;
  readonly syncCacheEntries: Gauge<'cache'>;
  /** Sizes read into keyvault_reloader_sync_cache_entries at each scrape. */
  observeSyncCaches(sizes: () => Record<string, number>): void;
  readonly secretWrites: Counter<'result'>;
  readonly apiRequests: Counter<'verb'>;
}

// Reaction spans a cached-event fast path (milliseconds) to a settle window (tens of seconds).
const REACTION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const KEYVAULT_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** How often the event-loop delay is sampled (prom-client's default, 10 ms, wakes the process 100 times a second). */
export const EVENT_LOOP_SAMPLE_MS = 1000;

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  // help and labels come from METRICS_DOC, so the documentation cannot drift from what is served.
  const doc = (name: string) => {
    const d = METRICS_DOC.find((m) => m.name === name);
    if (!d) throw new Error(`metric ${name} is missing from METRICS_DOC`);
    return { name, help: d.help, registers };
  };
  let informers: readonly InformerCounts[] = [];
  const fromInformers = (stat: 'relists' | 'watchRestarts') =>
    function (this: Counter<'informer'>) {
      this.reset();
      for (const i of informers) this.inc({ informer: i.name }, i.stats[stat]);
    };
  let cacheSizes: () => Record<string, number> = () => ({});
  const metrics: Metrics = {
    registry,
    restarts: new Counter({ ...doc('keyvault_reloader_restarts_total'), labelNames: ['kind', 'result'] as const }),
    reactionSeconds: new Histogram({ ...doc('keyvault_reloader_reaction_seconds'), buckets: REACTION_BUCKETS }),
    queueDepth: new Gauge({ ...doc('keyvault_reloader_queue_depth') }),
    rollouts: new Gauge({ ...doc('keyvault_reloader_rollouts'), labelNames: ['state'] as const }),
    deferred: new Counter({ ...doc('keyvault_reloader_deferred_total'), labelNames: ['reason'] as const }),
    events: new Counter({ ...doc('keyvault_reloader_events_total'), labelNames: ['type', 'reason'] as const }),
    watchRestarts: new Counter({ ...doc('keyvault_reloader_watch_restarts_total'), labelNames: ['informer'] as const, collect: fromInformers('watchRestarts') }),
    relists: new Counter({ ...doc('keyvault_reloader_relists_total'), labelNames: ['informer'] as const, collect: fromInformers('relists') }),
    countInformers(list) {
      informers = list;
    },
    leader: new Gauge({ ...doc('keyvault_reloader_leader') }),
    keyvaultRequests: new Counter({ ...doc('keyvault_reloader_keyvault_requests_total'), labelNames: ['vault', 'operation', 'result'] as const }),
    keyvaultRequestSeconds: new Histogram({ ...doc('keyvault_reloader_keyvault_request_seconds'), labelNames: ['operation'] as const, buckets: KEYVAULT_BUCKETS }),
    syncErrors: new Counter({ ...doc('keyvault_reloader_sync_errors_total'), labelNames: ['namespace', 'class', 'reason'] as const }),
    syncLastSuccess: new Gauge({ ...doc('keyvault_reloader_sync_last_success_timestamp_seconds'), labelNames: ['namespace', 'class'] as const }),
    syncCacheEntries: new Gauge({
      ...doc('keyvault_reloader_sync_cache_entries'),
      labelNames: ['cache'] as const,
      collect() {
        for (const [cache, n] of Object.entries(cacheSizes())) this.set({ cache }, n);
      },
    }),
    observeSyncCaches(sizes) {
      cacheSizes = sizes;
    },
    secretWrites: new Counter({ ...doc('keyvault_reloader_secret_writes_total'), labelNames: ['result'] as const }),
    apiRequests: new Counter({ ...doc('keyvault_reloader_api_requests_total'), labelNames: ['verb'] as const }),
  };
  metrics.leader.set(0);
  metrics.queueDepth.set(0);
  for (const state of ['rolling', 'stalled']) metrics.rollouts.set({ state }, 0);
  // prom-client samples event-loop delay every 10 ms by default: a timer that alone
  // costs an idle controller 0.4 CPU-seconds a minute. Once a second still catches
  // a loop blocked for long, which is what the lag metrics are for.
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: METRICS_PREFIX, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  return metrics;
}

/** Counts every request the client makes into keyvault_reloader_api_requests_total; returns the unsubscribe. */
export function countApiRequests(client: KubeClient, metrics: Metrics): () => void {
  const hook = (verb: string) => metrics.apiRequests.inc({ verb });
  client.onRequest.add(hook);
  return () => client.onRequest.delete(hook);
}
