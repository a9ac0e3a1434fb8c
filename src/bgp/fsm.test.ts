import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildOpen } from './codec.ts';
import fc from 'fast-check';
import { State, backoffSeconds, collisionKeepsCurrent, initialState, negotiate, transition, type FsmAction, type FsmConfig, type FsmEvent, type FsmState, type LocalOpen, type Negotiated, type StateName } from './fsm.ts';

const cfg: FsmConfig = { holdTime: 90, connectRetry: 1, maxConnectRetry: 30, passive: false };
const half = (): number => 0.5; // no jitter
const run = (s: FsmState, e: FsmEvent, c: FsmConfig = cfg): { s: FsmState; a: readonly FsmAction[] } => {
  const t = transition(s, e, c, half);
  return { s: t.state, a: t.actions };
};
const types = (a: readonly FsmAction[]): string[] => a.map((x) => (x.type === 'setTimer' || x.type === 'clearTimer' ? `${x.type}:${x.timer}` : x.type));
const neg: Negotiated = { holdTime: 9, keepaliveTime: 3, peerAsn: 64513, peerId: '192.0.2.2', fourOctetAS: true, extendedMessages: false, routeRefresh: true, families: [{ afi: 1, safi: 1 }], peerGracefulRestart: false };

function walk(events: FsmEvent[], c: FsmConfig = cfg): FsmState {
  let s = initialState;
  for (const e of events) s = run(s, e, c).s;
  return s;
}
const toEstablished: FsmEvent[] = [{ type: 'start' }, { type: 'tcpConnected' }, { type: 'open', result: neg }, { type: 'keepalive' }];

describe('connection setup', () => {
  test('Idle --start--> Connect: connect and arm connect-retry', () => {
    const { s, a } = run(initialState, { type: 'start' });
    assert.equal(s.state, State.Connect);
    assert.deepEqual(types(a), ['connect', 'setTimer:connectRetry']);
  });
  test('passive: Idle --start--> Active, no connect', () => {
    const { s, a } = run(initialState, { type: 'start' }, { ...cfg, passive: true });
    assert.equal(s.state, State.Active);
    assert.deepEqual(a, []);
    assert.equal(run(s, { type: 'timer', timer: 'connectRetry' }, { ...cfg, passive: true }).s.state, State.Active);
  });
  test('Connect --tcpConnected--> OpenSent: OPEN sent, 240 s hold timer', () => {
    const { s, a } = run(walk([{ type: 'start' }]), { type: 'tcpConnected' });
    assert.equal(s.state, State.OpenSent);
    assert.deepEqual(types(a), ['clearTimer:connectRetry', 'sendOpen', 'setTimer:hold']);
    assert.deepEqual(a[2], { type: 'setTimer', timer: 'hold', seconds: 240 });
  });
  test('Connect --tcpFailed--> Active with backoff; Active --connectRetry--> Connect', () => {
    const { s, a } = run(walk([{ type: 'start' }]), { type: 'tcpFailed', reason: 'refused' });
    assert.equal(s.state, State.Active);
    assert.deepEqual(types(a), ['disconnect', 'setTimer:connectRetry']);
    const back = run(s, { type: 'timer', timer: 'connectRetry' });
    assert.equal(back.s.state, State.Connect);
    assert.deepEqual(types(back.a), ['connect', 'setTimer:connectRetry']);
  });
  test('Connect --connectRetry--> retries the connection', () => {
    const { s, a } = run(walk([{ type: 'start' }]), { type: 'timer', timer: 'connectRetry' });
    assert.equal(s.state, State.Connect);
    assert.deepEqual(types(a), ['disconnect', 'connect', 'setTimer:connectRetry']);
  });
  test('Active --tcpConnected (incoming)--> OpenSent', () => {
    assert.equal(run(walk([{ type: 'start' }], { ...cfg, passive: true }), { type: 'tcpConnected' }, { ...cfg, passive: true }).s.state, State.OpenSent);
  });
  test('OpenSent --open--> OpenConfirm: KEEPALIVE sent, negotiated timers', () => {
    const { s, a } = run(walk([{ type: 'start' }, { type: 'tcpConnected' }]), { type: 'open', result: neg });
    assert.equal(s.state, State.OpenConfirm);
    assert.deepEqual(types(a), ['clearTimer:connectRetry', 'sendKeepalive', 'setTimer:hold', 'setTimer:keepalive']);
  });
  test('OpenSent --bad open--> NOTIFICATION and Idle with a retry', () => {
    const { s, a } = run(walk([{ type: 'start' }, { type: 'tcpConnected' }]), { type: 'open', result: { code: 2, subcode: 2, data: Buffer.alloc(0) } });
    assert.equal(s.state, State.Idle);
    assert.equal(s.stopped, false);
    assert.deepEqual(types(a).slice(0, 2), ['sendNotification', 'disconnect']);
    assert.equal(types(a).at(-1), 'setTimer:connectRetry');
    assert.equal(run(s, { type: 'timer', timer: 'connectRetry' }).s.state, State.Connect, 'Idle retries by itself after the backoff');
  });
  test('OpenConfirm --keepalive--> Established: table sent, failures reset', () => {
    const s0 = walk([{ type: 'start' }, { type: 'tcpFailed', reason: 'x' }, { type: 'timer', timer: 'connectRetry' }, { type: 'tcpConnected' }, { type: 'open', result: neg }]);
    assert.equal(s0.failures, 1);
    const { s, a } = run(s0, { type: 'keepalive' });
    assert.equal(s.state, State.Established);
    assert.equal(s.failures, 0);
    assert.deepEqual(types(a), ['setTimer:hold', 'established', 'sendTable']);
  });
  test('hold time 0: no hold or keepalive timers', () => {
    const { a } = run(walk([{ type: 'start' }, { type: 'tcpConnected' }]), { type: 'open', result: { ...neg, holdTime: 0, keepaliveTime: 0 } });
    assert.deepEqual(types(a), ['clearTimer:connectRetry', 'sendKeepalive', 'clearTimer:hold', 'clearTimer:keepalive']);
  });
});

