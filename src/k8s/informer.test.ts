/**
 * The informer against a scripted client and a FakeClock: silent watches are re-opened (bookmarks and
 * events are heartbeats), staleness is reported for a health endpoint, and a relist merges by
 * resourceVersion instead of replacing the cache.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { FakeClock } from '../clock.ts';
import type { ApiResponse, WatchEvent } from './client.ts';
import { Informer, type InformerClient } from './informer.ts';

const log = pino({ level: 'silent' });
const flush = async (): Promise<void> => { for (let i = 0; i < 3; i++) await new Promise((r) => { setImmediate(r); }); };

interface Obj { metadata: { name: string; namespace?: string; resourceVersion?: string }; v?: string }
const obj = (name: string, rv: string, v?: string): Obj => ({ metadata: { name, namespace: 'n', resourceVersion: rv }, ...(v !== undefined ? { v } : {}) });

interface OpenWatch { path: string; onEvent: (e: WatchEvent<Obj>) => void; onEnd: (err?: Error) => void; closed: boolean }

/** Lists answer from `list` (optionally held until released); watches stay open until the test ends or closes them. */
class ScriptedClient implements InformerClient {
  list: { items: Obj[]; rv: string } = { items: [], rv: '1' };
  lists = 0;
  hold: Promise<void> | undefined;
  failWatch = false;
  readonly watches: OpenWatch[] = [];

  async request<T = unknown>(): Promise<ApiResponse<T>> {
    this.lists++;
    const snapshot = structuredClone(this.list);
    if (this.hold) await this.hold;
    return { status: 200, body: { metadata: { resourceVersion: snapshot.rv }, items: snapshot.items } as T };
  }

  watch<T>(path: string, onEvent: (e: WatchEvent<T>) => void, onEnd: (err?: Error) => void, onOpen?: () => void): Promise<{ close(): void }> {
    if (this.failWatch) return Promise.reject(new Error('connect ECONNREFUSED'));
    const w: OpenWatch = { path, onEvent: onEvent as unknown as OpenWatch['onEvent'], onEnd, closed: false };
    this.watches.push(w);
    onOpen?.();
    return Promise.resolve({ close: () => { w.closed = true; } });
  }

  get open(): OpenWatch {
    const w = this.watches.at(-1);
    assert.ok(w && !w.closed, 'a watch is open');
    return w;
  }
}

const rvOf = (path: string): string => new URLSearchParams(path.split('?')[1]).get('resourceVersion') ?? '';

test('a silent watch is re-opened from the last resourceVersion; events and bookmarks are heartbeats', async () => {
  const clock = new FakeClock();
  const c = new ScriptedClient();
  c.list = { items: [obj('a', '5')], rv: '7' };
  const inf = new Informer<Obj>(c, { path: '/x', log, clock, watchSilenceMs: 60_000 });
  inf.start();
  clock.advance(0);
  await inf.synced;
  await flush();
  assert.equal(c.watches.length, 1);
  assert.match(c.watches[0]!.path, /allowWatchBookmarks=true/);
  assert.equal(rvOf(c.watches[0]!.path), '7');
  // a bookmark at 50 s and an event at 100 s keep the watch alive
  clock.advance(50_000);
  c.open.onEvent({ type: 'BOOKMARK', object: obj('', '9') });
  clock.advance(50_000);
  c.open.onEvent({ type: 'MODIFIED', object: obj('a', '11', 'x') });
  clock.advance(59_999);
  await flush();
  assert.equal(c.watches.length, 1, 'no re-watch while events keep coming');
  assert.equal(inf.stats.silences, 0);
  clock.advance(1);
  await flush();
  assert.equal(inf.stats.silences, 1);
  assert.equal(c.watches[0]!.closed, true, 'the silent stream is closed');
  assert.equal(c.watches.length, 2, 're-watched');
  assert.equal(rvOf(c.watches[1]!.path), '11', 'from the last resourceVersion, not from scratch');
  assert.equal(c.lists, 1, 'no relist');
  // a late event from the dropped stream is ignored
  c.watches[0]!.onEvent({ type: 'MODIFIED', object: obj('a', '12', 'late') });
  assert.equal(inf.get('n/a')?.v, 'x');
  inf.stop();
});

test('staleForMs and healthy(): how long since the apiserver was heard from', async () => {
  const clock = new FakeClock();
  const c = new ScriptedClient();
  const inf = new Informer<Obj>(c, { path: '/x', log, clock, watchSilenceMs: 60_000, minBackoffMs: 1000, maxBackoffMs: 1000 });
  assert.equal(inf.staleForMs(), Infinity);
  assert.equal(inf.healthy(), false, 'not started');
  inf.start();
  clock.advance(0);
  await inf.synced;
  await flush();
  assert.equal(inf.healthy(), true);
  clock.advance(30_000);
  assert.equal(inf.staleForMs(), 30_000);
  c.open.onEvent({ type: 'BOOKMARK', object: obj('', '3') });
  assert.equal(inf.staleForMs(), 0);
  // the apiserver becomes unreachable: the silent watch is dropped and re-watching fails from then on
  c.failWatch = true;
  for (let i = 0; i < 200; i++) { clock.advance(1000); await flush(); }
  assert.equal(inf.staleForMs(), 200_000);
  assert.equal(inf.healthy(), false, 'stale for longer than twice the silence limit');
  assert.equal(inf.healthy(300_000), true, 'the limit is the caller\'s');
  c.failWatch = false;
  clock.advance(1000);
  await flush();
  assert.equal(inf.staleForMs(), 0, 'a watch accepted by the apiserver counts as hearing back');
  assert.equal(inf.healthy(), true);
  inf.stop();
  assert.equal(inf.healthy(), false, 'a stopped informer is not healthy');
});

