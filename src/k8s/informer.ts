/**
 * List+watch cache for one resource type. Survives everything the network and apiserver can do:
 * dropped streams resume from the last resourceVersion, `410 Gone` relists and reports the
 * difference as events, errors back off (capped) and never escape as exceptions.
 *
 * A watch that has gone silent is not trusted: bookmarks are requested and every event (bookmarks
 * included) is a heartbeat; after `watchSilenceMs` without one the stream is dropped and re-opened
 * from the last resourceVersion, so a dead connection that TCP has not noticed (hours, with default
 * keepalive) costs at most that long. `staleForMs()`/`healthy()` tell a health endpoint how long
 * the cache has gone without hearing from the apiserver.
 */
import { realClock, type Clock, type Timer } from '../clock.ts';
import type { Logger } from '../log.ts';
import { WatchHttpError, type KubeClient, type WatchEvent } from './client.ts';

/** What an informer needs from a client (KubeClient; fakes in tests). */
export type InformerClient = Pick<KubeClient, 'request' | 'watch'>;

/** Minimal object shape the informer needs. */
export interface KObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
}

/** What changed: the new object, or undefined when it was deleted. */
export type ChangeHandler<T> = (key: string, obj: T | undefined, old: T | undefined) => void;

/** Informer options. */
export interface InformerOptions {
  /** Collection path, e.g. `/api/v1/services` or `/apis/baregate.io/v1beta1/ipaddresspools`. */
  path: string;
  /** Extra query (e.g. `labelSelector=...`), without leading `&`. */
  query?: string;
  log: Logger;
  /** Backoff bounds for reconnects, ms. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  pageSize?: number;
  /**
   * Longest silence on an open watch (no event, no bookmark) before it is dropped and re-opened from
   * the last resourceVersion. Default 5 minutes; the apiserver sends bookmarks about once a minute
   * for resources it caches, and ends every watch after `timeoutSeconds` (4-6 minutes) anyway.
   */
  watchSilenceMs?: number;
  /** Time and timers (default: the real clock). */
  clock?: Clock;
  /**
   * Keep the process alive while started (default true): clock timers never do, and between a failed
   * watch and its retry nothing else may be open, so a process with only informers would just exit.
   */
  keepProcessAlive?: boolean;
  /**
   * Fields to drop before caching. `metadata.managedFields` is always dropped: it is often the largest
   * part of an object, and with 10k Services it alone costs tens of MiB.
   */
  strip?: (obj: Record<string, unknown>) => void;
  /**
   * The object to cache, built from the decoded one (after `strip`), like client-go's transform: e.g. a new
   * object with the few fields a consumer reads. Better than deleting fields in `strip` when there are many
   * objects: V8 turns an object that lost properties into a dictionary, several times larger. Handlers and
   * `get`/`list` see what it returns; it must keep `metadata.name`, `namespace` and `resourceVersion`.
   */
  transform?: (obj: Record<string, unknown>) => Record<string, unknown>;
}

/** `namespace/name` for namespaced objects, `name` otherwise. */
export function objectKey(o: KObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

/** True only when both resourceVersions are etcd revisions (integers) and `a`'s is the larger. */
function numericallyNewer(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) > BigInt(b);
}

/**
 * Whether `a` is a newer version than `b`. resourceVersions are opaque strings to clients, but the
 * apiserver serves etcd revisions; when both are numeric they are compared, otherwise `a` wins.
 * The same version again (a replayed event, our own write echoed) is not newer.
 */
function isNewer(a: KObject, b: KObject | undefined): boolean {
  const ra = a.metadata.resourceVersion;
  const rb = b?.metadata.resourceVersion;
  if (ra === undefined || rb === undefined || !/^\d+$/.test(ra) || !/^\d+$/.test(rb)) return ra !== rb || ra === undefined;
  return BigInt(ra) > BigInt(rb);
}

