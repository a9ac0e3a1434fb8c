/**
 * The L2 takeover engine: turns the plan's `l2` claims into answering, without ever letting two speakers answer
 * for one IP for longer than it takes a gratuitous ARP/NA to cross the LAN.
 *
 * The plan is a view (heartbeats, Leases) and views can be wrong: a heartbeat partition makes every speaker think
 * the others are suspect. So the plan alone never starts answering. The data plane decides:
 * - a newly claimed IP is probed (ARP probe / DAD-style NS) and answered only when nobody else answers for it;
 *   while someone does, the IP stays pending and is probed again every `reprobeMs` (an owner that still answers
 *   keeps the IP, whatever our view says);
 * - a claim that is outranked by suspects (members ranked above us that we cannot hear but whose Lease is fresh)
 *   waits `suspectStepMs` per such suspect before probing, so under a partition the best-ranked live speaker
 *   answers first and the others' probes see it;
 * - a leaving speaker (SIGTERM) is handing over: its MAC never counts as a conflict and the probe is shortened;
 * - two speakers that do answer at once (views raced, a probe missed) see each other's gratuitous announcement
 *   (`claimSeen`) and both pick the same winner with the deterministic `duelWinner`; the loser releases at once and
 *   keeps probing in case the winner vanishes; the winner re-announces so the clients' caches point at it again.
 *
 * All I/O goes through {@link TakeoverPorts}, time through the injected Clock: the engine runs in unit tests and
 * simulations with fakes only. Nothing a port throws or rejects, and nothing a timer does, escapes: errors are
 * counted and logged, and an IP whose probe failed is treated as taken (not free).
 */
import type { Clock, Timer } from '../clock.ts';
import type { Logger } from '../log.ts';
import { duelWinner as rankDuelWinner } from './rank.ts';
import type { L2Claim, L2Owner, MemberView } from './types.ts';

/**
 * What a probe found: H4's `L2Link.probe()` result, combined over the claim's interfaces by the daemon. When the
 * probe failed on any interface, set `error`: `free: false` with only leaving speakers' MACs in `macs` is
 * otherwise read as free (their MACs never count), which would hide the failure.
 */
export interface ProbeResult {
  /** Nobody else claimed the IP within the window (and the probe could be sent). */
  readonly free: boolean;
  /** MACs (lower-case) other than ours that claimed the IP within the window. */
  readonly macs: readonly string[];
  /** Set when the probe could not be made (link down, send failed): never taken as free. */
  readonly error?: string;
}

/**
 * The engine's effects and data-plane facts, as a port. The daemon maps them to `L2Link`s; tests use fakes.
 * Every method may throw (or reject): the engine survives it.
 */
export interface TakeoverPorts {
  /**
   * Answer for `ip` on exactly these interfaces from now on (a set, not a delta): called when an IP is taken
   * (the daemon does `link.add(ip)` on each, which sends the gratuitous ARP/NA at once) and again when the set of
   * interfaces changes (add on new links, remove from links not listed). Never called twice for the same IP and
   * set without a release in between. `from` names the leaving speaker (SIGTERM) the IP is taken over from, when
   * it is one: its node still serves the connections it had, so the daemon can hand those off to it (handoff.ts).
   */
  answer(ip: string, interfaces: readonly string[], from?: string): void;
  /** Stop answering `ip` on every link, at once. */
  release(ip: string): void;
  /**
   * Send a gratuitous ARP / unsolicited NA for an IP we answer, now (after a won duel, or to defend against a
   * foreign host, RFC 5227 §2.4). `L2Link.add` of an owned IP is a no-op, so the daemon needs this separately;
   * `link.remove(ip); link.add(ip)` in the same tick is a valid implementation (no gap: nothing runs in between,
   * and the announcement schedule restarts).
   */
  announce(ip: string): void;
  /** Probe `ip` on these interfaces for `windowMs` (see {@link ProbeResult}). */
  probe(ip: string, interfaces: readonly string[], windowMs: number): Promise<ProbeResult>;
  /** Which speaker a MAC belongs to (from the heartbeats' interface lists), or undefined for a non-speaker. */
  macOwner(mac: string): string | undefined;
}

