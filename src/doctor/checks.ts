/**
 * The checks of `baregate doctor`: what breaks load balancing on bare metal most often, each turned into findings
 * with a severity and the fix. {@link diagnose} is pure (a {@link DoctorSnapshot} and the time in, findings out), so
 * every check is unit-tested on seeded snapshots; the cluster is read by src/k8s/doctorread.ts.
 *
 * The checks reuse the components' own readings, never a second interpretation: pools and advertisements go
 * through the controller's parser (config.ts `parseConfig`, `announcedPools`; lb/pool.ts `poolFromObject`), which
 * Services are ours is lb/service.ts `isOurs`, and which speakers are live and what they announce is
 * `baregate status`'s report (cli/status.ts `statusReport`). So doctor cannot call healthy what the controller or a
 * speaker sees as broken, nor the other way round.
 *
 * Finding codes are stable (tests, scripts and the README table match on them); messages may improve. A healthy
 * cluster yields no finding above `info`.
 */
import { X509Certificate } from 'node:crypto';
import { parse as parseYAML } from 'yaml';
import type { IPAddressPool } from '../api/ipaddresspool.ts';
import { BundleNames } from '../api/bundle.ts';
import {
  ALLOCATION_PAUSED_ANNOTATION, APP_NAME, CONTROLLER_LEASE, EXCLUDE_FROM_LB_LABEL, EventReasons, GROUP, IMAGE_REPOSITORY, Kinds,
  LOAD_BALANCER_CLASS, MUTATING_WEBHOOK, SPEAKER_LEASE_PREFIX, VALIDATING_WEBHOOK, WEBHOOK_CERT_SECRET,
} from '../api/keys.ts';
import { METALLB_GROUP, METALLB_NAMESPACE } from '../api/metallb.ts';
import { statusReport, type SessionReport, type StatusReport } from '../cli/status.ts';
import { announcedPools, parseConfig } from '../config/config.ts';
import type { Config } from '../config/types.ts';
import { parseCertificates, validity } from '../k8s/x509.ts';
import type { SpeakerStatusResource } from '../k8s/speakerstatus.ts';
import { poolContains, poolFromObject, type Pool } from '../lb/pool.ts';
import { isOurs, serviceKey, type Service } from '../lb/service.ts';
import { overlappingRanges, parseIP, parseRange, type Family } from '../net/ip.ts';
import type { ContainerSpec, DoctorSnapshot, EventObject, LeaseObject, Read, WorkloadObject } from './snapshot.ts';

/** How bad a finding is: `error` breaks load balancing now, `warning` will or may, `info` is worth knowing. */
export const Severities = { info: 'info', warning: 'warning', error: 'error' } as const;
/** One of {@link Severities}. */
export type Severity = (typeof Severities)[keyof typeof Severities];

/** Stable finding codes (README table, tests and scripts match on these, never on messages). */
export const FindingCodes = {
  /** An input could not be read (forbidden, not served, absent): the checks that need it did not run. */
  CouldNotCheck: 'could-not-check',
  /** baregate's CRDs or namespace are missing. */
  NotInstalled: 'not-installed',
  /** The controller's leader Lease is missing, released or expired: nobody allocates. */
  ControllerNotRunning: 'controller-not-running',
  /** Allocation is paused on baregate's namespace. */
  AllocationPaused: 'allocation-paused',
  /** kube-proxy in IPVS mode without `strictARP: true`: every node answers ARP for every Service IP. */
  IPVSStrictARP: 'ipvs-strict-arp',
  /** A pool contains a node's own address. */
  PoolOverlapsNode: 'pool-overlaps-node',
  /** A pool overlaps a node's pod CIDR. */
  PoolOverlapsPodCIDR: 'pool-overlaps-pod-cidr',
  /** A pool overlaps a ServiceCIDR (ClusterIPs). */
  PoolOverlapsServiceCIDR: 'pool-overlaps-service-cidr',
  /** No L2Advertisement or BGPAdvertisement covers a pool (MetalLB #1561). */
  PoolNotAdvertised: 'pool-not-advertised',
  /** A baregate.io object the parser leaves out of the configuration (an error of config.ts). */
  ConfigInvalid: 'config-invalid',
  /** A Service address of an L2 pool that no live speaker answers for. */
  L2NotAnnounced: 'l2-not-announced',
  /** A LoadBalancer Service of ours without an address. */
  ServicePending: 'service-pending',
  /** No node has a live speaker. */
  NoLiveSpeaker: 'no-live-speaker',
  /** One node without a live speaker. */
  NodeWithoutSpeaker: 'node-without-speaker',
  /** A BGP session that is not Established. */
  BGPSessionDown: 'bgp-session-down',
  /** A BFD session beside a BGP session that is not Up (BGP over it is not protected, or held by waitForUp). */
  BFDSessionDown: 'bfd-session-down',
  /** The webhook serving certificate has expired. */
  WebhookCertExpired: 'webhook-cert-expired',
  /** The webhook serving certificate expires within {@link CERT_WARN_DAYS} days. */
  WebhookCertExpiring: 'webhook-cert-expiring',
  /** The webhook certificate Secret has no readable `tls.crt`. */
  WebhookCertInvalid: 'webhook-cert-invalid',
  /** A webhook of a baregate webhook configuration has no caBundle. */
  WebhookCABundleMissing: 'webhook-cabundle-missing',
  /** A webhook's caBundle does not hold the CA that issued the serving certificate. */
  WebhookCAMismatch: 'webhook-ca-mismatch',
  /** MetalLB or another load-balancer implementation still runs. */
  OtherLoadBalancer: 'other-load-balancer',
  /** MetalLB's CRDs are still installed (its controllers are gone). */
  MetalLBCRDs: 'metallb-crds-installed',
} as const;
/** One of {@link FindingCodes}. */
export type FindingCode = (typeof FindingCodes)[keyof typeof FindingCodes];

