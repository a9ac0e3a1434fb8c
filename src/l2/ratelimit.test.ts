import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { FakeClock } from '../clock.ts';
import { DEFAULT_REPLY_LIMITS, ReplyLimiter, TokenBuckets, checkReplyLimits, type ReplyLimits } from './ratelimit.ts';

const limits = (askerRate: number, askerBurst: number, targetRate: number, targetBurst: number, maxTracked = 100): ReplyLimits => ({
  perAsker: { perSecond: askerRate, burst: askerBurst },
  perTarget: { perSecond: targetRate, burst: targetBurst },
  maxTracked,
});

/** Admits `n` requests at the current instant and returns how many were allowed. */
function burst(l: ReplyLimiter, asker: string, target: string, n: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (l.admit(asker, target) === 'ok') ok++;
  return ok;
}

describe('TokenBuckets', () => {
  test('starts full, empties, refills at the rate, never above the burst', () => {
    const clock = new FakeClock();
    const b = new TokenBuckets({ perSecond: 4, burst: 3 }, 10, clock);
    for (let i = 0; i < 3; i++) { assert.ok((b.bucket('k').tokens >= 1)); b.bucket('k').tokens -= 1; }
    assert.equal((b.bucket('k').tokens >= 1), false, 'burst used up');
    clock.advance(249);
    assert.equal((b.bucket('k').tokens >= 1), false, 'not yet a whole token (4/s = one per 250 ms)');
    clock.advance(1);
    assert.ok((b.bucket('k').tokens >= 1));
    b.bucket('k').tokens -= 1;
    assert.equal((b.bucket('k').tokens >= 1), false);
    clock.advance(3_600_000);
    let n = 0;
    while ((b.bucket('k').tokens >= 1)) { b.bucket('k').tokens -= 1; n++; }
    assert.equal(n, 3, 'an hour idle refills to the burst, not beyond');
  });

  test('a clock that goes backwards refills nothing and breaks nothing', () => {
    let t = 10_000;
    const b = new TokenBuckets({ perSecond: 1, burst: 1 }, 10, { now: () => t });
    b.bucket('k').tokens -= 1;
    t = 0;
    assert.equal((b.bucket('k').tokens >= 1), false);
    t = 1000;
    assert.equal((b.bucket('k').tokens >= 1), true, 'refills from the last reading');
  });

  test('bounded: the least recently used bucket is evicted, a touched one survives', () => {
    const clock = new FakeClock();
    const b = new TokenBuckets({ perSecond: 1, burst: 1 }, 3, clock);
    for (const k of ['a', 'b', 'c']) b.bucket(k).tokens -= 1;
    assert.equal((b.bucket('a').tokens >= 1), false, 'touching a moves it to the recent end');
    b.bucket('d').tokens -= 1; // evicts b, the least recently used
    assert.equal(b.size, 3);
    assert.equal((b.bucket('a').tokens >= 1), false, 'a kept its empty bucket');
    assert.equal((b.bucket('c').tokens >= 1), false, 'c kept its empty bucket');
    assert.equal((b.bucket('b').tokens >= 1), true, 'b was evicted and starts full again');
  });
});

