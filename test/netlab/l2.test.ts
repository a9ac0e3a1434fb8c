/**
 * The Layer-2 responder on real frames (root only). A switch namespace with a bridge joins two node
 * namespaces running `baregate l2-announce` and a client namespace that uses arping, ndisc6, ping and
 * the kernel's own neighbour resolution. Addresses: 192.0.2.0/24 and 2001:db8::/64 only.
 *
 * The nodes carry the Service IPs on `lo` (as kube-proxy's IPVS mode does) with arp_ignore=1, so the
 * kernel itself never answers ARP/NDP for them on eth0 but does answer pings: only baregate answers
 * neighbour resolution, and traffic proves the client reached the right node.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, test, type TestContext } from 'node:test';
import { DEFAULT_REPLY_LIMITS } from '../../src/l2/ratelimit.ts';
import { Control, Lab, netlabSkip } from './netns.ts';
import { until } from '../harness/wait.ts';

/** Polls every 20 ms (ARP/NDP answers come in milliseconds). */
const poll = <T>(what: string, fn: () => Promise<T | undefined>, ms: number): Promise<T> => until(what, fn, ms, 20);

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const VIP4 = '192.0.2.200';
const VIP6 = '2001:db8::200';
const lab = new Lab('l2');
const mac: Record<string, string> = {};
const ctl: Record<string, Control> = {};

function skip(t: TestContext): boolean {
  if (netlabSkip) t.skip(netlabSkip);
  return netlabSkip !== undefined;
}

function startResponder(node: string): Control {
  const child = lab.start(node, process.execPath, ['--import', 'tsx', `${ROOT}src/cli/main.ts`, 'l2-announce', '--interface', 'eth0', '--control']);
  const c = new Control(child);
  ctl[node] = c;
  return c;
}

async function neighMac(ip: string): Promise<string | undefined> {
  const r = await lab.run('client', 'ip', ['-j', ...(ip.includes(':') ? ['-6'] : []), 'neigh', 'show', ip, 'dev', 'eth0']);
  const e = (JSON.parse(r.stdout || '[]') as { lladdr?: string; state?: string[] }[])[0];
  return e?.state?.some((s) => s === 'FAILED' || s === 'INCOMPLETE') ? undefined : e?.lladdr;
}

async function arping(ip: string, count = 2, from = 'client'): Promise<string[]> {
  const r = await lab.run(from, 'arping', ['-i', 'eth0', '-c', String(count), '-w', '3', '-r', ip]);
  return r.stdout.split('\n').map((l) => l.trim().toLowerCase()).filter((l) => l !== '');
}

async function ndisc6(ip: string): Promise<string | undefined> {
  const r = await lab.run('client', 'ndisc6', ['-q', '-1', '-r', '3', '-w', '500', ip, 'eth0']);
  return r.code === 0 ? r.stdout.trim().toLowerCase() : undefined;
}


before(async () => {
  if (netlabSkip) return;
  lab.addSwitch('sw');
  mac.n1 = lab.addHost('n1', 'sw', ['192.0.2.11/24', '2001:db8::11/64']).mac;
  mac.n2 = lab.addHost('n2', 'sw', ['192.0.2.12/24', '2001:db8::12/64']).mac;
  mac.client = lab.addHost('client', 'sw', ['192.0.2.100/24', '2001:db8::100/64']).mac;
  mac.client2 = lab.addHost('client2', 'sw', ['192.0.2.101/24', '2001:db8::101/64']).mac;
  for (const n of ['n1', 'n2']) {
    lab.sysctl(n, 'net.ipv4.conf.all.arp_ignore', '1');
    lab.sysctl(n, 'net.ipv4.conf.all.arp_announce', '2');
    lab.ip(n, 'addr', 'add', `${VIP4}/32`, 'dev', 'lo');
    lab.ip(n, 'addr', 'add', `${VIP6}/128`, 'dev', 'lo', 'nodad');
  }
  for (const n of ['n1', 'n2']) {
    const ready = await startResponder(n).next();
    assert.equal(ready.mac, mac[n]);
  }
});

after(() => {
  lab.destroySync();
  const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(lab.prefix));
  assert.deepEqual(left, [], 'every namespace of the lab is gone');
});

test('IPv4: arping and the kernel (ping) resolve the Service IP to the owner; traffic flows', async (t) => {
  if (skip(t)) return;
  assert.deepEqual(await arping(VIP4), [], 'nobody answers before anyone owns the IP');
  await ctl.n1!.send(`add ${VIP4}`);
  assert.deepEqual(await arping(VIP4), [mac.n1, mac.n1]);
  const ping = await lab.run('client', 'ping', ['-c', '1', '-W', '2', VIP4]);
  assert.equal(ping.code, 0, ping.stdout + ping.stderr);
  assert.equal(await neighMac(VIP4), mac.n1);
});

