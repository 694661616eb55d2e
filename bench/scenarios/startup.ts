// Scenario 1, scale at start-up. Cold starts: each uses a digest key of its
// own, so every Deployment needs a new baseline (the first start adopts them,
// later ones re-record them after the key change: the same one PATCH per
// workload). Warm starts: the key and baselines are in place, as after a
// controller restart or fail-over, and nothing may be written. Built starts:
// warm starts of the compiled build the image runs, for its memory. The last
// (source) warm controller keeps running for the next scenarios.
import { now, sleep } from '../lib/clock.ts';
import { cpuMeter, startController, type Context } from '../lib/context.ts';
import type { ControllerProcess } from '../lib/controller.ts';
import { buildDist, type Build } from '../lib/build.ts';
import type { CpuUse } from '../lib/cpu.ts';
import { heapUse, requestsByVerb, writes, type HeapUse, type Verb } from '../lib/metrics.ts';
import { summarize, type Summary } from '../lib/stats.ts';

export interface StartSample {
  kind: 'cold' | 'warm' | 'built';
  /** Whether the Deployment controller had caught up with earlier patches when this start began. */
  startedQuiet: boolean;
  readySeconds: number;
  /** Cold only: until every Deployment's new baseline was seen. */
  adoptedSeconds?: number;
  rssAtReadyMiB: number;
  rssAfterMiB: number;
  peakRssMiB: number;
  cpuSeconds: number;
  /** The V8 heap when rssAfter was read. */
  heap: HeapUse;
  /** CPU of every process from the controller's spawn until rssAfter was read. */
  cpu: CpuUse;
  /** From process start until rssAfter was read. */
  requests: Record<Verb, number>;
  requestsAtReady: Record<Verb, number>;
}

export interface StartupResult {
  status: 'ok';
  objects: { secrets: number; deployments: number; namespaces: number };
  samples: StartSample[];
  readySeconds: Summary;
  coldReadySeconds: Summary;
  warmReadySeconds: Summary;
  adoptedSeconds: Summary;
  rssAtReadyMiB: Summary;
  rssAfterReadyMiB: Summary;
  peakRssMiB: Summary;
  /** The compiled build (warm starts). */
  builtRssAfterReadyMiB: Summary;
  builtReadySeconds: Summary;
  heapUsedMiB: Summary;
  controllerCpuSeconds: Summary;
  coldRequestsMedian: Record<Verb, number>;
  warmRequestsMedian: Record<Verb, number>;
  warmWritesMax: number;
}

const SETTLE_AFTER_MS = 3000;