describe('established session', () => {
  const est = walk(toEstablished);
  test('KEEPALIVE and UPDATE restart the hold timer; ROUTE-REFRESH resends the table of that family only', () => {
    assert.deepEqual(types(run(est, { type: 'keepalive' }).a), ['setTimer:hold']);
    assert.deepEqual(types(run(est, { type: 'update' }).a), ['setTimer:hold']);
    assert.deepEqual(run(est, { type: 'routeRefresh', afi: 1, safi: 1 }).a, [{ type: 'setTimer', timer: 'hold', seconds: 9 }, { type: 'sendTable', families: [{ afi: 1, safi: 1 }] }]);
    // RFC 2918 §4: a family that was not negotiated is ignored (neg has IPv4 unicast only)
    assert.deepEqual(types(run(est, { type: 'routeRefresh', afi: 2, safi: 1 }).a), ['setTimer:hold']);
    const both = walk([{ type: 'start' }, { type: 'tcpConnected' }, { type: 'open', result: { ...neg, families: [{ afi: 1, safi: 1 }, { afi: 2, safi: 1 }] } }, { type: 'keepalive' }]);
    assert.deepEqual(run(both, { type: 'routeRefresh', afi: 2, safi: 1 }).a.at(-1), { type: 'sendTable', families: [{ afi: 2, safi: 1 }] });
  });
  test('send hold timer (RFC 9687): NOTIFICATION 8/0, down, retry later', () => {
    const { s, a } = run(est, { type: 'timer', timer: 'sendHold' });
    assert.equal(s.state, State.Idle);
    assert.deepEqual(a[0], { type: 'sendNotification', notification: { code: 8, subcode: 0, data: Buffer.alloc(0) } });
    assert.ok(types(a).includes('disconnect') && types(a).includes('down'));
    assert.equal(types(a).at(-1), 'setTimer:connectRetry');
  });
  test('keepalive timer sends KEEPALIVE and re-arms', () => {
    assert.deepEqual(run(est, { type: 'timer', timer: 'keepalive' }).a, [{ type: 'sendKeepalive' }, { type: 'setTimer', timer: 'keepalive', seconds: 3 }]);
  });
  test('hold timer expiry: NOTIFICATION 4/0, down, retry later', () => {
    const { s, a } = run(est, { type: 'timer', timer: 'hold' });
    assert.equal(s.state, State.Idle);
    assert.deepEqual(a[0], { type: 'sendNotification', notification: { code: 4, subcode: 0, data: Buffer.alloc(0) } });
    assert.ok(types(a).includes('down'));
    assert.equal(types(a).at(-1), 'setTimer:connectRetry');
  });
  test('peer NOTIFICATION and TCP loss: down without sending anything', () => {
    for (const e of [{ type: 'notification', notification: { code: 6, subcode: 2, data: Buffer.alloc(0) } }, { type: 'tcpFailed', reason: 'reset' }] as FsmEvent[]) {
      const { s, a } = run(est, e);
      assert.equal(s.state, State.Idle);
      assert.ok(!types(a).includes('sendNotification'));
      assert.ok(types(a).includes('down'));
    }
  });
  test('decode error: the codec NOTIFICATION is sent', () => {
    const n = { code: 3, subcode: 1, data: Buffer.alloc(0) };
    assert.deepEqual(run(est, { type: 'decodeError', notification: n }).a[0], { type: 'sendNotification', notification: n });
  });
  test('unexpected OPEN in Established / UPDATE in OpenSent / OPEN in OpenConfirm: FSM error 5/x', () => {
    assert.deepEqual(run(est, { type: 'open', result: neg }).a[0], { type: 'sendNotification', notification: { code: 5, subcode: 3, data: Buffer.alloc(0) } });
    const openSent = walk([{ type: 'start' }, { type: 'tcpConnected' }]);
    assert.deepEqual(run(openSent, { type: 'update' }).a[0], { type: 'sendNotification', notification: { code: 5, subcode: 1, data: Buffer.alloc(0) } });
    const openConfirm = walk([{ type: 'start' }, { type: 'tcpConnected' }, { type: 'open', result: neg }]);
    assert.deepEqual(run(openConfirm, { type: 'open', result: neg }).a[0], { type: 'sendNotification', notification: { code: 5, subcode: 2, data: Buffer.alloc(0) } });
  });
  test('stop: Cease/admin shutdown, down, no restart', () => {
    const { s, a } = run(est, { type: 'stop' });
    assert.equal(s.state, State.Idle);
    assert.equal(s.stopped, true);
    assert.deepEqual(a[0], { type: 'sendNotification', notification: { code: 6, subcode: 2, data: Buffer.alloc(0) } });
    assert.ok(!types(a).includes('setTimer:connectRetry'));
    assert.deepEqual(run(s, { type: 'timer', timer: 'connectRetry' }).s.state, State.Idle, 'a stopped peer stays down');
  });
});

