import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { decodeTable, encodeTable, macToString, parseMac } from '../wire/bytetable.ts';
import {
  ARP, ETHERNET, IPV6, ND_MESSAGE, arpProbe, buildArpFrame, buildNsFrame, gratuitousArp, icmp6Checksum, multicastMac, solicitedNode,
  unsolicitedNa,
} from './frames.ts';
import { handleArp, handleFrame, handleNs, type Decision, type ResponderContext } from './responder.ts';

const OUR_MAC = '00:00:5e:00:53:0a'; // RFC 7042 documentation MACs
const CLIENT_MAC = '00:00:5e:00:53:01';
const OTHER_MAC = '00:00:5e:00:53:02';
const BROADCAST = 'ff:ff:ff:ff:ff:ff';
const ZERO_MAC = '00:00:00:00:00:00';

const CLIENT_V4 = '192.0.2.1';
const NODE_V4 = '192.0.2.2'; // the node's own address: answered by the kernel, not by us
const OWNED_V4 = '192.0.2.10';
const OTHER_SERVICE_V4 = '192.0.2.11'; // another Service's IP, owned by another node
const CLIENT_V6 = '2001:db8::1';
const NODE_V6 = '2001:db8::2';
const OWNED_V6 = '2001:db8::10';
const OTHER_SERVICE_V6 = '2001:db8::11';

const owned = new Set([OWNED_V4, OWNED_V6]);
const ctx: ResponderContext = { mac: OUR_MAC, owns: (ip) => owned.has(ip) };

// ---- frame builders: everything valid unless overridden -------------------------------------------

interface ArpOpts { ethDst: string; ethSrc: string; oper: number; sha: string; spa: string; tha: string; tpa: string }
/** An ARP request from the client for our Service IP. */
function arp(o: Partial<ArpOpts> = {}): Buffer {
  const v: ArpOpts = { ethDst: BROADCAST, ethSrc: CLIENT_MAC, oper: 1, sha: o.ethSrc ?? CLIENT_MAC, spa: CLIENT_V4, tha: ZERO_MAC, tpa: OWNED_V4, ...o };
  return buildArpFrame({ dst: v.ethDst, src: v.ethSrc }, { oper: v.oper, sha: v.sha, spa: v.spa, tha: v.tha, tpa: v.tpa });
}

/** Source (type 1) or target (type 2) link-layer address option. */
const lla = (type: number, mac: string): Buffer => Buffer.concat([Buffer.from([type, 1]), parseMac(mac)!]);

interface NsOpts {
  ethDst: string; ethSrc: string; ethertype: number;
  vtcFlow: number; nextHeader: number; hopLimit: number; src: string; dst: string;
  type: number; code: number; target: string; options: Buffer;
  /** Added to the correct checksum (0 = valid). */
  checksumError: number;
}
/** A neighbour solicitation from the client for our Service IP, with a valid checksum. */
function ns(o: Partial<NsOpts> = {}): Buffer {
  const target = o.target ?? OWNED_V6;
  const src = o.src ?? CLIENT_V6;
  const dst = o.dst ?? solicitedNode(target);
  const v: NsOpts = {
    ethDst: multicastMac(dst), ethSrc: CLIENT_MAC, ethertype: 0x86dd, vtcFlow: 0x60000000, nextHeader: 58, hopLimit: 255,
    type: 135, code: 0, options: src === '::' ? Buffer.alloc(0) : lla(1, o.ethSrc ?? CLIENT_MAC), checksumError: 0,
    ...o, target, src, dst,
  };
  const icmp = Buffer.alloc(24 + v.options.length);
  encodeTable(ND_MESSAGE, { type: v.type, code: v.code, checksum: 0, flags: 0, target: v.target }, icmp);
  v.options.copy(icmp, 24);
  icmp.writeUInt16BE((icmp6Checksum(v.src, v.dst, icmp) + v.checksumError) & 0xffff, 2);
  const head = Buffer.alloc(54);
  encodeTable(ETHERNET, { dst: v.ethDst, src: v.ethSrc, ethertype: v.ethertype }, head);
  encodeTable(IPV6, { vtcFlow: v.vtcFlow, payloadLength: icmp.length, nextHeader: v.nextHeader, hopLimit: v.hopLimit, src: v.src, dst: v.dst }, head, 14);
  return Buffer.concat([head, icmp]);
}

