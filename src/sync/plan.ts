// The plan of one class's sync: a pure function of the parsed class, the Key
// Vault reads made so far and the versions it held before (the reloader's
// decide() is the model). Called with no reads it says what to read; called
// again with their results it says what else to read (the versions an
// objectVersionHistory listing picked) or, once everything is in, which
// Secrets to write, which to leave as they are and why, and the Key Vault
// versions the class now holds. The engine only performs it.
import type { V1Secret } from '@kubernetes/client-node';
import type { FetchedObject, VersionItem } from '../keyvault/objects.ts';
import { classIdentity, firstRead, getRead, type KeyVaultRead, type ReadIdentity } from './reads.ts';
import { pickVersionHistory } from './render/history.ts';
import { renderObject, type RenderedFile, type RenderOptions } from './render/object.ts';
import { buildSecrets } from './secret-data.ts';
import { formatProblems, objectId, syncBlockers, type ObjectSpec, type ParsedClass, type Problem, type Result } from './spc.ts';

export type SyncErrorReason = 'invalid' | 'identity' | 'read' | 'throttled' | 'render' | 'write' | 'not_owned';

/** What failed, worded for an Event: names and versions, never a value. */
export interface SyncFailure {
  reason: SyncErrorReason;
  message: string;
}

/** A Key Vault read as the plan sees it: its value, or why it failed. */
export type ReadResult =
  | { ok: true; kind: 'get'; value: FetchedObject }
  | { ok: true; kind: 'list-versions'; value: VersionItem[] }
  | { ok: false; failure: { reason: 'throttled' | 'read'; message: string } };

/** Key Vault versions by object id (`secret/db`, `secret/db/0`), as SecretProviderClassPodStatus reports them. */
export type ObjectVersions = ReadonlyMap<string, string>;

export interface PlanInput {
  parsed: Result<ParsedClass>;
  defaultServiceAccount: string;
  /** Results of the reads done so far, by read key. */
  results: ReadonlyMap<string, ReadResult>;
  /** The versions the class held after its last sync (undefined before its first). */
  previousVersions?: ObjectVersions;
  renderOptions?: Partial<RenderOptions>;
}

export type SyncPlan =
  /** The class cannot be synced as written: nothing is read or written. */
  | { action: 'invalid'; problems: Problem[] }
  /** Read these (their results are not in yet), then plan again. */
  | { action: 'read'; identity: ReadIdentity; reads: KeyVaultRead[] }
  | {
      action: 'write';
      /** The Secrets whose every entry could be built. */
      secrets: V1Secret[];
      /** Secrets not written this round: their last good value stays. */
      kept: string[];
      failures: SyncFailure[];
      /** Per written Secret, which Key Vault versions it holds (for its Event). */
      sources: Record<string, string>;
      versions: ObjectVersions;
    };

