import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DATA_SECRET_TYPES,
  formatProblems,
  objectId,
  parseObjectsParameter,
  parseSecretProviderClass,
  syncBlockers,
  type ParsedClass,
  type ParseOptions,
  type Problem,
  type SecretProviderClass,
} from '../../src/sync/spc.ts';
import { loadCloudCatalog } from '../../src/keyvault/cloud.ts';

const OBJECTS = `array:
  - |
    objectName: db-password
    objectType: secret
  - |
    objectName: tls-cert
    objectType: secret
    objectAlias: tls
  - |
    objectName: signing
    objectType: key
    objectVersion: 0123456789abcdef0123456789abcdef
`;

function spc(overrides: {
  parameters?: Record<string, unknown>;
  secretObjects?: unknown;
  annotations?: Record<string, string>;
  provider?: string;
} = {}): SecretProviderClass {
  return {
    apiVersion: 'secrets-store.csi.x-k8s.io/v1',
    kind: 'SecretProviderClass',
    metadata: { name: 'app', namespace: 'team-a', uid: 'uid-1', annotations: overrides.annotations ?? {} },
    spec: {
      provider: overrides.provider ?? 'azure',
      // An override of undefined removes the parameter.
      parameters: Object.fromEntries(Object.entries({
        keyvaultName: 'my-vault',
        tenantId: 'tenant-1',
        clientID: 'client-1',
        objects: OBJECTS,
        ...overrides.parameters,
      }).filter(([, value]) => value !== undefined)) as Record<string, string>,
      ...(overrides.secretObjects === undefined ? {} : { secretObjects: overrides.secretObjects as never }),
    },
  };
}

function parsed(obj: unknown): ParsedClass {
  const result = parseSecretProviderClass(obj);
  if (!result.ok) assert.fail(`expected a valid class, got: ${formatProblems(result.problems)}`);
  return result.value;
}

function parsedWith(obj: unknown, options: ParseOptions): ParsedClass {
  const result = parseSecretProviderClass(obj, options);
  if (!result.ok) assert.fail(`expected a valid class, got: ${formatProblems(result.problems)}`);
  return result.value;
}

function problems(obj: unknown): Problem[] {
  const result = parseSecretProviderClass(obj);
  if (result.ok) assert.fail('expected problems, the class parsed');
  return result.problems;
}

function objectsProblems(text: string): Problem[] {
  const result = parseObjectsParameter(text);
  if (result.ok) assert.fail('expected problems, the objects parsed');
  return result.problems;
}

function objects(text: string) {
  const result = parseObjectsParameter(text);
  if (!result.ok) assert.fail(`expected valid objects, got: ${formatProblems(result.problems)}`);
  return result.value;
}

function entry(fields: string): string {
  return `array:\n  - |\n${fields.split('\n').map((l) => `    ${l}`).join('\n')}\n`;
}

