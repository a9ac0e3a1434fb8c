/**
 * The BGP-4 message codec: whole messages (header included) to plain objects and back, pure. Decoding
 * returns a {@link DecodeResult} and never throws: every way a peer's bytes can be wrong becomes the
 * NOTIFICATION RFC 4271 §6 prescribes, or for UPDATE attributes the softer RFC 7606 handling. Encoding
 * throws only on messages our own code should never build (too long for the session, bad values).
 *
 * Fixed layouts are byte tables (../wire/bytetable.ts) used for both directions; path attributes and NLRI
 * live in attributes.ts, stream framing in framer.ts, the object model in message.ts.
 */
import { decodeTable, encodeTable, tableSize } from '../wire/bytetable.ts';
import {
  attributesBytes, decodeAttributes, decodePrefixes, prefixListBytes, writeAttributes, writePrefixes,
} from './attributes.ts';
import {
  AS_TRANS, Afi, AttrCode, BGP_VERSION, BgpError, CapabilityCode, NotificationCode, HeaderSubcode, Limits, MessageType, Safi,
  OpenSubcode, UpdateSubcode, maxMessageLength,
  type AfiValue, type Capability, type CodecContext, type SafiValue, type DecodeContext, type DecodeResult, type DecodedMessage, type DecodedUpdate,
  type Message, type NotificationMessage, type OpenMessage, type Prefix, type RouteRefreshMessage, type UpdateMessage,
} from './message.ts';

// ---------------------------------------------------------------------------------------------------
// Byte tables

/** 16 bytes of 0xff open every message (RFC 4271 §4.1); they precede {@link HEADER}. */
const MARKER = Buffer.alloc(16, 0xff);

/** Message header after the marker. */
const HEADER = [
  ['length', 'u16'], // whole message, header included
  ['type', 'u8'], // MessageType
] as const;

/** OPEN fixed part (RFC 4271 §4.2); optional parameters follow. */
const OPEN = [
  ['version', 'u8'],
  ['myAS', 'u16'],
  ['holdTime', 'u16'],
  ['bgpIdentifier', 'ipv4'],
  ['parametersLength', 'u8'], // 255 together with EXTENDED_PARAMETERS.type 255: RFC 9072 form
] as const;

/** Optional parameter header, classic form. */
const PARAMETER = [
  ['type', 'u8'], // 2 = capabilities
  ['length', 'u8'],
] as const;

/** RFC 9072: after a parameters length of 255, a type byte 255 announces two-byte lengths. */
const EXTENDED_PARAMETERS = [
  ['type', 'u8'], // Non-Ext OP Type, 255
  ['length', 'u16'], // Extended Opt. Parm. Length
] as const;

/** Optional parameter header, RFC 9072 form. */
const PARAMETER_EXT = [
  ['type', 'u8'],
  ['length', 'u16'],
] as const;

/** Capability header (RFC 5492 §4). */
const CAPABILITY = [
  ['code', 'u8'],
  ['length', 'u8'],
] as const;

/** Multiprotocol capability value (RFC 4760 §8). */
const MULTIPROTOCOL = [
  ['afi', 'u16'],
  ['reserved', 'u8'],
  ['safi', 'u8'],
] as const;

/** Graceful restart capability head (RFC 4724 §3); per-family entries follow. */
const GRACEFUL_RESTART = [
  ['flagsAndTime', 'u16'], // restart flags in the top 4 bits, restart time (s) in the low 12
] as const;

/** One graceful restart family entry. */
const GRACEFUL_RESTART_FAMILY = [
  ['afi', 'u16'],
  ['safi', 'u8'],
  ['flags', 'u8'], // 0x80: forwarding state preserved
] as const;

/** Four-octet AS capability value (RFC 6793 §3). */
const FOUR_OCTET_AS = [
  ['asn', 'u32'],
] as const;

/** NOTIFICATION fixed part (RFC 4271 §4.5); data follows. */
const NOTIFICATION = [
  ['code', 'u8'],
  ['subcode', 'u8'],
] as const;

