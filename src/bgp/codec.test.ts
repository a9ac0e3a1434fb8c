import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  MP_UNREACH_OVERHEAD, asPathLength, attributeBytes, forTwoOctetPeer, mergeAs4, mpReachOverhead, nlriBytes, passAlong,
} from './attributes.ts';
import { UPDATE_OVERHEAD, buildOpen, decodeMessage, encode, endOfRib, endOfRibMessage, peerAsn, routeChanges } from './codec.ts';
import { MessageFramer } from './framer.ts';
import {
  AS_TRANS, AsSegmentType, CeaseSubcode, GracefulRestartFlag, MessageType, NotificationCode, Origin,
  WellKnownCommunity, maxMessageLength,
  type CodecContext, type DecodeContext, type DecodedMessage, type DecodedUpdate, type Message, type OpenMessage,
  type PathAttribute, type Prefix, type UpdateMessage,
} from './message.ts';

const FIXTURES = join(import.meta.dirname, '../../test/fixtures/bgp');
const FOUR: CodecContext = { fourOctetAS: true, extendedMessages: false };
const TWO: CodecContext = { fourOctetAS: false, extendedMessages: false };

/** A byte table: one hex string per field (spaces ignored). */
function bytes(...fields: string[]): Buffer {
  for (const f of fields) assert.match(f.replace(/\s/g, ''), /^([0-9a-f]{2})*$/i, `bad hex field ${f}`);
  return Buffer.from(fields.join('').replace(/\s/g, ''), 'hex');
}

const MARKER = 'ff'.repeat(16);

function decodeOk(b: Buffer, ctx: DecodeContext = FOUR): DecodedMessage {
  const r = decodeMessage(b, ctx);
  if (!r.ok) assert.fail(`decode failed: ${r.error.message}`);
  return r.value;
}

function decodeUpdate(b: Buffer, ctx: DecodeContext = FOUR): DecodedUpdate {
  const m = decodeOk(b, ctx);
  assert.equal(m.type, MessageType.Update);
  return m;
}

/** The NOTIFICATION code/subcode (and data as hex) a decode failure carries. */
function decodeError(b: Buffer, ctx: DecodeContext = FOUR): [number, number, string] {
  const r = decodeMessage(b, ctx);
  if (r.ok) assert.fail('decode unexpectedly succeeded');
  assert.equal(r.error.code, 'BG_ERR_BGP');
  assert.equal(r.error.action, 'session-reset');
  return [r.error.notification.code, r.error.notification.subcode, r.error.notification.data.toString('hex')];
}

/** Wraps an UPDATE body (after the header) in a header. */
function update(...fields: string[]): Buffer {
  const body = bytes(...fields);
  return Buffer.concat([bytes(MARKER, (19 + body.length).toString(16).padStart(4, '0'), '02'), body]);
}

/** An UPDATE with no withdrawn routes, the given attribute bytes, and the given NLRI bytes. */
function updateWith(attrs: string, nlri = ''): Buffer {
  const a = bytes(attrs);
  return update('0000', a.length.toString(16).padStart(4, '0'), attrs, nlri);
}

const v4 = (prefix: string, length: number): Prefix => ({ afi: 1, prefix, length });
const v6 = (prefix: string, length: number): Prefix => ({ afi: 2, prefix, length });

// ---------------------------------------------------------------------------------------------------
// Golden bytes. The OPEN and the three UPDATEs were also built with python3 struct/socket, independently
// of this codec, and matched byte for byte.

const KEEPALIVE = bytes(
  MARKER, // marker
  '0013', // length 19
  '04', // type KEEPALIVE
);

const OPEN_MSG: OpenMessage = {
  type: MessageType.Open, version: 4, myAS: AS_TRANS, holdTime: 90, bgpIdentifier: '192.0.2.1',
  capabilities: [
    { kind: 'multiprotocol', afi: 1, safi: 1 },
    { kind: 'multiprotocol', afi: 2, safi: 1 },
    { kind: 'routeRefresh' },
    {
      kind: 'gracefulRestart', flags: GracefulRestartFlag.Notification, restartTime: 120,
      families: [{ afi: 1, safi: 1, flags: GracefulRestartFlag.ForwardingPreserved }, { afi: 2, safi: 1, flags: GracefulRestartFlag.ForwardingPreserved }],
    },
    { kind: 'fourOctetAS', asn: 4200000001 },
    { kind: 'extendedMessage' },
  ],
};

const OPEN = bytes(
  MARKER, // marker
  '0041', // length 65
  '01', // type OPEN
  '04', // version 4
  '5ba0', // my AS 23456 = AS_TRANS
  '005a', // hold time 90
  'c0000201', // BGP identifier 192.0.2.1
  '24', // optional parameters length 36
  '02', // parameter type 2: capabilities
  '22', // parameter length 34
  '01', '04', '0001', '00', '01', // multiprotocol: IPv4 (AFI 1), reserved, unicast (SAFI 1)
  '01', '04', '0002', '00', '01', // multiprotocol: IPv6 (AFI 2), reserved, unicast
  '02', '00', // route refresh
  '40', '0a', // graceful restart, length 10
  '4078', // restart flags N (0x4), restart time 120
  '0001', '01', '80', // IPv4 unicast, forwarding state preserved
  '0002', '01', '80', // IPv6 unicast, forwarding state preserved
  '41', '04', 'fa56ea01', // four-octet AS 4200000001
  '06', '00', // extended message
);

const NOTIFICATION_HOLD = bytes(
  MARKER, // marker
  '0015', // length 21
  '03', // type NOTIFICATION
  '04', // code 4: hold timer expired
  '00', // subcode 0
);

const NOTIFICATION_SHUTDOWN = bytes(
  MARKER, // marker
  '0021', // length 33
  '03', // type NOTIFICATION
  '06', // code 6: cease
  '02', // subcode 2: administrative shutdown
  '0b', // RFC 8203 shutdown communication length 11
  Buffer.from('maintenance').toString('hex'), // "maintenance"
);

const ROUTE_REFRESH = bytes(
  MARKER, // marker
  '0017', // length 23
  '05', // type ROUTE-REFRESH
  '0002', // AFI IPv6
  '00', // subtype 0: normal request
  '01', // SAFI unicast
);

