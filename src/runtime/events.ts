// Events about objects, as core/v1 Events (what `kubectl describe` shows). Best effort: a failed
// event write never fails a reconcile. record() is what reconciles use: fire-and-forget, as
// controller-runtime's recorder is, so that no step waits behind an Event's round trip; a failure
// is logged. event() awaits the write, for callers that must know it landed.
import { randomBytes } from 'node:crypto';
import { errorMessage, silentLogger, type Logger } from './log.js';
import type { RestClient } from './rest.js';
import { CoreEvents, type KubeObject } from './types.js';

export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  constructor(
    private readonly client: RestClient,
    readonly component: string,
    private readonly log: Logger = silentLogger(),
  ) {}

  /** Writes the Event in the background; a failure is logged, never thrown. */
  record(obj: KubeObject, type: EventType, reason: string, message: string): void {
    this.write(obj, type, reason, message).catch((e: unknown) =>
      this.log.warn('event not recorded', {
        component: this.component,
        object: `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`,
        reason,
        error: errorMessage(e),
      }),
    );
  }

  /** Writes the Event and waits for it; false when the write failed. */
  async event(obj: KubeObject, type: EventType, reason: string, message: string): Promise<boolean> {
    try {
      await this.write(obj, type, reason, message);
      return true;
    } catch {
      return false;
    }
  }

  private async write(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const now = new Date().toISOString();
    const namespace = obj.metadata.namespace ?? 'default';
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
  }
}