/** ROUTE-REFRESH (RFC 2918 §3, RFC 7313 subtype). */
const ROUTE_REFRESH = [
  ['afi', 'u16'],
  ['subtype', 'u8'],
  ['safi', 'u8'],
] as const;

/** One of the two UPDATE length fields (withdrawn routes, total path attributes). */
const UPDATE_LENGTH = [
  ['length', 'u16'],
] as const;

const PARAMETER_CAPABILITIES = 2;
const EXTENDED_PARAMETERS_TYPE = 255;

/**
 * Bytes of an UPDATE that carries nothing: header and the two length fields. The speaker adds
 * attributeBytes() and nlriBytes() (attributes.ts) to this to know what fits under maxMessageLength().
 */
export const UPDATE_OVERHEAD: number = Limits.HeaderLength + 2 * tableSize(UPDATE_LENGTH);

// ---------------------------------------------------------------------------------------------------
// Header

const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
};

/**
 * Checks a message header (the first 19 bytes of `b`): marker, and length within 19..max. Shared with
 * the framer so a stream is rejected as soon as a bad header is in, before its body arrives.
 */
export function checkHeader(b: Buffer, maxLength: number): DecodeResult<{ length: number; type: number }> {
  if (b.length < Limits.HeaderLength) {
    return { ok: false, error: new BgpError(NotificationCode.MessageHeader, HeaderSubcode.BadMessageLength, `${b.length} bytes is shorter than a header`, u16(b.length)) };
  }
  if (!b.subarray(0, MARKER.length).equals(MARKER)) {
    return { ok: false, error: new BgpError(NotificationCode.MessageHeader, HeaderSubcode.ConnectionNotSynchronized, 'marker is not all ones') };
  }
  const h = decodeTable(HEADER, b, MARKER.length) ?? { length: 0, type: 0 };
  if (h.length < Limits.HeaderLength || h.length > maxLength) {
    return { ok: false, error: new BgpError(NotificationCode.MessageHeader, HeaderSubcode.BadMessageLength, `length ${h.length}`, u16(h.length)) };
  }
  return { ok: true, value: h };
}

const LENGTH_BOUNDS: Record<number, readonly [min: number, max: number | undefined]> = {
  [MessageType.Open]: [Limits.MinOpen, Limits.MaxMessage],
  [MessageType.Update]: [Limits.MinUpdate, undefined],
  [MessageType.Notification]: [Limits.MinNotification, undefined],
  [MessageType.Keepalive]: [Limits.Keepalive, Limits.Keepalive],
  [MessageType.RouteRefresh]: [Limits.RouteRefresh, Limits.RouteRefresh],
};

// ---------------------------------------------------------------------------------------------------
// Decoding

const fail = <T>(code: number, subcode: number, message: string, data?: Buffer): DecodeResult<T> =>
  ({ ok: false, error: new BgpError(code, subcode, message, data) });

/**
 * Decodes one whole message, header included, as the framer delivers it. Header problems, a length
 * outside the type's bounds, OPEN errors and UPDATE framing errors fail with the NOTIFICATION to send;
 * UPDATE attribute errors RFC 7606 handles softly come back inside the decoded UPDATE. The returned
 * objects may share memory with `b` (raw capabilities and attributes are views, not copies).
 */
export function decodeMessage(b: Buffer, ctx: DecodeContext): DecodeResult<DecodedMessage> {
  const h = checkHeader(b, maxMessageLength(ctx));
  if (!h.ok) return h;
  const { length, type } = h.value;
  if (length !== b.length) {
    return fail(NotificationCode.MessageHeader, HeaderSubcode.BadMessageLength, `length field ${length}, message ${b.length} bytes`, u16(length));
  }
  const bounds = LENGTH_BOUNDS[type];
  if (!bounds) return fail(NotificationCode.MessageHeader, HeaderSubcode.BadMessageType, `message type ${type}`, Buffer.from([type]));
  if (length < bounds[0] || (bounds[1] !== undefined && length > bounds[1])) {
    return fail(NotificationCode.MessageHeader, HeaderSubcode.BadMessageLength, `length ${length} for message type ${type}`, u16(length));
  }
  const body = b.subarray(Limits.HeaderLength);
  switch (type) {
    case MessageType.Open: return decodeOpen(body);
    case MessageType.Update: return decodeUpdate(body, ctx);
    case MessageType.Notification: return decodeNotification(body);
    case MessageType.Keepalive: return { ok: true, value: { type: MessageType.Keepalive } };
    default: return decodeRouteRefresh(body);
  }
}

