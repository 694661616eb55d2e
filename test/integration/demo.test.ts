// The README's first command, run as a newcomer would (non-interactively),
// and with --keep, --rotations and --rotate-every: a new version written
// into the Key Vault emulator reaches env-app through the sync engine and
// mount-app through the real CSI driver, each Deployment rolls exactly once
// per rotation, and whatever way the demo ends (by itself, Ctrl-C while it
// waits, Ctrl-C in the middle of a rotation) it leaves no folder, process or
// mount behind. Other runs share the machine: only what the demo's own
// process made is looked at (its folders name it as their owner).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createKubeClient, loadKubeConfig, type KubeClient } from '../../src/kube/client.ts';
import { MAIN_TS } from '../../src/localenv/controller.ts';
import { ANNOTATIONS } from '../../src/reloader/annotations.ts';
import { eventually } from '../helpers/env.ts';

interface DemoRun {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
  /** The folders the demo made, seen while it ran. */
  dirs: Set<string>;
}

function runDemo(args: string[], opts: { uid?: number } = {}): DemoRun {
  const child = spawn(process.execPath, [MAIN_TS, 'demo', ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.uid } : {}) });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const dirs = new Set<string>();
  const ownedByDemo = (d: string) => {
    try {
      return Number(readFileSync(path.join(tmpdir(), d, 'owner'), 'utf8')) === child.pid;
    } catch {
      return false;
    }
  };
  const look = () => {
    for (const d of readdirSync(tmpdir())) if (d.startsWith('kvr-env-') && !dirs.has(path.join(tmpdir(), d)) && ownedByDemo(d)) dirs.add(path.join(tmpdir(), d));
  };
  const watcher = setInterval(look, 100);
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => {
      clearInterval(watcher);
      resolve(code ?? signal ?? -1);
    }),
  );
  return { child, output: () => output, exited, dirs };
}

/** Waits for a line of the demo's output; fails with the output so far if it exits first. */
async function waitOutput(run: DemoRun, pattern: RegExp, timeoutMs = 300_000): Promise<RegExpMatchArray> {
  let exitedWith: number | string | undefined;
  void run.exited.then((c) => (exitedWith = c));
  return eventually(`the demo to print ${pattern}`, async () => {
    const m = run.output().match(pattern);
    if (m) return m;
    if (exitedWith !== undefined) throw new Error(`the demo exited (${exitedWith}) first:\n${run.output()}`);
    return undefined;
  }, timeoutMs, 100);
}

/** What of the demo's folders any process still uses (its working folder or its command line) or has mounted, in any mount namespace. */
function leftBehind(dirs: ReadonlySet<string>): { processes: string[]; mounts: string[] } {
  const names = [...dirs];
  const processes: string[] = [];
  const mounts = new Set<string>();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if (names.some((d) => cwd.startsWith(d) || cmdline.includes(d))) processes.push(`${pid}: ${cmdline.slice(0, 120)}`);
      for (const line of readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n')) if (names.some((d) => line.includes(d))) mounts.add(line);
    } catch {
      // Gone meanwhile.
    }
  }
  return { processes, mounts: [...mounts] };
}

async function assertNothingLeft(run: DemoRun): Promise<void> {
  assert.ok(run.dirs.size >= 4, `the demo's folders were seen while it ran (control plane, Azure, add-on, controller): ${[...run.dirs].join(', ')}`);
  for (const d of run.dirs) assert.equal(existsSync(d), false, `${d} was removed`);
  // Killed process groups and the private mount namespace go a moment after the owner exits.
  await eventually('no process or mount of the demo left', async () => {
    const left = leftBehind(run.dirs);
    if (left.processes.length > 0 || left.mounts.length > 0) throw new Error(`left behind: ${JSON.stringify(left, null, 2)}`);
    return true;
  }, 30_000);
}

interface RotationSteps {
  restarts: Record<string, number>;
  /** Per Deployment, the steps' names in order with their times (s after the vault write). */
  steps: Record<string, Array<{ step: string; at: number }>>;
  version: string;
  digest: string;
}

/** The steps of each rotation the demo printed, from its "▶ rotation N" blocks. */
function rotations(output: string): RotationSteps[] {
  const blocks = output.split(/^▶ /m).filter((b) => b.startsWith('rotation '));
  return blocks.map((block) => {
    const digest = /value's sha256 ([0-9a-f]{12})…/.exec(block)?.[1] ?? '';
    const version = /vault +version ([0-9a-f]{8})… written/.exec(block)?.[1] ?? '';
    const steps: RotationSteps['steps'] = {};
    for (const m of block.matchAll(/^ +\+(\d+\.\d)s +(vault|env-app|mount-app) +(.*)$/gm)) {
      const step = /^Secret app-db updated by the sync engine/.test(m[3]!) ? 'secret-updated'
        : /^the driver remounted .* file db-password matches the new value, pod status reports /.test(m[3]!) ? 'remounted'
        : /^restart started: /.test(m[3]!) ? 'restart-started'
        : /^rollout complete: 3\/3 pods of ReplicaSet /.test(m[3]!) ? 'rolled-out'
        : /^version [0-9a-f]{8}… written/.test(m[3]!) ? 'written'
        : `unexpected: ${m[3]}`;
      (steps[m[2]!] ??= []).push({ step, at: Number(m[1]) });
    }
    const restarts = Object.fromEntries([...block.matchAll(/(env-app|mount-app) restarted (once|\d+ times)/g)].map((m) => [m[1]!, m[2] === 'once' ? 1 : Number.parseInt(m[2]!)]));
    return { restarts, steps, version, digest };
  });
}

