/**
 * The field table of `baregate migrate`: for every field of every MetalLB kind (all versions of the current CRDs, and
 * the AddressPool kind of older releases), what becomes of it in baregate's objects. The converter (convert.ts) is
 * driven by this table: `as-is` fields are copied without kind-specific code, every other treatment is reported with
 * the table's note, and a field the table does not name is reported as unknown. fields.test.ts walks the vendored
 * MetalLB CRD schemas and fails when a spec path is missing here, so a new MetalLB field cannot pass unnoticed.
 *
 * Paths are written as the schema walk sees them: `spec.a.b`, `[]` for an array's items. A rule with `subtree` covers
 * every path below it (a label selector is copied whole).
 */
import { MetalLBKinds } from '../api/metallb.ts';

/** What happens to a MetalLB field. */
export const Treatments = {
  /** Copied unchanged: the same name and meaning in baregate. */
  asIs: 'as-is',
  /** Converted, but it means something different (the note says how); reported, exit code unaffected. */
  changed: 'changed',
  /** baregate cannot do it: dropped (or the object is left out), reported with why and what happens; exit code 1. */
  none: 'no-equivalent',
  /** Read by the converter itself (a name resolved, a kind split), nothing to say per object. */
  consumed: 'consumed',
} as const;
/** One of {@link Treatments}. */
export type Treatment = (typeof Treatments)[keyof typeof Treatments];

/** The rule for one path. */
export interface FieldRule {
  readonly treatment: Treatment;
  /** The rule covers every path below this one. */
  readonly subtree?: boolean;
  /**
   * MetalLB's default (its CRD's `default:`; baregate's is the same): a value equal to it is left out of the output,
   * so an object read from a cluster (defaults filled in by the apiserver) converts exactly like its file.
   */
  readonly default?: unknown;
  /** For the report: how the meaning changed, or why there is no equivalent and what happens instead. */
  readonly note?: string;
}

/** A kind's rules by path. */
export type KindRules = Readonly<Record<string, FieldRule>>;

const asIs: FieldRule = { treatment: Treatments.asIs };
const selector: FieldRule = { treatment: Treatments.asIs, subtree: true };

const SERVICE_SELECTORS_NOTE = 'baregate advertisements cannot select Services: the advertisement is converted without serviceSelectors and announces every Service of its pools';

/** MetalLB's IPAddressPool (v1beta1). */
const ipAddressPool: KindRules = {
  'spec.addresses[]': asIs,
  'spec.autoAssign': { treatment: Treatments.asIs, default: true },
  'spec.avoidBuggyIPs': { treatment: Treatments.asIs, default: false },
  'spec.serviceAllocation': { treatment: Treatments.asIs, subtree: true },
};

/** MetalLB's L2Advertisement (v1beta1). */
const l2Advertisement: KindRules = {
  'spec.ipAddressPools[]': asIs,
  'spec.ipAddressPoolSelectors': selector,
  'spec.nodeSelectors': selector,
  'spec.interfaces[]': asIs,
  'spec.serviceSelectors': { treatment: Treatments.none, subtree: true, note: SERVICE_SELECTORS_NOTE },
  'spec.preferredNodeSelectors': {
    treatment: Treatments.none, subtree: true,
    note: 'baregate has no weighted node preference for L2: the announcing node is chosen among all nodes the nodeSelectors allow (the preference is dropped)',
  },
};

/** MetalLB's BGPAdvertisement (v1beta1). */
const bgpAdvertisement: KindRules = {
  'spec.aggregationLength': { treatment: Treatments.asIs, default: 32 },
  'spec.aggregationLengthV6': { treatment: Treatments.asIs, default: 128 },
  'spec.localPref': { treatment: Treatments.asIs, default: 0 },
  'spec.asPathPrepend': {
    treatment: Treatments.none,
    note: 'baregate does not prepend its AS number: the routes are announced with an AS path of one hop, so routers may prefer them where MetalLB made them less attractive',
  },
  'spec.communities[]': { treatment: Treatments.consumed, note: 'community aliases (Community objects) are resolved to their values' },
  'spec.ipAddressPools[]': asIs,
  'spec.ipAddressPoolSelectors': selector,
  'spec.nodeSelectors': selector,
  'spec.peers[]': asIs,
  'spec.serviceSelectors': { treatment: Treatments.none, subtree: true, note: SERVICE_SELECTORS_NOTE },
};

