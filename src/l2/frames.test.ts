import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { decodeTable, encodeTable, ipBytes, ipv6ToString, macToString, parseMac, type Record_ } from '../wire/bytetable.ts';
import {
  ARP, ETHERNET, IPV6, ND_MESSAGE, buildArpFrame, buildNaFrame, buildNsFrame, gratuitousArp, icmp6Checksum, multicastMac,
  parseArpFrame, parseNsFrame, solicitedNode, unsolicitedNa, type DropReason,
} from './frames.ts';
import { handleArp, handleFrame, handleNs, type ResponderContext } from './responder.ts';

const RUNS = process.env.CI ? 100_000 : 10_000;

/** Every DropReason, at run time; the type check below fails when the union grows. */
const DROP_REASONS = [
  'truncated', 'not-ethernet-arp', 'not-request', 'gratuitous', 'own-frame', 'not-owned', 'not-ipv6', 'not-icmpv6', 'not-ns',
  'bad-hop-limit', 'bad-checksum', 'bad-code', 'bad-option', 'multicast-target', 'bad-dad', 'not-na', 'bad-na',
] as const satisfies readonly DropReason[];
const allReasonsListed: [Exclude<DropReason, (typeof DROP_REASONS)[number]>] extends [never] ? true : false = true;

/** A byte table: one hex string per field (spaces and colons ignored). */
function bytes(...fields: string[]): Buffer {
  for (const f of fields) assert.match(f.replace(/[\s:]/g, ''), /^([0-9a-f]{2})*$/i, `bad hex field ${f}`);
  return Buffer.from(fields.join('').replace(/[\s:]/g, ''), 'hex');
}

/**
 * Independent ICMPv6 checksum (RFC 1071 / RFC 8200 8.1), written from the RFCs for this test: the pseudo-header
 * is taken straight from the frame's IPv6 header bytes, and the carry is folded in after every addition.
 * Returns the one's-complement sum over pseudo-header + message (0xffff when the message checksum is right)
 * and the checksum the message should carry.
 */
function independentChecksum(frame: Buffer): { sum: number; expected: number } {
  const ip = frame.subarray(14, 54);
  const length = ip.readUInt16BE(4);
  const msg = Buffer.from(frame.subarray(54, 54 + length));
  const pseudo = Buffer.concat([ip.subarray(8, 40), bytes('0000', length.toString(16).padStart(4, '0'), '000000', '3a')]);
  const add = (a: number, b: number): number => { const s = a + b; return (s & 0xffff) + (s >> 16); };
  const words = (b: Buffer): number[] => {
    const out: number[] = [];
    for (let i = 0; i < b.length; i += 2) out.push(b[i]! * 256 + (i + 1 < b.length ? b[i + 1]! : 0));
    return out;
  };
  const sum = [...words(pseudo), ...words(msg)].reduce(add, 0);
  msg.writeUInt16BE(0, 2);
  const expected = ~[...words(pseudo), ...words(msg)].reduce(add, 0) & 0xffff;
  return { sum, expected };
}

// Fixture: a client asks for a Service IP this node owns.
const CLIENT_MAC = '00:00:5e:00:53:01'; // RFC 7042 documentation MACs
const OUR_MAC = '00:00:5e:00:53:0a';
const SERVICE_V4 = '192.0.2.10';
const SERVICE_V6 = '2001:db8::10';
const ctx: ResponderContext = { mac: OUR_MAC, owns: (ip) => ip === SERVICE_V4 || ip === SERVICE_V6 };

const ARP_REQUEST = bytes(
  'ffffffffffff', // eth dst: broadcast
  '00005e005301', // eth src: client
  '0806', // ethertype ARP
  '0001', // htype Ethernet
  '0800', // ptype IPv4
  '06', // hlen
  '04', // plen
  '0001', // oper request
  '00005e005301', // sha: client
  'c0000201', // spa 192.0.2.1
  '000000000000', // tha: unknown
  'c000020a', // tpa 192.0.2.10
  '00'.repeat(18), // padding to the 60-byte Ethernet minimum
);

