/**
 * Speaker membership Leases: one `coordination.k8s.io/v1` Lease per speaker (never one per Service, so the
 * API cost does not grow with the number of Services), and the observer's judgement of everyone's Lease.
 *
 * {@link SpeakerLease} creates and renews this node's Lease `SPEAKER_LEASE_PREFIX + node` in the system
 * namespace, every request with its own deadline, and says whether the apiserver is reachable for us
 * ({@link SpeakerLease.healthy}): the liveness layer freezes Lease freshness while it is not, so an apiserver
 * outage cannot expire anyone. {@link LeaseWatch} is fed the Lease objects an informer sees and judges
 * freshness on the OBSERVER's monotonic clock, from the moment it saw a Lease change, never by comparing
 * the remote `renewTime` with our wall clock (node clocks disagree; wall clocks step).
 */
import { realClock, type Clock, type Timer } from '../clock.ts';
import { SPEAKER_LEASE_LABEL, SPEAKER_LEASE_PREFIX, SYSTEM_NAMESPACE } from '../api/keys.ts';
import type { Logger } from '../log.ts';
import { statusMessage, type ApiResponse } from '../k8s/client.ts';
import type { LeaseRequester } from '../k8s/leader.ts';

export type { LeaseRequester };

/** The Lease shape written and read here (the fields we use; others are carried through on update). */
export interface SpeakerLeaseObject {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string>; [k: string]: unknown };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; [k: string]: unknown };
}

/** The Lease name of a node's speaker. */
export function speakerLeaseName(node: string): string {
  return `${SPEAKER_LEASE_PREFIX}${node}`;
}

/**
 * The {@link SPEAKER_LEASE_LABEL} value for a node: its name, or `''` when the name is not a valid label
 * value (node names may be 253-character DNS names; label values stop at 63). The label exists either way,
 * so a selector on the key still finds the Lease; its holderIdentity always names the node.
 */
export function speakerLeaseLabelValue(node: string): string {
  return /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/.test(node) ? node : '';
}

/** MicroTime text with six fractional digits, as the apiserver writes it. */
const microTime = (ms: number): string => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/** Settings of {@link SpeakerLease}. */
export interface SpeakerLeaseOptions {
  node: string;
  log: Logger;
  clock?: Clock;
  /** Default {@link SYSTEM_NAMESPACE}. */
  namespace?: string;
  /** Written into the Lease; how long others keep us fresh without a renewal (default 15). */
  leaseDurationSeconds?: number;
  /** Time between renewals (default a third of the duration). */
  renewIntervalMs?: number;
  /** Time before retrying a failed renewal (default min(2 s, renew interval)). */
  retryIntervalMs?: number;
  /** Deadline of every request (default half the renew interval). */
  requestTimeoutMs?: number;
}

/** See the module comment. */
export class SpeakerLease {
  private readonly clock: Clock;
  private readonly ns: string;
  private readonly name: string;
  private readonly durationS: number;
  private readonly renewMs: number;
  private readonly retryMs: number;
  private readonly requestMs: number;
  private readonly connection: string;
  private obj: SpeakerLeaseObject | undefined;
  private started = false;
  private stopped = false;
  private timer: Timer | undefined;
  private healthTimer: Timer | undefined;
  private inflight: AbortController | undefined;
  /** Monotonic time until which the last confirmed renewal keeps us healthy. */
  private validUntil = -Infinity;
  private lastAttemptOk = false;
  private wasHealthy = false;
  private readonly listeners = new Set<(healthy: boolean) => void>();
  /** Renewals confirmed (for status). */
  renewals = 0;
  /** Renewal attempts that failed (for status and metrics). */
  failures = 0;

