import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FetchedObject, VersionItem } from '../../src/keyvault/objects.ts';
import { planClassSync, removedSecretObjects, type ObjectVersions, type ReadResult, type SyncPlan } from '../../src/sync/plan.ts';
import { getRead, type KeyVaultRead } from '../../src/sync/reads.ts';
import { parseSecretProviderClass, type ParsedClass } from '../../src/sync/spc.ts';
import { classObject, makeClass, VAULT, type ClassOptions } from './helpers/spc.ts';

const SA = 'kv-reader';

function plan(parsed: ParsedClass, results: ReadonlyMap<string, ReadResult> = new Map(), previousVersions?: ObjectVersions): SyncPlan {
  return planClassSync({ parsed: { ok: true, value: parsed }, defaultServiceAccount: SA, results, previousVersions });
}

function readsOf(p: SyncPlan): KeyVaultRead[] {
  if (p.action !== 'read') assert.fail(`expected a read plan, got ${p.action}`);
  return p.reads;
}

function writeOf(p: SyncPlan): Extract<SyncPlan, { action: 'write' }> {
  if (p.action !== 'write') assert.fail(`expected a write plan, got ${p.action}: ${JSON.stringify(p)}`);
  return p;
}

const secretBundle = (name: string, version: string, value: string): FetchedObject => ({ objectType: 'secret', bundle: { id: `${VAULT}/secrets/${name}/${version}`, value } });
const got = (value: FetchedObject): ReadResult => ({ ok: true, kind: 'get', value });
const listed = (value: VersionItem[]): ReadResult => ({ ok: true, kind: 'list-versions', value });
const failed = (reason: 'throttled' | 'read', message: string): ReadResult => ({ ok: false, failure: { reason, message } });

/** Answers every read of a plan from a table of (object name, version '' = latest) → bundle. */
function answer(reads: readonly KeyVaultRead[], vault: Record<string, FetchedObject | VersionItem[] | ReadResult>, into = new Map<string, ReadResult>()): Map<string, ReadResult> {
  for (const r of reads) {
    const at = r.kind === 'get' ? `${r.objectName}@${r.objectVersion}` : `${r.objectName}/versions`;
    const v = vault[at];
    if (v === undefined) assert.fail(`the test's vault has no ${at}`);
    into.set(r.key, Array.isArray(v) ? listed(v) : 'ok' in v ? v : got(v));
  }
  return into;
}

/** Plans, reads and plans again until the plan writes. */
function planToWrite(parsed: ParsedClass, vault: Record<string, FetchedObject | VersionItem[] | ReadResult>, previousVersions?: ObjectVersions): Extract<SyncPlan, { action: 'write' }> {
  const results = new Map<string, ReadResult>();
  for (let round = 0; round < 5; round++) {
    const p = plan(parsed, results, previousVersions);
    if (p.action !== 'read') return writeOf(p);
    answer(p.reads, vault, results);
  }
  assert.fail('the plan never came to writing');
}

const db = { secretName: 'db', type: 'Opaque', data: [{ objectName: 'db-password', key: 'password' }] };

