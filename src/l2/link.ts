/**
 * One interface in Layer-2 mode: the packet sockets, the responder, the reply limiter and the announcer wired
 * together. `setOwned`/`add`/`remove` are the only inputs: IPs gained are announced at once (gratuitous ARP /
 * unsolicited NA) and answered from then on; IPs lost stop being answered immediately. If the interface goes
 * down or away, the sockets are reopened once it is back and every owned IP is announced again.
 *
 * This is the I/O shell around the pure responder, so it holds the shell's rules:
 * - no exception from a frame handler, a socket callback or a timer ends the process: each is caught, counted
 *   in `stats.errors` and logged (at most once per 10 s per kind, with the number suppressed);
 * - replies are rate-limited per asker and per target ({@link ReplyLimiter}), drops counted by reason;
 * - an outage is logged once when it starts and once when it ends, not on every reopen attempt;
 * - sockets, the interface MAC and time come in through {@link LinkIo} and an injected Clock, so the whole link
 *   runs in unit tests on fake sockets and a FakeClock; `linkio.ts` has the native implementation.
 *
 * For "no split brain" (issue 9) the link also watches who else claims addresses ({@link claimIn}):
 * - `probe(ip)` asks the link, RFC 5227 / DAD style, whether anyone answers for an IP before we take it over;
 * - `onClaim(ip, mac)` reports another MAC claiming an IP we answer for (a duel), at most once per 100 ms per IP;
 * - `setCarrier(false)` (pushed by the speaker's `CarrierWatch`, carrier.ts) stops answering and announcing at once,
 *   `setCarrier(true)` announces every owned IP again.
 */
import { realClock, type Clock, type Timer } from '../clock.ts';
import { canonicalIP } from '../net/ip.ts';
import type { Logger } from '../log.ts';
import type { BpfInstruction, Icmp6Socket, PacketSocket } from '../native/index.ts';
import { Announcer, DEFAULT_SCHEDULE } from './announcer.ts';
import { claimIn, type Claim } from './claims.ts';
import { ARP_FILTER, NEIGHBOR_DISCOVERY_FILTER } from './filters.ts';
import { EtherType, arpProbe, buildNsFrame, gratuitousArp, solicitedNode, unsolicitedNa } from './frames.ts';
import { DEFAULT_REPLY_LIMITS, ReplyLimiter, type ReplyLimits } from './ratelimit.ts';
import { handleFrame, type ResponderContext } from './responder.ts';

/**
 * The sockets and system facts a link needs, as a port: the native addon in production (`linkio.ts`), fakes in
 * unit tests. Callbacks may be called only after the opening call returned.
 */
export interface LinkIo {
  /** An AF_PACKET socket on `ifname` for one ethertype with a BPF filter; `onError` once when it fails (already closed). */
  openPacketSocket(ifname: string, ethertype: number, onFrame: (frame: Buffer) => void, onError: (err: Error) => void,
    filter: readonly BpfInstruction[]): PacketSocket;
  /** A send-only raw ICMPv6 socket, used to join solicited-node groups. */
  openIcmp6Socket(onError: (err: Error) => void): Icmp6Socket;
  /** The interface's MAC, lower-case colon form (throws when the interface is gone). */
  interfaceMac(ifname: string): string;
}

/** Link settings. */
export interface LinkOptions {
  readonly ifname: string;
  readonly log: Logger;
  readonly io: LinkIo;
  /** Defaults to the real clock. */
  readonly clock?: Clock;
  /** Gratuitous announcement schedule, ms after a gain. */
  readonly schedule?: readonly number[];
  /** How often to try reopening after the interface went away. */
  readonly reopenMs?: number;
  /** Reply limits ({@link DEFAULT_REPLY_LIMITS} unless given); `false` turns limiting off (benchmarks). */
  readonly replyLimits?: ReplyLimits | false;
  /**
   * Canonicalises an IP (defaults to the one in net/ip); injectable so tests can count parses: add() and
   * remove() parse only their argument, never the whole owned set.
   */
  readonly canonicalIP?: (ip: string) => string | undefined;
  /**
   * Another MAC claims an IP this link answers for (gratuitous ARP, ARP request or reply with the IP as sender,
   * NA for it): the takeover engine resolves the duel. Called at most once per {@link CLAIM_REPORT_INTERVAL_MS}
   * per IP; what it throws is caught and counted like any callback error.
   */
  readonly onClaim?: (ip: string, mac: string) => void;
}

