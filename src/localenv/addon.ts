// The AKS Key Vault add-on for real, beside the local control plane: the
// Secrets Store CSI driver 1.6.0 (CRDs, CSIDriver and RBAC from its own chart,
// its node plugin with a token of its own ServiceAccount) and the Azure
// provider 1.8.2, reaching the Key Vault and Entra emulators under their
// public-cloud names. No kubelet runs here (KWOK fakes the pods), so a stand-in
// (testenv/go/kubelet-standin) plays the node: it runs the driver and the
// provider as the kubelet runs their DaemonSet pods, and it publishes,
// republishes and unpublishes the CSI volumes of the pods on the KWOK nodes
// as kubelet 1.34 does.
//
// All three run in one private mount namespace (unshare -m), so the tmpfs the
// driver mounts per volume vanishes with them however the run ends; the
// stand-in dies with this process, and the daemons with the stand-in.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { createKubeClient, KubeError, loadKubeConfig, type KubeClient } from '../kube/client.ts';
import { CSI_DRIVER } from '../reloader/references.ts';
import { createOrReplace, parseObjects, serverSideApply, type KubeObject } from './apply.ts';
import { ensureHelm, ensureKubeletStandin, VERSIONS, type Progress } from './assets.ts';
import { FAKE_NODE_ANNOTATION, freePort, kubeconfigYaml, type LocalCluster } from './cluster.ts';
import { createEnvDir, registerCleanup, startProcess, waitFor, type ManagedProcess } from './process.ts';
import { ensureTestbed, testbedSource } from './testbeds.ts';

const exec = promisify(execFile);

/** Where the driver's chart puts it, and where the local environment does too. */
export const ADDON_NAMESPACE = 'kube-system';
const DRIVER_SERVICE_ACCOUNT = 'secrets-store-csi-driver';
const STANDIN_SERVICE_ACCOUNT = 'keyvault-reloader-localenv-kubelet';
const FIELD_MANAGER = 'keyvault-reloader-localenv';
/** The label the driver puts on the Secrets it syncs. */
export const DRIVER_MANAGED_LABEL = 'secrets-store.csi.k8s.io/managed';
/** The audience AKS workload identity federates (the chart's tokenRequests). */
export const WORKLOAD_IDENTITY_AUDIENCE = 'api://AzureADTokenExchange';

/** What the add-on needs of the Azure side (src/localenv/azure.ts). */
export interface AddonAzure {
  /** /etc/hosts lines that send login.microsoftonline.com and these vaults' names to the emulators' port-443 fronts. */
  hostsFile(vaults: readonly string[]): string;
  /** System roots + the test CA, for a process that replaces its trust store (SSL_CERT_FILE). */
  readonly caBundleFile: string;
}

export interface AddonOptions {
  /** The control plane (started here or by another process, e.g. `npm test`'s shared one). */
  cluster: Pick<LocalCluster, 'server' | 'caFile' | 'kubeconfig'>;
  azure: AddonAzure;
  progress?: Progress;
  /**
   * The kubelet's pod resync: each mounted volume is republished every period
   * plus up to half a period of jitter (default 60 s, so 60–90 s as the kubelet).
   */
  republishPeriodMs?: number;
  /** The driver's --rotation-poll-interval (default 2m, the driver's own). */
  rotationPollInterval?: string;
  /**
   * The provider's --write-cert-and-key-in-separate-files: a secret that backs
   * a certificate also gets `<file>.crt` and `<file>.key`. Default true, as the
   * AKS add-on runs it (the provider's own default and its chart's are false).
   */
  separateCertAndKeyFiles?: boolean;
  /** KWOK nodes to serve, a driver each (default: every KWOK node). */
  nodes?: string[];
  /**
   * Vaults the provider can reach by name (<name>.vault.azure.net). A hosts
   * file has no wildcards: name every vault a class uses here or with addVaults.
   */
  vaults?: string[];
}

export interface PodRef {
  namespace: string;
  name: string;
}

/** One CSI volume of one pod as the kubelet stand-in saw it; never a token or a value. */
export interface VolumeStatus {
  namespace: string;
  pod: string;
  uid: string;
  volume: string;
  node: string;
  driver: string;
  targetPath: string;
  published: boolean;
  removed: boolean;
  publishes: number;
  failures: number;
  /** Its periodic republish is held (holdRepublish). */
  held: boolean;
  lastError?: string;
  lastPublish?: string;
  /** How long the last successful publish took: the pod's token, the CSI calls, the driver's fetch through the provider and its writes. */
  lastPublishMs?: number;
}

