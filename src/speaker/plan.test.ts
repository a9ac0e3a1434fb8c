import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { selectorMatches, type LabelSelector } from '../api/types.ts';
import type { BGPAdvertisementConfig, BGPPeerConfig, Config, L2AdvertisementConfig } from '../config/types.ts';
import { chooseInterfaces } from '../l2/interfaces.ts';
import { bitsOf, formatIP, parseIP } from '../net/ip.ts';
import { NoOwnerReasons, plan } from './plan.ts';
import { compareForIP } from './rank.ts';
import type { InterfaceState, MemberState, MemberView, Plan, PlanNode, PlanService, PlanSnapshot } from './types.ts';

/** Seed for the property tests: printed, and taken from FC_SEED to re-run a failure. */
const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
console.log(`plan properties: seed ${seed} (re-run with FC_SEED=${seed})`);

// ---------------------------------------------------------------------------------------------------------
// builders

function iface(name: string, cidrs: string[], up = true): InterfaceState {
  const addresses = cidrs.map((cidr) => ({ address: cidr.split('/')[0]!, cidr, family: cidr.includes(':') ? 'IPv6' as const : 'IPv4' as const }));
  return { name, mac: '02:00:00:00:00:01', addresses, up };
}

/** Node i: eth0 on 192.0.2.0/24 and 2001:db8::/64, eth1 on 198.51.100.0/24. */
function stdIfaces(i: number, eth0Up = true, eth1Up = true): InterfaceState[] {
  return [iface('eth0', [`192.0.2.${10 + i}/24`, `2001:db8::${10 + i}/64`], eth0Up), iface('eth1', [`198.51.100.${10 + i}/24`], eth1Up)];
}

function node(name: string, labels: Record<string, string> = {}, extra: Partial<PlanNode> = {}): PlanNode {
  return { name, labels, excluded: false, networkUnavailable: false, ...extra };
}

function l2Ad(name: string, pools: string[], extra: Partial<L2AdvertisementConfig> = {}): L2AdvertisementConfig {
  return { name, pools: new Set(pools), nodeSelectors: [], interfaces: [], ...extra };
}

function bgpAd(name: string, pools: string[], extra: Partial<BGPAdvertisementConfig> = {}): BGPAdvertisementConfig {
  return { name, pools: new Set(pools), nodeSelectors: [], peers: [], communities: [], largeCommunities: [], aggregationLength: 32, aggregationLengthV6: 128, ...extra };
}

function peer(name: string, nodeSelectors: LabelSelector[] = []): BGPPeerConfig {
  return { name, myASN: 64512, peerASN: 64513, peerAddress: '203.0.113.1', peerPort: 179, holdTime: 90, connectTime: 120, ebgpMultiHop: false, passive: false, gracefulRestart: false, nodeSelectors };
}

function svc(key: string, ips: string[], pool = 'p', local = false): PlanService {
  return { key, ips, pool, local };
}

interface Cluster {
  config?: Partial<Config>;
  nodes: PlanNode[];
  members: Record<string, MemberView>;
  services: PlanService[];
  ready?: Record<string, string[]>;
}

function snapshot(c: Cluster): PlanSnapshot {
  const config: Config = { pools: [{ name: 'p', labels: {} }], l2: [l2Ad('l2', ['p'])], bgp: [], peers: [], ...c.config };
  return {
    config,
    nodes: new Map(c.nodes.map((n) => [n.name, n])),
    members: new Map(Object.entries(c.members)),
    services: c.services,
    readyNodes: new Map(Object.entries(c.ready ?? {}).map(([k, v]) => [k, new Set(v)])),
  };
}

const alive = (interfaces: InterfaceState[]): MemberView => ({ state: 'alive', interfaces });
const best = (ip: string, names: string[]): string => [...names].sort(compareForIP(ip))[0]!;

// ---------------------------------------------------------------------------------------------------------
// examples

