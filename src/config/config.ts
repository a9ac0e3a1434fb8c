/**
 * parseConfig(): the baregate.io objects (and the Secrets they point at) as they come from the API,
 * unvalidated, to the {@link Config} every component works from plus every problem found. One parser
 * for the controller (which pools are announced at all), the speaker and the admission webhook, so
 * they cannot disagree about what an object means.
 *
 * Pure and total: it never throws, whatever it is given. Objects may come from a cluster without our
 * CEL rules (an older CRD, a restore, a test), so every field is checked again here. An object with an
 * `error` is left out of the Config and the rest is kept: one bad BGPPeer never stops the others.
 */
import { BFDProfileDefaults, BFDProfileRanges } from '../api/bfdprofile.ts';
import { SYSTEM_NAMESPACE, PASSWORD_SECRET_KEY } from '../api/keys.ts';
import type { LabelSelector, LabelSelectorRequirement } from '../api/types.ts';
import { selectorMatches } from '../api/types.ts';
import { canonicalIP, overlappingRanges, parseIP, parseRange, type Family } from '../net/ip.ts';
import { formatCommunity, parseCommunity, parseLargeCommunity } from './communities.ts';
import {
  ProblemCodes,
  type BFDProfileConfig, type BGPAdvertisementConfig, type BGPPeerConfig, type Config, type ConfigProblem, type ConfigSnapshot,
  type L2AdvertisementConfig, type ParsedConfig, type PoolRef, type ProblemCode, type SecretObject,
} from './types.ts';

/** Defaults where a BGPPeer leaves a field out (MetalLB's where it has one; see the README). */
export const PeerDefaults = {
  /** MetalLB's default hold time (RFC 4271 suggests 90 s too). */
  holdTime: 90,
  /**
   * MetalLB sets none (FRR then waits its own 120 s between attempts). 10 s: a router that restarts is
   * peered again within seconds, while a peer that is down costs one SYN per 10 s.
   */
  connectTime: 10,
  peerPort: 179,
  /** MetalLB's default: off. With graceful restart the router keeps routes to a node whose speaker died. */
  gracefulRestart: false,
} as const;

type Kind = ConfigProblem['kind'];
type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const asArray = (v: unknown): readonly unknown[] => (Array.isArray(v) ? v : []);
const show = (v: unknown): string => {
  try {
    const j: unknown = JSON.stringify(v);
    return typeof j === 'string' ? j : String(v);
  } catch { return String(v); }
};
const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Problems of one object; `errors` tells whether it must be left out. */
class Problems {
  errors = 0;
  constructor(private readonly out: ConfigProblem[], private readonly kind: Kind, private readonly name: string) {}
  error(field: string, code: ProblemCode, message: string): void {
    this.errors++;
    this.out.push({ kind: this.kind, name: this.name, field, code, severity: 'error', message });
  }
  warn(field: string, code: ProblemCode, message: string): void {
    this.out.push({ kind: this.kind, name: this.name, field, code, severity: 'warning', message });
  }
}

/** `metadata.name` of an object, '' when there is none. */
function nameOf(o: unknown): string {
  const m = isObj(o) ? o.metadata : undefined;
  return isObj(m) && typeof m.name === 'string' ? m.name : '';
}

/** The objects of one kind that have a name, each name once (the first wins); problems for the rest. */
function named(list: unknown, kind: Kind, out: ConfigProblem[]): { name: string; obj: Obj }[] {
  const seen = new Set<string>();
  const res: { name: string; obj: Obj }[] = [];
  asArray(list).forEach((o, i) => {
    const name = nameOf(o);
    if (!isObj(o) || name === '') { out.push({ kind, name: '', field: `[${i}].metadata.name`, code: ProblemCodes.Invalid, severity: 'error', message: `${kind} #${i} has no metadata.name` }); return; }
    if (seen.has(name)) { out.push({ kind, name, field: 'metadata.name', code: ProblemCodes.Invalid, severity: 'error', message: `a second ${kind} named "${name}" is ignored` }); return; }
    seen.add(name);
    res.push({ name, obj: o });
  });
  return res.sort(byName);
}

/** A list of strings, or undefined (and an error) when the field is something else. */
function stringList(p: Problems, field: string, v: unknown, what: string): string[] | undefined {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) { p.error(field, ProblemCodes.Invalid, `must be a list of ${what}`); return undefined; }
  const out: string[] = [];
  let ok = true;
  for (const [i, x] of v.entries()) {
    if (typeof x === 'string' && x !== '') out.push(x);
    else { p.error(`${field}[${i}]`, ProblemCodes.Invalid, `${show(x)} is not a ${what.replace(/s$/, '')}`); ok = false; }
  }
  return ok ? out : undefined;
}

