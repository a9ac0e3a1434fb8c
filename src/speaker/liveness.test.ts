/**
 * Liveness on a fake datagram network and a FakeClock: state transitions (alive, suspect, absent, leaving),
 * what is rejected (replay, bad MAC, unknown node, own name), new incarnations, the API-outage freeze, no key
 * no send, onChange exactly on changes, rate-limited rejection logs; and one real-socket exchange on loopback.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { pino } from 'pino';
import { FakeClock } from '../clock.ts';
import type { Logger } from '../log.ts';
import { decodeHeartbeat, encodeHeartbeat } from './heartbeat.ts';
import { Liveness, UdpPort, type DatagramPort, type LivenessOptions } from './liveness.ts';
import type { InterfaceState, MemberView } from './types.ts';

const silent = pino({ level: 'silent' });
const KEY = Buffer.from('a-sixteen-plus-byte-heartbeat-key');

/** Captures log lines as objects. */
function capture(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log: Logger = pino({ level: 'info' }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
  return { log, lines };
}

interface Sent { buf: Buffer; from: string; to: string; port: number }

/** Datagrams between fake ports keyed by address, delivered 1 ms later; `drop` filters the path. */
class FakeNet {
  readonly ports = new Map<string, FakePort>();
  readonly sent: Sent[] = [];
  drop: (s: Sent) => boolean = () => false;
  constructor(readonly clock: FakeClock) {}
  port(...addresses: string[]): FakePort {
    const p = new FakePort(this, addresses[0] ?? '');
    for (const a of addresses) this.ports.set(a, p);
    return p;
  }
  /** Delivers a datagram as if `from` sent it (a LAN attacker, a replay). */
  inject(buf: Buffer, from: string, to: string): void {
    this.ports.get(to)?.deliver(buf, from);
  }
}

class FakePort implements DatagramPort {
  private cb: ((buf: Buffer, from: string) => void) | undefined;
  closed = false;
  constructor(private readonly net: FakeNet, private readonly address: string) {}
  send(buf: Buffer, address: string, port: number): void {
    const s = { buf: Buffer.from(buf), from: this.address, to: address, port };
    this.net.sent.push(s);
    if (this.closed || this.net.drop(s)) return;
    this.net.clock.setTimeout(() => { this.net.ports.get(address)?.deliver(s.buf, this.address); }, 1);
  }
  onMessage(cb: (buf: Buffer, from: string) => void): void { this.cb = cb; }
  close(): void { this.closed = true; }
  deliver(buf: Buffer, from: string): void { if (!this.closed) this.cb?.(buf, from); }
}

const ifA: InterfaceState = { name: 'eth0', mac: '02:00:00:00:00:0a', up: true, addresses: [{ address: '192.0.2.1', cidr: '192.0.2.1/24', family: 'IPv4' }] };
const ifB: InterfaceState = { name: 'eth0', mac: '02:00:00:00:00:0b', up: true, addresses: [{ address: '192.0.2.2', cidr: '192.0.2.2/24', family: 'IPv4' }] };
const ADDR = { a: '192.0.2.1', b: '192.0.2.2', c: '192.0.2.3' } as const;

function speaker(net: FakeNet, node: 'a' | 'b' | 'c', extra: Partial<LivenessOptions> = {}): Liveness {
  const l = new Liveness({ node, port: net.port(ADDR[node]), log: silent, clock: net.clock, incarnation: 1000n, ...extra });
  l.setKey(KEY);
  l.setLocal(node === 'a' ? [ifA] : [ifB]);
  return l;
}

/** Stops `l` (a crash) and lets its last datagram land: returns when `observer` last heard it. */
function crash(l: Liveness, observer: Liveness, clock: FakeClock, node = 'b'): number {
  l.stop();
  clock.advance(1);
  return clock.now() - (observer.lastHeardAgeMs(node) ?? NaN);
}

const peersAB = new Map([['a', [ADDR.a]], ['b', [ADDR.b]]]);
const states = (v: ReadonlyMap<string, MemberView>): Record<string, string> => Object.fromEntries([...v].map(([n, m]) => [n, m.state]));

/** Records every onChange with its time and states. */
function recorder(l: Liveness, clock: FakeClock): { at: number; view: Record<string, string> }[] {
  const out: { at: number; view: Record<string, string> }[] = [];
  l.onChange((v) => { out.push({ at: clock.now(), view: states(v) }); });
  return out;
}

function pair(extraA: Partial<LivenessOptions> = {}, extraB: Partial<LivenessOptions> = {}): { clock: FakeClock; net: FakeNet; a: Liveness; b: Liveness } {
  const clock = new FakeClock(10_000);
  const net = new FakeNet(clock);
  const a = speaker(net, 'a', extraA);
  const b = speaker(net, 'b', extraB);
  a.setPeers(peersAB);
  b.setPeers(peersAB);
  return { clock, net, a, b };
}

test('two speakers see each other alive, with the interfaces reported; self is always alive', () => {
  const { clock, a, b } = pair();
  assert.deepEqual(states(a.view()), { a: 'alive' }, 'before any heartbeat, only self');
  a.start(); b.start();
  clock.advance(2);
  assert.deepEqual(states(a.view()), { a: 'alive', b: 'alive' });
  assert.deepEqual(a.view().get('b')?.interfaces, [ifB]);
  assert.deepEqual(b.view().get('a')?.interfaces, [ifA]);
  clock.advance(5000);
  assert.deepEqual(states(a.view()), { a: 'alive', b: 'alive' }, 'stays alive while beats flow');
  assert.equal(a.lastHeardAgeMs('b'), 1, 'last beat 1 ms in flight');
  assert.ok(a.stats.accepted >= 50 && a.stats.sent >= 50, JSON.stringify(a.stats));
  assert.equal(Object.values(a.stats.rejected).reduce((x, y) => x + y, 0), 0);
});

test('crash: alive -> suspect exactly timeoutMs after the last beat when the Lease is fresh, then absent when it goes stale', () => {
  const { clock, a, b } = pair();
  a.setLeases(new Map([['b', true]]));
  const seen = recorder(a, clock);
  a.start(); b.start();
  clock.advance(1000);
  const lastHeard = crash(b, a, clock);
  clock.advance(1000);
  assert.deepEqual(states(a.view()), { a: 'alive', b: 'suspect' });
  assert.deepEqual(seen, [
    { at: 10_001, view: { a: 'alive', b: 'alive' } },
    { at: lastHeard + 350, view: { a: 'alive', b: 'suspect' } },
  ]);
  assert.equal(a.stats.losses, 1);
  assert.deepEqual(a.view().get('b')?.interfaces, [ifB], 'a suspect keeps its last reported interfaces');
  a.setLeases(new Map([['b', false]]));
  assert.deepEqual(states(a.view()), { a: 'alive' });
  assert.equal(seen.length, 3);
  assert.equal(a.stats.losses, 1, 'suspect -> absent is not another loss');
});

test('crash without a fresh Lease: alive -> absent at the timeout; timeout boundary is exact', () => {
  const { clock, a, b } = pair();
  a.start(); b.start();
  clock.advance(500);
  const heardAt = crash(b, a, clock);
  clock.advance(heardAt + 349 - clock.now());
  assert.equal(a.view().get('b')?.state, 'alive', '349 ms after the last beat');
  clock.advance(1);
  assert.equal(a.view().has('b'), false, '350 ms after the last beat');
  assert.equal(a.stats.losses, 1);
});

test('leave(): leaving beats at once and three more intervalMs apart, then silence; the peer shows leaving until the Lease goes', async () => {
  const { clock, net, a, b } = pair();
  a.setLeases(new Map([['b', true]]));
  a.start(); b.start();
  clock.advance(1000);
  const seen = recorder(a, clock);
  const before = net.sent.length;
  let done = false;
  const left = b.leave().then(() => { done = true; });
  assert.deepEqual(states(b.view()), { a: 'alive', b: 'leaving' }, 'self leaving at once');
  clock.advance(1);
  assert.deepEqual(states(a.view()), { a: 'alive', b: 'leaving' }, 'peer sees it 1 ms later');
  clock.advance(2000);
  await left;
  assert.ok(done);
  const fromB = net.sent.slice(before).filter((s) => s.from === ADDR.b);
  assert.equal(fromB.length, 4, 'four leaving beats');
  assert.deepEqual(fromB.map((s) => decodeHeartbeat(s.buf, KEY)).map((r) => r.ok && r.heartbeat.leaving), [true, true, true, true]);
  assert.deepEqual(net.sent.slice(before).filter((s) => s.from === ADDR.b).length, 4, 'and nothing after');
  assert.equal(a.view().get('b')?.state, 'leaving', 'still leaving: the Lease is fresh, within 10 x timeout');
  a.setLeases(new Map()); // Lease deleted on the way out
  assert.equal(a.view().has('b'), false);
  assert.deepEqual(seen.map((s) => s.view), [{ a: 'alive', b: 'leaving' }, { a: 'alive' }]);
  assert.equal(a.stats.losses, 0, 'a graceful leave is no loss');
});

test('leaving ends at timeout x 10 even with a fresh Lease (then suspect), and at the timeout without one', () => {
  {
    const { clock, a, b } = pair();
    a.setLeases(new Map([['b', true]]));
    a.start(); b.start();
    clock.advance(100);
    void b.leave();
    clock.advance(1000);
    const heardAt = clock.now() - (a.lastHeardAgeMs('b') ?? NaN);
    clock.advance(heardAt + 3499 - clock.now());
    assert.equal(a.view().get('b')?.state, 'leaving');
    clock.advance(1);
    assert.equal(a.view().get('b')?.state, 'suspect');
  }
  {
    const { clock, a, b } = pair();
    a.start(); b.start();
    clock.advance(100);
    void b.leave();
    clock.advance(301);
    assert.equal(a.view().get('b')?.state, 'leaving', 'heard recently');
    const heardAt = clock.now() - (a.lastHeardAgeMs('b') ?? NaN);
    clock.advance(heardAt + 350 - clock.now());
    assert.equal(a.view().has('b'), false, 'no Lease: gone at the timeout');
  }
});

test('replayed and older datagrams are rejected and change nothing; a second copy is a duplicate', () => {
  const { clock, net, a, b } = pair();
  a.start(); b.start();
  clock.advance(1000);
  const fromB = net.sent.filter((s) => s.from === ADDR.b);
  const old = fromB[0]!;
  const heardAt = crash(b, a, clock);
  const latest = net.sent.filter((s) => s.from === ADDR.b).at(-1)!;
  const seen = recorder(a, clock);
  net.inject(latest.buf, ADDR.b, ADDR.a);
  net.inject(old.buf, ADDR.b, ADDR.a);
  assert.equal(a.stats.rejected.duplicate, 1);
  assert.equal(a.stats.rejected.replay, 1);
  // keep replaying captured beats after the crash: b must still expire
  clock.advance(200);
  for (const s of fromB) net.inject(s.buf, ADDR.b, ADDR.a);
  clock.advance(heardAt + 350 - clock.now());
  assert.equal(a.view().has('b'), false);
  assert.equal(a.stats.rejected.replay + a.stats.rejected.duplicate, 2 + fromB.length);
  assert.deepEqual(seen.map((s) => s.at), [heardAt + 350], 'only the expiry changed the view');
});

test('a bad MAC (another key) is rejected; so is an unknown node and a datagram carrying our own name', () => {
  const clock = new FakeClock();
  const net = new FakeNet(clock);
  const a = speaker(net, 'a');
  const b = speaker(net, 'b');
  const c = speaker(net, 'c');
  b.setKey(Buffer.from('some-other-heartbeat-key-of-32-b'));
  a.setPeers(peersAB);
  b.setPeers(peersAB);
  c.setPeers(new Map([['a', [ADDR.a]]])); // c knows a, but a does not know c
  a.start(); b.start(); c.start();
  clock.advance(1000);
  assert.deepEqual(states(a.view()), { a: 'alive' });
  assert.ok(a.stats.rejected['bad-mac'] >= 10);
  assert.ok(a.stats.rejected['unknown-node'] >= 10);
  assert.equal(a.stats.accepted, 0);
  const self = encodeHeartbeat({ node: 'a', incarnation: 5000n, seq: 1, leaving: false, interfaces: [] }, KEY).buf;
  net.inject(self, ADDR.c, ADDR.a);
  assert.equal(a.stats.rejected.self, 1);
  net.inject(Buffer.from('garbage'), ADDR.c, ADDR.a);
  assert.equal(a.stats.rejected['bad-magic'], 1);
  assert.deepEqual(states(a.view()), { a: 'alive' });
});

test('a restarted peer (larger incarnation) is accepted at once; its previous life is then a replay', () => {
  const { clock, net, a, b } = pair();
  a.start(); b.start();
  clock.advance(500);
  const oldLife = net.sent.filter((s) => s.from === ADDR.b).at(-1)!;
  b.stop();
  const b2 = new Liveness({ node: 'b', port: net.port(ADDR.b), log: silent, clock, incarnation: 2000n });
  b2.setKey(KEY);
  b2.setLocal([{ ...ifB, up: false }]);
  b2.setPeers(peersAB);
  b2.start();
  clock.advance(1);
  assert.equal(a.view().get('b')?.state, 'alive');
  assert.equal(a.view().get('b')?.interfaces[0]?.up, false, 'the new life\'s interfaces');
  net.inject(oldLife.buf, ADDR.b, ADDR.a);
  assert.equal(a.stats.rejected.replay, 1);
  assert.equal(a.view().get('b')?.interfaces[0]?.up, false);
});

test('an apiserver outage freezes Lease freshness; recovery applies the latest', () => {
  const { clock, a, b } = pair();
  a.setLeases(new Map([['b', true]]));
  a.start(); b.start();
  clock.advance(100);
  a.setApiHealthy(false);
  b.stop(); // crashes during the outage: seen directly
  clock.advance(1000);
  assert.equal(a.view().get('b')?.state, 'suspect', 'crash detected directly; suspect, not alive');
  a.setLeases(new Map([['b', false]])); // the informer's view goes stale during the outage
  clock.advance(60_000);
  assert.equal(a.view().get('b')?.state, 'suspect', 'frozen: nobody expires while the API is down');
  a.setApiHealthy(true);
  assert.equal(a.view().has('b'), false, 'latest freshness applies after recovery');
});

test('a node with a fresh Lease that was never heard is suspect with no interfaces', () => {
  const { a } = pair();
  a.setLeases(new Map([['c', true], ['b', true]]));
  assert.deepEqual(states(a.view()), { a: 'alive', b: 'suspect', c: 'suspect' });
  assert.deepEqual(a.view().get('c')?.interfaces, []);
});

test('no key: nothing is sent (logged once), nothing accepted; a key starts the beats at once', () => {
  const clock = new FakeClock();
  const net = new FakeNet(clock);
  const { log, lines } = capture();
  const a = new Liveness({ node: 'a', port: net.port(ADDR.a), log, clock });
  a.setPeers(peersAB);
  a.start();
  clock.advance(1000);
  assert.equal(net.sent.length, 0);
  assert.equal(lines.filter((l) => l.event === 'heartbeat_no_key').length, 1);
  net.inject(encodeHeartbeat({ node: 'b', incarnation: 1n, seq: 0, leaving: false, interfaces: [] }, KEY).buf, ADDR.b, ADDR.a);
  assert.equal(a.stats.rejected['no-key'], 1);
  assert.equal(a.view().has('b'), false);
  a.setKey(Buffer.from('short'));
  clock.advance(500);
  assert.equal(net.sent.length, 0, 'a key under 16 bytes counts as none');
  a.setKey(KEY);
  assert.equal(net.sent.length, 1, 'sent at once');
  clock.advance(1000);
  assert.equal(net.sent.length, 11);
  a.setKey(undefined);
  clock.advance(1000);
  assert.equal(net.sent.length, 11, 'stops again when the key goes');
});

test('a change of local interfaces is sent at once and reaches the peer\'s view with one onChange', () => {
  const { clock, net, a, b } = pair();
  a.start(); b.start();
  clock.advance(50);
  const seen = recorder(a, clock);
  const n = net.sent.length;
  b.setLocal([{ ...ifB, up: false }]);
  assert.equal(net.sent.length, n + 1, 'sent at once');
  b.setLocal([{ ...ifB, up: false }]);
  assert.equal(net.sent.length, n + 1, 'no change, no extra send');
  clock.advance(1);
  assert.equal(a.view().get('b')?.interfaces[0]?.up, false);
  clock.advance(1000);
  assert.equal(seen.length, 1, 'one change, one notification, whatever the number of beats');
});

test('onChange fires exactly once per change of view(), never without one', () => {
  const { clock, a, b } = pair();
  const views: ReadonlyMap<string, MemberView>[] = [];
  a.onChange((v) => { views.push(v); assert.equal(a.view(), v, 'view() is the notified map'); });
  a.start(); b.start();
  const step = (f: () => void): void => { const before = a.view(); const n = views.length; f(); assert.equal(views.length - n, a.view() === before ? 0 : 1); };
  step(() => { clock.advance(5); });
  step(() => { a.setLeases(new Map([['b', true]])); }); // b alive anyway: no change
  step(() => { b.stop(); clock.advance(400); });
  step(() => { a.setApiHealthy(false); });
  step(() => { a.setLeases(new Map()); });
  step(() => { a.setApiHealthy(true); });
  step(() => { a.setPeers(new Map([['a', [ADDR.a]]])); });
  assert.deepEqual(views.map(states), [{ a: 'alive', b: 'alive' }, { a: 'alive', b: 'suspect' }, { a: 'alive' }]);
});

test('a listener that throws does not stop others nor the liveness; a listener may call back in', () => {
  const { clock, a, b } = pair();
  let other = 0;
  a.onChange(() => { throw new Error('boom'); });
  a.onChange(() => { other++; a.setLeases(new Map([['c', true]])); });
  a.start(); b.start();
  clock.advance(5);
  assert.ok(other >= 2, 'notified of the first change and of the re-entrant one');
  assert.deepEqual(states(a.view()), { a: 'alive', b: 'alive', c: 'suspect' });
});

test('rejections are logged at most once per 10 s per reason, with counts', () => {
  const clock = new FakeClock();
  const net = new FakeNet(clock);
  const { log, lines } = capture();
  const a = new Liveness({ node: 'a', port: net.port(ADDR.a), log, clock });
  a.setKey(KEY);
  a.setPeers(peersAB);
  const bad = encodeHeartbeat({ node: 'b', incarnation: 1n, seq: 0, leaving: false, interfaces: [] }, Buffer.from('x'.repeat(32))).buf;
  for (let i = 0; i < 2500; i++) { net.inject(bad, ADDR.b, ADDR.a); clock.advance(10); } // 25 s at 100/s
  const logged = lines.filter((l) => l.event === 'heartbeat_rejected');
  assert.equal(logged.length, 3);
  assert.deepEqual(logged.map((l) => l.count), [1, 1000, 1000]);
  assert.ok(logged.every((l) => l.reason === 'bad-mac'));
  assert.equal(a.stats.rejected['bad-mac'], 2500);
});

test('dual-stack peers: beats go to every address; the second copy counts as a duplicate, not a replay', () => {
  const clock = new FakeClock();
  const net = new FakeNet(clock);
  const a = new Liveness({ node: 'a', port: net.port(ADDR.a, '2001:db8::1'), log: silent, clock });
  const b = new Liveness({ node: 'b', port: net.port(ADDR.b, '2001:db8::2'), log: silent, clock });
  const peers = new Map([['a', [ADDR.a, '2001:DB8::1']], ['b', [ADDR.b, '2001:db8::2', 'not-an-ip']]]);
  for (const l of [a, b]) { l.setKey(KEY); l.setPeers(peers); l.start(); }
  clock.advance(1000);
  assert.deepEqual([...new Set(net.sent.filter((s) => s.from === ADDR.a).map((s) => s.to))].sort(), ['192.0.2.2', '2001:db8::2'], 'hostnames are never sent to');
  assert.ok(a.stats.rejected.duplicate >= 10);
  assert.equal(a.stats.rejected.replay, 0);
  net.drop = (s) => s.to.includes(':'); // IPv6 path broken: IPv4 still carries it
  clock.advance(1000);
  assert.equal(a.view().get('b')?.state, 'alive');
});

test('key rotation: the previous key is accepted for keyGraceMs, then not', () => {
  const { clock, a, b } = pair({ keyGraceMs: 5000 });
  a.start(); b.start();
  clock.advance(100);
  a.setKey(Buffer.from('the-next-heartbeat-key-32-bytes!'));
  clock.advance(4000);
  assert.equal(a.view().get('b')?.state, 'alive', 'b still on the old key');
  clock.advance(2000);
  assert.equal(a.view().has('b'), false);
  assert.ok(a.stats.rejected['bad-mac'] > 0);
});

test('removing a peer drops it from the view at once and stops sending to it', () => {
  const { clock, net, a, b } = pair();
  a.start(); b.start();
  clock.advance(100);
  a.setPeers(new Map([['a', [ADDR.a]]]));
  assert.equal(a.view().has('b'), false);
  const n = net.sent.filter((s) => s.from === ADDR.a).length;
  clock.advance(1000);
  assert.equal(net.sent.filter((s) => s.from === ADDR.a).length, n);
  assert.ok(a.stats.rejected['unknown-node'] >= 10);
});

for (const [family, host] of [['IPv4', '127.0.0.1'], ['IPv6', '::1']] as const) test(`real sockets: two speakers on loopback UDP (${host}, port 0) see each other`, async () => {
  const only = family === 'IPv4' ? { address4: host, address6: null } : { address4: null, address6: host };
  const ports = await Promise.all([0, 1].map(() => UdpPort.open({ port: 0, ...only, log: silent })));
  const [pa, pb] = ports as [UdpPort, UdpPort];
  try {
    assert.equal(pa.localPort(family === 'IPv4' ? 'IPv6' : 'IPv4'), undefined, 'the other family is not opened');
    const peers = new Map([['a', [host]], ['b', [host]]]);
    // both on the same address: each sends to the other's port
    const a = new Liveness({ node: 'a', port: pa, log: silent, peerPort: pb.localPort(family)! });
    const b = new Liveness({ node: 'b', port: pb, log: silent, peerPort: pa.localPort(family)! });
    const seen = new Promise<void>((resolve) => { a.onChange((v) => { if (v.get('b')?.state === 'alive') resolve(); }); });
    for (const l of [a, b]) { l.setKey(KEY); l.setLocal(l === a ? [ifA] : [ifB]); l.setPeers(peers); l.start(); }
    await seen;
    assert.deepEqual(a.view().get('b')?.interfaces, [ifB]);
    pa.send(Buffer.from('junk'), host, pb.localPort(family)!);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(b.stats.rejected['bad-magic'] >= 1, 'junk rejected, nothing thrown');
    a.stop(); b.stop();
  } finally {
    pa.close(); pb.close();
  }
});

// ---------------------------------------------------------------------------------------------------
// A model test: random heartbeats (fresh, replayed, restarted, leaving), Lease changes, API outages, garbage
// and time steps against a direct transcription of the state rules. Every notification must show the model's
// view at that instant, consecutive notifications must differ, and after every step view() is the model's.

const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
console.log(`liveness model seed ${seed} (re-run with FC_SEED=${seed})`);

type Action =
  | { k: 'advance'; ms: number }
  | { k: 'beat'; node: 'b' | 'c'; leaving: boolean; up: boolean }
  | { k: 'replay'; node: 'b' | 'c'; back: number }
  | { k: 'restart'; node: 'b' | 'c' }
  | { k: 'leases'; b: boolean | undefined; c: boolean | undefined }
  | { k: 'api'; healthy: boolean }
  | { k: 'garbage' };

const nodeArb = fc.constantFrom('b' as const, 'c' as const);
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 1, max: 120 }), fc.integer({ min: 300, max: 4000 })) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('beat' as const), node: nodeArb, leaving: fc.boolean(), up: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('replay' as const), node: nodeArb, back: fc.nat({ max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('restart' as const), node: nodeArb }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('leases' as const), b: fc.option(fc.boolean(), { nil: undefined }), c: fc.option(fc.boolean(), { nil: undefined }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('api' as const), healthy: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('garbage' as const) }) },
);

