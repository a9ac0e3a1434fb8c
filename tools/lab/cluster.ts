/**
 * The lab (issue 10): the netlab {@link Topology} grown into a whole cluster. See tools/lab/api.ts for the
 * contract and the address plan. What runs where:
 * ```
 *  root namespace: this process only: the root side of the apiserver relay (127.0.0.1:PORT → unix socket)
 *  msw (bridge br0, 198.51.100.32/27): the management LAN
 *    ├─ cp eth0 198.51.100.33: etcd, kube-apiserver (:6443, the relay's far end on 127.0.0.1:6443),
 *    │                         kube-controller-manager (endpointslice, endpointslicemirroring), baregate controller
 *    └─ nI mgmt 198.51.100.(40+i): kube-proxy and the speaker reach https://198.51.100.33:6443 over it
 *  sw (bridge br0): the LAN of the Topology: nI eth0, client, router (BIRD) → wclient
 *  nI: ip_forward on, kube-proxy (nftables), speaker, bridge cbr0 = the pod CIDRs' gateways
 *      (198.51.100.(64+8(i-1)+1)/29, 2001:db8:100:i::1/64), static routes to the other nodes' pod CIDRs via
 *      their LAN addresses (the lab is the CNI)
 *  nIpS (pod slot S = 0..4 of node i): eth0 (veth, node side vpS on cbr0) 198.51.100.(64+8(i-1)+2+S)/29,
 *      2001:db8:100:i::(2+S)/64, default routes via the gateways; `node -e` HTTP + UDP echo on POD_PORT
 * ```
 * No kubelet runs: the lab writes Node status (Ready, InternalIPs, podCIDRs) and Pod status (Running, Ready,
 * podIPs) itself; Pods are deleted with grace period 0. A node has at most 5 pods (its /29 minus network,
 * gateway and broadcast).
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { cpSync, createWriteStream, mkdtempSync, rmSync, symlinkSync, writeFileSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clientKubeconfigSync, startCluster, type TestCluster } from '../../test/harness/cluster.ts';
import { Lab } from '../../test/netlab/netns.ts';
import { exitedOf, keepTail, LAN, Topology, until, type SpeakerProc, type SpeakerStatusView, type TopoNode } from '../../test/netlab/topology.ts';
import {
  API_VERSION, CONTROLLER_LEASE, CONTROLLER_SERVICE_ACCOUNT, Kinds, MUTATING_WEBHOOK, SPEAKER_SERVICE_ACCOUNT, SYSTEM_NAMESPACE, VALIDATING_WEBHOOK,
  WEBHOOK_PORT, WEBHOOK_SERVICE,
} from '../../src/api/keys.ts';
import { bundleObjects } from '../../src/api/bundle.ts';
import { serviceAccountKubeconfigAsync } from '../../test/harness/tokens.ts';
import { LAB_MAX_NODES, LAB_NET, POD_PORT, type LabCluster, type LabOptions, type LabPod, type LabServiceOptions, type PodProgram, type StartLab } from './api.ts';
import { labRest, type LabRest } from './rest.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(ROOT, 'src/cli/main.ts');
/** Pods per node: the /29 holds network, gateway, 5 pods, broadcast. */
const SLOTS = 5;
const KUBE_PROXY_METRICS = '127.0.0.1:10249';
const KUBE_PROXY_HEALTHZ = '127.0.0.1:10256';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The i-th (1-based) host address of a v4 CIDR's network (`198.51.100.64/29`, 1 → 198.51.100.65). */
function v4Host(cidr: string, k: number): string {
  const [net = ''] = cidr.split('/');
  const o = net.split('.').map(Number);
  return `${o[0] ?? 0}.${o[1] ?? 0}.${o[2] ?? 0}.${(o[3] ?? 0) + k}`;
}
/** The k-th host address of a v6 /64 written `P::/64`. */
function v6Host(cidr: string, k: number): string {
  return `${cidr.split('/')[0] ?? ''}${k.toString(16)}`;
}

const POD_SERVER = `
const http = require('node:http');
const dgram = require('node:dgram');
const text = process.argv[1], port = Number(process.argv[2]);
let up = 0;
const ready = () => { if (++up === 2) console.log('pod ready'); };
const s = http.createServer((q, r) => { r.setHeader('connection', 'close'); r.end(text); });
s.on('error', (e) => { console.error(e.message); process.exit(1); });
s.listen({ port, host: '::', ipv6Only: false }, ready);
const u = dgram.createSocket({ type: 'udp6', ipv6Only: false });
u.on('error', (e) => { console.error(e.message); process.exit(1); });
u.on('message', (m, ri) => { u.send(text, ri.port, ri.address); });
u.bind(port, '::', ready);
`;

interface KubeProxyProc { child: ChildProcessWithoutNullStreams; exited: Promise<string>; log: WriteStream }

