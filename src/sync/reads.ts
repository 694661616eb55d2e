// The Key Vault reads of a class, keyed so that one read serves every class
// that needs it: (vault, identity, object type, name, version). However many
// classes (and pods) use an object, it is read once per interval; a read never
// serves another identity, so never another namespace.
import type { ObjectType } from '../keyvault/objects.ts';
import type { ObjectSpec, ParsedClass } from './spc.ts';

/** Who reads: a class's namespace-scoped workload identity. */
export interface ReadIdentity {
  namespace: string;
  serviceAccount: string;
  clientID: string;
  tenantId: string;
}

interface ReadBase {
  /** Stable key; equal keys mean one read serves every class that asks for it. */
  key: string;
  vaultUrl: string;
  identity: ReadIdentity;
  objectType: ObjectType;
  objectName: string;
}

/** GET one object version ('' = latest). */
export interface GetRead extends ReadBase {
  kind: 'get';
  objectVersion: string;
}

/**
 * List an object's versions, for objectVersionHistory; the versions it picks
 * (pickVersionHistory) are then fetched with getRead(…, version).
 */
export interface ListVersionsRead extends ReadBase {
  kind: 'list-versions';
}

export type KeyVaultRead = GetRead | ListVersionsRead;

export function identityKey(identity: ReadIdentity): string {
  return `${identity.namespace}/${identity.serviceAccount}/${identity.clientID}/${identity.tenantId}`;
}

/** The identity a class reads with: its annotation's service account, else the default. */
export function classIdentity(parsed: ParsedClass, defaultServiceAccount: string): ReadIdentity {
  return {
    namespace: parsed.namespace,
    serviceAccount: parsed.overrides.serviceAccount ?? defaultServiceAccount,
    clientID: parsed.clientID,
    tenantId: parsed.tenantId,
  };
}

export function getRead(vaultUrl: string, identity: ReadIdentity, objectType: ObjectType, objectName: string, objectVersion: string): GetRead {
  return {
    kind: 'get',
    key: readKey('get', vaultUrl, identity, objectType, objectName, objectVersion),
    vaultUrl,
    identity,
    objectType,
    objectName,
    objectVersion,
  };
}

export function listVersionsRead(vaultUrl: string, identity: ReadIdentity, objectType: ObjectType, objectName: string): ListVersionsRead {
  return {
    kind: 'list-versions',
    key: readKey('list-versions', vaultUrl, identity, objectType, objectName, ''),
    vaultUrl,
    identity,
    objectType,
    objectName,
  };
}

/**
 * The first read of an object: its selected version, or the listing of its
 * versions for objectVersionHistory ≥ 2. Format, encoding and alias only
 * change how a read is rendered, so they do not split reads.
 */
export function firstRead(vaultUrl: string, identity: ReadIdentity, spec: ObjectSpec): KeyVaultRead {
  return spec.objectVersionHistory > 1
    ? listVersionsRead(vaultUrl, identity, spec.objectType, spec.objectName)
    : getRead(vaultUrl, identity, spec.objectType, spec.objectName, spec.objectVersion);
}

function readKey(
  kind: KeyVaultRead['kind'],
  vaultUrl: string,
  identity: ReadIdentity,
  objectType: ObjectType,
  objectName: string,
  objectVersion: string,
): string {
  // Host names are case-insensitive; object names are kept as written.
  return JSON.stringify([kind, vaultUrl.toLowerCase(), identityKey(identity), objectType, objectName, objectVersion]);
}
