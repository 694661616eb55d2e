import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCaBundle, tlsFailureHint, TrustConfigError } from '../../src/keyvault/trust.ts';
import { pki } from './helpers/pki.ts';

describe('parseCaBundle', () => {
  it('takes every certificate of a PEM bundle, text around them and all', () => {
    const { root, intermediate } = pki().rsa;
    assert.equal(parseCaBundle(`# corporate CAs\n${root.certPem}\nsome text\n${intermediate.certPem}`, '/etc/ca.pem').length, 2);
  });

  it('says what is wrong with the file, and which flag it came from', () => {
    assert.throws(() => parseCaBundle('hello', '/etc/ca.pem'), (e: unknown) => e instanceof TrustConfigError && e.message === '--ca-bundle /etc/ca.pem: holds no PEM certificate (expected "-----BEGIN CERTIFICATE-----" blocks)');
    const { root } = pki().rsa;
    const broken = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    assert.throws(() => parseCaBundle(root.certPem + broken, '/etc/ca.pem'), /certificate 2 of 2 is not a valid X\.509 certificate/);
  });
});

describe('tlsFailureHint', () => {
  const tlsError = (code: string) => Object.assign(new Error('boom'), { code });

  it('points an untrusted certificate at --ca-bundle, wherever the error is in the cause chain', () => {
    for (const code of ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']) {
      const wrapped = new Error('request failed', { cause: new Error('socket', { cause: tlsError(code) }) });
      assert.equal(tlsFailureHint(wrapped, 'kv.vault.azure.net'), `the TLS certificate of kv.vault.azure.net is not trusted (${code}): if a private CA signs it (or a TLS-inspecting proxy), give that CA with --ca-bundle (chart value sync.caBundle)`);
    }
    assert.match(tlsFailureHint(tlsError('CERT_HAS_EXPIRED'), 'h') ?? '', /has expired/);
    assert.match(tlsFailureHint(tlsError('ERR_TLS_CERT_ALTNAME_INVALID'), 'h') ?? '', /is for another name/);
  });

  it('is silent about other failures', () => {
    assert.equal(tlsFailureHint(tlsError('ECONNREFUSED'), 'h'), undefined);
    assert.equal(tlsFailureHint('not an error', 'h'), undefined);
  });
});
