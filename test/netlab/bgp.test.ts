/**
 * `baregate bgp-announce` against real routers (root only; BIRD 2 and GoBGP from Debian's `bird2` and
 * `gobgpd`). One switch namespace joins three hosts: baregate at 192.0.2.1 / 2001:db8::1, BIRD at .2 / ::2,
 * GoBGP at .3 / ::3. Each router has one session per family with baregate (an IPv4 session carrying
 * IPv4 unicast, an IPv6 session carrying IPv6 unicast through MP-BGP), and every test starts both routers
 * and a fresh speaker with its own configuration, so the tests do not depend on each other.
 *
 * What a router holds is read back with its own tools (`birdc show route all`, `gobgp global rib -j`):
 * the routers only receive (import all, export none; no kernel protocol in BIRD, no zebra in GoBGP), so
 * nothing reaches any FIB. Every wait is a poll whose deadline only bounds a hang.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Lab, netlabSkip } from './netns.ts';
import {
  Bird, type BirdPeer, BirdSocket, Gobgp, type GobgpNeighbor, parseBirdRoutes, type Route, routersDir, routersSkip,
  scriptedConnection, Speaker, until,
} from './routers.ts';
import { buildOpen, decodeMessage, encode } from '../../src/bgp/codec.ts';
import { MessageFramer } from '../../src/bgp/framer.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** How the speaker is started: the sources through tsx, as the other netlab tests do. */
const SPEAKER_CMD = ['--import', 'tsx', `${ROOT}src/cli/main.ts`];
const skipReason = netlabSkip ?? routersSkip;
if (skipReason !== undefined && netlabSkip === undefined) process.stderr.write(`\n*** ${skipReason}: BGP netlab tests SKIPPED ***\n\n`);

const BG = { v4: '192.0.2.1', v6: '2001:db8::1' } as const;
const BIRD = { v4: '192.0.2.2', v6: '2001:db8::2' } as const;
const GOBGP = { v4: '192.0.2.3', v6: '2001:db8::3' } as const;
/** Bounds every wait for something that should happen (a hang guard, not a timing assertion). */
const WAIT = 30_000;
const GSHUT = '65535:0';

type PeerName = 'bird4' | 'bird6' | 'gobgp4' | 'gobgp6';
const ALL_PEERS: readonly PeerName[] = ['bird4', 'bird6', 'gobgp4', 'gobgp6'];
const BIRD_PEERS: readonly PeerName[] = ['bird4', 'bird6'];

/** A prefix in the speaker's config (the shape `bgp-announce --config` reads). */
interface PrefixConf { prefix: string; communities?: string[]; largeCommunities?: string[]; localPref?: number; med?: number; peers?: string[] }

/** One test's set-up: ASNs (GoBGP left out when gobgpASN is undefined), passwords, timers, prefixes. */
interface Scenario {
  myASN: number;
  birdASN: number;
  gobgpASN?: number;
  /** TCP-MD5 keys on the speaker's side, per peer. */
  passwords?: Partial<Record<PeerName, string>>;
  /** TCP-MD5 keys on the routers' side when they differ from the speaker's. */
  routerPasswords?: Partial<Record<PeerName, string>>;
  holdTime?: number;
  birdGracefulRestart?: boolean;
  prefixes?: PrefixConf[];
  /** The speaker listens on this port (all addresses); BIRD connects to it. */
  listenPort?: number;
  /** The speaker's BIRD peers are passive: only BIRD connects. */
  speakerPassive?: boolean;
  /** Passive on the speaker's side, per peer (listening on the peer's sourceAddress). */
  passive?: Partial<Record<PeerName, boolean>>;
  /** GTSM (RFC 5082) on the speaker's side, per peer (ttlSecurityHops 1). */
  gtsm?: Partial<Record<PeerName, boolean>>;
  /** GTSM on BIRD's side (`ttl security on`), per peer. */
  routerGtsm?: Partial<Record<PeerName, boolean>>;
}

const lab = new Lab('bgp');
let dir = '';
let bird: Bird;
let gobgp: Gobgp;
let speaker: Speaker | undefined;
let configFile = '';

function speakerConfig(s: Scenario): Record<string, unknown> {
  const peer = (name: PeerName, peerAddress: string, peerASN: number, sourceAddress: string): Record<string, unknown> => ({
    name, peerAddress, peerASN, sourceAddress, holdTime: s.holdTime ?? 9, connectTime: 1,
    ...((s.speakerPassive === true && name.startsWith('bird')) || s.passive?.[name] === true ? { passive: true } : {}),
    ...(s.passwords?.[name] !== undefined ? { password: s.passwords[name] } : {}),
    ...(s.gtsm?.[name] === true ? { ttlSecurityHops: 1 } : {}),
  });
  const peers = [peer('bird4', BIRD.v4, s.birdASN, BG.v4), peer('bird6', BIRD.v6, s.birdASN, BG.v6)];
  if (s.gobgpASN !== undefined) peers.push(peer('gobgp4', GOBGP.v4, s.gobgpASN, BG.v4), peer('gobgp6', GOBGP.v6, s.gobgpASN, BG.v6));
  return { routerID: BG.v4, myASN: s.myASN, peers, prefixes: s.prefixes ?? [], ...(s.listenPort !== undefined ? { listenAddress: '::', listenPort: s.listenPort } : {}) };
}

function routerPassword(s: Scenario, name: PeerName): { password?: string } {
  const pw = s.routerPasswords?.[name] ?? s.passwords?.[name];
  return pw !== undefined ? { password: pw } : {};
}

