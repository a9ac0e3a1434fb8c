/**
 * The BGP speaker: the set of peers (one {@link Session} each), the listener that hands incoming
 * connections to them, and the routes each peer should have. Desired routes are diffed against each
 * peer's adj-RIB-out ({@link AdjRibOut}) and only changes go on the wire, packed into as few UPDATEs as
 * fit and written only while the peer's socket takes them. Received UPDATEs are decoded and validated
 * (RFC 7606) and otherwise ignored: the speaker only announces.
 */
import net from 'node:net';
import { realClock, type Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import { canonicalIP, parseIP } from '../net/ip.ts';
import type { PeerConfig, RouteAttributes, SpeakerConfig } from './config.ts';
import { applyAcceptedTtl, nativeDialer, setListenerMd5 } from './dial.ts';
import { State } from './fsm.ts';
import { Afi, Safi } from './message.ts';
import { PrefixTable, type Wanted } from './rib.ts';
import { routeAttributes, routeSignature } from './routeattrs.ts';
import { Session, type Dialer, type PeerStats, type SessionHost } from './session.ts';

export { GRACEFUL_RESTART_TIME, type PeerStats } from './session.ts';

/** A route as the speaker keeps it: canonical prefix text plus attributes. */
export interface Route extends RouteAttributes {
  readonly prefix: string;
}

/** Options of a speaker. */
export interface SpeakerOptions {
  readonly config: SpeakerConfig;
  readonly log: Logger;
  /** Time for every session timer (default the real clock). */
  readonly clock?: Clock;
  /** How sessions connect out (default through the native addon, for TTL and TCP-MD5). */
  readonly dialer?: Dialer;
  /** Applies TTL rules to an accepted connection; returns why it could not (default through the native addon). */
  readonly acceptTtl?: (s: net.Socket, ttl: { ttl: number; minTtl: number | undefined }) => string | undefined;
}

/** See the module comment. */
export class Speaker implements SessionHost {
  readonly cfg: SpeakerConfig;
  readonly routerID: string;
  readonly myASN: number;
  private readonly sessions = new Map<string, Session>();
  /** Desired routes: prefix key → route and the peers it is limited to (undefined: all). */
  private readonly routes = new Map<string, { route: Route; peers: readonly string[] | undefined }>();
  private readonly prefixes = new PrefixTable();
  private readonly servers: net.Server[] = [];
  private syncQueued = false;
  private gshut = false;
  private readonly clock: Clock;

  constructor(private readonly o: SpeakerOptions) {
    this.cfg = o.config;
    this.routerID = o.config.routerID;
    this.myASN = o.config.myASN;
    this.clock = o.clock ?? realClock;
    for (const p of o.config.peers) {
      this.sessions.set(p.name, new Session({ cfg: p, host: this, log: o.log.child({ peer: p.name }), clock: this.clock, dialer: o.dialer ?? nativeDialer, prefixes: this.prefixes }));
    }
    for (const r of o.config.prefixes) { const key = this.prefixes.key(r.prefix); this.routes.set(key, { route: { ...r, prefix: key }, peers: r.peers }); }
  }

  /** Starts listening (when any peer is passive or a listen address is set) and every session. */
  async start(): Promise<void> {
    // listening also lets active peers connect to us; both connecting is resolved as a collision (RFC 4271 §6.8)
    const addrs = this.listenAddresses();
    for (const a of addrs) await this.listen(a);
    for (const s of this.sessions.values()) s.start();
  }

  /**
   * Where to listen: the configured listen address, else each passive peer's source address. Never all
   * addresses by default (config validation requires one of the two for a passive peer).
   */
  private listenAddresses(): string[] {
    if (this.cfg.listenAddress !== undefined) return [this.cfg.listenAddress];
    return [...new Set(this.cfg.peers.filter((p) => p.passive && p.sourceAddress !== undefined).map((p) => p.sourceAddress ?? ''))];
  }

  private async listen(host: string): Promise<void> {
    const server = net.createServer((sock) => { this.accept(sock); });
    server.on('error', (err) => { this.o.log.error({ event: 'bgp_listen_error', err: err.message }, 'listener error'); });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: this.cfg.listenPort }, () => { server.off('error', reject); resolve(); });
    });
    setListenerMd5(server, this.cfg.peers);
    this.servers.push(server);
  }

  /** A connection to the listener: its error listener first, then the peer it belongs to decides. */
  private accept(sock: net.Socket): void {
    sock.on('error', () => { sock.destroy(); });
    try {
      const remote = (sock.remoteAddress ?? '').replace(/^::ffff:/, '');
      const s = [...this.sessions.values()].find((x) => canonicalIP(x.cfg.peerAddress) === canonicalIP(remote));
      if (!s) { this.o.log.warn({ event: 'bgp_unknown_peer', remote }, 'connection from an unconfigured address refused'); sock.destroy(); return; }
      const why = (this.o.acceptTtl ?? applyAcceptedTtl)(sock, s.ttl);
      if (why !== undefined) { this.o.log.warn({ event: 'bgp_accept_ttl_failed', peer: s.cfg.name, err: why }, 'could not apply TTL rules to an incoming connection: refused'); sock.destroy(); return; }
      s.incoming(sock);
    } catch (e) {
      this.o.log.error({ event: 'bgp_accept_bug', err: String(e) }, 'accepting a connection threw');
      sock.destroy();
    }
  }

  /** The addresses the listeners are bound to (tests listen on port 0). */
  listening(): { address: string; port: number }[] {
    return this.servers.flatMap((s) => { const a = s.address(); return a && typeof a === 'object' ? [{ address: a.address, port: a.port }] : []; });
  }

  /** Announces (or updates) a route to every peer, or to the named ones. */
  announce(route: Route, peers?: readonly string[]): void {
    const key = this.prefixes.key(route.prefix);
    this.routes.set(key, { route: { ...route, prefix: key }, peers });
    this.schedule();
  }

  /** Withdraws a route. */
  withdraw(prefix: string): void {
    this.routes.delete(this.prefixes.key(prefix));
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
    this.gshut = true; // every signature changes: the next sync re-sends every route
    this.syncAll();
    await new Promise<void>((r) => { this.clock.setTimeout(r, waitMs); });
    this.routes.clear();
    this.syncAll();
    await new Promise<void>((r) => { this.clock.setTimeout(r, 100); });
    this.stop();
  }

  /** Stops every session (Cease/administrative shutdown) and the listeners. */
  stop(): void {
    for (const s of this.sessions.values()) s.stop();
    for (const s of this.servers.splice(0)) s.close();
  }

  /** Per-peer counters and states. */
  stats(): PeerStats[] {
    return [...this.sessions.values()].map((s) => ({ ...s.stats }));
  }

  /** One session, for tests. */
  session(name: string): Session | undefined {
    return this.sessions.get(name);
  }

  private schedule(): void {
    if (this.syncQueued) return;
    this.syncQueued = true;
    setImmediate(() => { this.syncQueued = false; this.syncAll(); });
  }

  private syncAll(): void {
    for (const s of this.sessions.values()) if (s.state.state === State.Established) this.sync(s);
  }

  /**
   * Sends a peer the changes between what it should have and what its adj-RIB-out holds, while its
   * socket takes them: each message is recorded in the adj-RIB-out only once written, and the rest
   * waits for 'drain' (which calls this again).
   */
  sync(s: Session): void {
    const n = s.negotiated;
    if (!n || s.state.state !== State.Established) return;
    const families = new Set(n.families.filter((f) => f.safi === Safi.Unicast).map((f) => f.afi));
    const ac = { myASN: this.myASN, ebgp: s.ebgp, gshut: this.gshut };
    const want = new Map<string, Wanted<Route>>();
    const hops = new Map<number, string | undefined>([[Afi.IPv4, this.nextHop(s, Afi.IPv4)], [Afi.IPv6, this.nextHop(s, Afi.IPv6)]]);
    for (const [key, { route, peers }] of this.routes) {
      if (peers && !peers.includes(s.cfg.name)) continue;
      const afi = this.prefixes.parse(key).prefix.afi;
      if (!families.has(afi) || hops.get(afi) === undefined) continue;
      want.set(key, { route, sig: routeSignature(route, ac) });
    }
    if (s.canWrite()) {
      const plan = s.rib.plan(want, { ctx: s.codec, attributes: (r) => routeAttributes(r, ac), nextHop: (afi) => hops.get(afi) ?? '' });
      for (const e of plan.errors) this.o.log.error({ event: 'bgp_attributes_too_large', peer: s.cfg.name, prefixes: e.keys.length, err: e.error.message }, 'routes not sent');
      // in order, End-of-RIB last; the first message the socket cannot take ends the pass until 'drain'
      for (const m of plan.messages) {
        if (!s.canWrite() || !s.send(m.message)) break;
        s.rib.commit(m.change);
      }
    }
    s.stats.prefixesAdvertised = s.rib.size;
  }

  /** Next hop for a family on this session: the session's own address, or the configured one for the other family. */
  private nextHop(s: Session, afi: number): string | undefined {
    const local = (s.localAddress ?? '').replace(/^::ffff:/, '');
    const localFamily = parseIP(local)?.family;
    const cfg: PeerConfig = s.cfg;
    if (afi === Afi.IPv4) return cfg.nextHopIPv4 ?? (localFamily === 'IPv4' ? local : undefined);
    return cfg.nextHopIPv6 ?? (localFamily === 'IPv6' ? canonicalIP(local) : undefined);
  }
}
