// `keyvault-reloader demo`: the whole product on one machine, no cloud
// account. A local control plane with KWOK, the local Azure (Entra ID and Key
// Vault emulators under their public names), the real AKS add-on (Secrets
// Store CSI driver and Azure provider), and the controller in mode all as its
// own process, reaching Azure through the egress proxy and a CA bundle as a
// pod of a cluster with AKS's HTTP proxy does. Then a new version is written
// into the vault, and what follows is shown step by step as the cluster sees
// it: the sync engine's Secret and env-app's rollout, the driver's remounts
// and mount-app's rollout.
import type { SecretClient } from '@azure/keyvault-secrets';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { parseDuration } from '../core/duration.ts';
import { sleep } from '../core/timer.ts';
import { createKubeClient, KubeError, loadKubeConfig, type KubeClient } from '../kube/client.ts';
import { serverSideApply } from '../localenv/apply.ts';
import { requireAddonPrivileges, startAddon, type LocalAddon } from '../localenv/addon.ts';
import { startAzure, type AzureRequest, type LocalAzure } from '../localenv/azure.ts';
import { startCluster, type LocalCluster } from '../localenv/cluster.ts';
import { metricValue, startControllerProcess, waitReady, type ControllerProcess } from '../localenv/controller.ts';
import { createEnvDir, registerCleanup, type ManagedProcess } from '../localenv/process.ts';
import { createLogger } from '../log.ts';
import { observeDemo, sha256, type Observer } from './demo/observe.ts';
import { DEMO, DEPLOYMENTS, demoObjects, type DemoDeployment } from './demo/sample.ts';
import { currentPods, mountsVersion, offset, replicaSetsOf, RotationTimeline, rolledOut, type Snapshot, type Step } from './demo/timeline.ts';

export interface DemoOptions {
  keep: boolean;
  rotateEvery: string | undefined;
  rotations: number;
  pollInterval: string;
}

/** Settle window of the demo's controller: a rotation's changes coalesce within it. */
const SETTLE = '2s';
/** The CSI volume's name in mount-app's pods. */
const VOLUME = 'secrets-store';
/** How long any one step may take before the demo gives up and says what it was waiting for: a few polls and republishes, and slack for a loaded machine. */
const stepTimeoutMs = (pollMs: number) => 180_000 + 6 * pollMs;

const out = (line = '') => process.stdout.write(`${line}\n`);
const header = (title: string) => out(`\n▶ ${title}`);
const short = (version: string) => `${version.slice(0, 8)}…`;
const newValue = () => randomBytes(18).toString('base64url');

interface Started {
  /** Set once the demo stops what it started: an exit from then on is expected. */
  stopping?: boolean;
  cluster?: LocalCluster;
  azure?: LocalAzure;
  addon?: LocalAddon;
  controller?: ControllerProcess;
  observer?: Observer;
}

interface RotationResult {
  version: string;
  steps: Step[];
  writtenAt: number;
  restarts: Record<DemoDeployment, number>;
}

