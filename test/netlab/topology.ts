/**
 * The multi-node netlab topology: a real kube-apiserver + etcd, N node namespaces on a LAN bridge running
 * real `baregate speaker` processes, a LAN client, and a BIRD router with a routed client behind it. It is
 * the base of the speaker's end-to-end tests, the failover bench and (issue 10) the lab, so it is a module
 * with an API, not a test file.
 *
 * ```
 *  root namespace (the test process): etcd + kube-apiserver on 127.0.0.1:PORT, the baregate controller,
 *                                       the unix-socket side of every relay (relay.ts)
 *  ── nothing else in the root namespace: no address, no route, no interface ──
 *
 *  sw (bridge br0) ─┬─ n1 eth0 192.0.2.11  2001:db8:2::11   relay 127.0.0.1:PORT → unix socket; speaker; http :8080
 *                   ├─ n2 eth0 192.0.2.12  2001:db8:2::12   (Service pools on lo, arp_ignore=1/arp_announce=2)
 *                   ├─ n3 …
 *                   ├─ client eth0 192.0.2.100  2001:db8:2::100   (arping, ndisc6, HTTP loops)
 *                   └─ router eth0 192.0.2.1  2001:db8:2::1   BIRD 2 (eBGP AS 64512 with every node, ECMP
 *                        eth1 203.0.113.1  2001:db8:3::1       `merge paths` into its own kernel table)
 *                          └─ wclient eth0 203.0.113.10  2001:db8:3::10
 * ```
 *
 * Node namespaces reach the apiserver through relay.ts only, so killing a node's relay is exactly
 * "apiserver unreachable from that node". Everything is torn down by {@link Topology.destroy}, and by
 * netns.ts / the cluster harness on process exit or a signal, also when a test fails.
 */
import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { clientKubeconfigSync, readAudit, startCluster, type AuditEvent, type RunResult, type TestCluster } from '../harness/cluster.ts';
import { Lab } from './netns.ts';
import { relayUnixToTcp, type Relay } from './relay.ts';
import { parseBirdRoutes, type Route } from './routers.ts';
import { HEARTBEAT_PORT, HEARTBEAT_SECRET, HEARTBEAT_SECRET_KEY, Kinds, API_VERSION, SYSTEM_NAMESPACE } from '../../src/api/keys.ts';
import { until } from '../harness/wait.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(ROOT, 'src/cli/main.ts');
const RELAY = fileURLToPath(new URL('./relay.ts', import.meta.url));

/** The LAN: node i (1-based) has .10+i / ::10+i (hex), the client .100, the router .1. */
export const LAN = {
  v4: '192.0.2.0/24', v6: '2001:db8:2::/64',
  router4: '192.0.2.1', router6: '2001:db8:2::1',
  client4: '192.0.2.100', client6: '2001:db8:2::100',
} as const;
/** The routed side behind the BIRD router (BGP-mode client). */
export const WAN = {
  v4: '203.0.113.0/24', v6: '2001:db8:3::/64',
  router4: '203.0.113.1', router6: '2001:db8:3::1',
  client4: '203.0.113.10', client6: '2001:db8:3::10',
} as const;
/** Service pools: L2 addresses inside the LAN subnet; BGP addresses outside it (reached through the router). */
export const POOLS = {
  l2: { name: 'lan', addresses: ['192.0.2.200-192.0.2.220', '2001:db8:2::200-2001:db8:2::220'] },
  bgp: { name: 'routed', addresses: ['198.51.100.10-198.51.100.30', '2001:db8:5::10-2001:db8:5::30'] },
} as const;
/** AS numbers: the router and every node (eBGP, so BIRD's ECMP merges the nodes' paths). */
export const ASN = { router: 64512, nodes: 64513 } as const;
/** BFD timers of the router and of the lab's BFDProfile `fast` (ARCHITECTURE.md §6: 300 ms × 3). */
export const BFD = { profile: 'fast', intervalMs: 300, multiplier: 3 } as const;
/** Default ports of a speaker (CLI defaults). */
export const SPEAKER_PORTS = { metrics: 7473, heartbeat: HEARTBEAT_PORT } as const;

/** Every address of a range `a-b` (IPv4 or IPv6, the last 16 bits varying), or a single address. */
export function rangeAddresses(range: string): string[] {
  const [lo, hi = lo] = range.split('-') as [string, string?];
  if (!lo.includes(':')) {
    const toN = (s: string): number => s.split('.').reduce((n, o) => n * 256 + Number(o), 0);
    const toS = (n: number): string => [24, 16, 8, 0].map((b) => String((n >>> b) & 255)).join('.');
    const out: string[] = [];
    for (let n = toN(lo); n <= toN(hi); n++) out.push(toS(n));
    return out;
  }
  const base = lo.slice(0, lo.lastIndexOf(':') + 1);
  const last = (s: string): number => parseInt(s.slice(s.lastIndexOf(':') + 1), 16);
  const out: string[] = [];
  for (let n = last(lo); n <= last(hi); n++) out.push(`${base}${n.toString(16)}`);
  return out;
}

/** One node of the topology. */
export interface TopoNode {
  /** Kubernetes node name = lab host name (`n1`, …). */
  readonly name: string;
  readonly ipv4: string;
  readonly ipv6: string;
  /** MAC of its eth0: what a client sees when this node answers ARP/NDP. */
  readonly mac: string;
  /** Kubeconfig of its speaker (user `speaker:NAME`, in system:masters: RBAC is not under test here). */
  readonly kubeconfig: string;
}

/** A running speaker process in a node namespace. */
export interface SpeakerProc {
  readonly node: string;
  readonly child: ChildProcessWithoutNullStreams;
  /** The tail of its stdout (JSON logs) and stderr. */
  log: string;
  /** Resolves with how it ended (`code N` / `signal S`). */
  readonly exited: Promise<string>;
}

/** One reply seen by a neighbour watch: when the test process read it (ms since epoch) and the MAC. */
export interface NeighReply { t: number; mac: string }

