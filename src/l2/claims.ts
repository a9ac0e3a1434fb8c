/**
 * Who claims an address, as a frame on the link shows it: the input of probes before a takeover and of duel
 * detection while we answer (issue 9 "No split brain"). Pure: one frame in, at most one claim out.
 *
 * A frame claims `ip` for `mac` when it is sent from a MAC other than ours and
 * - is an ARP request or reply whose sender IP is `ip` (RFC 5227 2.1.1 and 2.4: any ARP packet with the
 *   address as sender IP, from another hardware address, is a conflict; gratuitous ARPs and replies to a probe
 *   are the usual ones). ARP probes (sender IP 0.0.0.0) claim nothing: they ask;
 * - is a valid Neighbour Advertisement (solicited or not) with target `ip`; the MAC is its target link-layer
 *   address option, else the Ethernet source. Neighbour solicitations claim nothing (a DAD probe is sent from
 *   `::`, and a host asking with `ip` as source is answered by the responder, which is enough to tell it).
 *
 * Frames whose Ethernet or ARP sender is our MAC are never claims: our own probes and announcements.
 */
import { EtherType, parseArpFrame, parseNaFrame } from './frames.ts';

/** Another station saying it holds `ip` at `mac` (lower-case colon form). */
export interface Claim {
  readonly ip: string;
  readonly mac: string;
}

/** A MAC that cannot be a station's own: all zeros, or the group bit set (broadcast, multicast). */
function notAStation(mac: string): boolean {
  if (mac === '00:00:00:00:00:00') return true;
  return (parseInt(mac.slice(0, 2), 16) & 1) === 1;
}

/** The claim a frame makes, if any (see the module comment); `ourMac` is the receiving interface's MAC. */
export function claimIn(frame: Buffer, ourMac: string): Claim | undefined {
  if (frame.length < 14) return undefined;
  const mine = ourMac.toLowerCase();
  const ethertype = frame.readUInt16BE(12);
  if (ethertype === EtherType.ARP) {
    const p = parseArpFrame(frame);
    if ('drop' in p) return undefined;
    const { eth, arp } = p;
    if (arp.oper !== 1 && arp.oper !== 2) return undefined;
    if (arp.spa === '0.0.0.0') return undefined; // a probe asks, it claims nothing
    if (eth.src === mine || arp.sha === mine || notAStation(arp.sha)) return undefined;
    return { ip: arp.spa, mac: arp.sha };
  }
  if (ethertype === EtherType.IPv6) {
    const p = parseNaFrame(frame);
    if ('drop' in p) return undefined;
    const mac = p.targetMac ?? p.eth.src;
    if (p.eth.src === mine || mac === mine || notAStation(mac)) return undefined;
    return { ip: p.target, mac };
  }
  return undefined;
}
