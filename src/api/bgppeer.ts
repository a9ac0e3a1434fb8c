/**
 * BGPPeer: one BGP neighbour the speakers open sessions to. Field names are MetalLB's (including
 * `enableGracefulRestart`; `gracefulRestart` is ours, both accepted), durations are Go duration texts
 * (`90s`, `1m30s`) or whole seconds, and the password belongs in a Secret (`passwordSecret`).
 */
import { customResourceDefinition, conditionsSchema, durationSchema, labelSelectorSchema } from './crd.ts';
import { SYSTEM_NAMESPACE } from './keys.ts';
import type { Condition, LabelSelector, ObjectMeta } from './types.ts';

/** A Go duration text (`90s`) or whole seconds. */
export type DurationValue = string | number;

/** Reference to the Secret holding a peer's password (data key `password`, PASSWORD_SECRET_KEY). */
export interface PasswordSecretRef {
  name: string;
  /** Must be baregate-system (the speakers read Secrets there only); empty means baregate-system. */
  namespace?: string;
}

/** `BGPPeer.spec`. */
export interface BGPPeerSpec {
  myASN: number;
  /** Exactly one of peerASN and dynamicASN. */
  peerASN?: number;
  dynamicASN?: 'internal' | 'external';
  peerAddress: string;
  peerPort?: number;
  sourceAddress?: string;
  routerID?: string;
  holdTime?: DurationValue;
  keepaliveTime?: DurationValue;
  connectTime?: DurationValue;
  ebgpMultiHop?: boolean;
  passive?: boolean;
  /** MetalLB's name for graceful restart (RFC 4724). */
  enableGracefulRestart?: boolean;
  /** Ours; the same meaning as enableGracefulRestart. */
  gracefulRestart?: boolean;
  /** Plaintext TCP-MD5 password: accepted with a warning (prefer passwordSecret). */
  password?: string;
  passwordSecret?: PasswordSecretRef;
  nodeSelectors?: LabelSelector[];
  bfdProfile?: string;
  /** MetalLB's VRF name: not supported, must be empty (rejected, not silently dropped). */
  vrf?: string;
}

/** The BGPPeer object (cluster-scoped). */
export interface BGPPeer {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: BGPPeerSpec;
  status?: { conditions?: Condition[] };
}

const asn = (description: string): Record<string, unknown> => ({ type: 'integer', format: 'int64', minimum: 1, maximum: 4294967295, description });

/** The full CustomResourceDefinition for BGPPeer. */
export function bgpPeerCRD(): Record<string, unknown> {
  return customResourceDefinition({
    kind: 'BGPPeer',
    description: 'A BGP neighbour that the speakers on the selected nodes open sessions to.',
    printerColumns: [
      { name: 'Address', type: 'string', jsonPath: '.spec.peerAddress' },
      { name: 'ASN', type: 'integer', jsonPath: '.spec.peerASN' },
      { name: 'Dynamic ASN', type: 'string', jsonPath: '.spec.dynamicASN', priority: 1 },
      { name: 'My ASN', type: 'integer', jsonPath: '.spec.myASN', priority: 1 },
      { name: 'Hold Time', type: 'string', jsonPath: '.spec.holdTime', priority: 1 },
      { name: 'BFD Profile', type: 'string', jsonPath: '.spec.bfdProfile', priority: 1 },
      { name: 'Multi Hops', type: 'boolean', jsonPath: '.spec.ebgpMultiHop', priority: 1 },
    ],
    required: ['spec'],
    properties: {
      spec: {
        type: 'object',
        required: ['myASN', 'peerAddress'],
        'x-kubernetes-validations': [
          { rule: 'has(self.peerASN) != has(self.dynamicASN)', message: 'set exactly one of peerASN and dynamicASN' },
          { rule: '!(has(self.password) && has(self.passwordSecret))', message: 'set password or passwordSecret, not both' },
          { rule: '!has(self.sourceAddress) || ip(self.sourceAddress).family() == ip(self.peerAddress).family()', message: 'sourceAddress must be of the same IP family as peerAddress' },
          { rule: '!has(self.enableGracefulRestart) || !has(self.gracefulRestart) || self.enableGracefulRestart == self.gracefulRestart', message: 'enableGracefulRestart and gracefulRestart disagree' },
        ],
        properties: {
          myASN: asn('Our AS number on sessions to this peer.'),
          peerASN: asn('The peer\'s AS number (or dynamicASN).'),
          dynamicASN: { type: 'string', enum: ['internal', 'external'], description: 'Accept the AS number the peer sends: internal (same as myASN) or external (any other).' },
          peerAddress: { type: 'string', maxLength: 64, 'x-kubernetes-validations': [{ rule: 'isIP(self)', message: 'must be an IP address' }] },
          peerPort: { type: 'integer', minimum: 1, maximum: 65535, default: 179 },
          sourceAddress: { type: 'string', maxLength: 64, description: 'Local address of the session (and the listener of a passive peer).', 'x-kubernetes-validations': [{ rule: 'isIP(self)', message: 'must be an IP address' }] },
          routerID: { type: 'string', maxLength: 15, description: 'BGP identifier sent to this peer; unset: the node\'s IPv4 address.', 'x-kubernetes-validations': [{ rule: "isIP(self) && ip(self).family() == 4 && self != '0.0.0.0'", message: 'must be a non-zero IPv4 address' }] },
          holdTime: durationSchema('Hold time offered (RFC 4271): 0, or 3s..65535s; default 90s.', 3, 65535, true),
          keepaliveTime: durationSchema('Keepalive interval; default a third of the hold time.', 1, 65535),
          connectTime: durationSchema('Delay before a failed connection is retried; default 10s.', 1, 3600),
          ebgpMultiHop: { type: 'boolean', default: false, description: 'The peer is more than one hop away (eBGP multihop).' },
          passive: { type: 'boolean', default: false, description: 'Wait for the peer to connect; never dial.' },
          enableGracefulRestart: { type: 'boolean', description: 'Graceful restart (RFC 4724): MetalLB\'s name for gracefulRestart.' },
          gracefulRestart: { type: 'boolean', description: 'Graceful restart (RFC 4724); default on.' },
          password: { type: 'string', maxLength: 80, description: 'TCP-MD5 password in plaintext: accepted with a warning; use passwordSecret.' },
          passwordSecret: {
            type: 'object',
            required: ['name'],
            description: `A Secret in ${SYSTEM_NAMESPACE} whose data key "password" holds the TCP-MD5 password.`,
            properties: {
              name: { type: 'string', minLength: 1, maxLength: 253 },
              namespace: { type: 'string', maxLength: 63, 'x-kubernetes-validations': [{ rule: `self == '' || self == '${SYSTEM_NAMESPACE}'`, message: `the Secret must be in ${SYSTEM_NAMESPACE}` }] },
            },
            'x-kubernetes-map-type': 'atomic',
          },
          nodeSelectors: { type: 'array', description: 'Nodes that peer with it (any selector matching); none: every node.', maxItems: 64, items: labelSelectorSchema },
          bfdProfile: { type: 'string', maxLength: 253, description: 'Name of a BFDProfile for this session.' },
          // MetalLB's field, rejected rather than pruned: a session silently in the default VRF would route elsewhere
          vrf: { type: 'string', maxLength: 64, description: 'Not supported: must be empty (sessions run in the node\'s default VRF).', 'x-kubernetes-validations': [{ rule: "self == ''", message: 'VRFs are not supported: sessions run in the default VRF' }] },
        },
      },
      status: { type: 'object', properties: { conditions: conditionsSchema } },
    },
  });
}
