/**
 * The REST event recorder: core/v1 Events for users (`kubectl describe service`). Recording never
 * blocks or fails a reconcile: events are sent in the background with bounded parallelism.
 *
 * As client-go does, a repeat of an identical event (same object, type, reason and message) does not
 * create a new Event: the existing one is patched with the new `count` and `lastTimestamp`, and repeats
 * that arrive while a write for the series is still waiting are folded into that write. An Event the
 * apiserver no longer has (Events expire after an hour) is created again. A write that gets no answer,
 * 429 or a 5xx is retried with capped exponential backoff a bounded number of times; other errors are
 * logged and dropped. The backlog is bounded like client-go's broadcaster: in a burst (10k Services
 * allocated at start) events beyond it are dropped and counted rather than held in memory, and the
 * series remembered for aggregation are bounded too (least recently used forgotten first).
 */
import { randomBytes } from 'node:crypto';
import { realClock, type Clock, type Timer } from '../clock.ts';
import type { Logger } from '../log.ts';
import { statusMessage, type ApiResponse } from './client.ts';
import type { EventRecorder, EventTarget, EventType, Requester } from './ports.ts';

export type { EventTarget } from './ports.ts';

/** Settings of an {@link ApiEventRecorder}. */
export interface ApiEventRecorderOptions {
  client: Requester;
  /** `source.component` / `reportingComponent` of every event. */
  component: string;
  log: Logger;
  clock?: Clock;
  /** Namespace for events about cluster-scoped objects (as kubectl looks for them). */
  eventNamespace?: string;
  /** Called for each write request sent (for the API-writes metric). */
  onWrite?: (kind: 'event_create' | 'event_patch') => void;
  /** Most series waiting to be written (queued or waiting for a retry). */
  maxBacklog?: number;
  /** Most event series remembered for aggregation. */
  maxSeries?: number;
  /** Attempts per write before it is given up. */
  maxAttempts?: number;
  /** First retry delay, doubled per attempt up to `maxRetryMs`. */
  minRetryMs?: number;
  maxRetryMs?: number;
}

type SeriesState = 'idle' | 'queued' | 'inflight' | 'waiting';

/** One distinct event (object + type + reason + message) and what the apiserver knows of it. */
interface Series {
  readonly key: string;
  readonly objKey: string;
  readonly namespace: string;
  readonly target: EventTarget;
  readonly type: EventType;
  readonly reason: string;
  readonly message: string;
  /** Name of the Event once created (reused across retries of the create, so a lost answer is a 409, not a duplicate). */
  name: string;
  created: boolean;
  /** Occurrences so far, and how many the apiserver has been told of. */
  occurrences: number;
  written: number;
  firstTimestamp: string;
  lastTimestamp: string;
  state: SeriesState;
  attempts: number;
  timer: Timer | undefined;
}

const INFLIGHT = 8;

/** See the module comment. */
export class ApiEventRecorder implements EventRecorder {
  private readonly series = new Map<string, Series>();
  private readonly byObject = new Map<string, Set<string>>();
  private readonly queue: Series[] = [];
  private waiting = 0;
  private inflight = 0;
  private readonly clock: Clock;
  private readonly maxBacklog: number;
  private readonly maxSeries: number;
  private readonly maxAttempts: number;
  /** Events created (first occurrence written). */
  sent = 0;
  /** Repeats written as patches of an existing Event. */
  patched = 0;
  /** Occurrences dropped: backlog full, or a write given up. */
  dropped = 0;
  /** Write requests sent (creates, patches, retries). */
  writes = 0;

  constructor(private readonly o: ApiEventRecorderOptions) {
    this.clock = o.clock ?? realClock;
    this.maxBacklog = o.maxBacklog ?? 1000;
    this.maxSeries = o.maxSeries ?? 4096;
    this.maxAttempts = o.maxAttempts ?? 5;
  }

  /** Records an occurrence of an event. */
  record(target: EventTarget, type: EventType, reason: string, message: string): void {
    const m = target.metadata;
    const objKey = `${target.kind}\0${m.namespace ?? ''}\0${m.name}`;
    const msg = message.slice(0, 1024);
    const key = `${objKey}\0${m.uid ?? ''}\0${type}\0${reason}\0${msg}`;
    const now = new Date(this.clock.wall()).toISOString();
    let s = this.series.get(key);
    if (s?.state === 'idle' && this.backlog() >= this.maxBacklog) { this.drop(); return; }
    if (s) {
      this.series.delete(key); // most recently used last
      this.series.set(key, s);
    } else {
      if (this.backlog() >= this.maxBacklog) { this.drop(); return; }
      s = {
        key, objKey, namespace: m.namespace ?? this.o.eventNamespace ?? 'default', target, type, reason, message: msg,
        name: this.newName(m.name), created: false, occurrences: 0, written: 0, firstTimestamp: now, lastTimestamp: now,
        state: 'idle', attempts: 0, timer: undefined,
      };
      this.series.set(key, s);
      let keys = this.byObject.get(objKey);
      if (!keys) this.byObject.set(objKey, keys = new Set());
      keys.add(key);
      this.evict();
    }
    s.occurrences++;
    s.lastTimestamp = now;
    if (s.state === 'idle') this.enqueue(s);
  }

  /** Forgets an object's event series (after it was deleted); writes already waiting still go out. */
  forget(kind: string, namespace: string | undefined, name: string): void {
    const objKey = `${kind}\0${namespace ?? ''}\0${name}`;
    for (const k of this.byObject.get(objKey) ?? []) this.series.delete(k);
    this.byObject.delete(objKey);
  }

