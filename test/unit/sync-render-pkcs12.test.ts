import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { orderChain } from '../../src/sync/render/chain.ts';
import { Pkcs12Error, pkcs12ToPem, readPkcs12 } from '../../src/sync/render/pkcs12.ts';
import { marshalPkcs8, marshalTraditional, parseGoPrivateKey } from '../../src/sync/render/private-key.ts';
import { goPem, pki } from './helpers/pki.ts';

describe('readPkcs12: what Go\'s x/crypto/pkcs12 (the add-on\'s reader) takes', () => {
  const p = pki();

  it('returns keys and certificates in bag order with their attributes', () => {
    const contents = readPkcs12(p.pfx.rsaLegacy);
    assert.equal(contents.keys.length, 1);
    assert.deepEqual(contents.certs.map((c) => c.der), [p.rsa.leaf.certDer, p.rsa.root.certDer, p.rsa.intermediate.certDer]);
    const keyId = contents.keys[0]?.attributes.get('localKeyId');
    assert.match(keyId ?? '', /^[0-9a-f]{40}$/);
    assert.equal(contents.certs[0]?.attributes.get('localKeyId'), keyId, 'the leaf carries the key\'s id');
    assert.deepEqual(marshalPkcs8(contents.keys[0]!.key), p.rsa.leaf.keyDer);
  });

  it('reads EC keys, and gives one stored without its public key its public key back, as Go does', () => {
    assert.deepEqual(marshalPkcs8(readPkcs12(p.pfx.ec).keys[0]!.key), p.ec.leaf.keyDer);
    const key = readPkcs12(p.pfx.ecWithoutPublicKey).keys[0]!.key;
    assert.deepEqual(marshalPkcs8(key), p.ec.leaf.keyDer, 'PKCS#8 with the public point, byte for byte what a full key exports');
  });

  const refusals: Array<[string, Buffer, RegExp]> = [
    ['OpenSSL 3 defaults (SHA-256 MAC, AES)', p.pfx.rsaModern, /^the PKCS#12 archive has a MAC with SHA-256 \(2\.16\.840\.1\.101\.3\.4\.2\.1\): Go's reader checks SHA-1 MACs only; re-export it with 3DES and a SHA-1 MAC \(openssl pkcs12 -export -legacy\)/],
    ['no MAC', p.pfx.rsaNoMac, /^the PKCS#12 archive has no MAC;/],
    ['a plain keyBag', p.pfx.rsaKeyBag, /^the PKCS#12 archive holds a safe bag of type keyBag \(1\.2\.840\.113549\.1\.12\.10\.1\.1\), which Go's reader cannot convert/],
    ['BER (an indefinite length)', p.pfx.rsaIndefinite, /^the PKCS#12 archive is BER, not DER/],
    ['one safe instead of two', p.pfx.caOnly, /^the PKCS#12 archive holds 1 safes where Go's reader takes exactly two/],
    ['a password', p.pfx.withPassword, /^PKCS#12 MAC could not be verified: the archive has a password \(Key Vault keeps none\) or is corrupt$/],
    ['an Ed25519 key', p.pfx.ed25519, /^the PKCS#12 archive holds a key Go's reader refuses: private key type "ed25519" is not supported: only RSA and EC keys$/],
    ['garbage', Buffer.from('not a pfx at all'), /^the PKCS#12 archive is not valid ASN\.1/],
  ];
  for (const [what, pfx, message] of refusals) {
    it(`refuses an archive with ${what}, saying what to change`, () => {
      assert.throws(() => readPkcs12(pfx), (err: Error) => err instanceof Pkcs12Error && message.test(err.message));
    });
  }

  it('still opens an archive with a password when given it (the emulator re-encodes such imports)', () => {
    assert.equal(readPkcs12(p.pfx.withPassword, 'hunter2').certs.length, 3);
  });

  it('never quotes the archive in a refusal', () => {
    try {
      readPkcs12(p.pfx.rsaKeyBag);
      assert.fail('expected a refusal');
    } catch (err) {
      const message = (err as Error).message;
      assert.ok(!message.includes(p.pfx.rsaKeyBag.subarray(100, 120).toString('base64')) && !message.includes(p.pfx.rsaKeyBag.subarray(100, 120).toString('hex')));
    }
  });
});

describe('pkcs12ToPem: the provider\'s decodePKCS12', () => {
  const p = pki();
  const { leaf, intermediate, root } = p.rsa;
  const pem = (key: Buffer, ...certs: Buffer[]) => goPem('PRIVATE KEY', key) + certs.map((c) => goPem('CERTIFICATE', c)).join('');

  it('writes every key as PKCS#8, then the chain leaf → intermediate → root', () => {
    assert.equal(pkcs12ToPem(p.pfx.rsaLegacy, true), pem(leaf.keyDer, leaf.certDer, intermediate.certDer, root.certDer));
    assert.equal(pkcs12ToPem(p.pfx.rsaUnordered, true), pem(leaf.keyDer, leaf.certDer, intermediate.certDer, root.certDer));
    assert.equal(pkcs12ToPem(p.pfx.rsaLegacy, false), pem(leaf.keyDer, leaf.certDer, root.certDer, intermediate.certDer), 'without --construct-pem-chain, the archive order');
  });

  it('keeps the archive order of a chain with a gap or a stranger in it, as the provider does', () => {
    assert.equal(pkcs12ToPem(p.pfx.rsaGap, true), pem(leaf.keyDer, leaf.certDer, root.certDer));
    const extra = readPkcs12(p.pfx.rsaExtra).certs.map((c) => c.der);
    assert.equal(pkcs12ToPem(p.pfx.rsaExtra, true), pem(leaf.keyDer, ...extra));
    assert.equal(extra.length, 4);
  });

  it('writes an EC key without its public key with it, as Go does', () => {
    assert.equal(pkcs12ToPem(p.pfx.ecWithoutPublicKey, true), pem(p.ec.leaf.keyDer, p.ec.leaf.certDer, p.ec.intermediate.certDer, p.ec.root.certDer));
  });
});

describe('orderChain: the provider\'s fetchCertChains', () => {
  const p = pki();
  const { leaf, intermediate, root } = p.rsa;

  it('orders by key identifiers whatever the input order', () => {
    assert.deepEqual(orderChain([root.certDer, leaf.certDer, intermediate.certDer]), [leaf.certDer, intermediate.certDer, root.certDer]);
    assert.deepEqual(orderChain([intermediate.certDer, leaf.certDer]), [leaf.certDer, intermediate.certDer], 'a partial chain that links up is ordered');
    assert.deepEqual(orderChain([root.certDer, intermediate.certDer]), [intermediate.certDer, root.certDer]);
    assert.deepEqual(orderChain([leaf.certDer]), [leaf.certDer]);
  });

  it('keeps the given order when the links do not reach every certificate', () => {
    assert.deepEqual(orderChain([root.certDer, leaf.certDer]), [root.certDer, leaf.certDer], 'a gap: the intermediate is missing');
    const stranger = [leaf.certDer, root.certDer, p.ec.root.certDer, intermediate.certDer];
    assert.deepEqual(orderChain(stranger), stranger, 'a certificate that belongs to no chain');
  });

  it('never links by name: certificates without key identifiers keep their order', () => {
    const { root: bareRoot, leaf: bareLeaf } = p.noKeyIds;
    assert.ok(bareLeaf.x509.checkIssued(bareRoot.x509), 'the root did issue the leaf');
    assert.deepEqual(orderChain([bareRoot.certDer, bareLeaf.certDer]), [bareRoot.certDer, bareLeaf.certDer]);
  });

  it('refuses what the provider refuses: no certificate, or one it cannot parse', () => {
    assert.throws(() => orderChain([]), /has no leaf/);
    assert.throws(() => orderChain([Buffer.from('junk')]));
  });
});

describe('private keys as Go re-encodes them', () => {
  const p = pki();

  it('reads PKCS#1, PKCS#8 and SEC 1, and writes PKCS#1 for RSA and SEC 1 with the public point for EC', () => {
    const rsa = createPrivateKey({ key: p.rsa.leaf.keyDer, format: 'der', type: 'pkcs8' });
    const pkcs1 = rsa.export({ type: 'pkcs1', format: 'der' });
    for (const der of [p.rsa.leaf.keyDer, pkcs1]) {
      const key = parseGoPrivateKey(der);
      assert.ok(typeof key !== 'string');
      assert.deepEqual(marshalTraditional(key), { type: 'RSA PRIVATE KEY', der: pkcs1 });
    }
    const sec1 = createPrivateKey({ key: p.ec.leaf.keyDer, format: 'der', type: 'pkcs8' }).export({ type: 'sec1', format: 'der' });
    for (const der of [p.ec.leaf.keyDer, p.ec.leafKeyWithoutPublicDer, sec1]) {
      const key = parseGoPrivateKey(der);
      assert.ok(typeof key !== 'string');
      assert.deepEqual(marshalTraditional(key), { type: 'EC PRIVATE KEY', der: sec1 });
    }
  });

  it('refuses keys Go does not re-encode', () => {
    const ed = readPkcs12Safe(p.pfx.ed25519);
    assert.equal(ed, 'the PKCS#12 archive holds a key Go\'s reader refuses: private key type "ed25519" is not supported: only RSA and EC keys');
    assert.equal(parseGoPrivateKey(Buffer.from('junk')), 'the private key is not PKCS#1, PKCS#8 or SEC 1');
    const { privateKey: k1 } = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
    assert.equal(parseGoPrivateKey(k1.export({ type: 'pkcs8', format: 'der' })), 'EC curve "secp256k1" is not supported: use P-256, P-384 or P-521');
  });
});

function readPkcs12Safe(pfx: Buffer): string {
  try {
    readPkcs12(pfx);
    return 'read';
  } catch (err) {
    return (err as Error).message;
  }
}