/** Construction settings. */
export interface TakeoverOptions {
  /** This node's name (as in the member view and `duelWinner`). */
  readonly node: string;
  readonly ports: TakeoverPorts;
  /**
   * Which of two speakers keeps `ip` when both answer: must give the same answer on every speaker and for both
   * argument orders. Defaults to `rank.ts`'s `duelWinner` (the planner's own rank); injectable for tests.
   */
  readonly duelWinner?: (ip: string, a: string, b: string) => string;
  readonly clock: Clock;
  readonly log: Logger;
  /** Probe window for a normal takeover (default {@link TAKEOVER_DEFAULTS}.probeWindowMs). */
  readonly probeWindowMs?: number;
  /** Shortened probe window when the previous owner is `leaving` (it hands over and still answers meanwhile). */
  readonly leavingProbeWindowMs?: number;
  /** Wait per suspect that outranks us before probing. */
  readonly suspectStepMs?: number;
  /** How often a pending IP is probed again while someone else answers for it. */
  readonly reprobeMs?: number;
  /** `handOver()` releases an IP at the latest this long after it started. */
  readonly handOverMs?: number;
  /** A probe that has not settled this long after its window is counted as failed (a stuck port). */
  readonly probeSlackMs?: number;
  /** At most one defence announcement per IP this often against a foreign MAC (RFC 5227 DEFEND_INTERVAL). */
  readonly defendIntervalMs?: number;
  /** At most one re-announcement per IP this often after won duels. */
  readonly duelAnnounceMs?: number;
  /** Warnings of one kind (foreign conflict, port error) are logged at most this often; the rest are counted. */
  readonly warnIntervalMs?: number;
}

/**
 * Timing defaults. With a heartbeat timeout of 350 ms, a crashed owner is replaced by the next-ranked speaker
 * within 350 (suspect) + k × 150 (k = suspects ranked above it, 1 for the plain crash) + 150 (probe) ≈ 650 ms,
 * plus the daemon's re-plan latency; a leaving owner within ~50 ms of its notice.
 */
export const TAKEOVER_DEFAULTS = {
  probeWindowMs: 150,
  leavingProbeWindowMs: 50,
  suspectStepMs: 150,
  reprobeMs: 300,
  handOverMs: 1000,
  probeSlackMs: 1000,
  defendIntervalMs: 10_000,
  duelAnnounceMs: 100,
  warnIntervalMs: 10_000,
} as const;

/** Why an IP we claim is not answered (yet). */
export const PendingReason = {
  /** Waiting `suspectStepMs` × suspects before the first probe. */
  OutrankedBySuspects: 'outranked-by-suspects',
  /** A probe is in flight. */
  Probing: 'probing',
  /** The last probe saw someone answer (or could not be made): probing again every `reprobeMs`. */
  Occupied: 'occupied',
  /** We answered, another speaker answered too and won the duel: probing again in case it vanishes. */
  DuelLost: 'duel-lost',
  /** Every interface of the claim lost carrier: nothing happens until the plan claims it again. */
  CarrierDown: 'carrier-down',
} as const;
export type PendingReason = (typeof PendingReason)[keyof typeof PendingReason];

/** One pending IP as `state()` shows it. */
export interface PendingInfo {
  /** Clock time since which we claim the IP without answering it. */
  readonly since: number;
  readonly reason: PendingReason;
  /** MACs the last probe or claim saw answering, when known. */
  readonly macs: readonly string[];
}

/** A snapshot for status and metrics. */
export interface TakeoverState {
  /** IP → interfaces answered on. */
  readonly answering: Map<string, readonly string[]>;
  readonly pending: Map<string, PendingInfo>;
  /** `handOver()` was called: nothing new is taken. */
  readonly handingOver: boolean;
}

/** Counters for metrics (monotonic). */
export interface TakeoverStats {
  /** IPs we started answering. */
  takeovers: number;
  /** IPs we stopped answering (for any reason). */
  releases: number;
  probes: number;
  /** Probes that found someone answering. */
  probeConflicts: number;
  /** Probes that failed (error result, rejection, throw, stuck). */
  probeErrors: number;
  duelsWon: number;
  duelsLost: number;
  /** Claims of an IP we answer by a MAC of no speaker. */
  foreignConflicts: number;
  /** IPs released during `handOver()` because another speaker claimed them. */
  handovers: number;
  /** IPs released during `handOver()` because nobody took them within `handOverMs`. */
  handoverTimeouts: number;
  /** Ports that threw (other than probes). */
  portErrors: number;
}

