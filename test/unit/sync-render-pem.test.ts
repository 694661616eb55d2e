import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeStdBase64 } from '../../src/sync/render/encoding.ts';
import { decodePemBlocks, encodePem, splitCertAndKey } from '../../src/sync/render/pem.ts';
import { goPem, pki } from './helpers/pki.ts';

describe('decodeStdBase64 (Go\'s StdEncoding)', () => {
  it('ignores line breaks but nothing else', () => {
    assert.deepEqual(decodeStdBase64('aGVs\r\nbG8='), Buffer.from('hello'));
    assert.equal(decodeStdBase64('aGVs bG8='), undefined);
  });

  it('requires padding and the standard alphabet', () => {
    assert.equal(decodeStdBase64('aGVsbG8'), undefined);
    assert.equal(decodeStdBase64('-_-_'), undefined);
    assert.equal(decodeStdBase64('a==='), undefined);
    assert.deepEqual(decodeStdBase64(''), Buffer.alloc(0));
  });
});

describe('PEM like Go\'s encoding/pem', () => {
  it('encodes 64-character lines with LF and a final newline', () => {
    const bytes = Buffer.alloc(100, 7);
    const pem = encodePem('THING', bytes);
    const lines = pem.split('\n');
    assert.equal(lines[0], '-----BEGIN THING-----');
    assert.deepEqual(lines.slice(1, 4).map((l) => l.length), [64, 64, 8]);
    assert.equal(lines[4], '-----END THING-----');
    assert.equal(lines[5], '');
    assert.equal(lines.length, 6);
    assert.equal(encodePem('EMPTY', Buffer.alloc(0)), '-----BEGIN EMPTY-----\n-----END EMPTY-----\n');
  });

  it('writes headers Proc-Type first, then sorted, then a blank line', () => {
    const pem = encodePem('X', Buffer.from('hi'), new Map([['b', '2'], ['Proc-Type', '4,ENCRYPTED'], ['a', '1']]));
    assert.equal(pem, '-----BEGIN X-----\nProc-Type: 4,ENCRYPTED\na: 1\nb: 2\n\naGk=\n-----END X-----\n');
  });

  it('decodes blocks with CRLF, headers and text around them, skipping broken ones', () => {
    const input = Buffer.from([
      'intro text',
      '-----BEGIN A-----',
      'aGk=',
      '-----END A-----',
      '-----BEGIN BROKEN-----',
      'not base64 !!',
      '-----END BROKEN-----',
      'between',
      '-----BEGIN B-----',
      'k: v',
      '',
      'aGVs',
      'bG8=   ',
      '-----END B-----',
      'trailer',
    ].join('\r\n'));
    const blocks = decodePemBlocks(input);
    assert.deepEqual(blocks.map((b) => [b.type, b.bytes.toString(), [...b.headers]]), [
      ['A', 'hi', []],
      ['B', 'hello', [['k', 'v']]],
    ]);
  });

  it('splits certificates from every other block', () => {
    const { leaf } = pki().rsa;
    const { certs, keys } = splitCertAndKey(Buffer.from(leaf.certPem + goPem('PRIVATE KEY', leaf.keyDer) + leaf.certPem));
    assert.equal(certs, leaf.certPem + leaf.certPem);
    assert.equal(keys, goPem('PRIVATE KEY', leaf.keyDer));
  });
});
