/**
 * The REST client against a local plain-HTTP server: User-Agent, whole-exchange deadlines (FakeClock,
 * no sleeping), aborts, and dedicated connections that do not queue behind the shared pool.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FakeClock } from '../clock.ts';
import { ApiAbortedError, ApiTimeoutError, KubeClient } from './client.ts';

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const seen: { url: string; ua: string | undefined; port: number }[] = [];
const held: http.ServerResponse[] = [];
let server: http.Server;
let kubeconfig: string;

before(async () => {
  server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', ua: req.headers['user-agent'], port: req.socket.remotePort ?? 0 });
    if (req.url?.startsWith('/hang')) { held.push(res); return; } // never answers
    if (req.url?.startsWith('/notfound')) { res.writeHead(404, { 'Content-Type': 'application/json' }); res.end(JSON.stringify({ kind: 'Status', code: 404, message: 'gone' })); return; }
    if (req.url?.startsWith('/slowbody')) { res.writeHead(200, { 'Content-Type': 'application/json' }); res.write('{"a":'); held.push(res); return; }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ ok: true }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const dir = mkdtempSync(join(tmpdir(), 'bg-client-'));
  kubeconfig = join(dir, 'config');
  writeFileSync(kubeconfig, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
    clusters: [{ name: 'c', cluster: { server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` } }],
    users: [{ name: 'u', user: { token: 't' } }],
    contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
  }));
});
after(() => {
  for (const r of held) r.destroy();
  server.closeAllConnections();
  server.close();
});

test('requests name the component and version in the User-Agent', async () => {
  const c = KubeClient.create({ kubeconfig });
  const s = KubeClient.create({ kubeconfig, component: 'speaker' });
  try {
    assert.equal((await c.request('GET', '/ua-controller')).status, 200);
    assert.equal((await s.request('GET', '/ua-speaker')).status, 200);
    const ua = (p: string): string => seen.find((x) => x.url === p)?.ua ?? '';
    assert.ok(ua('/ua-controller').startsWith(`baregate-controller/${version} (`), ua('/ua-controller'));
    assert.ok(ua('/ua-speaker').startsWith(`baregate-speaker/${version} (`), ua('/ua-speaker'));
    assert.equal(c.userAgent, ua('/ua-controller'));
  } finally { c.destroy(); s.destroy(); }
});

test('a request without an answer fails at its deadline (also mid-body), not at an idle timeout', async () => {
  const clock = new FakeClock();
  const c = KubeClient.create({ kubeconfig, clock, timeoutMs: 5000 });
  try {
    const hung = c.request('GET', '/hang-1');
    let settled = false;
    hung.then(() => { settled = true; }, () => { settled = true; });
    await waitSeen('/hang-1');
    clock.advance(4999);
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false);
    clock.advance(1);
    await assert.rejects(hung, (e: unknown) => e instanceof ApiTimeoutError && e.timeoutMs === 5000);
    // a body that starts and then stalls is bounded by the same deadline (an idle timeout would be reset by each byte)
    const body = c.request('GET', '/slowbody', undefined, 'application/json', { timeoutMs: 200 });
    await waitSeen('/slowbody');
    clock.advance(200);
    await assert.rejects(body, ApiTimeoutError);
    const ac = new AbortController();
    const aborted = c.request('GET', '/hang-2', undefined, 'application/json', { signal: ac.signal });
    await waitSeen('/hang-2');
    ac.abort();
    await assert.rejects(aborted, ApiAbortedError);
  } finally { c.destroy(); }
});

test('a dedicated connection is not queued behind a stuck shared pool', async () => {
  const clock = new FakeClock();
  const c = KubeClient.create({ kubeconfig, clock, maxSockets: 1 });
  try {
    const stuck = c.request('GET', '/hang-shared');
    stuck.catch(() => undefined);
    await waitSeen('/hang-shared');
    const r = await c.request('GET', '/lease', undefined, 'application/json', { connection: 'lease' });
    assert.equal(r.status, 200);
    const sharedPort = seen.find((x) => x.url === '/hang-shared')?.port;
    assert.notEqual(seen.find((x) => x.url === '/lease')?.port, sharedPort, 'its own socket');
    clock.advance(30_000);
    await assert.rejects(stuck, ApiTimeoutError);
  } finally { c.destroy(); }
});

async function waitSeen(url: string): Promise<void> {
  while (!seen.some((x) => x.url === url)) await new Promise((r) => setImmediate(r));
}

test('decode: false drops a 2xx body undecoded (the same socket serves the next request); an error body is still decoded', async () => {
  const c = KubeClient.create({ kubeconfig });
  try {
    assert.deepEqual(await c.request('PATCH', '/echo', { big: 1 }, 'application/merge-patch+json', { decode: false }), { status: 200, body: {} });
    assert.deepEqual(await c.request('GET', '/echo'), { status: 200, body: { ok: true } }, 'decoded by default');
    const err = await c.request('PATCH', '/notfound', {}, 'application/merge-patch+json', { decode: false });
    assert.equal(err.status, 404);
    assert.deepEqual(err.body, { kind: 'Status', code: 404, message: 'gone' });
  } finally { c.destroy(); }
});
