import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { buggyCount, canonicalIP, formatIP, overlappingRanges, parseIP, parseRange, parsePrefix, type Family } from './ip.ts';

/** Seed for the property tests: printed, and taken from FC_SEED to re-run a failure. */
const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
console.log(`ip properties: seed ${seed} (re-run with FC_SEED=${seed})`);

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

test('parseRange rejects trailing garbage after a CIDR', () => {
  for (const bad of ['192.0.2.0/24/99', '192.0.2.0/24/', '192.0.2.0//24', '192.0.2.0/24 x', '192.0.2.0/24-192.0.2.9',
    '192.0.2.0/2 4', '192.0.2.0/+24', '192.0.2.0/024', '192.0.2.0 /24', '2001:db8::/64/1', '2001:db8::/64%eth0']) {
    const r = parseRange(bad);
    assert.ok('error' in r, `${bad} was accepted as ${JSON.stringify(r, (_, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v))}`);
  }
  // what stays accepted: surrounding whitespace, /0 and the full lengths
  assert.deepEqual(parseRange(' 192.0.2.0/24 '), { family: 'IPv4', lo: 0xc0000200n, hi: 0xc00002ffn });
  assert.deepEqual(parseRange('192.0.2.9/32'), { family: 'IPv4', lo: 0xc0000209n, hi: 0xc0000209n });
  assert.deepEqual(parseRange('0.0.0.0/0'), { family: 'IPv4', lo: 0n, hi: 0xffffffffn });
  assert.deepEqual(parseRange('2001:db8::1/128'), { family: 'IPv6', lo: 0x20010db8000000000000000000000001n, hi: 0x20010db8000000000000000000000001n });
});

test('parseIP returns the address value, not only "something"', () => {
  assert.deepEqual(parseIP('192.0.2.1'), { family: 'IPv4', value: 0xc0000201n });
  assert.deepEqual(parseIP(' 0.0.0.0 '), { family: 'IPv4', value: 0n });
  assert.deepEqual(parseIP('255.255.255.255'), { family: 'IPv4', value: 0xffffffffn });
  assert.deepEqual(parseIP('2001:db8::1'), { family: 'IPv6', value: 0x20010db8000000000000000000000001n });
  assert.deepEqual(parseIP('::'), { family: 'IPv6', value: 0n });
  assert.deepEqual(parseIP('2001:db8::192.0.2.1'), { family: 'IPv6', value: 0x20010db80000000000000000c0000201n });
  // ipaddr.js reads the deprecated IPv4-compatible form (RFC 4291 §2.5.5.1) as IPv4-mapped: refused, not guessed
  assert.equal(parseIP('::192.0.2.1'), undefined);
  assert.equal(formatIP({ family: 'IPv6', value: 0x20010db8000000000001000000000001n }), '2001:db8::1:0:0:1');
  assert.equal(formatIP({ family: 'IPv6', value: 0x20010db8000000010000000000000001n }), '2001:db8:0:1::1', 'the longest zero run is the one compressed');
});

test('every valid dotted-quad IPv4 parses to its value and formats back', () => {
  fc.assert(fc.property(fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)), (octets) => {
    const text = octets.join('.');
    const value = octets.reduce((v, o) => (v << 8n) | BigInt(o), 0n);
    assert.deepEqual(parseIP(text), { family: 'IPv4', value });
    assert.equal(formatIP({ family: 'IPv4', value }), text);
  }), { seed, numRuns: 2000 });
});

