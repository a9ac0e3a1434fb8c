/**
 * The REST event recorder against a scripted fake apiserver and a fake clock: retries (bounded, with
 * backoff), aggregation of repeats into a PATCH of the existing Event, the bounded backlog.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../clock.ts';
import { rootLogger } from '../log.ts';
import type { ApiResponse } from './client.ts';
import { ApiEventRecorder, type ApiEventRecorderOptions } from './events.ts';
import type { EventTarget } from './ports.ts';

const log = rootLogger.child({ op: 'events-test' });
log.level = 'silent';

interface Call { method: string; path: string; body: Record<string, unknown> }

/** Answers each request with the next scripted status (201/200 once the script is used up), or throws for 0. */
class FakeApi {
  readonly calls: Call[] = [];
  constructor(private readonly script: number[] = []) {}
  request<T>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>> {
    this.calls.push({ method, path, body: body as Record<string, unknown> });
    const status = this.script.shift() ?? (method === 'POST' ? 201 : 200);
    if (status === 0) return Promise.reject(new Error('socket hang up'));
    return Promise.resolve({ status, body: (status < 300 ? body : { kind: 'Status', code: status, message: 'scripted' }) as T });
  }
}

const svc: EventTarget = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'ns', uid: 'u1' } };

function recorder(api: FakeApi, clock: FakeClock, o: Partial<ApiEventRecorderOptions> = {}): ApiEventRecorder {
  return new ApiEventRecorder({ client: api, component: 'test', log, clock, minRetryMs: 500, maxRetryMs: 4000, maxAttempts: 4, ...o });
}

const eventName = (c: Call | undefined): unknown => (c?.body.metadata as { name?: string } | undefined)?.name;

test('a POST that fails (no answer, 500, 429) is retried with backoff under the same name until it lands', async () => {
  const api = new FakeApi([0, 500, 429]);
  const clock = new FakeClock();
  const r = recorder(api, clock);
  r.record(svc, 'Normal', 'IPAllocated', 'Assigned IP 192.0.2.1');
  await r.flushed();
  assert.equal(api.calls.length, 1);
  await clock.advanceAsync(499, 499);
  assert.equal(api.calls.length, 1, 'no retry before the first backoff');
  await clock.advanceAsync(1, 1);
  assert.equal(api.calls.length, 2, 'first retry after 500 ms');
  await clock.advanceAsync(999, 999);
  assert.equal(api.calls.length, 2);
  await clock.advanceAsync(1, 1);
  assert.equal(api.calls.length, 3, 'second retry 1000 ms later (doubled)');
  await clock.advanceAsync(2000, 2000);
  assert.equal(api.calls.length, 4);
  assert.ok(api.calls.every((c) => c.method === 'POST' && c.path === '/api/v1/namespaces/ns/events'));
  assert.equal(new Set(api.calls.map(eventName)).size, 1, 'one Event name across attempts: a lost answer cannot duplicate it');
  assert.equal(r.sent, 1);
  assert.equal(r.writes, 4);
  assert.equal(clock.pending(), 0);
});

test('retries are bounded: after maxAttempts the event is dropped and no timer is left', async () => {
  const api = new FakeApi([500, 500, 500, 500, 500, 500, 500, 500]);
  const clock = new FakeClock();
  const r = recorder(api, clock);
  r.record(svc, 'Warning', 'AllocationFailed', 'pool exhausted');
  await clock.advanceAsync(60_000, 250);
  assert.equal(api.calls.length, 4);
  assert.equal(r.dropped, 1);
  assert.equal(r.sent, 0);
  assert.equal(clock.pending(), 0);
  assert.equal(r.backlog(), 0);
});

test('a client error other than 429 is not retried', async () => {
  const api = new FakeApi([403]);
  const clock = new FakeClock();
  const r = recorder(api, clock);
  r.record(svc, 'Normal', 'IPAllocated', 'x');
  await clock.advanceAsync(60_000, 1000);
  assert.equal(api.calls.length, 1);
  assert.equal(r.dropped, 1);
});

test('a repeated identical event patches the existing Event: count and lastTimestamp', async () => {
  const api = new FakeApi();
  const clock = new FakeClock(0, Date.UTC(2026, 0, 1));
  const r = recorder(api, clock);
  r.record(svc, 'Warning', 'AllocationFailed', 'pool exhausted');
  await r.flushed();
  await clock.advanceAsync(61_000, 61_000);
  r.record(svc, 'Warning', 'AllocationFailed', 'pool exhausted');
  await r.flushed();
  assert.deepEqual(api.calls.map((c) => c.method), ['POST', 'PATCH']);
  const [post, patch] = api.calls;
  assert.ok(post && patch);
  assert.equal(post.body.count, 1);
  assert.equal(post.body.firstTimestamp, '2026-01-01T00:00:00.000Z');
  assert.equal(patch.path, `/api/v1/namespaces/ns/events/${String(eventName(post))}`);
  assert.deepEqual(patch.body, { count: 2, lastTimestamp: '2026-01-01T00:01:01.000Z' });
  // a different message is a different Event
  r.record(svc, 'Warning', 'AllocationFailed', 'no pool allows this Service');
  await r.flushed();
  assert.equal(api.calls[2]?.method, 'POST');
  assert.equal(r.sent, 2);
  assert.equal(r.patched, 1);
});

