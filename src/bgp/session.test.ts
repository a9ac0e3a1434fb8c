import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { FakeClock } from '../clock.ts';
import { parseSpeakerConfig } from './config.ts';
import { Afi, MessageType } from './message.ts';
import { ScriptedPeer, announcedIn, endOfRibs, memoryPair, settle, type MemorySocket } from './scripted-peer.ts';
import { COLLISION_OPEN_TIMEOUT_MS, type Dialer } from './session.ts';
import { Speaker } from './speaker.ts';

const silent = pino({ level: 'silent' });
const US = { v4: '192.0.2.1', id: '192.0.2.1', asn: 64512 };
const THEM = { v4: '192.0.2.2', asn: 64513 };

/** A speaker with one peer "r" whose connections are in-memory pairs, on a fake clock. */
function setup(peer: Record<string, unknown> = {}, routes: string[] = [], hwm?: number): {
  sp: Speaker; clock: FakeClock; dialed: ScriptedPeer[]; accept: (id?: string) => ScriptedPeer; ours: MemorySocket[];
} {
  const clock = new FakeClock();
  const dialed: ScriptedPeer[] = [];
  const ours: MemorySocket[] = [];
  const dialer: Dialer = {
    dial(_p, _ttl, done) {
      const [a, b] = memoryPair(US.v4, THEM.v4, hwm);
      ours.push(a);
      dialed.push(new ScriptedPeer(b, { asn: THEM.asn, id: '192.0.2.2' }));
      queueMicrotask(() => { done({ ok: true, socket: a }); });
      return { cancel: () => undefined };
    },
  };
  const config = parseSpeakerConfig({
    routerID: US.id, myASN: US.asn, peers: [{ name: 'r', peerAddress: THEM.v4, peerASN: THEM.asn, holdTime: 9, nextHopIPv6: '2001:db8::1', ...peer }],
    prefixes: routes.map((prefix) => ({ prefix })),
  });
  const sp = new Speaker({ config, log: silent, clock, dialer, acceptTtl: () => undefined });
  const accept = (id = '192.0.2.2'): ScriptedPeer => {
    const [a, b] = memoryPair(US.v4, THEM.v4, hwm);
    ours.push(a);
    const p = new ScriptedPeer(b, { asn: THEM.asn, id });
    sp.session('r')?.incoming(a);
    return p;
  };
  return { sp, clock, dialed, accept, ours };
}

const state = (sp: Speaker): string => sp.stats()[0]?.state ?? '';

/** Starts the speaker and brings the dialed connection to Established. */
async function established(t: ReturnType<typeof setup>): Promise<ScriptedPeer> {
  await t.sp.start();
  await settle();
  const p = t.dialed[0];
  assert.ok(p, 'the session dialed');
  p.open();
  p.keepalive();
  await settle();
  assert.equal(state(t.sp), 'Established');
  return p;
}

const v4routes = (n: number): string[] => Array.from({ length: n }, (_, i) => `198.51.100.${i + 1}/32`);
const v6routes = (n: number): string[] => Array.from({ length: n }, (_, i) => `2001:db8:100::${(i + 1).toString(16)}/128`);

describe('timers (fake clock)', () => {
  test('keepalive every third of the negotiated hold time; hold timer expiry sends 4/0 and leaves Established', async () => {
    const t = setup();
    const p = await established(t);
    const before = p.of(MessageType.Keepalive).length;
    t.clock.advance(3000);
    await settle();
    assert.equal(p.of(MessageType.Keepalive).length, before + 1, 'a KEEPALIVE after 3 s');
    p.keepalive(); // the hold timer restarts from here
    await settle();
    t.clock.advance(8000);
    await settle();
    assert.equal(state(t.sp), 'Established', 'the peer\'s KEEPALIVE restarted the hold timer');
    t.clock.advance(1100);
    await settle();
    assert.deepEqual(p.notifications(), ['4/0']);
    assert.notEqual(state(t.sp), 'Established');
    assert.match(t.sp.stats()[0]?.lastError ?? '', /hold timer expired/);
  });

  test('a peer proposing hold time 0 is refused with 2/6 unless minHoldTime is 0', async () => {
    const t = setup();
    await t.sp.start();
    await settle();
    t.dialed[0]?.open({ holdTime: 0 });
    await settle();
    assert.deepEqual(t.dialed[0]?.notifications(), ['2/6']);
    const ok = setup({ minHoldTime: 0 });
    await ok.sp.start();
    await settle();
    ok.dialed[0]?.open({ holdTime: 0 });
    ok.dialed[0]?.keepalive();
    await settle();
    assert.equal(state(ok.sp), 'Established');
    ok.clock.advance(3_600_000);
    await settle();
    assert.equal(state(ok.sp), 'Established', 'no hold timer with hold time 0');
  });
});

