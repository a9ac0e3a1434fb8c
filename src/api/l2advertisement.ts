/**
 * L2Advertisement: which pools are announced with ARP/NDP, from which nodes, on which interfaces.
 * Field names are MetalLB's, so a MetalLB object converts by changing apiVersion and dropping the namespace.
 */
import { conditionsSchema, customResourceDefinition, labelSelectorSchema } from './crd.ts';
import type { Condition, LabelSelector, ObjectMeta } from './types.ts';

/** `L2Advertisement.spec`. Neither pool names nor pool selectors: every pool is announced. */
export interface L2AdvertisementSpec {
  /** Pools by name. */
  ipAddressPools?: string[];
  /** Pools by label; a pool matching any selector is covered. */
  ipAddressPoolSelectors?: LabelSelector[];
  /** Nodes that may announce (any selector matching); none: every node. */
  nodeSelectors?: LabelSelector[];
  /** Interfaces to answer on; none: the interfaces whose subnet holds the address. */
  interfaces?: string[];
}

/** The L2Advertisement object (cluster-scoped). */
export interface L2Advertisement {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: L2AdvertisementSpec;
  status?: { conditions?: Condition[] };
}

/** Schema of the pool/node selection fields shared by L2Advertisement and BGPAdvertisement. */
export const advertisementSelectionProperties = {
  ipAddressPools: { type: 'array', description: 'Pools announced, by name. With no ipAddressPools and no ipAddressPoolSelectors, every pool is announced.', maxItems: 256, items: { type: 'string', minLength: 1, maxLength: 253 } },
  ipAddressPoolSelectors: { type: 'array', description: 'Pools announced, by label (any selector matching is enough).', maxItems: 64, items: labelSelectorSchema },
  nodeSelectors: { type: 'array', description: 'Nodes that announce (any selector matching is enough); none: every node.', maxItems: 64, items: labelSelectorSchema },
} as const;

/** The full CustomResourceDefinition for L2Advertisement. */
export function l2AdvertisementCRD(): Record<string, unknown> {
  return customResourceDefinition({
    kind: 'L2Advertisement',
    description: 'Announces the addresses of the selected pools with ARP (IPv4) and NDP (IPv6) from one node per address.',
    printerColumns: [
      { name: 'IPAddressPools', type: 'string', jsonPath: '.spec.ipAddressPools' },
      { name: 'IPAddressPool Selectors', type: 'string', jsonPath: '.spec.ipAddressPoolSelectors', priority: 1 },
      { name: 'Interfaces', type: 'string', jsonPath: '.spec.interfaces' },
      { name: 'Node Selectors', type: 'string', jsonPath: '.spec.nodeSelectors', priority: 10 },
    ],
    properties: {
      spec: {
        type: 'object',
        properties: {
          ...advertisementSelectionProperties,
          interfaces: {
            type: 'array', description: 'Interfaces to answer on; none: the interfaces whose subnet holds the address.', maxItems: 64,
            items: { type: 'string', minLength: 1, maxLength: 15, 'x-kubernetes-validations': [{ rule: "!self.contains('/') && !self.contains(' ') && self != '.' && self != '..'", message: 'not a Linux interface name' }] },
          },
        },
      },
      status: { type: 'object', properties: { conditions: conditionsSchema } },
    },
  });
}
