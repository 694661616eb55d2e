// `npm run bench`: starts a local control plane, and for each scale (300
// Secrets, 10 000, 100 000; one cluster grown from one to the next) creates
// the objects and measures our controller (compiled, with the image's Node
// flags) and, side by side, stakater/Reloader v1.4.21, one at a time and in
// alternating order; then measures the digest function against crypto-js.
// Writes bench/results.json and the README's benchmark section. Everything it
// started is stopped on the way out, also on failure or Ctrl-C.
//
//   node bench/run.ts                   every scale, about an hour on 2 cores
//   node bench/run.ts --scales small,full   some of them (names: small, full, 10x)
//   node bench/run.ts --quick           one small scale (1 000 Secrets), short runs, ~2 min; writes bench/results.quick.json, leaves the README alone
//                                       (with --scales: the short runs at those scales)
//   --no-readme / --readme              whether to rewrite the README's section (default: only for a run of every scale)
//   --no-peer                           ours alone
//   --report-only                       rewrite the README's section from bench/results.json, measuring nothing
//   --profile                           also write --cpu-prof/--heap-prof profiles of each of our controller processes (under .tmp/) and summarize them
//
// The peer's binary: $KEYVAULT_RELOADER_TESTBED_BIN/stakater-reloader if present, else built once from
// ../shared/testbeds (see src/localenv/testbeds.ts); without either the run says so and measures ours alone.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createKubeClient, loadKubeConfig } from '../src/kube/client.ts';
import { PACKAGE_ROOT } from '../src/localenv/assets.ts';
import { startCluster, type LocalCluster } from '../src/localenv/cluster.ts';
import { ensureTestbed } from '../src/localenv/testbeds.ts';
import { createApi, type Api } from './lib/api.ts';
import { buildDist, imageNodeFlags, type Build } from './lib/build.ts';
import { now } from './lib/clock.ts';
import type { Context, Plan } from './lib/context.ts';
import { startController } from './lib/context.ts';
import { PeerProcess } from './lib/controller.ts';
import { layout, NAMESPACE_PREFIX, peerWorkload, SCALES, seed, type Layout, type Scale, type ScaleName } from './lib/fixtures.ts';
import { machine, source } from './lib/machine.ts';
import { formatProfile, summarizeDir } from './lib/profile.ts';
import { checkTargets, markdown, updateReadme, type Failed, type PeerInfo, type Results, type ScaleResult } from './lib/report.ts';
import { DeploymentTracker } from './lib/tracker.ts';
import { burst, type BurstResult } from './scenarios/burst.ts';
import { digest, type DigestResult } from './scenarios/digest.ts';
import { coldStarts, contenderRun, type ColdStartResult, type Contender } from './scenarios/startup.ts';
import { sync } from './scenarios/sync.ts';

const { values: flags } = parseArgs({
  allowNegative: true,
  options: {
    quick: { type: 'boolean', default: false },
    scales: { type: 'string' },
    peer: { type: 'boolean', default: true },
    profile: { type: 'boolean', default: false },
    // --readme / --no-readme; default: on for a run of every scale.
    readme: { type: 'boolean' },
    'report-only': { type: 'boolean', default: false },
  },
});

if (flags['report-only']) {
  // The README section again from bench/results.json, measuring nothing.
  const saved = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'bench', 'results.json'), 'utf8')) as Results;
  saved.targets = checkTargets(saved);
  updateReadme(path.join(PACKAGE_ROOT, 'README.md'), markdown(saved));
  process.stderr.write('updated README.md from bench/results.json\n');
  process.exit(0);
}

const BASE_PLAN: Plan = {
  quick: false,
  coldStarts: 2,
  contenderRuns: 3,
  idleWindows: 1,
  reactionUpdates: 100,
  burstSize: 500,
  burstRounds: 2,
  burstConcurrency: 64,
  steadyWindowSeconds: 60,
  restartsPerSecond: 50,
  // Off, in effect: the rate cap is what the burst measures. With replicas 0 a rollout completes as soon as the
  // Deployment controller observes it, which lags a 500-restart burst.
  maxInFlight: 100_000,
  settleCapMs: 60_000,
  steadySettleCapMs: 180_000,
};
/** Per scale: fewer repetitions where each costs more. */
const PLANS: Record<ScaleName, Plan> = {
  small: { ...BASE_PLAN, burstSize: 50, burstRounds: 1 },
  full: BASE_PLAN,
  '10x': { ...BASE_PLAN, coldStarts: 1, contenderRuns: 2, settleCapMs: 180_000, steadySettleCapMs: 300_000 },
  quick: { ...BASE_PLAN, quick: true, coldStarts: 1, contenderRuns: 1, reactionUpdates: 30, burstSize: 100, burstRounds: 1, steadyWindowSeconds: 10, settleCapMs: 20_000, steadySettleCapMs: 60_000 },
};
const ALL_SCALES: ScaleName[] = ['small', 'full', '10x'];
const scaleNames: ScaleName[] = flags.scales ? (flags.scales.split(',').map((s) => s.trim()) as ScaleName[]) : flags.quick ? ['quick'] : ALL_SCALES;
for (const s of scaleNames) if (!(s in SCALES)) throw new Error(`--scales: unknown scale ${JSON.stringify(s)}; use ${Object.keys(SCALES).join(', ')}`);
const everyScale = ALL_SCALES.every((s) => scaleNames.includes(s));

