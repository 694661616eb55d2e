// Real key material for the render and secret-data tests and for the Key
// Vault emulator's imports: certificate chains made by the openssl CLI, and
// PKCS#12 archives shaped like the ones Key Vault stores (empty password) or
// in shapes it may be given (chains partial, with gaps or out of order, EC
// keys without their public key, and archives Go's x/crypto/pkcs12 — the
// add-on's reader — refuses: MACs it cannot check, AES, plain key bags, BER,
// Ed25519 keys). Built once per test process.

import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';

export interface Issued {
  /** PEM as openssl wrote it. */
  certPem: string;
  certDer: Buffer;
  /** The private key as PKCS#8 DER. */
  keyDer: Buffer;
  x509: X509Certificate;
}

export interface Pki {
  /** RSA chain: root → intermediate → leaf. */
  rsa: { root: Issued; intermediate: Issued; leaf: Issued };
  /** EC chain (P-384 root, P-256 intermediate) issuing an EC leaf and an RSA leaf. */
  ec: {
    root: Issued;
    intermediate: Issued;
    leaf: Issued;
    rsaLeaf: Issued;
    /** The EC leaf's key as PKCS#8 DER whose ECPrivateKey leaves out the optional public key. */
    leafKeyWithoutPublicDer: Buffer;
  };
  /** A root and a leaf it issued, neither with a subject or authority key identifier. */
  noKeyIds: { root: Issued; leaf: Issued };
  pfx: {
    /** RSA leaf + key, then root, then intermediate; 3DES and SHA-1 MAC like Key Vault's. */
    rsaLegacy: Buffer;
    /** Same content with OpenSSL 3 defaults (PBES2 AES-256, SHA-256 MAC). */
    rsaModern: Buffer;
    /** EC leaf + key with the EC root and intermediate. */
    ec: Buffer;
    /** RSA leaf signed by an ECDSA intermediate, with root and intermediate. */
    rsaLeafEcChain: Buffer;
    /** Root and intermediate only, no key and no leaf. */
    caOnly: Buffer;
    /** RSA leaf + key protected by the password "hunter2". */
    withPassword: Buffer;
    /** RSA leaf + key alone, no chain (3DES, SHA-1 MAC). */
    leafOnly: Buffer;
    /** RSA leaf + key and the intermediate, without the root (3DES, SHA-1 MAC). */
    rsaPartial: Buffer;
    /** RSA key; certificates root, leaf, intermediate in that bag order (3DES key, SHA-1 MAC, no localKeyID). */
    rsaUnordered: Buffer;
    /** RSA leaf + key with root and intermediate, and no MAC at all. */
    rsaNoMac: Buffer;
    /** EC leaf + a key without its public key, with the EC root and intermediate (3DES, SHA-1 MAC). */
    ecWithoutPublicKey: Buffer;
    /** RSA leaf + key and the root, without the intermediate between them: a chain with a gap (3DES, SHA-1 MAC). */
    rsaGap: Buffer;
    /** RSA leaf + key, its root and intermediate, and the EC root, which issued none of them (3DES, SHA-1 MAC). */
    rsaExtra: Buffer;
    /** RSA leaf + key with root and intermediate, nothing encrypted: the key in a plain keyBag (SHA-1 MAC). */
    rsaKeyBag: Buffer;
    /** rsaLegacy with its outer SEQUENCE re-encoded with an indefinite length (BER, not DER); the MAC still verifies. */
    rsaIndefinite: Buffer;
    /** A self-signed Ed25519 certificate and its key (3DES, SHA-1 MAC). */
    ed25519: Buffer;
  };
}

let cached: Pki | undefined;

export function pki(): Pki {
  cached ??= build();
  return cached;
}

