// What a pod template depends on: the Secrets it reads (env, envFrom,
// volumes, projected sources, in containers, init containers and ephemeral
// containers) and the SecretProviderClasses it mounts through the CSI driver.
import type { V1PodSpec } from '@kubernetes/client-node';
import type { WorkloadPolicy } from './annotations.ts';

export const CSI_DRIVER = 'secrets-store.csi.k8s.io';

export interface References {
  secrets: string[];
  secretProviderClasses: string[];
}

export function findReferences(spec: V1PodSpec | undefined): References {
  const secrets = new Set<string>();
  const classes = new Set<string>();
  if (!spec) return { secrets: [], secretProviderClasses: [] };

  const containers = [...(spec.containers ?? []), ...(spec.initContainers ?? []), ...(spec.ephemeralContainers ?? [])];
  for (const c of containers) {
    for (const e of c.env ?? []) {
      const name = e.valueFrom?.secretKeyRef?.name;
      if (name) secrets.add(name);
    }
    for (const ef of c.envFrom ?? []) {
      const name = ef.secretRef?.name;
      if (name) secrets.add(name);
    }
  }
  for (const v of spec.volumes ?? []) {
    if (v.secret?.secretName) secrets.add(v.secret.secretName);
    for (const source of v.projected?.sources ?? []) {
      if (source.secret?.name) secrets.add(source.secret.name);
    }
    const spc = v.csi?.driver === CSI_DRIVER ? v.csi.volumeAttributes?.['secretProviderClass'] : undefined;
    if (spc) classes.add(spc);
  }
  return { secrets: [...secrets].sort(), secretProviderClasses: [...classes].sort() };
}

/** The inputs a workload restarts for: its references when auto, plus the named ones, minus exclusions. */
export function dependencies(policy: WorkloadPolicy, refs: References): References {
  const excluded = new Set(policy.excludeSecrets);
  const secrets = new Set(policy.secrets);
  const classes = new Set(policy.secretProviderClasses);
  if (policy.auto) {
    refs.secrets.forEach((s) => secrets.add(s));
    refs.secretProviderClasses.forEach((c) => classes.add(c));
  }
  return {
    secrets: [...secrets].filter((s) => !excluded.has(s)).sort(),
    secretProviderClasses: [...classes].sort(),
  };
}
