// The sync engine end to end: `keyvault-reloader run` as its own process
// against the test control plane and the local Azure, reaching Entra and Key
// Vault the way a pod of a cluster with AKS's HTTP-proxy feature does (the
// proxy variables and the test CA come from helpers/azure.ts). Helpers to
// write SecretProviderClasses the way a user writes them for the add-on, and
// to read what the controller did: Secrets, Events, metrics.
import { randomBytes } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import { KubeError, type KubeClient } from '../../src/kube/client.ts';
import type { AzureHandle } from '../../src/localenv/azure.ts';
import { metricValue } from '../../src/localenv/controller.ts';
import { ANNOTATION_POLL_INTERVAL, ANNOTATION_SERVICE_ACCOUNT, ANNOTATION_SYNC, SPC_API_VERSION } from '../../src/sync/spc.ts';
import { startControllerProcess, waitReady, type ControllerProcess } from './controller.ts';
import { createNamespace, eventually, type TestEnv } from './env.ts';
import { eventsFor } from './reloader.ts';

/** The service account the classes of these tests read with (the chart's default name). */
export const SYNC_SA = 'keyvault-reloader-sync';

export const spcPath = (ns: string, name = '') => `/apis/secrets-store.csi.x-k8s.io/v1/namespaces/${ns}/secretproviderclasses${name ? `/${name}` : ''}`;

export function vaultName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`.slice(0, 24);
}

export interface ClassSpec {
  vault: string;
  clientID: string;
  tenantId: string;
  /** Each entry is one object's YAML fields, e.g. "objectName: db\nobjectType: secret". */
  objects: string[];
  secretObjects?: unknown[];
  /** Extra parameters (cloudName, cloudEnvFileName, …); undefined removes one. */
  parameters?: Record<string, string | undefined>;
  annotations?: Record<string, string>;
  /** Default 1s: tests wait for conditions, the interval only bounds how long. */
  pollInterval?: string;
}

/** A SecretProviderClass as a user writes it for the AKS add-on, opted in to the sync engine. */
export function syncClass(name: string, spec: ClassSpec): object {
  const objects = `array:\n${spec.objects.map((o) => `  - |\n${o.split('\n').map((l) => `    ${l}`).join('\n')}\n`).join('')}`;
  const parameters = Object.fromEntries(Object.entries({ keyvaultName: spec.vault, tenantId: spec.tenantId, clientID: spec.clientID, objects, ...spec.parameters }).filter(([, v]) => v !== undefined));
  return {
    apiVersion: SPC_API_VERSION,
    kind: 'SecretProviderClass',
    metadata: { name, annotations: { [ANNOTATION_SYNC]: 'true', [ANNOTATION_POLL_INTERVAL]: spec.pollInterval ?? '1s', ...spec.annotations } },
    spec: { provider: 'azure', parameters, secretObjects: spec.secretObjects ?? [] },
  };
}

export async function applyClass(client: KubeClient, ns: string, body: object): Promise<any> {
  const name = (body as { metadata: { name: string } }).metadata.name;
  try {
    return await client.request('POST', spcPath(ns), { body });
  } catch (err) {
    if (!(err instanceof KubeError && err.status === 409)) throw err;
    const current = await client.request('GET', spcPath(ns, name));
    return client.request('PUT', spcPath(ns, name), { body: { ...body, metadata: { ...(body as { metadata: object }).metadata, resourceVersion: current.metadata.resourceVersion } } });
  }
}

export async function ensureServiceAccount(client: KubeClient, ns: string, name: string): Promise<void> {
  try {
    await client.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { body: { metadata: { name } } });
  } catch (err) {
    if (!(err instanceof KubeError && err.status === 409)) throw err;
  }
}

/** A namespace with the sync service account and an Entra app federated to it: its client id. */
export async function federatedNamespace(env: TestEnv, azure: AzureHandle, prefix: string, serviceAccount = SYNC_SA): Promise<{ ns: string; clientID: string }> {
  const ns = await createNamespace(env.client, prefix);
  await ensureServiceAccount(env.client, ns, serviceAccount);
  const clientID = await azure.admin.workloadIdentity(ns, serviceAccount);
  return { ns, clientID };
}

export async function getSecret(client: KubeClient, ns: string, name: string): Promise<V1Secret | undefined> {
  try {
    return await client.request<V1Secret>('GET', `/api/v1/namespaces/${ns}/secrets/${name}`);
  } catch (err) {
    if (err instanceof KubeError && err.status === 404) return undefined;
    throw err;
  }
}

/** The Secret's data decoded, once it exists (and, with `until`, once it satisfies it). */
export async function secretData(client: KubeClient, ns: string, name: string, until: (data: Record<string, Buffer>) => boolean = () => true, timeoutMs = 60_000): Promise<Record<string, Buffer>> {
  return eventually(`Secret ${ns}/${name} with the expected data`, async () => {
    const s = await getSecret(client, ns, name);
    if (s === undefined) return undefined;
    const data = Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
    return until(data) ? data : undefined;
  }, timeoutMs);
}

export async function classEvents(client: KubeClient, ns: string, name: string, reason: string): Promise<string[]> {
  return (await eventsFor(client, ns, name)).filter((e) => e.reason === reason).map((e) => e.message);
}

/** Resolves with the first Event of this reason on the object whose message matches. */
export async function waitEvent(client: KubeClient, ns: string, name: string, reason: string, match: RegExp = /./, timeoutMs = 60_000): Promise<string> {
  return eventually(`${reason} Event on ${ns}/${name} matching ${match}`, async () => (await classEvents(client, ns, name, reason)).find((m) => match.test(m)), timeoutMs);
}

export interface SyncController extends ControllerProcess {
  /** A sample of /metrics: the value of the series with these labels (0 when absent). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

/**
 * `keyvault-reloader run --mode all` for these namespaces, as its own process,
 * with no leader election (one replica) and a short settle window. `env`
 * replaces variables of this process's environment (undefined removes one).
 */
export async function startSyncController(env: TestEnv, opts: { identity?: string; namespaces: string[]; args?: string[]; env?: Record<string, string | undefined>; kubeconfig?: string; ready?: boolean }): Promise<SyncController> {
  const controller = await startControllerProcess(env, {
    identity: opts.identity ?? `sync-${randomBytes(3).toString('hex')}`,
    kubeconfig: opts.kubeconfig,
    args: ['--mode', 'all', '--namespaces', opts.namespaces.join(','), '--leader-elect=false', '--settle', '1s', '--min-restart-interval', '0s', '--log-level', 'debug', ...(opts.args ?? [])],
    env: { POD_NAMESPACE: opts.namespaces[0], ...opts.env },
  });
  if (opts.ready ?? true) await waitReady(controller);
  return {
    ...controller,
    async metric(name, labels = {}) {
      return metricValue((await controller.get('/metrics')).body, name, labels);
    },
  };
}
