/**
 * The pure planner: from one node's view of the cluster ({@link PlanSnapshot}) to what that node announces
 * ({@link Plan}): the L2 IPs it owns and on which interfaces, the planned owner of every L2 IP (status, duels,
 * NotAnnounced), and the BGP routes per peer. No I/O, no clock, no randomness: speakers with the same view
 * compute the same owners, and the daemon can re-plan on every change and diff the result.
 *
 * Rules (issue 9, "Candidates" and "L2 ownership"):
 * - L2 candidates for an IP: `alive` members whose Node exists, matching a covering L2Advertisement's
 *   nodeSelectors, not excluded, not NetworkUnavailable, with an up interface the advertisement selects (its
 *   `interfaces`, or {@link chooseInterfaces} when it lists none); `Local` Services: nodes with a ready endpoint.
 *   Services sharing an IP are one unit: candidates are the intersection over all of them.
 * - Owner: the candidate with the highest rendezvous score (rank.ts). Suspects never own, but an owner is told
 *   which suspects would outrank it, so the takeover engine can probe before answering.
 * - BGP: this node announces an IP it is eligible for to the peers it peers with, intersected with the
 *   advertisement's peers; routes for one (peer, prefix) are merged.
 *
 * Choices the issue leaves open, made here:
 * - An advertisement covers an IP when it covers the pool of every Service on it (they agree unless an
 *   annotation is stale); an IP no advertisement covers goes to `unannounced`, not to `l2Owners`.
 * - BGP does not look at the liveness view: a `leaving` node keeps its routes in the plan so the daemon can
 *   send GSHUT before it withdraws. A node without its Node object peers with nobody (its labels are unknown);
 *   an excluded or NetworkUnavailable node keeps its peers (sessions stay up) but announces nothing.
 * - Interfaces by subnet follow chooseInterfaces' rules, evaluated on ranges parsed once per plan; the
 *   property tests hold the two to the same answers.
 *
 * Cost: candidate sets do not depend on the IP itself, only on the covering advertisements and on which node
 * subnets hold the IP, so they are computed once per such group and each IP costs one score per candidate.
 */
import { selectorMatches, type LabelSelector } from '../api/types.ts';
import type { BGPAdvertisementConfig, L2AdvertisementConfig } from '../config/types.ts';
import { chooseInterfaces, isVirtual } from '../l2/interfaces.ts';
import { bitsOf, formatIP, isLinkLocal, parseIP, parseRange, type Addr, type Family } from '../net/ip.ts';
import { hashText, mixScore, outranks } from './rank.ts';
import type {
  InterfaceState, L2Claim, L2Owner, Plan, PlanNode, PlannedRoute, PlanService, PlanSnapshot,
} from './types.ts';

/** Why an L2 IP has no owner (`L2Owner.reason`): stable codes for status and events. */
export const NoOwnerReasons = {
  /** No live or suspect speaker passes the node, selector and interface rules. */
  NoEligibleNode: 'no-eligible-node',
  /** Eligible nodes exist, but none of them has a speaker heard from recently (all suspect). */
  NoLiveNode: 'no-live-node',
  /** Live eligible nodes exist, but none has a ready endpoint of every `Local` Service on the IP. */
  NoReadyEndpoint: 'no-ready-endpoint',
  /** The Service lists an IP text that does not parse: nothing can answer for it. */
  InvalidAddress: 'invalid-address',
} as const;
/** One of {@link NoOwnerReasons}. */
export type NoOwnerReason = (typeof NoOwnerReasons)[keyof typeof NoOwnerReasons];

/** A speaker that may be an L2 candidate for some IP (IP-independent checks passed). */
interface Member {
  readonly name: string;
  readonly hash: number;
  readonly alive: boolean;
  readonly node: PlanNode;
  readonly up: readonly InterfaceState[];
  /**
   * The up interfaces {@link chooseInterfaces} may pick by subnet (not virtual, a real MAC), each with the
   * indexes of its non-link-local subnets in the plan's range list: the same test it makes, parsed once.
   */
  readonly auto: { readonly name: string; readonly ranges: number[] }[];
}

/** A member eligible for the IPs of one group, with the interfaces it would answer on. */
interface Cand {
  readonly name: string;
  readonly hash: number;
  readonly interfaces: readonly string[];
}

/** Candidates shared by every IP with the same covering advertisements and the same subnet signature. */
interface Group {
  /** Live candidates in name order. */
  readonly alive: readonly Cand[];
  /** Their name hashes, same order (the per-IP loop reads a typed array, not objects). */
  readonly aliveHashes: Uint32Array;
  readonly suspects: readonly Cand[];
}

