// Exponential backoff with jitter, for work that failed and is tried again
// (a list or watch, a reconcile): each failure doubles the wait up to a cap,
// and the jitter keeps many retries from coming back in step.

export interface Backoff {
  /** Wait after the first failure. */
  baseMs: number;
  /** The longest wait, however many failures. */
  capMs: number;
}

/** The wait after `failures` consecutive failures (1 = the first): between half and all of min(cap, base·2^(n−1)). */
export function backoffMs(failures: number, backoff: Backoff, random: () => number = Math.random): number {
  const n = Math.max(1, Math.floor(failures));
  // 2^60 is far past any cap; bounding the exponent keeps the product finite.
  const full = Math.min(backoff.capMs, backoff.baseMs * 2 ** Math.min(n - 1, 60));
  return full * (0.5 + random() / 2);
}
