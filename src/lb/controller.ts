/**
 * The address controller: Kubernetes state in (Services, IPAddressPools, Namespaces), a pure decision
 * by the allocator, effects out (Service status, the pool annotation, events, pool status). All state
 * lives in the cluster: on start the allocator is rebuilt from Service statuses, oldest first, before
 * anything new is allocated, so a restart changes no address and writes nothing.
 *
 * Announcement coverage: the controller also watches L2Advertisements, BGPAdvertisements and BGPPeers,
 * parses them with the speaker's parseConfig(), and tells a Service holding addresses from a pool that
 * no usable advertisement covers so (one `NotAnnounced` Warning per change from covered to not
 * covered). Those objects never re-run allocation: an advertisement change costs events only.
 *
 * Effects go through ports (a status writer, an event recorder; src/k8s/ports.ts) and state comes in
 * through cache sources, all injectable with a clock, so the logic here is unit-tested with recording
 * fakes and no API server.
 */
import { ALLOCATED_FROM_POOL, ALLOCATION_PAUSED_ANNOTATION, API_VERSION, CONTROLLER_NAME, EventReasons, GROUP, Kinds, LOAD_BALANCER_CLASS, ServiceAnnotations, SYSTEM_NAMESPACE, VERSION } from '../api/keys.ts';
import { PoolConditions, type IPAddressPool } from '../api/ipaddresspool.ts';
import type { Condition } from '../api/types.ts';
import { realClock, type Clock, type Timer } from '../clock.ts';
import type { KubeClient } from '../k8s/client.ts';
import { announcedPools, parseConfig } from '../config/config.ts';
import { ApiEventRecorder } from '../k8s/events.ts';
import { Informer, type KObject } from '../k8s/informer.ts';
import { RestStatusWriter, type CacheSource, type EventRecorder, type EventType, type Health, type StatusWriter } from '../k8s/ports.ts';
import { semanticEqual } from '../k8s/semantic.ts';
import { WorkQueue, type Outcome } from '../k8s/workqueue.ts';
import type { Logger } from '../log.ts';
import { allocationPaused, allocations, apiWrites, poolAddresses, reconciles } from '../metrics/metrics.ts';
import { Allocator, type AllocationRequest, type Assigned } from './allocator.ts';
import { formatIP, parseIP } from '../net/ip.ts';
import { findOverlaps, poolContains, poolFromObject, type Pool } from './pool.ts';
import { deprecatedAnnotations, isOurs, isRequestError, requestFor, serviceKey, statusIPs, type Service } from './service.ts';

/** The parts of a Namespace the controller reads (labels, for pools' namespace selectors; the pause annotation of its own). */
export interface NamespaceObject {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string>; resourceVersion?: string };
}

/** Any object of ours as the controller caches it for parseConfig (read as unvalidated JSON). */
export interface ConfigObject {
  metadata: { name: string; resourceVersion?: string; generation?: number; labels?: Record<string, string> };
  spec?: unknown;
}

/** Where the controller reads cluster state from; informers on the client by default. */
export interface ControllerSources {
  services: CacheSource<Service>;
  pools: CacheSource<IPAddressPool>;
  namespaces: CacheSource<NamespaceObject>;
  /**
   * The announcement config. Given sources without these (tests about allocation alone) turn the
   * `NotAnnounced` check off; informers always have them.
   */
  announce?: AnnounceSources;
}

/** The objects that decide whether a pool is announced at all. */
export interface AnnounceSources {
  l2Advertisements: CacheSource<ConfigObject>;
  bgpAdvertisements: CacheSource<ConfigObject>;
  bgpPeers: CacheSource<ConfigObject>;
}

/** Controller settings. */
export interface ControllerOptions {
  /** Needed for every port or source not given here. */
  client?: KubeClient;
  log: Logger;
  /** Only Services whose `loadBalancerClass` is `lbClass` (default: also Services with no class). */
  onlyOwnClass?: boolean;
  /** The `spec.loadBalancerClass` served (`--lb-class`); default `baregate.io/lb`. */
  lbClass?: string;
  concurrency?: number;
  /** Delay before pool status is written after a change, batching bursts. */
  poolStatusDelayMs?: number;
  clock?: Clock;
  /** Service status, pool annotation and pool status writes; REST by default. */
  writer?: StatusWriter<Service, IPAddressPool>;
  /** Events; the REST recorder by default. */
  events?: EventRecorder;
  sources?: ControllerSources;
  /**
   * Asked before a first allocation for a Service that holds no address: a reason to wait, or undefined. The gateway
   * integrations answer for a gateway's Service whose addresses they are about to set (when the mutating webhook
   * did not run), so it never gets a random address first and its fixed one a moment later. Call
   * {@link AddressController.requeue} when the answer changes without a Service write.
   */
  hold?: (svc: Service) => string | undefined;
  /**
   * The namespace whose {@link ALLOCATION_PAUSED_ANNOTATION} (`"true"`) pauses the controller: no Service is written
   * (status, annotation, release, events) until it goes; default SYSTEM_NAMESPACE. See {@link AddressController.paused}.
   */
  pauseNamespace?: string;
}