const OPERATORS: readonly string[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

/**
 * A label selector checked as the apiserver checks `metav1.LabelSelector`: string labels, a known
 * operator, values for In/NotIn and none for Exists/DoesNotExist. Undefined (and a `bad-selector`
 * error) otherwise: a selector we cannot read would match the wrong nodes or pools.
 */
function selector(p: Problems, field: string, v: unknown): LabelSelector | null {
  const bad = (f: string, msg: string): null => { p.error(f, ProblemCodes.BadSelector, msg); return null; };
  if (!isObj(v)) return bad(field, `${show(v)} is not a label selector`);
  const sel: { matchLabels?: Record<string, string>; matchExpressions?: LabelSelectorRequirement[] } = {};
  if (v.matchLabels !== undefined && v.matchLabels !== null) {
    if (!isObj(v.matchLabels)) return bad(`${field}.matchLabels`, 'must be a map of label to value');
    const labels: Record<string, string> = {};
    for (const [k, val] of Object.entries(v.matchLabels)) {
      if (k === '' || typeof val !== 'string') return bad(`${field}.matchLabels`, `label ${show(k)} needs a string value, got ${show(val)}`);
      labels[k] = val;
    }
    sel.matchLabels = labels;
  }
  if (v.matchExpressions !== undefined && v.matchExpressions !== null) {
    if (!Array.isArray(v.matchExpressions)) return bad(`${field}.matchExpressions`, 'must be a list');
    const exprs: LabelSelectorRequirement[] = [];
    for (const [i, e] of v.matchExpressions.entries()) {
      const f = `${field}.matchExpressions[${i}]`;
      if (!isObj(e) || typeof e.key !== 'string' || e.key === '') return bad(f, 'needs a key');
      if (typeof e.operator !== 'string' || !OPERATORS.includes(e.operator)) return bad(`${f}.operator`, `unknown operator ${show(e.operator)} (In, NotIn, Exists, DoesNotExist)`);
      const op = e.operator as LabelSelectorRequirement['operator'];
      const values = e.values === undefined || e.values === null ? [] : e.values;
      if (!Array.isArray(values) || values.some((x) => typeof x !== 'string')) return bad(`${f}.values`, 'must be a list of strings');
      const vals = values as string[];
      if ((op === 'In' || op === 'NotIn') && vals.length === 0) return bad(`${f}.values`, `${op} needs at least one value`);
      if ((op === 'Exists' || op === 'DoesNotExist') && vals.length > 0) return bad(`${f}.values`, `${op} takes no values`);
      exprs.push(vals.length > 0 ? { key: e.key, operator: op, values: [...vals] } : { key: e.key, operator: op });
    }
    sel.matchExpressions = exprs;
  }
  return sel;
}

function selectors(p: Problems, field: string, v: unknown): LabelSelector[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) { p.error(field, ProblemCodes.BadSelector, 'must be a list of label selectors'); return []; }
  return v.flatMap((s, i) => { const r = selector(p, `${field}[${i}]`, s); return r ? [r] : []; });
}

const UNIT_NS: Readonly<Record<string, bigint>> = { ns: 1n, us: 1_000n, 'µs': 1_000n, 'μs': 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };
const DURATION_PART = /([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)/y;

/**
 * A Go duration text (`90s`, `1m30s`, `1.5m`; time.ParseDuration's language, without a sign) or
 * whole seconds as a number, to whole seconds. A text for a fraction of a second, a bare number in a
 * string (`"90"`: Go rejects it too) or anything else is an error message.
 */
export function parseDurationSeconds(v: unknown): number | string {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : `${show(v)} is not a whole number of seconds`;
  if (typeof v !== 'string') return `${show(v)} is not a duration`;
  if (v === '0') return 0;
  if (v === '' || v.length > 64) return `${show(v)} is not a duration such as 90s or 1m30s`;
  let ns = 0n;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < v.length) {
    const m = DURATION_PART.exec(v);
    const num = m?.[1] ?? '';
    if (!m || num === '' || num === '.') return `${show(v)} is not a duration such as 90s or 1m30s`;
    const unit = UNIT_NS[m[2] ?? ''] ?? 0n;
    const [whole = '0', frac = ''] = num.split('.');
    const scale = 10n ** BigInt(frac.length);
    // exact: (whole + frac/scale) * unit, kept in integers; a remainder means a fraction of a nanosecond
    const total = (BigInt(whole === '' ? '0' : whole) * scale + BigInt(frac === '' ? '0' : frac)) * unit;
    if (total % scale !== 0n) return `${show(v)} is not a whole number of seconds`;
    ns += total / scale;
  }
  if (ns % 1_000_000_000n !== 0n) return `${show(v)} is not a whole number of seconds`;
  const s = ns / 1_000_000_000n;
  return s > BigInt(Number.MAX_SAFE_INTEGER) ? `${show(v)} is too long` : Number(s);
}

