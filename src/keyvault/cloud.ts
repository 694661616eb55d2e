// The Azure clouds a SecretProviderClass can name, as the Azure provider
// (1.8.2, through go-autorest's EnvironmentFromName) accepts them: the
// built-in names, matched without regard to case, and AzureStackCloud, whose
// endpoints come from an Azure environment file. The provider reads whatever
// path a class names; here a class can only pick one of the files the
// operator gave at start-up (--cloud-env-file), so a class author can never
// make the controller read a file of its own choosing, and what a file holds
// is never quoted back in an error.
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';

export interface CloudEnvironment {
  /** Canonical name, e.g. AzurePublicCloud, or the environment file's own name. */
  name: string;
  /** Vault hosts are `<vault>.<vaultDnsSuffix>`. */
  vaultDnsSuffix: string;
  /** Microsoft Entra authority for the token exchange, with a trailing slash. */
  authorityHost: string;
  /** The resource Key Vault tokens are for: the scope is `<resource>/.default`. */
  vaultResource: string;
}

export const AZURE_STACK_CLOUD = 'AzureStackCloud';
export const DEFAULT_CLOUD_NAME = 'AzurePublicCloud';

const PUBLIC: CloudEnvironment = { name: 'AzurePublicCloud', vaultDnsSuffix: 'vault.azure.net', authorityHost: 'https://login.microsoftonline.com/', vaultResource: 'https://vault.azure.net' };
const US_GOVERNMENT: CloudEnvironment = { name: 'AzureUSGovernmentCloud', vaultDnsSuffix: 'vault.usgovcloudapi.net', authorityHost: 'https://login.microsoftonline.us/', vaultResource: 'https://vault.usgovcloudapi.net' };
const CHINA: CloudEnvironment = { name: 'AzureChinaCloud', vaultDnsSuffix: 'vault.azure.cn', authorityHost: 'https://login.chinacloudapi.cn/', vaultResource: 'https://vault.azure.cn' };
const GERMANY: CloudEnvironment = { name: 'AzureGermanCloud', vaultDnsSuffix: 'vault.microsoftazure.de', authorityHost: 'https://login.microsoftonline.de/', vaultResource: 'https://vault.microsoftazure.de' };

// go-autorest's table, keyed by the upper-cased name (its lookup upper-cases too).
const BUILT_IN: ReadonlyMap<string, CloudEnvironment> = new Map([
  ['AZURECHINACLOUD', CHINA],
  ['AZUREGERMANCLOUD', GERMANY],
  ['AZURECLOUD', PUBLIC],
  ['AZUREPUBLICCLOUD', PUBLIC],
  ['AZUREUSGOVERNMENT', US_GOVERNMENT],
  ['AZUREUSGOVERNMENTCLOUD', US_GOVERNMENT],
]);

/** Every cloudName accepted, as written in messages and docs. */
export const CLOUD_NAMES = ['AzurePublicCloud', 'AzureCloud', 'AzureUSGovernmentCloud', 'AzureUSGovernment', 'AzureChinaCloud', 'AzureGermanCloud', AZURE_STACK_CLOUD] as const;

/** The built-in cloud of a name (any case, surrounding space ignored); undefined for AzureStackCloud or an unknown name. */
export function builtInCloud(name: string): CloudEnvironment | undefined {
  return BUILT_IN.get(name.trim().toUpperCase());
}

export function isAzureStackCloud(name: string): boolean {
  return name.trim().toUpperCase() === AZURE_STACK_CLOUD.toUpperCase();
}

/**
 * The clouds this controller can reach: the default for classes that name
 * none (the provider's --cloud-name), and the environment files the operator
 * gave, each read once at start-up (or why it cannot be used).
 */
export interface CloudCatalog {
  defaultCloud: CloudEnvironment;
  /** The default cloud is AzureStackCloud (from the first file): what a class naming it without a file gets. */
  defaultIsStack: boolean;
  /** By normalised absolute path. */
  files: ReadonlyMap<string, CloudFile>;
}

export type CloudFile = { ok: true; cloud: CloudEnvironment } | { ok: false; problem: string };

export const PUBLIC_CLOUD_CATALOG: CloudCatalog = { defaultCloud: PUBLIC, defaultIsStack: false, files: new Map() };

/** Why a path cannot name an environment file; undefined when it can. */
export function envFilePathProblem(path: string): string | undefined {
  if (!posix.isAbsolute(path)) return 'must be an absolute path';
  if (path.split('/').includes('..')) return 'must not contain ".."';
  if (path.includes('\0')) return 'must not contain a NUL character';
  return undefined;
}

export function normalizeEnvFilePath(path: string): string {
  return posix.normalize(path.trim());
}

/**
 * Reads an Azure environment file (go-autorest's Environment JSON). The
 * problem, when there is one, names the field and what is wrong with it,
 * never the file's content.
 */
