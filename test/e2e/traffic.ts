/**
 * What the end-to-end suites (test/e2e/*.test.ts) share on top of the lab's public API (tools/lab/api.ts):
 * starting one lab per file with a loud skip when not root, seeing on the wire which node carried the traffic
 * (nftables counters inside the node namespaces), reading an HTTP loop's gaps and failures, a UDP probe, and
 * bringing a node back after a test broke it. Nothing here reaches into the lab's internals: it uses the lab's
 * methods, kubectl, and commands run inside the lab's own namespaces (`lab.lab`).
 *
 * Durations are printed, never asserted: the waits below only bound a hang (the bench measures).
 */
import type { TestContext } from 'node:test';
import { startLab } from '../../tools/lab/cluster.ts';
import type { LabCluster } from '../../tools/lab/api.ts';
import { netlabSkip } from '../netlab/netns.ts';
import { until, type HttpResult } from '../netlab/topology.ts';
import { compareForIP } from '../../src/speaker/rank.ts';

/** Why the e2e suites cannot run here (not root, …), or undefined. */
export const e2eSkip: string | undefined = netlabSkip === undefined ? undefined : `e2e (the lab) ${netlabSkip}`;
if (e2eSkip) process.stderr.write(`\n*** ${e2eSkip}: e2e tests SKIPPED ***\n\n`);

/** Skips the test loudly when the lab cannot run; returns whether it did. */
export function skipped(t: TestContext): boolean {
  if (e2eSkip) t.skip(e2eSkip);
  return e2eSkip !== undefined;
}

