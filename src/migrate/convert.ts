/**
 * MetalLB objects to baregate objects, with a finding for everything that is not a plain copy. Pure and deterministic:
 * the same objects in any order give the same output.
 *
 * How: the legacy formats are first rewritten as MetalLB objects (legacy.ts); every object's spec is walked against
 * the field table (fields.ts), which decides per field: copied (`as-is`, left out when it equals MetalLB's default,
 * which is baregate's too), converted with a note (`changed`), dropped with a reason (`no-equivalent`), or read by the
 * converter (`consumed`: community aliases, the AddressPool protocol). Names are then made unique per kind: a second
 * object with a name already taken is renamed `<name>-2` (an identical one is written once; the current API's objects
 * keep their names before the legacy formats'), and the references made within its source (the pools an
 * advertisement names, the peers it names) follow the rename. Last, the result is put
 * through parseConfig, the parser the controller and speakers use, so anything baregate would refuse is an error here.
 */
import { API_VERSION, EXCLUDE_FROM_LB_LABEL, SYSTEM_NAMESPACE, PASSWORD_SECRET_KEY } from '../api/keys.ts';
import { METALLB_BOOKKEEPING_ANNOTATION_PREFIXES, MetalLBKinds } from '../api/metallb.ts';
import { BFDProfileRanges } from '../api/bfdprofile.ts';
import { announcedPools, parseConfig } from '../config/config.ts';
import { ProblemCodes } from '../config/types.ts';
import { FieldTable, Treatments, ruleFor, type KindRules } from './fields.ts';
import { isObj, type LegacyInput, type MetalLBObject, type Obj } from './input.ts';
import { legacyObjects, poolObjects } from './legacy.ts';
import { Levels, OUTPUT_KINDS, type Finding, type OutputKind, type OutputObject } from './report.ts';

/** What {@link convert} returns. */
export interface Conversion {
  /** In output order: by kind (pools, L2, BGP advertisements, BFD profiles, peers), then name. */
  readonly objects: readonly OutputObject[];
  readonly findings: readonly Finding[];
}

/** A reference by name (a list of names, or one) from one converted object to another, resolved in the source's group after renames. */
interface Ref { readonly field: 'ipAddressPools' | 'peers' | 'bfdProfile'; readonly kind: OutputKind }

/** A converted object before its final name. */
interface Draft {
  readonly kind: OutputKind;
  readonly localName: string;
  readonly group: string;
  readonly subject: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly spec: Obj;
  readonly refs: readonly Ref[];
}

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Stable text of a value, object keys sorted: what "identical" means for two drafts. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObj(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  const j: unknown = JSON.stringify(v);
  return typeof j === 'string' ? j : 'null';
}

/** Whether a value says nothing (Go's omitempty zero values): such a field is as good as absent. */
function isEmpty(v: unknown): boolean {
  return v === undefined || v === null || v === '' || v === false || v === 0 || (Array.isArray(v) && v.length === 0) || (isObj(v) && Object.keys(v).length === 0);
}

/** Every leaf path of a spec value, as the field table writes paths. */
function leafPaths(v: unknown, path: string, out: string[]): void {
  if (Array.isArray(v)) { if (v.length === 0) out.push(`${path}[]`); for (const x of v) leafPaths(x, `${path}[]`, out); return; }
  if (isObj(v) && Object.keys(v).length > 0) { for (const [k, x] of Object.entries(v)) leafPaths(x, `${path}.${k}`, out); return; }
  out.push(path);
}

/** The rule of a top-level spec field: its own path or its array-item path. */
function topRule(rules: KindRules, key: string): { path: string; rule: KindRules[string] } | undefined {
  for (const path of [`spec.${key}`, `spec.${key}[]`]) {
    const rule = rules[path];
    if (rule) return { path, rule };
  }
  return undefined;
}

