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
  /**
   * The revision to compare with the workload's: a StatefulSet's pods by their
   * controller-revision-hash (its updateRevision), a DaemonSet's by their
   * pod-template-generation (its template generation) although they carry a
   * controller-revision-hash too.
   */
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

/**
 * Key Vault versions of a class by object id, as the sync engine of this
 * process last read them; 'pending' while it syncs the class but has not
 * tried yet (start-up, a new leader); undefined when it does not sync it.
 */
export type KnownVersions = (namespace: string, className: string) => ReadonlyMap<string, string> | 'pending' | undefined;

/**
 * A class's `spc/<class>` input when the sync engine of this process syncs
 * it: the digest of the versions it read, computed exactly as a pod's
 * SecretProviderClassPodStatus objects are, so that switching from one
 * source to the other with the same versions changes nothing. One source per
 * class at a time: a rotation that the engine and the pods' driver both see
 * restarts the workload once, and a pod still reporting an older version
 * (the add-on's rotation off) never turns it back.
 */
export function syncedInput(keyring: Keyring, versions: ReadonlyMap<string, string>): string {
  return mountedDigest(keyring, [...versions].map(([id, version]) => ({ id, version })));
}

/**
 * One class's `spc/<class>` input: the sync engine's versions when it reads
 * the class, absent (null: nothing is decided on it) while its first read is
 * pending, and the pods' reports (asked only then) when it does not read it.
 */
