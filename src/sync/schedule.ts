// When each SecretProviderClass is polled next, and how long a Key Vault read
// may serve other classes. Pure.
//
// Polls are aligned to a grid of the poll interval (multiples of it since the
// epoch, the same on every replica), plus a little jitter: every class with
// the same interval comes due within one short window, so one read of a
// shared object serves them all (the read cache), and the jitter spreads the
// window's requests instead of firing them in the same millisecond.

/** Jitter added to a grid point: a tenth of the interval, at most 10 s. */
export function pollJitterMs(intervalMs: number): number {
  return Math.min(intervalMs * 0.1, 10_000);
}

/**
 * The time of the next poll after `now`: the next grid point of the
 * interval plus jitter, skipping a grid point closer than half an interval
 * (a class just synced off-grid, e.g. because it changed, is not polled
 * again a moment later).
 */
export function nextPollAt(now: number, intervalMs: number, random: () => number = Math.random): number {
  let next = (Math.floor(now / intervalMs) + 1) * intervalMs;
  if (next - now < intervalMs / 2) next += intervalMs;
  return next + random() * pollJitterMs(intervalMs);
}

/**
 * How old a cached read may be and still serve a class polled every
 * `intervalMs`: half the interval, so the classes of one grid window share a
 * read while each window reads afresh.
 */
export function readMaxAgeMs(intervalMs: number): number {
  return intervalMs / 2;
}

/** A failed read is shared this long, so that the classes due together do not each retry it. */
export function failedReadMaxAgeMs(intervalMs: number): number {
  return Math.min(intervalMs / 2, 5_000);
}

/**
 * When a class that failed `failures` times in a row is tried again: soon at
 * first (5 s, or its interval if shorter), doubling each time, and never less
 * often than every max(interval, 1 min) — so a short outage heals quickly and
 * a long one is not hammered. Jitter spreads classes that failed together.
 */
export function failureRetryDelayMs(failures: number, intervalMs: number, random: () => number = Math.random): number {
  const base = Math.min(intervalMs, 5_000);
  const cap = Math.max(intervalMs, 60_000);
  const delay = Math.min(cap, base * 2 ** Math.min(Math.max(failures, 1) - 1, 30));
  return delay * (1 + 0.2 * random());
}
