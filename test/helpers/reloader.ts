// Runs the reloader in this process against the test control plane, with
// the same wiring `keyvault-reloader run` uses, and watches what it writes.
import { createKubeClient, loadKubeConfig, type KubeClient } from '../../src/kube/client.ts';
import { createEventRecorder } from '../../src/kube/events.ts';
import { createLogger } from '../../src/log.ts';
import { ReloaderController, type ReloaderOptions } from '../../src/reloader/controller.ts';
import { loadOrCreateKey } from '../../src/reloader/key.ts';
import { KubeError } from '../../src/kube/client.ts';
import { NamespaceScope } from '../../src/kube/scope.ts';
import type { TestEnv } from './env.ts';

export interface RunningReloader {
  controller: ReloaderController;
  client: KubeClient;
  counts: { restarted: number; failed: number; manual: number; deferred: Record<string, number>; rollouts: { rolling: number; stalled: number } };
  stop(): Promise<void>;
}

export async function startReloader(env: TestEnv, opts: { namespace: string; keyNamespace?: string; kubeconfig?: string } & Partial<ReloaderOptions>): Promise<RunningReloader> {
  const client = createKubeClient(loadKubeConfig(opts.kubeconfig ?? env.kubeconfig));
  const log = createLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
  const keyNamespace = opts.keyNamespace ?? opts.namespace;
  const keyring = await loadOrCreateKey(client, keyNamespace, 'keyvault-reloader-digest-key', log);
  const counts = { restarted: 0, failed: 0, manual: 0, deferred: {} as Record<string, number>, rollouts: { rolling: 0, stalled: 0 } };
  const events = createEventRecorder({ client, log, instance: 'test' });
  const ownScope = opts.scope ? undefined : new NamespaceScope({ client, log, namespaces: [opts.namespace], excludeNamespaces: [] });
  const scope = opts.scope ?? ownScope!;
  ownScope?.start();
  await scope.waitForSync();
  const controller = new ReloaderController({
    client,
    log,
    keyring,
    events,
    metrics: {
      restart: (_k, result) => {
        if (result === 'restarted') counts.restarted++;
        if (result === 'failed') counts.failed++;
        if (result === 'manual_required') counts.manual++;
      },
      reaction: () => {},
      deferred: (reason) => (counts.deferred[reason] = (counts.deferred[reason] ?? 0) + 1),
      queueDepth: () => {},
      rollouts: (state, n) => (counts.rollouts[state] = n),
    },
    annotations: { stakater: false },
    scope,
    secretSelector: undefined,
    settleMs: 500,
    minRestartIntervalMs: 0,
    restartsPerSecond: 50,
    maxInFlight: 100,
    dryRun: false,
    isLeader: () => true,
    ...opts,
  });
  controller.start();
  await controller.waitForSync();
  controller.resyncAll();
  return {
    controller,
    client,
    counts,
    async stop() {
      controller.stop();
      ownScope?.stop();
      await events.flush();
    },
  };
}

export async function eventsFor(client: KubeClient, ns: string, name: string): Promise<{ type: string; reason: string; message: string }[]> {
  try {
    const list = await client.request('GET', `/api/v1/namespaces/${ns}/events`);
    return list.items.filter((e: any) => e.involvedObject?.name === name).map((e: any) => ({ type: e.type, reason: e.reason, message: e.message }));
  } catch (err) {
    if (err instanceof KubeError && err.status === 404) return [];
    throw err;
  }
}
