// PKCS#12 as the add-on reads it: both the provider (a certificate's secret
// to PEM) and the driver (a kubernetes.io/tls Secret from a binary PFX) use
// Go's golang.org/x/crypto/pkcs12 ToPEM, which takes less than OpenSSL does.
// What it refuses, we refuse, saying what to change: BER instead of DER, no
// MAC or a MAC other than SHA-1, encryption other than the two legacy PKCS#12
// ciphers (3DES, RC2-40; OpenSSL 3 exports AES unless told -legacy), any
// number of safes other than two, unencrypted key bags and other bag types,
// keys other than RSA and ECDSA. node-forge provides the ASN.1 parser, the
// PKCS#12 key derivation and the legacy ciphers; the walk below is Go's.
import { createHmac, timingSafeEqual } from 'node:crypto';
import forge from 'node-forge';
import { orderChain } from './chain.ts';
import { encodePem } from './pem.ts';
import { marshalPkcs8, parseGoPkcs8, type GoPrivateKey } from './private-key.ts';

/**
 * Bag attributes named as Go's pkcs12.ToPEM names its PEM headers
 * (friendlyName, localKeyId, Microsoft CSP Name); the driver keeps them.
 */
export type BagAttributes = Map<string, string>;

export interface Pkcs12Contents {
  /** In bag order. */
  keys: Array<{ key: GoPrivateKey; attributes: BagAttributes }>;
  /** Certificate DER as stored, in bag order. */
  certs: Array<{ der: Buffer; attributes: BagAttributes }>;
}

const OID_DATA = '1.2.840.113549.1.7.1';
const OID_ENCRYPTED_DATA = '1.2.840.113549.1.7.6';
const OID_SHA1 = '1.3.14.3.2.26';
const OID_PBE_SHA_3DES = '1.2.840.113549.1.12.1.3';
const OID_PBE_SHA_RC2_40 = '1.2.840.113549.1.12.1.6';
const OID_SHROUDED_KEY_BAG = '1.2.840.113549.1.12.10.1.2';
const OID_CERT_BAG = '1.2.840.113549.1.12.10.1.3';
const OID_X509_CERT = '1.2.840.113549.1.9.22.1';
const OID_FRIENDLY_NAME = '1.2.840.113549.1.9.20';
const OID_LOCAL_KEY_ID = '1.2.840.113549.1.9.21';
const OID_MS_CSP_NAME = '1.3.6.1.4.1.311.17.1';

/** Names for the OIDs a message may have to mention. */
const OID_NAMES: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.12.10.1.1': 'keyBag',
  '1.2.840.113549.1.12.10.1.4': 'crlBag',
  '1.2.840.113549.1.12.10.1.5': 'secretBag',
  '1.2.840.113549.1.12.10.1.6': 'safeContentsBag',
  '1.2.840.113549.1.5.13': 'PBES2',
  '2.16.840.1.101.3.4.2.1': 'SHA-256',
  '2.16.840.1.101.3.4.2.2': 'SHA-384',
  '2.16.840.1.101.3.4.2.3': 'SHA-512',
  '1.2.840.113549.1.7.2': 'signedData',
  '1.2.840.113549.1.7.3': 'envelopedData',
};

const REEXPORT = 're-export it with 3DES and a SHA-1 MAC (openssl pkcs12 -export -legacy), which the add-on\'s reader takes';

type Asn1 = forge.asn1.Asn1;
interface PbeCipher {
  update(input: forge.util.ByteBuffer): void;
  finish(): boolean;
  output: forge.util.ByteBuffer;
}
// Public in node-forge, missing from its type definitions.
const pbe = (forge.pki as unknown as {
  pbe: {
    getCipherForPKCS12PBE(oid: string, params: Asn1, password: string | null): PbeCipher;
    generatePkcs12Key(password: string | null, salt: forge.util.ByteBuffer, id: number, iter: number, n: number): forge.util.ByteBuffer;
  };
}).pbe;