const ARP_REPLY = bytes(
  '00005e005301', // eth dst: the client (unicast)
  '00005e00530a', // eth src: us
  '0806', // ethertype ARP
  '0001', // htype Ethernet
  '0800', // ptype IPv4
  '06', // hlen
  '04', // plen
  '0002', // oper reply
  '00005e00530a', // sha: us
  'c000020a', // spa 192.0.2.10
  '00005e005301', // tha: the client
  'c0000201', // tpa 192.0.2.1
  '00'.repeat(18), // padding
);

const GRATUITOUS_REQUEST = bytes(
  'ffffffffffff', // eth dst: broadcast
  '00005e00530a', // eth src: us
  '0806', // ethertype ARP
  '0001', // htype Ethernet
  '0800', // ptype IPv4
  '06', // hlen
  '04', // plen
  '0001', // oper request
  '00005e00530a', // sha: us
  'c000020a', // spa 192.0.2.10
  '000000000000', // tha: zero
  'c000020a', // tpa 192.0.2.10 (= spa)
  '00'.repeat(18), // padding
);

const GRATUITOUS_REPLY = bytes(
  'ffffffffffff', // eth dst: broadcast
  '00005e00530a', // eth src: us
  '0806', // ethertype ARP
  '0001', // htype Ethernet
  '0800', // ptype IPv4
  '06', // hlen
  '04', // plen
  '0002', // oper reply
  '00005e00530a', // sha: us
  'c000020a', // spa 192.0.2.10
  'ffffffffffff', // tha: broadcast
  'c000020a', // tpa 192.0.2.10 (= spa)
  '00'.repeat(18), // padding
);

const NS = bytes(
  '3333ff000010', // eth dst: 33:33 + low 32 bits of ff02::1:ff00:10
  '00005e005301', // eth src: client
  '86dd', // ethertype IPv6
  '60000000', // version 6, traffic class 0, flow label 0
  '0020', // payload length 32
  '3a', // next header ICMPv6
  'ff', // hop limit 255
  '20010db8 00000000 00000000 00000001', // src 2001:db8::1
  'ff020000 00000000 00000001 ff000010', // dst ff02::1:ff00:10 (solicited-node of the target)
  '87', // type 135 Neighbour Solicitation
  '00', // code
  '6d0a', // checksum (python3)
  '00000000', // reserved
  '20010db8 00000000 00000000 00000010', // target 2001:db8::10
  '01', // option: source link-layer address
  '01', // option length 1 (8 bytes)
  '00005e005301', // source link-layer address: client
);

const SOLICITED_NA = bytes(
  '00005e005301', // eth dst: the client's link-layer address
  '00005e00530a', // eth src: us
  '86dd', // ethertype IPv6
  '60000000', // version 6, traffic class 0, flow label 0
  '0020', // payload length 32
  '3a', // next header ICMPv6
  'ff', // hop limit 255
  '20010db8 00000000 00000000 00000010', // src 2001:db8::10 (the target)
  '20010db8 00000000 00000000 00000001', // dst 2001:db8::1 (the solicitor)
  '88', // type 136 Neighbour Advertisement
  '00', // code
  'db4c', // checksum (python3)
  '60000000', // flags: R=0 S=1 O=1
  '20010db8 00000000 00000000 00000010', // target 2001:db8::10
  '02', // option: target link-layer address
  '01', // option length 1 (8 bytes)
  '00005e00530a', // target link-layer address: us
);

