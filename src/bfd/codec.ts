/**
 * BFD control packets (RFC 5880 §4.1) as a byte table: the same table encodes and decodes. We send only the
 * 24-byte mandatory section (no authentication); a received packet with the A bit is decoded and marked so
 * the session drops it (§6.7: authentication we do not run must not be trusted).
 *
 * Byte 0 is `Vers(3 bits) | Diag(5 bits)`, byte 1 `Sta(2) | P F C A D M` (one bit each, most significant
 * first); they travel in the table as `versDiag` and `staFlags` and are split by {@link bits} below.
 *
 * Decoding applies the reception checks of §6.8.6 that need no session state, and never throws: a bad packet
 * is a typed {@link DecodeError}.
 */
import { decodeTable, encodeTable, tableSize, type Record_ } from '../wire/bytetable.ts';

/** Session states (`Sta`). */
export const BfdState = { AdminDown: 0, Down: 1, Init: 2, Up: 3 } as const;
/** One of {@link BfdState}. */
export type BfdStateCode = (typeof BfdState)[keyof typeof BfdState];
/** State names by code. */
export const STATE_NAMES = ['AdminDown', 'Down', 'Init', 'Up'] as const;

/** Diagnostic codes (`Diag`, §4.1). */
export const Diag = {
  None: 0,
  ControlDetectionTimeExpired: 1,
  EchoFunctionFailed: 2,
  NeighborSignaledSessionDown: 3,
  ForwardingPlaneReset: 4,
  PathDown: 5,
  ConcatenatedPathDown: 6,
  AdministrativelyDown: 7,
  ReverseConcatenatedPathDown: 8,
} as const;
/** One of {@link Diag}. */
export type DiagCode = (typeof Diag)[keyof typeof Diag];

const DIAG_TEXT: readonly string[] = [
  'no diagnostic', 'control detection time expired', 'echo function failed', 'neighbor signaled session down',
  'forwarding plane reset', 'path down', 'concatenated path down', 'administratively down', 'reverse concatenated path down',
];

/** The diagnostic as text (`diag 12` for codes RFC 5880 does not define). */
export function diagText(d: number): string {
  return DIAG_TEXT[d] ?? `diag ${d}`;
}

/** The mandatory section, one field per line; intervals in microseconds. */
export const CONTROL_TABLE = [
  ['versDiag', 'u8'],
  ['staFlags', 'u8'],
  ['detectMult', 'u8'],
  ['length', 'u8'],
  ['myDiscriminator', 'u32'],
  ['yourDiscriminator', 'u32'],
  ['desiredMinTxInterval', 'u32'],
  ['requiredMinRxInterval', 'u32'],
  ['requiredMinEchoRxInterval', 'u32'],
] as const;

/** Length of the mandatory section (and of every packet we send). */
export const CONTROL_LENGTH = tableSize(CONTROL_TABLE);
/** The protocol version we speak. */
export const BFD_VERSION = 1;

/** A control packet, decoded. */
export interface ControlPacket {
  readonly diag: number;
  readonly state: BfdStateCode;
  readonly poll: boolean;
  readonly final: boolean;
  /** Control plane independent. */
  readonly cpi: boolean;
  readonly demand: boolean;
  readonly detectMult: number;
  readonly myDiscriminator: number;
  readonly yourDiscriminator: number;
  /** µs. */
  readonly desiredMinTxInterval: number;
  readonly requiredMinRxInterval: number;
  readonly requiredMinEchoRxInterval: number;
}

/** A decoded packet plus what the session must know about it. */
export interface Received extends ControlPacket {
  /** The A bit: an authentication section follows (we run none, so the session drops it). */
  readonly auth: boolean;
}

/** Why a packet was discarded (§6.8.6). */
export type DecodeError =
  | 'short' | 'bad-version' | 'bad-length' | 'zero-multiplier' | 'multipoint' | 'zero-my-discriminator' | 'zero-your-discriminator';

/** Bit layout of bytes 0 and 1. */
const bits = {
  versDiag: (version: number, diag: number): number => ((version & 0x7) << 5) | (diag & 0x1f),
  staFlags: (p: ControlPacket): number =>
    ((p.state & 0x3) << 6) | (p.poll ? 0x20 : 0) | (p.final ? 0x10 : 0) | (p.cpi ? 0x08 : 0) | (p.demand ? 0x02 : 0),
} as const;

/** The 24 bytes of a packet (no authentication section; M is always clear). */
export function encodeControl(p: ControlPacket): Buffer {
  const b = Buffer.alloc(CONTROL_LENGTH);
  const v: Record_<typeof CONTROL_TABLE> = {
    versDiag: bits.versDiag(BFD_VERSION, p.diag),
    staFlags: bits.staFlags(p),
    detectMult: p.detectMult,
    length: CONTROL_LENGTH,
    myDiscriminator: p.myDiscriminator >>> 0,
    yourDiscriminator: p.yourDiscriminator >>> 0,
    desiredMinTxInterval: p.desiredMinTxInterval >>> 0,
    requiredMinRxInterval: p.requiredMinRxInterval >>> 0,
    requiredMinEchoRxInterval: p.requiredMinEchoRxInterval >>> 0,
  };
  encodeTable(CONTROL_TABLE, v, b);
  return b;
}

/** Decodes and checks a packet; see {@link DecodeError} for what is refused. */
export function decodeControl(b: Buffer): { ok: true; packet: Received } | { ok: false; error: DecodeError } {
  const r = decodeTable(CONTROL_TABLE, b);
  if (!r) return { ok: false, error: 'short' };
  if (r.versDiag >> 5 !== BFD_VERSION) return { ok: false, error: 'bad-version' };
  const auth = (r.staFlags & 0x04) !== 0;
  // §6.8.6: length at least 24 (26 with authentication) and no more than the payload
  if (r.length < (auth ? CONTROL_LENGTH + 2 : CONTROL_LENGTH) || r.length > b.length) return { ok: false, error: 'bad-length' };
  if (r.detectMult === 0) return { ok: false, error: 'zero-multiplier' };
  if ((r.staFlags & 0x01) !== 0) return { ok: false, error: 'multipoint' };
  if (r.myDiscriminator === 0) return { ok: false, error: 'zero-my-discriminator' };
  const state = ((r.staFlags >> 6) & 0x3) as BfdStateCode;
  if (r.yourDiscriminator === 0 && state !== BfdState.Down && state !== BfdState.AdminDown) return { ok: false, error: 'zero-your-discriminator' };
  return {
    ok: true,
    packet: {
      diag: r.versDiag & 0x1f, state,
      poll: (r.staFlags & 0x20) !== 0, final: (r.staFlags & 0x10) !== 0, cpi: (r.staFlags & 0x08) !== 0, demand: (r.staFlags & 0x02) !== 0, auth,
      detectMult: r.detectMult, myDiscriminator: r.myDiscriminator, yourDiscriminator: r.yourDiscriminator,
      desiredMinTxInterval: r.desiredMinTxInterval, requiredMinRxInterval: r.requiredMinRxInterval, requiredMinEchoRxInterval: r.requiredMinEchoRxInterval,
    },
  };
}
