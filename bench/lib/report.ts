// results.json and the README section: the same numbers, one for machines and
// one for people. Summaries and targets are computed here, once, from the raw
// runs, so that both say the same.
import { readFileSync, writeFileSync } from 'node:fs';
import type { BurstResult } from '../scenarios/burst.ts';
import type { DigestResult } from '../scenarios/digest.ts';
import type { ColdStartResult, ContenderRun } from '../scenarios/startup.ts';
import type { Blocked } from '../scenarios/sync.ts';
import type { Plan } from './context.ts';
import type { Scale, SeedResult } from './fixtures.ts';
import type { Machine, Source } from './machine.ts';
import type { Verb } from './metrics.ts';
import { summarize, type Summary } from './stats.ts';
import { MISSED } from './findings.ts';

export interface Failed {
  status: 'failed';
  error: string;
}

export type PeerInfo = { available: true; name: string; binary: string } | { available: false; reason: string };
export type ContenderId = 'keyvault-reloader' | 'stakater-reloader';

export interface ScaleResult {
  scale: Scale;
  plan: Plan;
  seed: SeedResult;
  cold: ColdStartResult | Failed;
  runs: Record<ContenderId, ContenderRun[]>;
  /** Runs that failed, with why. */
  failures: string[];
  burst: BurstResult | Failed;
}

export interface Results {
  version: 2;
  mode: 'full' | 'partial' | 'quick';
  machine: Machine;
  source: Source;
  peer: PeerInfo;
  /** The Node flags our controller ran with: the image's ENTRYPOINT's. */
  nodeFlags: string[];
  durationSeconds: number;
  scales: ScaleResult[];
  digest: DigestResult | Failed;
  sync: Blocked;
  targets: Target[];
}

export interface Target {
  id: keyof typeof MISSED;
  scenario: string;
  what: string;
  target: string;
  measured: string;
  met: boolean;
}

/** One contender at one scale, over all its runs. */
export interface ContenderSummary {
  runs: number;
  settledSeconds: Summary;
  readySeconds: Summary;
  startupCpuSeconds: Summary;
  rssMiB: Summary;
  peakRssMiB: Summary;
  anonMiB: Summary;
  fileMiB: Summary;
  heapUsedMiB: Summary;
  idleCpuPerMinute: Summary;
  /** Every reaction sample of every run, pooled. */
  reactionMs: Summary;
  /** Of our controller: most writes in any warm start, and requests per Secret update (median over runs). */
  warmWritesMax: number;
  requestsPerUpdate: Partial<Record<Verb, number>>;
  reactionTimeouts: number;
  deferred: Record<string, number>;
}

export function summarizeRuns(runs: readonly ContenderRun[]): ContenderSummary {
  const s = (f: (r: ContenderRun) => number | undefined) => summarize(runs.map(f).filter((v): v is number => v !== undefined && Number.isFinite(v)));
  const requestsPerUpdate: Partial<Record<Verb, number>> = {};
  for (const v of Object.keys(runs[0]?.reaction.requestsPerEvent ?? {}) as Verb[]) requestsPerUpdate[v] = s((r) => r.reaction.requestsPerEvent?.[v]).p50;
  const deferred: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.reaction.deferred ?? {})) deferred[k] = (deferred[k] ?? 0) + v;
  return {
    runs: runs.length,
    settledSeconds: s((r) => r.start.settledSeconds),
    readySeconds: s((r) => r.start.readySeconds),
    startupCpuSeconds: s((r) => r.start.startupCpuSeconds),
    rssMiB: s((r) => r.start.memory.rssMiB),
    peakRssMiB: s((r) => r.start.memory.peakRssMiB),
    anonMiB: s((r) => r.start.memory.anonMiB),
    fileMiB: s((r) => r.start.memory.fileMiB),
    heapUsedMiB: s((r) => r.start.heap?.heapUsedMiB),
    idleCpuPerMinute: summarize(runs.flatMap((r) => r.idle.map((w) => w.cpuPerMinute))),
    reactionMs: summarize(runs.flatMap((r) => r.reaction.clientSamplesMs)),
    warmWritesMax: Math.max(0, ...runs.map((r) => r.start.writes ?? 0)),
    requestsPerUpdate,
    reactionTimeouts: runs.reduce((n, r) => n + r.reaction.timeouts, 0),
    deferred,
  };
}

