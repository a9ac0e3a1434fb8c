/**
 * The BGP finite state machine (RFC 4271 §8) as a pure function: `transition(state, event)` returns
 * the next state and the actions for the session layer to carry out (connect, send, set a timer, …).
 * No sockets, no timers, no clock: the session feeds timer expiries in as events, so every transition
 * is testable with plain data. Sessions that fail back off exponentially, with jitter, before retrying.
 *
 * Connection collisions (RFC 4271 §6.8) are decided here too: the session reports a second connection
 * (`tcpAccepted` while one is up) and, later, the OPEN that arrived on it (`collisionOpen`); the FSM
 * answers which connection lives (`holdCollision`, `rejectCollision`, `adoptCollision`).
 */
import { peerAsn } from './codec.ts';
import { BGP_VERSION, CeaseSubcode, NotificationCode, OpenSubcode, type Capability, type NotificationFields, type OpenMessage } from './message.ts';

/** FSM states. */
export const State = {
  Idle: 'Idle',
  Connect: 'Connect',
  Active: 'Active',
  OpenSent: 'OpenSent',
  OpenConfirm: 'OpenConfirm',
  Established: 'Established',
} as const;
/** One of {@link State}. */
export type StateName = (typeof State)[keyof typeof State];

/** Timers the FSM asks the session to run. */
export type TimerName = 'connectRetry' | 'hold' | 'keepalive' | 'sendHold';

/** The per-peer settings the FSM needs. */
export interface FsmConfig {
  /** Hold time we propose, seconds (0 or ≥ 3). */
  readonly holdTime: number;
  /** Keepalive interval, seconds; default a third of the negotiated hold time. */
  readonly keepaliveTime?: number | undefined;
  /** First connect-retry delay, seconds; doubles per failure up to {@link FsmConfig.maxConnectRetry}. */
  readonly connectRetry: number;
  readonly maxConnectRetry: number;
  /** Never connect out; wait for the peer. */
  readonly passive: boolean;
}

/** What the OPEN exchange settled. */
export interface Negotiated {
  readonly holdTime: number;
  readonly keepaliveTime: number;
  readonly peerAsn: number;
  readonly peerId: string;
  readonly fourOctetAS: boolean;
  readonly extendedMessages: boolean;
  readonly routeRefresh: boolean;
  /** Address families both sides enabled (IPv4 unicast only when the peer sent no MP capability, RFC 4760 §8). */
  readonly families: readonly { afi: number; safi: number }[];
  /** The peer's graceful-restart capability, if any. */
  readonly peerGracefulRestart: boolean;
}

/** FSM state with what it remembers across events. */
export interface FsmState {
  readonly state: StateName;
  /** Consecutive failures since the last Established; drives the backoff. */
  readonly failures: number;
  readonly negotiated: Negotiated | undefined;
  /** Whether the session was stopped by us (no automatic restart). */
  readonly stopped: boolean;
  /** Whether the current connection is the one we opened (decides collisions, RFC 4271 §6.8). */
  readonly outbound: boolean;
}

/** A BGP identifier and AS number: what a collision is decided on. */
export interface SpeakerIdentity {
  readonly id: string;
  readonly asn: number;
}

/** Events the session feeds in. */
export type FsmEvent =
  | { readonly type: 'start' }
  | { readonly type: 'stop'; readonly notification?: NotificationFields }
  /** BFD (or another liveness check) found the peer unreachable: drop the session now and retry as after any failure. */
  | { readonly type: 'peerDown'; readonly reason: string }
  | { readonly type: 'timer'; readonly timer: TimerName }
  /** Our own connection attempt completed. */
  | { readonly type: 'tcpConnected' }
  /** The peer connected to us (passive mode, or while our own attempt runs: a possible collision). */
  | { readonly type: 'tcpAccepted' }
  | { readonly type: 'tcpFailed'; readonly reason: string }
  /** The OPEN that arrived on the second connection held by `holdCollision`. */
  | { readonly type: 'collisionOpen'; readonly local: SpeakerIdentity; readonly remote: SpeakerIdentity }
  | { readonly type: 'open'; readonly result: Negotiated | NotificationFields }
  | { readonly type: 'keepalive' }
  | { readonly type: 'update' }
  | { readonly type: 'routeRefresh'; readonly afi: number; readonly safi: number }
  | { readonly type: 'notification'; readonly notification: NotificationFields }
  | { readonly type: 'decodeError'; readonly notification: NotificationFields };

