/**
 * The speaker process's core: cluster state in, one pure plan, effects out.
 *
 *   sources ─► parseConfig ─► plan(node, snapshot) ─┬─► Takeover.apply(plan.l2) ─► L2 links (one per interface)
 *   liveness (heartbeats + Leases) ─────────────────┤
 *                                                   ├─► BGP speaker: setPeers / setRoutes
 *                                                   └─► SpeakerStatus (only on change), events, metrics
 *
 * Everything with I/O is a port ({@link DaemonDeps}): the CLI (`src/cli/speaker.ts`) gives the real ones (informers,
 * AF_PACKET links, the BGP speaker, UDP heartbeats, the Lease), `daemon.test.ts` gives fakes and a FakeClock and
 * runs this very code. Why so: the failover and no-split-brain rules live in the planner and the takeover
 * engine; what is left here is wiring, and wiring bugs (an IP never released, a write in steady state, a wrong
 * shutdown order) are found only by running the whole thing.
 *
 * Re-planning is coalesced: source changes within `batchMs` (default 10), or within nine times the last
 * re-plan's duration when that is longer (at most 1 s), make one plan, so a burst of Service changes in a large
 * cluster (10k Services: ~30-100 ms a plan) spends at most ~10% of the time planning. Each plan of 10k Services
 * leaves megabytes that outlive a young-generation GC (the plan is kept until the next one), and that garbage is
 * what grew the old generation: at three times the duration a 10k-Service ramp made ~120 plans, at nine ~40,
 * and the peak heap 130 -> 107 MiB (speaker wiring on an in-memory apiserver). A liveness change re-plans
 * at once (timer 0), because that is the failover path. No callback here lets an exception escape: each entry
 * point catches, logs and counts.
 */
import { API_VERSION, EventReasons, HEARTBEAT_SECRET, SYSTEM_NAMESPACE } from '../api/keys.ts';
import type { Clock, Timer } from '../clock.ts';
import type { BGPPeerConfig, Config, ConfigProblem, ConfigSnapshot, ParsedConfig } from '../config/types.ts';
import type { EventRecorder, Health } from '../k8s/ports.ts';
import type { Logger } from '../log.ts';
import type { NodeInterface } from '../l2/interfaces.ts';
import { isVirtual } from '../l2/interfaces.ts';
import { peerFromConfig, speakerIdentity } from '../bgp/config.ts';
import type { PeerStats, Route, Speaker } from '../bgp/speaker.ts';
import { State } from '../bgp/fsm.ts';
import { bfdSpecFor, type BfdChange, type BfdSessionSpec, type BfdSessionStats } from '../bfd/sessions.ts';
import { isConfigKind, heartbeatKey, leaseNode, type ClusterSources, type LeaseObject, type SourceKind } from './sources.ts';
import { SpeakerConditions, StatusPublisher, statusContent, type ConditionInput, type SessionInput, type StatusSink } from './status.ts';
import { handoffTarget, type HandoffPort } from './handoff.ts';
import type { ProbeResult, Takeover, TakeoverPorts } from './takeover.ts';
import type { InterfaceState, MemberView, Plan, PlanSnapshot } from './types.ts';
import type { SpeakerMetricsInput } from '../metrics/metrics.ts';

/** The heartbeat side of liveness: `Liveness` (liveness.ts) fits. */
export interface LivenessPort {
  start(): void;
  stop(): void;
  /** Node → addresses to send heartbeats to (Node InternalIPs; self excluded). */
  setPeers(peers: ReadonlyMap<string, readonly string[]>): void;
  /** This node's interfaces with carrier state (sent in heartbeats). */
  setLocal(interfaces: readonly InterfaceState[]): void;
  setKey(key: Buffer | undefined): void;
  /** Node → whether its Lease is fresh (judged on our clock). */
  setLeases(fresh: ReadonlyMap<string, boolean>): void;
  setApiHealthy(ok: boolean): void;
  view(): ReadonlyMap<string, MemberView>;
  onChange(cb: (view: ReadonlyMap<string, MemberView>) => void): unknown;
  /** Tells the others we are leaving; resolves after the last leaving heartbeat. */
  leave(): Promise<void>;
  /** Heartbeat losses and rejected heartbeats by reason, for metrics. */
  readonly stats: { readonly losses: number; readonly rejected: Readonly<Record<string, number>> };
}

/** Freshness of the speakers' Leases, judged on the observer's clock (lease.ts `LeaseWatch`, adapted by the CLI). */
export interface LeaseTracker {
  observe(lease: LeaseObject | undefined, node: string): void;
  /** Node → fresh. */
  fresh(): ReadonlyMap<string, boolean>;
  /** Called when freshness changes (expiry included); without it the daemon looks once per tick. */
  onChange?(cb: () => void): unknown;
}

/** This speaker's own membership Lease (lease.ts `SpeakerLease`, adapted by the CLI). */
export interface OwnLease {
  start(): void;
  /** The last renewal succeeded within the lease duration. */
  healthy(): boolean;
  /** Deletes the Lease (shutdown). */
  delete(): Promise<void>;
  stop(): void;
}

/** One interface in L2 mode: `L2Link` (l2/link.ts) fits. */
export interface LinkPort {
  add(ip: string): void;
  remove(ip: string): void;
  probe(ip: string, windowMs: number): Promise<ProbeResult>;
  setCarrier(up: boolean): void;
  close(): void;
  readonly hwaddr: string;
  readonly ownedCount: number;
  /** Replies sent (ARP/NDP requests answered) and gratuitous announcements sent. */
  readonly stats: { readonly replies: number; readonly announcements: number };
}

