/**
 * The speaker's view of the cluster: one cache per resource type it reads (Services, EndpointSlices, Nodes, the
 * baregate.io objects, speaker Leases, the Secrets of baregate-system), turned into the plain inputs of
 * `parseConfig()` and `plan()`.
 *
 * Why the conversion happens here, on every change of one object, and not when planning: with 10k Services a
 * re-plan must not walk and re-parse every Service JSON. Each cache event updates one entry of an incremental
 * map ({@link PlanService} per Service, ready nodes per Service), so building a {@link PlanSnapshot} costs only the
 * copy of the list. The caches hold, per object, a new one with only the fields the speaker reads (`keep`), so
 * 10k Services stay small.
 *
 * The caches come from a factory: {@link Informer}s on a KubeClient in production ({@link informerFactory}),
 * in-memory fakes in tests; everything else in this file is plain data.
 */
import {
  ALLOCATED_FROM_POOL, EXCLUDE_FROM_LB_LABEL, GROUP, HEARTBEAT_SECRET, HEARTBEAT_SECRET_KEY, Kinds, PASSWORD_SECRET_KEY, SERVICE_NAME_LABEL,
  SPEAKER_LEASE_LABEL, SPEAKER_LEASE_PREFIX, SYSTEM_NAMESPACE, VERSION,
} from '../api/keys.ts';
import type { Clock } from '../clock.ts';
import type { ConfigSnapshot, SecretObject } from '../config/types.ts';
import type { InformerClient, KObject } from '../k8s/informer.ts';
import { Informer } from '../k8s/informer.ts';
import type { CacheSource, Health } from '../k8s/ports.ts';
import type { Logger } from '../log.ts';
import { canonicalIP } from '../net/ip.ts';
import type { PlanNode, PlanService } from './types.ts';

/** The resource types the speaker watches. */
export const SourceKinds = {
  services: 'services',
  endpointSlices: 'endpointSlices',
  nodes: 'nodes',
  pools: 'pools',
  l2Advertisements: 'l2Advertisements',
  bgpAdvertisements: 'bgpAdvertisements',
  bgpPeers: 'bgpPeers',
  bfdProfiles: 'bfdProfiles',
  leases: 'leases',
  secrets: 'secrets',
} as const;
/** One of {@link SourceKinds}. */
export type SourceKind = (typeof SourceKinds)[keyof typeof SourceKinds];

/** What one cache watches: the collection path, an optional query, the fields it keeps. */
export interface SourceSpec {
  readonly kind: SourceKind;
  readonly path: string;
  readonly query?: string;
  /** The object to cache, built from the decoded one: a new, small object with only what the speaker reads. */
  readonly keep?: (obj: Record<string, unknown>) => Record<string, unknown>;
}

/** Makes the cache for one {@link SourceSpec}. */
export type CacheFactory = (spec: SourceSpec) => CacheSource<KObject>;

/** Kinds whose change means the config must be parsed again. */
const CONFIG_KINDS: ReadonlySet<SourceKind> = new Set(['pools', 'l2Advertisements', 'bgpAdvertisements', 'bgpPeers', 'bfdProfiles', 'secrets']);

/** Whether a change of `kind` changes the `ConfigSnapshot` (so the daemon re-parses only then). */
export function isConfigKind(kind: SourceKind): boolean {
  return CONFIG_KINDS.has(kind);
}

const crdPath = (plural: string): string => `/apis/${GROUP}/${VERSION}/${plural}`;

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Json : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * The named keys of `v` that are set, in a new object ({} when `v` is not an object). The caches hold new objects
 * built from the decoded ones rather than the decoded ones with keys deleted: an object that had properties
 * deleted turns into a dictionary and costs several times the memory, and there are 10k of them.
 */