const UNSOLICITED_NA = bytes(
  '333300000001', // eth dst: 33:33 + low 32 bits of ff02::1
  '00005e00530a', // eth src: us
  '86dd', // ethertype IPv6
  '60000000', // version 6, traffic class 0, flow label 0
  '0020', // payload length 32
  '3a', // next header ICMPv6
  'ff', // hop limit 255
  '20010db8 00000000 00000000 00000010', // src 2001:db8::10
  'ff020000 00000000 00000000 00000001', // dst ff02::1 (all nodes)
  '88', // type 136 Neighbour Advertisement
  '00', // code
  '4a03', // checksum (python3)
  '20000000', // flags: R=0 S=0 O=1
  '20010db8 00000000 00000000 00000010', // target 2001:db8::10
  '02', // option: target link-layer address
  '01', // option length 1 (8 bytes)
  '00005e00530a', // target link-layer address: us
);

const DAD_NS = bytes(
  '3333ff000010', // eth dst: 33:33 + low 32 bits of ff02::1:ff00:10
  '00005e005301', // eth src: the node doing DAD
  '86dd', // ethertype IPv6
  '60000000', // version 6, traffic class 0, flow label 0
  '0018', // payload length 24 (no options)
  '3a', // next header ICMPv6
  'ff', // hop limit 255
  '00000000 00000000 00000000 00000000', // src :: (unspecified)
  'ff020000 00000000 00000001 ff000010', // dst ff02::1:ff00:10
  '87', // type 135 Neighbour Solicitation
  '00', // code
  '4ccf', // checksum (python3)
  '00000000', // reserved
  '20010db8 00000000 00000000 00000010', // target 2001:db8::10
);

describe('golden bytes', () => {
  test('ARP request decodes field by field, and the builder makes the same bytes', () => {
    assert.deepEqual(parseArpFrame(ARP_REQUEST), {
      eth: { dst: 'ff:ff:ff:ff:ff:ff', src: CLIENT_MAC, ethertype: 0x0806 },
      arp: { htype: 1, ptype: 0x0800, hlen: 6, plen: 4, oper: 1, sha: CLIENT_MAC, spa: '192.0.2.1', tha: '00:00:00:00:00:00', tpa: SERVICE_V4 },
    });
    const built = buildArpFrame({ dst: 'ff:ff:ff:ff:ff:ff', src: CLIENT_MAC }, { oper: 1, sha: CLIENT_MAC, spa: '192.0.2.1', tha: '00:00:00:00:00:00', tpa: SERVICE_V4 });
    assert.deepEqual(built, ARP_REQUEST);
  });

  test('the ARP reply handleArp makes', () => {
    const d = handleArp(ARP_REQUEST, ctx);
    assert.ok('reply' in d, JSON.stringify(d));
    assert.equal(d.ip, SERVICE_V4);
    assert.deepEqual(d.reply, ARP_REPLY);
  });

  test('both gratuitous ARP frames', () => {
    assert.deepEqual(gratuitousArp(SERVICE_V4, OUR_MAC), [GRATUITOUS_REQUEST, GRATUITOUS_REPLY]);
  });

  test('Neighbour Solicitation with a source link-layer option', () => {
    assert.deepEqual(buildNsFrame({ target: SERVICE_V6, mac: CLIENT_MAC, srcIp: '2001:db8::1' }), NS);
    const p = parseNsFrame(NS);
    assert.ok(!('drop' in p), JSON.stringify(p));
    assert.equal(p.target, SERVICE_V6);
    assert.equal(p.sourceMac, CLIENT_MAC);
    assert.deepEqual(p.eth, { dst: '33:33:ff:00:00:10', src: CLIENT_MAC, ethertype: 0x86dd });
    assert.deepEqual(p.ip, { vtcFlow: 0x60000000, payloadLength: 32, nextHeader: 58, hopLimit: 255, src: '2001:db8::1', dst: 'ff02::1:ff00:10' });
  });

  test('the solicited NA handleNs makes', () => {
    const d = handleNs(NS, ctx);
    assert.ok('reply' in d, JSON.stringify(d));
    assert.equal(d.ip, SERVICE_V6);
    assert.deepEqual(d.reply, SOLICITED_NA);
  });

  test('unsolicited NA', () => {
    assert.deepEqual(unsolicitedNa(SERVICE_V6, OUR_MAC), UNSOLICITED_NA);
  });

  test('DAD NS (source ::, no option) and its answer', () => {
    assert.deepEqual(buildNsFrame({ target: SERVICE_V6, mac: CLIENT_MAC, srcIp: '::' }), DAD_NS);
    const p = parseNsFrame(DAD_NS);
    assert.ok(!('drop' in p), JSON.stringify(p));
    assert.equal(p.ip.src, '::');
    assert.equal(p.sourceMac, undefined);
    const d = handleNs(DAD_NS, ctx);
    assert.ok('reply' in d, JSON.stringify(d));
    assert.deepEqual(d.reply, UNSOLICITED_NA, 'DAD for our address is defended like an unsolicited NA');
  });
});

