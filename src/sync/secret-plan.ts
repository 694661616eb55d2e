// What writing a desired synced Secret means, given what the API server
// holds: create it, leave it (same content: no write, so no new
// resourceVersion and no restart downstream), update it, or refuse because it
// is not ours. Pure; the secret writer does the I/O.
//
// Ours means: our managed-by label AND an ownerReference to this class's uid,
// and never the CSI driver's managed label. The data is ours entirely (the
// class declares it); labels and annotations are shared with other tools: we
// set the ones the class declares and remove only those we set before (as
// recorded for our field manager in managedFields), never anyone else's.
import type { V1ManagedFieldsEntry, V1Secret } from '@kubernetes/client-node';
import { CSI_MANAGED_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from './secret-data.ts';

/** Our field manager name on every write (managedFields records which fields we set). */
export const FIELD_MANAGER = 'keyvault-reloader';

export type SecretPlan =
  | { action: 'create'; secret: V1Secret }
  | { action: 'none' }
  | { action: 'update'; secret: V1Secret; changed: Array<'data' | 'labels' | 'annotations'> }
  | { action: 'not-owned'; reason: string }
  | { action: 'type-immutable'; current: string; desired: string };

export function planSecretWrite(existing: V1Secret | undefined, desired: V1Secret, ownerUid: string, fieldManager = FIELD_MANAGER): SecretPlan {
  if (existing === undefined) return { action: 'create', secret: desired };
  const notOwned = ownershipProblem(existing, ownerUid);
  if (notOwned !== undefined) return { action: 'not-owned', reason: notOwned };

  const currentType = existing.type || 'Opaque';
  const desiredType = desired.type || 'Opaque';
  if (currentType !== desiredType) return { action: 'type-immutable', current: currentType, desired: desiredType };

  const owned = ownedMetadataKeys(existing.metadata?.managedFields, fieldManager);
  const labels = mergeOwned(existing.metadata?.labels, desired.metadata?.labels, owned.labels);
  const annotations = mergeOwned(existing.metadata?.annotations, desired.metadata?.annotations, owned.annotations);
  const changed: Array<'data' | 'labels' | 'annotations'> = [];
  if (!sameMap(existing.data, desired.data)) changed.push('data');
  if (!sameMap(existing.metadata?.labels, labels)) changed.push('labels');
  if (!sameMap(existing.metadata?.annotations, annotations)) changed.push('annotations');
  if (changed.length === 0) return { action: 'none' };

  const { managedFields: _managedFields, ...metadata } = existing.metadata ?? {};
  return {
    action: 'update',
    changed,
    secret: { apiVersion: 'v1', kind: 'Secret', metadata: { ...metadata, labels, annotations }, type: existing.type, data: { ...(desired.data ?? {}) } },
  };
}

/** Why an existing Secret is not ours to write; undefined when it is. */
export function ownershipProblem(existing: V1Secret, ownerUid: string): string | undefined {
  const labels = existing.metadata?.labels ?? {};
  if (labels[CSI_MANAGED_LABEL] === 'true') {
    return `it is managed by the Secrets Store CSI driver (label ${CSI_MANAGED_LABEL}=true)`;
  }
  if (labels[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE) {
    return `it was not created by keyvault-reloader (no label ${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE})`;
  }
  if (ownerUid === '' || !(existing.metadata?.ownerReferences ?? []).some((o) => o.uid === ownerUid)) {
    return 'it belongs to another SecretProviderClass (no ownerReference to this one)';
  }
  return undefined;
}

/** The label and annotation keys a field manager set, from the object's managedFields. */
export function ownedMetadataKeys(managedFields: readonly V1ManagedFieldsEntry[] | undefined, fieldManager: string): { labels: Set<string>; annotations: Set<string> } {
  const owned = { labels: new Set<string>(), annotations: new Set<string>() };
  for (const entry of managedFields ?? []) {
    if (entry.manager !== fieldManager) continue;
    const metadata = (entry.fieldsV1 as Record<string, Record<string, Record<string, unknown>>> | undefined)?.['f:metadata'];
    for (const key of Object.keys(metadata?.['f:labels'] ?? {})) if (key.startsWith('f:')) owned.labels.add(key.slice(2));
    for (const key of Object.keys(metadata?.['f:annotations'] ?? {})) if (key.startsWith('f:')) owned.annotations.add(key.slice(2));
  }
  return owned;
}

function mergeOwned(current: Record<string, string> | undefined, desired: Record<string, string> | undefined, owned: ReadonlySet<string>): Record<string, string> {
  const next: Record<string, string> = {};
  for (const [k, v] of Object.entries(current ?? {})) {
    if (owned.has(k) && !(desired !== undefined && k in desired)) continue;
    next[k] = v;
  }
  return { ...next, ...(desired ?? {}) };
}

function sameMap(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ak = Object.keys(a ?? {});
  const bk = Object.keys(b ?? {});
  if (ak.length !== bk.length) return false;
  return ak.every((k) => b !== undefined && Object.hasOwn(b, k) && b[k] === a?.[k]);
}
