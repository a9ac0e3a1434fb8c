import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { pino } from 'pino';
import { FakeClock } from '../clock.ts';
import { canonicalIP } from '../net/ip.ts';
import type { BpfInstruction, Icmp6Socket, PacketSocket } from '../native/index.ts';
import { DEFAULT_SCHEDULE } from './announcer.ts';
import { decodeTable } from '../wire/bytetable.ts';
import {
  ARP, BROADCAST_MAC, ETHERNET, EtherType, buildArpFrame, buildNsFrame, gratuitousArp, parseArpFrame, parseNsFrame, solicitedNode,
  unsolicitedNa,
} from './frames.ts';
import { CLAIM_REPORT_INTERVAL_MS, L2Link, type LinkIo, type LinkOptions, type ProbeResult } from './link.ts';
import { DEFAULT_REPLY_LIMITS } from './ratelimit.ts';

const OUR_MAC = '00:00:5e:00:53:0a'; // RFC 7042 documentation MACs
const CLIENT_MAC = '00:00:5e:00:53:01';
const OTHER_MAC = '00:00:5e:00:53:02';
const ZERO_MAC = '00:00:00:00:00:00';

class FakePacketSocket implements PacketSocket {
  readonly ifindex = 7;
  readonly fd: number;
  readonly sent: Buffer[] = [];
  closed = false;
  failSend: Error | undefined;
  constructor(readonly ethertype: number, readonly deliver: (f: Buffer) => void, readonly fail: (e: Error) => void, fd: number,
    private readonly onSend?: (s: FakePacketSocket, f: Buffer) => void) {
    this.fd = fd;
  }
  send(frame: Buffer): void {
    if (this.closed) throw new Error('send on a closed socket');
    if (this.failSend) throw this.failSend;
    this.sent.push(frame);
    this.onSend?.(this, frame);
  }
  close(): void { this.closed = true; }
}

class FakeIcmp6Socket implements Icmp6Socket {
  readonly fd = 99;
  readonly groups = new Set<string>();
  closed = false;
  send(): void { /* unused by the link */ }
  join(group: string): void { this.groups.add(group); }
  leave(group: string): void { this.groups.delete(group); }
  close(): void { this.closed = true; }
}

/** Fake sockets: `present` decides whether the interface exists; every socket ever opened is kept. */
class FakeIo implements LinkIo {
  present = true;
  mac = OUR_MAC;
  readonly packets: FakePacketSocket[] = [];
  readonly icmps: FakeIcmp6Socket[] = [];
  /** Called with every frame sent (a {@link Wire} delivers it to the other links). */
  onSend: ((s: FakePacketSocket, f: Buffer) => void) | undefined;
  openPacketSocket(_ifname: string, ethertype: number, onFrame: (f: Buffer) => void, onError: (e: Error) => void, filter: readonly BpfInstruction[]): PacketSocket {
    assert.ok(filter.length > 0, 'every packet socket is filtered');
    if (!this.present) throw new Error('bind(eth0): Network is down');
    const s = new FakePacketSocket(ethertype, onFrame, onError, this.packets.length + 10, (sock, f) => this.onSend?.(sock, f));
    this.packets.push(s);
    return s;
  }
  openIcmp6Socket(): Icmp6Socket {
    const s = new FakeIcmp6Socket();
    this.icmps.push(s);
    return s;
  }
  interfaceMac(): string {
    if (!this.present) throw new Error("ENOENT: no such file or directory, open '/sys/class/net/eth0/address'");
    return this.mac;
  }
  /** The open socket for an ethertype. */
  sock(ethertype: number): FakePacketSocket {
    const s = this.packets.filter((p) => p.ethertype === ethertype && !p.closed).at(-1);
    assert.ok(s, `an open socket for ethertype ${ethertype}`);
    return s;
  }
  get icmp(): FakeIcmp6Socket {
    const s = this.icmps.filter((p) => !p.closed).at(-1);
    assert.ok(s, 'an open ICMPv6 socket');
    return s;
  }
  /** The interface goes away: every open packet socket reports ENETDOWN (the addon closed them already). */
  down(): void {
    this.present = false;
    for (const s of this.packets.filter((p) => !p.closed)) { s.closed = true; s.fail(new Error('recv(eth0): Network is down')); }
  }
}

interface LogLine { level: number; event?: string; msg: string; suppressed?: number; attempts?: number; where?: string }

/** A link on fake sockets, a FakeClock and a logger that records every line. */
function setup(o: Partial<LinkOptions> = {}, io = new FakeIo()) {
  const clock = new FakeClock();
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s) as LogLine); } });
  const link = new L2Link({ ifname: 'eth0', log, io, clock, ...o });
  const at = (level: number): LogLine[] => lines.filter((l) => l.level === level);
  return { link, io, clock, lines, warns: () => at(40), errors: () => at(50), infos: () => at(30) };
}

const arpRequest = (tpa: string, sha = CLIENT_MAC, spa = '192.0.2.1'): Buffer =>
  buildArpFrame({ dst: BROADCAST_MAC, src: sha }, { oper: 1, sha, spa, tha: ZERO_MAC, tpa });

