/**
 * The whole speaker daemon on fakes: in-memory caches for the cluster, links on a simulated LAN (who answers
 * which IP), a recording BGP speaker, the real Liveness over a fake datagram network, the real planner, config
 * parser and takeover engine, and a FakeClock. What is checked is what a user would see: the planned IP is
 * answered (by exactly one node of two), a removed Service stops being answered, a crashed peer's IP is taken
 * over, BGP routes follow the plan, the status object is written once per change and never in steady state,
 * config problems become one event each, and SIGTERM runs its steps in order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { ALLOCATED_FROM_POOL, API_VERSION, HEARTBEAT_SECRET, HEARTBEAT_SECRET_KEY, SERVICE_NAME_LABEL, SYSTEM_NAMESPACE } from '../api/keys.ts';
import { FakeClock } from '../clock.ts';
import { parseConfig } from '../config/config.ts';
import type { PeerConfig } from '../bgp/config.ts';
import type { PeerStats, Route } from '../bgp/speaker.ts';
import type { ChangeHandler, KObject } from '../k8s/informer.ts';
import { objectKey } from '../k8s/informer.ts';
import type { CacheSource, EventRecorder, EventTarget, EventType } from '../k8s/ports.ts';
import type { NodeInterface } from '../l2/interfaces.ts';
import { SpeakerDaemon, type BfdPort, type BgpPort, type CarrierPort, type LinkPort, type OwnLease } from './daemon.ts';
import type { BfdChange, BfdSessionSpec, BfdSessionStats, BfdStateName } from '../bfd/sessions.ts';
import { Liveness, type DatagramPort } from './liveness.ts';
import { plan } from './plan.ts';
import { ClusterSources, type SourceSpec } from './sources.ts';
import type { SpeakerStatusContent, StatusSink } from './status.ts';
import type { HandoffPort } from './handoff.ts';
import { Takeover } from './takeover.ts';

const silent = pino({ level: 'silent' });
const KEY_B64 = Buffer.from('a-sixteen-plus-byte-heartbeat-key').toString('base64');

// ---------------------------------------------------------------- fake cluster

/** An in-memory cache: the test sets and deletes objects, handlers run synchronously. */
class FakeCache implements CacheSource<KObject> {
  private readonly objs = new Map<string, KObject>();
  private readonly handlers: ChangeHandler<KObject>[] = [];
  readonly synced = Promise.resolve();
  private rv = 1;
  constructor(private readonly spec: SourceSpec) {}
  onChange(h: ChangeHandler<KObject>): void { this.handlers.push(h); }
  /** Objects that existed before start: listed (with change events) when the daemon starts its caches. */
  initial: Record<string, unknown>[] = [];
  start(): void { for (const o of this.initial.splice(0)) this.set(o); }
  stop(): void { /* nothing to stop */ }
  get(key: string): KObject | undefined { return this.objs.get(key); }
  list(): KObject[] { return [...this.objs.values()]; }
  update(): void { /* not used by the speaker */ }
  set(o: Record<string, unknown>): void {
    const decoded = structuredClone(o) as unknown as KObject;
    decoded.metadata.resourceVersion = String(this.rv++);
    const copy = (this.spec.keep?.(decoded as unknown as Record<string, unknown>) ?? decoded) as unknown as KObject;
    const key = objectKey(copy);
    const old = this.objs.get(key);
    this.objs.set(key, copy);
    for (const h of this.handlers) h(key, copy, old);
  }
  delete(key: string): void {
    const old = this.objs.get(key);
    this.objs.delete(key);
    for (const h of this.handlers) h(key, undefined, old);
  }
}

/** One fake cluster shared by every daemon of a test (each daemon gets its own caches fed the same objects). */
class FakeCluster {
  private readonly caches: Map<string, FakeCache>[] = [];
  private readonly objects = new Map<string, Record<string, unknown>[]>();
  factory(): (spec: SourceSpec) => CacheSource<KObject> {
    const mine = new Map<string, FakeCache>();
    this.caches.push(mine);
    return (spec) => {
      const c = new FakeCache(spec);
      mine.set(spec.kind, c);
      c.initial = [...this.objects.get(spec.kind) ?? []];
      return c;
    };
  }
  set(kind: string, o: Record<string, unknown>): void {
    const list = (this.objects.get(kind) ?? []).filter((x) => objectKey(x as unknown as KObject) !== objectKey(o as unknown as KObject));
    list.push(o);
    this.objects.set(kind, list);
    for (const m of this.caches) m.get(kind)?.set(o);
  }
  delete(kind: string, key: string): void {
    this.objects.set(kind, (this.objects.get(kind) ?? []).filter((x) => objectKey(x as unknown as KObject) !== key));
    for (const m of this.caches) m.get(kind)?.delete(key);
  }
}

const node = (name: string, ip: string, labels: Record<string, string> = {}): Record<string, unknown> => ({
  metadata: { name, labels }, status: { addresses: [{ type: 'InternalIP', address: ip }], conditions: [{ type: 'Ready', status: 'True' }] },
});
const service = (ns: string, name: string, ips: string[], pool: string, spec: Record<string, unknown> = {}): Record<string, unknown> => ({
  metadata: { name, namespace: ns, annotations: { [ALLOCATED_FROM_POOL]: pool } },
  spec: { type: 'LoadBalancer', ...spec },
  status: { loadBalancer: { ingress: ips.map((ip) => ({ ip, ipMode: 'VIP' })) } },
});
const pool = (name: string): Record<string, unknown> => ({ apiVersion: API_VERSION, kind: 'IPAddressPool', metadata: { name }, spec: { addresses: ['192.0.2.200-192.0.2.220'] } });
const l2adv = (name: string, spec: Record<string, unknown> = {}): Record<string, unknown> => ({ apiVersion: API_VERSION, kind: 'L2Advertisement', metadata: { name }, spec });
const bgpadv = (name: string, spec: Record<string, unknown> = {}): Record<string, unknown> => ({ apiVersion: API_VERSION, kind: 'BGPAdvertisement', metadata: { name }, spec });
const peer = (name: string, spec: Record<string, unknown>): Record<string, unknown> => ({ apiVersion: API_VERSION, kind: 'BGPPeer', metadata: { name }, spec });
const bfdProfile = (name: string, spec: Record<string, unknown> = {}): Record<string, unknown> => ({ apiVersion: API_VERSION, kind: 'BFDProfile', metadata: { name }, spec });
const keySecret = { metadata: { name: HEARTBEAT_SECRET, namespace: SYSTEM_NAMESPACE }, data: { [HEARTBEAT_SECRET_KEY]: KEY_B64 } };

