/**
 * Pools as the allocator sees them: parsed ranges per family and the rules for which Services may
 * use them. Built from IPAddressPool objects by a pure function so config errors become data.
 */
import type { IPAddressPool } from '../api/ipaddresspool.ts';
import { selectorMatches, type LabelSelector } from '../api/types.ts';
import { buggyCount, isBuggyIP, overlappingRanges, parseRange, type Addr, type Family, type Range } from '../net/ip.ts';

/** A usable pool. */
export interface Pool {
  readonly name: string;
  readonly ranges: readonly Range[];
  readonly autoAssign: boolean;
  readonly avoidBuggyIPs: boolean;
  /** Lower is tried first; undefined (or 0, as MetalLB) sorts after every other number. */
  readonly priority: number | undefined;
  readonly namespaces: readonly string[];
  readonly namespaceSelectors: readonly LabelSelector[];
  readonly serviceSelectors: readonly LabelSelector[];
  /** Entries of `spec.addresses` that did not parse (the CRD's CEL rules should prevent these). */
  readonly errors: readonly string[];
  readonly generation: number | undefined;
}

/** Who is asking for an address: what pool scoping is decided on. */
export interface Requester {
  readonly namespace: string;
  readonly serviceLabels: Readonly<Record<string, string>>;
  readonly namespaceLabels: Readonly<Record<string, string>>;
}

/** Converts an IPAddressPool object into a {@link Pool}; bad entries are listed, not thrown. */
export function poolFromObject(obj: IPAddressPool): Pool {
  const ranges: Range[] = [];
  const errors: string[] = [];
  for (const text of obj.spec.addresses) {
    const r = parseRange(text);
    if ('error' in r) errors.push(r.error);
    else ranges.push(r);
  }
  const sa = obj.spec.serviceAllocation;
  return {
    name: obj.metadata.name,
    ranges,
    autoAssign: obj.spec.autoAssign ?? true,
    avoidBuggyIPs: obj.spec.avoidBuggyIPs ?? false,
    priority: sa?.priority,
    namespaces: sa?.namespaces ?? [],
    namespaceSelectors: sa?.namespaceSelectors ?? [],
    serviceSelectors: sa?.serviceSelectors ?? [],
    errors,
    generation: obj.metadata.generation,
  };
}

/** Whether the pool's `serviceAllocation` lets this Service use it (autoAssign is not considered). */
export function poolAllows(pool: Pool, who: Requester): boolean {
  const nsListed = pool.namespaces.length === 0 && pool.namespaceSelectors.length === 0
    || pool.namespaces.includes(who.namespace)
    || pool.namespaceSelectors.some((s) => selectorMatches(s, who.namespaceLabels));
  if (!nsListed) return false;
  return pool.serviceSelectors.length === 0 || pool.serviceSelectors.some((s) => selectorMatches(s, who.serviceLabels));
}

/**
 * Whether the pool limits who may use it (namespaces, namespace or Service selectors). A scoped pool that
 * lets a Service in was meant for it, so it is tried before the catch-all pools (as MetalLB does).
 */
export function poolScoped(pool: Pool): boolean {
  return pool.namespaces.length > 0 || pool.namespaceSelectors.length > 0 || pool.serviceSelectors.length > 0;
}

/** The pool's priority as a sort key: unset and 0 mean "lowest" (MetalLB), so they sort last. */
function priorityRank(pool: Pool): number {
  return pool.priority === undefined || pool.priority <= 0 ? Number.POSITIVE_INFINITY : pool.priority;
}

/**
 * The rank two pools tie on when their order is only a matter of name: scoped pools first, then
 * priority ascending. Two pools with the same rank are equally preferred by the user.
 */
export function poolRank(pool: Pool): readonly [number, number] {
  return [poolScoped(pool) ? 0 : 1, priorityRank(pool)];
}

/** Orders pools for trying: scoped before unscoped, priority ascending (unset/0 last), then name. */
export function comparePools(a: Pool, b: Pool): number {
  const [sa, pa] = poolRank(a);
  const [sb, pb] = poolRank(b);
  if (sa !== sb) return sa - sb;
  if (pa !== pb) return pa < pb ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Whether the pool may hand out this address: it lies in a range and is not a .0/.255 address of a pool
 * with avoidBuggyIPs (which may have been turned on after the address was given).
 */
export function poolAccepts(pool: Pool, a: Addr): boolean {
  return poolContains(pool, a) && poolCounts(pool, a);
}

/** Whether the address counts towards the pool's usage (addresses the pool would not hand out do not). */
export function poolCounts(pool: Pool, a: Addr): boolean {
  return !(pool.avoidBuggyIPs && isBuggyIP(a));
}

/** Whether the address lies in one of the pool's ranges. */
export function poolContains(pool: Pool, a: Addr): boolean {
  for (const r of pool.ranges) if (r.family === a.family && a.value >= r.lo && a.value <= r.hi) return true;
  return false;
}

/** Whether the pool has any range of the family. */
export function poolHasFamily(pool: Pool, f: Family): boolean {
  return pool.ranges.some((r) => r.family === f);
}

/** How many addresses of the family the pool can hand out (ranges may overlap each other). */
export function poolCapacity(pool: Pool, f: Family): bigint {
  const rs = pool.ranges.filter((r) => r.family === f).sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
  let total = 0n;
  let curLo = -1n;
  let curHi = -2n;
  const flush = (): void => {
    if (curHi < curLo) return;
    total += curHi - curLo + 1n;
    if (pool.avoidBuggyIPs && f === 'IPv4') total -= buggyCount(curLo, curHi);
  };
  for (const r of rs) {
    if (r.lo <= curHi + 1n) { if (r.hi > curHi) curHi = r.hi; continue; }
    flush();
    curLo = r.lo;
    curHi = r.hi;
  }
  flush();
  return total;
}

/** A pair of pools that share at least one address. */
export interface PoolOverlap {
  readonly a: string;
  readonly b: string;
  readonly family: Family;
}

/** Finds every pair of pools whose ranges intersect, by a sweep over sorted range starts. */
export function findOverlaps(pools: readonly Pool[]): PoolOverlap[] {
  const out = new Map<string, PoolOverlap>();
  const ranges = pools.flatMap((p) => p.ranges.map((r) => ({ pool: p.name, family: r.family, lo: r.lo, hi: r.hi })));
  for (const [x, y] of overlappingRanges(ranges, (u, v) => u.pool === v.pool)) {
    const [a, b] = x.pool < y.pool ? [x.pool, y.pool] : [y.pool, x.pool];
    out.set(`${a}\0${b}\0${x.family}`, { a, b, family: x.family });
  }
  return [...out.values()];
}
