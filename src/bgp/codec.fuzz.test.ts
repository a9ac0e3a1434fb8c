/**
 * Property tests for the BGP codec: round trips for every message type over generated messages, and
 * fuzzing of decodeMessage() and the framer with arbitrary bytes and with mutations of valid messages.
 * Decoders must return a result, never throw, and every error must carry a NOTIFICATION code/subcode
 * RFC 4271 §6 defines for that situation. Whatever decodes must re-encode and decode to the same thing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { attributeBytes, forTwoOctetPeer, mergeAs4, nlriBytes } from './attributes.ts';
import { UPDATE_OVERHEAD, decodeMessage, encode } from './codec.ts';
import { MessageFramer } from './framer.ts';
import {
  AttrCode, AttrFlag, BgpError, CapabilityCode, MessageType,
  type AfiValue, type AsPathSegment, type Capability, type CodecContext, type DecodeContext, type DecodeResult,
  type DecodedMessage, type Message, type OpenMessage, type PathAttribute, type Prefix, type UpdateMessage,
} from './message.ts';

const RUNS = process.env.CI ? 100_000 : 10_000;
const ROUND_TRIPS = process.env.CI ? 20_000 : 2_000;

/** NOTIFICATION code/subcode pairs a decode error may carry (RFC 4271 §6.1–6.3; 2/0 from §6.2). */
const ALLOWED = new Set([
  '1/1', '1/2', '1/3',
  '2/0', '2/1', '2/2', '2/3', '2/4', '2/6',
  '3/1', '3/2', '3/3', '3/4', '3/5', '3/6', '3/8', '3/9', '3/10', '3/11',
]);

function checkError(e: BgpError): void {
  assert.ok(e instanceof BgpError, 'only BgpError');
  assert.equal(e.code, 'BG_ERR_BGP');
  const key = `${e.notification.code}/${e.notification.subcode}`;
  assert.ok(ALLOWED.has(key), `unexpected NOTIFICATION ${key}: ${e.message}`);
}

// ---------------------------------------------------------------------------------------------------
// Arbitraries. Addresses are rendered with ipaddr.js, independently of the codec's own formatting.

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const asn4 = fc.integer({ min: 1, max: 0xffffffff });
const asn2 = fc.integer({ min: 1, max: 0xffff });
const bytesArb = (maxLength: number): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength }).map((b) => Buffer.from(b));

const ipText = (b: number[]): string => {
  const a = ipaddr.fromByteArray(b);
  return a.kind() === 'ipv6' ? (a as ipaddr.IPv6).toRFC5952String() : a.toString();
};
const ipv4 = fc.array(u8, { minLength: 4, maxLength: 4 }).map(ipText);
const unicastV4 = fc.tuple(fc.integer({ min: 1, max: 223 }), fc.array(u8, { minLength: 3, maxLength: 3 })).map(([a, r]) => ipText([a, ...r]));
// IPv6 with runs of zero groups, so '::' compression is exercised
const ipv6 = fc.array(fc.oneof(fc.constant(0), u16), { minLength: 8, maxLength: 8 }).map((g) => ipText(g.flatMap((x) => [x >> 8, x & 0xff])));

function prefix(afi: AfiValue): fc.Arbitrary<Prefix> {
  const size = afi === 1 ? 4 : 16;
  const lengths = fc.oneof(fc.integer({ min: 0, max: size * 8 }), fc.constantFrom(...(afi === 1 ? [0, 8, 24, 32] : [0, 48, 64, 128])));
  return fc.tuple(fc.array(u8, { minLength: size, maxLength: size }), lengths).map(([b, length]) => {
    const masked = b.map((x, i) => {
      const keep = Math.max(0, Math.min(8, length - i * 8));
      return x & ((0xff << (8 - keep)) & 0xff);
    });
    return { afi, prefix: ipText(masked), length };
  });
}
const prefixes = (afi: AfiValue, maxLength = 20): fc.Arbitrary<Prefix[]> => fc.array(prefix(afi), { maxLength });

function segments(width: 2 | 4, confed: boolean): fc.Arbitrary<AsPathSegment[]> {
  const types = confed ? [1, 2, 3, 4] as const : [1, 2] as const;
  return fc.array(fc.record({ type: fc.constantFrom(...types), asns: fc.array(width === 2 ? asn2 : asn4, { minLength: 1, maxLength: 8 }) }, { noNullPrototype: true }), { maxLength: 4 });
}