describe('L2Link: nothing thrown in a callback or timer escapes', () => {
  test('an interface whose address is not a MAC: building announcements throws, add() and the schedule do not', () => {
    const { link, io, clock, errors } = setup({}, Object.assign(new FakeIo(), { mac: '0a:00:00:01' })); // a 4-byte (ipip-like) address
    assert.doesNotThrow(() => { link.add('192.0.2.10'); });
    assert.equal(link.stats.errors, 1);
    assert.equal(errors().length, 1);
    assert.equal(errors()[0]?.event, 'callback_failed');
    assert.equal(errors()[0]?.where, 'announce');
    assert.doesNotThrow(() => { clock.advance(60_000); }, 'the scheduled repeats throw into the clock on the old code');
    assert.equal(link.stats.errors, DEFAULT_SCHEDULE.length, 'every failure counted');
    assert.equal(errors().length, 1, 'but logged once per 10 s');
    assert.equal(io.sock(EtherType.ARP).sent.length, 0);
    assert.deepEqual(link.ownedIPs(), ['192.0.2.10'], 'the IP is still owned');
  });

  test('a throw from the frame handler does not reach the socket callback', () => {
    const io = new FakeIo();
    io.mac = '0a:00:00:01';
    const { link, errors } = setup({ schedule: [] }, io);
    link.add('192.0.2.10');
    const sock = io.sock(EtherType.ARP);
    assert.doesNotThrow(() => { sock.deliver(arpRequest('192.0.2.10')); }, 'on the old code this throw became napi_fatal_exception');
    assert.equal(link.stats.errors, 1);
    assert.equal(errors()[0]?.where, 'frame');
    assert.equal(link.stats.replies, 0);
    sock.deliver(arpRequest('192.0.2.99'));
    assert.equal(link.stats.drops['not-owned'], 1, 'the link still handles frames');
  });

  test('a logger that throws breaks neither the error path, nor the reopen timer, nor the frame path', () => {
    const io = new FakeIo();
    const clock = new FakeClock();
    let failing = false;
    const log = pino({ level: 'debug' }, { write: () => { if (failing) throw new Error('log sink broke'); } });
    const link = new L2Link({ ifname: 'eth0', log, io, clock, schedule: [], reopenMs: 1000 });
    link.add('192.0.2.10');
    failing = true;
    assert.doesNotThrow(() => { io.down(); }, 'socket error callback');
    assert.doesNotThrow(() => { clock.advance(5000); }, 'reopen timer');
    io.present = true;
    io.mac = '0a:00:00:01';
    assert.doesNotThrow(() => { clock.advance(1000); });
    assert.equal(link.up, true, 'the reopen still happened');
    assert.doesNotThrow(() => { io.sock(EtherType.ARP).deliver(arpRequest('192.0.2.10')); }, 'frame callback');
    assert.equal(link.stats.errors, 1, 'the reply build failure was counted');
  });
});

describe('L2Link: reply rate limits', () => {
  test('a flood from one asker is cut to the burst, then the rate; another asker is still answered', () => {
    const { link, io, clock } = setup({ schedule: [] });
    link.add('192.0.2.10');
    const sock = io.sock(EtherType.ARP);
    for (let i = 0; i < 1000; i++) sock.deliver(arpRequest('192.0.2.10'));
    const { burst, perSecond } = DEFAULT_REPLY_LIMITS.perAsker;
    assert.equal(link.stats.replies, burst);
    assert.equal(link.stats.drops['rate-limited-asker'], 1000 - burst);
    sock.deliver(arpRequest('192.0.2.10', OTHER_MAC, '192.0.2.2'));
    assert.equal(link.stats.replies, burst + 1, 'normal resolution from another asker is answered');
    const reply = sock.sent.at(-1)!;
    assert.equal(decodeTable(ETHERNET, reply)?.dst, OTHER_MAC);
    assert.equal(decodeTable(ARP, reply, 14)?.tpa, '192.0.2.2');
    clock.advance(1000);
    for (let i = 0; i < 1000; i++) sock.deliver(arpRequest('192.0.2.10'));
    assert.equal(link.stats.replies, burst + 1 + perSecond, 'one second later: the rate');
  });

  test('NS floods are limited the same way (asker = source link-layer address and source IP)', () => {
    const { link, io } = setup({ schedule: [], replyLimits: { perAsker: { perSecond: 1, burst: 3 }, perTarget: { perSecond: 100, burst: 100 }, maxTracked: 100 } });
    link.add('2001:db8::10');
    const sock = io.sock(EtherType.IPv6);
    for (let i = 0; i < 50; i++) sock.deliver(buildNsFrame({ target: '2001:db8::10', mac: CLIENT_MAC, srcIp: '2001:db8::1' }));
    assert.equal(link.stats.replies, 3);
    assert.equal(link.stats.drops['rate-limited-asker'], 47);
    sock.deliver(buildNsFrame({ target: '2001:db8::10', mac: OTHER_MAC, srcIp: '2001:db8::2' }));
    assert.equal(link.stats.replies, 4);
  });

  test('spoofed senders hit the per-target limit', () => {
    const { link, io } = setup({ schedule: [], replyLimits: { perAsker: { perSecond: 5, burst: 10 }, perTarget: { perSecond: 10, burst: 20 }, maxTracked: 1000 } });
    link.add('192.0.2.10');
    const sock = io.sock(EtherType.ARP);
    for (let i = 0; i < 200; i++) sock.deliver(arpRequest('192.0.2.10', CLIENT_MAC, `198.51.100.${i}`));
    assert.equal(link.stats.replies, 20);
    assert.equal(link.stats.drops['rate-limited-target'], 180);
  });

  test('limits off answers everything; limits can be set again', () => {
    const { link, io } = setup({ schedule: [], replyLimits: false });
    link.add('192.0.2.10');
    const sock = io.sock(EtherType.ARP);
    for (let i = 0; i < 500; i++) sock.deliver(arpRequest('192.0.2.10'));
    assert.equal(link.stats.replies, 500);
    link.setReplyLimits(DEFAULT_REPLY_LIMITS);
    for (let i = 0; i < 500; i++) sock.deliver(arpRequest('192.0.2.10'));
    assert.equal(link.stats.replies, 500 + DEFAULT_REPLY_LIMITS.perAsker.burst);
  });
});

