// Building and observing workloads on the real control plane.
import type { V1ControllerRevision, V1DaemonSet, V1Deployment, V1Pod, V1PodSpec, V1ReplicaSet, V1StatefulSet } from '@kubernetes/client-node';
import type { KubeClient } from '../../src/kube/client.ts';
import { eventually } from './env.ts';

export function deployment(name: string, opts: { replicas?: number; annotations?: Record<string, string>; pod?: Partial<V1PodSpec>; maxSurge?: number | string; maxUnavailable?: number | string } = {}): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, annotations: opts.annotations ?? {} },
    spec: {
      replicas: opts.replicas ?? 2,
      selector: { matchLabels: { app: name } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: opts.maxSurge ?? 1, maxUnavailable: opts.maxUnavailable ?? 0 } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }], ...opts.pod },
      },
    },
  };
}

export async function createDeployment(client: KubeClient, ns: string, d: V1Deployment): Promise<V1Deployment> {
  return client.request('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, { body: d });
}

export async function getDeployment(client: KubeClient, ns: string, name: string): Promise<V1Deployment> {
  return client.request('GET', `/apis/apps/v1/namespaces/${ns}/deployments/${name}`);
}

export async function replicaSetsOf(client: KubeClient, ns: string, name: string): Promise<V1ReplicaSet[]> {
  const list = await client.request<{ items: V1ReplicaSet[] }>('GET', `/apis/apps/v1/namespaces/${ns}/replicasets`);
  return list.items
    .filter((rs) => rs.metadata?.ownerReferences?.some((o) => o.kind === 'Deployment' && o.name === name))
    .sort((a, b) => revision(a) - revision(b));
}

export function revision(rs: V1ReplicaSet): number {
  return Number(rs.metadata?.annotations?.['deployment.kubernetes.io/revision'] ?? 0);
}

/**
 * Waits until the Deployment has at least `replicaSets` ReplicaSets, its newest
 * has every replica ready, and every older one is at 0.
 */
export async function waitRolledOut(client: KubeClient, ns: string, name: string, opts: { replicaSets?: number; timeoutMs?: number } = {}): Promise<V1ReplicaSet[]> {
  return eventually(`deployment ${ns}/${name} to finish rolling out${opts.replicaSets ? ` to ReplicaSet #${opts.replicaSets}` : ''}`, async () => {
    const d = await getDeployment(client, ns, name);
    const want = d.spec?.replicas ?? 1;
    const s = d.status ?? {};
    if ((s.observedGeneration ?? 0) < (d.metadata?.generation ?? 0)) return false;
    if ((s.updatedReplicas ?? 0) !== want || (s.readyReplicas ?? 0) !== want || (s.replicas ?? 0) !== want) return false;
    const sets = await replicaSetsOf(client, ns, name);
    if (sets.length < (opts.replicaSets ?? 1)) return false;
    const newest = sets[sets.length - 1];
    if (!newest || (newest.status?.readyReplicas ?? 0) !== want) return false;
    if (sets.slice(0, -1).some((rs) => (rs.spec?.replicas ?? 0) !== 0 || (rs.status?.replicas ?? 0) !== 0)) return false;
    return sets;
  }, opts.timeoutMs ?? 90_000);
}

export async function putSecret(client: KubeClient, ns: string, name: string, data: Record<string, string>, extra: { annotations?: Record<string, string>; labels?: Record<string, string> } = {}): Promise<void> {
  const body = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, annotations: extra.annotations, labels: extra.labels },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  };
  try {
    await client.request('POST', `/api/v1/namespaces/${ns}/secrets`, { body });
  } catch (err) {
    if ((err as { status?: number }).status !== 409) throw err;
    await client.request('PUT', `/api/v1/namespaces/${ns}/secrets/${name}`, { body });
  }
}

