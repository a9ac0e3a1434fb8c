/**
 * Switching a live cluster from MetalLB to baregate with no Service changing its address, on a real apiserver: the
 * procedure the README documents, step by step.
 *
 * MetalLB is played by its CRDs (vendored, test/fixtures/metallb), its objects in metallb-system and a status
 * writer with MetalLB's field manager that gave the Services their addresses (IPv4, IPv6, dual-stack, a shared IP,
 * fixed IPs by both annotation spellings, a pool by name). Then, as a user would:
 *   1. `baregate pause` (before anything of baregate runs), 2. the controller starts (as the bundle would start it),
 *   3. `baregate migrate --from-cluster -o FILE`, 4. FILE applied, 5. MetalLB removed (objects and CRDs deleted),
 *   6. `baregate resume`.
 * What must hold: nothing of baregate writes to a Service before the resume (the audit log says who wrote what), and
 * after it every Service shows exactly the addresses MetalLB gave it; the addresses are held (a new Service asking for
 * one is refused, a new Service gets another), and a controller restart writes nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { ALLOCATED_FROM_POOL, ALLOCATION_PAUSED_ANNOTATION, API_VERSION, Kinds, SYSTEM_NAMESPACE } from '../../src/api/keys.ts';
import { METALLB_GROUP, METALLB_NAMESPACE, MetalLBKinds } from '../../src/api/metallb.ts';
import { runMigrateCommand } from '../../src/cli/migrate.ts';
import { runPauseCommand } from '../../src/cli/pause.ts';
import type { Service } from '../../src/lb/service.ts';
import { leading, replicaUser, startReplica, type TestReplica } from '../harness/controller.ts';
import { Api, audit, kubeconfig, waitFor } from '../harness/kube.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const METALLB_CRDS = join(root, 'test', 'fixtures', 'metallb', 'crds');
const LEASE = 'switch-test';
const NS = 'apps';
const METALLB_MANAGER = 'metallb-controller';

const api = new Api();
const replicas: TestReplica[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'baregate-switch-'));

interface KObj { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec?: unknown; data?: unknown }

/** MetalLB's configuration as a user has it: two pools, an L2 advertisement, a BGP peer and advertisement. */
const metallbObjects: KObj[] = [
  { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'prod', namespace: METALLB_NAMESPACE }, spec: { addresses: ['203.0.113.0/28', '2001:db8:5::/124'] } },
  { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'reserved', namespace: METALLB_NAMESPACE }, spec: { addresses: ['203.0.113.64-203.0.113.79'], autoAssign: false } },
  { apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'l2', namespace: METALLB_NAMESPACE }, spec: { ipAddressPools: ['prod'] } },
  { apiVersion: 'metallb.io/v1beta2', kind: 'BGPPeer', metadata: { name: 'tor', namespace: METALLB_NAMESPACE }, spec: { myASN: 64512, peerASN: 64513, peerAddress: '198.51.100.1' } },
  { apiVersion: 'metallb.io/v1beta1', kind: 'BGPAdvertisement', metadata: { name: 'bgp', namespace: METALLB_NAMESPACE }, spec: { ipAddressPools: ['reserved'] } },
];

/** The Services MetalLB allocated, with the addresses it wrote into their status. */
interface Allocated { name: string; ips: string[]; annotations?: Record<string, string>; spec?: Service['spec']; port?: number }
const allocated: Allocated[] = [
  ...Array.from({ length: 8 }, (_, i): Allocated => ({ name: `web-${String(i)}`, ips: [`203.0.113.${String(i + 1)}`] })),
  { name: 'fixed-old-key', ips: ['203.0.113.9'], annotations: { 'metallb.universe.tf/loadBalancerIPs': '203.0.113.9' } },
  { name: 'fixed-new-key', ips: ['203.0.113.70'], annotations: { 'metallb.io/loadBalancerIPs': '203.0.113.70' } },
  { name: 'by-pool', ips: ['203.0.113.66'], annotations: { 'metallb.universe.tf/address-pool': 'reserved' } },
  { name: 'shared-http', ips: ['203.0.113.12'], annotations: { 'metallb.universe.tf/allow-shared-ip': 'edge' }, port: 80 },
  { name: 'shared-dns', ips: ['203.0.113.12'], annotations: { 'metallb.universe.tf/allow-shared-ip': 'edge' }, port: 53 },
  { name: 'v6', ips: ['2001:db8:5::3'], spec: { ipFamilies: ['IPv6'], ipFamilyPolicy: 'SingleStack' } },
  { name: 'dual', ips: ['203.0.113.13', '2001:db8:5::4'], spec: { ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack' } },
  // older than its neighbour's request: spec.loadBalancerIP, the oldest spelling of all
  { name: 'spec-ip', ips: ['203.0.113.14'], spec: { loadBalancerIP: '203.0.113.14' } },
];

function crdDocuments(): KObj[] {
  const files = readdirSync(METALLB_CRDS).filter((f) => f.endsWith('.yaml')).sort();
  assert.ok(files.length >= 6, `MetalLB's CRDs are vendored in ${METALLB_CRDS} (found ${String(files.length)})`);
  return files.flatMap((f) => parseAllDocuments(readFileSync(join(METALLB_CRDS, f), 'utf8')).map((d) => d.toJS() as KObj).filter((o) => o.kind === 'CustomResourceDefinition'));
}

const pluralOf = (kind: string): string => Object.values(MetalLBKinds).find((k) => k.kind === kind)?.plural ?? '';

/** Creates a MetalLB object (namespaced, the version it names). */
async function createMetalLB(o: KObj): Promise<void> {
  await api.must('POST', `/apis/${o.apiVersion}/namespaces/${METALLB_NAMESPACE}/${pluralOf(o.kind)}`, o);
}

/** Writes what MetalLB's controller writes: the status (field manager metallb-controller). */
async function metallbStatus(name: string, ips: string[]): Promise<void> {
  await api.must('PATCH', `/api/v1/namespaces/${NS}/services/${name}/status?fieldManager=${METALLB_MANAGER}`,
    { status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } } }, 'application/merge-patch+json');
}