function pick(v: unknown, keys: readonly string[]): Json {
  const o = obj(v);
  const out: Json = {};
  if (o) for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

const META_KEYS = ['name', 'namespace', 'uid', 'resourceVersion', 'labels', 'annotations', 'generation'] as const;

/**
 * A Service keeps name, uid, resourceVersion, our pool annotation, type, externalTrafficPolicy and its ingress
 * IPs; a Service that is not a LoadBalancer with IPs and our annotation keeps only its metadata identity (the
 * cache must still hold it, or the next list would report it as new).
 */
function keepService(o: Json): Json {
  const meta = pick(o.metadata, ['name', 'namespace', 'uid', 'resourceVersion']);
  const pool = str(obj(obj(o.metadata)?.annotations)?.[ALLOCATED_FROM_POOL]);
  meta.annotations = pool !== undefined ? { [ALLOCATED_FROM_POOL]: pool } : {};
  const ingress = arr(obj(obj(o.status)?.loadBalancer)?.ingress).map((i) => str(obj(i)?.ip)).filter((ip): ip is string => ip !== undefined);
  return { metadata: meta, spec: pick(o.spec, ['type', 'externalTrafficPolicy']), status: { loadBalancer: { ingress: ingress.map((ip) => ({ ip })) } } };
}

/** An EndpointSlice keeps its Service label and, per endpoint, readiness and node. */
function keepSlice(o: Json): Json {
  const meta = pick(o.metadata, ['name', 'namespace', 'uid', 'resourceVersion']);
  const svc = str(obj(obj(o.metadata)?.labels)?.[SERVICE_NAME_LABEL]);
  meta.labels = svc !== undefined ? { [SERVICE_NAME_LABEL]: svc } : {};
  const endpoints = arr(o.endpoints).map((e) => {
    const ep = obj(e);
    return { conditions: { ready: obj(ep?.conditions)?.ready }, nodeName: str(ep?.nodeName) };
  });
  return { metadata: meta, endpoints };
}

/** A Node keeps labels, NetworkUnavailable and its addresses. */
function keepNode(o: Json): Json {
  const st = obj(o.status);
  const conds = arr(st?.conditions).filter((c) => obj(c)?.type === 'NetworkUnavailable').map((c) => ({ type: 'NetworkUnavailable', status: obj(c)?.status }));
  const out: Json = { ...o, metadata: pick(o.metadata, ['name', 'uid', 'resourceVersion', 'labels']), status: { conditions: conds, addresses: arr(st?.addresses) } };
  Reflect.deleteProperty(out, 'spec'); // a few Nodes: the copy's shape does not matter
  return out;
}

/** The baregate.io objects go to parseConfig as they are (it validates every field again); only metadata is trimmed. */
function keepConfigObject(o: Json): Json {
  const out: Json = { ...o, metadata: pick(o.metadata, META_KEYS) };
  Reflect.deleteProperty(out, 'status');
  return out;
}

/** A Lease keeps what freshness is judged from. */
function keepLease(o: Json): Json {
  return {
    ...o,
    metadata: pick(o.metadata, ['name', 'namespace', 'uid', 'resourceVersion', 'labels']),
    ...(o.spec !== undefined ? { spec: pick(o.spec, ['holderIdentity', 'renewTime', 'leaseDurationSeconds', 'acquireTime']) } : {}),
  };
}

/**
 * Secrets keep their type and the only data keys the speaker reads (a BGP password, the heartbeat key): the
 * namespace may also hold Helm releases or certificates of megabytes.
 */
function keepSecret(o: Json): Json {
  const out: Json = { metadata: pick(o.metadata, ['name', 'namespace', 'uid', 'resourceVersion']) };
  if (o.type !== undefined) out.type = o.type;
  if (o.data !== undefined) out.data = pick(o.data, [PASSWORD_SECRET_KEY, HEARTBEAT_SECRET_KEY]);
  return out;
}

/** The caches of one speaker: paths, queries and what each keeps. */
export function sourceSpecs(): readonly SourceSpec[] {
  return [
    { kind: 'services', path: '/api/v1/services', keep: keepService },
    { kind: 'endpointSlices', path: '/apis/discovery.k8s.io/v1/endpointslices', keep: keepSlice },
    { kind: 'nodes', path: '/api/v1/nodes', keep: keepNode },
    { kind: 'pools', path: crdPath(Kinds.IPAddressPool.plural), keep: keepConfigObject },
    { kind: 'l2Advertisements', path: crdPath(Kinds.L2Advertisement.plural), keep: keepConfigObject },
    { kind: 'bgpAdvertisements', path: crdPath(Kinds.BGPAdvertisement.plural), keep: keepConfigObject },
    { kind: 'bgpPeers', path: crdPath(Kinds.BGPPeer.plural), keep: keepConfigObject },
    { kind: 'bfdProfiles', path: crdPath(Kinds.BFDProfile.plural), keep: keepConfigObject },
    {
      kind: 'leases', path: `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases`,
      query: `labelSelector=${encodeURIComponent(SPEAKER_LEASE_LABEL)}`, keep: keepLease,
    },
    { kind: 'secrets', path: `/api/v1/namespaces/${SYSTEM_NAMESPACE}/secrets`, keep: keepSecret },
  ];
}

/** Production caches: one {@link Informer} per spec on the given client. */
export function informerFactory(client: InformerClient, log: Logger, clock?: Clock): CacheFactory {
  return (spec) => {
    const inf = new Informer<KObject>(client, {
      path: spec.path, log: log.child({ source: spec.kind }),
      ...(spec.query !== undefined ? { query: spec.query } : {}),
      ...(spec.keep ? { transform: spec.keep } : {}),
      ...(clock ? { clock } : {}),
    });
    return Object.assign(inf, { health: (): Health => (inf.healthy() ? { ok: true } : { ok: false, reason: `${spec.kind} cache stale for ${Math.round(inf.staleForMs())} ms` }) });
  };
}

/**
 * A Service as the planner sees it, or undefined when it holds none of our addresses: a LoadBalancer with
 * ingress IPs and the pool annotation the controller writes. The annotation lists one pool per distinct pool,
 * in the order of the IPs; with as many pools as IPs each IP gets its own (dual-stack from two pools).
 */
export function planService(o: unknown): PlanService | undefined {
  const s = obj(o);
  const meta = obj(s?.metadata);
  const name = str(meta?.name);
  const ns = str(meta?.namespace);
  if (!s || name === undefined || ns === undefined) return undefined;
  const spec = obj(s.spec);
  if (spec?.type !== 'LoadBalancer') return undefined;
  const ann = str(obj(meta?.annotations)?.[ALLOCATED_FROM_POOL]);
  const pools = (ann ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
  const [first] = pools;
  if (first === undefined) return undefined;
  const ips: string[] = [];
  for (const i of arr(obj(obj(s.status)?.loadBalancer)?.ingress)) {
    const ip = canonicalIP(str(obj(i)?.ip) ?? '');
    if (ip !== undefined && !ips.includes(ip)) ips.push(ip);
  }
  if (ips.length === 0) return undefined;
  const base = { key: `${ns}/${name}`, ips, pool: first, local: spec.externalTrafficPolicy === 'Local' };
  if (pools.length > 1 && pools.length === ips.length) {
    const poolOf: Record<string, string> = {};
    ips.forEach((ip, n) => { poolOf[ip] = pools[n] ?? first; });
    return { ...base, poolOf };
  }
  return base;
}

/** `namespace/service` and the nodes with a ready endpoint, from one EndpointSlice (undefined: not a Service's slice). */
export function sliceReadyNodes(o: unknown): { service: string; nodes: ReadonlySet<string> } | undefined {
  const s = obj(o);
  const meta = obj(s?.metadata);
  const ns = str(meta?.namespace);
  const svc = str(obj(meta?.labels)?.[SERVICE_NAME_LABEL]);
  if (ns === undefined || svc === undefined) return undefined;
  const nodes = new Set<string>();
  for (const e of arr(s?.endpoints)) {
    const ep = obj(e);
    const node = str(ep?.nodeName);
    // ready unset means ready (discovery.k8s.io/v1: "nil should be interpreted as true")
    if (node !== undefined && obj(ep?.conditions)?.ready !== false) nodes.add(node);
  }
  return { service: `${ns}/${svc}`, nodes };
}

/** The planner's Node, from a Node object. */
export function planNode(o: unknown): PlanNode | undefined {
  const n = obj(o);
  const meta = obj(n?.metadata);
  const name = str(meta?.name);
  if (name === undefined) return undefined;
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(meta?.labels) ?? {})) if (typeof v === 'string') labels[k] = v;
  const unavailable = arr(obj(n?.status)?.conditions).some((c) => obj(c)?.type === 'NetworkUnavailable' && obj(c)?.status === 'True');
  return { name, labels, excluded: EXCLUDE_FROM_LB_LABEL in labels, networkUnavailable: unavailable };
}