describe('planClassSync', () => {
  it('refuses an invalid class and one the engine cannot read for, reading nothing', () => {
    const invalid = parseSecretProviderClass(classObject({ objects: ['objectName: db\nobjectType: password'] }));
    const p = planClassSync({ parsed: invalid, defaultServiceAccount: SA, results: new Map() });
    assert.equal(p.action, 'invalid');
    assert.deepEqual(p.action === 'invalid' && p.problems.map((x) => x.message), ['"password" is not one of secret, key, cert']);
    const podIdentity = makeClass({ parameters: { clientID: '', usePodIdentity: 'true' } });
    const blocked = plan(podIdentity);
    assert.equal(blocked.action, 'invalid');
    assert.deepEqual(blocked.action === 'invalid' && blocked.problems.map((x) => x.field), ['spec.parameters.usePodIdentity', 'spec.parameters.clientID']);
  });

  it('first reads every object with the class\'s own identity: the selected version, or the version listing for a history', () => {
    const parsed = makeClass({
      namespace: 'team-a',
      annotations: { 'keyvault-reloader.io/service-account': 'reader' },
      objects: ['objectName: a\nobjectType: secret', 'objectName: k\nobjectType: key\nobjectVersion: v3', 'objectName: h\nobjectType: secret\nobjectVersionHistory: 2'],
    });
    const reads = readsOf(plan(parsed));
    assert.deepEqual(reads.map((r) => [r.kind, r.objectType, r.objectName, r.kind === 'get' ? r.objectVersion : '-']), [
      ['get', 'secret', 'a', ''],
      ['get', 'key', 'k', 'v3'],
      ['list-versions', 'secret', 'h', '-'],
    ]);
    assert.ok(reads.every((r) => r.identity.namespace === 'team-a' && r.identity.serviceAccount === 'reader' && r.vaultUrl === 'https://my-vault.vault.azure.net/'));
  });

  it('after a listing, reads the versions it picks, newest first, and only those not read yet', () => {
    const parsed = makeClass({ objects: ['objectName: h\nobjectType: secret\nobjectVersionHistory: 2'] });
    const results = answer(readsOf(plan(parsed)), {
      'h/versions': [
        { id: `${VAULT}/secrets/h/old`, created: 1 },
        { id: `${VAULT}/secrets/h/new`, created: 3 },
        { id: `${VAULT}/secrets/h/off`, created: 4, enabled: false },
        { id: `${VAULT}/secrets/h/mid`, created: 2 },
      ],
    });
    const second = readsOf(plan(parsed, results));
    // objectVersionHistory 2 writes h/0, h/1 and h/2, as the provider does.
    assert.deepEqual(second.map((r) => r.kind === 'get' && r.objectVersion), ['new', 'mid', 'old']);
    answer(second.slice(0, 1), { 'h@new': secretBundle('h', 'new', 'N') }, results);
    assert.deepEqual(readsOf(plan(parsed, results)).map((r) => r.kind === 'get' && r.objectVersion), ['mid', 'old']);
  });

  it('once everything is read: the Secrets to write, where their content comes from, and the versions the class holds', () => {
    const parsed = makeClass({
      objects: ['objectName: db-password\nobjectType: secret', 'objectName: h\nobjectType: secret\nobjectVersionHistory: 2'],
      secretObjects: [db, { secretName: 'hist', type: 'Opaque', data: [{ objectName: 'h/0', key: 'current' }, { objectName: 'h/1', key: 'previous' }] }],
    });
    const w = planToWrite(parsed, {
      'db-password@': secretBundle('db-password', 'v7', 's3cret'),
      'h/versions': [{ id: `${VAULT}/secrets/h/a`, created: 1 }, { id: `${VAULT}/secrets/h/b`, created: 2 }],
      'h@b': secretBundle('h', 'b', 'B'),
      'h@a': secretBundle('h', 'a', 'A'),
    });
    assert.deepEqual(w.failures, []);
    assert.deepEqual(w.kept, []);
    assert.deepEqual(w.secrets.map((s) => [s.metadata?.name, s.data]), [
      ['db', { password: Buffer.from('s3cret').toString('base64') }],
      ['hist', { current: Buffer.from('B').toString('base64'), previous: Buffer.from('A').toString('base64') }],
    ]);
    assert.deepEqual(w.sources, { db: 'from secret/db-password@v7', hist: 'from secret/h/0@b, secret/h/1@a' });
    assert.deepEqual([...w.versions], [['secret/db-password', 'v7'], ['secret/h/0', 'b'], ['secret/h/1', 'a']]);
  });

  it('a failed read leaves only the Secrets that use it unwritten, says why, and keeps the versions that object held', () => {
    const parsed = makeClass({
      objects: ['objectName: db-password\nobjectType: secret', 'objectName: api\nobjectType: secret'],
      secretObjects: [db, { secretName: 'api', type: 'Opaque', data: [{ objectName: 'api', key: 'key' }] }],
    });
    const w = planToWrite(parsed, {
      'db-password@': failed('throttled', '429 Throttled: too many requests'),
      'api@': secretBundle('api', 'v2', 'k2'),
    }, new Map([['secret/db-password', 'v6'], ['secret/api', 'v1']]));
    assert.deepEqual(w.secrets.map((s) => s.metadata?.name), ['api']);
    assert.deepEqual(w.kept, ['db']);
    assert.deepEqual(w.failures, [{ reason: 'throttled', message: 'could not read secret/db-password: 429 Throttled: too many requests' }]);
    assert.deepEqual([...w.versions], [['secret/api', 'v2'], ['secret/db-password', 'v6']], 'a failed read is never taken for a rotation');
  });

  it('an object gone from the class reports no version any more', () => {
    const parsed = makeClass({ objects: ['objectName: db-password\nobjectType: secret'], secretObjects: [db] });
    const w = planToWrite(parsed, { 'db-password@': secretBundle('db-password', 'v7', 'x') }, new Map([['secret/db-password', 'v6'], ['secret/removed', 'v1']]));
    assert.deepEqual([...w.versions], [['secret/db-password', 'v7']]);
  });

  it('a value that cannot be rendered is a render failure naming the object and version, never the value', () => {
    const parsed = makeClass({ objects: ['objectName: db-password\nobjectType: secret\nobjectEncoding: base64'], secretObjects: [db] });
    const w = planToWrite(parsed, { 'db-password@': secretBundle('db-password', 'v7', 'not base64!') });
    assert.deepEqual(w.secrets, []);
    assert.deepEqual(w.kept, ['db']);
    assert.equal(w.failures[0]?.reason, 'render');
    assert.match(w.failures[0]?.message ?? '', /secret\/db-password \(version v7\): the value is not valid base64/);
    assert.doesNotMatch(JSON.stringify(w.failures), /not base64!/);
  });
});

