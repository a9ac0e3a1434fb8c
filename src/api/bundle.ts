/**
 * The install bundle (`deploy/baregate.yaml`) built from TypeScript: every object a cluster needs to run
 * baregate, in apply order, from the same names (src/api/keys.ts) and CRDs (src/api/render.ts) the code
 * uses, so a renamed Lease, port or kind cannot leave the manifests behind. The Helm chart renders the
 * same objects from the same knobs ({@link BundleValues}); a test compares the two.
 *
 * Least privilege is data here ({@link controllerRules}, {@link speakerRules}): each rule says which code
 * path needs it, the generated file carries that as a comment above the rule, and the integration tests
 * run both components with tokens of exactly these ServiceAccounts.
 */
import { readFileSync } from 'node:fs';
import { Document, isMap, isScalar, isSeq, type Node } from 'yaml';
import {
  APP_NAME, CONTROLLER_LEASE, GATEWAY_API_GROUP, CONTROLLER_METRICS_PORT, CONTROLLER_SERVICE_ACCOUNT, GATEWAY_LABEL, GROUP, HEARTBEAT_PORT,
  HEARTBEAT_SECRET, IMAGE_REPOSITORY, Kinds, LOAD_BALANCER_CLASS, MUTATING_WEBHOOK, SPEAKER_METRICS_PORT,
  SPEAKER_SERVICE_ACCOUNT, SYSTEM_NAMESPACE, VALIDATING_WEBHOOK, VERSION, WEBHOOK_CERT_SECRET, WEBHOOK_PORT,
  WEBHOOK_SERVICE, WebhookPaths,
} from './keys.ts';
import { allCRDs } from './render.ts';

/** The package version: the default image tag and the `app.kubernetes.io/version` label. */
export const PACKAGE_VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** A container's `resources` (requests and limits, Kubernetes quantity strings). */
export interface ResourceValues {
  requests: Record<string, string>;
  limits: Record<string, string>;
}

/** A Pod toleration, as in the Pod spec. */
export interface TolerationValue {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
}

/**
 * The knobs of the bundle. They are the Helm chart's values one to one (same names, same nesting), so a
 * `helm template --set controller.replicas=3` and `bundleObjects({ controller: { replicas: 3 } })` agree.
 */
export interface BundleValues {
  /** One image for both components (entrypoint `baregate`; the first argument picks the component). */
  image: { repository: string; tag: string; pullPolicy: 'IfNotPresent' | 'Always' | 'Never' };
  /** `--log-level` of both components. */
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** `--lb-class`: the `spec.loadBalancerClass` served. */
  lbClass: string;
  /** `--only-own-class`: leave Services without a class alone (another load balancer serves them). */
  onlyOwnClass: boolean;
  controller: {
    replicas: number;
    leaseDurationSeconds: number;
    nodeSelector: Record<string, string>;
    tolerations: TolerationValue[];
    resources: ResourceValues;
  };
  speaker: {
    leaseDurationSeconds: number;
    heartbeatIntervalMs: number;
    heartbeatTimeoutMs: number;
    nodeSelector: Record<string, string>;
    tolerations: TolerationValue[];
    resources: ResourceValues;
  };
  /** `enabled: false` drops both webhook configurations and the webhook Service (the controller gets `--webhook-port=0`). */
  webhooks: { enabled: boolean; certManager: boolean };
  /** Prometheus Operator ServiceMonitors for both metrics Services. */
  serviceMonitor: boolean;
}

/** Overrides for {@link bundleObjects}: any top-level value, and any field of the nested groups. */
export type BundleOverrides = {
  [K in keyof BundleValues]?: BundleValues[K] extends unknown[] ? BundleValues[K]
    : BundleValues[K] extends object ? Partial<BundleValues[K]> : BundleValues[K];
};

