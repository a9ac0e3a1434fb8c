/**
 * Ethernet, ARP, IPv6 and ICMPv6 neighbour-discovery layouts as byte tables (see bytetable.ts), and
 * the frame builders/parsers the responder and announcer use. Pure: Buffers in, Buffers or typed
 * results out; nothing here touches a socket.
 */
import { decodeTable, encodeTable, ipBytes, ipv6ToString, macToString, tableSize, type Record_ } from '../wire/bytetable.ts';

/** Ethernet II header. */
export const ETHERNET = [
  ['dst', 'mac'],
  ['src', 'mac'],
  ['ethertype', 'u16'],
] as const;

/** ARP for IPv4 over Ethernet (RFC 826). */
export const ARP = [
  ['htype', 'u16'],   // 1 = Ethernet
  ['ptype', 'u16'],   // 0x0800 = IPv4
  ['hlen', 'u8'],     // 6
  ['plen', 'u8'],     // 4
  ['oper', 'u16'],    // 1 request, 2 reply
  ['sha', 'mac'],
  ['spa', 'ipv4'],
  ['tha', 'mac'],
  ['tpa', 'ipv4'],
] as const;

/** IPv6 fixed header (RFC 8200). */
export const IPV6 = [
  ['vtcFlow', 'u32'], // version 6 in the top 4 bits
  ['payloadLength', 'u16'],
  ['nextHeader', 'u8'],
  ['hopLimit', 'u8'],
  ['src', 'ipv6'],
  ['dst', 'ipv6'],
] as const;

/** Neighbour Solicitation / Advertisement body after the ICMPv6 type/code/checksum (RFC 4861 4.3, 4.4). */
export const ND_MESSAGE = [
  ['type', 'u8'],     // 135 NS, 136 NA
  ['code', 'u8'],     // 0
  ['checksum', 'u16'],
  ['flags', 'u32'],   // NS: reserved; NA: R S O in the top three bits
  ['target', 'ipv6'],
] as const;

/** Source/target link-layer address option for Ethernet (RFC 4861 4.6.1): length is in units of 8 bytes. */
export const LINK_LAYER_OPTION = [
  ['type', 'u8'],     // 1 source, 2 target
  ['length', 'u8'],   // 1 (8 bytes)
  ['mac', 'mac'],
] as const;

/** Ethertypes we use. */
export const EtherType = { IPv4: 0x0800, ARP: 0x0806, IPv6: 0x86dd } as const;
/** ICMPv6 message types we use. */
export const Icmp6Type = { NeighborSolicitation: 135, NeighborAdvertisement: 136 } as const;
/** NA flag bits. */
export const NaFlags = { Router: 0x80000000, Solicited: 0x40000000, Override: 0x20000000 } as const;
/** ND option types. */
export const NdOption = { SourceLinkLayer: 1, TargetLinkLayer: 2 } as const;

export type EthernetHeader = Record_<typeof ETHERNET>;
export type ArpPacket = Record_<typeof ARP>;
export type Ipv6Header = Record_<typeof IPV6>;
export type NdMessage = Record_<typeof ND_MESSAGE>;

/** Broadcast MAC. */
export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';
const ZERO_MAC = '00:00:00:00:00:00';
/** All-nodes multicast group. */
export const ALL_NODES = 'ff02::1';
const IPPROTO_ICMPV6 = 58;
const MIN_FRAME = 60; // Ethernet minimum without FCS

const ETH_LEN = tableSize(ETHERNET);
const ARP_LEN = tableSize(ARP);
const IPV6_LEN = tableSize(IPV6);
const ND_LEN = tableSize(ND_MESSAGE);
const LINK_LAYER_OPTION_LEN = tableSize(LINK_LAYER_OPTION);

/** Why a frame was not answered; every reason is counted by the responder. */
export type DropReason =
  | 'truncated' | 'not-ethernet-arp' | 'not-request' | 'gratuitous' | 'own-frame' | 'not-owned'
  | 'not-ipv6' | 'not-icmpv6' | 'not-ns' | 'bad-hop-limit' | 'bad-checksum' | 'bad-code' | 'bad-option'
  | 'multicast-target' | 'bad-dad' | 'not-na' | 'bad-na';

