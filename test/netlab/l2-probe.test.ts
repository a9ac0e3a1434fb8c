/**
 * Probing before takeover, seeing others claim our IPs, and carrier state, on real frames (root only; issue 9
 * "No split brain"). A switch namespace with a bridge joins three node namespaces, each running an L2Link through
 * the `l2-agent.ts` helper (started with `ip netns exec`, so sysfs and sockets are the namespace's own), and a
 * client namespace whose kernel holds ordinary addresses. Addresses: 192.0.2.0/24 and 2001:db8::/64 only.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, test, type TestContext } from 'node:test';
import { Control, Lab, netlabSkip } from './netns.ts';
import { until } from '../harness/wait.ts';

/** Polls every 20 ms (ARP/NDP answers come in milliseconds). */
const poll = <T>(what: string, fn: () => Promise<T | undefined>, ms: number): Promise<T> => until(what, fn, ms, 20);

const AGENT = fileURLToPath(new URL('./l2-agent.ts', import.meta.url));
const VIP4 = '192.0.2.230';
const VIP6 = '2001:db8::230';
const lab = new Lab('l2p');
const mac: Record<string, string> = {};
const ctl: Record<string, Control> = {};

interface Probe { free: boolean; macs: string[]; error?: string; firstReplyMs?: number; elapsedMs: number }
interface ClaimSeen { ip: string; mac: string; at: number }
interface Carrier { sysfs: boolean; link: boolean; up: boolean; changes: { up: boolean; at: number }[] }

function skip(t: TestContext): boolean {
  if (netlabSkip) t.skip(netlabSkip);
  return netlabSkip !== undefined;
}

async function probe(node: string, ip: string, windowMs = 150): Promise<Probe> {
  const r = await ctl[node]!.send(`probe ${ip} ${windowMs}`);
  assert.equal(r.ctl, 'probe', JSON.stringify(r));
  return r as unknown as Probe;
}

async function claims(node: string): Promise<ClaimSeen[]> {
  return ((await ctl[node]!.send('claims')) as unknown as { claims: ClaimSeen[] }).claims;
}

async function carrier(node: string): Promise<Carrier> {
  return (await ctl[node]!.send('carrier')) as unknown as Carrier;
}


before(async () => {
  if (netlabSkip) return;
  lab.addSwitch('sw');
  mac.a = lab.addHost('a', 'sw', ['192.0.2.21/24', '2001:db8::21/64']).mac;
  mac.b = lab.addHost('b', 'sw', ['192.0.2.22/24', '2001:db8::22/64']).mac;
  mac.c = lab.addHost('c', 'sw', ['192.0.2.23/24', '2001:db8::23/64']).mac;
  mac.client = lab.addHost('client', 'sw', ['192.0.2.100/24', '2001:db8::100/64']).mac;
  for (const n of ['a', 'b', 'c']) {
    const c = new Control(lab.start(n, process.execPath, ['--import', 'tsx', AGENT, '--interface', 'eth0']));
    ctl[n] = c;
    const ready = await c.next();
    assert.equal(ready.mac, mac[n], `${n}: the agent's MAC is the namespace's eth0`);
    assert.equal(ready.carrier, true);
  }
});

after(() => {
  lab.destroySync();
  const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(lab.prefix));
  assert.deepEqual(left, [], 'every namespace of the lab is gone');
});

