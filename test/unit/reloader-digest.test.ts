import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { makeKeyring, mountedDigest, secretDigest } from '../../src/reloader/digest.ts';

const KEY_A = Buffer.alloc(32, 0xa1);
const KEY_B = Buffer.alloc(32, 0xb2);
const A = makeKeyring(KEY_A);
const B = makeKeyring(KEY_B);

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

function data(plain: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(plain).map(([k, v]) => [k, b64(v)]));
}

const HEX_128 = /^[0-9a-f]{32}$/;

describe('makeKeyring', () => {
  it('rejects a key shorter than 32 bytes and says how long it must be', () => {
    for (const length of [0, 1, 16, 31]) {
      assert.throws(() => makeKeyring(Buffer.alloc(length, 1)), { message: `the digest key must be at least 32 bytes, got ${length}` });
    }
  });

  it('accepts a key of 32 bytes or more', () => {
    assert.doesNotThrow(() => makeKeyring(Buffer.alloc(32, 1)));
    assert.doesNotThrow(() => makeKeyring(Buffer.alloc(64, 1)));
  });

  it('keeps the key it was given', () => {
    assert.ok(A.key.equals(KEY_A));
  });

  it('names the key with a 12-character hex id', () => {
    assert.match(A.id, /^[0-9a-f]{12}$/);
  });

  it('gives the same key the same id every time, so a baseline survives a controller restart', () => {
    assert.equal(makeKeyring(Buffer.from(KEY_A)).id, A.id);
  });

  it('gives different keys different ids, so a baseline made with a lost key is recognised', () => {
    assert.notEqual(A.id, B.id);
    const nearlyA = Buffer.from(KEY_A);
    nearlyA[31] = 0xa0;
    assert.notEqual(makeKeyring(nearlyA).id, A.id);
  });

  it('does not reveal the key in its id', () => {
    assert.ok(!KEY_A.toString('hex').includes(A.id));
    assert.notEqual(A.id, createHash('sha256').update(KEY_A).digest('hex').slice(0, 12));
  });
});

describe('secretDigest', () => {
  const secret = { type: 'Opaque', data: data({ username: 'app', password: 's3cret' }) };

  it('is 128 bits of lowercase hex', () => {
    assert.match(secretDigest(A, secret), HEX_128);
  });

  it('is the same for the same content', () => {
    assert.equal(secretDigest(A, secret), secretDigest(A, { type: 'Opaque', data: data({ username: 'app', password: 's3cret' }) }));
  });

  it('does not depend on the order of the data keys', () => {
    const reordered = { type: 'Opaque', data: data({ password: 's3cret', username: 'app' }) };
    assert.deepEqual(Object.keys(reordered.data), ['password', 'username']);
    assert.equal(secretDigest(A, reordered), secretDigest(A, secret));
  });

  it('does not depend on labels, annotations, resourceVersion or other metadata', () => {
    const withMetadata = {
      ...secret,
      metadata: { name: 'db', resourceVersion: '999', labels: { a: 'b' }, annotations: { 'keyvault-reloader.io/ignore': 'false' } },
      apiVersion: 'v1',
      kind: 'Secret',
    };
    const otherMetadata = { ...secret, metadata: { name: 'db', resourceVersion: '1000', labels: { c: 'd' } } };
    assert.equal(secretDigest(A, withMetadata), secretDigest(A, secret));
    assert.equal(secretDigest(A, otherMetadata), secretDigest(A, secret));
  });

  it('changes when a value changes', () => {
    assert.notEqual(secretDigest(A, { type: 'Opaque', data: data({ username: 'app', password: 's3cret!' }) }), secretDigest(A, secret));
  });

  it('changes when a key is renamed with the same value', () => {
    assert.notEqual(secretDigest(A, { type: 'Opaque', data: data({ user: 'app', password: 's3cret' }) }), secretDigest(A, secret));
  });

  it('changes when a key is added, even with an empty value', () => {
    const withEmpty = { type: 'Opaque', data: { ...secret.data, extra: '' } };
    assert.notEqual(secretDigest(A, withEmpty), secretDigest(A, secret));
  });

  it('changes when a key is removed', () => {
    assert.notEqual(secretDigest(A, { type: 'Opaque', data: data({ username: 'app' }) }), secretDigest(A, secret));
  });

  it('changes when values are swapped between keys', () => {
    const one = { data: data({ a: 'x', b: 'y' }) };
    const two = { data: data({ a: 'y', b: 'x' }) };
    assert.notEqual(secretDigest(A, one), secretDigest(A, two));
  });

  it('counts the Secret type', () => {
    const tls = { type: 'kubernetes.io/tls', data: secret.data };
    assert.notEqual(secretDigest(A, tls), secretDigest(A, secret));
  });

  it('treats a missing type as Opaque, as the API server does', () => {
    assert.equal(secretDigest(A, { data: secret.data }), secretDigest(A, secret));
  });

  it('treats missing data as empty data', () => {
    assert.equal(secretDigest(A, { type: 'Opaque' }), secretDigest(A, { type: 'Opaque', data: {} }));
  });

  it('distinguishes an empty Secret from one with a single empty value', () => {
    assert.notEqual(secretDigest(A, { data: {} }), secretDigest(A, { data: { '': '' } }));
    assert.notEqual(secretDigest(A, { data: {} }), secretDigest(A, { data: { a: '' } }));
  });

  it('does not confuse where a key ends and its value begins ({a:"bc"} vs {ab:"c"})', () => {
    assert.notEqual(secretDigest(A, { data: data({ a: 'bc' }) }), secretDigest(A, { data: data({ ab: 'c' }) }));
  });

  it('does not confuse one key with two ({ab:""} vs {a:"", b:""}) or a value moving into the next key', () => {
    assert.notEqual(secretDigest(A, { data: data({ ab: '' }) }), secretDigest(A, { data: data({ a: '', b: '' }) }));
    assert.notEqual(secretDigest(A, { data: data({ a: 'b', c: 'd' }) }), secretDigest(A, { data: data({ a: '', bc: 'd' }) }));
  });

  it('does not confuse the type with the first key', () => {
    assert.notEqual(secretDigest(A, { type: 'Opaquex', data: data({ y: 'z' }) }), secretDigest(A, { type: 'Opaque', data: data({ xy: 'z' }) }));
  });

  it('compares decoded bytes, so binary values count', () => {
    const one = { data: { bin: Buffer.from([0, 1, 2, 255]).toString('base64') } };
    const two = { data: { bin: Buffer.from([0, 1, 2, 254]).toString('base64') } };
    assert.notEqual(secretDigest(A, one), secretDigest(A, two));
  });

  it('differs between keys for the same content, so a reader cannot test guesses without the key', () => {
    assert.notEqual(secretDigest(A, secret), secretDigest(B, secret));
  });

  it('is not an unkeyed hash of the value', () => {
    const value = 's3cret';
    const digest = secretDigest(A, { data: data({ password: value }) });
    assert.ok(!createHash('sha256').update(value).digest('hex').includes(digest));
    assert.ok(!digest.includes(Buffer.from(value).toString('hex')));
  });

  it('hashes what the base64 stands for: the same digest as decoding each value with Buffer.from, canonical or not', () => {
    // The reference: length-prefixed fields, values decoded to Buffers first.
    const reference = (type: string, d: Record<string, string>) => {
      const h = createHmac('sha256', KEY_A);
      const field = (b: Buffer) => {
        const len = Buffer.alloc(4);
        len.writeUInt32BE(b.length);
        h.update(len).update(b);
      };
      for (const f of ['secret', type]) field(Buffer.from(f, 'utf8'));
      for (const k of Object.keys(d).sort()) {
        field(Buffer.from(k, 'utf8'));
        field(Buffer.from(d[k]!, 'base64'));
      }
      return h.digest('hex').slice(0, 32);
    };
    const cases: Record<string, string>[] = [
      { a: '', b: 'YQ==', c: 'YWI=', d: 'YWJj', 'ü-key': Buffer.from('välue').toString('base64') },
      { big: Buffer.alloc(4096, 7).toString('base64') },
      { spaced: 'YWJj\nZGVm', unpadded: 'YWI', junk: '!!YWJj' },
    ];
    for (const d of cases) assert.equal(secretDigest(A, { type: 'Opaque', data: d }), reference('Opaque', d), JSON.stringify(Object.keys(d)));
  });

  it('does not modify the Secret', () => {
    const s = { type: 'Opaque', data: data({ b: '2', a: '1' }) };
    const before = structuredClone(s);
    secretDigest(A, s);
    assert.deepEqual(s, before);
    assert.deepEqual(Object.keys(s.data), ['b', 'a']);
  });
});

