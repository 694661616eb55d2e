// The sync engine's Secret writer on the real control plane: what it creates,
// when it writes (only on a change of content), what it never touches, and
// how its Secrets go away with their class (the controller-manager's garbage
// collector, through the ownerReference).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { V1Secret } from '@kubernetes/client-node';
import { createKubeClient, KubeError, loadKubeConfig, PATCH, type KubeClient } from '../../src/kube/client.ts';
import { createEventRecorder } from '../../src/kube/events.ts';
import { kubeconfigYaml } from '../../src/localenv/cluster.ts';
import { startFaultProxy, type FaultProxy } from '../../src/localenv/fault-proxy.ts';
import { issueServingCert, pkiFiles } from '../../src/localenv/pki.ts';
import { createLogger } from '../../src/log.ts';
import type { RenderedFile } from '../../src/sync/render/object.ts';
import { buildSecrets, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../../src/sync/secret-data.ts';
import { SecretWriter, type SecretWriteResult } from '../../src/sync/secret-writer.ts';
import { parseSecretProviderClass, SPC_API_VERSION, type ParsedClass } from '../../src/sync/spc.ts';
import { deleteAfter, mountingPod, testAddon, vaultName, workloadIdentityClass } from '../helpers/addon.ts';
import { createNamespace, eventually, testEnv, type TestEnv } from '../helpers/env.ts';
import { eventsFor } from '../helpers/reloader.ts';

const DRIVER_VAULT = vaultName('writer');
const SPC_PATH = (ns: string) => `/apis/secrets-store.csi.x-k8s.io/v1/namespaces/${ns}/secretproviderclasses`;

interface SecretObject {
  secretName: string;
  type?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  data: Array<{ objectName: string; key: string }>;
}

/** Creates the class in the API server (for its uid) and returns it parsed. */
async function createClass(client: KubeClient, ns: string, name: string, secretObjects: SecretObject[]): Promise<ParsedClass> {
  const created = await client.request('POST', SPC_PATH(ns), {
    body: {
      apiVersion: SPC_API_VERSION,
      kind: 'SecretProviderClass',
      metadata: { name, namespace: ns },
      spec: {
        provider: 'azure',
        parameters: {
          keyvaultName: 'kv-team',
          tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
          clientID: '00000000-0000-0000-0000-00000000c1a5',
          objects: 'array:\n  - |\n    objectName: db-password\n    objectType: secret\n  - |\n    objectName: api-key\n    objectType: secret\n',
        },
        // A type, as the driver requires of every entry (the tests here are about other things).
        secretObjects: secretObjects.map((so) => ({ type: 'Opaque', ...so })),
      },
    },
  });
  const result = parseSecretProviderClass(created);
  assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
  assert.notEqual(result.value.uid, '');
  return result.value;
}

/** What rendering two Key Vault secrets yields (the files the Secrets are built from). */
function files(dbPassword: string, apiKey = 'key-1'): RenderedFile[] {
  return [
    { fileName: 'db-password', content: Buffer.from(dbPassword), id: 'secret/db-password', version: `v-${dbPassword}` },
    { fileName: 'api-key', content: Buffer.from(apiKey), id: 'secret/api-key', version: `v-${apiKey}` },
  ];
}

function desired(cls: ParsedClass, rendered: RenderedFile[]): V1Secret[] {
  const built = buildSecrets(cls, rendered);
  assert.deepEqual(built.failed, []);
  return built.secrets;
}

async function getSecret(client: KubeClient, ns: string, name: string): Promise<V1Secret> {
  return client.request<V1Secret>('GET', `/api/v1/namespaces/${ns}/secrets/${name}`);
}

const text = (s: V1Secret, key: string) => Buffer.from(s.data?.[key] ?? '', 'base64').toString('utf8');

describe('synced Secret writer (real API server and garbage collector)', () => {
  let env: TestEnv;
  let client: KubeClient;
  const writes: string[] = [];
  const metrics: SecretWriteResult[] = [];
  const log = createLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
  let events: ReturnType<typeof createEventRecorder>;
  let writer: SecretWriter;

  before(async () => {
    env = await testEnv();
    client = createKubeClient(loadKubeConfig(env.kubeconfig));
    client.onRequest.add((verb, p) => {
      if (p.includes('/secrets') && ['POST', 'PUT', 'PATCH', 'DELETE'].includes(verb)) writes.push(`${verb} ${p}`);
    });
    events = createEventRecorder({ client, log, instance: 'test', dedupeWindowMs: 0 });
    writer = new SecretWriter({ client, events, log, metrics: { write: (r) => metrics.push(r) } });
  });

  it('creates a missing Secret with our label and an ownerReference to its class', async () => {
    const ns = await createNamespace(env.client, 'writer');
    const cls = await createClass(env.client, ns, 'app', [{ secretName: 'db', labels: { team: 'a' }, annotations: { note: 'synced' }, data: [{ objectName: 'db-password', key: 'password' }] }]);
    const [result] = await writer.apply(cls, desired(cls, files('p1')));
    assert.equal(result?.outcome, 'created');

    const s = await getSecret(env.client, ns, 'db');
    assert.equal(text(s, 'password'), 'p1');
    assert.equal(s.type, 'Opaque');
    assert.equal(s.metadata?.labels?.[MANAGED_BY_LABEL], MANAGED_BY_VALUE);
    assert.equal(s.metadata?.labels?.['team'], 'a');
    assert.equal(s.metadata?.annotations?.['note'], 'synced');
    assert.deepEqual(
      s.metadata?.ownerReferences?.map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.name, uid: o.uid, controller: o.controller })),
      [{ apiVersion: SPC_API_VERSION, kind: 'SecretProviderClass', name: 'app', uid: cls.uid, controller: true }],
    );
  });

  it('an unchanged Secret is never written again: ten applies keep its resourceVersion and send no write', async () => {
    const ns = await createNamespace(env.client, 'writer');
    const cls = await createClass(env.client, ns, 'app', [{ secretName: 'db', data: [{ objectName: 'db-password', key: 'password' }, { objectName: 'api-key', key: 'key' }] }]);
    await writer.apply(cls, desired(cls, files('p1')));
    const rv = (await getSecret(env.client, ns, 'db')).metadata?.resourceVersion;
    const writesBefore = writes.length;
    const metricsBefore = metrics.length;
    for (let i = 0; i < 10; i++) {
      const [result] = await writer.apply(cls, desired(cls, files('p1')));
      assert.equal(result?.outcome, 'unchanged');
    }
    assert.equal((await getSecret(env.client, ns, 'db')).metadata?.resourceVersion, rv);
    assert.deepEqual(writes.slice(writesBefore), [], 'no POST, PUT, PATCH or DELETE of a Secret');
    assert.deepEqual(metrics.slice(metricsBefore), [], 'no write counted');
  });

  it('changed content gives exactly one update, after which the Secret is unchanged again', async () => {
    const ns = await createNamespace(env.client, 'writer');
    const cls = await createClass(env.client, ns, 'app', [{ secretName: 'db', data: [{ objectName: 'db-password', key: 'password' }, { objectName: 'api-key', key: 'key' }] }]);
    await writer.apply(cls, desired(cls, files('p1')));
    const rv1 = (await getSecret(env.client, ns, 'db')).metadata?.resourceVersion;
    const writesBefore = writes.length;

    const [updated] = await writer.apply(cls, desired(cls, files('p2')));
    assert.equal(updated?.outcome, 'updated');
    for (let i = 0; i < 3; i++) assert.equal((await writer.apply(cls, desired(cls, files('p2'))))[0]?.outcome, 'unchanged');

    const s = await getSecret(env.client, ns, 'db');
    assert.equal(text(s, 'password'), 'p2');
    assert.equal(text(s, 'key'), 'key-1');
    assert.notEqual(s.metadata?.resourceVersion, rv1);
    assert.equal(s.metadata?.resourceVersion, updated?.resourceVersion);
    assert.deepEqual(writes.slice(writesBefore), [`PUT /api/v1/namespaces/${ns}/secrets/db`], 'exactly one write');
  });

  it('labels and annotations the class drops are removed, while those other tools set are kept and never cause a write', async () => {
    const ns = await createNamespace(env.client, 'writer');
    const so = (labels: Record<string, string>) => [{ secretName: 'db', labels, data: [{ objectName: 'db-password', key: 'password' }] }];
    const cls = await createClass(env.client, ns, 'app', so({ team: 'a', tier: 'backend' }));
    await writer.apply(cls, desired(cls, files('p1')));
    // Another tool annotates and labels the Secret.
    await env.client.request('PATCH', `/api/v1/namespaces/${ns}/secrets/db`, {
      body: { metadata: { labels: { 'backup.example.com/include': 'true' }, annotations: { 'example.com/owner-team': 'payments' } } },
      contentType: PATCH.merge,
      query: { fieldManager: 'someone-else' },
    });
    const rv = (await getSecret(env.client, ns, 'db')).metadata?.resourceVersion;
    assert.equal((await writer.apply(cls, desired(cls, files('p1'))))[0]?.outcome, 'unchanged', 'others\' metadata is not a difference');
    assert.equal((await getSecret(env.client, ns, 'db')).metadata?.resourceVersion, rv);

    const changed = { ...cls, secretObjects: [{ ...cls.secretObjects[0]!, labels: { team: 'b' } }] };
    assert.equal((await writer.apply(changed, desired(changed, files('p1'))))[0]?.outcome, 'updated');
    const s = await getSecret(env.client, ns, 'db');
    assert.equal(s.metadata?.labels?.['team'], 'b');
    assert.equal(s.metadata?.labels?.['tier'], undefined, 'the label the class dropped is gone');
    assert.equal(s.metadata?.labels?.['backup.example.com/include'], 'true', 'another tool\'s label stays');
    assert.equal(s.metadata?.annotations?.['example.com/owner-team'], 'payments', 'another tool\'s annotation stays');
    assert.equal(s.metadata?.labels?.[MANAGED_BY_LABEL], MANAGED_BY_VALUE);
  });

  it('an existing Secret that is not ours is never overwritten, and a Warning Event on the class names it', async () => {
    const ns = await createNamespace(env.client, 'writer');
    const cls = await createClass(env.client, ns, 'app', [
      { secretName: 'hand-made', data: [{ objectName: 'db-password', key: 'password' }] },
      { secretName: 'other-class', data: [{ objectName: 'db-password', key: 'password' }] },
    ]);
    await env.client.request('POST', `/api/v1/namespaces/${ns}/secrets`, { body: { metadata: { name: 'hand-made' }, stringData: { password: 'mine' } } });
    // Ours by label, but owned by another (existing, so the garbage collector keeps it) class:
    // still not this class's to write.
    const other = await createClass(env.client, ns, 'other', []);
    await env.client.request('POST', `/api/v1/namespaces/${ns}/secrets`, {
      body: { metadata: { name: 'other-class', labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE }, ownerReferences: [{ apiVersion: SPC_API_VERSION, kind: 'SecretProviderClass', name: 'other', uid: other.uid }] }, stringData: { password: 'theirs' } },
    });
    const before = await Promise.all(['hand-made', 'other-class'].map((n) => getSecret(env.client, ns, n)));
    const writesBefore = writes.length;

    const results = await writer.apply(cls, desired(cls, files('p1')));
    assert.deepEqual(results.map((r) => r.outcome), ['not-owned', 'not-owned']);
    assert.deepEqual(writes.slice(writesBefore), []);
    const afterwards = await Promise.all(['hand-made', 'other-class'].map((n) => getSecret(env.client, ns, n)));
    assert.deepEqual(afterwards.map((s) => s.metadata?.resourceVersion), before.map((s) => s.metadata?.resourceVersion));
    assert.deepEqual(afterwards.map((s) => text(s, 'password')), ['mine', 'theirs']);

    await events.flush();
    const warnings = (await eventsFor(env.client, ns, 'app')).filter((e) => e.type === 'Warning' && e.reason === 'SecretNotOwned');
    assert.ok(warnings.some((e) => e.message.startsWith('Secret hand-made already exists') && e.message.includes(`no label ${MANAGED_BY_LABEL}`)), JSON.stringify(warnings));
    assert.ok(warnings.some((e) => e.message.startsWith('Secret other-class already exists') && e.message.includes('another SecretProviderClass')), JSON.stringify(warnings));
    assert.ok(metrics.includes('not_owned'));
  });

  it('a Secret the CSI driver manages is never overwritten, even if it carries our label and ownerReference', async () => {
    // The real driver syncs Secret db for a class of its own in the namespace, from a pod that mounts it.
    const { azure, addon } = await testAddon({ vaults: [DRIVER_VAULT] });
    const ns = await createNamespace(env.client, 'writer');
    deleteAfter(env.client, ns);
    await azure.admin.vault(DRIVER_VAULT).secrets.setSecret('db-password', 'from-the-driver');
    await workloadIdentityClass(env.client, azure, ns, { name: 'mounted', vault: DRIVER_VAULT, serviceAccount: 'app', objects: [{ objectName: 'db-password', objectType: 'secret' }], secretObjects: [{ secretName: 'db', type: 'Opaque', data: [{ objectName: 'db-password', key: 'password' }] }] });
    await env.client.request('POST', `/api/v1/namespaces/${ns}/pods`, { body: { metadata: { name: 'mounter' }, spec: mountingPod('mounted', 'app') } });
    await eventually('the driver to sync Secret db', async () => (await addon.syncedSecrets(ns, 'mounted'))['db']);
    const cls = await createClass(env.client, ns, 'app', [{ secretName: 'db', data: [{ objectName: 'db-password', key: 'password' }] }]);
    await env.client.request('PATCH', `/api/v1/namespaces/${ns}/secrets/db`, {
      body: { metadata: { labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE }, ownerReferences: [{ apiVersion: SPC_API_VERSION, kind: 'SecretProviderClass', name: 'app', uid: cls.uid }] } },
      contentType: PATCH.merge,
    });
    const writesBefore = writes.length;

    // The driver may write the Secret meanwhile (its owner-reference patcher); what must not happen is a write of ours.
    for (let i = 0; i < 3; i++) assert.equal((await writer.apply(cls, desired(cls, files('p1'))))[0]?.outcome, 'not-owned');
    assert.deepEqual(writes.slice(writesBefore), []);
    const s = await getSecret(env.client, ns, 'db');
    assert.equal(text(s, 'password'), 'from-the-driver');

    await events.flush();
    const warnings = (await eventsFor(env.client, ns, 'app')).filter((e) => e.type === 'Warning' && e.reason === 'SecretNotOwned');
    assert.ok(warnings.some((e) => e.message.startsWith('Secret db already exists') && e.message.includes('secrets-store.csi.k8s.io/managed=true')), JSON.stringify(warnings));
  });

  it('deleting the class garbage-collects the Secrets it owns, and only those', async () => {
    const ns = await createNamespace(env.client, 'writer');
    const cls = await createClass(env.client, ns, 'app', [
      { secretName: 'db', data: [{ objectName: 'db-password', key: 'password' }] },
      { secretName: 'api', data: [{ objectName: 'api-key', key: 'key' }] },
      { secretName: 'hand-made', data: [{ objectName: 'api-key', key: 'key' }] },
    ]);
    await env.client.request('POST', `/api/v1/namespaces/${ns}/secrets`, { body: { metadata: { name: 'hand-made' }, stringData: { key: 'mine' } } });
    const results = await writer.apply(cls, desired(cls, files('p1')));
    assert.deepEqual(results.map((r) => r.outcome), ['created', 'created', 'not-owned']);

    await env.client.request('DELETE', `${SPC_PATH(ns)}/app`, { body: { propagationPolicy: 'Background' } });
    for (const name of ['db', 'api']) {
      await eventually(`Secret ${name} to be garbage-collected`, async () => {
        try {
          await getSecret(env.client, ns, name);
          return false;
        } catch (err) {
          return err instanceof KubeError && err.status === 404;
        }
        // The garbage collector discovers a new custom resource on its next sync (30 s).
      }, 120_000);
    }
    assert.equal(text(await getSecret(env.client, ns, 'hand-made'), 'key'), 'mine', 'a Secret the class did not own stays');
  });

  describe('when the Secret changes between the read and the write', () => {
    let proxy: FaultProxy;
    let proxied: KubeClient;

    before(async () => {
      const tls = await issueServingCert(pkiFiles(env.dir), `writer-proxy-${process.pid}`);
      const ca = readFileSync(env.caFile);
      proxy = await startFaultProxy({ target: env.server, targetCa: ca, tls: { cert: readFileSync(tls.cert), key: readFileSync(tls.key) } });
      const file = path.join(env.dir, `writer-proxy-${process.pid}.kubeconfig`);
      writeFileSync(file, kubeconfigYaml({ name: 'admin-via-proxy', server: proxy.url, caData: ca.toString('base64'), token: env.adminToken }), { mode: 0o600 });
      proxied = createKubeClient(loadKubeConfig(file));
    });
    after(() => proxy?.close());

    it('the API server\'s 409 Conflict is retried on a fresh read, and the write lands once', async () => {
      const ns = await createNamespace(env.client, 'writer');
      const cls = await createClass(env.client, ns, 'app', [{ secretName: 'db', data: [{ objectName: 'db-password', key: 'password' }] }]);
      const results: SecretWriteResult[] = [];
      const viaProxy = new SecretWriter({ client: proxied, events, log, metrics: { write: (r) => results.push(r) } });
      await viaProxy.apply(cls, desired(cls, files('p1')));

      // The first update is held back while someone else changes the Secret, so the API server refuses it (stale resourceVersion).
      let interfered: Promise<unknown> | undefined;
      proxy.rule = (req) => {
        if (req.method !== 'PUT' || !req.path.endsWith(`/namespaces/${ns}/secrets/db`) || interfered) return undefined;
        interfered = env.client.request('PATCH', `/api/v1/namespaces/${ns}/secrets/db`, { body: { metadata: { annotations: { 'example.com/touched': 'yes' } } }, contentType: PATCH.merge });
        return { kind: 'delay', ms: 1000 };
      };
      const [result] = await viaProxy.apply(cls, desired(cls, files('p2')));
      proxy.rule = undefined;
      await interfered;

      assert.equal(result?.outcome, 'updated');
      assert.deepEqual(results, ['created', 'conflict', 'updated']);
      assert.deepEqual(proxy.log.filter((e) => e.method === 'PUT' && e.path.endsWith('/secrets/db')).map((e) => e.status), [409, 200], 'one refused write, one that landed');
      const s = await getSecret(env.client, ns, 'db');
      assert.equal(text(s, 'password'), 'p2');
      assert.equal(s.metadata?.annotations?.['example.com/touched'], 'yes', 'the other writer\'s change survives');
    });
  });
});
