// The sync engine and the real CSI driver pointed at the same Secret: one
// SecretProviderClass, opted in to the sync engine and mounted by a pod
// through the real driver 1.6.0 and Azure provider 1.8.2, both writing its
// secretObjects Secret `db`; a Deployment reads that Secret from an env var.
// The driver owns a Secret it syncs (it labels it secrets-store.csi.k8s.io/
// managed=true and updates it unconditionally, dropping other owners' labels
// and ownerReferences); the sync engine never writes such a Secret. In either
// order, over a window of several driver republishes and sync rounds, and
// across a vault rotation: no write of the engine's once the driver has the
// Secret, the data never flips, the Deployment restarts once for the rotation
// and never otherwise, and the engine says why it stands back (a SecretNotOwned
// Warning and its metrics). Every write is seen on a watch of the Secret.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { V1Secret } from '@kubernetes/client-node';
import type { KubeClient } from '../../src/kube/client.ts';
import { DRIVER_MANAGED_LABEL } from '../../src/localenv/addon.ts';
import { ANNOTATIONS } from '../../src/reloader/annotations.ts';
import { parseBaseline } from '../../src/reloader/decide.ts';
import { MANAGED_BY_LABEL } from '../../src/sync/secret-data.ts';
import { ANNOTATION_SERVICE_ACCOUNT, ANNOTATION_SYNC } from '../../src/sync/spc.ts';
import { deleteAfter, mountingPod, testAddon, vaultName } from '../helpers/addon.ts';
import { createNamespace, eventually } from '../helpers/env.ts';
import { applyClass, ensureServiceAccount, startSyncController, syncClass, waitEvent, type SyncController } from '../helpers/sync.ts';
import { createDeployment, deployment, getDeployment, replicaSetsOf, waitRolledOut } from '../helpers/workloads.ts';

const VAULT = vaultName('coexist');
// Fast rounds on both sides: the stand-in republishes every 1.5–2.25 s, the driver
// fetches again once 3 s have passed; the sync engine polls the class every second.
const setup = () => testAddon({ republishPeriodMs: 1500, rotationPollInterval: '3s', vaults: [VAULT] });
const SA = 'app';

/** One version of the Secret as a watch delivered it: what tells who wrote it. */
interface SecretVersion {
  resourceVersion: string;
  /** Only the sync engine sets these two. */
  engineLabel: boolean;
  engineOwner: boolean;
  driverLabel: boolean;
  password: string;
}

/** Every version of a Secret from now on, from a watch (polling would miss a write undone at once). */
async function recordVersions(client: KubeClient, ns: string, name: string): Promise<{ versions: SecretVersion[]; stop: () => void }> {
  const versions: SecretVersion[] = [];
  const abort = new AbortController();
  const list = await client.request('GET', `/api/v1/namespaces/${ns}/secrets`, { query: { fieldSelector: `metadata.name=${name}` } });
  let from = String(list.metadata.resourceVersion);
  const open = async (): Promise<void> => {
    await client.watch(`/api/v1/namespaces/${ns}/secrets`, { fieldSelector: `metadata.name=${name}`, resourceVersion: from }, (e) => {
      if (e.type !== 'ADDED' && e.type !== 'MODIFIED') return;
      const s = e.object as V1Secret;
      from = s.metadata!.resourceVersion!;
      versions.push({
        resourceVersion: from,
        engineLabel: s.metadata?.labels?.[MANAGED_BY_LABEL] !== undefined,
        engineOwner: (s.metadata?.ownerReferences ?? []).some((o) => o.kind === 'SecretProviderClass'),
        driverLabel: s.metadata?.labels?.[DRIVER_MANAGED_LABEL] === 'true',
        password: Buffer.from(s.data?.['password'] ?? '', 'base64').toString(),
      });
    }, () => {
      // The server ends watches now and then: carry on from the last version seen.
      if (!abort.signal.aborted) void open();
    }, { signal: abort.signal });
  };
  await open();
  return { versions, stop: () => abort.abort() };
}

interface World {
  client: KubeClient;
  ns: string;
  controller: SyncController;
}

/** Sync rounds of the class that found the Secret not the engine's. */
const notOwnedRounds = (w: World) => w.controller.metric('keyvault_reloader_sync_errors_total', { namespace: w.ns, class: 'kv', reason: 'not_owned' });

