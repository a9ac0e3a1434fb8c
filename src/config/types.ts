/**
 * The validated configuration every component works from: what `parseConfig()` (config.ts) makes of the
 * baregate.io objects and the Secrets they point at. One shape for the controller (which pools are announced at
 * all), the speaker (what to announce, where, to whom) and the admission webhook (the problems, before storing).
 *
 * Objects with problems are left out of {@link Config} and listed in {@link ConfigProblem}s; everything else is
 * kept, so one bad BGPPeer never stops the announcements of the rest.
 */
import type { LabelSelector } from '../api/types.ts';

/** What a pool contributes to announcement decisions: its name and labels (for `ipAddressPoolSelectors`). */
export interface PoolRef {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** A usable L2Advertisement. */
export interface L2AdvertisementConfig {
  readonly name: string;
  /** Pool names it covers, resolved from `ipAddressPools` and `ipAddressPoolSelectors` (neither given: every pool). */
  readonly pools: ReadonlySet<string>;
  /** Nodes that may announce (any selector matching is enough; none given: every node). */
  readonly nodeSelectors: readonly LabelSelector[];
  /** Interfaces to announce on; empty: the interfaces whose subnet holds the IP (l2/interfaces.ts chooseInterfaces). */
  readonly interfaces: readonly string[];
}

/** A usable BGPAdvertisement. */
export interface BGPAdvertisementConfig {
  readonly name: string;
  readonly pools: ReadonlySet<string>;
  readonly nodeSelectors: readonly LabelSelector[];
  /** BGPPeer names it is sent to; empty: every peer of the node. */
  readonly peers: readonly string[];
  /** Canonical community texts (`65535:65281`; well-known names resolved). */
  readonly communities: readonly string[];
  /** Canonical large community texts (`a:b:c`). */
  readonly largeCommunities: readonly string[];
  readonly localPref?: number | undefined;
  /** Prefix length announced for an IPv4 address (default 32). */
  readonly aggregationLength: number;
  /** Prefix length announced for an IPv6 address (default 128). */
  readonly aggregationLengthV6: number;
}

/** A usable BGPPeer, durations in seconds, the password already read from its Secret. */
export interface BGPPeerConfig {
  readonly name: string;
  readonly myASN: number;
  readonly peerASN?: number | undefined;
  readonly dynamicASN?: 'internal' | 'external' | undefined;
  readonly peerAddress: string;
  readonly peerPort: number;
  readonly sourceAddress?: string | undefined;
  /** Router ID for sessions to this peer; undefined: the speaker picks the node's IPv4 address. */
  readonly routerID?: string | undefined;
  readonly holdTime: number;
  readonly keepaliveTime?: number | undefined;
  readonly connectTime: number;
  readonly ebgpMultiHop: boolean;
  readonly passive: boolean;
  readonly gracefulRestart: boolean;
  readonly password?: string | undefined;
  /** Nodes that peer with it (none given: every node). */
  readonly nodeSelectors: readonly LabelSelector[];
  /** Name of a BFDProfile. */
  readonly bfdProfile?: string | undefined;
  /** That profile's settings, resolved; undefined when the peer names none or the profile is missing (no BFD). */
  readonly bfd?: BFDProfileConfig | undefined;
}

/** A usable BFDProfile (defaults applied), as the speaker's BFD sessions need it. */
export interface BFDProfileConfig {
  readonly name: string;
  readonly receiveIntervalMs: number;
  readonly transmitIntervalMs: number;
  readonly detectMultiplier: number;
  readonly passive: boolean;
  /** Multihop sessions: lowest TTL accepted (single-hop ones accept 255 only). */
  readonly minimumTtl: number;
  /** The BGP session waits for BFD Up before it starts. */
  readonly waitForUp: boolean;
}

/** Everything usable. Lists are in name order. */
export interface Config {
  readonly pools: readonly PoolRef[];
  readonly l2: readonly L2AdvertisementConfig[];
  readonly bgp: readonly BGPAdvertisementConfig[];
  readonly peers: readonly BGPPeerConfig[];
}

/** Stable problem codes (events and tests match on these, not on messages). */
export const ProblemCodes = {
  Invalid: 'invalid',
  UnknownPool: 'unknown-pool',
  UnknownPeer: 'unknown-peer',
  BadSelector: 'bad-selector',
  SecretMissing: 'secret-missing',
  SecretKeyMissing: 'secret-key-missing',
  PlaintextPassword: 'plaintext-password',
  /** Two pools share addresses (reported by parseConfig only with `crossChecks`). */
  Overlap: 'overlap',
  /** A BGPPeer names a BFDProfile that does not exist (the session runs without BFD). */
  UnknownBFDProfile: 'unknown-bfd-profile',
  /** Two BGPPeers with the same address for the same nodes (only with `crossChecks`). */
  DuplicatePeer: 'duplicate-peer',
} as const;
/** One of {@link ProblemCodes}. */
export type ProblemCode = (typeof ProblemCodes)[keyof typeof ProblemCodes];

/** One problem with one object. `error`s leave the object out of the Config; `warning`s keep it. */
export interface ConfigProblem {
  readonly kind: 'IPAddressPool' | 'L2Advertisement' | 'BGPAdvertisement' | 'BGPPeer' | 'BFDProfile';
  readonly name: string;
  /** Field path, e.g. `spec.peerASN`. */
  readonly field: string;
  readonly code: ProblemCode;
  readonly severity: 'error' | 'warning';
  readonly message: string;
}

/** A Secret as read from the API (data base64, as Kubernetes returns it). */
export interface SecretObject {
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly resourceVersion?: string };
  readonly type?: string;
  readonly data?: Readonly<Record<string, string>>;
}

/** What parseConfig reads: the objects as they come from the API (unvalidated), and the Secrets of baregate-system. */
export interface ConfigSnapshot {
  readonly pools: readonly unknown[];
  readonly l2Advertisements: readonly unknown[];
  readonly bgpAdvertisements: readonly unknown[];
  readonly bgpPeers: readonly unknown[];
  /** Absent: not read (the webhook, doctor): peers keep their `bfdProfile` name unresolved and unreported. */
  readonly bfdProfiles?: readonly unknown[] | undefined;
  readonly secrets: readonly SecretObject[];
}

/** The result: always a Config (possibly empty) plus every problem found. */
export interface ParsedConfig {
  readonly config: Config;
  readonly problems: readonly ConfigProblem[];
}
