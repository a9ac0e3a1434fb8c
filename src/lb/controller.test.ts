/**
 * The address controller with recording fakes for its ports and a fake clock: no API server. The fake
 * cluster keeps the objects, answers writes like the apiserver (new resourceVersion; custom resources
 * come back with their keys sorted, as Go's JSON encoder writes maps) and delivers the watch events of
 * those writes only when a test says so, so each test controls the interleaving it is about.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import type { IPAddressPool, IPAddressPoolSpec } from '../api/ipaddresspool.ts';
import { FakeClock } from '../clock.ts';
import type { ChangeHandler } from '../k8s/informer.ts';
import { objectKey } from '../k8s/informer.ts';
import type { CacheSource, EventRecorder, EventTarget, EventType, Health, IngressEntry, StatusWriter, WriteResult } from '../k8s/ports.ts';
import { rootLogger } from '../log.ts';
import { allocationPaused, allocations, poolAddresses } from '../metrics/metrics.ts';
import { AddressController, type AnnounceSources, type ConfigObject, type NamespaceObject } from './controller.ts';
import type { Service } from './service.ts';

const log = rootLogger.child({ op: 'controller-test' });
log.level = 'silent';

interface Obj { metadata: { name: string; namespace?: string; resourceVersion?: string } }

function newer(a: Obj, b: Obj | undefined): boolean {
  const ra = Number(a.metadata.resourceVersion ?? '0');
  const rb = Number(b?.metadata.resourceVersion ?? '-1');
  return ra > rb;
}

/** A cache source the test feeds: `apply` is a watch event, `update` the controller's own write. */
class FakeSource<T extends Obj> implements CacheSource<T> {
  readonly synced = Promise.resolve();
  private readonly cache = new Map<string, T>();
  private readonly handlers: ChangeHandler<T>[] = [];
  healthNow: Health | undefined;
  onChange(h: ChangeHandler<T>): void { this.handlers.push(h); }
  start(): void { /* fed by the test */ }
  stop(): void { /* nothing runs */ }
  get(key: string): T | undefined { return this.cache.get(key); }
  list(): T[] { return [...this.cache.values()]; }
  update(obj: T): void { const k = objectKey(obj); if (newer(obj, this.cache.get(k))) this.cache.set(k, structuredClone(obj)); }
  health(): Health { return this.healthNow ?? { ok: true }; }
  /** A watch ADDED/MODIFIED event; ignored (as by the informer) when not newer than the cache. */
  apply(obj: T): boolean {
    const k = objectKey(obj);
    const old = this.cache.get(k);
    if (!newer(obj, old)) return false;
    const copy = structuredClone(obj);
    this.cache.set(k, copy);
    for (const h of this.handlers) h(k, copy, old);
    return true;
  }
  remove(key: string): void {
    const old = this.cache.get(key);
    this.cache.delete(key);
    for (const h of this.handlers) h(key, undefined, old);
  }
}

/** Keys sorted at every level: how the apiserver returns a custom resource. */
function goOrder(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(goOrder);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) out[k] = goOrder((v as Record<string, unknown>)[k]);
  return out;
}

interface RecordedEvent { kind: string; name: string; type: EventType; reason: string; message: string }

class FakeEvents implements EventRecorder {
  readonly recorded: RecordedEvent[] = [];
  get writes(): number { return this.recorded.length; }
  record(target: EventTarget, type: EventType, reason: string, message: string): void {
    this.recorded.push({ kind: target.kind, name: target.metadata.name, type, reason, message });
  }
  forget(): void { /* nothing remembered */ }
  of(name: string, reason?: string): RecordedEvent[] {
    return this.recorded.filter((e) => e.name === name && (reason === undefined || e.reason === reason));
  }
}

/** The cluster's truth, a recording status writer over it, and the watch echoes of its writes. */
class FakeCluster implements StatusWriter<Service, IPAddressPool> {
  private rv = 100;
  readonly services = new Map<string, Service>();
  readonly pools = new Map<string, IPAddressPool>();
  readonly namespaces = new Map<string, NamespaceObject>();
  readonly writes: { op: string; key: string; body: unknown }[] = [];
  private echoes: (() => void)[] = [];
  /** Writes to fail (answer 500) while > 0. */
  failing = 0;
  /** Deliver each write's watch event before its answer (the watch connection won the race). */
  echoFirst = false;
  sources = this.newSources();

  newSources(): { services: FakeSource<Service>; pools: FakeSource<IPAddressPool>; namespaces: FakeSource<NamespaceObject> } {
    const s = { services: new FakeSource<Service>(), pools: new FakeSource<IPAddressPool>(), namespaces: new FakeSource<NamespaceObject>() };
    for (const o of this.services.values()) s.services.apply(o);
    for (const o of this.pools.values()) s.pools.apply(o);
    for (const o of this.namespaces.values()) s.namespaces.apply(o);
    return s;
  }

  private bump(): string { return String(++this.rv); }

  namespace(name: string, labels: Record<string, string> = {}, annotations?: Record<string, string>): void {
    const o: NamespaceObject = { metadata: { name, labels, ...(annotations ? { annotations } : {}), resourceVersion: this.bump() } };
    this.namespaces.set(name, o);
    this.sources.namespaces.apply(o);
  }