/** A continuous ARP (arping every ~20 ms) or NDP (ndisc6 loop) probe from a namespace. */
export interface NeighWatch {
  readonly replies: NeighReply[];
  /** Distinct MACs seen since `from` (ms since epoch). */
  macs(from?: number): Set<string>;
  /** The first reply at or after `from` whose MAC is `mac` (any MAC when omitted). */
  first(from: number, mac?: string): NeighReply | undefined;
  stop(): Promise<void>;
}

/** One request of an HTTP loop. */
export interface HttpResult { seq: number; t: number; ms: number; ok: boolean; body?: string; err?: string }

/** A client loop issuing one HTTP GET (new connection) every `intervalMs`. */
export interface HttpLoop {
  readonly results: HttpResult[];
  stop(): Promise<HttpResult[]>;
}

/** Options of {@link Topology.start}. */
export interface TopologyOptions {
  /** Number of nodes (default 3). */
  nodes?: number;
  /** Namespace tag (default `tp`). */
  tag?: string;
  /** Start the BIRD router (default true). */
  bird?: boolean;
  /** Progress messages. */
  log?: (msg: string) => void;
}

export { until } from '../harness/wait.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Keeps the last `max` characters of a child's stdout+stderr in `sink.log` (failure messages quote it). */
export function keepTail(child: ChildProcess, sink: { log: string }, max = 200_000): void {
  const add = (d: Buffer): void => { sink.log = (sink.log + d.toString()).slice(-max); };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
}

/** Resolves with how a child ended (`code N` / `signal S`), also when it already has. */
export function exitedOf(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) { resolve(child.signalCode ? `signal ${child.signalCode}` : `code ${String(child.exitCode)}`); return; }
    child.once('exit', (code, sig) => { resolve(sig ? `signal ${sig}` : `code ${String(code)}`); });
  });
}

// root-namespace children (controller, status runs) die with the test process, whatever happens
const rootChildren = new Set<ChildProcess>();
process.on('exit', () => { for (const c of rootChildren) c.kill('SIGKILL'); });

const HTTP_SERVER = (name: string): string => `
const http = require('node:http');
const s = http.createServer((q, r) => { r.setHeader('connection', 'close'); r.end(${JSON.stringify(name)}); });
s.on('error', (e) => { console.error(e.message); process.exit(1); });
s.listen({ port: 8080, host: '::', ipv6Only: false }, () => { console.log('http ready'); });
`;

const HTTP_LOOP = `
const http = require('node:http');
const [url, interval, timeout] = process.argv.slice(1);
let seq = 0;
const out = (o) => { process.stdout.write(JSON.stringify(o) + '\\n'); };
const one = () => {
  const s = seq++, t = Date.now();
  let done = false;
  const fin = (o) => { if (!done) { done = true; out({ seq: s, t, ms: Date.now() - t, ...o }); } };
  const req = http.get(url, { agent: false, timeout: Number(timeout) }, (res) => {
    let b = '';
    res.setEncoding('utf8');
    res.on('data', (d) => { b += d; });
    res.on('end', () => { fin({ ok: res.statusCode === 200, body: b }); });
    res.on('error', (e) => { fin({ ok: false, err: e.message }); });
  });
  req.on('timeout', () => { req.destroy(new Error('timeout')); });
  req.on('error', (e) => { fin({ ok: false, err: e.message }); });
};
const iv = setInterval(one, Number(interval));
one();
process.stdin.on('data', () => undefined);
process.stdin.on('end', () => { clearInterval(iv); setTimeout(() => process.exit(0), Number(timeout) + 100); });
`;

const HTTP_GET = `
const http = require('node:http');
const req = http.get(process.argv[1], { agent: false, timeout: Number(process.argv[2] ?? 2000) }, (res) => {
  let b = ''; res.setEncoding('utf8'); res.on('data', (d) => { b += d; });
  res.on('end', () => { console.log(JSON.stringify({ status: res.statusCode, body: b })); });
});
req.on('timeout', () => { req.destroy(new Error('timeout')); });
req.on('error', (e) => { console.log(JSON.stringify({ error: e.message })); });
`;

/**
 * Multihop sessions the router may run besides the direct ones: eBGP multihop from its loopback addresses to every
 * node (`NAMEmh4`, `NAMEmh6`), with multihop BFD at these timers; their routes are not imported (the direct
 * sessions' ECMP stays as it is).
 */
export interface RouterMultihop { local4: string; local6: string; intervalMs: number; multiplier: number }

