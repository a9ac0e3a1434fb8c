/**
 * Leader election on a coordination.k8s.io/v1 Lease, the protocol client-go uses: the holder renews
 * `renewTime`; others take over once they have seen the record unchanged for a whole
 * `leaseDurationSeconds`, measured on their own monotonic clock from the moment they saw it change
 * (so neither clock skew between nodes nor wall-clock steps matter). Updates carry the
 * resourceVersion, so two candidates can never both win one version of the record.
 *
 * Why two electors never both act: a renewal sent at monotonic time `s` keeps us leading until
 * `s + renewDeadline` at most, whatever the request does afterwards: a step-down timer fires then
 * unless a later renewal was confirmed, and `isLeader` turns false at that instant too. A standby sees
 * that record no earlier than it was written (after `s`), and acquires no earlier than
 * `leaseDuration` after seeing it, which is later than `s + renewDeadline` because
 * `leaseDuration > renewDeadline`. Every Lease request carries its own deadline shorter than the
 * renew deadline and goes over a dedicated connection, so a stuck shared socket cannot hold a
 * renewal; a response that arrives after its renewal's validity has passed is ignored.
 */
import { realClock, type Clock, type Timer } from '../clock.ts';
import type { Logger } from '../log.ts';
import { statusMessage, type ApiResponse, type RequestOptions } from './client.ts';

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

/**
 * What the elector needs from a client: one request method. `KubeClient` fits; tests pass a fake
 * apiserver. The elector enforces its deadlines itself, so a client that ignores `opts` is still safe.
 */
export interface LeaseRequester {
  request<T = unknown>(method: string, path: string, body?: unknown, contentType?: string, opts?: RequestOptions): Promise<ApiResponse<T>>;
}

/** Leader election settings. */
export interface LeaderOptions {
  namespace: string;
  name: string;
  identity: string;
  /** How long a standby waits, after it last saw the record change, before it takes over (default 15 s). */
  leaseDurationSeconds?: number;
  /** How long after sending a renewal the leader may act without a newer confirmed one (default 10 s, at most 2/3 of the lease; must be shorter than it). */
  renewDeadlineMs?: number;
  /** Time between attempts (default 2 s, at most 1/5 of the renew deadline). */
  retryPeriodMs?: number;
  /** Deadline of each Lease request (default: half the renew deadline; must be shorter than it). */
  requestTimeoutMs?: number;
  /** Monotonic time and timers (default: the real clock). */
  clock?: Clock;
  /**
   * Keep the process alive while campaigning (default true). Clock timers never do, and a standby
   * has nothing else open: without this a standby with no metrics server would simply exit.
   */
  keepProcessAlive?: boolean;
  log: Logger;
  /** Called when this replica starts leading; it may act from now on. */
  onStartedLeading: () => void;
  /** Called the moment this replica must stop acting (renew deadline passed). Not called by `stop()`. */
  onStoppedLeading: () => void;
}

const microTime = (ms: number): string => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/** See the module comment. */
export class LeaderElector {
  private leading = false;
  /** Monotonic time until which the last confirmed renewal lets us act. */
  private validUntil = -Infinity;
  private stopped = true;
  /** Bumped by start/stop so a tick that outlived a stop() does nothing. */
  private generation = 0;
  private timer: Timer | undefined;
  private stepDown: Timer | undefined;
  private inflight: AbortController | undefined;
  private alive: NodeJS.Timeout | undefined;
  private observed: { raw: string; at: number } | undefined;
  private readonly clock: Clock;
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private readonly requestMs: number;
  private readonly connection: string;