function decodeNotification(body: Buffer): DecodeResult<NotificationMessage> {
  const f = decodeTable(NOTIFICATION, body);
  if (!f) return fail(NotificationCode.MessageHeader, HeaderSubcode.BadMessageLength, 'NOTIFICATION too short');
  // a copy: NOTIFICATIONs are logged and kept, they should not pin the receive buffer
  return { ok: true, value: { type: MessageType.Notification, code: f.code, subcode: f.subcode, data: Buffer.from(body.subarray(tableSize(NOTIFICATION))) } };
}

function decodeRouteRefresh(body: Buffer): DecodeResult<RouteRefreshMessage> {
  const f = decodeTable(ROUTE_REFRESH, body);
  if (!f) return fail(NotificationCode.MessageHeader, HeaderSubcode.BadMessageLength, 'ROUTE-REFRESH too short');
  return { ok: true, value: { type: MessageType.RouteRefresh, ...f } };
}

function decodeOpen(body: Buffer): DecodeResult<OpenMessage> {
  const f = decodeTable(OPEN, body);
  if (!f) return fail(NotificationCode.MessageHeader, HeaderSubcode.BadMessageLength, 'OPEN too short');
  if (f.version !== BGP_VERSION) return fail(NotificationCode.Open, OpenSubcode.UnsupportedVersion, `version ${f.version}`, u16(BGP_VERSION));
  if (f.myAS === 0) return fail(NotificationCode.Open, OpenSubcode.BadPeerAS, 'AS 0 (RFC 7607)');
  if (f.holdTime === 1 || f.holdTime === 2) return fail(NotificationCode.Open, OpenSubcode.UnacceptableHoldTime, `hold time ${f.holdTime}`);
  if (f.bgpIdentifier === '0.0.0.0') return fail(NotificationCode.Open, OpenSubcode.BadBgpIdentifier, 'BGP identifier 0.0.0.0');

  // optional parameters, classic or RFC 9072 form
  let o = tableSize(OPEN);
  let end = o + f.parametersLength;
  const ext = f.parametersLength > 0 && body.length > o && body.readUInt8(o) === EXTENDED_PARAMETERS_TYPE;
  if (ext) {
    const e = decodeTable(EXTENDED_PARAMETERS, body, o);
    if (!e) return fail(NotificationCode.Open, OpenSubcode.Unspecific, 'truncated extended optional parameters length');
    o += tableSize(EXTENDED_PARAMETERS);
    end = o + e.length;
  }
  if (end !== body.length) return fail(NotificationCode.Open, OpenSubcode.Unspecific, `optional parameters end at ${end}, OPEN body is ${body.length} bytes`);
  const capabilities: Capability[] = [];
  const groups: number[] = [];
  const paramTable = ext ? PARAMETER_EXT : PARAMETER;
  while (o < end) {
    const p = decodeTable(paramTable, body, o);
    if (!p) return fail(NotificationCode.Open, OpenSubcode.Unspecific, 'truncated optional parameter header');
    o += tableSize(paramTable);
    if (o + p.length > end) return fail(NotificationCode.Open, OpenSubcode.Unspecific, 'optional parameter overruns the parameters');
    if (p.type !== PARAMETER_CAPABILITIES) return fail(NotificationCode.Open, OpenSubcode.UnsupportedOptionalParameter, `optional parameter type ${p.type}`);
    const caps = decodeCapabilities(body.subarray(o, o + p.length));
    if (!caps.ok) return caps;
    capabilities.push(...caps.value);
    groups.push(caps.value.length);
    o += p.length;
  }
  const asn = capabilities.find((c) => c.kind === 'fourOctetAS');
  if (asn?.asn === 0) return fail(NotificationCode.Open, OpenSubcode.BadPeerAS, 'four-octet AS 0 (RFC 7607)');

  const open: OpenMessage = {
    type: MessageType.Open, version: f.version, myAS: f.myAS, holdTime: f.holdTime, bgpIdentifier: f.bgpIdentifier, capabilities,
  };
  const defaultGroups = capabilities.length === 0 ? [] : [capabilities.length];
  const grouped = groups.length !== defaultGroups.length || groups.some((g, i) => g !== defaultGroups[i]);
  const withGroups: OpenMessage = grouped ? { ...open, capabilityGroups: groups } : open;
  return { ok: true, value: ext && !needsExtendedParameters(withGroups) ? { ...withGroups, extendedParameters: true } : withGroups };
}

