// The sync engine's edge: an informer on SecretProviderClasses feeds a queue
// of class keys; reconcile(key) reads Key Vault with the class's own
// namespace-scoped identity, renders the objects as the add-on does, and
// writes the class's secretObjects Secrets (only when their content changes).
// Each class is polled on its interval; a read cache shared by all classes
// makes one Key Vault read serve every class that needs the same (vault,
// object, version, identity). Nothing here blanks or deletes a Secret: a
// failed read leaves the last good value, with a Warning Event and a metric.
import type { NamespaceScope } from '../kube/scope.ts';
import type { TokenCredential } from '@azure/identity';
import type { KubeClient } from '../kube/client.ts';
import type { EventRecorder, ObjectRef } from '../kube/events.ts';
import { errMessage, Informer, type InformerEvent } from '../kube/informer.ts';
import { WorkQueue } from '../kube/queue.ts';
import type { KeyVaultClients } from '../keyvault/client.ts';
import type { Logger } from '../log.ts';
import { vaultScope, type WorkloadIdentities } from './identity.ts';
import { pickVersionHistory, renderObject, type FetchedObject, type RenderedFile, type RenderOptions, type VersionItem } from './render.ts';
import { failedReadMaxAgeMs, nextPollAt, readMaxAgeMs } from './schedule.ts';
import { buildSecrets, distinctReads, getRead, type KeyVaultRead, type ReadIdentity } from './secret-data.ts';
import type { SecretWriter } from './secret-writer.ts';
import {
  ANNOTATION_SYNC,
  formatProblems,
  objectId,
  parseSecretProviderClass,
  SPC_API_VERSION,
  SPC_GROUP,
  syncBlockers,
  type ObjectSpec,
  type ParsedClass,
  type Problem,
  type Result,
} from './spc.ts';

export type SyncErrorReason = 'invalid' | 'identity' | 'read' | 'throttled' | 'render' | 'write' | 'not_owned';

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
  identities: Pick<WorkloadIdentities, 'credentialForClass'>;
  keyVault: Pick<KeyVaultClients, 'vault'>;
  writer: SecretWriter;
  /** The namespaces it acts in (list, exclusions, selector); started and synced by the caller. */
  scope: NamespaceScope;
  /** Default poll interval; a class's keyvault-reloader.io/poll-interval overrides it. */
  pollIntervalMs: number;
  /** Sync every azure class, not only those annotated keyvault-reloader.io/sync: "true". */
  syncAll: boolean;
  /** The service account a class reads with when it names none (in the class's namespace). */
  defaultServiceAccount: string;
  /** Only the leader reads and writes; standbys keep their cache warm. */
  isLeader: () => boolean;
  /** Where a class's vault is reached (default its vaultUrl); an emulator maps it to a local address. */
  vaultUrlFor?: (parsed: ParsedClass) => string;
  renderOptions?: Partial<RenderOptions>;
  /** Classes reconciled at once (default 4). */
  concurrency?: number;
  watchSilenceMs?: number;
  /** Told when a class's Key Vault versions change (for the reloader). */
  onVersionsChanged?: (namespace: string, name: string, versions: ReadonlyMap<string, string>) => void;
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

type ReadOutcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

interface CachedRead {
  at: number;
  settled: boolean;
  ok: boolean;
  promise: Promise<ReadOutcome<unknown>>;
}

interface Failure {
  reason: SyncErrorReason;
  message: string;
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
  private readonly reads = new Map<string, CachedRead>();
  private readonly versions = new Map<string, Map<string, string>>();
  private readonly warned = new Map<string, string>();
  private readonly failing = new Set<string>();
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
        return { namespace: obj.metadata.namespace, name: obj.metadata.name, uid: obj.metadata.uid ?? '', parsed: parseSecretProviderClass(obj) };
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
   * undefined when the engine has not read it (yet).
   */
  knownVersions(namespace: string, className: string): ReadonlyMap<string, string> | undefined {
    return this.versions.get(`${namespace}/${className}`);
  }

  private onClass(e: InformerEvent<ClassEntry>): void {
    if (e.type === 'delete') {
      const key = e.key;
      this.versions.delete(key);
      this.warned.delete(key);
      this.failing.delete(key);
      this.opts.metrics.forget(e.old.namespace, e.old.name);
      return;
    }
    this.queue.add(e.key);
  }

  private async reconcile(key: string): Promise<void> {
    const entry = this.classes.get(key);
    if (entry === undefined) return;
    const intervalMs = (entry.parsed.ok ? entry.parsed.value.overrides.pollIntervalMs : undefined) ?? this.opts.pollIntervalMs;
    if (!this.classes.synced) return;
    try {
      if (this.opts.isLeader()) await this.sync(key, entry, intervalMs);
    } finally {
      this.queue.addAfter(key, nextPollAt(this.now(), intervalMs, this.random) - this.now());
    }
  }

