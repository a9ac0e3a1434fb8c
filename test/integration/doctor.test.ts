/**
 * `baregate doctor` on a real apiserver (no controller-manager, no baregate components: the objects they would
 * write are written here, as they write them). A healthy setup gives no finding above info and exit code 0; then
 * each seeded problem, one at a time and undone after, gives exactly its finding (code and object) above info, as
 * `runDoctorCommand -o json` prints it, with the exit code of its severity.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ALLOCATION_PAUSED_ANNOTATION, CONTROLLER_LEASE, EXCLUDE_FROM_LB_LABEL, MUTATING_WEBHOOK, SPEAKER_LEASE_LABEL, SPEAKER_LEASE_PREFIX, SYSTEM_NAMESPACE, VALIDATING_WEBHOOK, WEBHOOK_CERT_SECRET } from '../../src/api/keys.ts';
import { runDoctorCommand } from '../../src/cli/doctor.ts';
import type { DoctorReport } from '../../src/doctor/checks.ts';
import { createCA, createServingCert } from '../../src/k8s/x509.ts';
import { clientKubeconfigSync } from '../harness/cluster.ts';
import { Api, dataDir, kubeconfig, waitFor } from '../harness/kube.ts';

const api = new Api();
const ns = 'doctor';
const G = '/apis/baregate.io/v1beta1';
const MERGE = 'application/merge-patch+json';
const DAY = 24 * 3600 * 1000;
const LEASES = `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases`;
const VWC = `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${VALIDATING_WEBHOOK}`;

const ca = createCA({ commonName: 'baregate-ca', now: Date.now(), validityMs: 3650 * DAY });
const serving = (validityMs: number): string => createServingCert({ commonName: 'baregate-webhook', now: Date.now(), validityMs, dnsNames: [`baregate-webhook.${SYSTEM_NAMESPACE}.svc`], ips: [] }, ca).certPem;
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const KUBE_PROXY = (strictARP: boolean): string => `apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\nipvs:\n  strictARP: ${strictARP}\n`;

/** A Lease renewed now and valid for an hour (long enough for the whole file). */
function leaseBody(name: string, labels: Record<string, string> = {}): unknown {
  const now = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: SYSTEM_NAMESPACE, labels }, spec: { holderIdentity: name, leaseDurationSeconds: 3600, acquireTime: now, renewTime: now } };
}

async function node(name: string, ip: string, podCIDR: string, labels: Record<string, string> = {}): Promise<void> {
  await api.must('POST', '/api/v1/nodes', { metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } }, spec: { podCIDR, podCIDRs: [podCIDR] } });
  await api.must('PATCH', `/api/v1/nodes/${name}/status`, { status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }] } }, MERGE);
}

async function serviceWithIP(name: string, ip: string): Promise<void> {
  await api.service(ns, name);
  await api.must('PATCH', `/api/v1/namespaces/${ns}/services/${name}/status`, { status: { loadBalancer: { ingress: [{ ip, ipMode: 'VIP' }] } } }, MERGE);
}

interface Session { peer: string; address: string; state: string; lastError?: string; bfd?: Record<string, unknown> }
const established: Session = { peer: 'router', address: '192.168.1.1', state: 'Established' };
async function speakerStatus(nodeName: string, announcements: unknown[], sessions: Session[]): Promise<void> {
  const path = `${G}/speakerstatuses/${nodeName}`;
  if ((await api.c.request('GET', path)).status === 404) await api.must('POST', `${G}/speakerstatuses`, { apiVersion: 'baregate.io/v1beta1', kind: 'SpeakerStatus', metadata: { name: nodeName } });
  await api.must('PATCH', `${path}/status`, { status: { node: nodeName, announcements, sessions } }, MERGE);
}
const nodeBAnnouncements = [{ ip: '203.0.113.1', mode: 'BGP', services: [`${ns}/api`], peers: ['router'] }];

const webhook = (name: string, caBundle: string | undefined): unknown => ({
  name, clientConfig: { service: { namespace: SYSTEM_NAMESPACE, name: 'baregate-webhook', path: '/validate-baregate-io', port: 443 }, ...(caBundle !== undefined ? { caBundle } : {}) },
  rules: [], sideEffects: 'None', admissionReviewVersions: ['v1'], failurePolicy: 'Ignore', timeoutSeconds: 1,
});

