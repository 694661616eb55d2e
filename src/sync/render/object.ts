// Shapes one fetched Key Vault object into the exact files the AKS add-on
// (Secrets Store CSI driver + Azure provider, pkg/provider/provider.go) writes
// into a mount, so that a Secret we sync holds the bytes the driver would
// have synced. Each object type has its own file here (secret.ts, key.ts,
// certificate.ts); PEM, PKCS#12 and encodings are shared below them.
import { versionFromId, type FetchedObject } from '../../keyvault/objects.ts';
import { historyFileName, objectId, type ObjectSpec, type Problem } from '../spc.ts';
import { renderCertificate } from './certificate.ts';
import { renderPublicKey } from './key.ts';
import { renderSecret } from './secret.ts';

export interface RenderedFile {
  /** Relative path in the mount, which secretObjects[].data[].objectName refers to. */
  fileName: string;
  content: Buffer;
  /** `<objectType>/<objectName>`, plus `/<index>` for version history entries. */
  id: string;
  version: string;
}

export interface RenderOptions {
  /** Provider flag --construct-pem-chain. */
  constructPemChain: boolean;
  /** Provider flag --write-cert-and-key-in-separate-files. */
  separateCertAndKeyFiles: boolean;
}

/** How the AKS add-on runs the provider. */
export const AKS_ADDON_RENDER_OPTIONS: Readonly<RenderOptions> = {
  constructPemChain: true,
  separateCertAndKeyFiles: true,
};

export type RenderResult = { ok: true; files: RenderedFile[] } | { ok: false; problem: Problem };

/**
 * Renders one fetched object. `historyIndex` selects the `<alias>/<index>`
 * file of an objectVersionHistory entry (see pickVersionHistory).
 */
export function renderObject(
  spec: ObjectSpec,
  fetched: FetchedObject,
  options: Partial<RenderOptions> & { historyIndex?: number } = {},
): RenderResult {
  const opts: RenderOptions = { ...AKS_ADDON_RENDER_OPTIONS, ...options };
  const fileName = options.historyIndex === undefined ? spec.objectAlias : historyFileName(spec.objectAlias, options.historyIndex);
  const id = objectId(spec, options.historyIndex);
  const fail = (version: string, message: string): RenderResult => ({
    ok: false,
    problem: {
      field: `spec.parameters.objects[${spec.index}]`,
      message: `${id}${version === '' ? '' : ` (version ${version})`}: ${message}`,
    },
  });

  if (fetched.objectType !== spec.objectType) {
    return fail('', `was fetched as a ${fetched.objectType}, but the class asks for a ${spec.objectType}`);
  }
  const version = versionFromId(fetched.objectType === 'key' ? fetched.bundle.kid : fetched.bundle.id);
  try {
    switch (fetched.objectType) {
      case 'secret': {
        const rendered = renderSecret(spec, fetched.bundle, opts);
        if (typeof rendered === 'string') return fail(version, rendered);
        return {
          ok: true,
          files: rendered.map((part) => ({ fileName: fileName + part.suffix, content: part.content, id, version })),
        };
      }
      case 'key': {
        const content = renderPublicKey(fetched.bundle);
        if (typeof content === 'string') return fail(version, content);
        return { ok: true, files: [{ fileName, content, id, version }] };
      }
      case 'cert': {
        const content = renderCertificate(fetched.bundle);
        if (typeof content === 'string') return fail(version, content);
        return { ok: true, files: [{ fileName, content, id, version }] };
      }
    }
  } catch (error) {
    // Library errors describe structure, never the secret's bytes.
    return fail(version, `could not be rendered: ${(error as Error).message}`);
  }
}
