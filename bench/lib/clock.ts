// One clock for every timestamp the benchmark compares: wall-clock epoch
// milliseconds with sub-millisecond resolution, monotonic within the run.
import { setTimeout as sleep } from 'node:timers/promises';

export const now = (): number => performance.timeOrigin + performance.now();

export { sleep };

/** Polls check() until it is true; rejects with `what` after timeoutMs. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 25): Promise<void> {
  const deadline = now() + timeoutMs;
  while (now() < deadline) {
    try {
      if (await check()) return;
    } catch {
      // Not there yet.
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
}
