// Parsing of SecretProviderClass objects (secrets-store.csi.x-k8s.io/v1,
// provider "azure") into a validated, typed value. The rules follow the
// Azure provider's own parsing so that a class written for the AKS add-on
// means the same thing here; where the provider would only fail at mount
// time (or silently misbehave) we report a problem up front instead.

import { isMap, isScalar, isSeq, parseDocument, type Node, type Scalar } from 'yaml';
import { posix } from 'node:path';
import { DURATION_BOUNDS } from '../config.ts';
import { parseBoundedDuration } from '../core/duration.ts';
import { PUBLIC_CLOUD_CATALOG, resolveCloud, type CloudCatalog, type CloudEnvironment } from '../keyvault/cloud.ts';
import type { ObjectType } from '../keyvault/objects.ts';

export const SPC_GROUP = 'secrets-store.csi.x-k8s.io';
export const SPC_API_VERSION = `${SPC_GROUP}/v1`;

/** Per-class overrides of the sync engine, on the class's metadata.annotations. */
export const ANNOTATION_SYNC = 'keyvault-reloader.io/sync';
export const ANNOTATION_POLL_INTERVAL = 'keyvault-reloader.io/poll-interval';
export const ANNOTATION_SERVICE_ACCOUNT = 'keyvault-reloader.io/service-account';


export interface Problem {
  /** Path of the offending field, e.g. `spec.parameters.objects[2].objectType`. */
  field: string;
  message: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; problems: Problem[] };

/** The SecretProviderClass as the API server returns it (a CRD, so untyped at the edge). */
export interface SecretProviderClass {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: {
    provider?: string;
    parameters?: Record<string, string>;
    secretObjects?: SecretObjectInput[];
  };
  status?: unknown;
}

export interface SecretObjectInput {
  secretName?: string;
  type?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  data?: Array<{ objectName?: string; key?: string }>;
}

export type ObjectFormat = 'pem' | 'pfx';
export type ObjectEncoding = 'utf-8' | 'hex' | 'base64';

export interface ObjectSpec {
  /** Position in the `objects` array, for error messages. */
  index: number;
  objectName: string;
  objectType: ObjectType;
  /** '' means the latest version. */
  objectVersion: string;
  /** 0 and 1 both mean "just the selected version" (the provider treats them alike). */
  objectVersionHistory: number;
  /** The file name: objectAlias, or objectName when no alias is given. */
  objectAlias: string;
  objectFormat: ObjectFormat;
  objectEncoding: ObjectEncoding;
  /** Octal permission string as written (e.g. "0644"), '' when unset. */
  filePermission: string;
  /**
   * Files this object always writes: `<alias>`, or `<alias>/0` … `<alias>/<N>`
   * with a version history of N ≥ 2 (at most N + 1, as the provider writes
   * them; fewer when fewer versions exist).
   */
  fileNames: string[];
  /**
   * Files it writes only when the secret turns out to back a certificate
   * (`<file>.crt`, `<file>.key`, as the AKS add-on does).
   */
  certKeyFileNames: string[];
}

export interface SecretObjectSpec {
  secretName: string;
  /** Kubernetes Secret type; empty in the class means Opaque. */
  type: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  data: Array<{ objectName: string; key: string }>;
}

export interface ClassOverrides {
  /** undefined when the annotation is absent, so the cluster-wide flag decides. */
  sync?: boolean;
  pollIntervalMs?: number;
  serviceAccount?: string;
}

export interface ParsedClass {
  namespace: string;
  name: string;
  /** '' when the object has no uid (e.g. read from a file rather than the API). */
  uid: string;
  keyvaultName: string;
  /** With trailing slash, e.g. https://my-vault.vault.azure.net/ */
  vaultUrl: string;
  cloud: CloudEnvironment;
  tenantId: string;
  /** Workload identity client id; '' when the class uses another identity mode. */
  clientID: string;
  usePodIdentity: boolean;
  useVMManagedIdentity: boolean;
  objects: ObjectSpec[];
  /** The secretObjects entries that can be written. */
  secretObjects: SecretObjectSpec[];
  /**
   * Entries refused on their own, as the driver refuses them (an empty type, a
   * file no object writes, …): their Secrets are not written, the others are.
   */
  refusedSecretObjects: RefusedSecretObject[];
  overrides: ClassOverrides;
}