test('one owner per IP: the best-ranked live candidate; only it claims, on the interface of the subnet', () => {
  const names = ['a', 'b', 'c'];
  const snap = snapshot({
    nodes: names.map((n) => node(n)),
    members: Object.fromEntries(names.map((n, i) => [n, alive(stdIfaces(i))])),
    services: [svc('ns/web', ['192.0.2.100']), svc('ns/v6', ['2001:db8::100']), svc('ns/other', ['198.51.100.100'])],
  });
  for (const ip of ['192.0.2.100', '2001:db8::100', '198.51.100.100']) {
    const owner = best(ip, names);
    const claims = names.filter((n) => plan(n, snap).l2.has(ip));
    assert.deepEqual(claims, [owner], ip);
    assert.equal(plan('a', snap).l2Owners.get(ip)?.owner, owner);
    const claim = plan(owner, snap).l2.get(ip)!;
    assert.deepEqual(claim.interfaces, [ip.startsWith('198.51.100.') ? 'eth1' : 'eth0']);
    assert.deepEqual(claim.outrankedBySuspects, []);
  }
  assert.deepEqual([...plan('a', snap).l2Owners.keys()], ['192.0.2.100', '198.51.100.100', '2001:db8::100'], 'address order');
});

test('excluded, NetworkUnavailable, Node-less, leaving and carrier-less speakers never own', () => {
  const ip = '192.0.2.100';
  const names = ['a', 'b', 'c', 'd', 'e', 'f'];
  const snap = snapshot({
    nodes: [node('a', {}, { excluded: true }), node('b', {}, { networkUnavailable: true }), node('d'), node('e'), node('f')],
    members: {
      a: alive(stdIfaces(0)), b: alive(stdIfaces(1)), c: alive(stdIfaces(2)),
      d: { state: 'leaving', interfaces: stdIfaces(3) }, e: alive(stdIfaces(4, false)), f: alive(stdIfaces(5)),
    },
    services: [svc('ns/web', [ip])],
  });
  assert.equal(plan('f', snap).l2Owners.get(ip)?.owner, 'f');
  for (const n of names.slice(0, 5)) assert.equal(plan(n, snap).l2.size, 0, n);
  // without f nobody is left
  const none = snapshot({ ...{ nodes: [...snap.nodes.values()].filter((n) => n.name !== 'f') }, members: Object.fromEntries([...snap.members].filter(([n]) => n !== 'f')), services: [svc('ns/web', [ip])] });
  assert.deepEqual(plan('a', none).l2Owners.get(ip), { owner: undefined, services: ['ns/web'], reason: NoOwnerReasons.NoEligibleNode });
});

test('a suspect never owns, but an owner it outranks is told to probe for it', () => {
  // find an IP where node s ranks above a and b
  let ip = '';
  for (let i = 1; i < 250; i++) {
    ip = `192.0.2.${i}`;
    if (best(ip, ['s', 'a', 'b']) === 's') break;
  }
  const owner = best(ip, ['a', 'b']);
  const snap = snapshot({
    nodes: [node('s'), node('a'), node('b')],
    members: { s: { state: 'suspect', interfaces: stdIfaces(0) }, a: alive(stdIfaces(1)), b: alive(stdIfaces(2)) },
    services: [svc('ns/web', [ip])],
  });
  assert.equal(plan('s', snap).l2.size, 0);
  assert.equal(plan('a', snap).l2Owners.get(ip)?.owner, owner);
  assert.deepEqual(plan(owner, snap).l2.get(ip)?.outrankedBySuspects, ['s']);
  // the same suspect with its interface down is no threat: it could not answer
  const down = snapshot({ ...{ nodes: [node('s'), node('a'), node('b')] }, members: { s: { state: 'suspect', interfaces: stdIfaces(0, false) }, a: alive(stdIfaces(1)), b: alive(stdIfaces(2)) }, services: [svc('ns/web', [ip])] });
  assert.deepEqual(plan(owner, down).l2.get(ip)?.outrankedBySuspects, []);
  // only suspects: no owner, and the reason says so
  const only = snapshot({ nodes: [node('s')], members: { s: { state: 'suspect', interfaces: stdIfaces(0) } }, services: [svc('ns/web', [ip])] });
  assert.equal(plan('s', only).l2Owners.get(ip)?.reason, NoOwnerReasons.NoLiveNode);
});

