// The Helm chart under test: Helm built from its Go module (once, cached),
// rendering, and server-side apply of what it renders, for real or as a
// dry run, through the project's own client.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import type { KubeClient } from '../../src/kube/client.ts';
import { ensureHelm } from '../../src/localenv/assets.ts';
import { CHART_DIR } from '../../scripts/render-manifests.ts';

const run = promisify(execFile);

let helmBin: Promise<string> | undefined;

export function helm(): Promise<string> {
  helmBin ??= ensureHelm((m) => process.stderr.write(`[helm] ${m}\n`));
  return helmBin;
}

/** `helm <args>`; rejects with Helm's stderr on failure. */
export async function runHelm(args: string[]): Promise<string> {
  try {
    const { stdout } = await run(await helm(), args, { maxBuffer: 32 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`helm ${args.join(' ')} failed: ${e.stderr || e.stdout || e.message}`);
  }
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: any;
}

/** `helm template` of the chart with --set-json pairs; returns the objects. */
export async function renderChart(opts: { release?: string; namespace: string; values?: Record<string, unknown> }): Promise<KubeObject[]> {
  const args = ['template', opts.release ?? 'keyvault-reloader', CHART_DIR, '--namespace', opts.namespace];
  for (const [key, value] of Object.entries(opts.values ?? {})) args.push('--set-json', `${key}=${JSON.stringify(value)}`);
  return parseObjects(await runHelm(args));
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

const discovery = new Map<string, Promise<ApiResource[]>>();

async function resourceFor(client: KubeClient, apiVersion: string, kind: string): Promise<ApiResource> {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  // CRDs applied during a run appear later: refetch on a miss.
  for (const fresh of [false, true]) {
    if (fresh || !discovery.has(base)) discovery.set(base, client.request<{ resources: ApiResource[] }>('GET', base).then((l) => l.resources));
    const found = (await discovery.get(base)!.catch(() => [])).find((r) => r.kind === kind && !r.name.includes('/'));
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
export async function serverSideApply(client: KubeClient, objects: KubeObject[], opts: { dryRun: boolean; fieldManager?: string }): Promise<KubeObject[]> {
  const applied: KubeObject[] = [];
  for (const obj of objects) {
    const resource = await resourceFor(client, obj.apiVersion, obj.kind);
    const path = objectPath(resource, obj.apiVersion, obj.metadata.namespace, obj.metadata.name);
    try {
      applied.push(
        await client.request('PATCH', path, {
          body: obj,
          contentType: 'application/apply-patch+yaml',
          query: { fieldManager: opts.fieldManager ?? 'keyvault-reloader-tests', force: true, fieldValidation: 'Strict', dryRun: opts.dryRun ? 'All' : undefined },
        }),
      );
    } catch (err) {
      throw new Error(`applying ${obj.kind} ${obj.metadata.namespace ?? ''}/${obj.metadata.name}${opts.dryRun ? ' (dry run)' : ''}: ${(err as Error).message}`);
    }
  }
  return applied;
}