/** Sizes of the controller's per-Service bookkeeping, for tests that prove it does not leak. */
export interface ControllerBookkeeping {
  readonly pendingWhy: number;
  readonly failed: number;
  readonly deprecated: number;
  readonly notAnnounced: number;
}

const POOL_KEY = '\0pools';
/** Queue key of "the announcement config changed": coverage is recomputed, no allocation runs. */
const ANNOUNCE_KEY = '\0announce';
/** Queue key of "the pause annotation changed". */
const PAUSE_KEY = '\0pause';
const apiPath = (k: keyof typeof Kinds): string => `/apis/${GROUP}/${VERSION}/${Kinds[k].plural}`;
const poolPath = apiPath('IPAddressPool');
const FAMILIES = ['IPv4', 'IPv6'] as const;
const STATES = ['assigned', 'available'] as const;

/** Whether a Namespace carries the pause annotation with the value "true". */
function isPausedNamespace(ns: NamespaceObject | undefined): boolean {
  return ns?.metadata.annotations?.[ALLOCATION_PAUSED_ANNOTATION] === 'true';
}

/**
 * Whether a pool change matters to allocation: created, deleted, being deleted, or its spec changed.
 * Status changes (our own pool-status writes coming back through the watch) do not: reacting to them
 * re-queued every Service after each status write.
 */
function poolSpecChanged(obj: IPAddressPool | undefined, old: IPAddressPool | undefined): boolean {
  if (!obj || !old) return true;
  if ((obj.metadata.deletionTimestamp === undefined) !== (old.metadata.deletionTimestamp === undefined)) return true;
  if (obj.metadata.generation !== undefined && old.metadata.generation !== undefined && obj.metadata.generation !== old.metadata.generation) return true;
  return !semanticEqual(obj.spec, old.spec);
}

/** See the module comment. */
export class AddressController {
  readonly allocator = new Allocator();
  readonly services: CacheSource<Service>;
  readonly pools: CacheSource<IPAddressPool>;
  readonly namespaces: CacheSource<NamespaceObject>;
  /** Undefined when the NotAnnounced check is off (see {@link ControllerSources.announce}). */
  readonly announce: AnnounceSources | undefined;
  readonly events: EventRecorder;
  private readonly writer: StatusWriter<Service, IPAddressPool>;
  private readonly clock: Clock;
  private readonly lbClass: string;
  private readonly queue: WorkQueue;
  /** Services whose allocation fails, with the reason last reported (one event and one count per episode). */
  private readonly failed = new Map<string, string>();
  /** Why a Service's addresses changed, kept until the change is written and announced. */
  private readonly pendingWhy = new Map<string, string>();
  /** Deprecated annotation keys of each Service, as last seen (see {@link noteDeprecated}). */
  private readonly deprecated = new Map<string, string>();
  /**
   * Per Service holding addresses: the pools (sorted, comma-joined) it holds addresses from that no
   * advertisement covers, as last seen ('' = all covered). See {@link noteAnnounced}.
   */
  private readonly notAnnounced = new Map<string, string>();
  /** Pools some usable advertisement covers, from the last parse of the announcement config. */
  private covered = new Set<string>();
  private readonly dirtyPools = new Set<string>();
  private poolTimer: Timer | undefined;
  private flushing: Promise<void> | undefined;
  private running = false;
  /** The pause state as last processed (PAUSE_KEY); reconciles also honour the cache's newer word at once. */
  private pausedState = false;
  private directWrites = 0;
  private readonly healthChecks: [string, () => Health][] = [];
  /** Successful writes to Services (status + annotation patches), for tests and the benchmark. */
  serviceWrites = 0;
  /** Service reconciles so far. */
  reconciles = 0;
  /** Times the pool configuration was rebuilt (start and pool spec changes). */
  poolRebuilds = 0;

