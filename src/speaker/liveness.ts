/**
 * Speaker liveness: who among the speakers is alive, suspect or leaving, as this observer sees it.
 *
 * Two signals feed it. Direct heartbeats ({@link ./heartbeat.ts}) every `intervalMs` to every peer's node
 * addresses detect a crashed speaker within `timeoutMs` (sub-second failover). Membership Leases, judged by
 * the daemon's {@link LeaseWatch} on our own clock, keep a speaker that we cannot hear directly in the view as
 * `suspect` (crashed, or only the heartbeat path is cut): the takeover engine then probes the data plane
 * before taking its IPs, so a partitioned heartbeat path cannot cause split brain. While the apiserver is
 * unreachable, Lease freshness is frozen at its last healthy value: an API outage must not expire anyone,
 * and a crash is still seen directly.
 *
 * State rules for a peer P (the observer itself is always `alive`, or `leaving` after {@link Liveness.leave}):
 * - `leaving` if P's latest accepted heartbeat said so, for at most `leavingHoldMs` after it, and only while
 *   P is still heard (within `timeoutMs`) or its Lease is fresh (a speaker deletes its Lease on the way out);
 * - else `alive` if a valid heartbeat from P arrived less than `timeoutMs` ago (observer's monotonic clock);
 * - else `suspect` if P's Lease is fresh;
 * - else P is absent from the view.
 * A heartbeat is accepted only with a valid MAC, from a node in the peer set, and with (incarnation, seq)
 * greater than the last accepted from that node; anything else is counted, rate-limited logged and ignored.
 *
 * I/O sits behind {@link DatagramPort}; {@link UdpPort} is the production one over `node:dgram`.
 */
import dgram from 'node:dgram';
import { realClock, type Clock, type Timer } from '../clock.ts';
import { HEARTBEAT_PORT } from '../api/keys.ts';
import type { Logger } from '../log.ts';
import { canonicalIP } from '../net/ip.ts';
import { MIN_KEY_BYTES, decodeHeartbeat, encodeHeartbeat, newIncarnation } from './heartbeat.ts';
import type { InterfaceState, MemberState, MemberView } from './types.ts';

/** The datagram I/O liveness needs: tests pass a fake, production a {@link UdpPort}. */
export interface DatagramPort {
  /** Sends one datagram; failures are the port's to log, never thrown. */
  send(buf: Buffer, address: string, port: number): void;
  /** Registers the receiver of every datagram that arrives (with the sender's address). */
  onMessage(cb: (buf: Buffer, fromAddress: string) => void): void;
  close(): void;
}

/** Why a received datagram was not accepted. `duplicate` is the second copy of a beat sent over both families. */
export const REJECT_REASONS = [
  'truncated', 'bad-magic', 'bad-version', 'bad-mac', 'malformed', 'no-key', 'self', 'unknown-node', 'replay', 'duplicate',
] as const;
/** One of {@link REJECT_REASONS}. */
export type RejectReason = (typeof REJECT_REASONS)[number];

/** Counters for status and metrics (the daemon turns them into Prometheus metrics). */
export interface LivenessStats {
  /** Datagrams handed to the port. */
  sent: number;
  /** Datagrams received (accepted or not). */
  received: number;
  accepted: number;
  rejected: Record<RejectReason, number>;
  /** Peers that went from `alive` to `suspect` or absent (not counting a graceful `leaving`). */
  losses: number;
}

/** Liveness settings; everything but `node`, `port` and `log` has a default. */
export interface LivenessOptions {
  /** This node's name (as in heartbeats and Lease names). */
  node: string;
  port: DatagramPort;
  log: Logger;
  clock?: Clock;
  /** Time between heartbeats (default 100 ms). */
  intervalMs?: number;
  /** A peer not heard for this long is no longer `alive` (default 350 ms: three beats and some jitter). */
  timeoutMs?: number;
  /** Longest a peer stays `leaving` after its last leaving beat (default timeoutMs × 10). */
  leavingHoldMs?: number;
  /** Destination UDP port on peers (default {@link HEARTBEAT_PORT}). */
  peerPort?: number;
  /** After a key change the previous key is still accepted this long (default 60 s), easing rotation. */
  keyGraceMs?: number;
  /** This process's incarnation (default: {@link newIncarnation} from the wall clock). */
  incarnation?: bigint;
}