/** A duration field in seconds within [min, max] (or 0 when `zeroOk`); `def` when absent; undefined on error. */
function duration(p: Problems, field: string, v: unknown, min: number, max: number, zeroOk: boolean): number | undefined {
  const s = parseDurationSeconds(v);
  if (typeof s === 'string') { p.error(field, ProblemCodes.Invalid, s); return undefined; }
  if ((zeroOk && s === 0) || (s >= min && s <= max)) return s;
  p.error(field, ProblemCodes.Invalid, `must be ${zeroOk ? '0 or ' : ''}${min}..${max} seconds, got ${show(v)}`);
  return undefined;
}

/** An optional boolean; an error for anything else. */
function bool(p: Problems, field: string, v: unknown): boolean | undefined {
  if (v === undefined || v === null || typeof v === 'boolean') return v ?? undefined;
  p.error(field, ProblemCodes.Invalid, `must be true or false, got ${show(v)}`);
  return undefined;
}

/** An optional integer in [min, max]; an error for anything else. */
function int(p: Problems, field: string, v: unknown, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return v;
  p.error(field, ProblemCodes.Invalid, `must be an integer ${min}..${max}, got ${show(v)}`);
  return undefined;
}

const IFNAME = /^[^/\s:]{1,15}$/;
/** As the CRD's maxItems (communities and large communities each). */
const MAX_COMMUNITIES = 64;
/** MetalLB's spelling of a large community inside `communities`. */
const LARGE_PREFIX = 'large:';

/** The pool/node selection shared by both advertisement kinds. */
interface Selection {
  readonly pools: ReadonlySet<string>;
  readonly nodeSelectors: readonly LabelSelector[];
}

function selection(p: Problems, spec: Obj, pools: readonly PoolRef[]): Selection {
  const names = stringList(p, 'spec.ipAddressPools', spec.ipAddressPools, 'pool names') ?? [];
  const known = new Set(pools.map((x) => x.name));
  for (const n of names) if (!known.has(n)) p.error('spec.ipAddressPools', ProblemCodes.UnknownPool, `no IPAddressPool named "${n}"`);
  const poolSels = selectors(p, 'spec.ipAddressPoolSelectors', spec.ipAddressPoolSelectors);
  const nodeSelectors = selectors(p, 'spec.nodeSelectors', spec.nodeSelectors);
  const rawSels = Array.isArray(spec.ipAddressPoolSelectors) ? spec.ipAddressPoolSelectors.length : 0;
  const covered = new Set<string>();
  if (names.length === 0 && rawSels === 0) for (const x of pools) covered.add(x.name);
  else {
    for (const n of names) if (known.has(n)) covered.add(n);
    for (const x of pools) if (poolSels.some((s) => selectorMatches(s, x.labels))) covered.add(x.name);
  }
  return { pools: covered, nodeSelectors };
}

function specOf(p: Problems, o: Obj): Obj {
  if (o.spec === undefined || o.spec === null) return {};
  if (isObj(o.spec)) return o.spec;
  p.error('spec', ProblemCodes.Invalid, 'must be an object');
  return {};
}

function l2Advertisement(out: ConfigProblem[], name: string, o: Obj, pools: readonly PoolRef[]): L2AdvertisementConfig | undefined {
  const p = new Problems(out, 'L2Advertisement', name);
  const spec = specOf(p, o);
  const sel = selection(p, spec, pools);
  const interfaces = stringList(p, 'spec.interfaces', spec.interfaces, 'interface names') ?? [];
  for (const i of interfaces) if (!IFNAME.test(i)) p.error('spec.interfaces', ProblemCodes.Invalid, `"${i}" is not a Linux interface name`);
  if (p.errors > 0) return undefined;
  return { name, pools: sel.pools, nodeSelectors: sel.nodeSelectors, interfaces: [...new Set(interfaces)] };
}

