/**
 * Layer-2 responder benchmark (root only): an arping flood bounded in count and time from a client
 * namespace against `baregate l2-announce` (compiled dist/) in a node namespace; replies/s, reply
 * latency p50/p99 as arping measures it, and the responder's RSS. The throughput flood runs with reply
 * rate limiting off (it measures the responder, not the limiter); a second flood with the default limits
 * reports how many replies one flooding asker gets and how many requests were dropped as rate-limited.
 */
import { fileURLToPath } from 'node:url';
import { Control, Lab, netlabSkip } from '../test/netlab/netns.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

/** Runs the L2 benchmark; without root it says why it did not run. */
export async function l2Bench(count = 2000): Promise<Record<string, number | string>> {
  if (netlabSkip) return { l2_skipped: netlabSkip };
  const lab = new Lab('bn');
  try {
    lab.addSwitch('sw');
    lab.addHost('node', 'sw', ['192.0.2.11/24']);
    lab.addHost('client', 'sw', ['192.0.2.100/24']);
    const c = new Control(lab.start('node', process.execPath, [`${root}dist/cli/main.js`, 'l2-announce', '--interface', 'eth0', '--control', '--ip', '192.0.2.200']));
    await c.next();
    await c.send('limits off');
    const t0 = performance.now();
    const r = await lab.run('client', 'arping', ['-i', 'eth0', '-c', String(count), '-W', '0.0005', '-w', '30', '192.0.2.200'], 60_000);
    const secs = (performance.now() - t0) / 1000;
    const times: number[] = [];
    for (const m of r.stdout.matchAll(/time=([\d.]+) (usec|msec|sec)/g)) {
      const v = Number(m[1]);
      times.push(m[2] === 'usec' ? v : m[2] === 'msec' ? v * 1000 : v * 1e6);
    }
    const stats = (await c.send('stats')) as { replies: number; rssBytes: number };
    await c.send('limits default');
    const l0 = performance.now();
    const limited = await lab.run('client', 'arping', ['-i', 'eth0', '-c', String(count), '-W', '0.0005', '-w', '30', '-r', '192.0.2.200'], 60_000);
    const limitedSecs = (performance.now() - l0) / 1000;
    const after = (await c.send('stats')) as { replies: number; drops: Record<string, number> };
    return {
      l2_arping_requests: count,
      l2_arping_replies: times.length,
      l2_replies_per_s: Math.round(times.length / secs),
      l2_reply_p50_us: Math.round(quantile(times, 0.5)),
      l2_reply_p99_us: Math.round(quantile(times, 0.99)),
      l2_responder_replies: stats.replies,
      l2_responder_rss_mib: Math.round(stats.rssBytes / 1048576),
      l2_limited_flood_seconds: Math.round(limitedSecs * 10) / 10,
      l2_limited_flood_replies: limited.stdout.split('\n').filter((l) => l.trim() !== '').length,
      l2_limited_flood_dropped: after.drops['rate-limited-asker'] ?? 0,
    };
  } finally {
    lab.destroySync();
  }
}
