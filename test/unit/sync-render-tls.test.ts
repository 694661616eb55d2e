import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { describe, it } from 'node:test';
import { renderObject, type RenderedFile } from '../../src/sync/render/object.ts';
import { tlsPart } from '../../src/sync/render/tls.ts';
import { buildSecrets } from '../../src/sync/secret-data.ts';
import type { ParsedClass } from '../../src/sync/spc.ts';
import { goPem, pki } from './helpers/pki.ts';
import { built, file, makeClass, VAULT } from './helpers/spc.ts';

describe('kubernetes.io/tls Secrets', () => {
  const p = pki();
  const { leaf, intermediate, root } = p.rsa;
  const tlsClass = (objectName = 'tls') => makeClass({
    objects: ['objectName: tls\nobjectType: secret', 'objectName: tls-pfx\nobjectType: secret\nobjectFormat: pfx\nobjectEncoding: base64'],
    secretObjects: [{ secretName: 'ingress-tls', type: 'kubernetes.io/tls', data: [{ objectName, key: 'tls.crt' }, { objectName, key: 'tls.key' }] }],
  });
  const renderTls = (parsed: ParsedClass, index: number, pfx: Buffer): RenderedFile[] => {
    const result = renderObject(parsed.objects[index]!, {
      objectType: 'secret',
      bundle: { id: `${VAULT}/secrets/tls/v7`, value: pfx.toString('base64'), contentType: 'application/x-pkcs12', kid: `${VAULT}/keys/tls/v7` },
    });
    if (!result.ok) assert.fail(result.problem.message);
    return result.files;
  };
  const decoded = (data: Record<string, string> | undefined, key: string) => Buffer.from(data?.[key] ?? '', 'base64').toString('latin1');

  it('puts the certificate chain in tls.crt and the key as PKCS#1 in tls.key, as the driver does', () => {
    const parsed = tlsClass();
    const secret = built(buildSecrets(parsed, renderTls(parsed, 0, p.pfx.rsaLegacy)))[0];
    assert.equal(secret?.type, 'kubernetes.io/tls');
    assert.equal(decoded(secret?.data, 'tls.crt'), [leaf, intermediate, root].map((c) => goPem('CERTIFICATE', c.certDer)).join(''));
    const pkcs1 = createPrivateKey({ key: leaf.keyDer, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs1', format: 'der' });
    assert.equal(decoded(secret?.data, 'tls.key'), goPem('RSA PRIVATE KEY', pkcs1));
  });

  it('writes an EC key as SEC 1 EC PRIVATE KEY', () => {
    const parsed = tlsClass();
    const secret = built(buildSecrets(parsed, renderTls(parsed, 0, p.pfx.ec)))[0];
    const sec1 = createPrivateKey({ key: p.ec.leaf.keyDer, format: 'der', type: 'pkcs8' }).export({ type: 'sec1', format: 'der' });
    assert.equal(decoded(secret?.data, 'tls.key'), goPem('EC PRIVATE KEY', sec1));
  });

  it('reads a binary PFX file, keeping the archive order and its attributes as PEM headers', () => {
    const parsed = tlsClass('tls-pfx');
    const secret = built(buildSecrets(parsed, renderTls(parsed, 1, p.pfx.rsaLegacy)))[0];
    const crt = decoded(secret?.data, 'tls.crt');
    const blocks = crt.split('-----END CERTIFICATE-----\n').filter((b) => b !== '');
    assert.equal(blocks.length, 3);
    // Go's pkcs12.ToPEM turns bag attributes into headers; the driver keeps them.
    assert.match(blocks[0] ?? '', /^-----BEGIN CERTIFICATE-----\nlocalKeyId: [0-9a-f]{40}\n\n/);
    assert.ok(blocks[1]?.includes(root.certPem.split('\n')[1] ?? '-'), 'archive order: leaf, root, intermediate');
    const pkcs1 = createPrivateKey({ key: leaf.keyDer, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs1', format: 'der' });
    assert.equal(decoded(secret?.data, 'tls.key'), goPem('RSA PRIVATE KEY', pkcs1));
  });

  it('fails rather than write an empty key when the file holds none', () => {
    const parsed = makeClass({
      objects: ['objectName: only-cert\nobjectType: cert'],
      secretObjects: [{ secretName: 'ingress-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'only-cert', key: 'tls.key' }] }],
    });
    const result = buildSecrets(parsed, [file('only-cert', leaf.certPem, 'cert/only-cert', 'v3')]);
    assert.deepEqual(result, {
      secrets: [],
      failed: [{
        secretName: 'ingress-tls',
        problems: [{ field: 'spec.secretObjects[0].data[0]', message: 'cert/only-cert (version v3), file "only-cert": holds no private key block' }],
      }],
    });
  });
});

describe('kubernetes.io/tls Secrets from a file neither part can be read from', () => {
  it('says so once, not once per part', () => {
    const parsed = makeClass({
      objects: ['objectName: bad\nobjectType: secret'],
      secretObjects: [{ secretName: 'ingress-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'bad', key: 'tls.crt' }, { objectName: 'bad', key: 'tls.key' }] }],
    });
    const result = buildSecrets(parsed, [file('bad', pki().pfx.rsaNoMac, 'secret/bad', 'v1')]);
    assert.equal(result.failed.length, 1);
    assert.deepEqual(result.failed[0]?.problems.map((p) => p.field), ['spec.secretObjects[0].data[0]']);
    assert.match(result.failed[0]?.problems[0]?.message ?? '', /^secret\/bad \(version v1\), file "bad": holds neither PEM blocks nor a PKCS#12 archive the add-on can read \(the PKCS#12 archive has no MAC/);
  });
});

describe('tlsPart', () => {
  const { leaf } = pki().rsa;

  it('takes the last non-certificate block as the key, as the driver does', () => {
    const other = pki().ec.leaf;
    const content = Buffer.from(goPem('PRIVATE KEY', leaf.keyDer) + leaf.certPem + goPem('PRIVATE KEY', other.keyDer));
    const sec1 = createPrivateKey({ key: other.keyDer, format: 'der', type: 'pkcs8' }).export({ type: 'sec1', format: 'der' });
    assert.equal((tlsPart(content, 'tls.key') as Buffer).toString('latin1'), goPem('EC PRIVATE KEY', sec1));
  });

  it('accepts PKCS#1 and SEC 1 keys as they are', () => {
    const pkcs1 = createPrivateKey({ key: leaf.keyDer, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs1', format: 'der' });
    assert.equal((tlsPart(Buffer.from(goPem('RSA PRIVATE KEY', pkcs1)), 'tls.key') as Buffer).toString('latin1'), goPem('RSA PRIVATE KEY', pkcs1));
  });

  it('gives an EC key stored without its public key the public key, as Go\'s MarshalECPrivateKey writes it', () => {
    const { leaf: ecLeaf, leafKeyWithoutPublicDer } = pki().ec;
    const sec1 = createPrivateKey({ key: ecLeaf.keyDer, format: 'der', type: 'pkcs8' }).export({ type: 'sec1', format: 'der' });
    assert.equal((tlsPart(Buffer.from(goPem('PRIVATE KEY', leafKeyWithoutPublicDer) + ecLeaf.certPem), 'tls.key') as Buffer).toString('latin1'), goPem('EC PRIVATE KEY', sec1));
    assert.equal((tlsPart(pki().pfx.ecWithoutPublicKey, 'tls.key') as Buffer).toString('latin1'), goPem('EC PRIVATE KEY', sec1), 'from a binary PFX too');
  });

  it('refuses a binary PFX the driver\'s reader refuses, for both parts', () => {
    for (const key of ['tls.crt', 'tls.key']) {
      assert.match(tlsPart(pki().pfx.rsaModern, key) as string, /^holds neither PEM blocks nor a PKCS#12 archive the add-on can read \(the PKCS#12 archive has a MAC with SHA-256/, key);
      assert.match(tlsPart(pki().pfx.rsaKeyBag, key) as string, /safe bag of type keyBag/, key);
    }
  });

  it('explains content it cannot use', () => {
    assert.equal(tlsPart(Buffer.from(goPem('PRIVATE KEY', leaf.keyDer)), 'tls.crt'), 'holds no CERTIFICATE block');
    assert.equal(tlsPart(Buffer.from(goPem('PUBLIC KEY', Buffer.from('junk'))), 'tls.key'), 'the private key is not PKCS#1, PKCS#8 or SEC 1');
    assert.match(tlsPart(Buffer.from('plain text secret'), 'tls.crt') as string, /^holds neither PEM blocks nor a PKCS#12 archive the add-on can read \(the PKCS#12 archive is not valid ASN\.1/);
    assert.equal(tlsPart(Buffer.from(leaf.certPem), 'ca.crt'), '"ca.crt" is not a kubernetes.io/tls key: use tls.crt or tls.key');
  });
});