export interface RefusedSecretObject {
  /** '' when the name itself is what is wrong. */
  secretName: string;
  problems: Problem[];
}

const OBJECT_TYPES: readonly ObjectType[] = ['secret', 'key', 'cert'];
const KNOWN_OBJECT_FIELDS = new Set([
  'objectName', 'objectType', 'objectVersion', 'objectVersionHistory', 'objectAlias',
  'objectFormat', 'objectEncoding', 'filePermission',
]);

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SECRET_DATA_KEY = /^[-._a-zA-Z0-9]+$/;
const TLS_KEYS = new Set(['tls.key', 'tls.crt']);

/**
 * The Secret types a class may ask for: Kubernetes' own types that only hold
 * data, and any type outside the Kubernetes domains (a type of your own, such
 * as example.com/api-key). Every other kubernetes.io or k8s.io type is refused,
 * because Kubernetes acts on Secrets of such types: the token controller fills
 * a kubernetes.io/service-account-token with a token of the service account
 * its annotation names, and the API server accepts a
 * bootstrap.kubernetes.io/token as a credential. A class author must not get
 * through the controller a credential their own RBAC does not give them.
 */
export const DATA_SECRET_TYPES: readonly string[] = [
  'Opaque',
  'kubernetes.io/basic-auth',
  'kubernetes.io/ssh-auth',
  'kubernetes.io/tls',
  'kubernetes.io/dockercfg',
  'kubernetes.io/dockerconfigjson',
];

/** Why a class may not write a Secret of this type; undefined when it may. */
export function secretTypeProblem(type: string): string | undefined {
  if (DATA_SECRET_TYPES.includes(type)) return undefined;
  const slash = type.indexOf('/');
  const domain = slash < 0 ? '' : type.slice(0, slash).toLowerCase();
  const reserved = ['kubernetes.io', 'k8s.io'].some((d) => domain === d || domain.endsWith(`.${d}`));
  if (!reserved) return undefined;
  const why = type === 'kubernetes.io/service-account-token'
    ? 'Kubernetes would put a service account token into it'
    : type === 'bootstrap.kubernetes.io/token' ? 'the API server would accept it as a credential' : 'Kubernetes reserves the types of its domains and may act on them';
  return `"${type}" is not allowed (${why}): use one of ${DATA_SECRET_TYPES.join(', ')}, or a type outside the kubernetes.io and k8s.io domains`;
}

export interface ParseOptions {
  /** The clouds a class can name (default: the built-in ones, AzurePublicCloud when none is named). */
  clouds?: CloudCatalog;
}

