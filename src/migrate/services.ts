/**
 * The Services a switch from MetalLB puts at stake: for every LoadBalancer Service, the addresses it holds and asks
 * for and the converted pool each lies in (an address in no pool would be lost when baregate takes over: an error),
 * the MetalLB annotations baregate reads unchanged, a `loadBalancerClass` that is not baregate's (the controller must
 * be started with `--lb-class` to keep serving it), and the script `--rewrite-annotations` writes. Pure.
 *
 * The annotation a Service's request comes from is chosen as the controller chooses it: the first non-empty key of
 * baregate's, then `metallb.io/…`, then `metallb.universe.tf/…` (src/api/keys.ts ServiceAnnotations).
 */
import { LOAD_BALANCER_CLASS, ServiceAnnotations } from '../api/keys.ts';
import { METALLB_ALLOCATED_FROM_POOL } from '../api/metallb.ts';
import { canonicalIP, parseIP, parseRange } from '../net/ip.ts';
import { shellQuote } from './convert.ts';
import { isObj, type Obj } from './input.ts';
import { Levels, type AcceptedAnnotation, type Finding, type OutputObject, type ServiceEntry } from './report.ts';

/** What {@link analyzeServices} returns. */
export interface ServiceAnalysis {
  readonly services: readonly ServiceEntry[];
  readonly findings: readonly Finding[];
  /** One `kubectl annotate` command per Service that carries MetalLB keys (what `--rewrite-annotations` writes). */
  readonly rewrite: readonly string[];
}

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

interface PoolRanges { readonly name: string; readonly ranges: readonly { family: string; lo: bigint; hi: bigint }[]; readonly autoAssign: boolean }

function poolRanges(objects: readonly OutputObject[]): PoolRanges[] {
  return objects.filter((o) => o.kind === 'IPAddressPool').map((o) => {
    const addrs = Array.isArray(o.spec.addresses) ? o.spec.addresses : [];
    const ranges = addrs.flatMap((a) => {
      const r = parseRange(String(a));
      return 'error' in r ? [] : [{ family: r.family, lo: r.lo, hi: r.hi }];
    });
    return { name: o.metadata.name, ranges, autoAssign: o.spec.autoAssign !== false };
  });
}

function poolOf(ip: string, pools: readonly PoolRanges[]): string {
  const a = parseIP(ip);
  if (!a) return '';
  return pools.find((p) => p.ranges.some((r) => r.family === a.family && a.value >= r.lo && a.value <= r.hi))?.name ?? '';
}

/** The concepts a Service annotation can carry, each with baregate's key first. */
const CONCEPTS = [ServiceAnnotations.loadBalancerIPs, ServiceAnnotations.addressPool, ServiceAnnotations.allowSharedIP] as const;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The script `--rewrite-annotations` writes: a header and one command per Service. */
export function rewriteScript(commands: readonly string[], sources: readonly string[]): string {
  return [
    '#!/bin/sh',
    `# Moves the Services' MetalLB annotations to baregate.io keys (written by baregate migrate from ${sources.join('; ')}).`,
    '# baregate reads the MetalLB keys too, so this can run before or after the switch; each line sets the baregate.io',
    '# key to the value in effect and removes the MetalLB keys of the same meaning.',
    'set -eu',
    ...commands,
    '',
  ].join('\n');
}

/**
 * Looks at every LoadBalancer Service against the converted objects; see the module comment.
 */
