import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1ManagedFieldsEntry, V1Secret } from '@kubernetes/client-node';
import { CSI_MANAGED_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../../src/sync/secret-data.ts';
import { FIELD_MANAGER, ownedMetadataKeys, ownershipProblem, planSecretWrite } from '../../src/sync/secret-plan.ts';

const UID = '1b4e28ba-2fa1-11d2-883f-0016d3cca427';
const ownerRef = { apiVersion: 'secrets-store.csi.x-k8s.io/v1', kind: 'SecretProviderClass', name: 'app', uid: UID, controller: true };

function desired(data: Record<string, string> = { password: 'cDE=' }, extra: { labels?: Record<string, string>; annotations?: Record<string, string>; type?: string } = {}): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'db', namespace: 'team', labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, ...extra.labels }, annotations: { ...extra.annotations }, ownerReferences: [ownerRef] },
    type: extra.type ?? 'Opaque',
    data,
  };
}

function managed(manager: string, labels: string[], annotations: string[] = []): V1ManagedFieldsEntry {
  return {
    manager,
    operation: 'Update',
    apiVersion: 'v1',
    fieldsType: 'FieldsV1',
    fieldsV1: {
      'f:data': { 'f:password': {} },
      'f:metadata': {
        'f:labels': { '.': {}, ...Object.fromEntries(labels.map((l) => [`f:${l}`, {}])) },
        'f:annotations': Object.fromEntries(annotations.map((a) => [`f:${a}`, {}])),
        'f:ownerReferences': {},
      },
      'f:type': {},
    },
  };
}

// What the API server holds after we created `d`, plus what others changed.
function existing(d: V1Secret, change: (s: V1Secret) => void = () => {}): V1Secret {
  const s: V1Secret = structuredClone(d);
  s.metadata!.resourceVersion = '42';
  s.metadata!.uid = 'secret-uid';
  s.metadata!.managedFields = [managed(FIELD_MANAGER, Object.keys(d.metadata?.labels ?? {}), Object.keys(d.metadata?.annotations ?? {}))];
  change(s);
  return s;
}

