// The sync engine's edge: an informer on SecretProviderClasses feeds a queue
// of class keys; reconcile(key) performs the class's plan (plan.ts): it reads
// what the plan asks with the class's own namespace-scoped identity, plans
// again with the results, and writes the Secrets the plan says (only when
// their content changes). Each class is polled on its interval; a read cache
// shared by all classes makes one Key Vault read serve every class that needs
// the same (vault, object, version, identity). Nothing here blanks or deletes
// a Secret: a failed read leaves the last good value, with a Warning Event
// and a metric, and the class is tried again with backoff.
import type { TokenCredential } from '@azure/identity';
import type { KubeClient } from '../kube/client.ts';
import type { EventRecorder, ObjectRef } from '../kube/events.ts';
import { errMessage, Informer, type InformerEvent } from '../kube/informer.ts';
import { WorkQueue } from '../kube/queue.ts';
import type { NamespaceScope } from '../kube/scope.ts';
import type { KeyVaultClients, VaultReader } from '../keyvault/client.ts';
import type { CloudCatalog } from '../keyvault/cloud.ts';
import type { Logger } from '../log.ts';
import { vaultScope, type WorkloadIdentities } from './identity.ts';
import { planClassSync, removedSecretObjects, type ObjectVersions, type ReadResult, type SyncErrorReason, type SyncFailure, type SyncPlan } from './plan.ts';
import { classIdentity, identityKey, type KeyVaultRead, type ReadIdentity } from './reads.ts';
import type { RenderOptions } from './render/object.ts';
import { failedReadMaxAgeMs, failureRetryDelayMs, nextPollAt, readMaxAgeMs } from './schedule.ts';
import type { SecretWriter } from './secret-writer.ts';
import { ANNOTATION_SYNC, formatProblems, parseSecretProviderClass, SPC_API_VERSION, SPC_GROUP, type ParsedClass, type Problem, type Result } from './spc.ts';

export type { SyncErrorReason } from './plan.ts';

export interface SyncMetrics {
  syncError(namespace: string, className: string, reason: SyncErrorReason): void;
  syncSuccess(namespace: string, className: string, atMs: number): void;
  /** The class is gone or no longer synced: drop its series. */
  forget(namespace: string, className: string): void;
}

export interface SyncEngineOptions {
  client: KubeClient;
  log: Logger;
  events: EventRecorder;
  metrics: SyncMetrics;
  /** The clouds classes can name (default: the built-in ones). */
  clouds?: CloudCatalog;
  identities: Pick<WorkloadIdentities, 'credentialFor' | 'forget'>;
  keyVault: Pick<KeyVaultClients, 'vault' | 'forget'>;
  writer: SecretWriter;
  /** The namespaces it acts in (list, exclusions, selector, --sync-namespaces); started and synced by the caller. */
  scope: Pick<NamespaceScope, 'paths' | 'includes' | 'onChange'>;
  /** Default poll interval; a class's keyvault-reloader.io/poll-interval overrides it. */
  pollIntervalMs: number;
  /** Sync every azure class, not only those annotated keyvault-reloader.io/sync: "true". */
  syncAll: boolean;
  /** The service account a class reads with when it names none (in the class's namespace). */
  defaultServiceAccount: string;
  /** Only the leader reads and writes; standbys keep their cache warm. */
  isLeader: () => boolean;
  renderOptions?: Partial<RenderOptions>;
  /** Classes reconciled at once (default 4). */
  concurrency?: number;
  watchSilenceMs?: number;
  /** Told when the Key Vault versions a class holds change, and (with undefined) when they are forgotten. */
  onVersionsChanged?: (namespace: string, name: string, versions: ObjectVersions | undefined) => void;
  now?: () => number;
  random?: () => number;
}

/** A class as the informer keeps it: parsed once per resourceVersion. */
export interface ClassEntry {
  namespace: string;
  name: string;
  uid: string;
  parsed: Result<ParsedClass>;
}

interface CachedRead {
  at: number;
  /** How long this read may serve others (set when it settles). */
  maxAgeMs: number;
  settled: boolean;
  promise: Promise<ReadResult>;
}

/** What a class holds on to between syncs, dropped with the class. */
interface ClassState {
  versions?: ObjectVersions;
  warned: string;
  failures: number;
  /** It has been tried once at least (versions or not). */
  tried?: boolean;
  /** The identity and vault it last read with: the identities and vault clients it keeps alive. */
  identity?: string;
  vault?: string;
}

