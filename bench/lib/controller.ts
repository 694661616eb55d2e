// The controllers under test, each as its own process, so that what it costs
// is measured apart from the benchmark: memory from /proc/<pid>/status, CPU
// from /proc/<pid>/stat, and the same "settled" moment for both (no CPU used
// for a second). Ours (`keyvault-reloader run`, compiled, with the image's
// Node flags) also answers /readyz and /metrics; the peer, stakater/Reloader,
// has no readiness endpoint. Both are killed with the benchmark, whatever
// happens.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import net from 'node:net';
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
  /** Of RSS: anonymous memory (heap, malloc) and file-backed pages (the executable, shared libraries). */
  anonMiB: number;
  fileMiB: number;
}

/** What the benchmark measures of any controller process. */
export class MeasuredProcess {
  readonly proc: ManagedProcess;
  /** Just before the process was spawned. */
  readonly startedAt: number;

  protected constructor(proc: ManagedProcess, startedAt: number) {
    this.proc = proc;
    this.startedAt = startedAt;
    live.add(proc);
    void proc.exited.then(() => live.delete(proc));
  }

  get pid(): number {
    return this.proc.pid;
  }

  memory(): Memory {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMiB: kib('VmRSS') / 1024, peakRssMiB: kib('VmHWM') / 1024, anonMiB: kib('RssAnon') / 1024, fileMiB: kib('RssFile') / 1024 };
  }

  /** User + system CPU time the process has used so far. */
  cpuSeconds(): number {
    return processCpuSeconds(this.pid);
  }

  /**
   * Resolves when the process has used no CPU for quietMs (sampled every 100 ms), with the time
   * it last used any: the end of its start-up work, the same measure for every controller.
   */
  async waitSettled(timeoutMs: number, quietMs = 1000): Promise<number> {
    const deadline = now() + timeoutMs;
    let last = this.cpuSeconds();
    let lastChange = now();
    let exitCode: number | null | undefined;
    void this.proc.exited.then((c) => (exitCode = c));
    while (now() < deadline) {
      if (exitCode !== undefined) throw new Error(`${this.proc.name} exited (code ${exitCode}); last lines of its log:\n${await this.proc.logTail(20)}`);
      await sleep(100);
      const cpu = this.cpuSeconds();
      if (cpu !== last) {
        last = cpu;
        lastChange = now();
      } else if (now() - lastChange >= quietMs) return lastChange;
    }
    throw new Error(`${this.proc.name} was still busy after ${Math.round(timeoutMs / 1000)} s`);
  }

  /** SIGTERM (a graceful stop writes any --cpu-prof profile), SIGKILL after 20 s. */
  async stop(): Promise<void> {
    await this.proc.stop('SIGTERM', 20_000);
  }
}

export class ControllerProcess extends MeasuredProcess {
  readonly port: number;

  private constructor(proc: ManagedProcess, port: number, startedAt: number) {
    super(proc, startedAt);
    this.port = port;
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
    return new ControllerProcess(proc, port, startedAt);
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

}

/**
 * stakater/Reloader v1.4.21, the generic reloader this one replaces, with its
 * defaults (env-var reload strategy, client-go's 5 requests/s), ConfigMaps
 * ignored (the benchmark has none to compare), watching every namespace.
 * It serves its metrics and liveness on :9090, a port it does not let one
 * move: start() fails, saying so, while another process holds it.
 */
export class PeerProcess extends MeasuredProcess {
  static readonly PORT = 9090;

  private constructor(proc: ManagedProcess, startedAt: number) {
    super(proc, startedAt);
  }

  static async start(opts: { binary: string; cluster: LocalCluster; label: string }): Promise<PeerProcess> {
    killOnExit();
    if (!(await portFree(PeerProcess.PORT))) throw new Error(`port ${PeerProcess.PORT} is taken (stakater/Reloader cannot listen elsewhere); the peer was not measured this time`);
    const startedAt = now();
    const proc = startProcess({
      name: `bench-peer-${opts.label}`,
      command: opts.binary,
      args: ['--resources-to-ignore=configMaps', '--log-format=json', '--log-level=info'],
      dir: opts.cluster.dir,
      // KUBECONFIG only: no HOME kubeconfig, no in-cluster settings, no RELOADER_NAMESPACE (it would write a ConfigMap).
      env: { PATH: process.env['PATH'] ?? '', KUBECONFIG: opts.cluster.kubeconfig, HOME: opts.cluster.dir },
    });
    return new PeerProcess(proc, startedAt);
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, () => srv.close(() => resolve(true)));
  });
}