  constructor(private readonly client: LeaseRequester, private readonly o: SpeakerLeaseOptions) {
    this.clock = o.clock ?? realClock;
    this.ns = o.namespace ?? SYSTEM_NAMESPACE;
    this.name = speakerLeaseName(o.node);
    this.durationS = o.leaseDurationSeconds ?? 15;
    this.renewMs = o.renewIntervalMs ?? Math.floor(this.durationS * 1000 / 3);
    this.retryMs = o.retryIntervalMs ?? Math.min(2000, this.renewMs);
    this.requestMs = o.requestTimeoutMs ?? Math.floor(this.renewMs / 2);
    this.connection = `lease:${this.ns}/${this.name}`;
    if (!(Number.isInteger(this.durationS) && this.durationS >= 1)) throw new Error(`speaker lease: leaseDurationSeconds ${this.durationS} must be a whole number >= 1`);
    if (!(this.renewMs > 0 && this.renewMs < this.durationS * 1000)) throw new Error(`speaker lease: renewIntervalMs (${this.renewMs}) must be positive and shorter than the lease`);
    if (!(this.requestMs > 0 && this.requestMs < this.renewMs)) throw new Error(`speaker lease: requestTimeoutMs (${this.requestMs}) must be positive and shorter than renewIntervalMs`);
  }

  /** Starts renewing (the first attempt at once). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    void this.tick();
  }

  /**
   * Whether we can reach the apiserver: the last renewal attempt succeeded and it was sent less than the
   * lease duration ago. A failed attempt turns this false at once (not only when the duration runs out):
   * the liveness layer must freeze Lease freshness before other speakers' Leases, which we stop seeing
   * renewed at the same moment, go stale on our clock.
   */
  healthy(): boolean {
    return !this.stopped && this.lastAttemptOk && this.clock.now() < this.validUntil;
  }

  /** Calls `cb` on every change of {@link healthy}. Returns an unsubscribe. */
  onHealth(cb: (healthy: boolean) => void): () => void {
    this.listeners.add(cb);
    return () => { this.listeners.delete(cb); };
  }

