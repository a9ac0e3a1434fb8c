import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { FakeClock } from '../clock.ts';
import { PendingReason, TAKEOVER_DEFAULTS, Takeover, type ProbeResult, type TakeoverOptions, type TakeoverPorts } from './takeover.ts';
import type { L2Claim, L2Owner, MemberState, MemberView } from './types.ts';

const IP = '192.0.2.10';
const IP6 = '2001:db8::10';
const MAC = { a: '02:00:00:00:00:0a', b: '02:00:00:00:00:0b', c: '02:00:00:00:00:0c' } as const;
const FOREIGN = '02:ff:00:00:00:01';

function claim(ip: string, interfaces: readonly string[] = ['eth0'], outrankedBySuspects: readonly string[] = []): L2Claim {
  return { ip, interfaces, services: ['default/svc'], outrankedBySuspects };
}

function claims(...cs: L2Claim[]): Map<string, L2Claim> {
  return new Map(cs.map((c) => [c.ip, c]));
}

function members(states: Record<string, MemberState>): Map<string, MemberView> {
  return new Map(Object.entries(states).map(([n, state]) => [n, { state, interfaces: [] }]));
}

type ProbeImpl = (ip: string, interfaces: readonly string[], windowMs: number) => Promise<ProbeResult>;

/**
 * Node `a`'s engine on a FakeClock with recording fake ports. `occupants` is the fake LAN: the probe resolves after
 * its window with the MACs listed for the IP at that moment.
 */
function setup(over: Partial<TakeoverOptions> & { probe?: ProbeImpl; winner?: string } = {}) {
  const clock = new FakeClock();
  const calls: string[] = [];
  const probes: { ip: string; interfaces: readonly string[]; windowMs: number; at: number }[] = [];
  const occupants = new Map<string, string[]>();
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, new Writable({
    write(chunk: Buffer, _enc, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb(); },
  }));
  const macOwners = new Map<string, string>([[MAC.a, 'a'], [MAC.b, 'b'], [MAC.c, 'c']]);
  const defaultProbe: ProbeImpl = (ip, _ifs, windowMs) => new Promise((resolve) => {
    clock.setTimeout(() => {
      const macs = occupants.get(ip) ?? [];
      resolve({ free: macs.length === 0, macs });
    }, windowMs);
  });
  const probeImpl = over.probe ?? defaultProbe;
  const ports: TakeoverPorts = {
    answer: (ip, ifs, from) => { calls.push(`answer ${ip} ${ifs.join(',')}${from === undefined ? '' : ` from ${from}`} @${clock.now()}`); },
    release: (ip) => { calls.push(`release ${ip} @${clock.now()}`); },
    announce: (ip) => { calls.push(`announce ${ip} @${clock.now()}`); },
    probe: (ip, ifs, windowMs) => { probes.push({ ip, interfaces: ifs, windowMs, at: clock.now() }); return probeImpl(ip, ifs, windowMs); },
    macOwner: (mac) => macOwners.get(mac),
  };
  const winner = over.winner;
  const t = new Takeover({
    node: 'a', ports, clock, log,
    duelWinner: (_ip, x, y) => winner ?? (x < y ? x : y),
    ...over,
  });
  /** Advances in 1 ms steps so promise callbacks run at the time they are due. */
  const advance = (ms: number): Promise<void> => clock.advanceAsync(ms, 1);
  return { t, clock, calls, probes, occupants, lines, advance, ports };
}

