/**
 * Webhook TLS management: the pure plan over years of simulated time (a rotation never leaves a served
 * certificate untrusted), and the manager against an in-memory API with a fake clock (who writes, when, what
 * gets patched, what every replica serves).
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { FakeClock } from '../clock.ts';
import type { ApiResponse } from './client.ts';
import type { Requester } from './ports.ts';
import { applyCertPlan, certPlan, CertManager, DEFAULT_CERT_TIMING, materialOf, type CertMaterial, type CertPlan, type ServingPair } from './webhookcerts.ts';
import { createCA, parseCertificates } from './x509.ts';

const DAY = 86_400_000;
const YEAR = 365 * DAY;
const NAMES = ['baregate-webhook', 'baregate-webhook.baregate-system.svc', 'localhost', '127.0.0.1'];
const T0 = Date.UTC(2026, 0, 1);

/** Plans and applies until keep; returns the new material and the actions taken. */
function settle(m: CertMaterial | undefined, now: number, names = NAMES): { m: CertMaterial; actions: string[]; last: CertPlan } {
  const actions: string[] = [];
  let cur = m;
  for (let i = 0; i < 6; i++) {
    const p = certPlan(cur, now, names);
    if (p.action === 'keep') { assert.ok(cur); return { m: cur, actions, last: p }; }
    actions.push(p.action);
    cur = applyCertPlan(cur, p, now, names, 'baregate-webhook');
  }
  throw new Error(`no fixed point: ${actions.join(',')}`);
}

const served = (m: CertMaterial): X509Certificate => { const c = parseCertificates(m.cert)[0]; assert.ok(c); return c; };
const trusted = (m: CertMaterial, cert: X509Certificate, now: number): boolean =>
  now < Date.parse(cert.validTo) && parseCertificates(m.caBundle).some((ca) => now < Date.parse(ca.validTo) && cert.checkIssued(ca) && cert.verify(ca.publicKey));