type Phase = 'answering' | 'waiting' | 'probing' | 'occupied' | 'blocked';

interface Entry {
  readonly ip: string;
  claim: L2Claim;
  phase: Phase;
  /** The reason shown for a pending phase. */
  reason: PendingReason;
  /** Interfaces answered on (answering only). */
  interfaces: readonly string[];
  /** Pending since (kept across re-probes). */
  since: number;
  /** When the suspect wait started (waiting only). */
  waitStart: number;
  /** The one timer of this entry (suspect wait, probe guard, re-probe); cancelled on every transition. */
  timer: Timer | undefined;
  /** Bumped on every transition: a probe result for an older token is stale and ignored. */
  token: number;
  /** A claim by someone else arrived while the probe was in flight. */
  claimedDuringProbe: boolean;
  /** What was last seen answering. */
  macs: readonly string[];
  lastAnnounce: number;
  lastDefend: number;
  /** The last duel was lost (shown as the pending reason until we answer again). */
  lostDuel: boolean;
  /** The set of MACs last logged as a probe conflict (logged again only when it changes). */
  loggedConflict: string;
}

/** See the module comment. */
export class Takeover {
  /** Counters for metrics. */
  readonly stats: TakeoverStats = {
    takeovers: 0, releases: 0, probes: 0, probeConflicts: 0, probeErrors: 0, duelsWon: 0, duelsLost: 0,
    foreignConflicts: 0, handovers: 0, handoverTimeouts: 0, portErrors: 0,
  };

  private readonly entries = new Map<string, Entry>();
  /** IP → interfaces, for exactly the entries in phase 'answering' (kept in step, so answering() is O(1)). */
  private readonly live = new Map<string, readonly string[]>();
  private members: ReadonlyMap<string, MemberView> = new Map();
  /** IP → the last planned owner other than us (from `apply`'s owners). */
  private prevOwner = new Map<string, string>();
  private readonly downIfs = new Set<string>();
  private readonly warned = new Map<string, { at: number; suppressed: number }>();
  private handover: { promise: Promise<void>; resolve: () => void; timer: Timer | undefined } | undefined;
  private readonly o: Required<Omit<TakeoverOptions, 'ports' | 'duelWinner' | 'clock' | 'log' | 'node'>>;
  private readonly duelWinner: (ip: string, a: string, b: string) => string;

  constructor(private readonly opts: TakeoverOptions) {
    this.duelWinner = opts.duelWinner ?? rankDuelWinner;
    this.o = {
      probeWindowMs: opts.probeWindowMs ?? TAKEOVER_DEFAULTS.probeWindowMs,
      leavingProbeWindowMs: opts.leavingProbeWindowMs ?? TAKEOVER_DEFAULTS.leavingProbeWindowMs,
      suspectStepMs: opts.suspectStepMs ?? TAKEOVER_DEFAULTS.suspectStepMs,
      reprobeMs: opts.reprobeMs ?? TAKEOVER_DEFAULTS.reprobeMs,
      handOverMs: opts.handOverMs ?? TAKEOVER_DEFAULTS.handOverMs,
      probeSlackMs: opts.probeSlackMs ?? TAKEOVER_DEFAULTS.probeSlackMs,
      defendIntervalMs: opts.defendIntervalMs ?? TAKEOVER_DEFAULTS.defendIntervalMs,
      duelAnnounceMs: opts.duelAnnounceMs ?? TAKEOVER_DEFAULTS.duelAnnounceMs,
      warnIntervalMs: opts.warnIntervalMs ?? TAKEOVER_DEFAULTS.warnIntervalMs,
    };
  }

