/**
 * The speaker driven by a changing config: setPeers (add, remove, change, no-op; listeners following
 * passive peers) and setRoutes (per-peer desired routes, only differences on the wire). In-memory
 * connections and a fake clock, except the listener tests, which use real loopback sockets.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { FakeClock } from '../clock.ts';
import { parseSpeakerConfig, type PeerConfig } from './config.ts';
import { syncListenerMd5 } from './dial.ts';
import { MessageType, type Message } from './message.ts';
import { ScriptedPeer, announcedIn, memoryPair, settle } from './scripted-peer.ts';
import { CLOSE_LINGER_MS, type Dialer } from './session.ts';
import { Speaker, restartFields, type Route } from './speaker.ts';

const silent = pino({ level: 'silent' });
const US = { v4: '192.0.2.1', asn: 64512 };
const ADDR: Record<string, string> = { a: '192.0.2.2', b: '192.0.2.3', c: '192.0.2.4' };

/** A validated peer config (the defaults of parseSpeakerConfig), holdTime 9. */
function peer(name: string, over: Record<string, unknown> = {}): PeerConfig {
  const c = parseSpeakerConfig({ routerID: US.v4, myASN: US.asn, peers: [{ name, peerAddress: ADDR[name] ?? '192.0.2.9', peerASN: 64513, holdTime: 9, ...over }], prefixes: [] });
  const p = c.peers[0];
  assert.ok(p);
  return p;
}

interface Rig {
  sp: Speaker;
  clock: FakeClock;
  /** Every connection dialed, per peer name, in order. */
  conns: Map<string, ScriptedPeer[]>;
}

function rig(peers: PeerConfig[], prefixes: Route[] = []): Rig {
  const clock = new FakeClock();
  const conns = new Map<string, ScriptedPeer[]>();
  const dialer: Dialer = {
    dial(p, _ttl, done) {
      const [a, b] = memoryPair(US.v4, p.peerAddress);
      const list = conns.get(p.name) ?? [];
      list.push(new ScriptedPeer(b, { asn: p.peerASN ?? 64513, id: p.peerAddress }));
      conns.set(p.name, list);
      queueMicrotask(() => { done({ ok: true, socket: a }); });
      return { cancel: () => undefined };
    },
  };
  const sp = new Speaker({ config: { routerID: US.v4, myASN: US.asn, listenPort: 179, peers, prefixes }, log: silent, clock, dialer, acceptTtl: () => undefined });
  return { sp, clock, conns };
}

const last = (t: Rig, name: string): ScriptedPeer => {
  const p = t.conns.get(name)?.at(-1);
  assert.ok(p, `${name} dialed`);
  return p;
};
const st = (t: Rig, name: string): ReturnType<Speaker['stats']>[number] | undefined => t.sp.stats().find((s) => s.name === name);

/** Brings the newest connection of a peer to Established. */
async function up(t: Rig, name: string): Promise<ScriptedPeer> {
  await settle();
  const p = last(t, name);
  p.open();
  p.keepalive();
  await settle();
  assert.equal(st(t, name)?.state, 'Established', `${name} Established`);
  return p;
}

const updates = (msgs: readonly Message[]): Extract<Message, { type: 2 }>[] => msgs.filter((m): m is Extract<Message, { type: 2 }> => m.type === MessageType.Update);
const withdrawnIn = (msgs: readonly Message[]): string[] => updates(msgs).flatMap((m) => [...m.withdrawn, ...m.attributes.flatMap((a) => (a.kind === 'mpUnreach' ? a.withdrawn : []))].map((p) => `${p.prefix}/${p.length}`));
/** The communities of each announced prefix in a list of messages (the last announcement wins). */
function communitiesIn(msgs: readonly Message[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const m of updates(msgs)) {
    const c = m.attributes.flatMap((a) => (a.kind === 'communities' ? a.communities : []));
    for (const k of announcedIn([m])) out.set(k, c);
  }
  return out;
}
const v4 = (n: number, third = 100): string[] => Array.from({ length: n }, (_, i) => `198.51.${third + Math.floor(i / 250)}.${(i % 250) + 1}/32`);

