import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { KubeconfigError, kubeconfigConnection } from './kubeconfig.ts';

function write(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'bg-kc-'));
  writeFileSync(join(dir, 'ca.crt'), 'CA-FROM-FILE');
  writeFileSync(join(dir, 'token'), ' tok-from-file\n');
  const p = join(dir, 'config');
  writeFileSync(p, text);
  return p;
}

const base = (user: string): string => `
apiVersion: v1
kind: Config
current-context: b
contexts:
- name: a
  context: { cluster: other, user: u }
- name: b
  context: { cluster: c, user: u }
clusters:
- name: other
  cluster: { server: https://198.51.100.9:6443 }
- name: c
  cluster:
    server: https://192.0.2.1:6443
    certificate-authority: ca.crt
users:
- name: u
  user: ${user}
`;

test('current context, relative CA file, inline client cert', () => {
  const c = kubeconfigConnection(write(base(`{ client-certificate-data: ${Buffer.from('CERT').toString('base64')}, client-key-data: ${Buffer.from('KEY').toString('base64')} }`)));
  assert.ok(c);
  assert.equal(c.server, 'https://192.0.2.1:6443');
  assert.equal((c.tls.ca as Buffer).toString(), 'CA-FROM-FILE');
  assert.equal((c.tls.cert as Buffer).toString(), 'CERT');
  assert.equal((c.tls.key as Buffer).toString(), 'KEY');
  assert.equal(c.token, undefined);
});

test('tokens, inline and from a file (re-read each time)', () => {
  assert.equal(kubeconfigConnection(write(base('{ token: abc }')))?.token?.(), 'abc');
  assert.equal(kubeconfigConnection(write(base('{ tokenFile: token }')))?.token?.(), 'tok-from-file');
});

test('auth plugins are left to the full implementation', () => {
  assert.equal(kubeconfigConnection(write(base('{ exec: { command: x, apiVersion: client.authentication.k8s.io/v1 } }'))), undefined);
  assert.equal(kubeconfigConnection(write(base('{ auth-provider: { name: oidc } }'))), undefined);
});

test('a missing kubeconfig names the file, the reason and what to pass instead', () => {
  const missing = join(mkdtempSync(join(tmpdir(), 'bg-kc-')), 'nope');
  assert.throws(() => kubeconfigConnection(missing), (e: unknown) => {
    assert.ok(e instanceof KubeconfigError);
    assert.equal(e.code, 'BG_ERR_KUBERNETES');
    assert.match(e.message, new RegExp(`kubeconfig ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the file does not exist`));
    assert.match(e.message, /--kubeconfig PATH/);
    assert.doesNotMatch(e.message, /^ENOENT/);
    return true;
  });
});

test('the default path says it is the default; $KUBECONFIG says it came from there', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bg-kc-'));
  const saved = { KUBECONFIG: process.env.KUBECONFIG, HOME: process.env.HOME };
  try {
    process.env.KUBECONFIG = join(dir, 'from-env');
    assert.throws(() => kubeconfigConnection(), /from-env \(from \$KUBECONFIG\): the file does not exist/);
    delete process.env.KUBECONFIG;
    process.env.HOME = dir;
    assert.throws(() => kubeconfigConnection(), /\.kube\/config \(the default; no --kubeconfig given/);
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) Reflect.deleteProperty(process.env, k); else process.env[k] = v;
  }
});

test('an unreadable kubeconfig, bad YAML and a missing referenced certificate are explained', () => {
  const p = write('x');
  if (process.getuid?.() !== 0) { // root reads anything: permission cannot be tested as root
    chmodSync(p, 0o000);
    assert.throws(() => kubeconfigConnection(p), /permission denied/);
    chmodSync(p, 0o600);
  }
  writeFileSync(p, 'a: [unclosed');
  assert.throws(() => kubeconfigConnection(p), (e: unknown) => e instanceof KubeconfigError && /not valid YAML/.test(e.message));
  writeFileSync(p, '');
  assert.throws(() => kubeconfigConnection(p), /empty or not a kubeconfig/);
  writeFileSync(p, base('{ client-certificate: missing.crt }'));
  assert.throws(() => kubeconfigConnection(p), /client-certificate .*missing\.crt: the file does not exist/);
  assert.throws(() => kubeconfigConnection(join(dirname(p))), /it is a directory/);
});