function build(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'kvr-pki-'));
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const file = (name: string): string => join(dir, name);
  writeFileSync(file('ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n');
  writeFileSync(file('bare-leaf.ext'), 'basicConstraints=critical,CA:FALSE\nsubjectKeyIdentifier=none\nauthorityKeyIdentifier=none\n');
  writeFileSync(file('leaf.ext'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:app.example.com\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n');

  const key = (name: string, kind: 'rsa' | 'P-256' | 'P-384'): void => {
    if (kind === 'rsa') openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', `${name}.key`);
    else openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${kind}`, '-out', `${name}.key`);
  };
  const selfSigned = (name: string, cn: string, extensions = 'v3'): void => {
    openssl('req', '-new', '-x509', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-days', '3650', '-sha256',
      '-extensions', extensions, '-config', writeReqConfig(dir), '-out', `${name}.crt`);
  };
  const issue = (name: string, cn: string, issuer: string, ext: string): void => {
    openssl('req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.crt`, '-CAkey', `${issuer}.key`, '-CAcreateserial',
      '-days', '365', '-sha256', '-extfile', ext, '-out', `${name}.crt`);
  };
  const read = (name: string): Issued => {
    const certPem = readFileSync(file(`${name}.crt`), 'utf8');
    const x509 = new X509Certificate(certPem);
    const keyDer = createPrivateKey(readFileSync(file(`${name}.key`))).export({ type: 'pkcs8', format: 'der' });
    return { certPem, certDer: Buffer.from(x509.raw), keyDer, x509 };
  };
  const pkcs12 = (out: string, args: string[]): Buffer => {
    openssl('pkcs12', '-export', '-out', out, ...args);
    return readFileSync(file(out));
  };
  const legacy = ['-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1'];

  try {
    key('rsa-root', 'rsa');
    selfSigned('rsa-root', 'Test RSA Root');
    key('rsa-int', 'rsa');
    issue('rsa-int', 'Test RSA Intermediate', 'rsa-root', 'ca.ext');
    key('rsa-leaf', 'rsa');
    issue('rsa-leaf', 'app.example.com', 'rsa-int', 'leaf.ext');

    key('ec-root', 'P-384');
    selfSigned('ec-root', 'Test EC Root');
    key('ec-int', 'P-256');
    issue('ec-int', 'Test EC Intermediate', 'ec-root', 'ca.ext');
    key('ec-leaf', 'P-256');
    issue('ec-leaf', 'ec.example.com', 'ec-int', 'leaf.ext');
    key('mixed-leaf', 'rsa');
    issue('mixed-leaf', 'mixed.example.com', 'ec-int', 'leaf.ext');
    key('bare-root', 'rsa');
    selfSigned('bare-root', 'Test Bare Root', 'bare');
    key('bare-leaf', 'rsa');
    issue('bare-leaf', 'bare.example.com', 'bare-root', 'bare-leaf.ext');
    openssl('genpkey', '-algorithm', 'ED25519', '-out', 'ed.key');
    openssl('req', '-new', '-x509', '-key', 'ed.key', '-subj', '/CN=ed.example.com', '-days', '365', '-out', 'ed.crt');
    openssl('ec', '-in', 'ec-leaf.key', '-no_public', '-out', 'ec-leaf-nopub.key');
    openssl('pkcs8', '-topk8', '-nocrypt', '-in', 'ec-leaf-nopub.key', '-outform', 'DER', '-out', 'ec-leaf-nopub.der');

    writeFileSync(file('rsa-ca.pem'), readFileSync(file('rsa-root.crt'), 'utf8') + readFileSync(file('rsa-int.crt'), 'utf8'));
    writeFileSync(file('ec-ca.pem'), readFileSync(file('ec-root.crt'), 'utf8') + readFileSync(file('ec-int.crt'), 'utf8'));
    writeFileSync(file('rsa-ca-extra.pem'), readFileSync(file('rsa-ca.pem'), 'utf8') + readFileSync(file('ec-root.crt'), 'utf8'));

    const rsaArgs = ['-inkey', 'rsa-leaf.key', '-in', 'rsa-leaf.crt', '-certfile', 'rsa-ca.pem'];
    const rsa = { root: read('rsa-root'), intermediate: read('rsa-int'), leaf: read('rsa-leaf') };
    return {
      rsa,
      ec: {
        root: read('ec-root'),
        intermediate: read('ec-int'),
        leaf: read('ec-leaf'),
        rsaLeaf: read('mixed-leaf'),
        leafKeyWithoutPublicDer: readFileSync(file('ec-leaf-nopub.der')),
      },
      noKeyIds: { root: read('bare-root'), leaf: read('bare-leaf') },
      pfx: {
        rsaLegacy: pkcs12('rsa-legacy.pfx', [...rsaArgs, ...legacy, '-passout', 'pass:']),
        rsaModern: pkcs12('rsa-modern.pfx', [...rsaArgs, '-passout', 'pass:']),
        ec: pkcs12('ec.pfx', ['-inkey', 'ec-leaf.key', '-in', 'ec-leaf.crt', '-certfile', 'ec-ca.pem', ...legacy, '-passout', 'pass:']),
        rsaLeafEcChain: pkcs12('mixed.pfx', ['-inkey', 'mixed-leaf.key', '-in', 'mixed-leaf.crt', '-certfile', 'ec-ca.pem', ...legacy, '-passout', 'pass:']),
        caOnly: pkcs12('ca-only.pfx', ['-nokeys', '-in', 'rsa-ca.pem', ...legacy, '-passout', 'pass:']),
        withPassword: pkcs12('password.pfx', [...rsaArgs, ...legacy, '-passout', 'pass:hunter2']),
        leafOnly: pkcs12('leaf-only.pfx', ['-inkey', 'rsa-leaf.key', '-in', 'rsa-leaf.crt', ...legacy, '-passout', 'pass:']),
        rsaPartial: pkcs12('rsa-partial.pfx', ['-inkey', 'rsa-leaf.key', '-in', 'rsa-leaf.crt', '-certfile', 'rsa-int.crt', ...legacy, '-passout', 'pass:']),
        // openssl always writes the key's certificate first; node-forge keeps the order it is given.
        rsaUnordered: forgePkcs12(readFileSync(file('rsa-leaf.key'), 'utf8'), [rsa.root, rsa.leaf, rsa.intermediate]),
        rsaNoMac: pkcs12('rsa-nomac.pfx', [...rsaArgs, '-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-nomac', '-passout', 'pass:']),
        ecWithoutPublicKey: pkcs12('ec-nopub.pfx', ['-inkey', 'ec-leaf-nopub.key', '-in', 'ec-leaf.crt', '-certfile', 'ec-ca.pem', ...legacy, '-passout', 'pass:']),
        rsaGap: pkcs12('rsa-gap.pfx', ['-inkey', 'rsa-leaf.key', '-in', 'rsa-leaf.crt', '-certfile', 'rsa-root.crt', ...legacy, '-passout', 'pass:']),
        rsaExtra: pkcs12('rsa-extra.pfx', ['-inkey', 'rsa-leaf.key', '-in', 'rsa-leaf.crt', '-certfile', 'rsa-ca-extra.pem', ...legacy, '-passout', 'pass:']),
        rsaKeyBag: pkcs12('rsa-keybag.pfx', [...rsaArgs, '-keypbe', 'NONE', '-certpbe', 'NONE', '-macalg', 'sha1', '-passout', 'pass:']),
        rsaIndefinite: indefiniteOuter(readFileSync(file('rsa-legacy.pfx'))),
        ed25519: pkcs12('ed.pfx', ['-inkey', 'ed.key', '-in', 'ed.crt', ...legacy, '-passout', 'pass:']),
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// The MAC covers the authenticated safe only, so the outer SEQUENCE can take
// another (BER) encoding and the archive stays intact for a lenient reader.
function indefiniteOuter(der: Buffer): Buffer {
  if (der[0] !== 0x30 || (der[1]! & 0x80) === 0) throw new Error('expected a SEQUENCE with a long-form length');
  const lengthBytes = der[1]! & 0x7f;
  return Buffer.concat([Buffer.from([0x30, 0x80]), der.subarray(2 + lengthBytes), Buffer.from([0, 0])]);
}

function forgePkcs12(keyPem: string, certs: readonly Issued[]): Buffer {
  const asn1 = forge.pkcs12.toPkcs12Asn1(forge.pki.privateKeyFromPem(keyPem), certs.map((c) => forge.pki.certificateFromPem(c.certPem)), '', {
    algorithm: '3des',
    generateLocalKeyId: false,
  });
  return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary');
}

function writeReqConfig(dir: string): string {
  const path = join(dir, 'req.cnf');
  writeFileSync(path, '[req]\ndistinguished_name=dn\n[dn]\n[v3]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n[bare]\nbasicConstraints=critical,CA:TRUE\nsubjectKeyIdentifier=none\nauthorityKeyIdentifier=none\n');
  return path;
}

/** The PEM Go's pem.EncodeToMemory writes, built independently of the code under test. */
export function goPem(type: string, der: Uint8Array): string {
  const body = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${body.map((line) => `${line}\n`).join('')}-----END ${type}-----\n`;
}

/** A PEM file as Key Vault imports one: a PKCS#8 PRIVATE KEY, then the certificates in the order given. */
export function pemBundle(keyDer: Uint8Array, certs: readonly Issued[]): string {
  return goPem('PRIVATE KEY', keyDer) + certs.map((c) => goPem('CERTIFICATE', c.certDer)).join('');
}

/** What a PKCS#12 holds, as the openssl CLI reads it: PKCS#8 keys and DER certificates, in bag order. */
export function readPkcs12(pfx: Uint8Array, password = ''): { keys: Buffer[]; certs: Buffer[] } {
  const out = execFileSync('openssl', ['pkcs12', '-nodes', '-passin', `pass:${password}`], { input: pfx, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
  const blocks = [...out.matchAll(/-----BEGIN ([A-Z ]+)-----\n([A-Za-z0-9+/=\n]+)-----END \1-----/g)].map((m) => ({ type: m[1]!, der: Buffer.from(m[2]!, 'base64') }));
  return { keys: blocks.filter((b) => b.type === 'PRIVATE KEY').map((b) => b.der), certs: blocks.filter((b) => b.type === 'CERTIFICATE').map((b) => b.der) };
}