describe('certPlan', () => {
  test('nothing yet: a CA and a serving certificate, then keep', () => {
    assert.equal(certPlan(undefined, T0, NAMES).action, 'rotate-ca');
    const { m, actions, last } = settle(undefined, T0);
    assert.deepEqual(actions, ['rotate-ca']);
    assert.ok(trusted(m, served(m), T0));
    assert.equal(parseCertificates(m.caBundle).length, 1);
    assert.equal(last.action, 'keep');
    assert.equal(last.recheckAt, Math.min(T0 + YEAR * 2 / 3, T0 + 5 * YEAR * 2 / 3), 'next check: the serving renewal');
  });

  test('the serving certificate is renewed when less than a third of its life is left', () => {
    const { m } = settle(undefined, T0);
    assert.equal(certPlan(m, T0 + Math.floor(YEAR * 2 / 3) - 1000, NAMES).action, 'keep');
    const p = certPlan(m, T0 + Math.ceil(YEAR * 2 / 3) + 1000, NAMES);
    assert.equal(p.action, 'renew-serving');
    assert.match(p.why, /less than a third/);
    const next = applyCertPlan(m, p, T0 + YEAR, NAMES, 'x');
    assert.ok(next);
    assert.equal(next.caBundle, m.caBundle, 'same CA');
    assert.notEqual(served(next).serialNumber, served(m).serialNumber);
  });

  test('names changed, key swapped, expired, unknown issuer: renew; CA key lost: new CA', () => {
    const { m } = settle(undefined, T0);
    const p = certPlan(m, T0 + DAY, [...NAMES, 'extra.example']);
    assert.equal(p.action, 'renew-serving');
    assert.match(p.why, /names changed/);
    const renewed = applyCertPlan(m, p, T0 + DAY, [...NAMES, 'extra.example'], 'x');
    assert.ok(renewed && served(renewed).checkHost('extra.example'));
    const other = settle(undefined, T0).m;
    assert.match(certPlan({ ...m, key: other.key }, T0, NAMES).why, /tls\.key does not belong/);
    assert.match(certPlan({ ...m, cert: other.cert, key: other.key }, T0, NAMES).why, /signed by no CA/);
    assert.match(certPlan(m, T0 + 2 * YEAR, NAMES).why, /expired/);
    const lost = certPlan({ ...m, caKey: createCA({ commonName: 'x', now: T0, validityMs: DAY }).keyPem }, T0, NAMES);
    assert.deepEqual([lost.action, lost.why], ['rotate-ca', 'no usable CA: ca.key matches no CA in ca.crt']);
  });

  test('CA rotation in three steps: trust first, then use, then the old CA goes', () => {
    const { m } = settle(undefined, T0);
    const t = T0 + Math.ceil(5 * YEAR * 2 / 3) + 1000;
    // the serving certificate would be due too by then: renew it as a year would have, so only the CA is due
    const fresh = applyCertPlan(m, { action: 'renew-serving', why: 'test' }, t - DAY, NAMES, 'x');
    assert.ok(fresh);
    const p1 = certPlan(fresh, t, NAMES);
    assert.deepEqual(p1.action === 'rotate-ca' ? [p1.action, p1.reissueServing] : [], ['rotate-ca', false]);
    const m1 = applyCertPlan(fresh, p1, t, NAMES, 'x');
    assert.ok(m1);
    assert.equal(parseCertificates(m1.caBundle).length, 2, 'old and new CA trusted');
    assert.equal(m1.cert, fresh.cert, 'still serving the old CA\'s certificate');
    const prop = DEFAULT_CERT_TIMING.propagationMs;
    const wait = certPlan(m1, t + prop - 2000, NAMES);
    assert.equal(wait.action, 'keep');
    assert.ok(Math.abs(wait.recheckAt - (t + prop)) <= 1000, 'recheck when the new CA has propagated');
    const p2 = certPlan(m1, t + prop + 1000, NAMES);
    assert.equal(p2.action, 'renew-serving');
    const m2 = applyCertPlan(m1, p2, t + prop + 1000, NAMES, 'x');
    assert.ok(m2);
    assert.ok(trusted(m2, served(fresh), t + prop), 'the previous certificate is still trusted');
    assert.equal(certPlan(m2, t + 2 * prop, NAMES).action, 'keep', 'replicas may still serve the old certificate');
    const p3 = certPlan(m2, t + 2 * prop + 2000, NAMES);
    assert.equal(p3.action, 'drop-old-ca');
    const m3 = applyCertPlan(m2, p3, t + 2 * prop + 2000, NAMES, 'x');
    assert.ok(m3);
    assert.equal(parseCertificates(m3.caBundle).length, 1);
    assert.ok(trusted(m3, served(m3), t + 2 * prop + 2000));
    assert.equal(certPlan(m3, t + 2 * prop + 3000, NAMES).action, 'keep');
  });

  test('a due CA with a broken serving certificate: the certificate is replaced by the trusted CA first; an expired CA starts over', () => {
    const { m } = settle(undefined, T0);
    const t = T0 + Math.ceil(5 * YEAR * 2 / 3) + DAY;
    const r = settle(m, t, [...NAMES, 'new.example']);
    assert.deepEqual(r.actions, ['renew-serving', 'rotate-ca']);
    assert.ok(trusted(m, served(r.m), t), 'the new certificate is trusted by the caBundle the apiserver already has');
    const expired = certPlan(m, T0 + 6 * YEAR, NAMES);
    assert.deepEqual(expired.action === 'rotate-ca' ? [expired.action, expired.reissueServing] : [], ['rotate-ca', true]);
  });

  test('12 years in steps of 1 to 40 days: what was served a step ago is always still trusted', () => {
    const seed = Number(process.env.SEED ?? Date.now() % 100_000);
    console.log(`seed ${seed}`);
    let x = seed;
    const rand = (): number => { x = (x * 1103515245 + 12345) % 2147483648; return x / 2147483648; };
    let now = T0;
    let { m } = settle(undefined, now);
    const seen = new Set<string>();
    while (now < T0 + 12 * YEAR) {
      const before = served(m);
      now += Math.floor((1 + rand() * 39) * DAY);
      const r = settle(m, now);
      for (const a of r.actions) seen.add(a);
      assert.ok(trusted(r.m, served(r.m), now), `served certificate trusted at ${new Date(now).toISOString()}`);
      if (now < Date.parse(before.validTo)) assert.ok(trusted(r.m, before, now), `the previously served certificate is still trusted at ${new Date(now).toISOString()} (after ${r.actions.join(',')})`);
      m = r.m;
    }
    assert.deepEqual([...seen].sort(), ['drop-old-ca', 'renew-serving', 'rotate-ca']);
  });
});

// ───────────── the manager against an in-memory API

interface Obj { metadata: { name: string; resourceVersion?: string }; [k: string]: unknown }

class FakeApi implements Requester {
  readonly objects = new Map<string, Obj>();
  readonly log: string[] = [];
  rv = 1;
  conflictNext = false;