function decodeCapabilities(v: Buffer): DecodeResult<Capability[]> {
  const out: Capability[] = [];
  let o = 0;
  while (o < v.length) {
    const h = decodeTable(CAPABILITY, v, o);
    if (!h) return fail(NotificationCode.Open, OpenSubcode.Unspecific, 'truncated capability header');
    o += tableSize(CAPABILITY);
    if (o + h.length > v.length) return fail(NotificationCode.Open, OpenSubcode.Unspecific, `capability ${h.code} overruns its parameter`);
    out.push(decodeCapability(h.code, v.subarray(o, o + h.length)));
    o += h.length;
  }
  return { ok: true, value: out };
}

/** A capability in its model when its bytes fit the model exactly, else raw (so it re-encodes byte for byte). */
function decodeCapability(code: number, v: Buffer): Capability {
  switch (code) {
    case CapabilityCode.Multiprotocol: {
      const m = v.length === tableSize(MULTIPROTOCOL) ? decodeTable(MULTIPROTOCOL, v) : undefined;
      if (m?.reserved === 0) return { kind: 'multiprotocol', afi: m.afi, safi: m.safi };
      break;
    }
    case CapabilityCode.RouteRefresh:
      if (v.length === 0) return { kind: 'routeRefresh' };
      break;
    case CapabilityCode.ExtendedMessage:
      if (v.length === 0) return { kind: 'extendedMessage' };
      break;
    case CapabilityCode.FourOctetAS: {
      const a = v.length === tableSize(FOUR_OCTET_AS) ? decodeTable(FOUR_OCTET_AS, v) : undefined;
      if (a) return { kind: 'fourOctetAS', asn: a.asn };
      break;
    }
    case CapabilityCode.GracefulRestart: {
      const head = v.length >= tableSize(GRACEFUL_RESTART) ? decodeTable(GRACEFUL_RESTART, v) : undefined;
      const rest = v.length - tableSize(GRACEFUL_RESTART);
      if (!head || rest % tableSize(GRACEFUL_RESTART_FAMILY) !== 0) break;
      const families: { afi: number; safi: number; flags: number }[] = [];
      for (let o = tableSize(GRACEFUL_RESTART); o < v.length; o += tableSize(GRACEFUL_RESTART_FAMILY)) {
        const fam = decodeTable(GRACEFUL_RESTART_FAMILY, v, o);
        if (fam) families.push(fam);
      }
      return { kind: 'gracefulRestart', flags: head.flagsAndTime >>> 12, restartTime: head.flagsAndTime & 0xfff, families };
    }
    default:
      break;
  }
  return { kind: 'raw', code, data: v };
}