/**
 * What {@link L2Link.probe} found. `free: true` only when the probes went out on a link with carrier and nobody
 * else claimed the IP within the window: the one result that allows a takeover. When the probe could not be made
 * or completed (link down or gone, no carrier, closed, send failed, not an IP) `free` is false, `macs` holds
 * whatever was seen and `error` says why: "nobody answered" and "could not ask" must never look the same.
 */
export interface ProbeResult {
  readonly free: boolean;
  /** MACs other than ours that claimed the IP within the window, lower-case, in the order first seen. */
  readonly macs: string[];
  /** Why the probe could not be made or completed; absent when it was. */
  readonly error?: string;
  /** ms from the first probe frame to the first claim seen (absent when nobody answered). */
  readonly firstReplyMs?: number;
}

/** Default probe window (ms): two probes, at 0 and a third of the window, then answers until its end. */
export const DEFAULT_PROBE_WINDOW_MS = 150;

/** onClaim is called at most this often per IP (a rival announces in bursts; the engine needs one call). */
export const CLAIM_REPORT_INTERVAL_MS = 100;

/** Counters for metrics, the CLI and tests. */
export interface LinkStats {
  replies: number;
  announcements: number;
  /** Frames not answered, by reason: the responder's drop reasons and `rate-limited-asker`/`-target`. */
  drops: Record<string, number>;
  /** Reopen attempts after the sockets failed or could not be opened. */
  reopens: number;
  /** Times the sockets became unavailable (each outage counted once, however many reopen attempts it takes). */
  outages: number;
  /** Exceptions caught in frame handlers, socket callbacks and timers: each is a bug; none ends the process. */
  errors: number;
  /** Probes made (each sends two frames), and those that heard someone else. */
  probes: number;
  probeConflicts: number;
  /** Claims by others on owned IPs reported through onClaim (after the per-IP rate limit). */
  claims: number;
  /** Times the carrier went down (setCarrier(false) on a link that had carrier). */
  carrierLosses: number;
}

/** A probe in flight. */
interface PendingProbe {
  readonly ip: string;
  readonly started: number;
  readonly macs: string[];
  firstReplyMs: number | undefined;
  readonly timers: Timer[];
  readonly finish: (error?: string) => void;
}

/** Warnings of one kind are logged at most this often; the rest are counted into the next one. */
const WARN_INTERVAL_MS = 10_000;

/** See the module comment. */
export class L2Link {
  /** Owned IPs (canonical text) mapped to whether they are IPv6. */
  private readonly owned = new Map<string, boolean>();
  private arp: PacketSocket | undefined;
  private nd: PacketSocket | undefined;
  private icmp: Icmp6Socket | undefined;
  /** Bumped whenever the sockets are closed: callbacks of older sockets are ignored. */
  private generation = 0;
  private readonly groups = new Map<string, number>();
  private mac = '';
  private reopenTimer: Timer | undefined;
  private closed = false;
  private outage: { since: number; attempts: number } | undefined;
  private limiter: ReplyLimiter | undefined;
  private readonly warned = new Map<string, { at: number; suppressed: number }>();
  private readonly announcer: Announcer;
  private readonly clock: Clock;
  private readonly canonical: (ip: string) => string | undefined;
  readonly stats: LinkStats = {
    replies: 0, announcements: 0, drops: {}, reopens: 0, outages: 0, errors: 0, probes: 0, probeConflicts: 0, claims: 0, carrierLosses: 0,
  };
  /** Carrier as last pushed (true until told otherwise). */
  private carrierState = true;
  /** Probes in flight, by canonical IP. */
  private readonly probes = new Map<string, Set<PendingProbe>>();
  /** When onClaim was last called per owned IP. */
  private readonly claimReported = new Map<string, number>();

