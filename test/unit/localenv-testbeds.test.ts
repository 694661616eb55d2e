// Where the test components' binaries come from: the cache key that makes a
// changed patch build again, and prebuilt binaries taken as they are.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { PACKAGE_ROOT } from '../../src/localenv/assets.ts';
import { ensureTestbed, TESTBED_BIN_VAR, TESTBEDS_VAR, testbedKey } from '../../src/localenv/testbeds.ts';

describe('testbeds', () => {
  const saved = { ...process.env };
  const dirs: string[] = [];
  afterEach(() => {
    process.env = { ...saved };
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const tempDir = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kvr-testbeds-'));
    dirs.push(dir);
    return dir;
  };

  it('the Key Vault emulator\'s binary is keyed by its archives and the hash of our patch; an unpatched one by its archives alone', () => {
    const patch = readFileSync(path.join(PACKAGE_ROOT, 'testenv', 'testbeds', 'azure-keyvault-emulator.patch'));
    const hash = createHash('sha256').update(patch).digest('hex').slice(0, 12);
    assert.equal(testbedKey('azure-keyvault-emulator'), `azure-keyvault-emulator-0d00ca2+entra-emulator-v0.9.0+patch-${hash}`);
    assert.equal(testbedKey('entra-emulator'), 'entra-emulator-v0.9.0');
    assert.equal(testbedKey('secrets-store-csi-driver'), 'secrets-store-csi-driver-v1.6.0+mlog-v0.0.2');
  });

  it('a prebuilt binary is taken as it is: no archive, patch or build is looked for', async () => {
    const bin = tempDir();
    writeFileSync(path.join(bin, 'azure-keyvault-emulator'), '#!/bin/sh\n', { mode: 0o755 });
    process.env[TESTBED_BIN_VAR] = bin;
    process.env[TESTBEDS_VAR] = path.join(tempDir(), 'no-archives-here');
    process.env['KEYVAULT_RELOADER_CACHE'] = tempDir();
    const steps: string[] = [];
    assert.equal(await ensureTestbed('azure-keyvault-emulator', (m) => steps.push(m)), path.join(bin, 'azure-keyvault-emulator'));
    assert.deepEqual(steps, []);
    // Without it, the same call looks for the archive and says where to point.
    delete process.env[TESTBED_BIN_VAR];
    await assert.rejects(ensureTestbed('azure-keyvault-emulator'), new RegExp(`azure-keyvault-emulator-0d00ca2.tar.gz is missing: point ${TESTBEDS_VAR} at a folder`));
  });
});