// ---------------------------------------------------------------- fake data plane

/** Who answers which IP on the simulated LAN; links see each other's gratuitous announcements as claims. */
class FakeLan {
  readonly answering = new Map<string, Set<string>>();
  readonly links = new Set<FakeLink>();
  /** The most MACs that ever answered one IP at the same time. */
  maxAnswering = 0;
  who(ip: string): string[] { return [...(this.answering.get(ip) ?? [])].sort(); }
  claim(ip: string, mac: string): void {
    let s = this.answering.get(ip);
    if (!s) this.answering.set(ip, s = new Set());
    s.add(mac);
    this.maxAnswering = Math.max(this.maxAnswering, s.size);
    for (const l of this.links) if (l.hwaddr !== mac) l.sawClaim(ip, mac);
  }
  release(ip: string, mac: string): void { this.answering.get(ip)?.delete(mac); }
}

class FakeLink implements LinkPort {
  readonly owned = new Set<string>();
  readonly stats = { replies: 0, announcements: 0 };
  carrierUp = true;
  closed = false;
  constructor(readonly ifname: string, readonly hwaddr: string, private readonly lan: FakeLan, private readonly clock: FakeClock,
    private readonly onClaim: (ip: string, mac: string) => void) { lan.links.add(this); }
  get ownedCount(): number { return this.owned.size; }
  add(ip: string): void {
    if (this.closed || this.owned.has(ip)) return; // a crashed node's link stays silent
    this.owned.add(ip);
    this.stats.announcements++;
    this.lan.claim(ip, this.hwaddr);
  }
  remove(ip: string): void { if (this.owned.delete(ip)) this.lan.release(ip, this.hwaddr); }
  probe(ip: string, windowMs: number): Promise<{ free: boolean; macs: string[] }> {
    return new Promise((resolve) => {
      this.clock.setTimeout(() => {
        const macs = this.lan.who(ip).filter((m) => m !== this.hwaddr);
        resolve({ free: this.carrierUp && macs.length === 0, macs });
      }, windowMs);
    });
  }
  setCarrier(up: boolean): void { this.carrierUp = up; }
  close(): void { this.closed = true; for (const ip of this.owned) this.lan.release(ip, this.hwaddr); this.owned.clear(); this.lan.links.delete(this); }
  sawClaim(ip: string, mac: string): void { if (this.owned.has(ip)) this.onClaim(ip, mac); }
}

/** Datagrams between fake ports keyed by address, delivered 1 ms later. */
class FakeNet {
  readonly ports = new Map<string, FakeDgram>();
  cut = new Set<string>();
  constructor(readonly clock: FakeClock) {}
  port(address: string): FakeDgram { const p = new FakeDgram(this, address); this.ports.set(address, p); return p; }
}
class FakeDgram implements DatagramPort {
  private cb: ((buf: Buffer, from: string) => void) | undefined;
  closed = false;
  constructor(private readonly net: FakeNet, readonly address: string) {}
  send(buf: Buffer, address: string): void {
    if (this.closed || this.net.cut.has(this.address)) return;
    const to = this.net.ports.get(address);
    this.net.clock.setTimeout(() => { if (to && !to.closed) to.cb?.(Buffer.from(buf), this.address); }, 1);
  }
  onMessage(cb: (buf: Buffer, from: string) => void): void { this.cb = cb; }
  close(): void { this.closed = true; }
}

class FakeBgp implements BgpPort {
  peers: readonly PeerConfig[] = [];
  routes: ReadonlyMap<string, readonly Route[]> = new Map();
  setRoutesCalls = 0;
  constructor(readonly cfg: { myASN: number; routerID: string }, private readonly steps: string[]) {}
  start(): Promise<void> { return Promise.resolve(); }
  setPeers(peers: readonly PeerConfig[]): void { this.peers = peers; }
  setRoutes(perPeer: ReadonlyMap<string, readonly Route[]>): void { this.routes = perPeer; this.setRoutesCalls++; }
  stats(): PeerStats[] {
    return this.peers.map((p) => ({ name: p.name, address: p.peerAddress, state: 'Established', establishedSince: Date.UTC(2026, 0, 1), updatesSent: 1, prefixesAdvertised: this.routes.get(p.name)?.length ?? 0, establishedCount: 1, collisions: 0, sendHoldExpired: 0, lastError: '' }));
  }
  gracefulShutdown(): Promise<void> { this.steps.push('bgp:gshut'); return Promise.resolve(); }
  stop(): void { this.steps.push('bgp:stop'); }
  downs: { peer: string; reason: string }[] = [];
  held: ReadonlyMap<string, string> = new Map();
  peerDown(peer: string, reason: string): void { this.downs.push({ peer, reason }); }
  setHeld(held: ReadonlyMap<string, string>): void { this.held = new Map(held); }
}

