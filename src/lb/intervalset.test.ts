import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { IntervalSet } from './intervalset.ts';

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
