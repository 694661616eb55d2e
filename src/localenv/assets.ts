// The binaries of the local environment: built once from the official Go
// modules (the machines reach the Go module proxy but no download site), then
// cached by version. KUBEBUILDER_ASSETS, the envtest convention, lets a user
// who already has kube-apiserver and etcd skip those builds.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const VERSIONS = {
  kubernetes: 'v1.34.4',
  etcd: 'v3.6.5',
  kwok: 'v0.8.0',
  helm: 'v3.22.0',
} as const;

export interface Binaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kwok: string;
}

export type Progress = (message: string) => void;

/** Root of this package (the folder with package.json), from src/ or dist/. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function cacheDir(): string {
  const explicit = process.env['KEYVAULT_RELOADER_CACHE'];
  if (explicit) return explicit;
  const xdg = process.env['XDG_CACHE_HOME'];
  return path.join(xdg || path.join(homedir(), '.cache'), 'keyvault-reloader');
}

interface GoTarget {
  /** Folder under testenv/go holding the module that pins the sources. */
  module: string;
  version: string;
  packages: Record<string, string>;
  ldflags?: string;
}

const TARGETS = {
  kubernetes: {
    module: 'kubernetes',
    version: VERSIONS.kubernetes,
    packages: {
      'kube-apiserver': 'k8s.io/kubernetes/cmd/kube-apiserver',
      'kube-controller-manager': 'k8s.io/kubernetes/cmd/kube-controller-manager',
      'kube-scheduler': 'k8s.io/kubernetes/cmd/kube-scheduler',
    },
    ldflags: kubeVersionLdflags(VERSIONS.kubernetes),
  },
  etcd: { module: 'etcd', version: VERSIONS.etcd, packages: { etcd: '.' } },
  kwok: { module: 'kwok', version: VERSIONS.kwok, packages: { kwok: 'sigs.k8s.io/kwok/cmd/kwok' } },
  // Only the tests of the chart need Helm; ensureHelm builds it on first use.
  helm: { module: 'helm', version: VERSIONS.helm, packages: { helm: 'helm.sh/helm/v3/cmd/helm' }, ldflags: helmLdflags(VERSIONS.helm) },
} satisfies Record<string, GoTarget>;

function kubeVersionLdflags(version: string): string {
  const [major, minor] = version.replace(/^v/, '').split('.');
  const pkg = 'k8s.io/component-base/version';
  return [
    '-s -w',
    `-X ${pkg}.gitVersion=${version}`,
    `-X ${pkg}.gitMajor=${major}`,
    `-X ${pkg}.gitMinor=${minor}`,
    `-X ${pkg}.gitTreeState=clean`,
  ].join(' ');
}

// As Helm's Makefile does: its version, and the Kubernetes version that
// `helm template` and `helm lint` assume, taken from the client-go it pins
// (v0.37 → 1.37; the default compiled in otherwise is 1.20).
function helmLdflags(version: string): string {
  return [
    '-s -w',
    `-X helm.sh/helm/v3/internal/version.version=${version}`,
    '-X helm.sh/helm/v3/internal/version.metadata=',
    '-X helm.sh/helm/v3/internal/version.gitTreeState=clean',
    ...['pkg/lint/rules', 'pkg/chartutil'].flatMap((pkg) => [`-X helm.sh/helm/v3/${pkg}.k8sVersionMajor=1`, `-X helm.sh/helm/v3/${pkg}.k8sVersionMinor=37`]),
  ].join(' ');
}

function binDir(target: GoTarget): string {
  return path.join(cacheDir(), 'bin', `${target.module}-${target.version}`);
}

/** Builds (once) and returns every binary the local environment runs. */
export async function ensureBinaries(progress: Progress = () => {}): Promise<Binaries> {
  return {
    etcd: await need(TARGETS.etcd, 'etcd', progress),
    kubeApiserver: await need(TARGETS.kubernetes, 'kube-apiserver', progress),
    kubeControllerManager: await need(TARGETS.kubernetes, 'kube-controller-manager', progress),
    kubeScheduler: await need(TARGETS.kubernetes, 'kube-scheduler', progress),
    kwok: await need(TARGETS.kwok, 'kwok', progress),
  };
}

/** Builds (once) and returns the Helm binary that lints and renders the chart. */
export async function ensureHelm(progress: Progress = () => {}): Promise<string> {
  return need(TARGETS.helm, 'helm', progress);
}

/**
 * Builds (once per version of its sources) the kubelet stand-in that calls the
 * CSI driver as kubelet 1.34 does and runs the node's CSI daemons
 * (testenv/go/kubelet-standin). Our own program has no release to key the
 * cache by, so a digest of its sources is its version.
 */
export async function ensureKubeletStandin(progress: Progress = () => {}): Promise<string> {
  const module = 'kubelet-standin';
  const dir = path.join(PACKAGE_ROOT, 'testenv', 'go', module);
  const digest = createHash('sha256');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.go') || f === 'go.mod' || f === 'go.sum').sort()) {
    digest.update(`${file}\0`).update(readFileSync(path.join(dir, file))).update('\0');
  }
  const target: GoTarget = { module, version: `src-${digest.digest('hex').slice(0, 12)}`, packages: { [module]: '.' }, ldflags: '-s -w' };
  return need(target, module, progress);
}