/** Opens the link of one interface; `onClaim` is called when another MAC claims an IP the link answers. */
export type LinkOpener = (ifname: string, onClaim: (ip: string, mac: string) => void) => LinkPort;

/** The L2 takeover engine (takeover.ts). */
export type TakeoverPort = Pick<Takeover, 'apply' | 'claimSeen' | 'carrier' | 'handOver' | 'state' | 'answering'>;

/** Carrier state of interfaces (l2/carrier.ts `CarrierWatch`, with its change callback registered here). */
export interface CarrierPort {
  /** Interfaces to watch (replaces the set). */
  setInterfaces(ifnames: Iterable<string>): void;
  /** Last state seen; undefined when not watched. */
  isUp(ifname: string): boolean | undefined;
  onChange(cb: (ifname: string, up: boolean) => void): void;
  stop(): void;
}

/** One BGP speaker: `Speaker` (bgp/speaker.ts) fits; myASN and routerID are fixed for its life. */
export type BgpPort = Pick<Speaker, 'start' | 'setPeers' | 'setRoutes' | 'stats' | 'gracefulShutdown' | 'stop' | 'peerDown' | 'setHeld'>;

/** The BFD sessions beside the BGP sessions (bfd/sessions.ts `BfdSessions` fits). */
export interface BfdPort {
  /** Makes the sessions exactly these, by peer name; an unchanged one is not touched. */
  setSessions(specs: readonly BfdSessionSpec[]): void;
  onChange(cb: (change: BfdChange) => void): void;
  stats(): BfdSessionStats[];
  stop(): void;
}

/** Makes a BGP speaker for the speaker-wide settings. */
export type BgpFactory = (cfg: { readonly myASN: number; readonly routerID: string }) => BgpPort;

/** Everything the daemon is given. */
export interface DaemonDeps {
  readonly node: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly sources: ClusterSources;
  readonly parseConfig: (s: ConfigSnapshot) => ParsedConfig;
  readonly plan: (node: string, s: PlanSnapshot) => Plan;
  readonly liveness: LivenessPort;
  readonly leases: LeaseTracker;
  readonly lease: OwnLease;
  readonly takeover: (ports: TakeoverPorts) => TakeoverPort;
  readonly openLink: LinkOpener;
  readonly carrier: CarrierPort;
  /** This node's interfaces (os.networkInterfaces in production). */
  readonly interfaces: () => readonly NodeInterface[];
  readonly bgp: BgpFactory;
  /** BFD for the peers whose BGPPeer names a BFDProfile. Absent: such peers run without BFD (said in ConfigValid). */
  readonly bfd?: BfdPort;
  readonly status: StatusSink;
  readonly events: EventRecorder;
  /**
   * Connection hand-off (handoff.ts): when an IP is taken from a leaving speaker, its node's connections are passed on
   * to it and the IP is announced once that is in place. Absent: announced at once, in-flight requests may reset.
   */
  readonly handoff?: HandoffPort;
  /** Longest an announcement waits for the hand-off rule, ms (default 800: spawning nft on a loaded node can take that long; below the leaving speaker's 1 s hand-over bound, and it answers meanwhile). */
  readonly handoffWaitMs?: number;
  /** Shortest source-change coalescing window, ms (default 10; stretched to 9 × the last re-plan's duration, at most 1 s). */
  readonly batchMs?: number;
  /** How often Lease freshness, API health, interfaces and BGP sessions are looked at, ms (default 1000). */
  readonly tickMs?: number;
  /** Status debounce, ms (default 500). */
  readonly statusDebounceMs?: number;
  /** BGP graceful shutdown wait on SIGTERM, ms (default 2000). */
  readonly gshutWaitMs?: number;
  /** Wait between the leaving heartbeat and the BGP graceful shutdown on SIGTERM, ms (default 300; see bgpHandoff). */
  readonly bgpHandoffLeadMs?: number;
}

/** Counters the daemon keeps (the metrics module turns them into series). */
export interface DaemonCounters {
  /** Plans computed. */
  plans: number;
  /** IPs this node started / stopped answering for. */
  gained: number;
  lost: number;
  /** ARP/NDP replies and gratuitous announcements of links already closed (live links are added on read). */
  closedReplies: number;
  closedAnnouncements: number;
  /** Exceptions caught in callbacks (each one is a bug). */
  errors: number;
}

/** A snapshot for the metrics module: exactly what it reads at each scrape (defined there, once). */
export type DaemonMetrics = SpeakerMetricsInput;

/**
 * The coalescing window of source changes, in units of the last re-plan's duration: planning takes at most
 * 1 / (1 + REPLAN_STRETCH) of the time while changes keep coming (see the module comment).
 */
const REPLAN_STRETCH = 9;
/** The longest a source change waits for its re-plan, however slow planning is. */
const MAX_REPLAN_WINDOW_MS = 1000;

/** Identity of a problem: an event is recorded when a problem appears (or comes back), never while it persists. */
const problemKey = (p: ConfigProblem): string => `${p.kind}\0${p.name}\0${p.field}\0${p.code}\0${p.message}`;

