import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  changedInputs,
  decide,
  formatBaseline,
  nextBaseline,
  parseBaseline,
  type Baseline,
  type DecideInput,
  type Decision,
  type Inputs,
  type RolloutState,
} from '../../src/reloader/decide.ts';

const KEY = 'key-current';
const OLD_KEY = 'key-lost';
const T0 = 1_700_000_000_000;
const SETTLE = 15_000;
const MIN_INTERVAL = 300_000;

const IDLE: RolloutState = { paused: false, inProgress: false, lastRestartAt: undefined };

function baseline(inputs: Record<string, string>, keyId = KEY): Baseline {
  return { keyId, inputs };
}

/** A change first seen at T0, decided long after the settle window, with no rollout and no previous restart. */
function input(extra: Partial<Omit<DecideInput, 'rollout'>> & { rollout?: Partial<RolloutState> }): DecideInput {
  const { rollout, ...rest } = extra;
  return {
    now: T0 + 60_000,
    keyId: KEY,
    baseline: null,
    inputs: {},
    settleMs: SETTLE,
    minRestartIntervalMs: MIN_INTERVAL,
    lastChangeAt: T0,
    ...rest,
    rollout: { ...IDLE, ...rollout },
  };
}

function expectRestart(d: Decision): Extract<Decision, { action: 'restart' }> {
  assert.equal(d.action, 'restart', `expected a restart, got ${JSON.stringify(d)}`);
  return d as Extract<Decision, { action: 'restart' }>;
}

describe('decide: adopting a workload', () => {
  it('records the present digests as the baseline and restarts nothing when there is no baseline', () => {
    const d = decide(input({ baseline: null, inputs: { 'secret/b': 'd2', 'secret/a': 'd1' } }));
    assert.deepEqual(d, { action: 'record', reason: 'adopt', baseline: { keyId: KEY, inputs: { 'secret/a': 'd1', 'secret/b': 'd2' } } });
  });

  it('leaves absent inputs out of an adopted baseline', () => {
    const d = decide(input({ baseline: null, inputs: { 'secret/a': 'd1', 'secret/missing': null, 'spc/kv': null } }));
    assert.deepEqual(d, { action: 'record', reason: 'adopt', baseline: { keyId: KEY, inputs: { 'secret/a': 'd1' } } });
  });

  it('adopts a workload with no inputs with an empty baseline', () => {
    assert.deepEqual(decide(input({ baseline: null, inputs: {} })), { action: 'record', reason: 'adopt', baseline: { keyId: KEY, inputs: {} } });
  });

  it('adopts without waiting, even while the workload is paused, rolling out or recently restarted', () => {
    const d = decide(
      input({ baseline: null, inputs: { 'secret/a': 'd1' }, now: T0, lastChangeAt: T0, rollout: { paused: true, inProgress: true, lastRestartAt: T0 } }),
    );
    assert.equal(d.action, 'record');
    assert.equal(d.action === 'record' && d.reason, 'adopt');
  });

  it('writes its keys in sorted order so that the recorded annotation is stable', () => {
    const d = decide(input({ baseline: null, inputs: { 'spc/z': '3', 'secret/b': '2', 'secret/a': '1' } }));
    assert.ok(d.action === 'record');
    assert.deepEqual(Object.keys(d.baseline.inputs), ['secret/a', 'secret/b', 'spc/z']);
  });

  it('then does nothing on the next pass with the same inputs', () => {
    const inputs: Inputs = { 'secret/a': 'd1', 'spc/kv': 'm1' };
    const first = decide(input({ baseline: null, inputs }));
    assert.ok(first.action === 'record');
    assert.deepEqual(decide(input({ baseline: first.baseline, inputs })), { action: 'none' });
  });
});

