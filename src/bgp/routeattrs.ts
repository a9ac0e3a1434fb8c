/**
 * What a route looks like on the wire to one kind of peer: the path attributes the speaker attaches
 * (ORIGIN, AS_PATH, MED, LOCAL_PREF, communities) and a signature of them. Pure, and shared by the
 * speaker (to build UPDATEs) and the config validation (to prove up front that a route's attributes
 * leave room for NLRI in a 4096-byte UPDATE, so nothing can fail at send time).
 */
import type { RouteAttributes } from './config.ts';
import { WellKnownCommunity, type PathAttribute } from './message.ts';

/** Well-known community names accepted in configs. */
export const COMMUNITY_NAMES: Record<string, number> = {
  'graceful-shutdown': 0xffff0000, 'no-export': 0xffffff01, 'no-advertise': 0xffffff02, 'no-export-subconfed': 0xffffff03, 'no-peer': 0xffffff04,
};

const isU32 = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;

/** `ASN:value` (or a well-known name) to the 32-bit community value; undefined if malformed. */
export function parseCommunity(s: string): number | undefined {
  const named = COMMUNITY_NAMES[s];
  if (named !== undefined) return named;
  const m = /^(\d+):(\d+)$/.exec(s);
  if (!m) return undefined;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a <= 0xffff && b <= 0xffff ? a * 0x10000 + b : undefined;
}

/** `global:local1:local2` to a large community; undefined if malformed. */
export function parseLargeCommunity(s: string): { global: number; local1: number; local2: number } | undefined {
  const m = /^(\d+):(\d+):(\d+)$/.exec(s);
  if (!m) return undefined;
  const [global, local1, local2] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return isU32(global) && isU32(local1) && isU32(local2) ? { global, local1, local2 } : undefined;
}

/** Which peer a route is rendered for: its kind, our AS, and whether graceful shutdown (RFC 8326) is on. */
export interface AttributeContext {
  readonly myASN: number;
  readonly ebgp: boolean;
  readonly gshut: boolean;
}

/**
 * The path attributes of a route for one peer (no NEXT_HOP / MP_REACH: packing adds those). eBGP gets
 * AS_PATH [myASN] and no LOCAL_PREF; iBGP an empty AS_PATH and LOCAL_PREF (0 during graceful shutdown).
 */
export function routeAttributes(r: RouteAttributes, c: AttributeContext): PathAttribute[] {
  const attrs: PathAttribute[] = [{ kind: 'origin', origin: 0 }, { kind: 'asPath', segments: c.ebgp ? [{ type: 2, asns: [c.myASN] }] : [] }];
  if (r.med !== undefined) attrs.push({ kind: 'med', med: r.med });
  if (!c.ebgp) attrs.push({ kind: 'localPref', localPref: c.gshut ? 0 : r.localPref ?? 100 });
  const communities = (r.communities ?? []).map((x) => parseCommunity(x) ?? 0);
  if (c.gshut && !communities.includes(WellKnownCommunity.GracefulShutdown)) communities.push(WellKnownCommunity.GracefulShutdown);
  if (communities.length > 0) attrs.push({ kind: 'communities', communities });
  const large = (r.largeCommunities ?? []).flatMap((x) => { const l = parseLargeCommunity(x); return l ? [l] : []; });
  if (large.length > 0) attrs.push({ kind: 'largeCommunities', largeCommunities: large });
  return attrs;
}

/** Equal for two routes exactly when {@link routeAttributes} gives the same attributes: the adj-RIB-out compares these. */
export function routeSignature(r: RouteAttributes, c: AttributeContext): string {
  return JSON.stringify([c.ebgp, c.gshut, r.communities ?? [], r.largeCommunities ?? [], r.localPref ?? null, r.med ?? null]);
}
