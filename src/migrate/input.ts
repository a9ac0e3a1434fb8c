/**
 * What `baregate migrate` reads, sorted out: multi-document YAML (files, stdin, or what the cluster returned) into
 * MetalLB objects, legacy configurations (the `config` ConfigMap, Helm values with `configInline`, a bare legacy
 * config), Services, and the rest (skipped, and said so). Pure.
 *
 * Secrets are recognised only to be skipped: their data is never looked at, kept or printed.
 */
import { parseAllDocuments } from 'yaml';
import {
  METALLB_GROUP, METALLB_HELM_CONFIG_INLINE, METALLB_LEGACY_CONFIG_KEY, METALLB_LEGACY_CONFIGMAP, MetalLBKinds,
  MetalLBLegacyKeys, MetalLBStatusKinds,
} from '../api/metallb.ts';
import { Levels, type Finding } from './report.ts';

/** A JSON object. */
export type Obj = Record<string, unknown>;

/** Whether `v` is a plain object (not an array, not null). */
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One document and where it came from. */
export interface SourceDoc {
  /** `pools.yaml`, `-` (stdin), `cluster`. */
  readonly source: string;
  /** 1-based position in its source. */
  readonly index: number;
  readonly obj: unknown;
}

/** A MetalLB object, read but not yet converted. */
export interface MetalLBObject {
  /** How the report names it: `BGPPeer metallb-system/tor1`. */
  readonly subject: string;
  /** The scope names resolve in (MetalLB resolves pool, peer and community names within its namespace). */
  readonly group: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly spec: Obj;
}

/** A legacy configuration (MetalLB ≤ v0.12 format). */
export interface LegacyInput {
  readonly subject: string;
  /** The configuration: parsed from text with every scalar a string (as Go's typed YAML decoding sees it), or Helm's object. */
  readonly config: unknown;
}

/** Everything found in the input. */
export interface Inputs {
  readonly metallb: readonly MetalLBObject[];
  readonly legacy: readonly LegacyInput[];
  /** Services of type LoadBalancer, as read. */
  readonly services: readonly Obj[];
  readonly findings: readonly Finding[];
}

/** A YAML text that could not be parsed. */
export interface YamlError { readonly error: string }

/** The documents of a YAML text (empty ones dropped), or the first parse error. */
export function parseDocuments(text: string, source: string): SourceDoc[] | YamlError {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const out: SourceDoc[] = [];
  let index = 0;
  for (const d of list) {
    index++;
    const err = d.errors[0];
    if (err) return { error: `${source}: document ${index}: ${err.message}` };
    const obj: unknown = d.toJS({ maxAliasCount: 1000 });
    if (obj === null || obj === undefined) continue;
    out.push({ source, index, obj });
  }
  return out;
}

/**
 * A legacy configuration's text parsed with every scalar a string: MetalLB decoded it with Go's typed YAML, which
 * reads `65000:100` as the text it is and `yes` as a boolean only where a boolean is due; legacy.ts converts each
 * value by the type its key has.
 */
export function parseLegacyText(text: string, where: string): unknown {
  const docs = parseAllDocuments(text, { schema: 'failsafe' });
  const list = Array.isArray(docs) ? docs : [docs];
  const first = list[0];
  if (!first) return {};
  const err = first.errors[0];
  if (err) return { error: `${where}: ${err.message}` } satisfies YamlError;
  const v: unknown = first.toJS();
  return v ?? {};
}

const stringMap = (v: unknown): Record<string, string> => {
  const out: Record<string, string> = {};
  if (isObj(v)) for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
};

const METALLB_KIND_NAMES: ReadonlySet<string> = new Set(Object.values(MetalLBKinds).map((k) => k.kind));
const STATUS_KINDS: ReadonlySet<string> = new Set(MetalLBStatusKinds);
const LEGACY_KEYS: readonly string[] = Object.values(MetalLBLegacyKeys);

/** Whether an object looks like a legacy configuration (has one of its top-level keys and no `kind`). */
function isLegacyShape(v: Obj): boolean {
  return v.kind === undefined && LEGACY_KEYS.some((k) => k in v);
}

const where = (d: SourceDoc): string => (d.source === 'cluster' ? 'cluster' : `${d.source} #${d.index}`);

/**
 * Sorts the documents into what migrate works on. Objects outside `metallbNamespace` are skipped (MetalLB reads only
 * its own namespace, so they were not in effect); an object without a namespace is taken to be in it (files applied
 * with `kubectl -n`). Lists (`kind: List`, `…List`) are unpacked.
 */