interface Peer {
  addresses: string[];
  incarnation: bigint | undefined;
  seq: number;
  heardAt: number | undefined;
  leaving: boolean;
  interfaces: readonly InterfaceState[];
  ifaceKey: string;
  timer: Timer | undefined;
  timerAt: number;
}

const REJECT_LOG_MS = 10_000;
const NO_INTERFACES: readonly InterfaceState[] = Object.freeze([]);

/** See the module comment. */
export class Liveness {
  /** Counters; read them, do not write them. */
  readonly stats: LivenessStats = {
    sent: 0, received: 0, accepted: 0, losses: 0,
    rejected: Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>,
  };

  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly leavingHoldMs: number;
  private readonly peerPort: number;
  private readonly keyGraceMs: number;
  private incarnation: bigint;
  private seq = 0;

  private key: Buffer | undefined;
  private prevKey: { key: Buffer; until: number } | undefined;
  private noKeyLogged = false;
  private omittedLogged = false;

  private local: readonly InterfaceState[] = NO_INTERFACES;
  private localKey = '[]';
  private readonly peers = new Map<string, Peer>();
  private latestLeases: ReadonlyMap<string, boolean> = new Map();
  private leases: ReadonlyMap<string, boolean> = new Map();
  private apiHealthy = true;

  private started = false;
  private stopped = false;
  private leavingSelf = false;
  private leaveDone: Promise<void> | undefined;
  private finishLeave: (() => void) | undefined;
  /** Sends left once leaving; undefined while not leaving. */
  private leaveSendsLeft: number | undefined;
  private tickTimer: Timer | undefined;

  private current: ReadonlyMap<string, MemberView>;
  private readonly listeners = new Set<(view: ReadonlyMap<string, MemberView>) => void>();
  private notifying = false;
  private again = false;
  private readonly rejectLog = new Map<RejectReason, { last: number; count: number }>();

  constructor(private readonly o: LivenessOptions) {
    this.clock = o.clock ?? realClock;
    this.log = o.log;
    this.intervalMs = o.intervalMs ?? 100;
    this.timeoutMs = o.timeoutMs ?? 350;
    this.leavingHoldMs = o.leavingHoldMs ?? this.timeoutMs * 10;
    this.peerPort = o.peerPort ?? HEARTBEAT_PORT;
    this.keyGraceMs = o.keyGraceMs ?? 60_000;
    this.incarnation = o.incarnation ?? newIncarnation(this.clock.wall());
    if (!(this.intervalMs > 0 && this.timeoutMs > this.intervalMs)) throw new Error(`liveness: timeoutMs (${this.timeoutMs}) must exceed intervalMs (${this.intervalMs}) > 0`);
    this.current = this.compute();
    o.port.onMessage((buf, from) => { this.receive(buf, from); });
  }

  /** Starts sending: one heartbeat now, then every `intervalMs`. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.tick();
  }

  /**
   * Stops all timers and ignores further datagrams; a pending {@link leave} resolves. The port is the
   * caller's to close.
   */
  stop(): void {
    this.stopped = true;
    this.tickTimer?.cancel();
    for (const p of this.peers.values()) p.timer?.cancel();
    this.finishLeave?.();
  }

  /**
   * The current view: this node and every peer that is alive, suspect or leaving (absent ones are left out).
   * It changes only together with an {@link onChange} notification.
   */
  view(): ReadonlyMap<string, MemberView> {
    return this.current;
  }

  /** Calls `cb` synchronously once per change of {@link view} (expiry included). Returns an unsubscribe. */
  onChange(cb: (view: ReadonlyMap<string, MemberView>) => void): () => void {
    this.listeners.add(cb);
    return () => { this.listeners.delete(cb); };
  }

  /**
   * This node's interfaces (announcing ones first: a heartbeat carries as many as fit). A change is sent at
   * once. `leaving: true` is the same as {@link leave} (leaving never turns off again).
   */
  setLocal(interfaces: readonly InterfaceState[], leaving = false): void {
    const k = JSON.stringify(interfaces);
    if (k !== this.localKey) {
      this.local = [...interfaces];
      this.localKey = k;
      this.recompute();
      if (!leaving) this.sendNow();
    }
    if (leaving) void this.leave();
  }

