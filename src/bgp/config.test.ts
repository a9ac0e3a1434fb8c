import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BaregateError } from '../api/errors.ts';
import { SpeakerConfigError, checkPrefix, parseCommunity, parseLargeCommunity, parseSpeakerConfig, peerFromConfig, speakerIdentity } from './config.ts';

const base = { routerID: '192.0.2.1', myASN: 64512, peers: [{ name: 'r1', peerAddress: '192.0.2.2', peerASN: 64513 }], prefixes: [{ prefix: '198.51.100.1/32' }] };

test('defaults: port 179, hold 90, graceful restart on, active mode', () => {
  const c = parseSpeakerConfig(base);
  assert.equal(c.listenPort, 179);
  assert.deepEqual({ ...c.peers[0] }, {
    name: 'r1', peerAddress: '192.0.2.2', peerASN: 64513, dynamicASN: undefined, peerPort: 179, sourceAddress: undefined, holdTime: 90,
    keepaliveTime: undefined, connectTime: 5, ebgpMultiHop: false, password: undefined, passive: false, gracefulRestart: true,
    nextHopIPv4: undefined, nextHopIPv6: undefined, minHoldTime: 3, sendHoldTime: undefined, ttlSecurityHops: undefined,
  });
});

test('invalid configurations are rejected with the field named, before any socket opens', () => {
  const cases: [unknown, RegExp][] = [
    [{ ...base, myASN: 0 }, /myASN/],
    [{ ...base, myASN: 2 ** 32 }, /myASN/],
    [{ ...base, routerID: '2001:db8::1' }, /routerID/],
    [{ ...base, peers: [{ peerAddress: '192.0.2.2', peerASN: -1 }] }, /peerASN/],
    [{ ...base, peers: [{ peerAddress: '192.0.2.2' }] }, /exactly one of peerASN and dynamicASN/],
    [{ ...base, peers: [{ peerAddress: '192.0.2.2', dynamicASN: 'sideways' }] }, /dynamicASN/],
    [{ ...base, peers: [{ peerAddress: '192.0.2.2', peerASN: 1, holdTime: 2 }] }, /holdTime: must be 0 or 3/],
    [{ ...base, peers: [{ peerAddress: '192.0.2.2', peerASN: 1, sourceAddress: '2001:db8::1' }] }, /same family/],
    [{ ...base, peers: [{ peerAddress: 'router', peerASN: 1 }] }, /peerAddress/],
    [{ ...base, peers: [{ peerAddress: '192.0.2.2', peerASN: 1, password: 'x'.repeat(81) }] }, /80 bytes/],
    [{ ...base, peers: [{ peerAddress: '192.0.2.2', peerASN: 1, nextHopIPv6: '192.0.2.9' }] }, /nextHopIPv6/],
    [{ ...base, prefixes: [{ prefix: '198.51.100.1/24' }] }, /host bits/],
    [{ ...base, prefixes: [{ prefix: '198.51.100.0/24', communities: ['70000:1'] }] }, /community/],
    [{ ...base, prefixes: [{ prefix: '198.51.100.0/24', peers: ['nobody'] }] }, /no peer named/],
    [{ ...base, prefixes: [{ prefix: '192.0.2.0/24/99' }] }, /prefixes\[0\]\.prefix: .*host bits/],
    [{ ...base, peers: [{ peerAddress: '192.0.2.2', peerASN: 1, minHoldTime: 1 }] }, /minHoldTime/],
    [{ ...base, peers: [{ peerAddress: '192.0.2.2', peerASN: 1, ttlSecurityHops: 255 }] }, /ttlSecurityHops/],
    [{ ...base, peers: [{ peerAddress: '192.0.2.2', peerASN: 1, passive: true }] }, /passive: a passive peer needs sourceAddress/],
    [{ ...base, prefixes: [{ prefix: '198.51.100.0/24', communities: Array.from({ length: 1100 }, (_, i) => `1:${i}`) }] }, /prefixes\[0\]\.communities: .*4096-byte UPDATE/],
  ];
  for (const [cfg, re] of cases) {
    assert.throws(() => parseSpeakerConfig(cfg), (e: unknown) => e instanceof BaregateError && e.code === 'BG_ERR_BAD_CONFIG' && re.test(e.message), JSON.stringify(cfg));
  }
});

test('communities: ASN:value, well-known names, large communities', () => {
  assert.equal(parseCommunity('65535:0'), 0xffff0000);
  assert.equal(parseCommunity('no-export'), 0xffffff01);
  assert.equal(parseCommunity('65536:0'), undefined);
  assert.deepEqual(parseLargeCommunity('4200000001:1:2'), { global: 4200000001, local1: 1, local2: 2 });
  assert.equal(parseLargeCommunity('1:2'), undefined);
});

test('every problem is reported at once, each with its field', () => {
  const cfg = {
    routerID: 'x', myASN: 0,
    peers: [{ peerAddress: '192.0.2.2', peerASN: 1, holdTime: 2, peerPort: 0 }, { peerAddress: 'nope', peerASN: 1 }],
    prefixes: [{ prefix: '198.51.100.1/24' }, { prefix: '198.51.100.0/24', communities: ['x'] }],
  };
  let err: unknown;
  try { parseSpeakerConfig(cfg); } catch (e) { err = e; }
  assert.ok(err instanceof SpeakerConfigError && err.code === 'BG_ERR_BAD_CONFIG');
  assert.deepEqual(err.issues.map((i) => i.field), ['routerID', 'myASN', 'peers[0].holdTime', 'peers[0].peerPort', 'peers[1].peerAddress', 'prefixes[0].prefix', 'prefixes[1].communities']);
  for (const i of err.issues) assert.ok(err.message.includes(`${i.field}: ${i.message}`), `the message lists ${i.field}`);
});

