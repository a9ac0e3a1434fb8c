/**
 * Gratuitous announcements: when this node gains an IP, every neighbour must learn the new MAC at
 * once (clients would otherwise keep sending to the old owner until their cache expires). Sent
 * immediately, then repeated on a schedule because single frames get lost; stopped at once on loss.
 *
 * Timers come from the injected Clock (tests drive the schedule with a FakeClock, no sleeps). A send that
 * throws is handed to `onError` and never escapes a timer or `gain()`: one bad announcement must neither end
 * the process nor stop the rest of the schedule.
 */
import type { Clock, Timer } from '../clock.ts';

/** Default repeat schedule, ms after the gain: immediately, then four repeats over ~5 s. */
export const DEFAULT_SCHEDULE: readonly number[] = [0, 250, 1000, 2500, 5000];

/** What an announcer needs. */
export interface AnnouncerOptions {
  /** Sends the announcement for one IP (the link builds and writes the frames). */
  readonly send: (ip: string) => void;
  /** Offsets in ms after the gain; 0 (or less) means at once, inside `gain()`. */
  readonly schedule?: readonly number[];
  readonly clock: Clock;
  /** Told about every exception `send` throws (counted and logged by the link). */
  readonly onError: (ip: string, err: unknown) => void;
}

/** See the module comment. */
export class Announcer {
  private readonly pending = new Map<string, Timer[]>();
  private readonly schedule: readonly number[];

  constructor(private readonly o: AnnouncerOptions) {
    this.schedule = o.schedule ?? DEFAULT_SCHEDULE;
  }

  /** Starts announcing `ip` (restarts the schedule if it was already running). */
  gain(ip: string): void {
    this.lose(ip);
    const timers: Timer[] = [];
    const last = Math.max(0, ...this.schedule);
    for (const at of this.schedule) {
      if (at <= 0) { this.fire(ip); continue; }
      timers.push(this.o.clock.setTimeout(() => {
        this.fire(ip);
        // the schedule is over: forget the fired timers (10k announced IPs kept 40k of them alive)
        if (at === last && this.pending.get(ip) === timers) this.pending.delete(ip);
      }, at));
    }
    if (timers.length > 0) this.pending.set(ip, timers);
  }

  /** IPs whose announcement schedule is still running (for tests and metrics). */
  get running(): number {
    return this.pending.size;
  }

  /** Stops announcing `ip`. */
  lose(ip: string): void {
    for (const t of this.pending.get(ip) ?? []) t.cancel();
    this.pending.delete(ip);
  }

  /** Stops everything. */
  stop(): void {
    for (const ip of [...this.pending.keys()]) this.lose(ip);
  }

  private fire(ip: string): void {
    try {
      this.o.send(ip);
    } catch (e) {
      try { this.o.onError(ip, e); } catch { /* an error reporter that throws must not end the process either */ }
    }
  }
}