describe('reads shared between classes', () => {
  const firstReads = (classes: ParsedClass[]) => {
    const byKey = new Map<string, { read: KeyVaultRead; classes: string[] }>();
    for (const c of classes) {
      for (const r of readsOf(plan(c))) {
        const d = byKey.get(r.key) ?? { read: r, classes: [] };
        d.classes.push(`${c.namespace}/${c.name}`);
        byKey.set(r.key, d);
      }
    }
    return [...byKey.values()];
  };
  const cls = (o: ClassOptions) => makeClass(o);
  const shared = [
    'objectName: a\nobjectType: secret',
    'objectName: b\nobjectType: secret\nobjectAlias: bee\nobjectEncoding: base64',
    'objectName: c\nobjectType: key',
    'objectName: d\nobjectType: cert',
    'objectName: e\nobjectType: secret\nobjectVersion: 1234',
  ];

  it('50 classes sharing 5 objects need 5 reads', () => {
    const reads = firstReads(Array.from({ length: 50 }, (_, i) => cls({ name: `app-${i}`, objects: shared })));
    assert.equal(reads.length, 5);
    assert.ok(reads.every((d) => d.classes.length === 50));
    assert.deepEqual(reads[0]?.read.identity, { namespace: 'team-a', serviceAccount: SA, clientID: 'client-1', tenantId: 'tenant-1' });
  });

  it('alias, format and encoding do not split a read', () => {
    assert.equal(firstReads([cls({ name: 'x', objects: ['objectName: s\nobjectType: secret'] }), cls({ name: 'y', objects: ['objectName: s\nobjectType: secret\nobjectAlias: other\nobjectFormat: pfx\nobjectEncoding: base64'] })]).length, 1);
  });

  it('a read is never shared across namespaces or identities', () => {
    const reads = firstReads([
      cls({ name: 'x', namespace: 'team-a' }),
      cls({ name: 'x', namespace: 'team-b' }),
      cls({ name: 'y', parameters: { clientID: 'client-2' } }),
      cls({ name: 'z', parameters: { tenantId: 'tenant-2' } }),
      cls({ name: 'w', annotations: { 'keyvault-reloader.io/service-account': 'other-sa' } }),
      cls({ name: 'v' }),
    ]);
    assert.equal(reads.length, 5);
    assert.deepEqual(reads.find((d) => d.read.identity.serviceAccount === 'other-sa')?.classes, ['team-a/w']);
    assert.deepEqual(reads.find((d) => d.classes.includes('team-a/v'))?.classes, ['team-a/x', 'team-a/v']);
  });

  it('vault (case-insensitively), type and version split reads; a history lists once', () => {
    assert.equal(firstReads([
      cls({ name: 'a' }),
      cls({ name: 'b', parameters: { keyvaultName: 'other-vault' } }),
      cls({ name: 'c', objects: ['objectName: db\nobjectType: key'] }),
      cls({ name: 'd', objects: ['objectName: db\nobjectType: secret\nobjectVersion: v2'] }),
      cls({ name: 'e', parameters: { keyvaultName: 'MY-VAULT' } }),
    ]).length, 4);
    const history = firstReads([
      cls({ name: 'a', objects: ['objectName: db\nobjectType: secret\nobjectVersionHistory: 3'] }),
      cls({ name: 'b', objects: ['objectName: db\nobjectType: secret\nobjectVersionHistory: 5'] }),
      cls({ name: 'c', objects: ['objectName: db\nobjectType: secret'] }),
    ]);
    assert.deepEqual(history.map((d) => [d.read.kind, d.classes]), [['list-versions', ['team-a/a', 'team-a/b']], ['get', ['team-a/c']]]);
  });

  it('a version picked from a listing is the same read as that version named directly', () => {
    const [direct] = readsOf(plan(cls({ objects: ['objectName: db\nobjectType: secret\nobjectVersion: v9'] })));
    const identity = { namespace: 'team-a', serviceAccount: SA, clientID: 'client-1', tenantId: 'tenant-1' };
    assert.equal(getRead('https://MY-VAULT.vault.azure.net/', identity, 'secret', 'db', 'v9').key, direct?.key);
  });
});

describe('removedSecretObjects', () => {
  it('names the Secrets a class no longer lists', () => {
    const objects = ['objectName: db-password\nobjectType: secret'];
    const before = makeClass({ objects, secretObjects: [db, { ...db, secretName: 'other' }, { ...db, secretName: 'kept' }] });
    const after = makeClass({ objects, secretObjects: [{ ...db, secretName: 'kept' }, { ...db, secretName: 'new' }] });
    assert.deepEqual(removedSecretObjects(before, after), ['db', 'other']);
    assert.deepEqual(removedSecretObjects(after, after), []);
  });
});
