import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Afi, type PathAttribute } from './message.ts';
import { AdjRibOut, PrefixTable, type Wanted } from './rib.ts';
import { announcedIn, endOfRibs } from './scripted-peer.ts';

const ctx = { fourOctetAS: true, extendedMessages: false };
const attrs = (): PathAttribute[] => [{ kind: 'origin', origin: 0 }, { kind: 'asPath', segments: [] }];
const plan = { ctx, attributes: attrs, nextHop: (afi: number): string => (afi === Afi.IPv4 ? '192.0.2.1' : '2001:db8::1') };
const want = (keys: string[], sig = 'a'): Map<string, Wanted<string>> => new Map(keys.map((k) => [k, { route: k, sig }]));
const v6 = (n: number): string[] => Array.from({ length: n }, (_, i) => `2001:db8:100::${(i + 1).toString(16)}/128`);

test('PrefixTable: canonical keys, parsed once, owned (two tables share nothing), bounded', () => {
  const a = new PrefixTable(4);
  const b = new PrefixTable();
  assert.equal(a.key('2001:DB8:0::1'), '2001:db8::1/128');
  assert.equal(a.key('192.0.2.1'), '192.0.2.1/32');
  assert.equal(a.parse('2001:DB8:0::1'), a.parse('2001:db8::1/128'), 'one entry for both spellings');
  assert.equal(b.size, 0);
  for (const k of v6(10)) a.key(k);
  assert.ok(a.size <= 6, `bounded: ${a.size}`);
});

test('only committed messages count as sent: an interrupted plan is planned again from where it stopped', () => {
  const rib = new AdjRibOut(new PrefixTable());
  rib.oweEndOfRib([Afi.IPv6]);
  const w = want(v6(1000));
  const first = rib.plan(w, plan);
  assert.ok(first.messages.length > 3);
  assert.deepEqual(endOfRibs([first.messages.at(-1)!.message]), [Afi.IPv6], 'End-of-RIB is planned last');
  rib.commit(first.messages[0]!.change); // the socket took one message, then refused
  assert.equal(rib.size, announcedIn([first.messages[0]!.message]).length);
  const second = rib.plan(w, plan);
  assert.equal(second.messages.length, first.messages.length - 1, 'what was written is not planned again');
  for (const m of second.messages) rib.commit(m.change);
  assert.equal(rib.size, 1000);
  assert.deepEqual(rib.plan(w, plan).messages, [], 'nothing left, End-of-RIB included');
});

test('withdrawals and changed attributes; reset of one family keeps the other', () => {
  const rib = new AdjRibOut(new PrefixTable());
  const all = want(['198.51.100.1/32', '198.51.100.2/32', ...v6(2)]);
  for (const m of rib.plan(all, plan).messages) rib.commit(m.change);
  assert.equal(rib.size, 4);
  const next = want(['198.51.100.1/32', ...v6(2)], 'b');
  const p = rib.plan(next, plan);
  const withdrawn = p.messages.flatMap((m) => (m.change.withdrawn ?? []));
  assert.deepEqual(withdrawn, ['198.51.100.2/32']);
  assert.deepEqual(announcedIn(p.messages.map((m) => m.message)).sort(), ['198.51.100.1/32', ...v6(2)].sort(), 'changed signature: re-announced');
  for (const m of p.messages) rib.commit(m.change);
  rib.reset([Afi.IPv6]);
  assert.equal(rib.size, 1);
  assert.equal(rib.get('198.51.100.1/32'), 'b');
  assert.deepEqual(announcedIn(rib.plan(next, plan).messages.map((m) => m.message)).sort(), v6(2).sort(), 'only the reset family is planned again');
});

test('attributes too large for any prefix: reported as an error, nothing planned or recorded for them', () => {
  const rib = new AdjRibOut(new PrefixTable());
  const big = { ...plan, attributes: (): PathAttribute[] => [...attrs(), { kind: 'communities', communities: Array.from({ length: 1020 }, (_, i) => i) }] };
  const p = rib.plan(want(['198.51.100.1/32']), big);
  assert.deepEqual(p.messages, []);
  assert.equal(p.errors.length, 1);
  assert.equal(p.errors[0]?.error.code, 'attributesTooLarge');
  assert.equal(rib.size, 0);
});
