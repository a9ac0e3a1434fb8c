/**
 * Lab smoke test (issue 10): the whole lab comes up (control plane in its namespace, kube-controller-manager,
 * kube-proxy per node, speakers, pods as namespaces, BIRD); a dual-stack LoadBalancer Service from the L2 pool
 * is reached by the LAN client over IPv4 and IPv6 through kube-proxy to a pod, with exactly one node answering
 * ARP/NDP; one from the BGP pool is reached by the routed client through the router's ECMP route over every
 * node; Pod readiness written by the lab reaches the traffic through the real EndpointSlice controller and
 * kube-proxy. Root only: skips loudly otherwise, as the netlab tests do.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { netlabSkip } from '../netlab/netns.ts';
import { until } from '../harness/wait.ts';
import { readAudit } from '../harness/cluster.ts';
import { API_VERSION, CONTROLLER_SERVICE_ACCOUNT, Kinds, SPEAKER_SERVICE_ACCOUNT, SYSTEM_NAMESPACE } from '../../src/api/keys.ts';
import { startLab } from '../../tools/lab/cluster.ts';
import type { LabCluster } from '../../tools/lab/api.ts';

const ANSWER = /^pod=demo-n[123]-\d+ node=n[123]$/;
const url = (ip: string): string => (ip.includes(':') ? `http://[${ip}]/` : `http://${ip}/`);

describe('lab smoke', { skip: netlabSkip, timeout: 900_000 }, () => {
  let lab: LabCluster;
  const ip: Record<'l2v4' | 'l2v6' | 'bgpv4' | 'bgpv6', string> = { l2v4: '', l2v6: '', bgpv4: '', bgpv6: '' };

  /** The first 200 answer from `from` for `target`, with a pod's text. */
  const fetchOk = (from: string, target: string): Promise<string> => until(() => `an HTTP answer from ${target} at ${from}\n${lab.logs()}`, async () => {
    const r = await lab.httpGet(from, url(target), 1500);
    return r.status === 200 && r.body !== undefined && ANSWER.test(r.body) ? r.body : undefined;
  }, 30_000, 250);

  before(async () => {
    const t0 = Date.now();
    lab = await startLab({ nodes: 3, tag: 'smk', log: (m) => { process.stderr.write(`${m}\n`); } });
    process.stderr.write(`lab up in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    await lab.applyBaseConfig({ bgp: true });
    await lab.deployApp('demo', ['n1', 'n2', 'n3']);
    await lab.lbService('demo');
    await lab.lbService('demo-bgp', { pool: 'routed', selector: 'demo' });
    const [l2, bgp] = await Promise.all([lab.waitServiceIPs('demo', 2), lab.waitServiceIPs('demo-bgp', 2)]);
    ip.l2v4 = l2.find((a) => !a.includes(':')) ?? '';
    ip.l2v6 = l2.find((a) => a.includes(':')) ?? '';
    ip.bgpv4 = bgp.find((a) => !a.includes(':')) ?? '';
    ip.bgpv6 = bgp.find((a) => a.includes(':')) ?? '';
  });
  after(async () => { await lab.destroy(); });

  it('gives the Services one IP per family from their pools', () => {
    assert.match(ip.l2v4, /^192\.0\.2\.2[0-2]\d$/);
    assert.match(ip.l2v6, /^2001:db8:2::2[0-2][0-9a-f]$/);
    assert.match(ip.bgpv4, /^198\.51\.100\.([12]\d|30)$/);
    assert.match(ip.bgpv6, /^2001:db8:5::[123][0-9a-f]$/);
  });

  it('the LAN client fetches http://<ipv4>/ and a pod answers with its name and node', async () => {
    assert.match(await fetchOk('client', ip.l2v4), ANSWER);
  });

  it('exactly one node answers ARP for the IPv4', async () => {
    const owner = await lab.waitOwner(ip.l2v4);
    assert.deepEqual(await lab.whoAnswers(ip.l2v4, { count: 4 }), [lab.node(owner).mac]);
  });

  it('the LAN client fetches http://[<ipv6>]/ and exactly one node answers NDP for it', async () => {
    assert.match(await fetchOk('client', ip.l2v6), ANSWER);
    const owner = await lab.waitOwner(ip.l2v6);
    assert.deepEqual(await lab.whoAnswers(ip.l2v6, { count: 3 }), [lab.node(owner).mac]);
  });

  it('BGP: the router holds an ECMP route over every node and the routed client reaches both IPs', async () => {
    for (const a of [ip.bgpv4, ip.bgpv6]) {
      const route = await until(() => `an ECMP route for ${a} over 3 nodes at the router (now: ${lab.routerKernelRoute(a)})`,
        () => { const r = lab.routerKernelRoute(a); return (r.match(/nexthop via/g) ?? []).length === 3 ? r : undefined; }, 60_000, 250);
      for (const nd of lab.nodes) assert.ok(route.includes(a.includes(':') ? nd.ipv6 : nd.ipv4), `${nd.name} is a next hop for ${a}: ${route}`);
      assert.match(await fetchOk('wclient', a), ANSWER);
    }
  });

  it('a pod made NotReady gets no traffic (EndpointSlice controller + kube-proxy), and it comes back when Ready', async () => {
    const pods = [...lab.pods.values()].filter((p) => p.app === 'demo');
    assert.equal(pods.length, 3);
    const [keep, ...off] = pods as [typeof pods[number], ...typeof pods];
    await Promise.all(off.map((p) => lab.setPodReady(p.name, false)));
    // once kube-proxy has the change, every answer comes from the one Ready pod
    await until(`only ${keep.name} answering`, async () => {
      const bodies = await Promise.all(Array.from({ length: 6 }, () => lab.httpGet('client', url(ip.l2v4), 1500)));
      return bodies.every((b) => b.body === `pod=${keep.name} node=${keep.node}`) ? true : undefined;
    }, 30_000, 250);
    await Promise.all(off.map((p) => lab.setPodReady(p.name, true)));
    await until('answers from more than one pod again', async () => {
      const bodies = await Promise.all(Array.from({ length: 8 }, () => lab.httpGet('client', url(ip.l2v4), 1500)));
      return new Set(bodies.map((b) => b.body)).size > 1 ? true : undefined;
    }, 30_000, 250);
  });

  it('the Service has NodePorts (allocateLoadBalancerNodePorts defaults to true)', async () => {
    const ports = await lab.nodePorts('demo');
    assert.equal(ports.length, 1);
    assert.ok((ports[0] ?? 0) >= 30000, `a NodePort: ${ports.join(',')}`);
  });

  it('apiAccess(node, false) makes the apiserver unreachable from that node only, true restores it', async () => {
    const probe = async (node: string): Promise<boolean> =>
      (await lab.lab.run(node, 'curl', ['-sk', '-o', '/dev/null', '--max-time', '1', 'https://198.51.100.33:6443/'], 5000)).code === 0;
    lab.apiAccess('n2', false);
    try {
      assert.equal(await probe('n2'), false);
      assert.equal(await probe('n1'), true);
    } finally { lab.apiAccess('n2', true); }
    assert.equal(await until('apiserver reachable from n2 again', async () => ((await probe('n2')) ? true : undefined), 10_000, 200), true);
  });

  it('stopKubeProxy / startKubeProxy: the process goes and comes back with its rules synced', async () => {
    await lab.stopKubeProxy('n1');
    assert.equal(lab.kubeProxyRunning('n1'), false);
    await lab.startKubeProxy('n1');
    assert.equal(lab.kubeProxyRunning('n1'), true);
    assert.match(await fetchOk('client', ip.l2v4), ANSWER);
  });

  it('controller and speakers run as the bundle\'s ServiceAccounts, and none of their requests was forbidden', () => {
    const sa = (name: string): string => `system:serviceaccount:${SYSTEM_NAMESPACE}:${name}`;
    // the audit log records every Lease write with its user: the controller's leader Lease, the speakers' membership Leases
    const leaseWriters = new Set(readAudit(join(lab.dir, 'cluster')).filter((e) => e.resource === 'leases' && e.namespace === SYSTEM_NAMESPACE && e.code < 300).map((e) => e.user));
    assert.ok(leaseWriters.has(sa(CONTROLLER_SERVICE_ACCOUNT)), `the controller writes its Lease as ${sa(CONTROLLER_SERVICE_ACCOUNT)}: ${[...leaseWriters].join(', ')}`);
    assert.ok(leaseWriters.has(sa(SPEAKER_SERVICE_ACCOUNT)), `the speakers write their Leases as ${sa(SPEAKER_SERVICE_ACCOUNT)}: ${[...leaseWriters].join(', ')}`);
    assert.ok(![...leaseWriters].some((u) => u.startsWith('speaker:') || u === 'lab-controller'), `no component writes with an admin certificate: ${[...leaseWriters].join(', ')}`);
    const logs = readdirSync(lab.dir).filter((f) => /^(controller-cp|speaker-n\d+)\.log$/.test(f));
    assert.ok(logs.length >= 4, `controller and speaker logs: ${logs.join(', ')}`);
    for (const f of logs) {
      const forbidden = readFileSync(join(lab.dir, f), 'utf8').split('\n').filter((l) => /HTTP 403|forbidden/.test(l));
      assert.deepEqual(forbidden.slice(0, 3), [], `${f}: requests refused by RBAC`);
    }
  });

  it('the validating webhook, reached through its Service over the controller\'s own TLS, refuses an overlapping pool', async () => {
    const bad = { apiVersion: API_VERSION, kind: Kinds.IPAddressPool.kind, metadata: { name: 'smoke-overlap' }, spec: { addresses: ['192.0.2.210/32'] } };
    const r = await lab.kubectl(['apply', '-f', '-'], JSON.stringify(bad));
    assert.notEqual(r.code, 0, `refused: ${r.stdout}`);
    assert.match(r.stderr, /admission webhook "validate\.baregate\.io" denied the request: .*192\.0\.2\.210.* overlaps IPAddressPool "lan"/);
    assert.equal((await lab.kubectl(['get', Kinds.IPAddressPool.plural, 'smoke-overlap'])).code, 1, 'nothing stored');
  });

  it('restartController and restartApiserver change no Service IP, and traffic still flows', async () => {
    const before = [...await lab.serviceIPs('demo'), ...await lab.serviceIPs('demo-bgp')].sort();
    await lab.restartController();
    await lab.restartApiserver({ downMs: 500 });
    assert.deepEqual([...await lab.serviceIPs('demo'), ...await lab.serviceIPs('demo-bgp')].sort(), before);
    assert.match(await fetchOk('client', ip.l2v4), ANSWER);
  });

  it('evictNode marks that node\'s pods NotReady; deletePod removes the Pod object and its namespace', async () => {
    const ready = async (name: string): Promise<string | undefined> => {
      const r = await lab.kubectl(['get', 'pod', name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
      return r.code === 0 ? r.stdout : undefined;
    };
    const onN3 = [...lab.pods.values()].filter((p) => p.node === 'n3');
    await lab.evictNode('n3');
    for (const p of onN3) assert.equal(await ready(p.name), 'False');
    const victim = onN3[0];
    assert.ok(victim);
    await lab.deletePod(victim.name);
    assert.equal(lab.pods.has(victim.name), false);
    assert.equal((await lab.kubectl(['get', 'pod', victim.name])).code, 1);
    const podNs = lab.lab.ns(`n3p${victim.name.split('-').at(-1) ?? ''}`);
    assert.ok(!lab.lab.exec('sw', 'ip', ['netns', 'list']).includes(podNs), `pod namespace ${podNs} deleted`);
    assert.match(await fetchOk('client', ip.l2v4), ANSWER);
  });
});
