// PKCS#12 as Key Vault stores a certificate's secret (empty password), and its
// conversion to PEM as the Azure provider does it (decodePKCS12 with
// --construct-pem-chain): every private key as PKCS#8 first, then the
// certificates ordered leaf → intermediate → root.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import forge from 'node-forge';
import { encodePem } from './pem.ts';

export interface Pkcs12Item {
  /** Certificate DER as stored, or the private key as PKCS#8 DER. */
  der: Buffer;
  /**
   * Bag attributes named as Go's pkcs12.ToPEM names its PEM headers
   * (friendlyName, localKeyId, Microsoft CSP Name); the driver keeps them.
   */
  attributes: Map<string, string>;
}

export interface Pkcs12Contents {
  /** In bag order. */
  keys: Pkcs12Item[];
  /** In bag order. */
  certs: Pkcs12Item[];
}

const OID_DATA = '1.2.840.113549.1.7.1';
const OID_ENCRYPTED_DATA = '1.2.840.113549.1.7.6';
const OID_KEY_BAG = '1.2.840.113549.1.12.10.1.1';
const OID_SHROUDED_KEY_BAG = '1.2.840.113549.1.12.10.1.2';
const OID_CERT_BAG = '1.2.840.113549.1.12.10.1.3';
const OID_X509_CERT = '1.2.840.113549.1.9.22.1';
const OID_FRIENDLY_NAME = '1.2.840.113549.1.9.20';
const OID_LOCAL_KEY_ID = '1.2.840.113549.1.9.21';
const OID_MS_CSP_NAME = '1.3.6.1.4.1.311.17.1';

type Asn1 = forge.asn1.Asn1;
interface PbeCipher {
  update(input: forge.util.ByteBuffer): void;
  finish(): boolean;
  output: forge.util.ByteBuffer;
}
// pki.pbe is public in node-forge but missing from its type definitions.
const pbe = (forge.pki as unknown as { pbe: { getCipher(oid: string, params: Asn1, password: string): PbeCipher } }).pbe;

/**
 * Reads a PKCS#12 archive protected by the empty password, as Key Vault
 * stores it. node-forge verifies the MAC and decrypts; the walk below keeps
 * each certificate's original DER, which forge would otherwise re-encode.
 */
export function readPkcs12(pfx: Buffer, password = ''): Pkcs12Contents {
  const binary = pfx.toString('binary');
  // Verifies the structure and MAC; throws on a wrong password or corrupt data.
  forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(binary, false), false, password);

  const contents: Pkcs12Contents = { keys: [], certs: [] };
  const root = forge.asn1.fromDer(binary, false);
  const authSafe = child(root, 1);
  const authSafeBytes = octets(child(child(authSafe, 1), 0));
  for (const info of children(forge.asn1.fromDer(authSafeBytes, false))) {
    const type = oid(child(info, 0));
    let safeContents: string;
    if (type === OID_DATA) {
      safeContents = octets(child(child(info, 1), 0));
    } else if (type === OID_ENCRYPTED_DATA) {
      const encryptedContentInfo = child(child(child(info, 1), 0), 1);
      const algorithm = child(encryptedContentInfo, 1);
      const cipher = pbe.getCipher(oid(child(algorithm, 0)), child(algorithm, 1), password);
      cipher.update(forge.util.createBuffer(octets(child(encryptedContentInfo, 2))));
      if (!cipher.finish()) throw new Error('PKCS#12 safe contents could not be decrypted');
      safeContents = cipher.output.getBytes();
    } else {
      continue;
    }
    for (const bag of children(forge.asn1.fromDer(safeContents, false))) {
      const bagType = oid(child(bag, 0));
      const value = child(child(bag, 1), 0);
      const bagAttributes = children(bag)[2];
      const attributes = bagAttributes === undefined ? new Map<string, string>() : readBagAttributes(bagAttributes);
      if (bagType === OID_CERT_BAG) {
        if (oid(child(value, 0)) !== OID_X509_CERT) continue;
        contents.certs.push({ der: Buffer.from(octets(child(child(value, 1), 0)), 'binary'), attributes });
      } else if (bagType === OID_KEY_BAG || bagType === OID_SHROUDED_KEY_BAG) {
        const info: Asn1 | null = bagType === OID_KEY_BAG ? value : forge.pki.decryptPrivateKeyInfo(value, password);
        if (info === null) throw new Error('PKCS#12 private key could not be decrypted');
        contents.keys.push({ der: Buffer.from(forge.asn1.toDer(info).getBytes(), 'binary'), attributes });
      }
    }
  }
  return contents;
}

