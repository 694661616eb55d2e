// SecretProviderClasses for unit tests: parsed, with the parameters a test
// does not care about filled in.
import assert from 'node:assert/strict';
import type { V1Secret } from '@kubernetes/client-node';
import type { BuiltSecrets } from '../../../src/sync/secret-data.ts';
import type { RenderedFile } from '../../../src/sync/render/object.ts';
import { formatProblems, parseSecretProviderClass, type ParsedClass } from '../../../src/sync/spc.ts';

export const VAULT = 'https://my-vault.vault.azure.net';

export function objectsYaml(entries: string[]): string {
  return `array:\n${entries.map((e) => `  - |\n${e.split('\n').map((l) => `    ${l}`).join('\n')}\n`).join('')}`;
}

export interface ClassOptions {
  name?: string;
  namespace?: string;
  uid?: string;
  objects?: string[];
  secretObjects?: unknown[];
  parameters?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** The object as the API server would return it. */
export function classObject(options: ClassOptions = {}): object {
  return {
    apiVersion: 'secrets-store.csi.x-k8s.io/v1',
    kind: 'SecretProviderClass',
    metadata: {
      name: options.name ?? 'app',
      namespace: options.namespace ?? 'team-a',
      ...(options.uid === '' ? {} : { uid: options.uid ?? 'uid-1' }),
      annotations: options.annotations ?? {},
    },
    spec: {
      provider: 'azure',
      parameters: {
        keyvaultName: 'my-vault',
        tenantId: 'tenant-1',
        clientID: 'client-1',
        objects: objectsYaml(options.objects ?? ['objectName: db\nobjectType: secret']),
        ...options.parameters,
      },
      secretObjects: options.secretObjects ?? [],
    },
  };
}

/** A class that parses with every secretObjects entry accepted. */
export function makeClass(options: ClassOptions = {}): ParsedClass {
  const result = parseSecretProviderClass(classObject(options));
  if (!result.ok) assert.fail(formatProblems(result.problems));
  const refused = result.value.refusedSecretObjects.flatMap((r) => r.problems);
  if (refused.length > 0) assert.fail(`secretObjects refused: ${formatProblems(refused)}`);
  return result.value;
}

export function built(result: BuiltSecrets): V1Secret[] {
  if (result.failed.length > 0) assert.fail(result.failed.map((f) => `${f.secretName}: ${formatProblems(f.problems)}`).join('\n'));
  return result.secrets;
}

export function file(fileName: string, content: Buffer | string, id = 'secret/x', version = 'v1'): RenderedFile {
  return { fileName, content: Buffer.from(content), id, version };
}
