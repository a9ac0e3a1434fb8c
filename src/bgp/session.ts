/**
 * One peer's BGP session: the connection (and a second one during a collision), the message framer,
 * the timers and the pure FSM. Everything the session does is an FSM action; everything that happens
 * to it (bytes, closes, timer expiries, a second connection) is an FSM event, so the decisions stay in
 * `fsm.ts` and the session only carries them out.
 *
 * The I/O shell follows the project's rules: every socket it touches has an `'error'` listener from the
 * moment it gets it; time comes from an injected {@link Clock}; writes honour back-pressure (UPDATEs
 * are produced only while the socket takes them, and the RFC 9687 send hold timer drops a peer that
 * stopped reading); no exception raised by a message or a timer leaves the session.
 */
import type { Duplex } from 'node:stream';
import type { Clock, Timer } from '../clock.ts';
import type { Logger } from '../log.ts';
import { buildOpen, decodeMessage, encode, peerAsn } from './codec.ts';
import type { PeerConfig } from './config.ts';
import { MessageFramer } from './framer.ts';
import { State, initialState, negotiate, transition, type FsmAction, type FsmConfig, type FsmEvent, type FsmState, type LocalOpen, type Negotiated, type TimerName } from './fsm.ts';
import { Afi, CeaseSubcode, GracefulRestartFlag, MessageType, NotificationCode, Safi, type Capability, type CodecContext, type Message, type NotificationFields, type OpenMessage } from './message.ts';
import { AdjRibOut, type PrefixTable } from './rib.ts';

/** The connection a session runs on: a net.Socket, or an in-memory duplex in tests. */
export type BgpSocket = Duplex & { readonly localAddress?: string | undefined; readonly remoteAddress?: string | undefined };

/** Per-peer counters, as `stats` reports them. */
export interface PeerStats {
  name: string;
  /** The configured peer address. */
  address: string;
  state: string;
  /** Wall-clock ms (Clock.wall) when the session last became Established; undefined while it is not. */
  establishedSince: number | undefined;
  updatesSent: number;
  prefixesAdvertised: number;
  establishedCount: number;
  /** Second connections from this peer that were resolved as collisions (RFC 4271 §6.8). */
  collisions: number;
  /** Times the send hold timer or the output bound dropped the session (the peer stopped reading). */
  sendHoldExpired: number;
  /** The last NOTIFICATION sent or received, connect error or reason the session went down ('' if none yet). */
  lastError: string;
}

/** Restart time we advertise in the graceful-restart capability, seconds. */
export const GRACEFUL_RESTART_TIME = 120;
/** How long a second connection may take to send its OPEN before it is closed, ms. */
export const COLLISION_OPEN_TIMEOUT_MS = 30_000;
/** How long a closing connection may take to flush its last message before it is destroyed, ms. */
export const CLOSE_LINGER_MS = 1000;
/** Bytes queued in the socket beyond which the session is dropped as if the send hold timer had fired. */
export const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;

/** The outcome of a connection attempt. */
export type DialResult = { readonly ok: true; readonly socket: BgpSocket } | { readonly ok: false; readonly reason: string };

/** Opens outgoing connections; `done` runs once, never synchronously; after `cancel()` a socket it still hands over is destroyed. */
export interface Dialer {
  dial(peer: PeerConfig, ttl: { readonly ttl: number; readonly minTtl: number | undefined }, done: (r: DialResult) => void): { cancel(): void };
}

/** What a session needs from the speaker that owns it. */
export interface SessionHost {
  readonly routerID: string;
  readonly myASN: number;
  /** Send the peer what it lacks (after Established, a ROUTE-REFRESH, or when the socket drained). */
  sync(s: Session): void;
}

/** How to build a session. */
export interface SessionOptions {
  readonly cfg: PeerConfig;
  readonly host: SessionHost;
  readonly log: Logger;
  readonly clock: Clock;
  readonly dialer: Dialer;
  readonly prefixes: PrefixTable;
  /** Backoff jitter source, for deterministic tests. */
  readonly rand?: () => number;
}

