/**
 * `baregate l2-announce`: Layer-2 mode on one interface without Kubernetes, for tests, labs and manual
 * failover. With --control it reads commands from stdin (`add IP`, `del IP`, `stats`, `fds`) and answers
 * each with one JSON line carrying a `ctl` key, so a test can drive ownership churn and read counters.
 */
import { readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { L2Link } from '../l2/link.ts';
import { logger } from '../log.ts';

/** Options of the subcommand. */
export interface L2AnnounceOptions {
  interface: string;
  ip: string[];
  control: boolean;
  announceSchedule: number[];
}

function reply(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

/** Runs until SIGTERM/SIGINT (or stdin closes, with --control). */
export function l2Announce(opts: L2AnnounceOptions): void {
  const log = logger('l2-announce', { ifname: opts.interface });
  const link = new L2Link({ ifname: opts.interface, log, schedule: opts.announceSchedule });
  link.setOwned(opts.ip);
  reply({ ctl: 'ready', ifname: opts.interface, mac: link.hwaddr, up: link.up, ips: link.ownedIPs() });
  const stop = (): void => { link.close(); process.exit(0); };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  if (!opts.control) return;
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const [cmd = '', ...args] = line.trim().split(/\s+/);
    try {
      switch (cmd) {
        case 'add': for (const ip of args) link.add(ip); reply({ ctl: 'ok', owned: link.ownedIPs().length }); break;
        case 'del': for (const ip of args) link.remove(ip); reply({ ctl: 'ok', owned: link.ownedIPs().length }); break;
        case 'stats': reply({ ctl: 'stats', ...link.stats, owned: link.ownedIPs().length, up: link.up, rssBytes: process.memoryUsage().rss }); break;
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
