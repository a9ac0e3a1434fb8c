/**
 * The address controller: Kubernetes state in (Services, IPAddressPools, Namespaces), a pure decision
 * by the allocator, effects out (Service status, the pool annotation, events, pool status). All state
 * lives in the cluster: on start the allocator is rebuilt from Service statuses, oldest first, before
 * anything new is allocated, so a restart changes no address and writes nothing.
 */
import { ALLOCATED_FROM_POOL, API_VERSION, CONTROLLER_NAME, EventReasons, GROUP, Kinds, ServiceAnnotations, VERSION } from '../api/keys.ts';
import { PoolConditions, type IPAddressPool } from '../api/ipaddresspool.ts';
import type { Condition } from '../api/types.ts';
import { statusMessage, type KubeClient } from '../k8s/client.ts';
import { EventRecorder } from '../k8s/events.ts';
import { Informer } from '../k8s/informer.ts';
import { WorkQueue, type Outcome } from '../k8s/workqueue.ts';
import type { Logger } from '../log.ts';
import { allocations, apiWrites, poolAddresses } from '../metrics/metrics.ts';
import { Allocator, type AllocationRequest, type Assigned } from './allocator.ts';
import { formatIP } from './ipnet.ts';
import { findOverlaps, poolFromObject, type Pool } from './pool.ts';
import { isOurs, isRequestError, requestFor, serviceKey, statusIPs, type Service } from './service.ts';

interface Namespace {
  metadata: { name: string; labels?: Record<string, string>; resourceVersion?: string };
}

/** Controller settings. */
export interface ControllerOptions {
  client: KubeClient;
  log: Logger;
  /** Only Services with `loadBalancerClass: baregate.io/lb` (default: also Services with no class). */
  onlyOwnClass?: boolean;
  concurrency?: number;
  /** Delay before pool status is written after a change, batching bursts. */
  poolStatusDelayMs?: number;
}

const POOL_KEY = '\0pools';
const poolPath = `/apis/${GROUP}/${VERSION}/${Kinds.IPAddressPool.plural}`;

/** See the module comment. */
export class AddressController {
  readonly allocator = new Allocator();
  readonly services: Informer<Service>;
  readonly pools: Informer<IPAddressPool>;
  readonly namespaces: Informer<Namespace>;
  readonly events: EventRecorder;
  private readonly queue: WorkQueue;
  private readonly failed = new Set<string>();
  /** Why a Service's addresses changed, kept until the change is written and announced. */
  private readonly pendingWhy = new Map<string, string>();
  private readonly dirtyPools = new Set<string>();
  private poolTimer: NodeJS.Timeout | undefined;
  private running = false;
  /** Writes made to Services (status + annotation patches), for tests and the benchmark. */
  serviceWrites = 0;

  constructor(private readonly o: ControllerOptions) {
    const log = o.log;
    this.services = new Informer<Service>(o.client, { path: '/api/v1/services', log, strip: trimService });
    this.pools = new Informer<IPAddressPool>(o.client, { path: poolPath, log });
    this.namespaces = new Informer<Namespace>(o.client, { path: '/api/v1/namespaces', log });
    this.events = new EventRecorder(o.client, CONTROLLER_NAME, log);
    this.queue = new WorkQueue((k) => this.process(k), { log, concurrency: o.concurrency ?? 16, minRetryMs: 200, maxRetryMs: 30_000 });
    this.services.onChange((key) => { this.queue.add(key); });
    this.pools.onChange(() => { this.queue.add(POOL_KEY, true); });
    this.namespaces.onChange((ns, obj, old) => {
      if (JSON.stringify(obj?.metadata.labels) === JSON.stringify(old?.metadata.labels)) return;
      for (const s of this.services.list()) if (s.metadata.namespace === ns) this.queue.add(serviceKey(s));
    });
  }

  /** Starts informers, rebuilds state from the cluster, then starts processing. */
  async start(): Promise<void> {
    this.running = true;
    this.services.start();
    this.pools.start();
    this.namespaces.start();
    await Promise.all([this.services.synced, this.pools.synced, this.namespaces.synced]);
    if (!this.isRunning()) return;
    this.applyPools();
    const restored = this.restore();
    this.o.log.info({ event: 'restored', services: restored, pools: this.allocator.poolNames().length }, 'rebuilt allocations from Service status');
    for (const s of this.services.list()) this.queue.add(serviceKey(s));
    this.queue.start();
  }

