import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ErrorCodes } from '../api/errors.ts';
import type { IPAddressPoolSpec } from '../api/ipaddresspool.ts';
import { Allocator, type AllocationRequest } from './allocator.ts';
import { parseIP, type Addr } from './ipnet.ts';
import { findOverlaps, poolContains, poolFromObject, type Pool } from './pool.ts';

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
    assert.deepEqual(ok(a.assign(req('ns/c', { policy: 'SingleStack', families: ['IPv6'], requestedIPs: [ip('192.0.2.7'), ip('2001:db8::7')] }))), ['2001:db8::7']);
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

test('property: random pool changes and Service churn never double-book an IP', () => {
  const poolSpecs = [
    ['192.0.2.0/29'], ['192.0.2.4-192.0.2.12'], ['198.51.100.0/30', '2001:db8::/126'], ['2001:db8::2-2001:db8::9'], [],
  ] as const;
  const op = fc.oneof(
    fc.record({ t: fc.constant('pools' as const), sel: fc.subarray([0, 1, 2, 3, 4]), buggy: fc.boolean() }),
    fc.record({
      t: fc.constant('assign' as const),
      svc: fc.integer({ min: 0, max: 14 }),
      policy: fc.constantFrom('SingleStack' as const, 'PreferDualStack' as const, 'RequireDualStack' as const),
      v6: fc.boolean(),
      share: fc.option(fc.constantFrom('k1', 'k2'), { nil: undefined }),
      port: fc.integer({ min: 1, max: 3 }),
      local: fc.option(fc.constantFrom('app=a', 'app=b'), { nil: undefined }),
      fixed: fc.option(fc.constantFrom('192.0.2.5', '192.0.2.6', '198.51.100.1', '2001:db8::3', '203.0.113.1'), { nil: undefined }),
    }),
    fc.record({ t: fc.constant('release' as const), svc: fc.integer({ min: 0, max: 14 }) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      const a = new Allocator();
      let pools: Pool[] = [];
      const reqs = new Map<string, AllocationRequest>();
      for (const o of ops) {
        if (o.t === 'pools') {
          pools = o.sel.map((i) => pool(`p${i}`, { addresses: [...poolSpecs[i]!], avoidBuggyIPs: o.buggy }));
          a.setPools(pools);
          for (const r of reqs.values()) a.assign(r); // the controller requeues every Service on pool change
        } else if (o.t === 'assign') {
          const r = req(`ns/s${o.svc}`, {
            policy: o.policy, families: o.v6 ? ['IPv6', 'IPv4'] : ['IPv4', 'IPv6'], sharingKey: o.share,
            ports: [{ port: o.port, protocol: 'TCP' }], backendKey: o.local ?? '',
            requestedIPs: o.fixed ? [ip(o.fixed)] : [],
          });
          reqs.set(r.key, r);
          a.assign(r);
        } else {
          a.release(`ns/s${o.svc}`);
          reqs.delete(`ns/s${o.svc}`);
        }
        // invariants
        const byIP = new Map<string, string[]>();
        for (const key of reqs.keys()) {
          const held = a.assignedTo(key);
          assert.ok(new Set(held.map((h) => h.family)).size === held.length, 'at most one IP per family');
          for (const h of held) {
            const list = byIP.get(h.ip) ?? [];
            list.push(key);
            byIP.set(h.ip, list);
            assert.ok(pools.some((p) => poolContains(p, ip(h.ip))), `${h.ip} of ${key} lies in a pool`);
          }
        }
        for (const [addr, keys] of byIP) {
          if (keys.length < 2) continue;
          const rs = keys.map((k) => reqs.get(k)!);
          const k0 = rs[0]!.sharingKey;
          assert.ok(k0 !== undefined && rs.every((r) => r.sharingKey === k0), `${addr} shared without a common key: ${keys.join(' ')}`);
          for (let i = 0; i < rs.length; i++) for (let j = i + 1; j < rs.length; j++) {
            assert.notEqual(rs[i]!.ports[0]!.port, rs[j]!.ports[0]!.port, `${addr}: port overlap`);
            assert.equal(rs[i]!.backendKey, rs[j]!.backendKey, `${addr}: backends differ`);
          }
        }
      }
      // freed addresses are reusable: release everything and fill every pool exactly
      for (const k of reqs.keys()) a.release(k);
      for (const p of pools) {
        const u = a.poolUsage(p.name)!;
        assert.equal(u.IPv4.assigned + u.IPv6.assigned, 0n, `pool ${p.name} empty after releasing all`);
      }
    }),
    { numRuns: process.env.CI ? 1000 : 300 },
  );
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
