// The controller under test, as its own process (`keyvault-reloader run`),
// so that what it costs is measured apart from the benchmark: readiness from
// /readyz, memory from /proc/<pid>/status, CPU from /proc/<pid>/stat, API
// requests from its /metrics. It is killed with the benchmark, whatever
// happens.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort, type LocalCluster } from '../../src/localenv/cluster.ts';
import { PACKAGE_ROOT } from '../../src/localenv/assets.ts';
import { startProcess, type ManagedProcess } from '../../src/localenv/process.ts';
import { now, sleep } from './clock.ts';
import { processCpuSeconds } from './cpu.ts';
import { parseMetrics, type Samples } from './metrics.ts';

export const MAIN_TS = path.join(PACKAGE_ROOT, 'src', 'cli', 'main.ts');

const live = new Set<ManagedProcess>();
let hooked = false;
function killOnExit(): void {
  if (hooked) return;
  hooked = true;
  // Runs on normal exit, on process.exit() from a signal handler, and after an uncaught error.
  process.on('exit', () => {
    for (const p of live) {
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {
        // Gone.
      }
    }
  });
}

export interface ControllerOptions {
  cluster: LocalCluster;
  /** The controller's own namespace (digest key Secret). */
  namespace: string;
  keySecret: string;
  /** Flags after the common ones (settle, rate caps...). */
  args: string[];
  /** Node flags, e.g. --cpu-prof. */
  nodeArgs?: string[];
  /** The entry point (default src/cli/main.ts; the compiled dist/cli/main.js to measure what the image runs). */
  main?: string;
  label: string;
}

export interface Memory {
  rssMiB: number;
  /** Peak RSS since the process started (VmHWM). */
  peakRssMiB: number;
}

export class ControllerProcess {
  readonly proc: ManagedProcess;
  readonly port: number;
  /** Just before the process was spawned. */
  readonly startedAt: number;

  private constructor(proc: ManagedProcess, port: number, startedAt: number) {
    this.proc = proc;
    this.port = port;
    this.startedAt = startedAt;
  }

  static async start(opts: ControllerOptions): Promise<ControllerProcess> {
    killOnExit();
    const port = await freePort();
    const args = [
      ...(opts.nodeArgs ?? []),
      opts.main ?? MAIN_TS,
      'run',
      '--mode', 'reloader',
      '--leader-elect=false',
      '--health-host', '127.0.0.1',
      '--health-port', String(port),
      '--kubeconfig', opts.cluster.kubeconfig,
      '--namespace', opts.namespace,
      '--key-secret', opts.keySecret,
      ...opts.args,
    ];
    const startedAt = now();
    // In the cluster's folder: its pid file lets a later run sweep this process if we are SIGKILLed.
    const proc = startProcess({ name: `bench-controller-${opts.label}`, command: process.execPath, args, dir: opts.cluster.dir, env: { ...process.env, POD_NAME: `bench-${opts.label}` } });
    live.add(proc);
    void proc.exited.then(() => live.delete(proc));
    return new ControllerProcess(proc, port, startedAt);
  }

  get pid(): number {
    return this.proc.pid;
  }

  /** Polls /readyz every 20 ms; returns when it first answered 200. */
  async waitReady(timeoutMs: number): Promise<number> {
    let exitCode: number | null | undefined;
    void this.proc.exited.then((c) => (exitCode = c));
    const deadline = now() + timeoutMs;
    while (now() < deadline) {
      if (exitCode !== undefined) throw new Error(`the controller exited (code ${exitCode}) before it was ready; last lines of its log:\n${await this.proc.logTail(20)}`);
      try {
        const res = await fetch(`http://127.0.0.1:${this.port}/readyz`, { signal: AbortSignal.timeout(2000) });
        await res.text();
        if (res.status === 200) return now();
      } catch {
        // Not listening yet.
      }
      await sleep(20);
    }
    throw new Error(`the controller was not ready after ${Math.round(timeoutMs / 1000)} s; last lines of its log:\n${await this.proc.logTail(20)}`);
  }

  async metrics(): Promise<Samples> {
    const res = await fetch(`http://127.0.0.1:${this.port}/metrics`, { signal: AbortSignal.timeout(10_000) });
    return parseMetrics(await res.text());
  }

  memory(): Memory {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMiB: kib('VmRSS') / 1024, peakRssMiB: kib('VmHWM') / 1024 };
  }

  /** When each workload was logged as restarted (the patch returned), by the controller's clock. */
  async restartsLogged(): Promise<{ workload: string; at: number }[]> {
    const text = await readFile(this.proc.logFile, 'utf8');
    const out: { workload: string; at: number }[] = [];
    for (const line of text.split('\n')) {
      if (!line.includes('"msg":"restarted"')) continue;
      try {
        const l = JSON.parse(line) as { time: string; workload: string };
        out.push({ workload: l.workload, at: Date.parse(l.time) });
      } catch {
        // A line cut short.
      }
    }
    return out;
  }

  /** User + system CPU time the process has used so far. */
  cpuSeconds(): number {
    return processCpuSeconds(this.pid);
  }

  /** SIGTERM (a graceful stop writes any --cpu-prof profile), SIGKILL after 20 s. */
  async stop(): Promise<void> {
    await this.proc.stop('SIGTERM', 20_000);
  }
}