export function classInput(keyring: Keyring, known: ReadonlyMap<string, string> | 'pending' | undefined, fromPods: () => string | null): string | null {
  if (known === 'pending') return null;
  if (known !== undefined) return syncedInput(keyring, known);
  return fromPods();
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
    revision: owner.kind === 'DaemonSet' ? labels['pod-template-generation'] : labels['controller-revision-hash'],
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

/** Index names of the informers below. */
export const INDEX = {
  /** Pods by the object that controls them: `ReplicaSet/<ns>/<name>`, `StatefulSet/<ns>/<name>`, … */
  podsByOwner: 'owner',
  /** ReplicaSets by their Deployment: `<ns>/<deployment>`. */
  replicaSetsByDeployment: 'deployment',
  /** SecretProviderClassPodStatuses by their pod: `<ns>/<pod>`. */
  statusesByPod: 'pod',
} as const;

export class MountedVersions {
  readonly statuses: Informer<PodStatusInfo>;
  readonly pods: Informer<PodInfo>;
  readonly replicaSets: Informer<ReplicaSetInfo>;
  /** When each status last reported a different digest: a second rotation during a rollout converges on the newest. */
  private readonly seenAt = new Map<string, number>();
  private readonly onChange: (namespace: string, className: string) => void;
  private readonly keyring: Keyring;
  private readonly knownVersions: KnownVersions | undefined;

  constructor(opts: {
    client: KubeClient;
    log: Logger;
    keyring: Keyring;
    paths: (group: string, plural: string) => string[];
    inScope: (obj: any) => boolean;
    silenceMs?: number;
    onChange: (namespace: string, className: string) => void;
    /** The sync engine's versions, when it runs in this process: they take the place of the pods' reports for the classes it reads. */
    knownVersions?: KnownVersions;
  }) {
    this.onChange = opts.onChange;
    this.keyring = opts.keyring;
    this.knownVersions = opts.knownVersions;
    const common = { client: opts.client, log: opts.log, silenceMs: opts.silenceMs };
    this.statuses = new Informer<PodStatusInfo>({
      ...common,
      name: SPCPS_PATH.plural,
      paths: opts.paths(SPCPS_PATH.group, SPCPS_PATH.plural),
      transform: (o) => (opts.inScope(o) ? projectPodStatus(opts.keyring, o) : null),
      indexers: { [INDEX.statusesByPod]: (s) => [`${s.namespace}/${s.podName}`] },
    });
    this.pods = new Informer<PodInfo>({
      ...common,
      name: 'pods',
      paths: opts.paths('/api/v1', 'pods'),
      transform: (o) => (opts.inScope(o) ? projectPod(o) : null),
      indexers: { [INDEX.podsByOwner]: (p) => [`${p.ownerKind}/${p.namespace}/${p.ownerName}`] },
    });
    this.replicaSets = new Informer<ReplicaSetInfo>({
      ...common,
      name: 'replicasets',
      // Read for its owner and revision only, both in its metadata.
      metadataOnly: true,
      paths: opts.paths('/apis/apps/v1', 'replicasets'),
      transform: (o) => (opts.inScope(o) ? projectReplicaSet(o) : null),
      indexers: { [INDEX.replicaSetsByDeployment]: (rs) => (rs.deployment ? [`${rs.namespace}/${rs.deployment}`] : []) },
    });
    this.statuses.addEventHandler((e) => this.onStatus(e));
    // A status can arrive before its pod is in our cache; the pod's arrival makes it count.
    this.pods.addEventHandler((e) => {
      if (e.type !== 'add') return;
      for (const s of this.statuses.byIndex(INDEX.statusesByPod, e.key)) this.onChange(s.namespace, s.className);
    });
  }

  get informers(): Informer<unknown>[] {
    return [this.statuses, this.pods, this.replicaSets] as Informer<unknown>[];
  }

  private onStatus(e: InformerEvent<PodStatusInfo>): void {
    if (e.type === 'delete') {
      this.seenAt.delete(e.key);
      return;
    }
    if (e.type === 'update' && e.old.digest === e.value.digest) return;
    this.seenAt.set(e.key, Date.now());
    this.onChange(e.value.namespace, e.value.className);
  }

  /**
   * `spc/<class>` inputs of a workload: the sync engine's versions for a
   * class it reads (absent until its first read), else the reports of the
   * workload's current pods. Costs what the workload has.
   */
  inputsFor(w: WorkloadInfo, baseline: Baseline | null): Inputs {
    const inputs: Inputs = {};
    if (w.deps.secretProviderClasses.length === 0) return inputs;
    let pods: PodInfo[] | undefined;
    for (const className of w.deps.secretProviderClasses) {
      inputs[`spc/${className}`] = classInput(this.keyring, this.knownVersions?.(w.namespace, className), () => {
        pods ??= this.currentPods(w);
        return this.reportedInput(pods, className, baseline);
      });
    }
    return inputs;
  }

  // What the workload's current pods report for one class (their SecretProviderClassPodStatus).
  private reportedInput(pods: readonly PodInfo[], className: string, baseline: Baseline | null): string | null {
    const reports: Report[] = [];
    for (const pod of pods) {
      for (const key of this.statuses.indexKeys(INDEX.statusesByPod, `${pod.namespace}/${pod.name}`)) {
        const s = this.statuses.get(key)!;
        if (s.className === className) reports.push({ digest: s.digest, seenAt: this.seenAt.get(key) ?? 0 });
      }
    }
    return mountedInput(baseline?.inputs[`spc/${className}`], reports);
  }

  /** Pods of the workload's current revision: its newest ReplicaSet's, or those carrying its current revision. */
  private currentPods(w: WorkloadInfo): PodInfo[] {
    if (w.kind === 'Deployment') {
      const rs = newest(this.replicaSets.byIndex(INDEX.replicaSetsByDeployment, `${w.namespace}/${w.name}`));
      return rs ? this.pods.byIndex(INDEX.podsByOwner, `ReplicaSet/${w.namespace}/${rs.name}`) : [];
    }
    if (w.revision === undefined) return [];
    return this.pods.byIndex(INDEX.podsByOwner, `${w.kind}/${w.namespace}/${w.name}`).filter((p) => p.revision === w.revision);
  }
}

function newest(sets: readonly ReplicaSetInfo[]): ReplicaSetInfo | undefined {
  let best: ReplicaSetInfo | undefined;
  for (const rs of sets) if (!best || rs.revision > best.revision) best = rs;
  return best;
}