  pool(name: string, spec: IPAddressPoolSpec): IPAddressPool {
    const prev = this.pools.get(name);
    const o: IPAddressPool = {
      apiVersion: 'baregate.io/v1beta1', kind: 'IPAddressPool',
      metadata: { name, resourceVersion: this.bump(), generation: (prev?.metadata.generation ?? 0) + 1, creationTimestamp: '2026-01-01T00:00:00Z' },
      spec,
      ...(prev?.status ? { status: prev.status } : {}),
    };
    this.pools.set(name, o);
    this.sources.pools.apply(o);
    return o;
  }

  deletePool(name: string): void {
    this.pools.delete(name);
    this.sources.pools.remove(name);
  }

  service(ns: string, name: string, o: { annotations?: Record<string, string>; labels?: Record<string, string>; spec?: Service['spec']; status?: Service['status'] } = {}): Service {
    const key = `${ns}/${name}`;
    const prev = this.services.get(key);
    const s: Service = {
      apiVersion: 'v1', kind: 'Service',
      metadata: {
        name, namespace: ns, uid: `uid-${name}`, resourceVersion: this.bump(), creationTimestamp: prev?.metadata.creationTimestamp ?? `2026-01-01T00:00:${String(this.rv % 60).padStart(2, '0')}Z`,
        annotations: o.annotations ?? prev?.metadata.annotations ?? {}, labels: o.labels ?? prev?.metadata.labels ?? {},
      },
      spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }], ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', selector: { app: name }, ...(o.spec ?? prev?.spec) },
    };
    const status = o.status ?? prev?.status;
    if (status) s.status = status;
    this.services.set(key, s);
    this.sources.services.apply(s);
    return s;
  }

  deleteService(ns: string, name: string): void {
    this.services.delete(`${ns}/${name}`);
    this.sources.services.remove(`${ns}/${name}`);
  }

  /** Delivers the watch events of the writes made so far. */
  deliver(): void {
    const e = this.echoes;
    this.echoes = [];
    for (const f of e) f();
  }

  private write<T extends Obj>(op: string, key: string, body: unknown, store: Map<string, T>, change: (o: T) => T, echo: (o: T) => void): Promise<WriteResult<T>> {
    this.writes.push({ op, key, body });
    if (this.failing > 0) { this.failing--; return Promise.resolve({ kind: 'failed', message: 'HTTP 500: injected' }); }
    const cur = store.get(key);
    if (!cur) return Promise.resolve({ kind: 'gone' });
    const next = change(structuredClone(cur));
    next.metadata.resourceVersion = this.bump();
    store.set(key, next);
    if (this.echoFirst) echo(structuredClone(next));
    else this.echoes.push(() => { echo(structuredClone(next)); });
    return Promise.resolve({ kind: 'ok', object: structuredClone(next) });
  }

  serviceIngress(ns: string, name: string, ingress: readonly IngressEntry[]): Promise<WriteResult<Service>> {
    return this.write('serviceIngress', `${ns}/${name}`, ingress, this.services, (s) => {
      if (ingress.length > 0) s.status = { loadBalancer: { ingress: ingress.map((i) => ({ ip: i.ip, ipMode: i.ipMode })) } };
      else s.status = { loadBalancer: {} };
      return s;
    }, (s) => { this.sources.services.apply(s); });
  }

  serviceAnnotation(ns: string, name: string, key: string, value: string | undefined): Promise<WriteResult<Service>> {
    return this.write('serviceAnnotation', `${ns}/${name}`, { key, value }, this.services, (s) => {
      const a = { ...s.metadata.annotations };
      if (value === undefined) Reflect.deleteProperty(a, key); else a[key] = value;
      s.metadata.annotations = a;
      return s;
    }, (s) => { this.sources.services.apply(s); });
  }

  poolStatus(name: string, status: Readonly<Record<string, unknown>>): Promise<WriteResult<IPAddressPool>> {
    return this.write('poolStatus', name, status, this.pools, (p) => goOrder({ ...p, status: { ...p.status, ...status } }) as IPAddressPool,
      (p) => { this.sources.pools.apply(p); });
  }

  writesOf(op: string): { op: string; key: string; body: unknown }[] {
    return this.writes.filter((w) => w.op === op);
  }
}

const running: AddressController[] = [];
afterEach(() => { for (const c of running.splice(0)) c.stop(); });

function controller(cluster: FakeCluster, o: { lbClass?: string; onlyOwnClass?: boolean; hold?: (svc: Service) => string | undefined } = {}): { ctl: AddressController; events: FakeEvents; clock: FakeClock } {
  const events = new FakeEvents();
  const clock = new FakeClock();
  const ctl = new AddressController({ log, clock, writer: cluster, events, sources: cluster.sources, poolStatusDelayMs: 500, ...o });
  running.push(ctl);
  return { ctl, events, clock };
}

/** Lets the controller finish: queue, then the delayed pool-status flush, then whatever that caused. */
async function settle(ctl: AddressController, clock: FakeClock): Promise<void> {
  await ctl.idle();
  clock.advance(500);
  await ctl.idle();
}

