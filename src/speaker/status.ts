/**
 * What a speaker tells the cluster about itself: one SpeakerStatus object per node (named after it) listing what
 * it announces and how, its BGP sessions, its liveness view and a few conditions.
 *
 * The cost rule of issue 9 is the reason for the shape of this file: status is written only when its content
 * changes, costing one write per change and nothing in steady state. So the content holds nothing that ticks
 * (no counters, no "last heard" ages, no timestamps but transition times), lists are sorted, and
 * {@link StatusPublisher} compares the canonical JSON of the new content with what it last wrote; changes are
 * debounced (~500 ms) so a burst (a node joining moves many IPs) costs one write.
 */
import type { SpeakerAnnouncement, SpeakerMember, SpeakerSession, SpeakerStatusSummary } from '../api/speakerstatus.ts';
import type { Condition } from '../api/types.ts';
import type { Clock, Timer } from '../clock.ts';
import type { Logger } from '../log.ts';
import { parseIP, parsePrefix } from '../net/ip.ts';
import type { MemberView, Plan, PlanService } from './types.ts';

/**
 * The content types are the API's (src/api/speakerstatus.ts, the one source of the object's shape), read-only
 * here; the speaker always fills every list, and every session carries its prefix count.
 */
/** One announced IP: how (L2 on interfaces, BGP to peers) and for which Services. */
export type Announcement = Readonly<SpeakerAnnouncement>;
/** One BGP session as shown in the status (no counters that tick). */
export type SessionStatus = Readonly<SpeakerSession> & { readonly prefixesSent: number };
/** One member of this speaker's liveness view. */
export type MemberStatus = Readonly<SpeakerMember>;
/** Counts of the lists, for `kubectl get speakerstatuses` columns (they change only when the lists do). */
export type StatusSummary = Readonly<SpeakerStatusSummary>;

/** The `status` of a SpeakerStatus object, as this speaker writes it. */
export interface SpeakerStatusContent {
  readonly node: string;
  readonly summary: StatusSummary;
  readonly announcements: readonly Announcement[];
  readonly sessions: readonly SessionStatus[];
  readonly members: readonly MemberStatus[];
  readonly conditions: readonly Condition[];
}

/** Condition types of a SpeakerStatus. */
export const SpeakerConditions = {
  /** The baregate.io objects parsed without errors (warnings keep it True). */
  ConfigValid: 'ConfigValid',
  /** The heartbeat key Secret is present and usable. */
  HeartbeatKey: 'HeartbeatKey',
  /** The apiserver answers: caches follow it and the own Lease renews. */
  ApiReachable: 'ApiReachable',
  /** Present (False) only when the announcement list was cut to {@link MAX_LISTED} entries. */
  AnnouncementsListed: 'AnnouncementsListed',
} as const;

/**
 * Most announcements listed in one status (~90 bytes each): etcd refuses objects over 1.5 MiB, and a status
 * that cannot be written at all would leave the last one standing, wrong. 10k were written in the integration test (about 1 MB).
 */
export const MAX_LISTED = 10_000;

/** A condition before its transition time is known. */
export interface ConditionInput {
  readonly type: string;
  readonly ok: boolean;
  readonly reason: string;
  readonly message: string;
}

/** A BGP session as the daemon knows it (the speaker's per-peer stats plus the address from the config). */
export interface SessionInput {
  readonly peer: string;
  readonly address: string;
  readonly state: string;
  /** Wall-clock ms when it became Established. */
  readonly establishedSince?: number | undefined;
  readonly prefixesSent: number;
  readonly lastError?: string | undefined;
  /** The BFD session beside it, when the peer has a BFDProfile. */
  readonly bfd?: {
    readonly state: string;
    readonly multihop: boolean;
    /** Wall-clock ms when it last became Up. */
    readonly upSince: number | undefined;
    readonly lastDiagnostic: string;
    readonly transmitIntervalMs: number;
    readonly detectionTimeMs: number;
    /** Why the last packet from the peer was dropped ('' when none was). */
    readonly lastDropped: string;
  } | undefined;
}

/** Everything the status is made from. */
export interface StatusInput {
  readonly node: string;
  /** IPs this node answers for now (the takeover engine's state), with their interfaces. */
  readonly answering: ReadonlyMap<string, readonly string[]>;
  readonly plan: Plan | undefined;
  readonly services: readonly PlanService[];
  readonly sessions: readonly SessionInput[];
  readonly members: ReadonlyMap<string, MemberView>;
  readonly conditions: readonly ConditionInput[];
}

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const sorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort(byText);