describe('L2Link: ownership', () => {
  test('add() and remove() parse only their argument: n adds cost n canonicalisations, not n²/2', () => {
    let parses = 0;
    const counting = (ip: string): string | undefined => { parses++; return canonicalIP(ip); };
    const { link } = setup({ schedule: [], canonicalIP: counting });
    const n = 2000;
    const ips = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? `2001:db8::1:${i.toString(16)}` : `198.51.${100 + (i >> 9)}.${(i >> 1) & 255}`));
    for (const ip of ips) link.add(ip);
    assert.equal(link.ownedCount, n);
    assert.equal(parses, n, 'the old add() re-canonicalised the whole owned set on every call (about 2 million here)');
    for (const ip of ips) link.add(ip);
    assert.equal(parses, 2 * n, 'adding an owned IP again parses once and changes nothing');
    for (const ip of ips) link.remove(ip);
    assert.equal(parses, 3 * n);
    assert.equal(link.ownedCount, 0);
    parses = 0;
    link.setOwned(ips);
    assert.equal(parses, n, 'setOwned parses each given IP once');
  });

  test('add() rejects a non-IP and changes nothing; equivalent spellings are one IP', () => {
    const { link } = setup({ schedule: [] });
    assert.throws(() => { link.add('192.0.2.300'); }, TypeError);
    assert.throws(() => { link.setOwned(['192.0.2.1', 'nope']); }, TypeError);
    assert.equal(link.ownedCount, 0);
    link.add('2001:DB8:0::10');
    link.add('2001:db8::10');
    assert.deepEqual(link.ownedIPs(), ['2001:db8::10']);
    link.remove('2001:0db8::0010');
    assert.equal(link.ownedCount, 0);
  });

  test('solicited-node groups are reference-counted across IPs that share them', () => {
    const { link, io } = setup({ schedule: [] });
    const g = solicitedNode('2001:db8::1:10');
    assert.equal(solicitedNode('2001:db8:ffff::1:10'), g);
    link.add('2001:db8::1:10');
    link.add('2001:db8:ffff::1:10');
    assert.deepEqual([...io.icmp.groups], [g]);
    link.remove('2001:db8::1:10');
    assert.deepEqual([...io.icmp.groups], [g], 'still needed by the other IP');
    link.remove('2001:db8:ffff::1:10');
    assert.deepEqual([...io.icmp.groups], []);
  });

  test('announcements follow the schedule on the injected clock and stop at once on loss', () => {
    const { link, io, clock } = setup({ schedule: [0, 250, 1000] });
    link.add('192.0.2.10');
    link.add('2001:db8::10');
    const arp = io.sock(EtherType.ARP), nd = io.sock(EtherType.IPv6);
    assert.equal(arp.sent.length, 2, 'gratuitous request and reply at once');
    assert.equal(nd.sent.length, 1, 'one unsolicited NA at once');
    clock.advance(250);
    assert.equal(arp.sent.length, 4);
    link.remove('192.0.2.10');
    clock.advance(10_000);
    assert.equal(arp.sent.length, 4, 'nothing after the loss');
    assert.equal(nd.sent.length, 3);
    assert.equal(link.stats.announcements, 5);
    assert.equal(clock.pending(), 0);
  });
});

describe('L2Link: outages', () => {
  test('an outage is warned about once, however many reopen attempts it takes, and its end once', () => {
    const { link, io, clock, warns, infos } = setup({ schedule: [0], reopenMs: 1000 });
    link.add('192.0.2.10');
    io.down(); // both packet sockets report the failure
    assert.equal(link.up, false);
    assert.equal(warns().length, 1, 'one warning for the outage, not one per socket');
    clock.advance(60_000);
    assert.equal(link.stats.reopens, 60);
    assert.equal(warns().length, 1, 'the old code warned on every attempt, once a second');
    assert.equal(link.stats.outages, 1);
    io.present = true;
    clock.advance(1000);
    assert.equal(link.up, true);
    const back = infos().filter((l) => l.event === 'link_reopened');
    assert.equal(back.length, 1);
    assert.equal(back[0]?.attempts, 61);
    assert.equal(io.sock(EtherType.ARP).sent.length, 2, 'owned IPs announced again on the new socket');
    clock.advance(60_000);
    assert.equal(link.stats.reopens, 61, 'no attempts while up');
    io.down();
    clock.advance(5000);
    assert.equal(warns().length, 2, 'a second outage is warned about again, once');
    assert.equal(link.stats.outages, 2);
  });

  test('an interface missing at start: one warning, answered once it appears', () => {
    const io = new FakeIo();
    io.present = false;
    const { link, clock, warns } = setup({ schedule: [], reopenMs: 500 }, io);
    link.add('192.0.2.10');
    clock.advance(10_000);
    assert.equal(warns().length, 1);
    io.present = true;
    clock.advance(500);
    assert.equal(link.up, true);
    io.sock(EtherType.ARP).deliver(arpRequest('192.0.2.10'));
    assert.equal(link.stats.replies, 1);
  });

  test('frames from a socket of before the outage are ignored', () => {
    const { link, io, clock } = setup({ schedule: [], reopenMs: 100 });
    link.add('192.0.2.10');
    const old = io.sock(EtherType.ARP);
    io.down();
    io.present = true;
    clock.advance(100);
    assert.equal(link.up, true);
    old.deliver(arpRequest('192.0.2.10'));
    assert.equal(link.stats.replies, 0);
    io.sock(EtherType.ARP).deliver(arpRequest('192.0.2.10'));
    assert.equal(link.stats.replies, 1);
  });

  test('close() cancels the reopen timer and closes every socket', () => {
    const { link, io, clock } = setup({ schedule: [0, 1000], reopenMs: 100 });
    link.add('2001:db8::10');
    link.close();
    assert.ok(io.packets.every((s) => s.closed) && io.icmps.every((s) => s.closed));
    assert.equal(clock.pending(), 0);
    const io2 = new FakeIo();
    io2.present = false;
    const { link: l2, clock: c2 } = setup({ reopenMs: 100 }, io2);
    assert.equal(c2.pending(), 1);
    l2.close();
    assert.equal(c2.pending(), 0);
  });
});

