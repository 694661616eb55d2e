// A real Kubernetes control plane on loopback: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler of one pinned version, with KWOK
// playing the kubelet so that pods become Ready and rollouts really complete.
// Used by the tests, the benchmarks and the demo alike.
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ensureBinaries, PACKAGE_ROOT, type Binaries, type Progress } from './assets.ts';
import { createPki, type Pki } from './pki.ts';
import { createEnvDir, registerCleanup, startProcess, sweepStale, waitFor, type ManagedProcess } from './process.ts';

export const FAKE_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

export interface LocalCluster {
  readonly dir: string;
  readonly server: string;
  /**
   * The service-account issuer: the API server's own URL, whose discovery
   * document and JWKS anyone may read, so that an identity provider (the Entra
   * emulator) checks federated tokens against it for real, as Entra does an
   * AKS cluster's OIDC issuer.
   */
  readonly issuer: string;
  readonly caFile: string;
  readonly adminToken: string;
  /** Path of an admin kubeconfig file. */
  readonly kubeconfig: string;
  readonly processes: Record<string, ManagedProcess>;
  /** Stops the apiserver and starts it again on the same port (watch-recovery tests). */
  restartApiserver(): Promise<void>;
  /** GET on the apiserver as admin; used for readiness and discovery documents. */
  get(pathname: string, token?: string): Promise<{ status: number; body: string }>;
  /** A kubeconfig that authenticates with the given bearer token (e.g. a service account's). */
  kubeconfigFor(name: string, token: string): Promise<string>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  progress?: Progress;
  /** Number of KWOK fake nodes (default 1). */
  nodes?: number;
  /** Install the Secrets Store CSI driver's CRDs from deploy/crds (default true), as the add-on would. */
  crds?: boolean;
  /**
   * kube-controller-manager's client rate (its --kube-api-qps; burst twice that). The default, 20
   * requests/s, makes the Deployment controller take minutes to catch up after thousands of
   * writes; the benchmark raises it so that its scales fit in an hour.
   */
  controllerManagerQps?: number;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export function httpsGet(url: string, ca: string | Buffer, token?: string): Promise<{ status: number; body: string }> {
  return httpsRequest(url, { method: 'GET', ca, token });
}

/** One HTTPS call to a server of the local environment, trusting the CA that signed its certificate; JSON in, text out. */
export function httpsRequest(url: string, opts: { method: string; ca: string | Buffer; token?: string | undefined; body?: unknown; timeoutMs?: number }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const req = https.request(url, { method: opts.method, ca: opts.ca, headers, timeout: opts.timeoutMs ?? 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout on ${opts.method} ${url}`)));
    req.on('error', reject);
    req.end(opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
  });
}

export function kubeconfigYaml(opts: { name: string; server: string; caData: string; token: string; namespace?: string }): string {
  // JSON is valid YAML, and a kubeconfig loader accepts either.
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'local', cluster: { server: opts.server, 'certificate-authority-data': opts.caData } }],
      users: [{ name: opts.name, user: { token: opts.token } }],
      contexts: [{ name: opts.name, context: { cluster: 'local', user: opts.name, namespace: opts.namespace ?? 'default' } }],
      'current-context': opts.name,
    },
    null,
    2,
  );
}

export async function startCluster(opts: ClusterOptions = {}): Promise<LocalCluster> {
  const progress = opts.progress ?? (() => {});
  sweepStale();
  const bins = await ensureBinaries(progress);
  const dir = await createEnvDir('');
  const processes: Record<string, ManagedProcess> = {};
  const stopAll = async () => {
    for (const name of ['kwok', 'kube-scheduler', 'kube-controller-manager', 'kube-apiserver', 'etcd']) {
      await processes[name]?.stop('SIGTERM', 5000);
    }
  };
  const detach = registerCleanup(processes, dir);
  try {
    return await bringUp(bins, dir, processes, opts, progress, async () => {
      detach();
      await stopAll();
      await rm(dir, { recursive: true, force: true });
    });
  } catch (err) {
    detach();
    await stopAll();
    // Keep the folder for the logs the error points to.
    throw err;
  }
}

async function bringUp(bins: Binaries, dir: string, processes: Record<string, ManagedProcess>, opts: ClusterOptions, progress: Progress, stop: () => Promise<void>): Promise<LocalCluster> {
  const started = Date.now();
  const pki: Pki = await createPki(dir);
  const ca = await readFile(pki.caCert);
  const caData = ca.toString('base64');
  const adminToken = randomBytes(24).toString('hex');
  await writeFile(path.join(dir, 'tokens.csv'), `${adminToken},admin,admin,"system:masters"\n`, { mode: 0o600 });

  const [etcdClient, etcdPeer, apiPort, kwokPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const etcdUrl = `http://127.0.0.1:${etcdClient}`;
  processes['etcd'] = startProcess({
    name: 'etcd',
    command: bins.etcd,
    dir,
    args: [
      '--name=local',
      `--data-dir=${path.join(dir, 'etcd-data')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=local=http://127.0.0.1:${etcdPeer}`,
      // A throwaway store on a shared machine: durability buys nothing here.
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ],
  });
  await waitFor('etcd to be healthy', async () => (await fetch(`${etcdUrl}/health`)).ok, { timeoutMs: 30_000, proc: processes['etcd'] });

  const server = `https://127.0.0.1:${apiPort}`;
  const apiserverArgs = [
    `--etcd-servers=${etcdUrl}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${apiPort}`,
    `--tls-cert-file=${pki.servingCert}`,
    `--tls-private-key-file=${pki.servingKey}`,
    `--cert-dir=${path.join(dir, 'apiserver-certs')}`,
    `--token-auth-file=${path.join(dir, 'tokens.csv')}`,
    '--authorization-mode=RBAC',
    `--service-account-issuer=${server}`,
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    '--service-cluster-ip-range=10.0.0.0/24',
    '--allow-privileged=true',
    '--profiling=false',
    '--v=0',
  ];
  const startApiserver = () => {
    processes['kube-apiserver'] = startProcess({ name: 'kube-apiserver', command: bins.kubeApiserver, dir, args: apiserverArgs });
  };
  const get = (pathname: string, token = adminToken) => httpsGet(`${server}${pathname}`, ca, token);
  const waitReady = () => waitFor('kube-apiserver /readyz', async () => (await get('/readyz')).status === 200, { timeoutMs: 90_000, proc: processes['kube-apiserver'] });
  startApiserver();
  await waitReady();

  const kubeconfig = path.join(dir, 'admin.kubeconfig');
  await writeFile(kubeconfig, kubeconfigYaml({ name: 'admin', server, caData, token: adminToken }), { mode: 0o600 });

  processes['kube-controller-manager'] = startProcess({
    name: 'kube-controller-manager',
    command: bins.kubeControllerManager,
    dir,
    args: [
      `--kubeconfig=${kubeconfig}`,
      '--leader-elect=false',
      '--secure-port=0',
      `--service-account-private-key-file=${pki.saKey}`,
      `--root-ca-file=${pki.caCert}`,
      '--use-service-account-credentials=false',
      '--controllers=*',
      '--profiling=false',
      // Deployments roll promptly on a small machine.
      '--concurrent-deployment-syncs=10',
      '--concurrent-replicaset-syncs=10',
      '--concurrent-gc-syncs=10',
      ...(opts.controllerManagerQps ? [`--kube-api-qps=${opts.controllerManagerQps}`, `--kube-api-burst=${2 * opts.controllerManagerQps}`] : []),
    ],
  });
  processes['kube-scheduler'] = startProcess({
    name: 'kube-scheduler',
    command: bins.kubeScheduler,
    dir,
    args: [`--kubeconfig=${kubeconfig}`, '--leader-elect=false', '--secure-port=0', '--profiling=false'],
  });
  processes['kwok'] = startProcess({
    name: 'kwok',
    command: bins.kwok,
    dir,
    args: [
      `--kubeconfig=${kubeconfig}`,
      `--config=${path.join(PACKAGE_ROOT, 'testenv', 'kwok', 'stages.yaml')}`,
      '--manage-all-nodes=false',
      `--manage-nodes-with-annotation-selector=${FAKE_NODE_ANNOTATION}=fake`,
      '--cidr=10.244.0.0/16',
      '--node-ip=10.1.0.1',
      `--server-address=127.0.0.1:${kwokPort}`,
    ],
  });

  const cluster: LocalCluster = {
    dir,
    server,
    issuer: server,
    caFile: pki.caCert,
    adminToken,
    kubeconfig,
    processes,
    get,
    async restartApiserver() {
      await processes['kube-apiserver']?.stop('SIGTERM', 10_000);
      startApiserver();
      await waitReady();
    },
    async kubeconfigFor(name, token) {
      const file = path.join(dir, `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.kubeconfig`);
      await writeFile(file, kubeconfigYaml({ name, server, caData, token }), { mode: 0o600 });
      return file;
    },
    stop,
  };

  await allowAnonymousIssuerDiscovery(cluster);
  await createFakeNodes(cluster, opts.nodes ?? 1);
  if (opts.crds ?? true) await installCrds(cluster);
  // The service-account controller creates "default" in each namespace; pods
  // are refused until it exists, so wait for it once here.
  await waitFor('the default service account', async () => (await get('/api/v1/namespaces/default/serviceaccounts/default')).status === 200, { timeoutMs: 60_000, proc: processes['kube-controller-manager'] });
  progress(`local control plane ready at ${server} in ${((Date.now() - started) / 1000).toFixed(1)}s (folder ${dir})`);
  return cluster;
}

// What AKS's OIDC issuer offers: the discovery document and JWKS to anyone,
// the rest of the API to no one anonymous.
async function allowAnonymousIssuerDiscovery(cluster: LocalCluster): Promise<void> {
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'keyvault-reloader-localenv:anonymous-issuer-discovery' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:service-account-issuer-discovery' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:unauthenticated' }],
  };
  const res = await httpsRequest(`${cluster.server}/apis/rbac.authorization.k8s.io/v1/clusterrolebindings`, { method: 'POST', ca: await readFile(cluster.caFile), token: cluster.adminToken, body: binding });
  if (res.status !== 201 && res.status !== 409) throw new Error(`allowing anonymous service-account issuer discovery: HTTP ${res.status}: ${res.body}`);
}

