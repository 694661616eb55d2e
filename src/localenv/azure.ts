// The Azure side of the local environment: the Entra ID emulator and the Key
// Vault emulator beside the control plane, trusted the way production is
// trusted, and reached under their public-cloud names the ways a user's
// cluster reaches Azure.
//
//   product ──HTTPS_PROXY──▶ egress proxy ──CONNECT──┐
//   add-on provider ──private hosts file─────────────┼─▶ front on 127.x.y.z:443 ──▶ emulator
//   admin (this module) ──its own name lookup────────┘   (TLS with the test CA's certificate
//                                                          for the name, counts requests)
//
// - Entra runs with LOGIN_ORIGIN=https://login.microsoftonline.com, so its
//   issuer is https://login.microsoftonline.com/<tenant>/v2.0, and trusts the
//   API server's CA to fetch the service-account issuer's discovery document
//   and JWKS: federated credentials are checked for real.
// - The Key Vault emulator serves every vault as <vault>.vault.azure.net,
//   trusts that issuer (JWKS fetched from Entra directly) and answers an
//   unauthenticated request with the real challenge, so the SDK's
//   challenge-resource verification stays on.
// - A front per name group listens on port 443 of a loopback address picked at
//   random per environment (several environments share a machine), plays the
//   name with a certificate of this environment's CA, forwards to its
//   emulator keeping the Host header (both route by it), and records every
//   request: that is where Key Vault reads and Entra token requests are
//   counted, outside whatever made them.
// - The owner also serves a small control endpoint on loopback, so that a
//   test in another process counts requests and stops or starts an emulator
//   through the same handle (connectAzure).
import { KeyClient } from '@azure/keyvault-keys';
import { CertificateClient, type CertificateContentType, type KeyVaultCertificateWithPolicy } from '@azure/keyvault-certificates';
import { SecretClient } from '@azure/keyvault-secrets';
import { ClientSecretCredential } from '@azure/identity';
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, LookupFunction } from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import type { Progress } from './assets.ts';
import { freePort, httpsRequest } from './cluster.ts';
import { startEgressProxy, type ConnectRecord, type EgressProxy } from './egress-proxy.ts';
import { startFaultProxy, type FaultProxy, type ProxyLogEntry } from './fault-proxy.ts';
import { createCa, issueServingCert } from './pki.ts';
import { createEnvDir, registerCleanup, startProcess, sweepStale, waitFor, type ManagedProcess } from './process.ts';
import { ensureTestbed } from './testbeds.ts';
import { TOKEN_EXCHANGE_AUDIENCE } from '../sync/identity.ts';

export const LOGIN_HOST = 'login.microsoftonline.com';
export const VAULT_DNS_SUFFIX = 'vault.azure.net';
/** The authority host of the public cloud, where every route here leads to the Entra emulator. */
export const AUTHORITY_HOST = `https://${LOGIN_HOST}/`;
/** The Entra emulator's home tenant (fixed by its seed). */
export const TENANT_ID = '6f89cf12-978b-4d23-ac18-9ef0c127cf87';
/** User-Agent prefix of the admin's requests, which the request counts leave out unless asked. */
export const ADMIN_USER_AGENT = 'keyvault-reloader-localenv-admin';

export type Emulator = 'entra' | 'keyvault';

/** Everything another process needs to use the local Azure (written as JSON; no secret of a product identity is in it). */
export interface AzureState {
  dir: string;
  tenantId: string;
  /** The service-account issuer Entra trusts (the API server's URL). */
  clusterIssuer: string;
  /** Host of the API server, which must not go through the proxy. */
  apiServerHost: string;
  caFile: string;
  caBundleFile: string;
  proxyUrl: string;
  /** Loopback addresses of the fronts (port 443). */
  addresses: { login: string; vaults: string };
  /** The emulators themselves, for their admin and control APIs. */
  entraUrl: string;
  keyVaultUrl: string;
  control: { url: string; token: string };
  /** The admin app (a confidential app with a secret) that writes vault objects. */
  admin: { clientId: string; secret: string };
}

