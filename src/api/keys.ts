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
  L2Advertisement: { kind: 'L2Advertisement', plural: 'l2advertisements', singular: 'l2advertisement', shortNames: ['l2adv'] },
  BGPAdvertisement: { kind: 'BGPAdvertisement', plural: 'bgpadvertisements', singular: 'bgpadvertisement', shortNames: ['bgpadv'] },
  BGPPeer: { kind: 'BGPPeer', plural: 'bgppeers', singular: 'bgppeer', shortNames: ['bgppeer'] },
  /** BFD timers for the BGP sessions of the BGPPeers that name it. */
  BFDProfile: { kind: 'BFDProfile', plural: 'bfdprofiles', singular: 'bfdprofile', shortNames: ['bfdprofile'] },
  /** One per node, named after it, written by that node's speaker: what it announces and how, its BGP sessions. */
  SpeakerStatus: { kind: 'SpeakerStatus', plural: 'speakerstatuses', singular: 'speakerstatus', shortNames: ['spst'] },
  /** Gives the Services of an ingress gateway (Istio, ingress-nginx, Gateway API, a selector) their addresses, NodePorts off. */
  GatewayIntegration: { kind: 'GatewayIntegration', plural: 'gatewayintegrations', singular: 'gatewayintegration', shortNames: ['gwint'] },
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

/**
 * Annotation the mutating webhook writes beside the address annotation it sets on a gateway Service at creation: the
 * GatewayIntegration it acted for. An admission mutation is attributed to the creator's field manager, so without
 * this mark the planner could not tell our address annotation from the user's own request before its first apply.
 */
export const GATEWAY_INTEGRATION_ANNOTATION = 'baregate.io/gateway-integration';

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
  /** The Service holds an address that no L2Advertisement or BGPAdvertisement covers: nobody announces it. */
  NotAnnounced: 'NotAnnounced',
  /** An advertisement, peer or Secret reference the speaker cannot use (the object is named in the message). */
  ConfigInvalid: 'ConfigInvalid',
  /** A BGPPeer carries its password in plaintext (`password`) instead of `passwordSecret`. */
  PlaintextPassword: 'PlaintextPassword',
  /** A BFD session to a BGPPeer left Up (the node named in the message tore its BGP session down) or came Up again. */
  BFDSessionDown: 'BFDSessionDown',
  BFDSessionUp: 'BFDSessionUp',
} as const;

/** Prefix of MetalLB's old annotation keys: still accepted, but users are told the baregate.io key. */
export const DEPRECATED_ANNOTATION_PREFIX = 'metallb.universe.tf/';

/** Name of the controller's leader-election Lease in {@link SYSTEM_NAMESPACE}. */
export const CONTROLLER_LEASE = 'baregate-controller';

/** Name used as event source / field manager by the speakers. */
export const SPEAKER_NAME = 'baregate-speaker';

/** Speaker membership Leases in {@link SYSTEM_NAMESPACE} are named this plus the node name. */
export const SPEAKER_LEASE_PREFIX = 'baregate-speaker-';
/** Label on every speaker Lease (value: the node name), so speakers watch only these. */
export const SPEAKER_LEASE_LABEL = 'baregate.io/speaker';

/** Secret in {@link SYSTEM_NAMESPACE} holding the heartbeat HMAC key (data key {@link HEARTBEAT_SECRET_KEY}). */
export const HEARTBEAT_SECRET = 'baregate-heartbeat';
/** Data key of the heartbeat key in {@link HEARTBEAT_SECRET}: at least 16 bytes. */
export const HEARTBEAT_SECRET_KEY = 'key';
/** Default UDP port of speaker heartbeats (on the node network). */
export const HEARTBEAT_PORT = 7947;
/** Data key of a BGP password in a BGPPeer's `passwordSecret` (as MetalLB: a `kubernetes.io/basic-auth` Secret). */
export const PASSWORD_SECRET_KEY = 'password';

