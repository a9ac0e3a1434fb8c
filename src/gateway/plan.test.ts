import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { GatewayIntegration, GatewayIntegrationSpec } from '../api/gatewayintegration.ts';
import { GatewayConditions } from '../api/keys.ts';
import { planGateways } from './plan.ts';
import type { GatewayObject, GatewayPlan, GatewayService, GatewayWorld, ServiceIntent } from './types.ts';

const LBIPS = 'baregate.io/loadBalancerIPs';
const gi = (name: string, spec: GatewayIntegrationSpec, ts = '2026-01-01T00:00:00Z'): GatewayIntegration => ({ metadata: { name, creationTimestamp: ts }, spec });
interface SvcOpts { ns?: string; ts?: string; families?: string[]; ingress?: string[]; nodePorts?: boolean; annotations?: Record<string, string>; loadBalancerIP?: string; extraMeta?: Partial<GatewayService['metadata']> }
const svc = (name: string, labels: Record<string, string>, o: SvcOpts = {}): GatewayService => ({
  metadata: { name, namespace: o.ns ?? 'gw', creationTimestamp: o.ts ?? '2026-01-02T00:00:00Z', labels, ...(o.annotations ? { annotations: o.annotations } : {}), ...o.extraMeta },
  spec: {
    type: 'LoadBalancer', ports: [{ port: 80, ...(o.nodePorts === true ? { nodePort: 30080 } : {}) }, { port: 443 }],
    ...(o.families ? { ipFamilies: o.families } : {}),
    ...(o.loadBalancerIP !== undefined ? { loadBalancerIP: o.loadBalancerIP } : {}),
  },
  ...(o.ingress ? { status: { loadBalancer: { ingress: o.ingress.map((ip) => ({ ip })) } } } : {}),
});
const inPool = (ip: string): string | undefined => (ip.startsWith('192.0.2.') || ip.startsWith('2001:db8:') ? 'gw-pool' : undefined);
const world = (integrations: GatewayIntegration[], services: GatewayService[], gateways: GatewayObject[] = []): GatewayWorld => ({
  integrations, services, gateways, namespaceLabels: () => undefined, poolOf: inPool,
});
const intent = (p: GatewayPlan, key: string): ServiceIntent => {
  const i = p.services.get(key);
  assert.ok(i !== undefined && i !== 'keep', `${key} has an intent`);
  return i;
};
const cond = (p: GatewayPlan, gi: string, type: string): { status: string; reason: string; message: string } => {
  const c = p.statuses.get(gi)?.conditions.find((x) => x.type === type);
  assert.ok(c, `${gi} has condition ${type}`);
  return c;
};
const ISTIO = { istio: 'ingress', app: 'istio-ingress' };
const NGINX = { 'app.kubernetes.io/name': 'ingress-nginx', 'app.kubernetes.io/component': 'controller' };
const MANAGED = { 'gateway.istio.io/managed': 'istio.io-gateway-controller', 'gateway.networking.k8s.io/gateway-name': 'web' };
const gateway = (addresses: { type?: string; value?: string }[] = []): GatewayObject => ({ metadata: { name: 'web', namespace: 'gw' }, spec: { gatewayClassName: 'istio', addresses } });