/** The Services on one IP, treated as one unit. */
interface Unit {
  readonly ip: string;
  /** 0 IPv4, 1 IPv6, 2 unparsable (the output order). */
  readonly rank: number;
  /** The address when IPv4, as a number (no bigint on the hot path), else 0. */
  readonly v4: number;
  /** The address when IPv6, else 0n. */
  readonly v6: bigint;
  readonly services: PlanService[];
}

/** Advertisements covering one set of pools (by index into the Config lists). */
interface Covering {
  /** The pool set's key. */
  readonly key: string;
  /** Candidate groups of its IPs by subnet signature. */
  readonly groups: Map<string, Group>;
  readonly l2: readonly number[];
  readonly bgp: readonly number[];
  /** Whether some covering L2 advertisement picks interfaces by subnet (then the IP's subnets matter). */
  readonly bySubnet: boolean;
}

/** A distinct interface address range over all members' up interfaces (the family as the address says). */
interface SubnetRange {
  readonly family: Family;
  readonly lo: bigint;
  readonly hi: bigint;
  /** lo and hi as numbers when IPv4 (IPv4 IPs are compared without bigint). */
  readonly loN: number;
  readonly hiN: number;
}

/** A route being merged from several advertisements and Services. */
interface RouteAcc {
  readonly prefix: string;
  /** Sort keys: family rank, address (as in {@link Unit}), length. */
  readonly rank: number;
  readonly v4: number;
  readonly v6: bigint;
  readonly length: number;
  /** The advertisements behind it (usually one), each once. */
  readonly ads: BGPAdvertisementConfig[];
  /** Service keys, possibly repeated (one route for many IPs when aggregated). */
  readonly services: string[];
}

/** Address order: IPv4 before IPv6, numerically; unparsable texts last, in text order. */
function compareUnits(a: Unit | RouteAcc, b: Unit | RouteAcc, ta: string, tb: string): number {
  if (a.rank !== b.rank) return a.rank - b.rank;
  if (a.rank === 0) return a.v4 - b.v4;
  if (a.rank === 1) return a.v6 < b.v6 ? -1 : a.v6 > b.v6 ? 1 : 0;
  return compareText(ta, tb);
}

const NONE: readonly PlanService[] = [];

function anySelector(selectors: readonly LabelSelector[], labels: Readonly<Record<string, string>>): boolean {
  return selectors.length === 0 || selectors.some((s) => selectorMatches(s, labels));
}

/** Code-unit order, the same in every process (localeCompare depends on the locale). */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedUnique(xs: Iterable<string>): string[] {
  return [...new Set(xs)].sort(compareText);
}

/** `xs` itself when already strictly ascending (the common case: no copy), else a sorted, deduplicated copy. */
function ascending(xs: readonly string[]): readonly string[] {
  for (let i = 1; i < xs.length; i++) if (!((xs[i - 1] as string) < (xs[i] as string))) return sortedUnique(xs);
  return xs;
}

/**
 * Service IP texts parsed in earlier plans. A memo, so plan() stays a function of its input: re-parsing every
 * address on every plan was ~45% of all the speaker's allocation at 10k Services. Cleared when it holds far more
 * texts than the last plan used (deleted Services' addresses do not pile up).
 */
const parsedIPs = new Map<string, Addr | null>();

function parseServiceIP(ip: string): Addr | undefined {
  let a = parsedIPs.get(ip);
  if (a === undefined) { a = parseIP(ip) ?? null; parsedIPs.set(ip, a); }
  return a ?? undefined;
}

/** Groups the Services by IP, in address order (IPv4, IPv6, then unparsable texts in text order). */
function unitsOf(services: readonly PlanService[]): Unit[] {
  // one entry per (IP, Service), sorted, then runs of one IP text merged: no Map of 10k IPs to grow
  const entries: Unit[] = [];
  for (const s of services) {
    for (const ip of s.ips) {
      const addr = parseServiceIP(ip);
      if (addr === undefined) entries.push({ ip, rank: 2, v4: 0, v6: 0n, services: [s] });
      else if (addr.family === 'IPv4') entries.push({ ip, rank: 0, v4: Number(addr.value), v6: 0n, services: [s] });
      else entries.push({ ip, rank: 1, v4: 0, v6: addr.value, services: [s] });
    }
  }
  if (parsedIPs.size > 2 * entries.length + 1024) parsedIPs.clear();
  entries.sort((a, b) => compareUnits(a, b, a.ip, b.ip) || compareText(a.ip, b.ip));
  const units: Unit[] = [];
  let last: Unit | undefined;
  for (const e of entries) {
    if (last?.ip === e.ip) {
      const svc = e.services[0] as PlanService;
      if (!last.services.includes(svc)) last.services.push(svc);
    } else {
      units.push(e);
      last = e;
    }
  }
  for (const u of units) if (u.services.length > 1) u.services.sort((a, b) => compareText(a.key, b.key));
  return units;
}

