/**
 * Every REST path and body of the gateway integrations' shell (src/gateway/controller.ts): the caches it reads
 * (Services trimmed to what the planner reads, GatewayIntegrations, Namespaces, Gateways when the Gateway API is
 * served) and the writes it makes (server-side apply of our Service fields, the guarded NodePort clean-up, the
 * integration status). The controller sees only the {@link GatewayWriter} port and {@link CacheSource}s, so its logic
 * runs in unit tests against recording fakes.
 *
 * Every request has its own deadline ({@link TIMEOUT_MS}); a write never throws, it answers a typed result.
 */
import type { GatewayIntegration, GatewayIntegrationStatus } from '../api/gatewayintegration.ts';
import { GATEWAY_API_GROUP, GATEWAY_API_VERSION, GATEWAY_FIELD_MANAGER, GROUP, Kinds, VERSION } from '../api/keys.ts';
import { realClock, type Clock, type Timer } from '../clock.ts';
import type { GatewayObject, GatewayService, MutationWorld } from '../gateway/types.ts';
import type { Logger } from '../log.ts';
import { statusMessage, type ApiResponse, type WatchEvent } from './client.ts';
import { Informer, type ChangeHandler, type InformerClient, type KObject } from './informer.ts';
import type { CacheSource, Health, Requester, WriteResult } from './ports.ts';

/** Deadline of each request of the gateway shell: a write that hangs must not stall the planning loop. */
export const TIMEOUT_MS = 10_000;
/** Collection path of GatewayIntegrations. */
export const INTEGRATIONS_PATH = `/apis/${GROUP}/${VERSION}/${Kinds.GatewayIntegration.plural}`;
/** Discovery document of the Gateway API version we read: 200 when the CRDs are installed. */
export const GATEWAY_API_DISCOVERY = `/apis/${GATEWAY_API_GROUP}/${GATEWAY_API_VERSION}`;
/** Collection path of Gateways across namespaces. */
export const GATEWAYS_PATH = `${GATEWAY_API_DISCOVERY}/gateways`;
const APPLY_PATCH = 'application/apply-patch+yaml';
const MERGE_PATCH = 'application/merge-patch+json';
/** Key under which the wrapped client hands our managedFields entries past the informer (which drops managedFields). */
const KEPT_FIELDS = '__gatewayManagedFields';

/** A namespace as cached: its labels (namespaceSelector). */
export interface NamespaceObject {
  metadata: { name: string; resourceVersion?: string; labels?: Record<string, string> };
}

/** The fields we own on one Service; an empty object releases everything we own. */
export interface AppliedFields {
  readonly annotations?: Readonly<Record<string, string>>;
  readonly allocateLoadBalancerNodePorts?: false;
  readonly externalTrafficPolicy?: 'Cluster' | 'Local';
}

/** Which Service a write is for: `uid` guards against writing to (or creating) another object of that name. */
export interface ServiceRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string | undefined;
}

/**
 * Outcome of an apply: `ok` with the (trimmed) object, `gone` when the Service is absent or was recreated (other uid),
 * `conflict` when another field manager owns a field with another value (never forced: the message names it),
 * `failed` for anything else (retried).
 */
export type ApplyResult =
  | { readonly kind: 'ok'; readonly object: GatewayService }
  | { readonly kind: 'gone' }
  | { readonly kind: 'conflict'; readonly message: string }
  | { readonly kind: 'failed'; readonly message: string };

/**
 * Outcome of a guarded update (the NodePort clean-up, taking over a spec field): `ok` with the nodePorts the apiserver
 * still shows after it (read back from its answer; empty: confirmed clean), `conflict` when the Service changed
 * between read and update (retry later).
 */
export type ClearResult =
  | { readonly kind: 'ok'; readonly remaining: readonly number[]; readonly object: GatewayService }
  | { readonly kind: 'gone' }
  | { readonly kind: 'conflict'; readonly message: string }
  | { readonly kind: 'failed'; readonly message: string };

