// The one configuration object, built once from flags and environment and
// validated with errors that say what to fix. Everything downstream takes
// the parts it needs from here.
import { parseBoundedDuration, type DurationBounds } from './core/duration.ts';

export type Mode = 'all' | 'reloader' | 'sync';

export interface Config {
  mode: Mode;
  kubeconfig: string | undefined;
  context: string | undefined;
  /** Namespace of the controller itself: its key Secret and Lease live here. */
  namespace: string;
  /** Namespaces to watch; empty means all. */
  namespaces: string[];
  excludeNamespaces: string[];
  /** Label selector over Namespaces; only matching ones are acted in. */
  namespaceSelector: string | undefined;
  secretSelector: string | undefined;
  stakater: boolean;
  dryRun: boolean;
  logLevel: string;
  reloader: {
    settleMs: number;
    minRestartIntervalMs: number;
    restartsPerSecond: number;
    maxInFlight: number;
    rolloutTimeoutMs: number;
    keySecretName: string;
  };
  leaderElection: {
    enabled: boolean;
    leaseName: string;
    identity: string;
    leaseDurationMs: number;
    renewDeadlineMs: number;
    retryPeriodMs: number;
  };
  server: { host: string; port: number };
  sync: {
    pollIntervalMs: number;
    all: boolean;
    defaultServiceAccount: string;
    authorityHost: string | undefined;
    /** Key Vault requests per second, per vault. */
    vaultRequestsPerSecond: number;
    /** The cloud of classes that name none (the Azure provider's --cloud-name). */
    cloudName: string;
    /** Azure environment files classes may name with cloudName AzureStackCloud; read once at start-up. */
    cloudEnvFiles: string[];
    /** PEM CAs trusted for Key Vault and Entra, beside the system's. */
    caBundle: string | undefined;
    /** The namespaces the sync engine acts in, within `namespaces`; empty means all of them. */
    namespaces: string[];
  };
}

export interface RawFlags {
  mode?: string;
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  namespaces?: string | string[];
  'exclude-namespaces'?: string | string[];
  'namespace-selector'?: string;
  'secret-selector'?: string;
  stakater?: boolean;
  'dry-run'?: boolean;
  'log-level'?: string;
  settle?: string;
  'min-restart-interval'?: string;
  'restarts-per-second'?: number;
  'max-in-flight'?: number;
  'rollout-timeout'?: string;
  'key-secret'?: string;
  'leader-elect'?: boolean;
  'lease-name'?: string;
  'lease-duration'?: string;
  'renew-deadline'?: string;
  'retry-period'?: string;
  'health-port'?: number;
  'health-host'?: string;
  'poll-interval'?: string;
  'sync-all'?: boolean;
  'sync-service-account'?: string;
  'authority-host'?: string;
  'vault-requests-per-second'?: number;
  'cloud-name'?: string;
  'cloud-env-file'?: string | string[];
  'ca-bundle'?: string;
  'sync-namespaces'?: string | string[];
}

export class ConfigError extends Error {}

const SECOND = 1000;
const HOUR = 3_600_000;

/**
 * What each duration flag accepts. Annotations that mean the same thing (a
 * workload's settle, a class's poll-interval) take the same bounds. Above a
 * bound a setting is a typo, not a choice (a 30-day settle window); below it
 * it would spin (a 0s poll interval).
 */
export const DURATION_BOUNDS = {
  settle: { minMs: 0, maxMs: HOUR },
  'min-restart-interval': { minMs: 0, maxMs: 24 * HOUR },
  'rollout-timeout': { minMs: SECOND, maxMs: 24 * HOUR },
  'lease-duration': { minMs: SECOND, maxMs: HOUR },
  'renew-deadline': { minMs: 100, maxMs: HOUR },
  'retry-period': { minMs: 100, maxMs: HOUR },
  'poll-interval': { minMs: SECOND, maxMs: 24 * HOUR },
} as const satisfies Record<string, DurationBounds>;

