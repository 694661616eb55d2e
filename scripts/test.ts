// `npm test`: builds the local environment's binaries if they are missing
// (with progress), starts one control plane and one local Azure (Entra ID and
// Key Vault emulators) that the integration tests share (each test works in
// its own namespace and vaults), runs every test with Node's test runner, and
// stops both whatever happens. A test file that works beside the real add-on
// (test/helpers/addon.ts) starts its own; what it needs is checked and built
// here first, so that a machine without root or mount namespaces fails at once
// and a first build shows its progress before any test's clock runs.
import { spawn } from 'node:child_process';
import { globSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ensureAddonBinaries, requireAddonPrivileges } from '../src/localenv/addon.ts';
import { startAzure } from '../src/localenv/azure.ts';
import { startCluster } from '../src/localenv/cluster.ts';
import { ENV_STATE_VAR, type EnvState } from '../test/helpers/env.ts';

const patterns = process.argv.slice(2);
const files = patterns.length > 0 ? patterns : ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts'];
const needsCluster = files.some((f) => f.includes('integration'));

const started = Date.now();
const log = (m: string) => process.stderr.write(`[test] ${m}\n`);
// The demo's test runs the demo, which starts an add-on of its own.
const usesAddon = globSync(files).some((f) => readFileSync(f, 'utf8').includes('helpers/addon.ts') || path.basename(f) === 'demo.test.ts');
if (usesAddon) {
  try {
    await requireAddonPrivileges(tmpdir());
  } catch (err) {
    log(`cannot run the tests that use the real CSI driver: ${(err as Error).message}`);
    process.exit(1);
  }
  await ensureAddonBinaries(log);
}
const cluster = needsCluster ? await startCluster({ progress: log }) : undefined;
const azure = cluster ? await startAzure({ cluster, progress: log }).catch(async (err) => {
  await cluster.stop();
  throw err;
}) : undefined;

let stateFile: string | undefined;
if (cluster) {
  stateFile = path.join(cluster.dir, 'state.json');
  const state: EnvState = { kubeconfig: cluster.kubeconfig, server: cluster.server, issuer: cluster.issuer, caFile: cluster.caFile, adminToken: cluster.adminToken, dir: cluster.dir, azure: azure?.state };
  await writeFile(stateFile, JSON.stringify(state));
  log(`shared control plane and local Azure up in ${((Date.now() - started) / 1000).toFixed(1)}s`);
}

const child = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', '--test-timeout=600000', ...files], {
  stdio: 'inherit',
  env: { ...process.env, ...(stateFile ? { [ENV_STATE_VAR]: stateFile } : {}) },
});
const forward = (signal: NodeJS.Signals) => child.kill(signal);
process.on('SIGINT', forward);
process.on('SIGTERM', forward);
const code: number = await new Promise((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 1 : 0))));
await azure?.stop();
await cluster?.stop();
process.exit(code);
