/**
 * Speaker and peer settings (the `bgp-announce` config file today, BGPPeer objects later). Validated
 * before any socket opens, with messages that name the field.
 */
import { parseIP, parsePrefix } from '../net/ip.ts';
import { BaregateError, ErrorCodes } from '../api/errors.ts';
import type { BGPPeerConfig } from '../config/types.ts';
import { Afi } from './message.ts';
import { MAX_NLRI_BYTES, announceRoom } from './packing.ts';
import { parseCommunity, parseLargeCommunity, routeAttributes } from './routeattrs.ts';

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
  /** Smallest hold time accepted from the peer; 0 lets a peer run the session without keepalives. Default 3. */
  readonly minHoldTime: number;
  /** RFC 9687 send hold time, seconds: a peer that reads nothing for this long is dropped. Default max(480, 2 × hold time). */
  readonly sendHoldTime?: number | undefined;
  /** GTSM (RFC 5082): send with TTL 255 and accept only packets that crossed at most this many hops (1: directly connected). */
  readonly ttlSecurityHops?: number | undefined;
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
const isAsn = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 0xffffffff;
const isU32 = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;

export { COMMUNITY_NAMES, parseCommunity, parseLargeCommunity } from './routeattrs.ts';

/** One problem in a config: the field (`peers[1].holdTime`) and what is wrong with it. */
export interface ConfigIssue {
  readonly field: string;
  readonly message: string;
}

/**
 * A config with problems: every one of them, so an operator fixes the file once instead of once per
 * error. The message lists them all, one `field: problem` a line.
 */
export class SpeakerConfigError extends BaregateError {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(ErrorCodes.BadConfig, issues.length === 1 ? `${issues[0]?.field ?? ''}: ${issues[0]?.message ?? ''}` : `${issues.length} problems in the config:\n${issues.map((i) => `  ${i.field}: ${i.message}`).join('\n')}`);
    this.name = 'SpeakerConfigError';
    this.issues = issues;
  }
}

/** Collects issues; `where` is the field, `msg` the problem. */
class Issues {
  readonly list: ConfigIssue[] = [];
  add(field: string, message: string): void {
    this.list.push({ field, message });
  }
  /** Throws them all, if any. */
  throwIfAny(): void {
    if (this.list.length > 0) throw new SpeakerConfigError(this.list);
  }
}

/** Largest 2-octet-peer, non-extended attribute overhead a route can meet: what must leave room for a host route. */
function roomProblem(a: RouteAttributes, myASN: number): string | undefined {
  const ctx = { fourOctetAS: false, extendedMessages: false };
  let worst = Infinity;
  for (const ebgp of [true, false]) {
    const attrs = routeAttributes(a, { myASN, ebgp, gshut: true });
    worst = Math.min(worst, announceRoom(Afi.IPv4, attrs, ['0.0.0.0'], ctx) - (MAX_NLRI_BYTES[Afi.IPv4] ?? 5), announceRoom(Afi.IPv6, attrs, ['::'], ctx) - (MAX_NLRI_BYTES[Afi.IPv6] ?? 17));
  }
  return worst < 0 ? `the communities and attributes need more than a 4096-byte UPDATE leaves for one prefix (over by ${-worst} bytes): use fewer communities` : undefined;
}

function attributeIssues(issues: Issues, where: string, a: RouteAttributes, myASN: number | undefined): void {
  const before = issues.list.length;
  if (a.communities !== undefined && !Array.isArray(a.communities)) issues.add(`${where}.communities`, 'must be a list');
  else for (const c of a.communities ?? []) if (parseCommunity(String(c)) === undefined) issues.add(`${where}.communities`, `community "${String(c)}" is not ASN:value (16-bit each) or a well-known name`);
  if (a.largeCommunities !== undefined && !Array.isArray(a.largeCommunities)) issues.add(`${where}.largeCommunities`, 'must be a list');
  else for (const c of a.largeCommunities ?? []) if (!parseLargeCommunity(String(c))) issues.add(`${where}.largeCommunities`, `large community "${String(c)}" is not global:local1:local2`);
  if (a.localPref !== undefined && !isU32(a.localPref)) issues.add(`${where}.localPref`, 'must be 0..4294967295');
  if (a.med !== undefined && !isU32(a.med)) issues.add(`${where}.med`, 'must be 0..4294967295');
  if (issues.list.length === before) {
    const p = roomProblem(a, myASN ?? 0xffffffff);
    if (p !== undefined) issues.add(`${where}.communities`, p);
  }
}