/** Node label that keeps a node out of every announcement (upstream Kubernetes meaning). */
export const EXCLUDE_FROM_LB_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';
/** EndpointSlice label naming its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

// ───────────── the install bundle (deploy/): object names shared by the generator, the Helm chart, the
// controller (webhook TLS, caBundle patching, heartbeat key) and the tests that run with the bundle's identities

/** ServiceAccount (and ClusterRole/Role/bindings) of the controller Deployment in {@link SYSTEM_NAMESPACE}. */
export const CONTROLLER_SERVICE_ACCOUNT = 'baregate-controller';
/** ServiceAccount (and ClusterRole/Role/bindings) of the speaker DaemonSet in {@link SYSTEM_NAMESPACE}. */
export const SPEAKER_SERVICE_ACCOUNT = 'baregate-speaker';
/** Label `app.kubernetes.io/name` on every bundle object; `app.kubernetes.io/component` is controller or speaker. */
export const APP_NAME = 'baregate';
/** Default container image of both components (one image; the tag is the package version). */
export const IMAGE_REPOSITORY = 'ghcr.io/baregate/baregate';
/** Service in {@link SYSTEM_NAMESPACE} in front of the controller's admission webhook server (port 443). */
export const WEBHOOK_SERVICE = 'baregate-webhook';
/** Container port of the controller's HTTPS webhook server (`--webhook-port`). */
export const WEBHOOK_PORT = 9443;
/** Secret (type kubernetes.io/tls: tls.crt, tls.key, ca.crt, plus ca.key) the controller keeps its webhook CA and serving certificate in. */
export const WEBHOOK_CERT_SECRET = 'baregate-webhook-cert';
/** Data key of the CA private key in {@link WEBHOOK_CERT_SECRET} (self-managed TLS only; cert-manager keeps its CA elsewhere). */
export const WEBHOOK_CA_KEY = 'ca.key';
/** ValidatingWebhookConfiguration for the baregate.io kinds (`failurePolicy: Fail`). */
export const VALIDATING_WEBHOOK = 'baregate-validating';
/** MutatingWebhookConfiguration for Services at creation (`failurePolicy: Ignore`, narrow object selector). */
export const MUTATING_WEBHOOK = 'baregate-mutating';
/** URL paths the webhook server answers on. */
export const WebhookPaths = {
  validate: '/validate-baregate-io',
  mutateService: '/mutate-service',
} as const;
/** Controller /metrics, /healthz, /readyz port (MetalLB's numbers, so dashboards and firewalls carry over). */
export const CONTROLLER_METRICS_PORT = 7472;
/** Speaker /metrics, /healthz, /readyz port. */
export const SPEAKER_METRICS_PORT = 7473;
/**
 * Opt-in label on a Service (any value): the mutating webhook sees it at creation like a known gateway's Service, so
 * a `custom` GatewayIntegration's Services can be handled from their first write (the webhook's object selector
 * cannot follow a user's own selector).
 */
export const GATEWAY_LABEL = 'baregate.io/gateway';

// ───────────── gateway integrations (src/gateway/)

/**
 * Field manager of the gateway integrations' writes to Services (server-side apply of the annotations,
 * `allocateLoadBalancerNodePorts` and `externalTrafficPolicy`; the guarded NodePort clean-up update). A manager of its
 * own, apart from {@link CONTROLLER_NAME}, so managedFields show which fields an integration owns and an apply by
 * Helm or istiod never takes or drops the allocator's fields.
 */
export const GATEWAY_FIELD_MANAGER = 'baregate-gateway';

/** `GatewayIntegration.spec.profile` values: which Services an integration matches (src/gateway/match.ts). */
export const GatewayProfiles = {
  /** Services of the Helm `istio/gateway` chart and the legacy `istio-ingressgateway` (label `istio`, type LoadBalancer). */
  istio: 'istio',
  /** Services istiod generates for Gateway API Gateways of the integration's classes. */
  istioGatewayApi: 'istio-gateway-api',
  /** The controller Service of the ingress-nginx chart (not its `-admission`/`-metrics` Services). */
  ingressNginx: 'ingress-nginx',
  /** `spec.selector` only. */
  custom: 'custom',
} as const;
/** One profile name. */
export type GatewayProfile = (typeof GatewayProfiles)[keyof typeof GatewayProfiles];