/** Whether `ip` lies in `prefix` (both canonical texts). */
export function inPrefix(ip: string, prefix: string): boolean {
  const a = parseIP(ip);
  const p = parsePrefix(prefix);
  if (!a || !p || a.family !== p.addr.family) return false;
  const bits = BigInt(a.family === 'IPv4' ? 32 : 128);
  const shift = bits - BigInt(p.length);
  return a.value >> shift === p.addr.value >> shift;
}

/**
 * The status content, pure. L2 lists what is answered now (not merely planned: an IP waiting for its probe is
 * not announced yet); BGP lists each Service IP behind a planned route, with the peers it goes to.
 */
export function statusContent(i: StatusInput, previous: readonly Condition[] = [], wallMs = 0): SpeakerStatusContent {
  const announcements: Announcement[] = [];
  for (const [ip, ifaces] of i.answering) {
    const services = i.plan?.l2.get(ip)?.services ?? i.plan?.l2Owners.get(ip)?.services ?? [];
    announcements.push({ ip, services: sorted(services), mode: 'L2', interfaces: sorted(ifaces) });
  }
  if (i.plan) {
    const ipsOf = new Map<string, readonly string[]>();
    for (const s of i.services) ipsOf.set(s.key, s.ips);
    const bgp = new Map<string, { services: Set<string>; peers: Set<string> }>();
    for (const [peer, routes] of i.plan.bgp) {
      for (const r of routes) {
        for (const svc of r.services) {
          for (const ip of ipsOf.get(svc) ?? []) {
            if (!inPrefix(ip, r.prefix)) continue;
            let e = bgp.get(ip);
            if (!e) bgp.set(ip, e = { services: new Set(), peers: new Set() });
            e.services.add(svc);
            e.peers.add(peer);
          }
        }
      }
    }
    for (const [ip, e] of bgp) announcements.push({ ip, services: sorted(e.services), mode: 'BGP', peers: sorted(e.peers) });
  }
  announcements.sort((a, b) => byText(a.ip, b.ip) || byText(a.mode, b.mode));
  const total = new Set(announcements.map((a) => a.ip)).size;
  const listed = announcements.length > MAX_LISTED ? announcements.slice(0, MAX_LISTED) : announcements;
  const sessions: SessionStatus[] = i.sessions.map((s) => ({
    peer: s.peer, address: s.address, state: s.state,
    ...(s.establishedSince !== undefined ? { establishedSince: new Date(s.establishedSince).toISOString() } : {}),
    prefixesSent: s.prefixesSent,
    ...(s.lastError !== undefined && s.lastError !== '' ? { lastError: s.lastError } : {}),
    ...(s.bfd !== undefined ? {
      bfd: {
        state: s.bfd.state, multihop: s.bfd.multihop,
        ...(s.bfd.upSince !== undefined ? { upSince: new Date(s.bfd.upSince).toISOString() } : {}),
        ...(s.bfd.lastDiagnostic !== '' ? { lastDiagnostic: s.bfd.lastDiagnostic } : {}),
        ...(s.bfd.transmitIntervalMs > 0 ? { transmitIntervalMs: Math.round(s.bfd.transmitIntervalMs), detectionTimeMs: Math.round(s.bfd.detectionTimeMs) } : {}),
        ...(s.bfd.lastDropped !== '' ? { lastDropped: s.bfd.lastDropped } : {}),
      },
    } : {}),
  })).sort((a, b) => byText(a.peer, b.peer));
  const members: MemberStatus[] = [...i.members].map(([node, m]) => ({ node, state: m.state })).sort((a, b) => byText(a.node, b.node));
  const summary: StatusSummary = {
    announced: total,
    sessionsEstablished: sessions.filter((x) => x.state === 'Established').length, sessions: sessions.length,
    membersAlive: members.filter((m) => m.state === 'alive').length, members: members.length,
  };
  const conds = listed.length < announcements.length
    ? [...i.conditions, { type: SpeakerConditions.AnnouncementsListed, ok: false, reason: 'TooMany', message: `${listed.length} of ${announcements.length} announcements listed (the object must stay under the apiserver's size limit); summary.announced counts all` }]
    : i.conditions;
  return { node: i.node, summary, announcements: listed, sessions, members, conditions: conditions(conds, previous, wallMs) };
}

/** Conditions with transition times: kept from `previous` while the status stays the same, `wallMs` on a change. */
export function conditions(inputs: readonly ConditionInput[], previous: readonly Condition[], wallMs: number): Condition[] {
  return inputs.map((c) => {
    const status = c.ok ? 'True' : 'False';
    const prev = previous.find((p) => p.type === c.type);
    const lastTransitionTime = prev && prev.status === status ? prev.lastTransitionTime : new Date(wallMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
    return { type: c.type, status, reason: c.reason, message: c.message, lastTransitionTime };
  });
}

/** JSON with object keys sorted: equal content, equal text (for the "changed?" test). */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (x === null || typeof x !== 'object' || Array.isArray(x)) return x;
    const o = x as Record<string, unknown>;
    return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
  });
}