/** BFD sessions that only change state when the test says so (the FSM and sockets have their own tests). */
class FakeBfd implements BfdPort {
  specs: readonly BfdSessionSpec[] = [];
  stopped = false;
  private cb: ((c: BfdChange) => void) | undefined;
  private readonly states = new Map<string, BfdStateName>();
  /** What stats() reports as a session's lastDropped (set by a test). */
  readonly lastDropped = new Map<string, string>();
  setSessions(specs: readonly BfdSessionSpec[]): void { this.specs = specs; }
  onChange(cb: (c: BfdChange) => void): void { this.cb = cb; }
  stats(): BfdSessionStats[] {
    return this.specs.map((s) => ({
      peer: s.peer, address: s.peerAddress, multihop: s.multihop, state: this.states.get(s.peer) ?? 'Down', upSince: undefined, lastDiagnostic: '',
      transmitIntervalMs: 300, detectionTimeMs: 900, stateChanges: 1, packetsSent: 10, packetsReceived: 9, packetsDropped: 0, lastDropped: this.lastDropped.get(s.peer) ?? '',
    }));
  }
  stop(): void { this.stopped = true; }
  /** Moves a session to `to` and tells the daemon. */
  change(peer: string, to: BfdStateName, diagnostic = '', remoteAdminDown = false): void {
    const from = this.states.get(peer) ?? 'Down';
    this.states.set(peer, to);
    this.cb?.({ peer, from, to, diagnostic, remoteAdminDown });
  }
}

class RecordingSink implements StatusSink {
  writes: SpeakerStatusContent[] = [];
  read(): Promise<{ kind: 'ok'; status: SpeakerStatusContent | undefined }> { return Promise.resolve({ kind: 'ok', status: undefined }); }
  write(_node: string, status: SpeakerStatusContent): Promise<{ kind: 'ok' }> { this.writes.push(status); return Promise.resolve({ kind: 'ok' }); }
  get last(): SpeakerStatusContent | undefined { return this.writes.at(-1); }
}

class RecordingEvents implements EventRecorder {
  readonly events: { target: EventTarget; type: EventType; reason: string; message: string }[] = [];
  writes = 0;
  record(target: EventTarget, type: EventType, reason: string, message: string): void { this.events.push({ target, type, reason, message }); this.writes++; }
  forget(): void { /* nothing remembered */ }
}

/** Like CarrierWatch: watches a set of interfaces, reports changes of watched ones, a first reading reports nothing. */
class FakeCarrier implements CarrierPort {
  /** The "sysfs" truth. */
  readonly wire = new Map<string, boolean>();
  private readonly watched = new Map<string, boolean>();
  private cb: ((ifname: string, up: boolean) => void) | undefined;
  setInterfaces(names: Iterable<string>): void {
    const want = new Set(names);
    for (const n of [...this.watched.keys()]) if (!want.has(n)) this.watched.delete(n);
    for (const n of want) if (!this.watched.has(n)) this.watched.set(n, this.wire.get(n) ?? true);
  }
  isUp(ifname: string): boolean | undefined { return this.watched.get(ifname); }
  onChange(cb: (ifname: string, up: boolean) => void): void { this.cb = cb; }
  stop(): void { /* no timer */ }
  set(ifname: string, up: boolean): void {
    this.wire.set(ifname, up);
    if (!this.watched.has(ifname) || this.watched.get(ifname) === up) return;
    this.watched.set(ifname, up);
    this.cb?.(ifname, up);
  }
}

// ---------------------------------------------------------------- one speaker

interface TestSpeaker {
  name: string;
  daemon: SpeakerDaemon;
  liveness: Liveness;
  sink: RecordingSink;
  events: RecordingEvents;
  carrier: FakeCarrier;
  links: Map<string, FakeLink>;
  bgp: FakeBgp[];
  steps: string[];
  mac: string;
  /** What the own Lease reports (false: renewals failing, the apiserver is unreachable). */
  api: { ok: boolean };
}

interface World { clock: FakeClock; cluster: FakeCluster; lan: FakeLan; net: FakeNet }

function world(): World {
  const clock = new FakeClock(1000);
  return { clock, cluster: new FakeCluster(), lan: new FakeLan(), net: new FakeNet(clock) };
}

function speaker(w: World, name: string, ip: string, mac: string, opts: { handoff?: HandoffPort; bfd?: BfdPort } = {}): TestSpeaker {
  const steps: string[] = [];
  const sink = new RecordingSink();
  const events = new RecordingEvents();
  const carrier = new FakeCarrier();
  const links = new Map<string, FakeLink>();
  const bgp: FakeBgp[] = [];
  const liveness = new Liveness({ node: name, port: w.net.port(ip), log: silent, clock: w.clock });
  const iface: NodeInterface = { name: 'eth0', mac, addresses: [{ address: ip, cidr: `${ip}/24`, family: 'IPv4' }] };
  // the pool addresses live on lo (as with kube-proxy IPVS or the netlab): lo must never crowd eth0 out of heartbeats
  const lo: NodeInterface = { name: 'lo', mac: '00:00:00:00:00:00', addresses: [{ address: '127.0.0.1', cidr: '127.0.0.1/8', family: 'IPv4' },
    ...Array.from({ length: 21 }, (_, i) => ({ address: `192.0.2.${200 + i}`, cidr: `192.0.2.${200 + i}/32`, family: 'IPv4' as const }))] };
  const api = { ok: true };
  const lease: OwnLease = {
    start: () => undefined, healthy: () => api.ok, stop: () => undefined,
    delete: () => { steps.push('lease:delete'); return Promise.resolve(); },
  };
  const sources = new ClusterSources(w.cluster.factory());
  const daemon = new SpeakerDaemon({
    node: name, clock: w.clock, log: silent, sources, parseConfig, plan,
    liveness: {
      start: () => { liveness.start(); }, stop: () => { liveness.stop(); }, setPeers: (p) => { liveness.setPeers(p); },
      setLocal: (i) => { liveness.setLocal(i); }, setKey: (k) => { liveness.setKey(k); }, setLeases: (l) => { liveness.setLeases(l); },
      setApiHealthy: (ok) => { liveness.setApiHealthy(ok); }, view: () => liveness.view(), onChange: (cb) => liveness.onChange(cb),
      leave: () => { steps.push('liveness:leave'); return liveness.leave(); }, get stats() { return liveness.stats; },
    },
    // every node with a Lease object is fresh (the Lease logic has its own tests)
    leases: { observe: () => undefined, fresh: () => new Map([['node-a', true], ['node-b', true]]) },
    lease,
    takeover: (ports) => new Takeover({ node: name, ports, clock: w.clock, log: silent }),
    openLink: (ifname, onClaim) => { const l = new FakeLink(ifname, mac, w.lan, w.clock, onClaim); links.set(ifname, l); return l; },
    carrier,
    // like os.networkInterfaces(): an interface without carrier is left out
    interfaces: () => (carrier.wire.get('eth0') === false ? [lo] : [iface, lo]),
    bgp: (cfg) => { const b = new FakeBgp(cfg, steps); bgp.push(b); return b; },
    status: sink,
    events,
    ...(opts.handoff && { handoff: opts.handoff }),
    ...(opts.bfd && { bfd: opts.bfd }),
  });
  return { name, daemon, liveness, sink, events, carrier, links, bgp, steps, mac, api };
}

