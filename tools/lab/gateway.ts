/**
 * The lab's ingress gateways (issue 12): what a user's cluster has in front of its apps, reproduced with real parts.
 * "Gateway" pods (pods as namespaces, like the demo app's) run a real Debian nginx that proxies to the demo app's
 * ClusterIP Service (through the node's kube-proxy, like a real ingress controller's upstream would); two
 * LoadBalancer Services shaped as the charts render them select those pods:
 * ```
 *  ingress-nginx-controller   labels app.kubernetes.io/name=ingress-nginx, component=controller; http 80, https 443 → targetPort http
 *  istio-ingressgateway       labels istio=ingressgateway, app=istio-ingressgateway; http2 80
 *  ingress-nginx-internal-controller   a second ingress-nginx release that exists BEFORE its integration (mode integration only)
 * ```
 * The Services carry no baregate annotation and leave allocateLoadBalancerNodePorts at Kubernetes' default: the
 * GatewayIntegrations (created first, fixed addresses from the L2 pool `lan`, disableNodePorts) must give them their
 * IPs and keep NodePorts off (the webhook at creation); the late one's NodePorts are removed afterwards by the
 * controller. Mode `annotations` is the stand-in the lab used before the controller had integrations: the Services
 * then carry the fixed-IP annotation and allocateLoadBalancerNodePorts false themselves (no integration).
 *
 * nginx runs with a private config, prefix, logs and temp paths under `<lab dir>/nginx/<pod>/` (never /etc/nginx),
 * `daemon off` and `master_process off` (one process: the pod's own, killed with the pod and at lab teardown), and
 * only in its pod's namespace. Every answer carries `X-Gateway: <gateway>` and `X-Gateway-Pod: <pod>`; `/healthz` is
 * answered by nginx itself (readiness).
 *
 * Also here: reading kube-proxy's NodePort map in a node namespace (nftables mode), so a check can say which
 * Services have a NodePort open on that node.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { until } from '../../test/harness/wait.ts';
import { API_VERSION, GatewayLabels, GatewayProfiles, Kinds, ServiceAnnotations, type GatewayProfile } from '../../src/api/keys.ts';
import type { LabelSelector } from '../../src/api/types.ts';
import { POD_PORT, type LabCluster, type LabPod, type PodProgram } from './api.ts';

/** How the gateway Services get their addresses and lose their NodePorts (see the module comment). */
export const GatewayModes = {
  /** GatewayIntegrations do it: the point of issue 12. */
  integration: 'integration',
  /** The Services carry the annotation and allocateLoadBalancerNodePorts false themselves (no integration). */
  annotations: 'annotations',
} as const;
/** One of {@link GatewayModes}. */
export type GatewayMode = (typeof GatewayModes)[keyof typeof GatewayModes];

/**
 * The mode `npm run lab` and the e2e test use: the integrations; BAREGATE_LAB_GATEWAY_MODE=annotations picks the
 * stand-in (tells a data-plane problem from an integration one).
 */
export const DEFAULT_GATEWAY_MODE: GatewayMode = process.env.BAREGATE_LAB_GATEWAY_MODE === GatewayModes.annotations ? GatewayModes.annotations : GatewayModes.integration;

/** One port of a gateway Service. */
interface GatewayPort { readonly name: string; readonly port: number; readonly targetPort: number | string; readonly appProtocol?: string }

/** One gateway of the lab: its pods' app, its Service's shape, its integration and fixed addresses. */
export interface LabGatewaySpec {
  /** Service name (namespace default, as every lab object). */
  readonly service: string;
  /** The pods' `app` label (the Service selects it) and the name in the `X-Gateway` header. */
  readonly app: string;
  /** Labels on the Service, as the chart renders them (what the profile matches). */
  readonly labels: Readonly<Record<string, string>>;
  readonly ports: readonly GatewayPort[];
  /** The GatewayIntegration giving this Service its addresses. */
  readonly integration: string;
  readonly profile: GatewayProfile;
  /** The integration's selector (narrows or replaces the profile's default). */
  readonly selector?: LabelSelector;
  /** Fixed addresses (IPv4, IPv6) from the L2 pool `lan`, at its top end: the demo takes its IPs from the bottom. */
  readonly ips: readonly [string, string];
  /** Created before its integration: born with NodePorts, which the controller must remove. */
  readonly late: boolean;
}