/** MetalLB's BGPPeer (v1beta2 and the deprecated v1beta1, whose fields are a subset). */
const bgpPeer: KindRules = {
  'spec.myASN': asIs,
  'spec.peerASN': { treatment: Treatments.asIs, default: 0 },
  'spec.localASN': {
    treatment: Treatments.none,
    note: 'baregate has no per-session local-as: the session is converted with myASN, which the router will see instead of localASN (it refuses the session unless it is told the new AS number)',
  },
  'spec.dynamicASN': asIs,
  'spec.peerAddress': asIs,
  'spec.interface': {
    treatment: Treatments.none,
    note: 'baregate has no unnumbered BGP (peering over an interface without a peer address): the peer is left out',
  },
  'spec.sourceAddress': asIs,
  'spec.peerPort': { treatment: Treatments.asIs, default: 179 },
  'spec.holdTime': asIs,
  'spec.keepaliveTime': asIs,
  'spec.connectTime': asIs,
  'spec.routerID': asIs,
  'spec.nodeSelectors': selector,
  'spec.password': { treatment: Treatments.consumed, note: 'converted as plaintext password (accepted with a warning); move it to passwordSecret' },
  'spec.passwordSecret.name': asIs,
  'spec.passwordSecret.namespace': {
    treatment: Treatments.changed,
    note: 'baregate reads peer Secrets only in baregate-system: the reference keeps the name, the namespace becomes baregate-system, and the Secret must be copied there',
  },
  'spec.bfdProfile': asIs,
  'spec.enableGracefulRestart': { treatment: Treatments.asIs, default: false },
  'spec.ebgpMultiHop': { treatment: Treatments.asIs, default: false },
  'spec.vrf': {
    treatment: Treatments.none,
    note: 'baregate runs every session in the node\'s default VRF: a session there would route elsewhere, so the peer is left out',
  },
  'spec.disableMP': {
    treatment: Treatments.changed, default: false,
    note: 'baregate always offers IPv4 and IPv6 unicast on one session (multiprotocol); a router that accepts only the session\'s family gets only that family, as with disableMP',
  },
  'spec.dualStackAddressFamily': {
    treatment: Treatments.changed, default: false,
    note: 'baregate always offers IPv4 and IPv6 unicast on every session: a router that accepts the other family too gets those routes, with the node\'s address of that family as next hop (MetalLB without dualStackAddressFamily sends only the session\'s family)',
  },
};

const ECHO_MODE_NOTE = 'baregate runs BFD in asynchronous mode only (its BFDProfile refuses echoMode: true): echoMode is dropped; a dead peer is detected in the same time (detectMultiplier × the agreed interval), echo only moved that work to the forwarding plane';
const ECHO_INTERVAL_NOTE = 'converted, but without effect: baregate has no echo mode, so nothing uses the echo interval';

/**
 * MetalLB's BFDProfile (v1beta1) → baregate's BFDProfile (cluster-scoped, same field names, ranges and defaults:
 * convert.ts checks the ranges against BFDProfileRanges). No `default` here: MetalLB's CRD declares none (an
 * apiserver fills nothing in), and the values are copied as they are.
 */
const bfdProfile: KindRules = {
  'spec.receiveInterval': asIs,
  'spec.transmitInterval': asIs,
  'spec.detectMultiplier': asIs,
  'spec.echoInterval': { treatment: Treatments.changed, note: ECHO_INTERVAL_NOTE },
  'spec.echoMode': { treatment: Treatments.changed, note: ECHO_MODE_NOTE },
  'spec.passiveMode': asIs,
  'spec.minimumTtl': asIs,
};

/** MetalLB's Community (v1beta1): aliases, inlined where BGPAdvertisements use them. */
const community: KindRules = {
  'spec.communities[].name': { treatment: Treatments.consumed },
  'spec.communities[].value': { treatment: Treatments.consumed },
};

/** MetalLB's AddressPool (v1alpha1, v1beta1; removed in v0.14): split into a pool and an advertisement. */
const addressPool: KindRules = {
  'spec.addresses[]': asIs,
  'spec.autoAssign': { treatment: Treatments.asIs, default: true },
  'spec.protocol': { treatment: Treatments.consumed, note: 'layer2 becomes an L2Advertisement of the pool, bgp one BGPAdvertisement per bgpAdvertisements entry' },
  'spec.bgpAdvertisements[].aggregationLength': { treatment: Treatments.asIs, default: 32 },
  'spec.bgpAdvertisements[].aggregationLengthV6': { treatment: Treatments.asIs, default: 128 },
  'spec.bgpAdvertisements[].localPref': { treatment: Treatments.asIs, default: 0 },
  'spec.bgpAdvertisements[].communities[]': { treatment: Treatments.consumed },
};

