/**
 * The data shapes shared by the speaker's parts: the cluster view the pure planner reads
 * ({@link PlanSnapshot}), the liveness view that heartbeats and Leases produce ({@link MemberView}), and the
 * plan itself ({@link Plan}). Kept apart from the code so the planner, liveness, the L2 takeover engine and the
 * daemon can be built and tested each on its own.
 */
import type { Config } from '../config/types.ts';
import type { NodeInterface } from '../l2/interfaces.ts';
import type { LabelSelector } from '../api/types.ts';

/** An interface of a node as its speaker reports it (heartbeats, status): with its carrier state. */
export interface InterfaceState extends NodeInterface {
  /** Operationally up with carrier: only such an interface may announce. */
  readonly up: boolean;
}

/**
 * How one speaker is seen by the observer:
 * - `alive`: heard from directly (a valid heartbeat) within the timeout;
 * - `suspect`: no recent heartbeat but its Lease is fresh (crashed, or only the heartbeat path is cut): not a
 *   candidate for new ownership, but an IP it holds is taken over only after a probe finds nobody answering;
 * - `leaving`: said it is shutting down (SIGTERM): its IPs are handed over at once.
 */
export type MemberState = 'alive' | 'suspect' | 'leaving';

/** One speaker in the observer's liveness view. */
export interface MemberView {
  readonly state: MemberState;
  /** Its interfaces as last reported (empty if never heard). */
  readonly interfaces: readonly InterfaceState[];
}

/** What the planner needs of a Node object. */
export interface PlanNode {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Labelled `node.kubernetes.io/exclude-from-external-load-balancers`. */
  readonly excluded: boolean;
  /** Condition `NetworkUnavailable=True`. */
  readonly networkUnavailable: boolean;
}

/** A Service holding addresses of ours. */
export interface PlanService {
  /** `namespace/name`. */
  readonly key: string;
  /** Canonical IP texts from `status.loadBalancer.ingress`. */
  readonly ips: readonly string[];
  /** Pool the addresses came from (`baregate.io/ip-allocated-from-pool`; the first when it lists several). */
  readonly pool: string;
  /** Pool per IP when the Service's addresses come from more than one pool (dual-stack from two pools). */
  readonly poolOf?: Readonly<Record<string, string>>;
  /** `externalTrafficPolicy: Local`: only nodes with a ready endpoint announce. */
  readonly local: boolean;
}

/** Everything `plan()` reads: plain data, no I/O. */
export interface PlanSnapshot {
  readonly config: Config;
  readonly nodes: ReadonlyMap<string, PlanNode>;
  /** Speakers with their liveness (the observer included, always `alive` unless it is leaving). */
  readonly members: ReadonlyMap<string, MemberView>;
  readonly services: readonly PlanService[];
  /** For `Local` Services: the nodes that have a ready endpoint of it (Service key → node names). */
  readonly readyNodes: ReadonlyMap<string, ReadonlySet<string>>;
}

/** One IP this node should answer for in L2 mode. */
export interface L2Claim {
  readonly ip: string;
  /** Interfaces to answer on (never empty). */
  readonly interfaces: readonly string[];
  /** The Services (keys) behind the IP: several when shared. */
  readonly services: readonly string[];
  /**
   * Suspect members ranked above this node for the IP: each may still be answering. The takeover waits a
   * step per such member and probes before answering; empty when this node is the top candidate outright.
   */
  readonly outrankedBySuspects: readonly string[];
}

/** Who should own an L2 IP (cluster-wide view, for status, duels and NotAnnounced). */
export interface L2Owner {
  /** The owner, or undefined when no node is a candidate. */
  readonly owner: string | undefined;
  readonly services: readonly string[];
  /** Why there is no owner (no advertisement, no candidate node, no ready endpoint, …), when there is none. */
  readonly reason?: string;
}

/** A route for one BGP peer. */
export interface PlannedRoute {
  /** Canonical prefix (`ip/aggregationLength`). */
  readonly prefix: string;
  readonly communities: readonly string[];
  readonly largeCommunities: readonly string[];
  readonly localPref?: number | undefined;
  readonly services: readonly string[];
}

/** The plan for one node. */
export interface Plan {
  /** IPs this node answers for in L2 mode. */
  readonly l2: ReadonlyMap<string, L2Claim>;
  /** Every L2-announced IP and its planned owner. */
  readonly l2Owners: ReadonlyMap<string, L2Owner>;
  /** BGP peer name (of the peers this node peers with) → routes for it. */
  readonly bgp: ReadonlyMap<string, readonly PlannedRoute[]>;
  /** BGP peers this node peers with (BGPPeer.nodeSelectors matched), by name. */
  readonly peers: readonly string[];
  /** Service IPs that no advertisement covers (nobody announces them). */
  readonly unannounced: ReadonlyMap<string, readonly string[]>;
}

/** Re-exported for the planner's callers. */
export type { LabelSelector };