describe('back-pressure and the send hold timer (RFC 9687)', () => {
  test('a peer that stops reading: writing stops at the socket\'s high-water mark, only written routes are recorded, and the send hold timer drops it', async () => {
    const t = setup({}, [], 4096);
    const p = await established(t);
    p.socket.stallReading(); // stops reading; the speaker's writes stay in its socket buffer
    for (const r of v6routes(3000)) t.sp.announce({ prefix: r, communities: [`1:${r.length}`] }); // many attribute sets: many UPDATEs
    await settle();
    const ours = t.ours[0];
    assert.ok(ours);
    const rib = t.sp.session('r')?.rib;
    const writtenPrefixes = announcedIn(decodeAll(ours.written.slice()));
    assert.ok(rib && rib.size > 0 && rib.size < 3000, `some, not all, routes recorded: ${rib?.size}`);
    assert.equal(rib.size, new Set(writtenPrefixes).size, 'the adj-RIB-out holds exactly what was handed to the socket');
    assert.ok(ours.writableLength < 4096 + 4096 + 64, `the output buffer stays bounded: ${ours.writableLength} bytes`);
    // the peer keeps sending KEEPALIVEs, so the hold timer never fires; only the send hold timer can notice
    for (let i = 0; i < 159; i++) { p.keepalive(); t.clock.advance(3000); await settle(1); }
    assert.equal(state(t.sp), 'Established', 'still up before the send hold time (480 s)');
    p.keepalive();
    t.clock.advance(3000);
    await settle();
    assert.notEqual(state(t.sp), 'Established');
    const st = t.sp.stats()[0];
    assert.ok(st);
    assert.equal(st.sendHoldExpired, 1);
    assert.match(st.lastError, /send hold timer expired|NOTIFICATION 8\/0/);
    assert.ok(ours.destroyed, 'the stuck connection is destroyed, not left to linger');
  });

  test('a slow reader gets the whole table once it drains, with End-of-RIB last', async () => {
    const routes = v6routes(2000);
    const t = setup({}, routes, 4096);
    await t.sp.start();
    await settle();
    const p = t.dialed[0];
    assert.ok(p);
    p.socket.stallReading(); // reads the OPEN exchange below, then nothing
    p.open();
    p.keepalive();
    await settle();
    assert.equal(state(t.sp), 'Established');
    const rib = t.sp.session('r')?.rib;
    assert.ok(rib && rib.size > 0 && rib.size < routes.length, `stalled part-way: ${rib?.size}`);
    for (let i = 0; i < 100 && rib.size < routes.length; i++) { p.socket.resumeReading(); await settle(2); }
    p.socket.resumeReading();
    await settle();
    assert.equal(rib.size, routes.length);
    assert.deepEqual(new Set(announcedIn(p.received)), new Set(routes));
    const lastUpdateWithRoutes = p.received.findLastIndex((m) => announcedIn([m]).length > 0);
    const eor = p.received.findIndex((m) => endOfRibs([m]).includes(Afi.IPv6));
    assert.ok(eor > lastUpdateWithRoutes, `End-of-RIB (at ${eor}) after the last route (at ${lastUpdateWithRoutes})`);
    assert.equal(t.sp.stats()[0]?.sendHoldExpired, 0);
  });

  test('a connection gone before the sync: nothing is recorded as sent', async () => {
    const t = setup();
    const p = await established(t);
    p.socket.stallReading();
    t.ours[0]?.destroy(); // gone under the session's feet; the close has not been seen yet
    t.sp.announce({ prefix: '198.51.100.1/32' });
    await settle();
    assert.equal(t.sp.session('r')?.rib.size ?? 0, 0);
  });
});

