import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { pino } from 'pino';
import { FakeClock } from '../clock.ts';
import { canonicalIP } from '../net/ip.ts';
import type { BpfInstruction, Icmp6Socket, PacketSocket } from '../native/index.ts';
import { DEFAULT_SCHEDULE } from './announcer.ts';
import { decodeTable } from '../wire/bytetable.ts';
import { ARP, BROADCAST_MAC, ETHERNET, EtherType, buildArpFrame, buildNsFrame, solicitedNode } from './frames.ts';
import { L2Link, type LinkIo, type LinkOptions } from './link.ts';
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
  constructor(readonly ethertype: number, readonly deliver: (f: Buffer) => void, readonly fail: (e: Error) => void, fd: number) {
    this.fd = fd;
  }
  send(frame: Buffer): void {
    if (this.closed) throw new Error('send on a closed socket');
    if (this.failSend) throw this.failSend;
    this.sent.push(frame);
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
  openPacketSocket(_ifname: string, ethertype: number, onFrame: (f: Buffer) => void, onError: (e: Error) => void, filter: readonly BpfInstruction[]): PacketSocket {
    assert.ok(filter.length > 0, 'every packet socket is filtered');
    if (!this.present) throw new Error('bind(eth0): Network is down');
    const s = new FakePacketSocket(ethertype, onFrame, onError, this.packets.length + 10);
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
