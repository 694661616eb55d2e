// Which names the local Azure serves, and where the egress proxy sends each.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { routeFor, vaultNameOf } from '../../src/localenv/azure.ts';

const addresses = { login: '127.1.2.3', vaults: '127.4.5.6' };

describe('local Azure routes', () => {
  it('login.microsoftonline.com:443 goes to the login front, any <vault>.vault.azure.net:443 to the vault front', () => {
    assert.deepEqual(routeFor('login.microsoftonline.com', 443, addresses), { host: '127.1.2.3', port: 443 });
    assert.deepEqual(routeFor('LOGIN.microsoftonline.com.', 443, addresses), { host: '127.1.2.3', port: 443 }, 'case and a trailing dot do not matter');
    assert.deepEqual(routeFor('kv-team.vault.azure.net', 443, addresses), { host: '127.4.5.6', port: 443 });
  });

  it('anything else is refused: other ports, other clouds, other Microsoft names, nested names, the bare suffix', () => {
    for (const [host, port] of [
      ['login.microsoftonline.com', 80],
      ['kv-team.vault.azure.net', 8443],
      ['kv-team.vault.usgovcloudapi.net', 443],
      ['login.microsoftonline.us', 443],
      ['management.azure.com', 443],
      ['a.b.vault.azure.net', 443],
      ['vault.azure.net', 443],
      ['evilvault.azure.net', 443],
      ['kv.vault.azure.net.example.com', 443],
    ] as const) {
      assert.equal(routeFor(host, port, addresses), undefined, `${host}:${port}`);
    }
  });

  it('the vault a Host header names, with or without a port', () => {
    assert.equal(vaultNameOf('kv-team.vault.azure.net'), 'kv-team');
    assert.equal(vaultNameOf('KV-Team.vault.azure.net:443'), 'kv-team');
    assert.equal(vaultNameOf('vault.azure.net'), undefined);
    assert.equal(vaultNameOf('a-name-longer-than-24-chars.vault.azure.net'), undefined);
    assert.equal(vaultNameOf('login.microsoftonline.com'), undefined);
  });
});