/** Restarts both routers with this scenario's sessions, then starts a fresh speaker with its config (run by `command`). */
async function setup(s: Scenario, command: readonly string[] = SPEAKER_CMD): Promise<Speaker> {
  await speaker?.kill();
  speaker = undefined;
  const birdPeer = (name: string, local: string, neighbor: string, fam: 'ipv4' | 'ipv6', p: PeerName): BirdPeer => ({
    name, localAddress: local, localAS: s.birdASN, neighbor, neighborAS: s.myASN, families: [fam], ...routerPassword(s, p),
    ...(s.listenPort !== undefined ? { neighborPort: s.listenPort } : {}),
    ...(s.birdGracefulRestart !== undefined ? { gracefulRestart: s.birdGracefulRestart } : {}),
    ...(s.routerGtsm?.[p] === true ? { ttlSecurity: true } : {}),
  });
  bird.log = '';
  await bird.restart({ routerId: BIRD.v4, peers: [birdPeer('bg4', BIRD.v4, BG.v4, 'ipv4', 'bird4'), birdPeer('bg6', BIRD.v6, BG.v6, 'ipv6', 'bird6')] });
  await gobgp.stop();
  gobgp.log = '';
  if (s.gobgpASN !== undefined) {
    const nb = (address: string, localAddress: string, fam: 'ipv4' | 'ipv6', p: PeerName): GobgpNeighbor => ({
      address, localAddress, peerAS: s.myASN, families: [fam], ...routerPassword(s, p),
    });
    await gobgp.start({ routerId: GOBGP.v4, as: s.gobgpASN, neighbors: [nb(BG.v4, GOBGP.v4, 'ipv4', 'gobgp4'), nb(BG.v6, GOBGP.v6, 'ipv6', 'gobgp6')] });
  }
  writeFileSync(configFile, JSON.stringify(speakerConfig(s), null, 2));
  speaker = await Speaker.start(lab, 'bg', configFile, command);
  return speaker;
}

/** The tails of every log, appended to a failure so it explains itself. */
function diag(): string {
  return `\n--- speaker log (tail)\n${speaker?.log.slice(-4000) ?? '(not running)'}` +
    `\n--- BIRD log (tail)\n${bird.log.slice(-2500)}\n--- gobgpd log (tail)\n${gobgp.log.slice(-2000)}`;
}

/** A test that skips loudly without root or routers, kills its speaker at the end and explains failures. */
function bgpTest(title: string, fn: () => Promise<void>): void {
  test(title, { timeout: 180_000 }, async (t) => {
    if (skipReason !== undefined) { t.skip(skipReason); return; }
    try {
      await fn();
    } catch (e) {
      if (e instanceof Error) e.message += diag();
      throw e;
    } finally {
      await speaker?.kill();
      speaker = undefined;
    }
  });
}

const birdProto = (p: PeerName): string => (p === 'bird4' ? 'bg4' : 'bg6');
const gobgpNeighbor = (p: PeerName): string => (p === 'gobgp4' ? BG.v4 : BG.v6);

/** Waits until the speaker and the routers all see the named sessions Established. */
async function allEstablished(sp: Speaker, peers: readonly PeerName[]): Promise<void> {
  await sp.waitState(peers, WAIT);
  for (const p of peers) {
    let last = '';
    await until(() => `${p} Established at the router: ${last}`, async () => {
      const st = p.startsWith('bird') ? await bird.session(birdProto(p)) : await gobgp.session(gobgpNeighbor(p));
      last = st.raw.slice(0, 1500);
      return st.established ? true : undefined;
    }, WAIT, 100);
  }
}

/** Routes the router holds from one session, by prefix. */
async function peerRoutes(p: PeerName): Promise<Map<string, Route>> {
  const rs = p === 'bird4' || p === 'bird6' ? await bird.routes(birdProto(p)) : await gobgp.routes(p === 'gobgp4' ? 'ipv4' : 'ipv6', gobgpNeighbor(p));
  return new Map(rs.map((r) => [r.prefix, r]));
}

/** Waits until the router holds every prefix of `want` and none of `gone` from that session. */
async function routesAt(p: PeerName, want: readonly string[], gone: readonly string[] = []): Promise<Map<string, Route>> {
  let last = new Map<string, Route>();
  return until(() => `${p} holds [${want.join(' ')}] and not [${gone.join(' ')}]; it holds [${[...last.keys()].join(' ')}]`, async () => {
    last = await peerRoutes(p);
    return want.every((x) => last.has(x)) && gone.every((x) => !last.has(x)) ? last : undefined;
  }, WAIT, 100);
}

const sorted = (xs: readonly string[]): string[] => [...xs].sort();

/** Asserts the attributes of one received route (communities compared as sets). */
function checkRoute(who: string, r: Route | undefined, want: { nextHop: string; asPath: number[]; communities?: string[]; largeCommunities?: string[]; med?: number; localPref?: number | 'absent' }): void {
  assert.ok(r, `${who}: route missing`);
  const at = `${who} ${r.prefix}`;
  assert.equal(r.nextHop, want.nextHop, `${at}: next hop`);
  assert.deepEqual(r.asPath, want.asPath, `${at}: AS_PATH`);
  assert.deepEqual(sorted(r.communities), sorted(want.communities ?? []), `${at}: communities`);
  assert.deepEqual(sorted(r.largeCommunities), sorted(want.largeCommunities ?? []), `${at}: large communities`);
  if (want.med !== undefined) assert.equal(r.med, want.med, `${at}: MED`);
  if (want.localPref === 'absent') assert.equal(r.localPref, undefined, `${at}: no LOCAL_PREF may reach an eBGP peer`);
  else if (want.localPref !== undefined) assert.equal(r.localPref, want.localPref, `${at}: LOCAL_PREF`);
}

/** A Cease NOTIFICATION from the speaker is how a session ends on purpose: BIRD logs it as `<RMT>` too. */
const CEASE = /Received: (Administrative shutdown|Administrative reset|Peer de-configured|Connection collision resolution|Connection rejected|Hard reset)/;

/** BIRD reports protocol errors in what it received as `<RMT>` (and its own as `<ERR>`) log lines; there must be none. */
function assertBirdClean(): void {
  const bad = bird.log.split('\n').filter((l) => /<RMT>|<ERR>|<BUG>/.test(l) && !CEASE.test(l));
  assert.deepEqual(bad, [], 'BIRD complained about what the speaker sent');
}

before(() => {
  if (skipReason !== undefined) return;
  dir = routersDir('bgp');
  configFile = join(dir, 'speaker.json');
  lab.addSwitch('sw');
  lab.addHost('bg', 'sw', [`${BG.v4}/24`, `${BG.v6}/64`]);
  lab.addHost('bird', 'sw', [`${BIRD.v4}/24`, `${BIRD.v6}/64`]);
  lab.addHost('gobgp', 'sw', [`${GOBGP.v4}/24`, `${GOBGP.v6}/64`]);
  bird = new Bird(lab, 'bird', dir, { routerId: BIRD.v4, peers: [] });
  gobgp = new Gobgp(lab, 'gobgp', dir, { routerId: GOBGP.v4, as: 64514, neighbors: [] });
});

