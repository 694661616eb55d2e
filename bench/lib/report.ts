// results.json and the README table: the same numbers, one for machines and
// one for people. Targets are checked here, once, so both say the same.
import { readFileSync, writeFileSync } from 'node:fs';
import type { BurstResult } from '../scenarios/burst.ts';
import type { ReactionResult } from '../scenarios/reaction.ts';
import type { StartupResult } from '../scenarios/startup.ts';
import type { SteadyResult } from '../scenarios/steady.ts';
import type { Blocked } from '../scenarios/sync.ts';
import type { Scale } from './fixtures.ts';
import type { Machine, Source } from './machine.ts';
import type { Verb } from './metrics.ts';
import type { Summary } from './stats.ts';
import { MISSED } from './findings.ts';

export interface Failed {
  status: 'failed';
  error: string;
}

export interface Results {
  version: 1;
  mode: 'full' | 'quick';
  machine: Machine;
  source: Source;
  scale: Scale;
  plan: Record<string, unknown>;
  seed: Record<string, unknown>;
  durationSeconds: number;
  scenarios: {
    startup: StartupResult | Failed;
    reaction: ReactionResult | Failed;
    burst: BurstResult | Failed;
    sync: Blocked;
    steady: SteadyResult | Failed;
  };
  targets: Target[];
}

export interface Target {
  id: keyof typeof MISSED;
  scenario: string;
  what: string;
  target: string;
  measured: string;
  met: boolean | null;
}

const ms = (v: number) => (Number.isFinite(v) ? (v < 10 ? v.toFixed(1) : v.toFixed(0)) : '–');
const s2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '–');
const s1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '–');
const mib = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : '–');
const spread = (x: Summary, f: (v: number) => string) => `${f(x.p50)} (${f(x.min)}–${f(x.max)}, n=${x.n})`;
const tails = (x: Summary, f: (v: number) => string) => `${f(x.p50)} / ${f(x.p90)} / ${f(x.p99)} (max ${f(x.max)}, n=${x.n})`;

function verbs(r: Record<Verb, number> | undefined, digits = 0): string {
  if (!r) return '–';
  const parts = Object.entries(r)
    .filter(([, n]) => n !== 0)
    .map(([v, n]) => `${v} ${digits ? n.toFixed(digits) : Math.round(n)}`);
  return parts.length ? parts.join(', ') : 'none';
}

export function checkTargets(r: Results['scenarios']): Target[] {
  const t: Target[] = [];
  const { startup: st, reaction: re, burst: bu, steady: sd } = r;
  if (st.status === 'ok') {
    t.push({ id: 'rss', scenario: 'Start-up', what: 'RSS once started (ready, every Deployment adopted, +3 s; median of starts)', target: '≤ 150 MiB', measured: `${mib(st.rssAfterReadyMiB.p50)} MiB (max ${mib(st.rssAfterReadyMiB.max)})`, met: st.rssAfterReadyMiB.p50 <= 150 });
    t.push({ id: 'warmWrites', scenario: 'Start-up', what: 'writes at a warm restart (baselines in place)', target: '0', measured: String(st.warmWritesMax), met: st.warmWritesMax === 0 });
  }
  if (re.status === 'ok') {
    t.push({ id: 'reactionP99', scenario: 'Reaction', what: 'p99 Secret update → patch seen (client side)', target: '≤ 100 ms', measured: `${ms(re.clientMs.p99)} ms`, met: re.clientMs.p99 <= 100 });
    t.push({ id: 'reactionLists', scenario: 'Reaction', what: 'LISTs during the scenario', target: '0', measured: String(re.requestsTotal.LIST), met: re.requestsTotal.LIST === 0 });
    const patches = re.requestsTotal.PATCH;
    const expected = re.updates - re.timeouts;
    t.push({ id: 'reactionPatches', scenario: 'Reaction', what: 'PATCHes per affected workload per update', target: '1', measured: `${patches} for ${expected} updates`, met: patches === expected && re.timeouts === 0 });
  }
  if (bu.status === 'ok') {
    const allOnce = bu.rounds.every((x) => x.workloadsPatched === x.updates && x.extraPatches === 0 && x.requests.PATCH === x.updates);
    t.push({ id: 'burstOnce', scenario: 'Burst', what: 'each affected workload patched exactly once', target: `${bu.size} per round`, measured: bu.rounds.map((x) => `${x.workloadsPatched} (+${x.extraPatches} extra, ${x.requests.PATCH} PATCH)`).join('; '), met: allOnce });
    t.push({ id: 'burstCap', scenario: 'Burst', what: `restarts in any 1 s window (--restarts-per-second ${bu.rateCap})`, target: `≤ ${bu.rateCap}`, measured: `max ${bu.maxPerSlidingSecond.max} in a sliding second, ${bu.maxPerFixedSecond.max} in fixed ones`, met: bu.maxPerSlidingSecond.max <= bu.rateCap });
  }
  if (sd.status === 'ok') {
    t.push({ id: 'steadyWrites', scenario: 'Steady state', what: `writes over ${sd.windows.length} × ${sd.windowSeconds} s`, target: '0', measured: String(sd.writesTotal), met: sd.writesTotal === 0 });
  }
  return t;
}

