import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage, encode } from './codec.ts';
import { Afi, MessageType, type PathAttribute, type Prefix, type UpdateMessage } from './message.ts';
import { announceRoom, announceUpdates, withdrawUpdates } from './packing.ts';

/** announceUpdates for attributes that fit: the messages. */
function ann(...args: Parameters<typeof announceUpdates>): UpdateMessage[] {
  const r = announceUpdates(...args);
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  return r.value;
}

const ctx = { fourOctetAS: true, extendedMessages: false };
const DOC24 = ['192.0.2', '198.51.100', '203.0.113'];
/** The first n of the 768 IPv4 documentation addresses as /32s. */
const v4 = (n: number): Prefix[] => Array.from({ length: n }, (_, i) => ({ afi: Afi.IPv4, prefix: `${DOC24[Math.floor(i / 256) % 3]!}.${i % 256}`, length: 32 }));
const v6 = (n: number): Prefix[] => Array.from({ length: n }, (_, i) => ({ afi: Afi.IPv6, prefix: `2001:db8:100::${i.toString(16)}`, length: 128 }));
const attrs: PathAttribute[] = [
  { kind: 'origin', origin: 0 },
  { kind: 'asPath', segments: [{ type: 2, asns: [64512] }] },
  { kind: 'communities', communities: [0xffff0000] },
];

function decodeAll(buffers: Buffer[], c = ctx): Prefix[] {
  const out: Prefix[] = [];
  for (const b of buffers) {
    const r = decodeMessage(b, c);
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    const m = r.value;
    if (m.type !== MessageType.Update) assert.fail(`expected an UPDATE, got type ${m.type}`);
    out.push(...m.nlri, ...m.withdrawn);
    for (const a of m.attributes) {
      if (a.kind === 'mpReach') out.push(...a.nlri);
      if (a.kind === 'mpUnreach') out.push(...a.withdrawn);
    }
  }
  return out;
}

test('768 IPv4 /32 (every documentation address) fit in one UPDATE under 4096 bytes', () => {
  const ps = v4(768);
  assert.equal(new Set(ps.map((p) => p.prefix)).size, 768);
  const ups = ann(Afi.IPv4, ps, attrs, ['192.0.2.1'], ctx);
  assert.equal(ups.length, 1);
  const bufs = ups.map((u) => encode(u, ctx));
  assert.ok(bufs.every((b) => b.length <= 4096), `sizes ${bufs.map((b) => b.length).join(',')}`);
  assert.deepEqual(decodeAll(bufs).map((p) => p.prefix).sort(), ps.map((p) => p.prefix).sort());
});

test('at least 800 IPv4 /32 per UPDATE when there are more, every message ≤ 4096 bytes', () => {
  // prefix values repeat after 768 here; the packer does not care, only sizes matter
  const ps = [...v4(768), ...v4(768), ...v4(464)];
  const ups = ann(Afi.IPv4, ps, attrs, ['192.0.2.1'], ctx);
  const bufs = ups.map((u) => encode(u, ctx));
  assert.ok(bufs.every((b) => b.length <= 4096));
  assert.ok(ups.slice(0, -1).every((u) => u.nlri.length >= 800), `per UPDATE: ${ups.map((u) => u.nlri.length).join(',')}`);
  assert.equal(decodeAll(bufs).length, ps.length);
});

test('IPv6 in MP_REACH and withdrawals in MP_UNREACH stay within the limit; 65535 with extended messages', () => {
  const ps = v6(10_000);
  for (const c of [ctx, { ...ctx, extendedMessages: true }]) {
    const max = c.extendedMessages ? 65535 : 4096;
    const an = ann(Afi.IPv6, ps, attrs, ['2001:db8::1'], c).map((u) => encode(u, c));
    const wd = withdrawUpdates(Afi.IPv6, ps, c).map((u) => encode(u, c));
    assert.ok([...an, ...wd].every((b) => b.length <= max));
    for (const msgs of [an, wd]) assert.ok(msgs.slice(0, -1).every((b) => b.length > max - 20), 'every message but the last is full');
    assert.equal(decodeAll(an, c).length, 10_000);
    assert.equal(decodeAll(wd, c).length, 10_000);
  }
});

test('IPv4 withdrawals pack into the withdrawn-routes field', () => {
  const ps = v4(768);
  const ups = withdrawUpdates(Afi.IPv4, ps, ctx);
  assert.equal(ups.length, 1);
  assert.equal(ups[0]?.withdrawn.length, 768);
});

test('a 2-octet peer gets AS_TRANS plus AS4_PATH for a 4-octet ASN', () => {
  const c = { fourOctetAS: false, extendedMessages: false };
  const [u] = ann(Afi.IPv4, v4(1), [{ kind: 'origin', origin: 0 }, { kind: 'asPath', segments: [{ type: 2, asns: [4200000001] }] }], ['192.0.2.1'], c);
  const kinds = u?.attributes.map((a) => a.kind);
  assert.ok(kinds?.includes('as4Path'));
  const path = u?.attributes.find((a) => a.kind === 'asPath');
  assert.deepEqual(path?.kind === 'asPath' ? path.segments[0]?.asns : [], [23456]);
  assert.ok(encode(u!, c).length > 0);
});


test('attributes that leave no room for a prefix are a typed error, not a throw or an oversized message', () => {
  // 1020 communities: 4080 bytes of attributes, more than a 4096-byte UPDATE leaves for one /32
  const big: PathAttribute[] = [...attrs.slice(0, 2), { kind: 'communities', communities: Array.from({ length: 1020 }, (_, i) => 0x10000 + i) }];
  for (const [afi, ps, nh] of [[Afi.IPv4, v4(3), '192.0.2.1'], [Afi.IPv6, v6(3), '2001:db8::1']] as const) {
    const r = announceUpdates(afi, ps, big, [nh], ctx);
    assert.ok(!r.ok, 'no room: a typed error');
    assert.equal(r.error.code, 'attributesTooLarge');
    assert.ok(r.error.room < r.error.needed);
    assert.ok(announceRoom(afi, big, [nh], ctx) < 17);
    // with RFC 8654 extended messages the same attributes fit
    const ext = { ...ctx, extendedMessages: true };
    const ok = announceUpdates(afi, ps, big, [nh], ext);
    assert.ok(ok.ok && ok.value.every((u) => encode(u, ext).length <= 65535));
  }
});