export function statefulSet(name: string, opts: { replicas?: number; annotations?: Record<string, string>; pod?: Partial<V1PodSpec> } = {}): V1StatefulSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, annotations: opts.annotations ?? {} },
    spec: {
      replicas: opts.replicas ?? 2,
      serviceName: name,
      selector: { matchLabels: { app: name } },
      updateStrategy: { type: 'RollingUpdate' },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }], ...opts.pod },
      },
    },
  };
}

export function daemonSet(name: string, opts: { annotations?: Record<string, string>; pod?: Partial<V1PodSpec> } = {}): V1DaemonSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, annotations: opts.annotations ?? {} },
    spec: {
      selector: { matchLabels: { app: name } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }], ...opts.pod },
      },
    },
  };
}

/** Creates a Deployment, StatefulSet or DaemonSet (by its kind). */
export async function createWorkload<T extends { kind?: string }>(client: KubeClient, ns: string, w: T): Promise<T> {
  return client.request('POST', `/apis/apps/v1/namespaces/${ns}/${String(w.kind).toLowerCase()}s`, { body: w });
}

export async function getWorkload<T = any>(client: KubeClient, ns: string, kind: 'Deployment' | 'StatefulSet' | 'DaemonSet', name: string): Promise<T> {
  return client.request('GET', `/apis/apps/v1/namespaces/${ns}/${kind.toLowerCase()}s/${name}`);
}

/** The ControllerRevisions a StatefulSet or DaemonSet owns: one per distinct pod template it has had. */
export async function controllerRevisionsOf(client: KubeClient, ns: string, kind: 'StatefulSet' | 'DaemonSet', name: string): Promise<V1ControllerRevision[]> {
  const list = await client.request<{ items: V1ControllerRevision[] }>('GET', `/apis/apps/v1/namespaces/${ns}/controllerrevisions`);
  return list.items.filter((cr) => cr.metadata?.ownerReferences?.some((o) => o.kind === kind && o.name === name)).sort((a, b) => (a.revision ?? 0) - (b.revision ?? 0));
}

/** Pods (not being deleted) that carry a workload's `app` label. */
export async function podsWithApp(client: KubeClient, ns: string, app: string): Promise<V1Pod[]> {
  const list = await client.request<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${ns}/pods`, { query: { labelSelector: `app=${app}` } });
  return list.items.filter((p) => !p.metadata?.deletionTimestamp);
}

/** Waits until every replica of a StatefulSet runs the update revision and is ready, and the revision is current. */
export async function waitStatefulSetRolledOut(client: KubeClient, ns: string, name: string, timeoutMs = 90_000): Promise<V1StatefulSet> {
  return eventually(`statefulset ${ns}/${name} to finish rolling out`, async () => {
    const s = await getWorkload<V1StatefulSet>(client, ns, 'StatefulSet', name);
    const want = s.spec?.replicas ?? 1;
    const st = s.status;
    if (!st || (st.observedGeneration ?? 0) < (s.metadata?.generation ?? 0)) return false;
    if ((st.updatedReplicas ?? 0) !== want || (st.readyReplicas ?? 0) !== want || st.replicas !== want) return false;
    if (!st.updateRevision || st.currentRevision !== st.updateRevision) return false;
    return s;
  }, timeoutMs);
}

/** Waits until every scheduled DaemonSet pod runs the current template and is available. */
export async function waitDaemonSetRolledOut(client: KubeClient, ns: string, name: string, timeoutMs = 90_000): Promise<V1DaemonSet> {
  return eventually(`daemonset ${ns}/${name} to finish rolling out`, async () => {
    const d = await getWorkload<V1DaemonSet>(client, ns, 'DaemonSet', name);
    const st = d.status;
    if (!st || (st.observedGeneration ?? 0) < (d.metadata?.generation ?? 0)) return false;
    const desired = st.desiredNumberScheduled;
    if (desired < 1 || (st.updatedNumberScheduled ?? 0) !== desired || (st.numberAvailable ?? 0) !== desired || st.currentNumberScheduled !== desired) return false;
    return d;
  }, timeoutMs);
}
