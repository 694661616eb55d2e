// What one rotation of the demo looks like from the cluster, as a pure
// function of what was observed: each step (the Secret updated, a pod's
// status reporting the new version, a restart started, a rollout complete)
// is reported once, at the time it was first seen, and a restart is counted
// as what it really is, a new ReplicaSet.
import { DEMO, DEPLOYMENTS, type DemoDeployment } from './sample.ts';

export interface DeploymentView {
  name: string;
  generation: number;
  observedGeneration: number;
  replicas: number;
  updatedReplicas: number;
  availableReplicas: number;
  statusReplicas: number;
  /** The pod template's keyvault-reloader.io/restarted-at and restart-reason. */
  restartedAt?: string;
  restartReason?: string;
  /** keyvault-reloader.io/baseline is recorded: the controller adopted it. */
  adopted: boolean;
}

export interface ReplicaSetView {
  name: string;
  deployment: string;
  revision: number;
  replicas: number;
  readyReplicas: number;
}

export interface PodView {
  name: string;
  uid: string;
  replicaSet: string;
  /** metadata.creationTimestamp, ms (whole seconds). */
  createdAt: number;
  running: boolean;
  deleting: boolean;
}

/** A SecretProviderClassPodStatus, as the driver wrote it. */
export interface PodStatusView {
  podName: string;
  podUid: string;
  className: string;
  /** Object id → version. */
  versions: Record<string, string>;
}

export interface Snapshot {
  /** sha256 (hex) of the synced Secret's key, when it exists. */
  secretDigest?: string;
  deployments: ReadonlyMap<string, DeploymentView>;
  replicaSets: readonly ReplicaSetView[];
  pods: readonly PodView[];
  podStatuses: readonly PodStatusView[];
}

export type Step =
  | { kind: 'secret-updated'; deployment: typeof DEMO.envApp; at: number }
  | { kind: 'remounted'; deployment: typeof DEMO.mountApp; at: number; pod: string }
  | { kind: 'restart-started'; deployment: DemoDeployment; at: number; reason: string }
  | { kind: 'rolled-out'; deployment: DemoDeployment; at: number; replicaSet: string; pods: number };

export function replicaSetsOf(s: Snapshot, deployment: string): ReplicaSetView[] {
  return s.replicaSets.filter((rs) => rs.deployment === deployment).sort((a, b) => a.revision - b.revision);
}

/** The live pods of a Deployment's newest ReplicaSet. */
export function currentPods(s: Snapshot, deployment: string): PodView[] {
  const newest = replicaSetsOf(s, deployment).at(-1);
  return newest ? s.pods.filter((p) => p.replicaSet === newest.name && p.running && !p.deleting) : [];
}

export function podStatusOf(s: Snapshot, podUid: string, className: string): PodStatusView | undefined {
  return s.podStatuses.find((st) => st.podUid === podUid && st.className === className);
}

/** The Deployment has rolled out: every replica updated and available in its newest ReplicaSet, and no pod left in an older one. */
export function rolledOut(s: Snapshot, deployment: string): boolean {
  const d = s.deployments.get(deployment);
  if (!d || d.observedGeneration < d.generation) return false;
  if (d.updatedReplicas !== d.replicas || d.availableReplicas !== d.replicas || d.statusReplicas !== d.replicas) return false;
  const sets = replicaSetsOf(s, deployment);
  const newest = sets.at(-1);
  return !!newest && newest.readyReplicas === d.replicas && sets.slice(0, -1).every((rs) => rs.replicas === 0) && currentPods(s, deployment).length === d.replicas;
}

/** Every current pod of mount-app reports `version` of the demo's object for the mounted class. */
export function mountsVersion(s: Snapshot, version: string): boolean {
  const pods = currentPods(s, DEMO.mountApp);
  return pods.length > 0 && pods.every((p) => podStatusOf(s, p.uid, DEMO.mountedClass)?.versions[DEMO.objectId] === version);
}

/** Ready for a rotation: the Secret synced, both rolled out, mount-app's pods mounted, both adopted. */
export function settled(s: Snapshot, digest: string, version: string): boolean {
  return s.secretDigest === digest && DEPLOYMENTS.every((d) => rolledOut(s, d) && s.deployments.get(d)?.adopted) && mountsVersion(s, version);
}

export interface RotationTarget {
  /** The new version's id and the sha256 of its value. */
  version: string;
  digest: string;
  /** When the vault write returned, ms. */
  writtenAt: number;
}