/** The writes of the gateway controller; each call is at most two requests (clearNodePorts: GET then PUT). */
export interface GatewayWriter {
  /** Server-side apply of exactly `fields` as GATEWAY_FIELD_MANAGER (no force): fields we owned and left out are released. */
  applyService(ref: ServiceRef, fields: AppliedFields): Promise<ApplyResult>;
  /**
   * GET, then PUT guarded by its resourceVersion: sets the given spec fields and, with `clearNodePorts`, removes
   * `ports[].nodePort` (never healthCheckNodePort). Why an update and not only the apply: the Service's creator owns
   * the defaulted `allocateLoadBalancerNodePorts: true` and `externalTrafficPolicy: Cluster` (an apply with another
   * value conflicts, seen on v1.34); an update takes them over, after which our apply of the same values co-owns them.
   */
  guardedUpdate(ref: ServiceRef, change: SpecChange): Promise<ClearResult>;
  /** Merge patch of the integration's status. */
  integrationStatus(name: string, status: GatewayIntegrationStatus): Promise<WriteResult<GatewayIntegration>>;
}

/** What a guarded update changes. */
export interface SpecChange {
  readonly clearNodePorts: boolean;
  readonly allocateLoadBalancerNodePorts?: false;
  readonly externalTrafficPolicy?: 'Cluster' | 'Local';
}

