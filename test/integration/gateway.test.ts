/**
 * The gateway integrations on a real apiserver with a controller replica (allocator, gateway controller and the
 * mutating webhook over TLS, the bundle's webhook configurations pointed at this process): the charts' Services
 * (test/fixtures/gateway) get their fixed IP and no NodePorts at creation; an existing Service's NodePorts are
 * cleaned and confirmed; a Gateway API Service follows Gateway.spec.addresses while a stand-in for istiod re-applies
 * its own fields with force; bad input gives the named conditions and never moves an IP; a new leader writes nothing.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { freePorts } from '../harness/cluster.ts';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { GatewayIntegration, GatewayIntegrationSpec } from '../../src/api/gatewayintegration.ts';
import { bundleObjects } from '../../src/api/bundle.ts';
import { MUTATING_WEBHOOK, VALIDATING_WEBHOOK } from '../../src/api/keys.ts';
import { runController, type ControllerHandle } from '../../src/cli/controller.ts';
import type { Service } from '../../src/lb/service.ts';
import { TEST_LEASE, replicaKubeconfig, replicaUser } from '../harness/controller.ts';
import { Api, audit, kubeconfig, waitFor } from '../harness/kube.ts';
import { until } from '../harness/wait.ts';

const api = new Api();
const NS = 'baregate-system';
const ADM = '/apis/admissionregistration.k8s.io/v1';
const GWI = '/apis/baregate.io/v1beta1/gatewayintegrations';
const GATEWAYS = (ns: string): string => `/apis/gateway.networking.k8s.io/v1/namespaces/${ns}/gateways`;
const LEASE = 'gateway-test';
const LB_IPS = 'baregate.io/loadBalancerIPs';
const fixtures = new URL('../fixtures/', import.meta.url);

type Obj = Record<string, unknown>;
interface SvcFull extends Service { spec?: Service['spec'] & { healthCheckNodePort?: number } }

/** A free port for the test's webhook server (all addresses). */
async function freePort(): Promise<number> {
  const [port] = await freePorts(1, '::');
  if (port === undefined) throw new Error('no free port');
  return port;
}

/** The Service documents of a fixture file. */
function fixtureServices(file: string): Obj[] {
  return parseAllDocuments(readFileSync(new URL(`gateway/${file}`, fixtures), 'utf8')).map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o?.kind === 'Service');
}

let port = 0;
let replica: ControllerHandle;
function start(id: string): ControllerHandle {
  return runController({
    kubeconfig: replicaKubeconfig(id), identity: id, leaseName: LEASE, leaseNamespace: NS, ...TEST_LEASE, onLostLeadership: () => undefined, namespace: NS,
    webhook: { port, host: '::', extraSans: ['localhost'], pollMs: 500 },
  });
}

async function leadingGateway(h: ControllerHandle): Promise<void> {
  await waitFor('replica leads with its gateway controller', () => Promise.resolve(h.gateway()), 30_000);
  await h.gatewayCaches.synced;
}

async function integration(name: string, spec: GatewayIntegrationSpec): Promise<void> {
  await api.must('POST', GWI, { apiVersion: 'baregate.io/v1beta1', kind: 'GatewayIntegration', metadata: { name }, spec });
  // the webhook answers from every replica's cache: wait until this one has it
  await waitFor(`integration ${name} cached`, () => Promise.resolve(replica.gatewayCaches.integrations.get(name)));
}

async function condition(name: string, type: string): Promise<{ status: string; reason: string; message: string } | undefined> {
  const gi = await api.must<GatewayIntegration>('GET', `${GWI}/${name}`);
  return gi.status?.conditions?.find((c) => c.type === type);
}

async function waitCondition(name: string, type: string, status: string, reason?: string): Promise<string> {
  return waitFor(`${name} ${type}=${status}${reason ? ` (${reason})` : ''}`, async () => {
    const c = await condition(name, type);
    return c?.status === status && (reason === undefined || c.reason === reason) ? c.message || '-' : undefined;
  });
}

async function create(ns: string, svc: Obj, fieldManager?: string): Promise<SvcFull> {
  const meta = { ...(svc.metadata as Obj), namespace: ns };
  return api.must('POST', `/api/v1/namespaces/${ns}/services${fieldManager ? `?fieldManager=${fieldManager}` : ''}`, { ...svc, metadata: meta });
}

const nodePorts = (s: SvcFull): number[] => (s.spec?.ports ?? []).map((p) => p.nodePort ?? 0).filter((n) => n > 0);

