import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Indexer, NAMESPACE_INDEX, namespaceOfKey } from '../../src/kube/store.ts';

interface Rs {
  deployment: string | undefined;
  revision: number;
}

const byDeployment = { deployment: (rs: Rs, key: string) => (rs.deployment ? [`${namespaceOfKey(key)[0]}/${rs.deployment}`] : []) };

describe('Indexer', () => {
  it('finds objects by a named index and by key', () => {
    const store = new Indexer<Rs>(byDeployment);
    store.set('a/web-1', { deployment: 'web', revision: 1 });
    store.set('a/web-2', { deployment: 'web', revision: 2 });
    store.set('a/api-1', { deployment: 'api', revision: 1 });
    store.set('b/web-1', { deployment: 'web', revision: 7 });
    store.set('a/orphan', { deployment: undefined, revision: 0 });
    assert.deepEqual(store.byIndex('deployment', 'a/web').map((r) => r.revision).sort(), [1, 2]);
    assert.deepEqual([...store.indexKeys('deployment', 'b/web')], ['b/web-1']);
    assert.deepEqual(store.byIndex('deployment', 'a/nothing'), []);
    assert.equal(store.get('a/api-1')?.revision, 1);
    assert.equal(store.size, 5);
  });

  it('moves an object between index values when it is replaced, and drops it from every index when deleted', () => {
    const store = new Indexer<Rs>(byDeployment);
    store.set('a/x', { deployment: 'web', revision: 1 });
    const old = store.set('a/x', { deployment: 'api', revision: 2 });
    assert.deepEqual(old, { deployment: 'web', revision: 1 });
    assert.deepEqual(store.byIndex('deployment', 'a/web'), []);
    assert.deepEqual(store.byIndex('deployment', 'a/api'), [{ deployment: 'api', revision: 2 }]);
    assert.deepEqual(store.delete('a/x'), { deployment: 'api', revision: 2 });
    assert.deepEqual(store.byIndex('deployment', 'a/api'), []);
    assert.equal(store.delete('a/x'), undefined);
    assert.equal(store.size, 0);
  });

  it('indexes an object under several values', () => {
    const store = new Indexer<string[]>({ input: (refs) => refs });
    store.set('a/app', ['secret/a/db', 'secret/a/api']);
    store.set('a/other', ['secret/a/db']);
    assert.deepEqual([...store.indexKeys('input', 'secret/a/db')].sort(), ['a/app', 'a/other']);
    assert.deepEqual([...store.indexKeys('input', 'secret/a/api')], ['a/app']);
  });

  it('keeps a namespace index from keys, as client-go’s NamespaceIndex', () => {
    const store = new Indexer<number>({ [NAMESPACE_INDEX]: (_v, key) => namespaceOfKey(key) });
    store.set('a/one', 1);
    store.set('b/two', 2);
    store.set('cluster-scoped', 3);
    assert.deepEqual(store.byIndex(NAMESPACE_INDEX, 'a'), [1]);
    assert.deepEqual(store.byIndex(NAMESPACE_INDEX, ''), [3]);
  });

  it('iterates live, without copying the store', () => {
    const store = new Indexer<number>();
    store.set('a/one', 1);
    const it = store.values();
    store.set('a/two', 2);
    assert.deepEqual([...it], [1, 2]);
  });

  it('names the missing index and the ones it has when asked for an unknown index', () => {
    const store = new Indexer<Rs>(byDeployment);
    assert.throws(() => store.byIndex('owner', 'x'), /no index named "owner" \(indexes: deployment\)/);
  });
});
