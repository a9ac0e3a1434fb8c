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
 * Cost: candidate sets do not depend on the IP itself, only on the covering advertisements and on which node
 * subnets hold the IP, so they are computed once per such group and each IP costs one score per candidate.
 */
import { selectorMatches, type LabelSelector } from '../api/types.ts';
import type { BGPAdvertisementConfig, L2AdvertisementConfig } from '../config/types.ts';
import { chooseInterfaces } from '../l2/interfaces.ts';
import { bitsOf, formatIP, parseIP, parseRange, type Addr, type Family } from '../net/ip.ts';
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
}

/** A member eligible for the IPs of one group, with the interfaces it would answer on. */
interface Cand {
  readonly name: string;
  readonly hash: number;
  readonly interfaces: readonly string[];
}

/** Candidates shared by every IP with the same covering advertisements and the same subnet signature. */
interface Group {
  readonly alive: readonly Cand[];
  readonly suspects: readonly Cand[];
}

/** The Services on one IP, treated as one unit. */
interface Unit {
  readonly ip: string;
  readonly addr: Addr | undefined;
  readonly services: PlanService[];
}

/** Advertisements covering one set of pools (by index into the Config lists). */
interface Covering {
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
}

/** A route being merged from several advertisements and Services. */
interface RouteAcc {
  readonly prefix: string;
  readonly addr: Addr;
  readonly length: number;
  readonly communities: Set<string>;
  readonly largeCommunities: Set<string>;
  localPref: number | undefined;
  readonly services: Set<string>;
}

function anySelector(selectors: readonly LabelSelector[], labels: Readonly<Record<string, string>>): boolean {
  return selectors.length === 0 || selectors.some((s) => selectorMatches(s, labels));
}

