import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GatewayIntegration, GatewayIntegrationSpec } from '../api/gatewayintegration.ts';
import { owningGateway, profileMatches } from './match.ts';
import type { GatewayObject, GatewayService } from './types.ts';

const gi = (spec: GatewayIntegrationSpec, extra: Partial<GatewayIntegration['metadata']> = {}): GatewayIntegration => ({ metadata: { name: 'gi', ...extra }, spec });
const svc = (labels: Record<string, string>, type = 'LoadBalancer', extra: Partial<GatewayService['metadata']> = {}): GatewayService => ({
  metadata: { name: 's', namespace: 'ns1', labels, ...extra }, spec: { type, ports: [{ port: 80 }] },
});
const noNs = (): undefined => undefined;
const m = (i: GatewayIntegration, s: GatewayService, gws: GatewayObject[] = [], ns: (n: string) => Record<string, string> | undefined = noNs): boolean => profileMatches(i, s, gws, ns).matched;

test('istio: any value of the istio label (the chart derives it from the release name), not only ingressgateway', () => {
  const i = gi({ profile: 'istio' });
  assert.ok(m(i, svc({ istio: 'ingressgateway', app: 'istio-ingressgateway' })), 'legacy istio-ingressgateway');
  assert.ok(m(i, svc({ istio: 'ingress', app: 'istio-ingress' })), 'istio/gateway chart, release istio-ingress');
  assert.ok(!m(i, svc({ app: 'istio-ingress' })), 'no istio label');
  assert.ok(!m(i, svc({ istio: 'pilot', app: 'istiod' }, 'ClusterIP')), 'istiod itself is ClusterIP');
  assert.ok(!m(i, svc({ istio: 'x', 'gateway.istio.io/managed': 'istio.io-gateway-controller' })), 'Gateway API Services are the other profile');
});

test('istio: a selector replaces the default', () => {
  const i = gi({ profile: 'istio', selector: { matchLabels: { istio: 'eastwest' } } });
  assert.ok(m(i, svc({ istio: 'eastwest' })));
  assert.ok(!m(i, svc({ istio: 'ingressgateway' })));
});

test('ingress-nginx: only the LoadBalancer controller Service, not the chart\'s -admission or -metrics Services; a selector narrows', () => {
  const i = gi({ profile: 'ingress-nginx' });
  const labels = { 'app.kubernetes.io/name': 'ingress-nginx', 'app.kubernetes.io/component': 'controller', 'app.kubernetes.io/instance': 'a' };
  assert.ok(m(i, svc(labels)));
  assert.ok(!m(i, svc(labels, 'ClusterIP')), '-admission and -metrics are ClusterIP');
  assert.ok(!m(i, svc({ ...labels, 'app.kubernetes.io/component': 'default-backend' })));
  const narrow = gi({ profile: 'ingress-nginx', selector: { matchLabels: { 'app.kubernetes.io/instance': 'b' } } });
  assert.ok(!m(narrow, svc(labels)), 'another release');
  assert.ok(m(narrow, svc({ ...labels, 'app.kubernetes.io/instance': 'b' })));
});

test('custom: the selector only; a stored object without one matches nothing', () => {
  assert.ok(m(gi({ profile: 'custom', selector: { matchLabels: { role: 'edge' } } }), svc({ role: 'edge' })));
  assert.ok(!m(gi({ profile: 'custom', selector: { matchLabels: { role: 'edge' } } }), svc({ role: 'core' })));
  assert.ok(!m(gi({ profile: 'custom' }), svc({ role: 'edge' })));
});

test('istio-gateway-api: the managed label and an owning Gateway of a handled class (default istio)', () => {
  const managed = { 'gateway.istio.io/managed': 'istio.io-gateway-controller', 'gateway.networking.k8s.io/gateway-name': 'web' };
  const owned = svc(managed, 'LoadBalancer', { ownerReferences: [{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: 'web', controller: true }] });
  const gw = (cls: string, ns = 'ns1'): GatewayObject => ({ metadata: { name: 'web', namespace: ns }, spec: { gatewayClassName: cls } });
  const i = gi({ profile: 'istio-gateway-api' });
  assert.deepEqual(profileMatches(i, owned, [gw('istio')], noNs), { matched: true, gateway: 'web' });
  assert.ok(!m(i, owned, [gw('other')]), 'class not handled');
  assert.ok(m(gi({ profile: 'istio-gateway-api', gatewayClassNames: ['other'] }), owned, [gw('other')]));
  assert.ok(!m(i, owned, [gw('istio', 'ns2')]), 'a Gateway of another namespace');
  assert.ok(!m(i, owned, []), 'no Gateway (API not installed)');
  assert.ok(!m(i, svc({ 'gateway.networking.k8s.io/gateway-name': 'web' }), [gw('istio')]), 'not managed by istiod');
  assert.equal(owningGateway(svc(managed)), 'web', 'the label when no owner reference names it');
});

test('namespaceSelector applies to every profile; integrations or Services being deleted match nothing', () => {
  const i = gi({ profile: 'istio', namespaceSelector: { matchLabels: { edge: 'yes' } } });
  const s = svc({ istio: 'ingress' });
  assert.ok(!m(i, s), 'unknown namespace: no labels');
  assert.ok(m(i, s, [], (n) => (n === 'ns1' ? { edge: 'yes' } : undefined)));
  assert.ok(!m(gi({ profile: 'istio' }, { deletionTimestamp: '2026-12-01T00:00:00Z' }), s));
  assert.ok(!m(gi({ profile: 'istio' }), svc({ istio: 'ingress' }, 'LoadBalancer', { deletionTimestamp: '2026-12-01T00:00:00Z' })));
});