  constructor(private readonly o: LinkOptions) {
    this.clock = o.clock ?? realClock;
    this.canonical = o.canonicalIP ?? canonicalIP;
    this.setReplyLimits(o.replyLimits ?? DEFAULT_REPLY_LIMITS);
    this.announcer = new Announcer({
      send: (ip) => { this.announce(ip); },
      schedule: o.schedule ?? DEFAULT_SCHEDULE,
      clock: this.clock,
      onError: (ip, e) => { this.caught('announce', e, { ip }); },
    });
    this.open();
  }

  /** The interface's MAC (what we answer with). */
  get hwaddr(): string {
    return this.mac;
  }

  /** Whether the sockets are open (false while the interface is down or gone). */
  get up(): boolean {
    return this.arp !== undefined;
  }

  /** The carrier state last given to {@link setCarrier} (true until told otherwise). */
  get carrier(): boolean {
    return this.carrierState;
  }

  /**
   * The interface's carrier changed (from a `CarrierWatch`, carrier.ts). Down: nothing is answered or announced from
   * now on and probes in flight end with an error; owned IPs stay owned (the speaker drops them). Up again:
   * every owned IP is announced again at once and on the schedule.
   */
  setCarrier(up: boolean): void {
    if (up === this.carrierState) return;
    this.carrierState = up;
    if (!up) {
      this.stats.carrierLosses++;
      this.log('warn', { event: 'carrier_down', owned: this.owned.size }, 'interface lost carrier: not answering until it is back');
      this.announcer.stop();
      this.endProbes('carrier lost during the probe');
      return;
    }
    this.log('info', { event: 'carrier_up', owned: this.owned.size }, 'interface has carrier again: announcing every owned IP');
    if (!this.closed && this.up) for (const ip of this.owned.keys()) this.announcer.gain(ip);
  }

  /**
   * Asks the link whether anyone else answers for `ip` (RFC 5227 probing for IPv4, a DAD solicitation for
   * IPv6) before a takeover: two probes, at once and after a third of `windowMs`, and every claim seen by the
   * end of the window. Our own MAC never counts, so probing an IP we answer for ourselves finds the others.
   * Never rejects: see {@link ProbeResult} for how "could not probe" differs from "free".
   */
  probe(ip: string, windowMs: number = DEFAULT_PROBE_WINDOW_MS): Promise<ProbeResult> {
    return new Promise<ProbeResult>((resolve) => {
      try {
        this.startProbe(ip, windowMs, resolve);
      } catch (e) {
        this.caught('probe', e, { ip });
        resolve({ free: false, macs: [], error: `probe failed: ${String(e)}` });
      }
    });
  }

  /** IPs answered for now. */
  ownedIPs(): string[] {
    return [...this.owned.keys()];
  }

  /** How many IPs are answered for (O(1), unlike ownedIPs()). */
  get ownedCount(): number {
    return this.owned.size;
  }

  /** Replaces the reply limits (`false`: no limit); buckets start full again. */
  setReplyLimits(limits: ReplyLimits | false): void {
    this.limiter = limits === false ? undefined : new ReplyLimiter(limits, this.clock);
  }

  /** Replaces the owned set; returns how many IPs were gained and lost. Throws TypeError (changing nothing) for a non-IP. */
  setOwned(ips: Iterable<string>): { gained: number; lost: number } {
    const want = new Set<string>();
    for (const ip of ips) want.add(this.canonicalOrThrow(ip));
    let gained = 0, lost = 0;
    for (const ip of [...this.owned.keys()]) if (!want.has(ip)) { this.drop(ip); lost++; }
    for (const ip of want) if (!this.owned.has(ip)) { this.take(ip); gained++; }
    return { gained, lost };
  }

