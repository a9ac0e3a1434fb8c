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

function must(ok: boolean, what: string): void {
  if (!ok) throw new Error(`benchmark invariant failed: ${what}`);
}

/** Runs the allocator benchmarks and returns their numbers. */
export function allocatorBench(): Record<string, number> {
  // warm up the JIT
  { const a = fresh(['192.0.2.0/24']); for (let i = 0; i < 250; i++) a.assign(req(`w${i}`)); }

  const n = 10_000;
  const empty = fresh(['198.18.0.0/16']);
  const emptyNs = time(() => { for (let i = 0; i < n; i++) must(empty.assign(req(`s${i}`)).status === 'ok', 'empty /16 alloc'); }) / n;

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
  const fullNs = time(() => { for (let i = 0; i < holes.length; i++) must(full.assign(req(`g${i}`)).status === 'ok', '99% full alloc'); }) / holes.length;

  const big = fresh(['198.18.0.0/15']);
  const total100kMs = time(() => { for (let i = 0; i < 100_000; i++) big.assign(req(`b${i}`)); }) / 1e6;
  must(big.serviceCount === 100_000, '100k allocated');

  const v6 = fresh(['2001:db8::/64']);
  const v6Ns = time(() => { for (let i = 0; i < n; i++) must(v6.assign(req(`v${i}`, ['IPv6'])).status === 'ok', '/64 alloc'); }) / n;

  // re-deciding an allocated Service (every resync, every restart) must be cheap too
  const unchangedNs = time(() => { for (let i = 0; i < n; i++) empty.assign(req(`s${i}`)); }) / n;
  return {
    alloc_ns_empty_slash16: Math.round(emptyNs),
    alloc_ns_99pct_full_slash16_fragmented: Math.round(fullNs),
    alloc_100k_total_ms: Math.round(total100kMs),
    alloc_ns_slash64: Math.round(v6Ns),
    reassign_unchanged_ns: Math.round(unchangedNs),
  };
}