/** See the module comment. */
export class SpeakerDaemon {
  private readonly d: DaemonDeps;
  private readonly log: Logger;
  private readonly links = new Map<string, LinkPort>();
  private readonly takeover: TakeoverPort;
  private readonly publisher: StatusPublisher;
  private parsed: ParsedConfig | undefined;
  private configDirty = true;
  private lastPlan: Plan | undefined;
  private members: ReadonlyMap<string, MemberView> = new Map();
  private macs = new Map<string, string>();
  /** Leaving speakers whose BGP flows were handed off to them already (see bgpHandoff). */
  private readonly leavingSeen = new Set<string>();
  /** IPs taken from a leaving speaker whose announcement waits for the hand-off rule (token per answer call). */
  private readonly deferred = new Map<string, object>();
  private replanTimer: Timer | undefined;
  private replanAt = Infinity;
  private tickTimer: Timer | undefined;
  private localIfaces: readonly InterfaceState[] = [];
  private localText = '';
  private bgp: { port: BgpPort; myASN: number; routerID: string } | undefined;
  private bgpProblem: string | undefined;
  /** The BGPPeers the BGP speaker was last given (BFD reads their profiles). */
  private bgpPeers: readonly BGPPeerConfig[] = [];
  private peersText = '';
  private sessionsText = '';
  private problems = new Set<string>();
  private keyProblem: string | undefined = 'not read yet';
  private keyText = '';
  private leasesText = '';
  private apiOk: boolean | undefined;
  private leaseRenewedOnce = false;
  private running = false;
  private stopping = false;
  private ready = false;
  /** Step names of the shutdown, in order (tests check the order). */
  readonly shutdownSteps: string[] = [];
  readonly counters: DaemonCounters = { plans: 0, gained: 0, lost: 0, closedReplies: 0, closedAnnouncements: 0, errors: 0 };

  constructor(deps: DaemonDeps) {
    this.d = deps;
    this.log = deps.log;
    this.takeover = deps.takeover({
      answer: (ip, ifaces, from) => { this.guard('answer', () => { this.answerFrom(ip, ifaces, from); }); },
      release: (ip) => { this.guard('release', () => { this.release(ip); }); },
      announce: (ip) => { this.guard('announce', () => { this.reannounce(ip); }); },
      probe: (ip, ifaces, windowMs) => this.probe(ip, ifaces, windowMs),
      macOwner: (mac) => this.macs.get(mac.toLowerCase()),
    });
    this.publisher = new StatusPublisher({
      node: deps.node, clock: deps.clock, log: deps.log, debounceMs: deps.statusDebounceMs ?? 500,
      sink: deps.status,
      content: (prev) => statusContent({
        node: deps.node, answering: this.answering(), plan: this.lastPlan, services: deps.sources.services(),
        sessions: this.sessionInputs(), members: this.members, conditions: this.conditionInputs(),
      }, prev, deps.clock.wall()),
    });
    deps.sources.onChange((kind, key) => { this.guard('source_change', () => { this.sourceChanged(kind, key); }); });
    deps.liveness.onChange(() => { this.guard('liveness_change', () => { this.schedule(0); }); });
    deps.leases.onChange?.(() => { this.guard('lease_freshness', () => { this.feedLeases(); }); });
    deps.carrier.onChange((ifname, up) => { this.guard('carrier_change', () => { this.carrierChanged(ifname, up); }); });
    deps.bfd?.onChange((c) => { this.guard('bfd_change', () => { this.bfdChanged(c); }); });
  }

  /** Starts the caches, the Lease and the loop; resolves once the caches have synced and the first plan ran. */
  async start(): Promise<void> {
    this.running = true;
    this.refreshInterfaces();
    this.d.sources.start();
    this.d.lease.start();
    this.d.liveness.start();
    this.tick();
    await this.d.sources.synced;
    if (!this.isRunning()) return;
    this.ready = true;
    this.tickTimer?.cancel();
    this.tick();
    this.replan();
    // after the first plan: the publisher's first comparison is against a real state, not an empty one
    await this.publisher.start();
  }

  /** Re-read after awaits: shutdown() may have run meanwhile. */
  private isRunning(): boolean {
    return this.running;
  }

  /** /readyz: caches synced and the own Lease renewed. */
  readiness(): Health {
    if (!this.ready) return { ok: false, reason: 'caches not synced' };
    if (!this.d.lease.healthy()) return { ok: false, reason: 'own Lease not renewed' };
    return { ok: true };
  }

  /**
   * /healthz: the process is sane. Deliberately independent of the apiserver: a speaker restarted during an API
   * outage could not list its config again, and would turn the outage into a traffic outage.
   */
  health(): Health {
    return this.running || this.stopping ? { ok: true } : { ok: false, reason: 'stopped' };
  }

  /** The last plan (tests, status). */
  plan(): Plan | undefined {
    return this.lastPlan;
  }

  /**
   * IPs answered now, with interfaces: the engine's live view, not a copy (read it at once, do not keep it).
   * It is read on every release, re-plan and status computation; with 10k IPs a copy each time was megabytes of
   * garbage per re-plan.
   */
  answering(): ReadonlyMap<string, readonly string[]> {
    return this.takeover.answering();
  }

  /** Status writes attempted so far. */
  get statusWrites(): number {
    return this.publisher.writes;
  }

  /** Open links by interface (tests). */
  openLinks(): string[] {
    return [...this.links.keys()].sort();
  }

