import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeKeyring } from '../../src/reloader/digest.ts';
import { classInput, mountedInput, projectPod, projectPodStatus, projectReplicaSet, syncedInput } from '../../src/reloader/mounted.ts';

const keyring = makeKeyring(Buffer.alloc(32, 7));

describe('mountedInput', () => {
  it('is null when no current pod has reported', () => {
    assert.equal(mountedInput('b', []), null);
  });
  it('is the baseline when every current pod reports the baseline', () => {
    assert.equal(mountedInput('b', [{ digest: 'b', seenAt: 1 }, { digest: 'b', seenAt: 2 }]), 'b');
  });
  it('is the differing report when one pod has rotated and others still report the baseline', () => {
    assert.equal(mountedInput('b', [{ digest: 'b', seenAt: 5 }, { digest: 'n', seenAt: 1 }]), 'n');
  });
  it('is the most recently seen differing report when two rotations are reported', () => {
    assert.equal(mountedInput('b', [{ digest: 'n1', seenAt: 1 }, { digest: 'n2', seenAt: 2 }, { digest: 'b', seenAt: 3 }]), 'n2');
  });
  it('adopts the most recent report when there is no baseline entry', () => {
    assert.equal(mountedInput(undefined, [{ digest: 'x', seenAt: 1 }, { digest: 'y', seenAt: 9 }]), 'y');
  });
});

describe('projections', () => {
  const status = (objects: unknown, mounted = true) => ({ metadata: { namespace: 'ns', name: 'p-ns-kv' }, status: { podName: 'p', secretProviderClassName: 'kv', mounted, objects } });
  it('a status digest depends on versions, not on object order', () => {
    const a = projectPodStatus(keyring, status([{ id: 'secret/a', version: '1' }, { id: 'secret/b', version: '2' }]))!;
    const b = projectPodStatus(keyring, status([{ id: 'secret/b', version: '2' }, { id: 'secret/a', version: '1' }]))!;
    const c = projectPodStatus(keyring, status([{ id: 'secret/a', version: '1' }, { id: 'secret/b', version: '3' }]))!;
    assert.equal(a.digest, b.digest);
    assert.notEqual(a.digest, c.digest);
    assert.equal(a.className, 'kv');
  });
  it('a status that is not mounted, or has no pod or class, is dropped', () => {
    assert.equal(projectPodStatus(keyring, status([], false)), null);
    assert.equal(projectPodStatus(keyring, { metadata: {}, status: { secretProviderClassName: 'kv' } }), null);
  });
  it('keeps only pods that mount through the Secrets Store CSI driver, with their controller', () => {
    const pod = (driver: string) => ({ metadata: { namespace: 'ns', name: 'p', labels: { 'controller-revision-hash': 'r1' }, ownerReferences: [{ kind: 'StatefulSet', name: 'db', controller: true }] }, spec: { volumes: [{ name: 'v', csi: { driver } }] } });
    assert.deepEqual(projectPod(pod('secrets-store.csi.k8s.io')), { namespace: 'ns', name: 'p', ownerKind: 'StatefulSet', ownerName: 'db', revision: 'r1' });
    assert.equal(projectPod(pod('other.csi.example')), null);
  });
  it('takes a DaemonSet pod’s revision from pod-template-generation (the DaemonSet’s template generation), not from its controller-revision-hash', () => {
    const pod = { metadata: { namespace: 'ns', name: 'agent-x', labels: { 'controller-revision-hash': '6d5f8c9b7', 'pod-template-generation': '3' }, ownerReferences: [{ kind: 'DaemonSet', name: 'agent', controller: true }] }, spec: { volumes: [{ name: 'v', csi: { driver: 'secrets-store.csi.k8s.io' } }] } };
    assert.equal(projectPod(pod)?.revision, '3');
    const sts = { ...pod, metadata: { ...pod.metadata, ownerReferences: [{ kind: 'StatefulSet', name: 'db', controller: true }] } };
    assert.equal(projectPod(sts)?.revision, '6d5f8c9b7');
  });
  it('maps a ReplicaSet to its Deployment and revision', () => {
    assert.deepEqual(projectReplicaSet({ metadata: { namespace: 'ns', name: 'web-1', annotations: { 'deployment.kubernetes.io/revision': '4' }, ownerReferences: [{ kind: 'Deployment', name: 'web' }] } }), { namespace: 'ns', name: 'web-1', deployment: 'web', revision: 4 });
    assert.equal(projectReplicaSet({ metadata: { name: 'orphan' } }), null);
  });
});

describe('syncedInput', () => {
  const status = (objects: Array<{ id: string; version: string }>) =>
    projectPodStatus(keyring, { metadata: { namespace: 'ns' }, status: { podName: 'p', secretProviderClassName: 'c', mounted: true, objects } })?.digest;

  it('is the digest a pod reporting the same versions has, whatever the order: switching source restarts nothing', () => {
    const versions = new Map([['secret/db', 'v2'], ['cert/tls', 'c1'], ['secret/h/0', 'b'], ['secret/h/1', 'a']]);
    assert.equal(syncedInput(keyring, versions), status([{ id: 'cert/tls', version: 'c1' }, { id: 'secret/db', version: 'v2' }, { id: 'secret/h/0', version: 'b' }, { id: 'secret/h/1', version: 'a' }]));
    assert.equal(syncedInput(keyring, new Map([...versions].reverse())), syncedInput(keyring, versions));
  });

  it('differs when any version differs', () => {
    assert.notEqual(syncedInput(keyring, new Map([['secret/db', 'v3']])), syncedInput(keyring, new Map([['secret/db', 'v2']])));
  });
});

describe('classInput', () => {
  const versions = new Map([['secret/db', 'v2']]);
  const pods = (digest: string | null) => {
    let asked = 0;
    return { ask: () => (asked++, digest), asked: () => asked };
  };

  it('is the sync engine\'s digest when it reads the class, whatever the pods report', () => {
    const p = pods('from-pods');
    assert.equal(classInput(keyring, versions, p.ask), syncedInput(keyring, versions));
    assert.equal(p.asked(), 0, 'the pods are not asked');
  });

  it('is absent while the engine\'s first read is pending: the pods do not stand in for a moment', () => {
    const p = pods('from-pods');
    assert.equal(classInput(keyring, 'pending', p.ask), null);
    assert.equal(p.asked(), 0);
  });

  it('is what the pods report when the engine does not read the class', () => {
    assert.equal(classInput(keyring, undefined, () => 'from-pods'), 'from-pods');
    assert.equal(classInput(keyring, undefined, () => null), null);
  });
});