const NGINX_LABELS = (instance: string): Record<string, string> => ({
  [GatewayLabels.appName]: 'ingress-nginx', 'app.kubernetes.io/instance': instance, 'app.kubernetes.io/part-of': 'ingress-nginx',
  [GatewayLabels.appComponent]: 'controller', 'app.kubernetes.io/managed-by': 'Helm', 'helm.sh/chart': 'ingress-nginx-4.11.0',
});
const NGINX_PORTS: readonly GatewayPort[] = [
  { name: 'http', port: 80, targetPort: 'http', appProtocol: 'http' },
  // the chart's https port goes to the controller's https container port; the lab's nginx serves plain HTTP on one port
  { name: 'https', port: 443, targetPort: 'http', appProtocol: 'https' },
];

/** The lab's gateways (see the module comment). */
export const LAB_GATEWAYS: readonly LabGatewaySpec[] = [
  {
    service: 'ingress-nginx-controller', app: 'ingress-nginx', labels: NGINX_LABELS('ingress-nginx'), ports: NGINX_PORTS,
    integration: 'lab-ingress-nginx', profile: GatewayProfiles.ingressNginx,
    selector: { matchLabels: { 'app.kubernetes.io/instance': 'ingress-nginx' } },
    ips: ['192.0.2.220', '2001:db8:2::220'], late: false,
  },
  {
    service: 'istio-ingressgateway', app: 'istio-ingressgateway',
    labels: { [GatewayLabels.app]: 'istio-ingressgateway', [GatewayLabels.istio]: 'ingressgateway', 'app.kubernetes.io/name': 'istio-ingressgateway', 'app.kubernetes.io/part-of': 'istio' },
    ports: [{ name: 'http2', port: 80, targetPort: POD_PORT }],
    integration: 'lab-istio', profile: GatewayProfiles.istio, selector: { matchLabels: { [GatewayLabels.istio]: 'ingressgateway' } },
    ips: ['192.0.2.219', '2001:db8:2::219'], late: false,
  },
  {
    // a second ingress-nginx release installed before baregate: same pods, its own Service and integration
    service: 'ingress-nginx-internal-controller', app: 'ingress-nginx', labels: NGINX_LABELS('ingress-nginx-internal'), ports: NGINX_PORTS,
    integration: 'lab-ingress-nginx-internal', profile: GatewayProfiles.ingressNginx,
    selector: { matchLabels: { 'app.kubernetes.io/instance': 'ingress-nginx-internal' } },
    ips: ['192.0.2.218', '2001:db8:2::218'], late: true,
  },
];

/** The gateways a mode deploys (the late one needs the controller to clean it up: integration mode only). */
export function gatewaysFor(mode: GatewayMode): LabGatewaySpec[] {
  return LAB_GATEWAYS.filter((g) => mode === GatewayModes.integration || !g.late);
}

/** A gateway once deployed: its spec, its pods and the upstream its nginx proxies to. */
export interface LabGateway {
  readonly spec: LabGatewaySpec;
  readonly pods: readonly LabPod[];
  /** The demo Service's ClusterIPs nginx proxies to (v4, v6; `host:port`). */
  readonly upstream: readonly string[];
  /** The NodePorts a late Service was born with (before its integration); empty for the others. */
  readonly nodePortsBefore: readonly number[];
}

const hostPort = (ip: string, port: number): string => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

/**
 * The nginx config of one gateway pod: one process in the foreground, everything under `prefix`, listening on
 * POD_PORT (v4 and v6), proxying to the upstream of the family the client's connection arrived on.
 */