export function planClassSync(input: PlanInput): SyncPlan {
  if (!input.parsed.ok) return { action: 'invalid', problems: input.parsed.problems };
  const parsed = input.parsed.value;
  const blockers = syncBlockers(parsed);
  if (blockers.length > 0) return { action: 'invalid', problems: blockers };

  const identity = classIdentity(parsed, input.defaultServiceAccount);
  const missing = new Map<string, KeyVaultRead>();
  const need = (read: KeyVaultRead): ReadResult | undefined => {
    const result = input.results.get(read.key);
    if (result === undefined) missing.set(read.key, read);
    return result;
  };

  const failures: SyncFailure[] = [];
  const files: RenderedFile[] = [];
  /** Objects whose every file was rendered: their versions replace the previous ones. */
  const complete = new Set<ObjectSpec>();
  const render = (spec: ObjectSpec, result: ReadResult, historyIndex?: number, version?: string): boolean => {
    if (!result.ok) {
      failures.push(readFailure(spec, result.failure, version));
      return false;
    }
    if (result.kind !== 'get') return false;
    const rendered = renderObject(spec, result.value, { ...input.renderOptions, historyIndex });
    if (!rendered.ok) {
      failures.push({ reason: 'render', message: formatProblems([rendered.problem]) });
      return false;
    }
    files.push(...rendered.files);
    return true;
  };

  for (const spec of parsed.objects) {
    const first = firstRead(parsed.vaultUrl, identity, spec);
    const result = need(first);
    if (result === undefined) continue;
    if (first.kind === 'get') {
      if (render(spec, result)) complete.add(spec);
      continue;
    }
    if (!result.ok) {
      failures.push(readFailure(spec, result.failure));
      continue;
    }
    if (result.kind !== 'list-versions') continue;
    const picks = pickVersionHistory(spec, result.value);
    if (picks.length === 0) {
      failures.push({ reason: 'read', message: `${objectId(spec)}: no enabled version${spec.objectVersion ? ` at or before ${spec.objectVersion}` : ''} was found` });
      continue;
    }
    let all = true;
    for (const pick of picks) {
      const picked = need(getRead(parsed.vaultUrl, identity, spec.objectType, spec.objectName, pick.version));
      all = picked !== undefined && render(spec, picked, pick.index, pick.version) && all;
    }
    if (all) complete.add(spec);
  }
  if (missing.size > 0) return { action: 'read', identity, reads: [...missing.values()] };

  const built = buildSecrets(parsed, files);
  // A Secret whose file is missing because its read failed is that read's failure, already listed.
  if (failures.length === 0) {
    for (const f of built.failed) failures.push({ reason: 'render', message: `Secret ${f.secretName}: ${formatProblems(f.problems)}` });
  }
  return {
    action: 'write',
    secrets: built.secrets,
    kept: built.failed.map((f) => f.secretName),
    failures,
    sources: sourcesOf(parsed, built.secrets, files),
    versions: nextVersions(parsed, files, complete, input.previousVersions),
  };
}

/**
 * The secretObjects a class no longer lists (by Secret name), between two
 * versions of it: their Secrets are kept as they were, with a Warning.
 */
export function removedSecretObjects(before: ParsedClass, after: ParsedClass): string[] {
  // An entry still listed but refused is not removed: its Secret waits for the fix.
  const still = new Set([...after.secretObjects, ...after.refusedSecretObjects].map((s) => s.secretName));
  return before.secretObjects.map((s) => s.secretName).filter((name) => !still.has(name));
}

// An object read in full this round reports what it read; one that failed
// keeps what it held before, so a failed read is never mistaken for a
// rotation; an object gone from the class reports nothing.
function nextVersions(parsed: ParsedClass, files: readonly RenderedFile[], complete: ReadonlySet<ObjectSpec>, previous: ObjectVersions | undefined): ObjectVersions {
  const versions = new Map<string, string>();
  for (const spec of parsed.objects) {
    const id = objectId(spec);
    if (complete.has(spec)) {
      for (const f of files) if (f.id === id || f.id.startsWith(`${id}/`)) versions.set(f.id, f.version);
      continue;
    }
    for (const [known, version] of previous ?? []) if (known === id || (spec.objectVersionHistory > 1 && known.startsWith(`${id}/`))) versions.set(known, version);
  }
  return new Map([...versions].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function sourcesOf(parsed: ParsedClass, secrets: readonly V1Secret[], files: readonly RenderedFile[]): Record<string, string> {
  const sources: Record<string, string> = {};
  for (const secret of secrets) {
    const name = secret.metadata?.name ?? '';
    const used = new Set(parsed.secretObjects.find((s) => s.secretName === name)?.data.map((d) => d.objectName));
    const parts = [...new Set(files.filter((f) => used.has(f.fileName)).map((f) => `${f.id}@${f.version}`))];
    if (parts.length > 0) sources[name] = `from ${parts.join(', ')}`;
  }
  return sources;
}

function readFailure(spec: ObjectSpec, failure: { reason: 'throttled' | 'read'; message: string }, version?: string): SyncFailure {
  const what = `${objectId(spec)}${version ? ` (version ${version})` : ''}`;
  return { reason: failure.reason, message: `could not read ${what}: ${failure.message}` };
}