/** The second connection of a collision, read until its OPEN arrives. */
interface Held {
  readonly socket: BgpSocket;
  readonly framer: MessageFramer;
  readonly messages: Buffer[];
  timer: Timer | undefined;
}

/** Sockets that already have the session's error listener. */
const guarded = new WeakSet<BgpSocket>();

/** See the module comment. */
export class Session {
  private fsm: FsmState = initialState;
  private socket: BgpSocket | undefined;
  private framer = new MessageFramer();
  private pendingDial: { cancel(): void } | undefined;
  private readonly timers = new Map<TimerName, Timer>();
  private ctx: CodecContext = { fourOctetAS: false, extendedMessages: false };
  private negotiatedValue: Negotiated | undefined;
  /** What the peer has been sent. */
  readonly rib: AdjRibOut;
  readonly stats: PeerStats;
  /** An incoming connection while the FSM decides on it (during a `tcpAccepted` event). */
  private offered: { socket: BgpSocket; framer?: MessageFramer; messages?: Buffer[] } | undefined;
  private held: Held | undefined;
  private readonly cfgFsm: FsmConfig;
  private cfgValue: PeerConfig;

  constructor(private readonly o: SessionOptions) {
    this.cfgValue = o.cfg;
    this.rib = new AdjRibOut(o.prefixes);
    this.stats = { name: o.cfg.name, address: o.cfg.peerAddress, state: State.Idle, establishedSince: undefined, updatesSent: 0, prefixesAdvertised: 0, establishedCount: 0, collisions: 0, sendHoldExpired: 0, lastError: '' };
    this.cfgFsm = { holdTime: o.cfg.holdTime, keepaliveTime: o.cfg.keepaliveTime, connectRetry: o.cfg.connectTime, maxConnectRetry: 30, passive: o.cfg.passive };
  }

  /** The peer's configuration. */
  get cfg(): PeerConfig {
    return this.cfgValue;
  }

  /**
   * Takes a new configuration that differs only in what a running session can absorb (the next hops
   * for the other family, which only the speaker's route rendering reads). Everything else the
   * connection or the OPEN depends on needs a new session: the speaker decides which.
   */
  reconfigure(cfg: PeerConfig): void {
    this.cfgValue = cfg;
  }

  /** The FSM state (read only: only events change it). */
  get state(): FsmState {
    return this.fsm;
  }

  /** What the OPEN exchange settled, while the session is up. */
  get negotiated(): Negotiated | undefined {
    return this.negotiatedValue;
  }

  /** Codec context of the current connection. */
  get codec(): CodecContext {
    return this.ctx;
  }

  /** Our address on the current connection (the next hop we announce). */
  get localAddress(): string | undefined {
    return this.socket?.localAddress;
  }

  /** External peer: by the negotiated AS, else by the configuration. */
  get ebgp(): boolean {
    if (this.negotiatedValue) return this.negotiatedValue.peerAsn !== this.o.host.myASN;
    return this.cfgValue.dynamicASN === 'external' || (this.cfgValue.peerASN !== undefined && this.cfgValue.peerASN !== this.o.host.myASN);
  }

  /** TTL for our packets and the smallest TTL accepted (GTSM, RFC 5082), outgoing and accepted alike. */
  get ttl(): { ttl: number; minTtl: number | undefined } {
    const hops = this.cfgValue.ttlSecurityHops;
    if (hops !== undefined) return { ttl: 255, minTtl: 256 - hops };
    return { ttl: this.ebgp && !this.cfgValue.ebgpMultiHop ? 1 : 255, minTtl: undefined };
  }

  /** Starts the session (connects, or waits for the peer when passive). */
  start(): void {
    this.feed({ type: 'start' });
  }

  /**
   * Stops it: a Cease on an open session (administrative shutdown unless `notification` says otherwise,
   * e.g. RFC 4486 peer de-configured), no restart, no timers left.
   */
  stop(notification?: NotificationFields): void {
    this.feed(notification ? { type: 'stop', notification } : { type: 'stop' });
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
  }

  /** The peer is unreachable (BFD went Down): the session is dropped at once and re-established as after any failure. */
  peerDown(reason: string): void {
    this.feed({ type: 'peerDown', reason });
  }

