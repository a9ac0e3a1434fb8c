/**
 * BfdSessions on a fake transport and a fake clock: two systems reach Up, a dead path is Down within the
 * detection time and tells the owner, TTL and source checks, removal and stop send AdminDown (the peer sees
 * remoteAdminDown), live timer changes, and bfdSpecFor's single-hop rule.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino, type Logger } from 'pino';
import { FakeClock } from '../clock.ts';
import type { BFDProfileConfig, BGPPeerConfig } from '../config/types.ts';
import { BfdState, decodeControl } from './codec.ts';
import { BfdSessions, bfdSpecFor, type BfdChange, type BfdSessionSpec, type BfdTransport } from './sessions.ts';

const silent = pino({ level: 'silent' });
const profile: BFDProfileConfig = { name: 'p', receiveIntervalMs: 300, transmitIntervalMs: 300, detectMultiplier: 3, passive: false, minimumTtl: 254, waitForUp: false };

/** A wire between hosts by address: packets arrive 1 ms later with the TTL the test sets. */
class Wire {
  up = true;
  ttl = 255;
  readonly hosts = new Map<string, { multihop: Map<boolean, (src: string, ttl: number, payload: Buffer) => void> }>();
  readonly sent: { from: string; to: string; port: number; payload: Buffer }[] = [];
  constructor(readonly clock: FakeClock) {}
  transport(address: string): BfdTransport {
    const host = { multihop: new Map<boolean, (src: string, ttl: number, payload: Buffer) => void>() };
    this.hosts.set(address, host);
    return {
      listen: (_family, multihop, onPacket) => { host.multihop.set(multihop, onPacket); return { close: () => { host.multihop.delete(multihop); } }; },
      sender: () => ({
        send: (dst, port, payload) => {
          this.sent.push({ from: address, to: dst, port, payload });
          if (!this.up) return;
          const ttl = this.ttl;
          this.clock.setTimeout(() => { this.hosts.get(dst)?.multihop.get(port === 4784)?.(address, ttl, payload); }, 1);
        },
        close: () => undefined,
      }),
    };
  }
}

function pair(multihop = false, logA: Logger = silent): { clock: FakeClock; wire: Wire; a: BfdSessions; b: BfdSessions; ca: BfdChange[]; cb: BfdChange[] } {
  const clock = new FakeClock();
  const wire = new Wire(clock);
  let seed = 7;
  const rand = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
  const a = new BfdSessions({ transport: wire.transport('192.0.2.1'), clock, log: logA, rand });
  const b = new BfdSessions({ transport: wire.transport('192.0.2.2'), clock, log: silent, rand });
  const ca: BfdChange[] = [];
  const cb: BfdChange[] = [];
  a.onChange((c) => ca.push(c));
  b.onChange((c) => cb.push(c));
  const spec = (peer: string, addr: string): BfdSessionSpec => ({ peer, peerAddress: addr, localAddress: undefined, multihop, profile });
  a.setSessions([spec('to-b', '192.0.2.2')]);
  b.setSessions([spec('to-a', '192.0.2.1')]);
  return { clock, wire, a, b, ca, cb };
}

test('two systems reach Up on single hop port 3784, use the fast interval, and a dead path is Down within 3 × 300 ms', () => {
  const { clock, wire, a, b, ca } = pair();
  clock.advance(3000);
  assert.equal(a.stats()[0]?.state, 'Up');
  assert.equal(b.stats()[0]?.state, 'Up');
  assert.ok(ca.every((c) => c.to === 'Init' || c.to === 'Up'), 'only the handshake changes');
  assert.equal(ca.at(-1)?.to, 'Up');
  assert.ok(wire.sent.every((s) => s.port === 3784));
  const st = a.stats()[0]!;
  assert.equal(st.transmitIntervalMs, 300);
  assert.equal(st.detectionTimeMs, 900);
  assert.ok(st.packetsSent > 0 && st.packetsReceived > 0);
  const before = ca.length;
  wire.up = false;
  const cut = clock.now();
  let downAt = -1;
  for (let t = 0; t < 2000 && downAt < 0; t += 10) { clock.advance(10); if (a.stats()[0]?.state === 'Down') downAt = clock.now() - cut; }
  assert.ok(downAt > 0 && downAt <= 910, `Down ${downAt} ms after the cut (detection time 900 ms)`);
  assert.deepEqual(ca.slice(before).map((c) => [c.from, c.to, c.diagnostic, c.remoteAdminDown]), [['Up', 'Down', 'control detection time expired', false]]);
  assert.equal(a.stats()[0]?.lastDiagnostic, 'control detection time expired');
  wire.up = true;
  clock.advance(5000);
  assert.equal(a.stats()[0]?.state, 'Up', 'recovers');
});

