import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildConfig, ConfigError, DURATION_BOUNDS, type RawFlags } from '../../src/config.ts';

const build = (flags: RawFlags) => buildConfig(flags, {});
const refused = (flags: RawFlags, message: string) => assert.throws(() => build(flags), (err: unknown) => err instanceof ConfigError && err.message === message);

describe('buildConfig: durations', () => {
  it('takes the defaults', () => {
    const c = build({});
    assert.equal(c.reloader.settleMs, 10_000);
    assert.equal(c.reloader.minRestartIntervalMs, 60_000);
    assert.equal(c.sync.pollIntervalMs, 120_000);
    assert.deepEqual([c.leaderElection.leaseDurationMs, c.leaderElection.renewDeadlineMs, c.leaderElection.retryPeriodMs], [15_000, 10_000, 2_000]);
  });

  it('refuses --poll-interval 0s (it would poll without pause), saying what the least is', () => {
    refused({ 'poll-interval': '0s' }, '--poll-interval: "0s" is too short: use at least 1s');
    refused({ 'poll-interval': '500ms' }, '--poll-interval: "500ms" is too short: use at least 1s');
    assert.equal(build({ 'poll-interval': '1s' }).sync.pollIntervalMs, 1000);
  });

  it('refuses durations above their bound, saying what the most is', () => {
    refused({ settle: '2h' }, '--settle: "2h" is too long: use at most 1h');
    refused({ 'min-restart-interval': '48h' }, '--min-restart-interval: "48h" is too long: use at most 24h');
    refused({ 'poll-interval': '9000h' }, '--poll-interval: "9000h" is too long: use at most 24h');
    refused({ 'lease-duration': '2h', 'renew-deadline': '10s', 'retry-period': '2s' }, '--lease-duration: "2h" is too long: use at most 1h');
  });

  it('accepts 0s where "no wait" makes sense (settle, min-restart-interval)', () => {
    const c = build({ settle: '0s', 'min-restart-interval': '0s' });
    assert.equal(c.reloader.settleMs, 0);
    assert.equal(c.reloader.minRestartIntervalMs, 0);
  });

  it('has a bound for every duration flag that lies within what Node timers can hold', () => {
    for (const [flag, b] of Object.entries(DURATION_BOUNDS)) {
      assert.ok(b.minMs >= 0 && b.minMs < b.maxMs && b.maxMs < 2 ** 31 - 1, flag);
    }
  });

  it('names the flag and the expected format for text that is no duration', () => {
    refused({ settle: 'soon' }, '--settle: "soon" is not a duration: expected a duration such as "500ms", "15s", "2m" or "1h30m" (a number followed by one of ns, us, ms, s, m, h)');
  });
});

describe('buildConfig: numbers', () => {
  it('refuses rates and caps outside their range, and a fractional cap', () => {
    refused({ 'restarts-per-second': 0 }, '--restarts-per-second 0: use a number from 0.01 to 10000');
    refused({ 'restarts-per-second': Number.NaN }, '--restarts-per-second NaN: use a number from 0.01 to 10000');
    refused({ 'max-in-flight': 1.5 }, '--max-in-flight 1.5: use a whole number from 1 to 1000000');
    refused({ 'max-in-flight': 0 }, '--max-in-flight 0: use a whole number from 1 to 1000000');
    refused({ 'vault-requests-per-second': -1 }, '--vault-requests-per-second -1: use a number from 0.01 to 10000');
    assert.equal(build({ 'restarts-per-second': 0.5 }).reloader.restartsPerSecond, 0.5);
  });
});
