import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ErrorCodes } from '../api/errors.ts';
import type { IPAddressPoolSpec } from '../api/ipaddresspool.ts';
import { Allocator, type AllocationRequest } from './allocator.ts';
import { formatIP, parseIP, type Addr } from '../net/ip.ts';
import { findOverlaps, poolAccepts, poolAllows, poolFromObject, type Pool } from './pool.ts';

const pool = (name: string, spec: Partial<IPAddressPoolSpec> & { addresses: string[] }): Pool =>
  poolFromObject({ metadata: { name }, spec });

const req = (key: string, over: Partial<AllocationRequest> = {}): AllocationRequest => ({
  key,
  namespace: key.split('/')[0]!,
  serviceLabels: {},
  namespaceLabels: {},
  families: ['IPv4'],
  policy: 'SingleStack',
  requestedIPs: [],
  pool: undefined,
  sharingKey: undefined,
  ports: [{ port: 80, protocol: 'TCP' }],
  backendKey: '',
  ...over,
});
const ip = (s: string): Addr => parseIP(s)!;

function ok(r: ReturnType<Allocator['assign']>): string[] {
  if (r.status === 'fail') assert.fail(`expected ok, got ${r.code}: ${r.reason}`);
  return r.ips.map((a) => a.ip);
}
function failed(r: ReturnType<Allocator['assign']>, code: string, text?: RegExp): void {
  if (r.status === 'ok') assert.fail(`expected ${code}, got ${r.ips.map((a) => a.ip).join(',')}`);
  assert.equal(r.code, code, r.reason);
  if (text) assert.match(r.reason, text);
}

describe('auto-assign', () => {
  test('lowest free address, stable on repeat, reused after release', () => {
    const a = new Allocator();
    a.setPools([pool('p', { addresses: ['192.0.2.10-192.0.2.12'] })]);
    assert.deepEqual(ok(a.assign(req('ns/a'))), ['192.0.2.10']);
    const again = a.assign(req('ns/a'));
    assert.deepEqual(ok(again), ['192.0.2.10']);
    assert.equal(again.status === 'ok' && again.changed, false);
    assert.deepEqual(ok(a.assign(req('ns/b'))), ['192.0.2.11']);
    assert.deepEqual(ok(a.assign(req('ns/c'))), ['192.0.2.12']);
    failed(a.assign(req('ns/d')), ErrorCodes.PoolExhausted, /pool exhausted/);
    assert.deepEqual(a.release('ns/b').map((x) => x.ip), ['192.0.2.11']);
    assert.deepEqual(ok(a.assign(req('ns/d'))), ['192.0.2.11']);
  });

  test('priority (lower first, unset last) and autoAssign=false', () => {
    const a = new Allocator();
    a.setPools([
      pool('z-unset', { addresses: ['192.0.2.0/28'] }),
      pool('b-prio5', { addresses: ['198.51.100.0/28'], serviceAllocation: { priority: 5 } }),
      pool('a-prio1-manual', { addresses: ['203.0.113.0/28'], autoAssign: false, serviceAllocation: { priority: 1 } }),
    ]);
    assert.deepEqual(ok(a.assign(req('ns/a'))), ['198.51.100.0']);
    assert.deepEqual(ok(a.assign(req('ns/b', { pool: 'a-prio1-manual' }))), ['203.0.113.0']);
    const r = a.assign(req('ns/c', { pool: 'a-prio1-manual' }));
    assert.equal(r.status === 'ok' && r.ips[0]?.pool, 'a-prio1-manual');
  });

  test('namespace and label scoping', () => {
    const a = new Allocator();
    a.setPools([
      pool('team-a', { addresses: ['192.0.2.0/28'], serviceAllocation: { priority: 1, namespaces: ['a'] } }),
      pool('gold', { addresses: ['198.51.100.0/28'], serviceAllocation: { priority: 2, namespaceSelectors: [{ matchLabels: { tier: 'gold' } }], serviceSelectors: [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] }] } }),
      pool('rest', { addresses: ['203.0.113.0/28'] }),
    ]);
    assert.deepEqual(ok(a.assign(req('a/x'))), ['192.0.2.0']);
    assert.deepEqual(ok(a.assign(req('b/x', { namespaceLabels: { tier: 'gold' }, serviceLabels: { app: 'web' } }))), ['198.51.100.0']);
    assert.deepEqual(ok(a.assign(req('b/y', { namespaceLabels: { tier: 'gold' }, serviceLabels: { app: 'db' } }))), ['203.0.113.0']);
    failed(a.assign(req('c/x', { requestedIPs: [ip('192.0.2.5')] })), ErrorCodes.IpNotInPool, /not in any allowed pool/);
    failed(a.assign(req('c/y', { pool: 'team-a' })), ErrorCodes.NoPool, /does not allow/);
  });

  test('avoidBuggyIPs skips .0 and .255 and counts them out', () => {
    const a = new Allocator();
    a.setPools([pool('p', { addresses: ['192.0.2.255-192.0.3.1'], avoidBuggyIPs: true })]);
    assert.deepEqual(ok(a.assign(req('ns/a'))), ['192.0.3.1']);
    failed(a.assign(req('ns/b')), ErrorCodes.PoolExhausted);
    failed(a.assign(req('ns/c', { requestedIPs: [ip('192.0.3.0')] })), ErrorCodes.IpNotInPool, /avoidBuggyIPs/);
    assert.deepEqual(a.poolUsage('p')?.IPv4, { assigned: 1n, available: 0n });
  });

  test('unknown pool and missing family are reported', () => {
    const a = new Allocator();
    a.setPools([pool('v4', { addresses: ['192.0.2.0/24'] })]);
    failed(a.assign(req('ns/a', { pool: 'nope' })), ErrorCodes.UnknownPool, /"nope" does not exist/);
    failed(a.assign(req('ns/b', { families: ['IPv6'] })), ErrorCodes.NoPool, /no pool for family IPv6/);
  });
});