test('IPv6: ndisc6 and the kernel (ping -6) resolve the Service IP to the owner; traffic flows', async (t) => {
  if (skip(t)) return;
  await ctl.n1!.send(`add ${VIP6}`);
  assert.equal(await ndisc6(VIP6), mac.n1);
  const ping = await lab.run('client', 'ping', ['-6', '-c', '1', '-W', '2', VIP6]);
  assert.equal(ping.code, 0, ping.stdout + ping.stderr);
  assert.equal(await neighMac(VIP6), mac.n1);
});

test('never answers for an IP it does not own: other Service IPs, node addresses', async (t) => {
  if (skip(t)) return;
  const before = (await ctl.n1!.send('stats')) as { replies: number; drops: Record<string, number> };
  assert.deepEqual(await arping('192.0.2.201'), []);
  assert.equal(await ndisc6('2001:db8::201'), undefined);
  assert.deepEqual(await arping('192.0.2.12', 1), [mac.n2], 'node n2 answers for its own address (kernel), n1 stays silent');
  const afterStats = (await ctl.n1!.send('stats')) as { replies: number; drops: Record<string, number> };
  assert.equal(afterStats.replies, before.replies, 'n1 sent no reply');
  assert.ok((afterStats.drops['not-owned'] ?? 0) > (before.drops['not-owned'] ?? 0));
  assert.equal(((await ctl.n2!.send('stats')) as { replies: number }).replies, 0, 'n2 owns nothing and answered nothing');
});

test('takeover: the client neighbour entries move to the new owner without a flush, and traffic resumes', async (t) => {
  if (skip(t)) return;
  assert.equal(await neighMac(VIP4), mac.n1);
  assert.equal(await neighMac(VIP6), mac.n1);
  await new Promise((r) => setTimeout(r, 1100)); // past the kernel's ARP locktime, as in a real failover
  await ctl.n1!.send(`del ${VIP4} ${VIP6}`);
  await ctl.n2!.send(`add ${VIP4} ${VIP6}`);
  // the gratuitous ARP / unsolicited NA must update the existing entries: no flush, no re-resolution needed
  await poll('IPv4 entry points at n2', async () => ((await neighMac(VIP4)) === mac.n2 ? true : undefined), 1000);
  await poll('IPv6 entry points at n2', async () => ((await neighMac(VIP6)) === mac.n2 ? true : undefined), 1000);
  for (const args of [['-c', '1', '-W', '2', VIP4], ['-6', '-c', '1', '-W', '2', VIP6]]) {
    const ping = await lab.run('client', 'ping', args);
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
  }
  assert.deepEqual(await arping(VIP4, 2), [mac.n2, mac.n2], 'only the new owner answers');
  assert.equal(await ndisc6(VIP6), mac.n2);
});

test('hundreds of IPs on one interface are answered', async (t) => {
  if (skip(t)) return;
  const v4 = Array.from({ length: 50 }, (_, i) => `192.0.2.${150 + i}`);
  const v6 = Array.from({ length: 250 }, (_, i) => `2001:db8::1:${i.toString(16)}`);
  await ctl.n1!.send(`add ${[...v4, ...v6].join(' ')}`);
  assert.equal(((await ctl.n1!.send('stats')) as { owned: number }).owned, 300);
  for (const ip of [v4[0]!, v4[25]!, v4[49]!]) assert.deepEqual(await arping(ip, 1), [mac.n1], ip);
  for (const ip of [v6[0]!, v6[128]!, v6[249]!]) assert.equal(await ndisc6(ip), mac.n1, ip);
  await ctl.n1!.send(`del ${[...v4, ...v6].join(' ')}`);
});

test('ownership churn of 1,000 IPs leaks no file descriptors', async (t) => {
  if (skip(t)) return;
  const fds0 = ((await ctl.n1!.send('fds')) as { count: number }).count;
  const ips = [...Array.from({ length: 100 }, (_, i) => `198.51.100.${i + 1}`), ...Array.from({ length: 900 }, (_, i) => `2001:db8::2:${i.toString(16)}`)];
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < ips.length; i += 100) await ctl.n1!.send(`add ${ips.slice(i, i + 100).join(' ')}`);
    for (let i = 0; i < ips.length; i += 100) await ctl.n1!.send(`del ${ips.slice(i, i + 100).join(' ')}`);
  }
  assert.equal(((await ctl.n1!.send('stats')) as { owned: number }).owned, 0, 'everything added was removed');
  assert.equal(((await ctl.n1!.send('fds')) as { count: number }).count, fds0);
});