  constructor(private readonly o: ControllerOptions) {
    const log = o.log;
    const client = (): KubeClient => {
      if (!o.client) throw new Error('ControllerOptions.client is required unless every port and source is given');
      return o.client;
    };
    this.clock = o.clock ?? realClock;
    this.lbClass = o.lbClass ?? LOAD_BALANCER_CLASS;
    const informer = <T extends KObject>(name: string, path: string, strip?: (obj: Record<string, unknown>) => void): CacheSource<T> => {
      const inf = new Informer<T>(client(), { path, log, clock: this.clock, ...(strip ? { strip } : {}) });
      this.healthChecks.push([name, () => (inf.healthy() ? { ok: true } : { ok: false, reason: `no word from the apiserver for ${Math.round(inf.staleForMs() / 1000)} s` })]);
      return inf;
    };
    const source = <T>(name: string, src: CacheSource<T>): CacheSource<T> => {
      this.healthChecks.push([name, () => src.health?.() ?? { ok: true }]);
      return src;
    };
    this.services = o.sources ? source('services', o.sources.services) : informer<Service>('services', '/api/v1/services', trimService);
    this.pools = o.sources ? source('pools', o.sources.pools) : informer<IPAddressPool>('pools', poolPath);
    this.namespaces = o.sources ? source('namespaces', o.sources.namespaces) : informer<NamespaceObject>('namespaces', '/api/v1/namespaces');
    const ann = o.sources ? o.sources.announce : undefined;
    this.announce = o.sources
      ? (ann ? { l2Advertisements: source('l2advertisements', ann.l2Advertisements), bgpAdvertisements: source('bgpadvertisements', ann.bgpAdvertisements), bgpPeers: source('bgppeers', ann.bgpPeers) } : undefined)
      : {
          l2Advertisements: informer<ConfigObject>('l2advertisements', apiPath('L2Advertisement')),
          bgpAdvertisements: informer<ConfigObject>('bgpadvertisements', apiPath('BGPAdvertisement')),
          bgpPeers: informer<ConfigObject>('bgppeers', apiPath('BGPPeer')),
        };
    this.writer = o.writer ?? new RestStatusWriter<Service, IPAddressPool>(client());
    this.events = o.events ?? new ApiEventRecorder({ client: client(), component: CONTROLLER_NAME, log, clock: this.clock, onWrite: (kind) => { apiWrites.inc({ kind }); } });
    this.queue = new WorkQueue((k) => this.process(k), { log, concurrency: o.concurrency ?? 16, minRetryMs: 200, maxRetryMs: 30_000 });
    this.services.onChange((key, obj, old) => { if (this.serviceNeedsReconcile(key, obj, old)) this.queue.add(key); });
    this.pools.onChange((_key, obj, old) => {
      if (poolSpecChanged(obj, old)) this.queue.add(POOL_KEY, true);
      // labels decide ipAddressPoolSelectors: coverage only, no allocation
      else if (!semanticEqual(obj?.metadata.labels ?? {}, old?.metadata.labels ?? {})) this.queue.add(ANNOUNCE_KEY, true);
    });
    if (this.announce) {
      for (const src of [this.announce.l2Advertisements, this.announce.bgpAdvertisements, this.announce.bgpPeers]) {
        // status-only changes (generation unchanged) cannot change coverage
        src.onChange((_key, obj, old) => { if (configSpecChanged(obj, old)) this.queue.add(ANNOUNCE_KEY, true); });
      }
    }
    this.namespaces.onChange((ns, obj, old) => {
      if (ns === this.pauseNamespace && isPausedNamespace(obj) !== isPausedNamespace(old)) this.queue.add(PAUSE_KEY, true);
      if (semanticEqual(obj?.metadata.labels ?? {}, old?.metadata.labels ?? {})) return;
      for (const s of this.services.list()) if (s.metadata.namespace === ns) this.queue.add(serviceKey(s));
    });
  }

  /**
   * Whether a Service change can change a decision: its inputs changed (spec, labels, annotations other
   * than ours, deletion), or its status or pool annotation changed to something other than what the
   * controller holds for it. The echo of our own writes is neither, also when the watch delivers it
   * before the write's answer arrives (which used to reconcile every new Service twice or three times).
   */
  private serviceNeedsReconcile(key: string, obj: Service | undefined, old: Service | undefined): boolean {
    if (!obj || !old) return true;
    if (!semanticEqual(serviceInputs(obj), serviceInputs(old))) return true;
    const held = this.allocator.assignedTo(key);
    const ingress = ingressText(obj);
    if (ingress !== ingressText(old) && ingress !== wantedIngressText(held)) return true;
    const pools = obj.metadata.annotations?.[ALLOCATED_FROM_POOL] ?? '';
    return pools !== (old.metadata.annotations?.[ALLOCATED_FROM_POOL] ?? '') && pools !== poolAnnotation(held);
  }

