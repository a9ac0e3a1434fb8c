/**
 * `baregate migrate` as a command: where it writes, and its exit codes (0 converted, 1 no equivalent or an address
 * at stake, 2 input error: unreadable file, bad YAML, nothing of MetalLB's, cluster unreachable).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { MigrateReport } from '../migrate/report.ts';
import { runMigrateCommand, type MigrateFlags, type MigrateIO } from './migrate.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'metallb');
const dir = mkdtempSync(join(tmpdir(), 'migrate-cli-'));
test.after(() => { rmSync(dir, { recursive: true, force: true }); });

function io(stdin = ''): MigrateIO & { out: string; err: string } {
  const o = { out: '', err: '', stdout: (s: string) => { o.out += s; }, stderr: (s: string) => { o.err += s; }, stdin: () => stdin };
  return o;
}
const flags = (f: Partial<MigrateFlags> = {}): MigrateFlags => ({ fromCluster: false, reportFormat: 'text', metallbNamespace: 'metallb-system', ...f });

test('files to -o FILE, report as JSON to --report FILE, annotation script: exit 0 when everything converts', async () => {
  const out = join(dir, 'out0.yaml');
  const report = join(dir, 'report0.json');
  const script = join(dir, 'rw0.sh');
  const t = io();
  const code = await runMigrateCommand([join(FIXTURES, 'helm-values.yaml')], flags({ output: out, report, reportFormat: 'json', rewriteAnnotations: script }), t);
  assert.equal(code, 0);
  assert.equal(t.out, '');
  assert.equal(t.err, '');
  assert.match(readFileSync(out, 'utf8'), /kind: IPAddressPool\nmetadata:\n {2}name: default/);
  const r = JSON.parse(readFileSync(report, 'utf8')) as MigrateReport;
  assert.equal(r.exitCode, 0);
  assert.deepEqual(r.objects, ['IPAddressPool/default', 'L2Advertisement/default']);
  assert.ok((statSync(script).mode & 0o111) !== 0, 'the script is executable');
  assert.match(readFileSync(script, 'utf8'), /^#!\/bin\/sh\n/);
});

test('stdout and stderr by default; - reads stdin; exit 1 when something has no equivalent', async () => {
  const t = io(readFileSync(join(FIXTURES, 'current.yaml'), 'utf8'));
  const code = await runMigrateCommand(['-'], flags(), t);
  assert.equal(code, 1);
  assert.match(t.out, /^# baregate\.io objects converted/);
  assert.match(t.out, /# Sources: stdin\./);
  assert.match(t.err, /NO EQUIVALENT in baregate/);
  assert.match(t.err, /exit 1: /);
});

test('input errors are exit 2 and write no objects: no input, unreadable file, bad YAML, nothing of MetalLB\'s', async () => {
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'kind: [unclosed\n');
  const none = join(dir, 'none.yaml');
  writeFileSync(none, 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: other }\ndata: { a: b }\n');
  const cases: [string[], RegExp][] = [
    [[], /no input/],
    [[join(dir, 'missing.yaml')], /cannot read .*missing\.yaml/],
    [[bad], /not valid YAML: .*bad\.yaml/],
    [[none], /nothing of MetalLB's found/],
  ];
  for (const [files, why] of cases) {
    const out = join(dir, 'never.yaml');
    const t = io();
    assert.equal(await runMigrateCommand(files, flags({ output: out }), t), 2, files.join(' '));
    assert.match(t.err, why);
    assert.match(t.err, /exit 2: /);
    assert.equal(existsSync(out), false, 'no output on an input error');
  }
});

test('--from-cluster with an apiserver that cannot be reached: exit 2', async () => {
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, [
    'apiVersion: v1', 'kind: Config', 'current-context: c',
    'clusters: [{ name: c, cluster: { server: "http://127.0.0.1:1" } }]',
    'users: [{ name: u, user: { token: t } }]',
    'contexts: [{ name: c, context: { cluster: c, user: u } }]', '',
  ].join('\n'));
  const t = io();
  const code = await runMigrateCommand([], flags({ fromCluster: true, kubeconfig, reportFormat: 'json' }), t);
  assert.equal(code, 2);
  const r = JSON.parse(t.err) as MigrateReport;
  assert.equal(r.exitCode, 2);
  assert.match(r.findings[0]?.message ?? '', /cannot read the cluster/);
});
