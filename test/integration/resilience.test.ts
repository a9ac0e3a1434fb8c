/**
 * State and availability: restart with allocated Services changes nothing and writes nothing; two
 * replicas never both write; the standby takes over; a crashed leader is replaced only after its lease
 * expired; an apiserver restart under a running controller is survived without intervention.
 *
 * Who wrote is read from the apiserver's audit log: every replica has its own client certificate
 * (user `replica:<identity>`), so the assertions name the writer. An in-process counter could not: it is
 * incremented only when the writer's continuation runs, which can be after the test already saw the
 * write through another connection (the cause of "the new leader wrote" failing under load).
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import type { AuditEvent } from '../harness/cluster.ts';
import { startCluster } from '../harness/cluster.ts';
import { leading, replicaUser, spawnReplica, startReplica, TEST_LEASE, type ProcessReplica, type TestReplica } from '../harness/controller.ts';
import { Api, audit, serviceWrites, waitFor } from '../harness/kube.ts';

const api = new Api();
const ns = 'resilience';
const N = 40;
let replicas: TestReplica[] = [];
const processes: ProcessReplica[] = [];

before(async () => {
  await api.namespace(ns);
  await api.namespace(`${ns}-old`);
  await api.pool('resilience', { addresses: ['203.0.113.64/26', '2001:db8:2::/120'], serviceAllocation: { namespaces: [ns, `${ns}-old`] } });
});
// every test's replicas end with it, also when it fails: a leftover leader would be a writer in the next test
afterEach(async () => {
  for (const r of replicas) await r.stop();
  replicas = [];
  for (const p of processes) await p.kill();
  processes.length = 0;
});
after(async () => {
  await api.deletePool('resilience');
  api.c.destroy();
});

async function allIPs(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let i = 0; i < N; i++) out.set(`s${i}`, (await api.ips(ns, `s${i}`)).join(','));
  return out;
}

const ok = (e: AuditEvent): boolean => e.code >= 200 && e.code < 300;
/** Everything a replica changed (anything but reads), from audit entry `from` on. */
const changesBy = (identity: string, from = 0): AuditEvent[] => audit().slice(from).filter((e) => e.user === replicaUser(identity) && e.verb !== 'get' && e.verb !== 'list' && e.verb !== 'watch');
const what = (e: AuditEvent): string => `${e.verb} ${e.resource}${e.subresource ? `/${e.subresource}` : ''} ${e.namespace}/${e.name}`;
/** Waits until `identity` has written the Service's status, then returns every user that wrote to the Service. */
async function writersOnceWritten(svcNs: string, name: string, identity: string): Promise<string[]> {
  await waitFor(`${identity} to write ${svcNs}/${name}`, () => Promise.resolve(serviceWrites(svcNs, name).some((e) => e.user === replicaUser(identity) && e.subresource === 'status')));
  return [...new Set(serviceWrites(svcNs, name).map((e) => e.user))];
}

interface LeaseBody { spec?: { holderIdentity?: string; renewTime?: string; acquireTime?: string; leaseTransitions?: number } }
/** Successful writes of one Lease, oldest first, with their bodies. */
const leaseWrites = (name: string): (AuditEvent & { body: LeaseBody })[] =>
  audit().filter((e) => e.resource === 'leases' && e.name === name && (e.verb === 'update' || e.verb === 'create') && ok(e)).map((e) => ({ ...e, body: e.requestObject as LeaseBody }));
