// `npm run bench`: starts a local control plane, creates the objects, runs
// the scenarios against the controller running as its own process, and
// writes bench/results.json and the README's benchmark table. Everything it
// started is stopped on the way out, also on failure or Ctrl-C.
//
//   node bench/run.ts            full scale (10 000 Secrets, 2 000 Deployments), ~15–20 min on 2 cores
//   node bench/run.ts --quick    small scale, ~3 min; writes bench/results.quick.json, leaves the README alone
//   --no-readme / --readme       whether to rewrite the README's table (default: only for a full run)
//   node bench/run.ts --profile  also write --cpu-prof/--heap-prof profiles of each controller process (under .tmp/) and summarize them
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createKubeClient, loadKubeConfig } from '../src/kube/client.ts';
import { PACKAGE_ROOT } from '../src/localenv/assets.ts';
import { startCluster, type LocalCluster } from '../src/localenv/cluster.ts';
import { createApi, type Api } from './lib/api.ts';
import { now } from './lib/clock.ts';
import type { Context, Plan } from './lib/context.ts';
import { startController } from './lib/context.ts';
import type { ControllerProcess } from './lib/controller.ts';
import { FULL_SCALE, layout, NAMESPACE_PREFIX, QUICK_SCALE, seed } from './lib/fixtures.ts';
import { machine, source } from './lib/machine.ts';
import { formatProfile, summarizeDir } from './lib/profile.ts';
import { checkTargets, markdown, updateReadme, type Failed, type Results } from './lib/report.ts';
import { DeploymentTracker } from './lib/tracker.ts';
import { burst } from './scenarios/burst.ts';
import { reaction } from './scenarios/reaction.ts';
import { startup } from './scenarios/startup.ts';
import { steady } from './scenarios/steady.ts';
import { sync } from './scenarios/sync.ts';

const { values: flags } = parseArgs({
  allowNegative: true,
  options: {
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    // --readme / --no-readme; default: on for a full run, off for --quick.
    readme: { type: 'boolean' },
  },
});

const FULL_PLAN: Plan = {
  quick: false,
  coldStarts: 3,
  warmStarts: 3,
  builtStarts: 2,
  reactionUpdates: 200,
  burstSize: 500,
  burstRounds: 3,
  burstConcurrency: 64,
  steadyWindows: 3,
  steadyWindowSeconds: 60,
  restartsPerSecond: 50,
  // Off, in effect: the rate cap is what the burst measures. With replicas 0 a rollout completes as soon as the
  // Deployment controller observes it, and the local one (20 writes/s) lags a 500-restart burst by minutes.
  maxInFlight: 100_000,
  settleCapMs: 45_000,
  steadySettleCapMs: 180_000,
};
const QUICK_PLAN: Plan = { ...FULL_PLAN, quick: true, coldStarts: 2, warmStarts: 2, builtStarts: 1, reactionUpdates: 50, burstSize: 100, burstRounds: 2, steadyWindows: 2, steadyWindowSeconds: 10, settleCapMs: 20_000, steadySettleCapMs: 60_000 };

const plan = flags.quick ? QUICK_PLAN : FULL_PLAN;
const scale = flags.quick ? QUICK_SCALE : FULL_SCALE;
const started = now();
const log = (m: string) => process.stderr.write(`[bench ${((now() - started) / 1000).toFixed(0).padStart(4)}s] ${m}\n`);
const SEED_CONCURRENCY = 16;

const host = machine();
const measured = source(PACKAGE_ROOT);
log(`${flags.quick ? 'quick' : 'full'} run of ${measured.commit}${measured.uncommitted.length ? ` + uncommitted ${measured.uncommitted.join(', ')}` : ''} on ${host.cpuModel}, ${host.cores} cores, ${host.memoryGiB} GiB, Node ${host.node}, load average ${host.loadAverageAtStart}`);

let cluster: LocalCluster | undefined;
let api: Api | undefined;
let tracker: DeploymentTracker | undefined;
let controller: ControllerProcess | undefined;
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

