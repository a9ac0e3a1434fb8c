import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock, realClock } from './clock.ts';

test('fake clock runs due timers in time order, then scheduling order, with now() at their due time', () => {
  const c = new FakeClock(100);
  const seen: string[] = [];
  c.setTimeout(() => { seen.push(`b@${String(c.now())}`); }, 20);
  c.setTimeout(() => { seen.push(`a@${String(c.now())}`); }, 10);
  c.setTimeout(() => { seen.push(`c@${String(c.now())}`); }, 20);
  const never = c.setTimeout(() => { seen.push('cancelled'); }, 5);
  never.cancel();
  c.advance(15);
  assert.deepEqual(seen, ['a@110']);
  assert.equal(c.now(), 115);
  c.advance(5);
  assert.deepEqual(seen, ['a@110', 'b@120', 'c@120']);
  assert.equal(c.pending(), 0);
});

test('fake clock runs timers set by a callback when they fall due within the span', () => {
  const c = new FakeClock();
  const seen: number[] = [];
  c.setTimeout(() => { seen.push(c.now()); c.setTimeout(() => { seen.push(c.now()); }, 10); }, 10);
  c.advance(25);
  assert.deepEqual(seen, [10, 20]);
  c.setTimeout(() => { seen.push(c.now()); }, 10);
  c.advance(9);
  assert.deepEqual(seen, [10, 20]);
  assert.equal(c.pending(), 1);
});

test('fake wall clock moves with the monotonic one', () => {
  const c = new FakeClock(0, 1_000_000);
  c.advance(500);
  assert.equal(c.wall(), 1_000_500);
});

test('real clock: monotonic now() never decreases and timers can be cancelled', async () => {
  const a = realClock.now();
  let ran = false;
  realClock.setTimeout(() => { ran = true; }, 0).cancel();
  await new Promise((r) => setTimeout(r, 5));
  assert.ok(realClock.now() >= a);
  assert.equal(ran, false);
});
