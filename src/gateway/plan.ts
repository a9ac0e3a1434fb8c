/**
 * The gateway planner: from the integrations, every Service, the Gateways and the pools to what each matched
 * Service should show (its owned annotations, NodePort policy), each integration's status and the problems to
 * report. Pure and deterministic: inputs are put in total orders first, so a shuffled world gives the same plan.
 *
 * Choices worth knowing (also in the user documentation):
 * - A Service matched by several integrations belongs to the oldest; the younger do not list it.
 * - A fixed address is assigned only if it is an IP in some pool, no older integration names it, and no Service
 *   outside the integration holds or requests it. Otherwise: a condition and a problem, never an assignment.
 * - A matched Service keeps a fixed address it holds (or that our annotation names) while it stays in
 *   `spec.addresses`; the rest go to the other Services oldest first, one per family.
 * - When the fixed addresses run out (and there is no pool) a Service gets no address annotation: its current
 *   address is not taken away; the integration is not Ready (NotEnoughAddresses).
 * - A Service that holds an address which this pass cannot give it again (the address became invalid or
 *   conflicting, a Gateway's request was rejected) is `keep`: nothing is written to it.
 * - The Service's own request (spec.loadBalancerIP, a MetalLB alias annotation, or our key with a value we did not
 *   set) wins: no address annotation is owned for it; NodePorts and externalTrafficPolicy are still set.
 * - A Gateway may not take an address that is in use or that another integration lists; a Gateway whose addresses
 *   are all rejected is treated like one with none (normal assignment).
 */
import type { GatewayIntegration, GatewayServiceStatus } from '../api/gatewayintegration.ts';
import { GATEWAY_INTEGRATION_ANNOTATION, GatewayAddressRejectReasons as RejectReason, GatewayConditions, GatewayEventReasons, GatewayProfiles, GatewayReadyReasons, ServiceAnnotations } from '../api/keys.ts';
import { canonicalIP, type Family } from '../net/ip.ts';
import {
  compareIntegrations, compareServices, familiesOf, familyOfIP, firstAnnotation, gatewayAddresses, ipList, ownRequest, sortIPs, weOwnAnnotation,
} from './assign.ts';
import { owningGateway, profileMatches } from './match.ts';
import type { GatewayObject, GatewayPlan, GatewayProblem, GatewayService, GatewayWorld, PlannedStatus, PlanGateways, ServiceIntent } from './types.ts';

interface Svc {
  readonly s: GatewayService;
  readonly key: string;
  readonly held: string[];
  readonly families: Family[];
  readonly nodePorts: number;
  gateway?: string;
}

interface Owned extends Svc {
  /** Set when a Gateway's addresses decide this Service's request. */
  gatewayIPs?: string[];
  gatewayRejected?: boolean;
}

