/**
 * Connection hand-off (src/speaker/handoff.ts) on real kernels, root only: a TCP connection the old owner serves
 * survives the client switching its neighbour entry to the new owner's MAC (what a gratuitous ARP/NA does), because
 * the new owner's nftables rules send the connection's segments on to the old owner. Without the rules the same
 * move resets the connection: the test shows both, so the mechanism (not luck) is what keeps it alive.
 *
 *   sw ─┬─ old   eth0 192.0.2.12 2001:db8:2::12   VIP on lo; server answers "served-by-old" after the 2nd line
 *       ├─ new   eth0 192.0.2.11 2001:db8:2::11   VIP on lo; server answers "served-by-new"; hand-off rules
 *       └─ client eth0 192.0.2.100 2001:db8:2::100 static neighbour entry for the VIP (old, then new MAC)
 */
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { after, before, describe, test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { realClock } from '../../src/clock.ts';
import { Handoff, execNft } from '../../src/speaker/handoff.ts';
import { Lab, netlabSkip } from './netns.ts';

const VIP = { v4: '192.0.2.200', v6: '2001:db8:2::200' } as const;
const ADDR = { old: { v4: '192.0.2.12', v6: '2001:db8:2::12' }, new: { v4: '192.0.2.11', v6: '2001:db8:2::11' } } as const;
const PORT = 8080;

// answers `name` once the client's second line arrives: the connection is mid-stream when the MAC flips
const SERVER = (name: string): string => `
const net = require('node:net');
const s = net.createServer((c) => {
  c.on('error', () => undefined);
  let lines = 0;
  c.on('data', (d) => { lines += String(d).split('\\n').length - 1; if (lines >= 2) c.end(${JSON.stringify(name)} + '\\n'); });
});
s.listen({ port: ${PORT}, host: '::', ipv6Only: false }, () => { console.log('ready'); });
`;

// one connection; stdin "send" writes the second line; prints JSON {answer} or {error}
const CLIENT = `
const net = require('node:net');
const c = net.connect({ host: process.argv[1], port: ${PORT} });
let got = '';
c.on('connect', () => { c.write('first\\n'); console.log(JSON.stringify({ connected: true })); });
c.on('data', (d) => { got += d; });
c.on('end', () => { console.log(JSON.stringify({ answer: got.trim() })); process.exit(0); });
c.on('error', (e) => { console.log(JSON.stringify({ error: e.code || e.message })); process.exit(0); });
c.setTimeout(4000, () => { console.log(JSON.stringify({ error: 'timeout' })); process.exit(0); });
process.stdin.on('data', () => { c.write('second\\n'); });
`;

let lab: Lab;
const mac: Record<'old' | 'new', string> = { old: '', new: '' };

function skip(t: TestContext): boolean {
  if (netlabSkip) t.skip(netlabSkip);
  return netlabSkip !== undefined;
}

function waitLine(c: ChildProcessWithoutNullStreams, pred: (l: string) => boolean, what: string, ms = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: c.stdout });
    const t = setTimeout(() => { rl.close(); reject(new Error(`${what}: nothing within ${ms} ms`)); }, ms);
    rl.on('line', (l) => { if (pred(l)) { clearTimeout(t); rl.close(); resolve(l); } });
  });
}

before(async () => {
  if (netlabSkip) return;
  lab = new Lab('ho');
  lab.addSwitch('sw');
  for (const [name, a] of [['old', ADDR.old], ['new', ADDR.new]] as const) {
    mac[name] = lab.addHost(name, 'sw', [`${a.v4}/24`, `${a.v6}/64`]).mac;
    for (const scope of ['all', 'eth0']) { // the VIP is on lo; only a speaker would answer ARP for it
      lab.sysctl(name, `net.ipv4.conf.${scope}.arp_ignore`, '1');
      lab.sysctl(name, `net.ipv4.conf.${scope}.arp_announce`, '2');
    }
    lab.ip(name, 'addr', 'add', `${VIP.v4}/32`, 'dev', 'lo');
    lab.ip(name, 'addr', 'add', `${VIP.v6}/128`, 'dev', 'lo', 'nodad');
    const srv = lab.start(name, process.execPath, ['-e', SERVER(`served-by-${name}`)]);
    await waitLine(srv, (l) => l === 'ready', `server in ${name}`);
  }
  lab.addHost('client', 'sw', ['192.0.2.100/24', '2001:db8:2::100/64']);
}, { timeout: 60_000 });