function compareAddr(a: Addr, b: Addr): number {
  if (a.family !== b.family) return a.family === 'IPv4' ? -1 : 1;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/** Code-unit order, the same in every process (localeCompare depends on the locale). */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedUnique(xs: Iterable<string>): string[] {
  return [...new Set(xs)].sort(compareText);
}

/** Groups the Services by IP, in address order (unparsable texts last, in text order). */
function unitsOf(services: readonly PlanService[]): Unit[] {
  const byIP = new Map<string, PlanService[]>();
  for (const s of services) {
    for (const ip of s.ips) {
      const list = byIP.get(ip);
      if (list === undefined) byIP.set(ip, [s]);
      else if (!list.includes(s)) list.push(s);
    }
  }
  const units: Unit[] = [];
  for (const [ip, list] of byIP) {
    if (list.length > 1) list.sort((a, b) => compareText(a.key, b.key));
    units.push({ ip, addr: parseIP(ip), services: list });
  }
  units.sort((a, b) => {
    if (a.addr && b.addr) return compareAddr(a.addr, b.addr);
    if (a.addr) return -1;
    if (b.addr) return 1;
    return compareText(a.ip, b.ip);
  });
  return units;
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
    members.push({ name, hash: hashText(name), alive: view.state === 'alive', node: n, up: view.interfaces.filter((i) => i.up) });
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
  const rangeKeys = new Set<string>();
  for (const m of members) {
    for (const i of m.up) {
      for (const a of i.addresses) {
        if (a.cidr === null) continue;
        const r = parseRange(a.cidr);
        if ('error' in r) continue;
        const k = `${a.family}/${r.lo}/${r.hi}`;
        if (rangeKeys.has(k)) continue;
        rangeKeys.add(k);
        ranges.push({ family: a.family, lo: r.lo, hi: r.hi });
      }
    }
  }
  const signature = (addr: Addr | undefined): string => {
    if (addr === undefined) return 'x';
    let sig = addr.family === 'IPv4' ? '4' : '6';
    for (let j = 0; j < ranges.length; j++) {
      const r = ranges[j];
      if (r !== undefined && r.family === addr.family && addr.value >= r.lo && addr.value <= r.hi) sig += `,${j}`;
    }
    return sig;
  };

  // Covering advertisements per set of pools (usually one pool per IP).
  const covering = new Map<string, Covering>();
  const coveringOf = (pools: readonly string[]): { key: string; cov: Covering } => {
    const key = pools.join('\u0000');
    let cov = covering.get(key);
    if (cov === undefined) {
      const covers = (ad: { pools: ReadonlySet<string> }): boolean => pools.every((p) => ad.pools.has(p));
      const l2: number[] = [];
      const bgp: number[] = [];
      config.l2.forEach((ad, i) => { if (covers(ad)) l2.push(i); });
      config.bgp.forEach((ad, i) => { if (covers(ad)) bgp.push(i); });
      cov = { l2, bgp, bySubnet: l2.some((i) => config.l2[i]?.interfaces.length === 0) };
      covering.set(key, cov);
    }
    return { key, cov };
  };

  const groups = new Map<string, Group>();
  const groupOf = (covKey: string, cov: Covering, unit: Unit): Group => {
    const key = `${covKey}\u0001${cov.bySubnet ? signature(unit.addr) : '-'}`;
    let g = groups.get(key);
    if (g === undefined) {
      const alive: Cand[] = [];
      const suspects: Cand[] = [];
      const ads = cov.l2.map((i) => ({ ad: config.l2[i] as L2AdvertisementConfig, admit: admits(i, config.l2[i] as L2AdvertisementConfig) }));
      members.forEach((m, mi) => {
        const chosen: string[] = [];
        for (const { ad, admit } of ads) if (admit[mi] === true) chosen.push(...chooseInterfaces(unit.ip, m.up, ad.interfaces));
        if (chosen.length === 0) return;
        const c: Cand = { name: m.name, hash: m.hash, interfaces: sortedUnique(chosen) };
        (m.alive ? alive : suspects).push(c);
      });
      g = { alive, suspects };
      groups.set(key, g);
    }
    return g;
  };

  // BGP, for this node only.
  const self = snap.nodes.get(node);
  const peers = self === undefined ? [] : config.peers.filter((p) => anySelector(p.nodeSelectors, self.labels)).map((p) => p.name).sort(compareText);
  const bgpSelfOK = self !== undefined && !self.excluded && !self.networkUnavailable;
  const bgpAdPeers = config.bgp.map((ad: BGPAdvertisementConfig): readonly string[] | undefined => {
    if (!bgpSelfOK || !anySelector(ad.nodeSelectors, self.labels)) return undefined;
    return ad.peers.length === 0 ? peers : peers.filter((p) => ad.peers.includes(p));
  });
  const routes = new Map<string, Map<string, RouteAcc>>(peers.map((p) => [p, new Map()]));

  const l2 = new Map<string, L2Claim>();
  const l2Owners = new Map<string, L2Owner>();
  const unannounced = new Map<string, readonly string[]>();

  for (const unit of unitsOf(snap.services)) {
    const { ip, addr } = unit;
    const serviceKeys = unit.services.map((s) => s.key);
    const pools = sortedUnique(unit.services.map((s) => s.poolOf?.[ip] ?? s.pool));
    const { key: covKey, cov } = coveringOf(pools);
    if (cov.l2.length === 0 && cov.bgp.length === 0) {
      unannounced.set(ip, serviceKeys);
      continue;
    }
    const local = unit.services.filter((s) => s.local);

    if (cov.l2.length > 0) {
      if (addr === undefined) {
        l2Owners.set(ip, { owner: undefined, services: serviceKeys, reason: NoOwnerReasons.InvalidAddress });
      } else {
        const g = groupOf(covKey, cov, unit);
        const ipHash = hashText(ip);
        let best: Cand | undefined;
        let bestScore = -1;
        for (const c of g.alive) {
          if (local.length > 0 && !readyForAll(c.name, local, snap.readyNodes)) continue;
          const sc = mixScore(c.hash, ipHash);
          if (best === undefined || outranks(sc, c.name, bestScore, best.name)) { best = c; bestScore = sc; }
        }
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

    if (cov.bgp.length > 0 && addr !== undefined && bgpSelfOK && (local.length === 0 || readyForAll(node, local, snap.readyNodes))) {
      for (const i of cov.bgp) {
        const targets = bgpAdPeers[i];
        const ad = config.bgp[i];
        if (targets === undefined || targets.length === 0 || ad === undefined) continue;
        const length = addr.family === 'IPv4' ? ad.aggregationLength : ad.aggregationLengthV6;
        const bits = bitsOf(addr.family);
        if (!(length >= 0 && length <= bits)) continue; // parseConfig refuses these; never mask with a bad length
        const masked: Addr = length === bits ? addr : { family: addr.family, value: addr.value & ~((1n << BigInt(bits - length)) - 1n) };
        const prefix = `${length === bits ? ip : formatIP(masked)}/${length}`;
        for (const peer of targets) {
          const perPeer = routes.get(peer);
          if (perPeer === undefined) continue;
          let acc = perPeer.get(prefix);
          if (acc === undefined) {
            acc = { prefix, addr: masked, length, communities: new Set(), largeCommunities: new Set(), localPref: undefined, services: new Set() };
            perPeer.set(prefix, acc);
          }
          for (const c of ad.communities) acc.communities.add(c);
          for (const c of ad.largeCommunities) acc.largeCommunities.add(c);
          if (ad.localPref !== undefined && (acc.localPref === undefined || ad.localPref > acc.localPref)) acc.localPref = ad.localPref;
          for (const k of serviceKeys) acc.services.add(k);
        }
      }
    }
  }

  const bgp = new Map<string, readonly PlannedRoute[]>();
  for (const [peer, perPeer] of routes) {
    const list = [...perPeer.values()].sort((a, b) => compareAddr(a.addr, b.addr) || a.length - b.length);
    bgp.set(peer, list.map((r) => ({
      prefix: r.prefix,
      communities: sortedUnique(r.communities),
      largeCommunities: sortedUnique(r.largeCommunities),
      localPref: r.localPref,
      services: sortedUnique(r.services),
    })));
  }
  return { l2, l2Owners, bgp, peers, unannounced };
}
