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
  /** How the report names it. */
  name: string;
  namespaces: number;
  secrets: number;
  deployments: number;
  /** Workloads in the busiest namespace (the reaction scenario's namespace). */
  hotWorkloads: number;
  /** Raw bytes of data per Secret. */
  secretBytes: number;
}

// Each scale's layout holds the smaller one's (per namespace: as many Secrets or more, as many
// Deployments or more), so one cluster grows from one scale to the next instead of being seeded
// anew: 200 Secrets in every namespace but the small scale's, and the hot namespace's 200 workloads.
export const SMALL_SCALE: Scale = { name: 'small', namespaces: 3, secrets: 300, deployments: 60, hotWorkloads: 40, secretBytes: 4096 };
export const FULL_SCALE: Scale = { name: 'full', namespaces: 50, secrets: 10_000, deployments: 2_000, hotWorkloads: 200, secretBytes: 4096 };
/** Ten times the full scale: 100 000 Secrets of 4 KiB (about 550 MB in etcd) and 20 000 Deployments. */
export const TEN_X_SCALE: Scale = { name: '10x', namespaces: 500, secrets: 100_000, deployments: 20_000, hotWorkloads: 200, secretBytes: 4096 };
export const QUICK_SCALE: Scale = { name: 'quick', namespaces: 5, secrets: 1_000, deployments: 200, hotWorkloads: 50, secretBytes: 4096 };
export const SCALES = { small: SMALL_SCALE, full: FULL_SCALE, '10x': TEN_X_SCALE, quick: QUICK_SCALE } as const;
export type ScaleName = keyof typeof SCALES;

export const NAMESPACE_PREFIX = 'kvrb-';
export const CONTROLLER_NAMESPACE = 'kvr-bench-system';
export const AUTO = 'keyvault-reloader.io/auto';
export const STAKATER_AUTO = 'reloader.stakater.com/auto';

/**
 * The peer's own workload and Secret in the hot namespace: annotated for stakater/Reloader only,
 * so that what the peer restarts is nothing this controller tracks, and the other way round
 * (a Secret changed while a controller was down is acted on at its next start, as it should be).
 */
export function peerWorkload(l: Layout): Workload {
  return { namespace: l.hot, name: 'peer-app', secret: 'peer-s', key: `${l.hot}/peer-app` };
}

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
  const namespaces = Array.from({ length: scale.namespaces }, (_, i) => `${NAMESPACE_PREFIX}${pad(i, 3)}`);
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

export function deploymentBody(w: Workload, annotation = AUTO): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: w.name, labels: { app: w.name }, annotations: { [annotation]: 'true' } },
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

/** Creates the objects of a layout; those of `previous` (a smaller scale's, nested in it) exist already. */
export async function seed(api: Api, l: Layout, scale: Scale, concurrency: number, log: (m: string) => void, previous?: Layout): Promise<SeedResult> {
  const had = new Set(previous?.workloads.map((w) => w.key));
  const hadNamespaces = new Set(previous?.namespaces);
  for (const ns of [CONTROLLER_NAMESPACE, ...l.namespaces]) if (!hadNamespaces.has(ns)) await create(api, '/api/v1/namespaces', { metadata: { name: ns } });
  const workloads = l.workloads.filter((w) => !had.has(w.key));
  // Deployments first: the Deployment controller (20 writes/s) creates their ReplicaSets while the Secrets are written.
  let t = now();
  let done = 0;
  await mapLimit(workloads, concurrency, async (w) => {
    await create(api, `/apis/apps/v1/namespaces/${w.namespace}/deployments`, deploymentBody(w));
    if (++done % 2000 === 0) log(`  ${done}/${workloads.length} Deployments`);
  });
  const peer = peerWorkload(l);
  await create(api, `/apis/apps/v1/namespaces/${peer.namespace}/deployments`, deploymentBody(peer, STAKATER_AUTO));
  await create(api, `/api/v1/namespaces/${peer.namespace}/secrets`, secretBody(peer.secret, scale.secretBytes));
  const deploymentsSeconds = (now() - t) / 1000;
  const secrets = l.namespaces.flatMap((ns, i) => {
    const from = previous?.namespaces[i] === ns ? previous.secretsPerNamespace[i]! : 0;
    return Array.from({ length: Math.max(0, l.secretsPerNamespace[i]! - from) }, (_, k) => ({ ns, name: secretName(from + k) }));
  });
  t = now();
  done = 0;
  await mapLimit(secrets, concurrency, async (s) => {
    await create(api, `/api/v1/namespaces/${s.ns}/secrets`, secretBody(s.name, scale.secretBytes));
    if (++done % 10_000 === 0) log(`  ${done}/${secrets.length} Secrets`);
  });
  return { secrets: secrets.length, deployments: workloads.length, secretsSeconds: (now() - t) / 1000, deploymentsSeconds, concurrency };
}

/** A new value for one key of the Secret: its content (and so its digest) changes, its size barely. */
export function rotationPatch(tag: string): object {
  return { data: { rotation: Buffer.from(`${tag}-${randomBytes(8).toString('hex')}`).toString('base64') } };
}

export const MERGE_PATCH = 'application/merge-patch+json';
