import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ANNOTATIONS, STAKATER, parseIgnore, parseWorkloadPolicy, type PolicyResult, type WorkloadPolicy } from '../../src/reloader/annotations.ts';

const OURS = { stakater: false };
const WITH_STAKATER = { stakater: true };

function policyOf(result: PolicyResult): WorkloadPolicy {
  assert.ok(result.policy, `expected a policy, got null with problems ${JSON.stringify(result.problems)}`);
  return result.policy;
}

function annotationsNamed(result: PolicyResult): string[] {
  return result.problems.map((p) => p.annotation);
}

describe('annotation names', () => {
  it('uses the keyvault-reloader.io prefix for every annotation of the contract', () => {
    assert.equal(ANNOTATIONS.auto, 'keyvault-reloader.io/auto');
    assert.equal(ANNOTATIONS.secrets, 'keyvault-reloader.io/secrets');
    assert.equal(ANNOTATIONS.secretProviderClasses, 'keyvault-reloader.io/secret-provider-classes');
    assert.equal(ANNOTATIONS.excludeSecrets, 'keyvault-reloader.io/exclude-secrets');
    assert.equal(ANNOTATIONS.settle, 'keyvault-reloader.io/settle');
    assert.equal(ANNOTATIONS.ignore, 'keyvault-reloader.io/ignore');
    assert.equal(ANNOTATIONS.restartedAt, 'keyvault-reloader.io/restarted-at');
  });

  it('uses the Stakater Reloader names that product.md lists for compatibility', () => {
    assert.equal(STAKATER.auto, 'reloader.stakater.com/auto');
    assert.equal(STAKATER.secrets, 'secret.reloader.stakater.com/reload');
    assert.equal(STAKATER.secretProviderClasses, 'secretproviderclass.reloader.stakater.com/reload');
    assert.equal(STAKATER.ignore, 'reloader.stakater.com/ignore');
  });
});

describe('parseWorkloadPolicy: opting in', () => {
  it('returns no policy and no problems for a workload without annotations', () => {
    assert.deepEqual(parseWorkloadPolicy(undefined, OURS), { policy: null, problems: [] });
  });

  it('returns no policy and no problems for an empty annotation map', () => {
    assert.deepEqual(parseWorkloadPolicy({}, OURS), { policy: null, problems: [] });
  });

  it('returns no policy for a workload with only unrelated annotations', () => {
    const result = parseWorkloadPolicy({ 'deployment.kubernetes.io/revision': '3', 'example.com/auto': 'true' }, OURS);
    assert.deepEqual(result, { policy: null, problems: [] });
  });

  it('opts in with auto "true" and leaves the explicit lists empty and the settle to the cluster default', () => {
    const result = parseWorkloadPolicy({ [ANNOTATIONS.auto]: 'true' }, OURS);
    assert.deepEqual(result, {
      policy: { auto: true, secrets: [], secretProviderClasses: [], excludeSecrets: [], settleMs: undefined, held: false },
      problems: [],
    });
  });

  it('reads auto case-insensitively and ignores surrounding whitespace', () => {
    for (const value of ['TRUE', 'True', ' true ', '\ttrue\n']) {
      const result = parseWorkloadPolicy({ [ANNOTATIONS.auto]: value }, OURS);
      assert.equal(policyOf(result).auto, true, `auto ${JSON.stringify(value)}`);
      assert.deepEqual(result.problems, []);
    }
  });

  it('does not opt in with auto "false" and reports nothing', () => {
    for (const value of ['false', 'FALSE', ' False ']) {
      assert.deepEqual(parseWorkloadPolicy({ [ANNOTATIONS.auto]: value }, OURS), { policy: null, problems: [] });
    }
  });

  it('opts in with an explicit secrets list alone, with auto off', () => {
    const policy = policyOf(parseWorkloadPolicy({ [ANNOTATIONS.secrets]: 'db-creds' }, OURS));
    assert.equal(policy.auto, false);
    assert.deepEqual(policy.secrets, ['db-creds']);
  });

  it('opts in with an explicit secret-provider-classes list alone, with auto off', () => {
    const policy = policyOf(parseWorkloadPolicy({ [ANNOTATIONS.secretProviderClasses]: 'kv-app' }, OURS));
    assert.equal(policy.auto, false);
    assert.deepEqual(policy.secretProviderClasses, ['kv-app']);
    assert.deepEqual(policy.secrets, []);
  });

  it('does not opt in with only exclude-secrets', () => {
    assert.deepEqual(parseWorkloadPolicy({ [ANNOTATIONS.excludeSecrets]: 'c' }, OURS), { policy: null, problems: [] });
  });

  it('does not opt in with only a settle window', () => {
    assert.deepEqual(parseWorkloadPolicy({ [ANNOTATIONS.settle]: '15s' }, OURS), { policy: null, problems: [] });
  });

  it('does not opt in with auto "false" even when exclusions and a settle window are set', () => {
    const result = parseWorkloadPolicy({ [ANNOTATIONS.auto]: 'false', [ANNOTATIONS.excludeSecrets]: 'c', [ANNOTATIONS.settle]: '1m' }, OURS);
    assert.equal(result.policy, null);
  });

  it('reads every annotation of a fully annotated workload', () => {
    const result = parseWorkloadPolicy(
      {
        [ANNOTATIONS.auto]: 'true',
        [ANNOTATIONS.secrets]: 'a,b',
        [ANNOTATIONS.secretProviderClasses]: 'x,y',
        [ANNOTATIONS.excludeSecrets]: 'c',
        [ANNOTATIONS.settle]: '15s',
      },
      OURS,
    );
    assert.deepEqual(result, {
      policy: { auto: true, secrets: ['a', 'b'], secretProviderClasses: ['x', 'y'], excludeSecrets: ['c'], settleMs: 15_000, held: false },
      problems: [],
    });
  });
});

