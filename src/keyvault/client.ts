// The one way the sync engine reads Azure Key Vault: the official SDK clients
// (SecretClient, KeyClient, CertificateClient), one set per (vault, identity),
// behind a per-vault request budget and our own retry (the SDK's is turned
// off so that 429 Retry-After, backoff and jitter follow one policy, and a
// throttled vault holds back every reader of it, not just the one that was
// told). Results come back as the plain bundles of objects.ts.
// Values are never logged: log lines and errors carry names and versions.
import { CertificateClient } from '@azure/keyvault-certificates';
import { KeyClient } from '@azure/keyvault-keys';
import { SecretClient } from '@azure/keyvault-secrets';
import type { TokenCredential } from '@azure/identity';
import PQueue from 'p-queue';
import { sleep } from '../core/timer.ts';
import type { Logger } from '../log.ts';
import { tlsFailureHint } from './trust.ts';
import type { CertificateBundle, FetchedObject, KeyBundle, ObjectType, SecretBundle, VersionItem } from './objects.ts';
import { classifyFailure, DEFAULT_RETRY_POLICY, isRetryable, parseRetryAfter, retryDelayMs, type FailureKind, type RetryPolicy } from './retry.ts';

export type KeyVaultOperation = 'get_secret' | 'get_key' | 'get_certificate' | 'list_secret_versions' | 'list_key_versions' | 'list_certificate_versions';

export interface KeyVaultMetrics {
  /** One call per HTTP attempt; result is 'success' or a FailureKind. */
  request(vault: string, operation: KeyVaultOperation, result: 'success' | FailureKind, seconds: number): void;
}

export interface KeyVaultClientOptions {
  log: Logger;
  metrics: KeyVaultMetrics;
  /** Requests per second per vault (Key Vault allows about 400/s per vault and region). */
  requestsPerSecond: number;
  /** Requests in flight per vault (default 8). */
  concurrency?: number;
  retry?: Partial<RetryPolicy>;
  /** Per HTTP attempt (default 30 s). */
  requestTimeoutMs?: number;
  /** Aborts waits and requests on shutdown. */
  signal?: AbortSignal;
  now?: () => number;
}