/** Tolerations that let the speaker run on control-plane nodes (current and pre-1.24 taint names). */
const CONTROL_PLANE_TOLERATIONS: TolerationValue[] = [
  { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node-role.kubernetes.io/master', operator: 'Exists', effect: 'NoSchedule' },
];

/** The default bundle's values (deploy/baregate.yaml is `renderBundle(DEFAULT_VALUES)`). */
export const DEFAULT_VALUES: BundleValues = {
  image: { repository: IMAGE_REPOSITORY, tag: PACKAGE_VERSION, pullPolicy: 'IfNotPresent' },
  logLevel: 'info',
  lbClass: LOAD_BALANCER_CLASS,
  onlyOwnClass: false,
  controller: {
    replicas: 2,
    leaseDurationSeconds: 15,
    nodeSelector: {},
    tolerations: [],
    // target: <= 150 MiB RSS at 10k Services (ARCHITECTURE.md section 6), so 256Mi leaves headroom
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
  },
  speaker: {
    leaseDurationSeconds: 15,
    heartbeatIntervalMs: 100,
    heartbeatTimeoutMs: 350,
    nodeSelector: {},
    tolerations: CONTROL_PLANE_TOLERATIONS,
    // target: <= 120 MiB RSS at 10k Services
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '192Mi' } },
  },
  webhooks: { enabled: true, certManager: false },
  serviceMonitor: false,
};

/** Fills `v` up with {@link DEFAULT_VALUES} (one level deep, as Helm merges values of nested groups). */
export function bundleValues(v: BundleOverrides = {}): BundleValues {
  const d = DEFAULT_VALUES;
  return {
    image: { ...d.image, ...v.image },
    logLevel: v.logLevel ?? d.logLevel,
    lbClass: v.lbClass ?? d.lbClass,
    onlyOwnClass: v.onlyOwnClass ?? d.onlyOwnClass,
    controller: { ...d.controller, ...v.controller },
    speaker: { ...d.speaker, ...v.speaker },
    webhooks: { ...d.webhooks, ...v.webhooks },
    serviceMonitor: v.serviceMonitor ?? d.serviceMonitor,
  };
}

// ───────────── RBAC as data

/** An RBAC PolicyRule. */
export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** A rule and the reason it exists (the code path that needs it); the reason becomes a comment in the bundle. */
export interface ExplainedRule {
  rule: PolicyRule;
  why: string;
}

/** One component's permissions: cluster-wide (a ClusterRole) and in {@link SYSTEM_NAMESPACE} only (a Role). */
export interface ComponentRules {
  cluster: ExplainedRule[];
  namespace: ExplainedRule[];
}

const G = GROUP;
/** Every config kind the controller and speakers read (SpeakerStatus is written, not read as config). */
const configPlurals = (): string[] => [Kinds.IPAddressPool.plural, Kinds.L2Advertisement.plural, Kinds.BGPAdvertisement.plural, Kinds.BGPPeer.plural, Kinds.BFDProfile.plural];
/** Why some rules have no resourceNames: RBAC cannot name an object that does not exist yet. */
const CREATE_NOTE = 'resourceNames cannot restrict create: the name is not known when it is authorized';

/**
 * What the controller may do. Derived from the code (src/lb/controller.ts informers and status writer,
 * src/k8s/events.ts, src/k8s/leader.ts, the webhook TLS and heartbeat key in src/cli/controller.ts) and
 * checked by running the controller with exactly these rules (test/integration/bundle.test.ts).
 */
