// From rendered files to the Kubernetes Secrets a class's secretObjects ask
// for, with the data the CSI driver would have synced; and from many classes
// to the few distinct Key Vault reads that serve them all.

import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { V1ObjectMeta, V1Secret } from '@kubernetes/client-node';
import { SPC_API_VERSION, type ObjectSpec, type ObjectType, type ParsedClass, type Problem } from './spc.ts';
import { decodePemBlocks, encodePem, readPkcs12, type RenderedFile } from './render.ts';

/** Marks the Secrets this controller writes, and the only ones it may change. */
export const MANAGED_BY_LABEL = 'keyvault-reloader.io/managed-by';
export const MANAGED_BY_VALUE = 'keyvault-reloader';
/** The CSI driver's mark on the Secrets it syncs; we never claim it. */
export const CSI_MANAGED_LABEL = 'secrets-store.csi.k8s.io/managed';

const TLS = 'kubernetes.io/tls';

export interface BuiltSecrets {
  /** The Secrets whose every data entry could be built. */
  secrets: V1Secret[];
  /** Secrets left as they are this round, and why; their last good value stays. */
  failed: Array<{ secretName: string; problems: Problem[] }>;
}

/**
 * The Secrets to write for a class: one per secretObjects entry, owned by the
 * class. A Secret with any entry that cannot be built (its file was not
 * rendered, or a TLS part cannot be extracted) is not built at all, so a bad
 * read never blanks it; the class's other Secrets are unaffected.
 */
export function buildSecrets(
  parsed: Pick<ParsedClass, 'namespace' | 'name' | 'uid' | 'secretObjects'>,
  files: readonly RenderedFile[],
): BuiltSecrets {
  const byName = new Map<string, RenderedFile>();
  const duplicated = new Set<string>();
  for (const file of files) {
    if (byName.has(file.fileName)) duplicated.add(file.fileName);
    byName.set(file.fileName, file);
  }

  const built: BuiltSecrets = { secrets: [], failed: [] };
  parsed.secretObjects.forEach((so, i) => {
    const problems: Problem[] = [];
    const data: Record<string, string> = {};
    so.data.forEach((entry, j) => {
      const field = `spec.secretObjects[${i}].data[${j}]`;
      const file = byName.get(entry.objectName);
      if (file === undefined) {
        problems.push({ field: `${field}.objectName`, message: `no object wrote the file "${entry.objectName}"` });
        return;
      }
      if (duplicated.has(entry.objectName)) {
        problems.push({ field: `${field}.objectName`, message: `two objects wrote the file "${entry.objectName}": give one a different objectAlias` });
        return;
      }
      if (so.type !== TLS) {
        data[entry.key] = file.content.toString('base64');
        return;
      }
      const part = tlsPart(file.content, entry.key);
      if (typeof part === 'string') {
        problems.push({ field, message: `${file.id} (version ${file.version}), file "${file.fileName}": ${part}` });
      } else {
        data[entry.key] = part.toString('base64');
      }
    });
    if (problems.length > 0) {
      built.failed.push({ secretName: so.secretName, problems });
      return;
    }

    const labels: Record<string, string> = { ...so.labels };
    delete labels[CSI_MANAGED_LABEL];
    labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE;
    const metadata: V1ObjectMeta = {
      name: so.secretName,
      namespace: parsed.namespace,
      labels,
      annotations: { ...so.annotations },
    };
    // Without a uid (a class read from a file) there is nothing to own it by.
    if (parsed.uid !== '') {
      metadata.ownerReferences = [{
        apiVersion: SPC_API_VERSION,
        kind: 'SecretProviderClass',
        name: parsed.name,
        uid: parsed.uid,
        controller: true,
      }];
    }
    built.secrets.push({ apiVersion: 'v1', kind: 'Secret', metadata, type: so.type, data });
  });
  return built;
}

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

// ---------------------------------------------------------------------------
// Distinct Key Vault reads

/** Who reads: a class's namespace-scoped workload identity. */
export interface ReadIdentity {
  namespace: string;
  serviceAccount: string;
  clientID: string;
  tenantId: string;
}

interface ReadBase {
  /** Stable key; equal keys mean one read serves all its consumers. */
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

export interface ReadConsumer {
  namespace: string;
  name: string;
  /** The object's index in the class's objects. */
  objectIndex: number;
}

export interface ReadDemand {
  read: KeyVaultRead;
  consumers: ReadConsumer[];
}

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
 * Collapses the objects of many classes into the distinct Key Vault reads
 * that serve them: one per (vault, identity, type, name, version), however
 * many classes (and so pods) use it. Format, encoding and alias only change
 * how a read is rendered, so they do not split reads.
 */
export function distinctReads(
  classes: readonly ParsedClass[],
  options: { defaultServiceAccount: string },
): ReadDemand[] {
  const demands = new Map<string, ReadDemand>();
  for (const parsed of classes) {
    const identity = classIdentity(parsed, options.defaultServiceAccount);
    for (const spec of parsed.objects) {
      const read = readFor(parsed.vaultUrl, identity, spec);
      let demand = demands.get(read.key);
      if (demand === undefined) {
        demand = { read, consumers: [] };
        demands.set(read.key, demand);
      }
      demand.consumers.push({ namespace: parsed.namespace, name: parsed.name, objectIndex: spec.index });
    }
  }
  return [...demands.values()];
}

function readFor(vaultUrl: string, identity: ReadIdentity, spec: ObjectSpec): KeyVaultRead {
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
