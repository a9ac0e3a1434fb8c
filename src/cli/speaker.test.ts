/**
 * The speaker's HTTP endpoints and metrics: /healthz follows the process (never the apiserver), /readyz the
 * daemon's readiness, /metrics shows the speaker series brought up to date from the daemon's totals (counters
 * grow by the difference, a restarted total counts in full, gone peers lose their gauges). Loopback only.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { pino } from 'pino';
import type { Health } from '../k8s/ports.ts';
import { observeSpeaker, registry, type SpeakerMetricsInput } from '../metrics/metrics.ts';
import type { DaemonMetrics, SpeakerDaemon } from '../speaker/daemon.ts';
import v8 from 'node:v8';
import { applySpeakerHeapFlags, nodeInterfaces, serveSpeakerMetrics, SPEAKER_V8_FLAGS } from './speaker.ts';

const base: DaemonMetrics = {
  announced: { L2: 3, BGP: 2 }, gained: 5, lost: 2, replies: 40, announcements: 12, heartbeatLosses: 1,
  heartbeatsRejected: { 'bad-mac': 4 },
  sessions: [{ peer: 'r1', established: true, updatesSent: 7, prefixesSent: 2 }, { peer: 'r2', established: false, updatesSent: 0, prefixesSent: 0 }],
  bfd: [{ peer: 'r1', up: true, stateChanges: 2, packetsSent: 100, packetsReceived: 90 }],
};

async function value(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values as { value: number; labels: Record<string, string> }[] | undefined)?.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v?.value;
}

test('observeSpeaker: gauges set, counters grow by differences, a smaller total (restart) counts in full, gone peers removed', async () => {
  observeSpeaker(base);
  assert.equal(await value('baregate_speaker_announced_ips', { mode: 'L2' }), 3);
  assert.equal(await value('baregate_speaker_ownership_changes_total', { change: 'gained' }), 5);
  assert.equal(await value('baregate_speaker_layer2_responses_sent_total'), 40);
  assert.equal(await value('baregate_speaker_heartbeats_rejected_total', { reason: 'bad-mac' }), 4);
  assert.equal(await value('baregate_speaker_bgp_session_up', { peer: 'r1' }), 1);
  assert.equal(await value('baregate_speaker_bgp_session_up', { peer: 'r2' }), 0);
  assert.equal(await value('baregate_bfd_session_up', { peer: 'r1' }), 1);
  assert.equal(await value('baregate_bfd_state_changes_total', { peer: 'r1' }), 2);
  assert.equal(await value('baregate_bfd_packets_sent_total', { peer: 'r1' }), 100);
  assert.equal(await value('baregate_bfd_packets_received_total', { peer: 'r1' }), 90);
  const next: SpeakerMetricsInput = { ...base, gained: 6, replies: 45, sessions: [{ peer: 'r1', established: true, updatesSent: 3, prefixesSent: 2 }], bfd: [] };
  observeSpeaker(next);
  assert.equal(await value('baregate_speaker_ownership_changes_total', { change: 'gained' }), 6, 'grew by 1');
  assert.equal(await value('baregate_speaker_layer2_responses_sent_total'), 45);
  assert.equal(await value('baregate_speaker_bgp_updates_total', { peer: 'r1' }), 10, 'a new BGP speaker restarted at 3: 7 + 3');
  assert.equal(await value('baregate_speaker_bgp_session_up', { peer: 'r2' }), undefined, 'r2 is gone');
  assert.equal(await value('baregate_bfd_session_up', { peer: 'r1' }), undefined, 'the BFD session is gone');
  observeSpeaker(next);
  assert.equal(await value('baregate_speaker_ownership_changes_total', { change: 'gained' }), 6, 'the same totals add nothing');
});

test('/healthz, /readyz and /metrics', async () => {
  let ready: Health = { ok: false, reason: 'caches not synced' };
  const daemon = { health: () => ({ ok: true }), readiness: () => ready, metrics: () => base } as unknown as SpeakerDaemon;
  const server = serveSpeakerMetrics(0, '127.0.0.1', daemon, pino({ level: 'silent' }));
  await new Promise<void>((r) => { server.once('listening', r); });
  const port = (server.address() as AddressInfo).port;
  const get = async (path: string): Promise<{ status: number; text: string }> => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: r.status, text: await r.text() };
  };
  try {
    assert.equal((await get('/healthz')).status, 200);
    assert.deepEqual(await get('/readyz'), { status: 503, text: 'caches not synced' });
    ready = { ok: true };
    assert.equal((await get('/readyz')).status, 200);
    const m = await get('/metrics');
    assert.equal(m.status, 200);
    assert.match(m.text, /^baregate_speaker_announced_ips\{mode="BGP"\} 2$/m);
    assert.match(m.text, /^baregate_speaker_layer2_gratuitous_sent_total 12$/m);
    assert.equal((await get('/nope')).status, 404);
  } finally {
    await new Promise<void>((r) => { server.close(() => { r(); }); });
  }
});

test('nodeInterfaces: this host\'s interfaces with addresses, lower-case MACs, sorted', () => {
  const ifs = nodeInterfaces();
  assert.ok(ifs.some((i) => i.name === 'lo'), 'loopback is listed (the planner skips it)');
  assert.deepEqual(ifs.map((i) => i.name), [...ifs.map((i) => i.name)].sort());
  for (const i of ifs) {
    assert.equal(i.mac, i.mac.toLowerCase());
    for (const a of i.addresses) assert.ok(a.address !== '', 'every address has text');
  }
});

test('applySpeakerHeapFlags: the operator\'s own flags win; applied, the young generation stops growing', () => {
  assert.deepEqual(applySpeakerHeapFlags(['--heap_growing_percent=30', '--semi-space-growth-factor=2']), [], 'both given (either spelling): none applied');
  assert.deepEqual(applySpeakerHeapFlags(['--heap-growing-percent=30']), ['--semi-space-growth-factor=1']);
  assert.deepEqual(applySpeakerHeapFlags([]), [...SPEAKER_V8_FLAGS]);
  const young = (): number => v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space')?.space_size ?? 0;
  const before = young();
  // survivors of young-generation GCs are what makes V8 double the young generation: keep ~40 MB of them alive
  const keep: unknown[] = [];
  for (let i = 0; i < 400_000; i++) keep.push({ i, s: `x${i}`, a: [i, i + 1] });
  assert.ok(keep.length > 0);
  // V8's default doubles it up to 32 MiB under this load (`new_space` space_size); with the flag it stays where it was
  // (one step at most)
  assert.ok(young() <= Math.max(2 * before, 4 * 1024 * 1024), `young generation ${young()} bytes, was ${before}`);
});