/** Follows one rotation: fed every snapshot, returns the steps first seen in it. */
export class RotationTimeline {
  readonly target: RotationTarget;
  readonly steps: Step[] = [];
  private readonly before: { replicaSets: Map<string, Set<string>>; restartedAt: Map<string, string | undefined>; pods: Set<string> };
  private secretSeenAt: number | undefined;
  private readonly remounted = new Set<string>();

  constructor(target: RotationTarget, before: Snapshot) {
    this.target = target;
    this.before = {
      replicaSets: new Map(DEPLOYMENTS.map((d) => [d, new Set(replicaSetsOf(before, d).map((rs) => rs.name))])),
      restartedAt: new Map(DEPLOYMENTS.map((d) => [d, before.deployments.get(d)?.restartedAt])),
      pods: new Set(before.pods.map((p) => p.uid)),
    };
  }

  observe(s: Snapshot, now: number): Step[] {
    const found: Step[] = [];
    const seen = (kind: Step['kind'], deployment: DemoDeployment) => this.steps.some((x) => x.kind === kind && x.deployment === deployment);

    if (this.secretSeenAt === undefined && s.secretDigest === this.target.digest) {
      this.secretSeenAt = now;
      found.push({ kind: 'secret-updated', deployment: DEMO.envApp, at: now });
    }
    // The driver's work on the pods that were running when the vault changed; once
    // mount-app restarts, the rest of them are on their way out.
    if (!seen('restart-started', DEMO.mountApp)) {
      for (const p of s.pods) {
        if (!this.before.pods.has(p.uid) || this.remounted.has(p.uid)) continue;
        if (podStatusOf(s, p.uid, DEMO.mountedClass)?.versions[DEMO.objectId] !== this.target.version) continue;
        this.remounted.add(p.uid);
        found.push({ kind: 'remounted', deployment: DEMO.mountApp, at: now, pod: p.name });
      }
    }
    for (const d of DEPLOYMENTS) {
      const view = s.deployments.get(d);
      if (!seen('restart-started', d) && view?.restartedAt !== undefined && view.restartedAt !== this.before.restartedAt.get(d)) {
        // The controller's own clock, to the millisecond, rather than when the change reached us.
        const at = Date.parse(view.restartedAt);
        found.push({ kind: 'restart-started', deployment: d, at: Number.isFinite(at) ? at : now, reason: view.restartReason ?? '' });
      }
      if (seen('restart-started', d) || found.some((x) => x.kind === 'restart-started' && x.deployment === d)) {
        if (!seen('rolled-out', d) && this.newReplicaSets(s, d) > 0 && rolledOut(s, d) && this.contentArrived(s, d)) {
          const newest = replicaSetsOf(s, d).at(-1)!;
          found.push({ kind: 'rolled-out', deployment: d, at: now, replicaSet: newest.name, pods: currentPods(s, d).length });
        }
      }
    }
    this.steps.push(...found);
    return found;
  }

  /** Both Deployments have rolled out with the new content. */
  get complete(): boolean {
    return DEPLOYMENTS.every((d) => this.steps.some((x) => x.kind === 'rolled-out' && x.deployment === d));
  }

  /** Restarts since the rotation began: ReplicaSets that did not exist before it. */
  newReplicaSets(s: Snapshot, deployment: DemoDeployment): number {
    const before = this.before.replicaSets.get(deployment)!;
    return replicaSetsOf(s, deployment).filter((rs) => !before.has(rs.name)).length;
  }

  /**
   * env-app: every current pod was created once the Secret held the new value
   * (a kubelet resolves secretKeyRef when it starts the container). mount-app:
   * every current pod's status reports the new version.
   */
  private contentArrived(s: Snapshot, d: DemoDeployment): boolean {
    if (d === DEMO.mountApp) return mountsVersion(s, this.target.version);
    if (this.secretSeenAt === undefined || s.secretDigest !== this.target.digest) return false;
    // creationTimestamp has whole seconds.
    const from = Math.floor(this.secretSeenAt / 1000) * 1000;
    return currentPods(s, d).every((p) => p.createdAt >= from);
  }
}

/** "+2.1s": a step's time after the vault write. */
export function offset(at: number, from: number): string {
  return `+${(Math.max(0, at - from) / 1000).toFixed(1)}s`;
}

