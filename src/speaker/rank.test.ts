import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { compareForIP, duelWinner, hashText, mixScore, outranks, score } from './rank.ts';

/** Seed for the property tests: printed, and taken from FC_SEED to re-run a failure. */
const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
console.log(`rank properties: seed ${seed} (re-run with FC_SEED=${seed})`);

test('scores are pinned: old and new speakers rank alike during a rolling upgrade', () => {
  assert.equal(hashText(''), 2872998923);
  assert.equal(hashText('node-a'), 1002562564);
  assert.equal(score('node-a', '192.0.2.1'), 1455469738);
  assert.equal(score('node-b', '192.0.2.1'), 830319757);
  assert.equal(score('node-a', '2001:db8::1'), 3162903429);
});

test('score is an unsigned 32-bit integer and the mix of the precomputed hashes', () => {
  fc.assert(fc.property(fc.string(), fc.ipV4(), (node, ip) => {
    const s = score(node, ip);
    assert.ok(Number.isInteger(s) && s >= 0 && s < 2 ** 32);
    assert.equal(s, mixScore(hashText(node), hashText(ip)));
  }), { seed, numRuns: 500 });
});

test('ownership spreads evenly: 10k IPs over 10 nodes, each node within 15% of its share', () => {
  const nodes = Array.from({ length: 10 }, (_, i) => `node-${i}`);
  const owned = new Map<string, number>(nodes.map((n) => [n, 0]));
  for (let i = 0; i < 10_000; i++) {
    const ip = `2001:db8::${i.toString(16)}`;
    const best = [...nodes].sort(compareForIP(ip))[0]!;
    owned.set(best, (owned.get(best) ?? 0) + 1);
  }
  for (const [n, c] of owned) assert.ok(c > 850 && c < 1150, `${n} owns ${c}`);
});

test('the ranking of nodes differs between IPs (no node is first everywhere)', () => {
  const nodes = ['a', 'b', 'c', 'd'];
  const firsts = new Set<string>();
  for (let i = 0; i < 50; i++) firsts.add([...nodes].sort(compareForIP(`192.0.2.${i}`))[0]!);
  assert.equal(firsts.size, 4);
});

test('equal scores go to the name that sorts first by code units, on both sides of a duel', () => {
  assert.equal(outranks(7, 'node-a', 7, 'node-b'), true);
  assert.equal(outranks(7, 'node-b', 7, 'node-a'), false);
  assert.equal(outranks(8, 'node-b', 7, 'node-a'), true);
  assert.equal(outranks(7, 'Z', 7, 'a'), true, 'code-unit order, not locale order');
});

test('duelWinner: both sides agree, the winner is the higher score, and it matches compareForIP', () => {
  fc.assert(fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), fc.ipV4(), (a, b, ip) => {
    fc.pre(a !== b);
    const w = duelWinner(ip, a, b);
    assert.equal(duelWinner(ip, b, a), w);
    const other = w === a ? b : a;
    assert.ok(score(w, ip) >= score(other, ip));
    assert.equal([a, b].sort(compareForIP(ip))[0], w);
    assert.equal(compareForIP(ip)(a, a), 0);
  }), { seed, numRuns: 500 });
});

test('compareForIP is a total order consistent with scores (sorting any permutation gives one result)', () => {
  fc.assert(fc.property(fc.uniqueArray(fc.string(), { minLength: 2, maxLength: 12 }), fc.ipV6(), (names, ip) => {
    const sorted = [...names].sort(compareForIP(ip));
    assert.deepEqual([...names].reverse().sort(compareForIP(ip)), sorted);
    for (let i = 1; i < sorted.length; i++) assert.ok(score(sorted[i - 1]!, ip) >= score(sorted[i]!, ip));
  }), { seed, numRuns: 300 });
});