/** Writes by baregate's controller replicas to Services (anything but reads), from the audit log. */
function baregateServiceWrites(): string[] {
  return audit().filter((e) => e.user.startsWith(replicaUser('')) && e.resource === 'services' && ['create', 'update', 'patch', 'delete'].includes(e.verb) && e.code < 300)
    .map((e) => `${e.verb} ${e.namespace}/${e.name}${e.subresource ? `/${e.subresource}` : ''}`);
}

async function allIPs(): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const a of allocated) out.set(a.name, await api.ips(NS, a.name));
  return out;
}

async function waitQuiet(ctl: { idle(): Promise<void> }): Promise<void> {
  await ctl.idle();
  // the audit line of a write is written as its response completes: a moment to let the last ones land
  await new Promise((r) => setTimeout(r, 300));
  await ctl.idle();
}

describe('switching a live cluster from MetalLB', () => {
  before(async () => {
    for (const crd of crdDocuments()) await api.must('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    await waitFor('MetalLB CRDs established', async () => {
      const r = await api.c.request<{ resources?: unknown[] }>('GET', `/apis/${METALLB_GROUP}/v1beta1`);
      return r.status === 200 && (r.body.resources?.length ?? 0) > 0;
    });
    await api.namespace(METALLB_NAMESPACE);
    await api.namespace(NS);
    for (const o of metallbObjects) await waitFor(`create ${o.kind} ${o.metadata.name}`, async () => { try { await createMetalLB(o); return true; } catch { return false; } }, 30_000);
    for (const a of allocated) {
      await api.service(NS, a.name, {
        annotations: a.annotations ?? {},
        spec: { type: 'LoadBalancer', ports: [{ name: 'p', port: a.port ?? 80, protocol: a.port === 53 ? 'UDP' : 'TCP' }], selector: { app: a.name.startsWith('shared') ? 'edge' : a.name }, ...a.spec },
      });
      await metallbStatus(a.name, a.ips);
    }
  });

  after(async () => {
    for (const r of replicas.splice(0)) await r.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('pause, install, migrate, import, remove MetalLB, resume: every Service keeps its addresses and nothing was written before the resume', async () => {
    const before = await allIPs();
    for (const a of allocated) assert.deepEqual(before.get(a.name), a.ips, `MetalLB gave ${a.name} its addresses`);

    // 1. pause before anything of baregate runs (the harness made baregate-system; pause creates a namespace that is missing)
    const out: string[] = [];
    assert.equal(await runPauseCommand(true, { kubeconfig: kubeconfig(), namespace: 'baregate-fresh' }, (s) => out.push(s)), 0);
    assert.match(out.join(''), /^created namespace baregate-fresh; allocation paused/);
    out.length = 0;
    assert.equal(await runPauseCommand(true, { kubeconfig: kubeconfig(), namespace: SYSTEM_NAMESPACE }, (s) => out.push(s)), 0);
    assert.match(out.join(''), /^allocation paused \(baregate\.io\/allocation-paused=true on namespace baregate-system\)/);
    const ns = await api.must<{ metadata: { annotations?: Record<string, string> } }>('GET', `/api/v1/namespaces/${SYSTEM_NAMESPACE}`);
    assert.equal(ns.metadata.annotations?.[ALLOCATION_PAUSED_ANNOTATION], 'true');

    // 2. the controller starts (as applying the bundle starts it): no baregate pool exists, every address is foreign
    const r1 = startReplica('switch-1', LEASE);
    replicas.push(r1);
    const ctl = await leading(r1);
    await waitFor('the controller to see the pause', () => Promise.resolve(ctl.paused()));
    await waitQuiet(ctl);
    assert.deepEqual(baregateServiceWrites(), [], 'paused: no write to any Service');

    // 3. migrate from the live cluster
    const objectsFile = join(tmp, 'baregate.yaml');
    const reportFile = join(tmp, 'report.json');
    const code = await runMigrateCommand([], {
      fromCluster: true, kubeconfig: kubeconfig(), output: objectsFile, report: reportFile, reportFormat: 'json', metallbNamespace: METALLB_NAMESPACE,
    });
    assert.equal(code, 0, `migrate exits 0 (report: ${readFileSync(reportFile, 'utf8').slice(0, 2000)})`);
    const converted = parseAllDocuments(readFileSync(objectsFile, 'utf8')).map((d) => d.toJS() as KObj | null).filter((o): o is KObj => o !== null);
    assert.deepEqual(converted.map((o) => `${o.kind}/${o.metadata.name}`).sort(),
      ['BGPAdvertisement/bgp', 'BGPPeer/tor', 'IPAddressPool/prod', 'IPAddressPool/reserved', 'L2Advertisement/l2']);
    for (const o of converted) {
      assert.equal(o.apiVersion, API_VERSION);
      assert.equal(o.metadata.namespace, undefined, `${o.kind}/${o.metadata.name} is cluster-scoped`);
    }

    // 4. the converted objects applied beside the running MetalLB; still paused: the pools come, no Service is touched
    // (and no speaker announces: they announce only Services carrying our pool annotation, which only resume writes)
    const plural = (kind: string): string => Object.values(Kinds).find((k) => k.kind === kind)?.plural ?? '';
    for (const o of converted) await api.must('POST', `/apis/${API_VERSION}/${plural(o.kind)}`, o);
    await waitFor('the controller to see the imported pools', () => Promise.resolve(ctl.poolOf('203.0.113.70') === 'reserved'));
    await waitQuiet(ctl);
    assert.deepEqual(baregateServiceWrites(), [], 'paused: still no write to any Service after the import');
    assert.deepEqual(await allIPs(), before);

    // 5. MetalLB removed: its objects and CRDs go; the Services keep the status it wrote
    for (const o of metallbObjects) await api.c.request('DELETE', `/apis/${o.apiVersion}/namespaces/${METALLB_NAMESPACE}/${pluralOf(o.kind)}/${o.metadata.name}`);
    for (const crd of crdDocuments()) await api.c.request('DELETE', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`);

    // 6. resume: every address adopted, none changed
    assert.equal(await runPauseCommand(false, { kubeconfig: kubeconfig(), namespace: SYSTEM_NAMESPACE }, (s) => out.push(s)), 0);
    await waitFor('every Service to carry the pool annotation (adopted)', async () => {
      for (const a of allocated) if ((await api.getService(NS, a.name)).metadata.annotations?.[ALLOCATED_FROM_POOL] === undefined) return false;
      return true;
    });
    await waitQuiet(ctl);
    assert.deepEqual(await allIPs(), before, 'every Service shows the addresses MetalLB gave it');
    for (const a of allocated) {
      const pool = (await api.getService(NS, a.name)).metadata.annotations?.[ALLOCATED_FROM_POOL];
      // reserved is 203.0.113.64-79; prod the rest
      const inReserved = a.ips.some((ip) => !ip.includes(':') && Number(ip.split('.')[3]) >= 64);
      assert.equal(pool, inReserved ? 'reserved' : 'prod', `${a.name}'s pool`);
    }
    // what baregate wrote: its pool annotation and (MetalLB writes no ipMode) the same addresses with ipMode
    for (const e of audit().filter((x) => x.user.startsWith(replicaUser('')) && x.resource === 'services' && x.subresource === 'status' && x.code < 300)) {
      const ingress = ((e.requestObject as { status?: { loadBalancer?: { ingress?: { ip: string }[] } } } | undefined)?.status?.loadBalancer?.ingress ?? []).map((i) => i.ip);
      if (ingress.length > 0) assert.deepEqual(ingress, before.get(e.name), `baregate's status write to ${e.name} carries its own addresses`);
    }

    // the addresses are held: a Service asking for a taken one is refused, a new one gets a free one
    await api.service(NS, 'wants-taken', { annotations: { 'baregate.io/loadBalancerIPs': '203.0.113.9' } });
    await api.waitEvent(NS, 'wants-taken', 'AllocationFailed', /203\.0\.113\.9/);
    await api.service(NS, 'newcomer');
    const [fresh] = await api.waitIPs(NS, 'newcomer');
    const held = new Set([...before.values()].flat());
    assert.ok(fresh !== undefined && !held.has(fresh), `the new Service got a free address (${fresh ?? ''})`);
  });

  test('a controller restart after the switch writes nothing', async () => {
    const r1 = replicas.pop();
    assert.ok(r1, 'the first test left its replica running');
    await r1.stop();
    const writesBefore = baregateServiceWrites().length;
    const r2 = startReplica('switch-2', LEASE);
    replicas.push(r2);
    const ctl = await leading(r2);
    await waitQuiet(ctl);
    assert.equal(ctl.paused(), false);
    assert.deepEqual(baregateServiceWrites().slice(writesBefore), [], 'the new leader wrote nothing to any Service');
    assert.equal(ctl.allocator.serviceCount, allocated.length + 1, 'and holds every address (the refused Service holds none)');
  });
});
