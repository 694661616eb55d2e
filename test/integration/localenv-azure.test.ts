// Smoke tests that prove the local Azure is real and reached the ways a
// cluster reaches Azure: the official SDK through the egress proxy under the
// public-cloud names with the challenge-resource check on; a service
// account's TokenRequest token exchanged at the Entra emulator, which checks
// the federation against the API server's own discovery document and JWKS;
// requests counted outside the client; the admin's writes, faults and outages.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { before, describe, it } from 'node:test';
import { ClientAssertionCredential } from '@azure/identity';
import { KeyClient } from '@azure/keyvault-keys';
import { CertificateClient } from '@azure/keyvault-certificates';
import { SecretClient } from '@azure/keyvault-secrets';
import { AUTHORITY_HOST, LOGIN_HOST, type AzureHandle } from '../../src/localenv/azure.ts';
import { TOKEN_EXCHANGE_AUDIENCE } from '../../src/sync/identity.ts';
import { createNamespace, testEnv, type TestEnv } from '../helpers/env.ts';
import { testAzure } from '../helpers/azure.ts';
import { pki } from '../unit/helpers/pki.ts';

const vaultName = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;
// The product turns the SDK's retries off; so do these clients, so that every attempt is visible.
const noRetry = { retryOptions: { maxRetries: 0 } };

