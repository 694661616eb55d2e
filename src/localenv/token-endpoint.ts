// A local stand-in for Microsoft Entra ID's token endpoint, for workload
// identity only: it accepts a client_credentials request whose client
// assertion is a service-account token of the local API server, checks it
// against a table of federated identity credentials (client id → allowed
// subjects) the way Entra does, and issues a signed access token for the
// requested resource. It also serves the OpenID configuration MSAL reads from
// a custom authority (with disableInstanceDiscovery), so @azure/identity's
// ClientAssertionCredential talks to it unchanged.
//
// Entra's federated credential match is on (issuer, subject, audience): the
// issuer must be the API server's service-account issuer, the audience
// api://AzureADTokenExchange, the subject system:serviceaccount:<ns>:<sa>.
import { createHash, generateKeyPairSync, randomUUID, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeClient } from '../kube/client.ts';
import { TOKEN_EXCHANGE_AUDIENCE } from '../sync/identity.ts';
import { decodeJwt, JwtError, verifyJwt, type JwtClaims } from './jwt.ts';

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface TokenEndpointOptions {
  /** Reads the API server's service-account issuer and JWKS (the discovery documents). */
  client: KubeClient;
  /** Serving certificate and key (e.g. from issueServingCert in pki.ts): MSAL only talks to https authorities. */
  tls: { cert: string | Buffer; key: string | Buffer };
  /** The tenant served; requests for any other tenant fail as Entra fails them. */
  tenantId: string;
  /** Federated identity credentials: client id → subjects allowed to sign in as it. */
  federatedCredentials?: Record<string, readonly string[]>;
  /** Lifetime of issued access tokens (default 3600 s). */
  accessTokenLifetimeSeconds?: number;
}

export interface TokenExchange {
  at: number;
  tenantId: string;
  clientId: string;
  /** The assertion's subject as presented (before verification); '' when it could not be read. */
  subject: string;
  scope: string;
  status: number;
  /** The AADSTS code of a refusal. */
  errorCode?: number;
}

export interface TokenEndpoint {
  /** The authority host to give @azure/identity (`authorityHost`), with a trailing slash. */
  readonly url: string;
  readonly tenantId: string;
  /** Issuer of the access tokens it issues: `<url><tenant>/v2.0`. */
  readonly issuer: string;
  /** Every token request answered, in order; never a token. */
  readonly exchanges: readonly TokenExchange[];
  /** Adds a federated identity credential: `subject` may now sign in as `clientId`. */
  federate(clientId: string, subject: string): void;
  /** The public keys of its access tokens (also served at `<tenant>/discovery/v2.0/keys`). */
  jwks(): { keys: (JsonWebKey & { kid: string })[] };
  /** Verifies an access token this endpoint issued, for `audience` (the resource, e.g. https://vault.azure.net). */
  verifyAccessToken(token: string, audience: string): JwtClaims;
  close(): Promise<void>;
}

interface ApiserverTrust {
  issuer: string;
  jwks: { keys: (JsonWebKey & { kid?: string })[] };
}

class EntraError extends Error {
  readonly status: number;
  readonly error: string;
  readonly code: number;
  constructor(status: number, error: string, code: number, description: string) {
    super(description);
    this.status = status;
    this.error = error;
    this.code = code;
  }
}

