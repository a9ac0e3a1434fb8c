import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { pino } from 'pino';
import { parseSpeakerConfig } from './config.ts';
import { ScriptedPeer } from './scripted-peer.ts';
import { getTtl } from '../native/index.ts';
import { applyAcceptedTtl } from './dial.ts';
import { Speaker } from './speaker.ts';

const silent = pino({ level: 'silent' });

/** Waits for a condition on real sockets; the deadline only bounds a hang. */
async function until(what: string, fn: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function connect(port: number, localAddress = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host: '127.0.0.1', port, localAddress });
    c.once('connect', () => { resolve(c); });
    c.once('error', reject);
  });
}

test('real TCP listener: connections reset by the peer (RST) while the session is up never crash the process', async () => {
  const parsed = parseSpeakerConfig({
    routerID: '192.0.2.1', myASN: 64512, listenAddress: '127.0.0.1',
    peers: [{ name: 'lo', peerAddress: '127.0.0.1', peerASN: 64513, holdTime: 90, passive: true }], prefixes: [],
  });
  const sp = new Speaker({ config: { ...parsed, listenPort: 0 }, log: silent });
  await sp.start();
  try {
    const [where] = sp.listening();
    assert.ok(where);
    assert.equal(where.address, '127.0.0.1', 'bound to the configured address only');
    const first = new ScriptedPeer(await connect(where.port), { asn: 64513, id: '192.0.2.2' });
    first.open();
    first.keepalive();
    await until('Established', () => sp.stats()[0]?.state === 'Established');

    const rejected: Promise<void>[] = [];
    for (let i = 0; i < 5; i++) {
      const c = await connect(where.port);
      c.on('error', () => undefined);
      // RST at once, before the speaker's Cease can be read; and RST after reading the Cease
      if (i % 2 === 0) c.resetAndDestroy();
      else c.once('data', () => { c.resetAndDestroy(); });
      rejected.push(new Promise((r) => { c.once('close', () => { r(); }); }));
    }
    // a connection from an address that is no peer (127.0.0.2 is loopback too), reset as well
    const stranger = await connect(where.port, '127.0.0.2');
    stranger.on('error', () => undefined);
    stranger.resetAndDestroy();
    await Promise.all(rejected);
    await until('every collision counted', () => (sp.stats()[0]?.collisions ?? 0) >= 5);
    await new Promise((r) => setTimeout(r, 50)); // let any late 'error' surface: it would fail this test as uncaught
    const st = sp.stats()[0];
    assert.equal(st?.state, 'Established', 'the session survived');
    assert.equal(st.establishedCount, 1);
    assert.equal(first.notifications().length, 0, 'the live session was not touched');
    first.socket.destroy();
  } finally {
    sp.stop();
  }
});

test('accepted connections get the peer\'s TTL rules: TTL 1 for direct eBGP, 255 and minimum 255 with GTSM, 255 for iBGP', async () => {
  const cases = [
    { peer: { peerASN: 64513 }, want: { ttl: 1, minTtl: 0 } },
    { peer: { peerASN: 64513, ttlSecurityHops: 1 }, want: { ttl: 255, minTtl: 255 } },
    { peer: { peerASN: 64513, ttlSecurityHops: 3 }, want: { ttl: 255, minTtl: 253 } },
    { peer: { peerASN: 64512 }, want: { ttl: 255, minTtl: 0 } },
  ];
  for (const c of cases) {
    const parsed = parseSpeakerConfig({ routerID: '192.0.2.1', myASN: 64512, listenAddress: '127.0.0.1', peers: [{ name: 'lo', peerAddress: '127.0.0.1', passive: true, ...c.peer }], prefixes: [] });
    const seen: { ttl: number; minTtl: number }[] = [];
    const sp = new Speaker({
      config: { ...parsed, listenPort: 0 }, log: silent,
      acceptTtl: (s, ttl) => {
        const why = applyAcceptedTtl(s, ttl); // the real one, through the addon
        const fd = (s as unknown as { _handle: { fd: number } })._handle.fd;
        seen.push(getTtl(fd));
        return why;
      },
    });
    await sp.start();
    try {
      const c1 = await connect(sp.listening()[0]?.port ?? 0);
      await until('accepted', () => seen.length > 0);
      assert.deepEqual(seen, [c.want], JSON.stringify(c.peer));
      c1.destroy();
    } finally {
      sp.stop();
    }
  }
});
