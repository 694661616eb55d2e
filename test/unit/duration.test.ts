import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseBoundedDuration, parseDuration } from '../../src/core/duration.ts';

describe('parseDuration', () => {
  it('reads each unit as milliseconds', () => {
    assert.equal(parseDuration('10ns'), 1e-5);
    assert.equal(parseDuration('100us'), 0.1);
    assert.equal(parseDuration('100µs'), 0.1);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('15s'), 15_000);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('1h'), 3_600_000);
  });

  it('adds up several segments, as Go does', () => {
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('2h45m30s'), 9_930_000);
    assert.equal(parseDuration('1m500ms'), 60_500);
  });

  it('accepts fractions and a leading plus sign', () => {
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('.5s'), 500);
    assert.equal(parseDuration('+30s'), 30_000);
    assert.equal(parseDuration('0s'), 0);
  });

  it('ignores surrounding whitespace from hand-written annotations', () => {
    assert.equal(parseDuration(' 15s\n'), 15_000);
  });

  it('rejects an empty value and says what format is expected', () => {
    assert.throws(() => parseDuration(''), /empty duration: expected a duration such as "500ms", "15s"/);
    assert.throws(() => parseDuration('   '), /empty duration/);
  });

  it('rejects negative durations', () => {
    assert.throws(() => parseDuration('-5s'), /"-5s" is negative: expected a duration/);
  });

  it('rejects numbers without a unit, including a bare zero', () => {
    assert.throws(() => parseDuration('30'), /"30" has no unit: expected a duration/);
    assert.throws(() => parseDuration('0'), /"0" has no unit/);
    assert.throws(() => parseDuration('1m30'), /"1m30" has no unit/);
  });

  it('rejects garbage, unknown units and inner spaces', () => {
    for (const text of ['abc', '5sec', '5 s', '1d', 'h', '.s', '1.5.5s', '+', 's5']) {
      assert.throws(() => parseDuration(text), new RegExp(`"${text.replace(/[.+]/g, '\\$&')}" is not a duration: expected`), text);
    }
  });

  it('rejects durations Go could not represent', () => {
    assert.throws(() => parseDuration('3000000h'), /too long/);
  });
});

describe('parseBoundedDuration', () => {
  const bounds = { minMs: 1000, maxMs: 24 * 3_600_000 };
  it('accepts the ends of the range', () => {
    assert.equal(parseBoundedDuration('1s', bounds), 1000);
    assert.equal(parseBoundedDuration('24h', bounds), 86_400_000);
  });
  it('refuses what is below or above the range, saying what the range is', () => {
    assert.throws(() => parseBoundedDuration('0s', bounds), { message: '"0s" is too short: use at least 1s' });
    assert.throws(() => parseBoundedDuration('999ms', bounds), { message: '"999ms" is too short: use at least 1s' });
    assert.throws(() => parseBoundedDuration('25h', bounds), { message: '"25h" is too long: use at most 24h' });
  });
  it('still says what format is expected for text that is no duration', () => {
    assert.throws(() => parseBoundedDuration('soon', bounds), /duration such as "500ms"/);
  });
});

describe('formatDuration', () => {
  it('prints round values as Go does', () => {
    assert.deepEqual([0, 250, 1000, 60_000, 90_000, 3_600_000, 5_400_000, 86_400_000].map(formatDuration), ['0s', '250ms', '1s', '1m', '1m30s', '1h', '1h30m', '24h']);
  });
});
