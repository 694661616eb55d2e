// The one digest function. Keyed (HMAC-SHA-256 with a per-installation key)
// so that a reader of Deployments cannot test guesses of secret values
// against what we publish; truncated to 128 bits, plenty to detect change.
import { createHmac } from 'node:crypto';

export interface Keyring {
  readonly key: Buffer;
  /** Names the key without revealing it, so a baseline made with a lost key is recognised. */
  readonly id: string;
}

export function makeKeyring(key: Buffer): Keyring {
  if (key.length < 32) throw new Error(`the digest key must be at least 32 bytes, got ${key.length}`);
  return { key, id: hmac(key, ['keyvault-reloader key id']).slice(0, 12) };
}

/** Fields are length-prefixed so that no two different inputs share an encoding. */
function hmac(key: Buffer, fields: (string | Buffer)[]): string {
  const h = createHmac('sha256', key);
  for (const f of fields) {
    const b = typeof f === 'string' ? Buffer.from(f, 'utf8') : f;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    h.update(len);
    h.update(b);
  }
  return h.digest('hex');
}

/** Digest of a Secret's content (type and data); labels, annotations and resourceVersion do not count. */
export function secretDigest(keyring: Keyring, secret: { type?: string; data?: Record<string, string> }): string {
  const fields: (string | Buffer)[] = ['secret', secret.type ?? 'Opaque'];
  for (const k of Object.keys(secret.data ?? {}).sort()) {
    fields.push(k, Buffer.from(secret.data?.[k] ?? '', 'base64'));
  }
  return hmac(keyring.key, fields).slice(0, 32);
}

/** Digest of what a CSI mount holds: its (object id, version) pairs, order-independent. */
export function mountedDigest(keyring: Keyring, objects: readonly { id: string; version: string }[]): string {
  const fields: string[] = ['mounted'];
  // Ties on id are broken by version so that duplicate ids (several pods) stay order-independent.
  const byIdThenVersion = (a: { id: string; version: string }, b: { id: string; version: string }): number =>
    a.id < b.id ? -1 : a.id > b.id ? 1 : a.version < b.version ? -1 : a.version > b.version ? 1 : 0;
  for (const o of [...objects].sort(byIdThenVersion)) fields.push(o.id, o.version);
  return hmac(keyring.key, fields).slice(0, 32);
}