export const controllerRules: ComponentRules = {
  cluster: [
    { why: 'allocation: the Service informer (list/watch), the ip-allocated-from-pool annotation (patch)', rule: { apiGroups: [''], resources: ['services'], verbs: ['list', 'watch', 'patch'] } },
    { why: 'allocation: status.loadBalancer.ingress is written with a merge patch of the status subresource', rule: { apiGroups: [''], resources: ['services/status'], verbs: ['patch'] } },
    { why: 'pools scoped by serviceAllocation.namespaceSelectors need the namespace labels', rule: { apiGroups: [''], resources: ['namespaces'], verbs: ['list', 'watch'] } },
    { why: 'IPAllocated, AllocationFailed, NotAnnounced, ... (core/v1 Events: created once, then their count patched)', rule: { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] } },
    { why: 'pools and advertisements are the allocation and coverage config (informers); the validating webhook reads every config kind (peers and BFD profiles too)', rule: { apiGroups: [G], resources: configPlurals(), verbs: ['list', 'watch'] } },
    { why: 'pool usage counts and conditions (Valid, Overlapping)', rule: { apiGroups: [G], resources: [`${Kinds.IPAddressPool.plural}/status`], verbs: ['patch'] } },
    { why: 'gateway integrations: their informer (every replica: the mutating webhook reads it too)', rule: { apiGroups: [G], resources: [Kinds.GatewayIntegration.plural], verbs: ['list', 'watch'] } },
    { why: 'gateway integrations: matched Services and conditions', rule: { apiGroups: [G], resources: [`${Kinds.GatewayIntegration.plural}/status`], verbs: ['patch'] } },
    { why: 'gateway integrations: NodePort clean-up of an existing gateway Service is an update guarded by resourceVersion, then read back', rule: { apiGroups: [''], resources: ['services'], verbs: ['get', 'update'] } },
    { why: 'gateway integrations, istio-gateway-api: a Gateway\'s spec.addresses are the requested IPs of its Service (read only; istiod writes Gateway status)', rule: { apiGroups: [GATEWAY_API_GROUP], resources: ['gateways'], verbs: ['list', 'watch'] } },
    {
      why: 'self-managed webhook TLS: the controller patches caBundle into its own two configurations only (a list/watch is allowed only with a metadata.name field selector naming one of them)',
      rule: { apiGroups: ['admissionregistration.k8s.io'], resources: ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'], verbs: ['get', 'patch'], resourceNames: [VALIDATING_WEBHOOK, MUTATING_WEBHOOK] },
    },
  ],
  namespace: [
    { why: `leader election: the Lease is created when absent (${CREATE_NOTE})`, rule: { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] } },
    { why: 'leader election: only the controller Lease is read and renewed', rule: { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'update'], resourceNames: [CONTROLLER_LEASE] } },
    {
      why: `webhook CA/serving certificate (${WEBHOOK_CERT_SECRET}) and heartbeat key (${HEARTBEAT_SECRET}) are created when absent (${CREATE_NOTE}); BGP passwordSecret references are validated against the Secrets here (list/watch)`,
      rule: { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'create'] },
    },
    { why: 'certificate rotation rewrites only the two Secrets the controller owns', rule: { apiGroups: [''], resources: ['secrets'], verbs: ['update', 'patch'], resourceNames: [WEBHOOK_CERT_SECRET, HEARTBEAT_SECRET] } },
  ],
};

/**
 * What a speaker may do: read the cluster state it plans from, write its own Lease, SpeakerStatus and
 * events. It can write no Service and read no Secret outside {@link SYSTEM_NAMESPACE}. Derived from
 * src/speaker/sources.ts (informers), src/speaker/lease.ts, src/k8s/speakerstatus.ts and src/k8s/events.ts.
 */
export const speakerRules: ComponentRules = {
  cluster: [
    { why: 'the planner: Services with their IPs, traffic policy; Nodes (labels, addresses, readiness)', rule: { apiGroups: [''], resources: ['services', 'nodes'], verbs: ['list', 'watch'] } },
    { why: 'externalTrafficPolicy Local: which nodes have ready endpoints', rule: { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] } },
    { why: 'pools, advertisements, peers and BFD profiles: what to announce, where and how', rule: { apiGroups: [G], resources: configPlurals(), verbs: ['list', 'watch'] } },
    {
      why: 'its own SpeakerStatus: read at start, created when absent, then only its status patched (RBAC cannot tie the object name to the node: any speaker could write any node\'s status)',
      rule: { apiGroups: [G], resources: [Kinds.SpeakerStatus.plural], verbs: ['get', 'create'] },
    },
    { why: 'the SpeakerStatus content is written through the status subresource', rule: { apiGroups: [G], resources: [`${Kinds.SpeakerStatus.plural}/status`], verbs: ['patch'] } },
    { why: 'ConfigInvalid, PlaintextPassword, ... on the object concerned (core/v1 Events)', rule: { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] } },
  ],
  namespace: [
    {
      why: 'membership: its own Lease (created, renewed, deleted on SIGTERM) and a watch of the other speakers\' Leases (by label; names carry the node, so resourceNames cannot express "own Lease")',
      rule: { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'] },
    },
    { why: 'the heartbeat key and BGP passwordSecrets: Secrets of this namespace only', rule: { apiGroups: [''], resources: ['secrets'], verbs: ['list', 'watch'] } },
  ],
};

