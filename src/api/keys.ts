/**
 * Every name a user or the cluster sees: API group, kinds, annotations, labels, class.
 * Nothing outside src/api spells these strings, so renaming one is a one-line change and
 * the compatibility aliases for MetalLB live next to the names they alias.
 */

/** API group of all baregate custom resources. */
export const GROUP = 'baregate.io';
/** The served and stored version of our CRDs. */
export const VERSION = 'v1beta1';
/** `apiVersion` field value for our objects. */
export const API_VERSION = `${GROUP}/${VERSION}`;
/** Namespace the components run in. */
export const SYSTEM_NAMESPACE = 'baregate-system';
/** `spec.loadBalancerClass` that selects baregate explicitly. */
export const LOAD_BALANCER_CLASS = 'baregate.io/lb';
/** Name used as event source / field manager, so `kubectl get events` and managedFields say who wrote what. */
export const CONTROLLER_NAME = 'baregate-controller';

/** Kinds and their REST plural names (cluster-scoped). */
export const Kinds = {
  IPAddressPool: { kind: 'IPAddressPool', plural: 'ipaddresspools', singular: 'ipaddresspool', shortNames: ['bgpool', 'ippool'] },
} as const;

/** Annotations users put on Services (ours first; the others are accepted for MetalLB compatibility). */
export const ServiceAnnotations = {
  /** Comma list of fixed IPs, at most one per family. */
  loadBalancerIPs: ['baregate.io/loadBalancerIPs', 'metallb.io/loadBalancerIPs', 'metallb.universe.tf/loadBalancerIPs'],
  /** Name of the pool to allocate from. */
  addressPool: ['baregate.io/address-pool', 'metallb.io/address-pool', 'metallb.universe.tf/address-pool'],
  /** Sharing key: Services with the same key may share an IP. */
  allowSharedIP: ['baregate.io/allow-shared-ip', 'metallb.io/allow-shared-ip', 'metallb.universe.tf/allow-shared-ip'],
} as const;

/** Annotation the controller writes: the pool(s) the Service's addresses came from. */
export const ALLOCATED_FROM_POOL = 'baregate.io/ip-allocated-from-pool';

/** Event reasons the controller emits on Services and pools. */
export const EventReasons = {
  IPAllocated: 'IPAllocated',
  AllocationFailed: 'AllocationFailed',
  IPReleased: 'IPReleased',
  IPReallocated: 'IPReallocated',
  PoolOverlap: 'PoolOverlap',
  PoolInvalid: 'PoolInvalid',
  /** A Service uses a `metallb.universe.tf/…` key; emitted once per Service, suggesting the `baregate.io/…` key. */
  DeprecatedAnnotation: 'DeprecatedAnnotation',
} as const;

/** Prefix of MetalLB's old annotation keys: still accepted, but users are told the baregate.io key. */
export const DEPRECATED_ANNOTATION_PREFIX = 'metallb.universe.tf/';

/** Name of the controller's leader-election Lease in {@link SYSTEM_NAMESPACE}. */
export const CONTROLLER_LEASE = 'baregate-controller';
