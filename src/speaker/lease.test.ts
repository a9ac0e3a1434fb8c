/**
 * SpeakerLease against an in-memory Lease store (resourceVersions, conflicts, 404s) on a FakeClock, with a
 * client that can hang or ignore deadlines; LeaseWatch judged on the observer's clock only.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { FakeClock } from '../clock.ts';
import { SPEAKER_LEASE_LABEL, SYSTEM_NAMESPACE } from '../api/keys.ts';
import type { ApiResponse, RequestOptions } from '../k8s/client.ts';
import { LeaseWatch, SpeakerLease, speakerLeaseLabelValue, speakerLeaseName, type LeaseRequester, type SpeakerLeaseObject } from './lease.ts';

const log = pino({ level: 'silent' });

/** A Lease store applying each request atomically, answered after 1 ms. */
class FakeApi implements LeaseRequester {
  readonly store = new Map<string, SpeakerLeaseObject>();
  readonly calls: { at: number; method: string; path: string; opts: RequestOptions | undefined }[] = [];
  private rv = 1;
  /** 'ok' answers; 'hang' never answers (and ignores the abort signal: the lease must enforce its deadline). */
  mode: 'ok' | 'hang' | 'error' = 'ok';
  constructor(private readonly clock: FakeClock) {}

  /** Another writer changes the stored object (e.g. the previous pod), bumping its resourceVersion. */
  touch(name: string): void {
    const l = this.store.get(name);
    if (l) l.metadata.resourceVersion = String(++this.rv);
  }

  request<T = unknown>(method: string, path: string, body?: unknown, _ct?: string, opts?: RequestOptions): Promise<ApiResponse<T>> {
    this.calls.push({ at: this.clock.now(), method, path, opts });
    if (this.mode === 'hang') return new Promise(() => undefined);
    return new Promise((resolve) => {
      this.clock.setTimeout(() => { resolve(this.apply(method, path, body) as ApiResponse<T>); }, 1);
    });
  }

  private apply(method: string, path: string, body: unknown): ApiResponse {
    if (this.mode === 'error') return { status: 500, body: { message: 'etcdserver: request timed out' } };
    const m = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/(.+))?$/.exec(path);
    if (!m) return { status: 400, body: {} };
    const name = m[2];
    const cur = name === undefined ? undefined : this.store.get(name);
    const b = structuredClone(body) as SpeakerLeaseObject;
    switch (method) {
      case 'GET': return cur ? { status: 200, body: structuredClone(cur) } : { status: 404, body: { code: 404 } };
      case 'DELETE': if (!cur || name === undefined) return { status: 404, body: {} }; this.store.delete(name); return { status: 200, body: {} };
      case 'POST':
        if (this.store.has(b.metadata.name)) return { status: 409, body: { reason: 'AlreadyExists' } };
        b.metadata.resourceVersion = String(++this.rv);
        this.store.set(b.metadata.name, b);
        return { status: 201, body: structuredClone(b) };
      case 'PUT':
        if (!cur) return { status: 404, body: {} };
        if (b.metadata.resourceVersion !== cur.metadata.resourceVersion) return { status: 409, body: { reason: 'Conflict' } };
        b.metadata.resourceVersion = String(++this.rv);
        this.store.set(b.metadata.name, b);
        return { status: 200, body: structuredClone(b) };
      default: return { status: 405, body: {} };
    }
  }
}

const flush = (): Promise<void> => new Promise((r) => { setImmediate(r); });
async function run(clock: FakeClock, ms: number, step = 1): Promise<void> {
  for (let t = 0; t < ms; t += step) { clock.advance(step); await flush(); }
}

function setup(extra: Partial<ConstructorParameters<typeof SpeakerLease>[1]> = {}): { clock: FakeClock; api: FakeApi; lease: SpeakerLease; health: { at: number; h: boolean }[] } {
  const clock = new FakeClock();
  const api = new FakeApi(clock);
  const lease = new SpeakerLease(api, { node: 'node-a', log, clock, ...extra });
  const health: { at: number; h: boolean }[] = [];
  lease.onHealth((h) => { health.push({ at: clock.now(), h }); });
  return { clock, api, lease, health };
}

const NAME = speakerLeaseName('node-a');

