/**
 * BFD interop with BIRD 2 (root only): real `baregate speaker` processes in two node namespaces (topology.ts)
 * and the BIRD router, which runs `protocol bfd` with `bfd on` on every BGP session:
 *
 * - single hop (RFC 5881, UDP 3784, TTL 255): the direct eBGP sessions to the router's LAN addresses, profile
 *   `fast` = BIRD's interface timers (300 ms × 3);
 * - multihop (RFC 5883, UDP 4784): eBGP multihop sessions to the router's loopback addresses, with a profile
 *   whose timers differ from BIRD's multihop ones, so both sides must agree on intervals the RFC way
 *   (tx = max(own desired tx, peer's required rx); detection = peer's multiplier × max(own rx, peer's tx)),
 *   first after Up (from the 1 s of a session not Up, by a poll sequence) and again on a live profile change.
 *
 * Then: BIRD frozen (a hung router: its sockets open, nothing sent) → our side tears BGP down on BFD's
 * detection time, not the 9 s hold timer, and everything comes back once it runs again; a node's cable cut →
 * BIRD tears down that node's single-hop and multihop sessions. Durations are printed, never asserted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { API_VERSION, Kinds } from '../../src/api/keys.ts';
import { netlabSkip } from './netns.ts';
import { routersSkip } from './routers.ts';
import { ASN, BFD, Topology, routerBirdConfig, until, type BirdBfdSession, type RouterMultihop, type SpeakerStatusView } from './topology.ts';

const skipReason = netlabSkip ?? routersSkip;
if (skipReason !== undefined && netlabSkip === undefined) process.stderr.write(`\n*** ${skipReason}: BFD interop tests SKIPPED ***\n\n`);

let topo: Topology;
const NODES = ['n1', 'n2'];
/** The router's loopback addresses (multihop sessions) and its multihop BFD timers. */
const MH: RouterMultihop = { local4: '203.0.113.254', local6: '2001:db8:4::1', intervalMs: 300, multiplier: 3 };
/**
 * The multihop peers' profile: slower rx and faster tx than BIRD's 300 ms, another multiplier; minimumTtl 64
 * because BIRD sends multihop BFD with the system's default TTL (64), not 255 (the first test shows it).
 */
const NEG = { name: 'negotiated', receiveInterval: 500, transmitInterval: 200, detectMultiplier: 4, minimumTtl: 64 };
type Timers = Pick<typeof NEG, 'receiveInterval' | 'transmitInterval' | 'detectMultiplier'>;
/** The BFDProfile object for the multihop peers (minimumTtl null: left out, so the default 254). */
const negProfile = (p: Timers, minimumTtl: number | null = NEG.minimumTtl): Record<string, unknown> => ({
  apiVersion: API_VERSION, kind: Kinds.BFDProfile.kind, metadata: { name: NEG.name },
  spec: { receiveInterval: p.receiveInterval, transmitInterval: p.transmitInterval, detectMultiplier: p.detectMultiplier, ...(minimumTtl !== null && { minimumTtl }) },
});
const PEERS = {
  single: ['router-v4', 'router-v6'],
  multihop: ['router-mh-v4', 'router-mh-v6'],
} as const;
const ALL_PEERS = [...PEERS.single, ...PEERS.multihop];

function skip(t: TestContext): boolean {
  if (skipReason !== undefined) t.skip(skipReason);
  return skipReason !== undefined;
}

function report(t: TestContext, what: string, ms: number | undefined): void {
  const line = `${what}: ${ms === undefined ? 'n/a' : `${ms} ms`}`;
  t.diagnostic(line);
  process.stderr.write(`[measure] ${line}\n`);
}

type Session = NonNullable<NonNullable<SpeakerStatusView['status']>['sessions']>[number];
/** Node → peer → the session as that node's SpeakerStatus shows it. */
async function ourSessions(): Promise<Map<string, Map<string, Session>>> {
  const m = new Map<string, Map<string, Session>>();
  for (const s of await topo.speakerStatuses()) m.set(s.status?.node ?? s.metadata.name, new Map((s.status?.sessions ?? []).map((x) => [x.peer, x])));
  return m;
}

