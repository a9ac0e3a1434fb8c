/** Prometheus metrics (prom-client). Names are `baregate_…`; one registry per process. */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** The process registry, served on /metrics. */
export const registry = new Registry();

let defaults = false;
/** Adds Node.js process metrics (once). */
export function enableDefaultMetrics(): void {
  if (defaults) return;
  defaults = true;
  collectDefaultMetrics({ register: registry, prefix: 'baregate_' });
}

/**
 * Allocation decisions by outcome (allocated, unchanged, failed, released). `failed` counts failure
 * episodes: a Service that keeps failing while it is retried counts once until it succeeds or goes.
 */
export const allocations = new Counter({
  name: 'baregate_allocations_total',
  help: 'Address allocation decisions by result',
  labelNames: ['result'] as const,
  registers: [registry],
});

/**
 * Write requests to the Kubernetes API by kind (service_status, service_annotation, pool_status,
 * event_create, event_patch), whatever their answer: the load we put on the apiserver.
 */
export const apiWrites = new Counter({
  name: 'baregate_api_writes_total',
  help: 'Writes the controller made to the Kubernetes API',
  labelNames: ['kind'] as const,
  registers: [registry],
});

/** Service reconciles (each time the controller decides one Service): ~1 per Service change is the target. */
export const reconciles = new Counter({
  name: 'baregate_reconciles_total',
  help: 'Service reconciles by the address controller',
  registers: [registry],
});

/** Addresses per pool, family and state (assigned / available). Large pools saturate at 2^53; series of deleted pools are removed. */
export const poolAddresses = new Gauge({
  name: 'baregate_pool_addresses',
  help: 'Addresses per pool by family and state',
  labelNames: ['pool', 'family', 'state'] as const,
  registers: [registry],
});

/**
 * 1 while the leader's allocation is paused (the baregate namespace carries ALLOCATION_PAUSED_ANNOTATION): nothing is
 * written to Services, so a pause forgotten after a switch from MetalLB shows on the dashboard and can be alerted on.
 */
export const allocationPaused = new Gauge({ name: 'baregate_allocation_paused', help: '1 while the leader writes nothing to Services (allocation paused)', registers: [registry] });

/** 1 while this process is the leader. */
export const isLeader = new Gauge({ name: 'baregate_leader', help: '1 if this controller replica is the leader', registers: [registry] });

// ---- speaker (`baregate speaker`): names follow MetalLB's where the meaning is the same ----

/** IPs this node announces, by mode (L2: answered now; BGP: Service IPs behind planned routes). */
export const speakerAnnounced = new Gauge({
  name: 'baregate_speaker_announced_ips',
  help: 'IPs this speaker announces, by mode (L2 answered now, BGP prefixes planned)',
  labelNames: ['mode'] as const,
  registers: [registry],
});

/** L2 ownership changes of this node: IPs it started (gained) or stopped (lost) answering for. */
export const speakerOwnershipChanges = new Counter({
  name: 'baregate_speaker_ownership_changes_total',
  help: 'L2 ownership changes on this node (gained, lost)',
  labelNames: ['change'] as const,
  registers: [registry],
});

/** Gratuitous ARP / unsolicited NA sent (metallb_layer2_gratuitous_sent). */
export const speakerGratuitousSent = new Counter({
  name: 'baregate_speaker_layer2_gratuitous_sent_total',
  help: 'Gratuitous ARP and unsolicited NA packets sent',
  registers: [registry],
});

/** ARP/NDP requests answered (metallb_layer2_responses_sent). */
export const speakerResponsesSent = new Counter({
  name: 'baregate_speaker_layer2_responses_sent_total',
  help: 'ARP and NDP requests answered',
  registers: [registry],
});

/** Peers that went from alive to suspect or absent: each is a failure seen directly, before any Lease expired. */
export const speakerHeartbeatLosses = new Counter({
  name: 'baregate_speaker_heartbeat_losses_total',
  help: 'Speakers that stopped being heard (alive to suspect or gone)',
  registers: [registry],
});

/** Heartbeats refused, by reason (bad-mac, unknown-node, replay, ...): a LAN host faking liveness shows here. */
export const speakerHeartbeatsRejected = new Counter({
  name: 'baregate_speaker_heartbeats_rejected_total',
  help: 'Heartbeats rejected, by reason',
  labelNames: ['reason'] as const,
  registers: [registry],
});

/** 1 while the BGP session to the peer is Established (metallb_bgp_session_up). */
export const speakerBgpSessionUp = new Gauge({
  name: 'baregate_speaker_bgp_session_up',
  help: '1 if the BGP session to the peer is Established',
  labelNames: ['peer'] as const,
  registers: [registry],
});

/** UPDATE messages sent per peer (metallb_bgp_updates_total). */
export const speakerBgpUpdates = new Counter({
  name: 'baregate_speaker_bgp_updates_total',
  help: 'BGP UPDATE messages sent, by peer',
  labelNames: ['peer'] as const,
  registers: [registry],
});