/** A Node's InternalIP addresses (canonical, IPv4 first): where its speaker's heartbeats go, and the default router ID. */
export function nodeInternalIPs(o: unknown): string[] {
  const out: string[] = [];
  for (const a of arr(obj(obj(o)?.status)?.addresses)) {
    if (obj(a)?.type !== 'InternalIP') continue;
    const ip = canonicalIP(str(obj(a)?.address) ?? '');
    if (ip !== undefined && !out.includes(ip)) out.push(ip);
  }
  return [...out.filter((ip) => !ip.includes(':')), ...out.filter((ip) => ip.includes(':'))];
}

/** What the heartbeat Secret gives: the key, or why there is none. */
export type HeartbeatKey = { readonly key: Buffer } | { readonly problem: string };

/** Minimum heartbeat key length (bytes): shorter keys are refused, not used. */
export const MIN_HEARTBEAT_KEY_BYTES = 16;

/** The heartbeat HMAC key from the Secrets of baregate-system. */
export function heartbeatKey(secrets: readonly SecretObject[]): HeartbeatKey {
  const s = secrets.find((x) => x.metadata.name === HEARTBEAT_SECRET);
  if (!s) return { problem: `Secret ${SYSTEM_NAMESPACE}/${HEARTBEAT_SECRET} not found` };
  const b64 = s.data?.[HEARTBEAT_SECRET_KEY];
  if (b64 === undefined) return { problem: `Secret ${SYSTEM_NAMESPACE}/${HEARTBEAT_SECRET} has no key "${HEARTBEAT_SECRET_KEY}"` };
  const key = Buffer.from(b64, 'base64');
  if (key.length < MIN_HEARTBEAT_KEY_BYTES) return { problem: `Secret ${SYSTEM_NAMESPACE}/${HEARTBEAT_SECRET} key "${HEARTBEAT_SECRET_KEY}" has ${key.length} bytes; at least ${MIN_HEARTBEAT_KEY_BYTES} are needed` };
  return { key };
}

