/** validateAdmission: which problems refuse a write, with which message, and which never do. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { validateAdmission, type AdmissionInput } from './admission.ts';
import { parseConfig } from './config.ts';
import type { ConfigSnapshot, SecretObject } from './types.ts';

const obj = (kind: string, name: string, spec: unknown): Record<string, unknown> => ({ apiVersion: 'baregate.io/v1beta1', kind, metadata: { name }, spec });
const pool = (name: string, addresses: string[]): Record<string, unknown> => obj('IPAddressPool', name, { addresses });
const l2 = (name: string, spec: unknown = {}): Record<string, unknown> => obj('L2Advertisement', name, spec);
const peer = (name: string, spec: Record<string, unknown> = {}): Record<string, unknown> => obj('BGPPeer', name, { myASN: 64512, peerASN: 64513, peerAddress: '192.0.2.1', ...spec });
const secret = (name: string, data: Record<string, string>): SecretObject => ({ metadata: { name, namespace: 'baregate-system' }, data });
const snap = (p: Partial<ConfigSnapshot>): ConfigSnapshot => ({ pools: [], l2Advertisements: [], bgpAdvertisements: [], bgpPeers: [], secrets: [], ...p });
const create = (o: Record<string, unknown>): AdmissionInput => ({ operation: 'CREATE', kind: o.kind as string, name: (o.metadata as { name: string }).name, object: o });
const update = (old: Record<string, unknown>, o: Record<string, unknown>): AdmissionInput => ({ ...create(o), operation: 'UPDATE', oldObject: old });

describe('refused, with the message parseConfig gives', () => {
  test('a pool that shares addresses with another', () => {
    const r = validateAdmission(snap({ pools: [pool('y', ['192.0.2.0/24'])] }), create(pool('x', ['198.51.100.0/24', '192.0.2.0/25'])));
    assert.deepEqual(r, { allowed: false, message: 'IPAddressPool "x": spec.addresses[1]: 192.0.2.0/25 overlaps IPAddressPool "y" (192.0.2.0/24)', warnings: [] });
  });

  test('an IPv6 overlap, and ranges touching but not sharing are fine', () => {
    const s = snap({ pools: [pool('v6', ['2001:db8::/64']), pool('v4', ['192.0.2.0-192.0.2.9'])] });
    assert.equal(validateAdmission(s, create(pool('next', ['192.0.2.10-192.0.2.20', '2001:db8:0:1::/64']))).allowed, true);
    const r = validateAdmission(s, create(pool('bad', ['2001:db8::ff-2001:db8::1:0'])));
    assert.equal(r.allowed, false);
    assert.match(r.message, /^IPAddressPool "bad": spec\.addresses\[0\]: 2001:db8::ff-2001:db8::1:0 overlaps IPAddressPool "v6" \(2001:db8::\/64\)$/);
  });

  test('a reversed IPv6 range (CEL cannot order IPv6)', () => {
    const r = validateAdmission(snap({}), create(pool('rev', ['2001:db8::10-2001:db8::1'])));
    assert.deepEqual(r, { allowed: false, message: 'IPAddressPool "rev": spec.addresses[0]: "2001:db8::10-2001:db8::1": range is reversed', warnings: [] });
  });

  test('an advertisement naming a pool that does not exist', () => {
    const r = validateAdmission(snap({ pools: [pool('a', ['192.0.2.0/24'])] }), create(l2('adv', { ipAddressPools: ['a', 'nope'] })));
    assert.deepEqual(r, { allowed: false, message: 'L2Advertisement "adv": spec.ipAddressPools: no IPAddressPool named "nope"', warnings: [] });
  });

  test('a BGPPeer whose passwordSecret does not exist; the same with the Secret is accepted', () => {
    const p = peer('p', { passwordSecret: { name: 'pw' } });
    const r = validateAdmission(snap({}), create(p));
    assert.deepEqual(r, { allowed: false, message: 'BGPPeer "p": spec.passwordSecret: Secret baregate-system/pw does not exist', warnings: [] });
    assert.deepEqual(validateAdmission(snap({ secrets: [secret('pw', { password: Buffer.from('s3cret').toString('base64') })] }), create(p)), { allowed: true, warnings: [] });
  });

  test('a duplicate peer: same address, same nodes; other nodes are fine', () => {
    const s = snap({ bgpPeers: [peer('first')] });
    const r = validateAdmission(s, create(peer('second', { myASN: 64520 })));
    assert.deepEqual(r, { allowed: false, message: 'BGPPeer "second": spec.peerAddress: BGPPeer "first" already peers with 192.0.2.1 from the same nodes: a router keeps one session per node', warnings: [] });
    assert.equal(validateAdmission(s, create(peer('rack2', { nodeSelectors: [{ matchLabels: { rack: '2' } }] }))).allowed, true);
    assert.equal(validateAdmission(s, create(peer('other', { peerAddress: '192.0.2.2' }))).allowed, true);
  });

  test('several errors are all listed', () => {
    const r = validateAdmission(snap({}), create(peer('p', { holdTime: '1s', peerASN: undefined })));
    assert.equal(r.allowed, false);
    assert.match(r.message, /spec\.peerASN: set exactly one of peerASN and dynamicASN; BGPPeer "p": spec\.holdTime: must be 0 or 3\.\.65535 seconds/);
  });
});

describe('BFDProfile', () => {
  test('echo mode is refused; a BGPPeer naming a profile that does not exist is allowed with a warning, and not once it exists', () => {
    const r = validateAdmission(snap({ bfdProfiles: [] }), create(obj('BFDProfile', 'fast', { echoMode: true })));
    assert.equal(r.allowed, false);
    assert.match(r.message, /^BFDProfile "fast": spec\.echoMode: echo mode is not supported/);
    const w = validateAdmission(snap({ bfdProfiles: [] }), create(peer('r', { bfdProfile: 'fast' })));
    assert.equal(w.allowed, true);
    assert.equal(w.warnings.length, 1);
    assert.match(w.warnings[0] ?? '', /BFDProfile "fast" does not exist: the session runs without BFD/);
    assert.deepEqual(validateAdmission(snap({ bfdProfiles: [obj('BFDProfile', 'fast', {})] }), create(peer('r', { bfdProfile: 'fast' }))), { allowed: true, warnings: [] });
  });
});

describe('allowed', () => {
  test('a valid object; warnings (plaintext password) come back with it', () => {
    assert.deepEqual(validateAdmission(snap({}), create(pool('ok', ['192.0.2.0/24']))), { allowed: true, warnings: [] });
    const r = validateAdmission(snap({}), create(peer('plain', { password: 'hunter2' })));
    assert.equal(r.allowed, true);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0] ?? '', /^BGPPeer "plain": spec\.password: the password is in plaintext/);
  });

  test('problems of OTHER stored objects never block an unrelated write', () => {
    const broken = snap({ pools: [pool('a', ['192.0.2.0/24']), pool('b', ['192.0.2.0/24'])], l2Advertisements: [l2('stale', { ipAddressPools: ['gone'] })] });
    assert.ok(parseConfig(broken, { crossChecks: true }).problems.some((p) => p.severity === 'error'), 'the snapshot itself is broken');
    assert.deepEqual(validateAdmission(broken, create(pool('c', ['198.51.100.0/24']))), { allowed: true, warnings: [] });
    assert.deepEqual(validateAdmission(broken, create(l2('fine', { ipAddressPools: ['c'] }))).allowed, false, 'c is not stored: a reference to it is still an error');
    assert.deepEqual(validateAdmission(broken, create(l2('fine', { ipAddressPools: ['a'] }))), { allowed: true, warnings: [] });
  });

  test('UPDATE: an error the object already had does not block; a new one does', () => {
    const oldA = pool('a', ['192.0.2.0/24']);
    const s = snap({ pools: [oldA, pool('b', ['192.0.2.0/24'])] });
    const relabelled = { ...oldA, metadata: { name: 'a', labels: { tier: 'x' } } };
    assert.deepEqual(validateAdmission(s, update(oldA, relabelled)), { allowed: true, warnings: [] }, 'the old overlap stays, nothing new');
    const worse = validateAdmission(s, update(oldA, pool('a', ['192.0.2.0/24', '2001:db8::2-2001:db8::1'])));
    assert.deepEqual(worse, { allowed: false, message: 'IPAddressPool "a": spec.addresses[1]: "2001:db8::2-2001:db8::1": range is reversed', warnings: [] });
    assert.deepEqual(validateAdmission(s, update(oldA, pool('a', ['198.51.100.0/24']))), { allowed: true, warnings: [] }, 'the fix');
    const created = validateAdmission(snap({ pools: [pool('b', ['192.0.2.0/24'])] }), create(oldA));
    assert.equal(created.allowed, false, 'the same object as a CREATE is refused');
  });

  test('DELETE, CONNECT and kinds without rules pass untouched', () => {
    const s = snap({ pools: [pool('a', ['192.0.2.0/24'])], l2Advertisements: [l2('uses-a', { ipAddressPools: ['a'] })] });
    assert.deepEqual(validateAdmission(s, { operation: 'DELETE', kind: 'IPAddressPool', name: 'a', oldObject: pool('a', ['192.0.2.0/24']) }), { allowed: true, warnings: [] });
    assert.deepEqual(validateAdmission(s, { operation: 'CREATE', kind: 'SpeakerStatus', name: 'n', object: { metadata: { name: 'n' } } }), { allowed: true, warnings: [] });
  });

  test('generateName: the missing name does not hide problems', () => {
    const o = { apiVersion: 'baregate.io/v1beta1', kind: 'IPAddressPool', metadata: { generateName: 'p-' }, spec: { addresses: ['192.0.2.1'] } };
    const r = validateAdmission(snap({ pools: [pool('a', ['192.0.2.0/24'])] }), { operation: 'CREATE', kind: 'IPAddressPool', name: '', object: o });
    assert.deepEqual(r, { allowed: false, message: 'IPAddressPool "p-(generated)": spec.addresses[0]: 192.0.2.1 overlaps IPAddressPool "a" (192.0.2.0/24)', warnings: [] });
  });

  test('a request without an object is refused, not thrown on', () => {
    assert.equal(validateAdmission(snap({}), { operation: 'CREATE', kind: 'BGPPeer', name: 'x' }).allowed, false);
  });
});

test('crossChecks off (controller, speaker): overlaps and duplicates are not reported', () => {
  const s = snap({ pools: [pool('a', ['192.0.2.0/24']), pool('b', ['192.0.2.0/24'])], bgpPeers: [peer('p1'), peer('p2')] });
  assert.deepEqual(parseConfig(s).problems, []);
  assert.deepEqual(parseConfig(s).config.peers.map((p) => p.name), ['p1', 'p2']);
  const strict = parseConfig(s, { crossChecks: true });
  assert.deepEqual(strict.problems.map((p) => `${p.name} ${p.code}`).sort(), ['a overlap', 'b overlap', 'p1 duplicate-peer', 'p2 duplicate-peer']);
  assert.deepEqual(strict.config.pools.map((p) => p.name), ['a', 'b'], 'pools are never left out for address problems');
});

test('never throws, whatever the request and the stored objects (fuzzed); an error always names the incoming object', () => {
  const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
  console.log(`validateAdmission fuzz seed ${seed} (FC_SEED=${seed} to re-run)`);
  const addr = fc.oneof(fc.constantFrom('192.0.2.0/24', '192.0.2.5', '2001:db8::/64', '2001:db8::9-2001:db8::1', '192.0.2.10-192.0.2.1', 'x'), fc.ipV4(), fc.ipV6());
  const anyPool = fc.oneof(fc.record({ metadata: fc.record({ name: fc.constantFrom('a', 'b', 'c') }), spec: fc.record({ addresses: fc.array(addr, { maxLength: 3 }) }) }), fc.anything());
  const kind = fc.constantFrom('IPAddressPool', 'L2Advertisement', 'BGPAdvertisement', 'BGPPeer', 'Other');
  fc.assert(fc.property(fc.array(anyPool, { maxLength: 4 }), kind, fc.constantFrom('CREATE', 'UPDATE', 'DELETE'), fc.oneof(anyPool, fc.anything()), fc.anything(), (pools, k, operation, object, oldObject) => {
    const r = validateAdmission(snap({ pools, bgpPeers: pools, l2Advertisements: pools }), { operation, kind: k, name: 'a', object, oldObject });
    if (!r.allowed) assert.match(r.message, new RegExp(`^${k}`));
  }), { seed, numRuns: 1500 });
});