describe('decide: a baseline made with another key', () => {
  it('records a new baseline with the current key and restarts nothing, although every digest differs', () => {
    const d = decide(input({ baseline: baseline({ 'secret/a': 'old-key-digest' }, OLD_KEY), inputs: { 'secret/a': 'new-key-digest', 'secret/b': null } }));
    assert.deepEqual(d, { action: 'record', reason: 'key-changed', baseline: { keyId: KEY, inputs: { 'secret/a': 'new-key-digest' } } });
  });

  it('records without waiting for a paused or rolling-out workload', () => {
    const d = decide(input({ baseline: baseline({ 'secret/a': 'x' }, OLD_KEY), inputs: { 'secret/a': 'y' }, rollout: { paused: true, inProgress: true } }));
    assert.equal(d.action, 'record');
  });
});

describe('decide: nothing changed', () => {
  it('does nothing when every digest equals the baseline', () => {
    const b = baseline({ 'secret/a': 'd1', 'spc/kv': 'm1' });
    assert.deepEqual(decide(input({ baseline: b, inputs: { 'secret/a': 'd1', 'spc/kv': 'm1' } })), { action: 'none' });
  });

  it('does nothing for unchanged inputs regardless of settle, rate limit, pause or rollout', () => {
    const b = baseline({ 'secret/a': 'd1' });
    const d = decide(input({ baseline: b, inputs: { 'secret/a': 'd1' }, now: T0, lastChangeAt: T0, rollout: { paused: true, inProgress: true, lastRestartAt: T0 } }));
    assert.deepEqual(d, { action: 'none' });
  });

  it('does nothing for a workload with no inputs and an empty baseline', () => {
    assert.deepEqual(decide(input({ baseline: baseline({}), inputs: {} })), { action: 'none' });
  });
});

describe('decide: inputs appearing and disappearing', () => {
  it('records, and does not restart for, a new input that has no baseline entry', () => {
    const d = decide(input({ baseline: baseline({ 'secret/a': 'd1' }), inputs: { 'secret/a': 'd1', 'secret/new': 'n1' } }));
    assert.deepEqual(d, { action: 'record', reason: 'inputs-changed', baseline: { keyId: KEY, inputs: { 'secret/a': 'd1', 'secret/new': 'n1' } } });
  });

  it('does not restart when an input is deleted, and keeps its old entry in the baseline', () => {
    const b = baseline({ 'secret/a': 'd1', 'secret/b': 'd2' });
    assert.deepEqual(decide(input({ baseline: b, inputs: { 'secret/a': 'd1', 'secret/b': null } })), { action: 'none' });
    assert.deepEqual(nextBaseline(b, { 'secret/a': 'd1', 'secret/b': null }), b);
  });

  it('does nothing when a deleted input is re-created with the same content', () => {
    const b = baseline({ 'secret/a': 'd1' });
    assert.deepEqual(decide(input({ baseline: b, inputs: { 'secret/a': null } })), { action: 'none' });
    assert.deepEqual(decide(input({ baseline: b, inputs: { 'secret/a': 'd1' } })), { action: 'none' });
  });

  it('restarts when a deleted input is re-created with different content', () => {
    const b = baseline({ 'secret/a': 'd1' });
    const d = expectRestart(decide(input({ baseline: b, inputs: { 'secret/a': 'd9' } })));
    assert.deepEqual(d.changed, ['secret/a']);
  });

  it('does nothing for an input that is absent and was never in the baseline', () => {
    assert.deepEqual(decide(input({ baseline: baseline({ 'secret/a': 'd1' }), inputs: { 'secret/a': 'd1', 'secret/never': null } })), { action: 'none' });
  });

  it('records, and does not restart for, an input the workload no longer depends on', () => {
    const d = decide(input({ baseline: baseline({ 'secret/a': 'd1', 'secret/dropped': 'd2' }), inputs: { 'secret/a': 'd1' } }));
    assert.deepEqual(d, { action: 'record', reason: 'inputs-changed', baseline: { keyId: KEY, inputs: { 'secret/a': 'd1' } } });
  });

  it('records a new input even while the workload is paused or rolling out', () => {
    const d = decide(input({ baseline: baseline({}), inputs: { 'secret/new': 'n' }, rollout: { paused: true, inProgress: true } }));
    assert.equal(d.action, 'record');
  });
});

