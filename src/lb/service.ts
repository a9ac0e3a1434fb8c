/**
 * Reading a Service: is it ours, what does it ask for, what does its status say. Pure functions over
 * the Service JSON, so every annotation mistake becomes a typed error the controller turns into an event.
 */
import { ErrorCodes, type ErrorCode } from '../api/errors.ts';
import { DEPRECATED_ANNOTATION_PREFIX, LOAD_BALANCER_CLASS, ServiceAnnotations } from '../api/keys.ts';
import type { ObjectMeta } from '../api/types.ts';
import type { AllocationRequest, IPFamilyPolicy, PortSpec } from './allocator.ts';
import { parseIP, type Addr, type Family } from '../net/ip.ts';

/** The parts of a core/v1 Service we read and write. */
export interface Service {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: {
    type?: string;
    loadBalancerClass?: string;
    loadBalancerIP?: string;
    ipFamilies?: string[];
    ipFamilyPolicy?: string;
    ports?: { port: number; protocol?: string; name?: string; nodePort?: number }[];
    selector?: Record<string, string>;
    externalTrafficPolicy?: string;
    allocateLoadBalancerNodePorts?: boolean;
  };
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string; ipMode?: string }[] } };
}

/** `namespace/name`, the key used everywhere for a Service. */
export function serviceKey(s: { metadata: ObjectMeta }): string {
  return `${s.metadata.namespace ?? ''}/${s.metadata.name}`;
}

/**
 * Whether baregate is responsible for this Service's addresses: its `spec.loadBalancerClass` is ours
 * (`lbClass`, `--lb-class`; the class is immutable, so users switching from another load balancer keep
 * theirs), or it has no class and the controller serves class-less Services too.
 */
export function isOurs(s: Service, onlyOwnClass: boolean, lbClass: string = LOAD_BALANCER_CLASS): boolean {
  if (s.spec?.type !== 'LoadBalancer') return false;
  const cls = s.spec.loadBalancerClass;
  return cls === lbClass || (cls === undefined && !onlyOwnClass);
}

/**
 * The deprecated `metallb.universe.tf/…` annotations a Service uses, each with the `baregate.io/…` key
 * that replaces it, so the controller can tell the user once (they keep working).
 */
export function deprecatedAnnotations(s: Service): { key: string; replacement: string }[] {
  const a = s.metadata.annotations ?? {};
  const out: { key: string; replacement: string }[] = [];
  for (const keys of Object.values(ServiceAnnotations)) {
    for (const key of keys) if (key.startsWith(DEPRECATED_ANNOTATION_PREFIX) && a[key] !== undefined) out.push({ key, replacement: keys[0] });
  }
  return out;
}

/** IPs currently written in `status.loadBalancer.ingress`, parsed (unparsable entries are dropped). */
export function statusIPs(s: Service): Addr[] {
  const out: Addr[] = [];
  for (const i of s.status?.loadBalancer?.ingress ?? []) {
    const a = i.ip === undefined ? undefined : parseIP(i.ip);
    if (a) out.push(a);
  }
  return out;
}

/** A Service's request could not be understood. */
export interface RequestError {
  readonly code: ErrorCode;
  readonly reason: string;
}

/**
 * First set annotation among our key and its MetalLB aliases. A value that is exactly empty counts as
 * unset (as in MetalLB: templates often render `key: ""`); whitespace is a value, and an error later.
 */
function annotation(s: Service, keys: readonly string[]): { key: string; value: string } | undefined {
  const a = s.metadata.annotations ?? {};
  for (const key of keys) {
    const value = a[key];
    if (value !== undefined && value !== '') return { key, value };
  }
  return undefined;
}

/**
 * Builds the allocator's request from a Service and its namespace's labels. Annotation problems
 * (unparsable IP, two IPs of one family, empty pool name) are returned, never thrown.
 */
export function requestFor(s: Service, namespaceLabels: Record<string, string>): AllocationRequest | RequestError {
  const spec = s.spec ?? {};
  const requestedIPs: Addr[] = [];
  const ipsAnn = annotation(s, ServiceAnnotations.loadBalancerIPs);
  const ipTexts = ipsAnn ? ipsAnn.value.split(',').map((t) => t.trim()).filter((t) => t !== '') : [];
  if (ipsAnn && ipTexts.length === 0) return { code: ErrorCodes.BadAnnotation, reason: `annotation ${ipsAnn.key} holds no IP (only blanks or commas)` };
  if (!ipsAnn && spec.loadBalancerIP !== undefined && spec.loadBalancerIP !== '') ipTexts.push(spec.loadBalancerIP);
  const source = ipsAnn ? `annotation ${ipsAnn.key}` : 'spec.loadBalancerIP';
  for (const t of ipTexts) {
    const a = parseIP(t);
    if (!a) return { code: ErrorCodes.BadAnnotation, reason: `${source}: "${t}" is not an IP address` };
    if (requestedIPs.some((r) => r.family === a.family)) return { code: ErrorCodes.BadAnnotation, reason: `${source}: more than one ${a.family} address` };
    requestedIPs.push(a);
  }
  const poolAnn = annotation(s, ServiceAnnotations.addressPool);
  if (poolAnn && poolAnn.value.trim() === '') return { code: ErrorCodes.BadAnnotation, reason: `annotation ${poolAnn.key} is blank` };
  const shareAnn = annotation(s, ServiceAnnotations.allowSharedIP);
  if (shareAnn && shareAnn.value.trim() === '') return { code: ErrorCodes.BadAnnotation, reason: `annotation ${shareAnn.key} is blank` };
  const families = (spec.ipFamilies ?? []).filter((f): f is Family => f === 'IPv4' || f === 'IPv6');
  const policy: IPFamilyPolicy = spec.ipFamilyPolicy === 'PreferDualStack' || spec.ipFamilyPolicy === 'RequireDualStack' ? spec.ipFamilyPolicy : 'SingleStack';
  const ports: PortSpec[] = (spec.ports ?? []).map((p) => ({ port: p.port, protocol: p.protocol ?? 'TCP' }));
  const local = spec.externalTrafficPolicy === 'Local';
  const backendKey = local ? Object.entries(spec.selector ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(',') || '<none>' : '';
  return {
    key: serviceKey(s),
    namespace: s.metadata.namespace ?? '',
    serviceLabels: s.metadata.labels ?? {},
    namespaceLabels,
    families: families.length > 0 ? families : ['IPv4'],
    policy,
    requestedIPs,
    pool: poolAnn?.value.trim(),
    sharingKey: shareAnn?.value.trim(),
    ports,
    backendKey,
  };
}

/** Type guard for {@link requestFor}'s error branch. */
export function isRequestError(r: AllocationRequest | RequestError): r is RequestError {
  return 'reason' in r;
}