/** Findings for fields the table does not know (a newer MetalLB, a typo MetalLB's schema would have pruned). */
function unknownFields(o: MetalLBObject, rules: KindRules, findings: Finding[]): Set<string> {
  const paths: string[] = [];
  leafPaths(o.spec, 'spec', paths);
  const unknownTop = new Set<string>();
  for (const p of paths) {
    if (p === 'spec' || ruleFor(rules, p)) continue;
    const top = p.slice('spec.'.length).split(/[.[]/)[0] ?? '';
    // a path below a known field whose own children the table lists (passwordSecret.name) is checked by its hook
    if (Object.keys(rules).some((k) => k === p || k.startsWith(`${p}.`) || k.startsWith(`${p}[]`))) continue;
    findings.push({ level: Levels.none, subject: o.subject, field: p, message: `${o.kind} has no such field in the MetalLB versions baregate knows: dropped` });
    unknownTop.add(top);
  }
  return unknownTop;
}

/** Labels kept; bookkeeping annotations (kubectl, Helm, MetalLB) dropped, counted in `dropped`. */
function metadataOf(o: MetalLBObject, dropped: { n: number }): { labels: Record<string, string>; annotations: Record<string, string> } {
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.annotations)) {
    if (METALLB_BOOKKEEPING_ANNOTATION_PREFIXES.some((p) => k.startsWith(p))) dropped.n++;
    else annotations[k] = v;
  }
  return { labels: { ...o.labels }, annotations };
}

/** A community text as MetalLB reads it: `a:b` (16-bit each) or `large:a:b:c` (32-bit each). */
function communityValue(s: string): boolean {
  const m = /^(\d{1,5}):(\d{1,5})$/.exec(s);
  if (m) return Number(m[1]) <= 0xffff && Number(m[2]) <= 0xffff;
  const l = /^large:(\d{1,10}):(\d{1,10}):(\d{1,10})$/.exec(s);
  return l !== null && [l[1], l[2], l[3]].every((x) => Number(x) <= 0xffffffff);
}

/** Aliases per group, from the Community objects (and legacy bgp-communities). */
function communityAliases(objs: readonly MetalLBObject[], findings: Finding[]): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const o of objs) {
    if (o.kind !== MetalLBKinds.Community.kind) continue;
    let m = out.get(o.group);
    if (!m) out.set(o.group, m = new Map<string, string>());
    const list = Array.isArray(o.spec.communities) ? o.spec.communities : [];
    for (const c of list) {
      const name = isObj(c) && typeof c.name === 'string' ? c.name : '';
      const value = isObj(c) && typeof c.value === 'string' ? c.value : '';
      if (name === '' || !communityValue(value)) { findings.push({ level: Levels.error, subject: o.subject, field: 'spec.communities', message: `alias ${JSON.stringify(name)} has no valid value (${JSON.stringify(value)}; a:b or large:a:b:c): ignored` }); continue; }
      if (m.has(name)) { findings.push({ level: Levels.error, subject: o.subject, field: 'spec.communities', message: `alias "${name}" is defined twice (MetalLB refused that): the first is used` }); continue; }
      m.set(name, value);
    }
    findings.push({ level: Levels.converted, subject: o.subject, message: 'community aliases: inlined where BGPAdvertisements use them (baregate has no Community kind)' });
  }
  return out;
}

/** Per-kind conversion context. */
interface Ctx {
  readonly findings: Finding[];
  readonly aliases: Map<string, Map<string, string>>;
  /** BFDProfiles of the input (`group\0name`), and those of them that were converted. */
  readonly bfdProfiles: Set<string>;
  readonly convertedBFDProfiles: Set<string>;
  readonly metallbNamespace: string;
  /** Secrets to copy (MetalLB namespace/name), for one command each. */
  readonly secrets: Set<string>;
}

/**
 * Converts one object of a kind baregate has. Undefined when it must be left out (the finding says why).
 * `spec` is built from the table's `as-is` fields; the kind's own fields are handled below.
 */