describe('parseWorkloadPolicy: name lists', () => {
  it('trims whitespace around each name', () => {
    const policy = policyOf(parseWorkloadPolicy({ [ANNOTATIONS.secrets]: ' db-creds ,  api-key\t' }, OURS));
    assert.deepEqual(policy.secrets, ['api-key', 'db-creds']);
  });

  it('sorts names so that the order they are written in does not matter', () => {
    const a = policyOf(parseWorkloadPolicy({ [ANNOTATIONS.secrets]: 'zeta,alpha,mid' }, OURS));
    const b = policyOf(parseWorkloadPolicy({ [ANNOTATIONS.secrets]: 'mid,zeta,alpha' }, OURS));
    assert.deepEqual(a.secrets, ['alpha', 'mid', 'zeta']);
    assert.deepEqual(b.secrets, a.secrets);
  });

  it('removes duplicate names without reporting a problem', () => {
    const result = parseWorkloadPolicy({ [ANNOTATIONS.secrets]: 'a,b,a, b' }, OURS);
    assert.deepEqual(policyOf(result).secrets, ['a', 'b']);
    assert.deepEqual(result.problems, []);
  });

  it('accepts DNS-1123 subdomain names with dots, dashes and digits', () => {
    const result = parseWorkloadPolicy({ [ANNOTATIONS.secrets]: 'tls.example.com,db-creds-2,0abc' }, OURS);
    assert.deepEqual(policyOf(result).secrets, ['0abc', 'db-creds-2', 'tls.example.com']);
    assert.deepEqual(result.problems, []);
  });

  it('accepts a name of exactly 253 characters', () => {
    const name = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    assert.equal(name.length, 253);
    const result = parseWorkloadPolicy({ [ANNOTATIONS.secrets]: name }, OURS);
    assert.deepEqual(policyOf(result).secrets, [name]);
    assert.deepEqual(result.problems, []);
  });

  it('reports a name longer than 253 characters and ignores it', () => {
    const name = 'a'.repeat(254);
    const result = parseWorkloadPolicy({ [ANNOTATIONS.secrets]: `${name},ok` }, OURS);
    assert.deepEqual(policyOf(result).secrets, ['ok']);
    assert.deepEqual(annotationsNamed(result), [ANNOTATIONS.secrets]);
    assert.match(result.problems[0]!.message, /not a valid object name/);
  });

  it('reports each invalid name, naming the annotation and quoting the name, and keeps the valid ones', () => {
    const result = parseWorkloadPolicy({ [ANNOTATIONS.secrets]: 'good,Bad_Name,-lead,trail-,also.good,a..b' }, OURS);
    assert.deepEqual(policyOf(result).secrets, ['also.good', 'good']);
    assert.deepEqual(annotationsNamed(result), Array(4).fill(ANNOTATIONS.secrets));
    assert.match(result.problems[0]!.message, /"Bad_Name" is not a valid object name/);
    assert.match(result.problems[1]!.message, /"-lead"/);
    assert.match(result.problems[2]!.message, /"trail-"/);
    assert.match(result.problems[3]!.message, /"a\.\.b"/);
  });

  it('rejects uppercase names, which Kubernetes object names cannot contain', () => {
    const result = parseWorkloadPolicy({ [ANNOTATIONS.secrets]: 'DbCreds' }, OURS);
    assert.equal(result.policy, null);
    assert.deepEqual(annotationsNamed(result), [ANNOTATIONS.secrets]);
  });

  it('reports an empty entry by its position and says how to write the list', () => {
    const result = parseWorkloadPolicy({ [ANNOTATIONS.secrets]: 'a,,b' }, OURS);
    assert.deepEqual(policyOf(result).secrets, ['a', 'b']);
    assert.equal(result.problems.length, 1);
    assert.equal(result.problems[0]!.annotation, ANNOTATIONS.secrets);
    assert.match(result.problems[0]!.message, /entry 2 of "a,,b" is empty/);
    assert.match(result.problems[0]!.message, /comma-separated list/);
  });

  it('reports a trailing comma as an empty entry but keeps the names before it', () => {
    const result = parseWorkloadPolicy({ [ANNOTATIONS.secrets]: 'a,' }, OURS);
    assert.deepEqual(policyOf(result).secrets, ['a']);
    assert.match(result.problems[0]!.message, /entry 2 of "a," is empty/);
  });

  it('reports an empty secrets annotation and does not opt the workload in', () => {
    const result = parseWorkloadPolicy({ [ANNOTATIONS.secrets]: '' }, OURS);
    assert.equal(result.policy, null);
    assert.deepEqual(annotationsNamed(result), [ANNOTATIONS.secrets]);
  });

  it('returns no policy, but the problems, when every explicit name is invalid', () => {
    const result = parseWorkloadPolicy({ [ANNOTATIONS.secrets]: 'Bad', [ANNOTATIONS.secretProviderClasses]: 'Also_Bad' }, OURS);
    assert.equal(result.policy, null);
    assert.deepEqual(annotationsNamed(result), [ANNOTATIONS.secrets, ANNOTATIONS.secretProviderClasses]);
  });

  it('validates secret-provider-classes names and names that annotation in its problems', () => {
    const result = parseWorkloadPolicy({ [ANNOTATIONS.secretProviderClasses]: 'kv-app,KV' }, OURS);
    assert.deepEqual(policyOf(result).secretProviderClasses, ['kv-app']);
    assert.deepEqual(annotationsNamed(result), [ANNOTATIONS.secretProviderClasses]);
  });

  it('parses exclude-secrets as a sorted, de-duplicated list of names', () => {
    const policy = policyOf(parseWorkloadPolicy({ [ANNOTATIONS.auto]: 'true', [ANNOTATIONS.excludeSecrets]: 'z, a ,z' }, OURS));
    assert.deepEqual(policy.excludeSecrets, ['a', 'z']);
  });

  it('validates exclude-secrets names and names that annotation in its problems', () => {
    const result = parseWorkloadPolicy({ [ANNOTATIONS.auto]: 'true', [ANNOTATIONS.excludeSecrets]: 'ok,NOT_OK' }, OURS);
    assert.deepEqual(policyOf(result).excludeSecrets, ['ok']);
    assert.deepEqual(annotationsNamed(result), [ANNOTATIONS.excludeSecrets]);
  });
});