/** Runs `baregate doctor -o json` for `namespace`; returns its exit code and the parsed report. */
async function doctor(namespace = SYSTEM_NAMESPACE, kc = kubeconfig()): Promise<{ code: number; report: DoctorReport }> {
  let out = '';
  const code = await runDoctorCommand({ kubeconfig: kc, output: 'json', namespace }, (s) => { out += s; });
  return { code, report: JSON.parse(out) as DoctorReport };
}

/** Findings above info, as `code object`, sorted. */
async function problems(namespace?: string): Promise<{ code: number; found: string[]; report: DoctorReport }> {
  const { code, report } = await doctor(namespace);
  assert.equal(code, report.exitCode);
  return { code, found: report.findings.filter((f) => f.severity !== 'info').map((f) => `${f.code} ${f.object}`).sort(), report };
}

/** Seeds a problem, checks doctor finds exactly `expected` (above info) with `exit`, undoes it and checks it is healthy again. */
async function seeded(expected: string[], exit: number, seed: () => Promise<void>, undo: () => Promise<void>): Promise<DoctorReport> {
  await seed();
  const { code, found, report } = await problems();
  assert.deepEqual(found, [...expected].sort(), JSON.stringify(report.findings, null, 2));
  assert.equal(code, exit);
  await undo();
  const again = await problems();
  assert.deepEqual(again.found, [], JSON.stringify(again.report.findings, null, 2));
  return report;
}

before(async () => {
  await api.namespace(ns);
  await node('node-a', '192.168.1.11', '10.244.0.0/24');
  await node('node-b', '192.168.1.12', '10.244.1.0/24');
  await node('node-c', '192.168.1.13', '10.244.2.0/24', { [EXCLUDE_FROM_LB_LABEL]: '' });
  await api.must('POST', '/api/v1/namespaces/kube-system/configmaps', { metadata: { name: 'kube-proxy' }, data: { 'config.conf': KUBE_PROXY(true) } });
  await api.pool('lan', { addresses: ['192.168.1.200-192.168.1.220'] });
  await api.pool('routed', { addresses: ['203.0.113.0/28'] });
  await api.must('POST', `${G}/l2advertisements`, { apiVersion: 'baregate.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'lan' }, spec: { ipAddressPools: ['lan'] } });
  await api.must('POST', `${G}/bgppeers`, { apiVersion: 'baregate.io/v1beta1', kind: 'BGPPeer', metadata: { name: 'router' }, spec: { myASN: 64500, peerASN: 64501, peerAddress: '192.168.1.1' } });
  await api.must('POST', `${G}/bgpadvertisements`, { apiVersion: 'baregate.io/v1beta1', kind: 'BGPAdvertisement', metadata: { name: 'routed' }, spec: { ipAddressPools: ['routed'] } });
  await api.must('POST', LEASES, leaseBody(CONTROLLER_LEASE));
  for (const n of ['node-a', 'node-b']) await api.must('POST', LEASES, leaseBody(`${SPEAKER_LEASE_PREFIX}${n}`, { [SPEAKER_LEASE_LABEL]: n }));
  await serviceWithIP('web', '192.168.1.200');
  await serviceWithIP('api', '203.0.113.1');
  await speakerStatus('node-a', [{ ip: '192.168.1.200', mode: 'L2', services: [`${ns}/web`], interfaces: ['eth0'] }, { ip: '203.0.113.1', mode: 'BGP', services: [`${ns}/api`], peers: ['router'] }], [established]);
  await speakerStatus('node-b', nodeBAnnouncements, [established]);
  await api.must('POST', `/api/v1/namespaces/${SYSTEM_NAMESPACE}/secrets`, {
    metadata: { name: WEBHOOK_CERT_SECRET }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(serving(365 * DAY)), 'tls.key': b64('not read by doctor'), 'ca.crt': b64(ca.certPem) },
  });
  await api.must('POST', '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations', { metadata: { name: VALIDATING_WEBHOOK }, webhooks: [webhook('validate.baregate.io', b64(ca.certPem))] });
  await api.must('POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', { metadata: { name: MUTATING_WEBHOOK }, webhooks: [webhook('istio.mutate-service.baregate.io', b64(ca.certPem))] });
  // a workload that is no load balancer, and baregate's own controller (its flags are read for the Service class)
  await api.must('POST', '/apis/apps/v1/namespaces/kube-system/deployments', deployment('coredns', 'registry.k8s.io/coredns/coredns:v1.11.1'));
  await api.must('POST', `/apis/apps/v1/namespaces/${SYSTEM_NAMESPACE}/deployments`, deployment('baregate-controller', 'ghcr.io/baregate/baregate:0.1.0', ['controller', '--lb-class=baregate.io/lb']));
});

function deployment(name: string, image: string, args: string[] = []): unknown {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, labels: { app: name } },
    spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image, args }] } } },
  };
}