describe('Takeover: taking a claimed IP', () => {
  test('a new claim with no suspects is probed at once and answered when the probe finds it free', async () => {
    const { t, calls, probes, advance } = setup();
    t.apply(claims(claim(IP)), members({ a: 'alive' }));
    assert.deepEqual(probes, [{ ip: IP, interfaces: ['eth0'], windowMs: TAKEOVER_DEFAULTS.probeWindowMs, at: 0 }]);
    assert.deepEqual(calls, [], 'nothing answered before the probe window is over');
    assert.equal(t.state().pending.get(IP)?.reason, PendingReason.Probing);
    await advance(149);
    assert.deepEqual(calls, []);
    await advance(1);
    assert.deepEqual(calls, [`answer ${IP} eth0 @150`]);
    assert.deepEqual([...t.state().answering], [[IP, ['eth0']]]);
    assert.deepEqual([...t.answering()], [[IP, ['eth0']]]);
    assert.equal(t.state().pending.size, 0);
    assert.equal(t.stats.takeovers, 1);
    assert.equal(t.stats.probes, 1);
  });

  test('an IP we answer and still claim: applying again does nothing', async () => {
    const { t, calls, probes, clock, advance } = setup();
    t.apply(claims(claim(IP)), members({ a: 'alive' }));
    await advance(200);
    for (let i = 0; i < 5; i++) { t.apply(claims(claim(IP)), members({ a: 'alive', b: 'suspect' })); await advance(500); }
    assert.deepEqual(calls, [`answer ${IP} eth0 @150`]);
    assert.equal(probes.length, 1);
    assert.equal(clock.pending(), 0, 'no timer left while answering');
  });

  test('an IP we answer and no longer claim is released at once, with no timer left', async () => {
    const { t, calls, clock, advance } = setup();
    t.apply(claims(claim(IP), claim(IP6)), members({ a: 'alive' }));
    await advance(200);
    t.apply(claims(claim(IP6)), members({ a: 'alive' }));
    assert.deepEqual(calls.slice(2), [`release ${IP} @200`]);
    assert.deepEqual([...t.state().answering.keys()], [IP6]);
    assert.deepEqual([...t.answering().keys()], [IP6]);
    t.apply(new Map(), members({ a: 'alive' }));
    assert.deepEqual(calls.slice(3), [`release ${IP6} @200`]);
    assert.equal(t.answering().size, 0);
    assert.equal(clock.pending(), 0);
    assert.equal(t.stats.releases, 2);
  });

  test('the claim\'s interfaces change: answer() is called again with the new set, no probe', async () => {
    const { t, calls, probes, advance } = setup();
    t.apply(claims(claim(IP, ['eth0'])), members({ a: 'alive' }));
    await advance(200);
    t.apply(claims(claim(IP, ['eth0', 'eth1'])), members({ a: 'alive' }));
    assert.deepEqual(calls, [`answer ${IP} eth0 @150`, `answer ${IP} eth0,eth1 @200`]);
    assert.equal(probes.length, 1);
  });

  test('someone answers: the IP stays pending and is probed again every reprobeMs until free', async () => {
    const { t, calls, probes, occupants, advance } = setup();
    occupants.set(IP, [MAC.b]);
    t.apply(claims(claim(IP)), members({ a: 'alive', b: 'alive' }));
    await advance(150);
    assert.deepEqual(calls, []);
    const p = t.state().pending.get(IP);
    assert.equal(p?.reason, PendingReason.Occupied);
    assert.deepEqual(p.macs, [MAC.b]);
    assert.equal(p.since, 0);
    await advance(1000); // probes at 450, 900 (each 150 ms long, then 300 ms pause)
    assert.deepEqual(probes.map((x) => x.at), [0, 450, 900]);
    assert.deepEqual(calls, [], 'an owner that still answers keeps the IP');
    occupants.delete(IP);
    await advance(500); // probe at 1350 is free → answered at 1500
    assert.deepEqual(calls, [`answer ${IP} eth0 @1500`]);
    assert.equal(t.stats.probeConflicts, 3);
  });

  test('the claim goes away while pending: no answer later, no timer left, a late probe result is ignored', async () => {
    let resolveProbe: ((r: ProbeResult) => void) | undefined;
    const { t, calls, clock, advance } = setup({ probe: () => new Promise((r) => { resolveProbe = r; }) });
    t.apply(claims(claim(IP)), members({ a: 'alive' }));
    await advance(50);
    t.apply(new Map(), members({ a: 'alive' }));
    assert.equal(clock.pending(), 0, 'the probe guard timer is cancelled');
    resolveProbe?.({ free: true, macs: [] });
    await advance(1000);
    assert.deepEqual(calls, []);
    assert.equal(t.state().pending.size, 0);
  });

  test('outranked by suspects: waits suspectStepMs per suspect, then probes, then answers', async () => {
    const { t, calls, probes, advance } = setup();
    t.apply(claims(claim(IP, ['eth0'], ['b', 'c'])), members({ a: 'alive', b: 'suspect', c: 'suspect' }));
    assert.equal(t.state().pending.get(IP)?.reason, PendingReason.OutrankedBySuspects);
    await advance(299);
    assert.equal(probes.length, 0);
    await advance(1);
    assert.deepEqual(probes.map((p) => p.at), [300]);
    await advance(200);
    assert.deepEqual(calls, [`answer ${IP} eth0 @450`]);
  });

  test('a suspect that answers keeps the IP (heartbeat partition: the data plane decides)', async () => {
    const { t, calls, occupants, advance } = setup();
    occupants.set(IP, [MAC.b]);
    t.apply(claims(claim(IP, ['eth0'], ['b'])), members({ a: 'alive', b: 'suspect' }));
    await advance(5000);
    assert.deepEqual(calls, []);
    assert.equal(t.state().pending.get(IP)?.reason, PendingReason.Occupied);
  });

  test('the suspect count drops while waiting: the wait is shortened (measured from its start)', async () => {
    const { t, probes, advance } = setup();
    t.apply(claims(claim(IP, ['eth0'], ['b', 'c'])), members({ a: 'alive', b: 'suspect', c: 'suspect' }));
    await advance(100);
    t.apply(claims(claim(IP, ['eth0'], ['b'])), members({ a: 'alive', b: 'suspect' }));
    await advance(49);
    assert.equal(probes.length, 0);
    await advance(1);
    assert.deepEqual(probes.map((p) => p.at), [150]);
    t.apply(claims(claim(IP, ['eth0'], [])), members({ a: 'alive' }));
    assert.equal(probes.length, 1, 'a probe in flight is not restarted');
  });

  test('leaving previous owner: shortened probe window and its MAC is not a conflict', async () => {
    const { t, calls, probes, occupants, advance } = setup();
    const owners = new Map<string, L2Owner>([[IP, { owner: 'b', services: ['default/svc'] }]]);
    t.apply(new Map(), members({ a: 'alive', b: 'alive' }), owners);
    occupants.set(IP, [MAC.b]); // b still answers while it hands over
    t.apply(claims(claim(IP)), members({ a: 'alive', b: 'leaving' }), new Map([[IP, { owner: 'a', services: [] }]]));
    assert.equal(probes[0]?.windowMs, TAKEOVER_DEFAULTS.leavingProbeWindowMs);
    await advance(50);
    assert.deepEqual(calls, [`answer ${IP} eth0 from b @50`], 'taken from the leaving b: the daemon hands its connections off to it');
  });

  test('leaving previous owner, but a third speaker answers: not taken', async () => {
    const { t, calls, occupants, advance } = setup();
    t.apply(new Map(), members({ a: 'alive', b: 'alive' }), new Map([[IP, { owner: 'b', services: [] }]]));
    occupants.set(IP, [MAC.b, MAC.c]);
    t.apply(claims(claim(IP)), members({ a: 'alive', b: 'leaving', c: 'alive' }));
    await advance(1000);
    assert.deepEqual(calls, []);
    assert.deepEqual(t.state().pending.get(IP)?.macs, [MAC.c]);
  });

  test('an occupant that turns leaving is probed again at once, not at the next re-probe', async () => {
    const { t, calls, probes, occupants, advance } = setup();
    occupants.set(IP, [MAC.b]);
    t.apply(claims(claim(IP)), members({ a: 'alive', b: 'alive' }));
    await advance(160);
    t.apply(claims(claim(IP)), members({ a: 'alive', b: 'leaving' }));
    assert.deepEqual(probes.map((p) => p.at), [0, 160]);
    await advance(150);
    assert.deepEqual(calls, [`answer ${IP} eth0 from b @310`], 'the leaving occupant (not the plan) names where we take it from');
  });

  test('taken from a speaker that is not leaving (crashed, or nobody): no hand-off source', async () => {
    const { t, calls, advance } = setup();
    t.apply(new Map(), members({ a: 'alive', b: 'alive' }), new Map([[IP, { owner: 'b', services: [] }]]));
    t.apply(claims(claim(IP)), members({ a: 'alive', b: 'suspect' }), new Map([[IP, { owner: 'a', services: [] }]]));
    await advance(TAKEOVER_DEFAULTS.probeWindowMs + 200);
    assert.deepEqual(calls.map((c) => c.replace(/ @\d+$/, '')), [`answer ${IP} eth0`]);
  });

  test('a claim seen while the probe is in flight makes it not free', async () => {
    const { t, calls, advance } = setup();
    t.apply(claims(claim(IP)), members({ a: 'alive', b: 'alive' }));
    await advance(100);
    t.claimSeen(IP, MAC.b); // b started answering (its gratuitous ARP) after our probe requests went out
    await advance(50);
    assert.deepEqual(calls, []);
    assert.equal(t.state().pending.get(IP)?.reason, PendingReason.Occupied);
    assert.deepEqual(t.state().pending.get(IP)?.macs, [MAC.b]);
  });
});