/** A binary from KUBEBUILDER_ASSETS if it is there, else from the cache, built on first use. */
async function need(target: GoTarget, name: string, progress: Progress): Promise<string> {
  const assets = process.env['KUBEBUILDER_ASSETS'];
  if (assets && existsSync(path.join(assets, name))) return path.join(assets, name);
  const file = path.join(binDir(target), name);
  if (!existsSync(file)) {
    const moduleDir = path.join(PACKAGE_ROOT, 'testenv', 'go', target.module);
    if (!existsSync(path.join(moduleDir, 'go.mod'))) {
      throw new Error(`cannot build ${target.module}: ${moduleDir}/go.mod is missing; run from a checkout of keyvault-reloader, or set KUBEBUILDER_ASSETS`);
    }
    await buildGoPrograms({
      what: `${Object.keys(target.packages).join(', ')} ${target.version} from the Go module proxy`,
      moduleDir,
      packages: target.packages,
      ldflags: target.ldflags,
      out: binDir(target),
      missingGo: 'Go ≥ 1.24 is needed to build the local control plane once (or set KUBEBUILDER_ASSETS to a folder with kube-apiserver, etcd, kube-controller-manager, kube-scheduler and kwok)',
    }, progress);
  }
  return file;
}

export interface GoBuild {
  /** What is built, for the progress lines. */
  what: string;
  /** The Go module to build in. */
  moduleDir: string;
  /** Output file name → Go package (as `go build` takes it, from moduleDir). */
  packages: Record<string, string>;
  ldflags?: string | undefined;
  /** Added to the environment of go (e.g. GOFLAGS=-mod=mod). */
  env?: Record<string, string> | undefined;
  /** Folder the binaries end up in; it appears only once every one is built. */
  out: string;
  /** The error when Go is missing: what to install, or what to set instead. */
  missingGo: string;
}

/** Builds Go programs into a folder, with progress, as one step that an interruption cannot leave half done. */
export async function buildGoPrograms(build: GoBuild, progress: Progress): Promise<void> {
  await requireGo(build.missingGo);
  const names = Object.keys(build.packages);
  progress(`building ${build.what} (first run only; minutes on 2 cores) into ${build.out}`);
  const started = Date.now();
  await populateOnce(build.out, async (scratch) => {
    for (const [name, pkg] of Object.entries(build.packages)) {
      await goBuild(build.moduleDir, pkg, path.join(scratch, name), build, (n) => {
        progress(`  ${name}: ${n} packages compiled, ${Math.round((Date.now() - started) / 1000)}s`);
      });
    }
  });
  progress(`built ${names.join(', ')} in ${Math.round((Date.now() - started) / 1000)}s`);
}

/**
 * Fills a folder through a scratch folder renamed into place, so that an
 * interrupted build or unpack never leaves a half-written folder that a
 * later run would trust.
 */
export async function populateOnce(out: string, fill: (scratch: string) => Promise<void>): Promise<void> {
  const scratch = `${out}.partial-${process.pid}`;
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  try {
    await fill(scratch);
  } catch (err) {
    await rm(scratch, { recursive: true, force: true });
    throw err;
  }
  await rm(out, { recursive: true, force: true });
  await mkdir(path.dirname(out), { recursive: true });
  await rename(scratch, out);
}

async function requireGo(message: string): Promise<void> {
  try {
    await run('go', ['version'], process.cwd());
  } catch {
    throw new Error(message);
  }
}

function goBuild(cwd: string, pkg: string, output: string, opts: Pick<GoBuild, 'ldflags' | 'env'>, onPackages: (n: number) => void): Promise<void> {
  const args = ['build', '-v', '-trimpath', '-o', output];
  if (opts.ldflags) args.push('-ldflags', opts.ldflags);
  args.push(pkg);
  return new Promise((resolve, reject) => {
    // A recipe's GOFLAGS add to the user's (e.g. -modcacherw), never replace them.
    const goflags = [process.env['GOFLAGS'], opts.env?.['GOFLAGS']].filter(Boolean).join(' ');
    const env = { ...process.env, CGO_ENABLED: '0', ...opts.env, ...(goflags ? { GOFLAGS: goflags } : {}) };
    const child = spawn('go', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], env });
    let compiled = 0;
    let tail = '';
    let lastReport = 0;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      tail = (tail + chunk).slice(-4000);
      compiled += chunk.split('\n').filter((l) => l && !l.startsWith('#')).length;
      if (Date.now() - lastReport > 15_000) {
        lastReport = Date.now();
        onPackages(compiled);
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`go build ${pkg} failed (exit ${code}) in ${cwd}:\n${tail}`));
    });
  });
}

/** Runs a command to completion; its output is in the error when it fails. */
export function run(cmd: string, args: string[], cwd: string, env?: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${out}`))));
  });
}

export async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}
