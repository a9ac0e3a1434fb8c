/**
 * `baregate bgp-announce --config FILE`: the BGP speaker without Kubernetes, announcing the prefixes
 * of a config file. With --control it reads `announce`, `withdraw`, `announce-many`, `withdraw-all`,
 * `shutdown SECONDS` and `stats` from stdin and answers each with one JSON line with a `ctl` key.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parse } from 'yaml';
import { checkAttributes, checkPrefix, parseSpeakerConfig, type RouteAttributes } from '../bgp/config.ts';
import { Speaker } from '../bgp/speaker.ts';
import { logger } from '../log.ts';

function reply(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

/** Runs the speaker until SIGTERM/SIGINT (or stdin closes, with --control). Config errors exit 2 before any socket opens. */
export async function bgpAnnounce(opts: { config: string; control: boolean }): Promise<void> {
  const log = logger('bgp-announce');
  const text = readFileSync(opts.config, 'utf8');
  // JSON parses natively (big generated tables); YAML for hand-written files
  const config = parseSpeakerConfig(opts.config.endsWith('.json') ? JSON.parse(text) : parse(text));
  const speaker = new Speaker({ config, log });
  await speaker.start();
  // session timers come from the real clock, which never holds the process: while no peer is connected
  // (all unreachable, say) this is what keeps the speaker running until it is told to stop
  const alive = setInterval(() => undefined, 1 << 30);
  reply({ ctl: 'ready', peers: config.peers.map((p) => p.name) });
  const stop = (): void => { clearInterval(alive); speaker.stop(); setTimeout(() => process.exit(0), 200); };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  if (!opts.control) return;
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', (line) => {
    void handle(speaker, config, line.trim()).then(reply, (e: unknown) => { reply({ ctl: 'error', error: e instanceof Error ? e.message : String(e) }); });
  });
  rl.on('close', stop);
}

async function handle(speaker: Speaker, config: { myASN: number }, line: string): Promise<Record<string, unknown>> {
  const [cmd = '', ...args] = line.split(/\s+/);
  switch (cmd) {
    case 'announce': {
      const [prefix = '', ...rest] = args;
      const attrs = (rest.length > 0 ? JSON.parse(rest.join(' ')) : {}) as RouteAttributes & { peers?: string[] };
      checkPrefix('announce', prefix);
      checkAttributes('announce', attrs, config.myASN);
      speaker.announce({ ...attrs, prefix }, attrs.peers);
      return { ctl: 'ok' };
    }
    case 'announce-many':
      for (const p of args) checkPrefix('announce-many', p);
      for (const p of args) speaker.announce({ prefix: p });
      return { ctl: 'ok', count: args.length };
    case 'withdraw':
      for (const p of args) speaker.withdraw(p);
      return { ctl: 'ok' };
    case 'withdraw-all':
      speaker.withdrawAll();
      return { ctl: 'ok' };
    case 'shutdown':
      await speaker.gracefulShutdown(Number(args[0] ?? 5) * 1000);
      return { ctl: 'ok' };
    case 'stats':
      return { ctl: 'stats', peers: speaker.stats(), rssBytes: process.memoryUsage().rss };
    default:
      return { ctl: 'error', error: `unknown command ${cmd}` };
  }
}
