// The one decision: given what a workload depends on now, what it last acted
// on (its baseline) and the state of its rollout, should it restart, wait,
// only record a new baseline, or do nothing? Pure and level-triggered, so a
// missed, duplicated or replayed event changes nothing.

import { formatDuration } from '../core/duration.ts';

/** `secret/<name>` or `spc/<name>`, within the workload's namespace. */
export type InputKey = string;

/** Current digests; null means the input is absent (Secret missing, nothing mounted yet). */
export type Inputs = Record<InputKey, string | null>;

export interface Baseline {
  keyId: string;
  inputs: Record<InputKey, string>;
}

export interface RolloutState {
  paused: boolean;
  /** Its controller is still replacing pods toward the template (what `kubectl rollout status` waits for). */
  inProgress: boolean;
  /** The rollout failed by the workload's own measure: a Deployment past its progressDeadlineSeconds. */
  failed?: boolean;
  /**
   * Why a template patch would replace no pod by itself (updateStrategy
   * OnDelete, a partition at or above replicas): what the operator must do.
   */
  manual?: string;
  /** A StatefulSet's rollingUpdate.partition between 1 and replicas−1: only pods of that ordinal and above roll. */
  partition?: number;
  /** When this controller last restarted it (from the pod template), if ever. */
  lastRestartAt: number | undefined;
}

export interface DecideInput {
  now: number;
  keyId: string;
  baseline: Baseline | null;
  inputs: Inputs;
  rollout: RolloutState;
  settleMs: number;
  minRestartIntervalMs: number;
  /** When a change to these inputs was last seen; the settle window runs from here. */
  lastChangeAt: number;
  /** When the first of the changes now pending was seen (default lastChangeAt). */
  firstChangeAt?: number;
  /**
   * The longest a change waits for its inputs to settle: an input rewritten
   * faster than the settle window would otherwise postpone the restart for
   * ever. Past it, the per-workload rate limit takes over. Default: no bound.
   */
  maxSettleMs?: number;
  /** A malformed opt-in or exclusion (annotations.ts): nothing is restarted or recorded until it is fixed. */
  held?: boolean;
  /** When this controller first saw the current rollout in progress. */
  rolloutSince?: number;
  /**
   * A rollout not finished this long after rolloutSince is stalled, not
   * rolling: it is no longer waited for (default: waited for as long as it
   * progresses). StatefulSets and DaemonSets have no deadline of their own.
   */
  rolloutTimeoutMs?: number;
}

export type WaitReason = 'settle' | 'rate-limited' | 'paused' | 'rollout-in-progress' | 'invalid-annotation';

export type Decision =
  | { action: 'none' }
  | { action: 'record'; baseline: Baseline; reason: 'adopt' | 'key-changed' | 'inputs-changed' }
  | { action: 'wait'; until: number | null; reason: WaitReason; changed: InputKey[] }
  /** A restart would replace no pod (OnDelete, partition): record the change and tell the operator what to do. */
  | { action: 'manual'; baseline: Baseline; changed: InputKey[]; why: string }
  /** `stalled`: the previous rollout is not finished but no longer waited for, and why. */
  | { action: 'restart'; baseline: Baseline; changed: InputKey[]; stalled?: string };