describe('Takeover: duels and conflicts', () => {
  async function answering(over: Parameters<typeof setup>[0] = {}) {
    const s = setup(over);
    s.t.apply(claims(claim(IP)), members({ a: 'alive', b: 'alive', c: 'suspect' }));
    await s.advance(150);
    assert.deepEqual(s.calls, [`answer ${IP} eth0 @150`]);
    return s;
  }

  test('duel lost: release at once, stay pending, re-probe, answer again when the winner vanishes', async () => {
    const { t, calls, occupants, advance } = await answering({ winner: 'b' });
    occupants.set(IP, [MAC.b]);
    t.claimSeen(IP, MAC.b);
    assert.deepEqual(calls.slice(1), [`release ${IP} @150`]);
    assert.equal(t.stats.duelsLost, 1);
    assert.equal(t.state().pending.get(IP)?.reason, PendingReason.DuelLost);
    await advance(1000);
    assert.equal(calls.length, 2, 'b still answers: we stay out');
    assert.equal(t.state().pending.get(IP)?.reason, PendingReason.DuelLost);
    occupants.delete(IP);
    await advance(450);
    assert.equal(calls.length, 3);
    assert.match(calls[2]!, /^answer 192\.0\.2\.10 eth0 @/);
  });

  test('duel won: keep answering and re-announce (at most once per duelAnnounceMs)', async () => {
    const { t, calls, lines, advance } = await answering({ winner: 'a' });
    await advance(100);
    t.claimSeen(IP, MAC.b);
    t.claimSeen(IP, MAC.b);
    assert.deepEqual(calls.slice(1), [`announce ${IP} @250`]);
    await advance(100);
    t.claimSeen(IP, MAC.c); // a suspect answering is a duel too
    assert.deepEqual(calls.slice(1), [`announce ${IP} @250`, `announce ${IP} @350`]);
    assert.equal(t.stats.duelsWon, 3);
    assert.equal(t.state().answering.size, 1);
    assert.equal(lines.filter((l) => l.event === 'l2-duel-won').length, 1, 'logged once per warnIntervalMs');
  });

  test('a duel is decided by duelWinner with us first and the other speaker second', async () => {
    const seen: string[] = [];
    const { t } = await answering({ duelWinner: (ip, x, y) => { seen.push(`${ip} ${x} ${y}`); return x; } });
    t.claimSeen(IP, MAC.b);
    assert.deepEqual(seen, [`${IP} a b`]);
  });

  test('a claim by a leaving speaker is no duel (it hands over to us); our own MAC is ignored', async () => {
    const { t, calls } = await answering({ winner: 'b' });
    t.apply(claims(claim(IP)), members({ a: 'alive', b: 'leaving' }));
    t.claimSeen(IP, MAC.b);
    t.claimSeen(IP, MAC.a);
    assert.deepEqual(calls, [`answer ${IP} eth0 @150`]);
    assert.equal(t.stats.duelsLost + t.stats.duelsWon, 0);
  });

  test('a foreign MAC: keep answering, defend once per defendIntervalMs, count every claim, log rate-limited', async () => {
    const { t, calls, lines, advance } = await answering({ winner: 'b' });
    for (let i = 0; i < 20; i++) { t.claimSeen(IP, FOREIGN); await advance(100); }
    assert.equal(t.stats.foreignConflicts, 20);
    assert.deepEqual(calls, [`answer ${IP} eth0 @150`, `announce ${IP} @150`], 'defended once in the first 10 s');
    assert.equal(lines.filter((l) => l.event === 'l2-foreign-conflict').length, 1);
    await advance(10_000);
    t.claimSeen(IP, FOREIGN);
    assert.equal(calls.length, 3);
    const logged = lines.filter((l) => l.event === 'l2-foreign-conflict');
    assert.equal(logged.length, 2);
    assert.equal(logged[1]?.suppressed, 19);
    assert.equal(t.state().answering.size, 1);
  });

  test('claimSeen for an IP we know nothing about is ignored', () => {
    const { t, calls } = setup();
    t.claimSeen(IP, MAC.b);
    t.claimSeen('not an ip', FOREIGN);
    assert.deepEqual(calls, []);
  });
});