async function serviceAccountToken(env: TestEnv, ns: string, sa: string, audiences = [TOKEN_EXCHANGE_AUDIENCE]): Promise<string> {
  try {
    await env.client.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { body: { metadata: { name: sa } } });
  } catch {
    // Exists.
  }
  const tr = await env.client.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`, { body: { spec: { audiences, expirationSeconds: 600 } } });
  return tr.status.token as string;
}

function workloadCredential(azure: AzureHandle, clientId: string, assertion: () => Promise<string>): ClientAssertionCredential {
  // Exactly what a pod's workload identity uses: the public authority, instance discovery on.
  return new ClientAssertionCredential(azure.tenantId, clientId, assertion, { authorityHost: AUTHORITY_HOST });
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return String((err as Error).message);
  }
  assert.fail('expected a refusal');
}

describe('local Azure: Entra ID and Key Vault emulators under their public names', () => {
  let env: TestEnv;
  let azure: AzureHandle;

  before(async () => {
    env = await testEnv();
    azure = await testAzure();
  });

  it('a service account\'s token, exchanged at Entra for a vault token, reads a secret through the egress proxy with the SDK\'s challenge check on', async () => {
    const ns = await createNamespace(env.client, 'azure-smoke');
    const clientId = await azure.admin.workloadIdentity(ns, 'kv-reader');
    const vault = vaultName('smoke');
    await azure.admin.vault(vault).secrets.setSecret('db-password', 's3cret-value');

    const since = Date.now();
    const client = new SecretClient(azure.vaultUrl(vault), workloadCredential(azure, clientId, () => serviceAccountToken(env, ns, 'kv-reader')), noRetry);
    const secret = await client.getSecret('db-password');
    assert.equal(secret.value, 's3cret-value');
    assert.equal(secret.properties.vaultUrl, `https://${vault}.vault.azure.net`);

    const connects = await azure.connects({ since });
    assert.ok(connects.some((c) => c.target === `${LOGIN_HOST}:443` && c.status === 200), `Entra was reached through the proxy: ${JSON.stringify(connects)}`);
    assert.ok(connects.some((c) => c.target === `${vault}.vault.azure.net:443` && c.status === 200), `the vault was reached through the proxy: ${JSON.stringify(connects)}`);
    // The challenge (401 without a token), then the read; and one token request for it.
    const reads = await azure.vaultRequests({ since });
    assert.deepEqual(reads.map((r) => [r.vault, r.method, r.path, r.status]), [[vault, 'GET', '/secrets/db-password/', 401], [vault, 'GET', '/secrets/db-password/', 200]]);
    const tokens = await azure.entraRequests({ since });
    assert.deepEqual(tokens.map((t) => [t.path, t.status]), [[`/${azure.tenantId}/oauth2/v2.0/token`, 200]]);
  });

  it('Entra checks the federation for real: no federated credential, another namespace, a forged signature or another audience are refused', async () => {
    const ns = await createNamespace(env.client, 'azure-fed');
    const other = await createNamespace(env.client, 'azure-fed');
    const clientId = await azure.admin.workloadIdentity(ns, 'kv-reader');
    const scope = 'https://vault.azure.net/.default';
    const good = await serviceAccountToken(env, ns, 'kv-reader');
    assert.ok(await workloadCredential(azure, clientId, async () => good).getToken(scope), 'the federated service account gets a token');

    const [h, c, s] = good.split('.');
    const sig = Buffer.from(s!, 'base64url');
    sig[0] = sig[0]! ^ 1;
    const cases: Array<[string, () => Promise<string>, RegExp]> = [
      ['a service account without a federated credential', () => serviceAccountToken(env, ns, 'unfederated'), new RegExp(`AADSTS700213: No matching federated identity record found for issuer '${env.issuer}' and subject 'system:serviceaccount:${ns}:unfederated'`)],
      ['the same name in another namespace', () => serviceAccountToken(env, other, 'kv-reader'), new RegExp(`AADSTS700213: No matching federated identity record .*system:serviceaccount:${other}:kv-reader`)],
      ['a token whose signature the API server\'s JWKS does not verify', async () => `${h}.${c}.${sig.toString('base64url')}`, /AADSTS700213: Federated assertion signature validation failed/],
      ['a token for another audience', () => serviceAccountToken(env, ns, 'kv-reader', [env.issuer]), /AADSTS700213: No matching federated identity record/],
    ];
    for (const [what, assertion, expected] of cases) {
      assert.match(await refusal(workloadCredential(azure, clientId, assertion).getToken(scope)), expected, what);
    }
    const audit = await azure.admin.entraAudit();
    assert.ok(audit.filter((e) => e.clientId === clientId && !e.ok).length >= cases.length, 'Entra\'s own audit records each refusal');
  });

  it('the egress proxy refuses a name it does not serve with 403, saying what it serves', async () => {
    const since = Date.now();
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL(azure.proxyUrl);
      const req = http.request({ host: url.hostname, port: url.port, method: 'CONNECT', path: 'management.azure.com:443' });
      req.on('connect', (res, socket, head) => {
        let body = head.toString();
        socket.on('data', (d) => (body += d));
        socket.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(answer.status, 403);
    assert.match(answer.body, /management\.azure\.com:443 is not served here \(it serves login\.microsoftonline\.com:443 and \*\.vault\.azure\.net:443\)/);
    // Through the SDK the refusal reaches the caller as the proxy's answer, not a hang.
    const client = new SecretClient('https://kv.vault.usgovcloudapi.net/', workloadCredential(azure, 'none', async () => 'x'), noRetry);
    assert.match(await refusal(client.getSecret('x')), /403|not served/);
    const refused = (await azure.connects({ since })).filter((c) => c.status === 403).map((c) => c.target);
    assert.deepEqual(refused, ['management.azure.com:443', 'kv.vault.usgovcloudapi.net:443']);
  });

  it('the admin writes every kind of object through the SDK, and the admin\'s own requests are left out of the counts', async () => {
    const vault = vaultName('objects');
    const { secrets, keys, certificates } = azure.admin.vault(vault);
    const since = Date.now();
    const { rsa, ec, pfx } = pki();
    for (const [name, value, contentType] of [
      ['plain', 'hello', undefined],
      ['json', '{"a":1}', 'application/json'],
      ['pem', rsa.leaf.certPem, 'application/x-pem-file'],
      ['pfx', pfx.rsaLegacy.toString('base64'), 'application/x-pkcs12'],
      ['binary', Buffer.from([0, 1, 2, 255]).toString('base64'), 'application/octet-stream'],
    ] as const) {
      await secrets.setSecret(name, value, contentType ? { contentType } : {});
    }
    const v1 = await secrets.setSecret('rotated', 'one');
    const v2 = await secrets.setSecret('rotated', 'two');
    const v3 = await secrets.setSecret('rotated', 'three');
    await secrets.updateSecretProperties('rotated', v2.properties.version!, { enabled: false });
    await keys.createRsaKey('rsa-key', { keySize: 2048 });
    await keys.createEcKey('ec-key', { curve: 'P-256' });
    // The emulator's PKCS#12 reader takes a key and one certificate (a PFX with its chain is refused).
    await certificates.importCertificate('pfx-cert', pfx.leafOnly, { policy: { contentType: 'application/x-pkcs12' } });
    const pemChain = Buffer.from(pemOf(ec.leaf.keyDer, 'PRIVATE KEY') + ec.leaf.certPem + ec.intermediate.certPem + ec.root.certPem);
    await certificates.importCertificate('pem-cert', pemChain, { policy: { contentType: 'application/x-pem-file' } });

    // Read back as a workload would: through the proxy, with a federated identity.
    const ns = await createNamespace(env.client, 'azure-objects');
    const clientId = await azure.admin.workloadIdentity(ns, 'kv-reader');
    const credential = workloadCredential(azure, clientId, () => serviceAccountToken(env, ns, 'kv-reader'));
    const reader = new SecretClient(azure.vaultUrl(vault), credential, noRetry);
    assert.equal((await reader.getSecret('json')).properties.contentType, 'application/json');
    assert.equal((await reader.getSecret('pem')).value, rsa.leaf.certPem);
    assert.equal((await reader.getSecret('rotated')).value, 'three');
    assert.equal((await reader.getSecret('rotated', { version: v1.properties.version! })).value, 'one');
    const versions = [];
    for await (const p of reader.listPropertiesOfSecretVersions('rotated')) versions.push([p.version, p.enabled]);
    assert.deepEqual(new Map(versions as Array<[string, boolean]>), new Map([[v1.properties.version!, true], [v2.properties.version!, false], [v3.properties.version!, true]]));
    await assert.rejects(reader.getSecret('rotated', { version: v2.properties.version! }), /disabled|Forbidden|403/i, 'a disabled version is not served');
    const keyReader = new KeyClient(azure.vaultUrl(vault), credential, noRetry);
    assert.equal((await keyReader.getKey('rsa-key')).keyType, 'RSA');
    const ecKey = await keyReader.getKey('ec-key');
    assert.deepEqual([ecKey.keyType, ecKey.key?.crv], ['EC', 'P-256']);
    const certReader = new CertificateClient(azure.vaultUrl(vault), credential, noRetry);
    const fromPfx = await certReader.getCertificate('pfx-cert');
    assert.deepEqual(Buffer.from(fromPfx.cer!), rsa.leaf.certDer, 'the PFX\'s leaf is the certificate');
    const fromPem = await certReader.getCertificate('pem-cert');
    assert.deepEqual(Buffer.from(fromPem.cer!), ec.leaf.certDer, 'the PEM\'s leaf is the certificate');

    const all = await azure.vaultRequests({ since, includeAdmin: true });
    const mine = await azure.vaultRequests({ since });
    assert.ok(all.some((r) => r.admin && r.method === 'PUT' && r.path === '/secrets/rotated'), 'the admin\'s writes went to the front, marked as the admin\'s');
    assert.ok(mine.length > 0 && mine.every((r) => !r.admin && r.method === 'GET'), 'the default counts only the workload\'s reads');
    assert.equal(mine.filter((r) => r.path === '/secrets/rotated/' && r.status === 200).length, 1, 'one read of the latest "rotated"');
  });

  it('faults: 429 with Retry-After and 500 from the vault, refused tokens and slow tokens from Entra', async () => {
    const ns = await createNamespace(env.client, 'azure-faults');
    const clientId = await azure.admin.workloadIdentity(ns, 'kv-reader');
    const vault = vaultName('faults');
    await azure.admin.vault(vault).secrets.setSecret('s', 'v');
    const credential = workloadCredential(azure, clientId, () => serviceAccountToken(env, ns, 'kv-reader'));
    const reader = new SecretClient(azure.vaultUrl(vault), credential, noRetry);
    assert.equal((await reader.getSecret('s')).value, 'v');

    await azure.faults.throttleVault(1);
    const throttled = await reader.getSecret('s').then(() => undefined, (err) => err as { statusCode?: number; response?: { headers: { get(n: string): string | undefined } } });
    assert.equal(throttled?.statusCode, 429);
    assert.equal(throttled?.response?.headers.get('retry-after'), '1');
    await azure.faults.failVault(1);
    assert.match(await refusal(reader.getSecret('s')), /Injected fault/);
    assert.equal((await reader.getSecret('s')).value, 'v', 'served again once the faults are used up');

    await azure.faults.failEntraTokens({ error: 'temporarily_unavailable', description: 'AADSTS50000: injected outage' });
    try {
      const fresh = workloadCredential(azure, clientId, () => serviceAccountToken(env, ns, 'kv-reader'));
      assert.match(await refusal(fresh.getToken('https://vault.azure.net/.default')), /temporarily_unavailable|AADSTS50000/);
    } finally {
      await azure.faults.clearEntra();
    }
    assert.ok(await workloadCredential(azure, clientId, () => serviceAccountToken(env, ns, 'kv-reader')).getToken('https://vault.azure.net/.default'));
  });

  it('vault permissions: a principal not granted an operation is refused 403; {} restores full access', async () => {
    const ns = await createNamespace(env.client, 'azure-perms');
    const reader = await azure.admin.workloadIdentity(ns, 'reader');
    const outsider = await azure.admin.workloadIdentity(ns, 'outsider');
    const vault = vaultName('perms');
    await azure.admin.vault(vault).secrets.setSecret('s', 'v');
    const client = (clientId: string, sa: string) => new SecretClient(azure.vaultUrl(vault), workloadCredential(azure, clientId, () => serviceAccountToken(env, ns, sa)), noRetry);
    await azure.admin.setVaultPermissions({ [reader]: ['secrets/get'] });
    try {
      assert.equal((await client(reader, 'reader').getSecret('s')).value, 'v');
      assert.match(await refusal(client(outsider, 'outsider').getSecret('s')), /not permitted to perform secrets\/get/);
      assert.match(await refusal(client(reader, 'reader').setSecret('s', 'w')), /not permitted to perform secrets\/set/);
      await azure.admin.vault(vault).secrets.setSecret('s', 'by-admin');
    } finally {
      await azure.admin.setVaultPermissions({});
    }
    assert.equal((await client(outsider, 'outsider').getSecret('s')).value, 'by-admin');
  });

  it('clocks: an access token the vault\'s clock sees as expired is refused; an assertion Entra\'s clock sees as expired is refused; a slow token endpoint is slow', async () => {
    const ns = await createNamespace(env.client, 'azure-clock');
    const clientId = await azure.admin.workloadIdentity(ns, 'kv-reader');
    const vault = vaultName('clock');
    await azure.admin.vault(vault).secrets.setSecret('s', 'v');
    const credential = workloadCredential(azure, clientId, () => serviceAccountToken(env, ns, 'kv-reader'));
    const client = new SecretClient(azure.vaultUrl(vault), credential, noRetry);
    assert.equal((await client.getSecret('s')).value, 'v');

    await azure.faults.vaultClock({ advanceSeconds: 2 * 3600 });
    try {
      assert.match(await refusal(client.getSecret('s')), /expired/);
    } finally {
      await azure.faults.vaultClock({ offsetSeconds: 0 });
    }
    assert.equal((await client.getSecret('s')).value, 'v');

    // A TokenRequest token lives 10 minutes; an hour later Entra judges it expired.
    const assertion = await serviceAccountToken(env, ns, 'kv-reader');
    await azure.faults.entraClock({ advanceSeconds: 3600 });
    try {
      assert.match(await refusal(workloadCredential(azure, clientId, async () => assertion).getToken('https://vault.azure.net/.default')), /AADSTS700213: The federated assertion has expired/);
    } finally {
      await azure.faults.entraClock({ offsetSeconds: 0 });
    }

    await azure.faults.delayEntraTokens(1500);
    try {
      const started = Date.now();
      assert.ok(await workloadCredential(azure, clientId, async () => assertion).getToken('https://vault.azure.net/.default'));
      assert.ok(Date.now() - started >= 1500, 'the token response waited for the injected latency');
    } finally {
      await azure.faults.clearEntra();
    }
  });

  it('an emulator stopped is an outage (the proxy answers 502, names are refused) and starts again with its state', async () => {
    const ns = await createNamespace(env.client, 'azure-outage');
    const clientId = await azure.admin.workloadIdentity(ns, 'kv-reader');
    const vault = vaultName('outage');
    await azure.admin.vault(vault).secrets.setSecret('s', 'kept');
    const reader = () => new SecretClient(azure.vaultUrl(vault), workloadCredential(azure, clientId, () => serviceAccountToken(env, ns, 'kv-reader')), noRetry);
    assert.equal((await reader().getSecret('s')).value, 'kept');

    const since = Date.now();
    await azure.keyVault.stop();
    try {
      await assert.rejects(reader().getSecret('s'));
      assert.ok((await azure.connects({ since })).some((c) => c.target === `${vault}.vault.azure.net:443` && c.status === 502), 'the proxy could not reach the vault');
    } finally {
      await azure.keyVault.start();
    }
    assert.equal((await reader().getSecret('s')).value, 'kept', 'the vault kept its objects');

    await azure.entra.stop();
    try {
      assert.match(await refusal(reader().getSecret('s')), /502|Bad Gateway|ECONNRESET|socket|network/i);
    } finally {
      await azure.entra.start();
    }
    assert.equal((await reader().getSecret('s')).value, 'kept', 'Entra kept the app and its federated credential');
  });
});

function pemOf(der: Uint8Array, type: string): string {
  const body = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${body.join('\n')}\n-----END ${type}-----\n`;
}
