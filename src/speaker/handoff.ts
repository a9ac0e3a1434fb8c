/**
 * Connection hand-off on a graceful L2 takeover: no request in flight is lost when an IP moves from a speaker
 * that is shutting down (SIGTERM) to us.
 *
 * Why it is needed: in L2 mode the clients follow our gratuitous ARP/NA at once, also for TCP connections the old
 * owner's node is serving. Their next segment reaches our node, which has no state for them (kube-proxy would
 * DNAT the mid-stream segment to some endpoint, which answers with a reset; with the IP local, the kernel resets
 * it itself). The old node is still up (only its speaker stops), so the fix is to send such segments on to it:
 * for a while after taking over from a leaving speaker, a TCP segment for the IP that opens nothing (no SYN) and
 * that our conntrack has never seen is duplicated, unchanged, to the old owner's address on the shared link and
 * dropped here. The old node's own conntrack knows the connection and answers the client directly. New
 * connections (SYN) are ours from the first moment.
 *
 * Mechanism: one nftables table per family (`ip`/`ip6` `baregate_handoff`), chain at prerouting priority mangle
 * (after conntrack, before kube-proxy's DNAT), one rule per old owner and device, matching a set of IPs:
 * `ip daddr { IP, … } ct state new tcp flags & syn == 0 dup to OLD device DEV drop`. The whole table is replaced in one
 * `nft -f` transaction on every change. Rules expire after `drainMs` (long-lived connections to a node that is
 * going away are not worth keeping it reachable for) and when we stop answering the IP.
 *
 * This needs `nft` and CAP_NET_ADMIN. Without them the speaker works as before (in-flight requests at the moment
 * of a graceful move can fail): the first failure is logged once as a warning and hand-off is switched off.
 */
import { spawn } from 'node:child_process';
import type { Clock, Timer } from '../clock.ts';
import type { Logger } from '../log.ts';
import { isLinkLocal, parseIP, parseRange } from '../net/ip.ts';
import type { InterfaceState } from './types.ts';

/** The nftables table (in families `ip` and `ip6`) the speaker owns; nothing else in it, nothing of it elsewhere. */
export const HANDOFF_TABLE = 'baregate_handoff';

/** How long segments of connections the old owner serves are forwarded to it, by default. */
export const HANDOFF_DRAIN_MS = 15_000;

/** One handed-off IP: segments for `ip` arriving on `device` go on to `via` (the old owner's address on that link). */
export interface HandoffRule {
  readonly ip: string;
  readonly device: string;
  readonly via: string;
}

const quoteDevice = (d: string): string => `"${d.replace(/["\\]/g, '')}"`;

/**
 * The `nft -f` script that makes the hand-off tables hold exactly `rules` (both families are always rewritten, so
 * a rule of the other family left by an earlier run goes too). An empty list removes the tables. Pure.
 */
