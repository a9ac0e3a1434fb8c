import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { announcedPools, parseConfig, parseDurationSeconds, PeerDefaults } from './config.ts';
import { formatCommunity, parseCommunity } from './communities.ts';
import { ProblemCodes, type ConfigProblem, type ConfigSnapshot, type SecretObject } from './types.ts';

const pool = (name: string, labels?: Record<string, string>): unknown => ({ apiVersion: 'baregate.io/v1beta1', kind: 'IPAddressPool', metadata: { name, ...(labels ? { labels } : {}) }, spec: { addresses: ['192.0.2.0/24'] } });
const obj = (kind: string, name: string, spec: unknown): unknown => ({ apiVersion: 'baregate.io/v1beta1', kind, metadata: { name }, spec });
const l2 = (name: string, spec: unknown = {}): unknown => obj('L2Advertisement', name, spec);
const bgpAdv = (name: string, spec: unknown = {}): unknown => obj('BGPAdvertisement', name, spec);
const peer = (name: string, spec: Record<string, unknown> = {}): unknown => obj('BGPPeer', name, { myASN: 64512, peerASN: 64513, peerAddress: '192.0.2.1', ...spec });
const secret = (name: string, data: Record<string, string>, namespace = 'baregate-system'): SecretObject => ({ metadata: { name, namespace }, type: 'kubernetes.io/basic-auth', data });
const b64 = (s: string): string => Buffer.from(s).toString('base64');

function snap(p: Partial<ConfigSnapshot>): ConfigSnapshot {
  return { pools: [], l2Advertisements: [], bgpAdvertisements: [], bgpPeers: [], secrets: [], ...p };
}
const codes = (ps: readonly ConfigProblem[]): string[] => ps.map((p) => `${p.kind}/${p.name} ${p.severity} ${p.code}`);

