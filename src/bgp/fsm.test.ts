import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildOpen } from './codec.ts';
import { State, backoffSeconds, collisionWinner, initialState, negotiate, transition, type FsmAction, type FsmConfig, type FsmEvent, type FsmState, type LocalOpen, type Negotiated } from './fsm.ts';

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
  test('KEEPALIVE and UPDATE restart the hold timer; ROUTE-REFRESH resends the table', () => {
    assert.deepEqual(types(run(est, { type: 'keepalive' }).a), ['setTimer:hold']);
    assert.deepEqual(types(run(est, { type: 'update' }).a), ['setTimer:hold']);
    assert.deepEqual(types(run(est, { type: 'routeRefresh' }).a), ['setTimer:hold', 'sendTable']);
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
    assert.equal('holdTime' in negotiate(local, { ...peerOpen, holdTime: 0 }) ? (negotiate(local, { ...peerOpen, holdTime: 0 }) as Negotiated).keepaliveTime : -1, 0);
  });
  test('no MP capability from the peer means IPv4 unicast only', () => {
    const n = negotiate(local, buildOpen({ asn: 4200000001, holdTime: 90, bgpIdentifier: '192.0.2.2', capabilities: [] }));
    assert.ok('families' in n);
    assert.deepEqual(n.families, [{ afi: 1, safi: 1 }]);
  });
});

test('collision: the higher BGP identifier keeps the connection it opened', () => {
  assert.equal(collisionWinner('192.0.2.10', '192.0.2.9'), 'ours');
  assert.equal(collisionWinner('192.0.2.9', '192.0.2.10'), 'theirs');
});