function decodeUpdate(body: Buffer, ctx: DecodeContext): DecodeResult<DecodedUpdate> {
  const malformed = (why: string): DecodeResult<DecodedUpdate> => fail(NotificationCode.Update, UpdateSubcode.MalformedAttributeList, why);
  const w = decodeTable(UPDATE_LENGTH, body);
  if (!w) return malformed('truncated withdrawn routes length');
  const withdrawnStart = tableSize(UPDATE_LENGTH);
  const withdrawnEnd = withdrawnStart + w.length;
  const a = decodeTable(UPDATE_LENGTH, body, withdrawnEnd);
  if (!a) return malformed(`withdrawn routes length ${w.length} overruns the message`);
  const attrsStart = withdrawnEnd + tableSize(UPDATE_LENGTH);
  const attrsEnd = attrsStart + a.length;
  if (attrsEnd > body.length) return malformed(`total path attribute length ${a.length} overruns the message`);

  // RFC 7606 §5.3: unparseable NLRI (or withdrawn routes) leave no safe way to continue
  const withdrawn = decodePrefixes(Afi.IPv4, body, withdrawnStart, withdrawnEnd);
  if (!withdrawn) return fail(NotificationCode.Update, UpdateSubcode.InvalidNetworkField, 'malformed withdrawn routes');
  const nlri = decodePrefixes(Afi.IPv4, body, attrsEnd, body.length);
  if (!nlri) return fail(NotificationCode.Update, UpdateSubcode.InvalidNetworkField, 'malformed NLRI');

  const attrs = decodeAttributes(body, attrsStart, attrsEnd, ctx);
  if (!attrs.ok) return attrs;
  const { attributes, seen } = attrs.value;
  const errors = [...attrs.value.errors];
  let treatAsWithdraw = attrs.value.treatAsWithdraw;

  // RFC 7606 §3.d: well-known mandatory attributes are only required when something is announced
  const required = !attrs.value.complete ? [] : nlri.length > 0 ? [AttrCode.Origin, AttrCode.AsPath, AttrCode.NextHop]
    : seen.has(AttrCode.MpReachNlri) ? [AttrCode.Origin, AttrCode.AsPath] : [];
  for (const code of required) {
    if (seen.has(code)) continue;
    errors.push(new BgpError(NotificationCode.Update, UpdateSubcode.MissingWellKnownAttribute, `missing attribute ${code}`, Buffer.from([code]), 'treat-as-withdraw'));
    treatAsWithdraw = true;
  }
  return { ok: true, value: { type: MessageType.Update, withdrawn, attributes, nlri, treatAsWithdraw, errors } };
}

// ---------------------------------------------------------------------------------------------------
// Encoding

function messageBuffer(type: number, bodyLength: number, ctx: CodecContext): Buffer {
  const length = Limits.HeaderLength + bodyLength;
  const max = maxMessageLength(ctx, type);
  if (length > max) throw new RangeError(`message type ${type} of ${length} bytes exceeds ${max}: the caller must split it`);
  const b = Buffer.allocUnsafe(length);
  MARKER.copy(b, 0);
  encodeTable(HEADER, { length, type }, b, MARKER.length);
  return b;
}

function capabilityValue(c: Capability): Buffer {
  switch (c.kind) {
    case 'multiprotocol': return tableBytes(MULTIPROTOCOL, { afi: c.afi, reserved: 0, safi: c.safi });
    case 'routeRefresh':
    case 'extendedMessage': return Buffer.alloc(0);
    case 'fourOctetAS': return tableBytes(FOUR_OCTET_AS, { asn: c.asn });
    case 'gracefulRestart': {
      if (c.flags < 0 || c.flags > 0xf || c.restartTime < 0 || c.restartTime > 0xfff) throw new RangeError('graceful restart flags or time out of range');
      return Buffer.concat([
        tableBytes(GRACEFUL_RESTART, { flagsAndTime: (c.flags << 12) | c.restartTime }),
        ...c.families.map((f) => tableBytes(GRACEFUL_RESTART_FAMILY, { afi: f.afi, safi: f.safi, flags: f.flags })),
      ]);
    }
    case 'raw': return c.data;
  }
}

function capabilityCode(c: Capability): number {
  switch (c.kind) {
    case 'multiprotocol': return CapabilityCode.Multiprotocol;
    case 'routeRefresh': return CapabilityCode.RouteRefresh;
    case 'extendedMessage': return CapabilityCode.ExtendedMessage;
    case 'fourOctetAS': return CapabilityCode.FourOctetAS;
    case 'gracefulRestart': return CapabilityCode.GracefulRestart;
    case 'raw': return c.code;
  }
}

function tableBytes<T extends Parameters<typeof encodeTable>[0]>(t: T, v: Parameters<typeof encodeTable<T>>[1]): Buffer {
  const b = Buffer.alloc(tableSize(t));
  encodeTable(t, v, b);
  return b;
}

