/**
 * The address controller against a real apiserver: every way a Service can ask for an address,
 * scoping, dual-stack, sharing, release, pool changes and bad input. Pools are scoped to each test's
 * namespace so tests cannot take each other's addresses.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Api, kubeconfig, waitFor } from '../harness/kube.ts';
import { leading, startReplica, type TestReplica } from '../harness/controller.ts';

const api = new Api();
let replica: TestReplica;
const pools: string[] = [];

async function pool(name: string, ns: string, spec: Parameters<Api['pool']>[1]): Promise<void> {
  pools.push(name);
  await api.pool(name, { ...spec, serviceAllocation: { namespaces: [ns], ...spec.serviceAllocation } });
}

before(async () => {
  replica = startReplica('alloc-1', 'alloc-test');
  await leading(replica);
});
after(async () => {
  await replica.stop();
  for (const p of pools) await api.deletePool(p);
  api.c.destroy();
});

describe('auto-assign and release', () => {
  test('gets the first address, status + annotation + event; release makes it reusable', async () => {
    const ns = 'alloc-auto';
    await api.namespace(ns);
    await pool('alloc-auto', ns, { addresses: ['192.0.2.10-192.0.2.11'] });
    await api.service(ns, 'a');
    assert.deepEqual(await api.waitIPs(ns, 'a'), ['192.0.2.10']);
    const a = await api.getService(ns, 'a');
    assert.equal(a.status?.loadBalancer?.ingress?.[0]?.ipMode, 'VIP');
    await waitFor('pool annotation written', async () => (await api.getService(ns, 'a')).metadata.annotations?.['baregate.io/ip-allocated-from-pool'] === 'alloc-auto');
    assert.match(await api.waitEvent(ns, 'a', 'IPAllocated'), /192\.0\.2\.10.*alloc-auto/);
    await api.service(ns, 'b');
    assert.deepEqual(await api.waitIPs(ns, 'b'), ['192.0.2.11']);
    await api.service(ns, 'c');
    assert.match(await api.waitEvent(ns, 'c', 'AllocationFailed'), /pool exhausted/);
    assert.deepEqual(await api.ips(ns, 'c'), []);
    await api.deleteService(ns, 'a');
    assert.deepEqual(await api.waitIPs(ns, 'c'), ['192.0.2.10'], 'a freed address goes to the waiting Service');
  });

  test('type change away from LoadBalancer releases; back again re-allocates', async () => {
    const ns = 'alloc-type';
    await api.namespace(ns);
    await pool('alloc-type', ns, { addresses: ['192.0.2.20/32'] });
    await api.service(ns, 'svc');
    assert.deepEqual(await api.waitIPs(ns, 'svc'), ['192.0.2.20']);
    await api.patchService(ns, 'svc', { spec: { type: 'ClusterIP', ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: null }] } });
    await api.waitIPs(ns, 'svc', 0);
    await api.waitEvent(ns, 'svc', 'IPReleased', /192\.0\.2\.20/);
    // the pool annotation goes right after the status (two writes): wait for it rather than race it
    await waitFor('pool annotation removed', async () => (await api.getService(ns, 'svc')).metadata.annotations?.['baregate.io/ip-allocated-from-pool'] === undefined);
    await api.service(ns, 'other');
    assert.deepEqual(await api.waitIPs(ns, 'other'), ['192.0.2.20']);
  });

  test('Services of another loadBalancerClass are left alone', async () => {
    const ns = 'alloc-class';
    await api.namespace(ns);
    await pool('alloc-class', ns, { addresses: ['192.0.2.30/31'] });
    await api.service(ns, 'foreign', { spec: { loadBalancerClass: 'example.com/other' } });
    await api.service(ns, 'ours', { spec: { loadBalancerClass: 'baregate.io/lb' } });
    assert.deepEqual(await api.waitIPs(ns, 'ours'), ['192.0.2.30']);
    assert.deepEqual(await api.ips(ns, 'foreign'), []);
  });
});

describe('fixed IPs and pools by name', () => {
  test('each accepted annotation and spec.loadBalancerIP', async () => {
    const ns = 'alloc-fixed';
    await api.namespace(ns);
    await pool('alloc-fixed', ns, { addresses: ['192.0.2.64/27'], autoAssign: false });
    const cases: [string, Record<string, string>, string | undefined][] = [
      ['ours', { 'baregate.io/loadBalancerIPs': '192.0.2.70' }, undefined],
      ['metallb-io', { 'metallb.io/loadBalancerIPs': '192.0.2.71' }, undefined],
      ['metallb-universe', { 'metallb.universe.tf/loadBalancerIPs': '192.0.2.72' }, undefined],
      ['spec-field', {}, '192.0.2.73'],
    ];
    for (const [name, annotations, lbip] of cases) {
      await api.service(ns, name, { annotations, ...(lbip ? { spec: { loadBalancerIP: lbip } } : {}) });
    }
    for (const [i, [name]] of cases.entries()) assert.deepEqual(await api.waitIPs(ns, name), [`192.0.2.${70 + i}`]);
    await api.service(ns, 'taken', { annotations: { 'baregate.io/loadBalancerIPs': '192.0.2.70' } });
    assert.match(await api.waitEvent(ns, 'taken', 'AllocationFailed'), /in use by alloc-fixed\/ours/);
    await api.service(ns, 'outside', { annotations: { 'baregate.io/loadBalancerIPs': '203.0.113.250' } });
    assert.match(await api.waitEvent(ns, 'outside', 'AllocationFailed'), /not in any allowed pool/);
  });

  test('pool by annotation, also a non-auto-assign pool; unknown pool fails', async () => {
    const ns = 'alloc-named';
    await api.namespace(ns);
    await pool('alloc-named-auto', ns, { addresses: ['192.0.2.100/32'] });
    await pool('alloc-named-manual', ns, { addresses: ['192.0.2.101/32'], autoAssign: false });
    await api.service(ns, 'm', { annotations: { 'metallb.universe.tf/address-pool': 'alloc-named-manual' } });
    await api.service(ns, 'auto');
    assert.deepEqual(await api.waitIPs(ns, 'm'), ['192.0.2.101']);
    assert.deepEqual(await api.waitIPs(ns, 'auto'), ['192.0.2.100']);
    await api.service(ns, 'ghost', { annotations: { 'baregate.io/address-pool': 'no-such-pool' } });
    assert.match(await api.waitEvent(ns, 'ghost', 'AllocationFailed'), /"no-such-pool" does not exist/);
  });

  test('namespace selectors, service selectors and priority', async () => {
    const ns = 'alloc-scope';
    await api.namespace(ns, { tier: 'gold' });
    await pool('alloc-scope-low', ns, { addresses: ['192.0.2.110/32'], serviceAllocation: { priority: 50 } });
    await pool('alloc-scope-high', ns, { addresses: ['192.0.2.111/32'], serviceAllocation: { priority: 10 } });
    pools.push('alloc-scope-web');
    await api.pool('alloc-scope-web', { addresses: ['192.0.2.112/32'], serviceAllocation: { priority: 1, namespaceSelectors: [{ matchLabels: { tier: 'gold' } }], serviceSelectors: [{ matchLabels: { app: 'web' } }] } });
    await api.service(ns, 'web', { labels: { app: 'web' } });
    assert.deepEqual(await api.waitIPs(ns, 'web'), ['192.0.2.112']);
    await api.service(ns, 'first');
    assert.deepEqual(await api.waitIPs(ns, 'first'), ['192.0.2.111'], 'higher priority (lower number) first');
    await api.service(ns, 'second');
    assert.deepEqual(await api.waitIPs(ns, 'second'), ['192.0.2.110']);
  });
});

describe('dual-stack', () => {
  test('RequireDualStack, PreferDualStack, SingleStack IPv6', async () => {
    const ns = 'alloc-dual';
    await api.namespace(ns);
    await pool('alloc-dual', ns, { addresses: ['198.51.100.0/30', '2001:db8:1::/64'] });
    await api.service(ns, 'req', { spec: { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] } });
    assert.deepEqual(await api.waitIPs(ns, 'req', 2), ['198.51.100.0', '2001:db8:1::']);
    await api.service(ns, 'pref6', { spec: { ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv6', 'IPv4'] } });
    assert.deepEqual(await api.waitIPs(ns, 'pref6', 2), ['2001:db8:1::1', '198.51.100.1']);
    await api.service(ns, 'v6', { spec: { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6'] } });
    assert.deepEqual(await api.waitIPs(ns, 'v6'), ['2001:db8:1::2']);
    await api.service(ns, 'fixed', { spec: { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] }, annotations: { 'baregate.io/loadBalancerIPs': '2001:db8:1::99,198.51.100.3' } });
    assert.deepEqual((await api.waitIPs(ns, 'fixed', 2)).sort(), ['198.51.100.3', '2001:db8:1::99']);
  });

  test('RequireDualStack without an IPv6 pool fails; PreferDualStack gets IPv4 only', async () => {
    const ns = 'alloc-dual4';
    await api.namespace(ns);
    await pool('alloc-dual4', ns, { addresses: ['198.51.100.8/30'] });
    await api.service(ns, 'req', { spec: { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] } });
    assert.match(await api.waitEvent(ns, 'req', 'AllocationFailed'), /no pool for family IPv6/);
    await api.service(ns, 'pref', { spec: { ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv4', 'IPv6'] } });
    assert.deepEqual(await api.waitIPs(ns, 'pref'), ['198.51.100.8']);
    assert.deepEqual(await api.ips(ns, 'req'), []);
  });
});

describe('sharing', () => {
  test('same key and disjoint ports share; overlapping ports and Local with other pods do not', async () => {
    const ns = 'alloc-share';
    await api.namespace(ns);
    await pool('alloc-share', ns, { addresses: ['198.51.100.16/30'] });
    const share = { 'baregate.io/allow-shared-ip': 'k1' };
    await api.service(ns, 'tcp', { annotations: { ...share, 'baregate.io/loadBalancerIPs': '198.51.100.17' } });
    await api.service(ns, 'udp', { annotations: { 'metallb.universe.tf/allow-shared-ip': 'k1', 'baregate.io/loadBalancerIPs': '198.51.100.17' }, spec: { ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] } });
    assert.deepEqual(await api.waitIPs(ns, 'tcp'), ['198.51.100.17']);
    assert.deepEqual(await api.waitIPs(ns, 'udp'), ['198.51.100.17']);
    await api.service(ns, 'clash', { annotations: { ...share, 'baregate.io/loadBalancerIPs': '198.51.100.17' } });
    assert.match(await api.waitEvent(ns, 'clash', 'AllocationFailed'), /sharing conflict: ports 80\/TCP/);
    await api.service(ns, 'nokey', { annotations: { 'baregate.io/loadBalancerIPs': '198.51.100.17' }, spec: { ports: [{ name: 'x', port: 81, protocol: 'TCP' }] } });
    assert.match(await api.waitEvent(ns, 'nokey', 'AllocationFailed'), /in use by/);
    const local = { externalTrafficPolicy: 'Local' };
    await api.service(ns, 'local-a', { annotations: { 'baregate.io/allow-shared-ip': 'k2' }, spec: { ...local, selector: { app: 'x' } } });
    const [ip] = await api.waitIPs(ns, 'local-a');
    await api.service(ns, 'local-b', { annotations: { 'baregate.io/allow-shared-ip': 'k2', 'baregate.io/loadBalancerIPs': ip! }, spec: { ...local, selector: { app: 'y' }, ports: [{ name: 'h', port: 443, protocol: 'TCP' }] } });
    assert.match(await api.waitEvent(ns, 'local-b', 'AllocationFailed'), /same pods/);
    await api.service(ns, 'local-c', { annotations: { 'baregate.io/allow-shared-ip': 'k2' }, spec: { ...local, selector: { app: 'x' }, ports: [{ name: 'h', port: 443, protocol: 'TCP' }] } });
    assert.deepEqual(await api.waitIPs(ns, 'local-c'), [ip], 'auto-assign joins the compatible sharer');
  });
});

describe('pool changes', () => {
  test('shrink re-allocates only the Services left outside, with an event saying why; delete does the same', async () => {
    const ns = 'alloc-shrink';
    await api.namespace(ns);
    await pool('alloc-shrink', ns, { addresses: ['198.51.100.32/29'] });
    await api.service(ns, 'low', { annotations: { 'baregate.io/loadBalancerIPs': '198.51.100.33' } });
    await api.service(ns, 'high', { annotations: { 'baregate.io/loadBalancerIPs': '198.51.100.38' } });
    await api.service(ns, 'auto');
    await api.waitIPs(ns, 'low'); await api.waitIPs(ns, 'high');
    const [autoIP] = await api.waitIPs(ns, 'auto');
    await waitFor('pool status counts', async () => (await api.getPool('alloc-shrink')).status?.assignedIPv4 === '3');
    assert.equal((await api.getPool('alloc-shrink')).status?.availableIPv4, '5');
    await api.patchPool('alloc-shrink', { addresses: ['198.51.100.32/30'] });
    assert.match(await api.waitEvent(ns, 'high', 'AllocationFailed'), /not in any allowed pool/);
    await api.waitIPs(ns, 'high', 0);
    assert.deepEqual(await api.ips(ns, 'low'), ['198.51.100.33']);
    assert.deepEqual(await api.ips(ns, 'auto'), [autoIP]);
    // a second pool; then delete the first: the auto Service moves with an explanation
    await pool('alloc-shrink-2', ns, { addresses: ['198.51.100.40/30'] });
    await api.deletePool('alloc-shrink');
    await waitFor('auto to move', async () => ((await api.ips(ns, 'auto'))[0] ?? '').startsWith('198.51.100.4'));
    assert.match(await api.waitEvent(ns, 'auto', 'IPReallocated'), /no longer in any pool/);
  });

  test('overlapping pools are reported on status and as events', async () => {
    const ns = 'alloc-overlap';
    await pool('alloc-ov-a', ns, { addresses: ['198.51.100.64/28'] });
    await pool('alloc-ov-b', ns, { addresses: ['198.51.100.70-198.51.100.90'] });
    const cond = await waitFor('overlap condition', async () => (await api.getPool('alloc-ov-b')).status?.conditions?.find((c) => c.type === 'Overlapping' && c.status === 'True'));
    assert.match(cond.message, /alloc-ov-a/);
    await api.waitEvent('default', 'alloc-ov-a', 'PoolOverlap', /alloc-ov-b/);
  });

  test('a reversed IPv6 range (which CEL cannot order) is reported on the pool status and as an event', async () => {
    await pool('alloc-rev6', 'alloc-rev6', { addresses: ['2001:db8:9::20-2001:db8:9::10', '2001:db8:9::1:0/112'] });
    const cond = await waitFor('Valid=False', async () => (await api.getPool('alloc-rev6')).status?.conditions?.find((c) => c.type === 'Valid' && c.status === 'False'));
    assert.match(cond.message, /range is reversed/);
    assert.equal((await api.getPool('alloc-rev6')).status?.availableIPv6, '65536', 'the valid entries still count');
    await api.waitEvent('default', 'alloc-rev6', 'PoolInvalid', /reversed/);
  });

  test('the CRD schema rejects malformed, reversed and empty address lists, and negative priorities', async () => {
    const bad: [string, string[]][] = [
      ['cidr', ['192.0.2.0/33']], ['garbage', ['not-an-ip']], ['rev4', ['192.0.2.20-192.0.2.10']],
      ['mixed', ['192.0.2.1-2001:db8::1']], ['empty', []],
    ];
    for (const [name, addresses] of bad) {
      const r = await api.c.request('POST', '/apis/baregate.io/v1beta1/ipaddresspools', { apiVersion: 'baregate.io/v1beta1', kind: 'IPAddressPool', metadata: { name: `alloc-bad-${name}` }, spec: { addresses } });
      assert.equal(r.status, 422, `${name} must be rejected, got ${r.status}`);
    }
    const neg = await api.c.request('POST', '/apis/baregate.io/v1beta1/ipaddresspools', { apiVersion: 'baregate.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'alloc-bad-prio' }, spec: { addresses: ['192.0.2.1/32'], serviceAllocation: { priority: -1 } } });
    assert.equal(neg.status, 422, 'a negative priority must be rejected');
    assert.match(JSON.stringify(neg.body), /priority/);
    for (const good of [['2001:db8::10-2001:db8::20'], ['192.0.2.5-192.0.2.5'], ['2001:db8::1:0-2001:db8::2:0']]) {
      const name = `alloc-good-${pools.length}`;
      pools.push(name);
      const r = await api.c.request('POST', '/apis/baregate.io/v1beta1/ipaddresspools', { apiVersion: 'baregate.io/v1beta1', kind: 'IPAddressPool', metadata: { name }, spec: { addresses: good, serviceAllocation: { namespaces: ['none'] } } });
      assert.equal(r.status, 201, `${good.join()} must be accepted: ${JSON.stringify(r.body)}`);
    }
  });
});

describe('bad input', () => {
  test('unparsable annotation, wrong family, unknown pool: event, pending, nothing lost', async () => {
    const ns = 'alloc-bad';
    await api.namespace(ns);
    await pool('alloc-bad', ns, { addresses: ['203.0.113.0/29'] });
    await api.service(ns, 'garbage', { annotations: { 'baregate.io/loadBalancerIPs': '203.0.113.999' } });
    assert.match(await api.waitEvent(ns, 'garbage', 'AllocationFailed'), /not an IP address/);
    await api.service(ns, 'family', { annotations: { 'baregate.io/loadBalancerIPs': '2001:db8::5' } });
    assert.match(await api.waitEvent(ns, 'family', 'AllocationFailed'), /single-stack IPv4/);
    // an allocated Service whose annotation is broken later keeps its address
    await api.service(ns, 'keeper');
    const [ip] = await api.waitIPs(ns, 'keeper');
    await api.patchService(ns, 'keeper', { metadata: { annotations: { 'baregate.io/loadBalancerIPs': 'bogus' } } });
    assert.match(await api.waitEvent(ns, 'keeper', 'AllocationFailed'), new RegExp(`keeping ${ip!.replace(/\./g, '\\.')}`));
    await api.patchService(ns, 'keeper', { metadata: { annotations: { 'baregate.io/address-pool': 'nope', 'baregate.io/loadBalancerIPs': null } } });
    assert.match(await api.waitEvent(ns, 'keeper', 'AllocationFailed', /nope/), /does not exist; keeping/);
    assert.deepEqual(await api.ips(ns, 'keeper'), [ip]);
    assert.deepEqual(await api.ips(ns, 'garbage'), []);
    assert.deepEqual(await api.ips(ns, 'family'), []);
    assert.equal(replica.current() !== undefined, true, 'controller still running');
  });
});

describe('MetalLB-compatible decisions', () => {
  test('families: a requested IP of a family the Service does not have fails with a reason; nothing is dropped silently', async () => {
    const ns = 'alloc-fam';
    await api.namespace(ns);
    await pool('alloc-fam', ns, { addresses: ['198.51.100.40/30', '2001:db8:4::/120'] });
    await api.service(ns, 'two', { annotations: { 'baregate.io/loadBalancerIPs': '198.51.100.41,2001:db8:4::41' } });
    assert.match(await api.waitEvent(ns, 'two', 'AllocationFailed'), /requested 2001:db8:4::41 but the Service is single-stack IPv4/);
    assert.deepEqual(await api.ips(ns, 'two'), []);
    // the apiserver decides ipFamilies; whatever it wrote, the Service gets exactly those families
    await api.service(ns, 'pref', { spec: { ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv4'] } });
    const fams = (await api.getService(ns, 'pref')).spec?.ipFamilies ?? [];
    const got = await api.waitIPs(ns, 'pref', fams.length);
    assert.deepEqual(got.map((x) => (x.includes(':') ? 'IPv6' : 'IPv4')), fams);
  });

  test('late second family: a PreferDualStack Service gains IPv6 when a pool appears, its IPv4 unchanged', async () => {
    const ns = 'alloc-late';
    await api.namespace(ns);
    await pool('alloc-late-v4', ns, { addresses: ['198.51.100.44/30'] });
    await api.service(ns, 'pref', { spec: { ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv4', 'IPv6'] } });
    assert.deepEqual(await api.waitIPs(ns, 'pref'), ['198.51.100.44']);
    await pool('alloc-late-v6', ns, { addresses: ['2001:db8:5::/120'] });
    assert.deepEqual(await api.waitIPs(ns, 'pref', 2), ['198.51.100.44', '2001:db8:5::']);
    assert.match(await api.waitEvent(ns, 'pref', 'IPAllocated', /2001:db8:5::/), /198\.51\.100\.44, 2001:db8:5::/);
    await waitFor('pool annotation names both pools', async () => (await api.getService(ns, 'pref')).metadata.annotations?.['baregate.io/ip-allocated-from-pool'] === 'alloc-late-v4,alloc-late-v6');
  });

  test('avoidBuggyIPs turned on later moves a Service off .255 (event with the reason); usage counts only assignable addresses', async () => {
    const ns = 'alloc-buggy';
    await api.namespace(ns);
    await pool('alloc-buggy', ns, { addresses: ['203.0.113.255/32'] });
    await api.service(ns, 'top');
    assert.deepEqual(await api.waitIPs(ns, 'top'), ['203.0.113.255']);
    await api.patchPool('alloc-buggy', { addresses: ['203.0.113.252/32', '203.0.113.255/32'], avoidBuggyIPs: true });
    await waitFor('top to move to 203.0.113.252', async () => (await api.ips(ns, 'top')).join() === '203.0.113.252');
    assert.match(await api.waitEvent(ns, 'top', 'IPReallocated'), /203\.0\.113\.255 ends in \.0 or \.255 and pool "alloc-buggy" has avoidBuggyIPs/);
    await waitFor('pool status counts only assignable addresses', async () => {
      const st = (await api.getPool('alloc-buggy')).status;
      return st?.assignedIPv4 === '1' && st.availableIPv4 === '0';
    });
  });

  test('avoidBuggyIPs turned on while no controller runs: the next leader moves the Service', async () => {
    const ns = 'alloc-buggy2';
    await api.namespace(ns);
    await pool('alloc-buggy2', ns, { addresses: ['198.51.100.255/32'] });
    await api.service(ns, 'top');
    assert.deepEqual(await api.waitIPs(ns, 'top'), ['198.51.100.255']);
    await replica.stop();
    await api.patchPool('alloc-buggy2', { addresses: ['198.51.100.250/32', '198.51.100.255/32'], avoidBuggyIPs: true });
    replica = startReplica('alloc-2', 'alloc-test');
    await leading(replica);
    await waitFor('top to move to 198.51.100.250', async () => (await api.ips(ns, 'top')).join() === '198.51.100.250');
    assert.match(await api.waitEvent(ns, 'top', 'IPReallocated'), /198\.51\.100\.255 ends in \.0 or \.255/);
  });

  test('--lb-class: a controller told to serve another class allocates for Services of that class; the default one leaves them alone', async () => {
    const ns = 'alloc-lbclass';
    await api.namespace(ns);
    await pool('alloc-lbclass', ns, { addresses: ['203.0.113.232/30'] });
    await api.service(ns, 'theirs', { spec: { loadBalancerClass: 'example.com/was-metallb' } });
    await api.service(ns, 'ours', { spec: { loadBalancerClass: 'baregate.io/lb' }, annotations: { 'baregate.io/loadBalancerIPs': '203.0.113.234' } });
    assert.deepEqual(await api.waitIPs(ns, 'ours'), ['203.0.113.234']);
    const main = replica.current()!;
    await waitFor('the default controller to have seen theirs', () => Promise.resolve(main.services.get(`${ns}/theirs`)));
    await main.idle();
    assert.deepEqual(await api.ips(ns, 'theirs'), [], 'the default controller does not serve another class');
    const { runController } = await import('../../src/cli/controller.ts');
    const other = runController({
      kubeconfig: kubeconfig(), identity: 'lbclass-1', leaseName: 'alloc-lbclass', leaseNamespace: 'baregate-system',
      lbClass: 'example.com/was-metallb', onlyOwnClass: true, leaseDurationSeconds: 3, renewDeadlineMs: 2000, retryPeriodMs: 250,
      onLostLeadership: () => undefined,
    });
    try {
      const ctl = await leading(other);
      assert.deepEqual(await api.waitIPs(ns, 'theirs'), ['203.0.113.232']);
      await ctl.idle();
      assert.deepEqual(await api.ips(ns, 'ours'), ['203.0.113.234'], 'the --lb-class controller leaves the default class alone');
      assert.equal(ctl.allocator.assignedTo(`${ns}/ours`).length, 0);
    } finally {
      await other.stop();
    }
  });
});