  /** Adds one IP (O(1): only `ip` is parsed); adding an owned IP changes nothing. Throws TypeError for a non-IP. */
  add(ip: string): void {
    const c = this.canonicalOrThrow(ip);
    if (!this.owned.has(c)) this.take(c);
  }

  /** Removes one IP (O(1)); removing an IP not owned, or not an IP, changes nothing. */
  remove(ip: string): void {
    const c = this.canonical(ip);
    if (c !== undefined && this.owned.has(c)) this.drop(c);
  }

  /** Stops answering everything and closes all sockets. */
  close(): void {
    this.closed = true;
    this.reopenTimer?.cancel();
    this.reopenTimer = undefined;
    this.announcer.stop();
    this.owned.clear();
    this.claimReported.clear();
    this.endProbes('link closed');
    this.closeSockets();
  }

  private startProbe(ip: string, windowMs: number, resolve: (r: ProbeResult) => void): void {
    const c = this.canonical(ip);
    if (c === undefined) { resolve({ free: false, macs: [], error: `not an IP address: ${ip}` }); return; }
    const unusable = this.closed ? 'link closed' : !this.up ? 'link down' : !this.carrierState ? 'no carrier' : undefined;
    if (unusable !== undefined) { resolve({ free: false, macs: [], error: unusable }); return; }
    const window = Number.isFinite(windowMs) && windowMs > 0 ? windowMs : DEFAULT_PROBE_WINDOW_MS;
    const v6 = c.includes(':');
    const set = this.probes.get(c) ?? new Set<PendingProbe>();
    this.probes.set(c, set);
    let done = false;
    const p: PendingProbe = {
      ip: c, started: this.clock.now(), macs: [], firstReplyMs: undefined, timers: [],
      finish: (error?: string) => {
        if (done) return;
        done = true;
        for (const t of p.timers) t.cancel();
        set.delete(p);
        if (set.size === 0 && this.probes.get(c) === set) this.probes.delete(c);
        if (p.macs.length > 0) this.stats.probeConflicts++;
        const base = { macs: [...p.macs], ...(p.firstReplyMs === undefined ? {} : { firstReplyMs: p.firstReplyMs }) };
        resolve(error === undefined ? { free: p.macs.length === 0, ...base } : { free: false, ...base, error });
      },
    };
    set.add(p);
    this.stats.probes++;
    const send = (): void => {
      const sock = v6 ? this.nd : this.arp;
      if (!sock || !this.carrierState) { p.finish('link down during the probe'); return; }
      const frame = v6 ? buildNsFrame({ target: c, mac: this.mac, srcIp: '::' }) : arpProbe(c, this.mac);
      try {
        sock.send(frame);
      } catch (e) {
        this.warn('probe_send_failed', { ip: c, err: String(e) }, 'probe send failed');
        p.finish(`probe send failed: ${String(e)}`);
      }
    };
    send();
    if (!set.has(p)) return; // the first send failed: finished already
    p.timers.push(this.clock.setTimeout(() => { this.guard('probe', send); }, window / 3));
    p.timers.push(this.clock.setTimeout(() => { this.guard('probe', () => { p.finish(); }); }, window));
  }

  /** Ends every probe in flight with `error` (link gone, carrier lost, closed). */
  private endProbes(error: string): void {
    for (const set of [...this.probes.values()]) for (const p of [...set]) p.finish(error);
  }

  /** A frame showed `claim`: feed it to probes for that IP and, for an owned IP, to onClaim (rate-limited). */
  private seen(claim: Claim): void {
    const probes = this.probes.get(claim.ip);
    if (probes) {
      for (const p of probes) {
        if (p.firstReplyMs === undefined) p.firstReplyMs = this.clock.now() - p.started;
        if (!p.macs.includes(claim.mac)) p.macs.push(claim.mac);
      }
    }
    if (!this.owned.has(claim.ip) || !this.o.onClaim) return;
    const now = this.clock.now();
    const last = this.claimReported.get(claim.ip);
    if (last !== undefined && now - last < CLAIM_REPORT_INTERVAL_MS) return;
    this.claimReported.set(claim.ip, now);
    this.stats.claims++;
    this.log('info', { event: 'claim_seen', ip: claim.ip, mac: claim.mac }, 'another MAC claims an IP we answer for');
    this.o.onClaim(claim.ip, claim.mac); // a throw is caught by the frame guard
  }

