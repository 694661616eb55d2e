// Workload identity for the sync engine, scoped to a SecretProviderClass's
// namespace: the API server mints a short-lived token for a service account
// of THAT namespace (TokenRequest, audience api://AzureADTokenExchange), and
// Microsoft Entra exchanges it for the class's clientID if that app trusts
// the service account (a federated identity credential on
// system:serviceaccount:<ns>:<sa>). The namespace is always the class's own:
// it comes from the class object, and no annotation or parameter can name
// another, so one namespace can never read with another namespace's identity.
import { ClientAssertionCredential, type AccessToken, type GetTokenOptions, type TokenCredential } from '@azure/identity';
import { KubeError, type KubeClient } from '../kube/client.ts';
import type { Logger } from '../log.ts';
import { classIdentity, identityKey, type ReadIdentity } from './secret-data.ts';
import { ANNOTATION_SERVICE_ACCOUNT, type CloudEnvironment, type ParsedClass } from './spc.ts';

/** The audience Entra requires of a token it exchanges (fixed by Entra). */
export const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';

/** The API server refuses TokenRequests shorter than 10 minutes. */
export const MIN_TOKEN_EXPIRATION_SECONDS = 600;

export type IdentityFailure = 'invalid' | 'service-account-not-found' | 'forbidden' | 'token-request-failed' | 'federation-rejected' | 'authority-unreachable';

/** An identity problem, worded as what to fix; never carries a token. */
export class IdentityError extends Error {
  readonly reason: IdentityFailure;
  constructor(reason: IdentityFailure, message: string) {
    super(redactTokens(message));
    this.reason = reason;
    this.name = 'IdentityError';
  }
}

export interface WorkloadIdentityOptions {
  client: KubeClient;
  log: Logger;
  /**
   * The configured authority host (--authority-host or AZURE_AUTHORITY_HOST).
   * A Microsoft host (or none) means each class's own cloud decides; any other
   * host (a local or private authority) is used as is, without instance discovery.
   */
  authorityHost?: string | undefined;
  /** Lifetime asked of TokenRequest (default and minimum 600 s). */
  tokenExpirationSeconds?: number;
  now?: () => number;
}

interface CachedToken {
  token: string;
  refreshAt: number;
}

