// Mounted-secret rotation: the versions the CSI driver records per pod in
// SecretProviderClassPodStatus become one more kind of input to the same
// decision. Only pods of a workload's current revision count, so pods of an
// old ReplicaSet still reporting old versions never restart anything; no Key
// Vault value is ever read.
import { Informer, type InformerEvent } from '../kube/informer.ts';
import type { KubeClient } from '../kube/client.ts';
import type { Logger } from '../log.ts';
import type { Baseline, Inputs } from './decide.ts';
import { mountedDigest, type Keyring } from './digest.ts';
import { CSI_DRIVER } from './references.ts';
import type { WorkloadInfo } from './workloads.ts';

export const SPCPS_PATH = { group: '/apis/secrets-store.csi.x-k8s.io/v1', plural: 'secretproviderclasspodstatuses' };

export interface PodStatusInfo {
  namespace: string;
  podName: string;
  className: string;
  digest: string;
}

export interface PodInfo {
  namespace: string;
  name: string;
  ownerKind: string;
  ownerName: string;
  /** controller-revision-hash (StatefulSet) or pod-template-generation (DaemonSet). */
  revision: string | undefined;
}

export interface ReplicaSetInfo {
  namespace: string;
  name: string;
  deployment: string | undefined;
  revision: number;
}

export interface Report {
  digest: string;
  seenAt: number;
}

/**
 * The digest a workload's current pods hold for one class. What matches the
 * baseline is no change; otherwise the most recently seen differing report
 * is the change to act on (a second rotation during a rollout converges on
 * the newest). Null when no current pod has reported yet.
 */
export function mountedInput(baselineDigest: string | undefined, reports: readonly Report[]): string | null {
  if (reports.length === 0) return null;
  const differing = reports.filter((r) => r.digest !== baselineDigest);
  if (differing.length === 0) return baselineDigest ?? null;
  return differing.reduce((a, b) => (b.seenAt > a.seenAt ? b : a)).digest;
}

export function projectPodStatus(keyring: Keyring, obj: any): PodStatusInfo | null {
  const s = obj?.status;
  if (!s || s.mounted === false || !s.podName || !s.secretProviderClassName) return null;
  const objects = Array.isArray(s.objects) ? s.objects.filter((o: any) => typeof o?.id === 'string').map((o: any) => ({ id: o.id, version: String(o.version ?? '') })) : [];
  return { namespace: obj.metadata?.namespace ?? '', podName: s.podName, className: s.secretProviderClassName, digest: mountedDigest(keyring, objects) };
}

/** Only pods that mount through the Secrets Store CSI driver are kept; the rest are not our business. */
export function projectPod(obj: any): PodInfo | null {
  const mountsCsi = (obj?.spec?.volumes ?? []).some((v: any) => v?.csi?.driver === CSI_DRIVER);
  if (!mountsCsi) return null;
  const owner = (obj.metadata?.ownerReferences ?? []).find((o: any) => o.controller) ?? obj.metadata?.ownerReferences?.[0];
  if (!owner) return null;
  const labels = obj.metadata?.labels ?? {};
  return {
    namespace: obj.metadata?.namespace ?? '',
    name: obj.metadata?.name ?? '',
    ownerKind: owner.kind,
    ownerName: owner.name,
    revision: labels['controller-revision-hash'] ?? labels['pod-template-generation'],
  };
}

export function projectReplicaSet(obj: any): ReplicaSetInfo | null {
  const owner = (obj?.metadata?.ownerReferences ?? []).find((o: any) => o.kind === 'Deployment');
  if (!owner) return null;
  return {
    namespace: obj.metadata?.namespace ?? '',
    name: obj.metadata?.name ?? '',
    deployment: owner.name,
    revision: Number(obj.metadata?.annotations?.['deployment.kubernetes.io/revision'] ?? 0),
  };
}

export class MountedVersions {
  readonly statuses: Informer<PodStatusInfo>;
  readonly pods: Informer<PodInfo>;
  readonly replicaSets: Informer<ReplicaSetInfo>;
  private readonly byClass = new Map<string, Set<string>>();
  private readonly byPod = new Map<string, Set<string>>();
  private readonly seenAt = new Map<string, number>();
  private readonly onChange: (namespace: string, className: string) => void;