  /** Whether an UPDATE written now goes out without waiting: the socket is up and not asking us to wait for 'drain'. */
  canWrite(): boolean {
    const s = this.socket;
    return s !== undefined && !s.destroyed && !s.writableNeedDrain && this.fsm.state === State.Established;
  }

  /**
   * Encodes and writes one message. True when it was handed to the socket (the caller may record it as
   * sent); false when there is no connection, it cannot be encoded, or the output bound is reached.
   * A write the socket buffers arms the send hold timer until 'drain'.
   */
  send(m: Message): boolean {
    const s = this.socket;
    if (!s || s.destroyed) return false;
    let buf: Buffer;
    try {
      buf = encode(m, m.type === MessageType.Open ? { fourOctetAS: false, extendedMessages: false } : this.ctx);
    } catch (e) {
      // encoding failures are bugs (config validation keeps attributes within bounds): log loudly, never crash
      this.o.log.error({ event: 'bgp_encode_failed', err: String(e), type: m.type }, 'could not encode message');
      return false;
    }
    if (s.writableLength + buf.length > MAX_OUTPUT_BYTES) {
      this.o.log.warn({ event: 'bgp_output_full', queued: s.writableLength }, 'output buffer bound reached: the peer is not reading');
      this.later(() => { if (this.socket === s) this.sendHoldExpired(); });
      return false;
    }
    if (!s.write(buf)) this.armSendHold();
    if (m.type === MessageType.Update) this.stats.updatesSent++;
    return true;
  }

  /** A connection the peer opened to us (the speaker's listener found this peer by address). */
  incoming(socket: BgpSocket, framer?: MessageFramer, messages?: Buffer[]): void {
    this.guard(socket);
    this.offered = { socket, ...(framer ? { framer } : {}), ...(messages ? { messages } : {}) };
    this.feed({ type: 'tcpAccepted' });
    const left = this.offered as { socket: BgpSocket } | undefined; // the transition's actions may have taken it
    this.offered = undefined;
    if (left?.socket === socket) socket.destroy(); // no action took it
    if (this.socket === socket && messages) this.replay(socket, messages);
  }

  private feed(e: FsmEvent): void {
    let t;
    try {
      t = transition(this.fsm, e, this.cfgFsm, this.o.rand);
    } catch (err) {
      // the FSM is pure and total; a throw is a bug, and a session must not take the process with it
      this.o.log.error({ event: 'bgp_fsm_bug', err: String(err), fsmEvent: e.type }, 'FSM threw');
      return;
    }
    const before = this.fsm.state;
    this.fsm = t.state;
    this.stats.state = t.state.state;
    if (before !== t.state.state) this.o.log.info({ event: 'bgp_state', from: before, to: t.state.state, trigger: e.type }, 'session state');
    for (const a of t.actions) this.apply(a);
  }

  private apply(a: FsmAction): void {
    switch (a.type) {
      case 'connect': this.connect(); break;
      case 'disconnect': this.disconnect(); break;
      case 'acceptIncoming': {
        const off = this.offered;
        this.offered = undefined;
        if (!off) break;
        this.cancelDial();
        this.detach();
        this.attach(off.socket, off.framer);
        break;
      }
      case 'refuseIncoming': this.offered?.socket.destroy(); this.offered = undefined; break;
      case 'holdCollision': this.hold(); break;
      case 'rejectCollision': this.rejectCollision(); break;
      case 'adoptCollision': this.adoptCollision(); break;
      case 'sendOpen': this.send(this.ourOpen()); break;
      case 'sendKeepalive': this.send({ type: MessageType.Keepalive }); break;
      case 'sendNotification':
        this.stats.lastError = `sent NOTIFICATION ${a.notification.code}/${a.notification.subcode}`;
        this.send({ type: MessageType.Notification, ...a.notification });
        break;
      case 'setTimer': {
        this.timers.get(a.timer)?.cancel();
        const timer = a.timer;
        this.timers.set(timer, this.o.clock.setTimeout(() => { this.timers.delete(timer); this.feed({ type: 'timer', timer }); }, a.seconds * 1000));
        break;
      }
      case 'clearTimer': this.timers.get(a.timer)?.cancel(); this.timers.delete(a.timer); break;
      case 'established':
        this.negotiatedValue = a.negotiated;
        this.stats.establishedCount++;
        this.stats.establishedSince = this.o.clock.wall();
        this.rib.reset();
        break;
      case 'down':
        this.stats.lastError = a.reason;
        this.o.log.warn({ event: 'bgp_down', reason: a.reason }, 'session down');
        this.rib.reset();
        this.negotiatedValue = undefined;
        this.stats.prefixesAdvertised = 0;
        this.stats.establishedSince = undefined;
        break;
      case 'sendTable': {
        const afis = (a.families ?? this.negotiatedValue?.families ?? []).filter((f) => f.safi === Safi.Unicast).map((f) => f.afi);
        this.rib.reset(afis);
        if (this.cfgValue.gracefulRestart) this.rib.oweEndOfRib(afis);
        this.later(() => { this.o.host.sync(this); });
        break;
      }
    }
  }

