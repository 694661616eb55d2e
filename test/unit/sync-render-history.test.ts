import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pickVersionHistory } from '../../src/sync/render/history.ts';
import { parseObjectsParameter, type ObjectSpec } from '../../src/sync/spc.ts';

const VAULT = 'https://my-vault.vault.azure.net';

function spec(fields: string): ObjectSpec {
  const text = `array:\n  - |\n${fields.split('\n').map((l) => `    ${l}`).join('\n')}\n`;
  const result = parseObjectsParameter(text);
  if (!result.ok) assert.fail(JSON.stringify(result.problems));
  return result.value[0] as ObjectSpec;
}

describe('pickVersionHistory', () => {
  const history = spec('objectName: db\nobjectType: secret\nobjectAlias: pw\nobjectVersionHistory: 3');
  const item = (version: string, created: number, enabled?: boolean) => ({
    id: `${VAULT}/secrets/db/${version}`,
    created,
    ...(enabled === undefined ? {} : { enabled }),
  });

  it('picks the N + 1 newest enabled versions, newest first, named <alias>/<index>, as the provider writes them', () => {
    const picked = pickVersionHistory(history, [item('a', 100), item('e', 500), item('c', 300), item('d', 400, false), item('b', 200), item('z', 50)]);
    assert.deepEqual(picked, [
      { index: 0, version: 'e', fileName: 'pw/0', id: 'secret/db/0' },
      { index: 1, version: 'c', fileName: 'pw/1', id: 'secret/db/1' },
      { index: 2, version: 'b', fileName: 'pw/2', id: 'secret/db/2' },
      { index: 3, version: 'a', fileName: 'pw/3', id: 'secret/db/3' },
    ]);
  });

  it('returns fewer when fewer versions exist', () => {
    assert.deepEqual(pickVersionHistory(history, [item('a', 1)]).map((v) => v.version), ['a']);
  });

  it('starts at a pinned objectVersion', () => {
    const pinned = spec('objectName: db\nobjectType: secret\nobjectVersion: c\nobjectVersionHistory: 2');
    assert.deepEqual(pickVersionHistory(pinned, [item('a', 1), item('b', 2), item('c', 3), item('d', 4)]).map((v) => v.version), ['c', 'b', 'a']);
    assert.deepEqual(pickVersionHistory(pinned, [item('b', 2), item('c', 3), item('d', 4)]).map((v) => v.version), ['c', 'b'], 'fewer when the listing ends');
    assert.deepEqual(pickVersionHistory(pinned, [item('a', 1)]), [], 'a pinned version that is not listed yields nothing');
  });

  it('accepts Date values, keeps the listing order on ties and treats a missing date as oldest', () => {
    const picked = pickVersionHistory(history, [
      { id: `${VAULT}/secrets/db/undated` },
      { id: `${VAULT}/secrets/db/x`, created: new Date(5000) },
      { id: `${VAULT}/secrets/db/y`, created: 5 },
    ]);
    assert.deepEqual(picked.map((v) => v.version), ['x', 'y', 'undated']);
  });

  it('is empty for objects without history', () => {
    assert.deepEqual(pickVersionHistory(spec('objectName: db\nobjectType: secret\nobjectVersionHistory: 1'), [item('a', 1)]), []);
  });
});