// ───────────── objects

type Obj = Record<string, unknown>;
type Path = readonly (string | number)[];
/** A comment to put above the node at `path` (a map key or a sequence item). */
interface PathComment { path: Path; text: string }
/** One bundle document: the object and the comments of its YAML text. */
interface BundleDoc { obj: Obj; comments: PathComment[] }

/** The `app.kubernetes.io/component` values. */
export const Components = {
  controller: 'controller',
  speaker: 'speaker',
  crd: 'crd',
  namespace: 'namespace',
} as const;
type Component = (typeof Components)[keyof typeof Components];

/** The labels every bundle object carries (no `helm.sh/chart`: the chart must render the same objects). */
export function bundleLabels(component: Component): Record<string, string> {
  return {
    'app.kubernetes.io/name': APP_NAME,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/part-of': APP_NAME,
    'app.kubernetes.io/version': PACKAGE_VERSION,
  };
}

/** The (immutable) Pod selector of a component: name and component, never the version. */
export function selectorLabels(component: Component): Record<string, string> {
  return { 'app.kubernetes.io/name': APP_NAME, 'app.kubernetes.io/component': component };
}

/** Names of bundle objects that are not in keys.ts because only the bundle and the chart use them. */
export const BundleNames = {
  controllerDeployment: 'baregate-controller',
  controllerPDB: 'baregate-controller',
  speakerDaemonSet: 'baregate-speaker',
  controllerMetricsService: 'baregate-controller-metrics',
  speakerMetricsService: 'baregate-speaker-metrics',
  /** cert-manager (webhooks.certManager): the self-signed Issuer and the Certificate written to WEBHOOK_CERT_SECRET. */
  certManagerIssuer: 'baregate-selfsigned',
  certManagerCertificate: 'baregate-webhook',
} as const;

/** Gateway Services the mutating webhook sees (issue 12's profiles): one webhook per selector, the rest never reach it. */
export const GATEWAY_SERVICE_SELECTORS: readonly { profile: string; selector: Obj }[] = [
  { profile: 'istio', selector: { matchExpressions: [{ key: 'istio', operator: 'Exists' }] } },
  { profile: 'istio-legacy', selector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['istio-ingressgateway'] }] } },
  { profile: 'istio-gateway-api', selector: { matchLabels: { 'gateway.istio.io/managed': 'istio.io-gateway-controller' } } },
  { profile: 'ingress-nginx', selector: { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx', 'app.kubernetes.io/component': 'controller' } } },
  { profile: 'opt-in', selector: { matchExpressions: [{ key: GATEWAY_LABEL, operator: 'Exists' }] } },
];

const meta = (name: string, component: Component, namespaced: boolean, extra: Obj = {}): Obj => ({
  name, ...(namespaced ? { namespace: SYSTEM_NAMESPACE } : {}), labels: bundleLabels(component), ...extra,
});

const doc = (obj: Obj, comments: PathComment[] = []): BundleDoc => ({ obj, comments });

function rbac(component: 'controller' | 'speaker', sa: string, rules: ComponentRules): BundleDoc[] {
  const ruleComments = (list: ExplainedRule[]): PathComment[] => list.map((r, i) => ({ path: ['rules', i], text: r.why }));
  const subjects = [{ kind: 'ServiceAccount', name: sa, namespace: SYSTEM_NAMESPACE }];
  return [
    doc({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: meta(sa, component, false), rules: rules.cluster.map((r) => r.rule) }, ruleComments(rules.cluster)),
    doc({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: meta(sa, component, false), roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: sa }, subjects }),
    doc({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta(sa, component, true), rules: rules.namespace.map((r) => r.rule) }, ruleComments(rules.namespace)),
    doc({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: meta(sa, component, true), roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: sa }, subjects }),
  ];
}

