import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDuration } from '../../src/core/duration.ts';

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
