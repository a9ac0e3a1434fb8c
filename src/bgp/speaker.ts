/**
 * The BGP speaker: one session per peer (socket, framer, timers, the pure FSM) and the routes each
 * peer should have. Desired routes are diffed against what the peer was sent, and only changes go on
 * the wire, packed into as few UPDATEs as fit. Received UPDATEs are decoded and validated (RFC 7606)
 * and otherwise ignored: the speaker only announces.
 */
import { closeSync } from 'node:fs';
import net from 'node:net';
import type { Logger } from '../log.ts';
import { canonicalIP, parseIP } from '../lb/ipnet.ts';
import { setTcpMd5, tcpConnect, tcpSocket } from '../native/index.ts';
import { buildOpen, decodeMessage, encode, endOfRibMessage } from './codec.ts';
import { parseCommunity, parseLargeCommunity, type PeerConfig, type RouteAttributes, type SpeakerConfig } from './config.ts';
import { MessageFramer } from './framer.ts';
import { State, collisionWinner, initialState, negotiate, transition, type FsmAction, type FsmConfig, type FsmEvent, type FsmState, type LocalOpen, type Negotiated, type TimerName } from './fsm.ts';
import { Afi, CeaseSubcode, GracefulRestartFlag, MessageType, NotificationCode, Safi, WellKnownCommunity, type Capability, type CodecContext, type Message, type OpenMessage, type PathAttribute, type Prefix } from './message.ts';
import { announceUpdates, withdrawUpdates } from './packing.ts';

/** A route as the speaker keeps it: canonical prefix text plus attributes. */
export interface Route extends RouteAttributes {
  readonly prefix: string;
}

/** Per-peer counters. */
export interface PeerStats {
  name: string;
  state: string;
  updatesSent: number;
  prefixesAdvertised: number;
  establishedCount: number;
  lastError: string;
}

/** Restart time we advertise in the graceful-restart capability, seconds. */
export const GRACEFUL_RESTART_TIME = 120;

/**
 * Parsed prefixes by their text, canonical and as given. Parsing an IPv6 text costs tens of µs, and a
 * table of 10k routes is diffed often, so each distinct text is parsed once.
 */
const prefixCache = new Map<string, { key: string; prefix: Prefix }>();

function parsePrefix(text: string): { key: string; prefix: Prefix } {
  const hit = prefixCache.get(text);
  if (hit) return hit;
  const [ip = '', len] = text.split('/');
  const family = parseIP(ip)?.family ?? 'IPv4';
  const prefix: Prefix = { afi: family === 'IPv4' ? Afi.IPv4 : Afi.IPv6, prefix: canonicalIP(ip) ?? ip, length: len === undefined ? (family === 'IPv4' ? 32 : 128) : Number(len) };
  const entry = { key: `${prefix.prefix}/${prefix.length}`, prefix };
  if (prefixCache.size > 1_000_000) prefixCache.clear(); // a bound, far above any real table
  prefixCache.set(text, entry);
  prefixCache.set(entry.key, entry);
  return entry;
}

function toPrefix(text: string): Prefix {
  return parsePrefix(text).prefix;
}

/** Canonical `ip/len` key of a prefix text. */
export function prefixKey(text: string): string {
  return parsePrefix(text).key;
}

/** One peer's session. */
class Session {
  fsm: FsmState = initialState;
  socket: net.Socket | undefined;
  private pendingConnect: { cancel(): void; fd: number } | undefined;
  private framer = new MessageFramer();
  private readonly timers = new Map<TimerName, NodeJS.Timeout>();
  ctx: CodecContext = { fourOctetAS: false, extendedMessages: false };
  negotiated: Negotiated | undefined;
  /** What the peer has been sent: prefix key → attribute signature. */
  readonly sent = new Map<string, string>();
  readonly stats: PeerStats;
  private collision: { socket: net.Socket; framer: MessageFramer } | undefined;

