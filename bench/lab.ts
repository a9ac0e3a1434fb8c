/**
 * The lab benchmarks (issue 10, "Measurements"; root only): on a whole lab from `startLab()` (control plane,
 * kube-proxy and a speaker per node, pods, the BIRD router), traffic from the clients to Service IPs through
 * kube-proxy to pods.
 *
 * - L2 (IPv4, LAN client): the failover trial loop of bench/failover.ts: crash (cable cut + SIGKILL, then
 *   `evictNode`, as the node lifecycle controller would) → first answer through the new owner; SIGTERM → the
 *   same, and every failed request with its reason and timing against the takeover.
 * - BGP: Service creation → route at the router (first path and every node's path), one Service at a time;
 *   1,000 Services created at once → all routes at the router (and deleting them → all withdrawn); with the
 *   routed client `wclient` sending a request every 20 ms: a node crash (→ its path gone at BIRD and in the
 *   router's kernel: BFD 300 ms × 3, the lab's BFDProfile) and a graceful stop (SIGTERM: GSHUT seen, path gone), failed requests
 *   and why.
 *
 * Env: BENCH_LAB_TRIALS (L2 trials of each kind, default 20), BENCH_LAB_SERVICES (Services created one at a
 * time, default 20), BENCH_LAB_BULK (Services created at once, default 1000), BENCH_LAB_BGP_TRIALS (BGP crash
 * trials, default 10: the BFD failover p50/p99), BENCH_LAB_BGP_GRACEFUL_TRIALS (BGP graceful stops, default 3),
 * BENCH_LAB_BULK_CLIENTS (kubectl processes creating and deleting the bulk, default 8), BENCH_LAB_PARTS (comma list of l2, bgp; default both), BENCH_LAB_BED=netlab
 * (the same measurements on the lighter netlab topology: no kube-proxy, no pods, each node answers itself).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { netlabSkip } from '../test/netlab/netns.ts';
import { BirdSocket, parseBirdRoutes, type Route } from '../test/netlab/routers.ts';
import { BFD, Topology, until, WAN, type HttpResult } from '../test/netlab/topology.ts';
import { API_VERSION, Kinds, ServiceAnnotations } from '../src/api/keys.ts';
import type { LabCluster } from '../tools/lab/api.ts';
import { startLab } from '../tools/lab/cluster.ts';
import { l2FailoverTrials, summary } from './failover.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (m: string): void => { process.stderr.write(`[lab-bench] ${m}\n`); };
const num = (name: string, dflt: number): number => {
  const v = Number(process.env[name] ?? dflt);
  return Number.isFinite(v) && v >= 0 ? Math.floor(v) : dflt;
};

/** Service IPs the bench uses (fixed, so the router can be polled for them before the controller writes status). */
const IPS = {
  l2: '192.0.2.219',
  /** the routed IPv4 Service wclient sends traffic to (pool `routed`) */
  traffic: '198.51.100.29',
  /** one-at-a-time Services: 2001:db8:5:100::1.. ; the bulk: 2001:db8:5:101::1.. */
  single: (k: number): string => `2001:db8:5:100::${(k + 1).toString(16)}`,
  bulkNet: '2001:db8:5:101::/118',
  bulk: (k: number): string => `2001:db8:5:101::${(k + 1).toString(16)}`,
} as const;
const BENCH_POOL = 'bench-bgp6';
const APP = 'bench';
const BULK_LABEL = 'bench.baregate.io/bulk';

/**
 * What the measurements need from their bed: the lab, or the netlab topology for a lighter check. Service
 * objects come from here because the two differ: the lab's pods are selected by `app` and reached through
 * kube-proxy on port 80; the netlab's nodes answer on 8080 themselves and need EndpointSlices written.
 */
interface Bed {
  readonly name: 'lab' | 'netlab';
  readonly topo: Topology;
  readonly port: number;
  /** The objects of a single-stack LoadBalancer Service with a fixed IP, plus what the bed needs beside it. */
  serviceObjects(name: string, ip: string, pool: string, labels?: Record<string, string>): unknown[];
  /** What the cluster does after a node dies (lab: its pods NotReady). */
  afterCrash(node: string): Promise<void>;
  /** Brings a node back after a crash or a stop, with its pods Ready again. */
  revive(node: string): Promise<void>;
  /** Ready pods serving the bench's Services. */
  deploy(): Promise<void>;
  destroy(): Promise<void>;
}

