/**
 * IP addresses as (family, bigint) pairs. Address arithmetic on bigint makes IPv4 and IPv6 one code
 * path and lets a /64 cost what a /24 costs; ipaddr.js does the parsing and canonical formatting.
 */
import ipaddr from 'ipaddr.js';

/** Address family as in `Service.spec.ipFamilies`. */
export type Family = 'IPv4' | 'IPv6';

/** A parsed IP address. */
export interface Addr {
  readonly family: Family;
  readonly value: bigint;
}

/** An inclusive range of addresses of one family. */
export interface Range {
  readonly family: Family;
  readonly lo: bigint;
  readonly hi: bigint;
}

/** Number of bits in an address of the family. */
export function bitsOf(family: Family): number {
  return family === 'IPv4' ? 32 : 128;
}

/**
 * The value of a dotted-quad IPv4 text (no leading zeros, each part ≤ 255), or -1 for anything else. parseIP's
 * fast path: ipaddr.js costs ~8 µs per IPv4 text, which alone took the speaker's planner past its budget.
 */
function quickIPv4(text: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1; // leading zero
      part = part * 10 + (c - 48);
      if (part > 255) return -1;
      digits++;
    } else {
      return -1;
    }
  }
  if (digits === 0 || dots !== 3) return -1;
  return value * 256 + part;
}

/**
 * The value of an IPv6 text made of 1-4 digit hex groups with at most one `::` (every RFC 5952 canonical text
 * is one), or undefined for anything else, including the IPv4-mapped range parseIP refuses: texts it does not
 * cover (embedded dotted quads, zones, mapped addresses) go to ipaddr.js. The fast path of parseIP for IPv6.
 */
function quickIPv6(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups: string[] = [];
  const pushAll = (part: string | undefined): boolean => {
    if (part === undefined || part === '') return true;
    for (const g of part.split(':')) {
      if (g.length === 0 || g.length > 4 || !/^[0-9a-fA-F]+$/.test(g)) return false;
      groups.push(g.padStart(4, '0'));
    }
    return true;
  };
  if (!pushAll(halves[0])) return undefined;
  const head = groups.length;
  if (!pushAll(halves[1])) return undefined;
  if (halves.length === 2) {
    if (groups.length > 7) return undefined;
    groups.splice(head, 0, ...new Array<string>(8 - groups.length).fill('0000'));
  } else if (groups.length !== 8) {
    return undefined;
  }
  const value = BigInt(`0x${groups.join('')}`);
  return value >> 32n === 0xffffn ? undefined : value;
}

/** Parses one IP address strictly (no zones, no IPv4-mapped IPv6, dotted-quad IPv4 only); undefined if invalid. */
export function parseIP(text: string): Addr | undefined {
  const s = text.trim();
  const v4 = quickIPv4(s);
  if (v4 >= 0) return { family: 'IPv4', value: BigInt(v4) };
  if (s.includes(':')) {
    const v6 = quickIPv6(s);
    if (v6 !== undefined) return { family: 'IPv6', value: v6 };
  }
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) {
    if (s.split('.').some((p) => p.length > 1 && p.startsWith('0'))) return undefined; // 010.0.0.1 is ambiguous
    return { family: 'IPv4', value: bytesToBig(ipaddr.IPv4.parse(s).toByteArray()) };
  }
  if (s.includes('%') || !s.includes(':') || !ipaddr.IPv6.isValid(s)) return undefined;
  const v6 = ipaddr.IPv6.parse(s);
  if (v6.isIPv4MappedAddress()) return undefined;
  return { family: 'IPv6', value: bytesToBig(v6.toByteArray()) };
}