export function classify(docs: readonly SourceDoc[], metallbNamespace: string): Inputs {
  const metallb: MetalLBObject[] = [];
  const legacy: LegacyInput[] = [];
  const services: Obj[] = [];
  const findings: Finding[] = [];
  const skipped = new Map<string, number>();

  const one = (d: SourceDoc, o: unknown): void => {
    if (!isObj(o)) { findings.push({ level: Levels.info, subject: where(d), message: 'not an object: skipped' }); return; }
    const kind = typeof o.kind === 'string' ? o.kind : '';
    const apiVersion = typeof o.apiVersion === 'string' ? o.apiVersion : '';
    if (Array.isArray(o.items) && kind.endsWith('List')) { for (const item of o.items) one(d, item); return; }
    const meta = isObj(o.metadata) ? o.metadata : {};
    const name = typeof meta.name === 'string' ? meta.name : '';
    const namespace = typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : '';
    if (kind === '' && isObj(o[METALLB_HELM_CONFIG_INLINE])) {
      legacy.push({ subject: `Helm values ${METALLB_HELM_CONFIG_INLINE} (${where(d)})`, config: o[METALLB_HELM_CONFIG_INLINE] });
      return;
    }
    if (kind === '' && typeof o[METALLB_HELM_CONFIG_INLINE] === 'string') {
      legacy.push({ subject: `Helm values ${METALLB_HELM_CONFIG_INLINE} (${where(d)})`, config: parseLegacyText(o[METALLB_HELM_CONFIG_INLINE], `${where(d)} ${METALLB_HELM_CONFIG_INLINE}`) });
      return;
    }
    if (isLegacyShape(o)) { legacy.push({ subject: `legacy configuration (${where(d)})`, config: o }); return; }
    if (apiVersion.startsWith(`${METALLB_GROUP}/`)) {
      const subject = `${kind} ${namespace === '' ? '' : `${namespace}/`}${name} (${where(d)})`;
      if (namespace !== '' && namespace !== metallbNamespace) {
        findings.push({ level: Levels.info, subject, message: `not in ${metallbNamespace}, the namespace MetalLB reads: it was not in effect and is not converted (--metallb-namespace names another)` });
        return;
      }
      if (STATUS_KINDS.has(kind)) { findings.push({ level: Levels.info, subject, message: 'status MetalLB writes for itself: nothing to convert' }); return; }
      if (!METALLB_KIND_NAMES.has(kind)) { findings.push({ level: Levels.none, subject, message: `${apiVersion} ${kind} is not a MetalLB kind this version of baregate knows: not converted` }); return; }
      if (name === '') { findings.push({ level: Levels.error, subject, message: 'has no metadata.name: not converted' }); return; }
      const spec = o.spec === undefined || o.spec === null ? {} : o.spec;
      if (!isObj(spec)) { findings.push({ level: Levels.error, subject, message: 'spec is not an object: not converted' }); return; }
      metallb.push({
        subject, group: `namespace ${metallbNamespace}`, apiVersion, kind, name, namespace: namespace === '' ? metallbNamespace : namespace,
        labels: stringMap(meta.labels), annotations: stringMap(meta.annotations), spec,
      });
      return;
    }
    if (kind === 'ConfigMap' && (apiVersion === 'v1' || apiVersion === '')) {
      const data = isObj(o.data) ? o.data : {};
      const text = data[METALLB_LEGACY_CONFIG_KEY];
      const subject = `ConfigMap ${namespace === '' ? '' : `${namespace}/`}${name} (${where(d)})`;
      if (typeof text === 'string' && (name === METALLB_LEGACY_CONFIGMAP || LEGACY_KEYS.some((k) => new RegExp(`^${k}:`, 'm').test(text)))) {
        if (namespace !== '' && namespace !== metallbNamespace) {
          findings.push({ level: Levels.info, subject, message: `not in ${metallbNamespace}, the namespace MetalLB reads: not converted (--metallb-namespace names another)` });
          return;
        }
        legacy.push({ subject, config: parseLegacyText(text, subject) });
        return;
      }
    }
    if (kind === 'Service' && (apiVersion === 'v1' || apiVersion === '')) {
      const spec = isObj(o.spec) ? o.spec : {};
      if (spec.type === 'LoadBalancer') services.push(o);
      else skipped.set('Service (not type LoadBalancer)', (skipped.get('Service (not type LoadBalancer)') ?? 0) + 1);
      return;
    }
    if (kind === 'Secret') {
      // never looked into: a Secret's data must not end up in any output
      findings.push({ level: Levels.info, subject: `Secret ${namespace === '' ? '' : `${namespace}/`}${name} (${where(d)})`, message: 'Secrets are not read: copy peer password Secrets with the commands under TO DO' });
      return;
    }
    const label = kind === '' ? 'document without kind' : `${apiVersion} ${kind}`;
    skipped.set(label, (skipped.get(label) ?? 0) + 1);
  };

  for (const d of docs) one(d, d.obj);
  for (const [label, n] of [...skipped].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    findings.push({ level: Levels.info, subject: label, message: `${n} document(s) that are not MetalLB's: skipped` });
  }
  return { metallb, legacy, services, findings };
}
