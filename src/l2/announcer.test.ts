import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock } from '../clock.ts';
import { Announcer, DEFAULT_SCHEDULE } from './announcer.ts';

/** An announcer on a FakeClock whose sends are recorded as `ip@time`. */
function setup(schedule: readonly number[] = DEFAULT_SCHEDULE, fail: (ip: string) => boolean = () => false) {
  const clock = new FakeClock();
  const sent: string[] = [];
  const errors: string[] = [];
  const a = new Announcer({
    send: (ip) => { if (fail(ip)) throw new Error(`boom ${ip}`); sent.push(`${ip}@${clock.now()}`); },
    schedule,
    clock,
    onError: (ip, e) => { errors.push(`${ip}@${clock.now()}: ${String(e)}`); },
  });
  const timers = { advance: (ms: number) => { clock.advance(ms); }, get pending() { return clock.pending(); } };
  return { a, timers, sent, errors };
}

describe('Announcer', () => {
  test('sends at every offset of the default schedule, the first one at once', () => {
    assert.deepEqual(DEFAULT_SCHEDULE, [0, 250, 1000, 2500, 5000]);
    const { a, timers, sent } = setup();
    a.gain('192.0.2.10');
    assert.deepEqual(sent, ['192.0.2.10@0'], 'immediately, before any time passes');
    timers.advance(249);
    assert.equal(sent.length, 1);
    timers.advance(60_000);
    assert.deepEqual(sent, ['192.0.2.10@0', '192.0.2.10@250', '192.0.2.10@1000', '192.0.2.10@2500', '192.0.2.10@5000']);
    assert.equal(timers.pending, 0);
  });

  test('a custom schedule without offset 0 sends nothing at once', () => {
    const { a, timers, sent } = setup([100, 300]);
    timers.advance(50);
    a.gain('2001:db8::10');
    assert.deepEqual(sent, []);
    timers.advance(1000);
    assert.deepEqual(sent, ['2001:db8::10@150', '2001:db8::10@350']);
  });

  test('independent IPs have independent schedules', () => {
    const { a, timers, sent } = setup([0, 100]);
    a.gain('192.0.2.10');
    timers.advance(50);
    a.gain('2001:db8::10');
    timers.advance(1000);
    assert.deepEqual(sent, ['192.0.2.10@0', '2001:db8::10@50', '192.0.2.10@100', '2001:db8::10@150']);
  });

  test('gain twice restarts the schedule instead of running two', () => {
    const { a, timers, sent } = setup();
    a.gain('192.0.2.10');
    timers.advance(300); // sent at 0 and 250
    a.gain('192.0.2.10');
    assert.equal(timers.pending, 4, 'only the new schedule is pending: 250, 1000, 2500, 5000 after now');
    timers.advance(60_000);
    assert.deepEqual(sent.map((s) => Number(s.split('@')[1])), [0, 250, 300, 550, 1300, 2800, 5300]);
  });

  test('gain twice at the same instant: each gain sends at once, but only one schedule runs', () => {
    const { a, timers, sent } = setup();
    a.gain('192.0.2.10');
    a.gain('192.0.2.10');
    assert.equal(timers.pending, DEFAULT_SCHEDULE.length - 1);
    timers.advance(60_000);
    assert.deepEqual(sent.map((s) => Number(s.split('@')[1])), [0, 0, 250, 1000, 2500, 5000]);
  });

  test('lose cancels at once: nothing is sent after it', () => {
    const { a, timers, sent } = setup();
    a.gain('192.0.2.10');
    a.gain('192.0.2.11');
    timers.advance(300);
    a.lose('192.0.2.10');
    assert.equal(timers.pending, 3, 'only 192.0.2.11 still scheduled');
    timers.advance(60_000);
    assert.deepEqual(sent.filter((s) => s.startsWith('192.0.2.10@')), ['192.0.2.10@0', '192.0.2.10@250']);
    assert.equal(sent.filter((s) => s.startsWith('192.0.2.11@')).length, 5, 'the other IP is unaffected');
  });

  test('lose of an IP never gained, or already lost, is a no-op', () => {
    const { a, timers, sent } = setup();
    a.lose('192.0.2.10');
    a.gain('192.0.2.10');
    a.lose('192.0.2.10');
    a.lose('192.0.2.10');
    timers.advance(60_000);
    assert.deepEqual(sent, ['192.0.2.10@0']);
    assert.equal(timers.pending, 0);
  });

  test('lose after the schedule finished clears nothing live', () => {
    const { a, timers, sent } = setup([0, 10]);
    a.gain('192.0.2.10');
    timers.advance(100);
    a.lose('192.0.2.10');
    a.gain('192.0.2.10');
    timers.advance(100);
    assert.deepEqual(sent, ['192.0.2.10@0', '192.0.2.10@10', '192.0.2.10@100', '192.0.2.10@110']);
  });

  test('an IP whose schedule is over is forgotten (nothing kept per announced IP), while one still running is not', () => {
    const { a, timers } = setup();
    a.gain('192.0.2.10');
    timers.advance(3000);
    a.gain('192.0.2.11');
    assert.equal(a.running, 2);
    timers.advance(2000);
    assert.equal(a.running, 1, '192.0.2.10 finished at 5000 ms');
    timers.advance(3000);
    assert.equal(a.running, 0);
    const only = setup([0]);
    only.a.gain('192.0.2.12');
    assert.equal(only.a.running, 0, 'a schedule of one immediate send keeps nothing');
  });

  test('stop cancels everything; gaining afterwards works again', () => {
    const { a, timers, sent } = setup();
    a.gain('192.0.2.10');
    a.gain('2001:db8::10');
    timers.advance(300);
    a.stop();
    assert.equal(timers.pending, 0);
    const before = sent.length;
    timers.advance(60_000);
    assert.equal(sent.length, before, 'no sends after stop');
    a.gain('198.51.100.7');
    timers.advance(60_000);
    assert.equal(sent.length, before + DEFAULT_SCHEDULE.length);
  });

  test('a send that throws is reported, and neither gain() nor the timers throw; the schedule goes on', () => {
    let failing = true;
    const { a, timers, sent, errors } = setup([0, 100, 200], () => failing);
    assert.doesNotThrow(() => { a.gain('192.0.2.10'); });
    a.gain('192.0.2.11');
    assert.deepEqual(errors, ['192.0.2.10@0: Error: boom 192.0.2.10', '192.0.2.11@0: Error: boom 192.0.2.11']);
    assert.doesNotThrow(() => { timers.advance(100); }, 'a throwing timer body does not escape the clock');
    assert.equal(errors.length, 4);
    failing = false;
    timers.advance(100);
    assert.deepEqual(sent, ['192.0.2.10@200', '192.0.2.11@200'], 'later announcements still go out');
  });

  test('an onError that throws is contained too', () => {
    const clock = new FakeClock();
    const a = new Announcer({ send: () => { throw new Error('send'); }, schedule: [0, 10], clock, onError: () => { throw new Error('report'); } });
    assert.doesNotThrow(() => { a.gain('192.0.2.10'); clock.advance(10); });
  });
});