  /**
   * The other speakers and their node addresses (the daemon feeds Node InternalIPs). Heartbeats go to every
   * address and are accepted only from these nodes. A peer that is dropped is forgotten (replay state too).
   */
  setPeers(peers: ReadonlyMap<string, readonly string[]>): void {
    let added = false;
    for (const [node, p] of this.peers) {
      if (!peers.has(node) || node === this.o.node) {
        p.timer?.cancel();
        this.peers.delete(node);
      }
    }
    for (const [node, addrs] of peers) {
      if (node === this.o.node) continue;
      const addresses: string[] = [];
      for (const a of addrs) {
        const c = canonicalIP(a); // never a hostname: dgram would resolve it
        if (c !== undefined && !addresses.includes(c)) addresses.push(c);
      }
      const p = this.peers.get(node);
      if (!p) {
        this.peers.set(node, { addresses, incarnation: undefined, seq: 0, heardAt: undefined, leaving: false, interfaces: NO_INTERFACES, ifaceKey: '[]', timer: undefined, timerAt: Infinity });
        added ||= addresses.length > 0;
      } else {
        added ||= addresses.some((a) => !p.addresses.includes(a));
        p.addresses = addresses;
      }
    }
    this.recompute();
    if (added) this.sendNow();
  }

  /**
   * The heartbeat key from the Secret (undefined: none). Without a key nothing is sent and nothing accepted;
   * a key shorter than {@link MIN_KEY_BYTES} counts as none. The previous key stays accepted for `keyGraceMs`.
   */
  setKey(key: Buffer | undefined): void {
    let k = key;
    if (k !== undefined && k.length < MIN_KEY_BYTES) {
      this.log.error({ event: 'heartbeat_key_too_short', bytes: k.length, min: MIN_KEY_BYTES }, 'heartbeat key too short; heartbeats disabled');
      k = undefined;
    }
    if (k === undefined ? this.key === undefined : this.key?.equals(k) === true) return;
    if (this.key) this.prevKey = { key: this.key, until: this.clock.now() + this.keyGraceMs };
    this.key = k === undefined ? undefined : Buffer.from(k);
    if (this.key) {
      if (this.noKeyLogged) this.log.info({ event: 'heartbeat_key_set' }, 'heartbeat key available; sending heartbeats');
      this.noKeyLogged = false;
      this.sendNow();
    }
  }

  /** Lease freshness per node, from the daemon's LeaseWatch; frozen while the API is unhealthy. */
  setLeases(fresh: ReadonlyMap<string, boolean>): void {
    this.latestLeases = new Map(fresh);
    if (this.apiHealthy) {
      this.leases = this.latestLeases;
      this.recompute();
    }
  }

  /**
   * Whether the apiserver is reachable (e.g. our own Lease renews). While false, Lease freshness stays at its
   * last healthy value; on recovery the latest freshness applies.
   */
  setApiHealthy(healthy: boolean): void {
    if (healthy === this.apiHealthy) return;
    this.apiHealthy = healthy;
    if (healthy) {
      this.log.info({ event: 'liveness_leases_live' }, 'apiserver reachable; lease freshness applies again');
      this.leases = this.latestLeases;
      this.recompute();
    } else {
      this.log.warn({ event: 'liveness_leases_frozen' }, 'apiserver unreachable; lease freshness frozen, heartbeats still detect crashes');
    }
  }

  /**
   * Announces that this node is shutting down: `leaving` heartbeats at once and three more `intervalMs`
   * apart, then no more sends (datagrams are still received). Resolves after the last one.
   */
  leave(): Promise<void> {
    if (this.leaveDone) return this.leaveDone;
    this.leaveDone = new Promise((resolve) => { this.finishLeave = resolve; });
    this.leavingSelf = true;
    this.leaveSendsLeft = 4;
    this.recompute();
    this.tickTimer?.cancel();
    if (this.stopped) this.finishLeave?.();
    else this.tick();
    return this.leaveDone;
  }

  /** Milliseconds since the last accepted heartbeat from `node` (undefined: never heard, or not a peer). */
  lastHeardAgeMs(node: string): number | undefined {
    const at = this.peers.get(node)?.heardAt;
    return at === undefined ? undefined : this.clock.now() - at;
  }

