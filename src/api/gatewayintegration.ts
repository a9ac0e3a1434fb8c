/**
 * GatewayIntegration: makes an ingress gateway's Services get stable external addresses (fixed ones or from a pool)
 * and no NodePorts. The profile says which Services are the gateway's (src/gateway/match.ts); the controller then
 * owns only the fields it sets on them (field manager GATEWAY_FIELD_MANAGER), beside Helm and istiod.
 */
import { conditionsSchema, customResourceDefinition, labelSelectorSchema } from './crd.ts';
import { GatewayProfiles, type GatewayProfile } from './keys.ts';
import type { Condition, LabelSelector, ObjectMeta } from './types.ts';

/** `GatewayIntegration.spec`. */
export interface GatewayIntegrationSpec {
  profile: GatewayProfile;
  /**
   * Which Services: required for `custom`; for `istio` it replaces the default (label `istio` present), e.g.
   * `{matchLabels: {istio: ingressgateway}}`; for `ingress-nginx` it narrows the default (one of several releases).
   * Not allowed for `istio-gateway-api` (the Gateway class decides).
   */
  selector?: LabelSelector;
  /** Only Services in namespaces with these labels; none: every namespace. */
  namespaceSelector?: LabelSelector;
  /** `istio-gateway-api` only: the GatewayClass names handled (default `[istio]`). */
  gatewayClassNames?: string[];
  /**
   * Fixed addresses. One Service: at most one per family (dual-stack: one of each). Several matched Services: the
   * addresses of a family go to them in a stable order (the oldest Service first; a Service keeps an address it
   * holds). Not allowed together with `pool`. For `istio-gateway-api` a Gateway's own `spec.addresses` win.
   */
  addresses?: string[];
  /** Allocate from this pool (Services beyond the fixed addresses, or all when there are none). */
  pool?: string;
  /** Set `allocateLoadBalancerNodePorts: false` and remove the NodePorts of matched Services (default true). */
  disableNodePorts?: boolean;
  /** Set this `externalTrafficPolicy` on matched Services; absent: leave it to the chart. */
  externalTrafficPolicy?: 'Cluster' | 'Local';
}

/** One matched Service in `status.services`. */
export interface GatewayServiceStatus {
  namespace: string;
  name: string;
  /** For `istio-gateway-api`: the Gateway the Service belongs to. */
  gateway?: string;
  /** The addresses the integration asks for on this Service (empty: from `pool` or the Service's own annotations). */
  requested: string[];
  /** `status.loadBalancer.ingress` IPs as last seen. */
  ingress: string[];
  /** NodePorts the Service still has. */
  nodePorts: number;
}

/** `GatewayIntegration.status`, written by the leader only. */
export interface GatewayIntegrationStatus {
  observedGeneration?: number;
  services?: GatewayServiceStatus[];
  conditions?: Condition[];
}

/** The GatewayIntegration object (cluster-scoped). */
export interface GatewayIntegration {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: GatewayIntegrationSpec;
  status?: GatewayIntegrationStatus;
}

/** The full CustomResourceDefinition for GatewayIntegration. */
export function gatewayIntegrationCRD(): Record<string, unknown> {
  const profiles = Object.values(GatewayProfiles);
  return customResourceDefinition({
    kind: 'GatewayIntegration',
    description: 'Gives the Services of an ingress gateway (Istio, ingress-nginx, Gateway API, or a label selector) their external addresses, fixed or from a pool, and turns their NodePorts off.',
    printerColumns: [
      { name: 'Profile', type: 'string', jsonPath: '.spec.profile' },
      { name: 'Addresses', type: 'string', jsonPath: '.spec.addresses' },
      { name: 'Pool', type: 'string', jsonPath: '.spec.pool' },
      { name: 'Ready', type: 'string', jsonPath: ".status.conditions[?(@.type=='Ready')].status" },
      { name: 'Reason', type: 'string', jsonPath: ".status.conditions[?(@.type=='Ready')].reason", priority: 1 },
    ],
    required: ['spec'],
    properties: {
      spec: {
        type: 'object',
        required: ['profile'],
        'x-kubernetes-validations': [
          { rule: "self.profile != 'custom' || has(self.selector)", message: 'profile custom needs a selector' },
          { rule: "self.profile != 'istio-gateway-api' || !has(self.selector)", message: 'profile istio-gateway-api takes no selector: gatewayClassNames choose the Gateways' },
          { rule: "self.profile == 'istio-gateway-api' || !has(self.gatewayClassNames)", message: 'gatewayClassNames is for profile istio-gateway-api only' },
          { rule: '!(has(self.addresses) && size(self.addresses) > 0 && has(self.pool))', message: 'give addresses or pool, not both' },
        ],
        properties: {
          profile: { type: 'string', enum: profiles, description: 'Which Services are the gateway\'s: istio (istio/gateway chart and istio-ingressgateway), istio-gateway-api (Services istiod generates for Gateways), ingress-nginx (the chart\'s controller Service), custom (spec.selector).' },
          selector: { ...labelSelectorSchema, description: 'Service labels: required for custom; replaces the istio default (label istio present); narrows the ingress-nginx default.' },
          namespaceSelector: { ...labelSelectorSchema, description: 'Only Services in namespaces with these labels; none: every namespace.' },
          gatewayClassNames: { type: 'array', maxItems: 16, description: 'istio-gateway-api only: the GatewayClasses handled (default [istio]).', items: { type: 'string', minLength: 1, maxLength: 253 } },
          addresses: {
            type: 'array', maxItems: 64, 'x-kubernetes-list-type': 'set',
            description: 'Fixed IPs. One Service: at most one per family. Several: each family\'s addresses go to the Services in a stable order (oldest first; a Service keeps the address it holds).',
            items: { type: 'string', minLength: 2, maxLength: 45, 'x-kubernetes-validations': [{ rule: 'isIP(self)', message: 'not an IP address' }] },
          },
          pool: { type: 'string', minLength: 1, maxLength: 253, description: 'IPAddressPool to allocate from (beyond the fixed addresses, or all when there are none).' },
          disableNodePorts: { type: 'boolean', default: true, description: 'Set allocateLoadBalancerNodePorts false and remove existing NodePorts (healthCheckNodePort is never touched).' },
          externalTrafficPolicy: { type: 'string', enum: ['Cluster', 'Local'], description: 'Set on matched Services; absent: left to the chart.' },
        },
      },
      status: {
        type: 'object',
        properties: {
          observedGeneration: { type: 'integer', format: 'int64' },
          services: {
            type: 'array',
            items: {
              type: 'object',
              required: ['namespace', 'name'],
              properties: {
                namespace: { type: 'string' },
                name: { type: 'string' },
                gateway: { type: 'string' },
                requested: { type: 'array', items: { type: 'string' } },
                ingress: { type: 'array', items: { type: 'string' } },
                nodePorts: { type: 'integer' },
              },
            },
          },
          conditions: conditionsSchema,
        },
      },
    },
  });
}