function bgpAdvertisement(out: ConfigProblem[], name: string, o: Obj, pools: readonly PoolRef[], peerNames: ReadonlySet<string>): BGPAdvertisementConfig | undefined {
  const p = new Problems(out, 'BGPAdvertisement', name);
  const spec = specOf(p, o);
  const sel = selection(p, spec, pools);
  const named = stringList(p, 'spec.peers', spec.peers, 'peer names') ?? [];
  const peers = [...new Set(named.filter((n) => peerNames.has(n)))];
  for (const n of named) if (!peerNames.has(n)) p.warn('spec.peers', ProblemCodes.UnknownPeer, `no BGPPeer named "${n}": left out`);
  // dropping every name would turn "these peers" into "every peer": announce to nobody instead
  if (named.length > 0 && peers.length === 0) p.error('spec.peers', ProblemCodes.UnknownPeer, 'none of the named BGPPeers exists: the advertisement is not used');
  const communities: string[] = [];
  // MetalLB writes large communities into `communities` as `large:a:b:c`: accepted there too
  const inCommunities: string[] = [];
  for (const c of stringList(p, 'spec.communities', spec.communities, 'communities') ?? []) {
    if (c.startsWith(LARGE_PREFIX)) { inCommunities.push(c.slice(LARGE_PREFIX.length)); continue; }
    const v = parseCommunity(c);
    if (v === undefined) p.error('spec.communities', ProblemCodes.Invalid, `community "${c}" is not ASN:value (16-bit each), a well-known name or large:global:local1:local2`);
    else if (!communities.includes(formatCommunity(v))) communities.push(formatCommunity(v));
  }
  const largeCommunities: string[] = [];
  for (const c of [...(stringList(p, 'spec.largeCommunities', spec.largeCommunities, 'large communities') ?? []), ...inCommunities]) {
    const v = parseLargeCommunity(c);
    const text = v ? `${v.global}:${v.local1}:${v.local2}` : '';
    if (!v) p.error('spec.largeCommunities', ProblemCodes.Invalid, `large community "${c}" is not global:local1:local2 (32-bit each)`);
    else if (!largeCommunities.includes(text)) largeCommunities.push(text);
  }
  // the CRD's bounds: with at most 64 of each, the attributes of one route always fit in a 4096-byte UPDATE
  if (communities.length > MAX_COMMUNITIES) p.error('spec.communities', ProblemCodes.Invalid, `at most ${MAX_COMMUNITIES} communities`);
  if (largeCommunities.length > MAX_COMMUNITIES) p.error('spec.largeCommunities', ProblemCodes.Invalid, `at most ${MAX_COMMUNITIES} large communities`);
  const localPref = int(p, 'spec.localPref', spec.localPref, 0, 0xffffffff);
  const aggregationLength = int(p, 'spec.aggregationLength', spec.aggregationLength, 0, 32) ?? 32;
  const aggregationLengthV6 = int(p, 'spec.aggregationLengthV6', spec.aggregationLengthV6, 0, 128) ?? 128;
  if (p.errors > 0) return undefined;
  return { name, pools: sel.pools, nodeSelectors: sel.nodeSelectors, peers, communities, largeCommunities, localPref, aggregationLength, aggregationLengthV6 };
}

/** Text of a Secret's base64 value; undefined when it is not valid base64 of UTF-8 text. */
function decodeBase64(v: unknown): string | undefined {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) return undefined;
  const text = Buffer.from(v, 'base64').toString('utf8');
  return text.includes('\uFFFD') ? undefined : text;
}

