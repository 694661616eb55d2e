// What the demo applies, as a user writes it for the AKS add-on: two
// SecretProviderClasses over one Key Vault secret, and two annotated
// Deployments.
//
// - app-db is opted in to the sync engine: it keeps Secret app-db current
//   with no pod mounting the class, and env-app reads that Secret from an
//   environment variable.
// - app-files is mounted by mount-app through the real CSI driver and is
//   not opted in: in mode all the sync engine's versions would stand in for
//   the pods' SecretProviderClassPodStatus of a class it reads (one source
//   per class), so a class of its own shows the driver's path for real.
import type { KubeObject } from '../../localenv/apply.ts';
import { ANNOTATIONS } from '../../reloader/annotations.ts';
import { CSI_DRIVER } from '../../reloader/references.ts';
import { ANNOTATION_POLL_INTERVAL, ANNOTATION_SYNC, SPC_API_VERSION } from '../../sync/spc.ts';

export const DEMO = {
  namespace: 'demo',
  vault: 'demo-vault',
  object: 'db-password',
  /** The object's id in a SecretProviderClassPodStatus. */
  objectId: 'secret/db-password',
  syncedClass: 'app-db',
  mountedClass: 'app-files',
  secret: 'app-db',
  secretKey: 'password',
  /** The service account mount-app's pods run as: the add-on signs in with their tokens. */
  podServiceAccount: 'app',
  /** The sync engine's default service account (--sync-service-account) in the class's namespace. */
  syncServiceAccount: 'keyvault-reloader-sync',
  envApp: 'env-app',
  mountApp: 'mount-app',
  replicas: 3,
  /** The controller's own namespace (its digest key and Lease). */
  controllerNamespace: 'keyvault-reloader',
} as const;

export type DemoDeployment = typeof DEMO.envApp | typeof DEMO.mountApp;
export const DEPLOYMENTS: readonly DemoDeployment[] = [DEMO.envApp, DEMO.mountApp];

function objectsParameter(): string {
  return `array:\n  - |\n    objectName: ${DEMO.object}\n    objectType: secret\n`;
}

function deployment(name: DemoDeployment, pod: object): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: DEMO.namespace, annotations: { [ANNOTATIONS.auto]: 'true' } },
    spec: {
      replicas: DEMO.replicas,
      selector: { matchLabels: { app: name } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      minReadySeconds: 1,
      template: { metadata: { labels: { app: name } }, spec: pod },
    },
  };
}

/** Everything the demo applies in its namespace, for the Entra app `clientId` and a poll interval of the sync engine. */
export function demoObjects(opts: { clientId: string; tenantId: string; pollInterval: string }): KubeObject[] {
  const parameters = { keyvaultName: DEMO.vault, tenantId: opts.tenantId, clientID: opts.clientId, objects: objectsParameter() };
  const serviceAccount = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: DEMO.namespace } });
  return [
    serviceAccount(DEMO.podServiceAccount),
    serviceAccount(DEMO.syncServiceAccount),
    {
      apiVersion: SPC_API_VERSION,
      kind: 'SecretProviderClass',
      metadata: { name: DEMO.syncedClass, namespace: DEMO.namespace, annotations: { [ANNOTATION_SYNC]: 'true', [ANNOTATION_POLL_INTERVAL]: opts.pollInterval } },
      spec: { provider: 'azure', parameters, secretObjects: [{ secretName: DEMO.secret, type: 'Opaque', data: [{ objectName: DEMO.object, key: DEMO.secretKey }] }] },
    },
    {
      apiVersion: SPC_API_VERSION,
      kind: 'SecretProviderClass',
      metadata: { name: DEMO.mountedClass, namespace: DEMO.namespace },
      spec: { provider: 'azure', parameters },
    },
    deployment(DEMO.envApp, {
      containers: [{ name: 'app', image: 'example.invalid/app:1', env: [{ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: DEMO.secret, key: DEMO.secretKey } } }] }],
    }),
    deployment(DEMO.mountApp, {
      serviceAccountName: DEMO.podServiceAccount,
      containers: [{ name: 'app', image: 'example.invalid/app:1', volumeMounts: [{ name: 'secrets-store', mountPath: '/mnt/secrets-store', readOnly: true }] }],
      volumes: [{ name: 'secrets-store', csi: { driver: CSI_DRIVER, readOnly: true, volumeAttributes: { secretProviderClass: DEMO.mountedClass } } }],
    }),
  ];
}
