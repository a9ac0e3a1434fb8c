/**
 * The adj-RIB-out of one session (what the peer was sent) and the diff that turns "what it should
 * have" into UPDATEs. Pure: {@link AdjRibOut.plan} returns messages each with the change it makes to
 * the adj-RIB-out, and the session records a change only once its message was handed to the socket,
 * so a message that could not be written (connection gone, peer not reading) is planned again next
 * time instead of being believed sent.
 */
import { formatIP, parsePrefix } from '../net/ip.ts';
import { endOfRibMessage } from './codec.ts';
import { Afi, Safi, type CodecContext, type Message, type PathAttribute, type Prefix } from './message.ts';
import { announceUpdates, withdrawUpdates, type AttributesTooLarge } from './packing.ts';

/** A parsed prefix and its canonical `ip/len` key. */
export interface PrefixEntry {
  readonly key: string;
  readonly prefix: Prefix;
}

/**
 * Parsed prefixes by their text, canonical and as given. Parsing an IPv6 text costs tens of µs and a
 * table of 10k routes is diffed often, so each distinct text is parsed once. Owned by a speaker (not
 * module state), so separate speakers and tests share nothing; bounded far above any real table.
 */
export class PrefixTable {
  private readonly cache = new Map<string, PrefixEntry>();

  constructor(private readonly bound = 1_000_000) {}

  /** The entry for a prefix text (`ip` alone is a host route). */
  parse(text: string): PrefixEntry {
    const hit = this.cache.get(text);
    if (hit) return hit;
    // texts are validated before they reach a speaker; one that is not a prefix keys itself and matches no route
    const p = parsePrefix(text);
    const prefix: Prefix = p ? { afi: p.addr.family === 'IPv4' ? Afi.IPv4 : Afi.IPv6, prefix: formatIP(p.addr), length: p.length } : { afi: Afi.IPv4, prefix: text, length: 0 };
    const entry = { key: p ? `${prefix.prefix}/${prefix.length}` : text, prefix };
    if (this.cache.size > this.bound) this.cache.clear();
    this.cache.set(text, entry);
    this.cache.set(entry.key, entry);
    return entry;
  }

  /** Canonical key of a prefix text. */
  key(text: string): string {
    return this.parse(text).key;
  }

  /** Number of texts held (for tests of the bound). */
  get size(): number {
    return this.cache.size;
  }
}

/** A route the peer should have, with the signature of its attributes for this peer. */
export interface Wanted<R> {
  readonly route: R;
  readonly sig: string;
}

/** The change one planned message makes to the adj-RIB-out once written. */
export interface RibChange {
  readonly announced?: { readonly keys: readonly string[]; readonly sig: string };
  readonly withdrawn?: readonly string[];
  /** End-of-RIB for this family was sent. */
  readonly endOfRib?: number;
}

/** One message to send and what it changes. */
export interface PlannedMessage {
  readonly message: Message;
  readonly change: RibChange;
}

/** How to render routes for this session. */
export interface PlanContext<R> {
  readonly ctx: CodecContext;
  /** Attributes of a route (no next hop). */
  attributes(route: R): PathAttribute[];
  /** The next hop for a family, known to exist for every family present in `want`. */
  nextHop(afi: number): string;
}

/** What a plan holds: the messages in send order, and the route groups whose attributes cannot be sent. */
export interface Plan {
  readonly messages: PlannedMessage[];
  readonly errors: readonly { readonly keys: readonly string[]; readonly error: AttributesTooLarge }[];
}

/** See the module comment. */
export class AdjRibOut {
  /** What the peer holds: prefix key → attribute signature. */
  private readonly sent = new Map<string, string>();
  /** Families owed an End-of-RIB once their table is out. */
  private readonly eorOwed = new Set<number>();
  private gen = 0;

  constructor(private readonly prefixes: PrefixTable) {}

  /** Prefixes the peer holds. */
  get size(): number {
    return this.sent.size;
  }

  /**
   * Bumped by every {@link reset}: a caller that diffs only the keys it knows changed
   * ({@link planChanges}) must fall back to a full {@link plan} when this moved since its last complete pass.
   */
  get generation(): number {
    return this.gen;
  }

  /** Whether an End-of-RIB is still owed for some family. */
  get owesEndOfRib(): boolean {
    return this.eorOwed.size > 0;
  }

  /** The signature the peer holds for a key. */
  get(key: string): string | undefined {
    return this.sent.get(key);
  }