export interface AzureRequest {
  at: number;
  method: string;
  /** Path without the query (for Key Vault: /secrets/<name>/<version?>, /keys/…, /certificates/…). */
  path: string;
  status: number;
  /** Made by the admin of this module (vault writes, its own sign-in). */
  admin: boolean;
  /** Who made it, as its User-Agent says (the sync engine's begins with keyvault-reloader, the Azure provider's with its Go SDK's). */
  userAgent: string;
}

export interface VaultRequest extends AzureRequest {
  vault: string;
}

export interface RequestFilter {
  /** Only requests seen at or after this time (ms since the epoch). */
  since?: number;
  /** Count the admin's own requests too (default false). */
  includeAdmin?: boolean;
}

export interface EntraAuditEvent {
  time: number;
  flow: string;
  grantType: string;
  clientId: string;
  status: number;
  ok: boolean;
  error?: string;
  reason?: string;
}

export interface VaultClients {
  secrets: SecretClient;
  keys: KeyClient;
  certificates: CertificateClient;
}

/**
 * A certificate to import, with its private key. The emulator keeps the bytes
 * as given (a PFX's password aside), so its secret of the same name holds
 * exactly these: the shapes a reader of that secret must handle are chosen
 * here (bag order and encryption, chain order, EC keys without their public
 * key).
 */
export type CertificateImport =
  | {
      /** A PKCS#12 archive: one private key, its certificate, and any chain. */
      pfx: Uint8Array;
      /** Key Vault keeps no password: the secret is then the same content re-encoded without one. */
      password?: string;
      /** The policy's secret_props.contentType; default application/x-pkcs12. */
      contentType?: CertificateContentType;
    }
  | {
      /** PEM text: one unencrypted PKCS#8 PRIVATE KEY and the certificates, in the order given. */
      pem: string;
      /** Default application/x-pem-file. */
      contentType?: CertificateContentType;
    };

export interface AzureAdmin {
  /** Registers a confidential app registration; its client id. */
  registerApp(displayName: string): Promise<string>;
  /**
   * A federated identity credential on the app for the service account
   * `namespace/serviceAccount` of the cluster (issuer: the API server's,
   * audience api://AzureADTokenExchange), as `az identity federated-credential create` makes.
   */
  federate(clientId: string, namespace: string, serviceAccount: string): Promise<void>;
  /** registerApp + federate: an identity the service account signs in as; its client id. */
  workloadIdentity(namespace: string, serviceAccount: string): Promise<string>;
  /**
   * Key Vault data-plane permissions per client id (operations such as
   * `secrets/get`, `keys/get`, `certificates/get`, `secrets/list`, or `*`,
   * optionally scoped `secrets/get:<name>`), for every vault at once: a
   * principal not named is refused (403). The admin keeps `*`. `{}` restores
   * the default, full access for every valid token.
   */
  setVaultPermissions(permissions: Record<string, string[]>): Promise<void>;
  /** The official SDK clients for a vault, signed in as the admin, reaching it as <name>.vault.azure.net. */
  vault(name: string): VaultClients;
  /**
   * A new version of a certificate, through the SDK's importCertificate as
   * `az keyvault certificate import` makes it; its key and secret of the same
   * name and version come with it.
   */
  importCertificate(vault: string, name: string, certificate: CertificateImport): Promise<KeyVaultCertificateWithPolicy>;
  /** Entra's own record of token requests and why each was refused, newest first (its last 500). */
  entraAudit(): Promise<EntraAuditEvent[]>;
}

