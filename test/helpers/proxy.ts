// The fault-injecting proxy in front of the test API server, and a kubeconfig
// that goes through it: for faults the real apiserver will not make on demand.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { kubeconfigYaml } from '../../src/localenv/cluster.ts';
import { startFaultProxy, type FaultProxy } from '../../src/localenv/fault-proxy.ts';
import type { TestEnv } from './env.ts';

export async function proxiedKubeconfig(env: TestEnv, name: string): Promise<{ proxy: FaultProxy; file: string }> {
  // The proxy serves TLS with the apiserver's own certificate (made for 127.0.0.1), so checks stay on.
  const tls = { cert: readFileSync(path.join(env.dir, 'serving.crt')), key: readFileSync(path.join(env.dir, 'serving.key')) };
  const proxy = await startFaultProxy({ target: env.server, targetCa: readFileSync(env.caFile), tls });
  const file = path.join(env.dir, `${name}-${proxy.port}.kubeconfig`);
  writeFileSync(file, kubeconfigYaml({ name, server: proxy.url, caData: readFileSync(env.caFile).toString('base64'), token: env.adminToken }));
  return { proxy, file };
}
