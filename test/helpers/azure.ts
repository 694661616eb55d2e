// The local Azure an integration test uses: the one `npm test` started beside
// the shared control plane (named in its state), or a private one when a test
// file is run alone. The test process is then set up as a pod of a cluster
// with AKS's HTTP-proxy feature: HTTPS_PROXY and NO_PROXY in its environment
// and the test CA trusted, so that the product code it runs in-process (and
// every process it starts) reaches Entra and Key Vault by their public names
// through the egress proxy, with nothing test-only passed to it.
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { after } from 'node:test';
import { connectAzure, startAzure, type AzureHandle, type LocalAzure } from '../../src/localenv/azure.ts';
import { stopAfterFile, testEnv, type TestEnv } from './env.ts';

let shared: Promise<AzureHandle> | undefined;

export function testAzure(): Promise<AzureHandle> {
  shared ??= (async () => {
    const env = await testEnv();
    let azure: AzureHandle;
    if (env.azure) {
      azure = connectAzure(env.azure);
    } else {
      const owned = await startPrivateAzure(env);
      stopAfterFile(() => owned.stop());
      azure = owned;
    }
    useAzureRoutes(azure);
    return azure;
  })();
  return shared;
}

/**
 * A local Azure of the calling test's (or suite's) own, trusting `env`'s
 * control plane, stopped when it ends. Its routes are not applied to this
 * process (the shared one's are): hand proxyEnv() to the processes it serves.
 */
export async function privateAzure(env: TestEnv): Promise<LocalAzure> {
  const azure = await startPrivateAzure(env);
  after(() => azure.stop());
  return azure;
}

function startPrivateAzure(env: TestEnv): Promise<LocalAzure> {
  return startAzure({ cluster: { issuer: env.issuer, caFile: env.caFile, server: env.server }, progress: (m) => process.stderr.write(`${m}\n`) });
}

/**
 * What a pod gets from AKS's HTTP-proxy feature, applied to this process: the
 * proxy variables (read by the Azure SDK when it builds a client, so before
 * any is built) and the CA that NODE_EXTRA_CA_CERTS would have added at start,
 * for this process and, through the variable, for every process it starts.
 */
export function useAzureRoutes(azure: AzureHandle): void {
  Object.assign(process.env, azure.proxyEnv());
  const ca = readFileSync(azure.caFile, 'utf8').trim();
  const trusted = tls.getCACertificates('default');
  if (!trusted.some((c) => c.trim() === ca)) tls.setDefaultCACertificates([...trusted, ca]);
}
