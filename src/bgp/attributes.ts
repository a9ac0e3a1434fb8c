/**
 * UPDATE contents: NLRI prefixes and path attributes (RFC 4271 §4.3/§5, RFC 4760, RFC 6793, RFC 1997,
 * RFC 8092), with the per-attribute error handling of RFC 7606, the sizes the speaker needs to pack
 * UPDATEs without trial encoding, and the AS4 conversions for 2-octet peers.
 *
 * Every attribute is described once in {@link SPECS}: its code, its optional/transitive flags, how an
 * error in it is handled, and a decoder and writer over the same byte table. Decoders see only the
 * attribute's value bytes and never throw; writers throw only on values our own code should never build.
 */
import { decodeTable, encodeTable, ipBytes, ipv4ToString, ipv6ToString, tableSize } from '../wire/bytetable.ts';
import {
  AS_TRANS, Afi, AsSegmentType, AttrCode, AttrFlag, BgpError, NotificationCode, Safi, UpdateSubcode,
  type AfiValue, type AsPathSegment, type CodecContext, type DecodeContext, type DecodeResult, type ErrorAction,
  type PathAttribute, type Prefix,
} from './message.ts';

// ---------------------------------------------------------------------------------------------------
// Prefixes

const ADDRESS_BYTES: Record<AfiValue, 4 | 16> = { [Afi.IPv4]: 4, [Afi.IPv6]: 16 };

/**
 * Bytes one prefix takes in an NLRI field: the length byte plus the fewest address bytes that hold the
 * prefix. The speaker sums these to fill an UPDATE up to the message limit without encoding first.
 */
export function nlriBytes(p: Pick<Prefix, 'length'>): number {
  return 1 + ((p.length + 7) >> 3);
}

const scratch = Buffer.alloc(16);

/**
 * Decodes a prefix list filling `b[start, end)`; undefined when a length is out of range for the family
 * or a prefix overruns the field. Host bits past the length are ignored, as RFC 4271 §4.3 says the
 * trailing bits are irrelevant, so the text is always the canonical network address.
 */
export function decodePrefixes(afi: AfiValue, b: Buffer, start: number, end: number): Prefix[] | undefined {
  const size = ADDRESS_BYTES[afi];
  const out: Prefix[] = [];
  let o = start;
  while (o < end) {
    const length = b.readUInt8(o++);
    if (length > size * 8) return undefined;
    const n = (length + 7) >> 3;
    if (o + n > end) return undefined;
    scratch.fill(0, 0, size);
    b.copy(scratch, 0, o, o + n);
    if (length & 7) scratch.writeUInt8(scratch.readUInt8(n - 1) & (0xff << (8 - (length & 7))) & 0xff, n - 1);
    out.push({ afi, prefix: size === 4 ? ipv4ToString(scratch) : ipv6ToString(scratch), length });
    o += n;
  }
  return out;
}

/** Writes one prefix at `off` and returns the offset after it; a wrong family, length or set host bit is a bug. */
function writePrefix(p: Prefix, afi: AfiValue, b: Buffer, off: number): number {
  if (p.afi !== afi) throw new TypeError(`prefix ${p.prefix}/${p.length} is AFI ${p.afi}, expected ${afi}`);
  const addr = ipBytes(p.prefix);
  const size = ADDRESS_BYTES[afi];
  if (addr?.length !== size) throw new TypeError(`prefix ${p.prefix} is not an AFI ${afi} address`);
  if (!Number.isInteger(p.length) || p.length < 0 || p.length > size * 8) throw new RangeError(`prefix length ${p.length} out of range`);
  const n = (p.length + 7) >> 3;
  const tail = p.length & 7 ? addr.readUInt8(n - 1) & (0xff >> (p.length & 7)) : 0;
  if (tail !== 0 || addr.subarray(n).some((x) => x !== 0)) throw new RangeError(`prefix ${p.prefix}/${p.length} has host bits set`);
  b.writeUInt8(p.length, off);
  addr.copy(b, off + 1, 0, n);
  return off + 1 + n;
}

/** Writes a prefix list (withdrawn routes, NLRI, or the MP ones); returns the offset after it. */
export function writePrefixes(ps: readonly Prefix[], afi: AfiValue, b: Buffer, off: number): number {
  let o = off;
  for (const p of ps) o = writePrefix(p, afi, b, o);
  return o;
}

/** Encoded size of a prefix list (withdrawn routes, NLRI, or the MP ones). */
export function prefixListBytes(ps: readonly Prefix[]): number {
  let n = 0;
  for (const p of ps) n += nlriBytes(p);
  return n;
}

// ---------------------------------------------------------------------------------------------------
// AS paths

/** A segment header: type and number of ASNs. */
const SEGMENT_HEADER = [
  ['type', 'u8'], // AsSegmentType
  ['count', 'u8'], // ASNs that follow, at least 1
] as const;

