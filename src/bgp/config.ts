/**
 * Speaker and peer settings (the `bgp-announce` config file today, BGPPeer objects later). Validated
 * before any socket opens, with messages that name the field.
 */
import { parseIP, parseRange } from '../lb/ipnet.ts';
import { BaregateError, ErrorCodes } from '../api/errors.ts';

/** One BGP neighbour. Field names follow MetalLB's BGPPeer. */
export interface PeerConfig {
  readonly name: string;
  readonly peerAddress: string;
  readonly peerASN?: number | undefined;
  readonly dynamicASN?: 'internal' | 'external' | undefined;
  readonly peerPort: number;
  readonly sourceAddress?: string | undefined;
  readonly holdTime: number;
  readonly keepaliveTime?: number | undefined;
  /** First connect-retry delay, seconds. */
  readonly connectTime: number;
  readonly ebgpMultiHop: boolean;
  readonly password?: string | undefined;
  readonly passive: boolean;
  readonly gracefulRestart: boolean;
  /** Next hops for the other family than the session's (RFC 8950 extended next hop is not supported). */
  readonly nextHopIPv4?: string | undefined;
  readonly nextHopIPv6?: string | undefined;
}

/** Attributes of an announced route. */
export interface RouteAttributes {
  readonly communities?: readonly string[] | undefined;
  readonly largeCommunities?: readonly string[] | undefined;
  readonly localPref?: number | undefined;
  readonly med?: number | undefined;
}

/** A route to announce, optionally to some peers only. */
export interface RouteConfig extends RouteAttributes {
  readonly prefix: string;
  readonly peers?: readonly string[] | undefined;
}

/** The whole speaker. */
export interface SpeakerConfig {
  readonly routerID: string;
  readonly myASN: number;
  readonly listenAddress?: string | undefined;
  readonly listenPort: number;
  readonly peers: readonly PeerConfig[];
  readonly prefixes: readonly RouteConfig[];
}

/** A config scalar as text (YAML may give numbers); anything else is empty, which fails validation with the field's name. */
const text = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '');
const bad = (msg: string): never => { throw new BaregateError(ErrorCodes.BadConfig, msg); };
const isAsn = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 0xffffffff;
const isU32 = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;

/** Well-known community names accepted in configs. */
export const COMMUNITY_NAMES: Record<string, number> = {
  'graceful-shutdown': 0xffff0000, 'no-export': 0xffffff01, 'no-advertise': 0xffffff02, 'no-export-subconfed': 0xffffff03, 'no-peer': 0xffffff04,
};

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

/** Validates route attributes; throws BaregateError naming the problem. */
export function checkAttributes(where: string, a: RouteAttributes): void {
  for (const c of a.communities ?? []) if (parseCommunity(c) === undefined) bad(`${where}: community "${c}" is not ASN:value (16-bit each) or a well-known name`);
  for (const c of a.largeCommunities ?? []) if (!parseLargeCommunity(c)) bad(`${where}: large community "${c}" is not global:local1:local2`);
  if (a.localPref !== undefined && !isU32(a.localPref)) bad(`${where}: localPref must be 0..4294967295`);
  if (a.med !== undefined && !isU32(a.med)) bad(`${where}: med must be 0..4294967295`);
}

