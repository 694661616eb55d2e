// Reading a kubeconfig: YAML as kubectl writes it, and JSON (read without the YAML parser).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConnection } from '../../src/kube/connection.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'kvr-kubeconfig-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const config = {
  apiVersion: 'v1',
  kind: 'Config',
  clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443/', 'insecure-skip-tls-verify': true } }],
  users: [{ name: 'u', user: { token: 'tok-123' } }],
  contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
  'current-context': 'ctx',
};

const YAML = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:6443/
    insecure-skip-tls-verify: true
users:
- name: u
  user:
    token: tok-123
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
`;

describe('loadConnection', () => {
  for (const [kind, text] of [
    ['YAML', YAML],
    ['JSON', JSON.stringify(config, null, 2)],
  ] as const) {
    it(`reads a ${kind} kubeconfig: server, context and token`, async () => {
      const file = path.join(dir, `${kind}.kubeconfig`);
      writeFileSync(file, text);
      const c = loadConnection(file);
      assert.equal(c.server, 'https://127.0.0.1:6443');
      assert.equal(c.source, `kubeconfig ${file} (context ctx)`);
      assert.deepEqual(await c.headers(), { authorization: 'Bearer tok-123' });
    });
  }

  it('says which context is missing', () => {
    const file = path.join(dir, 'bad.kubeconfig');
    writeFileSync(file, JSON.stringify({ ...config, 'current-context': 'nope' }));
    assert.throws(() => loadConnection(file), /context "nope" not found; pass --context or set current-context/);
  });
});
