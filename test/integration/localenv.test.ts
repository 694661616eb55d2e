// Smoke tests that prove each part of the local environment is real: the
// Deployment and ReplicaSet controllers, the scheduler, KWOK's kubelet, the
// TokenRequest API with its issuer discovery, and RBAC for a restricted identity.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KubeError } from '../../src/kube/client.ts';
import { createPublicKey, verify, type JsonWebKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { httpsGet } from '../../src/localenv/cluster.ts';
import { createNamespace, eventually, serviceAccountClient, testEnv } from '../helpers/env.ts';
import { createDeployment, deployment, replicaSetsOf, waitRolledOut } from '../helpers/workloads.ts';

describe('local environment', () => {
  it('a Deployment creates a ReplicaSet whose pods become Ready on a KWOK node', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'smoke');
    await createDeployment(env.client, ns, deployment('web', { replicas: 3 }));
    const sets = await waitRolledOut(env.client, ns, 'web');
    assert.equal(sets.length, 1);
    const pods = await env.client.request('GET', `/api/v1/namespaces/${ns}/pods`);
    assert.equal(pods.items.length, 3);
    for (const pod of pods.items) {
      assert.equal(pod.status.phase, 'Running');
      assert.match(pod.spec.nodeName, /^kwok-node-/, 'the scheduler bound the pod to the fake node');
      assert.ok(pod.status.conditions.some((c: any) => c.type === 'Ready' && c.status === 'True'));
    }
  });

  it('a pod-template change creates a second ReplicaSet and the rollout completes with the old one at 0', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'smoke');
    await createDeployment(env.client, ns, deployment('web', { replicas: 2 }));
    const [first] = await waitRolledOut(env.client, ns, 'web');
    await env.client.request('PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/web`, {
      body: { spec: { template: { metadata: { annotations: { changed: 'yes' } } } } },
      contentType: 'application/strategic-merge-patch+json',
    });
    const sets = await waitRolledOut(env.client, ns, 'web');
    assert.equal(sets.length, 2);
    assert.equal(sets[0]!.metadata!.name, first!.metadata!.name);
    assert.equal(sets[0]!.spec!.replicas, 0);
    assert.equal(sets[1]!.status!.readyReplicas, 2);
    assert.equal((await replicaSetsOf(env.client, ns, 'web')).length, 2);
  });

  it('a TokenRequest returns a JWT that verifies against the apiserver JWKS with the right issuer, audience and subject', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'smoke');
    await env.client.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { body: { metadata: { name: 'workload' } } });
    const tr = await env.client.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts/workload/token`, {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: ['api://AzureADTokenExchange'], expirationSeconds: 3600 } },
    });
    const discovery = await env.client.request('GET', '/.well-known/openid-configuration');
    const issuer = env.server;
    assert.equal(discovery.issuer, issuer, 'the issuer is the API server\'s own URL');
    assert.equal(discovery.jwks_uri, `${issuer}/openid/v1/jwks`);
    const jwks = await env.client.request<{ keys: (JsonWebKey & { kid: string })[] }>('GET', '/openid/v1/jwks', { accept: 'application/jwk-set+json' });
    // The check Entra makes of a federated assertion (the Entra emulator's refusals are in localenv-azure.test.ts).
    const [h, c, s] = (tr.status.token as string).split('.') as [string, string, string];
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg: string; kid: string };
    const claims = JSON.parse(Buffer.from(c, 'base64url').toString()) as { iss: string; sub: string; aud: string[]; exp: number };
    assert.equal(header.alg, 'RS256');
    const jwk = jwks.keys.find((k) => k.kid === header.kid);
    assert.ok(jwk, 'the token names a key of the JWKS');
    const verifies = (signature: Buffer) => verify('RSA-SHA256', Buffer.from(`${h}.${c}`), createPublicKey({ key: jwk, format: 'jwk' }), signature);
    const signature = Buffer.from(s, 'base64url');
    assert.ok(verifies(signature), 'the signature verifies against the API server\'s JWKS');
    assert.equal(claims.iss, issuer);
    assert.deepEqual(claims.aud, ['api://AzureADTokenExchange']);
    assert.equal(claims.sub, `system:serviceaccount:${ns}:workload`);
    assert.ok(claims.exp > Date.now() / 1000);
    // A flipped signature bit does not verify.
    signature[0] = signature[0]! ^ 1;
    assert.equal(verifies(signature), false);
  });

  it('the issuer\'s discovery document and JWKS are readable without credentials, and nothing else is', async () => {
    const env = await testEnv();
    const ca = readFileSync(env.caFile);
    const discovery = await httpsGet(`${env.server}/.well-known/openid-configuration`, ca);
    assert.equal(discovery.status, 200, discovery.body);
    const jwksUri = JSON.parse(discovery.body).jwks_uri as string;
    const jwks = await httpsGet(jwksUri, ca);
    assert.equal(jwks.status, 200, jwks.body);
    assert.ok(JSON.parse(jwks.body).keys.length >= 1);
    for (const path of ['/api/v1/namespaces', '/api/v1/namespaces/default/secrets', '/apis/apps/v1/deployments']) {
      assert.equal((await httpsGet(`${env.server}${path}`, ca)).status, 403, `${path} is refused to an anonymous client`);
    }
  });

  it('a restricted service account is refused what RBAC does not grant and allowed what it does', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'smoke');
    const { client: reader } = await serviceAccountClient(env, ns, 'reader');
    await assert.rejects(reader.request('GET', `/api/v1/namespaces/${ns}/secrets`), (err: unknown) => err instanceof KubeError && err.status === 403);
    await env.client.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
      body: { metadata: { name: 'read-secrets' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['list'] }] },
    });
    await env.client.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
      body: { metadata: { name: 'read-secrets' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-secrets' }, subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }] },
    });
    // The authorizer sees a new RoleBinding through its informer, a moment later.
    const list = await eventually('the RoleBinding to take effect', () => reader.request('GET', `/api/v1/namespaces/${ns}/secrets`).catch(() => undefined));
    assert.ok(Array.isArray(list.items));
    await assert.rejects(reader.request('GET', `/api/v1/namespaces/default/secrets`), (err: unknown) => err instanceof KubeError && err.status === 403);
  });
});
