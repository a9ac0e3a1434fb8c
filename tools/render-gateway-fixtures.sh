#!/usr/bin/env bash
# Regenerates the gateway fixtures from the published charts and CRDs (not run by CI: the fixtures are checked in).
#   test/fixtures/gateway/*.yaml      the Services the istio/gateway and ingress-nginx charts render (with the
#                                     values of examples/*/values.yaml, and with the charts' defaults), plus the
#                                     Service istiod generates for a Gateway (its own golden test output)
#   test/fixtures/gateway-api/*.yaml  the Gateway API standard-channel CRDs
#   test/fixtures/istio/crds.yaml     the Istio CRDs the examples use (networking.istio.io Gateway, VirtualService)
# Sources come from the Go module proxy (`go mod download`) into a temp GOPATH; helm from tools/build-helm.sh.
#   ISTIO_MODULE_VERSION, GATEWAY_API_VERSION, INGRESS_NGINX_VERSION override the pinned versions below.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

ISTIO_MODULE_VERSION="${ISTIO_MODULE_VERSION:-v0.0.0-20260827124520-eed52ebb66ad}"
GATEWAY_API_VERSION="${GATEWAY_API_VERSION:-v1.6.3}"
INGRESS_NGINX_VERSION="${INGRESS_NGINX_VERSION:-v0.0.0-20240708192948-52c50467d67d}"
# The Kubernetes version of tools/build-k8s.sh: charts check .Capabilities.KubeVersion (helm's default is older).
KUBE_VERSION="${KUBE_VERSION:-1.34.4}"

# shellcheck source=tools/lib/gomod.sh
. tools/lib/gomod.sh
export HELM_CACHE_HOME="$work/helm/cache" HELM_CONFIG_HOME="$work/helm/config" HELM_DATA_HOME="$work/helm/data"

helm="$(bash tools/build-helm.sh | tail -n1)/helm"
log "downloading istio.io/istio@$ISTIO_MODULE_VERSION, sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION, k8s.io/ingress-nginx@$INGRESS_NGINX_VERSION"
istio="$(moddir istio.io/istio "$ISTIO_MODULE_VERSION")"
gwapi="$(moddir sigs.k8s.io/gateway-api "$GATEWAY_API_VERSION")"
nginx="$(moddir k8s.io/ingress-nginx "$INGRESS_NGINX_VERSION")"

chart_version() { sed -n 's/^version: *//p' "$1/Chart.yaml" | head -n1; }
istio_chart="$istio/manifests/charts/gateway"
nginx_chart="$nginx/charts/ingress-nginx"
istio_ver="$(chart_version "$istio_chart")"
nginx_ver="$(chart_version "$nginx_chart")"

# Keeps only the Service documents of a multi-document YAML stream (text kept as rendered, `# Source:` lines too).
services_only() {
  node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const docs = s.split(/^---\s*$/m).filter((d) => /^kind: Service\s*$/m.test(d) && /^apiVersion: v1\s*$/m.test(d));
      if (docs.length === 0) { console.error("no Service in the render"); process.exit(1); }
      process.stdout.write(docs.map((d) => "---" + d.replace(/\s+$/, "") + "\n").join(""));
    });'
}

# render <out> <header lines> -- <helm template args...>
render() {
  local out="$1" header="$2"; shift 3
  local shown="$*"
  shown="${shown//$istio/<istio.io/istio@$ISTIO_MODULE_VERSION>}"
  shown="${shown//$nginx/<k8s.io/ingress-nginx@$INGRESS_NGINX_VERSION>}"
  { printf '%s\n' "$header" "# Command: helm template $shown --kube-version $KUBE_VERSION" "# Regenerate: bash tools/render-gateway-fixtures.sh (do not edit by hand)."
    "$helm" template "$@" --kube-version "$KUBE_VERSION" | services_only; } > "$out.tmp"
  mv "$out.tmp" "$out"
  log "wrote $out ($(grep -c '^kind: Service' "$out") Service(s))"
}

fx="$root/test/fixtures/gateway"
mkdir -p "$fx"
istio_hdr="# Chart: istio/gateway $istio_ver (manifests/charts/gateway of Go module istio.io/istio@$ISTIO_MODULE_VERSION).
# That module version is not an approved Istio release (the proxy still serves it from an earlier copy); its
# Chart.yaml version $istio_ver is the placeholder the Istio release build replaces, so published charts say their
# release number instead. The Service template is the one the published chart ships."
nginx_hdr="# Chart: ingress-nginx $nginx_ver (charts/ingress-nginx of Go module k8s.io/ingress-nginx@$INGRESS_NGINX_VERSION, the proxy's latest)."

