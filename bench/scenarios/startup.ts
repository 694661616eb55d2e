// Scenario 1, start-up, and the runs that follow each start. Cold starts (ours
// only): each uses a digest key of its own, so every Deployment needs a new
// baseline (the first start adopts them, later ones re-record them after the
// key change: one PATCH per workload). Contender runs: our controller warm
// (key and baselines in place, as after a restart or fail-over: it must write
// nothing) and the peer, one at a time, in alternating order; each start is
// measured the same way (CPU until it has used none for a second, RSS 3 s
// later, peak RSS), then the same idle window and reaction run against it.
// "Settled" is the last moment it used CPU before 5 s without any.
import { now, sleep } from '../lib/clock.ts';
import { cpuMeter, startController, type Context } from '../lib/context.ts';
import type { ControllerProcess, Memory, MeasuredProcess } from '../lib/controller.ts';
import type { CpuUse } from '../lib/cpu.ts';
import { MERGE_PATCH, rotationPatch, type Workload } from '../lib/fixtures.ts';
import { heapUse, requestsByVerb, writes, type HeapUse, type Verb } from '../lib/metrics.ts';
import { summarize, type Summary } from '../lib/stats.ts';
import { reaction, type ReactionResult } from './reaction.ts';
import { steadyWindow, type SteadyWindow } from './steady.ts';

export const SETTLE_AFTER_MS = 3000;
/**
 * How long without CPU counts as settled. A second is not enough for Node: V8 compiles and
 * collects for some seconds after the last object arrives (its memory reducer waits ~8 s),
 * work that belongs to start-up, not to the idle windows measured next.
 */
export const SETTLED_QUIET_MS = 5000;

export interface StartSample {
  /** Whether the Deployment controller had caught up with earlier patches when this start began. */
  startedQuiet: boolean;
  /** Spawn → the last moment it used CPU before a second without any. */
  settledSeconds: number;
  /** Spawn → ready: ours, /readyz answered 200; the peer (no readiness endpoint), the first probe update it reacted to was sent. */
  readySeconds: number;
  /** Cold starts only: spawn → every Deployment's new baseline seen. */
  adoptedSeconds?: number;
  /** CPU used from spawn until settled. */
  startupCpuSeconds: number;
  /** SETTLE_AFTER_MS after settled. */
  memory: Memory;
  /** Ours only: the V8 heap then. */
  heap?: HeapUse;
  /** Ours only: API requests from spawn until memory was read. */
  requests?: Record<Verb, number>;
  writes?: number;
  /** CPU of every process from the spawn until memory was read. */
  cpu: CpuUse;
}

/**
 * When a controller that has no readiness endpoint can act: its own Secret is updated every
 * 200 ms from its spawn; the moment the first update it reacted to was sent. Updates made
 * before its caches synced are in its list, not events, so it cannot react to them.
 */
export async function probeReady(ctx: Context, process: MeasuredProcess, target: Workload, timeoutMs: number): Promise<number> {
  const deadline = now() + timeoutMs;
  const mark = ctx.tracker.changes.length;
  const sent: number[] = [];
  let exitCode: number | null | undefined;
  void process.proc.exited.then((c) => (exitCode = c));
  while (now() < deadline) {
    if (exitCode !== undefined) throw new Error(`${process.proc.name} exited (code ${exitCode}) before it was ready; last lines of its log:\n${await process.proc.logTail(20)}`);
    const reacted = ctx.tracker.firstChangesSince(mark).get(target.key);
    if (reacted !== undefined) {
      // The probe it reacted to is the last one sent before its write arrived.
      const probe = sent.filter((t) => t < reacted).at(-1);
      if (probe !== undefined) return probe;
    }
    sent.push(now());
    await ctx.api.request('PATCH', `/api/v1/namespaces/${target.namespace}/secrets/${target.secret}`, rotationPatch('ready-probe'), MERGE_PATCH);
    await sleep(200);
  }
  throw new Error(`${process.proc.name} reacted to no update within ${Math.round(timeoutMs / 1000)} s`);
}

async function measureStart(ctx: Context, process: MeasuredProcess, ready: () => Promise<number>, ours: ControllerProcess | undefined, startedQuiet: boolean, meter: ReturnType<typeof cpuMeter>, adopted?: () => Promise<number>): Promise<StartSample> {
  const readyAt = await ready();
  const adoptedAt = adopted ? await adopted() : undefined;
  const settledAt = await process.waitSettled(20 * 60_000, SETTLED_QUIET_MS);
  const startupCpuSeconds = process.cpuSeconds();
  await sleep(SETTLE_AFTER_MS);
  const memory = process.memory();
  const metrics = ours ? await ours.metrics() : undefined;
  const requests = metrics ? requestsByVerb(metrics) : undefined;
  return {
    startedQuiet,
    settledSeconds: (settledAt - process.startedAt) / 1000,
    readySeconds: (readyAt - process.startedAt) / 1000,
    adoptedSeconds: adoptedAt !== undefined ? (adoptedAt - process.startedAt) / 1000 : undefined,
    startupCpuSeconds,
    memory,
    heap: metrics ? heapUse(metrics) : undefined,
    requests,
    writes: requests ? writes(requests) : undefined,
    cpu: meter.read(),
  };
}

