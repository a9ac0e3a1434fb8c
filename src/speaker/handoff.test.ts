import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { FakeClock } from '../clock.ts';
import { HANDOFF_TABLE, Handoff, handoffScript, handoffTarget } from './handoff.ts';
import type { InterfaceState } from './types.ts';

const iface = (name: string, addrs: [string, string | null][]): InterfaceState => ({
  name, mac: '02:00:00:00:00:01', up: true,
  addresses: addrs.map(([address, cidr]) => ({ address, cidr, family: address.includes(':') ? 'IPv6' : 'IPv4' })),
});

describe('handoffScript', () => {
  test('one rule per old owner and device in its family table (IPs as a set), after an idempotent removal of both tables', () => {
    const s = handoffScript([
      { ip: '192.0.2.201', device: 'eth0', via: '192.0.2.11' },
      { ip: '2001:db8:2::201', device: 'eth0', via: '2001:db8:2::11' },
      { ip: '192.0.2.200', device: 'eth1', via: '192.0.2.12' },
      { ip: '198.51.100.11', device: 'eth0', via: '192.0.2.11' },
      { ip: '198.51.100.10', device: 'eth0', via: '192.0.2.11' },
    ]);
    const lines = s.trim().split('\n');
    assert.deepEqual(lines.slice(0, 2), [`add table ip ${HANDOFF_TABLE}`, `delete table ip ${HANDOFF_TABLE}`]);
    const v4 = lines.filter((l) => l.includes('ip daddr'));
    assert.deepEqual(v4, [
      '    ip daddr { 192.0.2.201, 198.51.100.10, 198.51.100.11 } ct state new tcp flags & syn == 0 dup to 192.0.2.11 device "eth0" drop',
      '    ip daddr 192.0.2.200 ct state new tcp flags & syn == 0 dup to 192.0.2.12 device "eth1" drop',
    ], 'sorted, stable text');
    assert.deepEqual(lines.filter((l) => l.includes('ip6 daddr')), [
      '    ip6 daddr 2001:db8:2::201 ct state new tcp flags & syn == 0 dup to 2001:db8:2::11 device "eth0" drop',
    ]);
    assert.ok(s.includes('type filter hook prerouting priority mangle; policy accept;'), 'after conntrack, before kube-proxy DNAT');
    assert.ok(lines.indexOf(`delete table ip6 ${HANDOFF_TABLE}`) > lines.indexOf(`table ip ${HANDOFF_TABLE} {`));
  });

  test('no rules: both tables are removed and none is created', () => {
    assert.equal(handoffScript([]), [
      `add table ip ${HANDOFF_TABLE}`, `delete table ip ${HANDOFF_TABLE}`,
      `add table ip6 ${HANDOFF_TABLE}`, `delete table ip6 ${HANDOFF_TABLE}`, '',
    ].join('\n'));
  });

  test('a device name cannot break out of its quotes', () => {
    assert.ok(handoffScript([{ ip: '192.0.2.1', device: 'e"th\\0', via: '192.0.2.2' }]).includes('device "eth0" drop'));
  });
});

describe('handoffTarget', () => {
  const ours = [iface('eth0', [['192.0.2.11', '192.0.2.11/24'], ['2001:db8:2::11', '2001:db8:2::11/64'], ['fe80::1', 'fe80::1/64']])];
  test('their address of the same family inside the subnet of our answering device', () => {
    const theirs = [iface('ens3', [['198.51.100.5', '198.51.100.5/24']]), iface('eth0', [['192.0.2.12', '192.0.2.12/24'], ['2001:db8:2::12', '2001:db8:2::12/64']])];
    assert.equal(handoffTarget('192.0.2.200', 'eth0', ours, theirs), '192.0.2.12');
    assert.equal(handoffTarget('2001:db8:2::200', 'eth0', ours, theirs), '2001:db8:2::12');
  });
  test('none when they have no address on our link (link-local does not count), or the device is not ours', () => {
    const theirs = [iface('eth0', [['198.51.100.5', '198.51.100.5/24'], ['fe80::2', 'fe80::2/64']])];
    assert.equal(handoffTarget('192.0.2.200', 'eth0', ours, theirs), undefined);
    assert.equal(handoffTarget('2001:db8:2::200', 'eth0', ours, theirs), undefined);
    assert.equal(handoffTarget('192.0.2.200', 'eth9', ours, [iface('eth0', [['192.0.2.12', '192.0.2.12/24']])]), undefined);
    assert.equal(handoffTarget('not-an-ip', 'eth0', ours, []), undefined);
  });
});

