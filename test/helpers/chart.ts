// The Helm chart under test: Helm built from its Go module (once, cached),
// rendering, and server-side apply of what it renders, for real or as a
// dry run, through the project's own client.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { KubeClient } from '../../src/kube/client.ts';
import { ensureHelm } from '../../src/localenv/assets.ts';
import { parseObjects, serverSideApply as apply, type KubeObject } from '../../src/localenv/apply.ts';
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

export { objectPath, parseObjects, type KubeObject } from '../../src/localenv/apply.ts';

/** Server-side apply as the chart's tests do it (field manager keyvault-reloader-tests). */
export function serverSideApply(client: KubeClient, objects: KubeObject[], opts: { dryRun: boolean; fieldManager?: string }): Promise<KubeObject[]> {
  return apply(client, objects, { dryRun: opts.dryRun, fieldManager: opts.fieldManager ?? 'keyvault-reloader-tests' });
}

/** `helm template` of the chart with --set-json pairs; returns the objects. */
export async function renderChart(opts: { release?: string; namespace: string; values?: Record<string, unknown> }): Promise<KubeObject[]> {
  const args = ['template', opts.release ?? 'keyvault-reloader', CHART_DIR, '--namespace', opts.namespace];
  for (const [key, value] of Object.entries(opts.values ?? {})) args.push('--set-json', `${key}=${JSON.stringify(value)}`);
  return parseObjects(await runHelm(args));
}