function peerPassword(p: Problems, spec: Obj, secrets: readonly SecretObject[]): string | undefined {
  if (spec.password !== undefined && spec.passwordSecret !== undefined) {
    p.error('spec.password', ProblemCodes.Invalid, 'set password or passwordSecret, not both');
    return undefined;
  }
  let password: string | undefined;
  if (spec.password !== undefined) {
    if (typeof spec.password !== 'string') { p.error('spec.password', ProblemCodes.Invalid, 'must be a string'); return undefined; }
    p.warn('spec.password', ProblemCodes.PlaintextPassword, `the password is in plaintext in the BGPPeer: put it in a Secret in ${SYSTEM_NAMESPACE} (data key "${PASSWORD_SECRET_KEY}") and use passwordSecret`);
    password = spec.password;
  } else if (spec.passwordSecret !== undefined) {
    const ref = spec.passwordSecret;
    if (!isObj(ref) || typeof ref.name !== 'string' || ref.name === '') { p.error('spec.passwordSecret.name', ProblemCodes.Invalid, 'needs the name of a Secret'); return undefined; }
    const ns = ref.namespace === undefined || ref.namespace === null || ref.namespace === '' ? SYSTEM_NAMESPACE : ref.namespace;
    if (ns !== SYSTEM_NAMESPACE) { p.error('spec.passwordSecret.namespace', ProblemCodes.Invalid, `the Secret must be in ${SYSTEM_NAMESPACE}, not ${show(ns)}`); return undefined; }
    const secret = secrets.find((s) => isObj(s) && isObj(s.metadata) && s.metadata.name === ref.name && (s.metadata.namespace ?? SYSTEM_NAMESPACE) === SYSTEM_NAMESPACE);
    if (!secret) { p.error('spec.passwordSecret', ProblemCodes.SecretMissing, `Secret ${SYSTEM_NAMESPACE}/${ref.name} does not exist`); return undefined; }
    const raw = isObj(secret.data) ? secret.data[PASSWORD_SECRET_KEY] : undefined;
    if (raw === undefined || raw === '') { p.error('spec.passwordSecret', ProblemCodes.SecretKeyMissing, `Secret ${SYSTEM_NAMESPACE}/${ref.name} has no data key "${PASSWORD_SECRET_KEY}"`); return undefined; }
    password = decodeBase64(raw);
    if (password === undefined) { p.error('spec.passwordSecret', ProblemCodes.Invalid, `data key "${PASSWORD_SECRET_KEY}" of Secret ${SYSTEM_NAMESPACE}/${ref.name} is not base64 of UTF-8 text`); return undefined; }
  }
  if (password !== undefined && Buffer.byteLength(password) > 80) { p.error(spec.password !== undefined ? 'spec.password' : 'spec.passwordSecret', ProblemCodes.Invalid, 'TCP-MD5 keys are at most 80 bytes'); return undefined; }
  return password === '' ? undefined : password;
}