export function parseSecretProviderClass(input: unknown, options: ParseOptions = {}): Result<ParsedClass> {
  const problems: Problem[] = [];
  const add = (field: string, message: string): void => {
    problems.push({ field, message });
  };

  if (!isRecord(input)) {
    return { ok: false, problems: [{ field: '', message: 'expected a SecretProviderClass object' }] };
  }
  const obj = input as SecretProviderClass;
  if (obj.apiVersion !== undefined && !String(obj.apiVersion).startsWith(`${SPC_GROUP}/`)) {
    add('apiVersion', `"${obj.apiVersion}" is not a ${SPC_GROUP} version (expected ${SPC_API_VERSION})`);
  }
  if (obj.kind !== undefined && obj.kind !== 'SecretProviderClass') {
    add('kind', `"${obj.kind}" is not SecretProviderClass`);
  }

  const metadata = isRecord(obj.metadata) ? obj.metadata : {};
  const name = typeof metadata.name === 'string' ? metadata.name : '';
  const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : '';
  const uid = typeof metadata.uid === 'string' ? metadata.uid : '';
  if (name === '') add('metadata.name', 'required');
  if (namespace === '') add('metadata.namespace', 'required: a SecretProviderClass is namespaced');

  const overrides = parseOverrides(metadata.annotations, add);

  const spec = isRecord(obj.spec) ? obj.spec : undefined;
  if (spec === undefined) {
    add('spec', 'required');
    return { ok: false, problems };
  }
  if (spec.provider !== 'azure') {
    add('spec.provider', `is ${JSON.stringify(spec.provider ?? '')}; only "azure" classes are handled`);
  }

  const parameters = readParameters(spec.parameters, add);

  const keyvaultName = parameters.get('keyvaultName') ?? '';
  if (keyvaultName === '') {
    add('spec.parameters.keyvaultName', 'required: the name of the Azure Key Vault');
  } else if (keyvaultName.length < 3 || keyvaultName.length > 24 || !/^[-A-Za-z0-9]+$/.test(keyvaultName)) {
    add('spec.parameters.keyvaultName', `"${keyvaultName}" is not a vault name: use 3 to 24 characters of letters, digits and "-"`);
  }

  const resolved = resolveCloud(options.clouds ?? PUBLIC_CLOUD_CATALOG, parameters.get('cloudName') ?? '', parameters.get('cloudEnvFileName') ?? '');
  const cloud = resolved.ok ? resolved.cloud : undefined;
  if (!resolved.ok) add(`spec.parameters.${resolved.field}`, resolved.message);

  // The provider reads tenantID first and falls back to the older tenantId.
  const tenantId = parameters.get('tenantID') || parameters.get('tenantId') || '';
  if (tenantId === '') add('spec.parameters.tenantId', 'required: the Microsoft Entra tenant of the vault');

  const usePodIdentity = parseGoBool(parameters.get('usePodIdentity'), 'spec.parameters.usePodIdentity', add);
  const useVMManagedIdentity = parseGoBool(parameters.get('useVMManagedIdentity'), 'spec.parameters.useVMManagedIdentity', add);
  const clientID = parameters.get('clientID') ?? '';

  // A non-string objects parameter was already reported by readParameters.
  const objectsText = parameters.get('objects');
  const objectsResult: Result<ObjectSpec[]> = objectsText === undefined && isRecord(spec.parameters) && spec.parameters['objects'] !== undefined
    ? { ok: false, problems: [] }
    : parseObjectsParameter(objectsText ?? '');
  const objects = objectsResult.ok ? objectsResult.value : [];
  if (!objectsResult.ok) problems.push(...objectsResult.problems);

  const { secretObjects, refused } = parseSecretObjects(spec.secretObjects, objects, objectsResult.ok, add);

  // A class refused as a whole reports its entries' problems too, so that one round of fixes is enough.
  if (problems.length > 0 || cloud === undefined) return { ok: false, problems: [...problems, ...refused.flatMap((r) => r.problems)] };
  return {
    ok: true,
    value: {
      namespace,
      name,
      uid,
      keyvaultName,
      vaultUrl: `https://${keyvaultName.toLowerCase()}.${cloud.vaultDnsSuffix}/`,
      cloud,
      tenantId,
      clientID,
      usePodIdentity,
      useVMManagedIdentity,
      objects,
      secretObjects,
      refusedSecretObjects: refused,
      overrides,
    },
  };
}

/**
 * Why the sync engine cannot serve a class that is otherwise valid: it reads
 * Key Vault only with workload identity, scoped to the class's namespace.
 */
export function syncBlockers(parsed: ParsedClass): Problem[] {
  const problems: Problem[] = [];
  if (parsed.usePodIdentity) {
    problems.push({ field: 'spec.parameters.usePodIdentity', message: 'pod identity is not supported by the sync engine: use workload identity (set clientID)' });
  }
  if (parsed.useVMManagedIdentity) {
    problems.push({ field: 'spec.parameters.useVMManagedIdentity', message: 'the node\'s managed identity is not supported by the sync engine: use workload identity (set clientID)' });
  }
  if (parsed.clientID === '') {
    problems.push({ field: 'spec.parameters.clientID', message: 'required for sync: the client id of the workload identity that may read the vault' });
  }
  return problems;
}

/** One line for logs and Events: `field: message; field: message`. */
export function formatProblems(problems: readonly Problem[]): string {
  return problems.map((p) => (p.field === '' ? p.message : `${p.field}: ${p.message}`)).join('; ');
}

/**
 * Parses the `objects` parameter: a YAML string holding `array:`, a list whose
 * entries are themselves YAML strings with the object's fields (the provider
 * unmarshals `{array: []string}`, then each string on its own).
 */