function drop(d: Decision): string {
  if ('reply' in d) assert.fail(`expected a drop, got a reply for ${d.ip}`);
  return d.drop;
}
function reply(d: Decision): { reply: Buffer; ip: string } {
  if ('drop' in d) assert.fail(`expected a reply, got drop ${d.drop}`);
  return d;
}
/** Asserts every frame is dropped by handleFrame for `reason`. */
function drops(reason: string, ...frames: Buffer[]): void {
  for (const [i, f] of frames.entries()) assert.equal(drop(handleFrame(f, ctx)), reason, `frame ${i}`);
}

/** The fields of an NA reply. */
function parseNa(f: Buffer) {
  const eth = decodeTable(ETHERNET, f)!;
  const ip = decodeTable(IPV6, f, 14)!;
  const nd = decodeTable(ND_MESSAGE, f, 54)!;
  const icmp = f.subarray(54, 54 + ip.payloadLength);
  return { eth, ip, nd, option: [...f.subarray(78, 80)], tlla: macToString(f, 80), checksumOk: icmp6Checksum(ip.src, ip.dst, icmp) === 0 };
}

describe('drop reasons', () => {
  test('the builders make frames that are answered', () => {
    assert.equal(reply(handleFrame(arp(), ctx)).ip, OWNED_V4);
    assert.equal(reply(handleFrame(ns(), ctx)).ip, OWNED_V6);
    assert.equal(reply(handleFrame(ns({ src: '::' }), ctx)).ip, OWNED_V6);
  });

  test('truncated', () => {
    const v6 = ns();
    const shortPayload = Buffer.from(v6);
    shortPayload.writeUInt16BE(16, 18); // ICMPv6 message shorter than an NS
    drops('truncated',
      Buffer.alloc(0),
      Buffer.alloc(13),
      arp().subarray(0, 41), // ARP body cut short
      v6.subarray(0, 53), // IPv6 header cut short
      v6.subarray(0, v6.length - 1), // payload length larger than the frame
      shortPayload,
    );
  });

  test('not-ethernet-arp', () => {
    const patch = (off: number, hex: string): Buffer => { const f = arp(); Buffer.from(hex, 'hex').copy(f, off); return f; };
    drops('not-ethernet-arp',
      patch(14, '0006'), // htype IEEE 802
      patch(16, '86dd'), // ptype IPv6
      patch(18, '08'), // hlen 8
      patch(19, '10'), // plen 16
    );
    assert.equal(drop(handleArp(ns(), ctx)), 'not-ethernet-arp');
  });

  test('not-request', () => {
    drops('not-request', arp({ oper: 2, tha: OUR_MAC }), arp({ oper: 3 }));
  });

  test('gratuitous', () => {
    drops('gratuitous', arp({ spa: OWNED_V4, tpa: OWNED_V4 }), arp({ spa: OTHER_SERVICE_V4, tpa: OTHER_SERVICE_V4 }));
  });

  test('own-frame (ARP and NS)', () => {
    drops('own-frame',
      arp({ ethSrc: OUR_MAC }),
      arp({ sha: OUR_MAC }), // our MAC as sender, other Ethernet source
      ...gratuitousArp(OWNED_V4, OUR_MAC), // our own announcements looped back
      ns({ ethSrc: OUR_MAC }),
      ns({ ethSrc: OUR_MAC, src: '::' }),
    );
  });

  test('not-owned (ARP and NS): a node address and another Service IP', () => {
    drops('not-owned',
      arp({ tpa: NODE_V4 }),
      arp({ tpa: OTHER_SERVICE_V4 }),
      ns({ target: NODE_V6 }),
      ns({ target: OTHER_SERVICE_V6 }),
      ns({ target: OTHER_SERVICE_V6, src: '::' }),
    );
  });

  test('not-ipv6', () => {
    drops('not-ipv6', ns({ vtcFlow: 0x40000000 }), ns({ vtcFlow: 0 }));
    assert.equal(drop(handleNs(arp(), ctx)), 'not-ipv6');
  });

  test('not-icmpv6', () => {
    drops('not-icmpv6', ns({ nextHeader: 6 }), ns({ nextHeader: 0 }) /* hop-by-hop header first */);
  });

  test('not-ns', () => {
    drops('not-ns', ns({ type: 136 }), ns({ type: 128 }), unsolicitedNa(OWNED_V6, OTHER_MAC));
  });

  test('bad-hop-limit', () => {
    drops('bad-hop-limit', ns({ hopLimit: 254 }), ns({ hopLimit: 64 }), ns({ hopLimit: 0 }));
  });

  test('bad-checksum', () => {
    drops('bad-checksum', ns({ checksumError: 1 }), ns({ checksumError: 0x8000 }), ns({ src: '::', checksumError: 2 }));
  });

  test('bad-code', () => {
    drops('bad-code', ns({ code: 1 }), ns({ code: 255 }));
  });

  test('bad-option: zero length, overrunning, cut short', () => {
    drops('bad-option',
      ns({ options: Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]) }), // zero-length option
      ns({ options: Buffer.concat([lla(1, CLIENT_MAC), Buffer.from([14, 0, 0, 0, 0, 0, 0, 0])]) }), // zero length after a good one
      ns({ options: Buffer.from([1, 2, 0, 0, 0x5e, 0, 0x53, 1]) }), // says 16 bytes, has 8
      ns({ options: Buffer.from([1]) }), // a lone byte where an option header should be
    );
  });

  test('multicast-target', () => {
    drops('multicast-target', ns({ target: 'ff02::1', dst: solicitedNode(OWNED_V6) }), ns({ target: solicitedNode(OWNED_V6) }));
  });

  test('bad-dad: source link-layer option, or not to the solicited-node group', () => {
    drops('bad-dad',
      ns({ src: '::', options: lla(1, CLIENT_MAC) }),
      ns({ src: '::', dst: 'ff02::1' }),
      ns({ src: '::', dst: OWNED_V6, ethDst: OUR_MAC }), // unicast
      ns({ src: '::', dst: solicitedNode(OTHER_SERVICE_V6) }), // another address's group
    );
  });

  test('not-arp-or-ipv6', () => {
    const ipv4 = Buffer.alloc(60);
    encodeTable(ETHERNET, { dst: OUR_MAC, src: CLIENT_MAC, ethertype: 0x0800 }, ipv4);
    const vlan = Buffer.concat([arp().subarray(0, 12), Buffer.from([0x81, 0x00, 0x00, 0x64]), arp().subarray(12)]); // 802.1Q-tagged ARP
    drops('not-arp-or-ipv6', ipv4, vlan);
  });
});

