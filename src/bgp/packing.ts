/**
 * UPDATE packing, pure: turns "announce these prefixes with these attributes" and "withdraw these"
 * into as few UPDATE messages as fit the session's limit (4096 bytes, 65535 with RFC 8654). Sizes
 * are computed from the codec's size functions, not by trial encoding, so 10k prefixes pack in
 * one pass. IPv4 goes in the classic NLRI/withdrawn fields, IPv6 in MP_REACH/MP_UNREACH.
 */
import { UPDATE_OVERHEAD } from './codec.ts';
import { MP_UNREACH_OVERHEAD, attributesBytes, forTwoOctetPeer, mpReachOverhead, nlriBytes } from './attributes.ts';
import { Afi, MessageType, Safi, maxMessageLength, type CodecContext, type PathAttribute, type Prefix, type UpdateMessage } from './message.ts';

/** Splits a prefix list into chunks whose encoded size stays within `room` bytes each. */
function chunks(prefixes: readonly Prefix[], room: number): Prefix[][] {
  const out: Prefix[][] = [];
  let cur: Prefix[] = [];
  let used = 0;
  for (const p of prefixes) {
    const n = nlriBytes(p);
    if (used + n > room && cur.length > 0) { out.push(cur); cur = []; used = 0; }
    cur.push(p);
    used += n;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/**
 * UPDATEs announcing `prefixes` (one family) with `attrs` (no NEXT_HOP / MP_REACH: added here from
 * `nextHops`). For a 2-octet peer the AS path is converted to AS_TRANS + AS4_PATH first.
 */
export function announceUpdates(afi: number, prefixes: readonly Prefix[], attrs: readonly PathAttribute[], nextHops: readonly string[], ctx: CodecContext): UpdateMessage[] {
  if (prefixes.length === 0) return [];
  const base = ctx.fourOctetAS ? [...attrs] : forTwoOctetPeer(attrs);
  const max = maxMessageLength(ctx, MessageType.Update);
  if (afi === Afi.IPv4) {
    const withNh: PathAttribute[] = [...base, { kind: 'nextHop', nextHop: nextHops[0] ?? '' }];
    const sorted = sortAttrs(withNh);
    const room = max - UPDATE_OVERHEAD - attributesBytes(sorted, ctx);
    return chunks(prefixes, room).map((nlri) => ({ type: MessageType.Update, withdrawn: [], attributes: sorted, nlri }));
  }
  const room = max - UPDATE_OVERHEAD - attributesBytes(base, ctx) - mpReachOverhead(nextHops);
  return chunks(prefixes, room).map((nlri) => ({
    type: MessageType.Update, withdrawn: [], nlri: [],
    attributes: sortAttrs([...base, { kind: 'mpReach', afi: Afi.IPv6, safi: Safi.Unicast, nextHops, nlri }]),
  }));
}

/** UPDATEs withdrawing `prefixes` of one family. */
export function withdrawUpdates(afi: number, prefixes: readonly Prefix[], ctx: CodecContext): UpdateMessage[] {
  if (prefixes.length === 0) return [];
  const max = maxMessageLength(ctx, MessageType.Update);
  if (afi === Afi.IPv4) {
    return chunks(prefixes, max - UPDATE_OVERHEAD).map((withdrawn) => ({ type: MessageType.Update, withdrawn, attributes: [], nlri: [] }));
  }
  return chunks(prefixes, max - UPDATE_OVERHEAD - MP_UNREACH_OVERHEAD).map((withdrawn) => ({
    type: MessageType.Update, withdrawn: [], nlri: [], attributes: [{ kind: 'mpUnreach', afi: Afi.IPv6, safi: Safi.Unicast, withdrawn }],
  }));
}

const ORDER: Record<PathAttribute['kind'], number> = {
  origin: 1, asPath: 2, nextHop: 3, med: 4, localPref: 5, atomicAggregate: 6, aggregator: 7, communities: 8,
  mpReach: 14, mpUnreach: 15, as4Path: 17, as4Aggregator: 18, largeCommunities: 32, raw: 255,
};

/** Attributes in type-code order, as RFC 4271 §5 recommends (some receivers are faster with it). */
function sortAttrs(a: PathAttribute[]): PathAttribute[] {
  return a.sort((x, y) => ORDER[x.kind] - ORDER[y.kind]);
}
