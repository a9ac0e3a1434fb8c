/**
 * IPAddressPool: the TypeScript type and the CRD (OpenAPI schema + CEL rules) side by side, so the
 * shape users write and the shape the controller reads cannot drift. Field names follow MetalLB.
 */
import { conditionsSchema, customResourceDefinition, labelSelectorSchema } from './crd.ts';
import type { Condition, LabelSelector, ObjectMeta } from './types.ts';

/** Re-exported: the selector schema every kind shares lives in crd.ts. */
export { labelSelectorSchema };

/** Which Services may take addresses from a pool, and in which order pools are tried. */
export interface ServiceAllocation {
  /**
   * Lower number = tried first (MetalLB semantics); unset or 0 is the lowest priority. Pools that scope
   * themselves to the Service (namespaces, selectors) are tried before unscoped pools, whatever the number.
   */
  priority?: number;
  namespaces?: string[];
  namespaceSelectors?: LabelSelector[];
  serviceSelectors?: LabelSelector[];
}

/** `IPAddressPool.spec`. */
export interface IPAddressPoolSpec {
  /** CIDRs (`192.0.2.0/24`), ranges (`192.0.2.10-192.0.2.20`) or single IPs; IPv4 and IPv6 mixed. */
  addresses: string[];
  autoAssign?: boolean;
  avoidBuggyIPs?: boolean;
  serviceAllocation?: ServiceAllocation;
}

/** `IPAddressPool.status`: counts are decimal strings because a /64 does not fit in a number. */
export interface IPAddressPoolStatus {
  assignedIPv4?: string;
  availableIPv4?: string;
  assignedIPv6?: string;
  availableIPv6?: string;
  observedGeneration?: number;
  conditions?: Condition[];
}

/** The IPAddressPool object. */
export interface IPAddressPool {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: IPAddressPoolSpec;
  status?: IPAddressPoolStatus;
}

/** Status condition types on pools. */
export const PoolConditions = { Valid: 'Valid', Overlap: 'Overlapping' } as const;

/** CEL: `s` (an IPv4 address string) as an integer, for range-order checks. */
function celIPv4ToInt(s: string): string {
  return [16777216, 65536, 256, 1].map((m, i) => `int(${s}.split('.')[${i}]) * ${m}`).join(' + ');
}

const lo = "self.split('-')[0].trim()";
const hi = "self.split('-')[1].trim()";
const isRange = `self.split('-').size() == 2 && isIP(${lo}) && isIP(${hi})`;

/**
 * CEL rules for one `addresses` entry: evaluated by the apiserver, so bad pools never get stored.
 * A reversed IPv6 range is the one mistake CEL cannot catch here: the library has no IP ordering and
 * the apiserver's cost estimator rejects every bit-walking rule, so the controller reports it on the
 * pool's `Valid` condition and as a `PoolInvalid` event instead.
 */
export const addressRules = [
  {
    rule: `isCIDR(self) || isIP(self) || (${isRange})`,
    message: 'must be a CIDR (192.0.2.0/24), a range (192.0.2.10-192.0.2.20) or a single IP',
  },
  {
    rule: `!(${isRange}) || ip(${lo}).family() == ip(${hi}).family()`,
    message: 'both ends of a range must be of the same IP family',
  },
  {
    rule: `!(${isRange}) || ip(${lo}).family() != 4 || ip(${hi}).family() != 4 || ${celIPv4ToInt(lo)} <= ${celIPv4ToInt(hi)}`,
    message: 'range is reversed: the first address must not be greater than the last',
  },
];

/** The full CustomResourceDefinition object for IPAddressPool. */
export function ipAddressPoolCRD(): Record<string, unknown> {
  return customResourceDefinition({
    kind: 'IPAddressPool',
    description: 'A set of IP addresses that baregate hands out to LoadBalancer Services.',
    required: ['spec'],
    printerColumns: [
      { name: 'Auto Assign', type: 'boolean', jsonPath: '.spec.autoAssign' },
      { name: 'Avoid Buggy IPs', type: 'boolean', jsonPath: '.spec.avoidBuggyIPs' },
      { name: 'Addresses', type: 'string', jsonPath: '.spec.addresses' },
      { name: 'IPv4 Assigned', type: 'string', jsonPath: '.status.assignedIPv4' },
      { name: 'IPv4 Available', type: 'string', jsonPath: '.status.availableIPv4' },
      { name: 'IPv6 Assigned', type: 'string', jsonPath: '.status.assignedIPv6', priority: 1 },
      { name: 'IPv6 Available', type: 'string', jsonPath: '.status.availableIPv6', priority: 1 },
    ],
    properties: {
      spec: {
        type: 'object',
        required: ['addresses'],
        properties: {
          addresses: {
            type: 'array',
            description: 'CIDRs, ranges (first-last) or single IPs; IPv4 and IPv6 may be mixed.',
            minItems: 1,
            maxItems: 64,
            items: { type: 'string', minLength: 1, maxLength: 96, 'x-kubernetes-validations': addressRules },
          },
          autoAssign: { type: 'boolean', default: true, description: 'Hand out addresses to Services that did not ask for this pool by name.' },
          avoidBuggyIPs: { type: 'boolean', default: false, description: 'Skip IPv4 addresses ending in .0 or .255.' },
          serviceAllocation: {
            type: 'object',
            properties: {
              priority: { type: 'integer', minimum: 0, description: 'Pools with a lower number are tried first; 0 or unset is tried last. Pools scoped to the Service (namespaces, selectors) come before unscoped pools.' },
              namespaces: { type: 'array', items: { type: 'string' } },
              namespaceSelectors: { type: 'array', items: labelSelectorSchema },
              serviceSelectors: { type: 'array', items: labelSelectorSchema },
            },
          },
        },
      },
      status: {
        type: 'object',
        properties: {
          assignedIPv4: { type: 'string' },
          availableIPv4: { type: 'string' },
          assignedIPv6: { type: 'string' },
          availableIPv6: { type: 'string' },
          observedGeneration: { type: 'integer', format: 'int64' },
          conditions: conditionsSchema,
        },
      },
    },
  });
}