test('backoff doubles per failure, is capped, and jitters ±25 %', () => {
  assert.equal(backoffSeconds(cfg, 0, half), 1);
  assert.equal(backoffSeconds(cfg, 3, half), 8);
  assert.equal(backoffSeconds(cfg, 20, half), 30);
  assert.equal(backoffSeconds(cfg, 3, () => 0), 6);
  assert.equal(backoffSeconds(cfg, 3, () => 1), 10);
});

describe('OPEN negotiation', () => {
  const local: LocalOpen = { asn: 64512, routerId: '192.0.2.1', holdTime: 90, capabilities: [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'multiprotocol', afi: 2, safi: 1 }, { kind: 'fourOctetAS', asn: 64512 }, { kind: 'extendedMessage' }], peer: { asn: 4200000001 } };
  const peerOpen = buildOpen({ asn: 4200000001, holdTime: 9, bgpIdentifier: '192.0.2.2', capabilities: [{ kind: 'multiprotocol', afi: 2, safi: 1 }, { kind: 'routeRefresh' }] });
  test('hold time is the smaller one, keepalive a third; 4-octet ASN from the capability; common families', () => {
    const n = negotiate(local, peerOpen);
    assert.ok('holdTime' in n);
    assert.equal(n.holdTime, 9);
    assert.equal(n.keepaliveTime, 3);
    assert.equal(n.peerAsn, 4200000001);
    assert.equal(n.fourOctetAS, true);
    assert.equal(n.extendedMessages, false);
    assert.deepEqual(n.families, [{ afi: 2, safi: 1 }]);
    assert.equal(n.routeRefresh, true);
  });
  test('errors: version, AS, identifier, hold time 1-2', () => {
    const sub = (r: ReturnType<typeof negotiate>): number => ('subcode' in r ? r.subcode : -1);
    assert.equal(sub(negotiate(local, { ...peerOpen, version: 3 })), 1);
    assert.equal(sub(negotiate({ ...local, peer: { asn: 65000 } }, peerOpen)), 2);
    assert.equal(sub(negotiate({ ...local, peer: { dynamic: 'internal' } }, peerOpen)), 2);
    assert.ok('holdTime' in negotiate({ ...local, peer: { dynamic: 'external' } }, peerOpen));
    assert.equal(sub(negotiate(local, { ...peerOpen, bgpIdentifier: '0.0.0.0' })), 3);
    assert.equal(sub(negotiate(local, { ...peerOpen, holdTime: 2 })), 6);
    const zero = negotiate({ ...local, minHoldTime: 0 }, { ...peerOpen, holdTime: 0 });
    assert.equal('holdTime' in zero ? zero.keepaliveTime : -1, 0, 'hold time 0 (when allowed): no keepalives');
  });
  test('no MP capability from the peer means IPv4 unicast only', () => {
    const n = negotiate(local, buildOpen({ asn: 4200000001, holdTime: 90, bgpIdentifier: '192.0.2.2', capabilities: [] }));
    assert.ok('families' in n);
    assert.deepEqual(n.families, [{ afi: 1, safi: 1 }]);
  });
});

