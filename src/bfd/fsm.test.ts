/**
 * The BFD FSM: the transitions of RFC 5880 §6.8.6 one by one, timers and the Poll Sequence, and two FSMs wired
 * back to back through the codec on simulated time (any start order, passive or active, packet loss).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { BfdState, Diag, decodeControl, encodeControl, type BfdStateCode, type ControlPacket, type Received } from './codec.ts';
import { SLOW_TX_US, detectionTime, initialBfdState, transition, txInterval, type BfdAction, type BfdFsmState, type BfdTimers } from './fsm.ts';

const T: BfdTimers = { desiredMinTx: 300_000, requiredMinRx: 300_000, detectMult: 3, passive: false };
const half = (): number => 0.5;
const from = (state: BfdStateCode, extra: Partial<Received> = {}): Received => ({
  diag: 0, state, poll: false, final: false, cpi: false, demand: false, auth: false, detectMult: 3, myDiscriminator: 99,
  yourDiscriminator: state === BfdState.Down ? 0 : 1, desiredMinTxInterval: 300_000, requiredMinRxInterval: 300_000, requiredMinEchoRxInterval: 0, ...extra,
});
const rx = (s: BfdFsmState, p: Received): { s: BfdFsmState; a: readonly BfdAction[] } => { const t = transition(s, { type: 'received', packet: p }, half); return { s: t.state, a: t.actions }; };
const sent = (a: readonly BfdAction[]): ControlPacket[] => a.flatMap((x) => (x.type === 'send' ? [x.packet] : []));
const changes = (a: readonly BfdAction[]): string[] => a.flatMap((x) => (x.type === 'stateChange' ? [`${x.from}->${x.to}/${x.diag}${x.remoteAdminDown ? '/admin' : ''}`] : []));
const up = (): BfdFsmState => rx(rx(initialBfdState(1, T), from(BfdState.Down)).s, from(BfdState.Up)).s;

describe('state transitions (§6.8.6)', () => {
  test('three-way handshake: Down --Down--> Init --Up--> Up, a packet sent at each change, detection armed', () => {
    const a = rx(initialBfdState(1, T), from(BfdState.Down));
    assert.equal(a.s.state, BfdState.Init);
    assert.deepEqual(changes(a.a), ['1->2/0']);
    assert.equal(sent(a.a)[0]?.yourDiscriminator, 99, 'the peer\'s discriminator is echoed');
    assert.ok(a.a.some((x) => x.type === 'armDetect' && x.us === 900_000), 'detect: their multiplier 3 × max(our rx 300 ms, their tx 300 ms)');
    const b = rx(a.s, from(BfdState.Up));
    assert.equal(b.s.state, BfdState.Up);
    assert.deepEqual(changes(b.a), ['2->3/0']);
    assert.equal(rx(initialBfdState(1, T), from(BfdState.Init)).s.state, BfdState.Up, 'Down --Init--> Up');
  });

  test('Up --Down--> Down (neighbor signaled), Up --AdminDown--> Down marked remoteAdminDown; detect expiry: diag 1, peer forgotten', () => {
    assert.deepEqual(changes(rx(up(), from(BfdState.Down)).a), [`3->1/${Diag.NeighborSignaledSessionDown}`]);
    assert.deepEqual(changes(rx(up(), from(BfdState.AdminDown, { yourDiscriminator: 0 })).a), [`3->1/${Diag.NeighborSignaledSessionDown}/admin`]);
    const t = transition(up(), { type: 'detectTimer' }, half);
    assert.deepEqual(changes(t.actions), [`3->1/${Diag.ControlDetectionTimeExpired}`]);
    assert.equal(t.state.remoteDiscr, 0);
    assert.equal(sent(t.actions)[0]?.diag, Diag.ControlDetectionTimeExpired);
    assert.deepEqual(changes(transition(initialBfdState(1, T), { type: 'detectTimer' }, half).actions), [], 'Down stays Down');
  });

  test('discarded: a packet for another discriminator, an authenticated one; AdminDown ignores packets', () => {
    const s = up();
    assert.equal(rx(s, from(BfdState.Down, { yourDiscriminator: 2 })).s, s);
    assert.equal(rx(s, from(BfdState.Down, { auth: true })).s, s);
    const admin = transition(s, { type: 'adminDown' }, half);
    assert.deepEqual(changes(admin.actions), ['3->0/7']);
    assert.equal(rx(admin.state, from(BfdState.Up)).s.state, BfdState.AdminDown);
    assert.equal(transition(admin.state, { type: 'adminUp' }, half).state.state, BfdState.Down);
  });

  test('a Poll is answered at once with F (and no P)', () => {
    const r = rx(up(), from(BfdState.Up, { poll: true }));
    const p = sent(r.a);
    assert.equal(p.length, 1);
    assert.equal(p[0]?.final, true);
    assert.equal(p[0].poll, false);
  });
});

describe('timers (§6.8.3, §6.8.4, §6.8.7)', () => {
  test('1 s advertised until Up; on Up the fast interval starts a Poll and is used at once (faster sending is safe)', () => {
    const init = rx(initialBfdState(1, T), from(BfdState.Down)).s;
    assert.equal(init.txAdvertised, SLOW_TX_US);
    const s = up();
    assert.equal(s.txAdvertised, 300_000);
    assert.equal(s.polling, true);
    assert.equal(txInterval(s), 300_000);
    const done = rx(s, from(BfdState.Up, { final: true })).s;
    assert.equal(done.polling, false);
    assert.equal(detectionTime(done), 900_000, '3 × 300 ms');
  });

  test('a slower transmit interval or a faster receive interval while Up waits for the Final; the peer\'s rx bounds our tx', () => {
    const s = rx(up(), from(BfdState.Up, { final: true })).s;
    const t = transition(s, { type: 'setTimers', timers: { ...T, desiredMinTx: 500_000, requiredMinRx: 100_000 } }, half);
    assert.equal(t.state.polling, true);
    assert.equal(sent(t.actions)[0]?.poll, true, 'a Poll goes out at once');
    assert.equal(txInterval(t.state), 300_000, 'still the old tx');
    assert.equal(detectionTime(t.state), 900_000, 'still the old rx');
    const f = rx(t.state, from(BfdState.Up, { final: true, desiredMinTxInterval: 100_000 })).s;
    assert.equal(txInterval(f), 500_000);
    assert.equal(detectionTime(f), 300_000, '3 × max(100 ms, their 100 ms)');
    assert.equal(txInterval(rx(f, from(BfdState.Up, { requiredMinRxInterval: 2_000_000 })).s), 2_000_000);
  });

  test('jitter: 75–100 % of the interval, at most 90 % with multiplier 1; a passive session is silent until it hears the peer', () => {
    const s = rx(up(), from(BfdState.Up, { final: true })).s;
    const arm = (st: BfdFsmState, r: number): number => { const a = transition(st, { type: 'txTimer' }, () => r).actions.find((x) => x.type === 'armTx'); return a?.type === 'armTx' ? a.us : -1; };
    assert.equal(arm(s, 0), 225_000);
    assert.equal(arm(s, 0.999_999), 300_000);
    assert.equal(arm({ ...s, timers: { ...s.timers, detectMult: 1 } }, 0.999_999), 270_000);
    const passive = initialBfdState(1, { ...T, passive: true });
    assert.deepEqual(sent(transition(passive, { type: 'start' }, half).actions), []);
    assert.deepEqual(sent(transition(passive, { type: 'txTimer' }, half).actions), []);
    assert.equal(sent(rx(passive, from(BfdState.Down)).a).length, 1, 'speaks once spoken to');
    assert.deepEqual(sent(transition(rx(up(), from(BfdState.Up, { requiredMinRxInterval: 0 })).s, { type: 'txTimer' }, half).actions), [], 'a peer asking for 0 gets nothing');
  });
});

/** Two sessions back to back over a link that can drop everything, on simulated time (µs). */
class Pair {
  now = 0;
  s: [BfdFsmState, BfdFsmState];
  link = true;
  private readonly due: { at: number; side: 0 | 1; what: 'tx' | 'detect' | 'packet'; buf?: Buffer }[] = [];
  private readonly timer: [Map<string, number>, Map<string, number>] = [new Map<string, number>(), new Map<string, number>()];
  private seq = 0;
  constructor(private readonly rand: () => number, t: [BfdTimers, BfdTimers]) { this.s = [initialBfdState(11, t[0]), initialBfdState(22, t[1])]; }
  start(side: 0 | 1): void { this.feed(side, { type: 'start' }); }
  private feed(side: 0 | 1, e: Parameters<typeof transition>[1]): void {
    const t = transition(this.s[side], e, this.rand);
    this.s[side] = t.state;
    for (const a of t.actions) {
      if (a.type === 'send') { if (this.link) this.due.push({ at: this.now + 500 + Math.floor(this.rand() * 500), side: side === 0 ? 1 : 0, what: 'packet', buf: encodeControl(a.packet) }); }
      else if (a.type === 'armTx') this.arm(side, 'tx', a.us);
      else if (a.type === 'armDetect') this.arm(side, 'detect', a.us);
      else if (a.type === 'cancelDetect') this.timer[side].delete('detect');
    }
  }
  private arm(side: 0 | 1, what: 'tx' | 'detect', us: number): void {
    const id = ++this.seq;
    this.timer[side].set(what, id);
    this.due.push({ at: this.now + us, side, what, buf: Buffer.from([id & 0xff, (id >> 8) & 0xff, (id >> 16) & 0xff, id >>> 24]) });
  }
  run(untilUs: number): void {
    for (;;) {
      this.due.sort((a, b) => a.at - b.at);
      const next = this.due[0];
      if (!next || next.at > untilUs) break;
      this.due.shift();
      this.now = next.at;
      if (next.what === 'packet') {
        if (!this.link || !next.buf) continue;
        const r = decodeControl(next.buf);
        assert.ok(r.ok, 'every packet an FSM sends decodes');
        this.feed(next.side, { type: 'received', packet: r.packet });
      } else {
        const id = next.buf?.readUInt32LE(0);
        if (this.timer[next.side].get(next.what) !== id) continue; // re-armed or cancelled since
        this.timer[next.side].delete(next.what);
        this.feed(next.side, { type: next.what === 'tx' ? 'txTimer' : 'detectTimer' });
      }
    }
    this.now = untilUs;
  }
}

