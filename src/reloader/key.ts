// The per-installation digest key, kept in a Secret of the controller's
// namespace and created once by whichever replica gets there first. If it is
// lost, a new one is made: baselines written with the old key are then
// recognised by their key id and re-recorded, restarting nothing.
import { randomBytes } from 'node:crypto';
import { KubeError, type KubeClient } from '../kube/client.ts';
import type { Logger } from '../log.ts';
import { makeKeyring, type Keyring } from './digest.ts';

const DATA_KEY = 'hmac-sha256-key';

export async function loadOrCreateKey(client: KubeClient, namespace: string, name: string, log: Logger): Promise<Keyring> {
  const path = `/api/v1/namespaces/${namespace}/secrets/${name}`;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const secret = await client.request('GET', path);
      const encoded = secret.data?.[DATA_KEY];
      if (typeof encoded === 'string' && Buffer.from(encoded, 'base64').length >= 32) return makeKeyring(Buffer.from(encoded, 'base64'));
      throw new Error(`Secret ${namespace}/${name} has no usable "${DATA_KEY}" (32+ bytes); delete it and the controller will make a new key (restarting nothing)`);
    } catch (err) {
      if (!(err instanceof KubeError && err.status === 404)) throw err;
    }
    const key = randomBytes(32);
    try {
      await client.request('POST', `/api/v1/namespaces/${namespace}/secrets`, {
        body: {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name, labels: { 'app.kubernetes.io/name': 'keyvault-reloader', 'app.kubernetes.io/component': 'digest-key' } },
          type: 'Opaque',
          data: { [DATA_KEY]: key.toString('base64') },
        },
      });
      const keyring = makeKeyring(key);
      log.info({ secret: `${namespace}/${name}`, keyId: keyring.id }, 'created the digest key');
      return keyring;
    } catch (err) {
      // Another replica created it first: read theirs.
      if (!(err instanceof KubeError && err.status === 409)) throw err;
    }
  }
  throw new Error(`could not read or create the digest key Secret ${namespace}/${name}`);
}