/** One finding: what is wrong (or could not be checked), where, and what to do about it. */
export interface Finding {
  readonly severity: Severity;
  readonly code: FindingCode;
  /** `Kind/name` or `Kind/namespace/name` (for a resource that could not be read: its resource name). */
  readonly object: string;
  readonly message: string;
  readonly fix: string;
}

/** A webhook certificate that expires within this many days is a warning (the controller renews well before). */
export const CERT_WARN_DAYS = 30;

const DAY_MS = 24 * 60 * 60 * 1000;
const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const rank: Readonly<Record<Severity, number>> = { info: 0, warning: 1, error: 2 };

/** `Kind/name`, or `Kind/namespace/name` for a namespaced object. */
function ref(kind: string, name: string, namespace?: string): string {
  return namespace === undefined || namespace === '' ? `${kind}/${name}` : `${kind}/${namespace}/${name}`;
}

function finding(severity: Severity, code: FindingCode, object: string, message: string, fix: string): Finding {
  return { severity, code, object, message, fix };
}

const ok = <T>(r: Read<T>): T | undefined => (r.kind === 'ok' ? r.value : undefined);

/** The exit code of a run: the worst finding (0 none or info only, 1 warning, 2 error). 3 (no cluster) is the CLI's. */
export function exitCode(findings: readonly Finding[]): number {
  return findings.reduce((worst, f) => Math.max(worst, rank[f.severity]), 0);
}

/** How many findings of each severity (for the summary line and `-o json`). */
export function countBySeverity(findings: readonly Finding[]): Record<Severity, number> {
  const out: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  for (const f of findings) out[f.severity]++;
  return out;
}

// ───────────── inputs that could not be read

/** The inputs and the checks that need them (named in the "could not check" message). */
const INPUTS: readonly { readonly key: keyof DoctorSnapshot; readonly object: (s: DoctorSnapshot) => string; readonly checks: string }[] = [
  { key: 'namespaceObject', object: (s) => ref('Namespace', s.namespace), checks: 'allocation pause' },
  { key: 'crds', object: () => 'customresourcedefinitions.apiextensions.k8s.io', checks: 'baregate installed, MetalLB CRDs' },
  { key: 'leases', object: (s) => `leases.coordination.k8s.io (namespace ${s.namespace})`, checks: 'controller running, live speakers' },
  { key: 'kubeProxy', object: () => ref('ConfigMap', 'kube-proxy', 'kube-system'), checks: 'kube-proxy IPVS strictARP' },
  { key: 'nodes', object: () => 'nodes', checks: 'pool overlaps with node addresses and pod CIDRs, nodes without a speaker' },
  { key: 'serviceCIDRs', object: () => 'servicecidrs.networking.k8s.io', checks: 'pool overlaps with Service CIDRs (served from Kubernetes 1.33)' },
  { key: 'pools', object: () => `${Kinds.IPAddressPool.plural}.${GROUP}`, checks: 'pool overlaps, advertisements, L2 announcements' },
  { key: 'l2Advertisements', object: () => `${Kinds.L2Advertisement.plural}.${GROUP}`, checks: 'advertisements, L2 announcements, strictARP' },
  { key: 'bgpAdvertisements', object: () => `${Kinds.BGPAdvertisement.plural}.${GROUP}`, checks: 'advertisements' },
  { key: 'bgpPeers', object: () => `${Kinds.BGPPeer.plural}.${GROUP}`, checks: 'advertisements' },
  { key: 'services', object: () => 'services', checks: 'pending Services, L2 announcements' },
  { key: 'allocationFailedEvents', object: () => 'events', checks: 'the reasons of pending Services' },
  { key: 'speakerStatuses', object: () => `${Kinds.SpeakerStatus.plural}.${GROUP}`, checks: 'BGP sessions, L2 announcements' },
  { key: 'webhookCert', object: (s) => ref('Secret', WEBHOOK_CERT_SECRET, s.namespace), checks: 'webhook certificate expiry' },
  { key: 'validatingWebhook', object: () => ref('ValidatingWebhookConfiguration', VALIDATING_WEBHOOK), checks: 'webhook caBundle' },
  { key: 'mutatingWebhook', object: () => ref('MutatingWebhookConfiguration', MUTATING_WEBHOOK), checks: 'webhook caBundle' },
  { key: 'workloads', object: () => 'deployments.apps, daemonsets.apps', checks: 'another load balancer running, controller flags' },
  { key: 'ciliumLB', object: () => 'cilium load-balancer objects', checks: 'Cilium LB IPAM / L2 announcements' },
];

/** What to do about an input that could not be read, by why. */
function unreadableFix(reason: string): string {
  if (reason.startsWith('forbidden')) return 'grant the doctor\'s user get/list on it (kubectl auth can-i list <resource>), then run doctor again';
  if (reason.startsWith('not served')) return 'nothing to grant: this cluster does not serve the API; check what it covers by hand';
  return 'run doctor again; if it keeps failing, check the apiserver\'s health (kubectl get --raw /readyz)';
}

/** Inputs that are baregate's own kinds: not served at all when baregate is not installed (said once, by not-installed). */
const OUR_INPUTS: ReadonlySet<keyof DoctorSnapshot> = new Set(['pools', 'l2Advertisements', 'bgpAdvertisements', 'bgpPeers', 'speakerStatuses']);

/** One `info` per input that could not be read: the run is honest about what it did not check. */
export function checkUnreadable(s: DoctorSnapshot): Finding[] {
  const out: Finding[] = [];
  const absent = notInstalled(s);
  for (const i of INPUTS) {
    const r = s[i.key];
    if (typeof r !== 'object' || r.kind !== 'unavailable') continue;
    if (absent && OUR_INPUTS.has(i.key)) continue;
    out.push(finding('info', FindingCodes.CouldNotCheck, i.object(s), `could not read it (${r.reason}): not checked: ${i.checks}`, unreadableFix(r.reason)));
  }
  return out;
}

// ───────────── 11: is baregate installed, is its controller running

