// The one digest function. Keyed (HMAC-SHA-256 with a per-installation key)
// so that a reader of Deployments cannot test guesses of secret values
// against what we publish; truncated to 128 bits, plenty to detect change.
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';

export interface Keyring {
  readonly key: Buffer;
  /** The key as a KeyObject, made once: createHmac with a Buffer prepares a new one on every call (~10 µs each). */
  readonly hmacKey: KeyObject;
  /** Names the key without revealing it, so a baseline made with a lost key is recognised. */
  readonly id: string;
}

export function makeKeyring(key: Buffer): Keyring {
  if (key.length < 32) throw new Error(`the digest key must be at least 32 bytes, got ${key.length}`);
  const hmacKey = createSecretKey(key);
  return { key, hmacKey, id: hmac(hmacKey, ['keyvault-reloader key id']).slice(0, 12) };
}

/** A field hashed as text (UTF-8) or, for a Secret's data, as the bytes its base64 stands for. */
type Field = string | { base64: string };

const lengthPrefix = Buffer.alloc(4);
/** Where base64 values are decoded, reused: a Secret's 4 KiB value never becomes a Buffer of its own. */
let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * Fields are length-prefixed so that no two different inputs share an encoding.
 * Base64 is decoded into one reused buffer (Buffer#write decodes as leniently as
 * Buffer.from and says how many bytes it wrote): at 10 000 Secrets a Buffer per
 * value was 40 MB outside the JavaScript heap, waiting for a garbage collection.
 */
function hmac(key: KeyObject, fields: Field[]): string {
  const h = createHmac('sha256', key);
  for (const f of fields) {
    let bytes: Buffer;
    if (typeof f === 'string') bytes = Buffer.from(f, 'utf8');
    else {
      // byteLength of base64 is an upper bound of what it decodes to.
      const most = Buffer.byteLength(f.base64, 'base64');
      if (most > scratch.length) scratch = Buffer.allocUnsafe(Math.max(most, 2 * scratch.length));
      bytes = scratch.subarray(0, scratch.write(f.base64, 'base64'));
    }
    lengthPrefix.writeUInt32BE(bytes.length);
    h.update(lengthPrefix);
    h.update(bytes);
  }
  return h.digest('hex');
}

/** Digest of a Secret's content (type and data); labels, annotations and resourceVersion do not count. */
export function secretDigest(keyring: Keyring, secret: { type?: string; data?: Record<string, string> }): string {
  const fields: Field[] = ['secret', secret.type ?? 'Opaque'];
  for (const k of Object.keys(secret.data ?? {}).sort()) {
    fields.push(k, { base64: secret.data?.[k] ?? '' });
  }
  return hmac(keyring.hmacKey, fields).slice(0, 32);
}

/** Digest of what a CSI mount holds: its (object id, version) pairs, order-independent. */
export function mountedDigest(keyring: Keyring, objects: readonly { id: string; version: string }[]): string {
  const fields: string[] = ['mounted'];
  // Ties on id are broken by version so that duplicate ids (several pods) stay order-independent.
  const byIdThenVersion = (a: { id: string; version: string }, b: { id: string; version: string }): number =>
    a.id < b.id ? -1 : a.id > b.id ? 1 : a.version < b.version ? -1 : a.version > b.version ? 1 : 0;
  for (const o of [...objects].sort(byIdThenVersion)) fields.push(o.id, o.version);
  return hmac(keyring.hmacKey, fields).slice(0, 32);
}
