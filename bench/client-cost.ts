// What one API request costs with a new connection (TCP + TLS handshake) per
// request — what @kubernetes/client-node's KubeConfig did, building a new
// dispatcher for every request — against one keep-alive pool, and through the
// product's KubeClient as it is in this tree. Evidence for issue #8's
// profiling notes; not part of `npm run bench`.
//
//   node bench/client-cost.ts [--requests 400] [--rounds 3]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Agent, fetch } from 'undici';
import { createKubeClient, loadKubeConfig } from '../src/kube/client.ts';
import { startCluster } from '../src/localenv/cluster.ts';
import { processCpuSeconds } from './lib/cpu.ts';
import { mapLimit } from './lib/pool.ts';
import { summarize } from './lib/stats.ts';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '400' }, rounds: { type: 'string', default: '3' } } });
const n = Number(values.requests);
const rounds = Number(values.rounds);
const log = (m: string) => process.stderr.write(`[client-cost] ${m}\n`);

const cluster = await startCluster({ progress: log, crds: false });
try {
  const ca = readFileSync(cluster.caFile);
  const headers = { authorization: `Bearer ${cluster.adminToken}`, accept: 'application/json' };
  const pool = new Agent({ connect: { ca }, keepAliveTimeout: 30_000 });
  const get = async (path: string, dispatcher: Agent) => JSON.parse(await (await fetch(cluster.server + path, { headers, dispatcher })).text());
  const product = createKubeClient(loadKubeConfig(cluster.kubeconfig));
  const modes: Record<string, (p: string) => Promise<unknown>> = {
    'new connection per request': async (p) => {
      const agent = new Agent({ connect: { ca } });
      try {
        return await get(p, agent);
      } finally {
        void agent.close();
      }
    },
    'one keep-alive pool': (p) => get(p, pool),
    'the KubeClient in this tree': (p) => product.request('GET', p),
  };
  const apiserver = cluster.processes['kube-apiserver']!.pid;
  const rows: Record<string, { ms: number[]; clientCpu: number[]; serverCpu: number[] }> = {};
  for (const concurrency of [1, 8]) {
    for (let r = 0; r < rounds; r++) {
      for (const [name, req] of Object.entries(modes)) {
        const key = `${name}, ${concurrency} at a time`;
        rows[key] ??= { ms: [], clientCpu: [], serverCpu: [] };
        await req('/api/v1/namespaces/default');
        const cpu0 = process.cpuUsage();
        const s0 = processCpuSeconds(apiserver);
        const t0 = performance.now();
        await mapLimit(Array.from({ length: n }), concurrency, () => req('/api/v1/namespaces/default'));
        const wall = performance.now() - t0;
        const cpu = process.cpuUsage(cpu0);
        rows[key].ms.push(wall / n);
        rows[key].clientCpu.push((cpu.user + cpu.system) / 1000 / n);
        rows[key].serverCpu.push(((processCpuSeconds(apiserver) - s0) * 1000) / n);
      }
    }
  }
  const f = (v: number) => v.toFixed(2);
  const cell = (xs: number[]) => {
    const s = summarize(xs);
    return `${f(s.p50)} (${f(s.min)}–${f(s.max)})`;
  };
  const lines = [`${n} GETs of one object × ${rounds} rounds; per request, median (min–max) over rounds`, '', '| client | wall ms | client CPU ms | kube-apiserver CPU ms |', '|---|---|---|---|'];
  for (const [k, v] of Object.entries(rows)) lines.push(`| ${k} | ${cell(v.ms)} | ${cell(v.clientCpu)} | ${cell(v.serverCpu)} |`);
  process.stdout.write(`${lines.join('\n')}\n`);
  await pool.close();
} finally {
  await cluster.stop();
}
process.exit(0);
