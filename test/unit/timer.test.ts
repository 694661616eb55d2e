import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffMs } from '../../src/core/backoff.ts';
import { MAX_TIMER_MS, setTimer, sleep, timerDelay } from '../../src/core/timer.ts';

describe('timerDelay', () => {
  it('keeps delays Node honours, clamps longer ones to 2^31−1 ms, and makes negative and NaN delays 0', () => {
    assert.equal(MAX_TIMER_MS, 2_147_483_647);
    assert.equal(timerDelay(1500), 1500);
    assert.equal(timerDelay(MAX_TIMER_MS), MAX_TIMER_MS);
    assert.equal(timerDelay(MAX_TIMER_MS + 1), MAX_TIMER_MS);
    assert.equal(timerDelay(Infinity), MAX_TIMER_MS);
    assert.equal(timerDelay(-5), 0);
    assert.equal(timerDelay(Number.NaN), 0);
  });

  it('a timer set for longer than Node’s limit does not fire at once', async () => {
    let fired = false;
    const timer = setTimer(() => (fired = true), 2 ** 32);
    // Node would run an unclamped 2^32 ms timer after 1 ms.
    await sleep(50);
    clearTimeout(timer);
    assert.equal(fired, false);
  });

  it('a sleep longer than Node’s limit does not end at once and is cut short by its signal', async () => {
    const abort = new AbortController();
    let ended = false;
    const slept = sleep(2 ** 40, abort.signal).then(() => (ended = true), (err: Error) => err.name);
    await sleep(50);
    assert.equal(ended, false);
    abort.abort();
    assert.equal(await slept, 'AbortError');
  });
});

describe('backoffMs', () => {
  it('doubles from the base with each failure, up to the cap, with up to half of it taken off as jitter', () => {
    const b = { baseMs: 1000, capMs: 8000 };
    assert.deepEqual([1, 2, 3, 4, 5, 50, 5000].map((n) => backoffMs(n, b, () => 1)), [1000, 2000, 4000, 8000, 8000, 8000, 8000]);
    assert.equal(backoffMs(3, b, () => 0), 2000);
    assert.equal(backoffMs(0, b, () => 1), 1000, 'no failure counts as the first');
  });
});