function serviceObject(name: string, ip: string, pool: string, port: number, labels: Record<string, string>): Record<string, unknown> {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: {
      name, namespace: 'default', labels,
      annotations: { [ServiceAnnotations.loadBalancerIPs[0]]: ip, [ServiceAnnotations.addressPool[0]]: pool },
    },
    spec: {
      type: 'LoadBalancer', ipFamilyPolicy: 'SingleStack', ipFamilies: [ip.includes(':') ? 'IPv6' : 'IPv4'],
      ports: [{ name: 'http', port, protocol: 'TCP', targetPort: 8080 }], selector: { app: APP },
    },
  };
}

function labBed(lab: LabCluster): Bed {
  return {
    name: 'lab', topo: lab, port: 80,
    serviceObjects: (name, ip, pool, labels = {}) => [serviceObject(name, ip, pool, 80, labels)],
    afterCrash: (node) => lab.evictNode(node),
    revive: async (node) => {
      await lab.revive(node);
      if (!lab.kubeProxyRunning(node)) await lab.startKubeProxy(node);
      for (const p of lab.pods.values()) if (p.node === node && p.app === APP) await lab.setPodReady(p.name, true);
    },
    deploy: async () => { await lab.deployApp(APP, lab.nodes.map((n) => n.name)); },
    destroy: () => lab.destroy(),
  };
}

function netlabBed(topo: Topology): Bed {
  const nodes = topo.nodes.map((n) => n.name);
  return {
    name: 'netlab', topo, port: 8080,
    serviceObjects: (name, ip, pool, labels = {}) => {
      const v6 = ip.includes(':');
      return [serviceObject(name, ip, pool, 8080, labels), {
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
        metadata: { name: `${name}-${v6 ? 'ipv6' : 'ipv4'}`, namespace: 'default', labels: { ...labels, 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'netlab' } },
        addressType: v6 ? 'IPv6' : 'IPv4',
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        endpoints: nodes.map((nd) => ({
          addresses: [v6 ? topo.node(nd).ipv6 : topo.node(nd).ipv4], nodeName: nd,
          conditions: { ready: true, serving: true, terminating: false },
        })),
      }];
    },
    afterCrash: () => Promise.resolve(),
    revive: (node) => topo.revive(node),
    deploy: () => Promise.resolve(),
    destroy: () => topo.destroy(),
  };
}

/** BIRD queries: its control socket when the bed's directory has it (no process per poll), else birdc. */
class Router {
  private sock: BirdSocket | undefined;
  private busy: Promise<unknown> = Promise.resolve();
  private constructor(private readonly topo: Topology) {}

  static async open(topo: Topology): Promise<Router> {
    const r = new Router(topo);
    const path = join(topo.dir, 'bird.ctl');
    if (existsSync(path)) r.sock = await BirdSocket.connect(path).catch(() => undefined);
    return r;
  }

  /** One command's text; calls are serialised (the socket takes one command at a time). */
  cmd(line: string): Promise<string> {
    const run = async (): Promise<string> => {
      if (this.sock) {
        try { return await this.sock.cmd(line); } catch (e) {
          if (e instanceof Error && /Network not found/.test(e.message)) return 'Network not found';
          this.sock.close(); this.sock = undefined;
        }
      }
      try { return await this.topo.birdc(...line.split(' ')); } catch (e) {
        if (e instanceof Error && /Network not found/.test(e.message)) return 'Network not found';
        throw e;
      }
    };
    const p = this.busy.then(run, run);
    this.busy = p.catch(() => undefined);
    return p;
  }

  async routes(prefix: string): Promise<Route[]> {
    const t = await this.cmd(`show route all ${prefix}`);
    return /Network not found/.test(t) ? [] : parseBirdRoutes(t);
  }

  /** Routes (paths) and networks BIRD holds inside `net`. */
  async countIn(net: string): Promise<{ routes: number; networks: number }> {
    // `in NET` limits the networks too (with a `where` filter BIRD counts every network it examined);
    // per-table lines only, not the "Total:" line that sums them
    const t = await this.cmd(`show route in ${net} count`);
    let routes = 0, networks = 0;
    for (const m of t.matchAll(/^\s*(\d+) of \d+ routes for (\d+) networks in table/gm)) { routes += Number(m[1]); networks += Number(m[2]); }
    return { routes, networks };
  }

  close(): void { this.sock?.close(); }
}