/** An archive the add-on's reader refuses, and why; never any of its content. */
export class Pkcs12Error extends Error {}

/**
 * Reads a PKCS#12 archive as Go's pkcs12.ToPEM does, with the empty password
 * (Key Vault keeps none), or throws a Pkcs12Error saying what to change.
 */
export function readPkcs12(pfx: Buffer, password = ''): Pkcs12Contents {
  try {
    return walkPkcs12(pfx, password);
  } catch (error) {
    if (error instanceof Pkcs12Error) throw error;
    // node-forge's own messages describe structure, never the bytes.
    throw new Pkcs12Error(`the PKCS#12 archive could not be read (${(error as Error).message})`);
  }
}

function walkPkcs12(pfx: Buffer, password: string): Pkcs12Contents {
  const root = sequence(parseDer(pfx.toString('binary'), 'the archive'), 2, 'the archive');
  const [version, authSafe, macData] = root;
  if (integer(version!) !== 3) throw new Pkcs12Error('the PKCS#12 archive is not of version 3, the only one Go\'s reader takes');
  const [contentType, content] = sequence(authSafe!, 2, 'its authenticated safe');
  if (oid(contentType!) !== OID_DATA) throw new Pkcs12Error(`the PKCS#12 archive is protected by ${oidName(oid(contentType!))}: Go's reader takes password-protected archives only; ${REEXPORT}`);
  const safeBytes = octets(explicit(content!, 'its authenticated safe'), 'its authenticated safe');

  if (macData === undefined) throw new Pkcs12Error(`the PKCS#12 archive has no MAC; ${REEXPORT}`);
  const effectivePassword = verifyMac(macData, safeBytes, password);

  const safes = sequence(parseDer(safeBytes, 'its authenticated safe'), 0, 'its authenticated safe');
  if (safes.length !== 2) throw new Pkcs12Error(`the PKCS#12 archive holds ${safes.length} safes where Go's reader takes exactly two (one for the key, one for the certificates); ${REEXPORT}`);

  const contents: Pkcs12Contents = { keys: [], certs: [] };
  for (const safe of safes) {
    const [type, body] = sequence(safe, 2, 'a safe');
    let bagsBytes: string;
    if (oid(type!) === OID_DATA) {
      bagsBytes = octets(explicit(body!, 'a safe'), 'a safe');
    } else if (oid(type!) === OID_ENCRYPTED_DATA) {
      const [encVersion, info] = sequence(explicit(body!, 'an encrypted safe'), 2, 'an encrypted safe');
      if (integer(encVersion!) !== 0) throw new Pkcs12Error('the PKCS#12 archive has an encrypted safe of a version other than 0, which Go\'s reader cannot open');
      const [, algorithm, data] = sequence(info!, 3, 'an encrypted safe');
      if (data!.tagClass !== forge.asn1.Class.CONTEXT_SPECIFIC || data!.type !== 0 || data!.constructed) throw new Pkcs12Error('the PKCS#12 archive has an encrypted safe Go\'s reader cannot parse');
      bagsBytes = decrypt(algorithm!, data!.value as string, effectivePassword, 'its certificates');
    } else {
      throw new Pkcs12Error(`the PKCS#12 archive holds a safe of type ${oidName(oid(type!))}: Go's reader takes only data and encryptedData safes; ${REEXPORT}`);
    }
    for (const bag of sequence(parseDer(bagsBytes, 'a safe'), 0, 'a safe')) readBag(bag, effectivePassword, contents);
  }
  return contents;
}

/** The provider's decodePKCS12: every key as PKCS#8, then the certificates (ordered by --construct-pem-chain). */
export function pkcs12ToPem(pfx: Buffer, constructPemChain: boolean): string {
  const contents = readPkcs12(pfx);
  let out = '';
  // The provider drops the bag attributes and re-marshals each key with x509.MarshalPKCS8PrivateKey.
  for (const { key } of contents.keys) out += encodePem('PRIVATE KEY', marshalPkcs8(key));
  const certs = contents.certs.map((c) => c.der);
  for (const cert of constructPemChain ? orderChain(certs) : certs) out += encodePem('CERTIFICATE', cert);
  return out;
}

