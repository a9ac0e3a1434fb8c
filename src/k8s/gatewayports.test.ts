import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GATEWAY_FIELD_MANAGER } from '../api/keys.ts';
import { FakeClock } from '../clock.ts';
import { rootLogger } from '../log.ts';
import type { ApiResponse } from './client.ts';
import { GatewayCache, GATEWAY_API_DISCOVERY, serviceApplyBody, trimGatewayService, withoutNodePorts } from './gatewayports.ts';
import type { InformerClient } from './informer.ts';

const log = rootLogger.child({});

test('Gateways: absent API → synced and empty; CRDs installed later are found at the next check (60 s) and listed', async () => {
  const clock = new FakeClock();
  let served = false;
  const asked: string[] = [];
  const client = {
    request: (_method: string, path: string): Promise<ApiResponse> => {
      asked.push(path.split('?')[0] ?? '');
      if (path === GATEWAY_API_DISCOVERY) return Promise.resolve(served ? { status: 200, body: { resources: [{ name: 'gateways' }] } } : { status: 404, body: {} });
      return Promise.resolve({ status: 200, body: { metadata: { resourceVersion: '5' }, items: [{ metadata: { name: 'g', namespace: 'ns', resourceVersion: '5' }, spec: { gatewayClassName: 'istio' } }] } });
    },
    watch: () => Promise.resolve({ close: () => undefined }),
  } as unknown as InformerClient;
  const gws = new GatewayCache(client, { log, clock });
  const changes: string[] = [];
  gws.onChange((k) => { changes.push(k); });
  gws.start();
  await gws.synced;
  assert.equal(gws.served(), false);
  assert.deepEqual(gws.list(), []);
  served = true;
  await clock.advanceAsync(60_000, 10_000);
  await clock.advanceAsync(100, 10);
  assert.equal(gws.served(), true);
  assert.deepEqual(changes, ['ns/g']);
  assert.equal(gws.get('ns/g')?.spec?.gatewayClassName, 'istio');
  assert.ok(asked.includes('/apis/gateway.networking.k8s.io/v1/gateways'));
  gws.stop();
});

test('apply body: only our fields, the uid as precondition; an empty intent releases everything', () => {
  const ref = { namespace: 'ns', name: 'gw', uid: 'u1' };
  assert.deepEqual(serviceApplyBody(ref, { annotations: { 'baregate.io/loadBalancerIPs': '192.0.2.1' }, allocateLoadBalancerNodePorts: false }), {
    apiVersion: 'v1', kind: 'Service', metadata: { name: 'gw', namespace: 'ns', uid: 'u1', annotations: { 'baregate.io/loadBalancerIPs': '192.0.2.1' } }, spec: { allocateLoadBalancerNodePorts: false },
  });
  assert.deepEqual(serviceApplyBody(ref, {}), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'gw', namespace: 'ns', uid: 'u1' } });
});

test('NodePort clean-up body: every nodePort gone, allocateLoadBalancerNodePorts false, healthCheckNodePort and the rest kept', () => {
  const svc = { metadata: { name: 'gw', resourceVersion: '7' }, spec: { type: 'LoadBalancer', healthCheckNodePort: 31000, externalTrafficPolicy: 'Local', ports: [{ port: 80, nodePort: 30080, targetPort: 8080 }] } };
  assert.deepEqual(withoutNodePorts(svc), { metadata: { name: 'gw', resourceVersion: '7' }, spec: { type: 'LoadBalancer', healthCheckNodePort: 31000, externalTrafficPolicy: 'Local', allocateLoadBalancerNodePorts: false, ports: [{ port: 80, targetPort: 8080 }] } });
});

test('the cached Service keeps nodePorts and only our managedFields entries, drops kubectl\'s last-applied copy', () => {
  const t = trimGatewayService({
    metadata: { name: 'gw', namespace: 'ns', annotations: { a: '1', 'kubectl.kubernetes.io/last-applied-configuration': '{}' }, managedFields: [{ manager: 'helm', fieldsV1: {} }, { manager: GATEWAY_FIELD_MANAGER, operation: 'Apply', fieldsV1: { 'f:spec': {} } }] },
    spec: { type: 'LoadBalancer', clusterIP: '10.0.0.1', ports: [{ port: 80, nodePort: 30080 }] },
  });
  assert.deepEqual(t.metadata.annotations, { a: '1' });
  assert.deepEqual(t.metadata.managedFields, [{ manager: GATEWAY_FIELD_MANAGER, operation: 'Apply', fieldsV1: { 'f:spec': {} } }]);
  assert.deepEqual(t.spec, { type: 'LoadBalancer', ports: [{ port: 80, nodePort: 30080 }] });
});
