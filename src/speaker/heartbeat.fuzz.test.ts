/**
 * Fuzzing the heartbeat decoder: arbitrary bytes, bytes behind a valid header, and mutations of valid
 * datagrams must give a typed result and never throw; a mutated datagram must never decode to anything but
 * the original (the MAC covers every byte); generated heartbeats round-trip exactly and stay under the cap.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { MAX_HEARTBEAT_BYTES, decodeHeartbeat, encodeHeartbeat, type DecodeError, type Heartbeat } from './heartbeat.ts';
import type { InterfaceState } from './types.ts';

const RUNS = process.env.CI ? 50_000 : 5_000;
const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
console.log(`heartbeat fuzz seed ${seed} (re-run with FC_SEED=${seed})`);
const params = (numRuns: number): fc.Parameters<unknown> => ({ numRuns, seed });

const key = Buffer.from('k'.repeat(32));
const ERRORS = new Set<DecodeError>(['truncated', 'bad-magic', 'bad-version', 'bad-mac', 'malformed']);

const hex2 = fc.integer({ min: 0, max: 255 }).map((x) => x.toString(16).padStart(2, '0'));
const macArb = fc.array(hex2, { minLength: 6, maxLength: 6 }).map((p) => p.join(':'));
const v4 = fc.tuple(fc.constantFrom('192.0.2.', '198.51.100.', '203.0.113.'), fc.integer({ min: 1, max: 254 }), fc.option(fc.integer({ min: 0, max: 32 }), { nil: undefined }))
  .map(([p, h, len]) => ({ address: `${p}${h}`, cidr: len === undefined ? null : `${p}${h}/${len}`, family: 'IPv4' as const }));
const v6 = fc.tuple(fc.integer({ min: 1, max: 0xffff }), fc.option(fc.integer({ min: 0, max: 128 }), { nil: undefined }))
  .map(([h, len]) => ({ address: `2001:db8::${h.toString(16)}`, cidr: len === undefined ? null : `2001:db8::${h.toString(16)}/${len}`, family: 'IPv6' as const }));
const ifaceArb: fc.Arbitrary<InterfaceState> = fc.record({
  name: fc.string({ minLength: 1, maxLength: 15 }),
  mac: macArb,
  up: fc.boolean(),
  addresses: fc.array(fc.oneof(v4, v6), { maxLength: 6 }),
}).map((i) => ({ ...i })); // plain objects (fc.record builds them without a prototype)
const heartbeatArb: fc.Arbitrary<Heartbeat> = fc.record({
  node: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }).filter((s) => Buffer.byteLength(s) <= 253),
  incarnation: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  seq: fc.integer({ min: 0, max: 0xffffffff }),
  leaving: fc.boolean(),
  interfaces: fc.array(ifaceArb, { maxLength: 30 }),
}).map((h) => ({ ...h }));

function safeDecode(b: Buffer): ReturnType<typeof decodeHeartbeat> {
  const r = decodeHeartbeat(b, key); // a throw fails the property
  if (!r.ok) assert.ok(ERRORS.has(r.error), r.error);
  return r;
}

test('arbitrary bytes: a typed result, never a throw', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 1500 }), (b) => { safeDecode(Buffer.from(b)); }), params(RUNS));
});

test('arbitrary bytes behind a valid magic and version reach the length and MAC checks without throwing', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 1300 }), (b) => {
    const buf = Buffer.concat([Buffer.from([0x42, 0x47, 0x48, 0x42, 1]), Buffer.from(b)]);
    const r = safeDecode(buf);
    assert.ok(!r.ok, 'no valid MAC by chance');
  }), params(RUNS));
});

test('generated heartbeats round-trip exactly (the encoded prefix of interfaces) and stay under the cap', () => {
  fc.assert(fc.property(heartbeatArb, (h) => {
    const { buf, omitted } = encodeHeartbeat(h, key);
    assert.ok(buf.length <= MAX_HEARTBEAT_BYTES);
    const r = safeDecode(buf);
    assert.ok(r.ok);
    assert.deepEqual(r.heartbeat, { ...h, interfaces: h.interfaces.slice(0, h.interfaces.length - omitted) });
  }), params(Math.ceil(RUNS / 5)));
});

test('mutations of a valid datagram (byte flips, cuts, insertions) never decode to something else', () => {
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bits: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), bits: fc.constant(0) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bits: fc.integer({ min: 0, max: 255 }) }),
  );
  fc.assert(fc.property(heartbeatArb, fc.array(mutation, { minLength: 1, maxLength: 4 }), (h, ms) => {
    const { buf } = encodeHeartbeat(h, key);
    let b = Buffer.from(buf);
    for (const m of ms) {
      const at = m.at % (b.length + 1);
      if (m.kind === 'flip' && b.length > 0) { const i = at % b.length; b[i] = (b[i] ?? 0) ^ m.bits; }
      else if (m.kind === 'cut') b = b.subarray(0, at);
      else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([m.bits]), b.subarray(at)]);
    }
    const r = safeDecode(b);
    if (r.ok) assert.ok(b.equals(buf), 'only the unchanged datagram decodes');
  }), params(Math.ceil(RUNS / 5)));
});
