// Trust for Key Vault's and Entra's TLS certificates when a private CA signs
// them (a TLS-inspecting egress proxy, Azure Stack Hub): a CA bundle given
// with --ca-bundle is added to Node's default trust, beside its own roots and
// NODE_EXTRA_CA_CERTS. It has to be the default trust: the Azure SDK ignores
// per-client TLS settings once requests go through an HTTPS_PROXY, and both
// the Key Vault clients and MSAL (through @azure/identity) use that pipeline.
// Nothing else in the process uses the default trust: the Kubernetes client
// trusts only its kubeconfig's CA.
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { createDefaultHttpClient, createPipelineFromOptions, createPipelineRequest } from '@azure/core-rest-pipeline';

export class TrustConfigError extends Error {}

/** The certificates of a PEM bundle, each checked; the error names the file and what to fix. */
export function parseCaBundle(text: string, file: string): string[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new TrustConfigError(`--ca-bundle ${file}: holds no PEM certificate (expected "-----BEGIN CERTIFICATE-----" blocks)`);
  blocks.forEach((pem, i) => {
    try {
      new X509Certificate(pem);
    } catch {
      throw new TrustConfigError(`--ca-bundle ${file}: certificate ${i + 1} of ${blocks.length} is not a valid X.509 certificate`);
    }
  });
  return blocks;
}

/** Adds the bundle's CAs to the trust of every TLS connection made without its own CA list; returns how many. */
export function trustCaBundle(file: string): number {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TrustConfigError(`--ca-bundle ${file}: could not be read (${(err as { code?: string }).code ?? 'unreadable'}): check that the file is mounted into the controller's container`);
  }
  const certs = parseCaBundle(text, file);
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), ...certs]);
  return certs.length;
}

// OpenSSL's and Node's codes for a certificate the client does not accept.
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/**
 * What to do about a TLS failure of `host`, or undefined when `err` (or its
 * causes) is not one: an untrusted certificate points at --ca-bundle, an
 * expired one or one for another name at the server (or a proxy that
 * intercepts it).
 */
export function tlsFailureHint(err: unknown, host: string): string | undefined {
  let at: unknown = err;
  for (let depth = 0; at instanceof Error && depth < 6; depth++) {
    const code = (at as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (UNTRUSTED.has(code)) return `the TLS certificate of ${host} is not trusted (${code}): if a private CA signs it (or a TLS-inspecting proxy), give that CA with --ca-bundle (chart value sync.caBundle)`;
      if (code === 'CERT_HAS_EXPIRED') return `the TLS certificate of ${host} has expired (${code})`;
      if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `the TLS certificate of ${host} is for another name (${code}): check the vault name, the cloud's DNS suffix and any proxy in between`;
    }
    at = (at as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Why `url` cannot be reached, found by asking it once through the Azure
 * SDK's own pipeline (the same proxy and trust): for failures a library
 * reports without their cause (MSAL's network_error). Undefined when it
 * answers without an error status; `tls` when its certificate is the problem.
 */
export async function diagnoseConnection(url: string, timeoutMs = 10_000): Promise<{ message: string; tls: boolean } | undefined> {
  const host = new URL(url).host;
  try {
    const response = await createPipelineFromOptions({ retryOptions: { maxRetries: 0 } }).sendRequest(createDefaultHttpClient(), createPipelineRequest({ url, method: 'GET', timeout: timeoutMs }));
    // An error status on the way (a proxy refusing the host, a gateway failing) is the cause; a page is not.
    return response.status >= 400 ? { message: `${host} answers ${response.status}`, tls: false } : undefined;
  } catch (err) {
    const status = (err as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number') return status >= 400 ? { message: `${host} answers ${status}`, tls: false } : undefined;
    const hint = tlsFailureHint(err, host);
    if (hint !== undefined) return { message: hint, tls: true };
    return { message: `${host} cannot be reached: ${(err as { code?: string }).code ?? (err as Error).message}`, tls: false };
  }
}