  /**
   * The plan changed (or was recomputed: calling with an unchanged plan does nothing, so call it on every re-plan;
   * after a carrier came back up it is what re-arms the IPs that lost it). `owners` is the plan's `l2Owners`: it
   * tells the engine who owned an IP before us, so a `leaving` previous owner is handed over from at once.
   * During `handOver()` this only records the member view: nothing is taken or released by the plan any more.
   */
  apply(claims: ReadonlyMap<string, L2Claim>, members: ReadonlyMap<string, MemberView>,
    owners?: ReadonlyMap<string, L2Owner>): void {
    this.members = members;
    if (owners) {
      const prev = new Map<string, string>();
      for (const [ip, o] of owners) {
        if (o.owner !== undefined && o.owner !== this.opts.node) prev.set(ip, o.owner);
        else { const p = this.prevOwner.get(ip); if (p !== undefined) prev.set(ip, p); }
      }
      this.prevOwner = prev;
    }
    if (this.handover) return;
    for (const e of [...this.entries.values()]) {
      if (!claims.has(e.ip)) this.forget(e, 'unclaimed');
    }
    for (const [ip, claim] of claims) {
      const e = this.entries.get(ip);
      if (!e) { this.start(claim); continue; }
      e.claim = claim;
      const eff = this.effective(claim);
      switch (e.phase) {
        case 'answering':
          if (eff.length === 0) { this.drop(e, 'carrier-down'); this.block(e); }
          else if (!sameSet(eff, e.interfaces)) this.reanswer(e, eff);
          break;
        case 'blocked':
          if (eff.length > 0) this.begin(e);
          break;
        case 'waiting': {
          if (eff.length === 0) { this.block(e); break; }
          const due = e.waitStart + this.o.suspectStepMs * claim.outrankedBySuspects.length;
          this.transition(e, 'waiting', PendingReason.OutrankedBySuspects);
          if (due <= this.now()) this.probe(e);
          else e.timer = this.opts.clock.setTimeout(() => { this.guard(() => { this.probe(e); }); }, due - this.now());
          break;
        }
        case 'probing':
          if (eff.length === 0) this.block(e);
          break;
        case 'occupied':
          if (eff.length === 0) this.block(e);
          // the occupant announced it is leaving: it hands over, no need to wait for the next re-probe
          else if (e.macs.length > 0 && e.macs.every((m) => this.isLeavingMac(m))) this.probe(e);
          break;
      }
    }
  }

  /**
   * A link saw `mac` claim `ip` (gratuitous ARP, ARP reply, NA). For an IP we answer this is a duel (another
   * speaker) or a conflict (a foreign host); for a pending IP it marks the probe in flight as not free. The daemon
   * should forward claims for pending IPs too when its links can see them.
   */
  claimSeen(ip: string, mac: string): void {
    this.guard(() => {
      const e = this.entries.get(ip);
      if (!e) return;
      const them = this.opts.ports.macOwner(mac);
      if (them === this.opts.node) return; // one of our own interfaces
      if (this.handover) {
        if (e.phase === 'answering' && them !== undefined) { this.stats.handovers++; this.handedOver(e, 'claimed'); }
        return;
      }
      if (e.phase !== 'answering') {
        if (them !== undefined && this.memberState(them) === 'leaving') return;
        if (e.phase === 'probing') e.claimedDuringProbe = true;
        if (!e.macs.includes(mac)) e.macs = [...e.macs, mac];
        return;
      }
      if (them === undefined) { this.foreign(e, mac); return; }
      if (this.memberState(them) === 'leaving') return; // it is handing over to us
      const winner = this.duelWinner(ip, this.opts.node, them);
      if (winner === them) {
        this.stats.duelsLost++;
        this.opts.log.info({ event: 'l2-duel-lost', ip, winner: them }, 'another speaker answers and outranks us: releasing');
        this.drop(e, 'duel-lost');
        e.macs = [mac];
        e.lostDuel = true;
        e.since = this.now();
        this.transition(e, 'occupied', PendingReason.DuelLost);
        this.scheduleReprobe(e);
      } else {
        this.stats.duelsWon++;
        // a peer that keeps claiming would log on every claim (the link passes one per 100 ms): rate-limited
        this.limited('duel-won', 'info', { event: 'l2-duel-won', ip, loser: them }, 'another speaker answers but we outrank it: keeping');
        if (this.now() - e.lastAnnounce >= this.o.duelAnnounceMs) { e.lastAnnounce = this.now(); this.announce(e); }
      }
    });
  }