describe('planSecretWrite', () => {
  it('creates a Secret that does not exist', () => {
    const d = desired();
    assert.deepEqual(planSecretWrite(undefined, d, UID), { action: 'create', secret: d });
  });

  it('writes nothing when type, data, labels and annotations are as desired', () => {
    assert.deepEqual(planSecretWrite(existing(desired()), desired(), UID), { action: 'none' });
  });

  it('updates the data when a value changed, keeping the object\'s identity and resourceVersion for the conflict check', () => {
    const plan = planSecretWrite(existing(desired()), desired({ password: 'cDI=' }), UID);
    assert.equal(plan.action, 'update');
    assert.ok(plan.action === 'update');
    assert.deepEqual(plan.changed, ['data']);
    assert.deepEqual(plan.secret.data, { password: 'cDI=' });
    assert.equal(plan.secret.metadata?.resourceVersion, '42');
    assert.equal(plan.secret.metadata?.uid, 'secret-uid');
    assert.equal(plan.secret.metadata?.managedFields, undefined, 'managedFields are the server\'s to keep');
  });

  it('makes the data exactly what the class declares: a key added by hand or dropped by the class goes', () => {
    const plan = planSecretWrite(existing(desired({ password: 'cDE=', old: 'eA==' })), desired(), UID);
    assert.ok(plan.action === 'update');
    assert.deepEqual(plan.secret.data, { password: 'cDE=' });
  });

  it('keeps labels and annotations other tools set, and does not write for them', () => {
    const current = existing(desired(), (s) => {
      s.metadata!.labels!['backup'] = 'yes';
      s.metadata!.annotations = { 'example.com/note': 'x' };
      s.metadata!.managedFields!.push(managed('kubectl-label', ['backup'], ['example.com/note']));
    });
    assert.deepEqual(planSecretWrite(current, desired(), UID), { action: 'none' });
  });

  it('removes a label or annotation the class no longer declares, only if we set it', () => {
    const before = desired(undefined, { labels: { team: 'a' }, annotations: { 'a.io/x': '1' } });
    const current = existing(before, (s) => {
      s.metadata!.labels!['backup'] = 'yes';
      s.metadata!.managedFields!.push(managed('someone', ['backup']));
    });
    const plan = planSecretWrite(current, desired(), UID);
    assert.ok(plan.action === 'update');
    assert.deepEqual(plan.changed, ['labels', 'annotations']);
    assert.deepEqual(plan.secret.metadata?.labels, { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, backup: 'yes' });
    assert.deepEqual(plan.secret.metadata?.annotations, {});
  });

  it('sets a changed label value back to the class\'s value', () => {
    const current = existing(desired(undefined, { labels: { team: 'a' } }), (s) => (s.metadata!.labels!['team'] = 'b'));
    const plan = planSecretWrite(current, desired(undefined, { labels: { team: 'a' } }), UID);
    assert.ok(plan.action === 'update');
    assert.deepEqual(plan.changed, ['labels']);
    assert.equal(plan.secret.metadata?.labels?.['team'], 'a');
  });

  it('refuses a Secret the CSI driver manages, even with our label and ownerReference', () => {
    const plan = planSecretWrite(existing(desired(), (s) => (s.metadata!.labels![CSI_MANAGED_LABEL] = 'true')), desired({ password: 'cDI=' }), UID);
    assert.deepEqual(plan, { action: 'not-owned', reason: `it is managed by the Secrets Store CSI driver (label ${CSI_MANAGED_LABEL}=true)` });
  });

  it('refuses a Secret without our label', () => {
    const plan = planSecretWrite(existing(desired(), (s) => delete s.metadata!.labels![MANAGED_BY_LABEL]), desired(), UID);
    assert.equal(plan.action, 'not-owned');
    assert.ok(plan.action === 'not-owned' && plan.reason.includes(MANAGED_BY_LABEL));
  });

  it('refuses a Secret of ours that another class owns', () => {
    const plan = planSecretWrite(existing(desired(), (s) => (s.metadata!.ownerReferences = [{ ...ownerRef, uid: 'other' }])), desired(), UID);
    assert.deepEqual(plan, { action: 'not-owned', reason: 'it belongs to another SecretProviderClass (no ownerReference to this one)' });
    assert.equal(ownershipProblem(existing(desired()), ''), 'it belongs to another SecretProviderClass (no ownerReference to this one)', 'a class without uid owns nothing');
  });

  it('reports a type change instead of attempting it (a Secret\'s type is immutable)', () => {
    const plan = planSecretWrite(existing(desired()), desired(undefined, { type: 'kubernetes.io/tls' }), UID);
    assert.deepEqual(plan, { action: 'type-immutable', current: 'Opaque', desired: 'kubernetes.io/tls' });
  });

  it('treats an empty type as Opaque', () => {
    assert.deepEqual(planSecretWrite(existing(desired(), (s) => delete s.type), desired(), UID), { action: 'none' });
  });
});

describe('ownedMetadataKeys', () => {
  it('collects the label and annotation keys of one field manager, over all its entries', () => {
    const owned = ownedMetadataKeys([managed(FIELD_MANAGER, ['a', 'b'], ['x']), managed('other', ['c']), { ...managed(FIELD_MANAGER, ['d']), operation: 'Apply' }], FIELD_MANAGER);
    assert.deepEqual([...owned.labels].sort(), ['a', 'b', 'd']);
    assert.deepEqual([...owned.annotations], ['x']);
  });

  it('is empty without managedFields', () => {
    const owned = ownedMetadataKeys(undefined, FIELD_MANAGER);
    assert.equal(owned.labels.size + owned.annotations.size, 0);
  });
});
