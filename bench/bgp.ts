/**
 * BGP announcement benchmark (root only, BIRD 2 from Debian's `bird2`): `baregate bgp-announce` with an
 * eBGP session to BIRD in a lab namespace. For each table: the time from Established until BIRD holds
 * every prefix and the UPDATEs the speaker needed, then the time to withdraw them all and its UPDATEs,
 * and the speaker's RSS holding the large table.
 *
 * Tables: 10,000 IPv6 /128 from 2001:db8:100::/64 (the large one: IPv4 /32s cannot reach 10k inside the
 * documentation ranges, which hold 768 addresses in all), and the 768 IPv4 /32 of 192.0.2.0/24,
 * 198.51.100.0/24 and 203.0.113.0/24 (one attribute set: expect a single UPDATE plus End-of-RIB).
 *
 * "Established until BIRD holds N" is taken on BIRD's own clock (the protocol's Since and the newest
 * route's timestamp, in ms); a wall-clock figure from polling BIRD's control socket every ~20 ms is
 * reported beside it. Withdrawal times are polled. Every wait is bounded.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, netlabSkip } from '../test/netlab/netns.ts';
import {
  Bird, type BirdSocket, parseBirdCount, parseBirdProtocol, parseBirdRoutes, routersDir, routersSkip, Speaker, until,
} from '../test/netlab/routers.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const BG = { v4: '192.0.2.1', v6: '2001:db8::1' } as const;
const BIRD = { v4: '192.0.2.2', v6: '2001:db8::2' } as const;
const MY_ASN = 64512;
const BIRD_ASN = 64513;
/** Bounds each wait (a hang guard: a healthy run takes a few seconds in all). */
const WAIT = 60_000;

/**
 * The compiled speaker when dist/ has bgp-announce (as the other benches use), else the sources through tsx.
 * BENCH_BGP_RUNNER=tsx forces the sources (a dist/ older than the working tree would measure old code).
 */
function speakerCommand(): { cmd: string[]; runner: string } {
  const dist = join(root, 'dist/cli/main.js');
  if (process.env.BENCH_BGP_RUNNER === 'tsx') return { cmd: ['--import', 'tsx', join(root, 'src/cli/main.ts')], runner: 'tsx (BENCH_BGP_RUNNER=tsx)' };
  if (existsSync(dist) && readFileSync(dist, 'utf8').includes('bgp-announce')) return { cmd: [dist], runner: 'dist' };
  return { cmd: ['--import', 'tsx', join(root, 'src/cli/main.ts')], runner: 'tsx (dist/ has no bgp-announce: run npm run build)' };
}

/** BIRD prints local time without a zone; both ends of a difference are printed the same way. */
const birdMs = (t: string): number => Date.parse(`${t.replace(' ', 'T')}Z`);

interface PhaseResult {
  establishedToAllMs: number;
  establishedToAllPollMs: number;
  updates: number;
  withdrawAllMs: number;
  withdrawUpdates: number;
  rssBytes: number;
}

/** One speaker, one session (`proto` at BIRD, `peer` at the speaker), one table: announce at start, then withdraw all. */
async function phase(lab: Lab, sock: BirdSocket, dir: string, cmd: readonly string[], peer: { name: string; address: string; source: string }, proto: string, prefixes: readonly string[]): Promise<PhaseResult> {
  const configFile = join(dir, `speaker-${peer.name}.json`);
  writeFileSync(configFile, JSON.stringify({
    routerID: BG.v4, myASN: MY_ASN,
    peers: [{ name: peer.name, peerAddress: peer.address, peerASN: BIRD_ASN, sourceAddress: peer.source, connectTime: 1 }],
    prefixes: prefixes.map((prefix) => ({ prefix })),
  }));
  const sp = await Speaker.start(lab, 'bg', configFile, cmd);
  try {
    const n = prefixes.length;
    const count = async (): Promise<number> => parseBirdCount(await sock.cmd(`show route protocol ${proto} count`));
    let estAt = 0;
    let last = '';
    await until(() => `BIRD ${proto} Established; ${last}`, async () => {
      const s = parseBirdProtocol(await sock.cmd(`show protocols ${proto}`));
      last = s.raw;
      if (s.established) estAt = performance.now();
      return s.established ? true : undefined;
    }, WAIT, 20);
    let have = 0;
    await until(() => `BIRD ${proto} holds ${n} prefixes (has ${have})`, async () => {
      have = await count();
      return have >= n ? true : undefined;
    }, WAIT, 20);
    const fullAt = performance.now();

    // BIRD's clock: protocol up → the newest route's last change
    const since = parseBirdProtocol(await sock.cmd(`show protocols ${proto}`)).since ?? '';
    const newest = parseBirdRoutes(await sock.cmd(`show route protocol ${proto}`)).reduce((m, r) => Math.max(m, birdMs(r.since ?? '')), 0);
    const fullStats = await sp.stats();
    const full = fullStats.peers.find((p) => p.name === peer.name);
    if (!full) throw new Error(`no peer ${peer.name} in stats: ${JSON.stringify(fullStats)}`);

    const w0 = performance.now();
    await sp.send('withdraw-all');
    await until(() => `BIRD ${proto} empty after withdraw-all (has ${have})`, async () => {
      have = await count();
      return have === 0 ? true : undefined;
    }, WAIT, 20);
    const withdrawAllMs = performance.now() - w0;
    const empty = await sp.peer(peer.name);
    return {
      establishedToAllMs: newest - birdMs(since),
      establishedToAllPollMs: fullAt - estAt,
      updates: full.updatesSent,
      withdrawAllMs,
      withdrawUpdates: empty.updatesSent - full.updatesSent,
      rssBytes: fullStats.rssBytes,
    };
  } finally {
    await sp.kill();
  }
}

