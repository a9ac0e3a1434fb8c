/**
 * Allocator micro-benchmarks: pure code, no I/O, no network (the /16 and /15 pools are in-memory data from
 * 198.18.0.0/15, the range RFC 2544 sets aside for benchmarks; the /12 is 172.16.0.0/12, the only /12 of
 * private space, also never put on a wire). Times are the process's CPU time, not wall-clock: on a shared
 * machine wall-clock also bills other processes' time slices (the medians swung by 3x between runs). Before
 * each round the garbage of the set-up is collected and the GC helper threads are let finish sweeping it, so
 * that neither is billed to the round; garbage the timed loop itself makes is.
 */
import { Allocator, type AllocationRequest } from '../src/lb/allocator.ts';
import { IntervalSet } from '../src/lb/intervalset.ts';
import { poolFromObject } from '../src/lb/pool.ts';
import { cpuNs, settle } from './cpu.ts';

const req = (key: string, families: ['IPv4'] | ['IPv6'] = ['IPv4']): AllocationRequest => ({
  key, namespace: 'bench', serviceLabels: {}, namespaceLabels: {}, families, policy: 'SingleStack',
  requestedIPs: [], pool: undefined, sharingKey: undefined, ports: [{ port: 80, protocol: 'TCP' }], backendKey: '',
});

function fresh(addresses: string[], avoidBuggyIPs = false): Allocator {
  const a = new Allocator();
  a.setPools([poolFromObject({ metadata: { name: 'p' }, spec: { addresses, avoidBuggyIPs } })]);
  return a;
}


/** CPU nanoseconds spent while running fn (time blocks of work, not single calls). */
function time(fn: () => void): number {
  const t = cpuNs();
  fn();
  return cpuNs() - t;
}


/** Median over rounds of the ns per operation of `round` (which sets up its own state and returns [ns, ops]). */
function median(rounds: number, round: () => [number, number]): number {
  const xs: number[] = [];
  for (let i = 0; i < rounds; i++) { settle(); const [ns, ops] = round(); xs.push(ns / ops); }
  xs.sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)] ?? NaN;
}

function must(ok: boolean, what: string): void {
  if (!ok) throw new Error(`benchmark invariant failed: ${what}`);
}

/** Deterministic pseudo-random integers in [0, n) (an LCG: the same holes on every run). */
function lcg(seed: number): (n: number) => number {
  let s = seed;
  return (n) => { s = (s * 1103515245 + 12345) % 2147483648; return s % n; };
}

/**
 * A /16 filled to 100% (of what it can hand out), then 1% freed at random: single-address holes, the
 * worst fragmentation. Returns the median ns per allocation refilling the holes.
 */
function fragmentedFullSlash16(avoidBuggyIPs: boolean): number {
  const full = fresh(['198.18.0.0/16'], avoidBuggyIPs);
  const cap = avoidBuggyIPs ? 65536 - 512 : 65536;
  for (let i = 0; i < cap; i++) must(full.assign(req(`f${i}`)).status === 'ok', 'fill /16');
  must(full.assign(req('over')).status === 'fail', 'the /16 is full');
  const holes = new Set<number>();
  const rnd = lcg(42);
  while (holes.size < Math.floor(cap / 100)) holes.add(rnd(cap));
  for (const k of holes) full.release(`f${k}`);
  const fill = [...holes].map((_, i) => req(`g${i}`));
  return median(11, () => {
    for (const r of fill) full.release(r.key);
    return [time(() => { for (const r of fill) must(full.assign(r).status === 'ok', '99% full alloc'); }), fill.length];
  });
}

/** 150k Services in a /12, then the median ns per allocation of the next 2,000 (released between rounds). */
function at150kInSlash12(avoidBuggyIPs: boolean): number {
  const a = fresh(['172.16.0.0/12'], avoidBuggyIPs);
  for (let i = 0; i < 150_000; i++) a.assign(req(`h${i}`));
  must(a.serviceCount === 150_000, '150k allocated');
  const more = Array.from({ length: 2000 }, (_, i) => req(`m${i}`));
  return median(7, () => {
    for (const r of more) a.release(r.key);
    return [time(() => { for (const r of more) must(a.assign(r).status === 'ok', '150k /12 alloc'); }), more.length];
  });
}

/**
 * A full pool under avoidBuggyIPs, as the controller drives it: one Service is deleted, a waiting one takes
 * its address, and the rest of the waiting Services are retried and fail. Median ns per failing attempt.
 */