describe('parseConfig: advertisements', () => {
  test('no pool names and no pool selector: every pool in the snapshot', () => {
    const r = parseConfig(snap({ pools: [pool('b'), pool('a')], l2Advertisements: [l2('all')], bgpAdvertisements: [bgpAdv('all-bgp', { ipAddressPools: [] })] }));
    assert.deepEqual(r.problems, []);
    assert.deepEqual([...(r.config.l2[0]?.pools ?? [])].sort(), ['a', 'b']);
    assert.deepEqual([...(r.config.bgp[0]?.pools ?? [])].sort(), ['a', 'b']);
    assert.deepEqual(r.config.pools.map((p) => p.name), ['a', 'b'], 'pools in name order');
  });

  test('pool names and pool selectors are united; a selector matching nothing covers nothing', () => {
    const r = parseConfig(snap({
      pools: [pool('web', { tier: 'front' }), pool('db', { tier: 'back' }), pool('misc')],
      l2Advertisements: [
        l2('mixed', { ipAddressPools: ['misc'], ipAddressPoolSelectors: [{ matchLabels: { tier: 'front' } }] }),
        l2('expr', { ipAddressPoolSelectors: [{ matchExpressions: [{ key: 'tier', operator: 'In', values: ['back'] }] }] }),
        l2('none', { ipAddressPoolSelectors: [{ matchLabels: { tier: 'nowhere' } }] }),
      ],
    }));
    assert.deepEqual(r.problems, []);
    const by = new Map(r.config.l2.map((a) => [a.name, [...a.pools].sort()]));
    assert.deepEqual(by.get('mixed'), ['misc', 'web']);
    assert.deepEqual(by.get('expr'), ['db']);
    assert.deepEqual(by.get('none'), []);
    assert.deepEqual(r.config.l2.map((a) => a.name), ['expr', 'mixed', 'none'], 'name order');
    assert.deepEqual(announcedPools(r.config), new Set(['misc', 'web', 'db']));
  });

  test('MetalLB-shaped L2Advertisement: nodeSelectors and interfaces carried', () => {
    const sel = { matchLabels: { 'kubernetes.io/hostname': 'node-1' } };
    const r = parseConfig(snap({ pools: [pool('p')], l2Advertisements: [l2('a', { ipAddressPools: ['p'], nodeSelectors: [sel], interfaces: ['eth0', 'eth0', 'bond0.10'] })] }));
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.config.l2[0]?.nodeSelectors, [sel]);
    assert.deepEqual(r.config.l2[0].interfaces, ['eth0', 'bond0.10']);
  });

  test('unknown pool name: unknown-pool error, the advertisement left out, the others kept', () => {
    const r = parseConfig(snap({ pools: [pool('p')], l2Advertisements: [l2('bad', { ipAddressPools: ['p', 'nope'] }), l2('good', { ipAddressPools: ['p'] })] }));
    assert.deepEqual(codes(r.problems), ['L2Advertisement/bad error unknown-pool']);
    assert.match(r.problems[0]?.message ?? '', /nope/);
    assert.equal(r.problems[0]?.field, 'spec.ipAddressPools');
    assert.deepEqual(r.config.l2.map((a) => a.name), ['good']);
  });

  test('bad selectors: unknown operator, In without values, Exists with values, non-string label', () => {
    const bad = [
      { matchExpressions: [{ key: 'k', operator: 'Equals', values: ['v'] }] },
      { matchExpressions: [{ key: 'k', operator: 'In' }] },
      { matchExpressions: [{ key: 'k', operator: 'NotIn', values: [] }] },
      { matchExpressions: [{ key: 'k', operator: 'Exists', values: ['v'] }] },
      { matchLabels: { k: 1 } },
      'tier=front',
    ];
    for (const [i, s] of bad.entries()) {
      const r = parseConfig(snap({ pools: [pool('p')], l2Advertisements: [l2(`a${i}`, { ipAddressPoolSelectors: [s] })], bgpAdvertisements: [bgpAdv(`b${i}`, { nodeSelectors: [s] })] }));
      assert.deepEqual(codes(r.problems), [`L2Advertisement/a${i} error bad-selector`, `BGPAdvertisement/b${i} error bad-selector`], JSON.stringify(s));
      assert.deepEqual(r.config.l2, []);
      assert.deepEqual(r.config.bgp, []);
    }
  });

  test('BGPAdvertisement: unknown peer is a warning and dropped; none known is an error', () => {
    const r = parseConfig(snap({
      pools: [pool('p')], bgpPeers: [peer('r1')],
      bgpAdvertisements: [bgpAdv('some', { peers: ['r1', 'ghost'] }), bgpAdv('only-ghosts', { peers: ['ghost'] })],
    }));
    assert.deepEqual(codes(r.problems), ['BGPAdvertisement/only-ghosts warning unknown-peer', 'BGPAdvertisement/only-ghosts error unknown-peer', 'BGPAdvertisement/some warning unknown-peer']);
    assert.deepEqual(r.config.bgp.map((a) => [a.name, a.peers]), [['some', ['r1']]]);
  });

  test('a named peer that exists but is invalid stays named (it is reported on the peer)', () => {
    const r = parseConfig(snap({ pools: [pool('p')], bgpPeers: [peer('broken', { peerAddress: 'nope' })], bgpAdvertisements: [bgpAdv('a', { peers: ['broken'] })] }));
    assert.deepEqual(codes(r.problems), ['BGPPeer/broken error invalid']);
    assert.deepEqual(r.config.bgp[0]?.peers, ['broken']);
  });

  test('BGPAdvertisement attributes: canonical communities, defaults and ranges', () => {
    const r = parseConfig(snap({
      pools: [pool('p')],
      bgpAdvertisements: [bgpAdv('a', { communities: ['no-export', '65535:65281', '0100:7', 'large:64512:1:2'], largeCommunities: ['4200000000:01:2', '64512:1:2'], localPref: 150 }), bgpAdv('agg', { aggregationLength: 24, aggregationLengthV6: 64 })],
    }));
    assert.deepEqual(r.problems, []);
    const [a, agg] = r.config.bgp;
    assert.deepEqual(a?.communities, ['65535:65281', '100:7']);
    assert.deepEqual(a.largeCommunities, ['4200000000:1:2', '64512:1:2'], "MetalLB's large:… in communities counts as a large community");
    assert.equal(a.localPref, 150);
    assert.equal(a.aggregationLength, 32);
    assert.equal(a.aggregationLengthV6, 128);
    assert.equal(agg!.aggregationLength, 24);
    assert.equal(agg!.aggregationLengthV6, 64);
    assert.equal(agg!.localPref, undefined);
    for (const spec of [{ communities: ['65536:1'] }, { communities: ['no-such-name'] }, { communities: ['large:1:2'] }, { largeCommunities: ['1:2'] }, { localPref: -1 }, { aggregationLength: 33 }, { aggregationLengthV6: 129 }, { aggregationLength: 24.5 }, { communities: 'no-export' }, { communities: Array.from({ length: 65 }, (_, i) => `1:${i}`) }, { largeCommunities: Array.from({ length: 65 }, (_, i) => `1:2:${i}`) }]) {
      const bad = parseConfig(snap({ pools: [pool('p')], bgpAdvertisements: [bgpAdv('x', spec)] }));
      assert.deepEqual(codes(bad.problems), ['BGPAdvertisement/x error invalid'], JSON.stringify(spec));
      assert.deepEqual(bad.config.bgp, []);
    }
  });
});