render "$fx/istio-gateway.values.yaml" "$istio_hdr
# Values: examples/istio/values.yaml (fixed address annotation, allocateLoadBalancerNodePorts false)." -- \
  istio-ingress "$istio_chart" -n istio-ingress -f examples/istio/values.yaml
render "$fx/istio-gateway.default.yaml" "$istio_hdr
# Values: the chart's defaults (NodePorts allocated, no annotations): the webhook/controller must fix this one." -- \
  istio-ingress "$istio_chart" -n istio-ingress
render "$fx/istio-ingressgateway.default.yaml" "$istio_hdr
# Values: the chart's defaults, release name istio-ingressgateway (labels istio=ingressgateway, like the legacy gateway)." -- \
  istio-ingressgateway "$istio_chart" -n istio-system
render "$fx/ingress-nginx.values.yaml" "$nginx_hdr
# Values: examples/ingress-nginx/values.yaml. Three Services: the controller (LoadBalancer, matched), -admission and
# -metrics (ClusterIP, same name/component labels: must NOT be matched)." -- \
  ingress-nginx "$nginx_chart" -n ingress-nginx -f examples/ingress-nginx/values.yaml
render "$fx/ingress-nginx.default.yaml" "$nginx_hdr
# Values: the chart's defaults (LoadBalancer with NodePorts; -admission ClusterIP)." -- \
  ingress-nginx "$nginx_chart" -n ingress-nginx

# The Service istiod generates for a Gateway API Gateway: istiod's own golden test output, verbatim (it is
# rendered by istiod's code from its kube-gateway template; helm cannot render it).
golden="$istio/pilot/pkg/config/kube/gatewaycommon/testdata/deployment/manual-ip.yaml"
{ printf '%s\n' "# istiod's Gateway API Service (Gateway default/default, class istio, spec.addresses [1.2.3.4], name-override" \
    "# annotation \"default\"): the Service document of pilot/pkg/config/kube/gatewaycommon/testdata/deployment/manual-ip.yaml" \
    "# in Go module istio.io/istio@$ISTIO_MODULE_VERSION (istiod's deployment controller golden test), verbatim." \
    "# istiod copies the first Gateway address into spec.loadBalancerIP. ownerReferences[0].uid is null in the golden" \
    "# file: a test must put the real Gateway's uid there before creating it." \
    "# Regenerate: bash tools/render-gateway-fixtures.sh (do not edit by hand)."
  services_only < "$golden"; } > "$fx/istio-gateway-api.golden.yaml"
log "wrote $fx/istio-gateway-api.golden.yaml"

# Gateway API standard-channel CRDs, as published.
ga="$root/test/fixtures/gateway-api"
mkdir -p "$ga"
rm -f "$ga"/*.yaml
cp "$gwapi"/config/crd/standard/*.yaml "$ga"/
chmod u+w "$ga"/*.yaml
cat > "$ga/README.md" <<README
Gateway API CRDs, standard channel: \`config/crd/standard/*.yaml\` of Go module sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION,
copied unchanged. License: Apache-2.0 (the Kubernetes Authors). Regenerate: \`bash tools/render-gateway-fixtures.sh\`.
README
log "copied $(ls "$ga"/*.yaml | wc -l) files to $ga"

# The Istio CRDs the examples create objects of, from the base chart's crd-all.gen.yaml (documents kept verbatim).
is="$root/test/fixtures/istio"
mkdir -p "$is"
{ printf '%s\n' "# Istio CRDs networking.istio.io Gateway and VirtualService: the CustomResourceDefinition documents of" \
    "# manifests/charts/base/files/crd-all.gen.yaml in Go module istio.io/istio@$ISTIO_MODULE_VERSION (not an approved" \
    "# Istio release; the proxy still serves it), verbatim. License: Apache-2.0 (Istio Authors)." \
    "# Regenerate: bash tools/render-gateway-fixtures.sh (do not edit by hand)."
  node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const want = ["gateways.networking.istio.io", "virtualservices.networking.istio.io"];
      const docs = s.split(/^---\s*$/m).filter((d) => /^kind: CustomResourceDefinition\s*$/m.test(d) && want.some((n) => new RegExp("^  name: " + n.replace(/\./g, "\\.") + "\\s*$", "m").test(d)));
      if (docs.length !== want.length) { console.error(`found ${docs.length} of ${want.length} CRDs`); process.exit(1); }
      process.stdout.write(docs.map((d) => "---" + d.replace(/\s+$/, "") + "\n").join(""));
    });' < "$istio/manifests/charts/base/files/crd-all.gen.yaml"; } > "$is/crds.yaml"
log "wrote $is/crds.yaml"