describe('fixed IPs', () => {
  test('in pool, also autoAssign=false pools; conflicts name the holder', () => {
    const a = new Allocator();
    a.setPools([pool('p', { addresses: ['192.0.2.0/24'], autoAssign: false })]);
    assert.deepEqual(ok(a.assign(req('ns/a', { requestedIPs: [ip('192.0.2.50')] }))), ['192.0.2.50']);
    failed(a.assign(req('ns/b', { requestedIPs: [ip('192.0.2.50')] })), ErrorCodes.IpInUse, /in use by ns\/a/);
    failed(a.assign(req('ns/c', { requestedIPs: [ip('198.51.100.1')] })), ErrorCodes.IpNotInPool);
    failed(a.assign(req('ns/d', { requestedIPs: [ip('2001:db8::1')] })), ErrorCodes.FamilyMismatch);
  });

  test('changing the requested IP moves the Service; a failed change keeps the old address', () => {
    const a = new Allocator();
    a.setPools([pool('p', { addresses: ['192.0.2.0/24'] })]);
    ok(a.assign(req('ns/a', { requestedIPs: [ip('192.0.2.1')] })));
    ok(a.assign(req('ns/b', { requestedIPs: [ip('192.0.2.2')] })));
    const moved = a.assign(req('ns/a', { requestedIPs: [ip('192.0.2.3')] }));
    assert.deepEqual(ok(moved), ['192.0.2.3']);
    assert.equal(moved.status === 'ok' && moved.changed, true);
    const r = a.assign(req('ns/a', { requestedIPs: [ip('192.0.2.2')] }));
    failed(r, ErrorCodes.IpInUse);
    assert.deepEqual(r.status === 'fail' && r.kept.map((k) => k.ip), ['192.0.2.3']);
    assert.deepEqual(a.holdersOf('192.0.2.3'), ['ns/a']);
  });
});

describe('dual-stack', () => {
  const pools = [pool('v4', { addresses: ['192.0.2.0/24'] }), pool('v6', { addresses: ['2001:db8::/64'] })];
  test('RequireDualStack gets one of each, primary first', () => {
    const a = new Allocator();
    a.setPools(pools);
    assert.deepEqual(ok(a.assign(req('ns/a', { policy: 'RequireDualStack', families: ['IPv6', 'IPv4'] }))), ['2001:db8::', '192.0.2.0']);
  });
  test('RequireDualStack fails without an IPv6 pool; PreferDualStack falls back', () => {
    const a = new Allocator();
    a.setPools([pools[0]!]);
    failed(a.assign(req('ns/a', { policy: 'RequireDualStack', families: ['IPv4', 'IPv6'] })), ErrorCodes.NoPool, /IPv6/);
    assert.equal(a.assignedTo('ns/a').length, 0, 'nothing held after a failed all-or-nothing allocation');
    assert.deepEqual(ok(a.assign(req('ns/b', { policy: 'PreferDualStack', families: ['IPv4', 'IPv6'] }))), ['192.0.2.0']);
  });
  test('fixed dual-stack IPs', () => {
    const a = new Allocator();
    a.setPools(pools);
    assert.deepEqual(ok(a.assign(req('ns/a', { policy: 'RequireDualStack', families: ['IPv4', 'IPv6'], requestedIPs: [ip('192.0.2.9'), ip('2001:db8::9')] }))), ['192.0.2.9', '2001:db8::9']);
    failed(a.assign(req('ns/b', { policy: 'RequireDualStack', families: ['IPv4', 'IPv6'], requestedIPs: [ip('192.0.2.8')] })), ErrorCodes.FamilyMismatch);
    failed(a.assign(req('ns/c', { policy: 'SingleStack', families: ['IPv6'], requestedIPs: [ip('192.0.2.7'), ip('2001:db8::7')] })), ErrorCodes.FamilyMismatch, /requested 192\.0\.2\.7 but the Service is single-stack IPv6/);
    assert.deepEqual(a.assignedTo('ns/c'), []);
  });
});