test('single hop drops TTL below 255; multihop (4784) accepts minimumTtl 254 and drops 253', () => {
  const s = pair();
  s.wire.ttl = 254; // the first packets (sent by setSessions) had 255: Init, then Down once they stop coming
  s.clock.advance(5000);
  assert.equal(s.a.stats()[0]?.state, 'Down');
  assert.ok((s.a.dropped.ttl ?? 0) > 0);
  const m = pair(true);
  m.wire.ttl = 254;
  m.clock.advance(3000);
  assert.equal(m.a.stats()[0]?.state, 'Up');
  assert.ok(m.wire.sent.every((x) => x.port === 4784));
  const n = pair(true);
  n.wire.ttl = 253;
  n.clock.advance(5000);
  assert.equal(n.a.stats()[0]?.state, 'Down', JSON.stringify(n.a.dropped));
});

test('a session whose peer\'s packets are all dropped says why (lastDropped) and warns once per reason, not per packet', () => {
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (l: string) => { lines.push(l); } });
  const m = pair(true, log);
  m.wire.ttl = 64; // a router that sends multihop BFD with its default TTL
  m.clock.advance(10_000);
  const st = m.a.stats()[0]!;
  assert.equal(st.state, 'Down');
  assert.ok(st.packetsDropped >= 10, `${st.packetsDropped} dropped`);
  assert.equal(st.lastDropped, 'TTL 64 below the minimum 254 (BFDProfile p minimumTtl; the peer may send multihop BFD with a lower initial TTL)');
  const warned = lines.map((l) => JSON.parse(l) as { event?: string; reason?: string; count?: number }).filter((l) => l.event === 'bfd_packet_dropped');
  assert.deepEqual(warned.map((w) => [w.reason, w.count]), [['ttl', 1]]);
  const s = pair(false);
  s.wire.ttl = 64;
  s.clock.advance(5000);
  assert.equal(s.a.stats()[0]?.lastDropped, 'TTL 64: single-hop BFD must arrive with 255 (RFC 5881 §5)');
  const ok = pair(false);
  ok.clock.advance(3000);
  assert.equal(ok.a.stats()[0]?.lastDropped, '', 'nothing dropped, nothing said');
});

test('removal and stop send AdminDown: the peer goes Down with remoteAdminDown (its BGP stays); live timer change keeps the session Up', () => {
  const { clock, wire, a, b, cb } = pair();
  clock.advance(3000);
  a.setSessions([{ peer: 'to-b', peerAddress: '192.0.2.2', localAddress: undefined, multihop: false, profile: { ...profile, transmitIntervalMs: 100, receiveIntervalMs: 100 } }]);
  clock.advance(2000);
  assert.equal(a.stats()[0]?.state, 'Up');
  const adv = wire.sent.filter((x) => x.from === '192.0.2.1').at(-1);
  const ap = adv ? decodeControl(adv.payload) : undefined;
  assert.ok(ap?.ok);
  assert.deepEqual([ap.packet.desiredMinTxInterval, ap.packet.requiredMinRxInterval, ap.packet.poll], [100_000, 100_000, false], 'new timers advertised, the Poll Sequence completed');
  assert.equal(a.stats()[0]?.transmitIntervalMs, 300, 'still bounded by the peer\'s 300 ms receive interval');
  a.stop();
  const last = wire.sent.filter((x) => x.from === '192.0.2.1').at(-1);
  const r = last ? decodeControl(last.payload) : undefined;
  assert.ok(r?.ok);
  assert.equal(r.packet.state, BfdState.AdminDown);
  clock.advance(10);
  assert.deepEqual(cb.at(-1), { peer: 'to-a', from: 'Up', to: 'Down', diagnostic: 'neighbor signaled session down', remoteAdminDown: true });
  assert.deepEqual(a.stats(), []);
  b.setSessions([]);
  assert.deepEqual(b.stats(), []);
});

test('bfdSpecFor: single hop exactly for eBGP without ebgpMultiHop; none without a profile', () => {
  const peer = { name: 'r', myASN: 64500, peerASN: 64501, peerAddress: '192.0.2.9', sourceAddress: '192.0.2.1', ebgpMultiHop: false, bfd: profile } as unknown as BGPPeerConfig;
  assert.equal(bfdSpecFor(peer)?.multihop, false);
  assert.equal(bfdSpecFor({ ...peer, ebgpMultiHop: true })?.multihop, true);
  assert.equal(bfdSpecFor({ ...peer, peerASN: 64500 })?.multihop, true, 'iBGP');
  assert.equal(bfdSpecFor({ ...peer, dynamicASN: 'external' })?.multihop, false);
  assert.equal(bfdSpecFor({ ...peer, bfd: undefined }), undefined);
  assert.equal(bfdSpecFor(peer)?.localAddress, '192.0.2.1');
});
