/**
 * Speaker planner benchmark: `plan()` for 10k Services on 100 nodes (target ≤ 50 ms, ARCHITECTURE §6), once
 * with every Service `Cluster` and once with 10% `Local` (each with ready endpoints on 3 nodes). Pure code, no
 * I/O: the IPv4 addresses are in-memory data from 198.18.0.0/15 (RFC 2544's benchmark range, never put on a
 * wire), the IPv6 ones from 2001:db8::/32. The cluster mixes what the planner meets: L2 pools chosen by subnet,
 * an L2 pool on an explicit interface, BGP pools with /32 and aggregated /24 announcements to two peers, 5%
 * of the IPs shared by two Services, a few suspect members.
 *
 * Times are the process's CPU time (as in allocator.ts: on a shared machine wall-clock also bills other
 * processes' time slices), median over rounds after warm-up, with the garbage of earlier rounds collected first
 * (when run with --expose-gc, as `npm run bench` does).
 */
import type { Config } from '../src/config/types.ts';
import { plan } from '../src/speaker/plan.ts';
import type { MemberView, PlanNode, PlanService, PlanSnapshot } from '../src/speaker/types.ts';
import { cpuNs, settle } from './cpu.ts';

const cpuMs = (): number => cpuNs() / 1e6;


/** Deterministic pseudo-random integers in [0, n): the same cluster on every run. */
function lcg(seed: number): (n: number) => number {
  let s = seed;
  return (n) => { s = (s * 1103515245 + 12345) % 2147483648; return s % n; };
}

function v4(i: number): string {
  const v = (198 << 24 >>> 0) + (18 << 16) + i;
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** The benchmark cluster: `services` Services, `nodeCount` nodes, `localShare` of the Services `Local`. */
export function benchCluster(services: number, nodeCount: number, localShare: number): PlanSnapshot {
  const rnd = lcg(7);
  const config: Config = {
    pools: ['bgp-agg', 'bgp-host', 'l2-eth1', 'l2-subnet', 'l2-v6'].map((name) => ({ name, labels: {} })),
    l2: [
      { name: 'by-subnet', pools: new Set(['l2-subnet', 'l2-v6']), nodeSelectors: [], interfaces: [] },
      { name: 'on-eth1', pools: new Set(['l2-eth1']), nodeSelectors: [{ matchLabels: { rack: 'r1' } }], interfaces: ['eth1'] },
    ],
    bgp: [
      { name: 'agg', pools: new Set(['bgp-agg']), nodeSelectors: [], peers: [], communities: ['65000:100'], largeCommunities: [], aggregationLength: 24, aggregationLengthV6: 64 },
      { name: 'host', pools: new Set(['bgp-host']), nodeSelectors: [], peers: ['tor-a'], communities: ['65000:200', 'no-export'], largeCommunities: ['65000:1:2'], localPref: 200, aggregationLength: 32, aggregationLengthV6: 128 },
    ],
    peers: ['tor-a', 'tor-b'].map((name, i) => ({
      name, myASN: 64512, peerASN: 64513, peerAddress: `198.19.255.${250 + i}`, peerPort: 179, holdTime: 90, connectTime: 120,
      ebgpMultiHop: false, passive: false, gracefulRestart: false, nodeSelectors: [],
    })),
  };
  const nodes = new Map<string, PlanNode>();
  const members = new Map<string, MemberView>();
  for (let n = 0; n < nodeCount; n++) {
    const name = `node-${String(n).padStart(3, '0')}`;
    nodes.set(name, { name, labels: { rack: n % 2 === 0 ? 'r1' : 'r2' }, excluded: n === 5, networkUnavailable: false });
    const mac = `02:00:00:00:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`;
    members.set(name, {
      state: n % 37 === 3 ? 'suspect' : 'alive',
      interfaces: [
        { name: 'eth0', mac, up: true, addresses: [
          { address: `198.19.${n >> 8}.${n & 255}`, cidr: `198.19.${n >> 8}.${n & 255}/15`, family: 'IPv4' },
          { address: `2001:db8::${n + 1}`, cidr: `2001:db8::${n + 1}/64`, family: 'IPv6' },
        ] },
        { name: 'eth1', mac, up: n % 10 !== 1, addresses: [] },
        { name: 'cni0', mac, up: true, addresses: [{ address: '10.244.0.1', cidr: '10.244.0.1/24', family: 'IPv4' }] },
      ],
    });
  }
  const list: PlanService[] = [];
  const readyNodes = new Map<string, ReadonlySet<string>>();
  const pools = ['l2-subnet', 'l2-subnet', 'l2-subnet', 'l2-v6', 'l2-eth1', 'bgp-host', 'bgp-host', 'bgp-agg'];
  for (let i = 0; i < services; i++) {
    const pool = pools[i % pools.length] ?? 'l2-subnet';
    // every 20th Service shares the previous one's IP (same pool, as the allocator does)
    const shares = i % 20 === 19 && (pools[(i - 1) % pools.length] ?? '') === pool;
    const index = shares ? i - 1 : i;
    const ip = pool === 'l2-v6' ? `2001:db8::1:${index.toString(16)}` : v4(index);
    const key = `ns${i % 50}/svc-${i}`;
    const local = rnd(1000) < localShare * 1000;
    list.push({ key, ips: [ip], pool, local });
    if (local) {
      const ready = new Set<string>();
      for (let k = 0; k < 3; k++) ready.add(`node-${String(rnd(nodeCount)).padStart(3, '0')}`);
      readyNodes.set(key, ready);
    }
  }
  return { config, nodes, members, services: list, readyNodes };
}

function medianPlanMs(snap: PlanSnapshot, rounds: number): { ms: number; owned: number; routes: number } {
  let owned = 0;
  let routes = 0;
  for (let i = 0; i < 10; i++) plan('node-000', snap); // warm-up: let the JIT compile the hot loops
  const xs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    settle();
    const t = cpuMs();
    const p = plan('node-000', snap);
    xs.push(cpuMs() - t);
    owned = p.l2.size;
    routes = [...p.bgp.values()].reduce((n, r) => n + r.length, 0);
  }
  xs.sort((a, b) => a - b);
  return { ms: xs[Math.floor(xs.length / 2)] ?? NaN, owned, routes };
}

/** Runs the planner benchmark: median CPU ms of one `plan()` call, all-Cluster and with 10% Local Services. */
export async function speakerBench(services = 10_000, nodes = 100, rounds = 15): Promise<Record<string, number>> {
  await Promise.resolve(); // async like the other benches, so main.ts runs them all alike
  const cluster = medianPlanMs(benchCluster(services, nodes, 0), rounds);
  const local = medianPlanMs(benchCluster(services, nodes, 0.1), rounds);
  return {
    speaker_plan_services: services,
    speaker_plan_nodes: nodes,
    speaker_plan_ms: Math.round(cluster.ms * 100) / 100,
    speaker_plan_local10_ms: Math.round(local.ms * 100) / 100,
    speaker_plan_owned_ips: cluster.owned,
    speaker_plan_routes: cluster.routes,
  };
}