const MODELED_ATTRS = new Set<number>(Object.values(AttrCode));
const rawAttribute: fc.Arbitrary<PathAttribute> = fc.record({
  code: fc.integer({ min: 0, max: 255 }).filter((c) => !MODELED_ATTRS.has(c)),
  flags: fc.record({ transitive: fc.boolean(), partial: fc.boolean(), ext: fc.boolean(), low: fc.integer({ min: 0, max: 15 }) }, { noNullPrototype: true }),
  data: bytesArb(300),
}, { noNullPrototype: true }).map(({ code, flags, data }) => ({
  kind: 'raw' as const, code, data,
  flags: AttrFlag.Optional | (flags.transitive ? AttrFlag.Transitive : 0) | (flags.partial ? AttrFlag.Partial : 0)
    | (flags.ext || data.length > 255 ? AttrFlag.ExtendedLength : 0) | flags.low,
}));

function attribute(ctx: CodecContext): fc.Arbitrary<PathAttribute> {
  const width = ctx.fourOctetAS ? 4 : 2;
  const afi = fc.constantFrom<AfiValue>(1, 2);
  const safi = fc.constantFrom(1 as const, 2 as const);
  const nextHops = fc.oneof(ipv4.map((a) => [a]), ipv6.map((a) => [a]), fc.tuple(ipv6, ipv6));
  const arbs: fc.Arbitrary<PathAttribute>[] = [
    fc.constantFrom(0 as const, 1 as const, 2 as const).map((origin) => ({ kind: 'origin', origin })),
    segments(width, true).map((s) => ({ kind: 'asPath', segments: s })),
    unicastV4.map((nextHop) => ({ kind: 'nextHop', nextHop })),
    u32.map((med) => ({ kind: 'med', med })),
    u32.map((localPref) => ({ kind: 'localPref', localPref })),
    fc.constant({ kind: 'atomicAggregate' }),
    fc.record({ asn: width === 2 ? asn2 : asn4, address: ipv4 }, { noNullPrototype: true }).map((r) => ({ kind: 'aggregator', ...r })),
    fc.array(u32, { minLength: 1, maxLength: 10 }).map((communities) => ({ kind: 'communities', communities })),
    fc.record({ afi, safi, nextHops }, { noNullPrototype: true }).chain((r) => prefixes(r.afi).map((nlri) => ({ kind: 'mpReach' as const, ...r, nlri }))),
    fc.record({ afi, safi }, { noNullPrototype: true }).chain((r) => prefixes(r.afi).map((withdrawn) => ({ kind: 'mpUnreach' as const, ...r, withdrawn }))),
    fc.array(fc.record({ global: u32, local1: u32, local2: u32 }, { noNullPrototype: true }), { minLength: 1, maxLength: 5 }).map((largeCommunities) => ({ kind: 'largeCommunities', largeCommunities })),
    rawAttribute,
  ];
  if (!ctx.fourOctetAS) {
    arbs.push(segments(4, false).map((s) => ({ kind: 'as4Path', segments: s })));
    arbs.push(fc.record({ asn: asn4, address: ipv4 }, { noNullPrototype: true }).map((r) => ({ kind: 'as4Aggregator', ...r })));
  }
  return fc.oneof(...arbs);
}

const codeOf = (a: PathAttribute): number => (a.kind === 'raw' ? a.code : {
  origin: 1, asPath: 2, nextHop: 3, med: 4, localPref: 5, atomicAggregate: 6, aggregator: 7, communities: 8,
  mpReach: 14, mpUnreach: 15, as4Path: 17, as4Aggregator: 18, largeCommunities: 32,
}[a.kind]);

/** UPDATEs that are valid as a whole: mandatory attributes present whenever something is announced. */
function updateArb(ctx: CodecContext): fc.Arbitrary<UpdateMessage> {
  return fc.record({
    withdrawn: prefixes(1),
    nlri: prefixes(1),
    attributes: fc.uniqueArray(attribute(ctx), { selector: codeOf, maxLength: 8 }),
    origin: fc.constantFrom(0 as const, 1 as const, 2 as const),
    nextHop: unicastV4,
  }, { noNullPrototype: true }).map(({ withdrawn, nlri, attributes, origin, nextHop }) => {
    const attrs = [...attributes];
    const has = (kind: PathAttribute['kind']): boolean => attrs.some((a) => a.kind === kind);
    if (nlri.length > 0 || has('mpReach')) {
      if (!has('origin')) attrs.push({ kind: 'origin', origin });
      if (!has('asPath')) attrs.push({ kind: 'asPath', segments: [] });
    }
    if (nlri.length > 0 && !has('nextHop')) attrs.push({ kind: 'nextHop', nextHop });
    return { type: MessageType.Update, withdrawn, attributes: attrs, nlri };
  });
}