  /** Stops renewing and cancels a request in flight; the Lease stays (it expires on others' clocks). */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.healthTimer?.cancel();
    this.inflight?.abort();
    this.inflight = undefined;
  }

  /** Stops and deletes the Lease, so others drop us at once (shutdown). Never rejects; failures are logged. */
  async delete(): Promise<void> {
    this.stop();
    try {
      const r = await this.call('DELETE', this.path(this.name), undefined, new AbortController().signal);
      if (r.status === 200 || r.status === 202 || r.status === 404) {
        this.o.log.info({ event: 'speaker_lease_deleted', lease: this.name }, 'speaker lease deleted');
        return;
      }
      this.o.log.warn({ event: 'speaker_lease_delete_failed', lease: this.name, err: statusMessage(r) }, 'could not delete speaker lease');
    } catch (e) {
      this.o.log.warn({ event: 'speaker_lease_delete_failed', lease: this.name, err: String(e) }, 'could not delete speaker lease');
    }
  }

  private path(name?: string): string {
    const base = `/apis/coordination.k8s.io/v1/namespaces/${this.ns}/leases`;
    return name === undefined ? base : `${base}/${name}`;
  }

  /** One request with its own deadline, enforced here whatever the client does with `opts`. */
  private async call<T>(method: string, path: string, body: unknown, signal: AbortSignal): Promise<ApiResponse<T>> {
    if (signal.aborted) throw new Error(`lease ${method}: cancelled`);
    const ac = new AbortController();
    let timer: Timer | undefined;
    let onAbort: (() => void) | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = this.clock.setTimeout(() => { ac.abort(); reject(new Error(`lease ${method}: no answer within ${this.requestMs} ms`)); }, this.requestMs);
      onAbort = () => { ac.abort(); reject(new Error(`lease ${method}: cancelled`)); };
      signal.addEventListener('abort', onAbort);
    });
    try {
      return await Promise.race([
        this.client.request<T>(method, path, body, 'application/json', { timeoutMs: this.requestMs, signal: ac.signal, connection: this.connection }),
        deadline,
      ]);
    } finally {
      timer?.cancel();
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const startedAt = this.clock.now();
    const ac = new AbortController();
    this.inflight = ac;
    let sentAt: number | undefined;
    try {
      sentAt = await this.renew(ac.signal);
    } catch (e) {
      if (!this.halted()) this.o.log.warn({ event: 'speaker_lease_error', lease: this.name, err: String(e) }, 'speaker lease request failed');
    }
    if (this.halted()) return;
    this.inflight = undefined;
    if (sentAt === undefined) {
      this.failures++;
      this.lastAttemptOk = false;
    } else {
      this.renewals++;
      this.lastAttemptOk = true;
      this.validUntil = Math.max(this.validUntil, sentAt + this.durationS * 1000);
      this.healthTimer?.cancel();
      const left = this.validUntil - this.clock.now();
      if (left > 0) this.healthTimer = this.clock.setTimeout(() => { this.emitHealth(); }, left);
    }
    this.emitHealth();
    // paced from the attempt's start, so request latency does not stretch the renewal period
    const wait = (sentAt === undefined ? this.retryMs : this.renewMs) - (this.clock.now() - startedAt);
    this.timer = this.clock.setTimeout(() => { void this.tick(); }, Math.max(0, wait));
  }

  /** Read through a call, so checks after an `await` are not narrowed away (stop() may run meanwhile). */
  private halted(): boolean {
    return this.stopped;
  }

  private emitHealth(): void {
    const h = this.healthy();
    if (h === this.wasHealthy) return;
    this.wasHealthy = h;
    this.o.log[h ? 'info' : 'warn']({ event: h ? 'speaker_lease_healthy' : 'speaker_lease_unhealthy', lease: this.name }, h ? 'speaker lease renewing' : 'speaker lease not renewed');
    for (const cb of [...this.listeners]) {
      try { cb(h); } catch (e) { this.o.log.error({ event: 'speaker_lease_listener_failed', err: String(e) }, 'onHealth listener threw'); }
    }
  }

  /** What we write: the current object (if any) with our holder, duration, renewTime and label. */
  private desired(cur: SpeakerLeaseObject | undefined): SpeakerLeaseObject {
    const wall = microTime(this.clock.wall());
    const metadata: SpeakerLeaseObject['metadata'] = cur ? { ...cur.metadata } : { name: this.name, namespace: this.ns };
    metadata.labels = { ...(cur?.metadata.labels ?? {}), [SPEAKER_LEASE_LABEL]: speakerLeaseLabelValue(this.o.node) };
    return {
      apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata,
      spec: {
        ...(cur?.spec ?? {}),
        holderIdentity: this.o.node,
        leaseDurationSeconds: this.durationS,
        acquireTime: cur?.spec.holderIdentity === this.o.node ? cur.spec.acquireTime ?? wall : wall,
        renewTime: wall,
      },
    };
  }

  /**
   * One renewal: PUT on the object we last wrote (one request in steady state); on a conflict or a missing
   * object, read it again or create it. Returns the monotonic time the successful write was sent.
   */
  private async renew(signal: AbortSignal): Promise<number | undefined> {
    for (let step = 0; step < 3; step++) {
      if (!this.obj) {
        const g = await this.call<SpeakerLeaseObject>('GET', this.path(this.name), undefined, signal);
        if (g.status === 200) {
          this.obj = g.body;
        } else if (g.status === 404) {
          const sentAt = this.clock.now();
          const r = await this.call<SpeakerLeaseObject>('POST', this.path(), this.desired(undefined), signal);
          if (r.status === 201) { this.obj = r.body; return sentAt; }
          if (r.status === 409) continue; // created meanwhile (our previous pod): read it
          throw new Error(`create lease: ${statusMessage(r)}`);
        } else {
          throw new Error(`get lease: ${statusMessage(g)}`);
        }
      }
      const sentAt = this.clock.now();
      const r = await this.call<SpeakerLeaseObject>('PUT', this.path(this.name), this.desired(this.obj), signal);
      if (r.status === 200) { this.obj = r.body; return sentAt; }
      if (r.status === 409 || r.status === 404) { this.obj = undefined; continue; }
      throw new Error(`renew lease: ${statusMessage(r)}`);
    }
    throw new Error('renew lease: conflicts kept coming');
  }
}

// -----------------------------------------------------------------------------------------------------

/** What {@link LeaseWatch} reads of a Lease (a speaker Lease from the informer fits). */
export interface WatchedLease {
  readonly metadata: { readonly name: string; readonly resourceVersion?: string };
  readonly spec?: { readonly holderIdentity?: string; readonly renewTime?: string; readonly leaseDurationSeconds?: number };
}

