// The real AKS add-on a test file works beside: the Secrets Store CSI driver
// and the Azure provider with the kubelet stand-in (src/localenv/addon.ts),
// started for the file next to the shared control plane and local Azure and
// stopped after it, with the file's own republish period and rotation interval.
// Plus what a test needs to give a namespace workload identity as on AKS: a
// service account, an app federated to it, and a SecretProviderClass naming
// the app's clientID.
import type { V1EnvVar, V1Pod, V1PodSpec } from '@kubernetes/client-node';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after } from 'node:test';
import type { KubeClient } from '../../src/kube/client.ts';
import { KubeError } from '../../src/kube/client.ts';
import { startAddon, type LocalAddon } from '../../src/localenv/addon.ts';
import type { AzureHandle } from '../../src/localenv/azure.ts';
import { testAzure } from './azure.ts';
import { ENV_STATE_VAR, stopAfterFile, testEnv, type EnvState, type TestEnv } from './env.ts';

export interface AddonEnv {
  env: TestEnv;
  azure: AzureHandle;
  addon: LocalAddon;
}

let started: Promise<AddonEnv> | undefined;

/** The add-on of this test file (started on first use, stopped after the file). */
export function testAddon(opts: { republishPeriodMs?: number; rotationPollInterval?: string; vaults?: string[] } = {}): Promise<AddonEnv> {
  started ??= (async () => {
    const env = await testEnv();
    const azure = await testAzure();
    const addon = await startAddon({ cluster: env, azure, progress: (m) => process.stderr.write(`[addon] ${m}\n`), ...opts });
    // Before the control plane and Azure it runs beside, if the file owns them.
    stopAfterFile(() => addon.stop());
    return { env, azure, addon };
  })();
  return started;
}

/**
 * A state file naming this process's control plane and local Azure, for a
 * child process (helpers/env.ts reads it through KVR_TESTENV).
 */
export async function childEnvVar(env: TestEnv, azure: AzureHandle): Promise<Record<string, string>> {
  const state: EnvState = { kubeconfig: env.kubeconfig, server: env.server, issuer: env.issuer, caFile: env.caFile, adminToken: env.adminToken, dir: env.dir, azure: azure.state };
  const file = path.join(env.dir, `state-for-child-${process.pid}.json`);
  await writeFile(file, JSON.stringify(state));
  return { [ENV_STATE_VAR]: file };
}

export interface ClassObject {
  objectName: string;
  objectType: 'secret' | 'key' | 'cert';
  objectAlias?: string;
  objectVersion?: string;
}

/** The provider's `objects` parameter: `array:` and a YAML document per object. */
export function objectsParameter(objects: ClassObject[]): string {
  const docs = objects.map((o) => `  - |\n${Object.entries(o).map(([k, v]) => `    ${k}: ${v}\n`).join('')}`);
  return `array:\n${docs.join('')}`;
}

/**
 * Workload identity as on AKS: the service account `serviceAccount` of the
 * namespace, an app with a federated credential for it, and a
 * SecretProviderClass for the Azure provider naming that app's clientID.
 */
export async function workloadIdentityClass(
  client: KubeClient,
  azure: AzureHandle,
  ns: string,
  opts: { name: string; vault: string; serviceAccount: string; objects: ClassObject[]; secretObjects?: unknown[]; clientID?: string },
): Promise<{ clientID: string }> {
  try {
    await client.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { body: { metadata: { name: opts.serviceAccount } } });
  } catch (err) {
    if (!(err instanceof KubeError && err.status === 409)) throw err;
  }
  const clientID = opts.clientID ?? (await azure.admin.workloadIdentity(ns, opts.serviceAccount));
  await client.request('POST', `/apis/secrets-store.csi.x-k8s.io/v1/namespaces/${ns}/secretproviderclasses`, {
    body: {
      apiVersion: 'secrets-store.csi.x-k8s.io/v1',
      kind: 'SecretProviderClass',
      metadata: { name: opts.name },
      spec: {
        provider: 'azure',
        parameters: { keyvaultName: opts.vault, tenantId: azure.tenantId, clientID, objects: objectsParameter(opts.objects) },
        ...(opts.secretObjects ? { secretObjects: opts.secretObjects } : {}),
      },
    },
  });
  return { clientID };
}

/** A pod spec mounting the class read-only (the driver refuses anything else) as the service account, its container with `env`. */
export function mountingPod(className: string, serviceAccount: string, opts: { env?: V1EnvVar[]; nodeName?: string } = {}): V1PodSpec {
  return {
    serviceAccountName: serviceAccount,
    ...(opts.nodeName ? { nodeName: opts.nodeName } : {}),
    containers: [{ name: 'app', image: 'example.invalid/app:1', env: opts.env, volumeMounts: [{ name: 'kv', mountPath: '/mnt/secrets', readOnly: true }] }],
    volumes: [{ name: 'kv', csi: { driver: 'secrets-store.csi.k8s.io', readOnly: true, volumeAttributes: { secretProviderClass: className } } }],
  };
}

/** Deletes the namespace when the calling test ends, so that no kubelet stand-in republishes its pods later. */
export function deleteAfter(client: KubeClient, ns: string): void {
  after(async () => {
    await client.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => {});
  });
}

/** A vault name of this run (3–24 characters of [a-z0-9-]). */
export function vaultName(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 8)}`.slice(0, 24);
}

/** A pod's SecretProviderClassPodStatus for a class (what the driver wrote when it mounted it), if there is one. */
export async function statusOf(client: KubeClient, ns: string, pod: string, className: string): Promise<any | undefined> {
  try {
    return await client.request('GET', `/apis/secrets-store.csi.x-k8s.io/v1/namespaces/${ns}/secretproviderclasspodstatuses/${pod}-${ns}-${className}`);
  } catch {
    return undefined;
  }
}

/** Every pod reports `version` for every object of the class (what the driver wrote after mounting it). */
export async function allReport(client: KubeClient, ns: string, pods: V1Pod[], className: string, version: string): Promise<boolean> {
  if (pods.length === 0) return false;
  for (const p of pods) {
    const s = await statusOf(client, ns, p.metadata!.name!, className);
    if (!s || s.metadata.ownerReferences?.[0]?.uid !== p.metadata!.uid || !s.status.objects.every((o: any) => o.version === version)) return false;
  }
  return true;
}
