// Scenario 2, reaction: one Secret used by one workload of the busiest
// namespace is updated again and again, each time once the previous patch
// was seen and the Deployment controller has caught up (so that the
// controller never waits for a rollout in progress). Client side: from the
// moment the Secret update returned to the moment the Deployment's new
// baseline arrived on this process's watch. Controller side: its own
// keyvault_reloader_reaction_seconds histogram (Secret event to patch sent).
import { now, sleep } from '../lib/clock.ts';
import { cpuMeter, type Context } from '../lib/context.ts';
import type { CpuUse } from '../lib/cpu.ts';
import type { ControllerProcess } from '../lib/controller.ts';
import { MERGE_PATCH, rotationPatch } from '../lib/fixtures.ts';
import { diffBuckets, diffVerbs, reactionBuckets, requestsByVerb, restartsStarted, type Verb } from '../lib/metrics.ts';
import { histogramQuantile, summarize, type Summary } from '../lib/stats.ts';

export interface ReactionResult {
  status: 'ok';
  namespace: string;
  workloadsInNamespace: number;
  workloadsInCluster: number;
  updates: number;
  timeouts: number;
  /** Whether the Deployment controller had caught up with earlier patches when the scenario began. */
  startedQuiet: boolean;
  /** Secret update returned → new baseline seen on the benchmark's watch. */
  clientMs: Summary;
  /** Secret update sent → new baseline seen (includes the update's own round trip). */
  clientFromSendMs: Summary;
  /** The Secret update's own round trip. */
  updateRoundTripMs: Summary;
  controllerHistogram: { p50Ms: number; p90Ms: number; p99Ms: number; p99BucketUpperMs: number; count: number };
  requestsPerEvent: Record<Verb, number>;
  requestsTotal: Record<Verb, number>;
  restartsStarted: number;
  cpu: CpuUse;
}

const WAIT_MS = 15_000;

export async function reaction(ctx: Context, controller: ControllerProcess): Promise<ReactionResult> {
  const target = ctx.layout.workloads.find((w) => w.namespace === ctx.layout.hot)!;
  const secretPath = `/api/v1/namespaces/${target.namespace}/secrets/${target.secret}`;
  const settled = await ctx.tracker.settle(1000, ctx.plan.settleCapMs);
  const before = await controller.metrics();
  const meter = cpuMeter(ctx, controller);
  const client: number[] = [];
  const fromSend: number[] = [];
  const roundTrip: number[] = [];
  let timeouts = 0;
  let consecutive = 0;
  for (let i = 0; i < ctx.plan.reactionUpdates; i++) {
    const mark = ctx.tracker.changes.length;
    const sent = now();
    await ctx.api.request('PATCH', secretPath, rotationPatch(`reaction-${i}`), MERGE_PATCH);
    const returned = now();
    try {
      await ctx.tracker.waitFor(`the patch of ${target.key}`, () => ctx.tracker.firstChangesSince(mark).has(target.key), WAIT_MS);
      const seen = ctx.tracker.firstChangesSince(mark).get(target.key)!;
      client.push(seen - returned);
      fromSend.push(seen - sent);
      roundTrip.push(returned - sent);
      consecutive = 0;
      // The next change must not find a rollout in progress: wait for the Deployment controller to observe this one.
      await ctx.tracker.waitFor(`${target.key} to be observed`, () => {
        const d = ctx.tracker.get(target.key);
        return d !== undefined && d.observedGeneration >= d.generation;
      }, WAIT_MS);
    } catch (err) {
      timeouts++;
      if (++consecutive >= 5) throw new Error(`reaction: 5 updates in a row got no patch: ${(err as Error).message}`);
    }
    if ((i + 1) % 50 === 0) ctx.log(`  ${i + 1}/${ctx.plan.reactionUpdates} updates, p50 so far ${summarize(client).p50.toFixed(1)} ms`);
  }
  const cpu = meter.read();
  // Counters are read after the last patch's Event (if any) had time to go out.
  await sleep(2000);
  const after = await controller.metrics();
  const buckets = diffBuckets(reactionBuckets(after), reactionBuckets(before));
  const q = (p: number) => histogramQuantile(buckets, p);
  const total = diffVerbs(requestsByVerb(after), requestsByVerb(before));
  const perEvent = {} as Record<Verb, number>;
  for (const [v, n] of Object.entries(total) as [Verb, number][]) perEvent[v] = n / ctx.plan.reactionUpdates;
  return {
    status: 'ok',
    namespace: target.namespace,
    workloadsInNamespace: ctx.layout.workloads.filter((w) => w.namespace === target.namespace).length,
    workloadsInCluster: ctx.layout.workloads.length,
    updates: ctx.plan.reactionUpdates,
    timeouts,
    startedQuiet: settled.quiet,
    clientMs: summarize(client),
    clientFromSendMs: summarize(fromSend),
    updateRoundTripMs: summarize(roundTrip),
    controllerHistogram: {
      p50Ms: q(0.5).estimate * 1000,
      p90Ms: q(0.9).estimate * 1000,
      p99Ms: q(0.99).estimate * 1000,
      p99BucketUpperMs: q(0.99).bucketUpperBound * 1000,
      count: buckets[buckets.length - 1]?.count ?? 0,
    },
    requestsPerEvent: perEvent,
    requestsTotal: total,
    restartsStarted: restartsStarted(after) - restartsStarted(before),
    cpu,
  };
}