function bgpPeer(out: ConfigProblem[], name: string, o: Obj, secrets: readonly SecretObject[]): BGPPeerConfig | undefined {
  const p = new Problems(out, 'BGPPeer', name);
  const spec = isObj(o.spec) ? o.spec : (p.error('spec', ProblemCodes.Invalid, 'a BGPPeer needs a spec'), {});
  const myASN = int(p, 'spec.myASN', spec.myASN, 1, 0xffffffff);
  if (spec.myASN === undefined) p.error('spec.myASN', ProblemCodes.Invalid, 'is required');
  const peerASN = int(p, 'spec.peerASN', spec.peerASN, 1, 0xffffffff);
  let dynamicASN: 'internal' | 'external' | undefined;
  if (spec.dynamicASN === 'internal' || spec.dynamicASN === 'external') dynamicASN = spec.dynamicASN;
  else if (spec.dynamicASN !== undefined) p.error('spec.dynamicASN', ProblemCodes.Invalid, `must be internal or external, got ${show(spec.dynamicASN)}`);
  if ((spec.peerASN === undefined) === (spec.dynamicASN === undefined)) p.error('spec.peerASN', ProblemCodes.Invalid, 'set exactly one of peerASN and dynamicASN');
  const peerAddress = typeof spec.peerAddress === 'string' ? canonicalIP(spec.peerAddress) : undefined;
  if (peerAddress === undefined) p.error('spec.peerAddress', ProblemCodes.Invalid, `${show(spec.peerAddress)} is not an IP address`);
  const peerPort = int(p, 'spec.peerPort', spec.peerPort, 1, 65535) ?? PeerDefaults.peerPort;
  let sourceAddress: string | undefined;
  if (spec.sourceAddress !== undefined && spec.sourceAddress !== '') {
    sourceAddress = typeof spec.sourceAddress === 'string' ? canonicalIP(spec.sourceAddress) : undefined;
    if (sourceAddress === undefined) p.error('spec.sourceAddress', ProblemCodes.Invalid, `${show(spec.sourceAddress)} is not an IP address`);
    else if (peerAddress !== undefined && parseIP(sourceAddress)?.family !== parseIP(peerAddress)?.family) p.error('spec.sourceAddress', ProblemCodes.Invalid, `${sourceAddress} is not of the same family as peerAddress ${peerAddress}`);
  }
  let routerID: string | undefined;
  if (spec.routerID !== undefined && spec.routerID !== '') {
    routerID = typeof spec.routerID === 'string' ? canonicalIP(spec.routerID) : undefined;
    if (routerID === undefined || parseIP(routerID)?.family !== 'IPv4' || routerID === '0.0.0.0') { p.error('spec.routerID', ProblemCodes.Invalid, `${show(spec.routerID)} is not a non-zero IPv4 address`); routerID = undefined; }
  }
  const holdTime = spec.holdTime === undefined ? PeerDefaults.holdTime : duration(p, 'spec.holdTime', spec.holdTime, 3, 65535, true);
  let keepaliveTime: number | undefined;
  if (spec.keepaliveTime !== undefined) {
    keepaliveTime = duration(p, 'spec.keepaliveTime', spec.keepaliveTime, 1, 65535, false);
    if (keepaliveTime !== undefined && holdTime !== undefined && holdTime > 0 && keepaliveTime > holdTime) p.error('spec.keepaliveTime', ProblemCodes.Invalid, `must not exceed holdTime (${holdTime} s), got ${keepaliveTime} s`);
  } else if (holdTime !== undefined && holdTime > 0) keepaliveTime = Math.max(1, Math.floor(holdTime / 3));
  const connectTime = spec.connectTime === undefined ? PeerDefaults.connectTime : duration(p, 'spec.connectTime', spec.connectTime, 1, 3600, false);
  const ebgpMultiHop = bool(p, 'spec.ebgpMultiHop', spec.ebgpMultiHop) ?? false;
  const passive = bool(p, 'spec.passive', spec.passive) ?? false;
  const egr = bool(p, 'spec.enableGracefulRestart', spec.enableGracefulRestart);
  const gr = bool(p, 'spec.gracefulRestart', spec.gracefulRestart);
  if (egr !== undefined && gr !== undefined && egr !== gr) p.error('spec.gracefulRestart', ProblemCodes.Invalid, 'enableGracefulRestart and gracefulRestart disagree');
  const password = peerPassword(p, spec, secrets);
  const nodeSelectors = selectors(p, 'spec.nodeSelectors', spec.nodeSelectors);
  let bfdProfile: string | undefined;
  if (typeof spec.bfdProfile === 'string' && spec.bfdProfile !== '') bfdProfile = spec.bfdProfile;
  else if (spec.bfdProfile !== undefined && spec.bfdProfile !== '') p.error('spec.bfdProfile', ProblemCodes.Invalid, 'must be the name of a BFDProfile');
  if (spec.vrf !== undefined && spec.vrf !== '') p.error('spec.vrf', ProblemCodes.Invalid, `VRFs are not supported (got ${show(spec.vrf)}): sessions run in the default VRF`);
  if (p.errors > 0 || myASN === undefined || peerAddress === undefined || holdTime === undefined || connectTime === undefined) return undefined;
  return {
    name, myASN, peerASN, dynamicASN, peerAddress, peerPort, sourceAddress, routerID, holdTime, keepaliveTime, connectTime,
    ebgpMultiHop, passive, gracefulRestart: egr ?? gr ?? PeerDefaults.gracefulRestart, password, nodeSelectors, bfdProfile,
  };
}

/** A BFDProfile with MetalLB's defaults applied; undefined (with errors) when a field is out of range or echo mode is asked for. */
function bfdProfile(out: ConfigProblem[], name: string, o: Obj): BFDProfileConfig | undefined {
  const p = new Problems(out, 'BFDProfile', name);
  const spec = isObj(o.spec) ? o.spec : {};
  const ranged = (f: keyof typeof BFDProfileRanges): number | undefined => int(p, `spec.${f}`, spec[f], BFDProfileRanges[f].min, BFDProfileRanges[f].max);
  const receiveIntervalMs = ranged('receiveInterval') ?? BFDProfileDefaults.receiveInterval;
  const transmitIntervalMs = ranged('transmitInterval') ?? BFDProfileDefaults.transmitInterval;
  const detectMultiplier = ranged('detectMultiplier') ?? BFDProfileDefaults.detectMultiplier;
  ranged('echoInterval');
  const minimumTtl = ranged('minimumTtl') ?? BFDProfileDefaults.minimumTtl;
  if (bool(p, 'spec.echoMode', spec.echoMode) === true) p.error('spec.echoMode', ProblemCodes.Invalid, 'echo mode is not supported: baregate runs BFD in asynchronous mode only');
  const passive = bool(p, 'spec.passiveMode', spec.passiveMode) ?? BFDProfileDefaults.passiveMode;
  const waitForUp = bool(p, 'spec.waitForUp', spec.waitForUp) ?? BFDProfileDefaults.waitForUp;
  if (p.errors > 0) return undefined;
  return { name, receiveIntervalMs, transmitIntervalMs, detectMultiplier, passive, minimumTtl, waitForUp };
}

