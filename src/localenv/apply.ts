// Kubernetes objects as `kubectl apply --server-side` sends them: parsed from
// YAML (a chart's rendering, a project's deploy/ files) and applied through the
// project's own client, for real or as a dry run. The local environment
// installs the add-on's pieces this way; the chart's tests apply the chart.
import { parseAllDocuments } from 'yaml';
import type { KubeClient } from '../kube/client.ts';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: any;
}

export function parseObjects(yamlText: string): KubeObject[] {
  return parseAllDocuments(yamlText)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`invalid YAML: ${d.errors[0]!.message}`);
      return d.toJS() as KubeObject | null;
    })
    .filter((o): o is KubeObject => o !== null);
}

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

const discovery = new WeakMap<KubeClient, Map<string, Promise<ApiResource[]>>>();

async function resourceFor(client: KubeClient, apiVersion: string, kind: string): Promise<ApiResource> {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  let cache = discovery.get(client);
  if (!cache) discovery.set(client, (cache = new Map()));
  // CRDs applied during a run appear later: refetch on a miss.
  for (const fresh of [false, true]) {
    if (fresh || !cache.has(base)) cache.set(base, client.request<{ resources: ApiResource[] }>('GET', base).then((l) => l.resources));
    const found = (await cache.get(base)!.catch(() => [])).find((r) => r.kind === kind && !r.name.includes('/'));
    if (found) return found;
  }
  throw new Error(`the API server serves no ${kind} in ${apiVersion}`);
}

export function objectPath(resource: ApiResource, apiVersion: string, namespace: string | undefined, name?: string): string {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const ns = resource.namespaced ? `/namespaces/${namespace}` : '';
  return `${base}${ns}/${resource.name}${name ? `/${name}` : ''}`;
}

/**
 * Server-side apply, as `kubectl apply --server-side [--dry-run=server]` does:
 * every admission step and schema check runs; with dryRun nothing is stored.
 */
export async function serverSideApply(client: KubeClient, objects: KubeObject[], opts: { dryRun: boolean; fieldManager: string }): Promise<KubeObject[]> {
  const applied: KubeObject[] = [];
  for (const obj of objects) {
    const resource = await resourceFor(client, obj.apiVersion, obj.kind);
    const path = objectPath(resource, obj.apiVersion, obj.metadata.namespace, obj.metadata.name);
    try {
      applied.push(
        await client.request('PATCH', path, {
          body: obj,
          contentType: 'application/apply-patch+yaml',
          query: { fieldManager: opts.fieldManager, force: true, fieldValidation: 'Strict', dryRun: opts.dryRun ? 'All' : undefined },
        }),
      );
    } catch (err) {
      throw new Error(`applying ${obj.kind} ${obj.metadata.namespace ?? ''}/${obj.metadata.name}${opts.dryRun ? ' (dry run)' : ''}: ${(err as Error).message}`);
    }
  }
  return applied;
}

/**
 * Create, or replace what is there (kubectl replace): the object ends up
 * exactly as given, whoever wrote it before (server-side apply would keep
 * fields another manager set).
 */
export async function createOrReplace(client: KubeClient, objects: KubeObject[]): Promise<void> {
  for (const obj of objects) {
    const resource = await resourceFor(client, obj.apiVersion, obj.kind);
    const collection = objectPath(resource, obj.apiVersion, obj.metadata.namespace);
    try {
      await client.request('POST', collection, { body: obj });
    } catch (err) {
      if ((err as { status?: number }).status !== 409) throw new Error(`creating ${obj.kind} ${obj.metadata.name}: ${(err as Error).message}`);
      const current = await client.request('GET', `${collection}/${obj.metadata.name}`);
      await client.request('PUT', `${collection}/${obj.metadata.name}`, { body: { ...obj, metadata: { ...obj.metadata, resourceVersion: current.metadata.resourceVersion } } });
    }
  }
}