describe('setPeers', () => {
  test('adding a peer starts its session at once; the existing one is untouched', async () => {
    const t = rig([peer('a')], [{ prefix: '198.51.100.1/32' }]);
    await t.sp.start();
    const a = await up(t, 'a');
    const sessionA = t.sp.session('a');
    const seenByA = a.received.length;
    t.sp.setPeers([peer('a'), peer('b')]);
    const b = await up(t, 'b');
    await settle();
    assert.deepEqual(announcedIn(b.received), ['198.51.100.1/32'], 'the new peer gets the table');
    assert.equal(t.sp.session('a'), sessionA, 'same session object');
    assert.equal(t.conns.get('a')?.length, 1, 'a was not redialed');
    assert.deepEqual(a.received.slice(seenByA), [], 'nothing more went to a');
    assert.deepEqual(t.sp.stats().map((s) => s.name), ['a', 'b']);
  });

  test('peers set before start() start with it', async () => {
    const t = rig([]);
    t.sp.setPeers([peer('a')]);
    await settle();
    assert.equal(t.conns.get('a'), undefined, 'no dial before start');
    assert.equal(st(t, 'a')?.state, 'Idle');
    await t.sp.start();
    await up(t, 'a');
  });

  test('removing a peer sends Cease/Peer De-configured (6/3), forgets it and leaves no timer behind', async () => {
    const t = rig([peer('a'), peer('b')]);
    await t.sp.start();
    const a = await up(t, 'a');
    const b = await up(t, 'b');
    t.sp.setPeers([peer('b')]);
    await settle();
    assert.deepEqual(a.notifications(), ['6/3']);
    assert.deepEqual(b.notifications(), []);
    assert.equal(t.sp.session('a'), undefined);
    assert.deepEqual(t.sp.stats().map((s) => s.name), ['b']);
    t.sp.setPeers([]);
    await settle();
    assert.deepEqual(b.notifications(), ['6/3']);
    t.clock.advance(CLOSE_LINGER_MS + 1);
    await settle();
    assert.equal(t.clock.pending(), 0, 'no keepalive, hold or retry timer of a removed peer is left');
    assert.ok(a.closed && b.closed, 'their connections are closed');
  });

  test('a change that needs a new session (holdTime, peerASN, password, passive, port, source) restarts it with Cease/Other Configuration Change (6/6)', async () => {
    const changes: Record<string, unknown>[] = [{ holdTime: 30 }, { peerASN: 64999 }, { password: 'secret' }, { peerPort: 1179 }, { ebgpMultiHop: true }, { gracefulRestart: false }, { connectTime: 7 }];
    for (const change of changes) {
      const t = rig([peer('a')], [{ prefix: '198.51.100.1/32' }]);
      await t.sp.start();
      const a = await up(t, 'a');
      const before = t.sp.session('a');
      t.sp.setPeers([peer('a', change)]);
      await settle();
      assert.deepEqual(a.notifications(), ['6/6'], JSON.stringify(change));
      assert.notEqual(t.sp.session('a'), before, 'a new session');
      assert.deepEqual(t.sp.session('a')?.cfg, peer('a', change));
      assert.equal(t.conns.get('a')?.length, 2, `redialed after ${JSON.stringify(change)}`);
      const again = await up(t, 'a');
      await settle();
      assert.deepEqual(announcedIn(again.received), ['198.51.100.1/32'], 'the new session gets the table');
    }
    // passive: the new session waits for the peer instead of dialing
    const t = rig([peer('a')]);
    await t.sp.start();
    const a = await up(t, 'a');
    t.sp.setPeers([peer('a', { passive: true, sourceAddress: US.v4 })]);
    await settle();
    assert.deepEqual(a.notifications(), ['6/6']);
    assert.equal(t.conns.get('a')?.length, 1, 'a passive session does not dial');
    assert.equal(st(t, 'a')?.state, 'Active');
    t.sp.stop();
  });

  test('restartFields: every field but the name and the next hops', () => {
    const a = peer('a');
    assert.deepEqual(restartFields(a, { ...a }), []);
    assert.deepEqual(restartFields(a, { ...a, nextHopIPv6: '2001:db8::9', nextHopIPv4: '192.0.2.9' }), []);
    assert.deepEqual(restartFields(a, { ...a, peerAddress: '192.0.2.7', sourceAddress: US.v4, minHoldTime: 0, sendHoldTime: 100, ttlSecurityHops: 1, keepaliveTime: 2 }), ['keepaliveTime', 'minHoldTime', 'peerAddress', 'sendHoldTime', 'sourceAddress', 'ttlSecurityHops']);
    assert.deepEqual(restartFields(a, { ...a, peerASN: undefined, dynamicASN: 'external' }), ['dynamicASN', 'peerASN']);
  });

  test('the same config again (new objects, equal values) changes nothing: no flap, nothing on the wire', async () => {
    const t = rig([peer('a'), peer('b')], [{ prefix: '198.51.100.1/32' }]);
    await t.sp.start();
    const a = await up(t, 'a');
    const b = await up(t, 'b');
    await settle();
    const sessions = [t.sp.session('a'), t.sp.session('b')];
    const seen = [a.received.length, b.received.length];
    for (let i = 0; i < 3; i++) t.sp.setPeers([peer('a'), peer('b')]);
    await settle();
    assert.deepEqual([t.sp.session('a'), t.sp.session('b')], sessions);
    assert.deepEqual([a.received.length, b.received.length], seen, 'not a byte more');
    assert.deepEqual(t.sp.stats().map((s) => s.establishedCount), [1, 1]);
  });

  test('a new next hop for the other family is taken live: the routes are re-announced with it, no restart', async () => {
    const t = rig([peer('a', { nextHopIPv6: '2001:db8::1' })], [{ prefix: '2001:db8:100::1/128' }, { prefix: '198.51.100.1/32' }]);
    await t.sp.start();
    const a = await up(t, 'a');
    await settle();
    const hop = (msgs: readonly Message[]): string[] => updates(msgs).flatMap((m) => m.attributes.flatMap((x) => (x.kind === 'mpReach' && x.nlri.length > 0 ? x.nextHops : [])));
    assert.deepEqual(hop(a.received), ['2001:db8::1']);
    const mark = a.received.length;
    t.sp.setPeers([peer('a', { nextHopIPv6: '2001:db8::5' })]);
    await settle();
    assert.deepEqual(a.notifications(), []);
    assert.equal(st(t, 'a')?.establishedCount, 1);
    const after = a.received.slice(mark);
    assert.deepEqual(hop(after), ['2001:db8::5'], 'IPv6 route re-announced with the new next hop');
    assert.deepEqual(announcedIn(after), ['2001:db8:100::1/128'], 'the IPv4 route, unchanged, is not re-sent');
    // no next hop for IPv6 any more: the route is withdrawn
    const mark2 = a.received.length;
    t.sp.setPeers([peer('a')]);
    await settle();
    assert.deepEqual(withdrawnIn(a.received.slice(mark2)), ['2001:db8:100::1/128']);
  });

  test('stats: name, address, state, establishedSince (wall clock), prefixes, updates, last error', async () => {
    const t = rig([peer('a')], [{ prefix: '198.51.100.1/32' }, { prefix: '198.51.100.2/32' }]);
    assert.equal(st(t, 'a')?.establishedSince, undefined);
    await t.sp.start();
    t.clock.advance(1234);
    await up(t, 'a');
    await settle();
    const s = st(t, 'a');
    assert.ok(s);
    assert.equal(s.address, ADDR.a);
    assert.equal(s.establishedSince, t.clock.wall());
    assert.equal(s.prefixesAdvertised, 2);
    assert.ok(s.updatesSent >= 1);
    t.clock.advance(9100); // no KEEPALIVE from the peer: hold timer
    await settle();
    const down = st(t, 'a');
    assert.equal(down?.establishedSince, undefined, 'cleared when the session goes down');
    assert.match(down?.lastError ?? '', /hold timer|4\/0/);
    t.sp.stop();
  });
});

