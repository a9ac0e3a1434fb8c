/**
 * The webhook server over real TLS on loopback: AdmissionReview in and out, bad input answered (never a crash),
 * the handler deadline on a fake clock, certificate swaps without a restart; plus the heartbeat Secret.
 */
import assert from 'node:assert/strict';
import https from 'node:https';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { pino } from 'pino';
import { FakeClock, realClock, type Clock } from '../clock.ts';
import type { ConfigSnapshot } from '../config/types.ts';
import type { ApiResponse } from './client.ts';
import type { Requester, ServiceMutator } from './ports.ts';
import { ensureHeartbeatSecret } from './secrets.ts';
import { serviceMutationHandler, validatingHandler, WebhookServer, type SnapshotReader } from './webhook.ts';
import { createCA, createServingCert, type CertKeyPem } from './x509.ts';

const quiet = pino({ level: 'silent' });
const now = Date.now();
const newCA = (): CertKeyPem => createCA({ commonName: 'test-ca', now, validityMs: 86_400_000 });
const servingFor = (ca: CertKeyPem): { cert: string; key: string } => {
  const s = createServingCert({ commonName: 'w', now, validityMs: 86_400_000, dnsNames: ['localhost'], ips: ['127.0.0.1'] }, ca);
  return { cert: s.certPem, key: s.keyPem };
};
const empty: ConfigSnapshot = { pools: [], l2Advertisements: [], bgpAdvertisements: [], bgpPeers: [], secrets: [] };
const pool = (name: string, addresses: string[]): unknown => ({ apiVersion: 'baregate.io/v1beta1', kind: 'IPAddressPool', metadata: { name }, spec: { addresses } });

interface Reply { status: number; body: string }
function post(port: number, ca: string, path: string, body: string | Buffer, method = 'POST'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, method, ca, agent: false, headers: { 'Content-Type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => { text += d; }).on('end', () => { resolve({ status: res.statusCode ?? 0, body: text }); });
    });
    req.on('error', reject);
    req.end(body);
  });
}
const review = (request: Record<string, unknown>): string => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });
const responseOf = (r: Reply): Record<string, unknown> => (JSON.parse(r.body) as { response: Record<string, unknown> }).response;

function server(read: SnapshotReader, mutators: readonly ServiceMutator[] = [], clock: Clock = realClock, maxBodyBytes?: number): WebhookServer {
  return new WebhookServer({
    port: 0, host: '127.0.0.1', log: quiet, clock, validate: validatingHandler(read), mutateService: serviceMutationHandler(mutators),
    handlerDeadlineMs: 5000, ...(maxBodyBytes !== undefined ? { maxBodyBytes } : {}),
  });
}