  put(path: string, o: Obj): void { this.objects.set(path, { ...o, metadata: { ...o.metadata, resourceVersion: String(this.rv++) } }); }

  request<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>> {
    this.log.push(`${method} ${path}`);
    const res = (status: number, b: unknown = {}): Promise<ApiResponse<T>> => Promise.resolve({ status, body: structuredClone(b) as T });
    if (method === 'GET') { const o = this.objects.get(path); return o ? res(200, o) : res(404); }
    if (method === 'POST') {
      const o = body as Obj;
      const p = `${path}/${o.metadata.name}`;
      if (this.objects.has(p)) return res(409);
      this.put(p, o);
      return res(201, this.objects.get(p));
    }
    if (method === 'PUT') {
      const cur = this.objects.get(path);
      const o = body as Obj;
      if (!cur) return res(404);
      if (this.conflictNext || o.metadata.resourceVersion !== cur.metadata.resourceVersion) { this.conflictNext = false; return res(409); }
      this.put(path, o);
      return res(200, this.objects.get(path));
    }
    if (method === 'PATCH') {
      const cur = structuredClone(this.objects.get(path));
      if (!cur) return res(404);
      for (const op of body as { op: string; path: string; value: string }[]) {
        const [, , i, ...rest] = op.path.split('/');
        const hook = (cur.webhooks as Record<string, unknown>[])[Number(i)];
        if (!hook) return res(422);
        if (op.op === 'test' && hook.name !== op.value) return res(422);
        if (op.op === 'add' && rest.join('/') === 'clientConfig/caBundle') hook.clientConfig = { ...(hook.clientConfig as object), caBundle: op.value };
      }
      this.put(path, cur);
      return res(200, this.objects.get(path));
    }
    return res(405);
  }

  writes(): string[] { return this.log.filter((l) => !l.startsWith('GET')); }
}

const SECRET = '/api/v1/namespaces/baregate-system/secrets/baregate-webhook-cert';
const VWC = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/baregate-validating';
const MWC = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/baregate-mutating';
const quiet = pino({ level: 'silent' });

function manager(api: FakeApi, clock: FakeClock, opts: { mode?: 'self' | 'external'; names?: string[] } = {}): { m: CertManager; pairs: ServingPair[] } {
  const pairs: ServingPair[] = [];
  const m = new CertManager({
    client: api, namespace: 'baregate-system', names: opts.names ?? NAMES, mode: opts.mode ?? 'self', clock, log: quiet,
    onServing: (p) => { pairs.push(p); }, pollMs: 10_000, timing: { propagationMs: 60_000 },
  });
  return { m, pairs };
}

const hooks = (...names: string[]): Obj & { webhooks: unknown[] } => ({ metadata: { name: 'x' }, webhooks: names.map((name) => ({ name, clientConfig: { service: { name: 'baregate-webhook' } } })) });
const bundleOf = (api: FakeApi, path: string): (string | undefined)[] =>
  ((api.objects.get(path)?.webhooks ?? []) as { clientConfig: { caBundle?: string } }[]).map((h) => h.clientConfig.caBundle);

