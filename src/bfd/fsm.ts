/**
 * The BFD session state machine (RFC 5880 §6.2, §6.8; asynchronous mode, no echo, no demand mode) as a pure
 * function, like the BGP FSM: `transition(state, event, rand)` returns the next state and the actions for the
 * session layer (send a packet, arm or cancel a timer, report a state change). No sockets, no clock: timer
 * expiries come in as events, durations go out in microseconds.
 *
 * Timer changes follow §6.8.3: while the session is not Up we advertise at least 1 s as our transmit interval;
 * a change of either interval while Up starts a Poll Sequence (P bit until the peer answers with F). An
 * interval that would make detection slower or our sending faster than agreed (a larger transmit interval, a
 * smaller receive interval) is used only once the Final arrives; the others at once.
 */
import { BfdState, Diag, STATE_NAMES, type BfdStateCode, type ControlPacket, type Received } from './codec.ts';

/** The configured timers (a BFDProfile). */
export interface BfdTimers {
  /** µs. */
  readonly desiredMinTx: number;
  readonly requiredMinRx: number;
  readonly detectMult: number;
  /** Do not send until the peer has (§6.1 passive role). */
  readonly passive: boolean;
}

/** What RFC 5880 §6.8.1 calls the state variables, plus the poll bookkeeping. */
export interface BfdFsmState {
  readonly state: BfdStateCode;
  readonly remoteState: BfdStateCode;
  readonly localDiscr: number;
  readonly remoteDiscr: number;
  readonly localDiag: number;
  readonly timers: BfdTimers;
  /** Values in our packets (µs). */
  readonly txAdvertised: number;
  readonly rxAdvertised: number;
  /** Values our own timing uses (µs): differ from the advertised ones only during a Poll Sequence. */
  readonly txUsed: number;
  readonly rxUsed: number;
  readonly polling: boolean;
  readonly remoteMinRx: number;
  readonly remoteDesiredMinTx: number;
  readonly remoteDetectMult: number;
  /** A packet from the peer arrived since start (passive sessions may send; detection may run). */
  readonly heard: boolean;
}

/** Inputs. */
export type BfdEvent =
  | { readonly type: 'start' }
  | { readonly type: 'received'; readonly packet: Received }
  | { readonly type: 'txTimer' }
  | { readonly type: 'detectTimer' }
  | { readonly type: 'setTimers'; readonly timers: BfdTimers }
  | { readonly type: 'adminDown' }
  | { readonly type: 'adminUp' };

/** Outputs, carried out in order. */
export type BfdAction =
  | { readonly type: 'send'; readonly packet: ControlPacket }
  | { readonly type: 'armTx'; readonly us: number }
  | { readonly type: 'armDetect'; readonly us: number }
  | { readonly type: 'cancelDetect' }
  | { readonly type: 'stateChange'; readonly from: BfdStateCode; readonly to: BfdStateCode; readonly diag: number; readonly remoteAdminDown: boolean };

/** Result of {@link transition}. */
export interface BfdTransition {
  readonly state: BfdFsmState;
  readonly actions: readonly BfdAction[];
}

/** The slowest transmit interval we advertise while the session is not Up (§6.8.3). */
export const SLOW_TX_US = 1_000_000;

/** A new session (Down, nothing heard). `localDiscr` must be non-zero and unique among this system's sessions. */
export function initialBfdState(localDiscr: number, timers: BfdTimers): BfdFsmState {
  const tx = Math.max(timers.desiredMinTx, SLOW_TX_US);
  return {
    state: BfdState.Down, remoteState: BfdState.Down, localDiscr, remoteDiscr: 0, localDiag: Diag.None, timers,
    txAdvertised: tx, rxAdvertised: timers.requiredMinRx, txUsed: tx, rxUsed: timers.requiredMinRx, polling: false,
    remoteMinRx: 1, remoteDesiredMinTx: 0, remoteDetectMult: 0, heard: false,
  };
}