/** Whether the engine handles a class at all: azure, in scope, and opted in (or sync-all). */
export function isSyncCandidate(obj: any, syncAll: boolean): boolean {
  if (obj?.spec?.provider !== 'azure') return false;
  const value = obj?.metadata?.annotations?.[ANNOTATION_SYNC];
  if (value === undefined) return syncAll;
  // Any value other than "false" is an attempt to opt in; a malformed one is reported, not ignored.
  return String(value).trim() !== 'false';
}

export class SyncEngine {
  readonly classes: Informer<ClassEntry>;
  readonly queue: WorkQueue;
  private readonly opts: SyncEngineOptions;
  private readonly state = new Map<string, ClassState>();
  /**
   * Per identity: the classes that read with it (the last one to go releases
   * its credential) and its reads, which only it can use.
   */
  private readonly identityUsers = new Map<string, { identity: ReadIdentity; classes: Set<string>; reads: Map<string, CachedRead> }>();
  /** The classes that read each vault, so the last one to go releases its client. */
  private readonly vaultUsers = new Map<string, Set<string>>();
  private readonly now: () => number;
  private readonly random: () => number;
  private lastPrune = 0;

  constructor(opts: SyncEngineOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    const base = `/apis/${SPC_GROUP}/v1`;
    const paths = opts.scope.paths(base, 'secretproviderclasses');
    this.classes = new Informer<ClassEntry>({
      name: 'secretproviderclasses-sync',
      client: opts.client,
      paths,
      log: opts.log,
      silenceMs: opts.watchSilenceMs,
      transform: (obj) => {
        if (!opts.scope.includes(obj?.metadata?.namespace) || !isSyncCandidate(obj, opts.syncAll)) return null;
        return { namespace: obj.metadata.namespace, name: obj.metadata.name, uid: obj.metadata.uid ?? '', parsed: parseSecretProviderClass(obj, { clouds: opts.clouds }) };
      },
    });
    this.queue = new WorkQueue({
      handler: (key) => this.reconcile(key),
      concurrency: opts.concurrency ?? 4,
      onError: (key, err) => {
        opts.log.error({ class: key, err: errMessage(err) }, 'sync reconcile failed; retrying');
        this.queue.addAfter(key, 5000 + this.random() * 5000);
      },
    });
    opts.scope.onChange(() => this.classes.relist());
    this.classes.addEventHandler((e) => this.onClass(e));
  }

  get informers(): Informer<unknown>[] {
    return [this.classes] as Informer<unknown>[];
  }

  start(): void {
    this.classes.start();
    // Events of the initial list arrive before the cache is complete; look at everything once it is.
    void this.classes.waitForSync().then(() => this.resyncAll());
  }

  stop(): void {
    this.queue.stop();
    this.classes.stop();
  }

  async waitForSync(): Promise<void> {
    await this.classes.waitForSync();
  }

  get synced(): boolean {
    return this.classes.synced;
  }

  healthy(): boolean {
    return this.classes.healthy();
  }

  /** Syncs every class now: at start-up and when this replica becomes leader. */
  resyncAll(): void {
    for (const entry of this.classes.values()) this.queue.add(`${entry.namespace}/${entry.name}`);
  }

  async idle(): Promise<void> {
    await this.queue.idle();
  }

  /**
   * The Key Vault versions last read for a class, by object id
   * (`secret/db-password`, `secret/db-password/0` for history entries);
   * 'pending' while the engine syncs the class but has not tried it yet;
   * undefined when it does not sync it, or its first sync read nothing
   * (invalid, or failed: then the pods' own reports are all there is).
   */
  knownVersions(namespace: string, className: string): ObjectVersions | 'pending' | undefined {
    const key = `${namespace}/${className}`;
    const state = this.state.get(key);
    if (state?.versions !== undefined) return state.versions;
    const entry = this.classes.get(key);
    if (entry === undefined || state?.tried) return undefined;
    return 'pending';
  }

  /** Entries per in-memory cache: what the engine holds, for the metrics and the memory tests. */
  cacheSizes(): Record<string, number> {
    let reads = 0;
    for (const users of this.identityUsers.values()) reads += users.reads.size;
    return { classes: this.state.size, identities: this.identityUsers.size, vaults: this.vaultUsers.size, reads };
  }