async function counter(c: typeof allocations, result: string): Promise<number> {
  return (await c.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
}

const ips = (s: Service | undefined): string[] => (s?.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '');

describe('ports', () => {
  test('allocation goes through the status writer and event recorder; `writes` counts every write', async () => {
    const cl = new FakeCluster();
    cl.namespace('ns');
    cl.pool('p', { addresses: ['192.0.2.10/31'] });
    cl.service('ns', 'a');
    const { ctl, events, clock } = controller(cl);
    await ctl.start();
    await settle(ctl, clock);
    assert.deepEqual(ips(cl.services.get('ns/a')), ['192.0.2.10']);
    assert.equal(cl.services.get('ns/a')?.metadata.annotations?.['baregate.io/ip-allocated-from-pool'], 'p');
    assert.deepEqual(cl.writes.map((w) => w.op), ['serviceIngress', 'serviceAnnotation', 'poolStatus']);
    assert.equal((cl.pools.get('p')?.status as Record<string, unknown>).assignedIPv4, '1');
    assert.deepEqual(events.recorded.map((e) => e.reason), ['IPAllocated']);
    assert.equal(ctl.serviceWrites, 2);
    assert.equal(ctl.writes, 4, 'two Service writes, one pool status, one event');
  });

  test('hold: a Service without an address waits while hold answers a reason, is allocated after requeue; one holding an address is never asked', async () => {
    const cl = new FakeCluster();
    cl.namespace('ns');
    cl.pool('p', { addresses: ['192.0.2.10/30'] });
    cl.service('ns', 'gw');
    cl.service('ns', 'held', { status: { loadBalancer: { ingress: [{ ip: '192.0.2.11' }] } } });
    let waiting = true;
    const asked: string[] = [];
    const { ctl, clock } = controller(cl, { hold: (svc) => { asked.push(svc.metadata.name); return waiting ? 'gateway integration sets its addresses' : undefined; } });
    await ctl.start();
    await settle(ctl, clock);
    assert.deepEqual(ips(cl.services.get('ns/gw')), [], 'held: no address yet');
    assert.equal(cl.writesOf('serviceIngress').filter((w) => w.key === 'ns/gw').length, 0, 'and nothing written for it');
    assert.deepEqual(ips(cl.services.get('ns/held')), ['192.0.2.11'], 'a Service with an address keeps it');
    assert.deepEqual(asked, ['gw'], 'hold is asked only about the Service without an address');
    waiting = false;
    ctl.requeue('ns/gw');
    await settle(ctl, clock);
    assert.equal(ips(cl.services.get('ns/gw')).length, 1, 'allocated once hold lets go');
  });

  test('poolOf: the pool whose ranges hold an IP; undefined for an IP in none and for text that is not an IP', async () => {
    const cl = new FakeCluster();
    cl.pool('b', { addresses: ['192.0.2.0/28'] });
    cl.pool('a', { addresses: ['2001:db8::10-2001:db8::20', '192.0.2.8/29'] });
    const { ctl } = controller(cl);
    await ctl.start();
    assert.equal(ctl.poolOf('192.0.2.9'), 'a', 'overlapping pools: the first by name');
    assert.equal(ctl.poolOf('192.0.2.1'), 'b');
    assert.equal(ctl.poolOf('2001:db8::15'), 'a');
    assert.equal(ctl.poolOf('198.51.100.1'), undefined);
    assert.equal(ctl.poolOf('not-an-ip'), undefined);
  });

  test('health reports a cache source that stopped following the cluster', async () => {
    const cl = new FakeCluster();
    const { ctl } = controller(cl);
    await ctl.start();
    assert.deepEqual(ctl.health(), { ok: true });
    cl.sources.pools.healthNow = { ok: false, reason: 'no watch event for 300 s' };
    assert.deepEqual(ctl.health(), { ok: false, reason: 'pools: no watch event for 300 s' });
  });
});

describe('write economy', () => {
  test('the own pool-status write fed back (Go key order) causes no requeue and no second write', async () => {
    const cl = new FakeCluster();
    cl.namespace('ns');
    cl.pool('p', { addresses: ['192.0.2.10/30'] });
    cl.service('ns', 'a');
    const { ctl, clock } = controller(cl);
    await ctl.start();
    await settle(ctl, clock);
    assert.equal(cl.writesOf('poolStatus').length, 1);
    const reconciles = ctl.reconciles;
    const rebuilds = ctl.poolRebuilds;
    // the echo of our own write (same resourceVersion as the answer) and a later status-only change
    cl.deliver();
    const p = cl.pools.get('p')!;
    assert.ok(cl.sources.pools.apply({ ...p, metadata: { ...p.metadata, resourceVersion: '9999' } }), 'a newer status-only version reaches the controller');
    await settle(ctl, clock);
    assert.equal(ctl.poolRebuilds, rebuilds, 'no pool rebuild for a status change');
    assert.equal(ctl.reconciles, reconciles, 'no Service requeued');
    // something makes the controller look at the pool again: the status it would write is what is there
    cl.service('ns', 'a', { labels: { touched: 'yes' } });
    await settle(ctl, clock);
    assert.equal(ctl.reconciles, reconciles + 1);
    assert.equal(cl.writesOf('poolStatus').length, 1, 'unchanged status (keys in another order) is not written again');
  });

  test('one reconcile per new Service, also when the watch echoes our writes before their answers', async () => {
    const cl = new FakeCluster();
    cl.namespace('ns');
    cl.pool('p', { addresses: ['192.0.2.0/28'] });
    const { ctl, clock } = controller(cl);
    await ctl.start();
    await settle(ctl, clock);
    cl.echoFirst = true;
    const before = ctl.reconciles;
    for (let i = 0; i < 5; i++) cl.service('ns', `s${i}`);
    await settle(ctl, clock);
    for (let i = 0; i < 5; i++) assert.equal(ips(cl.services.get(`ns/s${i}`)).length, 1);
    assert.equal(ctl.reconciles - before, 5, 'the echoes of status and annotation writes are not reconciled again');
    assert.equal(cl.writesOf('serviceIngress').length + cl.writesOf('serviceAnnotation').length, 10);
  });

  test('a status changed by someone else is reconciled and put back', async () => {
    const cl = new FakeCluster();
    cl.namespace('ns');
    cl.pool('p', { addresses: ['192.0.2.0/28'] });
    cl.service('ns', 'a');
    const { ctl, clock } = controller(cl);
    await ctl.start();
    await settle(ctl, clock);
    cl.deliver();
    const ip = ips(cl.services.get('ns/a'));
    assert.equal(ip.length, 1);
    cl.service('ns', 'a', { status: { loadBalancer: { ingress: [{ ip: '192.0.2.9', ipMode: 'VIP' }] } } });
    await settle(ctl, clock);
    assert.deepEqual(ips(cl.services.get('ns/a')), ip);
    const a = cl.services.get('ns/a')!;
    cl.service('ns', 'a', { annotations: { ...a.metadata.annotations, 'baregate.io/ip-allocated-from-pool': 'elsewhere' } });
    await settle(ctl, clock);
    assert.equal(cl.services.get('ns/a')?.metadata.annotations?.['baregate.io/ip-allocated-from-pool'], 'p');
  });

  test('a pool spec change (new generation) does rebuild and requeue', async () => {
    const cl = new FakeCluster();
    cl.namespace('ns');
    cl.pool('p', { addresses: ['192.0.2.10/32'] });
    cl.service('ns', 'a');
    cl.service('ns', 'b');
    const { ctl, clock } = controller(cl);
    await ctl.start();
    await settle(ctl, clock);
    assert.equal(ips(cl.services.get('ns/b')).length + ips(cl.services.get('ns/a')).length, 1);
    const rebuilds = ctl.poolRebuilds;
    cl.pool('p', { addresses: ['192.0.2.10/31'] });
    await settle(ctl, clock);
    assert.equal(ctl.poolRebuilds, rebuilds + 1);
    assert.deepEqual([...ips(cl.services.get('ns/a')), ...ips(cl.services.get('ns/b'))].sort(), ['192.0.2.10', '192.0.2.11']);
  });

  test('restart writes nothing: no Service, pool status or event write', async () => {
    const cl = new FakeCluster();
    cl.namespace('ns');
    cl.pool('p', { addresses: ['192.0.2.0/28'] });
    cl.pool('q', { addresses: ['192.0.2.8/29'] }); // overlaps p: a warning condition and event
    cl.pool('r', { addresses: ['198.51.100.0/30'], autoAssign: false });
    cl.service('ns', 'a');
    cl.service('ns', 'b', { annotations: { 'metallb.universe.tf/address-pool': 'r' } });
    cl.service('ns', 'c', { spec: { type: 'LoadBalancer', ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'PreferDualStack', ports: [{ port: 80, protocol: 'TCP' }] } });
    const first = controller(cl);
    await first.ctl.start();
    await settle(first.ctl, first.clock);
    assert.ok(first.events.of('q', 'PoolOverlap').length === 1, 'the overlap was reported');
    assert.ok(first.events.of('b', 'DeprecatedAnnotation').length === 1, 'the deprecated key was reported');
    first.ctl.stop();
    cl.deliver();

    cl.sources = cl.newSources();
    const before = cl.writes.length;
    const second = controller(cl);
    await second.ctl.start();
    await settle(second.ctl, second.clock);
    await settle(second.ctl, second.clock);
    assert.deepEqual(cl.writes.slice(before), [], 'no write');
    assert.deepEqual(second.events.recorded, [], 'no event');
    assert.equal(second.ctl.writes, 0);
  });
});

describe('bookkeeping and metrics', () => {
  test('a Service deleted while its write fails leaves nothing behind', async () => {
    const cl = new FakeCluster();
    cl.namespace('ns');
    cl.pool('p', { addresses: ['192.0.2.10/31'] });
    // its status shows an address no pool has: it is moved, and the reason waits for the write
    cl.service('ns', 'a', { status: { loadBalancer: { ingress: [{ ip: '203.0.113.5', ipMode: 'VIP' }] } } });
    const { ctl } = controller(cl);
    cl.failing = 1_000;
    await ctl.start();
    await ctl.idle();
    assert.equal(ctl.bookkeeping().pendingWhy, 1, 'the reason is kept while the write is retried');
    cl.deleteService('ns', 'a');
    await ctl.idle();
    assert.deepEqual(ctl.bookkeeping(), { pendingWhy: 0, failed: 0, deprecated: 0, notAnnounced: 0 });
    assert.equal(ctl.allocator.serviceCount, 0);
  });

  test('allocations{result="failed"} and the AllocationFailed event count a failing Service once per episode', async () => {
    const cl = new FakeCluster();
    cl.namespace('ns');
    cl.pool('p', { addresses: ['192.0.2.10/32'] });
    cl.service('ns', 'a');
    const { ctl, events, clock } = controller(cl);
    await ctl.start();
    await settle(ctl, clock);
    const failed0 = await counter(allocations, 'failed');
    cl.service('ns', 'b');
    await settle(ctl, clock);
    for (let i = 0; i < 3; i++) { cl.service('ns', 'b', { labels: { n: String(i) } }); await settle(ctl, clock); }
    assert.equal(ctl.reconciles >= 5, true);
    assert.equal(await counter(allocations, 'failed') - failed0, 1, 'one failing Service, one count');
    assert.equal(events.of('b', 'AllocationFailed').length, 1, 'one event for the episode');
    // the episode ends when it gets an address; failing again is a new episode
    cl.deleteService('ns', 'a');
    await settle(ctl, clock);
    assert.deepEqual(ips(cl.services.get('ns/b')), ['192.0.2.10']);
    cl.service('ns', 'a');
    cl.service('ns', 'b', { annotations: { 'baregate.io/loadBalancerIPs': '198.51.100.1' } });
    await settle(ctl, clock);
    assert.equal(await counter(allocations, 'failed') - failed0, 3, 'b\'s second episode and a\'s first');
    assert.equal(ctl.bookkeeping().failed, 2, 'a and b are both waiting');
  });

  test('poolAddresses series of a deleted pool are removed', async () => {
    const cl = new FakeCluster();
    cl.namespace('ns');
    cl.pool('gone-pool', { addresses: ['192.0.2.40/30'] });
    cl.pool('kept-pool', { addresses: ['192.0.2.48/30'] });
    const { ctl, clock } = controller(cl);
    await ctl.start();
    await settle(ctl, clock);
    const series = async (pool: string): Promise<number> => (await poolAddresses.get()).values.filter((v) => v.labels.pool === pool).length;
    assert.equal(await series('gone-pool'), 4);
    cl.deletePool('gone-pool');
    await settle(ctl, clock);
    assert.equal(await series('gone-pool'), 0);
    assert.equal(await series('kept-pool'), 4);
  });
});

describe('classes and deprecated keys', () => {
  test('--lb-class: Services of the configured class are served, other classes are not', async () => {
    const cl = new FakeCluster();
    cl.namespace('ns');
    cl.pool('p', { addresses: ['192.0.2.20/30'] });
    const spec = (cls: string | undefined): Service['spec'] => ({ type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }], ...(cls !== undefined ? { loadBalancerClass: cls } : {}) });
    cl.service('ns', 'theirs', { spec: spec('metallb.io/metallb') });
    cl.service('ns', 'default-class', { spec: spec('baregate.io/lb') });
    cl.service('ns', 'no-class', { spec: spec(undefined) });
    const { ctl, clock } = controller(cl, { lbClass: 'metallb.io/metallb' });
    await ctl.start();
    await settle(ctl, clock);
    assert.equal(ips(cl.services.get('ns/theirs')).length, 1);
    assert.equal(ips(cl.services.get('ns/no-class')).length, 1, 'class-less Services stay ours');
    assert.deepEqual(ips(cl.services.get('ns/default-class')), [], 'baregate.io/lb is not served when another class is');
  });

  test('--lb-class with --only-own-class: class-less Services are left alone', async () => {
    const cl = new FakeCluster();
    cl.namespace('ns');
    cl.pool('p', { addresses: ['192.0.2.24/30'] });
    cl.service('ns', 'theirs', { spec: { type: 'LoadBalancer', loadBalancerClass: 'metallb.io/metallb', ports: [{ port: 80, protocol: 'TCP' }] } });
    cl.service('ns', 'no-class');
    const { ctl, clock } = controller(cl, { lbClass: 'metallb.io/metallb', onlyOwnClass: true });
    await ctl.start();
    await settle(ctl, clock);
    assert.equal(ips(cl.services.get('ns/theirs')).length, 1);
    assert.deepEqual(ips(cl.services.get('ns/no-class')), []);
  });

  test('metallb.universe.tf keys keep working; one Normal event names the baregate.io key', async () => {
    const cl = new FakeCluster();
    cl.namespace('ns');
    cl.pool('p', { addresses: ['192.0.2.32/30'], autoAssign: false });
    cl.service('ns', 'old', { annotations: { 'metallb.universe.tf/address-pool': 'p', 'metallb.universe.tf/allow-shared-ip': 'k' } });
    const { ctl, events, clock } = controller(cl);
    await ctl.start();
    await settle(ctl, clock);
    assert.deepEqual(ips(cl.services.get('ns/old')), ['192.0.2.32'], 'the deprecated pool key is honoured');
    const dep = events.of('old', 'DeprecatedAnnotation');
    assert.equal(dep.length, 1);
    const msg = dep[0]?.message ?? '';
    assert.equal(dep[0]?.type, 'Normal');
    assert.match(msg, /metallb\.universe\.tf\/address-pool \(use baregate\.io\/address-pool\)/);
    assert.match(msg, /metallb\.universe\.tf\/allow-shared-ip \(use baregate\.io\/allow-shared-ip\)/);
    // more reconciles of the same Service: no repeat
    for (let i = 0; i < 3; i++) { cl.service('ns', 'old', { labels: { n: String(i) } }); await settle(ctl, clock); }
    assert.equal(events.of('old', 'DeprecatedAnnotation').length, 1);
    // a new deprecated key while running: told again, about the new set
    cl.service('ns', 'old', { annotations: { 'metallb.universe.tf/address-pool': 'p', 'metallb.universe.tf/allow-shared-ip': 'k', 'metallb.universe.tf/loadBalancerIPs': '192.0.2.32' } });
    await settle(ctl, clock);
    assert.equal(events.of('old', 'DeprecatedAnnotation').length, 2);
    assert.match(events.of('old', 'DeprecatedAnnotation')[1]?.message ?? '', /loadBalancerIPs \(use baregate\.io\/loadBalancerIPs\)/);
    // the metallb.io keys are current spellings, not deprecated
    cl.service('ns', 'new', { annotations: { 'metallb.io/address-pool': 'p' } });
    await settle(ctl, clock);
    assert.equal(ips(cl.services.get('ns/new')).length, 1);
    assert.deepEqual(events.of('new', 'DeprecatedAnnotation'), []);
  });

  test('a Service that fails while using a deprecated key is told too; a settled one at restart is not', async () => {
    const cl = new FakeCluster();
    cl.namespace('ns');
    cl.pool('p', { addresses: ['192.0.2.36/32'] });
    cl.service('ns', 'bad', { annotations: { 'metallb.universe.tf/address-pool': 'nope' } });
    const { ctl, events, clock } = controller(cl);
    await ctl.start();
    await settle(ctl, clock);
    assert.equal(events.of('bad', 'AllocationFailed').length, 1);
    assert.equal(events.of('bad', 'DeprecatedAnnotation').length, 1);
  });
});