describe('decide: a changed input', () => {
  it('restarts once the settle window has passed, with the new baseline and the changed input', () => {
    const d = decide(input({ baseline: baseline({ 'secret/a': 'd1' }), inputs: { 'secret/a': 'd2' } }));
    assert.deepEqual(d, { action: 'restart', baseline: { keyId: KEY, inputs: { 'secret/a': 'd2' } }, changed: ['secret/a'] });
  });

  it('lists only the changed inputs, sorted, not the new, deleted or unchanged ones', () => {
    const b = baseline({ 'secret/z': 'z1', 'secret/same': 's', 'secret/gone': 'g', 'spc/kv': 'm1' });
    const d = expectRestart(
      decide(input({ baseline: b, inputs: { 'spc/kv': 'm2', 'secret/z': 'z2', 'secret/same': 's', 'secret/gone': null, 'secret/new': 'n' } })),
    );
    assert.deepEqual(d.changed, ['secret/z', 'spc/kv']);
  });

  it('restarts with a baseline holding the new digests, the new inputs and the old entries of deleted inputs', () => {
    const b = baseline({ 'secret/a': 'a1', 'secret/gone': 'g1', 'secret/stale': 'x' });
    const d = expectRestart(decide(input({ baseline: b, inputs: { 'secret/a': 'a2', 'secret/gone': null, 'secret/new': 'n1' } })));
    assert.deepEqual(d.baseline, { keyId: KEY, inputs: { 'secret/a': 'a2', 'secret/gone': 'g1', 'secret/new': 'n1' } });
  });

  it('does nothing after the restart is recorded, so a replayed event restarts nothing', () => {
    const inputs: Inputs = { 'secret/a': 'a2', 'secret/b': null };
    const d = expectRestart(decide(input({ baseline: baseline({ 'secret/a': 'a1', 'secret/b': 'b1' }), inputs })));
    assert.deepEqual(decide(input({ baseline: d.baseline, inputs, rollout: { lastRestartAt: T0 + 60_000 } })), { action: 'none' });
  });

  it('treats a change of a SecretProviderClass mount like a change of a Secret', () => {
    const d = expectRestart(decide(input({ baseline: baseline({ 'spc/kv': 'v1' }), inputs: { 'spc/kv': 'v2' } })));
    assert.deepEqual(d.changed, ['spc/kv']);
  });

  it('does nothing when a change is reverted before it was acted on', () => {
    const b = baseline({ 'secret/a': 'd1' });
    assert.equal(decide(input({ baseline: b, inputs: { 'secret/a': 'd2' }, now: T0 + 1_000 })).action, 'wait');
    assert.deepEqual(decide(input({ baseline: b, inputs: { 'secret/a': 'd1' }, now: T0 + 2_000 })), { action: 'none' });
  });

  it('does not modify the baseline or inputs it is given', () => {
    const b = baseline({ 'secret/a': 'a1', 'secret/b': 'b1' });
    const inputs: Inputs = { 'secret/a': 'a2', 'secret/b': null, 'secret/c': 'c1' };
    const bBefore = structuredClone(b);
    const iBefore = structuredClone(inputs);
    decide(input({ baseline: b, inputs }));
    assert.deepEqual(b, bBefore);
    assert.deepEqual(inputs, iBefore);
  });
});

