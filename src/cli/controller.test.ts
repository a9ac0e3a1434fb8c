/**
 * `baregate controller` wiring that needs no cluster: the --lb-class flag reaches the replica settings,
 * and /healthz reports what the health hook says.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Health } from '../k8s/ports.ts';
import { runOptionsFromFlags, serveMetrics, webhookNames, type ControllerFlags } from './controller.ts';

const flags: ControllerFlags = { lbClass: 'baregate.io/lb', onlyOwnClass: false, leaseNamespace: 'baregate-system', leaseDuration: 15, metricsPort: 0, metricsHost: '127.0.0.1' };

test('--lb-class is offered with the baregate.io/lb default, and reaches the replica settings', async () => {
  const main = fileURLToPath(new URL('./main.ts', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', main, 'controller', '--help'], { timeout: 60_000 });
  assert.match(stdout, /--lb-class <name>[^-]*\(default:\s+"baregate\.io\/lb"\)/);
  assert.equal(runOptionsFromFlags({ ...flags, lbClass: 'metallb.io/metallb' }).lbClass, 'metallb.io/metallb');
  assert.equal(runOptionsFromFlags({ ...flags, onlyOwnClass: true }).onlyOwnClass, true);
});

test('/healthz answers 503 with the reason while the health hook reports a problem', async () => {
  let h: Health = { ok: true };
  const server = serveMetrics(0, '127.0.0.1', () => h);
  try {
    await new Promise<void>((r) => { if (server.listening) r(); else server.once('listening', () => { r(); }); });
    const url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
    let res = await fetch(`${url}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok');
    h = { ok: false, reason: 'services: watch silent for 300 s' };
    res = await fetch(`${url}/healthz`);
    assert.equal(res.status, 503);
    assert.equal(await res.text(), 'services: watch silent for 300 s');
    res = await fetch(`${url}/readyz`);
    assert.equal(res.status, 200, 'readiness is not liveness');
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test('/readyz answers 503 until the ready hook says yes (the webhook certificate is loaded)', async () => {
  let ready: Health = { ok: false, reason: 'webhook certificate not loaded yet' };
  const server = serveMetrics(0, '127.0.0.1', () => ({ ok: true }), () => ready);
  try {
    await new Promise<void>((r) => { if (server.listening) r(); else server.once('listening', () => { r(); }); });
    const url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
    let res = await fetch(`${url}/readyz`);
    assert.equal(res.status, 503);
    assert.equal(await res.text(), 'webhook certificate not loaded yet');
    ready = { ok: true };
    res = await fetch(`${url}/readyz`);
    assert.equal(res.status, 200);
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test('webhook flags: on by default on the command line, 0 turns them off, names from the Service', async () => {
  const main = fileURLToPath(new URL('./main.ts', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', main, 'controller', '--help'], { timeout: 60_000 });
  for (const f of ['--webhook-port <port>', '--webhook-host <host>', '--webhook-service <name>', '--webhook-extra-sans <names>', '--webhook-cert-mode <mode>', '--namespace <ns>', '--log-level <level>']) assert.ok(stdout.includes(f), f);
  assert.match(stdout, /--webhook-port <port>[^-]*\(default:\s+9443\)/);
  assert.match(stdout, /--webhook-cert-mode <mode>[^]*\(choices: "self", "external", default: "self"\)/);
  const on = runOptionsFromFlags({ ...flags, webhookPort: 9443, webhookExtraSans: 'localhost, 127.0.0.1', namespace: 'other' });
  assert.deepEqual(on.webhook, { port: 9443, host: '0.0.0.0', service: 'baregate-webhook', extraSans: ['localhost', '127.0.0.1'], certMode: 'self' });
  assert.equal(on.namespace, 'other');
  assert.equal(on.heartbeatSecret, true);
  assert.equal(runOptionsFromFlags(flags).webhook?.port, 9443, 'default port when the flag is not given');
  assert.equal(runOptionsFromFlags({ ...flags, webhookPort: 0 }).webhook, undefined);
  assert.equal(runOptionsFromFlags({ ...flags, webhookCertMode: 'external' }).webhook?.certMode, 'external');
  assert.deepEqual(webhookNames('baregate-webhook', 'baregate-system', ['localhost']), [
    'baregate-webhook', 'baregate-webhook.baregate-system', 'baregate-webhook.baregate-system.svc', 'baregate-webhook.baregate-system.svc.cluster.local', 'localhost',
  ]);
});
