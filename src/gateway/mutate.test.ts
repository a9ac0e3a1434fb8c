import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { GatewayIntegration, GatewayIntegrationSpec, GatewayIntegrationStatus } from '../api/gatewayintegration.ts';
import type { JsonPatchOp } from '../k8s/ports.ts';
import { gatewayMutator, pointerSegment } from './mutate.ts';
import type { GatewayObject, MutationWorld } from './types.ts';

const gi = (name: string, spec: GatewayIntegrationSpec, ts = '2026-01-01T00:00:00Z', status?: GatewayIntegrationStatus): GatewayIntegration => ({ metadata: { name, creationTimestamp: ts }, spec, ...(status ? { status } : {}) });
const ISTIO = { istio: 'ingress' };
const svc = (o: { labels?: Record<string, string>; annotations?: Record<string, string>; spec?: Record<string, unknown>; name?: string } = {}): Record<string, unknown> => ({
  metadata: { name: o.name ?? 'gw1', labels: o.labels ?? ISTIO, ...(o.annotations ? { annotations: o.annotations } : {}) },
  spec: { type: 'LoadBalancer', ports: [{ port: 80, nodePort: 30080 }, { port: 443 }], ...o.spec },
});
const w = (integrations: GatewayIntegration[], gateways: GatewayObject[] = []): (() => MutationWorld) => () => ({ integrations, gateways, namespaceLabels: () => undefined });
const run = async (world: () => MutationWorld | undefined, s: Record<string, unknown>, ns = 'gw'): Promise<readonly JsonPatchOp[]> => gatewayMutator(world)(s, ns);
const ANN = '/metadata/annotations';

test('a matched Service: NodePorts off, requested nodePorts removed, etp set, the first fixed address', async () => {
  const ops = await run(w([gi('a', { profile: 'istio', addresses: ['192.0.2.10'], externalTrafficPolicy: 'Local' })]), svc());
  assert.deepEqual(ops, [
    { op: 'add', path: '/spec/allocateLoadBalancerNodePorts', value: false },
    { op: 'remove', path: '/spec/ports/0/nodePort' },
    { op: 'add', path: '/spec/externalTrafficPolicy', value: 'Local' },
    { op: 'add', path: ANN, value: { 'baregate.io/loadBalancerIPs': '192.0.2.10', 'baregate.io/gateway-integration': 'a' } },
  ]);
});

test('externalTrafficPolicy Cluster on a Local request: its healthCheckNodePort goes too (the create would be refused)', async () => {
  const ops = await run(w([gi('a', { profile: 'istio', externalTrafficPolicy: 'Cluster', disableNodePorts: false })]), svc({ spec: { externalTrafficPolicy: 'Local', healthCheckNodePort: 31000 } }));
  assert.deepEqual(ops, [{ op: 'add', path: '/spec/externalTrafficPolicy', value: 'Cluster' }, { op: 'remove', path: '/spec/healthCheckNodePort' }]);
  const local = await run(w([gi('a', { profile: 'istio', externalTrafficPolicy: 'Local', disableNodePorts: false })]), svc({ spec: { healthCheckNodePort: 31000 } }));
  assert.ok(!local.some((o) => o.path === '/spec/healthCheckNodePort'), 'kept with Local');
});

test('an unmatched Service, or caches not synced: unchanged', async () => {
  assert.deepEqual(await run(w([gi('a', { profile: 'istio', addresses: ['192.0.2.10'] })]), svc({ labels: { app: 'web' } })), []);
  assert.deepEqual(await run(() => undefined, svc()), []);
});

test('existing annotations: the key is added with JSON-pointer escaping', async () => {
  assert.equal(pointerSegment('baregate.io/loadBalancerIPs'), 'baregate.io~1loadBalancerIPs');
  assert.equal(pointerSegment('a~b/c'), 'a~0b~1c');
  const ops = await run(w([gi('a', { profile: 'istio', pool: 'gw-pool', disableNodePorts: false })]), svc({ annotations: { other: 'x' } }));
  assert.deepEqual(ops, [
    { op: 'add', path: `${ANN}/baregate.io~1address-pool`, value: 'gw-pool' },
    { op: 'add', path: `${ANN}/baregate.io~1gateway-integration`, value: 'a' },
  ]);
});

test('addresses listed for another Service in the status are skipped; dual-stack gets one of each family', async () => {
  const status: GatewayIntegrationStatus = { services: [{ namespace: 'gw', name: 'old', requested: ['192.0.2.10'], ingress: [], nodePorts: 0 }, { namespace: 'gw', name: 'gw1', requested: ['192.0.2.12'], ingress: [], nodePorts: 0 }] };
  const a = gi('a', { profile: 'istio', addresses: ['192.0.2.10', '192.0.2.11', '2001:db8::1'] }, undefined, status);
  const ops = await run(w([a]), svc({ spec: { ipFamilies: ['IPv6', 'IPv4'], allocateLoadBalancerNodePorts: false } }));
  assert.deepEqual(ops.find((o) => o.path === ANN)?.value, { 'baregate.io/loadBalancerIPs': '192.0.2.11,2001:db8::1', 'baregate.io/gateway-integration': 'a' });
  assert.ok(!ops.some((o) => o.path === '/spec/allocateLoadBalancerNodePorts'), 'already false: no op');
});