describe('parseSecretProviderClass', () => {
  it('reads identity, vault and metadata from a valid class', () => {
    const c = parsed(spc());
    assert.equal(c.namespace, 'team-a');
    assert.equal(c.name, 'app');
    assert.equal(c.uid, 'uid-1');
    assert.equal(c.keyvaultName, 'my-vault');
    assert.equal(c.vaultUrl, 'https://my-vault.vault.azure.net/');
    assert.equal(c.cloud.name, 'AzurePublicCloud');
    assert.equal(c.tenantId, 'tenant-1');
    assert.equal(c.clientID, 'client-1');
    assert.equal(c.usePodIdentity, false);
    assert.equal(c.useVMManagedIdentity, false);
    assert.deepEqual(c.secretObjects, []);
    assert.deepEqual(c.overrides, {});
  });

  it('fills the provider defaults for each object', () => {
    const [password, tls, signing] = parsed(spc()).objects;
    assert.deepEqual(password, {
      index: 0,
      objectName: 'db-password',
      objectType: 'secret',
      objectVersion: '',
      objectVersionHistory: 0,
      objectAlias: 'db-password',
      objectFormat: 'pem',
      objectEncoding: 'utf-8',
      filePermission: '',
      fileNames: ['db-password'],
      certKeyFileNames: ['db-password.crt', 'db-password.key'],
    });
    assert.equal(tls?.objectAlias, 'tls');
    assert.deepEqual(tls?.fileNames, ['tls']);
    assert.equal(signing?.objectVersion, '0123456789abcdef0123456789abcdef');
    assert.deepEqual(signing?.certKeyFileNames, [], 'only secrets can back a certificate');
  });

  it('accepts every cloudName the Azure provider accepts, in any case, and an empty one as the default cloud', () => {
    const cases: Array<[string, string, string]> = [
      ['', 'vault.azure.net', 'https://login.microsoftonline.com/'],
      ['AzurePublicCloud', 'vault.azure.net', 'https://login.microsoftonline.com/'],
      ['azurepubliccloud', 'vault.azure.net', 'https://login.microsoftonline.com/'],
      ['AzureCloud', 'vault.azure.net', 'https://login.microsoftonline.com/'],
      ['AzureUSGovernmentCloud', 'vault.usgovcloudapi.net', 'https://login.microsoftonline.us/'],
      ['AZUREUSGOVERNMENT', 'vault.usgovcloudapi.net', 'https://login.microsoftonline.us/'],
      ['AzureChinaCloud', 'vault.azure.cn', 'https://login.chinacloudapi.cn/'],
      ['AzureGermanCloud', 'vault.microsoftazure.de', 'https://login.microsoftonline.de/'],
      ['  AzureChinaCloud ', 'vault.azure.cn', 'https://login.chinacloudapi.cn/'],
    ];
    for (const [cloudName, suffix, authority] of cases) {
      const c = parsed(spc({ parameters: { cloudName } }));
      assert.equal(c.vaultUrl, `https://my-vault.${suffix}/`, cloudName);
      assert.equal(c.cloud.authorityHost, authority, cloudName);
      assert.equal(c.cloud.vaultResource, `https://${suffix}`, cloudName);
    }
  });

  it('takes the default cloud of the catalog for a class that names none (the provider\'s --cloud-name)', () => {
    const clouds = loadCloudCatalog({ cloudName: 'AzureChinaCloud', envFiles: [] });
    assert.equal(parsedWith(spc(), { clouds }).vaultUrl, 'https://my-vault.vault.azure.cn/');
    assert.equal(parsedWith(spc({ parameters: { cloudName: 'AzurePublicCloud' } }), { clouds }).vaultUrl, 'https://my-vault.vault.azure.net/');
  });

  it('reports an unknown cloud by field, naming the accepted ones', () => {
    const found = problems(spc({ parameters: { cloudName: 'AzureMoonCloud' } }));
    assert.deepEqual(found.map((p) => p.field), ['spec.parameters.cloudName']);
    assert.match(found[0]?.message ?? '', /"AzureMoonCloud" is not a cloud the Azure provider knows: use one of AzurePublicCloud, AzureCloud, AzureUSGovernmentCloud, AzureUSGovernment, AzureChinaCloud, AzureGermanCloud, AzureStackCloud/);
  });

  describe('AzureStackCloud', () => {
    const STACK = JSON.stringify({ name: 'AzureStackHub', keyVaultDNSSuffix: 'vault.local.azurestack.external', activeDirectoryEndpoint: 'https://login.local.azurestack.external/', resourceIdentifiers: { keyVault: 'https://vault.local.azurestack.external' } });
    const read = (files: Record<string, string>) => (path: string) => {
      const text = files[path];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
      return text;
    };
    const clouds = loadCloudCatalog({
      cloudName: '',
      envFiles: ['/etc/kubernetes/azurestackcloud.json', '/etc/kubernetes/broken.json', '/etc/kubernetes/missing.json'],
      read: read({ '/etc/kubernetes/azurestackcloud.json': STACK, '/etc/kubernetes/broken.json': '{"keyVaultDNSSuffix": "s3cr3t-looking-content"' }),
    });
    const stack = (cloudEnvFileName?: string) => spc({ parameters: { cloudName: 'AzureStackCloud', cloudEnvFileName } });
    const stackProblems = (cloudEnvFileName?: string): Problem[] => {
      const result = parseSecretProviderClass(stack(cloudEnvFileName), { clouds });
      if (result.ok) assert.fail('expected problems, the class parsed');
      return result.problems;
    };

    it('reads its endpoints from one of the operator\'s environment files', () => {
      const c = parsedWith(stack('/etc/kubernetes/azurestackcloud.json'), { clouds });
      assert.equal(c.vaultUrl, 'https://my-vault.vault.local.azurestack.external/');
      assert.deepEqual(c.cloud, { name: 'AzureStackHub', vaultDnsSuffix: 'vault.local.azurestack.external', authorityHost: 'https://login.local.azurestack.external/', vaultResource: 'https://vault.local.azurestack.external' });
      assert.equal(parsedWith(spc({ parameters: { cloudName: 'azurestackcloud', cloudEnvFileName: '/etc/kubernetes/./azurestackcloud.json' } }), { clouds }).cloud.name, 'AzureStackHub', 'case and path normalised');
    });

    it('refuses any other path, without reading it, and says who can add it', () => {
      for (const path of ['/var/run/secrets/kubernetes.io/serviceaccount/token', '/etc/passwd']) {
        const [p] = stackProblems(path);
        assert.equal(p?.field, 'spec.parameters.cloudEnvFileName');
        assert.equal(p?.message, `"${path}" is not one of the environment files keyvault-reloader was given: ask its operator to add it (--cloud-env-file; chart value sync.cloudEnvFiles)`);
      }
      assert.match(stackProblems('../etc/passwd')[0]?.message ?? '', /must be an absolute path/);
      assert.match(stackProblems('/etc/kubernetes/../passwd')[0]?.message ?? '', /must not contain "\.\."/);
    });

    it('says what is wrong with a file the operator gave, never what it holds', () => {
      const [broken] = stackProblems('/etc/kubernetes/broken.json');
      assert.equal(broken?.message, 'the environment file "/etc/kubernetes/broken.json" is not valid JSON: ask keyvault-reloader\'s operator to fix it');
      assert.doesNotMatch(broken?.message ?? '', /s3cr3t/);
      assert.match(stackProblems('/etc/kubernetes/missing.json')[0]?.message ?? '', /could not be read \(ENOENT\): check that the file is mounted/);
    });

    it('needs a file unless the default cloud is AzureStackCloud', () => {
      assert.match(stackProblems()[0]?.message ?? '', /required with cloudName AzureStackCloud/);
      const stackDefault = loadCloudCatalog({ cloudName: 'AzureStackCloud', envFiles: ['/etc/stack.json'], read: read({ '/etc/stack.json': STACK }) });
      assert.equal(parsedWith(stack(), { clouds: stackDefault }).cloud.name, 'AzureStackHub');
      assert.equal(parsedWith(spc(), { clouds: stackDefault }).cloud.name, 'AzureStackHub');
    });

    it('ignores cloudEnvFileName beside a built-in cloudName, as the provider does', () => {
      assert.equal(parsedWith(spc({ parameters: { cloudName: 'AzurePublicCloud', cloudEnvFileName: '/etc/passwd' } }), { clouds }).vaultUrl, 'https://my-vault.vault.azure.net/');
    });
  });

  it('accepts tenantID and tenantId, preferring tenantID as the provider does', () => {
    assert.equal(parsed(spc({ parameters: { tenantId: undefined, tenantID: 'tenant-upper' } })).tenantId, 'tenant-upper');
    assert.equal(parsed(spc({ parameters: { tenantId: 'lower', tenantID: 'upper' } })).tenantId, 'upper');
    const missing = problems(spc({ parameters: { tenantId: '' } }));
    assert.deepEqual(missing.map((p) => p.field), ['spec.parameters.tenantId']);
  });

  it('trims parameters like the provider', () => {
    const c = parsed(spc({ parameters: { keyvaultName: '  my-vault \n', clientID: ' client-1 ' } }));
    assert.equal(c.keyvaultName, 'my-vault');
    assert.equal(c.clientID, 'client-1');
  });

  it('validates keyvaultName: required, 3 to 24 characters of [-A-Za-z0-9]', () => {
    assert.match(problems(spc({ parameters: { keyvaultName: '' } }))[0]?.message ?? '', /required/);
    for (const name of ['ab', 'a'.repeat(25), 'my_vault', 'my.vault']) {
      const found = problems(spc({ parameters: { keyvaultName: name } }));
      assert.equal(found[0]?.field, 'spec.parameters.keyvaultName', name);
      assert.match(found[0]?.message ?? '', /3 to 24 characters/);
    }
    assert.equal(parsed(spc({ parameters: { keyvaultName: 'a'.repeat(24) } })).keyvaultName.length, 24);
  });

  it('lower-cases the vault host so that reads of one vault dedupe', () => {
    assert.equal(parsed(spc({ parameters: { keyvaultName: 'My-Vault' } })).vaultUrl, 'https://my-vault.vault.azure.net/');
  });

  it('parses the identity booleans with Go\'s ParseBool', () => {
    assert.equal(parsed(spc({ parameters: { usePodIdentity: 'True' } })).usePodIdentity, true);
    assert.equal(parsed(spc({ parameters: { useVMManagedIdentity: '1' } })).useVMManagedIdentity, true);
    assert.deepEqual(problems(spc({ parameters: { usePodIdentity: 'yes' } })).map((p) => p.field), ['spec.parameters.usePodIdentity']);
  });

  it('requires string parameter values', () => {
    const found = problems(spc({ parameters: { keyvaultName: 42 } }));
    assert.ok(found.some((p) => p.field === 'spec.parameters.keyvaultName' && /must be a string/.test(p.message)));
  });

  it('only handles azure classes', () => {
    const found = problems(spc({ provider: 'vault' }));
    assert.deepEqual(found, [{ field: 'spec.provider', message: 'is "vault"; only "azure" classes are handled' }]);
  });

  it('requires name, namespace and spec', () => {
    const found = problems({ metadata: {}, spec: undefined });
    assert.deepEqual(found.map((p) => p.field), ['metadata.name', 'metadata.namespace', 'spec']);
    assert.deepEqual(problems('not an object').map((p) => p.message), ['expected a SecretProviderClass object']);
  });

  it('rejects objects of another kind or API group', () => {
    assert.deepEqual(problems({ ...spc(), kind: 'Secret' }).map((p) => p.field), ['kind']);
    assert.deepEqual(problems({ ...spc(), apiVersion: 'v1' }).map((p) => p.field), ['apiVersion']);
  });

  it('reports every problem at once, not only the first', () => {
    const found = problems(spc({
      parameters: { keyvaultName: 'x', tenantId: '', objects: entry('objectName: a\nobjectType: blob') },
      annotations: { 'keyvault-reloader.io/sync': 'maybe' },
    }));
    assert.deepEqual(found.map((p) => p.field).sort(), [
      'metadata.annotations["keyvault-reloader.io/sync"]',
      'spec.parameters.keyvaultName',
      'spec.parameters.objects[0].objectType',
      'spec.parameters.tenantId',
    ]);
  });

  it('leaves a class without uid usable, with an empty uid', () => {
    const obj = spc();
    delete obj.metadata?.uid;
    assert.equal(parsed(obj).uid, '');
  });
});

