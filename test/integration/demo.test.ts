// The README's first command, run as a newcomer would (non-interactively):
// both Deployments must roll out once with the new content, and it must clean up.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { describe, it } from 'node:test';

describe('demo', () => {
  it('keyvault-reloader demo rotates a secret, rolls both Deployments once with the new content, and leaves nothing running', async () => {
    const before = new Set(readdirSync(tmpdir()).filter((d) => d.startsWith('kvr-env-')));
    const child = spawn(process.execPath, ['src/cli/main.ts', 'demo', '--plain'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, output);
    assert.match(output, /both Deployments adopted: baselines recorded, nothing restarted/);
    assert.match(output, /env-app: +rolled out in [\d.]+s; its pods now start with the new Secret content: yes/);
    assert.match(output, /mount-app: rolled out in [\d.]+s; every current pod mounts version [0-9a-f]{8}…/);
    assert.match(output, /restarts performed by the controller: 2 /);
    assert.match(output, /✔ demo complete/);
    // Other runs on a shared machine make folders of their own meanwhile: only the demo's count.
    const ownedByDemo = (d: string) => {
      try {
        return Number(readFileSync(path.join(tmpdir(), d, 'owner'), 'utf8')) === child.pid;
      } catch {
        return false;
      }
    };
    const after = readdirSync(tmpdir()).filter((d) => d.startsWith('kvr-env-') && !before.has(d) && ownedByDemo(d));
    assert.deepEqual(after, [], 'the demo removed its local environment');
  });
});