describe('collisions (in-memory, scripted peer)', () => {
  test('a connection while Established gets Cease 6/7 and the session stays; its reset does no harm', async () => {
    const t = setup();
    await established(t);
    const second = t.accept();
    await settle();
    assert.deepEqual(second.notifications(), ['6/7']);
    assert.equal(state(t.sp), 'Established');
    assert.equal(t.sp.stats()[0]?.establishedCount, 1);
    assert.equal(t.sp.stats()[0]?.collisions, 1);
    const third = t.accept();
    third.socket.resetFromPeer(); // RST on the rejected connection
    await settle();
    assert.equal(state(t.sp), 'Established');
  });

  test('during OpenSent: the peer with the higher identifier wins, our connection is closed with 6/7', async () => {
    const t = setup();
    await t.sp.start();
    await settle();
    const mine = t.dialed[0];
    assert.ok(mine);
    const theirs = t.accept('192.0.2.9'); // higher than ours (192.0.2.1)
    theirs.open({ id: '192.0.2.9' });
    await settle();
    assert.deepEqual(mine.notifications(), ['6/7'], 'our connection closed with collision resolution');
    assert.equal(theirs.of(MessageType.Open).length, 1, 'our OPEN on their connection');
    assert.equal(theirs.of(MessageType.Keepalive).length, 1, 'their OPEN (already read) was processed: KEEPALIVE');
    theirs.keepalive();
    await settle();
    assert.equal(state(t.sp), 'Established');
    assert.deepEqual(theirs.notifications(), []);
  });

  test('during OpenSent: a lower peer identifier loses, its connection gets 6/7, ours continues', async () => {
    const t = setup();
    await t.sp.start();
    await settle();
    const theirs = t.accept('192.0.2.0');
    theirs.open({ id: '192.0.2.0' });
    await settle();
    assert.deepEqual(theirs.notifications(), ['6/7']);
    const mine = t.dialed[0];
    mine?.open({ id: '192.0.2.0' });
    mine?.keepalive();
    await settle();
    assert.equal(state(t.sp), 'Established');
    assert.deepEqual(mine?.notifications(), []);
  });

  test('equal identifiers (RFC 6286 §2.3): the larger AS keeps the connection it opened', async () => {
    // their AS (64513) is larger than ours (64512): their connection survives
    const t = setup();
    await t.sp.start();
    await settle();
    const theirs = t.accept(US.id);
    theirs.open({ id: US.id });
    await settle();
    assert.deepEqual(t.dialed[0]?.notifications(), ['6/7']);
    assert.deepEqual(theirs.notifications(), []);
    // our AS larger: ours survives
    const u = setup({ peerASN: 64000 });
    await u.sp.start();
    await settle();
    const low = new ScriptedPeer(memoryPairInto(u), { asn: 64000, id: US.id });
    low.open({ id: US.id, asn: 64000 });
    await settle();
    assert.deepEqual(low.notifications(), ['6/7']);
    assert.deepEqual(u.dialed[0]?.notifications(), []);
  });

  test('a second connection that never sends OPEN is closed after the collision timeout', async () => {
    const t = setup();
    await t.sp.start();
    await settle();
    const silentPeer = t.accept();
    t.clock.advance(COLLISION_OPEN_TIMEOUT_MS - 1);
    await settle();
    assert.equal(silentPeer.closed, false);
    t.clock.advance(2);
    await settle();
    assert.equal(silentPeer.closed, true);
    assert.equal(state(t.sp), 'OpenSent', 'the session itself is untouched');
  });

  test('passive: open A, open B, close A, OPEN on B: B becomes the session (no 6/7)', async () => {
    const t = setup({ passive: true, sourceAddress: US.v4 });
    for (const s of t.sp.stats()) assert.equal(s.state, 'Idle');
    // no listen in this test: connections are handed to the session as the listener would
    t.sp.session('r')?.start();
    const a = t.accept();
    await settle();
    assert.equal(state(t.sp), 'OpenSent');
    const b = t.accept();
    await settle();
    a.socket.end();
    await settle();
    b.open();
    await settle();
    assert.deepEqual(b.notifications(), [], 'B is not rejected');
    assert.equal(b.of(MessageType.Open).length, 1, 'our OPEN went to B');
    b.keepalive();
    await settle();
    assert.equal(state(t.sp), 'Established');
  });
});

