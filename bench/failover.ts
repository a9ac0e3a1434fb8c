/**
 * L2 failover measurements: one trial loop for both beds that have it, the netlab topology (this file's
 * {@link failoverBench}: the nodes' own HTTP servers answer) and the lab (bench/lab.ts: kube-proxy to pods).
 * The LAN client probes the Service IP with arping every ~20 ms, issues an HTTP GET (new connection) every
 * 20 ms, and follows its own kernel's neighbour entry for the IP (`ip monitor neigh`).
 *
 * - crash: the owner's cable is cut on the switch and its speaker SIGKILLed (the bed may add what a cluster
 *   would do next: the lab marks the node's pods NotReady); measured: crash → the new owner's first ARP reply,
 *   crash → the client's neighbour entry moving, crash → the first HTTP answer of a request started once the
 *   cable was cut (nothing passes it, so that answer came through the new owner);
 * - graceful: the owner's speaker gets SIGTERM; measured: SIGTERM → the new owner's first ARP reply, SIGTERM →
 *   the client's neighbour entry moving, SIGTERM → the first answer started after that move, and every request
 *   that failed, with its error text and whether it was in flight when the client's entry moved (the target
 *   is zero failures).
 *
 * Every trial starts from one owner, the single MAC answering ARP for a second on end. After each trial the
 * old owner is revived. Targets (ARCHITECTURE.md §6): crash p50 ≤ 1 s, p99 ≤ 2 s; graceful: zero failures.
 * BENCH_FAILOVER_TRIALS sets the number of trials of each kind on the netlab bed (default 20).
 */
import { createInterface } from 'node:readline';
import { netlabSkip } from '../test/netlab/netns.ts';
import { Topology, until, type HttpResult } from '../test/netlab/topology.ts';