describe('parseConfig: BFDProfile', () => {
  const bfd = (name: string, spec: unknown = {}): unknown => obj('BFDProfile', name, spec);
  test('MetalLB defaults (300 ms × 3, minimum TTL 254), every field, echoInterval accepted without effect', () => {
    const r = parseConfig(snap({
      bgpPeers: [peer('a', { bfdProfile: 'default' }), peer('b', { peerAddress: '192.0.2.2', bfdProfile: 'all' }), peer('c', { peerAddress: '192.0.2.3' })],
      bfdProfiles: [bfd('default'), bfd('all', { receiveInterval: 10, transmitInterval: 60000, detectMultiplier: 255, echoInterval: 50, echoMode: false, passiveMode: true, minimumTtl: 1, waitForUp: true })],
    }));
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.config.peers.map((p) => p.bfd), [
      { name: 'default', receiveIntervalMs: 300, transmitIntervalMs: 300, detectMultiplier: 3, passive: false, minimumTtl: 254, waitForUp: false },
      { name: 'all', receiveIntervalMs: 10, transmitIntervalMs: 60000, detectMultiplier: 255, passive: true, minimumTtl: 1, waitForUp: true },
      undefined,
    ]);
  });

  test('echo mode and out-of-range values are errors; a peer naming a missing or invalid profile runs without BFD, with a warning', () => {
    for (const spec of [{ echoMode: true }, { receiveInterval: 9 }, { transmitInterval: 60001 }, { detectMultiplier: 1 }, { minimumTtl: 255 }, { echoInterval: 5 }, { passiveMode: 'yes' }, { detectMultiplier: 2.5 }]) {
      const r = parseConfig(snap({ bgpPeers: [peer('a', { bfdProfile: 'p' }), peer('b', { peerAddress: '192.0.2.2', bfdProfile: 'gone' })], bfdProfiles: [bfd('p', spec)] }));
      assert.deepEqual(codes(r.problems), ['BFDProfile/p error invalid', 'BGPPeer/a warning unknown-bfd-profile', 'BGPPeer/b warning unknown-bfd-profile'], JSON.stringify(spec));
      assert.match(r.problems[1]?.message ?? '', /"p" is not valid/);
      assert.match(r.problems[2]?.message ?? '', /"gone" does not exist: the session runs without BFD/);
      assert.deepEqual(r.config.peers.map((x) => [x.name, x.bfd]), [['a', undefined], ['b', undefined]]);
    }
  });

  test('a snapshot that does not carry BFD profiles (the webhook, doctor) leaves bfdProfile unresolved and reports nothing', () => {
    const r = parseConfig(snap({ bgpPeers: [peer('a', { bfdProfile: 'p' })] }));
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.config.peers.map((x) => [x.bfdProfile, x.bfd]), [['p', undefined]]);
  });
});