describe('parseObjectsParameter', () => {
  it('requires the parameter', () => {
    assert.match(objectsProblems('')[0]?.message ?? '', /required: list the Key Vault objects/);
  });

  it('reports YAML that does not parse', () => {
    const [p] = objectsProblems('array: [unclosed');
    assert.equal(p?.field, 'spec.parameters.objects');
    assert.match(p?.message ?? '', /is not valid YAML/);
  });

  it('requires an "array:" list with at least one entry', () => {
    assert.match(objectsProblems('- a')[0]?.message ?? '', /must be a YAML mapping with an "array:" list/);
    assert.match(objectsProblems('other: 1')[0]?.message ?? '', /lists no objects/);
    assert.match(objectsProblems('array:')[0]?.message ?? '', /lists no objects/);
    assert.match(objectsProblems('array: []')[0]?.message ?? '', /lists no objects/);
    assert.deepEqual(objectsProblems('array: nope').map((p) => p.field), ['spec.parameters.objects.array']);
  });

  it('requires each entry to be a YAML string, as the provider unmarshals []string', () => {
    const found = objectsProblems('array:\n  - objectName: a\n    objectType: secret\n');
    assert.deepEqual(found.map((p) => p.field), ['spec.parameters.objects[0]']);
    assert.match(found[0]?.message ?? '', /write "- \|"/);
  });

  it('names the field and the accepted values for an unknown objectType', () => {
    const text = `array:\n  - |\n    objectName: a\n    objectType: secret\n  - |\n    objectName: b\n    objectType: key\n  - |\n    objectName: c\n    objectType: blob\n`;
    assert.deepEqual(objectsProblems(text), [
      { field: 'spec.parameters.objects[2].objectType', message: '"blob" is not one of secret, key, cert' },
    ]);
  });

  it('treats objectType as case-sensitive, like the provider', () => {
    assert.deepEqual(objectsProblems(entry('objectName: a\nobjectType: Secret')).map((p) => p.field), ['spec.parameters.objects[0].objectType']);
  });

  it('requires objectName and objectType', () => {
    assert.deepEqual(objectsProblems(entry('objectAlias: a')).map((p) => p.field), [
      'spec.parameters.objects[0].objectName',
      'spec.parameters.objects[0].objectType',
    ]);
  });

  it('keeps scalar text as written instead of reading numbers', () => {
    const [spec] = objects(entry('objectName: 12345\nobjectType: secret\nobjectVersion: 12345e67890123456789012345678901\nfilePermission: 0644'));
    assert.equal(spec?.objectName, '12345');
    assert.equal(spec?.objectVersion, '12345e67890123456789012345678901', 'a version that looks like a float stays text');
    assert.equal(spec?.filePermission, '0644', 'the octal mode keeps its leading zero');
  });

  it('trims every field and accepts quoted values', () => {
    const [spec] = objects(entry('objectName: "  db  "\nobjectType: \' secret \'\nobjectEncoding: "Base64"'));
    assert.equal(spec?.objectName, 'db');
    assert.equal(spec?.objectType, 'secret');
    assert.equal(spec?.objectEncoding, 'base64', 'encoding is case-insensitive');
  });

  it('treats null fields as unset', () => {
    const [spec] = objects(entry('objectName: db\nobjectType: secret\nobjectAlias: ~\nobjectVersion:'));
    assert.equal(spec?.objectAlias, 'db');
    assert.equal(spec?.objectVersion, '');
  });

  it('ignores unknown fields, as the provider does', () => {
    assert.equal(objects(entry('objectName: db\nobjectType: secret\nsomethingNew: x')).length, 1);
  });

  it('refuses objectNotAfter rather than serve a different version than the add-on', () => {
    assert.deepEqual(objectsProblems(entry('objectName: db\nobjectType: secret\nobjectNotAfter: "2026-01-01T00:00:00Z"')).map((p) => p.field), ['spec.parameters.objects[0].objectNotAfter']);
  });

  it('rejects a list or mapping where a value belongs', () => {
    assert.deepEqual(objectsProblems(entry('objectName: [a, b]\nobjectType: secret')).map((p) => p.field), ['spec.parameters.objects[0].objectName', 'spec.parameters.objects[0].objectName']);
  });

  it('allows pfx only for secrets and any case of pem/pfx', () => {
    assert.equal(objects(entry('objectName: c\nobjectType: secret\nobjectFormat: PFX'))[0]?.objectFormat, 'pfx');
    assert.deepEqual(objectsProblems(entry('objectName: c\nobjectType: cert\nobjectFormat: pfx')), [
      { field: 'spec.parameters.objects[0].objectFormat', message: 'pfx is only available with objectType secret (Key Vault returns the PFX only through the secret)' },
    ]);
    assert.match(objectsProblems(entry('objectName: c\nobjectType: secret\nobjectFormat: der'))[0]?.message ?? '', /"der" is not one of pem, pfx/);
  });

  it('ignores pfx written in another case on a key or cert, as the provider\'s case-sensitive check lets it through', () => {
    for (const type of ['cert', 'key']) {
      assert.equal(objects(entry(`objectName: c\nobjectType: ${type}\nobjectFormat: PFX`))[0]?.objectFormat, 'pem', type);
    }
  });

  it('allows objectEncoding only for secrets and only utf-8, hex, base64', () => {
    assert.deepEqual(objectsProblems(entry('objectName: k\nobjectType: key\nobjectEncoding: utf-8')).map((p) => p.field), ['spec.parameters.objects[0].objectEncoding']);
    assert.match(objectsProblems(entry('objectName: s\nobjectType: secret\nobjectEncoding: latin1'))[0]?.message ?? '', /"latin1" is not one of utf-8, hex, base64/);
  });

  it('reads objectVersionHistory as a whole number and names the history files', () => {
    const [spec] = objects(entry('objectName: db\nobjectType: secret\nobjectAlias: pw\nobjectVersionHistory: 3'));
    assert.equal(spec?.objectVersionHistory, 3);
    // One more than asked for, as the provider writes them.
    assert.deepEqual(spec?.fileNames, ['pw/0', 'pw/1', 'pw/2', 'pw/3']);
    assert.deepEqual(spec?.certKeyFileNames, ['pw/0.crt', 'pw/0.key', 'pw/1.crt', 'pw/1.key', 'pw/2.crt', 'pw/2.key', 'pw/3.crt', 'pw/3.key']);
    for (const bad of ['-1', '1.5', 'two']) {
      assert.match(objectsProblems(entry(`objectName: db\nobjectType: secret\nobjectVersionHistory: ${bad}`))[0]?.message ?? '', /is not a whole number ≥ 0/, bad);
    }
  });

  it('treats a history of 1 like no history, as the provider does', () => {
    assert.deepEqual(objects(entry('objectName: db\nobjectType: secret\nobjectVersionHistory: 1'))[0]?.fileNames, ['db']);
  });

  it('requires an octal filePermission', () => {
    assert.equal(objects(entry('objectName: db\nobjectType: secret\nfilePermission: "0600"'))[0]?.filePermission, '0600');
    assert.match(objectsProblems(entry('objectName: db\nobjectType: secret\nfilePermission: 0999'))[0]?.message ?? '', /not an octal file mode/);
  });

  it('keeps file names inside the mount', () => {
    assert.deepEqual(objectsProblems(entry('objectName: db\nobjectType: secret\nobjectAlias: /etc/passwd')), [
      { field: 'spec.parameters.objects[0].objectAlias', message: '"/etc/passwd" must be a relative path, not an absolute one' },
    ]);
    for (const alias of ['../escape', 'a/../../b', 'a..b']) {
      assert.match(objectsProblems(entry(`objectName: db\nobjectType: secret\nobjectAlias: "${alias}"`))[0]?.message ?? '', /must not contain "\.\."/, alias);
    }
    assert.match(objectsProblems(entry('objectName: db\nobjectType: secret\nobjectAlias: "./"'))[0]?.message ?? '', /does not name a file/);
  });

  it('refuses a file name that is not a clean path, as the driver does, saying what to write', () => {
    for (const [alias, clean] of [['./x', 'x'], ['x/', 'x'], ['a//b', 'a/b'], ['a/./b', 'a/b']]) {
      assert.deepEqual(objectsProblems(entry(`objectName: db\nobjectType: secret\nobjectAlias: "${alias}"`)), [
        { field: 'spec.parameters.objects[0].objectAlias', message: `"${alias}" is not a clean path, which the driver refuses: write "${clean}"` },
      ]);
    }
    assert.deepEqual(objects(entry('objectName: db\nobjectType: secret\nobjectAlias: dir/sub/db'))[0]?.fileNames, ['dir/sub/db']);
  });

  it('takes an unclean alias for a version history, cleaned, as the provider joins <alias>/<index>', () => {
    assert.deepEqual(objects(entry('objectName: db\nobjectType: secret\nobjectAlias: ./dir//db/\nobjectVersionHistory: 2'))[0]?.fileNames, ['dir/db/0', 'dir/db/1', 'dir/db/2']);
  });

  it('refuses path elements the driver cannot write', () => {
    assert.match(objectsProblems(entry(`objectName: db\nobjectType: secret\nobjectAlias: ${'a'.repeat(256)}`))[0]?.message ?? '', /has a path element longer than 255 characters/);
    assert.equal(objects(entry(`objectName: db\nobjectType: secret\nobjectAlias: ${'a'.repeat(255)}`)).length, 1);
    assert.match(objectsProblems(entry(`objectName: db\nobjectType: secret\nobjectAlias: ${Array.from({ length: 20 }, () => 'b'.repeat(250)).join('/')}`))[0]?.message ?? '', /is longer than the driver allows/);
  });

  it('reports two objects writing the same file', () => {
    const text = `array:\n  - |\n    objectName: a\n    objectType: secret\n    objectAlias: same\n  - |\n    objectName: b\n    objectType: secret\n    objectAlias: same\n`;
    assert.deepEqual(objectsProblems(text), [{
      field: 'spec.parameters.objects[1]',
      message: 'writes the file "same", which objects[0] writes too: give one of them a different objectAlias',
    }]);
  });

  it('reports a file that another object needs as a directory', () => {
    const text = `array:\n  - |\n    objectName: a\n    objectType: secret\n    objectAlias: pw\n  - |\n    objectName: b\n    objectType: secret\n    objectAlias: pw\n    objectVersionHistory: 2\n`;
    const found = objectsProblems(text);
    assert.equal(found.length, 3, formatProblems(found));
    assert.ok(found.every((p) => p.field === 'spec.parameters.objects[0]' && /writes the file "pw", which objects\[1\] needs as a directory/.test(p.message)));
  });
});

