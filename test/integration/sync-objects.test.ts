// Every kind of Key Vault object a SecretProviderClass can name, read by
// `keyvault-reloader run --mode all` as its own process from the Key Vault
// emulator through the egress proxy with a federated workload identity, and
// written into Secrets byte for byte as the add-on writes them. Each expected
// value is built here from the vault's own answer (read with the SDK as the
// admin) or from the key material the test made, not by the product's code.
//
// Certificates are imported as PFX (with its chain) and as PEM; their secrets
// are what Key Vault keeps for them (a PKCS#12 or the PEM, with `kid`), so a
// secret that backs a certificate is rendered as the add-on does it: PEM key
// first and the chain leaf to root, `.crt` and `.key` files, or the PFX as is.
// PKCS#12 and PEM content stored as plain secrets, as users also do, too.
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { AzureHandle } from '../../src/localenv/azure.ts';
import { testAzure } from '../helpers/azure.ts';
import { testEnv, type TestEnv } from '../helpers/env.ts';
import { applyClass, federatedNamespace, getSecret, secretData, startSyncController, syncClass, vaultName, type SyncController } from '../helpers/sync.ts';
import { goPem, pki } from '../unit/helpers/pki.ts';

describe('sync engine: every object type, format, encoding, alias, version and history, end to end', () => {
  let env: TestEnv;
  let azure: AzureHandle;
  let controller: SyncController | undefined;
  after(() => controller?.proc.kill9());

  before(async () => {
    env = await testEnv();
    azure = await testAzure();
  });

  it('writes each object as the add-on does, into Opaque and kubernetes.io/tls Secrets', async () => {
    const { ns, clientID } = await federatedNamespace(env, azure, 'sync-objects');
    const vault = vaultName('objects');
    const { secrets, keys, certificates } = azure.admin.vault(vault);
    const p = pki();
    const binary = Buffer.from([0, 1, 2, 0x7f, 0x80, 0xfe, 0xff, 10, 13]);

    await secrets.setSecret('plain', 'hellö wörld\n');
    await secrets.setSecret('b64', binary.toString('base64'));
    await secrets.setSecret('hexed', binary.toString('hex'));
    // Versions are ordered by their creation time, in seconds: the vault's clock moves on between them.
    const one = await secrets.setSecret('multi', 'one');
    await azure.faults.vaultClock({ advanceSeconds: 2 });
    const two = await secrets.setSecret('multi', 'two');
    await azure.faults.vaultClock({ advanceSeconds: 2 });
    await secrets.setSecret('multi', 'three');
    await azure.faults.vaultClock({ offsetSeconds: 0 });
    await secrets.updateSecretProperties('multi', two.properties.version!, { enabled: false });
    const rsaKey = await keys.createRsaKey('rsa-key', { keySize: 2048 });
    const ecKey = await keys.createEcKey('ec-key', { curve: 'P-384' });
    await certificates.importCertificate('pfx-cert', p.pfx.rsaLegacy, { policy: { contentType: 'application/x-pkcs12' } });
    const pemChain = goPem('PRIVATE KEY', p.ec.leaf.keyDer) + p.ec.leaf.certPem + p.ec.intermediate.certPem;
    await certificates.importCertificate('pem-cert', Buffer.from(pemChain), { policy: { contentType: 'application/x-pem-file' } });
    await secrets.setSecret('tls-pfx', p.pfx.leafOnly.toString('base64'), { contentType: 'application/x-pkcs12' });
    await secrets.setSecret('tls-pem', pemChain, { contentType: 'application/x-pem-file' });
    // What the vault keeps for the certificates' secrets, as it returns them.
    const pfxStored = await secrets.getSecret('pfx-cert');
    const pemStored = await secrets.getSecret('pem-cert');
    assert.ok(pfxStored.properties.certificateKeyId && pemStored.properties.certificateKeyId, 'the certificates\' secrets carry kid, as Key Vault\'s do');

    const cls = syncClass('everything', {
      vault,
      clientID,
      tenantId: azure.tenantId,
      objects: [
        'objectName: plain\nobjectType: secret\nobjectAlias: plain.txt',
        'objectName: b64\nobjectType: secret\nobjectEncoding: base64',
        'objectName: hexed\nobjectType: secret\nobjectEncoding: HEX',
        `objectName: multi\nobjectType: secret\nobjectAlias: pinned\nobjectVersion: ${one.properties.version}`,
        'objectName: multi\nobjectType: secret\nobjectAlias: history\nobjectVersionHistory: 3',
        'objectName: rsa-key\nobjectType: key',
        'objectName: ec-key\nobjectType: key',
        'objectName: pfx-cert\nobjectType: cert\nobjectAlias: leaf.pem',
        'objectName: pem-cert\nobjectType: cert\nobjectAlias: ec-leaf.pem',
        'objectName: pfx-cert\nobjectType: secret',
        'objectName: pfx-cert\nobjectType: secret\nobjectAlias: cert-pfx\nobjectFormat: pfx',
        'objectName: pfx-cert\nobjectType: secret\nobjectAlias: cert-pfx.bin\nobjectFormat: pfx\nobjectEncoding: base64',
        'objectName: pem-cert\nobjectType: secret',
        'objectName: tls-pfx\nobjectType: secret\nobjectFormat: pfx',
        'objectName: tls-pfx\nobjectType: secret\nobjectAlias: tls-pfx.bin\nobjectFormat: pfx\nobjectEncoding: base64',
        'objectName: tls-pem\nobjectType: secret',
      ],
      secretObjects: [
        {
          secretName: 'app',
          type: 'Opaque',
          labels: { team: 'payments' },
          annotations: { note: 'synced' },
          data: [
            { objectName: 'plain.txt', key: 'plain' },
            { objectName: 'b64', key: 'b64' },
            { objectName: 'hexed', key: 'hexed' },
            { objectName: 'pinned', key: 'pinned' },
            { objectName: 'history/0', key: 'current' },
            { objectName: 'history/1', key: 'previous' },
            { objectName: 'rsa-key', key: 'rsa.pub' },
            { objectName: 'ec-key', key: 'ec.pub' },
            { objectName: 'leaf.pem', key: 'leaf.pem' },
            { objectName: 'ec-leaf.pem', key: 'ec-leaf.pem' },
            { objectName: 'tls-pfx', key: 'pfx.b64' },
            { objectName: 'tls-pfx.bin', key: 'pfx.bin' },
            { objectName: 'tls-pem', key: 'pem' },
            { objectName: 'pfx-cert', key: 'cert-as-pem' },
            { objectName: 'pfx-cert.crt', key: 'cert.crt' },
            { objectName: 'pfx-cert.key', key: 'cert.key' },
            { objectName: 'cert-pfx', key: 'cert.pfx.b64' },
            { objectName: 'cert-pfx.bin', key: 'cert.pfx' },
            { objectName: 'pem-cert', key: 'cert-pem' },
            { objectName: 'pem-cert.crt', key: 'cert-pem.crt' },
            { objectName: 'pem-cert.key', key: 'cert-pem.key' },
          ],
        },
        { secretName: 'cert-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'pfx-cert', key: 'tls.crt' }, { objectName: 'pfx-cert', key: 'tls.key' }] },
        { secretName: 'pfx-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'tls-pfx.bin', key: 'tls.crt' }, { objectName: 'tls-pfx.bin', key: 'tls.key' }] },
        { secretName: 'pem-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'tls-pem', key: 'tls.crt' }, { objectName: 'tls-pem', key: 'tls.key' }] },
      ],
    });
    await applyClass(env.client, ns, cls);
    controller = await startSyncController(env, { namespaces: [ns] });

    const spki = (jwk: object) => createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
    const b64url = (v: Uint8Array | undefined) => Buffer.from(v ?? []).toString('base64url');
    const rsaLeafKey = createPrivateKey({ key: p.rsa.leaf.keyDer, format: 'der', type: 'pkcs8' });
    const ecLeafKey = createPrivateKey({ key: p.ec.leaf.keyDer, format: 'der', type: 'pkcs8' });

    const rsaKeyPem = goPem('PRIVATE KEY', rsaLeafKey.export({ type: 'pkcs8', format: 'der' }));
    const rsaChainPem = [p.rsa.leaf, p.rsa.intermediate, p.rsa.root].map((c) => goPem('CERTIFICATE', c.certDer)).join('');
    const app = await secretData(env.client, ns, 'app');
    const expected: Record<string, Buffer> = {
      plain: Buffer.from('hellö wörld\n'),
      b64: binary,
      hexed: binary,
      pinned: Buffer.from('one'),
      current: Buffer.from('three'),
      previous: Buffer.from('one'),
      'rsa.pub': Buffer.from(spki({ kty: 'RSA', n: b64url(rsaKey.key?.n), e: b64url(rsaKey.key?.e) })),
      'ec.pub': Buffer.from(spki({ kty: 'EC', crv: 'P-384', x: b64url(ecKey.key?.x), y: b64url(ecKey.key?.y) })),
      'leaf.pem': Buffer.from(goPem('CERTIFICATE', p.rsa.leaf.certDer)),
      'ec-leaf.pem': Buffer.from(goPem('CERTIFICATE', p.ec.leaf.certDer)),
      'pfx.b64': Buffer.from(p.pfx.leafOnly.toString('base64')),
      'pfx.bin': p.pfx.leafOnly,
      pem: Buffer.from(pemChain),
      // The certificate's PKCS#12 as PEM: the key as PKCS#8, then the chain leaf → intermediate → root.
      'cert-as-pem': Buffer.from(rsaKeyPem + rsaChainPem),
      'cert.crt': Buffer.from(rsaChainPem),
      'cert.key': Buffer.from(rsaKeyPem),
      'cert.pfx.b64': Buffer.from(pfxStored.value!),
      'cert.pfx': Buffer.from(pfxStored.value!, 'base64'),
      // A PEM certificate's secret is written as stored, and split into its parts.
      'cert-pem': Buffer.from(pemStored.value!),
      'cert-pem.crt': Buffer.from(goPem('CERTIFICATE', p.ec.leaf.certDer) + goPem('CERTIFICATE', p.ec.intermediate.certDer)),
      'cert-pem.key': Buffer.from(goPem('PRIVATE KEY', p.ec.leaf.keyDer)),
    };
    assert.deepEqual(Object.keys(app).sort(), Object.keys(expected).sort());
    for (const [key, value] of Object.entries(expected)) assert.equal(app[key]!.toString('base64'), value.toString('base64'), `Secret app, key ${key}`);

    const tls = await secretData(env.client, ns, 'pfx-tls');
    // From a binary PKCS#12 the driver writes Go's pkcs12.ToPEM: the bag attributes become PEM headers.
    const crt = tls['tls.crt']!.toString();
    assert.match(crt, /^-----BEGIN CERTIFICATE-----\nlocalKeyId: [0-9a-f]{40}\n\n/);
    assert.equal(crt.replace(/^localKeyId: .*\n\n/m, ''), goPem('CERTIFICATE', p.rsa.leaf.certDer));
    assert.equal(tls['tls.key']!.toString(), goPem('RSA PRIVATE KEY', rsaLeafKey.export({ type: 'pkcs1', format: 'der' })), 'tls.key is PKCS#1 for RSA, as the driver writes it');
    const certTls = await secretData(env.client, ns, 'cert-tls');
    assert.equal(certTls['tls.crt']!.toString(), rsaChainPem, 'a certificate\'s chain, leaf first');
    assert.equal(certTls['tls.key']!.toString(), goPem('RSA PRIVATE KEY', rsaLeafKey.export({ type: 'pkcs1', format: 'der' })));
    const pemTls = await secretData(env.client, ns, 'pem-tls');
    assert.equal(pemTls['tls.crt']!.toString(), goPem('CERTIFICATE', p.ec.leaf.certDer) + goPem('CERTIFICATE', p.ec.intermediate.certDer), 'the chain, leaf first');
    assert.equal(pemTls['tls.key']!.toString(), goPem('EC PRIVATE KEY', ecLeafKey.export({ type: 'sec1', format: 'der' })), 'tls.key is SEC 1 for EC');

    const secret = await getSecret(env.client, ns, 'app');
    assert.equal(secret?.type, 'Opaque');
    assert.equal(secret?.metadata?.labels?.['team'], 'payments');
    assert.equal(secret?.metadata?.annotations?.['note'], 'synced');
    assert.equal((await getSecret(env.client, ns, 'pfx-tls'))?.type, 'kubernetes.io/tls');
    assert.deepEqual(secret?.metadata?.ownerReferences?.map((o) => [o.kind, o.name]), [['SecretProviderClass', 'everything']]);
  });
});