describe('parseConfig: BGPPeer', () => {
  test('a MetalLB BGPPeer: durations as Go texts, MetalLB defaults for the rest', () => {
    const r = parseConfig(snap({ bgpPeers: [obj('BGPPeer', 'r1', { myASN: 64512, peerASN: 64513, peerAddress: '2001:db8::0001', holdTime: '1m30s', keepaliveTime: '20s', ebgpMultiHop: true, enableGracefulRestart: true, routerID: '192.0.2.9', bfdProfile: 'fast' })], bfdProfiles: [obj('BFDProfile', 'fast', { receiveInterval: 100, transmitInterval: 100 })] }));
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.config.peers[0], {
      name: 'r1', myASN: 64512, peerASN: 64513, dynamicASN: undefined, peerAddress: '2001:db8::1', peerPort: 179, sourceAddress: undefined, routerID: '192.0.2.9',
      holdTime: 90, keepaliveTime: 20, connectTime: PeerDefaults.connectTime, ebgpMultiHop: true, passive: false, gracefulRestart: true, password: undefined, nodeSelectors: [], bfdProfile: 'fast',
      bfd: { name: 'fast', receiveIntervalMs: 100, transmitIntervalMs: 100, detectMultiplier: 3, passive: false, minimumTtl: 254, waitForUp: false },
    });
  });

  test('defaults: hold time 90 s, keepalive a third of it, connect 10 s, port 179, no graceful restart', () => {
    const r = parseConfig(snap({ bgpPeers: [peer('a'), peer('b', { holdTime: 30 }), peer('c', { holdTime: '0s' }), peer('d', { dynamicASN: 'external', peerASN: undefined, gracefulRestart: true })] }));
    assert.deepEqual(r.problems, []);
    const by = new Map(r.config.peers.map((p) => [p.name, p]));
    assert.equal(by.get('a')?.holdTime, 90);
    assert.equal(by.get('a')?.keepaliveTime, 30);
    assert.equal(by.get('a')?.connectTime, 10);
    assert.equal(by.get('a')?.peerPort, 179);
    assert.equal(by.get('a')?.gracefulRestart, false);
    assert.equal(by.get('b')?.keepaliveTime, 10);
    assert.equal(by.get('c')?.holdTime, 0);
    assert.equal(by.get('c')?.keepaliveTime, undefined, 'hold time 0: no keepalives');
    assert.equal(by.get('d')?.dynamicASN, 'external');
    assert.equal(by.get('d')?.gracefulRestart, true, 'our name works too');
  });

  test('invalid fields are errors naming the field; the peer is left out, the others kept', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ peerASN: undefined }, 'spec.peerASN'],
      [{ dynamicASN: 'internal' }, 'spec.peerASN'],
      [{ peerASN: undefined, dynamicASN: 'sideways' }, 'spec.dynamicASN'],
      [{ myASN: 0 }, 'spec.myASN'],
      [{ myASN: undefined }, 'spec.myASN'],
      [{ peerASN: 2 ** 32 }, 'spec.peerASN'],
      [{ peerAddress: '192.0.2.300' }, 'spec.peerAddress'],
      [{ peerPort: 0 }, 'spec.peerPort'],
      [{ sourceAddress: '2001:db8::2' }, 'spec.sourceAddress'],
      [{ routerID: '2001:db8::1' }, 'spec.routerID'],
      [{ routerID: '0.0.0.0' }, 'spec.routerID'],
      [{ holdTime: '2s' }, 'spec.holdTime'],
      [{ holdTime: '90' }, 'spec.holdTime'],
      [{ holdTime: '1500ms' }, 'spec.holdTime'],
      [{ holdTime: '-90s' }, 'spec.holdTime'],
      [{ keepaliveTime: '100s' }, 'spec.keepaliveTime'],
      [{ connectTime: '0s' }, 'spec.connectTime'],
      [{ connectTime: '2h' }, 'spec.connectTime'],
      [{ ebgpMultiHop: 'yes' }, 'spec.ebgpMultiHop'],
      [{ enableGracefulRestart: true, gracefulRestart: false }, 'spec.gracefulRestart'],
      [{ password: 'x', passwordSecret: { name: 's' } }, 'spec.password'],
      [{ password: 'x'.repeat(81) }, 'spec.password'],
      [{ passwordSecret: { name: 's', namespace: 'default' } }, 'spec.passwordSecret.namespace'],
      [{ bfdProfile: 7 }, 'spec.bfdProfile'],
      [{ vrf: 'red' }, 'spec.vrf'],
    ];
    for (const [spec, field] of cases) {
      const r = parseConfig(snap({ bgpPeers: [peer('bad', spec), peer('good')], secrets: [secret('s', { password: b64('pw') })] }));
      const errors = r.problems.filter((p) => p.severity === 'error');
      assert.ok(errors.length > 0 && errors.every((p) => p.name === 'bad' && p.code === ProblemCodes.Invalid), `${JSON.stringify(spec)}: ${JSON.stringify(r.problems)}`);
      assert.ok(errors.some((p) => p.field === field), `${JSON.stringify(spec)} names ${field}: ${JSON.stringify(errors)}`);
      assert.deepEqual(r.config.peers.map((p) => p.name), ['good'], JSON.stringify(spec));
    }
  });

  test('passwordSecret: read from the Secret (base64), in baregate-system only', () => {
    const s = secret('r1-auth', { password: b64('s3cret'), username: b64('ignored') });
    const r = parseConfig(snap({ bgpPeers: [peer('r1', { passwordSecret: { name: 'r1-auth' } }), peer('r2', { passwordSecret: { name: 'r1-auth', namespace: 'baregate-system' } })], secrets: [s] }));
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.config.peers.map((p) => p.password), ['s3cret', 's3cret']);
    const other = parseConfig(snap({ bgpPeers: [peer('r1', { passwordSecret: { name: 'r1-auth' } })], secrets: [secret('r1-auth', { password: b64('x') }, 'default')] }));
    assert.deepEqual(codes(other.problems), ['BGPPeer/r1 error secret-missing'], 'a Secret of another namespace is not read');
  });

  test('missing Secret, missing key: errors for that peer only', () => {
    const r = parseConfig(snap({
      bgpPeers: [peer('gone', { passwordSecret: { name: 'nope' } }), peer('nokey', { passwordSecret: { name: 'empty' } }), peer('fine')],
      secrets: [secret('empty', { username: b64('u') })],
    }));
    assert.deepEqual(codes(r.problems), ['BGPPeer/gone error secret-missing', 'BGPPeer/nokey error secret-key-missing']);
    assert.match(r.problems[0]?.message ?? '', /baregate-system\/nope/);
    assert.deepEqual(r.config.peers.map((p) => p.name), ['fine']);
  });

  test('plaintext password: a warning, and the password is used', () => {
    const r = parseConfig(snap({ bgpPeers: [peer('r1', { password: 'hunter2' })] }));
    assert.deepEqual(codes(r.problems), ['BGPPeer/r1 warning plaintext-password']);
    assert.equal(r.config.peers[0]?.password, 'hunter2');
  });
});

