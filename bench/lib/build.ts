// The compiled build, as the image runs it (`node dist/cli/main.js`): type
// stripping keeps each module's TypeScript source and the stripper in memory,
// so `node src/cli/main.ts` is not what a cluster would see. Built with the
// project's tsconfig.build.json into .tmp/ (ignored by git; under the package
// so that the build finds node_modules), and removed afterwards.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from '../../src/localenv/assets.ts';

export interface Build {
  main: string;
  remove(): Promise<void>;
}

export async function buildDist(): Promise<Build> {
  const dir = path.join(PACKAGE_ROOT, '.tmp', `bench-dist-${process.pid}`);
  const tsc = path.join(PACKAGE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  await promisify(execFile)(process.execPath, [tsc, '-p', path.join(PACKAGE_ROOT, 'tsconfig.build.json'), '--outDir', dir, '--sourceMap', 'false'], { cwd: PACKAGE_ROOT });
  return { main: path.join(dir, 'cli', 'main.js'), remove: () => rm(dir, { recursive: true, force: true }) };
}

/** The Node flags of the image's ENTRYPOINT (between `node` and the script): what a cluster runs with. */
export function imageNodeFlags(): string[] {
  const text = readFileSync(path.join(PACKAGE_ROOT, 'Dockerfile'), 'utf8');
  const line = text.split('\n').filter((l) => l.startsWith('ENTRYPOINT')).at(-1);
  if (!line) throw new Error('the Dockerfile has no ENTRYPOINT to take the Node flags from');
  const entry = JSON.parse(line.slice('ENTRYPOINT'.length)) as string[];
  return entry.slice(1, -1);
}
