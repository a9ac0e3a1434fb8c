/**
 * The Services at stake: accepted annotations, addresses in no converted pool, foreign classes, and the
 * `--rewrite-annotations` script, whose quoting is checked by running it with a real `sh` and a stand-in kubectl.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { shellQuote } from './convert.ts';
import type { OutputObject } from './report.ts';
import { analyzeServices, rewriteScript } from './services.ts';

const pool = (name: string, addresses: string[]): OutputObject => ({ apiVersion: 'baregate.io/v1beta1', kind: 'IPAddressPool', metadata: { name }, spec: { addresses } });
const POOLS = [pool('public', ['192.0.2.0/25', '2001:db8::/120']), pool('internal', ['198.51.100.0-198.51.100.50'])];
function svc(name: string, o: { ns?: string; annotations?: Record<string, string>; ips?: string[]; spec?: Record<string, unknown> } = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: o.ns ?? 'apps', annotations: o.annotations ?? {} },
    spec: { type: 'LoadBalancer', ...o.spec }, status: { loadBalancer: { ingress: (o.ips ?? []).map((ip) => ({ ip })) } },
  };
}

test('MetalLB annotations baregate reads unchanged are listed with key, value and baregate\'s key', () => {
  const r = analyzeServices([svc('web', { annotations: { 'metallb.universe.tf/loadBalancerIPs': '192.0.2.10,2001:db8::10', 'metallb.io/allow-shared-ip': 'k', 'metallb.io/ip-allocated-from-pool': 'public', other: 'x' }, ips: ['192.0.2.10', '2001:db8::10'] })], POOLS);
  assert.deepEqual(r.services, [{
    service: 'apps/web', addresses: ['192.0.2.10', '2001:db8::10'], pools: ['public', 'public'],
    annotations: [
      { key: 'metallb.universe.tf/loadBalancerIPs', value: '192.0.2.10,2001:db8::10', baregateKey: 'baregate.io/loadBalancerIPs' },
      { key: 'metallb.io/allow-shared-ip', value: 'k', baregateKey: 'baregate.io/allow-shared-ip' },
    ],
  }]);
  assert.deepEqual(r.findings, []);
});

test('an address (held or asked for) in no converted pool is an error; so is a pool name that is not converted', () => {
  const r = analyzeServices([
    svc('held', { ips: ['203.0.113.201'] }),
    svc('asked', { spec: { loadBalancerIP: '203.0.113.202' } }),
    svc('annotated', { annotations: { 'metallb.io/loadBalancerIPs': '198.51.100.60' } }),
    svc('by-pool', { annotations: { 'metallb.universe.tf/address-pool': 'gone' }, ips: ['198.51.100.5'] }),
    svc('fine', { ips: ['198.51.100.50'] }),
  ], POOLS);
  const errors = r.findings.filter((f) => f.level === 'error').map((f) => `${f.subject}: ${f.message.split(':')[0] ?? ''}`);
  assert.deepEqual(errors, [
    'Service apps/held: 203.0.113.201 lies in no converted IPAddressPool',
    'Service apps/asked: 203.0.113.202 lies in no converted IPAddressPool',
    'Service apps/annotated: 198.51.100.60 lies in no converted IPAddressPool',
    'Service apps/by-pool: asks for pool "gone", which is not among the converted pools',
  ]);
  assert.deepEqual(r.services.find((s) => s.service === 'apps/fine')?.pools, ['internal']);
});

test('the annotation in effect is the first set of baregate\'s, metallb.io, metallb.universe.tf (as the controller reads it)', () => {
  const r = analyzeServices([svc('s', { annotations: { 'metallb.universe.tf/loadBalancerIPs': '203.0.113.209', 'metallb.io/loadBalancerIPs': '192.0.2.9' } })], POOLS);
  assert.deepEqual(r.services[0]?.addresses, ['192.0.2.9'], 'metallb.io wins over metallb.universe.tf; spec.loadBalancerIP is not read when an annotation is set');
  assert.deepEqual(r.rewrite, ['kubectl annotate --overwrite -n apps service s baregate.io/loadBalancerIPs=192.0.2.9 metallb.io/loadBalancerIPs- metallb.universe.tf/loadBalancerIPs-']);
  const ours = analyzeServices([svc('s', { annotations: { 'baregate.io/address-pool': 'public', 'metallb.io/address-pool': 'internal' } })], POOLS);
  assert.deepEqual(ours.rewrite, ['kubectl annotate --overwrite -n apps service s metallb.io/address-pool-'], 'baregate\'s key is in effect: only the MetalLB key goes');
});

test('a loadBalancerClass that is not baregate\'s: start the controller with --lb-class; two such classes: no equivalent', () => {
  const one = analyzeServices([svc('a', { spec: { loadBalancerClass: 'example.com/lb' } }), svc('b', { spec: { loadBalancerClass: 'baregate.io/lb' } })], POOLS);
  const action = one.findings.find((f) => f.level === 'action');
  assert.match(action?.message ?? '', /start the controller with --lb-class example\.com\/lb/);
  assert.match(action?.message ?? '', /apps\/a/);
  assert.equal(one.findings.filter((f) => f.level === 'no-equivalent').length, 0);
  const two = analyzeServices([svc('a', { spec: { loadBalancerClass: 'x.io/a' } }), svc('b', { spec: { loadBalancerClass: 'x.io/b' } })], POOLS);
  assert.equal(two.findings.filter((f) => f.level === 'no-equivalent').length, 1);
});

test('shellQuote: plain words stay, everything else is single-quoted with embedded quotes escaped', () => {
  assert.equal(shellQuote('baregate.io/address-pool=public'), 'baregate.io/address-pool=public');
  assert.equal(shellQuote('a b'), "'a b'");
  assert.equal(shellQuote("it's"), "'it'\\''s'");
  assert.equal(shellQuote(''), "''");
});

test('the rewrite script, run by sh, passes every value to kubectl exactly (quotes, $, backticks, spaces, newlines)', (t) => {
  const nasty = ["web's key", '$(touch /tmp/pwned) `id` $HOME', 'two  spaces\tand tab', 'line\nbreak', '*', '"double"', '\\back'];
  const services = nasty.map((v, i) => svc(`s${i}`, { ns: `ns-${i}`, annotations: { 'metallb.universe.tf/allow-shared-ip': v } }));
  const r = analyzeServices(services, POOLS);
  const dir = mkdtempSync(join(tmpdir(), 'migrate-sh-'));
  t.after(() => { rmSync(dir, { recursive: true, force: true }); });
  // a stand-in kubectl: one JSON line of its arguments per call
  writeFileSync(join(dir, 'kubectl'), `#!/usr/bin/env node\nrequire('fs').appendFileSync(${JSON.stringify(join(dir, 'calls'))}, JSON.stringify(process.argv.slice(2)) + '\\n');\n`);
  chmodSync(join(dir, 'kubectl'), 0o755);
  writeFileSync(join(dir, 'rewrite.sh'), rewriteScript(r.rewrite, ['test']));
  execFileSync('sh', [join(dir, 'rewrite.sh')], { env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` } });
  const calls = readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[]);
  assert.deepEqual(calls, nasty.map((v, i) => ['annotate', '--overwrite', '-n', `ns-${i}`, 'service', `s${i}`, `baregate.io/allow-shared-ip=${v}`, 'metallb.universe.tf/allow-shared-ip-']));
});