describe('ICMPv6 checksum', () => {
  const golden = { NS, SOLICITED_NA, UNSOLICITED_NA, DAD_NS };

  test('known-good values (computed with python3) agree with the independent sum in this file', () => {
    const python: Record<keyof typeof golden, number> = { NS: 0x6d0a, SOLICITED_NA: 0xdb4c, UNSOLICITED_NA: 0x4a03, DAD_NS: 0x4ccf };
    for (const [name, frame] of Object.entries(golden) as [keyof typeof golden, Buffer][]) {
      const { sum, expected } = independentChecksum(frame);
      assert.equal(expected, python[name], name);
      assert.equal(sum, 0xffff, `${name}: a correct message sums to 0xffff`);
    }
  });

  test('icmp6Checksum verifies golden frames (0) and computes the same value as the independent sum', () => {
    for (const [name, frame] of Object.entries(golden)) {
      const ip = decodeTable(IPV6, frame, 14)!;
      const msg = Buffer.from(frame.subarray(54));
      assert.equal(icmp6Checksum(ip.src, ip.dst, msg), 0, name);
      msg.writeUInt16BE(0, 2);
      assert.equal(icmp6Checksum(ip.src, ip.dst, msg), independentChecksum(frame).expected, name);
    }
  });

  test('icmp6Checksum matches the independent sum for random messages (odd lengths too)', () => {
    fc.assert(fc.property(v6Groups(), v6Groups(), fc.uint8Array({ minLength: 4, maxLength: 120 }), (src, dst, body) => {
      const frame = Buffer.alloc(54 + body.length);
      frame.writeUInt16BE(body.length, 18);
      groupsToBytes(src).copy(frame, 22);
      groupsToBytes(dst).copy(frame, 38);
      Buffer.from(body).copy(frame, 54);
      const msg = Buffer.from(frame.subarray(54));
      msg.writeUInt16BE(0, 2);
      assert.equal(icmp6Checksum(canonical(src), canonical(dst), msg), independentChecksum(frame).expected);
    }), { numRuns: 2000 });
  });
});

// ---- arbitraries -------------------------------------------------------------------------------

const mac = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => macToString(b));
/** IPv4 addresses in the three documentation /24s. */
const docV4 = fc.tuple(fc.constantFrom('192.0.2', '198.51.100', '203.0.113'), fc.integer({ min: 0, max: 255 })).map(([p, h]) => `${p}.${h}`);
/** 16-bit groups biased towards zero so that runs of zero groups (and their compression) are common. */
const group = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 0xf }) }, { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xffff }) });
/** Arbitrary 128-bit patterns (used only where text formatting of any bit pattern is the point). */
function v6Groups(): fc.Arbitrary<number[]> {
  return fc.array(group, { minLength: 8, maxLength: 8 });
}
/** Addresses in 2001:db8::/32. */
const docV6Groups = fc.array(group, { minLength: 6, maxLength: 6 }).map((g) => [0x2001, 0xdb8, ...g]);
const canonical = (g: number[]): string => new ipaddr.IPv6(g).toRFC5952String();
const groupsToBytes = (g: number[]): Buffer => Buffer.from(new ipaddr.IPv6(g).toByteArray());

