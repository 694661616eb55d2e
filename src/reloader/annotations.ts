// What a workload asks for, read from its metadata.annotations. Pure: a bad
// value becomes a Problem that names the annotation and says what to write
// instead; it never throws and never turns into a restart.
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

export function parseWorkloadPolicy(annotations: Record<string, string> | undefined, opts: AnnotationOptions): PolicyResult {
  const a = annotations ?? {};
  const problems: Problem[] = [];

  // Both are parsed (no short-circuit) so a malformed Stakater value is reported even when ours is true.
  const ownAuto = parseBool(a, ANNOTATIONS.auto, problems);
  const stakaterAuto = opts.stakater && parseBool(a, STAKATER.auto, problems);
  const auto = ownAuto || stakaterAuto;
  const secrets = union(parseNames(a, ANNOTATIONS.secrets, problems), opts.stakater ? parseNames(a, STAKATER.secrets, problems) : []);
  const secretProviderClasses = union(
    parseNames(a, ANNOTATIONS.secretProviderClasses, problems),
    opts.stakater ? parseNames(a, STAKATER.secretProviderClasses, problems) : [],
  );
  const excludeSecrets = parseNames(a, ANNOTATIONS.excludeSecrets, problems);

  let settleMs: number | undefined;
  const settle = a[ANNOTATIONS.settle];
  if (settle !== undefined) {
    try {
      settleMs = parseBoundedDuration(settle, DURATION_BOUNDS.settle);
    } catch (err) {
      problems.push({ annotation: ANNOTATIONS.settle, message: `${(err as Error).message}; the cluster default applies until it is fixed` });
    }
  }

  const optedIn = auto || secrets.length > 0 || secretProviderClasses.length > 0;
  return { policy: optedIn ? { auto, secrets, secretProviderClasses, excludeSecrets, settleMs } : null, problems };
}

/** True when a Secret's changes must never restart anything. */
export function isIgnored(annotations: Record<string, string> | undefined, opts: AnnotationOptions): boolean {
  const a = annotations ?? {};
  return isTrue(a[ANNOTATIONS.ignore]) || (opts.stakater && isTrue(a[STAKATER.ignore]));
}

/** Read like parseBool, so "True" means the same on ignore as on auto. */
function isTrue(raw: string | undefined): boolean {
  return raw !== undefined && raw.trim().toLowerCase() === 'true';
}

function parseBool(a: Record<string, string>, name: string, problems: Problem[]): boolean {
  const raw = a[name];
  if (raw === undefined) return false;
  const v = raw.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  problems.push({ annotation: name, message: `${JSON.stringify(raw)} is not "true" or "false"; the annotation is ignored until it is fixed` });
  return false;
}

function parseNames(a: Record<string, string>, name: string, problems: Problem[]): string[] {
  const raw = a[name];
  if (raw === undefined) return [];
  const names: string[] = [];
  const parts = raw.split(',').map((s) => s.trim());
  parts.forEach((part, i) => {
    if (part === '') {
      problems.push({ annotation: name, message: `entry ${i + 1} of ${JSON.stringify(raw)} is empty; write a comma-separated list of names such as "db-creds,api-key"` });
    } else if (part.length > 253 || !DNS1123_SUBDOMAIN.test(part)) {
      problems.push({ annotation: name, message: `${JSON.stringify(part)} is not a valid object name (lowercase letters, digits, '-' and '.'); it is ignored` });
    } else {
      names.push(part);
    }
  });
  return [...new Set(names)].sort();
}

function union(a: string[], b: string[]): string[] {
  return [...new Set([...a, ...b])].sort();
}