test('RequireDualStack without ipFamilies yet: one address of each family', async () => {
  const ops = await run(w([gi('a', { profile: 'istio', addresses: ['192.0.2.10', '2001:db8::1'] })]), svc({ spec: { ipFamilyPolicy: 'RequireDualStack' } }));
  assert.deepEqual(ops.find((o) => o.path === ANN)?.value, { 'baregate.io/loadBalancerIPs': '192.0.2.10,2001:db8::1', 'baregate.io/gateway-integration': 'a' });
});

test('an address an older integration names is not given; the oldest matching integration decides', async () => {
  const old = gi('old', { profile: 'custom', selector: { matchLabels: { istio: 'ingress' } }, addresses: ['192.0.2.10'], disableNodePorts: false }, '2026-01-01T00:00:00Z');
  const young = gi('young', { profile: 'istio', addresses: ['192.0.2.10', '192.0.2.11'] }, '2026-01-05T00:00:00Z');
  assert.deepEqual(await run(w([young, old]), svc()), [{ op: 'add', path: ANN, value: { 'baregate.io/loadBalancerIPs': '192.0.2.10', 'baregate.io/gateway-integration': 'old' } }]);
  const other = gi('other', { profile: 'custom', selector: { matchLabels: { role: 'x' } }, addresses: ['192.0.2.10'] }, '2026-01-01T00:00:00Z');
  const ops = await run(w([young, other]), svc());
  assert.deepEqual(ops.find((o) => o.path === ANN)?.value, { 'baregate.io/loadBalancerIPs': '192.0.2.11', 'baregate.io/gateway-integration': 'young' });
});

test('the Service\'s own loadBalancerIPs / address-pool annotation or spec.loadBalancerIP is never overridden', async () => {
  const world = w([gi('a', { profile: 'istio', addresses: ['192.0.2.10'] })]);
  for (const s of [svc({ annotations: { 'metallb.io/loadBalancerIPs': '192.0.2.9' } }), svc({ annotations: { 'baregate.io/address-pool': 'p' } }), svc({ spec: { loadBalancerIP: '192.0.2.9' } })]) {
    const ops = await run(world, s);
    assert.ok(!ops.some((o) => o.path.startsWith(ANN)), JSON.stringify(s));
    assert.ok(ops.some((o) => o.path === '/spec/allocateLoadBalancerNodePorts'), 'NodePorts still off');
  }
});

test('istio-gateway-api: the Gateway\'s IP addresses (not other types)', async () => {
  const gw: GatewayObject = { metadata: { name: 'web', namespace: 'gw' }, spec: { gatewayClassName: 'istio', addresses: [{ value: '2001:db8::5' }, { type: 'Hostname', value: 'h' }, { type: 'IPAddress', value: '192.0.2.5' }] } };
  const s = svc({ labels: { 'gateway.istio.io/managed': 'istio.io-gateway-controller', 'gateway.networking.k8s.io/gateway-name': 'web' } });
  const ops = await run(w([gi('a', { profile: 'istio-gateway-api', addresses: ['192.0.2.10'] })], [gw]), s);
  assert.deepEqual(ops.find((o) => o.path === ANN)?.value, { 'baregate.io/loadBalancerIPs': '192.0.2.5,2001:db8::5', 'baregate.io/gateway-integration': 'a' });
});

test('istio-gateway-api: a Service istiod creates with spec.loadBalancerIP (its copy of the first address) gets both families', async () => {
  const gw: GatewayObject = { metadata: { name: 'web', namespace: 'gw' }, spec: { gatewayClassName: 'istio', addresses: [{ value: '192.0.2.5' }, { value: '2001:db8::5' }] } };
  const s = svc({ labels: { 'gateway.istio.io/managed': 'istio.io-gateway-controller', 'gateway.networking.k8s.io/gateway-name': 'web' }, spec: { loadBalancerIP: '192.0.2.5' } });
  const ops = await run(w([gi('a', { profile: 'istio-gateway-api' })], [gw]), s);
  assert.deepEqual(ops.find((o) => o.path === ANN)?.value, { 'baregate.io/loadBalancerIPs': '192.0.2.5,2001:db8::5', 'baregate.io/gateway-integration': 'a' });
});

test('no fixed address left and no pool: no annotation; NodePorts still off', async () => {
  const status: GatewayIntegrationStatus = { services: [{ namespace: 'gw', name: 'old', requested: [], ingress: ['192.0.2.10'], nodePorts: 0 }] };
  const ops = await run(w([gi('a', { profile: 'istio', addresses: ['192.0.2.10'] }, undefined, status)]), svc());
  assert.deepEqual(ops.map((o) => o.path), ['/spec/allocateLoadBalancerNodePorts', '/spec/ports/0/nodePort']);
});

test('never throws on odd input', async () => {
  const world = w([gi('a', { profile: 'istio', addresses: ['192.0.2.10'] })]);
  await fc.assert(fc.asyncProperty(fc.anything(), fc.anything(), async (meta, spec) => {
    const ops = await run(world, { metadata: meta, spec });
    assert.ok(Array.isArray(ops));
  }), { numRuns: 300 });
  assert.deepEqual(await run(world, {}), []);
  assert.deepEqual(await run(() => { throw new Error('boom'); }, svc()), []);
});
