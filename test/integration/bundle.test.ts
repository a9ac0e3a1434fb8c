/**
 * The install bundle against a real apiserver: `kubectl apply --server-side` of deploy/baregate.yaml (dry run,
 * then for real, over the CRDs and namespace the harness created), an upgrade from an older bundle that keeps
 * stored objects, `kubectl apply -k deploy/` giving the same objects, re-applying being a no-op, the README's
 * configs accepted and invalid objects rejected with their messages; then the controller and a speaker run
 * in-process with tokens of exactly the bundle's ServiceAccounts (TokenRequest API) and work, while the
 * speaker's token can read no Secret outside baregate-system and write no Service.
 *
 * No kubelet or controller-manager runs: the Deployment and DaemonSet are stored objects, never Pods, and the
 * webhook Service has no endpoints. The controller therefore runs in this process, as the bundle's
 * ServiceAccount, with its webhook server on loopback; the bundle's two webhook configurations are pointed at
 * it (clientConfig.url instead of the Service) and the controller patches their caBundle itself, so every
 * config object created after that passes the real validating webhook (failurePolicy Fail).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { bundleObjects, renderBundle } from '../../src/api/bundle.ts';
import { allCRDs } from '../../src/api/render.ts';
import {
  CONTROLLER_LEASE, CONTROLLER_SERVICE_ACCOUNT, HEARTBEAT_SECRET, HEARTBEAT_SECRET_KEY, MUTATING_WEBHOOK, SPEAKER_LEASE_PREFIX, SPEAKER_SERVICE_ACCOUNT,
  SYSTEM_NAMESPACE, VALIDATING_WEBHOOK, WEBHOOK_CERT_SECRET,
} from '../../src/api/keys.ts';
import { runController, type ControllerHandle } from '../../src/cli/controller.ts';
import { startSpeaker, type SpeakerHandle } from '../../src/cli/speaker.ts';
import { KubeClient } from '../../src/k8s/client.ts';
import { k8sBinDir, type AuditEvent, type RunResult } from '../harness/cluster.ts';
import { Api, audit, dataDir, kubeconfig, waitFor } from '../harness/kube.ts';
import { FakeBgp, FakeLink, inertDataPlane } from '../harness/speakerfakes.ts';
import { serviceAccountKubeconfig, serviceAccountUser } from '../harness/tokens.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const BUNDLE = join(root, 'deploy', 'baregate.yaml');
const G = '/apis/baregate.io/v1beta1';
const ADM = '/apis/admissionregistration.k8s.io/v1';
const WEBHOOK_CONFIGS = [['validatingwebhookconfigurations', VALIDATING_WEBHOOK], ['mutatingwebhookconfigurations', MUTATING_WEBHOOK]] as const;
const api = new Api();
let bin = '';

interface Meta { name: string; namespace?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string> }
interface KObj { apiVersion: string; kind: string; metadata: Meta; [field: string]: unknown }

/** Runs kubectl (as admin unless `kc` names another kubeconfig); never throws on a non-zero exit. */
function kubectl(args: string[], stdin?: string, kc: string = kubeconfig()): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(bin, 'kubectl'), ['--kubeconfig', kc, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, KUBECACHEDIR: join(dataDir(), 'kube-cache-bundle') } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => undefined);
    child.on('error', reject);
    child.on('close', (code) => { resolve({ stdout, stderr, code: code ?? 1 }); });
    child.stdin.end(stdin ?? '');
  });
}

