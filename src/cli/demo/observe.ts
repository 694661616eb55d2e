// The demo's eyes: watches of its namespace (the project's one informer),
// kept as the small views the timeline reads. Of the synced Secret only a
// digest of the demo's key is kept, never its value.
import { createHash } from 'node:crypto';
import type { KubeClient } from '../../kube/client.ts';
import { Informer } from '../../kube/informer.ts';
import type { Logger } from '../../log.ts';
import { ANNOTATIONS } from '../../reloader/annotations.ts';
import { SPC_API_VERSION } from '../../sync/spc.ts';
import { DEMO } from './sample.ts';
import type { DeploymentView, PodStatusView, PodView, ReplicaSetView, Snapshot } from './timeline.ts';

export interface Observer {
  snapshot(): Snapshot;
  /** Called (synchronously, in order) after every change seen. */
  onChange(handler: () => void): () => void;
  waitForSync(): Promise<void>;
  stop(): void;
}

export const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

const ownerName = (o: any, kind: string): string => o.metadata?.ownerReferences?.find((r: any) => r.kind === kind)?.name ?? '';

export function observeDemo(client: KubeClient, log: Logger): Observer {
  const ns = DEMO.namespace;
  const informer = <T>(name: string, path: string, transform: (o: any) => T | null) => new Informer<T>({ name, client, log, paths: [path], transform });
  const secret = informer<string>('secrets', `/api/v1/namespaces/${ns}/secrets`, (s) => {
    const value = s.metadata?.name === DEMO.secret ? s.data?.[DEMO.secretKey] : undefined;
    return typeof value === 'string' ? sha256(Buffer.from(value, 'base64')) : null;
  });
  const deployments = informer<DeploymentView>('deployments', `/apis/apps/v1/namespaces/${ns}/deployments`, (d) => ({
    name: d.metadata.name,
    generation: d.metadata.generation ?? 0,
    observedGeneration: d.status?.observedGeneration ?? 0,
    replicas: d.spec?.replicas ?? 1,
    updatedReplicas: d.status?.updatedReplicas ?? 0,
    availableReplicas: d.status?.availableReplicas ?? 0,
    statusReplicas: d.status?.replicas ?? 0,
    restartedAt: d.spec?.template?.metadata?.annotations?.[ANNOTATIONS.restartedAt],
    restartReason: d.spec?.template?.metadata?.annotations?.[ANNOTATIONS.restartReason],
    adopted: !!d.metadata.annotations?.[ANNOTATIONS.baseline],
  }));
  const replicaSets = informer<ReplicaSetView>('replicasets', `/apis/apps/v1/namespaces/${ns}/replicasets`, (rs) => ({
    name: rs.metadata.name,
    deployment: ownerName(rs, 'Deployment'),
    revision: Number(rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0),
    replicas: rs.status?.replicas ?? 0,
    readyReplicas: rs.status?.readyReplicas ?? 0,
  }));
  const pods = informer<PodView>('pods', `/api/v1/namespaces/${ns}/pods`, (p) => ({
    name: p.metadata.name,
    uid: p.metadata.uid,
    replicaSet: ownerName(p, 'ReplicaSet'),
    createdAt: Date.parse(p.metadata.creationTimestamp ?? '') || 0,
    running: p.status?.phase === 'Running',
    deleting: !!p.metadata.deletionTimestamp,
  }));
  const podStatuses = informer<PodStatusView>('secretproviderclasspodstatuses', `/apis/${SPC_API_VERSION}/namespaces/${ns}/secretproviderclasspodstatuses`, (st) => ({
    podName: st.status?.podName ?? '',
    podUid: st.metadata.ownerReferences?.find((r: any) => r.kind === 'Pod')?.uid ?? '',
    className: st.status?.secretProviderClassName ?? '',
    versions: Object.fromEntries((st.status?.objects ?? []).map((o: any) => [String(o.id), String(o.version)])),
  }));
  const all = [secret, deployments, replicaSets, pods, podStatuses];
  const handlers = new Set<() => void>();
  for (const i of all as Informer<unknown>[]) i.addEventHandler(() => handlers.forEach((h) => h()));
  for (const i of all as Informer<unknown>[]) i.start();
  return {
    snapshot: () => ({
      secretDigest: secret.get(`${ns}/${DEMO.secret}`),
      deployments: new Map([...deployments.values()].map((d) => [d.name, d])),
      replicaSets: [...replicaSets.values()],
      pods: [...pods.values()],
      podStatuses: [...podStatuses.values()],
    }),
    onChange(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    async waitForSync() {
      await Promise.all(all.map((i) => (i as Informer<unknown>).waitForSync()));
    },
    stop() {
      for (const i of all as Informer<unknown>[]) i.stop();
    },
  };
}
