// Scenario 2, reaction: one Secret used by one workload of the busiest
// namespace is updated again and again, each time once the previous patch
// was seen and the Deployment controller has caught up (so that the
// controller never waits for a rollout in progress). Client side: from the
// moment the Secret update returned to the moment the controller's write of
// the Deployment arrived on this process's watch. For our controller also its
// own keyvault_reloader_reaction_seconds histogram (Secret event to patch
// sent), its API requests, and any restart it deferred and why. The peer is
// measured the same way on a workload of its own in the same namespace.
import { now, sleep } from '../lib/clock.ts';
import { cpuMeter, type Context } from '../lib/context.ts';
import type { CpuUse } from '../lib/cpu.ts';
import type { ControllerProcess, MeasuredProcess } from '../lib/controller.ts';
import { MERGE_PATCH, rotationPatch, type Workload } from '../lib/fixtures.ts';
import { deferrals, diffBuckets, diffVerbs, reactionBuckets, requestsByVerb, restartsStarted, type Samples, type Verb } from '../lib/metrics.ts';
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
  /** Every client-side sample, in order (ms), to see where a tail came from. */
  clientSamplesMs: number[];
  /** Ours only. */
  controllerHistogram?: { p50Ms: number; p90Ms: number; p99Ms: number; p99BucketUpperMs: number; count: number };
  requestsPerEvent?: Record<Verb, number>;
  requestsTotal?: Record<Verb, number>;
  restartsStarted?: number;
  /** Restarts the controller put off during the scenario, by reason (keyvault_reloader_deferred_total). */
  deferred?: Record<string, number>;
  cpu: CpuUse;
}

const WAIT_MS = 15_000;
const QUIET_BETWEEN_MS = 300;

/** `ours` is set when the process is our controller, whose /metrics can be read. */
export async function reaction(ctx: Context, process: MeasuredProcess, target: Workload, updates: number, ours?: ControllerProcess): Promise<ReactionResult> {
  const secretPath = `/api/v1/namespaces/${target.namespace}/secrets/${target.secret}`;
  const settled = await ctx.tracker.settle(1000, ctx.plan.settleCapMs);
  const before = await ours?.metrics();
  const meter = cpuMeter(ctx, process);
  const client: number[] = [];
  const fromSend: number[] = [];
  const roundTrip: number[] = [];
  let timeouts = 0;
  let consecutive = 0;
  for (let i = 0; i < updates; i++) {
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
      // Nor the control plane's follow-up writes (new ReplicaSet, status) in flight: each sample starts on a quiet cluster.
      await ctx.tracker.settle(QUIET_BETWEEN_MS, WAIT_MS);
    } catch (err) {
      timeouts++;
      if (++consecutive >= 5) throw new Error(`reaction: 5 updates in a row got no patch: ${(err as Error).message}`);
    }
  }
  const cpu = meter.read();
  const result: ReactionResult = {
    status: 'ok',
    namespace: target.namespace,
    workloadsInNamespace: ctx.layout.workloads.filter((w) => w.namespace === target.namespace).length,
    workloadsInCluster: ctx.layout.workloads.length,
    updates,
    timeouts,
    startedQuiet: settled.quiet,
    clientMs: summarize(client),
    clientFromSendMs: summarize(fromSend),
    updateRoundTripMs: summarize(roundTrip),
    clientSamplesMs: client.map((v) => Math.round(v * 10) / 10),
    cpu,
  };
  if (ours && before) {
    // Counters are read after the last patch's Event (if any) had time to go out.
    await sleep(2000);
    Object.assign(result, controllerSide(await ours.metrics(), before, updates));
  }
  return result;
}

function controllerSide(after: Samples, before: Samples, updates: number): Partial<ReactionResult> {
  const buckets = diffBuckets(reactionBuckets(after), reactionBuckets(before));
  const q = (p: number) => histogramQuantile(buckets, p);
  const total = diffVerbs(requestsByVerb(after), requestsByVerb(before));
  const perEvent = {} as Record<Verb, number>;
  for (const [v, n] of Object.entries(total) as [Verb, number][]) perEvent[v] = n / updates;
  const deferredAfter = deferrals(after);
  const deferredBefore = deferrals(before);
  return {
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
    deferred: Object.fromEntries(Object.entries(deferredAfter).map(([k, v]) => [k, v - (deferredBefore[k] ?? 0)]).filter(([, v]) => v !== 0)),
  };
}
