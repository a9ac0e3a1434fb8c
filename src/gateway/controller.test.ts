import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GatewayIntegration, GatewayIntegrationStatus } from '../api/gatewayintegration.ts';
import { GATEWAY_FIELD_MANAGER } from '../api/keys.ts';
import { FakeClock } from '../clock.ts';
import type { AppliedFields, ApplyResult, ClearResult, GatewayWriter, ServiceRef, SpecChange } from '../k8s/gatewayports.ts';
import type { ChangeHandler } from '../k8s/informer.ts';
import type { CacheSource, EventRecorder, EventTarget, WriteResult } from '../k8s/ports.ts';
import { rootLogger } from '../log.ts';
import { GatewayController, intentDiffers, statusFor } from './controller.ts';
import type { GatewayObject, GatewayPlan, GatewayService, PlanGateways, ServiceIntent } from './types.ts';

const LB_IPS = 'baregate.io/loadBalancerIPs';

class FakeSource<T extends { metadata: { name: string; namespace?: string } }> implements CacheSource<T> {
  readonly items = new Map<string, T>();
  private readonly hs: ChangeHandler<T>[] = [];
  readonly synced = Promise.resolve();
  onChange(h: ChangeHandler<T>): void { this.hs.push(h); }
  start(): void { /* fed by the test */ }
  stop(): void { /* nothing to stop */ }
  get(key: string): T | undefined { return this.items.get(key); }
  list(): T[] { return [...this.items.values()]; }
  update(obj: T): void { this.items.set(this.key(obj), obj); }
  set(obj: T): void { const k = this.key(obj); const old = this.items.get(k); this.items.set(k, obj); for (const h of this.hs) h(k, obj, old); }
  private key(o: T): string { return o.metadata.namespace !== undefined ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name; }
}

class RecordingWriter implements GatewayWriter {
  readonly calls: string[] = [];
  conflict: string | undefined;
  keepNodePorts = false;
  constructor(private readonly services: FakeSource<GatewayService>) {}
  applyService(ref: ServiceRef, fields: AppliedFields): Promise<ApplyResult> {
    this.calls.push(`apply ${ref.namespace}/${ref.name} ${JSON.stringify(fields)}`);
    if (this.conflict !== undefined) return Promise.resolve({ kind: 'conflict', message: this.conflict });
    const cur = this.services.get(`${ref.namespace}/${ref.name}`);
    if (!cur) return Promise.resolve({ kind: 'gone' });
    const annotations = { ...cur.metadata.annotations };
    for (const k of owned(cur)) Reflect.deleteProperty(annotations, k);
    Object.assign(annotations, fields.annotations ?? {});
    const fieldsV1 = { 'f:metadata': { 'f:annotations': Object.fromEntries(Object.keys(fields.annotations ?? {}).map((k) => [`f:${k}`, {}])) } };
    const next: GatewayService = {
      ...cur,
      metadata: { ...cur.metadata, annotations, managedFields: Object.keys(fields.annotations ?? {}).length > 0 ? [{ manager: GATEWAY_FIELD_MANAGER, operation: 'Apply', fieldsV1 }] : [] },
      spec: { ...cur.spec, ...(fields.allocateLoadBalancerNodePorts === false ? { allocateLoadBalancerNodePorts: false } : {}) },
    };
    return Promise.resolve({ kind: 'ok', object: next });
  }
  guardedUpdate(ref: ServiceRef, change: SpecChange): Promise<ClearResult> {
    this.calls.push(`update ${ref.namespace}/${ref.name} ${JSON.stringify(change)}`);
    const cur = this.services.get(`${ref.namespace}/${ref.name}`);
    if (!cur) return Promise.resolve({ kind: 'gone' });
    const ports = (cur.spec?.ports ?? []).map((p) => (change.clearNodePorts && !this.keepNodePorts ? { port: p.port } : p));
    const next: GatewayService = { ...cur, spec: { ...cur.spec, ports, ...(change.allocateLoadBalancerNodePorts === false ? { allocateLoadBalancerNodePorts: false } : {}) } };
    return Promise.resolve({ kind: 'ok', object: next, remaining: ports.map((p) => p.nodePort).filter((n): n is number => n !== undefined) });
  }
  integrationStatus(name: string, status: GatewayIntegrationStatus): Promise<WriteResult<GatewayIntegration>> {
    this.calls.push(`status ${name} ${JSON.stringify(status.conditions?.map((c) => [c.type, c.status]))}`);
    return Promise.resolve({ kind: 'ok', object: { ...integ, metadata: { ...integ.metadata, name }, status } });
  }
}

