/**
 * The informer on a real apiserver: an expired resourceVersion (410) leads to a relist that reports
 * exactly what changed meanwhile; a stopped and restarted informer reports deletions it missed.
 * The informer is generic; these tests watch ConfigMaps, for which the test apiserver has no watch cache,
 * so a compacted revision really answers 410 (a watch cache would replay recent history instead).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { Informer } from '../../src/k8s/informer.ts';
import { Api, waitFor } from '../harness/kube.ts';

const api = new Api();
const ns = 'informer';
const log = pino({ level: 'silent' });
interface ConfigMap { metadata: { name: string; namespace?: string; resourceVersion?: string } }
const cmPath = `/api/v1/namespaces/${ns}/configmaps`;
const create = async (name: string): Promise<ConfigMap> => api.must('POST', cmPath, { metadata: { name }, data: { k: 'v' } });
const remove = async (name: string): Promise<void> => { await api.c.request('DELETE', `${cmPath}/${name}`); };

before(async () => { await api.namespace(ns); });
after(() => { api.c.destroy(); });

test('an expired resourceVersion relists and reports only real changes', async (t) => {
  const inf = new Informer<ConfigMap>(api.c, { path: cmPath, log, minBackoffMs: 20 });
  t.after(() => { inf.stop(); });
  const seen: string[] = [];
  inf.onChange((key, obj) => { seen.push(`${obj ? 'set' : 'del'} ${key}`); });
  await create('a');
  inf.start();
  await inf.synced;
  assert.deepEqual(seen, [`set ${ns}/a`]);
  // make the next watch start from a revision etcd has compacted away (the test apiserver compacts every 10 s)
  const staleRV = (await api.must<ConfigMap>('GET', `${cmPath}/a`)).metadata.resourceVersion!;
  await create('filler');
  await remove('filler');
  await waitFor('etcd compaction past the stale revision', async () => {
    const r = await api.c.request('GET', `${cmPath}?resourceVersion=${staleRV}&resourceVersionMatch=Exact`);
    return r.status === 410;
  }, 60_000);
  (inf as unknown as { rv: string }).rv = staleRV;
  (inf as unknown as { stream?: { close(): void } }).stream?.close();
  (inf as unknown as { schedule(ms: number, relist: boolean): void }).schedule(0, false);
  await create('b');
  await waitFor('b seen', () => Promise.resolve(inf.get(`${ns}/b`) !== undefined));
  await waitFor('relist after 410', () => Promise.resolve(inf.stats.lists >= 2));
  assert.equal(seen.filter((s) => s === `set ${ns}/a`).length, 1, 'unchanged objects are not re-reported by the relist');
  assert.equal(inf.get(`${ns}/filler`), undefined, 'a deleted object is not in the cache after the relist');
  await remove('a');
  await waitFor('a deleted', () => Promise.resolve(inf.get(`${ns}/a`) === undefined));
  assert.ok(seen.includes(`del ${ns}/a`));
  inf.stop();
});

test('changes missed while stopped are reported on restart, deletions included', async (t) => {
  const inf = new Informer<ConfigMap>(api.c, { path: cmPath, log });
  t.after(() => { inf.stop(); });
  const seen: string[] = [];
  inf.onChange((key, obj) => { seen.push(`${obj ? 'set' : 'del'} ${key}`); });
  inf.start();
  await inf.synced;
  inf.stop();
  seen.length = 0;
  await remove('b');
  await create('c');
  inf.start();
  await waitFor('c seen', () => Promise.resolve(inf.get(`${ns}/c`) !== undefined));
  await waitFor('b gone', () => Promise.resolve(inf.get(`${ns}/b`) === undefined));
  assert.ok(seen.includes(`del ${ns}/b`) && seen.includes(`set ${ns}/c`), seen.join('; '));
  inf.stop();
});
