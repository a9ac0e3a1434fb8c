/**
 * BFD on real UDP sockets (src/bfd/socket.ts over the native addon) between two namespaces joined by a veth:
 * what is sent leaves with TTL 255 from a source port in 49152–65535, received TTLs are reported, and the
 * sessions drop (and count) what arrives with too low a TTL: below 255 single hop (RFC 5881 §5), below
 * minimumTtl multihop (RFC 5883 §5). Other senders are plain Node dgram sockets with a chosen TTL.
 *
 * Node cannot enter a namespace, so this file doubles as the agent run inside one (with `--bfd-socket-agent`):
 * JSON-lines commands on stdin, `{ ctl: ... }` replies on stdout; it exits when stdin ends.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { BfdState, encodeControl } from '../../src/bfd/codec.ts';
import { BfdSessions, type BfdSessionSpec } from '../../src/bfd/sessions.ts';
import { SOURCE_PORTS, udpTransport } from '../../src/bfd/socket.ts';
import { realClock } from '../../src/clock.ts';
import type { BFDProfileConfig } from '../../src/config/types.ts';
import { openUdpSocket, type UdpSocket } from '../../src/native/index.ts';
import { Control, Lab, netlabSkip } from './netns.ts';

const SELF = fileURLToPath(import.meta.url);
const AGENT_FLAG = '--bfd-socket-agent';
const A4 = '198.51.100.1', B4 = '198.51.100.2', A6 = '2001:db8::1', B6 = '2001:db8::2';
/** A port no BFD socket uses, for a plain listener that reports source ports. */
const RAW_PORT = 40000;

const profile = (minimumTtl = 254): BFDProfileConfig => ({
  name: 'p', receiveIntervalMs: 50, transmitIntervalMs: 50, detectMultiplier: 5, passive: false, minimumTtl, waitForUp: false,
});

// ───────────────────────────── the agent (inside a namespace) ─────────────────────────────

async function agent(): Promise<void> {
  const { createInterface } = await import('node:readline');
  const log = pino({ level: 'warn' }, process.stderr);
  const transport = udpTransport(log);
  const reply = (o: object): void => { process.stdout.write(`${JSON.stringify({ ctl: true, ...o })}\n`); };
  let sessions: BfdSessions | undefined;
  const raws: UdpSocket[] = [];
  const heard: { src: string; srcPort: number; ttl: number }[] = [];
  const senders: { send(dst: string, port: number, payload: Buffer): void; close(): void }[] = [];
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const c = JSON.parse(line) as Record<string, unknown>;
    try {
      switch (c.op) {
        case 'sessions': // BfdSessions on the real transport and clock
          sessions ??= new BfdSessions({ transport, clock: realClock, log });
          sessions.setSessions(c.specs as BfdSessionSpec[]);
          reply({ ok: true });
          break;
        case 'stats':
          reply({ ok: true, stats: sessions?.stats() ?? [], dropped: sessions?.dropped ?? {} });
          break;
        case 'raw': // a plain UDP listener that reports each datagram's source and TTL
          raws.push(openUdpSocket({ family: c.family as 4 | 6, port: RAW_PORT, ttl: 64 }, (m) => { heard.push({ src: m.src, srcPort: m.srcPort, ttl: m.ttl }); }));
          reply({ ok: true });
          break;
        case 'heard':
          reply({ ok: true, heard: heard.splice(0) });
          break;
        case 'send': { // a session's sending socket, as the sessions get it
          const s = transport.sender(c.family as 4 | 6, c.local as string | undefined);
          senders.push(s);
          s.send(c.dst as string, Number(c.port), Buffer.from('bfd?'));
          reply({ ok: true });
          break;
        }
        default:
          reply({ ok: false, error: `unknown op ${String(c.op)}` });
      }
    } catch (e) {
      reply({ ok: false, error: String(e), code: (e as { code?: string }).code });
    }
  });
  rl.on('close', () => {
    sessions?.stop();
    for (const s of [...raws, ...senders]) s.close();
    process.exit(0);
  });
  reply({ ready: true });
}

// ───────────────────────────── the test ─────────────────────────────