  private onClass(e: InformerEvent<ClassEntry>): void {
    if (e.type === 'delete') {
      this.forgetClass(e.key, e.old);
      return;
    }
    // Every replica sees the edit; only the leader says so.
    if (e.type === 'update' && e.old.parsed.ok && e.value.parsed.ok && this.opts.isLeader()) this.warnRemoved(e.value, removedSecretObjects(e.old.parsed.value, e.value.parsed.value));
    this.queue.add(e.key);
  }

  private forgetClass(key: string, entry: ClassEntry): void {
    const had = this.state.get(key)?.versions !== undefined;
    this.release(key);
    this.state.delete(key);
    this.opts.metrics.forget(entry.namespace, entry.name);
    if (had) this.opts.onVersionsChanged?.(entry.namespace, entry.name, undefined);
  }

  private async reconcile(key: string): Promise<void> {
    const entry = this.classes.get(key);
    if (entry === undefined || !this.classes.synced) return;
    const intervalMs = (entry.parsed.ok ? entry.parsed.value.overrides.pollIntervalMs : undefined) ?? this.opts.pollIntervalMs;
    let ok = true;
    try {
      if (this.opts.isLeader()) {
        ok = await this.sync(key, entry, intervalMs);
        this.tried(key, entry);
      }
    } finally {
      const failures = this.state.get(key)?.failures ?? 0;
      // A failing class is tried again sooner than its interval at first, then less and less often.
      const delay = !ok && failures > 0 ? failureRetryDelayMs(failures, intervalMs, this.random) : nextPollAt(this.now(), intervalMs, this.random) - this.now();
      if (this.classes.get(key) !== undefined) this.queue.addAfter(key, delay);
      // Deleted while it synced: what the sync recorded after the delete is dropped too.
      else this.forgetClass(key, entry);
    }
  }

  /** Performs the class's plan; returns whether it synced without failure. */
  private async sync(key: string, entry: ClassEntry, intervalMs: number): Promise<boolean> {
    const ref: ObjectRef = { apiVersion: SPC_API_VERSION, kind: 'SecretProviderClass', namespace: entry.namespace, name: entry.name, uid: entry.uid };
    const state = this.stateOf(key);
    const input = { parsed: entry.parsed, defaultServiceAccount: this.opts.defaultServiceAccount, previousVersions: state.versions, renderOptions: this.opts.renderOptions };
    const results = new Map<string, ReadResult>();
    let plan: SyncPlan = planClassSync({ ...input, results });
    if (plan.action === 'invalid') {
      this.reportProblems(key, ref, plan.problems);
      return true;
    }
    const parsed = (entry.parsed as { value: ParsedClass }).value;
    this.reportProblems(key, ref, parsed.refusedSecretObjects.flatMap((r) => r.problems), parsed.refusedSecretObjects.map((r) => r.secretName));
    this.pruneReads();

    let vault: VaultReader;
    try {
      const identity = classIdentity(parsed, this.opts.defaultServiceAccount);
      const credential: TokenCredential = this.opts.identities.credentialFor(identity, parsed.cloud);
      this.use(key, identity, parsed.vaultUrl);
      // Fail here, with the identity's own message, rather than deep in the first read.
      await credential.getToken(vaultScope(parsed.cloud));
      vault = this.opts.keyVault.vault(parsed.vaultUrl, credential);
    } catch (err) {
      this.fail(key, ref, [{ reason: 'identity', message: errMessage(err) }], parsed.secretObjects.map((s) => s.secretName));
      return false;
    }

    while (plan.action === 'read') {
      const reads = plan.reads;
      const outcomes = await Promise.all(reads.map((r) => this.cachedRead(r, vault, intervalMs)));
      reads.forEach((r, i) => results.set(r.key, outcomes[i] as ReadResult));
      plan = planClassSync({ ...input, results });
    }
    if (plan.action !== 'write') return true;
    this.recordVersions(key, entry, plan.versions);

    const failures: SyncFailure[] = [...plan.failures];
    const sources = plan.sources;
    const applied = await this.opts.writer.apply(parsed, plan.secrets, (name) => sources[name] ?? '');
    for (const a of applied) {
      if (a.outcome === 'failed') failures.push({ reason: 'write', message: a.message ?? `could not write Secret ${a.secretName}` });
      if (a.outcome === 'not-owned' || a.outcome === 'type-immutable') {
        // The writer has already put a Warning Event on the class.
        this.opts.metrics.syncError(entry.namespace, entry.name, 'not_owned');
        failures.push({ reason: 'not_owned', message: a.message ?? '' });
      }
    }

    if (failures.length === 0) {
      this.opts.metrics.syncSuccess(entry.namespace, entry.name, this.now());
      if (state.failures > 0) {
        state.failures = 0;
        this.opts.events.emit(ref, 'Normal', 'SyncRecovered', `synced again: ${plan.secrets.map((s) => s.metadata?.name).join(', ') || 'no secretObjects'}`);
        this.opts.log.info({ class: key }, 'sync recovered');
      }
      return true;
    }
    this.fail(key, ref, failures.filter((f) => f.reason !== 'not_owned'), plan.kept);
    return failures.every((f) => f.reason === 'not_owned');
  }