const VIP = '192.0.2.200';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Slack when deciding whether a request was in flight at an instant (the loop's and our timestamps differ a little). */
const FLIGHT_SLACK_MS = 30;

/** Nearest-rank percentile of a sample (undefined when empty). */
export function pct(xs: readonly number[], p: number): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** n/p50/p99/max/mean of a sample in ms, rounded: the shape every lab-bench figure is reported in. */
export function summary(xs: readonly number[]): Record<string, number | undefined> {
  const mean = xs.length === 0 ? undefined : Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
  const r = (v: number | undefined): number | undefined => (v === undefined ? undefined : Math.round(v));
  return { n: xs.length, p50: r(pct(xs, 50)), p99: r(pct(xs, 99)), max: r(pct(xs, 100)), mean };
}

/** One change of the client kernel's neighbour entry for an IP, as `ip monitor neigh` reported it. */
interface NeighChange { t: number; mac: string }

/**
 * Follows the client kernel's neighbour entry for `ip` (`ip monitor neigh` in its namespace): where its
 * requests actually go, which is what decides a failover for traffic (arping only shows who answers).
 */
function monitorNeighbour(topo: Topology, from: string, ip: string): { changes: NeighChange[]; stop: () => void } {
  const c = topo.lab.start(from, 'stdbuf', ['-oL', 'ip', 'monitor', 'neigh']);
  const changes: NeighChange[] = [];
  c.on('error', () => undefined);
  c.stderr.on('data', () => undefined);
  createInterface({ input: c.stdout }).on('line', (l) => {
    const f = l.trim().split(/\s+/);
    const at = f.indexOf('lladdr');
    const mac = f[at + 1];
    if (f[0] === ip && at > 0 && mac !== undefined) changes.push({ t: Date.now(), mac: mac.toLowerCase() });
  });
  return { changes, stop: () => { c.kill('SIGKILL'); } };
}

/** What a failover trial loop needs from its bed: the netlab topology or the lab (a LabCluster is a Topology). */
export interface L2Bed {
  readonly topo: Topology;
  /** The Service IP (IPv4, in the LAN) and a URL on it the client GETs. */
  readonly vip: string;
  readonly url: string;
  /** What a cluster does right after a node dies (the lab: its pods marked NotReady); default nothing. */
  afterCrash?: (node: string) => Promise<void>;
  /** Brings a crashed or stopped node back (default: the topology's revive: cable in, speaker started, ready). */
  revive?: (node: string) => Promise<void>;
  /** The node an HTTP answer came through, when the body tells (netlab: each node's server answers its name). */
  via?: (body: string) => string | undefined;
  /** Progress lines. */
  log: (m: string) => void;
}

/** One failed request of a graceful trial and why it failed. */
export interface FailedRequest {
  trial: number;
  err: string;
  /** Start and end of the request relative to the new owner's first ARP reply (ms; negative: before it). */
  startVsTakeoverMs: number | undefined;
  endVsTakeoverMs: number | undefined;
  /** Start and end relative to the client's neighbour entry moving to the new owner. */
  startVsClientFlipMs: number | undefined;
  endVsClientFlipMs: number | undefined;
  /** Whether it was in flight when the client's entry moved (or, when no move was seen, at the takeover). */
  inFlightAtFlip: boolean;
}

/** Waits until one node alone answers for the IP for a second on end; returns it. */
async function stableOwner(topo: Topology, vip: string): Promise<string> {
  for (;;) {
    const a = await topo.waitOwner(vip, undefined, 60_000);
    await sleep(1000);
    const b = await topo.waitOwner(vip, undefined, 60_000);
    if (a === b) return a;
  }
}

/** Starts the probes and waits until HTTP answers flow (a trial's common start). */
async function probes(bed: L2Bed, timeoutMs: number): Promise<{
  watch: ReturnType<Topology['watchNeighbor']>; loop: ReturnType<Topology['httpLoop']>; neigh: ReturnType<typeof monitorNeighbour>;
}> {
  const watch = bed.topo.watchNeighbor(bed.vip, { intervalMs: 20 });
  const neigh = monitorNeighbour(bed.topo, 'client', bed.vip);
  const loop = bed.topo.httpLoop(bed.url, { intervalMs: 20, timeoutMs });
  try {
    await until('the loop to get answers', () => (loop.results.some((r) => r.ok) ? true : undefined), 20_000);
  } catch (e) {
    await watch.stop(); neigh.stop(); await loop.stop();
    throw e;
  }
  await sleep(300);
  return { watch, loop, neigh };
}

const rel = (t: number | undefined, ref: number | undefined): number | undefined => (t === undefined || ref === undefined ? undefined : t - ref);

/**
 * Runs `trials` crash trials and `trials` graceful (SIGTERM) trials on a bed; returns the figures (ms) and the
 * targets. Throws only when the bed stops working (no owner, no traffic within the bounds).
 */
export async function l2FailoverTrials(bed: L2Bed, trials: number): Promise<Record<string, unknown>> {
  const { topo, vip, log } = bed;
  const revive = bed.revive ?? ((n: string): Promise<void> => topo.revive(n));
  const owners: string[] = [];

  const crashArp: number[] = [];
  const crashFlip: number[] = [];
  const crashHttp: number[] = [];
  const crashFailed: number[] = [];
  let crashMisses = 0;
  for (let i = 0; i < trials; i++) {
    const owner = await stableOwner(topo, vip);
    owners.push(owner);
    const ownerMac = topo.node(owner).mac;
    const { watch, loop, neigh } = await probes(bed, 200);
    const t0 = await topo.crash(owner);
    // crash() stamps its start; a request started before it returned may still have passed the cable
    const cut = Date.now();
    if (bed.afterCrash) await bed.afterCrash(owner);
    const first = await until('a reply from another node', () => watch.replies.find((r) => r.t >= t0 && r.mac !== ownerMac), 20_000, 5).catch(() => undefined);
    const back = await until('an HTTP answer after the crash', () => loop.results.find((r) => r.t >= cut && r.ok && (bed.via === undefined || bed.via(r.body ?? '') !== owner)), 20_000, 5).catch(() => undefined);
    await watch.stop();
    neigh.stop();
    const results = await loop.stop();
    const flip = neigh.changes.find((c) => c.t >= t0 && c.mac !== ownerMac);
    if (first) crashArp.push(first.t - t0); else crashMisses++;
    if (flip) crashFlip.push(flip.t - t0);
    if (back) crashHttp.push(back.t + back.ms - t0);
    crashFailed.push(results.filter((r) => r.t >= t0 && !r.ok).length);
    log(`crash ${i + 1}/${trials} of ${owner}: first ARP reply ${first ? first.t - t0 : 'none'} ms, client entry moved ${flip ? flip.t - t0 : 'unseen'} ms, traffic back ${back ? back.t + back.ms - t0 : 'none'} ms`);
    await revive(owner);
  }

  const gracefulArp: number[] = [];
  const gracefulFlip: number[] = [];
  const gracefulHttp: number[] = [];
  const gracefulFailed: number[] = [];
  const failures: FailedRequest[] = [];
  let gracefulMisses = 0;
  let badExits = 0;
  for (let i = 0; i < trials; i++) {
    const owner = await stableOwner(topo, vip);
    owners.push(owner);
    const ownerMac = topo.node(owner).mac;
    const { watch, loop, neigh } = await probes(bed, 500);
    const t0 = Date.now();
    const how = await topo.stopSpeaker(owner, 'SIGTERM');
    if (how !== 'code 0') badExits++;
    const first = await until('a reply from another node', () => watch.replies.find((r) => r.t >= t0 && r.mac !== ownerMac), 20_000, 5).catch(() => undefined);
    // the client's own entry moves when a gratuitous ARP arrives or after its entry went stale; wait for it
    await until('the client entry to move', () => neigh.changes.find((c) => c.t >= t0 && c.mac !== ownerMac), 10_000, 5).catch(() => undefined);
    const flip = neigh.changes.find((c) => c.t >= t0 && c.mac !== ownerMac);
    const newOwner = topo.nodeByMac(flip?.mac ?? first?.mac ?? '')?.name;
    const ref = flip?.t ?? first?.t;
    const back = ref === undefined ? undefined : await until('an answer through the new owner', () => loop.results.find((r) => r.t >= ref && r.ok && (bed.via === undefined || bed.via(r.body ?? '') === newOwner)), 10_000, 5).catch(() => undefined);
    await sleep(1000);
    await watch.stop();
    neigh.stop();
    const results = await loop.stop();
    if (first) gracefulArp.push(first.t - t0); else gracefulMisses++;
    if (flip) gracefulFlip.push(flip.t - t0);
    if (back) gracefulHttp.push(back.t + back.ms - t0);
    const failed = results.filter((r) => !r.ok);
    gracefulFailed.push(failed.length);
    for (const r of failed) failures.push(describeFailure(i + 1, r, first?.t, flip?.t));
    const atFlip = failures.filter((f) => f.trial === i + 1 && f.inFlightAtFlip).length;
    log(`graceful ${i + 1}/${trials} of ${owner}: exit ${how}, first ARP reply ${first ? first.t - t0 : 'none'} ms, client entry moved ${flip ? flip.t - t0 : 'unseen'} ms, answer through ${newOwner ?? '?'} ${back ? back.t + back.ms - t0 : 'none'} ms; ${failed.length} failed of ${results.length} (${atFlip} in flight at the move)${failed.length > 0 ? `: ${[...new Set(failed.map((f) => f.err ?? 'not 200'))].join('; ')}` : ''}`);
    await revive(owner);
  }

  const reasons: Record<string, number> = {};
  for (const f of failures) reasons[f.err] = (reasons[f.err] ?? 0) + 1;
  const total = gracefulFailed.reduce((a, b) => a + b, 0);
  const crashBack = summary(crashHttp);
  return {
    trials,
    owners: [...new Set(owners)].sort(),
    crashTakeoverMs: summary(crashArp),
    crashClientEntryMovedMs: summary(crashFlip),
    crashTrafficBackMs: crashBack,
    crashFailedRequestsMean: crashFailed.length === 0 ? undefined : Math.round(crashFailed.reduce((a, b) => a + b, 0) / crashFailed.length),
    crashNoTakeover: crashMisses,
    crashNoTrafficBack: trials - crashHttp.length,
    gracefulHandoverGapMs: summary(gracefulArp),
    gracefulClientEntryMovedMs: summary(gracefulFlip),
    gracefulTrafficThroughNewOwnerMs: summary(gracefulHttp),
    gracefulFailedRequests: total,
    gracefulFailedPerTrial: gracefulFailed,
    gracefulTrialsWithFailures: gracefulFailed.filter((x) => x > 0).length,
    gracefulFailedInFlightAtMacFlip: failures.filter((f) => f.inFlightAtFlip).length,
    gracefulFailureReasons: reasons,
    gracefulFailures: failures.slice(0, 60),
    gracefulNoTakeover: gracefulMisses,
    gracefulBadExits: badExits,
    targets: { crashP50Ms: 1000, crashP99Ms: 2000, gracefulFailedRequests: 0 },
    targetsMet: {
      crashP50: crashBack.p50 !== undefined && crashBack.p50 <= 1000 && crashHttp.length === trials,
      crashP99: crashBack.p99 !== undefined && crashBack.p99 <= 2000 && crashHttp.length === trials,
      gracefulZeroFailures: total === 0 && gracefulMisses === 0,
    },
  };
}

function describeFailure(trial: number, r: HttpResult, takeover: number | undefined, flip: number | undefined): FailedRequest {
  const end = r.t + r.ms;
  const at = flip ?? takeover;
  return {
    trial,
    err: r.err ?? `not 200: ${(r.body ?? '').slice(0, 60)}`,
    startVsTakeoverMs: rel(r.t, takeover), endVsTakeoverMs: rel(end, takeover),
    startVsClientFlipMs: rel(r.t, flip), endVsClientFlipMs: rel(end, flip),
    inFlightAtFlip: at !== undefined && r.t - FLIGHT_SLACK_MS <= at && end + FLIGHT_SLACK_MS >= at,
  };
}

/** The netlab bed (root only): three speakers, each node's own HTTP server; returns `{ failover: {...} }` or a skip. */
export async function failoverBench(trials = Number(process.env.BENCH_FAILOVER_TRIALS ?? 20)): Promise<Record<string, unknown>> {
  if (netlabSkip) {
    process.stderr.write(`\n*** failover bench SKIPPED: ${netlabSkip} ***\n\n`);
    return { failover: { skipped: netlabSkip } };
  }
  const log = (m: string): void => { process.stderr.write(`[failover] ${m}\n`); };
  const topo = await Topology.start({ nodes: 3, tag: 'fb', bird: false, log });
  try {
    await topo.applyBaseConfig({ l2: true, bgp: false });
    topo.startController();
    await topo.service('bench', [VIP]);
    await topo.waitServiceIPs('bench', 1, 60_000);
    await topo.startSpeakers();
    log(`owner of ${VIP}: ${await topo.waitOwner(VIP, undefined, 60_000)}`);
    const r = await l2FailoverTrials({ topo, vip: VIP, url: `http://${VIP}:8080/`, via: (body) => body, log }, trials);
    return {
      failover: {
        ...r,
        method: 'netlab (no kube-proxy: each node answers itself); arping every 20 ms, ip monitor neigh, and an HTTP GET (new connection, 200/500 ms timeout) every 20 ms from the LAN client; 3 nodes',
      },
    };
  } finally {
    await topo.destroy();
  }
}