export function parseObjectsParameter(text: string, field = 'spec.parameters.objects'): Result<ObjectSpec[]> {
  const problems: Problem[] = [];
  const add = (f: string, message: string): void => {
    problems.push({ field: f, message });
  };
  if (text.trim() === '') {
    add(field, 'required: list the Key Vault objects as "array:" followed by "- |" entries');
    return { ok: false, problems };
  }
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    add(field, `is not valid YAML: ${firstLine(doc.errors[0]?.message ?? '')}`);
    return { ok: false, problems };
  }
  const root = doc.contents;
  if (!isMap(root)) {
    add(field, 'must be a YAML mapping with an "array:" list');
    return { ok: false, problems };
  }
  const array = root.get('array', true) as Node | null | undefined;
  if (array === undefined || array === null || (isScalar(array) && array.value === null)) {
    add(field, 'lists no objects: add entries under "array:"');
    return { ok: false, problems };
  }
  if (!isSeq(array)) {
    add(`${field}.array`, 'must be a list of "- |" entries');
    return { ok: false, problems };
  }

  const objects: ObjectSpec[] = [];
  array.items.forEach((item, index) => {
    const at = `${field}[${index}]`;
    if (!isScalar(item)) {
      add(at, 'each entry must be a YAML string holding the object\'s fields: write "- |" and indent the fields below it');
      return;
    }
    const spec = parseObjectEntry(scalarText(item), index, at, add);
    if (spec !== undefined) objects.push(spec);
  });
  if (array.items.length === 0) add(field, 'lists no objects: add entries under "array:"');

  checkFileNameConflicts(objects, field, add);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value: objects };
}

function parseObjectEntry(
  text: string,
  index: number,
  at: string,
  add: (field: string, message: string) => void,
): ObjectSpec | undefined {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    add(at, `is not valid YAML: ${firstLine(doc.errors[0]?.message ?? '')}`);
    return undefined;
  }
  const fields = new Map<string, string>();
  const root = doc.contents;
  if (root !== null && !(isScalar(root) && root.value === null)) {
    if (!isMap(root)) {
      add(at, 'must be a mapping of objectName, objectType and the other object fields');
      return undefined;
    }
    for (const pair of root.items) {
      const key = isScalar(pair.key) ? scalarText(pair.key) : '';
      if (!KNOWN_OBJECT_FIELDS.has(key)) {
        if (key === 'objectNotAfter' && !(isScalar(pair.value) && (pair.value.value === null || scalarText(pair.value).trim() === ''))) {
          add(`${at}.objectNotAfter`, 'is not supported by keyvault-reloader: pin objectVersion instead');
        }
        // The provider ignores unknown fields; so do we.
        continue;
      }
      const value = pair.value as Node | null;
      if (value === null || (isScalar(value) && value.value === null)) {
        fields.set(key, '');
      } else if (isScalar(value)) {
        // The provider trims every string field.
        fields.set(key, scalarText(value).trim());
      } else {
        add(`${at}.${key}`, 'must be a single value, not a list or mapping');
      }
    }
  }

  let ok = true;
  const fail = (f: string, message: string): void => {
    ok = false;
    add(`${at}.${f}`, message);
  };

  const objectName = fields.get('objectName') ?? '';
  if (objectName === '') fail('objectName', 'required: the name of the object in Key Vault');

  const rawType = fields.get('objectType') ?? '';
  let objectType: ObjectType = 'secret';
  if (rawType === '') {
    fail('objectType', 'required: one of secret, key, cert');
  } else if (!(OBJECT_TYPES as readonly string[]).includes(rawType)) {
    fail('objectType', `"${rawType}" is not one of secret, key, cert`);
  } else {
    objectType = rawType as ObjectType;
  }

  const objectVersion = fields.get('objectVersion') ?? '';

  let objectVersionHistory = 0;
  const rawHistory = fields.get('objectVersionHistory') ?? '';
  if (rawHistory !== '') {
    if (!/^\d+$/.test(rawHistory) || Number(rawHistory) > 2 ** 31 - 1) {
      fail('objectVersionHistory', `"${rawHistory}" is not a whole number ≥ 0`);
    } else {
      objectVersionHistory = Number(rawHistory);
    }
  }

  // The provider compares format and encoding case-insensitively.
  let objectFormat: ObjectFormat = 'pem';
  const rawFormat = (fields.get('objectFormat') ?? '').toLowerCase();
  if (rawFormat !== '') {
    if (rawFormat !== 'pem' && rawFormat !== 'pfx') {
      fail('objectFormat', `"${fields.get('objectFormat')}" is not one of pem, pfx`);
    } else if (fields.get('objectFormat') === 'pfx' && objectType !== 'secret') {
      fail('objectFormat', 'pfx is only available with objectType secret (Key Vault returns the PFX only through the secret)');
    } else if (objectType === 'secret') {
      objectFormat = rawFormat;
    }
    // Otherwise the provider's check, which is case-sensitive, lets "PFX" through on a key or cert, and ignores it.
  }

  let objectEncoding: ObjectEncoding = 'utf-8';
  const rawEncoding = (fields.get('objectEncoding') ?? '').toLowerCase();
  if (rawEncoding !== '') {
    if (rawEncoding !== 'utf-8' && rawEncoding !== 'hex' && rawEncoding !== 'base64') {
      fail('objectEncoding', `"${fields.get('objectEncoding')}" is not one of utf-8, hex, base64`);
    } else if (objectType !== 'secret') {
      fail('objectEncoding', 'is only available with objectType secret: remove it');
    } else {
      objectEncoding = rawEncoding;
    }
  }

  const filePermission = fields.get('filePermission') ?? '';
  if (filePermission !== '' && (!/^[0-7]{1,4}$/.test(filePermission))) {
    fail('filePermission', `"${filePermission}" is not an octal file mode such as 0644`);
  }

  const rawAlias = fields.get('objectAlias') || objectName;
  const aliasField = fields.get('objectAlias') ? 'objectAlias' : 'objectName';
  const aliasProblem = rawAlias === '' ? undefined : fileNameProblem(rawAlias, objectVersionHistory > 1);
  if (aliasProblem !== undefined) fail(aliasField, `"${rawAlias}" ${aliasProblem}`);
  const objectAlias = cleanFileName(rawAlias);

  if (!ok) return undefined;
  // The provider takes one version more than objectVersionHistory asks for (its loop stops
  // after index N, not before it): <alias>/0 … <alias>/<N>, and so do we.
  const fileNames = objectVersionHistory > 1
    ? Array.from({ length: objectVersionHistory + 1 }, (_, i) => historyFileName(objectAlias, i))
    : [objectAlias];
  return {
    index,
    objectName,
    objectType,
    objectVersion,
    objectVersionHistory,
    objectAlias,
    objectFormat,
    objectEncoding,
    filePermission,
    fileNames,
    certKeyFileNames: objectType === 'secret' ? fileNames.flatMap((f) => [`${f}.crt`, `${f}.key`]) : [],
  };
}

