/**
 * `baregate doctor`'s output: the table a person reads (every finding with its fix, a count per severity) and the
 * exit code when the cluster cannot be talked to at all (3).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EXIT_UNREACHABLE, formatFindings, runDoctorCommand } from '../cli/doctor.ts';
import { FindingCodes, type Finding } from './checks.ts';

test('the table: a row per finding with its fix below, most severe first as given, and the counts', () => {
  const fs: Finding[] = [
    { severity: 'error', code: FindingCodes.IPVSStrictARP, object: 'ConfigMap/kube-system/kube-proxy', message: 'kube-proxy runs in IPVS mode without strictARP', fix: 'set ipvs.strictARP: true' },
    { severity: 'info', code: FindingCodes.CouldNotCheck, object: 'nodes', message: 'could not read it', fix: 'grant list' },
  ];
  const lines = formatFindings(fs).split('\n');
  assert.match(lines[0] ?? '', /^SEVERITY\s+CODE\s+OBJECT\s+MESSAGE$/);
  assert.match(lines[1] ?? '', /^ERROR\s+ipvs-strict-arp\s+ConfigMap\/kube-system\/kube-proxy\s+kube-proxy runs/);
  assert.equal(lines[2], '  fix: set ipvs.strictARP: true');
  assert.match(lines[3] ?? '', /^INFO\s+could-not-check\s+nodes\s+could not read it$/);
  assert.equal(lines[4], '  fix: grant list');
  // columns line up: MESSAGE starts at the same offset in every row
  assert.equal(lines[1]?.indexOf('kube-proxy runs'), lines[0]?.indexOf('MESSAGE'));
  assert.equal(lines[3]?.indexOf('could not read'), lines[0]?.indexOf('MESSAGE'));
  assert.equal(lines.at(-2), '1 error(s), 0 warning(s), 1 info');
  assert.equal(formatFindings([]), 'No problems found.\n');
});

test('a cluster that cannot be talked to: exit code 3, nothing on stdout', async () => {
  // a port that was free a moment ago: connection refused
  const port = await new Promise<number>((resolve) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const a = s.address(); s.close(() => { resolve(typeof a === 'object' && a ? a.port : 1); }); }); });
  const dir = mkdtempSync(join(tmpdir(), 'doctor-'));
  const kc = join(dir, 'kubeconfig');
  writeFileSync(kc, [
    'apiVersion: v1', 'kind: Config', 'current-context: c',
    'clusters:', '- name: c', '  cluster:', `    server: https://127.0.0.1:${port}`, '    insecure-skip-tls-verify: true',
    'users:', '- name: u', '  user:', '    token: t',
    'contexts:', '- name: c', '  context:', '    cluster: c', '    user: u',
  ].join('\n'));
  let out = '';
  for (const output of ['json', 'table'] as const) {
    assert.equal(await runDoctorCommand({ kubeconfig: kc, output, namespace: 'baregate-system' }, (s) => { out += s; }), EXIT_UNREACHABLE);
  }
  assert.equal(await runDoctorCommand({ kubeconfig: join(dir, 'missing'), output: 'json', namespace: 'baregate-system' }, (s) => { out += s; }), EXIT_UNREACHABLE);
  assert.equal(out, '');
});