/** Summary of failed requests: count, reasons, timing against a reference instant (ms). */
function failedOf(results: readonly HttpResult[], from: number, ref: number): Record<string, unknown> {
  const failed = results.filter((r) => r.t + r.ms >= from && !r.ok);
  const reasons: Record<string, number> = {};
  for (const r of failed) { const k = r.err ?? `not 200: ${(r.body ?? '').slice(0, 40)}`; reasons[k] = (reasons[k] ?? 0) + 1; }
  return {
    failed: failed.length, of: results.filter((r) => r.t + r.ms >= from).length, reasons,
    firstStartMs: failed[0] === undefined ? undefined : failed[0].t - ref,
    lastEndMs: failed.at(-1) === undefined ? undefined : (failed.at(-1)?.t ?? 0) + (failed.at(-1)?.ms ?? 0) - ref,
  };
}

async function l2Part(bed: Bed, trials: number): Promise<Record<string, unknown>> {
  const { topo } = bed;
  await topo.apply(...bed.serviceObjects('bench-l2', IPS.l2, 'lan'));
  await topo.waitServiceIPs('bench-l2', 1, 60_000);
  log(`L2: owner of ${IPS.l2}: ${await topo.waitOwner(IPS.l2, undefined, 60_000)}`);
  const url = `http://${IPS.l2}:${bed.port}/`;
  const r = await l2FailoverTrials({
    topo, vip: IPS.l2, url, log: (m) => { log(`L2 ${m}`); },
    afterCrash: (n) => bed.afterCrash(n), revive: (n) => bed.revive(n),
    // the netlab's nodes answer with their name; the lab's pods with their pod and node, which is not the ingress
    ...(bed.name === 'netlab' && { via: (body: string) => body }),
  }, trials);
  return {
    ...r,
    method: `${bed.name}: ${topo.nodes.length} nodes; LAN client: arping every 20 ms, ip monitor neigh, HTTP GET (new connection, 200 ms timeout crash / 500 ms graceful) every 20 ms to ${url}${bed.name === 'lab' ? ' through kube-proxy (externalTrafficPolicy Cluster) to one pod per node; after a crash evictNode(owner)' : ''}; trafficBack = first answer of a request started after the crash (nothing passes the cut cable)`,
  };
}

/** Polls until `fn` returns a value (bounded; undefined on timeout). */
function poll<T>(fn: () => Promise<T | undefined>, ms: number, every = 10): Promise<T | undefined> {
  return until('poll', fn, ms, every).catch(() => undefined);
}

