// Child processes of the local environment. Each runs in its own process
// group so that stop() takes its children too, writes its output to a log file
// in the environment's folder (shown when it fails to start), and is recorded
// in a pid file so that a later run can sweep what a SIGKILLed run left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { appendFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  readonly exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
  kill9(): Promise<void>;
  logTail(lines?: number): Promise<string>;
}

export const PIDS_FILE = 'pids';
const DIR_PREFIX = 'kvr-env-';

/** A folder for one environment's files and logs, owned by this process (see sweepStale). */
export async function createEnvDir(kind: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), `${DIR_PREFIX}${kind ? `${kind}-` : ''}`));
  await writeFile(path.join(dir, 'owner'), String(process.pid));
  return dir;
}

/** Removes the folders and processes of earlier runs whose owner died without cleaning up. */
export function sweepStale(): void {
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith(DIR_PREFIX)) continue;
    const dir = path.join(tmpdir(), entry);
    let owner = NaN;
    try {
      owner = Number(readFileSync(path.join(dir, 'owner'), 'utf8'));
    } catch {
      // No owner file: a run that died while creating its folder.
    }
    if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) continue;
    void killRecorded(dir).then(() => rmSync(dir, { recursive: true, force: true }));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Ctrl-C, SIGTERM or a crash must not leave an environment running: kills the
 * process groups synchronously on the way out and removes the folder. The
 * returned function detaches the handlers (after an orderly stop).
 */
export function registerCleanup(processes: Record<string, ManagedProcess>, dir: string): () => void {
  const killAll = () => {
    for (const p of Object.values(processes)) {
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {
        // Gone.
      }
    }
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    killAll();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('exit', killAll);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => {
    process.off('exit', killAll);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

export function startProcess(opts: { name: string; command: string; args: string[]; dir: string; env?: NodeJS.ProcessEnv }): ManagedProcess {
  const logFile = path.join(opts.dir, `${opts.name}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const child: ChildProcess = spawn(opts.command, opts.args, {
    cwd: opts.dir,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${opts.command}`);
  void appendFile(path.join(opts.dir, PIDS_FILE), `${pid}\n`);

  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      log.end();
      resolve(code);
    });
    child.on('error', () => resolve(-1));
  });
  let done = false;
  void exited.then(() => (done = true));

  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-pid, signal);
    } catch {
      // Already gone.
    }
  };

  return {
    name: opts.name,
    pid,
    logFile,
    exited,
    async stop(signal = 'SIGTERM', graceMs = 10_000) {
      if (done) return;
      signalGroup(signal);
      const timedOut = await Promise.race([exited.then(() => false), sleep(graceMs, undefined, { ref: false }).then(() => true)]);
      if (timedOut) {
        signalGroup('SIGKILL');
        await exited;
      }
    },
    async kill9() {
      if (done) return;
      signalGroup('SIGKILL');
      await exited;
    },
    async logTail(lines = 30) {
      try {
        const text = await readFile(logFile, 'utf8');
        return text.split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    },
  };
}

/** Kills the process groups recorded in a folder's pid file (a stale run's leftovers). */
export async function killRecorded(dir: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(path.join(dir, PIDS_FILE), 'utf8');
  } catch {
    return;
  }
  for (const line of text.split('\n')) {
    const pid = Number(line);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
}

/** Polls until check() resolves true, failing with what the process logged. */
export async function waitFor(what: string, check: () => Promise<boolean>, opts: { timeoutMs: number; proc?: ManagedProcess; intervalMs?: number }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let exitCode: number | null | undefined;
  void opts.proc?.exited.then((c) => (exitCode = c ?? -1));
  while (Date.now() < deadline) {
    if (exitCode !== undefined) {
      throw new Error(`${opts.proc?.name} exited (code ${exitCode}) before ${what}; last lines of ${opts.proc?.logFile}:\n${await opts.proc?.logTail()}`);
    }
    try {
      if (await check()) return;
    } catch {
      // Not up yet.
    }
    await sleep(opts.intervalMs ?? 200);
  }
  const tail = opts.proc ? `; last lines of ${opts.proc.logFile}:\n${await opts.proc.logTail()}` : '';
  throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what}${tail}`);
}