const UPDATE_V4_MSG: UpdateMessage = {
  type: MessageType.Update,
  withdrawn: [],
  attributes: [
    { kind: 'origin', origin: Origin.Igp },
    { kind: 'asPath', segments: [] },
    { kind: 'nextHop', nextHop: '192.0.2.1' },
    { kind: 'localPref', localPref: 100 },
    { kind: 'communities', communities: [WellKnownCommunity.GracefulShutdown] },
    { kind: 'largeCommunities', largeCommunities: [{ global: 64512, local1: 1, local2: 2 }] },
  ],
  nlri: [v4('198.51.100.0', 24), v4('203.0.113.7', 32)],
};

const UPDATE_V4 = bytes(
  MARKER, // marker
  '004b', // length 75
  '02', // type UPDATE
  '0000', // withdrawn routes length 0
  '002b', // total path attribute length 43
  '40', '01', '01', '00', // ORIGIN (well-known transitive), length 1, IGP
  '40', '02', '00', // AS_PATH, length 0: empty (iBGP)
  '40', '03', '04', 'c0000201', // NEXT_HOP 192.0.2.1
  '40', '05', '04', '00000064', // LOCAL_PREF 100
  'c0', '08', '04', 'ffff0000', // COMMUNITIES (optional transitive): 65535:0 graceful shutdown
  'c0', '20', '0c', '0000fc00', '00000001', '00000002', // LARGE_COMMUNITIES 64512:1:2
  '18', 'c63364', // NLRI 198.51.100.0/24
  '20', 'cb007107', // NLRI 203.0.113.7/32
);

const UPDATE_V6_MSG: UpdateMessage = {
  type: MessageType.Update,
  withdrawn: [],
  attributes: [
    { kind: 'mpReach', afi: 2, safi: 1, nextHops: ['2001:db8::1', 'fe80::1'], nlri: [v6('2001:db8:1::', 48), v6('2001:db8:2::', 64)] },
    { kind: 'mpUnreach', afi: 2, safi: 1, withdrawn: [v6('2001:db8:dead::', 48)] },
    { kind: 'origin', origin: Origin.Igp },
    { kind: 'asPath', segments: [{ type: AsSegmentType.Sequence, asns: [64512] }] },
  ],
  nlri: [],
};

const UPDATE_V6 = bytes(
  MARKER, // marker
  '0069', // length 105
  '02', // type UPDATE
  '0000', // withdrawn routes length 0
  '0052', // total path attribute length 82
  '80', '0e', '35', // MP_REACH_NLRI (optional non-transitive), length 53
  '0002', '01', // AFI IPv6, SAFI unicast
  '20', // next hop length 32: global + link-local
  '20010db8 00000000 00000000 00000001', // next hop 2001:db8::1
  'fe800000 00000000 00000000 00000001', // next hop fe80::1
  '00', // reserved
  '30', '20010db80001', // 2001:db8:1::/48
  '40', '20010db800020000', // 2001:db8:2::/64
  '80', '0f', '0a', // MP_UNREACH_NLRI, length 10
  '0002', '01', // AFI IPv6, SAFI unicast
  '30', '20010db8dead', // 2001:db8:dead::/48
  '40', '01', '01', '00', // ORIGIN IGP
  '40', '02', '06', // AS_PATH, length 6
  '02', '01', '0000fc00', // AS_SEQUENCE of 1: 64512 (4 octets)
);

const UPDATE_TWO_OCTET = bytes(
  MARKER, // marker
  '003c', // length 60
  '02', // type UPDATE
  '0000', // withdrawn routes length 0
  '0021', // total path attribute length 33
  '40', '01', '01', '00', // ORIGIN IGP
  '40', '02', '06', // AS_PATH, length 6
  '02', '02', '5ba0', 'fc00', // AS_SEQUENCE of 2: AS_TRANS, 64512 (2 octets)
  '40', '03', '04', 'c0000201', // NEXT_HOP 192.0.2.1
  'c0', '11', '0a', // AS4_PATH (optional transitive), length 10
  '02', '02', 'fa56ea01', '0000fc00', // AS_SEQUENCE of 2: 4200000001, 64512
  '18', 'c63364', // NLRI 198.51.100.0/24
);

describe('golden bytes', () => {
  const cases: [string, Message, Buffer, CodecContext][] = [
    ['KEEPALIVE', { type: MessageType.Keepalive }, KEEPALIVE, FOUR],
    ['OPEN with MP IPv4+IPv6, route refresh, GR, 4-octet AS, extended message', OPEN_MSG, OPEN, FOUR],
    ['NOTIFICATION hold timer expired', { type: MessageType.Notification, code: NotificationCode.HoldTimerExpired, subcode: 0, data: Buffer.alloc(0) }, NOTIFICATION_HOLD, FOUR],
    ['NOTIFICATION cease/administrative shutdown with a message', {
      type: MessageType.Notification, code: NotificationCode.Cease, subcode: CeaseSubcode.AdministrativeShutdown,
      data: Buffer.concat([Buffer.from([11]), Buffer.from('maintenance')]),
    }, NOTIFICATION_SHUTDOWN, FOUR],
    ['ROUTE-REFRESH', { type: MessageType.RouteRefresh, afi: 2, subtype: 0, safi: 1 }, ROUTE_REFRESH, FOUR],
    ['UPDATE with IPv4 NLRI (iBGP)', UPDATE_V4_MSG, UPDATE_V4, FOUR],
    ['UPDATE with MP_REACH IPv6 (global + link-local) and MP_UNREACH', UPDATE_V6_MSG, UPDATE_V6, FOUR],
  ];
  for (const [name, msg, wire, ctx] of cases) {
    test(`${name}: encodes to the table, and the table decodes to the message`, () => {
      assert.equal(encode(msg, ctx).toString('hex'), wire.toString('hex'));
      const back = decodeOk(wire, ctx);
      assert.deepEqual(back, msg.type === MessageType.Update ? { ...msg, treatAsWithdraw: false, errors: [] } : msg);
    });
  }

  test('UPDATE to a 2-octet peer: AS_TRANS in AS_PATH, the real path in AS4_PATH, and back', () => {
    const attrs: PathAttribute[] = [
      { kind: 'origin', origin: Origin.Igp },
      { kind: 'asPath', segments: [{ type: AsSegmentType.Sequence, asns: [4200000001, 64512] }] },
      { kind: 'nextHop', nextHop: '192.0.2.1' },
    ];
    const msg: UpdateMessage = { type: MessageType.Update, withdrawn: [], attributes: forTwoOctetPeer(attrs), nlri: [v4('198.51.100.0', 24)] };
    assert.equal(encode(msg, TWO).toString('hex'), UPDATE_TWO_OCTET.toString('hex'));
    const back = decodeUpdate(UPDATE_TWO_OCTET, TWO);
    assert.deepEqual(back.attributes, msg.attributes, 'decoded as on the wire');
    assert.deepEqual(mergeAs4(back.attributes), attrs, 'merged back into the real path');
    assert.throws(() => encode({ ...msg, attributes: attrs }, TWO), /does not fit a 2-octet session/);
  });

  test('buildOpen puts AS_TRANS in My AS and adds the four-octet capability; peerAsn reads it back', () => {
    const open = buildOpen({ asn: 4200000001, holdTime: 90, bgpIdentifier: '192.0.2.1', capabilities: OPEN_MSG.capabilities.filter((c) => c.kind !== 'fourOctetAS') });
    assert.equal(open.myAS, AS_TRANS);
    assert.equal(peerAsn(open), 4200000001);
    assert.equal(buildOpen({ asn: 64512, holdTime: 90, bgpIdentifier: '192.0.2.1', capabilities: [] }).myAS, 64512);
    assert.deepEqual(buildOpen({ asn: 64512, holdTime: 90, bgpIdentifier: '192.0.2.1', capabilities: [] }).capabilities, [{ kind: 'fourOctetAS', asn: 64512 }]);
  });
});

