/**
 * The doctor's checks on seeded snapshots: a healthy cluster gives no finding at all, and each seeded problem gives
 * exactly its finding (code, severity and object), nothing else. Pure: no API, a fixed clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALLOCATION_PAUSED_ANNOTATION, CONTROLLER_LEASE, EXCLUDE_FROM_LB_LABEL, SPEAKER_LEASE_PREFIX } from '../api/keys.ts';
import { createCA, createServingCert } from '../k8s/x509.ts';
import type { Service } from '../lb/service.ts';
import { CERT_WARN_DAYS, diagnose, doctorReport, exitCode, FindingCodes, type Finding } from './checks.ts';
import type { DoctorSnapshot, NodeObject, Read, WorkloadObject } from './snapshot.ts';

const NOW = new Date('2026-12-01T12:00:00Z');
const NS = 'baregate-system';
const DAY = 24 * 3600 * 1000;
const okv = <T>(value: T): Read<T> => ({ kind: 'ok', value });
const gone = (reason: string): Read<never> => ({ kind: 'unavailable', reason });
const iso = (ms: number): string => new Date(ms).toISOString();

const ca = createCA({ commonName: 'baregate-ca', now: NOW.getTime() - DAY, validityMs: 3650 * DAY });
const cert = (validityMs: number, issuer = ca): string => createServingCert({ commonName: 'baregate-webhook', now: NOW.getTime() - DAY, validityMs, dnsNames: ['baregate-webhook.baregate-system.svc'], ips: [] }, issuer).certPem;
const caBundle = Buffer.from(ca.certPem).toString('base64');

const lease = (name: string, renewAgoMs = 2000, holder = 'h'): { metadata: { name: string }; spec: { holderIdentity: string; leaseDurationSeconds: number; renewTime: string } } => ({
  metadata: { name }, spec: { holderIdentity: holder, leaseDurationSeconds: 15, renewTime: iso(NOW.getTime() - renewAgoMs) },
});
const node = (name: string, ip: string, pod: string, labels: Record<string, string> = {}): NodeObject => ({
  metadata: { name, labels }, spec: { podCIDR: pod, podCIDRs: [pod] }, status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }] },
});
const svc = (ns: string, name: string, ips: string[], spec: Service['spec'] = {}): Service => ({
  metadata: { namespace: ns, name, uid: `uid-${name}` }, spec: { type: 'LoadBalancer', ...spec }, status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } },
});
const pool = (name: string, addresses: string[]): unknown => ({ apiVersion: 'baregate.io/v1beta1', kind: 'IPAddressPool', metadata: { name }, spec: { addresses } });
const image = 'ghcr.io/baregate/baregate:0.1.0';
const workload = (kind: WorkloadObject['kind'], ns: string, name: string, containers: NonNullable<NonNullable<NonNullable<WorkloadObject['spec']>['template']>['spec']>['containers'], labels: Record<string, string> = {}): WorkloadObject => ({
  kind, metadata: { namespace: ns, name, labels }, spec: { template: { spec: { containers: containers ?? [] } } },
});

/** A healthy cluster: L2 pool lan on the nodes' subnet, BGP pool routed, two live speakers, node-c excluded. */
function healthy(): DoctorSnapshot {
  return {
    namespace: NS,
    namespaceObject: okv({ metadata: { name: NS } }),
    crds: okv(['ipaddresspools', 'l2advertisements', 'bgpadvertisements', 'bgppeers', 'speakerstatuses', 'gatewayintegrations']
      .map((plural) => ({ name: `${plural}.baregate.io`, group: 'baregate.io', plural, kind: plural, storageVersion: 'v1beta1' }))),
    leases: okv([lease(CONTROLLER_LEASE), lease(`${SPEAKER_LEASE_PREFIX}node-a`), lease(`${SPEAKER_LEASE_PREFIX}node-b`)]),
    kubeProxy: okv({ data: { 'config.conf': 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\nipvs:\n  strictARP: true\n' } }),
    nodes: okv([node('node-a', '192.168.1.11', '10.244.0.0/24'), node('node-b', '192.168.1.12', '10.244.1.0/24'), node('node-c', '192.168.1.13', '10.244.2.0/24', { [EXCLUDE_FROM_LB_LABEL]: '' })]),
    serviceCIDRs: okv([{ metadata: { name: 'kubernetes' }, spec: { cidrs: ['10.96.0.0/16', 'fd00:10:96::/108'] } }]),
    pools: okv([pool('lan', ['192.168.1.200-192.168.1.220']), pool('routed', ['203.0.113.0/28'])]),
    l2Advertisements: okv([{ metadata: { name: 'lan' }, spec: { ipAddressPools: ['lan'] } }]),
    bgpAdvertisements: okv([{ metadata: { name: 'routed' }, spec: { ipAddressPools: ['routed'] } }]),
    bgpPeers: okv([{ metadata: { name: 'router' }, spec: { myASN: 64500, peerASN: 64501, peerAddress: '192.168.1.1' } }]),
    services: okv([svc('default', 'web', ['192.168.1.200']), svc('default', 'api', ['203.0.113.1']), { metadata: { namespace: 'default', name: 'kubernetes' }, spec: { type: 'ClusterIP' } },
      svc('other', 'theirs', [], { loadBalancerClass: 'example.com/other' })]),
    allocationFailedEvents: okv([]),
    speakerStatuses: okv([
      { metadata: { name: 'node-a' }, status: { announcements: [{ ip: '192.168.1.200', mode: 'L2', services: ['default/web'], interfaces: ['eth0'] }, { ip: '203.0.113.1', mode: 'BGP', services: ['default/api'], peers: ['router'] }], sessions: [{ peer: 'router', address: '192.168.1.1', state: 'Established' }] } },
      { metadata: { name: 'node-b' }, status: { announcements: [{ ip: '203.0.113.1', mode: 'BGP', services: ['default/api'], peers: ['router'] }], sessions: [{ peer: 'router', address: '192.168.1.1', state: 'Established' }] } },
    ]),
    webhookCert: okv({ tlsCrt: cert(365 * DAY), caCrt: ca.certPem }),
    validatingWebhook: okv({ webhooks: [{ name: 'validate.baregate.io', clientConfig: { caBundle } }] }),
    mutatingWebhook: okv({ webhooks: [{ name: 'istio.mutate-service.baregate.io', clientConfig: { caBundle } }] }),
    workloads: okv([
      workload('Deployment', NS, 'baregate-controller', [{ name: 'controller', image, args: ['controller', '--lb-class=baregate.io/lb'] }], { 'app.kubernetes.io/name': 'baregate' }),
      workload('DaemonSet', NS, 'baregate-speaker', [{ name: 'speaker', image, args: ['speaker'] }]),
      workload('DaemonSet', 'kube-system', 'kube-vip-ds', [{ name: 'kube-vip', image: 'ghcr.io/kube-vip/kube-vip:v0.8.0', env: [{ name: 'cp_enable', value: 'true' }] }]),
      workload('Deployment', 'kube-system', 'coredns', [{ name: 'coredns', image: 'registry.k8s.io/coredns/coredns:v1.11.1' }]),
    ]),
    ciliumLB: okv([]),
  };
}

const summary = (fs: readonly Finding[]): string[] => fs.map((f) => `${f.severity} ${f.code} ${f.object}`);
function only(s: DoctorSnapshot, expected: string[]): Finding[] {
  const fs = diagnose(s, NOW);
  assert.deepEqual(summary(fs), expected, JSON.stringify(fs, null, 2));
  return fs;
}
const listOf = <T>(r: Read<readonly T[]>): T[] => (r.kind === 'ok' ? [...r.value] : []);

test('a healthy cluster: no finding at all, exit code 0', () => {
  only(healthy(), []);
  assert.equal(exitCode(diagnose(healthy(), NOW)), 0);
});

test('1: kube-proxy IPVS without strictARP is an error with an L2Advertisement, a warning without; iptables mode is fine; absent ConfigMap is info', () => {
  const noStrict = { ...healthy(), kubeProxy: okv({ data: { 'config.conf': 'mode: ipvs\nipvs:\n  strictARP: false\n' } }) };
  only(noStrict, ['error ipvs-strict-arp ConfigMap/kube-system/kube-proxy']);
  only({ ...healthy(), kubeProxy: okv({ data: { 'config.conf': 'mode: "ipvs"\n' } }), l2Advertisements: okv([]), services: okv([]), pools: okv([pool('routed', ['203.0.113.0/28'])]) },
    ['warning ipvs-strict-arp ConfigMap/kube-system/kube-proxy']);
  only({ ...healthy(), kubeProxy: okv({ data: { 'config.conf': 'mode: iptables\n' } }) }, []);
  only({ ...healthy(), kubeProxy: okv({ data: { 'config.conf': 'mode: ""\n' } }) }, []);
  only({ ...healthy(), kubeProxy: okv(undefined) }, ['info could-not-check ConfigMap/kube-system/kube-proxy']);
  only({ ...healthy(), kubeProxy: okv({ data: { 'config.conf': 'mode: [ipvs\n' } }) }, ['info could-not-check ConfigMap/kube-system/kube-proxy']);
  only({ ...healthy(), kubeProxy: gone('forbidden: configmaps "kube-proxy" is forbidden') }, ['info could-not-check ConfigMap/kube-system/kube-proxy']);
});

test('2: pools overlapping a node address, a pod CIDR, a ServiceCIDR; no ServiceCIDR API is info', () => {
  const h = healthy();
  only({ ...h, pools: okv([pool('lan', ['192.168.1.0/24']), pool('routed', ['203.0.113.0/28'])]) },
    ['error pool-overlaps-node IPAddressPool/lan', 'error pool-overlaps-node IPAddressPool/lan', 'error pool-overlaps-node IPAddressPool/lan']);
  only({ ...h, pools: okv([pool('lan', ['192.168.1.200-192.168.1.220']), pool('routed', ['10.244.1.128/25'])]) }, ['error pool-overlaps-pod-cidr IPAddressPool/routed']);
  only({ ...h, pools: okv([pool('lan', ['192.168.1.200-192.168.1.220']), pool('routed', ['203.0.113.0/28', 'fd00:10:96::ff'])]) }, ['error pool-overlaps-service-cidr IPAddressPool/routed']);
  only({ ...h, serviceCIDRs: gone('not served by this cluster (404)') }, ['info could-not-check servicecidrs.networking.k8s.io']);
  const msg = diagnose({ ...h, pools: okv([pool('lan', ['192.168.1.11']), pool('routed', ['203.0.113.0/28'])]) }, NOW)[0]?.message ?? '';
  assert.match(msg, /node-a's InternalIP 192\.168\.1\.11/);
});

test('3: a pool no advertisement covers: warning when unused, error when a Service holds one of its addresses', () => {
  const h = healthy();
  only({ ...h, pools: okv([...listOf(h.pools), pool('spare', ['198.51.100.0/28'])]) }, ['warning pool-not-advertised IPAddressPool/spare']);
  only({ ...h, bgpAdvertisements: okv([]) }, ['error pool-not-advertised IPAddressPool/routed']);
  // an advertisement naming no pool covers every pool
  only({ ...h, pools: okv([...listOf(h.pools), pool('spare', ['198.51.100.0/28'])]), bgpAdvertisements: okv([{ metadata: { name: 'all' }, spec: {} }]) }, []);
  // an advertisement whose peers all do not exist is not used (the controller's parser): the pool is not covered
  const fs = only({ ...h, bgpAdvertisements: okv([{ metadata: { name: 'routed' }, spec: { ipAddressPools: ['routed'], peers: ['nope'] } }]) },
    ['error pool-not-advertised IPAddressPool/routed', 'warning config-invalid BGPAdvertisement/routed']);
  assert.match(fs[0]?.message ?? '', /default\/api/);
});

test('4: an L2 pool address no live speaker answers for', () => {
  const h = healthy();
  const statuses = listOf(h.speakerStatuses).map((s) => (s.metadata.name !== 'node-a' ? s : { ...s, status: { ...s.status, announcements: [{ ip: '203.0.113.1', mode: 'BGP', services: ['default/api'] }] } }));
  only({ ...h, speakerStatuses: okv(statuses) }, ['warning l2-not-announced Service/default/web']);
  // announced only by a speaker whose Lease expired: not counted
  const leases = [lease(CONTROLLER_LEASE), lease(`${SPEAKER_LEASE_PREFIX}node-a`, 60_000), lease(`${SPEAKER_LEASE_PREFIX}node-b`)];
  only({ ...h, leases: okv(leases) }, ['warning l2-not-announced Service/default/web', 'warning node-without-speaker Node/node-a']);
  // a Service that is not ours is none of our business
  only({ ...h, services: okv([...listOf(h.services), svc('other', 'metallbs', ['192.168.1.210'], { loadBalancerClass: 'metallb.io/metallb' })]) }, []);
});

test('5: pending Services of ours with the newest AllocationFailed reason, else "no event yet"; other classes ignored', () => {
  const h = healthy();
  const services = okv([...listOf(h.services), svc('default', 'new', [])]);
  const fs = only({ ...h, services }, ['warning service-pending Service/default/new']);
  assert.match(fs[0]?.message ?? '', /no event yet/);
  const ev = (msg: string, at: number, name = 'new'): unknown => ({ reason: 'AllocationFailed', message: msg, lastTimestamp: iso(at), involvedObject: { kind: 'Service', namespace: 'default', name, uid: `uid-${name}` } });
  const events = okv([ev('old reason', NOW.getTime() - 60_000), ev('pool "lan" is exhausted', NOW.getTime() - 1000), ev('for someone else', NOW.getTime(), 'web')]) as DoctorSnapshot['allocationFailedEvents'];
  const withEvent = only({ ...h, services, allocationFailedEvents: events }, ['warning service-pending Service/default/new']);
  assert.match(withEvent[0]?.message ?? '', /AllocationFailed: pool "lan" is exhausted/);
  // --only-own-class on the controller: a class-less Service is not ours
  const wl = listOf(h.workloads).map((w) => (w.metadata?.name !== 'baregate-controller' ? w : workload('Deployment', NS, 'baregate-controller', [{ name: 'controller', image, args: ['controller', '--only-own-class'] }])));
  only({ ...h, services, workloads: okv(wl) }, []);
});

test('6: nodes without a live speaker; no live speaker at all is one error; excluded nodes never count', () => {
  const h = healthy();
  only({ ...h, leases: okv([lease(CONTROLLER_LEASE), lease(`${SPEAKER_LEASE_PREFIX}node-a`)]) }, ['warning node-without-speaker Node/node-b']);
  only({ ...h, leases: okv([lease(CONTROLLER_LEASE)]), speakerStatuses: okv([]) }, ['error no-live-speaker Lease/baregate-system/baregate-speaker-*']);
  only({ ...h, nodes: okv([...listOf(h.nodes), node('node-d', '192.168.1.14', '10.244.3.0/24')]) }, ['warning node-without-speaker Node/node-d']);
});

test('7: a BGP session that is not Established, with its last error; a stale speaker\'s sessions are not reported', () => {
  const h = healthy();
  const statuses = listOf(h.speakerStatuses).map((s) => (s.metadata.name !== 'node-b' ? s : { ...s, status: { ...s.status, sessions: [{ peer: 'router', address: '192.168.1.1', state: 'Active', lastError: 'connect ECONNREFUSED 192.168.1.1:179' }] } }));
  const fs = only({ ...h, speakerStatuses: okv(statuses) }, ['warning bgp-session-down SpeakerStatus/node-b']);
  assert.match(fs[0]?.message ?? '', /Active: last error: connect ECONNREFUSED/);
  only({ ...h, speakerStatuses: okv(statuses), leases: okv([lease(CONTROLLER_LEASE), lease(`${SPEAKER_LEASE_PREFIX}node-a`)]) }, ['warning node-without-speaker Node/node-b']);
});

test('7b: a BFD session that is not Up, with its last diagnostic and why the peer\'s packets are dropped (a TTL below minimumTtl: the fix says so); Up and absent BFD are fine', () => {
  const h = healthy();
  const withBfd = (bfd: Record<string, unknown> | undefined) => okv(listOf(h.speakerStatuses).map((s) => (s.metadata.name !== 'node-b' ? s
    : { ...s, status: { ...s.status, sessions: [{ peer: 'router', address: '192.168.1.1', state: 'Established', ...(bfd && { bfd }) }] } })));
  only({ ...h, speakerStatuses: withBfd({ state: 'Up', multihop: false }) }, []);
  only({ ...h, speakerStatuses: withBfd(undefined) }, []);
  const ttl = only({ ...h, speakerStatuses: withBfd({ state: 'Down', multihop: true, lastDropped: 'TTL 64 below the minimum 254 (BFDProfile fast minimumTtl)' }) }, ['warning bfd-session-down SpeakerStatus/node-b']);
  assert.match(ttl[0]?.message ?? '', /multihop BFD session of node node-b to peer router \(192\.168\.1\.1\) is Down.*dropped: TTL 64 below the minimum 254/);
  assert.match(ttl[0]?.fix ?? '', /minimumTtl/);
  const silent = only({ ...h, speakerStatuses: withBfd({ state: 'Down', multihop: false, lastDiagnostic: 'control detection time expired' }) }, ['warning bfd-session-down SpeakerStatus/node-b']);
  assert.match(silent[0]?.message ?? '', /is Down: .*last left Up for: control detection time expired/);
  assert.match(silent[0]?.fix ?? '', /UDP 3784/);
});

test('8: webhook certificate expiring (< 30 days), expired, unreadable; caBundle missing or of another CA', () => {
  const h = healthy();
  only({ ...h, webhookCert: okv({ tlsCrt: cert((CERT_WARN_DAYS - 5) * DAY) }) }, ['warning webhook-cert-expiring Secret/baregate-system/baregate-webhook-cert']);
  only({ ...h, webhookCert: okv({ tlsCrt: cert((CERT_WARN_DAYS + 5) * DAY) }) }, []);
  only({ ...h, webhookCert: okv({ tlsCrt: cert(DAY / 2) }) }, ['error webhook-cert-expired Secret/baregate-system/baregate-webhook-cert']);
  only({ ...h, webhookCert: okv({ tlsCrt: 'garbage' }) }, ['warning webhook-cert-invalid Secret/baregate-system/baregate-webhook-cert']);
  only({ ...h, validatingWebhook: okv({ webhooks: [{ name: 'validate.baregate.io', clientConfig: {} }] }) }, ['warning webhook-cabundle-missing ValidatingWebhookConfiguration/baregate-validating']);
  const other = createCA({ commonName: 'other', now: NOW.getTime() - DAY, validityMs: 3650 * DAY });
  only({ ...h, webhookCert: okv({ tlsCrt: cert(365 * DAY, other) }) },
    ['warning webhook-ca-mismatch MutatingWebhookConfiguration/baregate-mutating', 'warning webhook-ca-mismatch ValidatingWebhookConfiguration/baregate-validating']);
  // webhooks disabled (--webhook-port 0): nothing to check, nothing said
  only({ ...h, webhookCert: okv(undefined), validatingWebhook: okv(undefined), mutatingWebhook: okv(undefined) }, []);
  only({ ...h, webhookCert: okv(undefined) }, ['info could-not-check Secret/baregate-system/baregate-webhook-cert']);
});

test('9: MetalLB, kube-vip (Services), PureLB, OpenELB, k3s ServiceLB, Cilium LB IPAM; MetalLB CRDs left behind; paused makes it a warning', () => {
  const h = healthy();
  const add = (...w: WorkloadObject[]): DoctorSnapshot => ({ ...h, workloads: okv([...listOf(h.workloads), ...w]) });
  only(add(workload('Deployment', 'metallb-system', 'controller', [{ name: 'controller', image: 'quay.io/metallb/controller:v0.14.8' }])), ['error other-load-balancer Deployment/metallb-system/controller']);
  only(add(workload('DaemonSet', 'lb', 'speaker', [{ name: 'speaker', image: 'docker.io/bitnami/metallb-speaker:0.14' }])), ['error other-load-balancer DaemonSet/lb/speaker']);
  only(add(workload('DaemonSet', 'kube-system', 'kube-vip-svc', [{ name: 'kube-vip', image: 'ghcr.io/kube-vip/kube-vip:v0.8.0', env: [{ name: 'svc_enable', value: 'true' }] }])), ['error other-load-balancer DaemonSet/kube-system/kube-vip-svc']);
  only(add(workload('Deployment', 'kube-system', 'kvcp', [{ name: 'p', image: 'ghcr.io/kube-vip/kube-vip-cloud-provider:v0.0.10' }])), ['error other-load-balancer Deployment/kube-system/kvcp']);
  only(add(workload('Deployment', 'purelb', 'allocator', [{ name: 'a', image: 'registry.gitlab.com/purelb/purelb/allocator:v0.10' }])), ['error other-load-balancer Deployment/purelb/allocator']);
  only(add(workload('Deployment', 'openelb-system', 'openelb-manager', [{ name: 'm', image: 'kubesphere/openelb:v0.5.1' }])), ['error other-load-balancer Deployment/openelb-system/openelb-manager']);
  only(add(workload('DaemonSet', 'kube-system', 'svclb-traefik-1a2b3c', [{ name: 'lb-tcp-80', image: 'rancher/klipper-lb:v0.4.9' }])), ['error other-load-balancer DaemonSet/kube-system/svclb-traefik-1a2b3c']);
  // a Deployment scaled to zero runs nothing
  only(add({ ...workload('Deployment', 'metallb-system', 'controller', [{ image: 'quay.io/metallb/controller:v0.14.8' }]), spec: { replicas: 0, template: { spec: { containers: [{ image: 'quay.io/metallb/controller:v0.14.8' }] } } } }), []);
  only({ ...h, ciliumLB: okv([{ kind: 'CiliumLoadBalancerIPPool', name: 'blue' }]) }, ['warning other-load-balancer CiliumLoadBalancerIPPool/blue']);
  const crds = okv([...listOf(h.crds), { name: 'ipaddresspools.metallb.io', group: 'metallb.io', plural: 'ipaddresspools', kind: 'IPAddressPool', storageVersion: 'v1beta1' }]);
  only({ ...h, crds }, ['info metallb-crds-installed CustomResourceDefinition/*.metallb.io']);
  const paused: DoctorSnapshot = { ...add(workload('Deployment', 'metallb-system', 'controller', [{ image: 'quay.io/metallb/controller:v0.14.8' }])), crds, namespaceObject: okv({ metadata: { name: NS, annotations: { [ALLOCATION_PAUSED_ANNOTATION]: 'true' } } }) };
  only(paused, ['warning allocation-paused Namespace/baregate-system', 'warning other-load-balancer Deployment/metallb-system/controller']);
});

test('10: allocation paused is a warning whose fix is baregate resume; pending Services say so', () => {
  const h = healthy();
  const fs = only({ ...h, namespaceObject: okv({ metadata: { name: NS, annotations: { [ALLOCATION_PAUSED_ANNOTATION]: 'true' } } }) }, ['warning allocation-paused Namespace/baregate-system']);
  assert.match(fs[0]?.fix ?? '', /baregate resume/);
  only({ ...h, namespaceObject: okv({ metadata: { name: NS, annotations: { [ALLOCATION_PAUSED_ANNOTATION]: 'false' } } }) }, []);
  const p = only({ ...h, services: okv([svc('default', 'new', [])]), namespaceObject: okv({ metadata: { name: NS, annotations: { [ALLOCATION_PAUSED_ANNOTATION]: 'true' } } }) },
    ['warning allocation-paused Namespace/baregate-system', 'warning service-pending Service/default/new']);
  assert.match(p[1]?.message ?? '', /paused/);
});

test('11: nothing of baregate installed; one CRD missing; controller Lease missing, expired or released', () => {
  const h = healthy();
  // nothing installed: one finding (no could-not-check for our kinds, no controller or speaker findings repeating it)
  const bare: DoctorSnapshot = {
    ...h, crds: okv([]), namespaceObject: okv(undefined), leases: okv([]), speakerStatuses: gone('not served by this cluster (404)'), webhookCert: okv(undefined),
    validatingWebhook: okv(undefined), mutatingWebhook: okv(undefined), workloads: okv([]),
    pools: gone('not served by this cluster (404)'), l2Advertisements: gone('not served by this cluster (404)'), bgpAdvertisements: gone('not served by this cluster (404)'), bgpPeers: gone('not served by this cluster (404)'),
  };
  const fs = only(bare, ['error not-installed CustomResourceDefinition/*.baregate.io']);
  assert.equal(exitCode(fs), 2);
  // what matters before installing is still said
  only({ ...bare, kubeProxy: okv({ data: { 'config.conf': 'mode: ipvs\n' } }) }, ['error ipvs-strict-arp ConfigMap/kube-system/kube-proxy', 'error not-installed CustomResourceDefinition/*.baregate.io']);
  only({ ...h, namespaceObject: okv(undefined), leases: okv([]) }, ['error not-installed Namespace/baregate-system']);
  only({ ...h, crds: okv(listOf(h.crds).filter((c) => c.plural !== 'speakerstatuses')) }, ['error not-installed CustomResourceDefinition/speakerstatuses.baregate.io']);
  only({ ...h, leases: okv(listOf(h.leases).filter((l) => l.metadata?.name !== CONTROLLER_LEASE)) }, ['error controller-not-running Lease/baregate-system/baregate-controller']);
  only({ ...h, leases: okv([...listOf(h.leases).filter((l) => l.metadata?.name !== CONTROLLER_LEASE), lease(CONTROLLER_LEASE, 20_000)]) }, ['error controller-not-running Lease/baregate-system/baregate-controller']);
  only({ ...h, leases: okv([...listOf(h.leases).filter((l) => l.metadata?.name !== CONTROLLER_LEASE), lease(CONTROLLER_LEASE, 1000, '')]) }, ['error controller-not-running Lease/baregate-system/baregate-controller']);
});

test('inputs that cannot be read are info findings naming the checks skipped; nothing crashes on odd shapes', () => {
  const h = healthy();
  const fs = only({ ...h, nodes: gone('forbidden: nodes is forbidden'), workloads: gone('connect ETIMEDOUT') }, ['info could-not-check deployments.apps, daemonsets.apps', 'info could-not-check nodes']);
  assert.match(fs[1]?.message ?? '', /forbidden/);
  const odd = { ...h, pools: okv([null, 7, { metadata: { name: 'x' } }, pool('lan', ['192.168.1.200-192.168.1.220']), pool('routed', ['203.0.113.0/28'])]), nodes: okv([{}, { status: { addresses: [{ type: 'InternalIP' }] } }] as NodeObject[]), services: okv([...listOf(h.services), { metadata: { name: 'x' } }]) };
  const out = diagnose(odd, NOW);
  assert.ok(out.every((f) => f.code !== FindingCodes.ServicePending), JSON.stringify(out));
});

test('exit code is the worst finding; the report is stable JSON', () => {
  const f = (severity: Finding['severity']): Finding => ({ severity, code: FindingCodes.CouldNotCheck, object: 'x', message: 'm', fix: 'f' });
  assert.equal(exitCode([]), 0);
  assert.equal(exitCode([f('info')]), 0);
  assert.equal(exitCode([f('info'), f('warning')]), 1);
  assert.equal(exitCode([f('warning'), f('error'), f('info')]), 2);
  const r = doctorReport([f('error'), f('info')]);
  assert.deepEqual(Object.keys(r), ['findings', 'summary', 'exitCode']);
  assert.deepEqual(r.summary, { error: 1, warning: 0, info: 1 });
  assert.equal(r.exitCode, 2);
  assert.deepEqual(Object.keys(r.findings[0] ?? {}), ['severity', 'code', 'object', 'message', 'fix']);
});