  constructor(readonly cfg: PeerConfig, private readonly sp: Speaker, private readonly log: Logger) {
    this.stats = { name: cfg.name, state: State.Idle, updatesSent: 0, prefixesAdvertised: 0, establishedCount: 0, lastError: '' };
  }

  get fsmConfig(): FsmConfig {
    return { holdTime: this.cfg.holdTime, keepaliveTime: this.cfg.keepaliveTime, connectRetry: this.cfg.connectTime, maxConnectRetry: 30, passive: this.cfg.passive };
  }

  get ebgp(): boolean {
    if (this.negotiated) return this.negotiated.peerAsn !== this.sp.cfg.myASN;
    return this.cfg.dynamicASN === 'external' || (this.cfg.peerASN !== undefined && this.cfg.peerASN !== this.sp.cfg.myASN);
  }

  feed(e: FsmEvent): void {
    const t = transition(this.fsm, e, this.fsmConfig);
    const before = this.fsm.state;
    this.fsm = t.state;
    this.stats.state = t.state.state;
    if (before !== t.state.state) this.log.info({ event: 'bgp_state', from: before, to: t.state.state, trigger: e.type }, 'session state');
    for (const a of t.actions) this.apply(a);
  }

  private apply(a: FsmAction): void {
    switch (a.type) {
      case 'connect': this.connect(); break;
      case 'disconnect': this.disconnect(); break;
      case 'sendOpen': this.send({ ...this.ourOpen() }); break;
      case 'sendKeepalive': this.send({ type: MessageType.Keepalive }); break;
      case 'sendNotification':
        this.stats.lastError = `sent NOTIFICATION ${a.notification.code}/${a.notification.subcode}`;
        this.send({ type: MessageType.Notification, ...a.notification });
        break;
      case 'setTimer': {
        clearTimeout(this.timers.get(a.timer));
        this.timers.set(a.timer, setTimeout(() => { this.timers.delete(a.timer); this.feed({ type: 'timer', timer: a.timer }); }, a.seconds * 1000));
        break;
      }
      case 'clearTimer': clearTimeout(this.timers.get(a.timer)); this.timers.delete(a.timer); break;
      case 'established':
        this.negotiated = a.negotiated;
        this.stats.establishedCount++;
        this.sent.clear();
        break;
      case 'down':
        this.stats.lastError = a.reason;
        this.log.warn({ event: 'bgp_down', reason: a.reason }, 'session down');
        this.sent.clear();
        this.negotiated = undefined;
        break;
      case 'sendTable':
        this.sent.clear();
        this.sp.sync(this, true);
        break;
    }
  }

  /** Our OPEN: multiprotocol for both families, route refresh, 4-octet AS, extended messages, graceful restart. */
  ourOpen(): OpenMessage {
    const caps: Capability[] = [
      { kind: 'multiprotocol', afi: Afi.IPv4, safi: Safi.Unicast },
      { kind: 'multiprotocol', afi: Afi.IPv6, safi: Safi.Unicast },
      { kind: 'routeRefresh' },
      { kind: 'extendedMessage' },
      { kind: 'fourOctetAS', asn: this.sp.cfg.myASN },
    ];
    if (this.cfg.gracefulRestart) {
      // we keep no forwarding state of our own to lose, and always send End-of-RIB after (re)connecting
      caps.push({ kind: 'gracefulRestart', flags: 0, restartTime: GRACEFUL_RESTART_TIME, families: [{ afi: Afi.IPv4, safi: Safi.Unicast, flags: GracefulRestartFlag.ForwardingPreserved }, { afi: Afi.IPv6, safi: Safi.Unicast, flags: GracefulRestartFlag.ForwardingPreserved }] });
    }
    return buildOpen({ asn: this.sp.cfg.myASN, holdTime: this.cfg.holdTime, bgpIdentifier: this.sp.cfg.routerID, capabilities: caps });
  }

