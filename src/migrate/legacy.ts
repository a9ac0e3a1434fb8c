/**
 * MetalLB's older configuration formats, rewritten as the MetalLB objects that replaced them, so one converter
 * (convert.ts) handles everything and the report speaks of one set of fields:
 *   - the legacy configuration of MetalLB ≤ v0.12 (the `config` ConfigMap, Helm's `configInline`): `peers`,
 *     `bgp-communities`, `address-pools` (with `protocol: layer2|bgp` and `bgp-advertisements`), `bfd-profiles`;
 *   - the `AddressPool` kind (v1alpha1, v1beta1; removed in v0.14), which is that format's pool as an object.
 * A pool becomes an IPAddressPool plus, for layer2, an L2Advertisement of that pool, for bgp one BGPAdvertisement
 * per `bgp-advertisements` entry (one with defaults when there is none, as MetalLB did). Peers have no names in the
 * legacy format: each is named after its address (`peer-192-0-2-1`). Pure.
 */
import { canonicalIP } from '../net/ip.ts';
import { LegacyFieldTable, ruleFor } from './fields.ts';
import { isObj, type MetalLBObject, type Obj } from './input.ts';
import { Levels, type Finding } from './report.ts';

const V1BETA1 = 'metallb.io/v1beta1';
const V1BETA2 = 'metallb.io/v1beta2';

/** yaml.v2's boolean words (MetalLB read the legacy format with it). */
const TRUE_WORDS: ReadonlySet<string> = new Set(['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON']);
const FALSE_WORDS: ReadonlySet<string> = new Set(['n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF']);

/** A value read as a string-typed Go field: scalars as their text. */
function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** A value read as an unsigned Go integer field; `bad` when it is not one. */
function uint(v: unknown): number | undefined | 'bad' {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? v : 'bad';
  if (typeof v === 'string' && /^\+?[0-9]+$/.test(v.trim())) return Number(v.trim());
  return 'bad';
}

/** A value read as a Go bool field; `bad` when it is not one. */
function bool(v: unknown): boolean | undefined | 'bad' {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && TRUE_WORDS.has(v)) return true;
  if (typeof v === 'string' && FALSE_WORDS.has(v)) return false;
  return 'bad';
}

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Collects typed values of one legacy entry, reporting values of the wrong type. */
class Reader {
  bad = 0;
  constructor(private readonly findings: Finding[], private readonly subject: string) {}
  private fail(field: string, v: unknown, what: string): void {
    this.bad++;
    const shown: unknown = JSON.stringify(v);
    this.findings.push({ level: Levels.error, subject: this.subject, field, message: `${typeof shown === 'string' ? shown : String(v)} is not ${what}: not converted (MetalLB refused it too)` });
  }
  uint(o: Obj, key: string): number | undefined {
    const r = uint(o[key]);
    if (r !== 'bad') return r;
    this.fail(key, o[key], 'a non-negative integer');
    return undefined;
  }
  bool(o: Obj, key: string): boolean | undefined {
    const r = bool(o[key]);
    if (r !== 'bad') return r;
    this.fail(key, o[key], 'true or false');
    return undefined;
  }
  str(o: Obj, key: string): string | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    const s = str(v);
    if (s === undefined) this.fail(key, v, 'a text');
    return s;
  }
  strings(o: Obj, key: string): string[] | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) { this.fail(key, v, 'a list'); return undefined; }
    const out: string[] = [];
    for (const x of v) {
      const s = str(x);
      if (s === undefined) { this.fail(key, v, 'a list of texts'); return undefined; }
      out.push(s);
    }
    return out;
  }
}

/** Sets `k` only when `v` is defined (the objects are read like API objects: absent means unset). */
function put(o: Obj, k: string, v: unknown): void {
  if (v !== undefined) o[k] = v;
}

/** Every key path of `v` the legacy field table does not name: MetalLB refused unknown keys. */
function unknownPaths(v: unknown, path: string, out: string[]): void {
  if (Array.isArray(v)) { for (const x of v) unknownPaths(x, `${path}[]`, out); return; }
  if (isObj(v)) {
    for (const [k, x] of Object.entries(v)) {
      const p = path === '' ? k : `${path}.${k}`;
      const r = ruleFor(LegacyFieldTable, p);
      if (r?.subtree === true) continue;
      if (!r && !Object.keys(LegacyFieldTable).some((t) => t.startsWith(`${p}.`) || t.startsWith(`${p}[]`))) { out.push(p); continue; }
      unknownPaths(x, p, out);
    }
  }
}

/** A DNS-label-safe name for a peer address (`192.0.2.1` → `peer-192-0-2-1`). */
export function peerName(address: string): string {
  const a = (canonicalIP(address) ?? address).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return `peer-${a === '' ? 'unknown' : a}`;
}