/** The file written for the version at `index` (0 = newest) of a history object. */
export function historyFileName(alias: string, index: number): string {
  return `${alias}/${index}`;
}

/**
 * The object id the provider reports (SecretProviderClassPodStatus
 * status.objects[].id): `<type>/<name>`, plus `/<index>` for history entries.
 */
export function objectId(spec: Pick<ObjectSpec, 'objectType' | 'objectName'>, historyIndex?: number): string {
  const base = `${spec.objectType}/${spec.objectName}`;
  return historyIndex === undefined ? base : `${base}/${historyIndex}`;
}

// The provider's validateFileName (relative, no "..") and the driver's
// checks on each file it writes: a clean path (filepath.Clean leaves it as it
// is, so no "./a", "a/" or "a//b"), elements of at most 255 characters, at
// most 4096 in all. A history's files are <alias>/<index>, joined by the
// provider, which cleans them: there an unclean alias is taken, as cleaned.
function fileNameProblem(name: string, joined: boolean): string | undefined {
  if (name.startsWith('/')) return 'must be a relative path, not an absolute one';
  if (name.includes('..')) return 'must not contain ".."';
  if (name.includes('\0')) return 'must not contain a NUL character';
  const cleaned = cleanFileName(name);
  if (cleaned === '.') return 'does not name a file';
  if (!joined && cleaned !== name) return `is not a clean path, which the driver refuses: write "${cleaned}"`;
  if (cleaned.split('/').some((part) => part.length > 255)) return 'has a path element longer than 255 characters';
  if (cleaned.length > 4090) return 'is longer than the driver allows (4096 characters with its suffixes)';
  return undefined;
}

// Go's filepath.Clean for a relative path without "..": "./a", "a/" and "a//b" become "a", "a" and "a/b".
function cleanFileName(name: string): string {
  const cleaned = posix.normalize(name).replace(/\/+$/, '');
  return cleaned === '' ? '.' : cleaned;
}