describe('parseConfig: objects without names, duplicates, garbage', () => {
  test('an object without a name is an error; a second object of one name is ignored', () => {
    const r = parseConfig(snap({ pools: [pool('p'), { metadata: {} }, 42], l2Advertisements: [l2('a', { ipAddressPools: ['p'] }), l2('a', { ipAddressPools: ['other'] })] }));
    assert.deepEqual(codes(r.problems), ['IPAddressPool/ error invalid', 'IPAddressPool/ error invalid', 'L2Advertisement/a error invalid']);
    assert.deepEqual(r.config.l2.map((a) => [...a.pools]), [['p']]);
  });

  test('random JSON anywhere never throws, and every problem has a known code', () => {
    const known = new Set<string>(Object.values(ProblemCodes));
    const specish = fc.dictionary(fc.constantFrom('ipAddressPools', 'ipAddressPoolSelectors', 'nodeSelectors', 'interfaces', 'peers', 'communities', 'largeCommunities', 'localPref', 'aggregationLength', 'aggregationLengthV6',
      'myASN', 'peerASN', 'dynamicASN', 'peerAddress', 'peerPort', 'sourceAddress', 'routerID', 'holdTime', 'keepaliveTime', 'connectTime', 'ebgpMultiHop', 'passive', 'enableGracefulRestart', 'gracefulRestart', 'password', 'passwordSecret', 'bfdProfile'), fc.jsonValue());
    const object = fc.oneof(
      fc.jsonValue(),
      fc.record({ metadata: fc.oneof(fc.jsonValue(), fc.record({ name: fc.oneof(fc.string(), fc.jsonValue()), labels: fc.jsonValue() })), spec: fc.oneof(specish, fc.jsonValue()), data: fc.jsonValue() }),
    );
    const list = fc.oneof(fc.array(object, { maxLength: 5 }), fc.jsonValue());
    const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
    console.log(`parseConfig fuzz seed ${seed} (FC_SEED=${seed} to re-run)`);
    fc.assert(fc.property(fc.oneof(fc.record({ pools: list, l2Advertisements: list, bgpAdvertisements: list, bgpPeers: list, secrets: list }), fc.jsonValue()), (s) => {
      const r = parseConfig(s as unknown as ConfigSnapshot);
      for (const p of r.problems) assert.ok(known.has(p.code), p.code);
      for (const l of [r.config.pools, r.config.l2, r.config.bgp, r.config.peers]) assert.ok(Array.isArray(l));
    }), { seed, numRuns: 2000 });
  });
});