/**
 * Waits, by condition, for `cycles` more republishes of the mounting pod (the
 * driver fetching again and rewriting what it records) and `cycles` more
 * sync rounds that stood back: several seconds, each longer than the settle
 * window, so whatever those rounds would restart has been restarted.
 */
async function quietWindow(w: World, addon: Awaited<ReturnType<typeof setup>>['addon'], cycles = 4): Promise<void> {
  const publishes = async () => (await addon.volumes()).find((v) => v.namespace === w.ns && v.pod === 'mounter' && !v.removed)?.publishes ?? 0;
  const [p0, r0] = [await publishes(), await notOwnedRounds(w)];
  await eventually(`${cycles} more republishes and ${cycles} more sync rounds in ${w.ns}`, async () => (await publishes()) >= p0 + cycles && (await notOwnedRounds(w)) >= r0 + cycles, 90_000, 250);
}

async function adopted(client: KubeClient, ns: string): Promise<void> {
  await eventually('Deployment web adopted with Secret db as its input', async () => parseBaseline((await getDeployment(client, ns, 'web')).metadata?.annotations?.[ANNOTATIONS.baseline])?.inputs['secret/db']);
}

/** A namespace with workload identity for `app`, the class `kv` (the engine reads as `app` too), and what reads the Secret. */
async function prepare(prefix: string, opts: { sync: boolean }) {
  const { env, azure, addon } = await setup();
  const ns = await createNamespace(env.client, prefix);
  deleteAfter(env.client, ns);
  await ensureServiceAccount(env.client, ns, SA);
  const clientID = await azure.admin.workloadIdentity(ns, SA);
  await azure.admin.vault(VAULT).secrets.setSecret(`${ns}-db`, 'first');
  const cls = (sync: boolean) => syncClass('kv', {
    vault: VAULT,
    clientID,
    tenantId: azure.tenantId,
    objects: [`objectName: ${ns}-db\nobjectType: secret\nobjectAlias: db-password`],
    secretObjects: [{ secretName: 'db', type: 'Opaque', data: [{ objectName: 'db-password', key: 'password' }] }],
    annotations: { [ANNOTATION_SERVICE_ACCOUNT]: SA, [ANNOTATION_SYNC]: String(sync) },
  });
  await applyClass(env.client, ns, cls(opts.sync));
  const mount = () => env.client.request('POST', `/api/v1/namespaces/${ns}/pods`, { body: { metadata: { name: 'mounter' }, spec: mountingPod('kv', SA) } });
  const reader = () => createDeployment(env.client, ns, deployment('web', {
    replicas: 1,
    annotations: { [ANNOTATIONS.auto]: 'true' },
    pod: { containers: [{ name: 'app', image: 'example.invalid/app:1', env: [{ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }] }] },
  }));
  const optIn = async () => applyClass(env.client, ns, cls(true));
  return { env, azure, addon, ns, mount, reader, optIn, rotate: (value: string) => azure.admin.vault(VAULT).secrets.setSecret(`${ns}-db`, value) };
}

/**
 * What both orders share once the driver has the Secret: the engine stands
 * back and says why; quiet rounds write nothing of the engine's and restart
 * nothing; a rotation reaches the Secret through the driver alone and restarts
 * the Deployment once.
 */
