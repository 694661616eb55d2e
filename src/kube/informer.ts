// The one informer, after client-go's SharedIndexInformer: a paginated LIST,
// then a WATCH from the list's resourceVersion, feeding an Indexer (store.ts)
// with what `transform` keeps of each object (a compact projection, never a
// Secret's data) and telling event handlers what changed.
//
// - A watch that expires (410 Gone) re-lists; the result is diffed against the
//   cache, so a re-list replays nothing that did not change.
// - A watch that errs, closes or goes silent is resumed from its resourceVersion.
// - relist() (the namespace scope changed) cuts short whatever the path is
//   doing — a LIST, a watch being opened or running, a pause — and lists again.
// - A resource the cluster does not serve (404: the CRD is not installed, or
//   was deleted while watched) counts as synced and empty: its cache is
//   emptied and it is looked for again now and then.
import type { Logger } from '../log.ts';
import { backoffMs } from '../core/backoff.ts';
import { setTimer, sleep } from '../core/timer.ts';
import { KubeError, METADATA_ONLY, type KubeClient, type WatchEvent } from './client.ts';
import { Indexer, NAMESPACE_INDEX, namespaceOfKey, type Indexers } from './store.ts';

export interface InformerOptions<T> {
  name: string;
  client: KubeClient;
  /** Collection paths, one per watched namespace or one cluster-wide, e.g. /api/v1/secrets. */
  paths: string[];
  labelSelector?: string;
  /** Objects the server need not send at all, e.g. `type!=helm.sh/release.v1`. */
  fieldSelector?: string;
  /** Where transform reads only metadata: ask for PartialObjectMetadata, not whole objects. */
  metadataOnly?: boolean;
  /**
   * What the cache keeps of an object (null drops it, as if it did not
   * exist). The one place where an object's size is decided: keep only what
   * readers use.
   */
  transform: (obj: any) => T | null;
  /** Named index functions, as client-go's Indexers; read with byIndex(). */
  indexers?: Indexers<T>;
  log: Logger;
  pageSize?: number;
  /** A watch with no event for this long is restarted (client-node also aborts after 30 s of silence). */
  silenceMs?: number;
  /** How often a resource the cluster does not serve is looked for again (default 1 min). */
  missingRetryMs?: number;
}

export type InformerEvent<T> =
  | { type: 'add'; key: string; value: T }
  | { type: 'update'; key: string; value: T; old: T }
  | { type: 'delete'; key: string; old: T };

export type EventHandler<T> = (event: InformerEvent<T>) => void;

export function objectKey(obj: { metadata?: { namespace?: string; name?: string } }): string {
  const m = obj.metadata ?? {};
  return m.namespace ? `${m.namespace}/${m.name}` : (m.name ?? '');
}

interface PathState {
  path: string;
  /** The namespace a namespaced path lists ('' for a cluster-wide path). */
  namespace: string;
  resourceVersion: string;
  /** Aborted to end what the path is doing now (relist, silence, stop). */
  round: AbortController;
  lastEventAt: number;
  watching: boolean;
  failures: number;
  /** The resource is not served (a CRD not installed): counts as synced and empty until it appears. */
  missing: boolean;
  /** Set by relist(): the path lists again as soon as its current step is cut short. */
  relist: boolean;
}

/** A failed list or watch is tried again after 250–500 ms, doubling with each failure, at most 30 s. */
const RETRY = { baseMs: 500, capMs: 30_000 };

export class Informer<T> {
  readonly name: string;
  /** Counts of lists, re-lists after 410 and watch restarts, for metrics and tests. */
  readonly stats = { lists: 0, relists: 0, watchRestarts: 0 };
  private readonly opts: InformerOptions<T>;
  private readonly store: Indexer<T>;
  /** resourceVersion per key: an unchanged object seen again (a re-list) is not an event. */
  private readonly versions = new Map<string, string>();
  private readonly handlers = new Set<EventHandler<T>>();
  private readonly states: PathState[];
  private stopped = false;
  private syncedFlag = false;
  private readonly syncWaiters: (() => void)[] = [];

  constructor(opts: InformerOptions<T>) {
    this.opts = opts;
    this.name = opts.name;
    // With several paths (one per namespace) a re-list of one path must find that path's objects.
    const indexers: Indexers<T> = opts.paths.length > 1 ? { ...opts.indexers, [NAMESPACE_INDEX]: (_v, key) => namespaceOfKey(key) } : (opts.indexers ?? {});
    this.store = new Indexer<T>(indexers);
    this.states = opts.paths.map((path) => ({
      path,
      namespace: /\/namespaces\/([^/]+)\//.exec(path)?.[1] ?? '',
      resourceVersion: '',
      round: new AbortController(),
      lastEventAt: Date.now(),
      watching: false,
      failures: 0,
      missing: false,
      relist: false,
    }));
  }

