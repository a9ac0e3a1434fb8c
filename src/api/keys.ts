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
  /** One per node, named after it, written by that node's speaker: what it announces and how, its BGP sessions. */
  SpeakerStatus: { kind: 'SpeakerStatus', plural: 'speakerstatuses', singular: 'speakerstatus', shortNames: ['spst'] },
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
  /** The Service holds an address that no L2Advertisement or BGPAdvertisement covers: nobody announces it. */
  NotAnnounced: 'NotAnnounced',
  /** An advertisement, peer or Secret reference the speaker cannot use (the object is named in the message). */
  ConfigInvalid: 'ConfigInvalid',
  /** A BGPPeer carries its password in plaintext (`password`) instead of `passwordSecret`. */
  PlaintextPassword: 'PlaintextPassword',
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
