// `keyvault-reloader run` as a child process against the test control plane
// (src/localenv/controller.ts), its log file in the run's shared folder.
import { startControllerProcess as start, type ControllerProcess } from '../../src/localenv/controller.ts';
import type { TestEnv } from './env.ts';

export { MAIN_TS, waitReady, type ControllerProcess } from '../../src/localenv/controller.ts';

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

export function startControllerProcess(env: TestEnv, opts: ControllerProcessOptions): Promise<ControllerProcess> {
  return start({
    identity: opts.identity,
    args: opts.args,
    kubeconfig: opts.kubeconfig ?? env.kubeconfig,
    command: opts.command,
    dir: env.dir,
    // A log file of its own: the folder is shared by every test of the run.
    name: `keyvault-reloader-${opts.identity}-${process.pid}-${++started}`,
    // A variable given as undefined is removed from what the process inherits.
    env: Object.fromEntries(Object.entries({ ...process.env, ...opts.env }).filter(([, v]) => v !== undefined)),
  });
}