const started = now();
const log = (m: string) => process.stderr.write(`[bench ${((now() - started) / 1000).toFixed(0).padStart(5)}s] ${m}\n`);
const SEED_CONCURRENCY = 16;
/** The local Deployment controller's request rate: see ClusterOptions.controllerManagerQps. */
const CONTROLLER_MANAGER_QPS = 200;

const host = machine();
const measured = source(PACKAGE_ROOT);
log(`run of ${scaleNames.join(', ')} on ${measured.commit}${measured.uncommitted.length ? ` + uncommitted ${measured.uncommitted.join(', ')}` : ''} on ${host.cpuModel}, ${host.cores} cores, ${host.memoryGiB} GiB, Node ${host.node}, load average ${host.loadAverageAtStart}`);

let cluster: LocalCluster | undefined;
let api: Api | undefined;
let tracker: DeploymentTracker | undefined;
let build: Build | undefined;
let exitCode = 0;
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const profileDir = flags.profile ? path.join(PACKAGE_ROOT, '.tmp', 'bench-profiles', stamp) : undefined;

async function attempt<T>(name: string, fn: () => Promise<T>): Promise<T | Failed> {
  log(`${name}…`);
  const t = now();
  try {
    const r = await fn();
    log(`${name} done in ${((now() - t) / 1000).toFixed(0)} s`);
    return r;
  } catch (err) {
    exitCode = 1;
    log(`${name} FAILED: ${(err as Error).stack ?? err}`);
    return { status: 'failed', error: (err as Error).message };
  }
}

async function findPeer(): Promise<PeerInfo> {
  if (!flags.peer) return { available: false, reason: '--no-peer' };
  try {
    return { available: true, name: 'stakater/Reloader v1.4.21', binary: await ensureTestbed('stakater-reloader', log) };
  } catch (err) {
    return { available: false, reason: (err as Error).message };
  }
}