export function decide(input: DecideInput): Decision {
  const { baseline, inputs, keyId } = input;
  const present = presentInputs(inputs);

  // Held: write nothing, not even an adoption, so that once the annotation is
  // fixed the decision is made against the baseline from before the typo.
  if (input.held) {
    const changed = baseline !== null && baseline.keyId === keyId ? changedInputs(baseline, inputs) : [];
    return { action: 'wait', until: null, reason: 'invalid-annotation', changed };
  }

  // No baseline, or one made with a key we no longer have: its digests cannot
  // be compared, so record the present state and restart nothing.
  if (baseline === null) return { action: 'record', baseline: { keyId, inputs: present }, reason: 'adopt' };
  if (baseline.keyId !== keyId) return { action: 'record', baseline: { keyId, inputs: present }, reason: 'key-changed' };

  const changed = changedInputs(baseline, inputs);
  const next = nextBaseline(baseline, inputs);

  if (changed.length === 0) {
    return sameInputs(next.inputs, baseline.inputs) ? { action: 'none' } : { action: 'record', baseline: next, reason: 'inputs-changed' };
  }
  const { rollout } = input;
  if (rollout.paused) return { action: 'wait', until: null, reason: 'paused', changed };
  const stalled = stalledRollout(rollout, input.rolloutSince, input.now, input.rolloutTimeoutMs);
  if (rollout.inProgress && stalled === undefined) {
    const deadline = input.rolloutSince !== undefined && input.rolloutTimeoutMs !== undefined ? input.rolloutSince + input.rolloutTimeoutMs : null;
    return { action: 'wait', until: deadline, reason: 'rollout-in-progress', changed };
  }
  const settledAt = Math.min(input.lastChangeAt + input.settleMs, (input.firstChangeAt ?? input.lastChangeAt) + (input.maxSettleMs ?? Infinity));
  if (input.now < settledAt) return { action: 'wait', until: settledAt, reason: 'settle', changed };
  if (rollout.manual !== undefined) return { action: 'manual', baseline: next, changed, why: rollout.manual };
  const last = rollout.lastRestartAt;
  if (last !== undefined && input.now < last + input.minRestartIntervalMs) {
    return { action: 'wait', until: last + input.minRestartIntervalMs, reason: 'rate-limited', changed };
  }
  return stalled === undefined ? { action: 'restart', baseline: next, changed } : { action: 'restart', baseline: next, changed, stalled };
}

/**
 * Why a rollout in progress no longer counts as rolling: it failed by its
 * own deadline, or has run past ours. Undefined while it is rolling (or not
 * rolling at all). A stalled workload is often broken precisely because its
 * credential was revoked, so a new change restarts it rather than wait.
 */
export function stalledRollout(rollout: RolloutState, since: number | undefined, now: number, timeoutMs: number | undefined): string | undefined {
  if (!rollout.inProgress) return undefined;
  if (rollout.failed) return 'its rollout exceeded its progress deadline (ProgressDeadlineExceeded)';
  if (since !== undefined && timeoutMs !== undefined && now >= since + timeoutMs) return `its rollout has not finished within ${formatDuration(timeoutMs)} (--rollout-timeout)`;
  return undefined;
}

/**
 * Inputs whose content differs from what was last acted on. Appearing (no
 * baseline entry) and disappearing (absent now) are not changes: a pod that
 * waits for a missing Secret starts by itself once it exists, and restarting
 * pods because their Secret was deleted would only break them.
 */
export function changedInputs(baseline: Baseline, inputs: Inputs): InputKey[] {
  return Object.entries(inputs)
    .filter(([k, d]) => d !== null && baseline.inputs[k] !== undefined && baseline.inputs[k] !== d)
    .map(([k]) => k)
    .sort();
}

/** The present digests; an absent input keeps its old entry so its return with the same content changes nothing. */
export function nextBaseline(baseline: Baseline, inputs: Inputs): Baseline {
  const next: Record<InputKey, string> = {};
  for (const k of Object.keys(inputs).sort()) {
    const d = inputs[k] ?? baseline.inputs[k];
    if (d !== undefined && d !== null) next[k] = d;
  }
  return { keyId: baseline.keyId, inputs: next };
}

function presentInputs(inputs: Inputs): Record<InputKey, string> {
  const out: Record<InputKey, string> = {};
  for (const k of Object.keys(inputs).sort()) {
    const d = inputs[k];
    if (d !== null && d !== undefined) out[k] = d;
  }
  return out;
}

function sameInputs(a: Record<InputKey, string>, b: Record<InputKey, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

const BASELINE_VERSION = 1;

export function formatBaseline(b: Baseline): string {
  return JSON.stringify({ v: BASELINE_VERSION, key: b.keyId, inputs: b.inputs });
}

/** Null for a missing or unreadable annotation: the workload is then adopted afresh, never restarted. */
export function parseBaseline(text: string | undefined): Baseline | null {
  if (!text) return null;
  try {
    const raw = JSON.parse(text) as { v?: unknown; key?: unknown; inputs?: unknown };
    if (raw.v !== BASELINE_VERSION || typeof raw.key !== 'string' || typeof raw.inputs !== 'object' || raw.inputs === null || Array.isArray(raw.inputs)) return null;
    const inputs: Record<InputKey, string> = {};
    for (const [k, v] of Object.entries(raw.inputs as Record<string, unknown>)) {
      if (typeof v === 'string') inputs[k] = v;
    }
    return { keyId: raw.key, inputs };
  } catch {
    return null;
  }
}