/** Runs the BGP benchmark; without root or BIRD it says why it did not run. */
export async function bgpBench(): Promise<Record<string, number | string>> {
  const skip = netlabSkip ?? routersSkip;
  if (skip !== undefined) return { bgp_skipped: skip };
  const lab = new Lab('bb');
  const dir = routersDir('bench');
  let sock: BirdSocket | undefined;
  try {
    lab.addSwitch('sw');
    lab.addHost('bg', 'sw', [`${BG.v4}/24`, `${BG.v6}/64`]);
    lab.addHost('bird', 'sw', [`${BIRD.v4}/24`, `${BIRD.v6}/64`]);
    const bird = new Bird(lab, 'bird', dir, {
      routerId: BIRD.v4,
      peers: [
        // graceful restart off: a killed speaker's routes leave at once instead of staying stale
        { name: 'bg4', localAddress: BIRD.v4, localAS: BIRD_ASN, neighbor: BG.v4, neighborAS: MY_ASN, families: ['ipv4'], gracefulRestart: false },
        { name: 'bg6', localAddress: BIRD.v6, localAS: BIRD_ASN, neighbor: BG.v6, neighborAS: MY_ASN, families: ['ipv6'], gracefulRestart: false },
      ],
    });
    await bird.start();
    sock = await bird.socket();
    const { cmd, runner } = speakerCommand();

    const v6 = Array.from({ length: 10_000 }, (_, i) => `2001:db8:100::${(i + 1).toString(16)}/128`);
    const a = await phase(lab, sock, dir, cmd, { name: 'bird6', address: BIRD.v6, source: BG.v6 }, 'bg6', v6);
    const v4 = ['192.0.2', '198.51.100', '203.0.113'].flatMap((net) => Array.from({ length: 256 }, (_, i) => `${net}.${i}/32`));
    const b = await phase(lab, sock, dir, cmd, { name: 'bird4', address: BIRD.v4, source: BG.v4 }, 'bg4', v4);

    return {
      bgp_speaker_runner: runner,
      bgp_v6_prefixes: v6.length,
      bgp_v6_established_to_all_ms: a.establishedToAllMs,
      bgp_v6_established_to_all_poll_ms: Math.round(a.establishedToAllPollMs),
      // updatesSent as the speaker counts it (End-of-RIB included if it counts that as an UPDATE)
      bgp_v6_updates: a.updates,
      bgp_v6_prefixes_per_update: Math.round(v6.length / Math.max(1, a.updates)),
      bgp_v6_withdraw_all_ms: Math.round(a.withdrawAllMs),
      bgp_v6_withdraw_updates: a.withdrawUpdates,
      bgp_speaker_rss_mib_10k: Math.round(a.rssBytes / 1048576),
      bgp_v4_prefixes: v4.length,
      bgp_v4_established_to_all_ms: b.establishedToAllMs,
      bgp_v4_established_to_all_poll_ms: Math.round(b.establishedToAllPollMs),
      bgp_v4_updates: b.updates,
      bgp_v4_withdraw_all_ms: Math.round(b.withdrawAllMs),
      bgp_v4_withdraw_updates: b.withdrawUpdates,
    };
  } finally {
    sock?.close();
    lab.destroySync();
    rmSync(dir, { recursive: true, force: true });
  }
}
