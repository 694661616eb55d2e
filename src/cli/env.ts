// `keyvault-reloader env`: the local environment for exploring by hand.
import { ensureBinaries, ensureHelm, ensureKubeletStandin } from '../localenv/assets.ts';
import { startAzure } from '../localenv/azure.ts';
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
    // The kubelet's part for the CSI driver (testenv/go/kubelet-standin).
    process.stdout.write(`kubelet-standin: ${await ensureKubeletStandin(progress)}\n`);
    return;
  }
  const cluster = await startCluster({ progress });
  const azure = await startAzure({ cluster, progress }).catch(async (err) => {
    await cluster.stop();
    throw err;
  });
  const proxy = azure.proxyEnv();
  process.stdout.write(
    [
      '',
      'The local control plane is running (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, KWOK),',
      `and a local Azure beside it: Entra ID as login.microsoftonline.com, Key Vault as <vault>.vault.azure.net (tenant ${azure.tenantId}),`,
      'reached through its egress proxy. Use them with:',
      `  export KUBECONFIG=${cluster.kubeconfig}`,
      `  export HTTPS_PROXY=${proxy.HTTPS_PROXY} NO_PROXY=${proxy.NO_PROXY} NODE_EXTRA_CA_CERTS=${proxy.NODE_EXTRA_CA_CERTS}`,
      '  kubectl get nodes',
      '  node_modules/.bin/node src/cli/main.ts run --namespace default --leader-elect=false',
      `The local Azure's state (admin API addresses, control endpoint): ${azure.state.dir}/azure.json`,
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await azure.stop();
  await cluster.stop();
}