/** Actions for the session layer, in order. */
export type FsmAction =
  | { readonly type: 'connect' }
  /** Drop the pending outgoing attempt, the connection and any held second connection. */
  | { readonly type: 'disconnect' }
  /** Take the offered incoming connection as the session's (after dropping any pending attempt). */
  | { readonly type: 'acceptIncoming' }
  /** Close the offered incoming connection without a word (we are stopped). */
  | { readonly type: 'refuseIncoming' }
  /** Keep the offered incoming connection aside until its OPEN decides the collision. */
  | { readonly type: 'holdCollision' }
  /** Close the second connection (offered or held) with Cease/Connection Collision Resolution. */
  | { readonly type: 'rejectCollision' }
  /** Drop the current connection and continue on the held second one, whose OPEN is already read. */
  | { readonly type: 'adoptCollision' }
  | { readonly type: 'sendOpen' }
  | { readonly type: 'sendKeepalive' }
  | { readonly type: 'sendNotification'; readonly notification: NotificationFields }
  | { readonly type: 'setTimer'; readonly timer: TimerName; readonly seconds: number }
  | { readonly type: 'clearTimer'; readonly timer: TimerName }
  | { readonly type: 'established'; readonly negotiated: Negotiated }
  | { readonly type: 'down'; readonly reason: string }
  /** Send the whole table: every negotiated family, or only `families` (ROUTE-REFRESH, RFC 2918 §4). */
  | { readonly type: 'sendTable'; readonly families?: readonly { readonly afi: number; readonly safi: number }[] };

/** The outcome of one event. */
export interface Transition {
  readonly state: FsmState;
  readonly actions: readonly FsmAction[];
}

/** Hold time used between sending our OPEN and receiving the peer's (RFC 4271 §8.2.2 suggests 4 minutes). */
export const OPEN_HOLD_TIME = 240;

/** The state a new peer starts in. */
export const initialState: FsmState = { state: State.Idle, failures: 0, negotiated: undefined, stopped: true, outbound: false };

const fsmError = (state: StateName): NotificationFields => ({
  code: NotificationCode.Fsm,
  subcode: state === State.OpenSent ? 1 : state === State.OpenConfirm ? 2 : 3, // RFC 6608 subcodes
  data: Buffer.alloc(0),
});
const holdExpired: NotificationFields = { code: NotificationCode.HoldTimerExpired, subcode: 0, data: Buffer.alloc(0) };
const adminShutdown: NotificationFields = { code: NotificationCode.Cease, subcode: CeaseSubcode.AdministrativeShutdown, data: Buffer.alloc(0) };
const collisionCease: NotificationFields = { code: NotificationCode.Cease, subcode: CeaseSubcode.ConnectionCollisionResolution, data: Buffer.alloc(0) };
const bfdDown: NotificationFields = { code: NotificationCode.Cease, subcode: CeaseSubcode.BfdDown, data: Buffer.alloc(0) };
const sendHoldExpired: NotificationFields = { code: NotificationCode.SendHoldTimerExpired, subcode: 0, data: Buffer.alloc(0) };

/** Delay before the next connection attempt: base·2^failures, capped, with ±25 % jitter so peers do not synchronise. */
export function backoffSeconds(c: FsmConfig, failures: number, rand: () => number): number {
  const base = Math.min(c.connectRetry * 2 ** Math.min(failures, 16), c.maxConnectRetry);
  return Math.max(0.1, base * (0.75 + 0.5 * rand()));
}

const clearAll: FsmAction[] = [{ type: 'clearTimer', timer: 'hold' }, { type: 'clearTimer', timer: 'keepalive' }, { type: 'clearTimer', timer: 'connectRetry' }, { type: 'clearTimer', timer: 'sendHold' }];

/**
 * Leaves the session after an error: optional NOTIFICATION, close, and an automatic retry after a
 * backoff (RFC 4271's IdleHoldTimer for DampPeerOscillations, merged into the connect-retry timer).
 */
function fail(s: FsmState, c: FsmConfig, rand: () => number, reason: string, notify?: NotificationFields): Transition {
  const failures = s.failures + 1;
  const actions: FsmAction[] = [];
  if (notify) actions.push({ type: 'sendNotification', notification: notify });
  actions.push({ type: 'disconnect' }, ...clearAll);
  if (s.state === State.Established) actions.push({ type: 'down', reason });
  actions.push({ type: 'setTimer', timer: 'connectRetry', seconds: backoffSeconds(c, failures - 1, rand) });
  return { state: { state: State.Idle, failures, negotiated: undefined, stopped: false, outbound: false }, actions };
}