  /** What the metrics module needs. */
  metrics(): DaemonMetrics {
    let replies = this.counters.closedReplies;
    let announcements = this.counters.closedAnnouncements;
    for (const l of this.links.values()) { replies += l.stats.replies; announcements += l.stats.announcements; }
    let bgpIPs = 0;
    if (this.lastPlan) {
      const prefixes = new Set<string>();
      for (const routes of this.lastPlan.bgp.values()) for (const r of routes) prefixes.add(r.prefix);
      bgpIPs = prefixes.size;
    }
    const hb = this.d.liveness.stats;
    return {
      announced: { L2: this.answering().size, BGP: bgpIPs },
      gained: this.counters.gained, lost: this.counters.lost, replies, announcements,
      // the second copy of a beat sent over both families is normal, not a rejection an operator should see
      heartbeatLosses: hb.losses, heartbeatsRejected: Object.fromEntries(Object.entries(hb.rejected).filter(([r]) => r !== 'duplicate')),
      sessions: (this.bgp?.port.stats() ?? []).map((p) => ({ peer: p.name, established: p.state === State.Established, updatesSent: p.updatesSent, prefixesSent: p.prefixesAdvertised })),
      bfd: (this.d.bfd?.stats() ?? []).map((b) => ({ peer: b.peer, up: b.state === 'Up', stateChanges: b.stateChanges, packetsSent: b.packetsSent, packetsReceived: b.packetsReceived })),
    };
  }

  /**
   * SIGTERM: tell the others we leave, hand every L2 IP over (each released once the next owner claims it, or
   * after the engine's deadline), BGP graceful shutdown then withdraw and close, write the final status, delete
   * the Lease, stop everything. Never rejects.
   */
  async shutdown(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.running = false;
    this.replanTimer?.cancel();
    this.tickTimer?.cancel();
    const step = async (name: string, fn: () => Promise<void> | void): Promise<void> => {
      this.shutdownSteps.push(name);
      try { await fn(); } catch (e) { this.counters.errors++; this.log.error({ event: 'shutdown_step_failed', step: name, err: String(e) }, 'shutdown step failed'); }
    };
    this.log.info({ event: 'shutdown', answering: this.answering().size }, 'handing over and stopping');
    // the leaving heartbeats go out while the IPs are handed over: the others take over on the first one
    let left: Promise<void> = Promise.resolve();
    await step('leave', () => { left = this.d.liveness.leave(); });
    await step('handover', () => this.takeover.handOver());
    await step('bgp-shutdown', async () => {
      if (!this.bgp) return;
      // the others hand our flows back to us once they hear we leave: give their nft a head start over the router
      await new Promise<void>((r) => { this.d.clock.setTimeout(r, this.d.bgpHandoffLeadMs ?? 300); });
      await this.bgp.port.gracefulShutdown(this.d.gshutWaitMs ?? 2000);
    });
    // the final status: nothing announced any more (the routes were withdrawn, the IPs handed over)
    this.lastPlan = undefined;
    await step('status', () => this.publisher.flush());
    this.publisher.stop();
    await step('lease-delete', () => this.d.lease.delete());
    await step('leave-sent', () => left);
    await step('handoff-close', () => this.d.handoff?.close());
    await step('close', () => {
      for (const ifname of [...this.links.keys()]) this.closeLink(ifname);
      this.d.lease.stop();
      this.d.liveness.stop();
      this.d.carrier.stop();
      this.d.bfd?.stop();
      this.d.sources.stop();
    });
    this.stopping = false;
  }

  /** Runs `fn`, catching and counting what it throws: no callback ends the process. */
  private guard(what: string, fn: () => void): void {
    try { fn(); } catch (e) {
      this.counters.errors++;
      this.log.error({ event: 'callback_threw', what, err: e instanceof Error ? e.stack ?? e.message : String(e) }, 'speaker callback threw');
    }
  }

  private sourceChanged(kind: SourceKind, key: string): void {
    if (isConfigKind(kind)) this.configDirty = true;
    if (kind === 'leases') {
      const l = this.d.sources.leases().find((x) => `${x.metadata.namespace ?? ''}/${x.metadata.name}` === key || x.metadata.name === key);
      const node = l ? leaseNode(l) : this.leaseNodes.get(key);
      if (node !== undefined) {
        this.d.leases.observe(l, node);
        if (l) this.leaseNodes.set(key, node); else this.leaseNodes.delete(key);
        this.feedLeases();
      }
      // a renewal changes no plan input; a change of freshness reaches the plan through the liveness view
      return;
    }
    if (this.ready) this.schedule(Math.max(this.d.batchMs ?? 10, Math.min(REPLAN_STRETCH * this.lastReplanMs, MAX_REPLAN_WINDOW_MS)));
  }

  /** Lease key → node (to name the node of a deleted Lease). */
  private readonly leaseNodes = new Map<string, string>();

  private feedLeases(): void {
    const fresh = this.d.leases.fresh();
    const text = JSON.stringify([...fresh].filter(([n]) => n !== this.d.node).sort());
    if (text === this.leasesText) return;
    this.leasesText = text;
    this.d.liveness.setLeases(fresh);
  }

  private carrierChanged(ifname: string, up: boolean): void {
    this.log.info({ event: up ? 'carrier_up' : 'carrier_down', ifname }, up ? 'carrier back' : 'carrier lost');
    this.refreshInterfaces();
    this.schedule(0);
  }

