import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { failedReadMaxAgeMs, failureRetryDelayMs, nextPollAt, pollJitterMs, readMaxAgeMs } from '../../src/sync/schedule.ts';

const MIN = 60_000;

describe('nextPollAt', () => {
  it('lands on the next multiple of the interval, so that classes of one interval come due together', () => {
    const at = (now: number) => nextPollAt(now, 2 * MIN, () => 0);
    assert.equal(at(10 * MIN + 5_000), 12 * MIN);
    assert.equal(at(10 * MIN + 50_000), 12 * MIN);
    assert.equal(at(10 * MIN), 12 * MIN);
  });

  it('skips a grid point less than half an interval away, so a class just synced is not polled again at once', () => {
    assert.equal(nextPollAt(11 * MIN + 59_000, 2 * MIN, () => 0), 14 * MIN);
    assert.equal(nextPollAt(11 * MIN, 2 * MIN, () => 0), 12 * MIN);
  });

  it('adds jitter of at most a tenth of the interval, capped at 10 s', () => {
    assert.equal(pollJitterMs(2 * MIN), 10_000);
    assert.equal(pollJitterMs(30_000), 3000);
    for (let i = 0; i < 200; i++) {
      const t = nextPollAt(10 * MIN + 1000, 2 * MIN);
      assert.ok(t >= 12 * MIN && t < 12 * MIN + 10_000, String(t));
    }
    assert.equal(nextPollAt(10 * MIN, 30_000, () => 0.5), 10 * MIN + 30_000 + 1500);
  });

  it('is always in the future, at most one and a half intervals plus jitter away', () => {
    for (let i = 0; i < 500; i++) {
      const now = Math.floor(Math.random() * 1e12);
      const interval = 1000 + Math.floor(Math.random() * 10 * MIN);
      const t = nextPollAt(now, interval);
      assert.ok(t - now >= interval / 2 && t - now <= 1.5 * interval + pollJitterMs(interval), `${now} ${interval} ${t}`);
    }
  });
});

describe('read sharing', () => {
  it('a read serves for half the interval; a failure for at most 5 s', () => {
    assert.equal(readMaxAgeMs(2 * MIN), MIN);
    assert.equal(failedReadMaxAgeMs(2 * MIN), 5000);
    assert.equal(failedReadMaxAgeMs(4000), 2000);
  });
});

describe('failureRetryDelayMs', () => {
  const at = (failures: number, intervalMs: number) => failureRetryDelayMs(failures, intervalMs, () => 0);

  it('retries a failing class soon, then doubles, up to max(interval, 1 min)', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 20].map((n) => at(n, 2 * MIN)), [5_000, 10_000, 20_000, 40_000, 80_000, 120_000, 120_000, 120_000]);
    assert.deepEqual([1, 2, 3, 5, 6, 7, 100].map((n) => at(n, 2_000)), [2_000, 4_000, 8_000, 32_000, 60_000, 60_000, 60_000]);
    assert.equal(at(40, 60 * MIN), 60 * MIN);
  });

  it('adds up to a fifth of jitter', () => {
    assert.equal(failureRetryDelayMs(1, 2 * MIN, () => 1), 6_000);
  });
});
