// Workload identity for the sync engine, scoped to a SecretProviderClass's
// namespace: the API server mints a short-lived token for a service account
// of THAT namespace (TokenRequest, audience api://AzureADTokenExchange), and
// Microsoft Entra exchanges it for the class's clientID if that app trusts
// the service account (a federated identity credential on
// system:serviceaccount:<ns>:<sa>). The namespace is always the class's own:
// it comes from the class object, and no annotation or parameter can name
// another, so one namespace can never read with another namespace's identity.
import { ClientAssertionCredential, type AccessToken, type GetTokenOptions, type TokenCredential } from '@azure/identity';
import type { CloudEnvironment } from '../keyvault/cloud.ts';
import { diagnoseConnection, tlsFailureHint } from '../keyvault/trust.ts';
import { KubeError, type KubeClient } from '../kube/client.ts';
import type { Logger } from '../log.ts';
import { identityKey, type ReadIdentity } from './reads.ts';
import { ANNOTATION_SERVICE_ACCOUNT } from './spc.ts';

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
  return `${cloud.vaultResource}/.default`;
}

/** The Entra subject of a Kubernetes service account. */
export function serviceAccountSubject(namespace: string, serviceAccount: string): string {
  return `system:serviceaccount:${namespace}:${serviceAccount}`;
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
 * (namespace, service account, clientID, tenant) and authority — so MSAL's
 * token cache serves every read of one identity. forget() drops an identity
 * once nothing reads with it, and its token once no identity uses it.
 */
export class WorkloadIdentities {
  private readonly opts: WorkloadIdentityOptions;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pendingTokens = new Map<string, Promise<string>>();
  /** By identity key, then authority host. */
  private readonly credentials = new Map<string, Map<string, TokenCredential>>();
  /** The identities of each service account (namespace/name), so its token goes with the last one. */
  private readonly identitiesOfAccount = new Map<string, Set<string>>();
  private readonly now: () => number;

  constructor(opts: WorkloadIdentityOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  /** The credential of an identity: its namespace's service account exchanged for its clientID. */
  credentialFor(identity: ReadIdentity, cloud: CloudEnvironment): TokenCredential {
    const problem = identityProblem(identity);
    if (problem !== undefined) throw new IdentityError('invalid', problem);
    const authority = authorityFor(cloud, this.opts.authorityHost);
    const key = identityKey(identity);
    let byAuthority = this.credentials.get(key);
    if (byAuthority === undefined) {
      this.credentials.set(key, (byAuthority = new Map()));
      const account = `${identity.namespace}/${identity.serviceAccount}`;
      let identities = this.identitiesOfAccount.get(account);
      if (identities === undefined) this.identitiesOfAccount.set(account, (identities = new Set()));
      identities.add(key);
    }
    let credential = byAuthority.get(authority.authorityHost);
    if (credential === undefined) {
      credential = this.createCredential(identity, authority);
      byAuthority.set(authority.authorityHost, credential);
    }
    return credential;
  }

  /** Drops an identity's credentials (and MSAL's tokens in them), and its service account's token if no other identity uses it. */
  forget(identity: ReadIdentity): void {
    const key = identityKey(identity);
    if (!this.credentials.delete(key)) return;
    const account = `${identity.namespace}/${identity.serviceAccount}`;
    const identities = this.identitiesOfAccount.get(account);
    identities?.delete(key);
    if (identities === undefined || identities.size === 0) {
      this.identitiesOfAccount.delete(account);
      this.tokens.delete(account);
    }
  }

  /** Entries held: for the cache metrics and the memory tests. */
  get size(): { credentials: number; tokens: number } {
    let credentials = 0;
    for (const byAuthority of this.credentials.values()) credentials += byAuthority.size;
    return { credentials, tokens: this.tokens.size };
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
    // Kept only while an identity of this account is (it may have been forgotten meanwhile).
    if (this.identitiesOfAccount.has(`${namespace}/${serviceAccount}`)) this.tokens.set(`${namespace}/${serviceAccount}`, { token, refreshAt: requestedAt + 0.8 * (expiresAt - requestedAt) });
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
      // Named as the Key Vault clients are, so that sign-in logs (and a count at a proxy) tell our requests apart.
      { authorityHost: authority.authorityHost, disableInstanceDiscovery: authority.disableInstanceDiscovery, userAgentOptions: { userAgentPrefix: 'keyvault-reloader' } },
    );
    const subject = serviceAccountSubject(namespace, serviceAccount);
    return {
      async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
        assertionError = undefined;
        try {
          return await inner.getToken(scopes, options);
        } catch (err) {
          if (assertionError instanceof IdentityError) throw assertionError;
          // MSAL reports a failed connection (network_error, or a proxy's refusal as client_error,
          // server_error, endpoints_resolution_error) without its cause: find it, unless Entra refused.
          const cause = /AADSTS\d+/.test(errorText(err)) ? undefined : await diagnoseConnection(authority.authorityHost);
          throw exchangeError(err, { clientID, tenantId, subject, authorityHost: authority.authorityHost, cause });
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

function exchangeError(err: unknown, ctx: { clientID: string; tenantId: string; subject: string; authorityHost: string; cause?: { message: string; tls: boolean } | undefined }): IdentityError {
  const text = errorText(err);
  const aadsts = /AADSTS(\d+)[^\n|]*/.exec(text);
  if (aadsts !== null) {
    const description = aadsts[0].replace(/\s*Trace ID:.*$/, '').trim();
    return new IdentityError('federation-rejected', `federated credential rejected: Entra refused to exchange the token of ${ctx.subject} for client ID ${ctx.clientID} in tenant ${ctx.tenantId}: ${description} — ${refusalAdvice(aadsts[1] ?? '', description, ctx)}`);
  }
  const host = new URL(ctx.authorityHost).host;
  const cause = ctx.cause;
  const what = cause?.message ?? (text.split('\n')[0] ?? '').split(' | ')[0];
  const why = tlsFailureHint(err, host) ?? (cause?.tls ? cause.message : `${what} — Entra did not answer as expected: check that ${host} is reachable from the controller (egress proxy, firewall); the class is retried with backoff`);
  return new IdentityError('authority-unreachable', `could not get a token from ${ctx.authorityHost} for client ID ${ctx.clientID} in tenant ${ctx.tenantId} (${ctx.subject}): ${why}`);
}

// What to do about an Entra refusal, by its AADSTS code (and, for the federation
// code Entra uses for several causes, by what its description says).
function refusalAdvice(code: string, description: string, ctx: { clientID: string; tenantId: string; subject: string }): string {
  const timing = /expired|not yet valid|valid time range|lifetime/i.test(description);
  if (code === '700024' || (code === '700213' && timing)) {
    return 'the service-account token was judged outside its lifetime: check that the clocks of the cluster and of Entra agree';
  }
  if (code === '500011') return 'Entra does not know the Key Vault resource of the class\'s cloud: check the cloud (cloudName, or the resourceIdentifiers.keyVault of its environment file)';
  if (code === '700016') return `no application with client ID ${ctx.clientID} in tenant ${ctx.tenantId}: check the class's clientID and tenantId`;
  if (code === '90002' || code === '90023') return `tenant ${ctx.tenantId} is not known to Entra: check the class's tenantId`;
  if (code === '700213' || code === '70021' || code === '70025') {
    return `add a federated identity credential for subject ${ctx.subject} (issuer: the cluster's service-account issuer, audience ${TOKEN_EXCHANGE_AUDIENCE}) to that app, or set the class's clientID to an app that has one`;
  }
  return `check the app registration of client ID ${ctx.clientID} and its federated identity credential for ${ctx.subject}`;
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
