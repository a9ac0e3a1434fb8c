/**
 * Reads what `baregate doctor` checks (src/doctor/snapshot.ts) from a live cluster: about twenty list and get
 * requests, all at once, each with its own deadline. A resource the user may not read (403), one the cluster does not
 * serve (404: no ServiceCIDR API before 1.33, no baregate CRDs), or one that does not answer in time becomes an
 * `unavailable` part of the snapshot: the doctor reports "could not check" for it and checks the rest. Only an
 * apiserver that cannot be talked to at all (no answer, or our credentials refused) fails the read, because then every
 * finding would be a guess; so does a cluster that refuses every read.
 *
 * Paths live here, next to the client, like every other REST path. The webhook certificate Secret is reduced to its
 * certificates on arrival: the private keys beside them never leave this function.
 */
import { GROUP, Kinds, MUTATING_WEBHOOK, VALIDATING_WEBHOOK, VERSION, WEBHOOK_CERT_SECRET } from '../api/keys.ts';
import type { CRDInfo, DoctorSnapshot, ForeignObject, Read, WebhookCert, WorkloadObject } from '../doctor/snapshot.ts';
import type { Service } from '../lb/service.ts';
import { statusMessage, type ApiResponse } from './client.ts';
import type { Requester } from './ports.ts';
import { SPEAKER_STATUS_PATH, type SpeakerStatusResource } from './speakerstatus.ts';

/** Deadline of each request: a doctor run answers within seconds or says what it could not read. */
const TIMEOUT_MS = 10_000;
/** Page size of list requests. */
const PAGE = 500;

/** The outcome: a snapshot, or why the cluster could not be talked to (exit code 3). */
export type DoctorRead =
  | { readonly kind: 'ok'; readonly snapshot: DoctorSnapshot }
  | { readonly kind: 'unreachable'; readonly message: string };

/** Cilium's load-balancer kinds (CRD names): configured, they hand out or announce Service addresses. */
const CILIUM_LB_CRDS = ['ciliumloadbalancerippools.cilium.io', 'ciliuml2announcementpolicies.cilium.io'] as const;

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

async function send<T>(client: Requester, path: string): Promise<ApiResponse<T> | { failed: string }> {
  try {
    return await client.request<T>('GET', path, undefined, 'application/json', { timeoutMs: TIMEOUT_MS });
  } catch (e) {
    return { failed: e instanceof Error ? e.message : String(e) };
  }
}

function why(r: ApiResponse): string {
  if (r.status === 403) return `forbidden: ${statusMessage(r)}`;
  if (r.status === 404) return 'not served by this cluster (404)';
  return statusMessage(r);
}

/** Every item of a collection (paged), or why not. */
async function list<T>(client: Requester, path: string, query = ''): Promise<Read<T[]>> {
  const out: T[] = [];
  let cont = '';
  do {
    const q = [query, `limit=${PAGE}`, cont !== '' ? `continue=${encodeURIComponent(cont)}` : ''].filter((x) => x !== '').join('&');
    const r = await send<{ items?: T[]; metadata?: { continue?: string } }>(client, `${path}?${q}`);
    if ('failed' in r) return { kind: 'unavailable', reason: r.failed };
    if (r.status !== 200) return { kind: 'unavailable', reason: why(r) };
    out.push(...(Array.isArray(r.body.items) ? r.body.items : []));
    cont = r.body.metadata?.continue ?? '';
  } while (cont !== '');
  return { kind: 'ok', value: out };
}

/** One object; `undefined` when it does not exist. */
async function get<T>(client: Requester, path: string): Promise<Read<T | undefined>> {
  const r = await send<T>(client, path);
  if ('failed' in r) return { kind: 'unavailable', reason: r.failed };
  if (r.status === 404) return { kind: 'ok', value: undefined };
  if (r.status !== 200) return { kind: 'unavailable', reason: why(r) };
  return { kind: 'ok', value: r.body };
}

const map = <A, B>(r: Read<A>, f: (a: A) => B): Read<B> => (r.kind === 'ok' ? { kind: 'ok', value: f(r.value) } : r);

function crdInfo(o: unknown): CRDInfo {
  const meta = isObj(o) && isObj(o.metadata) ? o.metadata : {};
  const spec = isObj(o) && isObj(o.spec) ? o.spec : {};
  const names = isObj(spec.names) ? spec.names : {};
  const versions = Array.isArray(spec.versions) ? spec.versions.filter(isObj) : [];
  const stored = versions.find((v) => v.storage === true) ?? versions.find((v) => v.served === true);
  return { name: str(meta.name), group: str(spec.group), plural: str(names.plural), kind: str(names.kind), storageVersion: str(stored?.name) };
}

/** The Secret's certificates, decoded; the keys are not kept. */
function certOf(secret: unknown): WebhookCert {
  const data = isObj(secret) && isObj(secret.data) ? secret.data : {};
  const pem = (k: string): string | undefined => (typeof data[k] === 'string' ? Buffer.from(data[k], 'base64').toString('utf8') : undefined);
  const tlsCrt = pem('tls.crt');
  const caCrt = pem('ca.crt');
  return { ...(tlsCrt !== undefined ? { tlsCrt } : {}), ...(caCrt !== undefined ? { caCrt } : {}) };
}