/** Outcome of one status write. */
export type StatusWriteResult = { readonly kind: 'ok' } | { readonly kind: 'failed'; readonly message: string };

/** Where the status goes: `k8s/speakerstatus.ts` in production, a recording fake in tests. */
export interface StatusSink {
  /** The status the object holds now (undefined: no object or no status), read once at start. */
  read(node: string): Promise<{ readonly kind: 'ok'; readonly status: SpeakerStatusContent | undefined } | { readonly kind: 'failed'; readonly message: string }>;
  /** Creates the object when missing and writes its status. */
  write(node: string, status: SpeakerStatusContent): Promise<StatusWriteResult>;
}

/** Publisher settings. */
export interface PublisherOptions {
  readonly node: string;
  readonly sink: StatusSink;
  readonly clock: Clock;
  readonly log: Logger;
  /** Computes the content (called when the debounce timer fires; `previous` carries the transition times). */
  readonly content: (previous: readonly Condition[]) => SpeakerStatusContent;
  /** Debounce, ms (default 500). */
  readonly debounceMs?: number;
  /** First retry after a failed write, ms (doubles up to 30 s). */
  readonly retryMs?: number;
}

/**
 * Writes the status when it changed: `changed()` marks it dirty, the content is computed once the debounce has
 * passed, and written only if it differs from what was last written (or read at start). Failures retry with
 * backoff; never throws.
 */
export class StatusPublisher {
  private last: string | undefined;
  private lastConditions: readonly Condition[] = [];
  private timer: Timer | undefined;
  private inflight: Promise<void> | undefined;
  private again = false;
  private started = false;
  private stopped = false;
  private failures = 0;
  /** Writes made (attempts), for tests and metrics. */
  writes = 0;
  /** Writes that failed. */
  failed = 0;

  constructor(private readonly o: PublisherOptions) {}

  /**
   * Reads what the object holds now (so a restart with an unchanged state writes nothing) and starts
   * publishing; changes reported before this are published after it.
   */
  async start(): Promise<void> {
    const r = await this.o.sink.read(this.o.node).catch((e: unknown) => ({ kind: 'failed' as const, message: String(e) }));
    if (r.kind === 'ok' && r.status) {
      this.last = canonicalJson(r.status);
      this.lastConditions = r.status.conditions;
    }
    this.started = true;
    this.changed();
  }

  /** The content may have changed: publish it after the debounce if it did. */
  changed(): void {
    if (!this.started || this.stopped) return;
    if (this.inflight) { this.again = true; return; }
    if (this.timer) return;
    this.timer = this.o.clock.setTimeout(() => { this.timer = undefined; this.fire(); }, this.o.debounceMs ?? 500);
  }

  /** Writes the current content now if it changed (shutdown), waiting for a write in flight first. */
  async flush(): Promise<void> {
    this.timer?.cancel();
    this.timer = undefined;
    if (this.inflight) await this.inflight;
    if (!this.started) return;
    await this.publish();
  }

  /** No further writes. */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private fire(): void {
    if (this.stopped) return;
    this.inflight = this.publish().finally(() => {
      this.inflight = undefined;
      if (this.again) { this.again = false; this.changed(); }
    });
  }

  private async publish(): Promise<void> {
    let content: SpeakerStatusContent;
    try {
      content = this.o.content(this.lastConditions);
    } catch (e) {
      this.o.log.error({ event: 'status_content_bug', err: String(e) }, 'computing the status threw');
      return;
    }
    const text = canonicalJson(content);
    if (text === this.last) return;
    this.writes++;
    const r = await this.o.sink.write(this.o.node, content).catch((e: unknown) => ({ kind: 'failed' as const, message: String(e) }));
    if (r.kind === 'ok') {
      this.last = text;
      this.lastConditions = content.conditions;
      this.failures = 0;
      this.o.log.debug({ event: 'status_written', announcements: content.announcements.length }, 'status written');
      return;
    }
    this.failed++;
    this.failures++;
    const ms = Math.min((this.o.retryMs ?? 1000) * 2 ** (this.failures - 1), 30_000);
    if (this.failures === 1 || this.failures % 10 === 0) this.o.log.warn({ event: 'status_write_failed', err: r.message, failures: this.failures, retryInMs: ms }, 'could not write the speaker status; retrying');
    if (this.stopped) return;
    this.timer?.cancel();
    this.timer = this.o.clock.setTimeout(() => { this.timer = undefined; this.fire(); }, ms);
  }
}