describe('L2Link: property over random operation sequences', () => {
  const v4 = ['192.0.2.10', '192.0.2.11', '198.51.100.7'];
  const v6 = ['2001:db8::10', '2001:db8:1::10', '2001:db8::2:20']; // the first two share a solicited-node group
  const ip = fc.constantFrom(...v4, ...v6);
  const op = fc.oneof(
    fc.record({ op: fc.constant('add' as const), ip }),
    fc.record({ op: fc.constant('remove' as const), ip }),
    fc.record({ op: fc.constant('set' as const), ips: fc.subarray([...v4, ...v6]) }),
    fc.record({ op: fc.constant('down' as const) }),
    fc.record({ op: fc.constant('up' as const) }),
    fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 3000 }) }),
    fc.record({ op: fc.constant('ask' as const), ip }),
  );

  test('owned set, group memberships and answers always match a model; nothing throws; close() leaves no timer', () => {
    const seed = Date.now() ^ (process.pid << 8);
    process.stdout.write(`link property seed ${seed}\n`);
    fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const { link, io, clock } = setup({ schedule: [0, 500], reopenMs: 1000, replyLimits: false });
      const model = new Set<string>();
      for (const o of ops) {
        switch (o.op) {
          case 'add': link.add(o.ip); model.add(o.ip); break;
          case 'remove': link.remove(o.ip); model.delete(o.ip); break;
          case 'set': link.setOwned(o.ips); model.clear(); for (const x of o.ips) model.add(x); break;
          case 'down': if (io.present) io.down(); break;
          case 'up': io.present = true; break;
          case 'advance': clock.advance(o.ms); break;
          case 'ask': {
            if (!link.up) break;
            const before = link.stats.replies;
            const frame = o.ip.includes(':') ? buildNsFrame({ target: o.ip, mac: CLIENT_MAC, srcIp: '2001:db8::1' }) : arpRequest(o.ip);
            io.sock(o.ip.includes(':') ? EtherType.IPv6 : EtherType.ARP).deliver(frame);
            assert.equal(link.stats.replies - before, model.has(o.ip) ? 1 : 0, `answered iff owned: ${o.ip}`);
            break;
          }
        }
        assert.deepEqual(new Set(link.ownedIPs()), model);
        if (link.up) {
          const groups = new Set([...model].filter((x) => x.includes(':')).map(solicitedNode));
          assert.deepEqual(io.icmp.groups, groups, 'joined exactly the groups of the owned IPv6 addresses');
        }
        assert.equal(link.up, io.present && io.packets.some((s) => !s.closed), 'up iff sockets are open');
      }
      assert.equal(link.stats.errors, 0);
      link.close();
      assert.equal(clock.pending(), 0, 'no timer survives close()');
    }), { numRuns: 300, seed });
  });
});

/** A shared segment: a frame one link sends reaches every other link's open socket of the same ethertype. */
class Wire {
  readonly ios: FakeIo[] = [];
  /** Frames sent on the wire, with the MAC of the sender. */
  readonly log: { from: string; frame: Buffer }[] = [];
  plug(io: FakeIo): FakeIo {
    this.ios.push(io);
    io.onSend = (from, frame) => {
      this.log.push({ from: io.mac, frame });
      for (const other of this.ios) {
        if (other === io) continue; // PACKET_OUTGOING frames are not delivered back to the sender
        for (const s of other.packets) if (!s.closed && s.ethertype === from.ethertype) s.deliver(frame);
      }
    };
    return io;
  }
}

/** Tracks a probe's promise so tests can tell "not yet" from "resolved", on a FakeClock. */
function track(p: Promise<ProbeResult>): { result: ProbeResult | undefined; settled: Promise<ProbeResult> } {
  const t: { result: ProbeResult | undefined; settled: Promise<ProbeResult> } = { result: undefined, settled: p };
  void p.then((r) => { t.result = r; });
  return t;
}
const tick = (): Promise<void> => new Promise((r) => { setImmediate(r); });

const arpReply = (spa: string, sha: string, tpa = '0.0.0.0', dst = BROADCAST_MAC): Buffer =>
  buildArpFrame({ dst, src: sha }, { oper: 2, sha, spa, tha: OUR_MAC, tpa });

