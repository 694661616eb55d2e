// The control plane an integration test runs against: the one `npm test`
// started (named by an environment variable), or a private one when a test
// file is run alone. Each test works in a namespace of its own.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKubeClient, KubeError, loadKubeConfig, type KubeClient } from '../../src/kube/client.ts';
import type { AzureState } from '../../src/localenv/azure.ts';
import { kubeconfigYaml, startCluster, type LocalCluster } from '../../src/localenv/cluster.ts';

export const ENV_STATE_VAR = 'KVR_TESTENV';

export interface EnvState {
  kubeconfig: string;
  server: string;
  /** The service-account issuer (the API server's URL). */
  issuer: string;
  caFile: string;
  adminToken: string;
  dir: string;
  /** The local Azure `npm test` started beside the control plane (see helpers/azure.ts). */
  azure?: AzureState;
}

export interface TestEnv extends EnvState {
  client: KubeClient;
  /** Set only when this process owns the control plane (a file run alone, or a test that restarts it). */
  cluster?: LocalCluster;
}

let shared: Promise<TestEnv> | undefined;

// The environments every test of the file shares (testEnv, testAzure, when
// the file runs alone), stopped after its last test. The hook is made as
// this module loads, at the file's top level, so that it belongs to the
// file: made from inside a test or a hook, node:test runs an after hook as
// soon as that test or hook ends, and the file would lose its shared control
// plane after the test that happened to start it.
const sharedByFile: Array<() => Promise<void>> = [];
after(async () => {
  for (const stop of sharedByFile.splice(0).reverse()) await stop();
});

/** Stops an environment the whole file shares after the file's last test. */
export function stopAfterFile(stop: () => Promise<void>): void {
  sharedByFile.push(stop);
}

export function testEnv(): Promise<TestEnv> {
  shared ??= (async () => {
    const file = process.env[ENV_STATE_VAR];
    if (file) {
      const state = JSON.parse(readFileSync(file, 'utf8')) as EnvState;
      return { ...state, client: createKubeClient(loadKubeConfig(state.kubeconfig)) };
    }
    const env = await startPrivateEnv();
    stopAfterFile(() => env.cluster.stop());
    return env;
  })();
  return shared;
}

/** A control plane of the calling test's (or suite's) own, stopped when it ends. */
export async function privateEnv(opts: { crds?: boolean } = {}): Promise<TestEnv> {
  const env = await startPrivateEnv(opts);
  after(() => env.cluster.stop());
  return env;
}

async function startPrivateEnv(opts: { crds?: boolean } = {}): Promise<TestEnv & { cluster: LocalCluster }> {
  const cluster = await startCluster({ progress: (m) => process.stderr.write(`${m}\n`), crds: opts.crds });
  return {
    kubeconfig: cluster.kubeconfig,
    server: cluster.server,
    issuer: cluster.issuer,
    caFile: cluster.caFile,
    adminToken: cluster.adminToken,
    dir: cluster.dir,
    client: createKubeClient(loadKubeConfig(cluster.kubeconfig)),
    cluster,
  };
}

export async function createNamespace(client: KubeClient, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await client.request('POST', '/api/v1/namespaces', { body: { metadata: { name } } });
  // Pods are refused until the service-account controller has made "default".
  await eventually(`service account default in ${name}`, async () => {
    try {
      await client.request('GET', `/api/v1/namespaces/${name}/serviceaccounts/default`);
      return true;
    } catch (err) {
      if (err instanceof KubeError && err.status === 404) return false;
      throw err;
    }
  });
  return name;
}

export async function eventually<T>(what: string, check: () => Promise<T | false | undefined | null>, timeoutMs = 60_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`);
}

/** A kubeconfig and client that act as a service account, with a fresh TokenRequest token. */
export async function serviceAccountClient(env: TestEnv, ns: string, name: string): Promise<{ kubeconfig: string; client: KubeClient }> {
  try {
    await env.client.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { body: { metadata: { name } } });
  } catch (err) {
    if (!(err instanceof KubeError && err.status === 409)) throw err;
  }
  const tr = await env.client.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts/${name}/token`, { body: { spec: { expirationSeconds: 3600 } } });
  const admin = JSON.parse(readFileSync(env.kubeconfig, 'utf8'));
  const kubeconfig = path.join(env.dir, `sa-${ns}-${name}.kubeconfig`);
  writeFileSync(kubeconfig, kubeconfigYaml({ name, server: env.server, caData: admin.clusters[0].cluster['certificate-authority-data'], token: tr.status.token }), { mode: 0o600 });
  return { kubeconfig, client: createKubeClient(loadKubeConfig(kubeconfig)) };
}
