/**
 * Allocator micro-benchmarks: pure code, no I/O, no network (the /16 and /15 pools are in-memory data from
 * 198.18.0.0/15, the range RFC 2544 sets aside for benchmarks). Times are wall-clock on this machine.
 */
import { Allocator, type AllocationRequest } from '../src/lb/allocator.ts';
import { poolFromObject } from '../src/lb/pool.ts';

const req = (key: string, families: ['IPv4'] | ['IPv6'] = ['IPv4']): AllocationRequest => ({
  key, namespace: 'bench', serviceLabels: {}, namespaceLabels: {}, families, policy: 'SingleStack',
  requestedIPs: [], pool: undefined, sharingKey: undefined, ports: [{ port: 80, protocol: 'TCP' }], backendKey: '',
});

function fresh(addresses: string[]): Allocator {
  const a = new Allocator();
  a.setPools([poolFromObject({ metadata: { name: 'p' }, spec: { addresses } })]);
  return a;
}

function time(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t);
}

/** Median over rounds of the ns per operation of `round` (which sets up its own state and returns [ns, ops]). */
function median(rounds: number, round: () => [number, number]): number {
  const xs: number[] = [];
  const gc = (globalThis as { gc?: () => void }).gc; // with --expose-gc: setup garbage is not billed to the timed loop
  for (let i = 0; i < rounds; i++) { gc?.(); const [ns, ops] = round(); xs.push(ns / ops); }
  xs.sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)] ?? NaN;
}

function must(ok: boolean, what: string): void {
  if (!ok) throw new Error(`benchmark invariant failed: ${what}`);
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

  // a /16 filled to 100%, then 1% freed at random: 655 single-address holes, the worst fragmentation
  const full = fresh(['198.18.0.0/16']);
  for (let i = 0; i < 65536; i++) full.assign(req(`f${i}`));
  const holes: number[] = [];
  let seed = 42;
  while (holes.length < 655) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const k = seed % 65536;
    if (!holes.includes(k)) holes.push(k);
  }
  for (const k of holes) full.release(`f${k}`);
  const fill = holes.map((_, i) => req(`g${i}`));
  const fullNs = median(11, () => {
    for (const r of fill) full.release(r.key);
    return [time(() => { for (const r of fill) must(full.assign(r).status === 'ok', '99% full alloc'); }), fill.length];
  });

  const big = fresh(['198.18.0.0/15']);
  const total100kMs = time(() => { for (let i = 0; i < 100_000; i++) big.assign(req(`b${i}`)); }) / 1e6;
  must(big.serviceCount === 100_000, '100k allocated');

  const v6Ns = median(5, () => {
    const v6 = fresh(['2001:db8::/64']);
    return [time(() => { for (const r of v6reqs) must(v6.assign(r).status === 'ok', '/64 alloc'); }), n];
  });

  // re-deciding an allocated Service (every resync, every restart) must be cheap too
  const unchangedNs = median(5, () => [time(() => { for (const r of reqs) empty.assign(r); }), n]);
  return {
    alloc_ns_empty_slash16: Math.round(emptyNs),
    alloc_ns_99pct_full_slash16_fragmented: Math.round(fullNs),
    alloc_100k_total_ms: Math.round(total100kMs),
    alloc_ns_slash64: Math.round(v6Ns),
    reassign_unchanged_ns: Math.round(unchangedNs),
  };
}