describe('families come from spec.ipFamilies', () => {
  const pools = [pool('v4', { addresses: ['192.0.2.0/24'] }), pool('v6', { addresses: ['2001:db8::/64'] })];
  test('PreferDualStack with one ipFamily (a single-stack cluster) gets one address', () => {
    const a = new Allocator();
    a.setPools(pools);
    assert.deepEqual(ok(a.assign(req('ns/a', { policy: 'PreferDualStack', families: ['IPv4'] }))), ['192.0.2.0']);
    assert.deepEqual(ok(a.assign(req('ns/b', { policy: 'PreferDualStack', families: ['IPv6'] }))), ['2001:db8::']);
    assert.deepEqual(ok(a.assign(req('ns/c', { policy: 'PreferDualStack', families: ['IPv4', 'IPv6'] }))), ['192.0.2.1', '2001:db8::1']);
  });
  test('a requested IP of a family the Service does not have fails with a reason', () => {
    const a = new Allocator();
    a.setPools(pools);
    failed(a.assign(req('ns/a', { policy: 'PreferDualStack', families: ['IPv4'], requestedIPs: [ip('192.0.2.9'), ip('2001:db8::9')] })), ErrorCodes.FamilyMismatch, /2001:db8::9 but the Service is of family IPv4/);
    failed(a.assign(req('ns/b', { policy: 'SingleStack', families: ['IPv4'], requestedIPs: [ip('2001:db8::9')] })), ErrorCodes.FamilyMismatch, /single-stack IPv4/);
    failed(a.assign(req('ns/c', { policy: 'RequireDualStack', families: ['IPv4'] })), ErrorCodes.FamilyMismatch, /lists only IPv4/);
    assert.deepEqual([a.assignedTo('ns/a'), a.assignedTo('ns/b'), a.assignedTo('ns/c')], [[], [], []]);
  });
  test('a family dropped from ipFamilies gives up its address', () => {
    const a = new Allocator();
    a.setPools(pools);
    ok(a.assign(req('ns/a', { policy: 'PreferDualStack', families: ['IPv4', 'IPv6'] })));
    const r = a.assign(req('ns/a', { policy: 'PreferDualStack', families: ['IPv4'] }));
    assert.deepEqual(ok(r), ['192.0.2.0']);
    assert.match(r.status === 'ok' ? r.why ?? '' : '', /IPv6 is not in the Service's spec.ipFamilies/);
  });
  test('late second family: a PreferDualStack Service gains IPv6 when a pool appears, its IPv4 unchanged', () => {
    const a = new Allocator();
    a.setPools([pool('v4', { addresses: ['192.0.2.0/24'] })]);
    ok(a.assign(req('ns/x')));
    assert.deepEqual(ok(a.assign(req('ns/a', { policy: 'PreferDualStack', families: ['IPv4', 'IPv6'] }))), ['192.0.2.1']);
    const again = a.assign(req('ns/a', { policy: 'PreferDualStack', families: ['IPv4', 'IPv6'] }));
    assert.equal(again.status === 'ok' && again.changed, false, 'no pool for IPv6 yet: nothing changes');
    a.setPools([pool('v4', { addresses: ['192.0.2.0/24'] }), pool('v6', { addresses: ['2001:db8::/64'] })]);
    const r = a.assign(req('ns/a', { policy: 'PreferDualStack', families: ['IPv4', 'IPv6'] }));
    assert.deepEqual(ok(r), ['192.0.2.1', '2001:db8::']);
    assert.equal(r.status === 'ok' && r.changed, true);
    assert.equal(r.status === 'ok' ? r.why : 'x', undefined, 'an addition, not a re-allocation');
    const single = a.assign(req('ns/x'));
    assert.deepEqual(ok(single), ['192.0.2.0'], 'SingleStack Services are not given a second family');
    const fixed = a.assign(req('ns/f', { policy: 'PreferDualStack', families: ['IPv4', 'IPv6'], requestedIPs: [ip('192.0.2.50')] }));
    assert.deepEqual(ok(fixed), ['192.0.2.50'], 'with requested IPs only those are given');
  });
});

describe('pool order (MetalLB rules)', () => {
  test('pools scoped to the Service come before unscoped ones, whatever their priority', () => {
    const a = new Allocator();
    a.setPools([
      pool('a-open-prio1', { addresses: ['192.0.2.0/28'], serviceAllocation: { priority: 1 } }),
      pool('b-ns-prio9', { addresses: ['198.51.100.0/28'], serviceAllocation: { priority: 9, namespaces: ['web'] } }),
      pool('c-nssel', { addresses: ['203.0.113.0/28'], serviceAllocation: { namespaceSelectors: [{ matchLabels: { tier: 'gold' } }] } }),
      pool('d-svcsel-prio2', { addresses: ['203.0.113.16/28'], serviceAllocation: { priority: 2, serviceSelectors: [{ matchLabels: { app: 'x' } }] } }),
    ]);
    assert.deepEqual(ok(a.assign(req('web/s'))), ['198.51.100.0'], 'namespace-scoped beats a better-priority open pool');
    assert.deepEqual(ok(a.assign(req('other/s', { namespaceLabels: { tier: 'gold' } }))), ['203.0.113.0'], 'namespace selector');
    assert.deepEqual(ok(a.assign(req('other/t', { namespaceLabels: { tier: 'gold' }, serviceLabels: { app: 'x' } }))), ['203.0.113.16'], 'both scoped: priority 2 beats unset');
    assert.deepEqual(ok(a.assign(req('other/u'))), ['192.0.2.0'], 'not selected by any scoped pool: the open one');
  });
  test('priority 0 counts as unset (lowest); ties by name', () => {
    const a = new Allocator();
    a.setPools([
      pool('a-zero', { addresses: ['192.0.2.0/28'], serviceAllocation: { priority: 0 } }),
      pool('b-three', { addresses: ['198.51.100.0/28'], serviceAllocation: { priority: 3 } }),
      pool('c-unset', { addresses: ['203.0.113.0/28'] }),
    ]);
    assert.deepEqual(ok(a.assign(req('ns/a'))), ['198.51.100.0']);
    a.setPools([pool('b-zero', { addresses: ['198.51.100.0/28'], serviceAllocation: { priority: 0 } }), pool('a-unset', { addresses: ['192.0.2.0/28'] })]);
    assert.deepEqual(ok(a.assign(req('ns/b'))), ['192.0.2.0'], 'same rank: by name');
  });
  test('dual-stack prefers one pool with both families over combining single-family pools of the same rank', () => {
    const a = new Allocator();
    a.setPools([
      pool('a-v4', { addresses: ['192.0.2.0/28'] }),
      pool('b-v6', { addresses: ['2001:db8::/120'] }),
      pool('c-both', { addresses: ['198.51.100.0/28', '2001:db8:1::/120'] }),
    ]);
    const r = a.assign(req('ns/d', { policy: 'RequireDualStack', families: ['IPv4', 'IPv6'] }));
    assert.deepEqual(r.status === 'ok' && r.ips.map((x) => `${x.pool}:${x.ip}`), ['c-both:198.51.100.0', 'c-both:2001:db8:1::']);
    assert.deepEqual(ok(a.assign(req('ns/s'))), ['192.0.2.0'], 'single-stack still takes the first pool by name');
  });
  test('a better-ranked single-family pool still wins, and pools are combined when nothing else serves', () => {
    const a = new Allocator();
    a.setPools([
      pool('v4-prio1', { addresses: ['192.0.2.0/28'], serviceAllocation: { priority: 1 } }),
      pool('both', { addresses: ['198.51.100.0/28', '2001:db8:1::/120'] }),
      pool('v6-only', { addresses: ['2001:db8::/120'], serviceAllocation: { priority: 2 } }),
    ]);
    const r = a.assign(req('ns/d', { policy: 'RequireDualStack', families: ['IPv4', 'IPv6'] }));
    assert.deepEqual(r.status === 'ok' && r.ips.map((x) => `${x.pool}:${x.ip}`), ['v4-prio1:192.0.2.0', 'v6-only:2001:db8::']);
  });
  test('a full dual-family pool is skipped for one that can still serve both', () => {
    const a = new Allocator();
    a.setPools([pool('a-both', { addresses: ['192.0.2.1/32', '2001:db8::/120'] }), pool('b-both', { addresses: ['198.51.100.0/28', '2001:db8:1::/120'] })]);
    ok(a.assign(req('ns/x')));
    const r = a.assign(req('ns/d', { policy: 'RequireDualStack', families: ['IPv4', 'IPv6'] }));
    assert.deepEqual(r.status === 'ok' && r.ips.map((x) => x.pool), ['b-both', 'b-both']);
  });
});

describe('avoidBuggyIPs turned on later', () => {
  test('a Service on .0/.255 is moved with a reason; usage counts only assignable addresses', () => {
    const a = new Allocator();
    a.setPools([pool('p', { addresses: ['192.0.2.0/24'] })]);
    assert.deepEqual(ok(a.assign(req('ns/zero'))), ['192.0.2.0']);
    ok(a.assign(req('ns/top', { requestedIPs: [ip('192.0.2.255')] })));
    ok(a.assign(req('ns/mid')));
    a.setPools([pool('p', { addresses: ['192.0.2.0/24'], avoidBuggyIPs: true })]);
    assert.deepEqual(a.poolUsage('p')?.IPv4, { assigned: 1n, available: 253n }, 'the .0/.255 holders are not counted');
    const r = a.assign(req('ns/zero'));
    assert.deepEqual(ok(r), ['192.0.2.2']);
    assert.match(r.status === 'ok' ? r.why ?? '' : '', /192\.0\.2\.0 ends in \.0 or \.255 and pool "p" has avoidBuggyIPs/);
    failed(a.assign(req('ns/top', { requestedIPs: [ip('192.0.2.255')] })), ErrorCodes.IpNotInPool, /avoidBuggyIPs/);
    assert.deepEqual(a.assignedTo('ns/top'), [], 'a fixed .255 cannot be kept');
    const mid = a.assign(req('ns/mid'));
    assert.equal(mid.status === 'ok' && mid.changed, false);
    assert.deepEqual(a.poolUsage('p')?.IPv4, { assigned: 2n, available: 252n });
  });
  test('after a restart: a hint on .0 is not adopted, and assign moves it', () => {
    const a = new Allocator();
    a.setPools([pool('p', { addresses: ['192.0.2.0/24'], avoidBuggyIPs: true })]);
    assert.equal(a.adopt(req('ns/zero'), [ip('192.0.2.0')]), false);
    const r = a.assign(req('ns/zero'), [ip('192.0.2.0')]);
    assert.deepEqual(ok(r), ['192.0.2.1']);
    assert.match(r.status === 'ok' ? r.why ?? '' : '', /avoidBuggyIPs/);
  });
});

describe('keeping an old address never breaks the sharing rules', () => {
  test('the counterexample: a Service that drops its key while sharing, with an unmeetable fixed IP, releases the shared IP', () => {
    // found by the property test (seed -1355355916): s0 kept a shared address after losing its key
    const a = new Allocator();
    a.setPools([pool('p', { addresses: ['198.51.100.0/30'] })]);
    ok(a.assign(req('ns/s0', { sharingKey: 'k2', ports: [{ port: 2, protocol: 'TCP' }], backendKey: 'app=a' })));
    ok(a.assign(req('ns/s1', { sharingKey: 'k2', ports: [{ port: 1, protocol: 'TCP' }], backendKey: 'app=a' })));
    assert.deepEqual(a.holdersOf('198.51.100.0').sort(), ['ns/s0', 'ns/s1']);
    const r = a.assign(req('ns/s0', { ports: [{ port: 1, protocol: 'TCP' }], requestedIPs: [ip('192.0.2.5')] }));
    failed(r, ErrorCodes.IpNotInPool, /released 198\.51\.100\.0: ip 198\.51\.100\.0 in use by ns\/s1/);
    assert.deepEqual(r.status === 'fail' && r.kept, []);
    assert.deepEqual(a.holdersOf('198.51.100.0'), ['ns/s1']);
  });
  test('a kept shared address records the new ports, so a later sharer cannot take them', () => {
    const a = new Allocator();
    a.setPools([pool('p', { addresses: ['198.51.100.0/30'] })]);
    ok(a.assign(req('ns/a', { sharingKey: 'k', ports: [{ port: 1, protocol: 'TCP' }] })));
    ok(a.assign(req('ns/b', { sharingKey: 'k', ports: [{ port: 2, protocol: 'TCP' }] })));
    const r = a.assign(req('ns/a', { sharingKey: 'k', ports: [{ port: 3, protocol: 'TCP' }], requestedIPs: [ip('192.0.2.5')] }));
    assert.deepEqual(r.status === 'fail' && r.kept.map((x) => x.ip), ['198.51.100.0']);
    failed(a.assign(req('ns/c', { sharingKey: 'k', ports: [{ port: 3, protocol: 'TCP' }], requestedIPs: [ip('198.51.100.0')] })), ErrorCodes.SharingConflict, /ports 3\/TCP/);
  });
});

describe('sharing', () => {
  const pools = [pool('p', { addresses: ['192.0.2.0/24'] })];
  test('same key, disjoint ports share; overlapping ports and other keys do not', () => {
    const a = new Allocator();
    a.setPools(pools);
    assert.deepEqual(ok(a.assign(req('ns/web', { sharingKey: 'k', ports: [{ port: 80, protocol: 'TCP' }] }))), ['192.0.2.0']);
    assert.deepEqual(ok(a.assign(req('ns/dns', { sharingKey: 'k', ports: [{ port: 53, protocol: 'UDP' }] }))), ['192.0.2.0']);
    assert.deepEqual(ok(a.assign(req('ns/web2', { sharingKey: 'k', ports: [{ port: 80, protocol: 'TCP' }] }))), ['192.0.2.1'], 'auto gets a new IP when ports clash');
    failed(a.assign(req('ns/x', { sharingKey: 'k', ports: [{ port: 53, protocol: 'UDP' }], requestedIPs: [ip('192.0.2.0')] })), ErrorCodes.SharingConflict, /ports 53\/UDP/);
    failed(a.assign(req('ns/y', { sharingKey: 'other', ports: [{ port: 9, protocol: 'TCP' }], requestedIPs: [ip('192.0.2.0')] })), ErrorCodes.IpInUse);
    assert.deepEqual(a.holdersOf('192.0.2.0').sort(), ['ns/dns', 'ns/web']);
    a.release('ns/web');
    assert.deepEqual(a.holdersOf('192.0.2.0'), ['ns/dns'], 'a shared IP stays with the remaining sharer');
  });
  test('externalTrafficPolicy Local sharers must select the same pods', () => {
    const a = new Allocator();
    a.setPools(pools);
    ok(a.assign(req('ns/a', { sharingKey: 'k', backendKey: 'app=x', requestedIPs: [ip('192.0.2.5')] })));
    failed(a.assign(req('ns/b', { sharingKey: 'k', backendKey: 'app=y', ports: [{ port: 443, protocol: 'TCP' }], requestedIPs: [ip('192.0.2.5')] })), ErrorCodes.SharingConflict, /same pods/);
    ok(a.assign(req('ns/c', { sharingKey: 'k', backendKey: 'app=x', ports: [{ port: 443, protocol: 'TCP' }], requestedIPs: [ip('192.0.2.5')] })));
  });
});

describe('restart and pool changes', () => {
  test('hints from status are adopted with changed=false; the older claim wins', () => {
    const a = new Allocator();
    a.setPools([pool('p', { addresses: ['192.0.2.0/24'] })]);
    const r = a.assign(req('ns/old'), [ip('192.0.2.77')]);
    assert.deepEqual(ok(r), ['192.0.2.77']);
    assert.equal(r.status === 'ok' && r.changed, false);
    const dup = a.assign(req('ns/young'), [ip('192.0.2.77')]);
    assert.deepEqual(ok(dup), ['192.0.2.0']);
    assert.equal(dup.status === 'ok' && dup.changed, true);
    assert.match(dup.status === 'ok' ? dup.why ?? '' : '', /held by another Service/);
  });

  test('shrinking a pool re-allocates only the Services outside it', () => {
    const a = new Allocator();
    a.setPools([pool('p', { addresses: ['192.0.2.0/24'] })]);
    ok(a.assign(req('ns/a', { requestedIPs: [ip('192.0.2.200')] })));
    ok(a.assign(req('ns/b')));
    a.setPools([pool('p', { addresses: ['192.0.2.0/25'] })]);
    const b = a.assign(req('ns/b'));
    assert.equal(b.status === 'ok' && b.changed, false);
    failed(a.assign(req('ns/a', { requestedIPs: [ip('192.0.2.200')] })), ErrorCodes.IpNotInPool);
    assert.deepEqual(a.assignedTo('ns/a'), [], 'an address outside every pool is not kept');
    const auto = a.assign(req('ns/c'), [ip('192.0.2.201')]);
    assert.equal(auto.status === 'ok' && auto.changed, true);
    assert.match(auto.status === 'ok' ? auto.why ?? '' : '', /no longer in any pool/);
    assert.deepEqual(a.poolUsage('p')?.IPv4, { assigned: 2n, available: 126n });
  });

  test('overlapping pools are found', () => {
    const o = findOverlaps([pool('a', { addresses: ['192.0.2.0/24'] }), pool('b', { addresses: ['192.0.2.128-192.0.2.130', '2001:db8::/64'] }), pool('c', { addresses: ['2001:db8:1::/64'] })]);
    assert.deepEqual(o, [{ a: 'a', b: 'b', family: 'IPv4' }]);
  });
});

/**
 * fast-check settings for the allocator's property tests: many runs in CI (this class of bug must be found
 * while developing, not at landing), and `FC_SEED` (plus `FC_PATH`) replays a failure that fast-check
 * reported with its seed.
 */
function fcParams(ciRuns: number, localRuns: number): fc.Parameters<unknown> {
  const seed = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : undefined;
  return {
    numRuns: process.env.FC_RUNS !== undefined ? Number(process.env.FC_RUNS) : process.env.CI ? ciRuns : localRuns,
    ...(seed !== undefined ? { seed } : {}),
    ...(process.env.FC_PATH !== undefined ? { path: process.env.FC_PATH } : {}),
  };
}

const poolSpecs = [
  ['192.0.2.0/29'], ['192.0.2.4-192.0.2.12'], ['198.51.100.0/30', '2001:db8::/126'], ['2001:db8::2-2001:db8::9'], [],
  ['198.51.100.254-198.51.100.255', '203.0.113.0-203.0.113.1', '2001:db8:1::/127'],
] as const;
const poolOpts = fc.record({
  buggy: fc.boolean(),
  auto: fc.boolean(),
  priority: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  scope: fc.constantFrom('none', 'ns-a', 'nssel-gold', 'svcsel-web'),
});
type PoolOpts = { buggy: boolean; auto: boolean; priority: number | undefined; scope: string };
const scopeOf = (o: PoolOpts): IPAddressPoolSpec['serviceAllocation'] => {
  const base = o.priority !== undefined ? { priority: o.priority } : {};
  switch (o.scope) {
    case 'ns-a': return { ...base, namespaces: ['a'] };
    case 'nssel-gold': return { ...base, namespaceSelectors: [{ matchLabels: { tier: 'gold' } }] };
    case 'svcsel-web': return { ...base, serviceSelectors: [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] }] };
    default: return o.priority !== undefined ? base : undefined;
  }
};
const svcOp = fc.record({
  t: fc.constant('assign' as const),
  svc: fc.integer({ min: 0, max: 14 }),
  policy: fc.constantFrom('SingleStack' as const, 'PreferDualStack' as const, 'RequireDualStack' as const),
  fams: fc.constantFrom(['IPv4'] as const, ['IPv6'] as const, ['IPv4', 'IPv6'] as const, ['IPv6', 'IPv4'] as const),
  share: fc.option(fc.constantFrom('k1', 'k2'), { nil: undefined }),
  port: fc.integer({ min: 1, max: 3 }),
  local: fc.option(fc.constantFrom('app=a', 'app=b'), { nil: undefined }),
  fixed: fc.option(fc.constantFrom('192.0.2.5', '192.0.2.6', '198.51.100.1', '198.51.100.255', '203.0.113.0', '2001:db8::3', '192.0.2.200'), { nil: undefined }),
  fixed6: fc.option(fc.constantFrom('2001:db8::4', '2001:db8:1::1'), { nil: undefined }),
  pool: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined, freq: 4 }),
  ns: fc.constantFrom('a', 'b'),
  gold: fc.boolean(),
  web: fc.boolean(),
});
const op = fc.oneof(
  fc.record({ t: fc.constant('pools' as const), sel: fc.subarray([0, 1, 2, 3, 4, 5]), opts: fc.array(poolOpts, { minLength: 6, maxLength: 6 }) }),
  { arbitrary: svcOp, weight: 4 },
  fc.record({ t: fc.constant('release' as const), svc: fc.integer({ min: 0, max: 14 }) }),
  fc.record({ t: fc.constant('restart' as const) }),
);