/** A parsed ARP frame. */
export interface ArpFrame { readonly eth: EthernetHeader; readonly arp: ArpPacket }

/** Parses an Ethernet frame carrying an Ethernet/IPv4 ARP packet. */
export function parseArpFrame(frame: Buffer): ArpFrame | { drop: DropReason } {
  const eth = decodeTable(ETHERNET, frame);
  if (!eth) return { drop: 'truncated' };
  if (eth.ethertype !== EtherType.ARP) return { drop: 'not-ethernet-arp' };
  const arp = decodeTable(ARP, frame, ETH_LEN);
  if (!arp) return { drop: 'truncated' };
  if (arp.htype !== 1 || arp.ptype !== EtherType.IPv4 || arp.hlen !== 6 || arp.plen !== 4) return { drop: 'not-ethernet-arp' };
  return { eth, arp };
}

/** Builds an Ethernet frame with an ARP packet, padded to the Ethernet minimum. */
export function buildArpFrame(eth: Omit<EthernetHeader, 'ethertype'>, arp: Omit<ArpPacket, 'htype' | 'ptype' | 'hlen' | 'plen'>): Buffer {
  const b = Buffer.alloc(Math.max(MIN_FRAME, ETH_LEN + ARP_LEN));
  encodeTable(ETHERNET, { ...eth, ethertype: EtherType.ARP }, b);
  encodeTable(ARP, { htype: 1, ptype: EtherType.IPv4, hlen: 6, plen: 4, ...arp }, b, ETH_LEN);
  return b;
}

/** The two gratuitous ARP frames (request and reply, both broadcast) that announce `ip` at `mac`. */
export function gratuitousArp(ip: string, mac: string): Buffer[] {
  return [
    buildArpFrame({ dst: BROADCAST_MAC, src: mac }, { oper: 1, sha: mac, spa: ip, tha: ZERO_MAC, tpa: ip }),
    buildArpFrame({ dst: BROADCAST_MAC, src: mac }, { oper: 2, sha: mac, spa: ip, tha: BROADCAST_MAC, tpa: ip }),
  ];
}

/**
 * The RFC 5227 ARP probe for `ip`: a broadcast request with sender IP 0.0.0.0 (so no neighbour cache learns
 * anything from it) and our MAC as sender, which any holder of `ip` answers.
 */
export function arpProbe(ip: string, mac: string): Buffer {
  return buildArpFrame({ dst: BROADCAST_MAC, src: mac }, { oper: 1, sha: mac, spa: '0.0.0.0', tha: ZERO_MAC, tpa: ip });
}

/** A parsed neighbour solicitation. */
export interface NsFrame {
  readonly eth: EthernetHeader;
  readonly ip: Ipv6Header;
  readonly target: string;
  /** Source link-layer address option, if present. */
  readonly sourceMac: string | undefined;
}

