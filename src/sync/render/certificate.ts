// A cert object's file: the leaf certificate Key Vault returns as `cer` (DER,
// base64 in JSON), as one CERTIFICATE PEM block. The private key is only
// reachable through the certificate's secret (objectType secret).
import type { CertificateBundle } from '../../keyvault/objects.ts';
import { decodeStdBase64 } from './encoding.ts';
import { encodePem } from './pem.ts';

/** The PEM to write for a certificate, or a message saying what is wrong. */
export function renderCertificate(bundle: CertificateBundle): Buffer | string {
  const der = typeof bundle.cer === 'string' ? decodeStdBase64(bundle.cer) : Buffer.from(bundle.cer);
  if (der === undefined) return 'the certificate\'s "cer" is not valid base64';
  return Buffer.from(encodePem('CERTIFICATE', der), 'latin1');
}
