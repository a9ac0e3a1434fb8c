/**
 * Leader election against an in-memory apiserver (linearizable Lease store with resourceVersions) and a
 * FakeClock: requests reach the server after a delay, may be lost before or after the server applied
 * them, or hang forever. The invariant: at no instant do two live electors both act.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { pino } from 'pino';
import { FakeClock } from '../clock.ts';
import type { ApiResponse, RequestOptions } from './client.ts';
import { LeaderElector, type LeaderOptions, type LeaseRequester } from './leader.ts';

const log = pino({ level: 'silent' });

interface StoredLease { metadata: { name: string; namespace: string; resourceVersion?: string }; spec: Record<string, unknown> }

/** A Lease store that applies each request atomically at the instant it arrives. */
class FakeServer {
  lease: StoredLease | undefined;
  private rv = 1;
  writes: { at: number; holder: unknown }[] = [];

  constructor(private readonly clock: FakeClock) {}

  apply(method: string, body: unknown): ApiResponse {
    const clone = <T>(x: T): T => structuredClone(x);
    if (method === 'GET') return this.lease ? { status: 200, body: clone(this.lease) } : { status: 404, body: { code: 404 } };
    const b = clone(body) as StoredLease;
    if (method === 'POST') {
      if (this.lease) return { status: 409, body: { code: 409 } };
    } else if (method === 'PUT') {
      if (!this.lease) return { status: 404, body: { code: 404 } };
      if (b.metadata.resourceVersion !== this.lease.metadata.resourceVersion) return { status: 409, body: { code: 409, reason: 'Conflict' } };
    } else {
      return { status: 405, body: {} };
    }
    b.metadata.resourceVersion = String(++this.rv);
    this.lease = b;
    this.writes.push({ at: this.clock.now(), holder: b.spec.holderIdentity });
    return { status: method === 'POST' ? 201 : 200, body: clone(b) };
  }
}

/** How one request fares: delays to and from the server, and whether it is lost or hangs. */
interface Fate { toServer: number; back: number; kind: 'ok' | 'lostBefore' | 'lostAfter' | 'hang' }
const okFate: Fate = { toServer: 1, back: 1, kind: 'ok' };

/** A client of the fake server. It ignores deadlines unless `honourAbort`: the elector must enforce its own. */
class FakeClient implements LeaseRequester {
  readonly seen: { method: string; opts: RequestOptions | undefined }[] = [];
  crashed = false;
  next: () => Fate = () => okFate;

  constructor(private readonly server: FakeServer, private readonly clock: FakeClock, private readonly honourAbort = true) {}

  request<T = unknown>(method: string, _path: string, body?: unknown, _ct?: string, opts?: RequestOptions): Promise<ApiResponse<T>> {
    this.seen.push({ method, opts });
    if (this.crashed) return new Promise(() => undefined);
    const f = this.next();
    return new Promise((resolve, reject) => {
      if (this.honourAbort) opts?.signal?.addEventListener('abort', () => { reject(new Error('aborted')); });
      this.clock.setTimeout(() => {
        if (this.crashed) return;
        if (f.kind === 'lostBefore') { this.clock.setTimeout(() => { reject(new Error('ECONNRESET')); }, f.back); return; }
        const res = this.server.apply(method, body);
        if (f.kind === 'hang') return;
        this.clock.setTimeout(() => { if (f.kind === 'lostAfter') reject(new Error('socket hang up')); else resolve(res as ApiResponse<T>); }, f.back);
      }, f.toServer);
    });
  }
}

const flush = (): Promise<void> => new Promise((r) => { setImmediate(r); });

/** Advances the fake clock in small steps, letting promise continuations run between them. */
async function run(clock: FakeClock, ms: number, step: number, each?: () => void): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    await flush();
    each?.();
  }
}

/** Stops electors while the clock moves (a release needs the fake server to answer). */
async function stopAll(clock: FakeClock, ...rs: (Replica | undefined)[]): Promise<void> {
  const done = Promise.all(rs.filter((r) => r !== undefined).map((r) => r.elector.stop().catch(() => undefined)));
  await run(clock, 3000, 10);
  await done;
}

const timing = { leaseDurationSeconds: 3, renewDeadlineMs: 2000, retryPeriodMs: 250 } as const;

interface Replica { id: string; elector: LeaderElector; client: FakeClient; acting: boolean; crashed: boolean; starts: number[]; stops: number[] }

