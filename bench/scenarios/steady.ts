// Scenario 5, steady state: with every object in place and nothing changing,
// the controller must write nothing. Measured per window: CPU seconds the
// controller process used (/proc/<pid>/stat), API requests by verb (its
// /metrics), and its RSS at the end.
import { sleep } from '../lib/clock.ts';
import { cpuMeter, type Context } from '../lib/context.ts';
import type { CpuUse } from '../lib/cpu.ts';
import type { ControllerProcess } from '../lib/controller.ts';
import { diffVerbs, requestsByVerb, writes, type Verb } from '../lib/metrics.ts';
import { summarize, type Summary } from '../lib/stats.ts';

export interface SteadyWindow {
  seconds: number;
  cpuSeconds: number;
  requests: Record<Verb, number>;
  writes: number;
  rssMiB: number;
  cpu: CpuUse;
}

export interface SteadyResult {
  status: 'ok';
  windows: SteadyWindow[];
  windowSeconds: number;
  /** Whether the cluster was quiet (no Deployment changes for 5 s) when the windows began. */
  startedQuiet: boolean;
  cpuSecondsPerWindow: Summary;
  cpuPercent: Summary;
  writesTotal: number;
  requestsTotal: Record<Verb, number>;
  rssMiB: Summary;
}

export async function steady(ctx: Context, controller: ControllerProcess): Promise<SteadyResult> {
  const settled = await ctx.tracker.settle(5000, ctx.plan.steadySettleCapMs);
  if (!settled.quiet) ctx.log(`  (the Deployment controller was still busy after ${(settled.waitedMs / 1000).toFixed(0)} s; measuring anyway)`);
  const windows: SteadyWindow[] = [];
  for (let i = 0; i < ctx.plan.steadyWindows; i++) {
    const m0 = requestsByVerb(await controller.metrics());
    const meter = cpuMeter(ctx, controller);
    const c0 = controller.cpuSeconds();
    const t0 = performance.now();
    await sleep(ctx.plan.steadyWindowSeconds * 1000);
    const c1 = controller.cpuSeconds();
    const seconds = (performance.now() - t0) / 1000;
    const requests = diffVerbs(requestsByVerb(await controller.metrics()), m0);
    const w: SteadyWindow = { seconds, cpuSeconds: c1 - c0, requests, writes: writes(requests), rssMiB: controller.memory().rssMiB, cpu: meter.read() };
    windows.push(w);
    ctx.log(`  window ${i + 1}/${ctx.plan.steadyWindows}: ${seconds.toFixed(0)} s, CPU ${w.cpuSeconds.toFixed(2)} s, writes ${w.writes}, requests ${JSON.stringify(requests)}, RSS ${w.rssMiB.toFixed(0)} MiB, cpu ${JSON.stringify(w.cpu)}`);
  }
  const requestsTotal = {} as Record<Verb, number>;
  for (const w of windows) for (const [v, n] of Object.entries(w.requests) as [Verb, number][]) requestsTotal[v] = (requestsTotal[v] ?? 0) + n;
  return {
    status: 'ok',
    windows,
    windowSeconds: ctx.plan.steadyWindowSeconds,
    startedQuiet: settled.quiet,
    cpuSecondsPerWindow: summarize(windows.map((w) => w.cpuSeconds)),
    cpuPercent: summarize(windows.map((w) => (100 * w.cpuSeconds) / w.seconds)),
    writesTotal: windows.reduce((n, w) => n + w.writes, 0),
    requestsTotal,
    rssMiB: summarize(windows.map((w) => w.rssMiB)),
  };
}