/** Nodes a and b, the heartbeat key, one pool, an L2Advertisement for every pool. */
function l2World(): World {
  const w = world();
  w.cluster.set('nodes', node('node-a', '192.0.2.1'));
  w.cluster.set('nodes', node('node-b', '192.0.2.2'));
  w.cluster.set('secrets', keySecret);
  w.cluster.set('pools', pool('p1'));
  w.cluster.set('l2Advertisements', l2adv('all'));
  return w;
}

async function started(w: World, ...ss: TestSpeaker[]): Promise<void> {
  const p = Promise.all(ss.map((s) => s.daemon.start()));
  await w.clock.advanceAsync(50, 10);
  await p;
}

/** Runs the speakers' shutdowns while moving the fake clock (handover and leaving beats wait on it). */
async function stopped(w: World, ...ss: TestSpeaker[]): Promise<void> {
  const state = { done: false };
  const p = Promise.all(ss.map((s) => s.daemon.shutdown())).then(() => { state.done = true; });
  for (let i = 0; i < 200 && !state.done; i++) await w.clock.advanceAsync(100, 10);
  await p;
}

const answeringNodes = (ss: TestSpeaker[], ip: string): string[] => ss.filter((s) => s.daemon.answering().has(ip)).map((s) => s.name);

// ---------------------------------------------------------------- tests

test('an IP planned for this node is answered on its interface; a removed Service stops being answered and its link closes', async () => {
  const w = l2World();
  w.cluster.delete('nodes', 'node-b');
  const a = speaker(w, 'node-a', '192.0.2.1', '02:00:00:00:00:01');
  await started(w, a);
  w.cluster.set('services', service('web', 's1', ['192.0.2.200'], 'p1'));
  await w.clock.advanceAsync(400, 10);
  assert.deepEqual(a.daemon.plan()?.l2.get('192.0.2.200')?.interfaces, ['eth0'], 'planned on eth0');
  assert.deepEqual([...a.daemon.answering()], [['192.0.2.200', ['eth0']]]);
  assert.deepEqual(w.lan.who('192.0.2.200'), [a.mac], 'the LAN sees this node answer');
  w.cluster.delete('services', 'web/s1');
  await w.clock.advanceAsync(100, 10);
  assert.equal(a.daemon.answering().size, 0);
  assert.deepEqual(w.lan.who('192.0.2.200'), []);
  assert.equal(a.links.get('eth0')?.closed, true, 'the unused link is closed');
  assert.deepEqual(a.daemon.openLinks(), []);
  await stopped(w, a);
});

test('two speakers: each IP is answered by exactly one; a crashed owner is taken over after the heartbeat timeout', async () => {
  const w = l2World();
  const a = speaker(w, 'node-a', '192.0.2.1', '02:00:00:00:00:01');
  const b = speaker(w, 'node-b', '192.0.2.2', '02:00:00:00:00:02');
  await started(w, a, b);
  const ips = Array.from({ length: 12 }, (_, i) => `192.0.2.${200 + i}`);
  ips.forEach((ip, i) => { w.cluster.set('services', service('web', `s${i}`, [ip], 'p1')); });
  await w.clock.advanceAsync(1500, 10);
  for (const ip of ips) assert.equal(answeringNodes([a, b], ip).length, 1, `${ip} answered by one node: ${answeringNodes([a, b], ip).join(',')}`);
  assert.equal(w.lan.maxAnswering, 1, 'never two MACs for one IP');
  assert.deepEqual(a.liveness.view().get('node-b')?.interfaces.map((i) => i.name), ['eth0'], 'heartbeats carry the announcing interface, not lo');
  const ofB = ips.filter((ip) => b.daemon.answering().has(ip));
  assert.ok(ofB.length > 0 && ofB.length < ips.length, `the IPs are spread over both nodes (b has ${ofB.length})`);
  // b crashes: its heartbeats stop and its links go silent (nobody answers its IPs any more)
  w.net.cut.add('192.0.2.2');
  for (const l of b.links.values()) l.close();
  b.daemon.shutdown = () => Promise.resolve(); // a crashed process runs no shutdown
  const t0 = w.clock.now();
  let tookAll = -1;
  for (let t = 0; t < 3000; t += 10) {
    await w.clock.advanceAsync(10, 10);
    if (ips.every((ip) => a.daemon.answering().has(ip))) { tookAll = w.clock.now() - t0; break; }
  }
  assert.ok(tookAll >= 0, 'a took every IP over');
  console.log(`# crash takeover in ${tookAll} ms (fake clock; heartbeat timeout 350 ms)`);
  assert.ok(tookAll < 1500, `takeover within 1.5 s of fake time (took ${tookAll} ms)`);
  await stopped(w, a);
});