export async function demo(opts: DemoOptions): Promise<boolean> {
  let pollMs: number;
  let rotateEveryMs: number | undefined;
  try {
    pollMs = parseDuration(opts.pollInterval);
    if (pollMs < 1000) throw new Error(`"${opts.pollInterval}" is too short: use at least 1s`);
  } catch (err) {
    out(`✖ --poll-interval: ${(err as Error).message}`);
    return false;
  }
  try {
    rotateEveryMs = opts.rotateEvery === undefined ? undefined : parseDuration(opts.rotateEvery);
  } catch (err) {
    out(`✖ --rotate-every: ${(err as Error).message}`);
    return false;
  }
  // Root first, before anything is built or started: the local Azure listens on
  // port 443 and the driver mounts a tmpfs per volume in a mount namespace.
  if (process.getuid?.() !== 0) {
    out(`✖ the demo needs root (this is uid ${process.getuid?.()}): the local Azure answers as login.microsoftonline.com and <vault>.vault.azure.net on port 443 of loopback addresses, and the real CSI driver mounts a tmpfs per volume in a private mount namespace (unshare -m). Run it as root, as CI and these machines do.`);
    return false;
  }
  try {
    await requireAddonPrivileges(tmpdir());
  } catch (err) {
    out(`✖ ${(err as Error).message}`);
    return false;
  }

  // Ctrl-C: each part of the environment kills its processes and removes its
  // folder in its own signal handler (src/localenv/process.ts), synchronously,
  // and the first of them exits; this one only says so first, and exits
  // itself when nothing is started yet.
  const onSignal = () => {
    out('\ninterrupted: stopping the controller, the add-on, the local Azure and the control plane');
    setImmediate(() => process.exit(130));
  };
  process.prependOnceListener('SIGINT', onSignal);
  process.prependOnceListener('SIGTERM', onSignal);

  const started: Started = {};
  const total = rotateEveryMs !== undefined ? Infinity : Math.max(1, opts.rotations);
  // The controller under demonstration dying is a failure to report at once, not after a step's timeout.
  let controllerDied: (err: Error) => void = () => {};
  const death = new Promise<never>((_, reject) => (controllerDied = reject));
  // Seen by the race below; once that is over (--keep), a death has no one left to tell.
  death.catch(() => {});
  try {
    const results = await Promise.race([run(opts, started, pollMs, rotateEveryMs, total, controllerDied), death]);
    const ok = results.every((r) => DEPLOYMENTS.every((d) => r.restarts[d] === 1));
    summary(results, await totalsOf(started));
    if (opts.keep) {
      keepRunning(started, pollMs, 'Still running. Explore with kubectl:');
      // Until Ctrl-C, whose handlers stop everything and exit.
      await new Promise(() => {});
    }
    out(ok ? '\n✔ demo complete' : '\n✖ demo finished with a problem: a Deployment did not restart exactly once per rotation (see above)');
    return ok;
  } catch (err) {
    out(`\n✖ ${(err as Error).message}`);
    if (started.controller) out(`  the controller's log: ${started.controller.proc.logFile}`);
    return false;
  } finally {
    await stopAll(started);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function run(opts: DemoOptions, started: Started, pollMs: number, rotateEveryMs: number | undefined, total: number, controllerDied: (err: Error) => void): Promise<RotationResult[]> {
  header('the local environment: control plane, local Azure, the AKS add-on');
  const progress = (m: string) => out(`  ${m}`);
  const cluster = (started.cluster = await startCluster({ progress }));
  const client = createKubeClient(loadKubeConfig(cluster.kubeconfig));
  const azure = (started.azure = await startAzure({ cluster, progress }));
  const addon = (started.addon = await startAddon({ cluster, azure, progress, republishPeriodMs: pollMs, rotationPollInterval: opts.pollInterval, vaults: [DEMO.vault] }));
  out(`  (the driver's --rotation-poll-interval ${opts.pollInterval}, the stand-in republishing every ${pollMs / 1000}–${(pollMs * 1.5) / 1000}s; on AKS: 2m, and the kubelet's 60–90 s)`);

  header(`workload identity and the vault`);
  for (const ns of [DEMO.controllerNamespace, DEMO.namespace]) await ensureNamespace(client, ns);
  const clientId = await azure.admin.registerApp('demo');
  for (const sa of [DEMO.podServiceAccount, DEMO.syncServiceAccount]) await azure.admin.federate(clientId, DEMO.namespace, sa);
  out(`  Entra app ${clientId}, federated credentials for system:serviceaccount:${DEMO.namespace}:${DEMO.podServiceAccount} (the add-on, with mount-app's pod tokens)`);
  out(`    and system:serviceaccount:${DEMO.namespace}:${DEMO.syncServiceAccount} (the sync engine), issuer ${cluster.issuer}`);
  const secrets = azure.admin.vault(DEMO.vault).secrets;
  const firstValue = newValue();
  const first = (await secrets.setSecret(DEMO.object, firstValue)).properties.version!;
  out(`  ${azure.vaultUrl(DEMO.vault)}: secret ${DEMO.object}, version ${short(first)} (value's sha256 ${sha256(firstValue).slice(0, 12)}…)`);

  header('the controller, as a pod of a cluster with an HTTP proxy runs it');
  const controller = (started.controller = await startController(cluster, azure));
  void controller.proc.exited.then(async (code) => {
    if (!started.stopping) controllerDied(new Error(`the controller exited (${code === null ? 'killed by a signal' : `exit code ${code}`}); the last lines of its log:\n${await controller.proc.logTail(10)}`));
  });
  out(`  keyvault-reloader run --mode all --settle ${SETTLE} --ca-bundle <the local Azure's CA>, HTTPS_PROXY=${azure.proxyUrl}, NO_PROXY=${azure.proxyEnv().NO_PROXY}`);
  out(`  ready (pid ${controller.proc.pid}; /metrics on http://127.0.0.1:${controller.port}/metrics; log ${controller.proc.logFile})`);

  header('applied in namespace demo');
  await serverSideApply(client, demoObjects({ clientId, tenantId: azure.tenantId, pollInterval: opts.pollInterval }), { dryRun: false, fieldManager: 'keyvault-reloader-demo' });
  out(`  SecretProviderClass ${DEMO.syncedClass}    keyvault-reloader.io/sync: "true" (poll ${opts.pollInterval}), secretObjects → Secret ${DEMO.secret}; no pod mounts it`);
  out(`  SecretProviderClass ${DEMO.mountedClass} mounted by mount-app through the CSI driver; not opted in to the sync engine`);
  out(`  Deployment ${DEMO.envApp}     ${DEMO.replicas} replicas, env DB_PASSWORD from Secret ${DEMO.secret}, keyvault-reloader.io/auto`);
  out(`  Deployment ${DEMO.mountApp}   ${DEMO.replicas} replicas, CSI volume of class ${DEMO.mountedClass}, keyvault-reloader.io/auto`);

  const timeoutMs = stepTimeoutMs(pollMs);
  const appliedAt = Date.now();
  const observer = (started.observer = observeDemo(client, createLogger({ level: 'silent' })));
  await observer.waitForSync();
  const firstDigest = sha256(firstValue);
  await until(observer, timeoutMs, `the sync engine to create Secret ${DEMO.namespace}/${DEMO.secret}`, (s) => s.secretDigest === firstDigest, () => diagnoseSync(client));
  out(`  ${offset(Date.now(), appliedAt).padStart(6)}  Secret ${DEMO.secret} created by the sync engine, with the vault's value`);
  await until(observer, timeoutMs, `every mount-app pod to mount version ${short(first)}`, (s) => rolledOut(s, DEMO.mountApp) && mountsVersion(s, first), () => diagnoseMounts(addon));
  out(`  ${offset(Date.now(), appliedAt).padStart(6)}  ${DEMO.replicas} mount-app pods mounted version ${short(first)} through the driver`);
  await until(observer, timeoutMs, 'both Deployments to roll out and be adopted', (s) => DEPLOYMENTS.every((d) => rolledOut(s, d) && s.deployments.get(d)?.adopted));
  const adopted = observer.snapshot();
  const restartedOnAdoption = DEPLOYMENTS.filter((d) => replicaSetsOf(adopted, d).length !== 1);
  if (restartedOnAdoption.length > 0) throw new Error(`adopting ${restartedOnAdoption.join(' and ')} restarted it: that must never happen`);
  out(`  ${offset(Date.now(), appliedAt).padStart(6)}  both Deployments adopted: baselines recorded, nothing restarted`);
  out(`  the controller reached Azure through the egress proxy: ${await tunnels(azure)}`);

  // Rotating until Ctrl-C: what to explore with is worth knowing now.
  if (rotateEveryMs !== undefined) keepRunning(started, pollMs, `Rotating every ${opts.rotateEvery} until Ctrl-C. Meanwhile, explore with kubectl:`);

  const results: RotationResult[] = [];
  for (let i = 1; i <= total; i++) {
    const result = await rotate(i, { observer, azure, addon, controller, secrets, pollMs, timeoutMs });
    results.push(result);
    if (i < total && rotateEveryMs !== undefined) await sleep(Math.max(0, result.writtenAt + rotateEveryMs - Date.now()));
  }
  return results;
}

interface RotationContext {
  observer: Observer;
  azure: LocalAzure;
  addon: LocalAddon;
  controller: ControllerProcess;
  secrets: SecretClient;
  pollMs: number;
  timeoutMs: number;
}

async function rotate(i: number, ctx: RotationContext): Promise<RotationResult> {
  const { observer, addon } = ctx;
  const value = newValue();
  const digest = sha256(value);
  header(`rotation ${i}: a new version of ${DEMO.object} in ${DEMO.vault} (value's sha256 ${digest.slice(0, 12)}…)`);
  const before = observer.snapshot();
  const version = (await ctx.secrets.setSecret(DEMO.object, value)).properties.version!;
  const writtenAt = Date.now();
  const timeline = new RotationTimeline({ version, digest, writtenAt }, before);
  const line = (at: number, who: string, text: string) => out(`  ${offset(at, writtenAt).padStart(6)}  ${who.padEnd(9)}  ${text}`);
  line(writtenAt, 'vault', `version ${short(version)} written (Key Vault SDK, as the vault's admin)`);

  // Steps print in the order they were seen; a remount's line waits for what the stand-in says about it.
  let printing = Promise.resolve();
  const print = (step: Step) => {
    printing = printing.then(async () => {
      if (step.kind === 'secret-updated') line(step.at, step.deployment, `Secret ${DEMO.secret} updated by the sync engine (its poll, as ${DEMO.namespace}/${DEMO.syncServiceAccount})`);
      if (step.kind === 'remounted') line(step.at, step.deployment, await describeRemount(addon, step.pod, digest, version));
      if (step.kind === 'restart-started') line(step.at, step.deployment, `restart started: "${step.reason}"${step.deployment === DEMO.mountApp ? ' (the pods\' status: the sync engine does not read this class)' : ''}`);
      if (step.kind === 'rolled-out') {
        const what = step.deployment === DEMO.envApp ? `all started after the Secret held the new value` : `each mounting version ${short(version)}`;
        line(step.at, step.deployment, `rollout complete: ${step.pods}/${DEMO.replicas} pods of ReplicaSet ${step.replicaSet}, ${what}`);
      }
    });
  };
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      for (const step of timeline.observe(observer.snapshot(), Date.now())) print(step);
      if (timeline.complete) done();
    };
    const timer = setTimeout(() => {
      done();
      const missing = DEPLOYMENTS.filter((d) => !timeline.steps.some((s) => s.kind === 'rolled-out' && s.deployment === d));
      reject(new Error(`rotation ${i}: ${missing.join(' and ')} did not roll out with version ${short(version)} within ${ctx.timeoutMs / 1000} s (the controller's log and \`kubectl -n demo get events\` say why)`));
    }, ctx.timeoutMs);
    const remove = observer.onChange(check);
    const done = () => {
      clearTimeout(timer);
      remove();
      resolve();
    };
    check();
  });
  await printing;

  // Exactly once: the sync engine polls again and the driver republishes every
  // new pod again, twice over; whatever those would restart would show by then.
  const quietFrom = Date.now();
  await quiet(ctx, observer.snapshot());
  const after = observer.snapshot();
  const restarts = { [DEMO.envApp]: timeline.newReplicaSets(after, DEMO.envApp), [DEMO.mountApp]: timeline.newReplicaSets(after, DEMO.mountApp) } as Record<DemoDeployment, number>;
  out(`  then ${((Date.now() - quietFrom) / 1000).toFixed(0)} s of 2 more sync polls and 2 more republishes of every mount-app pod: ${DEPLOYMENTS.map((d) => `${d} ${restarts[d] === 1 ? 'restarted once' : `restarted ${restarts[d]} times`}`).join(', ')}`);
  return { version, steps: timeline.steps, writtenAt, restarts };
}

