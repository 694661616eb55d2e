// The informer's cache, after client-go's cache.Indexer: objects by key
// (`namespace/name`), plus named indexes kept current on every write, so a
// reader asks "the ReplicaSets of this Deployment" or "the workloads that use
// this Secret" and pays for what it gets, never for the size of the cluster.

/** The values an object is indexed under (none: not in that index). Must depend on the value alone: it is asked again to unindex. */
export type IndexFunc<T> = (value: T, key: string) => readonly string[];

export type Indexers<T> = Readonly<Record<string, IndexFunc<T>>>;

/** client-go's NamespaceIndex: every object under its namespace (from its key). */
export const NAMESPACE_INDEX = 'namespace';

export function namespaceOfKey(key: string): readonly string[] {
  const slash = key.indexOf('/');
  return slash < 0 ? [''] : [key.slice(0, slash)];
}

const NONE: ReadonlySet<string> = new Set();

export class Indexer<T> {
  private readonly items = new Map<string, T>();
  private readonly indexers: Indexers<T>;
  /** index name → indexed value → keys */
  private readonly indices = new Map<string, Map<string, Set<string>>>();

  constructor(indexers: Indexers<T> = {}) {
    this.indexers = indexers;
    for (const name of Object.keys(indexers)) this.indices.set(name, new Map());
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  has(key: string): boolean {
    return this.items.has(key);
  }

  get size(): number {
    return this.items.size;
  }

  /** Live iteration over the store, no copy; for work that is about everything (a resync), not for lookups. */
  values(): IterableIterator<T> {
    return this.items.values();
  }

  keys(): IterableIterator<string> {
    return this.items.keys();
  }

  /** The keys indexed under `value` in index `name`. */
  indexKeys(name: string, value: string): ReadonlySet<string> {
    return this.index(name).get(value) ?? NONE;
  }

  /** The objects indexed under `value` in index `name`. */
  byIndex(name: string, value: string): T[] {
    const out: T[] = [];
    for (const key of this.indexKeys(name, value)) out.push(this.items.get(key)!);
    return out;
  }

  /** Adds or replaces; returns the previous value. */
  set(key: string, value: T): T | undefined {
    const old = this.items.get(key);
    if (old !== undefined) this.unindex(key, old);
    this.items.set(key, value);
    for (const [name, fn] of Object.entries(this.indexers)) {
      const index = this.indices.get(name)!;
      for (const v of fn(value, key)) {
        let keys = index.get(v);
        if (!keys) index.set(v, (keys = new Set()));
        keys.add(key);
      }
    }
    return old;
  }

  /** Removes; returns the value it had. */
  delete(key: string): T | undefined {
    const old = this.items.get(key);
    if (old === undefined) return undefined;
    this.unindex(key, old);
    this.items.delete(key);
    return old;
  }

  private unindex(key: string, value: T): void {
    for (const [name, fn] of Object.entries(this.indexers)) {
      const index = this.indices.get(name)!;
      for (const v of fn(value, key)) {
        const keys = index.get(v);
        keys?.delete(key);
        if (keys?.size === 0) index.delete(v);
      }
    }
  }

  private index(name: string): Map<string, Set<string>> {
    const index = this.indices.get(name);
    if (!index) throw new Error(`no index named ${JSON.stringify(name)} (indexes: ${[...this.indices.keys()].join(', ') || 'none'})`);
    return index;
  }
}