export async function startTokenEndpoint(opts: TokenEndpointOptions): Promise<TokenEndpoint> {
  const federated = new Map<string, Set<string>>();
  for (const [clientId, subjects] of Object.entries(opts.federatedCredentials ?? {})) federated.set(clientId, new Set(subjects));
  const lifetime = opts.accessTokenLifetimeSeconds ?? 3600;
  const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = createHash('sha256').update(signingKey.publicKey.export({ type: 'spki', format: 'der' })).digest('base64url').slice(0, 16);
  const exchanges: TokenExchange[] = [];

  // The API server's discovery documents, read once and again when a token names a key we do not have (rotation).
  let trust: Promise<ApiserverTrust> | undefined;
  const loadTrust = (): Promise<ApiserverTrust> => {
    trust = (async () => {
      const config = await opts.client.request<{ issuer: string }>('GET', '/.well-known/openid-configuration');
      const jwks = await opts.client.request<ApiserverTrust['jwks']>('GET', '/openid/v1/jwks', { accept: 'application/jwk-set+json' });
      return { issuer: config.issuer, jwks };
    })();
    trust.catch(() => (trust = undefined));
    return trust;
  };

  let base = '';
  const issuerOf = (tenant: string) => `${base}${tenant}/v2.0`;

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'https://local');
    const parts = url.pathname.split('/').filter(Boolean);
    const tenant = parts[0] ?? '';
    const rest = parts.slice(1).join('/');
    try {
      if (req.method === 'GET' && (rest === 'v2.0/.well-known/openid-configuration' || rest === '.well-known/openid-configuration')) {
        checkTenant(tenant);
        return json(res, 200, openIdConfiguration(base, tenant));
      }
      if (req.method === 'GET' && rest === 'discovery/v2.0/keys') {
        checkTenant(tenant);
        return json(res, 200, endpoint.jwks());
      }
      if (req.method === 'POST' && rest === 'oauth2/v2.0/token') {
        const form = new URLSearchParams(await readBody(req));
        const record: TokenExchange = { at: Date.now(), tenantId: tenant, clientId: form.get('client_id') ?? '', subject: '', scope: form.get('scope') ?? '', status: 0 };
        exchanges.push(record);
        try {
          checkTenant(tenant);
          const body = await exchange(tenant, form, record);
          record.status = 200;
          return json(res, 200, body);
        } catch (err) {
          if (err instanceof EntraError) {
            record.status = err.status;
            record.errorCode = err.code;
          }
          throw err;
        }
      }
      return json(res, 404, { error: 'not_found', error_description: `${req.method} ${url.pathname} is not served by the local token endpoint` });
    } catch (err) {
      if (err instanceof EntraError) return entraError(res, err);
      return json(res, 500, { error: 'server_error', error_description: `local token endpoint failed: ${(err as Error).message}` });
    }
  };

  const checkTenant = (tenant: string): void => {
    if (tenant !== opts.tenantId) {
      throw new EntraError(400, 'invalid_tenant', 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
    }
  };

  const exchange = async (tenant: string, form: URLSearchParams, record: TokenExchange): Promise<object> => {
    const required = (name: string): string => {
      const value = form.get(name);
      if (!value) throw new EntraError(400, 'invalid_request', 900144, `The request body must contain the following parameter: '${name}'.`);
      return value;
    };
    const grantType = required('grant_type');
    if (grantType !== 'client_credentials') throw new EntraError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType}'.`);
    const clientId = required('client_id');
    const scope = required('scope');
    if (!scope.endsWith('/.default') || scope.trim().includes(' ')) {
      throw new EntraError(400, 'invalid_scope', 1002012, `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`);
    }
    const assertion = form.get('client_assertion');
    if (!assertion) throw new EntraError(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    const assertionType = form.get('client_assertion_type');
    if (assertionType !== JWT_BEARER_ASSERTION_TYPE) {
      throw new EntraError(400, 'invalid_request', 900144, `The request body must contain the following parameter: 'client_assertion_type' with the value '${JWT_BEARER_ASSERTION_TYPE}'.`);
    }

    let presented: JwtClaims;
    try {
      presented = decodeJwt(assertion).claims;
    } catch {
      throw new EntraError(401, 'invalid_client', 50027, 'JWT token is invalid or malformed.');
    }
    record.subject = typeof presented.sub === 'string' ? presented.sub : '';

    const subjects = federated.get(clientId);
    if (subjects === undefined) {
      throw new EntraError(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.`);
    }
    let current = await (trust ?? loadTrust());
    const noMatch = () => new EntraError(400, 'invalid_request', 70021, `No matching federated identity record found for presented assertion. Assertion Issuer: '${String(presented.iss)}'. Assertion Subject: '${record.subject}'. Assertion Audience: '${[presented.aud].flat().join(',')}'.`);
    // Entra matches (issuer, subject, audience) before it checks a signature.
    if (presented.iss !== current.issuer || !subjects.has(record.subject) || ![presented.aud].flat().includes(TOKEN_EXCHANGE_AUDIENCE)) throw noMatch();
    const { header } = decodeJwt(assertion);
    if (header.kid !== undefined && !current.jwks.keys.some((k) => k.kid === header.kid)) current = await loadTrust();
    try {
      verifyJwt(assertion, current.jwks, { issuer: current.issuer, audience: TOKEN_EXCHANGE_AUDIENCE });
    } catch (err) {
      if (err instanceof JwtError && /expired|not yet valid/.test(err.message)) {
        throw new EntraError(401, 'invalid_client', 700024, 'Client assertion is not within its valid time range.');
      }
      throw new EntraError(401, 'invalid_client', 50027, `JWT token is invalid or malformed: ${(err as Error).message}.`);
    }

    const resource = scope.slice(0, -'/.default'.length);
    const now = Math.floor(Date.now() / 1000);
    const oid = uuidFrom(`${tenant}/${clientId}`);
    const claims = { aud: resource, iss: issuerOf(tenant), iat: now, nbf: now, exp: now + lifetime, tid: tenant, appid: clientId, azp: clientId, oid, sub: oid, idtyp: 'app', ver: '2.0', uti: randomUUID() };
    return { token_type: 'Bearer', expires_in: lifetime, ext_expires_in: lifetime, access_token: signJwt(claims, signingKey.privateKey, kid) };
  };

  const server = https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, (req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;

  const endpoint: TokenEndpoint = {
    url: base,
    tenantId: opts.tenantId,
    issuer: issuerOf(opts.tenantId),
    exchanges,
    federate(clientId, subject) {
      let subjects = federated.get(clientId);
      if (subjects === undefined) federated.set(clientId, (subjects = new Set()));
      subjects.add(subject);
    },
    jwks() {
      const jwk = signingKey.publicKey.export({ format: 'jwk' });
      return { keys: [{ ...jwk, kid, use: 'sig', alg: 'RS256' } as JsonWebKey & { kid: string }] };
    },
    verifyAccessToken(token, audience) {
      return verifyJwt(token, endpoint.jwks(), { issuer: endpoint.issuer, audience });
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
  return endpoint;
}

function openIdConfiguration(base: string, tenant: string): object {
  const at = (p: string) => `${base}${tenant}/${p}`;
  return {
    issuer: at('v2.0'),
    token_endpoint: at('oauth2/v2.0/token'),
    authorization_endpoint: at('oauth2/v2.0/authorize'),
    jwks_uri: at('discovery/v2.0/keys'),
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    tenant_region_scope: null,
    cloud_instance_name: 'local',
  };
}

function signJwt(claims: object, key: KeyObject, kid: string): string {
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid })).toString('base64url');
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signature = sign('RSA-SHA256', Buffer.from(`${header}.${payload}`), key).toString('base64url');
  return `${header}.${payload}.${signature}`;
}

// A stable object id for a service principal, so tokens for one app carry one oid.
function uuidFrom(text: string): string {
  const h = createHash('sha256').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      body += d;
      if (body.length > 1_000_000) req.destroy(new Error('request body too large'));
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function entraError(res: ServerResponse, err: EntraError): void {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  json(res, err.status, {
    error: err.error,
    error_description: `AADSTS${err.code}: ${err.message} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
    error_codes: [err.code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
  });
}