  /** Runs `fn` after the current event is fully handled (never nested inside a transition). */
  private later(fn: () => void): void {
    queueMicrotask(() => {
      try { fn(); } catch (e) { this.o.log.error({ event: 'bgp_session_bug', err: String(e) }, 'deferred session work threw'); }
    });
  }

  /** Our OPEN: multiprotocol for both families, route refresh, 4-octet AS, extended messages, graceful restart. */
  ourOpen(): OpenMessage {
    const caps: Capability[] = [
      { kind: 'multiprotocol', afi: Afi.IPv4, safi: Safi.Unicast },
      { kind: 'multiprotocol', afi: Afi.IPv6, safi: Safi.Unicast },
      { kind: 'routeRefresh' },
      { kind: 'extendedMessage' },
      { kind: 'fourOctetAS', asn: this.o.host.myASN },
    ];
    if (this.cfgValue.gracefulRestart) {
      // we keep no forwarding state of our own to lose, and always send End-of-RIB after (re)connecting
      caps.push({ kind: 'gracefulRestart', flags: 0, restartTime: GRACEFUL_RESTART_TIME, families: [{ afi: Afi.IPv4, safi: Safi.Unicast, flags: GracefulRestartFlag.ForwardingPreserved }, { afi: Afi.IPv6, safi: Safi.Unicast, flags: GracefulRestartFlag.ForwardingPreserved }] });
    }
    return buildOpen({ asn: this.o.host.myASN, holdTime: this.cfgValue.holdTime, bgpIdentifier: this.o.host.routerID, capabilities: caps });
  }

  private localOpen(): LocalOpen {
    const c = this.cfgValue;
    return {
      asn: this.o.host.myASN, routerId: this.o.host.routerID, holdTime: c.holdTime, keepaliveTime: c.keepaliveTime, minHoldTime: c.minHoldTime,
      capabilities: this.ourOpen().capabilities,
      peer: c.peerASN !== undefined ? { asn: c.peerASN } : { dynamic: c.dynamicASN ?? 'external' },
    };
  }

  private connect(): void {
    this.cancelDial();
    this.ctx = { fourOctetAS: false, extendedMessages: false };
    const attempt = this.o.dialer.dial(this.cfgValue, this.ttl, (r) => {
      if (this.pendingDial !== attempt) { if (r.ok) { this.guard(r.socket); r.socket.destroy(); } return; } // cancelled meanwhile
      this.pendingDial = undefined;
      if (!r.ok) {
        this.stats.lastError = r.reason;
        this.feed({ type: 'tcpFailed', reason: r.reason });
        return;
      }
      this.attach(r.socket);
      this.feed({ type: 'tcpConnected' });
    });
    this.pendingDial = attempt;
  }

  private cancelDial(): void {
    const p = this.pendingDial;
    this.pendingDial = undefined;
    p?.cancel();
  }

  /** The first listener on any socket the session gets: errors are handled (as a close), never thrown. */
  private guard(s: BgpSocket): void {
    if (guarded.has(s)) return;
    guarded.add(s);
    s.on('error', (err: Error) => {
      this.o.log.debug({ event: 'bgp_socket_error', err: err.message }, 'socket error');
      s.destroy();
    });
  }