after(async () => {
  await speaker?.kill();
  lab.destroySync();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
  const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(lab.prefix));
  assert.deepEqual(left, [], 'every namespace of the lab is gone');
});

// ───────────────────────── sessions ─────────────────────────

const asnCases = [
  { title: 'eBGP, 2-octet ASNs', my: 64512, bird: 64513, gobgp: 64514 },
  { title: 'iBGP, 2-octet ASN', my: 64512, bird: 64512, gobgp: 64512 },
  { title: 'eBGP, 4-octet ASNs', my: 4200000001, bird: 4200000002, gobgp: 4200000003 },
  { title: 'iBGP, 4-octet ASN', my: 4200000001, bird: 4200000001, gobgp: 4200000001 },
] as const;

for (const c of asnCases) {
  bgpTest(`${c.title}: IPv4 and IPv6 sessions to BIRD and GoBGP reach Established`, async () => {
    const sp = await setup({ myASN: c.my, birdASN: c.bird, gobgpASN: c.gobgp });
    await allEstablished(sp, ALL_PEERS);
    for (const proto of ['bg4', 'bg6']) {
      const s = await bird.session(proto);
      assert.match(s.raw, new RegExp(`Neighbor AS:\\s+${c.my}\\n`), `BIRD ${proto}: neighbor AS`);
      assert.match(s.raw, /Neighbor ID:\s+192\.0\.2\.1\n/, `BIRD ${proto}: the speaker's router ID`);
      // "AS4": both sides negotiated 4-octet AS numbers (RFC 6793), also with 2-octet ASNs
      assert.match(s.raw, new RegExp(`Session:\\s+${c.my === c.bird ? 'internal' : 'external'}\\b.*\\bAS4\\b`), `BIRD ${proto}: session type`);
    }
    for (const addr of [BG.v4, BG.v6]) {
      const st = (JSON.parse((await gobgp.session(addr)).raw) as { state?: { peer_asn?: number; router_id?: string } }).state ?? {};
      assert.equal(st.peer_asn, c.my, `GoBGP ${addr}: peer AS`);
      assert.equal(st.router_id, BG.v4, `GoBGP ${addr}: the speaker's router ID`);
    }
    const stats = await sp.stats();
    for (const p of ALL_PEERS) {
      const ps = stats.peers.find((x) => x.name === p);
      assert.equal(ps?.state, 'Established', `speaker stats for ${p}`);
      assert.equal(ps.establishedCount, 1, `${p} came up once`);
    }
    assertBirdClean();
  });
}

// ───────────────────────── routes and attributes ─────────────────────────

bgpTest('eBGP: IPv4 and IPv6 prefixes arrive with the session address as next hop, communities, large communities, MED, AS_PATH [myASN]', async () => {
  const sp = await setup({
    myASN: 64512, birdASN: 64513, gobgpASN: 64514,
    prefixes: [
      // localPref is for iBGP only: it must not reach these eBGP peers
      { prefix: '198.51.100.10/32', communities: ['64512:100', '64512:101'], largeCommunities: ['64512:1:2'], med: 10, localPref: 200 },
      { prefix: '2001:db8:100::10/128', communities: ['64512:200'], largeCommunities: ['64512:3:4'], med: 20 },
    ],
  });
  await allEstablished(sp, ALL_PEERS);
  await sp.send('announce 198.51.100.11/32 {"communities":["64512:7"],"largeCommunities":["4200000001:5:6"],"med":5}');
  await sp.send('announce 2001:db8:100::11/128 {"communities":["64512:8"],"med":6}');
  const v4 = ['198.51.100.10/32', '198.51.100.11/32'];
  const v6 = ['2001:db8:100::10/128', '2001:db8:100::11/128'];
  for (const p of ['bird4', 'gobgp4'] as const) {
    const rs = await routesAt(p, v4);
    checkRoute(p, rs.get(v4[0]!), { nextHop: BG.v4, asPath: [64512], communities: ['64512:100', '64512:101'], largeCommunities: ['64512:1:2'], med: 10, ...(p === 'gobgp4' ? { localPref: 'absent' as const } : {}) });
    checkRoute(p, rs.get(v4[1]!), { nextHop: BG.v4, asPath: [64512], communities: ['64512:7'], largeCommunities: ['4200000001:5:6'], med: 5 });
    assert.deepEqual(sorted([...rs.keys()]), v4, `${p}: only the IPv4 prefixes on the IPv4 session`);
  }
  for (const p of ['bird6', 'gobgp6'] as const) {
    const rs = await routesAt(p, v6);
    checkRoute(p, rs.get(v6[0]!), { nextHop: BG.v6, asPath: [64512], communities: ['64512:200'], largeCommunities: ['64512:3:4'], med: 20 });
    checkRoute(p, rs.get(v6[1]!), { nextHop: BG.v6, asPath: [64512], communities: ['64512:8'], med: 6 });
    assert.deepEqual(sorted([...rs.keys()]), v6, `${p}: only the IPv6 prefixes on the IPv6 session`);
  }
  assert.deepEqual(await gobgp.routes('ipv6', BG.v4), [], 'no IPv6 route over the IPv4-only session');
  assert.deepEqual(await gobgp.routes('ipv4', BG.v6), [], 'no IPv4 route over the IPv6-only session');
  assertBirdClean();
});