for (const [family, vip] of [['IPv4', VIP4], ['IPv6', VIP6]] as const) {
  test(`${family}: probe finds nobody, then the owner's MAC; free again once the owner drops the IP`, async (t) => {
    if (skip(t)) return;
    const none = await probe('b', vip);
    assert.deepEqual({ free: none.free, macs: none.macs, error: none.error }, { free: true, macs: [], error: undefined });
    await ctl.a!.send(`add ${vip}`);
    const seen: number[] = [];
    const took: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await probe('b', vip);
      assert.deepEqual({ free: r.free, macs: r.macs, error: r.error }, { free: false, macs: [mac.a], error: undefined }, `probe ${i}`);
      seen.push(r.firstReplyMs ?? NaN);
      took.push(r.elapsedMs);
      assert.ok(r.elapsedMs >= 149 && r.elapsedMs < 1000, `a probe takes its window: ${r.elapsedMs.toFixed(1)} ms`);
    }
    t.diagnostic(`${family} probe: first answer after ${seen.map((x) => x.toFixed(2)).join(', ')} ms; whole probe ${took.map((x) => x.toFixed(1)).join(', ')} ms (window 150 ms)`);
    assert.deepEqual(await claims('b'), [], 'b owns nothing: no claims reported');
    assert.deepEqual(await claims('a'), [], "b's probes are not claims at the owner");
    await ctl.a!.send(`del ${vip}`);
    const free = await probe('b', vip);
    assert.deepEqual({ free: free.free, macs: free.macs }, { free: true, macs: [] });
  });

  test(`${family}: two owners see each other's announcements (onClaim); a non-owner sees no claim`, async (t) => {
    if (skip(t)) return;
    await ctl.b!.send(`add ${vip}`);
    await new Promise((r) => setTimeout(r, 300)); // b's first two announcements (0 and 250 ms) are out
    assert.deepEqual(await claims('a'), [], 'a does not own the IP: b announcing it is no claim for a');
    const t0 = Date.now();
    await ctl.a!.send(`add ${vip}`);
    const atB = await poll('b sees a claim', async () => { const c = await claims('b'); return c.length > 0 ? c : undefined; }, 2000);
    assert.deepEqual(atB.map((c) => [c.ip, c.mac]), [[vip, mac.a]]);
    t.diagnostic(`${family}: b saw a's claim ${Date.now() - t0} ms after a took the IP (at most, polled)`);
    // a hears b at b's next scheduled announcement (1 s after b's gain)
    const atA = await poll('a sees a claim', async () => { const c = await claims('a'); return c.length > 0 ? c : undefined; }, 3000);
    assert.deepEqual([...new Set(atA.map((c) => `${c.ip} ${c.mac}`))], [`${vip} ${mac.b}`]);
    const probeB = await probe('c', vip);
    assert.deepEqual([...probeB.macs].sort(), [mac.a, mac.b].sort(), 'a third node probing sees both answering');
    await ctl.a!.send(`del ${vip}`);
    await ctl.b!.send(`del ${vip}`);
    await claims('a');
    await claims('b');
  });
}

test('a plain kernel holding an address answers the probes too (RFC 5227 ARP probe, DAD NS)', async (t) => {
  if (skip(t)) return;
  const v4 = await probe('b', '192.0.2.100');
  assert.deepEqual({ free: v4.free, macs: v4.macs }, { free: false, macs: [mac.client] });
  const v6 = await probe('b', '2001:db8::100');
  assert.deepEqual({ free: v6.free, macs: v6.macs }, { free: false, macs: [mac.client] });
  t.diagnostic(`kernel answers after ${v4.firstReplyMs?.toFixed(2)} ms (ARP), ${v6.firstReplyMs?.toFixed(2)} ms (NDP)`);
});

test('carrier: sysfs inside the namespace is its own; peer end down -> carrier lost, link stops (probe refuses); up -> announces again; peer deleted -> down', async (t) => {
  if (skip(t)) return;
  assert.equal(((await ctl.c!.send('mac')) as { sysfs: string }).sysfs, mac.c, "sysfs shows the namespace's eth0, not the host's");
  assert.deepEqual(await carrier('c').then((c) => [c.sysfs, c.link]), [true, true]);
  await ctl.c!.send(`add ${VIP4} ${VIP6}`);
  const s0 = (await ctl.c!.send('stats')) as { announcements: number };
  const tDown = Date.now();
  lab.ip('sw', 'link', 'set', 'p-c', 'down');
  const down = await poll('carrier lost', async () => { const c = await carrier('c'); return c.link ? undefined : c; }, 2000);
  t.diagnostic(`carrier loss seen by the watch ${Date.now() - tDown} ms after the peer went down (poll 100 ms)`);
  assert.equal(down.sysfs, false);
  assert.equal(down.up, true, 'the sockets stay open: only the carrier tells');
  const refused = await probe('c', VIP4);
  assert.deepEqual({ free: refused.free, error: refused.error }, { free: false, error: 'no carrier' });
  const s1 = (await ctl.c!.send('stats')) as { announcements: number; carrierLosses: number };
  assert.equal(s1.carrierLosses, 1);
  await new Promise((r) => setTimeout(r, 1200)); // the schedule would have announced at 250 and 1000 ms
  assert.equal(((await ctl.c!.send('stats')) as { announcements: number }).announcements, s1.announcements, 'nothing announced without carrier');
  lab.ip('sw', 'link', 'set', 'p-c', 'up');
  await poll('carrier back', async () => ((await carrier('c')).link ? true : undefined), 3000);
  const s2 = await poll('announced again', async () => {
    const s = (await ctl.c!.send('stats')) as { announcements: number };
    return s.announcements >= s1.announcements + 2 ? s : undefined;
  }, 2000);
  assert.ok(s2.announcements > s0.announcements);
  const fromB = await probe('b', VIP4);
  assert.deepEqual(fromB.macs, [mac.c], 'answering again after the carrier came back');
  lab.ip('sw', 'link', 'del', 'p-c'); // deletes the pair: c's eth0 is gone
  const gone = await poll('interface gone', async () => { const c = await carrier('c'); return c.link || c.up ? undefined : c; }, 3000);
  assert.equal(gone.sysfs, false, 'a missing interface is down');
  assert.deepEqual(gone.changes.map((c) => c.up), [false, true, false]);
});
