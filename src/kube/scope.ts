// Which namespaces the controller acts in: a list (watched path by path),
// exclusions, and a label selector over Namespaces. One scope serves every
// informer of both engines, so they always agree on what is in bounds.
import type { Logger } from '../log.ts';
import type { KubeClient } from './client.ts';
import { Informer } from './informer.ts';

export interface ScopeOptions {
  /** Namespaces to watch; empty means all. */
  namespaces: string[];
  excludeNamespaces: string[];
  /** Label selector over Namespaces (e.g. `keyvault-reloader.io/enabled=true`). */
  namespaceSelector?: string | undefined;
}

export class NamespaceScope {
  /** Present only with a selector: the Namespaces that match it. */
  readonly selected: Informer<true> | undefined;
  private readonly listed: string[];
  private readonly excluded: Set<string>;
  private readonly changeHandlers = new Set<() => void>();

  constructor(opts: ScopeOptions & { client: KubeClient; log: Logger; silenceMs?: number }) {
    this.listed = opts.namespaces;
    this.excluded = new Set(opts.excludeNamespaces);
    if (opts.namespaceSelector) {
      this.selected = new Informer<true>({
        name: 'namespaces',
        client: opts.client,
        paths: ['/api/v1/namespaces'],
        labelSelector: opts.namespaceSelector,
        metadataOnly: true,
        log: opts.log,
        silenceMs: opts.silenceMs,
        transform: () => true,
      });
      // A namespace entering or leaving the selection changes what other caches should hold.
      this.selected.addEventHandler((e) => {
        if (e.type !== 'update') this.changeHandlers.forEach((f) => f());
      });
    }
  }

  /** Collection paths for a resource: one per listed namespace, or one cluster-wide. */
  paths(groupVersionPath: string, plural: string): string[] {
    return this.listed.length === 0 ? [`${groupVersionPath}/${plural}`] : this.listed.map((ns) => `${groupVersionPath}/namespaces/${ns}/${plural}`);
  }

  includes(namespace: string | undefined): boolean {
    if (!namespace || this.excluded.has(namespace)) return false;
    return this.selected ? this.selected.get(namespace) === true : true;
  }

  /**
   * This scope further limited to `namespaces` (the sync engine's own list,
   * which config.ts keeps within the controller's): its paths are theirs and
   * it includes nothing else. Empty: this scope itself.
   */
  within(namespaces: readonly string[]): Pick<NamespaceScope, 'paths' | 'includes' | 'onChange'> {
    if (namespaces.length === 0) return this;
    const only = new Set(namespaces);
    return {
      paths: (groupVersionPath, plural) => [...only].map((ns) => `${groupVersionPath}/namespaces/${ns}/${plural}`),
      includes: (namespace) => namespace !== undefined && only.has(namespace) && this.includes(namespace),
      onChange: (handler) => this.onChange(handler),
    };
  }

  /** Called when the selection changes; informers then re-list so that their caches match it. */
  onChange(handler: () => void): void {
    this.changeHandlers.add(handler);
  }

  start(): void {
    this.selected?.start();
  }

  stop(): void {
    this.selected?.stop();
  }

  waitForSync(): Promise<void> {
    return this.selected?.waitForSync() ?? Promise.resolve();
  }

  get informers(): Informer<unknown>[] {
    return this.selected ? [this.selected as Informer<unknown>] : [];
  }
}