export function buildConfig(flags: RawFlags, env: NodeJS.ProcessEnv = process.env): Config {
  const mode = (flags.mode ?? 'all') as Mode;
  if (!['all', 'reloader', 'sync'].includes(mode)) throw new ConfigError(`--mode ${JSON.stringify(flags.mode)}: use all, reloader or sync`);
  const duration = (flag: keyof typeof DURATION_BOUNDS, fallback: string): number => {
    const text = (flags[flag] as string | undefined) ?? fallback;
    try {
      return parseBoundedDuration(text, DURATION_BOUNDS[flag]);
    } catch (err) {
      throw new ConfigError(`--${flag}: ${(err as Error).message}`);
    }
  };
  const number = (flag: keyof RawFlags, value: number | undefined, fallback: number, range: { min: number; max: number; integer?: boolean }): number => {
    const v = value ?? fallback;
    if (!Number.isFinite(v) || v < range.min || v > range.max || (range.integer && !Number.isInteger(v))) {
      throw new ConfigError(`--${flag} ${v}: use ${range.integer ? 'a whole number' : 'a number'} from ${range.min} to ${range.max}`);
    }
    return v;
  };
  const list = (v: string | string[] | undefined): string[] =>
    (Array.isArray(v) ? v : v ? [v] : []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);

  const leaseDurationMs = duration('lease-duration', '15s');
  const renewDeadlineMs = duration('renew-deadline', '10s');
  const retryPeriodMs = duration('retry-period', '2s');
  if (!(leaseDurationMs > renewDeadlineMs && renewDeadlineMs > retryPeriodMs)) {
    throw new ConfigError('leader election needs --lease-duration > --renew-deadline > --retry-period (defaults 15s, 10s, 2s)');
  }
  const namespaces = list(flags.namespaces);
  const syncNamespaces = list(flags['sync-namespaces']);
  const outside = namespaces.length === 0 ? [] : syncNamespaces.filter((ns) => !namespaces.includes(ns));
  if (outside.length > 0) throw new ConfigError(`--sync-namespaces ${outside.join(',')}: not in --namespaces; the sync engine acts only where the controller watches`);
  const port = flags['health-port'] ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--health-port ${port}: use a TCP port, or 0 for any free port`);

  return {
    mode,
    kubeconfig: flags.kubeconfig ?? env['KUBECONFIG'] ?? undefined,
    context: flags.context,
    namespace: flags.namespace ?? env['POD_NAMESPACE'] ?? 'keyvault-reloader',
    namespaces,
    excludeNamespaces: list(flags['exclude-namespaces']),
    namespaceSelector: flags['namespace-selector'] || undefined,
    secretSelector: flags['secret-selector'] || undefined,
    stakater: flags.stakater ?? false,
    dryRun: flags['dry-run'] ?? false,
    logLevel: flags['log-level'] ?? 'info',
    reloader: {
      settleMs: duration('settle', '10s'),
      minRestartIntervalMs: duration('min-restart-interval', '1m'),
      restartsPerSecond: number('restarts-per-second', flags['restarts-per-second'], 5, { min: 0.01, max: 10_000 }),
      maxInFlight: number('max-in-flight', flags['max-in-flight'], 20, { min: 1, max: 1_000_000, integer: true }),
      rolloutTimeoutMs: duration('rollout-timeout', '10m'),
      keySecretName: flags['key-secret'] ?? 'keyvault-reloader-digest-key',
    },
    leaderElection: {
      enabled: flags['leader-elect'] ?? true,
      leaseName: flags['lease-name'] ?? 'keyvault-reloader',
      identity: env['POD_NAME'] ?? `${hostname()}-${process.pid}`,
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs,
    },
    server: { host: flags['health-host'] ?? '0.0.0.0', port },
    sync: {
      pollIntervalMs: duration('poll-interval', '2m'),
      all: flags['sync-all'] ?? false,
      defaultServiceAccount: flags['sync-service-account'] ?? 'keyvault-reloader-sync',
      authorityHost: flags['authority-host'] ?? env['AZURE_AUTHORITY_HOST'] ?? undefined,
      vaultRequestsPerSecond: number('vault-requests-per-second', flags['vault-requests-per-second'], 50, { min: 0.01, max: 10_000 }),
      cloudName: flags['cloud-name'] || 'AzurePublicCloud',
      cloudEnvFiles: list(flags['cloud-env-file']),
      caBundle: flags['ca-bundle'] || undefined,
      namespaces: syncNamespaces,
    },
  };
}

function hostname(): string {
  return process.env['HOSTNAME'] ?? 'keyvault-reloader';
}