test('every profile: the matched Service gets its fixed IP and NodePorts off; every condition type is present', () => {
  const cases: [GatewayIntegrationSpec, GatewayService, GatewayObject[]][] = [
    [{ profile: 'istio', addresses: ['192.0.2.10'] }, svc('istio-ingress', ISTIO, { nodePorts: true }), []],
    [{ profile: 'ingress-nginx', addresses: ['192.0.2.10'] }, svc('ingress-nginx-controller', NGINX, { nodePorts: true }), []],
    [{ profile: 'custom', selector: { matchLabels: { role: 'edge' } }, addresses: ['192.0.2.10'] }, svc('edge', { role: 'edge' }, { nodePorts: true }), []],
    [{ profile: 'istio-gateway-api', addresses: ['192.0.2.10'] }, svc('web-istio', MANAGED, { nodePorts: true }), [gateway()]],
  ];
  for (const [spec, s, gws] of cases) {
    const p = planGateways(world([gi('a', spec)], [s], gws));
    const i = intent(p, `gw/${s.metadata.name}`);
    assert.deepEqual(i.annotations, { [LBIPS]: '192.0.2.10' }, spec.profile);
    assert.equal(i.allocateLoadBalancerNodePorts, false);
    assert.equal(i.clearNodePorts, true);
    assert.equal(i.integration, 'a');
    const st = p.statuses.get('a');
    assert.ok(st);
    assert.deepEqual(st.conditions.map((c) => c.type).sort(), Object.values(GatewayConditions).sort());
    assert.deepEqual(st.services[0]?.requested, ['192.0.2.10']);
    assert.equal(st.services[0].nodePorts, 1);
    assert.equal(cond(p, 'a', 'NodePortsRemaining').status, 'True');
    assert.equal(cond(p, 'a', 'Ready').reason, 'NodePortsRemaining');
  }
});

test('Ready Configured once the Service shows its address and has no NodePorts; externalTrafficPolicy is carried', () => {
  const p = planGateways(world([gi('a', { profile: 'istio', addresses: ['192.0.2.10'], externalTrafficPolicy: 'Local' })], [svc('s', ISTIO, { ingress: ['192.0.2.10'] })]));
  assert.equal(cond(p, 'a', 'Ready').status, 'True');
  assert.equal(cond(p, 'a', 'Ready').reason, 'Configured');
  assert.equal(intent(p, 'gw/s').externalTrafficPolicy, 'Local');
  assert.equal(intent(p, 'gw/s').clearNodePorts, false);
  const pending = planGateways(world([gi('a', { profile: 'istio', addresses: ['192.0.2.10'] })], [svc('s', ISTIO)]));
  assert.equal(cond(pending, 'a', 'Ready').reason, 'Pending');
});

test('dual-stack: one address of each family, IPv4 first', () => {
  const p = planGateways(world([gi('a', { profile: 'istio', addresses: ['2001:db8::10', '192.0.2.10'] })], [svc('s', ISTIO, { families: ['IPv6', 'IPv4'] })]));
  assert.deepEqual(intent(p, 'gw/s').annotations, { [LBIPS]: '192.0.2.10,2001:db8::10' });
});

test('two Services share the addresses in a stable order: oldest Service first', () => {
  const a = gi('a', { profile: 'istio', addresses: ['192.0.2.10', '192.0.2.11'] });
  const p = planGateways(world([a], [svc('young', ISTIO, { ts: '2026-01-03T00:00:00Z' }), svc('old', ISTIO, { ts: '2026-01-02T00:00:00Z' })]));
  assert.deepEqual(intent(p, 'gw/old').annotations, { [LBIPS]: '192.0.2.10' });
  assert.deepEqual(intent(p, 'gw/young').annotations, { [LBIPS]: '192.0.2.11' });
  assert.deepEqual(p.statuses.get('a')?.services.map((s) => s.name), ['old', 'young'], 'status sorted by namespace/name');
});

test('stickiness: a Service keeps the address it holds when an older one appears', () => {
  const a = gi('a', { profile: 'istio', addresses: ['192.0.2.10', '192.0.2.11'] });
  const p = planGateways(world([a], [svc('young', ISTIO, { ts: '2026-01-03T00:00:00Z', ingress: ['192.0.2.10'] }), svc('old', ISTIO, { ts: '2026-01-02T00:00:00Z' })]));
  assert.deepEqual(intent(p, 'gw/young').annotations, { [LBIPS]: '192.0.2.10' });
  assert.deepEqual(intent(p, 'gw/old').annotations, { [LBIPS]: '192.0.2.11' });
});