/** Each peer's `bfdProfile` resolved to its settings; a missing or invalid profile is a warning and the peer runs without BFD. */
function resolveBFD(out: ConfigProblem[], peers: readonly BGPPeerConfig[], profiles: readonly BFDProfileConfig[], profileNames: ReadonlySet<string>): BGPPeerConfig[] {
  const byName = new Map(profiles.map((b) => [b.name, b]));
  return peers.map((peer) => {
    if (peer.bfdProfile === undefined) return peer;
    const bfd = byName.get(peer.bfdProfile);
    if (bfd !== undefined) return { ...peer, bfd };
    const why = profileNames.has(peer.bfdProfile) ? 'is not valid (see its problems)' : 'does not exist';
    out.push({ kind: 'BGPPeer', name: peer.name, field: 'spec.bfdProfile', code: ProblemCodes.UnknownBFDProfile, severity: 'warning', message: `BFDProfile "${peer.bfdProfile}" ${why}: the session runs without BFD (a dead peer is found by the hold time only)` });
    return peer;
  });
}

function poolRef(out: ConfigProblem[], name: string, o: Obj): PoolRef {
  const meta = isObj(o.metadata) ? o.metadata : {};
  const labels: Record<string, string> = {};
  if (isObj(meta.labels)) {
    for (const [k, v] of Object.entries(meta.labels)) {
      if (typeof v === 'string') labels[k] = v;
      else out.push({ kind: 'IPAddressPool', name, field: 'metadata.labels', code: ProblemCodes.Invalid, severity: 'warning', message: `label ${show(k)} has no string value: ignored` });
    }
  }
  return { name, labels };
}

const EMPTY: ConfigSnapshot = { pools: [], l2Advertisements: [], bgpAdvertisements: [], bgpPeers: [], bfdProfiles: [], secrets: [] };

/** Options of {@link parseConfig}. */
export interface ParseOptions {
  /**
   * Also check what only matters before an object is stored: every pool's `spec.addresses` (parsable, not
   * reversed: CEL cannot order IPv6 addresses), pools that share addresses, and BGPPeers that duplicate each other.
   * The admission webhook turns these on. The controller reports address problems and overlaps on each pool's
   * conditions itself (lb/pool.ts) and keeps allocating from overlapping pools; the speaker never reads addresses;
   * so for them these would only be the same news twice. Pools are never left out of the Config for these.
   */
  readonly crossChecks?: boolean;
}

interface PoolEntry { readonly pool: string; readonly index: number; readonly text: string; readonly family: Family; readonly lo: bigint; readonly hi: bigint }