function readBag(bag: Asn1, password: string | null, contents: Pkcs12Contents): void {
  const [id, value, attributeSet] = sequence(bag, 2, 'a safe bag');
  const bagType = oid(id!);
  const attributes = attributeSet === undefined ? new Map<string, string>() : readBagAttributes(attributeSet);
  if (bagType === OID_CERT_BAG) {
    const [certId, certValue] = sequence(explicit(value!, 'a certificate bag'), 2, 'a certificate bag');
    if (oid(certId!) !== OID_X509_CERT) throw new Pkcs12Error('the PKCS#12 archive holds a certificate that is not X.509, which Go\'s reader refuses');
    contents.certs.push({ der: Buffer.from(octets(explicit(certValue!, 'a certificate bag'), 'a certificate bag'), 'binary'), attributes });
  } else if (bagType === OID_SHROUDED_KEY_BAG) {
    const [algorithm, data] = sequence(explicit(value!, 'a key bag'), 2, 'a key bag');
    const der = decrypt(algorithm!, octets(data!, 'a key bag'), password, 'its private key');
    // Go unmarshals the decrypted key as DER before it parses it as PKCS#8.
    parseDer(der, 'its private key');
    const key = parseGoPkcs8(Buffer.from(der, 'binary'));
    if (typeof key === 'string') throw new Pkcs12Error(`the PKCS#12 archive holds a key Go's reader refuses: ${key}`);
    contents.keys.push({ key, attributes });
  } else {
    throw new Pkcs12Error(`the PKCS#12 archive holds a safe bag of type ${oidName(bagType)}, which Go's reader cannot convert; ${REEXPORT}`);
  }
}

// Go's verifyMac: HMAC-SHA-1 under the PKCS#12 key derivation, with the password as a
// BMP string, then once more with no password at all, as some writers use.
function verifyMac(macData: Asn1, message: string, password: string): string | null {
  const [digestInfo, salt, iterations] = sequence(macData, 2, 'its MAC');
  const [algorithm, digest] = sequence(digestInfo!, 2, 'its MAC');
  const algorithmId = oid(sequence(algorithm!, 1, 'its MAC')[0]!);
  if (algorithmId !== OID_SHA1) throw new Pkcs12Error(`the PKCS#12 archive has a MAC with ${oidName(algorithmId)}: Go's reader checks SHA-1 MACs only; ${REEXPORT}`);
  const count = iterations === undefined ? 1 : integer(iterations);
  const expected = Buffer.from(octets(digest!, 'its MAC'), 'binary');
  for (const candidate of [password, ...(password === '' ? [null] : [])]) {
    if (count < 1) break;
    const key = pbe.generatePkcs12Key(candidate, forge.util.createBuffer(octets(salt!, 'its MAC')), 3, count, 20);
    const actual = createHmac('sha1', Buffer.from(key.getBytes(), 'binary')).update(Buffer.from(message, 'binary')).digest();
    if (actual.length === expected.length && timingSafeEqual(actual, expected)) return candidate;
  }
  throw new Pkcs12Error('PKCS#12 MAC could not be verified: the archive has a password (Key Vault keeps none) or is corrupt');
}

function decrypt(algorithm: Asn1, data: string, password: string | null, what: string): string {
  const [id, params] = sequence(algorithm, 1, what);
  const algorithmId = oid(id!);
  if (algorithmId !== OID_PBE_SHA_3DES && algorithmId !== OID_PBE_SHA_RC2_40) {
    throw new Pkcs12Error(`the PKCS#12 archive encrypts ${what} with ${oidName(algorithmId)}: Go's reader takes only pbeWithSHAAnd3-KeyTripleDES-CBC and pbeWithSHAAnd40BitRC2-CBC; ${REEXPORT}`);
  }
  if (params === undefined || data.length === 0) throw new Pkcs12Error(`the PKCS#12 archive has ${what} encrypted without data or parameters`);
  const cipher = pbe.getCipherForPKCS12PBE(algorithmId, params, password);
  cipher.update(forge.util.createBuffer(data));
  if (!cipher.finish()) throw new Pkcs12Error(`the PKCS#12 archive's ${what.replace(/^its /, '')} could not be decrypted (a password, or corrupt data)`);
  return cipher.output.getBytes();
}