bgpTest('iBGP: prefixes arrive with LOCAL_PREF, MED and communities, next hop the session address, empty AS_PATH', async () => {
  const sp = await setup({
    myASN: 64512, birdASN: 64512, gobgpASN: 64512,
    prefixes: [
      { prefix: '198.51.100.20/32', communities: ['64512:100'], largeCommunities: ['64512:1:2'], localPref: 200, med: 10 },
      { prefix: '198.51.100.22/32' },
      { prefix: '2001:db8:100::20/128', communities: ['64512:200'], largeCommunities: ['64512:3:4'], localPref: 300, med: 30 },
    ],
  });
  await allEstablished(sp, ALL_PEERS);
  await sp.send('announce 198.51.100.21/32 {"communities":["64512:7"],"localPref":150}');
  await sp.send('announce 2001:db8:100::21/128 {"localPref":160,"med":7}');
  for (const p of ['bird4', 'gobgp4'] as const) {
    const rs = await routesAt(p, ['198.51.100.20/32', '198.51.100.21/32', '198.51.100.22/32']);
    checkRoute(p, rs.get('198.51.100.20/32'), { nextHop: BG.v4, asPath: [], communities: ['64512:100'], largeCommunities: ['64512:1:2'], localPref: 200, med: 10 });
    checkRoute(p, rs.get('198.51.100.21/32'), { nextHop: BG.v4, asPath: [], communities: ['64512:7'], localPref: 150 });
    checkRoute(p, rs.get('198.51.100.22/32'), { nextHop: BG.v4, asPath: [] });
    // RFC 4271 §5.1.5: LOCAL_PREF is in every UPDATE to an internal peer, also when nothing was configured
    assert.equal(typeof rs.get('198.51.100.22/32')?.localPref, 'number', `${p}: LOCAL_PREF present on iBGP`);
  }
  for (const p of ['bird6', 'gobgp6'] as const) {
    const rs = await routesAt(p, ['2001:db8:100::20/128', '2001:db8:100::21/128']);
    checkRoute(p, rs.get('2001:db8:100::20/128'), { nextHop: BG.v6, asPath: [], communities: ['64512:200'], largeCommunities: ['64512:3:4'], localPref: 300, med: 30 });
    checkRoute(p, rs.get('2001:db8:100::21/128'), { nextHop: BG.v6, asPath: [], localPref: 160, med: 7 });
  }
  assertBirdClean();
});

bgpTest('withdrawals remove the prefixes at BIRD and GoBGP; withdraw-all removes everything, sessions stay up', async () => {
  const keep = ['198.51.100.31/32', '2001:db8:100::31/128'];
  const sp = await setup({
    myASN: 64512, birdASN: 64513, gobgpASN: 64514,
    prefixes: ['198.51.100.30/32', '198.51.100.31/32', '2001:db8:100::30/128', '2001:db8:100::31/128'].map((prefix) => ({ prefix })),
  });
  await allEstablished(sp, ALL_PEERS);
  await sp.send('announce-many 203.0.113.30/32 2001:db8:100::32/128');
  const v4 = ['198.51.100.30/32', '198.51.100.31/32', '203.0.113.30/32'];
  const v6 = ['2001:db8:100::30/128', '2001:db8:100::31/128', '2001:db8:100::32/128'];
  for (const p of ALL_PEERS) await routesAt(p, p.endsWith('4') ? v4 : v6);

  await sp.send('withdraw 198.51.100.30/32 2001:db8:100::30/128 203.0.113.30/32 2001:db8:100::32/128');
  for (const p of ALL_PEERS) {
    const rs = await routesAt(p, keep.filter((x) => x.includes(':') === p.endsWith('6')), [...v4, ...v6].filter((x) => !keep.includes(x)));
    assert.equal(rs.size, 1, `${p}: only the prefix not withdrawn is left`);
  }

  await sp.send('withdraw-all');
  for (const p of ALL_PEERS) await routesAt(p, [], [...v4, ...v6]);
  assert.equal(await bird.count('bg4'), 0);
  assert.equal(await bird.count('bg6'), 0);
  const stats = await sp.stats();
  for (const p of ALL_PEERS) {
    const ps = stats.peers.find((x) => x.name === p);
    assert.equal(ps?.state, 'Established', `${p} still up after the withdrawals`);
    assert.equal(ps.prefixesAdvertised, 0, `${p}: nothing advertised after withdraw-all`);
  }
  assertBirdClean();
});

// ───────────────────────── TCP-MD5 ─────────────────────────

bgpTest('TCP-MD5: with the same password on both sides every session reaches Established and carries routes', async () => {
  const pw = 'bg-md5-secret';
  const sp = await setup({
    myASN: 64512, birdASN: 64513, gobgpASN: 64514,
    passwords: { bird4: pw, bird6: pw, gobgp4: pw, gobgp6: pw },
    prefixes: [{ prefix: '198.51.100.40/32' }, { prefix: '2001:db8:100::40/128' }],
  });
  await allEstablished(sp, ALL_PEERS);
  for (const p of ALL_PEERS) await routesAt(p, [p.endsWith('4') ? '198.51.100.40/32' : '2001:db8:100::40/128']);
});