  private async sync(key: string, entry: ClassEntry, intervalMs: number): Promise<void> {
    const ref: ObjectRef = { apiVersion: SPC_API_VERSION, kind: 'SecretProviderClass', namespace: entry.namespace, name: entry.name, uid: entry.uid };
    const problems: Problem[] = entry.parsed.ok ? syncBlockers(entry.parsed.value) : entry.parsed.problems;
    if (!this.reportProblems(key, ref, problems) || !entry.parsed.ok) return;
    const parsed = entry.parsed.value;
    this.pruneReads();

    let credential: TokenCredential;
    let identity: ReadIdentity;
    try {
      ({ credential, identity } = this.opts.identities.credentialForClass(parsed, this.opts.defaultServiceAccount));
      // Fail here, with the identity's own message, rather than deep in the first read.
      await credential.getToken(vaultScope(parsed.cloud));
    } catch (err) {
      this.fail(key, ref, [{ reason: 'identity', message: errMessage(err) }], parsed.secretObjects.map((s) => s.secretName));
      return;
    }

    const vaultUrl = this.opts.vaultUrlFor?.(parsed) ?? parsed.vaultUrl;
    const vault = this.opts.keyVault.vault(vaultUrl, credential);
    const read = <T>(r: KeyVaultRead, fetch: () => Promise<T>) => this.cachedRead<T>(r.key, intervalMs, fetch);
    const fetchOne = (r: KeyVaultRead & { kind: 'get' }) => read<FetchedObject>(r, () => vault.get(r.objectType, r.objectName, r.objectVersion));
    const listVersions = (r: KeyVaultRead) => read<VersionItem[]>(r, () => vault.listVersions(r.objectType, r.objectName));

    // One read per distinct object of the class, all at once; other classes share them through the cache.
    const demands = distinctReads([parsed], { defaultServiceAccount: this.opts.defaultServiceAccount });
    await Promise.all(demands.map((d) => (d.read.kind === 'get' ? fetchOne(d.read) : listVersions(d.read))));

    const failures: Failure[] = [];
    const files: RenderedFile[] = [];
    const renderInto = (spec: ObjectSpec, outcome: ReadOutcome<FetchedObject>, historyIndex?: number, version?: string) => {
      if (!outcome.ok) {
        failures.push(readFailure(spec, outcome.error, version));
        return;
      }
      const rendered = renderObject(spec, outcome.value, { ...this.opts.renderOptions, historyIndex });
      if (rendered.ok) files.push(...rendered.files);
      else failures.push({ reason: 'render', message: formatProblems([rendered.problem]) });
    };
    for (const spec of parsed.objects) {
      if (spec.objectVersionHistory <= 1) {
        renderInto(spec, await fetchOne(getRead(parsed.vaultUrl, identity, spec.objectType, spec.objectName, spec.objectVersion)));
        continue;
      }
      const demand = demands.find((d) => d.read.kind === 'list-versions' && d.consumers.some((c) => c.objectIndex === spec.index));
      const listed = demand ? await listVersions(demand.read) : { ok: false as const, error: new Error('no version listing was planned') };
      if (!listed.ok) {
        failures.push(readFailure(spec, listed.error));
        continue;
      }
      const picks = pickVersionHistory(spec, listed.value);
      if (picks.length === 0) {
        failures.push({ reason: 'read', message: `${objectId(spec)}: no enabled version${spec.objectVersion ? ` at or before ${spec.objectVersion}` : ''} was found` });
        continue;
      }
      for (const pick of picks) {
        renderInto(spec, await fetchOne(getRead(parsed.vaultUrl, identity, spec.objectType, spec.objectName, pick.version)), pick.index, pick.version);
      }
    }
    this.recordVersions(key, entry, files);

    const built = buildSecrets(parsed, files);
    // A Secret whose file is missing because its read failed is that read's failure, already listed.
    if (failures.length === 0) {
      for (const f of built.failed) failures.push({ reason: 'render', message: `Secret ${f.secretName}: ${formatProblems(f.problems)}` });
    }
    const kept = built.failed.map((f) => f.secretName);
    const versionsOf = (secretName: string): string => {
      const so = parsed.secretObjects.find((s) => s.secretName === secretName);
      const used = new Set(so?.data.map((d) => d.objectName));
      const parts = files.filter((f) => used.has(f.fileName)).map((f) => `${f.id}@${f.version}`);
      return parts.length > 0 ? `from ${[...new Set(parts)].join(', ')}` : '';
    };
    const applied = await this.opts.writer.apply(parsed, built.secrets, versionsOf);
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
      if (this.failing.delete(key)) {
        this.opts.events.emit(ref, 'Normal', 'SyncRecovered', `synced again: ${built.secrets.map((s) => s.metadata?.name).join(', ') || 'no secretObjects'}`);
        this.opts.log.info({ class: key }, 'sync recovered');
      }
      return;
    }
    this.fail(key, ref, failures.filter((f) => f.reason !== 'not_owned'), kept);
  }

  // Warns once per distinct set of problems; returns whether the class can be synced.
  private reportProblems(key: string, ref: ObjectRef, problems: Problem[]): boolean {
    const text = formatProblems(problems);
    const before = this.warned.get(key) ?? '';
    if (text !== before) {
      this.warned.set(key, text);
      if (text !== '') {
        this.opts.events.emit(ref, 'Warning', 'InvalidSecretProviderClass', `not synced: ${text}`);
        this.opts.log.warn({ class: key, problems }, 'invalid SecretProviderClass: not synced');
      } else if (before !== '') {
        this.opts.log.info({ class: key }, 'SecretProviderClass valid again');
      }
    }
    if (text !== '') this.opts.metrics.syncError(ref.namespace, ref.name, 'invalid');
    return text === '';
  }

  // `kept`: the Secrets not written this round, which keep their last good value.
  private fail(key: string, ref: ObjectRef, failures: Failure[], kept: string[]): void {
    if (failures.length === 0) return;
    this.failing.add(key);
    for (const reason of new Set(failures.map((f) => f.reason))) this.opts.metrics.syncError(ref.namespace, ref.name, reason);
    const keep = kept.length > 0 ? ` Left unchanged (last good value kept): Secret ${kept.join(', ')}.` : '';
    this.opts.events.emit(ref, 'Warning', 'SyncFailed', `${failures.map((f) => f.message).join('; ')}.${keep}`);
    this.opts.log.warn({ class: key, failures: failures.map((f) => ({ reason: f.reason, message: f.message })), kept }, 'sync failed; last good values kept');
  }

  private recordVersions(key: string, entry: ClassEntry, files: readonly RenderedFile[]): void {
    const known = new Map(this.versions.get(key) ?? []);
    let changed = !this.versions.has(key) && files.length > 0;
    for (const f of files) {
      if (known.get(f.id) !== f.version) changed = true;
      known.set(f.id, f.version);
    }
    if (!changed) return;
    this.versions.set(key, known);
    this.opts.onVersionsChanged?.(entry.namespace, entry.name, known);
  }

  // A read shared by every class that needs it: one in flight per key; a
  // result serves for half the reader's interval, a failure for a few seconds.
  private cachedRead<T>(key: string, intervalMs: number, fetch: () => Promise<T>): Promise<ReadOutcome<T>> {
    const now = this.now();
    const cached = this.reads.get(key);
    if (cached !== undefined) {
      const maxAge = cached.ok ? readMaxAgeMs(intervalMs) : failedReadMaxAgeMs(intervalMs);
      if (!cached.settled || now - cached.at < maxAge) return cached.promise as Promise<ReadOutcome<T>>;
    }
    const entry: CachedRead = { at: now, settled: false, ok: false, promise: Promise.resolve({ ok: false, error: undefined }) };
    entry.promise = fetch().then(
      (value) => {
        Object.assign(entry, { settled: true, ok: true, at: this.now() });
        return { ok: true as const, value };
      },
      (error: unknown) => {
        Object.assign(entry, { settled: true, ok: false, at: this.now() });
        return { ok: false as const, error };
      },
    );
    this.reads.set(key, entry);
    return entry.promise as Promise<ReadOutcome<T>>;
  }

  private pruneReads(): void {
    const now = this.now();
    if (now - this.lastPrune < 60_000) return;
    this.lastPrune = now;
    // Nothing older than the longest interval in use is ever served again.
    let longest = this.opts.pollIntervalMs;
    for (const entry of this.classes.values()) {
      if (entry.parsed.ok) longest = Math.max(longest, entry.parsed.value.overrides.pollIntervalMs ?? 0);
    }
    for (const [key, read] of this.reads) if (read.settled && now - read.at > longest) this.reads.delete(key);
  }
}

function readFailure(spec: ObjectSpec, error: unknown, version?: string): Failure {
  const kind = (error as { kind?: string } | undefined)?.kind;
  const what = `${objectId(spec)}${version ? ` (version ${version})` : ''}`;
  return { reason: kind === 'throttled' ? 'throttled' : 'read', message: `could not read ${what}: ${errMessage(error)}` };
}
