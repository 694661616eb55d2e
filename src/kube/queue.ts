// The one work queue, shaped like client-go's: keys, not events. A key added
// many times before it is processed is processed once; a key is never
// processed twice at the same time (one added while it runs is run again
// after); a key can be added after a delay, the earliest request winning; a
// key that failed is added again after its own exponential backoff
// (client-go's AddRateLimited), which starts over once it succeeds.
import { backoffMs, type Backoff } from '../core/backoff.ts';
import { setTimer } from '../core/timer.ts';

/** A failed key is retried after up to 1 s, 2 s, 4 s … 5 min (between half and all of it: jitter). */
export const DEFAULT_RETRY: Backoff = { baseMs: 1000, capMs: 5 * 60_000 };

export class WorkQueue {
  private readonly ready: string[] = [];
  private readonly queued = new Set<string>();
  private readonly running = new Set<string>();
  private readonly dirtyWhileRunning = new Set<string>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly handler: (key: string) => Promise<void>;
  private readonly concurrency: number;
  private readonly onError: (key: string, err: unknown) => void;
  private readonly retry: Backoff;
  /** Consecutive failures per key, for addRateLimited. */
  private readonly failures = new Map<string, number>();
  private active = 0;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(opts: { handler: (key: string) => Promise<void>; concurrency?: number; onError: (key: string, err: unknown) => void; retry?: Backoff }) {
    this.handler = opts.handler;
    this.concurrency = opts.concurrency ?? 4;
    this.onError = opts.onError;
    this.retry = opts.retry ?? DEFAULT_RETRY;
  }

  /** Keys waiting or running (not those waiting on a timer). */
  get depth(): number {
    return this.ready.length + this.running.size;
  }

  get delayed(): number {
    return this.timers.size;
  }

  add(key: string): void {
    if (this.stopped) return;
    const t = this.timers.get(key);
    if (t) {
      clearTimeout(t.timer);
      this.timers.delete(key);
    }
    if (this.running.has(key)) {
      this.dirtyWhileRunning.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.ready.push(key);
    this.pump();
  }

  addAfter(key: string, delayMs: number): void {
    if (this.stopped) return;
    if (!(delayMs > 0)) return this.add(key);
    const at = Date.now() + delayMs;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    this.arm(key, at);
  }

  // A delay beyond what one Node timer can hold is waited out in several.
  private arm(key: string, at: number): void {
    const timer = setTimer(() => {
      if (Date.now() < at) return this.arm(key, at);
      this.timers.delete(key);
      this.add(key);
    }, at - Date.now());
    this.timers.set(key, { at, timer });
  }

  /**
   * Adds a key that failed after its backoff: base, then doubling with each
   * failure not followed by a success, up to the cap. Returns the delay.
   */
  addRateLimited(key: string): number {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const delay = backoffMs(n, this.retry);
    this.addAfter(key, delay);
    return delay;
  }

  /** Consecutive failures of a key since it last succeeded. */
  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Every key's backoff starts over (a new leadership term owes nothing to the last). */
  forgetAll(): void {
    this.failures.clear();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    this.ready.length = 0;
    this.queued.clear();
  }

  /** Resolves when nothing is ready or running (delayed keys do not count). */
  idle(): Promise<void> {
    if (this.depth === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (!this.stopped && this.active < this.concurrency && this.ready.length > 0) {
      const key = this.ready.shift()!;
      this.queued.delete(key);
      this.running.add(key);
      this.active++;
      void this.handler(key)
        .then(
          () => void this.failures.delete(key),
          (err) => this.onError(key, err),
        )
        .finally(() => {
          this.active--;
          this.running.delete(key);
          if (this.dirtyWhileRunning.delete(key)) this.add(key);
          if (this.depth === 0) this.idleWaiters.splice(0).forEach((f) => f());
          this.pump();
        });
    }
  }
}