test('Local: only nodes with a ready endpoint own; shared IPs take the intersection and are never split', () => {
  const names = ['a', 'b', 'c', 'd'];
  const base = {
    nodes: names.map((n) => node(n)),
    members: Object.fromEntries(names.map((n, i) => [n, alive(stdIfaces(i))])),
  };
  const ip = '192.0.2.100';
  const local = snapshot({ ...base, services: [svc('ns/l', [ip], 'p', true)], ready: { 'ns/l': ['b', 'c'] } });
  assert.equal(plan('a', local).l2Owners.get(ip)?.owner, best(ip, ['b', 'c']));
  const shared = snapshot({
    ...base,
    services: [svc('ns/l1', [ip], 'p', true), svc('ns/cluster', [ip]), svc('ns/l2', [ip], 'p', true)],
    ready: { 'ns/l1': ['a', 'b', 'c'], 'ns/l2': ['c', 'd'] },
  });
  const owners = names.map((n) => plan(n, shared));
  assert.deepEqual(owners[0]!.l2Owners.get(ip), { owner: 'c', services: ['ns/cluster', 'ns/l1', 'ns/l2'] });
  assert.deepEqual(owners.filter((p) => p.l2.has(ip)).length, 1);
  assert.deepEqual(owners[2]!.l2.get(ip)?.services, ['ns/cluster', 'ns/l1', 'ns/l2']);
  const empty = snapshot({ ...base, services: [svc('ns/l1', [ip], 'p', true), svc('ns/l2', [ip], 'p', true)], ready: { 'ns/l1': ['a'], 'ns/l2': ['b'] } });
  assert.deepEqual(plan('a', empty).l2Owners.get(ip), { owner: undefined, services: ['ns/l1', 'ns/l2'], reason: NoOwnerReasons.NoReadyEndpoint });
});

test('advertisements: nodeSelectors, explicit interfaces (up ones only), union of interfaces, pools', () => {
  const snap = snapshot({
    config: {
      pools: [{ name: 'p', labels: {} }, { name: 'q', labels: {} }, { name: 'bare', labels: {} }],
      l2: [l2Ad('by-subnet', ['p']), l2Ad('eth1-zone-a', ['p', 'q'], { interfaces: ['eth1', 'eth9'], nodeSelectors: [{ matchLabels: { zone: 'a' } }] })],
    },
    nodes: [node('a', { zone: 'a' }), node('b', { zone: 'b' })],
    members: { a: alive(stdIfaces(0)), b: alive(stdIfaces(1, true, false)) },
    services: [svc('ns/p', ['192.0.2.100'], 'p'), svc('ns/q', ['203.0.113.9'], 'q'), svc('ns/bare', ['192.0.2.101'], 'bare')],
  });
  const a = plan('a', snap);
  // q is announced on eth1 (explicit) though no interface holds 203.0.113.0/24; b is not in zone a
  assert.deepEqual(a.l2.get('203.0.113.9')?.interfaces, ['eth1']);
  assert.equal(a.l2Owners.get('203.0.113.9')?.owner, 'a');
  // p on a: eth0 by subnet plus eth1 explicitly
  if (a.l2Owners.get('192.0.2.100')?.owner === 'a') assert.deepEqual(a.l2.get('192.0.2.100')?.interfaces, ['eth0', 'eth1']);
  // a pool no advertisement covers is unannounced, and in no owner list
  assert.deepEqual([...a.unannounced], [['192.0.2.101', ['ns/bare']]]);
  assert.equal(a.l2Owners.has('192.0.2.101'), false);
  // b's eth1 is down: with only the explicit advertisement, b can never own
  const bOnly = snapshot({ ...{ config: snap.config }, nodes: [node('b', { zone: 'a' })], members: { b: alive(stdIfaces(1, true, false)) }, services: [svc('ns/q', ['203.0.113.9'], 'q')] });
  assert.equal(plan('b', bOnly).l2Owners.get('203.0.113.9')?.owner, undefined);
});

