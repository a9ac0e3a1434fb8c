/**
 * The BFD sessions of one speaker: one per BGP peer whose BGPPeer names a BFDProfile. Each session runs the pure
 * FSM (fsm.ts) on an injected clock and the UDP sockets of socket.ts; this module only keeps the set in line
 * with the configuration and tells its owner when a session leaves or reaches Up, which is all BGP needs
 * (RFC 5882 §10.2: BFD Down tears the BGP session down at once).
 */
import type { BFDProfileConfig, BGPPeerConfig } from '../config/types.ts';

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
