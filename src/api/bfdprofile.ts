/**
 * BFDProfile: the BFD timers (RFC 5880) of the BGP sessions whose BGPPeer names it in `spec.bfdProfile`. Field names
 * and defaults are MetalLB's, so a MetalLB profile converts by changing apiVersion and dropping the namespace. Echo
 * mode is not implemented and is rejected (`echoMode: true`), not silently ignored; `echoInterval` is accepted for
 * compatibility and has no effect. `waitForUp` is ours: by default BGP never waits for BFD.
 */
import { conditionsSchema, customResourceDefinition } from './crd.ts';
import type { Condition, ObjectMeta } from './types.ts';

/** `BFDProfile.spec`; every field optional (the defaults are {@link BFDProfileDefaults}). */
export interface BFDProfileSpec {
  /** Slowest rate we want to receive control packets at, ms (RFC 5880 Required Min RX Interval). */
  receiveInterval?: number;
  /** Fastest rate we want to send at, ms (Desired Min TX Interval). */
  transmitInterval?: number;
  /** Missed packets before the session is declared down (Detect Mult). */
  detectMultiplier?: number;
  /** Accepted, no effect: echo mode is not supported. */
  echoInterval?: number;
  /** Must be false or absent: echo mode is not supported. */
  echoMode?: boolean;
  /** Send nothing until the peer has sent a packet (RFC 5880 §6.1 passive role). */
  passiveMode?: boolean;
  /** Multihop sessions only: lowest TTL / hop limit accepted on received packets (RFC 5883 §2). */
  minimumTtl?: number;
  /** Ours: the BGP session is not opened until BFD is Up (default: BGP starts at once, BFD only tears it down). */
  waitForUp?: boolean;
}

/** The BFDProfile object (cluster-scoped). */
export interface BFDProfile {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: BFDProfileSpec;
  status?: { conditions?: Condition[] };
}

/** MetalLB's defaults (its BFDProfile docs): 300 ms × 3 is a 900 ms detection time. */
export const BFDProfileDefaults = {
  receiveInterval: 300,
  transmitInterval: 300,
  detectMultiplier: 3,
  passiveMode: false,
  minimumTtl: 254,
  waitForUp: false,
} as const;

/** Ranges of the numeric fields (MetalLB's validation ranges), shared by the CRD schema and parseConfig. */
export const BFDProfileRanges = {
  receiveInterval: { min: 10, max: 60000 },
  transmitInterval: { min: 10, max: 60000 },
  detectMultiplier: { min: 2, max: 255 },
  echoInterval: { min: 10, max: 60000 },
  minimumTtl: { min: 1, max: 254 },
} as const;

const ranged = (field: keyof typeof BFDProfileRanges, description: string): Record<string, unknown> =>
  ({ type: 'integer', minimum: BFDProfileRanges[field].min, maximum: BFDProfileRanges[field].max, description });

/** The full CustomResourceDefinition for BFDProfile. */
export function bfdProfileCRD(): Record<string, unknown> {
  return customResourceDefinition({
    kind: 'BFDProfile',
    description: 'BFD timers (RFC 5880, asynchronous mode) for the BGP sessions of the BGPPeers that name it in spec.bfdProfile: a dead link or node is detected in detectMultiplier × the agreed interval, and the BGP session is torn down at once.',
    printerColumns: [
      { name: 'Receive Interval', type: 'integer', jsonPath: '.spec.receiveInterval' },
      { name: 'Transmit Interval', type: 'integer', jsonPath: '.spec.transmitInterval' },
      { name: 'Multiplier', type: 'integer', jsonPath: '.spec.detectMultiplier' },
      { name: 'Passive', type: 'boolean', jsonPath: '.spec.passiveMode', priority: 1 },
      { name: 'Minimum TTL', type: 'integer', jsonPath: '.spec.minimumTtl', priority: 1 },
    ],
    properties: {
      spec: {
        type: 'object',
        properties: {
          receiveInterval: ranged('receiveInterval', `Slowest rate at which we want control packets, ms (Required Min RX Interval); default ${BFDProfileDefaults.receiveInterval}.`),
          transmitInterval: ranged('transmitInterval', `Fastest rate at which we want to send, ms (Desired Min TX Interval); default ${BFDProfileDefaults.transmitInterval}. Until the session is Up, packets go at most once a second (RFC 5880 §6.8.3).`),
          detectMultiplier: ranged('detectMultiplier', `Control packets that may be missed before the session is declared down; default ${BFDProfileDefaults.detectMultiplier}.`),
          echoInterval: ranged('echoInterval', 'Accepted for compatibility with MetalLB; no effect (echo mode is not supported).'),
          echoMode: { type: 'boolean', description: 'Not supported: must be false.', 'x-kubernetes-validations': [{ rule: '!self', message: 'echo mode is not supported: baregate runs BFD in asynchronous mode only' }] },
          passiveMode: { type: 'boolean', description: 'Send nothing until the peer has sent a control packet; default false.' },
          minimumTtl: ranged('minimumTtl', `Multihop sessions (BGPPeer.ebgpMultiHop): the lowest TTL or hop limit accepted on received packets; default ${BFDProfileDefaults.minimumTtl}. Single-hop sessions accept 255 only (RFC 5881).`),
          waitForUp: { type: 'boolean', description: 'Do not open the BGP session until BFD is Up; default false (BGP starts at once; BFD going down tears it down).' },
        },
      },
      status: { type: 'object', properties: { conditions: conditionsSchema } },
    },
  });
}
