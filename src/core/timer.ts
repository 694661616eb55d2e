// Node fires a timer longer than 2^31−1 ms (about 24.8 days) after 1 ms, with
// only a warning, and a negative or NaN delay at once. Every wait in this
// project goes through here, so that a long delay means "later", never "now".
import { setTimeout as sleepPromise } from 'node:timers/promises';

/** The longest delay Node's timers honour. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A delay Node will honour: at most MAX_TIMER_MS; negative and NaN become 0. */
export function timerDelay(ms: number): number {
  if (!(ms > 0)) return 0;
  return Math.min(ms, MAX_TIMER_MS);
}

/** setTimeout with the delay clamped; unref'd, so a pending timer never keeps the process alive. */
export function setTimer(fn: () => void, ms: number): NodeJS.Timeout {
  const timer = setTimeout(fn, timerDelay(ms));
  timer.unref();
  return timer;
}

/** timers/promises' setTimeout with the delay clamped: rejects with an AbortError when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return sleepPromise(timerDelay(ms), undefined, signal ? { signal } : undefined);
}
