// Compact projections of what the reloader watches. The cache holds these,
// not the objects: a Secret becomes its keyed digest (never its data), a
// workload becomes its policy, its dependencies and the state of its rollout.
import type { V1DaemonSet, V1Deployment, V1Secret, V1StatefulSet } from '@kubernetes/client-node';
import { ANNOTATIONS, parseIgnore, parseWorkloadPolicy, type AnnotationOptions, type Problem, type WorkloadPolicy } from './annotations.ts';
import type { RolloutState } from './decide.ts';
import { secretDigest, type Keyring } from './digest.ts';
import { dependencies, findReferences, type References } from './references.ts';

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';

export const WORKLOAD_RESOURCES: Record<WorkloadKind, { plural: string; apiVersion: string }> = {
  Deployment: { plural: 'deployments', apiVersion: 'apps/v1' },
  StatefulSet: { plural: 'statefulsets', apiVersion: 'apps/v1' },
  DaemonSet: { plural: 'daemonsets', apiVersion: 'apps/v1' },
};

export interface SecretInfo {
  namespace: string;
  name: string;
  digest: string;
  ignored: boolean;
  /** Malformed annotations of ours on the Secret (absent when there are none). */
  problems?: Problem[];
}

export interface WorkloadInfo {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: string;
  policy: WorkloadPolicy | null;
  problems: Problem[];
  deps: References;
  baselineText: string | undefined;
  rollout: RolloutState;
  /** The revision current pods carry: a StatefulSet's updateRevision, a DaemonSet's template generation. */
  revision: string | undefined;
}

export function workloadKey(kind: WorkloadKind, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

/** An input of one namespace, as the workload informers index it: `secret/<ns>/<name>` or `spc/<ns>/<name>`. */
export function secretRef(namespace: string, name: string): string {
  return `secret/${namespace}/${name}`;
}

export function classRef(namespace: string, name: string): string {
  return `spc/${namespace}/${name}`;
}

/** Index of the workload informers: what each workload restarts for, so an input's change finds its dependents by lookup. */
export const BY_INPUT = 'input';

export function inputRefs(w: WorkloadInfo): string[] {
  return [...w.deps.secrets.map((s) => secretRef(w.namespace, s)), ...w.deps.secretProviderClasses.map((c) => classRef(w.namespace, c))];
}

export function projectSecret(keyring: Keyring, opts: AnnotationOptions, s: V1Secret): SecretInfo {
  const { ignored, problems } = parseIgnore(s.metadata?.annotations, opts);
  const info: SecretInfo = {
    namespace: s.metadata?.namespace ?? '',
    name: s.metadata?.name ?? '',
    digest: secretDigest(keyring, { type: s.type, data: s.data }),
    ignored,
  };
  if (problems.length > 0) info.problems = problems;
  return info;
}

type AnyWorkload = V1Deployment | V1StatefulSet | V1DaemonSet;

/** Null for a workload with no annotation of ours (nor Stakater's, when honoured): not tracked at all. */
export function projectWorkload(kind: WorkloadKind, w: AnyWorkload, opts: AnnotationOptions): WorkloadInfo | null {
  const annotations = w.metadata?.annotations ?? {};
  const mentionsUs = Object.keys(annotations).some((k) => k.startsWith('keyvault-reloader.io/') || (opts.stakater && k.includes('reloader.stakater.com/')));
  if (!mentionsUs) return null;
  const { policy, problems } = parseWorkloadPolicy(annotations, opts);
  const refs = findReferences(w.spec?.template?.spec);
  return {
    kind,
    namespace: w.metadata?.namespace ?? '',
    name: w.metadata?.name ?? '',
    uid: w.metadata?.uid ?? '',
    resourceVersion: w.metadata?.resourceVersion ?? '',
    policy,
    problems,
    deps: policy ? dependencies(policy, refs) : { secrets: [], secretProviderClasses: [] },
    baselineText: annotations[ANNOTATIONS.baseline],
    rollout: rolloutState(kind, w),
    revision:
      kind === 'StatefulSet' ? (w as V1StatefulSet).status?.updateRevision
      : kind === 'DaemonSet' ? w.metadata?.annotations?.['deprecated.daemonset.template.generation']
      : undefined,
  };
}

/**
 * The state of a workload's rollout, judged as `kubectl rollout status`
 * judges it, plus what a restart patch would do: nothing by itself for an
 * OnDelete strategy or a StatefulSet partition at or above its replicas.
 */
export function rolloutState(kind: WorkloadKind, w: AnyWorkload): RolloutState {
  const restartedAt = Date.parse(w.spec?.template?.metadata?.annotations?.[ANNOTATIONS.restartedAt] ?? '');
  const lastRestartAt = Number.isFinite(restartedAt) ? restartedAt : undefined;
  const behind = (w.status?.observedGeneration ?? 0) < (w.metadata?.generation ?? 0);
  const ns = w.metadata?.namespace ?? '';
  const name = w.metadata?.name ?? '';
  if (kind === 'Deployment') {
    const d = w as V1Deployment;
    const s = d.status ?? {};
    const want = d.spec?.replicas ?? 1;
    const failed = s.conditions?.some((c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded') ?? false;
    const progressing = behind || (s.updatedReplicas ?? 0) < want || (s.replicas ?? 0) > (s.updatedReplicas ?? 0) || (s.availableReplicas ?? 0) < (s.updatedReplicas ?? 0);
    return { paused: d.spec?.paused === true, inProgress: progressing, failed, lastRestartAt };
  }
  if (kind === 'StatefulSet') {
    const sts = w as V1StatefulSet;
    const s = sts.status;
    const want = sts.spec?.replicas ?? 1;
    if (sts.spec?.updateStrategy?.type === 'OnDelete') {
      return { paused: false, inProgress: false, lastRestartAt, manual: `the StatefulSet's updateStrategy is OnDelete, so a restart would replace no pod: delete its pods one at a time (kubectl delete pod -n ${ns} ${name}-<ordinal>) to give them the new value, or set updateStrategy to RollingUpdate` };
    }
    const partition = sts.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
    let progressing = behind || (s?.readyReplicas ?? 0) < want;
    // A partitioned rollout is complete once the ordinals at or above the partition run the update revision.
    if (partition > 0) progressing ||= (s?.updatedReplicas ?? 0) < want - partition;
    else progressing ||= s?.updateRevision !== undefined && s.updateRevision !== s.currentRevision;
    const state: RolloutState = { paused: false, inProgress: progressing, lastRestartAt };
    if (partition >= want && want > 0) {
      state.manual = `the StatefulSet's rollingUpdate.partition (${partition}) is not below its replicas (${want}), so a restart would replace no pod: lower the partition (kubectl patch statefulset -n ${ns} ${name} -p '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}') to roll them`;
    } else if (partition > 0) {
      state.partition = partition;
    }
    return state;
  }
  const ds = w as V1DaemonSet;
  if (ds.spec?.updateStrategy?.type === 'OnDelete') {
    return { paused: false, inProgress: false, lastRestartAt, manual: `the DaemonSet's updateStrategy is OnDelete, so a restart would replace no pod: delete its pods node by node (kubectl delete pod -n ${ns} <pod>) to give them the new value, or set updateStrategy to RollingUpdate` };
  }
  const s = ds.status;
  const desired = s?.desiredNumberScheduled ?? 0;
  const progressing = behind || (s?.updatedNumberScheduled ?? 0) < desired || (s?.numberAvailable ?? 0) < desired;
  return { paused: false, inProgress: progressing, lastRestartAt };
}
