import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { WorkQueue, type Outcome } from './workqueue.ts';

const log = pino({ level: 'silent' });

test('merges events per key and never runs one key twice at once', async () => {
  const runs: string[] = [];
  let concurrent = 0;
  let maxConcurrentSameKey = 0;
  const inflight = new Map<string, number>();
  const q = new WorkQueue(async (k) => {
    concurrent++;
    inflight.set(k, (inflight.get(k) ?? 0) + 1);
    maxConcurrentSameKey = Math.max(maxConcurrentSameKey, inflight.get(k)!);
    runs.push(k);
    await new Promise((r) => setTimeout(r, 5));
    inflight.set(k, inflight.get(k)! - 1);
    concurrent--;
    return 'ok';
  }, { log, concurrency: 4 });
  for (let i = 0; i < 5; i++) q.add('a');
  q.add('b');
  q.start();
  q.add('a'); // while a runs: must run again afterwards, not concurrently
  await q.idle();
  await new Promise((r) => setTimeout(r, 20));
  await q.idle();
  assert.equal(maxConcurrentSameKey, 1);
  assert.deepEqual(runs.filter((k) => k === 'a').length, 2);
  assert.deepEqual(runs.filter((k) => k === 'b').length, 1);
  assert.equal(concurrent, 0);
});

test('retries with backoff until ok; thrown errors count as retry', async () => {
  let n = 0;
  const q = new WorkQueue((): Promise<Outcome> => {
    n++;
    if (n === 1) throw new Error('boom');
    return Promise.resolve(n < 3 ? 'retry' : 'ok');
  }, { log, minRetryMs: 1, maxRetryMs: 4 });
  q.start();
  q.add('x');
  while (n < 3) await new Promise((r) => setTimeout(r, 5));
  await q.idle();
  assert.equal(n, 3);
  assert.equal(q.length, 0);
  q.stop();
});
