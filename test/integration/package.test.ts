// What the image ships, tested without a Docker engine: the npm package as
// `npm pack` makes it (built by prepack), installed with production
// dependencies only and pruned, as the Dockerfile's final stage has them; its
// `keyvault-reloader` command runs the controller against the API server.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from '../../src/localenv/assets.ts';
import { ANNOTATIONS } from '../../src/reloader/annotations.ts';
import { startControllerProcess, waitReady, type ControllerProcess } from '../helpers/controller.ts';
import { createNamespace, eventually, testEnv } from '../helpers/env.ts';
import { createDeployment, deployment, getDeployment, putSecret, waitRolledOut } from '../helpers/workloads.ts';

const run = promisify(execFile);
// npm itself on this Node 24 (the machine's `node` may be older).
const NPM_CLI = process.env['NPM_CLI_JS'] ?? '/usr/lib/node_modules/npm/bin/npm-cli.js';
const npm = (args: string[], cwd: string) =>
  run(process.execPath, [NPM_CLI, ...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, maxBuffer: 64 * 1024 * 1024, env: withNode24() });

/** PATH with this Node first, so `#!/usr/bin/env node` finds Node 24. */
function withNode24(): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env['PATH'] ?? ''}` };
}

/** Every file under dir with its size and mtime, to prove that running writes nothing there. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const file = path.join(entry.parentPath, entry.name);
    const s = await stat(file);
    out.set(path.relative(dir, file), `${s.size}:${s.mtimeMs}`);
  }
  return out;
}

const work = await mkdtemp(path.join(tmpdir(), 'kvr-package-'));
after(() => rm(work, { recursive: true, force: true }));
let controller: ControllerProcess | undefined;
after(() => controller?.proc.kill9());

describe('npm package', () => {
  it('npm pack, installed with production dependencies only: `keyvault-reloader --help` works, `run` answers /healthz and /readyz 200 once synced, restarts a Deployment, counts it in /metrics, and writes nothing into its install folder', async () => {
    const env = await testEnv();
    const { stdout } = await npm(['pack', '--json', '--pack-destination', work], PACKAGE_ROOT);
    const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
    assert.ok(packed, 'npm pack made a tarball');
    const files = packed.files.map((f) => f.path);
    assert.ok(files.includes('dist/cli/main.js'), 'the build is in the package');
    assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/')), 'no sources or tests in the package');

    const app = path.join(work, 'app');
    await rm(app, { recursive: true, force: true });
    await mkdir(app, { recursive: true });
    await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'install-test', private: true }));
    await npm(['install', '--omit=dev', '--ignore-scripts', '--prefer-offline', path.join(work, packed.filename)], app);
    const modules = path.join(app, 'node_modules');
    // As the Dockerfile's deps stage does: what is never loaded at run time goes.
    await run('find', [modules, '-type', 'f', '(', '-name', '*.map', '-o', '-name', '*.d.ts', '-o', '-name', '*.d.mts', '-o', '-name', '*.d.cts', ')', '-delete']);
    assert.ok(existsSync(path.join(modules, 'keyvault-reloader', 'dist', 'cli', 'main.js')));
    for (const dev of ['typescript', 'node']) assert.ok(!existsSync(path.join(modules, dev)), `no devDependency ${dev}`);

    const bin = path.join(modules, '.bin', 'keyvault-reloader');
    const help = await run(bin, ['--help'], { env: withNode24() });
    assert.match(help.stdout, /keyvault-reloader run/);
    assert.match(help.stdout, /keyvault-reloader explain/);
    const runHelp = await run(bin, ['run', '--help'], { env: withNode24() });
    for (const flag of ['--mode', '--namespaces', '--exclude-namespaces', '--secret-selector', '--settle', '--min-restart-interval', '--restarts-per-second', '--max-in-flight', '--lease-duration', '--renew-deadline', '--retry-period', '--health-port', '--poll-interval']) {
      assert.ok(runHelp.stdout.includes(flag), `run --help documents ${flag}`);
    }

    const ns = await createNamespace(env.client, 'package');
    await putSecret(env.client, ns, 'db', { password: 'v1' });
    await createDeployment(env.client, ns, deployment('app', {
      replicas: 1,
      annotations: { [ANNOTATIONS.auto]: 'true' },
      pod: { containers: [{ name: 'app', image: 'example.invalid/app:1', env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }] }] },
    }));
    await waitRolledOut(env.client, ns, 'app');

    const before = await snapshot(app);
    controller = await startControllerProcess(env, {
      identity: 'packaged',
      command: [bin],
      args: ['--mode', 'reloader', '--namespace', ns, '--namespaces', ns, '--settle', '1s'],
      env: { ...withNode24(), HOME: '/nonexistent' },
    });
    await waitReady(controller);
    assert.equal((await controller.get('/healthz')).status, 200);
    await eventually('a baseline on the Deployment', async () => (await getDeployment(env.client, ns, 'app')).metadata?.annotations?.[ANNOTATIONS.baseline]);
    await putSecret(env.client, ns, 'db', { password: 'v2' });
    await waitRolledOut(env.client, ns, 'app', { replicaSets: 2 });
    const metrics = await eventually('the restart in /metrics', async () => {
      const m = await controller!.get('/metrics');
      return /^keyvault_reloader_restarts_total\{kind="Deployment",result="restarted"\} 1$/m.test(m.body) && m.body;
    }, 10_000);
    assert.match(metrics, /^keyvault_reloader_leader 1$/m);
    assert.match(metrics, /^# TYPE keyvault_reloader_restarts_total counter$/m);

    await controller.proc.stop('SIGTERM', 10_000);
    assert.equal(await controller.proc.exited, 0);
    assert.deepEqual(await snapshot(app), before, 'running wrote nothing into the install folder');
  });
});