test('not enough fixed addresses: no address annotation (nothing taken away), Ready NotEnoughAddresses', () => {
  const a = gi('a', { profile: 'istio', addresses: ['192.0.2.10'] });
  const p = planGateways(world([a], [svc('s1', ISTIO, { ts: '2026-01-02T00:00:00Z' }), svc('s2', ISTIO, { ts: '2026-01-03T00:00:00Z', ingress: ['192.0.2.99'] })]));
  assert.deepEqual(intent(p, 'gw/s2').annotations, {});
  assert.equal(cond(p, 'a', 'Ready').reason, 'NotEnoughAddresses');
});

test('a pool integration: the pool annotation', () => {
  const p = planGateways(world([gi('a', { profile: 'istio', pool: 'gw-pool' })], [svc('s', ISTIO)]));
  assert.deepEqual(intent(p, 'gw/s').annotations, { 'baregate.io/address-pool': 'gw-pool' });
});

test('the same fixed address in two integrations: the oldest keeps it, the younger gets AddressConflict', () => {
  const old = gi('old', { profile: 'istio', addresses: ['192.0.2.10'] }, '2026-01-01T00:00:00Z');
  const young = gi('young', { profile: 'ingress-nginx', addresses: ['192.0.2.10'] }, '2026-01-05T00:00:00Z');
  const p = planGateways(world([young, old], [svc('i', ISTIO), svc('n', NGINX)]));
  assert.deepEqual(intent(p, 'gw/i').annotations, { [LBIPS]: '192.0.2.10' });
  assert.deepEqual(intent(p, 'gw/n').annotations, {});
  assert.equal(cond(p, 'young', 'AddressConflict').status, 'True');
  assert.match(cond(p, 'young', 'AddressConflict').message, /192\.0\.2\.10.*old/);
  assert.equal(cond(p, 'young', 'Ready').reason, 'AddressConflict');
  assert.equal(cond(p, 'old', 'AddressConflict').status, 'False');
  assert.ok(p.problems.some((x) => x.target.kind === 'GatewayIntegration' && x.target.name === 'young' && x.reason === 'AddressConflict'));
});

test('an address held or requested by a Service the integration does not match: AddressConflict, not assigned', () => {
  const a = gi('a', { profile: 'istio', addresses: ['192.0.2.10', '192.0.2.11'] });
  for (const other of [svc('web', { app: 'web' }, { ingress: ['192.0.2.10'] }), svc('web', { app: 'web' }, { annotations: { 'metallb.io/loadBalancerIPs': '192.0.2.10' } }), svc('web', { app: 'web' }, { loadBalancerIP: '192.0.2.10' })]) {
    const p = planGateways(world([a], [svc('s', ISTIO), other]));
    assert.deepEqual(intent(p, 'gw/s').annotations, { [LBIPS]: '192.0.2.11' });
    assert.equal(cond(p, 'a', 'AddressConflict').status, 'True');
    assert.match(cond(p, 'a', 'AddressConflict').message, /gw\/web/);
    assert.equal(p.services.has('gw/web'), false, 'the unmatched Service is not planned');
  }
});

test('an address in no pool: InvalidAddress, not assigned, a problem on the integration', () => {
  const p = planGateways(world([gi('a', { profile: 'istio', addresses: ['198.51.100.7', '192.0.2.10'] })], [svc('s', ISTIO)]));
  assert.deepEqual(intent(p, 'gw/s').annotations, { [LBIPS]: '192.0.2.10' });
  assert.equal(cond(p, 'a', 'InvalidAddress').status, 'True');
  assert.equal(cond(p, 'a', 'Ready').reason, 'InvalidAddress');
  assert.deepEqual(p.problems.map((x) => [x.target.kind, x.reason]), [['GatewayIntegration', 'InvalidAddress']]);
  assert.match(p.problems[0]?.message ?? '', /198\.51\.100\.7/);
});