/** A failed Key Vault read, worded for an Event: what, where, why; never a value. */
export class KeyVaultError extends Error {
  readonly kind: FailureKind;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  constructor(kind: FailureKind, message: string, status?: number, retryAfterMs?: number) {
    super(message);
    this.name = 'KeyVaultError';
    this.kind = kind;
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

export interface VaultReader {
  readonly vaultUrl: string;
  /** version '' = the latest. */
  getSecret(name: string, version: string): Promise<SecretBundle>;
  getKey(name: string, version: string): Promise<KeyBundle>;
  getCertificate(name: string, version: string): Promise<CertificateBundle>;
  /** Every version's id, enabled flag and creation time (for objectVersionHistory). */
  listVersions(objectType: ObjectType, name: string): Promise<VersionItem[]>;
  /** One object, typed as render.ts expects. */
  get(objectType: ObjectType, name: string, version: string): Promise<FetchedObject>;
}

interface VaultState {
  host: string;
  queue: PQueue;
  /** No request goes to this vault before this time (it answered 429). */
  throttledUntil: number;
}

interface SdkClients {
  secrets: SecretClient;
  keys: KeyClient;
  certificates: CertificateClient;
}

export class KeyVaultClients {
  private readonly opts: KeyVaultClientOptions;
  private readonly policy: RetryPolicy;
  /** By vault host. */
  private readonly vaults = new Map<string, VaultState>();
  /** By vault host, then credential: a credential dropped by its owner takes its clients with it. */
  private readonly clients = new Map<string, WeakMap<TokenCredential, SdkClients>>();
  private readonly now: () => number;

  constructor(opts: KeyVaultClientOptions) {
    this.opts = opts;
    this.policy = { ...DEFAULT_RETRY_POLICY, ...opts.retry };
    this.now = opts.now ?? Date.now;
  }

  /** A reader of one vault with one identity; SDK clients are made once per pair. */
  vault(vaultUrl: string, credential: TokenCredential): VaultReader {
    const url = new URL(vaultUrl);
    const host = url.host.toLowerCase();
    const state = this.vaultState(host);
    const sdk = this.sdkClients(host, url.href, credential);
    const call = <T>(operation: KeyVaultOperation, what: string, fn: (signal: AbortSignal) => Promise<T>) => this.call(state, operation, what, fn);
    const at = (version: string) => (version === '' ? 'latest' : `version ${version}`);
    const reader: VaultReader = {
      vaultUrl: url.href,
      getSecret: (name, version) =>
        call('get_secret', `secret ${name} (${at(version)})`, async (abortSignal) => {
          const s = await sdk.secrets.getSecret(name, { version: version || undefined, abortSignal });
          return { id: s.properties.id ?? '', value: s.value ?? '', contentType: s.properties.contentType ?? null, kid: s.properties.certificateKeyId ?? null, enabled: s.properties.enabled };
        }),
      getKey: (name, version) =>
        call('get_key', `key ${name} (${at(version)})`, async (abortSignal) => {
          const k = await sdk.keys.getKey(name, { version: version || undefined, abortSignal });
          const jwk = k.key ?? {};
          const b64 = (v: Uint8Array | undefined) => (v === undefined ? undefined : Buffer.from(v).toString('base64url'));
          return { kid: jwk.kid ?? k.id ?? '', kty: String(jwk.kty ?? ''), n: b64(jwk.n), e: b64(jwk.e), crv: jwk.crv, x: b64(jwk.x), y: b64(jwk.y) };
        }),
      getCertificate: (name, version) =>
        call('get_certificate', `certificate ${name} (${at(version)})`, async (abortSignal) => {
          const c = version === '' ? await sdk.certificates.getCertificate(name, { abortSignal }) : await sdk.certificates.getCertificateVersion(name, version, { abortSignal });
          return { id: c.id ?? '', cer: c.cer ?? new Uint8Array() };
        }),
      listVersions: (objectType, name) => {
        const operation = ({ secret: 'list_secret_versions', key: 'list_key_versions', cert: 'list_certificate_versions' } as const)[objectType];
        return call(operation, `versions of ${objectType} ${name}`, async (abortSignal) => {
          const items: VersionItem[] = [];
          const pages =
            objectType === 'secret' ? sdk.secrets.listPropertiesOfSecretVersions(name, { abortSignal })
            : objectType === 'key' ? sdk.keys.listPropertiesOfKeyVersions(name, { abortSignal })
            : sdk.certificates.listPropertiesOfCertificateVersions(name, { abortSignal });
          for await (const p of pages) items.push({ id: p.id ?? '', enabled: p.enabled, created: p.createdOn });
          return items;
        });
      },
      async get(objectType, name, version) {
        switch (objectType) {
          case 'secret':
            return { objectType, bundle: await reader.getSecret(name, version) };
          case 'key':
            return { objectType, bundle: await reader.getKey(name, version) };
          case 'cert':
            return { objectType, bundle: await reader.getCertificate(name, version) };
        }
      },
    };
    return reader;
  }

  /** Drops a vault's budget, throttling state and clients: no class reads it any more. */
  forget(host: string): void {
    // Requests already queued finish on the old queue; nothing new is sent through it.
    const key = host.toLowerCase();
    this.vaults.delete(key);
    this.clients.delete(key);
  }

  /** Vaults held: for the cache metrics and the memory tests. */
  get size(): number {
    return this.vaults.size;
  }

  private vaultState(host: string): VaultState {
    let state = this.vaults.get(host);
    if (state === undefined) {
      state = {
        host,
        queue: new PQueue({ concurrency: this.opts.concurrency ?? 8, intervalCap: Math.max(1, Math.floor(this.opts.requestsPerSecond)), interval: 1000 }),
        throttledUntil: 0,
      };
      this.vaults.set(host, state);
    }
    return state;
  }

  private sdkClients(host: string, vaultUrl: string, credential: TokenCredential): SdkClients {
    let byCredential = this.clients.get(host);
    if (byCredential === undefined) this.clients.set(host, (byCredential = new WeakMap()));
    let sdk = byCredential.get(credential);
    if (sdk === undefined) {
      // Our own retry (below) replaces the SDK's, so one policy governs every attempt. The
      // challenge's resource is checked against the vault's host, as in every Azure client:
      // a vault can only get a token meant for Key Vault.
      const options = { retryOptions: { maxRetries: 0 }, userAgentOptions: { userAgentPrefix: 'keyvault-reloader' } };
      sdk = {
        secrets: new SecretClient(vaultUrl, credential, options),
        keys: new KeyClient(vaultUrl, credential, options),
        certificates: new CertificateClient(vaultUrl, credential, options),
      };
      byCredential.set(credential, sdk);
    }
    return sdk;
  }

  private async call<T>(vault: VaultState, operation: KeyVaultOperation, what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    for (let retry = 0; ; retry++) {
      const wait = vault.throttledUntil - this.now();
      if (wait > 0) {
        if (wait > this.policy.maxRetryAfterMs) {
          throw new KeyVaultError('throttled', `${what} in ${vault.host}: the vault is throttling requests for another ${Math.ceil(wait / 1000)}s; the read is skipped until the next poll`, 429, wait);
        }
        await sleep(wait, this.opts.signal);
      }
      const started = performance.now();
      try {
        const result = await vault.queue.add(() => fn(this.attemptSignal()), { signal: this.opts.signal });
        this.opts.metrics.request(vault.host, operation, 'success', (performance.now() - started) / 1000);
        return result as T;
      } catch (err) {
        const seconds = (performance.now() - started) / 1000;
        if (isForeign(err)) throw err;
        const failure = describeFailure(err, vault.host, this.now());
        const kind = classifyFailure(failure.status, failure.code);
        this.opts.metrics.request(vault.host, operation, kind, seconds);
        if (kind === 'throttled') {
          const backoff = retryDelayMs(Math.min(retry + 1, this.policy.maxRetries), this.policy, failure.retryAfterMs, () => 0) ?? this.policy.baseDelayMs;
          vault.throttledUntil = Math.max(vault.throttledUntil, this.now() + (failure.retryAfterMs ?? backoff));
        }
        const delay = isRetryable(kind, failure.status) ? retryDelayMs(retry + 1, this.policy, failure.retryAfterMs) : undefined;
        const message = `${what} in ${vault.host}: ${failure.message}`;
        if (delay === undefined) {
          this.opts.log.warn({ vault: vault.host, operation, object: what, result: kind, status: failure.status, attempts: retry + 1 }, 'Key Vault read failed');
          throw new KeyVaultError(kind, retry > 0 ? `${message} (after ${retry + 1} attempts)` : message, failure.status, failure.retryAfterMs);
        }
        this.opts.log.debug({ vault: vault.host, operation, object: what, result: kind, status: failure.status, retryInMs: delay }, 'Key Vault read failed; retrying');
        await sleep(delay, this.opts.signal);
      }
    }
  }

  private attemptSignal(): AbortSignal {
    const timeout = AbortSignal.timeout(this.opts.requestTimeoutMs ?? 30_000);
    return this.opts.signal ? AbortSignal.any([timeout, this.opts.signal]) : timeout;
  }
}

// Errors that are not Key Vault's answer (an identity failure, shutdown): passed on as they are.
function isForeign(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'IdentityError') return true;
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error && cause.name === 'IdentityError';
}

interface Failure {
  status: number | undefined;
  code: string | undefined;
  retryAfterMs: number | undefined;
  message: string;
}

// A RestError from the SDK pipeline, a network error, or a timeout, reduced to what we act on.
function describeFailure(err: unknown, host: string, now: number): Failure {
  const e = err as { name?: string; message?: string; statusCode?: number; code?: string; response?: { headers?: { get(name: string): string | undefined } } } | undefined;
  const status = typeof e?.statusCode === 'number' ? e.statusCode : undefined;
  const code = e?.name === 'TimeoutError' || e?.name === 'AbortError' ? e.name : e?.code;
  const retryAfterMs = parseRetryAfter(e?.response?.headers, now);
  // The service's own message names the object and the reason; the first line is enough.
  const detail = (e?.message ?? String(err)).split('\n')[0] ?? '';
  const tls = status === undefined ? tlsFailureHint(err, host) : undefined;
  // An answer with no Key Vault error in it (the SDK's "Unexpected status code"), or a 502/504,
  // is a proxy's or gateway's: say where to look rather than quote its page.
  if (status !== undefined && (status === 502 || status === 504 || /^Unexpected status code/.test(detail))) {
    return { status, code, retryAfterMs, message: `${status}: answered by a proxy or gateway between the controller and ${host}, not by Key Vault: check that the egress proxy allows ${host} and that the vault is reachable from the controller's network` };
  }
  const message = tls ?? (status !== undefined ? `${status}${code ? ` ${code}` : ''}: ${detail}` : `${code ? `${code}: ` : ''}${detail}`);
  return { status, code, retryAfterMs, message };
}