export interface AzureFaults {
  /** The next `requests` Key Vault requests (any vault, the admin's too) get 429 Throttled with Retry-After: 1. */
  throttleVault(requests: number): Promise<void>;
  /** The next `requests` Key Vault requests get 500. */
  failVault(requests: number): Promise<void>;
  clearVault(): Promise<void>;
  /** Moves the Key Vault emulator's clock (which judges token expiry and nbf/exp of objects). */
  vaultClock(change: ClockChange): Promise<void>;
  /** The token endpoint answers this OAuth error (e.g. temporarily_unavailable → 503) instead of a token. */
  failEntraTokens(fault: { error: string; description?: string; latencyMs?: number; probability?: number }): Promise<void>;
  /** Every token response is delayed. */
  delayEntraTokens(latencyMs: number): Promise<void>;
  clearEntra(): Promise<void>;
  /** Moves Entra's clock (token iat/exp, and its judgement of a federated assertion's expiry). */
  entraClock(change: ClockChange): Promise<void>;
}

export interface ClockChange {
  offsetSeconds?: number;
  advanceSeconds?: number;
  frozen?: boolean;
}

export interface EmulatorControl {
  /** Stops the emulator and its front: connections to its names are refused (the egress proxy answers 502), as in an outage. */
  stop(): Promise<void>;
  /** Starts it again with the same state (vault objects, apps, keys) and waits until it serves. */
  start(): Promise<void>;
}

export interface AzureHandle {
  readonly state: AzureState;
  readonly tenantId: string;
  /** The test CA's certificate (PEM file): what NODE_EXTRA_CA_CERTS adds. */
  readonly caFile: string;
  /** System roots + the test CA (PEM file): for a client that replaces its trust store (SSL_CERT_FILE). */
  readonly caBundleFile: string;
  /** The egress proxy, http://127.0.0.1:<port>. */
  readonly proxyUrl: string;
  /** Name → loopback address of its front on port 443; `*.vault.azure.net` stands for every vault. */
  readonly hostsEntries: Readonly<Record<string, string>>;
  /** /etc/hosts lines for the login name and these vaults (a hosts file has no wildcards). */
  hostsFile(vaults: readonly string[]): string;
  /** The environment AKS's HTTP-proxy feature gives a pod: Azure through the proxy, the API server not, the test CA trusted. */
  proxyEnv(): { HTTPS_PROXY: string; NO_PROXY: string; NODE_EXTRA_CA_CERTS: string };
  /** https://<name>.vault.azure.net/ */
  vaultUrl(name: string): string;
  readonly admin: AzureAdmin;
  readonly faults: AzureFaults;
  readonly entra: EmulatorControl;
  readonly keyVault: EmulatorControl;
  /** Key Vault requests as the vault front saw them, oldest first. */
  vaultRequests(filter?: RequestFilter): Promise<VaultRequest[]>;
  /** Entra token requests (POST …/oauth2/v2.0/token) as the login front saw them; `all` adds discovery and the rest. */
  entraRequests(filter?: RequestFilter & { all?: boolean }): Promise<AzureRequest[]>;
  /** Every CONNECT the egress proxy was asked for, oldest first. */
  connects(filter?: { since?: number }): Promise<ConnectRecord[]>;
}

export interface LocalAzure extends AzureHandle {
  /** Stops the emulators, fronts, proxy and control endpoint, and removes the folder. */
  stop(): Promise<void>;
}

export interface AzureOptions {
  /** The control plane whose service accounts Entra trusts. */
  cluster: { issuer: string; caFile: string; server: string };
  progress?: Progress;
}

const DIR_KIND = 'azure';
const STATE_FILE = 'azure.json';

/** Where a CONNECT to host:port goes: the login front, the vault front, or nowhere. */
export function routeFor(host: string, port: number, addresses: AzureState['addresses']): { host: string; port: number } | undefined {
  if (port !== 443) return undefined;
  const name = host.toLowerCase().replace(/\.$/, '');
  if (name === LOGIN_HOST) return { host: addresses.login, port: 443 };
  if (vaultNameOf(name) !== undefined) return { host: addresses.vaults, port: 443 };
  return undefined;
}