after(() => { api.c.destroy(); });

test('a healthy setup: no finding above info, exit code 0; the ServiceCIDR API and every input were read', async () => {
  const { code, found, report } = await problems();
  assert.deepEqual(found, [], JSON.stringify(report.findings, null, 2));
  assert.equal(code, 0);
  assert.deepEqual(report.findings.filter((f) => f.code === 'could-not-check'), []);
});

test('1: kube-proxy in IPVS mode without strictARP (an L2Advertisement exists): error', async () => {
  const path = '/api/v1/namespaces/kube-system/configmaps/kube-proxy';
  const r = await seeded(['ipvs-strict-arp ConfigMap/kube-system/kube-proxy'], 2,
    () => api.must('PATCH', path, { data: { 'config.conf': KUBE_PROXY(false) } }, MERGE),
    () => api.must('PATCH', path, { data: { 'config.conf': KUBE_PROXY(true) } }, MERGE));
  assert.equal(r.findings.find((f) => f.code === 'ipvs-strict-arp')?.severity, 'error');
});

test('2: pools overlapping a node address, a pod CIDR and the ServiceCIDR', async () => {
  await seeded(['pool-overlaps-node IPAddressPool/lan'], 2,
    () => api.patchPool('lan', { addresses: ['192.168.1.200-192.168.1.220', '192.168.1.11/32'] }),
    () => api.patchPool('lan', { addresses: ['192.168.1.200-192.168.1.220'] }));
  await seeded(['pool-overlaps-pod-cidr IPAddressPool/routed'], 2,
    () => api.patchPool('routed', { addresses: ['203.0.113.0/28', '10.244.1.0/28'] }),
    () => api.patchPool('routed', { addresses: ['203.0.113.0/28'] }));
  // the apiserver's default ServiceCIDR (from --service-cluster-ip-range 10.96.0.0/16)
  await seeded(['pool-overlaps-service-cidr IPAddressPool/routed'], 2,
    () => api.patchPool('routed', { addresses: ['203.0.113.0/28', '10.96.200.0/28'] }),
    () => api.patchPool('routed', { addresses: ['203.0.113.0/28'] }));
});

test('3: a pool no advertisement selects: warning', async () => {
  await seeded(['pool-not-advertised IPAddressPool/spare'], 1,
    async () => { await api.pool('spare', { addresses: ['198.51.100.0/28'] }); },
    () => api.deletePool('spare'));
});

test('4: an L2 pool address no live speaker answers for: warning on the Service', async () => {
  await seeded([`l2-not-announced Service/${ns}/lonely`], 1,
    () => serviceWithIP('lonely', '192.168.1.201'),
    () => api.deleteService(ns, 'lonely'));
});

test('5: a pending Service with the reason of its newest AllocationFailed event', async () => {
  const r = await seeded([`service-pending Service/${ns}/waiting`], 1, async () => {
    const s = await api.service(ns, 'waiting', { annotations: { 'baregate.io/address-pool': 'nope' } });
    const at = new Date().toISOString();
    await api.must('POST', `/api/v1/namespaces/${ns}/events`, {
      metadata: { name: 'waiting.1', namespace: ns }, involvedObject: { kind: 'Service', apiVersion: 'v1', namespace: ns, name: 'waiting', uid: s.metadata.uid },
      reason: 'AllocationFailed', message: 'no pool named "nope"', type: 'Warning', source: { component: 'baregate-controller' }, firstTimestamp: at, lastTimestamp: at, count: 1,
    });
  }, () => api.deleteService(ns, 'waiting'));
  assert.match(r.findings.find((f) => f.code === 'service-pending')?.message ?? '', /AllocationFailed: no pool named "nope"/);
});

