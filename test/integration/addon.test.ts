// The real add-on in the local environment: the Secrets Store CSI driver 1.6.0
// and the Azure provider 1.8.2, reaching the Key Vault and Entra emulators by
// their public names with workload identity, driven by the kubelet stand-in.
// What a kubelet would do is checked against what the driver then does.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { driverCrds, requireAddonPrivileges, type AddonState, type DaemonStatus } from '../../src/localenv/addon.ts';
import { PACKAGE_ROOT } from '../../src/localenv/assets.ts';
import { FAKE_NODE_ANNOTATION } from '../../src/localenv/cluster.ts';
import { sweepStale } from '../../src/localenv/process.ts';
import { childEnvVar, deleteAfter, mountingPod, testAddon, vaultName, workloadIdentityClass } from '../helpers/addon.ts';
import { createNamespace, eventually } from '../helpers/env.ts';

const VAULT = vaultName('addon');
const ROTATION = '3s';
const addonEnv = () => testAddon({ republishPeriodMs: 1500, rotationPollInterval: ROTATION, vaults: [VAULT] });

// The schema only: descriptions and controller-gen's annotation say nothing to the API server.
function schemaOf(crd: any): unknown {
  const strip = (v: any): any => (Array.isArray(v) ? v.map(strip) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'description').map(([k, x]) => [k, strip(x)])) : v);
  return { name: crd.metadata.name, spec: strip(crd.spec) };
}

async function createPod(client: any, ns: string, name: string, spec: object) {
  return client.request('POST', `/api/v1/namespaces/${ns}/pods`, { body: { metadata: { name }, spec } });
}