const podEnv = (): Obj[] => [
  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
];

const probes = (): Obj => ({
  livenessProbe: { httpGet: { path: '/healthz', port: 'metrics' }, initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 3 },
  readinessProbe: { httpGet: { path: '/readyz', port: 'metrics' }, periodSeconds: 5, failureThreshold: 3 },
});

const webhookClientConfig = (path: string): Obj => ({ service: { name: WEBHOOK_SERVICE, namespace: SYSTEM_NAMESPACE, path, port: 443 } });

function controllerDocs(v: BundleValues): BundleDoc[] {
  const c = v.controller;
  const args = [
    'controller', `--log-level=${v.logLevel}`, `--lb-class=${v.lbClass}`, `--lease-duration=${c.leaseDurationSeconds}`,
    ...(v.onlyOwnClass ? ['--only-own-class'] : []),
    `--webhook-port=${v.webhooks.enabled ? WEBHOOK_PORT : 0}`,
    ...(v.webhooks.enabled && v.webhooks.certManager ? ['--webhook-cert-mode=external'] : []),
  ];
  const ports = [
    { name: 'metrics', containerPort: CONTROLLER_METRICS_PORT, protocol: 'TCP' },
    ...(v.webhooks.enabled ? [{ name: 'webhook', containerPort: WEBHOOK_PORT, protocol: 'TCP' }] : []),
  ];
  const sel = selectorLabels(Components.controller);
  const deployment = {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta(BundleNames.controllerDeployment, 'controller', true),
    spec: {
      replicas: c.replicas,
      selector: { matchLabels: sel },
      template: {
        metadata: { labels: bundleLabels(Components.controller) },
        spec: {
          serviceAccountName: CONTROLLER_SERVICE_ACCOUNT,
          securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
          nodeSelector: { 'kubernetes.io/os': 'linux', ...c.nodeSelector },
          tolerations: c.tolerations,
          affinity: {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: sel } } },
              ],
            },
          },
          terminationGracePeriodSeconds: 10,
          containers: [{
            name: 'controller',
            image: `${v.image.repository}:${v.image.tag}`,
            imagePullPolicy: v.image.pullPolicy,
            args,
            env: podEnv(),
            ports,
            ...probes(),
            resources: c.resources,
            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
          }],
        },
      },
    },
  };
  const out: BundleDoc[] = [doc(deployment, [
    { path: ['spec', 'replicas'], text: ' leader-elected (Lease ' + CONTROLLER_LEASE + '): one replica works, the other takes over within the lease duration' },
    { path: ['spec', 'template', 'spec', 'affinity'], text: ' the replicas prefer different nodes, so one node failure leaves a standby' },
  ])];
  if (c.replicas > 1) {
    out.push(doc({
      apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: meta(BundleNames.controllerPDB, 'controller', true),
      spec: { minAvailable: 1, selector: { matchLabels: sel } },
    }, [{ path: ['spec', 'minAvailable'], text: ' a drain never takes both replicas at once (only rendered with more than one replica: it would block drains)' }]));
  }
  return out;
}

