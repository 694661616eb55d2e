// Go-style durations ("500ms", "15s", "1h30m", "1.5s"), the format Kubernetes
// users already write in flags and annotations.

// Nanoseconds per unit; summing in integers of ns keeps "10ns" exact.
const UNIT_NS: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3, // U+00B5 micro sign, as Go accepts
  'μs': 1e3, // U+03BC Greek mu, as Go accepts
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

const EXPECTED =
  'expected a duration such as "500ms", "15s", "2m" or "1h30m" (a number followed by one of ns, us, ms, s, m, h)';

/**
 * Parses a Go-style duration and returns milliseconds (fractional below 1 ms).
 * Throws an Error whose message quotes the input and says which format is
 * expected; callers prefix it with the field or annotation name.
 */
export function parseDuration(text: string): number {
  const input = text.trim();
  if (input === '') throw new Error(`empty duration: ${EXPECTED}`);
  let rest = input;
  if (rest.startsWith('-')) {
    throw new Error(`"${text}" is negative: ${EXPECTED}`);
  }
  if (rest.startsWith('+')) rest = rest.slice(1);
  if (rest === '') throw new Error(`"${text}" is not a duration: ${EXPECTED}`);

  // Each segment is a decimal number immediately followed by a unit; Go
  // allows several segments ("1h30m") but no spaces and no bare numbers.
  const segment = /^(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  let total = 0;
  while (rest !== '') {
    const match = segment.exec(rest);
    if (match === null) {
      if (/^(\d+\.?\d*|\.\d+)$/.test(rest)) {
        throw new Error(`"${text}" has no unit: ${EXPECTED}`);
      }
      throw new Error(`"${text}" is not a duration: ${EXPECTED}`);
    }
    const [whole, amount, unit] = match;
    total += Number(amount) * (UNIT_NS[unit as string] as number);
    rest = rest.slice((whole as string).length);
  }
  // Go rejects durations that overflow int64 nanoseconds (~292 years).
  if (!Number.isFinite(total) || total > 9_223_372_036_854_775_807) {
    throw new Error(`"${text}" is too long: the maximum is about 2562047h`);
  }
  return total / 1e6;
}

/** The range a setting accepts, in milliseconds, both ends included. */
export interface DurationBounds {
  minMs: number;
  maxMs: number;
}

/** parseDuration, then a range check whose message says what the range is. */
export function parseBoundedDuration(text: string, bounds: DurationBounds): number {
  const ms = parseDuration(text);
  if (ms < bounds.minMs) throw new Error(`"${text.trim()}" is too short: use at least ${formatDuration(bounds.minMs)}`);
  if (ms > bounds.maxMs) throw new Error(`"${text.trim()}" is too long: use at most ${formatDuration(bounds.maxMs)}`);
  return ms;
}

/** A duration as Go would print a round value: "1h30m", "10s", "500ms", "0s". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  let rest = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [['h', 3600], ['m', 60], ['s', 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.join('');
}
