// The one informer: paginated LIST, then WATCH from the list's
// resourceVersion, keeping only a compact projection of each object (never a
// Secret's data). It re-lists on 410 Gone and diffs the result against its
// cache, so a re-list replays nothing that did not change; it restarts a watch
// that errs, closes or goes silent; and it reports whether it is healthy.
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.ts';
import { KubeError, METADATA_ONLY, type KubeClient, type WatchEvent } from './client.ts';

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
  /** Compact projection; null drops the object (as if it did not exist). */
  transform: (obj: any) => T | null;
  log: Logger;
  pageSize?: number;
  /** A watch with no event for this long is restarted (client-node also aborts after 30 s of silence). */
  silenceMs?: number;
}

export interface Entry<T> {
  key: string;
  resourceVersion: string;
  value: T;
}

export type InformerEvent<T> =
  | { type: 'add'; key: string; value: T }
  | { type: 'update'; key: string; value: T; old: T }
  | { type: 'delete'; key: string; old: T };

export function objectKey(obj: { metadata?: { namespace?: string; name?: string } }): string {
  const m = obj.metadata ?? {};
  return m.namespace ? `${m.namespace}/${m.name}` : (m.name ?? '');
}

interface PathState {
  path: string;
  resourceVersion: string;
  keys: Set<string>;
  abort?: AbortController;
  lastEventAt: number;
  watching: boolean;
  failures: number;
  /** The resource is not served (a CRD not installed): counts as synced and empty until it appears. */
  missing: boolean;
  /** Set by relist(): the next round lists again instead of resuming the watch. */
  relist: boolean;
}

export class Informer<T> {
  readonly name: string;
  readonly events = new EventEmitter<{ event: [InformerEvent<T>] }>();
  private readonly opts: InformerOptions<T>;
  private readonly cache = new Map<string, Entry<T>>();
  private readonly states: PathState[];
  private stopped = false;
  private readonly stopSignal = new AbortController();
  private syncedFlag = false;
  private readonly syncWaiters: (() => void)[] = [];
  /** Counts of re-lists and watch restarts, for metrics and tests. */
  readonly stats = { lists: 0, relists: 0, watchRestarts: 0 };

  constructor(opts: InformerOptions<T>) {
    this.opts = opts;
    this.name = opts.name;
    this.states = opts.paths.map((path) => ({ path, resourceVersion: '', keys: new Set(), lastEventAt: Date.now(), watching: false, failures: 0, missing: false, relist: false }));
  }

  get(key: string): T | undefined {
    return this.cache.get(key)?.value;
  }

  values(): IterableIterator<T> {
    return [...this.cache.values()].map((e) => e.value)[Symbol.iterator]();
  }

  get size(): number {
    return this.cache.size;
  }

  get synced(): boolean {
    return this.syncedFlag;
  }