const ms = (v: number) => (Number.isFinite(v) ? (v < 10 ? v.toFixed(1) : v.toFixed(0)) : '–');
const s2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '–');
const s3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '–');
const s1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '–');
const mib = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : '–');
const x = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–');
const spread = (v: Summary, f: (n: number) => string) => (v.n ? `${f(v.p50)} (${f(v.min)}–${f(v.max)}, n=${v.n})` : '–');
const tails = (v: Summary, f: (n: number) => string) => (v.n ? `${f(v.p50)} / ${f(v.p90)} / ${f(v.p99)} (max ${f(v.max)}, n=${v.n})` : '–');
const ok = <T extends object>(r: T | Failed): r is T => (r as Failed).status !== 'failed';

function verbs(r: Partial<Record<Verb, number>> | undefined, digits = 0): string {
  if (!r) return '–';
  const parts = Object.entries(r)
    .filter(([, n]) => n !== 0 && n !== undefined)
    .map(([v, n]) => `${v} ${digits ? n!.toFixed(digits) : Math.round(n!)}`);
  return parts.length ? parts.join(', ') : 'none';
}

const objectsOf = (s: Scale) => s.secrets + s.deployments;

export function checkTargets(res: Results): Target[] {
  const t: Target[] = [];
  for (const sr of res.scales) {
    const name = sr.scale.name;
    const ours = summarizeRuns(sr.runs['keyvault-reloader']);
    const peer = sr.runs['stakater-reloader'].length ? summarizeRuns(sr.runs['stakater-reloader']) : undefined;
    const at = `at ${name} scale`;
    if (ours.runs === 0) continue;
    if (name === 'full') {
      t.push({ id: 'rss', scenario: 'Start-up', what: `RSS once started (settled + 3 s), every start ${at}`, target: '≤ 100 MiB', measured: `max ${mib(ours.rssMiB.max)} MiB (median ${mib(ours.rssMiB.p50)})`, met: ours.rssMiB.max <= 100 });
      t.push({ id: 'peakRss', scenario: 'Start-up', what: `peak RSS during start-up (VmHWM), every start ${at}`, target: '≤ 100 MiB', measured: `max ${mib(ours.peakRssMiB.max)} MiB`, met: ours.peakRssMiB.max <= 100 });
      t.push({ id: 'reactionP99', scenario: 'Reaction', what: `p99 Secret update → patch seen ${at} (${sr.runs['keyvault-reloader'][0]!.reaction.workloadsInNamespace} workloads in the namespace)`, target: '≤ 20 ms', measured: `${ms(ours.reactionMs.p99)} ms`, met: ours.reactionMs.p99 <= 20 });
    }
    if (peer && name === 'full') t.push({ id: 'rssVsPeer', scenario: 'Start-up', what: `RSS once started ${at}, ours against the peer's (medians)`, target: '≤ 1×', measured: `${mib(ours.rssMiB.p50)} vs ${mib(peer.rssMiB.p50)} MiB`, met: ours.rssMiB.p50 <= peer.rssMiB.p50 });
    if (peer) t.push({ id: 'cpuVsPeer', scenario: 'Start-up', what: `start-up CPU ${at}, ours (warm) against the peer's (medians)`, target: '≤ 1×', measured: `${s2(ours.startupCpuSeconds.p50)} vs ${s2(peer.startupCpuSeconds.p50)} s`, met: ours.startupCpuSeconds.p50 <= peer.startupCpuSeconds.p50 });
    t.push({ id: 'idleCpu', scenario: 'Idle', what: `CPU with nothing changing ${at} (median of windows)`, target: '≤ 0.02 s/min', measured: `${s3(ours.idleCpuPerMinute.p50)} s/min (max ${s3(ours.idleCpuPerMinute.max)})`, met: ours.idleCpuPerMinute.p50 <= 0.02 });
    t.push({ id: 'flatTail', scenario: 'Reaction', what: `p99 against p50 ${at}`, target: '≤ 2×', measured: `${ms(ours.reactionMs.p99)} / ${ms(ours.reactionMs.p50)} ms = ${x(ours.reactionMs.p99 / ours.reactionMs.p50)}`, met: ours.reactionMs.p99 <= 2 * ours.reactionMs.p50 });
    t.push({ id: 'warmWrites', scenario: 'Start-up', what: `writes at a warm start ${at} (most in any)`, target: '0', measured: String(ours.warmWritesMax), met: ours.warmWritesMax === 0 });
    const reactions = sr.runs['keyvault-reloader'].map((r) => r.reaction);
    const lists = reactions.reduce((n, r) => n + (r.requestsTotal?.LIST ?? 0), 0);
    const patches = reactions.reduce((n, r) => n + (r.requestsTotal?.PATCH ?? 0), 0);
    const expected = reactions.reduce((n, r) => n + r.updates - r.timeouts, 0);
    t.push({ id: 'reactionRequests', scenario: 'Reaction', what: `API requests per Secret update ${at}`, target: '0 LIST, 1 PATCH', measured: `${lists} LIST, ${patches} PATCH for ${expected} updates (${ours.reactionTimeouts} timed out)`, met: lists === 0 && patches === expected && ours.reactionTimeouts === 0 });
    if (ok(sr.burst)) {
      const bu = sr.burst;
      const allOnce = bu.rounds.every((r) => r.workloadsPatched === r.updates && r.extraPatches === 0 && r.requests.PATCH === r.updates);
      t.push({ id: 'burstOnce', scenario: 'Burst', what: `each affected workload patched exactly once ${at}`, target: `${bu.size} per round`, measured: bu.rounds.map((r) => `${r.workloadsPatched} (+${r.extraPatches} extra, ${r.requests.PATCH} PATCH)`).join('; '), met: allOnce });
      t.push({ id: 'burstCap', scenario: 'Burst', what: `restarts in any 1 s window ${at} (--restarts-per-second ${bu.rateCap})`, target: `≤ ${bu.rateCap}`, measured: `max ${bu.maxPerSlidingSecond.max}`, met: bu.maxPerSlidingSecond.max <= bu.rateCap });
    }
  }
  for (const g of growth(res)) {
    for (const [what, ratio] of Object.entries(g.figures)) {
      if (!Number.isFinite(ratio)) continue;
      t.push({ id: 'growth', scenario: 'Scale', what: `${what}, ${g.from} → ${g.to}`, target: `≤ ${x(g.objects)} (the objects)`, measured: x(ratio), met: ratio <= g.objects });
    }
  }
  return t;
}