function speakerDocs(v: BundleValues): BundleDoc[] {
  const s = v.speaker;
  const capsPath = ['spec', 'template', 'spec', 'containers', 0, 'securityContext', 'capabilities'] as const;
  const ds = {
    apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: meta(BundleNames.speakerDaemonSet, 'speaker', true),
    spec: {
      selector: { matchLabels: selectorLabels(Components.speaker) },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels: bundleLabels(Components.speaker) },
        spec: {
          serviceAccountName: SPEAKER_SERVICE_ACCOUNT,
          hostNetwork: true,
          dnsPolicy: 'ClusterFirstWithHostNet',
          nodeSelector: { 'kubernetes.io/os': 'linux', ...s.nodeSelector },
          tolerations: s.tolerations,
          terminationGracePeriodSeconds: 15,
          securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
          containers: [{
            name: 'speaker',
            image: `${v.image.repository}:${v.image.tag}`,
            imagePullPolicy: v.image.pullPolicy,
            args: [
              'speaker', `--log-level=${v.logLevel}`, `--lease-duration=${s.leaseDurationSeconds}`,
              `--heartbeat-interval-ms=${s.heartbeatIntervalMs}`, `--heartbeat-timeout-ms=${s.heartbeatTimeoutMs}`,
            ],
            env: [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }, ...podEnv()],
            ports: [
              { name: 'metrics', containerPort: SPEAKER_METRICS_PORT, protocol: 'TCP' },
              { name: 'heartbeat', containerPort: HEARTBEAT_PORT, protocol: 'UDP' },
            ],
            ...probes(),
            resources: s.resources,
            securityContext: {
              runAsUser: 0,
              runAsNonRoot: false,
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ['ALL'], add: ['NET_RAW', 'NET_ADMIN', 'NET_BIND_SERVICE'] },
            },
          }],
        },
      },
    },
  };
  return [doc(ds, [
    { path: ['spec', 'updateStrategy'], text: ' one node at a time: the others keep announcing while a speaker restarts' },
    { path: ['spec', 'template', 'spec', 'hostNetwork'], text: ' ARP/NDP answers, BGP sessions and heartbeats happen on the node\'s own interfaces' },
    { path: ['spec', 'template', 'spec', 'tolerations'], text: ' by default also on control-plane nodes: they can announce too' },
    { path: ['spec', 'template', 'spec', 'terminationGracePeriodSeconds'], text: ' covers the SIGTERM sequence (hand over L2 IPs, BGP graceful shutdown, withdraw, delete the Lease: 9.5 s hard deadline)' },
    { path: ['spec', 'template', 'spec', 'containers', 0, 'securityContext', 'runAsUser'], text: ' root, but with every capability dropped but the three below: Kubernetes sets no ambient capabilities, so a non-root\n process would hold the added ones only in its bounding set and could not open packet sockets or change nft rules' },
    { path: [...capsPath, 'add', 0], text: ' NET_RAW: AF_PACKET sockets for ARP/NDP replies and gratuitous announcements, raw ICMPv6 for NDP' },
    { path: [...capsPath, 'add', 1], text: ' NET_ADMIN: nft rules of the connection hand-off, SO_BINDTODEVICE-class and TCP-MD5 socket options' },
    { path: [...capsPath, 'add', 2], text: ' NET_BIND_SERVICE: BGP listens on port 179 for passive peers' },
  ])];
}

function serviceDoc(name: string, component: 'controller' | 'speaker', port: { name: string; port: number; targetPort: string }, headless: boolean): BundleDoc {
  return doc({
    apiVersion: 'v1', kind: 'Service', metadata: meta(name, component, true),
    spec: {
      ...(headless ? { clusterIP: 'None' } : {}),
      selector: selectorLabels(component),
      ports: [{ name: port.name, port: port.port, targetPort: port.targetPort, protocol: 'TCP' }],
    },
  });
}