describe('L2Link.probe', () => {
  test('nobody answering: two ARP probes (0.0.0.0 sender, broadcast), at 0 and window/3; free at the end of the window', async () => {
    const { link, io, clock } = setup({ schedule: [] });
    const t = track(link.probe('192.0.2.50', 150));
    const sock = io.sock(EtherType.ARP);
    assert.equal(sock.sent.length, 1, 'first probe at once');
    const p = parseArpFrame(sock.sent[0]!);
    assert.ok(!('drop' in p));
    assert.deepEqual({ dst: p.eth.dst, src: p.eth.src, oper: p.arp.oper, sha: p.arp.sha, spa: p.arp.spa, tha: p.arp.tha, tpa: p.arp.tpa },
      { dst: BROADCAST_MAC, src: OUR_MAC, oper: 1, sha: OUR_MAC, spa: '0.0.0.0', tha: ZERO_MAC, tpa: '192.0.2.50' });
    clock.advance(49);
    assert.equal(sock.sent.length, 1);
    clock.advance(1);
    assert.equal(sock.sent.length, 2, 'second probe a third of the window later');
    assert.deepEqual(sock.sent[1], sock.sent[0]);
    clock.advance(99);
    await tick();
    assert.equal(t.result, undefined, 'not before the window ends');
    clock.advance(1);
    assert.deepEqual(await t.settled, { free: true, macs: [] });
    assert.equal(clock.pending(), 0);
    assert.equal(link.stats.probes, 1);
    assert.equal(link.stats.probeConflicts, 0);
  });

  test('IPv6: a DAD solicitation from :: to the solicited-node group, twice; free when nobody advertises', async () => {
    const { link, io, clock } = setup({ schedule: [] });
    const t = track(link.probe('2001:DB8::50'));
    clock.advance(150);
    assert.deepEqual(await t.settled, { free: true, macs: [] }, 'default window 150 ms');
    const sent = io.sock(EtherType.IPv6).sent;
    assert.equal(sent.length, 2);
    const ns = parseNsFrame(sent[0]!);
    assert.ok(!('drop' in ns), 'a valid NS (checksum, DAD rules)');
    assert.deepEqual({ src: ns.ip.src, dst: ns.ip.dst, target: ns.target, option: ns.sourceMac, ethSrc: ns.eth.src },
      { src: '::', dst: solicitedNode('2001:db8::50'), target: '2001:db8::50', option: undefined, ethSrc: OUR_MAC });
  });

  test('claims within the window make it not free: MACs in first-seen order, deduplicated; firstReplyMs', async () => {
    const { link, io, clock } = setup({ schedule: [] });
    const t = track(link.probe('192.0.2.50', 300));
    const sock = io.sock(EtherType.ARP);
    clock.advance(20);
    sock.deliver(arpReply('192.0.2.50', OTHER_MAC));
    clock.advance(10);
    for (const f of gratuitousArp('192.0.2.50', CLIENT_MAC)) sock.deliver(f);
    sock.deliver(arpReply('192.0.2.51', '00:00:5e:00:53:03'), ); // another IP: not ours to count
    sock.deliver(arpReply('192.0.2.50', OTHER_MAC));
    clock.advance(270);
    assert.deepEqual(await t.settled, { free: false, macs: [OTHER_MAC, CLIENT_MAC], firstReplyMs: 20 });
    assert.equal(link.stats.probeConflicts, 1);
  });

  test('NA for the target within the window (v6); answers after the window do not count', async () => {
    const { link, io, clock } = setup({ schedule: [] });
    const t1 = track(link.probe('2001:db8::50', 150));
    clock.advance(80);
    io.sock(EtherType.IPv6).deliver(unsolicitedNa('2001:db8::50', OTHER_MAC));
    clock.advance(70);
    assert.deepEqual(await t1.settled, { free: false, macs: [OTHER_MAC], firstReplyMs: 80 });
    const t2 = track(link.probe('192.0.2.50', 150));
    clock.advance(150);
    io.sock(EtherType.ARP).deliver(arpReply('192.0.2.50', OTHER_MAC));
    assert.deepEqual(await t2.settled, { free: true, macs: [] });
  });

  test('our own frames never count: our probe echoed back, our own announcements for the IP', async () => {
    const { link, io, clock } = setup({ schedule: [0] });
    link.add('192.0.2.50');
    link.add('2001:db8::50');
    const t4 = track(link.probe('192.0.2.50'));
    const t6 = track(link.probe('2001:db8::50'));
    const arp = io.sock(EtherType.ARP), nd = io.sock(EtherType.IPv6);
    for (const f of [...arp.sent]) arp.deliver(f);
    for (const f of [...nd.sent]) nd.deliver(f);
    for (const f of gratuitousArp('192.0.2.50', OUR_MAC)) arp.deliver(f);
    nd.deliver(unsolicitedNa('2001:db8::50', OUR_MAC));
    clock.advance(150);
    assert.deepEqual(await t4.settled, { free: true, macs: [] }, 'probing an IP we hold finds only the others');
    assert.deepEqual(await t6.settled, { free: true, macs: [] });
  });

  test('could not probe: not an IP, link down, no carrier, closed: free false with an error, never a rejection', async () => {
    const { link, io, clock } = setup({ schedule: [], reopenMs: 1000 });
    assert.deepEqual(await link.probe('192.0.2.300'), { free: false, macs: [], error: 'not an IP address: 192.0.2.300' });
    link.setCarrier(false);
    assert.deepEqual(await link.probe('192.0.2.50'), { free: false, macs: [], error: 'no carrier' });
    link.setCarrier(true);
    io.down();
    assert.deepEqual(await link.probe('192.0.2.50'), { free: false, macs: [], error: 'link down' });
    io.present = true;
    clock.advance(1000);
    assert.equal(link.up, true);
    link.close();
    assert.deepEqual(await link.probe('192.0.2.50'), { free: false, macs: [], error: 'link closed' });
    assert.equal(clock.pending(), 0);
  });

  test('the link going down, carrier lost or close() during a probe end it at once with an error, keeping what was seen', async () => {
    const { link, io, clock } = setup({ schedule: [], reopenMs: 1000 });
    const t1 = track(link.probe('192.0.2.50'));
    clock.advance(10);
    io.sock(EtherType.ARP).deliver(arpReply('192.0.2.50', OTHER_MAC));
    io.down();
    assert.deepEqual(await t1.settled, { free: false, macs: [OTHER_MAC], firstReplyMs: 10, error: 'link down during the probe' });
    io.present = true;
    clock.advance(1000);
    const t2 = track(link.probe('192.0.2.50'));
    link.setCarrier(false);
    assert.deepEqual(await t2.settled, { free: false, macs: [], error: 'carrier lost during the probe' });
    link.setCarrier(true);
    const t3 = track(link.probe('2001:db8::50'));
    link.close();
    assert.deepEqual(await t3.settled, { free: false, macs: [], error: 'link closed' });
    assert.equal(clock.pending(), 0, 'no probe timer survives');
  });

  test('a failing send ends the probe with an error (first or second probe)', async () => {
    const { link, io, clock } = setup({ schedule: [] });
    io.sock(EtherType.ARP).failSend = new Error('sendto(eth0): No buffer space available');
    const r1 = await link.probe('192.0.2.50');
    assert.equal(r1.free, false);
    assert.match(r1.error ?? '', /probe send failed.*No buffer space/);
    io.sock(EtherType.ARP).failSend = undefined;
    const t2 = track(link.probe('192.0.2.50', 90));
    io.sock(EtherType.ARP).failSend = new Error('ENOBUFS');
    clock.advance(30);
    const r2 = await t2.settled;
    assert.equal(r2.free, false);
    assert.match(r2.error ?? '', /ENOBUFS/);
    assert.equal(clock.pending(), 0);
    assert.equal(link.stats.errors, 0, 'a send failure is an I/O condition, not a bug');
  });

  test('concurrent probes of one IP each get the full answer; a bad window falls back to the default', async () => {
    const { link, io, clock } = setup({ schedule: [] });
    const a = track(link.probe('192.0.2.50', 100));
    const b = track(link.probe('192.0.2.50', Number.NaN));
    clock.advance(60);
    io.sock(EtherType.ARP).deliver(arpReply('192.0.2.50', OTHER_MAC));
    clock.advance(40);
    assert.deepEqual(await a.settled, { free: false, macs: [OTHER_MAC], firstReplyMs: 60 });
    await tick();
    assert.equal(b.result, undefined, 'NaN window: the default 150 ms');
    clock.advance(50);
    assert.deepEqual(await b.settled, { free: false, macs: [OTHER_MAC], firstReplyMs: 60 });
  });
});

