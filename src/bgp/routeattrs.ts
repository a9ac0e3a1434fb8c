/**
 * What a route looks like on the wire to one kind of peer: the path attributes the speaker attaches
 * (ORIGIN, AS_PATH, MED, LOCAL_PREF, communities) and a signature of them. Pure, and shared by the
 * speaker (to build UPDATEs) and the config validation (to prove up front that a route's attributes
 * leave room for NLRI in a 4096-byte UPDATE, so nothing can fail at send time).
 */
import type { RouteAttributes } from './config.ts';
import { parseCommunity, parseLargeCommunity } from '../config/communities.ts';
import { WellKnownCommunity, type PathAttribute } from './message.ts';

/** The community texts are parsed by src/config/communities.ts, which parseConfig validates with too. */
export { COMMUNITY_NAMES, parseCommunity, parseLargeCommunity } from '../config/communities.ts';

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