describe('Takeover: carrier', () => {
  test('carrier down: IPs answered only there are released at once; carrier up: nothing until apply', async () => {
    const { t, calls, probes, clock, advance } = setup();
    t.apply(claims(claim(IP, ['eth0']), claim(IP6, ['eth1'])), members({ a: 'alive' }));
    await advance(150);
    t.carrier('eth0', false);
    assert.deepEqual(calls.slice(2), [`release ${IP} @150`]);
    assert.equal(t.state().pending.get(IP)?.reason, PendingReason.CarrierDown);
    assert.deepEqual([...t.state().answering.keys()], [IP6]);
    t.apply(claims(claim(IP, ['eth0']), claim(IP6, ['eth1'])), members({ a: 'alive' }));
    await advance(500);
    assert.equal(probes.length, 2, 'a stale plan that still lists the downed interface takes nothing');
    t.carrier('eth0', true);
    await advance(500);
    assert.equal(calls.length, 3, 'carrier up alone takes nothing');
    assert.equal(clock.pending(), 0);
    t.apply(claims(claim(IP, ['eth0']), claim(IP6, ['eth1'])), members({ a: 'alive' }));
    assert.equal(probes.length, 3, 'the plan claims it again: probed before answering');
    await advance(150);
    assert.equal(calls[3], `answer ${IP} eth0 @1300`);
  });

  test('carrier down on one of two interfaces: keep answering on the other', async () => {
    const { t, calls, advance } = setup();
    t.apply(claims(claim(IP, ['eth0', 'eth1'])), members({ a: 'alive' }));
    await advance(150);
    t.carrier('eth1', false);
    assert.deepEqual(calls, [`answer ${IP} eth0,eth1 @150`, `answer ${IP} eth0 @150`]);
    t.carrier('eth1', true);
    t.apply(claims(claim(IP, ['eth0', 'eth1'])), members({ a: 'alive' }));
    assert.equal(calls[2], `answer ${IP} eth0,eth1 @150`);
  });

  test('carrier down while probing: the probe result is ignored', async () => {
    const { t, calls, advance } = setup();
    t.apply(claims(claim(IP, ['eth0'])), members({ a: 'alive' }));
    await advance(100);
    t.carrier('eth0', false);
    await advance(1000);
    assert.deepEqual(calls, []);
    assert.equal(t.state().pending.get(IP)?.reason, PendingReason.CarrierDown);
  });

  test('a new claim on a downed interface only waits', () => {
    const { t, probes, clock } = setup();
    t.carrier('eth0', false);
    t.apply(claims(claim(IP, ['eth0'])), members({ a: 'alive' }));
    assert.equal(probes.length, 0);
    assert.equal(clock.pending(), 0);
  });
});