function selectorFromLegacy(v: unknown): Obj {
  const s = isObj(v) ? v : {};
  const out: Obj = {};
  if (isObj(s['match-labels'])) {
    const labels: Record<string, string> = {};
    for (const [k, x] of Object.entries(s['match-labels'])) labels[k] = str(x) ?? '';
    out.matchLabels = labels;
  }
  const exprs = list(s['match-expressions']).filter(isObj).map((e) => {
    const r: Obj = { key: str(e.key) ?? '', operator: str(e.operator) ?? '' };
    if (Array.isArray(e.values)) r.values = e.values.map((x) => str(x) ?? '');
    return r;
  });
  if (exprs.length > 0) out.matchExpressions = exprs;
  return out;
}

/** What one pool (legacy entry or AddressPool) turns into: an IPAddressPool and its advertisements. */
export interface PoolParts {
  readonly name: string;
  readonly protocol: string;
  readonly addresses: readonly string[];
  readonly autoAssign?: boolean | undefined;
  readonly avoidBuggyIPs?: boolean | undefined;
  /** BGP only: one entry per advertisement (empty: one with defaults). */
  readonly advertisements: readonly { readonly aggregationLength?: number | undefined; readonly aggregationLengthV6?: number | undefined; readonly localPref?: number | undefined; readonly communities?: readonly string[] | undefined }[];
}

/**
 * A pool of the legacy kind as MetalLB objects (an IPAddressPool and its advertisements), in `group`. An unknown or
 * missing protocol is an error finding and the pool has no advertisement (MetalLB refused it).
 */
export function poolObjects(p: PoolParts, base: { subject: string; group: string; namespace: string; labels: Readonly<Record<string, string>> }, findings: Finding[]): MetalLBObject[] {
  const spec: Obj = { addresses: [...p.addresses] };
  put(spec, 'autoAssign', p.autoAssign);
  put(spec, 'avoidBuggyIPs', p.avoidBuggyIPs);
  const common = { group: base.group, namespace: base.namespace, labels: base.labels, annotations: {} };
  const out: MetalLBObject[] = [{ ...common, subject: base.subject, apiVersion: V1BETA1, kind: 'IPAddressPool', name: p.name, spec }];
  if (p.protocol === 'layer2') {
    if (p.advertisements.length > 0) findings.push({ level: Levels.error, subject: base.subject, field: 'bgp-advertisements', message: 'a layer2 pool cannot have bgp-advertisements (MetalLB refused it): they are not converted' });
    out.push({ ...common, subject: `${base.subject}, its layer2 protocol`, apiVersion: V1BETA1, kind: 'L2Advertisement', name: p.name, spec: { ipAddressPools: [p.name] } });
  } else if (p.protocol === 'bgp') {
    const ads = p.advertisements.length > 0 ? p.advertisements : [{}];
    ads.forEach((a, i) => {
      const s: Obj = { ipAddressPools: [p.name] };
      put(s, 'aggregationLength', a.aggregationLength);
      put(s, 'aggregationLengthV6', a.aggregationLengthV6);
      put(s, 'localPref', a.localPref);
      if (a.communities && a.communities.length > 0) s.communities = [...a.communities];
      const name = ads.length === 1 ? p.name : `${p.name}-${i + 1}`;
      out.push({ ...common, subject: `${base.subject}, bgp advertisement #${i + 1}`, apiVersion: V1BETA1, kind: 'BGPAdvertisement', name, spec: s });
    });
  } else {
    findings.push({ level: Levels.error, subject: base.subject, field: 'protocol', message: `${p.protocol === '' ? 'no protocol' : `unknown protocol "${p.protocol}"`} (layer2 or bgp): the pool is converted but nothing announces it` });
  }
  return out;
}

