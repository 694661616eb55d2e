// Faults on the Azure side, end to end through `keyvault-reloader run --mode
// all`: Key Vault throttling with Retry-After (the emulator's fault API), a
// vault outage (the emulator stopped), an Entra outage, and assertions Entra
// refuses or judges expired. In each, the last good Secret stays byte for
// byte, an Event and a metric say what failed, reads back off, and the class
// recovers by itself once the fault is gone.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { V1Secret } from '@kubernetes/client-node';
import type { AzureHandle } from '../../src/localenv/azure.ts';
import { testAzure } from '../helpers/azure.ts';
import { eventually, testEnv, type TestEnv } from '../helpers/env.ts';
import { applyClass, federatedNamespace, getSecret, secretData, startSyncController, SYNC_SA, syncClass, vaultName, waitEvent, type SyncController } from '../helpers/sync.ts';

const DB = ['objectName: db-password\nobjectType: secret'];
const SECRET_OBJECTS = [{ secretName: 'db', type: 'Opaque', data: [{ objectName: 'db-password', key: 'password' }] }];

describe('sync engine: Azure faults leave the last good Secret and heal by themselves', () => {
  let env: TestEnv;
  let azure: AzureHandle;
  let controller: SyncController;
  let namespaces: Array<{ ns: string; clientID: string }>;
  const vaults: string[] = [];

  before(async () => {
    env = await testEnv();
    azure = await testAzure();
    // One controller for every case, each in a namespace and vault of its own.
    namespaces = [];
    for (let i = 0; i < 4; i++) {
      const n = await federatedNamespace(env, azure, 'faults');
      const vault = vaultName('faults');
      await azure.admin.vault(vault).secrets.setSecret('db-password', 'v1');
      await applyClass(env.client, n.ns, syncClass('app', { vault, clientID: n.clientID, tenantId: azure.tenantId, objects: DB, secretObjects: SECRET_OBJECTS }));
      namespaces.push(n);
      vaults.push(vault);
    }
    controller = await startSyncController(env, { namespaces: namespaces.map((n) => n.ns) });
    for (const { ns } of namespaces) await secretData(env.client, ns, 'db', (d) => d['password']?.toString() === 'v1');
  });
  after(async () => {
    await azure.faults.clearVault();
    await azure.faults.clearEntra();
    await azure.faults.entraClock({ offsetSeconds: 0 });
    await controller?.proc.kill9();
  });

  const unchanged = async (ns: string, before: V1Secret | undefined) => {
    const now = await getSecret(env.client, ns, 'db');
    assert.equal(now?.metadata?.resourceVersion, before?.metadata?.resourceVersion, 'not written');
    assert.deepEqual(now?.data, before?.data, 'byte for byte');
  };

  it('429 with Retry-After: every attempt waits what the vault asked, SyncFailed and the metrics say so, the Secret stays, and it recovers', async () => {
    const { ns } = namespaces[0]!;
    const vault = vaults[0]!;
    const before = await getSecret(env.client, ns, 'db');
    const since = Date.now();
    // The count is the emulator's, for every vault: enough for this class's five attempts whatever the others take.
    await azure.faults.throttleVault(60);
    const message = await waitEvent(env.client, ns, 'app', 'SyncFailed', /429/);
    assert.match(message, /^could not read secret\/db-password: secret db-password \(latest\) in [-a-z0-9]+\.vault\.azure\.net: 429 Throttled: Injected throttling; retry the request\. \(after 5 attempts\)\. Left unchanged \(last good value kept\): Secret db\.$/);
    await unchanged(ns, before);
    assert.ok(await controller.metric('keyvault_reloader_sync_errors_total', { namespace: ns, class: 'app', reason: 'throttled' }) >= 1);
    assert.ok(await controller.metric('keyvault_reloader_keyvault_requests_total', { vault: `${vault}.vault.azure.net`, result: 'throttled' }) >= 5);

    const throttled = (await azure.vaultRequests({ since })).filter((r) => r.vault === vault && r.status === 429);
    assert.ok(throttled.length >= 5);
    const gaps = throttled.slice(1).map((r, i) => r.at - throttled[i]!.at);
    assert.ok(gaps.every((g) => g >= 950), `Retry-After: 1 is waited out before each attempt: ${gaps.join(', ')} ms`);

    await azure.faults.clearVault();
    await azure.admin.vault(vault).secrets.setSecret('db-password', 'v2');
    await secretData(env.client, ns, 'db', (d) => d['password']?.toString() === 'v2');
    await waitEvent(env.client, ns, 'app', 'SyncRecovered');
  });

  it('a vault outage: the Secret stays through it, reads back off, and the class syncs again once the vault is back', async () => {
    const { ns } = namespaces[1]!;
    const vault = vaults[1]!;
    const before = await getSecret(env.client, ns, 'db');
    await azure.keyVault.stop();
    const down = Date.now();
    try {
      // (The first case's throttling, counted for every vault, may have left a 429 SyncFailed here too.)
      const message = await waitEvent(env.client, ns, 'app', 'SyncFailed', new RegExp(`could not read secret/db-password: secret db-password \\(latest\\) in ${vault}\\.vault\\.azure\\.net: 502`));
      assert.match(message, /502: answered by a proxy or gateway between the controller and [-a-z0-9]+\.vault\.azure\.net, not by Key Vault: check that the egress proxy allows/);
      assert.match(message, /Left unchanged \(last good value kept\): Secret db\./);
      // A minute and more of outage, and three failed rounds at least.
      await eventually('three failed rounds and a minute of outage', async () => Date.now() - down >= 60_000 && (await controller.metric('keyvault_reloader_sync_errors_total', { namespace: ns, class: 'app', reason: 'read' })) >= 3, 120_000, 1000);
      await unchanged(ns, before);
      const attempts = (await azure.connects({ since: down })).filter((c) => c.target === `${vault}.vault.azure.net:443`);
      const seconds = (Date.now() - down) / 1000;
      // Polled every second, a class that did not back off would have tried about once a second.
      assert.ok(attempts.length < seconds / 3, `${attempts.length} connection attempts in ${seconds.toFixed(0)} s of outage`);
    } finally {
      await azure.keyVault.start();
    }
    await azure.admin.vault(vault).secrets.setSecret('db-password', 'after-outage');
    await secretData(env.client, ns, 'db', (d) => d['password']?.toString() === 'after-outage', 120_000);
    await waitEvent(env.client, ns, 'app', 'SyncRecovered');
  });

  it('an Entra outage when a new token is needed: SyncFailed names the authority, the Secret stays, and the class recovers', async () => {
    const { ns } = namespaces[2]!;
    const vault = vaults[2]!;
    // Another app, federated for the same service account: the engine has no token for it yet.
    const second = await azure.admin.registerApp(`faults-second-${ns}`);
    await azure.admin.federate(second, ns, SYNC_SA);
    const before = await getSecret(env.client, ns, 'db');
    await azure.entra.stop();
    try {
      await applyClass(env.client, ns, syncClass('app', { vault, clientID: second, tenantId: azure.tenantId, objects: DB, secretObjects: SECRET_OBJECTS }));
      const message = await waitEvent(env.client, ns, 'app', 'SyncFailed', /could not get a token/);
      assert.ok(message.startsWith(`could not get a token from https://login.microsoftonline.com/ for client ID ${second} in tenant ${azure.tenantId} (system:serviceaccount:${ns}:${SYNC_SA})`), message);
      assert.match(message, /check that login\.microsoftonline\.com is reachable from the controller/);
      await unchanged(ns, before);
      assert.ok(await controller.metric('keyvault_reloader_sync_errors_total', { namespace: ns, class: 'app', reason: 'identity' }) >= 1);
    } finally {
      await azure.entra.start();
    }
    // The vault changes only now: the engine, still on the identity it had a token for, could have read it before.
    await azure.admin.vault(vault).secrets.setSecret('db-password', 'v2');
    // MSAL holds back a request that met a server error for a minute (its throttling), on top of the engine's backoff.
    await secretData(env.client, ns, 'db', (d) => d['password']?.toString() === 'v2', 240_000);
    await waitEvent(env.client, ns, 'app', 'SyncRecovered');
  });

  it('an assertion Entra refuses, then one it judges expired: each a clear SyncFailed with Entra\'s reason, no token or value in it, the Secret kept, and recovery by itself', async () => {
    const { ns } = namespaces[3]!;
    const vault = vaults[3]!;
    const third = await azure.admin.registerApp(`faults-third-${ns}`);
    await azure.admin.federate(third, ns, SYNC_SA);
    const before = await getSecret(env.client, ns, 'db');

    await azure.faults.failEntraTokens({ error: 'invalid_client', description: 'AADSTS7000215: Invalid client secret provided (injected refusal)' });
    try {
      await applyClass(env.client, ns, syncClass('app', { vault, clientID: third, tenantId: azure.tenantId, objects: DB, secretObjects: SECRET_OBJECTS }));
      const refused = await waitEvent(env.client, ns, 'app', 'SyncFailed', /AADSTS7000215/);
      assert.match(refused, /^federated credential rejected: Entra refused to exchange the token of /);
      assert.match(refused, new RegExp(`check the app registration of client ID ${third}`));
      assert.doesNotMatch(refused, /eyJ/, 'no token');
      await unchanged(ns, before);
    } finally {
      await azure.faults.clearEntra();
    }

    // Entra's clock an hour ahead: every service-account token (10 minutes) looks expired to it.
    const fourth = await azure.admin.registerApp(`faults-fourth-${ns}`);
    await azure.admin.federate(fourth, ns, SYNC_SA);
    await azure.faults.entraClock({ offsetSeconds: 3600 });
    try {
      await applyClass(env.client, ns, syncClass('app', { vault, clientID: fourth, tenantId: azure.tenantId, objects: DB, secretObjects: SECRET_OBJECTS }));
      const expired = await waitEvent(env.client, ns, 'app', 'SyncFailed', new RegExp(`client ID ${fourth}`));
      assert.match(expired, /AADSTS\d+: .*expired.* — the service-account token was judged outside its lifetime: check that the clocks of the cluster and of Entra agree/);
      await unchanged(ns, before);
    } finally {
      await azure.faults.entraClock({ offsetSeconds: 0 });
    }
    await azure.admin.vault(vault).secrets.setSecret('db-password', 'v2');
    await secretData(env.client, ns, 'db', (d) => d['password']?.toString() === 'v2', 120_000);
    await waitEvent(env.client, ns, 'app', 'SyncRecovered');
  });
});
