// The reloader's edge: informers feed a queue of workload keys; reconcile()
// reads the cache, asks decide(), and writes at most one patch. Level-
// triggered: every path (event, re-list, start-up, leader change) ends in the
// same reconcile of the same observed state, so none of them restarts anything
// that has not changed.
import PQueue from 'p-queue';
import { formatDuration } from '../core/duration.ts';
import { SlidingWindowLimiter } from '../core/rate-limit.ts';
import { KubeError, PATCH, type KubeClient } from '../kube/client.ts';
import type { EventRecorder, EventType, ObjectRef } from '../kube/events.ts';
import { errMessage, Informer, type InformerEvent } from '../kube/informer.ts';
import { DEFAULT_RETRY, WorkQueue } from '../kube/queue.ts';
import type { NamespaceScope } from '../kube/scope.ts';
import type { Logger } from '../log.ts';
import { ANNOTATIONS, type AnnotationOptions, type Problem } from './annotations.ts';
import { decide, formatBaseline, parseBaseline, stalledRollout, type Baseline, type Decision, type Inputs } from './decide.ts';
import { MountedVersions, type KnownVersions } from './mounted.ts';
import type { Keyring } from './digest.ts';
import { BY_INPUT, classRef, inputRefs, projectSecret, projectWorkload, secretRef, WORKLOAD_RESOURCES, workloadKey, type SecretInfo, type WorkloadInfo, type WorkloadKind } from './workloads.ts';

export interface ReloaderMetrics {
  restart(kind: WorkloadKind, result: 'restarted' | 'failed' | 'dry_run' | 'manual_required'): void;
  reaction(seconds: number): void;
  deferred(reason: string): void;
  queueDepth(n: number): void;
  /** Rollouts this controller started and that have not finished, by state. */
  rollouts(state: 'rolling' | 'stalled', n: number): void;
}

export interface ReloaderOptions {
  client: KubeClient;
  log: Logger;
  keyring: Keyring;
  events: EventRecorder;
  metrics: ReloaderMetrics;
  annotations: AnnotationOptions;
  /** The namespaces it acts in (list, exclusions, selector); started and synced by the caller. */
  scope: NamespaceScope;
  secretSelector: string | undefined;
  settleMs: number;
  minRestartIntervalMs: number;
  restartsPerSecond: number;
  maxInFlight: number;
  dryRun: boolean;
  /** Only the leader writes; standbys keep their caches warm. */
  isLeader: () => boolean;
  /** Follow the versions the CSI driver records per pod (SecretProviderClassPodStatus); default true. */
  mounted?: boolean;
  /** The sync engine's versions per class, when it runs in this process (see MountedVersions). */
  knownVersions?: KnownVersions;
  now?: () => number;
  /** A watch silent for this long is restarted (default 2 min; tests shorten it). */
  watchSilenceMs?: number;
  /** A rollout not finished this long after it started counts as stalled (default 10 min, --rollout-timeout). */
  rolloutTimeoutMs?: number;
}

/**
 * Secrets no workload can reference, skipped by the server: Helm's release records
 * (one per release revision, each its whole gzipped manifest, often the largest
 * Secrets in a cluster) are read by Helm, never mounted by a pod.
 */
export const SECRET_FIELD_SELECTOR = 'type!=helm.sh/release.v1';

export const DEFAULT_ROLLOUT_TIMEOUT_MS = 10 * 60_000;

/** The Warning given when a write is refused, by what the write was for. */
const REFUSED = { restart: ['Warning', 'RestartFailed'], baseline: ['Warning', 'BaselineFailed'] } as const;

/** However often an input keeps changing, a restart waits at most this long (or 5 settle windows). */
const MAX_SETTLE_FLOOR_MS = 30_000;

/** A change is acted on after its settle window; this is when it was seen. */
interface PendingChange {
  since: number;
  /** When the event that first made it pending arrived, for the reaction-latency metric. */
  firstEventAt: number;
}

export class ReloaderController {
  readonly secrets: Informer<SecretInfo>;
  readonly workloads: Map<WorkloadKind, Informer<WorkloadInfo>>;
  readonly queue: WorkQueue;
  readonly mounted: MountedVersions | undefined;
  private readonly opts: ReloaderOptions;
  private readonly patches: PQueue;
  private readonly restartRate: SlidingWindowLimiter;
  private readonly pending = new Map<string, PendingChange>();
  /** Rollouts started here that hold a place under maxInFlight: key → the resourceVersion the restart patched. */
  private readonly inFlight = new Map<string, string>();
  /** Rollouts started here that stalled: they no longer hold a place. */
  private readonly stalled = new Set<string>();
  /** When each workload's current rollout was first seen in progress (or started here). */
  private readonly rolloutSince = new Map<string, number>();
  private readonly rolloutTimeoutMs: number;
  private readonly warnedProblems = new Map<string, string>();
  /** The last write failure reported per workload: one Warning per distinct error, not one per retry. */
  private readonly reportedFailures = new Map<string, string>();
  private readonly now: () => number;

