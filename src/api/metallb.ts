/**
 * MetalLB's API names, as its users and clusters spell them: what `baregate migrate` reads and `baregate doctor`
 * looks for. They are MetalLB's, not ours (ours live in keys.ts); kept in one place so no other file spells them.
 */

/** MetalLB's CRD group. */
export const METALLB_GROUP = 'metallb.io';
/** The namespace MetalLB is installed in by its manifests and chart. */
export const METALLB_NAMESPACE = 'metallb-system';
/** Name of the legacy (≤ v0.12) configuration ConfigMap in {@link METALLB_NAMESPACE}; its data key is {@link METALLB_LEGACY_CONFIG_KEY}. */
export const METALLB_LEGACY_CONFIGMAP = 'config';
/** Data key of the legacy ConfigMap holding the YAML configuration. */
export const METALLB_LEGACY_CONFIG_KEY = 'config';

/** MetalLB kinds with their REST plural names and the versions MetalLB serves(d). */
export const MetalLBKinds = {
  IPAddressPool: { kind: 'IPAddressPool', plural: 'ipaddresspools', versions: ['v1beta1'] },
  L2Advertisement: { kind: 'L2Advertisement', plural: 'l2advertisements', versions: ['v1beta1'] },
  BGPAdvertisement: { kind: 'BGPAdvertisement', plural: 'bgpadvertisements', versions: ['v1beta1'] },
  BGPPeer: { kind: 'BGPPeer', plural: 'bgppeers', versions: ['v1beta2', 'v1beta1'] },
  BFDProfile: { kind: 'BFDProfile', plural: 'bfdprofiles', versions: ['v1beta1'] },
  Community: { kind: 'Community', plural: 'communities', versions: ['v1beta1'] },
  /** Removed in MetalLB v0.14; still in old clusters and files. */
  AddressPool: { kind: 'AddressPool', plural: 'addresspools', versions: ['v1beta1', 'v1alpha1'] },
} as const;