after(() => { lab?.destroySync(); }); // eslint-disable-line @typescript-eslint/no-unnecessary-condition -- undefined when skipped

/** Opens a connection to the VIP through `old`, flips the client's neighbour entry to `new`, finishes the request. */
async function moveMidStream(family: 'v4' | 'v6', beforeFlip: () => Promise<void> = () => Promise.resolve()): Promise<{ answer?: string; error?: string }> {
  const vip = VIP[family];
  const neigh = (to: 'old' | 'new'): void => {
    lab.ip('client', ...(family === 'v6' ? ['-6'] : []), 'neigh', 'replace', vip, 'lladdr', mac[to], 'dev', 'eth0', 'nud', 'permanent');
  };
  neigh('old');
  const c = lab.start('client', process.execPath, ['-e', CLIENT, vip]);
  const result = waitLine(c, (l) => l.includes('"answer"') || l.includes('"error"'), 'client result');
  await waitLine(c, (l) => l.includes('"connected"'), 'client connected');
  await beforeFlip();
  neigh('new'); // the gratuitous ARP/NA of the new owner, as far as this client is concerned
  c.stdin.write('go\n');
  return JSON.parse(await result) as { answer?: string; error?: string };
}

describe('connection hand-off', { timeout: 60_000 }, () => {
  for (const family of ['v4', 'v6'] as const) {
    test(`${family}: without hand-off the new owner resets a connection the old owner served (the failure being fixed)`, async (t) => {
      if (skip(t)) return;
      const r = await moveMidStream(family);
      assert.ok(r.error !== undefined, `expected a reset, got ${JSON.stringify(r)}`);
    });

    test(`${family}: with hand-off the old owner finishes it; a new connection is served by the new owner`, async (t) => {
      if (skip(t)) return;
      const log = pino({ level: 'silent' }, new Writable({ write(_c, _e, cb) { cb(); } }));
      const h = new Handoff({ clock: realClock, log, run: execNft(['ip', 'netns', 'exec', lab.ns('new'), 'nft']), drainMs: 30_000 });
      try {
        const r = await moveMidStream(family, async () => {
          await h.forward(VIP[family], 'eth0', ADDR.old[family]);
          await waitNft(family, true); // resolved means applied: the table is there at once
        });
        assert.deepEqual(r, { answer: 'served-by-old' });
        assert.equal(h.stats.disabled, false);
        // the client now points at the new owner: a fresh connection is the new owner's (SYN is never forwarded)
        const c = lab.start('client', process.execPath, ['-e', CLIENT, VIP[family]]);
        const res = waitLine(c, (l) => l.includes('"answer"') || l.includes('"error"'), 'fresh client');
        await waitLine(c, (l) => l.includes('"connected"'), 'fresh connected');
        c.stdin.write('go\n');
        assert.deepEqual(JSON.parse(await res), { answer: 'served-by-new' });
      } finally {
        await h.close();
      }
      await waitNft(family, false);
    });
  }
});

/** Waits until the new owner's ruleset has (or no longer has) the hand-off table of the family. */
async function waitNft(family: 'v4' | 'v6', present: boolean): Promise<void> {
  const fam = family === 'v4' ? 'ip' : 'ip6';
  for (let i = 0; i < 100; i++) {
    const r = await lab.run('new', 'nft', ['list', 'tables']);
    if (r.stdout.includes(`table ${fam} baregate_handoff`) === present) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`hand-off table ${fam} ${present ? 'never appeared' : 'still there'}`);
}
