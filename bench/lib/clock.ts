// One clock for every timestamp the benchmark compares: wall-clock epoch
// milliseconds with sub-millisecond resolution, monotonic within the run.
import { setTimeout as sleep } from 'node:timers/promises';

export const now = (): number => performance.timeOrigin + performance.now();

export { sleep };