/** Reads and validates a speaker config from parsed YAML/JSON; throws BaregateError with a clear message. */
export function parseSpeakerConfig(raw: unknown): SpeakerConfig {
  const r = (raw ?? {}) as Record<string, unknown>;
  const routerID = text(r.routerID);
  if (parseIP(routerID)?.family !== 'IPv4' || routerID === '0.0.0.0') bad(`routerID: "${routerID}" must be a non-zero IPv4 address`);
  if (!isAsn(r.myASN)) bad(`myASN: must be 1..4294967295, got ${JSON.stringify(r.myASN)}`);
  const listenPort = r.listenPort === undefined ? 179 : Number(r.listenPort);
  if (!Number.isInteger(listenPort) || listenPort < 1 || listenPort > 65535) bad('listenPort: must be 1..65535');
  if (r.listenAddress !== undefined && !parseIP(text(r.listenAddress))) bad('listenAddress: not an IP address');
  const names = new Set<string>();
  const peers = ((r.peers ?? []) as Record<string, unknown>[]).map((p, i): PeerConfig => {
    const addr = text(p.peerAddress);
    const where = `peers[${i}]`;
    if (!parseIP(addr)) bad(`${where}.peerAddress: "${addr}" is not an IP address`);
    const name = (text(p.name) || addr);
    if (names.has(name)) bad(`${where}.name: "${name}" is used twice`);
    names.add(name);
    if (p.peerASN !== undefined && !isAsn(p.peerASN)) bad(`${where}.peerASN: must be 1..4294967295`);
    if (p.dynamicASN !== undefined && p.dynamicASN !== 'internal' && p.dynamicASN !== 'external') bad(`${where}.dynamicASN: must be internal or external`);
    if ((p.peerASN === undefined) === (p.dynamicASN === undefined)) bad(`${where}: set exactly one of peerASN and dynamicASN`);
    const holdTime = p.holdTime === undefined ? 90 : Number(p.holdTime);
    if (!Number.isInteger(holdTime) || holdTime < 0 || holdTime > 65535 || holdTime === 1 || holdTime === 2) bad(`${where}.holdTime: must be 0 or 3..65535 seconds (RFC 4271), got ${String(p.holdTime)}`);
    const keepaliveTime = p.keepaliveTime === undefined ? undefined : Number(p.keepaliveTime);
    if (keepaliveTime !== undefined && (!Number.isInteger(keepaliveTime) || keepaliveTime < 1 || (holdTime > 0 && keepaliveTime > holdTime))) bad(`${where}.keepaliveTime: must be 1..holdTime seconds`);
    const src = p.sourceAddress === undefined ? undefined : text(p.sourceAddress);
    if (src !== undefined && parseIP(src)?.family !== parseIP(addr)?.family) bad(`${where}.sourceAddress: "${src}" must be an address of the same family as peerAddress ${addr}`);
    const password = p.password === undefined ? undefined : text(p.password);
    if (password !== undefined && Buffer.byteLength(password) > 80) bad(`${where}.password: TCP-MD5 keys are at most 80 bytes`);
    for (const [k, fam] of [['nextHopIPv4', 'IPv4'], ['nextHopIPv6', 'IPv6']] as const) {
      if (p[k] !== undefined && parseIP(text(p[k]))?.family !== fam) bad(`${where}.${k}: must be an ${fam} address`);
    }
    const port = p.peerPort === undefined ? 179 : Number(p.peerPort);
    if (!Number.isInteger(port) || port < 1 || port > 65535) bad(`${where}.peerPort: must be 1..65535`);
    const connectTime = p.connectTime === undefined ? 5 : Number(p.connectTime);
    if (!(connectTime > 0 && connectTime <= 3600)) bad(`${where}.connectTime: must be 0 < s ≤ 3600`);
    return {
      name, peerAddress: addr, peerASN: p.peerASN as number | undefined, dynamicASN: p.dynamicASN as 'internal' | 'external' | undefined,
      peerPort: port, sourceAddress: src, holdTime, keepaliveTime, connectTime,
      ebgpMultiHop: p.ebgpMultiHop === true, password, passive: p.passive === true, gracefulRestart: p.gracefulRestart !== false,
      nextHopIPv4: p.nextHopIPv4 as string | undefined, nextHopIPv6: p.nextHopIPv6 as string | undefined,
    };
  });
  const prefixes = ((r.prefixes ?? []) as Record<string, unknown>[]).map((x, i): RouteConfig => {
    const where = `prefixes[${i}]`;
    const route = { ...(x as unknown as RouteConfig), prefix: text(x.prefix) };
    checkPrefix(where, route.prefix);
    checkAttributes(where, route);
    for (const n of route.peers ?? []) if (!names.has(n)) bad(`${where}.peers: no peer named "${n}"`);
    return route;
  });
  return { routerID, myASN: r.myASN as number, listenAddress: r.listenAddress as string | undefined, listenPort, peers, prefixes };
}

/** Checks a prefix is a CIDR with no host bits; throws BaregateError otherwise. */
export function checkPrefix(where: string, prefix: string): void {
  const [ip = '', len] = prefix.split('/');
  const r = parseRange(prefix.includes('/') ? prefix : `${prefix}/${parseIP(prefix)?.family === 'IPv6' ? 128 : 32}`);
  if ('error' in r || parseIP(ip)?.value !== r.lo || (len !== undefined && !/^\d+$/.test(len))) bad(`${where}: "${prefix}" is not a prefix without host bits`);
}