describe('the real add-on in the local environment', () => {
  it("deploy/crds has exactly the schema of the driver's own CRDs, so either replaces the other", async () => {
    const ours = readdirSync(path.join(PACKAGE_ROOT, 'deploy', 'crds')).sort().map((f) => parseYaml(readFileSync(path.join(PACKAGE_ROOT, 'deploy', 'crds', f), 'utf8')));
    const theirs = await driverCrds();
    const byName = (list: any[]) => Object.fromEntries(list.map((c) => [c.metadata.name, schemaOf(c)]));
    assert.deepEqual(byName(ours), byName(theirs));
  });

  it('mounts a class through the real driver and provider: the files, the pod status with the vault version, the synced Secret', async (t) => {
    const { env, azure, addon } = await addonEnv();
    const ns = await createNamespace(env.client, 'addon-mount');
    deleteAfter(env.client, ns);
    const secret = await azure.admin.vault(VAULT).secrets.setSecret('db-password', 's3cret-1');
    await workloadIdentityClass(env.client, azure, ns, {
      name: 'kv',
      vault: VAULT,
      serviceAccount: 'app',
      objects: [{ objectName: 'db-password', objectType: 'secret' }],
      secretObjects: [{ secretName: 'db', type: 'Opaque', data: [{ objectName: 'db-password', key: 'password' }] }],
    });
    const since = Date.now();
    const pod = await createPod(env.client, ns, 'app', mountingPod('kv', 'app'));
    const mounted = await addon.waitMounted({ namespace: ns, name: 'app' }, 'kv');
    const mountMs = Date.now() - since;
    assert.equal(mounted.uid, pod.metadata.uid);
    assert.match(mounted.targetPath, new RegExp(`/pods/${pod.metadata.uid}/volumes/kubernetes\\.io~csi/kv/mount$`));

    const files = await addon.mountedFiles({ namespace: ns, name: 'app' }, 'kv');
    assert.deepEqual(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v.toString()])), { 'db-password': 's3cret-1' });

    // Named, labelled and owned as the driver does it, with the version Key Vault gave the secret.
    const status = await env.client.request('GET', `/apis/secrets-store.csi.x-k8s.io/v1/namespaces/${ns}/secretproviderclasspodstatuses/app-${ns}-kv`);
    assert.equal(status.metadata.labels['internal.secrets-store.csi.k8s.io/node-name'], mounted.node);
    assert.deepEqual(status.metadata.ownerReferences.map((o: any) => [o.kind, o.name, o.uid]), [['Pod', 'app', pod.metadata.uid]]);
    assert.deepEqual(status.status.objects, [{ id: 'secret/db-password', version: secret.properties.version }]);
    assert.equal(status.status.mounted, true);
    assert.equal(status.status.targetPath, mounted.targetPath);

    const synced = await eventually('the driver to sync Secret db', async () => (await addon.syncedSecrets(ns, 'kv'))['db']);
    assert.equal(Buffer.from(synced.data.password, 'base64').toString(), 's3cret-1');
    assert.equal(synced.type, 'Opaque');

    // The mount went to the vault and to Entra by their public names, through the fronts.
    const vaultCalls = (await azure.vaultRequests({ since })).filter((r) => r.vault === VAULT && r.path.startsWith('/secrets/db-password'));
    const tokenCalls = await azure.entraRequests({ since });
    const entraCalls = await azure.entraRequests({ since, all: true });
    assert.ok(vaultCalls.some((r) => r.method === 'GET' && r.status === 200), `no successful GET of the secret among ${JSON.stringify(vaultCalls)}`);
    assert.ok(tokenCalls.some((r) => r.status === 200), `no token was issued: ${JSON.stringify(entraCalls)}`);
    t.diagnostic(`one mount of one secret: ${mountMs} ms from pod creation, ${mounted.lastPublishMs} ms in NodePublishVolume; Key Vault ${vaultCalls.length} requests (${vaultCalls.map((r) => r.status).join(', ')}), Entra ${entraCalls.length} (${tokenCalls.length} token), e.g. ${entraCalls.map((r) => `${r.method} ${r.path}`).join('; ')}`);
  });

  it('republishes on its period; the driver fetches again after its rotation interval and a new version reaches the file, the pod status and the synced Secret', async () => {
    const { env, azure, addon } = await addonEnv();
    const ns = await createNamespace(env.client, 'addon-rotate');
    deleteAfter(env.client, ns);
    const secrets = azure.admin.vault(VAULT).secrets;
    await secrets.setSecret('api-key', 'k1');
    await workloadIdentityClass(env.client, azure, ns, {
      name: 'kv',
      vault: VAULT,
      serviceAccount: 'app',
      objects: [{ objectName: 'api-key', objectType: 'secret' }],
      secretObjects: [{ secretName: 'api', type: 'Opaque', data: [{ objectName: 'api-key', key: 'key' }] }],
    });
    await createPod(env.client, ns, 'app', mountingPod('kv', 'app'));
    const first = await addon.waitMounted({ namespace: ns, name: 'app' }, 'kv');
    // The stand-in calls again by itself: no republishNow here.
    await addon.waitMounted({ namespace: ns, name: 'app' }, 'kv', { publishes: first.publishes + 2 });

    const v2 = await secrets.setSecret('api-key', 'k2');
    await eventually('the new version in the mounted file', async () => (await addon.mountedFiles({ namespace: ns, name: 'app' }, 'kv'))['api-key']?.toString() === 'k2', 60_000);
    const status = await eventually('the new version in the pod status', async () => {
      const s = await env.client.request('GET', `/apis/secrets-store.csi.x-k8s.io/v1/namespaces/${ns}/secretproviderclasspodstatuses/app-${ns}-kv`);
      return s.status.objects[0].version === v2.properties.version ? s : false;
    });
    assert.deepEqual(status.status.objects, [{ id: 'secret/api-key', version: v2.properties.version }]);
    await eventually('the new value in the synced Secret', async () => Buffer.from((await addon.syncedSecrets(ns, 'kv'))['api']?.data?.key ?? '', 'base64').toString() === 'k2');
  });

  it('a pod whose service account has no federated credential does not mount, says why, is retried with backoff, and mounts once it is federated', async () => {
    const { env, azure, addon } = await addonEnv();
    const ns = await createNamespace(env.client, 'addon-nofed');
    deleteAfter(env.client, ns);
    await azure.admin.vault(VAULT).secrets.setSecret('nofed', 'n1');
    // The app exists, but is federated to nobody in this namespace yet.
    const clientID = await azure.admin.registerApp(`${ns}-unfederated`);
    await workloadIdentityClass(env.client, azure, ns, { name: 'kv', vault: VAULT, serviceAccount: 'lonely', clientID, objects: [{ objectName: 'nofed', objectType: 'secret' }] });
    await createPod(env.client, ns, 'app', mountingPod('kv', 'lonely'));
    const failing = await eventually('two failed mounts', async () => {
      const v = (await addon.volumes()).find((x) => x.namespace === ns && x.pod === 'app');
      return v && v.failures >= 2 && !v.published ? v : false;
    });
    assert.match(failing.lastError ?? '', /AADSTS/, `the error should carry Entra's reason: ${failing.lastError}`);
    assert.equal(failing.publishes, 0);
    const none = await env.client.request('GET', `/apis/secrets-store.csi.x-k8s.io/v1/namespaces/${ns}/secretproviderclasspodstatuses`);
    assert.equal(none.items.length, 0, 'no pod status for a mount that failed');

    await azure.admin.federate(clientID, ns, 'lonely');
    const ok = await addon.waitMounted({ namespace: ns, name: 'app' }, 'kv', { timeoutMs: 90_000 });
    assert.ok(ok.failures >= 2);
    assert.equal((await addon.mountedFiles({ namespace: ns, name: 'app' }, 'kv'))['nofed']?.toString(), 'n1');
  });

  it('unpublishes a volume when its pod goes, and removes its folder', async () => {
    const { env, azure, addon } = await addonEnv();
    const ns = await createNamespace(env.client, 'addon-gone');
    deleteAfter(env.client, ns);
    await azure.admin.vault(VAULT).secrets.setSecret('gone', 'g1');
    await workloadIdentityClass(env.client, azure, ns, { name: 'kv', vault: VAULT, serviceAccount: 'app', objects: [{ objectName: 'gone', objectType: 'secret' }] });
    const pod = await createPod(env.client, ns, 'app', mountingPod('kv', 'app'));
    const mounted = await addon.waitMounted({ namespace: ns, name: 'app' }, 'kv');
    const inNamespace = () => readFileSync(`/proc/${addon.state.standinPid}/mountinfo`, 'utf8').includes(` ${mounted.targetPath} `);
    assert.ok(inNamespace(), "the driver's tmpfs is in the stand-in's mount namespace");
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(mounted.targetPath), "and never in this process's");

    await env.client.request('DELETE', `/api/v1/namespaces/${ns}/pods/app`, { body: { gracePeriodSeconds: 0 } });
    await eventually('the volume to be unpublished', async () => !(await addon.volumes()).some((v) => v.uid === pod.metadata.uid));
    assert.ok(!inNamespace(), 'the tmpfs is unmounted');
    assert.ok(!existsSync(path.join(addon.state.dir, 'kubelet', 'pods', pod.metadata.uid)), "the pod's folder is removed");
  });

  it('an add-on whose owner is SIGKILLed leaves no process and no mount behind, and runs beside another one on the same machine', async (t) => {
    const { env, azure, addon } = await addonEnv();
    const ns = await createNamespace(env.client, 'addon-kill');
    deleteAfter(env.client, ns);
    // A node of its own, so that the two add-ons never serve the same pods.
    const node = `kwok-owner-${ns.split('-').pop()}`;
    await env.client.request('POST', '/api/v1/nodes', { body: { metadata: { name: node, annotations: { [FAKE_NODE_ANNOTATION]: 'fake' }, labels: { type: 'kwok' } } } });
    try {
      await eventually(`node ${node} Ready`, async () => (await env.client.request('GET', `/api/v1/nodes/${node}`)).status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
      await azure.admin.vault(VAULT).secrets.setSecret('owned', 'o1');
      await workloadIdentityClass(env.client, azure, ns, { name: 'kv', vault: VAULT, serviceAccount: 'app', objects: [{ objectName: 'owned', objectType: 'secret' }] });
      await createPod(env.client, ns, 'app', mountingPod('kv', 'app', { nodeName: node }));

      const child = spawn(process.execPath, [path.join(PACKAGE_ROOT, 'test', 'helpers', 'addon-owner.ts'), node, ns, 'app', VAULT], {
        env: { ...process.env, ...(await childEnvVar(env, azure)) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      t.after(() => {
        child.kill('SIGKILL');
      });
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`the owner exited (code ${code}) before its add-on mounted`)));
      });
      const owned = JSON.parse(line) as { state: AddonState; daemons: DaemonStatus[]; targetPath: string };
      const pids = [owned.state.standinPid, ...owned.daemons.map((d) => d.pid)];
      assert.ok(readFileSync(`/proc/${owned.state.standinPid}/mountinfo`, 'utf8').includes(` ${owned.targetPath} `), 'the owned add-on had mounted the volume');
      // Two environments on one machine: this file's add-on still serves.
      assert.ok((await addon.daemons()).every((d) => d.serving));

      child.kill('SIGKILL');
      await exited;
      const alive = (pid: number) => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      };
      await eventually('the stand-in, the driver and the provider to die with their owner', async () => pids.every((p) => !alive(p)), 30_000);
      const leftovers = readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .flatMap((p) => {
          try {
            return readFileSync(`/proc/${p}/mountinfo`, 'utf8').split('\n').filter((l) => l.includes(owned.state.dir)).map((l) => `${p}: ${l}`);
          } catch {
            return [];
          }
        });
      assert.deepEqual(leftovers, [], 'no mount under the dead add-on’s folder in any mount namespace');
      // The next run's sweep removes the folder of a dead owner.
      sweepStale();
      await eventually('the sweep to remove the dead add-on’s folder', async () => !existsSync(owned.state.dir));
    } finally {
      await env.client.request('DELETE', `/api/v1/nodes/${node}`).catch(() => {});
    }
  });

  it('fails at once, saying what is missing, without root or without mount namespaces', async () => {
    const probe = `import { requireAddonPrivileges } from ${JSON.stringify(path.join(PACKAGE_ROOT, 'src', 'localenv', 'addon.ts'))};
try { await requireAddonPrivileges('/tmp'); console.log('allowed'); } catch (e) { console.log(e.message); }`;
    const run = (command: string, args: string[], opts: { uid?: number; gid?: number } = {}) =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(command, args, { ...opts, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (out += d));
        child.on('error', reject);
        child.on('exit', () => resolve(out.trim()));
      });
    const node = ['--input-type=module', '-e', probe];
    assert.match(await run(process.execPath, node, { uid: 65534, gid: 65534 }), /need root: the driver mounts a tmpfs per volume.*Run the tests as root/);
    assert.match(await run('setpriv', ['--bounding-set=-sys_admin', '--inh-caps=-sys_admin', process.execPath, ...node]), /needs mount namespaces and tmpfs mounts .*CAP_SYS_ADMIN.*Operation not permitted/);
    assert.equal(await run(process.execPath, node), 'allowed');
    await requireAddonPrivileges('/tmp');
  });
});
