/**
 * The BFD sessions of one speaker: one per BGP peer whose BGPPeer names a BFDProfile. Each session runs the pure
 * FSM (fsm.ts) on an injected clock and the UDP sockets of socket.ts; this module only keeps the set in line
 * with the configuration and tells its owner when a session leaves or reaches Up, which is all BGP needs
 * (RFC 5882 §10.2: BFD Down tears the BGP session down at once).
 */
import type { Clock, Timer } from '../clock.ts';
import type { BFDProfileConfig, BGPPeerConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { canonicalIP } from '../net/ip.ts';
import { decodeControl, diagText, encodeControl } from './codec.ts';
import { detectionTime, initialBfdState, stateName, transition, txInterval, type BfdEvent, type BfdFsmState, type BfdTimers } from './fsm.ts';

/** One wanted session: the BGP peer it protects and how to reach it. */
export interface BfdSessionSpec {
  /** BGPPeer name: the identity of the session. */
  readonly peer: string;
  readonly peerAddress: string;
  /** The local address to send from (BGPPeer.sourceAddress); default the kernel's choice for the route. */
  readonly localAddress?: string | undefined;
  /** RFC 5883 multihop (UDP 4784, minimum TTL from the profile) instead of RFC 5881 single hop (UDP 3784, TTL 255). */
  readonly multihop: boolean;
  readonly profile: BFDProfileConfig;
}

/** BFD states by name (RFC 5880 §4.1 `Sta`). */
export type BfdStateName = 'AdminDown' | 'Down' | 'Init' | 'Up';

/** What a session reports: its state and counters since it was created. */
export interface BfdSessionStats {
  readonly peer: string;
  readonly address: string;
  readonly multihop: boolean;
  readonly state: BfdStateName;
  /** Wall-clock ms (Clock.wall) of the last change to Up; undefined while not Up. */
  readonly upSince: number | undefined;
  /** Why it last left Up ('' while it never did). */
  readonly lastDiagnostic: string;
  /** Agreed transmit interval and detection time, ms (0 before the peer was heard). */
  readonly transmitIntervalMs: number;
  readonly detectionTimeMs: number;
  readonly stateChanges: number;
  readonly packetsSent: number;
  readonly packetsReceived: number;
  /** Packets dropped before the FSM: bad TTL, failed checks, unknown discriminator. */
  readonly packetsDropped: number;
  /** Why the last dropped packet was dropped ('' while none was), e.g. a TTL below the profile's minimumTtl. */
  readonly lastDropped: string;
}

/** A state change of one session, as its owner hears it. */
export interface BfdChange {
  readonly peer: string;
  readonly from: BfdStateName;
  readonly to: BfdStateName;
  /** The diagnostic that came with it (RFC 5880 §4.1 `Diag`, as text). */
  readonly diagnostic: string;
  /**
   * The peer put its side in AdminDown: BFD was switched off there, which says nothing about reachability, so
   * the BGP session must not be torn down for it (RFC 5882 §3.2).
   */
  readonly remoteAdminDown: boolean;
}

/**
 * The BFD session a BGPPeer asks for, or undefined without a profile. Single hop exactly when BGP is single hop
 * (eBGP without ebgpMultiHop: TTL 1); iBGP and multihop eBGP use RFC 5883 multihop, as BIRD and FRR do.
 */
export function bfdSpecFor(peer: BGPPeerConfig): BfdSessionSpec | undefined {
  if (!peer.bfd) return undefined;
  const ebgp = peer.dynamicASN !== undefined ? peer.dynamicASN === 'external' : peer.myASN !== peer.peerASN;
  return { peer: peer.name, peerAddress: peer.peerAddress, localAddress: peer.sourceAddress, multihop: !ebgp || peer.ebgpMultiHop, profile: peer.bfd };
}

// ───────────────────────────── the sessions ─────────────────────────────

/** UDP destination ports: RFC 5881 §4 single hop, RFC 5883 §2 multihop. */
export const BFD_PORTS = { singleHop: 3784, multihop: 4784 } as const;

/** What the sessions need from the network (socket.ts for real; recording fakes in tests). */
export interface BfdTransport {
  /**
   * Receives control packets for one family and mode (3784 or 4784, every local address): the source, the
   * TTL / hop limit it arrived with, the payload. Throws when the port cannot be opened.
   */
  listen(family: 4 | 6, multihop: boolean, onPacket: (src: string, ttl: number, payload: Buffer) => void): { close(): void };
  /** A socket for one session's packets: TTL 255, source port in 49152–65535, bound to `localAddress` when given. */
  sender(family: 4 | 6, localAddress: string | undefined): { send(dst: string, port: number, payload: Buffer): void; close(): void };
}

/** Settings of {@link BfdSessions}. */
export interface BfdSessionsOptions {
  readonly transport: BfdTransport;
  readonly clock: Clock;
  readonly log: Logger;
  /** Jitter and discriminators (default Math.random). */
  readonly rand?: () => number;
}

interface Live {
  spec: BfdSessionSpec;
  fsm: BfdFsmState;
  readonly sender: { send(dst: string, port: number, payload: Buffer): void; close(): void } | undefined;
  tx: Timer | undefined;
  detect: Timer | undefined;
  upSince: number | undefined;
  lastDiagnostic: string;
  stateChanges: number;
  packetsSent: number;
  packetsReceived: number;
  packetsDropped: number;
  lastDropped: string;
  /** Drops per reason, for logging the first of each (and every 1000th). */
  readonly dropsByReason: Map<string, number>;
  sendErrors: number;
}

const family = (ip: string): 4 | 6 => (ip.includes(':') ? 6 : 4);
const timersOf = (p: BFDProfileConfig): BfdTimers => ({ desiredMinTx: p.transmitIntervalMs * 1000, requiredMinRx: p.receiveIntervalMs * 1000, detectMult: p.detectMultiplier, passive: p.passive });
const sameTimers = (a: BfdTimers, b: BfdTimers): boolean => a.desiredMinTx === b.desiredMinTx && a.requiredMinRx === b.requiredMinRx && a.detectMult === b.detectMult && a.passive === b.passive;
/** Fields whose change needs a new session (a new discriminator, socket and handshake). */
const sameEndpoints = (a: BfdSessionSpec, b: BfdSessionSpec): boolean => a.peerAddress === b.peerAddress && a.localAddress === b.localAddress && a.multihop === b.multihop;

/**
 * See the module comment. Packets are matched to a session by our discriminator when the peer knows it, else
 * by source address and mode, and must come from the session's peer in any case; single-hop packets must
 * arrive with TTL 255 (RFC 5881 §5), multihop ones with at least the profile's minimumTtl (RFC 5883 §2).
 */
export class BfdSessions {
  private readonly sessions = new Map<string, Live>();
  private readonly byDiscr = new Map<number, Live>();
  private readonly listeners = new Map<string, { close(): void }>();
  private readonly callbacks: ((c: BfdChange) => void)[] = [];
  private readonly rand: () => number;
  private stopped = false;
  /** Packets no session took (unknown discriminator or source, bad TTL, undecodable), by reason. */
  readonly dropped: Record<string, number> = {};

  constructor(private readonly o: BfdSessionsOptions) {
    this.rand = o.rand ?? Math.random;
  }

  /** Tells `cb` about every state change (after the session applied it). */
  onChange(cb: (c: BfdChange) => void): void {
    this.callbacks.push(cb);
  }

  /**
   * Makes the sessions exactly these: new ones start (Down, sending at 1 s until Up), removed ones send
   * AdminDown (so the peer keeps its BGP session, RFC 5882 §3.2) and close, changed timers are taken live
   * with a Poll Sequence, a changed address or mode is a new session.
   */
  setSessions(specs: readonly BfdSessionSpec[]): void {
    if (this.stopped) return;
    const want = new Map(specs.map((s) => [s.peer, s]));
    for (const [peer, l] of [...this.sessions]) {
      const next = want.get(peer);
      if (next && sameEndpoints(l.spec, next)) continue;
      this.close(l, next ? 'address or mode changed' : 'removed');
    }
    for (const spec of want.values()) {
      const l = this.sessions.get(spec.peer);
      if (!l) { this.open(spec); continue; }
      const timers = timersOf(spec.profile);
      l.spec = spec;
      if (!sameTimers(l.fsm.timers, timers)) this.feed(l, { type: 'setTimers', timers });
    }
    this.syncListeners();
  }

  /** Per-session state and counters, by peer name. */
  stats(): BfdSessionStats[] {
    return [...this.sessions.values()].sort((a, b) => (a.spec.peer < b.spec.peer ? -1 : 1)).map((l) => ({
      peer: l.spec.peer, address: l.spec.peerAddress, multihop: l.spec.multihop, state: stateName(l.fsm.state), upSince: l.upSince,
      lastDiagnostic: l.lastDiagnostic, transmitIntervalMs: l.fsm.heard ? txInterval(l.fsm) / 1000 : 0, detectionTimeMs: detectionTime(l.fsm) / 1000,
      stateChanges: l.stateChanges, packetsSent: l.packetsSent, packetsReceived: l.packetsReceived, packetsDropped: l.packetsDropped,
      lastDropped: l.lastDropped,
    }));
  }

  /** Every session to AdminDown (one last packet each), then every socket closed. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    for (const l of [...this.sessions.values()]) this.close(l, 'stopping');
    this.syncListeners();
    this.stopped = true;
  }

  private open(spec: BfdSessionSpec): void {
    let discr = 0;
    while (discr === 0 || this.byDiscr.has(discr)) discr = Math.floor(this.rand() * 0xffffffff) >>> 0;
    let sender: Live['sender'];
    try {
      sender = this.o.transport.sender(family(spec.peerAddress), spec.localAddress);
    } catch (e) {
      this.o.log.error({ event: 'bfd_socket_failed', peer: spec.peer, err: String(e) }, 'BFD: no socket to send from (retried on the next config change)');
    }
    const l: Live = {
      spec, fsm: initialBfdState(discr, timersOf(spec.profile)), sender, tx: undefined, detect: undefined, upSince: undefined,
      lastDiagnostic: '', stateChanges: 0, packetsSent: 0, packetsReceived: 0, packetsDropped: 0, lastDropped: '', dropsByReason: new Map(), sendErrors: 0,
    };
    this.sessions.set(spec.peer, l);
    this.byDiscr.set(discr, l);
    this.o.log.info({ event: 'bfd_session_added', peer: spec.peer, address: spec.peerAddress, multihop: spec.multihop, discriminator: discr }, 'BFD session added');
    this.feed(l, { type: 'start' });
  }

  private close(l: Live, why: string): void {
    this.feed(l, { type: 'adminDown' });
    l.tx?.cancel();
    l.detect?.cancel();
    l.sender?.close();
    this.sessions.delete(l.spec.peer);
    this.byDiscr.delete(l.fsm.localDiscr);
    this.o.log.info({ event: 'bfd_session_removed', peer: l.spec.peer, reason: why }, 'BFD session removed');
  }

  /** One listener per family and mode in use; a failed one is logged and tried again on the next change. */
  private syncListeners(): void {
    const want = new Set([...this.sessions.values()].map((l) => `${family(l.spec.peerAddress)}/${l.spec.multihop ? 'm' : 's'}`));
    for (const [k, c] of [...this.listeners]) if (!want.has(k)) { c.close(); this.listeners.delete(k); }
    for (const k of want) {
      if (this.listeners.has(k)) continue;
      const fam = k.startsWith('6') ? 6 : 4;
      const multihop = k.endsWith('m');
      try {
        this.listeners.set(k, this.o.transport.listen(fam, multihop, (src, ttl, payload) => { this.receive(multihop, src, ttl, payload); }));
      } catch (e) {
        this.o.log.error({ event: 'bfd_listen_failed', family: fam, port: multihop ? BFD_PORTS.multihop : BFD_PORTS.singleHop, err: String(e) }, 'BFD: cannot listen (another BFD daemon on this node?)');
      }
    }
  }

  /**
   * Counts a dropped packet. One that came from a session's peer is also the session's: its `lastDropped` says
   * why, and the first drop of each reason (then every 1000th) is a warning, since a peer whose every packet is
   * dropped (a router that sends multihop BFD with a TTL below minimumTtl) otherwise just looks Down.
   */
  private drop(reason: string, l?: Live, detail?: string): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
    if (!l) return;
    l.packetsDropped++;
    l.lastDropped = detail ?? reason;
    const n = (l.dropsByReason.get(reason) ?? 0) + 1;
    l.dropsByReason.set(reason, n);
    if (n === 1 || n % 1000 === 0) {
      this.o.log.warn({ event: 'bfd_packet_dropped', peer: l.spec.peer, reason, detail: l.lastDropped, count: n }, `BFD: dropping packets from the peer: ${l.lastDropped}`);
    }
  }

  private receive(multihop: boolean, src: string, ttl: number, payload: Buffer): void {
    const r = decodeControl(payload);
    if (!r.ok) { this.drop(r.error); return; }
    const peer = canonicalIP(src.replace(/^::ffff:/, '')) ?? src;
    let l = r.packet.yourDiscriminator !== 0 ? this.byDiscr.get(r.packet.yourDiscriminator) : undefined;
    if (!l && r.packet.yourDiscriminator === 0) {
      for (const s of this.sessions.values()) if (s.spec.multihop === multihop && (canonicalIP(s.spec.peerAddress) ?? s.spec.peerAddress) === peer) l = s;
    }
    if (!l) { this.drop('no-session'); return; }
    if ((canonicalIP(l.spec.peerAddress) ?? l.spec.peerAddress) !== peer || l.spec.multihop !== multihop) {
      this.drop('wrong-source', l, `a packet for this session from ${peer} (${multihop ? 'multihop' : 'single hop'}), not from the peer ${l.spec.peerAddress} (${l.spec.multihop ? 'multihop' : 'single hop'})`);
      return;
    }
    if (multihop && ttl < l.spec.profile.minimumTtl) {
      this.drop('ttl', l, `TTL ${ttl} below the minimum ${l.spec.profile.minimumTtl} (BFDProfile ${l.spec.profile.name} minimumTtl; the peer may send multihop BFD with a lower initial TTL)`);
      return;
    }
    if (!multihop && ttl < 255) { this.drop('ttl', l, `TTL ${ttl}: single-hop BFD must arrive with 255 (RFC 5881 §5)`); return; }
    if (r.packet.auth) { this.drop('authenticated', l, 'authenticated packet: BFD authentication is not supported'); return; }
    l.packetsReceived++;
    this.feed(l, { type: 'received', packet: r.packet });
  }

  private feed(l: Live, e: BfdEvent): void {
    let t;
    try { t = transition(l.fsm, e, this.rand); } catch (err) {
      this.o.log.error({ event: 'bfd_fsm_bug', peer: l.spec.peer, err: String(err) }, 'BFD FSM threw');
      return;
    }
    l.fsm = t.state;
    const changes: BfdChange[] = [];
    for (const a of t.actions) {
      switch (a.type) {
        case 'send': this.send(l, encodeControl(a.packet)); break;
        case 'armTx':
          l.tx?.cancel();
          l.tx = this.o.clock.setTimeout(() => { l.tx = undefined; if (this.sessions.get(l.spec.peer) === l) this.feed(l, { type: 'txTimer' }); }, a.us / 1000);
          break;
        case 'armDetect':
          l.detect?.cancel();
          l.detect = this.o.clock.setTimeout(() => { l.detect = undefined; if (this.sessions.get(l.spec.peer) === l) this.feed(l, { type: 'detectTimer' }); }, a.us / 1000);
          break;
        case 'cancelDetect': l.detect?.cancel(); l.detect = undefined; break;
        case 'stateChange': {
          l.stateChanges++;
          const from = stateName(a.from);
          const to = stateName(a.to);
          if (to === 'Up') l.upSince = this.o.clock.wall();
          else if (from === 'Up') { l.upSince = undefined; l.lastDiagnostic = diagText(a.diag); }
          this.o.log.info({ event: 'bfd_state', peer: l.spec.peer, from, to, diagnostic: diagText(a.diag) }, 'BFD session state');
          changes.push({ peer: l.spec.peer, from, to, diagnostic: diagText(a.diag), remoteAdminDown: a.remoteAdminDown });
          break;
        }
      }
    }
    for (const c of changes) for (const cb of this.callbacks) {
      try { cb(c); } catch (err) { this.o.log.error({ event: 'bfd_callback_threw', peer: c.peer, err: String(err) }, 'BFD change callback threw'); }
    }
  }

  private send(l: Live, buf: Buffer): void {
    if (!l.sender) return;
    try {
      l.sender.send(l.spec.peerAddress, l.spec.multihop ? BFD_PORTS.multihop : BFD_PORTS.singleHop, buf);
      l.packetsSent++;
    } catch (e) {
      // a full buffer or an unreachable network: the next interval tries again, detection does the rest
      if (l.sendErrors++ % 100 === 0) this.o.log.warn({ event: 'bfd_send_failed', peer: l.spec.peer, err: String(e), failures: l.sendErrors }, 'BFD: send failed');
    }
  }
}