describe('L2Link: two links on one segment (owner answers probes; claims by others)', () => {
  function pair(o: Partial<LinkOptions> = {}) {
    const clock = new FakeClock();
    const wire = new Wire();
    const log = pino({ level: 'silent' });
    const claims = { a: [] as [string, string][], b: [] as [string, string][] };
    const ioA = wire.plug(Object.assign(new FakeIo(), { mac: OUR_MAC }));
    const ioB = wire.plug(Object.assign(new FakeIo(), { mac: OTHER_MAC }));
    const a = new L2Link({ ifname: 'eth0', log, io: ioA, clock, onClaim: (ip, mac) => { claims.a.push([ip, mac]); }, ...o });
    const b = new L2Link({ ifname: 'eth0', log, io: ioB, clock, onClaim: (ip, mac) => { claims.b.push([ip, mac]); }, ...o });
    return { clock, wire, a, b, claims };
  }

  test("the owner answers the other's ARP probe and DAD solicitation; the prober sees the owner's MAC; free once it drops the IP", async () => {
    const { clock, a, b, claims } = pair({ schedule: [0] });
    a.add('192.0.2.50');
    a.add('2001:db8::50');
    for (const ip of ['192.0.2.50', '2001:db8::50']) {
      const t = track(b.probe(ip));
      clock.advance(150);
      assert.deepEqual(await t.settled, { free: false, macs: [OUR_MAC], firstReplyMs: 0 }, `${ip}: answered at once`);
    }
    assert.equal(a.stats.replies, 4, 'each of the two probes per family answered');
    assert.deepEqual(claims, { a: [], b: [] }, "probes are not claims, and B owns nothing to be claimed");
    a.remove('192.0.2.50');
    a.remove('2001:db8::50');
    for (const ip of ['192.0.2.50', '2001:db8::50']) {
      const t = track(b.probe(ip));
      clock.advance(150);
      assert.deepEqual(await t.settled, { free: true, macs: [] }, ip);
    }
  });

  test("two owners of one IP see each other's announcements: onClaim on both, IPv4 and IPv6; nobody claims against itself", () => {
    const { clock, a, b, claims } = pair({ schedule: [0, 250] });
    a.add('192.0.2.50');
    a.add('2001:db8::50');
    assert.deepEqual(claims, { a: [], b: [] }, 'A alone: its own announcements are not claims, B owns nothing');
    b.add('192.0.2.50');
    b.add('2001:db8::50');
    assert.deepEqual(claims.a, [['192.0.2.50', OTHER_MAC], ['2001:db8::50', OTHER_MAC]], "B's first announcements reach A");
    assert.deepEqual(claims.b, []);
    clock.advance(250);
    assert.deepEqual(claims.b, [['192.0.2.50', OUR_MAC], ['2001:db8::50', OUR_MAC]], "A's repeat reaches B");
    assert.equal(a.stats.claims, 4, 'A saw B at 0 and at B’s repeat (250 ms after its gain)');
    assert.equal(b.stats.claims, 2);
  });

  test('a duel stops when one side drops the IP: no further claims reported', () => {
    const { clock, a, b, claims } = pair({ schedule: [0, 250, 1000] });
    a.add('192.0.2.50');
    b.add('192.0.2.50');
    b.remove('192.0.2.50');
    const before = claims.a.length;
    clock.advance(5000);
    assert.equal(claims.a.length, before, 'B gone quiet');
    assert.deepEqual(claims.b, [], 'B no longer owns it: A’s repeats are not claims for B');
  });
});