const micro = (t: string | undefined): number => Date.parse((t ?? '').replace(/\.(\d{3})\d*Z$/, '.$1Z'));

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

  // while no controller runs: a younger Service shows an IP an older one holds (e.g. restored from backup).
  // creationTimestamp has whole seconds: "younger" must be created in a later second than s1, or the two
  // are equally old and the tie is broken by name (which the test does not mean to exercise)
  const s1Created = Date.parse((await api.getService(ns, 's1')).metadata.creationTimestamp ?? '');
  await waitFor('a new second after s1 was created', () => Promise.resolve(Date.now() >= s1Created + 1000));
  const dupIP = before.get('s1')!;
  await api.service(`${ns}-old`, 'younger', {});
  await api.must('PATCH', `/api/v1/namespaces/${ns}-old/services/younger/status`, { status: { loadBalancer: { ingress: [{ ip: dupIP, ipMode: 'VIP' }] } } }, 'application/merge-patch+json');

  const mark = audit().length;
  const second = startReplica('res-b', 'res-restart');
  replicas.push(second);
  const ctl = await leading(second);
  await waitFor('younger to move off the duplicate IP', async () => {
    const ips = await api.ips(`${ns}-old`, 'younger');
    return ips.length === 1 && ips[0] !== dupIP;
  });
  await ctl.idle();
  assert.deepEqual(await allIPs(), before, 'no address changed');
  assert.match(await api.waitEvent(`${ns}-old`, 'younger', 'IPReallocated'), /held by another Service/);
  // every Service write the restarted replica made, as the apiserver saw them: only the duplicate's (status + annotation)
  await waitFor('the annotation write to be audited', () => Promise.resolve(changesBy('res-b', mark).some((e) => e.resource === 'services' && e.subresource === '')));
  assert.deepEqual(changesBy('res-b', mark).filter((e) => e.resource === 'services').map(what).sort(),
    [`patch services ${ns}-old/younger`, `patch services/status ${ns}-old/younger`]);
  // its events too: one, about the moved Service (events are posted in the background: wait for it to be audited)
  await waitFor('the event write to be audited', () => Promise.resolve(changesBy('res-b', mark).some((e) => e.resource === 'events')));
  assert.deepEqual(changesBy('res-b', mark).filter((e) => e.resource === 'events').map((e) => `${e.verb} ${e.namespace}/${e.name.replace(/\.[0-9a-f]+$/, '')}`),
    [`create ${ns}-old/younger`], 'the only event is about the Service that moved');
  await second.stop();
  replicas = [];
});

test('two replicas: only the leader writes; the standby takes over when the leader goes', async () => {
  const a = startReplica('res-1', 'res-ha');
  replicas.push(a);
  await leading(a);
  const mark = audit().length;
  const b = startReplica('res-2', 'res-ha');
  replicas.push(b);
  await api.service(ns, 'ha-1');
  await api.waitIPs(ns, 'ha-1');
  assert.deepEqual(await writersOnceWritten(ns, 'ha-1', 'res-1'), [replicaUser('res-1')], 'the leader wrote ha-1, nobody else');
  // the standby has campaigned for several retry periods (its Lease reads are audited) and changed nothing
  await waitFor('the standby to campaign', () => Promise.resolve(audit().slice(mark).filter((e) => e.user === replicaUser('res-2') && e.resource === 'leases' && e.verb === 'get').length >= 6));
  assert.equal(b.current(), undefined, 'standby does not run the controller');
  assert.equal(b.elector.isLeader, false);
  assert.deepEqual(changesBy('res-2', mark).map(what), [], 'the standby wrote nothing at all, not even the Lease');

  await a.stop(); // releases the lease
  const stopped = audit().length;
  const ctl = await leading(b);
  await api.service(ns, 'ha-2');
  await api.waitIPs(ns, 'ha-2');
  assert.deepEqual(await writersOnceWritten(ns, 'ha-2', 'res-2'), [replicaUser('res-2')], 'the new leader wrote ha-2, nobody else');
  await ctl.idle();
  assert.deepEqual(changesBy('res-1', stopped).map(what), [], 'the stopped leader wrote nothing after stop()');
  const release = leaseWrites('res-ha').find((e) => e.user === replicaUser('res-1') && e.body.spec?.holderIdentity === '');
  assert.ok(release, 'the old leader released the Lease');
  const takeover = leaseWrites('res-ha').find((e) => e.user === replicaUser('res-2'));
  assert.ok(takeover && takeover.receivedAt >= release.receivedAt, 'the standby acquired after the release');
  assert.deepEqual({ a: a.lost, b: b.lost }, { a: 0, b: 0 }, 'no replica lost leadership on the way');
  await b.stop();
  replicas = [];
});