/** A route prefix: canonical text and the masked address as sort keys. */
interface Prefix {
  readonly text: string;
  readonly v4: number;
  readonly v6: bigint;
  readonly length: number;
}

/**
 * The unit's IP masked to `length` (`ip/length`, canonical text), or undefined for a length the family cannot
 * have (parseConfig refuses those; never mask with one). Host routes reuse the canonical IP text as it is.
 */
function prefixOf(unit: Unit, length: number): Prefix | undefined {
  const family: Family = unit.rank === 0 ? 'IPv4' : 'IPv6';
  const bits = bitsOf(family);
  if (!Number.isInteger(length) || length < 0 || length > bits) return undefined;
  if (length === bits) return { text: `${unit.ip}/${length}`, v4: unit.v4, v6: unit.v6, length };
  if (unit.rank === 0) {
    const v4 = unit.v4 - (unit.v4 % 2 ** (32 - length));
    return { text: `${formatIP({ family, value: BigInt(v4) })}/${length}`, v4, v6: 0n, length };
  }
  const v6 = unit.v6 & ~((1n << BigInt(128 - length)) - 1n);
  return { text: `${formatIP({ family, value: v6 })}/${length}`, v4: 0, v6, length };
}

/** An interface's CIDR as parseRange reads it, the usual `address/length` without parseRange's detour. */
function quickRange(cidr: string): { family: Family; lo: bigint; hi: bigint } | undefined {
  const parts = cidr.split('/');
  const [ipText = '', lenText = ''] = parts;
  const addr = parts.length === 2 && /^(0|[1-9]\d{0,2})$/.test(lenText) ? parseIP(ipText) : undefined;
  if (addr) {
    const bits = bitsOf(addr.family);
    const len = Number(lenText);
    if (len > bits) return undefined;
    const hostMask = (1n << BigInt(bits - len)) - 1n;
    return { family: addr.family, lo: addr.value & ~hostMask, hi: (addr.value & ~hostMask) | hostMask };
  }
  const r = parseRange(cidr);
  return 'error' in r ? undefined : r;
}

/** Whether `name` has a ready endpoint of every `Local` Service of the unit. */
function readyForAll(name: string, local: readonly PlanService[], ready: PlanSnapshot['readyNodes']): boolean {
  for (const s of local) if (ready.get(s.key)?.has(name) !== true) return false;
  return true;
}

