/**
 * UPDATE packing, pure: turns "announce these prefixes with these attributes" and "withdraw these"
 * into as few UPDATE messages as fit the session's limit (4096 bytes, 65535 with RFC 8654). Sizes
 * are computed from the codec's size functions, not by trial encoding, so 10k prefixes pack in
 * one pass. IPv4 goes in the classic NLRI/withdrawn fields, IPv6 in MP_REACH/MP_UNREACH.
 */
import { UPDATE_OVERHEAD } from './codec.ts';
import { MP_UNREACH_OVERHEAD, attributesBytes, forTwoOctetPeer, mpReachOverhead, nlriBytes } from './attributes.ts';
import { Afi, MessageType, Safi, maxMessageLength, type CodecContext, type PathAttribute, type Prefix, type UpdateMessage } from './message.ts';

/**
 * The attributes leave no room for even one prefix of the family in a message: a configuration error
 * (too many communities), which config validation rejects up front; packing reports it instead of
 * building a message the codec would refuse.
 */
export interface AttributesTooLarge {
  readonly code: 'attributesTooLarge';
  /** Bytes left for NLRI in one UPDATE. */
  readonly room: number;
  /** Bytes the largest prefix needs. */
  readonly needed: number;
  readonly message: string;
}

/** UPDATEs, or why the attributes cannot carry the prefixes. */
export type PackResult = { readonly ok: true; readonly value: UpdateMessage[] } | { readonly ok: false; readonly error: AttributesTooLarge };

/** Bytes one prefix of the family takes at most in NLRI (a host route). */
export const MAX_NLRI_BYTES: Readonly<Record<number, number>> = { [Afi.IPv4]: nlriBytes({ length: 32 }), [Afi.IPv6]: nlriBytes({ length: 128 }) };

/** Splits a prefix list into chunks whose encoded size stays within `room` bytes each; undefined when one prefix alone does not fit. */
function chunks(prefixes: readonly Prefix[], room: number): Prefix[][] | undefined {
  const out: Prefix[][] = [];
  let cur: Prefix[] = [];
  let used = 0;
  for (const p of prefixes) {
    const n = nlriBytes(p);
    if (n > room) return undefined;
    if (used + n > room && cur.length > 0) { out.push(cur); cur = []; used = 0; }
    cur.push(p);
    used += n;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

function tooLarge(afi: number, room: number): PackResult {
  const needed = MAX_NLRI_BYTES[afi] ?? 17;
  return { ok: false, error: { code: 'attributesTooLarge', room, needed, message: `the path attributes leave ${room} bytes of an UPDATE for NLRI, a prefix needs up to ${needed}` } };
}

/** Bytes left for NLRI in one UPDATE announcing with these attributes (negative when even they do not fit). */
export function announceRoom(afi: number, attrs: readonly PathAttribute[], nextHops: readonly string[], ctx: CodecContext): number {
  const base = ctx.fourOctetAS ? [...attrs] : forTwoOctetPeer(attrs);
  const max = maxMessageLength(ctx, MessageType.Update);
  if (afi === Afi.IPv4) return max - UPDATE_OVERHEAD - attributesBytes([...base, { kind: 'nextHop', nextHop: nextHops[0] ?? '0.0.0.0' }], ctx);
  return max - UPDATE_OVERHEAD - attributesBytes(base, ctx) - mpReachOverhead(nextHops);
}

/**
 * UPDATEs announcing `prefixes` (one family) with `attrs` (no NEXT_HOP / MP_REACH: added here from
 * `nextHops`). For a 2-octet peer the AS path is converted to AS_TRANS + AS4_PATH first.
 */
export function announceUpdates(afi: number, prefixes: readonly Prefix[], attrs: readonly PathAttribute[], nextHops: readonly string[], ctx: CodecContext): PackResult {
  if (prefixes.length === 0) return { ok: true, value: [] };
  const base = ctx.fourOctetAS ? [...attrs] : forTwoOctetPeer(attrs);
  const room = announceRoom(afi, attrs, nextHops, ctx);
  const parts = chunks(prefixes, room);
  if (!parts) return tooLarge(afi, room);
  if (afi === Afi.IPv4) {
    const sorted = sortAttrs([...base, { kind: 'nextHop', nextHop: nextHops[0] ?? '' }]);
    return { ok: true, value: parts.map((nlri) => ({ type: MessageType.Update, withdrawn: [], attributes: sorted, nlri })) };
  }
  return {
    ok: true,
    value: parts.map((nlri) => ({
      type: MessageType.Update, withdrawn: [], nlri: [],
      attributes: sortAttrs([...base, { kind: 'mpReach', afi: Afi.IPv6, safi: Safi.Unicast, nextHops, nlri }]),
    })),
  };
}

/** UPDATEs withdrawing `prefixes` of one family. */
export function withdrawUpdates(afi: number, prefixes: readonly Prefix[], ctx: CodecContext): UpdateMessage[] {
  if (prefixes.length === 0) return [];
  const max = maxMessageLength(ctx, MessageType.Update);
  if (afi === Afi.IPv4) {
    return (chunks(prefixes, max - UPDATE_OVERHEAD) ?? []).map((withdrawn) => ({ type: MessageType.Update, withdrawn, attributes: [], nlri: [] }));
  }
  return (chunks(prefixes, max - UPDATE_OVERHEAD - MP_UNREACH_OVERHEAD) ?? []).map((withdrawn) => ({
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