describe('hold time 0 only when configured', () => {
  const local: LocalOpen = { asn: 64512, routerId: '192.0.2.1', holdTime: 90, capabilities: [], peer: { asn: 64513 } };
  const open0 = buildOpen({ asn: 64513, holdTime: 0, bgpIdentifier: '192.0.2.2', capabilities: [] });
  const sub = (r: ReturnType<typeof negotiate>): number => ('subcode' in r ? r.subcode : -1);
  test('default: a peer proposing 0 is refused with 2/6 Unacceptable Hold Time', () => {
    const r = negotiate(local, open0);
    assert.ok('code' in r);
    assert.deepEqual([r.code, r.subcode], [2, 6]);
  });
  test('minHoldTime 0 accepts it; a larger minimum refuses proposals below it', () => {
    assert.ok('holdTime' in negotiate({ ...local, minHoldTime: 0 }, open0));
    assert.equal(sub(negotiate({ ...local, minHoldTime: 30 }, { ...open0, holdTime: 10 })), 6);
    assert.equal(sub(negotiate({ ...local, minHoldTime: 30 }, { ...open0, holdTime: 30 })), -1);
  });
  test('our own hold time 0 makes the session keepalive-free whatever the peer proposes', () => {
    const r = negotiate({ ...local, holdTime: 0 }, { ...open0, holdTime: 90 });
    assert.ok('holdTime' in r);
    assert.equal(r.holdTime, 0);
  });
});

