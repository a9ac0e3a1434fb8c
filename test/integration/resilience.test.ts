/**
 * State and availability: restart with allocated Services changes nothing and writes nothing; two
 * replicas never both write; the standby takes over; an apiserver restart under a running controller
 * is survived without intervention.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Api, waitFor } from '../harness/kube.ts';
import { leading, startReplica, type TestReplica } from '../harness/controller.ts';
import { startCluster } from '../harness/cluster.ts';

const api = new Api();
const ns = 'resilience';
const N = 40;
let replicas: TestReplica[] = [];
let haLeader: TestReplica | undefined;

before(async () => {
  await api.namespace(ns);
  await api.namespace(`${ns}-old`);
  await api.pool('resilience', { addresses: ['203.0.113.64/26', '2001:db8:2::/120'], serviceAllocation: { namespaces: [ns, `${ns}-old`] } });
});
after(async () => {
  for (const r of replicas) await r.stop();
  await api.deletePool('resilience');
  api.c.destroy();
});

async function allIPs(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let i = 0; i < N; i++) out.set(`s${i}`, (await api.ips(ns, `s${i}`)).join(','));
  return out;
}

test('restart with allocated Services: zero IP changes, zero writes; the older of two claimants keeps an IP', async () => {
  const first = startReplica('res-a', 'res-restart');
  replicas.push(first);
  await leading(first);
  for (let i = 0; i < N; i++) {
    await api.service(ns, `s${i}`, i % 5 === 0 ? { spec: { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] } } : {});
  }
  for (let i = 0; i < N; i++) await api.waitIPs(ns, `s${i}`, i % 5 === 0 ? 2 : 1);
  const before = await allIPs();
  await first.stop();
  replicas = [];

  // while no controller runs: a younger Service shows an IP an older one holds (e.g. restored from backup)
  const dupIP = before.get('s1')!;
  await api.service(`${ns}-old`, 'younger', {});
  await api.must('PATCH', `/api/v1/namespaces/${ns}-old/services/younger/status`, { status: { loadBalancer: { ingress: [{ ip: dupIP, ipMode: 'VIP' }] } } }, 'application/merge-patch+json');

  const second = startReplica('res-b', 'res-restart');
  replicas.push(second);
  const ctl = await leading(second);
  await waitFor('younger to move off the duplicate IP', async () => {
    const ips = await api.ips(`${ns}-old`, 'younger');
    return ips.length === 1 && ips[0] !== dupIP;
  });
  await ctl.idle();
  assert.deepEqual(await allIPs(), before, 'no address changed');
  assert.equal(ctl.serviceWrites, 2, 'only the duplicate was rewritten (status + annotation)');
  assert.match(await api.waitEvent(`${ns}-old`, 'younger', 'IPReallocated'), /held by another Service/);
  await second.stop(); // every controller watches the whole cluster: one replica set per test
  replicas = [];
});

test('two replicas: only the leader writes; the standby takes over when the leader goes', async () => {
  const a = startReplica('res-1', 'res-ha');
  await leading(a);
  const b = startReplica('res-2', 'res-ha');
  replicas.push(a, b);
  await api.service(ns, 'ha-1');
  await api.waitIPs(ns, 'ha-1');
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(b.current(), undefined, 'standby does not run the controller');
  assert.equal(b.elector.isLeader, false);
  await a.stop(); // releases the lease
  const ctl = await leading(b);
  haLeader = b;
  await api.service(ns, 'ha-2');
  await api.waitIPs(ns, 'ha-2');
  assert.ok(ctl.serviceWrites >= 1, 'the new leader wrote');
});

test('a crashed leader is replaced after its lease expires', async () => {
  const live = haLeader!;
  const standby = startReplica('res-3', 'res-ha');
  replicas.push(standby);
  // simulate a crash: stop renewing without releasing the lease
  live.current()?.stop();
  (live.elector as unknown as { stopped: boolean }).stopped = true;
  const ctl = await leading(standby);
  await api.service(ns, 'ha-3');
  await api.waitIPs(ns, 'ha-3');
  assert.ok(ctl.serviceWrites >= 1);
});

test('apiserver restart under a running controller: it recovers on its own', async () => {
  const c = await startCluster({ crdDir: new URL('../../deploy/crds', import.meta.url).pathname });
  try {
    await c.kubectl(['create', 'namespace', 'baregate-system']);
    await c.kubectl(['create', 'namespace', 'rs']);
    const { runController } = await import('../../src/cli/controller.ts');
    const h = runController({ kubeconfig: c.kubeconfigPath, identity: 'rs', leaseDurationSeconds: 3, renewDeadlineMs: 60_000, retryPeriodMs: 250, onLostLeadership: () => undefined });
    const local = new Api((await import('../../src/k8s/client.ts')).KubeClient.create({ kubeconfig: c.kubeconfigPath }));
    try {
      await leading(h);
      await local.pool('rs', { addresses: ['203.0.113.200/29'] });
      await local.service('rs', 'before');
      await local.waitIPs('rs', 'before');
      await c.restartApiserver({ downMs: 3000 });
      await local.service('rs', 'after');
      assert.equal((await local.waitIPs('rs', 'after', 1, 60_000)).length, 1);
      assert.ok(h.current() !== undefined, 'controller still running');
    } finally {
      await h.stop();
      local.c.destroy();
    }
  } finally {
    await c.stop();
  }
});