const MODELED_CAPS = new Set<number>(Object.values(CapabilityCode));
const capability: fc.Arbitrary<Capability> = fc.oneof(
  fc.record({ afi: u16, safi: u8 }, { noNullPrototype: true }).map((r) => ({ kind: 'multiprotocol' as const, ...r })),
  fc.constant({ kind: 'routeRefresh' as const }),
  fc.constant({ kind: 'extendedMessage' as const }),
  asn4.map((asn) => ({ kind: 'fourOctetAS' as const, asn })),
  fc.record({
    flags: fc.integer({ min: 0, max: 15 }), restartTime: fc.integer({ min: 0, max: 4095 }),
    families: fc.array(fc.record({ afi: u16, safi: u8, flags: u8 }, { noNullPrototype: true }), { maxLength: 5 }),
  }, { noNullPrototype: true }).map((r) => ({ kind: 'gracefulRestart' as const, ...r })),
  fc.record({ code: u8.filter((c) => !MODELED_CAPS.has(c)), data: bytesArb(100) }, { noNullPrototype: true }).map((r) => ({ kind: 'raw' as const, ...r })),
);

const capabilityValueLength = (c: Capability): number => {
  switch (c.kind) {
    case 'multiprotocol': case 'fourOctetAS': return 4;
    case 'routeRefresh': case 'extendedMessage': return 0;
    case 'gracefulRestart': return 2 + 4 * c.families.length;
    case 'raw': return c.data.length;
  }
};

const openArb: fc.Arbitrary<OpenMessage> = fc.record({
  myAS: asn2,
  holdTime: fc.oneof(fc.constant(0), fc.integer({ min: 3, max: 0xffff })),
  bgpIdentifier: fc.integer({ min: 1, max: 0xffffffff }).map((n) => ipText([n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff])),
  capabilities: fc.array(fc.tuple(capability, fc.boolean()), { maxLength: 10 }),
  grouped: fc.boolean(),
  extendedParameters: fc.boolean(),
}, { noNullPrototype: true }).map(({ capabilities, grouped, extendedParameters, ...rest }) => {
  const groups: number[] = [];
  let n = 0;
  for (const [, cut] of capabilities) {
    n++;
    if (cut) { groups.push(n); n = 0; }
  }
  if (n > 0) groups.push(n);
  const m: OpenMessage = { type: MessageType.Open, version: 4, ...rest, capabilities: capabilities.map(([c]) => c) };
  return { ...m, ...(grouped ? { capabilityGroups: groups } : {}), ...(extendedParameters ? { extendedParameters: true as const } : {}) };
});

/** What decoding an OPEN gives back: default grouping and unneeded-or-needed RFC 9072 flags normalized away. */
function normalizeOpen(m: OpenMessage): OpenMessage {
  const groups = m.capabilityGroups ?? (m.capabilities.length === 0 ? [] : [m.capabilities.length]);
  const sizes: number[] = [];
  let i = 0;
  for (const g of groups) {
    sizes.push(m.capabilities.slice(i, i + g).reduce((s, c) => s + 2 + capabilityValueLength(c), 0));
    i += g;
  }
  const needed = sizes.some((s) => s > 255) || sizes.reduce((s, x) => s + 2 + x, 0) > 255;
  const isDefault = groups.length === (m.capabilities.length === 0 ? 0 : 1);
  const { capabilityGroups, extendedParameters, ...base } = m;
  return { ...base, ...(isDefault || !capabilityGroups ? {} : { capabilityGroups }), ...(extendedParameters && !needed ? { extendedParameters } : {}) };
}

const notificationArb: fc.Arbitrary<Message> = fc.record({ code: u8, subcode: u8, data: bytesArb(200) }, { noNullPrototype: true }).map((r) => ({ type: MessageType.Notification, ...r }));
const routeRefreshArb: fc.Arbitrary<Message> = fc.record({ afi: u16, subtype: u8, safi: u8 }, { noNullPrototype: true }).map((r) => ({ type: MessageType.RouteRefresh, ...r }));
const keepaliveArb: fc.Arbitrary<Message> = fc.constant({ type: MessageType.Keepalive });