/** See the module comment. */
export class Informer<T extends KObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: ChangeHandler<T>[] = [];
  private rv = '';
  private stream: { close(): void } | undefined;
  private stopped = true;
  private backoff: number;
  private timer: Timer | undefined;
  private silence: Timer | undefined;
  private alive: NodeJS.Timeout | undefined;
  /** Monotonic time we last heard from the apiserver (list done, watch accepted, any event); undefined before start. */
  private lastHeard: number | undefined;
  private readonly clock: Clock;
  private readonly silenceMs: number;
  private syncedResolve!: () => void;
  /** Resolves after the first complete list. */
  readonly synced: Promise<void> = new Promise((r) => { this.syncedResolve = r; });
  /** Counts of list and watch (re)starts, watches dropped for silence, errors, and watches answered 410 (relisted), for tests and metrics. */
  readonly stats = { lists: 0, watches: 0, silences: 0, errors: 0, expired: 0 };

  constructor(private readonly client: InformerClient, private readonly opts: InformerOptions) {
    this.backoff = opts.minBackoffMs ?? 200;
    this.clock = opts.clock ?? realClock;
    this.silenceMs = opts.watchSilenceMs ?? 300_000;
  }

  /**
   * Milliseconds since this informer last heard from the apiserver: a completed list, a watch the
   * apiserver accepted, or any watch event (bookmarks included). A healthy informer stays below
   * about `watchSilenceMs` (a silent watch is re-opened then, which counts as hearing back); a
   * growing value means lists and watches are failing. Infinity before `start()`.
   */
  staleForMs(): number {
    return this.lastHeard === undefined ? Infinity : Math.max(0, this.clock.now() - this.lastHeard);
  }

  /**
   * For a health endpoint: running, synced once, and heard from within `maxStaleMs` (default twice
   * `watchSilenceMs`, so one silent-watch re-open in progress is not yet unhealthy).
   */
  healthy(maxStaleMs = 2 * this.silenceMs): boolean {
    return !this.stopped && this.hasSynced && this.staleForMs() <= maxStaleMs;
  }

  private hasSynced = false;

  private heard(): void {
    this.lastHeard = this.clock.now();
  }

  /** Registers a change handler (call before start). */
  onChange(h: ChangeHandler<T>): void {
    this.handlers.push(h);
  }

  /** Starts list+watch in the background. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    if (this.opts.keepProcessAlive ?? true) this.alive = setInterval(() => undefined, 2 ** 30);
    this.lastHeard ??= this.clock.now(); // staleness counts from the start until the first list
    this.schedule(0, true);
  }

  /** Stops watching; the cache stays readable. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.alive);
    this.timer?.cancel();
    this.silence?.cancel();
    this.stream?.close();
    this.stream = undefined;
  }

  /** Re-read after awaits: stop() may have run meanwhile. */
  private isStopped(): boolean {
    return this.stopped;
  }

  /**
   * Puts an object the caller just wrote (the API's response) into the cache, so the next reconcile
   * does not act on the stale copy before the watch event arrives. Older versions never win.
   */
  update(written: T): void {
    const obj = this.trim(written);
    const key = objectKey(obj);
    if (isNewer(obj, this.cache.get(key))) this.cache.set(key, obj);
  }

  /** Cached object by key. */
  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  /** All cached objects. */
  list(): T[] {
    return [...this.cache.values()];
  }

  /** Number of cached objects. */
  get size(): number {
    return this.cache.size;
  }

  private schedule(ms: number, relist: boolean): void {
    if (this.stopped) return;
    this.timer?.cancel();
    this.timer = this.clock.setTimeout(() => { void this.run(relist); }, ms);
  }

  /** (Re)arms the silence timer of the open watch: called when it opens and on every event. */
  private armSilence(stream: { close(): void }): void {
    this.silence?.cancel();
    this.silence = this.clock.setTimeout(() => {
      if (this.stream !== stream || this.stopped) return;
      this.stats.silences++;
      this.opts.log.warn({ event: 'watch_silent', path: this.opts.path, silentMs: this.silenceMs }, 'no watch event or bookmark for too long; re-watching');
      this.stream = undefined;
      stream.close(); // close() suppresses onEnd: resume here from the last resourceVersion
      this.schedule(0, false);
    }, this.silenceMs);
  }

  private fail(msg: string, err: unknown, relist: boolean): void {
    this.stats.errors++;
    this.opts.log.warn({ event: 'informer_error', path: this.opts.path, err: String(err), retryInMs: this.backoff }, msg);
    this.schedule(this.backoff, relist);
    this.backoff = Math.min(this.backoff * 2, this.opts.maxBackoffMs ?? 5000);
  }

  private url(extra: string): string {
    const q = [this.opts.query, extra].filter((s) => s !== undefined && s !== '').join('&');
    return `${this.opts.path}?${q}`;
  }

  private async run(relist: boolean): Promise<void> {
    if (this.stopped) return;
    if (relist || this.rv === '') {
      try {
        await this.relist();
      } catch (e) {
        this.fail('list failed', e, true);
        return;
      }
    }
    try {
      this.stats.watches++;
      const holder: { s?: { close(): void } } = {};
      const s = await this.client.watch<T>(
        this.url(`watch=1&allowWatchBookmarks=true&timeoutSeconds=${240 + Math.floor(Math.random() * 120)}&resourceVersion=${encodeURIComponent(this.rv)}`),
        (e) => { if (!holder.s || this.stream === holder.s) this.onEvent(e, holder.s); },
        (err) => { if (!holder.s || this.stream === holder.s) this.onEnd(err); },
        () => { this.heard(); },
      );
      holder.s = s;
      if (this.isStopped()) { s.close(); return; }
      this.stream = s;
      this.armSilence(s);
    } catch (e) {
      this.fail('watch failed', e, false);
    }
  }

  private gone = false;

  private onEvent(e: WatchEvent<T>, stream: { close(): void } | undefined): void {
    this.heard();
    if (stream) this.armSilence(stream);
    if (e.type === 'ERROR') {
      const st = e.object as { code?: number; message?: string };
      if (st.code === 410) this.gone = true;
      else this.opts.log.warn({ event: 'watch_error', path: this.opts.path, status: st }, 'watch error event');
      return;
    }
    this.backoff = this.opts.minBackoffMs ?? 200;
    const rv = e.object.metadata.resourceVersion;
    if (rv) this.rv = rv;
    if (e.type === 'BOOKMARK') return;
    const obj = this.trim(e.object);
    const key = objectKey(obj);
    const old = this.cache.get(key);
    if (e.type !== 'DELETED' && !isNewer(obj, old)) return; // our own write got here first
    if (e.type === 'DELETED') {
      this.cache.delete(key);
      this.emit(key, undefined, old);
    } else {
      this.cache.set(key, obj);
      this.emit(key, obj, old);
    }
  }

  private onEnd(err: Error | undefined): void {
    this.stream = undefined;
    this.silence?.cancel();
    if (this.stopped) return;
    if (this.gone || (err instanceof WatchHttpError && err.status === 410)) {
      this.gone = false;
      this.stats.expired++;
      this.opts.log.info({ event: 'watch_expired', path: this.opts.path }, 'resourceVersion expired, relisting');
      this.schedule(0, true);
    } else if (err) this.fail('watch ended', err, false);
    else this.schedule(0, false); // normal server-side timeout: resume from the last resourceVersion
  }

  private async relist(): Promise<void> {
    this.stats.lists++;
    const fresh = new Map<string, T>();
    let cont = '';
    let rv = '';
    do {
      const r = await this.client.request<{ metadata?: { resourceVersion?: string; continue?: string }; items?: T[] }>(
        'GET', this.url(`limit=${this.opts.pageSize ?? 500}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`));
      if (r.status !== 200) throw new Error(`list ${this.opts.path}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      for (const item of r.body.items ?? []) { const obj = this.trim(item); fresh.set(objectKey(obj), obj); }
      cont = r.body.metadata?.continue ?? '';
      rv = r.body.metadata?.resourceVersion ?? rv;
    } while (cont !== '');
    // items from a list carry no apiVersion/kind in some versions; they are not needed here
    // Merge, not replace: an object our own write stored (update()) while the list was in flight is
    // newer than the list's copy of it, or absent from the list because it was created after the
    // snapshot; either way it stays (the watch from the list's resourceVersion will bring its event).
    const changed: [string, T | undefined, T | undefined][] = [];
    for (const [k, v] of fresh) {
      const prev = this.cache.get(k);
      if (prev && numericallyNewer(prev.metadata.resourceVersion, v.metadata.resourceVersion)) continue;
      this.cache.set(k, v);
      if (prev?.metadata.resourceVersion !== v.metadata.resourceVersion) changed.push([k, v, prev]);
    }
    for (const [k, v] of [...this.cache]) {
      if (fresh.has(k) || numericallyNewer(v.metadata.resourceVersion, rv)) continue;
      this.cache.delete(k);
      changed.push([k, undefined, v]);
    }
    this.rv = rv;
    for (const [k, v, prev] of changed) this.emit(k, v, prev);
    this.backoff = this.opts.minBackoffMs ?? 200;
    this.heard();
    this.hasSynced = true;
    this.syncedResolve();
  }

  /** What is cached of a decoded object: managedFields dropped, then `strip`, then `transform`. */
  private trim(obj: T): T {
    Reflect.deleteProperty(obj.metadata, 'managedFields');
    this.opts.strip?.(obj as unknown as Record<string, unknown>);
    return this.opts.transform ? this.opts.transform(obj as unknown as Record<string, unknown>) as unknown as T : obj;
  }

  private emit(key: string, obj: T | undefined, old: T | undefined): void {
    for (const h of this.handlers) {
      try { h(key, obj, old); } catch (e) { this.opts.log.error({ event: 'handler_threw', key, err: String(e) }, 'change handler threw'); }
    }
  }
}