/** The families a request may hold, as the README states them. */
function allowedFamilies(r: AllocationRequest): string[] {
  const fams = [...new Set(r.families)];
  return r.policy === 'SingleStack' ? fams.slice(0, 1) : fams;
}

test('property: random pools (selectors, priorities, autoAssign, avoidBuggyIPs), Service churn and restarts never break the allocation rules', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      let a = new Allocator();
      let pools: Pool[] = [];
      const reqs = new Map<string, AllocationRequest>();
      const order: string[] = []; // creation order, oldest first (what a restart adopts by)
      const lastOk = new Map<string, boolean>(); // whether the Service's last decision met its request
      for (const o of ops) {
        if (o.t === 'pools') {
          pools = o.sel.map((i) => {
            const opts = o.opts[i]!;
            const sa = scopeOf(opts);
            return pool(`p${i}`, { addresses: [...poolSpecs[i]!], avoidBuggyIPs: opts.buggy, autoAssign: opts.auto, ...(sa ? { serviceAllocation: sa } : {}) });
          });
          a.setPools(pools);
          for (const r of reqs.values()) lastOk.set(r.key, a.assign(r).status === 'ok'); // the controller requeues every Service on pool change
        } else if (o.t === 'assign') {
          const key = `${o.ns}/s${o.svc}`;
          const fixed = [o.fixed, o.fixed6].filter((x) => x !== undefined).map(ip);
          const r = req(key, {
            policy: o.policy, families: [...o.fams], sharingKey: o.share,
            ports: [{ port: o.port, protocol: 'TCP' }], backendKey: o.local ?? '',
            requestedIPs: fixed.length === 2 && fixed[0]!.family === fixed[1]!.family ? fixed.slice(0, 1) : fixed,
            pool: o.pool !== undefined ? `p${o.pool}` : undefined,
            namespaceLabels: o.gold ? { tier: 'gold' } : {}, serviceLabels: o.web ? { app: 'web' } : {},
          });
          const fresh = a.assignedTo(key).length === 0;
          if (!reqs.has(key)) order.push(key);
          reqs.set(key, r);
          const res = a.assign(r);
          lastOk.set(key, res.status === 'ok');
          if (res.status === 'ok' && fresh && r.requestedIPs.length === 0) {
            for (const x of res.ips) {
              const p = pools.find((q) => q.name === x.pool);
              assert.ok(p, `${x.ip} of ${key} names an existing pool`);
              if (r.pool !== undefined) assert.equal(x.pool, r.pool, `${key} asked for pool ${r.pool}`);
              else if (a.holdersOf(x.ip).length === 1) assert.ok(p.autoAssign, `${key} auto-assigned from autoAssign=false pool ${p.name}`);
            }
          }
          if (res.status === 'fail') assert.ok(res.reason.length > 0 && /^BG_ERR_/.test(res.code), 'a failure carries a code and a reason');
        } else if (o.t === 'release') {
          for (const key of [`a/s${o.svc}`, `b/s${o.svc}`]) {
            a.release(key);
            reqs.delete(key);
            if (order.includes(key)) order.splice(order.indexOf(key), 1);
          }
        } else {
          // controller restart: a new allocator adopts what the statuses show, oldest first, then every Service is reconciled with its hint
          const shown = new Map([...reqs.keys()].map((k) => [k, a.assignedTo(k).map((h) => ip(h.ip))]));
          const okBefore = new Map(lastOk);
          a = new Allocator();
          a.setPools(pools);
          for (const k of order) a.adopt(reqs.get(k)!, shown.get(k) ?? []);
          for (const k of order) lastOk.set(k, a.assign(reqs.get(k)!, a.assignedTo(k).length > 0 ? [] : shown.get(k) ?? []).status === 'ok');
          for (const k of order) {
            if (okBefore.get(k) !== true) continue;
            const after = a.assignedTo(k).map((h) => h.ip);
            // a restart moves nobody whose addresses satisfied its request (it may only gain a late second family)
            for (const x of shown.get(k) ?? []) assert.ok(after.includes(formatIP(x)), `restart moved ${k} off ${formatIP(x)} (now ${after.join(',')})`);
          }
        }
        // invariants
        const byIP = new Map<string, string[]>();
        for (const [key, r] of reqs) {
          const held = a.assignedTo(key);
          assert.ok(new Set(held.map((h) => h.family)).size === held.length, 'at most one IP per family');
          for (const h of held) {
            assert.ok(allowedFamilies(r).includes(h.family), `${key} holds ${h.ip} (${h.family}) outside its ipFamilies ${r.families.join(',')} / ${r.policy}`);
            const list = byIP.get(h.ip) ?? [];
            list.push(key);
            byIP.set(h.ip, list);
            assert.ok(pools.some((p) => poolAccepts(p, ip(h.ip)) && poolAllows(p, r)), `${h.ip} of ${key} lies in a pool that may give it to the Service`);
          }
        }
        for (const [addr, keys] of byIP) {
          if (keys.length < 2) continue;
          const rs = keys.map((k) => reqs.get(k)!);
          const k0 = rs[0]!.sharingKey;
          assert.ok(k0 !== undefined && rs.every((r) => r.sharingKey === k0), `${addr} shared without a common key: ${keys.join(' ')}`);
          assert.ok(rs.every((r) => r.sharingKey !== undefined), `a Service without a sharing key shares ${addr}`);
          for (let i = 0; i < rs.length; i++) for (let j = i + 1; j < rs.length; j++) {
            assert.notEqual(rs[i]!.ports[0]!.port, rs[j]!.ports[0]!.port, `${addr}: port overlap`);
            assert.equal(rs[i]!.backendKey, rs[j]!.backendKey, `${addr}: backends differ`);
          }
        }
        for (const p of pools) {
          const u = a.poolUsage(p.name)!;
          for (const f of ['IPv4', 'IPv6'] as const) assert.ok(u[f].available >= 0n && u[f].assigned >= 0n, `pool ${p.name} ${f} counts are never negative`);
        }
      }
      // freed addresses are reusable: release everything, then each pool can be filled exactly to its capacity
      for (const k of reqs.keys()) a.release(k);
      for (const p of pools) {
        const u = a.poolUsage(p.name)!;
        assert.equal(u.IPv4.assigned + u.IPv6.assigned, 0n, `pool ${p.name} empty after releasing all`);
        for (const f of ['IPv4', 'IPv6'] as const) {
          const cap = Number(u[f].available);
          const fill = (i: number): ReturnType<Allocator['assign']> => a.assign(req(`a/fill-${p.name}-${f}-${String(i)}`, {
            families: [f], pool: p.name, namespaceLabels: { tier: 'gold' }, serviceLabels: { app: 'web' },
          }));
          for (let i = 0; i < cap; i++) assert.equal(fill(i).status, 'ok', `pool ${p.name} gives ${f} address ${String(i + 1)} of ${String(cap)}`);
          const over = fill(cap);
          assert.ok(over.status === 'fail' && (over.code === ErrorCodes.PoolExhausted || over.code === ErrorCodes.NoPool), `pool ${p.name} ${f} is full after ${String(cap)}`);
          for (let i = 0; i < cap; i++) a.release(`a/fill-${p.name}-${f}-${String(i)}`);
        }
      }
    }),
    fcParams(10_000, 500),
  );
});

