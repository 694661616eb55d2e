// Where the API server is and how to authenticate to it: in-cluster service
// account, or a kubeconfig with tokens, token files or client certificates.
// Loading @kubernetes/client-node costs about 80 MB of resident memory (its
// generated client and HTTP stack), most of a controller's budget, so it is
// loaded only for the kubeconfig auth we do not handle ourselves (exec plugins
// such as kubelogin, auth providers), and then only to obtain headers.
import { readFileSync, existsSync } from 'node:fs';
import type { Agent } from 'node:http';
import https from 'node:https';
import { http } from '../core/node-http.ts';
import { homedir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

export interface Connection {
  /** Base URL, e.g. https://10.0.0.1:443. */
  readonly server: string;
  readonly agent: Agent;
  /** Authentication headers for the next request (tokens may rotate). */
  headers(): Promise<Record<string, string>>;
  /** Where the settings came from, for messages. */
  readonly source: string;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export function loadConnection(file?: string, context?: string): Connection {
  const explicit = file ?? process.env['KUBECONFIG']?.split(path.delimiter).find((f) => f && existsSync(f));
  if (explicit) return fromKubeconfig(explicit, context);
  if (process.env['KUBERNETES_SERVICE_HOST'] && existsSync(path.join(SA_DIR, 'token'))) return inCluster();
  const home = path.join(homedir(), '.kube', 'config');
  if (existsSync(home)) return fromKubeconfig(home, context);
  throw new Error('no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a pod with a service account');
}

function inCluster(): Connection {
  const host = process.env['KUBERNETES_SERVICE_HOST']!;
  const port = process.env['KUBERNETES_SERVICE_PORT'] ?? '443';
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const agent = new https.Agent({ keepAlive: true, ca: readFileSync(path.join(SA_DIR, 'ca.crt')) });
  // Bound service-account tokens rotate: read the file again now and then.
  let token = '';
  let readAt = 0;
  return {
    server,
    agent,
    source: 'in-cluster service account',
    async headers() {
      if (Date.now() - readAt > 60_000) {
        token = readFileSync(path.join(SA_DIR, 'token'), 'utf8').trim();
        readAt = Date.now();
      }
      return { authorization: `Bearer ${token}` };
    },
  };
}

interface NamedCluster {
  name: string;
  cluster: { server: string; 'certificate-authority'?: string; 'certificate-authority-data'?: string; 'insecure-skip-tls-verify'?: boolean; 'tls-server-name'?: string };
}
interface NamedUser {
  name: string;
  user?: {
    token?: string;
    tokenFile?: string;
    'client-certificate'?: string;
    'client-certificate-data'?: string;
    'client-key'?: string;
    'client-key-data'?: string;
    username?: string;
    password?: string;
    exec?: unknown;
    'auth-provider'?: unknown;
  };
}
interface Kubeconfig {
  clusters?: NamedCluster[];
  users?: NamedUser[];
  contexts?: { name: string; context: { cluster: string; user: string } }[];
  'current-context'?: string;
}

function fromKubeconfig(file: string, context?: string): Connection {
  const dir = path.dirname(file);
  const cfg = parseKubeconfig(readFileSync(file, 'utf8'));
  const ctxName = context ?? cfg['current-context'];
  const ctx = cfg.contexts?.find((c) => c.name === ctxName)?.context;
  if (!ctx) throw new Error(`kubeconfig ${file}: context ${JSON.stringify(ctxName)} not found; pass --context or set current-context`);
  const cluster = cfg.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster?.server) throw new Error(`kubeconfig ${file}: cluster ${JSON.stringify(ctx.cluster)} of context ${ctxName} has no server`);
  const user = cfg.users?.find((u) => u.name === ctx.user)?.user ?? {};
  const bytes = (data: string | undefined, fileRef: string | undefined): Buffer | undefined =>
    data ? Buffer.from(data, 'base64') : fileRef ? readFileSync(path.resolve(dir, fileRef)) : undefined;

  const tlsOptions: https.AgentOptions = {
    keepAlive: true,
    ca: bytes(cluster['certificate-authority-data'], cluster['certificate-authority']),
    cert: bytes(user['client-certificate-data'], user['client-certificate']),
    key: bytes(user['client-key-data'], user['client-key']),
    rejectUnauthorized: cluster['insecure-skip-tls-verify'] !== true,
    servername: cluster['tls-server-name'],
  };
  const agent = cluster.server.startsWith('https:') ? new https.Agent(tlsOptions) : new http.Agent({ keepAlive: true });

  let headers: () => Promise<Record<string, string>>;
  if (user.exec || user['auth-provider']) {
    headers = viaClientNode(file, ctxName!);
  } else if (user.tokenFile) {
    const tokenFile = path.resolve(dir, user.tokenFile);
    headers = async () => ({ authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}` });
  } else if (user.token) {
    const value = { authorization: `Bearer ${user.token}` };
    headers = async () => value;
  } else if (user.username !== undefined) {
    const value = { authorization: `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}` };
    headers = async () => value;
  } else {
    headers = async () => ({});
  }
  return { server: cluster.server.replace(/\/+$/, ''), agent, headers, source: `kubeconfig ${file} (context ${ctxName})` };
}

/**
 * A kubeconfig written as JSON (valid YAML too, and what many tools write) is read
 * without the YAML parser, which is loaded only for a file that needs it: in a pod
 * (service account) or with a JSON kubeconfig it costs nothing resident.
 */
function parseKubeconfig(text: string): Kubeconfig {
  if (text.trimStart().startsWith('{')) {
    try {
      return JSON.parse(text) as Kubeconfig;
    } catch {
      // Not JSON after all (YAML flow style): the YAML parser reads it.
    }
  }
  const yaml = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return yaml.parse(text) as Kubeconfig;
}

/** Exec plugins and auth providers: client-node runs them (and caches their tokens); we take the headers. */
function viaClientNode(file: string, context: string): () => Promise<Record<string, string>> {
  let kc: Promise<{ applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> }> | undefined;
  return async () => {
    kc ??= import('@kubernetes/client-node').then(({ KubeConfig }) => {
      const config = new KubeConfig();
      config.loadFromFile(file);
      config.setCurrentContext(context);
      return config;
    });
    const opts: https.RequestOptions = { headers: {} };
    await (await kc).applyToHTTPSOptions(opts);
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (typeof v === 'string') out[k.toLowerCase()] = v;
    return out;
  };
}
