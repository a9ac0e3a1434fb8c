/**
 * Pools as the allocator sees them: parsed ranges per family and the rules for which Services may
 * use them. Built from IPAddressPool objects by a pure function so config errors become data.
 */
import type { IPAddressPool } from '../api/ipaddresspool.ts';
import { selectorMatches, type LabelSelector } from '../api/types.ts';
import { buggyCount, parseRange, type Addr, type Family, type Range } from './ipnet.ts';

/** A usable pool. */
export interface Pool {
  readonly name: string;
  readonly ranges: readonly Range[];
  readonly autoAssign: boolean;
  readonly avoidBuggyIPs: boolean;
  /** Lower is tried first; undefined sorts after every number. */
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

/** Orders pools for trying: priority ascending (unset last), then name for determinism. */
export function comparePools(a: Pool, b: Pool): number {
  const pa = a.priority ?? Number.POSITIVE_INFINITY;
  const pb = b.priority ?? Number.POSITIVE_INFINITY;
  if (pa !== pb) return pa - pb;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
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
  for (const family of ['IPv4', 'IPv6'] as const) {
    const all = pools.flatMap((p) => p.ranges.filter((r) => r.family === family).map((r) => ({ pool: p.name, r })));
    all.sort((x, y) => (x.r.lo < y.r.lo ? -1 : x.r.lo > y.r.lo ? 1 : 0));
    const open: { pool: string; hi: bigint }[] = [];
    for (const { pool, r } of all) {
      for (let i = open.length - 1; i >= 0; i--) if ((open[i]?.hi ?? -1n) < r.lo) open.splice(i, 1);
      for (const o of open) {
        if (o.pool === pool) continue;
        const [a, b] = o.pool < pool ? [o.pool, pool] : [pool, o.pool];
        out.set(`${a}\0${b}\0${family}`, { a, b, family });
      }
      open.push({ pool, hi: r.hi });
    }
  }
  return [...out.values()];
}