/** The vault a host names (<vault>.vault.azure.net), or undefined. */
export function vaultNameOf(host: string): string | undefined {
  const name = host.toLowerCase().replace(/:\d+$/, '');
  const suffix = `.${VAULT_DNS_SUFFIX}`;
  if (!name.endsWith(suffix)) return undefined;
  const vault = name.slice(0, -suffix.length);
  return /^[a-z0-9-]{1,24}$/.test(vault) ? vault : undefined;
}

/** Starts the Entra and Key Vault emulators, their fronts, the egress proxy and the control endpoint. */
export async function startAzure(opts: AzureOptions): Promise<LocalAzure> {
  const progress = opts.progress ?? (() => {});
  sweepStale();
  const [entraBin, keyVaultBin] = [await ensureTestbed('entra-emulator', progress), await ensureTestbed('azure-keyvault-emulator', progress)];
  const dir = await createEnvDir(DIR_KIND);
  const processes: Record<string, ManagedProcess> = {};
  const detach = registerCleanup(processes, dir);
  const closers: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => {});
    for (const p of Object.values(processes)) await p.stop('SIGTERM', 5000);
  };
  try {
    const started = Date.now();
    const owned = await bringUp({ opts, dir, processes, closers, entraBin, keyVaultBin });
    progress(`local Azure ready in ${((Date.now() - started) / 1000).toFixed(1)}s: Entra ID and Key Vault emulators as ${LOGIN_HOST} (${owned.state.addresses.login}:443) and *.${VAULT_DNS_SUFFIX} (${owned.state.addresses.vaults}:443), egress proxy ${owned.state.proxyUrl} (folder ${dir})`);
    return {
      ...owned,
      async stop() {
        detach();
        await stopAll();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    detach();
    await stopAll();
    // The folder stays for the logs the error points to.
    throw err;
  }
}

interface BringUp {
  opts: AzureOptions;
  dir: string;
  processes: Record<string, ManagedProcess>;
  closers: Array<() => Promise<void>>;
  entraBin: string;
  keyVaultBin: string;
}

async function bringUp({ opts, dir, processes, closers, entraBin, keyVaultBin }: BringUp): Promise<AzureHandle> {
  const pkiDir = path.join(dir, 'pki');
  await mkdir(pkiDir, { recursive: true });
  const ca = await createCa(pkiDir, 'keyvault-reloader-local-azure-ca');
  const entraCert = await issueServingCert(ca, 'entra', [LOGIN_HOST]);
  const vaultCert = await issueServingCert(ca, 'keyvault', [VAULT_DNS_SUFFIX, `*.${VAULT_DNS_SUFFIX}`]);
  const caPem = await readFile(ca.caCert, 'utf8');
  const roots = systemRoots();
  const caBundleFile = path.join(pkiDir, 'ca-bundle.pem');
  await writeFile(caBundleFile, [...roots, caPem].join('\n'));
  // Entra fetches the API server's discovery document and JWKS: it trusts the cluster's CA, as Entra trusts a public issuer.
  const entraTrust = path.join(pkiDir, 'entra-trust.pem');
  await writeFile(entraTrust, [...roots, await readFile(opts.cluster.caFile, 'utf8')].join('\n'));

  const [entraPort, keyVaultPort] = [await freePort(), await freePort()];
  const entraUrl = `https://127.0.0.1:${entraPort}`;
  const keyVaultUrl = `https://127.0.0.1:${keyVaultPort}`;
  const issuer = `https://${LOGIN_HOST}/${TENANT_ID}/v2.0`;

  const keyVaultData = path.join(dir, 'keyvault');
  await mkdir(path.join(keyVaultData, 'tls'), { recursive: true });
  // The emulator serves the certificate it finds in its data folder.
  await writeFile(path.join(keyVaultData, 'tls', 'cert.pem'), await readFile(vaultCert.cert));
  await writeFile(path.join(keyVaultData, 'tls', 'key.pem'), await readFile(vaultCert.key), { mode: 0o600 });

  const specs: Record<Emulator, { command: string; args: string[]; env: NodeJS.ProcessEnv; health: string }> = {
    entra: {
      command: entraBin,
      args: [],
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: String(entraPort),
        TENANT_ID,
        ORIGIN_MODE: 'compat',
        LOGIN_ORIGIN: `https://${LOGIN_HOST}`,
        ENTRA_DATA_DIR: path.join(dir, 'entra'),
        TLS_CERT: entraCert.cert,
        TLS_KEY: entraCert.key,
        SSL_CERT_FILE: entraTrust,
        LOG_LEVEL: 'warn',
        // Its issuer fetches go straight to the API server, never through a proxy of the caller's.
        HTTPS_PROXY: '',
        https_proxy: '',
      },
      health: `${entraUrl}/health`,
    },
    keyvault: {
      command: keyVaultBin,
      args: [
        `-addr=127.0.0.1:${keyVaultPort}`,
        `-data-dir=${keyVaultData}`,
        `-entra-issuer=${issuer}`,
        // Its keys straight from the emulator (127.0.0.1 is Entra's every-surface host), not through a front.
        `-entra-jwks-url=${entraUrl}/${TENANT_ID}/discovery/v2.0/keys`,
      ],
      env: { ...process.env, SSL_CERT_FILE: caBundleFile, HTTPS_PROXY: '', https_proxy: '' },
      health: `${keyVaultUrl}/health`,
    },
  };
  const running: Record<Emulator, boolean> = { entra: false, keyvault: false };
  const startEmulator = async (name: Emulator) => {
    if (running[name]) return;
    const spec = specs[name];
    const proc = startProcess({ name: name === 'entra' ? 'entra-emulator' : 'azure-keyvault-emulator', command: spec.command, args: spec.args, dir, env: spec.env });
    processes[name] = proc;
    await waitFor(`the ${name === 'entra' ? 'Entra ID' : 'Key Vault'} emulator at ${spec.health}`, async () => (await httpsRequest(spec.health, { method: 'GET', ca: caPem, timeoutMs: 2000 })).status === 200, { timeoutMs: 30_000, proc });
    running[name] = true;
  };
  await startEmulator('entra');
  await startEmulator('keyvault');

  const adminApp = await registerAdminApp(entraUrl, caPem);

  const fronts: Record<Emulator, FaultProxy> = {
    entra: await startFront({ target: entraUrl, ca: caPem, cert: entraCert, closers }),
    keyvault: await startFront({ target: keyVaultUrl, ca: caPem, cert: vaultCert, closers }),
  };
  const addresses = { login: new URL(fronts.entra.url).hostname, vaults: new URL(fronts.keyvault.url).hostname };
  const proxy: EgressProxy = await startEgressProxy({
    route: (host, port) => routeFor(host, port, addresses),
    serves: `${LOGIN_HOST}:443 and *.${VAULT_DNS_SUFFIX}:443`,
  });
  closers.push(() => proxy.close());

  const control = await startControl({
    fronts,
    proxy,
    async stop(name) {
      if (!running[name]) return;
      running[name] = false;
      await fronts[name].suspend();
      await processes[name]?.stop('SIGTERM', 10_000);
    },
    async start(name) {
      if (running[name]) return;
      await startEmulator(name);
      await fronts[name].resume();
    },
  });
  closers.push(() => control.close());

  const state: AzureState = {
    dir,
    tenantId: TENANT_ID,
    clusterIssuer: opts.cluster.issuer,
    apiServerHost: new URL(opts.cluster.server).hostname,
    caFile: ca.caCert,
    caBundleFile,
    proxyUrl: proxy.url,
    addresses,
    entraUrl,
    keyVaultUrl,
    control: { url: control.url, token: control.token },
    admin: adminApp,
  };
  // For a person at the keyboard (`keyvault-reloader env` names it); programs get the state from the handle.
  await writeFile(path.join(dir, STATE_FILE), JSON.stringify(state, null, 2), { mode: 0o600 });
  return connectAzure(state);
}

