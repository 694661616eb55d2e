import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import type { FetchedObject } from '../../src/keyvault/objects.ts';
import { renderObject, type RenderedFile, type RenderResult } from '../../src/sync/render/object.ts';
import { decodePemBlocks } from '../../src/sync/render/pem.ts';
import { parseObjectsParameter, type ObjectSpec } from '../../src/sync/spc.ts';
import { goPem, pki } from './helpers/pki.ts';

const VAULT = 'https://my-vault.vault.azure.net';

function spec(fields: string): ObjectSpec {
  const text = `array:\n  - |\n${fields.split('\n').map((l) => `    ${l}`).join('\n')}\n`;
  const result = parseObjectsParameter(text);
  if (!result.ok) assert.fail(JSON.stringify(result.problems));
  return result.value[0] as ObjectSpec;
}

function files(result: RenderResult): RenderedFile[] {
  if (!result.ok) assert.fail(`expected files, got: ${result.problem.field}: ${result.problem.message}`);
  return result.files;
}

function only(result: RenderResult): RenderedFile {
  const list = files(result);
  assert.equal(list.length, 1, `expected one file, got ${list.map((f) => f.fileName).join(', ')}`);
  return list[0] as RenderedFile;
}

function failure(result: RenderResult): { field: string; message: string } {
  if (result.ok) assert.fail('expected a problem, got files');
  return result.problem;
}

function secret(value: string, extra: Partial<{ contentType: string; kid: string; version: string; name: string }> = {}): FetchedObject {
  const name = extra.name ?? 'db';
  return {
    objectType: 'secret',
    bundle: {
      id: `${VAULT}/secrets/${name}/${extra.version ?? 'v1'}`,
      value,
      ...(extra.contentType === undefined ? {} : { contentType: extra.contentType }),
      ...(extra.kid === undefined ? {} : { kid: extra.kid }),
    },
  };
}

function certSecret(value: string, contentType: string): FetchedObject {
  return secret(value, { contentType, kid: `${VAULT}/keys/tls/v1`, name: 'tls' });
}

describe('renderObject: plain secrets', () => {
  it('writes the value as UTF-8 under the alias, with the provider id and the version from the id', () => {
    const file = only(renderObject(spec('objectName: db\nobjectType: secret\nobjectAlias: password'), secret('pässwörd ✓', { version: 'abc123' })));
    assert.deepEqual(file, { fileName: 'password', content: Buffer.from('pässwörd ✓', 'utf8'), id: 'secret/db', version: 'abc123' });
  });

  it('decodes base64 with objectEncoding base64', () => {
    const raw = Buffer.from([0, 1, 2, 250, 255]);
    assert.deepEqual(only(renderObject(spec('objectName: db\nobjectType: secret\nobjectEncoding: base64'), secret(raw.toString('base64')))).content, raw);
  });

  it('decodes hex with objectEncoding hex', () => {
    assert.deepEqual(only(renderObject(spec('objectName: db\nobjectType: secret\nobjectEncoding: hex'), secret('00ffAB'))).content, Buffer.from([0, 255, 171]));
  });

  it('names the object but never the value when the encoding does not match', () => {
    const value = 'hunter2-not-base64!';
    const problem = failure(renderObject(spec('objectName: db\nobjectType: secret\nobjectEncoding: base64'), secret(value, { version: 'v9' })));
    assert.equal(problem.field, 'spec.parameters.objects[0]');
    assert.equal(problem.message, 'secret/db (version v9): the value is not valid base64: fix the secret in Key Vault or the class\'s objectEncoding');
    assert.ok(!problem.message.includes('hunter2'));
    assert.match(failure(renderObject(spec('objectName: db\nobjectType: secret\nobjectEncoding: hex'), secret('abc'))).message, /not valid hex/);
  });

  it('reports a bundle of the wrong type', () => {
    const problem = failure(renderObject(spec('objectName: db\nobjectType: cert'), secret('x')));
    assert.match(problem.message, /was fetched as a secret, but the class asks for a cert/);
  });

  it('writes history entries as <alias>/<index> with the index in the id', () => {
    const file = only(renderObject(spec('objectName: db\nobjectType: secret\nobjectAlias: pw\nobjectVersionHistory: 3'), secret('old', { version: 'v0' }), { historyIndex: 2 }));
    assert.equal(file.fileName, 'pw/2');
    assert.equal(file.id, 'secret/db/2');
    assert.equal(file.version, 'v0');
  });
});

