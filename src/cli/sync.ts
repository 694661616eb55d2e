// The sync engine and its edges (workload identity, Key Vault, Secret writer),
// built from the config's sync block. Imported by run.ts only when the mode
// includes sync.
import { ConfigError, type Config } from '../config.ts';
import { KeyVaultClients } from '../keyvault/client.ts';
import { CloudConfigError, loadCloudCatalog, type CloudCatalog } from '../keyvault/cloud.ts';
import { trustCaBundle, TrustConfigError } from '../keyvault/trust.ts';
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
export function createSyncEngine(config: Config, deps: { client: KubeClient; log: Logger; events: EventRecorder; metrics: Metrics; isLeader: () => boolean; signal: AbortSignal; scope: NamespaceScope; onVersionsChanged?: (namespace: string, className: string) => void }): SyncEngine {
  const { client, log, events, metrics } = deps;
  const clouds = azureRoutes(config, log);
  const identities = new WorkloadIdentities({ client, log, authorityHost: config.sync.authorityHost });
  const keyVault = new KeyVaultClients({
      log,
      requestsPerSecond: config.sync.vaultRequestsPerSecond,
      signal: deps.signal,
      metrics: {
        request: (vault, operation, result, seconds) => {
          metrics.keyvaultRequests.inc({ vault, operation, result });
          metrics.keyvaultRequestSeconds.observe({ operation }, seconds);
        },
      },
    });
  const engine = new SyncEngine({
    client,
    log,
    events,
    clouds,
    identities,
    keyVault,
    writer: new SecretWriter({ client, events, log, metrics: { write: (result) => metrics.secretWrites.inc({ result }) } }),
    metrics: {
      syncError: (namespace, name, reason) => metrics.syncErrors.inc({ namespace, class: name, reason }),
      syncSuccess: (namespace, name, atMs) => metrics.syncLastSuccess.set({ namespace, class: name }, atMs / 1000),
      forget: (namespace, name) => {
        metrics.syncLastSuccess.remove({ namespace, class: name });
        for (const reason of SYNC_ERROR_REASONS) metrics.syncErrors.remove({ namespace, class: name, reason });
      },
    },
    scope: deps.scope.within(config.sync.namespaces),
    pollIntervalMs: config.sync.pollIntervalMs,
    syncAll: config.sync.all,
    defaultServiceAccount: config.sync.defaultServiceAccount,
    isLeader: deps.isLeader,
    onVersionsChanged: deps.onVersionsChanged,
  });
  metrics.observeSyncCaches(() => ({ ...engine.cacheSizes(), ...identities.size, vault_clients: keyVault.size }));
  return engine;
}

/**
 * How this process reaches Azure, checked and logged once: the clouds classes
 * can name, the extra CAs it trusts, and the egress proxy the Azure SDK takes
 * from HTTPS_PROXY / NO_PROXY (the Kubernetes API is always reached directly).
 */
function azureRoutes(config: Config, log: Logger): CloudCatalog {
  let clouds: CloudCatalog;
  try {
    clouds = loadCloudCatalog({ cloudName: config.sync.cloudName, envFiles: config.sync.cloudEnvFiles });
    if (config.sync.caBundle !== undefined) {
      const added = trustCaBundle(config.sync.caBundle);
      log.info({ file: config.sync.caBundle, certificates: added }, 'trusting the CA bundle for Key Vault and Entra');
    }
  } catch (err) {
    if (err instanceof CloudConfigError || err instanceof TrustConfigError) throw new ConfigError(err.message);
    throw err;
  }
  for (const [file, env] of clouds.files) {
    if (!env.ok) log.error({ file, problem: env.problem }, 'Azure environment file cannot be used; classes that name it are not synced');
  }
  const proxy = process.env['HTTPS_PROXY'] ?? process.env['https_proxy'];
  if (proxy) log.info({ proxy: withoutCredentials(proxy), noProxy: process.env['NO_PROXY'] ?? process.env['no_proxy'] ?? '' }, 'reaching Key Vault and Entra through the HTTPS proxy');
  return clouds;
}

function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.href;
  } catch {
    return '(not a URL)';
  }
}