  // The reloader holds a class's mounted input back until its first sync; one that read nothing
  // (invalid, or failed) hands it back to the pods' own reports.
  private tried(key: string, entry: ClassEntry): void {
    const state = this.stateOf(key);
    if (state.tried) return;
    state.tried = true;
    if (state.versions === undefined) this.opts.onVersionsChanged?.(entry.namespace, entry.name, undefined);
  }

  private stateOf(key: string): ClassState {
    let state = this.state.get(key);
    if (state === undefined) this.state.set(key, (state = { warned: '', failures: 0 }));
    return state;
  }

  // Warns once per distinct set of problems. With `refused`, only those
  // secretObjects entries are refused: the class's other Secrets are synced.
  private reportProblems(key: string, ref: ObjectRef, problems: Problem[], refused?: string[]): void {
    const state = this.stateOf(key);
    const text = formatProblems(problems);
    const before = state.warned;
    if (text !== before) {
      state.warned = text;
      if (text !== '') {
        const named = refused?.filter((n) => n !== '') ?? [];
        const what = refused === undefined ? 'not synced' : `${named.length > 0 ? `Secret ${named.join(', ')}` : 'some secretObjects'} not synced (the class's other Secrets are)`;
        this.opts.events.emit(ref, 'Warning', 'InvalidSecretProviderClass', `${what}: ${text}`);
        this.opts.log.warn({ class: key, problems, ...(refused ? { secrets: refused } : {}) }, refused ? 'secretObjects entries refused: not synced' : 'invalid SecretProviderClass: not synced');
      } else if (before !== '') {
        this.opts.log.info({ class: key }, 'SecretProviderClass valid again');
      }
    }
    if (text !== '') {
      this.opts.metrics.syncError(ref.namespace, ref.name, 'invalid');
      // An invalid class reads nothing: it keeps no identity or vault alive.
      if (refused === undefined) this.release(key);
    }
  }

  // `kept`: the Secrets not written this round, which keep their last good value.
  private fail(key: string, ref: ObjectRef, failures: SyncFailure[], kept: string[]): void {
    if (failures.length === 0) return;
    this.stateOf(key).failures++;
    for (const reason of new Set(failures.map((f) => f.reason))) this.opts.metrics.syncError(ref.namespace, ref.name, reason);
    const keep = kept.length > 0 ? ` Left unchanged (last good value kept): Secret ${kept.join(', ')}.` : '';
    this.opts.events.emit(ref, 'Warning', 'SyncFailed', `${failures.map((f) => f.message).join('; ')}.${keep}`);
    this.opts.log.warn({ class: key, failures: failures.map((f) => ({ reason: f.reason, message: f.message })), kept }, 'sync failed; last good values kept');
  }

  private warnRemoved(entry: ClassEntry, removed: string[]): void {
    if (removed.length === 0) return;
    const ref: ObjectRef = { apiVersion: SPC_API_VERSION, kind: 'SecretProviderClass', namespace: entry.namespace, name: entry.name, uid: entry.uid };
    const list = removed.join(', ');
    this.opts.events.emit(ref, 'Warning', 'SecretObjectRemoved', `secretObjects no longer lists Secret ${list}: it is kept as it is and no longer updated (pods may still use it); it is deleted with this class, or delete it yourself once nothing uses it`);
    this.opts.log.warn({ class: `${entry.namespace}/${entry.name}`, secrets: removed }, 'secretObjects entry removed: its Secret is kept, no longer updated');
  }

