// The objects the scenarios run against: Secrets of about 4 KB and annotated
// Deployments spread over namespaces, one namespace holding many more
// workloads than the rest (the reaction scenario's "namespace of 200").
// Deployment k of a namespace reads Secret k of it (envFrom and a volume);
// the other Secrets are referenced by nothing, as most Secrets in a real
// cluster are (tokens, Helm releases, TLS). Deployments have replicas: 0 so
// that the scheduler and KWOK need not run thousands of pods: the reloader's
// work (cache, decide, patch) is the same for any replica count.
import { randomBytes } from 'node:crypto';
import type { Api } from './api.ts';
import { ApiError } from './api.ts';
import { now } from './clock.ts';
import { mapLimit } from './pool.ts';

export interface Scale {
  namespaces: number;
  secrets: number;
  deployments: number;
  /** Workloads in the busiest namespace (the reaction scenario's namespace). */
  hotWorkloads: number;
  /** Raw bytes of data per Secret. */
  secretBytes: number;
}

export const FULL_SCALE: Scale = { namespaces: 50, secrets: 10_000, deployments: 2_000, hotWorkloads: 200, secretBytes: 4096 };
export const QUICK_SCALE: Scale = { namespaces: 5, secrets: 1_000, deployments: 200, hotWorkloads: 50, secretBytes: 4096 };

export const NAMESPACE_PREFIX = 'kvrb-';
export const CONTROLLER_NAMESPACE = 'kvr-bench-system';
export const AUTO = 'keyvault-reloader.io/auto';

export interface Workload {
  namespace: string;
  name: string;
  secret: string;
  /** `namespace/name`, the tracker's key. */
  key: string;
}

export interface Layout {
  namespaces: string[];
  /** The namespace with scale.hotWorkloads Deployments. */
  hot: string;
  secretsPerNamespace: number[];
  workloads: Workload[];
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');
export const secretName = (k: number) => `s-${pad(k, 4)}`;
export const deploymentName = (k: number) => `app-${pad(k, 4)}`;

/** Spreads the scale over namespaces; namespace 0 is the hot one. */
export function layout(scale: Scale): Layout {
  const namespaces = Array.from({ length: scale.namespaces }, (_, i) => `${NAMESPACE_PREFIX}${pad(i, 2)}`);
  const share = (total: number, parts: number, i: number) => Math.floor(total / parts) + (i < total % parts ? 1 : 0);
  const secretsPerNamespace = namespaces.map((_, i) => share(scale.secrets, scale.namespaces, i));
  const rest = scale.deployments - scale.hotWorkloads;
  const deploymentsPerNamespace = namespaces.map((_, i) => (i === 0 ? scale.hotWorkloads : share(rest, scale.namespaces - 1, i - 1)));
  const workloads: Workload[] = [];
  namespaces.forEach((ns, i) => {
    if (deploymentsPerNamespace[i]! > secretsPerNamespace[i]!) throw new Error(`scale: namespace ${ns} would have more Deployments than Secrets`);
    for (let k = 0; k < deploymentsPerNamespace[i]!; k++) workloads.push({ namespace: ns, name: deploymentName(k), secret: secretName(k), key: `${ns}/${deploymentName(k)}` });
  });
  return { namespaces, hot: namespaces[0]!, secretsPerNamespace, workloads };
}

/** Workloads in namespace-interleaved order, so that any slice of it touches every namespace. */
export function interleaved(l: Layout): Workload[] {
  const byNs = l.namespaces.map((ns) => l.workloads.filter((w) => w.namespace === ns));
  const out: Workload[] = [];
  for (let k = 0; out.length < l.workloads.length; k++) for (const list of byNs) if (list[k]) out.push(list[k]!);
  return out;
}

export function secretBody(name: string, bytes: number): object {
  const password = randomBytes(24).toString('base64');
  // A config blob makes up the rest: base64 text, as a real one would be.
  const config = randomBytes(Math.max(0, Math.floor(((bytes - 64) * 3) / 4))).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, labels: { 'app.kubernetes.io/part-of': 'kvr-bench' } },
    type: 'Opaque',
    data: {
      username: Buffer.from(name).toString('base64'),
      password: Buffer.from(password).toString('base64'),
      'config.json': Buffer.from(config).toString('base64'),
    },
  };
}

export function deploymentBody(w: Workload): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: w.name, labels: { app: w.name }, annotations: { [AUTO]: 'true' } },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: w.name } },
      template: {
        metadata: { labels: { app: w.name } },
        spec: {
          containers: [
            {
              name: 'app',
              image: 'example.invalid/app:1',
              envFrom: [{ secretRef: { name: w.secret } }],
              volumeMounts: [{ name: 'creds', mountPath: '/etc/creds', readOnly: true }],
            },
          ],
          volumes: [{ name: 'creds', secret: { secretName: w.secret } }],
        },
      },
    },
  };
}

async function create(api: Api, path: string, body: object): Promise<void> {
  try {
    await api.request('POST', path, body);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 409)) throw err;
  }
}

export interface SeedResult {
  secrets: number;
  deployments: number;
  secretsSeconds: number;
  deploymentsSeconds: number;
  concurrency: number;
}

export async function seed(api: Api, l: Layout, scale: Scale, concurrency: number, log: (m: string) => void): Promise<SeedResult> {
  for (const ns of [CONTROLLER_NAMESPACE, ...l.namespaces]) await create(api, '/api/v1/namespaces', { metadata: { name: ns } });
  // Deployments first: the Deployment controller (20 writes/s) creates their ReplicaSets while the Secrets are written.
  let t = now();
  let done = 0;
  await mapLimit(l.workloads, concurrency, async (w) => {
    await create(api, `/apis/apps/v1/namespaces/${w.namespace}/deployments`, deploymentBody(w));
    if (++done % 500 === 0) log(`  ${done}/${l.workloads.length} Deployments`);
  });
  const deploymentsSeconds = (now() - t) / 1000;
  const secrets = l.namespaces.flatMap((ns, i) => Array.from({ length: l.secretsPerNamespace[i]! }, (_, k) => ({ ns, name: secretName(k) })));
  t = now();
  done = 0;
  await mapLimit(secrets, concurrency, async (s) => {
    await create(api, `/api/v1/namespaces/${s.ns}/secrets`, secretBody(s.name, scale.secretBytes));
    if (++done % 2000 === 0) log(`  ${done}/${secrets.length} Secrets`);
  });
  return { secrets: secrets.length, deployments: l.workloads.length, secretsSeconds: (now() - t) / 1000, deploymentsSeconds, concurrency };
}

/** A new value for one key of the Secret: its content (and so its digest) changes, its size barely. */
export function rotationPatch(tag: string): object {
  return { data: { rotation: Buffer.from(`${tag}-${randomBytes(8).toString('hex')}`).toString('base64') } };
}

export const MERGE_PATCH = 'application/merge-patch+json';
