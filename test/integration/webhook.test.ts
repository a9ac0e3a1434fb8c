/**
 * The admission webhooks on a real apiserver over real TLS with the controller's own CA: the bundle's two
 * webhook configurations (clientConfig pointed at https://localhost:<port> instead of the Service, which the
 * harness apiserver cannot reach), a controller replica in-process. Shows: the caBundle is patched in; invalid
 * objects are refused with parseConfig's message and valid ones stored; warnings come back; serving-certificate
 * and CA rotations keep the webhooks working; with the controller down Services are still created (Ignore) while
 * baregate.io objects are refused (Fail); the heartbeat key Secret is created once and never replaced. The
 * replicas run as the bundle's controller ServiceAccount with the bundle's RBAC, so every request the webhook
 * and certificate code makes is shown to be permitted.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import https from 'node:https';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { bundleObjects } from '../../src/api/bundle.ts';
import {
  CONTROLLER_LEASE, CONTROLLER_SERVICE_ACCOUNT, GATEWAY_LABEL, HEARTBEAT_SECRET, HEARTBEAT_SECRET_KEY, MUTATING_WEBHOOK, VALIDATING_WEBHOOK, WEBHOOK_CERT_SECRET,
} from '../../src/api/keys.ts';
import { runController, type ControllerHandle } from '../../src/cli/controller.ts';
import type { ServiceMutator } from '../../src/k8s/ports.ts';
import { parseCertificates } from '../../src/k8s/x509.ts';
import { freePorts, k8sBinDir } from '../harness/cluster.ts';
import { TEST_LEASE } from '../harness/controller.ts';
import { Api, dataDir, kubeconfig, waitFor } from '../harness/kube.ts';
import { serviceAccountKubeconfig } from '../harness/tokens.ts';

const api = new Api();
const NS = 'baregate-system';
const SECRETS = `/api/v1/namespaces/${NS}/secrets`;
const ADM = '/apis/admissionregistration.k8s.io/v1';
const POOLS = '/apis/baregate.io/v1beta1/ipaddresspools';
const PROPAGATION_MS = 6000;
const MUTATED = 'webhook-test.baregate.io/mutated';

type Obj = Record<string, unknown>;
interface Status { message?: string }

/** A free port for the test's webhook server (all addresses). */
async function freePort(): Promise<number> {
  const [port] = await freePorts(1, '::');
  if (port === undefined) throw new Error('no free port');
  return port;
}

/** The test's mutator: marks gateway Services so the test sees the patch arrive. */
const mark: ServiceMutator = (svc) => {
  const annotations = (svc.metadata as { annotations?: Obj } | undefined)?.annotations;
  return annotations === undefined
    ? [{ op: 'add', path: '/metadata/annotations', value: { [MUTATED]: 'yes' } }]
    : [{ op: 'add', path: `/metadata/annotations/${MUTATED.replace(/\//g, '~1')}`, value: 'yes' }];
};

let port = 0;
let replica: ControllerHandle;
let stopped = false;
/** The bundle's controller ServiceAccount (a TokenRequest token): the webhook's reads and writes are within its RBAC. */
let controllerKubeconfig = '';

function startReplica(identity: string): ControllerHandle {
  return runController({
    kubeconfig: controllerKubeconfig, identity, leaseName: CONTROLLER_LEASE, leaseNamespace: NS, ...TEST_LEASE,
    onLostLeadership: () => undefined, namespace: NS, heartbeatSecret: true,
    webhook: { port, host: '::', extraSans: ['localhost'], pollMs: 500, timing: { propagationMs: PROPAGATION_MS }, mutators: [mark] },
  });
}

const obj = (kind: string, name: string, spec: Obj): Obj => ({ apiVersion: 'baregate.io/v1beta1', kind, metadata: { name }, spec });
const plural: Record<string, string> = { IPAddressPool: 'ipaddresspools', L2Advertisement: 'l2advertisements', BGPAdvertisement: 'bgpadvertisements', BGPPeer: 'bgppeers' };

