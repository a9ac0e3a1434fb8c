import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { buggyCount, canonicalIP, formatIP, parseIP, parseRange } from './ipnet.ts';

test('parses and canonicalises IPv4 and IPv6', () => {
  assert.equal(canonicalIP('192.0.2.1'), '192.0.2.1');
  assert.equal(canonicalIP('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
  for (const bad of ['192.0.2', '192.0.2.256', '010.0.0.1', 'fe80::1%eth0', '::ffff:192.0.2.1', 'x', '', '1.2.3.4.5']) {
    assert.equal(parseIP(bad), undefined, bad);
  }
});

test('parseRange accepts CIDR, range and single IP and masks host bits', () => {
  assert.deepEqual(parseRange('192.0.2.77/24'), { family: 'IPv4', lo: 0xc0000200n, hi: 0xc00002ffn });
  assert.deepEqual(parseRange('192.0.2.10 - 192.0.2.20'), { family: 'IPv4', lo: 0xc000020an, hi: 0xc0000214n });
  assert.deepEqual(parseRange('2001:db8::5'), { family: 'IPv6', lo: 0x20010db8000000000000000000000005n, hi: 0x20010db8000000000000000000000005n });
  for (const bad of ['192.0.2.0/33', '192.0.2.20-192.0.2.10', '192.0.2.1-2001:db8::1', '192.0.2.0/', 'a-b', '2001:db8::/129']) {
    assert.ok('error' in parseRange(bad), bad);
  }
});

test('format(parse(x)) round-trips every address', () => {
  fc.assert(fc.property(fc.ipV4(), (ip) => {
    const a = parseIP(ip);
    if (a) assert.equal(formatIP(a), ip);
  }), { numRuns: 2000 });
  fc.assert(fc.property(fc.ipV6(), (ip) => {
    const a = parseIP(ip);
    if (a) assert.deepEqual(parseIP(formatIP(a)), a);
  }), { numRuns: 2000 });
});

test('buggyCount matches counting', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 1200 }), (lo, len) => {
    let n = 0n;
    for (let x = lo; x <= lo + len; x++) if (x % 256 === 0 || x % 256 === 255) n++;
    assert.equal(buggyCount(BigInt(lo), BigInt(lo + len)), n);
  }));
});