  /** {@link lastHeardAgeMs} for every peer (undefined for those never heard), for status and metrics. */
  lastHeardAges(): ReadonlyMap<string, number | undefined> {
    const now = this.clock.now();
    return new Map([...this.peers].map(([n, p]) => [n, p.heardAt === undefined ? undefined : now - p.heardAt]));
  }

  // ---------------------------------------------------------------------------------------------------
  // sending

  private tick(): void {
    if (this.stopped) return;
    if (this.leaveSendsLeft !== undefined) {
      if (this.leaveSendsLeft <= 0) { this.finishLeave?.(); return; }
      this.leaveSendsLeft--;
    }
    this.send();
    if (this.leaveSendsLeft === 0) { this.finishLeave?.(); return; }
    this.tickTimer = this.clock.setTimeout(() => { this.tick(); }, this.intervalMs);
  }

  /** An out-of-schedule heartbeat after a change, while the periodic ones run. */
  private sendNow(): void {
    if (this.started && !this.stopped && this.leaveSendsLeft === undefined) this.send();
  }

  private send(): void {
    try {
      if (!this.key) {
        if (!this.noKeyLogged) this.log.warn({ event: 'heartbeat_no_key' }, 'no heartbeat key yet; not sending heartbeats');
        this.noKeyLogged = true;
        return;
      }
      if (this.seq > 0xffffffff) { this.incarnation++; this.seq = 0; }
      const { buf, omitted } = encodeHeartbeat({ node: this.o.node, incarnation: this.incarnation, seq: this.seq++, leaving: this.leavingSelf, interfaces: this.local }, this.key);
      if (omitted > 0 && !this.omittedLogged) {
        this.omittedLogged = true;
        this.log.warn({ event: 'heartbeat_interfaces_omitted', omitted }, 'too many interfaces for one heartbeat; the last ones are not reported');
      }
      for (const p of this.peers.values()) {
        for (const a of p.addresses) {
          this.o.port.send(buf, a, this.peerPort);
          this.stats.sent++;
        }
      }
    } catch (e) {
      this.log.error({ event: 'heartbeat_send_failed', err: String(e) }, 'heartbeat send failed');
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // receiving

  private receive(buf: Buffer, from: string): void {
    if (this.stopped) return;
    try {
      this.stats.received++;
      if (!this.key) { this.reject('no-key', from); return; }
      let r = decodeHeartbeat(buf, this.key);
      if (!r.ok && r.error === 'bad-mac' && this.prevKey && this.clock.now() < this.prevKey.until) r = decodeHeartbeat(buf, this.prevKey.key);
      if (!r.ok) { this.reject(r.error, from); return; }
      const h = r.heartbeat;
      if (h.node === this.o.node) { this.reject('self', from, h.node); return; }
      const p = this.peers.get(h.node);
      if (!p) { this.reject('unknown-node', from, h.node); return; }
      if (p.incarnation !== undefined) {
        if (h.incarnation < p.incarnation || (h.incarnation === p.incarnation && h.seq < p.seq)) { this.reject('replay', from, h.node); return; }
        if (h.incarnation === p.incarnation && h.seq === p.seq) { this.reject('duplicate', from, h.node); return; }
      }
      if (p.incarnation !== undefined && h.incarnation !== p.incarnation) {
        this.log.info({ event: 'peer_restarted', node: h.node }, 'peer speaker has a new incarnation');
      }
      const now = this.clock.now();
      p.incarnation = h.incarnation;
      p.seq = h.seq;
      p.heardAt = now;
      p.leaving = h.leaving;
      const k = JSON.stringify(h.interfaces);
      if (k !== p.ifaceKey) { p.interfaces = h.interfaces; p.ifaceKey = k; }
      this.stats.accepted++;
      // the common case, another beat from a peer already alive with the same interfaces, changes nothing
      const before = this.current.get(h.node);
      if (before?.state !== this.stateOf(h.node, now) || before?.interfaces !== p.interfaces) this.recompute();
      this.arm(h.node, p);
    } catch (e) {
      this.log.error({ event: 'heartbeat_receive_failed', err: String(e) }, 'heartbeat handling failed');
    }
  }

  private reject(reason: RejectReason, from: string, node?: string): void {
    this.stats.rejected[reason]++;
    if (reason === 'duplicate') return; // normal with dual-stack peers
    const now = this.clock.now();
    let e = this.rejectLog.get(reason);
    if (!e) { e = { last: -Infinity, count: 0 }; this.rejectLog.set(reason, e); }
    e.count++;
    if (now - e.last < REJECT_LOG_MS) return;
    this.log.warn({ event: 'heartbeat_rejected', reason, count: e.count, from, ...(node === undefined ? {} : { node }) }, 'heartbeat rejected');
    e.last = now;
    e.count = 0;
  }

  // ---------------------------------------------------------------------------------------------------
  // the view

  /** Schedules the next instant `p`'s state may change by time alone (lazily: an earlier timer re-arms). */
  private arm(node: string, p: Peer): void {
    if (this.stopped || p.heardAt === undefined) return;
    const now = this.clock.now();
    let next = Infinity;
    for (const d of [p.heardAt + this.timeoutMs, p.leaving ? p.heardAt + this.leavingHoldMs : Infinity]) if (d > now && d < next) next = d;
    if (next === Infinity) return;
    if (p.timer && p.timerAt <= next) return;
    p.timer?.cancel();
    p.timerAt = next;
    p.timer = this.clock.setTimeout(() => {
      p.timer = undefined;
      p.timerAt = Infinity;
      if (this.peers.get(node) !== p) return;
      this.recompute();
      this.arm(node, p);
    }, next - now);
  }

  private stateOf(node: string, now: number): MemberState | undefined {
    const fresh = this.leases.get(node) === true;
    const p = this.peers.get(node);
    if (p?.heardAt !== undefined) {
      const age = now - p.heardAt;
      if (p.leaving) {
        if (age < this.leavingHoldMs && (age < this.timeoutMs || fresh)) return 'leaving';
      } else if (age < this.timeoutMs) {
        return 'alive';
      }
    }
    return fresh ? 'suspect' : undefined;
  }

  private compute(): Map<string, MemberView> {
    const now = this.clock.now();
    const out = new Map<string, MemberView>();
    out.set(this.o.node, { state: this.leavingSelf ? 'leaving' : 'alive', interfaces: this.local });
    const names = new Set([...this.peers.keys(), ...this.leases.keys()]);
    for (const n of [...names].sort()) {
      if (n === this.o.node) continue;
      const state = this.stateOf(n, now);
      if (state) out.set(n, { state, interfaces: this.peers.get(n)?.interfaces ?? NO_INTERFACES });
    }
    return out;
  }

  private recompute(): void {
    if (this.notifying) { this.again = true; return; }
    const next = this.compute();
    const prev = this.current;
    if (same(prev, next)) return;
    for (const [n, m] of prev) {
      if (m.state !== 'alive' || n === this.o.node) continue;
      const now = next.get(n)?.state;
      if (now === 'suspect' || now === undefined) {
        this.stats.losses++;
        this.log.warn({ event: 'peer_lost', node: n, now: now ?? 'absent', lastHeardMs: this.lastHeardAgeMs(n) }, 'peer speaker no longer heard');
      }
    }
    this.current = next;
    this.notifying = true;
    try {
      for (const cb of [...this.listeners]) {
        try { cb(next); } catch (e) { this.log.error({ event: 'liveness_listener_failed', err: String(e) }, 'liveness onChange listener threw'); }
      }
    } finally {
      this.notifying = false;
    }
    if (this.again) { this.again = false; this.recompute(); }
  }
}

function same(a: ReadonlyMap<string, MemberView>, b: ReadonlyMap<string, MemberView>): boolean {
  if (a.size !== b.size) return false;
  for (const [n, m] of a) {
    const o = b.get(n);
    if (!o || o.state !== m.state || o.interfaces !== m.interfaces) return false;
  }
  return true;
}

// -----------------------------------------------------------------------------------------------------
// the production port

/** Where {@link UdpPort} listens. */
export interface UdpPortOptions {
  /** Local port (default {@link HEARTBEAT_PORT}; 0 picks one, for tests). */
  port?: number;
  /** IPv4 address to bind (default `0.0.0.0`; null: no IPv4 socket). */
  address4?: string | null;
  /** IPv6 address to bind (default `::`, IPv6 only; null: no IPv6 socket). */
  address6?: string | null;
  log: Logger;
  /** For rate-limiting send-error logs (default: the real clock). */
  clock?: Clock;
}

/**
 * {@link DatagramPort} over `node:dgram`: one udp4 and one udp6 socket, each with an 'error' listener from
 * the moment it exists. A family that cannot bind (IPv6 disabled, address absent) is logged and left out;
 * opening fails only when neither binds. Nothing a peer sends, nor a failed send, is thrown.
 */
export class UdpPort implements DatagramPort {
  private readonly receivers: ((buf: Buffer, from: string) => void)[] = [];
  private readonly lastSendError = new Map<string, number>();
  private closed = false;

  private constructor(private readonly sockets: { udp4?: dgram.Socket; udp6?: dgram.Socket }, private readonly log: Logger, private readonly clock: Clock) {
    for (const s of Object.values(sockets)) {
      s.on('message', (msg, rinfo) => {
        for (const r of this.receivers) {
          try { r(msg, rinfo.address); } catch (e) { this.log.error({ event: 'heartbeat_receiver_failed', err: String(e) }, 'datagram receiver threw'); }
        }
      });
    }
  }

  /** Binds the sockets. */
  static async open(o: UdpPortOptions): Promise<UdpPort> {
    const port = o.port ?? HEARTBEAT_PORT;
    const bind = (type: 'udp4' | 'udp6', address: string): Promise<dgram.Socket | undefined> => new Promise((resolve) => {
      const s = dgram.createSocket(type === 'udp6' ? { type, ipv6Only: true } : { type });
      let bound = false;
      s.on('error', (err) => {
        if (!bound) {
          o.log.warn({ event: 'heartbeat_bind_failed', type, address, port, err: String(err) }, 'heartbeat socket could not bind');
          try { s.close(); } catch { /* already closed */ }
          resolve(undefined);
        } else {
          o.log.warn({ event: 'heartbeat_socket_error', type, err: String(err) }, 'heartbeat socket error');
        }
      });
      try {
        s.bind(port, address, () => { bound = true; resolve(s); });
      } catch (e) {
        o.log.warn({ event: 'heartbeat_bind_failed', type, address, port, err: String(e) }, 'heartbeat socket could not bind');
        resolve(undefined);
      }
    });
    const a4 = o.address4 === undefined ? '0.0.0.0' : o.address4;
    const a6 = o.address6 === undefined ? '::' : o.address6;
    const [udp4, udp6] = await Promise.all([a4 === null ? undefined : bind('udp4', a4), a6 === null ? undefined : bind('udp6', a6)]);
    if (!udp4 && !udp6) throw new Error(`heartbeat: could not bind UDP port ${port} on ${[a4, a6].filter((x) => x !== null).join(' or ')}`);
    return new UdpPort({ ...(udp4 ? { udp4 } : {}), ...(udp6 ? { udp6 } : {}) }, o.log, o.clock ?? realClock);
  }

  /** The bound local port of a family (undefined when that family has no socket). */
  localPort(family: 'IPv4' | 'IPv6'): number | undefined {
    const s = family === 'IPv4' ? this.sockets.udp4 : this.sockets.udp6;
    try { return s?.address().port; } catch { return undefined; }
  }

  send(buf: Buffer, address: string, port: number): void {
    if (this.closed) return;
    const s = address.includes(':') ? this.sockets.udp6 : this.sockets.udp4;
    if (!s) return;
    try {
      s.send(buf, port, address, (err) => { if (err) this.sendFailed(address, err); });
    } catch (e) {
      this.sendFailed(address, e);
    }
  }

  onMessage(cb: (buf: Buffer, fromAddress: string) => void): void {
    this.receivers.push(cb);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of Object.values(this.sockets)) {
      try { s.close(); } catch { /* already closed */ }
    }
  }

  /** Logs at most one failure per destination per 10 s (an unreachable peer fails ten times a second). */
  private sendFailed(address: string, err: unknown): void {
    const now = this.clock.now();
    if (now - (this.lastSendError.get(address) ?? -Infinity) < REJECT_LOG_MS) return;
    this.lastSendError.set(address, now);
    this.log.warn({ event: 'heartbeat_send_error', address, err: String(err) }, 'heartbeat send failed');
  }
}