function webhookDocs(v: BundleValues): BundleDoc[] {
  const annotations = v.webhooks.certManager
    ? { annotations: { 'cert-manager.io/inject-ca-from': `${SYSTEM_NAMESPACE}/${BundleNames.certManagerCertificate}` } }
    : {};
  const notKubeSystem = { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] }] };
  // GatewayIntegration is checked by its schema (CEL) alone: what can be wrong beyond that (an address in no pool, a
  // conflict with another integration) depends on other objects that change later, so it is reported as conditions
  const validated = Object.values(Kinds).filter((k) => k.kind !== Kinds.SpeakerStatus.kind && k.kind !== Kinds.GatewayIntegration.kind).map((k) => k.plural);
  const validating = {
    apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: meta(VALIDATING_WEBHOOK, 'controller', false, annotations),
    webhooks: [{
      name: 'validate.baregate.io',
      clientConfig: webhookClientConfig(WebhookPaths.validate),
      rules: [{ apiGroups: [GROUP], apiVersions: [VERSION], operations: ['CREATE', 'UPDATE'], resources: validated, scope: 'Cluster' }],
      failurePolicy: 'Fail',
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
      timeoutSeconds: 10,
    }],
  };
  const mutating = {
    apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: meta(MUTATING_WEBHOOK, 'controller', false, annotations),
    webhooks: GATEWAY_SERVICE_SELECTORS.map((g) => ({
      name: `${g.profile}.mutate-service.baregate.io`,
      clientConfig: webhookClientConfig(WebhookPaths.mutateService),
      rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['services'], scope: 'Namespaced' }],
      objectSelector: g.selector,
      namespaceSelector: notKubeSystem,
      failurePolicy: 'Ignore',
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
      timeoutSeconds: 5,
      reinvocationPolicy: 'Never',
    })),
  };
  const caNote = v.webhooks.certManager
    ? ' caBundle: injected by cert-manager\'s CA injector from the Certificate named in the annotation'
    : ' caBundle: absent on purpose; the controller patches in the CA of its self-managed certificate';
  const out: BundleDoc[] = [];
  if (v.webhooks.certManager) {
    out.push(
      doc({ apiVersion: 'cert-manager.io/v1', kind: 'Issuer', metadata: meta(BundleNames.certManagerIssuer, 'controller', true), spec: { selfSigned: {} } }),
      doc({
        apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: meta(BundleNames.certManagerCertificate, 'controller', true),
        spec: {
          secretName: WEBHOOK_CERT_SECRET,
          dnsNames: [`${WEBHOOK_SERVICE}.${SYSTEM_NAMESPACE}.svc`, `${WEBHOOK_SERVICE}.${SYSTEM_NAMESPACE}.svc.cluster.local`],
          issuerRef: { kind: 'Issuer', name: BundleNames.certManagerIssuer },
        },
      }, [{ path: ['spec', 'secretName'], text: ' the controller (--webhook-cert-mode=external) serves this Secret and never writes it' }]),
    );
  }
  out.push(
    doc(validating, [
      { path: ['webhooks', 0, 'rules', 0, 'resources'], text: ' every baregate.io kind but SpeakerStatus (written by the speakers at a high rate, never configuration) and GatewayIntegration (its schema checks it; the rest are conditions)' },
      { path: ['webhooks', 0, 'failurePolicy'], text: ' Fail: a config the controller cannot check is not stored (the cross-object rules of parseConfig)' },
      { path: ['webhooks', 0, 'clientConfig'], text: caNote },
    ]),
    doc(mutating, [
      { path: ['webhooks'], text: ' one webhook per gateway profile: only Services that look like a gateway ever reach the controller' },
      { path: ['webhooks', 0, 'failurePolicy'], text: ' Ignore: a controller that is down never blocks Service creation' },
      { path: ['webhooks', 0, 'clientConfig'], text: caNote },
    ]),
  );
  return out;
}

function serviceMonitorDoc(name: string, component: 'controller' | 'speaker'): BundleDoc {
  return doc({
    apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', metadata: meta(name, component, true),
    spec: { selector: { matchLabels: selectorLabels(component) }, endpoints: [{ port: 'metrics', path: '/metrics' }] },
  });
}