/** POSTs a baregate.io object (dry run when asked); the status and the error message. */
async function create(o: Obj, dryRun = false): Promise<{ status: number; message: string }> {
  const r = await api.c.request<Status>('POST', `/apis/baregate.io/v1beta1/${plural[o.kind as string] ?? ''}${dryRun ? '?dryRun=All' : ''}`, o);
  return { status: r.status, message: r.body.message ?? '' };
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');
async function certSecret(): Promise<{ data: Record<string, string>; type: string; metadata: { resourceVersion: string } }> {
  return api.must('GET', `${SECRETS}/${WEBHOOK_CERT_SECRET}`);
}
const caBundleText = async (): Promise<string> => Buffer.from((await certSecret()).data['ca.crt'] ?? '', 'base64').toString();

/** The caBundle of every webhook of both configurations. */
async function patchedBundles(): Promise<(string | undefined)[]> {
  const out: (string | undefined)[] = [];
  for (const [res, name] of [['validatingwebhookconfigurations', VALIDATING_WEBHOOK], ['mutatingwebhookconfigurations', MUTATING_WEBHOOK]] as const) {
    const c = await api.must<{ webhooks: { clientConfig: { caBundle?: string } }[] }>('GET', `${ADM}/${res}/${name}`);
    out.push(...c.webhooks.map((w) => w.clientConfig.caBundle));
  }
  return out;
}

/** The serial of the certificate the webhook server presents right now. */
function servedSerial(on = port): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: on, servername: 'localhost', rejectUnauthorized: false }, () => {
      const c = s.getPeerX509Certificate();
      s.end();
      if (c) resolve(c.serialNumber); else reject(new Error('no peer certificate'));
    });
    s.on('error', reject);
  });
}

/** An AdmissionReview sent straight to a replica, trusting only the Secret's caBundle (what the apiserver does). */
async function directReview(on: number, object: Obj): Promise<{ allowed: boolean; status?: Status }> {
  const ca = await caBundleText();
  const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'direct', kind: { group: 'baregate.io', version: 'v1beta1', kind: object.kind }, operation: 'CREATE', name: (object.metadata as { name: string }).name, object } });
  const text = await new Promise<string>((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: on, servername: 'localhost', path: '/validate-baregate-io', method: 'POST', ca, agent: false, headers: { 'Content-Type': 'application/json' } }, (res) => {
      let t = '';
      res.setEncoding('utf8').on('data', (d: string) => { t += d; }).on('end', () => { resolve(t); });
    });
    req.on('error', reject);
    req.end(body);
  });
  return (JSON.parse(text) as { response: { allowed: boolean; status?: Status } }).response;
}

/** The webhook answers over TLS the apiserver trusts: a valid dry-run is stored, an invalid one refused by the webhook. */
async function webhookWorks(what: string): Promise<void> {
  await waitFor(`webhook answers (${what})`, async () => (await create(obj('IPAddressPool', 'probe-ok', { addresses: ['203.0.113.200/32'] }), true)).status === 201, 30_000);
  const bad = await create(obj('IPAddressPool', 'probe-bad', { addresses: ['2001:db8:ff::9-2001:db8:ff::1'] }), true);
  assert.equal(bad.status, 422, `${what}: ${bad.message}`);
  assert.match(bad.message, /admission webhook "validate\.baregate\.io" denied the request: IPAddressPool "probe-bad": spec\.addresses\[0\]: "2001:db8:ff::9-2001:db8:ff::1": range is reversed/);
}

const RBAC: Record<string, string> = {
  ServiceAccount: `/api/v1/namespaces/${NS}/serviceaccounts`, ClusterRole: '/apis/rbac.authorization.k8s.io/v1/clusterroles',
  ClusterRoleBinding: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', Role: `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles`,
  RoleBinding: `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`,
};