export function handoffScript(rules: readonly HandoffRule[], table: string = HANDOFF_TABLE): string {
  const lines: string[] = [];
  for (const [family, match] of [['ip', 'ip daddr'], ['ip6', 'ip6 daddr']] as const) {
    const mine = rules.filter((r) => (family === 'ip6') === r.ip.includes(':'));
    // `add` then `delete` is the idempotent "remove if present" of nft: both run in one transaction
    lines.push(`add table ${family} ${table}`, `delete table ${family} ${table}`);
    if (mine.length === 0) continue;
    lines.push(`table ${family} ${table} {`, '  chain prerouting {', '    type filter hook prerouting priority mangle; policy accept;');
    // one rule per (device, old owner) with the IPs as a set: a BGP hand-off covers every announced IP at once, and
    // a set is one hash lookup per packet where a rule per IP would be a linear walk
    const groups = new Map<string, { device: string; via: string; ips: string[] }>();
    for (const r of mine) {
      const k = `${r.device}\0${r.via}`;
      const g = groups.get(k) ?? { device: r.device, via: r.via, ips: [] };
      g.ips.push(r.ip);
      groups.set(k, g);
    }
    for (const k of [...groups.keys()].sort()) {
      const g = groups.get(k);
      if (!g) continue;
      const ips = g.ips.sort();
      const dst = ips.length === 1 ? ips[0] ?? '' : `{ ${ips.join(', ')} }`;
      lines.push(`    ${match} ${dst} ct state new tcp flags & syn == 0 dup to ${g.via} device ${quoteDevice(g.device)} drop`);
    }
    lines.push('  }', '}');
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The old owner's address to forward to: an address of theirs, of the IP's family, inside a subnet of one of our
 * `device`'s addresses (so it is reachable on that link without a router). Undefined when there is none. Pure.
 */
export function handoffTarget(ip: string, device: string, ours: readonly InterfaceState[], theirs: readonly InterfaceState[]): string | undefined {
  const fam = parseIP(ip)?.family;
  if (fam === undefined) return undefined;
  const subnets = (ours.find((i) => i.name === device)?.addresses ?? [])
    .filter((a) => a.family === fam && a.cidr !== null)
    .map((a) => parseRange(a.cidr ?? ''))
    .filter((r): r is Exclude<typeof r, { error: string }> => !('error' in r))
    .filter((r) => !isLinkLocal(r));
  for (const i of theirs) {
    for (const a of i.addresses) {
      if (a.family !== fam) continue;
      const v = parseIP(a.address)?.value;
      if (v !== undefined && subnets.some((r) => v >= r.lo && v <= r.hi)) return a.address;
    }
  }
  return undefined;
}

/** Applies an nft script; rejects with the tool's error text. */
export type NftRunner = (script: string) => Promise<void>;

/**
 * Runs `nft -f -` in the speaker's own network namespace (the host's, for a hostNetwork pod). `cmd` is the command
 * line before `-f -` (tests run it inside a namespace: `ip netns exec NS nft`).
 */
export function execNft(cmd: readonly string[] = ['nft']): NftRunner {
  const [bin = 'nft', ...pre] = cmd;
  return (script) => new Promise<void>((resolve, reject) => {
    const c = spawn(bin, [...pre, '-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.setEncoding('utf8').on('data', (d: string) => { err = (err + d).slice(-2000); });
    c.stdin.on('error', () => undefined); // EPIPE when nft dies first: the exit tells why
    c.once('error', (e) => { reject(e); });
    c.once('close', (code) => { if (code === 0) resolve(); else reject(new Error(err.trim() || `nft exited ${String(code)}`)); });
    c.stdin.end(script);
  });
}

/** What the daemon calls; {@link Handoff} implements it. */
export interface HandoffPort {
  /**
   * Forward segments of connections we do not know for `ip` (answered on `device`) to `via`, for the drain time.
   * Resolves (never rejects) once the rule is in the kernel, or hand-off is off: the daemon announces the IP only
   * then, so no client is pointed at us before its connections can be passed on.
   */
  forward(ip: string, device: string, via: string): Promise<void>;
  /** We no longer answer `ip`: its rule goes. */
  stop(ip: string): void;
  /** Removes every rule (shutdown); resolves when the tables are gone or that failed. */
  close(): Promise<void>;
}

/** Counters for metrics and tests. */
export interface HandoffStats {
  /** Hand-offs started (IPs taken over from a leaving speaker with a reachable address). */
  forwards: number;
  /** Rules expired after the drain time. */
  expired: number;
  /** nft runs that failed. */
  failures: number;
  /** Rules in place now. */
  active: number;
  /** Switched off after a failure (no nft, no permission). */
  disabled: boolean;
}

/** Keeps the hand-off tables equal to the live set of rules; nft runs are serialised and coalesced. */
export class Handoff implements HandoffPort {
  private readonly rules = new Map<string, { rule: HandoffRule; timer: Timer }>();
  private running: Promise<void> | undefined;
  private dirty = false;
  /** Resolvers of forward() calls whose change is not in a run yet. */
  private waiting: (() => void)[] = [];
  readonly stats: HandoffStats = { forwards: 0, expired: 0, failures: 0, active: 0, disabled: false };

  constructor(private readonly o: { clock: Clock; log: Logger; run: NftRunner; drainMs?: number }) {}

  /** Removes tables a crashed predecessor may have left (call once at start). */
  start(): void {
    this.dirty = true;
    this.kick();
  }

  forward(ip: string, device: string, via: string): Promise<void> {
    if (this.stats.disabled) return Promise.resolve();
    this.rules.get(ip)?.timer.cancel();
    const timer = this.o.clock.setTimeout(() => {
      if (this.rules.get(ip)?.timer !== timer) return;
      this.rules.delete(ip);
      this.stats.expired++;
      this.changed();
    }, this.o.drainMs ?? HANDOFF_DRAIN_MS);
    this.rules.set(ip, { rule: { ip, device, via }, timer });
    this.stats.forwards++;
    this.o.log.info({ event: 'l2-handoff-start', ip, device, via, drainMs: this.o.drainMs ?? HANDOFF_DRAIN_MS },
      'forwarding the old owner\'s connections to it');
    const applied = new Promise<void>((resolve) => { this.waiting.push(resolve); });
    this.changed();
    return applied;
  }

  stop(ip: string): void {
    const r = this.rules.get(ip);
    if (!r) return;
    r.timer.cancel();
    this.rules.delete(ip);
    this.changed();
  }

  async close(): Promise<void> {
    for (const r of this.rules.values()) r.timer.cancel();
    const had = this.rules.size > 0 || this.stats.active > 0;
    this.rules.clear();
    if (had) this.changed();
    while (this.running) await this.running;
  }

  private changed(): void {
    this.stats.active = this.rules.size;
    this.dirty = true;
    this.kick();
  }

  private kick(): void {
    if (this.stats.disabled) { this.wake(this.waiting.splice(0)); return; }
    if (this.running || !this.dirty) return;
    this.dirty = false;
    const waiters = this.waiting.splice(0);
    const script = handoffScript([...this.rules.values()].map((r) => r.rule));
    this.running = this.o.run(script).then(
      () => undefined,
      (e: unknown) => {
        this.stats.failures++;
        const why = e instanceof Error ? e.message : String(e);
        // no nft, no CAP_NET_ADMIN, a kernel without nft_dup: this does not get better by retrying
        this.stats.disabled = true;
        this.o.log.warn({ event: 'l2-handoff-disabled', error: why },
          'connection hand-off unavailable (needs nft and CAP_NET_ADMIN): requests in flight when an IP moves gracefully may fail');
      },
    ).finally(() => {
      this.running = undefined;
      this.wake(waiters);
      this.kick();
    });
  }

  private wake(waiters: readonly (() => void)[]): void {
    for (const w of waiters) w();
  }
}