/** The CRDs every baregate component needs. */
const REQUIRED_CRDS = [Kinds.IPAddressPool, Kinds.L2Advertisement, Kinds.BGPAdvertisement, Kinds.BGPPeer, Kinds.SpeakerStatus].map((k) => `${k.plural}.${GROUP}`);
const INSTALL_FIX = 'install baregate: kubectl apply -f deploy/baregate.yaml (or helm install baregate deploy/helm/baregate)';

/** Whether a Lease is held and was renewed within its duration at `nowMs`. */
function leaseHeld(l: LeaseObject, nowMs: number): boolean {
  const renew = Date.parse(l.spec?.renewTime ?? l.spec?.acquireTime ?? '');
  const dur = typeof l.spec?.leaseDurationSeconds === 'number' ? l.spec.leaseDurationSeconds : 15;
  return (l.spec?.holderIdentity ?? '') !== '' && Number.isFinite(renew) && nowMs <= renew + dur * 1000;
}

/** Whether nothing of baregate is installed: none of its CRDs exists (false when the CRDs could not be listed). */
function notInstalled(s: DoctorSnapshot): boolean {
  const crds = ok(s.crds);
  return crds !== undefined && !crds.some((c) => REQUIRED_CRDS.includes(c.name));
}

/**
 * Check 11: baregate's CRDs, namespace and a live controller (its leader Lease). Nothing installed at all is one
 * finding (the other checks of baregate's own parts are skipped then: they would only repeat it).
 */
export function checkInstalled(s: DoctorSnapshot, now: Date): Finding[] {
  const out: Finding[] = [];
  if (notInstalled(s)) {
    return [finding('error', FindingCodes.NotInstalled, ref('CustomResourceDefinition', `*.${GROUP}`), 'baregate is not installed: none of its CRDs exists', INSTALL_FIX)];
  }
  const have = new Set((ok(s.crds) ?? []).map((c) => c.name));
  if (s.crds.kind === 'ok') {
    for (const n of REQUIRED_CRDS.filter((x) => !have.has(x))) out.push(finding('error', FindingCodes.NotInstalled, ref('CustomResourceDefinition', n), `CRD ${n} is missing: the components cannot start`, INSTALL_FIX));
  }
  const nsObj = s.namespaceObject;
  if (nsObj.kind === 'ok' && nsObj.value === undefined) {
    out.push(finding('error', FindingCodes.NotInstalled, ref('Namespace', s.namespace), `namespace ${s.namespace} does not exist: baregate is not installed there`,
      `${INSTALL_FIX}; if baregate runs in another namespace, pass it with --namespace`));
    return out; // no namespace: no Lease to look at
  }
  const leases = ok(s.leases);
  if (leases) {
    const lease = leases.find((l) => l.metadata?.name === CONTROLLER_LEASE);
    const logs = `kubectl -n ${s.namespace} get deploy,pods -l app.kubernetes.io/component=controller; kubectl -n ${s.namespace} logs deploy/${BundleNames.controllerDeployment}`;
    if (!lease) {
      out.push(finding('error', FindingCodes.ControllerNotRunning, ref('Lease', CONTROLLER_LEASE, s.namespace),
        `no controller Lease in ${s.namespace}: the controller has never run here, so no Service gets an address`, `${INSTALL_FIX}; then ${logs}`));
    } else if (!leaseHeld(lease, now.getTime())) {
      const holder = lease.spec?.holderIdentity ?? '';
      out.push(finding('error', FindingCodes.ControllerNotRunning, ref('Lease', CONTROLLER_LEASE, s.namespace),
        holder === '' ? 'the controller Lease is released and no replica holds it: no controller is running'
          : `the controller Lease held by ${holder} expired (renewed ${lease.spec?.renewTime ?? 'never'}): the controller is down or cannot reach the apiserver`,
        logs));
    }
  }
  return out;
}

// ───────────── 10: allocation paused

/** Check 10: the pause annotation on baregate's namespace. */
export function checkPaused(s: DoctorSnapshot): Finding[] {
  if (!isPaused(s)) return [];
  return [finding('warning', FindingCodes.AllocationPaused, ref('Namespace', s.namespace),
    `allocation is paused (${ALLOCATION_PAUSED_ANNOTATION}=true): the controller writes nothing to any Service, new Services get no address`,
    'once MetalLB (or the load balancer you switch from) is removed: baregate resume')];
}

function isPaused(s: DoctorSnapshot): boolean {
  return ok(s.namespaceObject)?.metadata?.annotations?.[ALLOCATION_PAUSED_ANNOTATION] === 'true';
}

// ───────────── configuration (shared by several checks)

/** What the controller makes of the baregate.io objects: the config, the problems and the pools with their ranges. */
interface Parsed {
  readonly config: Config;
  readonly problems: ReturnType<typeof parseConfig>['problems'];
  readonly pools: readonly (Pool & { readonly texts: readonly string[] })[];
}

function isPoolObject(o: unknown): o is IPAddressPool {
  if (o === null || typeof o !== 'object') return false;
  const x = o as { metadata?: { name?: unknown; deletionTimestamp?: unknown }; spec?: { addresses?: unknown } };
  return typeof x.metadata?.name === 'string' && x.metadata.deletionTimestamp === undefined
    && Array.isArray(x.spec?.addresses) && x.spec.addresses.every((a) => typeof a === 'string');
}

/** Parses the configuration as the controller does (secrets: [], as its coverage: passwords do not decide coverage). */
function parsed(s: DoctorSnapshot): Parsed | undefined {
  const pools = ok(s.pools);
  const l2 = ok(s.l2Advertisements);
  const bgp = ok(s.bgpAdvertisements);
  const peers = ok(s.bgpPeers);
  if (!pools || !l2 || !bgp || !peers) return undefined;
  const live = pools.filter((p) => (p as { metadata?: { deletionTimestamp?: unknown } } | null)?.metadata?.deletionTimestamp === undefined);
  const { config, problems } = parseConfig({ pools: live, l2Advertisements: l2, bgpAdvertisements: bgp, bgpPeers: peers, secrets: [] });
  const names = new Set(config.pools.map((p) => p.name));
  return { config, problems, pools: live.filter(isPoolObject).map((o) => ({ ...poolFromObject(o), texts: o.spec.addresses })).filter((x) => names.has(x.name)) };
}

