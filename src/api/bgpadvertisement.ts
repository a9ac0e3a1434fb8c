/**
 * BGPAdvertisement: which pools are announced to which BGP peers, from which nodes, with which
 * attributes and aggregation. Field names are MetalLB's.
 */
import { conditionsSchema, customResourceDefinition } from './crd.ts';
import { advertisementSelectionProperties } from './l2advertisement.ts';
import type { Condition, LabelSelector, ObjectMeta } from './types.ts';

/** `BGPAdvertisement.spec`. Neither pool names nor pool selectors: every pool is announced. */
export interface BGPAdvertisementSpec {
  ipAddressPools?: string[];
  ipAddressPoolSelectors?: LabelSelector[];
  nodeSelectors?: LabelSelector[];
  /** BGPPeer names to announce to; none: every peer of the node. */
  peers?: string[];
  /** `ASN:value` (16-bit each), a well-known name (`no-export`, …) or MetalLB's `large:a:b:c`. */
  communities?: string[];
  /** `global:local1:local2` (32-bit each). */
  largeCommunities?: string[];
  /** LOCAL_PREF for iBGP peers. */
  localPref?: number;
  /** Prefix length announced for an IPv4 address: 32 (default) announces the host route. */
  aggregationLength?: number;
  /** Prefix length announced for an IPv6 address (default 128). */
  aggregationLengthV6?: number;
}

/** The BGPAdvertisement object (cluster-scoped). */
export interface BGPAdvertisement {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: BGPAdvertisementSpec;
  status?: { conditions?: Condition[] };
}

/** The same language as the parser in src/config/communities.ts (which the speaker uses). */
/** CEL: the text `s` is global:local1:local2, 32-bit each. */
const large = (s: string): string =>
  `${s}.matches('^[0-9]{1,10}:[0-9]{1,10}:[0-9]{1,10}$') && int(${s}.split(':')[0]) <= 4294967295 && int(${s}.split(':')[1]) <= 4294967295 && int(${s}.split(':')[2]) <= 4294967295`;
const communityRule = {
  rule: "self in ['graceful-shutdown', 'no-export', 'no-advertise', 'no-export-subconfed', 'no-peer'] || (self.matches('^[0-9]{1,5}:[0-9]{1,5}$') && int(self.split(':')[0]) <= 65535 && int(self.split(':')[1]) <= 65535)"
    + ` || (self.startsWith('large:') && ${large('self.substring(6)')})`,
  message: 'must be ASN:value (16-bit each), a well-known community name (no-export, no-advertise, no-export-subconfed, no-peer, graceful-shutdown) or large:global:local1:local2 (as MetalLB writes large communities)',
};
const largeCommunityRule = { rule: large('self'), message: 'must be global:local1:local2, each 0..4294967295' };

/** The full CustomResourceDefinition for BGPAdvertisement. */
export function bgpAdvertisementCRD(): Record<string, unknown> {
  return customResourceDefinition({
    kind: 'BGPAdvertisement',
    description: 'Announces the addresses of the selected pools to BGP peers from every eligible node (ECMP at the router).',
    printerColumns: [
      { name: 'IPAddressPools', type: 'string', jsonPath: '.spec.ipAddressPools' },
      { name: 'IPAddressPool Selectors', type: 'string', jsonPath: '.spec.ipAddressPoolSelectors', priority: 1 },
      { name: 'Peers', type: 'string', jsonPath: '.spec.peers' },
      { name: 'Aggregation', type: 'integer', jsonPath: '.spec.aggregationLength', priority: 1 },
      { name: 'Node Selectors', type: 'string', jsonPath: '.spec.nodeSelectors', priority: 10 },
    ],
    properties: {
      spec: {
        type: 'object',
        properties: {
          ...advertisementSelectionProperties,
          peers: { type: 'array', description: 'BGPPeer names to announce to; none: every peer of the node.', maxItems: 256, items: { type: 'string', minLength: 1, maxLength: 253 } },
          communities: { type: 'array', description: 'BGP communities: ASN:value or a well-known name.', maxItems: 64, items: { type: 'string', maxLength: 40, 'x-kubernetes-validations': [communityRule] } },
          largeCommunities: { type: 'array', description: 'BGP large communities (RFC 8092): global:local1:local2.', maxItems: 64, items: { type: 'string', maxLength: 40, 'x-kubernetes-validations': [largeCommunityRule] } },
          localPref: { type: 'integer', format: 'int64', minimum: 0, maximum: 4294967295, description: 'LOCAL_PREF sent to iBGP peers.' },
          aggregationLength: { type: 'integer', minimum: 0, maximum: 32, default: 32, description: 'Prefix length announced for an IPv4 address (32: the address alone).' },
          aggregationLengthV6: { type: 'integer', minimum: 0, maximum: 128, default: 128, description: 'Prefix length announced for an IPv6 address (128: the address alone).' },
        },
      },
      status: { type: 'object', properties: { conditions: conditionsSchema } },
    },
  });
}