bgpTest('TCP-MD5: with a wrong password the session never comes up (the right one next to it does)', async () => {
  const sp = await setup({
    myASN: 64512, birdASN: 64513, gobgpASN: 64514,
    passwords: { bird4: 'right-one', bird6: 'right-one', gobgp4: 'right-one', gobgp6: 'right-one' },
    routerPasswords: { bird4: 'wrong-one', gobgp4: 'wrong-one' },
    prefixes: [{ prefix: '198.51.100.41/32' }, { prefix: '2001:db8:100::41/128' }],
  });
  // the IPv6 sessions share everything but the key mismatch: they prove the lab and MD5 itself work
  await allEstablished(sp, ['bird6', 'gobgp6']);
  const end = Date.now() + 5000;
  while (Date.now() < end) {
    const stats = await sp.stats();
    for (const p of ['bird4', 'gobgp4']) {
      const ps = stats.peers.find((x) => x.name === p);
      assert.ok(ps, `${p} in stats`);
      assert.notEqual(ps.state, 'Established', `${p} must not come up with a wrong key`);
      assert.equal(ps.establishedCount, 0, `${p} never was Established`);
    }
    assert.equal((await bird.session('bg4')).established, false, 'BIRD bg4 must not come up with a wrong key');
    assert.equal((await gobgp.session(BG.v4)).established, false, 'GoBGP 192.0.2.1 must not come up with a wrong key');
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.equal((await peerRoutes('bird4')).size, 0);
  assert.equal((await peerRoutes('gobgp4')).size, 0);
});

// ───────────────────────── GTSM ─────────────────────────

bgpTest('GTSM (RFC 5082): with TTL security on both sides the session comes up; a peer sending TTL 1 never gets through', async () => {
  const sp = await setup({
    myASN: 64512, birdASN: 64513,
    gtsm: { bird4: true, bird6: true }, routerGtsm: { bird6: true }, // bird4: BIRD sends TTL 1 (plain direct eBGP)
    prefixes: [{ prefix: '198.51.100.45/32' }, { prefix: '2001:db8:100::45/128' }],
  });
  await allEstablished(sp, ['bird6']);
  await routesAt('bird6', ['2001:db8:100::45/128']);
  const end = Date.now() + 5000;
  while (Date.now() < end) {
    const ps = await sp.peer('bird4');
    assert.notEqual(ps.state, 'Established', 'bird4 must not come up: its packets arrive with TTL 1, below the minimum 255');
    assert.equal(ps.establishedCount, 0);
    assert.equal((await bird.session('bg4')).established, false);
    await new Promise((r) => setTimeout(r, 250));
  }
});

// ───────────────────────── failures and restarts ─────────────────────────

bgpTest('a dead peer: the hold timer fires, the session leaves Established; the restarted peer gets the table again', async () => {
  const want4 = ['198.51.100.50/32', '198.51.100.51/32'];
  const want6 = ['2001:db8:100::50/128'];
  const sp = await setup({
    myASN: 64512, birdASN: 64513, holdTime: 3,
    prefixes: [...want4, ...want6].map((prefix) => ({ prefix, communities: ['64512:50'] })),
  });
  await allEstablished(sp, BIRD_PEERS);
  await routesAt('bird4', want4);
  await routesAt('bird6', want6);

  // SIGSTOP first: the kernel keeps BIRD's TCP connections open and ACKs, but BIRD sends no KEEPALIVE,
  // so only the speaker's hold timer can notice (a bare kill -9 would close the sockets with a FIN);
  // then kill -9 the frozen BIRD for good.
  bird.freeze();
  let last = '';
  const down = await until(() => `the speaker's hold timer takes bird4 and bird6 out of Established; stats: ${last}`, async () => {
    const s = await sp.stats();
    last = JSON.stringify(s.peers);
    return s.peers.filter((p) => p.name.startsWith('bird')).every((p) => p.state !== 'Established') ? s : undefined;
  }, WAIT, 100);
  for (const p of BIRD_PEERS) {
    const ps = down.peers.find((x) => x.name === p);
    assert.match(String(ps?.lastError), /hold|NOTIFICATION 4\//i, `${p}: lastError names the hold timer (NOTIFICATION 4)`);
  }
  await bird.kill('SIGKILL');

  await bird.start();
  await allEstablished(sp, BIRD_PEERS);
  const stats = await sp.stats();
  for (const p of BIRD_PEERS) assert.ok((stats.peers.find((x) => x.name === p)?.establishedCount ?? 0) >= 2, `${p} came up again`);
  const rs4 = await routesAt('bird4', want4);
  const rs6 = await routesAt('bird6', want6);
  checkRoute('bird4', rs4.get(want4[0]!), { nextHop: BG.v4, asPath: [64512], communities: ['64512:50'] });
  checkRoute('bird6', rs6.get(want6[0]!), { nextHop: BG.v6, asPath: [64512], communities: ['64512:50'] });
  assertBirdClean();
});

/** Polls BIRD's routes of both sessions through its control socket until stopped; records every poll that missed a prefix. */
function watchBird(sock: BirdSocket, want4: readonly string[], want6: readonly string[]): { stop: () => Promise<string[]>; polls: () => number } {
  const misses: string[] = [];
  let running = true;
  let polls = 0;
  const loop = (async (): Promise<void> => {
    while (running) {
      const have4 = new Set(parseBirdRoutes(await sock.cmd('show route all protocol bg4')).map((r) => r.prefix));
      const have6 = new Set(parseBirdRoutes(await sock.cmd('show route all protocol bg6')).map((r) => r.prefix));
      polls++;
      const missing = [...want4.filter((p) => !have4.has(p)), ...want6.filter((p) => !have6.has(p))];
      if (missing.length > 0) misses.push(`${new Date().toISOString()} missing ${missing.join(' ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return { stop: async () => { running = false; await loop; return misses; }, polls: () => polls };
}

/** BIRD's view of a graceful restart of its neighbor: the protocol says so while it keeps the routes as stale. */
async function birdGrActive(proto: string): Promise<boolean> {
  return (await bird.session(proto)).raw.includes('Neighbor graceful restart active');
}

async function gracefulRestartOnce(sp: Speaker, want4: readonly string[], want6: readonly string[], restartWith: () => void): Promise<{ sp: Speaker; misses: string[] }> {
  const sock = await bird.socket();
  try {
    const watch = watchBird(sock, want4, want6);
    await sp.kill();
    speaker = undefined;
    await until('BIRD notices the speaker is gone and keeps its routes (graceful restart active)', async () =>
      ((await birdGrActive('bg4')) && (await birdGrActive('bg6')) ? true : undefined), WAIT, 50);
    assert.equal((await bird.session('bg4')).established, false);
    await routesAt('bird4', want4);
    await routesAt('bird6', want6);
    restartWith();
    const next = await Speaker.start(lab, 'bg', configFile, SPEAKER_CMD);
    speaker = next;
    await allEstablished(next, BIRD_PEERS);
    // End-of-RIB from the restarted speaker ends BIRD's graceful restart long before its 120 s restart timer
    let last = '';
    await until(() => `BIRD ends the graceful restart (End-of-RIB received); protocol: ${last}`, async () => {
      const [a, b] = [await birdGrActive('bg4'), await birdGrActive('bg6')];
      last = (await bird.session('bg4')).raw.slice(0, 1500);
      return !a && !b ? true : undefined;
    }, WAIT, 100);
    await new Promise((r) => setTimeout(r, 300));
    const misses = await watch.stop();
    assert.ok(watch.polls() > 5, 'the watcher polled BIRD throughout the restart');
    return { sp: next, misses };
  } finally {
    sock.close();
  }
}

bgpTest('graceful restart: BIRD keeps the routes while the speaker is killed and restarted; End-of-RIB ends it; nothing ever disappears', async () => {
  const want4 = ['198.51.100.60/32', '198.51.100.61/32'];
  const want6 = ['2001:db8:100::60/128'];
  const prefixes = [...want4, ...want6].map((prefix) => ({ prefix, communities: ['64512:60'] }));
  const sp = await setup({ myASN: 64512, birdASN: 64513, birdGracefulRestart: true, prefixes });
  await allEstablished(sp, BIRD_PEERS);
  await routesAt('bird4', want4);
  await routesAt('bird6', want6);
  const { sp: sp2, misses } = await gracefulRestartOnce(sp, want4, want6, () => undefined); // same config
  assert.deepEqual(misses, [], 'the routes never disappeared from BIRD during the restart');
  const rs4 = await routesAt('bird4', want4);
  checkRoute('bird4', rs4.get(want4[0]!), { nextHop: BG.v4, asPath: [64512], communities: ['64512:60'] });
  const stats = await sp2.stats();
  for (const p of BIRD_PEERS) assert.ok((stats.peers.find((x) => x.name === p)?.updatesSent ?? 0) >= 1, `${p}: the restarted speaker re-sent its table`);
  assertBirdClean();
});

bgpTest('graceful restart: a prefix the restarted speaker no longer announces is flushed at End-of-RIB, changed attributes are refreshed, the rest never disappears', async () => {
  const want4 = ['198.51.100.62/32'];
  const want6 = ['2001:db8:100::62/128'];
  const dropped = ['198.51.100.63/32', '2001:db8:100::63/128'];
  const sp = await setup({
    myASN: 64512, birdASN: 64513, birdGracefulRestart: true,
    prefixes: [...want4, ...want6, ...dropped].map((prefix) => ({ prefix, communities: ['64512:1'] })),
  });
  await allEstablished(sp, BIRD_PEERS);
  await routesAt('bird4', [...want4, dropped[0]!]);
  await routesAt('bird6', [...want6, dropped[1]!]);
  const { misses } = await gracefulRestartOnce(sp, want4, want6, () => {
    writeFileSync(configFile, JSON.stringify(speakerConfig({
      myASN: 64512, birdASN: 64513, prefixes: [...want4, ...want6].map((prefix) => ({ prefix, communities: ['64512:2'] })),
    }), null, 2));
  });
  assert.deepEqual(misses, [], 'the prefixes still announced never disappeared from BIRD');
  const rs4 = await routesAt('bird4', want4, [dropped[0]!]);
  const rs6 = await routesAt('bird6', want6, [dropped[1]!]);
  checkRoute('bird4', rs4.get(want4[0]!), { nextHop: BG.v4, asPath: [64512], communities: ['64512:2'] });
  checkRoute('bird6', rs6.get(want6[0]!), { nextHop: BG.v6, asPath: [64512], communities: ['64512:2'] });
  assertBirdClean();
});

bgpTest('graceful shutdown (RFC 8326): the peers see 65535:0 (and LOCAL_PREF 0 over iBGP) before the routes are withdrawn', async () => {
  const v4 = '198.51.100.70/32';
  const v6 = '2001:db8:100::70/128';
  // BIRD is an iBGP peer (LOCAL_PREF 0 applies), GoBGP an eBGP one
  const sp = await setup({
    myASN: 64512, birdASN: 64512, gobgpASN: 64514,
    prefixes: [v4, v6].map((prefix) => ({ prefix, communities: ['64512:100'], localPref: 200 })),
  });
  await allEstablished(sp, ALL_PEERS);
  for (const p of ALL_PEERS) {
    const prefix = p.endsWith('4') ? v4 : v6;
    const r = (await routesAt(p, [prefix])).get(prefix);
    assert.ok(r && !r.communities.includes(GSHUT), `${p}: no GSHUT before the shutdown`);
  }

  const t0 = Date.now();
  const reply = sp.ctl.send('shutdown 3'); // no other control command until it answers: replies come in order
  const seen: Partial<Record<PeerName, Route>> = {};
  await until(() => `every peer sees ${GSHUT} before the withdrawal; seen: ${JSON.stringify(seen)}`, async () => {
    for (const p of ALL_PEERS) {
      if (seen[p]) continue;
      const prefix = p.endsWith('4') ? v4 : v6;
      const r = (await peerRoutes(p)).get(prefix);
      if (!r) throw new Error(`${p}: ${prefix} was withdrawn before ${GSHUT} was seen on it`);
      if (r.communities.includes(GSHUT)) seen[p] = r;
    }
    return ALL_PEERS.every((p) => seen[p]) ? true : undefined;
  }, WAIT, 50);
  for (const p of ALL_PEERS) {
    const r = seen[p]!;
    const ibgp = p.startsWith('bird');
    checkRoute(p, r, {
      nextHop: p.endsWith('4') ? BG.v4 : BG.v6, asPath: ibgp ? [] : [64512], communities: ['64512:100', GSHUT],
      localPref: ibgp ? 0 : 'absent',
    });
  }
  assert.deepEqual(await reply, { ctl: 'ok' }, 'shutdown answers ok after its wait');
  assert.ok(Date.now() - t0 >= 2500, 'the reply came after the wait (3 s)');
  for (const p of ALL_PEERS) await routesAt(p, [], [v4, v6]);
  assertBirdClean();
});

// ───────────────────────── packing ─────────────────────────

bgpTest('hundreds of prefixes: 512 /32 with one attribute set all arrive, in at most 2 UPDATE messages', async () => {
  const sp = await setup({ myASN: 64512, birdASN: 64513, gobgpASN: 64514 });
  await allEstablished(sp, ALL_PEERS);
  // the initial table (empty, End-of-RIB) is done once the counters stop moving
  let prev = '';
  const base = await until('updatesSent settles after the initial End-of-RIB', async () => {
    const s = await sp.stats();
    const now = JSON.stringify(s.peers.map((p) => [p.name, p.updatesSent]));
    const same = now === prev;
    prev = now;
    return same ? s : undefined;
  }, WAIT, 500);
  const prefixes = [
    ...Array.from({ length: 256 }, (_, i) => `203.0.113.${i}/32`),
    ...Array.from({ length: 256 }, (_, i) => `198.51.100.${i}/32`),
  ];
  await sp.send(`announce-many ${prefixes.join(' ')}`);
  for (const p of ['bird4', 'gobgp4'] as const) {
    let have = 0;
    await until(() => `${p} holds all 512 prefixes (has ${have})`, async () => {
      have = p === 'bird4' ? await bird.count('bg4') : (await peerRoutes(p)).size;
      return have >= prefixes.length ? true : undefined;
    }, WAIT, 100);
    const rs = await peerRoutes(p);
    assert.deepEqual(sorted([...rs.keys()]), sorted(prefixes), `${p}: exactly the 512 prefixes`);
    checkRoute(p, rs.get('203.0.113.255/32'), { nextHop: BG.v4, asPath: [64512] });
  }
  const stats = await sp.stats();
  for (const p of ['bird4', 'gobgp4'] as const) {
    const b = base.peers.find((x) => x.name === p)!;
    const a = stats.peers.find((x) => x.name === p)!;
    assert.ok(a.updatesSent - b.updatesSent <= 2, `${p}: 512 prefixes went in ${a.updatesSent - b.updatesSent} UPDATEs (at most 2)`);
    assert.ok(a.updatesSent - b.updatesSent >= 1, `${p}: the counter saw the UPDATE`);
    assert.equal(a.prefixesAdvertised, 512, `${p}: prefixesAdvertised`);
  }
  assertBirdClean();
});

bgpTest('passive mode: the speaker waits on its own port and BIRD connects to it', async () => {
  const sp = await setup({ myASN: 64512, birdASN: 64513, listenPort: 1179, speakerPassive: true, prefixes: [{ prefix: '198.51.100.77/32' }, { prefix: '2001:db8:77::/64' }] });
  for (const p of BIRD_PEERS) await until(`${p} Established`, async () => ((await sp.peer(p)).state === 'Established' ? true : undefined), WAIT);
  await until('routes at BIRD', async () => {
    const routes = [...await bird.routes('bg4'), ...await bird.routes('bg6')];
    return routes.some((r) => r.prefix === '198.51.100.77/32') && routes.some((r) => r.prefix === '2001:db8:77::/64') ? true : undefined;
  }, WAIT);
});

bgpTest('connection collision: both sides connect, one session survives and stays up; a forced collision while Established is rejected with 6/7', async () => {
  // both the speaker and BIRD connect actively and both listen; BIRD has the higher router ID, so the
  // connection BIRD opened must survive (RFC 4271 §6.8) on both sides. Whether the two attempts overlap
  // is up to timing, so the collision is then forced: a scripted connection from BIRD's address sends an
  // OPEN while the session is Established, and must get Cease/Connection Collision Resolution back.
  const sp = await setup({ myASN: 64512, birdASN: 64513, listenPort: 1179, prefixes: [{ prefix: '198.51.100.78/32' }] });
  for (const p of BIRD_PEERS) await until(`${p} Established`, async () => ((await sp.peer(p)).state === 'Established' ? true : undefined), WAIT);
  const before = await sp.peer('bird4');
  const open = encode(buildOpen({ asn: 64513, holdTime: 9, bgpIdentifier: BIRD.v4, capabilities: [{ kind: 'fourOctetAS', asn: 64513 }] }), { fourOctetAS: false, extendedMessages: false });
  const r = await scriptedConnection(lab, 'bird', BIRD.v4, BG.v4, 1179, open);
  const framed = new MessageFramer().push(r.received);
  assert.ok(framed.ok, 'the reply frames');
  const msgs = framed.value.map((b) => decodeMessage(b, { fourOctetAS: false, extendedMessages: false }));
  const notes = msgs.flatMap((m) => (m.ok && m.value.type === 3 ? [`${m.value.code}/${m.value.subcode}`] : []));
  assert.deepEqual(notes, ['6/7'], `the forced second connection got Cease/collision resolution (ended: ${r.ended})`);
  const after = await sp.peer('bird4');
  assert.equal(after.collisions, before.collisions + 1, 'the speaker counted the collision');
  await new Promise((res) => setTimeout(res, 4000)); // longer than the 3 s of a hold time: a flapping pair would show here
  for (const p of BIRD_PEERS) {
    const st = await sp.peer(p);
    assert.equal(st.state, 'Established', `${p}: ${JSON.stringify(st)}`);
    assert.equal(st.establishedCount, 1, `${p} came up once and stayed up`);
  }
  assert.equal((await bird.session('bg4')).established, true, 'BIRD kept its session');
});

// ───────────────────────── a speaker driven by a changing config ─────────────────────────

/**
 * The Speaker class in-process in the lab host, driven like `bgp-announce --control` (it takes the same
 * arguments, so routers.ts starts it): it starts with the config's first peer only; `set-peers NAME…`
 * makes the peer set those of the config, `patch NAME JSON` changes fields of one of them (for the next
 * `set-peers`), `set-routes JSON` (peer → routes) replaces the per-peer routes.
 */
const DRIVER = `
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseSpeakerConfig } from '${ROOT}src/bgp/config.ts';
import { Speaker } from '${ROOT}src/bgp/speaker.ts';
import { logger } from '${ROOT}src/log.ts';
const all = parseSpeakerConfig(JSON.parse(readFileSync(process.argv[process.argv.indexOf('--config') + 1], 'utf8')));
const byName = new Map(all.peers.map((p) => [p.name, p]));
const sp = new Speaker({ config: { ...all, peers: all.peers.slice(0, 1) }, log: logger('bgp-driver') });
await sp.start();
setInterval(() => undefined, 1 << 30);
const reply = (o) => { process.stdout.write(JSON.stringify(o) + '\\n'); };
reply({ ctl: 'ready', peers: sp.peers().map((p) => p.name) });
createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, ...rest] = line.trim().split(' ');
  try {
    if (cmd === 'set-peers') { sp.setPeers(rest.map((n) => byName.get(n))); reply({ ctl: 'ok' }); }
    else if (cmd === 'patch') { const [name, ...json] = rest; byName.set(name, { ...byName.get(name), ...JSON.parse(json.join(' ')) }); reply({ ctl: 'ok' }); }
    else if (cmd === 'set-routes') { sp.setRoutes(new Map(Object.entries(JSON.parse(rest.join(' '))))); reply({ ctl: 'ok' }); }
    else if (cmd === 'stats') reply({ ctl: 'stats', peers: sp.stats(), rssBytes: process.memoryUsage().rss });
    else reply({ ctl: 'error', error: 'unknown command ' + cmd });
  } catch (e) { reply({ ctl: 'error', error: String(e) }); }
});
`;

bgpTest('setPeers/setRoutes at runtime: a second peer added, routes per peer with their own attributes, one changed, a peer removed goes down with Cease/Peer De-configured', async () => {
  const driver = join(dir, 'driver.mts');
  writeFileSync(driver, DRIVER);
  const sp = await setup({ myASN: 64512, birdASN: 64513 }, ['--import', 'tsx', driver]);
  await allEstablished(sp, ['bird4']);
  assert.deepEqual((await sp.stats()).peers.map((p) => p.name), ['bird4'], 'started with one peer');
  assert.equal((await bird.session('bg6')).established, false, 'no session for the peer not configured yet');

  await sp.send('set-peers bird4 bird6');
  await allEstablished(sp, BIRD_PEERS);
  const routes = {
    bird4: [{ prefix: '198.51.100.40/32', communities: ['64512:4'] }, { prefix: '198.51.100.41/32', communities: ['64512:41'], med: 5 }],
    bird6: [{ prefix: '2001:db8:100::40/128', communities: ['64512:6'], largeCommunities: ['64512:6:6'] }],
    gone: [{ prefix: '198.51.100.99/32' }], // no such peer: ignored
  };
  await sp.send(`set-routes ${JSON.stringify(routes)}`);
  const at4 = await routesAt('bird4', ['198.51.100.40/32', '198.51.100.41/32'], ['198.51.100.99/32']);
  assert.equal(at4.size, 2, 'bird4 holds exactly its two routes');
  checkRoute('bird4', at4.get('198.51.100.40/32'), { nextHop: BG.v4, asPath: [64512], communities: ['64512:4'] });
  checkRoute('bird4', at4.get('198.51.100.41/32'), { nextHop: BG.v4, asPath: [64512], communities: ['64512:41'], med: 5 });
  const at6 = await routesAt('bird6', ['2001:db8:100::40/128']);
  assert.equal(at6.size, 1, 'bird6 holds exactly its route');
  checkRoute('bird6', at6.get('2001:db8:100::40/128'), { nextHop: BG.v6, asPath: [64512], communities: ['64512:6'], largeCommunities: ['64512:6:6'] });

  // one route's attributes change: one UPDATE to that peer, none to the other
  const before = await sp.stats();
  await sp.send(`set-routes ${JSON.stringify({ ...routes, bird4: [{ prefix: '198.51.100.40/32', communities: ['64512:400'] }, routes.bird4[1]] })}`);
  await until('bird4 holds the new community', async () => (await peerRoutes('bird4')).get('198.51.100.40/32')?.communities.includes('64512:400') === true ? true : undefined, WAIT, 100);
  const afterChange = await sp.stats();
  const sent = (st: typeof before, n: string): number => st.peers.find((p) => p.name === n)?.updatesSent ?? -1;
  assert.equal(sent(afterChange, 'bird4') - sent(before, 'bird4'), 1, 'one UPDATE for the one changed route');
  assert.equal(sent(afterChange, 'bird6') - sent(before, 'bird6'), 0, 'nothing to the other peer');

  // bird6 removed: its session ends with Cease/Peer De-configured, bird4 is not touched
  await sp.send('set-peers bird4');
  let last = '';
  await until(() => `BIRD's bg6 down after the Cease: ${last}`, async () => {
    const st = await bird.session('bg6');
    last = st.raw.slice(0, 1500);
    return !st.established && /Peer de-configured/.test(st.raw + bird.log) ? true : undefined;
  }, WAIT, 100);
  const end = await sp.stats();
  assert.deepEqual(end.peers.map((p) => p.name), ['bird4'], 'the removed peer is forgotten');
  const b4 = end.peers.find((p) => p.name === 'bird4');
  assert.equal(b4?.state, 'Established');
  assert.equal(b4.establishedCount, 1, 'bird4 never flapped');
  assert.equal(b4.address, BIRD.v4);
  assert.equal(typeof b4.establishedSince, 'number');
  assert.equal(b4.prefixesAdvertised, 2);
  assert.equal((await bird.session('bg4')).established, true);
  assertBirdClean();
});

