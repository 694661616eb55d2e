// The Helm chart against Helm itself (built from its Go module) and the real
// API server: it lints, every object it renders passes a strict server-side
// dry-run, its CRDs serve the Secrets Store CSI driver's shapes, its RBAC is
// what each mode uses, and the controller runs on nothing more than that RBAC.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ANNOTATIONS } from '../../src/reloader/annotations.ts';
import { CHART_CRDS_DIR, CHART_DIR, chartCrdFiles, MANIFESTS_DIR, renderManifests } from '../../scripts/render-manifests.ts';
import { helm, renderChart, runHelm, serverSideApply, type KubeObject } from '../helpers/chart.ts';
import { MAIN_TS, startControllerProcess, waitReady, type ControllerProcess } from '../helpers/controller.ts';
import { createNamespace, eventually, serviceAccountClient, testEnv } from '../helpers/env.ts';
import { testAzure } from '../helpers/azure.ts';
import { eventsFor } from '../helpers/reloader.ts';
import { applyClass, federatedNamespace, getSecret, secretData, syncClass, vaultName } from '../helpers/sync.ts';
import { createDeployment, deployment, getDeployment, putSecret, replicaSetsOf, waitRolledOut } from '../helpers/workloads.ts';

const run = promisify(execFile);
const started: ControllerProcess[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((c) => c.proc.kill9()));
});