test('Gateway addresses: IPAddress entries are requested (they win over spec.addresses); Hostname, not in pool, in use are rejected', () => {
  const a = gi('a', { profile: 'istio-gateway-api', addresses: ['192.0.2.10'] });
  const s = svc('web-istio', MANAGED);
  const ok = planGateways(world([a], [s], [gateway([{ type: 'IPAddress', value: '192.0.2.50' }, { value: '2001:db8::50' }])]));
  assert.deepEqual(intent(ok, 'gw/web-istio').annotations, { [LBIPS]: '192.0.2.50,2001:db8::50' });
  assert.equal(intent(ok, 'gw/web-istio').gateway, 'web');
  assert.equal(cond(ok, 'a', 'GatewayAddressesRejected').status, 'False');

  const cases: [{ type?: string; value?: string }, RegExp, string][] = [
    [{ type: 'Hostname', value: 'gw.example' }, /unsupported address type Hostname/, 'UnsupportedAddressType'],
    [{ value: '198.51.100.50' }, /not in any IPAddressPool/, 'NotInPool'],
    [{ value: '192.0.2.60' }, /in use by Service gw\/other/, 'InUse'],
    [{ value: '192.0.2.70' }, /fixed address of GatewayIntegration z/, 'InUse'],
  ];
  for (const [addr, msg, reason] of cases) {
    const z = gi('z', { profile: 'custom', selector: { matchLabels: { role: 'z' } }, addresses: ['192.0.2.70'] });
    const p = planGateways(world([a, z], [s, svc('other', { app: 'x' }, { ingress: ['192.0.2.60'] })], [gateway([addr])]));
    const c = cond(p, 'a', 'GatewayAddressesRejected');
    assert.equal(c.status, 'True');
    assert.equal(c.reason, reason);
    assert.match(c.message, msg);
    assert.deepEqual(p.problems.filter((x) => x.reason === 'GatewayAddressesRejected').map((x) => x.target.kind), ['Gateway', 'Service']);
    assert.match(p.problems.find((x) => x.target.kind === 'Service')?.message ?? '', msg);
    // all rejected, the Service holds nothing: treated like a Gateway without addresses
    assert.deepEqual(intent(p, 'gw/web-istio').annotations, { [LBIPS]: '192.0.2.10' });
  }
  const two = planGateways(world([a], [s, svc('web2-istio', { ...MANAGED, 'gateway.networking.k8s.io/gateway-name': 'web2' }, { ts: '2026-01-01T00:00:00Z' })],
    [gateway([{ value: '192.0.2.10' }]), { metadata: { name: 'web2', namespace: 'gw' }, spec: { gatewayClassName: 'istio' } }]));
  assert.deepEqual(intent(two, 'gw/web-istio').annotations, { [LBIPS]: '192.0.2.10' }, 'the Gateway asks for a fixed address of its integration');
  assert.deepEqual(intent(two, 'gw/web2-istio').annotations, {}, 'an older Service of the same integration does not get it too');
  const none = planGateways(world([a], [s], [gateway()]));
  assert.deepEqual(intent(none, 'gw/web-istio').annotations, { [LBIPS]: '192.0.2.10' }, 'no Gateway addresses: normal assignment');
});

test('keep on bad input: a Service holding an address that became conflicting, or whose Gateway request is rejected, is left alone', () => {
  const old = gi('old', { profile: 'custom', selector: { matchLabels: { role: 'edge' } }, addresses: ['192.0.2.10'] }, '2026-01-01T00:00:00Z');
  const young = gi('young', { profile: 'istio', addresses: ['192.0.2.10', '192.0.2.11'] }, '2026-01-05T00:00:00Z');
  const p = planGateways(world([old, young], [svc('i', ISTIO, { ingress: ['192.0.2.10'] }), svc('e', { role: 'edge' })]));
  assert.equal(p.services.get('gw/i'), 'keep');
  assert.deepEqual(p.statuses.get('young')?.services[0]?.requested, ['192.0.2.10'], 'status shows what it keeps');
  const invalid = planGateways(world([gi('a', { profile: 'istio', addresses: ['198.51.100.7', '192.0.2.11'] })], [svc('i', ISTIO, { ingress: ['198.51.100.7'] })]));
  assert.equal(invalid.services.get('gw/i'), 'keep', 'its address left every pool: not replaced');
  const gw = planGateways(world([gi('a', { profile: 'istio-gateway-api' })], [svc('web-istio', MANAGED, { ingress: ['192.0.2.5'] })], [gateway([{ type: 'Hostname', value: 'x' }])]));
  assert.equal(gw.services.get('gw/web-istio'), 'keep');
});

