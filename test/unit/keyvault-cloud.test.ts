import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { builtInCloud, CLOUD_NAMES, CloudConfigError, loadCloudCatalog, parseEnvironmentFile, resolveCloud } from '../../src/keyvault/cloud.ts';

const STACK = {
  name: 'AzureStackHub',
  keyVaultDNSSuffix: 'vault.local.azurestack.external',
  activeDirectoryEndpoint: 'https://login.local.azurestack.external/adfs',
  keyVaultEndpoint: 'https://vault.local.azurestack.external/',
  resourceIdentifiers: { keyVault: 'https://vault.local.azurestack.external' },
};

describe('built-in clouds', () => {
  it('every name the provider accepts resolves, in any case; the rest do not', () => {
    for (const name of CLOUD_NAMES.filter((n) => n !== 'AzureStackCloud')) {
      assert.ok(builtInCloud(name), name);
      assert.deepEqual(builtInCloud(name.toLowerCase()), builtInCloud(name));
    }
    assert.equal(builtInCloud('AzureStackCloud'), undefined, 'AzureStackCloud needs its file');
    assert.equal(builtInCloud('AzurePublic'), undefined);
  });
});

describe('parseEnvironmentFile', () => {
  it('takes the vault DNS suffix, the authority and the Key Vault resource', () => {
    assert.deepEqual(parseEnvironmentFile(JSON.stringify(STACK)), {
      ok: true,
      cloud: { name: 'AzureStackHub', vaultDnsSuffix: 'vault.local.azurestack.external', authorityHost: 'https://login.local.azurestack.external/adfs/', vaultResource: 'https://vault.local.azurestack.external' },
    });
  });

  it('falls back to keyVaultEndpoint, then to the suffix, for the resource', () => {
    const { resourceIdentifiers: _r, ...noIds } = STACK;
    const fromEndpoint = parseEnvironmentFile(JSON.stringify({ ...noIds, keyVaultEndpoint: 'https://kv.example/' }));
    assert.equal(fromEndpoint.ok && fromEndpoint.cloud.vaultResource, 'https://kv.example');
    const { keyVaultEndpoint: _e, ...bare } = noIds;
    const fromSuffix = parseEnvironmentFile(JSON.stringify(bare));
    assert.equal(fromSuffix.ok && fromSuffix.cloud.vaultResource, 'https://vault.local.azurestack.external');
  });

  it('says which field is wrong and never quotes the file', () => {
    const problem = (v: unknown) => {
      const r = parseEnvironmentFile(typeof v === 'string' ? v : JSON.stringify(v));
      assert.ok(!r.ok, JSON.stringify(v));
      return r.problem;
    };
    assert.equal(problem('{"keyVaultDNSSuffix": "TOPSECRET'), 'is not valid JSON');
    assert.match(problem('"TOPSECRET"'), /must be a JSON object/);
    assert.match(problem({ ...STACK, keyVaultDNSSuffix: '' }), /has no keyVaultDNSSuffix/);
    for (const bad of ['https://vault.example', 'vault.example:443', 'TOPSECRET value', 'vault']) {
      assert.match(problem({ ...STACK, keyVaultDNSSuffix: bad }), /keyVaultDNSSuffix that is not a DNS name/, bad);
    }
    assert.match(problem({ ...STACK, activeDirectoryEndpoint: 'http://login.example/' }), /activeDirectoryEndpoint that is an https URL/);
    assert.match(problem({ ...STACK, resourceIdentifiers: { keyVault: 'TOPSECRET' } }), /resourceIdentifiers\.keyVault that is not an https URL/);
    for (const bad of ['{"keyVaultDNSSuffix": "TOPSECRET', { ...STACK, keyVaultDNSSuffix: 'TOPSECRET value' }]) assert.doesNotMatch(problem(bad), /TOPSECRET/);
  });
});

describe('loadCloudCatalog', () => {
  it('reads each file the operator gave once, and keeps why an unusable one cannot be used', () => {
    const reads: string[] = [];
    const catalog = loadCloudCatalog({
      cloudName: '',
      envFiles: ['/etc/a.json', '/etc/./b.json', '/etc/missing.json'],
      read: (path) => {
        reads.push(path);
        if (path === '/etc/a.json') return JSON.stringify(STACK);
        if (path === '/etc/b.json') return 'not json';
        throw Object.assign(new Error('nope'), { code: 'ENOENT' });
      },
    });
    assert.deepEqual(reads, ['/etc/a.json', '/etc/b.json', '/etc/missing.json']);
    assert.equal(catalog.defaultCloud.name, 'AzurePublicCloud');
    assert.deepEqual([...catalog.files.keys()], ['/etc/a.json', '/etc/b.json', '/etc/missing.json']);
    assert.equal(catalog.files.get('/etc/a.json')?.ok, true);
    assert.deepEqual(catalog.files.get('/etc/b.json'), { ok: false, problem: 'is not valid JSON' });
    assert.match(JSON.stringify(catalog.files.get('/etc/missing.json')), /could not be read \(ENOENT\)/);
    // Resolving a class reads nothing more.
    assert.equal(resolveCloud(catalog, 'AzureStackCloud', '/etc/a.json').ok, true);
    assert.equal(reads.length, 3);
  });

  it('refuses a default cloud or a path it cannot use, saying which flag to fix', () => {
    assert.throws(() => loadCloudCatalog({ cloudName: 'AzureMoon', envFiles: [] }), (e: unknown) => e instanceof CloudConfigError && /--cloud-name "AzureMoon": use one of AzurePublicCloud/.test(e.message));
    assert.throws(() => loadCloudCatalog({ cloudName: 'AzureStackCloud', envFiles: [] }), /--cloud-name AzureStackCloud needs the cloud's environment file: give it with --cloud-env-file/);
    assert.throws(() => loadCloudCatalog({ cloudName: 'AzureStackCloud', envFiles: ['/etc/x.json'], read: () => '{' }), /--cloud-name AzureStackCloud: the environment file \/etc\/x\.json is not valid JSON/);
    assert.throws(() => loadCloudCatalog({ cloudName: '', envFiles: ['relative.json'] }), /--cloud-env-file "relative.json": must be an absolute path/);
    assert.equal(loadCloudCatalog({ cloudName: 'azureusgovernment', envFiles: [] }).defaultCloud.name, 'AzureUSGovernmentCloud');
  });
});