test('an arping flood from one asker is rate-limited; another asker (arping and the kernel) is answered meanwhile', async (t) => {
  if (skip(t)) return;
  const vip = '192.0.2.220';
  lab.ip('n1', 'addr', 'add', `${vip}/32`, 'dev', 'lo'); // so that ping gets an answer (ARP comes from baregate only)
  await ctl.n1!.send(`add ${vip}`);
  type Stats = { replies: number; drops: Record<string, number> };
  const s0 = (await ctl.n1!.send('stats')) as Stats;
  const limitedSoFar = async (): Promise<number> =>
    (((await ctl.n1!.send('stats')) as Stats).drops['rate-limited-asker'] ?? 0) - (s0.drops['rate-limited-asker'] ?? 0);
  const requests = 5000;
  const t0 = performance.now();
  // at least 5 s of requests, one per millisecond at most, from one asker (the client's MAC and IP)
  const flood = lab.run('client', 'arping', ['-i', 'eth0', '-c', String(requests), '-W', '0.001', '-w', '30', '-r', vip], 60_000);
  let floodDone = false;
  void flood.then(() => { floodDone = true; });
  await poll('the flood is being limited', async () => ((await limitedSoFar()) > 0 ? true : undefined), 10_000);
  const other = await arping(vip, 3, 'client2'); // default pace, one per second
  const ping = await lab.run('client2', 'ping', ['-c', '1', '-W', '2', vip]);
  assert.equal(floodDone, false, 'the other asker was answered while the flood was still going on');
  const f = await flood;
  const elapsedS = (performance.now() - t0) / 1000;
  const s1 = (await ctl.n1!.send('stats')) as Stats;
  const floodReplies = f.stdout.split('\n').filter((l) => l.trim() !== '').length;
  assert.deepEqual(other, [mac.n1, mac.n1, mac.n1], 'every request of the other asker answered during the flood');
  assert.equal(ping.code, 0, `the kernel of the other asker resolved the IP during the flood: ${ping.stdout}${ping.stderr}`);
  const limited = (s1.drops['rate-limited-asker'] ?? 0) - (s0.drops['rate-limited-asker'] ?? 0);
  const replied = s1.replies - s0.replies;
  t.diagnostic(`flood: ${requests} requests in ${elapsedS.toFixed(2)} s, ${floodReplies} replies, ${limited} rate-limited; ${replied} replies in all`);
  // the limiter refilled for at most elapsedS: at most burst + rate x elapsed replies went to the flooder
  // (the defaults); the other asker's 3 arpings and its kernel's 1-2 requests come on top
  const { burst, perSecond } = DEFAULT_REPLY_LIMITS.perAsker;
  const bound = burst + perSecond * elapsedS;
  assert.ok(floodReplies <= bound, `flooder got ${floodReplies} replies in ${elapsedS.toFixed(1)} s, limit ${bound.toFixed(1)}`);
  assert.ok(floodReplies >= burst, `the flooder got its burst (${floodReplies})`);
  assert.ok(replied - floodReplies >= 4 && replied - floodReplies <= 6, `replies: ${replied} in all, ${floodReplies} to the flooder`);
  assert.ok(limited >= requests - 2 * bound - 100, `${limited} of ${requests} requests dropped as rate-limited-asker`);
  await ctl.n1!.send(`del ${vip}`);
  lab.ip('n1', 'addr', 'del', `${vip}/32`, 'dev', 'lo');
});

test('an interface that goes down and comes back is reopened and answers again', async (t) => {
  if (skip(t)) return;
  await ctl.n1!.send('add 192.0.2.210');
  const fds0 = ((await ctl.n1!.send('fds')) as { count: number }).count;
  lab.ip('n1', 'link', 'set', 'eth0', 'down');
  await poll('sockets closed', async () => (((await ctl.n1!.send('stats')) as { up: boolean }).up ? undefined : true), 5000);
  lab.ip('n1', 'link', 'set', 'eth0', 'up');
  await poll('sockets reopened', async () => (((await ctl.n1!.send('stats')) as { up: boolean }).up ? true : undefined), 10_000);
  assert.deepEqual(await arping('192.0.2.210', 1), [mac.n1]);
  assert.equal(((await ctl.n1!.send('fds')) as { count: number }).count, fds0, 'no descriptor left behind by the reopen');
  await ctl.n1!.send('del 192.0.2.210');
});