/** Canonical text form (RFC 5952 for IPv6), the form used as a map key everywhere. */
export function formatIP(a: Addr): string {
  if (a.family === 'IPv4') {
    const v = Number(a.value);
    return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const parts = new Array<number>(8);
  let v = a.value;
  for (let i = 7; i >= 0; i--) { parts[i] = Number(v & 0xffffn); v >>= 16n; }
  return new ipaddr.IPv6(parts).toRFC5952String();
}

/** Canonicalises an IP string; undefined if it does not parse. */
export function canonicalIP(text: string): string | undefined {
  const a = parseIP(text);
  return a && formatIP(a);
}

/**
 * Parses one pool `addresses` entry: CIDR (host bits are masked off), `a-b` range or single IP.
 * Returns an error text for the user instead of throwing.
 */
export function parseRange(text: string): Range | { error: string } {
  const s = text.trim();
  if (s.includes('/')) {
    // exactly address/length: "192.0.2.0/24/99" or "192.0.2.0/24 x" must not pass as 192.0.2.0/24
    const parts = s.split('/');
    if (parts.length !== 2) return { error: `"${text}": not a valid CIDR (expected address/length)` };
    const [ipText = '', lenText = ''] = parts;
    const ip = ipText.trim() === ipText ? parseIP(ipText) : undefined;
    // decimal without leading zeros (as Go's netip.ParsePrefix): "/024" is not silently /24
    const len = /^(0|[1-9]\d{0,2})$/.test(lenText) ? Number(lenText) : NaN;
    if (!ip) return { error: `"${text}": not a valid CIDR (bad address)` };
    const bits = bitsOf(ip.family);
    if (!(len >= 0 && len <= bits)) return { error: `"${text}": prefix length must be 0-${bits}` };
    const hostMask = (1n << BigInt(bits - len)) - 1n;
    return { family: ip.family, lo: ip.value & ~hostMask, hi: (ip.value & ~hostMask) | hostMask };
  }
  const parts = s.split('-');
  if (parts.length === 2) {
    const lo = parseIP(parts[0] ?? '');
    const hi = parseIP(parts[1] ?? '');
    if (!lo || !hi) return { error: `"${text}": not a valid range (expected first-last)` };
    if (lo.family !== hi.family) return { error: `"${text}": range mixes IPv4 and IPv6` };
    if (lo.value > hi.value) return { error: `"${text}": range is reversed` };
    return { family: lo.family, lo: lo.value, hi: hi.value };
  }
  const ip = parseIP(s);
  if (!ip) return { error: `"${text}": not a CIDR, range or IP address` };
  return { family: ip.family, lo: ip.value, hi: ip.value };
}

/**
 * A CIDR prefix without host bits (`ip` alone is a host route): its address and length, or undefined.
 * Exactly one optional `/` and a decimal length without leading zeros, so `192.0.2.0/24/99` is no prefix.
 * The one parser for BGP route texts, shared by config validation and the RIB's keys.
 */
export function parsePrefix(text: string): { addr: Addr; length: number } | undefined {
  const parts = text.split('/');
  if (parts.length > 2) return undefined;
  const [ip = '', len] = parts;
  const addr = parseIP(ip);
  if (!addr || (len !== undefined && !/^(0|[1-9]\d{0,2})$/.test(len))) return undefined;
  const bits = bitsOf(addr.family);
  const length = len === undefined ? bits : Number(len);
  if (length > bits || (addr.value & ((1n << BigInt(bits - length)) - 1n)) !== 0n) return undefined;
  return { addr, length };
}

/** Whether an IPv4 address ends in .0 or .255 (dropped by some old consumer equipment). */
export function isBuggyIP(a: Addr): boolean {
  if (a.family !== 'IPv4') return false;
  const last = a.value & 0xffn;
  return last === 0n || last === 255n;
}

/** Number of .0/.255 addresses in an IPv4 range, computed without iterating. */
export function buggyCount(lo: bigint, hi: bigint): bigint {
  // addresses with low byte 0 in [lo, hi]: floor(hi/256) - ceil(lo/256) + 1; low byte 255: shift by one.
  const zeros = countMultiples(lo, hi);
  const ones = countMultiples(lo + 1n, hi + 1n);
  return zeros + ones;
}

function countMultiples(lo: bigint, hi: bigint): bigint {
  const first = (lo + 255n) / 256n;
  const last = hi / 256n;
  return last >= first ? last - first + 1n : 0n;
}

function bytesToBig(bytes: number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/**
 * Whether a range starts in fe80::/10 or 169.254.0.0/16. Link-local subnets exist on every interface and say
 * nothing about where a Service IP lives or which neighbour is reachable, so interface choice ignores them.
 */
export function isLinkLocal(r: { readonly family: Family; readonly lo: bigint }): boolean {
  return r.family === 'IPv6' ? r.lo >> 118n === 0x3fan : r.lo >> 16n === 0xa9fen;
}

/**
 * Every pair of ranges that share an address and belong to different owners, found by one sweep over the sorted
 * range starts per family (each range is compared only with the ranges still open at its start). The controller's
 * pool conditions and the admission webhook's refusals both come from here, so they can never disagree.
 * Each unordered pair is returned once, earlier-starting range first.
 */
export function overlappingRanges<T extends { readonly family: Family; readonly lo: bigint; readonly hi: bigint }>(
  items: readonly T[], sameOwner: (a: T, b: T) => boolean,
): [T, T][] {
  const out: [T, T][] = [];
  for (const family of ['IPv4', 'IPv6'] as const) {
    const all = items.filter((e) => e.family === family).sort((x, y) => (x.lo < y.lo ? -1 : x.lo > y.lo ? 1 : 0));
    let open: T[] = [];
    for (const e of all) {
      open = open.filter((o) => o.hi >= e.lo);
      for (const o of open) if (!sameOwner(o, e)) out.push([o, e]);
      open.push(e);
    }
  }
  return out;
}
