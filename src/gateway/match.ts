/**
 * Which Services are a gateway's: the profile rules of a GatewayIntegration, as pure functions over labels, type,
 * owner references and the Gateways. Every profile asks for `type: LoadBalancer` first, which is also what keeps the
 * ingress-nginx chart's `-admission` and `-metrics` Services (same labels, ClusterIP) out.
 */
import type { GatewayIntegration } from '../api/gatewayintegration.ts';
import { GATEWAY_API_GROUP, GatewayLabels, GatewayProfiles, ISTIO_GATEWAY_CLASS } from '../api/keys.ts';
import { selectorMatches, type LabelSelector } from '../api/types.ts';
import type { GatewayObject, GatewayService } from './types.ts';

/** The answer of {@link profileMatches}: for istio-gateway-api, the Gateway the Service belongs to. */
export type MatchResult = { readonly matched: true; readonly gateway?: string } | { readonly matched: false };

const NO: MatchResult = { matched: false };

/**
 * The default selector of the istio profile: the `istio` label the istio/gateway chart derives from its release name
 * (and the legacy istio-ingressgateway carries). Not hardcoded to `istio=ingressgateway`.
 */
const ISTIO_DEFAULT: LabelSelector = { matchExpressions: [{ key: GatewayLabels.istio, operator: 'Exists' }] };

/** The name of the Gateway a generated Service belongs to: its controller owner reference, else the conformance label. */
export function owningGateway(svc: GatewayService): string | undefined {
  const owner = (svc.metadata.ownerReferences ?? []).find((r) => r.kind === 'Gateway' && r.apiVersion.startsWith(`${GATEWAY_API_GROUP}/`));
  return owner?.name ?? svc.metadata.labels?.[GatewayLabels.gatewayName];
}

/**
 * Whether `integration` matches `svc`. Integrations being deleted match nothing. `gateways` are the Gateways of the
 * cluster (empty without the Gateway API); `namespaceLabels` gives a namespace's labels (unknown: none).
 */
export function profileMatches(
  integration: GatewayIntegration,
  svc: GatewayService,
  gateways: readonly GatewayObject[],
  namespaceLabels: (namespace: string) => Readonly<Record<string, string>> | undefined,
): MatchResult {
  if (integration.metadata.deletionTimestamp !== undefined || svc.metadata.deletionTimestamp !== undefined) return NO;
  if (svc.spec?.type !== 'LoadBalancer') return NO;
  const spec = integration.spec;
  const ns = svc.metadata.namespace ?? '';
  if (spec.namespaceSelector && !selectorMatches(spec.namespaceSelector, { ...namespaceLabels(ns) })) return NO;
  const labels = svc.metadata.labels ?? {};
  const managed = labels[GatewayLabels.istioManaged];
  switch (spec.profile) {
    case GatewayProfiles.istio:
      // istiod's Gateway API Services carry the istio label on some releases: they belong to istio-gateway-api
      if (managed !== undefined) return NO;
      return selectorMatches(spec.selector ?? ISTIO_DEFAULT, labels) ? { matched: true } : NO;
    case GatewayProfiles.istioGatewayApi: {
      if (managed !== GatewayLabels.istioManagedValue) return NO;
      const name = owningGateway(svc);
      if (name === undefined) return NO;
      const gw = gateways.find((g) => g.metadata.name === name && (g.metadata.namespace ?? '') === ns);
      const classes = spec.gatewayClassNames ?? [ISTIO_GATEWAY_CLASS];
      if (!gw || gw.metadata.deletionTimestamp !== undefined || !classes.includes(gw.spec?.gatewayClassName ?? '')) return NO;
      return { matched: true, gateway: name };
    }
    case GatewayProfiles.ingressNginx:
      if (labels[GatewayLabels.appName] !== 'ingress-nginx' || labels[GatewayLabels.appComponent] !== 'controller') return NO;
      return !spec.selector || selectorMatches(spec.selector, labels) ? { matched: true } : NO;
    case GatewayProfiles.custom:
      // the schema requires a selector; an object stored without one matches nothing rather than everything
      return spec.selector && selectorMatches(spec.selector, labels) ? { matched: true } : NO;
    default:
      return NO;
  }
}