const scales: ScaleResult[] = [];
const out = path.join(PACKAGE_ROOT, 'bench', flags.quick ? 'results.quick.json' : 'results.json');
let peer: PeerInfo = { available: false, reason: 'not looked for' };
try {
  peer = await findPeer();
  log(peer.available ? `peer: ${peer.name} (${peer.binary})` : `peer: none, measuring ours alone (${peer.reason})`);
  build = await buildDist();
  const nodeFlags = imageNodeFlags();
  log(`ours: ${path.relative(PACKAGE_ROOT, build.main)} with the image's Node flags: ${nodeFlags.join(' ') || 'none'}`);
  cluster = await startCluster({ progress: log, controllerManagerQps: CONTROLLER_MANAGER_QPS });
  api = createApi({ server: cluster.server, caFile: cluster.caFile, token: cluster.adminToken });
  const client = createKubeClient(loadKubeConfig(cluster.kubeconfig));
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const nodeArgs = [...nodeFlags, ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--heap-prof', `--heap-prof-dir=${profileDir}`] : [])];

  let previous: Layout | undefined;
  for (const name of scaleNames) {
    const scale: Scale = SCALES[name];
    // --quick: the short plan at whatever scales were asked for (a smoke test of the whole run).
    const plan = flags.quick ? PLANS.quick : PLANS[name];
    const objects = layout(scale);
    log(`— scale ${name}: ${scale.secrets} Secrets (~${scale.secretBytes / 1024} KiB) and ${scale.deployments} Deployments (replicas 0) in ${scale.namespaces} namespaces; creating what the previous scale did not have, ${SEED_CONCURRENCY} at a time`);
    const seeded = await seed(api, objects, scale, SEED_CONCURRENCY, log, previous);
    previous = objects;
    log(`created ${seeded.secrets} Secrets in ${seeded.secretsSeconds.toFixed(0)} s, ${seeded.deployments} Deployments in ${seeded.deploymentsSeconds.toFixed(0)} s`);
    if (!tracker) {
      tracker = new DeploymentTracker(client, NAMESPACE_PREFIX);
      await tracker.start();
    }
    const t = tracker;
    await t.waitFor(`the tracker to see all ${objects.workloads.length + 1} Deployments`, () => t.size >= objects.workloads.length + 1, 10 * 60_000);
    await t.waitFor('every Deployment to be observed by the Deployment controller', () => t.allObserved(), 30 * 60_000);
    await t.settle(3000, plan.settleCapMs);

    const ctx: Context = { cluster, api, client, tracker: t, layout: objects, scale, plan, main: build.main, nodeArgs, log };
    const cold = await attempt(`${name}: cold starts`, () => coldStarts(ctx, plan.coldStarts, `kvr-bench-${name}`));
    const key = cold.status === 'ok' ? cold.key : `kvr-bench-${name}-fallback`;
    const target = objects.workloads.find((w) => w.namespace === objects.hot)!;
    const contenders: Contender[] = [
      {
        id: 'keyvault-reloader',
        target,
        async start(label) {
          const c = await startController(ctx, key, label);
          return { process: c, ours: c };
        },
      },
    ];
    if (peer.available) {
      const binary = peer.binary;
      contenders.push({ id: 'stakater-reloader', target: peerWorkload(objects), start: async (label) => ({ process: await PeerProcess.start({ binary, cluster: ctx.cluster, label }) }) });
    }
    const runs: ScaleResult['runs'] = { 'keyvault-reloader': [], 'stakater-reloader': [] };
    const failures: string[] = [];
    const burstResult: { value: BurstResult | Failed } = { value: { status: 'failed', error: 'not run' } };
    for (let r = 0; r < plan.contenderRuns; r++) {
      // Alternating order, so that neither always runs on the cluster the other has just warmed or disturbed.
      const order = r % 2 === 0 ? contenders : [...contenders].reverse();
      for (const c of order) {
        const last = r === plan.contenderRuns - 1 && c.id === 'keyvault-reloader';
        const run = await attempt(`${name}: ${c.id} run ${r + 1}/${plan.contenderRuns}`, () =>
          contenderRun(ctx, c, `${name}-${c.id}-${r + 1}`, last ? async (ours) => void (burstResult.value = await attempt(`${name}: burst`, () => burst(ctx, ours))) : undefined),
        );
        if ('status' in run) failures.push(`${c.id} run ${r + 1}: ${run.error}`);
        else runs[c.id].push(run);
      }
    }
    scales.push({ scale, plan: { ...plan }, seed: seeded, cold: cold as ColdStartResult | Failed, runs, failures, burst: burstResult.value });
    // What is measured so far is kept, should a later, larger scale not finish.
    writeResults(undefined);
  }
} catch (err) {
  exitCode = 1;
  log(`FAILED: ${(err as Error).stack ?? err}`);
} finally {
  tracker?.stop();
  await api?.close().catch(() => {});
  if (cluster) {
    // The control plane's folder goes with it; the controllers' logs are worth keeping.
    const logs = path.join(PACKAGE_ROOT, '.tmp', 'bench-logs', stamp);
    mkdirSync(logs, { recursive: true });
    for (const f of readdirSync(cluster.dir).filter((f) => f.endsWith('.log'))) copyFileSync(path.join(cluster.dir, f), path.join(logs, f));
    log(`logs in ${path.relative(PACKAGE_ROOT, logs)}`);
  }
  await cluster?.stop().catch(() => {});
  await build?.remove();
}

function writeResults(dg: DigestResult | Failed | undefined): Results {
  const results: Results = {
    version: 2,
    mode: flags.quick ? 'quick' : everyScale ? 'full' : 'partial',
    machine: host,
    source: measured,
    peer,
    nodeFlags: imageNodeFlags(),
    durationSeconds: (now() - started) / 1000,
    scales,
    digest: dg ?? { status: 'failed', error: 'not measured yet (the run stopped before it)' },
    sync: sync(),
    targets: [],
  };
  results.targets = checkTargets(results);
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  return results;
}

// No cluster: alone on the CPU (the control plane is stopped), so it runs last.
const dg = await attempt('6. digest: node:crypto vs crypto-js', async () => digest(flags.quick ? { rounds: 6, perRound: 2000 } : { rounds: 20, perRound: 5000 }));
const results = writeResults(dg);
log(`wrote ${path.relative(PACKAGE_ROOT, out)}`);
const section = markdown(results);
if (flags.readme ?? (everyScale && !flags.quick)) {
  updateReadme(path.join(PACKAGE_ROOT, 'README.md'), section);
  log('updated README.md between the bench markers');
}
process.stdout.write(`${section}\n\n`);
for (const t of results.targets) log(`target ${t.met ? 'met   ' : 'MISSED'} ${t.scenario}: ${t.what}: ${t.measured} (target ${t.target})`);
if (profileDir) {
  for (const p of summarizeDir(profileDir)) process.stderr.write(`\n${formatProfile(p)}\n`);
  log(`profiles in ${path.relative(PACKAGE_ROOT, profileDir)}`);
}
log(`done in ${((now() - started) / 60_000).toFixed(1)} min`);
process.exit(exitCode);