  constructor(opts: { client: KubeClient; log: Logger; keyring: Keyring; paths: (group: string, plural: string) => string[]; inScope: (obj: any) => boolean; silenceMs?: number; onChange: (namespace: string, className: string) => void }) {
    this.onChange = opts.onChange;
    const common = { client: opts.client, log: opts.log, silenceMs: opts.silenceMs };
    this.statuses = new Informer<PodStatusInfo>({
      ...common,
      name: SPCPS_PATH.plural,
      paths: opts.paths(SPCPS_PATH.group, SPCPS_PATH.plural),
      transform: (o) => (opts.inScope(o) ? projectPodStatus(opts.keyring, o) : null),
    });
    this.pods = new Informer<PodInfo>({ ...common, name: 'pods', paths: opts.paths('/api/v1', 'pods'), transform: (o) => (opts.inScope(o) ? projectPod(o) : null) });
    // A ReplicaSet is read for its owner and revision only, both in its metadata.
    this.replicaSets = new Informer<ReplicaSetInfo>({ ...common, name: 'replicasets', metadataOnly: true, paths: opts.paths('/apis/apps/v1', 'replicasets'), transform: (o) => (opts.inScope(o) ? projectReplicaSet(o) : null) });
    this.statuses.events.on('event', (e) => this.onStatus(e));
    // A status can arrive before its pod is in our cache; the pod's arrival makes it count.
    this.pods.events.on('event', (e) => {
      if (e.type !== 'add') return;
      for (const key of this.byPod.get(e.key) ?? []) {
        const s = this.statuses.get(key);
        if (s) this.onChange(s.namespace, s.className);
      }
    });
  }

  get informers(): Informer<unknown>[] {
    return [this.statuses, this.pods, this.replicaSets] as Informer<unknown>[];
  }

  private onStatus(e: InformerEvent<PodStatusInfo>): void {
    const s = e.type === 'delete' ? e.old : e.value;
    const classKey = `${s.namespace}/${s.className}`;
    const podKey = `${s.namespace}/${s.podName}`;
    if (e.type === 'delete') {
      removeFrom(this.byClass, classKey, e.key);
      removeFrom(this.byPod, podKey, e.key);
      this.seenAt.delete(e.key);
      return;
    }
    if (e.type === 'update' && e.old.digest === e.value.digest) return;
    addTo(this.byClass, classKey, e.key);
    addTo(this.byPod, podKey, e.key);
    this.seenAt.set(e.key, Date.now());
    this.onChange(s.namespace, s.className);
  }

  /** `spc/<class>` inputs of a workload, from the reports of its current pods. */
  inputsFor(w: WorkloadInfo, baseline: Baseline | null): Inputs {
    const inputs: Inputs = {};
    if (w.deps.secretProviderClasses.length === 0) return inputs;
    const currentRs = w.kind === 'Deployment' ? this.newestReplicaSet(w.namespace, w.name) : undefined;
    for (const className of w.deps.secretProviderClasses) {
      const reports: Report[] = [];
      for (const key of this.byClass.get(`${w.namespace}/${className}`) ?? []) {
        const s = this.statuses.get(key);
        const pod = s && this.pods.get(`${s.namespace}/${s.podName}`);
        if (!s || !pod || !this.isCurrentPod(w, pod, currentRs)) continue;
        reports.push({ digest: s.digest, seenAt: this.seenAt.get(key) ?? 0 });
      }
      inputs[`spc/${className}`] = mountedInput(baseline?.inputs[`spc/${className}`], reports);
    }
    return inputs;
  }

  private isCurrentPod(w: WorkloadInfo, pod: PodInfo, currentRs: string | undefined): boolean {
    switch (w.kind) {
      case 'Deployment':
        return pod.ownerKind === 'ReplicaSet' && pod.ownerName === currentRs;
      case 'StatefulSet':
      case 'DaemonSet':
        return pod.ownerKind === w.kind && pod.ownerName === w.name && w.revision !== undefined && pod.revision === w.revision;
    }
  }

  private newestReplicaSet(namespace: string, deployment: string): string | undefined {
    let best: ReplicaSetInfo | undefined;
    for (const rs of this.replicaSets.values()) {
      if (rs.namespace === namespace && rs.deployment === deployment && (!best || rs.revision > best.revision)) best = rs;
    }
    return best?.name;
  }
}

function addTo(map: Map<string, Set<string>>, key: string, value: string): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key);
  set?.delete(value);
  if (set?.size === 0) map.delete(key);
}