async function describeRemount(addon: LocalAddon, pod: string, digest: string, version: string): Promise<string> {
  const volume = (await addon.volumes()).find((v) => v.namespace === DEMO.namespace && v.pod === pod && v.volume === VOLUME);
  let matches = 'unknown';
  try {
    const files = await addon.mountedFiles({ namespace: DEMO.namespace, name: pod }, VOLUME);
    matches = files[DEMO.object] && sha256(files[DEMO.object]!) === digest ? 'matches the new value' : 'does NOT match the new value';
  } catch {
    // The pod went meanwhile.
  }
  const took = volume?.lastPublishMs !== undefined ? `, ${Math.round(volume.lastPublishMs)} ms` : '';
  return `the driver remounted ${pod} on a republish${took}: file ${DEMO.object} ${matches}, pod status reports ${short(version)}`;
}

/** Two more sync-engine reads and two more republishes of every current mount-app pod. */
async function quiet(ctx: RotationContext, s: Snapshot): Promise<void> {
  const reads = async () => metricValue((await ctx.controller.get('/metrics')).body, 'keyvault_reloader_keyvault_requests_total', { vault: new URL(ctx.azure.vaultUrl(DEMO.vault)).host });
  const uids = new Set(currentPods(s, DEMO.mountApp).map((p) => p.uid));
  const publishes = async () => new Map((await ctx.addon.volumes()).filter((v) => uids.has(v.uid) && !v.removed).map((v) => [v.uid, v.publishes]));
  const [readsFrom, publishesFrom] = [await reads(), await publishes()];
  const deadline = Date.now() + ctx.timeoutMs;
  for (;;) {
    const now = await publishes();
    if ((await reads()) >= readsFrom + 2 && [...uids].every((u) => (now.get(u) ?? 0) >= (publishesFrom.get(u) ?? Infinity) + 2)) return;
    if (Date.now() > deadline) throw new Error('the sync engine or the kubelet stand-in stopped polling (the controller\'s log and the add-on\'s logs say why)');
    await sleep(Math.min(500, ctx.pollMs / 4));
  }
}