describe('renderObject: secrets that back a certificate', () => {
  const p = pki();
  const { leaf, intermediate, root } = p.rsa;
  const chainPem = (key: Buffer, ...certs: Buffer[]) => goPem('PRIVATE KEY', key) + certs.map((c) => goPem('CERTIFICATE', c)).join('');

  it('converts a PKCS#12 to PEM: PKCS#8 key first, then leaf, intermediate, root', () => {
    // The archive holds leaf, root, intermediate, in that order.
    const result = files(renderObject(spec('objectName: tls\nobjectType: secret'), certSecret(p.pfx.rsaLegacy.toString('base64'), 'application/x-pkcs12')));
    const main = result.find((f) => f.fileName === 'tls');
    assert.equal(main?.content.toString('latin1'), chainPem(leaf.keyDer, leaf.certDer, intermediate.certDer, root.certDer));
    assert.equal(main?.id, 'secret/tls');
  });

  it('also writes <file>.crt and <file>.key, as the AKS add-on does', () => {
    const result = files(renderObject(spec('objectName: tls\nobjectType: secret\nobjectAlias: server'), certSecret(p.pfx.rsaLegacy.toString('base64'), 'application/x-pkcs12')));
    assert.deepEqual(result.map((f) => f.fileName), ['server.crt', 'server.key', 'server']);
    assert.equal(result[0]?.content.toString('latin1'), [leaf, intermediate, root].map((c) => goPem('CERTIFICATE', c.certDer)).join(''));
    assert.equal(result[1]?.content.toString('latin1'), goPem('PRIVATE KEY', leaf.keyDer));
    assert.ok(result.every((f) => f.id === 'secret/tls' && f.version === 'v1'));
  });

  it('writes a single file when separate cert and key files are off', () => {
    const result = files(renderObject(spec('objectName: tls\nobjectType: secret'), certSecret(p.pfx.rsaLegacy.toString('base64'), 'application/x-pkcs12'), { separateCertAndKeyFiles: false }));
    assert.deepEqual(result.map((f) => f.fileName), ['tls']);
  });

  it('keeps the archive order when the chain is not reconstructed', () => {
    const file = files(renderObject(spec('objectName: tls\nobjectType: secret'), certSecret(p.pfx.rsaLegacy.toString('base64'), 'application/x-pkcs12'), { constructPemChain: false, separateCertAndKeyFiles: false }))[0];
    assert.equal(file?.content.toString('latin1'), chainPem(leaf.keyDer, leaf.certDer, root.certDer, intermediate.certDer));
  });

  it('refuses archives the provider\'s reader refuses (OpenSSL 3 defaults: AES-256, SHA-256 MAC), saying how to re-export', () => {
    const problem = failure(renderObject(spec('objectName: tls\nobjectType: secret'), certSecret(p.pfx.rsaModern.toString('base64'), 'application/x-pkcs12')));
    assert.match(problem.message, /^secret\/tls \(version v1\): could not be rendered: the PKCS#12 archive has a MAC with SHA-256 .*openssl pkcs12 -export -legacy/);
    // With objectFormat pfx the provider passes the archive on as it is, unread.
    const asIs = files(renderObject(spec('objectName: tls\nobjectType: secret\nobjectFormat: pfx'), certSecret(p.pfx.rsaModern.toString('base64'), 'application/x-pkcs12')));
    assert.equal(asIs.find((f) => f.fileName === 'tls')?.content.toString(), p.pfx.rsaModern.toString('base64'));
  });

  it('handles EC keys and chains', () => {
    const ec = p.ec;
    const file = files(renderObject(spec('objectName: tls\nobjectType: secret'), certSecret(p.pfx.ec.toString('base64'), 'application/x-pkcs12'), { separateCertAndKeyFiles: false }))[0];
    assert.equal(file?.content.toString('latin1'), chainPem(ec.leaf.keyDer, ec.leaf.certDer, ec.intermediate.certDer, ec.root.certDer));
  });

  it('keeps each certificate\'s DER byte for byte (an RSA leaf signed by an ECDSA CA)', () => {
    const ec = p.ec;
    const file = files(renderObject(spec('objectName: tls\nobjectType: secret'), certSecret(p.pfx.rsaLeafEcChain.toString('base64'), 'application/x-pkcs12'), { separateCertAndKeyFiles: false }))[0];
    const blocks = decodePemBlocks(file?.content ?? Buffer.alloc(0));
    assert.deepEqual(blocks.map((b) => b.type), ['PRIVATE KEY', 'CERTIFICATE', 'CERTIFICATE', 'CERTIFICATE']);
    assert.deepEqual(blocks[1]?.bytes, ec.rsaLeaf.certDer);
    assert.ok(ec.rsaLeaf.x509.verify(ec.intermediate.x509.publicKey), 'the written leaf still verifies against its issuer');
  });

  it('writes the base64 PFX as is with objectFormat pfx, and the binary PFX with objectEncoding base64', () => {
    const pfxBase64 = p.pfx.rsaLegacy.toString('base64');
    const text = files(renderObject(spec('objectName: tls\nobjectType: secret\nobjectFormat: pfx'), certSecret(pfxBase64, 'application/x-pkcs12')));
    assert.equal(text.find((f) => f.fileName === 'tls')?.content.toString('utf8'), pfxBase64);
    const binary = files(renderObject(spec('objectName: tls\nobjectType: secret\nobjectFormat: pfx\nobjectEncoding: base64'), certSecret(pfxBase64, 'application/x-pkcs12')));
    assert.deepEqual(binary.find((f) => f.fileName === 'tls')?.content, p.pfx.rsaLegacy);
    // The provider splits the PFX text, which holds no PEM blocks.
    assert.deepEqual(binary.filter((f) => f.fileName !== 'tls').map((f) => [f.fileName, f.content.length]), [['tls.crt', 0], ['tls.key', 0]]);
  });

  it('writes PEM content as stored, CRLF and all', () => {
    const stored = `${goPem('PRIVATE KEY', leaf.keyDer)}${leaf.certPem}`.replace(/\n/g, '\r\n');
    const result = files(renderObject(spec('objectName: tls\nobjectType: secret'), certSecret(stored, 'application/x-pem-file')));
    assert.equal(result.find((f) => f.fileName === 'tls')?.content.toString('utf8'), stored);
    assert.equal(result.find((f) => f.fileName === 'tls.crt')?.content.toString('latin1'), goPem('CERTIFICATE', leaf.certDer), 'the split files are re-encoded like Go does');
  });

  it('rejects an unknown content type for a certificate-backed secret', () => {
    assert.match(failure(renderObject(spec('objectName: tls\nobjectType: secret'), certSecret('x', 'text/plain'))).message, /unknown content type "text\/plain" for a secret that backs a certificate/);
  });

  it('reports a PKCS#12 it cannot open without leaking it', () => {
    const wrongPassword = p.pfx.withPassword.toString('base64');
    const problem = failure(renderObject(spec('objectName: tls\nobjectType: secret'), certSecret(wrongPassword, 'application/x-pkcs12')));
    assert.match(problem.message, /^secret\/tls \(version v1\): could not be rendered: PKCS#12 MAC could not be verified/);
    assert.ok(!problem.message.includes(wrongPassword.slice(0, 20)));
    assert.match(failure(renderObject(spec('objectName: tls\nobjectType: secret'), certSecret('%%%', 'application/x-pkcs12'))).message, /the PKCS#12 value is not valid base64/);
  });

  it('treats a secret without kid as plain, whatever its content type', () => {
    const file = only(renderObject(spec('objectName: db\nobjectType: secret'), secret('value', { contentType: 'application/x-pkcs12' })));
    assert.equal(file.content.toString(), 'value');
  });
});

describe('renderObject: cert', () => {
  const { leaf } = pki().rsa;
  const cert = (cer: string | Uint8Array): FetchedObject => ({ objectType: 'cert', bundle: { id: `${VAULT}/certificates/tls/c0ffee`, cer } });

  it('writes the leaf DER as one CERTIFICATE block, from base64 or bytes', () => {
    const expected = goPem('CERTIFICATE', leaf.certDer);
    const fromText = only(renderObject(spec('objectName: tls\nobjectType: cert'), cert(leaf.certDer.toString('base64'))));
    assert.equal(fromText.content.toString('latin1'), expected);
    assert.equal(fromText.content.toString('latin1'), leaf.certPem, 'identical to what openssl writes');
    assert.equal(fromText.id, 'cert/tls');
    assert.equal(fromText.version, 'c0ffee');
    assert.equal(only(renderObject(spec('objectName: tls\nobjectType: cert'), cert(new Uint8Array(leaf.certDer)))).content.toString('latin1'), expected);
  });

  it('reports a cer that is not base64', () => {
    assert.match(failure(renderObject(spec('objectName: tls\nobjectType: cert'), cert('***'))).message, /"cer" is not valid base64/);
  });
});

describe('renderObject: key', () => {
  const keySpec = spec('objectName: signing\nobjectType: key');
  const keyBundle = (jwk: Record<string, unknown>): FetchedObject => ({
    objectType: 'key',
    bundle: { kid: `${VAULT}/keys/signing/k1`, kty: 'RSA', ...jwk } as never,
  });

  it('writes an RSA public key as PKIX PUBLIC KEY PEM', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = publicKey.export({ format: 'jwk' });
    const file = only(renderObject(keySpec, keyBundle({ ...jwk, kty: 'RSA-HSM' })));
    assert.equal(file.content.toString('latin1'), goPem('PUBLIC KEY', publicKey.export({ type: 'spki', format: 'der' })));
    assert.equal(file.content.toString('latin1'), publicKey.export({ type: 'spki', format: 'pem' }), 'identical to OpenSSL\'s PEM');
    assert.equal(file.id, 'key/signing');
    assert.equal(file.version, 'k1');
  });

  for (const crv of ['P-256', 'P-384', 'P-521'] as const) {
    it(`writes an EC ${crv} public key`, () => {
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: crv });
      const file = only(renderObject(keySpec, keyBundle({ ...publicKey.export({ format: 'jwk' }), kty: 'EC' })));
      assert.equal(file.content.toString('latin1'), goPem('PUBLIC KEY', publicKey.export({ type: 'spki', format: 'der' })));
    });
  }

  it('reads coordinates as integers, like Go, whatever their padding', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const padded = Buffer.concat([Buffer.from([0]), Buffer.from(jwk.x as string, 'base64url')]).toString('base64url');
    const file = only(renderObject(keySpec, keyBundle({ ...jwk, kty: 'EC-HSM', x: padded, y: `${jwk.y}` })));
    assert.ok(createPublicKey(file.content.toString()).equals(publicKey));
  });

  it('rejects keys without a public part to write', () => {
    assert.match(failure(renderObject(keySpec, keyBundle({ kty: 'oct-HSM' }))).message, /key type "oct-HSM" is not supported/);
    assert.match(failure(renderObject(keySpec, keyBundle({ kty: 'EC', crv: 'P-256K', x: 'AA', y: 'AA' }))).message, /curve "P-256K" is not supported/);
    assert.match(failure(renderObject(keySpec, keyBundle({ kty: 'RSA', e: 'AQAB' }))).message, /no valid base64url "n" and "e"/);
  });
});