// ---------------------------------------------------------------------------------------------------

describe('captured messages (BIRD 2, GoBGP; see test/fixtures/bgp/README.md)', () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.hex')).sort();
  const load = (f: string): Buffer => Buffer.from(readFileSync(join(FIXTURES, f), 'utf8').trim(), 'hex');
  const EXPECTED = [
    'open-bird2.hex', 'open-gobgp.hex', 'update-bird2-eor-ipv4.hex', 'update-bird2-eor-ipv6.hex', 'update-bird2-ipv4.hex',
    'update-bird2-ipv6.hex', 'update-gobgp-ipv4.hex', 'update-gobgp-ipv6.hex',
  ];

  test('the fixture folder holds every capture, and nothing unlisted', () => {
    for (const f of ['open-bird2.hex', 'open-gobgp.hex']) assert.ok(files.includes(f), `${f} missing from ${FIXTURES}`);
    assert.deepEqual(files, EXPECTED);
  });

  test('every captured message decodes without errors; OPENs re-encode byte for byte', () => {
    for (const f of files) {
      const wire = load(f);
      const msg = decodeOk(wire, FOUR);
      const again = encode(msg, FOUR);
      if (msg.type === MessageType.Open) {
        assert.equal(again.toString('hex'), wire.toString('hex'), f);
        continue;
      }
      assert.equal(msg.type, MessageType.Update, f);
      assert.deepEqual(msg.errors, [], f);
      assert.equal(msg.treatAsWithdraw, false, f);
      // UPDATEs too, except that BIRD sets Extended Length on every MP_REACH_NLRI and we only when needed
      if (f === 'update-bird2-ipv6.hex') {
        assert.equal(wire.length - again.length, 1, f);
        assert.equal(wire[23], 0x90, 'BIRD: optional + extended length');
        assert.deepEqual(decodeOk(again, FOUR), msg, f);
      } else assert.equal(again.toString('hex'), wire.toString('hex'), f);
    }
  });

  test('BIRD UPDATEs: IPv4 with MED and communities, IPv6 with global + link-local next hops, End-of-RIB for both', () => {
    const v4u = decodeUpdate(load('update-bird2-ipv4.hex'));
    assert.deepEqual(v4u.attributes, [
      { kind: 'origin', origin: Origin.Igp },
      { kind: 'asPath', segments: [{ type: AsSegmentType.Sequence, asns: [4200000001] }] },
      { kind: 'nextHop', nextHop: '192.0.2.1' },
      { kind: 'med', med: 10 },
      { kind: 'communities', communities: [WellKnownCommunity.GracefulShutdown] },
      { kind: 'largeCommunities', largeCommunities: [{ global: 4200000001, local1: 1, local2: 2 }] },
    ]);
    assert.deepEqual(v4u.nlri, [v4('198.51.100.0', 24), v4('203.0.113.0', 25)]);
    const v6u = decodeUpdate(load('update-bird2-ipv6.hex'));
    const reach = v6u.attributes[0];
    assert.equal(reach?.kind, 'mpReach');
    assert.equal(reach.nextHops[0], '2001:db8::1');
    assert.match(reach.nextHops[1] ?? '', /^fe80::/);
    assert.deepEqual(reach.nlri, [v6('2001:db8:100::', 48), v6('2001:db8:200::', 64)]);
    assert.deepEqual(routeChanges(v6u), { announced: [v6('2001:db8:100::', 48), v6('2001:db8:200::', 64)], withdrawn: [] });
    assert.deepEqual(endOfRib(decodeUpdate(load('update-bird2-eor-ipv4.hex'))), { afi: 1, safi: 1 });
    assert.deepEqual(endOfRib(decodeUpdate(load('update-bird2-eor-ipv6.hex'))), { afi: 2, safi: 1 });
    assert.equal(endOfRib(v4u), undefined);
    assert.deepEqual(encode(endOfRibMessage(1, 1), FOUR), load('update-bird2-eor-ipv4.hex'));
    assert.deepEqual(encode(endOfRibMessage(2, 1), FOUR), load('update-bird2-eor-ipv6.hex'));
  });

  test('GoBGP UPDATEs: IPv4 route and an IPv6 route with one next hop', () => {
    const v4u = decodeUpdate(load('update-gobgp-ipv4.hex'));
    assert.deepEqual(v4u.nlri, [v4('198.51.100.0', 24)]);
    assert.deepEqual(v4u.attributes.find((a) => a.kind === 'asPath'), { kind: 'asPath', segments: [{ type: AsSegmentType.Sequence, asns: [65001] }] });
    const v6u = decodeUpdate(load('update-gobgp-ipv6.hex'));
    assert.deepEqual(v6u.attributes.find((a) => a.kind === 'mpReach'), { kind: 'mpReach', afi: 2, safi: 1, nextHops: ['2001:db8::1'], nlri: [v6('2001:db8:100::', 48)] });
  });

  test('BIRD 2: AS 4200000001 behind AS_TRANS, both families, GR, extended message, unknown ones kept raw', () => {
    const open = decodeOk(load('open-bird2.hex')) as OpenMessage;
    assert.equal(open.type, MessageType.Open);
    assert.equal(open.version, 4);
    assert.equal(open.myAS, AS_TRANS);
    assert.equal(peerAsn(open), 4200000001);
    assert.equal(open.holdTime, 90);
    assert.equal(open.bgpIdentifier, '192.0.2.1');
    const kinds = open.capabilities.map((c) => c.kind);
    for (const k of ['routeRefresh', 'extendedMessage', 'gracefulRestart', 'fourOctetAS'] as const) assert.ok(kinds.includes(k), k);
    assert.deepEqual(open.capabilities.filter((c) => c.kind === 'multiprotocol'), [
      { kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'multiprotocol', afi: 2, safi: 1 },
    ]);
    assert.deepEqual(open.capabilities.find((c) => c.kind === 'gracefulRestart'), {
      kind: 'gracefulRestart', flags: 0, restartTime: 120, families: [{ afi: 1, safi: 1, flags: 0 }, { afi: 2, safi: 1, flags: 0 }],
    });
    // enhanced route refresh (70) and long-lived graceful restart (71) are not modeled
    assert.deepEqual(open.capabilities.filter((c) => c.kind === 'raw').map((c) => c.code), [70, 71]);
  });

  test('GoBGP: AS 65001, both families, GR, hostname and extended next hop kept raw', () => {
    const open = decodeOk(load('open-gobgp.hex')) as OpenMessage;
    assert.equal(open.version, 4);
    assert.equal(open.myAS, 65001);
    assert.equal(peerAsn(open), 65001);
    assert.equal(open.bgpIdentifier, '192.0.2.1');
    const kinds = open.capabilities.map((c) => c.kind);
    for (const k of ['routeRefresh', 'gracefulRestart', 'fourOctetAS'] as const) assert.ok(kinds.includes(k), k);
    assert.equal(kinds.filter((k) => k === 'multiprotocol').length, 2);
    assert.deepEqual(open.capabilities.filter((c) => c.kind === 'raw').map((c) => c.code), [73, 5]);
  });
});