const isCrd = (o: KubeObject) => o.kind === 'CustomResourceDefinition';
const find = (objs: KubeObject[], kind: string, name?: string) => {
  const o = objs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  assert.ok(o, `the chart renders a ${kind}${name ? ` ${name}` : ''}`);
  return o;
};
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
/** Every (group, resource, verb[, name]) a set of rules grants, sorted. */
const grants = (rules: Rule[]) =>
  rules
    .flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g || 'core'}/${res}:${v}${r.resourceNames ? `[${r.resourceNames.join(',')}]` : ''}`))))
    .sort();

const RELOADER_GRANTS = [
  'apps/daemonsets:list', 'apps/daemonsets:patch', 'apps/daemonsets:watch',
  'apps/deployments:list', 'apps/deployments:patch', 'apps/deployments:watch',
  'apps/replicasets:list', 'apps/replicasets:watch',
  'apps/statefulsets:list', 'apps/statefulsets:patch', 'apps/statefulsets:watch',
  'core/events:create',
  'core/pods:list', 'core/pods:watch',
  'core/secrets:list', 'core/secrets:watch',
  'secrets-store.csi.x-k8s.io/secretproviderclasspodstatuses:list', 'secrets-store.csi.x-k8s.io/secretproviderclasspodstatuses:watch',
];
const SYNC_GRANTS = [
  'core/events:create',
  'core/secrets:create', 'core/secrets:get', 'core/secrets:update',
  'core/serviceaccounts/token:create[keyvault-reloader-sync]',
  'secrets-store.csi.x-k8s.io/secretproviderclasses:list', 'secrets-store.csi.x-k8s.io/secretproviderclasses:watch',
];
const union = (...sets: string[][]) => [...new Set(sets.flat())].sort();

describe('helm chart', () => {
  it('helm lint --strict passes for the defaults and for each mode, namespaced RBAC, workload identity, CRDs and ServiceMonitor', async () => {
    const variants: string[][] = [
      [],
      ['--set', 'mode=reloader', '--set', 'rbac.namespaced=true', '--set', 'namespaces={apps,web}', '--set', 'excludeNamespaces={web}'],
      ['--set', 'mode=sync', '--set', 'workloadIdentity.enabled=true', '--set', 'workloadIdentity.clientId=00000000-0000-0000-0000-000000000001'],
      ['--set', 'crds.install=true', '--set', 'metrics.serviceMonitor.enabled=true', '--set', 'replicaCount=1', '--set', 'leaderElection.enabled=false'],
    ];
    for (const v of variants) {
      const out = await runHelm(['lint', CHART_DIR, '--strict', ...v]);
      assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/, `lint ${v.join(' ')}`);
    }
    // Values that cannot work fail the render with a message that says what to do.
    await assert.rejects(runHelm(['template', CHART_DIR, '--set', 'rbac.namespaced=true']), /rbac\.namespaced needs the namespaces to watch/);
    await assert.rejects(runHelm(['template', CHART_DIR, '--set', 'leaderElection.enabled=false']), /replicaCount > 1 needs leaderElection\.enabled/);
    await assert.rejects(runHelm(['template', CHART_DIR, '--set', 'mode=both']), /mode.*value must be one of/);
    await assert.rejects(runHelm(['template', CHART_DIR, '--set', 'reloader.settle=ten']), /settle/);
  });

  it('the container args the chart renders, for every value that becomes a flag, are flags and values that `keyvault-reloader run` accepts', async () => {
    const variants: Record<string, unknown>[] = [
      {},
      {
        namespaces: ['a', 'b'],
        excludeNamespaces: ['kube-system'],
        secretSelector: 'team in (payments,web)',
        stakater: true,
        dryRun: true,
        logLevel: 'debug',
        'sync.all': true,
        'sync.authorityHost': 'https://login.microsoftonline.us/',
        replicaCount: 1,
        'leaderElection.enabled': false,
      },
      { mode: 'reloader' },
      { mode: 'sync' },
      {
        namespaces: ['a', 'b'],
        'sync.namespaces': ['a'],
        'sync.cloudName': 'AzureChinaCloud',
        'sync.cloudEnvFiles': [{ path: '/etc/kubernetes/azurestackcloud.json', environment: { keyVaultDNSSuffix: 'vault.local.azurestack.external', activeDirectoryEndpoint: 'https://login.local.azurestack.external/' } }],
        'sync.caBundle': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
        'sync.proxy': { httpsProxy: 'http://proxy.example:3128', noProxy: '.svc,10.0.0.1' },
      },
    ];
    await Promise.all(variants.map(async (values) => {
      const args: string[] = find(await renderChart({ namespace: 'kvr', values }), 'Deployment').spec.template.spec.containers[0].args;
      assert.equal(args[0], 'run');
      // Flags are parsed and validated before the kubeconfig is read: a missing file is the first thing to fail.
      const res = await run(process.execPath, [MAIN_TS, ...args, '--kubeconfig', '/nonexistent/kubeconfig']).catch((e: { stdout: string; stderr: string }) => e);
      const out = `${res.stdout}${res.stderr}`;
      assert.doesNotMatch(out, /Unknown argument|Invalid values|keyvault-reloader: --/, `run accepts ${args.join(' ')}`);
      assert.match(out, /\/nonexistent\/kubeconfig/, `got as far as reading the kubeconfig with ${args.join(' ')}`);
    }));
  });

  it('the chart CRDs install on the API server as the driver defines them: SecretProviderClass and SecretProviderClassPodStatus, namespaced, v1 stored and v1alpha1 still served, no status subresource', async () => {
    const env = await testEnv();
    const crds = (await renderChart({ namespace: 'default', values: { 'crds.install': true } })).filter(isCrd);
    assert.deepEqual(crds.map((c) => c.metadata.name).sort(), ['secretproviderclasses.secrets-store.csi.x-k8s.io', 'secretproviderclasspodstatuses.secrets-store.csi.x-k8s.io']);
    await serverSideApply(env.client, crds, { dryRun: false });
    for (const c of crds) {
      const live = await eventually(`${c.metadata.name} established`, async () => {
        const crd = await env.client.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${c.metadata.name}`);
        return crd.status?.conditions?.some((x: any) => x.type === 'Established' && x.status === 'True') && crd;
      });
      assert.equal(live.spec.group, 'secrets-store.csi.x-k8s.io');
      assert.equal(live.spec.scope, 'Namespaced');
      assert.deepEqual(live.spec.versions.map((v: any) => [v.name, v.served, v.storage]), [['v1', true, true], ['v1alpha1', true, false]]);
      for (const v of live.spec.versions) assert.equal(v.subresources, undefined, `${c.metadata.name} ${v.name}: status is written with a plain update`);
      assert.equal(live.metadata.annotations['helm.sh/resource-policy'], 'keep');
    }

    const ns = await createNamespace(env.client, 'crds');
    const spcPath = `/apis/secrets-store.csi.x-k8s.io/v1/namespaces/${ns}/secretproviderclasses`;
    const spc = {
      apiVersion: 'secrets-store.csi.x-k8s.io/v1',
      kind: 'SecretProviderClass',
      metadata: { name: 'kv' },
      spec: {
        provider: 'azure',
        parameters: { keyvaultName: 'vault1', tenantId: 't', clientID: 'c', objects: 'array:\n  - |\n    objectName: db\n    objectType: secret\n' },
        secretObjects: [{ secretName: 'db', type: 'Opaque', labels: { a: 'b' }, annotations: { c: 'd' }, data: [{ objectName: 'db', key: 'password' }] }],
      },
    };
    await env.client.request('POST', spcPath, { body: spc, query: { fieldValidation: 'Strict' } });
    const gotSpc = await env.client.request('GET', `${spcPath}/kv`);
    assert.deepEqual(gotSpc.spec, spc.spec);

    const spcpsPath = `/apis/secrets-store.csi.x-k8s.io/v1/namespaces/${ns}/secretproviderclasspodstatuses`;
    const status = { podName: 'app-1', secretProviderClassName: 'kv', mounted: true, targetPath: '/var/lib/kubelet/pods/x/volumes/kubernetes.io~csi/kv/mount', objects: [{ id: 'secret/db', version: 'v1' }] };
    const name = `app-1-${ns}-kv`;
    const created = await env.client.request('POST', spcpsPath, { body: { apiVersion: 'secrets-store.csi.x-k8s.io/v1', kind: 'SecretProviderClassPodStatus', metadata: { name }, status }, query: { fieldValidation: 'Strict' } });
    assert.deepEqual(created.status, status);
    const rotated = { ...status, objects: [{ id: 'secret/db', version: 'v2' }] };
    const updated = await env.client.request('PUT', `${spcpsPath}/${name}`, { body: { ...created, status: rotated } });
    assert.deepEqual(updated.status.objects, [{ id: 'secret/db', version: 'v2' }], 'a plain update rewrites status');
  });

  it('every object the chart renders passes a strict server-side dry-run apply, with the defaults and with namespaced RBAC, workload identity, a Secret selector and CRDs', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'chart');
    const apps = await createNamespace(env.client, 'chart-apps');
    const variants: Record<string, unknown>[] = [
      {},
      {
        mode: 'reloader',
        'rbac.namespaced': true,
        namespaces: [ns, apps, 'not-watched'],
        excludeNamespaces: ['not-watched'],
        secretSelector: 'team in (payments,web)',
        'workloadIdentity.enabled': true,
        'workloadIdentity.clientId': '00000000-0000-0000-0000-000000000001',
        'crds.install': true,
        stakater: true,
      },
    ];
    for (const values of variants) {
      const objects = await renderChart({ release: 'kvr', namespace: ns, values });
      // As `kubectl apply` would: CRDs first (for real), then everything else.
      await serverSideApply(env.client, objects.filter(isCrd), { dryRun: false });
      const rest = objects.filter((o) => !isCrd(o));
      const applied = await serverSideApply(env.client, rest, { dryRun: true });
      assert.equal(applied.length, rest.length);
      const kinds = new Set(rest.map((o) => o.kind));
      for (const kind of ['ServiceAccount', 'Role', 'RoleBinding', 'Deployment', 'Service', 'PodDisruptionBudget']) assert.ok(kinds.has(kind), `renders a ${kind}`);
    }

    const [, shaped] = await Promise.all(variants.map((values) => renderChart({ release: 'kvr', namespace: ns, values })));
    const d = find(shaped!, 'Deployment');
    const container = d.spec.template.spec.containers[0];
    assert.ok(container.args.includes(`--namespaces=${ns},${apps},not-watched`));
    assert.ok(container.args.includes('--secret-selector=team in (payments,web)'));
    assert.ok(container.args.includes('--stakater'));
    assert.equal(d.spec.template.metadata.labels['azure.workload.identity/use'], 'true');
    assert.equal(find(shaped!, 'ServiceAccount').metadata.annotations!['azure.workload.identity/client-id'], '00000000-0000-0000-0000-000000000001');
    const roleNamespaces = shaped!.filter((o) => o.kind === 'Role' && o.metadata.name === 'kvr-keyvault-reloader').map((o) => o.metadata.namespace).sort();
    assert.deepEqual(roleNamespaces, [ns, apps].sort(), 'a Role in each watched namespace, none in an excluded one');
    assert.ok(!shaped!.some((o) => o.kind.startsWith('Cluster')), 'namespaced RBAC creates nothing cluster-wide');
  });

  it("the controller's pod meets the restricted Pod Security Standard, gets POD_NAME and POD_NAMESPACE from the downward API, and probes /healthz and /readyz on http-metrics", async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'psa');
    await env.client.request('PATCH', `/api/v1/namespaces/${ns}`, {
      body: { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' } } },
      contentType: 'application/merge-patch+json',
    });
    const d = find(await renderChart({ namespace: ns }), 'Deployment');
    const template = d.spec.template;
    // Pod Security admission enforces on Pods: create one from the template (dry run), as the ReplicaSet would.
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'controller', labels: template.metadata.labels }, spec: { ...template.spec, serviceAccountName: 'default' } };
    await env.client.request('POST', `/api/v1/namespaces/${ns}/pods`, { body: pod, query: { dryRun: 'All', fieldValidation: 'Strict' } });
    const insecure = structuredClone(pod);
    insecure.spec.containers[0].securityContext.allowPrivilegeEscalation = true;
    await assert.rejects(env.client.request('POST', `/api/v1/namespaces/${ns}/pods`, { body: insecure, query: { dryRun: 'All' } }), /violates PodSecurity "restricted/, 'the namespace really enforces restricted');

    const c = template.spec.containers[0];
    assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } });
    assert.equal(template.spec.securityContext.runAsNonRoot, true);
    assert.equal(template.spec.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.deepEqual(c.volumeMounts, [{ name: 'tmp', mountPath: '/tmp' }]);
    assert.ok(template.spec.volumes.some((v: any) => v.name === 'tmp' && v.emptyDir));
    const envVar = (name: string) => c.env.find((e: any) => e.name === name)?.valueFrom?.fieldRef?.fieldPath;
    assert.equal(envVar('POD_NAME'), 'metadata.name');
    assert.equal(envVar('POD_NAMESPACE'), 'metadata.namespace');
    assert.deepEqual(c.ports, [{ name: 'http-metrics', containerPort: 8080, protocol: 'TCP' }]);
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'http-metrics' });
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'http-metrics' });
    assert.equal(c.args[0], 'run');
  });

  it('RBAC grants exactly what each mode uses: the reloader and sync rules only for their modes, the same rules in namespaced Roles as in the ClusterRole, the Lease and digest key only in the release namespace', async () => {
    const ownFor = (objs: KubeObject[]) => grants(find(objs, 'Role', 'kvr-keyvault-reloader-self').rules);
    const expected = { reloader: RELOADER_GRANTS, sync: SYNC_GRANTS, all: union(RELOADER_GRANTS, SYNC_GRANTS) } as const;
    for (const mode of ['all', 'reloader', 'sync'] as const) {
      const cluster = await renderChart({ release: 'kvr', namespace: 'sys', values: { mode } });
      assert.deepEqual(grants(find(cluster, 'ClusterRole').rules), [...expected[mode]].sort(), `ClusterRole for mode ${mode}`);
      const namespaced = await renderChart({ release: 'kvr', namespace: 'sys', values: { mode, 'rbac.namespaced': true, namespaces: ['a'] } });
      assert.deepEqual(grants(find(namespaced, 'Role', 'kvr-keyvault-reloader').rules), [...expected[mode]].sort(), `Role in a watched namespace for mode ${mode}`);
      const own = [
        'coordination.k8s.io/leases:create',
        'coordination.k8s.io/leases:get[keyvault-reloader]',
        'coordination.k8s.io/leases:update[keyvault-reloader]',
        ...(mode === 'sync' ? [] : ['core/secrets:create', 'core/secrets:get[keyvault-reloader-digest-key]']),
      ].sort();
      assert.deepEqual(ownFor(cluster), own, `own-namespace Role for mode ${mode}`);
      assert.deepEqual(ownFor(namespaced), own);
      assert.equal(find(cluster, 'Role', 'kvr-keyvault-reloader-self').metadata.namespace, 'sys');
    }
    const named = await renderChart({ release: 'kvr', namespace: 'sys', values: { 'sync.serviceAccountName': 'kv-reader', 'sync.additionalServiceAccountNames': ['team-a', 'kv-reader'] } });
    assert.ok(grants(find(named, 'ClusterRole').rules).includes('core/serviceaccounts/token:create[kv-reader,team-a]'), 'tokens only for the named service accounts');
    assert.ok(find(named, 'Deployment').spec.template.spec.containers[0].args.includes('--sync-service-account=kv-reader'));
    const none = await renderChart({ namespace: 'sys', values: { 'rbac.create': false } });
    assert.ok(!none.some((o) => /Role/.test(o.kind)), 'rbac.create=false renders no RBAC');
  });

  it('with sync.namespaces the sync engine\'s grants leave the ClusterRole for a Role in each of those namespaces, in every RBAC shape', async () => {
    const cluster = await renderChart({ release: 'kvr', namespace: 'sys', values: { 'sync.namespaces': ['a', 'b'] } });
    assert.deepEqual(grants(find(cluster, 'ClusterRole').rules), [...RELOADER_GRANTS].sort(), 'the ClusterRole keeps the reloader\'s grants only');
    const syncRoles = cluster.filter((o) => o.kind === 'Role' && o.metadata.name === 'kvr-keyvault-reloader-sync');
    assert.deepEqual(syncRoles.map((r) => r.metadata.namespace).sort(), ['a', 'b']);
    for (const r of syncRoles) assert.deepEqual(grants(r.rules), [...SYNC_GRANTS].sort());
    assert.ok(find(cluster, 'Deployment').spec.template.spec.containers[0].args.includes('--sync-namespaces=a,b'));

    const syncOnly = await renderChart({ release: 'kvr', namespace: 'sys', values: { mode: 'sync', 'sync.namespaces': ['a'] } });
    assert.ok(!syncOnly.some((o) => o.kind.startsWith('Cluster')), 'mode sync with sync.namespaces grants nothing cluster-wide');

    const namespaced = await renderChart({ release: 'kvr', namespace: 'sys', values: { 'rbac.namespaced': true, namespaces: ['a', 'b'], 'sync.namespaces': ['b'] } });
    const role = (ns: string) => grants(namespaced.find((o) => o.kind === 'Role' && o.metadata.name === 'kvr-keyvault-reloader' && o.metadata.namespace === ns)!.rules);
    assert.deepEqual(role('a'), [...RELOADER_GRANTS].sort());
    assert.deepEqual(role('b'), union(RELOADER_GRANTS, SYNC_GRANTS));
    await assert.rejects(runHelm(['template', CHART_DIR, '--set', 'namespaces={a}', '--set', 'sync.namespaces={b}']), /sync\.namespaces: b is not in namespaces/);
    await assert.rejects(runHelm(['template', CHART_DIR, '--set', 'mode=reloader', '--set', 'sync.namespaces={b}']), /sync\.namespaces needs mode all or sync/);
  });

  it("in mode sync the chart's RBAC lets the controller request tokens for the named sync service account only, and write Secrets only in watched namespaces", async () => {
    const env = await testEnv();
    const sys = await createNamespace(env.client, 'sync-sys');
    const apps = await createNamespace(env.client, 'sync-apps');
    const objects = await renderChart({ release: 'kvr', namespace: sys, values: { mode: 'sync', 'rbac.namespaced': true, namespaces: [apps] } });
    await serverSideApply(env.client, objects.filter((o) => ['ServiceAccount', 'Role', 'RoleBinding'].includes(o.kind)), { dryRun: false });
    const { client } = await serviceAccountClient(env, sys, find(objects, 'ServiceAccount').metadata.name);
    await env.client.request('POST', `/api/v1/namespaces/${apps}/serviceaccounts`, { body: { metadata: { name: 'keyvault-reloader-sync' } } });
    const tokenRequest = { body: { spec: { audiences: ['api://AzureADTokenExchange'], expirationSeconds: 600 } } };
    const tr = await client.request('POST', `/api/v1/namespaces/${apps}/serviceaccounts/keyvault-reloader-sync/token`, tokenRequest);
    assert.ok(tr.status.token, 'a token for the sync service account');
    await assert.rejects(client.request('POST', `/api/v1/namespaces/${apps}/serviceaccounts/default/token`, tokenRequest), /403/, 'no token for any other service account');
    await client.request('POST', `/api/v1/namespaces/${apps}/secrets`, { body: { metadata: { name: 'synced' }, data: {} } });
    await assert.rejects(client.request('POST', `/api/v1/namespaces/${sys}/secrets`, { body: { metadata: { name: 'synced' }, data: {} } }), /403/, 'mode sync keeps no digest key, so it writes no Secret in its own namespace');
  });

  it('deploy/manifests and the chart copy of deploy/crds are exactly what scripts/render-manifests.ts renders from the chart now', async () => {
    const rendered = await renderManifests(await helm());
    for (const [name, text] of Object.entries(rendered)) {
      assert.equal(await readFile(path.join(MANIFESTS_DIR, name), 'utf8'), text, `deploy/manifests/${name} is stale: run node scripts/render-manifests.ts`);
    }
    assert.deepEqual((await readdir(MANIFESTS_DIR)).sort(), Object.keys(rendered).sort());
    const crds = await chartCrdFiles();
    assert.deepEqual((await readdir(CHART_CRDS_DIR)).sort(), Object.keys(crds));
    for (const [name, text] of Object.entries(crds)) {
      assert.equal(await readFile(path.join(CHART_CRDS_DIR, name), 'utf8'), text, `the chart's files/crds/${name} differs from deploy/crds: run node scripts/render-manifests.ts`);
    }
  });

  it("with nothing but the chart's namespaced RBAC (mode reloader), `keyvault-reloader run` as the chart's service account rolls a Deployment when its Secret changes, and is never forbidden", async () => {
    const env = await testEnv();
    const sys = await createNamespace(env.client, 'kvr-sys');
    const apps = await createNamespace(env.client, 'kvr-apps');
    const objects = await renderChart({ release: 'kvr', namespace: sys, values: { mode: 'reloader', 'rbac.namespaced': true, namespaces: [apps] } });
    const rbac = objects.filter((o) => ['ServiceAccount', 'Role', 'RoleBinding'].includes(o.kind));
    assert.equal(rbac.length, 5, 'a ServiceAccount, and a Role and RoleBinding in each of the two namespaces');
    await serverSideApply(env.client, rbac, { dryRun: false });
    const sa = find(objects, 'ServiceAccount').metadata.name;
    const { kubeconfig } = await serviceAccountClient(env, sys, sa);

    await putSecret(env.client, apps, 'db', { password: 'v1' });
    await createDeployment(env.client, apps, deployment('app', {
      replicas: 1,
      annotations: { [ANNOTATIONS.auto]: 'true' },
      pod: { containers: [{ name: 'app', image: 'example.invalid/app:1', env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }] }] },
    }));
    await waitRolledOut(env.client, apps, 'app');

    const container = find(objects, 'Deployment').spec.template.spec.containers[0];
    assert.ok(container.args.includes(`--namespaces=${apps}`) && container.args.includes('--mode=reloader'));
    const controller = await startControllerProcess(env, {
      identity: 'rbac',
      kubeconfig,
      args: ['--mode', 'reloader', '--namespaces', apps, '--settle', '1s', '--lease-duration', '4s', '--renew-deadline', '3s', '--retry-period', '1s'],
      env: { POD_NAMESPACE: sys },
    });
    started.push(controller);
    await waitReady(controller);
    await eventually('a baseline on the Deployment', async () => (await getDeployment(env.client, apps, 'app')).metadata?.annotations?.[ANNOTATIONS.baseline]);
    await putSecret(env.client, apps, 'db', { password: 'v2' });
    await waitRolledOut(env.client, apps, 'app', { replicaSets: 2 });
    assert.equal((await replicaSetsOf(env.client, apps, 'app')).length, 2);
    await eventually('a Restarted Event', async () => (await eventsFor(env.client, apps, 'app')).some((e) => e.reason === 'Restarted'));

    const lease = await env.client.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${sys}/leases/keyvault-reloader`);
    assert.equal(lease.spec.holderIdentity, 'rbac');
    await env.client.request('GET', `/api/v1/namespaces/${sys}/secrets/keyvault-reloader-digest-key`);
    const problems = (await controller.logs()).filter((l) => /forbidden|403/i.test(JSON.stringify(l)) || ['warn', 'error', 'fatal'].includes(String(l['level'])));
    assert.deepEqual(problems, [], 'no warnings, no errors, nothing forbidden');
  });

  it("mode all on nothing but the chart's RBAC (the reloader cluster-wide, the sync engine in sync.namespaces only): a vault rotation updates the synced Secret and rolls the Deployment that uses it, nothing is forbidden, and no Secret can be written outside sync.namespaces", async () => {
    const env = await testEnv();
    const azure = await testAzure();
    const sys = await createNamespace(env.client, 'kvr-all-sys');
    const { ns: apps, clientID } = await federatedNamespace(env, azure, 'kvr-all-apps');
    const other = await createNamespace(env.client, 'kvr-all-other');
    const release = `kvr-${apps.slice(-6)}`;
    const objects = await renderChart({ release, namespace: sys, values: { mode: 'all', namespaces: [apps, other], 'sync.namespaces': [apps] } });
    const rbac = objects.filter((o) => ['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind));
    assert.deepEqual(rbac.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}`).sort(), [
      'ClusterRole/', 'ClusterRoleBinding/', `Role/${apps}`, `Role/${sys}`, `RoleBinding/${apps}`, `RoleBinding/${sys}`, `ServiceAccount/${sys}`,
    ].sort());
    await serverSideApply(env.client, rbac, { dryRun: false });
    after(async () => {
      for (const o of rbac.filter((x) => x.kind.startsWith('Cluster'))) await env.client.request('DELETE', `/apis/rbac.authorization.k8s.io/v1/${o.kind === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings'}/${o.metadata.name}`);
    });
    const sa = find(objects, 'ServiceAccount').metadata.name;
    const { kubeconfig, client: asController } = await serviceAccountClient(env, sys, sa);

    const vault = vaultName('chart-all');
    await azure.admin.vault(vault).secrets.setSecret('db-password', 'v1');
    const cls = (name: string) => syncClass(name, { vault, clientID, tenantId: azure.tenantId, objects: ['objectName: db-password\nobjectType: secret'], secretObjects: [{ secretName: 'db', type: 'Opaque', data: [{ objectName: 'db-password', key: 'password' }] }] });
    await applyClass(env.client, apps, cls('app'));
    await applyClass(env.client, other, cls('elsewhere'));
    await createDeployment(env.client, apps, deployment('app', {
      replicas: 1,
      annotations: { [ANNOTATIONS.auto]: 'true' },
      pod: { containers: [{ name: 'app', image: 'example.invalid/app:1', env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }] }] },
    }));

    const container = find(objects, 'Deployment').spec.template.spec.containers[0];
    assert.ok(container.args.includes(`--namespaces=${apps},${other}`) && container.args.includes(`--sync-namespaces=${apps}`) && container.args.includes('--mode=all'));
    const controller = await startControllerProcess(env, {
      identity: 'rbac-all',
      kubeconfig,
      args: ['--mode', 'all', '--namespaces', `${apps},${other}`, '--sync-namespaces', apps, '--settle', '1s', '--lease-duration', '4s', '--renew-deadline', '3s', '--retry-period', '1s'],
      env: { POD_NAMESPACE: sys },
    });
    started.push(controller);
    await waitReady(controller);
    await secretData(env.client, apps, 'db', (d) => d['password']?.toString() === 'v1');
    await waitRolledOut(env.client, apps, 'app');
    await eventually('a baseline on the Deployment', async () => (await getDeployment(env.client, apps, 'app')).metadata?.annotations?.[ANNOTATIONS.baseline]);
    await azure.admin.vault(vault).secrets.setSecret('db-password', 'v2');
    await secretData(env.client, apps, 'db', (d) => d['password']?.toString() === 'v2');
    await waitRolledOut(env.client, apps, 'app', { replicaSets: 2 });

    // Outside sync.namespaces: not synced by the engine, and not writable with its RBAC either.
    assert.equal(await getSecret(env.client, other, 'db'), undefined);
    await assert.rejects(asController.request('POST', `/api/v1/namespaces/${other}/secrets`, { body: { metadata: { name: 'x' } } }), /403/);
    await assert.rejects(asController.request('POST', `/api/v1/namespaces/${other}/serviceaccounts/default/token`, { body: { spec: { audiences: ['api://AzureADTokenExchange'] } } }), /403/);
    const problems = (await controller.logs()).filter((l) => /forbidden|403/i.test(JSON.stringify(l)) || ['warn', 'error', 'fatal'].includes(String(l['level'])));
    assert.deepEqual(problems, [], 'no warnings, no errors, nothing forbidden');
  });
});