interface PodObject {
  metadata?: { name?: string };
  spec?: { nodeName?: string; ports?: { nodePort?: number }[] };
  status?: { phase?: string; podIPs?: { ip: string }[]; conditions?: { type: string; status: string }[] };
}

/** A Kubernetes timestamp (seconds precision). */
const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

class Cluster extends Topology implements LabCluster {
  readonly kubeconfigPath: string;
  readonly binDir: string;
  readonly pods = new Map<string, LabPod>();
  private readonly rest: LabRest;
  private readonly kubeProxies = new Map<string, KubeProxyProc>();
  private readonly podProcs = new Map<string, ChildProcessWithoutNullStreams>();
  private readonly slots = new Map<string, Set<number>>();
  private readonly mgmtIndex = new Map<string, number>();
  private readonly kubeconfigs = new Map<string, string>();
  private speakerKubeconfig: string | undefined;
  private proxyKubeconfig: string | undefined;
  private controllerKubeconfig: string | undefined;
  private kcm: ChildProcessWithoutNullStreams | undefined;
  private controllerIdentity = '';
  private controllerStarts = 0;
  private labDestroyed = false;

  constructor(lab: Lab, cluster: TestCluster, dir: string, log: (m: string) => void) {
    super(lab, cluster, dir, log);
    this.kubeconfigPath = cluster.kubeconfigPath;
    this.binDir = cluster.binDir;
    this.rest = labRest(cluster.kubeconfigPath);
  }

  // ───────────── the Topology's hooks ─────────────

  /** No relays: the nodes reach the apiserver over the management LAN. */
  protected override async connectApi(): Promise<void> { /* nothing in the root namespace */ }

