// A key object's file: the PUBLIC key as PKIX `PUBLIC KEY` PEM, built from the
// JWK Key Vault returns (RSA from n/e; EC P-256/384/521 from x/y), as the
// provider writes it. Key Vault never returns a key's private part.
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import type { KeyBundle } from '../../keyvault/objects.ts';
import { encodePem } from './pem.ts';

const EC_FIELD_BYTES: Readonly<Record<string, number>> = { 'P-256': 32, 'P-384': 48, 'P-521': 66 };

/** The PEM to write for a key, or a message saying why there is none. */
export function renderPublicKey(bundle: KeyBundle): Buffer | string {
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
