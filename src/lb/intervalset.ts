/**
 * A set of bigint addresses stored as disjoint inclusive intervals, kept sorted in small chunks.
 * Taking the lowest free address, taking a given address and giving one back are O(log n) in the
 * number of intervals (plus a bounded splice inside one chunk), never a scan over addresses, so a
 * /64 pool or a 99%-full /16 allocates as fast as an empty /24.
 */

/**
 * Maps a free interval to its lowest acceptable member, or undefined when it has none. It must be pure
 * and judge members one by one (a member is acceptable or not whatever interval it sits in), so that an
 * interval it rejected once stays rejected while it only shrinks: the set relies on that to remember.
 */
export type Adjust = (lo: bigint, hi: bigint) => bigint | undefined;

interface Interval {
  lo: bigint;
  hi: bigint;
  /** The adjust function last seen to reject this interval (cleared when the interval grows). */
  none: Adjust | undefined;
}

interface Chunk {
  readonly ivs: Interval[];
  /** The adjust function known to reject every interval of the chunk (cleared when one grows or is added). */
  none: Adjust | undefined;
}

/** Largest chunk before it is split in two; small enough that a splice inside one is cheap. Exported for tests. */
export const MAX_CHUNK = 128;

/**
 * Disjoint sorted intervals of bigints; see the module comment for complexity.
 *
 * `first(adjust)` (the search under a rule such as avoidBuggyIPs) must not walk the intervals the rule
 * rejects: a full /8 under avoidBuggyIPs leaves 65,536 `.255/.0` pairs. So the set remembers what the rule
 * rejected, per interval and per chunk, plus how many leading chunks hold nothing acceptable and which of
 * those an `add` has touched since. Taking addresses only shrinks intervals, which keeps every rejection
 * valid; giving one back invalidates the one interval and chunk it grows. A search therefore looks at the
 * touched chunks, then resumes where the previous search stopped: it never rescans what is known rejected.
 */
export class IntervalSet {
  private chunks: Chunk[] = [];
  private count = 0n;
  /** The adjust function the search memo is for. */
  private searchFn: Adjust | undefined;
  /** Every chunk below this index rejects `searchFn` entirely, except those listed in `touched`. */
  private searchFrom = 0;
  /** Chunks below `searchFrom` that an `add` changed since they were found rejected; ascending, no repeats. */
  private touched: number[] = [];

  /** Builds a set from possibly overlapping or unordered inclusive ranges. */
  constructor(ranges: Iterable<readonly [bigint, bigint]> = []) {
    const sorted = [...ranges].filter(([lo, hi]) => lo <= hi).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const merged: Interval[] = [];
    for (const [lo, hi] of sorted) {
      const last = merged.at(-1);
      if (last && lo <= last.hi + 1n) { if (hi > last.hi) last.hi = hi; }
      else merged.push({ lo, hi, none: undefined });
    }
    for (let i = 0; i < merged.length; i += MAX_CHUNK / 2) this.chunks.push({ ivs: merged.slice(i, i + MAX_CHUNK / 2), none: undefined });
    for (const iv of merged) this.count += iv.hi - iv.lo + 1n;
  }

  /** Number of addresses in the set. */
  get size(): bigint {
    return this.count;
  }

  /** Number of disjoint intervals (a measure of fragmentation). */
  get intervalCount(): number {
    let n = 0;
    for (const c of this.chunks) n += c.ivs.length;
    return n;
  }

  /** Number of chunks the intervals are kept in (for tests that must span several). */
  get chunkCount(): number {
    return this.chunks.length;
  }

  /** Whether x is in the set. */
  has(x: bigint): boolean {
    const at = this.locate(x);
    return at !== undefined && x <= at.iv.hi;
  }

  /**
   * The lowest member accepted by `adjust` (see {@link Adjust}). Without `adjust` this is the lowest
   * member, in O(1). With it, intervals and chunks the same function rejected before are skipped without
   * calling it again (see the class comment); a different function starts a new memo.
   */
  first(adjust?: Adjust): bigint | undefined {
    if (!adjust) return this.chunks[0]?.ivs[0]?.lo;
    if (adjust !== this.searchFn) {
      this.searchFn = adjust;
      this.searchFrom = 0;
      this.touched = [];
    }
    const chunks = this.chunks;
    const touched = this.touched;
    while (touched.length > 0) {
      const x = firstIn(chunks[touched[0] ?? -1], adjust);
      if (x !== undefined) return x;
      touched.shift();
    }
    for (let ci = this.searchFrom; ci < chunks.length; ci++) {
      const x = firstIn(chunks[ci], adjust);
      if (x !== undefined) {
        this.searchFrom = ci;
        return x;
      }
      this.searchFrom = ci + 1;
    }
    return undefined;
  }