export function parseEnvironmentFile(text: string): CloudFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    // JSON.parse quotes the text around the error: say only that it is not JSON.
    return { ok: false, problem: 'is not valid JSON' };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, problem: 'must be a JSON object (an Azure environment: name, keyVaultDNSSuffix, activeDirectoryEndpoint, resourceIdentifiers.keyVault)' };
  const env = raw as Record<string, unknown>;
  const str = (v: unknown): string => (typeof v === 'string' ? v.trim() : '');

  const suffix = str(env['keyVaultDNSSuffix']).replace(/^\.+/, '');
  if (suffix === '') return { ok: false, problem: 'has no keyVaultDNSSuffix (the DNS suffix of its vaults, e.g. vault.local.azurestack.external)' };
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$/i.test(suffix)) {
    return { ok: false, problem: 'has a keyVaultDNSSuffix that is not a DNS name: give a host suffix without scheme, port or path' };
  }
  const authority = httpsUrl(str(env['activeDirectoryEndpoint']));
  if (authority === undefined) return { ok: false, problem: 'has no activeDirectoryEndpoint that is an https URL (its Microsoft Entra authority, e.g. https://login.microsoftonline.com/)' };
  const identifiers = typeof env['resourceIdentifiers'] === 'object' && env['resourceIdentifiers'] !== null ? (env['resourceIdentifiers'] as Record<string, unknown>) : {};
  const resourceText = str(identifiers['keyVault']) || str(env['keyVaultEndpoint']) || `https://${suffix}`;
  const resource = httpsUrl(resourceText);
  if (resource === undefined) return { ok: false, problem: 'has a resourceIdentifiers.keyVault that is not an https URL (the resource of its Key Vault tokens, e.g. https://vault.local.azurestack.external)' };
  return {
    ok: true,
    cloud: {
      name: str(env['name']) || AZURE_STACK_CLOUD,
      vaultDnsSuffix: suffix.toLowerCase(),
      authorityHost: authority.href.endsWith('/') ? authority.href : `${authority.href}/`,
      vaultResource: resource.href.replace(/\/+$/, ''),
    },
  };
}

function httpsUrl(text: string): URL | undefined {
  if (text === '') return undefined;
  try {
    const url = new URL(text);
    return url.protocol === 'https:' && url.username === '' && url.password === '' ? url : undefined;
  } catch {
    return undefined;
  }
}

/** Why --cloud-name or --cloud-env-file cannot be used: operator errors, for start-up. */
export class CloudConfigError extends Error {}

/**
 * Builds the catalog from the operator's settings, reading each environment
 * file once. A file that cannot be used does not stop the controller: the
 * classes that name it are told why (and so is the log).
 */
export function loadCloudCatalog(opts: { cloudName: string; envFiles: readonly string[]; read?: (path: string) => string }): CloudCatalog {
  const read = opts.read ?? ((path: string) => readFileSync(path, 'utf8'));
  const files = new Map<string, CloudFile>();
  for (const given of opts.envFiles) {
    const problem = envFilePathProblem(given);
    if (problem !== undefined) throw new CloudConfigError(`--cloud-env-file ${JSON.stringify(given)}: ${problem}`);
    const path = normalizeEnvFilePath(given);
    let text: string;
    try {
      text = read(path);
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'unreadable';
      files.set(path, { ok: false, problem: `could not be read (${code}): check that the file is mounted into the controller's container` });
      continue;
    }
    files.set(path, parseEnvironmentFile(text));
  }
  const name = opts.cloudName.trim() === '' ? DEFAULT_CLOUD_NAME : opts.cloudName;
  let defaultCloud = builtInCloud(name);
  if (defaultCloud === undefined && isAzureStackCloud(name)) {
    const [first] = files.values();
    if (first === undefined) throw new CloudConfigError(`--cloud-name ${AZURE_STACK_CLOUD} needs the cloud's environment file: give it with --cloud-env-file`);
    if (!first.ok) throw new CloudConfigError(`--cloud-name ${AZURE_STACK_CLOUD}: the environment file ${[...files.keys()][0]} ${first.problem}`);
    defaultCloud = first.cloud;
  }
  if (defaultCloud === undefined) throw new CloudConfigError(`--cloud-name ${JSON.stringify(opts.cloudName)}: use one of ${CLOUD_NAMES.join(', ')}`);
  return { defaultCloud, defaultIsStack: isAzureStackCloud(name), files };
}

/**
 * The cloud of a class from its cloudName and cloudEnvFileName parameters,
 * or a message saying what to fix. As in the provider, an empty cloudName is
 * the default cloud and cloudEnvFileName counts only with AzureStackCloud.
 */
export function resolveCloud(catalog: CloudCatalog, cloudName: string, cloudEnvFileName: string): { ok: true; cloud: CloudEnvironment } | { ok: false; field: 'cloudName' | 'cloudEnvFileName'; message: string } {
  if (cloudName.trim() === '') return { ok: true, cloud: catalog.defaultCloud };
  const builtIn = builtInCloud(cloudName);
  if (builtIn !== undefined) return { ok: true, cloud: builtIn };
  if (!isAzureStackCloud(cloudName)) {
    return { ok: false, field: 'cloudName', message: `"${cloudName}" is not a cloud the Azure provider knows: use one of ${CLOUD_NAMES.join(', ')} (any case), or leave it empty for ${catalog.defaultCloud.name}` };
  }
  if (cloudEnvFileName.trim() === '') {
    if (catalog.defaultIsStack) return { ok: true, cloud: catalog.defaultCloud };
    return { ok: false, field: 'cloudEnvFileName', message: `required with cloudName ${AZURE_STACK_CLOUD}: the path of the cloud's Azure environment file` };
  }
  const given = cloudEnvFileName.trim();
  const problem = envFilePathProblem(given);
  if (problem !== undefined) return { ok: false, field: 'cloudEnvFileName', message: `"${given}" ${problem}` };
  const file = catalog.files.get(normalizeEnvFilePath(given));
  if (file === undefined) {
    return { ok: false, field: 'cloudEnvFileName', message: `"${given}" is not one of the environment files keyvault-reloader was given: ask its operator to add it (--cloud-env-file; chart value sync.cloudEnvFiles)` };
  }
  if (!file.ok) return { ok: false, field: 'cloudEnvFileName', message: `the environment file "${given}" ${file.problem}: ask keyvault-reloader's operator to fix it` };
  return { ok: true, cloud: file.cloud };
}