/** Starts (or restarts after a backoff) the connection attempt. */
function begin(s: FsmState, c: FsmConfig, rand: () => number): Transition {
  const st = { ...s, stopped: false, negotiated: undefined };
  if (c.passive) return { state: { ...st, state: State.Active }, actions: [] };
  return {
    state: { ...st, state: State.Connect },
    actions: [{ type: 'connect' }, { type: 'setTimer', timer: 'connectRetry', seconds: backoffSeconds(c, s.failures, rand) }],
  };
}

/** Timers after the OPEN exchange: none when the negotiated hold time is 0. */
function sessionTimers(n: Negotiated): FsmAction[] {
  if (n.holdTime === 0) return [{ type: 'clearTimer', timer: 'hold' }, { type: 'clearTimer', timer: 'keepalive' }];
  return [{ type: 'setTimer', timer: 'hold', seconds: n.holdTime }, { type: 'setTimer', timer: 'keepalive', seconds: n.keepaliveTime }];
}

const restartHold = (s: FsmState): FsmAction[] =>
  s.negotiated && s.negotiated.holdTime > 0 ? [{ type: 'setTimer', timer: 'hold', seconds: s.negotiated.holdTime }] : [];

/** See the module comment. `rand` is injectable for deterministic tests. */
export function transition(s: FsmState, e: FsmEvent, c: FsmConfig, rand: () => number = Math.random): Transition {
  const stay = (actions: FsmAction[] = []): Transition => ({ state: s, actions });
  if (e.type === 'stop') {
    const actions: FsmAction[] = [];
    if (s.state === State.OpenSent || s.state === State.OpenConfirm || s.state === State.Established) {
      actions.push({ type: 'sendNotification', notification: e.notification ?? adminShutdown });
    }
    if (s.state !== State.Idle || !s.stopped) actions.push({ type: 'disconnect' }, ...clearAll);
    if (s.state === State.Established) actions.push({ type: 'down', reason: 'stopped' });
    return { state: { state: State.Idle, failures: 0, negotiated: undefined, stopped: true, outbound: false }, actions };
  }
  if (e.type === 'peerDown') {
    if (s.state === State.Idle) return stay();
    // RFC 9384: a Cease/BFD Down (most likely lost on a dead path, but a live peer learns why)
    const open = s.state === State.OpenSent || s.state === State.OpenConfirm || s.state === State.Established;
    return fail(s, c, rand, e.reason, open ? bfdDown : undefined);
  }
  if (e.type === 'tcpAccepted') return accepted(s);
  if (e.type === 'collisionOpen') return collision(s, e.local, e.remote);
  switch (s.state) {
    case State.Idle:
      if (e.type === 'start') return begin({ ...s, failures: 0 }, c, rand);
      if (e.type === 'timer' && e.timer === 'connectRetry' && !s.stopped) return begin(s, c, rand);
      if (e.type === 'tcpConnected' && c.passive && !s.stopped) return openSent(s, true);
      return stay(e.type === 'tcpConnected' ? [{ type: 'disconnect' }] : []);
    case State.Connect:
      if (e.type === 'timer' && e.timer === 'connectRetry') {
        // the attempt is taking too long: drop it and try again
        return { state: { ...s, failures: s.failures + 1 }, actions: [{ type: 'disconnect' }, { type: 'connect' }, { type: 'setTimer', timer: 'connectRetry', seconds: backoffSeconds(c, s.failures + 1, rand) }] };
      }
      if (e.type === 'tcpConnected') return openSent(s, true);
      if (e.type === 'tcpFailed') {
        return { state: { ...s, state: State.Active, failures: s.failures + 1 }, actions: [{ type: 'disconnect' }, { type: 'setTimer', timer: 'connectRetry', seconds: backoffSeconds(c, s.failures, rand) }] };
      }
      return stay();
    case State.Active:
      if (e.type === 'timer' && e.timer === 'connectRetry') {
        if (c.passive) return stay();
        return { state: { ...s, state: State.Connect }, actions: [{ type: 'connect' }, { type: 'setTimer', timer: 'connectRetry', seconds: backoffSeconds(c, s.failures, rand) }] };
      }
      if (e.type === 'tcpConnected') return openSent(s, true);
      return stay();
    case State.OpenSent:
      if (e.type === 'open') {
        if (!('holdTime' in e.result)) return fail(s, c, rand, 'bad OPEN', e.result);
        const n = e.result;
        return {
          state: { ...s, state: State.OpenConfirm, negotiated: n },
          actions: [{ type: 'clearTimer', timer: 'connectRetry' }, { type: 'sendKeepalive' }, ...sessionTimers(n)],
        };
      }
      return common(s, e, c, rand);
    case State.OpenConfirm:
      if (e.type === 'keepalive' && s.negotiated) {
        return {
          state: { ...s, state: State.Established, failures: 0 },
          actions: [...restartHold(s), { type: 'established', negotiated: s.negotiated }, { type: 'sendTable' }],
        };
      }
      return common(s, e, c, rand);
    case State.Established:
      if (e.type === 'keepalive' || e.type === 'update') return stay(restartHold(s));
      if (e.type === 'routeRefresh') {
        // RFC 2918 §4: only the family asked for, and a family we did not negotiate is ignored
        const fam = s.negotiated?.families.find((f) => f.afi === e.afi && f.safi === e.safi);
        return stay([...restartHold(s), ...(fam ? [{ type: 'sendTable', families: [fam] } as const] : [])]);
      }
      return common(s, e, c, rand);
  }
}

