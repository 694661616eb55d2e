// Shapes fetched Key Vault objects into the exact file contents the AKS
// add-on (Secrets Store CSI driver + Azure provider) writes into a mount, so
// that a Secret we sync holds the same bytes the driver would have synced.
//
// Provider behaviours reproduced here (pkg/provider/provider.go):
// - PEM blocks are written like Go's pem.EncodeToMemory: LF line endings,
//   64-character base64 lines, a newline after the END line.
// - A PKCS#12 secret becomes PEM: every private key as PKCS#8 first, then the
//   certificates; with --construct-pem-chain (on in AKS and the provider's
//   default) ordered leaf → intermediate → root, dropping certificates that
//   are not on the leaf's chain, as the provider does.
// - With --write-cert-and-key-in-separate-files (on in the AKS add-on) a
//   secret that backs a certificate also yields `<file>.crt` and `<file>.key`.
// - objectEncoding decodes the final content (Go's strict base64 / hex).

import { X509Certificate, createPrivateKey, createPublicKey, type JsonWebKey } from 'node:crypto';
import forge from 'node-forge';
import { historyFileName, objectId, type ObjectSpec, type Problem } from './spc.ts';

/** GET {vault}/secrets/{name}/{version}, as the REST API returns it. */
export interface SecretBundle {
  id: string;
  value: string;
  contentType?: string | null;
  /** Set when the secret backs a certificate. */
  kid?: string | null;
  enabled?: boolean;
}

/** The `key` member of GET {vault}/keys/{name}/{version}: a JWK with base64url fields. */
export interface KeyBundle {
  kid: string;
  kty: string;
  n?: string;
  e?: string;
  crv?: string;
  x?: string;
  y?: string;
}

/** GET {vault}/certificates/{name}/{version}; `cer` is the DER, base64 in JSON. */
export interface CertificateBundle {
  id: string;
  cer: string | Uint8Array;
}

export type FetchedObject =
  | { objectType: 'secret'; bundle: SecretBundle }
  | { objectType: 'key'; bundle: KeyBundle }
  | { objectType: 'cert'; bundle: CertificateBundle };

export interface RenderedFile {
  /** Relative path in the mount, which secretObjects[].data[].objectName refers to. */
  fileName: string;
  content: Buffer;
  /** `<objectType>/<objectName>`, plus `/<index>` for version history entries. */
  id: string;
  version: string;
}

export interface RenderOptions {
  /** Provider flag --construct-pem-chain. */
  constructPemChain: boolean;
  /** Provider flag --write-cert-and-key-in-separate-files. */
  separateCertAndKeyFiles: boolean;
}

/** How the AKS add-on runs the provider. */
export const AKS_ADDON_RENDER_OPTIONS: Readonly<RenderOptions> = {
  constructPemChain: true,
  separateCertAndKeyFiles: true,
};

export type RenderResult = { ok: true; files: RenderedFile[] } | { ok: false; problem: Problem };

const CERT_TYPE_PEM = 'application/x-pem-file';
const CERT_TYPE_PFX = 'application/x-pkcs12';

/**
 * Renders one fetched object. `historyIndex` selects the `<alias>/<index>`
 * file of an objectVersionHistory entry (see pickVersionHistory).
 */
