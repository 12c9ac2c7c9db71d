// Events about objects, as core/v1 Events (what `kubectl describe` shows). Best effort: a failed
// event write is logged by the caller's logger at most, never fails a reconcile.
import { randomBytes } from 'node:crypto';
import type { RestClient } from './rest.js';
import { CoreEvents, type KubeObject } from './types.js';

export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  constructor(
    private readonly client: RestClient,
    readonly component: string,
  ) {}

  async event(obj: KubeObject, type: EventType, reason: string, message: string): Promise<boolean> {
    const now = new Date().toISOString();
    const namespace = obj.metadata.namespace ?? 'default';
    try {
      await this.client.create(CoreEvents, {
        metadata: { name: `${obj.metadata.name}.${randomBytes(8).toString('hex')}`, namespace },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: obj.metadata.name,
          namespace: obj.metadata.namespace,
          uid: obj.metadata.uid,
          resourceVersion: obj.metadata.resourceVersion,
        },
        type,
        reason,
        message,
        source: { component: this.component },
        reportingComponent: this.component,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
      return true;
    } catch {
      return false;
    }
  }
}
