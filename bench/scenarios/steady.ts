// Scenario 5, steady state: with every object in place and nothing changing,
// a controller must write nothing and use next to no CPU. Measured per
// window: CPU seconds the process used (/proc/<pid>/stat), its RSS at the
// end and, for our controller, its API requests by verb (its /metrics).
import { sleep } from '../lib/clock.ts';
import { cpuMeter, type Context } from '../lib/context.ts';
import type { CpuUse } from '../lib/cpu.ts';
import type { ControllerProcess, MeasuredProcess } from '../lib/controller.ts';
import { diffVerbs, requestsByVerb, writes, type Verb } from '../lib/metrics.ts';

export interface SteadyWindow {
  seconds: number;
  cpuSeconds: number;
  /** CPU seconds per minute over the window. */
  cpuPerMinute: number;
  /** Ours only. */
  requests?: Record<Verb, number>;
  writes?: number;
  rssMiB: number;
  /** Whether the cluster was quiet (no Deployment changes for 5 s) when the window began. */
  startedQuiet: boolean;
  cpu: CpuUse;
}

/** One window; `ours` is set when the process is our controller, whose /metrics can be read. */
export async function steadyWindow(ctx: Context, process: MeasuredProcess, ours?: ControllerProcess): Promise<SteadyWindow> {
  const settled = await ctx.tracker.settle(5000, ctx.plan.steadySettleCapMs);
  if (!settled.quiet) ctx.log(`  (the Deployment controller was still busy after ${(settled.waitedMs / 1000).toFixed(0)} s; measuring anyway)`);
  const m0 = ours ? requestsByVerb(await ours.metrics()) : undefined;
  const meter = cpuMeter(ctx, process);
  const c0 = process.cpuSeconds();
  const t0 = performance.now();
  await sleep(ctx.plan.steadyWindowSeconds * 1000);
  const c1 = process.cpuSeconds();
  const seconds = (performance.now() - t0) / 1000;
  const requests = ours && m0 ? diffVerbs(requestsByVerb(await ours.metrics()), m0) : undefined;
  const w: SteadyWindow = {
    seconds,
    cpuSeconds: c1 - c0,
    cpuPerMinute: ((c1 - c0) * 60) / seconds,
    requests,
    writes: requests ? writes(requests) : undefined,
    rssMiB: process.memory().rssMiB,
    startedQuiet: settled.quiet,
    cpu: meter.read(),
  };
  ctx.log(`  idle ${seconds.toFixed(0)} s: CPU ${w.cpuSeconds.toFixed(2)} s${requests ? `, writes ${w.writes}, requests ${JSON.stringify(requests)}` : ''}, RSS ${w.rssMiB.toFixed(0)} MiB`);
  return w;
}