describe('WebhookServer', () => {
  const ca = newCA();
  let snapshot: ConfigSnapshot = empty;
  const addLabel: ServiceMutator = (svc) => ((svc.metadata as { labels?: unknown } | undefined)?.labels === undefined
    ? [{ op: 'add', path: '/metadata/labels', value: { 'baregate.io/seen': 'yes' } }] : []);
  const s = server(() => Promise.resolve(snapshot), [addLabel], realClock, 64 * 1024);
  before(async () => { await s.listen(); });
  after(async () => { await s.close(); });

  test('no certificate yet: not ready and no handshake; with one: ready and serving', async () => {
    assert.equal(s.ready(), false);
    await assert.rejects(post(s.port(), ca.certPem, '/healthz', '', 'GET'));
    s.setCertificate(servingFor(ca));
    assert.equal(s.ready(), true);
    assert.deepEqual(await post(s.port(), ca.certPem, '/healthz', '', 'GET'), { status: 200, body: 'ok' });
  });

  test('validate: refused with parseConfig\'s message and the request uid; a valid object allowed', async () => {
    snapshot = { ...empty, pools: [pool('y', ['192.0.2.0/24'])] };
    const bad = await post(s.port(), ca.certPem, '/validate-baregate-io', review({ uid: 'u-1', kind: { group: 'baregate.io', version: 'v1beta1', kind: 'IPAddressPool' }, operation: 'CREATE', name: 'x', object: pool('x', ['192.0.2.0/25']) }));
    assert.equal(bad.status, 200);
    assert.deepEqual(responseOf(bad), { uid: 'u-1', allowed: false, status: { code: 422, reason: 'Invalid', message: 'IPAddressPool "x": spec.addresses[0]: 192.0.2.0/25 overlaps IPAddressPool "y" (192.0.2.0/24)' } });
    assert.equal((JSON.parse(bad.body) as { apiVersion: string }).apiVersion, 'admission.k8s.io/v1');
    const ok = await post(s.port(), ca.certPem, '/validate-baregate-io', review({ uid: 'u-2', kind: { group: 'baregate.io', version: 'v1beta1', kind: 'IPAddressPool' }, operation: 'CREATE', name: 'z', object: pool('z', ['198.51.100.0/24']) }));
    assert.deepEqual(responseOf(ok), { uid: 'u-2', allowed: true });
  });

  test('mutate-service: the mutators\' JSON patch; nothing to change: allowed without a patch', async () => {
    const r = responseOf(await post(s.port(), ca.certPem, '/mutate-service', review({ uid: 'm', kind: { group: '', version: 'v1', kind: 'Service' }, operation: 'CREATE', object: { metadata: { name: 's' } } })));
    assert.equal(r.patchType, 'JSONPatch');
    assert.deepEqual(JSON.parse(Buffer.from(r.patch as string, 'base64').toString()), [{ op: 'add', path: '/metadata/labels', value: { 'baregate.io/seen': 'yes' } }]);
    const none = responseOf(await post(s.port(), ca.certPem, '/mutate-service', review({ uid: 'n', operation: 'CREATE', object: { metadata: { name: 's', labels: {} } } })));
    assert.deepEqual(none, { uid: 'n', allowed: true });
  });

  test('bad input is answered, never a crash: garbage, no uid, wrong method, unknown path, too big', async () => {
    assert.equal((await post(s.port(), ca.certPem, '/validate-baregate-io', '{not json')).status, 400);
    assert.equal((await post(s.port(), ca.certPem, '/validate-baregate-io', JSON.stringify({ request: { kind: {} } }))).status, 400);
    assert.equal((await post(s.port(), ca.certPem, '/validate-baregate-io', JSON.stringify([1, 2]))).status, 400);
    assert.equal((await post(s.port(), ca.certPem, '/validate-baregate-io', '', 'GET')).status, 405);
    assert.equal((await post(s.port(), ca.certPem, '/nope', '{}')).status, 404);
    assert.equal((await post(s.port(), ca.certPem, '/validate-baregate-io', Buffer.alloc(200 * 1024, 0x20))).status, 413);
    const weird = responseOf(await post(s.port(), ca.certPem, '/validate-baregate-io', review({ uid: 'w', kind: { group: 'baregate.io', kind: 'BGPPeer' }, operation: 'CREATE', object: 'str' })));
    assert.equal(weird.allowed, false);
    assert.deepEqual(await post(s.port(), ca.certPem, '/healthz', '', 'GET'), { status: 200, body: 'ok' }, 'still serving');
  });

  test('random bodies and AdmissionReview-shaped junk (fuzzed): always an answer, 200 or 400, and still serving', async () => {
    const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
    console.log(`webhook body fuzz seed ${seed} (FC_SEED=${seed} to re-run)`);
    const shaped = fc.record({ request: fc.record({ uid: fc.oneof(fc.string(), fc.anything()), kind: fc.oneof(fc.record({ group: fc.constantFrom('baregate.io', ''), kind: fc.constantFrom('IPAddressPool', 'BGPPeer', 'Service') }), fc.anything()), operation: fc.oneof(fc.constantFrom('CREATE', 'UPDATE', 'DELETE'), fc.anything()), object: fc.anything(), oldObject: fc.anything() }, { requiredKeys: [] }) });
    const body = fc.oneof(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), shaped.map((x) => Buffer.from(JSON.stringify(x))), fc.jsonValue().map((x) => Buffer.from(JSON.stringify(x))));
    await fc.assert(fc.asyncProperty(body, fc.constantFrom('/validate-baregate-io', '/mutate-service'), async (b, path) => {
      const r = await post(s.port(), ca.certPem, path, b);
      assert.ok(r.status === 200 || r.status === 400, `HTTP ${r.status}`);
      if (r.status === 200) assert.equal(typeof responseOf(r).allowed, 'boolean');
    }), { seed, numRuns: 150 });
    assert.deepEqual(await post(s.port(), ca.certPem, '/healthz', '', 'GET'), { status: 200, body: 'ok' });
  });

  test('a new certificate from another CA takes effect without a restart', async () => {
    const ca2 = newCA();
    s.setCertificate(servingFor(ca2));
    assert.equal((await post(s.port(), ca2.certPem, '/healthz', '', 'GET')).status, 200);
    await assert.rejects(post(s.port(), ca.certPem, '/healthz', '', 'GET'), /certificate/i);
  });
});