interface Totals {
  restarts: number;
  /** Requests counted at the vault's and at Entra's front, by who made them (the admin's left out). */
  vault: { engine: number; provider: number };
  tokens: { engine: number; provider: number };
}

function summary(results: RotationResult[], totals: Totals): void {
  header('summary: time from the vault write');
  out(`  ${'rotation'.padEnd(9)}${'Deployment'.padEnd(11)}${'trigger seen'.padEnd(27)}${'restart started'.padEnd(17)}${'rollout complete'.padEnd(18)}restarts`);
  results.forEach((r, i) => {
    for (const d of DEPLOYMENTS) {
      const at = (kind: Step['kind']) => {
        const s = r.steps.find((x) => x.kind === kind && x.deployment === d);
        return s ? offset(s.at, r.writtenAt) : '-';
      };
      const trigger = d === DEMO.envApp ? `Secret updated ${at('secret-updated')}` : `first remount ${at('remounted')}`;
      out(`  ${String(i + 1).padEnd(9)}${d.padEnd(11)}${trigger.padEnd(27)}${at('restart-started').padEnd(17)}${at('rolled-out').padEnd(18)}${r.restarts[d]}`);
    }
  });
  out(`  restarts made by the controller (keyvault_reloader_restarts_total): ${totals.restarts}, for ${results.length} rotation(s) of 2 Deployments`);
  out(`  Key Vault requests, counted at the vault: ${totals.vault.engine} by the sync engine (its polls), ${totals.vault.provider} by the Azure provider (each mount and republish of mount-app's pods)`);
  out(`  Entra token requests, counted at Entra: ${totals.tokens.engine} by the sync engine, ${totals.tokens.provider} by the Azure provider`);
}