test('a crashed leader is replaced only after its lease expired', async () => {
  const lease = 'res-crash';
  const crashing = spawnReplica('res-3', lease); // its own process: the crash is a real SIGKILL
  processes.push(crashing);
  await crashing.leading;
  const mark = audit().length;
  const standby = startReplica('res-4', lease);
  replicas.push(standby);
  await api.service(ns, 'ha-3');
  await api.waitIPs(ns, 'ha-3');
  assert.deepEqual(await writersOnceWritten(ns, 'ha-3', 'res-3'), [replicaUser('res-3')], 'the leader process wrote ha-3');
  await waitFor('the standby to campaign', () => Promise.resolve(audit().slice(mark).filter((e) => e.user === replicaUser('res-4') && e.resource === 'leases' && e.verb === 'get').length >= 4));
  assert.equal(standby.current(), undefined);

  await crashing.kill();
  const crashed = audit().length;
  await leading(standby);
  await api.service(ns, 'ha-4');
  await api.waitIPs(ns, 'ha-4');
  assert.deepEqual(await writersOnceWritten(ns, 'ha-4', 'res-4'), [replicaUser('res-4')], 'the standby wrote ha-4');
  assert.deepEqual(changesBy('res-3', crashed).map(what), [], 'nothing from the dead process');

  // the standby waited for expiry: its acquisition is at least leaseDuration after the dead leader's last renewal
  const writes = leaseWrites(lease);
  const takeoverIdx = writes.findIndex((e) => e.user === replicaUser('res-4'));
  assert.ok(takeoverIdx > 0, 'the standby took the lease over');
  const takeover = writes[takeoverIdx]!;
  const last = writes.slice(0, takeoverIdx).filter((e) => e.user === replicaUser('res-3')).at(-1)!;
  const lastSpec = last.body.spec ?? {};
  const takeSpec = takeover.body.spec ?? {};
  assert.equal(lastSpec.holderIdentity, 'res-3', 'the dead leader never released the lease');
  assert.ok(writes.slice(0, takeoverIdx).every((e) => e.user === replicaUser('res-3')), 'no one else wrote the lease in between');
  const waited = micro(takeSpec.acquireTime) - micro(lastSpec.renewTime);
  assert.ok(waited >= TEST_LEASE.leaseDurationSeconds * 1000,
    `acquired ${waited} ms after the last renewal (${lastSpec.renewTime ?? ''} -> ${takeSpec.acquireTime ?? ''}); the lease lasts ${TEST_LEASE.leaseDurationSeconds} s`);
  assert.equal(takeSpec.leaseTransitions, (lastSpec.leaseTransitions ?? 0) + 1);
  await standby.stop();
  replicas = [];
});

test('apiserver restart under a running controller: it recovers on its own', async () => {
  const c = await startCluster({ crdDir: new URL('../../deploy/crds', import.meta.url).pathname });
  try {
    await c.kubectl(['create', 'namespace', 'baregate-system']);
    await c.kubectl(['create', 'namespace', 'rs']);
    const { runController } = await import('../../src/cli/controller.ts');
    // the lease outlasts the outage, so leadership is kept across it (a shorter one would hand over, correctly)
    let lost = 0;
    const h = runController({ kubeconfig: c.kubeconfigPath, identity: 'rs', leaseDurationSeconds: 60, renewDeadlineMs: 40_000, retryPeriodMs: 250, onLostLeadership: () => { lost++; } });
    const local = new Api((await import('../../src/k8s/client.ts')).KubeClient.create({ kubeconfig: c.kubeconfigPath }));
    try {
      const ctl = await leading(h);
      await local.pool('rs', { addresses: ['203.0.113.200/29'] });
      await local.service('rs', 'before');
      await local.waitIPs('rs', 'before');
      await c.restartApiserver({ downMs: 3000 });
      await local.service('rs', 'after');
      assert.equal((await local.waitIPs('rs', 'after', 1, 60_000)).length, 1);
      assert.equal(h.current(), ctl, 'the same controller still running');
      assert.equal(lost, 0);
    } finally {
      await h.stop();
      local.c.destroy();
    }
  } finally {
    await c.stop();
  }
});