export async function startup(ctx: Context): Promise<{ result: StartupResult; controller: ControllerProcess }> {
  const samples: StartSample[] = [];
  const total = ctx.layout.workloads.length;
  let key = '';
  let controller: ControllerProcess | undefined;
  const runs = [
    ...Array.from({ length: ctx.plan.coldStarts }, () => 'cold' as const),
    ...Array.from({ length: ctx.plan.builtStarts }, () => 'built' as const),
    ...Array.from({ length: ctx.plan.warmStarts }, () => 'warm' as const),
  ];
  let build: Build | undefined;
  try {
    if (ctx.plan.builtStarts > 0) build = await buildDist();
    for (const [i, kind] of runs.entries()) {
      if (kind === 'cold') key = `kvr-bench-key-${i + 1}`;
      const settled = await ctx.tracker.settle(1000, ctx.plan.settleCapMs);
      if (!settled.quiet) ctx.log(`  (the Deployment controller was still catching up after ${(settled.waitedMs / 1000).toFixed(0)} s; starting anyway)`);
      const mark = ctx.tracker.changes.length;
      const meter = cpuMeter(ctx);
      controller = await startController(ctx, key, `startup-${i + 1}-${kind}`, kind === 'built' ? build?.main : undefined);
      meter.add('controller', controller.pid);
      const readyAt = await controller.waitReady(10 * 60_000);
      const rssAtReady = controller.memory().rssMiB;
      const requestsAtReady = requestsByVerb(await controller.metrics());
      let adoptedSeconds: number | undefined;
      if (kind === 'cold') {
        await ctx.tracker.waitFor(`all ${total} Deployments to get a new baseline`, () => ctx.tracker.firstChangesSince(mark).size >= total, 10 * 60_000);
        const firsts = [...ctx.tracker.firstChangesSince(mark).values()];
        adoptedSeconds = (Math.max(...firsts) - controller.startedAt) / 1000;
      }
      // Let the last patches and their echoes pass before reading memory and counters.
      await sleep(SETTLE_AFTER_MS);
      const mem = controller.memory();
      const metricsAfter = await controller.metrics();
      const sample: StartSample = {
        kind,
        startedQuiet: settled.quiet,
        readySeconds: (readyAt - controller.startedAt) / 1000,
        adoptedSeconds,
        rssAtReadyMiB: rssAtReady,
        rssAfterMiB: mem.rssMiB,
        peakRssMiB: mem.peakRssMiB,
        cpuSeconds: controller.cpuSeconds(),
        heap: heapUse(metricsAfter),
        cpu: meter.read(),
        requests: requestsByVerb(metricsAfter),
        requestsAtReady,
      };
      samples.push(sample);
      ctx.log(
        `  start ${i + 1}/${runs.length} (${kind}): ready ${sample.readySeconds.toFixed(2)} s` +
          (adoptedSeconds !== undefined ? `, all adopted ${adoptedSeconds.toFixed(2)} s` : '') +
          `, RSS ${mem.rssMiB.toFixed(0)} MiB (peak ${mem.peakRssMiB.toFixed(0)}, heap used ${sample.heap.heapUsedMiB.toFixed(0)}), CPU ${sample.cpuSeconds.toFixed(1)} s, ` +
          `requests ${JSON.stringify(sample.requests)}, cpu ${JSON.stringify(sample.cpu)}`,
      );
      if (i < runs.length - 1) {
        const stopFrom = now();
        await controller.stop();
        if (now() - stopFrom > 5000) ctx.log(`  (the controller took ${((now() - stopFrom) / 1000).toFixed(0)} s to stop)`);
        controller = undefined;
      }
    }
  } catch (err) {
    await controller?.stop();
    throw err;
  } finally {
    await build?.remove();
  }

  const cold = samples.filter((s) => s.kind === 'cold');
  const warm = samples.filter((s) => s.kind === 'warm');
  const built = samples.filter((s) => s.kind === 'built');
  const source = samples.filter((s) => s.kind !== 'built');
  const medianVerbs = (list: StartSample[]) => {
    const out = {} as Record<Verb, number>;
    for (const v of Object.keys(list[0]?.requests ?? {}) as Verb[]) out[v] = summarize(list.map((s) => s.requests[v])).p50;
    return out;
  };
  return {
    controller: controller!,
    result: {
      status: 'ok',
      objects: { secrets: ctx.scale.secrets, deployments: total, namespaces: ctx.scale.namespaces },
      samples,
      readySeconds: summarize(source.map((s) => s.readySeconds)),
      coldReadySeconds: summarize(cold.map((s) => s.readySeconds)),
      warmReadySeconds: summarize(warm.map((s) => s.readySeconds)),
      adoptedSeconds: summarize(cold.map((s) => s.adoptedSeconds!)),
      rssAtReadyMiB: summarize(source.map((s) => s.rssAtReadyMiB)),
      rssAfterReadyMiB: summarize(source.map((s) => s.rssAfterMiB)),
      peakRssMiB: summarize(source.map((s) => s.peakRssMiB)),
      builtRssAfterReadyMiB: summarize(built.map((s) => s.rssAfterMiB)),
      builtReadySeconds: summarize(built.map((s) => s.readySeconds)),
      heapUsedMiB: summarize(source.map((s) => s.heap.heapUsedMiB)),
      controllerCpuSeconds: summarize(source.map((s) => s.cpuSeconds)),
      coldRequestsMedian: medianVerbs(cold),
      warmRequestsMedian: medianVerbs(warm),
      warmWritesMax: Math.max(0, ...[...warm, ...built].map((s) => writes(s.requests))),
    },
  };
}