  private localOpen(): LocalOpen {
    const open = this.ourOpen();
    return {
      asn: this.sp.cfg.myASN, routerId: this.sp.cfg.routerID, holdTime: this.cfg.holdTime, keepaliveTime: this.cfg.keepaliveTime, capabilities: open.capabilities,
      peer: this.cfg.peerASN !== undefined ? { asn: this.cfg.peerASN } : { dynamic: this.cfg.dynamicASN ?? 'external' },
    };
  }

  send(m: Message): void {
    if (!this.socket || this.socket.destroyed) return;
    try {
      this.socket.write(encode(m, m.type === MessageType.Open ? { fourOctetAS: false, extendedMessages: false } : this.ctx));
    } catch (e) {
      // encoding failures are bugs: log loudly, never take the process down
      this.log.error({ event: 'bgp_encode_failed', err: String(e) }, 'could not encode message');
    }
  }

  private connect(): void {
    this.cancelConnect();
    this.ctx = { fourOctetAS: false, extendedMessages: false };
    const family = parseIP(this.cfg.peerAddress)?.family === 'IPv6' ? 6 : 4;
    const ttl = this.ebgp && !this.cfg.ebgpMultiHop ? 1 : 255;
    let fd: number;
    try {
      fd = tcpSocket(family, this.cfg.sourceAddress, ttl);
      if (this.cfg.password !== undefined) setTcpMd5(fd, this.cfg.peerAddress, this.cfg.password);
    } catch (e) {
      this.stats.lastError = String(e);
      queueMicrotask(() => { this.feed({ type: 'tcpFailed', reason: String(e) }); });
      return;
    }
    const pending = tcpConnect(fd, this.cfg.peerAddress, this.cfg.peerPort, (err) => {
      if (this.pendingConnect?.fd !== fd) { closeFd(fd); return; } // cancelled meanwhile
      this.pendingConnect = undefined;
      if (err) {
        closeFd(fd);
        this.stats.lastError = err.message;
        this.feed({ type: 'tcpFailed', reason: err.message });
        return;
      }
      this.attach(new net.Socket({ fd, readable: true, writable: true }));
      this.feed({ type: 'tcpConnected' });
    });
    this.pendingConnect = { cancel: () => { pending.cancel(); }, fd };
  }

  private cancelConnect(): void {
    const p = this.pendingConnect;
    this.pendingConnect = undefined;
    p?.cancel(); // the callback sees the mismatch and closes the fd
  }

  /** Takes a connected socket as this session's connection. */
  attach(s: net.Socket): void {
    this.detach();
    this.socket = s;
    this.framer = new MessageFramer();
    this.ctx = { fourOctetAS: false, extendedMessages: false };
    s.setNoDelay(true);
    s.on('data', (chunk: Buffer) => { if (this.socket === s) this.onData(chunk); });
    const gone = (err?: Error): void => {
      if (this.socket !== s) return;
      this.socket = undefined;
      this.feed({ type: 'tcpFailed', reason: err?.message ?? 'connection closed by peer' });
    };
    s.on('error', gone);
    s.on('close', () => { gone(); });
  }

  private detach(): void {
    const s = this.socket;
    this.socket = undefined;
    if (s) { s.end(); setTimeout(() => s.destroy(), 1000).unref(); }
  }

  private disconnect(): void {
    this.cancelConnect();
    this.detach();
  }

