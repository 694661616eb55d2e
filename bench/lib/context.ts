// What every scenario gets: the control plane, the benchmark's writer and
// Deployment tracker, the objects' layout at the scale being measured, and
// how to start our controller (the compiled build, with the image's Node flags).
import type { KubeClient } from '../../src/kube/client.ts';
import type { LocalCluster } from '../../src/localenv/cluster.ts';
import type { Api } from './api.ts';
import { ControllerProcess, type MeasuredProcess } from './controller.ts';
import { CpuMeter } from './cpu.ts';
import { CONTROLLER_NAMESPACE, type Layout, type Scale } from './fixtures.ts';
import type { DeploymentTracker } from './tracker.ts';

export interface Plan {
  quick: boolean;
  coldStarts: number;
  /** Runs of each contender (ours warm, the peer), alternating. */
  contenderRuns: number;
  /** Idle windows per contender run. */
  idleWindows: number;
  reactionUpdates: number;
  burstSize: number;
  burstRounds: number;
  /** Concurrent requests the benchmark fires a burst with. */
  burstConcurrency: number;
  steadyWindowSeconds: number;
  restartsPerSecond: number;
  maxInFlight: number;
  /** The longest a scenario waits for the Deployment controller to catch up before a measurement. */
  settleCapMs: number;
  /** The same before the idle windows, which need a truly quiet cluster. */
  steadySettleCapMs: number;
}

export interface Context {
  cluster: LocalCluster;
  api: Api;
  client: KubeClient;
  tracker: DeploymentTracker;
  layout: Layout;
  scale: Scale;
  plan: Plan;
  /** Our controller: the compiled entry point and the Node flags it runs with (the image's, plus profiling if asked). */
  main: string;
  nodeArgs: string[];
  log(message: string): void;
}

/** The flags every scenario runs the controller with: settle 0 and no per-workload rate limit, so reaction is measured, not waited for. */
export function controllerArgs(plan: Plan): string[] {
  return [
    '--settle', '0s',
    '--min-restart-interval', '0s',
    '--restarts-per-second', String(plan.restartsPerSecond),
    '--max-in-flight', String(plan.maxInFlight),
    '--log-level', 'info',
  ];
}

export function startController(ctx: Context, keySecret: string, label: string): Promise<ControllerProcess> {
  return ControllerProcess.start({ cluster: ctx.cluster, namespace: CONTROLLER_NAMESPACE, keySecret, args: controllerArgs(ctx.plan), nodeArgs: ctx.nodeArgs, label, main: ctx.main });
}

/** Starts measuring CPU of the controller (if given), the control plane's processes and this benchmark. */
export function cpuMeter(ctx: Context, controller?: MeasuredProcess): CpuMeter {
  const pids: Record<string, number> = {};
  if (controller) pids['controller'] = controller.pid;
  for (const [name, p] of Object.entries(ctx.cluster.processes)) pids[name] = p.pid;
  pids['benchmark'] = process.pid;
  return new CpuMeter(pids);
}