function replicas(n: number, clock: FakeClock, server: FakeServer, onStart: (r: Replica) => void = () => undefined, extra: Partial<LeaderOptions> = {}, honourAbort = true): Replica[] {
  const out: Replica[] = [];
  for (let i = 0; i < n; i++) {
    const client = new FakeClient(server, clock, honourAbort);
    const r = { id: `r${i}`, client, acting: false, crashed: false, starts: [], stops: [] } as unknown as Replica;
    r.elector = new LeaderElector(client, {
      namespace: 'ns', name: 'lease', identity: r.id, log, clock, keepProcessAlive: false, ...timing, ...extra,
      onStartedLeading: () => { onStart(r); r.acting = true; r.starts.push(clock.now()); },
      onStoppedLeading: () => { r.acting = false; r.stops.push(clock.now()); },
    });
    out.push(r);
  }
  return out;
}

test('options: lease longer than renew deadline, request deadline shorter than it', () => {
  const c = new FakeClient(new FakeServer(new FakeClock()), new FakeClock());
  const base = { namespace: 'n', name: 'l', identity: 'i', log, onStartedLeading: () => undefined, onStoppedLeading: () => undefined };
  assert.throws(() => new LeaderElector(c, { ...base, leaseDurationSeconds: 3, renewDeadlineMs: 3000 }), /must be longer/);
  assert.throws(() => new LeaderElector(c, { ...base, renewDeadlineMs: 2000, requestTimeoutMs: 2000 }), /shorter than renewDeadlineMs/);
  assert.doesNotThrow(() => new LeaderElector(c, { ...base, leaseDurationSeconds: 3 }), 'defaults scale down to a short lease');
});

test('every Lease request carries a deadline shorter than the renew deadline and a dedicated connection', async () => {
  const clock = new FakeClock();
  const server = new FakeServer(clock);
  const [a] = replicas(1, clock, server);
  a!.elector.start();
  await run(clock, 3000, 10);
  assert.ok(a!.elector.isLeader);
  assert.ok(a!.client.seen.length >= 10);
  for (const s of a!.client.seen) {
    assert.ok(s.opts?.timeoutMs !== undefined && s.opts.timeoutMs < timing.renewDeadlineMs, `${s.method} deadline ${s.opts?.timeoutMs}`);
    assert.equal(s.opts.connection, 'lease:ns/lease');
    assert.ok(s.opts.signal instanceof AbortSignal);
  }
  await stopAll(clock, a);
});

test('a renewal that hangs: the leader stops acting at the renew deadline; the standby acquires only after the lease expired', async () => {
  const clock = new FakeClock();
  const server = new FakeServer(clock);
  const [a, b] = replicas(2, clock, server, () => undefined, {}, false); // the client ignores deadlines: the elector must not
  a!.elector.start();
  await run(clock, 1000, 10);
  assert.ok(a!.acting);
  b!.elector.start();
  await run(clock, 1000, 10);
  assert.ok(!b!.acting);
  // from now on a's requests reach nobody and never return (a silently dead connection)
  a!.client.next = () => ({ toServer: 1e9, back: 0, kind: 'hang' });
  const lastWrite = server.writes.at(-1)!;
  assert.equal(lastWrite.holder, 'r0');
  await run(clock, 6000, 10, () => { assert.ok(!(a!.elector.isLeader && b!.elector.isLeader)); });
  assert.equal(a!.stops.length, 1, 'a stepped down while its request was still hanging');
  assert.ok(a!.stops[0]! <= lastWrite.at + timing.renewDeadlineMs, `a acted until ${a!.stops[0]}, renewal sent before ${lastWrite.at}`);
  assert.equal(b!.starts.length, 1);
  assert.ok(b!.starts[0]! >= lastWrite.at + timing.leaseDurationSeconds * 1000, `b took over at ${b!.starts[0]}, the lease was last written at ${lastWrite.at}`);
  assert.ok(b!.starts[0]! > a!.stops[0]!);
  assert.equal(server.lease?.spec.holderIdentity, 'r1');
  await stopAll(clock, a, b);
});

