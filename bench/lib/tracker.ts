// The benchmark's view of the Deployments, through the product's own
// informer: when a controller wrote each one, as seen by a watch in this
// process, and whether the Deployment controller has caught up with its spec.
// A write is a rise of metadata.generation: the API server bumps it for any
// change of a Deployment's spec or annotations (our baseline record, our
// restart, stakater's env-var restart alike), never for the Deployment
// controller's status writes, and the benchmark itself writes no Deployment
// after seeding. The event's arrival time is what the client-side latencies
// are measured to.
import type { KubeClient } from '../../src/kube/client.ts';
import { Informer } from '../../src/kube/informer.ts';
import { createLogger } from '../../src/log.ts';
import { now } from './clock.ts';

export interface DeploymentView {
  generation: number;
  observedGeneration: number;
}

export interface DeploymentWrite {
  key: string;
  at: number;
}

export class DeploymentTracker {
  readonly informer: Informer<DeploymentView>;
  /** Every write seen, in arrival order. */
  readonly changes: DeploymentWrite[] = [];
  lastEventAt = 0;
  private readonly waiters = new Set<() => void>();
  /** Deployments whose latest spec the Deployment controller has not observed yet. */
  private readonly behind = new Set<string>();
  /** firstChangesSince() for the last mark asked about, extended as changes arrive (waiters ask on every event). */
  private since: { mark: number; upTo: number; firsts: Map<string, number> } | undefined;

  constructor(client: KubeClient, namespacePrefix: string) {
    this.informer = new Informer<DeploymentView>({
      name: 'bench-deployments',
      client,
      paths: ['/apis/apps/v1/deployments'],
      log: createLogger({ level: 'silent' }),
      transform: (d) =>
        String(d?.metadata?.namespace ?? '').startsWith(namespacePrefix)
          ? { generation: d.metadata?.generation ?? 0, observedGeneration: d.status?.observedGeneration ?? 0 }
          : null,
    });
    this.informer.addEventHandler((e) => {
      const at = now();
      this.lastEventAt = at;
      if (e.type === 'update' && e.value.generation > e.old.generation) this.changes.push({ key: e.key, at });
      if (e.type !== 'delete' && e.value.observedGeneration < e.value.generation) this.behind.add(e.key);
      else this.behind.delete(e.key);
      for (const w of [...this.waiters]) w();
    });
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.waitForSync();
  }

  stop(): void {
    this.informer.stop();
  }

  get(key: string): DeploymentView | undefined {
    return this.informer.get(key);
  }

  get size(): number {
    return this.informer.size;
  }

  /** True when the Deployment controller has observed every Deployment's latest spec. */
  allObserved(): boolean {
    return this.behind.size === 0;
  }

  /** First write per key since a mark (an index into changes). */
  firstChangesSince(mark: number): Map<string, number> {
    if (this.since?.mark !== mark) this.since = { mark, upTo: mark, firsts: new Map() };
    const { firsts } = this.since;
    for (let i = this.since.upTo; i < this.changes.length; i++) {
      const c = this.changes[i]!;
      if (!firsts.has(c.key)) firsts.set(c.key, c.at);
    }
    this.since.upTo = this.changes.length;
    return firsts;
  }

  /** Resolves when check() holds, re-checking on every watch event (and every 250 ms). */
  waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (err?: Error) => {
        if (done) return;
        done = true;
        this.waiters.delete(test);
        clearInterval(timer);
        clearTimeout(deadline);
        if (err) reject(err);
        else resolve();
      };
      const test = () => {
        if (check()) finish();
      };
      const timer = setInterval(test, 250);
      const deadline = setTimeout(() => finish(new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`)), timeoutMs);
      this.waiters.add(test);
      test();
    });
  }

  /**
   * Waits, at most capMs, until no Deployment event has arrived for quietMs
   * and the Deployment controller has observed every Deployment. The local
   * kube-controller-manager writes at most 20 requests/s (its default client
   * QPS), and every baseline or restart patch bumps a Deployment's generation,
   * so after thousands of patches it needs minutes to catch up: the scenarios
   * wait for it a bounded time, then go on and say so, rather than spend the
   * run's time budget waiting.
   */
  async settle(quietMs: number, capMs: number): Promise<{ quiet: boolean; waitedMs: number }> {
    const from = now();
    try {
      await this.waitFor(`Deployments to be quiet for ${quietMs} ms`, () => this.allObserved() && now() - this.lastEventAt >= quietMs, capMs);
      return { quiet: true, waitedMs: now() - from };
    } catch {
      return { quiet: false, waitedMs: now() - from };
    }
  }
}