  /** Re-read after awaits: stop() may have run meanwhile. */
  private isRunning(): boolean {
    return this.running;
  }

  /** Stops all watches and processing. */
  stop(): void {
    this.running = false;
    this.queue.stop();
    this.services.stop();
    this.pools.stop();
    this.namespaces.stop();
    clearTimeout(this.poolTimer);
  }

  /** Resolves when the queue has nothing left to do (tests). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Adopts the addresses in Service statuses, oldest Service first, before any new allocation. */
  private restore(): number {
    const withIPs = this.services.list()
      .filter((s) => isOurs(s, this.o.onlyOwnClass ?? false) && !s.metadata.deletionTimestamp && statusIPs(s).length > 0)
      .sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || serviceKey(a).localeCompare(serviceKey(b)));
    let adopted = 0;
    for (const s of withIPs) {
      const req = this.requestOrFallback(s);
      if (req && this.allocator.adopt(req, statusIPs(s))) adopted++;
    }
    return adopted;
  }

  /** The Service's request; when its annotations are broken, a request without them, so its addresses stay protected. */
  private requestOrFallback(s: Service): AllocationRequest | undefined {
    const ns = this.namespaces.get(s.metadata.namespace ?? '')?.metadata.labels ?? {};
    const req = requestFor(s, ns);
    if (!isRequestError(req)) return req;
    const annotations = { ...s.metadata.annotations };
    for (const keys of Object.values(ServiceAnnotations)) for (const k of keys) Reflect.deleteProperty(annotations, k);
    const plain = requestFor({ ...s, metadata: { ...s.metadata, annotations }, spec: { ...s.spec, loadBalancerIP: '' } }, ns);
    return isRequestError(plain) ? undefined : plain;
  }

  private applyPools(): void {
    const pools = this.pools.list().filter((p) => !p.metadata.deletionTimestamp).map(poolFromObject);
    this.allocator.setPools(pools);
    const overlaps = findOverlaps(pools);
    for (const p of pools) this.markPool(p.name);
    this.poolOverlaps = overlaps;
    this.poolObjects = new Map(pools.map((p) => [p.name, p]));
  }

  private poolOverlaps: ReturnType<typeof findOverlaps> = [];
  private poolObjects = new Map<string, Pool>();

  private async process(key: string): Promise<Outcome> {
    if (!this.running) return 'ok';
    if (key === POOL_KEY) {
      this.applyPools();
      for (const s of this.services.list()) this.queue.add(serviceKey(s));
      return 'ok';
    }
    return this.reconcile(key);
  }

  private async reconcile(key: string): Promise<Outcome> {
    const svc = this.services.get(key);
    if (!svc || svc.metadata.deletionTimestamp || !isOurs(svc, this.o.onlyOwnClass ?? false)) return this.releaseService(key, svc);
    const ns = this.namespaces.get(svc.metadata.namespace ?? '')?.metadata.labels ?? {};
    const tracked = this.allocator.assignedTo(key).length > 0;
    const req = requestFor(svc, ns);
    if (isRequestError(req)) {
      // protect what the status shows (no new allocation for a request we cannot read)
      if (!tracked) { const fb = this.requestOrFallback(svc); if (fb) this.allocator.adopt(fb, statusIPs(svc)); }
      const kept = this.allocator.assignedTo(key);
      this.fail(svc, req.reason + (kept.length > 0 ? `; keeping ${kept.map((a) => a.ip).join(', ')}` : ''));
      return this.write(svc, kept);
    }
    const res = this.allocator.assign(req, tracked ? [] : statusIPs(svc));
    const want = res.status === 'ok' ? res.ips : res.kept;
    for (const a of want) this.markPool(a.pool);
    if (res.status === 'ok' && res.why !== undefined) this.pendingWhy.set(key, res.why);
    // what users see is the status: an event is due when it changes, also after a retried write
    const shown = statusIPs(svc).map(formatIP);
    const changed = want.length !== shown.length || want.some((a) => !shown.includes(a.ip));
    const out = await this.write(svc, want);
    if (out !== 'ok') return out;
    const why = this.pendingWhy.get(key);
    this.pendingWhy.delete(key);
    if (res.status === 'ok') {
      this.failed.delete(key);
      allocations.inc({ result: changed ? 'allocated' : 'unchanged' });
      if (changed) {
        const ips = res.ips.map((a) => a.ip).join(', ');
        const pools = [...new Set(res.ips.map((a) => a.pool))].join(', ');
        if (why !== undefined && shown.length > 0) this.event(svc, 'Normal', EventReasons.IPReallocated, `Re-allocated ${ips} from pool ${pools}: ${why}`);
        else this.event(svc, 'Normal', EventReasons.IPAllocated, `Assigned IP ${ips} from pool ${pools}`);
      }
    } else {
      this.fail(svc, res.reason + (res.kept.length > 0 ? `; keeping ${res.kept.map((a) => a.ip).join(', ')}` : ''));
    }
    return 'ok';
  }

  private fail(svc: Service, reason: string): void {
    this.failed.add(serviceKey(svc));
    allocations.inc({ result: 'failed' });
    this.event(svc, 'Warning', EventReasons.AllocationFailed, reason);
  }

  private async releaseService(key: string, svc: Service | undefined): Promise<Outcome> {
    const released = this.allocator.release(key);
    this.failed.delete(key);
    if (released.length === 0) return 'ok';
    allocations.inc({ result: 'released' });
    for (const a of released) this.markPool(a.pool);
    // freed addresses may satisfy Services that are waiting
    for (const k of this.failed) this.queue.add(k);
    if (!svc) {
      const [ns = '', name = ''] = key.split('/');
      this.events.forget('Service', ns, name);
      return 'ok';
    }
    this.event(svc, 'Normal', EventReasons.IPReleased, `Released ${released.map((a) => a.ip).join(', ')}`);
    if (svc.metadata.deletionTimestamp) return 'ok';
    return this.write(svc, []);
  }

  /** Brings status.loadBalancer.ingress and the pool annotation in line with `want`; writes only differences. */
  private async write(svc: Service, want: readonly Assigned[]): Promise<Outcome> {
    const base = `/api/v1/namespaces/${svc.metadata.namespace ?? ''}/services/${svc.metadata.name}`;
    const have = (svc.status?.loadBalancer?.ingress ?? []).map((i) => `${i.ip ?? ''}|${i.ipMode ?? ''}`);
    const desired = want.map((a) => ({ ip: a.ip, ipMode: 'VIP' }));
    try {
      if (have.join(',') !== desired.map((d) => `${d.ip}|${d.ipMode}`).join(',')) {
        const r = await this.o.client.request('PATCH', `${base}/status?fieldManager=${CONTROLLER_NAME}`,
          { status: { loadBalancer: { ingress: desired.length > 0 ? desired : null } } }, 'application/merge-patch+json');
        if (r.status === 404) return 'ok';
        if (r.status !== 200) { this.o.log.warn({ event: 'status_write_failed', svc: serviceKey(svc), err: statusMessage(r) }, 'status write failed'); return 'retry'; }
        this.services.update(r.body as Service);
        this.serviceWrites++;
        apiWrites.inc({ kind: 'service_status' });
      }
      const pools = [...new Set(want.map((a) => a.pool).filter((p) => p !== ''))].join(',');
      const current = svc.metadata.annotations?.[ALLOCATED_FROM_POOL];
      if ((current ?? '') !== pools) {
        const r = await this.o.client.request('PATCH', `${base}?fieldManager=${CONTROLLER_NAME}`,
          { metadata: { annotations: { [ALLOCATED_FROM_POOL]: pools === '' ? null : pools } } }, 'application/merge-patch+json');
        if (r.status === 404) return 'ok';
        if (r.status !== 200) { this.o.log.warn({ event: 'annotation_write_failed', svc: serviceKey(svc), err: statusMessage(r) }, 'annotation write failed'); return 'retry'; }
        this.services.update(r.body as Service);
        this.serviceWrites++;
        apiWrites.inc({ kind: 'service_annotation' });
      }
      return 'ok';
    } catch (e) {
      this.o.log.warn({ event: 'api_unreachable', svc: serviceKey(svc), err: String(e) }, 'write failed; will retry');
      return 'retry';
    }
  }

  private event(svc: Service, type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.events.record({ apiVersion: 'v1', kind: 'Service', metadata: svc.metadata }, type, reason, message);
  }

  private markPool(name: string): void {
    if (name === '') return;
    this.dirtyPools.add(name);
    if (this.poolTimer) return;
    this.poolTimer = setTimeout(() => { this.poolTimer = undefined; void this.flushPoolStatus(); }, this.o.poolStatusDelayMs ?? 500);
  }

  /** Writes counts and conditions to the status of every changed pool. */
  private async flushPoolStatus(): Promise<void> {
    const names = [...this.dirtyPools];
    this.dirtyPools.clear();
    for (const name of names) {
      const obj = this.pools.get(name);
      const pool = this.poolObjects.get(name);
      const usage = this.allocator.poolUsage(name);
      if (!obj || !pool || !usage) continue;
      const overlaps = this.poolOverlaps.filter((o) => o.a === name || o.b === name);
      const status = {
        assignedIPv4: usage.IPv4.assigned.toString(), availableIPv4: usage.IPv4.available.toString(),
        assignedIPv6: usage.IPv6.assigned.toString(), availableIPv6: usage.IPv6.available.toString(),
        observedGeneration: obj.metadata.generation,
        conditions: [
          this.condition(obj, PoolConditions.Valid, pool.errors.length === 0, pool.errors.length === 0 ? 'AddressesParsed' : 'InvalidAddresses', pool.errors.join('; ') || 'all addresses are valid'),
          this.condition(obj, PoolConditions.Overlap, overlaps.length > 0, overlaps.length > 0 ? 'OverlapsOtherPool' : 'NoOverlap',
            overlaps.length > 0 ? `shares ${overlaps.map((o) => o.family).join('/')} addresses with pool ${overlaps.map((o) => (o.a === name ? o.b : o.a)).join(', ')}` : 'no other pool shares addresses with this one'),
        ],
      };
      for (const f of ['IPv4', 'IPv6'] as const) {
        poolAddresses.set({ pool: name, family: f, state: 'assigned' }, Number(usage[f].assigned));
        poolAddresses.set({ pool: name, family: f, state: 'available' }, Number(usage[f].available));
      }
      const target = { apiVersion: API_VERSION, kind: Kinds.IPAddressPool.kind, metadata: obj.metadata };
      if (overlaps.length > 0) this.events.record(target, 'Warning', EventReasons.PoolOverlap, status.conditions[1]?.message ?? '');
      if (pool.errors.length > 0) this.events.record(target, 'Warning', EventReasons.PoolInvalid, pool.errors.join('; '));
      if (JSON.stringify(stripTimes(obj.status)) === JSON.stringify(stripTimes(status))) continue;
      try {
        const r = await this.o.client.request('PATCH', `${poolPath}/${name}/status?fieldManager=${CONTROLLER_NAME}`, { status }, 'application/merge-patch+json');
        if (r.status !== 200 && r.status !== 404) { this.o.log.warn({ event: 'pool_status_failed', pool: name, err: statusMessage(r) }, 'pool status write failed'); this.markPool(name); }
        else apiWrites.inc({ kind: 'pool_status' });
      } catch (e) {
        this.o.log.warn({ event: 'pool_status_failed', pool: name, err: String(e) }, 'pool status write failed');
        this.markPool(name);
      }
    }
  }

  private condition(obj: IPAddressPool, type: string, isTrue: boolean, reason: string, message: string): Condition {
    const prev = obj.status?.conditions?.find((c) => c.type === type);
    const status = isTrue ? 'True' : 'False';
    const c: Condition = { type, status, reason, message, lastTransitionTime: prev?.status === status ? prev.lastTransitionTime : new Date().toISOString() };
    if (obj.metadata.generation !== undefined) c.observedGeneration = obj.metadata.generation;
    return c;
  }
}

/**
 * Drops what the controller never reads from cached Services (writes are merge patches of single
 * fields, so the cache need not be complete). kubectl's last-applied annotation alone is often larger
 * than the rest of the object; at 10k Services this is tens of MiB.
 */
function trimService(o: Record<string, unknown>): void {
  const s = o as unknown as Service & { spec?: Record<string, unknown> };
  if (s.metadata.annotations) Reflect.deleteProperty(s.metadata.annotations, 'kubectl.kubernetes.io/last-applied-configuration');
  if (s.spec) {
    for (const k of ['clusterIP', 'clusterIPs', 'sessionAffinity', 'sessionAffinityConfig', 'internalTrafficPolicy', 'healthCheckNodePort']) Reflect.deleteProperty(s.spec, k);
    if (s.spec.ports) s.spec.ports = s.spec.ports.map((p) => ({ port: p.port, ...(p.protocol !== undefined ? { protocol: p.protocol } : {}) }));
  }
}

function stripTimes(s: unknown): unknown {
  return JSON.parse(JSON.stringify(s ?? {}, (k, v: unknown) => (k === 'lastTransitionTime' ? undefined : v)));
}