describe('ROUTE-REFRESH (RFC 2918 §4)', () => {
  test('a refresh for IPv6 re-sends the IPv6 table only, with End-of-RIB for IPv6 only', async () => {
    const t = setup({}, [...v4routes(3), ...v6routes(3)]);
    const p = await established(t);
    await settle();
    assert.equal(new Set(announcedIn(p.received)).size, 6);
    assert.deepEqual(endOfRibs(p.received).sort(), [Afi.IPv4, Afi.IPv6]);
    const mark = p.received.length;
    p.routeRefresh(Afi.IPv6);
    await settle();
    const after = p.received.slice(mark);
    assert.deepEqual(announcedIn(after).sort(), v6routes(3).sort());
    assert.deepEqual(endOfRibs(after), [Afi.IPv6]);
    const mark2 = p.received.length;
    p.routeRefresh(25, 70); // a family never negotiated: ignored
    await settle();
    assert.deepEqual(p.received.slice(mark2), []);
    assert.equal(state(t.sp), 'Established');
  });
});

/** Another in-memory connection handed to `t`'s session as an incoming one; returns the peer's end. */
function memoryPairInto(t: ReturnType<typeof setup>): MemorySocket {
  const [a, b] = memoryPair(US.v4, THEM.v4);
  t.sp.session('r')?.incoming(a);
  return b;
}

function decodeAll(chunks: Buffer[]): import('./message.ts').Message[] {
  const p = new ScriptedPeer(memoryPair('x', 'y')[1], { asn: 1, id: '192.0.2.99' });
  for (const c of chunks) p.socket.emit('data', c);
  return p.received;
}

describe('BFD hooks: peerDown and setHeld', () => {
  test('peerDown drops an Established session with Cease/BFD Down (6/10) and it is re-established after the backoff', async () => {
    const t = setup();
    const p = await established(t);
    t.sp.peerDown('r', 'BFD session Down (control detection time expired)');
    await settle();
    assert.deepEqual(p.notifications(), ['6/10']);
    assert.equal(state(t.sp), 'Idle');
    assert.match(t.sp.stats()[0]?.lastError ?? '', /BFD session Down/);
    t.sp.peerDown('nobody', 'ignored'); // unknown names are ignored
    for (let i = 0; i < 60 && t.dialed.length < 2; i++) { t.clock.advance(1000); await settle(); }
    const again = t.dialed[1];
    assert.ok(again, 'a new connection was dialed after the backoff');
    again.open();
    again.keepalive();
    await settle();
    assert.equal(state(t.sp), 'Established');
  });

  test('a held peer does not start, a held Established session is stopped with 6/10, and release starts it at once', async () => {
    const t = setup();
    t.sp.setHeld(new Map([['r', 'waiting for BFD Up']]));
    await t.sp.start();
    await settle();
    t.clock.advance(60_000);
    await settle();
    assert.equal(t.dialed.length, 0, 'a held peer is not dialed');
    assert.equal(state(t.sp), 'Idle');
    t.sp.setHeld(new Map());
    await settle();
    const p = t.dialed[0];
    assert.ok(p, 'released: dialed at once');
    p.open();
    p.keepalive();
    await settle();
    assert.equal(state(t.sp), 'Established');
    t.sp.setHeld(new Map([['r', 'BFD session Down']]));
    await settle();
    assert.deepEqual(p.notifications(), ['6/10']);
    assert.equal(state(t.sp), 'Idle');
    assert.equal(t.sp.stats()[0]?.lastError, 'BFD session Down');
    t.sp.peerDown('r', 'held peers ignore peerDown');
    t.clock.advance(60_000);
    await settle();
    assert.equal(t.dialed.length, 1, 'still held: no new connection');
  });
});
