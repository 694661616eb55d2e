// The Dockerfile, read as text (no Docker engine and no Dockerfile linter
// here): multi-stage on the Node major that package.json pins, production
// dependencies only, a non-root user, and an entrypoint that exists in the
// build output. The built result is exercised by test/integration/package.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { PACKAGE_ROOT } from '../../src/localenv/assets.ts';

const text = readFileSync(path.join(PACKAGE_ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
const pkg = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8'));
const ignored = readFileSync(path.join(PACKAGE_ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

interface Stage {
  from: string;
  name: string | undefined;
  lines: string[];
}

function stages(): Stage[] {
  const args = new Map<string, string>();
  const out: Stage[] = [];
  for (const line of lines) {
    const [instr, ...rest] = line.split(/\s+/);
    const upper = instr!.toUpperCase();
    if (upper === 'ARG' && out.length === 0) {
      const [k, v] = rest.join(' ').split('=');
      args.set(k!, v ?? '');
    } else if (upper === 'FROM') {
      const image = rest[0]!.replace(/\$\{(\w+)\}/g, (_, k: string) => args.get(k) ?? '');
      out.push({ from: image, name: rest[2], lines: [] });
    } else out.at(-1)?.lines.push(line);
  }
  return out;
}

describe('Dockerfile', () => {
  it('builds in one stage and runs from another, every stage on the Node major that package.json engines pins', () => {
    const all = stages();
    assert.ok(all.length >= 2, 'multi-stage');
    const major = /node":\s*">=(\d+)/.exec(JSON.stringify(pkg.engines))?.[1];
    for (const s of all) assert.match(s.from, new RegExp(`^node:${major}(-slim|-alpine|$)`), `stage ${s.name ?? 'final'} is on node:${major}`);
    const build = all.find((s) => s.lines.some((l) => /npm run build/.test(l)));
    assert.ok(build?.lines.some((l) => /^RUN npm ci\b(?!.*--omit=dev)/.test(l)), 'the build stage installs everything and builds');
  });

  it('the final stage has production dependencies only, the build output, a non-root user and the package bin as entrypoint', () => {
    const final = stages().at(-1)!;
    const copies = final.lines.filter((l) => l.startsWith('COPY'));
    const depsStage = stages().find((s) => copies.some((c) => c.includes(`--from=${s.name} `) && c.includes('node_modules')));
    assert.ok(depsStage?.lines.some((l) => /^RUN npm ci .*--omit=dev/.test(l)), 'node_modules come from `npm ci --omit=dev`');
    assert.ok(copies.some((c) => /--from=build \S*\/dist /.test(c)), 'dist/ comes from the build stage');
    const user = final.lines.filter((l) => l.startsWith('USER')).at(-1)?.split(/\s+/)[1];
    assert.ok(user && !/^(root|0)(:|$)/.test(user), `runs as a non-root user (USER ${user})`);
    const entry = JSON.parse(final.lines.find((l) => l.startsWith('ENTRYPOINT'))!.slice('ENTRYPOINT'.length)) as string[];
    assert.equal(entry[0], 'node');
    assert.equal(path.posix.relative('/app', entry.at(-1)!), pkg.bin['keyvault-reloader'], 'the entrypoint is the package bin');
    const nodeFlags = entry.slice(1, -1);
    assert.ok(nodeFlags.every((f) => f.startsWith('--')), `only Node flags between node and the script: ${nodeFlags.join(' ')}`);
    assert.ok(nodeFlags.some((f) => /^--max-semi-space-size=\d+$/.test(f)), 'a small young generation keeps start-up garbage from staying resident');
    assert.deepEqual(JSON.parse(final.lines.find((l) => l.startsWith('CMD'))!.slice(3)), ['run']);
  });

  it('.dockerignore keeps out nothing that the Dockerfile copies', () => {
    const copied = lines.filter((l) => l.startsWith('COPY') && !l.includes('--from=')).flatMap((l) => l.split(/\s+/).slice(1, -1));
    assert.ok(copied.includes('src'));
    for (const source of copied) {
      for (const pattern of ignored) assert.notEqual(source.replace(/\/$/, ''), pattern.replace(/\/$/, ''), `${source} is copied but .dockerignore drops it`);
    }
  });
});
