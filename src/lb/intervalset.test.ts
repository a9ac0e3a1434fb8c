import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { IntervalSet, MAX_CHUNK, type Adjust } from './intervalset.ts';

test('constructor merges overlapping and adjacent ranges', () => {
  const s = new IntervalSet([[10n, 20n], [21n, 25n], [5n, 12n], [40n, 40n]]);
  assert.deepEqual([...s.intervals()], [[5n, 25n], [40n, 40n]]);
  assert.equal(s.size, 22n);
});

test('delete splits, add merges back', () => {
  const s = new IntervalSet([[0n, 9n]]);
  assert.equal(s.delete(5n), true);
  assert.equal(s.delete(5n), false);
  assert.deepEqual([...s.intervals()], [[0n, 4n], [6n, 9n]]);
  assert.equal(s.add(5n), true);
  assert.deepEqual([...s.intervals()], [[0n, 9n]]);
  assert.equal(s.add(5n), false);
});

test('first with an adjust function skips unacceptable members', () => {
  const s = new IntervalSet([[0n, 0n], [255n, 256n], [300n, 300n]]);
  const odd = (lo: bigint, hi: bigint): bigint | undefined => {
    for (let x = lo; x <= hi; x++) if (x % 2n === 1n) return x;
    return undefined;
  };
  assert.equal(s.first(), 0n);
  assert.equal(s.first(odd), 255n);
});

test('a /64 behaves like a small range', () => {
  const s = new IntervalSet([[0x20010db8n << 96n, (0x20010db8n << 96n) + (1n << 64n) - 1n]]);
  assert.equal(s.size, 1n << 64n);
  const x = s.first()!;
  assert.equal(s.delete(x), true);
  assert.equal(s.first(), x + 1n);
});

test('matches a naive model under random add/delete sequences', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 600 })), { maxLength: 2000 }), (ops) => {
      const s = new IntervalSet([[0n, 299n]]);
      const model = new Set<number>(Array.from({ length: 300 }, (_, i) => i));
      for (const [add, n] of ops) {
        const r = add ? s.add(BigInt(n)) : s.delete(BigInt(n));
        const mr = add ? !model.has(n) : model.has(n);
        if (add) model.add(n); else model.delete(n);
        assert.equal(r, mr);
      }
      assert.equal(s.size, BigInt(model.size));
      const sorted = [...model].sort((a, b) => a - b);
      assert.equal(s.first(), sorted.length ? BigInt(sorted[0]!) : undefined);
      const members: number[] = [];
      let prevHi = -2n;
      for (const [lo, hi] of s.intervals()) {
        assert.ok(lo > prevHi + 1n, 'intervals are disjoint and never adjacent');
        prevHi = hi;
        for (let x = lo; x <= hi; x++) members.push(Number(x));
      }
      assert.deepEqual(members, sorted);
    }),
    { numRuns: 200 },
  );
});

/** Seed for the randomised tests below: printed, and taken from FC_SEED to re-run a failure. */
const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
console.log(`intervalset properties: seed ${seed} (re-run with FC_SEED=${seed})`);

/** A naive set over [0, universe): one flag per member. */
class Naive {
  readonly member: Uint8Array;
  size = 0;
  constructor(readonly universe: number) { this.member = new Uint8Array(universe); }
  add(x: number): boolean { if (this.member[x]) return false; this.member[x] = 1; this.size++; return true; }
  delete(x: number): boolean { if (!this.member[x]) return false; this.member[x] = 0; this.size--; return true; }
  first(ok: (x: number) => boolean = () => true): bigint | undefined {
    for (let x = 0; x < this.universe; x++) if (this.member[x] && ok(x)) return BigInt(x);
    return undefined;
  }
}

/** The rule "x mod m is not one of `bad`" as the per-member test and as an {@link Adjust}. */
function residueRule(m: number, bad: readonly number[]): { ok: (x: number) => boolean; adjust: Adjust } {
  const ok = (x: number): boolean => !bad.includes(x % m);
  const adjust: Adjust = (lo, hi) => {
    for (let x = lo; x <= hi && x < lo + BigInt(m); x++) if (ok(Number(x))) return x;
    return undefined;
  };
  return { ok, adjust };
}