/** Check: objects the controller's parser leaves out of the configuration (they do nothing until fixed). */
export function checkConfig(p: Parsed): Finding[] {
  return p.problems.filter((x) => x.severity === 'error').map((x) => finding('warning', FindingCodes.ConfigInvalid, ref(x.kind, x.name),
    `${x.field}: ${x.message}; the object is left out of the configuration`, `fix ${x.field} of ${x.kind} ${x.name} (kubectl edit ${x.kind.toLowerCase()} ${x.name})`));
}

// ───────────── 1: kube-proxy IPVS without strictARP

/** Check 1: kube-proxy's mode and `ipvs.strictARP`; an error when some L2 announcement is configured. */
export function checkKubeProxy(s: DoctorSnapshot, p: Parsed | undefined): Finding[] {
  const r = s.kubeProxy;
  if (r.kind === 'unavailable') return []; // said by checkUnreadable
  const object = ref('ConfigMap', 'kube-proxy', 'kube-system');
  const unknown = (why: string): Finding[] => [finding('info', FindingCodes.CouldNotCheck, object,
    `${why}: kube-proxy's mode was not checked`, 'if kube-proxy runs in IPVS mode, make sure its configuration has ipvs.strictARP: true')];
  if (r.value === undefined) return unknown('no ConfigMap kube-system/kube-proxy (kube-proxy not installed by kubeadm, or replaced)');
  const text = r.value.data?.['config.conf'];
  if (text === undefined) return unknown('the ConfigMap has no config.conf');
  let cfg: unknown;
  try { cfg = parseYAML(text); } catch (e) { return unknown(`config.conf is not YAML (${e instanceof Error ? e.message : String(e)})`); }
  const c = cfg !== null && typeof cfg === 'object' ? cfg as { mode?: unknown; ipvs?: { strictARP?: unknown } | null } : {};
  if (typeof c.mode !== 'string' || c.mode.toLowerCase() !== 'ipvs') return [];
  if (c.ipvs?.strictARP === true) return [];
  const l2 = p ? p.config.l2.length > 0 : true;
  return [finding(l2 ? 'error' : 'warning', FindingCodes.IPVSStrictARP, object,
    `kube-proxy runs in IPVS mode without ipvs.strictARP: true: every node answers ARP for every Service IP on kube-ipvs0${l2 ? ', so L2 clients reach random nodes and failover breaks' : ' (no L2Advertisement now, but any L2 announcement would break)'}`,
    'kubectl -n kube-system edit configmap kube-proxy (set ipvs.strictARP: true under config.conf), then kubectl -n kube-system rollout restart daemonset kube-proxy')];
}

// ───────────── 2: pools overlapping node addresses, pod CIDRs, Service CIDRs

interface Span { readonly family: Family; readonly lo: bigint; readonly hi: bigint; readonly owner: 'pool' | 'node' | 'pod' | 'service'; readonly name: string; readonly text: string }

/** Check 2: every pool range against the nodes' addresses and pod CIDRs and the ServiceCIDRs. */
export function checkPoolOverlaps(s: DoctorSnapshot, p: Parsed): Finding[] {
  const spans: Span[] = [];
  for (const pool of p.pools) {
    // the entries as the user wrote them (poolFromObject keeps the ranges, not the text)
    for (const text of pool.texts) {
      const r = parseRange(text);
      if (!('error' in r)) spans.push({ ...r, owner: 'pool', name: pool.name, text });
    }
  }
  for (const n of ok(s.nodes) ?? []) {
    const name = n.metadata?.name ?? '';
    for (const a of n.status?.addresses ?? []) {
      if (a.type !== 'InternalIP' && a.type !== 'ExternalIP') continue;
      const ip = parseIP(a.address ?? '');
      if (ip) spans.push({ family: ip.family, lo: ip.value, hi: ip.value, owner: 'node', name, text: `${a.type} ${a.address ?? ''}` });
    }
    for (const c of new Set([...(n.spec?.podCIDRs ?? []), ...(n.spec?.podCIDR !== undefined ? [n.spec.podCIDR] : [])])) {
      const r = parseRange(c);
      if (!('error' in r)) spans.push({ ...r, owner: 'pod', name, text: c });
    }
  }
  for (const sc of ok(s.serviceCIDRs) ?? []) {
    for (const c of sc.spec?.cidrs ?? []) {
      const r = parseRange(c);
      if (!('error' in r)) spans.push({ ...r, owner: 'service', name: sc.metadata?.name ?? '', text: c });
    }
  }
  const out: Finding[] = [];
  const seen = new Set<string>();
  for (const [a, b] of overlappingRanges(spans, (x, y) => (x.owner === 'pool') === (y.owner === 'pool'))) {
    const [pool, other] = a.owner === 'pool' ? [a, b] : [b, a];
    const key = `${pool.name}\0${other.owner}\0${other.name}\0${other.text}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const object = ref('IPAddressPool', pool.name);
    if (other.owner === 'node') {
      out.push(finding('error', FindingCodes.PoolOverlapsNode, object, `pool ${pool.name} (${pool.text}) contains node ${other.name}'s ${other.text}: a Service may be given the node's own address`,
        `take the node addresses out of spec.addresses of pool ${pool.name} (split the range around them), or use addresses no host of the subnet has`));
    } else if (other.owner === 'pod') {
      out.push(finding('error', FindingCodes.PoolOverlapsPodCIDR, object, `pool ${pool.name} (${pool.text}) overlaps node ${other.name}'s pod CIDR ${other.text}: traffic to those addresses is routed to pods`,
        `choose addresses for pool ${pool.name} outside the cluster's pod network (--cluster-cidr)`));
    } else {
      out.push(finding('error', FindingCodes.PoolOverlapsServiceCIDR, object, `pool ${pool.name} (${pool.text}) overlaps ServiceCIDR ${other.name} (${other.text}): a LoadBalancer address may equal some ClusterIP`,
        `choose addresses for pool ${pool.name} outside the Service CIDRs (--service-cluster-ip-range, kubectl get servicecidrs)`));
    }
  }
  return out;
}

