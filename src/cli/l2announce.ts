/**
 * `baregate l2-announce`: Layer-2 mode on one interface without Kubernetes, for tests, labs and manual
 * failover. With --control it reads commands from stdin (`add IP`, `del IP`, `stats`, `fds`, `limits …`) and
 * answers each with one JSON line carrying a `ctl` key, so a test can drive ownership churn and read counters.
 * `limits off` turns reply rate limiting off (the benchmark measures the responder itself), `limits default`
 * restores the defaults, `limits ASKER_PER_S ASKER_BURST TARGET_PER_S TARGET_BURST` sets others.
 */
import { readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { L2Link } from '../l2/link.ts';
import { nativeLinkIo } from '../l2/linkio.ts';
import { DEFAULT_REPLY_LIMITS, type ReplyLimits } from '../l2/ratelimit.ts';
import { logger } from '../log.ts';

/** Options of the subcommand. */
export interface L2AnnounceOptions {
  interface: string;
  ip: string[];
  control: boolean;
  announceSchedule: number[];
  /** Reply limits (defaults when absent; false: none). */
  replyLimits?: ReplyLimits | false;
}

/** Parses the arguments of the `limits` control command. */
function parseLimits(args: string[]): ReplyLimits | false {
  if (args.length === 1 && args[0] === 'off') return false;
  if (args.length === 1 && args[0] === 'default') return DEFAULT_REPLY_LIMITS;
  const n = args.map(Number);
  if (n.length !== 4) throw new TypeError('limits off | default | ASKER_PER_S ASKER_BURST TARGET_PER_S TARGET_BURST');
  const [ar = 0, ab = 0, tr = 0, tb = 0] = n;
  return { perAsker: { perSecond: ar, burst: ab }, perTarget: { perSecond: tr, burst: tb }, maxTracked: DEFAULT_REPLY_LIMITS.maxTracked };
}

function reply(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

/** Runs until SIGTERM/SIGINT (or stdin closes, with --control). */
export function l2Announce(opts: L2AnnounceOptions): void {
  const log = logger('l2-announce', { ifname: opts.interface });
  const link = new L2Link({
    ifname: opts.interface, log, io: nativeLinkIo, schedule: opts.announceSchedule,
    ...(opts.replyLimits === undefined ? {} : { replyLimits: opts.replyLimits }),
  });
  link.setOwned(opts.ip);
  reply({ ctl: 'ready', ifname: opts.interface, mac: link.hwaddr, up: link.up, ips: link.ownedIPs() });
  // The link's timers are unref'd (realClock) and while the interface is down no socket is open: without this
  // the process would exit during an outage instead of waiting for the interface to come back.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const stop = (): void => { clearInterval(keepAlive); link.close(); process.exit(0); };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  if (!opts.control) return;
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const [cmd = '', ...args] = line.trim().split(/\s+/);
    try {
      switch (cmd) {
        case 'add': for (const ip of args) link.add(ip); reply({ ctl: 'ok', owned: link.ownedCount }); break;
        case 'del': for (const ip of args) link.remove(ip); reply({ ctl: 'ok', owned: link.ownedCount }); break;
        case 'stats': reply({ ctl: 'stats', ...link.stats, owned: link.ownedCount, up: link.up, rssBytes: process.memoryUsage().rss }); break;
        case 'limits': link.setReplyLimits(parseLimits(args)); reply({ ctl: 'ok' }); break;
        case 'fds': reply({ ctl: 'fds', count: readdirSync('/proc/self/fd').length }); break;
        case '': break;
        default: reply({ ctl: 'error', error: `unknown command ${cmd}` });
      }
    } catch (e) {
      reply({ ctl: 'error', error: e instanceof Error ? e.message : String(e) });
    }
  });
  rl.on('close', stop);
}