  /**
   * Carrier of `ifname` changed. Down: every IP answered only there is released at once (answered elsewhere: the
   * interface is dropped from its set), and pending IPs with no interface left stop probing. Up: nothing until
   * the next `apply()`.
   */
  carrier(ifname: string, up: boolean): void {
    this.guard(() => {
      if (up) { this.downIfs.delete(ifname); return; }
      this.downIfs.add(ifname);
      for (const e of [...this.entries.values()]) {
        if (e.phase === 'answering') {
          if (!e.interfaces.includes(ifname)) continue;
          const rest = e.interfaces.filter((i) => i !== ifname);
          if (this.handover) {
            if (rest.length === 0) this.handedOver(e, 'carrier-down');
            else this.reanswer(e, rest);
          } else if (rest.length === 0) { this.drop(e, 'carrier-down'); e.since = this.now(); this.block(e); }
          else this.reanswer(e, rest);
        } else if (e.phase !== 'blocked' && this.effective(e.claim).length === 0) this.block(e);
      }
    });
  }

  /**
   * SIGTERM: keep answering every IP until another speaker is seen claiming it (the new owner took over), or
   * `handOverMs` at the latest, then release it. Pending IPs are dropped at once and nothing new is taken.
   * Resolves (never rejects) when everything is released; calling it again returns the same promise.
   */
  handOver(): Promise<void> {
    if (this.handover) return this.handover.promise;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => { resolve = r; });
    this.handover = { promise, resolve, timer: undefined };
    for (const e of [...this.entries.values()]) if (e.phase !== 'answering') this.forget(e, 'handover');
    this.opts.log.info({ event: 'l2-handover-start', ips: this.entries.size }, 'handing over L2 IPs');
    this.handover.timer = this.opts.clock.setTimeout(() => {
      this.guard(() => {
        for (const e of [...this.entries.values()]) { this.stats.handoverTimeouts++; this.handedOver(e, 'timeout'); }
      });
    }, this.o.handOverMs);
    this.checkHandoverDone();
    return promise;
  }

  /**
   * IP → interfaces answered on now: a live read-only view (O(1), no copy), for callers that ask often (the
   * daemon's link bookkeeping on every release, status content). Do not keep it across calls expecting a snapshot.
   */
  answering(): ReadonlyMap<string, readonly string[]> {
    return this.live;
  }

  /** What is answered and what is pending (copies), for status and tests. */
  state(): TakeoverState {
    const answering = new Map<string, readonly string[]>();
    const pending = new Map<string, PendingInfo>();
    for (const e of this.entries.values()) {
      if (e.phase === 'answering') answering.set(e.ip, e.interfaces);
      else pending.set(e.ip, { since: e.since, reason: e.reason, macs: e.macs });
    }
    return { answering, pending, handingOver: this.handover !== undefined };
  }

  // ---- transitions ----

  private start(claim: L2Claim): void {
    const e: Entry = {
      ip: claim.ip, claim, phase: 'blocked', reason: PendingReason.CarrierDown, interfaces: [], since: this.now(),
      waitStart: this.now(), timer: undefined, token: 0, claimedDuringProbe: false, macs: [], lastAnnounce: -Infinity,
      lastDefend: -Infinity, lostDuel: false, loggedConflict: '',
    };
    this.entries.set(claim.ip, e);
    if (this.effective(claim).length === 0) this.block(e);
    else this.begin(e);
  }

  /** A fresh takeover attempt: the suspect wait when outranked, else a probe now. */
  private begin(e: Entry): void {
    const n = e.claim.outrankedBySuspects.length;
    if (n === 0) { this.probe(e); return; }
    this.transition(e, 'waiting', PendingReason.OutrankedBySuspects);
    e.waitStart = this.now();
    e.timer = this.opts.clock.setTimeout(() => { this.guard(() => { this.probe(e); }); }, this.o.suspectStepMs * n);
  }

  private block(e: Entry): void {
    this.transition(e, 'blocked', PendingReason.CarrierDown);
  }

  private probe(e: Entry): void {
    if (this.entries.get(e.ip) !== e || this.handover) return;
    const eff = this.effective(e.claim);
    if (eff.length === 0) { this.block(e); return; }
    const token = this.transition(e, 'probing', PendingReason.Probing);
    e.claimedDuringProbe = false;
    const prev = this.prevOwner.get(e.ip);
    const window = prev !== undefined && this.memberState(prev) === 'leaving' ? this.o.leavingProbeWindowMs : this.o.probeWindowMs;
    this.stats.probes++;
    e.timer = this.opts.clock.setTimeout(() => {
      this.guard(() => { this.probed(e, token, { free: false, macs: [], error: 'probe did not settle' }); });
    }, window + this.o.probeSlackMs);
    let p: Promise<ProbeResult>;
    try {
      p = this.opts.ports.probe(e.ip, eff, window);
    } catch (err) {
      p = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    void Promise.resolve(p).then(
      (r) => { this.guard(() => { this.probed(e, token, r); }); },
      (err: unknown) => { this.guard(() => { this.probed(e, token, { free: false, macs: [], error: String(err) }); }); },
    );
  }

  private probed(e: Entry, token: number, r: ProbeResult): void {
    if (this.entries.get(e.ip) !== e || e.token !== token || e.phase !== 'probing' || this.handover) return; // stale
    if (r.error !== undefined) {
      this.stats.probeErrors++;
      this.warn('probe-error', { event: 'l2-probe-error', ip: e.ip, error: r.error }, 'probe failed: not taking over blindly');
      this.transition(e, 'occupied', PendingReason.Occupied);
      this.scheduleReprobe(e);
      return;
    }
    const macs = r.macs.filter((m) => { const who = this.opts.ports.macOwner(m); return who !== this.opts.node && !this.isLeavingMac(m); });
    const ignoredOnly = r.macs.length > 0 && macs.length === 0; // only leaving speakers (or we) answered
    const free = (r.free || ignoredOnly) && macs.length === 0 && !e.claimedDuringProbe;
    if (!free) {
      this.stats.probeConflicts++;
      const seen = macs.length > 0 ? macs : e.macs;
      const key = [...seen].sort().join(',');
      if (key !== e.loggedConflict) { // once per change of who answers, not on every re-probe
        e.loggedConflict = key;
        this.opts.log.info({ event: 'l2-probe-conflict', ip: e.ip, macs: seen, owners: seen.map((m) => this.opts.ports.macOwner(m) ?? null) },
          'someone answers for an IP we claim: waiting');
      }
      e.macs = seen;
      this.transition(e, 'occupied', e.lostDuel ? PendingReason.DuelLost : PendingReason.Occupied);
      this.scheduleReprobe(e);
      return;
    }
    this.take(e, r.macs);
  }

  /** The leaving speaker an IP is being taken from (the planned previous owner, or one whose MAC answered), if any. */
  private leavingFrom(e: Entry, seen: readonly string[]): string | undefined {
    const candidates = [this.prevOwner.get(e.ip), ...[...seen, ...e.macs].map((m) => this.opts.ports.macOwner(m))];
    return candidates.find((n) => n !== undefined && n !== this.opts.node && this.memberState(n) === 'leaving');
  }

  private take(e: Entry, seen: readonly string[] = []): void {
    const eff = this.effective(e.claim);
    if (eff.length === 0) { this.block(e); return; }
    this.transition(e, 'answering', e.reason);
    e.interfaces = eff;
    this.live.set(e.ip, eff); // before the port runs: the daemon may read answering() from inside answer()
    try {
      const from = this.leavingFrom(e, seen);
      if (from === undefined) this.opts.ports.answer(e.ip, eff);
      else this.opts.ports.answer(e.ip, eff, from);
    } catch (err) {
      this.portError('answer', e.ip, err);
      e.interfaces = [];
      this.live.delete(e.ip);
      this.safeRelease(e.ip);
      this.transition(e, 'occupied', PendingReason.Occupied);
      this.scheduleReprobe(e);
      return;
    }
    e.macs = [];
    e.lostDuel = false;
    e.loggedConflict = '';
    e.lastAnnounce = this.now();
    this.stats.takeovers++;
    this.opts.log.info({ event: 'l2-take', ip: e.ip, interfaces: eff, pendingMs: this.now() - e.since }, 'answering');
  }

  private reanswer(e: Entry, interfaces: readonly string[]): void {
    e.interfaces = interfaces;
    this.live.set(e.ip, interfaces);
    try {
      this.opts.ports.answer(e.ip, interfaces);
    } catch (err) {
      this.portError('answer', e.ip, err);
    }
  }

  private scheduleReprobe(e: Entry): void {
    e.timer?.cancel();
    e.timer = this.opts.clock.setTimeout(() => { this.guard(() => { this.probe(e); }); }, this.o.reprobeMs);
  }

  /** Stops answering `e` (if it does); the entry stays (the caller sets its next phase). */
  private drop(e: Entry, why: string): void {
    if (e.phase !== 'answering') return;
    this.transition(e, 'occupied', PendingReason.Occupied);
    e.interfaces = [];
    this.live.delete(e.ip);
    this.safeRelease(e.ip);
    this.stats.releases++;
    this.opts.log.info({ event: 'l2-release', ip: e.ip, why }, 'stopped answering');
  }

  /** The claim is gone: release if answering, cancel everything, delete. */
  private forget(e: Entry, why: string): void {
    this.drop(e, why);
    e.timer?.cancel();
    e.timer = undefined;
    e.token++;
    this.entries.delete(e.ip);
  }

  private handedOver(e: Entry, why: string): void {
    this.forget(e, `handover-${why}`);
    this.checkHandoverDone();
  }

  private checkHandoverDone(): void {
    if (!this.handover || this.entries.size > 0) return;
    this.handover.timer?.cancel();
    this.opts.log.info({ event: 'l2-handover-done' }, 'every L2 IP handed over');
    this.handover.resolve();
  }

  /** Sets the phase, cancels the entry's timer and invalidates probes in flight; returns the new token. */
  private transition(e: Entry, phase: Phase, reason: PendingReason): number {
    e.timer?.cancel();
    e.timer = undefined;
    if (phase !== 'answering' && e.phase === 'answering') e.since = this.now();
    e.phase = phase;
    e.reason = reason;
    return ++e.token;
  }

  private foreign(e: Entry, mac: string): void {
    this.stats.foreignConflicts++;
    this.warn('foreign', { event: 'l2-foreign-conflict', ip: e.ip, mac }, 'a host that is no speaker claims an IP we answer: defending');
    if (this.now() - e.lastDefend >= this.o.defendIntervalMs) {
      e.lastDefend = this.now();
      e.lastAnnounce = this.now();
      this.announce(e);
    }
  }

  private announce(e: Entry): void {
    try { this.opts.ports.announce(e.ip); } catch (err) { this.portError('announce', e.ip, err); }
  }

  private safeRelease(ip: string): void {
    try { this.opts.ports.release(ip); } catch (err) { this.portError('release', ip, err); }
  }

  // ---- helpers ----

  private effective(claim: L2Claim): readonly string[] {
    if (this.downIfs.size === 0) return claim.interfaces;
    return claim.interfaces.filter((i) => !this.downIfs.has(i));
  }

  private memberState(node: string): MemberView['state'] | undefined {
    return this.members.get(node)?.state;
  }

  private isLeavingMac(mac: string): boolean {
    const who = this.opts.ports.macOwner(mac);
    return who !== undefined && who !== this.opts.node && this.memberState(who) === 'leaving';
  }

  private now(): number {
    return this.opts.clock.now();
  }

  private portError(port: string, ip: string, err: unknown): void {
    this.stats.portErrors++;
    this.warn(`port-${port}`, { event: 'l2-port-error', port, ip, error: String(err) }, 'L2 port failed');
  }

  private warn(kind: string, fields: Record<string, unknown>, msg: string): void {
    this.limited(kind, 'warn', fields, msg);
  }

  /** Logs at most once per `warnIntervalMs` per kind, with the number suppressed since the last line. */
  private limited(kind: string, level: 'info' | 'warn', fields: Record<string, unknown>, msg: string): void {
    const w = this.warned.get(kind);
    const now = this.now();
    if (w && now - w.at < this.o.warnIntervalMs) { w.suppressed++; return; }
    this.opts.log[level]({ ...fields, suppressed: w?.suppressed ?? 0 }, msg);
    this.warned.set(kind, { at: now, suppressed: 0 });
  }

  /** Runs a callback from a timer, promise or input: a bug in it is logged, never thrown at the caller. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.stats.portErrors++;
      this.opts.log.error({ event: 'l2-takeover-bug', error: String(err), stack: err instanceof Error ? err.stack : undefined }, 'takeover engine error');
    }
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(b);
  return a.every((x) => s.has(x));
}
