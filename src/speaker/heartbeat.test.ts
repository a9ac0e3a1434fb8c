/**
 * Heartbeat codec: round trips, the exact header bytes, the size cap, and each typed decode error.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHmac } from 'node:crypto';
import {
  HEARTBEAT_MAGIC, MAC_BYTES, MAX_HEARTBEAT_BYTES, decodeHeartbeat, encodeHeartbeat, newIncarnation, type Heartbeat,
} from './heartbeat.ts';
import type { InterfaceState } from './types.ts';

const key = Buffer.from('0123456789abcdef0123456789abcdef');
const eth0: InterfaceState = {
  name: 'eth0', mac: '02:00:00:00:00:01', up: true,
  addresses: [
    { address: '192.0.2.10', cidr: '192.0.2.10/24', family: 'IPv4' },
    { address: '2001:db8::10', cidr: '2001:db8::10/64', family: 'IPv6' },
    { address: '198.51.100.7', cidr: null, family: 'IPv4' },
  ],
};
const hb: Heartbeat = { node: 'node-a', incarnation: 0x0123456789abcdefn, seq: 42, leaving: false, interfaces: [eth0, { name: 'eth1', mac: '02:00:00:00:00:02', up: false, addresses: [] }] };

test('round trip: every field survives', () => {
  const { buf, omitted } = encodeHeartbeat(hb, key);
  assert.equal(omitted, 0);
  const r = decodeHeartbeat(buf, key);
  assert.deepEqual(r, { ok: true, heartbeat: hb });
  const leaving = decodeHeartbeat(encodeHeartbeat({ ...hb, leaving: true, seq: 0xffffffff, incarnation: (1n << 64n) - 1n }, key).buf, key);
  assert.ok(leaving.ok);
  assert.equal(leaving.heartbeat.leaving, true);
  assert.equal(leaving.heartbeat.seq, 0xffffffff);
  assert.equal(leaving.heartbeat.incarnation, (1n << 64n) - 1n);
});

test('header bytes are as documented, and the trailer is HMAC-SHA256 over everything before it', () => {
  const { buf } = encodeHeartbeat({ ...hb, leaving: true, interfaces: [] }, key);
  const expected = Buffer.from([
    0x42, 0x47, 0x48, 0x42, // 'BGHB'
    1, 1, 6, 0,             // version, flags=leaving, name length, reserved
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, // incarnation
    0, 0, 0, 42,            // seq
    0, 2,                   // body length
  ]);
  assert.deepEqual(buf.subarray(0, 22), expected);
  assert.equal(buf.subarray(22, 28).toString(), 'node-a');
  assert.equal(buf.subarray(28, 30).toString(), '[]');
  assert.equal(buf.length, 30 + MAC_BYTES);
  assert.deepEqual(buf.subarray(30), createHmac('sha256', key).update(buf.subarray(0, 30)).digest());
});

test('the interface list is capped so a datagram never exceeds MAX_HEARTBEAT_BYTES', () => {
  const many: InterfaceState[] = [];
  for (let i = 0; i < 60; i++) many.push({ ...eth0, name: `ens${i}` });
  const { buf, omitted } = encodeHeartbeat({ ...hb, node: 'n'.repeat(253), interfaces: many }, key);
  assert.ok(buf.length <= MAX_HEARTBEAT_BYTES, `${buf.length} bytes`);
  assert.ok(omitted > 0 && omitted < 60, `omitted ${omitted}`);
  const r = decodeHeartbeat(buf, key);
  assert.ok(r.ok);
  assert.equal(r.heartbeat.interfaces.length, 60 - omitted);
  assert.deepEqual(r.heartbeat.interfaces.map((i) => i.name), many.slice(0, 60 - omitted).map((i) => i.name), 'a prefix, in order');
});

test('encode refuses our own bad values', () => {
  assert.throws(() => encodeHeartbeat({ ...hb, node: '' }, key), RangeError);
  assert.throws(() => encodeHeartbeat({ ...hb, node: 'x'.repeat(254) }, key), RangeError);
  assert.throws(() => encodeHeartbeat({ ...hb, seq: -1 }, key), RangeError);
  assert.throws(() => encodeHeartbeat({ ...hb, incarnation: 1n << 64n }, key), RangeError);
  assert.throws(() => encodeHeartbeat({ ...hb, interfaces: [{ ...eth0, mac: 'nope' }] }, key), TypeError);
});

test('typed errors: truncated, bad-magic, bad-version, bad-mac, malformed', () => {
  const { buf } = encodeHeartbeat(hb, key);
  assert.deepEqual(decodeHeartbeat(Buffer.alloc(0), key), { ok: false, error: 'truncated' });
  assert.deepEqual(decodeHeartbeat(buf.subarray(0, 10), key), { ok: false, error: 'truncated' });
  assert.deepEqual(decodeHeartbeat(buf.subarray(0, buf.length - 1), key), { ok: false, error: 'truncated' });
  assert.deepEqual(decodeHeartbeat(Buffer.from('GET / HTTP/1.1\r\n\r\n'), key), { ok: false, error: 'bad-magic' });
  const v2 = Buffer.from(buf); v2[4] = 2;
  assert.deepEqual(decodeHeartbeat(v2, key), { ok: false, error: 'bad-version' });
  assert.deepEqual(decodeHeartbeat(buf, Buffer.from('another key, also 32 bytes long!')), { ok: false, error: 'bad-mac' });
  const flipped = Buffer.from(buf); flipped[25] = (flipped[25] ?? 0) ^ 1; // inside the name
  assert.deepEqual(decodeHeartbeat(flipped, key), { ok: false, error: 'bad-mac' });
  assert.deepEqual(decodeHeartbeat(Buffer.concat([buf, Buffer.from([0])]), key), { ok: false, error: 'malformed' }, 'trailing byte');
});

/** A correctly MACed datagram with an arbitrary name/body, to reach the checks after authentication. */
function forge(name: Buffer, body: Buffer, flags = 0, reserved = 0): Buffer {
  const head = Buffer.alloc(22);
  head.writeUInt32BE(HEARTBEAT_MAGIC, 0);
  head[4] = 1; head[5] = flags; head[6] = name.length; head[7] = reserved;
  head.writeUInt16BE(body.length, 20);
  const pre = Buffer.concat([head, name, body]);
  return Buffer.concat([pre, createHmac('sha256', key).update(pre).digest()]);
}