/** Checks every observable of `s` against the model. */
function sameAs(s: IntervalSet, model: Naive): void {
  assert.equal(s.size, BigInt(model.size));
  const members: number[] = [];
  let prevHi = -2n;
  let n = 0;
  for (const [lo, hi] of s.intervals()) {
    assert.ok(lo <= hi && lo > prevHi + 1n, `intervals are disjoint, ordered and never adjacent: [${lo}, ${hi}] after ${prevHi}`);
    prevHi = hi;
    n++;
    for (let x = lo; x <= hi; x++) members.push(Number(x));
  }
  assert.equal(s.intervalCount, n);
  const expected: number[] = [];
  for (let x = 0; x < model.universe; x++) if (model.member[x]) expected.push(x);
  assert.deepEqual(members, expected);
  assert.equal(s.first(), model.first());
}

/** Every other member of [0, 2n): n single-address intervals, so n / 64 chunks at construction. */
const comb = (n: number): [bigint, bigint][] => Array.from({ length: n }, (_, i) => [BigInt(2 * i), BigInt(2 * i)]);

test('multi-chunk sets match a naive model under random add/delete (chunks split, empty and go away)', () => {
  const universe = 2400;
  // an op: add or delete at a random address, or near the previous op, or over a run of up to 300 addresses
  // (runs empty whole chunks, or merge intervals across chunk boundaries)
  const op = fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: universe - 1 }), fc.integer({ min: -3, max: 300 }));
  let splits = 0;
  let removals = 0;
  fc.assert(fc.property(fc.integer({ min: 0, max: 600 }), fc.array(op, { minLength: 1, maxLength: 3000, size: 'max' }), (combSize, ops) => {
    const s = new IntervalSet(comb(combSize));
    const model = new Naive(universe);
    for (let i = 0; i < combSize; i++) model.add(2 * i);
    let at = 0;
    let chunks = s.chunkCount;
    for (const [add, how, x, step] of ops) {
      at = how === 1 ? Math.min(universe - 1, Math.max(0, at + (step % 4))) : x;
      const end = how === 2 ? Math.min(universe, at + Math.max(1, step)) : at + 1;
      for (let y = at; y < end; y++) {
        const r = add ? s.add(BigInt(y)) : s.delete(BigInt(y));
        assert.equal(r, add ? model.add(y) : model.delete(y), `${add ? 'add' : 'delete'} ${y}`);
      }
      assert.equal(s.has(BigInt(at)), model.member[at] === 1);
      if (s.chunkCount > chunks) splits++;
      if (s.chunkCount < chunks) removals++;
      chunks = s.chunkCount;
    }
    sameAs(s, model);
  }), { seed, numRuns: 150 });
  // the generator must really exercise splitting and emptying chunks, not just one chunk
  console.log(`chunk splits ${splits}, chunk removals ${removals}`);
  assert.ok(splits > 0 && removals > 0, `chunk splits ${splits}, chunk removals ${removals}`);
});

test('first(adjust) on multi-chunk sets matches a naive scan, across memo resets and rule changes', () => {
  const universe = 1500;
  const rule = fc.tuple(fc.integer({ min: 2, max: 12 }), fc.array(fc.integer({ min: 0, max: 11 }), { maxLength: 12 }));
  // op kinds: 0 add, 1 delete, 2 delete a run (as allocation does), 3 search with the other rule, 4 add a run
  const op = fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: universe - 1 }), fc.integer({ min: 1, max: 200 }));
  let multiChunk = 0;
  let rejectedSearches = 0;
  fc.assert(fc.property(rule, rule, fc.integer({ min: 0, max: 700 }), fc.array(op, { maxLength: 1200, size: 'max' }), ([m1, bad1], [m2, bad2], combSize, ops) => {
    const main = residueRule(m1, bad1);
    const other = residueRule(m2, bad2);
    const s = new IntervalSet(comb(combSize));
    const model = new Naive(universe);
    for (let i = 0; i < combSize; i++) model.add(2 * i);
    for (const [kind, x, len] of ops) {
      if (kind === 0) assert.equal(s.add(BigInt(x)), model.add(x));
      else if (kind === 1) assert.equal(s.delete(BigInt(x)), model.delete(x));
      else if (kind === 2) for (let y = x; y < Math.min(universe, x + len); y++) assert.equal(s.delete(BigInt(y)), model.delete(y));
      else if (kind === 3) assert.equal(s.first(other.adjust), model.first(other.ok), 'other rule');
      else for (let y = x; y < Math.min(universe, x + len); y++) assert.equal(s.add(BigInt(y)), model.add(y));
      const want = model.first(main.ok);
      if (want === undefined && model.size > 0) rejectedSearches++;
      assert.equal(s.first(main.adjust), want, `after op ${kind} at ${x}`);
      // taking what was found is what the allocator does next; half the time, do it
      if (want !== undefined && x % 2 === 0) { s.delete(want); model.delete(Number(want)); }
      if (s.intervalCount > MAX_CHUNK) multiChunk++;
    }
    sameAs(s, model);
  }), { seed, numRuns: 120 });
  assert.ok(multiChunk > 0, 'searches ran on sets of more intervals than one chunk holds');
  assert.ok(rejectedSearches > 0, 'some searches find members but none acceptable');
});