  /** client-go's AddEventHandler: called synchronously, in order, for every change to the cache. Returns a remover. */
  addEventHandler(handler: EventHandler<T>): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  /** Every cached object, iterated live (no copy): for resyncs. Look things up with get() or byIndex(). */
  values(): IterableIterator<T> {
    return this.store.values();
  }

  /** The cached objects under `value` in the index named `index` (see InformerOptions.indexers). */
  byIndex(index: string, value: string): T[] {
    return this.store.byIndex(index, value);
  }

  /** The keys under `value` in the index named `index`. */
  indexKeys(index: string, value: string): ReadonlySet<string> {
    return this.store.indexKeys(index, value);
  }

  get size(): number {
    return this.store.size;
  }

  get synced(): boolean {
    return this.syncedFlag;
  }

  waitForSync(): Promise<void> {
    if (this.syncedFlag) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** Healthy while every path has a watch open, is not served, or is within its retry budget. */
  healthy(now = Date.now()): boolean {
    const limit = 3 * (this.opts.silenceMs ?? 120_000);
    return this.states.every((s) => s.watching || s.missing || now - s.lastEventAt < limit);
  }

  start(): void {
    for (const state of this.states) void this.run(state);
  }

  /** Lists every path again (diffed against the cache, so only real differences become events). */
  relist(): void {
    for (const s of this.states) {
      s.relist = true;
      s.round.abort();
    }
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.states) s.round.abort();
  }

  private async run(state: PathState): Promise<void> {
    let needList = true;
    while (!this.stopped) {
      state.round = new AbortController();
      const signal = state.round.signal;
      if (state.relist) {
        state.relist = false;
        needList = true;
      }
      try {
        if (needList) {
          await this.list(state, signal);
          state.missing = false;
          needList = false;
          this.markSynced();
        }
        const outcome = await this.watchOnce(state, signal);
        if (outcome === 'gone') {
          this.opts.log.info({ informer: this.name, path: state.path }, 'watch expired (410 Gone); re-listing');
          this.stats.relists++;
          needList = true;
        } else if (!state.relist) {
          this.stats.watchRestarts++;
        }
        state.failures = 0;
      } catch (err) {
        if (this.stopped) return;
        // Cut short by relist(): list again at once.
        if (state.relist) continue;
        if (err instanceof KubeError && err.status === 404) {
          // Not served (the Secrets Store CSI driver's CRDs are not installed, or were
          // deleted while watched): nothing to watch, which must not hold readiness back
          // nor keep objects that no longer exist; look again now and then.
          if (!state.missing) this.opts.log.warn({ informer: this.name, path: state.path, retryInMs: this.opts.missingRetryMs ?? 60_000 }, 'resource not served by this cluster (CRD not installed?); treating it as empty and looking again');
          state.missing = true;
          state.resourceVersion = '';
          for (const key of this.keysOf(state)) this.remove(key);
          this.markSynced();
          needList = true;
          await this.pause(this.opts.missingRetryMs ?? 60_000, signal);
          continue;
        }
        state.failures++;
        if (err instanceof KubeError && err.status === 410) needList = true;
        const delay = backoffMs(state.failures, RETRY);
        this.opts.log.warn({ informer: this.name, path: state.path, err: errMessage(err), retryInMs: Math.round(delay) }, 'list/watch failed; retrying');
        await this.pause(delay, signal);
      }
    }
  }

  /** A wait that relist() and stop() cut short, so a stopped informer never keeps the process alive. */
  private pause(ms: number, signal: AbortSignal): Promise<void> {
    return sleep(ms, signal).catch(() => undefined);
  }

  /** The keys a path's objects have in the cache (a copy: the caller removes some). */
  private keysOf(state: PathState): string[] {
    return [...(this.states.length === 1 ? this.store.keys() : this.store.indexKeys(NAMESPACE_INDEX, state.namespace))];
  }

