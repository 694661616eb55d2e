// `keyvault-reloader demo`: the whole product on one machine, no cloud
// account. A local control plane with KWOK, the controller, a
// SecretProviderClass written for the AKS add-on, one Deployment that reads
// the synced Secret from an environment variable and one that mounts the
// class; then a rotation, shown live until both rollouts complete.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildConfig } from '../config.ts';
import { parseDuration } from '../core/duration.ts';
import { createKubeClient, KubeError, loadKubeConfig, type KubeClient } from '../kube/client.ts';
import { startCluster, type LocalCluster } from '../localenv/cluster.ts';
import { recordMountsForClass, writeSyncedSecret } from '../localenv/csi-driver.ts';
import { createLogger } from '../log.ts';
import { ANNOTATIONS } from '../reloader/annotations.ts';
import { startController, type Running } from './run.ts';

export interface DemoOptions {
  keep: boolean;
  rotateEvery: string | undefined;
  rotations: number;
  pollInterval: string;
  plain: boolean;
}

const NS = 'demo';
const CLASS = 'app-secrets';
const SYNCED = 'app-db';
const OBJECT = 'db-password';

const out = (line: string) => process.stdout.write(`${line}\n`);
const versionId = () => randomBytes(16).toString('hex');

export async function demo(opts: DemoOptions): Promise<boolean> {
  const pollMs = parseDuration(opts.pollInterval);
  const rotateEveryMs = opts.rotateEvery ? parseDuration(opts.rotateEvery) : undefined;
  let cluster: LocalCluster | undefined;
  let running: Running | undefined;
  let stopping = false;
  const cleanup = async () => {
    if (stopping) return;
    stopping = true;
    await running?.stop().catch(() => {});
    await cluster?.stop().catch(() => {});
  };
  process.once('SIGINT', () => {
    out('\ninterrupted: stopping the controller and the local control plane');
    void cleanup().then(() => process.exit(130));
  });

  try {
    out('▶ starting the local environment (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, KWOK)');
    cluster = await startCluster({ progress: (m) => out(`  ${m}`) });
    const client = createKubeClient(loadKubeConfig(cluster.kubeconfig));
    await ensureNamespace(client, 'keyvault-reloader');
    await ensureNamespace(client, NS);

    const config = buildConfig({ kubeconfig: cluster.kubeconfig, namespace: 'keyvault-reloader', 'leader-elect': false, 'health-port': 0, 'health-host': '127.0.0.1', settle: '2s', 'min-restart-interval': '5s', mode: 'reloader', 'log-level': 'warn' });
    running = await startController(config, createLogger({ level: 'warn' }));
    out(`▶ controller running (reloader engine; /metrics on http://127.0.0.1:${running.http.port}/metrics)`);

    out('\n▶ the Key Vault emulator (Lowkey Vault) cannot be fetched on this machine, so the demo plays the');
    out('  Secrets Store CSI driver: on each rotation it writes what the add-on writes — the synced Secret and');
    out("  every pod's SecretProviderClassPodStatus with the new Key Vault version. Everything else is real.");

    let version = versionId();
    let secretValue = `s3cret-${version.slice(0, 6)}`;
    await applySample(client);
    await writeSyncedSecret(client, NS, SYNCED, { password: secretValue });
    out(`\n▶ applied: SecretProviderClass ${NS}/${CLASS} (provider azure, secretObjects → Secret ${SYNCED})`);
    out(`           Deployment ${NS}/env-app   (DB_PASSWORD from Secret ${SYNCED}, keyvault-reloader.io/auto)`);
    out(`           Deployment ${NS}/mount-app (CSI volume of class ${CLASS}, keyvault-reloader.io/auto)`);
    await waitRolledOut(client, 'env-app', 1, opts.plain);
    await waitMountedRollout(client, version, 1, opts.plain, pollMs);
    await waitAdopted(client, ['env-app', 'mount-app']);
    out('▶ both Deployments adopted: baselines recorded, nothing restarted');

    let ok = true;
    const total = rotateEveryMs ? Infinity : Math.max(1, opts.rotations);
    for (let i = 1; i <= total && !stopping; i++) {
      version = versionId();
      secretValue = `s3cret-${version.slice(0, 6)}`;
      const rsBefore = { env: await replicaSetCount(client, 'env-app'), mount: await replicaSetCount(client, 'mount-app') };
      out(`\n▶ rotation ${i}: new Key Vault version of ${OBJECT}: ${version}`);
      const rotatedAt = Date.now();
      const rv = await writeSyncedSecret(client, NS, SYNCED, { password: secretValue });
      out(`  synced Secret ${NS}/${SYNCED} updated (resourceVersion ${rv})`);
      const n = await recordMountsForClass(client, NS, CLASS, objectsAt(version));
      out(`  ${n} mount-app pods now report version ${version.slice(0, 8)}… in their SecretProviderClassPodStatus`);
      const [envDone, mountDone] = await Promise.all([
        waitRolledOut(client, 'env-app', rsBefore.env + 1, opts.plain, rotatedAt),
        waitMountedRollout(client, version, rsBefore.mount + 1, opts.plain, pollMs, rotatedAt),
      ]);
      const contentOk = (await envAppValue(client)) === secretValue && (await restartedAfter(client, 'env-app', rotatedAt));
      out(`  env-app:   rolled out in ${(envDone / 1000).toFixed(1)}s; its pods now start with the new Secret content: ${contentOk ? 'yes' : 'NO'}`);
      out(`  mount-app: rolled out in ${(mountDone / 1000).toFixed(1)}s; every current pod mounts version ${version.slice(0, 8)}…`);
      ok &&= contentOk;
      if (rotateEveryMs && i < total) await sleep(rotateEveryMs);
    }
    const restarts = await running.metrics.restarts.get();
    const count = restarts.values.filter((v) => v.labels.result === 'restarted').reduce((a, v) => a + v.value, 0);
    out(`\n▶ restarts performed by the controller: ${count} (one per Deployment per rotation)`);

    if (opts.keep) {
      out(`\nStill running. Explore with:\n  export KUBECONFIG=${cluster.kubeconfig}\n  kubectl -n ${NS} get deploy,rs,pods\nCtrl-C stops everything.`);
      await new Promise<void>((resolve) => process.once('SIGINT', resolve));
    }
    out(ok ? '\n✔ demo complete' : '\n✖ demo finished with a problem (see above)');
    return ok;
  } finally {
    await cleanup();
  }
}