// ---------------------------------------------------------------------------------------------------

describe('header and message errors', () => {
  test('a bad marker is connection not synchronized (1/1)', () => {
    const b = Buffer.from(KEEPALIVE);
    b[3] = 0xfe;
    assert.deepEqual(decodeError(b), [1, 1, '']);
  });

  test('a length field that disagrees with the message, or is out of bounds, is bad message length (1/2) with the length as data', () => {
    assert.deepEqual(decodeError(Buffer.concat([KEEPALIVE, Buffer.from([0])])), [1, 2, '0013']);
    assert.deepEqual(decodeError(bytes(MARKER, '0012', '04')), [1, 2, '0012']);
    assert.deepEqual(decodeError(bytes(MARKER, '0014', '04', '00')), [1, 2, '0014'], 'KEEPALIVE is exactly 19');
    assert.deepEqual(decodeError(bytes(MARKER, '0018', '05', '0001000100')), [1, 2, '0018'], 'ROUTE-REFRESH is exactly 23');
    assert.deepEqual(decodeError(bytes(MARKER, '0014', '03', '06')), [1, 2, '0014'], 'NOTIFICATION needs code and subcode');
    assert.deepEqual(decodeError(bytes(MARKER, '0016', '02', '000000')), [1, 2, '0016'], 'UPDATE needs both length fields');
    assert.deepEqual(decodeError(bytes(MARKER, '001c', '01', '04fde9005ac0000201')), [1, 2, '001c'], 'OPEN is at least 29');
    assert.deepEqual(decodeError(bytes('ff'.repeat(10))), [1, 2, '000a'], 'shorter than a header');
  });

  test('messages over 4096 bytes need extended messages, and OPEN never may be longer', () => {
    const big = Buffer.alloc(5000);
    bytes(MARKER, '1388', '02', '0000', '0000').copy(big);
    for (let o = 23; o + 5 <= big.length; o += 5) bytes('20', 'c0000201').copy(big, o);
    assert.deepEqual(decodeError(big, FOUR), [1, 2, '1388']);
    assert.equal(decodeOk(big, { ...FOUR, extendedMessages: true }).type, MessageType.Update);
    // an OPEN of 4271 bytes (RFC 9072 form) is too long even with extended messages (RFC 8654 §4)
    const caps = Buffer.concat(Array.from({ length: 21 }, () => Buffer.concat([bytes('c8', 'c8'), Buffer.alloc(200)])));
    const body = Buffer.concat([bytes('04', 'fde9', '005a', 'c0000201', 'ff', 'ff', (caps.length + 3).toString(16).padStart(4, '0'), '02', caps.length.toString(16).padStart(4, '0')), caps]);
    const bigOpen = Buffer.concat([bytes(MARKER, (19 + body.length).toString(16).padStart(4, '0'), '01'), body]);
    assert.deepEqual(decodeError(bigOpen, { ...FOUR, extendedMessages: true }), [1, 2, (19 + body.length).toString(16)]);
  });

  test('an unknown message type is bad message type (1/3) with the type as data', () => {
    assert.deepEqual(decodeError(bytes(MARKER, '0013', '06')), [1, 3, '06']);
  });

  test('encode refuses what the session cannot carry', () => {
    const big: UpdateMessage = { type: MessageType.Update, withdrawn: [], attributes: [], nlri: Array.from({ length: 1100 }, (_, i) => v4(`10.${i >> 8}.${i & 255}.0`, 24)) };
    assert.throws(() => encode(big, FOUR), /exceeds 4096/);
    assert.equal(encode(big, { ...FOUR, extendedMessages: true }).length, UPDATE_OVERHEAD + 4400);
    assert.throws(() => encode({ ...OPEN_MSG, capabilities: Array.from({ length: 30 }, () => ({ kind: 'raw', code: 200, data: Buffer.alloc(200) }) as const) }, { ...FOUR, extendedMessages: true }), /exceeds 4096/);
    assert.throws(() => encode({ ...UPDATE_V4_MSG, nlri: [v4('198.51.100.1', 24)] }, FOUR), /host bits/);
    assert.throws(() => encode({ ...UPDATE_V4_MSG, nlri: [v6('2001:db8::', 32)] }, FOUR), /AFI 2, expected 1/);
    assert.throws(() => encode({ ...UPDATE_V4_MSG, attributes: [...UPDATE_V4_MSG.attributes, { kind: 'origin', origin: 0 }] }, FOUR), /twice/);
  });
});