/** Connection up: send our OPEN and wait for the peer's under the large initial hold time. */
function openSent(s: FsmState, outbound: boolean, first: FsmAction[] = []): Transition {
  return {
    state: { ...s, state: State.OpenSent, stopped: false, outbound, negotiated: undefined },
    actions: [...first, { type: 'clearTimer', timer: 'connectRetry' }, { type: 'sendOpen' }, { type: 'setTimer', timer: 'hold', seconds: OPEN_HOLD_TIME }],
  };
}

/**
 * The peer connected to us. With no connection of ours past Connect it becomes the session's (also in
 * Idle after a failure: the peer is evidently back); during the OPEN exchange it is held until its OPEN
 * decides the collision; once Established it is closed at once (RFC 4271 §6.8: an Established session
 * wins every collision).
 */
function accepted(s: FsmState): Transition {
  switch (s.state) {
    case State.Idle:
      if (s.stopped) return { state: s, actions: [{ type: 'refuseIncoming' }] };
      return openSent(s, false, [{ type: 'acceptIncoming' }]);
    case State.Connect:
    case State.Active:
      return openSent(s, false, [{ type: 'acceptIncoming' }]);
    case State.OpenSent:
    case State.OpenConfirm:
      return { state: s, actions: [{ type: 'holdCollision' }] };
    case State.Established:
      return { state: s, actions: [{ type: 'rejectCollision' }] };
  }
}

/**
 * Which connection survives a collision, given that the current one is `outbound` (ours) or not
 * (both opened by the peer). RFC 4271 §6.8: the one opened by the side with the higher BGP identifier;
 * RFC 6286 §2.3: with equal identifiers, the one opened by the side with the larger AS number. When the
 * peer opened both, it has given up on the older one: the newer lives.
 */
export function collisionKeepsCurrent(outbound: boolean, local: SpeakerIdentity, remote: SpeakerIdentity): boolean {
  if (!outbound) return false;
  const l = idValue(local.id);
  const r = idValue(remote.id);
  if (l !== r) return l > r;
  return local.asn >= remote.asn; // equal AS too: no rule applies, and the current connection is the one we know
}

const idValue = (id: string): number => id.split('.').reduce((a, p) => a * 256 + Number(p), 0);

/** The OPEN on the held second connection arrived: keep one connection (see {@link collisionKeepsCurrent}). */
function collision(s: FsmState, local: SpeakerIdentity, remote: SpeakerIdentity): Transition {
  if (s.state !== State.OpenSent && s.state !== State.OpenConfirm) return { state: s, actions: [{ type: 'rejectCollision' }] };
  if (collisionKeepsCurrent(s.outbound, local, remote)) return { state: s, actions: [{ type: 'rejectCollision' }] };
  return openSent(s, false, [
    { type: 'sendNotification', notification: collisionCease }, { type: 'adoptCollision' },
    { type: 'clearTimer', timer: 'keepalive' }, { type: 'clearTimer', timer: 'sendHold' },
  ]);
}