  /**
   * The pool (of the ones in force, deletion pending excluded) whose ranges hold `ip`, or undefined: what the
   * gateway integrations call "in no pool". Several overlapping pools: the first by name.
   */
  poolOf(ip: string): string | undefined {
    const a = parseIP(ip);
    if (!a) return undefined;
    for (const name of [...this.poolObjects.keys()].sort()) {
      const p = this.poolObjects.get(name);
      if (p && poolContains(p, a)) return name;
    }
    return undefined;
  }

  /** Reconciles one Service again (a {@link ControllerOptions.hold} answer changed). */
  requeue(key: string): void {
    if (this.running) this.queue.add(key);
  }

  /** Every write request made so far: Service status and annotation, pool status, events. */
  get writes(): number {
    return this.directWrites + this.events.writes;
  }

  /** Starts informers, rebuilds state from the cluster, then starts processing. */
  async start(): Promise<void> {
    this.running = true;
    this.services.start();
    this.pools.start();
    this.namespaces.start();
    const ann = this.announce ? [this.announce.l2Advertisements, this.announce.bgpAdvertisements, this.announce.bgpPeers] : [];
    for (const src of ann) src.start();
    await Promise.all([this.services.synced, this.pools.synced, this.namespaces.synced, ...ann.map((src) => src.synced)]);
    if (!this.isRunning()) return;
    this.applyPools();
    this.covered = this.coveredPools();
    const restored = this.restore();
    this.o.log.info({ event: 'restored', services: restored, pools: this.allocator.poolNames().length }, 'rebuilt allocations from Service status');
    this.pausedState = this.paused();
    allocationPaused.set(this.pausedState ? 1 : 0);
    if (this.pausedState) this.logPaused();
    for (const s of this.services.list()) this.queue.add(serviceKey(s));
    this.queue.start();
  }

  /** Re-read after awaits: stop() may have run meanwhile. */
  private isRunning(): boolean {
    return this.running;
  }

  /** Stops all watches and processing; this replica's pool metrics go (the next leader reports them). */
  stop(): void {
    this.running = false;
    this.queue.stop();
    this.services.stop();
    this.pools.stop();
    this.namespaces.stop();
    if (this.announce) for (const src of [this.announce.l2Advertisements, this.announce.bgpAdvertisements, this.announce.bgpPeers]) src.stop();
    this.poolTimer?.cancel();
    this.poolTimer = undefined;
    allocationPaused.set(0);
    for (const name of this.poolObjects.keys()) removePoolSeries(name);
  }

  /** Resolves when the queue has nothing left to do and no pool-status write is under way (tests). */
  async idle(): Promise<void> {
    for (;;) {
      await this.queue.idle();
      const f = this.flushing;
      if (!f) return;
      await f;
    }
  }

  /**
   * Whether the controller still follows the cluster, for /healthz: an informer that has not heard
   * from the apiserver for too long (a watch dead without the connection noticing), or a given
   * cache source that reports itself unhealthy, makes the controller unhealthy.
   */
  health(): Health {
    for (const [what, check] of this.healthChecks) {
      const h = check();
      if (!h.ok) return { ok: false, reason: `${what}: ${h.reason ?? 'unhealthy'}` };
    }
    return { ok: true };
  }

  /** Sizes of the per-Service bookkeeping (tests). */
  bookkeeping(): ControllerBookkeeping {
    return { pendingWhy: this.pendingWhy.size, failed: this.failed.size, deprecated: this.deprecated.size, notAnnounced: this.notAnnounced.size };
  }

  private get pauseNamespace(): string {
    return this.o.pauseNamespace ?? SYSTEM_NAMESPACE;
  }

  /**
   * Whether allocation is paused: the component namespace carries {@link ALLOCATION_PAUSED_ANNOTATION} `"true"`. It is
   * there so baregate can be installed beside a running MetalLB: without it, the first reconcile of a Service holding
   * an address from a pool not imported yet would release that address. While paused nothing is written to Services;
   * pool status is still kept. On resume the allocator forgets what it held that the Services no longer show, adopts
   * every address they show (oldest Service first, as at start), then reconciles every Service.
   */
  paused(): boolean {
    return isPausedNamespace(this.namespaces.get(this.pauseNamespace));
  }

  private logPaused(): void {
    this.o.log.warn({ event: 'allocation_paused', namespace: this.pauseNamespace, annotation: ALLOCATION_PAUSED_ANNOTATION },
      `allocation paused: no Service is written until the annotation ${ALLOCATION_PAUSED_ANNOTATION} leaves namespace ${this.pauseNamespace} (baregate resume)`);
  }

