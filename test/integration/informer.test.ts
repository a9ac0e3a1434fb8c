/**
 * The informer on a real apiserver: an expired resourceVersion (410) leads to a relist that reports
 * exactly what changed meanwhile; a stopped and restarted informer reports deletions it missed.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { Informer } from '../../src/k8s/informer.ts';
import type { Service } from '../../src/lb/service.ts';
import { Api, waitFor } from '../harness/kube.ts';

const api = new Api();
const ns = 'informer';
const log = pino({ level: 'silent' });
const svc = { spec: { type: 'ClusterIP', ports: [{ name: 'p', port: 80, protocol: 'TCP' }] } };

before(async () => { await api.namespace(ns); });
after(() => { api.c.destroy(); });

test('an expired resourceVersion relists and reports only real changes', async () => {
  const inf = new Informer<Service>(api.c, { path: `/api/v1/namespaces/${ns}/services`, log, minBackoffMs: 20 });
  const seen: string[] = [];
  inf.onChange((key, obj) => { seen.push(`${obj ? 'set' : 'del'} ${key}`); });
  await api.service(ns, 'a', svc);
  inf.start();
  await inf.synced;
  assert.deepEqual(seen, [`set ${ns}/a`]);
  // make the next watch start from a revision the apiserver no longer has
  (inf as unknown as { rv: string }).rv = '1';
  (inf as unknown as { stream?: { close(): void } }).stream?.close();
  (inf as unknown as { schedule(ms: number, relist: boolean): void }).schedule(0, false);
  await api.service(ns, 'b', svc);
  await waitFor('b seen', () => Promise.resolve(inf.get(`${ns}/b`) !== undefined));
  await waitFor('relist after 410', () => Promise.resolve(inf.stats.lists >= 2));
  assert.equal(seen.filter((s) => s === `set ${ns}/a`).length, 1, 'unchanged objects are not re-reported by the relist');
  await api.deleteService(ns, 'a');
  await waitFor('a deleted', () => Promise.resolve(inf.get(`${ns}/a`) === undefined));
  assert.ok(seen.includes(`del ${ns}/a`));
  inf.stop();
});

test('changes missed while stopped are reported on restart, deletions included', async () => {
  const inf = new Informer<Service>(api.c, { path: `/api/v1/namespaces/${ns}/services`, log });
  const seen: string[] = [];
  inf.onChange((key, obj) => { seen.push(`${obj ? 'set' : 'del'} ${key}`); });
  inf.start();
  await inf.synced;
  inf.stop();
  seen.length = 0;
  await api.deleteService(ns, 'b');
  await api.service(ns, 'c', svc);
  inf.start();
  await waitFor('c seen', () => Promise.resolve(inf.get(`${ns}/c`) !== undefined));
  await waitFor('b gone', () => Promise.resolve(inf.get(`${ns}/b`) === undefined));
  assert.ok(seen.includes(`del ${ns}/b`) && seen.includes(`set ${ns}/c`), seen.join('; '));
  inf.stop();
});
