/**
 * The speaker end to end (root only): real `baregate speaker` processes in three node namespaces on one
 * LAN, a real apiserver reached through relays, the address controller, a BIRD router and clients
 * (topology.ts). Every statement about who answers is checked on the wire: arping / ndisc6 from the
 * LAN client, the answering MAC compared with the nodes' eth0 MACs.
 *
 * Durations (takeover times, handover gaps) are printed, never asserted against a wall-clock threshold:
 * the bench measures them; the waits below only bound a hang.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test, type TestContext } from 'node:test';
import { compareForIP } from '../../src/speaker/rank.ts';
import { EXCLUDE_FROM_LB_LABEL } from '../../src/api/keys.ts';
import { netlabSkip } from './netns.ts';
import { LAN, POOLS, Topology, rangeAddresses, until, type NeighWatch } from './topology.ts';
import type { ServiceReport, StatusReport } from '../../src/cli/status.ts';

let topo: Topology;
const NODES = ['n1', 'n2', 'n3'];

function skip(t: TestContext): boolean {
  if (netlabSkip) t.skip(netlabSkip);
  return netlabSkip !== undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** The node the rank puts first for `ip` among `nodes`. */
const planned = (ip: string, nodes: string[] = NODES): string => [...nodes].sort(compareForIP(ip))[0]!;
const macName = (mac: string): string => topo.nodeByMac(mac)?.name ?? mac;

before(async () => {
  if (netlabSkip) return;
  topo = await Topology.start({ nodes: 3, tag: 'sp', log: (m) => { process.stderr.write(`${m}\n`); } });
}, { timeout: 300_000 });

after(async () => {
  await topo?.destroy(); // eslint-disable-line @typescript-eslint/no-unnecessary-condition -- undefined when skipped or when start failed
});

describe('topology', { timeout: 120_000 }, () => {
  test('a node namespace reaches the apiserver through its relay only: kubectl works there, and fails once the relay is killed', async (t) => {
    if (skip(t)) return;
    const n1 = topo.node('n1');
    const kubectl = `${topo.cluster.binDir}/kubectl`;
    const get = () => topo.lab.run('n1', kubectl, ['--kubeconfig', n1.kubeconfig, '--request-timeout=3s', 'get', 'nodes', '-o', 'name']);
    const ok = await get();
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(ok.stdout.trim().split('\n').sort(), NODES.map((n) => `node/${n}`));
    // the root namespace gives the node nothing else: no route out of the LAN but through the router
    const routes = topo.lab.ip('n1', 'route', 'show');
    assert.doesNotMatch(routes, /127\.0\.0\.1|dev (?!eth0|lo)/);
    await topo.stopRelay('n1');
    const cut = await get();
    assert.notEqual(cut.code, 0, 'kubectl must fail without the relay');
    await topo.startRelay('n1');
    assert.equal((await get()).code, 0);
  });

  test('the kernel of a node answers neighbour resolution for its own address but never for Service addresses on lo (IPv4 ARP, IPv6 NDP)', async (t) => {
    if (skip(t)) return;
    for (const n of topo.nodes) {
      assert.deepEqual(await topo.whoAnswers(n.ipv4), [n.mac], `ARP for ${n.name}'s address`);
      assert.deepEqual(await topo.whoAnswers(n.ipv6), [n.mac], `NDP for ${n.name}'s address`);
    }
    // no speaker runs yet: every pool address is on every node's lo, and nobody may answer for it
    for (const ip of ['192.0.2.200', '192.0.2.220', '2001:db8:2::200', '2001:db8:2::220']) {
      assert.deepEqual(await topo.whoAnswers(ip, { count: 3 }), [], `nobody answers for ${ip}`);
    }
  });

  test('every node serves its name on :8080; the routed client reaches the LAN through the router, where BIRD runs a v4 and a v6 session per node', async (t) => {
    if (skip(t)) return;
    for (const n of topo.nodes) {
      assert.equal((await topo.httpGet('client', `http://${n.ipv4}:8080/`)).body, n.name);
      assert.equal((await topo.httpGet('client', `http://[${n.ipv6}]:8080/`)).body, n.name);
      assert.equal((await topo.httpGet('wclient', `http://${n.ipv4}:8080/`)).body, n.name, 'IPv4 through the router');
      assert.equal((await topo.httpGet('wclient', `http://[${n.ipv6}]:8080/`)).body, n.name, 'IPv6 through the router');
    }
    const sessions = await topo.birdSessions();
    assert.deepEqual([...sessions.keys()].sort(), NODES.flatMap((n) => [`${n}v4`, `${n}v6`]).sort());
  });
});

