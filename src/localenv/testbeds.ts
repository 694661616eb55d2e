// The Azure side of the local environment and the peers it is measured
// against, built from source: the registries these machines reach do not serve
// these Go programs, so their public sources come as archives (a folder named
// by KEYVAULT_RELOADER_TESTBEDS, by default ../shared/testbeds beside the
// checkout). Each archive is unpacked once into the cache, a patch of ours
// (testenv/testbeds/, where a component must behave as the real service does
// and upstream does not) is applied to its own unpacked copy, the recipe's
// `go mod edit`s are applied there, and the binary is built once and cached
// under the archive's name, which carries the version, plus the patch's hash.
// Prebuilt binaries in the folder named by KEYVAULT_RELOADER_TESTBED_BIN come
// first, taken as they are (as KUBEBUILDER_ASSETS does for the control plane),
// so a machine that installs them the ordinary way builds nothing.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { buildGoPrograms, cacheDir, PACKAGE_ROOT, populateOnce, run, type Progress } from './assets.ts';

export type TestbedProgram = 'azure-keyvault-emulator' | 'entra-emulator' | 'secrets-store-csi-driver' | 'azure-provider' | 'stakater-reloader';

export const TESTBEDS_VAR = 'KEYVAULT_RELOADER_TESTBEDS';
export const TESTBED_BIN_VAR = 'KEYVAULT_RELOADER_TESTBED_BIN';

/** An archive of ../shared/testbeds: its file name, and the folder it unpacks to. */
interface Archive {
  file: string;
  top: string;
}

const ARCHIVES = {
  keyVaultEmulator: { file: 'azure-keyvault-emulator-0d00ca2.tar.gz', top: 'azure-keyvault-emulator' },
  entraEmulator: { file: 'entra-emulator-v0.9.0.tar.gz', top: 'entra-emulator' },
  csiDriver: { file: 'secrets-store-csi-driver-v1.6.0.tar.gz', top: 'secrets-store-csi-driver' },
  azureProvider: { file: 'secrets-store-csi-driver-provider-azure-v1.8.2.tar.gz', top: 'secrets-store-csi-driver-provider-azure' },
  stakater: { file: 'stakater-reloader-v1.4.21.tar.gz', top: 'stakater-reloader' },
  mlog: { file: 'mlog-v0.0.2.tar.gz', top: 'mlog' },
} satisfies Record<string, Archive>;

interface Recipe {
  archive: Archive;
  /** Go package to build, from the module's root. */
  pkg: string;
  /** Modules the module proxy refuses, taken from the archive beside it (`go mod edit -replace module=<its folder>`). */
  fromArchives?: Array<{ module: string; archive: Archive }>;
  /** Other `go mod edit -replace` arguments. */
  replaces?: string[];
  env?: Record<string, string>;
  /** A patch of the source under testenv/testbeds/, applied before the build (its header says what and why). */
  patch?: string;
}

// The build recipe of ../shared/testbeds/README.md, one entry per program.
const RECIPES: Record<TestbedProgram, Recipe> = {
  'azure-keyvault-emulator': {
    archive: ARCHIVES.keyVaultEmulator,
    pkg: './cmd/azure-keyvault-emulator',
    fromArchives: [{ module: 'github.com/calvinchengx/entra-emulator', archive: ARCHIVES.entraEmulator }],
    // Certificates as real Key Vault keeps them: chains on import, the PFX/PEM secret with kid and managed.
    patch: 'azure-keyvault-emulator.patch',
  },
  'entra-emulator': { archive: ARCHIVES.entraEmulator, pkg: './cmd/entra-emulator' },
  'secrets-store-csi-driver': {
    archive: ARCHIVES.csiDriver,
    pkg: './cmd/secrets-store-csi-driver',
    fromArchives: [{ module: 'monis.app/mlog', archive: ARCHIVES.mlog }],
    env: { GOFLAGS: '-mod=mod' },
  },
  'azure-provider': { archive: ARCHIVES.azureProvider, pkg: './cmd' },
  'stakater-reloader': {
    archive: ARCHIVES.stakater,
    pkg: '.',
    // Its go.mod pins a pseudo-version of openshift/api that the module proxy refuses.
    replaces: ['github.com/openshift/api=github.com/openshift/api@v0.0.0-20260102143802-d2ec16864f86'],
    env: { GONOSUMDB: 'github.com/openshift', GOFLAGS: '-mod=mod' },
  },
};

export const TESTBED_PROGRAMS = Object.keys(RECIPES) as TestbedProgram[];

const stem = (archive: Archive) => archive.file.replace(/\.tar\.gz$/, '');

/** A patch of ours, read: its file and the hash that names what it makes. */
interface Patch {
  file: string;
  hash: string;
}

const patchSuffix = (patch: Patch | undefined) => (patch ? `+patch-${patch.hash}` : '');

function patchOf(recipe: Recipe): Patch | undefined {
  if (recipe.patch === undefined) return undefined;
  const file = path.join(PACKAGE_ROOT, 'testenv', 'testbeds', recipe.patch);
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch {
    throw new Error(`${file} is missing: run from a checkout of keyvault-reloader (it patches ${recipe.archive.file} before the build), or set ${TESTBED_BIN_VAR} to a folder of prebuilt binaries`);
  }
  return { file, hash: createHash('sha256').update(content).digest('hex').slice(0, 12) };
}

