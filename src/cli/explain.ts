// `keyvault-reloader explain`: what each annotated workload depends on and what
// the controller would do with it now, and why. It reads; it never writes.
import type { Config } from '../config.ts';
import { createKubeClient, loadKubeConfig } from '../kube/client.ts';
import { KubeError } from '../kube/client.ts';
import { NamespaceScope } from '../kube/scope.ts';
import { createLogger } from '../log.ts';
import { ReloaderController } from '../reloader/controller.ts';
import { makeKeyring } from '../reloader/digest.ts';

export async function explain(config: Config, output: 'text' | 'json'): Promise<void> {
  const log = createLogger({ level: 'warn' });
  const client = createKubeClient(loadKubeConfig(config.kubeconfig, config.context));
  let key: Buffer;
  try {
    const secret = await client.request('GET', `/api/v1/namespaces/${config.namespace}/secrets/${config.reloader.keySecretName}`);
    key = Buffer.from(secret.data['hmac-sha256-key'], 'base64');
  } catch (err) {
    if (err instanceof KubeError && (err.status === 404 || err.status === 403)) {
      throw new Error(`cannot read the digest key Secret ${config.namespace}/${config.reloader.keySecretName} (${err.status}); pass --namespace of the running controller`);
    }
    throw err;
  }
  const scope = new NamespaceScope({ client, log, namespaces: config.namespaces, excludeNamespaces: config.excludeNamespaces, namespaceSelector: config.namespaceSelector });
  scope.start();
  await scope.waitForSync();
  const controller = new ReloaderController({
    client,
    log,
    keyring: makeKeyring(key),
    events: { emit: () => {}, flush: async () => {} },
    metrics: { restart: () => {}, reaction: () => {}, deferred: () => {}, queueDepth: () => {}, rollouts: () => {} },
    annotations: { stakater: config.stakater },
    scope,
    secretSelector: config.secretSelector,
    settleMs: 0,
    minRestartIntervalMs: config.reloader.minRestartIntervalMs,
    restartsPerSecond: 1,
    maxInFlight: 1,
    dryRun: true,
    isLeader: () => false,
  });
  controller.start();
  await controller.waitForSync();
  controller.stop();
  scope.stop();
  const rows = [];
  for (const informer of controller.workloads.values()) {
    for (const w of informer.values()) {
      const d = controller.decisionFor(w);
      const verdict =
        d.action === 'restart' ? `would restart: ${d.changed.join(', ')} changed`
        : d.action === 'wait' && d.reason === 'invalid-annotation' ? `held: nothing restarts until its annotations are fixed${d.changed.length ? ` (${d.changed.join(', ')} changed meanwhile)` : ''}`
        : d.action === 'wait' ? `would restart after waiting (${d.reason}): ${d.changed.join(', ')} changed`
        : d.action === 'record' ? `would record a baseline without restarting (${d.reason})`
        : w.policy ? 'up to date' : 'not opted in';
      rows.push({ workload: `${w.kind}/${w.namespace}/${w.name}`, secrets: w.deps.secrets, secretProviderClasses: w.deps.secretProviderClasses, problems: w.problems, verdict });
    }
  }
  if (output === 'json') {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return;
  }
  for (const r of rows) {
    process.stdout.write(`${r.workload}\n  depends on: ${[...r.secrets.map((s) => `Secret ${s}`), ...r.secretProviderClasses.map((c) => `SecretProviderClass ${c}`)].join(', ') || 'nothing'}\n  ${r.verdict}\n`);
    for (const p of r.problems) process.stdout.write(`  problem: ${p.annotation}: ${p.message}\n`);
  }
  if (rows.length === 0) process.stdout.write('no workload carries a keyvault-reloader.io annotation\n');
}
