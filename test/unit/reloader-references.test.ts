import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Container, V1PodSpec, V1Volume } from '@kubernetes/client-node';
import { CSI_DRIVER, dependencies, findReferences, type References } from '../../src/reloader/references.ts';
import type { WorkloadPolicy } from '../../src/reloader/annotations.ts';

const NONE: References = { secrets: [], secretProviderClasses: [] };

function container(name: string, extra: Partial<V1Container> = {}): V1Container {
  return { name, image: 'example/app:1', ...extra };
}

function spec(extra: Partial<V1PodSpec>): V1PodSpec {
  return { containers: [], ...extra };
}

function csiVolume(name: string, driver: string, attributes?: Record<string, string>): V1Volume {
  return { name, csi: attributes === undefined ? { driver } : { driver, volumeAttributes: attributes } };
}

function policy(extra: Partial<WorkloadPolicy>): WorkloadPolicy {
  return { auto: false, secrets: [], secretProviderClasses: [], excludeSecrets: [], settleMs: undefined, held: false, ...extra };
}

describe('findReferences: what a pod template reads', () => {
  it('finds nothing for a missing pod spec', () => {
    assert.deepEqual(findReferences(undefined), NONE);
  });

  it('finds nothing for a pod spec without containers or volumes', () => {
    assert.deepEqual(findReferences(spec({})), NONE);
  });

  it('finds nothing for a pod spec whose optional lists are all absent', () => {
    assert.deepEqual(findReferences({} as V1PodSpec), NONE);
  });

  it('finds a Secret read through env valueFrom.secretKeyRef', () => {
    const s = spec({ containers: [container('app', { env: [{ name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'db-creds', key: 'password' } } }] })] });
    assert.deepEqual(findReferences(s), { secrets: ['db-creds'], secretProviderClasses: [] });
  });

  it('finds a Secret read through an optional secretKeyRef too', () => {
    const s = spec({ containers: [container('app', { env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'maybe', key: 'k', optional: true } } }] })] });
    assert.deepEqual(findReferences(s).secrets, ['maybe']);
  });

  it('ignores env values that are literals, ConfigMap keys, fields or resources', () => {
    const s = spec({
      containers: [
        container('app', {
          env: [
            { name: 'A', value: 'db-creds' },
            { name: 'B', valueFrom: { configMapKeyRef: { name: 'settings', key: 'k' } } },
            { name: 'C', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'D', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
          ],
        }),
      ],
    });
    assert.deepEqual(findReferences(s), NONE);
  });

  it('ignores a secretKeyRef without a name', () => {
    const s = spec({ containers: [container('app', { env: [{ name: 'X', valueFrom: { secretKeyRef: { key: 'k' } } }, { name: 'Y', valueFrom: { secretKeyRef: { name: '', key: 'k' } } }] })] });
    assert.deepEqual(findReferences(s), NONE);
  });

  it('finds a Secret read through envFrom.secretRef', () => {
    const s = spec({ containers: [container('app', { envFrom: [{ secretRef: { name: 'api-key' }, prefix: 'API_' }] })] });
    assert.deepEqual(findReferences(s), { secrets: ['api-key'], secretProviderClasses: [] });
  });

  it('ignores envFrom.configMapRef and a secretRef without a name', () => {
    const s = spec({ containers: [container('app', { envFrom: [{ configMapRef: { name: 'settings' } }, { secretRef: {} }] })] });
    assert.deepEqual(findReferences(s), NONE);
  });

  it('finds a Secret mounted as a volume', () => {
    const s = spec({ volumes: [{ name: 'tls', secret: { secretName: 'tls-cert' } }] });
    assert.deepEqual(findReferences(s), { secrets: ['tls-cert'], secretProviderClasses: [] });
  });

  it('ignores ConfigMap, emptyDir and secret volumes without a secretName', () => {
    const s = spec({
      volumes: [
        { name: 'cfg', configMap: { name: 'settings' } },
        { name: 'tmp', emptyDir: {} },
        { name: 'nameless', secret: {} },
      ],
    });
    assert.deepEqual(findReferences(s), NONE);
  });

  it('finds Secrets among projected volume sources and ignores the other source kinds', () => {
    const s = spec({
      volumes: [
        {
          name: 'bundle',
          projected: {
            sources: [
              { secret: { name: 'one' } },
              { configMap: { name: 'settings' } },
              { serviceAccountToken: { path: 'token', audience: 'api' } },
              { downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
              { secret: { name: 'two', items: [{ key: 'k', path: 'p' }] } },
              { secret: {} },
            ],
          },
        },
      ],
    });
    assert.deepEqual(findReferences(s), { secrets: ['one', 'two'], secretProviderClasses: [] });
  });

  it('tolerates a projected volume without sources', () => {
    assert.deepEqual(findReferences(spec({ volumes: [{ name: 'p', projected: {} }] })), NONE);
  });

  it('finds the SecretProviderClass of a Secrets Store CSI volume', () => {
    const s = spec({ volumes: [csiVolume('kv', CSI_DRIVER, { secretProviderClass: 'kv-app' })] });
    assert.deepEqual(findReferences(s), { secrets: [], secretProviderClasses: ['kv-app'] });
    assert.equal(CSI_DRIVER, 'secrets-store.csi.k8s.io');
  });

  it('ignores a CSI volume of another driver even if it has a secretProviderClass attribute', () => {
    const s = spec({
      volumes: [
        csiVolume('other', 'file.csi.azure.com', { secretProviderClass: 'kv-app' }),
        csiVolume('lookalike', 'secrets-store.csi.x-k8s.io', { secretProviderClass: 'kv-app' }),
      ],
    });
    assert.deepEqual(findReferences(s), NONE);
  });

  it('ignores a Secrets Store CSI volume without a secretProviderClass attribute', () => {
    const s = spec({
      volumes: [csiVolume('a', CSI_DRIVER), csiVolume('b', CSI_DRIVER, {}), csiVolume('c', CSI_DRIVER, { secretProviderClass: '' })],
    });
    assert.deepEqual(findReferences(s), NONE);
  });

  it('does not count the CSI volume node-publish Secret as a Secret the workload reads', () => {
    const s = spec({
      volumes: [{ name: 'kv', csi: { driver: CSI_DRIVER, volumeAttributes: { secretProviderClass: 'kv-app' }, nodePublishSecretRef: { name: 'sp-creds' } } }],
    });
    assert.deepEqual(findReferences(s), { secrets: [], secretProviderClasses: ['kv-app'] });
  });

  it('finds Secrets read by init containers', () => {
    const s = spec({
      initContainers: [container('migrate', { env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'migrate-creds', key: 'p' } } }], envFrom: [{ secretRef: { name: 'init-env' } }] })],
    });
    assert.deepEqual(findReferences(s).secrets, ['init-env', 'migrate-creds']);
  });

  it('finds Secrets read by ephemeral containers', () => {
    const s = spec({
      ephemeralContainers: [
        { name: 'debug', image: 'busybox', env: [{ name: 'T', valueFrom: { secretKeyRef: { name: 'debug-token', key: 't' } } }], envFrom: [{ secretRef: { name: 'debug-env' } }] },
      ],
    });
    assert.deepEqual(findReferences(s).secrets, ['debug-env', 'debug-token']);
  });

  it('finds Secrets in every container, not only the first', () => {
    const s = spec({
      containers: [
        container('a', { envFrom: [{ secretRef: { name: 'first' } }] }),
        container('b', { envFrom: [{ secretRef: { name: 'second' } }] }),
      ],
    });
    assert.deepEqual(findReferences(s).secrets, ['first', 'second']);
  });

  it('lists each Secret and class once, sorted, however many times and ways it is referenced', () => {
    const s = spec({
      containers: [
        container('a', {
          env: [
            { name: 'X', valueFrom: { secretKeyRef: { name: 'shared', key: 'x' } } },
            { name: 'Y', valueFrom: { secretKeyRef: { name: 'shared', key: 'y' } } },
          ],
          envFrom: [{ secretRef: { name: 'zeta' } }],
        }),
      ],
      initContainers: [container('init', { envFrom: [{ secretRef: { name: 'shared' } }] })],
      volumes: [
        { name: 'v1', secret: { secretName: 'shared' } },
        { name: 'v2', projected: { sources: [{ secret: { name: 'alpha' } }, { secret: { name: 'zeta' } }] } },
        csiVolume('kv1', CSI_DRIVER, { secretProviderClass: 'spc-b' }),
        csiVolume('kv2', CSI_DRIVER, { secretProviderClass: 'spc-a' }),
        csiVolume('kv3', CSI_DRIVER, { secretProviderClass: 'spc-b' }),
      ],
    });
    assert.deepEqual(findReferences(s), { secrets: ['alpha', 'shared', 'zeta'], secretProviderClasses: ['spc-a', 'spc-b'] });
  });

  it('keeps Secrets and SecretProviderClasses apart even when they share a name', () => {
    const s = spec({ volumes: [{ name: 's', secret: { secretName: 'app' } }, csiVolume('kv', CSI_DRIVER, { secretProviderClass: 'app' })] });
    assert.deepEqual(findReferences(s), { secrets: ['app'], secretProviderClasses: ['app'] });
  });

  it('does not count a volume that is declared but whose Secret is only mounted via volumeMounts', () => {
    // volumeMounts name volumes, not Secrets; only the volume declaration names the Secret.
    const s = spec({ containers: [container('app', { volumeMounts: [{ name: 'not-a-secret', mountPath: '/x' }] })] });
    assert.deepEqual(findReferences(s), NONE);
  });

  it('does not modify the pod spec', () => {
    const s = spec({
      containers: [container('app', { envFrom: [{ secretRef: { name: 'b' } }] })],
      volumes: [{ name: 'v', secret: { secretName: 'a' } }],
    });
    const before = structuredClone(s);
    findReferences(s);
    assert.deepEqual(s, before);
  });
});