  private canonicalOrThrow(ip: string): string {
    const c = this.canonical(ip);
    if (c === undefined) throw new TypeError(`not an IP address: ${ip}`);
    return c;
  }

  private take(ip: string): void {
    const v6 = ip.includes(':');
    this.owned.set(ip, v6); // answering starts before the first announcement goes out
    if (v6) this.join(solicitedNode(ip));
    this.announcer.gain(ip);
  }

  private drop(ip: string): void {
    const v6 = this.owned.get(ip) === true;
    this.owned.delete(ip); // answering stops at once
    this.claimReported.delete(ip);
    this.announcer.lose(ip);
    if (v6) this.leave(solicitedNode(ip));
  }

  /** Solicited-node groups are shared between IPs with the same low 24 bits: counted, joined once. */
  private join(group: string): void {
    const n = this.groups.get(group) ?? 0;
    this.groups.set(group, n + 1);
    if (n === 0) this.membership(group, true);
  }

  private leave(group: string): void {
    const n = this.groups.get(group) ?? 0;
    if (n <= 1) { this.groups.delete(group); this.membership(group, false); }
    else this.groups.set(group, n - 1);
  }

  private membership(group: string, join: boolean): void {
    if (!this.icmp || !this.arp) return; // (re)joined on reopen
    try {
      if (join) this.icmp.join(group, this.arp.ifindex); else this.icmp.leave(group, this.arp.ifindex);
    } catch (e) {
      this.warn('multicast_membership_failed', { group, join, err: String(e) }, 'multicast membership change failed');
    }
  }

  /** Sends the gratuitous frames for `ip`; called by the announcer, which reports anything thrown here to caught(). */
  private announce(ip: string): void {
    const v6 = this.owned.get(ip);
    if (v6 === undefined) return;
    const sock = v6 ? this.nd : this.arp;
    if (!sock || !this.carrierState) return;
    const frames = v6 ? [unsolicitedNa(ip, this.mac)] : gratuitousArp(ip, this.mac); // a throw here is a bug: caught()
    try {
      for (const f of frames) sock.send(f);
      this.stats.announcements++;
    } catch (e) {
      this.warn('announce_failed', { ip, err: String(e) }, 'gratuitous announcement failed');
    }
  }

  private onFrame(sock: PacketSocket, frame: Buffer): void {
    if (!this.carrierState) { this.countDrop('no-carrier'); return; }
    const claim = claimIn(frame, this.mac);
    if (claim) this.seen(claim);
    const ctx: ResponderContext = { mac: this.mac, owns: (ip) => this.owned.has(ip) };
    const d = handleFrame(frame, ctx);
    if ('drop' in d) { this.countDrop(d.drop); return; }
    const verdict = this.limiter?.admit(d.asker, d.ip) ?? 'ok';
    if (verdict !== 'ok') { this.countDrop(verdict); return; }
    try {
      sock.send(d.reply);
      this.stats.replies++;
    } catch (e) {
      this.warn('reply_failed', { ip: d.ip, err: String(e) }, 'reply failed');
    }
  }

  private countDrop(reason: string): void {
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
  }

