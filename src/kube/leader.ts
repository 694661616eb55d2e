// Leader election on a coordination.k8s.io/v1 Lease, after client-go's
// leaderelection package: acquire a Lease that is absent, released (empty
// holderIdentity) or expired; renew it every retryPeriod with optimistic
// concurrency; stop leading when no renewal has succeeded for renewDeadline.
//
// Expiry is judged as client-go judges it: by how long this process has seen
// the lease record unchanged (a monotonic local clock) against the record's
// own leaseDurationSeconds, never by comparing the holder's renewTime with
// our wall clock, so clock skew between nodes cannot make two leaders. A
// leader's isLeader() turns false renewDeadline after it *sent* its last
// successful renewal, which is before any standby can have seen that record
// unchanged for leaseDuration (leaseDuration > renewDeadline).
import { performance } from 'node:perf_hooks';
import { setTimer, sleep } from '../core/timer.ts';
import type { Logger } from '../log.ts';
import { KubeError, type KubeClient } from './client.ts';
import { errMessage } from './informer.ts';

/** Why leadership ended: the lease could not be renewed or was taken, release() gave it up, or stop() abandoned it. */
export type StopReason = 'lost' | 'released' | 'stopped';

export interface LeaderElectorOptions {
  client: KubeClient;
  /** Namespace of the Lease; it must exist. */
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: Logger;
  onStartedLeading: () => void;
  /** Called once per term. For 'released' it runs after the lease has been given up. */
  onStoppedLeading: (reason: StopReason) => void;
}

// The JSON shape on the wire (client-node's V1Lease types MicroTime as Date, which raw requests never produce).
interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number | null;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number | null;
  [other: string]: unknown;
}

interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name?: string; namespace?: string; resourceVersion?: string; [other: string]: unknown };
  spec?: LeaseSpec;
}

// Standbys poll with jitter so that several do not hit the API server in step.
const STANDBY_JITTER = 0.5;

const monotonic = () => performance.now();