test('checkPrefix: host routes and CIDRs without host bits; nothing after the length', () => {
  for (const ok of ['192.0.2.0/24', '192.0.2.1', '192.0.2.1/32', '2001:db8::/32', '2001:db8::1']) assert.doesNotThrow(() => { checkPrefix('p', ok); }, ok);
  for (const bad of ['192.0.2.0/24/99', '192.0.2.0/24/', '192.0.2.0//24', '192.0.2.0/024x', '192.0.2.0/33', '2001:db8::/129', '192.0.2.1/24', '', '/24', '192.0.2.0/ 24']) {
    assert.throws(() => { checkPrefix('p', bad); }, SpeakerConfigError, bad);
  }
});

describe('peerFromConfig: a validated BGPPeer as the speaker runs it', () => {
  const bgpPeer = {
    name: 'tor', myASN: 64512, peerASN: 64513, peerAddress: '192.0.2.2', peerPort: 179, holdTime: 90, keepaliveTime: 30,
    connectTime: 10, ebgpMultiHop: false, passive: false, gracefulRestart: false, password: 'pw', nodeSelectors: [],
  } as const;

  test('fields carried over; the other family\'s next hop is the node\'s address, the own family\'s is left to the session', () => {
    const p = peerFromConfig(bgpPeer, { nodeIPv4: '192.0.2.1', nodeIPv6: '2001:db8::1' });
    assert.deepEqual({ ...p }, {
      name: 'tor', peerAddress: '192.0.2.2', peerASN: 64513, dynamicASN: undefined, peerPort: 179, sourceAddress: undefined, holdTime: 90,
      keepaliveTime: 30, connectTime: 10, ebgpMultiHop: false, password: 'pw', passive: false, gracefulRestart: false,
      nextHopIPv4: undefined, nextHopIPv6: '2001:db8::1', minHoldTime: 3, sendHoldTime: undefined, ttlSecurityHops: undefined,
    });
    const v6 = peerFromConfig({ ...bgpPeer, peerAddress: '2001:db8::2', peerASN: undefined, dynamicASN: 'internal' }, { nodeIPv4: '192.0.2.1', nodeIPv6: '2001:db8::1' });
    assert.equal(v6.nextHopIPv4, '192.0.2.1');
    assert.equal(v6.nextHopIPv6, undefined);
    assert.equal(v6.dynamicASN, 'internal');
  });

  test('a passive peer with no sourceAddress listens on the node\'s address of its family (never on every address)', () => {
    assert.equal(peerFromConfig({ ...bgpPeer, passive: true }, { nodeIPv4: '192.0.2.1', nodeIPv6: '2001:db8::1' }).sourceAddress, '192.0.2.1');
    assert.equal(peerFromConfig({ ...bgpPeer, passive: true, peerAddress: '2001:db8::2' }, { nodeIPv4: '192.0.2.1', nodeIPv6: '2001:db8::1' }).sourceAddress, '2001:db8::1');
    assert.equal(peerFromConfig({ ...bgpPeer, passive: true, sourceAddress: '192.0.2.7' }, { nodeIPv4: '192.0.2.1' }).sourceAddress, '192.0.2.7');
    assert.equal(peerFromConfig({ ...bgpPeer, passive: true }, { nodeIPv4: '192.0.2.1', passiveSourceFromNode: false }).sourceAddress, undefined);
    assert.equal(peerFromConfig(bgpPeer, { nodeIPv4: '192.0.2.1' }).sourceAddress, undefined, 'an active peer keeps the kernel\'s choice');
  });

  test('hold time 0 accepts a peer that wants no keepalives; the result passes the speaker config validation', () => {
    assert.equal(peerFromConfig({ ...bgpPeer, holdTime: 0, keepaliveTime: undefined }).minHoldTime, 0);
    const p = peerFromConfig(bgpPeer, { nodeIPv6: '2001:db8::1' });
    const c = parseSpeakerConfig({ routerID: '192.0.2.1', myASN: 64512, peers: [p], prefixes: [] });
    assert.deepEqual({ ...c.peers[0] }, { ...p });
  });

  test('speakerIdentity: the first peer decides myASN and routerID (default the node\'s IPv4); peers that differ are listed', () => {
    assert.deepEqual(speakerIdentity([], '192.0.2.1'), { myASN: undefined, routerID: '192.0.2.1', conflicting: [] });
    assert.deepEqual(speakerIdentity([{ name: 'a', myASN: 1 }, { name: 'b', myASN: 1, routerID: '192.0.2.1' }], '192.0.2.1'), { myASN: 1, routerID: '192.0.2.1', conflicting: [] });
    assert.deepEqual(speakerIdentity([{ name: 'a', myASN: 1 }, { name: 'b', myASN: 2 }, { name: 'c', myASN: 1, routerID: '192.0.2.9' }], '192.0.2.1'), { myASN: 1, routerID: '192.0.2.1', conflicting: ['b', 'c'] });
  });
});
