/**
 * The informer on a real apiserver: an expired resourceVersion (410) leads to a relist that reports
 * exactly what changed meanwhile; a stopped and restarted informer reports deletions it missed; a relist
 * answered before our own write does not undo it; a silent watch is re-opened where it left off.
 * The informer is generic; these tests watch ConfigMaps, for which the test apiserver has no watch cache,
 * so a compacted revision really answers 410 (a watch cache would replay recent history instead).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import type { KubeClient } from '../../src/k8s/client.ts';
import { Informer, type InformerClient } from '../../src/k8s/informer.ts';
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

test('a relist answered before our own writes keeps them: merged by resourceVersion, not replaced', async (t) => {
  await create('m');
  // a client whose list responses can be held after they arrived: the snapshot predates what we write meanwhile
  let hold: { arrived: () => void; release: Promise<void> } | undefined;
  let atWatch: (() => void) | undefined;
  const c: InformerClient = {
    request: (async (...args: Parameters<KubeClient['request']>) => {
      const r = await api.c.request(...args);
      const h = hold;
      if (h && args[0] === 'GET' && args[1].includes('limit=')) { hold = undefined; h.arrived(); await h.release; }
      return r;
    }) as KubeClient['request'],
    watch: ((...args: Parameters<KubeClient['watch']>) => { atWatch?.(); atWatch = undefined; return api.c.watch(...args); }) as KubeClient['watch'],
  };
  const inf = new Informer<ConfigMap>(c, { path: cmPath, log });
  t.after(() => { inf.stop(); });
  inf.start();
  await inf.synced;
  const listedRV = inf.get(`${ns}/m`)?.metadata.resourceVersion;
  let arrived!: () => void;
  const listArrived = new Promise<void>((r) => { arrived = r; });
  let release!: () => void;
  hold = { arrived, release: new Promise<void>((r) => { release = r; }) };
  // force a relist, as after a 410
  (inf as unknown as { stream?: { close(): void } }).stream?.close();
  (inf as unknown as { stream?: unknown }).stream = undefined;
  (inf as unknown as { schedule(ms: number, relist: boolean): void }).schedule(0, true);
  await listArrived;
  const patched = await api.must<ConfigMap>('PATCH', `${cmPath}/m`, { data: { k: 'ours' } }, 'application/merge-patch+json');
  inf.update(patched);
  const created = await create('ours-new');
  inf.update(created);
  // what the cache holds when the relist is done (the next watch opens right after it)
  const afterRelist = new Promise<{ m: string | undefined; created: string | undefined }>((resolve) => {
    atWatch = () => { resolve({ m: inf.get(`${ns}/m`)?.metadata.resourceVersion, created: inf.get(`${ns}/ours-new`)?.metadata.resourceVersion }); };
  });
  release();
  const seen = await afterRelist;
  assert.notEqual(patched.metadata.resourceVersion, listedRV);
  assert.equal(seen.m, patched.metadata.resourceVersion, 'our newer write survived the older list');
  assert.equal(seen.created, created.metadata.resourceVersion, 'an object we created after the snapshot was not dropped');
  assert.equal(inf.stats.lists, 2);
  inf.stop();
});

test('a silent watch is dropped and re-opened from where it was, without a relist', async (t) => {
  // ConfigMaps have no watch cache here, hence no bookmarks: an idle watch is silent
  const inf = new Informer<ConfigMap>(api.c, { path: cmPath, log, watchSilenceMs: 1000 });
  t.after(() => { inf.stop(); });
  inf.start();
  await inf.synced;
  await waitFor('the watch to be re-opened twice for silence', () => Promise.resolve(inf.stats.silences >= 2));
  assert.ok(inf.stats.watches >= 3);
  await create('after-silence');
  await waitFor('an event on the re-opened watch', () => Promise.resolve(inf.get(`${ns}/after-silence`) !== undefined));
  // an idle watch's resourceVersion ages: on a slow machine etcd may compact past it (every 10 s here) and the
  // re-open is then answered 410, which must relist; every other re-open resumes without a list
  assert.equal(inf.stats.lists, 1 + inf.stats.expired, 'resumed from the last resourceVersion; relisted only after 410');
  assert.ok(inf.healthy(), 'a re-opened watch is healthy');
  inf.stop();
});
