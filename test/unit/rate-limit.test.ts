import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SlidingWindowLimiter } from '../../src/core/rate-limit.ts';

describe('SlidingWindowLimiter', () => {
  it('never lets more than the limit start, nor finish, within any window, however long operations take', async () => {
    const limiter = new SlidingWindowLimiter({ limit: 5, windowMs: 200 });
    const starts: number[] = [];
    const ends: number[] = [];
    await Promise.all(
      Array.from({ length: 17 }, async (_, i) => {
        const release = await limiter.acquire();
        starts.push(performance.now());
        // Uneven latencies: completions would bunch if only starts were counted.
        await new Promise((r) => setTimeout(r, (i * 37) % 90));
        ends.push(performance.now());
        release();
      }),
    );
    for (const times of [starts, ends.sort((a, b) => a - b)]) {
      assert.equal(times.length, 17);
      for (let i = 0; i + 5 < times.length; i++) assert.ok(times[i + 5]! - times[i]! >= 195, `events ${i} and ${i + 5} are ${times[i + 5]! - times[i]!} ms apart`);
    }
  });
  it('grants at once while under the limit', async () => {
    const limiter = new SlidingWindowLimiter({ limit: 3, windowMs: 60_000 });
    const t = performance.now();
    const releases = [];
    for (let i = 0; i < 3; i++) releases.push(await limiter.acquire());
    assert.ok(performance.now() - t < 100);
    assert.equal(limiter.delayMs(), Infinity, 'a fourth waits for a completion');
    releases.forEach((r) => r());
    assert.ok(limiter.delayMs() > 59_000, 'then for the window');
  });
  it('serves waiting callers in call order', async () => {
    const limiter = new SlidingWindowLimiter({ limit: 1, windowMs: 30 });
    const order: number[] = [];
    await Promise.all([0, 1, 2, 3].map((i) => limiter.acquire().then((release) => {
      order.push(i);
      release();
    })));
    assert.deepEqual(order, [0, 1, 2, 3]);
  });
  it('rejects a limit below one start per window', () => {
    assert.throws(() => new SlidingWindowLimiter({ limit: 0, windowMs: 1000 }), /at least 1/);
  });
});
