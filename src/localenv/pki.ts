// Certificates for the local control plane: a throwaway CA, a serving
// certificate for 127.0.0.1, and the service-account signing key. node:crypto
// can make keys but not X.509 certificates, so the certificates come from the
// openssl command, which every supported machine has.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface Pki {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  saKey: string;
  saPub: string;
}

export async function createPki(dir: string): Promise<Pki> {
  const f = (name: string) => path.join(dir, name);
  const pki: Pki = {
    caCert: f('ca.crt'),
    caKey: f('ca.key'),
    servingCert: f('serving.crt'),
    servingKey: f('serving.key'),
    saKey: f('sa.key'),
    saPub: f('sa.pub'),
  };
  const openssl = async (args: string[]) => {
    try {
      await exec('openssl', args, { cwd: dir });
    } catch (err) {
      throw new Error(`openssl ${args[0]} failed (is the openssl command installed?): ${(err as Error).message}`);
    }
  };
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-subj', '/CN=keyvault-reloader-local-ca', '-keyout', pki.caKey, '-out', pki.caCert]);
  await writeFile(f('serving.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n');
  await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', pki.servingKey, '-out', f('serving.csr')]);
  await openssl(['x509', '-req', '-in', f('serving.csr'), '-CA', pki.caCert, '-CAkey', pki.caKey, '-CAcreateserial', '-days', '30', '-extfile', f('serving.ext'), '-out', pki.servingCert]);
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await writeFile(pki.saKey, sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await writeFile(pki.saPub, sa.publicKey.export({ type: 'spki', format: 'pem' }));
  return pki;
}