function owned(svc: GatewayService): string[] {
  const f = svc.metadata.managedFields?.[0]?.fieldsV1 as { 'f:metadata'?: { 'f:annotations'?: Record<string, unknown> } } | undefined;
  return Object.keys(f?.['f:metadata']?.['f:annotations'] ?? {}).map((k) => k.slice(2));
}

class RecordingEvents implements EventRecorder {
  readonly recorded: string[] = [];
  writes = 0;
  record(target: EventTarget, type: string, reason: string, message: string): void { this.recorded.push(`${target.kind} ${target.metadata.name} ${type} ${reason} ${message}`); }
  forget(): void { /* nothing kept */ }
}

const integ: GatewayIntegration = { metadata: { name: 'gw', generation: 1, creationTimestamp: '2026-01-01T00:00:00Z' }, spec: { profile: 'istio', addresses: ['192.0.2.10'] } };

function svc(name: string, extra: Partial<GatewayService['spec']> = {}, annotations: Record<string, string> = {}): GatewayService {
  return { metadata: { name, namespace: 'ns', uid: `uid-${name}`, labels: { istio: 'ingressgateway' }, annotations }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }], ...extra } };
}

const intent = (name: string, over: { [K in keyof ServiceIntent]?: ServiceIntent[K] | undefined } = {}): ServiceIntent => ({
  ...({ namespace: 'ns', name, integration: 'gw', annotations: { [LB_IPS]: '192.0.2.10' }, allocateLoadBalancerNodePorts: false, clearNodePorts: false, ...over } as ServiceIntent),
});

function setup(plan: PlanGateways): { clock: FakeClock; services: FakeSource<GatewayService>; integrations: FakeSource<GatewayIntegration>; writer: RecordingWriter; events: RecordingEvents; requeued: string[]; ctl: GatewayController } {
  const clock = new FakeClock();
  const services = new FakeSource<GatewayService>();
  const integrations = new FakeSource<GatewayIntegration>();
  const gateways = new FakeSource<GatewayObject>();
  const namespaces = new FakeSource<{ metadata: { name: string } }>();
  integrations.items.set('gw', integ);
  const writer = new RecordingWriter(services);
  const events = new RecordingEvents();
  const requeued: string[] = [];
  const ctl = new GatewayController({
    sources: { integrations, namespaces, namespaceLabels: () => undefined, gateways, services }, writer, events, plan,
    poolOf: () => 'pool', requeue: (k) => { requeued.push(k); }, log: rootLogger.child({}), clock,
  });
  return { clock, services, integrations, writer, events, requeued, ctl };
}

const planOf = (services: Map<string, ServiceIntent | 'keep'>, extra: Partial<GatewayPlan> = {}): PlanGateways => () => ({ services, statuses: new Map(), problems: [], ...extra });

async function settle(clock: FakeClock, ctl: GatewayController): Promise<void> {
  await clock.advanceAsync(200, 50);
  await ctl.idle();
}