/** The plan of node `node` for the cluster view `snap`. Pure and deterministic (all lists sorted). */
export function plan(node: string, snap: PlanSnapshot): Plan {
  const { config } = snap;

  // IP-independent L2 eligibility: a speaker heard from (alive or suspect) with a Node that may announce.
  const members: Member[] = [];
  for (const [name, view] of snap.members) {
    if (view.state === 'leaving') continue;
    const n = snap.nodes.get(name);
    if (n === undefined || n.excluded || n.networkUnavailable) continue;
    members.push({ name, hash: hashText(name), alive: view.state === 'alive', node: n, up: view.interfaces.filter((i) => i.up), auto: [] });
  }
  members.sort((a, b) => compareText(a.name, b.name));

  // Which members each L2 advertisement's nodeSelectors admit, computed when first needed.
  const l2Admits = new Map<number, boolean[]>();
  const admits = (adIndex: number, ad: L2AdvertisementConfig): boolean[] => {
    let a = l2Admits.get(adIndex);
    if (a === undefined) {
      a = members.map((m) => anySelector(ad.nodeSelectors, m.node.labels));
      l2Admits.set(adIndex, a);
    }
    return a;
  };

  // The distinct subnets of the members' up interfaces: an IP's interface choice depends only on which of
  // these hold it, so IPs with the same set share their candidates.
  const ranges: SubnetRange[] = [];
  const rangeIndex = new Map<string, number>();
  for (const m of members) {
    for (const i of m.up) {
      if (isVirtual(i.name) || i.mac === '00:00:00:00:00:00') continue;
      const own: number[] = [];
      for (const a of i.addresses) {
        if (a.cidr === null) continue;
        const r = quickRange(a.cidr);
        if (r === undefined || isLinkLocal(r)) continue;
        const k = `${a.family}/${r.lo}/${r.hi}`;
        let j = rangeIndex.get(k);
        if (j === undefined) {
          j = ranges.length;
          rangeIndex.set(k, j);
          const v4 = a.family === 'IPv4' && r.hi <= 0xffffffffn;
          ranges.push({ family: a.family, lo: r.lo, hi: r.hi, loN: v4 ? Number(r.lo) : -1, hiN: v4 ? Number(r.hi) : -2 });
        }
        own.push(j);
      }
      if (own.length > 0) m.auto.push({ name: i.name, ranges: own });
    }
  }
  const signature = (unit: Unit): string => {
    if (unit.rank === 2) return 'x';
    const family: Family = unit.rank === 0 ? 'IPv4' : 'IPv6';
    let sig = family;
    for (let j = 0; j < ranges.length; j++) {
      const r = ranges[j];
      if (r === undefined || r.family !== family) continue;
      const inside = unit.rank === 0
        ? (r.loN >= 0 ? unit.v4 >= r.loN && unit.v4 <= r.hiN : BigInt(unit.v4) >= r.lo && BigInt(unit.v4) <= r.hi)
        : unit.v6 >= r.lo && unit.v6 <= r.hi;
      if (inside) sig += `,${j}`;
    }
    return sig;
  };

  // Covering advertisements per set of pools (usually one pool per IP).
  const covering = new Map<string, Covering>();
  const coveringOf = (pools: readonly string[] | string): Covering => {
    const key = typeof pools === 'string' ? pools : pools.join('\u0000');
    let cov = covering.get(key);
    if (cov === undefined) {
      const list = typeof pools === 'string' ? [pools] : pools;
      const covers = (ad: { pools: ReadonlySet<string> }): boolean => list.every((p) => ad.pools.has(p));
      const l2: number[] = [];
      const bgp: number[] = [];
      config.l2.forEach((ad, i) => { if (covers(ad)) l2.push(i); });
      config.bgp.forEach((ad, i) => { if (covers(ad)) bgp.push(i); });
      cov = { key, groups: new Map(), l2, bgp, bySubnet: l2.some((i) => config.l2[i]?.interfaces.length === 0) };
      covering.set(key, cov);
    }
    return cov;
  };

  const groupOf = (cov: Covering, unit: Unit): Group => {
    const key = cov.bySubnet ? signature(unit) : '-';
    let g = cov.groups.get(key);
    if (g === undefined) {
      const alive: Cand[] = [];
      const suspects: Cand[] = [];
      const ads = cov.l2.map((i) => ({ ad: config.l2[i] as L2AdvertisementConfig, admit: admits(i, config.l2[i] as L2AdvertisementConfig) }));
      const holding = new Set(key.split(',').slice(1).map(Number)); // the ranges holding the group's IPs
      members.forEach((m, mi) => {
        const chosen: string[] = [];
        for (const { ad, admit } of ads) {
          if (admit[mi] !== true) continue;
          // an explicit list is names only (no parsing); by subnet, the ranges parsed once above decide
          if (ad.interfaces.length > 0) chosen.push(...chooseInterfaces(unit.ip, m.up, ad.interfaces));
          else for (const a of m.auto) if (a.ranges.some((j) => holding.has(j))) chosen.push(a.name);
        }
        if (chosen.length === 0) return;
        const c: Cand = { name: m.name, hash: m.hash, interfaces: sortedUnique(chosen) };
        (m.alive ? alive : suspects).push(c);
      });
      g = { alive, aliveHashes: Uint32Array.from(alive, (c) => c.hash), suspects };
      cov.groups.set(key, g);
    }
    return g;
  };

  // BGP, for this node only.
  const self = snap.nodes.get(node);
  const peers = self === undefined ? [] : sortedUnique(config.peers.filter((p) => anySelector(p.nodeSelectors, self.labels)).map((p) => p.name));
  const bgpSelfOK = self !== undefined && !self.excluded && !self.networkUnavailable;
  const routes = new Map<string, Map<number | string, RouteAcc>>(peers.map((p) => [p, new Map()]));
  // per advertisement: the route tables of the peers it goes to from this node (undefined: not from this node)
  const bgpAdRoutes = config.bgp.map((ad: BGPAdvertisementConfig): readonly Map<number | string, RouteAcc>[] | undefined => {
    if (!bgpSelfOK || !anySelector(ad.nodeSelectors, self.labels)) return undefined;
    const to = ad.peers.length === 0 ? peers : peers.filter((p) => ad.peers.includes(p));
    return to.map((p) => routes.get(p)).filter((m) => m !== undefined);
  });

  const l2 = new Map<string, L2Claim>();
  const l2Owners = new Map<string, L2Owner>();
  const unannounced = new Map<string, readonly string[]>();

  for (const unit of unitsOf(snap.services)) {
    const { ip } = unit;
    const only = unit.services.length === 1 ? unit.services[0] : undefined;
    const serviceKeys = only ? [only.key] : unit.services.map((s) => s.key);
    const pools = only ? only.poolOf?.[ip] ?? only.pool : sortedUnique(unit.services.map((s) => s.poolOf?.[ip] ?? s.pool));
    const cov = coveringOf(pools);
    if (cov.l2.length === 0 && cov.bgp.length === 0) {
      unannounced.set(ip, serviceKeys);
      continue;
    }
    const local = only ? (only.local ? unit.services : NONE) : unit.services.filter((s) => s.local);

    if (cov.l2.length > 0) {
      if (unit.rank === 2) {
        l2Owners.set(ip, { owner: undefined, services: serviceKeys, reason: NoOwnerReasons.InvalidAddress });
      } else {
        const g = groupOf(cov, unit);
        const ipHash = hashText(ip);
        // the highest score; candidates are in name order, so keeping the first of equal scores is the
        // tie-break of rank.ts outranks() (the name that sorts first)
        const hashes = g.aliveHashes;
        let bestIndex = -1;
        let bestScore = -1;
        for (let k = 0; k < hashes.length; k++) {
          const sc = mixScore(hashes[k] as number, ipHash);
          if (sc > bestScore && (local.length === 0 || readyForAll((g.alive[k] as Cand).name, local, snap.readyNodes))) { bestIndex = k; bestScore = sc; }
        }
        const best = bestIndex < 0 ? undefined : g.alive[bestIndex];
        if (best === undefined) {
          const reason = g.alive.length > 0 ? NoOwnerReasons.NoReadyEndpoint
            : g.suspects.length > 0 ? NoOwnerReasons.NoLiveNode : NoOwnerReasons.NoEligibleNode;
          l2Owners.set(ip, { owner: undefined, services: serviceKeys, reason });
        } else {
          l2Owners.set(ip, { owner: best.name, services: serviceKeys });
          if (best.name === node) {
            const above: string[] = [];
            for (const s of g.suspects) {
              if (local.length > 0 && !readyForAll(s.name, local, snap.readyNodes)) continue;
              if (outranks(mixScore(s.hash, ipHash), s.name, bestScore, best.name)) above.push(s.name);
            }
            l2.set(ip, { ip, interfaces: best.interfaces, services: serviceKeys, outrankedBySuspects: above });
          }
        }
      }
    }

    if (cov.bgp.length > 0 && unit.rank !== 2 && bgpSelfOK && (local.length === 0 || readyForAll(node, local, snap.readyNodes))) {
      for (const i of cov.bgp) {
        const targets = bgpAdRoutes[i];
        const ad = config.bgp[i];
        if (targets === undefined || targets.length === 0 || ad === undefined) continue;
        const length = unit.rank === 0 ? ad.aggregationLength : ad.aggregationLengthV6;
        const p = prefixOf(unit, length);
        if (p === undefined) continue;
        // IPv4 routes are keyed by number (a fresh "ip/len" string would be hashed on every lookup)
        const key = unit.rank === 0 ? p.v4 * 64 + length : p.text;
        for (const perPeer of targets) {
          let acc = perPeer.get(key);
          if (acc === undefined) {
            acc = { prefix: p.text, rank: unit.rank, v4: p.v4, v6: p.v6, length, ads: [ad], services: [] };
            perPeer.set(key, acc);
          } else if (!acc.ads.includes(ad)) {
            acc.ads.push(ad);
          }
          for (const k of serviceKeys) acc.services.push(k);
        }
      }
    }
  }

  const bgp = new Map<string, readonly PlannedRoute[]>();
  for (const [peer, perPeer] of routes) {
    const list = [...perPeer.values()].sort((a, b) => compareUnits(a, b, a.prefix, b.prefix) || a.length - b.length);
    bgp.set(peer, list.map((r): PlannedRoute => {
      const [first] = r.ads;
      const one = r.ads.length === 1 && first !== undefined;
      let localPref: number | undefined;
      for (const ad of r.ads) if (ad.localPref !== undefined && (localPref === undefined || ad.localPref > localPref)) localPref = ad.localPref;
      return {
        prefix: r.prefix,
        communities: one ? ascending(first.communities) : sortedUnique(r.ads.flatMap((a) => a.communities)),
        largeCommunities: one ? ascending(first.largeCommunities) : sortedUnique(r.ads.flatMap((a) => a.largeCommunities)),
        localPref,
        services: ascending(r.services),
      };
    }));
  }
  return { l2, l2Owners, bgp, peers, unannounced };
}