export interface Growth {
  from: string;
  to: string;
  objects: number;
  figures: Record<string, number>;
}

/** How each figure grows from one scale to the next, against how the objects grow. */
export function growth(res: Results): Growth[] {
  const out: Growth[] = [];
  for (let i = 1; i < res.scales.length; i++) {
    const a = res.scales[i - 1]!;
    const b = res.scales[i]!;
    const sa = summarizeRuns(a.runs['keyvault-reloader']);
    const sb = summarizeRuns(b.runs['keyvault-reloader']);
    const drain = (r: BurstResult | Failed) => (ok(r) ? r.drainSeconds.p50 / r.size : NaN);
    const adopt = (r: ColdStartResult | Failed) => (ok(r) ? r.adoptedSeconds.p50 : NaN);
    out.push({
      from: a.scale.name,
      to: b.scale.name,
      objects: objectsOf(b.scale) / objectsOf(a.scale),
      figures: {
        'start-up time (warm: spawn → settled)': sb.settledSeconds.p50 / sa.settledSeconds.p50,
        'start-up time (cold: spawn → every Deployment adopted)': adopt(b.cold) / adopt(a.cold),
        'RSS once started': sb.rssMiB.p50 / sa.rssMiB.p50,
        'reaction p50': sb.reactionMs.p50 / sa.reactionMs.p50,
        'burst drain per update': drain(b.burst) / drain(a.burst),
      },
    });
  }
  return out;
}