/** Waits until every node's every peer session satisfies `ok`; the message shows what was last seen. */
async function untilEverySession(what: string, ok: (peer: string, s: Session) => boolean, ms = 60_000): Promise<Map<string, Map<string, Session>>> {
  let seen = '';
  return until(() => `${what}; last seen ${seen}\n${topo.logs().slice(-3000)}`, async () => {
    const m = await ourSessions();
    seen = JSON.stringify([...m].map(([n, ss]) => [n, [...ss.values()]]));
    return NODES.every((n) => ALL_PEERS.every((p) => { const s = m.get(n)?.get(p); return s !== undefined && ok(p, s); })) ? m : undefined;
  }, ms, 250);
}

/** BIRD's session for a node address, single hop or multihop. */
function birdOf(rows: BirdBfdSession[], address: string, multihop: boolean): BirdBfdSession | undefined {
  return rows.find((r) => r.address === address && r.multihop === multihop);
}

/** Waits until BIRD's BFD sessions with every node (single hop and multihop, v4 and v6) satisfy `ok`. */
async function untilBird(what: string, ok: (r: BirdBfdSession, multihop: boolean) => boolean, ms = 60_000): Promise<BirdBfdSession[]> {
  let seen: BirdBfdSession[] = [];
  return until(() => `${what}; BIRD shows ${JSON.stringify(seen)}`, async () => {
    seen = await topo.birdBfdDetails();
    return topo.nodes.every((n) => [n.ipv4, n.ipv6].every((a) => [false, true].every((mh) => { const r = birdOf(seen, a, mh); return r !== undefined && ok(r, mh); }))) ? seen : undefined;
  }, ms, 250);
}

/** BIRD's BGP protocols of a node: the direct and the multihop ones. */
const birdProtocols = (node: string): string[] => [`${node}v4`, `${node}v6`, `${node}mh4`, `${node}mh6`];

async function allEstablished(): Promise<void> {
  await until(() => `BIRD's sessions with every node Established; ${topo.birdLog.log.slice(-2000)}`, async () => {
    const s = await topo.birdSessions();
    return NODES.every((n) => birdProtocols(n).every((p) => s.get(p)?.startsWith('Established') === true)) ? true : undefined;
  }, 60_000, 250);
  await untilEverySession('every session Established on our side', (_p, s) => s.state === 'Established');
}

/** The `bfd_down` log lines (ISO time, see src/log.ts) of a node's speaker at or after `from` (ms since epoch), with its time. */
function bfdDownLogged(node: string, from: number): { time: number; peer: string; diagnostic: string }[] {
  const p = topo.speakers.get(node);
  const out: { time: number; peer: string; diagnostic: string }[] = [];
  for (const line of (p?.log ?? '').split('\n')) {
    if (!line.includes('"bfd_down"')) continue;
    try {
      const o = JSON.parse(line) as { time?: string; event?: string; peer?: string; diagnostic?: string };
      const time = Date.parse(o.time ?? '');
      if (o.event === 'bfd_down' && time >= from) out.push({ time, peer: o.peer ?? '', diagnostic: o.diagnostic ?? '' });
    } catch { /* not a JSON line */ }
  }
  return out;
}

before(async () => {
  if (skipReason !== undefined) return;
  topo = await Topology.start({ nodes: NODES.length, tag: 'bf', log: (m) => { process.stderr.write(`${m}\n`); } });
  topo.lab.ip('router', 'addr', 'add', `${MH.local4}/32`, 'dev', 'lo');
  topo.lab.ip('router', '-6', 'addr', 'add', `${MH.local6}/128`, 'dev', 'lo');
  await topo.reconfigureBird(routerBirdConfig(topo.nodes, MH));
  await topo.applyBaseConfig({ l2: false, bgp: true });
  await topo.apply(
    negProfile(NEG, null),
    ...([['router-mh-v4', MH.local4], ['router-mh-v6', MH.local6]] as const).map(([name, peerAddress]) => ({
      apiVersion: API_VERSION, kind: Kinds.BGPPeer.kind, metadata: { name },
      spec: { myASN: ASN.nodes, peerASN: ASN.router, peerAddress, ebgpMultiHop: true, holdTime: '9s', connectTime: '1s', bfdProfile: NEG.name },
    })),
  );
  await topo.startSpeakers();
}, { timeout: 300_000 });

