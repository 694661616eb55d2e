// The machine a run happened on, for the README and results.json: numbers
// from a 2-core shared CI box and from a workstation are not comparable.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  kernel: string;
  date: string;
  /** 1-minute load average when the run started: how busy the shared machine already was. */
  loadAverageAtStart: number;
}

export interface Source {
  commit: string;
  /** Files under src/ that differed from the commit when the run started: the numbers are of the working tree. */
  uncommitted: string[];
}

/** Which code was measured. */
export function source(root: string): Source {
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trimEnd();
    } catch {
      return '';
    }
  };
  return {
    commit: git(['rev-parse', '--short', 'HEAD']) || 'unknown',
    uncommitted: git(['status', '--porcelain', '--', 'src']).split('\n').filter(Boolean).map((l) => l.slice(3)),
  };
}

export function machine(): Machine {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    if (line) cpuModel = line.split(':').slice(1).join(':').trim();
  } catch {
    // Not Linux: os.cpus() it is.
  }
  return {
    cpuModel,
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    date: new Date().toISOString(),
    loadAverageAtStart: Math.round(os.loadavg()[0]! * 100) / 100,
  };
}