  private open(): void {
    if (this.closed) return;
    const gen = ++this.generation;
    const current = (): boolean => gen === this.generation && !this.closed;
    const onError = (err: Error): void => {
      this.guard('socket_error', () => {
        if (!current()) return; // a second socket of the same set reporting the same outage
        this.closeSockets();
        this.unavailable('link_error', err);
      });
    };
    const frames = (sock: () => PacketSocket | undefined) => (frame: Buffer): void => {
      this.guard('frame', () => {
        const s = sock();
        if (current() && s) this.onFrame(s, frame);
      });
    };
    try {
      const { io, ifname } = this.o;
      this.mac = io.interfaceMac(ifname);
      this.arp = io.openPacketSocket(ifname, EtherType.ARP, frames(() => this.arp), onError, ARP_FILTER);
      this.nd = io.openPacketSocket(ifname, EtherType.IPv6, frames(() => this.nd), onError, NEIGHBOR_DISCOVERY_FILTER);
      this.icmp = io.openIcmp6Socket(onError);
    } catch (e) {
      this.closeSockets();
      this.unavailable('link_open_failed', e);
      return;
    }
    if (this.outage) {
      this.log('info', { event: 'link_reopened', downMs: Math.round(this.clock.now() - this.outage.since), attempts: this.outage.attempts },
        'interface sockets reopened; announcing every owned IP again');
      this.outage = undefined;
    }
    for (const g of this.groups.keys()) this.membership(g, true);
    if (this.carrierState) for (const ip of this.owned.keys()) this.announcer.gain(ip);
  }

  /** The sockets are gone: retry, and warn once per outage (later attempts only at debug level). */
  private unavailable(event: string, err: unknown): void {
    this.scheduleReopen(); // first: nothing below (not even a broken logger) may stop the retries
    if (this.outage === undefined) {
      this.outage = { since: this.clock.now(), attempts: 0 };
      this.stats.outages++;
      this.log('warn', { event, err: String(err), retryMs: this.reopenMs },
        'interface sockets unavailable; retrying until the interface is back (logged again when it is)');
    } else {
      this.log('debug', { event, err: String(err), attempts: this.outage.attempts }, 'interface still unavailable');
    }
  }

  private get reopenMs(): number {
    return this.o.reopenMs ?? 1000;
  }

  private scheduleReopen(): void {
    if (this.closed || this.reopenTimer) return;
    this.reopenTimer = this.clock.setTimeout(() => {
      this.guard('reopen', () => {
        this.reopenTimer = undefined;
        this.stats.reopens++;
        if (this.outage) this.outage.attempts++;
        this.open();
      });
    }, this.reopenMs);
  }

  private closeSockets(): void {
    this.generation++;
    this.endProbes('link down during the probe');
    for (const s of [this.arp, this.nd, this.icmp]) {
      try { s?.close(); } catch { /* already closed by the addon after an error */ }
    }
    this.arp = this.nd = undefined;
    this.icmp = undefined;
  }

  /** Runs a callback or timer body; whatever it throws is caught, counted and logged, never rethrown. */
  private guard(where: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.caught(where, e);
    }
  }

  private caught(where: string, e: unknown, extra: Record<string, unknown> = {}): void {
    this.stats.errors++;
    this.warn(`callback_failed:${where}`, { where, ...extra, err: String(e), stack: e instanceof Error ? e.stack : undefined },
      'exception in a link callback (caught; the link goes on)', 'error');
  }

  /** Logs at most once per WARN_INTERVAL_MS per event, with how many were suppressed since the last one. */
  private warn(event: string, fields: Record<string, unknown>, msg: string, level: 'warn' | 'error' = 'warn'): void {
    const now = this.clock.now();
    const w = this.warned.get(event);
    if (w && now - w.at < WARN_INTERVAL_MS) { w.suppressed++; return; }
    this.warned.set(event, { at: now, suppressed: 0 });
    this.log(level, { event: event.split(':')[0], ...fields, suppressed: w?.suppressed ?? 0 }, msg);
  }

  /** Logs with the interface name; a logger that throws must not turn a caught error into an uncaught one. */
  private log(level: 'debug' | 'info' | 'warn' | 'error', fields: Record<string, unknown>, msg: string): void {
    try {
      this.o.log[level]({ ifname: this.o.ifname, ...fields }, msg);
    } catch { /* nothing sensible left to do */ }
  }
}