export function analyzeServices(services: readonly Obj[], objects: readonly OutputObject[]): ServiceAnalysis {
  const pools = poolRanges(objects);
  const poolNames = new Set(pools.map((p) => p.name));
  const entries: ServiceEntry[] = [];
  const findings: Finding[] = [];
  const rewrite: { key: string; cmd: string }[] = [];
  const classes = new Map<string, string[]>();
  const seen = new Set<string>();
  for (const s of services) {
    const meta = isObj(s.metadata) ? s.metadata : {};
    const spec = isObj(s.spec) ? s.spec : {};
    const ns = str(meta.namespace) ?? 'default';
    const name = str(meta.name) ?? '';
    const id = `${ns}/${name}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const subject = `Service ${id}`;
    const ann = isObj(meta.annotations) ? meta.annotations : {};
    const accepted: AcceptedAnnotation[] = [];
    const sets: string[] = [];
    const removes: string[] = [];
    const inEffect = new Map<string, string>();
    for (const keys of CONCEPTS) {
      const ours = keys[0];
      const winner = keys.find((k) => { const v = str(ann[k]); return v !== undefined && v !== ''; });
      if (winner !== undefined) inEffect.set(ours, str(ann[winner]) ?? '');
      for (const k of keys.slice(1)) {
        const v = str(ann[k]);
        if (v === undefined) continue;
        if (v !== '') accepted.push({ key: k, value: v, baregateKey: ours });
        removes.push(`${k}-`);
      }
      if (winner !== undefined && winner !== ours) sets.push(`${ours}=${str(ann[winner]) ?? ''}`);
    }
    if (sets.length > 0 || removes.length > 0) {
      rewrite.push({ key: id, cmd: ['kubectl', 'annotate', '--overwrite', '-n', ns, 'service', name, ...sets, ...removes].map(shellQuote).join(' ') });
    }
    // addresses: held (status) and asked for (annotation, else spec.loadBalancerIP), in that order, each once
    const addresses: string[] = [];
    const add = (t: string): void => { const c = canonicalIP(t.trim()); if (c !== undefined && !addresses.includes(c)) addresses.push(c); };
    const status = isObj(s.status) && isObj(s.status.loadBalancer) && Array.isArray(s.status.loadBalancer.ingress) ? s.status.loadBalancer.ingress : [];
    for (const i of status) if (isObj(i) && typeof i.ip === 'string') add(i.ip);
    const requested = inEffect.get(ServiceAnnotations.loadBalancerIPs[0]);
    if (requested !== undefined) for (const t of requested.split(',')) add(t);
    else if (typeof spec.loadBalancerIP === 'string' && spec.loadBalancerIP !== '') add(spec.loadBalancerIP);
    const inPools = addresses.map((a) => poolOf(a, pools));
    addresses.forEach((a, i) => {
      if (inPools[i] !== '') return;
      findings.push({ level: Levels.error, subject, message: `${a} lies in no converted IPAddressPool: the Service would lose this address when baregate takes over (add a pool that holds it)` });
    });
    const askedPool = inEffect.get(ServiceAnnotations.addressPool[0]);
    if (askedPool !== undefined && !poolNames.has(askedPool.trim())) {
      findings.push({ level: Levels.error, subject, message: `asks for pool "${askedPool}", which is not among the converted pools: it would get no address (or lose the one it has)` });
    }
    const metallbPool = METALLB_ALLOCATED_FROM_POOL.map((k) => str(ann[k])).find((v) => v !== undefined && v !== '');
    if (metallbPool !== undefined && addresses.length > 0 && !inPools.includes(metallbPool)) {
      findings.push({ level: Levels.info, subject, message: `MetalLB allocated it from pool "${metallbPool}"; its addresses lie in ${inPools.filter((p) => p !== '').join(', ') || 'no converted pool'}` });
    }
    const cls = str(spec.loadBalancerClass);
    if (cls !== undefined && cls !== '' && cls !== LOAD_BALANCER_CLASS) classes.set(cls, [...(classes.get(cls) ?? []), id]);
    entries.push({ service: id, addresses, pools: inPools, annotations: accepted, ...(cls !== undefined && cls !== '' ? { loadBalancerClass: cls } : {}) });
  }
  for (const [cls, ids] of [...classes].sort(([a], [b]) => byText(a, b))) {
    findings.push({ level: Levels.action, subject: `spec.loadBalancerClass ${cls}`, message: `${ids.length} Service(s) (${ids.join(', ')}) carry this class, which is not baregate's (${LOAD_BALANCER_CLASS}): start the controller with --lb-class ${cls} (Helm chart value lbClass) so it serves them` });
  }
  if (classes.size > 1) findings.push({ level: Levels.none, subject: 'spec.loadBalancerClass', message: `the Services carry ${classes.size} classes that are not baregate's; one controller serves one class: the Services of the others get no address` });
  entries.sort((a, b) => byText(a.service, b.service));
  rewrite.sort((a, b) => byText(a.key, b.key));
  return { services: entries, findings, rewrite: rewrite.map((r) => r.cmd) };
}
