// What a Key Vault read returns, as plain values: the bundles of the REST API
// (api-version 7.4–7.6) reduced to the fields that decide what the add-on
// writes. The SDK adapter (client.ts) produces them; src/sync renders them.

/** The three kinds of Key Vault object a SecretProviderClass can name. */
export type ObjectType = 'secret' | 'key' | 'cert';

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

/** One entry of GET {vault}/{secrets|keys|certificates}/{name}/versions. */
export interface VersionItem {
  /** The version's id (…/<name>/<version>). */
  id: string;
  enabled?: boolean;
  /** attributes.created: unix seconds as the REST API returns it, or a Date. */
  created?: number | Date;
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