test('avoidBuggyIPs layout: a full /8 of .255/.0 pairs is searched once, then only where addresses come back', () => {
  const base = 10n << 24n;
  const pairs = Array.from({ length: 65536 }, (_, k): [bigint, bigint] => [base + BigInt(k) * 256n - 1n, base + BigInt(k) * 256n]);
  const s = new IntervalSet(pairs);
  let calls = 0;
  const nonBuggy: Adjust = (lo, hi) => {
    calls++;
    for (let x = lo; x <= hi; x++) { const b = x & 0xffn; if (b !== 0n && b !== 255n) return x; }
    return undefined;
  };
  assert.equal(s.first(nonBuggy), undefined);
  assert.equal(calls, 65536, 'the first search looks at every interval once');
  calls = 0;
  assert.equal(s.first(nonBuggy), undefined);
  assert.equal(calls, 0, 'a repeated failing search calls the rule no more');
  const x = base + 40000n * 256n + 7n;
  s.add(x);
  assert.equal(s.first(nonBuggy), x);
  assert.equal(calls, 1, 'only the interval an add created is looked at');
  s.delete(x);
  calls = 0;
  assert.equal(s.first(nonBuggy), undefined);
  assert.equal(calls, 0, 'taking addresses never makes the set forget a rejection');
  // a buggy address given back (another pool had handed it out) is looked at, and nothing else
  s.add(base + 40000n * 256n + 1n);
  s.delete(base + 40000n * 256n + 1n);
  s.add(base + 12345n * 256n + 255n - 256n); // already a member: no change
  s.add(base + 12345n * 256n + 1n);
  assert.equal(s.first(nonBuggy), base + 12345n * 256n + 1n);
  assert.equal(calls, 1, 'the merged interval alone is looked at');
});

test('chunks that split, merge and empty below where the last search stopped are still searched', () => {
  // every 8th address (1,000 intervals, 16 chunks), all rejected: the search memo covers the whole set.
  // Ops then crowd one window so that chunks below the resume point split (8k+2, 8k+4, 8k+6 are new
  // intervals), merge (8k+3 joins two) and empty, with acceptable 8k+5 appearing and being taken.
  const { ok, adjust } = residueRule(8, [0, 1, 2, 3, 4, 6, 7]);
  const op = fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 7 }));
  let splits = 0;
  // the window straddles two chunks (each chunk starts as 64 consecutive k), so both split and touch
  const window = fc.tuple(fc.integer({ min: 0, max: 13 }), fc.integer({ min: 16, max: 48 })).map(([c, off]) => 64 * c + off);
  fc.assert(fc.property(window, fc.array(op, { minLength: 200, maxLength: 800, size: 'max' }), (window, ops) => {
    const s = new IntervalSet(Array.from({ length: 1000 }, (_, k): [bigint, bigint] => [BigInt(8 * k), BigInt(8 * k)]));
    const model = new Naive(8000);
    for (let k = 0; k < 1000; k++) model.add(8 * k);
    assert.equal(s.first(adjust), undefined);
    for (const [kind, dk, r] of ops) {
      const base = 8 * (window + dk);
      const before = s.chunkCount;
      const x = kind <= 2 ? base + 2 + 2 * (r % 3) : kind === 3 ? base + 3 : kind === 4 ? base + 5 : base + r;
      if (kind <= 4) assert.equal(s.add(BigInt(x)), model.add(x), `add ${x}`);
      else assert.equal(s.delete(BigInt(x)), model.delete(x), `delete ${x}`);
      if (s.chunkCount > before) splits++;
      const want = model.first(ok);
      assert.equal(s.first(adjust), want);
      if (want !== undefined && r % 2 === 0) { s.delete(want); model.delete(Number(want)); }
    }
    sameAs(s, model);
  }), { seed, numRuns: 200 });
  assert.ok(splits > 0, 'chunks split');
});