  /** Re-plans after `ms`, or sooner if already scheduled sooner. */
  private schedule(ms: number): void {
    if (!this.running || !this.ready) return;
    const at = this.d.clock.now() + ms;
    if (this.replanTimer && at >= this.replanAt) return;
    this.replanTimer?.cancel();
    this.replanAt = at;
    this.replanTimer = this.d.clock.setTimeout(() => {
      this.replanTimer = undefined;
      this.replanAt = Infinity;
      this.guard('replan', () => { this.replan(); });
    }, ms);
  }

  /** The periodic look at what has no change callback: Lease expiry, API health, interface addresses, BGP sessions. */
  private tick(): void {
    if (!this.running) return;
    this.guard('tick', () => {
      this.feedLeases();
      // judged only once the caches synced (before that nothing is known), and the Lease counts once it has
      // been renewed at all: a first renewal still in flight is not an unreachable apiserver
      const leaseOk = this.d.lease.healthy();
      if (leaseOk) this.leaseRenewedOnce = true;
      const apiOk = this.d.sources.health().ok && (leaseOk || !this.leaseRenewedOnce);
      if (this.ready && apiOk !== this.apiOk) {
        this.apiOk = apiOk;
        this.d.liveness.setApiHealthy(apiOk);
        this.publisher.changed();
      }
      if (this.refreshInterfaces()) this.schedule(0);
      const sessions = JSON.stringify(this.sessionInputs());
      if (sessions !== this.sessionsText) { this.sessionsText = sessions; this.publisher.changed(); }
    });
    this.tickTimer = this.d.clock.setTimeout(() => { this.tick(); }, this.d.tickMs ?? 1000);
  }

  /**
   * Reads the node's interfaces with carrier; true when they changed (then liveness is told). A carrier change
   * of an interface (seen here, whoever noticed it first) goes to its link and the takeover engine: release at
   * once on loss, and on return the engine may take its IPs again.
   *
   * Interfaces are remembered once seen: os.networkInterfaces() leaves out an interface without carrier, and
   * forgetting it would stop its carrier watch, so its return would never be noticed.
   */
  private refreshInterfaces(): boolean {
    let ifaces: readonly NodeInterface[];
    try { ifaces = this.d.interfaces(); } catch (e) {
      this.log.warn({ event: 'interfaces_failed', err: String(e) }, 'could not read the interfaces');
      return false;
    }
    for (const i of ifaces) this.known.set(i.name, i);
    // only interfaces that may announce: loopback (where Service IPs often live), pod veths and bridges would
    // fill the heartbeat's bounded interface list and push the real ones out
    const explicit = new Set((this.parsed?.config.l2 ?? []).flatMap((a) => a.interfaces));
    const usable = [...this.known.values()].filter((i) => explicit.has(i.name) || !isVirtual(i.name));
    this.d.carrier.setInterfaces(usable.map((i) => i.name));
    const states: InterfaceState[] = usable.map((i) => ({ ...i, up: this.d.carrier.isUp(i.name) ?? false })).sort((a, b) => (a.name < b.name ? -1 : 1));
    const was = new Map(this.localIfaces.map((i) => [i.name, i.up]));
    for (const st of states) {
      if ((was.get(st.name) ?? true) === st.up) continue;
      this.links.get(st.name)?.setCarrier(st.up);
      this.takeover.carrier(st.name, st.up);
    }
    const text = JSON.stringify(states);
    if (text === this.localText) return false;
    this.localText = text;
    this.localIfaces = states;
    this.d.liveness.setLocal(states);
    return true;
  }

  /** Every interface seen since start, with its last known addresses. */
  private readonly known = new Map<string, NodeInterface>();

  private config(): Config {
    if (this.configDirty || !this.parsed) {
      this.configDirty = false;
      this.parsed = this.d.parseConfig(this.d.sources.configSnapshot());
      this.reportProblems(this.parsed.problems);
      this.setKey();
      this.refreshInterfaces(); // the interfaces advertisements name explicitly are watched and reported too
    }
    return this.parsed.config;
  }

  private setKey(): void {
    const k = heartbeatKey(this.d.sources.secrets());
    const text = 'key' in k ? k.key.toString('base64') : k.problem;
    if (text === this.keyText) return;
    this.keyText = text;
    if ('key' in k) {
      this.keyProblem = undefined;
      this.d.liveness.setKey(k.key);
    } else {
      this.keyProblem = k.problem;
      this.d.liveness.setKey(undefined);
      this.log.warn({ event: 'heartbeat_key_missing', err: k.problem }, 'no heartbeat key: no direct failure detection (Leases only)');
      this.d.events.record({ apiVersion: 'v1', kind: 'Secret', metadata: { name: HEARTBEAT_SECRET, namespace: SYSTEM_NAMESPACE } }, 'Warning', EventReasons.ConfigInvalid, k.problem);
    }
  }

  /** Events for problems that are new (or came back); a problem that persists is not recorded again. */
  private reportProblems(problems: readonly ConfigProblem[]): void {
    const now = new Set<string>();
    for (const p of problems) {
      const key = problemKey(p);
      now.add(key);
      if (this.problems.has(key)) continue;
      const reason = p.code === 'plaintext-password' ? EventReasons.PlaintextPassword : EventReasons.ConfigInvalid;
      this.log.warn({ event: 'config_problem', kind: p.kind, name: p.name, field: p.field, code: p.code, severity: p.severity, err: p.message }, 'config problem');
      this.d.events.record({ apiVersion: API_VERSION, kind: p.kind, metadata: { name: p.name } }, 'Warning', reason, `${p.field}: ${p.message}`);
    }
    this.problems = now;
  }

  /** How long the last re-plan took (monotonic ms): sets the coalescing window of source changes. */
  private lastReplanMs = 0;