/** Status kinds MetalLB writes for itself: nothing to convert. */
const statusKind: KindRules = { spec: { treatment: Treatments.consumed, subtree: true, note: 'status written by MetalLB: nothing to convert' } };

/** Every kind's rules, by MetalLB kind name. */
export const FieldTable: Readonly<Record<string, KindRules>> = {
  [MetalLBKinds.IPAddressPool.kind]: ipAddressPool,
  [MetalLBKinds.L2Advertisement.kind]: l2Advertisement,
  [MetalLBKinds.BGPAdvertisement.kind]: bgpAdvertisement,
  [MetalLBKinds.BGPPeer.kind]: bgpPeer,
  [MetalLBKinds.BFDProfile.kind]: bfdProfile,
  [MetalLBKinds.Community.kind]: community,
  [MetalLBKinds.AddressPool.kind]: addressPool,
  ConfigurationState: statusKind,
  ServiceBGPStatus: statusKind,
  ServiceL2Status: statusKind,
};

/**
 * The rule that covers `path` in `rules`: the path itself, or the nearest ancestor marked `subtree`. Undefined when
 * the table does not name it (an unknown field).
 */
export function ruleFor(rules: KindRules, path: string): FieldRule | undefined {
  const own = rules[path];
  if (own) return own;
  let p = path;
  for (;;) {
    const cut = Math.max(p.lastIndexOf('.'), p.endsWith('[]') ? p.length - 2 : -1);
    if (cut <= 0) return undefined;
    p = p.slice(0, cut);
    const r = rules[p];
    if (r?.subtree === true) return r;
  }
}

/**
 * The legacy configuration (the `config` ConfigMap of MetalLB ≤ v0.12 and Helm's `configInline`): every key of its
 * format, as MetalLB v0.12 reads it. legacy.ts converts each and reports any key not listed here (MetalLB itself
 * refused unknown keys).
 */
export const LegacyFieldTable: KindRules = {
  'peers[].my-asn': asIs,
  'peers[].peer-asn': asIs,
  'peers[].peer-address': asIs,
  'peers[].source-address': asIs,
  'peers[].peer-port': { treatment: Treatments.asIs, default: 179 },
  'peers[].hold-time': asIs,
  'peers[].keepalive-time': asIs,
  'peers[].router-id': asIs,
  'peers[].node-selectors[].match-labels': { treatment: Treatments.asIs, subtree: true },
  'peers[].node-selectors[].match-expressions[].key': asIs,
  'peers[].node-selectors[].match-expressions[].operator': asIs,
  'peers[].node-selectors[].match-expressions[].values[]': asIs,
  'peers[].password': bgpPeer['spec.password'] ?? asIs,
  'peers[].bfd-profile': bgpPeer['spec.bfdProfile'] ?? asIs,
  'peers[].ebgp-multihop': { treatment: Treatments.asIs, default: false },
  'bgp-communities': { treatment: Treatments.consumed, subtree: true, note: 'community aliases are resolved to their values' },
  'address-pools[].name': asIs,
  'address-pools[].protocol': addressPool['spec.protocol'] ?? asIs,
  'address-pools[].addresses[]': asIs,
  'address-pools[].avoid-buggy-ips': { treatment: Treatments.asIs, default: false },
  'address-pools[].auto-assign': { treatment: Treatments.asIs, default: true },
  'address-pools[].bgp-advertisements[].aggregation-length': { treatment: Treatments.asIs, default: 32 },
  'address-pools[].bgp-advertisements[].aggregation-length-v6': { treatment: Treatments.asIs, default: 128 },
  'address-pools[].bgp-advertisements[].localpref': { treatment: Treatments.asIs, default: 0 },
  'address-pools[].bgp-advertisements[].communities[]': { treatment: Treatments.consumed },
  'bfd-profiles[].name': asIs,
  'bfd-profiles[].receive-interval': asIs,
  'bfd-profiles[].transmit-interval': asIs,
  'bfd-profiles[].detect-multiplier': asIs,
  'bfd-profiles[].echo-interval': bfdProfile['spec.echoInterval'] ?? asIs,
  'bfd-profiles[].echo-mode': bfdProfile['spec.echoMode'] ?? asIs,
  'bfd-profiles[].passive-mode': asIs,
  'bfd-profiles[].minimum-ttl': asIs,
};