before(async () => {
  port = await freePort();
  // the bundle's identities and RBAC, and its own webhook configurations pointed at this process instead of the Service
  for (const o of bundleObjects()) {
    const rbacPath = RBAC[o.kind as string];
    if (rbacPath !== undefined) { await api.must('POST', rbacPath, o); continue; }
    if (o.kind !== 'ValidatingWebhookConfiguration' && o.kind !== 'MutatingWebhookConfiguration') continue;
    const hooks = (o.webhooks as { clientConfig: { service: { path: string } } }[]).map((w) => ({ ...w, clientConfig: { url: `https://localhost:${port}${w.clientConfig.service.path}` } }));
    await api.must('POST', `${ADM}/${o.kind === 'ValidatingWebhookConfiguration' ? 'validatingwebhookconfigurations' : 'mutatingwebhookconfigurations'}`, { ...o, webhooks: hooks });
  }
  controllerKubeconfig = serviceAccountKubeconfig({ dataDir: dataDir(), binDir: await k8sBinDir() }, NS, CONTROLLER_SERVICE_ACCOUNT);
  replica = startReplica('webhook-1');
  await replica.webhook?.listening;
});
after(async () => {
  if (!stopped) await replica.stop();
  for (const [res, name] of [['validatingwebhookconfigurations', VALIDATING_WEBHOOK], ['mutatingwebhookconfigurations', MUTATING_WEBHOOK]] as const) await api.c.request('DELETE', `${ADM}/${res}/${name}`);
  api.c.destroy();
});

