// At most `limit` starts in any window of `windowMs` — any window, not fixed
// ones: a fixed-interval cap (as p-queue's intervalCap) lets up to twice the
// limit through across a window boundary, and a cluster-wide restart cap is a
// promise to the operator.
export class SlidingWindowLimiter {
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  /** Start times of the last `limit` grants, oldest first. */
  private readonly starts: number[] = [];
  private chain: Promise<void> = Promise.resolve();

  constructor(opts: { limit: number; windowMs: number; now?: () => number }) {
    if (!(opts.limit >= 1)) throw new Error(`a rate limit needs at least 1 start per window, got ${opts.limit}`);
    this.limit = Math.floor(opts.limit);
    this.windowMs = opts.windowMs;
    this.now = opts.now ?? Date.now;
  }

  /** How long a start now would have to wait (0 when one is free). */
  delayMs(): number {
    if (this.starts.length < this.limit) return 0;
    return Math.max(0, this.starts[0]! + this.windowMs - this.now());
  }

  /** Resolves when a start is granted; grants are served in call order. */
  acquire(): Promise<void> {
    const granted = this.chain.then(async () => {
      for (let wait = this.delayMs(); wait > 0; wait = this.delayMs()) await new Promise((r) => setTimeout(r, wait));
      this.starts.push(this.now());
      if (this.starts.length > this.limit) this.starts.shift();
    });
    this.chain = granted.catch(() => undefined);
    return granted;
  }
}