// ───────────── 3: pools no advertisement covers

/** The addresses in Services' status (every Service: an address in use is in use, whoever's it is). */
function serviceAddresses(services: readonly Service[]): { key: string; ip: string; addr: NonNullable<ReturnType<typeof parseIP>>; svc: Service }[] {
  const out: { key: string; ip: string; addr: NonNullable<ReturnType<typeof parseIP>>; svc: Service }[] = [];
  for (const svc of services) {
    if (svc.spec?.type !== 'LoadBalancer') continue;
    for (const i of svc.status?.loadBalancer?.ingress ?? []) {
      const addr = parseIP(i.ip ?? '');
      if (addr) out.push({ key: serviceKey(svc), ip: i.ip ?? '', addr, svc });
    }
  }
  return out;
}

/** Check 3: pools no usable L2Advertisement or BGPAdvertisement covers; an error when Services hold addresses from one. */
export function checkAdvertised(s: DoctorSnapshot, p: Parsed): Finding[] {
  const covered = announcedPools(p.config);
  const addrs = serviceAddresses(ok(s.services) ?? []);
  const out: Finding[] = [];
  for (const pool of p.config.pools) {
    if (covered.has(pool.name)) continue;
    const ranges = p.pools.find((x) => x.name === pool.name);
    const users = new Set(ranges ? addrs.filter((a) => poolContains(ranges, a.addr)).map((a) => a.key) : []);
    out.push(finding(users.size > 0 ? 'error' : 'warning', FindingCodes.PoolNotAdvertised, ref('IPAddressPool', pool.name),
      `no L2Advertisement or BGPAdvertisement selects pool ${pool.name}: its addresses are handed out but nobody announces them${users.size > 0 ? ` (${users.size} Service(s) hold one: ${[...users].sort(byText).slice(0, 3).join(', ')}${users.size > 3 ? ', ...' : ''})` : ''}`,
      `create an L2Advertisement or BGPAdvertisement with spec.ipAddressPools: [${pool.name}] (one with neither ipAddressPools nor ipAddressPoolSelectors covers every pool)`));
  }
  return out;
}

// ───────────── speakers (6, 7, 4): built on baregate status's report

/** The speakers as `baregate status` sees them, with a (content-less) entry for every node that has no SpeakerStatus. */
function speakerReport(s: DoctorSnapshot, services: readonly Service[], now: Date): StatusReport | undefined {
  const statuses = ok(s.speakerStatuses);
  const leases = ok(s.leases);
  const nodes = ok(s.nodes);
  if (!statuses || !leases || !nodes) return undefined;
  const have = new Set(statuses.map((x) => x.metadata.name));
  const bare: SpeakerStatusResource[] = nodes.map((n) => n.metadata?.name ?? '').filter((n) => n !== '' && !have.has(n)).map((name) => ({ metadata: { name } }));
  return statusReport({ services, statuses: [...statuses, ...bare], leases }, now.getTime());
}

/** Check 6: nodes that may announce (not excluded from load balancers) without a live speaker Lease. */
export function checkSpeakers(s: DoctorSnapshot, report: StatusReport | undefined): Finding[] {
  const nodes = ok(s.nodes);
  if (!report || !nodes) return [];
  if (s.namespaceObject.kind === 'ok' && s.namespaceObject.value === undefined) return []; // not installed there: checkInstalled says so
  const stale = new Map(report.nodes.map((n) => [n.node, n.stale]));
  const eligible = nodes.filter((n) => n.metadata?.labels?.[EXCLUDE_FROM_LB_LABEL] === undefined).map((n) => n.metadata?.name ?? '').filter((n) => n !== '').sort(byText);
  if (eligible.length === 0) return [];
  const pods = `kubectl -n ${s.namespace} get ds/${BundleNames.speakerDaemonSet} && kubectl -n ${s.namespace} get pods -o wide -l app.kubernetes.io/component=speaker`;
  const dead = eligible.filter((n) => stale.get(n) !== false);
  if (dead.length === eligible.length) {
    return [finding('error', FindingCodes.NoLiveSpeaker, ref('Lease', `${SPEAKER_LEASE_PREFIX}*`, s.namespace),
      `no node has a live speaker (no fresh ${SPEAKER_LEASE_PREFIX}<node> Lease in ${s.namespace}): no Service address is announced`,
      `${pods}; the speaker's logs say why it does not renew its Lease (kubectl -n ${s.namespace} logs ds/${BundleNames.speakerDaemonSet})`)];
  }
  return dead.map((n) => finding('warning', FindingCodes.NodeWithoutSpeaker, ref('Node', n),
    `node ${n} has no live speaker (Lease ${SPEAKER_LEASE_PREFIX}${n} missing or expired): it announces nothing and takes no part in failover`,
    `${pods} --field-selector spec.nodeName=${n}; a nodeSelector or taint may keep the speaker off it, or label it ${EXCLUDE_FROM_LB_LABEL}= if it should not announce`));
}

/** Every BGP session of a live speaker (a stale one's last status says nothing about now), with its node. */
function liveSessions(report: StatusReport | undefined): { node: string; x: SessionReport }[] {
  return (report?.nodes ?? []).filter((n) => !n.stale).flatMap((n) => n.sessions.map((x) => ({ node: n.node, x })));
}

/** Check 7: BGP sessions of live speakers that are not Established, with the last error. */
export function checkSessions(report: StatusReport | undefined): Finding[] {
  return liveSessions(report).filter(({ x }) => x.state !== 'Established').map(({ node, x }) => finding('warning', FindingCodes.BGPSessionDown, ref(Kinds.SpeakerStatus.kind, node),
    `BGP session of node ${node} to peer ${x.peer} (${x.address}) is ${x.state === '' ? 'in no state' : x.state}${x.lastError !== undefined ? `: last error: ${x.lastError}` : ', no error recorded'}`,
    `check the router's neighbour for this node (its address, the ASNs in BGPPeer ${x.peer}, the password), that TCP 179 is open between them, and the speaker's log on ${node}`));
}

