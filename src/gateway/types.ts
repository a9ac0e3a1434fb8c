/**
 * The contract between the pure core of the gateway integrations (match.ts, plan.ts, mutate.ts) and their I/O shell
 * (controller.ts, src/k8s/gatewayports.ts): plain data in, a plan out. Nothing here does I/O.
 *
 * Flow: the leader's controller caches GatewayIntegrations, Services, Gateways (when the Gateway API is installed)
 * and Namespaces, calls {@link PlanGateways} on every change (debounced), and carries out the plan: a server-side
 * apply per Service whose {@link ServiceIntent} differs from what it shows, the guarded NodePort clean-up, status of
 * each integration, events for new problems. The mutating webhook (every replica) asks {@link MutationFor} about a
 * Service being created, from the integrations alone, so the Service is born with its fixed address and no NodePorts.
 */
import type { GatewayIntegration, GatewayIntegrationStatus } from '../api/gatewayintegration.ts';
import type { ObjectMeta } from '../api/types.ts';

/** A Service as the gateway integrations read it (nodePorts kept: the clean-up needs them). */
export interface GatewayService {
  metadata: ObjectMeta & {
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid?: string; controller?: boolean }[];
    /** Only the entries of GATEWAY_FIELD_MANAGER are kept by the controller's cache (what we own). */
    managedFields?: { manager?: string; operation?: string; fieldsV1?: unknown }[];
  };
  spec?: {
    type?: string;
    loadBalancerClass?: string;
    /** The deprecated single fixed IP; a Service's own request, which an integration never overrides. */
    loadBalancerIP?: string;
    ipFamilies?: string[];
    ports?: { name?: string; port: number; protocol?: string; nodePort?: number; targetPort?: number | string }[];
    allocateLoadBalancerNodePorts?: boolean;
    externalTrafficPolicy?: string;
    healthCheckNodePort?: number;
  };
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
}

/** A `gateway.networking.k8s.io/v1` Gateway, the fields read. */
export interface GatewayObject {
  metadata: ObjectMeta;
  spec?: { gatewayClassName?: string; addresses?: { type?: string; value?: string }[] };
}

/** Everything the planner decides from. */
export interface GatewayWorld {
  readonly integrations: readonly GatewayIntegration[];
  /** Every Service of the cluster (the in-use check needs the ones no integration matches too). */
  readonly services: readonly GatewayService[];
  /** Empty when the Gateway API CRDs are not installed. */
  readonly gateways: readonly GatewayObject[];
  /** Namespace name → labels (namespaceSelector). A namespace missing here has no labels. */
  readonly namespaceLabels: (namespace: string) => Readonly<Record<string, string>> | undefined;
  /**
   * The pool an address lies in, or undefined when it is in none (or not an IP). Built by the shell from the same
   * parsed pools the allocator uses (src/lb/pool.ts), so "in no pool" means what the allocator would say.
   */
  readonly poolOf: (ip: string) => string | undefined;
}

/**
 * What one matched Service should show, all of it owned by GATEWAY_FIELD_MANAGER. The shell applies exactly these
 * fields (server-side apply, no force); a field absent here is not ours, and applying without it releases it.
 */
export interface ServiceIntent {
  readonly namespace: string;
  readonly name: string;
  /** The integration that matched it (the oldest, when several do). */
  readonly integration: string;
  /** For istio-gateway-api: the Gateway it belongs to. */
  readonly gateway?: string;
  /** Annotations to own: ServiceAnnotations.loadBalancerIPs[0] (comma list) or ServiceAnnotations.addressPool[0]. */
  readonly annotations: Readonly<Record<string, string>>;
  /** `false` when the integration disables NodePorts; undefined: not ours. */
  readonly allocateLoadBalancerNodePorts?: false;
  readonly externalTrafficPolicy?: 'Cluster' | 'Local';
  /** The Service has `ports[].nodePort` set and the integration disables NodePorts: the guarded clean-up is due. */
  readonly clearNodePorts: boolean;
}

/** A problem of one Service or Gateway, reported as a Warning event on it (once per change) and in a condition. */
export interface GatewayProblem {
  readonly target: { readonly kind: 'Service' | 'Gateway' | 'GatewayIntegration'; readonly namespace?: string; readonly name: string };
  /** A GatewayEventReasons value. */
  readonly reason: string;
  readonly message: string;
}

/** Status of one integration without timestamps (the shell keeps lastTransitionTime across plans). */
export interface PlannedStatus {
  readonly services: NonNullable<GatewayIntegrationStatus['services']>;
  /** Every GatewayConditions type, each with status, reason and message. */
  readonly conditions: readonly { readonly type: string; readonly status: 'True' | 'False'; readonly reason: string; readonly message: string }[];
}

/** The decision of one planning pass. */
export interface GatewayPlan {
  /**
   * Per matched Service (`namespace/name`): its intent, or `keep` when its input is bad (conflict, address in no
   * pool, ...): then nothing is written, so a Service that already has an address never loses it to bad input.
   * Services absent here are matched by no integration: what the shell owns on them is released.
   */
  readonly services: ReadonlyMap<string, ServiceIntent | 'keep'>;
  /** Per integration name. */
  readonly statuses: ReadonlyMap<string, PlannedStatus>;
  readonly problems: readonly GatewayProblem[];
}

/** The planner: pure, deterministic (same world, same plan), no I/O. */
export type PlanGateways = (world: GatewayWorld) => GatewayPlan;

/** What the webhook knows at a Service's creation: the integrations and namespace labels, no Service cache. */
export interface MutationWorld {
  readonly integrations: readonly GatewayIntegration[];
  readonly namespaceLabels: (namespace: string) => Readonly<Record<string, string>> | undefined;
  readonly gateways: readonly GatewayObject[];
}