test('6: a node without a live speaker: warning; excluded nodes are not counted', async () => {
  await seeded(['node-without-speaker Node/node-d'], 1,
    () => node('node-d', '192.168.1.14', '10.244.3.0/24'),
    async () => { await api.must('DELETE', '/api/v1/nodes/node-d'); });
});

test('7: a BGP session that is not Established, with the last error', async () => {
  const r = await seeded(['bgp-session-down SpeakerStatus/node-b'], 1,
    () => speakerStatus('node-b', nodeBAnnouncements, [{ ...established, state: 'Active', lastError: 'connect ECONNREFUSED 192.168.1.1:179' }]),
    () => speakerStatus('node-b', nodeBAnnouncements, [established]));
  assert.match(r.findings.find((f) => f.code === 'bgp-session-down')?.message ?? '', /Active: last error: connect ECONNREFUSED/);
});

test('7b: a BFD session that is not Up, with why the peer\'s packets are dropped', async () => {
  const r = await seeded(['bfd-session-down SpeakerStatus/node-b'], 1,
    () => speakerStatus('node-b', nodeBAnnouncements, [{ ...established, bfd: { state: 'Down', multihop: true, lastDropped: 'TTL 64 below the minimum 254 (BFDProfile fast minimumTtl)' } }]),
    () => speakerStatus('node-b', nodeBAnnouncements, [established]));
  const f = r.findings.find((x) => x.code === 'bfd-session-down');
  assert.match(f?.message ?? '', /multihop BFD session of node node-b to peer router .* is Down.*TTL 64 below the minimum 254/);
  assert.match(f?.fix ?? '', /minimumTtl/);
});

test('8: the webhook certificate near expiry, expired; a webhook without caBundle', async () => {
  const secret = `/api/v1/namespaces/${SYSTEM_NAMESPACE}/secrets/${WEBHOOK_CERT_SECRET}`;
  const setCert = (validityMs: number) => async (): Promise<void> => { await api.must('PATCH', secret, { data: { 'tls.crt': b64(serving(validityMs)) } }, MERGE); };
  await seeded([`webhook-cert-expiring Secret/${SYSTEM_NAMESPACE}/${WEBHOOK_CERT_SECRET}`], 1, setCert(10 * DAY), setCert(365 * DAY));
  // issued now, valid for a minute, backdated an hour by x509.ts: expired already
  await seeded([`webhook-cert-expired Secret/${SYSTEM_NAMESPACE}/${WEBHOOK_CERT_SECRET}`], 2, setCert(-60_000), setCert(365 * DAY));
  await seeded([`webhook-cabundle-missing ValidatingWebhookConfiguration/${VALIDATING_WEBHOOK}`], 1,
    async () => { await api.must('PATCH', VWC, { webhooks: [webhook('validate.baregate.io', undefined)] }, MERGE); },
    async () => { await api.must('PATCH', VWC, { webhooks: [webhook('validate.baregate.io', b64(ca.certPem))] }, MERGE); });
});