test('every IPv6 address parses and formats as RFC 5952 (checked against the WHATWG URL host serializer)', () => {
  // the URL parser is an independent IPv6 implementation whose canonical host form is RFC 5952's:
  // lower-case hex, no leading zeros, the longest run of two or more zero groups (the first on a tie) as ::
  fc.assert(fc.property(fc.ipV6(), (ip) => {
    const canonical = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
    const a = parseIP(ip);
    if (/^::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}$/.test(canonical) || /^::\d+\.\d+\.\d+\.\d+$/.test(ip)) {
      assert.equal(a, undefined, `IPv4-mapped or IPv4-compatible ${ip} is rejected`);
      return;
    }
    assert.ok(a, `${ip} parses`);
    assert.equal(a.family, 'IPv6');
    assert.equal(formatIP(a), canonical);
    assert.deepEqual(parseIP(formatIP(a)), a);
  }), { seed, numRuns: 2000 });
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (value) => {
    const text = formatIP({ family: 'IPv6', value });
    if (value >> 32n === 0xffffn) return; // IPv4-mapped: deliberately not accepted back
    assert.deepEqual(parseIP(text), { family: 'IPv6', value });
    assert.equal(text, new URL(`http://[${text}]/`).hostname.slice(1, -1));
  }), { seed, numRuns: 2000 });
});

test('buggyCount matches counting', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 1200 }), (lo, len) => {
    let n = 0n;
    for (let x = lo; x <= lo + len; x++) if (x % 256 === 0 || x % 256 === 255) n++;
    assert.equal(buggyCount(BigInt(lo), BigInt(lo + len)), n);
  }), { seed });
});

test('parsePrefix: address/length without host bits, or a bare host address; nothing else', () => {
  assert.deepEqual(parsePrefix('192.0.2.0/24')?.length, 24);
  assert.equal(parsePrefix('2001:db8::1')?.length, 128);
  assert.equal(parsePrefix('198.51.100.7')?.length, 32);
  assert.equal(parsePrefix('2001:db8::/32')?.addr.family, 'IPv6');
  for (const bad of ['192.0.2.0/24/99', '192.0.2.1/24', '192.0.2.0/33', '192.0.2.0/024', '192.0.2.0/', '/24', 'x/24', '2001:db8::/129', '192.0.2.0/ 24']) {
    assert.equal(parsePrefix(bad), undefined, bad);
  }
});

test('the fast paths of parseIP read every text exactly as ipaddr.js does (or refuse what it refuses)', async () => {
  const ipaddr = (await import('ipaddr.js')).default;
  const reference = (s: string): string | undefined => {
    if (ipaddr.IPv4.isValidFourPartDecimal(s)) return s.split('.').some((p) => p.length > 1 && p.startsWith('0')) ? undefined : `4:${ipaddr.IPv4.parse(s).toString()}`;
    if (s.includes('%') || !s.includes(':') || !ipaddr.IPv6.isValid(s)) return undefined;
    const v6 = ipaddr.IPv6.parse(s);
    return v6.isIPv4MappedAddress() ? undefined : `6:${v6.toNormalizedString()}`;
  };
  const ours = (s: string): string | undefined => {
    const a = parseIP(s);
    return a ? `${a.family === 'IPv4' ? '4' : '6'}:${canonicalIP(s) === undefined ? '' : a.family === 'IPv4' ? formatIP(a) : ipaddr.IPv6.parse(formatIP(a)).toNormalizedString()}` : undefined;
  };
  const texts = fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), fc.stringMatching(/^[0-9a-fA-F:.]{0,20}$/), fc.string({ maxLength: 12 }));
  fc.assert(fc.property(texts, (s) => { assert.equal(ours(s), reference(s.trim()), s); }), { seed, numRuns: 5000 });
});

test('overlappingRanges: pairs across owners only, once each, per family', () => {
  const r = (owner: string, text: string): { owner: string; family: Family; lo: bigint; hi: bigint } => {
    const x = parseRange(text);
    if ('error' in x) throw new Error(x.error);
    return { owner, family: x.family, lo: x.lo, hi: x.hi };
  };
  const items = [r('a', '192.0.2.0/24'), r('a', '192.0.2.10'), r('b', '192.0.2.255-192.0.2.255'), r('c', '198.51.100.0/24'), r('b', '2001:db8::/64'), r('c', '2001:db8::5')];
  const pairs = overlappingRanges(items, (x, y) => x.owner === y.owner).map(([x, y]) => `${x.owner}-${y.owner}:${x.family}`);
  assert.deepEqual(pairs, ['a-b:IPv4', 'b-c:IPv6']);
});