test('model: the view follows the state rules at every instant it is notified and after every step', () => {
  fc.assert(fc.property(fc.array(actionArb, { minLength: 1, maxLength: 80 }), (actions) => {
    const clock = new FakeClock(50_000);
    const net = new FakeNet(clock);
    const a = new Liveness({ node: 'a', port: net.port(ADDR.a), log: silent, clock });
    a.setKey(KEY);
    a.setPeers(new Map([['b', [ADDR.b]], ['c', [ADDR.c]]]));
    // the model
    const sender = { b: { inc: 10n, seq: 0, sent: [] as Buffer[] }, c: { inc: 10n, seq: 0, sent: [] as Buffer[] } };
    const heard = new Map<string, { at: number; leaving: boolean; up: boolean }>();
    let latest = new Map<string, boolean>();
    let effective = new Map<string, boolean>();
    let healthy = true;
    const model = (): Record<string, string> => {
      const now = clock.now();
      const out: Record<string, string> = { a: 'alive' };
      for (const n of ['b', 'c']) {
        const h = heard.get(n);
        const fresh = effective.get(n) === true;
        let s: string | undefined;
        if (h && h.leaving && now - h.at < 3500 && (now - h.at < 350 || fresh)) s = 'leaving';
        else if (h && !h.leaving && now - h.at < 350) s = 'alive';
        else if (fresh) s = 'suspect';
        if (s) out[n] = s + (h ? `/${h.up ? 'up' : 'down'}` : '/-');
      }
      return out;
    };
    const actual = (v: ReadonlyMap<string, MemberView>): Record<string, string> => Object.fromEntries([...v].map(([n, m]) => [n, n === 'a' ? m.state : `${m.state}/${m.interfaces.length === 0 ? '-' : m.interfaces[0]?.up ? 'up' : 'down'}`]));
    let last: string | undefined = JSON.stringify(actual(a.view()));
    a.onChange((v) => {
      const got = JSON.stringify(actual(v));
      assert.notEqual(got, last, 'a notification without a change');
      assert.deepEqual(actual(v), model(), `notified view at ${clock.now()}`);
      last = got;
    });
    for (const act of actions) {
      switch (act.k) {
        case 'advance': clock.advance(act.ms); break;
        case 'beat': {
          const s = sender[act.node];
          const buf = encodeHeartbeat({ node: act.node, incarnation: s.inc, seq: s.seq++, leaving: act.leaving, interfaces: [{ ...ifB, up: act.up }] }, KEY).buf;
          s.sent.push(buf);
          heard.set(act.node, { at: clock.now(), leaving: act.leaving, up: act.up });
          net.inject(buf, ADDR[act.node], ADDR.a);
          break;
        }
        case 'replay': {
          const s = sender[act.node];
          const buf = s.sent[s.sent.length - 1 - act.back];
          if (buf) net.inject(buf, ADDR[act.node], ADDR.a); // never accepted: the model does not change
          break;
        }
        case 'restart': { const s = sender[act.node]; s.inc++; s.seq = 0; break; }
        case 'leases': {
          latest = new Map();
          if (act.b !== undefined) latest.set('b', act.b);
          if (act.c !== undefined) latest.set('c', act.c);
          if (healthy) effective = latest;
          a.setLeases(latest);
          break;
        }
        case 'api': {
          if (act.healthy && !healthy) effective = latest;
          healthy = act.healthy;
          a.setApiHealthy(act.healthy);
          break;
        }
        case 'garbage': net.inject(Buffer.from('BGHB\x01garbage'), ADDR.b, ADDR.a); break;
      }
      assert.deepEqual(actual(a.view()), model(), `after ${JSON.stringify(act)} at ${clock.now()}`);
    }
    a.stop();
  }), { numRuns: process.env.CI ? 2000 : 300, seed });
});
