// The sync engine and its edges (workload identity, Key Vault, Secret writer),
// built from the config's sync block. Imported by run.ts only when the mode
// includes sync.
import type { Config } from '../config.ts';
import { KeyVaultClients } from '../keyvault/client.ts';
import type { KubeClient } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { NamespaceScope } from '../kube/scope.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../server/metrics.ts';
import { SyncEngine, type SyncErrorReason } from '../sync/engine.ts';
import { WorkloadIdentities } from '../sync/identity.ts';
import { SecretWriter } from '../sync/secret-writer.ts';

const SYNC_ERROR_REASONS: readonly SyncErrorReason[] = ['invalid', 'identity', 'read', 'throttled', 'render', 'write', 'not_owned'];

/** The sync engine and its edges (workload identity, Key Vault, Secret writer), from the config's sync block. */
export function createSyncEngine(config: Config, deps: { client: KubeClient; log: Logger; events: EventRecorder; metrics: Metrics; isLeader: () => boolean; signal: AbortSignal; scope: NamespaceScope }): SyncEngine {
  const { client, log, events, metrics } = deps;
  return new SyncEngine({
    client,
    log,
    events,
    identities: new WorkloadIdentities({ client, log, authorityHost: config.sync.authorityHost }),
    keyVault: new KeyVaultClients({
      log,
      requestsPerSecond: config.sync.vaultRequestsPerSecond,
      signal: deps.signal,
      metrics: {
        request: (vault, operation, result, seconds) => {
          metrics.keyvaultRequests.inc({ vault, operation, result });
          metrics.keyvaultRequestSeconds.observe({ operation }, seconds);
        },
      },
    }),
    writer: new SecretWriter({ client, events, log, metrics: { write: (result) => metrics.secretWrites.inc({ result }) } }),
    metrics: {
      syncError: (namespace, name, reason) => metrics.syncErrors.inc({ namespace, class: name, reason }),
      syncSuccess: (namespace, name, atMs) => metrics.syncLastSuccess.set({ namespace, class: name }, atMs / 1000),
      forget: (namespace, name) => {
        metrics.syncLastSuccess.remove({ namespace, class: name });
        for (const reason of SYNC_ERROR_REASONS) metrics.syncErrors.remove({ namespace, class: name, reason });
      },
    },
    scope: deps.scope,
    pollIntervalMs: config.sync.pollIntervalMs,
    syncAll: config.sync.all,
    defaultServiceAccount: config.sync.defaultServiceAccount,
    isLeader: deps.isLeader,
  });
}
