import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { FakeClock } from '../clock.ts';
import { WorkQueue, type Outcome } from './workqueue.ts';

const log = pino({ level: 'silent' });
const flush = (): Promise<void> => new Promise((r) => { setImmediate(r); });

test('merges events per key and never runs one key twice at once', async () => {
  const runs: string[] = [];
  const inflight = new Map<string, number>();
  let maxConcurrentSameKey = 0;
  const release: (() => void)[] = [];
  const q = new WorkQueue(async (k) => {
    inflight.set(k, (inflight.get(k) ?? 0) + 1);
    maxConcurrentSameKey = Math.max(maxConcurrentSameKey, inflight.get(k)!);
    runs.push(k);
    await new Promise<void>((r) => release.push(r)); // held until the test lets it finish
    inflight.set(k, inflight.get(k)! - 1);
    return 'ok';
  }, { log, concurrency: 4 });
  for (let i = 0; i < 5; i++) q.add('a');
  q.add('b');
  q.start();
  await flush();
  assert.deepEqual(runs, ['a', 'b'], 'five adds of a pending key are one item');
  q.add('a'); // while a runs: must run again afterwards, not concurrently
  q.add('a');
  await flush();
  assert.deepEqual(runs, ['a', 'b'], 'not started while the first run of a is in progress');
  while (release.length > 0) { release.shift()!(); await flush(); }
  await q.idle();
  assert.equal(maxConcurrentSameKey, 1);
  assert.deepEqual(runs.filter((k) => k === 'a').length, 2, 'adds during a run merge into one more run');
  assert.deepEqual(runs.filter((k) => k === 'b').length, 1);
});

test('retries back off exponentially up to the cap; thrown errors count as retry; ok resets the backoff', async () => {
  const clock = new FakeClock();
  const at: number[] = [];
  let n = 0;
  const q = new WorkQueue((): Promise<Outcome> => {
    at.push(clock.now());
    n++;
    if (n === 1) throw new Error('boom');
    return Promise.resolve(n < 7 ? 'retry' : 'ok');
  }, { log, minRetryMs: 100, maxRetryMs: 1000, clock });
  q.start();
  q.add('x');
  await flush();
  for (let i = 0; i < 200 && n < 7; i++) { clock.advance(50); await flush(); }
  await q.idle();
  assert.equal(n, 7);
  const gaps = at.slice(1).map((t, i) => t - at[i]!);
  assert.deepEqual(gaps, [100, 200, 400, 800, 1000, 1000], 'each delay doubles from minRetryMs and stops at maxRetryMs');
  assert.equal(q.length, 0);
  // after ok, the next failure starts again from minRetryMs
  n = 1;
  at.length = 0;
  q.add('x');
  await flush();
  for (let i = 0; i < 10 && n < 3; i++) { clock.advance(50); await flush(); }
  assert.deepEqual(at.slice(1).map((t, i) => t - at[i]!), [100]);
  q.stop();
});

test('a retry waits its full delay: nothing runs before it, an add() runs at once and cancels the timer', async () => {
  const clock = new FakeClock();
  let n = 0;
  const q = new WorkQueue(() => { n++; return Promise.resolve(n === 1 ? 'retry' : 'ok'); }, { log, minRetryMs: 500, clock });
  q.start();
  q.add('k');
  await flush();
  assert.equal(n, 1);
  clock.advance(499);
  await flush();
  assert.equal(n, 1, 'not retried before the backoff elapsed');
  assert.equal(q.length, 1, 'the waiting retry counts as work');
  q.add('k'); // a new event: processed now, not after the backoff
  await flush();
  assert.equal(n, 2);
  clock.advance(10_000);
  await flush();
  assert.equal(n, 2, 'the cancelled retry timer does not run the key again');
  assert.equal(clock.pending(), 0);
  q.stop();
});

test('stop() cancels retry timers', async () => {
  const clock = new FakeClock();
  let n = 0;
  const q = new WorkQueue(() => { n++; return Promise.resolve('retry' as const); }, { log, minRetryMs: 100, clock });
  q.start();
  q.add('k');
  await flush();
  q.stop();
  clock.advance(10_000);
  await flush();
  assert.equal(n, 1);
});
