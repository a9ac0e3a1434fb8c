/**
 * Schema pieces every baregate CRD shares (label selectors, conditions, Go durations) and the one
 * builder of the CustomResourceDefinition object, so the kinds differ only in what is theirs.
 */
import { GROUP, Kinds, VERSION } from './keys.ts';

/** `metav1.LabelSelector` as an OpenAPI schema (atomic: a selector is replaced whole, never merged). */
export const labelSelectorSchema = {
  type: 'object',
  properties: {
    matchLabels: { type: 'object', additionalProperties: { type: 'string' } },
    matchExpressions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['key', 'operator'],
        properties: {
          key: { type: 'string' },
          operator: { type: 'string', enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] },
          values: { type: 'array', items: { type: 'string' } },
        },
        'x-kubernetes-validations': [
          { rule: "self.operator in ['Exists', 'DoesNotExist'] ? !has(self.values) || size(self.values) == 0 : has(self.values) && size(self.values) > 0", message: 'In and NotIn need values; Exists and DoesNotExist take none' },
        ],
      },
    },
  },
  'x-kubernetes-map-type': 'atomic',
} as const;

/** `status.conditions` as in `metav1.Condition`, a list map keyed by type. */
export const conditionsSchema = {
  type: 'array',
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
  items: {
    type: 'object',
    required: ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
    properties: {
      type: { type: 'string' },
      status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
      reason: { type: 'string' },
      message: { type: 'string' },
      lastTransitionTime: { type: 'string', format: 'date-time' },
      observedGeneration: { type: 'integer', format: 'int64' },
    },
  },
} as const;

/**
 * A Go duration text as MetalLB writes it (`90s`, `1m30s`, `500ms`), as a CEL raw string. The parser in
 * src/config/config.ts accepts the same language (and `µs`, which CEL's duration() does not know).
 */
export const GO_DURATION_RE = '^([0-9]+(\\.[0-9]+)?(h|m|s|ms|us|ns))+$';

/**
 * A duration field: a Go duration string or plain integer seconds (`x-kubernetes-int-or-string`), so
 * both MetalLB YAML (`holdTime: 90s`) and a number work. `minSec`/`maxSec` bound the value in seconds;
 * `zeroOk` also admits 0 (hold time 0: no keepalives, RFC 4271).
 */
export function durationSchema(description: string, minSec: number, maxSec: number, zeroOk = false): Record<string, unknown> {
  const inRange = (v: string): string => `(${zeroOk ? `${v} == 0 || ` : ''}(${v} >= ${minSec} && ${v} <= ${maxSec}))`;
  return {
    'x-kubernetes-int-or-string': true,
    description,
    'x-kubernetes-validations': [
      { rule: `type(self) == int || (size(self) <= 32 && self.matches(r'${GO_DURATION_RE}'))`, message: 'must be a duration such as 90s or 1m30s, or whole seconds' },
      { rule: `type(self) == int ? ${inRange('self')} : (size(self) > 32 || !self.matches(r'${GO_DURATION_RE}') || ${inRange('duration(self).getSeconds()')})`, message: `must be ${zeroOk ? '0 or ' : ''}${minSec}..${maxSec} seconds` },
    ],
  };
}

/** One entry of `additionalPrinterColumns`. */
export interface PrinterColumn {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  readonly jsonPath: string;
  readonly priority?: number;
  readonly description?: string;
}

/** What differs between our CRDs: the kind, its columns and its object schema (spec and/or status). */
export interface CRDParts {
  readonly kind: keyof typeof Kinds;
  readonly description: string;
  readonly printerColumns: readonly PrinterColumn[];
  /** Properties beside apiVersion/kind/metadata (`spec`, `status`). */
  readonly properties: Readonly<Record<string, unknown>>;
  readonly required?: readonly string[];
}

/**
 * The full cluster-scoped CustomResourceDefinition for one of our kinds. Every kind gets a status
 * subresource, so a status write can never change a spec (and the reverse).
 */
export function customResourceDefinition(p: CRDParts): Record<string, unknown> {
  const k = Kinds[p.kind];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${k.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Cluster',
      names: { kind: k.kind, listKind: `${k.kind}List`, plural: k.plural, singular: k.singular, shortNames: [...k.shortNames] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [...p.printerColumns, { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: p.description,
              ...(p.required && p.required.length > 0 ? { required: [...p.required] } : {}),
              properties: { apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: { type: 'object' }, ...p.properties },
            },
          },
        },
      ],
    },
  };
}