/** Any valid text form of an address: groups padded or not, upper or lower case, any zero run (or none) as '::'. */
function v6Text(g: number[]): fc.Arbitrary<string> {
  const runs: [number, number][] = [];
  for (let i = 0; i < 8; i++) {
    if (g[i] !== 0) continue;
    for (let j = i + 1; j <= 8 && g[j - 1] === 0; j++) runs.push([i, j]);
  }
  return fc.record({ pad: fc.boolean(), upper: fc.boolean(), run: fc.integer({ min: -1, max: runs.length - 1 }) }).map(({ pad, upper, run }) => {
    const hex = g.map((x) => { const h = x.toString(16); const s = pad ? h.padStart(4, '0') : h; return upper ? s.toUpperCase() : s; });
    const r = runs[run];
    if (!r) return hex.join(':');
    return `${hex.slice(0, r[0]).join(':')}::${hex.slice(r[1]).join(':')}`;
  });
}
const docV6 = docV6Groups.chain((g) => v6Text(g).map((text) => ({ text, canonical: canonical(g) })));

// ---- round trips -------------------------------------------------------------------------------

describe('round trips', () => {
  test('ARP: parseArpFrame(buildArpFrame(x)) = x', () => {
    fc.assert(fc.property(mac, mac, fc.integer({ min: 0, max: 0xffff }), mac, docV4, mac, docV4, (dst, src, oper, sha, spa, tha, tpa) => {
      const f = buildArpFrame({ dst, src }, { oper, sha, spa, tha, tpa });
      assert.equal(f.length, 60);
      assert.deepEqual(parseArpFrame(f), { eth: { dst, src, ethertype: 0x0806 }, arp: { htype: 1, ptype: 0x0800, hlen: 6, plen: 4, oper, sha, spa, tha, tpa } });
    }), { numRuns: 2000 });
  });

  test('ARP and Ethernet tables: decode(encode(x)) = x for every field value', () => {
    const u16 = fc.integer({ min: 0, max: 0xffff });
    const u8 = fc.integer({ min: 0, max: 0xff });
    fc.assert(fc.property(fc.record({ htype: u16, ptype: u16, hlen: u8, plen: u8, oper: u16, sha: mac, spa: docV4, tha: mac, tpa: docV4 }, { noNullPrototype: true }), fc.record({ dst: mac, src: mac, ethertype: u16 }, { noNullPrototype: true }), (arp, eth) => {
      const b = Buffer.alloc(42);
      encodeTable(ETHERNET, eth, b);
      encodeTable(ARP, arp, b, 14);
      assert.deepEqual(decodeTable(ETHERNET, b), eth);
      assert.deepEqual(decodeTable(ARP, b, 14), arp);
    }), { numRuns: 2000 });
  });

  test('IPv6 and ND tables: any text form of an address decodes to its RFC 5952 form', () => {
    const u32 = fc.integer({ min: 0, max: 0xffffffff });
    fc.assert(fc.property(docV6, docV6, docV6, u32, fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xff }), (src, dst, target, word, half, byte) => {
      const b = Buffer.alloc(40 + 24);
      const ip: Record_<typeof IPV6> = { vtcFlow: word, payloadLength: half, nextHeader: byte, hopLimit: 255 - byte, src: src.text, dst: dst.text };
      const nd: Record_<typeof ND_MESSAGE> = { type: byte, code: 255 - byte, checksum: half, flags: word, target: target.text };
      encodeTable(IPV6, ip, b);
      encodeTable(ND_MESSAGE, nd, b, 40);
      assert.deepEqual(decodeTable(IPV6, b), { ...ip, src: src.canonical, dst: dst.canonical });
      assert.deepEqual(decodeTable(ND_MESSAGE, b, 40), { ...nd, target: target.canonical });
    }), { numRuns: 2000 });
  });

  test('NS: parseNsFrame(buildNsFrame(x)) gives back target, source and link-layer address', () => {
    fc.assert(fc.property(docV6, fc.option(docV6, { nil: undefined }), mac, (target, src, m) => {
      const f = buildNsFrame({ target: target.text, mac: m, srcIp: src?.text ?? '::' });
      const p = parseNsFrame(f);
      assert.ok(!('drop' in p), JSON.stringify(p));
      assert.equal(p.target, target.canonical);
      assert.equal(p.ip.src, src?.canonical ?? '::');
      assert.equal(p.ip.dst, solicitedNode(target.canonical));
      assert.equal(p.eth.src, m);
      assert.equal(p.sourceMac, src ? m : undefined);
    }), { numRuns: 2000 });
  });

  test('NA: buildNaFrame fields decode back, with a valid checksum', () => {
    fc.assert(fc.property(docV6, docV6, docV6, mac, mac, fc.boolean(), (target, srcIp, dstIp, m, dstMac, solicited) => {
      const f = buildNaFrame({ target: target.text, mac: m, dstMac, dstIp: dstIp.text, srcIp: srcIp.text, solicited });
      assert.deepEqual(decodeTable(ETHERNET, f), { dst: dstMac, src: m, ethertype: 0x86dd });
      assert.deepEqual(decodeTable(IPV6, f, 14), { vtcFlow: 0x60000000, payloadLength: 32, nextHeader: 58, hopLimit: 255, src: srcIp.canonical, dst: dstIp.canonical });
      const nd = decodeTable(ND_MESSAGE, f, 54)!;
      assert.equal(nd.type, 136);
      assert.equal(nd.code, 0);
      assert.equal(nd.flags, solicited ? 0x60000000 : 0x20000000);
      assert.equal(nd.target, target.canonical);
      assert.deepEqual([...f.subarray(78, 80)], [2, 1], 'target link-layer option, 8 bytes');
      assert.equal(macToString(f, 80), m);
      assert.equal(independentChecksum(f).sum, 0xffff);
    }), { numRuns: 2000 });
  });
});