function checkFileNameConflicts(
  objects: readonly ObjectSpec[],
  field: string,
  add: (field: string, message: string) => void,
): void {
  const owner = new Map<string, ObjectSpec>();
  for (const spec of objects) {
    for (const file of spec.fileNames) {
      const previous = owner.get(file);
      if (previous !== undefined && previous !== spec) {
        add(`${field}[${spec.index}]`, `writes the file "${file}", which objects[${previous.index}] writes too: give one of them a different objectAlias`);
      } else {
        owner.set(file, spec);
      }
    }
  }
  // A file cannot also be a directory: "a" and "a/0" clash in the mount.
  for (const [file, spec] of owner) {
    const parts = file.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      const other = owner.get(dir);
      if (other !== undefined && other !== spec) {
        add(`${field}[${other.index}]`, `writes the file "${dir}", which objects[${spec.index}] needs as a directory (for "${file}"): give one of them a different objectAlias`);
      }
    }
  }
}

/**
 * The secretObjects entries, each checked on its own as the driver checks
 * them: an entry it would refuse (no type, a file no object writes, a key a
 * TLS Secret cannot hold, …) is refused alone and the others are written, as
 * the driver syncs the others. Only a secretObjects that is not a list is a
 * problem of the class.
 */
function parseSecretObjects(
  input: unknown,
  objects: readonly ObjectSpec[],
  objectsOk: boolean,
  addToClass: (field: string, message: string) => void,
): { secretObjects: SecretObjectSpec[]; refused: RefusedSecretObject[] } {
  const out: { secretObjects: SecretObjectSpec[]; refused: RefusedSecretObject[] } = { secretObjects: [], refused: [] };
  if (input === undefined || input === null) return out;
  if (!Array.isArray(input)) {
    addToClass('spec.secretObjects', 'must be a list');
    return out;
  }
  const files = new Set<string>();
  for (const spec of objects) {
    for (const f of spec.fileNames) files.add(f);
    for (const f of spec.certKeyFileNames) files.add(f);
  }

  const seenNames = new Map<string, number>();
  input.forEach((raw: unknown, i) => {
    const at = `spec.secretObjects[${i}]`;
    const problems: Problem[] = [];
    const add = (field: string, message: string): void => {
      problems.push({ field, message });
    };
    if (!isRecord(raw)) {
      out.refused.push({ secretName: '', problems: [{ field: at, message: 'must be a mapping with secretName, type and data' }] });
      return;
    }
    const so = raw as SecretObjectInput;
    const secretName = typeof so.secretName === 'string' ? so.secretName.trim() : '';
    if (secretName === '') {
      add(`${at}.secretName`, 'required: the name of the Kubernetes Secret to write');
    } else if (secretName.length > 253 || !DNS1123_SUBDOMAIN.test(secretName)) {
      add(`${at}.secretName`, `"${secretName}" is not a valid Secret name: use lowercase letters, digits, "-" and "." (at most 253)`);
    } else if (seenNames.has(secretName)) {
      add(`${at}.secretName`, `"${secretName}" is already written by secretObjects[${seenNames.get(secretName)}]`);
    } else {
      seenNames.set(secretName, i);
    }
    // The driver refuses an entry whose type is missing or empty (its default to Opaque is
    // never reached for one); blanks pass its check and are trimmed to "", which it writes as Opaque.
    let type = 'Opaque';
    if (typeof so.type !== 'string' || so.type === '') {
      add(`${at}.type`, 'required: the type of the Secret, e.g. Opaque or kubernetes.io/tls (the CSI driver refuses an entry without one, too)');
    } else {
      type = so.type.trim() || 'Opaque';
      const typeProblem = secretTypeProblem(type);
      if (typeProblem !== undefined) add(`${at}.type`, typeProblem);
    }
    const labels = readStringMap(so.labels, `${at}.labels`, add);
    const annotations = readStringMap(so.annotations, `${at}.annotations`, add);

    const data: SecretObjectSpec['data'] = [];
    if (!Array.isArray(so.data) || so.data.length === 0) {
      add(`${at}.data`, 'required: list at least one {objectName, key}');
    } else {
      const seenKeys = new Map<string, number>();
      so.data.forEach((entry: unknown, j) => {
        const dat = `${at}.data[${j}]`;
        if (!isRecord(entry)) {
          add(dat, 'must be a mapping with objectName and key');
          return;
        }
        // The driver trims both fields.
        const objectName = typeof entry['objectName'] === 'string' ? entry['objectName'].trim() : '';
        const key = typeof entry['key'] === 'string' ? entry['key'].trim() : '';
        if (objectName === '') {
          add(`${dat}.objectName`, 'required: the file name (objectAlias or objectName) of an object');
        } else if (objectsOk && !files.has(objectName)) {
          add(`${dat}.objectName`, `"${objectName}" is not a file the objects write; known files: ${[...files].join(', ') || 'none'}`);
        }
        if (key === '') {
          add(`${dat}.key`, 'required: the key in the Secret\'s data');
        } else if (key.length > 253 || !SECRET_DATA_KEY.test(key)) {
          add(`${dat}.key`, `"${key}" is not a valid Secret data key: use letters, digits, "-", "_" and "."`);
        } else if (type === 'kubernetes.io/tls' && !TLS_KEYS.has(key)) {
          add(`${dat}.key`, `"${key}" is not allowed in a kubernetes.io/tls Secret: use tls.crt or tls.key`);
        } else if (seenKeys.has(key)) {
          add(`${dat}.key`, `"${key}" is already set by data[${seenKeys.get(key)}]`);
        } else {
          seenKeys.set(key, j);
        }
        data.push({ objectName, key });
      });
    }
    if (problems.length > 0) out.refused.push({ secretName, problems });
    else out.secretObjects.push({ secretName, type, labels, annotations, data });
  });
  return out;
}