test('SIGTERM: leave, hand over (the other node takes over at once), BGP graceful shutdown, final status, Lease deleted, in that order', async () => {
  const w = l2World();
  const a = speaker(w, 'node-a', '192.0.2.1', '02:00:00:00:00:01');
  const b = speaker(w, 'node-b', '192.0.2.2', '02:00:00:00:00:02');
  w.cluster.set('bgpPeers', peer('router', { myASN: 64500, peerASN: 64501, peerAddress: '192.0.2.254' }));
  w.cluster.set('bgpAdvertisements', bgpadv('all'));
  await started(w, a, b);
  const ips = Array.from({ length: 8 }, (_, i) => `192.0.2.${200 + i}`);
  ips.forEach((ip, i) => { w.cluster.set('services', service('web', `s${i}`, [ip], 'p1')); });
  await w.clock.advanceAsync(1500, 10);
  const ofA = ips.filter((ip) => a.daemon.answering().has(ip));
  assert.ok(ofA.length > 0, 'a answers some IPs');
  const t0 = w.clock.now();
  const done = a.daemon.shutdown();
  let handedOver = -1;
  for (let t = 0; t < 5000; t += 10) {
    await w.clock.advanceAsync(10, 10);
    if (handedOver < 0 && ofA.every((ip) => b.daemon.answering().has(ip))) handedOver = w.clock.now() - t0;
  }
  await done;
  assert.ok(handedOver >= 0 && handedOver < 500, `b took a's IPs within 500 ms of SIGTERM (${handedOver} ms)`);
  assert.equal(a.daemon.answering().size, 0, 'a answers nothing after shutdown');
  for (const ip of ips) assert.deepEqual(answeringNodes([a, b], ip), ['node-b']);
  assert.deepEqual(a.daemon.shutdownSteps, ['leave', 'handover', 'bgp-shutdown', 'status', 'lease-delete', 'leave-sent', 'handoff-close', 'close']);
  assert.deepEqual(a.steps, ['liveness:leave', 'bgp:gshut', 'lease:delete']);
  assert.deepEqual(a.sink.last?.announcements, [], 'the final status lists no announcement (L2 handed over, BGP withdrawn)');
  await stopped(w, b);
});

test('SIGTERM hand-off: the IPs a leaving speaker held are announced by the taker only once the hand-off rule towards it is in place', async () => {
  const w = l2World();
  const calls: string[] = [];
  const applied = new Set<string>();
  const handoff: HandoffPort = {
    forward: (ip, device, via) => {
      calls.push(`forward ${ip} ${device} ${via}`);
      return new Promise((resolve) => { w.clock.setTimeout(() => { applied.add(ip); resolve(); }, 30); }); // nft takes 30 ms
    },
    stop: (ip) => { calls.push(`stop ${ip}`); },
    close: () => { calls.push('close'); return Promise.resolve(); },
  };
  const a = speaker(w, 'node-a', '192.0.2.1', '02:00:00:00:00:01');
  const b = speaker(w, 'node-b', '192.0.2.2', '02:00:00:00:00:02', { handoff });
  await started(w, a, b);
  const ips = Array.from({ length: 8 }, (_, i) => `192.0.2.${200 + i}`);
  ips.forEach((ip, i) => { w.cluster.set('services', service('web', `s${i}`, [ip], 'p1')); });
  await w.clock.advanceAsync(1500, 10);
  const ofA = ips.filter((ip) => a.daemon.answering().has(ip));
  assert.ok(ofA.length > 0, 'a answers some IPs');
  assert.equal(calls.length, 0, 'nothing handed off while nobody leaves');
  // b's link announces an IP only after its rule was applied: check at every claim b makes on the LAN
  const early: string[] = [];
  const link = b.links.get('eth0');
  assert.ok(link);
  const add = link.add.bind(link);
  link.add = (ip: string) => { if (ofA.includes(ip) && !applied.has(ip)) early.push(ip); add(ip); };
  const done = a.daemon.shutdown();
  for (let t = 0; t < 3000; t += 10) await w.clock.advanceAsync(10, 10);
  await done;
  for (const ip of ips) assert.deepEqual(answeringNodes([a, b], ip), ['node-b']);
  assert.deepEqual(calls.filter((c) => c.startsWith('forward')).sort(), ofA.map((ip) => `forward ${ip} eth0 192.0.2.1`).sort(),
    'one forward per IP taken from a, to a\'s address on the shared link');
  assert.deepEqual(early, [], 'no IP announced before its hand-off rule');
  // an IP b stops answering loses its rule; shutdown removes the rest
  w.cluster.delete('services', `web/s${ips.indexOf(ofA[0] ?? '')}`);
  await w.clock.advanceAsync(200, 10);
  assert.ok(calls.includes(`stop ${ofA[0] ?? ''}`));
  await stopped(w, b);
  assert.equal(calls.at(-1), 'close');
});

test('BGP graceful stop: the staying speakers hand the leaving node\'s flows back to it (every BGP host route, once), before its GSHUT', async () => {
  const w = l2World();
  w.cluster.delete('l2Advertisements', 'all');
  w.cluster.set('bgpPeers', peer('router', { myASN: 64500, peerASN: 64501, peerAddress: '192.0.2.254' }));
  w.cluster.set('bgpAdvertisements', bgpadv('all'));
  const calls: { ip: string; device: string; via: string; at: number }[] = [];
  const handoff: HandoffPort = {
    forward: (ip, device, via) => { calls.push({ ip, device, via, at: w.clock.now() }); return Promise.resolve(); },
    stop: () => undefined,
    close: () => Promise.resolve(),
  };
  const a = speaker(w, 'node-a', '192.0.2.1', '02:00:00:00:00:01', { handoff });
  const b = speaker(w, 'node-b', '192.0.2.2', '02:00:00:00:00:02');
  await started(w, a, b);
  const ips = ['192.0.2.200', '192.0.2.201', '192.0.2.202'];
  ips.forEach((ip, i) => { w.cluster.set('services', service('web', `s${i}`, [ip], 'p1')); });
  await w.clock.advanceAsync(1500, 10);
  assert.equal(b.bgp[0]?.routes.get('router')?.length, 3, 'b announces the three routes');
  assert.equal(calls.length, 0);
  const t0 = w.clock.now();
  const done = b.daemon.shutdown();
  for (let t = 0; t < 4000; t += 10) await w.clock.advanceAsync(10, 10);
  await done;
  assert.deepEqual(calls.map((c) => `${c.ip} ${c.device} ${c.via}`).sort(), ips.map((ip) => `${ip} eth0 192.0.2.2`),
    'each BGP IP handed off to b once, on the shared link');
  const gshutAt = b.steps.indexOf('bgp:gshut');
  assert.ok(gshutAt >= 0);
  assert.ok(Math.max(...calls.map((c) => c.at)) - t0 < 300, 'a installed the hand-off within the 300 ms b waits before its GSHUT');
  await stopped(w, a);
});