  private replan(): void {
    if (!this.running) return;
    const started = this.d.clock.now();
    try {
      this.replanNow();
    } finally {
      this.lastReplanMs = this.d.clock.now() - started;
    }
  }

  private replanNow(): void {
    const config = this.config();
    const s = this.d.sources;
    const peers = new Map<string, readonly string[]>();
    for (const [n, a] of s.nodeAddresses()) if (n !== this.d.node && a.length > 0) peers.set(n, a);
    const peersText = JSON.stringify([...peers].sort());
    if (peersText !== this.peersText) { this.peersText = peersText; this.d.liveness.setPeers(peers); }
    const view = new Map(this.d.liveness.view());
    view.set(this.d.node, { state: 'alive', interfaces: this.localIfaces });
    this.members = view;
    this.macs = new Map();
    for (const [n, m] of view) for (const i of m.interfaces) if (i.mac !== '') this.macs.set(i.mac.toLowerCase(), n);
    const plan = this.d.plan(this.d.node, { config, nodes: s.nodes(), members: view, services: s.services(), readyNodes: s.readyNodes() });
    this.counters.plans++;
    this.lastPlan = plan;
    this.takeover.apply(plan.l2, view, plan.l2Owners);
    this.gcLinks();
    this.applyBgp(config, plan);
    this.bgpHandoff(view, plan);
    this.publisher.changed();
  }

  /**
   * BGP graceful stops: when a speaker says it is leaving, the router soon moves its flows to the other nodes
   * (GSHUT, then the withdrawal), and a connection in flight lands at a node that never saw it. So every other node
   * hands such segments of its BGP-announced host routes off to the leaving node (which still serves them), once per
   * leaving speaker. Segments of flows the router moved between two staying nodes go there too: they were lost anyway.
   */
  private bgpHandoff(view: ReadonlyMap<string, MemberView>, plan: Plan): void {
    const h = this.d.handoff;
    if (h === undefined) return;
    const leaving = [...view].filter(([n, m]) => n !== this.d.node && m.state === 'leaving').map(([n]) => n);
    for (const n of [...this.leavingSeen]) if (!leaving.includes(n)) this.leavingSeen.delete(n);
    const fresh = leaving.filter((n) => !this.leavingSeen.has(n));
    if (fresh.length === 0) return;
    const ips = new Set<string>();
    for (const routes of plan.bgp.values()) {
      for (const r of routes) {
        const slash = r.prefix.indexOf('/');
        const ip = r.prefix.slice(0, slash);
        if (Number(r.prefix.slice(slash + 1)) === (ip.includes(':') ? 128 : 32)) ips.add(ip);
      }
    }
    for (const n of fresh) {
      this.leavingSeen.add(n);
      const theirs = view.get(n)?.interfaces ?? [];
      for (const ip of ips) {
        for (const i of this.localIfaces) {
          const via = handoffTarget(ip, i.name, this.localIfaces, theirs);
          if (via !== undefined) { void h.forward(ip, i.name, via); break; }
        }
      }
    }
  }

  private applyBgp(config: Config, plan: Plan): void {
    const byName = new Map(config.peers.map((p) => [p.name, p]));
    const planned = plan.peers.map((n) => byName.get(n)).filter((p): p is BGPPeerConfig => p !== undefined);
    if (planned.length === 0) {
      if (this.bgp) { this.bgp.port.setPeers([]); this.bgp.port.setRoutes(new Map()); }
      this.d.bfd?.setSessions([]);
      this.bgpPeers = [];
      this.bgpProblem = undefined;
      return;
    }
    const own = this.d.sources.nodeAddresses().get(this.d.node) ?? [];
    const nodeIPv4 = own.find((a) => !a.includes(':')) ?? this.interfaceIPv4();
    const nodeIPv6 = own.find((a) => a.includes(':'));
    // myASN and routerID are speaker-wide: the first peer (by name) decides, peers that disagree are left out
    const id = speakerIdentity(planned, nodeIPv4);
    const conflicting = new Set(id.conflicting);
    const peers = planned.filter((p) => !conflicting.has(p.name));
    this.bgpProblem = conflicting.size > 0 ? `BGPPeers ${id.conflicting.join(', ')} have another myASN or routerID than ${planned[0]?.name ?? ''}: not peered with (one BGP speaker per node)` : undefined;
    const { myASN, routerID } = id;
    if (myASN === undefined || routerID === undefined) {
      this.bgpProblem = 'no router ID: the Node has no IPv4 InternalIP and no BGPPeer sets routerID';
      if (this.bgp) { this.bgp.port.stop(); this.bgp = undefined; }
      this.d.bfd?.setSessions([]);
      this.bgpPeers = [];
      return;
    }
    if (this.bgp && (this.bgp.myASN !== myASN || this.bgp.routerID !== routerID)) {
      this.log.info({ event: 'bgp_speaker_recreated', myASN, routerID }, 'myASN or routerID changed: new BGP speaker');
      this.bgp.port.stop();
      this.bgp = undefined;
    }
    if (!this.bgp) {
      const port = this.d.bgp({ myASN, routerID });
      this.bgp = { port, myASN, routerID };
      port.start().catch((e: unknown) => { this.log.error({ event: 'bgp_start_failed', err: String(e) }, 'BGP speaker did not start'); });
    }
    this.bgpPeers = peers;
    if (this.d.bfd) this.d.bfd.setSessions(peers.flatMap((p) => { const b = bfdSpecFor(p); return b ? [b] : []; }));
    else if (peers.some((p) => p.bfd)) this.bgpProblem = [this.bgpProblem, 'BFD is not available in this speaker: the peers with a bfdProfile run without it'].filter((x) => x).join('; ');
    // held before setPeers: a peer that waits for BFD must not start a session first
    this.bgp.port.setHeld(this.bfdHeld());
    this.bgp.port.setPeers(peers.map((p) => peerFromConfig(p, { nodeIPv4, nodeIPv6 })));
    const routes = new Map<string, Route[]>();
    for (const p of peers) {
      routes.set(p.name, (plan.bgp.get(p.name) ?? []).map((r) => ({
        prefix: r.prefix, communities: r.communities, largeCommunities: r.largeCommunities,
        ...(r.localPref !== undefined ? { localPref: r.localPref } : {}),
      })));
    }
    this.bgp.port.setRoutes(routes);
  }