describe('parseWorkloadPolicy: settle window', () => {
  it('reads a Go-style duration in milliseconds', () => {
    const cases: [string, number][] = [
      ['15s', 15_000],
      ['500ms', 500],
      ['2m', 120_000],
      ['1m30s', 90_000],
      ['1.5s', 1_500],
      ['0s', 0],
    ];
    for (const [text, ms] of cases) {
      const result = parseWorkloadPolicy({ [ANNOTATIONS.auto]: 'true', [ANNOTATIONS.settle]: text }, OURS);
      assert.equal(policyOf(result).settleMs, ms, text);
      assert.deepEqual(result.problems, []);
    }
  });

  it('leaves settleMs undefined so that the cluster default applies when the annotation is absent', () => {
    assert.equal(policyOf(parseWorkloadPolicy({ [ANNOTATIONS.auto]: 'true' }, OURS)).settleMs, undefined);
  });

  it('reports a malformed settle window, naming the annotation, keeps the policy and falls back to the cluster default', () => {
    for (const text of ['15', 'soon', '', '-5s', '1 m']) {
      const result = parseWorkloadPolicy({ [ANNOTATIONS.auto]: 'true', [ANNOTATIONS.settle]: text }, OURS);
      const policy = policyOf(result);
      assert.equal(policy.auto, true, text);
      assert.equal(policy.settleMs, undefined, text);
      assert.equal(result.problems.length, 1, text);
      assert.equal(result.problems[0]!.annotation, ANNOTATIONS.settle);
      assert.match(result.problems[0]!.message, /the cluster default applies until it is fixed/);
    }
  });

  it('refuses a settle window above the bound of --settle (1h), saying so, and falls back to the cluster default', () => {
    const result = parseWorkloadPolicy({ [ANNOTATIONS.auto]: 'true', [ANNOTATIONS.settle]: '720h' }, OURS);
    assert.equal(policyOf(result).settleMs, undefined);
    assert.deepEqual(result.problems, [{ annotation: ANNOTATIONS.settle, message: '"720h" is too long: use at most 1h; the cluster default applies until it is fixed' }]);
    assert.equal(policyOf(parseWorkloadPolicy({ [ANNOTATIONS.auto]: 'true', [ANNOTATIONS.settle]: '1h' }, OURS)).settleMs, 3_600_000);
  });

  it('says which duration format is expected when the settle window has no unit', () => {
    const result = parseWorkloadPolicy({ [ANNOTATIONS.auto]: 'true', [ANNOTATIONS.settle]: '15' }, OURS);
    assert.match(result.problems[0]!.message, /"15" has no unit/);
    assert.match(result.problems[0]!.message, /"15s"/);
  });
});

