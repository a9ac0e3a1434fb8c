/**
 * Time as a dependency. Every component that waits, times out or measures takes a `Clock`, so tests
 * drive time with {@link FakeClock} instead of sleeping, and lease/hold-timer arithmetic uses a
 * monotonic source that wall-clock jumps (NTP steps, VM resumes) cannot move.
 */

/** A scheduled callback that can be cancelled; cancelling twice or after it ran is harmless. */
export interface Timer {
  cancel(): void;
}

/** The source of time and timers. */
export interface Clock {
  /** Monotonic milliseconds (arbitrary origin): for durations, deadlines and expiry. */
  now(): number;
  /** Wall-clock milliseconds since the epoch: only for timestamps shown to people or written to the API. */
  wall(): number;
  /** Runs `fn` once after `ms` milliseconds. The real clock never keeps the process alive for it. */
  setTimeout(fn: () => void, ms: number): Timer;
}

/** The process's real clock (performance.now for monotonic time, unref'd timers). */
export const realClock: Clock = {
  now: () => performance.now(),
  wall: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return { cancel: () => { clearTimeout(t); } };
  },
};

interface Scheduled { at: number; seq: number; fn: () => void; cancelled: boolean }

/**
 * A clock that moves only when told. `advance(ms)` runs every timer that falls due, in time order
 * (ties in scheduling order), with `now()` equal to each timer's due time while it runs; timers set
 * by a callback run too if they fall due within the advanced span.
 */
export class FakeClock implements Clock {
  private t: number;
  private readonly wallOffset: number;
  private seq = 0;
  private timers: Scheduled[] = [];

  constructor(start = 0, wallStart = Date.UTC(2026, 0, 1)) {
    this.t = start;
    this.wallOffset = wallStart - start;
  }

  now(): number {
    return this.t;
  }

  wall(): number {
    return this.t + this.wallOffset;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const s: Scheduled = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(s);
    return { cancel: () => { s.cancelled = true; } };
  }

  /** Number of timers still pending. */
  pending(): number {
    return this.timers.filter((s) => !s.cancelled).length;
  }

  /** Moves time forward by `ms`, running due timers in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.timers = this.timers.filter((s) => !s.cancelled);
      let next: Scheduled | undefined;
      for (const s of this.timers) if (s.at <= end && (!next || s.at < next.at || (s.at === next.at && s.seq < next.seq))) next = s;
      if (!next) break;
      this.timers.splice(this.timers.indexOf(next), 1);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = end;
  }

  /**
   * Advances in steps of `step` ms up to `ms`, letting promise callbacks run between steps, for code
   * whose timers are set after an `await`.
   */
  async advanceAsync(ms: number, step = ms): Promise<void> {
    let left = ms;
    while (left > 0) {
      const d = Math.min(step, left);
      this.advance(d);
      left -= d;
      for (let i = 0; i < 10; i++) await Promise.resolve();
      await new Promise<void>((r) => { setImmediate(r); });
    }
  }
}
