// docs/operations.md is held to the code: its metrics table is the one
// METRICS_DOC renders, it documents every chart value, every Event reason the
// controller emits and every warning or error it logs.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { PACKAGE_ROOT } from '../../src/localenv/assets.ts';
import { OPERATIONS_DOC, renderOperationsDoc } from '../../scripts/render-docs.ts';

const doc = readFileSync(OPERATIONS_DOC, 'utf8');
// The controller's code; the local environment and the demo are not operated in a cluster.
const OPERATED = ['src/kube', 'src/reloader', 'src/server', 'src/sync', 'src/keyvault', 'src/cli/run.ts', 'src/cli/main.ts'];

function sources(): { file: string; text: string }[] {
  return OPERATED.flatMap((entry) => {
    const full = path.join(PACKAGE_ROOT, entry);
    const files = entry.endsWith('.ts') ? [full] : safeReaddir(full).filter((f) => f.endsWith('.ts')).map((f) => path.join(full, f));
    return files.map((file) => ({ file: path.relative(PACKAGE_ROOT, file), text: readFileSync(file, 'utf8') }));
  });
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The message literals of every log call at warn, error or fatal (or a computed level). */
function loggedProblems(text: string): string[] {
  const out: string[] = [];
  const call = /\blog(?:\.child\([^)]*\))?(?:\.(?:warn|error|fatal)|\[level\])\(/g;
  for (let m = call.exec(text); m; m = call.exec(text)) {
    // Arguments: a fields object, then the message (a literal, or a choice of literals).
    let i = m.index + m[0].length;
    let depth = 0;
    for (; i < text.length; i++) {
      const ch = text[i];
      if (ch === '{' || ch === '(' || ch === '[') depth++;
      else if (ch === '}' || ch === ']') depth--;
      else if (ch === ')') {
        if (depth === 0) break;
        depth--;
      }
      if (depth === 0 && ch === '}') break;
    }
    const rest = text.slice(i + 1, text.indexOf(')', text.indexOf("'", i + 1) + 1) + 1);
    for (const lit of rest.matchAll(/'([^']+)'/g)) out.push(lit[1]!);
  }
  return out;
}

function leafValues(obj: Record<string, unknown>, prefix = ''): string[] {
  // Values that are free-form Kubernetes fields are documented as a whole.
  const FREE_FORM = new Set(['resources', 'podSecurityContext', 'securityContext', 'livenessProbe', 'readinessProbe', 'startupProbe', 'nodeSelector', 'affinity', 'podAnnotations', 'podLabels', 'serviceAccount.annotations', 'metrics.service.annotations', 'metrics.serviceMonitor.labels']);
  return Object.entries(obj).flatMap(([k, v]) => {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v) && !FREE_FORM.has(key)) return leafValues(v as Record<string, unknown>, key);
    return [key];
  });
}

describe('docs/operations.md', () => {
  it('its metrics table is the one scripts/render-docs.ts renders from METRICS_DOC', () => {
    assert.equal(doc, renderOperationsDoc(doc), 'stale metrics table: run node scripts/render-docs.ts');
  });

  it('documents every value of the Helm chart', () => {
    const values = parseYaml(readFileSync(path.join(PACKAGE_ROOT, 'deploy', 'helm', 'keyvault-reloader', 'values.yaml'), 'utf8')) as Record<string, unknown>;
    const keys = leafValues(values);
    assert.ok(keys.includes('reloader.settle') && keys.includes('leaderElection.leaseDuration'));
    const missing = keys.filter((k) => !doc.includes(`\`${k}\``));
    assert.deepEqual(missing, [], 'values missing from the values reference');
  });

  it('explains every Event reason the controller emits', () => {
    const reasons = new Set(sources().flatMap(({ text }) => [...text.matchAll(/'(?:Normal|Warning)',\s*'([A-Za-z]+)'/g)].map((m) => m[1]!)));
    for (const r of ['Restarted', 'RestartDeferred', 'RestartRateLimited', 'RestartFailed', 'InvalidAnnotation']) assert.ok(reasons.has(r), `found ${r} in the code`);
    for (const r of reasons) assert.match(doc, new RegExp(`^\\| \`${r}\` \\|`, 'm'), `Event reason ${r} is missing from docs/operations.md: add a row to the "Events" table`);
  });

  it('explains every warning and error the controller logs', () => {
    const found = sources().flatMap(({ file, text }) => loggedProblems(text).map((msg) => ({ file, msg })));
    assert.ok(found.some((f) => f.msg === 'list/watch failed; retrying'), 'the extraction finds log calls');
    assert.ok(found.some((f) => f.msg === 'could not acquire the lease'), 'and messages chosen at run time');
    const missing = found.filter(({ msg }) => !doc.includes(`\`${msg}\``)).map(({ file, msg }) => `${file}: ${msg}`);
    assert.deepEqual(missing, [], 'log lines missing from docs/operations.md: add a row for each to the "Log lines" table, saying what it means and what to do');
  });
});