  private recordVersions(key: string, entry: ClassEntry, versions: ObjectVersions): void {
    const state = this.stateOf(key);
    if (state.versions !== undefined && sameVersions(state.versions, versions)) return;
    state.versions = versions;
    this.opts.onVersionsChanged?.(entry.namespace, entry.name, versions);
  }

  // The identity and vault a class reads with; the previous ones are released if it changed.
  private use(key: string, identity: ReadIdentity, vaultUrl: string): void {
    const state = this.stateOf(key);
    const id = identityKey(identity);
    const vault = new URL(vaultUrl).host.toLowerCase();
    if (state.identity === id && state.vault === vault) return;
    this.release(key);
    state.identity = id;
    state.vault = vault;
    let users = this.identityUsers.get(id);
    if (users === undefined) this.identityUsers.set(id, (users = { identity, classes: new Set(), reads: new Map() }));
    users.classes.add(key);
    let vaultUsers = this.vaultUsers.get(vault);
    if (vaultUsers === undefined) this.vaultUsers.set(vault, (vaultUsers = new Set()));
    vaultUsers.add(key);
  }

  // Drops what only this class kept alive: its identity's credential and token, its vault's client.
  private release(key: string): void {
    const state = this.state.get(key);
    const id = state?.identity;
    const vault = state?.vault;
    if (state !== undefined) {
      state.identity = undefined;
      state.vault = undefined;
    }
    const users = id === undefined ? undefined : this.identityUsers.get(id);
    if (id !== undefined && users !== undefined) {
      users.classes.delete(key);
      if (users.classes.size === 0) {
        this.identityUsers.delete(id);
        this.opts.identities.forget(users.identity);
      }
    }
    const vaultUsers = vault === undefined ? undefined : this.vaultUsers.get(vault);
    if (vault !== undefined && vaultUsers !== undefined) {
      vaultUsers.delete(key);
      if (vaultUsers.size === 0) {
        this.vaultUsers.delete(vault);
        this.opts.keyVault.forget(vault);
      }
    }
  }

  // A read shared by every class that needs it: one in flight per key; a
  // result serves for half the reader's interval, a failure for a few seconds.
  private cachedRead(read: KeyVaultRead, vault: VaultReader, intervalMs: number): Promise<ReadResult> {
    const now = this.now();
    // use() has registered the identity before any read of it.
    const reads = this.identityUsers.get(identityKey(read.identity))?.reads ?? new Map<string, CachedRead>();
    const cached = reads.get(read.key);
    if (cached !== undefined && (!cached.settled || now - cached.at < cached.maxAgeMs)) return cached.promise;
    const entry: CachedRead = { at: now, maxAgeMs: 0, settled: false, promise: Promise.resolve({ ok: false, failure: { reason: 'read', message: '' } }) };
    const settle = (result: ReadResult): ReadResult => {
      Object.assign(entry, { settled: true, at: this.now(), maxAgeMs: result.ok ? readMaxAgeMs(intervalMs) : failedReadMaxAgeMs(intervalMs) });
      return result;
    };
    const fetched: Promise<ReadResult> =
      read.kind === 'get'
        ? vault.get(read.objectType, read.objectName, read.objectVersion).then((value) => ({ ok: true, kind: 'get', value }))
        : vault.listVersions(read.objectType, read.objectName).then((value) => ({ ok: true, kind: 'list-versions', value }));
    entry.promise = fetched.then(settle, (error: unknown) => settle({ ok: false, failure: { reason: (error as { kind?: string } | undefined)?.kind === 'throttled' ? 'throttled' : 'read', message: errMessage(error) } }));
    reads.set(read.key, entry);
    return entry.promise;
  }

  // Every settled read past its age serves nobody again.
  private pruneReads(): void {
    const now = this.now();
    if (now - this.lastPrune < 10_000) return;
    this.lastPrune = now;
    for (const { reads } of this.identityUsers.values()) {
      for (const [key, read] of reads) if (read.settled && now - read.at >= read.maxAgeMs) reads.delete(key);
    }
  }
}

function sameVersions(a: ObjectVersions, b: ObjectVersions): boolean {
  if (a.size !== b.size) return false;
  for (const [id, version] of a) if (b.get(id) !== version) return false;
  return true;
}