function readBagAttributes(set: Asn1): BagAttributes {
  const out = new Map<string, string>();
  for (const attribute of sequence(set, 0, 'bag attributes')) {
    const [id, values] = sequence(attribute, 2, 'a bag attribute');
    const first = (values!.value as Asn1[])[0];
    if (first === undefined || typeof first.value !== 'string') continue;
    const name = oid(id!);
    if (name === OID_FRIENDLY_NAME) out.set('friendlyName', Buffer.from(first.value, 'binary').swap16().toString('utf16le'));
    else if (name === OID_MS_CSP_NAME) out.set('Microsoft CSP Name', Buffer.from(first.value, 'binary').swap16().toString('utf16le'));
    else if (name === OID_LOCAL_KEY_ID) out.set('localKeyId', Buffer.from(first.value, 'binary').toString('hex'));
  }
  return out;
}

// Go's encoding/asn1 reads DER only: an indefinite or non-minimal length, a
// constructed string or trailing bytes make it fail. A DER parse re-encodes
// to the same bytes; anything else is BER.
function parseDer(binary: string, what: string): Asn1 {
  let node: Asn1;
  try {
    node = forge.asn1.fromDer(binary, { strict: true, parseAllBytes: true, decodeBitStrings: false } as never);
  } catch (error) {
    throw new Pkcs12Error(`the PKCS#12 archive is not valid ASN.1 (${what}: ${(error as Error).message})`);
  }
  if (forge.asn1.toDer(node).getBytes() !== binary || hasConstructedString(node)) {
    throw new Pkcs12Error(`the PKCS#12 archive is BER, not DER (${what}; e.g. indefinite lengths), which Go's reader refuses; ${REEXPORT}`);
  }
  return node;
}

function hasConstructedString(node: Asn1): boolean {
  if (!Array.isArray(node.value)) return false;
  if (node.tagClass === forge.asn1.Class.UNIVERSAL && node.type === forge.asn1.Type.OCTETSTRING) return true;
  return node.value.some(hasConstructedString);
}

function sequence(node: Asn1, min: number, what: string): Asn1[] {
  if (!Array.isArray(node.value) || node.value.length < min) throw new Pkcs12Error(`the PKCS#12 archive is malformed (${what})`);
  return node.value;
}

function explicit(node: Asn1, what: string): Asn1 {
  if (node.tagClass !== forge.asn1.Class.CONTEXT_SPECIFIC || node.type !== 0) throw new Pkcs12Error(`the PKCS#12 archive is malformed (${what})`);
  return sequence(node, 1, what)[0]!;
}

function octets(node: Asn1, what: string): string {
  if (node.type !== forge.asn1.Type.OCTETSTRING || typeof node.value !== 'string') throw new Pkcs12Error(`the PKCS#12 archive is malformed (${what})`);
  return node.value;
}

function integer(node: Asn1): number {
  if (node.type !== forge.asn1.Type.INTEGER || typeof node.value !== 'string') throw new Pkcs12Error('the PKCS#12 archive is malformed (an INTEGER)');
  return forge.asn1.derToInteger(node.value);
}

function oid(node: Asn1): string {
  if (node.type !== forge.asn1.Type.OID || typeof node.value !== 'string') throw new Pkcs12Error('the PKCS#12 archive is malformed (an OBJECT IDENTIFIER)');
  return forge.asn1.derToOid(node.value);
}

function oidName(id: string): string {
  const name = OID_NAMES[id];
  return name === undefined ? id : `${name} (${id})`;
}