const ctxArb = fc.record({ fourOctetAS: fc.boolean(), extendedMessages: fc.boolean(), ebgp: fc.boolean() }, { noNullPrototype: true });

/** Any valid message with the context it is encoded in (extended messages on, so nothing is too long). */
const messageWithCtx: fc.Arbitrary<{ msg: Message; ctx: CodecContext }> = fc.boolean().chain((fourOctetAS) => {
  const ctx = { fourOctetAS, extendedMessages: true };
  return fc.oneof(
    { weight: 6, arbitrary: updateArb(ctx) },
    { weight: 3, arbitrary: openArb },
    { weight: 1, arbitrary: notificationArb },
    { weight: 1, arbitrary: routeRefreshArb },
    { weight: 1, arbitrary: keepaliveArb },
  ).map((msg) => ({ msg, ctx }));
});

// ---------------------------------------------------------------------------------------------------

/** The message part of a decoded message (an UPDATE's error handling outcome aside). */
function messageOf(m: DecodedMessage): unknown {
  if (m.type !== MessageType.Update) return m;
  return { type: m.type, withdrawn: m.withdrawn, attributes: m.attributes, nlri: m.nlri };
}

/**
 * Checks one decode result: errors are from the list; a decoded message re-encodes in the same context
 * without throwing and decodes again to the same message.
 */
function checkResult(r: DecodeResult<DecodedMessage>, ctx: DecodeContext): void {
  if (!r.ok) { checkError(r.error); return; }
  if (r.value.type === MessageType.Update) for (const e of r.value.errors) checkError(e);
  const again = decodeMessage(encode(r.value, ctx), ctx);
  if (!again.ok) assert.fail(`re-encoded message does not decode: ${again.error.message}`);
  assert.deepEqual(messageOf(again.value), messageOf(r.value));
}

describe('round trips', () => {
  for (const fourOctetAS of [true, false]) {
    test(`UPDATE (${fourOctetAS ? '4' : '2'}-octet AS): decode(encode(m)) = m, and the size is predictable`, () => {
      const ctx = { fourOctetAS, extendedMessages: true };
      fc.assert(fc.property(updateArb(ctx), (m) => {
        const wire = encode(m, ctx);
        const predicted = UPDATE_OVERHEAD + m.attributes.reduce((n, a) => n + attributeBytes(a, ctx), 0)
          + [...m.withdrawn, ...m.nlri].reduce((n, p) => n + nlriBytes(p), 0);
        assert.equal(wire.length, predicted);
        const r = decodeMessage(wire, ctx);
        if (!r.ok) assert.fail(r.error.message);
        assert.deepEqual(r.value, { ...m, treatAsWithdraw: false, errors: [] });
      }), { numRuns: ROUND_TRIPS });
    });
  }

  test('OPEN: decode(encode(m)) = m (normalized), and re-encoding is byte-exact', () => {
    fc.assert(fc.property(openArb, (m) => {
      const ctx = { fourOctetAS: true, extendedMessages: false };
      const wire = encode(m, ctx);
      const r = decodeMessage(wire, ctx);
      if (!r.ok) assert.fail(r.error.message);
      assert.deepEqual(r.value, normalizeOpen(m));
      assert.deepEqual(encode(r.value, ctx), wire);
    }), { numRuns: ROUND_TRIPS });
  });

  test('AS4 for 2-octet peers: encodable, and mergeAs4 restores the real path and aggregator', () => {
    const ctx = { fourOctetAS: false, extendedMessages: false };
    // confederation member ASNs are 2-octet: AS4_PATH does not carry confederation segments (RFC 6793 §3)
    const confeds = fc.array(fc.record({ type: fc.constantFrom(3 as const, 4 as const), asns: fc.array(asn2, { minLength: 1, maxLength: 4 }) }, { noNullPrototype: true }), { maxLength: 2 });
    const aggregator = fc.option(fc.record({ asn: fc.integer({ min: 0x10000, max: 0xffffffff }), address: ipv4 }, { noNullPrototype: true }), { nil: undefined });
    fc.assert(fc.property(confeds, segments(4, false), aggregator, (c, path, agg) => {
      const attrs: PathAttribute[] = [
        { kind: 'origin', origin: 0 },
        { kind: 'asPath', segments: [...c, ...path] },
        ...(agg ? [{ kind: 'aggregator' as const, ...agg }] : []),
      ];
      const two = forTwoOctetPeer(attrs);
      const r = decodeMessage(encode({ type: MessageType.Update, withdrawn: [], attributes: two, nlri: [] }, ctx), ctx);
      if (!r.ok || r.value.type !== MessageType.Update) assert.fail('does not decode');
      assert.deepEqual(r.value.attributes, two);
      assert.deepEqual(mergeAs4(r.value.attributes), attrs);
    }), { numRuns: ROUND_TRIPS });
  });

  test('NOTIFICATION, ROUTE-REFRESH, KEEPALIVE: decode(encode(m)) = m', () => {
    fc.assert(fc.property(fc.oneof(notificationArb, routeRefreshArb, keepaliveArb), fc.boolean(), (m, ext) => {
      const ctx = { fourOctetAS: true, extendedMessages: ext };
      const r = decodeMessage(encode(m, ctx), ctx);
      if (!r.ok) assert.fail(r.error.message);
      assert.deepEqual(r.value, m);
    }), { numRuns: ROUND_TRIPS });
  });
});

