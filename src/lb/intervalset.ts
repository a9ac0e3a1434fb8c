/**
 * A set of bigint addresses stored as disjoint inclusive intervals, kept sorted in small chunks.
 * Taking the lowest free address, taking a given address and giving one back are O(log n) in the
 * number of intervals (plus a bounded splice inside one chunk), never a scan over addresses, so a
 * /64 pool or a 99%-full /16 allocates as fast as an empty /24.
 */

interface Interval {
  lo: bigint;
  hi: bigint;
}

/** Largest chunk before it is split in two; small enough that a splice inside one is cheap. */
const MAX_CHUNK = 128;

/** Disjoint sorted intervals of bigints; see the module comment for complexity. */
export class IntervalSet {
  private chunks: Interval[][] = [];
  private count = 0n;

  /** Builds a set from possibly overlapping or unordered inclusive ranges. */
  constructor(ranges: Iterable<readonly [bigint, bigint]> = []) {
    const sorted = [...ranges].filter(([lo, hi]) => lo <= hi).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const merged: Interval[] = [];
    for (const [lo, hi] of sorted) {
      const last = merged.at(-1);
      if (last && lo <= last.hi + 1n) { if (hi > last.hi) last.hi = hi; }
      else merged.push({ lo, hi });
    }
    for (let i = 0; i < merged.length; i += MAX_CHUNK / 2) this.chunks.push(merged.slice(i, i + MAX_CHUNK / 2));
    for (const iv of merged) this.count += iv.hi - iv.lo + 1n;
  }

  /** Number of addresses in the set. */
  get size(): bigint {
    return this.count;
  }

  /** Number of disjoint intervals (a measure of fragmentation). */
  get intervalCount(): number {
    let n = 0;
    for (const c of this.chunks) n += c.length;
    return n;
  }

  /** Whether x is in the set. */
  has(x: bigint): boolean {
    const at = this.locate(x);
    return at !== undefined && x <= at.iv.hi;
  }

  /**
   * The lowest member accepted by `adjust`, which maps an interval to the first acceptable member
   * inside it (or undefined). Without `adjust` this is the lowest member, in O(1).
   */
  first(adjust?: (lo: bigint, hi: bigint) => bigint | undefined): bigint | undefined {
    for (const chunk of this.chunks) {
      for (const iv of chunk) {
        const x = adjust ? adjust(iv.lo, iv.hi) : iv.lo;
        if (x !== undefined) return x;
      }
    }
    return undefined;
  }

  /** Removes x; returns false when it was not a member. */
  delete(x: bigint): boolean {
    const at = this.locate(x);
    if (!at || x > at.iv.hi) return false;
    const { chunk, ci, ii, iv } = at;
    if (iv.lo === iv.hi) {
      chunk.splice(ii, 1);
      if (chunk.length === 0) this.chunks.splice(ci, 1);
    } else if (x === iv.lo) iv.lo = x + 1n;
    else if (x === iv.hi) iv.hi = x - 1n;
    else {
      chunk.splice(ii + 1, 0, { lo: x + 1n, hi: iv.hi });
      iv.hi = x - 1n;
      this.splitIfLarge(ci);
    }
    this.count -= 1n;
    return true;
  }

  /** Adds x, merging with neighbouring intervals; returns false when it was already a member. */
  add(x: bigint): boolean {
    const at = this.locate(x);
    if (at && x <= at.iv.hi) return false;
    this.count += 1n;
    // successor: the interval right after the predecessor (or the very first one)
    const ci = at ? at.ci : 0;
    const ii = at ? at.ii + 1 : 0;
    const chunk = this.chunks[ci];
    if (!chunk) { this.chunks.push([{ lo: x, hi: x }]); return true; }
    const succ = ii < chunk.length ? { c: ci, i: ii } : ci + 1 < this.chunks.length ? { c: ci + 1, i: 0 } : undefined;
    const succIv = succ && this.chunks[succ.c]?.[succ.i];
    const pred = at?.iv;
    const joinsPred = pred !== undefined && pred.hi + 1n === x;
    const joinsSucc = succIv !== undefined && succIv.lo - 1n === x;
    if (joinsPred && joinsSucc && succ) {
      pred.hi = succIv.hi;
      const sc = this.chunks[succ.c];
      sc?.splice(succ.i, 1);
      if (sc?.length === 0) this.chunks.splice(succ.c, 1);
    } else if (joinsPred) pred.hi = x;
    else if (joinsSucc) succIv.lo = x;
    else {
      chunk.splice(ii, 0, { lo: x, hi: x });
      this.splitIfLarge(ci);
    }
    return true;
  }

  /** All intervals in order, as [lo, hi] pairs. */
  *intervals(): IterableIterator<readonly [bigint, bigint]> {
    for (const c of this.chunks) for (const iv of c) yield [iv.lo, iv.hi];
  }

  /** Finds the interval with the greatest lo <= x (its hi may still be below x). */
  private locate(x: bigint): { chunk: Interval[]; ci: number; ii: number; iv: Interval } | undefined {
    let lo = 0;
    let hi = this.chunks.length - 1;
    let ci = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const first = this.chunks[mid]?.[0];
      if (first && first.lo <= x) { ci = mid; lo = mid + 1; } else hi = mid - 1;
    }
    const chunk = this.chunks[ci];
    if (!chunk) return undefined;
    lo = 0;
    hi = chunk.length - 1;
    let ii = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const iv = chunk[mid];
      if (iv && iv.lo <= x) { ii = mid; lo = mid + 1; } else hi = mid - 1;
    }
    const iv = chunk[ii];
    return iv && { chunk, ci, ii, iv };
  }

  private splitIfLarge(ci: number): void {
    const chunk = this.chunks[ci];
    if (chunk && chunk.length > MAX_CHUNK) this.chunks.splice(ci + 1, 0, chunk.splice(MAX_CHUNK / 2));
  }
}