export function nginxConfig(opts: { prefix: string; gateway: string; pod: string; upstream4: string; upstream6: string }): string {
  const p = opts.prefix;
  return `# baregate lab gateway ${opts.gateway}, pod ${opts.pod} (generated by tools/lab/gateway.ts)
daemon off;
master_process off;
worker_processes 1;
pid ${p}/nginx.pid;
error_log ${p}/error.log notice;
events { worker_connections 256; }
http {
  access_log ${p}/access.log;
  client_body_temp_path ${p}/tmp/body;
  proxy_temp_path ${p}/tmp/proxy;
  fastcgi_temp_path ${p}/tmp/fastcgi;
  uwsgi_temp_path ${p}/tmp/uwsgi;
  scgi_temp_path ${p}/tmp/scgi;
  default_type text/plain;
  # the demo Service's ClusterIP of the family the client came in on (kube-proxy on the node DNATs it to a demo pod)
  map $server_addr $demo_upstream { "~:" "${opts.upstream6}"; default "${opts.upstream4}"; }
  server {
    listen ${POD_PORT};
    listen [::]:${POD_PORT};
    location = /healthz {
      add_header X-Gateway ${opts.gateway} always;
      return 200 "gateway ${opts.gateway} pod ${opts.pod}\\n";
    }
    location / {
      proxy_pass http://$demo_upstream;
      proxy_set_header Host $host;
      proxy_connect_timeout 2s;
      proxy_read_timeout 5s;
      proxy_next_upstream off;
      add_header X-Gateway ${opts.gateway} always;
      add_header X-Gateway-Pod ${opts.pod} always;
      add_header X-Upstream $upstream_addr always;
    }
  }
}
`;
}

/** The pod program running nginx for gateway `gateway` (config written under `<lab dir>/nginx/<pod>/`). */
export function nginxProgram(lab: LabCluster, gateway: string, upstream: readonly [string, string]): PodProgram {
  return {
    command: (pod) => {
      const prefix = join(lab.dir, 'nginx', pod.name);
      for (const d of ['tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) mkdirSync(join(prefix, d), { recursive: true });
      const conf = join(prefix, 'nginx.conf');
      writeFileSync(conf, nginxConfig({ prefix, gateway, pod: pod.name, upstream4: upstream[0], upstream6: upstream[1] }));
      // -e: the error log before the config is read (the package's default would be stderr; never /var/log)
      return { cmd: 'nginx', args: ['-p', `${prefix}/`, '-c', conf, '-e', join(prefix, 'error.log')] };
    },
    ready: async (pod) => {
      await until(`nginx of ${pod.name} serving /healthz on ${pod.ipv4} and ${pod.ipv6} (${join(lab.dir, 'nginx', pod.name, 'error.log')})`, async () => {
        const r = await lab.lab.run(pod.node, 'curl', ['-s', '-g', '--max-time', '1', `http://${pod.ipv4}:${POD_PORT}/healthz`, `http://[${pod.ipv6}]:${POD_PORT}/healthz`], 5000);
        const want = `gateway ${gateway} pod ${pod.name}\n`;
        return r.stdout === `${want}${want}` ? true : undefined;
      }, 30_000, 100);
    },
  };
}

/** The ClusterIPs (IPv4, IPv6) of a Service and its first port, as `host:port` (the gateways' upstream). */
export async function clusterUpstream(lab: LabCluster, service: string): Promise<[string, string]> {
  const r = await lab.kubectl(['get', 'svc', service, '-n', 'default', '-o', 'json']);
  if (r.code !== 0) throw new Error(`Service ${service}: ${r.stderr}`);
  const spec = (JSON.parse(r.stdout) as { spec?: { clusterIPs?: string[]; ports?: { port: number }[] } }).spec;
  const port = spec?.ports?.[0]?.port ?? 80;
  const v4 = spec?.clusterIPs?.find((ip) => !ip.includes(':'));
  const v6 = spec?.clusterIPs?.find((ip) => ip.includes(':'));
  if (v4 === undefined || v6 === undefined) throw new Error(`Service ${service} is not dual-stack (clusterIPs ${JSON.stringify(spec?.clusterIPs)})`);
  return [hostPort(v4, port), hostPort(v6, port)];
}

/** The Service object of a gateway, as its chart would render it (plus the stand-ins of mode annotations). */
export function gatewayService(g: LabGatewaySpec, mode: GatewayMode): Record<string, unknown> {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: {
      name: g.service, namespace: 'default', labels: { ...g.labels },
      ...(mode === GatewayModes.annotations && { annotations: { [ServiceAnnotations.loadBalancerIPs[0]]: g.ips.join(',') } }),
    },
    spec: {
      type: 'LoadBalancer', ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv4', 'IPv6'],
      ports: g.ports.map((p) => ({ name: p.name, port: p.port, protocol: 'TCP', targetPort: p.targetPort, ...(p.appProtocol !== undefined && { appProtocol: p.appProtocol }) })),
      selector: { app: g.app },
      ...(mode === GatewayModes.annotations && { allocateLoadBalancerNodePorts: false }),
    },
  };
}

/** The GatewayIntegration of a gateway: its profile and selector, its fixed addresses, NodePorts off. */
export function gatewayIntegration(g: LabGatewaySpec): Record<string, unknown> {
  return {
    apiVersion: API_VERSION, kind: Kinds.GatewayIntegration.kind, metadata: { name: g.integration },
    spec: { profile: g.profile, ...(g.selector && { selector: g.selector }), addresses: [...g.ips], disableNodePorts: true },
  };
}

async function apply(lab: LabCluster, objs: readonly Record<string, unknown>[]): Promise<void> {
  if (objs.length === 0) return;
  const r = await lab.kubectl(['apply', '--server-side', '--field-manager=lab-gateway', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objs }));
  if (r.code !== 0) throw new Error(`kubectl apply: ${r.stderr.trim()}`);
}