  /** Removes x; returns false when it was not a member. Shrinking keeps every remembered rejection valid. */
  delete(x: bigint): boolean {
    const at = this.locate(x);
    if (!at || x > at.iv.hi) return false;
    const { chunk, ci, ii, iv } = at;
    if (iv.lo === iv.hi) {
      chunk.ivs.splice(ii, 1);
      if (chunk.ivs.length === 0) this.removeChunk(ci);
    } else if (x === iv.lo) iv.lo = x + 1n;
    else if (x === iv.hi) iv.hi = x - 1n;
    else {
      // both halves lie inside the old interval, so what rejected it rejects them
      chunk.ivs.splice(ii + 1, 0, { lo: x + 1n, hi: iv.hi, none: iv.none });
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
    // the successor is the interval right after the predecessor (or the very first one)
    const ci = at ? at.ci : 0;
    const ii = at ? at.ii + 1 : 0;
    const chunk = this.chunks[ci];
    if (!chunk) {
      this.chunks.push({ ivs: [{ lo: x, hi: x, none: undefined }], none: undefined });
      this.grew(this.chunks.length - 1);
      return true;
    }
    const sc = ii < chunk.ivs.length ? ci : ci + 1;
    const si = ii < chunk.ivs.length ? ii : 0;
    const succChunk = this.chunks[sc];
    const succ = succChunk?.ivs[si];
    const pred = at?.iv;
    const joinsPred = pred !== undefined && pred.hi + 1n === x;
    const joinsSucc = succ !== undefined && succ.lo - 1n === x;
    if (joinsPred && joinsSucc && succChunk) {
      pred.hi = succ.hi;
      pred.none = undefined;
      succChunk.ivs.splice(si, 1);
      if (succChunk.ivs.length === 0) this.removeChunk(sc); // sc > ci here: pred's chunk keeps pred
      this.grew(ci);
    } else if (joinsPred) {
      pred.hi = x;
      pred.none = undefined;
      this.grew(ci);
    } else if (joinsSucc) {
      succ.lo = x;
      succ.none = undefined;
      this.grew(sc);
    } else {
      chunk.ivs.splice(ii, 0, { lo: x, hi: x, none: undefined });
      this.grew(ci);
      this.splitIfLarge(ci);
    }
    return true;
  }

  /** All intervals in order, as [lo, hi] pairs. */
  *intervals(): IterableIterator<readonly [bigint, bigint]> {
    for (const c of this.chunks) for (const iv of c.ivs) yield [iv.lo, iv.hi];
  }

  /** Finds the interval with the greatest lo <= x (its hi may still be below x). */
  private locate(x: bigint): { chunk: Chunk; ci: number; ii: number; iv: Interval } | undefined {
    const chunks = this.chunks;
    let lo = 0;
    let hi = chunks.length - 1;
    let ci = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const first = chunks[mid]?.ivs[0];
      if (first && first.lo <= x) { ci = mid; lo = mid + 1; } else hi = mid - 1;
    }
    const chunk = chunks[ci];
    if (!chunk) return undefined;
    const ivs = chunk.ivs;
    lo = 0;
    hi = ivs.length - 1;
    let ii = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const iv = ivs[mid];
      if (iv && iv.lo <= x) { ii = mid; lo = mid + 1; } else hi = mid - 1;
    }
    const iv = ivs[ii];
    return iv && { chunk, ci, ii, iv };
  }

  /** An interval of chunk ci grew or was added: forget that the chunk rejected anything. */
  private grew(ci: number): void {
    const chunk = this.chunks[ci];
    if (chunk) chunk.none = undefined;
    if (ci >= this.searchFrom) return;
    const t = this.touched;
    let i = t.length;
    while (i > 0 && (t[i - 1] ?? -1) > ci) i--;
    if (t[i - 1] !== ci) t.splice(i, 0, ci);
  }

  private removeChunk(ci: number): void {
    this.chunks.splice(ci, 1);
    if (ci < this.searchFrom) this.searchFrom--;
    const t = this.touched;
    const at = t.indexOf(ci);
    if (at >= 0) t.splice(at, 1);
    for (let i = 0; i < t.length; i++) if ((t[i] ?? -1) > ci) t[i] = (t[i] ?? 0) - 1;
  }

  private splitIfLarge(ci: number): void {
    const chunk = this.chunks[ci];
    if (!chunk || chunk.ivs.length <= MAX_CHUNK) return;
    // each half holds a subset of the chunk's intervals, so a whole-chunk rejection holds for both
    this.chunks.splice(ci + 1, 0, { ivs: chunk.ivs.splice(MAX_CHUNK / 2), none: chunk.none });
    if (ci < this.searchFrom) this.searchFrom++;
    const t = this.touched;
    for (let i = 0; i < t.length; i++) if ((t[i] ?? -1) > ci) t[i] = (t[i] ?? 0) + 1;
    const at = t.indexOf(ci);
    if (at >= 0) t.splice(at + 1, 0, ci + 1); // both halves of a touched chunk are touched
  }
}

/** The first member of a chunk that `adjust` accepts, remembering each rejection; see {@link IntervalSet}. */
function firstIn(chunk: Chunk | undefined, adjust: Adjust): bigint | undefined {
  if (!chunk || chunk.none === adjust) return undefined;
  for (const iv of chunk.ivs) {
    if (iv.none === adjust) continue;
    const x = adjust(iv.lo, iv.hi);
    if (x !== undefined) return x;
    iv.none = adjust;
  }
  chunk.none = adjust;
  return undefined;
}