// The hosts of Microsoft Entra's public and sovereign clouds: with one of these
// configured, instance discovery stays on and the class's cloud picks the host.
const MICROSOFT_AUTHORITY_HOSTS = new Set([
  'login.microsoftonline.com',
  'login.microsoft.com',
  'login.windows.net',
  'sts.windows.net',
  'login.microsoftonline.us',
  'login.usgovcloudapi.net',
  'login.chinacloudapi.cn',
  'login.partner.microsoftonline.cn',
]);

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * The Entra authority a class's identity signs in at, and whether MSAL's
 * instance discovery must be skipped (it only knows Microsoft's hosts).
 */
export function authorityFor(cloud: CloudEnvironment, configured?: string): { authorityHost: string; disableInstanceDiscovery: boolean } {
  if (configured === undefined || configured.trim() === '') return { authorityHost: cloud.authorityHost, disableInstanceDiscovery: false };
  let url: URL;
  try {
    url = new URL(configured);
  } catch {
    throw new IdentityError('invalid', `authority host ${JSON.stringify(configured)} is not a URL: set --authority-host (or AZURE_AUTHORITY_HOST) to e.g. https://login.microsoftonline.com/`);
  }
  if (url.protocol !== 'https:') throw new IdentityError('invalid', `authority host ${configured} must use https (Entra and MSAL only talk TLS)`);
  if (MICROSOFT_AUTHORITY_HOSTS.has(url.hostname.toLowerCase())) return { authorityHost: cloud.authorityHost, disableInstanceDiscovery: false };
  return { authorityHost: url.href.endsWith('/') ? url.href : `${url.href}/`, disableInstanceDiscovery: true };
}

/** The token scope of a cloud's Key Vault, e.g. https://vault.azure.net/.default. */
export function vaultScope(cloud: CloudEnvironment): string {
  return `https://${cloud.vaultDnsSuffix}/.default`;
}

/** The Entra subject of a Kubernetes service account. */
export function serviceAccountSubject(namespace: string, serviceAccount: string): string {
  return `system:serviceaccount:${namespace}:${serviceAccount}`;
}

/**
 * The identity a class reads with: the service account of its annotation,
 * else the default, always in the class's own namespace.
 */
export function identityOfClass(parsed: ParsedClass, defaultServiceAccount: string): ReadIdentity {
  return classIdentity(parsed, defaultServiceAccount);
}

/** Why an identity cannot be used, before anything is asked of the API server. */
export function identityProblem(identity: ReadIdentity): string | undefined {
  if (!DNS1123_LABEL.test(identity.namespace) || identity.namespace.length > 63) {
    return `namespace ${JSON.stringify(identity.namespace)} is not a namespace name`;
  }
  const sa = identity.serviceAccount;
  if (sa.length === 0 || sa.length > 253 || !DNS1123_SUBDOMAIN.test(sa)) {
    return `${ANNOTATION_SERVICE_ACCOUNT} ${JSON.stringify(sa)} is not a service account name: give the name of a service account in namespace ${identity.namespace} (a SecretProviderClass can only use a service account of its own namespace)`;
  }
  if (identity.clientID === '') return 'spec.parameters.clientID is empty: set the client id of the workload identity that may read the vault';
  if (identity.tenantId === '') return 'spec.parameters.tenantId is empty: set the Microsoft Entra tenant of the vault';
  return undefined;
}

/**
 * Service-account tokens and Entra credentials, cached: a token per
 * (namespace, service account) until 80% of its life, a credential per
 * (namespace, service account, clientID, tenant, authority) — so MSAL's token
 * cache serves every read of one identity.
 */
export class WorkloadIdentities {
  private readonly opts: WorkloadIdentityOptions;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pendingTokens = new Map<string, Promise<string>>();
  private readonly credentials = new Map<string, TokenCredential>();
  private readonly now: () => number;

  constructor(opts: WorkloadIdentityOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  /** The credential of a class: its namespace's service account exchanged for its clientID. */
  credentialForClass(parsed: ParsedClass, defaultServiceAccount: string): { identity: ReadIdentity; credential: TokenCredential } {
    const identity = identityOfClass(parsed, defaultServiceAccount);
    return { identity, credential: this.credentialFor(identity, parsed.cloud) };
  }

  credentialFor(identity: ReadIdentity, cloud: CloudEnvironment): TokenCredential {
    const problem = identityProblem(identity);
    if (problem !== undefined) throw new IdentityError('invalid', problem);
    const authority = authorityFor(cloud, this.opts.authorityHost);
    const key = `${identityKey(identity)}|${authority.authorityHost}`;
    let credential = this.credentials.get(key);
    if (credential === undefined) {
      credential = this.createCredential(identity, authority);
      this.credentials.set(key, credential);
    }
    return credential;
  }

  /** A TokenRequest token of `serviceAccount` in `namespace`, audience api://AzureADTokenExchange, cached. */
  async serviceAccountToken(namespace: string, serviceAccount: string): Promise<string> {
    const key = `${namespace}/${serviceAccount}`;
    const cached = this.tokens.get(key);
    if (cached !== undefined && this.now() < cached.refreshAt) return cached.token;
    let pending = this.pendingTokens.get(key);
    if (pending === undefined) {
      pending = this.requestToken(namespace, serviceAccount).finally(() => this.pendingTokens.delete(key));
      this.pendingTokens.set(key, pending);
    }
    return pending;
  }

  /** Forgets cached tokens and credentials (e.g. when a class's service account is recreated). */
  clear(): void {
    this.tokens.clear();
    this.credentials.clear();
  }

  private async requestToken(namespace: string, serviceAccount: string): Promise<string> {
    const expirationSeconds = Math.max(MIN_TOKEN_EXPIRATION_SECONDS, this.opts.tokenExpirationSeconds ?? MIN_TOKEN_EXPIRATION_SECONDS);
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(serviceAccount)}/token`;
    const requestedAt = this.now();
    let response: { status?: { token?: string; expirationTimestamp?: string } };
    try {
      response = await this.opts.client.request('POST', path, {
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [TOKEN_EXCHANGE_AUDIENCE], expirationSeconds } },
      });
    } catch (err) {
      throw tokenRequestError(err, namespace, serviceAccount);
    }
    const token = response.status?.token;
    if (!token) throw new IdentityError('token-request-failed', `the API server returned no token for service account ${serviceAccount} in namespace ${namespace}`);
    const expiresAt = Date.parse(response.status?.expirationTimestamp ?? '') || requestedAt + expirationSeconds * 1000;
    this.tokens.set(`${namespace}/${serviceAccount}`, { token, refreshAt: requestedAt + 0.8 * (expiresAt - requestedAt) });
    this.opts.log.debug({ namespace, serviceAccount, expiresAt: new Date(expiresAt).toISOString() }, 'service-account token issued for the workload identity exchange');
    return token;
  }

  private createCredential(identity: ReadIdentity, authority: { authorityHost: string; disableInstanceDiscovery: boolean }): TokenCredential {
    const { namespace, serviceAccount, clientID, tenantId } = identity;
    // MSAL wraps what the assertion callback throws; keep ours to rethrow it as is.
    let assertionError: unknown;
    const inner = new ClientAssertionCredential(
      tenantId,
      clientID,
      async () => {
        try {
          return await this.serviceAccountToken(namespace, serviceAccount);
        } catch (err) {
          assertionError = err;
          throw err;
        }
      },
      // Entra is reached as a pod reaches it: HTTPS_PROXY/NO_PROXY and the process's CAs (NODE_EXTRA_CA_CERTS).
      { authorityHost: authority.authorityHost, disableInstanceDiscovery: authority.disableInstanceDiscovery },
    );
    const subject = serviceAccountSubject(namespace, serviceAccount);
    return {
      async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
        assertionError = undefined;
        try {
          return await inner.getToken(scopes, options);
        } catch (err) {
          if (assertionError instanceof IdentityError) throw assertionError;
          throw exchangeError(err, { clientID, tenantId, subject, authorityHost: authority.authorityHost });
        }
      },
    };
  }
}

function tokenRequestError(err: unknown, namespace: string, serviceAccount: string): IdentityError {
  if (err instanceof KubeError && err.status === 404) {
    return new IdentityError('service-account-not-found', `service account ${serviceAccount} not found in namespace ${namespace}: create it, or name an existing service account of namespace ${namespace} with the ${ANNOTATION_SERVICE_ACCOUNT} annotation on the SecretProviderClass`);
  }
  if (err instanceof KubeError && err.status === 403) {
    return new IdentityError('forbidden', `not allowed to request a token for service account ${serviceAccount} in namespace ${namespace}: grant keyvault-reloader "create" on serviceaccounts/token in that namespace (the Helm chart's sync RBAC does)`);
  }
  return new IdentityError('token-request-failed', `TokenRequest for service account ${serviceAccount} in namespace ${namespace} failed: ${(err as Error).message}`);
}

function exchangeError(err: unknown, ctx: { clientID: string; tenantId: string; subject: string; authorityHost: string }): IdentityError {
  const text = errorText(err);
  const aadsts = /AADSTS\d+[^\n]*/.exec(text)?.[0];
  if (aadsts !== undefined) {
    const description = aadsts.replace(/\s*Trace ID:.*$/, '');
    return new IdentityError('federation-rejected', `federated credential rejected: Entra refused to exchange the token of ${ctx.subject} for client ID ${ctx.clientID} in tenant ${ctx.tenantId}: ${description} — add a federated identity credential for subject ${ctx.subject} (issuer: the cluster's service-account issuer, audience ${TOKEN_EXCHANGE_AUDIENCE}) to that app, or set the class's clientID to an app that has one`);
  }
  return new IdentityError('authority-unreachable', `could not get a token from ${ctx.authorityHost} for client ID ${ctx.clientID} in tenant ${ctx.tenantId} (${ctx.subject}): ${text.split('\n')[0]}`);
}

// The message of an error and of its causes: MSAL and @azure/identity wrap.
function errorText(err: unknown): string {
  const parts: string[] = [];
  let at: unknown = err;
  for (let depth = 0; at instanceof Error && depth < 5; depth++) {
    parts.push(at.message);
    const response = (at as { errorResponse?: { errorDescription?: string } }).errorResponse;
    if (response?.errorDescription) parts.push(response.errorDescription);
    at = (at as { cause?: unknown }).cause;
  }
  return parts.length > 0 ? parts.join(' | ') : String(err);
}

/** Replaces anything shaped like a JWT, so that no token reaches a log or an Event. */
export function redactTokens(text: string): string {
  return text.replace(/eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, '[token]');
}