test('the Service\'s own request wins: no address annotation owned; NodePorts still off', () => {
  const a = gi('a', { profile: 'istio', addresses: ['192.0.2.10'] });
  for (const o of [{ annotations: { 'metallb.io/loadBalancerIPs': '192.0.2.77' } }, { annotations: { [LBIPS]: '192.0.2.77' } }, { loadBalancerIP: '192.0.2.77' }, { annotations: { 'baregate.io/address-pool': 'other' } }]) {
    const p = planGateways(world([a], [svc('s', ISTIO, { ...o, nodePorts: true })]));
    assert.deepEqual(intent(p, 'gw/s').annotations, {}, JSON.stringify(o));
    assert.equal(intent(p, 'gw/s').clearNodePorts, true);
  }
  // our key with our value, or listed in our managedFields entry: ours, so it is re-applied / updated
  const ours = planGateways(world([a], [svc('s', ISTIO, { annotations: { [LBIPS]: '192.0.2.10' } })]));
  assert.deepEqual(intent(ours, 'gw/s').annotations, { [LBIPS]: '192.0.2.10' });
  const mf = { managedFields: [{ manager: 'baregate-gateway', operation: 'Apply', fieldsV1: { 'f:metadata': { 'f:annotations': { [`f:${LBIPS}`]: {} } } } }] };
  const lastTime = { ...a, status: { services: [{ namespace: 'gw', name: 's', requested: ['192.0.2.99'], ingress: [], nodePorts: 0 }] } };
  const fromStatus = planGateways(world([lastTime], [svc('s', ISTIO, { annotations: { [LBIPS]: '192.0.2.99' } })]));
  assert.deepEqual(intent(fromStatus, 'gw/s').annotations, { [LBIPS]: '192.0.2.10' }, 'the value our status says we asked for is ours');
  const owned = planGateways(world([a], [svc('s', ISTIO, { annotations: { [LBIPS]: '192.0.2.99' }, extraMeta: mf })]));
  assert.deepEqual(intent(owned, 'gw/s').annotations, { [LBIPS]: '192.0.2.10' });
});

test('the webhook\'s mark: an address annotation set at creation for this integration is ours, so it follows a changed Gateway', () => {
  const a = gi('a', { profile: 'istio-gateway-api' });
  // created by the webhook for the Gateway's old address; the Gateway changed before the status recorded it
  const marked = svc('web-istio', MANAGED, { annotations: { [LBIPS]: '192.0.2.5', 'baregate.io/gateway-integration': 'a' } });
  const p = planGateways(world([a], [marked], [gateway([{ value: '192.0.2.6' }])]));
  assert.deepEqual(intent(p, 'gw/web-istio').annotations, { [LBIPS]: '192.0.2.6' });
  // the same annotation with no mark (or another integration's) is the Service's own request and wins
  for (const annotations of [{ [LBIPS]: '192.0.2.5' }, { [LBIPS]: '192.0.2.5', 'baregate.io/gateway-integration': 'other' }]) {
    const q = planGateways(world([a], [svc('web-istio', MANAGED, { annotations })], [gateway([{ value: '192.0.2.6' }])]));
    assert.deepEqual(intent(q, 'gw/web-istio').annotations, {}, JSON.stringify(annotations));
  }
});