/** Prefixes in the peer's adj-RIB-out (metallb_bgp_announced_prefixes_total, a gauge there too). */
export const speakerBgpPrefixes = new Gauge({
  name: 'baregate_speaker_bgp_announced_prefixes',
  help: 'Prefixes advertised to the peer',
  labelNames: ['peer'] as const,
  registers: [registry],
});

/** 1 while the BFD session to the peer is Up (MetalLB's FRR exporter: metallb_bfd_session_up). */
export const bfdSessionUp = new Gauge({
  name: 'baregate_bfd_session_up',
  help: '1 if the BFD session to the BGP peer is Up',
  labelNames: ['peer'] as const,
  registers: [registry],
});

/** BFD state changes per peer: a flapping path shows here before users notice. */
export const bfdStateChanges = new Counter({
  name: 'baregate_bfd_state_changes_total',
  help: 'BFD session state changes, by peer',
  labelNames: ['peer'] as const,
  registers: [registry],
});

/** BFD control packets sent per peer. */
export const bfdPacketsSent = new Counter({
  name: 'baregate_bfd_packets_sent_total',
  help: 'BFD control packets sent, by peer',
  labelNames: ['peer'] as const,
  registers: [registry],
});

/** BFD control packets received and accepted per peer (dropped ones are not counted). */
export const bfdPacketsReceived = new Counter({
  name: 'baregate_bfd_packets_received_total',
  help: 'BFD control packets received, by peer',
  labelNames: ['peer'] as const,
  registers: [registry],
});

/** What the speaker reports at each scrape: totals since start (not deltas) and current values. */
export interface SpeakerMetricsInput {
  readonly announced: { readonly L2: number; readonly BGP: number };
  readonly gained: number;
  readonly lost: number;
  readonly replies: number;
  readonly announcements: number;
  readonly heartbeatLosses: number;
  readonly heartbeatsRejected: Readonly<Record<string, number>>;
  readonly sessions: readonly { readonly peer: string; readonly established: boolean; readonly updatesSent: number; readonly prefixesSent: number }[];
  readonly bfd: readonly { readonly peer: string; readonly up: boolean; readonly stateChanges: number; readonly packetsSent: number; readonly packetsReceived: number }[];
}

/** Last totals seen per counter series, to add only the difference (a total that went down restarted: all of it is new). */
const lastTotals = new Map<string, number>();
function addTotal(c: Counter, id: string, total: number, labels?: Record<string, string>): void {
  const key = `${id}\0${JSON.stringify(labels ?? {})}`;
  const prev = lastTotals.get(key) ?? 0;
  const delta = total >= prev ? total - prev : total;
  lastTotals.set(key, total);
  if (delta > 0) { if (labels) c.inc(labels, delta); else c.inc(delta); }
}
let knownPeers = new Set<string>();
let knownBfdPeers = new Set<string>();

/**
 * Brings the speaker series up to date from the daemon's totals (called before each scrape). The daemon keeps
 * plain counters, so its logic runs in tests without this registry; series of peers that went away are removed.
 */
export function observeSpeaker(m: SpeakerMetricsInput): void {
  speakerAnnounced.set({ mode: 'L2' }, m.announced.L2);
  speakerAnnounced.set({ mode: 'BGP' }, m.announced.BGP);
  addTotal(speakerOwnershipChanges, 'own', m.gained, { change: 'gained' });
  addTotal(speakerOwnershipChanges, 'own', m.lost, { change: 'lost' });
  addTotal(speakerGratuitousSent, 'grat', m.announcements);
  addTotal(speakerResponsesSent, 'resp', m.replies);
  addTotal(speakerHeartbeatLosses, 'loss', m.heartbeatLosses);
  for (const [reason, n] of Object.entries(m.heartbeatsRejected)) addTotal(speakerHeartbeatsRejected, 'rej', n, { reason });
  const peers = new Set<string>();
  for (const s of m.sessions) {
    peers.add(s.peer);
    speakerBgpSessionUp.set({ peer: s.peer }, s.established ? 1 : 0);
    speakerBgpPrefixes.set({ peer: s.peer }, s.prefixesSent);
    addTotal(speakerBgpUpdates, 'upd', s.updatesSent, { peer: s.peer });
  }
  for (const p of knownPeers) {
    if (peers.has(p)) continue;
    speakerBgpSessionUp.remove({ peer: p });
    speakerBgpPrefixes.remove({ peer: p });
  }
  knownPeers = peers;
  const bfdPeers = new Set<string>();
  for (const b of m.bfd) {
    bfdPeers.add(b.peer);
    bfdSessionUp.set({ peer: b.peer }, b.up ? 1 : 0);
    addTotal(bfdStateChanges, 'bfd-chg', b.stateChanges, { peer: b.peer });
    addTotal(bfdPacketsSent, 'bfd-tx', b.packetsSent, { peer: b.peer });
    addTotal(bfdPacketsReceived, 'bfd-rx', b.packetsReceived, { peer: b.peer });
  }
  for (const p of knownBfdPeers) if (!bfdPeers.has(p)) bfdSessionUp.remove({ peer: p });
  knownBfdPeers = bfdPeers;
}