/** Until the controller has seen every integration (its status names the generation); bounded, then says why. */
async function waitObserved(lab: LabCluster, names: readonly string[], ms: number): Promise<void> {
  let last = '';
  await until(() => `the controller to observe GatewayIntegrations ${names.join(', ')} (last: ${last})`, async () => {
    const r = await lab.kubectl(['get', Kinds.GatewayIntegration.plural, '-o', 'json']);
    if (r.code !== 0) { last = r.stderr.trim(); return undefined; }
    const items = (JSON.parse(r.stdout) as { items: { metadata: { name: string; generation?: number }; status?: { observedGeneration?: number } }[] }).items;
    const pending = names.filter((n) => {
      const o = items.find((i) => i.metadata.name === n);
      return o?.status?.observedGeneration === undefined || o.status.observedGeneration < (o.metadata.generation ?? 1);
    });
    last = pending.length === 0 ? 'all observed' : `not yet: ${pending.join(', ')}`;
    return pending.length === 0 ? true : undefined;
  }, ms, 250);
}

/** Options of {@link deployGateways}. */
export interface DeployGatewaysOptions {
  /** The Service the gateways proxy to (the demo app's; dual-stack). */
  upstream: string;
  /** Nodes the gateway pods run on (one pod of each gateway per entry). */
  nodes: readonly string[];
  mode?: GatewayMode;
  /** Bound on each wait (integrations observed, addresses). */
  waitMs?: number;
  log?: (msg: string) => void;
}

/**
 * Deploys the gateways: nginx pods, then (mode integration) the late Service, the integrations, the other Services
 * once the controller has seen the integrations (so the webhook sets everything at creation); resolves when every
 * gateway Service shows both its fixed addresses.
 */