describe('decide: settle window', () => {
  const b = baseline({ 'secret/a': 'd1', 'secret/b': 'e1' });

  it('waits until lastChangeAt + settle while the window is open, naming what changed', () => {
    const d = decide(input({ baseline: b, inputs: { 'secret/a': 'd2', 'secret/b': 'e1' }, now: T0 + 1_000, lastChangeAt: T0 }));
    assert.deepEqual(d, { action: 'wait', until: T0 + SETTLE, reason: 'settle', changed: ['secret/a'] });
  });

  it('waits right up to the end of the window and restarts exactly when it closes', () => {
    const changed = { 'secret/a': 'd2', 'secret/b': 'e1' };
    assert.equal(decide(input({ baseline: b, inputs: changed, now: T0 + SETTLE - 1, lastChangeAt: T0 })).action, 'wait');
    expectRestart(decide(input({ baseline: b, inputs: changed, now: T0 + SETTLE, lastChangeAt: T0 })));
  });

  it('restarts the window from the last change, so secrets rotated together cause one restart', () => {
    // a changed at T0, b at T0+10s: at T0+20s the window (from T0+10s) is still open.
    const both = { 'secret/a': 'd2', 'secret/b': 'e2' };
    const d = decide(input({ baseline: b, inputs: both, now: T0 + 20_000, lastChangeAt: T0 + 10_000 }));
    assert.deepEqual(d, { action: 'wait', until: T0 + 10_000 + SETTLE, reason: 'settle', changed: ['secret/a', 'secret/b'] });
    const r = expectRestart(decide(input({ baseline: b, inputs: both, now: T0 + 25_000, lastChangeAt: T0 + 10_000 })));
    assert.deepEqual(r.changed, ['secret/a', 'secret/b']);
  });

  it('restarts at once with a zero settle window', () => {
    expectRestart(decide(input({ baseline: b, inputs: { 'secret/a': 'd2', 'secret/b': 'e1' }, now: T0, lastChangeAt: T0, settleMs: 0 })));
  });
});

describe('decide: paused workloads and rollouts in progress', () => {
  const b = baseline({ 'secret/a': 'd1' });
  const changed: Inputs = { 'secret/a': 'd2' };

  it('waits, with no deadline, while the workload is paused', () => {
    assert.deepEqual(decide(input({ baseline: b, inputs: changed, rollout: { paused: true } })), {
      action: 'wait',
      until: null,
      reason: 'paused',
      changed: ['secret/a'],
    });
  });

  it('restarts once the workload is resumed', () => {
    expectRestart(decide(input({ baseline: b, inputs: changed, rollout: { paused: false } })));
  });

  it('waits, with no deadline, while a previous rollout is still progressing and no timeout is given', () => {
    assert.deepEqual(decide(input({ baseline: b, inputs: changed, rollout: { inProgress: true } })), {
      action: 'wait',
      until: null,
      reason: 'rollout-in-progress',
      changed: ['secret/a'],
    });
  });

  it('applies a change made during a rollout once the rollout has finished', () => {
    expectRestart(decide(input({ baseline: b, inputs: changed, rollout: { inProgress: false } })));
  });

  it('waits for a rolling rollout until the rollout timeout at most', () => {
    const since = T0;
    assert.deepEqual(decide(input({ baseline: b, inputs: changed, now: T0 + 60_000, rollout: { inProgress: true }, rolloutSince: since, rolloutTimeoutMs: 600_000 })), {
      action: 'wait',
      until: T0 + 600_000,
      reason: 'rollout-in-progress',
      changed: ['secret/a'],
    });
  });

  it('restarts a workload whose rollout has run past the timeout, saying why it was not waited for', () => {
    const d = expectRestart(decide(input({ baseline: b, inputs: changed, now: T0 + 600_000, rollout: { inProgress: true }, rolloutSince: T0, rolloutTimeoutMs: 600_000 })));
    assert.equal(d.stalled, 'its rollout has not finished within 10m (--rollout-timeout)');
  });

  it('restarts a Deployment past its own progress deadline at once, without waiting for the timeout', () => {
    const d = expectRestart(decide(input({ baseline: b, inputs: changed, rollout: { inProgress: true, failed: true }, rolloutSince: T0 + 59_000, rolloutTimeoutMs: 600_000 })));
    assert.equal(d.stalled, 'its rollout exceeded its progress deadline (ProgressDeadlineExceeded)');
  });

  it('still honours the settle window and the rate limit for a stalled rollout', () => {
    const stalled = { rollout: { inProgress: true, failed: true }, rolloutSince: T0, rolloutTimeoutMs: 1000 };
    assert.equal(decide(input({ baseline: b, inputs: changed, now: T0 + 1, lastChangeAt: T0, ...stalled })).action, 'wait');
    const d = decide(input({ baseline: b, inputs: changed, ...stalled, rollout: { ...stalled.rollout, lastRestartAt: T0 + 59_000 } }));
    assert.equal(d.action === 'wait' && d.reason, 'rate-limited');
  });
});