/** Settings of {@link LeaseWatch}. */
export interface LeaseWatchOptions {
  clock?: Clock;
  /** Used when a Lease has no `leaseDurationSeconds` (default 15). */
  defaultDurationSeconds?: number;
  /** Where a throwing listener is reported. */
  log?: Logger;
}

interface Seen { raw: string; changedAt: number; durationMs: number; held: boolean; timer: Timer | undefined }

/** Longest duration believed from a Lease (1 h): a typo'd huge value must not keep a dead node forever. */
const MAX_DURATION_MS = 3_600_000;

/**
 * Tracks the speakers' Leases as an informer delivers them and judges each on the observer's clock: a Lease
 * is fresh while less than its `leaseDurationSeconds` has passed since we saw its resourceVersion or
 * renewTime change (the first sighting counts as a change: we cannot know when it was written). A Lease whose
 * holderIdentity is empty (released) is not fresh; a deleted one is forgotten.
 */
export class LeaseWatch {
  private readonly clock: Clock;
  private readonly defaultMs: number;
  private readonly log: Logger | undefined;
  private readonly seen = new Map<string, Seen>();
  private current = new Map<string, boolean>();
  private readonly listeners = new Set<(fresh: ReadonlyMap<string, boolean>) => void>();

  constructor(o: LeaseWatchOptions = {}) {
    this.clock = o.clock ?? realClock;
    this.defaultMs = (o.defaultDurationSeconds ?? 15) * 1000;
    this.log = o.log;
  }

  /** The Lease of `node` as the informer has it now (undefined: deleted). */
  observe(lease: WatchedLease | undefined, node: string): void {
    const prev = this.seen.get(node);
    if (!lease) {
      if (prev) { prev.timer?.cancel(); this.seen.delete(node); }
      this.update();
      return;
    }
    const spec = lease.spec ?? {};
    const raw = `${lease.metadata.resourceVersion ?? ''}|${spec.renewTime ?? ''}|${spec.holderIdentity ?? ''}`;
    const d = spec.leaseDurationSeconds;
    const durationMs = d !== undefined && Number.isFinite(d) && d > 0 ? Math.min(d * 1000, MAX_DURATION_MS) : this.defaultMs;
    const held = (spec.holderIdentity ?? '') !== '';
    if (prev?.raw === raw && prev.durationMs === durationMs) return; // a resync: nothing changed, nothing renewed
    prev?.timer?.cancel();
    const s: Seen = { raw, changedAt: this.clock.now(), durationMs, held, timer: undefined };
    this.seen.set(node, s);
    s.timer = this.clock.setTimeout(() => { s.timer = undefined; this.update(); }, durationMs);
    this.update();
  }

  /** Whether `node`'s Lease is fresh now. */
  isFresh(node: string): boolean {
    const s = this.seen.get(node);
    return s !== undefined && s.held && this.clock.now() < s.changedAt + s.durationMs;
  }

  /** Node → fresh, for every node with a Lease (fed to `Liveness.setLeases`). */
  fresh(): ReadonlyMap<string, boolean> {
    return this.current;
  }

  /** Calls `cb` whenever {@link fresh} changes, expiry included (a Clock timer per Lease). Returns an unsubscribe. */
  onChange(cb: (fresh: ReadonlyMap<string, boolean>) => void): () => void {
    this.listeners.add(cb);
    return () => { this.listeners.delete(cb); };
  }

  /** Cancels the expiry timers. */
  stop(): void {
    for (const s of this.seen.values()) s.timer?.cancel();
  }

  private update(): void {
    const next = new Map<string, boolean>();
    for (const n of [...this.seen.keys()].sort()) next.set(n, this.isFresh(n));
    if (next.size === this.current.size && [...next].every(([n, f]) => this.current.get(n) === f)) return;
    this.current = next;
    for (const cb of [...this.listeners]) {
      try { cb(next); } catch (e) { this.log?.error({ event: 'lease_watch_listener_failed', err: String(e) }, 'LeaseWatch listener threw'); }
    }
  }
}