describe('ReplyLimiter', () => {
  test('limits one asker per target, and other askers are unaffected', () => {
    const clock = new FakeClock();
    const l = new ReplyLimiter(limits(5, 10, 1000, 1000), clock);
    assert.equal(burst(l, 'flooder', '192.0.2.10', 500), 10, 'the burst, then nothing');
    assert.equal(l.admit('flooder', '192.0.2.10'), 'rate-limited-asker');
    assert.equal(burst(l, 'neighbour', '192.0.2.10', 3), 3, 'another asker resolves the same target');
    assert.equal(burst(l, 'flooder', '192.0.2.11', 3), 3, 'the flooder asking about another target has its own bucket');
    clock.advance(1000);
    assert.equal(burst(l, 'flooder', '192.0.2.10', 500), 5, 'one second refills 5');
  });

  test('limits one target across askers (spoofed senders), without charging refused askers to it', () => {
    const clock = new FakeClock();
    const l = new ReplyLimiter(limits(5, 2, 10, 20), clock);
    let ok = 0;
    for (let i = 0; i < 100; i++) ok += burst(l, `spoofed-${i}`, '192.0.2.10', 1);
    assert.equal(ok, 20, 'the target burst');
    assert.equal(l.admit('spoofed-999', '192.0.2.10'), 'rate-limited-target');
    assert.equal(l.admit('spoofed-999', '192.0.2.11'), 'ok', 'other targets unaffected');
    const l2 = new ReplyLimiter(limits(1, 1, 1, 2), clock);
    assert.equal(burst(l2, 'flooder', 't', 50), 1);
    assert.equal(l2.admit('other', 't'), 'ok', 'the flooder\'s refused requests took nothing from the target');
  });

  test('the defaults never limit normal neighbour resolution', () => {
    const clock = new FakeClock();
    const l = new ReplyLimiter(DEFAULT_REPLY_LIMITS, clock);
    // a Linux neighbour in PROBE state: 3 unicast + 3 broadcast solicitations, 1 s apart, for each of 200 clients
    // and after a failover all 200 at the same instant; plus arping at its default of one per second
    for (let s = 0; s < 60; s++) {
      for (let c = 0; c < 200; c++) assert.equal(l.admit(`client-${c}`, '192.0.2.10'), 'ok');
      assert.equal(l.admit('arping', '192.0.2.10'), 'ok');
      clock.advance(1000);
    }
    // one host resolving 3 addresses back to back (e.g. kernel + arping + ndisc6 at once)
    assert.equal(burst(l, 'busy', '192.0.2.10', 3), 3);
  });

  test('invalid limits are refused at construction', () => {
    assert.throws(() => new ReplyLimiter(limits(0, 10, 1, 1), new FakeClock()), /perAsker.perSecond/);
    assert.throws(() => new ReplyLimiter(limits(1, 0.5, 1, 1), new FakeClock()), /perAsker.burst/);
    assert.throws(() => { checkReplyLimits(limits(1, 1, Number.POSITIVE_INFINITY, 1)); }, /perTarget.perSecond/);
    assert.throws(() => { checkReplyLimits(limits(1, 1, 1, 1, 0)); }, /maxTracked/);
    checkReplyLimits(DEFAULT_REPLY_LIMITS);
  });

  test('property: over any request sequence, replies per (asker, target) and per target stay within burst + rate × time', () => {
    const seed = Date.now() ^ (process.pid << 8);
    process.stdout.write(`ratelimit property seed ${seed}\n`);
    const step = fc.record({ asker: fc.integer({ min: 0, max: 4 }), target: fc.integer({ min: 0, max: 2 }), dt: fc.integer({ min: 0, max: 400 }) });
    // 5 askers x 3 targets = 15 pair buckets: with maxTracked >= 15 nothing is evicted and the bounds are exact;
    // smaller tables evict (a bucket comes back full), and then only their size is bounded
    fc.assert(fc.property(fc.array(step, { maxLength: 300 }), fc.constantFrom(2, 3, 8, 15, 64), (steps, maxTracked) => {
      const clock = new FakeClock();
      const lim = limits(4, 3, 10, 6, maxTracked);
      const l = new ReplyLimiter(lim, clock);
      const byPair = new Map<string, number>();
      const byTarget = new Map<string, number>();
      for (const s of steps) {
        clock.advance(s.dt);
        if (l.admit(`a${s.asker}`, `t${s.target}`) !== 'ok') continue;
        byPair.set(`${s.asker}>${s.target}`, (byPair.get(`${s.asker}>${s.target}`) ?? 0) + 1);
        byTarget.set(String(s.target), (byTarget.get(String(s.target)) ?? 0) + 1);
      }
      const secs = clock.now() / 1000;
      if (maxTracked >= 15) for (const n of byPair.values()) assert.ok(n <= lim.perAsker.burst + lim.perAsker.perSecond * secs + 1e-9);
      if (maxTracked >= 3) for (const n of byTarget.values()) assert.ok(n <= lim.perTarget.burst + lim.perTarget.perSecond * secs + 1e-9);
      assert.ok(l.tracked.askers <= maxTracked && l.tracked.targets <= maxTracked);
    }), { numRuns: 300, seed });
  });
});
