// When to try a Key Vault request again, and after how long. Pure. Key Vault
// throttles per vault (about 4000 transactions per 10 s) and answers 429 with
// Retry-After; Microsoft advises exponential backoff (1, 2, 4, 8, 16 s). We
// never retry sooner than the server asked, never sooner than the backoff,
// and add jitter on top so that many readers do not come back in step.

export interface RetryPolicy {
  /** Retries after the first attempt. */
  maxRetries: number;
  /** Backoff before the first retry; doubles each retry. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A Retry-After longer than this is not waited for: the read fails now and the next poll tries again. */
  maxRetryAfterMs: number;
  /** Jitter added on top of the delay, as a fraction of it. */
  jitter: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = {
  maxRetries: 4,
  baseDelayMs: 1000,
  maxDelayMs: 16_000,
  maxRetryAfterMs: 60_000,
  jitter: 0.2,
};

export type FailureKind = 'throttled' | 'server_error' | 'network' | 'timeout' | 'not_found' | 'forbidden' | 'unauthorized' | 'client_error';

/** How a failed request is counted and whether it is worth repeating. */
export function classifyFailure(status: number | undefined, code?: string): FailureKind {
  if (status === undefined || status === 0) {
    return code === 'TimeoutError' || code === 'AbortError' || code === 'ETIMEDOUT' ? 'timeout' : 'network';
  }
  if (status === 429) return 'throttled';
  if (status === 408) return 'timeout';
  if (status === 404) return 'not_found';
  if (status === 403) return 'forbidden';
  if (status === 401) return 'unauthorized';
  if (status >= 500) return 'server_error';
  return 'client_error';
}

export function isRetryable(kind: FailureKind, status?: number): boolean {
  if (kind === 'server_error') return status !== 501 && status !== 505;
  return kind === 'throttled' || kind === 'network' || kind === 'timeout';
}

/**
 * Milliseconds to wait before retry number `retry` (1 = the first retry), or
 * undefined to give up: retries are spent, or the server asks for a longer
 * wait than the policy accepts. The delay is at least the server's
 * Retry-After and at least the exponential backoff, plus up to `jitter` of it.
 */
export function retryDelayMs(retry: number, policy: RetryPolicy, retryAfterMs?: number, random: () => number = Math.random): number | undefined {
  if (retry < 1 || retry > policy.maxRetries) return undefined;
  if (retryAfterMs !== undefined && retryAfterMs > policy.maxRetryAfterMs) return undefined;
  const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  const floor = Math.max(backoff, retryAfterMs ?? 0);
  return Math.round(floor * (1 + policy.jitter * random()));
}

/**
 * The wait a response asks for, in ms: `retry-after-ms` / `x-ms-retry-after-ms`
 * (Azure's), else `Retry-After` as delta-seconds or an HTTP date. Undefined
 * when absent or unreadable.
 */
export function parseRetryAfter(headers: { get(name: string): string | undefined | null } | undefined, now: number = Date.now()): number | undefined {
  if (headers === undefined) return undefined;
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const value = headers.get(name)?.trim();
    if (value && /^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value));
  }
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // An HTTP date names its day and month; Date.parse alone would also take "-3".
  if (!/[A-Za-z]{3}/.test(value)) return undefined;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