describe('setRoutes', () => {
  test('per-peer routes with different attributes per peer for one prefix', async () => {
    const t = rig([peer('a'), peer('b')]);
    await t.sp.start();
    const a = await up(t, 'a');
    const b = await up(t, 'b');
    t.sp.setRoutes(new Map([
      ['a', [{ prefix: '198.51.100.1/32', communities: ['64512:1'] }, { prefix: '198.51.100.2/32' }]],
      ['b', [{ prefix: '198.51.100.1', communities: ['64512:2'] }]],
    ]));
    await settle();
    assert.deepEqual(communitiesIn(a.received), new Map([['198.51.100.1/32', [64512 * 65536 + 1]], ['198.51.100.2/32', []]]));
    assert.deepEqual(communitiesIn(b.received), new Map([['198.51.100.1/32', [64512 * 65536 + 2]]]));
    assert.deepEqual(t.sp.stats().map((s) => s.prefixesAdvertised), [2, 1]);
  });

  test('10k routes per peer, one attribute changed: one UPDATE to that peer only; one removed: one withdrawal', async () => {
    const prefixes = v4(10_000);
    const table = (changed?: string, removed?: string): Route[] => prefixes.filter((p) => p !== removed).map((prefix) => ({ prefix, communities: prefix === changed ? ['64512:9'] : ['64512:1'], localPref: 100 }));
    const t = rig([peer('a'), peer('b'), peer('c')]);
    await t.sp.start();
    const conns = [await up(t, 'a'), await up(t, 'b'), await up(t, 'c')];
    t.sp.setRoutes(new Map([['a', table()], ['b', table()], ['c', table()]]));
    await settle(20);
    for (const c of conns) assert.equal(new Set(announcedIn(c.received)).size, 10_000);
    const marks = conns.map((c) => c.received.length);
    const sent = t.sp.stats().map((s) => s.updatesSent);
    const changed = prefixes[4321] ?? '';
    t.sp.setRoutes(new Map([['a', table()], ['b', table(changed)], ['c', table()]]));
    await settle();
    const delta = t.sp.stats().map((s, i) => s.updatesSent - (sent[i] ?? 0));
    assert.deepEqual(delta, [0, 1, 0], 'one UPDATE, to b only');
    const toB = conns[1]?.received.slice(marks[1]) ?? [];
    assert.deepEqual(announcedIn(toB), [changed]);
    assert.deepEqual(communitiesIn(toB).get(changed), [64512 * 65536 + 9]);
    const removed = prefixes[17] ?? '';
    t.sp.setRoutes(new Map([['a', table(undefined, removed)], ['b', table(changed)], ['c', table()]]));
    await settle();
    assert.deepEqual(t.sp.stats().map((s, i) => s.updatesSent - (sent[i] ?? 0)), [1, 1, 0]);
    assert.deepEqual(withdrawnIn(conns[0]?.received.slice(marks[0]) ?? []), [removed]);
    assert.deepEqual(t.sp.stats().map((s) => s.prefixesAdvertised), [9_999, 10_000, 10_000]);
  });

  test('a peer left out of the map loses its per-peer routes; routes for an unknown peer reach it once it is added', async () => {
    const t = rig([peer('a')]);
    await t.sp.start();
    const a = await up(t, 'a');
    t.sp.setRoutes(new Map([['a', [{ prefix: '198.51.100.1/32' }]], ['b', [{ prefix: '198.51.100.2/32' }]], ['nobody', [{ prefix: '198.51.100.3/32' }]]]));
    await settle();
    assert.deepEqual(announcedIn(a.received), ['198.51.100.1/32'], 'only a\'s routes go to a');
    t.sp.setPeers([peer('a'), peer('b')]);
    const b = await up(t, 'b');
    await settle();
    assert.deepEqual(announcedIn(b.received), ['198.51.100.2/32']);
    const mark = a.received.length;
    t.sp.setRoutes(new Map([['b', [{ prefix: '198.51.100.2/32' }]]]));
    await settle();
    assert.deepEqual(withdrawnIn(a.received.slice(mark)), ['198.51.100.1/32']);
  });

  test('announce() routes go to every peer; a per-peer route for the same prefix wins for that peer; withdrawAll clears both', async () => {
    const t = rig([peer('a'), peer('b')]);
    await t.sp.start();
    const a = await up(t, 'a');
    const b = await up(t, 'b');
    t.sp.announce({ prefix: '198.51.100.1/32', communities: ['64512:1'] });
    t.sp.setRoutes(new Map([['b', [{ prefix: '198.51.100.1/32', communities: ['64512:2'] }, { prefix: '198.51.100.2/32' }]]]));
    await settle();
    assert.deepEqual(communitiesIn(a.received).get('198.51.100.1/32'), [64512 * 65536 + 1]);
    assert.deepEqual(communitiesIn(b.received).get('198.51.100.1/32'), [64512 * 65536 + 2]);
    // the per-peer route goes: b falls back to the route announced to every peer
    const mark = b.received.length;
    t.sp.setRoutes(new Map([['b', [{ prefix: '198.51.100.2/32' }]]]));
    await settle();
    assert.deepEqual(communitiesIn(b.received.slice(mark)), new Map([['198.51.100.1/32', [64512 * 65536 + 1]]]));
    // withdrawing the all-peer route leaves b's own
    t.sp.withdraw('198.51.100.1/32');
    await settle();
    assert.deepEqual(t.sp.stats().map((s) => s.prefixesAdvertised), [0, 1]);
    t.sp.withdrawAll();
    await settle();
    assert.deepEqual(t.sp.stats().map((s) => s.prefixesAdvertised), [0, 0]);
  });

  test('changes while a peer is down or stalled are not lost: the next connection or drain sends the current table', async () => {
    const t = rig([peer('a')]);
    await t.sp.start();
    const a = await up(t, 'a');
    t.sp.setRoutes(new Map([['a', [{ prefix: '198.51.100.1/32' }]]]));
    await settle();
    a.socket.resetFromPeer();
    await settle();
    assert.notEqual(st(t, 'a')?.state, 'Established');
    t.sp.setRoutes(new Map([['a', [{ prefix: '198.51.100.2/32' }, { prefix: '2001:db8:1::/64' }]]]));
    await settle();
    t.clock.advance(10_000); // connect retry
    const again = await up(t, 'a');
    await settle();
    assert.deepEqual(announcedIn(again.received), ['198.51.100.2/32'], 'the current table, not the old one (no IPv6 next hop on an IPv4 session)');
    // stalled: changes go out once the peer reads again
    again.socket.stallReading();
    const many = v4(3000, 120).map((prefix, i) => ({ prefix, communities: [`1:${i}`] })); // many attribute sets: many UPDATEs
    t.sp.setRoutes(new Map([['a', many]]));
    await settle();
    const rib = t.sp.session('a')?.rib;
    assert.ok(rib && rib.size < 3000, `stalled part-way (${rib?.size})`);
    for (let i = 0; i < 200 && rib.size < 3000; i++) { again.socket.resumeReading(); await settle(2); }
    assert.equal(rib.size, 3000);
    assert.deepEqual(new Set(announcedIn(again.received)).size, 3001, 'every route arrived');
    t.sp.stop();
  });
});