  /** Series waiting to be written (queued or waiting for a retry), as bounded by `maxBacklog`. */
  backlog(): number {
    return this.queue.length + this.waiting;
  }

  /** Series remembered for aggregation. */
  get size(): number {
    return this.series.size;
  }

  /** Resolves when nothing is queued or being written (retries waiting on a timer excluded). */
  async flushed(): Promise<void> {
    while (this.queue.length > 0 || this.inflight > 0) await new Promise<void>((r) => { setImmediate(r); });
  }

  private drop(): void {
    if (this.dropped++ % 1000 === 0) this.o.log.warn({ event: 'events_dropped', dropped: this.dropped }, 'event backlog full; dropping events');
  }

  private newName(objName: string): string {
    return `${objName.slice(0, 200)}.${this.clock.wall().toString(16)}${randomBytes(3).toString('hex')}`;
  }

  /** Keeps the remembered series bounded: the least recently used idle ones go first. */
  private evict(): void {
    if (this.series.size <= this.maxSeries) return;
    for (const s of this.series.values()) {
      if (this.series.size <= this.maxSeries) return;
      if (s.state === 'idle') this.forgetSeries(s);
    }
  }

  private enqueue(s: Series): void {
    s.state = 'queued';
    this.queue.push(s);
    this.drain();
  }

  private drain(): void {
    while (this.inflight < INFLIGHT) {
      const s = this.queue.shift();
      if (!s) return;
      this.inflight++;
      s.state = 'inflight';
      this.send(s).catch((e: unknown) => { this.o.log.error({ event: 'event_write_bug', err: String(e) }, 'event writer threw'); })
        .finally(() => { this.inflight--; this.drain(); });
    }
  }

  private async send(s: Series): Promise<void> {
    const count = s.occurrences;
    const create = !s.created;
    this.writes++;
    this.o.onWrite?.(create ? 'event_create' : 'event_patch');
    let r: ApiResponse | undefined;
    let err = '';
    try {
      r = create
        ? await this.o.client.request('POST', `/api/v1/namespaces/${encodeURIComponent(s.namespace)}/events`, this.body(s, count))
        : await this.o.client.request('PATCH', `/api/v1/namespaces/${encodeURIComponent(s.namespace)}/events/${encodeURIComponent(s.name)}`,
          { count, lastTimestamp: s.lastTimestamp }, 'application/merge-patch+json');
    } catch (e) {
      err = e instanceof Error ? e.message : String(e);
    }
    if (r && (r.status < 300 || (create && r.status === 409))) {
      // 409 on a create: an earlier attempt got through without its answer reaching us
      if (create) this.sent++; else this.patched++;
      s.created = true;
      s.written = count;
      s.attempts = 0;
      this.settle(s);
      return;
    }
    if (r && !create && r.status === 404) {
      // the Event expired: start a new one carrying the series' count
      s.created = false;
      s.name = this.newName(s.target.metadata.name);
      this.settle(s, true);
      return;
    }
    const retriable = r === undefined || r.status === 429 || r.status >= 500;
    const why = r ? statusMessage(r) : err;
    s.attempts++;
    if (!retriable || s.attempts >= this.maxAttempts) {
      this.o.log.warn({ event: 'event_write_failed', reason: s.reason, attempts: s.attempts, err: why }, 'could not write event; giving up');
      this.dropped++;
      s.attempts = 0;
      s.occurrences = s.written; // what was not written is lost; a later repeat starts from what the apiserver has
      s.state = 'idle';
      if (!s.created) this.forgetSeries(s);
      return;
    }
    const ms = Math.min((this.o.minRetryMs ?? 500) * 2 ** (s.attempts - 1), this.o.maxRetryMs ?? 10_000);
    this.o.log.debug({ event: 'event_write_retry', reason: s.reason, attempt: s.attempts, retryInMs: ms, err: why }, 'event write failed; retrying');
    s.state = 'waiting';
    this.waiting++;
    s.timer = this.clock.setTimeout(() => {
      s.timer = undefined;
      this.waiting--;
      this.enqueue(s);
    }, ms);
  }

  /** After a write: idle, unless repeats arrived meanwhile (or `again`), then written next. */
  private settle(s: Series, again = false): void {
    s.state = 'idle';
    if (again || s.occurrences > s.written) this.enqueue(s);
  }

  private forgetSeries(s: Series): void {
    if (this.series.get(s.key) !== s) return;
    this.series.delete(s.key);
    const keys = this.byObject.get(s.objKey);
    keys?.delete(s.key);
    if (keys?.size === 0) this.byObject.delete(s.objKey);
  }

  private body(s: Series, count: number): unknown {
    const t = s.target;
    return {
      apiVersion: 'v1', kind: 'Event',
      metadata: { name: s.name, namespace: s.namespace },
      involvedObject: { apiVersion: t.apiVersion, kind: t.kind, name: t.metadata.name, namespace: t.metadata.namespace, uid: t.metadata.uid, resourceVersion: t.metadata.resourceVersion },
      reason: s.reason, message: s.message, type: s.type,
      source: { component: this.o.component },
      reportingComponent: this.o.component,
      reportingInstance: this.o.component,
      firstTimestamp: s.firstTimestamp, lastTimestamp: s.lastTimestamp, count,
    };
  }
}