  private onData(chunk: Buffer): void {
    const framed = this.framer.push(chunk);
    if (!framed.ok) { this.feed({ type: 'decodeError', notification: framed.error.notification }); return; }
    for (const raw of framed.value) {
      this.handle(raw);
      if (!this.socket) return;
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
        if ('holdTime' in result) {
          // the codec context changes with the OPEN exchange: the KEEPALIVE we send next already uses it
          this.ctx = { fourOctetAS: result.fourOctetAS, extendedMessages: result.extendedMessages };
          this.framer.setExtendedMessages(result.extendedMessages);
        }
        this.feed({ type: 'open', result });
        break;
      }
      case MessageType.Keepalive: this.feed({ type: 'keepalive' }); break;
      case MessageType.Update:
        if (m.errors.length > 0) this.log.warn({ event: 'bgp_update_errors', errors: m.errors.map((x) => x.message) }, 'peer UPDATE had errors (RFC 7606 handling applied)');
        this.feed({ type: 'update' });
        break;
      case MessageType.RouteRefresh: this.feed({ type: 'routeRefresh' }); break;
      case MessageType.Notification:
        this.stats.lastError = `peer sent NOTIFICATION ${m.code}/${m.subcode}`;
        this.feed({ type: 'notification', notification: m });
        break;
    }
  }

  /** An incoming connection from this peer (passive mode, or a collision). */
  incoming(s: net.Socket): void {
    const st = this.fsm.state;
    if (st === State.Established) { rejectCollision(s, this.ctx); return; }
    if (st === State.OpenSent || st === State.OpenConfirm) { this.startCollision(s); return; }
    if (this.fsm.stopped) { s.destroy(); return; }
    this.cancelConnect();
    if (this.fsm.state === State.Connect || this.fsm.state === State.Idle) this.fsm = { ...this.fsm, state: State.Active };
    this.attach(s);
    this.feed({ type: 'tcpConnected' });
  }

  /** Both sides connected: read the OPEN on the new connection and keep the one RFC 4271 §6.8 says. */
  private startCollision(s: net.Socket): void {
    this.collision?.socket.destroy();
    const c = { socket: s, framer: new MessageFramer() };
    this.collision = c;
    s.on('error', () => { s.destroy(); });
    s.on('data', (chunk: Buffer) => {
      if (this.collision !== c) return;
      const f = c.framer.push(chunk);
      const first = f.ok ? f.value[0] : undefined;
      if (!first) { if (!f.ok) s.destroy(); return; }
      const d = decodeMessage(first, { fourOctetAS: false, extendedMessages: false });
      this.collision = undefined;
      if (!d.ok || d.value.type !== MessageType.Open) { s.destroy(); return; }
      const winner = collisionWinner(this.sp.cfg.routerID, d.value.bgpIdentifier);
      this.log.info({ event: 'bgp_collision', kept: winner === 'ours' ? 'our connection' : 'the peer\'s connection' }, 'both sides connected');
      if (winner === 'ours') { rejectCollision(s, this.ctx); return; }
      // the peer's connection wins: close ours with Cease/collision and continue on theirs
      this.send({ type: MessageType.Notification, code: NotificationCode.Cease, subcode: CeaseSubcode.ConnectionCollisionResolution, data: Buffer.alloc(0) });
      s.removeAllListeners('data');
      this.fsm = { ...this.fsm, state: State.Active, negotiated: undefined };
      this.attach(s);
      this.feed({ type: 'tcpConnected' });
      for (const m of f.ok ? f.value : []) {
        this.handle(Buffer.from(m));
        if (!this.socket) return;
      }
    });
  }

  stopTimers(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}

function rejectCollision(s: net.Socket, ctx: CodecContext): void {
  s.end(encode({ type: MessageType.Notification, code: NotificationCode.Cease, subcode: CeaseSubcode.ConnectionCollisionResolution, data: Buffer.alloc(0) }, ctx));
  setTimeout(() => s.destroy(), 1000).unref();
}

function closeFd(fd: number): void {
  try { closeSync(fd); } catch { /* already closed */ }
}

/** Options of a speaker. */
export interface SpeakerOptions {
  readonly config: SpeakerConfig;
  readonly log: Logger;
}

/** See the module comment. */
export class Speaker {
  readonly cfg: SpeakerConfig;
  private readonly sessions = new Map<string, Session>();
  /** Desired routes: prefix key → route and the peers it is limited to (undefined: all). */
  private readonly routes = new Map<string, { route: Route; peers: readonly string[] | undefined }>();
  private server: net.Server | undefined;
  private syncQueued = false;
  private gshut = false;

