/**
 * BGP community texts (RFC 1997 `ASN:value` and well-known names, RFC 8092 large communities): the pure
 * parser shared by parseConfig and the BGP speaker, here rather than in src/bgp so that config, which
 * must not import a domain folder, validates with the same rules the speaker applies.
 */

/** Well-known community names accepted in configs, with their 32-bit values. */
export const COMMUNITY_NAMES: Readonly<Record<string, number>> = {
  'graceful-shutdown': 0xffff0000, 'no-export': 0xffffff01, 'no-advertise': 0xffffff02, 'no-export-subconfed': 0xffffff03, 'no-peer': 0xffffff04,
};

const isU32 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffffffff;

/** `ASN:value` (16-bit each) or a well-known name to the 32-bit community value; undefined if malformed. */
export function parseCommunity(s: string): number | undefined {
  if (Object.hasOwn(COMMUNITY_NAMES, s)) return COMMUNITY_NAMES[s];
  const m = /^(\d{1,10}):(\d{1,10})$/.exec(s);
  if (!m) return undefined;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a <= 0xffff && b <= 0xffff ? a * 0x10000 + b : undefined;
}

/** `global:local1:local2` (32-bit each) to a large community; undefined if malformed. */
export function parseLargeCommunity(s: string): { global: number; local1: number; local2: number } | undefined {
  const m = /^(\d{1,10}):(\d{1,10}):(\d{1,10})$/.exec(s);
  if (!m) return undefined;
  const [global, local1, local2] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return isU32(global) && isU32(local1) && isU32(local2) ? { global, local1, local2 } : undefined;
}

/** The canonical text of a community value (`65535:65281`): what two spellings of one community share. */
export function formatCommunity(v: number): string {
  return `${Math.floor(v / 0x10000)}:${v % 0x10000}`;
}