test('BFD: sessions for the peers with a profile; Down tears BGP down at once (not for a peer\'s AdminDown); waitForUp holds the peer until Up', async () => {
  const w = l2World();
  w.cluster.delete('l2Advertisements', 'all');
  w.cluster.delete('nodes', 'node-b');
  w.cluster.set('bfdProfiles', bfdProfile('fast', { receiveInterval: 100, transmitInterval: 100 }));
  w.cluster.set('bfdProfiles', bfdProfile('strict', { waitForUp: true }));
  w.cluster.set('bgpPeers', peer('r1', { myASN: 64500, peerASN: 64501, peerAddress: '192.0.2.254', bfdProfile: 'fast' }));
  w.cluster.set('bgpPeers', peer('r2', { myASN: 64500, peerASN: 64500, peerAddress: '192.0.2.253', bfdProfile: 'strict' }));
  w.cluster.set('bgpPeers', peer('r3', { myASN: 64500, peerASN: 64502, peerAddress: '192.0.2.252' }));
  w.cluster.set('bgpAdvertisements', bgpadv('all'));
  const bfd = new FakeBfd();
  const a = speaker(w, 'node-a', '192.0.2.1', '02:00:00:00:00:01', { bfd });
  await started(w, a);
  await w.clock.advanceAsync(100, 10);
  const b = a.bgp[0]!;
  assert.deepEqual(bfd.specs.map((x) => [x.peer, x.peerAddress, x.multihop, x.profile.transmitIntervalMs, x.profile.waitForUp]),
    [['r1', '192.0.2.254', false, 100, false], ['r2', '192.0.2.253', true, 300, true]], 'eBGP direct: single hop; iBGP: multihop; r3 has no profile');
  assert.deepEqual([...b.held.keys()], ['r2'], 'r2 waits for BFD');
  assert.match(b.held.get('r2') ?? '', /waiting for the BFD session to come Up \(BFD Down; profile strict has waitForUp\)/);

  bfd.change('r1', 'Up');
  bfd.change('r2', 'Up');
  assert.deepEqual([...b.held.keys()], [], 'Up releases r2');
  assert.equal(b.downs.length, 0, 'Up resets nothing');
  assert.deepEqual(a.events.events.filter((e) => e.reason === 'BFDSessionUp').map((e) => e.target.metadata.name), ['r1', 'r2']);

  bfd.change('r1', 'Down', 'control detection time expired');
  assert.deepEqual(b.downs, [{ peer: 'r1', reason: 'BFD session Down: control detection time expired' }], 'BGP to r1 torn down at once');
  const down = a.events.events.find((e) => e.reason === 'BFDSessionDown');
  assert.ok(down, 'a BFDSessionDown event');
  assert.equal(down.type, 'Warning');
  assert.match(down.message, /^node node-a: BFD session Down \(control detection time expired\): BGP session torn down$/);

  bfd.change('r2', 'Down', 'neighbor signaled session down');
  assert.deepEqual(b.downs.map((d) => d.peer), ['r1'], 'a waitForUp peer is held, not reset');
  assert.deepEqual([...b.held.keys()], ['r2']);

  bfd.change('r1', 'Up');
  bfd.change('r1', 'Down', 'neighbor signaled session down', true);
  assert.deepEqual(b.downs.map((d) => d.peer), ['r1'], 'the peer switching BFD off (AdminDown) keeps the BGP session');

  bfd.lastDropped.set('r2', 'TTL 64 below the minimum 254 (BFDProfile p minimumTtl)');
  await w.clock.advanceAsync(2000, 100);
  const st = a.sink.last;
  assert.deepEqual(st?.sessions.map((x) => [x.peer, x.bfd?.state, x.bfd?.multihop, x.bfd?.detectionTimeMs, x.bfd?.lastDropped]),
    [['r1', 'Down', false, 900, undefined], ['r2', 'Down', true, 900, 'TTL 64 below the minimum 254 (BFDProfile p minimumTtl)'], ['r3', undefined, undefined, undefined, undefined]]);
  assert.deepEqual(a.daemon.metrics().bfd.map((x) => [x.peer, x.up, x.packetsSent]), [['r1', false, 10], ['r2', false, 10]]);
  w.cluster.delete('bgpPeers', 'r1');
  w.cluster.delete('bgpPeers', 'r2');
  await w.clock.advanceAsync(100, 10);
  assert.deepEqual(bfd.specs.map((x) => x.peer), [], 'peers gone: their BFD sessions too');
  await stopped(w, a);
  assert.equal(bfd.stopped, true, 'shutdown stops BFD');
});