test('9: MetalLB still running: error; MetalLB CRDs left behind: info', async () => {
  await api.namespace('metallb-system');
  await seeded(['other-load-balancer Deployment/metallb-system/controller'], 2,
    async () => { await api.must('POST', '/apis/apps/v1/namespaces/metallb-system/deployments', deployment('controller', 'quay.io/metallb/controller:v0.14.8')); },
    async () => { await api.must('DELETE', '/apis/apps/v1/namespaces/metallb-system/deployments/controller'); });
  const crd = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  await api.must('POST', crd, {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'communities.metallb.io' },
    spec: { group: 'metallb.io', scope: 'Namespaced', names: { plural: 'communities', singular: 'community', kind: 'Community' },
      versions: [{ name: 'v1beta1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }] },
  });
  try {
    const { code, found, report } = await problems();
    assert.deepEqual(found, []);
    assert.equal(code, 0);
    assert.deepEqual(report.findings.filter((f) => f.code === 'metallb-crds-installed').map((f) => f.object), ['CustomResourceDefinition/*.metallb.io']);
  } finally {
    await api.must('DELETE', `${crd}/communities.metallb.io`);
  }
});

test('10: allocation paused: warning, fix baregate resume', async () => {
  const path = `/api/v1/namespaces/${SYSTEM_NAMESPACE}`;
  const r = await seeded([`allocation-paused Namespace/${SYSTEM_NAMESPACE}`], 1,
    async () => { await api.must('PATCH', path, { metadata: { annotations: { [ALLOCATION_PAUSED_ANNOTATION]: 'true' } } }, MERGE); },
    async () => { await api.must('PATCH', path, { metadata: { annotations: { [ALLOCATION_PAUSED_ANNOTATION]: null } } }, MERGE); });
  assert.match(r.findings.find((f) => f.code === 'allocation-paused')?.fix ?? '', /baregate resume/);
});

test('11: no controller Lease: error; a namespace where nothing of baregate is installed: error', async () => {
  await seeded([`controller-not-running Lease/${SYSTEM_NAMESPACE}/${CONTROLLER_LEASE}`], 2,
    async () => { await api.must('DELETE', `${LEASES}/${CONTROLLER_LEASE}`); },
    async () => { await api.must('POST', LEASES, leaseBody(CONTROLLER_LEASE)); });
  const { code, found, report } = await problems('nowhere');
  assert.deepEqual(found, ['not-installed Namespace/nowhere'], JSON.stringify(report.findings, null, 2));
  assert.equal(code, 2);
});

test('RBAC: what the user may not read is "could not check" info, the rest is checked; a user who may read nothing gets exit code 3', async () => {
  // may read everything doctor reads but Nodes and ConfigMaps
  const rules = [
    { apiGroups: [''], resources: ['namespaces', 'services', 'events', 'secrets'], verbs: ['get', 'list'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list'] },
    { apiGroups: ['apps'], resources: ['deployments', 'daemonsets'], verbs: ['get', 'list'] },
    { apiGroups: ['apiextensions.k8s.io'], resources: ['customresourcedefinitions'], verbs: ['get', 'list'] },
    { apiGroups: ['admissionregistration.k8s.io'], resources: ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'], verbs: ['get', 'list'] },
    { apiGroups: ['networking.k8s.io'], resources: ['servicecidrs'], verbs: ['get', 'list'] },
    { apiGroups: ['baregate.io'], resources: ['*'], verbs: ['get', 'list'] },
  ];
  await api.must('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { metadata: { name: 'doctor-partial' }, rules });
  await api.must('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    metadata: { name: 'doctor-partial' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'doctor-partial' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'doctor-partial' }],
  });
  const partial = clientKubeconfigSync(dataDir(), 'doctor-partial');
  // RBAC changes reach the authorizer through its informer: wait until the grant is visible, then run once
  await waitFor('the doctor-partial grant to take effect', async () => {
    const r = await doctor(SYSTEM_NAMESPACE, partial);
    return r.report.findings.some((f) => f.object === 'services') ? undefined : r;
  });
  const { code, report } = await doctor(SYSTEM_NAMESPACE, partial);
  assert.deepEqual(report.findings.filter((f) => f.severity !== 'info'), [], JSON.stringify(report.findings, null, 2));
  assert.deepEqual(report.findings.filter((f) => f.code === 'could-not-check').map((f) => f.object).sort(), ['ConfigMap/kube-system/kube-proxy', 'nodes']);
  assert.match(report.findings.find((f) => f.object === 'nodes')?.message ?? '', /forbidden/);
  assert.equal(code, 0);

  const nobody = clientKubeconfigSync(dataDir(), 'doctor-nobody');
  let out = '';
  assert.equal(await runDoctorCommand({ kubeconfig: nobody, output: 'json', namespace: SYSTEM_NAMESPACE }, (s) => { out += s; }), 3);
  assert.equal(out, '');
});
