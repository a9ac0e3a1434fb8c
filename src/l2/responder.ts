/**
 * The answering decision for ARP requests and neighbour solicitations: pure, one frame in, one reply
 * or one drop reason out. It answers only for an IP this node owns on that interface right now, with
 * that interface's MAC, and never to its own frames.
 *
 * The cases where sender and target are related, as the property tests assert them:
 * - ARP with sender IP = target IP (a gratuitous ARP, RFC 5227 "announcement"): someone announcing, not
 *   asking; dropped as `gratuitous` whoever owns the IP (we do not fight over it here).
 * - ARP probe (sender IP 0.0.0.0, RFC 5227): answered for an owned target, by broadcast, so the prober
 *   sees the conflict whatever its own cache holds.
 * - NS with the unspecified source (DAD, RFC 4862): answered for an owned target with an unsolicited NA
 *   to all-nodes (S=0), defending the address.
 * - NS whose source is the target itself: an ordinary solicitation from a host that has the address too;
 *   answered like any other (solicited NA, unicast), which tells it that we hold the address.
 *
 * Every reply names its `asker` (sender MAC and IP), so the link can rate-limit per asker and per target.
 */
import {
  ALL_NODES, BROADCAST_MAC, EtherType, buildArpFrame, buildNaFrame, multicastMac, parseArpFrame, parseNsFrame,
  type DropReason,
} from './frames.ts';

/** What the responder knows about one interface. */
export interface ResponderContext {
  /** MAC of the interface the frame arrived on (replies carry it). */
  readonly mac: string;
  /** Whether this node owns the IP (canonical text) on this interface now. */
  readonly owns: (ip: string) => boolean;
}

/**
 * A reply to send (about `ip`, to `asker`, written `mac/ip` of the sender), or why none is sent.
 */
export type Decision =
  | { readonly reply: Buffer; readonly ip: string; readonly asker: string }
  | { readonly drop: DropReason | 'not-arp-or-ipv6' };

/** Decides the answer to an ARP frame. */
export function handleArp(frame: Buffer, ctx: ResponderContext): Decision {
  const p = parseArpFrame(frame);
  if ('drop' in p) return p;
  const { eth, arp } = p;
  const mac = ctx.mac.toLowerCase();
  if (eth.src === mac || arp.sha === mac) return { drop: 'own-frame' };
  if (arp.oper !== 1) return { drop: 'not-request' };
  if (arp.spa === arp.tpa) return { drop: 'gratuitous' }; // someone announcing, not asking
  if (!ctx.owns(arp.tpa)) return { drop: 'not-owned' };
  // an ARP probe (sender 0.0.0.0, RFC 5227) is answered by broadcast so the prober sees the conflict
  const dst = arp.spa === '0.0.0.0' ? BROADCAST_MAC : arp.sha;
  return {
    ip: arp.tpa,
    asker: `${arp.sha}/${arp.spa}`,
    reply: buildArpFrame({ dst, src: ctx.mac }, { oper: 2, sha: ctx.mac, spa: arp.tpa, tha: arp.sha, tpa: arp.spa }),
  };
}

/** Decides the answer to a neighbour solicitation frame. */
export function handleNs(frame: Buffer, ctx: ResponderContext): Decision {
  const p = parseNsFrame(frame);
  if ('drop' in p) return p;
  if (p.eth.src === ctx.mac.toLowerCase()) return { drop: 'own-frame' };
  if (!ctx.owns(p.target)) return { drop: 'not-owned' };
  if (p.ip.src === '::') {
    // duplicate address detection for our address: defend it to all nodes (RFC 4862 5.4.3)
    return { ip: p.target, asker: `${p.eth.src}/::`, reply: buildNaFrame({ target: p.target, mac: ctx.mac, dstMac: multicastMac(ALL_NODES), dstIp: ALL_NODES, srcIp: p.target, solicited: false }) };
  }
  const dstMac = p.sourceMac ?? p.eth.src;
  return {
    ip: p.target,
    asker: `${dstMac}/${p.ip.src}`,
    reply: buildNaFrame({ target: p.target, mac: ctx.mac, dstMac, dstIp: p.ip.src, srcIp: p.target, solicited: true }),
  };
}

/** Dispatches on the ethertype. */
export function handleFrame(frame: Buffer, ctx: ResponderContext): Decision {
  const ethertype = frame.length >= 14 ? frame.readUInt16BE(12) : -1;
  if (ethertype === EtherType.ARP) return handleArp(frame, ctx);
  if (ethertype === EtherType.IPv6) return handleNs(frame, ctx);
  return frame.length < 14 ? { drop: 'truncated' } : { drop: 'not-arp-or-ipv6' };
}
