// What a reloader-only process loads: the controller's static module graph
// (src/cli/run.ts, as `run --mode reloader` imports it) must not pull in the
// Azure SDK, node-forge or client-node (tens of MiB the sync engine or an
// exec-plugin kubeconfig needs, loaded on demand), nor Node's bundled undici,
// which an ESM import of node:http drags in.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { PACKAGE_ROOT } from '../../src/localenv/assets.ts';

const PROBE = `
import { registerHooks } from 'node:module';
const loaded = [];
registerHooks({ load(url, ctx, next) { loaded.push(url); return next(url, ctx); } });
await import(${JSON.stringify(path.join(PACKAGE_ROOT, 'src', 'cli', 'run.ts'))});
await import(${JSON.stringify(path.join(PACKAGE_ROOT, 'src', 'log.ts'))});
await import(${JSON.stringify(path.join(PACKAGE_ROOT, 'src', 'config.ts'))});
process.stdout.write(JSON.stringify({ loaded, builtins: process.moduleLoadList }));
`;

function probe(): { loaded: string[]; builtins: string[] } {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', PROBE], { cwd: PACKAGE_ROOT, encoding: 'utf8' });
  return JSON.parse(out) as { loaded: string[]; builtins: string[] };
}

describe('modules a reloader-only process loads', () => {
  const { loaded, builtins } = probe();
  const packages = new Set(loaded.map((u) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1]).filter((p): p is string => p !== undefined));

  it('loads the controller (the probe is real)', () => {
    assert.ok(loaded.some((u) => u.endsWith('/src/reloader/controller.ts')), 'the reloader was loaded');
    assert.ok(packages.has('p-queue') && packages.has('prom-client'), [...packages].join(', '));
  });

  it('loads neither the Azure SDK, node-forge nor client-node, nor the YAML parser (a pod reads no kubeconfig)', () => {
    const heavy = [...packages].filter((p) => p.startsWith('@azure/') || p === 'node-forge' || p === '@kubernetes/client-node' || p === 'yaml');
    assert.deepEqual(heavy, []);
  });

  it("does not load Node's bundled undici, web streams or http2", () => {
    const unwanted = builtins.filter((m) => /internal\/deps\/undici|internal\/webstreams|internal\/http2/.test(m));
    assert.deepEqual(unwanted, []);
  });
});