describe('decide: a restart that would replace no pod (OnDelete, partition)', () => {
  const b = baseline({ 'secret/a': 'd1' });
  const changed: Inputs = { 'secret/a': 'd2' };
  const why = 'the StatefulSet\'s updateStrategy is OnDelete, so a restart would replace no pod: …';

  it('records the change and says what the operator must do, instead of a restart', () => {
    assert.deepEqual(decide(input({ baseline: b, inputs: changed, rollout: { manual: why } })), { action: 'manual', baseline: baseline({ 'secret/a': 'd2' }), changed: ['secret/a'], why });
  });

  it('waits out the settle window first, so secrets rotated together give one Warning', () => {
    const d = decide(input({ baseline: b, inputs: changed, now: T0 + 1, lastChangeAt: T0, rollout: { manual: why } }));
    assert.equal(d.action === 'wait' && d.reason, 'settle');
  });

  it('ignores the rate limit, since nothing restarts', () => {
    assert.equal(decide(input({ baseline: b, inputs: changed, rollout: { manual: why, lastRestartAt: T0 + 59_000 } })).action, 'manual');
  });

  it('does nothing when nothing changed', () => {
    assert.deepEqual(decide(input({ baseline: b, inputs: { 'secret/a': 'd1' }, rollout: { manual: why } })), { action: 'none' });
  });
});

describe('decide: rate limit', () => {
  const b = baseline({ 'secret/a': 'd1' });
  const changed: Inputs = { 'secret/a': 'd2' };
  const NOW = T0 + 60_000;

  it('waits until lastRestartAt + minRestartInterval when the last restart was too recent', () => {
    const last = NOW - 10_000;
    assert.deepEqual(decide(input({ baseline: b, inputs: changed, now: NOW, rollout: { lastRestartAt: last } })), {
      action: 'wait',
      until: last + MIN_INTERVAL,
      reason: 'rate-limited',
      changed: ['secret/a'],
    });
  });

  it('restarts exactly when the minimum interval has passed', () => {
    assert.equal(decide(input({ baseline: b, inputs: changed, now: NOW, rollout: { lastRestartAt: NOW - MIN_INTERVAL + 1 } })).action, 'wait');
    expectRestart(decide(input({ baseline: b, inputs: changed, now: NOW, rollout: { lastRestartAt: NOW - MIN_INTERVAL } })));
  });

  it('does not rate-limit a workload this controller never restarted', () => {
    expectRestart(decide(input({ baseline: b, inputs: changed, now: NOW, rollout: { lastRestartAt: undefined } })));
  });

  it('does not rate-limit when the minimum interval is zero', () => {
    expectRestart(decide(input({ baseline: b, inputs: changed, now: NOW, minRestartIntervalMs: 0, rollout: { lastRestartAt: NOW } })));
  });
});