describe('L2Link onClaim', () => {
  test('rate-limited per IP to once per 100 ms; other IPs independent; a non-owned IP never reported', () => {
    const got: [string, string][] = [];
    const { link, io, clock } = setup({ schedule: [], onClaim: (ip, mac) => { got.push([ip, mac]); } });
    link.add('192.0.2.50');
    link.add('192.0.2.51');
    const sock = io.sock(EtherType.ARP);
    for (let i = 0; i < 50; i++) for (const f of gratuitousArp('192.0.2.50', OTHER_MAC)) sock.deliver(f);
    sock.deliver(arpReply('192.0.2.51', CLIENT_MAC, '192.0.2.1', OUR_MAC));
    sock.deliver(arpReply('192.0.2.99', CLIENT_MAC));
    assert.deepEqual(got, [['192.0.2.50', OTHER_MAC], ['192.0.2.51', CLIENT_MAC]]);
    clock.advance(CLAIM_REPORT_INTERVAL_MS - 1);
    sock.deliver(arpReply('192.0.2.50', OTHER_MAC));
    assert.equal(got.length, 2, 'within 100 ms: suppressed');
    clock.advance(1);
    sock.deliver(arpReply('192.0.2.50', OTHER_MAC));
    assert.equal(got.length, 3, 'after 100 ms: reported again');
    assert.equal(link.stats.claims, 3);
  });

  test('an ARP request using our IP as sender is a claim; the request is still answered for an owned target', () => {
    const got: string[] = [];
    const { link, io } = setup({ schedule: [], onClaim: (ip, mac) => { got.push(`${ip}@${mac}`); } });
    link.add('192.0.2.50');
    link.add('192.0.2.51');
    io.sock(EtherType.ARP).deliver(arpRequest('192.0.2.51', OTHER_MAC, '192.0.2.50'));
    assert.deepEqual(got, [`192.0.2.50@${OTHER_MAC}`]);
    assert.equal(link.stats.replies, 1);
  });

  test('a re-gained IP is reported again at once (the rate limit is per ownership)', () => {
    const got: string[] = [];
    const { link, io } = setup({ schedule: [], onClaim: (ip) => { got.push(ip); } });
    link.add('2001:db8::50');
    const nd = io.sock(EtherType.IPv6);
    nd.deliver(unsolicitedNa('2001:db8::50', OTHER_MAC));
    link.remove('2001:db8::50');
    link.add('2001:db8::50');
    nd.deliver(unsolicitedNa('2001:db8::50', OTHER_MAC));
    assert.deepEqual(got, ['2001:db8::50', '2001:db8::50']);
  });

  test('an onClaim that throws is caught and counted; the frame path goes on', () => {
    const { link, io, errors } = setup({ schedule: [], onClaim: () => { throw new Error('engine bug'); } });
    link.add('192.0.2.50');
    const sock = io.sock(EtherType.ARP);
    assert.doesNotThrow(() => { sock.deliver(arpRequest('192.0.2.99', OTHER_MAC, '192.0.2.50')); });
    assert.equal(link.stats.errors, 1);
    assert.equal(errors()[0]?.where, 'frame');
    sock.deliver(arpRequest('192.0.2.50'));
    assert.equal(link.stats.replies, 1, 'still answering');
  });

  test('the responder still answers only requests with the wider filters: replies and NAs are counted, not answered', () => {
    const { link, io } = setup({ schedule: [] });
    link.add('192.0.2.50');
    link.add('2001:db8::50');
    io.sock(EtherType.ARP).deliver(arpReply('192.0.2.50', OTHER_MAC));
    io.sock(EtherType.IPv6).deliver(unsolicitedNa('2001:db8::50', OTHER_MAC));
    assert.equal(link.stats.replies, 0);
    assert.equal(link.stats.drops['not-request'], 1);
    assert.equal(link.stats.drops['not-ns'], 1);
  });
});

