import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { kubeconfigConnection } from './kubeconfig.ts';

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
