// Smoke tests that prove the local Azure is real and reached the ways a
// cluster reaches Azure: the official SDK through the egress proxy under the
// public-cloud names with the challenge-resource check on; a service
// account's TokenRequest token exchanged at the Entra emulator, which checks
// the federation against the API server's own discovery document and JWKS;
// requests counted outside the client; the admin's writes, faults and outages;
// certificates kept as Key Vault keeps them (the patched emulator).
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { before, describe, it } from 'node:test';
import { ClientAssertionCredential } from '@azure/identity';
import { KeyClient } from '@azure/keyvault-keys';
import { CertificateClient } from '@azure/keyvault-certificates';
import { SecretClient } from '@azure/keyvault-secrets';
import { AUTHORITY_HOST, LOGIN_HOST, type AzureHandle } from '../../src/localenv/azure.ts';
import { TOKEN_EXCHANGE_AUDIENCE } from '../../src/sync/identity.ts';
import { createNamespace, testEnv, type TestEnv } from '../helpers/env.ts';
import { testAzure } from '../helpers/azure.ts';
import { pemBundle, pki, readPkcs12 } from '../unit/helpers/pki.ts';

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

  it('a private hosts file reaches the same fronts on port 443 (the route of the Azure provider)', async () => {
    const vault = vaultName('hosts');
    const hosts = new Map(azure.hostsFile([vault]).trim().split('\n').map((line) => line.split(' ').reverse() as [string, string]));
    assert.deepEqual([...hosts.keys()], [LOGIN_HOST, `${vault}.vault.azure.net`]);
    assert.equal(hosts.get(LOGIN_HOST), azure.hostsEntries[LOGIN_HOST]);
    assert.equal(hosts.get(`${vault}.vault.azure.net`), azure.hostsEntries['*.vault.azure.net']);
    // Name resolution from that hosts file only, as in the provider's own mount namespace.
    const lookup: LookupFunction = (hostname, options, cb) => {
      const address = hosts.get(hostname);
      const done = cb as (err: Error | null, address: string | Array<{ address: string; family: number }>, family?: number) => void;
      if (address === undefined) done(new Error(`${hostname} is not in the hosts file`), '');
      else if (options.all) done(null, [{ address, family: 4 }]);
      else done(null, address, 4);
    };
    const get = (name: string, pathname: string) =>
      new Promise<{ status: number; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
        const req = https.get({ host: name, port: 443, path: pathname, ca: readFileSync(azure.caFile), lookup }, (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, headers: res.headers });
        });
        req.on('error', reject);
      });
    const challenge = await get(`${vault}.vault.azure.net`, '/secrets/x?api-version=7.5');
    assert.equal(challenge.status, 401);
    assert.match(String(challenge.headers['www-authenticate']), new RegExp(`authorization="https://login.microsoftonline.com/${azure.tenantId}", resource="https://vault.azure.net"`));
    assert.equal((await get(LOGIN_HOST, `/${azure.tenantId}/v2.0/.well-known/openid-configuration`)).status, 200);
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
    await certificates.importCertificate('pfx-cert', pfx.rsaLegacy, { policy: { contentType: 'application/x-pkcs12' } });
    await azure.admin.importCertificate(vault, 'pem-cert', { pem: pemBundle(ec.leaf.keyDer, [ec.leaf, ec.intermediate, ec.root]) });

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

  // A vault as a workload sees it: a federated identity, through the egress proxy.
  async function asWorkload(vault: string, prefix: string): Promise<{ secrets: SecretClient; certificates: CertificateClient }> {
    const ns = await createNamespace(env.client, prefix);
    const clientId = await azure.admin.workloadIdentity(ns, 'kv-reader');
    const credential = workloadCredential(azure, clientId, () => serviceAccountToken(env, ns, 'kv-reader'));
    return { secrets: new SecretClient(azure.vaultUrl(vault), credential, noRetry), certificates: new CertificateClient(azure.vaultUrl(vault), credential, noRetry) };
  }

  it('a PFX with its full chain imports; its secret is that PFX, managed, with the certificate\'s kid, holding the same key and chain; the certificate is the leaf', async () => {
    const vault = vaultName('pfx');
    const { rsa, pfx } = pki();
    const imported = await azure.admin.importCertificate(vault, 'tls', { pfx: pfx.rsaLegacy });
    const { secrets, certificates } = await asWorkload(vault, 'azure-pfx');

    const secret = await secrets.getSecret('tls');
    assert.equal(secret.properties.contentType, 'application/x-pkcs12');
    assert.equal(secret.properties.managed, true);
    assert.equal(secret.properties.certificateKeyId, imported.keyId);
    assert.equal(secret.properties.certificateKeyId, `https://${vault}.vault.azure.net/keys/tls/${imported.properties.version}`);
    assert.equal(secret.properties.version, imported.properties.version, 'the secret has the certificate\'s version');
    assert.equal(secret.value, pfx.rsaLegacy.toString('base64'), 'the PFX byte for byte');
    const held = readPkcs12(Buffer.from(secret.value!, 'base64'));
    assert.deepEqual(held.keys, [rsa.leaf.keyDer]);
    assert.deepEqual(held.certs, [rsa.leaf.certDer, rsa.root.certDer, rsa.intermediate.certDer]);

    const cert = await certificates.getCertificate('tls');
    assert.deepEqual(Buffer.from(cert.cer!), rsa.leaf.certDer);
    assert.equal(cert.properties.x509ThumbprintString, createHash('sha1').update(rsa.leaf.certDer).digest('hex'));
    assert.equal((await certificates.getCertificatePolicy('tls')).contentType, 'application/x-pkcs12');

    // The leaf is the key's certificate wherever the PFX puts it, and the bags stay in their order.
    await azure.admin.importCertificate(vault, 'unordered', { pfx: pfx.rsaUnordered });
    assert.deepEqual(Buffer.from((await certificates.getCertificate('unordered')).cer!), rsa.leaf.certDer);
    const unordered = await secrets.getSecret('unordered');
    assert.equal(unordered.value, pfx.rsaUnordered.toString('base64'));
    assert.deepEqual(readPkcs12(Buffer.from(unordered.value!, 'base64')).certs, [rsa.root.certDer, rsa.leaf.certDer, rsa.intermediate.certDer]);

    // Key Vault keeps no password: the secret holds the same key and chain without one.
    await azure.admin.importCertificate(vault, 'with-password', { pfx: pfx.withPassword, password: 'hunter2' });
    const reencoded = Buffer.from((await secrets.getSecret('with-password')).value!, 'base64');
    assert.notDeepEqual(reencoded, pfx.withPassword);
    assert.deepEqual(readPkcs12(reencoded), readPkcs12(pfx.withPassword, 'hunter2'));
  });

  it('a PEM import keeps its whole chain as given, an EC key without its public key included; its secret is that PEM text, managed, with the kid', async () => {
    const vault = vaultName('pem');
    const { rsa, ec } = pki();
    const full = pemBundle(rsa.leaf.keyDer, [rsa.leaf, rsa.intermediate, rsa.root]);
    const unordered = pemBundle(ec.leafKeyWithoutPublicDer, [ec.intermediate, ec.leaf, ec.root]);
    const fullCert = await azure.admin.importCertificate(vault, 'rsa-pem', { pem: full });
    const ecCert = await azure.admin.importCertificate(vault, 'ec-pem', { pem: unordered });
    const { secrets, certificates } = await asWorkload(vault, 'azure-pem');

    for (const [name, pem, imported, leaf] of [['rsa-pem', full, fullCert, rsa.leaf], ['ec-pem', unordered, ecCert, ec.leaf]] as const) {
      const secret = await secrets.getSecret(name);
      assert.equal(secret.value, pem, `${name}: the PEM text as imported`);
      assert.equal(secret.properties.contentType, 'application/x-pem-file');
      assert.equal(secret.properties.managed, true);
      assert.equal(secret.properties.certificateKeyId, imported.keyId);
      assert.deepEqual(Buffer.from((await certificates.getCertificate(name)).cer!), leaf.certDer, `${name}: the certificate is the key's`);
      assert.equal((await certificates.getCertificatePolicy(name)).contentType, 'application/x-pem-file');
    }
  });

  it('each import is a new version of the certificate and of its secret alike; every listed secret version is managed', async () => {
    const vault = vaultName('versions');
    const { pfx } = pki();
    const first = await azure.admin.importCertificate(vault, 'rotated', { pfx: pfx.rsaLegacy });
    const second = await azure.admin.importCertificate(vault, 'rotated', { pfx: pfx.rsaPartial });
    const { secrets, certificates } = await asWorkload(vault, 'azure-versions');

    const secretVersions = [];
    for await (const p of secrets.listPropertiesOfSecretVersions('rotated')) secretVersions.push([p.version, p.managed]);
    const certVersions = [];
    for await (const p of certificates.listPropertiesOfCertificateVersions('rotated')) certVersions.push(p.version);
    assert.deepEqual(new Set(certVersions), new Set([first.properties.version, second.properties.version]));
    assert.deepEqual(new Map(secretVersions as Array<[string, boolean]>), new Map(certVersions.map((v) => [v!, true])));
    assert.equal((await secrets.getSecret('rotated')).value, pfx.rsaPartial.toString('base64'), 'the latest secret is the latest import');
    assert.equal((await secrets.getSecret('rotated', { version: first.properties.version! })).value, pfx.rsaLegacy.toString('base64'));
    let listed;
    for await (const p of secrets.listPropertiesOfSecrets()) if (p.name === 'rotated') listed = p;
    assert.equal(listed?.managed, true);
  });

  it('an import Key Vault refuses is refused with what to fix, and stores nothing: no private key, a PKCS#1 PEM key, a PFX given as PEM', async () => {
    const vault = vaultName('refused');
    const { rsa, pfx } = pki();
    const pkcs1 = createPrivateKey({ key: rsa.leaf.keyDer, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs1', format: 'pem' }) as string;
    const cases: Array<[string, Parameters<AzureHandle['admin']['importCertificate']>[2], RegExp]> = [
      ['no-key', { pfx: pfx.caOnly }, /the PFX cannot be read \(pkcs12: private key missing\): it must hold one private key and its certificate/],
      ['pkcs1', { pem: pkcs1 + rsa.leaf.certPem }, /the PEM's key is a RSA PRIVATE KEY block, but Key Vault accepts only an unencrypted PKCS#8 key \(PRIVATE KEY\): convert it with `openssl pkcs8 -topk8 -nocrypt`/],
      ['pfx-as-pem', { pfx: pfx.rsaLegacy, contentType: 'application/x-pem-file' }, /the policy's secret_props.contentType is application\/x-pem-file but the value is not PEM text/],
    ];
    for (const [name, certificate, expected] of cases) {
      assert.match(await refusal(azure.admin.importCertificate(vault, name, certificate)), expected, name);
      await assert.rejects(azure.admin.vault(vault).certificates.getCertificate(name), /not found/i, `${name}: nothing stored`);
      await assert.rejects(azure.admin.vault(vault).secrets.getSecret(name), /not found/i, `${name}: no secret`);
    }
  });

  it('a certificate the vault issues itself is backed the same way: a PFX by default, PEM (key, then certificate) when its policy says so', async () => {
    const vault = vaultName('issued');
    const { certificates } = azure.admin.vault(vault);
    for (const contentType of ['application/x-pkcs12', 'application/x-pem-file'] as const) {
      const name = contentType === 'application/x-pkcs12' ? 'self-pfx' : 'self-pem';
      const poller = await certificates.beginCreateCertificate(name, { issuerName: 'Self', subject: `CN=${name}.example.com`, contentType }, { intervalInMs: 50 });
      await poller.pollUntilDone();
    }
    const { secrets, certificates: reader } = await asWorkload(vault, 'azure-issued');
    for (const name of ['self-pfx', 'self-pem']) {
      const cer = Buffer.from((await reader.getCertificate(name)).cer!);
      const secret = await secrets.getSecret(name);
      assert.equal(secret.properties.managed, true);
      let keyDer: Buffer;
      if (name === 'self-pfx') {
        assert.equal(secret.properties.contentType, 'application/x-pkcs12');
        const held = readPkcs12(Buffer.from(secret.value!, 'base64'));
        assert.deepEqual(held.certs, [cer]);
        keyDer = held.keys[0]!;
      } else {
        assert.equal(secret.properties.contentType, 'application/x-pem-file');
        const blocks = [...secret.value!.matchAll(/-----BEGIN ([A-Z ]+)-----\n([^-]+)-----END \1-----\n/g)];
        assert.deepEqual(blocks.map((b) => b[1]), ['PRIVATE KEY', 'CERTIFICATE']);
        assert.deepEqual(Buffer.from(blocks[1]![2]!, 'base64'), cer);
        keyDer = Buffer.from(blocks[0]![2]!, 'base64');
      }
      const spki = (k: { export(o: { type: 'spki'; format: 'der' }): Buffer }) => k.export({ type: 'spki', format: 'der' });
      assert.deepEqual(spki(createPublicKey(createPrivateKey({ key: keyDer, format: 'der', type: 'pkcs8' }))), spki(new X509Certificate(cer).publicKey), `${name}: the key is the certificate's`);
    }
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
    await azure.faults.throttleVault(100);
    await azure.faults.clearVault();
    assert.equal((await reader.getSecret('s')).value, 'v', 'served again once the faults are cleared');

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

