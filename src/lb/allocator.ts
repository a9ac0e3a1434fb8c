/**
 * The address allocator: pure, synchronous, no Kubernetes and no clock. It holds which Service owns
 * which IP, a free-interval set per pool and family, and the sharing rules. Every call returns a
 * typed decision with a reason the controller can put into an event verbatim.
 */
import { ErrorCodes, type ErrorCode } from '../api/errors.ts';
import { IntervalSet } from './intervalset.ts';
import { formatIP, isBuggyIP, type Addr, type Family } from '../net/ip.ts';
import { comparePools, poolAccepts, poolAllows, poolCapacity, poolContains, poolCounts, poolHasFamily, poolRank, type Pool, type Requester } from './pool.ts';

/** One port a Service exposes; two Services may share an IP only if these do not overlap. */
export interface PortSpec {
  readonly port: number;
  readonly protocol: string;
}

/** `spec.ipFamilyPolicy`. */
export type IPFamilyPolicy = 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';

/** Everything the allocator needs to know about one Service. */
export interface AllocationRequest extends Requester {
  /** `namespace/name`. */
  readonly key: string;
  /** Families in preference order: the first is the primary family. */
  readonly families: readonly Family[];
  readonly policy: IPFamilyPolicy;
  /** Fixed addresses asked for by annotation or `spec.loadBalancerIP`, at most one per family. */
  readonly requestedIPs: readonly Addr[];
  /** Pool asked for by name. */
  readonly pool: string | undefined;
  readonly sharingKey: string | undefined;
  readonly ports: readonly PortSpec[];
  /** Empty unless `externalTrafficPolicy: Local`; then the canonical pod selector (sharers must match). */
  readonly backendKey: string;
}

/** One address held by a Service. */
export interface Assigned {
  readonly ip: string;
  readonly family: Family;
  readonly pool: string;
}

/** Outcome of {@link Allocator.assign}. */
export type AllocationResult =
  | { readonly status: 'ok'; readonly ips: readonly Assigned[]; readonly changed: boolean; readonly why?: string }
  | { readonly status: 'fail'; readonly code: ErrorCode; readonly reason: string; readonly kept: readonly Assigned[] };

type Fail = { readonly status: 'fail'; readonly code: ErrorCode; readonly reason: string };
type Pick = { readonly status: 'ok'; readonly addr: Addr; readonly pool: Pool } | Fail;

interface Sharer {
  readonly ports: readonly PortSpec[];
  readonly backendKey: string;
}

interface Holder {
  readonly addr: Addr;
  sharingKey: string | undefined;
  readonly services: Map<string, Sharer>;
}

interface Held {
  readonly addr: Addr;
  readonly ip: string;
  pool: string;
}

interface PoolState {
  readonly pool: Pool;
  readonly free: Record<Family, IntervalSet>;
  readonly assigned: Record<Family, bigint>;
}

const fail = (code: ErrorCode, reason: string): Fail => ({ status: 'fail', code, reason });

/**
 * The families a Service gets addresses for, primary first: only those in its `spec.ipFamilies` (kube-proxy
 * serves no other), one for SingleStack. A single-stack cluster gives PreferDualStack Services one family.
 */
function wantedFamilies(req: AllocationRequest): Family[] {
  const out: Family[] = [];
  for (const f of req.families) if (!out.includes(f)) out.push(f);
  if (out.length === 0) out.push('IPv4');
  return req.policy === 'SingleStack' ? out.slice(0, 1) : out.slice(0, 2);
}

