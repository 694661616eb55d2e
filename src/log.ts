// The one logger: structured JSON (pino). Secret-bearing fields are censored
// by path wherever they appear, as a second line of defence: code passes
// names, versions and digests to the logger, never values.
import { pino, type Logger } from 'pino';

export type { Logger };

export const REDACTED_PATHS = [
  'value',
  'data',
  'stringData',
  'token',
  'assertion',
  'password',
  'authorization',
  '*.value',
  '*.data',
  '*.stringData',
  '*.token',
  '*.assertion',
  '*.password',
  '*.authorization',
  '*.headers.authorization',
  '*.*.value',
  '*.*.data',
];

export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      name: 'keyvault-reloader',
      level: opts.level ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination ? (opts.destination as pino.DestinationStream) : undefined,
  );
}