export interface DaemonStatus {
  name: string;
  pid: number;
  running: boolean;
  restarts: number;
  serving: boolean;
}

export interface AddonHandle {
  /** Its folder, nodes, log files (driver per node, provider, stand-in) and control socket. */
  readonly state: AddonState;
  /** Every CSI volume the stand-in tracks and what happened to it. */
  volumes(): Promise<VolumeStatus[]>;
  /** Waits until the pod's volume is mounted; fails with the driver's last error if it does not mount in time. */
  waitMounted(pod: PodRef, volume: string, opts?: { timeoutMs?: number; publishes?: number }): Promise<VolumeStatus>;
  /** The files the driver mounted for the pod's volume (what its secret sync reads), by relative path. */
  mountedFiles(pod: PodRef, volume: string): Promise<Record<string, Buffer>>;
  /** The kubelet's periodic republish, now, for every mounted volume (or one pod's); resolves when each call returned. */
  republishNow(pod?: PodRef): Promise<VolumeStatus[]>;
  /** Holds (or releases) the periodic republish of one pod's volumes, as a kubelet whose pod worker lags. */
  holdRepublish(pod: PodRef, hold: boolean): Promise<void>;
  /** The Secrets the driver synced from a class's secretObjects in a namespace, by name (those that exist now). */
  syncedSecrets(namespace: string, className: string): Promise<Record<string, any>>;
  /** Lets the provider reach these vaults too: its hosts file is rewritten and it restarts (pooled connections hide a change). */
  addVaults(...names: string[]): Promise<void>;
  /** The driver(s) and the provider as the stand-in runs them (a restart count shows a crash). */
  daemons(): Promise<DaemonStatus[]>;
}

export interface LocalAddon extends AddonHandle {
  /** Unpublishes every volume, stops the daemons and the stand-in, removes the folder. */
  stop(): Promise<void>;
}

/**
 * Fails at once, saying what is missing, where the add-on cannot run: the
 * driver mounts a tmpfs per volume and the provider needs a hosts file of its
 * own, which take root and mount namespaces.
 */
export async function requireAddonPrivileges(scratch: string): Promise<void> {
  if (process.platform !== 'linux') throw new Error(`the real CSI driver and Azure provider run only on Linux (this is ${process.platform})`);
  if (process.getuid?.() !== 0) {
    throw new Error('the real CSI driver and Azure provider need root: the driver mounts a tmpfs per volume and the provider gets a hosts file of its own, each in a private mount namespace (unshare -m). Run the tests as root, as CI does.');
  }
  try {
    await exec('unshare', ['--mount', '--propagation', 'private', '--', 'mount', '-t', 'tmpfs', 'kvr-preflight', scratch]);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`the real CSI driver needs mount namespaces and tmpfs mounts (unshare -m from util-linux, CAP_SYS_ADMIN; in a container, --privileged), and a trial failed: ${(e.stderr || e.message).trim()}`);
  }
}

/** Everything the add-on runs, built once and cached: the driver, the provider, the stand-in, and Helm for the driver's chart. */
export async function ensureAddonBinaries(progress: Progress = () => {}): Promise<{ driver: string; provider: string; standin: string; helm: string; driverSource: string }> {
  return {
    driver: await ensureTestbed('secrets-store-csi-driver', progress),
    provider: await ensureTestbed('azure-provider', progress),
    standin: await ensureKubeletStandin(progress),
    helm: await ensureHelm(progress),
    driverSource: await testbedSource('secrets-store-csi-driver', progress),
  };
}