function systemRoots(): string[] {
  const system = tls.getCACertificates('system');
  return [...new Set(system.length > 0 ? system : tls.getCACertificates('bundled'))];
}

async function registerAdminApp(entraUrl: string, ca: string): Promise<AzureState['admin']> {
  const app = await adminCall<{ id: string }>(entraUrl, ca, 'POST', '/admin/api/apps', { displayName: ADMIN_USER_AGENT, isConfidential: true });
  const secret = await adminCall<{ secretText: string }>(entraUrl, ca, 'POST', `/admin/api/apps/${app.id}/secrets`, { displayName: 'admin' });
  return { clientId: app.id, secret: secret.secretText };
}

// A front: the emulator under its public names on <random loopback address>:443.
async function startFront(opts: { target: string; ca: string; cert: { cert: string; key: string }; closers: Array<() => Promise<void>> }): Promise<FaultProxy> {
  const tlsFiles = { cert: readFileSync(opts.cert.cert), key: readFileSync(opts.cert.key) };
  for (let attempt = 0; ; attempt++) {
    const host = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
    try {
      const front = await startFaultProxy({ target: opts.target, targetCa: opts.ca, tls: tlsFiles, listen: { host, port: 443 }, preserveHost: true });
      opts.closers.push(() => front.close());
      return front;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES') {
        throw new Error(`the local Azure needs to listen on port 443 (${host}:443), which takes root or CAP_NET_BIND_SERVICE: run the tests as root, as CI and these machines do (the Azure provider reaches Key Vault only as <vault>.vault.azure.net on port 443)`);
      }
      if (code !== 'EADDRINUSE' || attempt >= 20) throw err;
    }
  }
}