async function totalsOf(started: Started): Promise<Totals> {
  const text = (await started.controller!.get('/metrics')).body;
  const engine = (r: AzureRequest) => r.userAgent.startsWith('keyvault-reloader');
  const split = (list: AzureRequest[]) => ({ engine: list.filter(engine).length, provider: list.filter((r) => !engine(r)).length });
  return {
    restarts: metricValue(text, 'keyvault_reloader_restarts_total', { result: 'restarted' }),
    vault: split((await started.azure!.vaultRequests()).filter((r) => r.vault === DEMO.vault)),
    tokens: split(await started.azure!.entraRequests()),
  };
}

function keepRunning(started: Started, pollMs: number, title: string): void {
  const { cluster, azure, controller } = started;
  const env = azure!.proxyEnv();
  const stateFile = `${azure!.state.dir}/azure.json`;
  out(`\n${title}`);
  out(`  export KUBECONFIG=${cluster!.kubeconfig}`);
  out(`  kubectl -n ${DEMO.namespace} get deploy,rs,pods,secretproviderclasses,secretproviderclasspodstatuses`);
  out(`  kubectl -n ${DEMO.namespace} get events --field-selector reason=Restarted`);
  out(`The vault, as the controller reaches it (through the egress proxy, trusting the local Azure's CA):`);
  out(`  export HTTPS_PROXY=${env.HTTPS_PROXY} NO_PROXY=${env.NO_PROXY} CA=${azure!.caFile}`);
  out(`  TOKEN=$(curl -s --cacert $CA https://login.microsoftonline.com/${azure!.tenantId}/oauth2/v2.0/token -d grant_type=client_credentials \\`);
  out(`    -d client_id=$(jq -r .admin.clientId ${stateFile}) -d client_secret=$(jq -r .admin.secret ${stateFile}) -d scope=https://vault.azure.net/.default | jq -r .access_token)`);
  out(`  curl -s --cacert $CA -H "Authorization: Bearer $TOKEN" -X PUT -H 'content-type: application/json' -d '{"value":"my-new-value"}' \\`);
  out(`    '${azure!.vaultUrl(DEMO.vault)}secrets/${DEMO.object}?api-version=7.4' | jq .id`);
  out(`  (a new version rolls env-app within ${(pollMs * 1.1) / 1000}s + settle ${SETTLE}, and mount-app within ${(pollMs * 1.5) / 1000}s + settle)`);
  out(`The controller's log: ${controller!.proc.logFile}`);
  out('Ctrl-C stops everything.');
  out();
}

