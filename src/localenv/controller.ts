// `keyvault-reloader run` as a child process of the local environment, the
// way a pod runs it: a process of its own (so SIGTERM and SIGKILL are real,
// and what it logs and costs is its own), JSON logs to a file, its HTTP port
// read from its own log line. The demo runs the controller this way, and so
// do the tests.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PACKAGE_ROOT } from './assets.ts';
import { startProcess, waitFor, type ManagedProcess } from './process.ts';

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
  kubeconfig: string;
  /** The folder of its log file; its pid is recorded there, so that a later run sweeps it if this one dies. */
  dir: string;
  /** Its log file's name (without .log), unique in `dir`. */
  name: string;
  /** The command line before `run` (default: this Node binary and src/cli/main.ts). */
  command?: string[];
  /** The whole environment of the process (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

export async function startControllerProcess(opts: ControllerProcessOptions): Promise<ControllerProcess> {
  const [command, ...pre] = opts.command ?? [process.execPath, MAIN_TS];
  const args = [...pre, 'run', '--kubeconfig', opts.kubeconfig, ...opts.args];
  if (!opts.args.some((a) => a.startsWith('--health-port'))) args.push('--health-port', '0');
  if (!opts.args.some((a) => a.startsWith('--health-host'))) args.push('--health-host', '127.0.0.1');
  const proc = startProcess({ name: opts.name, command: command!, args, dir: opts.dir, env: { ...(opts.env ?? process.env), POD_NAME: opts.identity } });
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

/** The sum of a metric's series whose labels include these, from a /metrics text (0 when absent). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const got = Object.fromEntries([...(m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) total += Number(m[2]);
  }
  return total;
}