test('BGP: peers by nodeSelectors ∩ advertisement peers, aggregation merges Services, attributes merged per prefix', () => {
  const snap = snapshot({
    config: {
      pools: [{ name: 'p', labels: {} }],
      l2: [],
      peers: [peer('tor-a'), peer('tor-b'), peer('rack-2', [{ matchLabels: { rack: '2' } }])],
      bgp: [
        bgpAd('host', ['p'], { communities: ['65000:2', '65000:1'], localPref: 100 }),
        bgpAd('agg', ['p'], { peers: ['tor-b', 'rack-2'], aggregationLength: 24, aggregationLengthV6: 64, largeCommunities: ['1:2:3'], communities: ['65000:1'], localPref: 300 }),
        bgpAd('host-b', ['p'], { peers: ['tor-b'], communities: ['65000:9'], largeCommunities: ['1:2:3', '0:0:1'], localPref: 50 }),
      ],
    },
    nodes: [node('a', { rack: '1' })],
    members: { a: alive(stdIfaces(0)) },
    services: [svc('ns/x', ['192.0.2.7']), svc('ns/y', ['192.0.2.200', '2001:db8::1:5']), svc('ns/z', ['192.0.2.7'])],
  });
  const p = plan('a', snap);
  assert.deepEqual(p.peers, ['tor-a', 'tor-b']);
  assert.deepEqual([...p.bgp.keys()], ['tor-a', 'tor-b']);
  assert.deepEqual(p.bgp.get('tor-a'), [
    { prefix: '192.0.2.7/32', communities: ['65000:1', '65000:2'], largeCommunities: [], localPref: 100, services: ['ns/x', 'ns/z'] },
    { prefix: '192.0.2.200/32', communities: ['65000:1', '65000:2'], largeCommunities: [], localPref: 100, services: ['ns/y'] },
    { prefix: '2001:db8::1:5/128', communities: ['65000:1', '65000:2'], largeCommunities: [], localPref: 100, services: ['ns/y'] },
  ]);
  assert.deepEqual(p.bgp.get('tor-b'), [
    { prefix: '192.0.2.0/24', communities: ['65000:1'], largeCommunities: ['1:2:3'], localPref: 300, services: ['ns/x', 'ns/y', 'ns/z'] },
    { prefix: '192.0.2.7/32', communities: ['65000:1', '65000:2', '65000:9'], largeCommunities: ['0:0:1', '1:2:3'], localPref: 100, services: ['ns/x', 'ns/z'] },
    { prefix: '192.0.2.200/32', communities: ['65000:1', '65000:2', '65000:9'], largeCommunities: ['0:0:1', '1:2:3'], localPref: 100, services: ['ns/y'] },
    { prefix: '2001:db8::/64', communities: ['65000:1'], largeCommunities: ['1:2:3'], localPref: 300, services: ['ns/y'] },
    { prefix: '2001:db8::1:5/128', communities: ['65000:1', '65000:2', '65000:9'], largeCommunities: ['0:0:1', '1:2:3'], localPref: 100, services: ['ns/y'] },
  ]);
  assert.equal(p.l2Owners.size, 0, 'no L2 advertisement: no L2 owners');
  assert.equal(p.unannounced.size, 0);
});

test('BGP: Local withdraws from nodes without a ready endpoint; excluded nodes announce nothing but keep their peers', () => {
  const base: Cluster = {
    config: { l2: [], peers: [peer('tor')], bgp: [bgpAd('host', ['p'])] },
    nodes: [node('a'), node('b', {}, { excluded: true })],
    members: { a: alive(stdIfaces(0)), b: alive(stdIfaces(1)) },
    services: [svc('ns/l', ['192.0.2.7'], 'p', true), svc('ns/c', ['192.0.2.8'])],
    ready: { 'ns/l': ['b'] },
  };
  assert.deepEqual(plan('a', snapshot(base)).bgp.get('tor')?.map((r) => r.prefix), ['192.0.2.8/32']);
  const b = plan('b', snapshot(base));
  assert.deepEqual(b.peers, ['tor']);
  assert.deepEqual(b.bgp.get('tor'), []);
  // a shared IP: every Service of the unit must be satisfied
  const shared = snapshot({ ...base, services: [svc('ns/l', ['192.0.2.7'], 'p', true), svc('ns/c', ['192.0.2.7'])], ready: { 'ns/l': ['b'] } });
  assert.deepEqual(plan('a', shared).bgp.get('tor'), []);
  // a node without its Node object peers with nobody
  assert.deepEqual(plan('ghost', snapshot(base)).peers, []);
});

test('IP texts that do not parse: no owner, a reason, no route', () => {
  const snap = snapshot({ config: { peers: [peer('tor')], bgp: [bgpAd('host', ['p'])] }, nodes: [node('a')], members: { a: alive(stdIfaces(0)) }, services: [svc('ns/bad', ['192.0.2.300']), svc('ns/ok', ['192.0.2.1'])] });
  const p = plan('a', snap);
  assert.deepEqual(p.l2Owners.get('192.0.2.300'), { owner: undefined, services: ['ns/bad'], reason: NoOwnerReasons.InvalidAddress });
  assert.deepEqual(p.bgp.get('tor')?.map((r) => r.prefix), ['192.0.2.1/32']);
});

// ---------------------------------------------------------------------------------------------------------
// the oracle: the rules written out directly, one (node, IP) at a time, with no grouping or fast paths

interface OracleIP {
  services: string[];
  covered: boolean;
  l2: boolean;
  alive: string[];
  suspects: string[];
  ifaces: Map<string, string[]>;
}