function parseOverrides(
  annotations: unknown,
  add: (field: string, message: string) => void,
): ClassOverrides {
  const overrides: ClassOverrides = {};
  if (!isRecord(annotations)) return overrides;
  const field = (name: string): string => `metadata.annotations["${name}"]`;

  const sync = annotations[ANNOTATION_SYNC];
  if (sync !== undefined) {
    const value = String(sync).trim();
    if (value === 'true') overrides.sync = true;
    else if (value === 'false') overrides.sync = false;
    else add(field(ANNOTATION_SYNC), `"${sync}" is not "true" or "false"`);
  }

  const interval = annotations[ANNOTATION_POLL_INTERVAL];
  if (interval !== undefined) {
    try {
      // The same bounds as --poll-interval: faster only burns the vault's request budget.
      overrides.pollIntervalMs = parseBoundedDuration(String(interval), DURATION_BOUNDS['poll-interval']);
    } catch (error) {
      add(field(ANNOTATION_POLL_INTERVAL), (error as Error).message);
    }
  }

  const serviceAccount = annotations[ANNOTATION_SERVICE_ACCOUNT];
  if (serviceAccount !== undefined) {
    const value = String(serviceAccount).trim();
    if (value.length === 0 || value.length > 253 || !DNS1123_SUBDOMAIN.test(value)) {
      add(field(ANNOTATION_SERVICE_ACCOUNT), `"${serviceAccount}" is not a service account name: use lowercase letters, digits, "-" and "."`);
    } else {
      overrides.serviceAccount = value;
    }
  }
  return overrides;
}

function readParameters(
  input: unknown,
  add: (field: string, message: string) => void,
): Map<string, string> {
  const parameters = new Map<string, string>();
  if (input === undefined || input === null) return parameters;
  if (!isRecord(input)) {
    add('spec.parameters', 'must be a map of strings');
    return parameters;
  }
  for (const [key, value] of Object.entries(input)) {
    if (typeof value !== 'string') {
      add(`spec.parameters.${key}`, 'must be a string: quote the value');
      continue;
    }
    // The provider trims every parameter it reads.
    parameters.set(key, value.trim());
  }
  return parameters;
}

function readStringMap(
  input: unknown,
  field: string,
  add: (field: string, message: string) => void,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (input === undefined || input === null) return out;
  if (!isRecord(input)) {
    add(field, 'must be a map of strings');
    return out;
  }
  for (const [key, value] of Object.entries(input)) {
    if (typeof value !== 'string') add(`${field}["${key}"]`, 'must be a string: quote the value');
    else out[key] = value;
  }
  return out;
}

// Go's strconv.ParseBool, which the provider uses for its boolean parameters.
function parseGoBool(
  value: string | undefined,
  field: string,
  add: (field: string, message: string) => void,
): boolean {
  if (value === undefined || value === '') return false;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  add(field, `"${value}" is not "true" or "false"`);
  return false;
}

// A scalar's text as written: Go's YAML decoder keeps it when the target is
// a string, whereas a JS YAML schema would turn `1e10` or `0644` into numbers.
function scalarText(scalar: Scalar): string {
  return scalar.source ?? String(scalar.value ?? '');
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? '';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