/**
 * The cache key of a program's binary: every archive that goes into it, and
 * the hash of our patch of it, so that a new archive or a changed patch
 * builds again.
 */
export function testbedKey(program: TestbedProgram): string {
  const recipe = RECIPES[program];
  return [recipe.archive, ...(recipe.fromArchives ?? []).map((d) => d.archive)].map(stem).join('+') + patchSuffix(patchOf(recipe));
}

/** The binary of a test component: prebuilt from KEYVAULT_RELOADER_TESTBED_BIN, else built once from its archive (and our patch). */
export async function ensureTestbed(program: TestbedProgram, progress: Progress = () => {}): Promise<string> {
  const prebuilt = process.env[TESTBED_BIN_VAR];
  if (prebuilt && existsSync(path.join(prebuilt, program))) return path.join(prebuilt, program);
  const recipe = RECIPES[program];
  const out = path.join(cacheDir(), 'bin', 'testbeds', testbedKey(program));
  const file = path.join(out, program);
  if (existsSync(file)) return file;

  const moduleDir = await testbedSourceOf(recipe.archive, progress, patchOf(recipe));
  for (const dep of recipe.fromArchives ?? []) {
    await run('go', ['mod', 'edit', `-replace=${dep.module}=${await testbedSourceOf(dep.archive, progress)}`], moduleDir);
  }
  for (const replace of recipe.replaces ?? []) await run('go', ['mod', 'edit', `-replace=${replace}`], moduleDir);
  await buildGoPrograms(
    {
      what: `${program} from ${recipe.archive.file} (its dependencies from the Go module proxy)`,
      moduleDir,
      packages: { [program]: recipe.pkg },
      env: recipe.env,
      out,
      missingGo: `Go ≥ 1.26 is needed to build ${program} once from ${recipe.archive.file} (or set ${TESTBED_BIN_VAR} to a folder holding a prebuilt ${program})`,
    },
    progress,
  );
  return file;
}

/** The unpacked source folder a test component is built from (its CRDs, charts and docs are there). */
export async function testbedSource(program: TestbedProgram, progress: Progress = () => {}): Promise<string> {
  const recipe = RECIPES[program];
  return testbedSourceOf(recipe.archive, progress, patchOf(recipe));
}

// A patched source is a copy of its own: the plain one stays as published for every other use.
async function testbedSourceOf(archive: Archive, progress: Progress, patch?: Patch): Promise<string> {
  const out = path.join(cacheDir(), 'testbeds', stem(archive) + patchSuffix(patch));
  const dir = path.join(out, archive.top);
  if (existsSync(dir)) return dir;
  const file = path.join(archivesDir(), archive.file);
  if (!existsSync(file)) {
    throw new Error(`${file} is missing: point ${TESTBEDS_VAR} at a folder holding ${archive.file} (the test components' sources), or set ${TESTBED_BIN_VAR} to a folder of prebuilt binaries`);
  }
  progress(`unpacking ${archive.file} into ${out}`);
  await populateOnce(out, async (scratch) => {
    await run('tar', ['-xzf', file, '-C', scratch], scratch);
    if (!existsSync(path.join(scratch, archive.top))) {
      throw new Error(`${file} did not unpack to ${archive.top}/ (found ${readdirSync(scratch).join(', ') || 'nothing'}): is it the archive ${TESTBEDS_VAR} should hold?`);
    }
    if (patch) await applyPatch(patch, archive, path.join(scratch, archive.top), progress);
  });
  return dir;
}

async function applyPatch(patch: Patch, archive: Archive, sourceDir: string, progress: Progress): Promise<void> {
  progress(`applying ${path.relative(PACKAGE_ROOT, patch.file)} to ${archive.top}`);
  try {
    // No fuzz, all or nothing; the ceiling keeps git from taking a repository above the cache for this tree.
    await run('git', ['apply', '--whitespace=nowarn', patch.file], sourceDir, { GIT_CEILING_DIRECTORIES: path.dirname(sourceDir) });
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'git is not installed' : (err as Error).message;
    throw new Error(`cannot apply ${patch.file} to ${archive.file} (${reason}): the patch must be made against that archive's ${archive.top}/ (paths from its root, as \`diff -u a/… b/…\` writes them)`);
  }
}

function archivesDir(): string {
  const explicit = process.env[TESTBEDS_VAR];
  if (explicit) return path.resolve(explicit);
  const beside = path.resolve(PACKAGE_ROOT, '..', 'shared', 'testbeds');
  if (existsSync(beside)) return beside;
  throw new Error(
    `the test components (Key Vault and Entra ID emulators, Secrets Store CSI driver, Azure provider, stakater/Reloader) are not built and their sources were not found: set ${TESTBEDS_VAR} to the folder of their archives (shared/testbeds), or ${TESTBED_BIN_VAR} to a folder of prebuilt binaries`,
  );
}
