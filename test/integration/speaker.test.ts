/**
 * The speaker's wiring (src/cli/speaker.ts: informers, Lease, SpeakerStatus writer, events) against a real
 * apiserver, with fake L2 links, BGP speaker and datagrams (no root, no namespaces): objects created through the
 * API become a SpeakerStatus that shows the IP; steady state makes no write but Lease renewals (counted in the
 * apiserver's audit log by the speaker's own client certificate); `baregate status -o json` says the same; SIGTERM
 * leaves an honest status and deletes the Lease.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ALLOCATED_FROM_POOL, HEARTBEAT_SECRET, HEARTBEAT_SECRET_KEY, SPEAKER_LEASE_PREFIX, SYSTEM_NAMESPACE } from '../../src/api/keys.ts';
import { startSpeaker, type SpeakerHandle } from '../../src/cli/speaker.ts';
import { runStatusCommand, type StatusReport } from '../../src/cli/status.ts';
import { KubeClient } from '../../src/k8s/client.ts';
import { clientKubeconfigSync } from '../harness/cluster.ts';
import { Api, audit, dataDir, kubeconfig, waitFor } from '../harness/kube.ts';
import { FakeBgp, FakeLink, inertDataPlane } from '../harness/speakerfakes.ts';

const api = new Api();
const NODE = 'node-a';
const USER = `speaker:${NODE}`;
const ns = 'speaker';
let speakerKubeconfig = '';
let h: SpeakerHandle | undefined;
const links = new Map<string, FakeLink>();
const bgps: FakeBgp[] = [];

const G = '/apis/baregate.io/v1beta1';

async function serviceWithIP(name: string, ip: string, pool: string): Promise<void> {
  await api.service(ns, name, { annotations: { [ALLOCATED_FROM_POOL]: pool } });
  // no controller runs here: the status is written as the controller would
  await api.must('PATCH', `/api/v1/namespaces/${ns}/services/${name}/status`, { status: { loadBalancer: { ingress: [{ ip, ipMode: 'VIP' }] } } }, 'application/merge-patch+json');
}

interface Announcement { ip: string; mode: string; services: string[]; interfaces?: string[]; peers?: string[] }
async function speakerStatus(): Promise<{ announcements?: Announcement[]; conditions?: { type: string; status: string }[]; sessions?: { peer: string }[] } | undefined> {
  const r = await api.c.request<{ status?: { announcements?: Announcement[] } }>('GET', `${G}/speakerstatuses/${NODE}`);
  return r.status === 200 ? r.body.status : undefined;
}

before(async () => {
  await api.namespace(ns);
  speakerKubeconfig = clientKubeconfigSync(dataDir(), USER, ['system:masters']);
  await api.must('POST', '/api/v1/nodes', { metadata: { name: NODE, labels: { 'kubernetes.io/hostname': NODE } } });
  await api.must('PATCH', `/api/v1/nodes/${NODE}/status`, { status: { addresses: [{ type: 'InternalIP', address: '192.0.2.1' }], conditions: [{ type: 'Ready', status: 'True', reason: 'Test', message: 'test', lastHeartbeatTime: new Date().toISOString(), lastTransitionTime: new Date().toISOString() }] } }, 'application/merge-patch+json');
  await api.must('POST', `/api/v1/namespaces/${SYSTEM_NAMESPACE}/secrets`, { metadata: { name: HEARTBEAT_SECRET }, data: { [HEARTBEAT_SECRET_KEY]: Buffer.alloc(32, 1).toString('base64') } });
  await api.pool('lan', { addresses: ['192.0.2.200-192.0.2.220'] });
  await api.pool('routed', { addresses: ['203.0.113.0/28'] });
  await api.must('POST', `${G}/l2advertisements`, { apiVersion: 'baregate.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'lan' }, spec: { ipAddressPools: ['lan'] } });
  await api.must('POST', `${G}/bgppeers`, { apiVersion: 'baregate.io/v1beta1', kind: 'BGPPeer', metadata: { name: 'router' }, spec: { myASN: 64500, peerASN: 64501, peerAddress: '192.0.2.254' } });
  await api.must('POST', `${G}/bgpadvertisements`, { apiVersion: 'baregate.io/v1beta1', kind: 'BGPAdvertisement', metadata: { name: 'routed' }, spec: { ipAddressPools: ['routed'], communities: ['64500:1'] } });
});

after(async () => {
  await h?.stop();
  api.c.destroy();
});

test('objects created through the API become a SpeakerStatus showing the IPs (L2 on eth0, BGP to the peer)', async () => {
  await serviceWithIP('web', '192.0.2.200', 'lan');
  await serviceWithIP('routed', '203.0.113.1', 'routed');
  h = await startSpeaker({
    nodeName: NODE, kubeconfig: speakerKubeconfig, metricsPort: 0, metricsHost: '127.0.0.1', heartbeatPort: 0,
    heartbeatIntervalMs: 100, heartbeatTimeoutMs: 350, leaseDuration: 3, bgpPort: 0, logLevel: 'warn',
  }, {
    openLink: (ifname) => { const l = new FakeLink('02:00:00:00:00:0a'); links.set(ifname, l); return l; },
    bgp: () => { const b = new FakeBgp({ established: true }); bgps.push(b); return b; },
    ...inertDataPlane(), // the data plane is faked: no nftables in the root namespace
    interfaces: () => [{ name: 'eth0', mac: '02:00:00:00:00:0a', addresses: [{ address: '192.0.2.1', cidr: '192.0.2.1/24', family: 'IPv4' }] }],
  });
  await h.started;
  const st = await waitFor('SpeakerStatus with both announcements', async () => {
    const s = await speakerStatus();
    return s?.announcements?.length === 2 ? s : undefined;
  });
  assert.deepEqual(st.announcements, [
    { ip: '192.0.2.200', services: [`${ns}/web`], mode: 'L2', interfaces: ['eth0'] },
    { ip: '203.0.113.1', services: [`${ns}/routed`], mode: 'BGP', peers: ['router'] },
  ]);
  assert.deepEqual(st.conditions?.map((c) => [c.type, c.status]), [['ConfigValid', 'True'], ['HeartbeatKey', 'True'], ['ApiReachable', 'True']]);
  assert.deepEqual([...(links.get('eth0')?.owned ?? [])], ['192.0.2.200'], 'the link answers the IP');
  assert.deepEqual(bgps.at(-1)?.routes.get('router'), [{ prefix: '203.0.113.1/32', communities: ['64500:1'], largeCommunities: [] }]);
  assert.equal(h.daemon.readiness().ok, true, '/readyz: synced and Lease renewed');
});

test('steady state: no write but Lease renewals over 6 s', async () => {
  // let the first status writes settle
  await new Promise((r) => setTimeout(r, 2000));
  const from = audit().length;
  await new Promise((r) => setTimeout(r, 6000));
  const writes = audit().slice(from).filter((e) => e.user === USER && !['get', 'list', 'watch'].includes(e.verb));
  const other = writes.filter((e) => !(e.resource === 'leases' && e.name === `${SPEAKER_LEASE_PREFIX}${NODE}` && e.verb === 'update'));
  assert.deepEqual(other.map((e) => `${e.verb} ${e.resource}/${e.subresource} ${e.name}`), [], 'nothing but Lease renewals');
  const renewals = writes.length - other.length;
  console.log(`# ${renewals} Lease renewals in 6 s (lease 3 s, renewed every 1 s)`);
  assert.ok(renewals >= 3 && renewals <= 8, `Lease renewed about once a second (${renewals})`);
});

test('a change is one status write; `baregate status -o json` tells the same', async () => {
  const from = audit().length;
  await serviceWithIP('web2', '192.0.2.201', 'lan');
  await waitFor('the new IP in the status', async () => (await speakerStatus())?.announcements?.some((a) => a.ip === '192.0.2.201'));
  await new Promise((r) => setTimeout(r, 1500));
  const statusWrites = audit().slice(from).filter((e) => e.user === USER && e.resource === 'speakerstatuses' && e.verb !== 'get');
  assert.equal(statusWrites.length, 1, `one status write for one new Service (${statusWrites.map((e) => e.verb).join(',')})`);
  let out = '';
  const rc = await runStatusCommand({ kubeconfig: kubeconfig(), output: 'json' }, (s) => { out += s; });
  assert.equal(rc, 0);
  const report = JSON.parse(out) as StatusReport;
  const byName = new Map(report.services.map((s) => [s.name, s]));
  assert.deepEqual(byName.get(`${ns}/web`), { name: `${ns}/web`, ips: ['192.0.2.200'], pool: 'lan', mode: 'L2', nodes: [NODE], announcements: [{ ip: '192.0.2.200', pool: 'lan', mode: 'L2', nodes: [NODE] }] });
  assert.deepEqual(byName.get(`${ns}/web2`)?.nodes, [NODE]);
  assert.deepEqual(byName.get(`${ns}/routed`)?.mode, 'BGP');
  assert.deepEqual(report.nodes.map((n) => [n.node, n.stale, n.announcing, n.sessions.map((s) => s.peer)]), [[NODE, false, 3, ['router']]]);
  let table = '';
  assert.equal(await runStatusCommand({ kubeconfig: kubeconfig(), output: 'table' }, (s) => { table += s; }), 0);
  assert.match(table, new RegExp(`^${ns}/web\\s+192\\.0\\.2\\.200\\s+lan\\s+L2\\s+${NODE}$`, 'm'));
});

test('a bad advertisement: one ConfigInvalid event on it, ConfigValid False in the status, the rest keeps serving', async () => {
  await api.must('POST', `${G}/l2advertisements`, { apiVersion: 'baregate.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'typo' }, spec: { ipAddressPools: ['no-such-pool'] } });
  const msg = await api.waitEvent('default', 'typo', 'ConfigInvalid', /no-such-pool/);
  console.log(`# event: ${msg}`);
  await waitFor('ConfigValid False', async () => (await speakerStatus())?.conditions?.some((c) => c.type === 'ConfigValid' && c.status === 'False'));
  assert.ok((await speakerStatus())?.announcements?.some((a) => a.ip === '192.0.2.200'), 'still announced');
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await api.events('default', 'typo')).filter((e) => e.reason === 'ConfigInvalid').length, 1, 'not repeated');
  await api.must('DELETE', `${G}/l2advertisements/typo`);
  await waitFor('ConfigValid True again', async () => (await speakerStatus())?.conditions?.some((c) => c.type === 'ConfigValid' && c.status === 'True'));
});

test('SIGTERM: the final status lists no L2 IP, BGP shut down gracefully, the Lease is deleted', async () => {
  assert.ok(h);
  const t0 = Date.now();
  await h.stop();
  h = undefined;
  console.log(`# shutdown took ${Date.now() - t0} ms`);
  const st = await speakerStatus();
  assert.deepEqual(st?.announcements?.filter((a) => a.mode === 'L2'), []);
  assert.equal(bgps.at(-1)?.gshut, 1);
  const c = KubeClient.create({ kubeconfig: kubeconfig() });
  const lease = await c.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases/${SPEAKER_LEASE_PREFIX}${NODE}`);
  c.destroy();
  assert.equal(lease.status, 404, 'Lease deleted');
});

// 2000 by default (creating Services is the slow part: 10k took 200 s on a loaded machine); BAREGATE_SPEAKER_SERVICES=10000
// measures the scale (seen: 25.5 MiB heap growth for 10k)
const BULK = Number(process.env.BAREGATE_SPEAKER_SERVICES ?? 2000);

test(`${BULK} Services: the speaker answers every IP, its status lists them, and its heap stays small (printed)`, async () => {
  const N = BULK;
  const hex = (i: number): string => i.toString(16);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < N; i = next++) {
      const name = `bulk-${i}`;
      await api.must('POST', `/api/v1/namespaces/${ns}/services`, { metadata: { name, namespace: ns, annotations: { [ALLOCATED_FROM_POOL]: 'lan' } }, spec: { type: 'LoadBalancer', allocateLoadBalancerNodePorts: false, ports: [{ port: 80, protocol: 'TCP' }], selector: { app: name } } });
      await api.must('PATCH', `/api/v1/namespaces/${ns}/services/${name}/status`, { status: { loadBalancer: { ingress: [{ ip: `2001:db8:1::${hex(0x1000 + i)}`, ipMode: 'VIP' }] } } }, 'application/merge-patch+json');
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: 32 }, () => worker()));
  console.log(`# ${N} Services created in ${Date.now() - t0} ms`);
  const bulkLinks = new Map<string, FakeLink>();
  global.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const big = await startSpeaker({
    nodeName: NODE, kubeconfig: speakerKubeconfig, metricsPort: 0, metricsHost: '127.0.0.1', heartbeatPort: 0,
    heartbeatIntervalMs: 100, heartbeatTimeoutMs: 350, leaseDuration: 3, bgpPort: 0, logLevel: 'warn',
  }, {
    openLink: (ifname) => { const l = new FakeLink('02:00:00:00:00:0a'); bulkLinks.set(ifname, l); return l; },
    bgp: () => new FakeBgp({ established: true }),
    ...inertDataPlane(), // the data plane is faked: no nftables in the root namespace
    interfaces: () => [{ name: 'eth0', mac: '02:00:00:00:00:0a', addresses: [
      { address: '192.0.2.1', cidr: '192.0.2.1/24', family: 'IPv4' }, { address: '2001:db8:1::1', cidr: '2001:db8:1::1/64', family: 'IPv6' }] }],
  });
  try {
    await big.started;
    await waitFor('every bulk IP answered', () => Promise.resolve((bulkLinks.get('eth0')?.owned.size ?? 0) >= N), 120_000);
    const st = await waitFor('the status listing them', async () => {
      const s = await speakerStatus();
      return (s?.announcements?.length ?? 0) >= N ? s : undefined;
    }, 60_000);
    assert.ok((st.announcements?.length ?? 0) >= N);
    global.gc?.();
    const heapMiB = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
    console.log(`# speaker heap growth with ${N} Services: ${heapMiB.toFixed(1)} MiB (test process RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB, gc exposed: ${String(global.gc !== undefined)})`);
    assert.ok(heapMiB < 100, `heap growth ${heapMiB.toFixed(1)} MiB`);
  } finally {
    await big.stop();
  }
});