if (process.argv.includes(AGENT_FLAG)) {
  await agent();
} else {
  tests();
}

/** A valid control packet (state Down, no remote discriminator yet) as a peer's first one would be. */
function firstPacket(myDiscriminator: number): Buffer {
  return encodeControl({
    diag: 0, state: BfdState.Down, poll: false, final: false, cpi: false, demand: false, detectMult: 3,
    myDiscriminator, yourDiscriminator: 0, desiredMinTxInterval: 1_000_000, requiredMinRxInterval: 1_000_000, requiredMinEchoRxInterval: 0,
  });
}

function tests(): void {
  let lab: Lab;
  const agents = new Map<string, Control>();

  const skip = (t: TestContext): boolean => {
    if (netlabSkip) t.skip(netlabSkip);
    return netlabSkip !== undefined;
  };

  async function call(ns: 'a' | 'b', cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    const r = await agents.get(ns)!.send(JSON.stringify(cmd));
    assert.equal(r.ok, true, `agent ${ns}: ${JSON.stringify(r)}`);
    return r;
  }
  interface Stats { stats: { peer: string; state: string; packetsReceived: number; packetsDropped: number }[]; dropped: Record<string, number> }
  const stats = async (ns: 'a' | 'b'): Promise<Stats> => (await call(ns, { op: 'stats' })) as unknown as Stats;
  /** Polls an agent until `pred` holds (a generous bound only against hanging: nothing here measures time). */
  async function until<T>(what: string, get: () => Promise<T>, pred: (v: T) => boolean): Promise<T> {
    let v = await get();
    for (let i = 0; i < 200 && !pred(v); i++) {
      await new Promise((r) => setTimeout(r, 50));
      v = await get();
    }
    assert.ok(pred(v), `${what}: ${JSON.stringify(v)}`);
    return v;
  }
  /** A plain Node dgram datagram from namespace `ns` with the given TTL (a small script under `ip netns exec`). */
  async function dgramSend(ns: 'a' | 'b', family: 4 | 6, src: string, dst: string, port: number, ttl: number, payload: Buffer): Promise<void> {
    const script = `
      const s = require('node:dgram').createSocket('udp${family}');
      s.bind(0, ${JSON.stringify(src)}, () => {
        s.setTTL(${ttl});
        s.send(Buffer.from(${JSON.stringify(payload.toString('hex'))}, 'hex'), ${port}, ${JSON.stringify(dst)}, (e) => { if (e) { console.error(e); process.exit(1); } s.close(); });
      });`;
    const r = await lab.run(ns, process.execPath, ['-e', script]);
    assert.equal(r.code, 0, `dgram sender in ${ns}: ${r.stderr}`);
  }

  before(async () => {
    if (netlabSkip) return;
    lab = new Lab('bfd');
    lab.addNamespace('a');
    lab.addNamespace('b');
    for (const n of ['a', 'b']) lab.sysctl(n, 'net.ipv6.conf.all.accept_dad', '0');
    lab.addLink('a', 'eth0', 'b', 'eth0');
    lab.ip('a', 'addr', 'add', `${A4}/24`, 'dev', 'eth0');
    lab.ip('b', 'addr', 'add', `${B4}/24`, 'dev', 'eth0');
    lab.ip('a', 'addr', 'add', `${A6}/64`, 'dev', 'eth0', 'nodad');
    lab.ip('b', 'addr', 'add', `${B6}/64`, 'dev', 'eth0', 'nodad');
    for (const n of ['a', 'b'] as const) {
      const c = new Control(lab.start(n, process.execPath, ['--import', 'tsx', SELF, AGENT_FLAG]));
      c.child.stderr.on('data', (d: Buffer) => process.stderr.write(`[agent ${n}] ${d.toString()}`));
      const ready = await c.next();
      assert.equal(ready.ready, true);
      agents.set(n, c);
    }
  });
  after(() => {
    for (const c of agents.values()) c.child.stdin.end();
    lab.destroySync();
  });

  const ttlDrops = async (ns: 'a' | 'b'): Promise<number> => (await stats(ns)).dropped.ttl ?? 0;
  const session = async (ns: 'a' | 'b'): Promise<Stats['stats'][number]> => {
    const [s] = (await stats(ns)).stats;
    assert.ok(s, `a session in ${ns}`);
    return s;
  };

  describe('BFD UDP sockets between two namespaces', () => {
    for (const [family, a, b] of [[4, A4, B4], [6, A6, B6]] as const) {
      test(`IPv${family}: a session's socket sends with TTL 255 from ${SOURCE_PORTS.min}–${SOURCE_PORTS.max}`, async (t) => {
        if (skip(t)) return;
        await call('b', { op: 'raw', family });
        for (let i = 0; i < 5; i++) await call('a', { op: 'send', family, local: a, dst: b, port: RAW_PORT });
        type Heard = { src: string; srcPort: number; ttl: number }[];
        const all: Heard = [];
        await until('5 datagrams heard', async () => { all.push(...((await call('b', { op: 'heard' })).heard as Heard)); return all.length; }, (n) => n >= 5);
        assert.equal(all.length, 5);
        for (const h of all) {
          assert.equal(h.src, a);
          assert.equal(h.ttl, 255);
          assert.ok(h.srcPort >= SOURCE_PORTS.min && h.srcPort <= SOURCE_PORTS.max, `source port ${h.srcPort}`);
        }
      });

      test(`IPv${family}: single-hop sessions on both ends come Up, nothing dropped for its TTL`, async (t) => {
        if (skip(t)) return;
        const before = [await ttlDrops('a'), await ttlDrops('b')];
        await call('a', { op: 'sessions', specs: [{ peer: 'b', peerAddress: b, localAddress: a, multihop: false, profile: profile() }] });
        await call('b', { op: 'sessions', specs: [{ peer: 'a', peerAddress: a, localAddress: b, multihop: false, profile: profile() }] });
        await until('a Up', () => session('a'), (s) => s.state === 'Up');
        await until('b Up', () => session('b'), (s) => s.state === 'Up');
        assert.deepEqual([await ttlDrops('a'), await ttlDrops('b')], before);
        assert.equal((await session('a')).packetsDropped, 0);
        assert.equal((await session('b')).packetsDropped, 0);
        await call('a', { op: 'sessions', specs: [] });
        await call('b', { op: 'sessions', specs: [] });
      });

      test(`IPv${family}: single hop drops (and counts) a packet sent with TTL 64, takes one with 255`, async (t) => {
        if (skip(t)) return;
        await call('b', { op: 'sessions', specs: [{ peer: 'a1', peerAddress: a, multihop: false, profile: profile() }] });
        const before = await ttlDrops('b');
        await dgramSend('a', family, a, b, 3784, 64, firstPacket(7));
        await until('TTL 64 dropped', () => ttlDrops('b'), (n) => n === before + 1);
        let s = await session('b');
        assert.equal(s.packetsDropped, 1);
        assert.equal(s.packetsReceived, 0);
        await dgramSend('a', family, a, b, 3784, 255, firstPacket(7));
        s = await until('TTL 255 taken', () => session('b'), (x) => x.packetsReceived === 1);
        assert.equal(s.packetsDropped, 1);
        assert.equal(await ttlDrops('b'), before + 1);
        await call('b', { op: 'sessions', specs: [] });
      });

      test(`IPv${family}: multihop (port 4784, minimumTtl 254) takes TTL 254 and drops 253`, async (t) => {
        if (skip(t)) return;
        await call('b', { op: 'sessions', specs: [{ peer: 'a2', peerAddress: a, multihop: true, profile: profile(254) }] });
        const before = await ttlDrops('b');
        await dgramSend('a', family, a, b, 4784, 253, firstPacket(9));
        await until('TTL 253 dropped', () => ttlDrops('b'), (n) => n === before + 1);
        assert.equal((await session('b')).packetsReceived, 0);
        await dgramSend('a', family, a, b, 4784, 254, firstPacket(9));
        const s = await until('TTL 254 taken', () => session('b'), (x) => x.packetsReceived === 1);
        assert.equal(s.packetsDropped, 1);
        assert.equal(await ttlDrops('b'), before + 1);
        await call('b', { op: 'sessions', specs: [] });
      });
    }
  });
}
