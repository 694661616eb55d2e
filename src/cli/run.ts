// `keyvault-reloader run`: wires the engines to the cluster. Informers start
// at once on every replica so that a standby is warm; only the leader writes.
// SIGTERM stops acting, lets an in-flight patch finish, and releases the lease
// so that a standby takes over without waiting for it to expire.
import type { Config } from '../config.ts';
import { createKubeClient, loadKubeConfig, type KubeClient } from '../kube/client.ts';
import { createEventRecorder } from '../kube/events.ts';
import { LeaderElector } from '../kube/leader.ts';
import { NamespaceScope } from '../kube/scope.ts';
import type { Logger } from '../log.ts';
import { ReloaderController } from '../reloader/controller.ts';
import { loadOrCreateKey } from '../reloader/key.ts';
import { startHttpServer, type HttpServer } from '../server/http.ts';
import { countApiRequests, createMetrics, type Metrics } from '../server/metrics.ts';
import type { SyncEngine } from '../sync/engine.ts';

export interface Running {
  client: KubeClient;
  metrics: Metrics;
  reloader: ReloaderController | undefined;
  sync: SyncEngine | undefined;
  elector: LeaderElector | undefined;
  http: HttpServer;
  isLeader(): boolean;
  /** Graceful stop: no new work, in-flight patches finish, the lease is released. */
  stop(): Promise<void>;
}

export async function startController(config: Config, log: Logger, opts: { client?: KubeClient } = {}): Promise<Running> {
  const client = opts.client ?? createKubeClient(loadKubeConfig(config.kubeconfig, config.context));
  const metrics = createMetrics();
  countApiRequests(client, metrics);
  const events = createEventRecorder({ client, log, instance: config.leaderElection.identity, onEmit: (type, reason) => metrics.events.inc({ type, reason }) });

  let leading = !config.leaderElection.enabled;
  let stopping = false;
  const isLeader = () => leading && !stopping && (elector ? elector.isLeader() : true);

  // Every informer filters by this scope, so it is synced before any of them lists.
  const scope = new NamespaceScope({ client, log, namespaces: config.namespaces, excludeNamespaces: config.excludeNamespaces, namespaceSelector: config.namespaceSelector });
  scope.start();
  await scope.waitForSync();

  let reloader: ReloaderController | undefined;
  let sync: SyncEngine | undefined;
  if (config.mode === 'all' || config.mode === 'reloader') {
    const keyring = await loadOrCreateKey(client, config.namespace, config.reloader.keySecretName, log);
    reloader = new ReloaderController({
      client,
      log,
      keyring,
      events,
      annotations: { stakater: config.stakater },
      scope,
      secretSelector: config.secretSelector,
      settleMs: config.reloader.settleMs,
      minRestartIntervalMs: config.reloader.minRestartIntervalMs,
      restartsPerSecond: config.reloader.restartsPerSecond,
      maxInFlight: config.reloader.maxInFlight,
      rolloutTimeoutMs: config.reloader.rolloutTimeoutMs,
      dryRun: config.dryRun,
      isLeader,
      // Mode all: a rotation the sync engine reads restarts the workloads that mount the class,
      // even where the add-on's own rotation is off (see MountedVersions).
      knownVersions: (namespace, className) => sync?.knownVersions(namespace, className),
      metrics: {
        restart: (kind, result) => metrics.restarts.inc({ kind, result }),
        reaction: (s) => metrics.reactionSeconds.observe(s),
        deferred: (reason) => metrics.deferred.inc({ reason }),
        queueDepth: (n) => metrics.queueDepth.set(n),
        rollouts: (state, n) => metrics.rollouts.set({ state }, n),
      },
    });
    reloader.start();
  }

  // Sync engine (mode all or sync): keeps secretObjects Secrets current from Key Vault.
  const syncAbort = new AbortController();
  // Loaded only when used: the Azure SDK and PKCS#12 reader cost tens of MB a reloader-only replica need not carry.
  if (config.mode === 'all' || config.mode === 'sync') {
    const onVersionsChanged = (namespace: string, className: string) => reloader?.notifyClassChanged(namespace, className);
    sync = (await import('./sync.ts')).createSyncEngine(config, { client, log, events, metrics, isLeader, signal: syncAbort.signal, scope, onVersionsChanged });
  }
  sync?.start();

  let elector: LeaderElector | undefined;
  if (config.leaderElection.enabled) {
    elector = new LeaderElector({
      client,
      namespace: config.namespace,
      name: config.leaderElection.leaseName,
      identity: config.leaderElection.identity,
      leaseDurationMs: config.leaderElection.leaseDurationMs,
      renewDeadlineMs: config.leaderElection.renewDeadlineMs,
      retryPeriodMs: config.leaderElection.retryPeriodMs,
      log,
      onStartedLeading: () => {
        leading = true;
        metrics.leader.set(1);
        log.info({ identity: config.leaderElection.identity }, 'leading: acting on changes');
        // Level-triggered: look at everything once; unchanged workloads stay untouched.
        void reloader?.waitForSync().then(() => reloader?.startLeading());
        void sync?.waitForSync().then(() => sync?.resyncAll());
      },
      onStoppedLeading: (reason) => {
        leading = false;
        metrics.leader.set(0);
        log.info({ reason }, 'stopped leading');
      },
    });
    elector.start();
  } else {
    metrics.leader.set(1);
    void reloader?.waitForSync().then(() => reloader?.resyncAll());
  }

  const informers = [...scope.informers, ...(reloader ? reloader.informers : []), ...(sync?.informers ?? [])];
  metrics.countInformers(informers);

  const http = await startHttpServer({
    host: config.server.host,
    port: config.server.port,
    metrics,
    log,
    healthy: () => {
      const dead = informers.filter((i) => !i.healthy()).map((i) => i.name);
      return dead.length === 0 ? { ok: true, detail: 'ok' } : { ok: false, detail: `watch not running for: ${dead.join(', ')}` };
    },
    ready: () => {
      const pending = informers.filter((i) => !i.synced).map((i) => i.name);
      return pending.length === 0 ? { ok: true, detail: 'ok' } : { ok: false, detail: `caches not synced yet: ${pending.join(', ')}` };
    },
  });
  log.info({ mode: config.mode, port: http.port, namespaces: config.namespaces.length ? config.namespaces : 'all', dryRun: config.dryRun }, 'keyvault-reloader started');

  return {
    client,
    metrics,
    reloader,
    sync,
    elector,
    http,
    isLeader,
    async stop() {
      stopping = true;
      reloader?.queue.stop();
      sync?.queue.stop();
      syncAbort.abort();
      await reloader?.idle();
      await sync?.idle();
      await events.flush();
      reloader?.stop();
      sync?.stop();
      if (elector?.isLeader()) await elector.release();
      elector?.stop();
      scope.stop();
      await http.close();
    },
  };
}
