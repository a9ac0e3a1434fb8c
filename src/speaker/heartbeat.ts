/**
 * The speaker heartbeat datagram: how one speaker tells the others, every ~100 ms over the node network,
 * that it is alive, which interfaces it has and whether it is shutting down. Leases alone are far too slow
 * for sub-second failover, so this is the fast path; and because a host on the LAN must not be able to fake
 * (or replay into the future) a node's liveness, every datagram carries an HMAC-SHA256 keyed with the
 * cluster's heartbeat Secret.
 *
 * Layout (big-endian), at most {@link MAX_HEARTBEAT_BYTES}:
 *
 * ```
 * HEADER (byte table, 22 bytes)  magic 'BGHB', version 1, flags (bit 0: leaving), name length,
 *                                 reserved 0, incarnation (64 bits as hi/lo), sequence (32 bits), body length
 * name                            sender node name, UTF-8, 1..253 bytes
 * body                            compact JSON: [{"n":name,"m":mac,"u":0|1,"a":["ip" | "ip/len", ...]}, ...]
 * mac                             HMAC-SHA256 over every byte before it (32 bytes)
 * ```
 *
 * The MAC is checked before the name or body is parsed, so unauthenticated JSON is never looked at.
 * Pure: Buffers in, Buffers or typed results out.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { decodeTable, encodeTable, parseMac, tableSize } from '../wire/bytetable.ts';
import { bitsOf, parseIP } from '../net/ip.ts';
import type { InterfaceState } from './types.ts';

/** 'BGHB': lets a receiver drop stray traffic on the port before doing any crypto. */
export const HEARTBEAT_MAGIC = 0x42474842;
/** The one version this code speaks; a different one is rejected (no silent misparse across upgrades). */
export const HEARTBEAT_VERSION = 1;
/** Hard size cap: below every sane MTU (1280 for IPv6 minus headers), so a heartbeat is never fragmented. */
export const MAX_HEARTBEAT_BYTES = 1200;
/** Bytes of the trailing HMAC-SHA256. */
export const MAC_BYTES = 32;
/** Longest node name (a Kubernetes DNS subdomain). */
export const MAX_NODE_NAME_BYTES = 253;
/** Shortest heartbeat key accepted: 128 bits. */
export const MIN_KEY_BYTES = 16;
/** Flag bits of the header. */
export const HeartbeatFlags = { leaving: 0x01 } as const;

/** The fixed header, one field per line; the same table encodes and decodes. */
export const HEARTBEAT_HEADER = [
  ['magic', 'u32'],
  ['version', 'u8'],
  ['flags', 'u8'],
  ['nameLength', 'u8'],
  ['reserved', 'u8'],
  ['incarnationHi', 'u32'],
  ['incarnationLo', 'u32'],
  ['seq', 'u32'],
  ['bodyLength', 'u16'],
] as const;

const HEADER_LEN = tableSize(HEARTBEAT_HEADER);

/** One heartbeat as sender and receiver see it. */
export interface Heartbeat {
  /** Sender node name. */
  readonly node: string;
  /** Chosen once per process (see {@link newIncarnation}); a restart picks a larger one. 64 bits. */
  readonly incarnation: bigint;
  /** Increases by one per datagram within an incarnation (32 bits). */
  readonly seq: number;
  /** The sender is shutting down: hand its IPs over at once. */
  readonly leaving: boolean;
  /** The sender's interfaces (possibly a prefix of its list: see {@link EncodeResult.omitted}). */
  readonly interfaces: readonly InterfaceState[];
}

/** Why a datagram was not a heartbeat we accept. */
export type DecodeError = 'truncated' | 'bad-magic' | 'bad-version' | 'bad-mac' | 'malformed';

/** Result of {@link decodeHeartbeat}: never an exception. */
export type DecodeResult = { readonly ok: true; readonly heartbeat: Heartbeat } | { readonly ok: false; readonly error: DecodeError };

/** Result of {@link encodeHeartbeat}. */
export interface EncodeResult {
  readonly buf: Buffer;
  /**
   * Interfaces left out to stay under {@link MAX_HEARTBEAT_BYTES}: the list is encoded in the given order
   * while it fits, so callers should put announcing interfaces first. Non-zero is worth a log line.
   */
  readonly omitted: number;
}

/**
 * A fresh incarnation for this process: wall-clock milliseconds at start in the high bits and 16 random
 * bits below, so a restarted speaker's heartbeats are newer than any of its previous life's (a replay of
 * those is rejected) as long as its clock did not step back across the restart.
 */
export function newIncarnation(wallMs: number, random16: number = Math.floor(Math.random() * 0x10000)): bigint {
  return (BigInt(Math.max(0, Math.floor(wallMs))) << 16n) | BigInt(random16 & 0xffff);
}