describe('webhooks with the controller running', () => {
  test('the Secret is created and its CA patched into every webhook of both configurations; /readyz follows', async () => {
    assert.ok(replica.webhook);
    const s = await waitFor('certificate Secret', async () => (await api.c.request<{ type: string; data: Record<string, string> }>('GET', `${SECRETS}/${WEBHOOK_CERT_SECRET}`)).body.data);
    assert.deepEqual(Object.keys(s).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    assert.equal((await certSecret()).type, 'kubernetes.io/tls');
    const bundle = await caBundleText();
    await waitFor('caBundle patched', async () => (await patchedBundles()).every((b) => b === b64(bundle)));
    const n = (await patchedBundles()).length;
    assert.ok(n >= 2, `${n} webhooks`);
    await waitFor('replica ready', () => Promise.resolve(replica.ready().ok));
    const served = new X509Certificate(Buffer.from(s['tls.crt'] ?? '', 'base64'));
    assert.ok(served.checkHost('baregate-webhook.baregate-system.svc'));
    assert.ok(served.checkHost('localhost'));
  });

  test('invalid objects are refused over TLS with the message parseConfig gives; valid ones are stored', async () => {
    await webhookWorks('first use');
    assert.equal((await create(obj('IPAddressPool', 'wh-a', { addresses: ['192.0.2.0/24'] }))).status, 201);
    const overlap = await create(obj('IPAddressPool', 'wh-b', { addresses: ['198.51.100.0/24', '192.0.2.128/25'] }));
    assert.equal(overlap.status, 422);
    assert.match(overlap.message, /denied the request: IPAddressPool "wh-b": spec\.addresses\[1\]: 192\.0\.2\.128\/25 overlaps IPAddressPool "wh-a" \(192\.0\.2\.0\/24\)$/);
    const missing = await create(obj('L2Advertisement', 'wh-l2', { ipAddressPools: ['wh-a', 'nope'] }));
    assert.equal(missing.status, 422);
    assert.match(missing.message, /L2Advertisement "wh-l2": spec\.ipAddressPools: no IPAddressPool named "nope"$/);
    assert.equal((await create(obj('L2Advertisement', 'wh-l2', { ipAddressPools: ['wh-a'] }))).status, 201, 'the same advertisement naming an existing pool');
    assert.equal((await create(obj('BGPPeer', 'wh-p1', { myASN: 64512, peerASN: 64513, peerAddress: '192.0.2.1' }))).status, 201);
    const dup = await create(obj('BGPPeer', 'wh-p2', { myASN: 64512, peerASN: 64514, peerAddress: '192.0.2.1' }));
    assert.equal(dup.status, 422);
    assert.match(dup.message, /BGPPeer "wh-p2": spec\.peerAddress: BGPPeer "wh-p1" already peers with 192\.0\.2\.1 from the same nodes/);
    const secretRef = await create(obj('BGPPeer', 'wh-p3', { myASN: 64512, peerASN: 64514, peerAddress: '192.0.2.3', passwordSecret: { name: 'wh-missing' } }));
    assert.match(secretRef.message, /BGPPeer "wh-p3": spec\.passwordSecret: Secret baregate-system\/wh-missing does not exist/);
    // an UPDATE that breaks a stored object is refused too
    const upd = await api.c.request<Status>('PATCH', `${POOLS}/wh-a`, { spec: { addresses: ['192.0.2.0/24', '2001:db8::5-2001:db8::1'] } }, 'application/merge-patch+json');
    assert.equal(upd.status, 422);
    assert.match(upd.body.message ?? '', /IPAddressPool "wh-a": spec\.addresses\[1\]: "2001:db8::5-2001:db8::1": range is reversed/);
  });

  test('a plaintext password is accepted with a warning (kubectl shows it)', async () => {
    const kubectl = join(await k8sBinDir(), 'kubectl');
    const child = promisify(execFile)(kubectl, ['--kubeconfig', kubeconfig(), 'create', '-f', '-'], { timeout: 60_000 });
    child.child.stdin?.end(JSON.stringify(obj('BGPPeer', 'wh-plain', { myASN: 64512, peerASN: 64515, peerAddress: '192.0.2.9', password: 'hunter2' })));
    const { stdout, stderr } = await child;
    assert.match(stdout, /bgppeer\.baregate\.io\/wh-plain created/);
    assert.match(stderr, /Warning: BGPPeer "wh-plain": spec\.password: the password is in plaintext/);
  });

  test('the mutating webhook patches gateway Services; other Services never reach it', async () => {
    await api.namespace('wh-svc');
    const gw = await api.service('wh-svc', 'gw', { labels: { [GATEWAY_LABEL]: 'yes' } });
    assert.equal(gw.metadata.annotations?.[MUTATED], 'yes');
    const plain = await api.service('wh-svc', 'plain');
    assert.equal(plain.metadata.annotations?.[MUTATED], undefined);
  });

  test('rotations keep the webhooks working: a new serving certificate, then a new CA; a standby follows each step', async (t) => {
    assert.ok(replica.webhook);
    // a standby replica on a port of its own: it never writes, but serves whatever the Secret holds
    const port2 = await freePort();
    const standby = runController({
      kubeconfig: controllerKubeconfig, identity: 'webhook-standby', leaseName: CONTROLLER_LEASE, leaseNamespace: NS, ...TEST_LEASE,
      onLostLeadership: () => undefined, namespace: NS, heartbeatSecret: true,
      webhook: { port: port2, host: '::', extraSans: ['localhost'], pollMs: 500, timing: { propagationMs: PROPAGATION_MS } },
    });
    t.after(() => standby.stop());
    await waitFor('standby serving', () => Promise.resolve(standby.ready().ok));
    assert.equal(standby.current(), undefined, 'the standby does not lead');
    const follows = async (what: string): Promise<void> => {
      await waitFor(`standby serves the leader's certificate (${what})`, async () => (await servedSerial(port2)) === (await servedSerial()), 20_000);
      const r = await directReview(port2, obj('IPAddressPool', 'standby-bad', { addresses: ['2001:db8:ee::9-2001:db8:ee::1'] }));
      assert.equal(r.allowed, false, what);
      assert.match(r.status?.message ?? '', /range is reversed/);
    };
    await follows('start');
    const serial0 = await servedSerial();
    await replica.webhook.certs.force('serving');
    await waitFor('new serving certificate served', async () => (await servedSerial()) !== serial0);
    await webhookWorks('after serving rotation');
    await follows('serving rotation');

    const ca0 = parseCertificates(await caBundleText());
    assert.equal(ca0.length, 1);
    const serial1 = await servedSerial();
    await replica.webhook.certs.force('ca');
    const both = await caBundleText();
    assert.equal(parseCertificates(both).length, 2, 'new CA next to the old one');
    await waitFor('both CAs in every caBundle', async () => (await patchedBundles()).every((b) => b === b64(both)));
    assert.equal(await servedSerial(), serial1, 'still the old CA\'s certificate while the new CA propagates');
    await webhookWorks('new CA trusted, old certificate served');
    await follows('new CA trusted');
    await waitFor('certificate from the new CA served', async () => (await servedSerial()) !== serial1, 40_000);
    await webhookWorks('new CA\'s certificate served');
    await follows('new CA\'s certificate');
    await waitFor('old CA dropped', async () => parseCertificates(await caBundleText()).length === 1, 40_000);
    const final = await caBundleText();
    assert.notEqual(parseCertificates(final)[0]?.fingerprint256, ca0[0]?.fingerprint256);
    await waitFor('caBundle without the old CA', async () => (await patchedBundles()).every((b) => b === b64(final)));
    await webhookWorks('old CA gone');
    await follows('old CA gone');
    assert.equal(standby.webhook?.certs.writes, 0, 'the standby wrote nothing');
  });

  test('the heartbeat key Secret was created by the leader', async () => {
    const s = await waitFor('heartbeat Secret', async () => {
      const r = await api.c.request<{ data?: Record<string, string> }>('GET', `${SECRETS}/${HEARTBEAT_SECRET}`);
      return r.status === 200 ? r.body : undefined;
    });
    assert.equal(Buffer.from(s.data?.[HEARTBEAT_SECRET_KEY] ?? '', 'base64').length, 32);
  });
});

describe('with the controller down', () => {
  test('Services are still created (Ignore); baregate.io objects are refused (Fail)', async () => {
    await replica.stop();
    stopped = true;
    const svc = await api.service('wh-svc', 'gw-down', { labels: { [GATEWAY_LABEL]: 'yes' } });
    assert.equal(svc.metadata.annotations?.[MUTATED], undefined, 'created unchanged');
    const r = await create(obj('IPAddressPool', 'wh-down', { addresses: ['203.0.113.0/28'] }));
    assert.ok(r.status >= 500 || r.status === 403 || r.status === 400, `refused: HTTP ${r.status} ${r.message}`);
    assert.match(r.message, /failed calling webhook "validate\.baregate\.io"/);
  });

  test('a new leader finds the heartbeat key and the certificate and replaces neither', async () => {
    const hb0 = await api.must<{ metadata: { resourceVersion: string }; data: Record<string, string> }>('GET', `${SECRETS}/${HEARTBEAT_SECRET}`);
    const cert0 = await certSecret();
    const r2 = startReplica('webhook-2');
    try {
      await waitFor('second replica leads', () => Promise.resolve(r2.current()), 30_000);
      await waitFor('second replica serving', () => Promise.resolve(r2.ready().ok));
      await webhookWorks('second replica');
      const hb1 = await api.must<{ metadata: { resourceVersion: string }; data: Record<string, string> }>('GET', `${SECRETS}/${HEARTBEAT_SECRET}`);
      assert.equal(hb1.metadata.resourceVersion, hb0.metadata.resourceVersion, 'heartbeat Secret not written again');
      assert.deepEqual(hb1.data, hb0.data);
      assert.equal((await certSecret()).metadata.resourceVersion, cert0.metadata.resourceVersion, 'valid certificate kept');
    } finally {
      await r2.stop();
    }
  });
});

test('the command line: `baregate controller` with webhook flags serves, turns ready, and exits 0 on SIGTERM', async () => {
  const [wport, mport] = [await freePort(), await freePort()];
  const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'controller', '--kubeconfig', controllerKubeconfig, '--identity', 'webhook-cli',
    '--lease-duration', '8', '--metrics-port', String(mport), '--metrics-host', '127.0.0.1', '--webhook-port', String(wport), '--webhook-host', '127.0.0.1',
    '--webhook-extra-sans', 'localhost,127.0.0.1', '--namespace', NS, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const exited = new Promise<number | null>((resolve) => { child.once('exit', (code) => { resolve(code); }); });
  try {
    await waitFor('CLI replica ready', async () => {
      try { return (await fetch(`http://127.0.0.1:${mport}/readyz`)).status === 200; } catch { return false; }
    }, 60_000);
    const r = await directReview(wport, obj('IPAddressPool', 'cli-bad', { addresses: ['2001:db8:dd::9-2001:db8:dd::1'] }));
    assert.equal(r.allowed, false);
    assert.match(r.status?.message ?? '', /range is reversed/);
    assert.doesNotMatch(out, /"level":30/, '--log-level warn: no info lines');
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, out.slice(-2000));
});