/** A Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private readonly opts: LeaderElectorOptions;
  private readonly path: string;
  private readonly abort = new AbortController();
  private state: 'new' | 'running' | 'done' = 'new';
  private leading = false;
  /** Monotonic time at which the last successful acquire/renew was sent. */
  private renewedAt = 0;
  private deadlineTimer: NodeJS.Timeout | undefined;
  /** The newest version of the Lease this elector read or wrote. */
  private lease: Lease | undefined;
  private observed: { record: string; at: number; holder: string; durationMs: number } | undefined;
  private loop: Promise<void> | undefined;
  private lastError = '';

  constructor(opts: LeaderElectorOptions) {
    if (!(opts.leaseDurationMs > opts.renewDeadlineMs && opts.renewDeadlineMs > opts.retryPeriodMs && opts.retryPeriodMs > 0)) {
      throw new Error(
        `leader election needs leaseDuration > renewDeadline > retryPeriod > 0 (got ${opts.leaseDurationMs}, ${opts.renewDeadlineMs}, ${opts.retryPeriodMs} ms)`,
      );
    }
    this.opts = opts;
    this.path = `/apis/coordination.k8s.io/v1/namespaces/${opts.namespace}/leases/${opts.name}`;
  }

  start(): void {
    if (this.state !== 'new') throw new Error('a LeaderElector runs once: create a new one to stand again');
    this.state = 'running';
    this.opts.log.info({ lease: this.leaseName(), identity: this.opts.identity }, 'standing for leader');
    this.loop = this.run();
  }

  /** True while this elector holds the lease and its last renewal is within renewDeadline. */
  isLeader(): boolean {
    return this.leading && monotonic() - this.renewedAt < this.opts.renewDeadlineMs;
  }

  /** The holder of the lease as last seen ('' when released or not yet seen). */
  observedLeader(): string {
    return this.observed?.holder ?? '';
  }

  /**
   * Stops renewing and gives the lease up so a standby can take it at once.
   * isLeader() is false as soon as this is called; stop acting before calling it.
   */
  async release(): Promise<void> {
    if (this.state === 'done') return;
    const wasLeading = this.leading;
    this.state = 'done';
    this.leading = false;
    this.clearDeadline();
    this.abort.abort();
    await this.loop;
    try {
      if (await this.giveUp()) this.opts.log.info({ lease: this.leaseName(), identity: this.opts.identity }, 'released the lease');
    } catch (err) {
      this.opts.log.warn({ lease: this.leaseName(), err: errMessage(err) }, 'could not release the lease; standbys will take it when it expires');
    } finally {
      if (wasLeading) this.callStopped('released');
    }
  }

  /** Stops without releasing: standbys take over once the lease expires. */
  stop(): void {
    if (this.state === 'done') return;
    this.state = 'done';
    this.abort.abort();
    this.lose('stopped', 'stopped without releasing the lease');
  }

  private async run(): Promise<void> {
    while (this.state === 'running') {
      await this.tick();
      if (this.state !== 'running') return;
      const wait = Math.round(this.leading ? this.opts.retryPeriodMs : this.opts.retryPeriodMs * (1 + Math.random() * STANDBY_JITTER));
      try {
        await sleep(wait, this.abort.signal);
      } catch {
        return;
      }
    }
  }

  private async tick(): Promise<void> {
    const sentAt = monotonic();
    // A leader's request may not outlive its renew deadline; a standby's gets the same budget.
    const budget = Math.ceil(this.leading ? Math.max(1, this.renewedAt + this.opts.renewDeadlineMs - sentAt) : this.opts.renewDeadlineMs);
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(budget)]);
    try {
      const holds = await this.tryAcquireOrRenew(new Date(), signal);
      if (holds) this.renewed(sentAt);
      else this.lose('lost', `the lease is held by ${this.observedLeader()}`);
      this.lastError = '';
    } catch (err) {
      if (this.state !== 'running') return;
      const message = errMessage(err);
      const expected = err instanceof KubeError && err.status === 409; // another candidate wrote first
      const level = this.leading || (!expected && message !== this.lastError) ? 'warn' : 'debug';
      this.lastError = message;
      this.opts.log[level]({ lease: this.leaseName(), identity: this.opts.identity, leading: this.leading, err: message }, this.leading ? 'could not renew the lease' : 'could not acquire the lease');
    }
  }

  /** true: this elector holds the lease now; false: another holder's lease is still valid. Throws on API errors. */
  private async tryAcquireOrRenew(now: Date, signal: AbortSignal): Promise<boolean> {
    // A leader renews from its cached copy; a conflict or a deleted Lease falls through to a fresh read.
    if (this.leading && this.lease) {
      try {
        await this.write('PUT', this.nextLease(this.lease, now), signal);
        return true;
      } catch (err) {
        if (!(err instanceof KubeError && (err.status === 409 || err.status === 404))) throw err;
      }
    }
    let current: Lease | undefined;
    try {
      current = await this.opts.client.request<Lease>('GET', this.path, { signal });
    } catch (err) {
      if (!(err instanceof KubeError && err.status === 404)) throw err;
    }
    if (!current) {
      await this.write('POST', this.nextLease(undefined, now), signal);
      return true;
    }
    this.lease = current;
    this.observe(current);
    const holder = current.spec?.holderIdentity ?? '';
    if (holder !== '' && holder !== this.opts.identity && this.observedValid()) return false;
    await this.write('PUT', this.nextLease(current, now), signal);
    return true;
  }

  private nextLease(old: Lease | undefined, now: Date): Lease {
    const spec = old?.spec ?? {};
    const ours = (spec.holderIdentity ?? '') === this.opts.identity;
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: old ? { ...old.metadata } : { name: this.opts.name, namespace: this.opts.namespace },
      spec: {
        ...spec,
        holderIdentity: this.opts.identity,
        leaseDurationSeconds: Math.ceil(this.opts.leaseDurationMs / 1000),
        acquireTime: ours && spec.acquireTime ? spec.acquireTime : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: old ? (spec.leaseTransitions ?? 0) + (ours ? 0 : 1) : 0,
      },
    };
  }

  private async write(method: 'POST' | 'PUT', lease: Lease, signal: AbortSignal): Promise<void> {
    const path = method === 'POST' ? this.path.slice(0, this.path.lastIndexOf('/')) : this.path;
    const written = await this.opts.client.request<Lease>(method, path, { body: lease, signal });
    this.lease = written;
    this.observe(written);
  }

  private observe(lease: Lease): void {
    const spec = lease.spec ?? {};
    const record = JSON.stringify([spec.holderIdentity, spec.leaseDurationSeconds, spec.acquireTime, spec.renewTime, spec.leaseTransitions]);
    if (this.observed?.record === record) return;
    const holder = spec.holderIdentity ?? '';
    if (holder !== (this.observed?.holder ?? '') && holder !== this.opts.identity && holder !== '') {
      this.opts.log.info({ lease: this.leaseName(), leader: holder }, 'observed a new leader');
    }
    this.observed = {
      record,
      at: monotonic(),
      holder,
      durationMs: (spec.leaseDurationSeconds ?? this.opts.leaseDurationMs / 1000) * 1000,
    };
  }

  private observedValid(): boolean {
    return this.observed !== undefined && monotonic() < this.observed.at + this.observed.durationMs;
  }

  private renewed(sentAt: number): void {
    if (this.state !== 'running') return;
    const left = sentAt + this.opts.renewDeadlineMs - monotonic();
    // A write that took longer than the deadline is too old to lead on.
    if (left <= 0) return;
    this.renewedAt = sentAt;
    this.clearDeadline();
    this.deadlineTimer = setTimer(() => this.lose('lost', `no renewal succeeded within ${this.opts.renewDeadlineMs} ms`), left);
    if (!this.leading) {
      this.leading = true;
      const spec = this.lease?.spec ?? {};
      this.opts.log.info({ lease: this.leaseName(), identity: this.opts.identity, leaseTransitions: spec.leaseTransitions }, 'became leader');
      try {
        this.opts.onStartedLeading();
      } catch (err) {
        this.opts.log.error({ err: errMessage(err) }, 'onStartedLeading threw');
      }
    }
  }

  private lose(reason: StopReason, why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.clearDeadline();
    this.opts.log.info({ lease: this.leaseName(), identity: this.opts.identity, why }, 'stopped leading');
    this.callStopped(reason);
  }

  private callStopped(reason: StopReason): void {
    try {
      this.opts.onStoppedLeading(reason);
    } catch (err) {
      this.opts.log.error({ err: errMessage(err) }, 'onStoppedLeading threw');
    }
  }

  /** Clears the holder if it is still this elector; true if it did. */
  private async giveUp(): Promise<boolean> {
    const signal = AbortSignal.timeout(Math.ceil(this.opts.renewDeadlineMs));
    let lease = this.lease;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (!lease) {
        try {
          lease = await this.opts.client.request<Lease>('GET', this.path, { signal });
        } catch (err) {
          if (err instanceof KubeError && err.status === 404) return false;
          throw err;
        }
      }
      const spec = lease.spec ?? {};
      if ((spec.holderIdentity ?? '') !== this.opts.identity) return false;
      const now = microTime(new Date());
      try {
        // As client-go does: no holder and a 1 s duration, so any candidate may take it on sight.
        this.lease = await this.opts.client.request<Lease>('PUT', this.path, {
          body: { ...lease, spec: { ...spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now } },
          signal,
        });
        return true;
      } catch (err) {
        if (!(err instanceof KubeError && err.status === 409)) throw err;
        lease = undefined;
      }
    }
    return false;
  }

  private clearDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
  }

  private leaseName(): string {
    return `${this.opts.namespace}/${this.opts.name}`;
  }
}