  /** Peers held until their BFD session is Up (profile waitForUp), with why. */
  private bfdHeld(): Map<string, string> {
    const held = new Map<string, string>();
    if (!this.d.bfd) return held;
    const states = new Map(this.d.bfd.stats().map((b) => [b.peer, b.state]));
    for (const p of this.bgpPeers) {
      if (p.bfd?.waitForUp !== true) continue;
      const st = states.get(p.name) ?? 'Down';
      if (st !== 'Up') held.set(p.name, `waiting for the BFD session to come Up (BFD ${st}; profile ${p.bfd.name} has waitForUp)`);
    }
    return held;
  }

  /**
   * A BFD session changed state. Leaving Up tears the BGP session down at once (RFC 5882 §10.2), unless the peer
   * said AdminDown, which means its BFD was switched off, not that it is gone (RFC 5882 §3.2); under waitForUp the
   * session stays held until BFD is Up again.
   */
  private bfdChanged(c: BfdChange): void {
    this.publisher.changed();
    const peer = this.bgpPeers.find((p) => p.name === c.peer);
    if (!peer || !this.bgp) return;
    const target = { apiVersion: API_VERSION, kind: 'BGPPeer', metadata: { name: c.peer } };
    if (c.from === 'Up' && c.to !== 'Up') {
      const adminDown = c.remoteAdminDown;
      this.log.warn({ event: 'bfd_down', peer: c.peer, to: c.to, diagnostic: c.diagnostic }, adminDown ? 'BFD switched off by the peer: BGP session kept' : 'BFD session down: BGP session torn down');
      if (!adminDown) {
        this.d.events.record(target, 'Warning', EventReasons.BFDSessionDown, `node ${this.d.node}: BFD session ${c.to} (${c.diagnostic}): BGP session torn down`);
        if (peer.bfd?.waitForUp !== true) this.bgp.port.peerDown(c.peer, `BFD session ${c.to}: ${c.diagnostic}`);
      }
    } else if (c.to === 'Up') {
      this.log.info({ event: 'bfd_up', peer: c.peer, from: c.from }, 'BFD session up');
      this.d.events.record(target, 'Normal', EventReasons.BFDSessionUp, `node ${this.d.node}: BFD session Up`);
    }
    this.bgp.port.setHeld(this.bfdHeld());
  }

  /** The first IPv4 address of a non-virtual interface (router ID when the Node lists no IPv4 InternalIP). */
  private interfaceIPv4(): string | undefined {
    for (const i of this.localIfaces) for (const a of i.addresses) if (a.family === 'IPv4' && !isVirtual(i.name)) return a.address;
    return undefined;
  }

  private link(ifname: string): LinkPort {
    let l = this.links.get(ifname);
    if (!l) {
      l = this.d.openLink(ifname, (ip, mac) => { this.guard('claim_seen', () => { this.takeover.claimSeen(ip, mac); }); });
      this.links.set(ifname, l);
      l.setCarrier(this.d.carrier.isUp(ifname) ?? true);
      this.log.info({ event: 'link_opened', ifname, mac: l.hwaddr }, 'L2 link opened');
    }
    return l;
  }

  /**
   * Answers `ip`; when it is taken from a leaving speaker `from`, the hand-off rule towards that node goes in first
   * (bounded by handoffWaitMs) so that no client follows our announcement before its connection can be passed on.
   */
  private answerFrom(ip: string, ifaces: readonly string[], from: string | undefined): void {
    this.deferred.delete(ip);
    const theirs = from === undefined ? undefined : this.members.get(from)?.interfaces;
    const target = theirs === undefined || this.d.handoff === undefined ? undefined
      : ifaces.map((dev) => ({ dev, via: handoffTarget(ip, dev, this.localIfaces, theirs) })).find((t) => t.via !== undefined);
    if (this.d.handoff === undefined || target?.via === undefined) { this.answer(ip, ifaces); return; }
    const token = {};
    this.deferred.set(ip, token);
    const go = (late: boolean): void => {
      timer.cancel();
      if (this.deferred.get(ip) !== token) return; // released or answered again meanwhile
      this.deferred.delete(ip);
      if (late) this.log.warn({ event: 'l2-handoff-late', ip, waitedMs: this.d.handoffWaitMs ?? 800 }, 'hand-off rule not in place yet: announcing anyway');
      this.guard('answer', () => { this.answer(ip, ifaces); });
    };
    const timer: Timer = this.d.clock.setTimeout(() => { go(true); }, this.d.handoffWaitMs ?? 800);
    void this.d.handoff.forward(ip, target.dev, target.via).then(() => { go(false); });
  }