describe('addresses', () => {
  test('solicitedNode and multicastMac', () => {
    const cases: [ip: string, group: string, mac: string][] = [
      ['2001:db8::1:2:3', 'ff02::1:ff02:3', '33:33:ff:02:00:03'],
      ['2001:db8::10', 'ff02::1:ff00:10', '33:33:ff:00:00:10'],
      ['2001:db8::abcd:ef12', 'ff02::1:ffcd:ef12', '33:33:ff:cd:ef:12'],
      ['2001:DB8:0:0:0:0:0:1', 'ff02::1:ff00:1', '33:33:ff:00:00:01'],
      ['fe80::200:5eff:fe00:530a', 'ff02::1:ff00:530a', '33:33:ff:00:53:0a'],
    ];
    for (const [ip, group, m] of cases) {
      assert.equal(solicitedNode(ip), group, ip);
      assert.equal(multicastMac(group), m, group);
    }
    assert.equal(multicastMac('ff02::1'), '33:33:00:00:00:01');
    assert.throws(() => solicitedNode('192.0.2.1'), TypeError);
    assert.throws(() => solicitedNode('not an address'), TypeError);
  });

  test('solicitedNode keeps the low 24 bits under ff02::1:ff00:0/104', () => {
    fc.assert(fc.property(docV6, (a) => {
      const g = Buffer.from(ipaddr.IPv6.parse(a.canonical).toByteArray());
      const s = ipBytes(solicitedNode(a.text))!;
      assert.deepEqual([...s.subarray(0, 13)], [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff]);
      assert.deepEqual(s.subarray(13), g.subarray(13));
    }), { numRuns: 1000 });
  });

  test('ipv6ToString canonical (RFC 5952) forms', () => {
    const cases: [input: string, canonical: string][] = [
      ['0:0:0:0:0:0:0:0', '::'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['2001:db8:0:0:0:0:0:0', '2001:db8::'],
      ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'], // the longer run is compressed, the single zero is not
      ['0:0:0:0:0:0:db8:1', '::db8:1'], // leading run
      ['2001:db8:1:0:0:0:0:0', '2001:db8:1::'], // trailing run
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // two equal runs: the first is compressed
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is never compressed
      ['2001:0DB8:000a:0000:0000:0000:0000:00B0', '2001:db8:a::b0'], // leading zeros dropped, lower case
      ['fe80:0:0:0:0:0:0:1', 'fe80::1'],
    ];
    for (const [input, want] of cases) {
      const b = ipBytes(input);
      assert.ok(b, input);
      assert.equal(ipv6ToString(b), want, input);
      assert.equal(ipv6ToString(Buffer.concat([Buffer.alloc(3), b]), 3), want, `${input} at an offset`);
    }
  });

  test('ipv6ToString agrees with ipaddr.js toRFC5952String for any bit pattern', () => {
    fc.assert(fc.property(v6Groups(), (g) => {
      assert.equal(ipv6ToString(groupsToBytes(g)), canonical(g));
    }), { numRuns: 5000 });
  });

  test('MAC text', () => {
    assert.deepEqual(parseMac('00-00-5E-00-53-0A'), Buffer.from([0, 0, 0x5e, 0, 0x53, 0x0a]));
    assert.equal(macToString(parseMac('00:00:5E:00:53:0A')!), OUR_MAC);
    for (const bad of ['', '00:00:5e:00:53', '00:00:5e:00:53:0a:00', '0:00:5e:00:53:0a', '00:00:5e:00:53:zz']) assert.equal(parseMac(bad), undefined, bad);
  });

  test('ipBytes returns undefined for malformed text', () => {
    const bad = ['', ':', ':::', '1::2::3', '2001:db8::g', '2001:db8:0:0:0:0:0:0:1', '12345::', '192.0.2', '192.0.2.256', '192.0.2.1.5'];
    for (const s of bad) assert.equal(ipBytes(s), undefined, s);
  });

  test('ipBytes never throws, also for too many groups around "::"', () => {
    for (const s of ['2001:db8:1:2:3:4:5:6::7', '2001:db8:1:2:3:4:5:6:7::']) {
      let r: Buffer | undefined;
      assert.doesNotThrow(() => { r = ipBytes(s); }, s);
      assert.equal(r, undefined, s);
    }
    fc.assert(fc.property(fc.array(fc.constantFrom('0', '1', 'db8', '2001', ':', '::', '.'), { maxLength: 14 }).map((p) => p.join('')), (s) => {
      ipBytes(s);
    }), { numRuns: 5000 });
  });

  test('ipBytes rejects "::" that stands for no group at all (RFC 4291 2.2: one or more groups)', () => {
    for (const s of ['2001:db8:0:0:0:0:0:1::', '::2001:db8:0:0:0:0:0:1', '2001:db8:1:2:3:4:5::6']) assert.equal(ipBytes(s), undefined, s);
  });
});

// ---- fuzzing -----------------------------------------------------------------------------------

/** Re-computes the ICMPv6 checksum of a (mutated) IPv6 frame when its header allows, so mutations reach the later checks. */
function reseal(b: Buffer): Buffer {
  if (b.length < 58) return b;
  const len = b.readUInt16BE(18);
  if (len < 4 || b.length < 54 + len) return b;
  b.writeUInt16BE(independentChecksum(b).expected, 56);
  return b;
}

/** A valid frame with random bytes overwritten, then truncated or extended at random. */
function mutated(valid: Buffer, fixChecksum = false): fc.Arbitrary<Buffer> {
  return fc.record({
    flips: fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    length: fc.constantFrom('keep', 'truncate', 'extend'),
    cut: fc.integer({ min: 0, max: valid.length }),
    extra: fc.uint8Array({ maxLength: 24 }),
  }).map(({ flips, length, cut, extra }) => {
    let b: Buffer = Buffer.from(valid);
    for (const [at, v] of flips) b[at] = v;
    if (fixChecksum) b = reseal(b);
    if (length === 'truncate') return b.subarray(0, cut);
    return length === 'extend' ? Buffer.concat([b, extra]) : b;
  });
}

const fuzzFrames = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 200 }).map((b) => Buffer.from(b)),
  mutated(ARP_REQUEST),
  mutated(NS),
  mutated(NS, true),
  mutated(DAD_NS, true),
  mutated(SOLICITED_NA, true),
);

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const V4_RE = /^\d{1,3}(\.\d{1,3}){3}$/;