after(async () => {
  await topo?.destroy(); // eslint-disable-line @typescript-eslint/no-unnecessary-condition -- undefined when skipped or when start failed
});

describe('BFD with BIRD 2', { timeout: 240_000 }, () => {
  test('single-hop and multihop sessions come Up on both sides for IPv4 and IPv6, and BGP is Established over them; with minimumTtl 254 BIRD\'s multihop packets (TTL 64) are dropped and the status says why', async (t) => {
    if (skip(t)) return;
    // the profile starts at the default minimumTtl (254): single hop comes Up, multihop cannot
    await untilEverySession('ours: single hop Up, multihop Down with BIRD\'s packets dropped for their TTL', (peer, s) => ((PEERS.multihop as readonly string[]).includes(peer)
      ? s.bfd?.state !== 'Up' && /^TTL 64 below the minimum 254 \(BFDProfile negotiated minimumTtl/.test(s.bfd?.lastDropped ?? '')
      : s.bfd?.state === 'Up'));
    const table = await topo.baregateStatus(false);
    assert.match(table.stdout, /router-mh-v4 .*BFD drops the peer's packets: TTL 64 below the minimum 254/, table.stdout + table.stderr);
    await topo.apply(negProfile(NEG));
    await untilBird('BIRD: every BFD session Up', (r) => r.state === 'Up');
    const ours = await untilEverySession('ours: every BFD session Up', (_p, s) => s.bfd?.state === 'Up');
    for (const n of NODES) {
      for (const p of PEERS.single) assert.equal(ours.get(n)?.get(p)?.bfd?.multihop, false, `${n} ${p}: single hop`);
      for (const p of PEERS.multihop) assert.equal(ours.get(n)?.get(p)?.bfd?.multihop, true, `${n} ${p}: multihop`);
    }
    await allEstablished();
  });

  test('intervals are agreed the RFC 5880 way after Up (poll sequence from 1 s) and again after a live profile change', async (t) => {
    if (skip(t)) return;
    /** What both sides must show for our profile `p` against BIRD's 300 ms × 3 (single hop: `fast` = BIRD's). */
    const expect = (p: Timers) => ({
      ours: { tx: Math.max(p.transmitInterval, MH.intervalMs), detect: MH.multiplier * Math.max(p.receiveInterval, MH.intervalMs) },
      bird: { tx: Math.max(MH.intervalMs, p.receiveInterval), timeout: p.detectMultiplier * Math.max(MH.intervalMs, p.transmitInterval) },
    });
    const fast = expect({ receiveInterval: BFD.intervalMs, transmitInterval: BFD.intervalMs, detectMultiplier: BFD.multiplier });
    const check = async (p: Timers): Promise<void> => {
      const mh = expect(p);
      await untilBird(`BIRD: single hop ${JSON.stringify(fast.bird)}, multihop ${JSON.stringify(mh.bird)}`, (r, multihop) => {
        const want = multihop ? mh.bird : fast.bird;
        return r.state === 'Up' && r.intervalMs === want.tx && r.timeoutMs === want.timeout;
      });
      await untilEverySession(`ours: single hop ${JSON.stringify(fast.ours)}, multihop ${JSON.stringify(mh.ours)}`, (peer, s) => {
        const want = (PEERS.multihop as readonly string[]).includes(peer) ? mh.ours : fast.ours;
        return s.bfd?.state === 'Up' && s.bfd.transmitIntervalMs === want.tx && s.bfd.detectionTimeMs === want.detect;
      });
    };
    await check(NEG);
    const changed = { ...NEG, receiveInterval: 200, transmitInterval: 400, detectMultiplier: 5 };
    const before = await topo.birdSessions();
    await topo.apply(negProfile(changed));
    await check(changed);
    // a timer change is made inside the Up session: BGP never noticed
    const now = await topo.birdSessions();
    for (const n of NODES) for (const p of birdProtocols(n)) assert.equal(now.get(p), before.get(p), `${p} untouched by the timer change`);
    // back to the profile the other tests expect
    await topo.apply(negProfile(NEG));
    await check(NEG);
  });

  test('BIRD frozen (its BFD stops, its TCP sockets stay open): our side tears every BGP session down on BFD, not the 9 s hold timer; all comes back when BIRD runs again', async (t) => {
    if (skip(t)) return;
    await allEstablished();
    const t0 = Date.now();
    topo.freezeBird(true);
    try {
      // while BIRD is frozen only our side can act: it must have dropped BGP for the detection-time expiry
      await untilEverySession('ours: BFD Down (detection time expired) and BGP no longer Established, while BIRD is frozen',
        (_p, s) => s.bfd?.state === 'Down' && s.bfd.lastDiagnostic === 'control detection time expired' && s.state !== 'Established', 30_000);
      for (const n of NODES) {
        const downs = bfdDownLogged(n, t0);
        assert.deepEqual([...new Set(downs.map((d) => d.peer))].sort(), [...ALL_PEERS].sort(), `${n}: every peer's BFD went down`);
        assert.ok(downs.every((d) => d.diagnostic === 'control detection time expired'), `${n}: ${JSON.stringify(downs)}`);
        for (const p of ALL_PEERS) {
          const first = downs.find((d) => d.peer === p);
          report(t, `BIRD frozen → ${n} ${p} BFD Down, BGP torn down`, first === undefined ? undefined : first.time - t0);
        }
      }
      const ev = await topo.mustKubectl(['get', 'events', '-A', '--field-selector', 'reason=BFDSessionDown', '-o', 'json']);
      const events = (JSON.parse(ev) as { items: { involvedObject: { name: string }; message: string; lastTimestamp?: string }[] }).items;
      for (const p of ALL_PEERS) assert.ok(events.some((e) => e.involvedObject.name === p && /BGP session torn down/.test(e.message)), `a BFDSessionDown event on BGPPeer ${p}: ${ev.slice(0, 2000)}`);
    } finally {
      topo.freezeBird(false);
    }
    await untilBird('BIRD: every BFD session Up again', (r) => r.state === 'Up');
    await untilEverySession('ours: every BFD session Up again', (_p, s) => s.bfd?.state === 'Up');
    await allEstablished();
  });

  test('a node\'s cable cut: BIRD\'s BFD tears down that node\'s single-hop and multihop BGP sessions (IPv4, IPv6), the other node keeps its own', async (t) => {
    if (skip(t)) return;
    await allEstablished();
    const victim = 'n2';
    const t0 = await topo.crash(victim);
    const gone = await until(`BIRD drops ${victim}'s sessions`, async () => {
      const s = await topo.birdSessions();
      return birdProtocols(victim).every((p) => s.get(p)?.startsWith('Established') !== true) ? Date.now() : undefined;
    }, 15_000, 20);
    report(t, `cable cut of ${victim} → BIRD dropped its 4 BGP sessions`, gone - t0);
    for (const proto of birdProtocols(victim)) {
      const info = await topo.birdc('show', 'protocols', 'all', proto);
      assert.match(info, /BFD session down/i, `${proto} was dropped by BFD: ${info}`);
    }
    const s = await topo.birdSessions();
    for (const p of birdProtocols('n1')) assert.ok(s.get(p)?.startsWith('Established'), `${p} stays: ${s.get(p)}`);
    await topo.revive(victim);
    await allEstablished();
  });
});