test('a relist merges by resourceVersion: objects our own writes stored meanwhile are kept', async () => {
  const clock = new FakeClock();
  const c = new ScriptedClient();
  c.list = { items: [obj('a', '5'), obj('gone', '6'), obj('same', '4')], rv: '10' };
  const inf = new Informer<Obj>(c, { path: '/x', log, clock });
  const seen: string[] = [];
  inf.onChange((k, o) => { seen.push(`${o ? 'set' : 'del'} ${k}${o ? `@${o.metadata.resourceVersion ?? ''}` : ''}`); });
  inf.start();
  clock.advance(0);
  await inf.synced;
  await flush();
  seen.length = 0;
  // the next list is answered from a snapshot at revision 20 but arrives after our writes at 21 and 22
  c.list = { items: [obj('a', '15', 'list'), obj('same', '4')], rv: '20' };
  let release!: () => void;
  c.hold = new Promise((r) => { release = r; });
  const w = c.open;
  w.onEvent({ type: 'ERROR', object: { code: 410 } as unknown as Obj }); // resourceVersion expired
  w.onEnd();
  clock.advance(0);
  await flush();
  assert.equal(c.lists, 2, 'relisting');
  inf.update(obj('a', '21', 'ours'));
  inf.update(obj('created', '22', 'ours'));
  release();
  await flush();
  assert.equal(inf.get('n/a')?.v, 'ours', 'our newer write is not replaced by the older listed copy');
  assert.equal(inf.get('n/created')?.metadata.resourceVersion, '22', 'an object created after the snapshot is not deleted');
  assert.equal(inf.get('n/gone'), undefined, 'an object absent from the list and older than it is deleted');
  assert.equal(inf.get('n/same')?.metadata.resourceVersion, '4');
  assert.deepEqual(seen.sort(), ['del n/gone'], 'only the real change is reported');
  assert.equal(rvOf(c.watches.at(-1)!.path), '20', 'the watch resumes from the list\'s revision');
  inf.stop();
});

test('non-numeric resourceVersions: the list wins (no ordering can be assumed)', async () => {
  const clock = new FakeClock();
  const c = new ScriptedClient();
  c.list = { items: [obj('a', 'x1')], rv: 'L1' };
  const inf = new Informer<Obj>(c, { path: '/x', log, clock });
  inf.start();
  clock.advance(0);
  await inf.synced;
  await flush();
  c.list = { items: [obj('a', 'x2', 'list')], rv: 'L2' };
  let release!: () => void;
  c.hold = new Promise((r) => { release = r; });
  const w = c.open;
  w.onEvent({ type: 'ERROR', object: { code: 410 } as unknown as Obj });
  w.onEnd();
  clock.advance(0);
  await flush();
  inf.update(obj('a', 'x3', 'ours'));
  inf.update(obj('b', 'y1', 'ours'));
  release();
  await flush();
  assert.equal(inf.get('n/a')?.v, 'list');
  assert.equal(inf.get('n/b'), undefined);
  inf.stop();
});

test('transform: what it returns is cached and handed to handlers, for listed, watched and written objects alike', async () => {
  const clock = new FakeClock();
  const c = new ScriptedClient();
  const big = (name: string, rv: string): Obj & Record<string, unknown> => ({ ...obj(name, rv, 'v'), spec: { huge: 'x'.repeat(1000) }, kind: 'K' });
  c.list = { items: [big('a', '5')], rv: '10' };
  const small = (o: Record<string, unknown>): Record<string, unknown> => ({ metadata: o.metadata, v: o.v });
  const inf = new Informer<Obj>(c, { path: '/x', log, clock, transform: small });
  const seen: unknown[] = [];
  inf.onChange((_k, o) => { seen.push(o); });
  inf.start();
  clock.advance(0);
  await inf.synced;
  await flush();
  c.open.onEvent({ type: 'ADDED', object: big('b', '11') });
  inf.update(big('c', '12'));
  const want = (name: string, rv: string): Obj => ({ metadata: { name, namespace: 'n', resourceVersion: rv }, v: 'v' });
  assert.deepEqual(inf.get('n/a'), want('a', '5'), 'listed');
  assert.deepEqual(inf.get('n/b'), want('b', '11'), 'watched');
  assert.deepEqual(inf.get('n/c'), want('c', '12'), 'written');
  assert.deepEqual(seen, [want('a', '5'), want('b', '11')], 'handlers get the transformed objects');
  c.open.onEvent({ type: 'DELETED', object: big('b', '13') });
  assert.equal(inf.get('n/b'), undefined, 'a delete finds the transformed object by key');
  inf.stop();
});