describe('OPEN errors and forms', () => {
  /** OPEN bytes with fields replaced. */
  function open(o: { version?: string; myAS?: string; hold?: string; id?: string; params?: string }): Buffer {
    const params = o.params ?? '';
    const body = bytes(o.version ?? '04', o.myAS ?? 'fde9', o.hold ?? '005a', o.id ?? 'c0000201', (params.replace(/\s/g, '').length / 2).toString(16).padStart(2, '0'), params);
    return Buffer.concat([bytes(MARKER, (19 + body.length).toString(16).padStart(4, '0'), '01'), body]);
  }

  test('version other than 4 is 2/1 with our version as data', () => {
    assert.deepEqual(decodeError(open({ version: '03' })), [2, 1, '0004']);
  });
  test('AS 0 is bad peer AS (2/2), also in the four-octet capability', () => {
    assert.deepEqual(decodeError(open({ myAS: '0000' })), [2, 2, '']);
    assert.deepEqual(decodeError(open({ params: '02 06 41 04 00000000' })), [2, 2, '']);
  });
  test('BGP identifier 0.0.0.0 is 2/3', () => {
    assert.deepEqual(decodeError(open({ id: '00000000' })), [2, 3, '']);
  });
  test('an optional parameter other than capabilities is 2/4', () => {
    assert.deepEqual(decodeError(open({ params: '01 02 0000' })), [2, 4, '']);
  });
  test('hold time 1 or 2 is unacceptable (2/6); 0 and 3 are fine', () => {
    assert.deepEqual(decodeError(open({ hold: '0001' })), [2, 6, '']);
    assert.deepEqual(decodeError(open({ hold: '0002' })), [2, 6, '']);
    assert.equal(decodeOk(open({ hold: '0000' })).type, MessageType.Open);
    assert.equal(decodeOk(open({ hold: '0003' })).type, MessageType.Open);
  });
  test('malformed capability framing is 2/0 (RFC 4271 §6.2: recognized parameter, malformed)', () => {
    assert.deepEqual(decodeError(open({ params: '02 03 41 04 00' })), [2, 0, '']);
    assert.deepEqual(decodeError(open({ params: '02 08 41 04 0000fde9' })), [2, 0, '']);
  });
  test('a modeled capability with unexpected bytes stays raw and re-encodes exactly', () => {
    const wire = open({ params: '02 0d 01 04 0001 07 01 02 01 00 41 02 fde9' });
    const m = decodeOk(wire) as OpenMessage;
    assert.deepEqual(m.capabilities.map((c) => c.kind), ['raw', 'raw', 'raw']);
    assert.deepEqual(encode(m, FOUR), wire);
  });
  test('one capability per parameter is kept as capabilityGroups', () => {
    const wire = open({ params: '02 02 02 00  02 06 41 04 0000fde9  02 00' });
    const m = decodeOk(wire) as OpenMessage;
    assert.deepEqual(m.capabilityGroups, [1, 1, 0]);
    assert.deepEqual(encode(m, FOUR), wire);
  });
  test('RFC 9072 extended optional parameters decode, and re-encode in the same form', () => {
    const wire = open({ params: 'ff 0009  02 0006 41 04 0000fde9' });
    wire[28] = 0xff; // Non-Ext OP Len is 255 in this form
    const m = decodeOk(wire) as OpenMessage;
    assert.deepEqual(m.capabilities, [{ kind: 'fourOctetAS', asn: 65001 }]);
    assert.equal(m.extendedParameters, true);
    assert.deepEqual(encode(m, FOUR), wire);
  });
  test('capabilities over 255 bytes are sent in the RFC 9072 form', () => {
    const caps = Array.from({ length: 3 }, (_, i) => ({ kind: 'raw', code: 200 + i, data: Buffer.alloc(100, i) }) as const);
    const wire = encode({ ...OPEN_MSG, capabilities: caps }, FOUR);
    assert.equal(wire[28], 0xff, 'Non-Ext OP Len');
    assert.equal(wire[29], 0xff, 'Non-Ext OP Type');
    assert.equal(wire.readUInt16BE(30), 3 + 3 * 102, 'extended parameters length');
    assert.deepEqual(decodeOk(wire), { ...OPEN_MSG, capabilities: caps });
  });
});

// ---------------------------------------------------------------------------------------------------

const ORIGIN_IGP = '40 01 01 00';
const AS_PATH_64512 = '40 02 06 02 01 0000fc00';
const NEXT_HOP = '40 03 04 c0000201';
const MANDATORY = `${ORIGIN_IGP} ${AS_PATH_64512} ${NEXT_HOP}`;
const NLRI = '18 c63364';

