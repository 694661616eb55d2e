// `keyvault-reloader env`: the local environment for exploring by hand.
import { ensureBinaries, ensureHelm } from '../localenv/assets.ts';
import { startCluster } from '../localenv/cluster.ts';
import { ensureTestbed, TESTBED_PROGRAMS } from '../localenv/testbeds.ts';

export async function localEnvCommand(opts: { buildOnly: boolean }): Promise<void> {
  const progress = (m: string) => process.stderr.write(`${m}\n`);
  if (opts.buildOnly) {
    const bins = await ensureBinaries(progress);
    for (const [name, file] of Object.entries(bins)) process.stdout.write(`${name}: ${file}\n`);
    // Helm is needed only by the chart's tests, but a cold CI run should build it here, with progress.
    process.stdout.write(`helm: ${await ensureHelm(progress)}\n`);
    // The Azure side (emulators, CSI driver and provider) and the peer the benchmarks compare against.
    for (const program of TESTBED_PROGRAMS) process.stdout.write(`${program}: ${await ensureTestbed(program, progress)}\n`);
    return;
  }
  const cluster = await startCluster({ progress });
  process.stdout.write(
    [
      '',
      'The local control plane is running (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, KWOK).',
      'Use it with:',
      `  export KUBECONFIG=${cluster.kubeconfig}`,
      '  kubectl get nodes',
      '  node_modules/.bin/node src/cli/main.ts run --namespace default --leader-elect=false',
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await cluster.stop();
}
