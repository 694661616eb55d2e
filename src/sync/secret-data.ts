// From rendered files to the Kubernetes Secrets a class's secretObjects ask
// for, with the data the CSI driver would have synced.
import type { V1ObjectMeta, V1Secret } from '@kubernetes/client-node';
import type { RenderedFile } from './render/object.ts';
import { tlsPart } from './render/tls.ts';
import { SPC_API_VERSION, type ParsedClass, type Problem } from './spc.ts';

/** Marks the Secrets this controller writes, and the only ones it may change. */
export const MANAGED_BY_LABEL = 'keyvault-reloader.io/managed-by';
export const MANAGED_BY_VALUE = 'keyvault-reloader';
/** The CSI driver's mark on the Secrets it syncs; we never claim it. */
export const CSI_MANAGED_LABEL = 'secrets-store.csi.k8s.io/managed';

const TLS = 'kubernetes.io/tls';

export interface BuiltSecrets {
  /** The Secrets whose every data entry could be built. */
  secrets: V1Secret[];
  /** Secrets left as they are this round, and why; their last good value stays. */
  failed: Array<{ secretName: string; problems: Problem[] }>;
}

/**
 * The Secrets to write for a class: one per secretObjects entry, owned by the
 * class. A Secret with any entry that cannot be built (its file was not
 * rendered, or a TLS part cannot be extracted) is not built at all, so a bad
 * read never blanks it; the class's other Secrets are unaffected.
 */
export function buildSecrets(
  parsed: Pick<ParsedClass, 'namespace' | 'name' | 'uid' | 'secretObjects'>,
  files: readonly RenderedFile[],
): BuiltSecrets {
  const byName = new Map<string, RenderedFile>();
  const duplicated = new Set<string>();
  for (const file of files) {
    if (byName.has(file.fileName)) duplicated.add(file.fileName);
    byName.set(file.fileName, file);
  }

  const built: BuiltSecrets = { secrets: [], failed: [] };
  parsed.secretObjects.forEach((so, i) => {
    const problems: Problem[] = [];
    const data: Record<string, string> = {};
    // tls.crt and tls.key of one unreadable file fail alike: say it once.
    const said = new Set<string>();
    so.data.forEach((entry, j) => {
      const field = `spec.secretObjects[${i}].data[${j}]`;
      const file = byName.get(entry.objectName);
      if (file === undefined) {
        problems.push({ field: `${field}.objectName`, message: `no object wrote the file "${entry.objectName}"` });
        return;
      }
      if (duplicated.has(entry.objectName)) {
        problems.push({ field: `${field}.objectName`, message: `two objects wrote the file "${entry.objectName}": give one a different objectAlias` });
        return;
      }
      if (so.type !== TLS) {
        data[entry.key] = file.content.toString('base64');
        return;
      }
      const part = tlsPart(file.content, entry.key);
      if (typeof part === 'string') {
        const message = `${file.id} (version ${file.version}), file "${file.fileName}": ${part}`;
        if (!said.has(message)) problems.push({ field, message });
        said.add(message);
      } else {
        data[entry.key] = part.toString('base64');
      }
    });
    if (problems.length > 0) {
      built.failed.push({ secretName: so.secretName, problems });
      return;
    }

    const labels: Record<string, string> = { ...so.labels };
    delete labels[CSI_MANAGED_LABEL];
    labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE;
    const metadata: V1ObjectMeta = {
      name: so.secretName,
      namespace: parsed.namespace,
      labels,
      annotations: { ...so.annotations },
    };
    // Without a uid (a class read from a file) there is nothing to own it by.
    if (parsed.uid !== '') {
      metadata.ownerReferences = [{
        apiVersion: SPC_API_VERSION,
        kind: 'SecretProviderClass',
        name: parsed.name,
        uid: parsed.uid,
        controller: true,
      }];
    }
    built.secrets.push({ apiVersion: 'v1', kind: 'Secret', metadata, type: so.type, data });
  });
  return built;
}