/**
 * Check 7b: BFD sessions of live speakers that are not Up, with why packets from the peer were dropped when
 * they were (the usual cause of a multihop session that never comes Up: the router sends a TTL below minimumTtl).
 */
export function checkBfdSessions(report: StatusReport | undefined): Finding[] {
  return liveSessions(report).flatMap(({ node, x }) => {
    const b = x.bfd;
    if (b === undefined || b.state === 'Up') return [];
    const why = [b.lastDiagnostic !== undefined ? `it last left Up for: ${b.lastDiagnostic}` : undefined, b.lastDropped !== undefined ? `packets from the peer are dropped: ${b.lastDropped}` : undefined].filter((w) => w !== undefined);
    const ttl = b.lastDropped !== undefined && /\bTTL\b/.test(b.lastDropped);
    return [finding('warning', FindingCodes.BFDSessionDown, ref(Kinds.SpeakerStatus.kind, node),
      `${b.multihop ? 'multihop ' : ''}BFD session of node ${node} to peer ${x.peer} (${x.address}) is ${b.state}: a failure of this path is only found by the BGP hold timer${why.length > 0 ? `; ${why.join('; ')}` : ''}`,
      ttl
        ? 'lower minimumTtl in the peer\'s BFDProfile to what the router sends minus the hops between (BIRD sends multihop BFD with TTL 64), or make the router send 255'
        : `enable BFD for this node on the router (same timers as the BFDProfile of BGPPeer ${x.peer}; ${b.multihop ? 'multihop, UDP 4784' : 'single hop, UDP 3784'}) and check that UDP ${b.multihop ? 4784 : 3784} is open between them`)];
  });
}

/** The controller's `--lb-class` and `--only-own-class`, from its Deployment in baregate's namespace (defaults when not found). */
export function controllerClass(s: DoctorSnapshot): { lbClass: string; onlyOwnClass: boolean } {
  const dep = (ok(s.workloads) ?? []).find((w) => w.kind === 'Deployment' && w.metadata?.namespace === s.namespace && isOwn(w)
    && (w.spec?.template?.spec?.containers ?? []).some((c) => argv(c).includes('controller')));
  const args = dep ? (dep.spec?.template?.spec?.containers ?? []).flatMap(argv) : [];
  let lbClass: string = LOAD_BALANCER_CLASS;
  let onlyOwnClass = false;
  args.forEach((a, i) => {
    if (a.startsWith('--lb-class=')) lbClass = a.slice('--lb-class='.length);
    else if (a === '--lb-class' && args[i + 1] !== undefined) lbClass = args[i + 1] ?? lbClass;
    else if (a === '--only-own-class' || a === '--only-own-class=true') onlyOwnClass = true;
  });
  return { lbClass, onlyOwnClass };
}

/** Check 4: Service addresses of L2 pools that no live speaker answers for. */
export function checkL2Announced(s: DoctorSnapshot, p: Parsed, report: StatusReport | undefined): Finding[] {
  const services = ok(s.services);
  if (!report || !services) return [];
  if (!report.nodes.some((n) => !n.stale)) return []; // no live speaker at all: checkSpeakers says so
  const l2Pools = new Set(p.config.l2.flatMap((a) => [...a.pools]));
  const pools = p.pools.filter((x) => l2Pools.has(x.name));
  if (pools.length === 0) return [];
  const { lbClass, onlyOwnClass } = controllerClass(s);
  const ours = new Set(services.filter((x) => isOurs(x, onlyOwnClass, lbClass)).map(serviceKey));
  const out: Finding[] = [];
  for (const svc of report.services) {
    if (!ours.has(svc.name)) continue;
    for (const a of svc.announcements) {
      const addr = parseIP(a.ip);
      const pool = addr ? pools.find((x) => poolContains(x, addr)) : undefined;
      if (!pool || a.mode.split('+').includes('L2')) continue;
      const [ns = '', name = ''] = svc.name.split('/');
      out.push(finding('warning', FindingCodes.L2NotAnnounced, ref('Service', name, ns),
        `${a.ip} (L2 pool ${pool.name}) is answered by no live speaker: no node the L2Advertisement selects has an interface whose subnet holds it, or (externalTrafficPolicy: Local) none of those nodes has a ready endpoint`,
        `give pool ${pool.name} addresses from the nodes' own subnet, or name the interfaces in the L2Advertisement's spec.interfaces; baregate status shows who announces what`));
    }
  }
  return out;
}

// ───────────── 5: pending Services

function eventTime(e: EventObject): number {
  const t = Date.parse(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp ?? '');
  return Number.isFinite(t) ? t : 0;
}

/** Check 5: LoadBalancer Services of ours without an address, with the newest AllocationFailed event's message. */
export function checkPending(s: DoctorSnapshot): Finding[] {
  const services = ok(s.services);
  if (!services) return [];
  const { lbClass, onlyOwnClass } = controllerClass(s);
  const events = (ok(s.allocationFailedEvents) ?? []).filter((e) => e.reason === EventReasons.AllocationFailed && (e.involvedObject?.kind ?? 'Service') === 'Service');
  const paused = isPaused(s);
  const out: Finding[] = [];
  for (const svc of services) {
    if (!isOurs(svc, onlyOwnClass, lbClass)) continue;
    if ((svc.status?.loadBalancer?.ingress ?? []).some((i) => (i.ip ?? '') !== '' || (i.hostname ?? '') !== '')) continue;
    const ns = svc.metadata.namespace ?? '';
    const newest = events.filter((e) => e.involvedObject?.namespace === ns && e.involvedObject.name === svc.metadata.name
      && (e.involvedObject.uid === undefined || svc.metadata.uid === undefined || e.involvedObject.uid === svc.metadata.uid))
      .sort((a, b) => eventTime(b) - eventTime(a))[0];
    const reason = newest ? `${EventReasons.AllocationFailed}: ${newest.message ?? ''}` : 'no event yet';
    out.push(finding('warning', FindingCodes.ServicePending, ref('Service', svc.metadata.name, ns),
      `no address: ${reason}${paused ? ' (allocation is paused)' : ''}`,
      newest ? 'act on the reason: a pool with free addresses of the Service\'s IP families whose serviceAllocation admits it, a valid address annotation; kubectl describe service shows the events'
        : paused ? 'baregate resume, once the load balancer you switch from is gone' : 'check that the controller runs (controller-not-running) and its log'));
  }
  return out;
}