function oracle(snap: PlanSnapshot): Map<string, OracleIP> {
  const out = new Map<string, OracleIP>();
  const byIP = new Map<string, PlanService[]>();
  for (const s of snap.services) for (const ip of s.ips) { const l = byIP.get(ip) ?? []; if (!l.includes(s)) l.push(s); byIP.set(ip, l); }
  for (const [ip, list] of byIP) {
    const pools = list.map((s) => s.poolOf?.[ip] ?? s.pool);
    const l2Ads = snap.config.l2.filter((a) => pools.every((p) => a.pools.has(p)));
    const bgpAds = snap.config.bgp.filter((a) => pools.every((p) => a.pools.has(p)));
    const o: OracleIP = { services: list.map((s) => s.key).sort(), covered: l2Ads.length + bgpAds.length > 0, l2: l2Ads.length > 0, alive: [], suspects: [], ifaces: new Map() };
    for (const [name, m] of snap.members) {
      const n = snap.nodes.get(name);
      if (m.state === 'leaving' || !n || n.excluded || n.networkUnavailable || parseIP(ip) === undefined) continue;
      if (!list.filter((s) => s.local).every((s) => snap.readyNodes.get(s.key)?.has(name))) continue;
      const up = m.interfaces.filter((i) => i.up);
      const chosen = new Set<string>();
      for (const a of l2Ads) {
        if (a.nodeSelectors.length > 0 && !a.nodeSelectors.some((sel) => selectorMatches(sel, n.labels))) continue;
        for (const i of chooseInterfaces(ip, up, a.interfaces)) chosen.add(i);
      }
      if (chosen.size === 0) continue;
      (m.state === 'alive' ? o.alive : o.suspects).push(name);
      o.ifaces.set(name, [...chosen].sort());
    }
    out.set(ip, o);
  }
  return out;
}

function oracleRoutes(self: string, snap: PlanSnapshot): Map<string, Map<string, { c: Set<string>; lc: Set<string>; lp: number | undefined; s: Set<string> }>> {
  const routes = new Map<string, Map<string, { c: Set<string>; lc: Set<string>; lp: number | undefined; s: Set<string> }>>();
  const n = snap.nodes.get(self);
  if (!n) return routes;
  const matches = (sels: readonly LabelSelector[]): boolean => sels.length === 0 || sels.some((s) => selectorMatches(s, n.labels));
  const peers = snap.config.peers.filter((p) => matches(p.nodeSelectors)).map((p) => p.name);
  for (const p of peers) routes.set(p, new Map());
  if (n.excluded || n.networkUnavailable) return routes;
  const byIP = new Map<string, PlanService[]>();
  for (const s of snap.services) for (const ip of s.ips) { const l = byIP.get(ip) ?? []; l.push(s); byIP.set(ip, l); }
  for (const [ip, list] of byIP) {
    const addr = parseIP(ip);
    if (!addr) continue;
    if (!list.filter((s) => s.local).every((s) => snap.readyNodes.get(s.key)?.has(self))) continue;
    const pools = list.map((s) => s.poolOf?.[ip] ?? s.pool);
    for (const ad of snap.config.bgp) {
      if (!pools.every((p) => ad.pools.has(p)) || !matches(ad.nodeSelectors)) continue;
      const len = addr.family === 'IPv4' ? ad.aggregationLength : ad.aggregationLengthV6;
      const host = BigInt(bitsOf(addr.family) - len);
      const prefix = `${formatIP({ family: addr.family, value: (addr.value >> host) << host })}/${len}`;
      for (const p of peers) {
        if (ad.peers.length > 0 && !ad.peers.includes(p)) continue;
        const m = routes.get(p)!;
        const r = m.get(prefix) ?? { c: new Set(), lc: new Set(), lp: undefined, s: new Set() };
        ad.communities.forEach((c) => r.c.add(c));
        ad.largeCommunities.forEach((c) => r.lc.add(c));
        if (ad.localPref !== undefined) r.lp = Math.max(r.lp ?? 0, ad.localPref);
        list.forEach((s) => r.s.add(s.key));
        m.set(prefix, r);
      }
    }
  }
  return routes;
}

// ---------------------------------------------------------------------------------------------------------
// random clusters