describe('Takeover: handOver', () => {
  test('keeps answering until another speaker claims each IP, the rest until handOverMs; resolves then', async () => {
    const { t, calls, clock, advance } = setup();
    t.apply(claims(claim(IP), claim(IP6), claim('192.0.2.11')), members({ a: 'alive', b: 'alive' }));
    await advance(150);
    assert.equal(t.state().answering.size, 3);
    let done = false;
    void t.handOver().then(() => { done = true; });
    assert.equal(calls.filter((c) => c.startsWith('release')).length, 0, 'nothing released yet');
    assert.equal(t.state().handingOver, true);
    t.apply(new Map(), members({ a: 'leaving', b: 'alive' }));
    assert.equal(t.state().answering.size, 3, 'the plan dropping everything (we are leaving) changes nothing');
    await advance(100);
    t.claimSeen(IP, MAC.b);
    t.claimSeen(IP6, FOREIGN); // not a speaker: no handover, keep serving
    assert.deepEqual(calls.filter((c) => c.startsWith('release')), [`release ${IP} @250`]);
    await advance(100);
    t.claimSeen(IP6, MAC.c);
    assert.deepEqual(calls.filter((c) => c.startsWith('release')), [`release ${IP} @250`, `release ${IP6} @350`]);
    await advance(799);
    assert.equal(done, false);
    await advance(1);
    assert.deepEqual(calls.filter((c) => c.startsWith('release')).slice(2), ['release 192.0.2.11 @1150']);
    assert.equal(done, true);
    assert.equal(t.stats.handovers, 2);
    assert.equal(t.stats.handoverTimeouts, 1);
    assert.equal(clock.pending(), 0);
    assert.equal(t.handOver(), t.handOver(), 'the same promise');
  });

  test('resolves early when every IP was claimed by the new owners; pending IPs are dropped at once', async () => {
    const { t, calls, clock, occupants, advance } = setup();
    occupants.set(IP6, [MAC.b]);
    t.apply(claims(claim(IP), claim(IP6)), members({ a: 'alive', b: 'alive' }));
    await advance(150);
    let done = false;
    void t.handOver().then(() => { done = true; });
    assert.deepEqual([...t.state().pending.keys()], []);
    t.claimSeen(IP, MAC.c);
    await advance(1);
    assert.equal(done, true);
    assert.equal(clock.pending(), 0);
    await advance(2000);
    assert.deepEqual(calls, [`answer ${IP} eth0 @150`, `release ${IP} @150`]);
  });

  test('with nothing answered it resolves at once', async () => {
    const { t } = setup();
    await t.handOver();
    assert.equal(t.state().handingOver, true);
  });
});

