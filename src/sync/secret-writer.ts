// Writes the Secrets a class's secretObjects ask for (built by buildSecrets):
// creates what is missing, updates what is ours only when its content
// differs, and never touches a Secret that is not ours — one the CSI driver
// manages, or anyone else's — saying so with a Warning Event on the class.
// It never deletes or blanks a Secret: an owned Secret goes away only with its
// class, through the ownerReference (Kubernetes garbage collection).
import type { V1Secret } from '@kubernetes/client-node';
import { KubeError, type KubeClient } from '../kube/client.ts';
import type { EventRecorder, ObjectRef } from '../kube/events.ts';
import { errMessage } from '../kube/informer.ts';
import type { Logger } from '../log.ts';
import { FIELD_MANAGER, planSecretWrite } from './secret-plan.ts';
import { SPC_API_VERSION } from './spc.ts';

export type SecretWriteResult = 'created' | 'updated' | 'not_owned' | 'type_immutable' | 'conflict' | 'failed';

export interface SecretWriterMetrics {
  /** One call per write attempted or refused; unchanged Secrets are not counted (nothing is written). */
  write(result: SecretWriteResult): void;
}

export type SecretOutcome = 'created' | 'updated' | 'unchanged' | 'not-owned' | 'type-immutable' | 'failed';

export interface AppliedSecret {
  secretName: string;
  outcome: SecretOutcome;
  /** For not-owned, type-immutable and failed: what is wrong, by name, never a value. */
  message?: string;
  /** The Secret's resourceVersion after the apply (unchanged when nothing was written). */
  resourceVersion?: string;
}

export interface SecretOwner {
  namespace: string;
  name: string;
  uid: string;
}

export interface SecretWriterOptions {
  client: KubeClient;
  events: EventRecorder;
  log: Logger;
  metrics: SecretWriterMetrics;
  /** Attempts per Secret when the API server answers 409 (someone wrote it in between). */
  maxConflictRetries?: number;
}

export class SecretWriter {
  private readonly opts: SecretWriterOptions;

  constructor(opts: SecretWriterOptions) {
    this.opts = opts;
  }

  /**
   * Applies each desired Secret of one class. `detail` adds a note to the
   * Events of Secrets written (e.g. which Key Vault versions they hold).
   */
  async apply(owner: SecretOwner, secrets: readonly V1Secret[], detail?: (secretName: string) => string): Promise<AppliedSecret[]> {
    const results: AppliedSecret[] = [];
    for (const desired of secrets) results.push(await this.applyOne(owner, desired, detail));
    return results;
  }

  private async applyOne(owner: SecretOwner, desired: V1Secret, detail?: (secretName: string) => string): Promise<AppliedSecret> {
    const secretName = desired.metadata?.name ?? '';
    const ref: ObjectRef = { apiVersion: SPC_API_VERSION, kind: 'SecretProviderClass', namespace: owner.namespace, name: owner.name, uid: owner.uid };
    const path = `/api/v1/namespaces/${encodeURIComponent(owner.namespace)}/secrets`;
    const note = detail ? ` ${detail(secretName)}`.trimEnd() : '';
    const attempts = 1 + (this.opts.maxConflictRetries ?? 5);
    for (let attempt = 1; ; attempt++) {
      try {
        const existing = await this.get(`${path}/${encodeURIComponent(secretName)}`);
        const plan = planSecretWrite(existing, desired, owner.uid);
        switch (plan.action) {
          case 'none':
            return { secretName, outcome: 'unchanged', resourceVersion: existing?.metadata?.resourceVersion };
          case 'not-owned': {
            const message = `Secret ${secretName} already exists and is left as it is: ${plan.reason}. Rename secretObjects[].secretName, or delete that Secret so that keyvault-reloader can create its own`;
            this.opts.metrics.write('not_owned');
            this.opts.events.emit(ref, 'Warning', 'SecretNotOwned', message);
            this.opts.log.warn({ class: `${owner.namespace}/${owner.name}`, secret: secretName, reason: plan.reason }, 'synced Secret not written: it is not ours');
            return { secretName, outcome: 'not-owned', message };
          }
          case 'type-immutable': {
            const message = `Secret ${secretName} has type ${plan.current} but the class asks for ${plan.desired}; a Secret's type cannot change, so it is left as it is: delete it and it will be recreated`;
            this.opts.metrics.write('type_immutable');
            this.opts.events.emit(ref, 'Warning', 'SecretTypeMismatch', message);
            this.opts.log.warn({ class: `${owner.namespace}/${owner.name}`, secret: secretName, current: plan.current, desired: plan.desired }, 'synced Secret not written: its type cannot change');
            return { secretName, outcome: 'type-immutable', message };
          }
          case 'create': {
            const created = await this.opts.client.request<V1Secret>('POST', path, { body: plan.secret, query: { fieldManager: FIELD_MANAGER } });
            this.opts.metrics.write('created');
            this.opts.events.emit(ref, 'Normal', 'SecretCreated', `created Secret ${secretName}${note}`);
            this.opts.log.info({ class: `${owner.namespace}/${owner.name}`, secret: secretName, keys: keyNames(plan.secret) }, 'synced Secret created');
            return { secretName, outcome: 'created', resourceVersion: created.metadata?.resourceVersion };
          }
          case 'update': {
            // The resourceVersion in the body makes this fail with 409 if the Secret changed since we read it.
            const updated = await this.opts.client.request<V1Secret>('PUT', `${path}/${encodeURIComponent(secretName)}`, { body: plan.secret, query: { fieldManager: FIELD_MANAGER } });
            this.opts.metrics.write('updated');
            this.opts.events.emit(ref, 'Normal', 'SecretUpdated', `updated Secret ${secretName} (${plan.changed.join(', ')})${note}`);
            this.opts.log.info({ class: `${owner.namespace}/${owner.name}`, secret: secretName, changed: plan.changed, keys: keyNames(plan.secret) }, 'synced Secret updated');
            return { secretName, outcome: 'updated', resourceVersion: updated.metadata?.resourceVersion };
          }
        }
      } catch (err) {
        if (err instanceof KubeError && err.status === 409 && attempt < attempts) {
          // Created or changed by someone else in between: read again and decide again.
          this.opts.metrics.write('conflict');
          this.opts.log.debug({ class: `${owner.namespace}/${owner.name}`, secret: secretName, attempt }, 'synced Secret changed under us (409); retrying');
          continue;
        }
        const message = `could not write Secret ${secretName}: ${errMessage(err)}`;
        this.opts.metrics.write('failed');
        this.opts.log.error({ class: `${owner.namespace}/${owner.name}`, secret: secretName, err: errMessage(err) }, 'synced Secret write failed');
        return { secretName, outcome: 'failed', message };
      }
    }
  }

  private async get(path: string): Promise<V1Secret | undefined> {
    try {
      return await this.opts.client.request<V1Secret>('GET', path);
    } catch (err) {
      if (err instanceof KubeError && err.status === 404) return undefined;
      throw err;
    }
  }
}

/** The names of a Secret's keys, never its values: what the logs may say about its content. */
function keyNames(secret: V1Secret): string[] {
  return Object.keys(secret.data ?? {});
}
