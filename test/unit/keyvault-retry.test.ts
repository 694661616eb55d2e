import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyFailure, DEFAULT_RETRY_POLICY, isRetryable, parseRetryAfter, retryDelayMs } from '../../src/keyvault/retry.ts';

const headers = (h: Record<string, string>) => ({ get: (name: string) => h[name.toLowerCase()] });
const noJitter = () => 0;
const fullJitter = () => 0.999999;

describe('retryDelayMs', () => {
  it('backs off 1, 2, 4, 8, 16 s as Microsoft advises for Key Vault', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, maxRetries: 5 };
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, policy, undefined, noJitter)), [1000, 2000, 4000, 8000, 16_000]);
  });

  it('never exceeds the maximum backoff', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, maxRetries: 10, maxDelayMs: 5000 };
    assert.equal(retryDelayMs(8, policy, undefined, noJitter), 5000);
  });

  it('waits at least what Retry-After asks, even when the backoff is shorter', () => {
    assert.equal(retryDelayMs(1, DEFAULT_RETRY_POLICY, 7000, noJitter), 7000);
    for (let i = 0; i < 100; i++) assert.ok(retryDelayMs(1, DEFAULT_RETRY_POLICY, 7000)! >= 7000);
  });

  it('waits at least the backoff when Retry-After asks for less', () => {
    assert.equal(retryDelayMs(3, DEFAULT_RETRY_POLICY, 1000, noJitter), 4000);
  });

  it('adds jitter on top, at most the policy fraction of the delay', () => {
    assert.equal(retryDelayMs(2, DEFAULT_RETRY_POLICY, undefined, fullJitter), 2400);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const d = retryDelayMs(2, DEFAULT_RETRY_POLICY)!;
      assert.ok(d >= 2000 && d <= 2400, String(d));
      seen.add(d);
    }
    assert.ok(seen.size > 10, 'readers do not come back in step');
  });

  it('gives up once the retries are spent', () => {
    assert.equal(retryDelayMs(DEFAULT_RETRY_POLICY.maxRetries + 1, DEFAULT_RETRY_POLICY), undefined);
    assert.equal(retryDelayMs(0, DEFAULT_RETRY_POLICY), undefined);
  });

  it('gives up rather than wait a Retry-After longer than the policy accepts (the next poll tries again)', () => {
    assert.equal(retryDelayMs(1, DEFAULT_RETRY_POLICY, DEFAULT_RETRY_POLICY.maxRetryAfterMs + 1), undefined);
    assert.equal(retryDelayMs(1, DEFAULT_RETRY_POLICY, DEFAULT_RETRY_POLICY.maxRetryAfterMs, noJitter), DEFAULT_RETRY_POLICY.maxRetryAfterMs);
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds', () => {
    assert.equal(parseRetryAfter(headers({ 'retry-after': '5' })), 5000);
    assert.equal(parseRetryAfter(headers({ 'retry-after': ' 0 ' })), 0);
  });

  it('reads an HTTP date relative to now, and a past date as no wait', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    assert.equal(parseRetryAfter(headers({ 'retry-after': 'Wed, 01 Jan 2025 00:00:30 GMT' }), now), 30_000);
    assert.equal(parseRetryAfter(headers({ 'retry-after': 'Tue, 31 Dec 2024 23:59:00 GMT' }), now), 0);
  });

  it('prefers Azure\'s millisecond headers', () => {
    assert.equal(parseRetryAfter(headers({ 'retry-after-ms': '1500', 'retry-after': '9' })), 1500);
    assert.equal(parseRetryAfter(headers({ 'x-ms-retry-after-ms': '250' })), 250);
  });

  it('ignores absent and unreadable values', () => {
    assert.equal(parseRetryAfter(undefined), undefined);
    assert.equal(parseRetryAfter(headers({})), undefined);
    assert.equal(parseRetryAfter(headers({ 'retry-after': 'soon' })), undefined);
    assert.equal(parseRetryAfter(headers({ 'retry-after': '-3' })), undefined);
    assert.equal(parseRetryAfter(headers({ 'retry-after-ms': 'x', 'retry-after': '2' })), 2000);
  });
});

describe('classifyFailure and isRetryable', () => {
  it('names each failure as the metric counts it', () => {
    assert.equal(classifyFailure(429), 'throttled');
    assert.equal(classifyFailure(404), 'not_found');
    assert.equal(classifyFailure(403), 'forbidden');
    assert.equal(classifyFailure(401), 'unauthorized');
    assert.equal(classifyFailure(400), 'client_error');
    assert.equal(classifyFailure(408), 'timeout');
    assert.equal(classifyFailure(503), 'server_error');
    assert.equal(classifyFailure(undefined, 'ECONNREFUSED'), 'network');
    assert.equal(classifyFailure(undefined, 'TimeoutError'), 'timeout');
  });

  it('retries throttling, server errors, timeouts and network failures; never a refusal or a missing object', () => {
    assert.equal(isRetryable('throttled'), true);
    assert.equal(isRetryable('server_error', 503), true);
    assert.equal(isRetryable('server_error', 501), false);
    assert.equal(isRetryable('network'), true);
    assert.equal(isRetryable('timeout'), true);
    for (const kind of ['not_found', 'forbidden', 'unauthorized', 'client_error'] as const) assert.equal(isRetryable(kind), false, kind);
  });
});