test('back to back: both Up within a few seconds whatever the order and roles; a dead link is Down within detection time; recovery', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 31 }), fc.boolean(), fc.boolean(), fc.integer({ min: 0, max: 2_000_000 }), fc.constantFrom(100_000, 300_000), fc.integer({ min: 2, max: 5 }),
    (seed, passiveA, passiveB, delay, interval, mult) => {
      if (passiveA && passiveB) return; // two passive ends never start (§6.1): not a configuration to test
      let x = seed;
      const rand = (): number => { x = (x * 1103515245 + 12345) % 2 ** 31; return x / 2 ** 31; };
      const t = (passive: boolean): BfdTimers => ({ desiredMinTx: interval, requiredMinRx: interval, detectMult: mult, passive });
      const p = new Pair(rand, [t(passiveA), t(passiveB)]);
      p.start(0);
      p.run(delay);
      p.start(1);
      p.run(delay + 5_000_000);
      assert.deepEqual([p.s[0].state, p.s[1].state], [BfdState.Up, BfdState.Up], `seed ${seed}`);
      assert.deepEqual([p.s[0].polling, p.s[1].polling], [false, false], 'every Poll got its Final');
      assert.equal(txInterval(p.s[0]), interval, 'fast timers in use');
      const cut = p.now;
      p.link = false;
      p.run(cut + mult * interval + 2000);
      assert.deepEqual([p.s[0].state, p.s[1].state], [BfdState.Down, BfdState.Down], `Down within ${mult} × ${interval} µs`);
      assert.equal(p.s[0].localDiag, Diag.ControlDetectionTimeExpired);
      p.link = true;
      p.run(p.now + 6_000_000);
      assert.deepEqual([p.s[0].state, p.s[1].state], [BfdState.Up, BfdState.Up], 'back Up after the link returns');
    }), { numRuns: 300 });
});