test('creates the Lease with holder, duration, label and MicroTime renewTime, then renews with one PUT every duration/3', async () => {
  const { clock, api, lease, health } = setup();
  lease.start();
  await run(clock, 10);
  const l = api.store.get(NAME);
  assert.ok(l);
  assert.equal(l.metadata.namespace, SYSTEM_NAMESPACE);
  assert.equal(NAME, 'baregate-speaker-node-a');
  assert.deepEqual(l.metadata.labels, { [SPEAKER_LEASE_LABEL]: 'node-a' });
  assert.equal(l.spec.holderIdentity, 'node-a');
  assert.equal(l.spec.leaseDurationSeconds, 15);
  assert.match(l.spec.renewTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  assert.deepEqual(api.calls.map((c) => c.method), ['GET', 'POST']);
  assert.ok(lease.healthy());
  assert.deepEqual(health, [{ at: 2, h: true }]);
  const before = api.calls.length;
  await run(clock, 60_000, 100);
  const later = api.calls.slice(before);
  assert.equal(later.length, 12, 'one request per renewal');
  assert.ok(later.every((c) => c.method === 'PUT'));
  const gaps = later.slice(1).map((c, i) => c.at - (later[i]?.at ?? 0));
  assert.ok(gaps.every((g) => g >= 4900 && g <= 5100), `renewal gaps ${gaps.join(',')}`);
  assert.ok(api.calls.every((c) => c.opts?.timeoutMs === 2500 && c.opts.connection === `lease:${SYSTEM_NAMESPACE}/${NAME}` && c.opts.signal), 'every request has a deadline and a dedicated connection');
  assert.equal(lease.failures, 0);
  lease.stop();
});

test('an apiserver that stops answering makes the lease unhealthy at the first missed deadline; recovery makes it healthy again', async () => {
  const { clock, api, lease, health } = setup();
  lease.start();
  await run(clock, 100, 10);
  assert.ok(lease.healthy());
  api.mode = 'hang'; // and the client ignores abort: only the lease's own deadline ends the request
  await run(clock, 5000 + 2500 + 10, 10);
  assert.equal(lease.healthy(), false);
  const down = health.find((x) => !x.h);
  assert.ok(down && down.at >= 7500 && down.at <= 7520, `unhealthy at ${down?.at}: the renewal at ~5000 timed out at ~7500, long before the 15 s duration`);
  api.mode = 'ok';
  await run(clock, 6000, 10);
  assert.ok(lease.healthy());
  assert.deepEqual(health.map((x) => x.h), [true, false, true]);
  assert.ok(lease.failures >= 1);
  lease.stop();
});

test('errors answered by the apiserver count as failures and are retried sooner than the renew interval', async () => {
  const { clock, api, lease } = setup();
  api.mode = 'error';
  lease.start();
  await run(clock, 4100, 10);
  assert.equal(lease.healthy(), false);
  const gets = api.calls.filter((c) => c.method === 'GET').map((c) => c.at);
  assert.deepEqual(gets.slice(0, 3), [0, 2000, 4000], 'retry every 2 s');
  api.mode = 'ok';
  await run(clock, 2100, 10);
  assert.ok(lease.healthy());
  lease.stop();
});

test('a conflicting write (another writer) is re-read and renewed within the same attempt', async () => {
  const { clock, api, lease } = setup();
  lease.start();
  await run(clock, 10);
  api.touch(NAME);
  const n = api.calls.length;
  await run(clock, 5010, 10);
  assert.deepEqual(api.calls.slice(n).map((c) => c.method), ['PUT', 'GET', 'PUT']);
  assert.ok(lease.healthy());
  assert.equal(lease.failures, 0);
  lease.stop();
});

test('a Lease deleted by someone else is created again at the next renewal', async () => {
  const { clock, api, lease } = setup();
  lease.start();
  await run(clock, 10);
  api.store.delete(NAME);
  await run(clock, 5100, 10);
  assert.ok(api.store.has(NAME));
  assert.deepEqual(api.calls.slice(2).map((c) => c.method), ['PUT', 'GET', 'POST'], 'PUT 404, read, create');
  assert.ok(lease.healthy());
  lease.stop();
});

test('delete(): stops renewing and deletes the Lease; a failure is logged, never thrown', async () => {
  const { clock, api, lease } = setup();
  lease.start();
  await run(clock, 10);
  const done = lease.delete();
  await run(clock, 10);
  await done;
  assert.equal(api.store.has(NAME), false);
  const n = api.calls.length;
  await run(clock, 20_000, 100);
  assert.equal(api.calls.length, n, 'no renewal after delete');
  assert.equal(lease.healthy(), false);
  const b = setup();
  b.api.mode = 'hang';
  const p = b.lease.delete();
  await run(b.clock, 3000, 100);
  await p; // resolves after its deadline
});

test('options are checked; label value falls back to empty for names that are no label value', () => {
  const api = new FakeApi(new FakeClock());
  assert.throws(() => new SpeakerLease(api, { node: 'n', log, leaseDurationSeconds: 3, renewIntervalMs: 3000 }), /shorter than the lease/);
  assert.throws(() => new SpeakerLease(api, { node: 'n', log, renewIntervalMs: 1000, requestTimeoutMs: 1000 }), /shorter than renewIntervalMs/);
  assert.equal(speakerLeaseLabelValue('worker-1.example'), 'worker-1.example');
  assert.equal(speakerLeaseLabelValue('a'.repeat(64)), '');
  assert.equal(speakerLeaseLabelValue('a'.repeat(63)), 'a'.repeat(63));
});

// ---------------------------------------------------------------------------------------------------

const leaseObj = (rv: string, renewTime: string, extra: { holderIdentity?: string; leaseDurationSeconds?: number } = {}) => ({
  metadata: { name: speakerLeaseName('b'), resourceVersion: rv },
  spec: { holderIdentity: 'b', renewTime, leaseDurationSeconds: 15, ...extra },
});

test('LeaseWatch: fresh for leaseDurationSeconds after we saw a change, on our clock; expiry notified exactly then', () => {
  const clock = new FakeClock(1000);
  const w = new LeaseWatch({ clock });
  const seen: { at: number; fresh: [string, boolean][] }[] = [];
  w.onChange((f) => { seen.push({ at: clock.now(), fresh: [...f] }); });
  // the remote renewTime is years off our wall clock: it must not matter
  w.observe(leaseObj('10', '1999-01-01T00:00:00.000000Z'), 'b');
  assert.equal(w.isFresh('b'), true, 'first sighting counts as a change');
  clock.advance(10_000);
  w.observe(leaseObj('10', '1999-01-01T00:00:00.000000Z'), 'b'); // resync: same object
  clock.advance(4999);
  assert.equal(w.isFresh('b'), true);
  clock.advance(1);
  assert.equal(w.isFresh('b'), false, '15 s after the first sighting: a resync does not refresh');
  assert.deepEqual(seen, [{ at: 1000, fresh: [['b', true]] }, { at: 16_000, fresh: [['b', false]] }]);
  w.observe(leaseObj('11', '1999-01-01T00:00:05.000000Z'), 'b');
  assert.equal(w.isFresh('b'), true, 'renewed');
  clock.advance(14_999);
  assert.equal(w.isFresh('b'), true);
  w.observe(leaseObj('12', '2999-01-01T00:00:00.000000Z', { leaseDurationSeconds: 2 }), 'b');
  clock.advance(1999);
  assert.equal(w.isFresh('b'), true);
  clock.advance(1);
  assert.equal(w.isFresh('b'), false, 'the Lease\'s own duration applies');
  assert.equal(seen.length, 4);
});

test('LeaseWatch: a deleted Lease is forgotten, a released one (no holder) is not fresh', () => {
  const clock = new FakeClock();
  const w = new LeaseWatch({ clock });
  w.observe(leaseObj('1', 't1'), 'b');
  w.observe({ metadata: { name: speakerLeaseName('c'), resourceVersion: '2' }, spec: { holderIdentity: '', renewTime: 't' } }, 'c');
  assert.deepEqual([...w.fresh()], [['b', true], ['c', false]]);
  w.observe(undefined, 'b');
  assert.deepEqual([...w.fresh()], [['c', false]]);
  assert.equal(clock.pending(), 1, 'the deleted Lease\'s timer is gone');
  w.stop();
  assert.equal(clock.pending(), 0);
});