bgpTest('a passive peer added at runtime: a listener opens on its source address with its TCP-MD5 key; a new key reaches the listener; removed, the listener closes', async () => {
  const driver = join(dir, 'driver.mts');
  writeFileSync(driver, DRIVER);
  const sp = await setup({ myASN: 64512, birdASN: 64513, passwords: { bird6: 'key-right' }, passive: { bird6: true }, prefixes: [{ prefix: '2001:db8:100::50/128' }] }, ['--import', 'tsx', driver]);
  await allEstablished(sp, ['bird4']);
  // first with a key BIRD does not have: the listener is there, but the kernel drops BIRD's signed SYNs
  await sp.send('patch bird6 {"password":"key-wrong"}');
  await sp.send('set-peers bird4 bird6');
  const end = Date.now() + 5000; // BIRD retries every 2 s (connect retry time 2)
  while (Date.now() < end) {
    assert.equal((await sp.peer('bird6')).establishedCount, 0, 'no session with a key BIRD does not have');
    await new Promise((r) => setTimeout(r, 250));
  }
  await sp.send('patch bird6 {"password":"key-right"}');
  await sp.send('set-peers bird4 bird6');
  await allEstablished(sp, BIRD_PEERS); // passive: only BIRD's connection to the listener can bring it up
  await routesAt('bird6', ['2001:db8:100::50/128']);
  assert.equal((await sp.peer('bird4')).establishedCount, 1, 'bird4 untouched throughout');
  await sp.send('set-peers bird4');
  await until('bg6 down at BIRD', async () => ((await bird.session('bg6')).established ? undefined : true), WAIT, 100);
  const probe = await scriptedConnection(lab, 'bird', BIRD.v6, BG.v6, 179, Buffer.alloc(0));
  assert.match(probe.ended, /ECONNREFUSED/, 'nothing listens on the source address any more');
  assertBirdClean();
});