describe('fuzzing: decoders never throw', () => {
  test('DROP_REASONS lists the whole DropReason union', () => {
    assert.equal(allReasonsListed, true);
  });

  test('parseArpFrame', () => {
    fc.assert(fc.property(fuzzFrames, (f) => {
      const r = parseArpFrame(f);
      if ('drop' in r) { assert.ok((DROP_REASONS as readonly unknown[]).includes(r.drop), r.drop); return; }
      assert.equal(r.eth.ethertype, 0x0806);
      assert.deepEqual([r.arp.htype, r.arp.ptype, r.arp.hlen, r.arp.plen], [1, 0x0800, 6, 4]);
      for (const m of [r.eth.dst, r.eth.src, r.arp.sha, r.arp.tha]) assert.match(m, MAC_RE);
      for (const a of [r.arp.spa, r.arp.tpa]) assert.match(a, V4_RE);
    }), { numRuns: RUNS });
  });

  test('parseNsFrame', () => {
    fc.assert(fc.property(fuzzFrames, (f) => {
      const r = parseNsFrame(f);
      if ('drop' in r) { assert.ok((DROP_REASONS as readonly unknown[]).includes(r.drop), r.drop); return; }
      assert.equal(r.eth.ethertype, 0x86dd);
      assert.equal(r.ip.vtcFlow >>> 28, 6);
      assert.equal(r.ip.nextHeader, 58);
      assert.equal(r.ip.hopLimit, 255);
      assert.equal(r.target, ipaddr.IPv6.parse(r.target).toRFC5952String(), 'target in canonical form');
      assert.ok(!ipaddr.IPv6.parse(r.target).range().startsWith('multicast'), r.target);
      if (r.sourceMac !== undefined) assert.match(r.sourceMac, MAC_RE);
      if (r.ip.src === '::') {
        assert.equal(r.sourceMac, undefined);
        assert.equal(r.ip.dst, solicitedNode(r.target));
      }
      assert.equal(independentChecksum(f).sum, 0xffff);
    }), { numRuns: RUNS });
  });

  test('handleFrame (owning every address, so replies get built too)', () => {
    const all: ResponderContext = { mac: OUR_MAC, owns: () => true };
    const reasons: readonly unknown[] = [...DROP_REASONS, 'not-arp-or-ipv6'];
    fc.assert(fc.property(fuzzFrames, (f) => {
      const r = handleFrame(f, all);
      if ('drop' in r) { assert.ok(reasons.includes(r.drop), r.drop); return; }
      assert.equal(macToString(r.reply, 6), OUR_MAC, 'replies come from our MAC');
      const ethertype = r.reply.readUInt16BE(12);
      if (ethertype === 0x0806) {
        const arp = decodeTable(ARP, r.reply, 14)!;
        assert.equal(arp.oper, 2);
        assert.equal(arp.sha, OUR_MAC);
        assert.equal(arp.spa, r.ip);
      } else {
        assert.equal(ethertype, 0x86dd);
        const nd = decodeTable(ND_MESSAGE, r.reply, 54)!;
        assert.equal(nd.type, 136);
        assert.equal(nd.target, r.ip);
        assert.equal(macToString(r.reply, 80), OUR_MAC, 'target link-layer address is ours');
        assert.equal(independentChecksum(r.reply).sum, 0xffff);
      }
    }), { numRuns: RUNS });
  });
});