  private async list(state: PathState, signal: AbortSignal): Promise<void> {
    this.stats.lists++;
    const seen = new Map<string, { resourceVersion: string; value: T }>();
    let cont: string | undefined;
    let rv = '';
    do {
      // Items are projected as they arrive: a whole page of objects is never alive at once.
      const page = await this.opts.client.list(
        state.path,
        {
          query: { limit: this.opts.pageSize ?? 500, continue: cont, labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector },
          accept: this.opts.metadataOnly ? METADATA_ONLY.list : undefined,
          signal,
        },
        (item) => {
          const value = this.opts.transform(item);
          if (value !== null) seen.set(objectKey(item), { resourceVersion: item.metadata?.resourceVersion ?? '', value });
        },
      );
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
    } while (cont);

    // Diff against what this path held: only real differences become events.
    for (const key of this.keysOf(state)) {
      if (!seen.has(key)) this.remove(key);
    }
    for (const [key, entry] of seen) this.upsert(key, entry.resourceVersion, entry.value);
    state.resourceVersion = rv;
    state.lastEventAt = Date.now();
  }

  private watchOnce(state: PathState, signal: AbortSignal): Promise<'closed' | 'gone'> {
    if (signal.aborted) return Promise.resolve('closed');
    return new Promise((resolve, reject) => {
      let gone = false;
      let settled = false;
      const silenceMs = this.opts.silenceMs ?? 120_000;
      const finish = (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(watchdog);
        signal.removeEventListener('abort', onAbort);
        state.watching = false;
        if (gone) resolve('gone');
        else if (err && !this.stopped && !state.relist && !isTimeout(err)) reject(err);
        else resolve('closed');
      };
      // relist() or stop(): the client closes the watch (or never opens it) and reports null.
      const onAbort = () => finish(null);
      signal.addEventListener('abort', onAbort, { once: true });
      // The watchdog wakes when the watch would have been silent for silenceMs, not on a
      // fixed tick: an idle controller's informers then wake about once per bookmark
      // (the API server sends one a minute), not every few seconds each.
      let watchdog: NodeJS.Timeout;
      const watch = () => {
        const silentFor = Date.now() - state.lastEventAt;
        if (silentFor > silenceMs) {
          this.opts.log.warn({ informer: this.name, path: state.path, silentForMs: silentFor }, 'watch silent; restarting it');
          state.round.abort();
          return;
        }
        watchdog = setTimer(watch, silenceMs - silentFor + 1);
      };
      watchdog = setTimer(watch, silenceMs + 1);
      state.lastEventAt = Date.now();
      this.opts.client
        .watch(
          state.path,
          {
            resourceVersion: state.resourceVersion,
            allowWatchBookmarks: true,
            labelSelector: this.opts.labelSelector,
            fieldSelector: this.opts.fieldSelector,
            // Let the server end the watch now and then; we resume from the last resourceVersion.
            timeoutSeconds: 240 + Math.floor(Math.random() * 240),
          },
          (e: WatchEvent) => {
            if (settled) return;
            state.lastEventAt = Date.now();
            state.watching = true;
            if (e.type === 'ERROR') {
              if (e.object?.code === 410) gone = true;
              else this.opts.log.warn({ informer: this.name, status: e.object?.message }, 'watch error event');
              state.round.abort();
              return;
            }
            const rv = e.object?.metadata?.resourceVersion;
            if (rv) state.resourceVersion = rv;
            if (e.type === 'BOOKMARK') return;
            const key = objectKey(e.object);
            if (e.type === 'DELETED') {
              this.remove(key);
              return;
            }
            const value = this.opts.transform(e.object);
            if (value === null) this.remove(key);
            else this.upsert(key, rv ?? '', value);
          },
          (err: unknown) => {
            if (err && (err as { statusCode?: number }).statusCode === 410) gone = true;
            finish(err);
          },
          { accept: this.opts.metadataOnly ? METADATA_ONLY.watch : undefined, signal },
        )
        .then(() => {
          if (!settled) state.watching = true;
        }, finish);
    });
  }

  private upsert(key: string, resourceVersion: string, value: T): void {
    if (this.versions.get(key) === resourceVersion && this.store.has(key)) return;
    this.versions.set(key, resourceVersion);
    const old = this.store.set(key, value);
    this.dispatch(old === undefined ? { type: 'add', key, value } : { type: 'update', key, value, old });
  }

  private remove(key: string): void {
    const old = this.store.delete(key);
    this.versions.delete(key);
    if (old !== undefined) this.dispatch({ type: 'delete', key, old });
  }

  private dispatch(event: InformerEvent<T>): void {
    for (const handler of this.handlers) {
      try {
        handler(event);
      } catch (err) {
        this.opts.log.error({ informer: this.name, key: event.key, err: errMessage(err) }, 'informer event handler threw');
      }
    }
  }

  private markSynced(): void {
    if (this.syncedFlag || !this.states.every((s) => s.resourceVersion !== '' || s.missing)) return;
    this.syncedFlag = true;
    this.syncWaiters.splice(0).forEach((f) => f());
  }
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
}

export function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