/** Labels the gateway charts and istiod put on their Services (what the profiles match). */
export const GatewayLabels = {
  /** The istio/gateway chart: `istio=<release name minus "istio-">`; the legacy ingressgateway: `istio=ingressgateway`. */
  istio: 'istio',
  /** The istio/gateway chart and the legacy chart: `app=<name>`. */
  app: 'app',
  /** istiod on the Services it generates for Gateway API Gateways. */
  istioManaged: 'gateway.istio.io/managed',
  /** Value of {@link GatewayLabels.istioManaged} set by istiod's Gateway API controller. */
  istioManagedValue: 'istio.io-gateway-controller',
  /** The Gateway a generated Service belongs to (istiod, Gateway API conformance label). */
  gatewayName: 'gateway.networking.k8s.io/gateway-name',
  appName: 'app.kubernetes.io/name',
  appComponent: 'app.kubernetes.io/component',
} as const;

/** Gateway API (`gateway.networking.k8s.io`), the version read. */
export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';
export const GATEWAY_API_VERSION = 'v1';
/** The Gateway class istiod serves by default. */
export const ISTIO_GATEWAY_CLASS = 'istio';

/** Condition types of `GatewayIntegration.status.conditions`. */
export const GatewayConditions = {
  /** True: every matched Service has the addresses asked for and (with disableNodePorts) no NodePorts. */
  Ready: 'Ready',
  /** True: a fixed address is claimed by an older integration, or held by a Service this integration does not match. */
  AddressConflict: 'AddressConflict',
  /** True: a fixed address is not an IP, is in no pool, or the addresses ask for more than one per family per Service. */
  InvalidAddress: 'InvalidAddress',
  /** True: a matched Service still has NodePorts after the clean-up (the apiserver kept them). */
  NodePortsRemaining: 'NodePortsRemaining',
  /** True: a Gateway asks for addresses that cannot be honoured (unsupported type, in no pool, in use). */
  GatewayAddressesRejected: 'GatewayAddressesRejected',
} as const;

/** Reasons of the GatewayIntegration conditions (users read them in `kubectl get gwint`); written by src/gateway/plan.ts. */
export const GatewayReadyReasons = {
  Configured: 'Configured',
  NoMatchingServices: 'NoMatchingServices',
  ServiceClaimed: 'ServiceClaimed',
  Pending: 'Pending',
  AddressConflict: 'AddressConflict',
  InvalidAddress: 'InvalidAddress',
  NotEnoughAddresses: 'NotEnoughAddresses',
  NodePortsRemaining: 'NodePortsRemaining',
  GatewayAddressesRejected: 'GatewayAddressesRejected',
  /** A condition other than Ready that does not apply (status False). */
  None: 'None',
} as const;

/** Reasons of the GatewayAddressesRejected condition: why a Gateway's first rejected address was refused. */
export const GatewayAddressRejectReasons = {
  type: 'UnsupportedAddressType',
  ip: 'InvalidAddress',
  family: 'TooManyAddresses',
  pool: 'NotInPool',
  inUse: 'InUse',
} as const;

/** Event reasons of the gateway integrations (on Services, Gateways and integrations). */
export const GatewayEventReasons = {
  /** The integration set the Service's addresses / NodePort policy. */
  GatewayConfigured: 'GatewayConfigured',
  /** The NodePorts of an existing Service were removed (confirmed by reading it back). */
  NodePortsRemoved: 'NodePortsRemoved',
  /** The apiserver kept NodePorts the clean-up removed. */
  NodePortsRemaining: 'NodePortsRemaining',
  AddressConflict: 'AddressConflict',
  InvalidAddress: 'InvalidAddress',
  GatewayAddressesRejected: 'GatewayAddressesRejected',
  /** A write was refused because another field manager owns the field with another value (the message names it). */
  FieldConflict: 'FieldConflict',
} as const;

// ───────────── switching from MetalLB (src/migrate/, baregate doctor)

/**
 * Annotation on the component namespace ({@link SYSTEM_NAMESPACE}, or the controller's `--namespace`): with the value
 * `"true"` the address controller writes nothing to any Service (no allocation, no status, no release, no event)
 * until it is removed or set to anything else. It exists so baregate can be installed beside a running MetalLB and
 * take its configuration over with no Service changing its address: set before the bundle is applied
 * (`baregate pause` creates the namespace if needed), removed when MetalLB is gone (`baregate resume`). On resume the
 * controller adopts every address the Services show before it allocates anything. The speakers are not paused.
 */
export const ALLOCATION_PAUSED_ANNOTATION = 'baregate.io/allocation-paused';