export function renderObject(
  spec: ObjectSpec,
  fetched: FetchedObject,
  options: Partial<RenderOptions> & { historyIndex?: number } = {},
): RenderResult {
  const opts: RenderOptions = { ...AKS_ADDON_RENDER_OPTIONS, ...options };
  const fileName = options.historyIndex === undefined ? spec.objectAlias : historyFileName(spec.objectAlias, options.historyIndex);
  const id = objectId(spec, options.historyIndex);
  const fail = (version: string, message: string): RenderResult => ({
    ok: false,
    problem: {
      field: `spec.parameters.objects[${spec.index}]`,
      message: `${id}${version === '' ? '' : ` (version ${version})`}: ${message}`,
    },
  });

  if (fetched.objectType !== spec.objectType) {
    return fail('', `was fetched as a ${fetched.objectType}, but the class asks for a ${spec.objectType}`);
  }
  try {
    switch (fetched.objectType) {
      case 'secret': {
        const version = versionFromId(fetched.bundle.id);
        const rendered = renderSecret(spec, fetched.bundle, opts);
        if (typeof rendered === 'string') return fail(version, rendered);
        return {
          ok: true,
          files: rendered.map((part) => ({ fileName: fileName + part.suffix, content: part.content, id, version })),
        };
      }
      case 'key': {
        const version = versionFromId(fetched.bundle.kid);
        const content = renderPublicKey(fetched.bundle);
        if (typeof content === 'string') return fail(version, content);
        return { ok: true, files: [{ fileName, content, id, version }] };
      }
      case 'cert': {
        const version = versionFromId(fetched.bundle.id);
        const der = typeof fetched.bundle.cer === 'string' ? decodeStdBase64(fetched.bundle.cer) : Buffer.from(fetched.bundle.cer);
        if (der === undefined) return fail(version, 'the certificate\'s "cer" is not valid base64');
        return { ok: true, files: [{ fileName, content: Buffer.from(encodePem('CERTIFICATE', der), 'latin1'), id, version }] };
      }
    }
  } catch (error) {
    // Library errors describe structure, never the secret's bytes.
    return fail('', `could not be rendered: ${(error as Error).message}`);
  }
}

/**
 * The version of a Key Vault object id
 * (`https://<vault>/<secrets|keys|certificates>/<name>/<version>`); '' when
 * the id names no version.
 */
export function versionFromId(id: string): string {
  let path = id;
  try {
    path = new URL(id).pathname;
  } catch {
    // Not a URL: treat the whole id as a path.
  }
  const segments = path.split('/').filter((s) => s !== '');
  return segments.length >= 3 ? (segments[2] as string) : '';
}

interface FilePart {
  suffix: string;
  content: Buffer;
}

// Returns the parts to write, or a message saying what is wrong.
function renderSecret(spec: ObjectSpec, bundle: SecretBundle, opts: RenderOptions): FilePart[] | string {
  let text = bundle.value;
  const parts: Array<{ suffix: string; text: string }> = [];
  if (bundle.kid) {
    const contentType = bundle.contentType ?? '';
    if (contentType === CERT_TYPE_PFX) {
      if (spec.objectFormat !== 'pfx') {
        const pfx = decodeStdBase64(bundle.value);
        if (pfx === undefined) return 'the PKCS#12 value is not valid base64';
        text = pkcs12ToPem(pfx, opts.constructPemChain);
      }
    } else if (contentType !== CERT_TYPE_PEM) {
      return `unknown content type "${contentType}" for a secret that backs a certificate: expected ${CERT_TYPE_PEM} or ${CERT_TYPE_PFX}`;
    }
    if (opts.separateCertAndKeyFiles) {
      const { certs, keys } = splitCertAndKey(Buffer.from(text, 'utf8'));
      parts.push({ suffix: '.crt', text: certs }, { suffix: '.key', text: keys });
    }
  }
  parts.push({ suffix: '', text });

  const out: FilePart[] = [];
  for (const part of parts) {
    const content = decodeContent(part.text, spec.objectEncoding);
    if (content === undefined) {
      return `the value is not valid ${spec.objectEncoding}: fix the secret in Key Vault or the class's objectEncoding`;
    }
    out.push({ suffix: part.suffix, content });
  }
  return out;
}

function decodeContent(text: string, encoding: ObjectSpec['objectEncoding']): Buffer | undefined {
  switch (encoding) {
    case 'utf-8':
      return Buffer.from(text, 'utf8');
    case 'base64':
      return decodeStdBase64(text);
    case 'hex':
      return /^(?:[0-9a-fA-F]{2})*$/.test(text) ? Buffer.from(text, 'hex') : undefined;
  }
}

/**
 * Go's base64.StdEncoding.DecodeString: padding required, CR and LF ignored,
 * anything else outside the alphabet is an error (Node's decoder would skip it).
 */
export function decodeStdBase64(text: string): Buffer | undefined {
  const compact = text.replace(/[\r\n]/g, '');
  if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(compact)) {
    return undefined;
  }
  return Buffer.from(compact, 'base64');
}

// ---------------------------------------------------------------------------
// Keys

const EC_FIELD_BYTES: Readonly<Record<string, number>> = { 'P-256': 32, 'P-384': 48, 'P-521': 66 };