describe('listeners follow passive peers (real loopback sockets)', () => {
  const listenerSpeaker = (peers: PeerConfig[]): Speaker => new Speaker({ config: { routerID: US.v4, myASN: US.asn, listenPort: 0, peers, prefixes: [] }, log: silent, acceptTtl: () => undefined });
  const lo = (name: string, over: Record<string, unknown> = {}): PeerConfig => ({ ...peer(name, over), peerAddress: '127.0.0.1' });

  test('a passive peer added later gets a listener on its source address; removing it closes the listener', async () => {
    const sp = listenerSpeaker([]);
    await sp.start();
    try {
      assert.deepEqual(sp.listening(), []);
      sp.setPeers([lo('a', { passive: true, sourceAddress: '127.0.0.1' })]);
      await until('listening', () => sp.listening().length === 1);
      const where = sp.listening()[0];
      assert.ok(where);
      assert.equal(where.address, '127.0.0.1');
      const sock = await connect(where.port);
      const p = new ScriptedPeer(sock, { asn: 64513, id: '192.0.2.2' });
      p.open();
      p.keepalive();
      await until('Established over the new listener', () => sp.stats()[0]?.state === 'Established');
      sp.setPeers([]);
      await until('listener closed', () => sp.listening().length === 0);
      await until('Cease 6/3', () => p.notifications().includes('6/3'));
      await assert.rejects(connect(where.port), 'nothing listens there any more');
    } finally {
      sp.stop();
    }
  });

  test('an active peer only: no listener', async () => {
    const sp = listenerSpeaker([lo('a')]);
    await sp.start();
    try {
      sp.setPeers([lo('a'), lo('b')]);
      await settle();
      assert.deepEqual(sp.listening(), []);
    } finally {
      sp.stop();
    }
  });

  test('syncListenerMd5 sets and removes keys on a listening socket and reports (never throws) what it cannot set', async () => {
    const server = net.createServer();
    server.on('error', () => undefined);
    await new Promise<void>((r) => { server.listen({ host: '127.0.0.1', port: 0 }, r); });
    try {
      const have = new Map<string, string>();
      assert.deepEqual(syncListenerMd5(server, have, new Map([['127.0.0.2', 'k1'], ['127.0.0.3', 'k2']])), []);
      assert.deepEqual(have, new Map([['127.0.0.2', 'k1'], ['127.0.0.3', 'k2']]));
      assert.deepEqual(syncListenerMd5(server, have, new Map([['127.0.0.3', 'k3']])), []);
      assert.deepEqual(have, new Map([['127.0.0.3', 'k3']]), 'removed and changed');
      const errs = syncListenerMd5(server, have, new Map([['127.0.0.3', 'k3'], ['2001:db8::5', 'k']]));
      assert.equal(errs.length, 1, 'an IPv6 peer on an IPv4 listener is reported');
      assert.equal(errs[0]?.peer, '2001:db8::5');
      assert.deepEqual(have, new Map([['127.0.0.3', 'k3']]), 'the failed key is not recorded as set');
    } finally {
      server.close();
    }
  });
});

/** Waits for a condition on real sockets; the deadline only bounds a hang. */
async function until(what: string, fn: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' });
    c.once('connect', () => { resolve(c); });
    c.once('error', reject);
  });
}