/** The interval between our packets before jitter: our transmit interval or the peer's receive interval, whichever is slower. */
export function txInterval(s: BfdFsmState): number {
  return Math.max(s.txUsed, s.remoteMinRx);
}

/** How long without a packet before the peer is declared down (§6.8.4); 0 before the peer was heard. */
export function detectionTime(s: BfdFsmState): number {
  if (!s.heard) return 0;
  return s.remoteDetectMult * Math.max(s.rxUsed, s.remoteDesiredMinTx);
}

/** The packet we send now. */
function packet(s: BfdFsmState, final: boolean): ControlPacket {
  return {
    diag: s.localDiag, state: s.state, poll: s.polling && !final, final, cpi: false, demand: false,
    detectMult: s.timers.detectMult, myDiscriminator: s.localDiscr, yourDiscriminator: s.remoteDiscr,
    desiredMinTxInterval: s.txAdvertised, requiredMinRxInterval: s.rxAdvertised, requiredMinEchoRxInterval: 0,
  };
}

/** Whether we may transmit at all: not before a passive session heard the peer, never to a peer asking for none (§6.8.7). */
function maySend(s: BfdFsmState): boolean {
  return (!s.timers.passive || s.heard) && s.remoteMinRx !== 0;
}

/** §6.8.7 jitter: 75–100 % of the interval, at most 90 % with a multiplier of 1. */
function jittered(s: BfdFsmState, rand: () => number): number {
  const r = Math.min(Math.max(rand(), 0), 1);
  const factor = s.timers.detectMult === 1 ? 0.75 + 0.15 * r : 0.75 + 0.25 * r;
  return Math.max(1, Math.round(txInterval(s) * factor));
}

/**
 * Moves the advertised timers towards the configured ones for the current state: slow transmission while not
 * Up; a change while Up starts a poll, and only the changes that are safe before the Final are used at once.
 */
function retime(s: BfdFsmState): BfdFsmState {
  const tx = s.state === BfdState.Up ? s.timers.desiredMinTx : Math.max(s.timers.desiredMinTx, SLOW_TX_US);
  const rx = s.timers.requiredMinRx;
  if (tx === s.txAdvertised && rx === s.rxAdvertised) return s;
  if (s.state !== BfdState.Up) return { ...s, txAdvertised: tx, rxAdvertised: rx, txUsed: tx, rxUsed: rx };
  return {
    ...s, txAdvertised: tx, rxAdvertised: rx, polling: true,
    // faster sending and slower detection are safe now; the opposite waits for the Final
    txUsed: Math.min(s.txUsed, tx), rxUsed: Math.max(s.rxUsed, rx),
  };
}

function changeTo(s: BfdFsmState, to: BfdStateCode, diag: number, actions: BfdAction[], remoteAdminDown = false): BfdFsmState {
  if (s.state === to) return s;
  actions.push({ type: 'stateChange', from: s.state, to, diag, remoteAdminDown });
  return retime({ ...s, state: to, localDiag: diag });
}

/** Arms the detection timer when it applies (heard, not AdminDown), else cancels it. */
function detect(s: BfdFsmState, actions: BfdAction[]): void {
  const d = detectionTime(s);
  if (d > 0 && s.state !== BfdState.AdminDown) actions.push({ type: 'armDetect', us: d });
  else actions.push({ type: 'cancelDetect' });
}