const NODE_NAMES = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5'];
const IPS = ['192.0.2.100', '192.0.2.101', '192.0.2.102', '192.0.2.250', '198.51.100.100', '198.51.100.101', '203.0.113.5', '203.0.113.6',
  '2001:db8::100', '2001:db8::101', '2001:db8:1::1', '192.0.2.300'];
const POOLS = ['p0', 'p1', 'p2'];
const ZONES = ['a', 'b'];

const arbSelectors = fc.oneof(
  fc.constant<LabelSelector[]>([]),
  fc.subarray(ZONES, { minLength: 1 }).map((zs) => zs.map((z): LabelSelector => ({ matchLabels: { zone: z } }))),
);

const arbConfig: fc.Arbitrary<Config> = fc.record({
  l2: fc.array(fc.record({
    pools: fc.subarray(POOLS, { minLength: 1 }),
    sel: arbSelectors,
    interfaces: fc.oneof(fc.constant([]), fc.subarray(['eth0', 'eth1', 'eth2'], { minLength: 1 })),
  }), { maxLength: 3 }),
  bgp: fc.array(fc.record({
    pools: fc.subarray(POOLS, { minLength: 1 }),
    sel: arbSelectors,
    peers: fc.subarray(['r1', 'r2', 'r3']),
    comm: fc.subarray(['65000:1', '65000:2', '65535:65281']),
    large: fc.subarray(['1:2:3', '4:5:6']),
    lp: fc.option(fc.integer({ min: 0, max: 500 }), { nil: undefined }),
    agg: fc.constantFrom(32, 24, 30),
    agg6: fc.constantFrom(128, 64, 48),
  }), { maxLength: 3 }),
  peers: fc.subarray(['r1', 'r2', 'r3']).chain((names) => fc.tuple(...names.map((n) => arbSelectors.map((s) => peer(n, s))))),
}).map(({ l2, bgp, peers }) => ({
  pools: POOLS.map((name) => ({ name, labels: {} })),
  l2: l2.map((a, i) => l2Ad(`l2-${i}`, a.pools, { nodeSelectors: a.sel, interfaces: a.interfaces })),
  bgp: bgp.map((a, i) => bgpAd(`bgp-${i}`, a.pools, { nodeSelectors: a.sel, peers: a.peers, communities: a.comm, largeCommunities: a.large, localPref: a.lp, aggregationLength: a.agg, aggregationLengthV6: a.agg6 })),
  peers,
}));

const arbMember = (i: number): fc.Arbitrary<MemberView> => fc.record({
  state: fc.constantFrom<MemberState>('alive', 'alive', 'alive', 'suspect', 'leaving'),
  eth0: fc.boolean(), eth1: fc.boolean(), virt: fc.boolean(), eth2: fc.constantFrom('none', 'real', 'zero-mac'),
}).map(({ state, eth0, eth1, virt, eth2 }) => ({
  state,
  interfaces: [
    ...stdIfaces(i, eth0, eth1),
    ...(virt ? [iface('cni0', ['203.0.113.1/24'])] : []),
    // link-local subnets never choose; a half of 192.0.2.0/24 and a zero MAC make subnets of other sizes
    ...(eth2 === 'none' ? [] : [{ ...iface('eth2', ['fe80::5/64', '169.254.1.5/16', `192.0.2.${200 + i}/25`, '2001:db8:1::9/48']), ...(eth2 === 'zero-mac' ? { mac: '00:00:00:00:00:00' } : {}) }]),
  ],
}));

const arbCluster: fc.Arbitrary<PlanSnapshot> = fc.record({
  config: arbConfig,
  nodes: fc.tuple(...NODE_NAMES.map((name) => fc.record({
    exists: fc.constantFrom(true, true, true, false),
    zone: fc.constantFrom(...ZONES),
    excluded: fc.constantFrom(false, false, false, true),
    unavailable: fc.constantFrom(false, false, false, true),
  }).map((n) => ({ name, ...n })))),
  members: fc.tuple(...NODE_NAMES.map((_, i) => fc.option(arbMember(i), { freq: 5 }))),
  services: fc.array(fc.record({
    ips: fc.subarray(IPS, { minLength: 1, maxLength: 2 }),
    pool: fc.constantFrom(...POOLS),
    local: fc.boolean(),
    ready: fc.subarray(NODE_NAMES),
  }), { maxLength: 10 }),
}).map(({ config, nodes, members, services }) => ({
  config,
  nodes: new Map(nodes.filter((n) => n.exists).map((n) => [n.name, node(n.name, { zone: n.zone }, { excluded: n.excluded, networkUnavailable: n.unavailable })])),
  members: new Map(NODE_NAMES.flatMap((name, i) => { const m = members[i]; return m ? [[name, m] as const] : []; })),
  services: services.map((s, i) => svc(`ns/s${i}`, s.ips, s.pool, s.local)),
  readyNodes: new Map(services.flatMap((s, i) => (s.local ? [[`ns/s${i}`, new Set(s.ready)] as const] : []))),
}));

