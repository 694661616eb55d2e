// A logger for tests that keeps what it logs, parsed.
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.ts';

export interface CapturedLog {
  log: Logger;
  lines: Record<string, any>[];
  /** Lines whose msg is `msg`. */
  withMsg(msg: string): Record<string, any>[];
}

export function captureLog(level = 'info'): CapturedLog {
  const lines: Record<string, any>[] = [];
  let partial = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      partial += chunk.toString();
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) {
        try {
          lines.push(JSON.parse(p));
        } catch {
          // not a log line
        }
      }
      done();
    },
  });
  return { log: createLogger({ level, destination: stream }), lines, withMsg: (msg) => lines.filter((l) => l['msg'] === msg) };
}