async function bgpPart(bed: Bed, router: Router, counts: { single: number; bulk: number; trials: number; gracefulTrials: number; clients: number }): Promise<Record<string, unknown>> {
  const { topo } = bed;
  const nodes = topo.nodes.map((n) => n.name);
  await topo.apply(
    { apiVersion: API_VERSION, kind: Kinds.IPAddressPool.kind, metadata: { name: BENCH_POOL }, spec: { addresses: ['2001:db8:5:100::/120', IPS.bulkNet], autoAssign: false } },
    { apiVersion: API_VERSION, kind: Kinds.BGPAdvertisement.kind, metadata: { name: BENCH_POOL }, spec: { ipAddressPools: [BENCH_POOL] } },
  );
  let sessions = new Map<string, string>();
  await until(() => `every BIRD session Established (${JSON.stringify([...sessions])})`, async () => {
    const s = sessions = await topo.birdSessions();
    return nodes.every((n) => s.get(`${n}v4`)?.startsWith('Established') && s.get(`${n}v6`)?.startsWith('Established')) ? true : undefined;
  }, 60_000, 200);
  const out: Record<string, unknown> = { nodes: nodes.length };

  // ── one Service at a time: creation → route at the router ──
  const first: number[] = [];
  const all: number[] = [];
  const api: number[] = [];
  const afterApply: number[] = [];
  let missing = 0;
  for (let k = 0; k < counts.single; k++) {
    const ip = IPS.single(k);
    const t0 = performance.now();
    await topo.apply(...bed.serviceObjects(`bench-bgp-${k}`, ip, BENCH_POOL, { [BULK_LABEL]: 'single' }));
    api.push(performance.now() - t0);
    const one = await poll(async () => ((await router.routes(`${ip}/128`)).length > 0 ? performance.now() : undefined), 30_000);
    const every = await poll(async () => ((await router.routes(`${ip}/128`)).length >= nodes.length ? performance.now() : undefined), 30_000);
    if (one === undefined) missing++; else { first.push(one - t0); afterApply.push(Math.max(0, one - t0 - (api.at(-1) ?? 0))); }
    if (every !== undefined) all.push(every - t0);
    log(`BGP Service ${k + 1}/${counts.single} ${ip}: apply ${Math.round(api.at(-1) ?? 0)} ms, first path ${one === undefined ? 'none' : Math.round(one - t0)} ms, all ${nodes.length} paths ${every === undefined ? 'none' : Math.round(every - t0)} ms`);
  }
  out.serviceToRoute = {
    firstPathMs: summary(first), allPathsMs: summary(all), applyMs: summary(api), firstPathAfterApplyReturnedMs: summary(afterApply), missing,
    method: 'kubectl apply --server-side of one IPv6 single-stack Service with a fixed IP, timed from before the apply (an upper bound: kubectl\'s start and the request are in it, applyMs); firstPathAfterApplyReturnedMs is the lower bound; BIRD polled every ~10 ms for the /128',
  };

  // ── many Services at once ──
  if (counts.bulk > 0) {
    const objs: unknown[] = [];
    for (let k = 0; k < counts.bulk; k++) objs.push(...bed.serviceObjects(`bench-bulk-${k}`, IPS.bulk(k), BENCH_POOL, { [BULK_LABEL]: 'bulk' }));
    // kubectl applies a List one object at a time: several clients at once, so the apiserver is the limit
    const chunk = Math.ceil(objs.length / counts.clients);
    const t0 = performance.now();
    await Promise.all(Array.from({ length: counts.clients }, (_, c) => objs.slice(c * chunk, (c + 1) * chunk)).filter((o) => o.length > 0).map((o) => topo.apply(...o)));
    const applied = performance.now() - t0;
    log(`BGP bulk: ${counts.bulk} Services applied in ${Math.round(applied)} ms (${counts.clients} kubectl clients)`);
    let last = { routes: 0, networks: 0 };
    let firstAll: number | undefined;
    const everyPath = await poll(async () => {
      last = await router.countIn(IPS.bulkNet);
      if (firstAll === undefined && last.networks >= counts.bulk) firstAll = performance.now();
      return last.routes >= counts.bulk * nodes.length ? performance.now() : undefined;
    }, 300_000, 100);
    log(`BGP bulk: all networks ${firstAll === undefined ? 'never' : Math.round(firstAll - t0)} ms, every path ${everyPath === undefined ? `never (${JSON.stringify(last)})` : Math.round(everyPath - t0)} ms`);
    // Services have no delete-collection: kubectl deletes one at a time, so several clients again
    const names = Array.from({ length: counts.bulk }, (_, k) => `bench-bulk-${k}`);
    const per = Math.ceil(names.length / counts.clients);
    const d0 = performance.now();
    await Promise.all(Array.from({ length: counts.clients }, (_, c) => names.slice(c * per, (c + 1) * per)).filter((x) => x.length > 0)
      .map((x) => topo.kubectl(['delete', 'services', '-n', 'default', '--wait=false', ...x])));
    if (bed.name === 'netlab') await topo.kubectl(['delete', 'endpointslices', '-n', 'default', '-l', `${BULK_LABEL}=bulk`, '--wait=false']);
    const deleted = performance.now() - d0;
    const gone = await poll(async () => ((await router.countIn(IPS.bulkNet)).routes === 0 ? performance.now() : undefined), 300_000, 100);
    log(`BGP bulk: deleted in ${Math.round(deleted)} ms, every route withdrawn ${gone === undefined ? 'never' : Math.round(gone - d0)} ms`);
    out.bulk = {
      services: counts.bulk, applyMs: Math.round(applied),
      createToAllNetworksMs: firstAll === undefined ? undefined : Math.round(firstAll - t0),
      createToEveryPathMs: everyPath === undefined ? undefined : Math.round(everyPath - t0),
      lastApplyReturnedToAllNetworksMs: firstAll === undefined ? undefined : Math.max(0, Math.round(firstAll - t0 - applied)),
      lastApplyReturnedToEveryPathMs: everyPath === undefined ? undefined : Math.max(0, Math.round(everyPath - t0 - applied)),
      lastSeen: last, deleteMs: Math.round(deleted), deleteToAllWithdrawnMs: gone === undefined ? undefined : Math.round(gone - d0),
      method: `kubectl apply --server-side of ${counts.bulk} IPv6 Services by ${counts.clients} kubectl processes at once (fixed IPs in ${IPS.bulkNet}), timed from before it; BIRD's count polled every 100 ms; every path = one per node`,
    };
  }

  // ── traffic from wclient: node crash and graceful stop ──
  await topo.apply(...bed.serviceObjects('bench-bgp-traffic', IPS.traffic, 'routed'));
  const prefix = `${IPS.traffic}/32`;
  const url = `http://${IPS.traffic}:${bed.port}/`;
  const hasPaths = (n: number) => async (): Promise<true | undefined> => ((await router.routes(prefix)).length >= n ? true : undefined);
  await until(`${prefix} with ${nodes.length} paths at the router`, hasPaths(nodes.length), 60_000, 100);
  const hashPolicy = topo.lab.exec('router', 'sysctl', ['-n', 'net.ipv4.fib_multipath_hash_policy']).trim();
  const crash: Record<string, unknown>[] = [];
  const crashGone: number[] = [];
  const crashGap: number[] = [];
  const graceful: Record<string, unknown>[] = [];
  const gracefulGone: number[] = [];
  let gracefulFailed = 0;
  for (const kind of ['crash', 'graceful'] as const) {
    const trials = kind === 'crash' ? counts.trials : counts.gracefulTrials;
    for (let i = 0; i < trials; i++) {
      await until(`${prefix} with ${nodes.length} paths`, hasPaths(nodes.length), 60_000, 100);
      const victim = victimOf(topo, nodes[i % nodes.length] ?? 'n1');
      const vip4 = topo.node(victim).ipv4;
      const loop = topo.httpLoop(url, { from: 'wclient', intervalMs: 20, timeoutMs: 500 });
      await until('wclient answers', () => (loop.results.some((r) => r.ok) ? true : undefined), 20_000);
      await sleep(500);
      // what BIRD shows on the victim's path before (through birdc, a second parser path besides the socket)
      const before = (await topo.birdRoutes(prefix).catch(() => [])).find((r) => r.nextHop === vip4)?.communities ?? null;
      const t0 = Date.now();
      // the router is polled while the stop runs (a graceful stop takes seconds: GSHUT, wait, withdraw, exit)
      const action = kind === 'crash'
        ? topo.crash(victim).then(() => bed.afterCrash(victim)).then(() => '')
        : topo.stopSpeaker(victim, 'SIGTERM');
      let gshut: number | undefined;
      const seen = new Set<string>();
      let gone: number | undefined;
      let kernelGone: number | undefined;
      await poll(async () => {
        if (gone === undefined) {
          const rs = (await router.routes(prefix)).filter((r) => r.nextHop === vip4);
          for (const r of rs) for (const c of r.communities) seen.add(c);
          if (gshut === undefined && rs.some((r) => r.communities.includes('65535:0'))) gshut = Date.now();
          if (rs.length === 0) gone = Date.now();
        }
        if (kernelGone === undefined && !topo.routerKernelRoute(IPS.traffic).includes(vip4)) kernelGone = Date.now();
        return gone !== undefined && kernelGone !== undefined ? true : undefined;
      }, 60_000, 10);
      const how = await action;
      await sleep(1500);
      const results = await loop.stop();
      const f = failedOf(results, t0, t0);
      const row = {
        victim, ...(how !== '' && { exit: how }),
        routeGoneMs: gone === undefined ? null : gone - t0,
        kernelRouteGoneMs: kernelGone === undefined ? null : kernelGone - t0,
        ...(kind === 'graceful' && { gshutSeenMs: gshut === undefined ? null : gshut - t0, communitiesBefore: before, communitiesSeen: [...seen].sort() }),
        ...f,
      };
      log(`BGP ${kind} ${i + 1}/${trials}: ${JSON.stringify(row)}`);
      if (kind === 'crash') {
        crash.push(row);
        if (gone !== undefined) crashGone.push(gone - t0);
        if (typeof f.lastEndMs === 'number') crashGap.push(f.lastEndMs);
      } else {
        graceful.push(row); if (gone !== undefined) gracefulGone.push(gone - t0);
        gracefulFailed += Number(f.failed);
      }
      await bed.revive(victim);
    }
  }
  out.nodeCrash = {
    routeGoneMs: summary(crashGone), trafficGapMs: summary(crashGap), trials: crash,
    method: `wclient (${WAN.client4}) GETs ${url} every 20 ms (new connection, 500 ms timeout); the victim is the next hop the router's kernel picks for wclient's flow (fib_multipath_hash_policy=${hashPolicy}); crash = cable cut + SIGKILL${bed.name === 'lab' ? ' + evictNode' : ''}; BGPPeer holdTime 9s with BFDProfile ${BFD.profile} (${BFD.intervalMs} ms × ${BFD.multiplier}, BIRD the same), so the path leaves on BFD's detection time, not the hold timer; routeGoneMs = cut → the victim's path gone at BIRD; trafficGapMs = end of the last failed request after the crash`,
  };
  out.gracefulStop = {
    routeGoneMs: summary(gracefulGone), failedRequests: gracefulFailed, trials: graceful,
    method: 'as nodeCrash, but SIGTERM to the victim\'s speaker; gshutSeenMs = 65535:0 seen on its path at BIRD',
  };
  const gone = summary(crashGone);
  out.targets = { bfdCrashRouteGoneP50Ms: 1000, bfdCrashRouteGoneP99Ms: 1500, gracefulFailedRequests: 0 };
  out.targetsMet = {
    bfdCrashP50: gone.p50 !== undefined && gone.p50 <= 1000 && crashGone.length === counts.trials,
    bfdCrashP99: gone.p99 !== undefined && gone.p99 <= 1500 && crashGone.length === counts.trials,
    gracefulZeroFailures: gracefulFailed === 0 && graceful.length === counts.gracefulTrials,
  };
  return out;
}