test('a config read that hangs is answered at the handler deadline (fake clock); a failed read refuses with the reason', async () => {
  const ca = newCA();
  const clock = new FakeClock(0, Date.now());
  let calls = 0;
  const hang = server(() => { calls++; return new Promise<ConfigSnapshot>(() => undefined); }, [], clock);
  await hang.listen();
  hang.setCertificate(servingFor(ca));
  try {
    const pending = post(hang.port(), ca.certPem, '/validate-baregate-io', review({ uid: 'h', kind: { group: 'baregate.io', kind: 'BGPPeer' }, operation: 'CREATE', name: 'p', object: {} }));
    for (let i = 0; i < 500 && clock.pending() === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(calls, 1);
    clock.advance(4999);
    await new Promise((r) => setTimeout(r, 50));
    clock.advance(1);
    const r = responseOf(await pending);
    assert.equal(r.allowed, false);
    assert.deepEqual(r.status, { code: 504, reason: 'Timeout', message: 'baregate could not check this object within 5000 ms; try again' });
  } finally { await hang.close(); }
  const failing = server(() => Promise.reject(new Error('GET /apis/baregate.io/v1beta1/bgppeers: HTTP 403 Forbidden')));
  await failing.listen();
  failing.setCertificate(servingFor(ca));
  try {
    const r = responseOf(await post(failing.port(), ca.certPem, '/validate-baregate-io', review({ uid: 'f', kind: { group: 'baregate.io', kind: 'BGPPeer' }, operation: 'CREATE', name: 'p', object: {} })));
    assert.equal(r.allowed, false);
    assert.match((r.status as { message: string }).message, /could not read the current config.*403/);
  } finally { await failing.close(); }
});

test('serviceMutationHandler: async mutators get the request namespace and their ops are joined in order; UPDATE is left alone', async () => {
  const seen: string[] = [];
  const first: ServiceMutator = (_svc, ns) => { seen.push(ns); return Promise.resolve([{ op: 'add', path: '/spec/allocateLoadBalancerNodePorts', value: false }]); };
  const second: ServiceMutator = () => [{ op: 'add', path: '/metadata/labels', value: { a: 'b' } }];
  const h = serviceMutationHandler([first, second]);
  const r = await h({ uid: 'u', operation: 'CREATE', namespace: 'edge', object: { metadata: { generateName: 'gw-' }, spec: {} } });
  assert.deepEqual(seen, ['edge'], 'the namespace comes from the request (a new object may not carry it)');
  assert.equal(r.patchType, 'JSONPatch');
  assert.deepEqual(JSON.parse(Buffer.from(r.patch ?? '', 'base64').toString()), [
    { op: 'add', path: '/spec/allocateLoadBalancerNodePorts', value: false }, { op: 'add', path: '/metadata/labels', value: { a: 'b' } },
  ]);
  const upd = await h({ uid: 'v', operation: 'UPDATE', namespace: 'edge', object: { metadata: { name: 'gw' } } });
  assert.deepEqual(upd, { allowed: true });
  assert.deepEqual(seen, ['edge'], 'no mutator asked on UPDATE');
});

describe('ensureHeartbeatSecret', () => {
  class Api implements Requester {
    secret: Record<string, unknown> | undefined;
    creates = 0;
    conflict = false;
    request<T = unknown>(method: string, _path: string, body?: unknown): Promise<ApiResponse<T>> {
      if (method === 'GET') return Promise.resolve({ status: this.secret ? 200 : 404, body: (this.secret ?? {}) as T });
      this.creates++;
      if (this.conflict || this.secret) return Promise.resolve({ status: 409, body: {} as T });
      this.secret = body as Record<string, unknown>;
      return Promise.resolve({ status: 201, body: body as T });
    }
  }

  test('created once with 32 random bytes; an existing one is never replaced; a create conflict is fine', async () => {
    const api = new Api();
    assert.equal(await ensureHeartbeatSecret(api, 'baregate-system', quiet), 'created');
    const key = Buffer.from((api.secret?.data as { key: string }).key, 'base64');
    assert.equal(key.length, 32);
    assert.equal((api.secret?.metadata as { name: string }).name, 'baregate-heartbeat');
    assert.equal(await ensureHeartbeatSecret(api, 'baregate-system', quiet), 'exists');
    assert.equal(api.creates, 1, 'no second write');
    const racing = new Api();
    racing.conflict = true;
    assert.equal(await ensureHeartbeatSecret(racing, 'baregate-system', quiet), 'exists');
    const broken: Requester = { request: () => Promise.reject(new Error('connection refused')) };
    assert.equal(await ensureHeartbeatSecret(broken, 'baregate-system', quiet), 'failed');
  });
});

test('a port already taken: listen rejects and the server is not ready, even with a certificate', async () => {
  const first = server(() => Promise.resolve(empty));
  await first.listen();
  const second = new WebhookServer({ port: first.port(), host: '127.0.0.1', log: quiet, clock: realClock, validate: validatingHandler(() => Promise.resolve(empty)), mutateService: serviceMutationHandler([]) });
  try {
    await assert.rejects(second.listen(), /EADDRINUSE/);
    second.setCertificate(servingFor(newCA()));
    assert.equal(second.ready(), false);
  } finally {
    await first.close();
    await second.close();
  }
});