describe('UPDATE errors (RFC 4271 §6.3, RFC 7606)', () => {
  function issues(u: DecodedUpdate): string[] {
    return u.errors.map((e) => `${e.notification.code}/${e.notification.subcode} ${e.action}`);
  }

  test('withdrawn routes or attribute lengths overrunning the message reset the session (3/1)', () => {
    assert.deepEqual(decodeError(update('0005', '0000')), [3, 1, '']);
    assert.deepEqual(decodeError(update('0000', '0010', ORIGIN_IGP)), [3, 1, '']);
  });

  test('malformed NLRI or withdrawn routes reset the session (3/10)', () => {
    assert.deepEqual(decodeError(updateWith(MANDATORY, '21 c0000201 00')), [3, 10, ''], 'length 33');
    assert.deepEqual(decodeError(updateWith(MANDATORY, '18 c633')), [3, 10, ''], 'truncated prefix');
    assert.deepEqual(decodeError(update('0002', '18 c6', '0000')), [3, 10, '']);
  });

  test('host bits in NLRI are ignored (the trailing bits are irrelevant)', () => {
    assert.deepEqual(decodeUpdate(updateWith(MANDATORY, '17 c63365')).nlri, [v4('198.51.100.0', 23)]);
  });

  test('invalid ORIGIN (3/6) is treat-as-withdraw: the UPDATE decodes, its NLRI become withdrawals', () => {
    const u = decodeUpdate(updateWith(`40 01 01 03 ${AS_PATH_64512} ${NEXT_HOP}`, NLRI));
    assert.equal(u.treatAsWithdraw, true);
    assert.deepEqual(issues(u), ['3/6 treat-as-withdraw']);
    assert.equal(u.errors[0]?.notification.data.toString('hex'), '40010103', 'data is the attribute');
    assert.deepEqual(routeChanges(u), { announced: [], withdrawn: [v4('198.51.100.0', 24)] });
  });

  test('ORIGIN of the wrong length is an attribute length error (3/5), treat-as-withdraw', () => {
    assert.deepEqual(issues(decodeUpdate(updateWith(`40 01 02 0000 ${AS_PATH_64512} ${NEXT_HOP}`, NLRI))), ['3/5 treat-as-withdraw']);
  });

  test('malformed AS_PATH (3/11) is treat-as-withdraw: empty segment, unknown type, overrun, AS 0', () => {
    for (const asPath of ['40 02 02 02 00', '40 02 06 05 01 0000fc00', '40 02 06 02 02 0000fc00', '40 02 06 02 01 00000000', '40 02 01 02']) {
      const u = decodeUpdate(updateWith(`${ORIGIN_IGP} ${asPath} ${NEXT_HOP}`, NLRI));
      assert.deepEqual(issues(u), ['3/11 treat-as-withdraw'], asPath);
    }
  });

  test('invalid NEXT_HOP (3/8) is treat-as-withdraw', () => {
    for (const nh of ['00000000', 'e0000001', 'ffffffff']) {
      assert.deepEqual(issues(decodeUpdate(updateWith(`${ORIGIN_IGP} ${AS_PATH_64512} 40 03 04 ${nh}`, NLRI))), ['3/8 treat-as-withdraw'], nh);
    }
  });

  test('wrong flags on a known attribute (3/4) take that attribute\'s handling', () => {
    assert.deepEqual(issues(decodeUpdate(updateWith(`c0 01 01 00 ${AS_PATH_64512} ${NEXT_HOP}`, NLRI))), ['3/4 treat-as-withdraw']);
    const u = decodeUpdate(updateWith(`${MANDATORY} 80 06 00`, NLRI));
    assert.deepEqual(issues(u), ['3/4 attribute-discard'], 'ATOMIC_AGGREGATE flags');
    assert.equal(u.treatAsWithdraw, false);
    assert.deepEqual(decodeError(updateWith(`${MANDATORY} c0 0f 03 000101`, NLRI)).slice(0, 2), [3, 4], 'MP_UNREACH flags reset');
  });

  test('missing well-known attributes (3/3) are treat-as-withdraw, only when something is announced', () => {
    const u = decodeUpdate(updateWith(`${ORIGIN_IGP} ${AS_PATH_64512}`, NLRI));
    assert.deepEqual(issues(u), ['3/3 treat-as-withdraw']);
    assert.equal(u.errors[0]?.notification.data.toString('hex'), '03');
    assert.deepEqual(issues(decodeUpdate(update('0004', '18 c63364', '0000'))), [], 'a pure withdrawal needs no attributes');
    assert.deepEqual(issues(decodeUpdate(updateWith('80 0f 03 000201'))), [], 'MP_UNREACH alone (End-of-RIB) needs none');
    const mp = decodeUpdate(updateWith('80 0e 0e 0002 01 04 c0000201 00 20 20010db8'));
    assert.deepEqual(issues(mp), ['3/3 treat-as-withdraw', '3/3 treat-as-withdraw'], 'MP_REACH needs ORIGIN and AS_PATH, not NEXT_HOP');
  });

  test('a duplicate attribute is discarded (the first wins) but duplicate MP attributes reset', () => {
    const u = decodeUpdate(updateWith(`${MANDATORY} c0 08 04 ffff0000 c0 08 04 ffffff01`, NLRI));
    assert.deepEqual(issues(u), ['3/1 attribute-discard']);
    assert.equal(u.treatAsWithdraw, false);
    assert.deepEqual(u.attributes.find((a) => a.kind === 'communities'), { kind: 'communities', communities: [WellKnownCommunity.GracefulShutdown] });
    assert.deepEqual(decodeError(updateWith('80 0f 03 000201 80 0f 03 000201')).slice(0, 2), [3, 1]);
  });

  test('malformed MP_REACH / MP_UNREACH reset the session', () => {
    assert.deepEqual(decodeError(updateWith(`${ORIGIN_IGP} ${AS_PATH_64512} 80 0e 0a 0002 01 05 0000000000 00`)).slice(0, 2), [3, 9], 'next hop length 5');
    assert.deepEqual(decodeError(updateWith(`${ORIGIN_IGP} ${AS_PATH_64512} 80 0e 03 000201`)).slice(0, 2), [3, 9], 'shorter than its header');
    assert.deepEqual(decodeError(updateWith('80 0f 02 0002')).slice(0, 2), [3, 9]);
    assert.deepEqual(decodeError(updateWith('80 0f 05 000201 81 00')).slice(0, 2), [3, 10], 'prefix length 129');
  });

  test('MP attributes of families we do not parse are kept raw', () => {
    const u = decodeUpdate(updateWith(`${ORIGIN_IGP} ${AS_PATH_64512} 90 0e 000a 0019 46 04 c0000201 00 00`));
    assert.deepEqual(issues(u), []);
    assert.deepEqual(u.attributes[2], { kind: 'raw', code: 14, flags: 0x90, data: bytes('0019 46 04 c0000201 00 00') });
  });

  test('an unrecognized well-known attribute resets (3/2); unknown optional ones are kept raw', () => {
    assert.deepEqual(decodeError(updateWith(`${MANDATORY} 40 63 01 00`, NLRI)), [3, 2, '40630100']);
    const u = decodeUpdate(updateWith(`${MANDATORY} c0 63 02 abcd 80 64 01 01`, NLRI));
    assert.deepEqual(u.attributes.slice(3), [
      { kind: 'raw', code: 99, flags: 0xc0, data: bytes('abcd') },
      { kind: 'raw', code: 100, flags: 0x80, data: bytes('01') },
    ]);
    const along = passAlong(u.attributes);
    assert.deepEqual(along.slice(3), [{ kind: 'raw', code: 99, flags: 0xe0, data: bytes('abcd') }], 'transitive one gets Partial, non-transitive one dropped');
    assert.ok(encode({ ...u, attributes: along }, FOUR).toString('hex').includes('e06302abcd'));
  });

  test('attribute-discard: ATOMIC_AGGREGATE, AGGREGATOR, AS4 attributes of the wrong shape are dropped without withdrawing', () => {
    const mandatoryTwo = `${ORIGIN_IGP} 40 02 04 02 01 fc00 ${NEXT_HOP}`;
    const u = decodeUpdate(updateWith(`${mandatoryTwo} 40 06 01 00 c0 07 06 fde9c0000201 c0 11 02 0200 c0 12 04 00000001`, NLRI), TWO);
    assert.deepEqual(issues(u), ['3/5 attribute-discard', '3/9 attribute-discard', '3/5 attribute-discard']);
    assert.equal(u.treatAsWithdraw, false);
    assert.deepEqual(u.attributes.map((a) => a.kind), ['origin', 'asPath', 'nextHop', 'aggregator'], 'the well-formed 2-octet AGGREGATOR stays');
    const ok = decodeUpdate(updateWith(`${MANDATORY} 40 06 01 00 c0 07 08 0000fde9c0000201`, NLRI));
    assert.deepEqual(issues(ok), ['3/5 attribute-discard']);
    assert.equal(ok.treatAsWithdraw, false);
    assert.deepEqual(ok.attributes.at(-1), { kind: 'aggregator', asn: 65001, address: '192.0.2.1' });
  });

  test('treat-as-withdraw for COMMUNITIES, LARGE_COMMUNITIES, MED, LOCAL_PREF of the wrong length', () => {
    for (const bad of ['c0 08 05 ffff000001', 'c0 20 0d 00000000 00000000 00000000 00', '80 04 03 000000', '40 05 00', 'c0 08 00']) {
      assert.deepEqual(issues(decodeUpdate(updateWith(`${MANDATORY} ${bad}`, NLRI))), ['3/5 treat-as-withdraw'], bad);
    }
  });

  test('LOCAL_PREF from an eBGP peer is discarded, even when malformed', () => {
    const u = decodeUpdate(updateWith(`${MANDATORY} 40 05 04 00000064`, NLRI), { ...FOUR, ebgp: true });
    assert.deepEqual(issues(u), []);
    assert.equal(u.attributes.some((a) => a.kind === 'localPref'), false);
    assert.deepEqual(issues(decodeUpdate(updateWith(`${MANDATORY} 40 05 00`, NLRI), { ...FOUR, ebgp: true })), []);
  });

  test('confederation segments from an eBGP peer are a malformed AS_PATH (treat-as-withdraw)', () => {
    const confed = `${ORIGIN_IGP} 40 02 06 03 01 0000fc00 ${NEXT_HOP}`;
    assert.deepEqual(issues(decodeUpdate(updateWith(confed, NLRI), { ...FOUR, ebgp: true })), ['3/11 treat-as-withdraw']);
    assert.deepEqual(issues(decodeUpdate(updateWith(confed, NLRI))), [], 'fine from an internal peer');
  });

  test('AS4_PATH and AS4_AGGREGATOR from a 4-octet peer are discarded', () => {
    const u = decodeUpdate(updateWith(`${MANDATORY} c0 11 06 0201 0000fde9 c0 12 08 0000fde9 c0000201`, NLRI));
    assert.deepEqual(issues(u), []);
    assert.deepEqual(u.attributes.map((a) => a.kind), ['origin', 'asPath', 'nextHop']);
  });

  test('an attribute overrunning the attribute field is treat-as-withdraw (3/1); NLRI is still found', () => {
    const u = decodeUpdate(update('0000', '0009', `${ORIGIN_IGP} 40 02 09 0201`, NLRI));
    assert.deepEqual(issues(u), ['3/1 treat-as-withdraw']);
    assert.deepEqual(routeChanges(u), { announced: [], withdrawn: [v4('198.51.100.0', 24)] });
    const h = decodeUpdate(update('0000', '0006', `${ORIGIN_IGP} 40 02`, NLRI));
    assert.deepEqual(issues(h), ['3/1 treat-as-withdraw'], 'truncated header');
  });

  test('extended-length flag on a short attribute is accepted', () => {
    const u = decodeUpdate(updateWith(`50 01 0001 00 ${AS_PATH_64512} ${NEXT_HOP}`, NLRI));
    assert.deepEqual(issues(u), []);
    assert.deepEqual(u.attributes[0], { kind: 'origin', origin: 0 });
  });
});