/** The node the router's kernel sends wclient's flow to (so a crash hits the measured traffic); `fallback` when unclear. */
function victimOf(topo: Topology, fallback: string): string {
  try {
    const r = topo.lab.exec('router', 'ip', ['route', 'get', IPS.traffic, 'from', WAN.client4, 'iif', 'eth1']);
    const via = /via (\S+)/.exec(r)?.[1];
    return topo.nodes.find((n) => n.ipv4 === via)?.name ?? fallback;
  } catch { return fallback; }
}

/** Runs the lab benchmarks; returns `{ lab: {...} }` (a `skipped` entry when not root). */
export async function labBench(): Promise<Record<string, unknown>> {
  if (netlabSkip) {
    process.stderr.write(`\n*** lab bench SKIPPED: ${netlabSkip} ***\n\n`);
    return { lab: { skipped: netlabSkip } };
  }
  const parts = (process.env.BENCH_LAB_PARTS ?? 'l2,bgp').split(',').map((x) => x.trim());
  const trials = num('BENCH_LAB_TRIALS', 20);
  const counts = {
    single: num('BENCH_LAB_SERVICES', 20), bulk: num('BENCH_LAB_BULK', 1000), trials: num('BENCH_LAB_BGP_TRIALS', 10), gracefulTrials: num('BENCH_LAB_BGP_GRACEFUL_TRIALS', 3),
    clients: Math.max(1, num('BENCH_LAB_BULK_CLIENTS', 8)),
  };
  const started = Date.now();
  let bed: Bed;
  try {
    if (process.env.BENCH_LAB_BED === 'netlab') {
      const topo = await Topology.start({ nodes: 3, tag: 'lb', bird: parts.includes('bgp'), log });
      topo.startController();
      bed = netlabBed(topo);
    } else {
      bed = labBed(await startLab({ nodes: 3, tag: 'lb', bird: parts.includes('bgp'), log }));
    }
  } catch (e) {
    return { lab: { error: `could not start the ${process.env.BENCH_LAB_BED ?? 'lab'}: ${e instanceof Error ? e.message : String(e)}` } };
  }
  const out: Record<string, unknown> = { bed: bed.name, upMs: Date.now() - started };
  let router: Router | undefined;
  try {
    await bed.topo.applyBaseConfig({ l2: true, bgp: parts.includes('bgp') });
    if (bed.name === 'netlab') await bed.topo.startSpeakers();
    await bed.deploy();
    if (parts.includes('l2')) {
      try { out.l2 = await l2Part(bed, trials); } catch (e) { out.l2 = { error: e instanceof Error ? e.message : String(e) }; log(`L2 failed: ${String(e)}`); }
    }
    if (parts.includes('bgp')) {
      try {
        router = await Router.open(bed.topo);
        out.bgp = await bgpPart(bed, router, counts);
      } catch (e) { out.bgp = { error: e instanceof Error ? e.message : String(e) }; log(`BGP failed: ${String(e)}`); }
    }
  } catch (e) {
    out.error = `setting up the ${bed.name}: ${e instanceof Error ? e.message : String(e)}`;
    log(String(e));
  } finally {
    router?.close();
    await bed.destroy();
  }
  out.totalMs = Date.now() - started;
  out.targets = { l2CrashP50Ms: 1000, l2CrashP99Ms: 2000, gracefulFailedRequests: 0 };
  return { lab: out };
}
