import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildConfig, ConfigError } from '../../src/config.ts';

describe('sync engine settings', () => {
  it('default to the public cloud, no extra files or CAs, every watched namespace', () => {
    const { sync } = buildConfig({}, {});
    assert.equal(sync.cloudName, 'AzurePublicCloud');
    assert.deepEqual(sync.cloudEnvFiles, []);
    assert.equal(sync.caBundle, undefined);
    assert.deepEqual(sync.namespaces, []);
  });

  it('take lists of environment files and namespaces, comma-separated or repeated', () => {
    const { sync } = buildConfig({ 'cloud-name': 'AzureStackCloud', 'cloud-env-file': ['/etc/a.json,/etc/b.json', '/etc/c.json'], 'ca-bundle': '/etc/ca.pem', namespaces: 'a,b,c', 'sync-namespaces': 'a, c' }, {});
    assert.equal(sync.cloudName, 'AzureStackCloud');
    assert.deepEqual(sync.cloudEnvFiles, ['/etc/a.json', '/etc/b.json', '/etc/c.json']);
    assert.equal(sync.caBundle, '/etc/ca.pem');
    assert.deepEqual(sync.namespaces, ['a', 'c']);
  });

  it('refuse sync namespaces the controller does not watch', () => {
    assert.throws(() => buildConfig({ namespaces: 'a,b', 'sync-namespaces': 'b,z' }, {}), (e: unknown) => e instanceof ConfigError && e.message === '--sync-namespaces z: not in --namespaces; the sync engine acts only where the controller watches');
    assert.deepEqual(buildConfig({ 'sync-namespaces': 'z' }, {}).sync.namespaces, ['z'], 'any namespace when the controller watches all');
  });
});