async function createFakeNodes(cluster: LocalCluster, count: number): Promise<void> {
  const ca = await readFile(cluster.caFile);
  for (let i = 0; i < count; i++) {
    const name = `kwok-node-${i}`;
    const node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, annotations: { [FAKE_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' }, labels: { type: 'kwok', 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' } },
      spec: {},
    };
    const res = await httpsRequest(`${cluster.server}/api/v1/nodes`, { method: 'POST', ca, token: cluster.adminToken, body: node });
    if (res.status !== 201 && res.status !== 409) throw new Error(`creating fake node ${name}: HTTP ${res.status}: ${res.body}`);
  }
  await waitFor(`${count} KWOK node(s) to be Ready`, async () => {
    const res = await cluster.get('/api/v1/nodes');
    const list = JSON.parse(res.body) as { items: { status?: { conditions?: { type: string; status: string }[] } }[] };
    const ready = list.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    return ready.length >= count;
  }, { timeoutMs: 60_000, proc: cluster.processes['kwok'] });
}

async function installCrds(cluster: LocalCluster): Promise<void> {
  const ca = await readFile(cluster.caFile);
  const dir = path.join(PACKAGE_ROOT, 'deploy', 'crds');
  const names: string[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
    const crd = parseYaml(await readFile(path.join(dir, file), 'utf8')) as { metadata: { name: string } };
    const res = await httpsRequest(`${cluster.server}/apis/apiextensions.k8s.io/v1/customresourcedefinitions`, { method: 'POST', ca, token: cluster.adminToken, body: crd });
    if (res.status !== 201 && res.status !== 409) throw new Error(`installing CRD from ${file}: HTTP ${res.status}: ${res.body}`);
    names.push(crd.metadata.name);
  }
  await waitFor('CRDs to be established', async () => {
    for (const name of names) {
      const res = await cluster.get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
      const crd = JSON.parse(res.body) as { status?: { conditions?: { type: string; status: string }[] } };
      if (!crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return false;
    }
    return true;
  }, { timeoutMs: 30_000 });
}