describe('collisions (RFC 4271 §6.8, RFC 6286 §2.3)', () => {
  const me = { id: '192.0.2.1', asn: 64512 };
  const openSentOut = walk([{ type: 'start' }, { type: 'tcpConnected' }]);
  test('an incoming connection: accepted in Idle (started)/Connect/Active, held in OpenSent/OpenConfirm, rejected when Established, refused when stopped', () => {
    const conn = walk([{ type: 'start' }]);
    const acc = run(conn, { type: 'tcpAccepted' });
    assert.equal(acc.s.state, State.OpenSent);
    assert.equal(acc.s.outbound, false);
    assert.deepEqual(types(acc.a), ['acceptIncoming', 'clearTimer:connectRetry', 'sendOpen', 'setTimer:hold']);
    assert.deepEqual(types(run(openSentOut, { type: 'tcpAccepted' }).a), ['holdCollision']);
    assert.deepEqual(types(run(walk(toEstablished.slice(0, 3)), { type: 'tcpAccepted' }).a), ['holdCollision']);
    const est = run(walk(toEstablished), { type: 'tcpAccepted' });
    assert.deepEqual(types(est.a), ['rejectCollision']);
    assert.equal(est.s.state, State.Established);
    assert.deepEqual(types(run(initialState, { type: 'tcpAccepted' }).a), ['refuseIncoming']);
    const failed = walk([{ type: 'start' }, { type: 'tcpConnected' }, { type: 'tcpFailed', reason: 'x' }]);
    assert.equal(failed.state, State.Idle);
    assert.equal(run(failed, { type: 'tcpAccepted' }).s.state, State.OpenSent, 'after a failure the peer may connect to us');
  });
  test('an OPEN on the second connection after Established: the second connection is closed, the session stays', () => {
    const est = walk(toEstablished);
    const r = run(est, { type: 'collisionOpen', local: me, remote: { id: '192.0.2.200', asn: 64513 } });
    assert.equal(r.s, est);
    assert.deepEqual(types(r.a), ['rejectCollision']);
  });
  test('higher identifier wins: ours keeps our connection, theirs moves the session to the peer\'s connection', () => {
    const keep = run(openSentOut, { type: 'collisionOpen', local: me, remote: { id: '192.0.2.0', asn: 64513 } });
    assert.deepEqual(types(keep.a), ['rejectCollision']);
    const take = run(openSentOut, { type: 'collisionOpen', local: me, remote: { id: '192.0.2.9', asn: 64513 } });
    assert.deepEqual(types(take.a), ['sendNotification', 'adoptCollision', 'clearTimer:keepalive', 'clearTimer:sendHold', 'clearTimer:connectRetry', 'sendOpen', 'setTimer:hold']);
    assert.deepEqual(take.a[0], { type: 'sendNotification', notification: { code: 6, subcode: 7, data: Buffer.alloc(0) } });
    assert.equal(take.s.state, State.OpenSent);
    assert.equal(take.s.outbound, false);
  });
  test('equal identifiers: the connection opened by the larger AS survives (RFC 6286 §2.3)', () => {
    const same = '192.0.2.1';
    assert.deepEqual(types(run(openSentOut, { type: 'collisionOpen', local: me, remote: { id: same, asn: 64000 } }).a), ['rejectCollision'], 'our AS is larger: ours stays');
    assert.ok(types(run(openSentOut, { type: 'collisionOpen', local: me, remote: { id: same, asn: 65000 } }).a).includes('adoptCollision'), 'their AS is larger: theirs stays');
    assert.equal(collisionKeepsCurrent(true, { id: same, asn: 4200000001 }, { id: same, asn: 64513 }), true, '4-octet ASNs compare as numbers');
    assert.equal(collisionKeepsCurrent(true, { id: same, asn: 64513 }, { id: same, asn: 4200000001 }), false);
  });
  test('both connections opened by the peer: the newer one is the session', () => {
    const passive = { ...cfg, passive: true };
    const s = walk([{ type: 'start' }, { type: 'tcpAccepted' }], passive);
    assert.equal(s.outbound, false);
    const r = run(s, { type: 'collisionOpen', local: me, remote: { id: '192.0.2.0', asn: 64513 } }, passive);
    assert.ok(types(r.a).includes('adoptCollision'));
  });
});