/** A speaker Lease as the liveness tracker reads it. */
export interface LeaseObject extends KObject {
  metadata: KObject['metadata'] & { labels?: Record<string, string> };
  readonly spec?: { readonly holderIdentity?: string; readonly renewTime?: string; readonly leaseDurationSeconds?: number };
}

/**
 * The node a speaker Lease belongs to: its name minus {@link SPEAKER_LEASE_PREFIX} (the label value may be empty
 * for node names longer than a label allows), or undefined for a Lease that is not a speaker's.
 */
export function leaseNode(l: LeaseObject): string | undefined {
  if (l.metadata.labels?.[SPEAKER_LEASE_LABEL] === undefined) return undefined;
  const name = l.metadata.name;
  return name.startsWith(SPEAKER_LEASE_PREFIX) ? name.slice(SPEAKER_LEASE_PREFIX.length) : undefined;
}

function sameSet(a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/** Change callback: which kind changed, and the object's key. */
export type SourceChange = (kind: SourceKind, key: string) => void;

/** See the module comment. */
export class ClusterSources {
  private readonly caches = new Map<SourceKind, CacheSource<KObject>>();
  private readonly svc = new Map<string, PlanService>();
  /** EndpointSlice key → (Service key, ready nodes). */
  private readonly slices = new Map<string, { service: string; nodes: ReadonlySet<string> }>();
  /** Service key → slices of it. */
  private readonly slicesOf = new Map<string, Set<string>>();
  private readonly nodeMap = new Map<string, PlanNode>();
  private readonly addrs = new Map<string, readonly string[]>();
  private readonly handlers: SourceChange[] = [];
  private servicesList: readonly PlanService[] | undefined;
  private ready: ReadonlyMap<string, ReadonlySet<string>> | undefined;
  /** Resolves when every cache has listed once. */
  readonly synced: Promise<void>;
  private isSynced = false;

  constructor(factory: CacheFactory, specs: readonly SourceSpec[] = sourceSpecs()) {
    for (const spec of specs) {
      const c = factory(spec);
      this.caches.set(spec.kind, c);
      c.onChange((key, o) => { this.changed(spec.kind, key, o); });
    }
    this.synced = Promise.all([...this.caches.values()].map((c) => c.synced)).then(() => { this.isSynced = true; });
  }

  /** Registers a change callback (called synchronously, after the derived maps were updated). */
  onChange(cb: SourceChange): void {
    this.handlers.push(cb);
  }

  /** Starts every cache. */
  start(): void {
    for (const c of this.caches.values()) c.start();
  }

  /** Stops every cache (contents stay readable). */
  stop(): void {
    for (const c of this.caches.values()) c.stop();
  }

  /** Whether every cache has listed once. */
  get hasSynced(): boolean {
    return this.isSynced;
  }

  /** Healthy when every cache says so (a cache without `health` counts as healthy). */
  health(): Health {
    for (const c of this.caches.values()) {
      const h = c.health?.();
      if (h && !h.ok) return h;
    }
    return { ok: true };
  }

  /**
   * Updates the derived maps; tells the handlers only when what the planner reads changed. A Service, slice or
   * Node is rewritten often for reasons the speaker does not care about (kubelet status, unrelated
   * annotations, endpoints of Services that are not ours): each such echo would be a re-plan.
   */
  private changed(kind: SourceKind, key: string, o: KObject | undefined): void {
    switch (kind) {
      case 'services': {
        const p = o ? planService(o) : undefined;
        const prev = this.svc.get(key);
        if (!p && !prev) return; // a Service that is not ours came or went: nothing to re-plan
        if (p && prev && JSON.stringify(p) === JSON.stringify(prev)) return;
        if (p) this.svc.set(key, p); else this.svc.delete(key);
        this.servicesList = undefined;
        break;
      }
      case 'endpointSlices':
        if (!this.sliceChanged(key, o)) return;
        break;
      case 'nodes': {
        const n = o ? planNode(o) : undefined;
        const name = n?.name ?? key;
        const before = JSON.stringify([this.nodeMap.get(name), this.addrs.get(name)]);
        if (n) { this.nodeMap.set(n.name, n); this.addrs.set(n.name, nodeInternalIPs(o)); } else { this.nodeMap.delete(key); this.addrs.delete(key); }
        if (JSON.stringify([this.nodeMap.get(name), this.addrs.get(name)]) === before) return;
        break;
      }
      default: break;
    }
    for (const h of this.handlers) h(kind, key);
  }

  /** Updates one slice; true when the ready nodes of a Service changed. */
  private sliceChanged(key: string, o: KObject | undefined): boolean {
    const prev = this.slices.get(key);
    const next = o ? sliceReadyNodes(o) : undefined;
    if (prev?.service === next?.service && sameSet(prev?.nodes, next?.nodes)) return false;
    const affected = [...new Set([prev?.service, next?.service].filter((x): x is string => x !== undefined))];
    const before = affected.map((svc) => this.readyOf(svc));
    if (prev) {
      const set = this.slicesOf.get(prev.service);
      set?.delete(key);
      if (set?.size === 0) this.slicesOf.delete(prev.service);
      this.slices.delete(key);
    }
    if (next) {
      this.slices.set(key, next);
      let set = this.slicesOf.get(next.service);
      if (!set) this.slicesOf.set(next.service, set = new Set());
      set.add(key);
    }
    if (affected.every((svc, n) => sameSet(before[n], this.readyOf(svc)))) return false;
    this.ready = undefined;
    return true;
  }

  /** Nodes with a ready endpoint of one Service (union over its slices). */
  private readyOf(service: string): Set<string> {
    const nodes = new Set<string>();
    for (const k of this.slicesOf.get(service) ?? []) for (const n of this.slices.get(k)?.nodes ?? []) nodes.add(n);
    return nodes;
  }

  private list(kind: SourceKind): KObject[] {
    return this.caches.get(kind)?.list() ?? [];
  }

  /** The input of parseConfig(). */
  configSnapshot(): ConfigSnapshot {
    return {
      pools: this.list('pools'),
      l2Advertisements: this.list('l2Advertisements'),
      bgpAdvertisements: this.list('bgpAdvertisements'),
      bgpPeers: this.list('bgpPeers'),
      bfdProfiles: this.list('bfdProfiles'),
      secrets: this.list('secrets'),
    };
  }

  /** Services holding our addresses, in key order (the list is rebuilt only after a change). */
  services(): readonly PlanService[] {
    this.servicesList ??= [...this.svc.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return this.servicesList;
  }

  /** Service key → nodes with a ready endpoint (union over its slices). */
  readyNodes(): ReadonlyMap<string, ReadonlySet<string>> {
    if (this.ready) return this.ready;
    const out = new Map<string, ReadonlySet<string>>();
    for (const service of this.slicesOf.keys()) out.set(service, this.readyOf(service));
    this.ready = out;
    return out;
  }

  /** Nodes by name. */
  nodes(): ReadonlyMap<string, PlanNode> {
    return this.nodeMap;
  }

  /** Node name → InternalIPs (IPv4 first). */
  nodeAddresses(): ReadonlyMap<string, readonly string[]> {
    return this.addrs;
  }

  /** The speaker Leases. */
  leases(): LeaseObject[] {
    return this.list('leases');
  }

  /** The Secrets of baregate-system. */
  secrets(): readonly SecretObject[] {
    return this.list('secrets');
  }

  /** The raw cached object of a kind (e.g. a BGPPeer, to name it in an event). */
  get(kind: SourceKind, key: string): KObject | undefined {
    return this.caches.get(kind)?.get(key);
  }
}