// ---------------------------------------------------------------------------------------------------

/** Mostly true: most mutations should reach the body decoders rather than fail on the header. */
const mostly = fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) });

/** Byte-level mutations of a valid message; `inBody` keeps positions past the header, `fixLength` rewrites the length field. */
const mutation = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), bit: fc.integer({ min: 0, max: 7 }), inBody: mostly }, { noNullPrototype: true }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat(), fixLength: mostly }, { noNullPrototype: true }),
  fc.record({ op: fc.constant('length' as const), value: u16 }, { noNullPrototype: true }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: u8, inBody: mostly }, { noNullPrototype: true }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), data: bytesArb(8), fixLength: mostly }, { noNullPrototype: true }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }), fixLength: mostly }, { noNullPrototype: true }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(wire: Buffer, ms: Mutation[]): Buffer {
  let b = Buffer.from(wire);
  const fix = (): void => { if (b.length >= 18) b.writeUInt16BE(Math.min(b.length, 0xffff), 16); };
  /** A position: anywhere, or past the header when there is a body. */
  const pos = (at: number, inBody: boolean): number => (inBody && b.length > 19 ? 19 + (at % (b.length - 19)) : at % b.length);
  for (const m of ms) {
    if (b.length === 0) break;
    switch (m.op) {
      case 'flip': for (const at of m.at) { const i = pos(at, m.inBody); b[i] = (b[i] ?? 0) ^ (1 << m.bit); } break;
      case 'truncate': b = b.subarray(0, m.at % b.length); if (m.fixLength) fix(); break;
      case 'length': if (b.length >= 18) b.writeUInt16BE(m.value, 16); break;
      case 'set': b[pos(m.at, m.inBody)] = m.value; break;
      case 'insert': { const i = 19 + (m.at % Math.max(1, b.length - 18)); b = Buffer.concat([b.subarray(0, i), m.data, b.subarray(i)]); if (m.fixLength) fix(); break; }
      case 'delete': { const i = 19 + (m.at % Math.max(1, b.length - 18)); b = Buffer.concat([b.subarray(0, i), b.subarray(i + m.count)]); if (m.fixLength) fix(); break; }
    }
  }
  return b;
}

/** Encoded prefix lists: mostly well-formed (so the attribute decoders are reached), sometimes arbitrary bytes. */
const prefixField = fc.oneof(
  { weight: 4, arbitrary: prefixes(1, 8).map((ps) => Buffer.concat(ps.map((p) => {
    const b = ipaddr.parse(p.prefix).toByteArray();
    return Buffer.from([p.length, ...b.slice(0, (p.length + 7) >> 3)]);
  }))) },
  { weight: 1, arbitrary: bytesArb(40) },
);

/** The flags a modeled attribute must carry (random for unknown codes). */
const FLAGS: Record<number, number> = { 1: 0x40, 2: 0x40, 3: 0x40, 4: 0x80, 5: 0x40, 6: 0x40, 7: 0xc0, 8: 0xc0, 14: 0x80, 15: 0x80, 17: 0xc0, 18: 0xc0, 32: 0xc0 };

