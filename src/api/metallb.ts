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

/**
 * MetalLB kinds that hold no configuration: status MetalLB writes for itself. `baregate migrate` recognises them (so
 * a `kubectl get -A -o yaml` dump converts without complaint) and says there is nothing to convert.
 */
export const MetalLBStatusKinds = ['ConfigurationState', 'ServiceBGPStatus', 'ServiceL2Status'] as const;

/** Key of MetalLB's (≤ v0.12) Helm chart values holding the legacy configuration inline (object or YAML text). */
export const METALLB_HELM_CONFIG_INLINE = 'configInline';

/** The annotation MetalLB writes on a Service: the pool its addresses came from (both of MetalLB's prefixes). */
export const METALLB_ALLOCATED_FROM_POOL = ['metallb.io/ip-allocated-from-pool', 'metallb.universe.tf/ip-allocated-from-pool'] as const;

/**
 * Annotation prefixes of bookkeeping on MetalLB's objects (kubectl's last-applied copy, Helm's release ownership,
 * MetalLB's own): dropped when the objects are converted, since they would describe the MetalLB object (Helm would
 * even claim the converted one), not ours.
 */
export const METALLB_BOOKKEEPING_ANNOTATION_PREFIXES = ['kubectl.kubernetes.io/', 'meta.helm.sh/', 'metallb.io/', 'metallb.universe.tf/'] as const;

/** The ConfigMap key of MetalLB's legacy configuration holding BGP community aliases, and the other top-level keys. */
export const MetalLBLegacyKeys = {
  peers: 'peers',
  communities: 'bgp-communities',
  pools: 'address-pools',
  bfdProfiles: 'bfd-profiles',
} as const;
