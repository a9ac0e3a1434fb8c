/**
 * Gratuitous announcements: when this node gains an IP, every neighbour must learn the new MAC at
 * once (clients would otherwise keep sending to the old owner until their cache expires). Sent
 * immediately, then repeated on a schedule because single frames get lost; stopped at once on loss.
 */

/** Timer functions, injectable so tests need no real time. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Default repeat schedule, ms after the gain: immediately, then four repeats over ~5 s. */
export const DEFAULT_SCHEDULE: readonly number[] = [0, 250, 1000, 2500, 5000];

const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => { clearTimeout(h as NodeJS.Timeout); },
};

/** See the module comment. */
export class Announcer {
  private readonly pending = new Map<string, unknown[]>();

  constructor(
    private readonly send: (ip: string) => void,
    private readonly schedule: readonly number[] = DEFAULT_SCHEDULE,
    private readonly timers: Timers = realTimers,
  ) {}

  /** Starts announcing `ip` (restarts the schedule if it was already running). */
  gain(ip: string): void {
    this.lose(ip);
    const handles: unknown[] = [];
    this.pending.set(ip, handles);
    for (const at of this.schedule) {
      if (at <= 0) { this.send(ip); continue; }
      handles.push(this.timers.setTimeout(() => { this.send(ip); }, at));
    }
  }

  /** Stops announcing `ip`. */
  lose(ip: string): void {
    for (const h of this.pending.get(ip) ?? []) this.timers.clearTimeout(h);
    this.pending.delete(ip);
  }

  /** Stops everything. */
  stop(): void {
    for (const ip of [...this.pending.keys()]) this.lose(ip);
  }
}