before(async () => {
  port = await freePort();
  for (const o of bundleObjects()) {
    if (o.kind !== 'ValidatingWebhookConfiguration' && o.kind !== 'MutatingWebhookConfiguration') continue;
    const hooks = (o.webhooks as { clientConfig: { service: { path: string } } }[]).map((w) => ({ ...w, clientConfig: { url: `https://localhost:${port}${w.clientConfig.service.path}` } }));
    await api.must('POST', `${ADM}/${o.kind === 'ValidatingWebhookConfiguration' ? 'validatingwebhookconfigurations' : 'mutatingwebhookconfigurations'}`, { ...o, webhooks: hooks });
  }
  // the Gateway API CRDs (vendored) before the replica starts, so its first discovery finds them
  for (const f of ['gateway.networking.k8s.io_gatewayclasses.yaml', 'gateway.networking.k8s.io_gateways.yaml']) {
    for (const d of parseAllDocuments(readFileSync(new URL(`gateway-api/${f}`, fixtures), 'utf8'))) {
      const crd = d.toJS() as Obj | null;
      if (crd?.kind !== 'CustomResourceDefinition') continue;
      await api.must('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    }
  }
  await waitFor('Gateway API served', async () => ((await api.c.request<{ resources?: { name: string }[] }>('GET', '/apis/gateway.networking.k8s.io/v1')).body.resources ?? []).some((r) => r.name === 'gateways'));
  replica = start('gw-1');
  await leadingGateway(replica);
  await waitFor('replica ready (webhook certificate)', () => Promise.resolve(replica.ready().ok), 30_000);
  // the caBundle must be in the mutating configuration before a Service creation can be mutated
  await waitFor('caBundle patched', async () => {
    const c = await api.must<{ webhooks: { clientConfig: { caBundle?: string } }[] }>('GET', `${ADM}/mutatingwebhookconfigurations/${MUTATING_WEBHOOK}`);
    return c.webhooks.every((w) => (w.clientConfig.caBundle ?? '') !== '');
  });
  // new CRDs make the apiserver re-initialize CRD storage for a moment (429): retried until stored
  await waitFor('pool created', async () => { try { await api.pool('gw-pool', { addresses: ['192.0.2.0/26', '2001:db8:1::/120'] }); return true; } catch { return false; } });
});

after(async () => {
  await replica.stop();
  for (const [res, name] of [['validatingwebhookconfigurations', VALIDATING_WEBHOOK], ['mutatingwebhookconfigurations', MUTATING_WEBHOOK]] as const) await api.c.request('DELETE', `${ADM}/${res}/${name}`);
  api.c.destroy();
});

describe('gateway integrations', () => {
  test('each profile\'s chart Service gets its fixed IP and no NodePorts at creation (webhook); the chart\'s ClusterIP Services are untouched', async () => {
    const cases: [string, string, Obj, GatewayIntegrationSpec, string][] = [];
    const nsSel = (ns: string): NonNullable<GatewayIntegrationSpec['namespaceSelector']> => ({ matchLabels: { 'kubernetes.io/metadata.name': ns } });
    const istio = fixtureServices('istio-gateway.default.yaml')[0];
    const legacy = fixtureServices('istio-ingressgateway.default.yaml')[0];
    const nginx = fixtureServices('ingress-nginx.default.yaml');
    const nginxCtl = nginx.find((s) => (s.spec as { type?: string }).type === 'LoadBalancer');
    assert.ok(istio && legacy && nginxCtl);
    cases.push(['gw-istio', 'gw-istio', istio, { profile: 'istio', namespaceSelector: nsSel('gw-istio'), addresses: ['192.0.2.11'] }, '192.0.2.11']);
    cases.push(['gw-legacy', 'gw-legacy', legacy, { profile: 'istio', selector: { matchLabels: { istio: 'ingressgateway' } }, namespaceSelector: nsSel('gw-legacy'), addresses: ['192.0.2.12'] }, '192.0.2.12']);
    cases.push(['gw-nginx', 'gw-nginx', nginxCtl, { profile: 'ingress-nginx', namespaceSelector: nsSel('gw-nginx'), addresses: ['192.0.2.13'] }, '192.0.2.13']);
    for (const [name, ns, , spec] of cases) { await api.namespace(ns); await integration(name, spec); }
    for (const [, ns, svc, , ip] of cases) {
      const created = await create(ns, svc);
      const name = (svc.metadata as { name: string }).name;
      assert.equal(created.spec?.allocateLoadBalancerNodePorts, false, `${ns}/${name} born without NodePorts`);
      assert.deepEqual(nodePorts(created), [], `${ns}/${name}: no nodePort`);
      assert.deepEqual(await api.waitIPs(ns, name), [ip]);
    }
    for (const s of nginx.filter((x) => x !== nginxCtl)) {
      const created = await create('gw-nginx', s);
      assert.equal(created.metadata.annotations?.[LB_IPS], undefined, 'the -admission Service is not the controller\'s');
    }
    for (const [name] of cases) await waitCondition(name, 'Ready', 'True');
  });

  test('an existing Service with NodePorts is cleaned and confirmed; healthCheckNodePort stays; NodePortsRemaining False', async () => {
    const ns = 'gw-existing';
    await api.namespace(ns);
    const before: SvcFull = await api.service(ns, 'old', { labels: { tier: 'edge' }, spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } });
    assert.equal(nodePorts(before).length, 1, 'the apiserver allocated a NodePort');
    const hc = before.spec?.healthCheckNodePort;
    assert.ok(hc !== undefined && hc > 0);
    const [ip] = await api.waitIPs(ns, 'old');
    await integration('gw-existing', { profile: 'custom', selector: { matchLabels: { tier: 'edge' } }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } }, pool: 'gw-pool' });
    const cleaned = await waitFor('NodePorts removed', async () => { const s: SvcFull = await api.getService(ns, 'old'); return nodePorts(s).length === 0 && s.spec?.allocateLoadBalancerNodePorts === false ? s : undefined; });
    assert.equal(cleaned.spec?.healthCheckNodePort, hc, 'healthCheckNodePort never touched');
    await api.waitEvent(ns, 'old', 'NodePortsRemoved', /confirmed/);
    await waitCondition('gw-existing', 'NodePortsRemaining', 'False');
    assert.deepEqual(await api.ips(ns, 'old'), [ip], 'its address did not move');
  });

  test('a Service the webhook never sees (custom profile) waits for its fixed IP instead of getting a pool address first', async () => {
    const ns = 'gw-held';
    await api.namespace(ns);
    await integration('gw-held', { profile: 'custom', selector: { matchLabels: { edge: 'two' } }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } }, addresses: ['192.0.2.40'] });
    // every committed version of the Service, in order, from a watch opened before it exists: a pool address
    // written and replaced a moment later would show here (the audit log is written after the answer, so
    // counting its lines right after the IP appeared raced)
    const seen: string[][] = [];
    let opened!: () => void;
    const open = new Promise<void>((r) => { opened = r; });
    const watch = await api.c.watch<Service>(`/api/v1/namespaces/${ns}/services?watch=1&fieldSelector=metadata.name%3Dedge`,
      (e) => { if (e.type !== 'BOOKMARK') seen.push((e.object.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '')); }, () => undefined, () => { opened(); });
    try {
      await open;
      const created = await api.service(ns, 'edge', { labels: { edge: 'two' } });
      assert.equal(created.metadata.annotations?.[LB_IPS], undefined, 'no webhook selector matches it');
      assert.deepEqual(await api.waitIPs(ns, 'edge'), ['192.0.2.40']);
      await waitFor('the watch delivered the fixed IP', () => Promise.resolve(seen.some((ips) => ips.length > 0)));
      const addressed = seen.map((ips) => ips.join()).filter((ips, i, all) => ips !== '' && ips !== all[i - 1]);
      assert.deepEqual(addressed, ['192.0.2.40'], `the only address it ever had is the fixed IP, never a pool address before it (versions seen: ${JSON.stringify(seen)})`);
    } finally {
      watch.close();
    }
  });

  test('Gateway API: the Service follows Gateway.spec.addresses (v4+v6) while istiod\'s stand-in re-applies its fields with force', async () => {
    const ns = 'gw-api';
    await api.namespace(ns);
    await integration('gw-api', { profile: 'istio-gateway-api', namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } });
    const gw = await api.must<{ metadata: { uid: string } }>('POST', GATEWAYS(ns), {
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'default', namespace: ns },
      spec: { gatewayClassName: 'istio', addresses: [{ type: 'IPAddress', value: '192.0.2.20' }, { type: 'IPAddress', value: '2001:db8:1::20' }], listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] },
    });
    await waitFor('Gateway cached', () => Promise.resolve(replica.gatewayCaches.gateways.get(`${ns}/default`)));
    const golden = fixtureServices('istio-gateway-api.golden.yaml')[0];
    assert.ok(golden);
    const meta = golden.metadata as Obj & { ownerReferences: Obj[] };
    const spec = { ...(golden.spec as Obj) };
    spec.loadBalancerIP = '192.0.2.20'; // as istiod does: its copy of the first address; our annotation carries both families
    const svc = { ...golden, metadata: { ...meta, namespace: ns, annotations: undefined, ownerReferences: [{ ...meta.ownerReferences[0], uid: gw.metadata.uid }] }, spec: { ...spec, ipFamilyPolicy: 'RequireDualStack' } };
    const applyAsIstiod = (body: Obj): Promise<SvcFull> => api.must('PATCH', `/api/v1/namespaces/${ns}/services/default?fieldManager=istiod-standin&force=true`, body, 'application/apply-patch+yaml');
    await applyAsIstiod(svc);
    const ips = await api.waitIPs(ns, 'default', 2);
    assert.deepEqual([...ips].sort(), ['192.0.2.20', '2001:db8:1::20']);
    // istiod re-applies its own fields (ports, labels) with force: our annotation and the IPs stay
    const statusWrites = (): number => audit().filter((e) => e.resource === 'services' && e.subresource === 'status' && e.namespace === ns && e.name === 'default').length;
    // the audit line of a request is written when the response completes, a moment after the client has the answer
    const statusWritesBefore = await waitFor('the status write of the IPs in the audit log', () => Promise.resolve(statusWrites() || undefined));
    await applyAsIstiod({ ...svc, metadata: { ...svc.metadata, labels: { ...(meta.labels as Obj), 'istio.io/rev': 'standin' } }, spec: { ...svc.spec, ports: [{ name: 'status-port', port: 15021, protocol: 'TCP' }, { name: 'http', port: 80, protocol: 'TCP' }] } });
    await waitFor('our annotation on the re-applied Service', async () => (await api.getService(ns, 'default')).metadata.annotations?.[LB_IPS]?.includes('192.0.2.20'));
    assert.deepEqual([...await api.ips(ns, 'default')].sort(), ['192.0.2.20', '2001:db8:1::20']);
    assert.equal(statusWrites(), statusWritesBefore, 'the IPs were never rewritten');
    // the Gateway changes at once, before any status may have recorded what was asked for: the webhook's mark
    // (baregate.io/gateway-integration) tells the planner that the annotation set at creation is the integration's
    await api.must('PATCH', `${GATEWAYS(ns)}/default`, { spec: { addresses: [{ type: 'IPAddress', value: '192.0.2.21' }, { type: 'IPAddress', value: '2001:db8:1::21' }] } }, 'application/merge-patch+json');
    let seen = '';
    await until(() => `Service follows the Gateway; last seen ${seen}`, async () => {
      const s = await api.must<SvcFull & { metadata: { managedFields?: { manager: string; operation: string; fieldsV1: unknown }[] } }>('GET', `/api/v1/namespaces/${ns}/services/default`);
      seen = JSON.stringify({ ann: s.metadata.annotations, mf: s.metadata.managedFields?.map((m) => [m.manager, m.operation, JSON.stringify(m.fieldsV1).slice(0, 300)]), st: s.status, ev: (await api.events(ns, 'default')).map((e) => `${e.reason}: ${e.message}`) });
      const now = [...await api.ips(ns, 'default')].sort();
      return now.join() === '192.0.2.21,2001:db8:1::21';
    }, 30_000);
  });

  test('bad input: the same fixed IP twice → AddressConflict on the younger; outside every pool → InvalidAddress; no match → NoMatchingServices; a Service keeps its IP', async () => {
    await integration('gw-dup', { profile: 'custom', selector: { matchLabels: { nothing: 'here' } }, addresses: ['192.0.2.11'] });
    await waitCondition('gw-dup', 'AddressConflict', 'True');
    await waitCondition('gw-dup', 'Ready', 'False', 'NoMatchingServices');
    await api.must('PATCH', `${GWI}/gw-istio`, { spec: { addresses: ['203.0.113.9'] } }, 'application/merge-patch+json');
    await waitCondition('gw-istio', 'InvalidAddress', 'True');
    const istio = fixtureServices('istio-gateway.default.yaml')[0];
    const name = (istio?.metadata as { name: string }).name;
    assert.deepEqual(await api.ips('gw-istio', name), ['192.0.2.11'], 'the Service keeps its address');
    assert.equal((await api.getService('gw-istio', name)).metadata.annotations?.[LB_IPS], '192.0.2.11', 'nothing written to it');
  });

  test('a new leader writes nothing and moves no IP', async () => {
    const snapshot = async (): Promise<string> => JSON.stringify(await Promise.all([['gw-istio', 'istio-ingress'], ['gw-legacy', 'istio-ingressgateway'], ['gw-nginx', 'ingress-nginx-controller'], ['gw-existing', 'old'], ['gw-api', 'default']]
      .map(async ([ns = '', n = '']) => api.ips(ns, n))));
    const before = await snapshot();
    await replica.stop();
    replica = start('gw-2');
    await leadingGateway(replica);
    const gw = replica.gateway();
    assert.ok(gw);
    await waitFor('first planning pass done', async () => { await gw.idle(); return gw.passes > 0; });
    await replica.current()?.idle();
    await gw.idle();
    const writes = audit().filter((e) => e.user === replicaUser('gw-2') && e.resource !== 'leases' && ['create', 'update', 'patch', 'delete'].includes(e.verb));
    assert.deepEqual(writes.map((e) => `${e.verb} ${e.resource}/${e.subresource} ${e.namespace}/${e.name}`), []);
    assert.equal(gw.writes, 0);
    assert.equal(await snapshot(), before);
    assert.ok(kubeconfig());
  });
});
