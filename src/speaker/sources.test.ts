/**
 * The speaker's cluster view: which Services count (LoadBalancer, ingress IPs, our pool annotation), pools per
 * IP, ready nodes from EndpointSlices (union over slices, unset readiness = ready), Node flags and addresses,
 * the heartbeat key, what the caches keep (strip), and that a non-LoadBalancer Service change re-plans nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALLOCATED_FROM_POOL, HEARTBEAT_SECRET, SERVICE_NAME_LABEL, SPEAKER_LEASE_LABEL, SYSTEM_NAMESPACE } from '../api/keys.ts';
import type { ChangeHandler, KObject } from '../k8s/informer.ts';
import { objectKey } from '../k8s/informer.ts';
import type { CacheSource } from '../k8s/ports.ts';
import { ClusterSources, heartbeatKey, leaseNode, nodeInternalIPs, planNode, planService, sliceReadyNodes, sourceSpecs, type SourceSpec } from './sources.ts';

const svc = (o: { ips?: string[]; pool?: string; type?: string; etp?: string; name?: string }): Record<string, unknown> => ({
  metadata: { name: o.name ?? 's', namespace: 'ns', uid: 'u', annotations: o.pool !== undefined ? { [ALLOCATED_FROM_POOL]: o.pool, other: 'x'.repeat(1000) } : {} },
  spec: { type: o.type ?? 'LoadBalancer', externalTrafficPolicy: o.etp ?? 'Cluster', ports: [{ port: 80 }], selector: { a: 'b' } },
  status: { loadBalancer: { ingress: (o.ips ?? []).map((ip) => ({ ip, ipMode: 'VIP' })) } },
});

test('planService: ours only with type LoadBalancer, ingress IPs and the pool annotation; pools per IP when as many', () => {
  assert.deepEqual(planService(svc({ ips: ['192.0.2.1'], pool: 'p' })), { key: 'ns/s', ips: ['192.0.2.1'], pool: 'p', local: false });
  assert.equal(planService(svc({ ips: ['192.0.2.1'] })), undefined, 'no annotation: not ours (yet)');
  assert.equal(planService(svc({ ips: [], pool: 'p' })), undefined, 'no IP');
  assert.equal(planService(svc({ ips: ['192.0.2.1'], pool: 'p', type: 'NodePort' })), undefined);
  assert.deepEqual(planService(svc({ ips: ['2001:DB8::1', '192.0.2.1'], pool: 'p6,p4', etp: 'Local' })),
    { key: 'ns/s', ips: ['2001:db8::1', '192.0.2.1'], pool: 'p6', local: true, poolOf: { '2001:db8::1': 'p6', '192.0.2.1': 'p4' } }, 'canonical IPs, per-IP pools');
  assert.deepEqual(planService(svc({ ips: ['2001:db8::1', '192.0.2.1'], pool: 'p' }))?.poolOf, undefined, 'one pool for both');
  assert.equal(planService(null), undefined);
});

test('sliceReadyNodes, planNode, nodeInternalIPs, heartbeatKey, leaseNode', () => {
  assert.deepEqual(sliceReadyNodes({ metadata: { namespace: 'ns', labels: { [SERVICE_NAME_LABEL]: 's' } }, endpoints: [
    { nodeName: 'a', conditions: { ready: true } }, { nodeName: 'b', conditions: { ready: false } }, { nodeName: 'c', conditions: {} }, { conditions: { ready: true } },
  ] }), { service: 'ns/s', nodes: new Set(['a', 'c']) });
  assert.equal(sliceReadyNodes({ metadata: { namespace: 'ns' } }), undefined);
  assert.deepEqual(planNode({ metadata: { name: 'n', labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': '', x: 'y' } }, status: { conditions: [{ type: 'NetworkUnavailable', status: 'True' }] } }),
    { name: 'n', labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': '', x: 'y' }, excluded: true, networkUnavailable: true });
  assert.deepEqual(nodeInternalIPs({ status: { addresses: [{ type: 'InternalIP', address: '2001:db8::1' }, { type: 'ExternalIP', address: '203.0.113.1' }, { type: 'InternalIP', address: '192.0.2.1' }, { type: 'Hostname', address: 'n' }] } }),
    ['192.0.2.1', '2001:db8::1'], 'IPv4 first, InternalIP only');
  const secret = (data: Record<string, string> | undefined): { metadata: { name: string; namespace: string }; data?: Record<string, string> } => ({ metadata: { name: HEARTBEAT_SECRET, namespace: SYSTEM_NAMESPACE }, ...(data ? { data } : {}) });
  assert.ok('problem' in heartbeatKey([]));
  assert.ok('problem' in heartbeatKey([secret({})]));
  assert.ok('problem' in heartbeatKey([secret({ key: Buffer.from('short').toString('base64') })]));
  const k = heartbeatKey([secret({ key: Buffer.alloc(32, 7).toString('base64') })]);
  assert.ok('key' in k && k.key.equals(Buffer.alloc(32, 7)));
  assert.equal(leaseNode({ metadata: { name: 'baregate-speaker-node-1', labels: { [SPEAKER_LEASE_LABEL]: 'node-1' } } }), 'node-1');
  assert.equal(leaseNode({ metadata: { name: 'baregate-speaker-long', labels: { [SPEAKER_LEASE_LABEL]: '' } } }), 'long', 'empty label value: the name decides');
  assert.equal(leaseNode({ metadata: { name: 'baregate-controller' } }), undefined);
});

test('keep: a cached Service keeps only what the planner reads', () => {
  const spec = sourceSpecs().find((s) => s.kind === 'services');
  const o = spec?.keep?.(svc({ ips: ['192.0.2.1'], pool: 'p' }));
  assert.deepEqual(o, {
    metadata: { name: 's', namespace: 'ns', uid: 'u', annotations: { [ALLOCATED_FROM_POOL]: 'p' } },
    spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Cluster' },
    status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } },
  });
  assert.deepEqual(planService(o), { key: 'ns/s', ips: ['192.0.2.1'], pool: 'p', local: false }, 'the stripped object plans the same');
});

test('keep: a cached Secret keeps only the password and heartbeat key data', () => {
  const spec = sourceSpecs().find((s) => s.kind === 'secrets');
  const o = spec?.keep?.({ metadata: { name: 'x', namespace: SYSTEM_NAMESPACE, annotations: { a: 'b' } }, type: 'Opaque', data: { password: 'cA==', key: 'aw==', 'release': 'x'.repeat(100) }, immutable: true });
  assert.deepEqual(o, { metadata: { name: 'x', namespace: SYSTEM_NAMESPACE }, type: 'Opaque', data: { password: 'cA==', key: 'aw==' } });
});

class Cache implements CacheSource<KObject> {
  readonly handlers: ChangeHandler<KObject>[] = [];
  readonly objs = new Map<string, KObject>();
  readonly synced = Promise.resolve();
  constructor(readonly spec: SourceSpec) {}
  onChange(h: ChangeHandler<KObject>): void { this.handlers.push(h); }
  start(): void { /* fake */ }
  stop(): void { /* fake */ }
  get(k: string): KObject | undefined { return this.objs.get(k); }
  list(): KObject[] { return [...this.objs.values()]; }
  update(): void { /* fake */ }
  set(o: Record<string, unknown>): void { const x = (this.spec.keep?.(o) ?? o) as unknown as KObject; const k = objectKey(x); const old = this.objs.get(k); this.objs.set(k, x); for (const h of this.handlers) h(k, x, old); }
  del(k: string): void { const old = this.objs.get(k); this.objs.delete(k); for (const h of this.handlers) h(k, undefined, old); }
}