/** Validates route attributes (also that they leave room for a prefix in an UPDATE); throws SpeakerConfigError listing every problem. */
export function checkAttributes(where: string, a: RouteAttributes, myASN?: number): void {
  const issues = new Issues();
  attributeIssues(issues, where, a, myASN);
  issues.throwIfAny();
}

const asObject = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : {});

/** A list field: the list, or an issue and nothing. */
function list(issues: Issues, field: string, v: unknown): unknown[] {
  if (v === undefined) return [];
  if (Array.isArray(v)) return v;
  issues.add(field, 'must be a list');
  return [];
}

function peerConfig(issues: Issues, raw: unknown, i: number, names: Set<string>): PeerConfig {
  const p = asObject(raw);
  const where = `peers[${i}]`;
  const addr = text(p.peerAddress);
  if (!parseIP(addr)) issues.add(`${where}.peerAddress`, `"${addr}" is not an IP address`);
  const name = (text(p.name) || addr);
  if (names.has(name)) issues.add(`${where}.name`, `"${name}" is used twice`);
  names.add(name);
  if (p.peerASN !== undefined && !isAsn(p.peerASN)) issues.add(`${where}.peerASN`, 'must be 1..4294967295');
  if (p.dynamicASN !== undefined && p.dynamicASN !== 'internal' && p.dynamicASN !== 'external') issues.add(`${where}.dynamicASN`, 'must be internal or external');
  if ((p.peerASN === undefined) === (p.dynamicASN === undefined)) issues.add(where, 'set exactly one of peerASN and dynamicASN');
  const holdTime = p.holdTime === undefined ? 90 : Number(p.holdTime);
  const holdOk = Number.isInteger(holdTime) && holdTime >= 0 && holdTime <= 65535 && holdTime !== 1 && holdTime !== 2;
  if (!holdOk) issues.add(`${where}.holdTime`, `must be 0 or 3..65535 seconds (RFC 4271), got ${String(p.holdTime)}`);
  const keepaliveTime = p.keepaliveTime === undefined ? undefined : Number(p.keepaliveTime);
  if (keepaliveTime !== undefined && (!Number.isInteger(keepaliveTime) || keepaliveTime < 1 || (holdTime > 0 && keepaliveTime > holdTime))) issues.add(`${where}.keepaliveTime`, 'must be 1..holdTime seconds');
  const minHoldTime = p.minHoldTime === undefined ? 3 : Number(p.minHoldTime);
  if (!Number.isInteger(minHoldTime) || minHoldTime < 0 || minHoldTime === 1 || minHoldTime === 2 || (holdOk && holdTime > 0 && minHoldTime > holdTime)) {
    issues.add(`${where}.minHoldTime`, `must be 0 (accept a peer that wants no keepalives) or 3..holdTime seconds, got ${String(p.minHoldTime)}`);
  }
  const sendHoldTime = p.sendHoldTime === undefined ? undefined : Number(p.sendHoldTime);
  if (sendHoldTime !== undefined && (!Number.isInteger(sendHoldTime) || sendHoldTime < 1 || sendHoldTime > 65535)) issues.add(`${where}.sendHoldTime`, 'must be 1..65535 seconds');
  const src = p.sourceAddress === undefined ? undefined : text(p.sourceAddress);
  if (src !== undefined && parseIP(src)?.family !== parseIP(addr)?.family) issues.add(`${where}.sourceAddress`, `"${src}" must be an address of the same family as peerAddress ${addr}`);
  const password = p.password === undefined ? undefined : text(p.password);
  if (password !== undefined && Buffer.byteLength(password) > 80) issues.add(`${where}.password`, 'TCP-MD5 keys are at most 80 bytes');
  for (const [k, fam] of [['nextHopIPv4', 'IPv4'], ['nextHopIPv6', 'IPv6']] as const) {
    if (p[k] !== undefined && parseIP(text(p[k]))?.family !== fam) issues.add(`${where}.${k}`, `must be an ${fam} address`);
  }
  const port = p.peerPort === undefined ? 179 : Number(p.peerPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) issues.add(`${where}.peerPort`, 'must be 1..65535');
  const connectTime = p.connectTime === undefined ? 5 : Number(p.connectTime);
  if (!(connectTime > 0 && connectTime <= 3600)) issues.add(`${where}.connectTime`, 'must be 0 < s ≤ 3600');
  const ttlSecurityHops = p.ttlSecurityHops === undefined ? undefined : Number(p.ttlSecurityHops);
  if (ttlSecurityHops !== undefined && (!Number.isInteger(ttlSecurityHops) || ttlSecurityHops < 1 || ttlSecurityHops > 254)) issues.add(`${where}.ttlSecurityHops`, 'must be 1..254 (1: directly connected)');
  return {
    name, peerAddress: addr, peerASN: p.peerASN as number | undefined, dynamicASN: p.dynamicASN as 'internal' | 'external' | undefined,
    peerPort: port, sourceAddress: src, holdTime, keepaliveTime, minHoldTime, sendHoldTime, connectTime,
    ebgpMultiHop: p.ebgpMultiHop === true, password, passive: p.passive === true, gracefulRestart: p.gracefulRestart !== false,
    nextHopIPv4: p.nextHopIPv4 as string | undefined, nextHopIPv6: p.nextHopIPv6 as string | undefined, ttlSecurityHops,
  };
}