describe('Takeover: failing ports never escape and never lead to answering blindly', () => {
  const failures: [string, ProbeImpl][] = [
    ['throws', () => { throw new Error('boom'); }],
    ['rejects', () => Promise.reject(new Error('boom'))],
    ['returns an error result', () => Promise.resolve({ free: true, macs: [], error: 'link down' })],
    ['says not free with no MAC', () => Promise.resolve({ free: false, macs: [] })],
    ['never settles', () => new Promise<ProbeResult>(() => undefined)],
  ];
  for (const [name, probe] of failures) {
    test(`a probe that ${name}: not taken, probed again later`, async () => {
      const { t, calls, probes, advance } = setup({ probe });
      t.apply(claims(claim(IP)), members({ a: 'alive' }));
      await advance(3000);
      assert.deepEqual(calls, []);
      assert.ok(probes.length >= 2, `probed again (${probes.length})`);
      assert.equal(t.state().pending.get(IP)?.reason === PendingReason.Occupied || t.state().pending.get(IP)?.reason === PendingReason.Probing, true);
    });
  }

  test('answer() throws: released to be safe, pending, retried', async () => {
    let fail = true;
    const s = setup();
    const { t, calls, advance } = s;
    const answer = s.ports.answer.bind(s.ports);
    s.ports.answer = (ip, ifs) => { if (fail) throw new Error('no link'); answer(ip, ifs); };
    t.apply(claims(claim(IP)), members({ a: 'alive' }));
    await advance(150);
    assert.deepEqual(calls, [`release ${IP} @150`]);
    assert.equal(t.state().pending.get(IP)?.reason, PendingReason.Occupied);
    assert.equal(t.stats.portErrors, 1);
    fail = false;
    await advance(450);
    assert.deepEqual(calls.slice(1), [`answer ${IP} eth0 @600`]);
  });

  test('answering() read from inside the answer/release ports already shows the change', async () => {
    const s = setup();
    const seen: string[] = [];
    s.ports.answer = (ip) => { seen.push(`answer ${ip}: ${JSON.stringify([...s.t.answering()])}`); };
    s.ports.release = (ip) => { seen.push(`release ${ip}: ${JSON.stringify([...s.t.answering()])}`); };
    s.t.apply(claims(claim(IP)), members({ a: 'alive' }));
    await s.advance(150);
    s.t.apply(new Map(), members({ a: 'alive' }));
    assert.deepEqual(seen, [`answer ${IP}: [["${IP}",["eth0"]]]`, `release ${IP}: []`]);
  });

  test('release() and announce() throwing are counted and the state still moves on', async () => {
    const s = setup({ winner: 'a' });
    s.ports.release = () => { throw new Error('gone'); };
    s.ports.announce = () => { throw new Error('gone'); };
    s.t.apply(claims(claim(IP)), members({ a: 'alive', b: 'alive' }));
    await s.advance(250); // past duelAnnounceMs since the gain (which announced already)
    s.t.claimSeen(IP, MAC.b);
    s.t.apply(new Map(), members({ a: 'alive' }));
    assert.equal(s.t.state().answering.size, 0);
    assert.equal(s.t.stats.portErrors, 2);
  });
});