test('adopt attributes an address to the pool the Service names, also where pools overlap', () => {
  const a = new Allocator();
  a.setPools([pool('a-wide', { addresses: ['192.0.2.0/24'] }), pool('b-named', { addresses: ['192.0.2.0/28'] })]);
  assert.equal(a.adopt(req('ns/x', { pool: 'b-named' }), [ip('192.0.2.3')]), true);
  assert.deepEqual(a.assignedTo('ns/x').map((h) => h.pool), ['b-named']);
  const again = a.assign(req('ns/x', { pool: 'b-named' }));
  assert.equal(again.status === 'ok' && again.changed, false);
  assert.deepEqual(a.assignedTo('ns/x').map((h) => h.pool), ['b-named'], 'nothing to rewrite after a restart');
});

test('adopt takes status addresses without allocating anything new', () => {
  const a = new Allocator();
  a.setPools([pool('p', { addresses: ['192.0.2.0/24'] })]);
  assert.equal(a.adopt(req('ns/a'), [ip('192.0.2.9')]), true);
  assert.equal(a.adopt(req('ns/b'), [ip('192.0.2.9')]), false, 'held by an older Service');
  assert.deepEqual(a.assignedTo('ns/b'), []);
  assert.equal(a.adopt(req('ns/c'), [ip('198.51.100.1')]), false, 'outside every pool');
  assert.deepEqual(a.assignedTo('ns/c'), []);
  assert.equal(a.adopt(req('ns/d', { requestedIPs: [ip('192.0.2.20')] }), [ip('192.0.2.10')]), false, 'request changed while down');
  assert.deepEqual(a.poolUsage('p')?.IPv4.assigned, 1n);
});