test('BGP: routes per peer follow the plan (attributes, withdrawals); routerID from the Node InternalIP', async () => {
  const w = l2World();
  w.cluster.delete('l2Advertisements', 'all');
  w.cluster.delete('nodes', 'node-b');
  w.cluster.set('bgpPeers', peer('r1', { myASN: 64500, peerASN: 64501, peerAddress: '192.0.2.254' }));
  w.cluster.set('bgpPeers', peer('r2', { myASN: 64500, peerASN: 64502, peerAddress: '192.0.2.253' }));
  w.cluster.set('bgpAdvertisements', bgpadv('to-r1', { peers: ['r1'], communities: ['65000:1'], localPref: 200 }));
  const a = speaker(w, 'node-a', '192.0.2.1', '02:00:00:00:00:01');
  await started(w, a);
  w.cluster.set('services', service('web', 's1', ['192.0.2.200'], 'p1'));
  w.cluster.set('services', service('web', 's2', ['192.0.2.201'], 'p1'));
  await w.clock.advanceAsync(100, 10);
  assert.equal(a.bgp.length, 1, 'one BGP speaker');
  const b = a.bgp[0]!;
  assert.deepEqual(b.cfg, { myASN: 64500, routerID: '192.0.2.1' });
  assert.deepEqual(b.peers.map((p) => p.name), ['r1', 'r2']);
  assert.deepEqual(b.routes.get('r1'), [
    { prefix: '192.0.2.200/32', communities: ['65000:1'], largeCommunities: [], localPref: 200 },
    { prefix: '192.0.2.201/32', communities: ['65000:1'], largeCommunities: [], localPref: 200 },
  ]);
  assert.deepEqual(b.routes.get('r2'), [], 'r2 is not in the advertisement: nothing for it');
  w.cluster.delete('services', 'web/s1');
  await w.clock.advanceAsync(100, 10);
  assert.deepEqual(b.routes.get('r1')?.map((r) => r.prefix), ['192.0.2.201/32'], 'the removed Service is withdrawn');
  await w.clock.advanceAsync(2000, 100);
  const st = a.sink.last;
  assert.deepEqual(st?.announcements, [{ ip: '192.0.2.201', services: ['web/s2'], mode: 'BGP', peers: ['r1'] }]);
  assert.deepEqual(st.sessions.map((s) => [s.peer, s.address, s.state, s.prefixesSent]), [['r1', '192.0.2.254', 'Established', 1], ['r2', '192.0.2.253', 'Established', 0]]);
  // a new myASN means a new speaker
  w.cluster.set('bgpPeers', peer('r1', { myASN: 64600, peerASN: 64501, peerAddress: '192.0.2.254' }));
  w.cluster.set('bgpPeers', peer('r2', { myASN: 64600, peerASN: 64502, peerAddress: '192.0.2.253' }));
  await w.clock.advanceAsync(100, 10);
  assert.equal(a.bgp.length, 2);
  assert.deepEqual(a.bgp[1]?.cfg, { myASN: 64600, routerID: '192.0.2.1' });
  assert.ok(a.steps.includes('bgp:stop'), 'the old speaker was stopped');
  await stopped(w, a);
});

test('status: written once per change (debounced), never in steady state; restart with the same state writes nothing', async () => {
  const w = l2World();
  w.cluster.delete('nodes', 'node-b');
  const a = speaker(w, 'node-a', '192.0.2.1', '02:00:00:00:00:01');
  await started(w, a);
  await w.clock.advanceAsync(1000, 50);
  assert.equal(a.sink.writes.length, 1, 'the first status');
  // a burst of changes within the debounce: one write
  for (let i = 0; i < 5; i++) w.cluster.set('services', service('web', `s${i}`, [`192.0.2.${200 + i}`], 'p1'));
  await w.clock.advanceAsync(2000, 20);
  assert.equal(a.sink.writes.length, 2, `one write for the burst (got ${a.sink.writes.length})`);
  assert.deepEqual(a.sink.last?.announcements.map((x) => x.ip), ['192.0.2.200', '192.0.2.201', '192.0.2.202', '192.0.2.203', '192.0.2.204']);
  // steady state: a minute of heartbeats, ticks and unrelated changes writes nothing
  w.cluster.set('services', { metadata: { name: 'other', namespace: 'web' }, spec: { type: 'ClusterIP' } });
  w.cluster.set('nodes', node('node-a', '192.0.2.1', { rack: 'r1' }));
  await w.clock.advanceAsync(60_000, 500);
  assert.equal(a.sink.writes.length, 2, 'nothing in steady state');
  assert.deepEqual(a.sink.last.conditions.map((c) => [c.type, c.status]), [['ConfigValid', 'True'], ['HeartbeatKey', 'True'], ['ApiReachable', 'True']]);
  const last = a.sink.last;
  await stopped(w, a);

  // a restarted speaker that finds its status unchanged writes nothing (read back at start)
  const w2 = l2World();
  w2.cluster.delete('nodes', 'node-b');
  for (let i = 0; i < 5; i++) w2.cluster.set('services', service('web', `s${i}`, [`192.0.2.${200 + i}`], 'p1'));
  const again = speaker(w2, 'node-a', '192.0.2.1', '02:00:00:00:00:01');
  again.sink.read = () => Promise.resolve({ kind: 'ok', status: last });
  // the first plan happens before the publisher starts; the IPs are answered after their probes
  await started(w2, again);
  await w2.clock.advanceAsync(3000, 50);
  assert.equal(again.daemon.answering().size, 5);
  assert.ok(again.sink.writes.length <= 1, `at most one write while the IPs are probed (got ${again.sink.writes.length})`);
  assert.deepEqual(again.sink.writes.at(-1)?.announcements ?? last.announcements, last.announcements);
  await stopped(w2, again);
});

test('config problems: one event per problem (not repeated while it persists), ConfigValid False; a missing heartbeat key is a condition', async () => {
  const w = l2World();
  w.cluster.delete('nodes', 'node-b');
  w.cluster.delete('secrets', `${SYSTEM_NAMESPACE}/${HEARTBEAT_SECRET}`);
  w.cluster.set('l2Advertisements', l2adv('bad', { ipAddressPools: ['nope'] }));
  const a = speaker(w, 'node-a', '192.0.2.1', '02:00:00:00:00:01');
  await started(w, a);
  await w.clock.advanceAsync(1000, 50);
  const invalid = a.events.events.filter((e) => e.reason === 'ConfigInvalid' && e.target.kind === 'L2Advertisement');
  assert.equal(invalid.length, 1, 'one ConfigInvalid event for the L2Advertisement');
  assert.equal(invalid[0]?.target.metadata.name, 'bad');
  assert.ok(a.events.events.some((e) => e.target.kind === 'Secret' && e.target.metadata.name === HEARTBEAT_SECRET), 'the missing key is told');
  // more re-plans: no repeat
  w.cluster.set('services', service('web', 's1', ['192.0.2.200'], 'p1'));
  w.cluster.set('pools', pool('p2'));
  await w.clock.advanceAsync(1000, 50);
  assert.equal(a.events.events.filter((e) => e.target.kind === 'L2Advertisement').length, 1, 'not repeated');
  const c = new Map(a.sink.last?.conditions.map((x) => [x.type, x.status]));
  assert.equal(c.get('ConfigValid'), 'False');
  assert.equal(c.get('HeartbeatKey'), 'False');
  // the IP of the still-valid advertisement is served
  assert.ok(a.daemon.answering().has('192.0.2.200'), 'the valid advertisement keeps serving');
  // fixed: ConfigValid back to True
  w.cluster.delete('l2Advertisements', 'bad');
  w.cluster.set('secrets', keySecret);
  await w.clock.advanceAsync(1000, 50);
  const c2 = new Map(a.sink.last?.conditions.map((x) => [x.type, x.status]));
  assert.equal(c2.get('ConfigValid'), 'True');
  assert.equal(c2.get('HeartbeatKey'), 'True');
  await stopped(w, a);
});