function convertOne(o: MetalLBObject, kind: OutputKind, ctx: Ctx, dropped: { n: number }): Draft | undefined {
  const rules = FieldTable[o.kind] ?? {};
  const unknownTop = unknownFields(o, rules, ctx.findings);
  const spec: Obj = {};
  const say = (level: Finding['level'], field: string | undefined, message: string, command?: string): void => {
    ctx.findings.push({ level, subject: o.subject, ...(field !== undefined ? { field } : {}), message, ...(command !== undefined ? { command } : {}) });
  };
  let leftOut = false;
  for (const [key, value] of Object.entries(o.spec)) {
    if (unknownTop.has(key)) continue;
    const t = topRule(rules, key);
    if (!t) continue; // a field whose children the table lists: handled by the kind below
    const { path, rule } = t;
    switch (rule.treatment) {
      case Treatments.asIs:
        if (value === undefined || value === null) break;
        if (rule.default !== undefined && canonical(value) === canonical(rule.default)) break;
        spec[key] = value;
        break;
      case Treatments.none:
        if (isEmpty(value)) break;
        if (key === 'vrf' || key === 'interface') leftOut = true;
        say(Levels.none, path.replace(/\[\]$/, ''), `${rule.note ?? 'no equivalent in baregate'} (was ${JSON.stringify(value)})`);
        break;
      case Treatments.changed:
      case Treatments.consumed:
        break; // the kind's own code below
    }
  }

  if (kind === 'L2Advertisement') {
    const ifs = Array.isArray(spec.interfaces) ? spec.interfaces : [];
    if (ifs.length === 0) say(Levels.changed, 'spec.interfaces', 'none listed: baregate answers ARP/NDP only on the interfaces whose subnet holds the address, MetalLB on every interface; an address in no interface\'s subnet is not announced until interfaces are listed');
  }

  if (kind === 'BGPAdvertisement') {
    const raw = Array.isArray(o.spec.communities) ? o.spec.communities : [];
    const aliases = ctx.aliases.get(o.group) ?? new Map<string, string>();
    const out: string[] = [];
    for (const c of raw) {
      const text = typeof c === 'string' ? c : String(c);
      const alias = aliases.get(text);
      if (alias !== undefined) { out.push(alias); say(Levels.converted, 'spec.communities', `alias "${text}" inlined as ${alias}`); continue; }
      if (communityValue(text)) { out.push(text); continue; }
      say(Levels.error, 'spec.communities', `"${text}" is neither a community (a:b, large:a:b:c) nor an alias of a Community object (MetalLB refused it): left out`);
    }
    if (out.length > 0) spec.communities = [...new Set(out)];
  }

  if (kind === 'BGPPeer') {
    const s = o.spec;
    if (o.apiVersion.endsWith('/v1beta1')) say(Levels.info, undefined, 'deprecated metallb.io/v1beta1 BGPPeer: read as v1beta2 (the same fields)');
    if (typeof s.peerAddress !== 'string' || s.peerAddress === '') {
      leftOut = true;
      if (isEmpty(s.interface)) say(Levels.error, 'spec.peerAddress', 'no peer address: not converted');
    }
    if (!isEmpty(s.localASN)) say(Levels.info, 'spec.localASN', 'see the no-equivalent entry: myASN is kept');
    if (!isEmpty(s.password)) {
      spec.password = s.password;
      // the password itself is never repeated in the report
      say(Levels.action, 'spec.password', `the TCP-MD5 password is in plaintext in the object (converted so; baregate warns about it): put it in a Secret in ${SYSTEM_NAMESPACE} with data key "${PASSWORD_SECRET_KEY}" and use passwordSecret`);
    }
    if (isObj(s.passwordSecret) && !isEmpty(s.passwordSecret.name)) {
      const name = String(s.passwordSecret.name);
      const from = typeof s.passwordSecret.namespace === 'string' && s.passwordSecret.namespace !== '' ? s.passwordSecret.namespace : ctx.metallbNamespace;
      spec.passwordSecret = { name, namespace: SYSTEM_NAMESPACE };
      say(Levels.changed, 'spec.passwordSecret.namespace', `${from} → ${SYSTEM_NAMESPACE}: ${rules['spec.passwordSecret.namespace']?.note ?? ''}`);
      if (!ctx.secrets.has(`${from}/${name}`)) {
        ctx.secrets.add(`${from}/${name}`);
        say(Levels.action, 'spec.passwordSecret', `copy Secret ${from}/${name} to ${SYSTEM_NAMESPACE} before the speakers start (the command pipes the value from one Secret into the other; it is never shown)`, secretCopyCommand(from, name));
      }
    }
    if (!isEmpty(s.bfdProfile)) {
      const name = String(s.bfdProfile);
      const key = `${o.group}\0${name}`;
      const until = 'kept; baregate runs the session without BFD (it warns) until a BFDProfile of that name exists';
      if (!ctx.bfdProfiles.has(key)) say(Levels.info, 'spec.bfdProfile', `names BFDProfile "${name}", which is not in the input: ${until}`);
      else if (!ctx.convertedBFDProfiles.has(key)) say(Levels.info, 'spec.bfdProfile', `names BFDProfile "${name}", which is not converted (see its errors): ${until}`);
    }
    if (s.disableMP === true) say(Levels.changed, 'spec.disableMP', rules['spec.disableMP']?.note ?? '');
    if (s.dualStackAddressFamily !== true && s.disableMP !== true && !leftOut) say(Levels.changed, 'spec.dualStackAddressFamily', rules['spec.dualStackAddressFamily']?.note ?? '');
    if (s.connectTime === undefined && !leftOut) say(Levels.info, 'spec.connectTime', 'not set: baregate retries a failed connection every 10 s (MetalLB leaves it to its BGP implementation)');
  }

  if (kind === 'BFDProfile' && !bfdFields(o, spec, say)) leftOut = true;

  if (leftOut) { say(Levels.none, undefined, 'not converted (see above)'); return undefined; }
  const refs: Ref[] = [];
  if (kind === 'L2Advertisement' || kind === 'BGPAdvertisement') refs.push({ field: 'ipAddressPools', kind: 'IPAddressPool' });
  if (kind === 'BGPAdvertisement') refs.push({ field: 'peers', kind: 'BGPPeer' });
  if (kind === 'BGPPeer' && typeof spec.bfdProfile === 'string') refs.push({ field: 'bfdProfile', kind: 'BFDProfile' });
  const meta = metadataOf(o, dropped);
  return { kind, localName: o.name, group: o.group, subject: o.subject, labels: meta.labels, annotations: meta.annotations, spec, refs };
}