// ───────────────────────────── the speaker ─────────────────────────────

const WEB4 = '192.0.2.200';
const WEB6 = '2001:db8:2::200';
const WEB2_4 = '192.0.2.201';
const WEB2_6 = '2001:db8:2::201';
const ROUTED4 = '198.51.100.10';
const ROUTED6 = '2001:db8:5::10';

/** Brings every node back to normal after a test broke it (also a failed one): no partition, cable in, relay, speaker running and ready. */
async function heal(): Promise<void> {
  topo.partitionHeartbeats(false);
  for (const n of NODES) await topo.revive(n);
}

/** Reports a measured duration (printed, not asserted). */
function report(t: TestContext, what: string, ms: number | undefined): void {
  const line = `${what}: ${ms === undefined ? 'n/a' : `${ms} ms`}`;
  t.diagnostic(line);
  process.stderr.write(`[measure] ${line}\n`);
}

describe('speaker', { timeout: 240_000 }, () => {
  before(async () => {
    if (netlabSkip) return;
    await topo.applyBaseConfig({ l2: true, bgp: true, communities: ['64512:100', '64512:200'] });
    topo.startController();
    await topo.service('web', [WEB4, WEB6]);
    await topo.service('web2', [WEB2_4, WEB2_6]);
    await topo.service('routed', [ROUTED4, ROUTED6], { pool: POOLS.bgp.name });
    await topo.waitServiceIPs('web', 2);
    await topo.waitServiceIPs('web2', 2);
    await topo.waitServiceIPs('routed', 2);
    await topo.startSpeakers();
  }, { timeout: 180_000 });

  // a failed test must not leave a node down for the next one
  beforeEach(async () => { if (!netlabSkip) await heal(); }, { timeout: 120_000 });

  test('one MAC answers for each IP, it is the planned owner, and the SpeakerStatus objects name that node (IPv4, IPv6)', async (t) => {
    if (skip(t)) return;
    for (const ip of [WEB4, WEB6, WEB2_4, WEB2_6]) {
      const owner = await topo.waitOwner(ip, planned(ip));
      await until(`SpeakerStatus naming ${owner} alone for ${ip}`, async () => {
        const a = await topo.announcers(ip);
        return a.length === 1 && a[0] === owner ? true : undefined;
      }, 15_000, 200);
    }
    // and over a few seconds of continuous probing, still one MAC per IP
    const watches = [WEB4, WEB6].map((ip) => ({ ip, w: topo.watchNeighbor(ip) }));
    await sleep(3000);
    for (const { ip, w } of watches) {
      await w.stop();
      assert.ok(w.replies.length > 10, `replies for ${ip}: ${w.replies.length}`);
      assert.deepEqual([...w.macs()].map(macName), [planned(ip)], `who answered for ${ip}`);
    }
    // traffic reaches the owner
    assert.equal((await topo.httpGet('client', `http://${WEB4}:8080/`)).body, planned(WEB4));
    assert.equal((await topo.httpGet('client', `http://[${WEB6}]:8080/`)).body, planned(WEB6));
  });

  test('steady state writes nothing but Lease renewals (audit log over 5 s)', async (t) => {
    if (skip(t)) return;
    await sleep(2000); // past the status debounce of the last change
    const mark = topo.audit().length;
    await sleep(5000);
    const writes = topo.audit().slice(mark).filter((e) => e.user.startsWith('speaker:') && ['create', 'update', 'patch', 'delete'].includes(e.verb));
    const other = writes.filter((e) => e.resource !== 'leases');
    assert.deepEqual(other.map((e) => `${e.user} ${e.verb} ${e.resource}/${e.subresource} ${e.name}`), [], 'writes other than Lease renewals');
    const renewals = writes.filter((e) => e.resource === 'leases' && e.verb === 'update');
    t.diagnostic(`Lease writes in 5 s: ${renewals.length} (by ${[...new Set(renewals.map((e) => e.user))].sort().join(', ')})`);
    assert.ok(renewals.length >= 1, 'the speakers renew their Leases');
  });

  test('BGP: BIRD holds a route from every candidate node, with the configured communities, merged into an ECMP route (IPv4, IPv6)', async (t) => {
    if (skip(t)) return;
    for (const [ip, len, family] of [[ROUTED4, 32, 'ipv4'], [ROUTED6, 128, 'ipv6']] as const) {
      const prefix = `${ip}/${len}`;
      const want = topo.nodes.map((n) => (family === 'ipv4' ? n.ipv4 : n.ipv6)).sort();
      const routes = await until(() => `BIRD routes for ${prefix} from ${want.join(', ')}; logs:\n${topo.logs()}`, async () => {
        const rs = await topo.birdRoutes(prefix);
        return JSON.stringify(rs.map((r) => r.nextHop).sort()) === JSON.stringify(want) ? rs : undefined;
      }, 60_000, 250);
      for (const r of routes) {
        assert.deepEqual([...r.communities].sort(), ['64512:100', '64512:200'], `communities of the route via ${r.nextHop}`);
        assert.deepEqual(r.asPath, [64513]);
      }
      const kernel = topo.routerKernelRoute(prefix);
      for (const nh of want) assert.match(kernel, new RegExp(`nexthop via ${nh.replace(/\./g, '\\.')}\\b`), `ECMP route: ${kernel}`);
    }
    // no L2 address leaks into BGP and no BGP address is answered on the LAN
    assert.equal((await topo.birdRoutes(`${WEB4}/32`)).length, 0);
    assert.deepEqual(await topo.whoAnswers(ROUTED4), []);
    // the routed client reaches the Service through one of the nodes
    const body = (await topo.httpGet('wclient', `http://${ROUTED4}:8080/`)).body ?? '';
    assert.ok(NODES.includes(body), `answer through the router: ${body}`);
    const body6 = (await topo.httpGet('wclient', `http://[${ROUTED6}]:8080/`)).body ?? '';
    assert.ok(NODES.includes(body6), `answer through the router (IPv6): ${body6}`);
  });

  test('BFD: every node has a single-hop BFD session with the router, Up on both sides (BIRD, SpeakerStatus); a crashed node\'s BGP sessions are dropped by BFD, not by the 9 s hold timer (IPv4, IPv6)', async (t) => {
    if (skip(t)) return;
    const want = topo.nodes.flatMap((n) => [n.ipv4, n.ipv6]).sort();
    await until(() => `BIRD BFD sessions Up with ${want.join(', ')}: ${topo.logs().slice(-3000)}`, async () => {
      const m = await topo.birdBfdSessions();
      return want.every((a) => m.get(a) === 'Up') ? true : undefined;
    }, 60_000, 250);
    await until('every SpeakerStatus lists BFD Up, single hop, for both router sessions', async () => {
      const st = await topo.speakerStatuses();
      return st.length === NODES.length && st.every((x) => (x.status?.sessions ?? []).length === 2 && (x.status?.sessions ?? []).every((s) => s.bfd?.state === 'Up' && !s.bfd.multihop)) ? true : undefined;
    }, 30_000, 250);
    const victim = 'n3';
    const t0 = await topo.crash(victim);
    const gone = await until(`BIRD drops ${victim}'s sessions`, async () => {
      const s = await topo.birdSessions();
      return s.get(`${victim}v4`)?.startsWith('Established') !== true && s.get(`${victim}v6`)?.startsWith('Established') !== true ? Date.now() : undefined;
    }, 15_000, 20);
    report(t, `crash of ${victim} → BIRD dropped its BGP sessions`, gone - t0);
    for (const proto of [`${victim}v4`, `${victim}v6`]) {
      const info = await topo.birdc('show', 'protocols', 'all', proto);
      assert.match(info, /BFD session down/i, `${proto} was dropped by BFD: ${info}`);
    }
    const prefix = `${ROUTED4}/32`;
    const vAddr = topo.node(victim).ipv4;
    await until(`${victim}'s path for ${prefix} leaves BIRD`, async () => ((await topo.birdRoutes(prefix)).some((r) => r.nextHop === vAddr) ? undefined : true), 5_000, 20);
  });

  test('`baregate status -o json` tells the truth: each Service with its IPs, pool, mode and the nodes seen answering on the wire; BGP sessions per node', async (t) => {
    if (skip(t)) return;
    const owners = new Map<string, string>();
    for (const ip of [WEB4, WEB6, WEB2_4, WEB2_6]) owners.set(ip, await topo.waitOwner(ip, planned(ip)));
    // the sessions must have come up (the BGP test waits for the routes); the status debounce passes
    const report = await until('baregate status showing every BGP session Established', async () => {
      const r = await topo.baregateStatus(true);
      if (r.code !== 0) throw new Error(`baregate status exited ${r.code}: ${r.stderr}`);
      const rep = JSON.parse(r.stdout) as StatusReport;
      return rep.nodes.length === 3 && rep.nodes.every((n) => n.sessions.length === 2 && n.sessions.every((x) => x.state === 'Established')) ? rep : undefined;
    }, 30_000, 500);
    const svc = (name: string): ServiceReport => {
      const s = report.services.find((x) => x.name === `default/${name}`);
      assert.ok(s, `status lists default/${name}: ${JSON.stringify(report.services.map((x) => x.name))}`);
      return s;
    };
    for (const name of ['web', 'web2']) {
      const s = svc(name);
      assert.equal(s.pool, POOLS.l2.name);
      assert.equal(s.mode, 'L2');
      for (const a of s.announcements) {
        assert.equal(a.mode, 'L2', a.ip);
        assert.deepEqual(a.nodes, [owners.get(a.ip)], `announcing node of ${a.ip}: the one answering ARP/NDP`);
      }
      assert.deepEqual(s.announcements.map((a) => a.ip).sort(), name === 'web' ? [WEB4, WEB6].sort() : [WEB2_4, WEB2_6].sort());
    }
    const routed = svc('routed');
    assert.equal(routed.pool, POOLS.bgp.name);
    assert.equal(routed.mode, 'BGP');
    assert.deepEqual([...routed.nodes], NODES, 'every node announces the routed Service over BGP');
    assert.deepEqual([...routed.ips].sort(), [ROUTED4, ROUTED6].sort());
    for (const n of report.nodes) {
      assert.equal(n.stale, false, `${n.node} has a fresh Lease`);
      assert.deepEqual(n.sessions.map((x) => x.address).sort(), [LAN.router4, LAN.router6].sort(), `${n.node} sessions`);
    }
    // the table for people: one line per Service
    const table = await topo.baregateStatus(false);
    assert.equal(table.code, 0, table.stderr);
    for (const name of ['web', 'web2', 'routed']) assert.match(table.stdout, new RegExp(`default/${name}\\b`));
    t.diagnostic(`\n${table.stdout}`);
  });

  test('two Services sharing one IP are announced from one node', async (t) => {
    if (skip(t)) return;
    const ip = '192.0.2.205';
    await topo.service('dns-tcp', [ip], { sharing: 'dns', port: 53, protocol: 'TCP' });
    await topo.service('dns-udp', [ip], { sharing: 'dns', port: 53, protocol: 'UDP' });
    await topo.waitServiceIPs('dns-tcp', 1);
    await topo.waitServiceIPs('dns-udp', 1);
    const owner = await topo.waitOwner(ip, planned(ip));
    const st = await until('one SpeakerStatus announcement of the shared IP listing both Services', async () => {
      const all = (await topo.speakerStatuses()).flatMap((s) => (s.status?.announcements ?? []).filter((a) => a.ip === ip).map((a) => ({ node: s.status?.node ?? s.metadata.name, a })));
      return all.length === 1 && (all[0]?.a.services ?? []).length === 2 ? all : undefined;
    }, 15_000, 200);
    const only = st[0];
    assert.ok(only);
    assert.equal(only.node, owner);
    assert.deepEqual([...(only.a.services ?? [])].sort(), ['default/dns-tcp', 'default/dns-udp']);
    const w = topo.watchNeighbor(ip);
    await sleep(2000);
    await w.stop();
    assert.deepEqual([...w.macs()].map(macName), [owner]);
  });

  test('externalTrafficPolicy Local follows the EndpointSlices: only a node with a ready endpoint answers, none without', async (t) => {
    if (skip(t)) return;
    const ip = '192.0.2.210';
    await topo.service('local', [ip], { local: true });
    await topo.waitServiceIPs('local', 1);
    await sleep(1500);
    assert.deepEqual(await topo.whoAnswers(ip, { count: 3 }), [], 'no endpoint: nobody answers');
    // the endpoint on the node the rank puts LAST, so the answer is not the owner Cluster would have picked anyway
    const last = [...NODES].sort(compareForIP(ip)).at(-1)!;
    await topo.endpointSlice('local', [last]);
    await topo.waitOwner(ip, last);
    const next = NODES.find((n) => n !== last)!;
    await topo.endpointSlice('local', [next]);
    await topo.waitOwner(ip, next);
    assert.equal((await topo.httpGet('client', `http://${ip}:8080/`)).body, next);
    await topo.endpointSlice('local', []);
    await until(`nobody answering for ${ip} once no endpoint is ready`, async () => ((await topo.whoAnswers(ip)).length === 0 ? true : undefined), 15_000, 200);
  });

  test('a node labelled node.kubernetes.io/exclude-from-external-load-balancers never answers, and takes its IPs once the label goes', async (t) => {
    if (skip(t)) return;
    // addresses the rank gives to n1 when it may announce
    const mine = rangeAddresses('192.0.2.211-192.0.2.219').filter((ip) => planned(ip) === 'n1').slice(0, 2);
    assert.ok(mine.length > 0, 'some address ranked first for n1');
    await topo.labelNode('n1', EXCLUDE_FROM_LB_LABEL, 'true');
    try {
      for (const [i, ip] of mine.entries()) await topo.service(`excl${i}`, [ip]);
      const watches: { ip: string; w: NeighWatch }[] = [];
      for (const ip of mine) {
        await topo.waitOwner(ip, planned(ip, ['n2', 'n3']));
        watches.push({ ip, w: topo.watchNeighbor(ip) });
      }
      await sleep(3000);
      for (const { ip, w } of watches) {
        await w.stop();
        assert.deepEqual([...w.macs()].map(macName), [planned(ip, ['n2', 'n3'])], `answers for ${ip} while n1 is excluded`);
      }
      const n1 = (await topo.speakerStatuses()).find((s) => s.metadata.name === 'n1');
      assert.deepEqual((n1?.status?.announcements ?? []).filter((a) => mine.includes(a.ip)), []);
    } finally {
      await topo.labelNode('n1', EXCLUDE_FROM_LB_LABEL, null);
    }
    for (const ip of mine) await topo.waitOwner(ip, 'n1');
  });

  test('SIGTERM of the owner hands over (IPv4, IPv6): no HTTP request fails, not even one in flight at the client\'s MAC flip (connection hand-off); the gap to the new owner\'s first reply is reported', async (t) => {
    if (skip(t)) return;
    const owner = await topo.waitOwner(WEB4, planned(WEB4));
    const owner6 = await topo.waitOwner(WEB6, planned(WEB6));
    const next4 = planned(WEB4, NODES.filter((n) => n !== owner));
    const next6 = owner6 === owner ? planned(WEB6, NODES.filter((n) => n !== owner)) : owner6;
    const loop4 = topo.httpLoop(`http://${WEB4}:8080/`, { intervalMs: 20, timeoutMs: 500 });
    const loop6 = topo.httpLoop(`http://[${WEB6}]:8080/`, { intervalMs: 20, timeoutMs: 500 });
    const watch4 = topo.watchNeighbor(WEB4);
    const watch6 = topo.watchNeighbor(WEB6);
    await until('the loops to get answers', () => (loop4.results.some((r) => r.ok) && loop6.results.some((r) => r.ok) ? true : undefined), 10_000);
    await sleep(500);
    const t0 = Date.now();
    const how = await topo.stopSpeaker(owner, 'SIGTERM');
    assert.equal(how, 'code 0', `the speaker exits 0 on SIGTERM: ${topo.speakers.get(owner)?.log.slice(-2000)}`);
    const first4 = await until(`a reply from ${next4} after the SIGTERM`, () => watch4.first(t0, topo.node(next4).mac), 15_000);
    const first6 = await until(`a reply for ${WEB6} from ${next6}`, () => watch6.first(owner6 === owner ? t0 : 0, topo.node(next6).mac), 15_000);
    await until('traffic to reach the new owner', () => (loop4.results.some((r) => r.t > t0 && r.body === next4) ? true : undefined), 15_000);
    await sleep(1000);
    await watch4.stop();
    await watch6.stop();
    const r4 = await loop4.stop();
    const r6 = await loop6.stop();
    report(t, `SIGTERM → new owner's first ARP reply (${owner} → ${next4})`, first4.t - t0);
    // A TCP connection open while the client's neighbour entry moves to the new owner (its gratuitous ARP/NA)
    // continues at a node that never saw it; the new owner's hand-off rules pass it on to the old owner's node,
    // which still serves it (only its speaker stopped). So no request fails: not before, during or after.
    const flip4 = first4.t;
    const flip6 = owner6 === owner ? first6.t : undefined;
    const atFlip = (r: { t: number; ms: number }, flip: number | undefined): boolean => flip !== undefined && r.t - 30 <= flip && r.t + r.ms + 30 >= flip;
    const failed = [...r4.filter((r) => !r.ok), ...r6.filter((r) => !r.ok)];
    const inFlight4 = r4.filter((r) => atFlip(r, flip4)).length + r6.filter((r) => atFlip(r, flip6)).length;
    t.diagnostic(`requests: ${r4.length + r6.length}; in flight at a MAC flip: ${inFlight4}; failed: ${failed.length}`);
    process.stderr.write(`[measure] graceful handover: ${failed.length} of ${r4.length + r6.length} requests failed (${inFlight4} were in flight at a MAC flip)\n`);
    assert.deepEqual(failed, [], `no request fails (SIGTERM at ${t0}, flips at ${flip4} / ${String(flip6)}); new owner's log:\n${topo.speakers.get(next4)?.log.split('\n').filter((l) => l.includes('handoff')).join('\n') ?? ''}`);
    // after the handover exactly one MAC answers: the new owner's (the stopped one keeps quiet)
    assert.deepEqual([...watch4.macs(first4.t + 200)].map(macName), [next4]);
    await heal();
    await topo.waitOwner(WEB4, owner);
  });

  test('owner crash (cable cut + SIGKILL) is taken over; the time from crash to the new owner\'s first reply is reported (IPv4, IPv6)', async (t) => {
    if (skip(t)) return;
    const owner = await topo.waitOwner(WEB4, planned(WEB4));
    const others = NODES.filter((n) => n !== owner);
    const w4 = topo.watchNeighbor(WEB4);
    const owner6 = await topo.waitOwner(WEB6, planned(WEB6));
    const w6 = topo.watchNeighbor(WEB6);
    await sleep(300);
    const t0 = await topo.crash(owner);
    const by4 = planned(WEB4, others);
    const first4 = await until(() => `a reply for ${WEB4} from ${by4} after the crash of ${owner}; logs:\n${topo.logs()}`, () => w4.first(t0, topo.node(by4).mac), 20_000, 10);
    report(t, `crash of ${owner} → first ARP reply from ${by4}`, first4.t - t0);
    if (owner6 === owner) {
      const by6 = planned(WEB6, others);
      const first6 = await until(`a reply for ${WEB6} from ${by6}`, () => w6.first(t0, topo.node(by6).mac), 20_000, 10);
      report(t, `crash of ${owner} → first NA from ${by6}`, first6.t - t0);
    }
    await sleep(1000);
    await w4.stop();
    await w6.stop();
    assert.deepEqual([...w4.macs(first4.t)].map(macName), [by4], 'only the new owner answers after the takeover');
    await until(`SpeakerStatus naming ${by4} for ${WEB4}`, async () => ((await topo.announcers(WEB4)).includes(by4) ? true : undefined), 15_000, 200);
    await heal();
    await topo.waitOwner(WEB4, owner);
  });

  test('heartbeat path partitioned (nft drop of UDP 7947 between the nodes) while the LAN works: never replies from two MACs (IPv4, IPv6)', async (t) => {
    if (skip(t)) return;
    const ips = [WEB4, WEB6, WEB2_4, WEB2_6];
    for (const ip of ips) await topo.waitOwner(ip, planned(ip));
    const watches = ips.map((ip) => ({ ip, w: topo.watchNeighbor(ip) }));
    await sleep(500);
    topo.partitionHeartbeats(true);
    try {
      await sleep(6000);
    } finally {
      topo.partitionHeartbeats(false);
    }
    await sleep(2000);
    for (const { ip, w } of watches) {
      await w.stop();
      assert.ok(w.replies.length > 20, `replies for ${ip}: ${w.replies.length}`);
      // two MACs at any time would show as two MACs in the window; a clean move would too, and must not happen either
      assert.deepEqual([...w.macs()].map(macName), [planned(ip)], `who answered for ${ip} across the partition`);
    }
  });

  test('apiserver unreachable (every relay killed), then an owner crash: taken over through direct detection', async (t) => {
    if (skip(t)) return;
    const owner = await topo.waitOwner(WEB4, planned(WEB4));
    const by = planned(WEB4, NODES.filter((n) => n !== owner));
    await topo.stopRelays();
    try {
      await sleep(2000); // the speakers notice the apiserver is gone; they keep announcing
      assert.deepEqual(await topo.whoAnswers(WEB4), [topo.node(owner).mac], 'still announced with the apiserver unreachable');
      const w = topo.watchNeighbor(WEB4);
      const t0 = await topo.crash(owner);
      const first = await until(() => `a reply from ${by} with the apiserver unreachable; logs:\n${topo.logs()}`, () => w.first(t0, topo.node(by).mac), 20_000, 10);
      report(t, `apiserver unreachable, crash of ${owner} → first reply from ${by}`, first.t - t0);
      await sleep(1000);
      await w.stop();
      assert.deepEqual([...w.macs(first.t)].map(macName), [by]);
    } finally {
      await topo.startRelays();
    }
    await heal();
    await topo.waitOwner(WEB4, owner);
  });

  test('the owner\'s interface loses carrier: it gives the IP up and another node takes it; with the carrier back it answers again, alone', async (t) => {
    if (skip(t)) return;
    const owner = await topo.waitOwner(WEB2_4, planned(WEB2_4));
    const by = planned(WEB2_4, NODES.filter((n) => n !== owner));
    const w = topo.watchNeighbor(WEB2_4);
    const t0 = Date.now();
    topo.cable(owner, false);
    try {
      const first = await until(() => `a reply from ${by}; logs:\n${topo.logs()}`, () => w.first(t0, topo.node(by).mac), 20_000, 10);
      report(t, `carrier loss on ${owner} → first reply from ${by}`, first.t - t0);
      // the owner's own status says it gave the IP up (its speaker still runs and reaches the apiserver)
      await until(`${owner} to drop ${WEB2_4} from its SpeakerStatus`, async () => {
        const a = await topo.announcers(WEB2_4);
        return !a.includes(owner) && a.includes(by) ? true : undefined;
      }, 15_000, 200);
      assert.ok(topo.speakerRunning(owner), 'the speaker keeps running');
    } finally {
      await w.stop();
      topo.cable(owner, true);
    }
    // carrier back: the owner (first in rank) answers again by itself, and only it
    await topo.waitOwner(WEB2_4, owner).catch((e: unknown) => { throw new Error(`${String(e)}\n${topo.logs()}`); });
    const back = topo.watchNeighbor(WEB2_4);
    await sleep(2000);
    await back.stop();
    assert.deepEqual([...back.macs()].map(macName), [owner], 'one MAC once the carrier is back');
  });

  test('all nodes still agree at the end: one planned owner per IP', async (t) => {
    if (skip(t)) return;
    for (const ip of [WEB4, WEB6, WEB2_4, WEB2_6]) await topo.waitOwner(ip, planned(ip));
  });
});