describe('NotAnnounced', () => {
  /** The announcement config beside the fake cluster: advertisements and peers as watch events. */
  class Announce {
    private rv = 1_000_000;
    readonly sources = { l2Advertisements: new FakeSource<ConfigObject>(), bgpAdvertisements: new FakeSource<ConfigObject>(), bgpPeers: new FakeSource<ConfigObject>() } satisfies AnnounceSources;
    private readonly gens = new Map<string, number>();
    put(kind: keyof AnnounceSources, name: string, spec: unknown): void {
      const g = (this.gens.get(`${kind}/${name}`) ?? 0) + 1;
      this.gens.set(`${kind}/${name}`, g);
      this.sources[kind].apply({ metadata: { name, resourceVersion: String(++this.rv), generation: g }, spec });
    }
    /** A status-only change: new resourceVersion, same generation. */
    touch(kind: keyof AnnounceSources, name: string): void {
      const o = this.sources[kind].get(name);
      if (o) this.sources[kind].apply({ ...o, metadata: { ...o.metadata, resourceVersion: String(++this.rv) } });
    }
    remove(kind: keyof AnnounceSources, name: string): void { this.sources[kind].remove(name); }
  }

  function announced(cl: FakeCluster, ann: Announce): { ctl: AddressController; events: FakeEvents; clock: FakeClock } {
    const events = new FakeEvents();
    const clock = new FakeClock();
    const ctl = new AddressController({ log, clock, writer: cl, events, sources: { ...cl.sources, announce: ann.sources }, poolStatusDelayMs: 500 });
    running.push(ctl);
    return { ctl, events, clock };
  }
  const notAnnounced = (events: FakeEvents, name: string): RecordedEvent[] => events.of(name, 'NotAnnounced');

  test('a Service from a pool no advertisement covers gets one Warning naming the pool; more reconciles do not repeat it', async () => {
    const cl = new FakeCluster();
    cl.namespace('ns');
    cl.pool('lonely', { addresses: ['192.0.2.10/31'] });
    cl.service('ns', 'a');
    const ann = new Announce();
    const { ctl, events, clock } = announced(cl, ann);
    await ctl.start();
    await settle(ctl, clock);
    const ev = notAnnounced(events, 'a');
    assert.equal(ev.length, 1);
    assert.match(ev[0]?.message ?? '', /192\.0\.2\.10 from pool "lonely".*L2Advertisement or BGPAdvertisement/);
    assert.equal(ev[0]?.type, 'Warning');
    for (let i = 0; i < 3; i++) { cl.service('ns', 'a', { labels: { n: String(i) } }); await settle(ctl, clock); }
    assert.equal(notAnnounced(events, 'a').length, 1);
  });

  test('advertisement changes: no reconcile, no Service write; covered -> not covered warns again, once', async () => {
    const cl = new FakeCluster();
    cl.namespace('ns');
    cl.pool('p', { addresses: ['192.0.2.10/31'] });
    cl.pool('q', { addresses: ['198.51.100.0/30'] });
    const ann = new Announce();
    ann.put('l2Advertisements', 'for-p', { ipAddressPools: ['p'] });
    cl.service('ns', 'a', { annotations: { 'baregate.io/address-pool': 'p' } });
    const { ctl, events, clock } = announced(cl, ann);
    await ctl.start();
    await settle(ctl, clock);
    assert.deepEqual(notAnnounced(events, 'a'), [], 'covered from the start');
    const writes = cl.writes.length;
    const reconciles = ctl.reconciles;
    ann.touch('l2Advertisements', 'for-p');
    ann.put('l2Advertisements', 'for-q', { ipAddressPools: ['q'] });
    await settle(ctl, clock);
    assert.deepEqual(notAnnounced(events, 'a'), []);
    ann.remove('l2Advertisements', 'for-p');
    await settle(ctl, clock);
    assert.equal(notAnnounced(events, 'a').length, 1, 'lost its advertisement');
    assert.match(notAnnounced(events, 'a')[0]?.message ?? '', /pool "p"/);
    ann.put('bgpAdvertisements', 'all', {});
    await settle(ctl, clock);
    ann.put('bgpAdvertisements', 'all', { ipAddressPools: ['q'] });
    await settle(ctl, clock);
    assert.equal(notAnnounced(events, 'a').length, 2, 'covered again, then not: a second warning');
    ann.put('bgpAdvertisements', 'all', { ipAddressPools: ['q'], localPref: 7 });
    await settle(ctl, clock);
    assert.equal(notAnnounced(events, 'a').length, 2, 'still not covered: no repeat');
    assert.deepEqual(cl.writes.slice(writes), [], 'advertisement changes write nothing to Services or pools');
    assert.equal(ctl.reconciles, reconciles, 'and reconcile no Service');
  });

  test('an advertisement that is unusable (unknown pool, bad selector, only unknown peers) covers nothing', async () => {
    for (const [kind, spec] of [
      ['l2Advertisements', { ipAddressPools: ['p', 'ghost'] }],
      ['l2Advertisements', { ipAddressPoolSelectors: [{ matchExpressions: [{ key: 'k', operator: 'In' }] }] }],
      ['bgpAdvertisements', { peers: ['ghost'] }],
    ] as const) {
      const cl = new FakeCluster();
      cl.namespace('ns');
      cl.pool('p', { addresses: ['192.0.2.10/31'] });
      const ann = new Announce();
      ann.put(kind, 'x', spec);
      cl.service('ns', 'a');
      const { ctl, events, clock } = announced(cl, ann);
      await ctl.start();
      await settle(ctl, clock);
      assert.equal(notAnnounced(events, 'a').length, 1, JSON.stringify(spec));
      ctl.stop();
    }
  });

  test('pool selectors follow pool labels; a BGPAdvertisement naming an existing peer covers', async () => {
    const cl = new FakeCluster();
    cl.namespace('ns');
    const p = cl.pool('p', { addresses: ['192.0.2.10/31'] });
    cl.sources.pools.apply({ ...p, metadata: { ...p.metadata, labels: { announce: 'yes' }, resourceVersion: '5000' } });
    const ann = new Announce();
    ann.put('l2Advertisements', 'by-label', { ipAddressPoolSelectors: [{ matchLabels: { announce: 'yes' } }] });
    cl.service('ns', 'a');
    const { ctl, events, clock } = announced(cl, ann);
    await ctl.start();
    await settle(ctl, clock);
    assert.deepEqual(notAnnounced(events, 'a'), []);
    const reconciles = ctl.reconciles;
    const cur = cl.sources.pools.get('p');
    assert.ok(cur);
    cl.sources.pools.apply({ ...cur, metadata: { ...cur.metadata, labels: {}, resourceVersion: '5001' } });
    await settle(ctl, clock);
    assert.equal(notAnnounced(events, 'a').length, 1, 'the label went: not covered');
    assert.equal(ctl.reconciles, reconciles, 'a label change is not an allocation change');
    ann.put('bgpPeers', 'r1', { myASN: 64512, peerASN: 64513, peerAddress: '192.0.2.1' });
    ann.put('bgpAdvertisements', 'to-r1', { peers: ['r1'] });
    await settle(ctl, clock);
    ann.remove('bgpPeers', 'r1');
    await settle(ctl, clock);
    assert.equal(notAnnounced(events, 'a').length, 2, 'its only peer went: the advertisement is unusable');
  });

  test('restart with an unchanged uncovered Service: no event; deleting the Service forgets it', async () => {
    const cl = new FakeCluster();
    cl.namespace('ns');
    cl.pool('p', { addresses: ['192.0.2.10/31'] });
    cl.service('ns', 'a');
    const ann = new Announce();
    const first = announced(cl, ann);
    await first.ctl.start();
    await settle(first.ctl, first.clock);
    assert.equal(notAnnounced(first.events, 'a').length, 1);
    first.ctl.stop();
    cl.deliver();
    cl.sources = cl.newSources();
    const ann2 = new Announce();
    const second = announced(cl, ann2);
    await second.ctl.start();
    await settle(second.ctl, second.clock);
    assert.deepEqual(second.events.recorded, [], 'a restart tells nothing again');
    assert.equal(second.ctl.writes, 0);
    assert.equal(second.ctl.bookkeeping().notAnnounced, 1);
    cl.deleteService('ns', 'a');
    await settle(second.ctl, second.clock);
    assert.equal(second.ctl.bookkeeping().notAnnounced, 0);
  });

  test('without announcement sources the check is off', async () => {
    const cl = new FakeCluster();
    cl.namespace('ns');
    cl.pool('p', { addresses: ['192.0.2.10/31'] });
    cl.service('ns', 'a');
    const { ctl, events, clock } = controller(cl);
    await ctl.start();
    await settle(ctl, clock);
    assert.deepEqual(notAnnounced(events, 'a'), []);
    assert.equal(ctl.announce, undefined);
  });
});