function scaleLabel(s: Scale): string {
  return `${s.secrets.toLocaleString('en')} Secrets, ${s.deployments.toLocaleString('en')} Deployments, ${s.namespaces} namespaces`;
}

export function markdown(res: Results): string {
  const m = res.machine;
  const peerName = res.peer.available ? res.peer.name : undefined;
  const lines: string[] = [
    '## Benchmarks',
    '',
    `\`npm run bench\` on a real local control plane (etcd, kube-apiserver, controller-manager, scheduler, KWOK), one cluster grown through ${res.scales.map((s) => `${s.scale.name} (${scaleLabel(s.scale)})`).join(', ')}. ` +
      `Last run: ${m.date.slice(0, 16).replace('T', ' ')} UTC, commit ${res.source.commit}${res.source.uncommitted.length ? ` with uncommitted changes to ${res.source.uncommitted.join(', ')}` : ''}, on ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node} ` +
      `(load average ${m.loadAverageAtStart} at the start: a shared machine, so medians and spreads, and the peer measured in the same run). ` +
      `It took ${Math.round(res.durationSeconds / 60)} min; the raw numbers are in \`bench/results.json\`.`,
    '',
    `Ours is the compiled build as the image runs it (\`node ${res.nodeFlags.join(' ')} dist/cli/main.js run --mode reloader\`, the Dockerfile's ENTRYPOINT flags). ` +
      (peerName
        ? `The peer is ${peerName}, built from source, with its defaults and \`--resources-to-ignore=configMaps\`; the two run one at a time, in alternating order, against the same objects.`
        : `**No peer was measured**: ${res.peer.available ? '' : res.peer.reason}.`),
    '',
  ];

  for (const sr of res.scales) {
    const ours = summarizeRuns(sr.runs['keyvault-reloader']);
    const peer = sr.runs['stakater-reloader'].length ? summarizeRuns(sr.runs['stakater-reloader']) : undefined;
    const rows: string[][] = [];
    const row = (what: string, f: (c: ContenderSummary) => string, ratio?: (o: ContenderSummary, p: ContenderSummary) => number) =>
      rows.push([what, f(ours), peer ? f(peer) : '–', peer && ratio ? x(ratio(ours, peer)) : '']);
    row('start-up: spawn → settled (last CPU use before 5 s without any), s', (c) => spread(c.settledSeconds, s2), (o, p) => o.settledSeconds.p50 / p.settledSeconds.p50);
    row('start-up: spawn → ready (/readyz), s', (c) => spread(c.readySeconds, s2));
    row('start-up CPU, s', (c) => spread(c.startupCpuSeconds, s2), (o, p) => o.startupCpuSeconds.p50 / p.startupCpuSeconds.p50);
    row('RSS once started (settled + 3 s), MiB', (c) => spread(c.rssMiB, mib), (o, p) => o.rssMiB.p50 / p.rssMiB.p50);
    row('peak RSS during start-up (VmHWM), MiB', (c) => spread(c.peakRssMiB, mib), (o, p) => o.peakRssMiB.p50 / p.peakRssMiB.p50);
    row('of RSS: anonymous / file-backed, MiB', (c) => `${mib(c.anonMiB.p50)} / ${mib(c.fileMiB.p50)}`);
    row('V8 heap used then, MiB', (c) => spread(c.heapUsedMiB, mib));
    row(`CPU while idle, s per minute (${sr.plan.steadyWindowSeconds} s windows)`, (c) => spread(c.idleCpuPerMinute, s3), (o, p) => o.idleCpuPerMinute.p50 / p.idleCpuPerMinute.p50);
    row(`reaction, Secret update → write seen, ms p50 / p90 / p99 (${sr.runs['keyvault-reloader'][0]?.reaction.workloadsInNamespace ?? '?'} workloads in the namespace)`, (c) => tails(c.reactionMs, ms), (o, p) => o.reactionMs.p50 / p.reactionMs.p50);
    row('reaction p99 / p50', (c) => x(c.reactionMs.p99 / c.reactionMs.p50));
    rows.push(['API requests per Secret update (ours: from its metrics)', verbs(ours.requestsPerUpdate, 2), peerName ? 'not counted (lists every workload kind of the namespace, then patches)' : '–', '']);
    rows.push(['writes at a warm start (most in any)', String(ours.warmWritesMax), '–', '']);
    if (Object.keys(ours.deferred).length) rows.push(['restarts deferred during reaction runs, by reason', Object.entries(ours.deferred).map(([k, v]) => `${k} ${v}`).join(', '), '–', '']);
    const cold = sr.cold;
    if (ok(cold)) {
      rows.push(['cold start (new digest key): spawn → every Deployment adopted, s', spread(cold.adoptedSeconds, s2), '–', '']);
      rows.push(['cold start: RSS once started / peak, MiB', `${spread(cold.rssMiB, mib)} / ${spread(cold.peakRssMiB, mib)}`, '–', '']);
      rows.push(['cold start: API requests (median)', verbs(cold.requestsMedian), '–', '']);
    } else rows.push(['cold start', `failed: ${cold.error.split('\n')[0]!.slice(0, 200)}`, '', '']);
    const bu = sr.burst;
    if (ok(bu)) {
      rows.push([`burst: ${bu.size} Secret updates (distinct workloads): first update → last patch seen, s`, spread(bu.drainSeconds, s2), '–', '']);
      rows.push([`burst: restarts in the busiest sliding second (cap ${bu.rateCap}/s); mean rate /s`, `${spread(bu.maxPerSlidingSecond, (v) => v.toFixed(0))}; ${spread(bu.meanPerSecond, s1)}`, '–', '']);
    } else rows.push(['burst', `failed: ${bu.error.split('\n')[0]!.slice(0, 200)}`, '', '']);
    lines.push(
      `### ${sr.scale.name}: ${scaleLabel(sr.scale)}`,
      '',
      `Seeded ${sr.seed.secrets.toLocaleString('en')} Secrets in ${sr.seed.secretsSeconds.toFixed(0)} s and ${sr.seed.deployments.toLocaleString('en')} Deployments in ${sr.seed.deploymentsSeconds.toFixed(0)} s (on top of the previous scale). Median (min–max, n) over ${ours.runs} run(s) each${sr.failures.length ? `; failed runs: ${sr.failures.join('; ')}` : ''}.`,
      '',
      `| measure | keyvault-reloader | ${peerName ?? 'peer'} | ours / peer |`,
      '|---|---|---|---|',
      ...rows.map((r) => `| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`),
      '',
    );
  }

  const g = growth(res);
  if (g.length) {
    const names = Object.keys(g[0]!.figures);
    lines.push('### How it grows', '', `Each figure's ratio from one scale to the next (ours), against the ratio of objects (Secrets + Deployments).`, '', `| | ${g.map((x) => `${x.from} → ${x.to}`).join(' | ')} |`, `|---|${g.map(() => '---').join('|')}|`);
    lines.push(`| objects | ${g.map((r) => x(r.objects)).join(' | ')} |`);
    for (const n of names) lines.push(`| ${n} | ${g.map((r) => x(r.figures[n]!)).join(' | ')} |`);
    lines.push('');
  }

  const dg = res.digest;
  lines.push('### The digest function: node:crypto against crypto-js', '');
  if (ok(dg)) {
    lines.push(
      `HMAC-SHA-256 over ${dg.valueBytes / 1024} KiB values given as base64 (as the API server sends a Secret's data), ${dg.rounds} alternating rounds of ${dg.perRound.toLocaleString('en')} MACs, the same MAC from both: ` +
        `node:crypto ${spread(dg.nodeCryptoUs, s1)} µs per value, crypto-js ${spread(dg.cryptoJsUs, s1)} µs, crypto-js/node:crypto ${spread(dg.ratio, s1)}×. ` +
        `For the 10 000 Secrets of a full-scale start that is ${s2((dg.nodeCryptoUs.p50 * 10_000) / 1e6)} s against ${s2((dg.cryptoJsUs.p50 * 10_000) / 1e6)} s of CPU.`,
      '',
    );
  } else lines.push(`failed: ${dg.error}`, '');

  lines.push(
    '### How, and what to keep in mind',
    '',
    '- Each controller runs as its own process: memory from /proc/<pid>/status, CPU from /proc/<pid>/stat; "settled" is the last moment it used CPU before 5 s without any (the same measure for both: start-up CPU is the CPU used until then, and V8\'s compiling and collecting in the seconds after the last object arrived counts there, not as idle). stakater/Reloader has no readiness endpoint: it is ready when it reacts to the first of updates sent to its own Secret every 200 ms from its spawn. ' +
      'Ours runs `--mode reloader --leader-elect=false --settle 0s --min-restart-interval 0s ' +
      `--restarts-per-second ${BASE_RATE(res)} --max-in-flight 100000\`; its warm starts find their baselines in place (as after a restart or fail-over) and must write nothing.`,
    '- Reaction: one Secret of the hot namespace is updated again and again, each time once the previous write was seen and the Deployment controller had observed it; the time ends when the controller\'s write of the Deployment (a rise of its generation) arrives on a watch in the benchmark. The peer has a Deployment and a Secret of its own in the same namespace, annotated for it only. ' +
      'The client-side time can be below zero: a controller may patch before the Secret update\'s response reaches the benchmark.',
    `- Deployments have \`replicas: 0\`, so that KWOK and the scheduler need not run tens of thousands of pods; a reloader's work (cache, decide, patch) does not depend on the replica count. Each Secret holds about 4 KiB; every namespace but the small scale's holds 200. The local kube-controller-manager runs with \`--kube-api-qps=200\` (default 20), so that the Deployment controller catches up with thousands of writes in seconds, not minutes.`,
    '- `startedQuiet` in results.json says whether the Deployment controller had caught up when a measurement began; `clientSamplesMs` holds every reaction sample in order.',
    '- Evidence scripts beside the benchmark (not part of `npm run bench`): `node bench/rate-cap.ts` (p-queue fixed vs sliding windows, no cluster), `node bench/client-cost.ts` (cost of a new TLS connection per API request), `node bench/lib/profile.ts <.cpuprofile|.heapprofile|dir>` (summaries of `npm run bench -- --profile`).',
  );
  lines.push('', `- Key Vault sync at scale: **blocked** — ${res.sync.reason}`);

  const missed = res.targets.filter((t) => !t.met);
  lines.push('', `Targets: ${res.targets.length - missed.length} of ${res.targets.length} met.`);
  if (missed.length) {
    lines.push('', 'Missed:', '');
    for (const t of missed) lines.push(`- **${t.scenario}: ${t.what}** — ${t.measured} against ${t.target}. ${MISSED[t.id]}`);
  }
  return lines.join('\n');
}

const BASE_RATE = (res: Results) => res.scales[0]?.plan.restartsPerSecond ?? '?';

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
