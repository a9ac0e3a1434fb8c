/**
 * The kubectl plugin as a user gets it: `bash tools/pack.sh` builds the package, `npm install -g --prefix TMP
 * --offline` installs it (its production dependencies are bundled, so no registry is asked), and with TMP/bin on
 * PATH kubectl itself finds `kubectl-baregate` and runs it for `kubectl baregate …`. kubectl hands a plugin no
 * flags of its own: the commands reach the test apiserver through $KUBECONFIG only.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ALLOCATED_FROM_POOL } from '../../src/api/keys.ts';
import { k8sBinDir } from '../harness/cluster.ts';
import { Api, kubeconfig } from '../harness/kube.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
const api = new Api();
const tmp = mkdtempSync(join(tmpdir(), 'baregate-plugin-'));
const prefix = join(tmp, 'prefix');
let env: NodeJS.ProcessEnv = {};

interface Ran { code: number; stdout: string; stderr: string }
/** Runs a command with the install's bin first on PATH and only the environment a user's shell would hand kubectl. */
async function sh(cmd: string, args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Ran> {
  try {
    const r = await run(cmd, args, { env: { ...env, ...extra }, maxBuffer: 16 << 20 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof x.code !== 'number') throw e;
    return { code: x.code, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}

before(async () => {
  const packed = await run('bash', [join(ROOT, 'tools/pack.sh'), join(tmp, 'out')], { cwd: ROOT, maxBuffer: 16 << 20 });
  const tarball = packed.stdout.trim().split('\n').at(-1) ?? '';
  assert.match(tarball, /baregate-[^/]+\.tgz$/, `tools/pack.sh printed no tarball: ${packed.stdout}\n${packed.stderr}`);
  await run('npm', ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], { maxBuffer: 16 << 20 });
  // no kubeconfig flag anywhere below: only the environment
  env = { PATH: [join(prefix, 'bin'), await k8sBinDir(), '/usr/local/bin', '/usr/bin', '/bin'].join(':'), HOME: tmp };
});

after(() => { rmSync(tmp, { recursive: true, force: true }); });

test('installing the package puts baregate and kubectl-baregate on PATH, and kubectl finds the plugin', async () => {
  assert.deepEqual(readdirSync(join(prefix, 'bin')).sort(), ['baregate', 'kubectl-baregate']);
  const list = await sh('kubectl', ['plugin', 'list']);
  assert.equal(list.code, 0, list.stderr);
  assert.ok(list.stdout.split('\n').includes(join(prefix, 'bin', 'kubectl-baregate')), list.stdout);
  assert.doesNotMatch(list.stderr, /warning/i, 'kubectl warns about the plugin (shadowed or not executable)');
});

test('kubectl baregate version prints the package version and help names it "kubectl baregate"', async () => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const v = await sh('kubectl', ['baregate', 'version']);
  assert.deepEqual([v.code, v.stdout.trim()], [0, version], v.stderr);
  const help = await sh('kubectl', ['baregate', '--help']);
  assert.match(help.stdout, /^Usage: kubectl baregate \[options\] \[command\]/);
  for (const c of ['status', 'doctor', 'migrate', 'pause', 'resume']) assert.match(help.stdout, new RegExp(`^  ${c}\\b`, 'm'), `help lists ${c}`);
  const sub = await sh('kubectl', ['baregate', 'status', '--help']);
  assert.match(sub.stdout, /^Usage: kubectl baregate status /);
});

test('kubectl baregate status reads the cluster of $KUBECONFIG', async () => {
  await api.namespace('plugin');
  await api.service('plugin', 'web', { annotations: { [ALLOCATED_FROM_POOL]: 'public' } });
  await api.c.request('PATCH', '/api/v1/namespaces/plugin/services/web/status',
    { status: { loadBalancer: { ingress: [{ ip: '203.0.113.7', ipMode: 'VIP' }] } } }, 'application/merge-patch+json');
  const r = await sh('kubectl', ['baregate', 'status', '-o', 'json'], { KUBECONFIG: kubeconfig() });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { services: { name: string; ips: string[]; pool: string }[] };
  const web = report.services.find((s) => s.name === 'plugin/web');
  assert.deepEqual(web && { ips: web.ips, pool: web.pool }, { ips: ['203.0.113.7'], pool: 'public' }, r.stdout);
  const none = await sh('kubectl', ['baregate', 'status'], { KUBECONFIG: join(tmp, 'missing') });
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /missing \(from \$KUBECONFIG\)|missing.*does not exist/);
});

test('kubectl baregate doctor and migrate run from the installed package', async () => {
  const d = await sh('kubectl', ['baregate', 'doctor', '-o', 'json'], { KUBECONFIG: kubeconfig() });
  assert.ok([0, 1, 2].includes(d.code), `doctor could check the cluster (exit ${String(d.code)}): ${d.stderr}`);
  assert.ok(Array.isArray((JSON.parse(d.stdout) as { findings?: unknown }).findings), d.stdout);
  const m = await sh('kubectl', ['baregate', 'migrate', join(ROOT, 'test/fixtures/metallb/current.yaml'), '--report', join(tmp, 'report.txt')]);
  assert.equal(m.code === 0 || m.code === 1, true, m.stderr);
  assert.match(m.stdout, /^apiVersion: baregate\.io\/v1beta1\nkind: IPAddressPool$/m);
});
