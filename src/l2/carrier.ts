/**
 * Carrier state of interfaces, from sysfs. An owner whose announcing interface lost its link must give its
 * IPs up at once (issue 9: Cilium kept announcing from a node whose NIC died); AF_PACKET sockets do not tell
 * us, because an interface without carrier is still administratively up and its sockets stay open, so we
 * poll `/sys/class/net/<if>/{operstate,carrier}`.
 *
 * Inside `ip netns exec` sysfs is the namespace's own (it remounts /sys), so the same reads work in netlab.
 * Timers come from an injected Clock; reads and callbacks never throw out of a timer.
 */
import { readFileSync } from 'node:fs';
import { realClock, type Clock, type Timer } from '../clock.ts';

/** Where the kernel lists interfaces. */
export const SYSFS_NET = '/sys/class/net';

/** A name that is a plain interface name (no path tricks); anything else is "no such interface". */
function plainName(ifname: string): boolean {
  return ifname.length > 0 && ifname.length <= 15 && !ifname.includes('/') && ifname !== '.' && ifname !== '..';
}

function readAttr(root: string, ifname: string, attr: string): string | undefined {
  try {
    return readFileSync(`${root}/${ifname}/${attr}`, 'utf8').trim();
  } catch {
    return undefined; // missing interface, or EINVAL reading `carrier` of an interface that is admin-down
  }
}

/**
 * Whether `ifname` can carry frames now: operstate `up`, or `unknown` (drivers that do not report it, like
 * lo or tun), with carrier 1. A missing interface, an admin-down one or one without link is down. Never throws.
 */
export function carrierUp(ifname: string, root = SYSFS_NET): boolean {
  if (!plainName(ifname)) return false;
  const oper = readAttr(root, ifname, 'operstate');
  if (oper !== 'up' && oper !== 'unknown') return false;
  return readAttr(root, ifname, 'carrier') === '1';
}

/** Default poll interval: a lost link is noticed within 100 ms. */
export const DEFAULT_CARRIER_POLL_MS = 100;

/** Settings of a {@link CarrierWatch}. */
export interface CarrierWatchOptions {
  /** Called with the new state after a change (not for the first reading of an interface). */
  readonly onChange: (ifname: string, up: boolean) => void;
  /** Defaults to the real clock. */
  readonly clock?: Clock;
  /** Poll interval in ms ({@link DEFAULT_CARRIER_POLL_MS} unless given). */
  readonly pollMs?: number;
  /** Reads one interface's state; {@link carrierUp} unless given (tests). A throw counts as down. */
  readonly read?: (ifname: string) => boolean;
  /** Told about anything `read` or `onChange` threw (caught; the watch goes on). */
  readonly onError?: (err: unknown, ifname: string) => void;
}

/**
 * Polls the carrier of a set of interfaces and reports changes. One timer for the whole set, running only
 * while something is watched, so a stopped watch holds nothing. The speaker feeds the changes to the takeover
 * engine (release at once on loss) and to {@link L2Link.setCarrier}.
 */
export class CarrierWatch {
  private readonly state = new Map<string, boolean>();
  private timer: Timer | undefined;
  private stopped = false;
  private readonly clock: Clock;
  private readonly pollMs: number;
  private readonly read: (ifname: string) => boolean;

  constructor(private readonly o: CarrierWatchOptions, interfaces: Iterable<string> = []) {
    this.clock = o.clock ?? realClock;
    this.pollMs = Math.max(1, o.pollMs ?? DEFAULT_CARRIER_POLL_MS);
    this.read = o.read ?? ((ifname) => carrierUp(ifname));
    for (const i of interfaces) this.watch(i);
  }

  /** Starts watching `ifname` (no change reported for this first reading); returns its state now. */
  watch(ifname: string): boolean {
    const known = this.state.get(ifname);
    if (known !== undefined) return known;
    const up = this.readSafe(ifname);
    this.state.set(ifname, up);
    this.schedule();
    return up;
  }

  /** Stops watching `ifname`. */
  unwatch(ifname: string): void {
    this.state.delete(ifname);
    if (this.state.size === 0) { this.timer?.cancel(); this.timer = undefined; }
  }

  /** Watches exactly these interfaces (the ones the speaker announces on). */
  setInterfaces(names: Iterable<string>): void {
    const want = new Set(names);
    for (const i of [...this.state.keys()]) if (!want.has(i)) this.unwatch(i);
    for (const i of want) this.watch(i);
  }

  /** The last state seen, undefined for an interface not watched. */
  isUp(ifname: string): boolean | undefined {
    return this.state.get(ifname);
  }

  /** Every watched interface with its last state. */
  snapshot(): Map<string, boolean> {
    return new Map(this.state);
  }

  /** Reads every watched interface now (also done every `pollMs`), reporting changes. */
  poll(): void {
    for (const [ifname, was] of [...this.state]) {
      const up = this.readSafe(ifname);
      if (up === was || !this.state.has(ifname)) continue; // unwatched by an earlier onChange
      this.state.set(ifname, up);
      try {
        this.o.onChange(ifname, up);
      } catch (e) {
        this.report(e, ifname);
      }
    }
  }

  /** Stops polling for good. */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.state.clear();
  }

  private schedule(): void {
    if (this.stopped || this.timer || this.state.size === 0) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      try { this.poll(); } catch (e) { this.report(e, ''); }
      this.schedule();
    }, this.pollMs);
  }

  private readSafe(ifname: string): boolean {
    try {
      return this.read(ifname);
    } catch (e) {
      this.report(e, ifname);
      return false;
    }
  }

  private report(e: unknown, ifname: string): void {
    try { this.o.onError?.(e, ifname); } catch { /* a reporter that throws must not stop the watch */ }
  }
}
