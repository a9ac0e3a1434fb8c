/**
 * End to end, BGP mode (issue 10), on the whole lab: every node's speaker peers (eBGP, v4 and v6) with the
 * BIRD router, which merges the nodes' paths into an ECMP route in its kernel table; the routed client
 * (`wclient`, behind the router) reaches a dual-stack Service from the `routed` pool through whichever node
 * the router's hash picks, that node's kube-proxy and a pod. Then a node crashes (its path must leave the
 * router when BFD declares the node down, traffic continuing over the others) and a speaker stops gracefully
 * (65535:0 at the router before the withdrawal, no request lost).
 *
 * The router hashes flows by L4 (fib_multipath_hash_policy=1, set here in its namespace): with the kernel's
 * default L3 hash one client would always take one path. Which node a connection entered is counted with
 * nftables SYN counters in every node (traffic.ts). Durations are printed, never asserted.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { LabCluster } from '../../tools/lab/api.ts';
import { until } from '../netlab/topology.ts';
import {
  answer, describeFailures, e2eSkip, healAll, hostPrefix, ingressCounters, nextHops, nodeAddr, report, resumed,
  routerL4Hash, serviceIPs, skipped, sleep, startE2eLab, summarise, url, waitNextHops,
} from './traffic.ts';

const NODES = ['n1', 'n2', 'n3'];
const GSHUT = '65535:0';
let lab: LabCluster;
let V4 = '';
let V6 = '';

before(async () => {
  if (e2eSkip) return;
  lab = await startE2eLab('e2b');
  routerL4Hash(lab);
  await lab.applyBaseConfig({ l2: false, bgp: true });
  await lab.deployApp('web', NODES);
  await lab.lbService('web', { pool: 'routed' });
  const ips = await serviceIPs(lab, 'web');
  V4 = ips.v4!;
  V6 = ips.v6!;
  process.stderr.write(`[e2e bgp] Service web: ${V4}, ${V6}\n`);
}, { timeout: 300_000 });

after(async () => {
  await lab?.destroy(); // eslint-disable-line @typescript-eslint/no-unnecessary-condition -- undefined when skipped or when start failed
});

const all = (ip: string, nodes: readonly string[] = NODES): string[] => nodes.map((n) => nodeAddr(lab, n, ip)).sort();
const esc = (s: string): string => s.replace(/[.]/g, '\\.');

describe('BGP', { timeout: 1_200_000 }, () => {
  beforeEach(async () => {
    if (e2eSkip) return;
    await healAll(lab);
    for (const ip of [V4, V6]) await waitNextHops(lab, hostPrefix(ip), all(ip), 60_000);
  }, { timeout: 120_000 });

  test('the router holds a multipath route with every node as next hop, in BIRD and in its kernel table (IPv4, IPv6); SpeakerStatus names every node', async (t) => {
    if (skipped(t)) return;
    for (const ip of [V4, V6]) {
      const prefix = hostPrefix(ip);
      const hops = await waitNextHops(lab, prefix, all(ip));
      const kernel = lab.routerKernelRoute(prefix);
      t.diagnostic(`${prefix}: ${kernel.trim().replace(/\s+/g, ' ')}`);
      for (const nh of hops) assert.match(kernel, new RegExp(`nexthop via ${esc(nh)}\\b`), `ECMP route for ${prefix} via ${nh}: ${kernel}`);
      for (const r of await lab.birdRoutes(prefix)) assert.deepEqual(r.asPath, [64513], `AS path via ${r.nextHop}`);
      await until(`SpeakerStatus of every node announcing ${ip} over BGP`, async () => (JSON.stringify(await lab.announcers(ip, 'BGP')) === JSON.stringify(NODES) ? true : undefined), 15_000, 200);
    }
  });

  test('many connections from the routed client reach more than one node (IPv4, IPv6), every one answered by a pod', async (t) => {
    if (skipped(t)) return;
    const counters = ingressCounters(lab, [V4, V6]);
    try {
      for (const ip of [V4, V6]) {
        const c0 = counters.read(ip);
        const loop = lab.httpLoop(url(ip), { from: 'wclient', intervalMs: 15, timeoutMs: 1000 });
        await until(`60 answers from ${ip}`, () => (loop.results.length >= 60 ? true : undefined), 30_000);
        const rs = await loop.stop();
        assert.deepEqual(rs.filter((r) => !r.ok || answer(r.body) === undefined), [], `every request to ${ip} answered by a pod`);
        const c1 = counters.read(ip);
        const per = NODES.map((n) => `${n}: ${(c1.get(n) ?? 0) - (c0.get(n) ?? 0)}`).join(', ');
        report(t, `${rs.length} connections to ${ip} from wclient entered at ${per}`);
        const used = counters.grewSince(ip, c0);
        assert.ok(used.length >= 2, `connections entered at more than one node: ${per}`);
      }
    } finally {
      counters.remove();
    }
  });

  test('node crash (link cut + SIGKILL, evictNode): its path leaves the router once BFD (300 ms × 3) declares it down, and traffic continues over the other nodes (IPv4, IPv6)', async (t) => {
    if (skipped(t)) return;
    const victim = 'n3';
    const others = NODES.filter((n) => n !== victim);
    const alive = new Set([...lab.pods.values()].filter((p) => p.node !== victim).map((p) => p.name));
    const loops = [V4, V6].map((ip) => ({ ip, loop: lab.httpLoop(url(ip), { from: 'wclient', intervalMs: 20, timeoutMs: 500 }) }));
    try {
      await until('the loops to get answers', () => (loops.every((l) => l.loop.results.some((r) => r.ok)) ? true : undefined), 15_000);
      await sleep(300);
      const t0 = await lab.crash(victim);
      await lab.evictNode(victim);
      const gone = new Map<string, number>();
      await until(() => `the router to drop ${victim}'s paths (now: ${[...gone.keys()].join(', ')})`, async () => {
        for (const ip of [V4, V6]) {
          if (gone.has(ip)) continue;
          if (!(await nextHops(lab, hostPrefix(ip))).includes(nodeAddr(lab, victim, ip))) gone.set(ip, Date.now());
        }
        return gone.size === 2 ? true : undefined;
      }, 60_000, 100);
      for (const ip of [V4, V6]) {
        const prefix = hostPrefix(ip);
        report(t, `crash of ${victim} → its path for ${prefix} gone at the router: ${gone.get(ip)! - t0} ms`);
        assert.deepEqual(await nextHops(lab, prefix), all(ip, others), `the other nodes' paths stay for ${prefix}`);
        assert.doesNotMatch(lab.routerKernelRoute(prefix), new RegExp(`via ${esc(nodeAddr(lab, victim, ip))}\\b`), `kernel route for ${prefix} without ${victim}`);
      }
      const tGone = Math.max(...gone.values());
      for (const { ip, loop } of loops) await resumed(loop, tGone, 25, `${victim}'s path left the router (${ip})`, (a) => alive.has(a.pod));
      const mark = Date.now();
      await sleep(1500);
      for (const { ip, loop } of loops) {
        const rs = await loop.stop();
        const s = summarise(rs, t0);
        report(t, `crash of ${victim}, ${ip}: ${s.failed.length} of ${s.total} requests failed, traffic whole again ${s.gapMs ?? 'n/a'} ms after the crash`);
        const later = rs.filter((r) => r.t >= mark);
        assert.ok(later.length > 20, `requests after the path left: ${later.length}`);
        assert.deepEqual(later.filter((r) => !r.ok || !alive.has(answer(r.body)?.pod ?? '')).map((r) => r.err ?? r.body ?? ''), [], `requests to ${ip} once ${victim}'s path is gone`);
      }
      assert.equal((await lab.birdSessions()).get(`${victim}v4`)?.includes('Established'), false, `BIRD's session with ${victim} is down`);
    } finally {
      for (const { loop } of loops) await loop.stop();
    }
  });

  test(`graceful stop (SIGTERM of a speaker): the router sees ${GSHUT} on the node's routes before it withdraws them, and no request of the running loops fails (IPv4, IPv6)`, async (t) => {
    if (skipped(t)) return;
    const victim = 'n2';
    for (const ip of [V4, V6]) {
      const r = (await lab.birdRoutes(hostPrefix(ip))).find((x) => x.nextHop === nodeAddr(lab, victim, ip));
      assert.ok(r && !r.communities.includes(GSHUT), `no ${GSHUT} on ${victim}'s route for ${ip} before the stop`);
    }
    const loops = [V4, V6].map((ip) => ({ ip, loop: lab.httpLoop(url(ip), { from: 'wclient', intervalMs: 20, timeoutMs: 1000 }) }));
    try {
      await until('the loops to get answers', () => (loops.every((l) => l.loop.results.some((r) => r.ok)) ? true : undefined), 15_000);
      await sleep(500);
      const t0 = Date.now();
      const stopped = lab.stopSpeaker(victim, 'SIGTERM');
      const seen = new Map<string, number>();
      const gone = new Map<string, number>();
      await until(() => `${GSHUT} then the withdrawal of ${victim}'s routes (GSHUT seen: ${[...seen.keys()].join(', ') || 'none'}; gone: ${[...gone.keys()].join(', ') || 'none'})`, async () => {
        for (const ip of [V4, V6]) {
          if (gone.has(ip)) continue;
          const r = (await lab.birdRoutes(hostPrefix(ip))).find((x) => x.nextHop === nodeAddr(lab, victim, ip));
          if (r === undefined) {
            if (!seen.has(ip)) throw new Error(`${victim}'s route for ${ip} was withdrawn before ${GSHUT} was seen on it`);
            gone.set(ip, Date.now());
          } else if (r.communities.includes(GSHUT) && !seen.has(ip)) {
            seen.set(ip, Date.now());
          }
        }
        return gone.size === 2 ? true : undefined;
      }, 30_000, 50).catch((e: unknown) => { throw e instanceof Error && e.message.includes('withdrawn before') ? e : new Error(`${String(e)}\n${lab.logs()}`); });
      assert.equal(await stopped, 'code 0', `the speaker exits 0 on SIGTERM: ${lab.speakers.get(victim)?.log.slice(-2000)}`);
      for (const ip of [V4, V6]) report(t, `SIGTERM of ${victim} → ${GSHUT} at the router for ${ip}: ${seen.get(ip)! - t0} ms, withdrawn: ${gone.get(ip)! - t0} ms`);
      for (const ip of [V4, V6]) assert.deepEqual(await nextHops(lab, hostPrefix(ip)), all(ip, NODES.filter((n) => n !== victim)), `the other nodes' paths stay for ${ip}`);
      await sleep(1000);
      const failures: string[] = [];
      for (const { ip, loop } of loops) {
        const rs = await loop.stop();
        const failed = rs.filter((r) => !r.ok);
        report(t, `graceful stop of ${victim}, ${ip}: ${failed.length} of ${rs.length} requests failed${failed.length ? ` (${describeFailures(failed, t0)})` : ''}`);
        if (failed.length) failures.push(`${ip}: ${describeFailures(failed, t0)}`);
      }
      assert.deepEqual(failures, [], 'no request fails across a graceful stop');
    } finally {
      for (const { loop } of loops) await loop.stop();
    }
  });
});