function readBagAttributes(set: Asn1): Map<string, string> {
  const out = new Map<string, string>();
  for (const attribute of children(set)) {
    const id = oid(child(attribute, 0));
    const first = children(child(attribute, 1))[0];
    if (first === undefined || typeof first.value !== 'string') continue;
    if (id === OID_FRIENDLY_NAME) out.set('friendlyName', Buffer.from(first.value, 'binary').swap16().toString('utf16le'));
    else if (id === OID_MS_CSP_NAME) out.set('Microsoft CSP Name', Buffer.from(first.value, 'binary').swap16().toString('utf16le'));
    else if (id === OID_LOCAL_KEY_ID) out.set('localKeyId', Buffer.from(first.value, 'binary').toString('hex'));
  }
  return out;
}

/** The provider's decodePKCS12: keys (PKCS#8) first, then certificates. */
export function pkcs12ToPem(pfx: Buffer, constructPemChain: boolean): string {
  const contents = readPkcs12(pfx);
  const certs = contents.certs.map((c) => c.der);
  let out = '';
  // The provider drops the bag attributes and re-marshals each key with
  // x509.MarshalPKCS8PrivateKey.
  for (const key of contents.keys) {
    const der = createPrivateKey({ key: key.der, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'der' });
    out += encodePem('PRIVATE KEY', der);
  }
  for (const cert of constructPemChain ? orderChain(certs) : certs) out += encodePem('CERTIFICATE', cert);
  return out;
}

/**
 * Orders certificates leaf → intermediate → root by who issued whom (issuer
 * name and key identifiers, as OpenSSL checks them). Like the provider, the
 * leaf is the first certificate that issued none of the others, and
 * certificates off the leaf's chain are dropped.
 */
export function orderChain(certs: readonly Buffer[]): Buffer[] {
  if (certs.length <= 1) return [...certs];
  const parsed = certs.map((der) => new X509Certificate(der));
  const parent: Array<number | undefined> = parsed.map(() => undefined);
  const isParent = parsed.map(() => false);
  parsed.forEach((cert, i) => {
    const j = parsed.findIndex((other, k) => k !== i && cert.checkIssued(other));
    if (j >= 0) {
      parent[i] = j;
      isParent[j] = true;
    }
  });
  let at: number | undefined = isParent.indexOf(false);
  if (at < 0) throw new Error('the certificate chain has no leaf: every certificate issued another');
  const chain: Buffer[] = [];
  while (at !== undefined) {
    if (chain.length >= certs.length) throw new Error('the certificate chain has a cycle');
    chain.push(certs[at] as Buffer);
    at = parent[at];
  }
  return chain;
}

function children(node: Asn1): Asn1[] {
  if (!Array.isArray(node.value)) throw new Error('malformed PKCS#12: expected a constructed ASN.1 value');
  return node.value;
}

function child(node: Asn1, index: number): Asn1 {
  const found = children(node)[index];
  if (found === undefined) throw new Error('malformed PKCS#12: a required ASN.1 element is missing');
  return found;
}

function oid(node: Asn1): string {
  if (typeof node.value !== 'string') throw new Error('malformed PKCS#12: expected an OID');
  return forge.asn1.derToOid(node.value);
}

// OCTET STRING content; BER allows it in constructed chunks.
function octets(node: Asn1): string {
  if (typeof node.value === 'string') return node.value;
  return node.value.map(octets).join('');
}
