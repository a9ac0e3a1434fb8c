/**
 * Kubernetes Events for users (`kubectl describe service`). Writing them never blocks or fails a
 * reconcile: they are sent in the background with bounded parallelism, and an event identical to the
 * last one for the same object is not repeated (a retry loop must not flood the API). The backlog is
 * bounded like client-go's broadcaster: in a burst (10k Services allocated at start) events beyond it
 * are dropped and counted rather than held in memory.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.ts';
import { statusMessage, type KubeClient } from './client.ts';

/** What an event is about. */
export interface EventTarget {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string };
}

/** See the module comment. */
export class EventRecorder {
  private readonly last = new Map<string, string>();
  private readonly backlog: (() => Promise<void>)[] = [];
  private inflight = 0;
  /** Events sent (tests). */
  sent = 0;
  /** Events dropped because the backlog was full. */
  dropped = 0;
  /** Most events waiting to be sent. */
  static readonly MAX_BACKLOG = 1000;

  constructor(private readonly client: KubeClient, private readonly component: string, private readonly log: Logger, private readonly eventNamespace = 'default') {}

  /** Records an event; `type` is Normal or Warning. */
  record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const objKey = `${target.kind}/${target.metadata.namespace ?? ''}/${target.metadata.name}`;
    const sig = `${type}\0${reason}\0${message}`;
    if (this.last.get(objKey) === sig) return;
    this.last.set(objKey, sig);
    const ns = target.metadata.namespace ?? this.eventNamespace;
    const now = new Date().toISOString();
    const ev = {
      apiVersion: 'v1', kind: 'Event',
      metadata: { name: `${target.metadata.name}.${Date.now().toString(16)}${randomBytes(3).toString('hex')}`, namespace: ns },
      involvedObject: { apiVersion: target.apiVersion, kind: target.kind, name: target.metadata.name, namespace: target.metadata.namespace, uid: target.metadata.uid, resourceVersion: target.metadata.resourceVersion },
      reason, message: message.slice(0, 1024), type,
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: this.component,
      firstTimestamp: now, lastTimestamp: now, count: 1,
    };
    if (this.backlog.length >= EventRecorder.MAX_BACKLOG) {
      if (this.dropped++ % 1000 === 0) this.log.warn({ event: 'events_dropped', dropped: this.dropped }, 'event backlog full; dropping events');
      this.last.delete(objKey); // so the same event can be sent again later
      return;
    }
    this.backlog.push(async () => {
      const r = await this.client.request('POST', `/api/v1/namespaces/${ns}/events`, ev);
      if (r.status >= 300) this.log.warn({ event: 'event_write_failed', reason, err: statusMessage(r) }, 'could not write event');
      else this.sent++;
    });
    this.drain();
  }

  /** Forgets the last event of an object (after it was deleted). */
  forget(kind: string, namespace: string | undefined, name: string): void {
    this.last.delete(`${kind}/${namespace ?? ''}/${name}`);
  }

  private drain(): void {
    while (this.inflight < 8) {
      const job = this.backlog.shift();
      if (!job) return;
      this.inflight++;
      job().catch((e: unknown) => { this.log.warn({ event: 'event_write_failed', err: String(e) }, 'could not write event'); })
        .finally(() => { this.inflight--; this.drain(); });
    }
  }
}
