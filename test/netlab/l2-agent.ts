/**
 * Test helper for the netlab L2 tests: one L2Link on one interface, driven over a JSON-lines control channel
 * on stdin/stdout (the `Control` protocol of netns.ts: one reply line with a `ctl` key per command), so a test
 * can use probe(), onClaim and the carrier watch from inside a namespace (`ip netns exec NS node … l2-agent.ts`).
 * Not part of the CLI: `baregate l2-announce` keeps its own behaviour.
 *
 * Commands: `add IP…`, `del IP…`, `probe IP [WINDOW_MS]`, `claims` (the onClaim calls since the last `claims`),
 * `carrier` (sysfs now, the link's state and the watch's changes), `mac` (sysfs address), `stats`.
 * Logs go to stderr, so stdout carries control lines only.
 */
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { realClock } from '../../src/clock.ts';
import { CarrierWatch, carrierUp } from '../../src/l2/carrier.ts';
import { L2Link } from '../../src/l2/link.ts';
import { interfaceMac, nativeLinkIo } from '../../src/l2/linkio.ts';

const ifname = process.argv[process.argv.indexOf('--interface') + 1] ?? 'eth0';
const log = pino({ level: process.env.BAREGATE_LOG_LEVEL ?? 'warn' }, process.stderr);
const claims: { ip: string; mac: string; at: number }[] = [];
const carrierChanges: { up: boolean; at: number }[] = [];
const t0 = realClock.now();

function reply(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

const link = new L2Link({
  ifname, log, io: nativeLinkIo,
  onClaim: (ip, mac) => { claims.push({ ip, mac, at: Math.round(realClock.now() - t0) }); },
});
const watch = new CarrierWatch({
  onChange: (_i, up) => { carrierChanges.push({ up, at: Math.round(realClock.now() - t0) }); link.setCarrier(up); },
  onError: (e) => { log.warn({ event: 'carrier_watch_error', err: String(e) }, 'carrier watch error'); },
});
link.setCarrier(watch.watch(ifname));
const keepAlive = setInterval(() => undefined, 1 << 30); // the link's and the watch's timers are unref'd
const stop = (): void => { clearInterval(keepAlive); watch.stop(); link.close(); process.exit(0); };
process.once('SIGTERM', stop);
reply({ ctl: 'ready', ifname, mac: link.hwaddr, up: link.up, carrier: link.carrier });

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd = '', ...args] = line.trim().split(/\s+/);
  void (async (): Promise<void> => {
    try {
      switch (cmd) {
        case 'add': for (const ip of args) link.add(ip); reply({ ctl: 'ok', owned: link.ownedCount }); break;
        case 'del': for (const ip of args) link.remove(ip); reply({ ctl: 'ok', owned: link.ownedCount }); break;
        case 'probe': {
          const start = realClock.now();
          const r = await link.probe(args[0] ?? '', args[1] === undefined ? undefined : Number(args[1]));
          reply({ ctl: 'probe', ...r, elapsedMs: realClock.now() - start });
          break;
        }
        case 'claims': reply({ ctl: 'claims', claims: claims.splice(0) }); break;
        case 'carrier': reply({ ctl: 'carrier', sysfs: carrierUp(ifname), link: link.carrier, up: link.up, changes: carrierChanges }); break;
        case 'mac': reply({ ctl: 'mac', sysfs: interfaceMac(ifname) }); break;
        case 'stats': reply({ ctl: 'stats', ...link.stats, owned: link.ownedCount, up: link.up, carrier: link.carrier }); break;
        case '': break;
        default: reply({ ctl: 'error', error: `unknown command ${cmd}` });
      }
    } catch (e) {
      reply({ ctl: 'error', error: e instanceof Error ? e.message : String(e) });
    }
  })();
});
rl.on('close', stop);