const RUNS = 400;

function owners(p: Plan): Record<string, string | undefined> {
  return Object.fromEntries([...p.l2Owners].map(([ip, o]) => [ip, o.owner]));
}

/** A plan as plain JSON, Maps in their iteration order (so equal text means equal content and order). */
function text(p: Plan): string {
  return JSON.stringify({ l2: [...p.l2], owners: [...p.l2Owners], bgp: [...p.bgp], peers: p.peers, unannounced: [...p.unannounced] });
}

// ---------------------------------------------------------------------------------------------------------
// properties

test('property: owners, claims and unannounced IPs are what the rules say (the oracle), from every observer', () => {
  fc.assert(fc.property(arbCluster, (snap) => {
    const o = oracle(snap);
    for (const obs of NODE_NAMES) {
      const p = plan(obs, snap);
      for (const [ip, want] of o) {
        if (!want.covered) {
          assert.deepEqual(p.unannounced.get(ip), want.services, ip);
          assert.equal(p.l2Owners.has(ip), false);
          continue;
        }
        assert.equal(p.unannounced.has(ip), false);
        if (!want.l2) { assert.equal(p.l2Owners.has(ip), false); continue; }
        const got = p.l2Owners.get(ip)!;
        assert.deepEqual(got.services, want.services);
        // exactly one owner among the candidates, none when there is none
        const owner = want.alive.length > 0 ? best(ip, want.alive) : undefined;
        assert.equal(got.owner, owner, `${ip}: candidates ${want.alive.join(',')}`);
        if (owner === undefined) assert.ok(got.reason, 'no owner: a reason');
        const claim = p.l2.get(ip);
        if (owner !== obs) { assert.equal(claim, undefined); continue; }
        assert.ok(claim, `${obs} owns ${ip} but does not claim it`);
        assert.deepEqual(claim.interfaces, want.ifaces.get(obs));
        assert.ok(claim.interfaces.length > 0);
        const above = want.suspects.filter((s) => best(ip, [s, obs]) === s).sort();
        assert.deepEqual(claim.outrankedBySuspects, above);
      }
      assert.equal(p.l2Owners.size + p.unannounced.size, [...o.values()].filter((x) => x.l2 || !x.covered).length);
    }
  }), { seed, numRuns: RUNS });
});

test('property: the owner is an eligible live node: not excluded, with a ready endpoint of every Local Service', () => {
  fc.assert(fc.property(arbCluster, (snap) => {
    const p = plan('n0', snap);
    for (const [ip, o] of p.l2Owners) {
      if (o.owner === undefined) continue;
      const n = snap.nodes.get(o.owner);
      assert.ok(n && !n.excluded && !n.networkUnavailable);
      assert.equal(snap.members.get(o.owner)?.state, 'alive');
      for (const s of snap.services) if (s.ips.includes(ip) && s.local) assert.ok(snap.readyNodes.get(s.key)?.has(o.owner));
    }
  }), { seed, numRuns: RUNS });
});

test('property: observers with the same view agree; every IP with an owner is claimed by exactly that node', () => {
  fc.assert(fc.property(arbCluster, (snap) => {
    const plans = NODE_NAMES.map((n) => plan(n, snap));
    const first = owners(plans[0]!);
    for (const p of plans) assert.deepEqual(owners(p), first);
    for (const [ip, owner] of Object.entries(first)) {
      const claimers = NODE_NAMES.filter((_, i) => plans[i]!.l2.has(ip));
      assert.deepEqual(claimers, owner === undefined ? [] : [owner], ip);
    }
  }), { seed, numRuns: RUNS });
});

test('property: the plan does not depend on the order of Services or members', () => {
  fc.assert(fc.property(arbCluster, fc.constantFrom(...NODE_NAMES), (snap, obs) => {
    const shuffled: PlanSnapshot = { ...snap, services: [...snap.services].reverse(), members: new Map([...snap.members].reverse()), nodes: new Map([...snap.nodes].reverse()) };
    assert.equal(text(plan(obs, shuffled)), text(plan(obs, snap)));
  }), { seed, numRuns: RUNS });
});