/** See the module comment. */
export const planGateways: PlanGateways = (world: GatewayWorld): GatewayPlan => {
  const integrations = [...world.integrations].sort(compareIntegrations);
  const nsCache = new Map<string, Readonly<Record<string, string>> | undefined>();
  const nsLabels = (ns: string): Readonly<Record<string, string>> | undefined => {
    if (!nsCache.has(ns)) nsCache.set(ns, world.namespaceLabels(ns));
    return nsCache.get(ns);
  };
  const gwByKey = new Map<string, GatewayObject>();
  for (const g of world.gateways) gwByKey.set(`${g.metadata.namespace ?? ''}/${g.metadata.name}`, g);

  // who holds or requests which address (every Service of the cluster)
  const usage = new Map<string, string[]>();
  const use = (ip: string, key: string): void => {
    const u = usage.get(ip);
    if (!u) usage.set(ip, [key]);
    else if (!u.includes(key)) u.push(key);
  };
  const all: Svc[] = [];
  for (const s of world.services) {
    const key = `${s.metadata.namespace ?? ''}/${s.metadata.name}`;
    const held: string[] = [];
    for (const i of s.status?.loadBalancer?.ingress ?? []) {
      const c = i.ip === undefined ? undefined : canonicalIP(i.ip);
      if (c !== undefined && !held.includes(c)) held.push(c);
    }
    for (const ip of held) use(ip, key);
    const ann = firstAnnotation(s, ServiceAnnotations.loadBalancerIPs);
    if (ann) for (const ip of ipList(ann.value)) use(ip, key);
    const lbip: unknown = s.spec?.loadBalancerIP;
    if (typeof lbip === 'string' && !ann) { const c = canonicalIP(lbip); if (c !== undefined) use(c, key); }
    const nodePorts = (s.spec?.ports ?? []).filter((p) => typeof p.nodePort === 'number' && p.nodePort !== 0).length;
    all.push({ s, key, held: sortIPs(held), families: familiesOf(s), nodePorts });
  }
  all.sort((a, b) => compareServices(a.s, b.s));

  // ownership: the oldest matching integration; the younger ones only learn that a Service was claimed
  const owned = new Map<string, Owned[]>(integrations.map((i) => [i.metadata.name, []]));
  const claimedElsewhere = new Map<string, number>();
  const ownerOf = new Map<string, string>();
  for (const sv of all) {
    if (sv.s.spec?.type !== 'LoadBalancer' || sv.s.metadata.deletionTimestamp !== undefined) continue;
    const gwName = owningGateway(sv.s);
    const gw = gwName === undefined ? undefined : gwByKey.get(`${sv.s.metadata.namespace ?? ''}/${gwName}`);
    const gws = gw ? [gw] : [];
    let owner: string | undefined;
    for (const i of integrations) {
      const m = profileMatches(i, sv.s, gws, nsLabels);
      if (!m.matched) continue;
      if (owner === undefined) {
        owner = i.metadata.name;
        const o: Owned = { ...sv };
        if (m.gateway !== undefined) o.gateway = m.gateway;
        owned.get(owner)?.push(o);
        ownerOf.set(sv.key, owner);
      } else {
        claimedElsewhere.set(i.metadata.name, (claimedElsewhere.get(i.metadata.name) ?? 0) + 1);
      }
    }
  }

  const problems: GatewayProblem[] = [];
  const gwProblems = new Map<string, { reason: string; message: string }[]>();

  // the fixed addresses each integration lists: a Gateway may not take another integration's
  const listedBy = new Map<string, string>();
  for (const i of integrations) for (const a of i.spec.addresses ?? []) { const c = canonicalIP(a); if (c !== undefined && !listedBy.has(c)) listedBy.set(c, i.metadata.name); }
  // Gateway addresses first: they win for their Service and count as requested by it from here on
  for (const i of integrations) {
    if (i.spec.profile !== GatewayProfiles.istioGatewayApi) continue;
    for (const o of owned.get(i.metadata.name) ?? []) {
      if (o.gateway === undefined) continue;
      const ns = o.s.metadata.namespace ?? '';
      const entries = gatewayAddresses(gwByKey.get(`${ns}/${o.gateway}`));
      if (entries.length === 0) continue;
      const ok: string[] = [];
      const rejected: { reason: string; message: string }[] = [];
      for (const e of entries) {
        if ('error' in e) { rejected.push({ reason: RejectReason[e.error], message: e.message }); continue; }
        if (world.poolOf(e.ip) === undefined) { rejected.push({ reason: RejectReason.pool, message: `${e.ip} is not in any IPAddressPool` }); continue; }
        const other = (usage.get(e.ip) ?? []).filter((k) => k !== o.key).sort();
        if (other.length > 0) { rejected.push({ reason: RejectReason.inUse, message: `${e.ip} is in use by Service ${other.join(', ')}` }); continue; }
        const lister = listedBy.get(e.ip);
        if (lister !== undefined && lister !== i.metadata.name) { rejected.push({ reason: RejectReason.inUse, message: `${e.ip} is a fixed address of GatewayIntegration ${lister}` }); continue; }
        ok.push(e.ip);
      }
      for (const ip of ok) use(ip, o.key);
      if (ok.length > 0) o.gatewayIPs = sortIPs(ok);
      if (rejected.length > 0) {
        o.gatewayRejected = true;
        gwProblems.set(i.metadata.name, [...gwProblems.get(i.metadata.name) ?? [], ...rejected.map((r) => ({ reason: r.reason, message: `Gateway ${ns}/${o.gateway}: ${r.message}` }))]);
        for (const r of rejected) {
          const message = `Gateway ${ns}/${o.gateway} address rejected for Service ${o.key} (GatewayIntegration ${i.metadata.name}): ${r.message}`;
          problems.push({ target: { kind: 'Gateway', namespace: ns, name: o.gateway }, reason: GatewayEventReasons.GatewayAddressesRejected, message });
          problems.push({ target: { kind: 'Service', namespace: ns, name: o.s.metadata.name }, reason: GatewayEventReasons.GatewayAddressesRejected, message });
        }
      }
    }
  }

  const services = new Map<string, ServiceIntent | 'keep'>();
  const statuses = new Map<string, PlannedStatus>();
  const claimedBy = new Map<string, string>();
  for (const i of integrations) {
    const name = i.metadata.name;
    const mine = owned.get(name) ?? [];
    const invalid: string[] = [];
    const conflicts: string[] = [];
    const notEnough: string[] = [];
    const target = { kind: 'GatewayIntegration', name } as const;
    // validate the fixed addresses
    const usable: string[] = [];
    const rejectedFixed = new Set<string>();
    for (const raw of i.spec.addresses ?? []) {
      const ip = canonicalIP(raw);
      if (ip === undefined) {
        invalid.push(`${raw} is not an IP address`);
        problems.push({ target, reason: GatewayEventReasons.InvalidAddress, message: `GatewayIntegration ${name}: "${raw}" is not an IP address` });
        continue;
      }
      if (usable.includes(ip) || rejectedFixed.has(ip)) continue;
      if (world.poolOf(ip) === undefined) {
        rejectedFixed.add(ip);
        invalid.push(`${ip} is not in any IPAddressPool`);
        problems.push({ target, reason: GatewayEventReasons.InvalidAddress, message: `GatewayIntegration ${name}: address ${ip} is not in any IPAddressPool` });
        continue;
      }
      const older = claimedBy.get(ip);
      if (older !== undefined) {
        rejectedFixed.add(ip);
        conflicts.push(`${ip} is claimed by the older GatewayIntegration ${older}`);
        problems.push({ target, reason: GatewayEventReasons.AddressConflict, message: `GatewayIntegration ${name}: address ${ip} is already claimed by the older GatewayIntegration ${older}` });
        continue;
      }
      claimedBy.set(ip, name);
      const others = (usage.get(ip) ?? []).filter((k) => ownerOf.get(k) !== name).sort();
      if (others.length > 0) {
        rejectedFixed.add(ip);
        conflicts.push(`${ip} is in use by Service ${others.join(', ')}`);
        problems.push({ target, reason: GatewayEventReasons.AddressConflict, message: `GatewayIntegration ${name}: address ${ip} is held or requested by Service ${others.join(', ')}, which it does not match` });
        continue;
      }
      usable.push(ip);
    }
    // assignment: own requests and Gateway addresses reserve theirs, sticky addresses next, the rest oldest first
    const free = new Set(usable);
    const given = new Map<string, string[]>();
    const own = new Map<string, string>();
    const give = (o: Owned, ip: string): void => { free.delete(ip); given.set(o.key, [...given.get(o.key) ?? [], ip]); };
    for (const o of mine) {
      for (const ip of o.gatewayIPs ?? []) free.delete(ip);
      // our key is ours when our managedFields entry lists it, when it names what we would set, or what our
      // status says we asked for last time (a value set by the webhook or co-owned is listed under another manager)
      const last = i.status?.services?.find((x) => x.namespace === (o.s.metadata.namespace ?? '') && x.name === o.s.metadata.name)?.requested ?? [];
      const marked = o.s.metadata.annotations?.[GATEWAY_INTEGRATION_ANNOTATION] === i.metadata.name;
      const theirs = ownRequest(o.s, (key, value) => {
        // set by our webhook for this integration at creation (attributed to the creator's manager), or by our apply
        if (marked || weOwnAnnotation(o.s, key)) return true;
        if (key === ServiceAnnotations.addressPool[0]) return value === i.spec.pool;
        const ips = ipList(value);
        if (ips.length === 0) return false;
        return ips.every((ip) => usable.includes(ip) || (o.gatewayIPs ?? []).includes(ip)) || sortIPs(ips).join() === sortIPs(last.flatMap((x) => canonicalIP(x) ?? [])).join();
      }, o.gateway !== undefined);
      if (theirs !== undefined) {
        own.set(o.key, theirs);
        for (const ip of o.held) free.delete(ip);
        const ann = firstAnnotation(o.s, ServiceAnnotations.loadBalancerIPs);
        if (ann) for (const ip of ipList(ann.value)) free.delete(ip);
      }
    }
    const fixedFor = mine.filter((o) => !own.has(o.key) && o.gatewayIPs === undefined);
    for (const o of fixedFor) {
      const ann = firstAnnotation(o.s, ServiceAnnotations.loadBalancerIPs);
      const ours = ann?.key === ServiceAnnotations.loadBalancerIPs[0] ? ipList(ann.value) : [];
      for (const f of o.families) {
        const ip = [...o.held, ...ours].find((a) => familyOfIP(a) === f && free.has(a));
        if (ip !== undefined) give(o, ip);
      }
    }
    const freeList = (): string[] => usable.filter((ip) => free.has(ip));
    for (const o of fixedFor) {
      for (const f of o.families) {
        if ((given.get(o.key) ?? []).some((a) => familyOfIP(a) === f)) continue;
        const ip = freeList().find((a) => familyOfIP(a) === f);
        if (ip !== undefined) give(o, ip);
        else if (i.spec.pool === undefined && (i.spec.addresses ?? []).length > 0) notEnough.push(`Service ${o.key} gets no ${f} address`);
      }
    }
    // intents and status
    const disable = i.spec.disableNodePorts !== false;
    const rows: GatewayServiceStatus[] = [];
    let pending = 0;
    for (const o of mine) {
      let requested: string[] = [];
      let annotations: Record<string, string> = {};
      let keep = false;
      if (own.has(o.key)) {
        // the Service's own request wins
      } else if (o.gatewayIPs !== undefined) {
        requested = o.gatewayIPs;
        keep = o.gatewayRejected === true && o.held.length > 0;
      } else {
        requested = sortIPs(given.get(o.key) ?? []);
        keep = (o.gatewayRejected === true && o.held.length > 0)
          || o.held.some((h) => (rejectedFixed.has(h) || usable.includes(h)) && !requested.includes(h));
      }
      if (keep) {
        requested = o.held.filter((h) => usable.includes(h) || rejectedFixed.has(h) || (o.gatewayIPs ?? []).includes(h));
        services.set(o.key, 'keep');
      } else {
        if (!own.has(o.key)) {
          if (requested.length > 0) annotations = { [ServiceAnnotations.loadBalancerIPs[0]]: requested.join(',') };
          else if (i.spec.pool !== undefined) annotations = { [ServiceAnnotations.addressPool[0]]: i.spec.pool };
        }
        const intent: { -readonly [K in keyof ServiceIntent]: ServiceIntent[K] } = {
          namespace: o.s.metadata.namespace ?? '', name: o.s.metadata.name, integration: name, annotations, clearNodePorts: disable && o.nodePorts > 0,
        };
        if (o.gateway !== undefined) intent.gateway = o.gateway;
        if (disable) intent.allocateLoadBalancerNodePorts = false;
        if (i.spec.externalTrafficPolicy !== undefined) intent.externalTrafficPolicy = i.spec.externalTrafficPolicy;
        services.set(o.key, intent);
      }
      if (o.held.length === 0 || requested.some((r) => !o.held.includes(r))) pending++;
      const row: GatewayServiceStatus = { namespace: o.s.metadata.namespace ?? '', name: o.s.metadata.name, requested, ingress: o.held, nodePorts: o.nodePorts };
      if (o.gateway !== undefined) row.gateway = o.gateway;
      rows.push(row);
    }
    rows.sort((a, b) => (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const withPorts = disable ? mine.filter((o) => o.nodePorts > 0).map((o) => o.key).sort() : [];
    const rejects = gwProblems.get(name) ?? [];
    statuses.set(name, { services: rows, conditions: conditions(mine.length, claimedElsewhere.get(name) ?? 0, pending, conflicts, invalid, notEnough, withPorts, rejects) });
  }
  return { services, statuses, problems };
};

/** At most a few items in a message, then a count. */
function list(items: readonly string[]): string {
  const head = items.slice(0, 5).join('; ');
  return items.length > 5 ? `${head}; and ${items.length - 5} more` : head;
}

function conditions(
  matched: number, claimed: number, pending: number, conflicts: string[], invalid: string[], notEnough: string[], withPorts: string[],
  rejects: { reason: string; message: string }[],
): PlannedStatus['conditions'] {
  const R = GatewayReadyReasons;
  const flag = (type: string, items: readonly string[], reason: string, none: string): PlannedStatus['conditions'][number] =>
    items.length > 0 ? { type, status: 'True', reason, message: list(items) } : { type, status: 'False', reason: R.None, message: none };
  let ready: PlannedStatus['conditions'][number];
  const notReady = (reason: string, message: string): PlannedStatus['conditions'][number] => ({ type: GatewayConditions.Ready, status: 'False', reason, message });
  if (matched === 0 && claimed > 0) ready = notReady(R.ServiceClaimed, `the ${claimed} Service(s) it matches belong to an older GatewayIntegration`);
  else if (matched === 0) ready = notReady(R.NoMatchingServices, 'no Service matches this integration');
  else if (conflicts.length > 0) ready = notReady(R.AddressConflict, list(conflicts));
  else if (invalid.length > 0) ready = notReady(R.InvalidAddress, list(invalid));
  else if (rejects.length > 0) ready = notReady(R.GatewayAddressesRejected, list(rejects.map((r) => r.message)));
  else if (notEnough.length > 0) ready = notReady(R.NotEnoughAddresses, list(notEnough));
  else if (withPorts.length > 0) ready = notReady(R.NodePortsRemaining, `Service ${list(withPorts)} still has NodePorts`);
  else if (pending > 0) ready = notReady(R.Pending, `${pending} Service(s) do not show their addresses yet`);
  else ready = { type: GatewayConditions.Ready, status: 'True', reason: R.Configured, message: `${matched} Service(s) configured` };
  return [
    ready,
    flag(GatewayConditions.AddressConflict, conflicts, R.AddressConflict, 'no address conflicts'),
    flag(GatewayConditions.InvalidAddress, invalid, R.InvalidAddress, 'every fixed address is in a pool'),
    flag(GatewayConditions.NodePortsRemaining, withPorts.map((k) => `Service ${k} still has NodePorts`), R.NodePortsRemaining, 'no matched Service has NodePorts'),
    rejects.length > 0
      ? { type: GatewayConditions.GatewayAddressesRejected, status: 'True', reason: rejects[0]?.reason ?? R.GatewayAddressesRejected, message: list(rejects.map((r) => r.message)) }
      : { type: GatewayConditions.GatewayAddressesRejected, status: 'False', reason: R.None, message: 'no Gateway address rejected' },
  ];
}

/** Exposed for tests and the shell: the integrations in the planner's order (oldest first). */
export function integrationsByAge(integrations: readonly GatewayIntegration[]): GatewayIntegration[] {
  return [...integrations].sort(compareIntegrations);
}
