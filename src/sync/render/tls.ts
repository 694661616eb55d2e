// kubernetes.io/tls Secret data from a rendered file, as the CSI driver's
// GetCertPart builds it: tls.crt gets every CERTIFICATE block, tls.key the
// private key converted to PKCS#1 (RSA) or SEC 1 (EC).
import { decodePemBlocks, encodePem } from './pem.ts';
import { Pkcs12Error, readPkcs12, type Pkcs12Contents } from './pkcs12.ts';
import { marshalTraditional, parseGoPrivateKey, type GoPrivateKey } from './private-key.ts';

/**
 * The driver's GetCertPart for kubernetes.io/tls: tls.crt gets every
 * CERTIFICATE block, tls.key the last other block converted to PKCS#1
 * (`RSA PRIVATE KEY`) or SEC 1 (`EC PRIVATE KEY`). A file without PEM blocks
 * is read as a binary PKCS#12 with the empty password. Returns the bytes or
 * a message.
 *
 * Where the last other block is no key Go can parse, the driver writes an
 * empty `PRIVATE KEY` block into tls.key; we refuse the Secret instead (a TLS
 * Secret without a key only fails later, in the server that loads it).
 */
export function tlsPart(content: Buffer, key: string): Buffer | string {
  const blocks = decodePemBlocks(content);
  if (key === 'tls.crt') {
    const certs = blocks.filter((b) => b.type === 'CERTIFICATE');
    if (certs.length > 0) return Buffer.from(certs.map((b) => encodePem(b.type, b.bytes, b.headers)).join(''), 'latin1');
    if (blocks.length > 0) return 'holds no CERTIFICATE block';
    const pfx = readPfx(content);
    if (typeof pfx === 'string') return pfx;
    if (pfx.certs.length === 0) return 'the PKCS#12 holds no certificate';
    // Go's pkcs12.ToPEM carries the bag attributes over as PEM headers.
    return Buffer.from(pfx.certs.map((c) => encodePem('CERTIFICATE', c.der, c.attributes)).join(''), 'latin1');
  }
  if (key === 'tls.key') {
    let parsed: GoPrivateKey | string;
    const others = blocks.filter((b) => b.type !== 'CERTIFICATE');
    const last = others[others.length - 1];
    if (last !== undefined) {
      parsed = parseGoPrivateKey(last.bytes);
    } else if (blocks.length === 0) {
      const pfx = readPfx(content);
      if (typeof pfx === 'string') return pfx;
      const lastKey = pfx.keys[pfx.keys.length - 1];
      if (lastKey === undefined) return 'the PKCS#12 holds no private key';
      parsed = lastKey.key;
    } else {
      return 'holds no private key block';
    }
    if (typeof parsed === 'string') return parsed;
    const { type, der } = marshalTraditional(parsed);
    return Buffer.from(encodePem(type, der), 'latin1');
  }
  return `"${key}" is not a kubernetes.io/tls key: use tls.crt or tls.key`;
}

function readPfx(content: Buffer): Pkcs12Contents | string {
  try {
    return readPkcs12(content);
  } catch (error) {
    if (!(error instanceof Pkcs12Error)) throw error;
    return `holds neither PEM blocks nor a PKCS#12 archive the add-on can read (${error.message})`;
  }
}