  /** Takes a connected socket as this session's connection. */
  private attach(s: BgpSocket, framer?: MessageFramer): void {
    this.guard(s);
    s.removeAllListeners('data');
    this.socket = s;
    this.framer = framer ?? new MessageFramer();
    this.ctx = { fourOctetAS: false, extendedMessages: false };
    (s as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    s.on('data', (chunk: Buffer) => { if (this.socket === s) this.onData(chunk); });
    s.on('drain', () => {
      if (this.socket !== s) return;
      this.timers.get('sendHold')?.cancel();
      this.timers.delete('sendHold');
      this.o.host.sync(this);
    });
    const gone = (err?: Error): void => {
      if (this.socket !== s) return;
      this.socket = undefined;
      this.stopSendHold();
      const held = this.held;
      this.held = undefined; // the failure below must not close it: it may be the peer's live connection
      held?.timer?.cancel();
      this.feed({ type: 'tcpFailed', reason: err?.message ?? 'connection closed by peer' });
      if (held && !held.socket.destroyed) {
        // the peer gave up on the first connection while its second waited: the second is the session now
        this.o.log.info({ event: 'bgp_collision_promoted' }, 'first connection closed: continuing on the second');
        this.incoming(held.socket, held.framer, held.messages);
      }
    };
    s.on('error', gone);
    s.on('close', () => { gone(); });
  }

  /** Drops the current connection, letting it flush a last NOTIFICATION for a moment. */
  private detach(): void {
    const s = this.socket;
    this.socket = undefined;
    this.stopSendHold();
    if (s) this.closeSoon(s);
  }

  private closeSoon(s: BgpSocket, last?: Buffer): void {
    if (s.destroyed) return;
    if (last) s.end(last); else s.end();
    this.o.clock.setTimeout(() => { s.destroy(); }, CLOSE_LINGER_MS);
  }

  private disconnect(): void {
    this.cancelDial();
    this.detach();
    this.dropHeld();
  }

  private dropHeld(): void {
    const h = this.held;
    this.held = undefined;
    h?.timer?.cancel();
    h?.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    const framed = this.framer.push(chunk);
    if (!framed.ok) { this.feed({ type: 'decodeError', notification: framed.error.notification }); return; }
    const s = this.socket;
    for (const raw of framed.value) {
      this.handle(raw);
      if (this.socket !== s) return;
    }
  }

  private replay(s: BgpSocket, messages: readonly Buffer[]): void {
    for (const raw of messages) {
      if (this.socket !== s) return;
      this.handle(raw);
    }
  }

  /** One framed message from the peer. */
  private handle(raw: Buffer): void {
    const r = decodeMessage(raw, { ...this.ctx, ebgp: this.ebgp });
    if (!r.ok) { this.feed({ type: 'decodeError', notification: r.error.notification }); return; }
    const m = r.value;
    switch (m.type) {
      case MessageType.Open: {
        const result = negotiate(this.localOpen(), m);
        if ('holdTime' in result && this.fsm.state === State.OpenSent) {
          // the codec context changes with the OPEN exchange: the KEEPALIVE we send next already uses it
          this.ctx = { fourOctetAS: result.fourOctetAS, extendedMessages: result.extendedMessages };
          this.framer.setExtendedMessages(result.extendedMessages);
        }
        this.feed({ type: 'open', result });
        break;
      }
      case MessageType.Keepalive: this.feed({ type: 'keepalive' }); break;
      case MessageType.Update:
        if (m.errors.length > 0) this.o.log.warn({ event: 'bgp_update_errors', errors: m.errors.map((x) => x.message) }, 'peer UPDATE had errors (RFC 7606 handling applied)');
        this.feed({ type: 'update' });
        break;
      case MessageType.RouteRefresh: this.feed({ type: 'routeRefresh', afi: m.afi, safi: m.safi }); break;
      case MessageType.Notification:
        this.stats.lastError = `peer sent NOTIFICATION ${m.code}/${m.subcode}`;
        this.feed({ type: 'notification', notification: m });
        break;
    }
  }

  /** Keeps the offered connection aside and reads it until its OPEN arrives (or it fails, or times out). */
  private hold(): void {
    const off = this.offered;
    this.offered = undefined;
    if (!off) return;
    this.stats.collisions++;
    this.dropHeld(); // a third connection replaces the second: the peer gave up on that one
    const h: Held = { socket: off.socket, framer: off.framer ?? new MessageFramer(), messages: [...(off.messages ?? [])], timer: undefined };
    this.held = h;
    const s = off.socket;
    h.timer = this.o.clock.setTimeout(() => {
      if (this.held !== h) return;
      this.o.log.info({ event: 'bgp_collision_timeout' }, 'second connection sent no OPEN in time');
      this.dropHeld();
    }, COLLISION_OPEN_TIMEOUT_MS);
    s.removeAllListeners('data');
    const lost = (): void => { if (this.held === h) { this.held = undefined; h.timer?.cancel(); } };
    s.on('close', lost);
    s.on('data', (chunk: Buffer) => {
      if (this.held !== h) return;
      const f = h.framer.push(chunk);
      if (!f.ok) { this.dropHeld(); return; }
      h.messages.push(...f.value);
      this.decideHeld(h);
    });
    if (h.messages.length > 0) this.decideHeld(h);
  }

  /** The held connection's first message is in: an OPEN decides the collision, anything else ends it. */
  private decideHeld(h: Held): void {
    const first = h.messages[0];
    if (!first || this.held !== h) return;
    const d = decodeMessage(first, { fourOctetAS: false, extendedMessages: false });
    if (!d.ok || d.value.type !== MessageType.Open) { this.dropHeld(); return; }
    h.timer?.cancel();
    const open = d.value;
    this.o.log.info({ event: 'bgp_collision', state: this.fsm.state, ourConnection: this.fsm.outbound }, 'both connections up: deciding which stays');
    this.feed({ type: 'collisionOpen', local: { id: this.o.host.routerID, asn: this.o.host.myASN }, remote: { id: open.bgpIdentifier, asn: peerAsn(open) } });
    if (this.socket === h.socket) this.replay(h.socket, h.messages);
  }

  /** Closes the second connection (offered now, or held) with Cease/Connection Collision Resolution. */
  private rejectCollision(): void {
    const s = this.offered?.socket ?? this.held?.socket;
    if (this.offered) { this.offered = undefined; this.stats.collisions++; }
    else { this.held?.timer?.cancel(); this.held = undefined; }
    if (!s) return;
    this.o.log.info({ event: 'bgp_collision_rejected', state: this.fsm.state }, 'second connection closed (collision resolution)');
    const cease = encode({ type: MessageType.Notification, code: NotificationCode.Cease, subcode: CeaseSubcode.ConnectionCollisionResolution, data: Buffer.alloc(0) }, { fourOctetAS: false, extendedMessages: false });
    this.closeSoon(s, cease);
  }

  /** The second connection wins: it becomes the session's, with its framer and what it already read. */
  private adoptCollision(): void {
    const h = this.held;
    this.held = undefined;
    if (!h) return;
    h.timer?.cancel();
    this.detach();
    this.attach(h.socket, h.framer); // decideHeld replays what it already read once the transition is done
  }

  private armSendHold(): void {
    if (this.timers.has('sendHold')) return;
    const hold = this.negotiatedValue?.holdTime ?? this.cfgValue.holdTime;
    const seconds = this.cfgValue.sendHoldTime ?? Math.max(480, 2 * hold); // RFC 9687 §4: 8 minutes or twice the hold time
    this.timers.set('sendHold', this.o.clock.setTimeout(() => { this.timers.delete('sendHold'); this.sendHoldExpired(); }, seconds * 1000));
  }

  private stopSendHold(): void {
    this.timers.get('sendHold')?.cancel();
    this.timers.delete('sendHold');
  }

  private sendHoldExpired(): void {
    this.stats.sendHoldExpired++;
    const s = this.socket;
    this.feed({ type: 'timer', timer: 'sendHold' });
    s?.destroy(); // its buffer will never drain: no linger
  }
}