/**
 * A BFDProfile's own fields: the numbers within baregate's ranges (MetalLB's; a value outside them is an error and the
 * profile is not converted, as an object baregate would refuse must not be written), echo mode dropped, the echo
 * interval copied without effect. False when the profile cannot be converted.
 */
function bfdFields(o: MetalLBObject, spec: Obj, say: (level: Finding['level'], field: string | undefined, message: string) => void): boolean {
  const s = o.spec;
  let ok = true;
  for (const [key, r] of Object.entries(BFDProfileRanges)) {
    const v = s[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < r.min || v > r.max) {
      say(Levels.error, `spec.${key}`, `${JSON.stringify(v)} is outside baregate's range (an integer ${r.min}–${r.max}, MetalLB's too): the profile is not converted`);
      ok = false;
    }
  }
  for (const key of ['echoMode', 'passiveMode']) {
    const v = s[key];
    if (v !== undefined && v !== null && typeof v !== 'boolean') {
      say(Levels.error, `spec.${key}`, `${JSON.stringify(v)} is not true or false: the profile is not converted`);
      ok = false;
    }
  }
  const rules = FieldTable[o.kind] ?? {};
  if (s.echoMode === true) say(Levels.changed, 'spec.echoMode', `true → dropped: ${rules['spec.echoMode']?.note ?? ''}`);
  else if (s.echoMode === false) spec.echoMode = false;
  if (typeof s.echoInterval === 'number') {
    spec.echoInterval = s.echoInterval;
    // under MetalLB the interval meant something only with echo mode on
    say(s.echoMode === true ? Levels.changed : Levels.info, 'spec.echoInterval', rules['spec.echoInterval']?.note ?? '');
  }
  return ok;
}

/** The command that copies a peer's password Secret without showing its value. */
export function secretCopyCommand(namespace: string, name: string): string {
  const q = shellQuote;
  return `kubectl get secret -n ${q(namespace)} ${q(name)} -o go-template='{{index .data "${PASSWORD_SECRET_KEY}" | base64decode}}' | kubectl create secret generic ${q(name)} -n ${q(SYSTEM_NAMESPACE)} --type=kubernetes.io/basic-auth --from-file=${PASSWORD_SECRET_KEY}=/dev/stdin`;
}