  /** Management link, forwarding, the pod bridge and the routes to the other nodes' pods; no Service IPs on lo. */
  protected override prepareNode(name: string, i: number): void {
    const { lab } = this;
    this.mgmtIndex.set(name, i);
    lab.attach(name, 'msw', 'mgmt', [`${LAB_NET.mgmtNode(i)}/27`]);
    // one sysctl run for all (a process per key costs more than the whole node otherwise); a request
    // forwarded back out of eth0 (the pod is on another node) must not redirect the client there
    lab.exec(name, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1',
      'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.eth0.send_redirects=0']);
    const lines: string[] = [
      'link add cbr0 type bridge',
      `addr add ${v4Host(LAB_NET.podCIDR4(i), 1)}/29 dev cbr0`,
      `addr add ${v6Host(LAB_NET.podCIDR6(i), 1)}/64 dev cbr0 nodad`,
      'link set cbr0 up',
    ];
    for (let j = 1; j <= LAB_MAX_NODES; j++) {
      if (j === i) continue;
      lines.push(`route add ${LAB_NET.podCIDR4(j)} via 192.0.2.${10 + j}`);
      lines.push(`route add ${LAB_NET.podCIDR6(j)} via 2001:db8:2::${(0x10 + j).toString(16)}`);
    }
    // routes to nodes that do not exist stay harmless (their next hop never answers)
    lab.ipBatch(name, lines);
  }

  /**
   * The install bundle minus its workloads: the lab runs controller and speakers as processes, but with the
   * bundle's ServiceAccounts, RBAC and Services, so the lab proves the bundle's permissions are enough.
   */
  private async prepareIdentities(): Promise<void> {
    // the harness applied the CRDs already (and waited for them); the workloads are processes here
    const skip = new Set(['Deployment', 'DaemonSet', 'PodDisruptionBudget', 'CustomResourceDefinition']);
    const objs = bundleObjects().filter((o) => !skip.has(String(o.kind)));
    const file = join(this.dir, 'bundle-base.json');
    writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objs }));
    const r = await this.kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=baregate-lab', '-f', file]);
    if (r.code !== 0) throw new Error(`apply the bundle's base objects: ${r.stderr}`);
    // the webhook Service selects controller Pods; here the controller is a process in `cp`, so its endpoint is
    // written by hand (a slice not managed by the EndpointSlice controller is left alone by it)
    const slice = await this.rest.request('POST', `/apis/discovery.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/endpointslices`, {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
      metadata: { name: `${WEBHOOK_SERVICE}-lab`, labels: { 'kubernetes.io/service-name': WEBHOOK_SERVICE, 'endpointslice.kubernetes.io/managed-by': 'baregate-lab' } },
      endpoints: [{ addresses: [LAB_NET.cp], conditions: { ready: true } }],
      ports: [{ name: 'webhook', port: WEBHOOK_PORT, protocol: 'TCP' }],
    });
    if (slice.status !== 201) throw new Error(`webhook EndpointSlice: ${slice.status} ${slice.text}`);
    const inputs = { dataDir: this.cluster.dataDir, binDir: this.binDir };
    [this.speakerKubeconfig, this.controllerKubeconfig] = await Promise.all([
      serviceAccountKubeconfigAsync(inputs, SYSTEM_NAMESPACE, SPEAKER_SERVICE_ACCOUNT, `https://${LAB_NET.cp}:${LAB_NET.apiPort}`),
      serviceAccountKubeconfigAsync(inputs, SYSTEM_NAMESPACE, CONTROLLER_SERVICE_ACCOUNT, `https://127.0.0.1:${LAB_NET.apiPort}`),
    ]);
    this.log(`bundle applied without its CRDs and workloads (${objs.length} objects); ServiceAccount tokens made`);
  }

  /** Speakers authenticate as the bundle's speaker ServiceAccount (a TokenRequest token) at the management address. */
  protected override nodeKubeconfig(): string {
    if (this.speakerKubeconfig === undefined) throw new Error('lab: the speaker identity is made before the nodes');
    return this.speakerKubeconfig;
  }

  /** No heartbeat key from the lab: the controller creates it when absent, as in a cluster installed from the bundle. */
  protected override heartbeatSecret(): undefined { return undefined; }

  /** kube-proxy is not ours: it runs as `system:kube-proxy`, which the apiserver's bootstrap RBAC binds to system:node-proxier. */
  private kubeProxyKubeconfig(): string {
    this.proxyKubeconfig ??= clientKubeconfigSync(this.cluster.dataDir, 'system:kube-proxy', [], `https://${LAB_NET.cp}:${LAB_NET.apiPort}`);
    return this.proxyKubeconfig;
  }

  /** Nothing before the speakers: pods serve, kube-proxy starts once the Node objects exist. */
  protected override async startNodeParts(): Promise<void> { /* see start() */ }

  protected override nodeSpec(nd: TopoNode): Record<string, unknown> {
    const i = this.mgmtIndex.get(nd.name) ?? 0;
    const cidrs = [LAB_NET.podCIDR4(i), LAB_NET.podCIDR6(i)];
    return { podCIDR: cidrs[0], podCIDRs: cidrs };
  }

  /** In the lab "the relay" of a node is its management link. */
  override startRelay(node: string): Promise<void> { this.apiAccess(node, true); return Promise.resolve(); }
  override stopRelay(node: string): Promise<void> { this.apiAccess(node, false); return Promise.resolve(); }

  /** The speaker as the Topology starts it, its output also in `<dir>/speaker-<node>.log`. */
  override startSpeaker(node: string, extra: string[] = []): SpeakerProc {
    const p = super.startSpeaker(node, extra);
    const f = createWriteStream(join(this.dir, `speaker-${node}.log`), { flags: 'a' });
    f.on('error', () => undefined);
    p.child.stdout.on('data', (d: Buffer) => { f.write(d); });
    p.child.stderr.on('data', (d: Buffer) => { f.write(d); });
    p.child.once('exit', () => { f.end(); });
    return p;
  }

  /** The baregate controller as a process in `cp` (it talks to 127.0.0.1:6443 there). */
  override startController(): void {
    if (this.controller) return;
    this.controllerIdentity = `lab-${++this.controllerStarts}`;
    const c = this.lab.start('cp', process.execPath, ['--import', 'tsx', MAIN, 'controller', '--kubeconfig', this.controllerKc(),
      '--webhook-host', LAB_NET.cp, '--webhook-port', String(WEBHOOK_PORT),
      '--metrics-port', '0', '--identity', this.controllerIdentity]);
    keepTail(c, this.controllerLog);
    this.tee(c, 'controller-cp.log');
    c.on('exit', () => { if (this.controller === c) this.controller = undefined; });
    this.controller = c;
  }

  /** Every part's log tail, for failure messages. */
  override logs(): string {
    return `${super.logs()}\n(kube-proxy, kube-controller-manager, apiserver logs: ${this.dir} and ${this.cluster.dataDir})`;
  }

  // ───────────── cheaper I/O than the Topology's (kubectl and `node -e` cost a third of a core each) ─────────────

  /** The Node object (SSA) and its status (InternalIPs, Ready), over REST. */
  override async registerNode(nd: TopoNode, labels: Record<string, string> = {}): Promise<void> {
    const a = await this.rest.request('PATCH', `/api/v1/nodes/${nd.name}?fieldManager=netlab&force=true`, {
      apiVersion: 'v1', kind: 'Node',
      metadata: { name: nd.name, labels: { 'kubernetes.io/hostname': nd.name, 'kubernetes.io/os': 'linux', ...labels } },
      spec: this.nodeSpec(nd),
    }, 'application/apply-patch+yaml');
    if (a.status !== 200 && a.status !== 201) throw new Error(`apply Node ${nd.name}: ${a.status} ${a.text}`);
    const t = now();
    const r = await this.rest.request('PATCH', `/api/v1/nodes/${nd.name}/status`, {
      status: {
        addresses: [{ type: 'InternalIP', address: nd.ipv4 }, { type: 'InternalIP', address: nd.ipv6 }, { type: 'Hostname', address: nd.name }],
        conditions: [{ type: 'Ready', status: 'True', reason: 'LabReady', message: 'lab node (no kubelet)', lastHeartbeatTime: t, lastTransitionTime: t }],
      },
    }, 'application/merge-patch+json');
    if (r.status !== 200) throw new Error(`Node ${nd.name} status: ${r.status} ${r.text}`);
  }

  /** The ingress IPs on a Service, over REST. */
  override async serviceIPs(name: string): Promise<string[]> {
    const r = await this.rest.request('GET', `/api/v1/namespaces/default/services/${name}`);
    if (r.status !== 200) return [];
    const ingress = (r.body as { status?: { loadBalancer?: { ingress?: { ip?: string }[] } } }).status?.loadBalancer?.ingress ?? [];
    return ingress.map((i) => i.ip ?? '').filter((x) => x !== '');
  }

  /** Every SpeakerStatus, over REST. */
  override async speakerStatuses(): Promise<SpeakerStatusView[]> {
    const r = await this.rest.request('GET', `/apis/${API_VERSION}/${Kinds.SpeakerStatus.plural}`);
    return r.status === 200 ? (r.body as { items: SpeakerStatusView[] }).items : [];
  }

  /** One HTTP GET from a namespace with curl (new connection; same answer shape as the Topology's). */
  override async httpGet(from: string, url: string, timeoutMs = 2000): Promise<{ status?: number; body?: string; error?: string }> {
    const r = await this.lab.run(from, 'curl', ['-sS', '-g', '-o', '-', '-w', '\n%{http_code}', '--max-time', String(timeoutMs / 1000), url], timeoutMs + 5000);
    if (r.code !== 0) return { error: `curl exited ${r.code}: ${r.stderr.trim().slice(-300)}` };
    const i = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i) };
  }

  /**
   * The Topology's speaker readiness wait with a longer bound: several labs on two shared cores make a tsx
   * speaker take over a minute to load (a bound on a hang, not a timing assertion).
   */
  override waitReady(node: string, ms = 180_000): Promise<void> {
    return super.waitReady(node, ms);
  }

  // ───────────── bring-up ─────────────

  /** Builds the topology on the running control plane, then starts kube-controller-manager, kube-proxies, baregate. */
  async bringUp(n: number, opts: LabOptions): Promise<void> {
    const baregate = opts.baregate ?? true;
    // the slow starters first: the controller (tsx) and kube-controller-manager need only the API, so they
    // start while the namespaces are built; kube-proxy and the speakers need their Node objects
    const identities = this.prepareIdentities();
    const kcm = this.startKcm();
    const leader = baregate ? identities.then(() => this.startControllerEarly()) : Promise.resolve();
    leader.catch(() => undefined); // awaited below; a failure must not be unhandled meanwhile
    kcm.catch(() => undefined);
    await identities;
    await this.build(n, opts.bird ?? true);
    this.log('namespaces, Nodes and BIRD up; starting kube-proxies and speakers');
    await Promise.all([
      kcm,
      ...this.nodes.map((nd) => this.startKubeProxy(nd.name)),
      ...(baregate ? [this.startSpeakers().then(() => { this.log('speakers ready'); })] : []),
      leader,
    ]);
    this.log('kube-proxies synced');
  }

  private async startControllerEarly(): Promise<void> {
    this.startController();
    await this.waitLeader();
    this.log('baregate controller leading');
  }

  /** The controller authenticates as the bundle's controller ServiceAccount, at the apiserver's loopback inside `cp`. */
  private controllerKc(): string {
    if (this.controllerKubeconfig === undefined) throw new Error('lab: the controller identity is made before the controller');
    return this.controllerKubeconfig;
  }

  private cpKubeconfig(user: string): string {
    let kc = this.kubeconfigs.get(user);
    if (kc === undefined) {
      kc = clientKubeconfigSync(this.cluster.dataDir, user, ['system:masters'], `https://127.0.0.1:${LAB_NET.apiPort}`);
      this.kubeconfigs.set(user, kc);
    }
    return kc;
  }

  private tee(c: ChildProcessWithoutNullStreams, file: string): WriteStream {
    const f = createWriteStream(join(this.dir, file), { flags: 'a' });
    f.on('error', () => undefined);
    c.stdout.on('data', (d: Buffer) => { f.write(d); });
    c.stderr.on('data', (d: Buffer) => { f.write(d); });
    c.once('exit', () => { f.end(); });
    return f;
  }

  private async startKcm(): Promise<void> {
    const c = this.lab.start('cp', join(this.binDir, 'kube-controller-manager'), [
      `--kubeconfig=${this.cpKubeconfig('system:kube-controller-manager')}`,
      '--controllers=endpointslice,endpointslicemirroring', '--leader-elect=false', '--secure-port=0',
      '--concurrent-service-endpoint-syncs=5', '--endpointslice-updates-batch-period=0s',
    ]);
    this.kcm = c;
    this.tee(c, 'kube-controller-manager-cp.log');
    await sleep(300);
    if (c.exitCode !== null) throw new Error(`kube-controller-manager exited at once (${this.dir}/kube-controller-manager-cp.log)`);
  }

  // ───────────── kube-proxy ─────────────

  /** Whether a node's kube-proxy runs. */
  kubeProxyRunning(node: string): boolean {
    const p = this.kubeProxies.get(node);
    return p !== undefined && p.child.exitCode === null && p.child.signalCode === null;
  }

  /** Starts a node's kube-proxy (nftables) and waits until it has synced its rules once. */
  async startKubeProxy(node: string): Promise<void> {
    if (this.kubeProxyRunning(node)) return;
    this.node(node); // throws for a node the lab does not have
    const cfg = join(this.dir, `kube-proxy-${node}.json`);
    writeFileSync(cfg, JSON.stringify({
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1', kind: 'KubeProxyConfiguration',
      clientConnection: { kubeconfig: this.kubeProxyKubeconfig(), qps: 50, burst: 100 },
      hostnameOverride: node, mode: 'nftables',
      clusterCIDR: LAB_NET.clusterCIDRs.join(','), detectLocalMode: 'ClusterCIDR',
      // the conntrack sysctls are the machine's (nf_conntrack_max is not per namespace): leave them all alone
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s', udpTimeout: '0s', udpStreamTimeout: '0s' },
      metricsBindAddress: KUBE_PROXY_METRICS, healthzBindAddress: KUBE_PROXY_HEALTHZ,
      nodePortAddresses: ['primary'], oomScoreAdj: 0,
      nftables: { minSyncPeriod: '100ms', syncPeriod: '30s' },
    }, null, 2));
    const child = this.lab.start(node, join(this.binDir, 'kube-proxy'), [`--config=${cfg}`]);
    const log = this.tee(child, `kube-proxy-${node}.log`);
    const p: KubeProxyProc = { child, exited: exitedOf(child), log };
    this.kubeProxies.set(node, p);
    await until(() => `kube-proxy on ${node} to sync its rules (${this.dir}/kube-proxy-${node}.log)`, async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`kube-proxy on ${node} exited (${await p.exited}); see ${this.dir}/kube-proxy-${node}.log`);
      const r = await this.lab.run(node, 'curl', ['-s', '--max-time', '1', `http://${KUBE_PROXY_METRICS}/metrics`], 5000);
      // both families synced once (the gauge is 0 until then)
      const synced = [...r.stdout.matchAll(/^kubeproxy_sync_proxy_rules_last_timestamp_seconds\{ip_family="IPv[46]"\} (\S+)$/gm)].filter((m) => Number(m[1]) > 0);
      return synced.length === 2 ? true : undefined;
    }, 180_000, 200).catch(async (e: unknown) => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`kube-proxy on ${node} exited (${await p.exited}); see ${this.dir}/kube-proxy-${node}.log`);
      throw e;
    });
  }

  /** Stops a node's kube-proxy (SIGTERM; SIGKILL after 10 s). Its rules stay, as a crashed kube-proxy's do. */
  async stopKubeProxy(node: string): Promise<void> {
    const p = this.kubeProxies.get(node);
    if (!p) return;
    this.kubeProxies.delete(node);
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
    if (await Promise.race([p.exited, sleep(10_000).then(() => 'timeout')]) === 'timeout') { p.child.kill('SIGKILL'); await p.exited; }
  }

  // ───────────── the management link, the controller, the apiserver ─────────────

  /** Cuts or restores a node's management link (its port on the management bridge). */
  apiAccess(node: string, on: boolean): void {
    this.node(node);
    this.lab.ip('msw', 'link', 'set', this.lab.switchPort(node), on ? 'up' : 'down');
  }

  private async waitLeader(ms = 180_000): Promise<void> {
    await until(() => `baregate controller ${this.controllerIdentity} to lead; log: ${this.controllerLog.log.slice(-1500)}`, async () => {
      if (!this.controller) throw new Error(`controller exited: ${this.controllerLog.log.slice(-1500)}`);
      const r = await this.rest.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases/${CONTROLLER_LEASE}`);
      const holder = (r.body as { spec?: { holderIdentity?: string } } | undefined)?.spec?.holderIdentity;
      return r.status === 200 && holder === this.controllerIdentity ? true : undefined;
    }, ms, 200);
    await this.waitWebhooks(ms);
  }

  /**
   * Until the admission webhooks answer through their Service: the controller made its CA, patched the caBundle
   * of both configurations, and a server-side dry run of a baregate.io object passes the validating webhook
   * (the apiserver reaches it at the EndpointSlice address, over TLS checked against that CA).
   */
  private async waitWebhooks(ms: number): Promise<void> {
    const probe = { apiVersion: API_VERSION, kind: Kinds.L2Advertisement.kind, metadata: { name: 'lab-webhook-probe' }, spec: {} };
    let last = '';
    await until(() => `the admission webhooks to answer through Service ${WEBHOOK_SERVICE} (last: ${last}); controller log: ${this.controllerLog.log.slice(-1500)}`, async () => {
      for (const cfg of [`validatingwebhookconfigurations/${VALIDATING_WEBHOOK}`, `mutatingwebhookconfigurations/${MUTATING_WEBHOOK}`]) {
        const r = await this.rest.request('GET', `/apis/admissionregistration.k8s.io/v1/${cfg}`);
        const hooks = (r.body as { webhooks?: { clientConfig?: { caBundle?: string } }[] } | undefined)?.webhooks ?? [];
        if (r.status !== 200 || hooks.length === 0 || hooks.some((h) => (h.clientConfig?.caBundle ?? '') === '')) { last = `${cfg}: no caBundle yet`; return undefined; }
      }
      const d = await this.rest.request('POST', `/apis/${API_VERSION}/${Kinds.L2Advertisement.plural}?dryRun=All`, probe);
      last = `dry run: ${d.status} ${d.text.slice(0, 300)}`;
      return d.status === 201 || d.status === 200 ? true : undefined;
    }, ms, 250);
  }

  /** SIGTERM, wait for the exit, start again and wait until it holds the leader Lease. */
  async restartController(): Promise<void> {
    const c = this.controller;
    if (c) {
      c.kill('SIGTERM');
      if (await Promise.race([exitedOf(c), sleep(15_000).then(() => 'timeout')]) === 'timeout') { c.kill('SIGKILL'); await exitedOf(c); }
      this.controller = undefined;
    }
    this.startController();
    await this.waitLeader();
  }

  /** Restarts kube-apiserver (same etcd and certs) through the harness; resolves when /readyz is OK. */
  async restartApiserver(opts: { downMs?: number } = {}): Promise<void> {
    await this.cluster.restartApiserver(opts);
  }

  // ───────────── pods ─────────────

  private podPath(name = ''): string {
    return `/api/v1/namespaces/default/pods${name === '' ? '' : `/${name}`}`;
  }

  /** Creates one pod on `node` (namespace, veth on cbr0, server, Pod object with status). */
  private async addPod(app: string, node: string, program?: PodProgram): Promise<LabPod> {
    const i = this.mgmtIndex.get(node);
    if (i === undefined) throw new Error(`no node ${node}`);
    const used = this.slots.get(node) ?? new Set<number>();
    this.slots.set(node, used);
    let slot = 0;
    while (used.has(slot)) slot++;
    if (slot >= SLOTS) throw new Error(`node ${node} has ${SLOTS} pods already (its /29 is full)`);
    used.add(slot);
    const name = `${app}-${node}-${slot}`;
    const ipv4 = v4Host(LAB_NET.podCIDR4(i), 2 + slot);
    const ipv6 = v6Host(LAB_NET.podCIDR6(i), 2 + slot);
    const gw4 = v4Host(LAB_NET.podCIDR4(i), 1);
    const gw6 = v6Host(LAB_NET.podCIDR6(i), 1);
    const pns = `${node}p${slot}`;
    const { lab } = this;
    try {
      lab.addNamespace(pns);
      lab.addLink(node, `vp${slot}`, pns, 'eth0');
      lab.ip(node, 'link', 'set', `vp${slot}`, 'master', 'cbr0');
      lab.ipBatch(pns, [
        `addr add ${ipv4}/29 dev eth0`, `addr add ${ipv6}/64 dev eth0 nodad`,
        `route add default via ${gw4}`, `route add default via ${gw6}`,
      ]);
      const pod: LabPod = { name, namespace: 'default', node, ipv4, ipv6, app };
      const cmd = program?.command(pod);
      const child = cmd ? lab.start(pns, cmd.cmd, cmd.args) : lab.start(pns, process.execPath, ['-e', POD_SERVER, `pod=${name} node=${node}`, String(POD_PORT)]);
      this.podProcs.set(name, child);
      const ready = program
        ? Promise.race([program.ready(pod), exitedOf(child).then((how) => { throw new Error(`pod ${name}: ${cmd?.cmd ?? ''} exited (${how})`); })])
        : this.waitLine(child, 'pod ready', `pod ${name}`);
      ready.catch(() => undefined); // awaited below, after the Pod object is created
      const created = await this.rest.request('POST', this.podPath(), {
        apiVersion: 'v1', kind: 'Pod',
        metadata: { name, namespace: 'default', labels: { app } },
        spec: {
          nodeName: node, terminationGracePeriodSeconds: 0,
          containers: [{ name: 'app', image: 'lab.invalid/baregate-lab-pod:never-pulled', ports: [{ name: 'http', containerPort: POD_PORT }] }],
        },
      });
      // 409: a retried create whose first attempt went through (rest.ts retries after a connection reset)
      if (created.status !== 201 && created.status !== 409) throw new Error(`create Pod ${name}: ${created.status} ${created.text}`);
      await ready;
      this.pods.set(name, pod);
      await this.writePodStatus(pod, true);
      return pod;
    } catch (e) {
      await this.deletePod(name).catch(() => undefined);
      used.delete(slot);
      throw e;
    }
  }

  private async writePodStatus(pod: LabPod, ready: boolean): Promise<void> {
    const t = now();
    const st = ready ? 'True' : 'False';
    const nd = this.node(pod.node);
    const r = await this.rest.request('PATCH', `${this.podPath(pod.name)}/status`, {
      status: {
        phase: 'Running', startTime: t, hostIP: nd.ipv4, hostIPs: [{ ip: nd.ipv4 }, { ip: nd.ipv6 }],
        podIP: pod.ipv4, podIPs: [{ ip: pod.ipv4 }, { ip: pod.ipv6 }],
        conditions: [
          { type: 'PodScheduled', status: 'True', lastTransitionTime: t },
          { type: 'Initialized', status: 'True', lastTransitionTime: t },
          { type: 'ContainersReady', status: st, lastTransitionTime: t },
          { type: 'Ready', status: st, lastTransitionTime: t },
        ],
      },
    }, 'application/strategic-merge-patch+json');
    if (r.status !== 200) throw new Error(`Pod ${pod.name} status: ${r.status} ${r.text}`);
  }

  /** Pods for `app`, one per entry of `nodes`, each Running/Ready with its podIPs and answering HTTP. */
  async deployApp(app: string, nodes: string[], program?: PodProgram): Promise<LabPod[]> {
    const pods = await Promise.all(nodes.map((nd) => this.addPod(app, nd, program)));
    if (program) return pods; // its own ready() said it serves
    await Promise.all(pods.map((p) => until(`pod ${p.name} answering from its node`, async () => {
      const r = await this.lab.run(p.node, 'curl', ['-s', '--max-time', '1', `http://${p.ipv4}:${POD_PORT}/`, '-g', `http://[${p.ipv6}]:${POD_PORT}/`], 5000);
      const want = `pod=${p.name} node=${p.node}`;
      return r.stdout === `${want}${want}` ? true : undefined;
    }, 60_000, 100)));
    return pods;
  }

  /** Sets a pod's Ready and ContainersReady conditions. */
  async setPodReady(pod: string, ready: boolean): Promise<void> {
    const p = this.pods.get(pod);
    if (!p) throw new Error(`no pod ${pod}`);
    await this.writePodStatus(p, ready);
  }

  /** Deletes a pod: the Pod object (grace period 0), its server and its namespace. */
  async deletePod(pod: string): Promise<void> {
    const p = this.pods.get(pod);
    this.pods.delete(pod);
    const r = await this.rest.request('DELETE', this.podPath(pod), { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 });
    if (r.status !== 200 && r.status !== 404) throw new Error(`delete Pod ${pod}: ${r.status} ${r.text}`);
    const child = this.podProcs.get(pod);
    this.podProcs.delete(pod);
    if (child && child.exitCode === null && child.signalCode === null) { child.kill('SIGKILL'); await exitedOf(child); }
    const m = /-(n\d+)-(\d+)$/.exec(pod);
    if (m?.[1] !== undefined && m[2] !== undefined) {
      this.lab.delNamespace(`${m[1]}p${m[2]}`);
      this.slots.get(p?.node ?? m[1])?.delete(Number(m[2]));
    }
  }

  /** Every pod on `node` NotReady (what the node lifecycle controller does to a dead node's pods). */
  async evictNode(node: string): Promise<void> {
    await Promise.all([...this.pods.values()].filter((p) => p.node === node).map((p) => this.writePodStatus(p, false)));
  }

  // ───────────── Services ─────────────

  /** Creates or updates (server-side apply) a LoadBalancer Service. */
  async lbService(name: string, opts: LabServiceOptions = {}): Promise<void> {
    const families = opts.ips ? opts.ips.map((ip) => (ip.includes(':') ? 'IPv6' : 'IPv4')) : (opts.families ?? ['IPv4', 'IPv6']);
    const protocol = opts.protocol ?? 'TCP';
    const annotations: Record<string, string> = { 'baregate.io/address-pool': opts.pool ?? 'lan' };
    if (opts.ips) annotations['baregate.io/loadBalancerIPs'] = opts.ips.join(',');
    if (opts.sharing !== undefined) annotations['baregate.io/allow-shared-ip'] = opts.sharing;
    const r = await this.rest.request('PATCH', `/api/v1/namespaces/default/services/${name}?fieldManager=lab&force=true`, {
      apiVersion: 'v1', kind: 'Service',
      metadata: { name, namespace: 'default', annotations },
      spec: {
        type: 'LoadBalancer', ipFamilyPolicy: families.length > 1 ? 'RequireDualStack' : 'SingleStack', ipFamilies: families,
        ports: [{ name: protocol === 'UDP' ? 'udp' : 'http', port: opts.port ?? 80, protocol, targetPort: POD_PORT }],
        selector: { app: opts.selector ?? name },
        ...(opts.local && { externalTrafficPolicy: 'Local' }),
        ...(opts.allocateNodePorts !== undefined && { allocateLoadBalancerNodePorts: opts.allocateNodePorts }),
      },
    }, 'application/apply-patch+yaml');
    if (r.status !== 200 && r.status !== 201) throw new Error(`apply Service ${name}: ${r.status} ${r.text}`);
  }

  /** The NodePorts of a Service (empty when it has none or does not exist). */
  async nodePorts(name: string): Promise<number[]> {
    const r = await this.rest.request('GET', `/api/v1/namespaces/default/services/${name}`);
    if (r.status !== 200) return [];
    return ((r.body as PodObject).spec?.ports ?? []).map((p) => p.nodePort).filter((p): p is number => p !== undefined && p > 0);
  }

  // ───────────── teardown ─────────────

  /** Tears everything down (idempotent): the lab's own processes, then what the Topology holds. */
  override async destroy(): Promise<void> {
    if (this.labDestroyed) return;
    this.labDestroyed = true;
    for (const p of this.kubeProxies.values()) p.child.kill('SIGKILL');
    for (const c of this.podProcs.values()) c.kill('SIGKILL');
    this.kcm?.kill('SIGKILL');
    this.rest.close();
    if (process.env.BAREGATE_KEEP_LAB === '1') try {
      // post-mortems: the component logs outlive the lab
      cpSync(this.dir, `${this.dir}-kept`, { recursive: true, filter: (src) => !src.endsWith('.ctl') && !src.endsWith('/cluster') });
      cpSync(this.cluster.dataDir, `${this.dir}-kept/cluster`, { recursive: true, filter: (src) => !src.endsWith('.sock') && !src.includes('/etcd') });
      this.log(`logs kept in ${this.dir}-kept`);
    } catch (e) { this.log(`keeping the logs failed: ${String(e)}`); }
    await super.destroy();
  }
}

