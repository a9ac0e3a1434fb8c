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
import { nodeInterfaces, serveSpeakerMetrics } from './speaker.ts';

const base: DaemonMetrics = {
  announced: { L2: 3, BGP: 2 }, gained: 5, lost: 2, replies: 40, announcements: 12, heartbeatLosses: 1,
  heartbeatsRejected: { 'bad-mac': 4 },
  sessions: [{ peer: 'r1', established: true, updatesSent: 7, prefixesSent: 2 }, { peer: 'r2', established: false, updatesSent: 0, prefixesSent: 0 }],
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
  const next: SpeakerMetricsInput = { ...base, gained: 6, replies: 45, sessions: [{ peer: 'r1', established: true, updatesSent: 3, prefixesSent: 2 }] };
  observeSpeaker(next);
  assert.equal(await value('baregate_speaker_ownership_changes_total', { change: 'gained' }), 6, 'grew by 1');
  assert.equal(await value('baregate_speaker_layer2_responses_sent_total'), 45);
  assert.equal(await value('baregate_speaker_bgp_updates_total', { peer: 'r1' }), 10, 'a new BGP speaker restarted at 3: 7 + 3');
  assert.equal(await value('baregate_speaker_bgp_session_up', { peer: 'r2' }), undefined, 'r2 is gone');
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