/** Skips .0 and .255 inside one free interval; at most two steps, so still O(1) per interval. */
function firstNonBuggy(lo: bigint, hi: bigint): bigint | undefined {
  let x = lo;
  for (let i = 0; i < 3 && x <= hi; i++, x++) {
    const last = x & 0xffn;
    if (last !== 0n && last !== 255n) return x;
  }
  return undefined;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** Port lists that collide: same port and protocol. */
function portClash(a: readonly PortSpec[], b: readonly PortSpec[]): PortSpec[] {
  return a.filter((p) => b.some((q) => q.port === p.port && q.protocol === p.protocol));
}

/** See the module comment. One instance per controller; state can always be rebuilt from the cluster. */
export class Allocator {
  private pools = new Map<string, PoolState>();
  private sortedPools: PoolState[] = [];
  private readonly used = new Map<string, Holder>();
  private readonly services = new Map<string, Held[]>();
  private readonly byShareKey = new Map<string, Set<string>>();

  /**
   * Replaces the pool configuration. Free sets are rebuilt from the ranges minus the addresses in use,
   * so assignments survive; Services whose address left every pool are found by the next `assign`.
   */
  setPools(pools: readonly Pool[]): void {
    const next = new Map<string, PoolState>();
    for (const pool of pools) {
      const st: PoolState = {
        pool,
        free: {
          IPv4: new IntervalSet(pool.ranges.filter((r) => r.family === 'IPv4').map((r) => [r.lo, r.hi] as const)),
          IPv6: new IntervalSet(pool.ranges.filter((r) => r.family === 'IPv6').map((r) => [r.lo, r.hi] as const)),
        },
        assigned: { IPv4: 0n, IPv6: 0n },
      };
      next.set(pool.name, st);
    }
    for (const h of this.used.values()) {
      for (const st of next.values()) {
        if (st.free[h.addr.family].delete(h.addr.value) && poolCounts(st.pool, h.addr)) st.assigned[h.addr.family] += 1n;
      }
    }
    this.pools = next;
    this.sortedPools = [...next.values()].sort((a, b) => comparePools(a.pool, b.pool));
    for (const held of this.services.values()) {
      for (const h of held) {
        const st = this.pools.get(h.pool);
        if (st && poolContains(st.pool, h.addr)) continue;
        h.pool = this.sortedPools.find((st) => poolContains(st.pool, h.addr))?.pool.name ?? '';
      }
    }
  }

  /** Names of the configured pools. */
  poolNames(): string[] {
    return [...this.pools.keys()];
  }

  /** Assigned and available counts for a pool (available excludes .0/.255 under avoidBuggyIPs). */
  poolUsage(name: string): Record<Family, { assigned: bigint; available: bigint }> | undefined {
    const st = this.pools.get(name);
    if (!st) return undefined;
    const usage = (f: Family): { assigned: bigint; available: bigint } => {
      const cap = poolCapacity(st.pool, f);
      const assigned = st.assigned[f];
      return { assigned, available: cap > assigned ? cap - assigned : 0n };
    };
    return { IPv4: usage('IPv4'), IPv6: usage('IPv6') };
  }

  /** The addresses a Service currently holds. */
  assignedTo(key: string): Assigned[] {
    return (this.services.get(key) ?? []).map((h) => ({ ip: h.ip, family: h.addr.family, pool: h.pool }));
  }

  /** Which Services hold an IP (more than one only when shared). */
  holdersOf(ip: string): string[] {
    return [...(this.used.get(ip)?.services.keys() ?? [])];
  }

  /** Keys of the Services holding at least one address (the controller's resync after a pause). */
  heldKeys(): string[] {
    return [...this.services.keys()];
  }

  /** Number of Services holding at least one address. */
  get serviceCount(): number {
    return this.services.size;
  }

  /**
   * Decides the addresses of one Service. A Service that already holds valid addresses keeps them
   * (changed: false). `hint` are addresses from the Service's status, used when the allocator has not
   * seen the Service yet (controller restart): they are adopted if they are still valid and free.
   * When a new decision fails, a still-valid old assignment is kept and reported in `kept`.
   */
  assign(req: AllocationRequest, hint: readonly Addr[] = []): AllocationResult {
    let cur = this.services.get(req.key);
    if (!cur && hint.length === 0) {
      // the common case, a new Service: nothing to keep, compare or explain
      const res = this.allocate(req);
      return res.status === 'ok' ? { status: 'ok', ips: res.ips, changed: true } : { ...res, kept: [] };
    }
    const before = cur ? cur.map((h) => h.ip) : hint.map(formatIP);
    let why: string | undefined;
    if (!cur && hint.length > 0) {
      if (this.claim(req, hint)) cur = this.services.get(req.key);
      else why = `previous address ${before.join(', ')} is held by another Service`;
    }
    if (cur) {
      const misfit = this.misfit(req, cur);
      if (misfit === undefined) {
        for (const h of cur) this.used.get(h.ip)?.services.set(req.key, { ports: req.ports, backendKey: req.backendKey });
        this.setShareKey(req.key, cur, req.sharingKey);
        this.addMissingFamily(req, cur);
        return { status: 'ok', ips: this.assignedTo(req.key), changed: !sameSet(this.assignedTo(req.key).map((h) => h.ip), before) };
      }
      why = misfit;
    }
    // only addresses of families the Service still has are worth keeping (kube-proxy serves no other)
    const wanted = wantedFamilies(req);
    const old = (cur ?? []).filter((h) => wanted.includes(h.addr.family)).map((h) => ({ addr: h.addr, pool: h.pool }));
    const oldValid = old.length > 0 && this.stillInPools(req, old);
    this.release(req.key);
    const res = this.allocate(req);
    if (res.status === 'ok') {
      const changed = !sameSet(res.ips.map((a) => a.ip), before);
      return why === undefined ? { status: 'ok', ips: res.ips, changed } : { status: 'ok', ips: res.ips, changed, why };
    }
    if (oldValid) {
      // The new request cannot be met: keep serving on the old addresses rather than dropping traffic,
      // but only where the request as it is now may hold them. An old address shared with Services the
      // request can no longer share with (its key, ports or pods changed) is given up, and the reason says so.
      const problem = old.map((o) => {
        const holder = this.used.get(formatIP(o.addr));
        return holder ? this.shareProblem(req, holder) : undefined;
      }).find((p) => p !== undefined);
      if (problem !== undefined) {
        return { ...res, reason: `${res.reason}; released ${old.map((o) => formatIP(o.addr)).join(', ')}: ${problem.reason}`, kept: [] };
      }
      for (const o of old) this.take(req.key, o.addr, o.pool, this.used.get(formatIP(o.addr))?.sharingKey ?? req.sharingKey, { ports: req.ports, backendKey: req.backendKey });
      return { ...res, kept: this.assignedTo(req.key) };
    }
    return { ...res, kept: [] };
  }

  /**
   * Takes over the addresses a Service's status shows, without allocating anything new: true when they
   * are free (or shareable) and still satisfy the request. The controller's first pass on start-up, so
   * that no Service is moved onto an address another Service still has to be restored to.
   */
  adopt(req: AllocationRequest, hint: readonly Addr[]): boolean {
    if (this.services.has(req.key)) return true;
    if (hint.length === 0 || !this.claim(req, hint)) return false;
    const held = this.services.get(req.key);
    if (held && this.misfit(req, held) === undefined) return true;
    this.release(req.key);
    return false;
  }

  /** Releases every address of a Service; returns what it held. */
  release(key: string): Assigned[] {
    const held = this.services.get(key);
    if (!held) return [];
    const out = this.assignedTo(key);
    for (const h of held) {
      const holder = this.used.get(h.ip);
      if (!holder) continue;
      holder.services.delete(key);
      if (holder.services.size === 0) {
        this.used.delete(h.ip);
        if (holder.sharingKey !== undefined) this.unindexShare(holder.sharingKey, h.ip);
        for (const st of this.sortedPools) {
          if (poolContains(st.pool, h.addr) && st.free[h.addr.family].add(h.addr.value) && poolCounts(st.pool, h.addr)) st.assigned[h.addr.family] -= 1n;
        }
      }
    }
    this.services.delete(key);
    return out;
  }

  /** Allocates from scratch for a Service that holds nothing. All-or-nothing. */
  private allocate(req: AllocationRequest): { status: 'ok'; ips: Assigned[] } | Fail {
    const targets = this.targets(req);
    if ('status' in targets) return targets;
    let taken = 0;
    let firstFailure: Fail | undefined;
    const sharer: Sharer = { ports: req.ports, backendKey: req.backendKey };
    const together = this.pickTogether(req, targets);
    for (const t of targets) {
      const pick = t.fixed ? this.pickFixed(req, t.fixed) : together?.get(t.family) ?? this.pickAuto(req, t.family);
      if (pick.status === 'fail') {
        if (t.required) { this.release(req.key); return pick; }
        firstFailure ??= pick;
        continue;
      }
      this.take(req.key, pick.addr, pick.pool.name, req.sharingKey, sharer);
      taken++;
    }
    if (taken === 0) return firstFailure ?? fail(ErrorCodes.NoPool, 'no address family to allocate');
    return { status: 'ok', ips: this.assignedTo(req.key) };
  }

  /** Which families to fill, with fixed addresses where requested. */
  private targets(req: AllocationRequest): { family: Family; fixed: Addr | undefined; required: boolean }[] | Fail {
    const wanted = wantedFamilies(req);
    const primary = wanted[0] ?? 'IPv4';
    if (req.policy === 'RequireDualStack' && wanted.length < 2) {
      return fail(ErrorCodes.FamilyMismatch, `RequireDualStack but spec.ipFamilies lists only ${primary}`);
    }
    const foreign = req.requestedIPs.filter((a) => !wanted.includes(a.family));
    if (foreign.length > 0) {
      const has = req.policy === 'SingleStack' ? `single-stack ${primary}` : `of family ${wanted.join(' and ')} (spec.ipFamilies)`;
      return fail(ErrorCodes.FamilyMismatch, `requested ${foreign.map(formatIP).join(', ')} but the Service is ${has}`);
    }
    if (req.requestedIPs.length === 0) {
      return wanted.map((family, i) => ({ family, fixed: undefined, required: req.policy !== 'PreferDualStack' || i === 0 }));
    }
    const byFamily = new Map(req.requestedIPs.map((a) => [a.family, a]));
    if (req.policy === 'RequireDualStack' && byFamily.size < 2) {
      return fail(ErrorCodes.FamilyMismatch, 'RequireDualStack needs one requested IP per family (IPv4 and IPv6)');
    }
    return wanted.filter((f) => byFamily.has(f)).map((family) => ({ family, fixed: byFamily.get(family), required: true }));
  }

  /**
   * For a dual-stack auto-assignment: one pool that has a free address of every family, when such a pool
   * ranks as high as the best pool for any single family (so both addresses come from one pool the user
   * configured together, rather than from two single-family pools of the same rank). Undefined when there
   * is no such pool, when a fixed IP or a named pool decides, or when a sharing key may join a sharer.
   */
  private pickTogether(req: AllocationRequest, targets: readonly { family: Family; fixed: Addr | undefined }[]): Map<Family, Pick> | undefined {
    if (targets.length < 2 || targets.some((t) => t.fixed !== undefined) || req.pool !== undefined) return undefined;
    if (req.sharingKey !== undefined && this.byShareKey.has(req.sharingKey)) return undefined;
    let rank: readonly [number, number] | undefined;
    for (const st of this.sortedPools) {
      if (!st.pool.autoAssign || !poolAllows(st.pool, req)) continue;
      const r = poolRank(st.pool);
      if (rank && (r[0] !== rank[0] || r[1] !== rank[1])) break; // only pools of the best usable rank
      const picks = new Map<Family, Pick>();
      for (const t of targets) {
        const v = this.firstFree(st, t.family);
        if (v !== undefined) picks.set(t.family, { status: 'ok', addr: { family: t.family, value: v }, pool: st.pool });
      }
      if (picks.size === targets.length) return picks;
      if (picks.size > 0) rank ??= r;
    }
    return undefined;
  }

  /** The lowest address the pool may hand out in a family, or undefined when it has none free. */
  private firstFree(st: PoolState, family: Family): bigint | undefined {
    return st.free[family].first(st.pool.avoidBuggyIPs && family === 'IPv4' ? firstNonBuggy : undefined);
  }

  /**
   * A PreferDualStack Service that got one family because no pool had the other gains the second address
   * once a pool for it exists, without its first address changing. Failure changes nothing.
   */
  private addMissingFamily(req: AllocationRequest, held: readonly Held[]): void {
    if (req.policy !== 'PreferDualStack' || req.requestedIPs.length > 0 || held.length !== 1) return;
    const missing = wantedFamilies(req).find((f) => !held.some((h) => h.addr.family === f));
    if (missing === undefined) return;
    const pick = this.pickAuto(req, missing);
    if (pick.status === 'ok') this.take(req.key, pick.addr, pick.pool.name, req.sharingKey, { ports: req.ports, backendKey: req.backendKey });
  }

  /** Pools this Service may take from by auto-assignment, in order. */
  private autoPools(req: AllocationRequest, family: Family): PoolState[] | Fail {
    if (req.pool !== undefined) {
      const st = this.pools.get(req.pool);
      if (!st) return fail(ErrorCodes.UnknownPool, `pool "${req.pool}" does not exist`);
      if (!poolAllows(st.pool, req)) return fail(ErrorCodes.NoPool, `pool "${req.pool}" does not allow Services in ${req.key} (serviceAllocation)`);
      if (!poolHasFamily(st.pool, family)) return fail(ErrorCodes.NoPool, `no pool for family ${family}: pool "${req.pool}" has no ${family} addresses`);
      return [st];
    }
    const out = this.sortedPools.filter((st) => st.pool.autoAssign && poolHasFamily(st.pool, family) && poolAllows(st.pool, req));
    if (out.length === 0) return fail(ErrorCodes.NoPool, `no pool for family ${family} that allows ${req.key}`);
    return out;
  }

  private pickAuto(req: AllocationRequest, family: Family): Pick {
    const pools = this.autoPools(req, family);
    if ('status' in pools) return pools;
    if (req.sharingKey !== undefined) {
      for (const ip of this.byShareKey.get(req.sharingKey) ?? []) {
        const holder = this.used.get(ip);
        if (!holder || holder.addr.family !== family) continue;
        const st = pools.find((p) => poolAccepts(p.pool, holder.addr));
        if (st && this.shareProblem(req, holder) === undefined) return { status: 'ok', addr: holder.addr, pool: st.pool };
      }
    }
    for (const st of pools) {
      const v = this.firstFree(st, family);
      if (v !== undefined) return { status: 'ok', addr: { family, value: v }, pool: st.pool };
    }
    return fail(ErrorCodes.PoolExhausted, `pool exhausted: no free ${family} address in ${pools.map((p) => `"${p.pool.name}"`).join(', ')}`);
  }

  private pickFixed(req: AllocationRequest, addr: Addr): Pick {
    const ip = formatIP(addr);
    let st: PoolState | undefined;
    if (req.pool !== undefined) {
      st = this.pools.get(req.pool);
      if (!st) return fail(ErrorCodes.UnknownPool, `pool "${req.pool}" does not exist`);
      if (!poolContains(st.pool, addr)) return fail(ErrorCodes.IpNotInPool, `ip ${ip} is not in pool "${req.pool}"`);
      if (!poolAllows(st.pool, req)) return fail(ErrorCodes.IpNotInPool, `pool "${req.pool}" does not allow Services in ${req.key} (serviceAllocation)`);
    } else {
      st = this.poolFor(req, addr)?.st;
      if (!st) return fail(ErrorCodes.IpNotInPool, `ip ${ip} is not in any allowed pool`);
    }
    if (st.pool.avoidBuggyIPs && isBuggyIP(addr)) return fail(ErrorCodes.IpNotInPool, `ip ${ip} ends in .0 or .255 and pool "${st.pool.name}" has avoidBuggyIPs`);
    const holder = this.used.get(ip);
    if (holder) {
      const problem = this.shareProblem(req, holder);
      if (problem) return problem;
    }
    return { status: 'ok', addr, pool: st.pool };
  }

  /** Why `req` may not join the Services already on `holder`, or undefined if it may. */
  private shareProblem(req: AllocationRequest, holder: Holder): Fail | undefined {
    const others = [...holder.services].filter(([k]) => k !== req.key);
    if (others.length === 0) return undefined;
    const ip = formatIP(holder.addr);
    const names = others.map(([k]) => k).join(', ');
    if (req.sharingKey === undefined || holder.sharingKey !== req.sharingKey) {
      return fail(ErrorCodes.IpInUse, `ip ${ip} in use by ${names}` + (holder.sharingKey !== undefined && req.sharingKey !== undefined ? ' (different sharing key)' : ''));
    }
    for (const [k, s] of others) {
      const clash = portClash(req.ports, s.ports);
      if (clash.length > 0) return fail(ErrorCodes.SharingConflict, `sharing conflict: ports ${clash.map((p) => `${p.port}/${p.protocol}`).join(', ')} of ${ip} already used by ${k}`);
      if (s.backendKey !== req.backendKey) return fail(ErrorCodes.SharingConflict, `sharing conflict: ${ip} is shared with ${k}; with externalTrafficPolicy Local both must select the same pods`);
    }
    return undefined;
  }

  /** Why the held addresses no longer satisfy the request, or undefined if they still do. */
  private misfit(req: AllocationRequest, held: readonly Held[]): string | undefined {
    const fams = new Set(held.map((h) => h.addr.family));
    if (fams.size !== held.length) return 'more than one address per family';
    const wanted = wantedFamilies(req);
    const primary = wanted[0] ?? 'IPv4';
    if (req.policy === 'SingleStack' && (held.length !== 1 || !fams.has(primary))) return `Service is single-stack ${primary}`;
    const foreign = held.find((h) => !wanted.includes(h.addr.family));
    if (foreign) return `${foreign.addr.family} is not in the Service's spec.ipFamilies`;
    if (req.policy === 'RequireDualStack' && held.length !== 2) return 'Service requires dual-stack';
    if (req.requestedIPs.length > 0) {
      const want = new Set(req.requestedIPs.map(formatIP));
      if (want.size !== held.length || held.some((h) => !want.has(h.ip))) return `requested IPs changed to ${[...want].join(', ')}`;
    }
    for (const h of held) {
      if (req.pool !== undefined) {
        const st = this.pools.get(req.pool);
        if (!st || !poolContains(st.pool, h.addr)) return `ip ${h.ip} is not in requested pool "${req.pool}"`;
        if (!poolAllows(st.pool, req)) return `pool "${req.pool}" no longer allows Services in ${req.key} (serviceAllocation)`;
        if (!poolAccepts(st.pool, h.addr)) return `ip ${h.ip} ends in .0 or .255 and pool "${req.pool}" has avoidBuggyIPs`;
      } else {
        const found = this.poolFor(req, h.addr);
        if (!found) return `ip ${h.ip} is no longer in any pool the Service may use`;
        if (!found.accepts) return `ip ${h.ip} ends in .0 or .255 and pool "${found.st.pool.name}" has avoidBuggyIPs`;
      }
      const holder = this.used.get(h.ip);
      if (holder && holder.services.size > 1) {
        if (holder.sharingKey !== req.sharingKey) return `sharing key changed while ${h.ip} is shared`;
        const p = this.shareProblem(req, holder);
        if (p) return p.reason;
      }
    }
    return undefined;
  }

  /** Whether held addresses still lie in a pool the Service may use (worth keeping on failure). */
  private stillInPools(req: AllocationRequest, held: readonly { addr: Addr }[]): boolean {
    return held.every((h) => this.poolFor(req, h.addr)?.accepts === true);
  }

  /**
   * The pool an address of this Service belongs to: the first, in trying order, that may give it to the
   * Service; failing that, the first that contains it but now avoids it as a .0/.255 address (`accepts`
   * false), so callers can say why it no longer fits. Undefined when no pool the Service may use has it.
   */
  private poolFor(req: AllocationRequest, a: Addr): { st: PoolState; accepts: boolean } | undefined {
    let avoiding: PoolState | undefined;
    for (const st of this.sortedPools) {
      if (!poolContains(st.pool, a) || !poolAllows(st.pool, req)) continue;
      if (poolCounts(st.pool, a)) return { st, accepts: true };
      avoiding ??= st;
    }
    return avoiding ? { st: avoiding, accepts: false } : undefined;
  }

  /** Takes the hinted addresses for a Service unseen so far, if none of them conflicts. */
  private claim(req: AllocationRequest, hint: readonly Addr[]): boolean {
    for (const a of hint) {
      const holder = this.used.get(formatIP(a));
      if (holder && this.shareProblem(req, holder)) return false;
    }
    for (const a of hint) {
      const named = req.pool !== undefined ? this.pools.get(req.pool) : undefined;
      const pool = (named && poolAccepts(named.pool, a) && poolAllows(named.pool, req) ? named : this.poolFor(req, a)?.st)?.pool.name ?? '';
      this.take(req.key, a, pool, req.sharingKey, { ports: req.ports, backendKey: req.backendKey });
    }
    return true;
  }

  private take(key: string, addr: Addr, pool: string, sharingKey: string | undefined, sharer: Sharer): void {
    const ip = formatIP(addr);
    let holder = this.used.get(ip);
    if (!holder) {
      holder = { addr, sharingKey, services: new Map() };
      this.used.set(ip, holder);
      if (sharingKey !== undefined) this.indexShare(sharingKey, ip);
      for (const st of this.sortedPools) if (st.free[addr.family].delete(addr.value) && poolCounts(st.pool, addr)) st.assigned[addr.family] += 1n;
    }
    holder.services.set(key, sharer);
    let held = this.services.get(key);
    if (!held) { held = []; this.services.set(key, held); }
    if (!held.some((h) => h.ip === ip)) held.push({ addr, ip, pool });
  }

  /** A Service alone on its IPs may change its sharing key; the holder follows. */
  private setShareKey(key: string, held: readonly Held[], sharingKey: string | undefined): void {
    for (const h of held) {
      const holder = this.used.get(h.ip);
      if (!holder || holder.sharingKey === sharingKey || holder.services.size !== 1 || !holder.services.has(key)) continue;
      if (holder.sharingKey !== undefined) this.unindexShare(holder.sharingKey, h.ip);
      holder.sharingKey = sharingKey;
      if (sharingKey !== undefined) this.indexShare(sharingKey, h.ip);
    }
  }

  private indexShare(k: string, ip: string): void {
    let s = this.byShareKey.get(k);
    if (!s) { s = new Set(); this.byShareKey.set(k, s); }
    s.add(ip);
  }

  private unindexShare(k: string, ip: string): void {
    const s = this.byShareKey.get(k);
    s?.delete(ip);
    if (s?.size === 0) this.byShareKey.delete(k);
  }

}
