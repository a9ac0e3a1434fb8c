/**
 * Fixed-layout wire structures as tables, one field per line. The same table drives encoding and
 * decoding, so the two cannot disagree, and a golden-byte test of one is a test of both. Decoding never
 * throws: a short buffer is reported as a typed error.
 */

/** Field types: unsigned big-endian integers, and addresses rendered as text. */
export type FieldType = 'u8' | 'u16' | 'u32' | 'mac' | 'ipv4' | 'ipv6';

/** One table row: field name and type. */
export type FieldSpec = readonly [name: string, type: FieldType];

type ValueOf<T extends FieldType> = T extends 'u8' | 'u16' | 'u32' ? number : string;

/** The decoded object of a table. */
export type Record_<T extends readonly FieldSpec[]> = { -readonly [F in T[number] as F[0]]: ValueOf<F[1]> };

const SIZE: Record<FieldType, number> = { u8: 1, u16: 2, u32: 4, mac: 6, ipv4: 4, ipv6: 16 };

/** Total byte length of a table. */
export function tableSize(t: readonly FieldSpec[]): number {
  let n = 0;
  for (const [, type] of t) n += SIZE[type];
  return n;
}

/** Formats 6 bytes as `aa:bb:cc:dd:ee:ff`. */
export function macToString(b: Uint8Array, off = 0): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push((b[off + i] ?? 0).toString(16).padStart(2, '0'));
  return parts.join(':');
}

/** Parses `aa:bb:cc:dd:ee:ff` (also `-` separated); undefined when malformed. */
export function parseMac(s: string): Buffer | undefined {
  const parts = s.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) return undefined;
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

/** IPv4 text from 4 bytes. */
export function ipv4ToString(b: Uint8Array, off = 0): string {
  return `${b[off] ?? 0}.${b[off + 1] ?? 0}.${b[off + 2] ?? 0}.${b[off + 3] ?? 0}`;
}

/** IPv6 text (RFC 5952) from 16 bytes. */
export function ipv6ToString(b: Uint8Array, off = 0): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[off + i] ?? 0) << 8) | (b[off + i + 1] ?? 0));
  // longest run of two or more zero groups becomes '::' (first one on ties)
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** Writes IPv4 or IPv6 text into bytes; false when the text is not an address of that size. */
function writeIP(text: string, out: Buffer, off: number, size: 4 | 16): boolean {
  if (size === 4) {
    const p = text.split('.');
    if (p.length !== 4 || p.some((x) => !/^(0|[1-9]\d{0,2})$/.test(x) || Number(x) > 255)) return false;
    for (let i = 0; i < 4; i++) out[off + i] = Number(p[i]);
    return true;
  }
  const halves = text.split('::');
  if (halves.length > 2) return false;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  if (halves.length === 2 && head.length + tail.length > 7) return false; // '::' stands for at least one group
  const groups = halves.length === 2 ? [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail] : head;
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return false;
  for (let i = 0; i < 8; i++) out.writeUInt16BE(parseInt(groups[i] ?? '0', 16), off + 2 * i);
  return true;
}

/** Bytes of an IPv4/IPv6 address text; undefined when malformed. */
export function ipBytes(text: string): Buffer | undefined {
  const size = text.includes(':') ? 16 : 4;
  const b = Buffer.alloc(size);
  return writeIP(text, b, 0, size) ? b : undefined;
}

/** Decodes a table at `off`; undefined when the buffer is too short. */
export function decodeTable<T extends readonly FieldSpec[]>(t: T, b: Buffer, off = 0): Record_<T> | undefined {
  if (b.length < off + tableSize(t)) return undefined;
  const out: Record<string, number | string> = {};
  let o = off;
  for (const [name, type] of t) {
    switch (type) {
      case 'u8': out[name] = b.readUInt8(o); break;
      case 'u16': out[name] = b.readUInt16BE(o); break;
      case 'u32': out[name] = b.readUInt32BE(o); break;
      case 'mac': out[name] = macToString(b, o); break;
      case 'ipv4': out[name] = ipv4ToString(b, o); break;
      case 'ipv6': out[name] = ipv6ToString(b, o); break;
    }
    o += SIZE[type];
  }
  return out as Record_<T>;
}

/**
 * Encodes a table into `b` at `off`. Values come from our own code, so a malformed one is a
 * programmer error and throws.
 */
export function encodeTable<T extends readonly FieldSpec[]>(t: T, v: Record_<T>, b: Buffer, off = 0): void {
  let o = off;
  const values = v as Record<string, number | string>;
  for (const [name, type] of t) {
    const x = values[name];
    switch (type) {
      case 'u8': b.writeUInt8(x as number, o); break;
      case 'u16': b.writeUInt16BE(x as number, o); break;
      case 'u32': b.writeUInt32BE(x as number, o); break;
      case 'mac': { const m = parseMac(x as string); if (!m) throw new TypeError(`${name}: bad MAC ${String(x)}`); m.copy(b, o); break; }
      case 'ipv4': if (!writeIP(x as string, b, o, 4)) throw new TypeError(`${name}: bad IPv4 ${String(x)}`); break;
      case 'ipv6': if (!writeIP(x as string, b, o, 16)) throw new TypeError(`${name}: bad IPv6 ${String(x)}`); break;
    }
    o += SIZE[type];
  }
}