/** The BIRD router's config: eBGP with every node (a v4 and a v6 session each), ECMP into its own kernel table. */
export function routerBirdConfig(nodes: readonly { name: string; ipv4: string; ipv6: string }[], multihop?: RouterMultihop): string {
  const lines = [
    `router id ${LAN.router4};`,
    'log stderr all;',
    'timeformat route iso long ms;',
    'timeformat protocol iso long ms;',
    'protocol device { scan time 2; }',
    'protocol direct { ipv4; ipv6; interface "eth*"; }',
    // the router namespace's own kernel table (a namespace this topology made): ECMP over the nodes
    'protocol kernel k4 { merge paths on; ipv4 { import none; export where source = RTS_BGP; }; }',
    'protocol kernel k6 { merge paths on; ipv6 { import none; export where source = RTS_BGP; }; }',
    // BFD (RFC 5880/5881) with every node at the timers of the lab's BFDProfile: a dead node leaves in 3 × 300 ms
    `protocol bfd { interface "eth*" { min rx interval ${BFD.intervalMs} ms; min tx interval ${BFD.intervalMs} ms; multiplier ${BFD.multiplier}; };${
      multihop ? ` multihop { min rx interval ${multihop.intervalMs} ms; min tx interval ${multihop.intervalMs} ms; multiplier ${multihop.multiplier}; };` : ''} }`,
    'template bgp node {',
    `  local as ${ASN.router};`,
    '  direct;',
    '  bfd on;',
    '  connect delay time 1;',
    '  connect retry time 2;',
    '  error wait time 1, 3;',
    '  error forget time 10;',
    '}',
  ];
  for (const n of nodes) {
    lines.push(`protocol bgp ${n.name}v4 from node { local ${LAN.router4} as ${ASN.router}; neighbor ${n.ipv4} as ${ASN.nodes}; ipv4 { import all; export none; }; }`);
    lines.push(`protocol bgp ${n.name}v6 from node { local ${LAN.router6} as ${ASN.router}; neighbor ${n.ipv6} as ${ASN.nodes}; ipv6 { import all; export none; }; }`);
    if (multihop) {
      // BIRD locks a session on (neighbor address, neighbor port): the direct session to this node holds port 179,
      // so the multihop one names another and is passive (only the node connects, to 179 on the loopback address)
      const mh = (local: string, neighbor: string, af: string): string => `local ${local} as ${ASN.router}; neighbor ${neighbor} port 1179 as ${ASN.nodes}; passive on; multihop; ${af} { import none; export none; };`;
      lines.push(`protocol bgp ${n.name}mh4 from node { ${mh(multihop.local4, n.ipv4, 'ipv4')} }`);
      lines.push(`protocol bgp ${n.name}mh6 from node { ${mh(multihop.local6, n.ipv6, 'ipv6')} }`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** One of BIRD's BFD sessions as `show bfd sessions` prints it (timers in ms). */
export interface BirdBfdSession { address: string; state: string; multihop: boolean; intervalMs: number; timeoutMs: number }

/** The running topology; build it with {@link Topology.start}. */
export class Topology {
  readonly nodes: TopoNode[] = [];
  /** Unix socket the node relays connect to. */
  readonly apiSocket: string;
  /** The apiserver port (127.0.0.1 here and, through the relays, in every node namespace). */
  readonly apiPort: number;
  readonly speakers = new Map<string, SpeakerProc>();
  private readonly relays = new Map<string, ChildProcessWithoutNullStreams>();
  private readonly https = new Map<string, ChildProcessWithoutNullStreams>();
  protected controller: ChildProcess | undefined;
  protected controllerLog = { log: '' };
  private bird: ChildProcessWithoutNullStreams | undefined;
  readonly birdLog = { log: '' };
  private rootRelay: Relay | undefined;
  private destroyed = false;

  protected constructor(readonly lab: Lab, readonly cluster: TestCluster, readonly dir: string, readonly log: (m: string) => void) {
    this.apiSocket = join(dir, 'api.sock');
    this.apiPort = Number(new URL(cluster.server).port);
  }

  /** Brings the whole topology up (cluster, namespaces, relays, Nodes, heartbeat Secret, HTTP servers, BIRD). */
  static async start(opts: TopologyOptions = {}): Promise<Topology> {
    const n = opts.nodes ?? 3;
    const t0 = Date.now();
    const log = (m: string): void => { opts.log?.(`[topology +${Date.now() - t0}ms] ${m}`); };
    const cluster = await startCluster({ crdDir: join(ROOT, 'deploy', 'crds'), log: (m) => { log(`cluster ${m}`); } });
    const lab = new Lab(opts.tag ?? 'tp');
    const topo = new Topology(lab, cluster, mkdtempSync(join(tmpdir(), 'bg-topo-')), log);
    try {
      await topo.build(n, opts.bird ?? true);
    } catch (e) {
      await topo.destroy();
      throw e;
    }
    log('up');
    return topo;
  }

  /**
   * Builds the namespaces and starts the parts; the steps a lab does differently (how nodes reach the apiserver,
   * what a node holds, what runs on it) are the protected hooks below, so the topology itself stays as it was.
   */
  protected async build(n: number, withBird: boolean): Promise<void> {
    const { lab } = this;
    await this.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: SYSTEM_NAMESPACE } }); // the lab's bundle may have made it
    await this.connectApi();

    lab.addSwitch('sw');
    for (let i = 1; i <= n; i++) {
      const name = `n${i}`;
      const ipv4 = `192.0.2.${10 + i}`;
      const ipv6 = `2001:db8:2::${(0x10 + i).toString(16)}`;
      const { mac } = lab.addHost(name, 'sw', [`${ipv4}/24`, `${ipv6}/64`]);
      // Service IPs are delivered locally (kube-proxy comes in issue 10): on lo, and the kernel must never
      // answer ARP for them itself: only the speaker does (arp_ignore=1: answer only for addresses on the
      // receiving interface; arp_announce=2: never use a lo address as the source of our own requests)
      for (const scope of ['all', 'eth0']) {
        lab.sysctl(name, `net.ipv4.conf.${scope}.arp_ignore`, '1');
        lab.sysctl(name, `net.ipv4.conf.${scope}.arp_announce`, '2');
      }
      this.prepareNode(name, i);
      lab.ip(name, 'route', 'add', 'default', 'via', LAN.router4);
      lab.ip(name, '-6', 'route', 'add', 'default', 'via', LAN.router6);
      this.nodes.push({ name, ipv4, ipv6, mac, kubeconfig: this.nodeKubeconfig(name) });
    }
    lab.addHost('client', 'sw', [`${LAN.client4}/24`, `${LAN.client6}/64`]);
    lab.ip('client', 'route', 'add', WAN.v4, 'via', LAN.router4);
    lab.ip('client', '-6', 'route', 'add', WAN.v6, 'via', LAN.router6);
    lab.addHost('router', 'sw', [`${LAN.router4}/24`, `${LAN.router6}/64`]);
    lab.addNamespace('wclient');
    lab.addLink('router', 'eth1', 'wclient', 'eth0');
    lab.ip('router', 'addr', 'add', `${WAN.router4}/24`, 'dev', 'eth1');
    lab.ip('router', 'addr', 'add', `${WAN.router6}/64`, 'dev', 'eth1', 'nodad');
    lab.ip('wclient', 'addr', 'add', `${WAN.client4}/24`, 'dev', 'eth0');
    lab.ip('wclient', 'addr', 'add', `${WAN.client6}/64`, 'dev', 'eth0', 'nodad');
    lab.ip('wclient', 'route', 'add', 'default', 'via', WAN.router4);
    lab.ip('wclient', '-6', 'route', 'add', 'default', 'via', WAN.router6);
    lab.sysctl('router', 'net.ipv4.ip_forward', '1');
    lab.sysctl('router', 'net.ipv6.conf.all.forwarding', '1');
    this.log(`namespaces up (${n} nodes)`);

    await Promise.all([
      ...this.nodes.map((nd) => this.registerNode(nd)),
      ...[this.heartbeatSecret()].filter((x) => x !== undefined).map((x) => this.apply(x)),
      ...this.nodes.map((nd) => this.startNodeParts(nd.name)),
      ...(withBird ? [this.startBird()] : []),
    ]);
    this.log('nodes registered, relays, HTTP servers and BIRD up');
  }

  /** The heartbeat key Secret the topology creates itself; undefined when the controller is to create it (the lab). */
  protected heartbeatSecret(): Record<string, unknown> | undefined {
    return {
      apiVersion: 'v1', kind: 'Secret', metadata: { name: HEARTBEAT_SECRET, namespace: SYSTEM_NAMESPACE },
      type: 'Opaque', data: { [HEARTBEAT_SECRET_KEY]: randomBytes(32).toString('base64') },
    };
  }

  /** How the node namespaces will reach the apiserver: here the root side of the relays (a unix socket). */
  protected async connectApi(): Promise<void> {
    this.rootRelay = await relayUnixToTcp(this.apiSocket, this.apiPort);
  }

  /** What a node namespace holds besides eth0: here every pool address on lo (Service IPs delivered locally). */
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- the lab's nodes need the index (their pod CIDR)
  protected prepareNode(name: string, _index: number): void {
    const poolAddrs = [...POOLS.l2.addresses, ...POOLS.bgp.addresses].flatMap(rangeAddresses);
    this.lab.ipBatch(name, poolAddrs.map((a) => (a.includes(':') ? `addr add ${a}/128 dev lo nodad` : `addr add ${a}/32 dev lo`)));
  }

  /** The kubeconfig of a node's speaker: here https://127.0.0.1:PORT, through the node's relay. */
  protected nodeKubeconfig(name: string): string {
    return clientKubeconfigSync(this.cluster.dataDir, `speaker:${name}`, ['system:masters']);
  }

  /** What runs on a node before the speakers: here its relay and its HTTP server (the Service's backend). */
  protected async startNodeParts(node: string): Promise<void> {
    await Promise.all([this.startRelay(node), this.startHttp(node)]);
  }

  /** The `spec` of a Node object (none here; the lab sets podCIDRs). */
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- the lab's nodes have one
  protected nodeSpec(_nd: TopoNode): Record<string, unknown> | undefined {
    return undefined;
  }

  /** The node of this name (throws when there is none). */
  node(name: string): TopoNode {
    const nd = this.nodes.find((x) => x.name === name);
    if (!nd) throw new Error(`no node ${name}`);
    return nd;
  }

  /** The node whose eth0 has this MAC, if any. */
  nodeByMac(mac: string): TopoNode | undefined {
    return this.nodes.find((x) => x.mac === mac.toLowerCase());
  }

  // ───────────── Kubernetes ─────────────

  /** kubectl as admin (never throws on a non-zero exit). */
  kubectl(args: string[], stdin?: string): Promise<RunResult> {
    return this.cluster.kubectl(args, stdin);
  }

  /** Server-side applies objects as admin; throws on failure. */
  async apply(...objs: unknown[]): Promise<void> {
    const r = await this.kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=netlab', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objs }));
    if (r.code !== 0) throw new Error(`kubectl apply: ${r.stderr}${r.stdout}`);
  }

  /** kubectl that must succeed; returns stdout. */
  async mustKubectl(args: string[], stdin?: string): Promise<string> {
    const r = await this.kubectl(args, stdin);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** Creates the Node object with InternalIP v4+v6 and Ready=True (no kubelet runs: the status is set here). */
  async registerNode(nd: TopoNode, labels: Record<string, string> = {}): Promise<void> {
    const spec = this.nodeSpec(nd);
    await this.apply({ apiVersion: 'v1', kind: 'Node', metadata: { name: nd.name, labels: { 'kubernetes.io/hostname': nd.name, 'kubernetes.io/os': 'linux', ...labels } }, ...(spec && { spec }) });
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await this.mustKubectl(['patch', 'node', nd.name, '--subresource=status', '--type=merge', '-p', JSON.stringify({
      status: {
        addresses: [{ type: 'InternalIP', address: nd.ipv4 }, { type: 'InternalIP', address: nd.ipv6 }, { type: 'Hostname', address: nd.name }],
        conditions: [{ type: 'Ready', status: 'True', reason: 'NetlabReady', message: 'netlab node', lastHeartbeatTime: now, lastTransitionTime: now }],
      },
    })]);
  }

  /** Sets (value string) or removes (null) a label on a Node. */
  async labelNode(name: string, key: string, value: string | null): Promise<void> {
    await this.mustKubectl(['label', 'node', name, '--overwrite', value === null ? `${key}-` : `${key}=${value}`]);
  }

  /**
   * The pools, an L2Advertisement for the LAN pool and, with `bgp`, BGPPeers (v4 + v6 to the router) and a
   * BGPAdvertisement; the peers use the BFDProfile `fast` (300 ms × 3, as the router) unless `bfd` is false.
   */
  async applyBaseConfig(opts: { l2?: boolean; bgp?: boolean; bfd?: boolean; communities?: string[] } = {}): Promise<void> {
    const objs: unknown[] = [
      { apiVersion: API_VERSION, kind: Kinds.IPAddressPool.kind, metadata: { name: POOLS.l2.name }, spec: { addresses: [...POOLS.l2.addresses], autoAssign: false } },
      { apiVersion: API_VERSION, kind: Kinds.IPAddressPool.kind, metadata: { name: POOLS.bgp.name }, spec: { addresses: [...POOLS.bgp.addresses], autoAssign: false } },
    ];
    if (opts.l2 ?? true) objs.push({ apiVersion: API_VERSION, kind: Kinds.L2Advertisement.kind, metadata: { name: 'lan' }, spec: { ipAddressPools: [POOLS.l2.name] } });
    if (opts.bgp ?? false) {
      const bfd = opts.bfd ?? true;
      if (bfd) objs.push({ apiVersion: API_VERSION, kind: Kinds.BFDProfile.kind, metadata: { name: BFD.profile }, spec: { receiveInterval: BFD.intervalMs, transmitInterval: BFD.intervalMs, detectMultiplier: BFD.multiplier } });
      const withBfd = bfd ? { bfdProfile: BFD.profile } : {};
      objs.push(
        { apiVersion: API_VERSION, kind: Kinds.BGPPeer.kind, metadata: { name: 'router-v4' }, spec: { myASN: ASN.nodes, peerASN: ASN.router, peerAddress: LAN.router4, holdTime: '9s', connectTime: '1s', ...withBfd } },
        { apiVersion: API_VERSION, kind: Kinds.BGPPeer.kind, metadata: { name: 'router-v6' }, spec: { myASN: ASN.nodes, peerASN: ASN.router, peerAddress: LAN.router6, holdTime: '9s', connectTime: '1s', ...withBfd } },
        { apiVersion: API_VERSION, kind: Kinds.BGPAdvertisement.kind, metadata: { name: 'routed' }, spec: { ipAddressPools: [POOLS.bgp.name], communities: opts.communities ?? ['64512:100'] } },
      );
    }
    await this.apply(...objs);
  }

  /**
   * A LoadBalancer Service with fixed IPs (`baregate.io/loadBalancerIPs`, from `pool`); dual-stack when it
   * has two. `local` sets externalTrafficPolicy Local; `sharing` the allow-shared-ip key.
   */
  async service(name: string, ips: string[], opts: { pool?: string; local?: boolean; sharing?: string; port?: number; protocol?: 'TCP' | 'UDP' } = {}): Promise<void> {
    const families = ips.map((ip) => (ip.includes(':') ? 'IPv6' : 'IPv4'));
    await this.apply({
      apiVersion: 'v1', kind: 'Service',
      metadata: {
        name, namespace: 'default',
        annotations: {
          'baregate.io/loadBalancerIPs': ips.join(','), 'baregate.io/address-pool': opts.pool ?? POOLS.l2.name,
          ...(opts.sharing !== undefined && { 'baregate.io/allow-shared-ip': opts.sharing }),
        },
      },
      spec: {
        type: 'LoadBalancer', ipFamilyPolicy: ips.length > 1 ? 'RequireDualStack' : 'SingleStack', ipFamilies: families,
        ports: [{ name: 'http', port: opts.port ?? 8080, protocol: opts.protocol ?? 'TCP', targetPort: 8080 }], selector: { app: name },
        ...(opts.local && { externalTrafficPolicy: 'Local' }),
      },
    });
  }

  /** The ingress IPs the controller wrote on a Service. */
  async serviceIPs(name: string): Promise<string[]> {
    const r = await this.kubectl(['get', 'service', '-n', 'default', name, '-o', 'json']);
    if (r.code !== 0) return [];
    const s = JSON.parse(r.stdout) as { status?: { loadBalancer?: { ingress?: { ip?: string }[] } } };
    return (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '').filter((x) => x !== '');
  }

  /** Waits until the controller has given the Service `n` IPs (bounded). */
  waitServiceIPs(name: string, n: number, ms = 30_000): Promise<string[]> {
    return until(`Service ${name} to get ${n} IP(s) (controller log: ${this.controllerLog.log.slice(-1500)})`, async () => {
      const ips = await this.serviceIPs(name);
      return ips.length === n ? ips : undefined;
    }, ms, 100);
  }

  /** An EndpointSlice for Service `svc` with one ready endpoint per node in `nodes` (no controller-manager runs). */
  async endpointSlice(svc: string, nodes: string[], family: 'IPv4' | 'IPv6' = 'IPv4'): Promise<void> {
    await this.apply({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: `${svc}-${family.toLowerCase()}`, namespace: 'default', labels: { 'kubernetes.io/service-name': svc, 'endpointslice.kubernetes.io/managed-by': 'netlab' } },
      addressType: family,
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: nodes.map((nd) => ({
        addresses: [family === 'IPv4' ? this.node(nd).ipv4 : this.node(nd).ipv6], nodeName: nd,
        conditions: { ready: true, serving: true, terminating: false },
      })),
    });
  }

  /** Every SpeakerStatus object (raw JSON). */
  async speakerStatuses(): Promise<SpeakerStatusView[]> {
    const r = await this.kubectl(['get', Kinds.SpeakerStatus.plural, '-o', 'json']);
    if (r.code !== 0) return [];
    return (JSON.parse(r.stdout) as { items: SpeakerStatusView[] }).items;
  }

  /** The nodes whose SpeakerStatus lists an announcement of `ip` in `mode` (default L2). */
  async announcers(ip: string, mode: 'L2' | 'BGP' = 'L2'): Promise<string[]> {
    return (await this.speakerStatuses())
      .filter((s) => (s.status?.announcements ?? []).some((a) => a.ip === ip && a.mode === mode))
      .map((s) => s.status?.node ?? s.metadata.name).sort();
  }

  /** `baregate status -o json` (or the table) run in the root namespace against the apiserver. */
  async baregateStatus(json = true): Promise<RunResult> {
    return this.runRoot(process.execPath, ['--import', 'tsx', MAIN, 'status', '--kubeconfig', this.cluster.kubeconfigPath, ...(json ? ['-o', 'json'] : [])]);
  }

  /** The audit log so far (writes to Services, events, Leases, baregate.io objects). */
  audit(): AuditEvent[] {
    return readAudit(this.cluster.dataDir);
  }

  private runRoot(cmd: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
    return new Promise((resolve) => {
      const c = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BAREGATE_LOG_LEVEL: 'warn' } });
      rootChildren.add(c);
      let stdout = '', stderr = '';
      c.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      c.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
      c.on('close', (code) => { clearTimeout(t); rootChildren.delete(c); resolve({ code: code ?? -1, stdout, stderr }); });
    });
  }

  /** Starts the address controller as a process in the root namespace (it talks only to 127.0.0.1). */
  startController(): void {
    if (this.controller) return;
    const kc = clientKubeconfigSync(this.cluster.dataDir, 'netlab-controller', ['system:masters']);
    const c = spawn(process.execPath, ['--import', 'tsx', MAIN, 'controller', '--kubeconfig', kc, '--metrics-port', '0', '--webhook-port', '0', '--identity', 'netlab'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BAREGATE_LOG_LEVEL: process.env.BAREGATE_LOG_LEVEL ?? 'info' } });
    rootChildren.add(c);
    keepTail(c, this.controllerLog);
    c.on('exit', () => { rootChildren.delete(c); if (this.controller === c) this.controller = undefined; });
    this.controller = c;
  }

  // ───────────── processes in the node namespaces ─────────────

  /** Starts the relay of one node (127.0.0.1:apiPort in its namespace → the unix socket); resolves when it listens. */
  async startRelay(node: string): Promise<void> {
    if (this.relays.has(node)) return;
    const c = this.lab.start(node, process.execPath, ['--import', 'tsx', RELAY, '--listen', `127.0.0.1:${this.apiPort}`, '--unix', this.apiSocket]);
    this.relays.set(node, c);
    c.on('exit', () => { if (this.relays.get(node) === c) this.relays.delete(node); });
    await this.waitLine(c, 'relay ready', `relay in ${node}`);
  }

  /** Kills one node's relay: the apiserver is unreachable from that node (open connections are cut). */
  async stopRelay(node: string): Promise<void> {
    const c = this.relays.get(node);
    if (!c) return;
    this.relays.delete(node);
    c.kill('SIGKILL');
    await exitedOf(c);
  }

  /** Every node's relay down / up. */
  async stopRelays(): Promise<void> { await Promise.all(this.nodes.map((n) => this.stopRelay(n.name))); }
  async startRelays(): Promise<void> { await Promise.all(this.nodes.map((n) => this.startRelay(n.name))); }

  private async startHttp(node: string): Promise<void> {
    const c = this.lab.start(node, process.execPath, ['-e', HTTP_SERVER(node)]);
    this.https.set(node, c);
    await this.waitLine(c, 'http ready', `HTTP server in ${node}`);
  }

  /** Resolves when the child prints a line containing `line` (fails when it exits first or after `ms`). */
  protected waitLine(c: ChildProcessWithoutNullStreams, line: string, what: string, ms = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      let err = '';
      c.stderr.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-4000); });
      const rl = createInterface({ input: c.stdout });
      const t = setTimeout(() => { reject(new Error(`${what}: no "${line}" within ${ms} ms; stderr: ${err}`)); }, ms);
      rl.on('line', (l) => { if (l.includes(line)) { clearTimeout(t); resolve(); } });
      c.once('exit', (code, sig) => { clearTimeout(t); reject(new Error(`${what} exited (${String(code ?? sig)}) before "${line}": ${err}`)); });
    });
  }

  /**
   * Starts the speaker of a node: `node --import tsx src/cli/main.ts speaker --node-name NODE --kubeconfig K`
   * inside its namespace, with `extra` flags (the CLI contract of issue 9).
   */
  startSpeaker(node: string, extra: string[] = []): SpeakerProc {
    const old = this.speakers.get(node);
    if (old && old.child.exitCode === null && old.child.signalCode === null) throw new Error(`speaker on ${node} is running`);
    const child = this.lab.start(node, process.execPath, ['--import', 'tsx', MAIN, 'speaker', '--node-name', node, '--kubeconfig', this.node(node).kubeconfig, ...extra]);
    const p: SpeakerProc = { node, child, log: '', exited: exitedOf(child) };
    keepTail(child, p);
    this.speakers.set(node, p);
    return p;
  }

  /** Starts every node's speaker and waits until each says /readyz OK. */
  async startSpeakers(extra: string[] = [], nodes: string[] = this.nodes.map((n) => n.name)): Promise<void> {
    for (const n of nodes) this.startSpeaker(n, extra);
    await Promise.all(nodes.map((n) => this.waitReady(n)));
  }

  /** Waits for the speaker's /readyz (caches synced, own Lease renewed), failing fast when it exits. */
  async waitReady(node: string, ms = 60_000): Promise<void> {
    const p = this.speakers.get(node);
    if (!p) throw new Error(`no speaker on ${node}`);
    await until(() => `speaker ${node} ready; log tail:\n${p.log.slice(-3000)}`, async () => {
      if (p.child.exitCode !== null || p.child.signalCode !== null) throw new Error(`speaker ${node} exited (${await p.exited}):\n${p.log.slice(-3000)}`);
      const r = await this.httpGet(node, `http://127.0.0.1:${SPEAKER_PORTS.metrics}/readyz`, 1000);
      return r.status === 200 ? true : undefined;
    }, ms, 200).catch(async (e: unknown) => {
      if (p.child.exitCode !== null || p.child.signalCode !== null) throw new Error(`speaker ${node} exited (${await p.exited}):\n${p.log.slice(-3000)}`);
      throw e;
    });
  }

  /** Signals a node's speaker and waits for its exit (SIGKILL after `ms`); returns how it ended. */
  async stopSpeaker(node: string, signal: NodeJS.Signals = 'SIGTERM', ms = 15_000): Promise<string> {
    const p = this.speakers.get(node);
    if (!p) return 'not running';
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal);
    const how = await Promise.race([p.exited, sleep(ms).then(() => 'timeout')]);
    if (how === 'timeout') { p.child.kill('SIGKILL'); return `did not exit within ${ms} ms after ${signal}; ${await p.exited}`; }
    return how;
  }

  /** Cuts a node's cable on the switch side (its eth0 loses carrier) or plugs it back. */
  cable(node: string, up: boolean): void {
    this.lab.ip('sw', 'link', 'set', this.lab.switchPort(node), up ? 'up' : 'down');
  }

  /** A crash as the network sees it: cable cut, then the speaker SIGKILLed. Returns the crash time (ms since epoch). */
  async crash(node: string): Promise<number> {
    const t = Date.now();
    this.cable(node, false);
    const p = this.speakers.get(node);
    if (p && p.child.exitCode === null && p.child.signalCode === null) { p.child.kill('SIGKILL'); await p.exited; }
    return t;
  }

  /** Drops the heartbeat path (UDP port `port` in and out) in every node with nftables, or lifts that (a no-op where none is in place). */
  partitionHeartbeats(on: boolean, port: number = SPEAKER_PORTS.heartbeat): void {
    for (const n of this.nodes) {
      if (on) {
        this.lab.exec(n.name, 'nft', ['-f', '-'], [
          'table inet bgnetlab {',
          '  chain in { type filter hook input priority 0; policy accept;',
          `    udp dport ${port} drop; udp sport ${port} drop; }`,
          '  chain out { type filter hook output priority 0; policy accept;',
          `    udp dport ${port} drop; udp sport ${port} drop; }`,
          '}',
        ].join('\n'));
      } else {
        try { this.lab.exec(n.name, 'nft', ['delete', 'table', 'inet', 'bgnetlab']); } catch { /* not partitioned */ }
      }
    }
  }

  /** Restores a node after a crash test: cable in, speaker started again and ready. */
  async revive(node: string, extra: string[] = []): Promise<void> {
    this.cable(node, true);
    await this.startRelay(node);
    if (!this.speakerRunning(node)) { this.startSpeaker(node, extra); await this.waitReady(node); }
  }

  /** Whether a node's speaker process is running. */
  speakerRunning(node: string): boolean {
    const p = this.speakers.get(node);
    return p !== undefined && p.child.exitCode === null && p.child.signalCode === null;
  }

  // ───────────── clients ─────────────

  /** One HTTP GET from inside a namespace (node one-liner): status and body, or an error text. */
  async httpGet(from: string, url: string, timeoutMs = 2000): Promise<{ status?: number; body?: string; error?: string }> {
    const r = await this.lab.run(from, process.execPath, ['-e', HTTP_GET, url, String(timeoutMs)], timeoutMs + 5000);
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    if (!line.startsWith('{')) return { error: `http client failed (${r.code}): ${r.stderr.slice(-500)}` };
    return JSON.parse(line) as { status?: number; body?: string; error?: string };
  }

  /** A GET loop from a namespace (default the LAN client): one new connection every `intervalMs`. */
  httpLoop(url: string, opts: { from?: string; intervalMs?: number; timeoutMs?: number } = {}): HttpLoop {
    const timeout = opts.timeoutMs ?? 500;
    const c = this.lab.start(opts.from ?? 'client', process.execPath, ['-e', HTTP_LOOP, url, String(opts.intervalMs ?? 20), String(timeout)]);
    const results: HttpResult[] = [];
    createInterface({ input: c.stdout }).on('line', (l) => { if (l.startsWith('{')) results.push(JSON.parse(l) as HttpResult); });
    c.stderr.on('data', () => undefined);
    const done = exitedOf(c);
    return {
      results,
      stop: async () => { c.stdin.end(); await Promise.race([done, sleep(timeout + 3000)]); c.kill('SIGKILL'); await done; return results; },
    };
  }

  /**
   * Watches who answers neighbour resolution for `ip` from a namespace (default the LAN client): arping every
   * ~`intervalMs` for IPv4, an ndisc6 loop (all replies of each solicitation) for IPv6. Each reply is
   * timestamped when the test process reads it.
   */
  watchNeighbor(ip: string, opts: { from?: string; intervalMs?: number } = {}): NeighWatch {
    const from = opts.from ?? 'client';
    const iv = opts.intervalMs ?? 20;
    const c = ip.includes(':')
      ? this.lab.start(from, 'sh', ['-c', `while :; do ndisc6 -m -q -n -r 1 -w ${Math.max(iv, 20)} ${ip} eth0; done`])
      : this.lab.start(from, 'stdbuf', ['-oL', 'arping', '-i', 'eth0', '-r', '-W', String(iv / 1000), ip]);
    const replies: NeighReply[] = [];
    createInterface({ input: c.stdout }).on('line', (l) => {
      const mac = l.trim().toLowerCase();
      if (/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac)) replies.push({ t: Date.now(), mac });
    });
    c.stderr.on('data', () => undefined);
    const done = exitedOf(c);
    return {
      replies,
      macs: (since = 0) => new Set(replies.filter((r) => r.t >= since).map((r) => r.mac)),
      first: (since, mac) => replies.find((r) => r.t >= since && (mac === undefined || r.mac === mac)),
      stop: async () => { c.kill('SIGKILL'); await done; },
    };
  }

  /** MACs answering neighbour resolution for `ip` over one short probe (arping ×count / ndisc6 -m). */
  async whoAnswers(ip: string, opts: { from?: string; count?: number } = {}): Promise<string[]> {
    const from = opts.from ?? 'client';
    const r = ip.includes(':')
      ? await this.lab.run(from, 'ndisc6', ['-m', '-q', '-n', '-r', String(opts.count ?? 2), '-w', '300', ip, 'eth0'])
      : await this.lab.run(from, 'arping', ['-i', 'eth0', '-r', '-c', String(opts.count ?? 2), '-W', '0.1', '-w', '2', ip]);
    return [...new Set(r.stdout.split('\n').map((l) => l.trim().toLowerCase()).filter((l) => /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(l)))].sort();
  }

  /** Waits until exactly one MAC answers for `ip` and it is `node`'s (or any single node's when omitted); returns the node. */
  waitOwner(ip: string, node?: string, ms = 30_000): Promise<string> {
    let last: string[] = [];
    return until(() => `${node ?? 'one node'} alone answering for ${ip} (last seen: ${last.join(', ') || 'nobody'})`, async () => {
      last = await this.whoAnswers(ip);
      if (last.length !== 1) return undefined;
      const owner = this.nodeByMac(last[0] ?? '');
      if (!owner) return undefined;
      return node === undefined || owner.name === node ? owner.name : undefined;
    }, ms, 100);
  }

  // ───────────── BIRD ─────────────

  private birdSock(): string { return join(this.dir, 'bird.ctl'); }

  private async startBird(): Promise<void> {
    const conf = join(this.dir, 'bird.conf');
    writeFileSync(conf, routerBirdConfig(this.nodes));
    const c = this.lab.start('router', 'bird', ['-f', '-c', conf, '-s', this.birdSock(), '-P', join(this.dir, 'bird.pid')]);
    keepTail(c, this.birdLog);
    this.bird = c;
    await until(() => `BIRD answering; log: ${this.birdLog.log}`, async () => {
      if (c.exitCode !== null) throw new Error(`BIRD exited: ${this.birdLog.log}`);
      return (await this.lab.run('router', 'birdc', ['-s', this.birdSock(), 'show', 'status'], 5000)).code === 0 ? true : undefined;
    }, 15_000, 100);
  }

  /** Replaces BIRD's configuration with `text` and reloads it (`birdc configure`); throws when BIRD refuses it. */
  async reconfigureBird(text: string): Promise<void> {
    writeFileSync(join(this.dir, 'bird.conf'), text);
    const out = await this.birdc('configure');
    if (!/Reconfigured|Reconfiguration in progress/.test(out)) throw new Error(`birdc configure: ${out}`);
  }

  /** Freezes the BIRD process (SIGSTOP: a hung router, its sockets open, nothing sent) or lets it run on (SIGCONT). */
  freezeBird(frozen: boolean): void {
    if (!this.bird) throw new Error('BIRD is not running');
    this.bird.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
  }

  /** `birdc` in the router namespace; throws on failure. */
  async birdc(...args: string[]): Promise<string> {
    const r = await this.lab.run('router', 'birdc', ['-s', this.birdSock(), ...args], 10_000);
    if (r.code !== 0) throw new Error(`birdc ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  /** The routes BIRD holds for a prefix (every path, best first as BIRD prints them). */
  async birdRoutes(prefix: string): Promise<Route[]> {
    const r = await this.lab.run('router', 'birdc', ['-s', this.birdSock(), 'show', 'route', 'all', prefix], 10_000);
    if (/Network not found/.test(r.stdout)) return [];
    if (r.code !== 0) throw new Error(`birdc show route all ${prefix}: ${r.stdout}${r.stderr}`);
    return parseBirdRoutes(r.stdout);
  }

  /** BIRD's single-hop BFD sessions: peer address → state (`Up`, `Down`, `Init`), from `show bfd sessions`. */
  async birdBfdSessions(): Promise<Map<string, string>> {
    return new Map((await this.birdBfdDetails()).filter((x) => !x.multihop).map((x) => [x.address, x.state]));
  }

  /**
   * BIRD's BFD sessions with its timers, from `show bfd sessions`: the peer address, the state, the interval BIRD
   * sends at (the larger of its min tx and the peer's required rx) and its detection time (ms). A multihop session
   * has no interface (`---` in that column). The state is found by name, the timers are the last two columns.
   */
  async birdBfdDetails(): Promise<BirdBfdSession[]> {
    const out = await this.birdc('show', 'bfd', 'sessions');
    const rows: BirdBfdSession[] = [];
    const ms = (x: string | undefined): number => Math.round(Number(x ?? 'NaN') * 1000);
    for (const line of out.split('\n')) {
      const f = line.trim().split(/\s+/);
      const address = f[0];
      if (address === undefined || !/^[0-9a-f.:]+$/i.test(address) || address.length <= 2) continue;
      const si = f.findIndex((x, i) => i > 0 && ['Up', 'Down', 'Init', 'AdminDown'].includes(x));
      if (si < 0) continue;
      rows.push({ address, state: f[si] ?? '', multihop: f[1] === '---', intervalMs: ms(f[f.length - 2]), timeoutMs: ms(f[f.length - 1]) });
    }
    return rows;
  }

  /** BIRD protocol name → state (`Established`, `Active`, …) of the node sessions. */
  async birdSessions(): Promise<Map<string, string>> {
    const out = await this.birdc('show', 'protocols');
    const m = new Map<string, string>();
    for (const line of out.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f[1] === 'BGP' && f[0] !== undefined) m.set(f[0], f.slice(6).join(' ') || (f[3] ?? ''));
    }
    return m;
  }

  /** The router's kernel route for a destination (ECMP shows several `nexthop via`), as `ip route show` prints it. */
  routerKernelRoute(prefix: string): string {
    return this.lab.ip('router', ...(prefix.includes(':') ? ['-6'] : []), 'route', 'show', prefix);
  }

  /** Logs of the parts, for failure messages. */
  logs(): string {
    const parts = [...this.speakers.values()].map((p) => `--- speaker ${p.node} ---\n${p.log.slice(-4000)}`);
    return [...parts, `--- controller ---\n${this.controllerLog.log.slice(-2000)}`, `--- bird ---\n${this.birdLog.log.slice(-2000)}`].join('\n');
  }

  /** Tears everything down: processes, namespaces, the cluster, the temp dir. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const p of this.speakers.values()) p.child.kill('SIGKILL');
    this.bird?.kill('SIGKILL');
    if (this.controller) { this.controller.kill('SIGKILL'); await exitedOf(this.controller); }
    this.lab.destroySync();
    await this.rootRelay?.close();
    await this.cluster.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The parts of a SpeakerStatus object the tests read (H1's `SpeakerStatusObject` is the full type). */
export interface SpeakerStatusView {
  metadata: { name: string; resourceVersion?: string };
  status?: {
    node?: string;
    announcements?: { ip: string; services?: string[]; mode: string; interfaces?: string[]; peers?: string[] }[];
    sessions?: {
      peer: string; address?: string; state: string; establishedSince?: string; prefixesSent?: number; lastError?: string;
      bfd?: { state: string; multihop: boolean; lastDiagnostic?: string; transmitIntervalMs?: number; detectionTimeMs?: number; lastDropped?: string };
    }[];
    members?: { node: string; state: string }[];
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}