// ───────────── 8: webhook certificate and caBundle

/** Check 8: the serving certificate's expiry, and caBundles that are missing or do not hold its issuer. */
export function checkWebhook(s: DoctorSnapshot, now: Date): Finding[] {
  const out: Finding[] = [];
  const object = ref('Secret', WEBHOOK_CERT_SECRET, s.namespace);
  const secret = ok(s.webhookCert);
  const configs = [
    { kind: 'ValidatingWebhookConfiguration', name: VALIDATING_WEBHOOK, value: ok(s.validatingWebhook) },
    { kind: 'MutatingWebhookConfiguration', name: MUTATING_WEBHOOK, value: ok(s.mutatingWebhook) },
  ];
  const fixCA = `the controller patches the caBundle when it starts (self-managed certificates): check kubectl -n ${s.namespace} logs deploy/${BundleNames.controllerDeployment}; with cert-manager, check its cainjector and the cert-manager.io/inject-ca-from annotation`;
  let leaf: X509Certificate | undefined;
  if (s.webhookCert.kind === 'ok' && secret === undefined) {
    if (configs.some((c) => c.value !== undefined)) {
      out.push(finding('info', FindingCodes.CouldNotCheck, object, 'the webhook certificate Secret does not exist: its expiry was not checked',
        `with self-managed certificates the controller creates it when it starts; with cert-manager, check the Certificate (kubectl -n ${s.namespace} describe certificate)`));
    }
  } else if (secret) {
    leaf = parseCertificates(secret.tlsCrt ?? '')[0];
    if (!leaf) {
      out.push(finding('warning', FindingCodes.WebhookCertInvalid, object, 'the Secret has no certificate in tls.crt that parses: the webhook server cannot serve TLS',
        `delete the Secret and restart the controller (self-managed: it makes a new one): kubectl -n ${s.namespace} delete secret ${WEBHOOK_CERT_SECRET}`));
    } else {
      const { notAfter } = validity(leaf);
      const left = notAfter - now.getTime();
      const renew = `the controller renews its self-managed certificate while it runs (check kubectl -n ${s.namespace} logs deploy/${BundleNames.controllerDeployment}); with cert-manager, check the Certificate's status`;
      if (left <= 0) {
        out.push(finding('error', FindingCodes.WebhookCertExpired, object, `the webhook serving certificate expired at ${new Date(notAfter).toISOString()}: the apiserver refuses the webhook, so baregate objects cannot be created or changed`, renew));
      } else if (left < CERT_WARN_DAYS * DAY_MS) {
        out.push(finding('warning', FindingCodes.WebhookCertExpiring, object, `the webhook serving certificate expires at ${new Date(notAfter).toISOString()} (in ${Math.floor(left / DAY_MS)} days)`, renew));
      }
    }
  }
  for (const c of configs) {
    if (!c.value) continue;
    for (const w of c.value.webhooks ?? []) {
      const bundle = w.clientConfig?.caBundle ?? '';
      const wname = w.name ?? '';
      const cobj = ref(c.kind, c.name);
      if (bundle === '') {
        out.push(finding('warning', FindingCodes.WebhookCABundleMissing, cobj, `webhook ${wname} has no caBundle: the apiserver cannot verify the webhook server, so every call to it fails`, fixCA));
        continue;
      }
      if (!leaf) continue;
      const cas = parseCertificates(Buffer.from(bundle, 'base64').toString('utf8'));
      const l = leaf;
      if (!cas.some((ca) => l.checkIssued(ca) && l.verify(ca.publicKey))) {
        out.push(finding('warning', FindingCodes.WebhookCAMismatch, cobj, `the caBundle of webhook ${wname} does not hold the CA that issued the serving certificate in ${WEBHOOK_CERT_SECRET}: every call to it fails TLS verification`, fixCA));
      }
    }
  }
  return out;
}

// ───────────── 9: another load balancer still running

/** A load-balancer implementation recognised by its workloads. */
interface OtherLB {
  readonly name: string;
  readonly matches: (w: WorkloadObject, c: readonly ContainerSpec[]) => boolean;
  readonly remove: string;
}

const images = (c: readonly ContainerSpec[]): string[] => c.map((x) => (x.image ?? '').toLowerCase());
const argv = (c: ContainerSpec): string[] => [...(c.command ?? []), ...(c.args ?? [])];

/**
 * Other load balancers, by image (names a chart or a user may change; images rarely). MetalLB's namespace comes from
 * api/metallb.ts; the image names of the others are theirs and appear nowhere else in baregate.
 */