async function mustKubectl(args: string[], stdin?: string): Promise<string> {
  const r = await kubectl(args, stdin);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** The stored version of every object in `objs` (by kind and name), via one `kubectl get -f`. */
async function stored(text: string): Promise<KObj[]> {
  const out = await mustKubectl(['get', '-f', '-', '-o', 'json'], text);
  const parsed = JSON.parse(out) as { kind: string; items?: KObj[] } & KObj;
  return parsed.kind === 'List' ? parsed.items ?? [] : [parsed];
}

const key = (o: { kind: string; metadata: Meta }): string => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const versions = (objs: KObj[]): Record<string, string> => Object.fromEntries(objs.map((o) => [key(o), o.metadata.resourceVersion ?? '']));

interface Workload { spec: { replicas?: number; template: { spec: { containers: { image: string; args: string[] }[] } } } }

before(async () => {
  bin = await k8sBinDir();
});

after(() => { api.c.destroy(); });

test('server-side dry run of deploy/baregate.yaml succeeds and stores nothing', async () => {
  await mustKubectl(['apply', '--server-side', '--dry-run=server', '-f', BUNDLE]);
  const r = await kubectl(['get', '-n', SYSTEM_NAMESPACE, 'deployment/baregate-controller', 'daemonset/baregate-speaker']);
  assert.notEqual(r.code, 0, 'a dry run creates nothing');
  assert.match(r.stderr, /NotFound|not found/);
});

test('upgrade: an older bundle, one object of each kind, then deploy/baregate.yaml: the objects survive, the Deployment runs the new image', async () => {
  // the "older" release: another image, one controller replica, no webhooks yet
  const older = renderBundle({ image: { tag: '0.0.1-old' }, controller: { replicas: 1 }, webhooks: { enabled: false } });
  await mustKubectl(['apply', '--server-side', '-f', '-'], older);
  await mustKubectl(['wait', '--for=condition=Established', 'crd', '-l', 'app.kubernetes.io/part-of=baregate', '--timeout=60s']);
  const old = await api.must<Workload>('GET', `/apis/apps/v1/namespaces/${SYSTEM_NAMESPACE}/deployments/baregate-controller`);
  assert.match(old.spec.template.spec.containers[0]?.image ?? '', /:0\.0\.1-old$/);
  assert.equal(old.spec.replicas, 1);

  const objs: [string, Record<string, unknown>][] = [
    ['ipaddresspools', { kind: 'IPAddressPool', metadata: { name: 'upgrade' }, spec: { addresses: ['198.51.100.0/28'] } }],
    ['l2advertisements', { kind: 'L2Advertisement', metadata: { name: 'upgrade' }, spec: { ipAddressPools: ['upgrade'] } }],
    ['bgpadvertisements', { kind: 'BGPAdvertisement', metadata: { name: 'upgrade' }, spec: { ipAddressPools: ['upgrade'], communities: ['64500:1'] } }],
    ['bgppeers', { kind: 'BGPPeer', metadata: { name: 'upgrade' }, spec: { myASN: 64500, peerASN: 64501, peerAddress: '198.51.100.254' } }],
    ['speakerstatuses', { kind: 'SpeakerStatus', metadata: { name: 'upgrade-node' } }],
  ];
  const uids = new Map<string, string>();
  for (const [plural, body] of objs) {
    const o = await api.must<KObj>('POST', `${G}/${plural}`, { apiVersion: 'baregate.io/v1beta1', ...body });
    uids.set(plural, o.metadata.uid ?? '');
  }

  await mustKubectl(['apply', '--server-side', '-f', BUNDLE]);
  await mustKubectl(['wait', '--for=condition=Established', 'crd', '-l', 'app.kubernetes.io/part-of=baregate', '--timeout=60s']);
  for (const [plural, body] of objs) {
    const name = (body.metadata as Meta).name;
    const o = await api.must<KObj & { spec?: unknown }>('GET', `${G}/${plural}/${name}`);
    assert.equal(o.metadata.uid, uids.get(plural), `${plural}/${name} is the same object after the upgrade`);
    for (const [k, v] of Object.entries((body.spec ?? {}) as Record<string, unknown>)) {
      assert.deepEqual((o.spec as Record<string, unknown>)[k], v, `${plural}/${name} keeps spec.${k}`);
    }
  }
  const cur = bundleObjects();
  const want = cur.find((o) => o.kind === 'Deployment') as unknown as Workload;
  const now = await api.must<Workload>('GET', `/apis/apps/v1/namespaces/${SYSTEM_NAMESPACE}/deployments/baregate-controller`);
  assert.equal(now.spec.template.spec.containers[0]?.image, want.spec.template.spec.containers[0]?.image, 'the new image');
  assert.deepEqual(now.spec.template.spec.containers[0]?.args, want.spec.template.spec.containers[0]?.args, 'the new arguments (webhooks on)');
  assert.equal(now.spec.replicas, 2);
  // everything of the current bundle exists now, also what the old one did not have
  const have = await stored(readFileSync(BUNDLE, 'utf8'));
  assert.deepEqual(have.map(key).sort(), cur.map((o) => key(o as KObj)).sort());
  assert.ok(have.some((o) => o.kind === 'PodDisruptionBudget') && have.some((o) => o.kind === 'ValidatingWebhookConfiguration'));
});

test('re-applying deploy/baregate.yaml and applying deploy/ with kustomize change nothing: the same objects, the same resourceVersions', async () => {
  const text = readFileSync(BUNDLE, 'utf8');
  const before = versions(await stored(text));
  await mustKubectl(['apply', '--server-side', '-f', BUNDLE]);
  assert.deepEqual(versions(await stored(text)), before, 're-applying the file is a no-op');
  // kustomize renders the same objects (comments aside) ...
  const rendered = await mustKubectl(['kustomize', join(root, 'deploy')]);
  const objs = parseAllDocuments(rendered).map((d) => d.toJS() as KObj);
  const sortByKey = (l: KObj[]): KObj[] => [...l].sort((a, b) => key(a).localeCompare(key(b)));
  assert.deepEqual(sortByKey(objs), sortByKey(bundleObjects() as KObj[]), 'kubectl kustomize deploy/ renders exactly the bundle');
  // ... and applying them writes nothing
  const out = await mustKubectl(['apply', '--server-side', '-k', join(root, 'deploy')]);
  assert.match(out, /serverside-applied/);
  assert.deepEqual(versions(await stored(text)), before, 'apply -k is a no-op after apply -f');
});

test('the stored bundle objects carry the labels; CRDs are Established and served at v1beta1', async () => {
  const have = await stored(readFileSync(BUNDLE, 'utf8'));
  for (const o of have) assert.equal(o.metadata.labels?.['app.kubernetes.io/part-of'], 'baregate', key(o));
  const crds = have.filter((o) => o.kind === 'CustomResourceDefinition') as (KObj & { status: { conditions: { type: string; status: string }[] }; spec: { versions: { name: string; served: boolean; storage: boolean }[] } })[];
  assert.equal(crds.length, Object.keys(allCRDs()).length, 'every CRD of src/api');
  for (const c of crds) {
    assert.ok(c.status.conditions.some((x) => x.type === 'Established' && x.status === 'True'), `${c.metadata.name} Established`);
    assert.deepEqual(c.spec.versions.map((v) => [v.name, v.served, v.storage]), [['v1beta1', true, true]]);
  }
  const ns = have.find((o) => o.kind === 'Namespace');
  assert.equal(ns?.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
});

// ───────────── RBAC with the bundle's ServiceAccounts

const CONTROLLER_USER = serviceAccountUser(SYSTEM_NAMESPACE, CONTROLLER_SERVICE_ACCOUNT);
const SPEAKER_USER = serviceAccountUser(SYSTEM_NAMESPACE, SPEAKER_SERVICE_ACCOUNT);
const NS = 'bundle-rbac';
const NODE = 'bundle-node';
let controller: ControllerHandle | undefined;
let speaker: SpeakerHandle | undefined;

after(async () => {
  await speaker?.stop();
  await controller?.stop();
});

const denied = (user: string): AuditEvent[] => audit().filter((e) => e.user === user && e.code === 403);
const fmt = (l: AuditEvent[]): string[] => l.map((e) => `${e.verb} ${e.resource}${e.subresource ? `/${e.subresource}` : ''} ${e.namespace}/${e.name}`);

test('the controller with the bundle ServiceAccount\'s token: creates the heartbeat key and webhook certificate, patches the caBundle, its webhook admits and refuses, a Service gets its IP and status; no request is denied', async () => {
  const kc = serviceAccountKubeconfig({ dataDir: dataDir(), binDir: bin }, SYSTEM_NAMESPACE, CONTROLLER_SERVICE_ACCOUNT);
  await api.namespace(NS);
  // as `baregate controller` runs it (heartbeat key, self-managed webhook TLS), but the webhook server on loopback
  controller = runController({
    kubeconfig: kc, identity: 'bundle-rbac', leaseDurationSeconds: 8, renewDeadlineMs: 5000, retryPeriodMs: 500, onLostLeadership: () => undefined,
    namespace: SYSTEM_NAMESPACE, heartbeatSecret: true, webhook: { port: 0, host: '127.0.0.1', extraSans: ['127.0.0.1'], pollMs: 500, certMode: 'self' },
  });
  assert.ok(controller.webhook);
  await controller.webhook.listening;
  const port = controller.webhook.server.port();
  // the bundle's configurations, pointed at this process instead of the (endpoint-less) webhook Service
  for (const [res, name] of WEBHOOK_CONFIGS) {
    const c = await api.must<{ webhooks: { clientConfig: { service: { path: string } } }[] }>('GET', `${ADM}/${res}/${name}`);
    const ops = c.webhooks.flatMap((w, i) => [
      { op: 'remove', path: `/webhooks/${i}/clientConfig/service` },
      { op: 'add', path: `/webhooks/${i}/clientConfig/url`, value: `https://127.0.0.1:${port}${w.clientConfig.service.path}` },
    ]);
    await api.must('PATCH', `${ADM}/${res}/${name}`, ops, 'application/json-patch+json');
  }
  await waitFor('the controller to create the webhook certificate and patch its CA into every webhook', async () => {
    const secret = await api.c.request<{ data?: Record<string, string> }>('GET', `/api/v1/namespaces/${SYSTEM_NAMESPACE}/secrets/${WEBHOOK_CERT_SECRET}`);
    const ca = secret.status === 200 ? secret.body.data?.['ca.crt'] : undefined;
    if (ca === undefined) return false;
    for (const [res, name] of WEBHOOK_CONFIGS) {
      const c = await api.must<{ webhooks: { clientConfig: { caBundle?: string } }[] }>('GET', `${ADM}/${res}/${name}`);
      if (!c.webhooks.every((w) => w.clientConfig.caBundle === ca)) return false;
    }
    return true;
  }, 60_000);
  const hb = await waitFor('the controller to create the heartbeat key', async () => {
    const r = await api.c.request<{ data?: Record<string, string> }>('GET', `/api/v1/namespaces/${SYSTEM_NAMESPACE}/secrets/${HEARTBEAT_SECRET}`);
    return r.status === 200 ? r.body.data?.[HEARTBEAT_SECRET_KEY] : undefined;
  }, 60_000);
  assert.ok(Buffer.from(hb, 'base64').length >= 16);
  // through the validating webhook (failurePolicy Fail): the controller's token reads what the webhook validates against
  await waitFor('the webhook to admit a pool', async () => (await api.c.request('POST', `${G}/ipaddresspools`, { apiVersion: 'baregate.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'rbac' }, spec: { addresses: ['203.0.113.0/28'] } })).status === 201, 60_000);
  await api.must('POST', `${G}/l2advertisements`, { apiVersion: 'baregate.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'rbac' }, spec: { ipAddressPools: ['rbac'] } });
  const refused = await api.c.request<{ message?: string }>('POST', `${G}/ipaddresspools`, { apiVersion: 'baregate.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'reversed-v6' }, spec: { addresses: ['2001:db8:ff::9-2001:db8:ff::1'] } });
  assert.equal(refused.status, 422);
  assert.match(refused.body.message ?? '', /admission webhook "validate\.baregate\.io" denied the request: .*range is reversed/);
  // every informer listed and watches: a list the token may not make would never sync (lists are not in the audit log)
  const ctl = await waitFor('the controller to lead', () => Promise.resolve(controller?.current()), 60_000);
  const sources = [ctl.services, ctl.pools, ctl.namespaces, ...(ctl.announce ? [ctl.announce.l2Advertisements, ctl.announce.bgpAdvertisements, ctl.announce.bgpPeers] : [])];
  assert.equal(sources.length, 6);
  let synced = 0;
  for (const x of sources) void x.synced.then(() => { synced++; });
  await waitFor('every controller informer synced', () => Promise.resolve(synced === sources.length), 60_000);
  await api.service(NS, 'web', { annotations: { 'baregate.io/address-pool': 'rbac' } });
  const [ip] = await api.waitIPs(NS, 'web', 1, 60_000);
  assert.match(ip ?? '', /^203\.0\.113\./);
  // status and the annotation are two writes: the annotation may land just after the IP is visible
  const pool = await waitFor('the ip-allocated-from-pool annotation', async () => (await api.getService(NS, 'web')).metadata.annotations?.['baregate.io/ip-allocated-from-pool'], 30_000);
  assert.equal(pool, 'rbac');
  await api.waitEvent(NS, 'web', 'IPAllocated');
  await waitFor('pool status written by the controller', () => Promise.resolve(audit().some((e) => e.user === CONTROLLER_USER && e.resource === 'ipaddresspools' && e.subresource === 'status' && e.code === 200)));
  const mine = audit().filter((e) => e.user === CONTROLLER_USER);
  const writes = new Set(mine.filter((e) => e.code < 300).map((e) => `${e.verb} ${e.resource}${e.subresource ? `/${e.subresource}` : ''}`));
  console.log(`# controller requests seen in the audit log: ${[...writes].sort().join(', ')}`);
  for (const w of ['patch services/status', 'patch services', 'create events', 'update leases']) assert.ok(writes.has(w), `the controller did ${w}`);
  assert.ok(mine.some((e) => e.resource === 'leases' && e.name === CONTROLLER_LEASE && e.namespace === SYSTEM_NAMESPACE), 'its Lease in baregate-system');
  assert.deepEqual(controller.health(), { ok: true }, 'healthy: every cache follows the cluster');
  assert.deepEqual(fmt(denied(CONTROLLER_USER)), [], 'no 403 for the controller');
});

/** The config documents in README.md's YAML blocks: ours as they are, MetalLB's converted (apiVersion, no namespace). */
function readmeConfigs(): KObj[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/^```ya?ml\n([\s\S]*?)^```/gm)].map((m) => m[1] ?? '');
  const out: KObj[] = [];
  for (const b of blocks) {
    for (const d of parseAllDocuments(b)) {
      const o = d.toJS() as KObj | null;
      if (o === null || typeof o !== 'object' || typeof o.apiVersion !== 'string') continue;
      if (o.apiVersion === 'baregate.io/v1beta1') out.push(o);
      else if (/^metallb\.io\//.test(o.apiVersion)) {
        const m: Meta = { ...o.metadata };
        delete m.namespace;
        out.push({ ...o, apiVersion: 'baregate.io/v1beta1', metadata: m });
      }
    }
  }
  return out;
}

test('every baregate.io (and converted MetalLB) config in README.md is accepted by the apiserver and the validating webhook', async () => {
  const configs = readmeConfigs();
  console.log(`# README configs: ${configs.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  assert.ok(configs.length > 0, 'README.md holds no baregate.io YAML: the extraction matches nothing');
  for (const o of configs) {
    await mustKubectl(['apply', '--server-side', '--field-manager=readme-test', '-f', '-'], JSON.stringify(o));
  }
  for (const o of configs) {
    const r = await kubectl(['get', `${o.kind.toLowerCase()}.baregate.io/${o.metadata.name}`, '-o', 'name']);
    assert.equal(r.code, 0, `${o.kind}/${o.metadata.name} stored`);
  }
});

test('invalid objects are rejected by the schema and CEL rules with the message a user can act on', async () => {
  const pool = (name: string, spec: Record<string, unknown>): string => JSON.stringify({ apiVersion: 'baregate.io/v1beta1', kind: 'IPAddressPool', metadata: { name }, spec });
  const cases: [string, string, RegExp][] = [
    ['bad CIDR', pool('bad-cidr', { addresses: ['192.0.2.0/33'] }), /must be a CIDR \(192\.0\.2\.0\/24\), a range/],
    ['reversed IPv4 range', pool('reversed', { addresses: ['192.0.2.20-192.0.2.10'] }), /range is reversed/],
    ['mixed-family range', pool('mixed', { addresses: ['192.0.2.1-2001:db8::1'] }), /same IP family/],
    ['unknown field', pool('unknown', { addresses: ['192.0.2.0/28'], bogus: true }), /unknown field "spec\.bogus"/],
    ['peer with both ASN kinds', JSON.stringify({ apiVersion: 'baregate.io/v1beta1', kind: 'BGPPeer', metadata: { name: 'two-asns' }, spec: { myASN: 64500, peerASN: 64501, dynamicASN: 'external', peerAddress: '192.0.2.1' } }), /set exactly one of peerASN and dynamicASN/],
    ['peer with a VRF', JSON.stringify({ apiVersion: 'baregate.io/v1beta1', kind: 'BGPPeer', metadata: { name: 'vrf' }, spec: { myASN: 64500, peerASN: 64501, peerAddress: '192.0.2.1', vrf: 'red' } }), /VRFs are not supported/],
  ];
  for (const [what, body, msg] of cases) {
    const r = await kubectl(['create', '-f', '-'], body);
    assert.notEqual(r.code, 0, `${what}: rejected`);
    assert.match(r.stderr, msg, `${what}: ${r.stderr}`);
  }
});

test('a speaker with the bundle ServiceAccount\'s token syncs, writes its Lease and SpeakerStatus, deletes the Lease at stop; no request is denied', async () => {
  const kc = serviceAccountKubeconfig({ dataDir: dataDir(), binDir: bin }, SYSTEM_NAMESPACE, SPEAKER_SERVICE_ACCOUNT);
  await api.must('POST', '/api/v1/nodes', { metadata: { name: NODE, labels: { 'kubernetes.io/hostname': NODE } } });
  await api.must('PATCH', `/api/v1/nodes/${NODE}/status`, { status: { addresses: [{ type: 'InternalIP', address: '203.0.113.100' }], conditions: [{ type: 'Ready', status: 'True', reason: 'Test', message: 'test', lastHeartbeatTime: new Date().toISOString(), lastTransitionTime: new Date().toISOString() }] } }, 'application/merge-patch+json');
  // the heartbeat key Secret is the one the controller created
  const [ip] = await api.waitIPs(NS, 'web', 1);
  const link = new FakeLink('02:00:00:00:00:0b');
  speaker = await startSpeaker({
    nodeName: NODE, kubeconfig: kc, metricsPort: 0, metricsHost: '127.0.0.1', heartbeatPort: 0,
    heartbeatIntervalMs: 100, heartbeatTimeoutMs: 350, leaseDuration: 3, bgpPort: 0, logLevel: 'warn',
  }, {
    openLink: () => link,
    bgp: () => new FakeBgp(),
    ...inertDataPlane(),
    interfaces: () => [{ name: 'eth0', mac: '02:00:00:00:00:0b', addresses: [{ address: '203.0.113.100', cidr: '203.0.113.100/24', family: 'IPv4' }] }],
  });
  await speaker.started;
  const st = await waitFor('the SpeakerStatus announcing the Service IP', async () => {
    const r = await api.c.request<{ status?: { announcements?: { ip: string }[]; conditions?: { type: string; status: string }[] } }>('GET', `${G}/speakerstatuses/${NODE}`);
    return r.status === 200 && r.body.status?.announcements?.some((a) => a.ip === ip) ? r.body.status : undefined;
  }, 60_000);
  assert.deepEqual(st.conditions?.filter((c) => c.status !== 'True').map((c) => c.type), [], 'ConfigValid, HeartbeatKey (the Secret was readable), ApiReachable');
  assert.ok(link.owned.has(ip ?? ''), 'the link answers the IP');
  const lease = await api.c.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases/${SPEAKER_LEASE_PREFIX}${NODE}`);
  assert.equal(lease.status, 200, 'its Lease exists');
  assert.equal(speaker.daemon.readiness().ok, true, 'synced and Lease renewed');
  await speaker.stop();
  speaker = undefined;
  const gone = await api.c.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases/${SPEAKER_LEASE_PREFIX}${NODE}`);
  assert.equal(gone.status, 404, 'the Lease was deleted at stop');
  const mine = audit().filter((e) => e.user === SPEAKER_USER);
  const writes = new Set(mine.filter((e) => e.code < 300 && e.verb !== 'get').map((e) => `${e.verb} ${e.resource}${e.subresource ? `/${e.subresource}` : ''}`));
  console.log(`# speaker writes seen in the audit log: ${[...writes].sort().join(', ')}`);
  for (const w of ['create leases', 'update leases', 'delete leases', 'patch speakerstatuses/status']) assert.ok(writes.has(w), `the speaker did ${w}`);
  assert.ok(![...writes].some((w) => w.includes('services')), 'the speaker wrote no Service');
  assert.deepEqual(fmt(denied(SPEAKER_USER)), [], 'no 403 for the speaker');
});

test('the speaker\'s token cannot read Secrets outside baregate-system nor write Services; access reviews agree', async () => {
  const kc = serviceAccountKubeconfig({ dataDir: dataDir(), binDir: bin }, SYSTEM_NAMESPACE, SPEAKER_SERVICE_ACCOUNT);
  await api.must('POST', '/api/v1/namespaces/default/secrets', { metadata: { name: 'not-for-speakers' }, stringData: { k: 'v' } });
  const c = KubeClient.create({ kubeconfig: kc });
  try {
    const svc = `/api/v1/namespaces/${NS}/services/web`;
    const tries: [string, string, string, unknown?, string?][] = [
      ['get a Secret in default', 'GET', '/api/v1/namespaces/default/secrets/not-for-speakers'],
      ['list Secrets in default', 'GET', '/api/v1/namespaces/default/secrets'],
      ['list Secrets cluster-wide', 'GET', '/api/v1/secrets'],
      ['get a Secret by name in baregate-system (list/watch only)', 'GET', `/api/v1/namespaces/${SYSTEM_NAMESPACE}/secrets/${HEARTBEAT_SECRET}`],
      ['patch a Service', 'PATCH', svc, { metadata: { labels: { hacked: 'yes' } } }, 'application/merge-patch+json'],
      ['patch a Service status', 'PATCH', `${svc}/status`, { status: { loadBalancer: { ingress: [{ ip: '203.0.113.99' }] } } }, 'application/merge-patch+json'],
      ['replace a Service', 'PUT', svc, await api.getService(NS, 'web')],
      ['delete a Service', 'DELETE', svc],
      ['create a Service', 'POST', `/api/v1/namespaces/${NS}/services`, { metadata: { name: 'x' }, spec: { ports: [{ port: 80 }] } }],
    ];
    for (const [what, method, path, body, ct] of tries) {
      const r = await c.request(method, path, body, ct);
      assert.equal(r.status, 403, `${what}: ${r.status}`);
    }
    const ok = await c.request('GET', `/api/v1/namespaces/${SYSTEM_NAMESPACE}/secrets`);
    assert.equal(ok.status, 200, 'it lists the Secrets of baregate-system (heartbeat key, BGP passwords)');
    assert.ok((await api.getService(NS, 'web')).metadata.labels?.hacked === undefined);

    // SelfSubjectAccessReview: what RBAC says, verb by verb
    const can = async (cl: KubeClient, attrs: Record<string, string>): Promise<boolean> => {
      const r = await cl.request<{ status: { allowed: boolean } }>('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: attrs } });
      assert.equal(r.status, 201);
      return r.body.status.allowed;
    };
    for (const verb of ['create', 'update', 'patch', 'delete']) {
      assert.equal(await can(c, { verb, resource: 'services', namespace: NS }), false, `speaker ${verb} services`);
      assert.equal(await can(c, { verb, resource: 'services', subresource: 'status', namespace: NS }), false, `speaker ${verb} services/status`);
    }
    for (const verb of ['get', 'list', 'watch']) {
      assert.equal(await can(c, { verb, resource: 'secrets', namespace: 'default' }), false, `speaker ${verb} secrets in default`);
      assert.equal(await can(c, { verb, resource: 'secrets', namespace: 'kube-system' }), false, `speaker ${verb} secrets in kube-system`);
    }
    assert.equal(await can(c, { verb: 'watch', resource: 'secrets', namespace: SYSTEM_NAMESPACE }), true);
    assert.equal(await can(c, { verb: 'list', resource: 'services' }), true);
    assert.equal(await can(c, { verb: 'patch', group: 'baregate.io', resource: 'speakerstatuses', subresource: 'status' }), true);

    const ckc = serviceAccountKubeconfig({ dataDir: dataDir(), binDir: bin }, SYSTEM_NAMESPACE, CONTROLLER_SERVICE_ACCOUNT);
    const cc = KubeClient.create({ kubeconfig: ckc });
    try {
      assert.equal(await can(cc, { verb: 'get', resource: 'secrets', namespace: 'default' }), false, 'controller: no Secrets outside baregate-system');
      assert.equal(await can(cc, { verb: 'update', resource: 'secrets', namespace: SYSTEM_NAMESPACE, name: 'someone-elses' }), false, 'controller: rewrites only its own Secrets');
      assert.equal(await can(cc, { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: SYSTEM_NAMESPACE, name: `${SPEAKER_LEASE_PREFIX}${NODE}` }), false, 'controller: not the speakers\' Leases');
      assert.equal(await can(cc, { verb: 'patch', group: 'admissionregistration.k8s.io', resource: 'validatingwebhookconfigurations', name: 'someone-elses' }), false, 'controller: only its own webhook configurations');
      assert.equal(await can(cc, { verb: 'patch', group: 'admissionregistration.k8s.io', resource: 'validatingwebhookconfigurations', name: VALIDATING_WEBHOOK }), true);
      assert.equal(await can(cc, { verb: 'delete', resource: 'services', namespace: NS }), false, 'controller: never deletes Services');
    } finally { cc.destroy(); }
  } finally { c.destroy(); }
  // supplement: what kubectl says the speaker may do
  const list = await kubectl(['auth', 'can-i', '--list', '-n', 'default'], undefined, kc);
  console.log(`# kubectl auth can-i --list (speaker, namespace default):\n${list.stdout.split('\n').map((l) => `#   ${l}`).join('\n')}`);
  assert.doesNotMatch(list.stdout, /^secrets\s/m, 'no Secret rule in default');
});