describe('secretObjects', () => {
  const secretObjects = (list: unknown) => spc({ secretObjects: list });
  /** The problems of the entries refused on their own; the class itself parses. */
  const refused = (obj: unknown): Problem[] => {
    const c = parsed(obj);
    assert.ok(c.refusedSecretObjects.length > 0, 'expected a refused secretObjects entry');
    return c.refusedSecretObjects.flatMap((r) => r.problems);
  };

  it('reads name, type, labels, annotations and data', () => {
    const c = parsed(secretObjects([{
      secretName: 'db',
      type: 'Opaque',
      labels: { app: 'web' },
      annotations: { note: 'x' },
      data: [{ objectName: 'db-password', key: 'password' }, { objectName: ' tls ', key: ' cert ' }],
    }]));
    assert.deepEqual(c.secretObjects, [{
      secretName: 'db',
      type: 'Opaque',
      labels: { app: 'web' },
      annotations: { note: 'x' },
      data: [{ objectName: 'db-password', key: 'password' }, { objectName: 'tls', key: 'cert' }],
    }]);
    assert.deepEqual(c.refusedSecretObjects, []);
  });

  it('refuses an entry without a type, as the driver does, and writes the others; a type of blanks is Opaque, as the driver trims it', () => {
    const c = parsed(secretObjects([
      { secretName: 'omitted', data: [{ objectName: 'db-password', key: 'p' }] },
      { secretName: 'empty', type: '', data: [{ objectName: 'db-password', key: 'p' }] },
      { secretName: 'blank', type: '  ', data: [{ objectName: 'db-password', key: 'p' }] },
    ]));
    assert.deepEqual(c.secretObjects.map((so) => [so.secretName, so.type]), [['blank', 'Opaque']]);
    assert.deepEqual(c.refusedSecretObjects.map((r) => [r.secretName, r.problems.map((p) => p.field)]), [['omitted', ['spec.secretObjects[0].type']], ['empty', ['spec.secretObjects[1].type']]]);
    assert.match(c.refusedSecretObjects[0]?.problems[0]?.message ?? '', /^required: the type of the Secret, e\.g\. Opaque or kubernetes\.io\/tls/);
  });

  it('accepts the Secret types that only hold data, and types of other domains', () => {
    for (const type of [...DATA_SECRET_TYPES, 'example.com/api-key', 'helm.sh/custom', 'my-type']) {
      const key = type === 'kubernetes.io/tls' ? 'tls.crt' : 'password';
      assert.equal(parsed(secretObjects([{ secretName: 'db', type, data: [{ objectName: 'db-password', key }] }])).secretObjects[0]?.type, type);
    }
  });

  it('refuses a Secret type that makes Kubernetes act for the Secret, saying why and what is allowed', () => {
    const refusedType = (type: string) => {
      const found = refused(secretObjects([{ secretName: 'tok', type, annotations: { 'kubernetes.io/service-account.name': 'admin' }, data: [{ objectName: 'db-password', key: 'token' }] }]));
      assert.deepEqual(found.map((p) => p.field), ['spec.secretObjects[0].type'], type);
      return found[0]?.message ?? '';
    };
    assert.equal(refusedType('kubernetes.io/service-account-token'), '"kubernetes.io/service-account-token" is not allowed (Kubernetes would put a service account token into it): use one of Opaque, kubernetes.io/basic-auth, kubernetes.io/ssh-auth, kubernetes.io/tls, kubernetes.io/dockercfg, kubernetes.io/dockerconfigjson, or a type outside the kubernetes.io and k8s.io domains');
    assert.match(refusedType('bootstrap.kubernetes.io/token'), /the API server would accept it as a credential/);
    assert.match(refusedType('kubernetes.io/some-future-type'), /Kubernetes reserves the types of its domains/);
    assert.match(refusedType('x.k8s.io/thing'), /is not allowed/);
  });

  it('requires each data objectName to be a file the objects write, listing them', () => {
    const found = refused(secretObjects([{ secretName: 'db', type: 'Opaque', data: [{ objectName: 'db_password', key: 'pw' }] }]));
    assert.equal(found[0]?.field, 'spec.secretObjects[0].data[0].objectName');
    assert.match(found[0]?.message ?? '', /"db_password" is not a file the objects write; known files: db-password, db-password\.crt, db-password\.key, tls, tls\.crt, tls\.key, signing$/);
  });

  it('accepts the .crt and .key files a certificate-backed secret writes, but not for keys', () => {
    parsed(secretObjects([{ secretName: 'tls', type: 'kubernetes.io/tls', data: [{ objectName: 'tls.key', key: 'tls.key' }, { objectName: 'tls.crt', key: 'tls.crt' }] }]));
    assert.deepEqual(refused(secretObjects([{ secretName: 's', type: 'Opaque', data: [{ objectName: 'signing.crt', key: 'k' }] }])).map((p) => p.field), ['spec.secretObjects[0].data[0].objectName']);
  });

  it('accepts version history files, the provider\'s N + 1 of them', () => {
    const objectsText = `${OBJECTS}  - |\n    objectName: rotating\n    objectType: secret\n    objectVersionHistory: 2\n`;
    const c = parsed(spc({ parameters: { objects: objectsText }, secretObjects: [{ secretName: 'r', type: 'Opaque', data: [{ objectName: 'rotating/1', key: 'previous' }, { objectName: 'rotating/2', key: 'oldest' }] }] }));
    assert.deepEqual(c.secretObjects[0]?.data.map((d) => d.objectName), ['rotating/1', 'rotating/2']);
  });

  it('allows only tls.key and tls.crt in a kubernetes.io/tls Secret', () => {
    const found = refused(secretObjects([{ secretName: 'tls', type: 'kubernetes.io/tls', data: [{ objectName: 'tls', key: 'ca.crt' }] }]));
    assert.deepEqual(found, [{ field: 'spec.secretObjects[0].data[0].key', message: '"ca.crt" is not allowed in a kubernetes.io/tls Secret: use tls.crt or tls.key' }]);
  });

  it('rejects duplicate data keys and, keeping the first, duplicate Secret names', () => {
    const dupKey = refused(secretObjects([{ secretName: 'db', type: 'Opaque', data: [{ objectName: 'tls', key: 'a' }, { objectName: 'db-password', key: 'a' }] }]));
    assert.deepEqual(dupKey, [{ field: 'spec.secretObjects[0].data[1].key', message: '"a" is already set by data[0]' }]);
    const c = parsed(secretObjects([{ secretName: 'db', type: 'Opaque', data: [{ objectName: 'tls', key: 'a' }] }, { secretName: 'db', type: 'Opaque', data: [{ objectName: 'tls', key: 'a' }] }]));
    assert.deepEqual(c.secretObjects.map((so) => so.secretName), ['db']);
    assert.deepEqual(c.refusedSecretObjects.flatMap((r) => r.problems.map((p) => p.field)), ['spec.secretObjects[1].secretName']);
  });

  it('validates Secret names, data keys and required fields, entry by entry', () => {
    const c = parsed(secretObjects([
      { secretName: 'Not_Valid', type: 'Opaque', data: [{ objectName: 'tls', key: 'bad key!' }] },
      { type: 'Opaque', data: [] },
      { secretName: 'x', type: 'Opaque', data: [{ key: 'k' }] },
      'nope',
      { secretName: 'fine', type: 'Opaque', data: [{ objectName: 'tls', key: 'k' }] },
    ]));
    assert.deepEqual(c.secretObjects.map((so) => so.secretName), ['fine']);
    assert.deepEqual(c.refusedSecretObjects.flatMap((r) => r.problems.map((p) => p.field)), [
      'spec.secretObjects[0].secretName',
      'spec.secretObjects[0].data[0].key',
      'spec.secretObjects[1].secretName',
      'spec.secretObjects[1].data',
      'spec.secretObjects[2].data[0].objectName',
      'spec.secretObjects[3]',
    ]);
  });

  it('reports the entries\' problems with the class\'s when the class itself is invalid', () => {
    const found = problems(spc({ parameters: { keyvaultName: undefined }, secretObjects: [{ secretName: 'db', data: [{ objectName: 'tls', key: 'a' }] }] }));
    assert.deepEqual(found.map((p) => p.field), ['spec.parameters.keyvaultName', 'spec.secretObjects[0].type']);
    assert.deepEqual(problems(spc({ secretObjects: { not: 'a list' } })).map((p) => p.field), ['spec.secretObjects']);
  });

  it('requires string labels and annotations', () => {
    assert.deepEqual(refused(secretObjects([{ secretName: 'db', type: 'Opaque', labels: { n: 1 }, data: [{ objectName: 'tls', key: 'a' }] }])).map((p) => p.field), ['spec.secretObjects[0].labels["n"]']);
  });
});