async function coexist(t: TestContext, w: World, p: Awaited<ReturnType<typeof prepare>>, versions: SecretVersion[]): Promise<void> {
  const warning = await waitEvent(w.client, w.ns, 'kv', 'SecretNotOwned', /./, 60_000);
  assert.match(warning, /^Secret db already exists and is left as it is: it is managed by the Secrets Store CSI driver \(label secrets-store\.csi\.k8s\.io\/managed=true\)/);
  assert.ok(await w.controller.metric('keyvault_reloader_secret_writes_total', { result: 'not_owned' }) >= 1);

  const since = versions.length;
  await quietWindow(w, p.addon);
  const quiet = versions.slice(since);
  assert.deepEqual(quiet.filter((v) => v.engineLabel || v.engineOwner), [], 'no write of the engine\'s while the driver has the Secret');
  assert.deepEqual([...new Set(quiet.map((v) => v.password))].filter((x) => x !== 'first'), [], 'the data never changes');
  assert.equal((await replicaSetsOf(w.client, w.ns, 'web')).length, 1, 'nothing restarted the Deployment');

  await p.rotate('second');
  await eventually('the driver to write the new version into Secret db', async () => versions.at(-1)?.password === 'second', 90_000, 250);
  await waitRolledOut(w.client, w.ns, 'web', { replicaSets: 2 });
  const afterRotation = versions.length;
  await quietWindow(w, p.addon);
  assert.equal((await replicaSetsOf(w.client, w.ns, 'web')).length, 2, 'one rotation, one restart');
  assert.equal(await w.controller.metric('keyvault_reloader_restarts_total'), 1);
  const all = versions.slice(since);
  assert.deepEqual(all.filter((v) => v.engineLabel || v.engineOwner), [], 'the engine never wrote the driver\'s Secret');
  assert.ok(all.every((v) => v.driverLabel));
  t.diagnostic(`Secret db, writes by the driver: ${quiet.length} in the first quiet window, ${versions.length - afterRotation} in the one after the rotation, ${all.length} in all; by the sync engine: none (${await notOwnedRounds(w)} rounds stood back)`);
}

describe('the sync engine beside the real CSI driver on the same Secret: the driver owns it, nobody fights', () => {
  it('driver first: the engine never writes the driver\'s Secret, and says so', async (t) => {
    const p = await prepare('coexist-driver-first', { sync: false });
    const versions = await recordVersions(p.env.client, p.ns, 'db');
    t.after(() => versions.stop());
    await p.mount();
    await eventually('the driver to sync Secret db', async () => versions.versions.some((v) => v.driverLabel && v.password === 'first'), 90_000, 250);
    await p.reader();
    const controller = await startSyncController(p.env, { namespaces: [p.ns] });
    t.after(() => controller.proc.kill9());
    await adopted(p.env.client, p.ns);
    await p.optIn();
    const w = { client: p.env.client, ns: p.ns, controller };
    await coexist(t, w, p, versions.versions);
    assert.deepEqual(versions.versions.filter((v) => v.engineLabel || v.engineOwner), [], 'not a single write of the engine\'s, from start to end');
    assert.equal(await controller.metric('keyvault_reloader_secret_writes_total', { result: 'created' }) + await controller.metric('keyvault_reloader_secret_writes_total', { result: 'updated' }), 0);
  });

  it('sync engine first: the driver takes the Secret over with the same bytes, and the engine stands back', async (t) => {
    const p = await prepare('coexist-engine-first', { sync: true });
    const versions = await recordVersions(p.env.client, p.ns, 'db');
    t.after(() => versions.stop());
    const controller = await startSyncController(p.env, { namespaces: [p.ns] });
    t.after(() => controller.proc.kill9());
    await eventually('the engine to create Secret db', async () => versions.versions.some((v) => v.engineLabel && v.engineOwner && v.password === 'first'), 60_000, 250);
    await p.reader();
    await adopted(p.env.client, p.ns);
    await p.mount();
    // The driver's update replaces labels and drops ownerReferences: the Secret is the driver's from then on.
    await eventually('the driver to take Secret db over', async () => { const last = versions.versions.at(-1); return last?.driverLabel && !last.engineLabel && !last.engineOwner; }, 90_000, 250);
    const takeover = versions.versions.findIndex((v) => v.driverLabel);
    assert.ok(versions.versions.slice(0, takeover).every((v) => v.engineLabel && !v.driverLabel), 'until then only the engine wrote it');
    assert.deepEqual([...new Set(versions.versions.map((v) => v.password))], ['first'], 'the driver wrote what the engine had written, byte for byte');
    const w = { client: p.env.client, ns: p.ns, controller };
    await coexist(t, w, p, versions.versions);
    assert.equal(await controller.metric('keyvault_reloader_secret_writes_total', { result: 'created' }), 1);
    assert.equal(await controller.metric('keyvault_reloader_secret_writes_total', { result: 'updated' }), 0);
    // Deleting the class no longer deletes the Secret: its owner is now the driver's (the mounting pod's status object).
    const secret = await p.env.client.request('GET', `/api/v1/namespaces/${p.ns}/secrets/db`);
    assert.deepEqual(secret.metadata.ownerReferences.map((o: any) => o.kind), ['SecretProviderClassPodStatus']);
  });
});