test('carrier loss on the answering interface gives the IP up at once; the other node takes it', async () => {
  const w = l2World();
  const a = speaker(w, 'node-a', '192.0.2.1', '02:00:00:00:00:01');
  const b = speaker(w, 'node-b', '192.0.2.2', '02:00:00:00:00:02');
  await started(w, a, b);
  const ips = Array.from({ length: 6 }, (_, i) => `192.0.2.${200 + i}`);
  ips.forEach((ip, i) => { w.cluster.set('services', service('web', `s${i}`, [ip], 'p1')); });
  await w.clock.advanceAsync(1500, 10);
  const ofA = ips.filter((ip) => a.daemon.answering().has(ip));
  assert.ok(ofA.length > 0);
  a.carrier.set('eth0', false);
  assert.equal(a.daemon.answering().size, 0, 'released synchronously with the carrier change');
  await w.clock.advanceAsync(1000, 10);
  for (const ip of ips) assert.deepEqual(answeringNodes([a, b], ip), ['node-b'], `${ip} moved to b`);
  // the cable comes back: a is a candidate again and its IPs go back to it, each answered by exactly one node
  a.carrier.set('eth0', true);
  await w.clock.advanceAsync(3000, 10);
  for (const ip of ips) assert.deepEqual(w.lan.who(ip).length, 1, `${ip} answered by one MAC`);
  for (const ip of ofA) assert.deepEqual(answeringNodes([a, b], ip), ['node-a'], `${ip} back on a`);
  await stopped(w, a, b);
});

test('Local Services follow EndpointSlices; an excluded node never answers', async () => {
  const w = l2World();
  const a = speaker(w, 'node-a', '192.0.2.1', '02:00:00:00:00:01');
  const b = speaker(w, 'node-b', '192.0.2.2', '02:00:00:00:00:02');
  await started(w, a, b);
  const slice = (nodeName: string): Record<string, unknown> => ({
    metadata: { name: 'loc-1', namespace: 'web', labels: { [SERVICE_NAME_LABEL]: 'loc' } },
    endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true }, nodeName }],
  });
  w.cluster.set('endpointSlices', slice('node-a'));
  w.cluster.set('services', service('web', 'loc', ['192.0.2.210'], 'p1', { externalTrafficPolicy: 'Local' }));
  await w.clock.advanceAsync(1000, 10);
  assert.deepEqual(answeringNodes([a, b], '192.0.2.210'), ['node-a']);
  w.cluster.set('endpointSlices', slice('node-b'));
  await w.clock.advanceAsync(1000, 10);
  assert.deepEqual(answeringNodes([a, b], '192.0.2.210'), ['node-b'], 'moved with the endpoint');
  w.cluster.set('nodes', node('node-b', '192.0.2.2', { 'node.kubernetes.io/exclude-from-external-load-balancers': '' }));
  w.cluster.set('services', service('web', 'any', ['192.0.2.211'], 'p1'));
  await w.clock.advanceAsync(1000, 10);
  assert.deepEqual(answeringNodes([a, b], '192.0.2.211'), ['node-a'], 'never the excluded node');
  assert.deepEqual(answeringNodes([a, b], '192.0.2.210'), [], 'the Local Service has no eligible node');
  await stopped(w, a, b);
});

test('apiserver unreachable: ApiReachable False, every IP still answered, and a crashed owner is still taken over', async () => {
  const w = l2World();
  const a = speaker(w, 'node-a', '192.0.2.1', '02:00:00:00:00:01');
  const b = speaker(w, 'node-b', '192.0.2.2', '02:00:00:00:00:02');
  await started(w, a, b);
  const ips = Array.from({ length: 8 }, (_, i) => `192.0.2.${200 + i}`);
  ips.forEach((ip, i) => { w.cluster.set('services', service('web', `s${i}`, [ip], 'p1')); });
  await w.clock.advanceAsync(1500, 10);
  const before = new Map(ips.map((ip) => [ip, answeringNodes([a, b], ip)]));
  a.api.ok = false;
  b.api.ok = false;
  await w.clock.advanceAsync(3000, 50);
  for (const ip of ips) assert.deepEqual(answeringNodes([a, b], ip), before.get(ip), `${ip} still answered by the same node`);
  assert.equal(new Map(a.sink.writes.at(-1)?.conditions.map((c) => [c.type, c.status])).get('ApiReachable'), 'False');
  // b crashes while the apiserver is away: its Lease looks fresh forever (frozen), heartbeats tell the truth
  w.net.cut.add('192.0.2.2');
  for (const l of b.links.values()) l.close();
  await w.clock.advanceAsync(2000, 10);
  for (const ip of ips) assert.deepEqual(w.lan.who(ip), [a.mac], `${ip} taken over by a (only a's MAC answers)`);
  a.api.ok = true;
  await w.clock.advanceAsync(2000, 50);
  assert.equal(new Map(a.sink.writes.at(-1)?.conditions.map((c) => [c.type, c.status])).get('ApiReachable'), 'True');
  await stopped(w, a);
});