/** Brings a lab up for one test file, progress on stderr, and the start time printed. */
export async function startE2eLab(tag: string, opts: { bird?: boolean } = {}): Promise<LabCluster> {
  const t0 = Date.now();
  const lab = await startLab({ nodes: 3, tag, ...(opts.bird !== undefined && { bird: opts.bird }), log: (m) => { process.stderr.write(`[lab ${tag}] ${m}\n`); } });
  process.stderr.write(`[measure] lab ${tag} up in ${Date.now() - t0} ms\n`);
  return lab;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Prints a measured value (diagnostic + stderr), never asserted. */
export function report(t: TestContext, line: string): void {
  t.diagnostic(line);
  process.stderr.write(`[measure] ${line}\n`);
}

/** The node the rank puts first for `ip` among `nodes` (the planned L2 owner when all are eligible). */
export function planned(ip: string, nodes: readonly string[]): string {
  return [...nodes].sort(compareForIP(ip))[0]!;
}

/** `http://IP:PORT/` with IPv6 brackets. */
export function url(ip: string, port = 80): string {
  return ip.includes(':') ? `http://[${ip}]:${port}/` : `http://${ip}:${port}/`;
}

/** The pod and node an answer names (`pod=<pod> node=<node>`), or undefined for anything else. */
export function answer(body: string | undefined): { pod: string; node: string } | undefined {
  const m = /^pod=(\S+) node=(\S+)$/.exec((body ?? '').trim());
  return m ? { pod: m[1]!, node: m[2]! } : undefined;
}

/** The Service's IPs split by family (waits until it has `n`). */
export async function serviceIPs(lab: LabCluster, name: string, n = 2): Promise<{ v4: string | undefined; v6: string | undefined; all: string[] }> {
  const all = await lab.waitServiceIPs(name, n, 60_000);
  return { v4: all.find((ip) => !ip.includes(':')), v6: all.find((ip) => ip.includes(':')), all: [...all].sort() };
}

/** The MAC the LAN client's neighbour table holds for `ip` (what its next packet goes to), if any. */
export function clientNeighbor(lab: LabCluster, ip: string, from = 'client'): string | undefined {
  const out = lab.lab.ip(from, ...(ip.includes(':') ? ['-6'] : []), 'neigh', 'show', ip);
  return /lladdr (\S+)/.exec(out)?.[1]?.toLowerCase();
}

/**
 * Counters of new TCP connections (SYNs) to some IPs arriving at each node, in an nftables table of our own in
 * every node namespace (prerouting, before kube-proxy's DNAT): which node a client's traffic went through.
 */
export interface IngressCounters {
  /** node → SYNs seen for `ip` since the table was made. */
  read(ip: string): Map<string, number>;
  /** The nodes whose count for `ip` grew since `before`. */
  grewSince(ip: string, before: Map<string, number>): string[];
  remove(): void;
}

const COUNTER_TABLE = 'bge2e';

/** Installs {@link IngressCounters} for `ips` on every node of the lab. */
export function ingressCounters(lab: LabCluster, ips: readonly string[]): IngressCounters {
  const rules = ips.map((ip) => `    ${ip.includes(':') ? 'ip6' : 'ip'} daddr ${ip} tcp flags syn counter`);
  for (const n of lab.nodes) {
    try { lab.lab.exec(n.name, 'nft', ['delete', 'table', 'inet', COUNTER_TABLE]); } catch { /* none yet */ }
    lab.lab.exec(n.name, 'nft', ['-f', '-'], [
      `table inet ${COUNTER_TABLE} {`,
      '  chain pre { type filter hook prerouting priority -300; policy accept;',
      ...rules,
      '  }',
      '}',
    ].join('\n'));
  }
  const read = (ip: string): Map<string, number> => {
    const m = new Map<string, number>();
    for (const n of lab.nodes) {
      const out = lab.lab.exec(n.name, 'nft', ['list', 'chain', 'inet', COUNTER_TABLE, 'pre']);
      let count = 0;
      for (const line of out.split('\n')) {
        const r = /daddr (\S+) .*counter packets (\d+)/.exec(line);
        if (r && r[1] === ip) count += Number(r[2]);
      }
      m.set(n.name, count);
    }
    return m;
  };
  return {
    read,
    grewSince: (ip, before) => [...read(ip)].filter(([n, c]) => c > (before.get(n) ?? 0)).map(([n]) => n).sort(),
    remove: () => {
      for (const n of lab.nodes) {
        try { lab.lab.exec(n.name, 'nft', ['delete', 'table', 'inet', COUNTER_TABLE]); } catch { /* gone */ }
      }
    },
  };
}

/** What an HTTP loop went through around an event at `t0`. */
export interface LoopSummary {
  total: number;
  failed: HttpResult[];
  /** From `t0` to the first request, started after the last failure at or after `t0`, that succeeded; 0 when none failed. */
  gapMs: number | undefined;
}

/** Summarises a loop's results around `t0` (see {@link LoopSummary}). */
export function summarise(results: readonly HttpResult[], t0: number): LoopSummary {
  const failed = results.filter((r) => !r.ok);
  const lastFail = failed.filter((r) => r.t >= t0).at(-1);
  if (!lastFail) return { total: results.length, failed, gapMs: 0 };
  const back = results.find((r) => r.ok && r.t > lastFail.t);
  return { total: results.length, failed, gapMs: back ? back.t - t0 : undefined };
}

/** One line per failed request, for messages: seq, start time relative to `t0`, duration, error. */
export function describeFailures(failed: readonly HttpResult[], t0: number): string {
  return failed.map((r) => `#${r.seq} at ${r.t - t0} ms (${r.ms} ms): ${r.err ?? `body ${JSON.stringify(r.body)}`}`).join('; ');
}

/**
 * Waits until a loop has `n` successive successful answers after `since` (traffic has resumed), each naming
 * a pod; returns those answers. `ok` may reject answers (e.g. from a pod on a dead node).
 */
export function resumed(loop: { results: HttpResult[] }, since: number, n: number, what: string, ok: (a: { pod: string; node: string }) => boolean = () => true, ms = 30_000): Promise<HttpResult[]> {
  return until(() => `${n} successive answers after ${what}; last: ${JSON.stringify(loop.results.slice(-3))}`, () => {
    const after = loop.results.filter((r) => r.t >= since);
    let run: HttpResult[] = [];
    for (const r of after) {
      const a = r.ok ? answer(r.body) : undefined;
      run = a && ok(a) ? [...run, r] : [];
      if (run.length >= n) return run;
    }
    return undefined;
  }, ms, 50);
}

const UDP_PROBE = `
const dgram = require('node:dgram');
const [ip, port, timeout] = process.argv.slice(1);
const s = dgram.createSocket(ip.includes(':') ? 'udp6' : 'udp4');
s.on('error', (e) => { console.log(JSON.stringify({ error: e.message })); process.exit(0); });
const t = setTimeout(() => { console.log(JSON.stringify({ error: 'timeout' })); process.exit(0); }, Number(timeout));
s.on('message', (m) => { clearTimeout(t); console.log(JSON.stringify({ body: m.toString() })); process.exit(0); });
s.send('ping', Number(port), ip);
`;

/** One UDP datagram to ip:port from a namespace; the answer's text or an error. */
export async function udpProbe(lab: LabCluster, from: string, ip: string, port: number, timeoutMs = 2000): Promise<{ body?: string; error?: string }> {
  const r = await lab.lab.run(from, process.execPath, ['-e', UDP_PROBE, ip, String(port), String(timeoutMs)], timeoutMs + 5000);
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  if (!line.startsWith('{')) return { error: `udp probe failed (${r.code}): ${r.stderr.slice(-300)}` };
  return JSON.parse(line) as { body?: string; error?: string };
}

/**
 * Brings a node back to normal after a test broke it (also a failed one): cable in, management link up,
 * kube-proxy and speaker running (speaker ready), and every pod on it Ready again (after evictNode).
 */
export async function heal(lab: LabCluster, node: string): Promise<void> {
  lab.cable(node, true);
  lab.apiAccess(node, true);
  if (!lab.kubeProxyRunning(node)) await lab.startKubeProxy(node);
  if (!lab.speakerRunning(node)) { lab.startSpeaker(node); await lab.waitReady(node); }
  const ready = await readyPods(lab);
  for (const p of lab.pods.values()) if (p.node === node && !ready.has(p.name)) await lab.setPodReady(p.name, true);
}

/** Names of the Pods (namespace default) whose Ready condition is True. */
export async function readyPods(lab: LabCluster): Promise<Set<string>> {
  const r = await lab.kubectl(['get', 'pods', '-n', 'default', '-o', 'json']);
  if (r.code !== 0) throw new Error(`kubectl get pods: ${r.stderr}`);
  const items = (JSON.parse(r.stdout) as { items: { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }[] }).items;
  return new Set(items.filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).map((p) => p.metadata.name));
}