describe('random event sequences (property)', () => {
  const notif = { code: 6, subcode: 2, data: Buffer.alloc(0) };
  const ident = fc.record({ id: fc.constantFrom('192.0.2.1', '192.0.2.2', '192.0.2.0'), asn: fc.constantFrom(64512, 64513, 4200000001) });
  const event: fc.Arbitrary<FsmEvent> = fc.oneof(
    fc.constant<FsmEvent>({ type: 'start' }), fc.constant<FsmEvent>({ type: 'stop' }),
    fc.constantFrom<FsmEvent>(...(['connectRetry', 'hold', 'keepalive', 'sendHold'] as const).map((timer) => ({ type: 'timer', timer }) as const)),
    fc.constant<FsmEvent>({ type: 'tcpConnected' }), fc.constant<FsmEvent>({ type: 'tcpAccepted' }), fc.constant<FsmEvent>({ type: 'tcpFailed', reason: 'x' }),
    fc.constant<FsmEvent>({ type: 'open', result: neg }), fc.constant<FsmEvent>({ type: 'open', result: { ...neg, holdTime: 0, keepaliveTime: 0 } }), fc.constant<FsmEvent>({ type: 'open', result: notif }),
    fc.constant<FsmEvent>({ type: 'keepalive' }), fc.constant<FsmEvent>({ type: 'update' }),
    fc.record({ afi: fc.constantFrom(1, 2, 25), safi: fc.constantFrom(1, 128) }).map((x): FsmEvent => ({ type: 'routeRefresh', ...x })),
    fc.constant<FsmEvent>({ type: 'notification', notification: notif }), fc.constant<FsmEvent>({ type: 'decodeError', notification: notif }),
    fc.tuple(ident, ident).map(([local, remote]): FsmEvent => ({ type: 'collisionOpen', local, remote })),
  );
  test('never throw; negotiated exactly in OpenConfirm/Established; stopped only in Idle; stop always ends in a stopped Idle; timers are positive', () => {
    const seed = Number(process.env.FSM_SEED ?? Date.now() % 1_000_000);
    process.stdout.write(`# FSM property seed ${seed} (FSM_SEED=${seed} to repeat)\n`);
    fc.assert(fc.property(fc.boolean(), fc.array(event, { maxLength: 60 }), (passive, events) => {
      const c = { ...cfg, passive };
      let s = initialState;
      for (const e of events) {
        const before: StateName = s.state;
        const t = transition(s, e, c, half);
        s = t.state;
        assert.equal(s.negotiated !== undefined, s.state === State.OpenConfirm || s.state === State.Established, `negotiated in ${s.state} after ${e.type}`);
        if (s.stopped) assert.equal(s.state, State.Idle);
        if (e.type === 'stop') assert.deepEqual([s.state, s.stopped], [State.Idle, true]);
        for (const a of t.actions) if (a.type === 'setTimer') assert.ok(a.seconds > 0, `${a.timer} ${a.seconds}`);
        if (before === State.Established && e.type === 'tcpAccepted') assert.equal(s.state, State.Established, 'an Established session survives a second connection');
        if (before === State.Established && e.type === 'collisionOpen') assert.equal(s.state, State.Established, 'an Established session survives a colliding OPEN');
        if (passive) assert.ok(!t.actions.some((a) => a.type === 'connect'), 'a passive peer never connects');
        if (t.actions.some((a) => a.type === 'sendTable')) assert.equal(s.state, State.Established);
      }
    }), { seed, numRuns: 2000 });
  });
});

describe('peerDown (BFD)', () => {
  test('Established --peerDown--> Idle: Cease/BFD Down (6/10), disconnect, down with the reason, retry after the backoff', () => {
    const { s, a } = run(walk(toEstablished), { type: 'peerDown', reason: 'BFD Down' });
    assert.equal(s.state, State.Idle);
    assert.equal(s.stopped, false);
    assert.deepEqual(types(a), ['sendNotification', 'disconnect', 'clearTimer:hold', 'clearTimer:keepalive', 'clearTimer:connectRetry', 'clearTimer:sendHold', 'down', 'setTimer:connectRetry']);
    assert.deepEqual(a[0], { type: 'sendNotification', notification: { code: 6, subcode: 10, data: Buffer.alloc(0) } });
    assert.deepEqual(a[6], { type: 'down', reason: 'BFD Down' });
  });
  test('Connect --peerDown--> Idle without a NOTIFICATION (no OPEN exchanged); Idle ignores it', () => {
    const { s, a } = run(walk([{ type: 'start' }]), { type: 'peerDown', reason: 'BFD Down' });
    assert.equal(s.state, State.Idle);
    assert.ok(!types(a).includes('sendNotification'));
    assert.deepEqual(run(initialState, { type: 'peerDown', reason: 'x' }).a, []);
  });
});