describe('CertManager', () => {
  test('the leader creates the Secret, patches every webhook once; a steady state writes nothing', async () => {
    const api = new FakeApi();
    api.put(VWC, hooks('validate.baregate.io'));
    api.put(MWC, hooks('mutate-a', 'mutate-b'));
    const clock = new FakeClock(0, Date.now());
    const { m, pairs } = manager(api, clock);
    m.setLeader(true);
    m.start();
    await m.kick();
    assert.deepEqual(api.writes(), [`POST /api/v1/namespaces/baregate-system/secrets`, `PATCH ${VWC}`, `PATCH ${MWC}`]);
    const mat = materialOf(api.objects.get(SECRET));
    assert.ok(mat);
    assert.equal(api.objects.get(SECRET)?.type, 'kubernetes.io/tls');
    const want = Buffer.from(mat.caBundle).toString('base64');
    assert.deepEqual([...bundleOf(api, VWC), ...bundleOf(api, MWC)], [want, want, want]);
    assert.equal(pairs.length, 1);
    assert.equal(pairs[0]?.cert, mat.cert);
    assert.ok(m.hasServing());
    await clock.advanceAsync(60_000, 10_000);
    assert.equal(api.writes().length, 3, 'six polls later: no more writes');
    // someone re-applies a configuration without the caBundle: it is put back at the next poll
    api.put(VWC, hooks('validate.baregate.io'));
    await clock.advanceAsync(10_000);
    assert.deepEqual(api.writes().slice(3), [`PATCH ${VWC}`]);
    m.stop();
  });

  test('a missing configuration is not fatal and is patched once it appears', async () => {
    const api = new FakeApi();
    api.put(MWC, hooks('mutate'));
    const clock = new FakeClock(0, Date.now());
    const { m } = manager(api, clock);
    m.setLeader(true);
    m.start();
    await m.kick();
    assert.deepEqual(api.writes(), ['POST /api/v1/namespaces/baregate-system/secrets', `PATCH ${MWC}`]);
    api.put(VWC, hooks('validate'));
    await clock.advanceAsync(10_000);
    assert.deepEqual(api.writes().slice(2), [`PATCH ${VWC}`]);
    m.stop();
  });

  test('a standby never writes, serves what the leader wrote, and follows a rotation at its next poll', async () => {
    const api = new FakeApi();
    api.put(VWC, hooks('v'));
    const clock = new FakeClock(0, Date.now());
    const standby = manager(api, clock);
    standby.m.start();
    await standby.m.kick();
    assert.deepEqual(api.writes(), []);
    assert.equal(standby.m.hasServing(), false, 'nothing to serve yet');
    const leader = manager(api, clock);
    leader.m.setLeader(true);
    leader.m.start();
    await leader.m.kick();
    await clock.advanceAsync(10_000);
    assert.equal(standby.pairs.length, 1);
    assert.equal(standby.pairs[0]?.cert, leader.pairs[0]?.cert);
    const writesBefore = api.writes().filter((w) => w.includes('secrets')).length;
    await leader.m.force('serving');
    assert.equal(leader.pairs.length, 2);
    await clock.advanceAsync(10_000);
    assert.equal(standby.pairs.at(-1)?.cert, leader.pairs.at(-1)?.cert, 'the standby serves the new certificate');
    assert.equal(api.writes().filter((w) => w.includes('secrets')).length, writesBefore + 1);
    leader.m.stop();
    standby.m.stop();
  });

  test('forced CA rotation through the loop: bundle patched first, new certificate after propagation, old CA dropped after that', async () => {
    const api = new FakeApi();
    api.put(VWC, hooks('v'));
    const clock = new FakeClock(0, Date.now());
    const { m, pairs } = manager(api, clock);
    m.setLeader(true);
    m.start();
    await m.kick();
    const firstCert = pairs[0]?.cert;
    await m.force('ca');
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    let mat = m.current();
    assert.ok(mat);
    assert.equal(parseCertificates(mat.caBundle).length, 2);
    assert.equal(mat.cert, firstCert, 'served certificate unchanged while the new CA propagates');
    assert.deepEqual(bundleOf(api, VWC), [b64(mat.caBundle)], 'both CAs in the caBundle at once');
    await clock.advanceAsync(60_000, 10_000);
    await clock.advanceAsync(10_000);
    mat = m.current();
    assert.ok(mat);
    assert.notEqual(mat.cert, firstCert, 'reissued by the new CA');
    assert.equal(parseCertificates(mat.caBundle).length, 2, 'old CA still trusted right after');
    await clock.advanceAsync(80_000, 10_000);
    mat = m.current();
    assert.ok(mat);
    assert.equal(parseCertificates(mat.caBundle).length, 1, 'old CA dropped');
    assert.deepEqual(bundleOf(api, VWC), [b64(mat.caBundle)]);
    m.stop();
  });

  test('a write conflict re-reads and retries; external mode never writes, even leading', async () => {
    const api = new FakeApi();
    const clock = new FakeClock(0, Date.now());
    const { m } = manager(api, clock);
    m.setLeader(true);
    m.start();
    await m.kick();
    api.conflictNext = true;
    await m.force('serving');
    const puts = api.log.filter((l) => l.startsWith('PUT'));
    assert.equal(puts.length, 1, 'the conflicting PUT');
    await clock.advanceAsync(10_000);
    assert.equal(m.current()?.cert, materialOf(api.objects.get(SECRET) as never)?.cert);

    const ext = new FakeApi();
    ext.put(VWC, hooks('v'));
    const e = manager(ext, clock, { mode: 'external' });
    e.m.setLeader(true);
    e.m.start();
    await e.m.kick();
    assert.deepEqual(ext.writes(), []);
    ext.put(SECRET, api.objects.get(SECRET) as Obj);
    await clock.advanceAsync(10_000);
    assert.equal(e.pairs.length, 1, 'serves what cert-manager wrote');
    assert.deepEqual(ext.writes(), []);
    m.stop();
    e.m.stop();
  });
});