/** {@link heal} for every node. */
export async function healAll(lab: LabCluster): Promise<void> {
  for (const n of lab.nodes) await heal(lab, n.name);
}

/** The next hops BIRD holds for `prefix`, sorted. */
export async function nextHops(lab: LabCluster, prefix: string): Promise<string[]> {
  return (await lab.birdRoutes(prefix)).map((r) => r.nextHop).sort();
}

/** Waits until BIRD's next hops for `prefix` are exactly `want` (sorted compare); returns them. */
export function waitNextHops(lab: LabCluster, prefix: string, want: readonly string[], ms = 60_000): Promise<string[]> {
  const w = [...want].sort();
  let last: string[] = [];
  return until(() => `BIRD next hops for ${prefix} to be [${w.join(', ')}] (last: [${last.join(', ')}])`, async () => {
    last = await nextHops(lab, prefix);
    return JSON.stringify(last) === JSON.stringify(w) ? last : undefined;
  }, ms, 200);
}

/** A node's LAN address of the family of `ip`. */
export function nodeAddr(lab: LabCluster, node: string, ip: string): string {
  const n = lab.node(node);
  return ip.includes(':') ? n.ipv6 : n.ipv4;
}

/** `ip/32` or `ip/128`. */
export function hostPrefix(ip: string): string {
  return `${ip}/${ip.includes(':') ? 128 : 32}`;
}

/** The router spreads flows over ECMP next hops by L4 hash (the kernel default hashes L3 only: one client, one path). */
export function routerL4Hash(lab: LabCluster): void {
  lab.lab.sysctl('router', 'net.ipv4.fib_multipath_hash_policy', '1');
  lab.lab.sysctl('router', 'net.ipv6.fib_multipath_hash_policy', '1');
}