describe('dependencies: what a workload restarts for', () => {
  const refs: References = { secrets: ['db-creds', 'tls-cert'], secretProviderClasses: ['kv-app'] };

  it('follows only the explicitly named inputs when auto is off', () => {
    const deps = dependencies(policy({ secrets: ['named'], secretProviderClasses: ['named-spc'] }), refs);
    assert.deepEqual(deps, { secrets: ['named'], secretProviderClasses: ['named-spc'] });
  });

  it('follows nothing when auto is off and nothing is named, however much is referenced', () => {
    assert.deepEqual(dependencies(policy({}), refs), NONE);
  });

  it('follows every referenced Secret and class when auto is on', () => {
    assert.deepEqual(dependencies(policy({ auto: true }), refs), refs);
  });

  it('follows the union of references and named inputs when auto is on, sorted and without duplicates', () => {
    const deps = dependencies(policy({ auto: true, secrets: ['zz-unreferenced', 'db-creds'], secretProviderClasses: ['aa-spc', 'kv-app'] }), refs);
    assert.deepEqual(deps, { secrets: ['db-creds', 'tls-cert', 'zz-unreferenced'], secretProviderClasses: ['aa-spc', 'kv-app'] });
  });

  it('follows a named Secret that the pod template does not reference', () => {
    assert.deepEqual(dependencies(policy({ secrets: ['elsewhere'] }), NONE).secrets, ['elsewhere']);
  });

  it('removes an excluded Secret that auto would have followed', () => {
    assert.deepEqual(dependencies(policy({ auto: true, excludeSecrets: ['tls-cert'] }), refs).secrets, ['db-creds']);
  });

  it('removes an excluded Secret even when it is also named explicitly', () => {
    const deps = dependencies(policy({ secrets: ['a', 'b'], excludeSecrets: ['a'] }), NONE);
    assert.deepEqual(deps.secrets, ['b']);
  });

  it('ignores an exclusion that names nothing the workload follows', () => {
    assert.deepEqual(dependencies(policy({ auto: true, excludeSecrets: ['unrelated'] }), refs), refs);
  });

  it('does not let exclude-secrets remove a SecretProviderClass of the same name', () => {
    const deps = dependencies(policy({ auto: true, excludeSecrets: ['kv-app'] }), refs);
    assert.deepEqual(deps.secretProviderClasses, ['kv-app']);
  });

  it('does not modify the policy or the references', () => {
    const p = policy({ auto: true, secrets: ['z'], excludeSecrets: ['db-creds'] });
    const r: References = { secrets: ['db-creds', 'b'], secretProviderClasses: ['x'] };
    const pBefore = structuredClone(p);
    const rBefore = structuredClone(r);
    dependencies(p, r);
    assert.deepEqual(p, pBefore);
    assert.deepEqual(r, rBefore);
  });
});
