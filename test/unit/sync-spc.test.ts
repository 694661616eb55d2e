import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatProblems,
  objectId,
  parseObjectsParameter,
  parseSecretProviderClass,
  syncBlockers,
  type ParsedClass,
  type Problem,
  type SecretProviderClass,
} from '../../src/sync/spc.ts';

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

  it('maps each supported cloud to its vault DNS suffix, case-insensitively', () => {
    assert.equal(parsed(spc({ parameters: { cloudName: 'AzureUSGovernmentCloud' } })).vaultUrl, 'https://my-vault.vault.usgovcloudapi.net/');
    assert.equal(parsed(spc({ parameters: { cloudName: 'AzureChinaCloud' } })).vaultUrl, 'https://my-vault.vault.azure.cn/');
    assert.equal(parsed(spc({ parameters: { cloudName: 'azurepubliccloud' } })).vaultUrl, 'https://my-vault.vault.azure.net/');
    assert.equal(parsed(spc({ parameters: { cloudName: 'AzureChinaCloud' } })).cloud.authorityHost, 'https://login.chinacloudapi.cn/');
  });

  it('reports an unknown cloud by field', () => {
    const found = problems(spc({ parameters: { cloudName: 'AzureGermanCloud' } }));
    assert.deepEqual(found.map((p) => p.field), ['spec.parameters.cloudName']);
    assert.match(found[0]?.message ?? '', /"AzureGermanCloud" is not supported: use AzurePublicCloud/);
  });

  it('rejects custom cloud environment files', () => {
    assert.deepEqual(problems(spc({ parameters: { cloudEnvFileName: '/etc/cloud.json' } })).map((p) => p.field), ['spec.parameters.cloudEnvFileName']);
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

  it('allows objectEncoding only for secrets and only utf-8, hex, base64', () => {
    assert.deepEqual(objectsProblems(entry('objectName: k\nobjectType: key\nobjectEncoding: utf-8')).map((p) => p.field), ['spec.parameters.objects[0].objectEncoding']);
    assert.match(objectsProblems(entry('objectName: s\nobjectType: secret\nobjectEncoding: latin1'))[0]?.message ?? '', /"latin1" is not one of utf-8, hex, base64/);
  });

  it('reads objectVersionHistory as a whole number and names the history files', () => {
    const [spec] = objects(entry('objectName: db\nobjectType: secret\nobjectAlias: pw\nobjectVersionHistory: 3'));
    assert.equal(spec?.objectVersionHistory, 3);
    assert.deepEqual(spec?.fileNames, ['pw/0', 'pw/1', 'pw/2']);
    assert.deepEqual(spec?.certKeyFileNames, ['pw/0.crt', 'pw/0.key', 'pw/1.crt', 'pw/1.key', 'pw/2.crt', 'pw/2.key']);
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

  it('names files by their cleaned path, as the driver stores them', () => {
    assert.deepEqual(objects(entry('objectName: db\nobjectType: secret\nobjectAlias: ./dir//db/'))[0]?.fileNames, ['dir/db']);
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
    assert.equal(found.length, 2, formatProblems(found));
    assert.ok(found.every((p) => p.field === 'spec.parameters.objects[0]' && /writes the file "pw", which objects\[1\] needs as a directory/.test(p.message)));
  });
});

describe('secretObjects', () => {
  const secretObjects = (list: unknown) => spc({ secretObjects: list });

  it('reads name, type, labels, annotations and data', () => {
    const c = parsed(secretObjects([{
      secretName: 'db',
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
  });

  it('requires each data objectName to be a file the objects write, listing them', () => {
    const found = problems(secretObjects([{ secretName: 'db', data: [{ objectName: 'db_password', key: 'pw' }] }]));
    assert.equal(found[0]?.field, 'spec.secretObjects[0].data[0].objectName');
    assert.match(found[0]?.message ?? '', /"db_password" is not a file the objects write; known files: db-password, db-password\.crt, db-password\.key, tls, tls\.crt, tls\.key, signing$/);
  });

  it('accepts the .crt and .key files a certificate-backed secret writes, but not for keys', () => {
    parsed(secretObjects([{ secretName: 'tls', type: 'kubernetes.io/tls', data: [{ objectName: 'tls.key', key: 'tls.key' }, { objectName: 'tls.crt', key: 'tls.crt' }] }]));
    assert.deepEqual(problems(secretObjects([{ secretName: 's', data: [{ objectName: 'signing.crt', key: 'k' }] }])).map((p) => p.field), ['spec.secretObjects[0].data[0].objectName']);
  });

  it('accepts version history files', () => {
    const objectsText = `${OBJECTS}  - |\n    objectName: rotating\n    objectType: secret\n    objectVersionHistory: 2\n`;
    const c = parsed(spc({ parameters: { objects: objectsText }, secretObjects: [{ secretName: 'r', data: [{ objectName: 'rotating/1', key: 'previous' }] }] }));
    assert.equal(c.secretObjects[0]?.data[0]?.objectName, 'rotating/1');
  });

  it('allows only tls.key and tls.crt in a kubernetes.io/tls Secret', () => {
    const found = problems(secretObjects([{ secretName: 'tls', type: 'kubernetes.io/tls', data: [{ objectName: 'tls', key: 'ca.crt' }] }]));
    assert.deepEqual(found, [{ field: 'spec.secretObjects[0].data[0].key', message: '"ca.crt" is not allowed in a kubernetes.io/tls Secret: use tls.crt or tls.key' }]);
  });

  it('rejects duplicate data keys and duplicate Secret names', () => {
    const dupKey = problems(secretObjects([{ secretName: 'db', data: [{ objectName: 'tls', key: 'a' }, { objectName: 'db-password', key: 'a' }] }]));
    assert.deepEqual(dupKey, [{ field: 'spec.secretObjects[0].data[1].key', message: '"a" is already set by data[0]' }]);
    const dupName = problems(secretObjects([{ secretName: 'db', data: [{ objectName: 'tls', key: 'a' }] }, { secretName: 'db', data: [{ objectName: 'tls', key: 'a' }] }]));
    assert.deepEqual(dupName.map((p) => p.field), ['spec.secretObjects[1].secretName']);
  });

  it('validates Secret names, data keys and required fields', () => {
    const found = problems(secretObjects([
      { secretName: 'Not_Valid', data: [{ objectName: 'tls', key: 'bad key!' }] },
      { data: [] },
      { secretName: 'x', data: [{ key: 'k' }] },
      'nope',
    ]));
    assert.deepEqual(found.map((p) => p.field), [
      'spec.secretObjects[0].secretName',
      'spec.secretObjects[0].data[0].key',
      'spec.secretObjects[1].secretName',
      'spec.secretObjects[1].data',
      'spec.secretObjects[2].data[0].objectName',
      'spec.secretObjects[3]',
    ]);
  });

  it('requires string labels and annotations', () => {
    assert.deepEqual(problems(secretObjects([{ secretName: 'db', labels: { n: 1 }, data: [{ objectName: 'tls', key: 'a' }] }])).map((p) => p.field), ['spec.secretObjects[0].labels["n"]']);
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
