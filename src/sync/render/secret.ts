// A secret object's files, as the provider writes them: the value, decoded per
// objectEncoding; for a secret that backs a certificate (it has a `kid`), PEM
// content as stored, or a PKCS#12 as PEM (or as is with objectFormat pfx),
// plus `<file>.crt` and `<file>.key` with --write-cert-and-key-in-separate-files.
import type { SecretBundle } from '../../keyvault/objects.ts';
import type { ObjectSpec } from '../spc.ts';
import { decodeContent, decodeStdBase64 } from './encoding.ts';
import type { RenderOptions } from './object.ts';
import { splitCertAndKey } from './pem.ts';
import { pkcs12ToPem } from './pkcs12.ts';

const CERT_TYPE_PEM = 'application/x-pem-file';
const CERT_TYPE_PFX = 'application/x-pkcs12';

export interface FilePart {
  /** '' for the object's own file, `.crt` / `.key` for the split parts. */
  suffix: string;
  content: Buffer;
}

/** The parts to write, or a message saying what is wrong (never quoting the value). */
export function renderSecret(spec: ObjectSpec, bundle: SecretBundle, opts: RenderOptions): FilePart[] | string {
  let text = bundle.value;
  const parts: Array<{ suffix: string; text: string }> = [];
  if (bundle.kid) {
    const contentType = bundle.contentType ?? '';
    if (contentType === CERT_TYPE_PFX) {
      if (spec.objectFormat !== 'pfx') {
        const pfx = decodeStdBase64(bundle.value);
        if (pfx === undefined) return 'the PKCS#12 value is not valid base64';
        text = pkcs12ToPem(pfx, opts.constructPemChain);
      }
    } else if (contentType !== CERT_TYPE_PEM) {
      return `unknown content type "${contentType}" for a secret that backs a certificate: expected ${CERT_TYPE_PEM} or ${CERT_TYPE_PFX}`;
    }
    if (opts.separateCertAndKeyFiles) {
      const { certs, keys } = splitCertAndKey(Buffer.from(text, 'utf8'));
      parts.push({ suffix: '.crt', text: certs }, { suffix: '.key', text: keys });
    }
  }
  parts.push({ suffix: '', text });

  const out: FilePart[] = [];
  for (const part of parts) {
    const content = decodeContent(part.text, spec.objectEncoding);
    if (content === undefined) {
      return `the value is not valid ${spec.objectEncoding}: fix the secret in Key Vault or the class's objectEncoding`;
    }
    out.push({ suffix: part.suffix, content });
  }
  return out;
}
