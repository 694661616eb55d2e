// Private keys as Go's crypto/x509 reads and writes them, which is how the
// provider (PKCS#12 → PKCS#8) and the driver (tls.key → PKCS#1 or SEC 1)
// re-encode every key they touch. Two differences from OpenSSL decide bytes:
// Go takes only RSA and ECDSA keys on P-224/256/384/521, and Go always writes
// an EC key's public point, where OpenSSL leaves it out when the key it read
// had none (RFC 5915 makes it optional, and some tools omit it).
import { createPrivateKey, type KeyObject } from 'node:crypto';

/** The curves Go's crypto/x509 parses, by OpenSSL's name for them. */
const GO_CURVES = new Set(['secp224r1', 'prime256v1', 'secp384r1', 'secp521r1']);

export type GoPrivateKey = { kind: 'rsa' | 'ec'; key: KeyObject };

/**
 * x509.ParsePKCS1PrivateKey, then ParsePKCS8PrivateKey, then
 * ParseECPrivateKey, as both the provider and the driver try them. A key Go
 * parses but neither re-encodes (Ed25519, X25519) comes back as a message.
 */
export function parseGoPrivateKey(der: Uint8Array): GoPrivateKey | string {
  for (const type of ['pkcs1', 'pkcs8', 'sec1'] as const) {
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: Buffer.from(der), format: 'der', type });
    } catch {
      continue;
    }
    return goKey(key);
  }
  return 'the private key is not PKCS#1, PKCS#8 or SEC 1';
}

/** A PKCS#8 key as Go's x509.ParsePKCS8PrivateKey takes it (what PKCS#12 bags hold). */
export function parseGoPkcs8(der: Uint8Array): GoPrivateKey | string {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
  } catch {
    return 'the private key is not PKCS#8';
  }
  return goKey(key);
}

function goKey(key: KeyObject): GoPrivateKey | string {
  if (key.asymmetricKeyType === 'rsa') return { kind: 'rsa', key };
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? '';
    if (!GO_CURVES.has(curve)) return `EC curve "${curve}" is not supported: use P-256, P-384 or P-521`;
    // Through JWK the public point is computed, so every export below carries it, as Go's do.
    return { kind: 'ec', key: createPrivateKey({ key: key.export({ format: 'jwk' }), format: 'jwk' }) };
  }
  return `private key type "${key.asymmetricKeyType}" is not supported: only RSA and EC keys`;
}

/** x509.MarshalPKCS8PrivateKey. */
export function marshalPkcs8(key: GoPrivateKey): Buffer {
  return key.key.export({ type: 'pkcs8', format: 'der' });
}

/** x509.MarshalPKCS1PrivateKey (RSA, `RSA PRIVATE KEY`) or x509.MarshalECPrivateKey (EC, `EC PRIVATE KEY`). */
export function marshalTraditional(key: GoPrivateKey): { type: 'RSA PRIVATE KEY' | 'EC PRIVATE KEY'; der: Buffer } {
  return key.kind === 'rsa'
    ? { type: 'RSA PRIVATE KEY', der: key.key.export({ type: 'pkcs1', format: 'der' }) }
    : { type: 'EC PRIVATE KEY', der: key.key.export({ type: 'sec1', format: 'der' }) };
}
