/**
 * Status content (what is announced and how, sessions, members, conditions with stable transition times) and
 * the publisher's cost rule: one write per change after the debounce, none when the content is unchanged, a
 * retry after a failed write, and no write at start when the object already holds the same content.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { FakeClock } from '../clock.ts';
import { canonicalJson, conditions, inPrefix, MAX_LISTED, StatusPublisher, statusContent, type SpeakerStatusContent, type StatusInput, type StatusSink } from './status.ts';
import type { Plan } from './types.ts';

const silent = pino({ level: 'silent' });

const plan: Plan = {
  l2: new Map([['192.0.2.10', { ip: '192.0.2.10', interfaces: ['eth0'], services: ['web/b', 'web/a'], outrankedBySuspects: [] }]]),
  l2Owners: new Map([['192.0.2.10', { owner: 'n1', services: ['web/a', 'web/b'] }]]),
  bgp: new Map([
    ['r2', [{ prefix: '198.51.100.0/24', communities: [], largeCommunities: [], services: ['web/c', 'web/d'] }]],
    ['r1', [{ prefix: '198.51.100.0/24', communities: [], largeCommunities: [], services: ['web/c', 'web/d'] }, { prefix: '2001:db8::5/128', communities: [], largeCommunities: [], services: ['web/e'] }]],
  ]),
  peers: ['r1', 'r2'],
  unannounced: new Map(),
};

const input: StatusInput = {
  node: 'n1',
  answering: new Map([['192.0.2.10', ['eth1', 'eth0']]]),
  plan,
  services: [
    { key: 'web/c', ips: ['198.51.100.7'], pool: 'p', local: false },
    { key: 'web/d', ips: ['198.51.100.9', '2001:db8::9'], pool: 'p', local: false },
    { key: 'web/e', ips: ['2001:db8::5'], pool: 'p', local: false },
  ],
  sessions: [
    { peer: 'r2', address: '192.0.2.253', state: 'Active', prefixesSent: 0, lastError: 'connect refused' },
    { peer: 'r1', address: '192.0.2.254', state: 'Established', establishedSince: Date.UTC(2026, 0, 1, 10), prefixesSent: 2, lastError: '' },
  ],
  members: new Map([['n2', { state: 'suspect', interfaces: [] }], ['n1', { state: 'alive', interfaces: [] }]]),
  conditions: [{ type: 'ConfigValid', ok: true, reason: 'Valid', message: 'fine' }],
};

test('content: L2 from what is answered, BGP per Service IP inside each route, sorted, summary counts', () => {
  const c = statusContent(input, [], Date.UTC(2026, 0, 2));
  assert.deepEqual(c.announcements, [
    { ip: '192.0.2.10', services: ['web/a', 'web/b'], mode: 'L2', interfaces: ['eth0', 'eth1'] },
    { ip: '198.51.100.7', services: ['web/c'], mode: 'BGP', peers: ['r1', 'r2'] },
    { ip: '198.51.100.9', services: ['web/d'], mode: 'BGP', peers: ['r1', 'r2'] },
    { ip: '2001:db8::5', services: ['web/e'], mode: 'BGP', peers: ['r1'] },
  ], 'an IPv6 address of web/d is not in the IPv4 aggregate');
  assert.deepEqual(c.sessions, [
    { peer: 'r1', address: '192.0.2.254', state: 'Established', establishedSince: '2026-01-01T10:00:00.000Z', prefixesSent: 2 },
    { peer: 'r2', address: '192.0.2.253', state: 'Active', prefixesSent: 0, lastError: 'connect refused' },
  ]);
  assert.deepEqual(c.members, [{ node: 'n1', state: 'alive' }, { node: 'n2', state: 'suspect' }]);
  assert.deepEqual(c.summary, { announced: 4, sessionsEstablished: 1, sessions: 2, membersAlive: 1, members: 2 });
});

test('content: a planned IP not answered yet (probe pending) is not listed', () => {
  const c = statusContent({ ...input, answering: new Map() });
  assert.equal(c.announcements.filter((a) => a.mode === 'L2').length, 0);
});

test('content: more announcements than fit one object are cut to MAX_LISTED, counted in full and flagged', () => {
  const n = MAX_LISTED + 5;
  const answering = new Map<string, readonly string[]>(Array.from({ length: n }, (_, k) => [`10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`, ['eth0']]));
  const c = statusContent({ ...input, answering, plan: undefined });
  assert.equal(c.announcements.length, MAX_LISTED);
  assert.equal(c.summary.announced, n);
  assert.deepEqual(c.conditions.map((x) => [x.type, x.status]), [['ConfigValid', 'True'], ['AnnouncementsListed', 'False']]);
  assert.equal(statusContent(input).conditions.some((x) => x.type === 'AnnouncementsListed'), false, 'absent when everything is listed');
});

test('conditions keep their transition time while the status stays, take the new time on a change', () => {
  const t1 = Date.UTC(2026, 0, 1, 0, 0, 0);
  const first = conditions([{ type: 'A', ok: true, reason: 'R', message: 'm' }], [], t1);
  assert.equal(first[0]?.lastTransitionTime, '2026-01-01T00:00:00Z');
  const same = conditions([{ type: 'A', ok: true, reason: 'R2', message: 'other text' }], first, t1 + 60_000);
  assert.equal(same[0]?.lastTransitionTime, '2026-01-01T00:00:00Z');
  const flipped = conditions([{ type: 'A', ok: false, reason: 'Bad', message: 'm' }], same, t1 + 60_000);
  assert.equal(flipped[0]?.lastTransitionTime, '2026-01-01T00:01:00Z');
  assert.equal(flipped[0].status, 'False');
});

test('inPrefix and canonicalJson', () => {
  assert.equal(inPrefix('198.51.100.7', '198.51.100.0/24'), true);
  assert.equal(inPrefix('198.51.101.7', '198.51.100.0/24'), false);
  assert.equal(inPrefix('2001:db8::5', '198.51.100.0/24'), false);
  assert.equal(inPrefix('2001:db8::5', '2001:db8::/64'), true);
  assert.equal(canonicalJson({ b: 1, a: { d: [2, { y: 1, x: 0 }], c: 3 } }), canonicalJson({ a: { c: 3, d: [2, { x: 0, y: 1 }] }, b: 1 }));
});

class Sink implements StatusSink {
  writes: SpeakerStatusContent[] = [];
  fail = 0;
  stored: SpeakerStatusContent | undefined;
  read(): Promise<{ kind: 'ok'; status: SpeakerStatusContent | undefined }> { return Promise.resolve({ kind: 'ok', status: this.stored }); }
  write(_n: string, s: SpeakerStatusContent): Promise<{ kind: 'ok' } | { kind: 'failed'; message: string }> {
    this.writes.push(s);
    if (this.fail > 0) { this.fail--; return Promise.resolve({ kind: 'failed', message: 'HTTP 503' }); }
    this.stored = s;
    return Promise.resolve({ kind: 'ok' });
  }
}

test('publisher: debounced, one write per change, none when unchanged, retried after a failure', async () => {
  const clock = new FakeClock();
  const sink = new Sink();
  let answering = new Map<string, readonly string[]>();
  const p = new StatusPublisher({ node: 'n1', sink, clock, log: silent, content: (prev) => statusContent({ ...input, answering }, prev, clock.wall()) });
  await p.start();
  await clock.advanceAsync(499, 499);
  assert.equal(sink.writes.length, 0, 'not before the debounce');
  await clock.advanceAsync(10, 10);
  assert.equal(sink.writes.length, 1);
  for (let i = 0; i < 20; i++) { p.changed(); await clock.advanceAsync(100, 100); }
  assert.equal(sink.writes.length, 1, 'unchanged content: no write, however often changed() is called');
  answering = new Map([['192.0.2.10', ['eth0']]]);
  p.changed();
  p.changed();
  await clock.advanceAsync(1000, 50);
  assert.equal(sink.writes.length, 2, 'one write for the change');
  sink.fail = 2;
  answering = new Map();
  p.changed();
  await clock.advanceAsync(600, 50);
  assert.equal(sink.writes.length, 3, 'the write failed');
  await clock.advanceAsync(5000, 100);
  assert.equal(sink.writes.length, 5, 'retried until it went through (1 s, then 2 s)');
  assert.equal(sink.stored?.announcements.filter((a) => a.mode === 'L2').length, 0);
  await clock.advanceAsync(60_000, 1000);
  assert.equal(sink.writes.length, 5, 'nothing afterwards');
  p.stop();
});

test('publisher: the object already holding the same content means no write at start', async () => {
  const clock = new FakeClock();
  const sink = new Sink();
  sink.stored = statusContent(input, [], clock.wall());
  const p = new StatusPublisher({ node: 'n1', sink, clock, log: silent, content: (prev) => statusContent(input, prev, clock.wall() + 99_000) });
  await p.start();
  await clock.advanceAsync(5000, 100);
  assert.equal(sink.writes.length, 0, 'same content (transition times carried over from what was read)');
  p.stop();
});
