import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { versionFromId } from '../../src/keyvault/objects.ts';

describe('versionFromId', () => {
  it('takes the version segment of a Key Vault id', () => {
    assert.equal(versionFromId('https://v.vault.azure.net/secrets/db/0123abcd'), '0123abcd');
    assert.equal(versionFromId('https://v.vault.azure.net:443/keys/k/v2/'), 'v2');
  });

  it('returns empty when the id names no version', () => {
    assert.equal(versionFromId('https://v.vault.azure.net/secrets/db'), '');
  });
});
