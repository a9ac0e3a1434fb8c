/**
 * The mutating webhook's part of the gateway integrations: a Service being created that an integration matches is
 * born with its address annotation and without NodePorts, so no NodePort is ever allocated and the allocator's first
 * decision is already the fixed address. The webhook has no Service cache: the integrations' status (which Services
 * have which addresses) is what it knows of the others. Whatever it cannot decide it leaves alone; the leader's
 * planner (plan.ts) sets the same fields a moment later.
 */
import { GATEWAY_INTEGRATION_ANNOTATION, ServiceAnnotations } from '../api/keys.ts';
import type { GatewayIntegration } from '../api/gatewayintegration.ts';
import type { JsonPatchOp, ServiceMutator } from '../k8s/ports.ts';
import { canonicalIP, type Family } from '../net/ip.ts';
import { compareIntegrations, familiesOf, familyOfIP, gatewayAddresses, isRecord, ownRequest, sortIPs } from './assign.ts';
import { profileMatches } from './match.ts';
import type { GatewayService, MutationWorld } from './types.ts';

/** JSON pointer escaping of one path segment (RFC 6901: `~` → `~0`, `/` → `~1`). */
export function pointerSegment(s: string): string {
  return s.replaceAll('~', '~0').replaceAll('/', '~1');
}

/**
 * The Service mutator of the gateway integrations. `world()` undefined (caches not synced yet): no change. Never
 * throws: odd input yields no ops.
 */
export function gatewayMutator(world: () => MutationWorld | undefined): ServiceMutator {
  return (service, namespace) => {
    try {
      const w = world();
      return w === undefined ? [] : mutate(w, service, namespace);
    } catch {
      return [];
    }
  };
}

/** Reads the fields matching needs from the raw request object, dropping anything of the wrong type. */
function view(raw: Readonly<Record<string, unknown>>, namespace: string): GatewayService | undefined {
  const m = raw.metadata;
  const spec = raw.spec;
  if (!isRecord(m) || !isRecord(spec)) return undefined;
  const strings = (v: unknown): Record<string, string> => {
    const out: Record<string, string> = {};
    if (isRecord(v)) for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
    return out;
  };
  const name = typeof m.name === 'string' ? m.name : typeof m.generateName === 'string' ? m.generateName : '';
  const metadata: GatewayService['metadata'] = { name, namespace: typeof m.namespace === 'string' && m.namespace !== '' ? m.namespace : namespace, labels: strings(m.labels), annotations: strings(m.annotations) };
  if (Array.isArray(m.ownerReferences)) {
    metadata.ownerReferences = m.ownerReferences.filter(isRecord).flatMap((r) =>
      typeof r.apiVersion === 'string' && typeof r.kind === 'string' && typeof r.name === 'string' ? [{ apiVersion: r.apiVersion, kind: r.kind, name: r.name }] : []);
  }
  const s: NonNullable<GatewayService['spec']> = {};
  if (typeof spec.type === 'string') s.type = spec.type;
  if (typeof spec.loadBalancerIP === 'string') s.loadBalancerIP = spec.loadBalancerIP;
  if (Array.isArray(spec.ipFamilies)) s.ipFamilies = spec.ipFamilies.filter((f): f is string => typeof f === 'string');
  return { metadata, spec: s };
}

