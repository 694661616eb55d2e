import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_TIMER_MS } from '../../src/core/timer.ts';
import { WorkQueue } from '../../src/kube/queue.ts';

function recording() {
  const ran: string[] = [];
  const queue = new WorkQueue({ handler: async (key) => void ran.push(key), onError: () => {} });
  return { ran, queue };
}

describe('WorkQueue.addAfter', () => {
  it('a delay longer than Node’s timer limit does not run the key at once', async () => {
    const { ran, queue } = recording();
    queue.addAfter('far', 2 ** 32);
    await sleep(50);
    assert.deepEqual(ran, [], 'Node would fire an unclamped 2^32 ms timer after 1 ms');
    assert.equal(queue.delayed, 1);
    queue.stop();
  });

  it('waits out a delay longer than one timer can hold in several, and runs the key when it is due', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    try {
      const { ran, queue } = recording();
      queue.addAfter('far', MAX_TIMER_MS + 10_000);
      mock.timers.tick(MAX_TIMER_MS);
      await Promise.resolve();
      assert.deepEqual(ran, [], 'not yet due after the first timer');
      mock.timers.tick(10_000);
      await Promise.resolve();
      assert.deepEqual(ran, ['far']);
    } finally {
      mock.timers.reset();
    }
  });

  it('keeps the earliest of several delays for one key, and a plain add() runs it now', async () => {
    const { ran, queue } = recording();
    queue.addAfter('k', 60_000);
    queue.addAfter('k', 20);
    queue.addAfter('k', 120_000);
    await sleep(80);
    assert.deepEqual(ran, ['k']);
    queue.addAfter('j', 60_000);
    queue.add('j');
    await queue.idle();
    assert.deepEqual(ran, ['k', 'j']);
    assert.equal(queue.delayed, 0);
  });

  it('treats a NaN or negative delay as none', async () => {
    const { ran, queue } = recording();
    queue.addAfter('nan', Number.NaN);
    queue.addAfter('neg', -5);
    await queue.idle();
    assert.deepEqual(ran.sort(), ['nan', 'neg']);
  });
});

describe('WorkQueue.addRateLimited', () => {
  it('backs a failing key off exponentially up to the cap, and starts over once the key succeeds', async () => {
    let failing = true;
    const runs: number[] = [];
    const queue: WorkQueue = new WorkQueue({
      handler: async () => {
        runs.push(Date.now());
        if (failing) throw new Error('refused');
      },
      onError: (key) => delays.push(queue.addRateLimited(key)),
      retry: { baseMs: 10, capMs: 80 },
    });
    const delays: number[] = [];
    queue.add('k');
    while (delays.length < 6) await sleep(5);
    // Each delay is between half and all of 10, 20, 40, 80, 80, 80 ms.
    const full = [10, 20, 40, 80, 80, 80];
    delays.forEach((d, i) => assert.ok(d >= full[i]! / 2 && d <= full[i]!, `delay ${i + 1}: ${d} ms`));
    assert.equal(queue.failuresOf('k'), 6);
    failing = false;
    await sleep(100);
    assert.equal(queue.failuresOf('k'), 0, 'a success forgets the failures');
    queue.stop();
  });

  it('forgetAll() starts every key over', () => {
    const queue = new WorkQueue({ handler: async () => {}, onError: () => {} });
    queue.addRateLimited('a');
    queue.addRateLimited('a');
    assert.equal(queue.failuresOf('a'), 2);
    queue.forgetAll();
    assert.equal(queue.failuresOf('a'), 0);
    queue.stop();
  });
});
