import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { FakeClock } from '../clock.ts';
import { CarrierWatch, carrierUp } from './carrier.ts';

const root = mkdtempSync(join(tmpdir(), 'bg-sysfs-'));
after(() => { rmSync(root, { recursive: true, force: true }); });

/** A fake /sys/class/net entry; `carrier: undefined` leaves the file out (reading it fails, as for admin-down). */
function iface(name: string, operstate: string, carrier: string | undefined): void {
  mkdirSync(join(root, name), { recursive: true });
  writeFileSync(join(root, name, 'operstate'), `${operstate}\n`);
  if (carrier === undefined) rmSync(join(root, name, 'carrier'), { force: true });
  else writeFileSync(join(root, name, 'carrier'), `${carrier}\n`);
}

describe('carrierUp (sysfs)', () => {
  test('up or unknown with carrier 1 is up; everything else is down', () => {
    iface('eth0', 'up', '1');
    iface('lo', 'unknown', '1');
    iface('veth0', 'lowerlayerdown', '0');
    iface('eth1', 'down', undefined);
    iface('tun0', 'unknown', '0');
    iface('eth2', 'dormant', '1');
    iface('eth3', 'up', '0');
    assert.equal(carrierUp('eth0', root), true);
    assert.equal(carrierUp('lo', root), true);
    assert.equal(carrierUp('veth0', root), false);
    assert.equal(carrierUp('eth1', root), false, 'admin-down: the carrier file cannot be read');
    assert.equal(carrierUp('tun0', root), false);
    assert.equal(carrierUp('eth2', root), false);
    assert.equal(carrierUp('eth3', root), false);
  });

  test('a missing interface or a name that is not a plain interface name is down, never a throw', () => {
    assert.equal(carrierUp('nope0', root), false);
    iface('eth0', 'up', '1');
    for (const n of ['', '.', '..', '../eth0', 'eth0/..', 'a-very-long-interface-name']) assert.equal(carrierUp(n, root), false, n);
  });

  test('the real sysfs: lo is up here', (t) => {
    if (process.platform !== 'linux') { t.skip('Linux only'); return; }
    assert.equal(carrierUp('lo'), true);
    assert.equal(carrierUp('baregate-none0'), false);
  });
});

describe('CarrierWatch', () => {
  function setup(pollMs = 100) {
    const clock = new FakeClock();
    const state = new Map<string, boolean>([['eth0', true], ['eth1', true]]);
    const changes: [string, boolean][] = [];
    const errors: unknown[] = [];
    let reads = 0;
    const w = new CarrierWatch({
      clock, pollMs,
      read: (i) => { reads++; const s = state.get(i); if (s === undefined) throw new Error(`no ${i}`); return s; },
      onChange: (i, up) => { changes.push([i, up]); },
      onError: (e) => { errors.push(e); },
    });
    return { clock, state, changes, errors, w, reads: () => reads };
  }

  test('a change is reported within one poll interval, once; the first reading is not a change', () => {
    const { clock, state, changes, w } = setup();
    assert.equal(w.watch('eth0'), true);
    assert.deepEqual(changes, []);
    state.set('eth0', false);
    clock.advance(99);
    assert.deepEqual(changes, [], 'not before the poll');
    clock.advance(1);
    assert.deepEqual(changes, [['eth0', false]]);
    clock.advance(1000);
    assert.deepEqual(changes, [['eth0', false]], 'reported once');
    assert.equal(w.isUp('eth0'), false);
    state.set('eth0', true);
    clock.advance(100);
    assert.deepEqual(changes, [['eth0', false], ['eth0', true]]);
  });

  test('several interfaces, one timer; unwatch and setInterfaces; stop leaves no timer', () => {
    const { clock, state, changes, w, reads } = setup(50);
    w.setInterfaces(['eth0', 'eth1']);
    assert.equal(clock.pending(), 1, 'one timer for the set');
    state.set('eth1', false);
    clock.advance(50);
    assert.deepEqual(changes, [['eth1', false]]);
    w.setInterfaces(['eth0']);
    assert.equal(w.isUp('eth1'), undefined);
    state.set('eth1', true);
    clock.advance(500);
    assert.deepEqual(changes, [['eth1', false]], 'an unwatched interface is not reported');
    w.unwatch('eth0');
    assert.equal(clock.pending(), 0, 'nothing watched: no timer');
    const before = reads();
    clock.advance(1000);
    assert.equal(reads(), before);
    w.watch('eth0');
    assert.equal(clock.pending(), 1);
    w.stop();
    assert.equal(clock.pending(), 0);
    w.watch('eth1');
    assert.equal(clock.pending(), 0, 'a stopped watch schedules nothing');
  });

  test('a read that throws counts as down and is reported; an onChange that throws does not stop the watch', () => {
    const clock = new FakeClock();
    let up = true;
    let failRead = false;
    const errors: unknown[] = [];
    const seen: boolean[] = [];
    const w = new CarrierWatch({
      clock, read: () => { if (failRead) throw new Error('EIO'); return up; },
      onChange: (_i, u) => { seen.push(u); throw new Error('consumer bug'); },
      onError: (e) => { errors.push(e); throw new Error('reporter bug too'); },
    });
    w.watch('eth0');
    failRead = true;
    assert.doesNotThrow(() => { clock.advance(100); });
    assert.deepEqual(seen, [false]);
    assert.equal(errors.length, 2, 'the read error and the onChange error');
    failRead = false;
    up = true;
    assert.doesNotThrow(() => { clock.advance(100); });
    assert.deepEqual(seen, [false, true], 'still polling');
    w.stop();
  });

  test('onChange may unwatch another interface while a poll runs', () => {
    const clock = new FakeClock();
    const state = new Map([['eth0', true], ['eth1', true]]);
    const changes: [string, boolean][] = [];
    const w: CarrierWatch = new CarrierWatch({
      clock, read: (i) => state.get(i) ?? false,
      onChange: (i, up) => { changes.push([i, up]); w.unwatch(i === 'eth0' ? 'eth1' : 'eth0'); },
    }, ['eth0', 'eth1']);
    state.set('eth0', false);
    state.set('eth1', false);
    clock.advance(100);
    assert.deepEqual(changes, [['eth0', false]], 'eth1 was unwatched by the first callback and is not reported');
    w.stop();
  });
});