function mutate(w: MutationWorld, raw: Readonly<Record<string, unknown>>, namespace: string): JsonPatchOp[] {
  const svc = view(raw, namespace);
  if (!svc) return [];
  const integrations = [...w.integrations].sort(compareIntegrations);
  let owner: GatewayIntegration | undefined;
  let gateway: string | undefined;
  for (const i of integrations) {
    const m = profileMatches(i, svc, w.gateways, w.namespaceLabels);
    if (m.matched) { owner = i; gateway = m.gateway; break; }
  }
  if (!owner) return [];
  const spec = raw.spec as Record<string, unknown>;
  const ops: JsonPatchOp[] = [];
  if (owner.spec.disableNodePorts !== false) {
    if (spec.allocateLoadBalancerNodePorts !== false) ops.push({ op: 'add', path: '/spec/allocateLoadBalancerNodePorts', value: false });
    const ports = Array.isArray(spec.ports) ? (spec.ports as unknown[]) : [];
    ports.forEach((p, idx) => { if (isRecord(p) && p.nodePort !== undefined) ops.push({ op: 'remove', path: `/spec/ports/${idx}/nodePort` }); });
  }
  if (owner.spec.externalTrafficPolicy !== undefined && spec.externalTrafficPolicy !== owner.spec.externalTrafficPolicy) {
    ops.push({ op: 'add', path: '/spec/externalTrafficPolicy', value: owner.spec.externalTrafficPolicy });
    // the apiserver refuses a healthCheckNodePort without Local: the create would fail
    if (owner.spec.externalTrafficPolicy === 'Cluster' && spec.healthCheckNodePort !== undefined) ops.push({ op: 'remove', path: '/spec/healthCheckNodePort' });
  }
  // at creation nothing on the Service is ours: any address request it carries is the user's and wins
  if (ownRequest(svc, () => false, gateway !== undefined) !== undefined) return ops;
  const annotation = addressAnnotation(w, owner, integrations, svc, gateway, spec);
  if (annotation) {
    // the mark says which integration set the address annotation (admission changes belong to the creator's manager)
    const set = { [annotation.key]: annotation.value, [GATEWAY_INTEGRATION_ANNOTATION]: owner.metadata.name };
    const meta = raw.metadata as Record<string, unknown>;
    if (!isRecord(meta.annotations)) ops.push({ op: 'add', path: '/metadata/annotations', value: set });
    else for (const [key, value] of Object.entries(set)) ops.push({ op: 'add', path: `/metadata/annotations/${pointerSegment(key)}`, value });
  }
  return ops;
}

function addressAnnotation(
  w: MutationWorld, owner: GatewayIntegration, integrations: readonly GatewayIntegration[], svc: GatewayService, gateway: string | undefined, spec: Record<string, unknown>,
): { key: string; value: string } | undefined {
  const ns = svc.metadata.namespace ?? '';
  if (gateway !== undefined) {
    const gw = w.gateways.find((g) => g.metadata.name === gateway && (g.metadata.namespace ?? '') === ns);
    const ips = gatewayAddresses(gw).flatMap((a) => ('ip' in a ? [a.ip] : []));
    if (ips.length > 0) return { key: ServiceAnnotations.loadBalancerIPs[0], value: sortIPs(ips).join(',') };
  }
  // addresses another Service has or is given (the status is the webhook's knowledge), or an older integration names
  const taken = new Set<string>();
  for (const s of owner.status?.services ?? []) {
    if (s.namespace === ns && s.name === svc.metadata.name) continue;
    for (const ip of [...s.requested, ...s.ingress]) { const c = canonicalIP(ip); if (c !== undefined) taken.add(c); }
  }
  for (const i of integrations) {
    if (i === owner) break;
    for (const a of i.spec.addresses ?? []) { const c = canonicalIP(a); if (c !== undefined) taken.add(c); }
  }
  const families: Family[] = svc.spec?.ipFamilies === undefined && spec.ipFamilyPolicy === 'RequireDualStack' ? ['IPv4', 'IPv6'] : familiesOf(svc);
  const chosen: string[] = [];
  const fixed = (owner.spec.addresses ?? []).flatMap((a) => { const c = canonicalIP(a); return c === undefined ? [] : [c]; });
  for (const f of families) {
    const ip = fixed.find((a) => familyOfIP(a) === f && !taken.has(a));
    if (ip !== undefined) chosen.push(ip);
  }
  if (chosen.length > 0) return { key: ServiceAnnotations.loadBalancerIPs[0], value: sortIPs(chosen).join(',') };
  if (owner.spec.pool !== undefined) return { key: ServiceAnnotations.addressPool[0], value: owner.spec.pool };
  return undefined;
}