/** Capability TLVs per optional parameter, as the message asks (one parameter by default). */
function capabilityParameters(m: OpenMessage): Buffer[] {
  const tlvs = m.capabilities.map((c) => {
    const v = capabilityValue(c);
    if (v.length > 255) throw new RangeError(`capability ${capabilityCode(c)} value of ${v.length} bytes`);
    return Buffer.concat([tableBytes(CAPABILITY, { code: capabilityCode(c), length: v.length }), v]);
  });
  const groups = m.capabilityGroups ?? (tlvs.length === 0 ? [] : [tlvs.length]);
  if (groups.reduce((x, y) => x + y, 0) !== tlvs.length) throw new RangeError('capabilityGroups does not add up to the capabilities');
  const params: Buffer[] = [];
  let i = 0;
  for (const n of groups) {
    params.push(Buffer.concat(tlvs.slice(i, i + n)));
    i += n;
  }
  return params;
}

/** Whether the parameters need RFC 9072 lengths: a parameter or all of them exceed 255 bytes classically. */
function needsExtendedParameters(m: OpenMessage): boolean {
  const params = capabilityParameters(m);
  const total = params.reduce((n, p) => n + tableSize(PARAMETER) + p.length, 0);
  return total > 255 || params.some((p) => p.length > 255);
}

function encodeOpen(m: OpenMessage, ctx: CodecContext): Buffer {
  const params = capabilityParameters(m);
  const ext = m.extendedParameters === true || needsExtendedParameters(m);
  const paramTable = ext ? PARAMETER_EXT : PARAMETER;
  const paramsLength = params.reduce((n, p) => n + tableSize(paramTable) + p.length, 0);
  const b = messageBuffer(MessageType.Open, tableSize(OPEN) + (ext ? tableSize(EXTENDED_PARAMETERS) : 0) + paramsLength, ctx);
  let o: number = Limits.HeaderLength;
  encodeTable(OPEN, {
    version: m.version, myAS: m.myAS, holdTime: m.holdTime, bgpIdentifier: m.bgpIdentifier,
    parametersLength: ext ? EXTENDED_PARAMETERS_TYPE : paramsLength,
  }, b, o);
  o += tableSize(OPEN);
  if (ext) {
    encodeTable(EXTENDED_PARAMETERS, { type: EXTENDED_PARAMETERS_TYPE, length: paramsLength }, b, o);
    o += tableSize(EXTENDED_PARAMETERS);
  }
  for (const p of params) {
    encodeTable(paramTable, { type: PARAMETER_CAPABILITIES, length: p.length }, b, o);
    o += tableSize(paramTable);
    o += p.copy(b, o);
  }
  return b;
}

function encodeUpdate(m: UpdateMessage, ctx: CodecContext): Buffer {
  const withdrawnLength = prefixListBytes(m.withdrawn);
  const attributesLength = attributesBytes(m.attributes, ctx);
  const b = messageBuffer(MessageType.Update, 2 * tableSize(UPDATE_LENGTH) + withdrawnLength + attributesLength + prefixListBytes(m.nlri), ctx);
  let o: number = Limits.HeaderLength;
  encodeTable(UPDATE_LENGTH, { length: withdrawnLength }, b, o);
  o = writePrefixes(m.withdrawn, Afi.IPv4, b, o + tableSize(UPDATE_LENGTH));
  encodeTable(UPDATE_LENGTH, { length: attributesLength }, b, o);
  o = writeAttributes(m.attributes, b, o + tableSize(UPDATE_LENGTH), ctx);
  writePrefixes(m.nlri, Afi.IPv4, b, o);
  return b;
}

/**
 * Encodes a message for a session with the given negotiated context. Throws (a bug, not a peer problem)
 * when the message exceeds the session's limit, an ASN does not fit a 2-octet session, a prefix has host
 * bits, or a value is out of range.
 */