  constructor(opts: ReloaderOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.rolloutTimeoutMs = opts.rolloutTimeoutMs ?? DEFAULT_ROLLOUT_TIMEOUT_MS;
    const paths = (group: string, plural: string) => opts.scope.paths(group, plural);
    const inScope = (obj: any) => opts.scope.includes(obj?.metadata?.namespace);
    this.secrets = new Informer<SecretInfo>({
      name: 'secrets',
      client: opts.client,
      paths: paths('/api/v1', 'secrets'),
      labelSelector: opts.secretSelector,
      fieldSelector: SECRET_FIELD_SELECTOR,
      log: opts.log,
      silenceMs: opts.watchSilenceMs,
      transform: (s) => (inScope(s) ? projectSecret(opts.keyring, opts.annotations, s) : null),
    });
    this.workloads = new Map();
    for (const kind of Object.keys(WORKLOAD_RESOURCES) as WorkloadKind[]) {
      this.workloads.set(
        kind,
        new Informer<WorkloadInfo>({
          name: WORKLOAD_RESOURCES[kind].plural,
          client: opts.client,
          paths: paths('/apis/apps/v1', WORKLOAD_RESOURCES[kind].plural),
          log: opts.log,
          silenceMs: opts.watchSilenceMs,
          transform: (w) => (inScope(w) ? projectWorkload(kind, w, opts.annotations) : null),
          indexers: { [BY_INPUT]: inputRefs },
        }),
      );
    }
    this.mounted =
      opts.mounted === false
        ? undefined
        : new MountedVersions({ client: opts.client, log: opts.log, keyring: opts.keyring, paths, inScope, silenceMs: opts.watchSilenceMs, onChange: (ns, name) => this.notifyClassChanged(ns, name), knownVersions: opts.knownVersions });
    this.queue = new WorkQueue({
      handler: (key) => this.reconcile(key),
      concurrency: 8,
      onError: (key, err) => {
        if (err instanceof KubeError && err.status === 409) {
          // Our view was older than the workload: the newer version is on its way on the watch,
          // and its arrival queues the key again at once (cancelling this timer, a fallback).
          opts.log.debug({ workload: key }, 'workload changed under us (409); reconciling again');
          opts.metrics.deferred('conflict');
          this.queue.addAfter(key, 200 + Math.random() * 300);
          return;
        }
        // Refused (403 RBAC, 422 admission, …) or failed: back off per workload, so a
        // permanent refusal costs one request every few minutes, not every few seconds.
        const retryInMs = Math.round(this.queue.addRateLimited(key));
        opts.log.error({ workload: key, err: errMessage(err), attempt: this.queue.failuresOf(key), retryInMs }, 'reconcile failed; retrying');
      },
    });
    this.patches = new PQueue({ concurrency: 8 });
    // restartsPerSecond may be fractional (0.5: one restart per 2 s).
    const perWindow = Math.max(1, Math.floor(opts.restartsPerSecond));
    this.restartRate = new SlidingWindowLimiter({ limit: perWindow, windowMs: (1000 * perWindow) / opts.restartsPerSecond });

    // When the namespace selection changes, caches re-list so they hold exactly what is in scope.
    opts.scope.onChange(() => this.informers.forEach((i) => i.relist()));
    this.secrets.addEventHandler((e) => this.onSecret(e));
    for (const informer of this.workloads.values()) informer.addEventHandler((e) => this.onWorkload(e));
  }

  /** Every informer this controller runs, for start/stop, readiness and health. */
  get informers(): Informer<unknown>[] {
    return [this.secrets, ...this.workloads.values(), ...(this.mounted?.informers ?? [])] as Informer<unknown>[];
  }

  start(): void {
    for (const i of this.informers) i.start();
  }

  stop(): void {
    this.queue.stop();
    for (const i of this.informers) i.stop();
  }