function mac(key: Buffer, data: Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

type WireIface = { n: string; m: string; u: 0 | 1; a: string[] };

function toWire(i: InterfaceState): WireIface {
  return { n: i.name, m: i.mac.toLowerCase(), u: i.up ? 1 : 0, a: i.addresses.map((x) => x.cidr ?? x.address) };
}

/**
 * Encodes a heartbeat. Our own values only, so a node name that is empty or too long, a bad MAC text or an
 * incarnation/seq out of range is a programmer error and throws.
 */
export function encodeHeartbeat(h: Heartbeat, key: Buffer): EncodeResult {
  const name = Buffer.from(h.node, 'utf8');
  if (name.length === 0 || name.length > MAX_NODE_NAME_BYTES) throw new RangeError(`heartbeat: node name of ${name.length} bytes`);
  if (h.incarnation < 0n || h.incarnation >= 1n << 64n) throw new RangeError('heartbeat: incarnation out of 64 bits');
  if (!Number.isInteger(h.seq) || h.seq < 0 || h.seq > 0xffffffff) throw new RangeError(`heartbeat: seq ${h.seq}`);
  const budget = MAX_HEARTBEAT_BYTES - HEADER_LEN - name.length - MAC_BYTES;
  const list: WireIface[] = [];
  let used = 2; // '[]'
  for (const i of h.interfaces) {
    if (!parseMac(i.mac)) throw new TypeError(`heartbeat: bad MAC ${i.mac} on ${i.name}`);
    const w = toWire(i);
    const size = Buffer.byteLength(JSON.stringify(w)) + (list.length > 0 ? 1 : 0);
    if (used + size > budget) break;
    list.push(w);
    used += size;
  }
  const body = Buffer.from(JSON.stringify(list), 'utf8');
  const buf = Buffer.alloc(HEADER_LEN + name.length + body.length + MAC_BYTES);
  encodeTable(HEARTBEAT_HEADER, {
    magic: HEARTBEAT_MAGIC,
    version: HEARTBEAT_VERSION,
    flags: h.leaving ? HeartbeatFlags.leaving : 0,
    nameLength: name.length,
    reserved: 0,
    incarnationHi: Number(h.incarnation >> 32n),
    incarnationLo: Number(h.incarnation & 0xffffffffn),
    seq: h.seq,
    bodyLength: body.length,
  }, buf);
  name.copy(buf, HEADER_LEN);
  body.copy(buf, HEADER_LEN + name.length);
  const end = buf.length - MAC_BYTES;
  mac(key, buf.subarray(0, end)).copy(buf, end);
  return { buf, omitted: h.interfaces.length - list.length };
}

const fatal = new TextDecoder('utf-8', { fatal: true });

function validAddress(text: string): InterfaceState['addresses'][number] | undefined {
  const [ip = '', len, extra] = text.split('/');
  if (extra !== undefined) return undefined;
  const a = parseIP(ip);
  if (!a) return undefined;
  if (len !== undefined && (!/^(0|[1-9]\d{0,2})$/.test(len) || Number(len) > bitsOf(a.family))) return undefined;
  return { address: ip, cidr: len === undefined ? null : text, family: a.family };
}

function parseInterfaces(body: Buffer): InterfaceState[] | undefined {
  let v: unknown;
  try {
    v = JSON.parse(fatal.decode(body));
  } catch {
    return undefined;
  }
  if (!Array.isArray(v)) return undefined;
  const out: InterfaceState[] = [];
  for (const x of v as unknown[]) {
    if (typeof x !== 'object' || x === null || Array.isArray(x)) return undefined;
    const { n, m, u, a } = x as Record<string, unknown>;
    if (typeof n !== 'string' || n.length === 0 || n.length > 64) return undefined;
    if (typeof m !== 'string' || !parseMac(m)) return undefined;
    if (u !== 0 && u !== 1) return undefined;
    if (!Array.isArray(a)) return undefined;
    const addresses: InterfaceState['addresses'][number][] = [];
    for (const t of a as unknown[]) {
      const addr = typeof t === 'string' ? validAddress(t) : undefined;
      if (!addr) return undefined;
      addresses.push(addr);
    }
    out.push({ name: n, mac: m.toLowerCase(), up: u === 1, addresses });
  }
  return out;
}

/**
 * Decodes and authenticates one datagram with `key`. Never throws: anything wrong is a typed error, checked
 * in this order: too short for its header or declared lengths (`truncated`), not ours (`bad-magic`), another
 * version (`bad-version`), the MAC does not match (`bad-mac`), then, authenticated but unparseable or with
 * trailing bytes (`malformed`).
 */
export function decodeHeartbeat(buf: Buffer, key: Buffer): DecodeResult {
  const h = decodeTable(HEARTBEAT_HEADER, buf);
  if (!h) return { ok: false, error: buf.length >= 4 && buf.readUInt32BE(0) !== HEARTBEAT_MAGIC ? 'bad-magic' : 'truncated' };
  if (h.magic !== HEARTBEAT_MAGIC) return { ok: false, error: 'bad-magic' };
  if (h.version !== HEARTBEAT_VERSION) return { ok: false, error: 'bad-version' };
  const end = HEADER_LEN + h.nameLength + h.bodyLength;
  if (buf.length < end + MAC_BYTES) return { ok: false, error: 'truncated' };
  const expected = mac(key, buf.subarray(0, end));
  const got = buf.subarray(end, end + MAC_BYTES);
  if (!timingSafeEqual(expected, got)) return { ok: false, error: 'bad-mac' };
  if (buf.length !== end + MAC_BYTES || h.nameLength === 0 || h.reserved !== 0 || (h.flags & ~HeartbeatFlags.leaving) !== 0) {
    return { ok: false, error: 'malformed' };
  }
  let node: string;
  try {
    node = fatal.decode(buf.subarray(HEADER_LEN, HEADER_LEN + h.nameLength));
  } catch {
    return { ok: false, error: 'malformed' };
  }
  const interfaces = parseInterfaces(buf.subarray(HEADER_LEN + h.nameLength, end));
  if (!interfaces) return { ok: false, error: 'malformed' };
  return {
    ok: true,
    heartbeat: {
      node,
      incarnation: (BigInt(h.incarnationHi) << 32n) | BigInt(h.incarnationLo),
      seq: h.seq,
      leaving: (h.flags & HeartbeatFlags.leaving) !== 0,
      interfaces,
    },
  };
}