/**
 * Reads and validates a speaker config from parsed YAML/JSON. Every problem is found before any socket
 * opens and reported at once: throws {@link SpeakerConfigError} with one {@link ConfigIssue} per problem.
 */
export function parseSpeakerConfig(raw: unknown): SpeakerConfig {
  const issues = new Issues();
  const r = asObject(raw);
  const routerID = text(r.routerID);
  if (parseIP(routerID)?.family !== 'IPv4' || routerID === '0.0.0.0') issues.add('routerID', `"${routerID}" must be a non-zero IPv4 address`);
  if (!isAsn(r.myASN)) issues.add('myASN', `must be 1..4294967295, got ${JSON.stringify(r.myASN)}`);
  const myASN = isAsn(r.myASN) ? r.myASN : undefined;
  const listenPort = r.listenPort === undefined ? 179 : Number(r.listenPort);
  if (!Number.isInteger(listenPort) || listenPort < 1 || listenPort > 65535) issues.add('listenPort', 'must be 1..65535');
  const listenAddress = r.listenAddress === undefined ? undefined : text(r.listenAddress);
  if (listenAddress !== undefined && !parseIP(listenAddress)) issues.add('listenAddress', `"${listenAddress}" is not an IP address`);
  const names = new Set<string>();
  const peers = list(issues, 'peers', r.peers).map((p, i) => peerConfig(issues, p, i, names));
  peers.forEach((p, i) => {
    // the listener binds listenAddress, or else each passive peer's sourceAddress: never every address by default
    if (p.passive && listenAddress === undefined && p.sourceAddress === undefined) issues.add(`peers[${i}].passive`, 'a passive peer needs sourceAddress (the address to listen on) or a listenAddress');
  });
  const prefixes = list(issues, 'prefixes', r.prefixes).map((raw, i): RouteConfig => {
    const x = asObject(raw);
    const where = `prefixes[${i}]`;
    const route = { ...(x as unknown as RouteConfig), prefix: text(x.prefix) };
    const bad = prefixProblem(route.prefix);
    if (bad !== undefined) issues.add(`${where}.prefix`, bad);
    attributeIssues(issues, where, route, myASN);
    for (const n of list(issues, `${where}.peers`, x.peers)) if (!names.has(String(n))) issues.add(`${where}.peers`, `no peer named "${String(n)}"`);
    return route;
  });
  issues.throwIfAny();
  return { routerID, myASN: r.myASN as number, listenAddress, listenPort, peers, prefixes };
}

/** Why a text is not a CIDR prefix without host bits (`ip`, or `ip/len` with len in range), or undefined. */
function prefixProblem(prefix: string): string | undefined {
  return parsePrefix(prefix) === undefined ? `"${prefix}" is not a prefix without host bits` : undefined;
}

/** Checks a prefix is a CIDR with no host bits (and nothing after the length); throws SpeakerConfigError otherwise. */
export function checkPrefix(where: string, prefix: string): void {
  const bad = prefixProblem(prefix);
  if (bad !== undefined) throw new SpeakerConfigError([{ field: where, message: bad }]);
}