export async function deployGateways(lab: LabCluster, opts: DeployGatewaysOptions): Promise<LabGateway[]> {
  const mode = opts.mode ?? DEFAULT_GATEWAY_MODE;
  const waitMs = opts.waitMs ?? 60_000;
  const log = opts.log ?? ((): void => undefined);
  const specs = gatewaysFor(mode);
  const upstream = await clusterUpstream(lab, opts.upstream);
  const apps = [...new Set(specs.map((g) => g.app))];
  log(`gateway pods (nginx ${apps.join(', ')}) on ${opts.nodes.join(', ')}, proxying to Service ${opts.upstream} (${upstream.join(', ')})`);
  const pods = new Map(await Promise.all(apps.map(async (app) => [app, await lab.deployApp(app, [...opts.nodes], nginxProgram(lab, app, upstream))] as const)));
  const before = new Map<string, number[]>();
  if (mode === GatewayModes.integration) {
    const late = specs.filter((g) => g.late);
    if (late.length > 0) {
      log(`Services created before their integration (NodePorts allocated): ${late.map((g) => g.service).join(', ')}`);
      await apply(lab, late.map((g) => gatewayService(g, mode)));
      for (const g of late) {
        before.set(g.service, await until(`NodePorts on ${g.service} before its integration`, async () => {
          const ports = await lab.nodePorts(g.service);
          return ports.length > 0 ? ports : undefined;
        }, waitMs, 200));
      }
    }
    log(`GatewayIntegrations ${specs.map((g) => `${g.integration} (${g.profile}: ${g.ips.join(', ')})`).join(', ')}`);
    await apply(lab, specs.map(gatewayIntegration));
    await waitObserved(lab, specs.map((g) => g.integration), waitMs);
  }
  const born = specs.filter((g) => mode !== GatewayModes.integration || !g.late);
  log(`gateway Services ${born.map((g) => g.service).join(', ')} (${mode === GatewayModes.integration ? 'no baregate annotation, NodePorts left at the default' : 'fixed-IP annotation, allocateLoadBalancerNodePorts false'})`);
  await apply(lab, born.map((g) => gatewayService(g, mode)));
  await Promise.all(specs.map(async (g) => {
    const want = [...g.ips].sort().join(',');
    let last: string[] = [];
    await until(() => `Service ${g.service} to get ${want} (has: ${last.join(',') || 'none'})`, async () => {
      last = await lab.serviceIPs(g.service);
      return [...last].sort().join(',') === want ? true : undefined;
    }, waitMs, 250);
  }));
  return specs.map((spec) => ({ spec, pods: pods.get(spec.app) ?? [], upstream, nodePortsBefore: before.get(spec.service) ?? [] }));
}

/** One HTTP answer with its headers (names lower-case). */
export interface HeaderAnswer {
  status?: number;
  headers: Record<string, string>;
  body?: string;
  error?: string;
}

/** One GET from a lab namespace (curl, new connection) with the response headers. */
export async function getWithHeaders(lab: LabCluster, from: string, url: string, timeoutMs = 2000): Promise<HeaderAnswer> {
  const r = await lab.lab.run(from, 'curl', ['-sS', '-g', '-i', '--max-time', String(timeoutMs / 1000), url], timeoutMs + 5000);
  if (r.code !== 0) return { headers: {}, error: `curl exited ${r.code}: ${r.stderr.trim().slice(-300)}` };
  const cut = r.stdout.indexOf('\r\n\r\n');
  const head = cut < 0 ? r.stdout : r.stdout.slice(0, cut);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(/^HTTP\/\S+ (\d+)/.exec(statusLine)?.[1] ?? 0), headers, body: cut < 0 ? '' : r.stdout.slice(cut + 4) };
}

/** One NodePort entry of a node's nftables ruleset. */
export interface NodePortRule {
  /** Table family and name (`ip kube-proxy`, `ip6 kube-proxy`). */
  readonly table: string;
  /** The map holding it (`service-nodeports`: the traffic path; `no-endpoint-nodeports`: the reject path). */
  readonly map: string;
  readonly protocol: string;
  readonly port: number;
  /** `namespace/name` of the Service it is for (from the target chain's name or the element's comment), or ''. */
  readonly service: string;
  /** The verdict (`goto external-…-default/demo/tcp/http`). */
  readonly verdict: string;
}

/**
 * Every NodePort entry of an nftables ruleset (`nft list ruleset`): the elements of every map keyed by protocol and
 * port alone (`type inet_proto . inet_service : verdict`), in every table. That is how kube-proxy's nftables mode
 * opens a NodePort (`ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports`, and the
 * no-endpoints reject map); the maps keyed by address as well are the ClusterIP / LoadBalancer IP paths.
 */
export function parseNodePortRules(ruleset: string): NodePortRule[] {
  const out: NodePortRule[] = [];
  for (const t of ruleset.matchAll(/^table (\S+) (\S+) \{\n([\s\S]*?)^\}/gm)) {
    const table = `${t[1] ?? ''} ${t[2] ?? ''}`;
    for (const m of (t[3] ?? '').matchAll(/^\tmap (\S+) \{\n([\s\S]*?)^\t\}/gm)) {
      const body = m[2] ?? '';
      if (!/^\t\ttype inet_proto \. inet_service : verdict$/m.test(body)) continue;
      const elements = /elements = \{([\s\S]*?)\}/.exec(body)?.[1] ?? '';
      for (const e of elements.matchAll(/\b(tcp|udp|sctp) \. (\d+)(?: comment "([^"]*)")? : ([^,]+)/g)) {
        const verdict = (e[4] ?? '').trim();
        const chain = /-[A-Z0-9]{8}-([^/\s]+)\/([^/\s]+)\//.exec(verdict);
        const service = chain ? `${chain[1] ?? ''}/${chain[2] ?? ''}` : (e[3] ?? '').split(':')[0] ?? '';
        out.push({ table, map: m[1] ?? '', protocol: e[1] ?? '', port: Number(e[2]), service, verdict });
      }
    }
  }
  return out;
}