interface Control {
  url: string;
  token: string;
  close(): Promise<void>;
}

// The owner's control endpoint: request records, and emulator stop/start, for every process using this Azure.
async function startControl(opts: { fronts: Record<Emulator, FaultProxy>; proxy: EgressProxy; stop(name: Emulator): Promise<void>; start(name: Emulator): Promise<void> }): Promise<Control> {
  const token = randomBytes(16).toString('hex');
  let pending: Promise<unknown> = Promise.resolve();
  const server = http.createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${token}`) return reply(401, { error: 'the control token of this local Azure is needed' });
    const url = new URL(req.url ?? '/', 'http://control');
    const since = Number(url.searchParams.get('since') ?? 0);
    if (req.method === 'GET' && url.pathname === '/requests') {
      const after = <T extends { at: number }>(list: readonly T[]) => list.filter((e) => e.at >= since);
      return reply(200, { vault: after(opts.fronts.keyvault.log), entra: after(opts.fronts.entra.log), connects: after(opts.proxy.connects) });
    }
    const m = /^\/emulators\/(entra|keyvault)\/(stop|start)$/.exec(url.pathname);
    if (req.method === 'POST' && m) {
      const name = m[1] as Emulator;
      // One change at a time: a start waits for a stop still running.
      const run = pending.then(() => (m[2] === 'stop' ? opts.stop(name) : opts.start(name)));
      pending = run.catch(() => {});
      run.then(() => reply(200, { ok: true }), (err: Error) => reply(500, { error: err.message }));
      return;
    }
    reply(404, { error: `no ${req.method} ${url.pathname}` });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function adminCall<T>(base: string, ca: string, method: string, pathname: string, body?: unknown): Promise<T> {
  const res = await httpsRequest(`${base}${pathname}`, { method, ca, body });
  if (res.status < 200 || res.status >= 300) throw new Error(`${method} ${pathname} at ${base}: HTTP ${res.status}: ${res.body.slice(0, 500)}`);
  return (res.body ? JSON.parse(res.body) : undefined) as T;
}

/** The handle of a local Azure started by this or another process, from its state. */
export function connectAzure(state: AzureState): AzureHandle {
  const caPem = readFileSync(state.caFile, 'utf8');
  const entra = <T>(method: string, pathname: string, body?: unknown) => adminCall<T>(state.entraUrl, caPem, method, pathname, body);
  const keyVault = <T>(pathname: string, body: unknown) => adminCall<T>(state.keyVaultUrl, caPem, 'POST', pathname, body);
  const control = async <T>(method: string, pathname: string): Promise<T> => {
    const res = await fetch(`${state.control.url}${pathname}`, { method, headers: { authorization: `Bearer ${state.control.token}` } });
    const body = (await res.json()) as T & { error?: string };
    if (!res.ok) throw new Error(`local Azure control ${method} ${pathname}: ${body.error ?? res.status}`);
    return body;
  };
  const records = (since = 0) => control<{ vault: ProxyLogEntry[]; entra: ProxyLogEntry[]; connects: ConnectRecord[] }>('GET', `/requests?since=${since}`);
  const isAdmin = (e: ProxyLogEntry) => e.userAgent.startsWith(ADMIN_USER_AGENT);
  const emulator = (name: Emulator): EmulatorControl => ({
    stop: () => control('POST', `/emulators/${name}/stop`).then(() => {}),
    start: () => control('POST', `/emulators/${name}/start`).then(() => {}),
  });

  // The admin reaches the fronts by a name lookup of its own (as the provider does with its hosts file), trusting the test CA.
  const lookup: LookupFunction = (hostname, options, callback) => {
    const to = routeFor(hostname, 443, state.addresses);
    const cb = callback as (err: NodeJS.ErrnoException | null, address: string | Array<{ address: string; family: number }>, family?: number) => void;
    if (to === undefined) return cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname} (the local Azure's admin reaches only ${LOGIN_HOST} and *.${VAULT_DNS_SUFFIX})`), { code: 'ENOTFOUND' }), '');
    if (options.all) cb(null, [{ address: to.host, family: 4 }]);
    else cb(null, to.host, 4);
  };
  const agent = new https.Agent({ ca: caPem, keepAlive: true, lookup });
  const sdkOptions = { agent, userAgentOptions: { userAgentPrefix: ADMIN_USER_AGENT } };
  let credential: ClientSecretCredential | undefined;
  const vaults = new Map<string, VaultClients>();

  const admin: AzureAdmin = {
    async registerApp(displayName) {
      return (await entra<{ id: string }>('POST', '/admin/api/apps', { displayName, isConfidential: true })).id;
    },
    async federate(clientId, namespace, serviceAccount) {
      await entra('POST', `/admin/api/apps/${clientId}/federated-credentials`, {
        name: `${namespace}-${serviceAccount}`.slice(0, 120),
        issuer: state.clusterIssuer,
        subject: `system:serviceaccount:${namespace}:${serviceAccount}`,
        audiences: [TOKEN_EXCHANGE_AUDIENCE],
      });
    },
    async workloadIdentity(namespace, serviceAccount) {
      const clientId = await admin.registerApp(`${namespace}/${serviceAccount}`);
      await admin.federate(clientId, namespace, serviceAccount);
      return clientId;
    },
    async setVaultPermissions(permissions) {
      const all = Object.keys(permissions).length === 0 ? {} : { ...permissions, [state.admin.clientId]: ['*'] };
      await keyVault('/_emulator/permissions', all);
    },
    vault(name) {
      let clients = vaults.get(name);
      if (clients === undefined) {
        credential ??= new ClientSecretCredential(state.tenantId, state.admin.clientId, state.admin.secret, { ...sdkOptions, authorityHost: AUTHORITY_HOST });
        const url = handle.vaultUrl(name);
        clients = { secrets: new SecretClient(url, credential, sdkOptions), keys: new KeyClient(url, credential, sdkOptions), certificates: new CertificateClient(url, credential, sdkOptions) };
        vaults.set(name, clients);
      }
      return clients;
    },
    importCertificate(vault, name, certificate) {
      // The SDK sends a PEM as its text and anything else base64, by the policy's content type.
      const [bytes, contentType] = 'pfx' in certificate
        ? [certificate.pfx, certificate.contentType ?? 'application/x-pkcs12']
        : [Buffer.from(certificate.pem), certificate.contentType ?? 'application/x-pem-file'];
      const password = 'pfx' in certificate ? certificate.password : undefined;
      // @azure/keyvault-certificates 4.10 drops `policy` from the import request (its serializer reads
      // `certificatePolicy`, which the options are spread into): named that way too, the content type
      // reaches the vault, as `az keyvault certificate import --policy` sends it.
      const options = { policy: { contentType }, certificatePolicy: { secretProperties: { contentType } }, ...(password ? { password } : {}) };
      return admin.vault(vault).certificates.importCertificate(name, bytes, options);
    },
    async entraAudit() {
      return (await entra<{ value: EntraAuditEvent[] }>('GET', '/admin/api/audit?limit=500')).value;
    },
  };

  const entraFaults = (body: object) => entra('POST', '/admin/api/faults', body).then(() => {});
  const faults: AzureFaults = {
    throttleVault: (n) => keyVault('/_emulator/faults', { throttleNextRequests: n }).then(() => {}),
    failVault: (n) => keyVault('/_emulator/faults', { rejectNextRequests: n }).then(() => {}),
    clearVault: () => keyVault('/_emulator/faults', { throttleNextRequests: 0, rejectNextRequests: 0 }).then(() => {}),
    vaultClock: (c) => keyVault('/_emulator/clock', { offset: c.offsetSeconds, advance: c.advanceSeconds, freeze: c.frozen }).then(() => {}),
    failEntraTokens: (f) => entraFaults({ tokenError: f.error, tokenErrorDescription: f.description ?? '', tokenLatencyMs: f.latencyMs ?? 0, probability: f.probability ?? 1 }),
    delayEntraTokens: (ms) => entraFaults({ tokenLatencyMs: ms }),
    clearEntra: () => entra('DELETE', '/admin/api/faults').then(() => {}),
    entraClock: (c) => entra('POST', '/admin/api/clock', c).then(() => {}),
  };

  const vaultsWildcard = `*.${VAULT_DNS_SUFFIX}`;
  const handle: AzureHandle = {
    state,
    tenantId: state.tenantId,
    caFile: state.caFile,
    caBundleFile: state.caBundleFile,
    proxyUrl: state.proxyUrl,
    hostsEntries: { [LOGIN_HOST]: state.addresses.login, [vaultsWildcard]: state.addresses.vaults },
    hostsFile: (names) => [`${state.addresses.login} ${LOGIN_HOST}`, ...names.map((v) => `${state.addresses.vaults} ${v}.${VAULT_DNS_SUFFIX}`)].join('\n') + '\n',
    proxyEnv: () => ({
      HTTPS_PROXY: state.proxyUrl,
      NO_PROXY: [...new Set([state.apiServerHost, '127.0.0.1', 'localhost'])].join(','),
      NODE_EXTRA_CA_CERTS: state.caFile,
    }),
    vaultUrl: (name) => `https://${name}.${VAULT_DNS_SUFFIX}/`,
    admin,
    faults,
    entra: emulator('entra'),
    keyVault: emulator('keyvault'),
    async vaultRequests(filter = {}) {
      const { vault } = await records(filter.since);
      return vault
        .filter((e) => filter.includeAdmin || !isAdmin(e))
        .map((e) => ({ at: e.at, vault: vaultNameOf(e.host) ?? e.host, method: e.method, path: e.path, status: e.status, admin: isAdmin(e), userAgent: e.userAgent }));
    },
    async entraRequests(filter = {}) {
      const { entra: seen } = await records(filter.since);
      return seen
        .filter((e) => (filter.includeAdmin || !isAdmin(e)) && (filter.all || (e.method === 'POST' && /\/oauth2\/v2\.0\/token$/.test(e.path))))
        .map((e) => ({ at: e.at, method: e.method, path: e.path, status: e.status, admin: isAdmin(e), userAgent: e.userAgent }));
    },
    async connects(filter = {}) {
      return (await records(filter.since)).connects;
    },
  };
  return handle;
}