describe('decide: order of checks', () => {
  const b = baseline({ 'secret/a': 'd1' });
  const changed: Inputs = { 'secret/a': 'd2' };
  const everything = { paused: true, inProgress: true, lastRestartAt: T0 };

  it('reports paused before a rollout in progress, the settle window or the rate limit', () => {
    const d = decide(input({ baseline: b, inputs: changed, now: T0 + 1, lastChangeAt: T0, rollout: everything }));
    assert.equal(d.action === 'wait' && d.reason, 'paused');
  });

  it('reports a rollout in progress before the settle window or the rate limit', () => {
    const d = decide(input({ baseline: b, inputs: changed, now: T0 + 1, lastChangeAt: T0, rollout: { ...everything, paused: false } }));
    assert.equal(d.action === 'wait' && d.reason, 'rollout-in-progress');
  });

  it('reports the settle window before the rate limit', () => {
    const d = decide(input({ baseline: b, inputs: changed, now: T0 + 1, lastChangeAt: T0, rollout: { lastRestartAt: T0 } }));
    assert.deepEqual(d, { action: 'wait', until: T0 + SETTLE, reason: 'settle', changed: ['secret/a'] });
  });

  it('reports the rate limit once the settle window has closed', () => {
    const d = decide(input({ baseline: b, inputs: changed, now: T0 + SETTLE, lastChangeAt: T0, rollout: { lastRestartAt: T0 } }));
    assert.deepEqual(d, { action: 'wait', until: T0 + MIN_INTERVAL, reason: 'rate-limited', changed: ['secret/a'] });
  });

  it('checks the key before anything else, so a lost key never restarts', () => {
    const d = decide(input({ baseline: baseline({ 'secret/a': 'd1' }, OLD_KEY), inputs: changed }));
    assert.equal(d.action === 'record' && d.reason, 'key-changed');
  });
});

describe('changedInputs', () => {
  it('lists inputs whose present digest differs from the baseline, sorted', () => {
    const b = baseline({ 'secret/b': 'b1', 'secret/a': 'a1', 'secret/c': 'c1' });
    assert.deepEqual(changedInputs(b, { 'secret/c': 'c2', 'secret/b': 'b2', 'secret/a': 'a1' }), ['secret/b', 'secret/c']);
  });

  it('does not count an absent input or one without a baseline entry as changed', () => {
    assert.deepEqual(changedInputs(baseline({ 'secret/a': 'a1' }), { 'secret/a': null, 'secret/new': 'n1' }), []);
  });
});

describe('nextBaseline', () => {
  it('takes present digests, keeps the old entry of an absent input and drops inputs no longer depended on', () => {
    const b = baseline({ 'secret/a': 'a1', 'secret/absent': 'x1', 'secret/dropped': 'd1' });
    assert.deepEqual(nextBaseline(b, { 'secret/a': 'a2', 'secret/absent': null, 'secret/new': 'n1', 'secret/never': null }), {
      keyId: KEY,
      inputs: { 'secret/a': 'a2', 'secret/absent': 'x1', 'secret/new': 'n1' },
    });
  });

  it('keeps the baseline key id', () => {
    assert.equal(nextBaseline(baseline({}, 'some-key'), {}).keyId, 'some-key');
  });
});