function isConfed(type: number): boolean {
  return type === AsSegmentType.ConfedSequence || type === AsSegmentType.ConfedSet;
}

/**
 * Decodes AS_PATH/AS4_PATH segments (RFC 7606 §7.2: unknown segment type, zero count or overrun is
 * malformed; RFC 7607: AS 0 is malformed). Confederation segments are refused in AS4_PATH (RFC 6793 §3).
 */
function decodeAsPath(b: Buffer, width: 2 | 4, confedAllowed: boolean): AsPathSegment[] | string {
  const out: AsPathSegment[] = [];
  let o = 0;
  while (o < b.length) {
    const h = decodeTable(SEGMENT_HEADER, b, o);
    if (!h) return 'truncated segment header';
    if (h.type < AsSegmentType.Set || h.type > AsSegmentType.ConfedSet) return `unknown segment type ${h.type}`;
    if (!confedAllowed && isConfed(h.type)) return 'confederation segment';
    if (h.count === 0) return 'empty segment';
    o += 2;
    if (o + h.count * width > b.length) return 'segment overruns the attribute';
    const asns: number[] = [];
    for (let i = 0; i < h.count; i++, o += width) asns.push(width === 2 ? b.readUInt16BE(o) : b.readUInt32BE(o));
    if (asns.includes(0)) return 'AS 0 in path';
    out.push({ type: h.type as AsPathSegment['type'], asns });
  }
  return out;
}

function asPathBytes(segments: readonly AsPathSegment[], width: 2 | 4): number {
  let n = 0;
  for (const s of segments) n += 2 + s.asns.length * width;
  return n;
}

function writeAsPath(segments: readonly AsPathSegment[], width: 2 | 4, b: Buffer, off: number): void {
  let o = off;
  for (const s of segments) {
    if (s.asns.length === 0 || s.asns.length > 255) throw new RangeError(`AS path segment with ${s.asns.length} ASNs`);
    encodeTable(SEGMENT_HEADER, { type: s.type, count: s.asns.length }, b, o);
    o += 2;
    for (const asn of s.asns) {
      checkAsn(asn, width);
      if (width === 2) b.writeUInt16BE(asn, o);
      else b.writeUInt32BE(asn, o);
      o += width;
    }
  }
}

