// How many tasks p-queue starts in any sliding second with the options the
// reloader gives its restart queue (concurrency 8, intervalCap = the
// --restarts-per-second cap, interval 1000 ms), with fixed windows (p-queue's
// default) and with strict (sliding) windows. No cluster: task latencies are
// drawn at random. Starts are stamped with Date.now(), p-queue's own clock,
// and counted in windows of 999 ms so that a start exactly 1000 ms after
// another (allowed) is not counted against the cap. Evidence for issue #8;
// not part of `npm run bench`.
//
//   node bench/rate-cap.ts [--cap 50] [--tasks 500] [--runs 5]
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import PQueue from 'p-queue';
import { maxInWindow, summarize } from './lib/stats.ts';

const { values } = parseArgs({ options: { cap: { type: 'string', default: '50' }, tasks: { type: 'string', default: '500' }, runs: { type: 'string', default: '5' } } });
const cap = Number(values.cap);
const tasks = Number(values.tasks);
const runs = Number(values.runs);

async function run(strict: boolean, latencyMs: [number, number]): Promise<{ maxSliding: number; seconds: number }> {
  const q = new PQueue({ concurrency: 8, intervalCap: cap, interval: 1000, strict });
  const starts: number[] = [];
  const t0 = performance.now();
  // Arriving over the first 300 ms, as a burst of Secret events would.
  await Promise.all(
    Array.from({ length: tasks }, async (_, i) => {
      await sleep((i / tasks) * 300);
      await q.add(async () => {
        starts.push(Date.now());
        await sleep(latencyMs[0] + Math.random() * (latencyMs[1] - latencyMs[0]));
      });
    }),
  );
  return { maxSliding: maxInWindow(starts, 999), seconds: (performance.now() - t0) / 1000 };
}

// A PATCH under load (10–150 ms), and a fast one (1–5 ms).
for (const latency of [[10, 150], [1, 5]] as [number, number][]) {
  for (const strict of [false, true]) {
    const results = [];
    for (let i = 0; i < runs; i++) results.push(await run(strict, latency));
    const m = summarize(results.map((r) => r.maxSliding));
    const d = summarize(results.map((r) => r.seconds));
    process.stdout.write(
      `tasks of ${latency[0]}–${latency[1]} ms, ${strict ? 'strict (sliding) windows' : 'fixed windows (default) '}: most starts in any second = ${m.p50} (min ${m.min}, max ${m.max}) for a cap of ${cap}; ${tasks} tasks drained in ${d.p50.toFixed(1)} s\n`,
    );
  }
}