describe('formatBaseline and parseBaseline', () => {
  const b = baseline({ 'secret/a': '0123456789abcdef0123456789abcdef', 'spc/kv': 'fedcba9876543210fedcba9876543210' });

  it('round-trips a baseline', () => {
    assert.deepEqual(parseBaseline(formatBaseline(b)), b);
  });

  it('round-trips an empty baseline', () => {
    assert.deepEqual(parseBaseline(formatBaseline(baseline({}))), baseline({}));
  });

  it('writes compact versioned JSON with the key id and the inputs', () => {
    assert.equal(formatBaseline(baseline({ 'secret/a': 'd1' }, 'abc')), '{"v":1,"key":"abc","inputs":{"secret/a":"d1"}}');
  });

  it('formats the same baseline to the same text every time', () => {
    assert.equal(formatBaseline(b), formatBaseline(structuredClone(b)));
  });

  it('returns null for a missing or empty annotation', () => {
    assert.equal(parseBaseline(undefined), null);
    assert.equal(parseBaseline(''), null);
  });

  it('returns null, without throwing, for text that is not JSON', () => {
    for (const text of ['not json', '{', '{"v":1,', 'v=1;key=k', '\u0000']) {
      assert.equal(parseBaseline(text), null, text);
    }
  });

  it('returns null for JSON that is not an object', () => {
    for (const text of ['null', '1', '"text"', 'true', '[]', '[1,"k",{}]']) {
      assert.equal(parseBaseline(text), null, text);
    }
  });

  it('returns null for another or a missing version', () => {
    for (const v of [0, 2, '1', null]) {
      assert.equal(parseBaseline(JSON.stringify({ v, key: 'k', inputs: {} })), null, JSON.stringify(v));
    }
    assert.equal(parseBaseline(JSON.stringify({ key: 'k', inputs: {} })), null);
  });

  it('returns null when the key id is missing or not a string', () => {
    assert.equal(parseBaseline(JSON.stringify({ v: 1, inputs: {} })), null);
    assert.equal(parseBaseline(JSON.stringify({ v: 1, key: 7, inputs: {} })), null);
    assert.equal(parseBaseline(JSON.stringify({ v: 1, key: null, inputs: {} })), null);
  });

  it('returns null when inputs is missing or not a map of names to digests', () => {
    for (const inputs of [undefined, null, 'secret/a', 3, ['d1'], []]) {
      assert.equal(parseBaseline(JSON.stringify({ v: 1, key: 'k', inputs })), null, JSON.stringify(inputs));
    }
  });

  it('drops entries whose digest is not a string', () => {
    const text = JSON.stringify({ v: 1, key: 'k', inputs: { 'secret/a': 'd1', 'secret/b': 5, 'secret/c': null, 'secret/d': { x: 1 } } });
    assert.deepEqual(parseBaseline(text), { keyId: 'k', inputs: { 'secret/a': 'd1' } });
  });

  it('leads to adoption, not a restart, when the annotation is garbage', () => {
    const d = decide(input({ baseline: parseBaseline('{garbage'), inputs: { 'secret/a': 'd2' } }));
    assert.equal(d.action === 'record' && d.reason, 'adopt');
  });

  it('leads to adoption, not a restart, when the annotation is of a future version', () => {
    const d = decide(input({ baseline: parseBaseline(JSON.stringify({ v: 2, key: KEY, inputs: { 'secret/a': 'd1' } })), inputs: { 'secret/a': 'd2' } }));
    assert.equal(d.action === 'record' && d.reason, 'adopt');
  });
});

describe('decide: maximum settle wait', () => {
  const base = {
    now: 100_000,
    keyId: 'k',
    baseline: { keyId: 'k', inputs: { 'secret/a': 'd1' } },
    inputs: { 'secret/a': 'd2' },
    rollout: { paused: false, inProgress: false, lastRestartAt: undefined },
    settleMs: 10_000,
    minRestartIntervalMs: 0,
  };
  it('an input that keeps changing within the settle window still restarts once the maximum wait has passed', () => {
    const d = decide({ ...base, lastChangeAt: 99_000, firstChangeAt: 40_000, maxSettleMs: 50_000 });
    assert.equal(d.action, 'restart');
  });
  it('before the maximum wait, the settle window still holds the restart back', () => {
    const d = decide({ ...base, lastChangeAt: 99_000, firstChangeAt: 80_000, maxSettleMs: 50_000 });
    assert.deepEqual(d, { action: 'wait', until: 109_000, reason: 'settle', changed: ['secret/a'] });
  });
  it('without a maximum, the window runs from the last change', () => {
    const d = decide({ ...base, lastChangeAt: 99_000, firstChangeAt: 0 });
    assert.equal(d.action, 'wait');
  });
});

describe('decide: a workload held by a malformed annotation', () => {
  it('neither adopts nor restarts it, and says what changed meanwhile', () => {
    assert.deepEqual(decide(input({ held: true, inputs: { 'secret/a': 'd1' } })), { action: 'wait', until: null, reason: 'invalid-annotation', changed: [] });
    const d = decide(input({ held: true, baseline: baseline({ 'secret/a': 'd1' }), inputs: { 'secret/a': 'd2' } }));
    assert.deepEqual(d, { action: 'wait', until: null, reason: 'invalid-annotation', changed: ['secret/a'] });
  });
  it('restarts it once the annotation is fixed, for a change made while it was held', () => {
    expectRestart(decide(input({ held: false, baseline: baseline({ 'secret/a': 'd1' }), inputs: { 'secret/a': 'd2' } })));
  });
});