describe('parseWorkloadPolicy: malformed values never throw', () => {
  it('reports a non-boolean auto, naming the annotation and quoting the value, and does not opt in', () => {
    const result = parseWorkloadPolicy({ [ANNOTATIONS.auto]: 'yes' }, OURS);
    assert.equal(result.policy, null);
    assert.equal(result.problems.length, 1);
    assert.equal(result.problems[0]!.annotation, ANNOTATIONS.auto);
    assert.match(result.problems[0]!.message, /"yes" is not "true" or "false"/);
  });

  it('treats an empty auto value as malformed rather than as true', () => {
    const result = parseWorkloadPolicy({ [ANNOTATIONS.auto]: '' }, OURS);
    assert.equal(result.policy, null);
    assert.deepEqual(annotationsNamed(result), [ANNOTATIONS.auto]);
  });

  it('holds a workload whose auto is malformed although it names Secrets too, and says so', () => {
    const result = parseWorkloadPolicy({ [ANNOTATIONS.auto]: '1', [ANNOTATIONS.secrets]: 'a' }, OURS);
    const policy = policyOf(result);
    assert.equal(policy.held, true);
    assert.equal(policy.auto, false);
    assert.deepEqual(policy.secrets, ['a']);
    assert.deepEqual(result.problems, [{ annotation: ANNOTATIONS.auto, message: '"1" is not "true" or "false"; nothing restarts this workload until it is fixed' }]);
  });

  it('holds a workload whose exclude-secrets has a malformed entry: guessing could restart it for a Secret its author excluded', () => {
    const result = parseWorkloadPolicy({ [ANNOTATIONS.auto]: 'true', [ANNOTATIONS.excludeSecrets]: 'noisy;other' }, OURS);
    assert.equal(policyOf(result).held, true);
    assert.deepEqual(result.problems, [
      { annotation: ANNOTATIONS.excludeSecrets, message: `"noisy;other" is not a valid object name (lowercase letters, digits, '-' and '.'), so no object has it; nothing restarts this workload until it is fixed (which Secrets it excludes cannot be told)` },
    ]);
    assert.equal(policyOf(parseWorkloadPolicy({ [ANNOTATIONS.auto]: 'true', [ANNOTATIONS.excludeSecrets]: 'noisy,' }, OURS)).held, true, 'an empty entry too');
  });

  it('does not hold a workload for a name in secrets that no object can have: the other names are followed', () => {
    const result = parseWorkloadPolicy({ [ANNOTATIONS.secrets]: 'db,API_KEY' }, OURS);
    const policy = policyOf(result);
    assert.equal(policy.held, false);
    assert.deepEqual(policy.secrets, ['db']);
    assert.deepEqual(result.problems, [{ annotation: ANNOTATIONS.secrets, message: `"API_KEY" is not a valid object name (lowercase letters, digits, '-' and '.'), so no object has it; it is skipped` }]);
  });

  it('does not hold a workload for a malformed settle window', () => {
    assert.equal(policyOf(parseWorkloadPolicy({ [ANNOTATIONS.auto]: 'true', [ANNOTATIONS.settle]: 'banana' }, OURS)).held, false);
  });

  it('holds a workload whose Stakater auto is malformed, with --stakater', () => {
    assert.equal(policyOf(parseWorkloadPolicy({ [STAKATER.auto]: 'yes', [STAKATER.secrets]: 'a' }, WITH_STAKATER)).held, true);
    assert.deepEqual(parseWorkloadPolicy({ [STAKATER.auto]: 'yes', [STAKATER.secrets]: 'a' }, OURS), { policy: null, problems: [] }, 'ignored without --stakater');
  });

  it('reports one problem per malformed annotation when all of them are malformed at once', () => {
    const annotations = {
      [ANNOTATIONS.auto]: 'on',
      [ANNOTATIONS.secrets]: 'A',
      [ANNOTATIONS.secretProviderClasses]: '_',
      [ANNOTATIONS.excludeSecrets]: ',',
      [ANNOTATIONS.settle]: 'later',
    };
    let result: PolicyResult | undefined;
    assert.doesNotThrow(() => {
      result = parseWorkloadPolicy(annotations, OURS);
    });
    assert.ok(result);
    assert.equal(result.policy, null);
    assert.deepEqual(new Set(annotationsNamed(result)), new Set(Object.keys(annotations)));
    for (const p of result.problems) assert.ok(p.message.length > 0);
  });

  it('does not throw on unusual characters in values', () => {
    const weird = '\u0000,\u{1F600},' + 'x'.repeat(10_000) + ',"quoted"';
    assert.doesNotThrow(() =>
      parseWorkloadPolicy(
        { [ANNOTATIONS.auto]: weird, [ANNOTATIONS.secrets]: weird, [ANNOTATIONS.settle]: weird, [ANNOTATIONS.excludeSecrets]: weird },
        WITH_STAKATER,
      ),
    );
  });
});

