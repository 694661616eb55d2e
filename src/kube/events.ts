// Kubernetes Events on the objects we act on: what changed and what we did,
// by name and version, never a value. Best effort (a failed Event never fails
// a restart), and the same message on the same object is not repeated within
// a window, so a flapping input cannot flood the API server with Events.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { KubeClient } from './client.ts';

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  emit(obj: ObjectRef, type: EventType, reason: string, message: string): void;
  /** Settles when every Event emitted so far has been written or has failed. */
  flush(): Promise<void>;
}

export const COMPONENT = 'keyvault-reloader';

export function createEventRecorder(opts: { client: KubeClient; log: Logger; instance: string; dedupeWindowMs?: number; onEmit?: (type: EventType, reason: string) => void }): EventRecorder {
  const recent = new Map<string, number>();
  const window = opts.dedupeWindowMs ?? 10 * 60_000;
  const pending = new Set<Promise<void>>();

  return {
    emit(obj, type, reason, message) {
      const now = Date.now();
      const dedupeKey = `${obj.kind}/${obj.namespace}/${obj.name}/${type}/${reason}/${message}`;
      const last = recent.get(dedupeKey);
      if (last !== undefined && now - last < window) return;
      recent.set(dedupeKey, now);
      if (recent.size > 10_000) {
        for (const [k, t] of recent) if (now - t >= window) recent.delete(k);
      }
      opts.onEmit?.(type, reason);
      const ts = new Date(now).toISOString();
      const body = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `${obj.name}.${randomBytes(8).toString('hex')}`, namespace: obj.namespace },
        involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, namespace: obj.namespace, name: obj.name, uid: obj.uid },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component: COMPONENT },
        reportingComponent: COMPONENT,
        reportingInstance: opts.instance,
        firstTimestamp: ts,
        lastTimestamp: ts,
        count: 1,
      };
      const p = opts.client
        .request('POST', `/api/v1/namespaces/${obj.namespace}/events`, { body })
        .then(
          () => undefined,
          (err: unknown) => opts.log.warn({ err: (err as Error).message, reason, object: `${obj.kind}/${obj.namespace}/${obj.name}` }, 'could not record Event'),
        )
        .finally(() => pending.delete(p));
      pending.add(p);
    },
    async flush() {
      await Promise.all([...pending]);
    },
  };
}
