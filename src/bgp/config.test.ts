import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BaregateError } from '../api/errors.ts';
import { parseCommunity, parseLargeCommunity, parseSpeakerConfig } from './config.ts';

const base = { routerID: '192.0.2.1', myASN: 64512, peers: [{ name: 'r1', peerAddress: '192.0.2.2', peerASN: 64513 }], prefixes: [{ prefix: '198.51.100.1/32' }] };

test('defaults: port 179, hold 90, graceful restart on, active mode', () => {
  const c = parseSpeakerConfig(base);
  assert.equal(c.listenPort, 179);
  assert.deepEqual({ ...c.peers[0] }, {
    name: 'r1', peerAddress: '192.0.2.2', peerASN: 64513, dynamicASN: undefined, peerPort: 179, sourceAddress: undefined, holdTime: 90,
    keepaliveTime: undefined, connectTime: 5, ebgpMultiHop: false, password: undefined, passive: false, gracefulRestart: true,
    nextHopIPv4: undefined, nextHopIPv6: undefined,
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