describe('parseWorkloadPolicy: Stakater compatibility', () => {
  it('ignores every Stakater annotation, malformed or not, while the flag is off', () => {
    const result = parseWorkloadPolicy(
      {
        [STAKATER.auto]: 'true',
        [STAKATER.secrets]: 'a',
        [STAKATER.secretProviderClasses]: 'x',
      },
      OURS,
    );
    assert.deepEqual(result, { policy: null, problems: [] });
    const malformed = parseWorkloadPolicy({ [STAKATER.auto]: 'maybe', [STAKATER.secrets]: 'Bad' }, OURS);
    assert.deepEqual(malformed, { policy: null, problems: [] });
  });

  it('does not take Stakater names into our lists while the flag is off', () => {
    const policy = policyOf(parseWorkloadPolicy({ [ANNOTATIONS.secrets]: 'ours', [STAKATER.secrets]: 'theirs' }, OURS));
    assert.deepEqual(policy.secrets, ['ours']);
  });

  it('opts in with reloader.stakater.com/auto "true" when the flag is on', () => {
    const result = parseWorkloadPolicy({ [STAKATER.auto]: 'true' }, WITH_STAKATER);
    assert.equal(policyOf(result).auto, true);
    assert.deepEqual(result.problems, []);
  });

  it('follows the Secrets named by secret.reloader.stakater.com/reload when the flag is on', () => {
    const policy = policyOf(parseWorkloadPolicy({ [STAKATER.secrets]: 'b, a' }, WITH_STAKATER));
    assert.equal(policy.auto, false);
    assert.deepEqual(policy.secrets, ['a', 'b']);
  });

  it('follows the classes named by secretproviderclass.reloader.stakater.com/reload when the flag is on', () => {
    const policy = policyOf(parseWorkloadPolicy({ [STAKATER.secretProviderClasses]: 'kv-app' }, WITH_STAKATER));
    assert.deepEqual(policy.secretProviderClasses, ['kv-app']);
  });

  it('unions our names with Stakater names, sorted and without duplicates', () => {
    const policy = policyOf(
      parseWorkloadPolicy(
        {
          [ANNOTATIONS.secrets]: 'c,a',
          [STAKATER.secrets]: 'b,a',
          [ANNOTATIONS.secretProviderClasses]: 'y',
          [STAKATER.secretProviderClasses]: 'x,y',
        },
        WITH_STAKATER,
      ),
    );
    assert.deepEqual(policy.secrets, ['a', 'b', 'c']);
    assert.deepEqual(policy.secretProviderClasses, ['x', 'y']);
  });

  it('enables auto when either our auto or Stakater auto is true', () => {
    assert.equal(policyOf(parseWorkloadPolicy({ [ANNOTATIONS.auto]: 'false', [STAKATER.auto]: 'true' }, WITH_STAKATER)).auto, true);
    assert.equal(policyOf(parseWorkloadPolicy({ [ANNOTATIONS.auto]: 'true', [STAKATER.auto]: 'false' }, WITH_STAKATER)).auto, true);
  });

  it('reports a malformed Stakater value, naming the Stakater annotation', () => {
    const result = parseWorkloadPolicy({ [STAKATER.auto]: 'maybe', [STAKATER.secrets]: 'Bad,ok', [STAKATER.secretProviderClasses]: ',' }, WITH_STAKATER);
    assert.deepEqual(policyOf(result).secrets, ['ok']);
    assert.deepEqual(new Set(annotationsNamed(result)), new Set([STAKATER.auto, STAKATER.secrets, STAKATER.secretProviderClasses]));
  });

  it('reports a malformed Stakater auto even when our own auto is already true', () => {
    const result = parseWorkloadPolicy({ [ANNOTATIONS.auto]: 'true', [STAKATER.auto]: 'maybe' }, WITH_STAKATER);
    assert.equal(policyOf(result).auto, true);
    assert.deepEqual(annotationsNamed(result), [STAKATER.auto]);
  });

  it('has no Stakater equivalent of exclude-secrets or settle', () => {
    const policy = policyOf(
      parseWorkloadPolicy({ [ANNOTATIONS.auto]: 'true', 'secrets.exclude.reloader.stakater.com/reload': 'c' }, WITH_STAKATER),
    );
    assert.deepEqual(policy.excludeSecrets, []);
    assert.equal(policy.settleMs, undefined);
  });
});