  waitForSync(): Promise<void> {
    if (this.syncedFlag) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** Healthy while every path has a watch open or is within its retry budget. */
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
      s.abort?.abort();
    }
  }

  stop(): void {
    this.stopped = true;
    this.stopSignal.abort();
    for (const s of this.states) s.abort?.abort();
  }

  private async run(state: PathState): Promise<void> {
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.list(state);
          state.missing = false;
          needList = false;
          this.markSynced();
        }
        const outcome = await this.watchOnce(state);
        if (state.relist) {
          state.relist = false;
          needList = true;
        } else if (outcome === 'gone') {
          this.opts.log.info({ informer: this.name, path: state.path }, 'watch expired (410 Gone); re-listing');
          this.stats.relists++;
          needList = true;
        } else {
          this.stats.watchRestarts++;
        }
        state.failures = 0;
      } catch (err) {
        if (this.stopped) return;
        if (err instanceof KubeError && err.status === 404 && needList) {
          // Not served here (e.g. the Secrets Store CSI driver's CRDs are not installed):
          // nothing to watch, which must not hold readiness back; look again now and then.
          if (!state.missing) this.opts.log.warn({ informer: this.name, path: state.path }, 'resource not served by this cluster (CRD not installed?); treating it as empty and checking again every minute');
          state.missing = true;
          for (const key of [...state.keys]) this.remove(state, key);
          this.markSynced();
          state.lastEventAt = Date.now();
          await this.pause(60_000);
          continue;
        }
        state.failures++;
        if (err instanceof KubeError && err.status === 410) needList = true;
        const delay = Math.min(30_000, 250 * 2 ** Math.min(state.failures, 7)) * (0.5 + Math.random() / 2);
        this.opts.log.warn({ informer: this.name, path: state.path, err: errMessage(err), retryInMs: Math.round(delay) }, 'list/watch failed; retrying');
        await this.pause(delay);
      }
    }
  }

  /** A wait that stop() cuts short, so a stopped informer never keeps the process alive. */
  private pause(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.stopSignal.signal }).catch(() => undefined);
  }

  private async list(state: PathState): Promise<void> {
    this.stats.lists++;
    const seen = new Map<string, Entry<T>>();
    let cont: string | undefined;
    let rv = '';
    do {
      // Items are projected as they arrive: a whole page of objects is never alive at once.
      const page = await this.opts.client.list(
        state.path,
        {
          query: { limit: this.opts.pageSize ?? 500, continue: cont, labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector },
          accept: this.opts.metadataOnly ? METADATA_ONLY.list : undefined,
        },
        (item) => {
          const value = this.opts.transform(item);
          if (value !== null) seen.set(objectKey(item), { key: objectKey(item), resourceVersion: item.metadata?.resourceVersion ?? '', value });
        },
      );
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
    } while (cont);

    // Diff against what this path held: only real differences become events.
    for (const key of state.keys) {
      if (!seen.has(key)) this.remove(state, key);
    }
    for (const entry of seen.values()) this.upsert(state, entry);
    state.resourceVersion = rv;
    state.lastEventAt = Date.now();
  }

  private watchOnce(state: PathState): Promise<'closed' | 'gone'> {
    return new Promise((resolve, reject) => {
      let gone = false;
      let settled = false;
      const silenceMs = this.opts.silenceMs ?? 120_000;
      const finish = (err: unknown) => {
        if (settled) return;
        settled = true;
        clearInterval(watchdog);
        state.watching = false;
        if (gone) resolve('gone');
        else if (err && !this.stopped && !isTimeout(err)) reject(err);
        else resolve('closed');
      };
      const watchdog = setInterval(() => {
        if (Date.now() - state.lastEventAt > silenceMs) {
          this.opts.log.warn({ informer: this.name, path: state.path, silentForMs: Date.now() - state.lastEventAt }, 'watch silent; restarting it');
          state.abort?.abort();
          finish(null);
        }
      }, Math.min(silenceMs, 5_000));
      watchdog.unref();
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
            state.lastEventAt = Date.now();
            state.watching = true;
            if (e.type === 'ERROR') {
              if (e.object?.code === 410) gone = true;
              else this.opts.log.warn({ informer: this.name, status: e.object?.message }, 'watch error event');
              state.abort?.abort();
              finish(null);
              return;
            }
            const rv = e.object?.metadata?.resourceVersion;
            if (rv) state.resourceVersion = rv;
            if (e.type === 'BOOKMARK') return;
            const key = objectKey(e.object);
            if (e.type === 'DELETED') {
              this.remove(state, key);
              return;
            }
            const value = this.opts.transform(e.object);
            if (value === null) this.remove(state, key);
            else this.upsert(state, { key, resourceVersion: rv ?? '', value });
          },
          (err: unknown) => {
            if (err && (err as { statusCode?: number }).statusCode === 410) gone = true;
            finish(err);
          },
          { accept: this.opts.metadataOnly ? METADATA_ONLY.watch : undefined },
        )
        .then((abort) => {
          state.abort = abort;
          if (settled) abort.abort();
          else state.watching = true;
        }, finish);
    });
  }

  private upsert(state: PathState, entry: Entry<T>): void {
    const prev = this.cache.get(entry.key);
    state.keys.add(entry.key);
    if (prev && prev.resourceVersion === entry.resourceVersion) return;
    this.cache.set(entry.key, entry);
    if (prev) this.events.emit('event', { type: 'update', key: entry.key, value: entry.value, old: prev.value });
    else this.events.emit('event', { type: 'add', key: entry.key, value: entry.value });
  }

  private remove(state: PathState, key: string): void {
    const prev = this.cache.get(key);
    state.keys.delete(key);
    if (!prev) return;
    this.cache.delete(key);
    this.events.emit('event', { type: 'delete', key, old: prev.value });
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
