// What a workload asks for, read from its metadata.annotations. Pure: a bad
// value becomes a Problem that names the annotation and says what to write
// instead; it never throws. A malformed value never makes the controller
// guess in the direction of an unwanted restart:
// - settle: the cluster default applies (a typo in a tuning knob must not
//   leave an app on a revoked credential);
// - a name in secrets / secret-provider-classes that no object can have is
//   skipped, the other names are followed (nothing wrong can be followed);
// - auto, or any problem in exclude-secrets: the workload is held (nothing
//   restarts or is recorded for it until it is fixed; its baseline stays, so
//   a change made meanwhile restarts it once after the fix), because
//   guessing could restart it for Secrets its author excluded;
// - ignore on a Secret: the Secret is ignored, as its author meant to.
import { DURATION_BOUNDS } from '../config.ts';
import { parseBoundedDuration } from '../core/duration.ts';

export const PREFIX = 'keyvault-reloader.io';
export const ANNOTATIONS = {
  auto: `${PREFIX}/auto`,
  secrets: `${PREFIX}/secrets`,
  secretProviderClasses: `${PREFIX}/secret-provider-classes`,
  excludeSecrets: `${PREFIX}/exclude-secrets`,
  settle: `${PREFIX}/settle`,
  ignore: `${PREFIX}/ignore`,
  /** Digests of the inputs last acted on (keyed; written without a rollout). */
  baseline: `${PREFIX}/baseline`,
  /** Pod-template annotations that a restart writes. */
  restartedAt: `${PREFIX}/restarted-at`,
  restartReason: `${PREFIX}/restart-reason`,
} as const;

/** Stakater Reloader's names, honoured only when the operator turns the flag on. */
export const STAKATER = {
  auto: 'reloader.stakater.com/auto',
  secrets: 'secret.reloader.stakater.com/reload',
  secretProviderClasses: 'secretproviderclass.reloader.stakater.com/reload',
  ignore: 'reloader.stakater.com/ignore',
} as const;

export interface WorkloadPolicy {
  /** Follow every Secret and SecretProviderClass the pod template references. */
  auto: boolean;
  secrets: string[];
  secretProviderClasses: string[];
  excludeSecrets: string[];
  /** Undefined: the cluster default applies. */
  settleMs: number | undefined;
  /** A malformed opt-in or exclusion: nothing restarts or is recorded until it is fixed. */
  held: boolean;
}

export interface Problem {
  annotation: string;
  message: string;
}

export interface PolicyResult {
  /** Null when the workload has not opted in (or only has invalid opt-ins). */
  policy: WorkloadPolicy | null;
  problems: Problem[];
}

export interface AnnotationOptions {
  stakater: boolean;
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const HOLD = 'nothing restarts this workload until it is fixed';

export function parseWorkloadPolicy(annotations: Record<string, string> | undefined, opts: AnnotationOptions): PolicyResult {
  const a = annotations ?? {};
  const problems: Problem[] = [];

  // Both are parsed (no short-circuit) so a malformed Stakater value is reported even when ours is true.
  const ownAuto = parseBool(a, ANNOTATIONS.auto, problems, HOLD);
  const stakaterAuto = opts.stakater ? parseBool(a, STAKATER.auto, problems, HOLD) : false;
  const auto = ownAuto === true || stakaterAuto === true;
  const skip = 'it is skipped';
  const secrets = union(parseNames(a, ANNOTATIONS.secrets, problems, skip), opts.stakater ? parseNames(a, STAKATER.secrets, problems, skip) : []);
  const secretProviderClasses = union(
    parseNames(a, ANNOTATIONS.secretProviderClasses, problems, skip),
    opts.stakater ? parseNames(a, STAKATER.secretProviderClasses, problems, skip) : [],
  );
  const excludeProblems: Problem[] = [];
  const excludeSecrets = parseNames(a, ANNOTATIONS.excludeSecrets, excludeProblems, `${HOLD} (which Secrets it excludes cannot be told)`);
  problems.push(...excludeProblems);

  let settleMs: number | undefined;
  const settle = a[ANNOTATIONS.settle];
  if (settle !== undefined) {
    try {
      settleMs = parseBoundedDuration(settle, DURATION_BOUNDS.settle);
    } catch (err) {
      problems.push({ annotation: ANNOTATIONS.settle, message: `${(err as Error).message}; the cluster default applies until it is fixed` });
    }
  }

  const held = ownAuto === 'invalid' || stakaterAuto === 'invalid' || excludeProblems.length > 0;
  const optedIn = auto || secrets.length > 0 || secretProviderClasses.length > 0;
  return { policy: optedIn ? { auto, secrets, secretProviderClasses, excludeSecrets, settleMs, held } : null, problems };
}

/** Whether a Secret's changes must never restart anything; a malformed value counts as "true", as its author meant to ignore. */
export function parseIgnore(annotations: Record<string, string> | undefined, opts: AnnotationOptions): { ignored: boolean; problems: Problem[] } {
  const a = annotations ?? {};
  const problems: Problem[] = [];
  const why = 'this Secret is ignored until it is fixed';
  const own = parseBool(a, ANNOTATIONS.ignore, problems, why);
  const stakater = opts.stakater ? parseBool(a, STAKATER.ignore, problems, why) : false;
  return { ignored: own !== false || stakater !== false, problems };
}

/** true, false, or 'invalid' (reported with `consequence`); an absent annotation is false. */
function parseBool(a: Record<string, string>, name: string, problems: Problem[], consequence: string): boolean | 'invalid' {
  const raw = a[name];
  if (raw === undefined) return false;
  const v = raw.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  problems.push({ annotation: name, message: `${JSON.stringify(raw)} is not "true" or "false"; ${consequence}` });
  return 'invalid';
}

function parseNames(a: Record<string, string>, name: string, problems: Problem[], consequence: string): string[] {
  const raw = a[name];
  if (raw === undefined) return [];
  const names: string[] = [];
  const parts = raw.split(',').map((s) => s.trim());
  parts.forEach((part, i) => {
    if (part === '') {
      problems.push({ annotation: name, message: `entry ${i + 1} of ${JSON.stringify(raw)} is empty: write a comma-separated list of names such as "db-creds,api-key"; ${consequence}` });
    } else if (part.length > 253 || !DNS1123_SUBDOMAIN.test(part)) {
      problems.push({ annotation: name, message: `${JSON.stringify(part)} is not a valid object name (lowercase letters, digits, '-' and '.'), so no object has it; ${consequence}` });
    } else {
      names.push(part);
    }
  });
  return [...new Set(names)].sort();
}

function union(a: string[], b: string[]): string[] {
  return [...new Set([...a, ...b])].sort();
}
