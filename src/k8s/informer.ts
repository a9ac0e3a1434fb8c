/**
 * List+watch cache for one resource type. Survives everything the network and apiserver can do:
 * dropped streams resume from the last resourceVersion, `410 Gone` relists and reports the
 * difference as events, errors back off (capped) and never escape as exceptions.
 */
import type { Logger } from '../log.ts';
import { WatchHttpError, type Closable, type KubeClient, type WatchEvent } from './client.ts';

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
   * Fields to drop before caching. `metadata.managedFields` is always dropped: it is often the largest
   * part of an object, and with 10k Services it alone costs tens of MiB.
   */
  strip?: (obj: Record<string, unknown>) => void;
}

/** `namespace/name` for namespaced objects, `name` otherwise. */
export function objectKey(o: KObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
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
  private stream: Closable | undefined;
  private stopped = false;
  private backoff: number;
  private timer: NodeJS.Timeout | undefined;
  private syncedResolve!: () => void;
  /** Resolves after the first complete list. */
  readonly synced: Promise<void> = new Promise((r) => { this.syncedResolve = r; });
  /** Counts of list and watch (re)starts, for tests and metrics. */
  readonly stats = { lists: 0, watches: 0, errors: 0 };

  constructor(private readonly client: KubeClient, private readonly opts: InformerOptions) {
    this.backoff = opts.minBackoffMs ?? 200;
  }

  /** Registers a change handler (call before start). */
  onChange(h: ChangeHandler<T>): void {
    this.handlers.push(h);
  }

  /** Starts list+watch in the background. */
  start(): void {
    this.stopped = false;
    this.schedule(0, true);
  }

  /** Stops watching; the cache stays readable. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
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
  update(obj: T): void {
    this.trim(obj);
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
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { void this.run(relist); }, ms);
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
      const s = await this.client.watch<T>(
        this.url(`watch=1&allowWatchBookmarks=true&timeoutSeconds=${240 + Math.floor(Math.random() * 120)}&resourceVersion=${encodeURIComponent(this.rv)}`),
        (e) => { this.onEvent(e); },
        (err) => { this.onEnd(err); },
      );
      if (this.isStopped()) s.close(); else this.stream = s;
    } catch (e) {
      this.fail('watch failed', e, false);
    }
  }

  private gone = false;

  private onEvent(e: WatchEvent<T>): void {
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
    this.trim(e.object);
    const key = objectKey(e.object);
    const old = this.cache.get(key);
    if (e.type !== 'DELETED' && !isNewer(e.object, old)) return; // our own write got here first
    if (e.type === 'DELETED') {
      this.cache.delete(key);
      this.emit(key, undefined, old);
    } else {
      this.cache.set(key, e.object);
      this.emit(key, e.object, old);
    }
  }

  private onEnd(err: Error | undefined): void {
    this.stream = undefined;
    if (this.stopped) return;
    if (this.gone || (err instanceof WatchHttpError && err.status === 410)) {
      this.gone = false;
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
      for (const item of r.body.items ?? []) { this.trim(item); fresh.set(objectKey(item), item); }
      cont = r.body.metadata?.continue ?? '';
      rv = r.body.metadata?.resourceVersion ?? rv;
    } while (cont !== '');
    // items from a list carry no apiVersion/kind in some versions; they are not needed here
    const old = new Map(this.cache);
    this.cache.clear();
    for (const [k, v] of fresh) this.cache.set(k, v);
    this.rv = rv;
    for (const [k, v] of fresh) {
      const prev = old.get(k);
      if (prev?.metadata.resourceVersion !== v.metadata.resourceVersion) this.emit(k, v, prev);
    }
    for (const [k, v] of old) if (!fresh.has(k)) this.emit(k, undefined, v);
    this.backoff = this.opts.minBackoffMs ?? 200;
    this.syncedResolve();
  }

  private trim(obj: T): void {
    Reflect.deleteProperty(obj.metadata, 'managedFields');
    this.opts.strip?.(obj as unknown as Record<string, unknown>);
  }

  private emit(key: string, obj: T | undefined, old: T | undefined): void {
    for (const h of this.handlers) {
      try { h(key, obj, old); } catch (e) { this.opts.log.error({ event: 'handler_threw', key, err: String(e) }, 'change handler threw'); }
    }
  }
}