function objectsAt(version: string) {
  return [{ id: `secret/${OBJECT}`, version }];
}

async function ensureNamespace(client: KubeClient, name: string): Promise<void> {
  try {
    await client.request('POST', '/api/v1/namespaces', { body: { metadata: { name } } });
  } catch (err) {
    if (!(err instanceof KubeError && err.status === 409)) throw err;
  }
  for (let i = 0; i < 100; i++) {
    try {
      await client.request('GET', `/api/v1/namespaces/${name}/serviceaccounts/default`);
      return;
    } catch {
      await sleep(100);
    }
  }
}

async function applySample(client: KubeClient): Promise<void> {
  await client.request('POST', `/apis/secrets-store.csi.x-k8s.io/v1/namespaces/${NS}/secretproviderclasses`, {
    body: {
      apiVersion: 'secrets-store.csi.x-k8s.io/v1',
      kind: 'SecretProviderClass',
      metadata: { name: CLASS },
      spec: {
        provider: 'azure',
        parameters: {
          keyvaultName: 'demo-vault',
          clientID: '00000000-0000-0000-0000-000000000001',
          tenantId: '00000000-0000-0000-0000-000000000002',
          objects: `array:\n  - |\n    objectName: ${OBJECT}\n    objectType: secret\n`,
        },
        secretObjects: [{ secretName: SYNCED, type: 'Opaque', data: [{ objectName: OBJECT, key: 'password' }] }],
      },
    },
  });
  const deployment = (name: string, pod: object) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, annotations: { [ANNOTATIONS.auto]: 'true' } },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: name } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      minReadySeconds: 1,
      template: { metadata: { labels: { app: name } }, spec: pod },
    },
  });
  await client.request('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, {
    body: deployment('env-app', { containers: [{ name: 'app', image: 'example.invalid/app:1', env: [{ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: SYNCED, key: 'password' } } }] }] }),
  });
  await client.request('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, {
    body: deployment('mount-app', {
      containers: [{ name: 'app', image: 'example.invalid/app:1', volumeMounts: [{ name: 'secrets-store', mountPath: '/mnt/secrets-store', readOnly: true }] }],
      volumes: [{ name: 'secrets-store', csi: { driver: 'secrets-store.csi.k8s.io', readOnly: true, volumeAttributes: { secretProviderClass: CLASS } } }],
    }),
  });
}