/** Events handled alike in OpenSent, OpenConfirm and Established. */
function common(s: FsmState, e: FsmEvent, c: FsmConfig, rand: () => number): Transition {
  switch (e.type) {
    case 'timer':
      if (e.timer === 'hold') return fail(s, c, rand, 'hold timer expired', holdExpired);
      if (e.timer === 'sendHold') return fail(s, c, rand, 'send hold timer expired: the peer stopped reading', sendHoldExpired);
      if (e.timer === 'keepalive' && s.negotiated && s.negotiated.holdTime > 0) {
        return { state: s, actions: [{ type: 'sendKeepalive' }, { type: 'setTimer', timer: 'keepalive', seconds: s.negotiated.keepaliveTime }] };
      }
      return { state: s, actions: [] };
    case 'tcpFailed': return fail(s, c, rand, `connection lost: ${e.reason}`);
    case 'notification': return fail(s, c, rand, `peer sent NOTIFICATION ${e.notification.code}/${e.notification.subcode}`);
    case 'decodeError': return fail(s, c, rand, `bad message from peer (${e.notification.code}/${e.notification.subcode})`, e.notification);
    case 'tcpConnected': return { state: s, actions: [] }; // cannot happen: no attempt of ours runs past Connect
    default: return fail(s, c, rand, `unexpected ${e.type} in ${s.state}`, fsmError(s.state));
  }
}

/** Our side of the OPEN exchange, for {@link negotiate}. */
export interface LocalOpen {
  readonly asn: number;
  readonly routerId: string;
  readonly holdTime: number;
  readonly keepaliveTime?: number | undefined;
  /**
   * The smallest hold time accepted from the peer (default 3). A peer proposing less, 0 included, is
   * refused with 2/6 Unacceptable Hold Time, so a session without keepalives exists only when configured.
   */
  readonly minHoldTime?: number | undefined;
  readonly capabilities: readonly Capability[];
  /** The peer ASN we expect, or which kind of peer. */
  readonly peer: { readonly asn: number } | { readonly dynamic: 'internal' | 'external' };
}

/** Checks the peer's OPEN against ours (RFC 4271 §6.2, RFC 6793, RFC 6286) and settles the session parameters. */
export function negotiate(local: LocalOpen, peer: OpenMessage): Negotiated | NotificationFields {
  const openErr = (subcode: number, data: Buffer = Buffer.alloc(0)): NotificationFields => ({ code: NotificationCode.Open, subcode, data });
  if (peer.version !== BGP_VERSION) {
    const d = Buffer.alloc(2);
    d.writeUInt16BE(BGP_VERSION);
    return openErr(OpenSubcode.UnsupportedVersion, d);
  }
  const asn = peerAsn(peer);
  const expected = 'asn' in local.peer ? asn === local.peer.asn : local.peer.dynamic === 'internal' ? asn === local.asn : asn !== local.asn;
  if (!expected || asn === 0) return openErr(OpenSubcode.BadPeerAS);
  if (peer.bgpIdentifier === '0.0.0.0' || (asn === local.asn && peer.bgpIdentifier === local.routerId)) return openErr(OpenSubcode.BadBgpIdentifier);
  if (peer.holdTime === 1 || peer.holdTime === 2) return openErr(OpenSubcode.UnacceptableHoldTime);
  if (local.holdTime > 0 && peer.holdTime < (local.minHoldTime ?? 3)) return openErr(OpenSubcode.UnacceptableHoldTime);
  const holdTime = Math.min(local.holdTime, peer.holdTime);
  const keepaliveTime = holdTime === 0 ? 0 : Math.max(1, Math.min(local.keepaliveTime ?? Math.floor(holdTime / 3), Math.floor(holdTime / 3)));
  const has = (caps: readonly Capability[], kind: Capability['kind']): boolean => caps.some((x) => x.kind === kind);
  const mp = (caps: readonly Capability[]): { afi: number; safi: number }[] => {
    const l = caps.flatMap((x) => (x.kind === 'multiprotocol' ? [{ afi: x.afi, safi: x.safi }] : []));
    return l.length > 0 ? l : [{ afi: 1, safi: 1 }];
  };
  const ours = mp(local.capabilities);
  const theirs = mp(peer.capabilities);
  return {
    holdTime, keepaliveTime, peerAsn: asn, peerId: peer.bgpIdentifier,
    fourOctetAS: has(local.capabilities, 'fourOctetAS') && has(peer.capabilities, 'fourOctetAS'),
    extendedMessages: has(local.capabilities, 'extendedMessage') && has(peer.capabilities, 'extendedMessage'),
    routeRefresh: has(peer.capabilities, 'routeRefresh'),
    families: ours.filter((f) => theirs.some((t) => t.afi === f.afi && t.safi === f.safi)),
    peerGracefulRestart: has(peer.capabilities, 'gracefulRestart'),
  };
}