describe('mountedDigest', () => {
  const objects = [
    { id: 'secret/db-password', version: 'v1' },
    { id: 'cert/tls', version: 'c7' },
    { id: 'key/signing', version: 'k3' },
  ];

  it('is 128 bits of lowercase hex', () => {
    assert.match(mountedDigest(A, objects), HEX_128);
  });

  it('does not depend on the order the CSI driver lists the objects in', () => {
    const reversed = [...objects].reverse();
    const shuffled = [objects[1]!, objects[2]!, objects[0]!];
    assert.equal(mountedDigest(A, reversed), mountedDigest(A, objects));
    assert.equal(mountedDigest(A, shuffled), mountedDigest(A, objects));
  });

  it('does not depend on order even when the same object id appears with different versions', () => {
    const one = [
      { id: 'secret/db', version: 'v2' },
      { id: 'secret/db', version: 'v1' },
    ];
    const two = [
      { id: 'secret/db', version: 'v1' },
      { id: 'secret/db', version: 'v2' },
    ];
    assert.equal(mountedDigest(A, one), mountedDigest(A, two));
  });

  it('changes when an object version changes', () => {
    const rotated = objects.map((o) => (o.id === 'secret/db-password' ? { ...o, version: 'v2' } : o));
    assert.notEqual(mountedDigest(A, rotated), mountedDigest(A, objects));
  });

  it('changes when an object is added or removed', () => {
    assert.notEqual(mountedDigest(A, [...objects, { id: 'secret/new', version: '1' }]), mountedDigest(A, objects));
    assert.notEqual(mountedDigest(A, objects.slice(1)), mountedDigest(A, objects));
  });

  it('changes when versions are swapped between objects', () => {
    const one = [
      { id: 'a', version: '1' },
      { id: 'b', version: '2' },
    ];
    const two = [
      { id: 'a', version: '2' },
      { id: 'b', version: '1' },
    ];
    assert.notEqual(mountedDigest(A, one), mountedDigest(A, two));
  });

  it('does not confuse where an id ends and its version begins', () => {
    assert.notEqual(mountedDigest(A, [{ id: 'ab', version: 'c' }]), mountedDigest(A, [{ id: 'a', version: 'bc' }]));
  });

  it('is stable for an empty mount and differs from a non-empty one', () => {
    assert.equal(mountedDigest(A, []), mountedDigest(A, []));
    assert.notEqual(mountedDigest(A, []), mountedDigest(A, [{ id: '', version: '' }]));
  });

  it('differs between keys for the same objects', () => {
    assert.notEqual(mountedDigest(A, objects), mountedDigest(B, objects));
  });

  it('does not reorder the array it is given', () => {
    const input = [...objects];
    mountedDigest(A, input);
    assert.deepEqual(input, objects);
  });
});
