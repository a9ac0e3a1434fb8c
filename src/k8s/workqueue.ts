/**
 * Keyed work queue. Events for one key merge into one pending item; one key is never processed by two
 * workers at once (a key added while it runs is processed again afterwards); handlers return
 * `ok | retry | fail` and retries back off exponentially up to a cap. The handler reads the latest
 * object from its cache, so the queue carries only keys.
 */
import { realClock, type Clock, type Timer } from '../clock.ts';
import type { Logger } from '../log.ts';

/** Handler outcome: `retry` re-queues with backoff, `fail` drops the key until it changes again. */
export type Outcome = 'ok' | 'retry' | 'fail';

/** Queue options. */
export interface WorkQueueOptions {
  concurrency?: number;
  minRetryMs?: number;
  maxRetryMs?: number;
  log: Logger;
  /** Timers for retry backoff (default: the real clock); tests pass a FakeClock. */
  clock?: Clock;
}

/** See the module comment. */
export class WorkQueue {
  private readonly pending: string[] = [];
  private readonly queued = new Set<string>();
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, Timer>();
  private active = 0;
  private stopped = true;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly handler: (key: string) => Promise<Outcome>, private readonly opts: WorkQueueOptions) {}

  /** Starts processing. */
  start(): void {
    this.stopped = false;
    this.pump();
  }

  /** Stops taking new work (running handlers finish) and cancels retry timers. */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
  }

  /** Adds a key (merged with a pending one). `front` puts it ahead of other pending keys. */
  add(key: string, front = false): void {
    const t = this.timers.get(key);
    if (t) { t.cancel(); this.timers.delete(key); }
    if (this.running.has(key)) { this.dirty.add(key); return; }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    if (front) this.pending.unshift(key); else this.pending.push(key);
    this.pump();
  }

  /** Number of keys waiting or running. */
  get length(): number {
    return this.pending.length + this.running.size + this.timers.size;
  }

  /** Resolves when nothing is pending or running (retry timers excluded). */
  idle(): Promise<void> {
    if (this.pending.length === 0 && this.active === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private pump(): void {
    const max = this.opts.concurrency ?? 8;
    while (!this.stopped && this.active < max) {
      const key = this.pending.shift();
      if (key === undefined) break;
      this.queued.delete(key);
      this.running.add(key);
      this.active++;
      void this.process(key);
    }
    if (this.pending.length === 0 && this.active === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const r of w) r();
    }
  }

  private async process(key: string): Promise<void> {
    let outcome: Outcome;
    try {
      outcome = await this.handler(key);
    } catch (e) {
      this.opts.log.error({ event: 'handler_threw', key, err: e instanceof Error ? e.stack : String(e) }, 'work handler threw; retrying');
      outcome = 'retry';
    }
    this.running.delete(key);
    this.active--;
    if (outcome === 'retry' && !this.dirty.has(key)) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      const ms = Math.min((this.opts.minRetryMs ?? 100) * 2 ** (n - 1), this.opts.maxRetryMs ?? 30_000);
      if (!this.stopped) this.timers.set(key, (this.opts.clock ?? realClock).setTimeout(() => { this.timers.delete(key); this.add(key); }, ms));
    } else if (outcome !== 'retry') {
      this.failures.delete(key);
    }
    if (this.dirty.delete(key)) this.add(key);
    this.pump();
  }
}
