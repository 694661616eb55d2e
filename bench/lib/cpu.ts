// CPU time, from /proc: of one process (utime + stime) and of the whole
// machine. A scenario's cost is split between the controller and the control
// plane, and the machine's total shows how much else was running on a shared
// box while it was measured.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds a process has used so far (NaN once it is gone). */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may itself hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** Busy and total CPU seconds of the whole machine, summed over its cores. */
function machineSeconds(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / CLOCK_TICKS, total: total / CLOCK_TICKS };
}

export interface CpuUse {
  seconds: number;
  /** CPU seconds per process over the interval. */
  processes: Record<string, number>;
  /** Busy share of the machine's cores over the interval (everything running, ours or not). */
  machineBusyPercent: number;
  /** Busy core-seconds not used by the processes above: other work on the shared machine, and the benchmark itself. */
  otherCpuSeconds: number;
}

export class CpuMeter {
  private readonly pids: Record<string, number>;
  private readonly start: { at: number; machine: { busy: number; total: number }; procs: Record<string, number> };

  constructor(pids: Record<string, number>) {
    this.pids = pids;
    this.start = { at: performance.now(), machine: machineSeconds(), procs: this.sample() };
  }

  /** Adds a process started after the meter (its CPU time counts from zero). */
  add(name: string, pid: number): void {
    this.pids[name] = pid;
    this.start.procs[name] = 0;
  }

  private sample(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.pids).map(([name, pid]) => [name, processCpuSeconds(pid)]));
  }

  read(): CpuUse {
    const procs = this.sample();
    const machine = machineSeconds();
    const processes = Object.fromEntries(Object.entries(procs).map(([k, v]) => [k, Math.round((v - this.start.procs[k]!) * 100) / 100]));
    const busy = machine.busy - this.start.machine.busy;
    const total = machine.total - this.start.machine.total;
    const ours = Object.values(processes).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    return {
      seconds: Math.round((performance.now() - this.start.at) / 10) / 100,
      processes,
      machineBusyPercent: total > 0 ? Math.round((1000 * busy) / total) / 10 : NaN,
      otherCpuSeconds: Math.round((busy - ours) * 100) / 100,
    };
  }
}