describe('replies', () => {
  test('ARP reply is unicast to the requester and carries our MAC', () => {
    const d = reply(handleFrame(arp(), ctx));
    assert.equal(d.ip, OWNED_V4);
    assert.deepEqual(decodeTable(ETHERNET, d.reply), { dst: CLIENT_MAC, src: OUR_MAC, ethertype: 0x0806 });
    assert.deepEqual(decodeTable(ARP, d.reply, 14), { htype: 1, ptype: 0x0800, hlen: 6, plen: 4, oper: 2, sha: OUR_MAC, spa: OWNED_V4, tha: CLIENT_MAC, tpa: CLIENT_V4 });
    assert.equal(d.reply.length, 60);
  });

  test('ARP probe (sender 0.0.0.0) is answered by broadcast', () => {
    const d = reply(handleFrame(arp({ spa: '0.0.0.0' }), ctx));
    assert.deepEqual(decodeTable(ETHERNET, d.reply), { dst: BROADCAST, src: OUR_MAC, ethertype: 0x0806 });
    assert.deepEqual(decodeTable(ARP, d.reply, 14), { htype: 1, ptype: 0x0800, hlen: 6, plen: 4, oper: 2, sha: OUR_MAC, spa: OWNED_V4, tha: CLIENT_MAC, tpa: '0.0.0.0' });
  });

  test('NS reply goes to the source link-layer address, with S and O set, hop limit 255 and a valid checksum', () => {
    // Ethernet source and SLLA differ (e.g. a bridge rewrote the source): the option wins
    const na = parseNa(reply(handleFrame(ns({ ethSrc: OTHER_MAC, options: lla(1, CLIENT_MAC) }), ctx)).reply);
    assert.deepEqual(na.eth, { dst: CLIENT_MAC, src: OUR_MAC, ethertype: 0x86dd });
    assert.deepEqual(na.ip, { vtcFlow: 0x60000000, payloadLength: 32, nextHeader: 58, hopLimit: 255, src: OWNED_V6, dst: CLIENT_V6 });
    assert.deepEqual(na.nd, { type: 136, code: 0, checksum: na.nd.checksum, flags: 0x60000000, target: OWNED_V6 });
    assert.deepEqual(na.option, [2, 1]);
    assert.equal(na.tlla, OUR_MAC);
    assert.ok(na.checksumOk);
  });

  test('NS without a source link-layer option (unicast NUD probe) is answered to the Ethernet source', () => {
    const d = reply(handleFrame(ns({ dst: OWNED_V6, ethDst: OUR_MAC, options: Buffer.alloc(0) }), ctx));
    const na = parseNa(d.reply);
    assert.equal(na.eth.dst, CLIENT_MAC);
    assert.equal(na.ip.dst, CLIENT_V6);
    assert.equal(na.nd.flags, 0x60000000);
    assert.equal(na.tlla, OUR_MAC);
    assert.ok(na.checksumOk);
  });

  test('unknown options are skipped', () => {
    const d = reply(handleFrame(ns({ options: Buffer.concat([Buffer.from([14, 1, 1, 2, 3, 4, 5, 6]), lla(1, CLIENT_MAC)]) }), ctx));
    assert.equal(parseNa(d.reply).eth.dst, CLIENT_MAC);
  });

  test('DAD NS for an owned IP is answered to ff02::1 with S=0', () => {
    const na = parseNa(reply(handleFrame(ns({ src: '::' }), ctx)).reply);
    assert.deepEqual(na.eth, { dst: '33:33:00:00:00:01', src: OUR_MAC, ethertype: 0x86dd });
    assert.equal(na.ip.dst, 'ff02::1');
    assert.equal(na.ip.src, OWNED_V6);
    assert.equal(na.ip.hopLimit, 255);
    assert.equal(na.nd.flags, 0x20000000, 'O only');
    assert.equal(na.tlla, OUR_MAC);
    assert.ok(na.checksumOk);
  });

  test('owns() is asked with canonical text', () => {
    const asked: string[] = [];
    const spy: ResponderContext = { mac: OUR_MAC, owns: (ip) => { asked.push(ip); return false; } };
    handleFrame(ns({ target: '2001:0DB8:0:0:0:0:0:0010' }), spy);
    handleFrame(arp({ tpa: '192.0.2.10' }), spy);
    assert.deepEqual(asked, [OWNED_V6, OWNED_V4]);
  });
});