  private answer(ip: string, ifaces: readonly string[]): void {
    for (const i of ifaces) this.link(i).add(ip);
    // an IP answered on other interfaces than before (plan changed them) stops on the old ones
    for (const [name, l] of this.links) if (!ifaces.includes(name)) l.remove(ip);
    this.counters.gained++;
    this.log.info({ event: 'ip_gained', ip, interfaces: ifaces }, 'answering');
    this.publisher.changed();
  }

  /** Announces an answered IP again (after a won duel, or defending it): remove and add in one tick, no gap. */
  private reannounce(ip: string): void {
    for (const ifname of this.answering().get(ip) ?? []) {
      const l = this.links.get(ifname);
      if (!l) continue;
      l.remove(ip);
      l.add(ip);
    }
  }

  private release(ip: string): void {
    this.deferred.delete(ip);
    this.d.handoff?.stop(ip);
    for (const l of this.links.values()) l.remove(ip);
    this.counters.lost++;
    this.log.info({ event: 'ip_lost', ip }, 'no longer answering');
    this.publisher.changed();
    if (!this.stopping) this.gcLinks();
  }

  private async probe(ip: string, ifaces: readonly string[], windowMs: number): Promise<{ free: boolean; macs: string[] }> {
    try {
      const results = await Promise.all(ifaces.map((i) => this.link(i).probe(ip, windowMs)));
      const macs = [...new Set(results.flatMap((r) => r.macs.map((m) => m.toLowerCase())))].sort();
      return { free: results.length > 0 && results.every((r) => r.free), macs };
    } catch (e) {
      this.counters.errors++;
      this.log.error({ event: 'probe_failed', ip, err: String(e) }, 'probe threw');
      return { free: false, macs: [] };
    }
  }

  /** Closes links that no claim uses and that answer nothing. */
  private gcLinks(): void {
    const used = new Set<string>();
    for (const c of this.lastPlan?.l2.values() ?? []) for (const i of c.interfaces) used.add(i);
    for (const ifs of this.answering().values()) for (const i of ifs) used.add(i);
    for (const [name, l] of this.links) if (!used.has(name) && l.ownedCount === 0) this.closeLink(name);
  }

  private closeLink(ifname: string): void {
    const l = this.links.get(ifname);
    if (!l) return;
    this.counters.closedReplies += l.stats.replies;
    this.counters.closedAnnouncements += l.stats.announcements;
    this.links.delete(ifname);
    try { l.close(); } catch (e) { this.counters.errors++; this.log.error({ event: 'link_close_failed', ifname, err: String(e) }, 'closing a link threw'); }
    this.log.info({ event: 'link_closed', ifname }, 'L2 link closed');
  }

  private sessionInputs(): SessionInput[] {
    const addr = new Map((this.parsed?.config.peers ?? []).map((p) => [p.name, p.peerAddress]));
    const bfd = new Map((this.d.bfd?.stats() ?? []).map((b) => [b.peer, b]));
    return (this.bgp?.port.stats() ?? []).map((s: PeerStats) => {
      const b = bfd.get(s.name);
      return {
        peer: s.name, address: s.address !== '' ? s.address : addr.get(s.name) ?? '', state: s.state, establishedSince: s.establishedSince,
        prefixesSent: s.prefixesAdvertised, ...(s.lastError !== '' ? { lastError: s.lastError } : {}),
        ...(b ? { bfd: { state: b.state, multihop: b.multihop, upSince: b.upSince, lastDiagnostic: b.lastDiagnostic, transmitIntervalMs: b.transmitIntervalMs, detectionTimeMs: b.detectionTimeMs, lastDropped: b.lastDropped } } : {}),
      };
    });
  }

  private conditionInputs(): ConditionInput[] {
    const errors = (this.parsed?.problems ?? []).filter((p) => p.severity === 'error');
    const warnings = (this.parsed?.problems ?? []).filter((p) => p.severity === 'warning');
    const bgp = this.bgpProblem;
    const configOk = errors.length === 0 && bgp === undefined;
    const describe = (ps: readonly ConfigProblem[]): string => ps.slice(0, 5).map((p) => `${p.kind} ${p.name} ${p.field}: ${p.message}`).join('; ') + (ps.length > 5 ? `; and ${ps.length - 5} more` : '');
    const configMsg = configOk
      ? (warnings.length > 0 ? `${warnings.length} warning(s): ${describe(warnings)}` : 'all advertisements and peers are usable')
      : [errors.length > 0 ? `${errors.length} error(s): ${describe(errors)}` : '', bgp ?? ''].filter((x) => x !== '').join('; ');
    return [
      { type: SpeakerConditions.ConfigValid, ok: configOk, reason: configOk ? (warnings.length > 0 ? 'Warnings' : 'Valid') : 'Invalid', message: configMsg },
      { type: SpeakerConditions.HeartbeatKey, ok: this.keyProblem === undefined, reason: this.keyProblem === undefined ? 'Loaded' : 'Missing', message: this.keyProblem ?? 'heartbeat key loaded' },
      { type: SpeakerConditions.ApiReachable, ok: this.apiOk !== false, reason: this.apiOk !== false ? 'Reachable' : 'Unreachable', message: this.apiOk !== false ? 'caches follow the apiserver and the Lease renews' : 'apiserver unreachable: announcing from the last known state' },
    ];
  }
}