test('property: removing a member that owns nothing moves no IP; adding one moves IPs only to it', () => {
  fc.assert(fc.property(arbCluster, fc.constantFrom(...NODE_NAMES), (snap, who) => {
    const before = owners(plan('n0', snap));
    const ownsSome = Object.values(before).includes(who);
    const without: PlanSnapshot = { ...snap, members: new Map([...snap.members].filter(([n]) => n !== who)) };
    const after = owners(plan('n0', without));
    if (!ownsSome) assert.deepEqual(after, before, `removing ${who}`);
    // and back: adding `who` moves only IPs to it
    for (const [ip, o] of Object.entries(before)) if (o !== after[ip]) assert.equal(o, who, `adding ${who} moved ${ip}`);
  }), { seed, numRuns: RUNS });
});

test('property: an IP\'s owner changes only when its candidate set changes', () => {
  const mutate = fc.record({
    flip: fc.constantFrom(...NODE_NAMES),
    state: fc.constantFrom<MemberState>('alive', 'suspect', 'leaving'),
    eth0: fc.boolean(),
    dropService: fc.nat(10),
  });
  fc.assert(fc.property(arbCluster, mutate, (a, m) => {
    const members = new Map(a.members);
    const i = NODE_NAMES.indexOf(m.flip);
    members.set(m.flip, { state: m.state, interfaces: stdIfaces(i, m.eth0) });
    const b: PlanSnapshot = { ...a, members, services: a.services.filter((_, k) => k !== m.dropService) };
    const [oa, ob] = [oracle(a), oracle(b)];
    const [pa, pb] = [owners(plan('n1', a)), owners(plan('n1', b))];
    for (const [ip, ca] of oa) {
      const cb = ob.get(ip);
      if (!cb || !ca.l2 || !cb.l2) continue;
      if (JSON.stringify([...ca.alive].sort()) === JSON.stringify([...cb.alive].sort())) assert.equal(pb[ip], pa[ip], ip);
    }
  }), { seed, numRuns: RUNS });
});

test('property: BGP routes per peer are what the rules say (the oracle)', () => {
  fc.assert(fc.property(arbCluster, fc.constantFrom(...NODE_NAMES), (snap, obs) => {
    const p = plan(obs, snap);
    const want = oracleRoutes(obs, snap);
    assert.deepEqual(p.peers, [...want.keys()].sort());
    assert.deepEqual([...p.bgp.keys()], p.peers);
    for (const [peerName, routes] of want) {
      const got = p.bgp.get(peerName)!;
      assert.deepEqual(new Set(got.map((r) => r.prefix)), new Set(routes.keys()), peerName);
      for (const r of got) {
        const w = routes.get(r.prefix)!;
        assert.deepEqual(r.communities, [...w.c].sort());
        assert.deepEqual(r.largeCommunities, [...w.lc].sort());
        assert.equal(r.localPref, w.lp);
        assert.deepEqual(r.services, [...w.s].sort());
      }
      // sorted: IPv4 before IPv6, by address then length
      const keys = got.map((r) => { const [ip, len] = r.prefix.split('/'); const a = parseIP(ip!)!; return [a.family === 'IPv4' ? 0 : 1, a.value, Number(len)] as const; });
      for (let k = 1; k < keys.length; k++) {
        const [x, y] = [keys[k - 1]!, keys[k]!];
        assert.ok(x[0] < y[0] || (x[0] === y[0] && (x[1] < y[1] || (x[1] === y[1] && x[2] < y[2]))), 'route order');
      }
    }
  }), { seed, numRuns: RUNS });
});

test('property: the IPv4/IPv6 fast paths read addresses exactly as parseIP does (via the plan\'s routes)', () => {
  fc.assert(fc.property(fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), fc.string()), (ip) => {
    const snap = snapshot({ config: { l2: [], peers: [peer('r')], bgp: [bgpAd('h', ['p'])] }, nodes: [node('a')], members: { a: alive([]) }, services: [svc('ns/s', [ip])] });
    const routes = plan('a', snap).bgp.get('r')!;
    const a = parseIP(ip);
    if (a === undefined) assert.deepEqual(routes, []);
    else assert.deepEqual(routes.map((r) => r.prefix), [`${ip}/${bitsOf(a.family)}`]);
  }), { seed, numRuns: 1000 });
});