describe('pause (switching from MetalLB)', () => {
  const PAUSED = { 'baregate.io/allocation-paused': 'true' };
  const status = (ip: string): Service['status'] => ({ loadBalancer: { ingress: [{ ip }] } });
  const serviceWrites = (cl: FakeCluster): string[] => cl.writes.filter((w) => w.op !== 'poolStatus').map((w) => `${w.op} ${w.key}`);
  const gauge = async (): Promise<number> => (await allocationPaused.get()).values[0]?.value ?? 0;

  test('paused from the start: nothing is written to any Service while addresses from no pool, a pool import and a foreign status change come and go; resume adopts every shown address and allocates only the new Service', async () => {
    const cl = new FakeCluster();
    cl.namespace('baregate-system', {}, PAUSED);
    cl.namespace('ns');
    // MetalLB's allocations: no baregate pool holds them yet (without the pause, the first reconcile would clear them)
    cl.service('ns', 'a', { status: status('192.0.2.10') });
    cl.service('ns', 'b', { status: status('192.0.2.11'), annotations: { 'metallb.universe.tf/allow-shared-ip': 'k' } });
    cl.service('ns', 'new');
    const { ctl, events, clock } = controller(cl);
    await ctl.start();
    await settle(ctl, clock);
    assert.equal(ctl.paused(), true);
    assert.equal(await gauge(), 1, 'baregate_allocation_paused is 1');
    assert.deepEqual(serviceWrites(cl), [], 'nothing written while no pool exists');
    cl.pool('p', { addresses: ['192.0.2.8/29'] });
    await settle(ctl, clock);
    // MetalLB, still running, moves b meanwhile
    cl.service('ns', 'b', { status: status('192.0.2.12') });
    await settle(ctl, clock);
    assert.deepEqual(serviceWrites(cl), [], 'nothing written after the import either');
    assert.deepEqual(events.recorded.filter((e) => e.kind === 'Service'), [], 'and no event on a Service');
    assert.deepEqual(ips(cl.services.get('ns/new')), []);

    cl.namespace('baregate-system', {}, {});
    await settle(ctl, clock);
    assert.equal(ctl.paused(), false);
    assert.equal(await gauge(), 0);
    assert.deepEqual(ips(cl.services.get('ns/a')), ['192.0.2.10'], 'a keeps its address');
    assert.deepEqual(ips(cl.services.get('ns/b')), ['192.0.2.12'], 'b keeps the address it showed at resume');
    const got = ips(cl.services.get('ns/new'));
    assert.equal(got.length, 1);
    assert.ok(!['192.0.2.10', '192.0.2.12'].includes(got[0] ?? ''), `the new Service gets a free address, not a held one (${got.join()})`);
    // MetalLB writes no ipMode: the adopted Services get theirs added, with the same IP (no address changes hands)
    const written = (key: string): string[] => cl.writesOf('serviceIngress').filter((w) => w.key === key).flatMap((w) => (w.body as { ip: string }[]).map((i) => i.ip));
    assert.deepEqual(written('ns/a'), ['192.0.2.10']);
    assert.deepEqual(written('ns/b'), ['192.0.2.12']);
    assert.deepEqual(written('ns/new'), got);
    assert.deepEqual(cl.writesOf('serviceAnnotation').map((w) => w.key).sort(), ['ns/a', 'ns/b', 'ns/new'], 'the adopted Services get the pool annotation');
    assert.deepEqual(events.recorded.filter((e) => e.kind === 'Service').map((e) => `${e.reason} ${e.name}`).filter((e) => !e.startsWith('DeprecatedAnnotation')), ['IPAllocated new']);
  });

  test('a pause while running stops the next write; what the allocator held that a Service no longer shows is forgotten at resume', async () => {
    const cl = new FakeCluster();
    cl.namespace('baregate-system');
    cl.namespace('ns');
    cl.pool('p', { addresses: ['192.0.2.8/29'] });
    cl.service('ns', 'a', { annotations: { 'baregate.io/loadBalancerIPs': '192.0.2.10' } });
    const { ctl, clock } = controller(cl);
    await ctl.start();
    await settle(ctl, clock);
    cl.deliver();
    assert.deepEqual(ips(cl.services.get('ns/a')), ['192.0.2.10']);
    const before = cl.writes.length;

    cl.namespace('baregate-system', {}, PAUSED);
    // someone else (a MetalLB controller) rewrites a's status and annotation; a Service is created and one deleted
    cl.service('ns', 'a', { annotations: {}, status: status('192.0.2.13') });
    cl.service('ns', 'late');
    await settle(ctl, clock);
    assert.deepEqual(cl.writes.slice(before).filter((w) => w.op !== 'poolStatus'), [], 'paused: no write');
    assert.deepEqual(ips(cl.services.get('ns/late')), []);

    cl.namespace('baregate-system', {}, { 'baregate.io/allocation-paused': 'false' });
    await settle(ctl, clock);
    cl.deliver();
    await settle(ctl, clock);
    assert.deepEqual(ips(cl.services.get('ns/a')), ['192.0.2.13'], 'a keeps what it showed');
    assert.deepEqual(cl.writesOf('serviceIngress').slice(1).filter((w) => w.key === 'ns/a').flatMap((w) => (w.body as { ip: string }[]).map((i) => i.ip)), ['192.0.2.13'],
      'after the resume a\'s status is written only with the address it shows (ipMode added)');
    cl.service('ns', 'wants10', { annotations: { 'baregate.io/loadBalancerIPs': '192.0.2.10' } });
    await settle(ctl, clock);
    assert.deepEqual(ips(cl.services.get('ns/wants10')), ['192.0.2.10'], '.10 was forgotten: free for another Service');
    assert.equal(ips(cl.services.get('ns/late')).length, 1, 'the Service created while paused is allocated at resume');
  });
});
