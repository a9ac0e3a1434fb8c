/**
 * The native addon (src/native) on real sockets, root only. Two network namespaces made here, A and B, joined by a
 * veth pair (A veth0 192.0.2.1 2001:db8::1, B veth1 192.0.2.2 2001:db8::2); nothing touches the root namespace's
 * interfaces. Node cannot enter a namespace, so the addon runs in a child per namespace (native-probe.ts under
 * `ip netns exec`) driven over JSON lines. The namespaces go in `after`, and on exit/SIGINT/SIGTERM too.
 *
 * The TCP-MD5 argument checks and the error-class checks need no root and run in this process.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { after, before, describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import ipaddr from 'ipaddr.js';

type Native = typeof import('../../src/native/index.ts');

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROBE = fileURLToPath(new URL('./native-probe.ts', import.meta.url));
const suffix = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const NS_A = `bgtest-na-${suffix}`;
const NS_B = `bgtest-nb-${suffix}`;
const ARP = 0x0806;
const IPV6 = 0x86dd;
const ETH_P_ALL = 0x0003;

const skipReason = ((): string | undefined => {
  if (process.platform !== 'linux') return `netlab needs root: Linux network namespaces, this is ${process.platform}`;
  if (process.getuid?.() !== 0) return `netlab needs root: running as uid ${String(process.getuid?.())}`;
  if (spawnSync('ip', ['-V']).error) return 'netlab needs root: the `ip` command (iproute2) is missing';
  return undefined;
})();
if (skipReason) process.stderr.write(`\n*** ${skipReason}: namespace tests SKIPPED ***\n\n`);
function lab(t: TestContext): boolean {
  if (skipReason) t.skip(skipReason);
  return !skipReason;
}

// ---- namespaces: created here, always deleted ------------------------------------------------------------------

const created: string[] = [];
const probes: Probe[] = [];
function cleanup(): void {
  for (const p of probes.splice(0)) p.kill();
  for (const ns of created.splice(0)) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { cleanup(); process.exit(130); });

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Side {
  probe: Probe;
  dev: string;
  ifindex: number;
  mac: string;
  linkLocal: string;
}

/** Brings up one end of the pair and waits for its (DAD-free) link-local address. */
async function side(ns: string, dev: string, v4: string, v6: string): Promise<Omit<Side, 'probe'>> {
  ip('-n', ns, 'addr', 'add', `${v4}/24`, 'dev', dev);
  ip('-n', ns, 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad');
  ip('-n', ns, 'link', 'set', dev, 'up');
  const link = (JSON.parse(ip('-n', ns, '-j', 'link', 'show', 'dev', dev)) as { ifindex: number; address: string }[])[0]!;
  for (let i = 0; i < 100; i++) {
    type Addr = { addr_info: { local?: string; tentative?: boolean }[] };
    const addrs = JSON.parse(ip('-n', ns, '-j', '-6', 'addr', 'show', 'dev', dev, 'scope', 'link')) as Addr[];
    const ll = addrs[0]?.addr_info.find((a) => a.local !== undefined && a.tentative !== true)?.local; // ip -j emits {} for filtered ones
    if (ll !== undefined) return { dev, ifindex: link.ifindex, mac: link.address, linkLocal: ll };
    await sleep(50);
  }
  throw new Error(`${ns}/${dev}: no link-local address after 5 s`);
}

// ---- the probe: the addon inside a namespace ---------------------------------------------------------------------

interface ErrInfo { name: string; message: string; code?: string; errno?: number; syscall?: string }
interface Ev { ev: string; sock?: number; hex?: string; src?: string; ifindex?: number; hopLimit?: number; code?: string; message?: string; syscall?: string }
interface Opened { sock: number; fd: number; ifindex: number }

class ProbeError extends Error {
  constructor(readonly info: ErrInfo) { super(`${info.name}: ${info.message}`); }
}

class Probe {
  readonly events: Ev[] = [];
  readonly ready: Promise<unknown>;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly wakers = new Set<() => void>();
  private nextId = 1;
  private dead: Error | undefined;

  constructor(readonly ns: string) {
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--expose-gc', '--import', 'tsx', PROBE], { cwd: ROOT });
    this.child.stderr.on('data', (d: Buffer) => process.stderr.write(`[probe ${ns}] ${d.toString()}`));
    createInterface({ input: this.child.stdout }).on('line', (line) => { this.onLine(line); });
    this.child.on('exit', (code, signal) => {
      this.dead = new Error(`probe in ${ns} exited (${code ?? signal})`);
      for (const p of this.pending.values()) p.reject(this.dead);
      this.pending.clear();
      for (const w of this.wakers) w();
    });
    this.ready = this.waitFor((e) => e.ev === 'ready', 30_000);
  }

  private onLine(line: string): void {
    const msg = JSON.parse(line) as Ev & { id?: number; ok?: boolean; result?: unknown; error?: ErrInfo };
    if (msg.id === undefined) {
      this.events.push(msg);
      for (const w of this.wakers) w();
      return;
    }
    const p = this.pending.get(msg.id);
    this.pending.delete(msg.id);
    if (msg.ok) p?.resolve(msg.result);
    else p?.reject(new ProbeError(msg.error!));
  }

  call<T = unknown>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    this.child.stdin.write(JSON.stringify({ id, op, ...args }) + '\n');
    return new Promise<unknown>((resolve, reject) => { this.pending.set(id, { resolve, reject }); }) as Promise<T>;
  }

  /** The first event (already received or still to come) that matches. */
  async waitFor(pred: (e: Ev) => boolean, ms = 5000): Promise<Ev> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit) return hit;
      if (this.dead) throw this.dead;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`probe in ${this.ns}: no matching event within ${ms} ms; got ${JSON.stringify(this.events.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const wake = (): void => { clearTimeout(timer); this.wakers.delete(wake); resolve(); };
        const timer = setTimeout(wake, left);
        this.wakers.add(wake);
      });
    }
  }

  of(sock: number, ev: string): Ev[] {
    return this.events.filter((e) => e.sock === sock && e.ev === ev);
  }

  kill(): void {
    this.child.stdin.end();
    this.child.kill('SIGKILL');
  }
}

// ---- packets ------------------------------------------------------------------------------------------------

const macBytes = (m: string): Buffer => Buffer.from(m.replaceAll(':', ''), 'hex');
const v4 = (a: string): Buffer => Buffer.from(ipaddr.IPv4.parse(a).toByteArray());
const v6 = (a: string): Buffer => Buffer.from(ipaddr.IPv6.parse(a).toByteArray());

function arpRequest(srcMac: string, srcIp: string, targetIp: string): Buffer {
  return Buffer.concat([
    Buffer.alloc(6, 0xff), macBytes(srcMac), Buffer.from([0x08, 0x06]), // Ethernet: broadcast, ARP
    Buffer.from([0, 1, 0x08, 0, 6, 4, 0, 1]), // Ethernet/IPv4, request
    macBytes(srcMac), v4(srcIp), Buffer.alloc(6), v4(targetIp),
  ]);
}
interface Arp { op: number; senderMac: string; senderIp: string; targetMac: string; targetIp: string; dstMac: string }
function parseArp(hex: string): Arp | undefined {
  const f = Buffer.from(hex, 'hex');
  if (f.length < 42 || f.readUInt16BE(12) !== ARP) return undefined;
  const mac = (o: number): string => [...f.subarray(o, o + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  const ip4 = (o: number): string => [...f.subarray(o, o + 4)].join('.');
  return { op: f.readUInt16BE(20), senderMac: mac(22), senderIp: ip4(28), targetMac: mac(32), targetIp: ip4(38), dstMac: mac(0) };
}

/** Neighbor Solicitation: type 135, code 0, checksum 0 (the kernel fills it), reserved, target, optional SLLA. */
function neighborSolicitation(target: string, sourceMac?: string): Buffer {
  const head = Buffer.concat([Buffer.from([135, 0, 0, 0, 0, 0, 0, 0]), v6(target)]);
  return sourceMac ? Buffer.concat([head, Buffer.from([1, 1]), macBytes(sourceMac)]) : head;
}
/** An ICMPv6 checksum is right when the one's-complement sum over pseudo-header and message is 0xffff. */
function icmp6ChecksumOk(src: string, dst: string, msg: Buffer): boolean {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(msg.length);
  const all = Buffer.concat([v6(src), v6(dst), len, Buffer.from([0, 0, 0, 58]), msg, Buffer.alloc(msg.length % 2)]);
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += all.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}
/** Ethernet + IPv6 + ICMPv6 NS as the kernel would send it, for the raw-frame path (checksum computed here). */
function nsFrame(srcMac: string, dstMac: string, src: string, dst: string, target: string): Buffer {
  const icmp = neighborSolicitation(target, srcMac);
  const pseudo = Buffer.concat([v6(src), v6(dst), Buffer.from([0, 0, 0, icmp.length, 0, 0, 0, 58]), icmp]);
  let sum = 0;
  for (let i = 0; i < pseudo.length; i += 2) sum += pseudo.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  icmp.writeUInt16BE(0xffff - sum, 2);
  const ip6 = Buffer.concat([Buffer.from([0x60, 0, 0, 0, 0, icmp.length, 58, 255]), v6(src), v6(dst)]);
  return Buffer.concat([macBytes(dstMac), macBytes(srcMac), Buffer.from([0x86, 0xdd]), ip6, icmp]);
}

// ---- the suite ----------------------------------------------------------------------------------------------

let native: Native;
let A: Side;
let B: Side;

before(async () => {
  execFileSync('bash', [`${ROOT}/tools/build-native.sh`], { stdio: ['ignore', process.stderr, process.stderr] });
  native = await import('../../src/native/index.ts');
  if (skipReason) return;
  for (const ns of [NS_A, NS_B]) {
    ip('netns', 'add', ns);
    created.push(ns);
    // no DAD: link-local addresses are usable at once instead of after a second of tentativeness
    ip('netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  // (this kernel may lack the dummy driver: spare interfaces are veth pairs inside B)
  ip('-n', NS_B, 'link', 'add', 'pad0', 'type', 'veth', 'peer', 'name', 'pad1'); // B's veth1 gets another ifindex than A's veth0
  ip('-n', NS_A, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1', 'netns', NS_B);
  const [a, b] = await Promise.all([side(NS_A, 'veth0', '192.0.2.1', '2001:db8::1'), side(NS_B, 'veth1', '192.0.2.2', '2001:db8::2')]);
  const [pa, pb] = [new Probe(NS_A), new Probe(NS_B)];
  probes.push(pa, pb);
  A = { ...a, probe: pa };
  B = { ...b, probe: pb };
  await Promise.all([pa.ready, pb.ready]);
});

after(() => {
  cleanup();
  if (!skipReason) {
    const left = ip('netns', 'list').split('\n').filter((l) => l.includes(suffix));
    assert.deepEqual(left, [], 'namespaces left behind');
  }
});

describe('AF_PACKET sockets', () => {
  test('A sends an ARP request that B receives as sent; A does not see its own frame; A sees B\'s kernel reply', async (t) => {
    if (!lab(t)) return;
    const sa = await A.probe.call<Opened>('openPacket', { ifname: 'veth0', ethertype: ARP });
    // The kernel copies outgoing frames only to ETH_P_ALL taps (and never to the sending socket), so a tap is
    // what shows that outgoing frames are filtered (PACKET_OUTGOING) and incoming ones are not.
    const tap = await A.probe.call<Opened>('openPacket', { ifname: 'veth0', ethertype: ETH_P_ALL });
    const sb = await B.probe.call<Opened>('openPacket', { ifname: 'veth1', ethertype: ARP });
    assert.equal(sa.ifindex, A.ifindex);
    assert.equal(sb.ifindex, B.ifindex);
    const request = arpRequest(A.mac, '192.0.2.1', '192.0.2.2');
    await A.probe.call('packetSend', { sock: sa.sock, hex: request.toString('hex') });

    const got = await B.probe.waitFor((e) => e.sock === sb.sock && e.ev === 'frame');
    assert.equal(got.hex, request.toString('hex'), 'B receives exactly the frame A built');
    const reply = await A.probe.waitFor((e) => e.sock === sa.sock && e.ev === 'frame' && parseArp(e.hex!)?.op === 2);
    assert.deepEqual(parseArp(reply.hex!), {
      op: 2, senderMac: B.mac, senderIp: '192.0.2.2', targetMac: A.mac, targetIp: '192.0.2.1', dstMac: A.mac,
    });
    await A.probe.waitFor((e) => e.sock === tap.sock && e.ev === 'frame' && e.hex === reply.hex);
    await sleep(300);
    for (const s of [sa, tap]) {
      assert.deepEqual(A.probe.of(s.sock, 'frame').filter((e) => e.hex === request.toString('hex')), [],
        'A does not receive its own outgoing request');
    }
    assert.equal(B.probe.of(sb.sock, 'frame').length, 1, 'B sees the request once and not its own kernel\'s reply');
    for (const s of [sa, tap]) await A.probe.call('close', { sock: s.sock });
    await B.probe.call('close', { sock: sb.sock });
    await B.probe.call('close', { sock: sb.sock }); // idempotent
  });

  test('an onFrame that throws is caught and counted: the process lives on and keeps receiving', async (t) => {
    if (!lab(t)) return;
    const sb = await B.probe.call<Opened>('openPacket', { ifname: 'veth1', ethertype: ARP, throwOnFrame: true });
    const sa = await A.probe.call<Opened>('openPacket', { ifname: 'veth0', ethertype: ARP });
    const before = await B.probe.call<number>('callbackErrors', {});
    const request = arpRequest(A.mac, '192.0.2.1', '192.0.2.2');
    await A.probe.call('packetSend', { sock: sa.sock, hex: request.toString('hex'), count: 3 });
    await B.probe.waitFor((e) => e.sock === sb.sock && e.ev === 'frame');
    let errors = before;
    for (let i = 0; i < 200 && errors < before + 3; i++) { await sleep(10); errors = await B.probe.call<number>('callbackErrors', {}); }
    assert.equal(errors, before + 3, 'each throwing callback was counted');
    assert.equal(B.probe.of(sb.sock, 'frame').length, 3, 'every frame still reached the callback');
    assert.equal(await B.probe.call<number>('cpu', {}) >= 0, true, 'the probe still answers');
    await A.probe.call('close', { sock: sa.sock });
    await B.probe.call('close', { sock: sb.sock });
  });

  test('closing from inside onFrame while more frames are queued is safe', async (t) => {
    if (!lab(t)) return;
    const sa = await A.probe.call<Opened>('openPacket', { ifname: 'veth0', ethertype: ARP });
    const sb = await B.probe.call<Opened>('openPacket', { ifname: 'veth1', ethertype: ARP, closeOnFrame: true });
    await A.probe.call('packetSend', { sock: sa.sock, hex: arpRequest(A.mac, '192.0.2.1', '192.0.2.9').toString('hex'), count: 5 });
    await B.probe.waitFor((e) => e.sock === sb.sock && e.ev === 'frame');
    await sleep(300);
    assert.equal(B.probe.of(sb.sock, 'frame').length, 1, 'no frame after close()');
    assert.equal(await B.probe.call('cpu').then(() => 'alive'), 'alive');
    await assert.rejects(B.probe.call('packetSend', { sock: sb.sock, hex: arpRequest(B.mac, '192.0.2.2', '192.0.2.1').toString('hex') }),
      (e: ProbeError) => e.info.code === 'EBADF' && e.info.message === 'sendto(veth1): Bad file descriptor');
    await A.probe.call('close', { sock: sa.sock });
  });

  test('interface going down or away: onError gets ENETDOWN once, the socket is closed, no busy loop', async (t) => {
    if (!lab(t)) return;
    for (const dev of ['gone0', 'flap0']) {
      ip('-n', NS_B, 'link', 'add', dev, 'type', 'veth', 'peer', 'name', `${dev}p`);
      ip('-n', NS_B, 'link', 'set', dev, 'up');
    }
    const gone = await B.probe.call<Opened>('openPacket', { ifname: 'gone0', ethertype: ARP });
    const flap = await B.probe.call<Opened>('openPacket', { ifname: 'flap0', ethertype: IPV6 });
    const cpu0 = await B.probe.call<number>('cpu');
    ip('-n', NS_B, 'link', 'del', 'gone0');
    ip('-n', NS_B, 'link', 'set', 'flap0', 'down');
    const eg = await B.probe.waitFor((e) => e.sock === gone.sock && e.ev === 'error');
    const ef = await B.probe.waitFor((e) => e.sock === flap.sock && e.ev === 'error');
    assert.deepEqual([eg.code, eg.syscall, eg.message], ['ENETDOWN', 'recvfrom', 'recvfrom(gone0): Network is down']);
    assert.deepEqual([ef.code, ef.syscall], ['ENETDOWN', 'recvfrom']);
    ip('-n', NS_B, 'link', 'set', 'flap0', 'up');
    await sleep(500);
    const cpu = (await B.probe.call<number>('cpu')) - cpu0;
    assert.ok(cpu < 300, `probe used ${cpu} ms CPU in ~0.5 s: busy loop?`);
    assert.equal(B.probe.of(gone.sock, 'error').length, 1);
    assert.equal(B.probe.of(flap.sock, 'error').length, 1);
    await assert.rejects(B.probe.call('packetSend', { sock: flap.sock, hex: 'ff'.repeat(14) }), (e: ProbeError) => e.info.code === 'EBADF');
    // a socket on an interface that is down fails at once rather than on its first read
    ip('-n', NS_B, 'link', 'set', 'flap0', 'down');
    await assert.rejects(B.probe.call('openPacket', { ifname: 'flap0', ethertype: ARP }),
      (e: ProbeError) => e.info.name === 'NativeError' && e.info.code === 'ENETDOWN' && e.info.message === 'bind(flap0): Network is down');
    ip('-n', NS_B, 'link', 'del', 'flap0');
  });

  test('bad arguments throw TypeError, failed calls NativeError naming the call and the interface', async (t) => {
    if (!lab(t)) return;
    const p = B.probe;
    const rejects = (op: string, args: Record<string, unknown>, name: string, message: RegExp | string): Promise<void> =>
      assert.rejects(p.call(op, args), (e: ProbeError) => {
        assert.equal(e.info.name, name, e.message);
        if (typeof message === 'string') assert.equal(e.info.message, message);
        else assert.match(e.info.message, message);
        return true;
      });
    await rejects('openPacket', { ifname: 'nosuch0', ethertype: ARP }, 'NativeError', 'if_nametoindex(nosuch0): No such device');
    await rejects('openPacket', { ifname: 'veth1', ethertype: 0x10000 }, 'TypeError', /ethertype must be an integer/);
    await rejects('openPacket', { ifname: 'veth1', ethertype: 1.5 }, 'TypeError', /ethertype must be an integer/);
    await rejects('openPacket', { ifname: 'x'.repeat(16), ethertype: ARP }, 'TypeError', /ifname must be 1\.\.15 bytes/);
    await rejects('openPacket', { ifname: 7, ethertype: ARP }, 'TypeError', /ifname must be a string/);
    const s = await p.call<Opened>('openPacket', { ifname: 'veth1', ethertype: ARP });
    await rejects('packetSend', { sock: s.sock, hex: 'ff'.repeat(13) }, 'TypeError', /frame must be at least 14 bytes/);
    await rejects('packetSend', { sock: s.sock, hex: 'ff'.repeat(9000) }, 'NativeError', 'sendto(veth1): Message too long');
    await p.call('close', { sock: s.sock });

    const i = await p.call<Opened>('openIcmp6', { listen: true });
    const ns = neighborSolicitation('2001:db8::99').toString('hex');
    await rejects('icmp6Send', { sock: i.sock, dst: 'nope', ifindex: B.ifindex, hex: ns }, 'TypeError', /dst is not an IPv6 address/);
    await rejects('icmp6Send', { sock: i.sock, dst: 'ff02::1', ifindex: 0, hex: ns }, 'TypeError', /ifindex must be an integer/);
    await rejects('icmp6Send', { sock: i.sock, dst: 'ff02::1', ifindex: B.ifindex, hex: '87' }, 'TypeError', /payload must be at least 4 bytes/);
    await rejects('icmp6Send', { sock: i.sock, dst: 'ff02::1', ifindex: 999, hex: ns }, 'NativeError', /^sendmsg\(ff02::1%999\): /);
    await rejects('join', { sock: i.sock, group: '2001:db8::1', ifindex: B.ifindex }, 'TypeError', /not a multicast address/);
    await rejects('join', { sock: i.sock, group: 'ff02::1:ff00:99', ifindex: 999 }, 'NativeError',
      'setsockopt(IPV6_JOIN_GROUP ff02::1:ff00:99%999): No such device');
    await p.call('close', { sock: i.sock });
    await rejects('icmp6Send', { sock: i.sock, dst: 'ff02::1', ifindex: B.ifindex, hex: ns }, 'NativeError',
      `sendmsg(ff02::1%${B.ifindex}): Bad file descriptor`);
  });
});

describe('raw ICMPv6 socket', () => {
  const group = 'ff02::1:ff00:99'; // solicited-node group of 2001:db8::99, which no one has configured
  test('B joins the solicited-node group of 2001:db8::99 and hears A\'s NS to it with hop limit 255; not after leave()', async (t) => {
    if (!lab(t)) return;
    const sender = await A.probe.call<Opened>('openIcmp6', { listen: false });
    const echo = await A.probe.call<Opened>('openIcmp6', { listen: true }); // must not hear A's own multicast
    const rx = await B.probe.call<Opened>('openIcmp6', { listen: true });
    await A.probe.call('join', { sock: echo.sock, group, ifindex: A.ifindex });
    await B.probe.call('join', { sock: rx.sock, group, ifindex: B.ifindex });
    await B.probe.call('join', { sock: rx.sock, group: 'FF02:0:0:0:0:1:FF00:99', ifindex: B.ifindex }); // no-op, not EADDRINUSE

    const withSlla = neighborSolicitation('2001:db8::99', A.mac);
    const send = (msg: Buffer): Promise<unknown> =>
      A.probe.call('icmp6Send', { sock: sender.sock, dst: group, ifindex: A.ifindex, hex: msg.toString('hex') });
    await send(withSlla);
    const m = await B.probe.waitFor((e) => e.sock === rx.sock && e.ev === 'msg');
    assert.deepEqual([m.src, m.ifindex, m.hopLimit], [A.linkLocal, B.ifindex, 255]);
    const payload = Buffer.from(m.hex!, 'hex');
    assert.equal(payload.length, withSlla.length);
    assert.deepEqual(Buffer.concat([payload.subarray(0, 2), payload.subarray(4)]), Buffer.concat([withSlla.subarray(0, 2), withSlla.subarray(4)]));
    assert.ok(icmp6ChecksumOk(A.linkLocal, group, payload), 'the kernel filled in the checksum');

    await B.probe.call('leave', { sock: rx.sock, group, ifindex: B.ifindex });
    await B.probe.call('leave', { sock: rx.sock, group, ifindex: B.ifindex }); // not joined: no-op
    await send(neighborSolicitation('2001:db8::99')); // 24 bytes: must never arrive
    await sleep(300);
    await B.probe.call('join', { sock: rx.sock, group, ifindex: B.ifindex });
    await send(withSlla); // and this one again, proving the socket still works
    await B.probe.waitFor((e) => e.sock === rx.sock && e.ev === 'msg' && e !== m);
    await sleep(100);
    assert.deepEqual(B.probe.of(rx.sock, 'msg').map((e) => e.hex!.length / 2), [32, 32], 'nothing while not joined');
    assert.deepEqual(A.probe.of(echo.sock, 'msg'), [], 'IPV6_MULTICAST_LOOP is off');
    for (const [p, s] of [[A.probe, sender], [A.probe, echo], [B.probe, rx]] as const) await p.call('close', { sock: s.sock });
  });

  test('kernel behaviour: a unicast NS to a non-local address reaches only an AF_PACKET socket, not the ICMPv6 one', async (t) => {
    if (!lab(t)) return;
    // NUD probes are unicast to the address itself. The IP stack drops them when the address is not local (and
    // forwarding is off) before any raw socket sees them; the announcer needs an 0x86dd packet socket for them.
    const rx = await B.probe.call<Opened>('openIcmp6', { listen: true });
    await B.probe.call('join', { sock: rx.sock, group, ifindex: B.ifindex });
    const pkt = await B.probe.call<Opened>('openPacket', { ifname: 'veth1', ethertype: IPV6 });
    const tx = await A.probe.call<Opened>('openPacket', { ifname: 'veth0', ethertype: IPV6 });
    const frame = nsFrame(A.mac, B.mac, A.linkLocal, '2001:db8::99', '2001:db8::99');
    await A.probe.call('packetSend', { sock: tx.sock, hex: frame.toString('hex') });
    const seen = await B.probe.waitFor((e) => e.sock === pkt.sock && e.ev === 'frame' && e.hex === frame.toString('hex'));
    assert.ok(seen);
    // the same NS to B's own address does reach the ICMPv6 socket: the socket works, the target was the issue
    const own = nsFrame(A.mac, B.mac, A.linkLocal, '2001:db8::2', '2001:db8::99');
    await A.probe.call('packetSend', { sock: tx.sock, hex: own.toString('hex') });
    const m = await B.probe.waitFor((e) => e.sock === rx.sock && e.ev === 'msg');
    assert.equal(m.hex, own.subarray(54).toString('hex'));
    assert.equal(B.probe.of(rx.sock, 'msg').length, 1, 'the unicast NS to 2001:db8::99 never reached the ICMPv6 socket');
    await A.probe.call('close', { sock: tx.sock });
    for (const s of [rx, pkt]) await B.probe.call('close', { sock: s.sock });
  });
});

describe('TCP-MD5', () => {
  test('setTcpMd5 sets and clears keys for IPv4 and IPv6 peers and rejects keys over 80 bytes', () => {
    const fd4 = native._testTcpSocket(4);
    const fd6 = native._testTcpSocket(6);
    const file = openSync('/dev/null', 'r');
    try {
      native.setTcpMd5(fd4, '192.0.2.1', 'secret');
      native.setTcpMd5(fd4, '192.0.2.1', '');
      native.setTcpMd5(fd4, '192.0.2.1', ''); // clearing a key that is not there: no-op
      native.setTcpMd5(fd6, '2001:db8::1', 'k'.repeat(80));
      native.setTcpMd5(fd6, '192.0.2.1', 'secret'); // v4-mapped on an IPv6 socket
      native.setTcpMd5(fd6, '2001:db8::1', '');
      assert.throws(() => { native.setTcpMd5(fd4, '192.0.2.1', 'k'.repeat(81)); },
        { name: 'TypeError', message: 'TCP-MD5 key must be 0..80 bytes of UTF-8, got 81' });
      assert.throws(() => { native.setTcpMd5(fd4, '2001:db8::1', 'k'); }, { name: 'TypeError', message: /needs an AF_INET6 socket/ });
      assert.throws(() => { native.setTcpMd5(fd4, 'peer.example', 'k'); }, { name: 'TypeError', message: /not an IP address/ });
      assert.throws(() => { native.setTcpMd5(file, '192.0.2.1', 'k'); },
        (e: unknown) => e instanceof native.NativeError && e.code === 'ENOTSOCK' && e.syscall === 'getsockopt');
      assert.throws(() => { native.setTcpMd5(1_000_000, '192.0.2.1', 'k'); },
        (e: unknown) => e instanceof native.NativeError && e.errno === 9 && e.message === 'getsockopt(TCP_MD5SIG 192.0.2.1): Bad file descriptor');
    } finally {
      for (const fd of [fd4, fd6, file]) closeSync(fd);
    }
  });

  for (const host of ['192.0.2.1', '2001:db8::1']) {
    test(`the key takes effect (${host}): unsigned SYNs are ignored, signed ones and unsigned after clearing connect`, async (t) => {
      if (!lab(t)) return;
      assert.deepEqual(await A.probe.call('md5', { host, key: 'bgp-s3cret' }), { unsignedWithKey: false, signed: true, unsignedCleared: true });
    });
  }
});

describe('errors in this process', () => {
  test('NativeError carries errno, syscall and code; TypeError for a non-function callback', () => {
    assert.throws(() => native.openPacketSocket('nosuch0', ARP, () => undefined), (e: unknown) => {
      assert.ok(e instanceof native.NativeError && e instanceof Error);
      assert.deepEqual([e.name, e.errno, e.code, e.syscall, e.message], ['NativeError', 19, 'ENODEV', 'if_nametoindex', 'if_nametoindex(nosuch0): No such device']);
      return true;
    });
    assert.throws(() => native.openPacketSocket('nosuch0', ARP, 5 as never), { name: 'TypeError', message: 'onFrame must be a function' });
  });
});

describe('BGP socket options (loopback, this process)', () => {
  test('a tcpConnect callback that throws is caught and counted, never fatal', async () => {
    const { createServer } = await import('node:net');
    const server = createServer((c) => { c.destroy(); });
    await new Promise<void>((r) => { server.listen(0, '127.0.0.1', r); });
    try {
      const port = (server.address() as { port: number }).port;
      const before = native.nativeCallbackErrors();
      const fd = native.tcpSocket(4, '127.0.0.1', 64);
      let called = false;
      native.tcpConnect(fd, '127.0.0.1', port, () => { called = true; throw new Error('callback threw on purpose'); });
      for (let i = 0; i < 500 && native.nativeCallbackErrors() === before; i++) await sleep(5);
      closeSync(fd);
      assert.equal(called, true);
      assert.equal(native.nativeCallbackErrors(), before + 1);
    } finally {
      server.close();
    }
  });

  test('tcpConnect when libuv cannot poll the fd: a NativeError, no callback, no abort (uv_close on a never-initialised handle did abort)', async () => {
    // a bound UDP socket's fd is already watched by the loop: connect() on it succeeds, uv_poll_init_socket says EEXIST
    const dgram = await import('node:dgram');
    const u = dgram.createSocket('udp4');
    await new Promise<void>((r) => { u.bind(0, '127.0.0.1', r); });
    try {
      const fd = (u as unknown as { _handle: { fd: number } })._handle.fd;
      let called = false;
      assert.throws(() => native.tcpConnect(fd, '127.0.0.1', 9, () => { called = true; }),
        (e: unknown) => e instanceof native.NativeError && e.syscall === 'uv_poll_init_socket' && e.code === 'EEXIST');
      await sleep(100);
      assert.equal(called, false, 'no callback for an attempt that never started');
    } finally {
      u.close();
    }
  });

  test('setTtl / setMinTtl (GTSM, RFC 5082) on IPv4 and IPv6 sockets read back as set; out-of-range is a TypeError', () => {
    for (const fam of [4, 6] as const) {
      const fd = native.tcpSocket(fam, undefined, 1);
      try {
        assert.deepEqual(native.getTtl(fd), { ttl: 1, minTtl: 0 }, `IPv${fam}: TTL from tcpSocket, no minimum`);
        native.setTtl(fd, 255);
        native.setMinTtl(fd, 254);
        assert.deepEqual(native.getTtl(fd), { ttl: 255, minTtl: 254 }, `IPv${fam}`);
        assert.throws(() => { native.setMinTtl(fd, 256); }, TypeError);
        assert.throws(() => { native.setTtl(fd, 0); }, TypeError);
      } finally {
        closeSync(fd);
      }
    }
  });
});

describe('no fd leaks', () => {
  for (const kind of ['packet', 'icmp6'] as const) {
    test(`1,000 open/close cycles of ${kind} sockets leave /proc/self/fd unchanged`, { timeout: 180_000 }, async (t) => {
      if (!lab(t)) return;
      // each AF_PACKET close() waits for an RCU grace period in the kernel (~15 ms here), hence the long timeout
      const r = await B.probe.call<{ before: string[]; afterLoop: string[]; after: string[] }>('cycle',
        { kind, n: 1000, ifname: 'veth1', ifindex: B.ifindex });
      assert.deepEqual(r.afterLoop, r.before, 'right after the loop');
      assert.deepEqual(r.after, r.before, 'after close callbacks and GC');
    });
  }
});
