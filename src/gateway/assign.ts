/**
 * Pieces the planner (plan.ts) and the webhook's mutator (mutate.ts) share, so "oldest first", "which families" and
 * "is this annotation the user's" mean the same at a Service's creation and in every later planning pass.
 */
import type { GatewayIntegration } from '../api/gatewayintegration.ts';
import { GATEWAY_FIELD_MANAGER, ServiceAnnotations } from '../api/keys.ts';
import { canonicalIP, parseIP, type Family } from '../net/ip.ts';
import type { GatewayObject, GatewayService } from './types.ts';

/**
 * Total order of integrations, oldest first: (creationTimestamp, name). The oldest matching integration wins a
 * Service and keeps a fixed address two integrations name; names are unique, so the order is total.
 */
export function compareIntegrations(a: GatewayIntegration, b: GatewayIntegration): number {
  return cmp(a.metadata.creationTimestamp ?? '', b.metadata.creationTimestamp ?? '') || cmp(a.metadata.name, b.metadata.name);
}

/** Total order of Services, oldest first: (creationTimestamp, namespace/name); the order fixed addresses are handed out in. */
export function compareServices(a: GatewayService, b: GatewayService): number {
  return cmp(a.metadata.creationTimestamp ?? '', b.metadata.creationTimestamp ?? '') || cmp(a.metadata.namespace ?? '', b.metadata.namespace ?? '') || cmp(a.metadata.name, b.metadata.name);
}

/** Code-unit string comparison (never locale-dependent: plans must be the same on every replica). */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The families a Service needs an address of: `spec.ipFamilies` (IPv4 first), `['IPv4']` when absent or unknown. */
export function familiesOf(svc: GatewayService): Family[] {
  const f = svc.spec?.ipFamilies ?? [];
  const out: Family[] = [];
  if (f.includes('IPv4')) out.push('IPv4');
  if (f.includes('IPv6')) out.push('IPv6');
  return out.length > 0 ? out : ['IPv4'];
}

/** Sorts canonical IPs IPv4 first (the order of the loadBalancerIPs comma list), then by text. */
export function sortIPs(ips: readonly string[]): string[] {
  return [...ips].sort((a, b) => (familyOfIP(a) === familyOfIP(b) ? cmp(a, b) : familyOfIP(a) === 'IPv4' ? -1 : 1));
}

/** Family of an IP text (IPv6 when it holds a colon); only called on canonical IPs. */
export function familyOfIP(ip: string): Family {
  return ip.includes(':') ? 'IPv6' : 'IPv4';
}

/** The first non-empty annotation among `keys` (the allocator reads them in this order, empty counts as unset). */
export function firstAnnotation(svc: GatewayService, keys: readonly string[]): { key: string; value: string } | undefined {
  const a = svc.metadata.annotations ?? {};
  for (const key of keys) {
    const value = a[key];
    if (typeof value === 'string' && value !== '') return { key, value };
  }
  return undefined;
}

/** The canonical IPs of a comma list (unparsable entries dropped). */
export function ipList(value: string): string[] {
  const out: string[] = [];
  for (const t of value.split(',')) {
    const c = canonicalIP(t);
    if (c !== undefined && !out.includes(c)) out.push(c);
  }
  return out;
}

/** Whether our field manager's managedFields entry lists `metadata.annotations[key]` (then we set it). */
export function weOwnAnnotation(svc: GatewayService, key: string): boolean {
  for (const m of svc.metadata.managedFields ?? []) {
    if (m.manager !== GATEWAY_FIELD_MANAGER) continue;
    const f = m.fieldsV1;
    if (!isRecord(f)) continue;
    const meta = f['f:metadata'];
    if (!isRecord(meta)) continue;
    const ann = meta['f:annotations'];
    if (isRecord(ann) && Object.hasOwn(ann, `f:${key}`)) return true;
  }
  return false;
}

/** Whether `v` is a plain JSON object. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The Service's own address request, which always wins over an integration: `spec.loadBalancerIP`, a MetalLB alias
 * annotation, or our own key when `ours(key, value)` says it is not what the integration set. For a Service generated
 * for a Gateway (`generated`), `spec.loadBalancerIP` is istiod's copy of the Gateway's first address, not a request of
 * its own: the Gateway's `spec.addresses` are (both families). Returns a description
 * for messages, or undefined when the Service asks for nothing itself.
 */
export function ownRequest(svc: GatewayService, ours: (key: string, value: string) => boolean, generated = false): string | undefined {
  const lbip: unknown = svc.spec?.loadBalancerIP;
  if (!generated && typeof lbip === 'string' && lbip !== '') return 'spec.loadBalancerIP';
  for (const keys of [ServiceAnnotations.loadBalancerIPs, ServiceAnnotations.addressPool]) {
    const a = svc.metadata.annotations ?? {};
    for (const key of keys) {
      const value = a[key];
      if (typeof value !== 'string' || value === '') continue;
      if (key === keys[0] && ours(key, value)) continue;
      return `annotation ${key}`;
    }
  }
  return undefined;
}

/** One entry of a Gateway's `spec.addresses`, judged without pools: an IP, or why not. */
export type GatewayAddress = { readonly ip: string } | { readonly error: 'type' | 'ip' | 'family'; readonly message: string };

/**
 * A Gateway's `spec.addresses` read as requested IPs: type absent or `IPAddress` and a valid IP; other types are
 * unsupported; a second address of one family cannot be expressed in the one-per-family annotation. Empty: the
 * Gateway asks for nothing (normal assignment).
 */
export function gatewayAddresses(gw: GatewayObject | undefined): GatewayAddress[] {
  const out: GatewayAddress[] = [];
  const seen = new Set<string>();
  const families = new Set<Family>();
  for (const a of gw?.spec?.addresses ?? []) {
    const type = a.type ?? 'IPAddress';
    if (type !== 'IPAddress') { out.push({ error: 'type', message: `unsupported address type ${type}` }); continue; }
    const p = parseIP(a.value ?? '');
    const c = canonicalIP(a.value ?? '');
    if (!p || c === undefined) { out.push({ error: 'ip', message: `"${a.value ?? ''}" is not an IP address` }); continue; }
    if (seen.has(c)) continue;
    seen.add(c);
    if (families.has(p.family)) { out.push({ error: 'family', message: `${c}: more than one ${p.family} address` }); continue; }
    families.add(p.family);
    out.push({ ip: c });
  }
  return out;
}