  async waitForSync(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.waitForSync()));
  }

  get synced(): boolean {
    return this.informers.every((i) => i.synced);
  }

  healthy(): boolean {
    return this.informers.every((i) => i.healthy());
  }

  /**
   * A new leadership term starts with a clean slate: nothing a standby saw or
   * an earlier term held (settle windows, in-flight rollouts, reported
   * failures, backoffs) carries over; every workload is examined afresh.
   */
  startLeading(): void {
    this.pending.clear();
    this.inFlight.clear();
    this.stalled.clear();
    this.rolloutSince.clear();
    this.warnedProblems.clear();
    this.reportedFailures.clear();
    this.queue.forgetAll();
    this.opts.metrics.rollouts('rolling', 0);
    this.opts.metrics.rollouts('stalled', 0);
    this.resyncAll();
  }

  /** Re-examines every tracked workload: at start-up and when this replica becomes leader. */
  resyncAll(): void {
    for (const [kind, informer] of this.workloads) {
      for (const w of informer.values()) this.queue.add(workloadKey(kind, w.namespace, w.name));
    }
  }

  /** Resolves when no reconcile or patch is running or ready to run. */
  async idle(): Promise<void> {
    await this.queue.idle();
    await this.patches.onIdle();
  }

  private onSecret(e: InformerEvent<SecretInfo>): void {
    const info = e.type === 'delete' ? e.old : e.value;
    if (e.type === 'delete') this.warnedProblems.delete(secretRef(info.namespace, info.name));
    if (e.type === 'update' && e.old.digest === e.value.digest && e.old.ignored === e.value.ignored) return;
    // A standby keeps its caches, not pending changes: a new leader re-examines everything anyway.
    if (!this.opts.isLeader()) return;
    const at = this.now();
    for (const wk of this.dependentsOf(secretRef(info.namespace, info.name))) {
      this.markChanged(wk, at);
      this.queue.add(wk);
    }
    this.opts.metrics.queueDepth(this.queue.depth);
  }

  /** The workloads that restart for an input (`secretRef`/`classRef`), by index. */
  dependentsOf(ref: string): string[] {
    const out: string[] = [];
    for (const [kind, informer] of this.workloads) {
      for (const w of informer.byIndex(BY_INPUT, ref)) out.push(workloadKey(kind, w.namespace, w.name));
    }
    return out;
  }

  /** For inputs that are not Secrets (mounted versions): their owner calls this on a change. */
  notifyClassChanged(namespace: string, name: string): void {
    if (!this.opts.isLeader()) return;
    const at = this.now();
    for (const wk of this.dependentsOf(classRef(namespace, name))) {
      this.markChanged(wk, at);
      this.queue.add(wk);
    }
  }

  private markChanged(wk: string, at: number): void {
    const p = this.pending.get(wk);
    // Each change restarts the settle window; the first event stays the origin of the reaction time.
    this.pending.set(wk, { since: at, firstEventAt: p?.firstEventAt ?? at });
  }

  private onWorkload(e: InformerEvent<WorkloadInfo>): void {
    const w = e.type === 'delete' ? e.old : e.value;
    const key = workloadKey(w.kind, w.namespace, w.name);
    if (e.type === 'delete') {
      this.pending.delete(key);
      this.inFlight.delete(key);
      this.stalled.delete(key);
      this.rolloutSince.delete(key);
      this.warnedProblems.delete(key);
      this.reportedFailures.delete(key);
      return;
    }
    this.queue.add(key);
  }

  inputsOf(w: WorkloadInfo, baseline: Baseline | null): Inputs {
    const inputs: Inputs = {};
    for (const name of w.deps.secrets) {
      const s = this.secrets.get(`${w.namespace}/${name}`);
      if (s?.ignored) continue;
      inputs[`secret/${name}`] = s ? s.digest : null;
    }
    Object.assign(inputs, this.mounted?.inputsFor(w, baseline) ?? {});
    return inputs;
  }

  /** What reconcile would decide for a workload now, without acting: for dry runs and the explain command. */
  decisionFor(w: WorkloadInfo): Decision {
    const key = workloadKey(w.kind, w.namespace, w.name);
    const baseline = parseBaseline(w.baselineText);
    const settleMs = w.policy?.settleMs ?? this.opts.settleMs;
    const pending = this.pending.get(key);
    const now = this.now();
    return decide({
      now,
      keyId: this.opts.keyring.id,
      baseline,
      inputs: this.inputsOf(w, baseline),
      rollout: w.rollout,
      settleMs,
      minRestartIntervalMs: this.opts.minRestartIntervalMs,
      // No change pending (explain, a standby): one seen now, so its settle window starts now.
      lastChangeAt: pending?.since ?? now,
      firstChangeAt: pending?.firstEventAt,
      maxSettleMs: Math.max(5 * settleMs, MAX_SETTLE_FLOOR_MS),
      held: w.policy?.held,
      rolloutSince: this.rolloutSince.get(key),
      rolloutTimeoutMs: this.rolloutTimeoutMs,
    });
  }

  private async reconcile(key: string): Promise<void> {
    this.opts.metrics.queueDepth(this.queue.depth);
    if (!this.opts.isLeader() || !this.synced) return;
    const w = this.cached(key);
    if (!w) return;
    this.warnProblems(key, w);
    this.trackRollout(key, w);
    if (!w.policy) return;

    // A change seen for the first time at reconcile (made while we were down,
    // or found by a re-list) starts its settle window now.
    if (!this.pending.has(key)) this.pending.set(key, { since: this.now(), firstEventAt: this.now() });
    const decision = this.decisionFor(w);
    const ref = this.refOf(w);

    switch (decision.action) {
      case 'none':
        this.pending.delete(key);
        return;
      case 'record':
        this.pending.delete(key);
        if (this.opts.dryRun) {
          this.opts.log.info({ workload: key, reason: decision.reason }, 'dry run: would record a baseline (no restart)');
          return;
        }
        if (!(await this.patch(w, { metadata: { resourceVersion: w.resourceVersion, annotations: { [ANNOTATIONS.baseline]: formatBaseline(decision.baseline) } } }, 'baseline', 'could not record what it depends on (nothing was restarted)'))) return;
        this.opts.log.info({ workload: key, reason: decision.reason, inputs: Object.keys(decision.baseline.inputs) }, 'recorded baseline (no restart)');
        return;
      case 'wait': {
        this.opts.metrics.deferred(decision.reason.replace(/-/g, '_'));
        if (decision.until !== null) this.queue.addAfter(key, decision.until - this.now() + 5);
        if (decision.reason === 'paused') {
          this.event(ref, 'Normal', 'RestartDeferred', `${describe(decision.changed)} changed; the Deployment is paused, so it restarts once it is resumed`);
        } else if (decision.reason === 'rate-limited') {
          this.event(ref, 'Warning', 'RestartRateLimited', `${describe(decision.changed)} changed again within ${Math.round(this.opts.minRestartIntervalMs / 1000)}s of the last restart; the restart waits (is something rewriting the Secret in a loop?)`);
        }
        this.opts.log.debug({ workload: key, reason: decision.reason, changed: decision.changed }, 'restart deferred');
        return;
      }
      case 'manual':
        await this.recordManual(key, w, decision, ref);
        return;
      case 'restart':
        if (!this.inFlight.has(key) && this.rolling() >= this.opts.maxInFlight) {
          this.opts.metrics.deferred('cap');
          this.queue.addAfter(key, 1000);
          return;
        }
        await this.restart(key, w, decision, ref);
        return;
    }
  }

  /**
   * Keeps the rollout bookkeeping of one workload current: when its rollout
   * began, whether a rollout started here still holds a place under the cap
   * (rolling) or has stalled (its own deadline, or --rollout-timeout), which
   * releases the place with a Warning so that stuck workloads cannot stop
   * every restart in the cluster.
   */
  private trackRollout(key: string, w: WorkloadInfo): void {
    const patchedFrom = this.inFlight.get(key);
    // The cache still shows the version our restart patched: its rollout has not been seen yet.
    if (patchedFrom === w.resourceVersion) return;
    if (!w.rollout.inProgress) {
      this.rolloutSince.delete(key);
      this.inFlight.delete(key);
      this.stalled.delete(key);
    } else {
      const now = this.now();
      const since = this.rolloutSince.get(key) ?? now;
      this.rolloutSince.set(key, since);
      if (patchedFrom !== undefined) {
        const why = stalledRollout(w.rollout, since, now, this.rolloutTimeoutMs);
        if (why !== undefined) {
          this.inFlight.delete(key);
          this.stalled.add(key);
          const started = w.rollout.lastRestartAt !== undefined ? ` started by the restart at ${new Date(w.rollout.lastRestartAt).toISOString()}` : '';
          this.event(this.refOf(w), 'Warning', 'RolloutStalled', `the rollout${started} is stalled: ${why}. It no longer counts against --max-in-flight, and the next change restarts it anyway; see kubectl rollout status -n ${w.namespace} ${w.kind.toLowerCase()}/${w.name}`);
          this.opts.log.warn({ workload: key, why }, 'rollout stalled');
        } else {
          // Look again when it would stall, whether or not anything else happens to it.
          this.queue.addAfter(key, since + this.rolloutTimeoutMs - now + 5);
        }
      }
    }
    this.opts.metrics.rollouts('rolling', this.inFlight.size);
    this.opts.metrics.rollouts('stalled', this.stalled.size);
  }

  /** How many restarted rollouts still hold a place under maxInFlight, releasing those that finished or stalled. */
  private rolling(): number {
    if (this.inFlight.size < this.opts.maxInFlight) return this.inFlight.size;
    for (const key of [...this.inFlight.keys()]) {
      const w = this.cached(key);
      if (w) this.trackRollout(key, w);
      else this.inFlight.delete(key);
    }
    return this.inFlight.size;
  }

  private cached(key: string): WorkloadInfo | undefined {
    const [kind, namespace, name] = key.split('/') as [WorkloadKind, string, string];
    return this.workloads.get(kind)?.get(`${namespace}/${name}`);
  }

  private refOf(w: WorkloadInfo): ObjectRef {
    return { apiVersion: WORKLOAD_RESOURCES[w.kind].apiVersion, kind: w.kind, namespace: w.namespace, name: w.name, uid: w.uid };
  }

  /** A restart would replace no pod: record the change (so it is reported once) and say what the operator must do. */
  private async recordManual(key: string, w: WorkloadInfo, decision: Extract<Decision, { action: 'manual' }>, ref: ObjectRef): Promise<void> {
    this.pending.delete(key);
    const message = `${describe(decision.changed)} changed, but ${decision.why}. Nothing was patched; the change is recorded.`;
    if (this.opts.dryRun) {
      this.opts.log.info({ workload: key, changed: decision.changed }, 'dry run: would record the change; a restart would replace no pod');
      this.opts.metrics.restart(w.kind, 'dry_run');
      return;
    }
    if (!(await this.patch(w, { metadata: { resourceVersion: w.resourceVersion, annotations: { [ANNOTATIONS.baseline]: formatBaseline(decision.baseline) } } }, 'baseline', `could not record that ${describe(decision.changed)} changed (nothing was restarted)`))) return;
    this.opts.metrics.restart(w.kind, 'manual_required');
    this.event(ref, 'Warning', 'ManualRestartRequired', message);
    this.opts.log.warn({ workload: key, changed: decision.changed, why: decision.why }, 'restart needs manual action');
  }

  private async restart(key: string, w: WorkloadInfo, decision: Extract<Decision, { action: 'restart' }>, ref: ObjectRef): Promise<void> {
    const firstEventAt = this.pending.get(key)?.firstEventAt ?? this.now();
    if (this.opts.dryRun) {
      this.opts.log.info({ workload: key, changed: decision.changed }, 'dry run: would restart');
      this.opts.metrics.restart(w.kind, 'dry_run');
      this.pending.delete(key);
      return;
    }
    this.inFlight.set(key, w.resourceVersion);
    // Decided again when the rate cap lets the patch go, on the freshest cached view:
    // the workload may have been paused, restarted or changed while it waited, and
    // restarted-at then says when the restart really happened (the per-workload rate
    // limit reads it back).
    let done: { changed: string[]; stalled: string | undefined; partition: number | undefined } | undefined;
    try {
      done = await this.patches.add(async () => {
        const release = await this.restartRate.acquire();
        try {
          const current = this.cached(key);
          const again = current ? this.decisionFor(current) : undefined;
          if (!current || again?.action !== 'restart') return undefined;
          this.inFlight.set(key, current.resourceVersion);
          const reason = `${describe(again.changed)} changed`;
          const written = await this.patch(
            current,
            {
              metadata: { resourceVersion: current.resourceVersion, annotations: { [ANNOTATIONS.baseline]: formatBaseline(again.baseline) } },
              spec: { template: { metadata: { annotations: { [ANNOTATIONS.restartedAt]: new Date(this.now()).toISOString(), [ANNOTATIONS.restartReason]: reason } } } },
            },
            'restart',
            `could not restart after ${reason}`,
          );
          if (!written) return undefined;
          // Logged while the rate cap's place is held, so that the log's times obey the cap too.
          this.opts.log.info({ workload: key, changed: again.changed, stalled: again.stalled }, 'restarted');
          return { changed: again.changed, stalled: again.stalled, partition: current.rollout.partition };
        } finally {
          release();
        }
      });
    } catch (err) {
      this.inFlight.delete(key);
      if (err instanceof KubeError && err.status === 409) throw err;
      this.opts.metrics.restart(w.kind, 'failed');
      throw err;
    }
    if (!done) {
      // Something changed while waiting for the cap (or leadership ended): decide afresh.
      this.inFlight.delete(key);
      this.queue.add(key);
      return;
    }
    this.pending.delete(key);
    this.stalled.delete(key);
    // The new rollout starts now; it is looked at again when it would stall.
    this.rolloutSince.set(key, this.now());
    this.queue.addAfter(key, this.rolloutTimeoutMs + 5);
    this.opts.metrics.rollouts('rolling', this.inFlight.size);
    this.opts.metrics.rollouts('stalled', this.stalled.size);
    this.opts.metrics.restart(w.kind, 'restarted');
    this.opts.metrics.reaction((this.now() - firstEventAt) / 1000);
    const notes = [
      done.stalled && `the previous rollout was not waited for: ${done.stalled}`,
      done.partition && `only pods with an ordinal of ${done.partition} or more are replaced (rollingUpdate.partition); lower the partition to roll the others`,
    ].filter(Boolean);
    this.event(ref, 'Normal', 'Restarted', `rolling restart because ${describe(done.changed)} changed${notes.length ? ` (${notes.join('; ')})` : ''}`);
  }

  /**
   * The one write to a workload: a strategic-merge patch whose resourceVersion
   * makes it fail (409, decided again) if our view was stale. False when this
   * replica no longer leads: leadership may have ended while the patch waited
   * in the queue or for the rate cap. A refusal is reported on the workload
   * once per distinct error (`what` it was for), and thrown to be retried.
   */
  private async patch(w: WorkloadInfo, body: unknown, purpose: keyof typeof REFUSED, what: string): Promise<boolean> {
    if (!this.opts.isLeader()) return false;
    const key = workloadKey(w.kind, w.namespace, w.name);
    const path = `/apis/apps/v1/namespaces/${w.namespace}/${WORKLOAD_RESOURCES[w.kind].plural}/${w.name}`;
    try {
      await this.opts.client.request('PATCH', path, { body, contentType: PATCH.strategicMerge });
    } catch (err) {
      if (!(err instanceof KubeError && err.status === 409)) {
        const message = `${what}: ${errMessage(err)}. Retried with backoff (at most every ${formatDuration(DEFAULT_RETRY.capMs)}) until it succeeds`;
        if (this.reportedFailures.get(key) !== message) {
          this.reportedFailures.set(key, message);
          const [type, reason] = REFUSED[purpose];
          this.event(this.refOf(w), type, reason, message);
        }
      }
      throw err;
    }
    this.reportedFailures.delete(key);
    return true;
  }

  /** Events are writes too: only the leader writes them, and a dry run only logs them. */
  private event(ref: ObjectRef, type: EventType, reason: string, message: string): void {
    if (!this.opts.isLeader()) return;
    if (this.opts.dryRun) {
      this.opts.log.info({ object: `${ref.kind}/${ref.namespace}/${ref.name}`, type, reason, message }, 'dry run: would record Event');
      return;
    }
    this.opts.events.emit(ref, type, reason, message);
  }

  /** One InvalidAnnotation Warning per distinct set of problems: on the workload, and on each Secret it uses whose ignore is malformed. */
  private warnProblems(key: string, w: WorkloadInfo): void {
    this.warnOnce(key, this.refOf(w), w.problems);
    for (const name of w.deps.secrets) {
      const s = this.secrets.get(`${w.namespace}/${name}`);
      if (s?.problems) this.warnOnce(secretRef(w.namespace, name), { apiVersion: 'v1', kind: 'Secret', namespace: w.namespace, name }, s.problems);
    }
  }

  private warnOnce(key: string, ref: ObjectRef, problems: readonly Problem[]): void {
    const text = problems.map((p) => `${p.annotation}: ${p.message}`).join('; ');
    if (text === (this.warnedProblems.get(key) ?? '')) return;
    this.warnedProblems.set(key, text);
    if (!text) return;
    this.event(ref, 'Warning', 'InvalidAnnotation', text);
    this.opts.log.warn({ object: `${ref.kind}/${ref.namespace}/${ref.name}`, problems }, 'invalid annotation');
  }
}

function describe(changed: string[]): string {
  return changed.map((c) => c.replace(/^secret\//, 'Secret ').replace(/^spc\//, 'SecretProviderClass ')).join(', ');
}
