// Verifying a service-account token against the API server's JWKS, as Entra
// ID does for a federated credential. The local environment's token endpoint
// uses it to accept workload-identity assertions.
import { createPublicKey, verify, type JsonWebKey } from 'node:crypto';

export interface JwtClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat?: number;
  nbf?: number;
  [claim: string]: unknown;
}

export class JwtError extends Error {}

export function decodeJwt(token: string): { header: { alg: string; kid?: string }; claims: JwtClaims; signingInput: string; signature: Buffer } {
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtError('not a JWT: expected three dot-separated parts');
  const [h, c, s] = parts as [string, string, string];
  try {
    return {
      header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
      claims: JSON.parse(Buffer.from(c, 'base64url').toString('utf8')),
      signingInput: `${h}.${c}`,
      signature: Buffer.from(s, 'base64url'),
    };
  } catch {
    throw new JwtError('not a JWT: a part is not base64url JSON');
  }
}

export function verifyJwt(token: string, jwks: { keys: (JsonWebKey & { kid?: string })[] }, expect: { issuer: string; audience: string; now?: number }): JwtClaims {
  const { header, claims, signingInput, signature } = decodeJwt(token);
  if (header.alg !== 'RS256' && header.alg !== 'ES256') throw new JwtError(`unsupported alg ${header.alg}`);
  const jwk = jwks.keys.find((k) => k.kid === header.kid) ?? (jwks.keys.length === 1 ? jwks.keys[0] : undefined);
  if (!jwk) throw new JwtError(`no key with kid ${header.kid} in the JWKS`);
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const ok = header.alg === 'RS256'
    ? verify('RSA-SHA256', Buffer.from(signingInput), key, signature)
    : verify('SHA256', Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' }, signature);
  if (!ok) throw new JwtError('signature does not verify');
  const now = Math.floor((expect.now ?? Date.now()) / 1000);
  if (claims.iss !== expect.issuer) throw new JwtError(`issuer ${claims.iss} is not ${expect.issuer}`);
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(expect.audience)) throw new JwtError(`audience ${aud.join(',')} does not include ${expect.audience}`);
  if (typeof claims.exp !== 'number' || claims.exp <= now) throw new JwtError('token expired');
  if (typeof claims.nbf === 'number' && claims.nbf > now + 60) throw new JwtError('token not yet valid');
  return claims;
}