export function markdown(res: Results): string {
  const m = res.machine;
  const { startup: st, reaction: re, burst: bu, steady: sd, sync } = res.scenarios;
  const rows: string[][] = [];
  const failed = (name: string, x: Failed) => rows.push([name, 'failed', x.error.split('\n')[0]!.slice(0, 200), '']);
  const target = (id: string) => {
    const t = res.targets.find((x) => x.id === id);
    return t ? `${t.target} ${t.met ? '✅' : '❌'}` : '';
  };

  if (st.status === 'ok') {
    const n = `${st.objects.secrets.toLocaleString('en')} Secrets, ${st.objects.deployments.toLocaleString('en')} Deployments, ${st.objects.namespaces} namespaces`;
    rows.push(['1. Start-up', `process start → ready (caches synced), s — ${n}`, spread(st.readySeconds, s2), '']);
    rows.push(['', 'process start → every Deployment has its baseline (cold: new key), s', spread(st.adoptedSeconds, s2), '']);
    rows.push(['', 'RSS at ready, MiB', spread(st.rssAtReadyMiB, mib), '']);
    rows.push(['', 'RSS once started (ready, every Deployment adopted, +3 s), MiB', spread(st.rssAfterReadyMiB, mib), target('rss')]);
    rows.push(['', 'V8 heap used then, MiB', spread(st.heapUsedMiB, mib), '']);
    rows.push(['', 'RSS once started, compiled build as the image runs it (`node dist/cli/main.js`, warm), MiB', spread(st.builtRssAfterReadyMiB, mib), '']);
    rows.push(['', 'peak RSS during start-up (VmHWM), MiB', spread(st.peakRssMiB, mib), '']);
    rows.push(['', 'API requests, cold start (median)', verbs(st.coldRequestsMedian), '']);
    rows.push(['', 'API requests, warm restart with baselines in place (median); writes (most in any start)', `${verbs(st.warmRequestsMedian)}; writes ${st.warmWritesMax}`, target('warmWrites')]);
  } else failed('1. Start-up', st);

  if (re.status === 'ok') {
    rows.push(['2. Reaction', `Secret update returned → patch seen on a watch, ms p50 / p90 / p99 (${re.workloadsInNamespace} workloads in the namespace, ${re.workloadsInCluster} in all)`, tails(re.clientMs, ms), target('reactionP99')]);
    const h = re.controllerHistogram;
    rows.push(['', 'controller histogram keyvault_reloader_reaction_seconds, ms p50 / p90 / p99 (bucket-interpolated)', `${ms(h.p50Ms)} / ${ms(h.p90Ms)} / ${ms(h.p99Ms)} (p99 bucket ≤ ${ms(h.p99BucketUpperMs)}, n=${h.count})`, '']);
    rows.push(['', 'API requests per update', verbs(re.requestsPerEvent, 2), `0 LIST ${re.requestsTotal.LIST === 0 ? '✅' : '❌'}, 1 PATCH ${res.targets.find((x) => x.id === 'reactionPatches')?.met ? '✅' : '❌'}`]);
  } else failed('2. Reaction', re);

  if (bu.status === 'ok') {
    rows.push(['3. Burst', `${bu.size} Secret updates (distinct workloads) sent in, s`, spread(bu.sendSeconds, s2), '']);
    rows.push(['', 'first update → last patch seen (drain), s', spread(bu.drainSeconds, s2), '']);
    rows.push(['', 'restarts started per round', spread(bu.restartsStarted, (v) => v.toFixed(0)), target('burstOnce')]);
    rows.push(['', `restarts in the busiest 1 s, sliding window (controller log); cap ${bu.rateCap}/s`, spread(bu.maxPerSlidingSecond, (v) => v.toFixed(0)), target('burstCap')]);
    rows.push(['', 'same, fixed 1 s windows from the first restart / sliding, as seen on a watch', `${spread(bu.maxPerFixedSecond, (v) => v.toFixed(0))} / ${spread(bu.maxPerSlidingSecondSeenByWatch, (v) => v.toFixed(0))}`, '']);
    rows.push(['', 'mean patch rate, /s', spread(bu.meanPerSecond, s1), '']);
  } else failed('3. Burst', bu);

  rows.push(['4. Sync (Key Vault)', '**blocked**', sync.reason, '']);

  if (sd.status === 'ok') {
    rows.push(['5. Steady state', `CPU seconds per ${sd.windowSeconds} s window`, spread(sd.cpuSecondsPerWindow, s2), '']);
    rows.push(['', 'CPU, % of one core', spread(sd.cpuPercent, s2), '']);
    rows.push(['', `API requests over ${sd.windows.length} × ${sd.windowSeconds} s`, verbs(sd.requestsTotal), target('steadyWrites')]);
    rows.push(['', 'RSS, MiB', spread(sd.rssMiB, mib), '']);
  } else failed('5. Steady state', sd);

  const missed = res.targets.filter((t) => t.met === false);
  const lines = [
    '## Benchmarks',
    '',
    `\`npm run bench\` (\`--quick\` for a smaller scale) on a real local control plane (etcd, kube-apiserver, controller-manager, scheduler, KWOK). ` +
      `Last full run: ${m.date.slice(0, 16).replace('T', ' ')} UTC, commit ${res.source.commit}${res.source.uncommitted.length ? ` with uncommitted changes to ${res.source.uncommitted.join(', ')}` : ''}, on ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node} ` +
      `(load average ${m.loadAverageAtStart} at the start: a shared machine, so medians and spreads, not single runs). ` +
      `The whole run took ${Math.round(res.durationSeconds / 60)} min; the raw numbers are in \`bench/results.json\`.`,
    '',
    '| scenario | measure | result: median (min–max, n) or p50 / p90 / p99 | target |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`),
    '',
    'How: the controller runs as its own process (`keyvault-reloader run --mode reloader --leader-elect=false --settle 0s --min-restart-interval 0s ' +
      `--restarts-per-second ${res.plan['restartsPerSecond']} --max-in-flight ${res.plan['maxInFlight']}\`); readiness is polled on /readyz, memory read from /proc/<pid>/status, ` +
      'CPU from /proc/<pid>/stat, API requests from its `keyvault_reloader_api_requests_total`. Client-side times end when the Deployment update arrives on a watch in the benchmark process. ' +
      `Deployments have \`replicas: 0\` so that KWOK and the scheduler need not run ${res.scale.deployments.toLocaleString('en')} pods; the reloader's work (cache, decide, patch) does not depend on the replica count. ` +
      `Objects are created ${res.seed['concurrency']} requests at a time; each Secret holds about ${res.scale.secretBytes / 1024} KiB.`,
    '',
    'Notes:',
    '',
    '- Reaction: `--settle 0s --min-restart-interval 0s`, and each update waits until the previous restart was patched and observed by the Deployment controller, so that nothing is deferred as a rollout in progress. ' +
      'The client-side time can be below zero: the controller may patch before the Secret update\'s response reaches the benchmark.',
    '- Every baseline or restart patch bumps the Deployment\'s `metadata.generation` (the API server does so for any annotation change of a Deployment), so the Deployment controller then writes its status and copies the annotation to the ReplicaSet: ' +
      'two more writes per patch, made by kube-controller-manager at its default 20 requests/s. After 2 000 adoptions it needs about 3 minutes to catch up, and a workload counts as a rollout in progress until it has. ' +
      'Scenarios wait for it at most ' + `${Math.round(Number(res.plan['settleCapMs']) / 1000)} s and record whether they started quiet (\`startedQuiet\` in results.json); a burst takes only workloads the Deployment controller has observed.`,
    `- Burst: \`--max-in-flight ${res.plan['maxInFlight']}\` (off, in effect) so that the rate cap is what is measured; with replicas 0 a rollout completes once the Deployment controller observes it, which here lags a 500-restart burst by minutes.`,
    '- Evidence scripts beside the benchmark (not part of `npm run bench`): `node bench/rate-cap.ts` (p-queue fixed vs sliding windows, no cluster), `node bench/client-cost.ts` (cost of a new TLS connection per API request), `node bench/lib/profile.ts <.cpuprofile|.heapprofile|dir>` (summaries of `npm run bench -- --profile`).',
  ];
  if (missed.length) {
    lines.push('', 'Targets missed:', '');
    for (const t of missed) lines.push(`- **${t.scenario}: ${t.what}** — ${t.measured} against ${t.target}. ${MISSED[t.id]}`);
  }
  return lines.join('\n');
}

export const START = '<!-- bench:start -->';
export const END = '<!-- bench:end -->';

/** Replaces what is between the markers (appending them at the end if missing); nothing else changes. */
export function updateReadme(file: string, section: string): void {
  const text = readFileSync(file, 'utf8');
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  const block = `${START}\n${section}\n${END}`;
  const next = a >= 0 && b > a ? text.slice(0, a) + block + text.slice(b + END.length) : `${text.replace(/\n*$/, '\n')}\n${block}\n`;
  writeFileSync(file, next);
}
