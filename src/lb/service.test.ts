import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes } from '../api/errors.ts';
import { formatIP } from '../net/ip.ts';
import { deprecatedAnnotations, isOurs, isRequestError, requestFor, statusIPs, type Service } from './service.ts';

const svc = (over: Partial<Service['spec']> = {}, annotations: Record<string, string> = {}): Service => ({
  metadata: { name: 'web', namespace: 'ns', annotations, labels: { app: 'web' } },
  spec: { type: 'LoadBalancer', ports: [{ port: 80 }, { port: 53, protocol: 'UDP' }], selector: { b: '2', a: '1' }, ...over },
});

test('isOurs: LoadBalancer with our class, or no class unless --only-own-class', () => {
  assert.equal(isOurs(svc(), false), true);
  assert.equal(isOurs(svc(), true), false);
  assert.equal(isOurs(svc({ loadBalancerClass: 'baregate.io/lb' }), true), true);
  assert.equal(isOurs(svc({ loadBalancerClass: 'other/lb' }), false), false);
  assert.equal(isOurs(svc({ type: 'ClusterIP' }), false), false);
});

test('isOurs with --lb-class: another class is served, ours by default is then not', () => {
  assert.equal(isOurs(svc({ loadBalancerClass: 'metallb.io/metallb' }), true, 'metallb.io/metallb'), true);
  assert.equal(isOurs(svc({ loadBalancerClass: 'baregate.io/lb' }), true, 'metallb.io/metallb'), false);
  assert.equal(isOurs(svc(), false, 'metallb.io/metallb'), true, 'class-less Services stay ours unless --only-own-class');
  assert.equal(isOurs(svc(), true, 'metallb.io/metallb'), false);
});

test('an annotation that is exactly empty counts as unset (as MetalLB): the next spelling or spec.loadBalancerIP applies', () => {
  const r = requestFor(svc({ loadBalancerIP: '192.0.2.9' }, { 'baregate.io/loadBalancerIPs': '', 'baregate.io/address-pool': '', 'baregate.io/allow-shared-ip': '' }), {});
  assert.ok(!isRequestError(r), isRequestError(r) ? r.reason : '');
  assert.deepEqual(r.requestedIPs.map(formatIP), ['192.0.2.9']);
  assert.equal(r.pool, undefined);
  assert.equal(r.sharingKey, undefined);
  const m = requestFor(svc({}, { 'baregate.io/loadBalancerIPs': '', 'metallb.io/loadBalancerIPs': '192.0.2.3', 'metallb.universe.tf/address-pool': '', 'metallb.io/address-pool': 'gold' }), {});
  assert.ok(!isRequestError(m));
  assert.deepEqual(m.requestedIPs.map(formatIP), ['192.0.2.3']);
  assert.equal(m.pool, 'gold');
});

test('deprecated metallb.universe.tf keys are listed with their baregate.io replacement; metallb.io keys are not', () => {
  assert.deepEqual(deprecatedAnnotations(svc({}, { 'metallb.universe.tf/address-pool': 'a', 'metallb.universe.tf/allow-shared-ip': 'k', 'metallb.io/loadBalancerIPs': '192.0.2.1' })), [
    { key: 'metallb.universe.tf/address-pool', replacement: 'baregate.io/address-pool' },
    { key: 'metallb.universe.tf/allow-shared-ip', replacement: 'baregate.io/allow-shared-ip' },
  ]);
  assert.deepEqual(deprecatedAnnotations(svc({}, { 'baregate.io/address-pool': 'a' })), []);
});

test('requestFor reads every annotation spelling, policy, ports and backends', () => {
  const r = requestFor(svc({ ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'], externalTrafficPolicy: 'Local' }, {
    'metallb.universe.tf/loadBalancerIPs': '2001:db8::1, 192.0.2.1', 'metallb.io/address-pool': 'gold', 'metallb.universe.tf/allow-shared-ip': ' k ',
  }), { team: 'x' });
  assert.ok(!isRequestError(r));
  assert.equal(r.key, 'ns/web');
  assert.deepEqual(r.requestedIPs.map(formatIP), ['2001:db8::1', '192.0.2.1']);
  assert.equal(r.pool, 'gold');
  assert.equal(r.sharingKey, 'k');
  assert.deepEqual(r.families, ['IPv6', 'IPv4']);
  assert.equal(r.policy, 'RequireDualStack');
  assert.deepEqual(r.ports, [{ port: 80, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }]);
  assert.equal(r.backendKey, 'a=1,b=2');
  assert.deepEqual(r.namespaceLabels, { team: 'x' });
});

test('our annotation wins over the MetalLB ones; spec.loadBalancerIP is the last resort', () => {
  const r = requestFor(svc({ loadBalancerIP: '192.0.2.9' }, { 'baregate.io/loadBalancerIPs': '192.0.2.1', 'metallb.io/loadBalancerIPs': '192.0.2.2' }), {});
  assert.ok(!isRequestError(r));
  assert.deepEqual(r.requestedIPs.map(formatIP), ['192.0.2.1']);
  const s = requestFor(svc({ loadBalancerIP: '192.0.2.9' }), {});
  assert.ok(!isRequestError(s));
  assert.deepEqual(s.requestedIPs.map(formatIP), ['192.0.2.9']);
  const c = requestFor(svc(), {});
  assert.ok(!isRequestError(c));
  assert.equal(c.backendKey, '', 'Cluster traffic policy: no backend constraint');
  assert.equal(c.policy, 'SingleStack');
});

test('bad annotations are typed errors, never throws', () => {
  for (const [ann, re] of [
    [{ 'baregate.io/loadBalancerIPs': 'nope' }, /"nope" is not an IP address/],
    [{ 'baregate.io/loadBalancerIPs': '192.0.2.1,192.0.2.2' }, /more than one IPv4/],
    [{ 'baregate.io/loadBalancerIPs': ' , ' }, /holds no IP/],
    [{ 'baregate.io/loadBalancerIPs': ' ' }, /holds no IP/],
    [{ 'baregate.io/address-pool': ' ' }, /is blank/],
    [{ 'metallb.universe.tf/allow-shared-ip': '  ' }, /allow-shared-ip is blank/],
  ] as const) {
    const r = requestFor(svc({}, ann), {});
    assert.ok(isRequestError(r));
    assert.equal(r.code, ErrorCodes.BadAnnotation);
    assert.match(r.reason, re);
  }
});

test('statusIPs parses status and drops garbage', () => {
  const s = svc();
  s.status = { loadBalancer: { ingress: [{ ip: '192.0.2.1' }, { hostname: 'x' }, { ip: 'bad' }, { ip: '2001:DB8::1' }] } };
  assert.deepEqual(statusIPs(s).map(formatIP), ['192.0.2.1', '2001:db8::1']);
});