describe('parseDurationSeconds', () => {
  test('Go duration texts and integer seconds', () => {
    const ok: [unknown, number][] = [['90s', 90], ['1m30s', 90], ['1.5m', 90], ['1h', 3600], ['0', 0], ['0s', 0], [90, 90], ['3000ms', 3], ['2m0.5s500ms', 121], ['1000000us', 1], ['1000000µs', 1]];
    for (const [v, s] of ok) assert.equal(parseDurationSeconds(v), s, String(v));
    for (const v of ['', '90', 's', '1.s5', '1x', '1m 30s', ' 90s', '-1s', '+1s', '1.5s', '1ns', 1.5, -1, null, {}, '9'.repeat(70) + 's']) {
      assert.equal(typeof parseDurationSeconds(v), 'string', JSON.stringify(v));
    }
  });

  test('h/m/s sums: the parsed value is the sum', () => {
    const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
    console.log(`duration seed ${seed}`);
    fc.assert(fc.property(fc.nat(100), fc.nat(1000), fc.nat(100000), (h, m, s) => {
      assert.equal(parseDurationSeconds(`${h}h${m}m${s}s`), h * 3600 + m * 60 + s);
    }), { seed });
  });
});

test('communities: every 16:16 value and name round-trips through its canonical text', () => {
  assert.equal(formatCommunity(parseCommunity('no-export') ?? 0), '65535:65281');
  assert.equal(parseCommunity('constructor'), undefined, 'no prototype names');
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), (a, b) => {
    assert.equal(formatCommunity(parseCommunity(`${a}:${b}`) ?? -1), `${a}:${b}`);
  }));
});