function renderPublicKey(bundle: KeyBundle): Buffer | string {
  const kty = bundle.kty;
  let jwk: JsonWebKey;
  if (kty === 'RSA' || kty === 'RSA-HSM') {
    const n = decodeBase64Url(bundle.n);
    const e = decodeBase64Url(bundle.e);
    if (n === undefined || e === undefined) return 'the RSA key has no valid base64url "n" and "e"';
    jwk = { kty: 'RSA', n: stripLeadingZeros(n).toString('base64url'), e: stripLeadingZeros(e).toString('base64url') };
  } else if (kty === 'EC' || kty === 'EC-HSM') {
    const size = EC_FIELD_BYTES[bundle.crv ?? ''];
    if (size === undefined) return `curve "${bundle.crv ?? ''}" is not supported: use P-256, P-384 or P-521`;
    const x = decodeBase64Url(bundle.x);
    const y = decodeBase64Url(bundle.y);
    if (x === undefined || y === undefined) return 'the EC key has no valid base64url "x" and "y"';
    // Go reads the coordinates as big integers; node wants them at field size.
    jwk = { kty: 'EC', crv: bundle.crv as string, x: toFieldSize(x, size).toString('base64url'), y: toFieldSize(y, size).toString('base64url') };
  } else {
    return `key type "${kty}" is not supported: only RSA and EC keys have a public key to write`;
  }
  const der = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'der' });
  return Buffer.from(encodePem('PUBLIC KEY', der), 'latin1');
}

function decodeBase64Url(text: string | undefined): Buffer | undefined {
  if (text === undefined || text === '') return undefined;
  const unpadded = text.replace(/=+$/, '');
  if (!/^[A-Za-z0-9_-]+$/.test(unpadded)) return undefined;
  return Buffer.from(unpadded, 'base64url');
}

function stripLeadingZeros(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
}

function toFieldSize(bytes: Buffer, size: number): Buffer {
  const trimmed = stripLeadingZeros(bytes);
  if (trimmed.length >= size) return trimmed;
  return Buffer.concat([Buffer.alloc(size - trimmed.length), trimmed]);
}

// ---------------------------------------------------------------------------
// PEM, the way Go's encoding/pem reads and writes it.

export interface PemBlock {
  type: string;
  headers: Map<string, string>;
  bytes: Buffer;
}

/** pem.EncodeToMemory: returned as a latin1 string (PEM is ASCII). */
export function encodePem(type: string, bytes: Uint8Array, headers?: ReadonlyMap<string, string>): string {
  let out = `-----BEGIN ${type}-----\n`;
  if (headers !== undefined && headers.size > 0) {
    // Go writes Proc-Type first, then the other headers sorted.
    const procType = headers.get('Proc-Type');
    if (procType !== undefined) out += `Proc-Type: ${procType}\n`;
    for (const key of [...headers.keys()].filter((k) => k !== 'Proc-Type').sort()) {
      out += `${key}: ${headers.get(key)}\n`;
    }
    out += '\n';
  }
  const body = Buffer.from(bytes).toString('base64');
  for (let i = 0; i < body.length; i += 64) out += `${body.slice(i, i + 64)}\n`;
  return `${out}-----END ${type}-----\n`;
}

/**
 * Every block pem.Decode would find, in order. Like Go, malformed blocks
 * and text between blocks are skipped.
 */
export function decodePemBlocks(data: Buffer): PemBlock[] {
  const blocks: PemBlock[] = [];
  let rest = data.toString('latin1');
  for (;;) {
    const decoded = decodeOnePem(rest);
    if (decoded === undefined) return blocks;
    blocks.push(decoded.block);
    rest = decoded.rest;
  }
}

