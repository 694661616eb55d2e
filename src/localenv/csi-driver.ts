// Plays the Secrets Store CSI driver's part in the local environment, which
// has no kubelet and no real driver: for each pod that mounts a class it
// records what the driver records (a SecretProviderClassPodStatus named,
// labelled and owned as the driver does), and it writes the class's synced
// Secret with the driver's label. The reloader under demonstration cannot
// tell these from the driver's own writes.
import { KubeError, type KubeClient } from '../kube/client.ts';
import { CSI_DRIVER } from '../reloader/references.ts';

const SPCPS = '/apis/secrets-store.csi.x-k8s.io/v1';

export interface MountedObject {
  id: string;
  version: string;
}

/** Creates or updates (plain update: the CRD has no status subresource) one pod's status object. */
export async function recordMount(client: KubeClient, pod: any, className: string, objects: MountedObject[]): Promise<void> {
  const ns = pod.metadata.namespace;
  const name = `${pod.metadata.name}-${ns}-${className}`;
  const body: any = {
    apiVersion: 'secrets-store.csi.x-k8s.io/v1',
    kind: 'SecretProviderClassPodStatus',
    metadata: {
      name,
      namespace: ns,
      labels: { 'internal.secrets-store.csi.k8s.io/node-name': pod.spec.nodeName ?? '' },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid }],
    },
    status: {
      podName: pod.metadata.name,
      secretProviderClassName: className,
      mounted: true,
      targetPath: `/var/lib/kubelet/pods/${pod.metadata.uid}/volumes/kubernetes.io~csi/secrets-store/mount`,
      objects: [...objects].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    },
  };
  try {
    await client.request('POST', `${SPCPS}/namespaces/${ns}/secretproviderclasspodstatuses`, { body });
  } catch (err) {
    if (!(err instanceof KubeError && err.status === 409)) throw err;
    const current = await client.request('GET', `${SPCPS}/namespaces/${ns}/secretproviderclasspodstatuses/${name}`);
    if (JSON.stringify(current.status?.objects) === JSON.stringify(body.status.objects)) return;
    body.metadata.resourceVersion = current.metadata.resourceVersion;
    await client.request('PUT', `${SPCPS}/namespaces/${ns}/secretproviderclasspodstatuses/${name}`, { body });
  }
}

/** Records the given objects for every running pod of the namespace that mounts the class. */
export async function recordMountsForClass(client: KubeClient, namespace: string, className: string, objects: MountedObject[]): Promise<number> {
  const pods = await client.request('GET', `/api/v1/namespaces/${namespace}/pods`);
  let n = 0;
  for (const pod of pods.items) {
    if (pod.metadata.deletionTimestamp || pod.status?.phase !== 'Running') continue;
    const mounts = (pod.spec.volumes ?? []).some((v: any) => v.csi?.driver === CSI_DRIVER && v.csi.volumeAttributes?.secretProviderClass === className);
    if (!mounts) continue;
    await recordMount(client, pod, className, objects);
    n++;
  }
  return n;
}

/** Writes a synced Secret as the driver does (label secrets-store.csi.k8s.io/managed=true). */
export async function writeSyncedSecret(client: KubeClient, namespace: string, name: string, data: Record<string, string>): Promise<string> {
  const body: any = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: { 'secrets-store.csi.k8s.io/managed': 'true' } },
    type: 'Opaque',
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  };
  try {
    const created = await client.request('POST', `/api/v1/namespaces/${namespace}/secrets`, { body });
    return created.metadata.resourceVersion;
  } catch (err) {
    if (!(err instanceof KubeError && err.status === 409)) throw err;
    const updated = await client.request('PUT', `/api/v1/namespaces/${namespace}/secrets/${name}`, { body });
    return updated.metadata.resourceVersion;
  }
}