  constructor(private readonly client: LeaseRequester, private readonly o: LeaderOptions) {
    this.clock = o.clock ?? realClock;
    this.leaseMs = (o.leaseDurationSeconds ?? 15) * 1000;
    // client-go's defaults (15 s / 10 s / 2 s), scaled down when only a shorter lease is configured
    this.renewDeadlineMs = o.renewDeadlineMs ?? Math.min(10_000, Math.floor(this.leaseMs * 2 / 3));
    this.retryMs = o.retryPeriodMs ?? Math.min(2000, Math.floor(this.renewDeadlineMs / 5));
    this.requestMs = o.requestTimeoutMs ?? Math.floor(this.renewDeadlineMs / 2);
    this.connection = `lease:${o.namespace}/${o.name}`;
    if (!(this.leaseMs > this.renewDeadlineMs)) throw new Error(`leader election: leaseDurationSeconds (${this.leaseMs} ms) must be longer than renewDeadlineMs (${this.renewDeadlineMs})`);
    if (!(this.requestMs > 0 && this.requestMs < this.renewDeadlineMs)) throw new Error(`leader election: requestTimeoutMs (${this.requestMs}) must be positive and shorter than renewDeadlineMs (${this.renewDeadlineMs})`);
    if (!(this.retryMs > 0 && this.retryMs < this.renewDeadlineMs)) throw new Error(`leader election: retryPeriodMs (${this.retryMs}) must be positive and shorter than renewDeadlineMs (${this.renewDeadlineMs})`);
  }

  /**
   * Whether this process may act as leader right now: a renewal was confirmed and its renew deadline
   * has not passed (checked against the clock, so it is false at the deadline even if a busy event
   * loop has not yet run the step-down timer).
   */
  get isLeader(): boolean {
    return this.leading && this.clock.now() < this.validUntil;
  }

  /** Milliseconds this replica may still act without another confirmed renewal (0 when not leading). */
  leaseValidForMs(): number {
    return this.isLeader ? this.validUntil - this.clock.now() : 0;
  }