test('a Service whose intent differs gets the spec by a guarded update, then our annotations applied; a GatewayConfigured event; the allocator is requeued', async () => {
  const t = setup(planOf(new Map([['ns/a', intent('a')]])));
  t.services.items.set('ns/a', svc('a'));
  await t.ctl.start();
  await settle(t.clock, t.ctl);
  assert.deepEqual(t.writer.calls, [
    'update ns/a {"clearNodePorts":false,"allocateLoadBalancerNodePorts":false}',
    `apply ns/a {"annotations":{"${LB_IPS}":"192.0.2.10"},"allocateLoadBalancerNodePorts":false}`,
  ]);
  assert.ok(t.events.recorded.some((e) => /GatewayConfigured gateway integration gw set baregate.io\/loadBalancerIPs=192.0.2.10/.test(e)));
  assert.ok(t.requeued.includes('ns/a'));
});

test('restart: a Service already showing its intent costs no write', async () => {
  const t = setup(planOf(new Map([['ns/a', intent('a')]])));
  t.services.items.set('ns/a', svc('a', { allocateLoadBalancerNodePorts: false }, { [LB_IPS]: '192.0.2.10' }));
  await t.ctl.start();
  await settle(t.clock, t.ctl);
  t.services.set(svc('a', { allocateLoadBalancerNodePorts: false }, { [LB_IPS]: '192.0.2.10' })); // a change: another pass
  await settle(t.clock, t.ctl);
  assert.deepEqual(t.writer.calls, []);
  assert.equal(t.ctl.writes, 0);
  assert.equal(t.ctl.passes, 2);
});

test('keep: nothing written for a Service with bad input; it is held (no pool address first)', async () => {
  const t = setup(planOf(new Map([['ns/a', 'keep']])));
  t.services.items.set('ns/a', svc('a'));
  await t.ctl.start();
  await settle(t.clock, t.ctl);
  assert.deepEqual(t.writer.calls, []);
  assert.match(t.ctl.holdReason(svc('a')) ?? '', /cannot be honoured/);
});

test('hold: before the first plan any matching integration holds; after it, until the intent annotations are on the Service', async () => {
  const t = setup(planOf(new Map([['ns/a', intent('a')]])));
  t.services.items.set('ns/a', svc('a'));
  assert.equal(t.ctl.holdReason(svc('a')), 'waiting for gateway integration gw');
  assert.equal(t.ctl.holdReason({ ...svc('b'), metadata: { name: 'b', namespace: 'ns' } }), undefined, 'matched by no integration');
  t.writer.conflict = 'owned by helm';
  await t.ctl.start();
  await settle(t.clock, t.ctl);
  assert.equal(t.ctl.holdReason(svc('a')), 'waiting for gateway integration gw');
  assert.equal(t.ctl.holdReason(svc('a', {}, { [LB_IPS]: '192.0.2.10' })), undefined);
  assert.equal(t.ctl.holdReason(svc('new')), 'waiting for gateway integration gw', 'a Service created since the last plan: held by the match alone');
});

test('a conflict gives one FieldConflict event per message, no force', async () => {
  const t = setup(planOf(new Map([['ns/a', intent('a', { allocateLoadBalancerNodePorts: undefined })]])));
  t.services.items.set('ns/a', svc('a'));
  t.writer.conflict = 'Apply failed with 1 conflict: conflict with "helm" using v1: .metadata.annotations.baregate.io/loadBalancerIPs';
  await t.ctl.start();
  await settle(t.clock, t.ctl);
  t.services.set(svc('a'));
  await settle(t.clock, t.ctl);
  assert.equal(t.writer.calls.filter((c) => c.startsWith('apply')).length, 2);
  assert.equal(t.events.recorded.filter((e) => / FieldConflict .*helm/.test(e)).length, 1);
});