/** A legacy configuration (already parsed) as MetalLB objects, plus what could not be read. */
export function legacyObjects(config: unknown, subject: string, namespace: string): { objects: MetalLBObject[]; findings: Finding[] } {
  const findings: Finding[] = [];
  const objects: MetalLBObject[] = [];
  if (isObj(config) && typeof config.error === 'string' && Object.keys(config).length === 1) {
    findings.push({ level: Levels.error, subject, message: `not valid YAML: ${config.error}` });
    return { objects, findings };
  }
  if (!isObj(config)) {
    findings.push({ level: Levels.error, subject, message: 'the configuration is not a YAML mapping: nothing converted' });
    return { objects, findings };
  }
  const group = `legacy ${subject}`;
  const unknown: string[] = [];
  unknownPaths(config, '', unknown);
  for (const p of [...new Set(unknown)]) findings.push({ level: Levels.none, subject, field: p, message: 'not a key of MetalLB\'s legacy format (MetalLB refused unknown keys): ignored' });
  const base = { group, namespace, labels: {}, annotations: {} };

  // bgp-communities: aliases, kept as a Community object of this group for convert.ts to resolve
  if (config['bgp-communities'] !== undefined) {
    const c = config['bgp-communities'];
    if (!isObj(c)) findings.push({ level: Levels.error, subject, field: 'bgp-communities', message: 'must be a map of alias to community: ignored' });
    else {
      const communities = Object.entries(c).map(([name, value]) => ({ name, value: str(value) ?? '' }));
      objects.push({ ...base, subject: `bgp-communities of ${subject}`, apiVersion: V1BETA1, kind: 'Community', name: 'bgp-communities', spec: { communities } });
    }
  }

  for (const [i, raw] of list(config['bfd-profiles']).entries()) {
    const s = `bfd-profile #${i + 1} of ${subject}`;
    if (!isObj(raw)) { findings.push({ level: Levels.error, subject: s, message: 'not a mapping: ignored' }); continue; }
    const r = new Reader(findings, s);
    const spec: Obj = {};
    put(spec, 'receiveInterval', r.uint(raw, 'receive-interval'));
    put(spec, 'transmitInterval', r.uint(raw, 'transmit-interval'));
    put(spec, 'detectMultiplier', r.uint(raw, 'detect-multiplier'));
    put(spec, 'echoInterval', r.uint(raw, 'echo-interval'));
    put(spec, 'echoMode', r.bool(raw, 'echo-mode'));
    put(spec, 'passiveMode', r.bool(raw, 'passive-mode'));
    put(spec, 'minimumTtl', r.uint(raw, 'minimum-ttl'));
    objects.push({ ...base, subject: `${s} ("${r.str(raw, 'name') ?? ''}")`, apiVersion: V1BETA1, kind: 'BFDProfile', name: r.str(raw, 'name') ?? `bfd-profile-${i + 1}`, spec });
  }

  for (const [i, raw] of list(config.peers).entries()) {
    const s0 = `peer #${i + 1} of ${subject}`;
    if (!isObj(raw)) { findings.push({ level: Levels.error, subject: s0, message: 'not a mapping: ignored' }); continue; }
    const r = new Reader(findings, s0);
    const address = r.str(raw, 'peer-address') ?? '';
    const s = `peer #${i + 1} (${address === '' ? 'no address' : address}) of ${subject}`;
    const spec: Obj = {};
    put(spec, 'myASN', r.uint(raw, 'my-asn'));
    put(spec, 'peerASN', r.uint(raw, 'peer-asn'));
    put(spec, 'peerAddress', address === '' ? undefined : address);
    put(spec, 'sourceAddress', r.str(raw, 'source-address'));
    put(spec, 'peerPort', r.uint(raw, 'peer-port'));
    put(spec, 'holdTime', r.str(raw, 'hold-time'));
    put(spec, 'keepaliveTime', r.str(raw, 'keepalive-time'));
    put(spec, 'routerID', r.str(raw, 'router-id'));
    if (Array.isArray(raw['node-selectors']) && raw['node-selectors'].length > 0) spec.nodeSelectors = raw['node-selectors'].map(selectorFromLegacy);
    put(spec, 'password', r.str(raw, 'password'));
    put(spec, 'bfdProfile', r.str(raw, 'bfd-profile'));
    put(spec, 'ebgpMultiHop', r.bool(raw, 'ebgp-multihop'));
    if (r.bad > 0) continue;
    objects.push({ ...base, subject: s, apiVersion: V1BETA2, kind: 'BGPPeer', name: peerName(address), spec });
  }

  for (const [i, raw] of list(config['address-pools']).entries()) {
    const s0 = `address pool #${i + 1} of ${subject}`;
    if (!isObj(raw)) { findings.push({ level: Levels.error, subject: s0, message: 'not a mapping: ignored' }); continue; }
    const r = new Reader(findings, s0);
    const name = r.str(raw, 'name') ?? '';
    const s = `address pool "${name}" of ${subject}`;
    if (name === '') { findings.push({ level: Levels.error, subject: s0, field: 'name', message: 'has no name (MetalLB refused it): not converted' }); continue; }
    const addresses = r.strings(raw, 'addresses') ?? [];
    const ads = list(raw['bgp-advertisements']).filter(isObj).map((a) => {
      const ar = new Reader(findings, `${s}, bgp-advertisements`);
      return {
        aggregationLength: ar.uint(a, 'aggregation-length'),
        aggregationLengthV6: ar.uint(a, 'aggregation-length-v6'),
        localPref: ar.uint(a, 'localpref'),
        communities: ar.strings(a, 'communities'),
      };
    });
    const parts: PoolParts = {
      name, protocol: r.str(raw, 'protocol') ?? '', addresses,
      autoAssign: r.bool(raw, 'auto-assign'), avoidBuggyIPs: r.bool(raw, 'avoid-buggy-ips'), advertisements: ads,
    };
    if (r.bad > 0) continue;
    objects.push(...poolObjects(parts, { ...base, subject: s }, findings));
  }
  if (objects.length === 0 && findings.length === 0) findings.push({ level: Levels.info, subject, message: 'holds no pools, peers or profiles: nothing to convert' });
  return { objects, findings };
}
