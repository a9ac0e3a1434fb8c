/**
 * `baregate status` report and table: Services joined with SpeakerStatus announcements, stale speakers (no fresh
 * Lease) not counted, dual-stack per-IP pools, pending Services, BGP sessions per node, aligned columns.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALLOCATED_FROM_POOL, SPEAKER_LEASE_LABEL, SPEAKER_LEASE_PREFIX } from '../api/keys.ts';
import { formatTable, statusReport, type SessionReport } from './status.ts';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const svc = (ns: string, name: string, ips: string[], pool: string, type = 'LoadBalancer'): unknown => ({
  metadata: { name, namespace: ns, annotations: pool === '' ? {} : { [ALLOCATED_FROM_POOL]: pool } },
  spec: { type }, status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } },
});
const lease = (node: string, renewedAgoMs: number): unknown => ({
  metadata: { name: `${SPEAKER_LEASE_PREFIX}${node}`, labels: { [SPEAKER_LEASE_LABEL]: node } },
  spec: { holderIdentity: node, leaseDurationSeconds: 15, renewTime: new Date(NOW - renewedAgoMs).toISOString() },
});
const status = (node: string, announcements: unknown[], sessions: unknown[] = [], conditions: unknown[] = []): { metadata: { name: string }; status: Record<string, unknown> } => ({
  metadata: { name: node }, status: { node, announcements, sessions, members: [], conditions },
});

const inputs = {
  services: [
    svc('web', 'b', ['192.0.2.201'], 'p1'),
    svc('web', 'a', ['192.0.2.200', '2001:db8::200'], 'p1,p6'),
    svc('web', 'pending', [], ''),
    svc('web', 'internal', [], '', 'ClusterIP'),
    svc('web', 'routed', ['203.0.113.5'], 'bgp'),
    svc('web', 'orphan', ['192.0.2.210'], 'p1'),
  ],
  statuses: [
    status('node-a', [
      { ip: '192.0.2.200', services: ['web/a'], mode: 'L2', interfaces: ['eth0'] },
      { ip: '203.0.113.5', services: ['web/routed'], mode: 'BGP', peers: ['r1'] },
    ], [{ peer: 'r1', address: '192.0.2.254', state: 'Established', establishedSince: '2026-01-01T11:00:00Z', prefixesSent: 1, bfd: { state: 'Up', multihop: true, upSince: '2026-01-01T11:00:00Z' } }]),
    status('node-b', [
      { ip: '2001:db8::200', services: ['web/a'], mode: 'L2', interfaces: ['eth0'] },
      { ip: '192.0.2.201', services: ['web/b'], mode: 'L2', interfaces: ['eth0'] },
      { ip: '203.0.113.5', services: ['web/routed'], mode: 'BGP', peers: ['r1'] },
    ], [{ peer: 'r1', address: '192.0.2.254', state: 'Active', prefixesSent: 0, lastError: 'connect: ECONNREFUSED' }],
    [{ type: 'ConfigValid', status: 'False', message: '1 error(s)' }, { type: 'ApiReachable', status: 'True', message: 'ok' }]),
    // crashed 40 s ago: its last status still claims an IP
    status('node-c', [{ ip: '192.0.2.210', services: ['web/orphan'], mode: 'L2', interfaces: ['eth0'] }]),
  ],
  leases: [lease('node-a', 1000), lease('node-b', 5000), lease('node-c', 40_000)],
};

test('report: Services with IPs, pools per IP, mode and announcing nodes; stale speakers are not counted', () => {
  const r = statusReport(inputs, NOW);
  assert.deepEqual(r.services.map((s) => s.name), ['web/a', 'web/b', 'web/orphan', 'web/pending', 'web/routed'], 'LoadBalancer Services only, sorted');
  const a = r.services[0];
  assert.deepEqual(a, {
    name: 'web/a', ips: ['192.0.2.200', '2001:db8::200'], pool: 'p1,p6', mode: 'L2', nodes: ['node-a', 'node-b'],
    announcements: [{ ip: '192.0.2.200', pool: 'p1', mode: 'L2', nodes: ['node-a'] }, { ip: '2001:db8::200', pool: 'p6', mode: 'L2', nodes: ['node-b'] }],
  });
  const routed = r.services.find((s) => s.name === 'web/routed');
  assert.deepEqual(routed?.announcements, [{ ip: '203.0.113.5', pool: 'bgp', mode: 'BGP', nodes: ['node-a', 'node-b'] }], 'ECMP: every BGP node');
  const orphan = r.services.find((s) => s.name === 'web/orphan');
  assert.deepEqual(orphan?.announcements, [{ ip: '192.0.2.210', pool: 'p1', mode: '', nodes: [] }], 'the stale node is not an announcer');
  assert.deepEqual(r.nodes.map((n) => [n.node, n.stale, n.announcing]), [['node-a', false, 2], ['node-b', false, 3], ['node-c', true, 1]]);
  assert.deepEqual(r.nodes[1]?.problems, ['ConfigValid: 1 error(s)'], 'only conditions that are not True');
  assert.deepEqual(r.nodes[1].sessions, [{ peer: 'r1', address: '192.0.2.254', state: 'Active', prefixesSent: 0, lastError: 'connect: ECONNREFUSED' }]);
});

test('report: garbage in the objects never throws', () => {
  const r = statusReport({ services: [null, 1, 'x', { spec: { type: 'LoadBalancer' } }], statuses: [{ metadata: { name: 'n' }, status: { announcements: [null, { ip: 5 }], sessions: 'x' } }], leases: [{}] }, NOW);
  assert.equal(r.services.length, 1);
  assert.deepEqual(r.nodes, [{ node: 'n', stale: true, announcing: 1, sessions: [], problems: [] }]);
});

test('table: one line per Service IP in aligned columns, then nodes and sessions', () => {
  const text = formatTable(statusReport(inputs, NOW));
  const lines = text.split('\n');
  assert.match(lines[0] ?? '', /^SERVICE\s+IP\s+POOL\s+MODE\s+NODES$/);
  const col = (line: string, word: string): number => line.indexOf(word);
  const ipCol = col(lines[0] ?? '', 'IP');
  for (const l of lines.slice(1, 7)) assert.equal(l.slice(ipCol).match(/^\S/) !== null, true, `IP column aligned in: ${l}`);
  assert.ok(lines.some((l) => /^web\/a\s+192\.0\.2\.200\s+p1\s+L2\s+node-a$/.test(l)));
  assert.ok(lines.some((l) => /^web\/a\s+2001:db8::200\s+p6\s+L2\s+node-b$/.test(l)));
  assert.ok(lines.some((l) => /^web\/routed\s+203\.0\.113\.5\s+bgp\s+BGP\s+node-a,node-b$/.test(l)));
  assert.ok(lines.some((l) => /^web\/orphan\s+192\.0\.2\.210\s+p1\s+-\s+<none>$/.test(l)));
  assert.ok(lines.some((l) => /^web\/pending\s+<pending>/.test(l)));
  assert.ok(lines.some((l) => /^node-c\s+stale\s+1\s+0\s+-$/.test(l)));
  assert.ok(lines.some((l) => /^node-b\s+r1\s+192\.0\.2\.254\s+Active\s+-\s+0\s+-\s+connect: ECONNREFUSED$/.test(l)));
  assert.ok(lines.some((l) => /^node-a\s+r1\s+192\.0\.2\.254\s+Established\s+2026-01-01T11:00:00Z\s+1\s+Up \(multihop\)\s+-$/.test(l)), 'the BFD column');
  assert.match(formatTable({ services: [], nodes: [] }), /No LoadBalancer Services\.\n\nNo speaker has reported yet/);
});

test('table: a BFD session that is not Up shows why the peer\'s packets are dropped; an Up one does not', () => {
  const dropped = 'TTL 64 below the minimum 254 (BFDProfile p minimumTtl)';
  const session = (peer: string, state: string): SessionReport => ({ peer, address: '192.0.2.254', state: 'Established', prefixesSent: 0, bfd: { state, multihop: true, lastDropped: dropped } });
  const out = formatTable({ services: [], nodes: [{ node: 'node-a', stale: false, announcing: 0, problems: [], sessions: [session('down', 'Down'), session('up', 'Up')] }] });
  const lines = out.split('\n');
  assert.ok(lines.some((l) => l.startsWith('node-a  down') && l.endsWith(`Down (multihop)  BFD drops the peer's packets: ${dropped}`)), out);
  assert.ok(lines.some((l) => /^node-a\s+up\s+.*Up \(multihop\)\s+-$/.test(l)), out);
  // and the report reads it from the status object
  const withDrop = { ...inputs, statuses: [status('node-a', [], [{ peer: 'r1', address: '192.0.2.254', state: 'Established', bfd: { state: 'Down', multihop: true, lastDropped: dropped } }])] };
  assert.deepEqual(statusReport(withDrop, NOW).nodes[0]?.sessions[0]?.bfd, { state: 'Down', multihop: true, lastDropped: dropped });
  assert.equal(statusReport(inputs, NOW).nodes[0]?.sessions[0]?.bfd?.lastDropped, undefined, 'absent when the status has none');
});