async function startController(cluster: LocalCluster, azure: LocalAzure): Promise<ControllerProcess> {
  const dir = await createEnvDir('demo');
  const processes: Record<string, ManagedProcess> = {};
  // The demo's folder goes with the demo (it holds the controller's log and pid, which a later run sweeps if this one is killed).
  registerCleanup(processes, dir);
  // What a pod gets: its own environment with the proxy variables AKS's HTTP proxy injects; nothing of this process's Azure routes.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(https?_proxy|no_proxy|node_extra_ca_certs)$/i.test(k)));
  const { HTTPS_PROXY, NO_PROXY } = azure.proxyEnv();
  const controller = await startControllerProcess({
    identity: 'keyvault-reloader-demo',
    kubeconfig: cluster.kubeconfig,
    dir,
    name: 'keyvault-reloader',
    args: ['--mode', 'all', '--namespace', DEMO.controllerNamespace, '--settle', SETTLE, '--min-restart-interval', '5s', '--ca-bundle', azure.caFile, '--log-level', 'info'],
    env: { ...env, HTTPS_PROXY, NO_PROXY, POD_NAMESPACE: DEMO.controllerNamespace },
  });
  processes['keyvault-reloader'] = controller.proc;
  await waitReady(controller, 60_000);
  return controller;
}

async function stopAll(started: Started): Promise<void> {
  started.stopping = true;
  started.observer?.stop();
  await started.controller?.proc.stop('SIGTERM', 10_000).catch(() => {});
  await started.addon?.stop().catch(() => {});
  await started.azure?.stop().catch(() => {});
  await started.cluster?.stop().catch(() => {});
}

/** Waits until the snapshot satisfies `ready`; on timeout, says what it waited for and, if it can, why it did not come. */
async function until(observer: Observer, timeoutMs: number, what: string, ready: (s: Snapshot) => boolean, diagnose?: () => Promise<string>): Promise<void> {
  if (ready(observer.snapshot())) return;
  const met = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      remove();
      resolve(false);
    }, timeoutMs);
    const remove = observer.onChange(() => {
      if (!ready(observer.snapshot())) return;
      clearTimeout(timer);
      remove();
      resolve(true);
    });
  });
  if (!met) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${diagnose ? `: ${await diagnose().catch(() => 'no more is known')}` : ''}`);
}

async function diagnoseSync(client: KubeClient): Promise<string> {
  const events = await client.request('GET', `/api/v1/namespaces/${DEMO.namespace}/events`, { query: { fieldSelector: `involvedObject.name=${DEMO.syncedClass}` } });
  const last = events.items.at(-1);
  return last ? `the class's last Event: ${last.reason}: ${last.message}` : 'the class has no Event yet';
}

async function diagnoseMounts(addon: LocalAddon): Promise<string> {
  const failing = (await addon.volumes()).find((v) => v.namespace === DEMO.namespace && v.lastError);
  return failing ? `the driver's last error for ${failing.pod}: ${failing.lastError}` : 'no mount failed (are the pods scheduled on the KWOK node?)';
}

/** Each name the egress proxy tunnelled to, and how often (only the controller uses the proxy here). */
async function tunnels(azure: LocalAzure): Promise<string> {
  const counts = new Map<string, number>();
  for (const c of await azure.connects()) {
    const key = `${c.target}${c.status === 200 ? '' : ` (HTTP ${c.status})`}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts.size === 0 ? 'no CONNECT at all (it did not reach Azure?)' : [...counts].map(([t, n]) => `CONNECT ${t} ×${n}`).join(', ');
}

async function ensureNamespace(client: KubeClient, name: string): Promise<void> {
  try {
    await client.request('POST', '/api/v1/namespaces', { body: { metadata: { name } } });
  } catch (err) {
    if (!(err instanceof KubeError && err.status === 409)) throw err;
  }
  // Pods are refused until the service-account controller has made "default".
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await client.request('GET', `/api/v1/namespaces/${name}/serviceaccounts/default`);
      return;
    } catch (err) {
      if (!(err instanceof KubeError && err.status === 404) || Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}