function checkAsn(asn: number, width: 2 | 4): void {
  if (!Number.isInteger(asn) || asn < 1 || asn > 0xffffffff) throw new RangeError(`ASN ${asn} out of range`);
  if (width === 2 && asn > 0xffff) {
    throw new RangeError(`ASN ${asn} does not fit a 2-octet session; convert the attributes with forTwoOctetPeer() first`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Attribute byte tables (values only; the attribute header is below)

const ORIGIN = [
  ['origin', 'u8'], // Origin
] as const;

const NEXT_HOP = [
  ['nextHop', 'ipv4'],
] as const;

const MED = [
  ['med', 'u32'],
] as const;

const LOCAL_PREF = [
  ['localPref', 'u32'],
] as const;

const AGGREGATOR_2 = [
  ['asn', 'u16'],
  ['address', 'ipv4'],
] as const;

const AGGREGATOR_4 = [
  ['asn', 'u32'],
  ['address', 'ipv4'],
] as const;

const COMMUNITY = [
  ['community', 'u32'], // high 16 bits ASN, low 16 bits value
] as const;

const LARGE_COMMUNITY = [
  ['global', 'u32'],
  ['local1', 'u32'],
  ['local2', 'u32'],
] as const;

/** MP_REACH_NLRI up to the next hop (RFC 4760 §3); then next hop, a reserved byte, NLRI. */
const MP_REACH_HEAD = [
  ['afi', 'u16'],
  ['safi', 'u8'],
  ['nextHopLength', 'u8'],
] as const;

/** MP_UNREACH_NLRI up to the withdrawn routes (RFC 4760 §4). */
const MP_UNREACH_HEAD = [
  ['afi', 'u16'],
  ['safi', 'u8'],
] as const;

/** Attribute header with a one-byte length. */
const ATTR_HEADER = [
  ['flags', 'u8'], // AttrFlag
  ['code', 'u8'], // AttrCode
  ['length', 'u8'],
] as const;

/** Attribute header with the Extended Length flag: two-byte length. */
const ATTR_HEADER_EXT = [
  ['flags', 'u8'],
  ['code', 'u8'],
  ['length', 'u16'],
] as const;

/** Size of the MP_REACH reserved byte (RFC 4760: was SNPA count, now always 0). */
const MP_RESERVED = 1;

// ---------------------------------------------------------------------------------------------------
// One spec per modeled attribute

type Kind = Exclude<PathAttribute['kind'], 'raw'>;
type Of<K extends PathAttribute['kind']> = Extract<PathAttribute, { kind: K }>;

/** Why an attribute value is malformed: the UPDATE subcode and a description. */
interface Fault { readonly subcode: number; readonly reason: string; readonly action?: ErrorAction }

interface Spec<K extends Kind> {
  readonly code: number;
  /** The Optional and Transitive bits it must carry. */
  readonly flags: number;
  /** RFC 7606 handling of a malformed value. */
  readonly onError: ErrorAction;
  /** The value, a fault, or 'raw' to keep the bytes (MP attributes of families we do not parse). */
  readonly decode: (v: Buffer, ctx: DecodeContext) => Of<K> | Fault | 'raw';
  readonly size: (a: Of<K>, ctx: CodecContext) => number;
  readonly write: (a: Of<K>, b: Buffer, off: number, ctx: CodecContext) => void;
}

const WELL_KNOWN = AttrFlag.Transitive;
const OPTIONAL = AttrFlag.Optional;
const OPTIONAL_TRANSITIVE = AttrFlag.Optional | AttrFlag.Transitive;

const lengthFault = (want: string, got: number): Fault => ({ subcode: UpdateSubcode.AttributeLengthError, reason: `length ${got}, expected ${want}` });

/** A list of fixed-size table entries (communities): undefined when the length is not a non-zero multiple. */
function decodeList<R>(v: Buffer, table: Parameters<typeof tableSize>[0], map: (b: Buffer, off: number) => R): R[] | undefined {
  const n = tableSize(table);
  if (v.length === 0 || v.length % n !== 0) return undefined;
  const out: R[] = [];
  for (let o = 0; o < v.length; o += n) out.push(map(v, o));
  return out;
}

function aggregatorTable(width: 2 | 4): typeof AGGREGATOR_2 | typeof AGGREGATOR_4 {
  return width === 2 ? AGGREGATOR_2 : AGGREGATOR_4;
}

function decodeAggregator(v: Buffer, width: 2 | 4): { asn: number; address: string } | Fault {
  const t = aggregatorTable(width);
  if (v.length !== tableSize(t)) return lengthFault(String(tableSize(t)), v.length);
  const r = decodeTable(t, v);
  if (!r) return lengthFault(String(tableSize(t)), v.length);
  if (r.asn === 0) return { subcode: UpdateSubcode.OptionalAttributeError, reason: 'AS 0 in aggregator' };
  return { asn: r.asn, address: r.address };
}

function isParsedFamily(afi: number, safi: number): afi is AfiValue {
  return (afi === Afi.IPv4 || afi === Afi.IPv6) && (safi === Safi.Unicast || safi === Safi.Multicast);
}

function nextHopBytes(nextHops: readonly string[]): Buffer {
  const bs = nextHops.map((h) => ipBytes(h));
  const lens = bs.map((x) => x?.length);
  const ok = (lens.length === 1 && (lens[0] === 4 || lens[0] === 16)) || (lens.length === 2 && lens[0] === 16 && lens[1] === 16);
  if (!ok) throw new TypeError(`MP next hops must be one IPv4, one IPv6, or IPv6 global + link-local: ${nextHops.join(', ')}`);
  return Buffer.concat(bs.filter((x) => x !== undefined));
}

const SPECS: { readonly [K in Kind]: Spec<K> } = {
  origin: {
    code: AttrCode.Origin, flags: WELL_KNOWN, onError: 'treat-as-withdraw',
    decode: (v) => {
      if (v.length !== tableSize(ORIGIN)) return lengthFault('1', v.length);
      const { origin } = decodeTable(ORIGIN, v) ?? { origin: -1 };
      if (origin !== 0 && origin !== 1 && origin !== 2) return { subcode: UpdateSubcode.InvalidOrigin, reason: `ORIGIN ${origin}` };
      return { kind: 'origin', origin };
    },
    size: () => tableSize(ORIGIN),
    write: (a, b, off) => { encodeTable(ORIGIN, { origin: a.origin }, b, off); },
  },
  asPath: {
    code: AttrCode.AsPath, flags: WELL_KNOWN, onError: 'treat-as-withdraw',
    decode: (v, ctx) => {
      const segments = decodeAsPath(v, ctx.fourOctetAS ? 4 : 2, true);
      if (typeof segments === 'string') return { subcode: UpdateSubcode.MalformedAsPath, reason: segments };
      // RFC 7606 §7.2 / RFC 5065: confederation segments from an external peer (we run no confederation)
      if (ctx.ebgp === true && segments.some((seg) => isConfed(seg.type))) return { subcode: UpdateSubcode.MalformedAsPath, reason: 'confederation segment from an eBGP peer' };
      return { kind: 'asPath', segments };
    },
    size: (a, ctx) => asPathBytes(a.segments, ctx.fourOctetAS ? 4 : 2),
    write: (a, b, off, ctx) => { writeAsPath(a.segments, ctx.fourOctetAS ? 4 : 2, b, off); },
  },
  nextHop: {
    code: AttrCode.NextHop, flags: WELL_KNOWN, onError: 'treat-as-withdraw',
    decode: (v) => {
      if (v.length !== tableSize(NEXT_HOP)) return lengthFault('4', v.length);
      const first = v.readUInt8(0);
      // 0.0.0.0/8 and 224.0.0.0/3 (multicast, reserved, broadcast) are not host addresses (RFC 4271 §6.3)
      if (first === 0 || first >= 224) return { subcode: UpdateSubcode.InvalidNextHop, reason: `NEXT_HOP ${ipv4ToString(v)}` };
      return { kind: 'nextHop', nextHop: ipv4ToString(v) };
    },
    size: () => tableSize(NEXT_HOP),
    write: (a, b, off) => { encodeTable(NEXT_HOP, { nextHop: a.nextHop }, b, off); },
  },
  med: {
    code: AttrCode.Med, flags: OPTIONAL, onError: 'treat-as-withdraw',
    decode: (v) => (v.length === tableSize(MED) ? { kind: 'med', med: v.readUInt32BE(0) } : lengthFault('4', v.length)),
    size: () => tableSize(MED),
    write: (a, b, off) => { encodeTable(MED, { med: a.med }, b, off); },
  },
  localPref: {
    code: AttrCode.LocalPref, flags: WELL_KNOWN, onError: 'treat-as-withdraw',
    decode: (v) => (v.length === tableSize(LOCAL_PREF) ? { kind: 'localPref', localPref: v.readUInt32BE(0) } : lengthFault('4', v.length)),
    size: () => tableSize(LOCAL_PREF),
    write: (a, b, off) => { encodeTable(LOCAL_PREF, { localPref: a.localPref }, b, off); },
  },
  atomicAggregate: {
    code: AttrCode.AtomicAggregate, flags: WELL_KNOWN, onError: 'attribute-discard',
    decode: (v) => (v.length === 0 ? { kind: 'atomicAggregate' } : lengthFault('0', v.length)),
    size: () => 0,
    write: () => undefined,
  },
  aggregator: {
    code: AttrCode.Aggregator, flags: OPTIONAL_TRANSITIVE, onError: 'attribute-discard',
    decode: (v, ctx) => {
      const r = decodeAggregator(v, ctx.fourOctetAS ? 4 : 2);
      return 'subcode' in r ? r : { kind: 'aggregator', ...r };
    },
    size: (_a, ctx) => tableSize(aggregatorTable(ctx.fourOctetAS ? 4 : 2)),
    write: (a, b, off, ctx) => {
      const width = ctx.fourOctetAS ? 4 : 2;
      checkAsn(a.asn, width);
      encodeTable(aggregatorTable(width), { asn: a.asn, address: a.address }, b, off);
    },
  },
  communities: {
    code: AttrCode.Communities, flags: OPTIONAL_TRANSITIVE, onError: 'treat-as-withdraw',
    decode: (v) => {
      const communities = decodeList(v, COMMUNITY, (b, o) => b.readUInt32BE(o));
      return communities ? { kind: 'communities', communities } : lengthFault('a non-zero multiple of 4', v.length);
    },
    size: (a) => a.communities.length * tableSize(COMMUNITY),
    write: (a, b, off) => {
      if (a.communities.length === 0) throw new RangeError('empty COMMUNITIES: omit the attribute instead');
      a.communities.forEach((community, i) => { encodeTable(COMMUNITY, { community }, b, off + i * tableSize(COMMUNITY)); });
    },
  },
  mpReach: {
    code: AttrCode.MpReachNlri, flags: OPTIONAL, onError: 'session-reset',
    decode: (v) => {
      const h = decodeTable(MP_REACH_HEAD, v);
      const optionalError = (reason: string): Fault => ({ subcode: UpdateSubcode.OptionalAttributeError, reason });
      if (!h) return optionalError('MP_REACH_NLRI shorter than its header');
      const nhStart = tableSize(MP_REACH_HEAD);
      const nlriStart = nhStart + h.nextHopLength + MP_RESERVED;
      if (nlriStart > v.length) return optionalError('MP_REACH_NLRI next hop overruns the attribute');
      if (!isParsedFamily(h.afi, h.safi)) return 'raw';
      const nh = v.subarray(nhStart, nhStart + h.nextHopLength);
      let nextHops: string[];
      if (h.nextHopLength === 4) nextHops = [ipv4ToString(nh)];
      else if (h.nextHopLength === 16) nextHops = [ipv6ToString(nh)];
      else if (h.nextHopLength === 32) nextHops = [ipv6ToString(nh), ipv6ToString(nh, 16)];
      else return optionalError(`MP_REACH_NLRI next hop length ${h.nextHopLength}`);
      const nlri = decodePrefixes(h.afi, v, nlriStart, v.length);
      if (!nlri) return { subcode: UpdateSubcode.InvalidNetworkField, reason: 'malformed MP_REACH_NLRI prefixes' };
      return { kind: 'mpReach', afi: h.afi, safi: h.safi as Of<'mpReach'>['safi'], nextHops, nlri };
    },
    size: (a) => tableSize(MP_REACH_HEAD) + nextHopBytes(a.nextHops).length + MP_RESERVED + prefixListBytes(a.nlri),
    write: (a, b, off) => {
      const nh = nextHopBytes(a.nextHops);
      encodeTable(MP_REACH_HEAD, { afi: a.afi, safi: a.safi, nextHopLength: nh.length }, b, off);
      let o = off + tableSize(MP_REACH_HEAD);
      o += nh.copy(b, o);
      b.writeUInt8(0, o); // reserved
      writePrefixes(a.nlri, a.afi, b, o + MP_RESERVED);
    },
  },
  mpUnreach: {
    code: AttrCode.MpUnreachNlri, flags: OPTIONAL, onError: 'session-reset',
    decode: (v) => {
      const h = decodeTable(MP_UNREACH_HEAD, v);
      if (!h) return { subcode: UpdateSubcode.OptionalAttributeError, reason: 'MP_UNREACH_NLRI shorter than its header' };
      if (!isParsedFamily(h.afi, h.safi)) return 'raw';
      const withdrawn = decodePrefixes(h.afi, v, tableSize(MP_UNREACH_HEAD), v.length);
      if (!withdrawn) return { subcode: UpdateSubcode.InvalidNetworkField, reason: 'malformed MP_UNREACH_NLRI prefixes' };
      return { kind: 'mpUnreach', afi: h.afi, safi: h.safi as Of<'mpUnreach'>['safi'], withdrawn };
    },
    size: (a) => tableSize(MP_UNREACH_HEAD) + prefixListBytes(a.withdrawn),
    write: (a, b, off) => {
      encodeTable(MP_UNREACH_HEAD, { afi: a.afi, safi: a.safi }, b, off);
      writePrefixes(a.withdrawn, a.afi, b, off + tableSize(MP_UNREACH_HEAD));
    },
  },
  as4Path: {
    code: AttrCode.As4Path, flags: OPTIONAL_TRANSITIVE, onError: 'attribute-discard',
    decode: (v) => {
      const segments = decodeAsPath(v, 4, false);
      if (typeof segments === 'string') return { subcode: UpdateSubcode.OptionalAttributeError, reason: `AS4_PATH: ${segments}` };
      return { kind: 'as4Path', segments };
    },
    size: (a) => asPathBytes(a.segments, 4),
    write: (a, b, off, ctx) => {
      if (ctx.fourOctetAS) throw new TypeError('AS4_PATH is never sent to a 4-octet AS peer (RFC 6793 §4.1)');
      if (a.segments.some((s) => isConfed(s.type))) throw new TypeError('AS4_PATH cannot carry confederation segments');
      writeAsPath(a.segments, 4, b, off);
    },
  },
  as4Aggregator: {
    code: AttrCode.As4Aggregator, flags: OPTIONAL_TRANSITIVE, onError: 'attribute-discard',
    decode: (v) => {
      const r = decodeAggregator(v, 4);
      return 'subcode' in r ? r : { kind: 'as4Aggregator', ...r };
    },
    size: () => tableSize(AGGREGATOR_4),
    write: (a, b, off, ctx) => {
      if (ctx.fourOctetAS) throw new TypeError('AS4_AGGREGATOR is never sent to a 4-octet AS peer (RFC 6793 §4.1)');
      checkAsn(a.asn, 4);
      encodeTable(AGGREGATOR_4, { asn: a.asn, address: a.address }, b, off);
    },
  },
  largeCommunities: {
    code: AttrCode.LargeCommunities, flags: OPTIONAL_TRANSITIVE, onError: 'treat-as-withdraw',
    decode: (v) => {
      const largeCommunities = decodeList(v, LARGE_COMMUNITY, (b, o) => decodeTable(LARGE_COMMUNITY, b, o) ?? { global: 0, local1: 0, local2: 0 });
      return largeCommunities ? { kind: 'largeCommunities', largeCommunities } : lengthFault('a non-zero multiple of 12', v.length);
    },
    size: (a) => a.largeCommunities.length * tableSize(LARGE_COMMUNITY),
    write: (a, b, off) => {
      if (a.largeCommunities.length === 0) throw new RangeError('empty LARGE_COMMUNITIES: omit the attribute instead');
      a.largeCommunities.forEach((c, i) => { encodeTable(LARGE_COMMUNITY, { ...c }, b, off + i * tableSize(LARGE_COMMUNITY)); });
    },
  },
};

const BY_CODE = new Map<number, Kind>(Object.entries(SPECS).map(([kind, s]) => [s.code, kind as Kind]));

/** A spec seen through the attribute union, for code that dispatches on `kind` at run time. */
interface AnySpec {
  readonly size: (a: PathAttribute, ctx: CodecContext) => number;
  readonly write: (a: PathAttribute, b: Buffer, off: number, ctx: CodecContext) => void;
}
const anySpec = (kind: Kind): AnySpec => SPECS[kind] as unknown as AnySpec;

/** The type code of an attribute. */
export function attributeCode(a: PathAttribute): number {
  return a.kind === 'raw' ? a.code : SPECS[a.kind].code;
}

// ---------------------------------------------------------------------------------------------------
// Encoding and sizes

function valueBytes(a: PathAttribute, ctx: CodecContext): number {
  if (a.kind === 'raw') return a.data.length;
  return anySpec(a.kind).size(a, ctx);
}

function headerFor(a: PathAttribute, length: number): { flags: number; ext: boolean } {
  const base = a.kind === 'raw' ? a.flags : SPECS[a.kind].flags;
  const ext = length > 255 || (a.kind === 'raw' && (a.flags & AttrFlag.ExtendedLength) !== 0);
  return { flags: ext ? base | AttrFlag.ExtendedLength : base & ~AttrFlag.ExtendedLength, ext };
}

/**
 * Exact encoded size of an attribute, header included, in a context (AS_PATH and AGGREGATOR widths
 * depend on `fourOctetAS`). Lets the speaker budget an UPDATE without encoding it.
 */
export function attributeBytes(a: PathAttribute, ctx: CodecContext): number {
  const n = valueBytes(a, ctx);
  return (headerFor(a, n).ext ? 4 : 3) + n;
}

/**
 * Upper bound on MP_REACH_NLRI bytes before its first prefix, for the given next hops: the header with a
 * two-byte length (used as soon as the attribute passes 255 bytes), AFI, SAFI, next-hop length, next
 * hops, reserved byte. With {@link nlriBytes} it tells the speaker how many IPv6 prefixes fit.
 */
export function mpReachOverhead(nextHops: readonly string[]): number {
  return tableSize(ATTR_HEADER_EXT) + tableSize(MP_REACH_HEAD) + nextHopBytes(nextHops).length + MP_RESERVED;
}

/** Upper bound on MP_UNREACH_NLRI bytes before its first prefix (two-byte length header, AFI, SAFI). */
export const MP_UNREACH_OVERHEAD: number = tableSize(ATTR_HEADER_EXT) + tableSize(MP_UNREACH_HEAD);

/** Total encoded size of an attribute list. */
export function attributesBytes(attrs: readonly PathAttribute[], ctx: CodecContext): number {
  let n = 0;
  for (const a of attrs) n += attributeBytes(a, ctx);
  return n;
}

/** Writes an attribute list at `off` (size known from {@link attributesBytes}); duplicates are a bug. */
export function writeAttributes(attrs: readonly PathAttribute[], b: Buffer, off: number, ctx: CodecContext): number {
  const seen = new Set<number>();
  let o = off;
  for (const a of attrs) {
    const code = attributeCode(a);
    if (seen.has(code)) throw new TypeError(`attribute ${code} twice in one UPDATE`);
    seen.add(code);
    const n = valueBytes(a, ctx);
    const { flags, ext } = headerFor(a, n);
    if (n > 0xffff) throw new RangeError(`attribute ${code} is ${n} bytes`);
    if (ext) encodeTable(ATTR_HEADER_EXT, { flags, code, length: n }, b, o);
    else encodeTable(ATTR_HEADER, { flags, code, length: n }, b, o);
    o += ext ? 4 : 3;
    if (a.kind === 'raw') a.data.copy(b, o);
    else anySpec(a.kind).write(a, b, o, ctx);
    o += n;
  }
  return o;
}

// ---------------------------------------------------------------------------------------------------
// Decoding with RFC 7606 error handling

/** The attribute list of one UPDATE after error handling. */
export interface DecodedAttributes {
  readonly attributes: PathAttribute[];
  readonly errors: BgpError[];
  readonly treatAsWithdraw: boolean;
  /** Codes present on the wire, well-formed or not (for the missing well-known attribute check). */
  readonly seen: ReadonlySet<number>;
  /** False when a framing error stopped parsing: attributes after it are unknown, not missing. */
  readonly complete: boolean;
}

/**
 * Decodes the path attribute field `b[start, end)`. Returns an error only for what RFC 7606 still
 * answers with a session reset: malformed or duplicate MP_REACH/MP_UNREACH, and unrecognized well-known
 * attributes. Everything else is a treat-as-withdraw or an attribute discard recorded in `errors`.
 */
export function decodeAttributes(b: Buffer, start: number, end: number, ctx: DecodeContext): DecodeResult<DecodedAttributes> {
  const attributes: PathAttribute[] = [];
  const errors: BgpError[] = [];
  const seen = new Set<number>();
  let treatAsWithdraw = false;
  let complete = true;
  const problem = (subcode: number, reason: string, data: Buffer, action: ErrorAction): void => {
    errors.push(new BgpError(NotificationCode.Update, subcode, reason, data, action));
    if (action === 'treat-as-withdraw') treatAsWithdraw = true;
  };

  let o = start;
  while (o < end) {
    // RFC 7606 §4: a header or value that overruns the attribute field is treat-as-withdraw; the NLRI
    // field is still found through the Total Path Attribute Length
    const flags = b.readUInt8(o);
    const ext = (flags & AttrFlag.ExtendedLength) !== 0;
    const header = ext ? decodeTable(ATTR_HEADER_EXT, b, o) : decodeTable(ATTR_HEADER, b, o);
    const headerLength = ext ? 4 : 3;
    if (!header || o + headerLength > end) {
      problem(UpdateSubcode.MalformedAttributeList, 'truncated attribute header', b.subarray(o, end), 'treat-as-withdraw');
      complete = false;
      break;
    }
    const valueStart = o + headerLength;
    const valueEnd = valueStart + header.length;
    if (valueEnd > end) {
      problem(UpdateSubcode.MalformedAttributeList, `attribute ${header.code} overruns the attribute field`, b.subarray(o, end), 'treat-as-withdraw');
      complete = false;
      break;
    }
    const whole = b.subarray(o, valueEnd);
    const value = b.subarray(valueStart, valueEnd);
    o = valueEnd;
    const { code } = header;

    if (seen.has(code)) {
      // RFC 7606 §3.g: keep the first, except for the MP attributes
      if (code === AttrCode.MpReachNlri || code === AttrCode.MpUnreachNlri) {
        return { ok: false, error: new BgpError(NotificationCode.Update, UpdateSubcode.MalformedAttributeList, `duplicate attribute ${code}`, whole) };
      }
      problem(UpdateSubcode.MalformedAttributeList, `duplicate attribute ${code} discarded`, whole, 'attribute-discard');
      continue;
    }
    seen.add(code);

    // RFC 6793 §4.1: AS4 attributes from a 4-octet peer are discarded; RFC 7606 §7.5: LOCAL_PREF from eBGP
    if (ctx.fourOctetAS && (code === AttrCode.As4Path || code === AttrCode.As4Aggregator)) continue;
    if (ctx.ebgp === true && code === AttrCode.LocalPref) continue;

    const kind = BY_CODE.get(code);
    if (kind === undefined) {
      if ((flags & AttrFlag.Optional) === 0) {
        return { ok: false, error: new BgpError(NotificationCode.Update, UpdateSubcode.UnrecognizedWellKnownAttribute, `unrecognized well-known attribute ${code}`, whole) };
      }
      attributes.push({ kind: 'raw', code, flags, data: value });
      continue;
    }
    const spec = SPECS[kind];
    if ((flags & OPTIONAL_TRANSITIVE) !== spec.flags) {
      if (spec.onError === 'session-reset') {
        return { ok: false, error: new BgpError(NotificationCode.Update, UpdateSubcode.AttributeFlagsError, `attribute ${code} flags ${flags}`, whole) };
      }
      problem(UpdateSubcode.AttributeFlagsError, `attribute ${code} flags ${flags}`, whole, spec.onError);
      continue;
    }
    const decoded = spec.decode(value, ctx);
    if (decoded === 'raw') {
      attributes.push({ kind: 'raw', code, flags, data: value });
      continue;
    }
    if ('subcode' in decoded) {
      const action = decoded.action ?? spec.onError;
      if (action === 'session-reset') {
        return { ok: false, error: new BgpError(NotificationCode.Update, decoded.subcode, `attribute ${code}: ${decoded.reason}`, whole) };
      }
      problem(decoded.subcode, `attribute ${code}: ${decoded.reason}`, whole, action);
      continue;
    }
    attributes.push(decoded);
  }
  return { ok: true, value: { attributes, errors, treatAsWithdraw, seen, complete } };
}

// ---------------------------------------------------------------------------------------------------
// AS4 for 2-octet sessions (RFC 6793 §4.2)

/** Path length as RFC 4271 §9.1.2.2 counts it: an AS_SET is one, confederation segments are zero. */
export function asPathLength(segments: readonly AsPathSegment[]): number {
  let n = 0;
  for (const s of segments) {
    if (s.type === AsSegmentType.Sequence) n += s.asns.length;
    else if (s.type === AsSegmentType.Set) n += 1;
  }
  return n;
}

function insertByCode(attrs: PathAttribute[], a: PathAttribute, after: number): void {
  const code = attributeCode(a);
  let i = after + 1;
  while (i < attrs.length) {
    const at = attrs[i];
    if (at !== undefined && attributeCode(at) > code) break;
    i++;
  }
  attrs.splice(i, 0, a);
}

/**
 * Rewrites attributes built with real ASNs for a peer that did not negotiate 4-octet AS (RFC 6793 §4.2.2):
 * ASNs above 65535 become AS_TRANS in AS_PATH and AGGREGATOR, and the true values travel in AS4_PATH
 * (without confederation segments) and AS4_AGGREGATOR. Nothing is added when every ASN fits 2 octets.
 */
export function forTwoOctetPeer(attrs: readonly PathAttribute[]): PathAttribute[] {
  const out = attrs.filter((a) => a.kind !== 'as4Path' && a.kind !== 'as4Aggregator');
  const big = (asn: number): boolean => asn > 0xffff;
  const pathAt = out.findIndex((a) => a.kind === 'asPath');
  const path = out[pathAt];
  if (path?.kind === 'asPath' && path.segments.some((s) => s.asns.some(big))) {
    out[pathAt] = { kind: 'asPath', segments: path.segments.map((s) => ({ type: s.type, asns: s.asns.map((x) => (big(x) ? AS_TRANS : x)) })) };
    const as4 = path.segments.filter((s) => !isConfed(s.type));
    if (as4.length > 0) insertByCode(out, { kind: 'as4Path', segments: as4 }, pathAt);
  }
  const aggAt = out.findIndex((a) => a.kind === 'aggregator');
  const agg = out[aggAt];
  if (agg?.kind === 'aggregator' && big(agg.asn)) {
    out[aggAt] = { kind: 'aggregator', asn: AS_TRANS, address: agg.address };
    insertByCode(out, { kind: 'as4Aggregator', asn: agg.asn, address: agg.address }, aggAt);
  }
  return out;
}

/** Leading part of `path` holding `count` ASNs by {@link asPathLength}'s count, with leading confederation segments. */
function leading(path: readonly AsPathSegment[], count: number): AsPathSegment[] {
  const out: AsPathSegment[] = [];
  let need = count;
  for (const s of path) {
    if (isConfed(s.type)) {
      if (need > 0 || out.every((x) => isConfed(x.type))) out.push(s);
      continue;
    }
    if (need === 0) break;
    if (s.type === AsSegmentType.Set) {
      out.push(s);
      need -= 1;
    } else {
      const take = Math.min(need, s.asns.length);
      out.push({ type: s.type, asns: s.asns.slice(0, take) });
      need -= take;
    }
  }
  return out;
}

/**
 * Rebuilds the true AS path and aggregator from what a 2-octet peer sent (RFC 6793 §4.2.3): when
 * AGGREGATOR is not AS_TRANS both AS4 attributes are ignored; AS4_AGGREGATOR replaces an AS_TRANS
 * AGGREGATOR; the AS path is the leading ASNs of AS_PATH that AS4_PATH lacks, followed by AS4_PATH,
 * unless AS4_PATH is the longer (then it is ignored). The AS4 attributes are removed either way.
 */
export function mergeAs4(attrs: readonly PathAttribute[]): PathAttribute[] {
  let as4Path: AsPathSegment[] | undefined;
  let as4Agg: { asn: number; address: string } | undefined;
  let ignore = false;
  for (const a of attrs) {
    if (a.kind === 'as4Path') as4Path = [...a.segments];
    else if (a.kind === 'as4Aggregator') as4Agg = { asn: a.asn, address: a.address };
    else if (a.kind === 'aggregator' && a.asn !== AS_TRANS) ignore = true;
  }
  const out: PathAttribute[] = [];
  for (const a of attrs) {
    if (a.kind === 'as4Path' || a.kind === 'as4Aggregator') continue;
    if (!ignore && a.kind === 'aggregator' && as4Agg) out.push({ kind: 'aggregator', ...as4Agg });
    else if (!ignore && a.kind === 'asPath' && as4Path && asPathLength(a.segments) >= asPathLength(as4Path)) {
      const head = leading(a.segments, asPathLength(a.segments) - asPathLength(as4Path));
      const last = head.at(-1);
      const first = as4Path[0];
      if (last?.type === AsSegmentType.Sequence && first?.type === AsSegmentType.Sequence && last.asns.length + first.asns.length <= 255) {
        head[head.length - 1] = { type: AsSegmentType.Sequence, asns: [...last.asns, ...first.asns] };
        as4Path.shift();
      }
      out.push({ kind: 'asPath', segments: [...head, ...as4Path] });
    } else out.push(a);
  }
  return out;
}

/**
 * Attributes of a received route as they may be passed on (RFC 4271 §5 and §9.1.4): unknown optional
 * transitive attributes keep their bytes and get the Partial bit, because we did not understand them;
 * unknown optional non-transitive ones (and MP attributes of families we do not parse) are dropped.
 */
export function passAlong(attrs: readonly PathAttribute[]): PathAttribute[] {
  const out: PathAttribute[] = [];
  for (const a of attrs) {
    if (a.kind !== 'raw') out.push(a);
    else if ((a.flags & AttrFlag.Transitive) !== 0) out.push({ ...a, flags: a.flags | AttrFlag.Partial });
  }
  return out;
}