  /** Forgets what the peer holds (a new session), or only the given families (a ROUTE-REFRESH). */
  reset(families?: readonly number[]): void {
    this.gen++;
    if (!families) { this.sent.clear(); this.eorOwed.clear(); return; }
    for (const key of [...this.sent.keys()]) if (families.includes(this.prefixes.parse(key).prefix.afi)) this.sent.delete(key);
  }

  /** Asks for End-of-RIB (RFC 4724) on these families after their table is sent. */
  oweEndOfRib(families: readonly number[]): void {
    for (const f of families) this.eorOwed.add(f);
  }

  /** Messages that bring the peer from what it holds to `want` (withdrawals first), then owed End-of-RIBs. */
  plan<R>(want: ReadonlyMap<string, Wanted<R>>, p: PlanContext<R>): Plan {
    const gone: string[] = [];
    for (const key of this.sent.keys()) if (!want.has(key)) gone.push(key);
    return this.build(gone, want, p);
  }

  /**
   * Like {@link plan}, but looking only at the given keys: `undefined` means the peer should not have
   * that prefix. Keys not listed are left as the peer holds them, so one changed route in a table of
   * 10k costs one lookup, not a walk over the table.
   */
  planChanges<R>(changes: ReadonlyMap<string, Wanted<R> | undefined>, p: PlanContext<R>): Plan {
    const gone: string[] = [];
    const want = new Map<string, Wanted<R>>();
    for (const [key, w] of changes) {
      if (w) want.set(key, w);
      else if (this.sent.has(key)) gone.push(key);
    }
    return this.build(gone, want, p);
  }

  private build<R>(withdrawKeys: readonly string[], want: ReadonlyMap<string, Wanted<R>>, p: PlanContext<R>): Plan {
    const withdraw: Record<number, Prefix[]> = { [Afi.IPv4]: [], [Afi.IPv6]: [] };
    for (const key of withdrawKeys) { const x = this.prefixes.parse(key).prefix; withdraw[x.afi]?.push(x); }
    const groups = new Map<string, { afi: number; route: R; sig: string; prefixes: Prefix[] }>();
    for (const [key, w] of want) {
      if (this.sent.get(key) === w.sig) continue;
      const x = this.prefixes.parse(key).prefix;
      const gk = `${x.afi}|${w.sig}`;
      const g = groups.get(gk) ?? { afi: x.afi, route: w.route, sig: w.sig, prefixes: [] };
      g.prefixes.push(x);
      groups.set(gk, g);
    }
    const messages: PlannedMessage[] = [];
    const errors: { keys: string[]; error: AttributesTooLarge }[] = [];
    const keyOf = (x: Prefix): string => `${x.prefix}/${x.length}`;
    for (const afi of [Afi.IPv4, Afi.IPv6]) {
      for (const m of withdrawUpdates(afi, withdraw[afi] ?? [], p.ctx)) {
        const gone = m.withdrawn.length > 0 ? m.withdrawn : m.attributes.flatMap((a) => (a.kind === 'mpUnreach' ? a.withdrawn : []));
        messages.push({ message: m, change: { withdrawn: gone.map(keyOf) } });
      }
    }
    for (const g of groups.values()) {
      const r = announceUpdates(g.afi, g.prefixes, p.attributes(g.route), [p.nextHop(g.afi)], p.ctx);
      if (!r.ok) { errors.push({ keys: g.prefixes.map(keyOf), error: r.error }); continue; }
      for (const m of r.value) {
        const nlri = m.nlri.length > 0 ? m.nlri : m.attributes.flatMap((a) => (a.kind === 'mpReach' ? a.nlri : []));
        messages.push({ message: m, change: { announced: { keys: nlri.map(keyOf), sig: g.sig } } });
      }
    }
    // last: written only when everything before it was (the session stops at the first message it cannot write)
    for (const afi of this.eorOwed) {
      messages.push({ message: endOfRibMessage(afi === Afi.IPv4 ? Afi.IPv4 : Afi.IPv6, Safi.Unicast), change: { endOfRib: afi } });
    }
    return { messages, errors };
  }

  /** Records a planned message as written. */
  commit(c: RibChange): void {
    for (const k of c.withdrawn ?? []) this.sent.delete(k);
    if (c.announced) for (const k of c.announced.keys) this.sent.set(k, c.announced.sig);
    if (c.endOfRib !== undefined) this.eorOwed.delete(c.endOfRib);
  }
}