test('authenticated but malformed content is malformed, not an exception', () => {
  const n = Buffer.from('node-a');
  const cases: [string, Buffer][] = [
    ['not JSON', forge(n, Buffer.from('{'))],
    ['not an array', forge(n, Buffer.from('{}'))],
    ['bad mac text', forge(n, Buffer.from('[{"n":"e","m":"zz","u":1,"a":[]}]'))],
    ['bad up', forge(n, Buffer.from('[{"n":"e","m":"02:00:00:00:00:01","u":true,"a":[]}]'))],
    ['bad address', forge(n, Buffer.from('[{"n":"e","m":"02:00:00:00:00:01","u":1,"a":["192.0.2.1/33"]}]'))],
    ['empty if name', forge(n, Buffer.from('[{"n":"","m":"02:00:00:00:00:01","u":1,"a":[]}]'))],
    ['empty node name', forge(Buffer.alloc(0), Buffer.from('[]'))],
    ['node name not UTF-8', forge(Buffer.from([0xff, 0xfe]), Buffer.from('[]'))],
    ['unknown flag', forge(n, Buffer.from('[]'), 0x80)],
    ['reserved set', forge(n, Buffer.from('[]'), 0, 1)],
  ];
  for (const [what, b] of cases) assert.deepEqual(decodeHeartbeat(b, key), { ok: false, error: 'malformed' }, what);
  assert.ok(decodeHeartbeat(forge(n, Buffer.from('[]')), key).ok, 'the forge helper itself makes valid datagrams');
});

test('newIncarnation: later start, larger incarnation, whatever the random bits', () => {
  assert.ok(newIncarnation(1_000_001, 0) > newIncarnation(1_000_000, 0xffff));
  assert.ok(newIncarnation(Date.UTC(2100, 0, 1), 0xffff) < 1n << 64n);
});