async function replicaSetCount(client: KubeClient, name: string): Promise<number> {
  const list = await client.request('GET', `/apis/apps/v1/namespaces/${NS}/replicasets`);
  return list.items.filter((rs: any) => rs.metadata.ownerReferences?.some((o: any) => o.name === name)).length;
}

/** Reads the content a newly started env-app pod would get: the Secret its current template references. */
async function envAppValue(client: KubeClient): Promise<string> {
  const s = await client.request('GET', `/api/v1/namespaces/${NS}/secrets/${SYNCED}`);
  return Buffer.from(s.data.password, 'base64').toString('utf8');
}

/** True when the Deployment's current pod template was written by a restart at or after `at` (to the second). */
async function restartedAfter(client: KubeClient, name: string, at: number): Promise<boolean> {
  const d = await client.request('GET', `/apis/apps/v1/namespaces/${NS}/deployments/${name}`);
  const restartedAt = Date.parse(d.spec.template.metadata?.annotations?.[ANNOTATIONS.restartedAt] ?? '');
  return Number.isFinite(restartedAt) && restartedAt >= Math.floor(at / 1000) * 1000;
}

async function waitAdopted(client: KubeClient, names: string[]): Promise<void> {
  for (let i = 0; i < 600; i++) {
    let all = true;
    for (const n of names) {
      const d = await client.request('GET', `/apis/apps/v1/namespaces/${NS}/deployments/${n}`);
      if (!d.metadata.annotations?.[ANNOTATIONS.baseline]) all = false;
    }
    if (all) return;
    await sleep(100);
  }
  throw new Error('the controller did not adopt the sample Deployments within 60 s');
}

/** Shows a Deployment's rollout until `replicaSets` exist and the newest is fully ready; returns ms since `since`. */
async function waitRolledOut(client: KubeClient, name: string, replicaSets: number, plain: boolean, since = Date.now(), onTick?: () => Promise<void>): Promise<number> {
  let last = '';
  for (let i = 0; i < 1200; i++) {
    await onTick?.();
    const d = await client.request('GET', `/apis/apps/v1/namespaces/${NS}/deployments/${name}`);
    const list = await client.request('GET', `/apis/apps/v1/namespaces/${NS}/replicasets`);
    const sets = list.items
      .filter((rs: any) => rs.metadata.ownerReferences?.some((o: any) => o.name === name))
      .sort((a: any, b: any) => Number(a.metadata.annotations['deployment.kubernetes.io/revision']) - Number(b.metadata.annotations['deployment.kubernetes.io/revision']));
    const want = d.spec.replicas;
    const newest = sets[sets.length - 1];
    const ready = newest?.status?.readyReplicas ?? 0;
    const bar = '█'.repeat(ready) + '░'.repeat(Math.max(0, want - ready));
    const line = `  ${name.padEnd(9)} [${bar}] ${ready}/${want} ready in ReplicaSet ${newest?.metadata.name ?? '-'}; ReplicaSets: ${sets.map((rs: any) => `${rs.metadata.name}=${rs.status?.replicas ?? 0}`).join(' ')}`;
    if (line !== last) {
      out(line);
      last = line;
    }
    const done =
      sets.length >= replicaSets &&
      (d.status?.observedGeneration ?? 0) >= d.metadata.generation &&
      d.status?.updatedReplicas === want &&
      d.status?.availableReplicas === want &&
      (d.status?.replicas ?? 0) === want &&
      sets.slice(0, -1).every((rs: any) => (rs.status?.replicas ?? 0) === 0);
    if (done) return Date.now() - since;
    await sleep(plain ? 250 : 100);
  }
  throw new Error(`Deployment ${name} did not finish rolling out within 5 minutes`);
}

/** The mount-app rollout, while the "driver" records the current version for every pod that mounts the class. */
function waitMountedRollout(client: KubeClient, version: string, replicaSets: number, plain: boolean, pollMs: number, since = Date.now()): Promise<number> {
  let lastRecord = 0;
  return waitRolledOut(client, 'mount-app', replicaSets, plain, since, async () => {
    if (Date.now() - lastRecord < Math.min(pollMs, 500)) return;
    lastRecord = Date.now();
    await recordMountsForClass(client, NS, CLASS, objectsAt(version));
  });
}