test('istio-gateway-api: istiod\'s copy of the first Gateway address in spec.loadBalancerIP is not the Service\'s own request', () => {
  const gw = gateway([{ value: '192.0.2.6' }, { value: '2001:db8::6' }]);
  const p = planGateways(world([gi('a', { profile: 'istio-gateway-api' })], [svc('web-istio', MANAGED, { loadBalancerIP: '192.0.2.6', families: ['IPv4', 'IPv6'] })], [gw]));
  assert.deepEqual(intent(p, 'gw/web-istio').annotations, { [LBIPS]: '192.0.2.6,2001:db8::6' });
  // on a Service of another profile, spec.loadBalancerIP stays the user's own request
  const q = planGateways(world([gi('b', { profile: 'istio', addresses: ['192.0.2.10'] })], [svc('istio-ingress', ISTIO, { loadBalancerIP: '192.0.2.9' })]));
  assert.deepEqual(intent(q, 'gw/istio-ingress').annotations, {});
});

test('disableNodePorts false: NodePorts are not ours', () => {
  const p = planGateways(world([gi('a', { profile: 'istio', addresses: ['192.0.2.10'], disableNodePorts: false })], [svc('s', ISTIO, { nodePorts: true, ingress: ['192.0.2.10'] })]));
  const i = intent(p, 'gw/s');
  assert.equal(i.allocateLoadBalancerNodePorts, undefined);
  assert.equal(i.clearNodePorts, false);
  assert.equal(cond(p, 'a', 'NodePortsRemaining').status, 'False');
  assert.equal(cond(p, 'a', 'Ready').reason, 'Configured');
});

test('a selector matching nothing: NoMatchingServices; matched only by an older one: ServiceClaimed', () => {
  const p = planGateways(world([gi('a', { profile: 'custom', selector: { matchLabels: { role: 'none' } } })], [svc('s', ISTIO)]));
  assert.equal(cond(p, 'a', 'Ready').reason, 'NoMatchingServices');
  assert.deepEqual(p.statuses.get('a')?.services, []);
  assert.equal(p.services.size, 0);
  const two = planGateways(world([gi('young', { profile: 'istio' }, '2026-01-05T00:00:00Z'), gi('old', { profile: 'istio' }, '2026-01-01T00:00:00Z')], [svc('s', ISTIO)]));
  assert.equal(cond(two, 'young', 'Ready').reason, 'ServiceClaimed');
  assert.equal(intent(two, 'gw/s').integration, 'old');
});

test('determinism: shuffled input order gives the same plan', () => {
  const integrations = [
    gi('a', { profile: 'istio', addresses: ['192.0.2.10', '192.0.2.11', '2001:db8::1'] }, '2026-01-01T00:00:00Z'),
    gi('b', { profile: 'istio', addresses: ['192.0.2.11', '198.51.100.1'] }, '2026-01-02T00:00:00Z'),
    gi('c', { profile: 'istio-gateway-api', pool: 'gw-pool' }, '2026-01-03T00:00:00Z'),
    gi('d', { profile: 'custom', selector: { matchLabels: { role: 'edge' } }, addresses: ['192.0.2.20'] }, '2026-01-03T00:00:00Z'),
  ];
  const services = [
    svc('s1', ISTIO, { ts: '2026-01-02T00:00:00Z', families: ['IPv4', 'IPv6'] }), svc('s2', ISTIO, { ts: '2026-01-02T00:00:00Z', ns: 'a' }),
    svc('s3', ISTIO, { ts: '2026-01-01T00:00:00Z', ingress: ['192.0.2.11'] }), svc('web-istio', MANAGED, { nodePorts: true }),
    svc('e', { role: 'edge' }), svc('x', { app: 'x' }, { ingress: ['192.0.2.20'] }),
  ];
  const gws = [gateway([{ value: '192.0.2.30' }, { type: 'Hostname', value: 'h' }]), { metadata: { name: 'other', namespace: 'gw' } }];
  const base = planGateways(world(integrations, services, gws));
  fc.assert(fc.property(fc.shuffledSubarray(integrations, { minLength: 4 }), fc.shuffledSubarray(services, { minLength: 6 }), fc.shuffledSubarray(gws, { minLength: 2 }), (i, s, g) => {
    const p = planGateways(world(i, s, g));
    assert.deepEqual([...p.services], [...base.services]);
    assert.deepEqual([...p.statuses], [...base.statuses]);
    assert.deepEqual(p.problems, base.problems);
  }), { numRuns: 200 });
});

