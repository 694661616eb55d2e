// kubernetes.io/tls Secret data from a rendered file, as the CSI driver's
// GetCertPart builds it: tls.crt gets every CERTIFICATE block, tls.key the
// private key converted to PKCS#1 (RSA) or SEC 1 (EC).
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { decodePemBlocks, encodePem } from './pem.ts';
import { readPkcs12 } from './pkcs12.ts';

/**
 * The driver's GetCertPart for kubernetes.io/tls: tls.crt gets every
 * CERTIFICATE block, tls.key the last other block converted to PKCS#1
 * (`RSA PRIVATE KEY`) or SEC 1 (`EC PRIVATE KEY`). A file without PEM blocks
 * is read as a binary PKCS#12 with the empty password. Returns the bytes or
 * a message.
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
    let keyObject: KeyObject | undefined;
    const others = blocks.filter((b) => b.type !== 'CERTIFICATE');
    const last = others[others.length - 1];
    if (last !== undefined) {
      keyObject = parsePrivateKey(last.bytes);
    } else if (blocks.length === 0) {
      const pfx = readPfx(content);
      if (typeof pfx === 'string') return pfx;
      const lastKey = pfx.keys[pfx.keys.length - 1];
      if (lastKey === undefined) return 'the PKCS#12 holds no private key';
      keyObject = parsePrivateKey(lastKey.der);
    } else {
      return 'holds no private key block';
    }
    if (keyObject === undefined) return 'the private key is not PKCS#1, PKCS#8 or SEC 1';
    if (keyObject.asymmetricKeyType === 'rsa') {
      return Buffer.from(encodePem('RSA PRIVATE KEY', keyObject.export({ type: 'pkcs1', format: 'der' })), 'latin1');
    }
    if (keyObject.asymmetricKeyType === 'ec') {
      return Buffer.from(encodePem('EC PRIVATE KEY', keyObject.export({ type: 'sec1', format: 'der' })), 'latin1');
    }
    return `private key type "${keyObject.asymmetricKeyType}" is not supported: only RSA and EC keys`;
  }
  return `"${key}" is not a kubernetes.io/tls key: use tls.crt or tls.key`;
}

function readPfx(content: Buffer): ReturnType<typeof readPkcs12> | string {
  try {
    return readPkcs12(content);
  } catch (error) {
    return `holds neither PEM blocks nor a readable PKCS#12 (${(error as Error).message})`;
  }
}

// Go's order of attempts in the driver: PKCS#1, then PKCS#8, then SEC 1.
function parsePrivateKey(der: Buffer): KeyObject | undefined {
  for (const type of ['pkcs1', 'pkcs8', 'sec1'] as const) {
    try {
      return createPrivateKey({ key: der, format: 'der', type });
    } catch {
      // try the next encoding
    }
  }
  return undefined;
}

