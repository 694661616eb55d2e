// At most `limit` operations in any window of `windowMs` — any window, not
// fixed ones: a fixed-interval cap (as p-queue's intervalCap) lets up to twice
// the limit through across a window boundary, and a cluster-wide restart cap
// is a promise to the operator. An operation holds its place from the moment
// it is granted until it finishes and for a window after, so neither the
// starts nor the completions (what the API server sees) of any window exceed
// the limit, however the server's latency bunches them.
import { setTimer } from './timer.ts';

export class SlidingWindowLimiter {
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private inFlight = 0;
  /** Completion times still inside the window, oldest first. */
  private readonly done: number[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private wake: (() => void) | undefined;

  constructor(opts: { limit: number; windowMs: number; now?: () => number }) {
    if (!(opts.limit >= 1)) throw new Error(`a rate limit needs at least 1 operation per window, got ${opts.limit}`);
    this.limit = Math.floor(opts.limit);
    this.windowMs = opts.windowMs;
    this.now = opts.now ?? Date.now;
  }

  /** How long an operation asked for now would wait; Infinity while only a completion can free a place. */
  delayMs(): number {
    const now = this.now();
    while (this.done.length > 0 && this.done[0]! + this.windowMs <= now) this.done.shift();
    if (this.inFlight + this.done.length < this.limit) return 0;
    return this.done.length > 0 ? this.done[0]! + this.windowMs - now : Infinity;
  }

  /** Resolves, in call order, with the function to call when the operation has finished. */
  acquire(): Promise<() => void> {
    const granted = this.chain.then(async () => {
      for (let wait = this.delayMs(); wait > 0; wait = this.delayMs()) {
        await new Promise<void>((resolve) => {
          const timer = Number.isFinite(wait) ? setTimer(resolve, wait) : undefined;
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
      this.inFlight++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        this.inFlight--;
        this.done.push(this.now());
        this.wake?.();
      };
    });
    this.chain = granted.catch(() => undefined);
    return granted;
  }
}
