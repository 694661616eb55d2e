import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1DaemonSet, V1Deployment, V1StatefulSet } from '@kubernetes/client-node';
import { rolloutState } from '../../src/reloader/workloads.ts';

const meta = { name: 'app', namespace: 'ns', generation: 2 };

function deployment(status: V1Deployment['status'], spec: Partial<V1Deployment['spec']> = {}): V1Deployment {
  return { metadata: meta, spec: { replicas: 2, selector: {}, template: {}, ...spec }, status: { observedGeneration: 2, ...status } };
}

function statefulSet(status: Partial<NonNullable<V1StatefulSet['status']>>, updateStrategy?: NonNullable<V1StatefulSet['spec']>['updateStrategy']): V1StatefulSet {
  return { metadata: meta, spec: { replicas: 3, selector: {}, template: {}, serviceName: 'app', updateStrategy }, status: { observedGeneration: 2, replicas: 3, ...status } as V1StatefulSet['status'] };
}

describe('rolloutState: Deployment', () => {
  it('is rolling while pods are not all updated and available, and done when they are', () => {
    assert.equal(rolloutState('Deployment', deployment({ replicas: 3, updatedReplicas: 1, availableReplicas: 2 })).inProgress, true);
    assert.equal(rolloutState('Deployment', deployment({ replicas: 2, updatedReplicas: 2, availableReplicas: 1 })).inProgress, true, 'a pod that never becomes available keeps it rolling');
    const done = rolloutState('Deployment', deployment({ replicas: 2, updatedReplicas: 2, availableReplicas: 2 }));
    assert.deepEqual([done.inProgress, done.failed], [false, false]);
  });

  it('is rolling while the controller has not observed the latest generation', () => {
    assert.equal(rolloutState('Deployment', deployment({ observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 2 })).inProgress, true);
  });

  it('marks a rollout past its progressDeadlineSeconds as failed (still in progress)', () => {
    const r = rolloutState('Deployment', deployment({ replicas: 2, updatedReplicas: 2, availableReplicas: 0, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] }));
    assert.deepEqual([r.inProgress, r.failed], [true, true]);
  });

  it('reads pause and the last restart from the pod template', () => {
    const r = rolloutState('Deployment', deployment({ replicas: 2, updatedReplicas: 2, availableReplicas: 2 }, { paused: true, template: { metadata: { annotations: { 'keyvault-reloader.io/restarted-at': '2026-01-02T03:04:05.000Z' } } } }));
    assert.equal(r.paused, true);
    assert.equal(r.lastRestartAt, Date.parse('2026-01-02T03:04:05.000Z'));
  });
});

describe('rolloutState: StatefulSet', () => {
  const rolled = { readyReplicas: 3, updatedReplicas: 3, currentRevision: 'r2', updateRevision: 'r2' };

  it('is rolling while the update revision is not current, or a pod is not ready', () => {
    assert.equal(rolloutState('StatefulSet', statefulSet({ ...rolled, currentRevision: 'r1', updatedReplicas: 1 })).inProgress, true);
    assert.equal(rolloutState('StatefulSet', statefulSet({ ...rolled, readyReplicas: 2 })).inProgress, true);
    assert.equal(rolloutState('StatefulSet', statefulSet(rolled)).inProgress, false);
  });

  it('with OnDelete: never rolling, and says a restart would replace no pod and what to do', () => {
    const r = rolloutState('StatefulSet', statefulSet({ ...rolled, currentRevision: 'r1' }, { type: 'OnDelete' }));
    assert.equal(r.inProgress, false);
    assert.match(r.manual ?? '', /updateStrategy is OnDelete, so a restart would replace no pod: delete its pods one at a time \(kubectl delete pod -n ns app-<ordinal>\).*or set updateStrategy to RollingUpdate/);
  });

  it('with a partition below replicas: complete once the ordinals at or above it are updated, though the revisions differ', () => {
    const strategy = { type: 'RollingUpdate', rollingUpdate: { partition: 2 } };
    const r = rolloutState('StatefulSet', statefulSet({ ...rolled, currentRevision: 'r1', updatedReplicas: 1 }, strategy));
    assert.deepEqual([r.inProgress, r.partition, r.manual], [false, 2, undefined]);
    assert.equal(rolloutState('StatefulSet', statefulSet({ ...rolled, currentRevision: 'r1', updatedReplicas: 0 }, strategy)).inProgress, true);
  });

  it('with a partition at or above replicas: a restart would replace no pod', () => {
    const r = rolloutState('StatefulSet', statefulSet(rolled, { type: 'RollingUpdate', rollingUpdate: { partition: 3 } }));
    assert.equal(r.partition, undefined);
    assert.match(r.manual ?? '', /rollingUpdate.partition \(3\) is not below its replicas \(3\), so a restart would replace no pod: lower the partition/);
  });
});

describe('rolloutState: DaemonSet', () => {
  const ds = (status: object, updateStrategy?: object): V1DaemonSet => ({ metadata: meta, spec: { selector: {}, template: {}, updateStrategy }, status: { observedGeneration: 2, currentNumberScheduled: 2, numberMisscheduled: 0, numberReady: 2, desiredNumberScheduled: 2, ...status } });

  it('is rolling while scheduled pods are not all updated and available', () => {
    assert.equal(rolloutState('DaemonSet', ds({ updatedNumberScheduled: 1, numberAvailable: 2 })).inProgress, true);
    assert.equal(rolloutState('DaemonSet', ds({ updatedNumberScheduled: 2, numberAvailable: 2 })).inProgress, false);
  });

  it('with OnDelete: never rolling, and says what to do', () => {
    const r = rolloutState('DaemonSet', ds({ updatedNumberScheduled: 0, numberAvailable: 2 }, { type: 'OnDelete' }));
    assert.equal(r.inProgress, false);
    assert.match(r.manual ?? '', /DaemonSet's updateStrategy is OnDelete, so a restart would replace no pod/);
  });
});