/** Internet checksum (RFC 1071) over the IPv6 pseudo-header and the ICMPv6 message. */
export function icmp6Checksum(src: string, dst: string, icmp: Buffer): number {
  const pseudo = Buffer.alloc(40);
  ipBytes(src)?.copy(pseudo, 0);
  ipBytes(dst)?.copy(pseudo, 16);
  pseudo.writeUInt32BE(icmp.length, 32);
  pseudo[39] = IPPROTO_ICMPV6;
  let sum = 0;
  for (const part of [pseudo, icmp]) {
    for (let i = 0; i < part.length; i += 2) sum += ((part[i] ?? 0) << 8) | (part[i + 1] ?? 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Parses ND options; undefined when an option is malformed (zero length or overruns the message). */
function parseOptions(b: Buffer, off: number): Map<number, Buffer> | undefined {
  const out = new Map<number, Buffer>();
  let o = off;
  while (o < b.length) {
    if (o + 2 > b.length) return undefined;
    const type = b[o] ?? 0;
    const len = (b[o + 1] ?? 0) * 8;
    if (len === 0 || o + len > b.length) return undefined;
    if (!out.has(type)) out.set(type, b.subarray(o + 2, o + len));
    o += len;
  }
  return out;
}

/** Solicited-node multicast address of an IPv6 address (RFC 4291 2.7.1). */
export function solicitedNode(ip: string): string {
  const b = ipBytes(ip);
  if (!b || b.length !== 16) throw new TypeError(`not an IPv6 address: ${ip}`);
  const g = Buffer.alloc(16);
  g.writeUInt16BE(0xff02, 0);
  g[11] = 1;
  g[12] = 0xff;
  b.copy(g, 13, 13, 16);
  return ipv6ToString(g);
}

/** An ND message of one type that passed the checks both NS and NA need (RFC 4861 7.1.1 / 7.1.2). */
interface NdParsed {
  readonly eth: EthernetHeader;
  readonly ip: Ipv6Header;
  readonly nd: NdMessage;
  readonly opts: Map<number, Buffer>;
}

/**
 * The checks common to NS and NA: Ethernet/IPv6/ICMPv6 framing, the message type (else `wrongType`), hop limit
 * 255, code 0, a valid checksum, a non-multicast target and well-formed options.
 */
function parseNd(frame: Buffer, type: number, wrongType: DropReason): NdParsed | { drop: DropReason } {
  const eth = decodeTable(ETHERNET, frame);
  if (!eth) return { drop: 'truncated' };
  if (eth.ethertype !== EtherType.IPv6) return { drop: 'not-ipv6' };
  const ip = decodeTable(IPV6, frame, ETH_LEN);
  if (!ip) return { drop: 'truncated' };
  if (ip.vtcFlow >>> 28 !== 6) return { drop: 'not-ipv6' };
  if (ip.nextHeader !== IPPROTO_ICMPV6) return { drop: 'not-icmpv6' };
  const start = ETH_LEN + IPV6_LEN;
  if (frame.length < start + ip.payloadLength || ip.payloadLength < ND_LEN) return { drop: 'truncated' };
  const icmp = frame.subarray(start, start + ip.payloadLength);
  const nd = decodeTable(ND_MESSAGE, icmp);
  if (!nd) return { drop: 'truncated' };
  if (nd.type !== type) return { drop: wrongType };
  if (ip.hopLimit !== 255) return { drop: 'bad-hop-limit' };
  if (nd.code !== 0) return { drop: 'bad-code' };
  if (icmp6Checksum(ip.src, ip.dst, icmp) !== 0) return { drop: 'bad-checksum' };
  if (icmp[8] === 0xff) return { drop: 'multicast-target' }; // first byte of the target address
  const opts = parseOptions(icmp, ND_LEN);
  if (!opts) return { drop: 'bad-option' };
  return { eth, ip, nd, opts };
}

/**
 * Parses and validates an Ethernet frame carrying a Neighbour Solicitation as RFC 4861 7.1.1 asks:
 * hop limit 255, code 0, valid checksum, non-multicast target, sane options, and for DAD (unspecified
 * source) a solicited-node destination and no source link-layer option.
 */
export function parseNsFrame(frame: Buffer): NsFrame | { drop: DropReason } {
  const p = parseNd(frame, Icmp6Type.NeighborSolicitation, 'not-ns');
  if ('drop' in p) return p;
  const { eth, ip, nd, opts } = p;
  const slla = opts.get(NdOption.SourceLinkLayer);
  if (slla !== undefined && slla.length < 6) return { drop: 'bad-option' };
  if (ip.src === '::' && (slla !== undefined || ip.dst !== solicitedNode(nd.target))) return { drop: 'bad-dad' };
  return { eth, ip, target: nd.target, sourceMac: slla ? macToString(slla) : undefined };
}

/** A parsed neighbour advertisement. */
export interface NaFrame {
  readonly eth: EthernetHeader;
  readonly ip: Ipv6Header;
  readonly target: string;
  /** R, S and O bits as in {@link NaFlags}. */
  readonly flags: number;
  /** Target link-layer address option, if present. */
  readonly targetMac: string | undefined;
}

/**
 * Parses and validates an Ethernet frame carrying a Neighbour Advertisement (RFC 4861 7.1.2): the checks of
 * {@link parseNsFrame}, and an NA sent to a multicast group must not have S set (`bad-na`). Used to see who
 * else claims an address (probes, duels); the responder never answers an NA.
 */
export function parseNaFrame(frame: Buffer): NaFrame | { drop: DropReason } {
  const p = parseNd(frame, Icmp6Type.NeighborAdvertisement, 'not-na');
  if ('drop' in p) return p;
  const { eth, ip, nd, opts } = p;
  const tlla = opts.get(NdOption.TargetLinkLayer);
  if (tlla !== undefined && tlla.length < 6) return { drop: 'bad-option' };
  if (ip.dst.startsWith('ff') && (nd.flags & NaFlags.Solicited) !== 0) return { drop: 'bad-na' };
  return { eth, ip, target: nd.target, flags: (nd.flags & 0xe0000000) >>> 0, targetMac: tlla ? macToString(tlla) : undefined };
}

/** Ethernet multicast MAC of an IPv6 multicast group (33:33 + low 32 bits). */
export function multicastMac(group: string): string {
  const b = ipBytes(group) ?? Buffer.alloc(16);
  return macToString(Buffer.from([0x33, 0x33, b[12] ?? 0, b[13] ?? 0, b[14] ?? 0, b[15] ?? 0]));
}

/** One ND message in an Ethernet frame, with an optional link-layer address option; the one builder for NS and NA. */
function buildNdFrame(o: {
  type: number; flags: number; target: string; mac: string; dstMac: string; srcIp: string; dstIp: string; hopLimit: number;
  option: number | undefined;
}): Buffer {
  const icmpLen = ND_LEN + (o.option === undefined ? 0 : LINK_LAYER_OPTION_LEN);
  const b = Buffer.alloc(ETH_LEN + IPV6_LEN + icmpLen);
  encodeTable(ETHERNET, { dst: o.dstMac, src: o.mac, ethertype: EtherType.IPv6 }, b);
  encodeTable(IPV6, { vtcFlow: 6 << 28, payloadLength: icmpLen, nextHeader: IPPROTO_ICMPV6, hopLimit: o.hopLimit, src: o.srcIp, dst: o.dstIp }, b, ETH_LEN);
  const icmp = b.subarray(ETH_LEN + IPV6_LEN);
  encodeTable(ND_MESSAGE, { type: o.type, code: 0, checksum: 0, flags: o.flags >>> 0, target: o.target }, icmp);
  if (o.option !== undefined) encodeTable(LINK_LAYER_OPTION, { type: o.option, length: 1, mac: o.mac }, icmp, ND_LEN);
  icmp.writeUInt16BE(icmp6Checksum(o.srcIp, o.dstIp, icmp), 2);
  return b;
}

/**
 * Builds a Neighbour Advertisement frame for `target` at `mac` with a target link-layer option.
 * Solicited answers go unicast to the solicitor; unsolicited ones (S=0) to all-nodes.
 */
export function buildNaFrame(o: { target: string; mac: string; dstMac: string; dstIp: string; srcIp: string; solicited: boolean }): Buffer {
  return buildNdFrame({
    ...o, type: Icmp6Type.NeighborAdvertisement, flags: NaFlags.Override | (o.solicited ? NaFlags.Solicited : 0),
    hopLimit: 255, option: NdOption.TargetLinkLayer,
  });
}

/** The unsolicited NA (Override, to ff02::1) that moves `ip` to `mac` in every neighbour cache. */
export function unsolicitedNa(ip: string, mac: string): Buffer {
  return buildNaFrame({ target: ip, mac, dstMac: multicastMac(ALL_NODES), dstIp: ALL_NODES, srcIp: ip, solicited: false });
}

/** Builds a Neighbour Solicitation frame (tests and probes); DAD probes (source ::) carry no option. */
export function buildNsFrame(o: { target: string; mac: string; srcIp: string; dstIp?: string; hopLimit?: number }): Buffer {
  const dstIp = o.dstIp ?? solicitedNode(o.target);
  return buildNdFrame({
    type: Icmp6Type.NeighborSolicitation, flags: 0, target: o.target, mac: o.mac, dstMac: multicastMac(dstIp), srcIp: o.srcIp, dstIp,
    hopLimit: o.hopLimit ?? 255, option: o.srcIp === '::' ? undefined : NdOption.SourceLinkLayer,
  });
}
