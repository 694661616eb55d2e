// Certificates for the local environment: throwaway CAs (the control plane's,
// the local Azure's), serving certificates they sign, and the service-account
// signing key. node:crypto
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

/** Where createPki(dir) puts its files; a later caller finds the CA here to issue more certificates. */
export function pkiFiles(dir: string): Pki {
  const f = (name: string) => path.join(dir, name);
  return {
    caCert: f('ca.crt'),
    caKey: f('ca.key'),
    servingCert: f('serving.crt'),
    servingKey: f('serving.key'),
    saKey: f('sa.key'),
    saPub: f('sa.pub'),
  };
}

async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await exec('openssl', args, { cwd: dir });
  } catch (err) {
    throw new Error(`openssl ${args[0]} failed (is the openssl command installed?): ${(err as Error).message}`);
  }
}

/**
 * A serving certificate for 127.0.0.1, localhost and `extraDnsNames` (wildcards
 * such as *.vault.azure.net allowed) signed by a local CA, for a local HTTPS
 * server that clients trusting the CA accept. Written as `<name>.crt` and
 * `<name>.key` in the CA's folder.
 */
export async function issueServingCert(pki: Pick<Pki, 'caCert' | 'caKey'>, name: string, extraDnsNames: readonly string[] = []): Promise<{ cert: string; key: string }> {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`certificate name ${JSON.stringify(name)}: use letters, digits, ".", "_" and "-"`);
  const dir = path.dirname(pki.caKey);
  const f = (ext: string) => path.join(dir, `${name}.${ext}`);
  const san = ['IP:127.0.0.1', 'DNS:localhost', ...extraDnsNames.map((d) => `DNS:${d}`)].join(',');
  await writeFile(f('ext'), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  await openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', f('key'), '-out', f('csr')]);
  await openssl(dir, ['x509', '-req', '-in', f('csr'), '-CA', pki.caCert, '-CAkey', pki.caKey, '-CAcreateserial', '-days', '30', '-extfile', f('ext'), '-out', f('crt')]);
  return { cert: f('crt'), key: f('key') };
}

/** A throwaway CA, `ca.crt` and `ca.key` in `dir`, that issueServingCert signs with. */
export async function createCa(dir: string, commonName: string): Promise<Pick<Pki, 'caCert' | 'caKey'>> {
  const { caCert, caKey } = pkiFiles(dir);
  await openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-subj', `/CN=${commonName}`, '-keyout', caKey, '-out', caCert]);
  return { caCert, caKey };
}

export async function createPki(dir: string): Promise<Pki> {
  const pki = pkiFiles(dir);
  await createCa(dir, 'keyvault-reloader-local-ca');
  await issueServingCert(pki, 'serving', ['kubernetes.default.svc']);
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await writeFile(pki.saKey, sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await writeFile(pki.saPub, sa.publicKey.export({ type: 'spki', format: 'pem' }));
  return pki;
}
