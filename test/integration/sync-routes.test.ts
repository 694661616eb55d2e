// The ways a cluster reaches Azure, as `keyvault-reloader run --mode all`
// takes them: the egress proxy (Key Vault and Entra through it, the API server
// never), a private CA given by --ca-bundle instead of NODE_EXTRA_CA_CERTS,
// a CA it does not trust, the clouds a class can name (built-in, unknown,
// unreachable, and AzureStackCloud from the operator's environment files),
// and AZURE_AUTHORITY_HOST. Bad input gets an Event or a log line saying what
// to fix, and no Secret is written from it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { AzureHandle } from '../../src/localenv/azure.ts';
import { testAzure } from '../helpers/azure.ts';
import { MAIN_TS } from '../helpers/controller.ts';
import { eventually, testEnv, type TestEnv } from '../helpers/env.ts';
import { applyClass, federatedNamespace, getSecret, secretData, startSyncController, syncClass, vaultName, waitEvent, type SyncController } from '../helpers/sync.ts';

const run = promisify(execFile);
const DB = ['objectName: db-password\nobjectType: secret'];
const secretObjects = (secretName: string) => [{ secretName, type: 'Opaque', data: [{ objectName: 'db-password', key: 'password' }] }];

describe('sync engine: the routes to Azure', () => {
  let env: TestEnv;
  let azure: AzureHandle;
  const controllers: SyncController[] = [];
  afterEach(async () => {
    await Promise.all(controllers.splice(0).map((c) => c.proc.kill9()));
  });
  const start = async (opts: Parameters<typeof startSyncController>[1]) => {
    const c = await startSyncController(env, opts);
    controllers.push(c);
    return c;
  };
  /** A federated namespace and a vault holding db-password. */
  const setup = async (prefix: string, value = 'pw') => {
    const n = await federatedNamespace(env, azure, prefix);
    const vault = vaultName(prefix);
    await azure.admin.vault(vault).secrets.setSecret('db-password', value);
    return { ...n, vault, base: { vault, clientID: n.clientID, tenantId: azure.tenantId, objects: DB } };
  };

  before(async () => {
    env = await testEnv();
    azure = await testAzure();
  });

  it('Key Vault and Entra are reached through the egress proxy, the API server never is, and the workload identity webhook\'s AZURE_AUTHORITY_HOST is honoured', async () => {
    const { ns, base } = await setup('routes-proxy');
    await applyClass(env.client, ns, syncClass('app', { ...base, secretObjects: secretObjects('db') }));
    const since = Date.now();
    // NO_PROXY left empty: nothing but the code's own choice keeps the API server off the proxy.
    const c = await start({ namespaces: [ns], env: { NO_PROXY: undefined, no_proxy: undefined, AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.com/' } });
    assert.equal((await secretData(env.client, ns, 'db'))['password']!.toString(), 'pw');
    const targets = new Set((await azure.connects({ since })).map((x) => x.target));
    assert.ok(targets.has('login.microsoftonline.com:443') && targets.has(`${base.vault}.vault.azure.net:443`), [...targets].join(', '));
    const apiServer = new URL(env.server).host;
    assert.ok(![...targets].some((t) => t === apiServer || t.startsWith('127.')), `the proxy never saw the API server (${apiServer}): ${[...targets].join(', ')}`);
    const started = (await c.logs()).find((l) => l['msg'] === 'reaching Key Vault and Entra through the HTTPS proxy');
    assert.equal(started?.['proxy'], azure.proxyUrl.endsWith('/') ? azure.proxyUrl : `${azure.proxyUrl}/`);
  });

  it('a private CA given with --ca-bundle is trusted for Key Vault and Entra alike; without it a clear SyncFailed names the flag and nothing is written', async () => {
    const trusted = await setup('routes-ca');
    await applyClass(env.client, trusted.ns, syncClass('app', { ...trusted.base, secretObjects: secretObjects('db') }));
    const c = await start({ namespaces: [trusted.ns], env: { NODE_EXTRA_CA_CERTS: undefined }, args: ['--ca-bundle', azure.caFile] });
    assert.equal((await secretData(env.client, trusted.ns, 'db'))['password']!.toString(), 'pw');
    assert.ok((await c.logs()).some((l) => l['msg'] === 'trusting the CA bundle for Key Vault and Entra' && l['certificates'] === 1));

    const untrusted = await setup('routes-noca');
    await applyClass(env.client, untrusted.ns, syncClass('app', { ...untrusted.base, secretObjects: secretObjects('db') }));
    await start({ namespaces: [untrusted.ns], env: { NODE_EXTRA_CA_CERTS: undefined } });
    const message = await waitEvent(env.client, untrusted.ns, 'app', 'SyncFailed');
    assert.match(message, /^could not get a token from https:\/\/login\.microsoftonline\.com\/ .*: the TLS certificate of login\.microsoftonline\.com is not trusted \([A-Z_]+\): if a private CA signs it \(or a TLS-inspecting proxy\), give that CA with --ca-bundle \(chart value sync\.caBundle\)/);
    assert.equal(await getSecret(env.client, untrusted.ns, 'db'), undefined);
  });

  it('a CA bundle that cannot be used stops the controller at start-up with a message saying which file and why', async () => {
    const bogus = path.join(env.dir, `not-a-ca-${process.pid}.pem`);
    await writeFile(bogus, 'hello\n');
    for (const [file, expected] of [[bogus, `--ca-bundle ${bogus}: holds no PEM certificate`], ['/nonexistent/ca.pem', '--ca-bundle /nonexistent/ca.pem: could not be read (ENOENT)']] as const) {
      const res = await run(process.execPath, [MAIN_TS, 'run', '--kubeconfig', env.kubeconfig, '--mode', 'sync', '--leader-elect=false', '--health-port', '0', '--ca-bundle', file]).then(
        () => assert.fail('the controller should not start'),
        (e: { code?: number; stderr: string }) => e,
      );
      assert.equal(res.code, 2);
      assert.ok(res.stderr.startsWith(`keyvault-reloader: ${expected}`), res.stderr);
    }
  });

  it('clouds: AzureStackCloud from the operator\'s environment files (and no other path), an unknown cloud, an unreachable one', async () => {
    const { ns, base } = await setup('routes-cloud');
    const dir = env.dir;
    const stackFile = path.join(dir, `stack-${process.pid}.json`);
    const elsewhereFile = path.join(dir, `elsewhere-${process.pid}.json`);
    const resourceFile = path.join(dir, `resource-${process.pid}.json`);
    const brokenFile = path.join(dir, `broken-${process.pid}.json`);
    // A custom cloud whose endpoints are the local Azure's public names: it reads only if the file is used.
    await writeFile(stackFile, JSON.stringify({ name: 'LocalStack', keyVaultDNSSuffix: 'vault.azure.net', activeDirectoryEndpoint: 'https://login.microsoftonline.com/', resourceIdentifiers: { keyVault: 'https://vault.azure.net' } }));
    // Each of these differs from it in one field, so the class's failure shows which field was used.
    await writeFile(elsewhereFile, JSON.stringify({ name: 'Elsewhere', keyVaultDNSSuffix: 'vault.contoso.example', activeDirectoryEndpoint: 'https://login.microsoftonline.com/', resourceIdentifiers: { keyVault: 'https://vault.azure.net' } }));
    await writeFile(resourceFile, JSON.stringify({ name: 'OtherResource', keyVaultDNSSuffix: 'vault.azure.net', activeDirectoryEndpoint: 'https://login.microsoftonline.com/', resourceIdentifiers: { keyVault: 'https://vault.contoso.example' } }));
    await writeFile(brokenFile, '{"keyVaultDNSSuffix": "TOPSECRET-FILE-CONTENT"');
    const stack = (cloudEnvFileName: string) => ({ cloudName: 'AzureStackCloud', cloudEnvFileName });
    await applyClass(env.client, ns, syncClass('stack', { ...base, parameters: stack(stackFile), secretObjects: secretObjects('stack-db') }));
    await applyClass(env.client, ns, syncClass('elsewhere', { ...base, parameters: stack(elsewhereFile), secretObjects: secretObjects('elsewhere-db') }));
    await applyClass(env.client, ns, syncClass('resource', { ...base, parameters: stack(resourceFile), secretObjects: secretObjects('resource-db') }));
    await applyClass(env.client, ns, syncClass('unlisted', { ...base, parameters: stack('/etc/passwd'), secretObjects: secretObjects('unlisted-db') }));
    await applyClass(env.client, ns, syncClass('broken', { ...base, parameters: stack(brokenFile), secretObjects: secretObjects('broken-db') }));
    await applyClass(env.client, ns, syncClass('moon', { ...base, parameters: { cloudName: 'AzureMoonCloud' }, secretObjects: secretObjects('moon-db') }));
    await applyClass(env.client, ns, syncClass('usgov', { ...base, parameters: { cloudName: 'AzureUSGovernmentCloud' }, secretObjects: secretObjects('usgov-db') }));
    const c = await start({ namespaces: [ns], args: ['--cloud-env-file', [stackFile, elsewhereFile, resourceFile, brokenFile].join(',')] });

    assert.equal((await secretData(env.client, ns, 'stack-db'))['password']!.toString(), 'pw', 'the stack file\'s endpoints were used');
    const elsewhere = await waitEvent(env.client, ns, 'elsewhere', 'SyncFailed');
    assert.ok(elsewhere.startsWith(`could not read secret/db-password: secret db-password (latest) in ${base.vault}.vault.contoso.example: 403: answered by a proxy or gateway between the controller and ${base.vault}.vault.contoso.example, not by Key Vault`), `the file's DNS suffix names the vault, and the proxy's refusal is not taken for Key Vault's: ${elsewhere}`);
    const resource = await waitEvent(env.client, ns, 'resource', 'SyncFailed');
    assert.match(resource, /AADSTS500011: The resource principal named https:\/\/vault\.contoso\.example was not found/, 'the file\'s Key Vault resource is the token\'s');
    assert.match(resource, /check the cloud \(cloudName, or the resourceIdentifiers\.keyVault of its environment file\)/);
    const unlisted = await waitEvent(env.client, ns, 'unlisted', 'InvalidSecretProviderClass');
    assert.match(unlisted, /spec\.parameters\.cloudEnvFileName: "\/etc\/passwd" is not one of the environment files keyvault-reloader was given: ask its operator to add it/);
    const broken = await waitEvent(env.client, ns, 'broken', 'InvalidSecretProviderClass');
    assert.match(broken, /is not valid JSON: ask keyvault-reloader's operator to fix it/);
    assert.doesNotMatch(broken, /TOPSECRET/, 'the file\'s content is never quoted');
    const logged = (await c.logs()).find((l) => l['msg'] === 'Azure environment file cannot be used; classes that name it are not synced');
    assert.equal(logged?.['file'], brokenFile);
    assert.doesNotMatch(JSON.stringify(await c.logs()), /TOPSECRET/);
    const moon = await waitEvent(env.client, ns, 'moon', 'InvalidSecretProviderClass');
    assert.match(moon, /spec\.parameters\.cloudName: "AzureMoonCloud" is not a cloud the Azure provider knows: use one of AzurePublicCloud, /);
    const usgov = await waitEvent(env.client, ns, 'usgov', 'SyncFailed');
    assert.match(usgov, /^could not get a token from https:\/\/login\.microsoftonline\.us\/ .*: login\.microsoftonline\.us answers 403 — Entra did not answer as expected: check that login\.microsoftonline\.us is reachable/, 'the US Government cloud\'s own authority, which this network\'s proxy refuses');
    for (const name of ['elsewhere-db', 'resource-db', 'unlisted-db', 'broken-db', 'moon-db', 'usgov-db']) assert.equal(await getSecret(env.client, ns, name), undefined, `${name} is not written`);
  });

  it('an AZURE_AUTHORITY_HOST outside Microsoft is used for every class, and says so when it cannot be reached', async () => {
    const { ns, base } = await setup('routes-authority');
    await applyClass(env.client, ns, syncClass('app', { ...base, secretObjects: secretObjects('db') }));
    const since = Date.now();
    await start({ namespaces: [ns], env: { AZURE_AUTHORITY_HOST: 'https://login.contoso.example/' } });
    const message = await waitEvent(env.client, ns, 'app', 'SyncFailed');
    assert.ok(message.startsWith(`could not get a token from https://login.contoso.example/ for client ID ${base.clientID}`), message);
    assert.match(message, /login\.contoso\.example answers 403/);
    await eventually('the proxy was asked for login.contoso.example', async () => (await azure.connects({ since })).some((x) => x.target === 'login.contoso.example:443'));
    assert.equal(await getSecret(env.client, ns, 'db'), undefined);
  });
});