  /** Starts campaigning in the background. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    if (this.o.keepProcessAlive ?? true) this.alive = setInterval(() => undefined, 2 ** 30);
    const gen = ++this.generation;
    void this.tick(gen);
  }

  /**
   * Stops campaigning and cancels any Lease request in flight. A replica that led stops being leader
   * at once (without `onStoppedLeading`: the caller is stopping it) and, when the record still names
   * it, releases the Lease so a standby takes over without waiting for expiry.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.generation++;
    this.timer?.cancel();
    this.stepDown?.cancel();
    this.inflight?.abort();
    this.inflight = undefined;
    clearInterval(this.alive);
    const wasLeading = this.leading;
    this.leading = false;
    this.validUntil = -Infinity;
    if (!wasLeading) return;
    try {
      const ac = new AbortController();
      const cur = await this.get(ac.signal);
      if (cur && cur.spec.holderIdentity === this.o.identity) {
        const spec = { ...cur.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(this.clock.wall()) };
        await this.call('PUT', this.path(cur.metadata.name), { ...cur, spec }, ac.signal);
      }
    } catch (e) {
      this.o.log.warn({ event: 'lease_release_failed', err: String(e) }, 'could not release lease');
    }
  }

  private path(name?: string): string {
    const base = `/apis/coordination.k8s.io/v1/namespaces/${this.o.namespace}/leases`;
    return name ? `${base}/${name}` : base;
  }

  /** One Lease request with its own deadline, enforced here as well as by the client. */
  private async call<T>(method: string, path: string, body: unknown, signal: AbortSignal): Promise<ApiResponse<T>> {
    if (signal.aborted) throw new Error(`lease ${method}: cancelled`);
    const ac = new AbortController();
    let timer: Timer | undefined;
    let onAbort: (() => void) | undefined;
    const stop = new Promise<never>((_, reject) => {
      timer = this.clock.setTimeout(() => {
        ac.abort();
        reject(new Error(`lease ${method}: no answer within ${this.requestMs} ms`));
      }, this.requestMs);
      onAbort = () => { ac.abort(); reject(new Error(`lease ${method}: cancelled`)); };
      signal.addEventListener('abort', onAbort);
    });
    try {
      return await Promise.race([
        this.client.request<T>(method, path, body, 'application/json', { timeoutMs: this.requestMs, signal: ac.signal, connection: this.connection }),
        stop,
      ]);
    } finally {
      timer?.cancel();
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  private async get(signal: AbortSignal): Promise<Lease | undefined> {
    const r = await this.call<Lease>('GET', this.path(this.o.name), undefined, signal);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new Error(`get lease: ${statusMessage(r)}`);
    return r.body;
  }

  private async tick(gen: number): Promise<void> {
    if (gen !== this.generation) return;
    const ac = new AbortController();
    this.inflight = ac;
    let sentAt: number | undefined;
    try {
      sentAt = await this.tryAcquireOrRenew(ac.signal);
    } catch (e) {
      if (gen === this.generation) this.o.log.warn({ event: 'lease_error', err: String(e) }, 'lease request failed');
    }
    if (gen !== this.generation) return;
    this.inflight = undefined;
    if (sentAt !== undefined) this.confirmed(sentAt);
    this.timer = this.clock.setTimeout(() => { void this.tick(gen); }, this.retryMs);
  }

  /** A renewal (or acquisition) sent at `sentAt` was confirmed by the apiserver. */
  private confirmed(sentAt: number): void {
    const until = sentAt + this.renewDeadlineMs;
    const now = this.clock.now();
    if (now >= until || until <= this.validUntil) return; // confirmed too late to act on, or nothing new
    this.validUntil = until;
    this.stepDown?.cancel();
    this.stepDown = this.clock.setTimeout(() => { this.deadlinePassed(); }, until - now);
    if (!this.leading) {
      this.leading = true;
      this.o.log.info({ event: 'leader_elected', identity: this.o.identity }, 'became leader');
      this.o.onStartedLeading();
    }
  }

  private deadlinePassed(): void {
    if (!this.leading || this.clock.now() < this.validUntil) return;
    this.leading = false;
    this.o.log.warn({ event: 'leader_lost', identity: this.o.identity, renewDeadlineMs: this.renewDeadlineMs }, 'no renewal confirmed within the renew deadline; stopped leading');
    this.o.onStoppedLeading();
  }

  /** One attempt: returns the monotonic time the successful write was sent, or undefined. */
  private async tryAcquireOrRenew(signal: AbortSignal): Promise<number | undefined> {
    const duration = this.leaseMs / 1000;
    const cur = await this.get(signal);
    const seenAt = this.clock.now(); // when we saw the record: after it was written, never before
    if (!cur) {
      const sentAt = this.clock.now();
      const wall = microTime(this.clock.wall());
      const lease: Lease = {
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
        metadata: { name: this.o.name, namespace: this.o.namespace },
        spec: { holderIdentity: this.o.identity, leaseDurationSeconds: duration, acquireTime: wall, renewTime: wall, leaseTransitions: 0 },
      };
      const r = await this.call<Lease>('POST', this.path(), lease, signal);
      if (r.status !== 201) return undefined;
      this.observed = { raw: record(r.body), at: this.clock.now() };
      return sentAt;
    }
    const raw = record(cur);
    if (this.observed?.raw !== raw) this.observed = { raw, at: seenAt };
    const holder = cur.spec.holderIdentity ?? '';
    const mine = holder === this.o.identity;
    const leaseMs = (cur.spec.leaseDurationSeconds ?? duration) * 1000;
    if (!mine && holder !== '' && this.clock.now() < this.observed.at + leaseMs) return undefined;
    const sentAt = this.clock.now();
    const wall = microTime(this.clock.wall());
    const spec = {
      holderIdentity: this.o.identity,
      leaseDurationSeconds: duration,
      acquireTime: mine ? cur.spec.acquireTime ?? wall : wall,
      renewTime: wall,
      leaseTransitions: (cur.spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
    };
    const r = await this.call<Lease>('PUT', this.path(this.o.name), { ...cur, spec }, signal);
    if (r.status !== 200) return undefined;
    this.observed = { raw: record(r.body), at: this.clock.now() };
    return sentAt;
  }
}

/** What identifies one version of the record: any write changes the resourceVersion, a renewal also the spec. */
function record(l: Lease): string {
  return `${l.metadata.resourceVersion ?? ''}|${JSON.stringify(l.spec)}`;
}