describe('property: a reply iff the target is owned, for every kind of sender', () => {
  const v4Targets = Array.from({ length: 8 }, (_, i) => `192.0.2.${10 + i}`);
  const v6Targets = Array.from({ length: 8 }, (_, i) => `2001:db8::${(0x10 + i).toString(16)}`);
  const randomMac = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => macToString(b));
  const senderMac = fc.oneof({ weight: 1, arbitrary: fc.constant(OUR_MAC) }, { weight: 5, arbitrary: randomMac });
  // Who asks: an ordinary host, an ARP probe (0.0.0.0) or DAD (::), the target itself (a gratuitous ARP; an
  // NS from a host holding the address), or another of the Service IPs (possibly owned by us too).
  const senderKind = fc.constantFrom('host' as const, 'unspecified' as const, 'self' as const, 'other-target' as const);
  const request = fc.record({
    family: fc.constantFrom('v4' as const, 'v6' as const),
    target: fc.integer({ min: 0, max: 7 }),
    other: fc.integer({ min: 0, max: 7 }),
    mac: senderMac,
    kind: senderKind,
    host: fc.integer({ min: 1, max: 254 }),
  });

  test('random owned sets and requests: drop reason or reply destination as the module comment documents', () => {
    const seed = Date.now() ^ (process.pid << 8);
    process.stdout.write(`responder property seed ${seed}\n`);
    const seen = new Map<string, number>();
    fc.assert(fc.property(fc.subarray([...v4Targets, ...v6Targets]), request, (own, r) => {
      const v4 = r.family === 'v4';
      const targets = v4 ? v4Targets : v6Targets;
      const target = targets[r.target]!;
      const sender = {
        host: v4 ? `198.51.100.${r.host}` : `2001:db8:1::${r.host.toString(16)}`,
        unspecified: v4 ? '0.0.0.0' : '::',
        self: target,
        'other-target': targets[r.other]!,
      }[r.kind];
      const c: ResponderContext = { mac: OUR_MAC, owns: (ip) => own.includes(ip) };
      const frame = v4 ? arp({ ethSrc: r.mac, sha: r.mac, spa: sender, tpa: target }) : ns({ ethSrc: r.mac, target, src: sender });
      const d = handleFrame(frame, c);
      const owned = own.includes(target);
      let expected: string;
      if (r.mac === OUR_MAC) expected = 'own-frame';
      else if (v4 && sender === target) expected = 'gratuitous'; // announcing, not asking: never answered
      else if (!owned) expected = 'not-owned';
      else expected = 'reply';
      seen.set(`${r.family}/${r.kind}/${expected}`, (seen.get(`${r.family}/${r.kind}/${expected}`) ?? 0) + 1);
      if (expected !== 'reply') {
        assert.ok('drop' in d, `expected ${expected}, got a reply`);
        assert.equal(d.drop, expected);
        return;
      }
      assert.ok('reply' in d, `expected a reply, got ${JSON.stringify(d)}`);
      assert.equal(d.ip, target);
      assert.equal(d.asker, `${r.mac}/${sender}`, 'the asker names the sender MAC and IP');
      const eth = decodeTable(ETHERNET, d.reply)!;
      assert.equal(eth.src, OUR_MAC, 'Ethernet source');
      if (v4) {
        const p = decodeTable(ARP, d.reply, 14)!;
        assert.deepEqual({ oper: p.oper, sha: p.sha, spa: p.spa, tha: p.tha, tpa: p.tpa }, { oper: 2, sha: OUR_MAC, spa: target, tha: r.mac, tpa: sender });
        // a probe is answered by broadcast so the prober sees the conflict; everyone else by unicast
        assert.equal(eth.dst, r.kind === 'unspecified' ? BROADCAST : r.mac);
      } else {
        const na = parseNa(d.reply);
        assert.equal(na.tlla, OUR_MAC);
        assert.equal(na.nd.target, target);
        assert.equal(na.ip.src, target);
        assert.ok(na.checksumOk);
        if (r.kind === 'unspecified') {
          // DAD for our address: defended to all nodes, unsolicited (O only)
          assert.deepEqual({ dst: na.ip.dst, mac: na.eth.dst, flags: na.nd.flags }, { dst: 'ff02::1', mac: '33:33:00:00:00:01', flags: 0x20000000 });
        } else {
          // ordinary NS, also one from a host that holds the address itself: solicited, unicast back (S and O)
          assert.deepEqual({ dst: na.ip.dst, mac: na.eth.dst, flags: na.nd.flags }, { dst: sender, mac: r.mac, flags: 0x60000000 });
        }
      }
    }), { numRuns: 3000, seed });
    // the generators reach every case the comment documents
    for (const k of ['v4/unspecified/reply', 'v4/self/gratuitous', 'v4/host/reply', 'v4/other-target/reply', 'v4/host/not-owned',
      'v6/unspecified/reply', 'v6/self/reply', 'v6/host/reply', 'v6/other-target/reply', 'v6/self/not-owned', 'v4/host/own-frame']) {
      assert.ok((seen.get(k) ?? 0) > 0, `case ${k} generated (seed ${seed})`);
    }
  });
});

