import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/log.ts';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  return { log: createLogger({ level: 'info', destination }), lines };
}

describe('logger', () => {
  it('writes one JSON object per line with a level label and an ISO time', () => {
    const { log, lines } = capture();
    log.info({ workload: 'Deployment/ns/app' }, 'restarted');
    const entry = JSON.parse(lines[0]!);
    assert.equal(entry.level, 'info');
    assert.equal(entry.msg, 'restarted');
    assert.match(entry.time, /^\d{4}-\d\d-\d\dT/);
  });
  it('censors secret-bearing fields wherever a caller passes them by mistake', () => {
    const { log, lines } = capture();
    const secret = 'hunter2-do-not-leak';
    log.info({ value: secret, data: { password: secret }, secret: { data: { k: secret }, stringData: { k: secret } }, token: secret, req: { headers: { authorization: `Bearer ${secret}` } } }, 'oops');
    assert.doesNotMatch(lines.join(''), /hunter2/);
    assert.match(lines[0]!, /\[redacted\]/);
  });
});