const OTHER_LBS: readonly OtherLB[] = [
  { name: 'MetalLB', matches: (w, c) => w.metadata?.namespace === METALLB_NAMESPACE || images(c).some((i) => /(^|[/-])metallb([/-]|$)/.test(i.split(':')[0] ?? '')),
    remove: 'after baregate migrate --from-cluster and kubectl apply of its output: helm uninstall metallb (or kubectl delete -f the MetalLB manifest)' },
  { name: 'kube-vip cloud provider', matches: (_w, c) => images(c).some((i) => i.includes('kube-vip-cloud-provider')),
    remove: 'kubectl delete the kube-vip-cloud-provider Deployment (and its kubevip ConfigMap)' },
  { name: 'kube-vip Service load balancing', matches: (_w, c) => c.some((x) => /kube-vip\/kube-vip(:|@|$)/.test((x.image ?? '').toLowerCase()) && (x.env ?? []).some((e) => e.name === 'svc_enable' && e.value === 'true')),
    remove: 'set svc_enable=false on the kube-vip DaemonSet (keep it for the control-plane address if you use that)' },
  { name: 'PureLB', matches: (_w, c) => images(c).some((i) => i.includes('purelb')), remove: 'helm uninstall purelb (or delete its manifest)' },
  { name: 'OpenELB', matches: (_w, c) => images(c).some((i) => i.includes('openelb') || i.includes('kubesphere/porter')), remove: 'helm uninstall openelb (or delete its manifest)' },
  { name: 'k3s ServiceLB (klipper-lb)', matches: (w, c) => images(c).some((i) => i.includes('klipper-lb')) || (w.kind === 'DaemonSet' && (w.metadata?.name ?? '').startsWith('svclb-')),
    remove: 'start k3s with --disable=servicelb on every server (its svclb-* DaemonSets then go)' },
];

/** Whether a workload is baregate's own (its image or its bundle labels). */
function isOwn(w: WorkloadObject): boolean {
  const c = [...(w.spec?.template?.spec?.containers ?? [])];
  return w.metadata?.labels?.['app.kubernetes.io/name'] === APP_NAME || images(c).some((i) => i.startsWith(`${IMAGE_REPOSITORY}:`) || i.startsWith(`${IMAGE_REPOSITORY}@`) || i === IMAGE_REPOSITORY);
}

/** Check 9: another load balancer's workloads or objects; MetalLB CRDs left behind (info). */
export function checkOtherLoadBalancers(s: DoctorSnapshot): Finding[] {
  const out: Finding[] = [];
  const paused = isPaused(s);
  let metallbRunning = false;
  for (const w of ok(s.workloads) ?? []) {
    if (isOwn(w)) continue;
    const c = [...(w.spec?.template?.spec?.containers ?? []), ...(w.spec?.template?.spec?.initContainers ?? [])];
    const lb = OTHER_LBS.find((x) => x.matches(w, c));
    if (!lb) continue;
    if (lb.name === 'MetalLB') metallbRunning = true;
    const scaledDown = w.kind === 'Deployment' && w.spec?.replicas === 0;
    if (scaledDown) continue;
    const name = w.metadata?.name ?? '';
    out.push(finding(paused ? 'warning' : 'error', FindingCodes.OtherLoadBalancer, ref(w.kind, name, w.metadata?.namespace),
      `${lb.name} still runs (${w.kind} ${name}): it also writes Service addresses${lb.name === 'MetalLB' || lb.name.startsWith('kube-vip') || lb.name.startsWith('k3s') ? ' and answers for them on the network' : ''}, and the two fight${paused ? '; expected while switching (allocation is paused)' : ''}`,
      `${lb.remove}; then baregate resume if allocation is paused`));
  }
  for (const o of ok(s.ciliumLB) ?? []) {
    out.push(finding('warning', FindingCodes.OtherLoadBalancer, ref(o.kind, o.name),
      `Cilium's load balancing is configured (${o.kind} ${o.name}): its LB IPAM assigns addresses to LoadBalancer Services too, its L2 announcements answer ARP for them`,
      `delete the ${o.kind} objects (kubectl delete ${o.kind.toLowerCase()} ${o.name}) or limit them with a serviceSelector that excludes baregate's Services`));
  }
  const metallbCRDs = (ok(s.crds) ?? []).filter((c) => c.group === METALLB_GROUP).map((c) => c.name).sort(byText);
  if (metallbCRDs.length > 0 && !metallbRunning) {
    out.push(finding('info', FindingCodes.MetalLBCRDs, ref('CustomResourceDefinition', `*.${METALLB_GROUP}`),
      `${metallbCRDs.length} MetalLB CRD(s) are still installed (${metallbCRDs.join(', ')}), MetalLB itself no longer runs`,
      `once baregate migrate has converted what you need: kubectl delete crd ${metallbCRDs.join(' ')}`));
  }
  return out;
}

// ───────────── all together

/** Most severe first, then by code and object: the same cluster always prints the same list. */
function compareFindings(a: Finding, b: Finding): number {
  return rank[b.severity] - rank[a.severity] || byText(a.code, b.code) || byText(a.object, b.object) || byText(a.message, b.message);
}

/**
 * Every check on one snapshot. Pure: `now` decides Lease freshness and certificate expiry. A check whose inputs
 * could not be read is skipped and {@link checkUnreadable} says so.
 */
export function diagnose(snapshot: DoctorSnapshot, now: Date): Finding[] {
  const p = parsed(snapshot);
  // what can be wrong before baregate is installed (strictARP, another load balancer) is still worth saying
  const before = [...checkUnreadable(snapshot), ...checkInstalled(snapshot, now), ...checkKubeProxy(snapshot, p), ...checkOtherLoadBalancers(snapshot)];
  if (notInstalled(snapshot)) return before.sort(compareFindings);
  const report = speakerReport(snapshot, ok(snapshot.services) ?? [], now);
  const out: Finding[] = [
    ...before,
    ...checkPaused(snapshot),
    ...(p ? [...checkConfig(p), ...checkPoolOverlaps(snapshot, p), ...checkAdvertised(snapshot, p), ...checkL2Announced(snapshot, p, report)] : []),
    ...checkPending(snapshot),
    ...checkSpeakers(snapshot, report),
    ...checkSessions(report),
    ...checkBfdSessions(report),
    ...checkWebhook(snapshot, now),
  ];
  return out.sort(compareFindings);
}

/** The `-o json` document: stable keys, findings in {@link diagnose}'s order. */
export interface DoctorReport {
  readonly findings: readonly Finding[];
  readonly summary: Readonly<Record<Severity, number>>;
  readonly exitCode: number;
}

/** The report printed by `-o json`. */
export function doctorReport(findings: readonly Finding[]): DoctorReport {
  return { findings, summary: countBySeverity(findings), exitCode: exitCode(findings) };
}
