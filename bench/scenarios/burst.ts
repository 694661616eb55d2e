// Scenario 3, burst: N Secrets, each used by a distinct workload, updated as
// fast as the benchmark can (aimed at within one second). Measured: how long
// the N updates took to send, the time to drain (first update sent → last
// patch seen), restarts started against workloads affected (each must be
// restarted exactly once), and whether --restarts-per-second held: the most
// restarts in any sliding 1-second window and in the fixed 1-second windows
// that start at the first one, by the controller's own log (when each patch
// returned), and the sliding maximum as the patches arrived on a watch.
import { now, sleep } from '../lib/clock.ts';
import { cpuMeter, type Context } from '../lib/context.ts';
import type { CpuUse } from '../lib/cpu.ts';
import type { ControllerProcess } from '../lib/controller.ts';
import { interleaved, MERGE_PATCH, rotationPatch } from '../lib/fixtures.ts';
import { diffVerbs, requestsByVerb, restartsStarted, type Verb } from '../lib/metrics.ts';
import { mapLimit } from '../lib/pool.ts';
import { maxInWindow, summarize, type Summary } from '../lib/stats.ts';

export interface BurstRound {
  updates: number;
  /** Whether the Deployment controller had caught up with the previous round when this one began. */
  startedQuiet: boolean;
  /** First update sent → last update returned. */
  sendSeconds: number;
  /** First update sent → last patch seen. */
  drainSeconds: number;
  /** First patch seen → last patch seen. */
  patchSpanSeconds: number;
  workloadsPatched: number;
  /** Patches beyond one per affected workload, and patches of workloads not affected. */
  extraPatches: number;
  restartsStarted: number;
  /** From the controller's own log ("restarted", when each patch returned): the truest view of its pacing. */
  maxPerSlidingSecond: number;
  /** From the arrival of the patches on the benchmark's watch. */
  maxPerSlidingSecondSeenByWatch: number;
  maxPerFixedSecond: number;
  meanPerSecond: number;
  requests: Record<Verb, number>;
  /** From the first update to the last patch seen. */
  cpu: CpuUse;
}

export interface BurstResult {
  status: 'ok';
  size: number;
  rateCap: number;
  rounds: BurstRound[];
  sendSeconds: Summary;
  drainSeconds: Summary;
  maxPerSlidingSecond: Summary;
  maxPerSlidingSecondSeenByWatch: Summary;
  maxPerFixedSecond: Summary;
  meanPerSecond: Summary;
  restartsStarted: Summary;
  extraPatchesTotal: number;
}

export async function burst(ctx: Context, controller: ControllerProcess): Promise<BurstResult> {
  const order = interleaved(ctx.layout);
  const size = Math.min(ctx.plan.burstSize, order.length);
  const rounds: BurstRound[] = [];
  const used = new Set<string>();
  // A workload the Deployment controller has not yet observed counts as a rollout in progress, and
  // the controller rightly defers it; that would measure the local Deployment controller's lag (it
  // writes 20 requests/s), not the reloader. Each round takes workloads no earlier round touched
  // and that are observed now.
  const observed = (key: string) => {
    const d = ctx.tracker.get(key);
    return d !== undefined && d.observedGeneration >= d.generation;
  };
  for (let r = 0; r < ctx.plan.burstRounds; r++) {
    const settled = await ctx.tracker.settle(2000, ctx.plan.settleCapMs);
    const chosen = order.filter((w) => !used.has(w.key) && observed(w.key)).slice(0, size);
    if (chosen.length < size) throw new Error(`only ${chosen.length} untouched, observed workloads left for a burst of ${size}`);
    for (const w of chosen) used.add(w.key);
    const affected = new Set(chosen.map((w) => w.key));
    const before = await controller.metrics();
    const mark = ctx.tracker.changes.length;
    const meter = cpuMeter(ctx, controller);
    const start = now();
    let lastReturned = 0;
    await mapLimit(chosen, ctx.plan.burstConcurrency, async (w) => {
      await ctx.api.request('PATCH', `/api/v1/namespaces/${w.namespace}/secrets/${w.secret}`, rotationPatch(`burst-${r}`), MERGE_PATCH);
      lastReturned = Math.max(lastReturned, now());
    });
    await ctx.tracker.waitFor(`all ${size} burst workloads to be patched`, () => {
      const seen = ctx.tracker.firstChangesSince(mark);
      return chosen.every((w) => seen.has(w.key));
    }, 180_000);
    const cpu = meter.read();
    // Time for a duplicate patch, if any, to show up.
    await sleep(3000);
    const after = await controller.metrics();
    const changes = ctx.tracker.changes.slice(mark);
    const firsts = [...ctx.tracker.firstChangesSince(mark).entries()].filter(([k]) => affected.has(k)).map(([, at]) => at);
    const first = Math.min(...firsts);
    const last = Math.max(...firsts);
    const logged = (await controller.restartsLogged()).filter((x) => x.at >= start - 1000 && affected.has(x.workload.replace(/^Deployment\//, ''))).map((x) => x.at);
    const loggedFirst = Math.min(...logged);
    const fixed = new Map<number, number>();
    for (const t of logged) fixed.set(Math.floor((t - loggedFirst) / 1000), (fixed.get(Math.floor((t - loggedFirst) / 1000)) ?? 0) + 1);
    const round: BurstRound = {
      updates: size,
      startedQuiet: settled.quiet,
      sendSeconds: (lastReturned - start) / 1000,
      drainSeconds: (last - start) / 1000,
      patchSpanSeconds: (last - first) / 1000,
      workloadsPatched: firsts.length,
      extraPatches: changes.length - firsts.length,
      restartsStarted: restartsStarted(after) - restartsStarted(before),
      maxPerSlidingSecond: maxInWindow(logged, 1000),
      maxPerSlidingSecondSeenByWatch: maxInWindow(firsts, 1000),
      maxPerFixedSecond: Math.max(...fixed.values()),
      meanPerSecond: last > first ? (firsts.length - 1) / ((last - first) / 1000) : firsts.length,
      requests: diffVerbs(requestsByVerb(after), requestsByVerb(before)),
      cpu,
    };
    rounds.push(round);
    ctx.log(
      `  round ${r + 1}/${ctx.plan.burstRounds}: ${size} updates sent in ${round.sendSeconds.toFixed(2)} s, drained in ${round.drainSeconds.toFixed(2)} s, ` +
        `${round.restartsStarted} restarts, max ${round.maxPerSlidingSecond}/s sliding (${round.maxPerSlidingSecondSeenByWatch}/s on the watch), ${round.maxPerFixedSecond}/s fixed, mean ${round.meanPerSecond.toFixed(1)}/s, extra patches ${round.extraPatches}, cpu ${JSON.stringify(cpu)}`,
    );
  }
  return {
    status: 'ok',
    size,
    rateCap: ctx.plan.restartsPerSecond,
    rounds,
    sendSeconds: summarize(rounds.map((r) => r.sendSeconds)),
    drainSeconds: summarize(rounds.map((r) => r.drainSeconds)),
    maxPerSlidingSecond: summarize(rounds.map((r) => r.maxPerSlidingSecond)),
    maxPerSlidingSecondSeenByWatch: summarize(rounds.map((r) => r.maxPerSlidingSecondSeenByWatch)),
    maxPerFixedSecond: summarize(rounds.map((r) => r.maxPerFixedSecond)),
    meanPerSecond: summarize(rounds.map((r) => r.meanPerSecond)),
    restartsStarted: summarize(rounds.map((r) => r.restartsStarted)),
    extraPatchesTotal: rounds.reduce((n, r) => n + r.extraPatches, 0),
  };
}
