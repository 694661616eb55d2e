// Regenerates what is derived from the chart, so that it is never edited by hand:
//   deploy/helm/keyvault-reloader/files/crds/  ← a copy of deploy/crds (the CRDs' source)
//   deploy/manifests/keyvault-reloader.yaml    ← `helm template` with the default values
//   deploy/manifests/crds.yaml                 ← the chart's CRDs (crds.install=true)
// Run: node scripts/render-manifests.ts   (a test fails when these drift)
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureHelm, PACKAGE_ROOT } from '../src/localenv/assets.ts';

export const CHART_DIR = path.join(PACKAGE_ROOT, 'deploy', 'helm', 'keyvault-reloader');
export const CRDS_DIR = path.join(PACKAGE_ROOT, 'deploy', 'crds');
export const CHART_CRDS_DIR = path.join(CHART_DIR, 'files', 'crds');
export const MANIFESTS_DIR = path.join(PACKAGE_ROOT, 'deploy', 'manifests');

/** Release name and namespace of the plain manifests. */
export const PLAIN = { release: 'keyvault-reloader', namespace: 'keyvault-reloader' } as const;

const HEADER = (what: string) =>
  [
    `# ${what}`,
    '# Rendered from deploy/helm/keyvault-reloader by scripts/render-manifests.ts: do not edit;',
    '# change the chart (or install it with Helm and your own values) instead.',
    '',
  ].join('\n');

// The plain manifests carry their namespace, labelled for the restricted Pod
// Security Standard that the controller's pod meets.
const NAMESPACE = `apiVersion: v1
kind: Namespace
metadata:
  name: ${PLAIN.namespace}
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/warn: restricted
`;

/** The manifests' file names and contents, rendered with the given Helm. */
export async function renderManifests(helm: string): Promise<Record<string, string>> {
  const template = async (...extra: string[]) => {
    const { stdout } = await promisify(execFile)(helm, ['template', PLAIN.release, CHART_DIR, '--namespace', PLAIN.namespace, ...extra], { maxBuffer: 32 * 1024 * 1024 });
    return stdout;
  };
  return {
    'keyvault-reloader.yaml': `${HEADER(`keyvault-reloader ${await chartAppVersion()} with the chart's default values (mode all, 2 replicas, cluster-wide RBAC).`)}---\n${NAMESPACE}${await template()}`,
    'crds.yaml': `${HEADER('The Secrets Store CSI driver CRDs, for clusters where the AKS add-on has not installed them.')}${await template('--set', 'crds.install=true', '--show-only', 'templates/crds.yaml')}`,
  };
}

/** The CRD files the chart embeds: exactly those of deploy/crds. */
export async function chartCrdFiles(): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const name of (await readdir(CRDS_DIR)).filter((f) => f.endsWith('.yaml')).sort()) files[name] = await readFile(path.join(CRDS_DIR, name), 'utf8');
  return files;
}

async function chartAppVersion(): Promise<string> {
  const chart = await readFile(path.join(CHART_DIR, 'Chart.yaml'), 'utf8');
  return /^appVersion:\s*"?([^"\n]+)"?/m.exec(chart)?.[1] ?? 'unknown';
}

if (import.meta.main) {
  const helm = await ensureHelm((m) => process.stderr.write(`${m}\n`));
  await rm(CHART_CRDS_DIR, { recursive: true, force: true });
  await mkdir(CHART_CRDS_DIR, { recursive: true });
  for (const [name, text] of Object.entries(await chartCrdFiles())) await writeFile(path.join(CHART_CRDS_DIR, name), text);
  await mkdir(MANIFESTS_DIR, { recursive: true });
  for (const [name, text] of Object.entries(await renderManifests(helm))) {
    await writeFile(path.join(MANIFESTS_DIR, name), text);
    process.stderr.write(`wrote ${path.relative(PACKAGE_ROOT, path.join(MANIFESTS_DIR, name))}\n`);
  }
}