describe('probes from another node (issue 9: the owner must answer them so the prober sees it)', () => {
  test("the frames L2Link.probe sends are answered by the owner: ARP probe by broadcast, DAD NS by an NA to all-nodes", () => {
    const a = reply(handleFrame(arpProbe(OWNED_V4, OTHER_MAC), ctx));
    const eth = decodeTable(ETHERNET, a.reply)!;
    const p = decodeTable(ARP, a.reply, 14)!;
    assert.equal(eth.dst, BROADCAST);
    assert.deepEqual({ oper: p.oper, sha: p.sha, spa: p.spa, tpa: p.tpa }, { oper: 2, sha: OUR_MAC, spa: OWNED_V4, tpa: '0.0.0.0' });
    const na = parseNa(reply(handleFrame(buildNsFrame({ target: OWNED_V6, mac: OTHER_MAC, srcIp: '::' }), ctx)).reply);
    assert.deepEqual({ dst: na.ip.dst, mac: na.eth.dst, flags: na.nd.flags, tlla: na.tlla }, { dst: 'ff02::1', mac: '33:33:00:00:00:01', flags: 0x20000000, tlla: OUR_MAC });
    assert.ok(na.checksumOk);
  });

  test('probes for an IP we do not own are not answered; our own probes are never answered', () => {
    assert.equal(drop(handleFrame(arpProbe(OTHER_SERVICE_V4, OTHER_MAC), ctx)), 'not-owned');
    assert.equal(drop(handleFrame(buildNsFrame({ target: OTHER_SERVICE_V6, mac: OTHER_MAC, srcIp: '::' }), ctx)), 'not-owned');
    assert.equal(drop(handleFrame(arpProbe(OWNED_V4, OUR_MAC), ctx)), 'own-frame');
    assert.equal(drop(handleFrame(buildNsFrame({ target: OWNED_V6, mac: OUR_MAC, srcIp: '::' }), ctx)), 'own-frame');
  });

  test('claims seen on the widened filters are never answered: ARP replies, NAs', () => {
    assert.equal(drop(handleFrame(gratuitousArp(OWNED_V4, OTHER_MAC)[1]!, ctx)), 'not-request');
    assert.equal(drop(handleFrame(unsolicitedNa(OWNED_V6, OTHER_MAC), ctx)), 'not-ns');
  });
});
