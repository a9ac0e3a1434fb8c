/**
 * Fake data-plane ports for running the speaker (src/cli/speaker.ts startSpeaker) in-process against a real
 * apiserver without root or network namespaces: no packet sockets, no BGP sessions, no heartbeat UDP, no nftables.
 * The integration tests that start a speaker (test/integration/speaker.test.ts, bundle.test.ts) share these so
 * that a change to the ports (LinkPort, BgpPort, …) is followed in one place.
 *
 * What is faked records what the daemon asked for (the IPs a link answers, the routes given to BGP) so a test can
 * assert on the data plane the daemon would have programmed.
 */
import type { PeerConfig } from '../../src/bgp/config.ts';
import type { PeerStats, Route } from '../../src/bgp/speaker.ts';
import type { SpeakerOverrides } from '../../src/cli/speaker.ts';
import type { BfdSessionSpec } from '../../src/bfd/sessions.ts';
import type { BgpPort, LinkPort } from '../../src/speaker/daemon.ts';

/**
 * An L2 link that answers nothing on the wire but remembers which IPs the daemon told it to answer (`owned`),
 * so a test can check the L2 plan. The MAC is a parameter because it must equal the faked interface's MAC.
 * Adding an IP it already answers changes nothing, as the real link (src/l2/link.ts) does.
 */
export class FakeLink implements LinkPort {
  /** The IPs the daemon asked this link to answer. */
  readonly owned = new Set<string>();
  /** Counters the daemon sums into its metrics; `announcements` counts each newly added IP. */
  readonly stats = { replies: 0, announcements: 0 };

  /** @param hwaddr the link's MAC, the one the test's faked interface reports. */
  constructor(readonly hwaddr: string) {}

  get ownedCount(): number { return this.owned.size; }
  add(ip: string): void { if (!this.owned.has(ip)) { this.owned.add(ip); this.stats.announcements++; } }
  remove(ip: string): void { this.owned.delete(ip); }
  /** Always finds the IP free, after the whole window (like a probe nobody answers). */
  probe(_ip: string, windowMs: number): Promise<{ free: boolean; macs: string[] }> { return new Promise((r) => { setTimeout(() => { r({ free: true, macs: [] }); }, windowMs); }); }
  setCarrier(): void { /* always up */ }
  close(): void { this.owned.clear(); }
}

/** How a FakeBgp reports its sessions: why a test picks one is in the option's comment. */
export interface FakeBgpOptions {
  /**
   * true: every configured peer is reported Established (with the number of prefixes given to it), so the
   * SpeakerStatus lists sessions as with a live router; false (default): no session is reported at all.
   */
  readonly established?: boolean;
}

/**
 * A BGP speaker that opens no socket but keeps the peers and routes the daemon gave it (`peers`, `routes`) and
 * counts graceful shutdowns (`gshut`), so a test can check the BGP plan and the SIGTERM sequence.
 */
export class FakeBgp implements BgpPort {
  /** The peers the daemon configured last. */
  peers: readonly PeerConfig[] = [];
  /** The routes the daemon gave last, by peer name. */
  routes: ReadonlyMap<string, readonly Route[]> = new Map();
  /** How often gracefulShutdown() was called. */
  gshut = 0;
  private readonly established: boolean;

  /** @param o whether sessions are reported (see FakeBgpOptions). */
  constructor(o: FakeBgpOptions = {}) { this.established = o.established ?? false; }

  start(): Promise<void> { return Promise.resolve(); }
  setPeers(p: readonly PeerConfig[]): void { this.peers = p; }
  setRoutes(r: ReadonlyMap<string, readonly Route[]>): void { this.routes = r; }
  stats(): PeerStats[] {
    if (!this.established) return [];
    return this.peers.map((p) => ({ name: p.name, address: p.peerAddress, state: 'Established', establishedSince: Date.UTC(2026, 0, 1), updatesSent: 1, prefixesAdvertised: this.routes.get(p.name)?.length ?? 0, establishedCount: 1, collisions: 0, sendHoldExpired: 0, lastError: '' }));
  }
  gracefulShutdown(): Promise<void> { this.gshut++; return Promise.resolve(); }
  stop(): void { /* nothing open */ }
  peerDown(): void { /* no sessions to drop */ }
  setHeld(): void { /* no sessions to hold */ }
}

/**
 * The rest of the data plane, inert: heartbeat datagrams go nowhere and none arrive, every carrier is up, and
 * nft scripts are accepted without running (no nftables in the root namespace). Spread into the overrides of
 * startSpeaker next to openLink, bgp and interfaces; fresh objects on every call, so speakers share nothing.
 */
export function inertDataPlane(): Required<Pick<SpeakerOverrides, 'datagrams' | 'carrier' | 'nft' | 'bfd'>> {
  let sessions: readonly BfdSessionSpec[] = [];
  return {
    datagrams: { send: () => undefined, onMessage: () => undefined, close: () => undefined },
    // BFD sessions that never hear their peer: Down, nothing sent
    bfd: {
      setSessions: (s) => { sessions = s; }, onChange: () => undefined, stop: () => { sessions = []; },
      stats: () => sessions.map((x) => ({
        peer: x.peer, address: x.peerAddress, multihop: x.multihop, state: 'Down' as const, upSince: undefined, lastDiagnostic: '',
        transmitIntervalMs: 0, detectionTimeMs: 0, stateChanges: 0, packetsSent: 0, packetsReceived: 0, packetsDropped: 0, lastDropped: '',
      })),
    },
    carrier: { setInterfaces: () => undefined, isUp: () => true, onChange: () => undefined, stop: () => undefined },
    nft: () => Promise.resolve(),
  };
}
