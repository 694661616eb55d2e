import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ListSplitter } from '../../src/kube/list-stream.ts';

/** Feeds the document in the given pieces; returns the items parsed and what end() gave. */
function split(pieces: Buffer[]): { items: unknown[]; rest: unknown } {
  const items: unknown[] = [];
  const s = new ListSplitter((json) => items.push(JSON.parse(json)));
  for (const p of pieces) s.write(p);
  return { items, rest: s.end() };
}

/** Every way of cutting the document in two, and in one-byte pieces. */
function cuts(doc: string): Buffer[][] {
  const b = Buffer.from(doc, 'utf8');
  const out: Buffer[][] = [[b]];
  for (let i = 1; i < b.length; i++) out.push([b.subarray(0, i), b.subarray(i)]);
  out.push([...b].map((x) => Buffer.from([x])));
  return out;
}

const tricky = {
  kind: 'SecretList',
  apiVersion: 'v1',
  metadata: { resourceVersion: '42', continue: 'abc"def' },
  items: [
    { metadata: { name: 'a', annotations: { note: 'braces } { ] [ , : and "quotes" and \\ backslashes \\\\"' } }, data: { k: 'YWJj' } },
    { metadata: { name: 'ü-ñ', labels: { items: '[]' } }, items: [{ x: [1, 2, { y: null }] }], spec: { list: [] } },
    { metadata: { name: 'c' }, data: { big: Buffer.alloc(300, 1).toString('base64') }, n: -1.5e3, t: true, f: false, z: null },
  ],
};

describe('ListSplitter', () => {
  it('hands on each item and the list without its items, however the bytes are cut', () => {
    const doc = JSON.stringify(tricky, null, 1);
    for (const pieces of cuts(doc)) {
      const { items, rest } = split(pieces);
      assert.deepEqual(items, tricky.items, `cut into ${pieces.map((p) => p.length).join('+')}`);
      assert.deepEqual(rest, { ...tricky, items: [] });
    }
  });

  it('handles compact JSON, metadata after the items, and an empty list', () => {
    const after = `{"items":[{"a":1},{"b":"}"}],"metadata":{"resourceVersion":"7"},"kind":"PodList"}`;
    assert.deepEqual(split([Buffer.from(after)]), { items: [{ a: 1 }, { b: '}' }], rest: { items: [], metadata: { resourceVersion: '7' }, kind: 'PodList' } });
    for (const empty of ['{"items":[],"metadata":{"resourceVersion":"1"}}', '{"metadata":{"resourceVersion":"1"},"items":null}']) {
      const { items, rest } = split([Buffer.from(empty)]);
      assert.deepEqual(items, []);
      assert.deepEqual((rest as { metadata: unknown }).metadata, { resourceVersion: '1' });
    }
  });

  it('takes only the top-level items array, not a field of that name deeper down', () => {
    const doc = `{"metadata":{"items":[{"no":1}]},"items":[{"yes":1}]}`;
    assert.deepEqual(split([Buffer.from(doc)]).items, [{ yes: 1 }]);
  });

  it('says so when the response ends before the JSON does', () => {
    const doc = JSON.stringify(tricky);
    for (const at of [10, doc.indexOf('"items"') + 20, doc.length - 1]) {
      const s = new ListSplitter(() => undefined);
      s.write(Buffer.from(doc.slice(0, at)));
      assert.throws(() => s.end(), /ended before its JSON did/);
    }
  });

  it('passes an unparseable item on to the parser, which rejects it', () => {
    const s = new ListSplitter((json) => JSON.parse(json));
    assert.throws(() => s.write(Buffer.from('{"items":[{"a":tru}]}')), SyntaxError);
  });
});