async function workloads(client: Requester): Promise<Read<WorkloadObject[]>> {
  const [deps, dss] = await Promise.all([list<Omit<WorkloadObject, 'kind'>>(client, '/apis/apps/v1/deployments'), list<Omit<WorkloadObject, 'kind'>>(client, '/apis/apps/v1/daemonsets')]);
  if (deps.kind !== 'ok') return deps;
  if (dss.kind !== 'ok') return dss;
  const slim = (kind: WorkloadObject['kind']) => (w: Omit<WorkloadObject, 'kind'>): WorkloadObject => ({
    kind,
    ...(w.metadata ? { metadata: w.metadata } : {}),
    spec: {
      ...(typeof w.spec?.replicas === 'number' ? { replicas: w.spec.replicas } : {}),
      template: { spec: { containers: w.spec?.template?.spec?.containers ?? [], initContainers: w.spec?.template?.spec?.initContainers ?? [] } },
    },
  });
  return { kind: 'ok', value: [...deps.value.map(slim('Deployment')), ...dss.value.map(slim('DaemonSet'))] };
}

async function ciliumLB(client: Requester, crds: Read<CRDInfo[]>): Promise<Read<ForeignObject[]>> {
  if (crds.kind !== 'ok') return crds;
  const out: ForeignObject[] = [];
  for (const name of CILIUM_LB_CRDS) {
    const crd = crds.value.find((c) => c.name === name);
    if (!crd || crd.storageVersion === '') continue;
    const items = await list<{ metadata?: { name?: string } }>(client, `/apis/${crd.group}/${crd.storageVersion}/${crd.plural}`);
    if (items.kind !== 'ok') return items;
    for (const i of items.value) out.push({ kind: crd.kind, name: i.metadata?.name ?? '' });
  }
  return { kind: 'ok', value: out };
}

/**
 * Reads the snapshot for baregate's namespace `namespace`. Resolves to `unreachable` when the apiserver gives no
 * answer or refuses our credentials (401); never rejects.
 */
export async function readDoctorSnapshot(client: Requester, namespace: string): Promise<DoctorRead> {
  const probe = await send<unknown>(client, '/version');
  if ('failed' in probe) return { kind: 'unreachable', message: probe.failed };
  if (probe.status === 401) return { kind: 'unreachable', message: `the apiserver refused our credentials: ${statusMessage(probe)}` };
  const ns = encodeURIComponent(namespace);
  const ours = (plural: string): Promise<Read<unknown[]>> => list<unknown>(client, `/apis/${GROUP}/${VERSION}/${plural}`);
  const crdsP = list<unknown>(client, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions').then((r) => map(r, (xs) => xs.map(crdInfo)));
  const [
    namespaceObject, crds, leases, kubeProxy, nodes, serviceCIDRs, pools, l2Advertisements, bgpAdvertisements, bgpPeers,
    services, allocationFailedEvents, speakerStatuses, secret, validatingWebhook, mutatingWebhook, wl,
  ] = await Promise.all([
    get<{ metadata?: Json }>(client, `/api/v1/namespaces/${ns}`),
    crdsP,
    list<unknown>(client, `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`),
    get<unknown>(client, '/api/v1/namespaces/kube-system/configmaps/kube-proxy'),
    list<unknown>(client, '/api/v1/nodes'),
    list<unknown>(client, '/apis/networking.k8s.io/v1/servicecidrs'),
    ours(Kinds.IPAddressPool.plural),
    ours(Kinds.L2Advertisement.plural),
    ours(Kinds.BGPAdvertisement.plural),
    ours(Kinds.BGPPeer.plural),
    list<Service>(client, '/api/v1/services'),
    list<unknown>(client, '/api/v1/events', `fieldSelector=${encodeURIComponent('reason=AllocationFailed,involvedObject.kind=Service')}`),
    list<SpeakerStatusResource>(client, SPEAKER_STATUS_PATH),
    get<unknown>(client, `/api/v1/namespaces/${ns}/secrets/${encodeURIComponent(WEBHOOK_CERT_SECRET)}`),
    get<unknown>(client, `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${encodeURIComponent(VALIDATING_WEBHOOK)}`),
    get<unknown>(client, `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${encodeURIComponent(MUTATING_WEBHOOK)}`),
    workloads(client),
  ]);
  const cilium = await ciliumLB(client, crds);
  // the JSON is handed on as read: the snapshot's types are all-optional views, and the checks read them defensively
  const snapshot: DoctorSnapshot = {
    namespace,
    namespaceObject,
    crds,
    leases: leases as DoctorSnapshot['leases'],
    kubeProxy: kubeProxy as DoctorSnapshot['kubeProxy'],
    nodes: nodes as DoctorSnapshot['nodes'],
    serviceCIDRs: serviceCIDRs as DoctorSnapshot['serviceCIDRs'],
    pools, l2Advertisements, bgpAdvertisements, bgpPeers,
    services,
    allocationFailedEvents: allocationFailedEvents as DoctorSnapshot['allocationFailedEvents'],
    speakerStatuses,
    webhookCert: map(secret, (s) => (s === undefined ? undefined : certOf(s))),
    validatingWebhook: validatingWebhook as DoctorSnapshot['validatingWebhook'],
    mutatingWebhook: mutatingWebhook as DoctorSnapshot['mutatingWebhook'],
    workloads: wl,
    ciliumLB: cilium,
  };
  // every input refused (no RBAC at all, an apiserver that answers only /version): nothing was checked, and a run
  // that found nothing because it could read nothing must not look like a healthy cluster
  const parts = Object.values(snapshot).filter((v): v is Read<unknown> => typeof v === 'object');
  const first = parts.find((p) => p.kind === 'unavailable');
  if (first && parts.every((p) => p.kind === 'unavailable')) return { kind: 'unreachable', message: `every request was refused, e.g. ${first.reason}` };
  return { kind: 'ok', snapshot };
}
