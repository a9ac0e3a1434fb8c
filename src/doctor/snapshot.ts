/**
 * What `baregate doctor` knows about a cluster: every object its checks look at, read once (src/k8s/doctorread.ts)
 * and handed to the pure checks (checks.ts). Each part is a {@link Read}: a resource the doctor may not list
 * (RBAC), or one the cluster does not serve (no ServiceCIDR API before Kubernetes 1.33), becomes a reason instead
 * of a value, so a check that lacks its input says "could not check" rather than guessing or failing the run.
 *
 * The object types are the few fields the checks read, all optional: the objects come from any cluster, and a
 * field that is missing or of another shape must mean "not set", never a crash.
 */
import type { SpeakerStatusResource } from '../k8s/speakerstatus.ts';
import type { Service } from '../lb/service.ts';

/** One input: its value, or why it could not be read (the apiserver's message, "not found", a timeout). */
export type Read<T> =
  | { readonly kind: 'ok'; readonly value: T }
  | { readonly kind: 'unavailable'; readonly reason: string };

/** Metadata the checks read. */
export interface Meta {
  readonly name?: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly creationTimestamp?: string;
}

/** A ConfigMap (the kube-proxy configuration). */
export interface ConfigMapObject {
  readonly metadata?: Meta;
  readonly data?: Readonly<Record<string, string>>;
}

/** A Node: its addresses and pod CIDRs (what a pool must not overlap), its labels (exclusion from load balancers). */
export interface NodeObject {
  readonly metadata?: Meta;
  readonly spec?: { readonly podCIDR?: string; readonly podCIDRs?: readonly string[] };
  readonly status?: { readonly addresses?: readonly { readonly type?: string; readonly address?: string }[] };
}

/** A networking.k8s.io/v1 ServiceCIDR: the ranges ClusterIPs come from. */
export interface ServiceCIDRObject {
  readonly metadata?: Meta;
  readonly spec?: { readonly cidrs?: readonly string[] };
}

/** A core/v1 Event (the controller's AllocationFailed events on Services). */
export interface EventObject {
  readonly metadata?: Meta;
  readonly involvedObject?: { readonly kind?: string; readonly namespace?: string; readonly name?: string; readonly uid?: string };
  readonly reason?: string;
  readonly message?: string;
  readonly lastTimestamp?: string;
  readonly eventTime?: string;
  readonly firstTimestamp?: string;
}

/** A coordination.k8s.io/v1 Lease (the controller's leader Lease, the speakers' membership Leases). */
export interface LeaseObject {
  readonly metadata?: Meta;
  readonly spec?: { readonly holderIdentity?: string; readonly leaseDurationSeconds?: number; readonly renewTime?: string; readonly acquireTime?: string };
}

/** One container of a workload's Pod template. */
export interface ContainerSpec {
  readonly name?: string;
  readonly image?: string;
  readonly args?: readonly string[];
  readonly command?: readonly string[];
  readonly env?: readonly { readonly name?: string; readonly value?: string }[];
}

/** A Deployment or DaemonSet (what may be another load balancer, or baregate's own controller with its flags). */
export interface WorkloadObject {
  readonly kind: 'Deployment' | 'DaemonSet';
  readonly metadata?: Meta;
  readonly spec?: { readonly replicas?: number; readonly template?: { readonly spec?: { readonly containers?: readonly ContainerSpec[]; readonly initContainers?: readonly ContainerSpec[] } } };
}

/** A Validating- or MutatingWebhookConfiguration: only whether each webhook has a caBundle. */
export interface WebhookConfigObject {
  readonly metadata?: Meta;
  readonly webhooks?: readonly { readonly name?: string; readonly clientConfig?: { readonly caBundle?: string } }[];
}

/**
 * The webhook certificate Secret, reduced to the serving certificate chain (PEM, decoded from `tls.crt`) and the CA
 * (`ca.crt`). The private keys are dropped by the reader: the doctor has no use for them and must not hold them.
 */
export interface WebhookCert {
  readonly tlsCrt?: string;
  readonly caCrt?: string;
}

/** A CustomResourceDefinition: its name, group, plural and the version it stores (to list its objects). */
export interface CRDInfo {
  readonly name: string;
  readonly group: string;
  readonly plural: string;
  readonly kind: string;
  readonly storageVersion: string;
}

/** An object of another load balancer's API found in the cluster (Cilium's LB IPAM pools, L2 announcement policies). */
export interface ForeignObject {
  readonly kind: string;
  readonly name: string;
}

/** Everything the checks read; see the module comment. */
export interface DoctorSnapshot {
  /** baregate's namespace (`--namespace`). */
  readonly namespace: string;
  /** That Namespace object (undefined: it does not exist). */
  readonly namespaceObject: Read<{ readonly metadata?: Meta } | undefined>;
  /** Every CustomResourceDefinition of the cluster. */
  readonly crds: Read<readonly CRDInfo[]>;
  /** Every Lease in baregate's namespace (the controller's and the speakers'). */
  readonly leases: Read<readonly LeaseObject[]>;
  /** ConfigMap kube-system/kube-proxy (undefined: it does not exist). */
  readonly kubeProxy: Read<ConfigMapObject | undefined>;
  readonly nodes: Read<readonly NodeObject[]>;
  readonly serviceCIDRs: Read<readonly ServiceCIDRObject[]>;
  /** The baregate.io objects as the API returns them (parsed by the controller's parser, config.ts). */
  readonly pools: Read<readonly unknown[]>;
  readonly l2Advertisements: Read<readonly unknown[]>;
  readonly bgpAdvertisements: Read<readonly unknown[]>;
  readonly bgpPeers: Read<readonly unknown[]>;
  /** Every Service of the cluster. */
  readonly services: Read<readonly Service[]>;
  /** The AllocationFailed events on Services, every namespace. */
  readonly allocationFailedEvents: Read<readonly EventObject[]>;
  readonly speakerStatuses: Read<readonly SpeakerStatusResource[]>;
  /** The webhook certificate Secret in baregate's namespace (undefined: it does not exist). */
  readonly webhookCert: Read<WebhookCert | undefined>;
  /** baregate's webhook configurations (undefined: not installed). */
  readonly validatingWebhook: Read<WebhookConfigObject | undefined>;
  readonly mutatingWebhook: Read<WebhookConfigObject | undefined>;
  /** Every Deployment and DaemonSet of the cluster. */
  readonly workloads: Read<readonly WorkloadObject[]>;
  /** Objects of Cilium's load-balancer APIs (empty when its CRDs are not installed). */
  readonly ciliumLB: Read<readonly ForeignObject[]>;
}