/** Address problems of every pool: entries that do not parse, and entries that share addresses with another pool's. */
function poolAddressProblems(pools: readonly { name: string; obj: Obj }[], out: ConfigProblem[]): void {
  const entries: PoolEntry[] = [];
  for (const { name, obj } of pools) {
    const p = new Problems(out, 'IPAddressPool', name);
    const spec = isObj(obj.spec) ? obj.spec : {};
    if (!Array.isArray(spec.addresses)) { p.error('spec.addresses', ProblemCodes.Invalid, 'must be a list of CIDRs, ranges or IPs'); continue; }
    spec.addresses.forEach((text: unknown, index) => {
      if (typeof text !== 'string') { p.error(`spec.addresses[${index}]`, ProblemCodes.Invalid, `${show(text)} is not a CIDR, range or IP`); return; }
      const r = parseRange(text);
      if ('error' in r) p.error(`spec.addresses[${index}]`, ProblemCodes.Invalid, r.error);
      else entries.push({ pool: name, index, text, family: r.family, lo: r.lo, hi: r.hi });
    });
  }
  const seen = new Set<string>();
  const report = (a: PoolEntry, b: PoolEntry): void => {
    const key = `${a.pool}\0${String(a.index)}\0${b.pool}\0${String(b.index)}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ kind: 'IPAddressPool', name: a.pool, field: `spec.addresses[${a.index}]`, code: ProblemCodes.Overlap, severity: 'error', message: `${a.text} overlaps IPAddressPool "${b.pool}" (${b.text})` });
  };
  // the later-starting entry first, as the sweep found them: its message names the range it runs into
  for (const [o, e] of overlappingRanges(entries, (x, y) => x.pool === y.pool)) { report(e, o); report(o, e); }
}

/** Stable text of a value with object keys sorted: two selectors that mean the same compare equal. */
function canonicalJSON(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJSON).join(',')}]`;
  if (isObj(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonicalJSON(v[k])}`).join(',')}}`;
  const j: unknown = JSON.stringify(v);
  return typeof j === 'string' ? j : 'null';
}

/**
 * BGPPeers with the same peer address and the same node selection: every node they select would open two sessions
 * to one router, which keeps one (the BGP speaker also tells passive peers apart by address only).
 */
function duplicatePeerProblems(peers: readonly BGPPeerConfig[], out: ConfigProblem[]): void {
  const groups = new Map<string, BGPPeerConfig[]>();
  for (const p of peers) {
    const key = `${p.peerAddress}\0${canonicalJSON(p.nodeSelectors)}`;
    groups.set(key, [...(groups.get(key) ?? []), p]);
  }
  for (const g of groups.values()) {
    if (g.length < 2) continue;
    for (const p of g) {
      const others = g.filter((o) => o !== p).map((o) => `"${o.name}"`).join(', ');
      out.push({ kind: 'BGPPeer', name: p.name, field: 'spec.peerAddress', code: ProblemCodes.DuplicatePeer, severity: 'error', message: `BGPPeer ${others} already peers with ${p.peerAddress} from the same nodes: a router keeps one session per node` });
    }
  }
}

/**
 * Validates a config snapshot and resolves it: pool selectors against the pools in the snapshot,
 * peer names against the BGPPeers, passwords from the Secrets. Never throws; see the module comment
 * and {@link ProblemCodes} for what each problem means; {@link ParseOptions} for the admission-only checks.
 */
export function parseConfig(snapshot: ConfigSnapshot, options: ParseOptions = {}): ParsedConfig {
  const s: ConfigSnapshot = isObj(snapshot) ? snapshot : EMPTY;
  const problems: ConfigProblem[] = [];
  const poolObjs = named(s.pools, 'IPAddressPool', problems);
  const pools = poolObjs.map((x) => poolRef(problems, x.name, x.obj));
  if (options.crossChecks === true) poolAddressProblems(poolObjs, problems);
  const peerObjs = named(s.bgpPeers, 'BGPPeer', problems);
  const peerNames = new Set(peerObjs.map((x) => x.name));
  const secrets = asArray(s.secrets) as SecretObject[];
  const l2 = named(s.l2Advertisements, 'L2Advertisement', problems).flatMap((x) => { const c = l2Advertisement(problems, x.name, x.obj, pools); return c ? [c] : []; });
  const bgp = named(s.bgpAdvertisements, 'BGPAdvertisement', problems).flatMap((x) => { const c = bgpAdvertisement(problems, x.name, x.obj, pools, peerNames); return c ? [c] : []; });
  let peers = peerObjs.flatMap((x) => { const c = bgpPeer(problems, x.name, x.obj, secrets); return c ? [c] : []; });
  // A snapshot without BFD profiles (the webhook's, doctor's) leaves `bfdProfile` unresolved and unreported.
  if (s.bfdProfiles !== undefined) {
    const bfdObjs = named(s.bfdProfiles, 'BFDProfile', problems);
    const bfdProfiles = bfdObjs.flatMap((x) => { const c = bfdProfile(problems, x.name, x.obj); return c ? [c] : []; });
    peers = resolveBFD(problems, peers, bfdProfiles, new Set(bfdObjs.map((x) => x.name)));
  }
  if (options.crossChecks === true) {
    const before = problems.length;
    duplicatePeerProblems(peers, problems);
    const dup = new Set(problems.slice(before).map((p) => p.name));
    peers = peers.filter((p) => !dup.has(p.name));
  }
  return { config: { pools, l2, bgp, peers }, problems };
}

/**
 * Names of the pools some usable advertisement (L2 or BGP) covers: a Service holding an address from
 * any other pool is announced by nobody (the controller's `NotAnnounced`).
 */
export function announcedPools(config: Config): Set<string> {
  const out = new Set<string>();
  for (const a of [...config.l2, ...config.bgp]) for (const p of a.pools) out.add(p);
  return out;
}