export function encode(msg: Message, ctx: CodecContext): Buffer {
  switch (msg.type) {
    case MessageType.Open: return encodeOpen(msg, ctx);
    case MessageType.Update: return encodeUpdate(msg, ctx);
    case MessageType.Notification: {
      const b = messageBuffer(msg.type, tableSize(NOTIFICATION) + msg.data.length, ctx);
      encodeTable(NOTIFICATION, { code: msg.code, subcode: msg.subcode }, b, Limits.HeaderLength);
      msg.data.copy(b, Limits.HeaderLength + tableSize(NOTIFICATION));
      return b;
    }
    case MessageType.Keepalive: return messageBuffer(msg.type, 0, ctx);
    case MessageType.RouteRefresh: {
      const b = messageBuffer(msg.type, tableSize(ROUTE_REFRESH), ctx);
      encodeTable(ROUTE_REFRESH, { afi: msg.afi, subtype: msg.subtype, safi: msg.safi }, b, Limits.HeaderLength);
      return b;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Helpers for the session and the speaker

/**
 * Our OPEN: version 4, AS_TRANS in My AS when the ASN needs 4 octets, and the four-octet AS capability
 * always (RFC 6793 §3), after the given ones unless they already carry it.
 */
export function buildOpen(o: { asn: number; holdTime: number; bgpIdentifier: string; capabilities: readonly Capability[] }): OpenMessage {
  const capabilities = o.capabilities.some((c) => c.kind === 'fourOctetAS') ? o.capabilities : [...o.capabilities, { kind: 'fourOctetAS', asn: o.asn } as const];
  return {
    type: MessageType.Open, version: BGP_VERSION, myAS: o.asn > 0xffff ? AS_TRANS : o.asn, holdTime: o.holdTime,
    bgpIdentifier: o.bgpIdentifier, capabilities,
  };
}

/** The peer's real ASN: the four-octet AS capability when present, else My AS (RFC 6793 §4.1). */
export function peerAsn(open: OpenMessage): number {
  return open.capabilities.find((c) => c.kind === 'fourOctetAS')?.asn ?? open.myAS;
}

/**
 * What a received UPDATE changes, across the IPv4 fields and the MP attributes. A treat-as-withdraw
 * UPDATE (RFC 7606 §2) announces nothing: its reachable prefixes are withdrawn instead.
 */
export function routeChanges(u: DecodedUpdate): { announced: Prefix[]; withdrawn: Prefix[] } {
  const reach: Prefix[] = [...u.nlri];
  const unreach: Prefix[] = [...u.withdrawn];
  for (const a of u.attributes) {
    if (a.kind === 'mpReach') reach.push(...a.nlri);
    else if (a.kind === 'mpUnreach') unreach.push(...a.withdrawn);
  }
  return u.treatAsWithdraw ? { announced: [], withdrawn: [...unreach, ...reach] } : { announced: reach, withdrawn: unreach };
}

/**
 * The family an End-of-RIB marker (RFC 4724 §2) stands for, or undefined for any other UPDATE. Graceful
 * restart and initial convergence wait for these: IPv4 unicast's is an empty UPDATE, every other
 * family's an UPDATE holding only an empty MP_UNREACH_NLRI.
 */
export function endOfRib(u: UpdateMessage): { afi: number; safi: number } | undefined {
  if (u.withdrawn.length > 0 || u.nlri.length > 0) return undefined;
  if (u.attributes.length === 0) return { afi: Afi.IPv4, safi: Safi.Unicast };
  const [only] = u.attributes;
  if (u.attributes.length === 1 && only?.kind === 'mpUnreach' && only.withdrawn.length === 0) return { afi: only.afi, safi: only.safi };
  return undefined;
}

/** The End-of-RIB marker for a family (RFC 4724 §2), sent after the initial routes of each family. */
export function endOfRibMessage(afi: AfiValue, safi: SafiValue): UpdateMessage {
  if (afi === Afi.IPv4 && safi === Safi.Unicast) return { type: MessageType.Update, withdrawn: [], attributes: [], nlri: [] };
  return { type: MessageType.Update, withdrawn: [], attributes: [{ kind: 'mpUnreach', afi, safi, withdrawn: [] }], nlri: [] };
}