// A port of Go's pem.Decode, on a latin1 string.
function decodeOnePem(data: string): { block: PemBlock; rest: string } | undefined {
  let rest = data;
  for (;;) {
    if (rest.startsWith('-----BEGIN ')) {
      rest = rest.slice('-----BEGIN '.length);
    } else {
      const at = rest.indexOf('\n-----BEGIN ');
      if (at < 0) return undefined;
      rest = rest.slice(at + '\n-----BEGIN '.length);
    }
    let typeLine: string;
    [typeLine, rest] = getLine(rest);
    if (!typeLine.endsWith('-----')) continue;
    const type = typeLine.slice(0, -'-----'.length);

    const headers = new Map<string, string>();
    let truncated = false;
    for (;;) {
      if (rest.length === 0) {
        truncated = true;
        break;
      }
      const [line, next] = getLine(rest);
      const colon = line.indexOf(':');
      if (colon < 0) break;
      headers.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      rest = next;
    }
    if (truncated) return undefined;

    let endIndex: number;
    let endTrailerIndex: number;
    if (headers.size === 0 && rest.startsWith('-----END ')) {
      endIndex = 0;
      endTrailerIndex = '-----END '.length;
    } else {
      endIndex = rest.indexOf('\n-----END ');
      endTrailerIndex = endIndex + '\n-----END '.length;
    }
    if (endIndex < 0) continue;
    const trailerLen = type.length + '-----'.length;
    const endTrailer = rest.slice(endTrailerIndex, endTrailerIndex + trailerLen);
    if (endTrailer.length < trailerLen || !endTrailer.startsWith(type) || !endTrailer.endsWith('-----')) continue;
    const [afterEnd] = getLine(rest.slice(endTrailerIndex + trailerLen));
    if (afterEnd.length !== 0) continue;
    const bytes = decodeStdBase64(rest.slice(0, endIndex).replace(/[ \t]/g, ''));
    if (bytes === undefined) continue;
    const [, remaining] = getLine(rest.slice(endIndex + '\n-----END '.length - 1));
    return { block: { type, headers, bytes }, rest: remaining };
  }
}

// Go's getLine: the first line without trailing spaces/tabs/CR, and the rest.
function getLine(data: string): [string, string] {
  let i = data.indexOf('\n');
  let j: number;
  if (i < 0) {
    i = data.length;
    j = i;
  } else {
    j = i + 1;
    if (i > 0 && data[i - 1] === '\r') i--;
  }
  return [data.slice(0, i).replace(/[ \t]+$/, ''), data.slice(j)];
}

/** The provider's splitCertAndKey: CERTIFICATE blocks to one side, every other block to the other. */
export function splitCertAndKey(content: Buffer): { certs: string; keys: string } {
  let certs = '';
  let keys = '';
  for (const block of decodePemBlocks(content)) {
    const pem = encodePem(block.type, block.bytes, block.headers);
    if (block.type === 'CERTIFICATE') certs += pem;
    else keys += pem;
  }
  return { certs, keys };
}

// ---------------------------------------------------------------------------
// PKCS#12

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

// ---------------------------------------------------------------------------
// Version history

export interface VersionItem {
  /** The version's id (…/<name>/<version>). */
  id: string;
  enabled?: boolean;
  /** attributes.created: unix seconds as the REST API returns it, or a Date. */
  created?: number | Date;
}

export interface HistoryEntry {
  index: number;
  version: string;
  fileName: string;
  id: string;
}

/**
 * Which versions an objectVersionHistory object writes: the N newest enabled
 * versions, newest first, starting at objectVersion when one is pinned, named
 * `<alias>/0`, `<alias>/1`, …. Only meaningful for objectVersionHistory ≥ 2;
 * for 0 and 1 the provider reads the single selected version instead.
 *
 * The provider's loop takes one version more than N when more exist; we take
 * N, which is what its documentation promises.
 */
export function pickVersionHistory(spec: ObjectSpec, items: readonly VersionItem[]): HistoryEntry[] {
  if (spec.objectVersionHistory < 2) return [];
  const createdMs = (item: VersionItem): number => {
    if (item.created instanceof Date) return item.created.getTime();
    return (item.created ?? 0) * 1000;
  };
  const sorted = items
    .filter((item) => item.enabled !== false)
    .map((item, order) => ({ version: versionFromId(item.id), created: createdMs(item), order }))
    .sort((a, b) => b.created - a.created || a.order - b.order);
  const pinned = spec.objectVersion !== '' && spec.objectVersion !== 'latest';
  const start = pinned ? sorted.findIndex((v) => v.version === spec.objectVersion) : 0;
  if (start < 0) return [];
  return sorted.slice(start, start + spec.objectVersionHistory).map((v, index) => ({
    index,
    version: v.version,
    fileName: historyFileName(spec.objectAlias, index),
    id: objectId(spec, index),
  }));
}