describe('parseIgnore', () => {
  const ignored = (a: Record<string, string> | undefined, opts = OURS) => parseIgnore(a, opts).ignored;
  it('is false for a Secret without annotations', () => {
    assert.deepEqual(parseIgnore(undefined, OURS), { ignored: false, problems: [] });
    assert.equal(ignored({}), false);
  });

  it('is true for keyvault-reloader.io/ignore "true"', () => {
    assert.deepEqual(parseIgnore({ [ANNOTATIONS.ignore]: 'true' }, OURS), { ignored: true, problems: [] });
  });

  it('reads ignore case-insensitively and ignores surrounding whitespace, like the other boolean annotations', () => {
    for (const value of ['TRUE', 'True', ' true ']) {
      assert.equal(ignored({ [ANNOTATIONS.ignore]: value }), true, JSON.stringify(value));
    }
  });

  it('is false for ignore "false"', () => {
    assert.deepEqual(parseIgnore({ [ANNOTATIONS.ignore]: 'false' }, OURS), { ignored: false, problems: [] });
  });

  it('takes a malformed ignore as "true", as its author meant to ignore the Secret, and says so', () => {
    for (const value of ['', 'yes', '1']) {
      assert.deepEqual(parseIgnore({ [ANNOTATIONS.ignore]: value }, OURS), {
        ignored: true,
        problems: [{ annotation: ANNOTATIONS.ignore, message: `${JSON.stringify(value)} is not "true" or "false"; this Secret is ignored until it is fixed` }],
      });
    }
  });

  it('does not honour reloader.stakater.com/ignore while the flag is off, malformed or not', () => {
    assert.deepEqual(parseIgnore({ [STAKATER.ignore]: 'true' }, OURS), { ignored: false, problems: [] });
    assert.deepEqual(parseIgnore({ [STAKATER.ignore]: 'yes' }, OURS), { ignored: false, problems: [] });
  });

  it('honours reloader.stakater.com/ignore "true" when the flag is on, and a malformed one as "true"', () => {
    assert.equal(ignored({ [STAKATER.ignore]: 'true' }, WITH_STAKATER), true);
    assert.equal(ignored({ [STAKATER.ignore]: 'false' }, WITH_STAKATER), false);
    assert.equal(parseIgnore({ [STAKATER.ignore]: 'on' }, WITH_STAKATER).problems[0]?.annotation, STAKATER.ignore);
  });

  it('is true when either our ignore or the Stakater ignore says so with the flag on', () => {
    assert.equal(ignored({ [ANNOTATIONS.ignore]: 'false', [STAKATER.ignore]: 'true' }, WITH_STAKATER), true);
    assert.equal(ignored({ [ANNOTATIONS.ignore]: 'true', [STAKATER.ignore]: 'false' }, WITH_STAKATER), true);
  });

  it('is not triggered by workload opt-in annotations', () => {
    assert.equal(ignored({ [ANNOTATIONS.auto]: 'true', [STAKATER.auto]: 'true' }, WITH_STAKATER), false);
  });
});