test('NodePort clean-up: removed and confirmed (NodePortsRemoved); kept by the apiserver: one NodePortsRemaining, not retried while unchanged', async () => {
  const withPorts = (name: string): GatewayService => ({ ...svc(name, { allocateLoadBalancerNodePorts: false }, { [LB_IPS]: '192.0.2.10' }), spec: { type: 'LoadBalancer', allocateLoadBalancerNodePorts: false, ports: [{ port: 80, nodePort: 30080 }], healthCheckNodePort: 31000 } });
  const t = setup(planOf(new Map([['ns/a', intent('a', { clearNodePorts: true })], ['ns/b', intent('b', { clearNodePorts: true })]])));
  t.services.items.set('ns/a', withPorts('a'));
  await t.ctl.start();
  await settle(t.clock, t.ctl);
  assert.deepEqual(t.writer.calls, ['update ns/a {"clearNodePorts":true}']);
  assert.ok(t.events.recorded.some((e) => /NodePortsRemoved removed NodePorts 30080/.test(e)));
  t.writer.keepNodePorts = true;
  t.services.set(withPorts('b'));
  await settle(t.clock, t.ctl);
  t.services.set(withPorts('b'));
  await settle(t.clock, t.ctl);
  assert.equal(t.writer.calls.filter((c) => c.startsWith('update ns/b')).length, 1, 'not retried while the Service shows the same NodePorts');
  assert.equal(t.events.recorded.filter((e) => /NodePortsRemaining the apiserver kept NodePorts 30080/.test(e)).length, 1);
});

test('release: fields we own on a Service no integration matches are released (empty apply)', async () => {
  const t = setup(planOf(new Map()));
  const mine: GatewayService = { ...svc('a', {}, { [LB_IPS]: '192.0.2.10' }) };
  mine.metadata.managedFields = [{ manager: GATEWAY_FIELD_MANAGER, operation: 'Apply', fieldsV1: { 'f:metadata': { 'f:annotations': { [`f:${LB_IPS}`]: {} } } } }];
  t.services.items.set('ns/a', mine);
  const updateOnly: GatewayService = svc('u');
  updateOnly.metadata.managedFields = [{ manager: GATEWAY_FIELD_MANAGER, operation: 'Update', fieldsV1: { 'f:spec': { 'f:allocateLoadBalancerNodePorts': {} } } }];
  t.services.items.set('ns/u', updateOnly);
  await t.ctl.start();
  await settle(t.clock, t.ctl);
  assert.deepEqual(t.writer.calls, ['apply ns/a {}'], 'an Update entry (the clean-up) is not released by apply: no endless releases');
});

test('status: written when it differs, lastTransitionTime kept for an unchanged condition; problems: one event per new problem', async () => {
  const planned = { services: [], conditions: [{ type: 'Ready', status: 'False' as const, reason: 'NoMatchingServices', message: 'none' }] };
  const problem = { target: { kind: 'GatewayIntegration' as const, name: 'gw' }, reason: 'AddressConflict', message: '192.0.2.10 is claimed by older' };
  const t = setup(planOf(new Map(), { statuses: new Map([['gw', planned]]), problems: [problem] }));
  await t.ctl.start();
  await settle(t.clock, t.ctl);
  assert.deepEqual(t.writer.calls, ['status gw [["Ready","False"]]']);
  // the integration now shows that status (a later time): not written again, no second event
  const shown = statusFor(integ, planned, '2025-01-01T00:00:00.000Z');
  t.integrations.set({ ...integ, status: shown });
  await settle(t.clock, t.ctl);
  assert.equal(t.writer.calls.length, 1);
  assert.equal(t.events.recorded.filter((e) => / AddressConflict /.test(e)).length, 1);
  const again = statusFor({ ...integ, status: shown }, planned, '2026-06-01T00:00:00.000Z');
  assert.equal(again.conditions?.[0]?.lastTransitionTime, '2025-01-01T00:00:00.000Z', 'kept: the condition status did not change');
});

test('intentDiffers: our values shown and nothing else owned → false; an owned annotation the intent dropped → true', () => {
  const shown = svc('a', { allocateLoadBalancerNodePorts: false }, { [LB_IPS]: '192.0.2.10' });
  assert.equal(intentDiffers(shown, intent('a')), false);
  shown.metadata.managedFields = [{ manager: GATEWAY_FIELD_MANAGER, operation: 'Apply', fieldsV1: { 'f:metadata': { 'f:annotations': { 'f:baregate.io/address-pool': {} } } } }];
  assert.equal(intentDiffers(shown, intent('a')), true);
});
