// `keyvault-reloader run` as a child process against the test control plane,
// the way a pod runs it: its own process (so SIGKILL and SIGTERM are real),
// JSON logs to a file, the HTTP port read from its own log line.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/localenv/assets.ts';
import { startProcess, waitFor, type ManagedProcess } from '../../src/localenv/process.ts';
import type { TestEnv } from './env.ts';

export const MAIN_TS = path.join(PACKAGE_ROOT, 'src', 'cli', 'main.ts');

export interface ControllerProcess {
  readonly identity: string;
  readonly proc: ManagedProcess;
  /** Port of /healthz, /readyz and /metrics. */
  readonly port: number;
  get(pathname: string): Promise<{ status: number; body: string }>;
  /** The parsed JSON log lines so far. */
  logs(): Promise<Record<string, unknown>[]>;
}

export interface ControllerProcessOptions {
  /** POD_NAME: the Lease holder identity. */
  identity: string;
  /** Flags after `run`; --health-port 0 and --health-host 127.0.0.1 are added unless given. */
  args: string[];
  kubeconfig?: string;
  /** The command line before `run` (default: this Node binary and src/cli/main.ts). */
  command?: string[];
  env?: Record<string, string | undefined>;
}

let started = 0;

export async function startControllerProcess(env: TestEnv, opts: ControllerProcessOptions): Promise<ControllerProcess> {
  const [command, ...pre] = opts.command ?? [process.execPath, MAIN_TS];
  const args = [...pre, 'run', '--kubeconfig', opts.kubeconfig ?? env.kubeconfig, ...opts.args];
  if (!opts.args.some((a) => a.startsWith('--health-port'))) args.push('--health-port', '0');
  if (!opts.args.some((a) => a.startsWith('--health-host'))) args.push('--health-host', '127.0.0.1');
  const proc = startProcess({
    // A log file of its own: the folder is shared by every test of the run.
    name: `keyvault-reloader-${opts.identity}-${process.pid}-${++started}`,
    command: command!,
    args,
    dir: env.dir,
    // A variable given as undefined is removed from what the process inherits.
    env: Object.fromEntries(Object.entries({ ...process.env, POD_NAME: opts.identity, ...opts.env }).filter(([, v]) => v !== undefined)),
  });
  const logs = async (): Promise<Record<string, unknown>[]> => {
    let text = '';
    try {
      text = await readFile(proc.logFile, 'utf8');
    } catch {
      return [];
    }
    return text.split('\n').flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  };
  let port = 0;
  await waitFor(`${opts.identity} to serve HTTP`, async () => {
    const line = (await logs()).find((l) => l['msg'] === 'serving /healthz, /readyz and /metrics');
    port = Number(line?.['port'] ?? 0);
    return port > 0;
  }, { timeoutMs: 30_000, proc, intervalMs: 100 });
  return {
    identity: opts.identity,
    proc,
    port,
    async get(pathname) {
      const res = await fetch(`http://127.0.0.1:${port}${pathname}`, { signal: AbortSignal.timeout(5000) });
      return { status: res.status, body: await res.text() };
    },
    logs,
  };
}

/** Resolves once /readyz answers 200 (every cache synced). */
export async function waitReady(c: ControllerProcess, timeoutMs = 30_000): Promise<void> {
  await waitFor(`${c.identity} /readyz 200`, async () => (await c.get('/readyz')).status === 200, { timeoutMs, proc: c.proc, intervalMs: 100 });
}