test('stop() cancels a hung request and releases the lease; the standby takes over without waiting for expiry', async () => {
  const clock = new FakeClock();
  const server = new FakeServer(clock);
  const [a, b] = replicas(2, clock, server);
  a!.elector.start();
  await run(clock, 500, 10);
  b!.elector.start();
  await run(clock, 500, 10);
  assert.ok(a!.acting && !b!.acting);
  let hung = 0;
  a!.client.next = () => (hung++ === 0 ? { toServer: 1e9, back: 0, kind: 'hang' } : okFate);
  await run(clock, 300, 10); // a's next attempt is now stuck
  assert.equal(hung, 1);
  const before = clock.now();
  const stopped = a!.elector.stop();
  assert.equal(a!.elector.isLeader, false, 'not leader from the moment stop() is called');
  await run(clock, 50, 10);
  await stopped;
  assert.ok(server.writes.some((w) => w.holder === '' && w.at >= before), 'released');
  await run(clock, 1000, 10);
  assert.equal(b!.starts.length, 1);
  assert.ok(b!.starts[0]! - before < timing.leaseDurationSeconds * 1000, 'took over after the release, not after expiry');
  await stopAll(clock, b);
});

const fateArb: fc.Arbitrary<Fate> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ toServer: fc.integer({ min: 0, max: 50 }), back: fc.integer({ min: 0, max: 50 }), kind: fc.constant('ok' as const) }) },
  { weight: 2, arbitrary: fc.record({ toServer: fc.integer({ min: 0, max: 3500 }), back: fc.integer({ min: 0, max: 3500 }), kind: fc.constant('ok' as const) }) },
  { weight: 1, arbitrary: fc.record({ toServer: fc.integer({ min: 0, max: 3000 }), back: fc.integer({ min: 0, max: 3000 }), kind: fc.constantFrom('lostBefore' as const, 'lostAfter' as const, 'hang' as const) }) },
);
const actionArb = fc.record({ at: fc.integer({ min: 0, max: 14_000 }), who: fc.integer({ min: 0, max: 2 }), what: fc.constantFrom('stop', 'start', 'crash') });

test('property: no instant where two electors both act, for any interleaving of slow, failed and successful renewals', async () => {
  const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
  const numRuns = Number(process.env.FC_RUNS ?? 120);
  console.log(`leader election property: seed ${seed} (re-run with FC_SEED=${seed}), ${numRuns} runs`);
  let runsWithLeader = 0;
  let takeovers = 0;
  await fc.assert(fc.asyncProperty(
    fc.array(fc.array(fateArb, { maxLength: 80 }), { minLength: 3, maxLength: 3 }),
    fc.array(actionArb, { maxLength: 6 }),
    fc.boolean(),
    async (fates, actions, honourAbort) => {
      const clock = new FakeClock();
      const server = new FakeServer(clock);
      const rs = replicas(3, clock, server, (r) => {
        for (const o of rs) {
          if (o === r || o.crashed) continue;
          assert.ok(!o.acting, `${r.id} started leading at ${clock.now()} while ${o.id} acts`);
          assert.ok(!o.elector.isLeader, `${r.id} started leading at ${clock.now()} while ${o.id} believes it leads`);
        }
      }, {}, honourAbort);
      rs.forEach((r, i) => { let n = 0; const list = fates[i] ?? []; r.client.next = () => list[n++] ?? okFate; });
      for (const r of rs) r.elector.start();
      const todo = [...actions].sort((x, y) => x.at - y.at);
      const seen = { led: false };
      const holders = new Set<unknown>();
      await run(clock, 16_000, 10, () => {
        while (todo.length > 0 && todo[0]!.at <= clock.now()) {
          const a = todo.shift()!;
          const r = rs[a.who]!;
          if (r.crashed) continue;
          if (a.what === 'stop') { r.acting = false; void r.elector.stop(); }
          else if (a.what === 'start') r.elector.start();
          else { r.acting = false; r.crashed = true; r.client.crashed = true; }
        }
        const live = rs.filter((r) => !r.crashed);
        assert.ok(live.filter((r) => r.elector.isLeader).length <= 1, `two electors believe they lead at ${clock.now()}`);
        assert.ok(live.filter((r) => r.acting).length <= 1, `two electors act at ${clock.now()}`);
        if (live.some((r) => r.acting)) seen.led = true;
        holders.add(server.lease?.spec.holderIdentity);
      });
      if (seen.led) runsWithLeader++;
      if ([...holders].filter((h) => typeof h === 'string' && h !== '').length > 1) takeovers++;
      await stopAll(clock, ...rs);
    },
  ), { seed, numRuns });
  // the property is not vacuous: leaders were elected and leadership changed hands
  assert.ok(runsWithLeader > numRuns / 2, `only ${runsWithLeader}/${numRuns} runs elected a leader`);
  assert.ok(takeovers > numRuns / 10, `only ${takeovers}/${numRuns} runs saw leadership change hands`);
});