/** Each rotation: both chains of steps in order, each Deployment restarted exactly once. */
function assertRotation(r: RotationSteps, i: number): void {
  const where = `rotation ${i + 1}`;
  assert.match(r.version, /^[0-9a-f]{8}$/, `${where}: the new version is named`);
  assert.deepEqual(r.steps['vault']?.map((s) => s.step), ['written'], `${where}: one vault write`);
  const chain = (d: string) => (r.steps[d] ?? []).map((s) => s.step).filter((s, k, all) => all.indexOf(s) === k);
  assert.deepEqual(chain('env-app'), ['secret-updated', 'restart-started', 'rolled-out'], `${where}: env-app's steps in order`);
  assert.deepEqual(chain('mount-app'), ['remounted', 'restart-started', 'rolled-out'], `${where}: mount-app's steps in order`);
  for (const d of ['env-app', 'mount-app']) {
    const steps = r.steps[d]!;
    assert.equal(steps.filter((s) => s.step === 'restart-started').length, 1, `${where}: ${d} restarted once`);
    const times = steps.map((s) => s.at);
    assert.deepEqual(times, [...times].sort((a, b) => a - b), `${where}: ${d}'s times only grow`);
    assert.ok(times[0]! > 0, `${where}: ${d}'s first step comes after the vault write`);
  }
  assert.deepEqual(r.restarts, { 'env-app': 1, 'mount-app': 1 }, `${where}: exactly one new ReplicaSet each, after the quiet period`);
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function replicaSetsAndPods(client: KubeClient, name: string): Promise<{ sets: any[]; pods: any[] }> {
  const sets = (await client.request('GET', '/apis/apps/v1/namespaces/demo/replicasets')).items
    .filter((rs: any) => rs.metadata.ownerReferences?.some((o: any) => o.name === name))
    .sort((a: any, b: any) => Number(a.metadata.annotations['deployment.kubernetes.io/revision']) - Number(b.metadata.annotations['deployment.kubernetes.io/revision']));
  const newest = sets.at(-1);
  const pods = (await client.request('GET', '/api/v1/namespaces/demo/pods')).items.filter((p: any) => p.metadata.ownerReferences?.some((o: any) => o.uid === newest.metadata.uid) && !p.metadata.deletionTimestamp);
  return { sets, pods };
}

describe('demo', () => {
  it('npm run demo: a vault rotation rolls env-app through the sync engine and mount-app through the real driver, each once, step by step; it ends by itself and leaves nothing behind', async () => {
    const run = runDemo([]);
    const code = await run.exited;
    const output = run.output();
    assert.equal(code, 0, output);
    assert.match(output, /Secret app-db created by the sync engine, with the vault's value/);
    assert.match(output, /3 mount-app pods mounted version [0-9a-f]{8}… through the driver/);
    assert.match(output, /both Deployments adopted: baselines recorded, nothing restarted/);
    // Azure only through the egress proxy, as AKS's HTTP proxy sends a pod's traffic.
    assert.match(output, /reached Azure through the egress proxy: .*CONNECT login\.microsoftonline\.com:443 ×\d+.*CONNECT demo-vault\.vault\.azure\.net:443 ×\d+/);
    const all = rotations(output);
    assert.equal(all.length, 1, 'one rotation by default');
    assertRotation(all[0]!, 0);
    assert.match(output, /restarts made by the controller \(keyvault_reloader_restarts_total\): 2, for 1 rotation/);
    assert.match(output, /Key Vault requests, counted at the vault: [1-9]\d* by the sync engine .*, [1-9]\d* by the Azure provider/);
    assert.match(output, /✔ demo complete/);
    await assertNothingLeft(run);
  });

  it('--keep --rotations 2: what it printed is what the cluster holds; Ctrl-C stops everything and leaves nothing behind', async () => {
    const run = runDemo(['--keep', '--rotations', '2']);
    await waitOutput(run, /Still running\. Explore with kubectl:/);
    const output = run.output();
    const all = rotations(output);
    assert.equal(all.length, 2);
    all.forEach(assertRotation);
    assert.match(output, /restarts made by the controller \(keyvault_reloader_restarts_total\): 4, for 2 rotation/);
    assert.match(output, /export HTTPS_PROXY=http:\/\/127\.0\.0\.1:\d+ NO_PROXY=\S+ CA=\S+/);

    // What the demo said, checked against the cluster itself.
    const kubeconfig = /export KUBECONFIG=(\S+)/.exec(output)![1]!;
    const client = createKubeClient(loadKubeConfig(kubeconfig));
    const last = all[1]!;
    const secret = await client.request('GET', '/api/v1/namespaces/demo/secrets/app-db');
    const value = Buffer.from(secret.data.password, 'base64');
    assert.equal(sha256(value).slice(0, 12), last.digest, 'the Secret holds the last value written');
    const controllerLog = readFileSync(/The controller's log: (\S+)/.exec(output)![1]!, 'utf8');
    assert.match(controllerLog, /"msg":"restarted"/, 'the controller logged its restarts');
    for (const [where, text] of [['the output', output], ["the controller's log", controllerLog]]) assert.equal(text!.includes(value.toString()), false, `the value is not in ${where}`);
    const secretWritten = Math.max(...secret.metadata.managedFields.map((f: any) => Date.parse(f.time)));
    const env = await replicaSetsAndPods(client, 'env-app');
    assert.equal(env.sets.length, 3, 'env-app: one ReplicaSet, and one more per rotation');
    assert.equal(env.sets.at(-1).spec.template.metadata.annotations[ANNOTATIONS.restartReason], 'Secret app-db changed');
    assert.equal(env.pods.length, 3);
    for (const p of env.pods) {
      assert.equal(p.spec.containers[0].env[0].valueFrom.secretKeyRef.name, 'app-db');
      assert.ok(Date.parse(p.metadata.creationTimestamp) >= secretWritten, `${p.metadata.name} started after the Secret held the new value, so its DB_PASSWORD is the new one`);
    }
    const mount = await replicaSetsAndPods(client, 'mount-app');
    assert.equal(mount.sets.length, 3, 'mount-app: one ReplicaSet, and one more per rotation');
    assert.equal(mount.sets.at(-1).spec.template.metadata.annotations[ANNOTATIONS.restartReason], 'SecretProviderClass app-files changed');
    assert.equal(mount.pods.length, 3);
    for (const p of mount.pods) {
      const status = await client.request('GET', `/apis/secrets-store.csi.x-k8s.io/v1/namespaces/demo/secretproviderclasspodstatuses/${p.metadata.name}-demo-app-files`);
      assert.equal(status.metadata.ownerReferences[0].uid, p.metadata.uid);
      assert.deepEqual(status.status.objects.map((o: any) => [o.id, o.version.slice(0, 8)]), [['secret/db-password', last.version]], `${p.metadata.name} mounts the last version`);
    }
    // The check below can fail: while the demo runs, its processes and the driver's mounts are there to be found.
    const running = leftBehind(run.dirs);
    assert.ok(running.processes.length >= 8, `the demo's processes were found while it ran: ${running.processes.length}`);
    assert.ok(running.mounts.some((m) => m.includes('tmpfs')), 'the driver\'s tmpfs mounts were found while it ran');

    run.child.kill('SIGINT');
    assert.equal(await run.exited, 130);
    assert.match(run.output(), /interrupted: stopping/);
    await assertNothingLeft(run);
  });

  it('--rotate-every rotates again and again until Ctrl-C, which in the middle of a rotation stops everything and leaves nothing behind', async () => {
    const run = runDemo(['--rotate-every', '1s']);
    await waitOutput(run, /Rotating every 1s until Ctrl-C/);
    await waitOutput(run, /^▶ rotation 2: /m);
    assertRotation(rotations(run.output())[0]!, 0);
    // Rotation 2 is under way: its vault write is made, its rollouts are not.
    await waitOutput(run, /^▶ rotation 2: [^\n]*\n +\+0\.0s +vault +version [0-9a-f]{8}… written/m);
    run.child.kill('SIGINT');
    assert.equal(await run.exited, 130);
    await assertNothingLeft(run);
  });

  it('a failure (the controller under demonstration dies) is reported at once, and everything is stopped and removed', async () => {
    const run = runDemo([]);
    const pid = Number((await waitOutput(run, /ready \(pid (\d+);/))[1]);
    process.kill(pid, 'SIGKILL');
    assert.equal(await run.exited, 1);
    assert.match(run.output(), /^✖ the controller exited \(killed by a signal\); the last lines of its log:/m);
    await assertNothingLeft(run);
  });

  it('without root it says so at once and starts nothing', async () => {
    const run = runDemo([], { uid: 65534 });
    assert.equal(await run.exited, 1);
    assert.match(run.output(), /^✖ the demo needs root \(this is uid 65534\): .*port 443.*mount namespace/m);
    assert.doesNotMatch(run.output(), /control plane ready|local Azure ready/);
    assert.equal(run.dirs.size, 0);
  });
});