try {
  cluster = await startCluster({ progress: log });
  api = createApi({ server: cluster.server, caFile: cluster.caFile, token: cluster.adminToken });
  const client = createKubeClient(loadKubeConfig(cluster.kubeconfig));
  const objects = layout(scale);

  log(`creating ${scale.secrets} Secrets (~${scale.secretBytes / 1024} KiB) and ${scale.deployments} Deployments (replicas 0) in ${scale.namespaces} namespaces, ${SEED_CONCURRENCY} at a time`);
  const seeded = await seed(api, objects, scale, SEED_CONCURRENCY, log);
  log(`created in ${seeded.secretsSeconds.toFixed(0)} s (Secrets) + ${seeded.deploymentsSeconds.toFixed(0)} s (Deployments)`);
  tracker = new DeploymentTracker(client, NAMESPACE_PREFIX);
  await tracker.start();
  if (tracker.size !== objects.workloads.length) throw new Error(`the tracker sees ${tracker.size} Deployments, expected ${objects.workloads.length}`);
  log('waiting for the Deployment controller to create every ReplicaSet and report every Deployment');
  const seededTracker = tracker;
  await tracker.waitFor('every Deployment to be observed by the Deployment controller', () => seededTracker.allObserved(), 20 * 60_000);
  await tracker.settle(3000, plan.settleCapMs);

  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const ctx: Context = {
    cluster,
    api,
    client,
    tracker,
    layout: objects,
    scale,
    plan,
    nodeArgs: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--heap-prof', `--heap-prof-dir=${profileDir}`] : [],
    log,
  };

  const st = await attempt('1. start-up', async () => {
    const r = await startup(ctx);
    controller = r.controller;
    return r.result;
  });
  if (!controller) controller = await startController(ctx, 'kvr-bench-key-1', 'fallback');
  await controller.waitReady(10 * 60_000);
  const running = controller;
  // Steady state first: the warm starts wrote nothing, so the cluster is quietest now; the burst, which
  // leaves the Deployment controller minutes of catching up, comes last.
  const sd = await attempt('5. steady state', () => steady(ctx, running));
  const re = await attempt('2. reaction', () => reaction(ctx, running));
  const bu = await attempt('3. burst', () => burst(ctx, running));
  log('4. sync: blocked (no Key Vault emulator on these machines)');

  const scenarios: Results['scenarios'] = { startup: st, reaction: re, burst: bu, sync: sync(), steady: sd };
  const results: Results = {
    version: 1,
    mode: flags.quick ? 'quick' : 'full',
    machine: host,
    source: measured,
    scale,
    plan: { ...plan },
    seed: { ...seeded },
    durationSeconds: (now() - started) / 1000,
    scenarios,
    targets: checkTargets(scenarios),
  };
  const out = path.join(PACKAGE_ROOT, 'bench', flags.quick ? 'results.quick.json' : 'results.json');
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote ${path.relative(PACKAGE_ROOT, out)}`);
  const table = markdown(results);
  if (flags.readme ?? !flags.quick) {
    updateReadme(path.join(PACKAGE_ROOT, 'README.md'), table);
    log('updated README.md between the bench markers');
  }
  process.stdout.write(`${table}\n\n`);
  for (const t of results.targets) log(`target ${t.met ? 'met   ' : 'MISSED'} ${t.scenario}: ${t.what}: ${t.measured} (target ${t.target})`);
} catch (err) {
  exitCode = 1;
  log(`FAILED: ${(err as Error).stack ?? err}`);
} finally {
  await controller?.stop().catch(() => {});
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
  if (profileDir) {
    for (const p of summarizeDir(profileDir)) process.stderr.write(`\n${formatProfile(p)}\n`);
    log(`profiles in ${path.relative(PACKAGE_ROOT, profileDir)}`);
  }
}
log(`done in ${((now() - started) / 60_000).toFixed(1)} min`);
process.exit(exitCode);