function describeStart(s: StartSample): string {
  return (
    `ready ${s.readySeconds.toFixed(2)} s, settled ${s.settledSeconds.toFixed(2)} s` +
    (s.adoptedSeconds !== undefined ? `, all adopted ${s.adoptedSeconds.toFixed(2)} s` : '') +
    `, start-up CPU ${s.startupCpuSeconds.toFixed(2)} s, RSS ${s.memory.rssMiB.toFixed(0)} MiB (peak ${s.memory.peakRssMiB.toFixed(0)}, anon ${s.memory.anonMiB.toFixed(0)}, file ${s.memory.fileMiB.toFixed(0)}` +
    (s.heap ? `, heap used ${s.heap.heapUsedMiB.toFixed(0)}` : '') +
    ')' +
    (s.requests ? `, requests ${JSON.stringify(s.requests)}` : '')
  );
}

export interface ColdStartResult {
  status: 'ok';
  samples: StartSample[];
  adoptedSeconds: Summary;
  readySeconds: Summary;
  rssMiB: Summary;
  peakRssMiB: Summary;
  requestsMedian: Record<Verb, number>;
  /** The digest key the last cold start made: warm starts use it. */
  key: string;
}

export async function coldStarts(ctx: Context, count: number, keyPrefix: string): Promise<ColdStartResult> {
  const samples: StartSample[] = [];
  const total = ctx.layout.workloads.length;
  let key = '';
  for (let i = 0; i < count; i++) {
    key = `${keyPrefix}-${i + 1}`;
    const settled = await ctx.tracker.settle(1000, ctx.plan.settleCapMs);
    if (!settled.quiet) ctx.log(`  (the Deployment controller was still catching up after ${(settled.waitedMs / 1000).toFixed(0)} s; starting anyway)`);
    const mark = ctx.tracker.changes.length;
    const meter = cpuMeter(ctx);
    const controller = await startController(ctx, key, `${ctx.scale.name}-cold-${i + 1}`);
    meter.add('controller', controller.pid);
    try {
      const adopted = async () => {
        await ctx.tracker.waitFor(`all ${total} Deployments to get a new baseline`, () => ctx.tracker.firstChangesSince(mark).size >= total, 30 * 60_000);
        return Math.max(...ctx.tracker.firstChangesSince(mark).values());
      };
      const sample = await measureStart(ctx, controller, () => controller.waitReady(20 * 60_000), controller, settled.quiet, meter, adopted);
      samples.push(sample);
      ctx.log(`  cold start ${i + 1}/${count}: ${describeStart(sample)}`);
    } finally {
      await controller.stop();
    }
  }
  const requestsMedian = {} as Record<Verb, number>;
  for (const v of Object.keys(samples[0]?.requests ?? {}) as Verb[]) requestsMedian[v] = summarize(samples.map((s) => s.requests![v])).p50;
  return {
    status: 'ok',
    samples,
    adoptedSeconds: summarize(samples.map((s) => s.adoptedSeconds!)),
    readySeconds: summarize(samples.map((s) => s.readySeconds)),
    rssMiB: summarize(samples.map((s) => s.memory.rssMiB)),
    peakRssMiB: summarize(samples.map((s) => s.memory.peakRssMiB)),
    requestsMedian,
    key,
  };
}

/** A controller the benchmark compares: how to start it, and the workload its reaction is measured on. */
export interface Contender {
  id: 'keyvault-reloader' | 'stakater-reloader';
  target: Workload;
  start(label: string): Promise<{ process: MeasuredProcess; ours?: ControllerProcess }>;
}

export interface ContenderRun {
  start: StartSample;
  idle: SteadyWindow[];
  reaction: ReactionResult;
}

/** Starts the contender, measures its start, its idle windows and its reaction, runs `more` (if any) while it is up, then stops it. */
export async function contenderRun(ctx: Context, c: Contender, label: string, more?: (ours: ControllerProcess) => Promise<void>): Promise<ContenderRun> {
  const settled = await ctx.tracker.settle(1000, ctx.plan.settleCapMs);
  const meter = cpuMeter(ctx);
  const { process, ours } = await c.start(label);
  meter.add('controller', process.pid);
  try {
    const ready = ours ? () => ours.waitReady(20 * 60_000) : () => probeReady(ctx, process, c.target, 20 * 60_000);
    const start = await measureStart(ctx, process, ready, ours, settled.quiet, meter);
    ctx.log(`  ${c.id} start: ${describeStart(start)}`);
    const idle: SteadyWindow[] = [];
    for (let i = 0; i < ctx.plan.idleWindows; i++) idle.push(await steadyWindow(ctx, process, ours));
    const r = await reaction(ctx, process, c.target, ctx.plan.reactionUpdates, ours);
    ctx.log(
      `  ${c.id} reaction: p50 ${r.clientMs.p50.toFixed(1)} / p90 ${r.clientMs.p90.toFixed(1)} / p99 ${r.clientMs.p99.toFixed(1)} ms (max ${r.clientMs.max.toFixed(1)}, n=${r.clientMs.n}, timeouts ${r.timeouts})` +
        (r.requestsPerEvent ? `, per update ${JSON.stringify(r.requestsPerEvent)}, deferred ${JSON.stringify(r.deferred)}` : ''),
    );
    if (more && ours) await more(ours);
    return { start, idle, reaction: r };
  } finally {
    await process.stop();
  }
}
