/**
 * End to end, what Service settings change (issue 10), on the whole lab with L2 and BGP both configured:
 * `externalTrafficPolicy: Local` (only nodes with a ready pod announce, and the L2 owner and the BGP next
 * hops follow the pods), the `node.kubernetes.io/exclude-from-external-load-balancers` label, two Services
 * sharing one IP (TCP and UDP on one port), `allocateLoadBalancerNodePorts: false` (no NodePort, none in
 * kube-proxy's nftables ruleset), and restarts of the baregate controller and of kube-apiserver while
 * traffic flows (no address changes, no failed request).
 *
 * Everything about who announces is checked on the wire (ARP/NDP from the LAN client, BIRD's routes), not
 * only in SpeakerStatus. Durations are printed, never asserted.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test, type TestContext } from 'node:test';
import type { LabCluster } from '../../tools/lab/api.ts';
import { EXCLUDE_FROM_LB_LABEL } from '../../src/api/keys.ts';
import { compareForIP } from '../../src/speaker/rank.ts';
import { POOLS, rangeAddresses, until } from '../netlab/topology.ts';
import {
  answer, describeFailures, e2eSkip, healAll, hostPrefix, ingressCounters, nextHops, nodeAddr, planned, report,
  serviceIPs, skipped, sleep, startE2eLab, udpProbe, url, waitNextHops,
} from './traffic.ts';

const NODES = ['n1', 'n2', 'n3'];
let lab: LabCluster;

const macName = (mac: string): string => lab.nodeByMac(mac)?.name ?? mac;
const addrs = (ip: string, nodes: readonly string[]): string[] => nodes.map((n) => nodeAddr(lab, n, ip)).sort();

before(async () => {
  if (e2eSkip) return;
  lab = await startE2eLab('e2p');
  await lab.applyBaseConfig({ l2: true, bgp: true });
  await lab.deployApp('web', NODES);
}, { timeout: 300_000 });

after(async () => {
  await lab?.destroy(); // eslint-disable-line @typescript-eslint/no-unnecessary-condition -- undefined when skipped or when start failed
});

/** Every IP some Service holds now. */
async function usedIPs(): Promise<Set<string>> {
  const r = await lab.kubectl(['get', 'services', '-A', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const items = (JSON.parse(r.stdout) as { items: { status?: { loadBalancer?: { ingress?: { ip?: string }[] } } }[] }).items;
  return new Set(items.flatMap((s) => (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '')));
}

/** A free L2 pool IPv4 address the rank gives to `node` first among all nodes (or any free one when `node` is omitted). */
async function freeL2IP(node?: string): Promise<string> {
  const used = await usedIPs();
  const ip = rangeAddresses(POOLS.l2.addresses[0]).reverse().find((a) => !used.has(a) && (node === undefined || planned(a, NODES) === node));
  assert.ok(ip, `a free address in ${POOLS.l2.addresses[0]}${node ? ` ranked first for ${node}` : ''}`);
  return ip;
}

/** Waits until nobody answers ARP/NDP for `ip`. */
function waitNobody(ip: string, ms = 20_000): Promise<true> {
  return until(`nobody answering for ${ip}`, async () => ((await lab.whoAnswers(ip)).length === 0 ? true : undefined), ms, 200);
}

/** The Services' ingress IPs by name (namespace default). */
async function allServiceIPs(): Promise<Record<string, string[]>> {
  const r = await lab.kubectl(['get', 'services', '-n', 'default', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const items = (JSON.parse(r.stdout) as { items: { metadata: { name: string }; status?: { loadBalancer?: { ingress?: { ip?: string }[] } } }[] }).items;
  return Object.fromEntries(items.map((s) => [s.metadata.name, (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '').sort()]));
}

describe('Service settings', { timeout: 1_200_000 }, () => {
  beforeEach(async () => { if (!e2eSkip) await healAll(lab); }, { timeout: 120_000 });

  test('externalTrafficPolicy Local (L2 and BGP): only nodes with a ready pod announce, and the L2 owner and the BGP next hops follow the pods (deployApp, setPodReady, deletePod)', async (t) => {
    if (skipped(t)) return;
    await lab.lbService('loc', { local: true, families: ['IPv4'] });
    await lab.lbService('locb', { local: true, families: ['IPv4'], pool: POOLS.bgp.name, selector: 'loc' });
    const ip = (await serviceIPs(lab, 'loc', 1)).v4!;
    const ipb = (await serviceIPs(lab, 'locb', 1)).v4!;
    const prefix = hostPrefix(ipb);
    const step = async (what: string, nodes: string[]): Promise<void> => {
      const t0 = Date.now();
      if (nodes.length === 0) {
        await waitNobody(ip);
        await waitNextHops(lab, prefix, []);
      } else {
        const owner = planned(ip, nodes);
        await lab.waitOwner(ip, owner, 30_000);
        await waitNextHops(lab, prefix, addrs(ipb, nodes), 30_000);
        // traffic enters at the owner and stays there: the pod that answers is on it
        // kube-proxy may program the node's local endpoint a moment after the speaker announces: retried, bounded
        const a = await until(`${what}: an L2 answer from ${ip}`, async () => answer((await lab.httpGet('client', url(ip))).body), 20_000, 200);
        assert.equal(a.node, owner, `${what}: the L2 answer comes from a pod on ${owner}`);
        const b = await until(`${what}: a BGP answer from ${ipb}`, async () => answer((await lab.httpGet('wclient', url(ipb))).body), 20_000, 200);
        assert.ok(nodes.includes(b.node), `${what}: the BGP answer comes from a pod on one of ${nodes.join(', ')}: ${JSON.stringify(b)}`);
      }
      report(t, `Local, ${what}: announcements followed in ${Date.now() - t0} ms (L2 owner ${nodes.length ? planned(ip, nodes) : 'none'}, BGP next hops ${nodes.join(', ') || 'none'})`);
      const want = nodes.length ? [planned(ip, nodes)] : [];
      let seen: string[] = [];
      await until(() => `${what}: SpeakerStatus L2 announcers [${want.join(', ')}] (seen [${seen.join(', ')}])`, async () => {
        seen = await lab.announcers(ip);
        return JSON.stringify(seen) === JSON.stringify(want) ? true : undefined;
      }, 15_000, 200);
    };

    await sleep(1500);
    assert.deepEqual(await lab.whoAnswers(ip, { count: 3 }), [], 'no pod: nobody answers');
    assert.deepEqual(await nextHops(lab, prefix), [], 'no pod: no route');
    // the first pod on the node the rank puts last, so the owner is not the one Cluster would pick anyway
    const ranked = [...NODES].sort(compareForIP(ip));
    const [firstNode, secondNode] = [ranked[2]!, ranked[0]!];
    const [p1] = await lab.deployApp('loc', [firstNode]);
    await step(`one pod on ${firstNode}`, [firstNode]);
    const [p2] = await lab.deployApp('loc', [secondNode]);
    await step(`pods on ${firstNode} and ${secondNode}`, [firstNode, secondNode]);
    await lab.setPodReady(p2!.name, false);
    await step(`the pod on ${secondNode} not ready`, [firstNode]);
    await lab.deletePod(p1!.name);
    await step(`the pod on ${firstNode} deleted`, []);
    await lab.setPodReady(p2!.name, true);
    await step(`the pod on ${secondNode} ready again`, [secondNode]);
  });

  test('a node labelled node.kubernetes.io/exclude-from-external-load-balancers never announces (L2 and BGP), and announces again once the label is gone', async (t) => {
    if (skipped(t)) return;
    const ip = await freeL2IP('n1');
    const rest = ['n2', 'n3'];
    await lab.labelNode('n1', EXCLUDE_FROM_LB_LABEL, 'true');
    try {
      await lab.lbService('excl', { ips: [ip], selector: 'web' });
      await lab.lbService('exclb', { families: ['IPv4'], pool: POOLS.bgp.name, selector: 'web' });
      await lab.waitServiceIPs('excl', 1, 30_000);
      const ipb = (await serviceIPs(lab, 'exclb', 1)).v4!;
      await lab.waitOwner(ip, planned(ip, rest), 30_000);
      await waitNextHops(lab, hostPrefix(ipb), addrs(ipb, rest), 30_000);
      const w = lab.watchNeighbor(ip);
      const hops: string[][] = [];
      for (let i = 0; i < 6; i++) { hops.push(await nextHops(lab, hostPrefix(ipb))); await sleep(500); }
      await w.stop();
      assert.ok(w.replies.length > 10, `replies: ${w.replies.length}`);
      assert.deepEqual([...w.macs()].map(macName), [planned(ip, rest)], `who answered for ${ip} while n1 is excluded`);
      for (const h of hops) assert.deepEqual(h, addrs(ipb, rest), 'BGP next hops while n1 is excluded');
      const n1 = (await lab.speakerStatuses()).find((s) => s.metadata.name === 'n1');
      assert.deepEqual((n1?.status?.announcements ?? []).filter((a) => a.ip === ip || a.ip === ipb), [], 'n1 announces neither');
      const body = answer((await lab.httpGet('client', url(ip))).body);
      assert.ok(body, `the excluded node's pods still serve through the others: ${JSON.stringify(body)}`);
    } finally {
      await lab.labelNode('n1', EXCLUDE_FROM_LB_LABEL, null);
    }
    const t0 = Date.now();
    await lab.waitOwner(ip, 'n1', 30_000);
    const ipb = (await serviceIPs(lab, 'exclb', 1)).v4!;
    await waitNextHops(lab, hostPrefix(ipb), addrs(ipb, NODES), 30_000);
    report(t, `label removed → n1 announces again in ${Date.now() - t0} ms`);
  });

  test('two Services sharing one IP (TCP and UDP on port 53) are served by the same node', async (t) => {
    if (skipped(t)) return;
    const ip = await freeL2IP();
    await lab.lbService('dns-tcp', { ips: [ip], sharing: 'dns', port: 53, protocol: 'TCP', selector: 'web' });
    await lab.lbService('dns-udp', { ips: [ip], sharing: 'dns', port: 53, protocol: 'UDP', selector: 'web' });
    assert.deepEqual(await lab.waitServiceIPs('dns-tcp', 1, 30_000), [ip]);
    assert.deepEqual(await lab.waitServiceIPs('dns-udp', 1, 30_000), [ip]);
    const owner = await lab.waitOwner(ip, undefined, 30_000);
    const st = await until('one SpeakerStatus announcement of the shared IP listing both Services', async () => {
      const found = (await lab.speakerStatuses()).flatMap((s) => (s.status?.announcements ?? []).filter((a) => a.ip === ip).map((a) => ({ node: s.status?.node ?? s.metadata.name, a })));
      return found.length === 1 && (found[0]?.a.services ?? []).length === 2 ? found : undefined;
    }, 20_000, 200);
    assert.equal(st[0]!.node, owner, 'the node SpeakerStatus names is the one answering ARP');
    assert.deepEqual([...(st[0]!.a.services ?? [])].sort(), ['default/dns-tcp', 'default/dns-udp']);
    const counters = ingressCounters(lab, [ip]);
    try {
      const c0 = counters.read(ip);
      const tcp = await until(`a TCP answer from ${ip}:53`, async () => answer((await lab.httpGet('client', url(ip, 53))).body), 20_000, 200);
      const udp = await until(`a UDP answer from ${ip}:53`, async () => answer((await udpProbe(lab, 'client', ip, 53)).body), 20_000, 200);
      t.diagnostic(`owner ${owner}; TCP answered by ${tcp.pod}, UDP by ${udp.pod}`);
      assert.deepEqual(counters.grewSince(ip, c0), [owner], 'the TCP connection entered at the owner');
    } finally {
      counters.remove();
    }
    const w = lab.watchNeighbor(ip);
    await sleep(2000);
    await w.stop();
    assert.deepEqual([...w.macs()].map(macName), [owner], `one MAC for the shared ${ip}`);
  });

  test('allocateLoadBalancerNodePorts false: reachable at its IP, no NodePort given, and no nodeport entry for it in kube-proxy\'s nftables ruleset on any node', async (t) => {
    if (skipped(t)) return;
    await lab.lbService('nonp', { allocateNodePorts: false, families: ['IPv4'], selector: 'web' });
    await lab.lbService('withnp', { families: ['IPv4'], selector: 'web' }); // the control: same, with NodePorts
    const ip = (await serviceIPs(lab, 'nonp', 1)).v4!;
    const ipc = (await serviceIPs(lab, 'withnp', 1)).v4!;
    assert.deepEqual(await lab.nodePorts('nonp'), []);
    const [np] = await lab.nodePorts('withnp');
    assert.ok(np !== undefined && np > 0, 'the control Service has a NodePort');
    const a = await until(`an answer from ${ip}`, async () => answer((await lab.httpGet('client', url(ip))).body), 30_000, 200);
    assert.ok(lab.pods.get(a.pod), `answered by a lab pod: ${a.pod}`);
    assert.ok(answer((await lab.httpGet('client', url(ipc))).body), 'the control Service answers');
    for (const n of NODES) {
      // kube-proxy (nftables mode) names its chains …-<namespace>/<service>/<protocol>/<port name>; NodePorts sit in the service-nodeports map
      const rules = await until(`${n}'s kube-proxy ruleset to hold both Services' IPs`, () => {
        const r = lab.lab.exec(n, 'nft', ['list', 'ruleset']);
        return r.includes(ip) && r.includes(ipc) && r.includes(`. ${np} :`) ? r : undefined;
      }, 30_000, 250);
      const maps = [...rules.matchAll(/map service-nodeports \{[\s\S]*?\n\t\}/g)].map((m) => m[0]);
      assert.ok(maps.length > 0, `${n}: kube-proxy's service-nodeports map`);
      const entries = maps.join('\n');
      assert.match(entries, new RegExp(`\\b${np}\\b[^,}]*default/withnp/`), `${n}: the control Service's NodePort ${np} is in the map`);
      assert.doesNotMatch(entries, /default\/nonp\//, `${n}: no nodeport entry for nonp`);
      const nonpLines = rules.split('\n').filter((l) => l.includes('default/nonp/'));
      t.diagnostic(`${n}: ${nonpLines.length} ruleset lines mention default/nonp/, none in service-nodeports`);
      assert.ok(nonpLines.length > 0, `${n}: kube-proxy programmed nonp at all`);
    }
  });

  test('controller restart during traffic (L2 from the LAN client, BGP from the routed client, IPv4 and IPv6): no address changes, no failed request', async (t) => {
    if (skipped(t)) return;
    await restartDuringTraffic(t, 'controller', () => lab.restartController());
  });

  test('kube-apiserver restart (down 5 s) during traffic (L2 and BGP, IPv4 and IPv6): no address changes, no failed request, speakers keep running', async (t) => {
    if (skipped(t)) return;
    await restartDuringTraffic(t, 'apiserver', () => lab.restartApiserver({ downMs: 5000 }));
  });
});

/** Runs L2 and BGP loops (v4, v6) across `restart`, then checks addresses, owners, routes and requests. */
async function restartDuringTraffic(t: TestContext, what: string, restart: () => Promise<void>): Promise<void> {
  // create or update (the second restart test finds them from the first)
  await lab.lbService('rl2', { selector: 'web' });
  await lab.lbService('rbgp', { pool: POOLS.bgp.name, selector: 'web' });
  const l2 = await serviceIPs(lab, 'rl2');
  const bgp = await serviceIPs(lab, 'rbgp');
  const owners = new Map<string, string>();
  for (const ip of l2.all) owners.set(ip, await lab.waitOwner(ip, planned(ip, NODES), 30_000));
  for (const ip of bgp.all) await waitNextHops(lab, hostPrefix(ip), addrs(ip, NODES), 60_000);
  const before = await allServiceIPs();
  /** When BIRD last changed each path (a withdraw + re-announce would show as a new time). */
  const since = async (): Promise<Map<string, number>> => new Map((await Promise.all(bgp.all.map((ip) => lab.birdRoutes(hostPrefix(ip)))))
    .flat().map((r) => [`${r.prefix} via ${r.nextHop}`, Date.parse((r.since ?? '').replace(' ', 'T'))]));
  // BIRD keeps monotonic times and prints them as wall-clock ones: the same route may print ±1 ms apart
  const changedRoutes = (a: Map<string, number>, b: Map<string, number>): string[] => [...new Set([...a.keys(), ...b.keys()])].sort()
    .filter((k) => !(Math.abs((a.get(k) ?? NaN) - (b.get(k) ?? NaN)) <= 100))
    .map((k) => `${k}: since ${new Date(a.get(k) ?? NaN).toISOString()} → ${new Date(b.get(k) ?? NaN).toISOString()}`);
  const routesBefore = await since();
  // A request is failed when it gets no answer within 3 s: a 1 s SYN retransmission or a CPU-starved client on
  // this shared machine is slow, not lost; those slower than 500 ms are printed.
  const loops = [
    ...l2.all.map((ip) => ({ ip, loop: lab.httpLoop(url(ip), { from: 'client', intervalMs: 25, timeoutMs: 3000 }) })),
    ...bgp.all.map((ip) => ({ ip, loop: lab.httpLoop(url(ip), { from: 'wclient', intervalMs: 25, timeoutMs: 3000 }) })),
  ];
  const watches = l2.all.map((ip) => ({ ip, w: lab.watchNeighbor(ip, { intervalMs: 100 }) }));
  try {
    await until('the loops to get answers', () => (loops.every((l) => l.loop.results.some((r) => r.ok)) ? true : undefined), 15_000);
    await sleep(500);
    const t0 = Date.now();
    await restart();
    report(t, `${what} restart took ${Date.now() - t0} ms`);
    await sleep(3000);
    const failures: string[] = [];
    const slow: string[] = [];
    let total = 0;
    for (const { ip, loop } of loops) {
      const rs = await loop.stop();
      total += rs.length;
      const failed = rs.filter((r) => !r.ok || answer(r.body) === undefined);
      if (failed.length) failures.push(`${ip}: ${describeFailures(failed, t0)}`);
      const late = rs.filter((r) => r.ok && r.ms > 500);
      if (late.length) slow.push(`${ip}: ${late.map((r) => `#${r.seq} at ${r.t - t0} ms took ${r.ms} ms`).join(', ')}`);
    }
    report(t, `${what} restart: ${failures.length ? failures.join(' | ') : 'no failed request'} of ${total}; slow (> 500 ms): ${slow.join(' | ') || 'none'}`);
    for (const { w } of watches) await w.stop();
    // who else answered, and when: printed before any assertion, with the logs, as it explains failed requests
    const strays = watches.map(({ ip, w }) => ({ ip, others: w.replies.filter((r) => macName(r.mac) !== owners.get(ip)) }));
    for (const { ip, others } of strays) {
      if (others.length) process.stderr.write(`[e2e policy] ${what} restart, ${ip}: replies not from ${owners.get(ip) ?? '?'}: ${others.map((r) => `${macName(r.mac)} at ${r.t - t0} ms`).join(', ')}\n${lab.logs()}\n`);
    }
    assert.deepEqual(failures, [], `no request fails across the ${what} restart`);
    for (const { ip, others } of strays) assert.deepEqual(others.map((r) => `${macName(r.mac)} at ${r.t - t0} ms`), [], `${ip} answered by ${owners.get(ip) ?? '?'} alone throughout`);
    assert.deepEqual(await allServiceIPs(), before, `no Service changed address across the ${what} restart`);
    assert.deepEqual(changedRoutes(routesBefore, await since()), [], `no BGP path was withdrawn or replaced across the ${what} restart`);
    for (const n of NODES) assert.ok(lab.speakerRunning(n), `the speaker on ${n} keeps running`);
  } finally {
    for (const { loop } of loops) await loop.stop();
    for (const { w } of watches) await w.stop();
  }
}