  /** The pause annotation changed (see {@link paused}). */
  private applyPause(): void {
    const now = this.paused();
    if (now === this.pausedState) return;
    allocationPaused.set(now ? 1 : 0);
    if (now) {
      this.pausedState = true;
      this.logPaused();
      return;
    }
    // while paused the Services' statuses were someone else's to write: what the allocator holds that a Service no
    // longer shows (or a Service that is gone) is forgotten, then the statuses are adopted as at start
    let forgotten = 0;
    for (const key of this.allocator.heldKeys()) {
      const svc = this.services.get(key);
      const shown = svc && !svc.metadata.deletionTimestamp && this.ours(svc) ? statusIPs(svc).map(formatIP).sort() : [];
      const held = this.allocator.assignedTo(key).map((a) => a.ip).sort();
      if (!semanticEqual(shown, held)) { this.allocator.release(key); forgotten++; }
    }
    const adopted = this.restore();
    for (const name of this.poolObjects.keys()) this.markPool(name);
    this.pausedState = false;
    this.o.log.info({ event: 'allocation_resumed', adopted, forgotten }, 'allocation resumed: adopted the addresses the Services show');
    for (const s of this.services.list()) this.queue.add(serviceKey(s));
  }

  private ours(s: Service): boolean {
    return isOurs(s, this.o.onlyOwnClass ?? false, this.lbClass);
  }

  /** Adopts the addresses in Service statuses, oldest Service first, before any new allocation. */
  private restore(): number {
    const withIPs = this.services.list()
      .filter((s) => this.ours(s) && !s.metadata.deletionTimestamp && statusIPs(s).length > 0)
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
    this.poolRebuilds++;
    const pools = this.pools.list().filter((p) => !p.metadata.deletionTimestamp).map(poolFromObject);
    this.allocator.setPools(pools);
    const overlaps = findOverlaps(pools);
    const next = new Map(pools.map((p) => [p.name, p]));
    for (const name of this.poolObjects.keys()) {
      if (next.has(name)) continue;
      // a deleted pool's usage series would otherwise be reported forever
      removePoolSeries(name);
      this.dirtyPools.delete(name);
      this.events.forget(Kinds.IPAddressPool.kind, undefined, name);
    }
    this.poolOverlaps = overlaps;
    this.poolObjects = next;
    for (const p of pools) this.markPool(p.name);
  }

  private poolOverlaps: ReturnType<typeof findOverlaps> = [];
  private poolObjects = new Map<string, Pool>();

  private async process(key: string): Promise<Outcome> {
    if (!this.running) return 'ok';
    if (key === POOL_KEY) {
      this.applyPools();
      this.covered = this.coveredPools();
      for (const s of this.services.list()) this.queue.add(serviceKey(s));
      return 'ok';
    }
    if (key === ANNOUNCE_KEY) {
      this.applyAnnounce();
      return 'ok';
    }
    if (key === PAUSE_KEY) {
      this.applyPause();
      return 'ok';
    }
    return this.reconcile(key);
  }