describe('class annotations', () => {
  const withAnnotations = (annotations: Record<string, string>) => spc({ annotations });

  it('reads the sync switch', () => {
    assert.equal(parsed(withAnnotations({ 'keyvault-reloader.io/sync': 'true' })).overrides.sync, true);
    assert.equal(parsed(withAnnotations({ 'keyvault-reloader.io/sync': 'false' })).overrides.sync, false);
    assert.equal(parsed(withAnnotations({})).overrides.sync, undefined, 'absent: the cluster flag decides');
    assert.deepEqual(problems(withAnnotations({ 'keyvault-reloader.io/sync': 'yes' })), [
      { field: 'metadata.annotations["keyvault-reloader.io/sync"]', message: '"yes" is not "true" or "false"' },
    ]);
  });

  it('reads the poll interval as a Go duration', () => {
    assert.equal(parsed(withAnnotations({ 'keyvault-reloader.io/poll-interval': '1h30m' })).overrides.pollIntervalMs, 5_400_000);
    const [bad] = problems(withAnnotations({ 'keyvault-reloader.io/poll-interval': '90' }));
    assert.equal(bad?.field, 'metadata.annotations["keyvault-reloader.io/poll-interval"]');
    assert.match(bad?.message ?? '', /"90" has no unit: expected a duration such as "500ms"/);
    assert.match(problems(withAnnotations({ 'keyvault-reloader.io/poll-interval': '10ms' }))[0]?.message ?? '', /"10ms" is too short: use at least 1s/);
    assert.match(problems(withAnnotations({ 'keyvault-reloader.io/poll-interval': '720h' }))[0]?.message ?? '', /"720h" is too long: use at most 24h/);
  });

  it('reads the service account as a DNS-1123 name', () => {
    assert.equal(parsed(withAnnotations({ 'keyvault-reloader.io/service-account': 'kv-reader' })).overrides.serviceAccount, 'kv-reader');
    assert.deepEqual(problems(withAnnotations({ 'keyvault-reloader.io/service-account': 'KV_Reader' })).map((p) => p.field), ['metadata.annotations["keyvault-reloader.io/service-account"]']);
  });
});

describe('syncBlockers', () => {
  it('accepts a class with workload identity', () => {
    assert.deepEqual(syncBlockers(parsed(spc())), []);
  });

  it('explains why pod identity, node identity or a missing clientID cannot sync', () => {
    const c = parsed(spc({ parameters: { clientID: undefined, usePodIdentity: 'true', useVMManagedIdentity: 'true' } }));
    assert.deepEqual(syncBlockers(c).map((p) => p.field), [
      'spec.parameters.usePodIdentity',
      'spec.parameters.useVMManagedIdentity',
      'spec.parameters.clientID',
    ]);
  });
});

describe('helpers', () => {
  it('objectId follows the provider: type/name, plus /index for history', () => {
    assert.equal(objectId({ objectType: 'secret', objectName: 'db' }), 'secret/db');
    assert.equal(objectId({ objectType: 'cert', objectName: 'tls' }, 2), 'cert/tls/2');
  });

  it('formatProblems joins field and message', () => {
    assert.equal(formatProblems([{ field: 'a', message: 'x' }, { field: '', message: 'y' }]), 'a: x; y');
  });
});