test('10k Services x 20 integrations, half of the Services matched: counts right (elapsed printed)', (t) => {
  const integrations: GatewayIntegration[] = [];
  for (let k = 0; k < 20; k++) integrations.push(gi(`gi${k}`, { profile: 'custom', selector: { matchLabels: { gw: `g${k}` } }, pool: 'gw-pool' }, `2026-01-01T00:00:${String(k).padStart(2, '0')}Z`));
  const services: GatewayService[] = [];
  for (let n = 0; n < 10_000; n++) services.push(svc(`s${n}`, n % 2 === 0 ? { gw: `g${n % 40 / 2}` } : { app: 'other' }, { ns: `ns${n % 50}`, ingress: [`10.${n >> 8}.${n & 255}.1`] }));
  const start = performance.now();
  const p = planGateways(world(integrations, services));
  const ms = performance.now() - start;
  const again = performance.now();
  const p2 = planGateways(world(integrations, services));
  const warm = performance.now() - again;
  t.diagnostic(`planGateways 10k Services x 20 integrations: ${ms.toFixed(1)} ms first pass, ${warm.toFixed(1)} ms second`);
  assert.deepEqual([...p2.services], [...p.services], 'same world, same plan');
  assert.equal(p.services.size, 5000);
  assert.equal(p.statuses.size, 20);
  for (const st of p.statuses.values()) assert.equal(st.services.length, 250);
});

test('property: no fixed address is asked for on two Services, and a held fixed address is never replaced', () => {
  const ips = ['192.0.2.1', '192.0.2.2', '192.0.2.3', '198.51.100.1', '2001:db8::1', '2001:db8::2'];
  const roles = ['r0', 'r1', 'r2'];
  const arb = fc.record({
    integrations: fc.array(fc.record({ role: fc.constantFrom(...roles), addresses: fc.subarray(ips), ts: fc.integer({ min: 0, max: 3 }) }), { maxLength: 4 }),
    services: fc.array(fc.record({ role: fc.constantFrom(...roles, 'none'), held: fc.option(fc.constantFrom(...ips), { nil: undefined }), ts: fc.integer({ min: 0, max: 3 }), dual: fc.boolean() }), { maxLength: 8 }),
  });
  fc.assert(fc.property(arb, ({ integrations, services }) => {
    const gis = integrations.map((x, k) => gi(`g${k}`, { profile: 'custom', selector: { matchLabels: { role: x.role } }, addresses: x.addresses }, `2026-01-0${x.ts + 1}T00:00:00Z`));
    const svcs = services.map((x, k) => svc(`s${k}`, { role: x.role }, { ts: `2026-01-0${x.ts + 1}T00:00:00Z`, ...(x.held ? { ingress: [x.held] } : {}), ...(x.dual ? { families: ['IPv4', 'IPv6'] } : {}) }));
    const p = planGateways(world(gis, svcs));
    const seen = new Map<string, string>();
    for (const [key, i] of p.services) {
      if (i === 'keep') continue;
      for (const ip of (i.annotations[LBIPS] ?? '').split(',').filter((x) => x !== '')) {
        assert.equal(seen.get(ip), undefined, `${ip} on ${key} and ${seen.get(ip) ?? ''}`);
        seen.set(ip, key);
      }
    }
    for (const s of svcs) {
      const key = `gw/${s.metadata.name}`;
      const i = p.services.get(key);
      const held = s.status?.loadBalancer?.ingress?.[0]?.ip;
      if (i === undefined || i === 'keep' || held === undefined) continue;
      const owner = gis.find((g) => g.metadata.name === i.integration);
      if (owner?.spec.addresses?.includes(held) === true) assert.ok((i.annotations[LBIPS] ?? '').split(',').includes(held), `${key} keeps ${held}`);
    }
  }), { numRuns: 300 });
});