test('ClusterSources: incremental Services and ready nodes; changes reported per kind; non-LB Services re-plan nothing', () => {
  const caches = new Map<string, Cache>();
  const src = new ClusterSources((spec) => { const c = new Cache(spec); caches.set(spec.kind, c); return c; });
  const changes: string[] = [];
  src.onChange((kind, key) => { changes.push(`${kind}:${key}`); });
  const services = caches.get('services');
  const slices = caches.get('endpointSlices');
  assert.ok(services && slices);
  services.set(svc({ name: 'b', ips: ['192.0.2.2'], pool: 'p' }));
  services.set(svc({ name: 'a', ips: ['192.0.2.1'], pool: 'p' }));
  const first = src.services();
  assert.deepEqual(first.map((s) => s.key), ['ns/a', 'ns/b'], 'sorted by key');
  assert.equal(src.services(), first, 'not rebuilt without a change');
  changes.length = 0;
  services.set(svc({ name: 'c', type: 'ClusterIP' }));
  assert.deepEqual(changes, [], 'a Service that is not ours: no change reported');
  assert.equal(src.services(), first);
  services.del('ns/a');
  assert.deepEqual(src.services().map((s) => s.key), ['ns/b']);
  assert.deepEqual(changes, ['services:ns/a']);
  const slice = (name: string, nodes: string[]): Record<string, unknown> => ({ metadata: { name, namespace: 'ns', labels: { [SERVICE_NAME_LABEL]: 'b' } }, endpoints: nodes.map((n) => ({ nodeName: n, conditions: { ready: true }, addresses: ['10.0.0.1'] })) });
  slices.set(slice('b-1', ['n1']));
  slices.set(slice('b-2', ['n2', 'n3']));
  assert.deepEqual(src.readyNodes().get('ns/b'), new Set(['n1', 'n2', 'n3']), 'union over the slices');
  slices.set(slice('b-2', []));
  assert.deepEqual(src.readyNodes().get('ns/b'), new Set(['n1']));
  slices.del('ns/b-1');
  slices.del('ns/b-2');
  assert.equal(src.readyNodes().has('ns/b'), false);
  caches.get('nodes')?.set({ metadata: { name: 'n1', labels: {} }, status: { addresses: [{ type: 'InternalIP', address: '192.0.2.11' }] } });
  assert.deepEqual(src.nodeAddresses().get('n1'), ['192.0.2.11']);
  assert.equal(src.nodes().get('n1')?.excluded, false);
  changes.length = 0;
  caches.get('nodes')?.set({ metadata: { name: 'n1', labels: {}, annotations: { kubelet: 'beat' } }, status: { addresses: [{ type: 'InternalIP', address: '192.0.2.11' }], conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: 'now' }] } });
  services.set({ ...svc({ name: 'b', ips: ['192.0.2.2'], pool: 'p' }), metadata: { name: 'b', namespace: 'ns', labels: { new: 'label' }, annotations: { [ALLOCATED_FROM_POOL]: 'p' } } });
  slices.set(slice('b-3', []));
  assert.deepEqual(changes, [], 'echoes that change no plan input (kubelet status, labels, an empty slice) re-plan nothing');
  caches.get('nodes')?.del('n1');
  assert.equal(src.nodes().size, 0);
  caches.get('l2Advertisements')?.set({ metadata: { name: 'x', managedFields: [{}] }, spec: { interfaces: ['eth0'] } });
  assert.deepEqual(src.configSnapshot().l2Advertisements, [{ metadata: { name: 'x' }, spec: { interfaces: ['eth0'] } }]);
});