  private async reconcile(key: string): Promise<Outcome> {
    // paused: the cache's newer word counts at once (a pause must stop the next write, not the one after PAUSE_KEY)
    if (this.pausedState || this.paused()) return 'ok';
    this.reconciles++;
    reconciles.inc();
    const svc = this.services.get(key);
    if (!svc || svc.metadata.deletionTimestamp || !this.ours(svc)) return this.releaseService(key, svc);
    const ns = this.namespaces.get(svc.metadata.namespace ?? '')?.metadata.labels ?? {};
    const tracked = this.allocator.assignedTo(key).length > 0;
    if (!tracked && this.o.hold && statusIPs(svc).length === 0) {
      const why = this.o.hold(svc);
      if (why !== undefined) {
        this.o.log.debug({ event: 'held', service: key, why }, 'allocation waits');
        return 'ok';
      }
    }
    const req = requestFor(svc, ns);
    if (isRequestError(req)) {
      // protect what the status shows (no new allocation for a request we cannot read)
      if (!tracked) { const fb = this.requestOrFallback(svc); if (fb) this.allocator.adopt(fb, statusIPs(svc)); }
      const kept = this.allocator.assignedTo(key);
      this.fail(svc, req.reason + (kept.length > 0 ? `; keeping ${kept.map((a) => a.ip).join(', ')}` : ''));
      this.noteDeprecated(svc, true);
      const shownBefore = statusIPs(svc).length > 0;
      const out = await this.write(svc, kept);
      if (out === 'ok') this.noteAnnounced(svc, kept, shownBefore);
      return out;
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
    this.noteDeprecated(svc, changed || res.status !== 'ok');
    this.noteAnnounced(svc, want, shown.length > 0);
    return 'ok';
  }

  /** Pools covered by some usable advertisement, by the same parser the speakers use. */
  private coveredPools(): Set<string> {
    if (!this.announce) return new Set();
    const { config } = parseConfig({
      pools: this.pools.list().filter((p) => !p.metadata.deletionTimestamp),
      l2Advertisements: this.announce.l2Advertisements.list(),
      bgpAdvertisements: this.announce.bgpAdvertisements.list(),
      bgpPeers: this.announce.bgpPeers.list(),
      // passwords do not decide coverage: a peer without its Secret is still a peer name
      secrets: [],
    });
    return announcedPools(config);
  }

  /** The announcement config changed: recompute coverage and tell the Services that lost it. No allocation, no write but events. */
  private applyAnnounce(): void {
    const before = this.covered;
    this.covered = this.coveredPools();
    if (this.pausedState || this.paused()) return; // no events on Services while paused; resume reconciles them all
    if (semanticEqual([...before].sort(), [...this.covered].sort())) return;
    for (const key of [...this.notAnnounced.keys()]) {
      const svc = this.services.get(key);
      if (svc) this.noteAnnounced(svc, this.allocator.assignedTo(key), false);
    }
  }

  /**
   * One `NotAnnounced` Warning when a Service's addresses come to include a pool no advertisement
   * covers (new allocation, pool change, advertisement deleted or narrowed), none while that stays so.
   * Remembered per Service in memory: a Service that already showed its addresses when this replica
   * first saw it (`settled`: a restart or a leader change) is recorded silently, so a restart writes no
   * event for an unchanged state; the replica that allocated it told the user. A Service whose pool
   * lost its advertisement while no controller ran is therefore not told until the next change.
   */
  private noteAnnounced(svc: Service, held: readonly Assigned[], settled: boolean): void {
    if (!this.announce) return;
    const key = serviceKey(svc);
    if (held.length === 0) { this.notAnnounced.delete(key); return; }
    const pools = [...new Set(held.map((a) => a.pool).filter((p) => p !== '' && !this.covered.has(p)))].sort();
    const prev = this.notAnnounced.get(key);
    this.notAnnounced.set(key, pools.join(','));
    if (pools.length === 0 || (prev === undefined && settled)) return;
    const before = new Set((prev ?? '').split(',').filter((p) => p !== ''));
    const lost = pools.filter((p) => !before.has(p));
    if (lost.length === 0) return;
    const ips = held.filter((a) => lost.includes(a.pool)).map((a) => a.ip).join(', ');
    const what = lost.length === 1 ? `pool "${lost[0] ?? ''}"` : `pools ${lost.map((p) => `"${p}"`).join(', ')}`;
    this.event(svc, 'Warning', EventReasons.NotAnnounced,
      `${ips} from ${what} is announced by no node: no L2Advertisement or BGPAdvertisement selects ${what} (set ipAddressPools or ipAddressPoolSelectors, or leave both out to cover every pool)`);
  }

  /**
   * A failure is reported once per episode (and again when its reason changes), not on every retry:
   * the metric counts failing Services, and the event is not repeated by each requeue.
   */
  private fail(svc: Service, reason: string): void {
    const key = serviceKey(svc);
    const prev = this.failed.get(key);
    if (prev === undefined) allocations.inc({ result: 'failed' });
    this.failed.set(key, reason);
    if (prev !== reason) this.event(svc, 'Warning', EventReasons.AllocationFailed, reason);
  }

  /**
   * Tells the user, once, that a Service uses `metallb.universe.tf/…` keys (they keep working). The
   * notice goes with a decision the controller announces anyway (`announced`: the Service was
   * allocated, moved or failed) or with a change of its set of deprecated keys while the controller
   * runs. A Service that is already settled when first seen (a restart) is remembered silently: it
   * was told when it was allocated, and a restart writes nothing.
   */
  private noteDeprecated(svc: Service, announced: boolean): void {
    const key = serviceKey(svc);
    const dep = deprecatedAnnotations(svc);
    const sig = dep.map((d) => d.key).sort().join(',');
    const prev = this.deprecated.get(key);
    if (prev === sig || (prev === undefined && sig === '')) return;
    this.deprecated.set(key, sig);
    if (sig === '' || (prev === undefined && !announced)) return;
    const list = dep.map((d) => `${d.key} (use ${d.replacement})`).join(', ');
    this.event(svc, 'Normal', EventReasons.DeprecatedAnnotation, `deprecated annotation ${list}: it keeps working, but the baregate.io key is the one documented`);
  }

  private async releaseService(key: string, svc: Service | undefined): Promise<Outcome> {
    this.pendingWhy.delete(key);
    this.failed.delete(key);
    this.deprecated.delete(key);
    this.notAnnounced.delete(key);
    const released = this.allocator.release(key);
    if (released.length === 0) return 'ok';
    allocations.inc({ result: 'released' });
    for (const a of released) this.markPool(a.pool);
    // freed addresses may satisfy Services that are waiting
    for (const k of this.failed.keys()) this.queue.add(k);
    if (!svc) {
      const [ns = '', name = ''] = key.split('/');
      this.events.forget('Service', ns, name);
      return 'ok';
    }
    this.event(svc, 'Normal', EventReasons.IPReleased, `Released ${released.map((a) => a.ip).join(', ')}`);
    if (svc.metadata.deletionTimestamp) return 'ok';
    return this.write(svc, []);
  }

  private countWrite(kind: 'service_status' | 'service_annotation' | 'pool_status'): void {
    this.directWrites++;
    apiWrites.inc({ kind });
  }

  /** Brings status.loadBalancer.ingress and the pool annotation in line with `want`; writes only differences. */
  private async write(svc: Service, want: readonly Assigned[]): Promise<Outcome> {
    const ns = svc.metadata.namespace ?? '';
    const name = svc.metadata.name;
    // a replica that stopped leading (stop() at the renew deadline) sends nothing more, also mid-reconcile
    if (!this.running) return 'ok';
    if (ingressText(svc) !== wantedIngressText(want)) {
      const desired = want.map((a) => ({ ip: a.ip, ipMode: IP_MODE }));
      this.countWrite('service_status');
      const r = await this.writer.serviceIngress(ns, name, desired);
      if (r.kind === 'gone') return 'ok';
      if (r.kind === 'failed') { this.o.log.warn({ event: 'status_write_failed', svc: serviceKey(svc), err: r.message }, 'status write failed; will retry'); return 'retry'; }
      this.services.update(r.object);
      this.serviceWrites++;
    }
    const pools = poolAnnotation(want);
    const current = svc.metadata.annotations?.[ALLOCATED_FROM_POOL];
    if (!this.isRunning()) return 'ok';
    if ((current ?? '') !== pools) {
      this.countWrite('service_annotation');
      const r = await this.writer.serviceAnnotation(ns, name, ALLOCATED_FROM_POOL, pools === '' ? undefined : pools);
      if (r.kind === 'gone') return 'ok';
      if (r.kind === 'failed') { this.o.log.warn({ event: 'annotation_write_failed', svc: serviceKey(svc), err: r.message }, 'annotation write failed; will retry'); return 'retry'; }
      this.services.update(r.object);
      this.serviceWrites++;
    }
    return 'ok';
  }

  private event(svc: Service, type: EventType, reason: string, message: string): void {
    this.events.record({ apiVersion: 'v1', kind: 'Service', metadata: svc.metadata }, type, reason, message);
  }

  private markPool(name: string): void {
    if (name === '') return;
    this.dirtyPools.add(name);
    if (this.poolTimer) return;
    this.poolTimer = this.clock.setTimeout(() => {
      this.poolTimer = undefined;
      // one flush at a time: a slow write must not let a second flush act on the same stale status
      const run: Promise<void> = (this.flushing ?? Promise.resolve()).then(() => this.flushPoolStatus())
        .catch((e: unknown) => { this.o.log.error({ event: 'pool_status_bug', err: String(e) }, 'pool status flush threw'); })
        .finally(() => { if (this.flushing === run) this.flushing = undefined; });
      this.flushing = run;
    }, this.o.poolStatusDelayMs ?? 500);
  }

  /** Writes counts and conditions to the status of every changed pool; unchanged status is not written. */
  private async flushPoolStatus(): Promise<void> {
    if (!this.running) return;
    const names = [...this.dirtyPools];
    this.dirtyPools.clear();
    for (const name of names) {
      const obj = this.pools.get(name);
      const pool = this.poolObjects.get(name);
      const usage = this.allocator.poolUsage(name);
      if (!obj || !pool || !usage) continue;
      const overlaps = this.poolOverlaps.filter((o) => o.a === name || o.b === name);
      const valid = this.condition(obj, PoolConditions.Valid, pool.errors.length === 0, pool.errors.length === 0 ? 'AddressesParsed' : 'InvalidAddresses', pool.errors.join('; ') || 'all addresses are valid');
      const overlap = this.condition(obj, PoolConditions.Overlap, overlaps.length > 0, overlaps.length > 0 ? 'OverlapsOtherPool' : 'NoOverlap',
        overlaps.length > 0 ? `shares ${overlaps.map((o) => o.family).join('/')} addresses with pool ${overlaps.map((o) => (o.a === name ? o.b : o.a)).join(', ')}` : 'no other pool shares addresses with this one');
      const status = {
        assignedIPv4: usage.IPv4.assigned.toString(), availableIPv4: usage.IPv4.available.toString(),
        assignedIPv6: usage.IPv6.assigned.toString(), availableIPv6: usage.IPv6.available.toString(),
        observedGeneration: obj.metadata.generation,
        conditions: [valid, overlap],
      };
      for (const f of FAMILIES) {
        poolAddresses.set({ pool: name, family: f, state: 'assigned' }, Number(usage[f].assigned));
        poolAddresses.set({ pool: name, family: f, state: 'available' }, Number(usage[f].available));
      }
      // warnings go with a change of the condition the pool shows, so a restart does not repeat them
      const target = { apiVersion: API_VERSION, kind: Kinds.IPAddressPool.kind, metadata: obj.metadata };
      if (overlaps.length > 0 && conditionChanged(obj, overlap)) this.events.record(target, 'Warning', EventReasons.PoolOverlap, overlap.message);
      if (pool.errors.length > 0 && conditionChanged(obj, valid)) this.events.record(target, 'Warning', EventReasons.PoolInvalid, valid.message);
      if (semanticEqual(stripTimes(obj.status), stripTimes(status))) continue;
      if (!this.isRunning()) return;
      this.countWrite('pool_status');
      const r = await this.writer.poolStatus(name, status);
      if (r.kind === 'ok') this.pools.update(r.object);
      else if (r.kind === 'failed') {
        this.o.log.warn({ event: 'pool_status_failed', pool: name, err: r.message }, 'pool status write failed');
        if (this.isRunning()) this.markPool(name);
      }
    }
  }

  private condition(obj: IPAddressPool, type: string, isTrue: boolean, reason: string, message: string): Condition {
    const prev = obj.status?.conditions?.find((c) => c.type === type);
    const status = isTrue ? 'True' : 'False';
    const c: Condition = { type, status, reason, message, lastTransitionTime: prev?.status === status ? prev.lastTransitionTime : new Date(this.clock.wall()).toISOString() };
    if (obj.metadata.generation !== undefined) c.observedGeneration = obj.metadata.generation;
    return c;
  }
}

/** What the controller writes as each address's `ipMode`. */
const IP_MODE = 'VIP';

/** `status.loadBalancer.ingress` as comparable text (ip and ipMode, in order). */
function ingressText(s: Service): string {
  return (s.status?.loadBalancer?.ingress ?? []).map((i) => `${i.ip ?? ''}|${i.ipMode ?? ''}`).join(',');
}

/** The ingress text the controller writes for these addresses. */
function wantedIngressText(want: readonly Assigned[]): string {
  return want.map((a) => `${a.ip}|${IP_MODE}`).join(',');
}

/** The value of the pool annotation for these addresses ('' means the annotation is absent). */
function poolAnnotation(want: readonly Assigned[]): string {
  return [...new Set(want.map((a) => a.pool).filter((p) => p !== ''))].join(',');
}

/** What a decision about a Service is made from (everything but its status and our annotation). */
function serviceInputs(s: Service): unknown {
  const annotations = { ...s.metadata.annotations };
  Reflect.deleteProperty(annotations, ALLOCATED_FROM_POOL);
  return { uid: s.metadata.uid, deletion: s.metadata.deletionTimestamp, labels: s.metadata.labels, annotations, spec: s.spec };
}

/**
 * Whether an advertisement or peer change can change coverage: created, deleted, or a new generation
 * (spec change; status writes keep the generation). Without generations (fakes) the spec is compared.
 */
function configSpecChanged(obj: ConfigObject | undefined, old: ConfigObject | undefined): boolean {
  if (!obj || !old) return true;
  if (obj.metadata.generation !== undefined && old.metadata.generation !== undefined) return obj.metadata.generation !== old.metadata.generation;
  return !semanticEqual(obj.spec, old.spec);
}

/** Whether a condition differs from what the pool's status shows (status or message). */
function conditionChanged(obj: IPAddressPool, c: Condition): boolean {
  const prev = obj.status?.conditions?.find((x) => x.type === c.type);
  return prev?.status !== c.status || prev.message !== c.message;
}

function removePoolSeries(pool: string): void {
  for (const family of FAMILIES) for (const state of STATES) poolAddresses.remove({ pool, family, state });
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
