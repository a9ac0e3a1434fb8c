/**
 * Reply rate limits for the responder. Every ARP request and neighbour solicitation on the segment reaches
 * JavaScript and, for an owned IP, is answered 1:1 to an address the sender chose: without a limit, one host
 * (or anyone spoofing sender addresses) makes us spend the event loop on replies and reflect a flood at a
 * victim. Token buckets, one per (asker, target) and one per target, bound that; the defaults are far above
 * what neighbour resolution ever asks for (Linux sends at most one solicitation per second per neighbour and
 * state, a few in a row), so normal resolution is never limited.
 *
 * Pure apart from the injected clock: the tables are bounded (least recently used entry evicted first), so
 * spoofed senders cannot grow memory either; an evicted bucket starts full again, which is why the per-target
 * bucket exists as the backstop.
 */
import type { Clock } from '../clock.ts';

/** One token bucket's shape: `burst` replies at once, refilled at `perSecond`. */
export interface BucketLimit {
  readonly perSecond: number;
  readonly burst: number;
}

/** The responder's limits; see the module comment. */
export interface ReplyLimits {
  /** Replies to one asker (sender MAC and IP) about one target IP. */
  readonly perAsker: BucketLimit;
  /** Replies about one target IP to everyone together. */
  readonly perTarget: BucketLimit;
  /** How many buckets each table keeps before evicting the least recently used one. */
  readonly maxTracked: number;
}

/**
 * Defaults: an asker gets 10 replies at once and 5/s after that per target (a resolving kernel asks about
 * once a second; arping's default is one per second); a target gets 1,000 at once and 500/s, enough for a
 * few hundred clients re-resolving at the same instant after a failover.
 */
export const DEFAULT_REPLY_LIMITS: ReplyLimits = {
  perAsker: { perSecond: 5, burst: 10 },
  perTarget: { perSecond: 500, burst: 1000 },
  maxTracked: 16_384,
};

/** Why a reply was not allowed; these are drop reasons in the link's stats. */
export type RateLimitReason = 'rate-limited-asker' | 'rate-limited-target';

/** Throws a TypeError for limits that cannot work (programmer or config error, caught at construction). */
export function checkReplyLimits(l: ReplyLimits): void {
  for (const [name, b] of [['perAsker', l.perAsker], ['perTarget', l.perTarget]] as const) {
    if (!Number.isFinite(b.perSecond) || b.perSecond <= 0) throw new TypeError(`${name}.perSecond must be a positive number, got ${b.perSecond}`);
    if (!Number.isFinite(b.burst) || b.burst < 1) throw new TypeError(`${name}.burst must be at least 1, got ${b.burst}`);
  }
  if (!Number.isInteger(l.maxTracked) || l.maxTracked < 1) throw new TypeError(`maxTracked must be a positive integer, got ${l.maxTracked}`);
}

/** One token bucket: whole tokens available and when it was last refilled (monotonic ms). */
export interface Bucket { tokens: number; at: number }

/** A bounded table of token buckets keyed by string, refilled lazily from the clock. */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly limit: BucketLimit, private readonly maxTracked: number, private readonly clock: Pick<Clock, 'now'>) {}

  /** Number of buckets held (bounded by maxTracked). */
  get size(): number {
    return this.buckets.size;
  }

  /** The bucket for `key`, refilled to now: callers read `tokens` and take one (`tokens -= 1`) when they admit. */
  bucket(key: string): Bucket {
    return this.refilled(key);
  }

  /** The bucket for `key`, refilled to now and moved to the most recently used end. */
  private refilled(key: string): Bucket {
    const now = this.clock.now();
    let b = this.buckets.get(key);
    if (b === undefined) {
      b = { tokens: this.limit.burst, at: now };
      if (this.buckets.size >= this.maxTracked) {
        const oldest = this.buckets.keys().next();
        if (oldest.done !== true) this.buckets.delete(oldest.value);
      }
    } else {
      this.buckets.delete(key); // re-inserted below: Map order is the LRU order
      const elapsed = Math.max(0, now - b.at); // a clock that went backwards refills nothing
      b.tokens = Math.min(this.limit.burst, b.tokens + (elapsed * this.limit.perSecond) / 1000);
      b.at = now;
    }
    this.buckets.set(key, b);
    return b;
  }
}

/** Decides whether one more reply may go out; see the module comment. */
export class ReplyLimiter {
  private readonly askers: TokenBuckets;
  private readonly targets: TokenBuckets;

  constructor(limits: ReplyLimits, clock: Pick<Clock, 'now'>) {
    checkReplyLimits(limits);
    this.askers = new TokenBuckets(limits.perAsker, limits.maxTracked, clock);
    this.targets = new TokenBuckets(limits.perTarget, limits.maxTracked, clock);
  }

  /**
   * Admits a reply to `asker` about `target` (taking a token from both buckets) or says which limit refused it
   * (taking nothing, so a refused asker does not use up the target's budget for everyone else).
   */
  admit(asker: string, target: string): 'ok' | RateLimitReason {
    // each bucket is refilled once per reply (this runs for every ARP request and NS on the segment)
    const a = this.askers.bucket(`${asker}>${target}`);
    if (a.tokens < 1) return 'rate-limited-asker';
    const t = this.targets.bucket(target);
    if (t.tokens < 1) return 'rate-limited-target';
    a.tokens -= 1;
    t.tokens -= 1;
    return 'ok';
  }

  /** Buckets held, for tests and diagnostics. */
  get tracked(): { askers: number; targets: number } {
    return { askers: this.askers.size, targets: this.targets.size };
  }
}