/** Path of one Service. */
export function servicePath(namespace: string, name: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(name)}`;
}

/**
 * The apply body for `fields`: name and namespace, the uid (so the apiserver refuses a recreated Service of that name;
 * an absent one it would otherwise create), and only the fields we own.
 */
export function serviceApplyBody(ref: ServiceRef, fields: AppliedFields): Record<string, unknown> {
  const metadata: Record<string, unknown> = { name: ref.name, namespace: ref.namespace };
  if (ref.uid !== undefined) metadata.uid = ref.uid;
  if (fields.annotations && Object.keys(fields.annotations).length > 0) metadata.annotations = { ...fields.annotations };
  const spec: Record<string, unknown> = {};
  if (fields.allocateLoadBalancerNodePorts !== undefined) spec.allocateLoadBalancerNodePorts = fields.allocateLoadBalancerNodePorts;
  if (fields.externalTrafficPolicy !== undefined) spec.externalTrafficPolicy = fields.externalTrafficPolicy;
  return { apiVersion: 'v1', kind: 'Service', metadata, ...(Object.keys(spec).length > 0 ? { spec } : {}) };
}

/**
 * A full Service (as GET returns it) with `ports[].nodePort` removed and `allocateLoadBalancerNodePorts: false`, for
 * an update guarded by its resourceVersion. `healthCheckNodePort` stays: kube-proxy health checks need it.
 */
export function withoutNodePorts(svc: Record<string, unknown>): Record<string, unknown> {
  return withSpecChange(svc, { clearNodePorts: true, allocateLoadBalancerNodePorts: false });
}

/** A full Service with `change` made (see {@link GatewayWriter.guardedUpdate}); everything else as read. */
export function withSpecChange(svc: Record<string, unknown>, change: SpecChange): Record<string, unknown> {
  const spec = { ...(svc.spec as Record<string, unknown> | undefined) };
  if (change.clearNodePorts) {
    const ports = Array.isArray(spec.ports) ? (spec.ports as Record<string, unknown>[]) : [];
    spec.ports = ports.map((p) => { const q = { ...p }; delete q.nodePort; return q; });
  }
  if (change.allocateLoadBalancerNodePorts !== undefined) spec.allocateLoadBalancerNodePorts = change.allocateLoadBalancerNodePorts;
  if (change.externalTrafficPolicy !== undefined) {
    spec.externalTrafficPolicy = change.externalTrafficPolicy;
    if (change.externalTrafficPolicy === 'Cluster') delete spec.healthCheckNodePort; // only valid with Local
  }
  return { ...svc, spec };
}

/** Whether a full Service already shows what `change` asks (then no update is needed). */
function showsChange(svc: Record<string, unknown>, change: SpecChange): boolean {
  const spec = (svc.spec ?? {}) as { allocateLoadBalancerNodePorts?: boolean; externalTrafficPolicy?: string };
  if (change.clearNodePorts && nodePortsOf(trimGatewayService(svc)).length > 0) return false;
  if (change.allocateLoadBalancerNodePorts !== undefined && spec.allocateLoadBalancerNodePorts !== change.allocateLoadBalancerNodePorts) return false;
  if (change.externalTrafficPolicy !== undefined && spec.externalTrafficPolicy !== change.externalTrafficPolicy) return false;
  return true;
}

/** The nodePorts a Service still has (`ports[].nodePort`, not healthCheckNodePort). */
export function nodePortsOf(svc: GatewayService): number[] {
  return (svc.spec?.ports ?? []).map((p) => p.nodePort).filter((n): n is number => typeof n === 'number' && n > 0);
}

interface RawManagedField { manager?: string; operation?: string; fieldsV1?: unknown }

/** Our entries of `metadata.managedFields` (what GATEWAY_FIELD_MANAGER owns). */
export function ownManagedFields(obj: Record<string, unknown>): RawManagedField[] {
  const meta = obj.metadata as { managedFields?: RawManagedField[] } | undefined;
  return (meta?.managedFields ?? []).filter((m) => m.manager === GATEWAY_FIELD_MANAGER).map((m) => ({
    ...(m.manager !== undefined ? { manager: m.manager } : {}), ...(m.operation !== undefined ? { operation: m.operation } : {}),
    ...(m.fieldsV1 !== undefined ? { fieldsV1: m.fieldsV1 } : {}),
  }));
}

/**
 * The Service as the gateway controller caches it: a new object with only the fields the planner and the shell read
 * (nodePorts, allocateLoadBalancerNodePorts, externalTrafficPolicy, healthCheckNodePort, labels, annotations,
 * ownerReferences, status ingress) and of managedFields only our entries. `managed` overrides the managedFields taken
 * from `obj` (the informer drops them before its transform; see {@link gatewayServiceInformer}).
 */
export function trimGatewayService(obj: Record<string, unknown>, managed: RawManagedField[] = ownManagedFields(obj)): GatewayService {
  const m = (obj.metadata ?? {}) as Record<string, unknown>;
  const s = (obj.spec ?? {}) as Record<string, unknown>;
  const st = (obj.status ?? {}) as { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
  const metadata: GatewayService['metadata'] = { name: m.name as string };
  const copy = (k: string): void => { if (m[k] !== undefined) (metadata as unknown as Record<string, unknown>)[k] = m[k]; };
  for (const k of ['namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'labels', 'ownerReferences'] as const) copy(k);
  if (m.annotations !== undefined) {
    // kubectl's last-applied copy is often larger than the rest of the Service; never read here
    const a = { ...(m.annotations as Record<string, string>) };
    Reflect.deleteProperty(a, 'kubectl.kubernetes.io/last-applied-configuration');
    metadata.annotations = a;
  }
  if (managed.length > 0) metadata.managedFields = managed;
  const spec: NonNullable<GatewayService['spec']> = {};
  for (const k of ['type', 'loadBalancerClass', 'loadBalancerIP', 'ipFamilies', 'allocateLoadBalancerNodePorts', 'externalTrafficPolicy', 'healthCheckNodePort'] as const) {
    if (s[k] !== undefined) (spec as Record<string, unknown>)[k] = s[k];
  }
  if (Array.isArray(s.ports)) {
    spec.ports = (s.ports as Record<string, unknown>[]).map((p) => {
      const q: NonNullable<NonNullable<GatewayService['spec']>['ports']>[number] = { port: p.port as number };
      if (typeof p.name === 'string') q.name = p.name;
      if (typeof p.protocol === 'string') q.protocol = p.protocol;
      if (typeof p.nodePort === 'number') q.nodePort = p.nodePort;
      if (p.targetPort !== undefined) q.targetPort = p.targetPort as number | string;
      return q;
    });
  }
  const out: GatewayService = { metadata, spec };
  const ingress = st.loadBalancer?.ingress;
  if (ingress && ingress.length > 0) out.status = { loadBalancer: { ingress: ingress.map((i) => ({ ...(i.ip !== undefined ? { ip: i.ip } : {}), ...(i.hostname !== undefined ? { hostname: i.hostname } : {}) })) } };
  return out;
}

/** Moves our managedFields entries of a decoded Service to KEPT_FIELDS, where the informer leaves them. */
function keepOwnFields(obj: unknown): void {
  if (obj === null || typeof obj !== 'object') return;
  const o = obj as Record<string, unknown>;
  const kept = ownManagedFields(o);
  if (kept.length > 0) o[KEPT_FIELDS] = kept;
}

/**
 * The client the Service informer uses: the informer always drops managedFields (memory), but the controller needs
 * to know which Services we own fields on; this wrapper keeps our entries aside before the informer sees the object.
 */
function keepingClient(client: InformerClient): InformerClient {
  return {
    request: async <T>(...args: Parameters<InformerClient['request']>): Promise<ApiResponse<T>> => {
      const r = await client.request<T>(...args);
      const items = (r.body as { items?: unknown[] } | undefined)?.items;
      if (Array.isArray(items)) for (const i of items) keepOwnFields(i);
      return r;
    },
    watch: <T>(path: string, onEvent: (e: WatchEvent<T>) => void, onEnd: (err?: Error) => void, onHeard?: () => void) =>
      client.watch<T>(path, (e) => { keepOwnFields(e.object); onEvent(e); }, onEnd, onHeard),
  };
}

/** Common informer settings of the gateway shell. */
export interface GatewayCacheOptions {
  readonly log: Logger;
  readonly clock?: Clock;
}

/** Every Service of the cluster, trimmed by {@link trimGatewayService}, our managedFields entries kept. */
export function gatewayServiceInformer(client: InformerClient, o: GatewayCacheOptions): Informer<GatewayService & KObject> {
  return new Informer<GatewayService & KObject>(keepingClient(client), {
    path: '/api/v1/services', log: o.log, ...(o.clock ? { clock: o.clock } : {}),
    transform: (obj) => {
      const kept = obj[KEPT_FIELDS] as RawManagedField[] | undefined;
      return trimGatewayService(obj, kept ?? ownManagedFields(obj)) as unknown as Record<string, unknown>;
    },
  });
}

/** Every GatewayIntegration (few, kept whole). */
export function integrationInformer(client: InformerClient, o: GatewayCacheOptions): Informer<GatewayIntegration & KObject> {
  return new Informer<GatewayIntegration & KObject>(client, { path: INTEGRATIONS_PATH, log: o.log, ...(o.clock ? { clock: o.clock } : {}) });
}

/** Every Namespace, only name, resourceVersion and labels kept. */
export function namespaceInformer(client: InformerClient, o: GatewayCacheOptions): Informer<NamespaceObject> {
  return new Informer<NamespaceObject>(client, {
    path: '/api/v1/namespaces', log: o.log, ...(o.clock ? { clock: o.clock } : {}),
    transform: (obj) => {
      const m = obj.metadata as NamespaceObject['metadata'];
      return { metadata: { name: m.name, ...(m.resourceVersion !== undefined ? { resourceVersion: m.resourceVersion } : {}), ...(m.labels ? { labels: m.labels } : {}) } };
    },
  });
}

/** How often the Gateway API discovery is asked again while it is not served (CRDs installed later are picked up). */
export const GATEWAY_API_RECHECK_MS = 60_000;

/**
 * Gateways, when the Gateway API is served: a {@link CacheSource} that is synced (empty) at once when discovery says
 * the API is absent, asks discovery again every {@link GATEWAY_API_RECHECK_MS}, and starts a real informer once it is
 * there (its objects then arrive as changes). An API that goes away later keeps its informer (it backs off and retries).
 */
export class GatewayCache implements CacheSource<GatewayObject & KObject> {
  private informer: Informer<GatewayObject & KObject> | undefined;
  private readonly handlers: ChangeHandler<GatewayObject & KObject>[] = [];
  private timer: Timer | undefined;
  private running = false;
  private syncedResolve!: () => void;
  private readonly clock: Clock;
  /** Resolves after the first discovery answer says absent, or the informer's first list. */
  readonly synced: Promise<void> = new Promise((r) => { this.syncedResolve = r; });

  constructor(private readonly client: InformerClient, private readonly o: GatewayCacheOptions & { recheckMs?: number }) {
    this.clock = o.clock ?? realClock;
  }

  /** Whether the Gateway API was found served (and the informer runs). */
  served(): boolean {
    return this.informer !== undefined;
  }

  onChange(h: ChangeHandler<GatewayObject & KObject>): void {
    this.handlers.push(h);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.informer) { this.informer.start(); return; }
    void this.discover();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.informer?.stop();
  }

  get(key: string): (GatewayObject & KObject) | undefined {
    return this.informer?.get(key);
  }

  list(): (GatewayObject & KObject)[] {
    return this.informer?.list() ?? [];
  }

  update(obj: GatewayObject & KObject): void {
    this.informer?.update(obj);
  }

  health(): Health {
    if (!this.informer) return { ok: true };
    return this.informer.healthy() ? { ok: true } : { ok: false, reason: `gateways cache stale for ${Math.round(this.informer.staleForMs())} ms` };
  }

  private async discover(): Promise<void> {
    let served: boolean | undefined;
    try {
      const r = await this.client.request('GET', GATEWAY_API_DISCOVERY, undefined, undefined, { timeoutMs: TIMEOUT_MS });
      if (r.status === 200) {
        const res = (r.body as { resources?: { name?: string }[] }).resources ?? [];
        served = res.some((x) => x.name === 'gateways');
      } else if (r.status === 404) served = false;
    } catch (e) {
      this.o.log.warn({ event: 'gateway_api_discovery_failed', err: String(e) }, 'Gateway API discovery failed; retrying');
    }
    if (!this.running) return;
    if (served === true) {
      const inf = new Informer<GatewayObject & KObject>(this.client, { path: GATEWAYS_PATH, log: this.o.log, ...(this.o.clock ? { clock: this.o.clock } : {}) });
      inf.onChange((k, obj, old) => { for (const h of this.handlers) h(k, obj, old); });
      this.informer = inf;
      inf.synced.then(() => { this.syncedResolve(); }, () => undefined);
      this.o.log.info({ event: 'gateway_api_served' }, 'Gateway API is served; watching Gateways');
      inf.start();
      return;
    }
    if (served === false) this.syncedResolve();
    this.timer = this.clock.setTimeout(() => { void this.discover(); }, served === false ? (this.o.recheckMs ?? GATEWAY_API_RECHECK_MS) : 5_000);
  }
}

/** The REST {@link GatewayWriter}. Never throws. */
export class RestGatewayWriter implements GatewayWriter {
  /** Requests made (every method, reads included), for tests that count what a pass costs. */
  requests = 0;

  constructor(private readonly client: Requester, private readonly fieldManager: string = GATEWAY_FIELD_MANAGER) {}

  async applyService(ref: ServiceRef, fields: AppliedFields): Promise<ApplyResult> {
    const r = await this.send<Record<string, unknown>>('PATCH', `${servicePath(ref.namespace, ref.name)}?fieldManager=${encodeURIComponent(this.fieldManager)}`,
      serviceApplyBody(ref, fields), APPLY_PATCH);
    if (r.kind === 'failed') return r;
    const a = r.value;
    if (a.status === 200 || a.status === 201) return { kind: 'ok', object: trimGatewayService(a.body) };
    if (a.status === 404 || uidMismatch(a)) return { kind: 'gone' };
    if (a.status === 409) return { kind: 'conflict', message: statusMessage(a) };
    return { kind: 'failed', message: statusMessage(a) };
  }

  async guardedUpdate(ref: ServiceRef, change: SpecChange): Promise<ClearResult> {
    const path = servicePath(ref.namespace, ref.name);
    const g = await this.send<Record<string, unknown>>('GET', path);
    if (g.kind === 'failed') return g;
    if (g.value.status === 404) return { kind: 'gone' };
    if (g.value.status !== 200) return { kind: 'failed', message: statusMessage(g.value) };
    const fresh = g.value.body;
    const meta = fresh.metadata as { uid?: string } | undefined;
    if (ref.uid !== undefined && meta?.uid !== ref.uid) return { kind: 'gone' };
    if (showsChange(fresh, change)) { const obj = trimGatewayService(fresh); return { kind: 'ok', remaining: nodePortsOf(obj), object: obj }; }
    const u = await this.send<Record<string, unknown>>('PUT', `${path}?fieldManager=${encodeURIComponent(this.fieldManager)}`, withSpecChange(fresh, change));
    if (u.kind === 'failed') return u;
    if (u.value.status === 200) { const obj = trimGatewayService(u.value.body); return { kind: 'ok', remaining: nodePortsOf(obj), object: obj }; }
    if (u.value.status === 404) return { kind: 'gone' };
    if (u.value.status === 409) return { kind: 'conflict', message: statusMessage(u.value) };
    return { kind: 'failed', message: statusMessage(u.value) };
  }

  async integrationStatus(name: string, status: GatewayIntegrationStatus): Promise<WriteResult<GatewayIntegration>> {
    const r = await this.send<GatewayIntegration>('PATCH', `${INTEGRATIONS_PATH}/${encodeURIComponent(name)}/status?fieldManager=${encodeURIComponent(this.fieldManager)}`,
      { status }, MERGE_PATCH);
    if (r.kind === 'failed') return r;
    if (r.value.status === 200) return { kind: 'ok', object: r.value.body };
    if (r.value.status === 404) return { kind: 'gone' };
    return { kind: 'failed', message: statusMessage(r.value) };
  }

  private async send<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<{ kind: 'ok'; value: ApiResponse<T> } | { kind: 'failed'; message: string }> {
    this.requests++;
    try {
      return { kind: 'ok', value: await this.client.request<T>(method, path, body, contentType, { timeoutMs: TIMEOUT_MS }) };
    } catch (e) {
      return { kind: 'failed', message: e instanceof Error ? e.message : String(e) };
    }
  }
}

/** The apiserver's answer to a uid precondition that does not hold (the Service was deleted and made again). */
function uidMismatch(r: ApiResponse): boolean {
  return (r.status === 409 || r.status === 422) && /uid/i.test(statusMessage(r)) && /precondition|immutable|mismatch/i.test(statusMessage(r));
}

/**
 * The caches every replica keeps: the mutating webhook answers on every replica, the controller runs on the leader
 * only, and both read GatewayIntegrations, Namespace labels and Gateways (when served). Started once per process;
 * the leader's controller reads the same caches (plus a Service cache of its own).
 */
export class GatewayCaches {
  readonly integrations: Informer<GatewayIntegration & KObject>;
  readonly namespaces: Informer<NamespaceObject>;
  readonly gateways: GatewayCache;
  private ready = false;
  /** Resolves once every cache listed once. */
  readonly synced: Promise<void>;

  constructor(client: InformerClient, o: GatewayCacheOptions) {
    this.integrations = integrationInformer(client, o);
    this.namespaces = namespaceInformer(client, o);
    this.gateways = new GatewayCache(client, o);
    this.synced = Promise.all([this.integrations.synced, this.namespaces.synced, this.gateways.synced]).then(() => { this.ready = true; });
  }

  start(): void {
    this.integrations.start();
    this.namespaces.start();
    this.gateways.start();
  }

  stop(): void {
    this.integrations.stop();
    this.namespaces.stop();
    this.gateways.stop();
  }

  /** A namespace's labels; undefined for a namespace not (yet) seen. */
  readonly namespaceLabels = (ns: string): Readonly<Record<string, string>> | undefined => this.namespaces.get(ns)?.metadata.labels;

  /**
   * What the mutating webhook decides from, or undefined until every cache listed once (the mutator then answers
   * `[]` and the leader's controller sets the fields a moment later).
   */
  mutationWorld(): MutationWorld | undefined {
    if (!this.ready) return undefined;
    return { integrations: this.integrations.list(), namespaceLabels: this.namespaceLabels, gateways: this.gateways.list() };
  }
}