  constructor(private readonly o: SpeakerOptions) {
    this.cfg = o.config;
    for (const p of o.config.peers) this.sessions.set(p.name, new Session(p, this, o.log.child({ peer: p.name })));
    for (const r of o.config.prefixes) this.routes.set(prefixKey(r.prefix), { route: { ...r, prefix: prefixKey(r.prefix) }, peers: r.peers });
  }

  /** Starts listening (when any peer is passive) and every session. */
  async start(): Promise<void> {
    // listening also lets active peers connect to us; both connecting is resolved as a collision (RFC 4271 §6.8)
    if (this.cfg.peers.some((p) => p.passive) || this.cfg.listenAddress !== undefined) await this.listen();
    for (const s of this.sessions.values()) s.feed({ type: 'start' });
  }

  private async listen(): Promise<void> {
    const server = net.createServer((sock) => {
      const remote = (sock.remoteAddress ?? '').replace(/^::ffff:/, '');
      const s = [...this.sessions.values()].find((x) => canonicalIP(x.cfg.peerAddress) === canonicalIP(remote));
      if (!s) { this.o.log.warn({ event: 'bgp_unknown_peer', remote }, 'connection from an unconfigured address refused'); sock.destroy(); return; }
      s.incoming(sock);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.cfg.listenAddress ?? '::', port: this.cfg.listenPort }, () => { resolve(); });
    });
    const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
    for (const p of this.cfg.peers) {
      if (p.password === undefined) continue;
      if (fd === undefined || fd < 0) throw new Error('cannot set TCP-MD5 on the listening socket');
      setTcpMd5(fd, p.peerAddress, p.password);
    }
    this.server = server;
  }

  /** Announces (or updates) a route to every peer, or to the named ones. */
  announce(route: Route, peers?: readonly string[]): void {
    const key = prefixKey(route.prefix);
    this.routes.set(key, { route: { ...route, prefix: key }, peers });
    this.schedule();
  }

  /** Withdraws a route. */
  withdraw(prefix: string): void {
    this.routes.delete(prefixKey(prefix));
    this.schedule();
  }

  /** Withdraws every route. */
  withdrawAll(): void {
    this.routes.clear();
    this.schedule();
  }

  /**
   * Graceful shutdown (RFC 8326): re-advertise everything with GRACEFUL_SHUTDOWN (and LOCAL_PREF 0 on
   * iBGP) so peers move traffic away first, wait, withdraw, and close the sessions.
   */
  async gracefulShutdown(waitMs: number): Promise<void> {
    this.gshut = true;
    for (const s of this.sessions.values()) s.sent.clear(); // every route changes attributes
    this.syncAll();
    await new Promise((r) => setTimeout(r, waitMs));
    this.routes.clear();
    this.syncAll();
    await new Promise((r) => setTimeout(r, 100));
    this.stop();
  }

  /** Stops every session (Cease/administrative shutdown) and the listener. */
  stop(): void {
    for (const s of this.sessions.values()) { s.feed({ type: 'stop' }); s.stopTimers(); }
    this.server?.close();
  }

  /** Per-peer counters and states. */
  stats(): PeerStats[] {
    return [...this.sessions.values()].map((s) => ({ ...s.stats }));
  }

  private schedule(): void {
    if (this.syncQueued) return;
    this.syncQueued = true;
    setImmediate(() => { this.syncQueued = false; this.syncAll(); });
  }

  private syncAll(): void {
    for (const s of this.sessions.values()) if (s.fsm.state === State.Established) this.sync(s, false);
  }

  /** Sends a peer exactly the changes between what it should have and what it was sent. */
  sync(s: Session, endOfRibAfter: boolean): void {
    const n = s.negotiated;
    if (!n || !s.socket) return;
    const families = new Set(n.families.filter((f) => f.safi === Safi.Unicast).map((f) => f.afi));
    const want = new Map<string, { route: Route; sig: string }>();
    for (const [key, { route, peers }] of this.routes) {
      if (peers && !peers.includes(s.cfg.name)) continue;
      const afi = toPrefix(key).afi;
      if (!families.has(afi) || this.nextHop(s, afi) === undefined) continue;
      want.set(key, { route, sig: this.signature(s, route) });
    }
    const withdraw: Record<number, Prefix[]> = { [Afi.IPv4]: [], [Afi.IPv6]: [] };
    for (const key of s.sent.keys()) if (!want.has(key)) withdraw[toPrefix(key).afi]?.push(toPrefix(key));
    const groups = new Map<string, { afi: number; route: Route; prefixes: Prefix[] }>();
    for (const [key, w] of want) {
      if (s.sent.get(key) === w.sig) continue;
      const p = toPrefix(key);
      const g = groups.get(`${p.afi}|${w.sig}`) ?? { afi: p.afi, route: w.route, prefixes: [] };
      g.prefixes.push(p);
      groups.set(`${p.afi}|${w.sig}`, g);
    }
    const out: Message[] = [];
    for (const afi of [Afi.IPv4, Afi.IPv6]) out.push(...withdrawUpdates(afi, withdraw[afi] ?? [], s.ctx));
    for (const g of groups.values()) out.push(...announceUpdates(g.afi, g.prefixes, this.attributes(s, g.route), [this.nextHop(s, g.afi) ?? ''], s.ctx));
    if (endOfRibAfter && s.cfg.gracefulRestart) for (const afi of families) out.push(endOfRibMessage(afi === Afi.IPv4 ? Afi.IPv4 : Afi.IPv6, Safi.Unicast));
    for (const m of out) { s.send(m); s.stats.updatesSent++; }
    for (const ps of Object.values(withdraw)) for (const p of ps) s.sent.delete(`${p.prefix}/${p.length}`);
    for (const [key, w] of want) s.sent.set(key, w.sig);
    s.stats.prefixesAdvertised = s.sent.size;
  }

  /** Next hop for a family on this session: the session's own address, or the configured one for the other family. */
  private nextHop(s: Session, afi: number): string | undefined {
    const local = (s.socket?.localAddress ?? '').replace(/^::ffff:/, '');
    const localFamily = parseIP(local)?.family;
    if (afi === Afi.IPv4) return s.cfg.nextHopIPv4 ?? (localFamily === 'IPv4' ? local : undefined);
    return s.cfg.nextHopIPv6 ?? (localFamily === 'IPv6' ? canonicalIP(local) : undefined);
  }

  private attributes(s: Session, r: Route): PathAttribute[] {
    const ebgp = s.ebgp;
    const attrs: PathAttribute[] = [{ kind: 'origin', origin: 0 }, { kind: 'asPath', segments: ebgp ? [{ type: 2, asns: [this.cfg.myASN] }] : [] }];
    if (r.med !== undefined) attrs.push({ kind: 'med', med: r.med });
    if (!ebgp) attrs.push({ kind: 'localPref', localPref: this.gshut ? 0 : r.localPref ?? 100 });
    const communities = (r.communities ?? []).map((c) => parseCommunity(c) ?? 0);
    if (this.gshut && !communities.includes(WellKnownCommunity.GracefulShutdown)) communities.push(WellKnownCommunity.GracefulShutdown);
    if (communities.length > 0) attrs.push({ kind: 'communities', communities });
    const large = (r.largeCommunities ?? []).flatMap((c) => { const l = parseLargeCommunity(c); return l ? [l] : []; });
    if (large.length > 0) attrs.push({ kind: 'largeCommunities', largeCommunities: large });
    return attrs;
  }

  private signature(s: Session, r: Route): string {
    return JSON.stringify([s.ebgp, this.gshut, r.communities ?? [], r.largeCommunities ?? [], r.localPref ?? null, r.med ?? null]);
  }
}