/** The whole nftables ruleset of a node namespace. */
export function nodeRuleset(lab: LabCluster, node: string): string {
  return lab.lab.exec(node, 'nft', ['list', 'ruleset']);
}

/** Every NodePort entry in a node namespace's ruleset (see {@link parseNodePortRules}). */
export function nodePortRules(lab: LabCluster, node: string): NodePortRule[] {
  return parseNodePortRules(nodeRuleset(lab, node));
}

/** What {@link checkGateways} found for one gateway address. */
export interface GatewayCheck {
  readonly service: string;
  readonly integration: string;
  readonly ip: string;
  /** The X-Gateway header nginx added, and the demo pod's answer it proxied. */
  gateway?: string;
  answer?: string;
  error?: string;
  /** NodePorts on the Service (should be none). */
  nodePorts: number[];
  /** Nodes whose kube-proxy has a NodePort for the Service (should be none). */
  nodePortNodes: string[];
}

/**
 * Each gateway address fetched from `from` (bounded wait for the first answer through nginx), plus the Service's
 * NodePorts and the nodes whose kube-proxy opens one for it: what `lab up` prints and the e2e test asserts on.
 */
export async function checkGateways(lab: LabCluster, gateways: readonly LabGateway[], opts: { from?: string; waitMs?: number } = {}): Promise<GatewayCheck[]> {
  const from = opts.from ?? 'client';
  const waitMs = opts.waitMs ?? 30_000;
  return Promise.all(gateways.flatMap((g) => g.spec.ips.map(async (ip): Promise<GatewayCheck> => {
    const c: GatewayCheck = { service: g.spec.service, integration: g.spec.integration, ip, nodePorts: await lab.nodePorts(g.spec.service), nodePortNodes: [] };
    for (const n of lab.nodes) if (nodePortRules(lab, n.name).some((r) => r.service === `default/${g.spec.service}`)) c.nodePortNodes.push(n.name);
    let last = '';
    await until(() => `an answer through ${g.spec.service} at ${ip}: ${last}`, async () => {
      const r = await getWithHeaders(lab, from, ip.includes(':') ? `http://[${ip}]/` : `http://${ip}/`);
      if (r.status === 200 && r.headers['x-gateway'] !== undefined) return r;
      last = r.error ?? `HTTP ${String(r.status)} ${JSON.stringify(r.headers)}`;
      return undefined;
    }, waitMs, 300).then((r) => { c.gateway = r.headers['x-gateway'] ?? ''; c.answer = (r.body ?? '').trim(); }, () => { c.error = last || 'no answer'; });
    return c;
  })));
}

/** The checks as lines for a person (the lab's `up` summary). */
export function formatGatewayChecks(checks: readonly GatewayCheck[]): string[] {
  const rows = checks.map((c) => [
    c.service, c.ip, c.integration,
    c.nodePorts.length === 0 && c.nodePortNodes.length === 0 ? 'none' : `${c.nodePorts.join(',') || '-'} (kube-proxy on ${c.nodePortNodes.join(',') || 'no node'})`,
    c.answer !== undefined ? `${c.answer} via nginx ${c.gateway ?? '?'}` : `FAILED: ${c.error ?? '?'}`,
  ]);
  const head = ['GATEWAY SERVICE', 'IP', 'INTEGRATION', 'NODEPORTS', 'HTTP ANSWER'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [head, ...rows].map((r) => `  ${r.map((x, i) => (i === r.length - 1 ? x : x.padEnd(w[i] ?? 0))).join('  ')}`);
}