// ---------------------------------------------------------------------------------------------------

describe('AS4 helpers (RFC 6793 §4.2)', () => {
  const seq = (...asns: number[]) => ({ type: AsSegmentType.Sequence, asns });
  const set = (...asns: number[]) => ({ type: AsSegmentType.Set, asns });
  const confed = (...asns: number[]) => ({ type: AsSegmentType.ConfedSequence, asns });

  test('nothing changes when every ASN fits two octets', () => {
    const attrs: PathAttribute[] = [{ kind: 'asPath', segments: [seq(64512, 65001)] }, { kind: 'aggregator', asn: 65001, address: '192.0.2.1' }];
    assert.deepEqual(forTwoOctetPeer(attrs), attrs);
  });

  test('AGGREGATOR with a 4-octet ASN becomes AS_TRANS + AS4_AGGREGATOR, in type order', () => {
    const out = forTwoOctetPeer([
      { kind: 'origin', origin: 0 },
      { kind: 'asPath', segments: [confed(65010), seq(4200000001)] },
      { kind: 'aggregator', asn: 4200000002, address: '192.0.2.9' },
      { kind: 'largeCommunities', largeCommunities: [{ global: 1, local1: 2, local2: 3 }] },
    ]);
    assert.deepEqual(out.map((a) => a.kind), ['origin', 'asPath', 'aggregator', 'as4Path', 'as4Aggregator', 'largeCommunities']);
    assert.deepEqual(out[1], { kind: 'asPath', segments: [confed(65010), seq(AS_TRANS)] });
    assert.deepEqual(out[3], { kind: 'as4Path', segments: [seq(4200000001)] }, 'no confederation segments in AS4_PATH');
    assert.deepEqual(out[2], { kind: 'aggregator', asn: AS_TRANS, address: '192.0.2.9' });
    assert.deepEqual(mergeAs4(out).filter((a) => a.kind === 'asPath' || a.kind === 'aggregator'), [
      { kind: 'asPath', segments: [confed(65010), seq(4200000001)] },
      { kind: 'aggregator', asn: 4200000002, address: '192.0.2.9' },
    ]);
  });

  test('ASNs an OLD speaker prepended are taken from the front of AS_PATH', () => {
    const merged = mergeAs4([
      { kind: 'asPath', segments: [seq(65001, 65002, AS_TRANS, 64512), set(65003)] },
      { kind: 'as4Path', segments: [seq(4200000001, 64512), set(65003)] },
    ]);
    assert.deepEqual(merged, [{ kind: 'asPath', segments: [seq(65001, 65002, 4200000001, 64512), set(65003)] }]);
  });

  test('an AS4_PATH longer than AS_PATH is ignored; a non-AS_TRANS AGGREGATOR voids both AS4 attributes', () => {
    assert.deepEqual(mergeAs4([{ kind: 'asPath', segments: [seq(AS_TRANS)] }, { kind: 'as4Path', segments: [seq(4200000001, 64512)] }]), [
      { kind: 'asPath', segments: [seq(AS_TRANS)] },
    ]);
    assert.deepEqual(mergeAs4([
      { kind: 'asPath', segments: [seq(AS_TRANS)] },
      { kind: 'aggregator', asn: 65001, address: '192.0.2.1' },
      { kind: 'as4Path', segments: [seq(4200000001)] },
      { kind: 'as4Aggregator', asn: 4200000001, address: '192.0.2.1' },
    ]), [{ kind: 'asPath', segments: [seq(AS_TRANS)] }, { kind: 'aggregator', asn: 65001, address: '192.0.2.1' }]);
  });

  test('path length counts an AS_SET as one and confederation segments as zero', () => {
    assert.equal(asPathLength([confed(1, 2), seq(3, 4, 5), set(6, 7)]), 4);
  });
});