/** See the module comment. `rand` (0 ≤ r < 1) drives the transmit jitter; injectable for tests. */
export function transition(s: BfdFsmState, e: BfdEvent, rand: () => number = Math.random): BfdTransition {
  const actions: BfdAction[] = [];
  switch (e.type) {
    case 'start': {
      if (maySend(s)) actions.push({ type: 'send', packet: packet(s, false) });
      actions.push({ type: 'armTx', us: jittered(s, rand) });
      return { state: s, actions };
    }
    case 'txTimer': {
      if (maySend(s)) actions.push({ type: 'send', packet: packet(s, false) });
      actions.push({ type: 'armTx', us: jittered(s, rand) });
      return { state: s, actions };
    }
    case 'detectTimer': {
      let n: BfdFsmState = s;
      if (s.state === BfdState.Init || s.state === BfdState.Up) n = changeTo(n, BfdState.Down, Diag.ControlDetectionTimeExpired, actions);
      // §6.8.1: the remote discriminator is forgotten once the detection time passed; the peer is unheard again
      n = { ...n, remoteDiscr: 0, remoteState: BfdState.Down, heard: false, remoteMinRx: 1, remoteDesiredMinTx: 0, polling: false, txUsed: n.txAdvertised, rxUsed: n.rxAdvertised };
      actions.push({ type: 'cancelDetect' });
      if (n.state !== s.state && maySend(n)) actions.push({ type: 'send', packet: packet(n, false) });
      return { state: n, actions };
    }
    case 'setTimers': {
      const n = retime({ ...s, timers: e.timers });
      if (n.polling && !s.polling && maySend(n)) actions.push({ type: 'send', packet: packet(n, false) });
      if (n.heard) detect(n, actions);
      return { state: n, actions };
    }
    case 'adminDown': {
      if (s.state === BfdState.AdminDown) return { state: s, actions };
      const n = changeTo({ ...s, polling: false }, BfdState.AdminDown, Diag.AdministrativelyDown, actions);
      actions.push({ type: 'cancelDetect' });
      if (maySend(n)) actions.push({ type: 'send', packet: packet(n, false) });
      return { state: n, actions };
    }
    case 'adminUp': {
      if (s.state !== BfdState.AdminDown) return { state: s, actions };
      const n = changeTo(s, BfdState.Down, Diag.None, actions);
      return { state: n, actions };
    }
    case 'received':
      return received(s, e.packet, actions, rand);
  }
}

/** §6.8.6, after the checks the codec made. */
function received(s: BfdFsmState, p: Received, actions: BfdAction[], rand: () => number): BfdTransition {
  // not for this session, or authenticated (we run no authentication): discarded
  if (p.auth || (p.yourDiscriminator !== 0 && p.yourDiscriminator !== s.localDiscr)) return { state: s, actions };
  let n: BfdFsmState = {
    ...s, heard: true, remoteDiscr: p.myDiscriminator, remoteState: p.state, remoteMinRx: p.requiredMinRxInterval,
    remoteDesiredMinTx: p.desiredMinTxInterval, remoteDetectMult: p.detectMult,
  };
  if (p.final && n.polling) n = { ...n, polling: false, txUsed: n.txAdvertised, rxUsed: n.rxAdvertised };
  if (n.state === BfdState.AdminDown) return { state: n, actions };
  const before = n.state;
  if (p.state === BfdState.AdminDown) {
    if (n.state !== BfdState.Down) n = changeTo(n, BfdState.Down, Diag.NeighborSignaledSessionDown, actions, true);
  } else if (n.state === BfdState.Down) {
    if (p.state === BfdState.Down) n = changeTo(n, BfdState.Init, Diag.None, actions);
    else if (p.state === BfdState.Init) n = changeTo(n, BfdState.Up, Diag.None, actions);
  } else if (n.state === BfdState.Init) {
    if (p.state === BfdState.Init || p.state === BfdState.Up) n = changeTo(n, BfdState.Up, Diag.None, actions);
  } else if (p.state === BfdState.Down) {
    n = changeTo(n, BfdState.Down, Diag.NeighborSignaledSessionDown, actions);
  }
  // the peer heard may now allow (or ask for) other timing: the next transmission follows it
  if (p.poll && maySend(n)) actions.push({ type: 'send', packet: packet(n, true) });
  else if (n.state !== before && maySend(n)) actions.push({ type: 'send', packet: packet(n, false) });
  if (!s.heard || n.state !== before) actions.push({ type: 'armTx', us: jittered(n, rand) });
  detect(n, actions);
  return { state: n, actions };
}

/** A state's name. */
export function stateName(s: BfdStateCode): (typeof STATE_NAMES)[number] {
  return STATE_NAMES[s];
}
