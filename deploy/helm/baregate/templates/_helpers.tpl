{{/*
Shared pieces of the templates. Every object has a fixed name and lives in baregate-system whatever the
release is called: the chart renders the objects of the generated bundle (deploy/baregate.yaml, from
src/api/bundle.ts), so names and labels come from there, not from .Release.Name, and there is no
helm.sh/chart or app.kubernetes.io/managed-by label (test/integration/helm.test.ts compares the two).
*/}}

{{/* The namespace of every namespaced object (SYSTEM_NAMESPACE in src/api/keys.ts). */}}
{{- define "baregate.namespace" -}}
baregate-system
{{- end }}

{{/* bundleLabels(component): call with (dict "component" "controller" "root" $). */}}
{{- define "baregate.labels" -}}
app.kubernetes.io/name: baregate
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: baregate
app.kubernetes.io/version: {{ .root.Chart.AppVersion | toJson }}
{{- end }}

{{/* selectorLabels(component): the immutable Pod selector, never the version. Call with the component name. */}}
{{- define "baregate.selectorLabels" -}}
app.kubernetes.io/name: baregate
app.kubernetes.io/component: {{ . }}
{{- end }}

{{/* metadata of a namespaced object: call with (dict "name" "..." "component" "..." "root" $). */}}
{{- define "baregate.metadata" -}}
name: {{ .name }}
namespace: {{ include "baregate.namespace" . }}
labels:
  {{- include "baregate.labels" . | nindent 2 }}
{{- end }}

{{/* metadata of a cluster-scoped object: call with (dict "name" "..." "component" "..." "root" $). */}}
{{- define "baregate.clusterMetadata" -}}
name: {{ .name }}
labels:
  {{- include "baregate.labels" . | nindent 2 }}
{{- end }}

{{/*
A number as the bundle writes it into a flag (JavaScript's String(n)): toJson prints 1000000 where
Go's default formatting of a float64 (YAML numbers in values files are float64) would print 1e+06.
*/}}
{{- define "baregate.num" -}}
{{- if kindIs "string" . }}{{ . }}{{ else }}{{ toJson . }}{{ end }}
{{- end }}

{{/* The one image of both components. */}}
{{- define "baregate.image" -}}
{{ printf "%v:%v" .Values.image.repository .Values.image.tag | toJson }}
{{- end }}

{{/* POD_NAME and POD_NAMESPACE from the downward API (leader election identity, Lease and Secret namespace). */}}
{{- define "baregate.podEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end }}

{{/* Liveness and readiness on the metrics port of either component. */}}
{{- define "baregate.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  initialDelaySeconds: 10
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  periodSeconds: 5
  failureThreshold: 3
{{- end }}

{{/* clientConfig of a webhook: the webhook Service on 443 (caBundle: patched in by the controller or cert-manager). */}}
{{- define "baregate.webhookClientConfig" -}}
service:
  name: baregate-webhook
  namespace: {{ include "baregate.namespace" . }}
  path: {{ .path }}
  port: 443
{{- end }}

{{/* metadata.annotations of both webhook configurations: cert-manager's CA injector source, or nothing. */}}
{{- define "baregate.webhookAnnotations" -}}
{{- if .Values.webhooks.certManager -}}
annotations:
  cert-manager.io/inject-ca-from: {{ include "baregate.namespace" . }}/baregate-webhook
{{- end }}
{{- end }}

{{/* Everything of a Service-mutating webhook but its name and objectSelector (the same for every gateway profile). */}}
{{- define "baregate.mutateServiceWebhook" -}}
clientConfig:
  {{- include "baregate.webhookClientConfig" (dict "path" "/mutate-service") | nindent 2 }}
rules:
  - apiGroups: [""]
    apiVersions: [v1]
    operations: [CREATE]
    resources: [services]
    scope: Namespaced
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: [kube-system]
failurePolicy: Ignore
sideEffects: None
admissionReviewVersions: [v1]
timeoutSeconds: 5
reinvocationPolicy: Never
{{- end }}