// ---------------------------------------------------------------------------------------------------

describe('size helpers for UPDATE packing', () => {
  test('UPDATE size = overhead + attribute bytes + NLRI bytes', () => {
    const attrsLen = UPDATE_V4_MSG.attributes.reduce((n, a) => n + attributeBytes(a, FOUR), 0);
    const nlriLen = UPDATE_V4_MSG.nlri.reduce((n, p) => n + nlriBytes(p), 0);
    assert.equal(encode(UPDATE_V4_MSG, FOUR).length, UPDATE_OVERHEAD + attrsLen + nlriLen);
    assert.equal(nlriBytes(v4('0.0.0.0', 0)), 1);
    assert.equal(nlriBytes(v4('192.0.2.0', 25)), 5);
    assert.equal(nlriBytes(v6('2001:db8::', 128)), 17);
  });

  test('at least 800 IPv4 /32s fit one 4096-byte UPDATE with the usual attributes', () => {
    const attrs = UPDATE_V4_MSG.attributes;
    const budget = maxMessageLength(FOUR) - UPDATE_OVERHEAD - attrs.reduce((n, a) => n + attributeBytes(a, FOUR), 0);
    const count = Math.floor(budget / nlriBytes(v4('192.0.2.1', 32)));
    assert.ok(count >= 800, `only ${count}`);
    const nlri = Array.from({ length: count }, (_, i) => v4(`10.0.${i >> 8}.${i & 255}`, 32));
    assert.ok(encode({ ...UPDATE_V4_MSG, nlri }, FOUR).length <= 4096);
    assert.throws(() => encode({ ...UPDATE_V4_MSG, nlri: [...nlri, v4('10.9.9.9', 32)] }, FOUR), /exceeds/);
  });

  test('MP overheads bound the MP attributes, exactly once they use the two-byte length', () => {
    const hops = ['2001:db8::1', 'fe80::1'];
    for (const n of [0, 1, 10, 20, 100]) {
      const nlri = Array.from({ length: n }, (_, i) => v6(`2001:db8:${i.toString(16)}::`, 48));
      const prefixBytes = nlri.reduce((s, p) => s + nlriBytes(p), 0);
      const reach = attributeBytes({ kind: 'mpReach', afi: 2, safi: 1, nextHops: hops, nlri }, FOUR);
      const unreach = attributeBytes({ kind: 'mpUnreach', afi: 2, safi: 1, withdrawn: nlri }, FOUR);
      assert.ok(reach <= mpReachOverhead(hops) + prefixBytes);
      assert.ok(unreach <= MP_UNREACH_OVERHEAD + prefixBytes);
      if (reach > 259) assert.equal(reach, mpReachOverhead(hops) + prefixBytes);
      if (unreach > 259) assert.equal(unreach, MP_UNREACH_OVERHEAD + prefixBytes);
    }
  });
});

// ---------------------------------------------------------------------------------------------------

describe('MessageFramer', () => {
  const stream = Buffer.concat([OPEN, KEEPALIVE, UPDATE_V4, UPDATE_V6, NOTIFICATION_SHUTDOWN]);
  const messages = [OPEN, KEEPALIVE, UPDATE_V4, UPDATE_V6, NOTIFICATION_SHUTDOWN].map((b) => b.toString('hex'));

  function feed(f: MessageFramer, chunks: Buffer[]): string[] {
    const out: string[] = [];
    for (const c of chunks) {
      const r = f.push(c);
      if (!r.ok) assert.fail(r.error.message);
      out.push(...r.value.map((m) => m.toString('hex')));
    }
    return out;
  }

  test('one chunk with several messages: all of them, as views of the chunk', () => {
    const f = new MessageFramer();
    const r = f.push(stream);
    assert.ok(r.ok);
    assert.deepEqual(r.value.map((m) => m.toString('hex')), messages);
    for (const m of r.value) assert.equal(m.buffer, stream.buffer, 'no copy');
    assert.equal(f.bufferedBytes, 0);
  });

  test('split at every byte boundary, and byte by byte', () => {
    for (let i = 0; i <= stream.length; i++) {
      assert.deepEqual(feed(new MessageFramer(), [stream.subarray(0, i), stream.subarray(i)]), messages, `split at ${i}`);
    }
    const f = new MessageFramer();
    assert.deepEqual(feed(f, [...stream].map((x) => Buffer.from([x]))), messages);
    assert.equal(f.bufferedBytes, 0);
  });

  test('a bad marker is reported once the header is in, before any body', () => {
    const f = new MessageFramer();
    const bad = Buffer.from(OPEN);
    bad[0] = 0;
    const r1 = f.push(bad.subarray(0, 18));
    assert.deepEqual(r1.ok && r1.value, []);
    const r2 = f.push(bad.subarray(18, 19));
    assert.ok(!r2.ok);
    assert.deepEqual([r2.error.notification.code, r2.error.notification.subcode], [1, 1]);
    const r3 = f.push(KEEPALIVE);
    assert.ok(!r3.ok, 'the stream stays failed');
  });

  test('length bounds: under 19, over 4096, and over 4096 with extended messages', () => {
    const header = (len: number): Buffer => bytes(MARKER, len.toString(16).padStart(4, '0'), '02');
    for (const len of [0, 18, 4097, 65535]) {
      const r = new MessageFramer().push(header(len));
      assert.ok(!r.ok, String(len));
      assert.deepEqual([r.error.notification.code, r.error.notification.subcode, r.error.notification.data.toString('hex')], [1, 2, len.toString(16).padStart(4, '0')]);
    }
    const f = new MessageFramer({ extendedMessages: true });
    const r = f.push(header(65535));
    assert.deepEqual(r.ok && r.value, []);
    assert.equal(f.bufferedBytes, 19);
    const later = new MessageFramer();
    later.setExtendedMessages(true);
    assert.ok(later.push(header(5000)).ok);
  });
});