describe('L2Link carrier', () => {
  test('carrier lost: nothing answered or announced, IPs kept; carrier back: every owned IP announced at once and on the schedule', () => {
    const { link, io, clock, warns } = setup({ schedule: [0, 250] });
    link.add('192.0.2.50');
    link.add('2001:db8::50');
    const arp = io.sock(EtherType.ARP), nd = io.sock(EtherType.IPv6);
    assert.equal(link.carrier, true);
    link.setCarrier(false);
    assert.equal(link.carrier, false);
    assert.equal(link.stats.carrierLosses, 1);
    assert.ok(warns().some((l) => l.event === 'carrier_down'));
    const sent = arp.sent.length + nd.sent.length;
    clock.advance(5000);
    assert.equal(arp.sent.length + nd.sent.length, sent, 'the pending repeat was cancelled');
    arp.deliver(arpRequest('192.0.2.50'));
    nd.deliver(buildNsFrame({ target: '2001:db8::50', mac: CLIENT_MAC, srcIp: '2001:db8::1' }));
    assert.equal(link.stats.replies, 0, 'not answering without carrier');
    assert.equal(link.stats.drops['no-carrier'], 2);
    link.add('192.0.2.51');
    assert.equal(arp.sent.length + nd.sent.length, sent, 'a gain without carrier is not announced either');
    assert.deepEqual(new Set(link.ownedIPs()), new Set(['192.0.2.50', '2001:db8::50', '192.0.2.51']), 'still owned');
    link.setCarrier(false);
    assert.equal(link.stats.carrierLosses, 1, 'no change, nothing counted');
    const [arp0, nd0] = [arp.sent.length, nd.sent.length];
    link.setCarrier(true);
    assert.equal(arp.sent.length - arp0, 4, 'two IPv4 IPs: two gratuitous frames each, at once');
    assert.equal(nd.sent.length - nd0, 1, 'one unsolicited NA');
    const afterUp = arp.sent.length + nd.sent.length;
    clock.advance(250);
    assert.equal(arp.sent.length + nd.sent.length - afterUp, 5, 'the schedule runs again');
    arp.deliver(arpRequest('192.0.2.50'));
    assert.equal(link.stats.replies, 1, 'answering again');
  });

  test('sockets reopened while the carrier is down announce nothing until it is back', () => {
    const { link, io, clock } = setup({ schedule: [0], reopenMs: 100 });
    link.add('192.0.2.50');
    io.down();
    link.setCarrier(false);
    io.present = true;
    clock.advance(100);
    assert.equal(link.up, true);
    assert.equal(io.sock(EtherType.ARP).sent.length, 0);
    link.setCarrier(true);
    assert.equal(io.sock(EtherType.ARP).sent.length, 2);
  });
});

describe('L2Link: property over random sequences with rivals, probes, carrier and outages', () => {
  const ips = ['192.0.2.10', '192.0.2.11', '2001:db8::10', '2001:db8::11'];
  const ip = fc.constantFrom(...ips);
  const op = fc.oneof(
    fc.record({ op: fc.constant('add' as const), ip }),
    fc.record({ op: fc.constant('remove' as const), ip }),
    fc.record({ op: fc.constant('rival' as const), ip }),
    fc.record({ op: fc.constant('probe' as const), ip }),
    fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 200 }) }),
    fc.record({ op: fc.constant('carrier' as const), up: fc.boolean() }),
    fc.record({ op: fc.constant('down' as const) }),
    fc.record({ op: fc.constant('up' as const) }),
  );
  const rivalFrame = (x: string): Buffer => (x.includes(':') ? unsolicitedNa(x, OTHER_MAC) : gratuitousArp(x, OTHER_MAC)[1]!);

  test('onClaim and probe results always match a model; probes never reject; no timer after close', async () => {
    const seed = Date.now() ^ (process.pid << 8);
    process.stdout.write(`link claims/probe property seed ${seed}\n`);
    await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 50 }), async (ops) => {
      const reported: string[] = [];
      const { link, io, clock } = setup({ schedule: [0, 100], reopenMs: 100, replyLimits: false, onClaim: (x) => { reported.push(x); } });
      const owned = new Set<string>();
      const lastReport = new Map<string, number>();
      const expectedReports: string[] = [];
      let carrier = true;
      interface Expect { ip: string; start: number; error: boolean; heard: boolean; done: boolean; result: Promise<ProbeResult> }
      const probes: Expect[] = [];
      const live = (): Expect[] => probes.filter((p) => !p.done);
      const endAll = (): void => { for (const p of live()) { p.error = true; p.done = true; } };
      for (const o of ops) {
        // probes whose window is over by now finished on their timer
        for (const p of live()) if (clock.now() >= p.start + 150) p.done = true;
        switch (o.op) {
          case 'add': link.add(o.ip); owned.add(o.ip); break;
          case 'remove': link.remove(o.ip); owned.delete(o.ip); lastReport.delete(o.ip); break;
          case 'rival': {
            if (!link.up) break; // no socket to receive on
            io.sock(o.ip.includes(':') ? EtherType.IPv6 : EtherType.ARP).deliver(rivalFrame(o.ip));
            if (!carrier) break;
            for (const p of live()) if (p.ip === o.ip) p.heard = true;
            const last = lastReport.get(o.ip);
            if (owned.has(o.ip) && (last === undefined || clock.now() - last >= CLAIM_REPORT_INTERVAL_MS)) {
              lastReport.set(o.ip, clock.now());
              expectedReports.push(o.ip);
            }
            break;
          }
          case 'probe': {
            const unusable = !link.up || !carrier;
            probes.push({ ip: o.ip, start: clock.now(), error: unusable, heard: false, done: unusable, result: link.probe(o.ip) });
            break;
          }
          case 'advance': {
            // a probe ends at its window unless the link went away first (handled by the ops below)
            clock.advance(o.ms);
            break;
          }
          case 'carrier': if (carrier && !o.up) endAll(); carrier = o.up; link.setCarrier(o.up); break;
          case 'down': if (io.present) { io.down(); endAll(); } break;
          case 'up': io.present = true; break;
        }
        assert.deepEqual(reported, expectedReports, 'onClaim calls');
      }
      for (const p of live()) if (clock.now() >= p.start + 150) p.done = true;
      link.close();
      endAll();
      for (const p of probes) {
        const r = await p.result;
        if (p.error) {
          assert.equal(r.free, false);
          assert.ok(r.error !== undefined, `an error for a probe that could not complete: ${JSON.stringify(r)}`);
        } else {
          assert.equal(r.error, undefined, JSON.stringify(r));
          assert.equal(r.free, !p.heard);
          assert.deepEqual(r.macs, p.heard ? [OTHER_MAC] : []);
        }
      }
      assert.equal(link.stats.errors, 0);
      assert.equal(clock.pending(), 0, 'no timer survives close()');
    }), { numRuns: 300, seed });
  });
});
