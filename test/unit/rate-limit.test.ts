import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SlidingWindowLimiter } from '../../src/core/rate-limit.ts';

describe('SlidingWindowLimiter', () => {
  it('never grants more than the limit within any window, across window boundaries', async () => {
    const limiter = new SlidingWindowLimiter({ limit: 5, windowMs: 200 });
    const grants: number[] = [];
    await Promise.all(Array.from({ length: 17 }, () => limiter.acquire().then(() => grants.push(performance.now()))));
    assert.equal(grants.length, 17);
    for (let i = 0; i + 5 < grants.length; i++) {
      assert.ok(grants[i + 5]! - grants[i]! >= 195, `grants ${i} and ${i + 5} are ${grants[i + 5]! - grants[i]!} ms apart`);
    }
  });
  it('grants at once while under the limit', async () => {
    const limiter = new SlidingWindowLimiter({ limit: 3, windowMs: 60_000 });
    const t = performance.now();
    for (let i = 0; i < 3; i++) await limiter.acquire();
    assert.ok(performance.now() - t < 100);
    assert.ok(limiter.delayMs() > 59_000, 'a fourth start would wait for the window');
  });
  it('serves waiting callers in call order', async () => {
    const limiter = new SlidingWindowLimiter({ limit: 1, windowMs: 30 });
    const order: number[] = [];
    await Promise.all([0, 1, 2, 3].map((i) => limiter.acquire().then(() => order.push(i))));
    assert.deepEqual(order, [0, 1, 2, 3]);
  });
  it('rejects a limit below one start per window', () => {
    assert.throws(() => new SlidingWindowLimiter({ limit: 0, windowMs: 1000 }), /at least 1/);
  });
});