/** The fields of a validated BGPPeer (config/types.ts) that become a session's settings. */
export type BGPPeerFields = Pick<BGPPeerConfig,
  'name' | 'peerAddress' | 'peerASN' | 'dynamicASN' | 'peerPort' | 'sourceAddress' | 'holdTime' | 'keepaliveTime' |
  'connectTime' | 'ebgpMultiHop' | 'passive' | 'gracefulRestart' | 'password'>;

/** What a BGPPeer does not say and the node knows: its addresses, and speaker-wide session settings. */
export interface NodePeerDefaults {
  /** The node's IPv4 address: the next hop of IPv4 routes sent over an IPv6 session. */
  readonly nodeIPv4?: string | undefined;
  /** The node's IPv6 address: the next hop of IPv6 routes sent over an IPv4 session. */
  readonly nodeIPv6?: string | undefined;
  /**
   * Listen on the node's address of the peer's family for a passive peer that names no sourceAddress
   * (default true): a passive session needs a listener, and never one on every address.
   */
  readonly passiveSourceFromNode?: boolean | undefined;
  /** Smallest hold time accepted from the peer (default 3, or 0 when the peer's holdTime is 0). */
  readonly minHoldTime?: number | undefined;
  /** RFC 9687 send hold time, seconds (default max(480, 2 × hold time)). */
  readonly sendHoldTime?: number | undefined;
  /** GTSM hops for every peer (default off). */
  readonly ttlSecurityHops?: number | undefined;
}

/**
 * A BGPPeer as the speaker runs it. `myASN` and `routerID` are not per session here: they are the
 * Speaker's, fixed for its life (see {@link speakerIdentity}); a change of either means a new Speaker.
 * The next hop for the session's own family is always the session's local address, so only the other
 * family's next hop comes from the node. The input is already validated (parseConfig), so this only maps.
 */
export function peerFromConfig(p: BGPPeerFields, d: NodePeerDefaults = {}): PeerConfig {
  const family = parseIP(p.peerAddress)?.family;
  const source = p.sourceAddress ?? (p.passive && d.passiveSourceFromNode !== false ? (family === 'IPv6' ? d.nodeIPv6 : d.nodeIPv4) : undefined);
  return {
    name: p.name, peerAddress: p.peerAddress, peerASN: p.peerASN, dynamicASN: p.dynamicASN,
    peerPort: p.peerPort, sourceAddress: source, holdTime: p.holdTime, keepaliveTime: p.keepaliveTime, connectTime: p.connectTime,
    ebgpMultiHop: p.ebgpMultiHop, password: p.password, passive: p.passive, gracefulRestart: p.gracefulRestart,
    nextHopIPv4: family === 'IPv6' ? d.nodeIPv4 : undefined, nextHopIPv6: family === 'IPv4' ? d.nodeIPv6 : undefined,
    minHoldTime: d.minHoldTime ?? (p.holdTime === 0 ? 0 : Math.min(3, p.holdTime)), sendHoldTime: d.sendHoldTime, ttlSecurityHops: d.ttlSecurityHops,
  };
}

/** The speaker-wide identity chosen from a node's peers, and the peers that cannot share it. */
export interface SpeakerIdentity {
  /** undefined when there are no peers. */
  readonly myASN: number | undefined;
  /** The first peer's routerID, else the node's IPv4 address; undefined when neither exists. */
  readonly routerID: string | undefined;
  /** Peers (by name) whose myASN or routerID differs from the chosen one: one Speaker cannot serve them. */
  readonly conflicting: readonly string[];
}

/**
 * One Speaker has one local AS and one router ID, while each BGPPeer names its own. The first peer (in
 * the order given: parseConfig's is by name) decides; peers that disagree are listed so the caller can
 * leave them out and say why. A change of the result means the Speaker must be recreated.
 */
export function speakerIdentity(peers: readonly Pick<BGPPeerConfig, 'name' | 'myASN' | 'routerID'>[], nodeIPv4: string | undefined): SpeakerIdentity {
  const first = peers[0];
  if (!first) return { myASN: undefined, routerID: nodeIPv4, conflicting: [] };
  const routerID = first.routerID ?? nodeIPv4;
  const conflicting = peers.filter((p) => p.myASN !== first.myASN || (p.routerID ?? nodeIPv4) !== routerID).map((p) => p.name);
  return { myASN: first.myASN, routerID, conflicting };
}