function setup(fail?: string) {
  const clock = new FakeClock();
  const scripts: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, new Writable({ write(c: Buffer, _e, cb) { lines.push(JSON.parse(c.toString()) as Record<string, unknown>); cb(); } }));
  let release: (() => void) | undefined;
  let hold = false;
  const run = (s: string): Promise<void> => {
    scripts.push(s);
    if (fail !== undefined) return Promise.reject(new Error(fail));
    if (hold) return new Promise((r) => { release = r; });
    return Promise.resolve();
  };
  const h = new Handoff({ clock, log, run, drainMs: 1000 });
  // the IPs the script forwards (single or in a set), sorted
  const rulesOf = (s: string | undefined): string[] => (s ?? '').split('\n').filter((l) => l.includes('dup to'))
    .flatMap((l) => (/daddr (\{ [^}]* \}|\S+)/.exec(l)?.[1] ?? '').replace(/[{}]/g, '').split(',').map((x) => x.trim()).filter((x) => x !== '')).sort();
  return { h, clock, scripts, lines, rulesOf, holdRuns: () => { hold = true; }, releaseRun: () => { hold = false; release?.(); } };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Handoff', () => {
  test('start clears what a crashed predecessor left; forward installs the rule; it expires after the drain time', async () => {
    const { h, clock, scripts, rulesOf } = setup();
    h.start();
    await flush();
    assert.equal(scripts.length, 1);
    assert.deepEqual(rulesOf(scripts[0]), []);
    void h.forward('192.0.2.200', 'eth0', '192.0.2.12');
    await flush();
    assert.deepEqual(rulesOf(scripts.at(-1)), ['192.0.2.200']);
    assert.equal(h.stats.active, 1);
    clock.advance(999);
    await flush();
    assert.equal(scripts.length, 2, 'still forwarding before the drain time is over');
    clock.advance(1);
    await flush();
    assert.deepEqual(rulesOf(scripts.at(-1)), [], 'expired');
    assert.equal(h.stats.expired, 1);
    assert.equal(h.stats.active, 0);
  });

  test('stop removes one IP at once; close removes everything and waits for nft', async () => {
    const { h, scripts, rulesOf } = setup();
    void h.forward('192.0.2.200', 'eth0', '192.0.2.12');
    void h.forward('192.0.2.201', 'eth0', '192.0.2.12');
    await flush();
    assert.deepEqual(rulesOf(scripts.at(-1)), ['192.0.2.200', '192.0.2.201']);
    h.stop('192.0.2.200');
    h.stop('192.0.2.99'); // not forwarded: nothing to do
    await flush();
    assert.deepEqual(rulesOf(scripts.at(-1)), ['192.0.2.201']);
    const n = scripts.length;
    await h.close();
    assert.equal(scripts.length, n + 1);
    assert.deepEqual(rulesOf(scripts.at(-1)), []);
  });

  test('nft runs never overlap: changes during a run are coalesced into one next run', async () => {
    const { h, scripts, rulesOf, holdRuns, releaseRun } = setup();
    holdRuns();
    void h.forward('192.0.2.200', 'eth0', '192.0.2.12');
    void h.forward('192.0.2.201', 'eth0', '192.0.2.12');
    void h.forward('192.0.2.202', 'eth0', '192.0.2.12');
    await flush();
    assert.equal(scripts.length, 1, 'one run in flight');
    releaseRun();
    await flush();
    await flush();
    assert.equal(scripts.length, 2, 'the three changes made during it: one more run');
    assert.deepEqual(rulesOf(scripts.at(-1)), ['192.0.2.200', '192.0.2.201', '192.0.2.202']);
  });

  test('forward resolves only once its rule is in the kernel (the daemon announces after that)', async () => {
    const { h, holdRuns, releaseRun } = setup();
    holdRuns();
    let done = false;
    void h.forward('192.0.2.200', 'eth0', '192.0.2.12').then(() => { done = true; });
    await flush();
    assert.equal(done, false, 'nft still running');
    releaseRun();
    await flush();
    await flush();
    assert.equal(done, true);
  });

  test('switched off: forward resolves at once (announcing is never held up by hand-off)', async () => {
    const { h } = setup('Operation not permitted');
    h.start();
    await flush();
    await flush();
    let done = false;
    void h.forward('192.0.2.200', 'eth0', '192.0.2.12').then(() => { done = true; });
    await flush();
    assert.equal(done, true);
  });

  test('a forward again restarts the drain time', async () => {
    const { h, clock, scripts, rulesOf } = setup();
    void h.forward('192.0.2.200', 'eth0', '192.0.2.12');
    clock.advance(800);
    void h.forward('192.0.2.200', 'eth0', '192.0.2.13');
    clock.advance(800);
    await flush();
    assert.ok(scripts.at(-1)?.includes('dup to 192.0.2.13'), 'the new source, still in place 1600 ms after the first forward');
    clock.advance(200);
    await flush();
    assert.deepEqual(rulesOf(scripts.at(-1)), []);
  });

  test('no nft (or no permission): one warning, switched off, the speaker goes on without it', async () => {
    const { h, scripts, lines } = setup('spawn nft ENOENT');
    h.start();
    await flush();
    void h.forward('192.0.2.200', 'eth0', '192.0.2.12');
    await flush();
    assert.equal(scripts.length, 1, 'no retries once switched off');
    assert.equal(h.stats.disabled, true);
    assert.equal(h.stats.failures, 1);
    assert.equal(lines.filter((l) => l.event === 'l2-handoff-disabled').length, 1);
    await h.close();
  });
});