function failingOnFullSlash16Avoid(): number {
  const a = fresh(['198.18.0.0/16'], true);
  for (let i = 0; i < 65536 - 512; i++) a.assign(req(`f${i}`));
  const rnd = lcg(7);
  const waiting = Array.from({ length: 50 }, (_, i) => req(`w${i}`));
  let next = 0;
  return median(11, () => {
    let ns = 0;
    for (let round = 0; round < 20; round++) {
      const victim = `f${rnd(65536 - 512)}`;
      if (a.release(victim).length === 0) continue;
      must(a.assign(req(`r${next++}`)).status === 'ok', 'a freed address is taken');
      ns += time(() => { for (const r of waiting) must(a.assign(r).status === 'fail', 'full pool fails'); });
    }
    return [ns, 20 * waiting.length];
  });
}

/**
 * The free set a full /8 leaves under avoidBuggyIPs (65,536 two-address .255/.0 intervals), driven at the
 * interval-set level as the controller drives a full pool: an address low in the set is given back, found
 * and taken again, then the search for an assignable address fails. Median ns per such cycle (one add, one
 * delete, two searches); before the search memo, each failing search walked all 65,536 intervals.
 */
function searchCycleFullSlash8Avoid(): number {
  const base = 10n << 24n;
  const s = new IntervalSet(Array.from({ length: 65536 }, (_, k) => [base + BigInt(k) * 256n - 1n, base + BigInt(k) * 256n] as const));
  const nonBuggy = (lo: bigint, hi: bigint): bigint | undefined => {
    for (let x = lo; x <= hi; x++) { const b = x & 0xffn; if (b !== 0n && b !== 255n) return x; }
    return undefined;
  };
  must(s.first(nonBuggy) === undefined, 'nothing assignable in a full /8');
  const rnd = lcg(9);
  const xs: bigint[] = [];
  while (xs.length < 200) {
    const x = base + BigInt(rnd(1 << 24));
    const b = x & 0xffn;
    if (b !== 0n && b !== 255n) xs.push(x);
  }
  return median(11, () => [time(() => {
    for (const x of xs) {
      s.add(x);
      must(s.first(nonBuggy) === x, 'the given-back address is found');
      s.delete(x);
      must(s.first(nonBuggy) === undefined, 'full /8 search fails');
    }
  }), xs.length]);
}

/** Runs the allocator benchmarks and returns their numbers. */
export function allocatorBench(): Record<string, number> {
  // warm up the JIT
  { const a = fresh(['192.0.2.0/24']); for (let i = 0; i < 250; i++) a.assign(req(`w${i}`)); }

  const n = 10_000;
  const reqs = Array.from({ length: n }, (_, i) => req(`s${i}`));
  const v6reqs = Array.from({ length: n }, (_, i) => req(`v${i}`, ['IPv6']));
  let empty = fresh(['198.18.0.0/16']);
  const emptyNs = median(5, () => {
    empty = fresh(['198.18.0.0/16']);
    return [time(() => { for (const r of reqs) must(empty.assign(r).status === 'ok', 'empty /16 alloc'); }), n];
  });

  const fullNs = fragmentedFullSlash16(false);
  const fullAvoidNs = fragmentedFullSlash16(true);

  const big = fresh(['198.18.0.0/15']);
  settle();
  const total100kMs = time(() => { for (let i = 0; i < 100_000; i++) big.assign(req(`b${i}`)); }) / 1e6;
  must(big.serviceCount === 100_000, '100k allocated');

  const v6Ns = median(5, () => {
    const v6 = fresh(['2001:db8::/64']);
    return [time(() => { for (const r of v6reqs) must(v6.assign(r).status === 'ok', '/64 alloc'); }), n];
  });

  // re-deciding an allocated Service (every resync, every restart) must be cheap too
  const unchangedNs = median(5, () => [time(() => { for (const r of reqs) empty.assign(r); }), n]);

  const at150kNs = at150kInSlash12(false);
  const at150kAvoidNs = at150kInSlash12(true);
  const failFullAvoidNs = failingOnFullSlash16Avoid();
  const cycleSlash8AvoidNs = searchCycleFullSlash8Avoid();
  return {
    alloc_ns_empty_slash16: Math.round(emptyNs),
    alloc_ns_99pct_full_slash16_fragmented: Math.round(fullNs),
    alloc_ns_99pct_full_slash16_fragmented_avoid_buggy: Math.round(fullAvoidNs),
    alloc_ns_at_150k_slash12: Math.round(at150kNs),
    alloc_ns_at_150k_slash12_avoid_buggy: Math.round(at150kAvoidNs),
    alloc_fail_ns_full_slash16_avoid_buggy: Math.round(failFullAvoidNs),
    search_cycle_ns_full_slash8_avoid_buggy: Math.round(cycleSlash8AvoidNs),
    alloc_100k_total_ms: Math.round(total100kMs),
    alloc_ns_slash64: Math.round(v6Ns),
    reassign_unchanged_ns: Math.round(unchangedNs),
  };
}