/** A word for POSIX sh: as it is when it holds only safe characters, else in single quotes. */
export function shellQuote(s: string): string {
  if (/^[A-Za-z0-9_./:=,@%+-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Object kinds converted one to one. */
const DIRECT: Readonly<Record<string, OutputKind>> = {
  [MetalLBKinds.IPAddressPool.kind]: 'IPAddressPool',
  [MetalLBKinds.L2Advertisement.kind]: 'L2Advertisement',
  [MetalLBKinds.BGPAdvertisement.kind]: 'BGPAdvertisement',
  [MetalLBKinds.BGPPeer.kind]: 'BGPPeer',
  [MetalLBKinds.BFDProfile.kind]: 'BFDProfile',
};

/** AddressPool objects rewritten as an IPAddressPool and advertisements (after their own fields are checked). */
function expandAddressPool(o: MetalLBObject, findings: Finding[]): MetalLBObject[] {
  const rules = FieldTable[MetalLBKinds.AddressPool.kind] ?? {};
  unknownFields(o, rules, findings);
  const s = o.spec;
  const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
  const ads = (Array.isArray(s.bgpAdvertisements) ? s.bgpAdvertisements : []).filter(isObj).map((a) => ({
    aggregationLength: num(a.aggregationLength) === 32 ? undefined : num(a.aggregationLength),
    aggregationLengthV6: num(a.aggregationLengthV6) === 128 ? undefined : num(a.aggregationLengthV6),
    localPref: num(a.localPref) === 0 ? undefined : num(a.localPref),
    communities: Array.isArray(a.communities) ? a.communities.map((c) => String(c)) : undefined,
  }));
  findings.push({ level: Levels.info, subject: o.subject, message: `${o.apiVersion} AddressPool (removed in MetalLB v0.14): converted as an IPAddressPool and its ${s.protocol === 'bgp' ? 'BGPAdvertisement(s)' : 'L2Advertisement'}` });
  return poolObjects({
    name: o.name, protocol: typeof s.protocol === 'string' ? s.protocol : '',
    addresses: Array.isArray(s.addresses) ? s.addresses.map((a) => String(a)) : [],
    autoAssign: typeof s.autoAssign === 'boolean' ? s.autoAssign : undefined,
    advertisements: ads,
  }, { subject: o.subject, group: o.group, namespace: o.namespace, labels: o.labels }, findings);
}

/** A value with the keys of every object sorted (label selectors, serviceAllocation): the same text from any source. */
function sortedDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedDeep);
  if (!isObj(v)) return v;
  const out: Obj = {};
  for (const k of Object.keys(v).sort(byText)) out[k] = sortedDeep(v[k]);
  return out;
}

/**
 * A spec with its top-level fields in the field table's order and everything below sorted: a file and the cluster
 * (which returns fields in its own order) give the same text.
 */
function orderedSpec(kind: OutputKind, spec: Obj): Obj {
  const order = [...new Set(Object.keys(FieldTable[kind] ?? {}).map((p) => p.slice('spec.'.length).split(/[.[]/)[0] ?? ''))];
  const rank = (k: string): number => { const i = order.indexOf(k); return i < 0 ? order.length : i; };
  const out: Obj = {};
  for (const k of Object.keys(spec).sort((a, b) => rank(a) - rank(b) || byText(a, b))) out[k] = sortedDeep(spec[k]);
  return out;
}

/** Final names: unique per kind, identical duplicates merged, references within a group following renames. */
function finalize(drafts: Draft[], findings: Finding[]): OutputObject[] {
  const order = (k: OutputKind): number => OUTPUT_KINDS.indexOf(k);
  // on a clash the current API's objects keep their names, the legacy formats' are renamed
  const groupRank = (g: string): number => (g.startsWith('legacy ') ? 1 : 0);
  drafts.sort((a, b) => order(a.kind) - order(b.kind) || byText(a.localName, b.localName) || groupRank(a.group) - groupRank(b.group) || byText(a.group, b.group) || byText(a.subject, b.subject));
  const taken = new Map<string, Draft>(); // kind\0name → draft
  const renamed = new Map<string, string>(); // kind\0group\0localName → final name
  const finalName = new Map<Draft, string>();
  // references to a kind written earlier (a peer's BFDProfile) are already final when a draft is compared; references
  // to a later kind (an advertisement's peers) are not, so a draft with those is never merged
  const settled = (d: Draft): boolean => d.refs.every((r) => order(r.kind) < order(d.kind));
  const resolved = (d: Draft): Obj => {
    const spec: Obj = { ...d.spec };
    for (const r of d.refs) {
      const follow = (t: string): string => renamed.get(`${r.kind}\0${d.group}\0${t}`) ?? t;
      const v = spec[r.field];
      if (Array.isArray(v)) spec[r.field] = v.map((x) => follow(String(x)));
      else if (typeof v === 'string') spec[r.field] = follow(v);
    }
    return spec;
  };
  const body = (d: Draft): string => canonical({ spec: resolved(d), labels: d.labels, annotations: d.annotations });
  for (const d of drafts) {
    const rkey = `${d.kind}\0${d.group}\0${d.localName}`;
    const first = taken.get(`${d.kind}\0${d.localName}`);
    if (first === undefined) {
      taken.set(`${d.kind}\0${d.localName}`, d);
      finalName.set(d, d.localName);
      if (!renamed.has(rkey)) renamed.set(rkey, d.localName);
      continue;
    }
    if (settled(first) && settled(d) && body(first) === body(d)) {
      findings.push({ level: Levels.info, subject: d.subject, message: `the same as ${first.subject}: written once, as ${d.kind}/${d.localName}` });
      if (!renamed.has(rkey)) renamed.set(rkey, d.localName);
      continue;
    }
    let n = 2;
    while (taken.has(`${d.kind}\0${d.localName}-${n}`)) n++;
    const name = `${d.localName}-${n}`;
    taken.set(`${d.kind}\0${name}`, d);
    finalName.set(d, name);
    if (!renamed.has(rkey)) renamed.set(rkey, name);
    findings.push({ level: Levels.changed, subject: d.subject, field: 'metadata.name', message: `renamed to ${name}: ${first.subject} is also converted to ${d.kind}/${d.localName}; references to it from the same source are renamed too` });
  }
  const out: OutputObject[] = [];
  for (const d of drafts) {
    const name = finalName.get(d);
    if (name === undefined) continue;
    const spec = resolved(d);
    const metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> } = { name };
    if (Object.keys(d.labels).length > 0) metadata.labels = sortedDeep(d.labels) as Record<string, string>;
    if (Object.keys(d.annotations).length > 0) metadata.annotations = sortedDeep(d.annotations) as Record<string, string>;
    out.push({ apiVersion: API_VERSION, kind: d.kind, metadata, spec: orderedSpec(d.kind, spec) });
    findings.push({ level: Levels.converted, subject: d.subject, message: `→ ${d.kind}/${name}` });
  }
  out.sort((a, b) => order(a.kind) - order(b.kind) || byText(a.metadata.name, b.metadata.name));
  return out;
}

/** One BGP speaker per node: peers that disagree on myASN or routerID cannot all be peered with from one node. */
function speakerIdentityFindings(objects: readonly OutputObject[], findings: Finding[]): void {
  const peers = objects.filter((o) => o.kind === 'BGPPeer');
  for (const [field, what] of [['myASN', 'myASN'], ['routerID', 'routerID']] as const) {
    const values = new Map<string, string[]>();
    for (const p of peers) {
      const v = p.spec[field];
      const key = v === undefined ? (field === 'routerID' ? '(unset: the node\'s IPv4 address)' : '(unset)') : canonical(v);
      values.set(key, [...(values.get(key) ?? []), p.metadata.name]);
    }
    if (values.size < 2) continue;
    const sameNodes = peers.every((p) => isEmpty(p.spec.nodeSelectors));
    const list = [...values].map(([v, names]) => `${v} (${names.join(', ')})`).join('; ');
    findings.push({
      level: sameNodes ? Levels.none : Levels.changed, subject: 'BGPPeers', field: `spec.${field}`,
      message: `the peers use different ${what}s: ${list}. A baregate node runs one BGP speaker with one ${what}: on a node that more than one of them select, only the peers that agree with the first by name are peered with${sameNodes ? ' (these peers all select every node)' : ' (check that their nodeSelectors do not overlap)'}`,
    });
  }
}

/** parseConfig's verdict on the output: what baregate itself would refuse or warn about. */
function validate(objects: readonly OutputObject[], findings: Finding[]): void {
  const of = (k: OutputKind): OutputObject[] => objects.filter((o) => o.kind === k);
  const parsed = parseConfig({ pools: of('IPAddressPool'), l2Advertisements: of('L2Advertisement'), bgpAdvertisements: of('BGPAdvertisement'), bgpPeers: of('BGPPeer'), bfdProfiles: of('BFDProfile'), secrets: [] }, { crossChecks: true });
  // a peer naming a profile that is not written is reported by the converter, with why
  const skip: ReadonlySet<string> = new Set([ProblemCodes.SecretMissing, ProblemCodes.SecretKeyMissing, ProblemCodes.PlaintextPassword, ProblemCodes.UnknownBFDProfile]);
  for (const p of parsed.problems) {
    if (skip.has(p.code)) continue;
    findings.push({ level: p.severity === 'error' ? Levels.error : Levels.info, subject: `${p.kind}/${p.name} (converted)`, field: p.field, message: `baregate ${p.severity === 'error' ? 'refuses' : 'warns'}: ${p.message}` });
  }
  const announced = announcedPools(parsed.config);
  for (const p of parsed.config.pools) {
    if (!announced.has(p.name)) findings.push({ level: Levels.info, subject: `IPAddressPool/${p.name} (converted)`, message: 'no L2Advertisement or BGPAdvertisement covers it: its addresses are handed out but announced by nobody (as under MetalLB); add an advertisement if that is not intended' });
  }
}

/**
 * Converts MetalLB objects and legacy configurations into baregate objects; every field that is not a plain copy
 * gets a finding (see the module comment).
 */
export function convert(metallb: readonly MetalLBObject[], legacy: readonly LegacyInput[], metallbNamespace: string): Conversion {
  const findings: Finding[] = [];
  const all: MetalLBObject[] = [];
  for (const l of legacy) {
    const r = legacyObjects(l.config, l.subject, metallbNamespace);
    findings.push(...r.findings);
    all.push(...r.objects);
  }
  for (const o of metallb) {
    if (o.kind === MetalLBKinds.AddressPool.kind) all.push(...expandAddressPool(o, findings));
    else all.push(o);
  }
  const aliases = communityAliases(all, findings);
  const bfdProfiles = new Set(all.filter((o) => o.kind === MetalLBKinds.BFDProfile.kind).map((o) => `${o.group}\0${o.name}`));
  const ctx: Ctx = { findings, aliases, bfdProfiles, convertedBFDProfiles: new Set<string>(), metallbNamespace, secrets: new Set<string>() };
  const dropped = { n: 0 };
  const drafts: Draft[] = [];
  // profiles first: a peer's finding depends on whether its profile converts
  const isProfile = (o: MetalLBObject): boolean => o.kind === MetalLBKinds.BFDProfile.kind;
  for (const o of [...all.filter(isProfile), ...all.filter((x) => !isProfile(x))]) {
    const kind = DIRECT[o.kind];
    if (kind === undefined) continue;
    const d = convertOne(o, kind, ctx, dropped);
    if (!d) continue;
    drafts.push(d);
    if (kind === 'BFDProfile') ctx.convertedBFDProfiles.add(`${o.group}\0${o.name}`);
  }
  const objects = finalize(drafts, findings);
  if (dropped.n > 0) findings.push({ level: Levels.info, subject: 'metadata.annotations', message: `${dropped.n} bookkeeping annotation(s) of kubectl, Helm and MetalLB dropped (they describe the MetalLB objects); labels are kept` });
  if (objects.some((o) => o.kind === 'L2Advertisement')) findings.push({ level: Levels.info, subject: 'L2Advertisements', message: `nodes labelled ${EXCLUDE_FROM_LB_LABEL} never announce (as in MetalLB)` });
  speakerIdentityFindings(objects, findings);
  validate(objects, findings);
  return { objects, findings };
}