describe('fuzzing: decoders never throw and only return listed errors', () => {
  test('decodeMessage on arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), ctxArb, (b, ctx) => {
      checkResult(decodeMessage(Buffer.from(b), ctx), ctx);
    }), { numRuns: RUNS });
  });

  test('decodeMessage on a valid header with an arbitrary body, for every type', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 7 }), fc.uint8Array({ maxLength: 600 }), ctxArb, (type, body, ctx) => {
      const b = Buffer.alloc(19 + body.length, 0xff);
      b.writeUInt16BE(b.length, 16);
      b[18] = type;
      Buffer.from(body).copy(b, 19);
      checkResult(decodeMessage(b, ctx), ctx);
    }), { numRuns: RUNS });
  });

  test('decodeMessage on structured UPDATE bodies (valid lengths, arbitrary attribute bytes)', () => {
    const attr = fc.record({ flags: u8, right: mostly, code: fc.oneof(fc.constantFrom(...MODELED_ATTRS), u8), data: bytesArb(40) }, { noNullPrototype: true })
      .map(({ flags, right, code, data }) => {
        const f = (right && FLAGS[code] !== undefined ? FLAGS[code] | (flags & 0x2f) : flags) & ~AttrFlag.ExtendedLength;
        return Buffer.concat([Buffer.from([f, code, data.length]), data]);
      });
    fc.assert(fc.property(fc.array(attr, { maxLength: 8 }), prefixField, prefixField, ctxArb, (attrs, withdrawn, nlri, ctx) => {
      const a = Buffer.concat(attrs);
      const body = Buffer.concat([Buffer.from([withdrawn.length >> 8, withdrawn.length & 0xff]), withdrawn, Buffer.from([a.length >> 8, a.length & 0xff]), a, nlri]);
      const b = Buffer.concat([Buffer.alloc(16, 0xff), Buffer.from([(19 + body.length) >> 8, (19 + body.length) & 0xff, 2]), body]);
      checkResult(decodeMessage(b, ctx), ctx);
    }), { numRuns: RUNS });
  });

  test('decodeMessage on mutations of valid messages (bit flips, truncations, length edits, insertions)', () => {
    fc.assert(fc.property(messageWithCtx, fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.boolean(), fc.boolean(), ({ msg, ctx }, ms, ebgp, ext) => {
      const wire = mutate(encode(msg, ctx), ms);
      const dctx = { ...ctx, extendedMessages: ext, ebgp };
      checkResult(decodeMessage(wire, dctx), dctx);
    }), { numRuns: RUNS });
  });
});

describe('fuzzing: the framer', () => {
  /** Splits `b` at the given (sorted, deduplicated) cut points. */
  function split(b: Buffer, cuts: number[]): Buffer[] {
    const points = [...new Set(cuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
    const out: Buffer[] = [];
    let last = 0;
    for (const p of points) { out.push(b.subarray(last, p)); last = p; }
    out.push(b.subarray(last));
    return out;
  }

  test('valid messages split anywhere come out whole and in order', () => {
    fc.assert(fc.property(fc.array(messageWithCtx, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 10 }), (msgs, cuts) => {
      const wires = msgs.map(({ msg, ctx }) => encode(msg, ctx));
      const f = new MessageFramer({ extendedMessages: true });
      const out: string[] = [];
      for (const c of split(Buffer.concat(wires), cuts)) {
        const r = f.push(c);
        if (!r.ok) assert.fail(r.error.message);
        out.push(...r.value.map((m) => m.toString('hex')));
      }
      assert.deepEqual(out, wires.map((w) => w.toString('hex')));
      assert.equal(f.bufferedBytes, 0);
    }), { numRuns: RUNS / 10 });
  });

  test('arbitrary and mutated streams: never throws, errors are header errors, output is whole messages', () => {
    const streamArb = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
      fc.tuple(messageWithCtx, fc.array(mutation, { maxLength: 3 })).map(([{ msg, ctx }, ms]) => mutate(encode(msg, ctx), ms)),
    );
    fc.assert(fc.property(fc.array(streamArb, { minLength: 1, maxLength: 3 }), fc.array(fc.nat(), { maxLength: 10 }), fc.boolean(), (parts, cuts, ext) => {
      const f = new MessageFramer({ extendedMessages: ext });
      for (const c of split(Buffer.concat(parts), cuts)) {
        const r = f.push(c);
        if (!r.ok) {
          checkError(r.error);
          assert.equal(r.error.notification.code, 1);
          break;
        }
        for (const m of r.value) {
          assert.ok(m.length >= 19 && m.length <= (ext ? 65535 : 4096));
          assert.equal(m.readUInt16BE(16), m.length);
        }
      }
    }), { numRuns: RUNS });
  });
});