/** Brings a lab up (see {@link StartLab}); on any failure everything started so far is torn down again. */
export const startLab: StartLab = async (opts: LabOptions = {}): Promise<LabCluster> => {
  const n = opts.nodes ?? 3;
  if (!Number.isInteger(n) || n < 1 || n > LAB_MAX_NODES) throw new Error(`nodes must be 1..${LAB_MAX_NODES} (got ${String(n)})`);
  const t0 = Date.now();
  const log = (m: string): void => { opts.log?.(`[lab +${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}`); };
  const lab = new Lab(opts.tag ?? 'lab');
  const dir = mkdtempSync(join(tmpdir(), 'bg-lab-'));
  let cluster: TestCluster;
  try {
    lab.addSwitch('msw');
    lab.addHost('cp', 'msw', [`${LAB_NET.cp}/27`]);
    log('control-plane namespace up; starting etcd and kube-apiserver (a cold first run builds Kubernetes: minutes)');
    cluster = await startCluster({
      crdDir: join(ROOT, 'deploy', 'crds'), netns: lab.ns('cp'), apiPort: LAB_NET.apiPort, bindAddress: '0.0.0.0',
      advertiseAddress: LAB_NET.cp, serviceCIDRs: LAB_NET.serviceCIDRs, extraSANs: [LAB_NET.cp], endpointReconciler: 'lease', aggregatorRouting: true,
      log: (m) => { log(`cluster ${m}`); },
    });
  } catch (e) {
    lab.destroySync();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  // one directory for every log: etcd, kube-apiserver and the relay write theirs in the harness's data dir
  symlinkSync(cluster.dataDir, join(dir, 'cluster'));
  const c = new Cluster(lab, cluster, dir, log);
  try {
    await c.bringUp(n, opts);
  } catch (e) {
    await c.destroy();
    throw e;
  }
  log(`up in ${((Date.now() - t0) / 1000).toFixed(1)} s (${n} nodes; LAN client ${LAN.client4}; kubeconfig ${c.kubeconfigPath}; logs ${dir})`);
  return c;
};