/** Every document of the bundle with its comments, in apply order. */
function bundleDocs(values: BundleOverrides = {}): BundleDoc[] {
  const v = bundleValues(values);
  const crds = Object.values(allCRDs()).map((crd) => {
    const m = crd.metadata as Obj;
    return doc({ ...crd, metadata: { ...m, labels: bundleLabels(Components.crd) } });
  });
  return [
    doc({
      apiVersion: 'v1', kind: 'Namespace',
      metadata: { name: SYSTEM_NAMESPACE, labels: { ...bundleLabels(Components.namespace), 'pod-security.kubernetes.io/enforce': 'privileged' } },
    }, [{ path: ['metadata', 'labels', 'pod-security.kubernetes.io/enforce'], text: ' privileged: the speaker runs with hostNetwork and NET_RAW/NET_ADMIN, which the baseline and restricted levels forbid' }]),
    ...crds,
    doc({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(CONTROLLER_SERVICE_ACCOUNT, 'controller', true) }),
    doc({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(SPEAKER_SERVICE_ACCOUNT, 'speaker', true) }),
    ...rbac('controller', CONTROLLER_SERVICE_ACCOUNT, controllerRules),
    ...rbac('speaker', SPEAKER_SERVICE_ACCOUNT, speakerRules),
    serviceDoc(BundleNames.controllerMetricsService, 'controller', { name: 'metrics', port: CONTROLLER_METRICS_PORT, targetPort: 'metrics' }, false),
    serviceDoc(BundleNames.speakerMetricsService, 'speaker', { name: 'metrics', port: SPEAKER_METRICS_PORT, targetPort: 'metrics' }, true),
    ...(v.webhooks.enabled ? [serviceDoc(WEBHOOK_SERVICE, 'controller', { name: 'webhook', port: 443, targetPort: 'webhook' }, false)] : []),
    ...controllerDocs(v),
    ...speakerDocs(v),
    ...(v.webhooks.enabled ? webhookDocs(v) : []),
    ...(v.serviceMonitor ? [serviceMonitorDoc(BundleNames.controllerMetricsService, 'controller'), serviceMonitorDoc(BundleNames.speakerMetricsService, 'speaker')] : []),
  ];
}

/**
 * Every object of the bundle, in apply order (Namespace, CRDs, identities and RBAC, Services, workloads,
 * webhook configurations last so nothing is sent to a webhook before its Service exists).
 */
export function bundleObjects(values: BundleOverrides = {}): Record<string, unknown>[] {
  return bundleDocs(values).map((d) => d.obj);
}

const HEADER = `# baregate install bundle. Generated by \`npm run gen\` from src/api/bundle.ts. Do not edit.
#
#   kubectl apply --server-side -f deploy/baregate.yaml     (or: kubectl apply --server-side -k deploy/)
#
# Secrets: none are in this file.
#   ${HEARTBEAT_SECRET}     speaker heartbeat HMAC key: created by the controller when absent.
#   ${WEBHOOK_CERT_SECRET}  webhook CA and serving certificate: created and rotated by the controller
#                           (or written by cert-manager with the Helm value webhooks.certManager=true).
#   BGP passwords: Secrets you create in ${SYSTEM_NAMESPACE} (type kubernetes.io/basic-auth, key "password").
`;

/** Puts `text` (lines; each gets its own `#`) above the node at `path`: a map key or a sequence item. */
function commentAt(d: Document, path: Path, text: string): void {
  const parent = d.getIn(path.slice(0, -1), true) as Node | undefined;
  const last = path.at(-1);
  let target: Node | undefined;
  if (isSeq(parent) && typeof last === 'number') target = parent.items[last] as Node | undefined;
  else if (isMap(parent)) {
    const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === last);
    target = pair && isScalar(pair.key) ? pair.key : undefined;
  }
  if (!target) throw new Error(`bundle comment: no node at ${path.join('.')}`);
  target.commentBefore = text.split('\n').map((l) => (l.startsWith(' ') ? l : ` ${l}`)).join('\n');
}

/** The exact text of deploy/baregate.yaml for these values: a header comment, then `---`-separated documents. */
export function renderBundle(values: BundleOverrides = {}): string {
  const texts = bundleDocs(values).map((bd) => {
    const d = new Document(bd.obj, { aliasDuplicateObjects: false });
    for (const c of bd.comments) commentAt(d, c.path, c.text);
    return d.toString({ lineWidth: 0 });
  });
  return HEADER + texts.map((t) => `---\n${t}`).join('');
}

/**
 * The exact text of deploy/kustomization.yaml: the bundle already holds the CRDs, so `kubectl apply -k deploy/`
 * names the bundle only and applies the same objects as `kubectl apply -f deploy/baregate.yaml`.
 */
export function renderKustomization(): string {
  return `# Generated by \`npm run gen\` from src/api/bundle.ts. Do not edit.
# kubectl apply --server-side -k deploy/   applies the same objects as   kubectl apply --server-side -f deploy/baregate.yaml
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - baregate.yaml
`;
}
