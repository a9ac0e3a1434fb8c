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
import { runOptionsFromFlags, serveMetrics, type ControllerFlags } from './controller.ts';

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