export async function startAddon(opts: AddonOptions): Promise<LocalAddon> {
  const progress = opts.progress ?? (() => {});
  const started = Date.now();
  const dir = await createEnvDir('addon');
  await requireAddonPrivileges(dir);
  const { driver: driverBin, provider: providerBin, standin: standinBin, helm, driverSource } = await ensureAddonBinaries(progress);
  const admin = createKubeClient(loadKubeConfig(opts.cluster.kubeconfig));
  const nodes = opts.nodes ?? (await kwokNodes(admin));
  if (nodes.length === 0) throw new Error('the add-on needs at least one KWOK node to serve; the cluster has none');

  const chart = await renderDriverChart(helm, driverSource, opts.rotationPollInterval);
  await installDriverCrds(admin, driverSource);
  await serverSideApply(admin, chart.objects, { dryRun: false, fieldManager: FIELD_MANAGER });
  const driverToken = await serviceAccountToken(admin, DRIVER_SERVICE_ACCOUNT);
  await grantStandin(admin);
  const standinToken = await serviceAccountToken(admin, STANDIN_SERVICE_ACCOUNT);
  const driverKubeconfig = path.join(dir, 'secrets-store-csi-driver.kubeconfig');
  const caData = (await readFile(opts.cluster.caFile)).toString('base64');
  await writeFile(driverKubeconfig, kubeconfigYaml({ name: DRIVER_SERVICE_ACCOUNT, server: opts.cluster.server, caData, token: driverToken, namespace: ADDON_NAMESPACE }), { mode: 0o600 });
  const standinTokenFile = path.join(dir, 'kubelet-standin.token');
  await writeFile(standinTokenFile, standinToken, { mode: 0o600 });

  const providersDir = path.join(dir, 'providers');
  const hostsFile = path.join(dir, 'provider-hosts');
  const vaults = new Set(opts.vaults ?? []);
  await writeFile(hostsFile, hostsText(opts.azure, vaults));
  const logs: Record<string, string> = { 'kubelet-standin': path.join(dir, 'kubelet-standin.log') };

  const [healthzPort, prometheusPort] = [await freePort(), await freePort()];
  const provider: DaemonSpec = {
    name: 'azure-provider',
    command: providerBin,
    // The provider chart's arguments (constructPEMChain on, as its values
    // default) and the AKS add-on's separate cert and key files, with every
    // port moved off the defaults so that several environments share a machine.
    args: [
      `--endpoint=unix://${path.join(providersDir, 'azure.sock')}`, '--construct-pem-chain=true',
      `--write-cert-and-key-in-separate-files=${opts.separateCertAndKeyFiles ?? true}`,
      `--healthz-port=${healthzPort}`, '--healthz-path=/healthz', '--healthz-timeout=5s', `--prometheus-port=${prometheusPort}`,
    ],
    env: baseEnv({ SSL_CERT_FILE: opts.azure.caBundleFile }),
    logFile: path.join(dir, 'azure-provider.log'),
    hostsFile,
    socket: path.join(providersDir, 'azure.sock'),
  };
  logs['azure-provider'] = provider.logFile;
  const drivers: DaemonSpec[] = [];
  const nodeConfigs: Array<{ name: string; drivers: Record<string, string> }> = [];
  for (const node of nodes) {
    const socket = path.join(dir, 'nodes', node, 'csi.sock');
    const name = `secrets-store-csi-driver-${node}`;
    drivers.push({
      name,
      command: driverBin,
      args: driverArgs(chart.driverArgs, { endpoint: `unix://${socket}`, nodeid: node, 'provider-volume': providersDir, 'additional-provider-volume-paths': providersDir, 'metrics-addr': `127.0.0.1:${await freePort()}` }),
      env: baseEnv({ KUBECONFIG: driverKubeconfig }),
      logFile: path.join(dir, `${name}.log`),
      socket,
    });
    logs[name] = path.join(dir, `${name}.log`);
    nodeConfigs.push({ name: node, drivers: { [CSI_DRIVER]: socket } });
  }
  for (const d of ['providers', ...nodes.map((n) => path.join('nodes', n))]) await mkdir(path.join(dir, d), { recursive: true });

  const controlSocket = path.join(dir, 'kubelet-standin.sock');
  const configFile = path.join(dir, 'kubelet-standin.json');
  const periodMs = opts.republishPeriodMs ?? 60_000;
  await writeFile(
    configFile,
    JSON.stringify({
      apiServer: opts.cluster.server,
      caFile: opts.cluster.caFile,
      tokenFile: standinTokenFile,
      podsDir: path.join(dir, 'kubelet', 'pods'),
      controlSocket,
      pidsFile: path.join(dir, 'pids'),
      republish: { periodMs, jitter: 0.5 },
      nodes: nodeConfigs,
      // The provider first: the driver dials it per mount.
      daemons: [provider, ...drivers],
    }),
    { mode: 0o600 },
  );

  const processes: Record<string, ManagedProcess> = {};
  const detach = registerCleanup(processes, dir);
  processes['kubelet-standin'] = startProcess({ name: 'kubelet-standin', command: 'unshare', args: ['--mount', '--propagation', 'private', '--', standinBin, `--config=${configFile}`], dir });
  const control = controlClient(controlSocket);
  try {
    await waitFor('the kubelet stand-in, the CSI driver and the Azure provider to serve', async () => (await control('GET', '/healthz')).status === 200, { timeoutMs: 90_000, proc: processes['kubelet-standin'] });
  } catch (err) {
    detach();
    await processes['kubelet-standin'].stop('SIGTERM', 30_000);
    throw new Error(`${(err as Error).message}\n(daemon logs: ${Object.values(logs).join(', ')})`);
  }
  const state: AddonState = { dir, kubeconfig: opts.cluster.kubeconfig, controlSocket, hostsFile, vaultsFile: path.join(dir, 'vaults.json'), nodes, logs, standinPid: processes['kubelet-standin'].pid };
  await writeFile(state.vaultsFile, JSON.stringify([...vaults]));
  await writeFile(path.join(dir, STATE_FILE), JSON.stringify(state, null, 2));
  progress(`add-on ready in ${((Date.now() - started) / 1000).toFixed(1)}s: CSI driver on ${nodes.join(', ')}, Azure provider, kubelet stand-in (republish every ${periodMs / 1000}–${(periodMs * 1.5) / 1000}s; folder ${dir})`);
  return {
    ...connectAddon(state, opts.azure),
    async stop() {
      detach();
      // SIGTERM: the stand-in unpublishes every volume, then stops the driver and the provider.
      await processes['kubelet-standin']?.stop('SIGTERM', 90_000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Everything another process needs to use a running add-on (no token in it: the control socket is root's). */
export interface AddonState {
  dir: string;
  /** The admin kubeconfig of the cluster it serves. */
  kubeconfig: string;
  controlSocket: string;
  hostsFile: string;
  vaultsFile: string;
  nodes: string[];
  logs: Record<string, string>;
  standinPid: number;
}

const STATE_FILE = 'addon.json';

export function readAddonState(dir: string): AddonState {
  return JSON.parse(readFileSync(path.join(dir, STATE_FILE), 'utf8')) as AddonState;
}

/** The handle of an add-on started by this or another process. */
export function connectAddon(state: AddonState, azure: AddonAzure): AddonHandle {
  const admin = createKubeClient(loadKubeConfig(state.kubeconfig));
  const control = controlClient(state.controlSocket);
  const volumes = async (): Promise<VolumeStatus[]> => json(await control('GET', '/volumes'));
  const find = async (pod: PodRef, volume: string) => (await volumes()).find((v) => v.namespace === pod.namespace && v.pod === pod.name && v.volume === volume && !v.removed);
  const uidOf = async (pod: PodRef): Promise<string> => (await admin.request('GET', `/api/v1/namespaces/${pod.namespace}/pods/${pod.name}`)).metadata.uid;
  const status = async () => json(await control('GET', '/healthz')) as { ready: boolean; daemons: DaemonStatus[] };

  return {
    state,
    volumes,
    async waitMounted(pod, volume, o = {}) {
      let last: VolumeStatus | undefined;
      try {
        await waitFor(`volume ${volume} of pod ${pod.namespace}/${pod.name} to be mounted`, async () => {
          last = await find(pod, volume);
          return !!last?.published && last.publishes >= (o.publishes ?? 1);
        }, { timeoutMs: o.timeoutMs ?? 60_000 });
      } catch (err) {
        const why = last?.lastError ? `; the last attempt failed: ${last.lastError}` : last ? '' : '; the stand-in never saw that volume (is the pod bound to a node the add-on serves?)';
        throw new Error(`${(err as Error).message}${why}`);
      }
      return last!;
    },
    async mountedFiles(pod, volume) {
      const res = await control('GET', `/files?uid=${encodeURIComponent(await uidOf(pod))}&volume=${encodeURIComponent(volume)}`);
      if (res.status !== 200) throw new Error(`files of volume ${volume} of pod ${pod.namespace}/${pod.name}: ${res.body}`);
      const files = (json(res) as { files: Record<string, string> }).files;
      return Object.fromEntries(Object.entries(files).map(([name, b64]) => [name, Buffer.from(b64, 'base64')]));
    },
    async republishNow(pod) {
      const query = pod ? `?uid=${encodeURIComponent(await uidOf(pod))}` : '';
      return json(await control('POST', `/republish${query}`));
    },
    async holdRepublish(pod, hold) {
      const res = await control(hold ? 'POST' : 'DELETE', `/hold?uid=${encodeURIComponent(await uidOf(pod))}`);
      if (res.status !== 200) throw new Error(`holding the republish of ${pod.namespace}/${pod.name}: ${res.body}`);
    },
    async syncedSecrets(namespace, className) {
      const spc = await admin.request('GET', `/apis/secrets-store.csi.x-k8s.io/v1/namespaces/${namespace}/secretproviderclasses/${className}`);
      const out: Record<string, any> = {};
      for (const so of spc.spec?.secretObjects ?? []) {
        const name = String(so.secretName ?? '').trim();
        try {
          const s = await admin.request('GET', `/api/v1/namespaces/${namespace}/secrets/${name}`);
          if (s.metadata?.labels?.[DRIVER_MANAGED_LABEL] === 'true') out[name] = s;
        } catch (err) {
          if (!(err instanceof KubeError && err.status === 404)) throw err;
        }
      }
      return out;
    },
    async addVaults(...names) {
      const vaults = new Set(JSON.parse(readFileSync(state.vaultsFile, 'utf8')) as string[]);
      if (names.every((n) => vaults.has(n))) return;
      for (const n of names) vaults.add(n);
      await writeFile(state.vaultsFile, JSON.stringify([...vaults]));
      // In place: the bind mount follows the file's inode, not its name.
      await writeFile(state.hostsFile, hostsText(azure, vaults));
      const res = await control('POST', '/daemons/restart?name=azure-provider');
      if (res.status !== 200) throw new Error(`restarting the Azure provider: ${res.body}`);
    },
    async daemons() {
      return (await status()).daemons;
    },
  };
}

interface DaemonSpec {
  name: string;
  command: string;
  args: string[];
  env: string[];
  logFile: string;
  hostsFile?: string;
  socket?: string;
}

/** The environment a DaemonSet pod would have: a PATH, no credentials of ours. */
function baseEnv(extra: Record<string, string>): string[] {
  return [`PATH=${process.env['PATH'] ?? '/usr/bin:/bin'}`, 'HOME=/root', ...Object.entries(extra).map(([k, v]) => `${k}=${v}`)];
}

async function kwokNodes(client: KubeClient): Promise<string[]> {
  const list = await client.request('GET', '/api/v1/nodes');
  return list.items.filter((n: any) => n.metadata.annotations?.[FAKE_NODE_ANNOTATION] === 'fake').map((n: any) => n.metadata.name as string).sort();
}

/**
 * The driver's chart rendered as a user installs it for AKS-style workload
 * identity: the CSIDriver (requiresRepublish, the token audience), its
 * ServiceAccount and RBAC; and the arguments its DaemonSet gives the driver,
 * which the stand-in runs instead of the DaemonSet.
 */
async function renderDriverChart(helm: string, source: string, rotationPollInterval?: string): Promise<{ objects: KubeObject[]; driverArgs: string[] }> {
  const args = [
    'template', 'csi', path.join(source, 'charts', 'secrets-store-csi-driver'),
    '--namespace', ADDON_NAMESPACE,
    // The version the chart gates CSIDriver fields on is the cluster's.
    '--kube-version', VERSIONS.kubernetes,
    '--set', 'enableSecretRotation=true',
    '--set', 'syncSecret.enabled=true',
    '--set', `tokenRequests[0].audience=${WORKLOAD_IDENTITY_AUDIENCE}`,
  ];
  if (rotationPollInterval) args.push('--set', `rotationPollInterval=${rotationPollInterval}`);
  const { stdout } = await exec(helm, args, { maxBuffer: 16 * 1024 * 1024 });
  const all = parseObjects(stdout);
  const daemonSet = all.find((o) => o.kind === 'DaemonSet');
  const container = daemonSet?.spec?.template?.spec?.containers?.find((c: any) => c.name === 'secrets-store');
  if (!container?.args) throw new Error("the driver's chart rendered no DaemonSet with a secrets-store container: is it the 1.6 chart?");
  const kept = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'CSIDriver']);
  // Hooks (the CRD upgrade Jobs and their RBAC) are Helm's business; the CRDs come from deploy/.
  const objects = all.filter((o) => kept.has(o.kind) && !o.metadata.annotations?.['helm.sh/hook']);
  return { objects, driverArgs: container.args as string[] };
}

/** The chart's driver arguments with the node's own values in place of the DaemonSet's. */
export function driverArgs(chartArgs: string[], own: Record<string, string>): string[] {
  const seen = new Set<string>();
  const out = chartArgs.map((arg) => {
    const m = /^--([^=]+)=/.exec(arg);
    if (m && m[1]! in own) {
      seen.add(m[1]!);
      return `--${m[1]}=${own[m[1]!]}`;
    }
    return arg;
  });
  for (const [flag, value] of Object.entries(own)) if (!seen.has(flag)) out.push(`--${flag}=${value}`);
  return out;
}

/**
 * The driver's own CRDs from its deploy/ folder, in place of deploy/crds'
 * (which cluster.ts installs for every test): the same schema, so they replace
 * each other without a conflict (a test holds them equal), and with the add-on
 * running the cluster has exactly what the driver's install gives it.
 */
async function installDriverCrds(client: KubeClient, source: string): Promise<void> {
  const objects = await driverCrds(source);
  await createOrReplace(client, objects);
  await waitFor('the driver CRDs to be established', async () => {
    for (const crd of objects) {
      const got = await client.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`);
      if (!got.status?.conditions?.some((c: any) => c.type === 'Established' && c.status === 'True')) return false;
    }
    return true;
  }, { timeoutMs: 30_000 });
}

/** The driver's CRDs as its deploy/ folder has them. */
export async function driverCrds(source?: string): Promise<KubeObject[]> {
  const dir = path.join(source ?? (await testbedSource('secrets-store-csi-driver')), 'deploy');
  const objects: KubeObject[] = [];
  for (const file of readdirSync(dir).filter((f) => f.startsWith('secrets-store.csi.x-k8s.io_') && f.endsWith('.yaml')).sort()) {
    objects.push(...parseObjects(await readFile(path.join(dir, file), 'utf8')));
  }
  if (objects.length !== 2) throw new Error(`expected the driver's two CRDs in ${dir}, found ${objects.length}`);
  return objects;
}

async function serviceAccountToken(client: KubeClient, name: string): Promise<string> {
  const tr = await client.request('POST', `/api/v1/namespaces/${ADDON_NAMESPACE}/serviceaccounts/${name}/token`, { body: { spec: { expirationSeconds: 86_400 } } });
  return tr.status.token;
}

/**
 * What a kubelet may do for CSI volumes (the Node authorizer's share of it):
 * read the pods and the CSIDriver, read node-publish Secrets, and ask for
 * the pods' service-account tokens.
 */
async function grantStandin(client: KubeClient): Promise<void> {
  const name = `${FIELD_MANAGER}:kubelet`;
  await serverSideApply(client, [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: STANDIN_SERVICE_ACCOUNT, namespace: ADDON_NAMESPACE } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name },
      rules: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'] },
        { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
        { apiGroups: ['storage.k8s.io'], resources: ['csidrivers'], verbs: ['get', 'list', 'watch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name: STANDIN_SERVICE_ACCOUNT, namespace: ADDON_NAMESPACE }],
    },
  ], { dryRun: false, fieldManager: FIELD_MANAGER });
}

// The provider's whole view of names: itself, and Azure's public names.
function hostsText(azure: AddonAzure, vaults: ReadonlySet<string>): string {
  return `127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n${azure.hostsFile([...vaults].sort())}`;
}

type Control = (method: 'GET' | 'POST' | 'DELETE', pathname: string) => Promise<{ status: number; body: string }>;

function controlClient(socketPath: string): Control {
  return (method, pathname) =>
    new Promise((resolve, reject) => {
      const req = http.request({ socketPath, path: pathname, method, timeout: 180_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('timeout', () => req.destroy(new Error(`kubelet stand-in: ${method} ${pathname} timed out`)));
      req.on('error', reject);
      req.end();
    });
}

function json(res: { status: number; body: string }): any {
  if (res.status !== 200) throw new Error(`kubelet stand-in answered HTTP ${res.status}: ${res.body}`);
  return JSON.parse(res.body);
}
