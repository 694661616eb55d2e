import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { orderChain, readPkcs12 } from '../../src/sync/render/pkcs12.ts';
import { pki } from './helpers/pki.ts';

describe('readPkcs12 and orderChain', () => {
  const p = pki();

  it('returns keys and certificates in bag order with their attributes', () => {
    const contents = readPkcs12(p.pfx.rsaLegacy);
    assert.equal(contents.keys.length, 1);
    assert.deepEqual(contents.certs.map((c) => c.der), [p.rsa.leaf.certDer, p.rsa.root.certDer, p.rsa.intermediate.certDer]);
    const keyId = contents.keys[0]?.attributes.get('localKeyId');
    assert.match(keyId ?? '', /^[0-9a-f]{40}$/);
    assert.equal(contents.certs[0]?.attributes.get('localKeyId'), keyId, 'the leaf carries the key\'s id');
  });

  it('reads an archive with certificates only', () => {
    const contents = readPkcs12(p.pfx.caOnly);
    assert.equal(contents.keys.length, 0);
    assert.equal(contents.certs.length, 2);
  });

  it('orders by issuer even when the leaf is not first', () => {
    const { root, intermediate } = p.rsa;
    assert.deepEqual(orderChain([root.certDer, intermediate.certDer]), [intermediate.certDer, root.certDer]);
  });

  it('drops certificates off the leaf\'s chain, as the provider does', () => {
    const { leaf, intermediate, root } = p.rsa;
    assert.deepEqual(orderChain([leaf.certDer, root.certDer, p.ec.root.certDer, intermediate.certDer]), [leaf.certDer, intermediate.certDer, root.certDer]);
  });
});