test('repeats while a write is waiting are folded into it', async () => {
  const api = new FakeApi([500]);
  const clock = new FakeClock();
  const r = recorder(api, clock);
  r.record(svc, 'Warning', 'AllocationFailed', 'pool exhausted');
  await r.flushed();
  for (let i = 0; i < 5; i++) r.record(svc, 'Warning', 'AllocationFailed', 'pool exhausted');
  await clock.advanceAsync(500, 500);
  await r.flushed();
  assert.equal(api.calls.length, 2, 'the failed create and its retry; no write per repeat');
  assert.equal(api.calls[1]?.body.count, 6);
});

test('an Event the apiserver no longer has is created again, carrying the count', async () => {
  const api = new FakeApi([201, 404]);
  const clock = new FakeClock();
  const r = recorder(api, clock);
  r.record(svc, 'Normal', 'IPReleased', 'Released 192.0.2.1');
  await r.flushed();
  r.record(svc, 'Normal', 'IPReleased', 'Released 192.0.2.1');
  await r.flushed();
  assert.deepEqual(api.calls.map((c) => c.method), ['POST', 'PATCH', 'POST']);
  assert.notEqual(eventName(api.calls[2]), eventName(api.calls[0]), 'a new name');
  assert.equal(api.calls[2]?.body.count, 2);
});

test('the backlog is bounded: events beyond it are dropped and counted', async () => {
  const api = new FakeApi(Array.from({ length: 100 }, () => 500));
  const clock = new FakeClock();
  const r = recorder(api, clock, { maxBacklog: 10 });
  for (let i = 0; i < 40; i++) r.record({ ...svc, metadata: { ...svc.metadata, name: `s${i}` } }, 'Normal', 'IPAllocated', 'x');
  await r.flushed();
  // 8 went out at once (and failed: now waiting for a retry), 10 waited in the queue; the rest had no room
  assert.equal(r.backlog(), 18, 'at most maxBacklog + the 8 in flight');
  assert.equal(r.dropped, 40 - 18);
  r.record(svc, 'Normal', 'IPAllocated', 'y');
  assert.equal(r.dropped, 40 - 18 + 1, 'still full');
});

test('forget drops what is remembered about an object', async () => {
  const api = new FakeApi();
  const clock = new FakeClock();
  const r = recorder(api, clock);
  r.record(svc, 'Normal', 'IPAllocated', 'x');
  await r.flushed();
  assert.equal(r.size, 1);
  r.forget('Service', 'ns', 'web');
  assert.equal(r.size, 0);
  r.record(svc, 'Normal', 'IPAllocated', 'x');
  await r.flushed();
  assert.deepEqual(api.calls.map((c) => c.method), ['POST', 'POST'], 'a recreated object gets a new Event');
});

test('events about cluster-scoped objects go to the event namespace', async () => {
  const api = new FakeApi();
  const r = recorder(api, new FakeClock());
  r.record({ apiVersion: 'baregate.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'p' } }, 'Warning', 'PoolOverlap', 'x');
  await r.flushed();
  assert.equal(api.calls[0]?.path, '/api/v1/namespaces/default/events');
});

test('the series remembered for aggregation are bounded, least recently used forgotten first', async () => {
  const api = new FakeApi();
  const r = recorder(api, new FakeClock(), { maxSeries: 3 });
  const at = (name: string): EventTarget => ({ ...svc, metadata: { ...svc.metadata, name } });
  for (const n of ['a', 'b', 'c']) { r.record(at(n), 'Normal', 'IPAllocated', 'x'); await r.flushed(); }
  r.record(at('a'), 'Normal', 'IPAllocated', 'x'); // a is now the most recently used
  await r.flushed();
  r.record(at('d'), 'Normal', 'IPAllocated', 'x');
  await r.flushed();
  assert.equal(r.size, 3);
  r.record(at('a'), 'Normal', 'IPAllocated', 'x');
  r.record(at('b'), 'Normal', 'IPAllocated', 'x');
  await r.flushed();
  assert.deepEqual(api.calls.slice(-2).map((c) => c.method), ['PATCH', 'POST'], 'a is still known; b was forgotten');
});
