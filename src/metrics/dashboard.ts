/**
 * The Grafana dashboard for baregate (deploy/dashboards/baregate.json, written by `npm run gen`), built from the
 * metric objects of metrics.ts so a renamed metric renames its panels. Every baregate_ metric of the registry is on
 * some panel or in EXCLUDED_METRICS (dashboard.test.ts checks both ways); any registered `baregate_bfd_*` metric
 * gets a panel in the BFD row and any other registered histogram a quantile panel under Controller health, without
 * editing this file.
 *
 * PromQL by metric type: counters only inside rate(), gauges as plain values (or changes()), histograms only as
 * histogram_quantile over rate() of their _bucket series.
 */
import { collectDefaultMetrics, Registry, type Counter, type Gauge, type Histogram } from 'prom-client';
import {
  allocationPaused, allocations, apiWrites, isLeader, poolAddresses, reconciles, registry, speakerAnnounced,
  speakerBgpPrefixes, speakerBgpSessionUp, speakerBgpUpdates, speakerGratuitousSent, speakerHeartbeatLosses,
  speakerHeartbeatsRejected, speakerOwnershipChanges, speakerResponsesSent,
} from './metrics.ts';

/** What prom-client keeps on every metric object at run time (its typings do not declare it). */
export interface MetricInfo {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram' | 'summary';
  readonly labelNames: readonly string[];
}

/** Name, type and labels of one metric object. */
export function info(m: Counter | Gauge | Histogram): MetricInfo {
  return m as unknown as MetricInfo;
}

/** The baregate_ metrics a registry holds, in registration order. */
export function registeredMetrics(reg: Registry = registry): MetricInfo[] {
  return (reg.getMetricsAsArray() as unknown as MetricInfo[]).filter((m) => m.name.startsWith('baregate_'));
}

/**
 * Registered metrics deliberately on no panel, each with its reason. Empty: every metric of metrics.ts is shown.
 * (The Node.js process metrics that enableDefaultMetrics() adds with the baregate_ prefix, processMetricNames(), are
 * left out as a whole: they are not baregate's and generic Node.js dashboards cover them.)
 */
export const EXCLUDED_METRICS: readonly string[] = [];

let processNames: ReadonlySet<string> | undefined;
/** The Node.js process metrics enableDefaultMetrics() adds (baregate_process_*, baregate_nodejs_*): never on a panel. */
export function processMetricNames(): ReadonlySet<string> {
  if (!processNames) {
    const reg = new Registry();
    collectDefaultMetrics({ register: reg, prefix: 'baregate_' });
    processNames = new Set(registeredMetrics(reg).map((m) => m.name));
  }
  return processNames;
}

/** Prefix of the BFD metrics: each one registered gets a panel in the BFD row. */
export const BFD_PREFIX = 'baregate_bfd_';

const DS = { type: 'prometheus', uid: '${datasource}' } as const;
const RATE = '[$__rate_interval]';
/** Speaker series are per node: the $node variable picks scrape targets (speakers run on the host network). */
const NODE = 'instance=~"$node"';
const POOL = 'pool=~"$pool"';

interface Target { readonly expr: string; readonly legendFormat: string }
interface PanelSpec {
  readonly title: string;
  readonly description: string;
  readonly kind: 'timeseries' | 'stat';
  readonly unit: string;
  readonly targets: readonly Target[];
}

function name(m: Counter | Gauge | Histogram): string {
  return info(m).name;
}
function sel(...matchers: string[]): string {
  const ms = matchers.filter((x) => x !== '');
  return ms.length === 0 ? '' : `{${ms.join(', ')}}`;
}
function t(expr: string, legendFormat: string): Target {
  return { expr, legendFormat };
}
function ts(title: string, description: string, unit: string, ...targets: Target[]): PanelSpec {
  return { title, description, kind: 'timeseries', unit, targets };
}
function stat(title: string, description: string, unit: string, ...targets: Target[]): PanelSpec {
  return { title, description, kind: 'stat', unit, targets };
}
function byLabels(m: MetricInfo, extra: readonly string[] = []): string {
  const labels = [...extra, ...m.labelNames.filter((l) => !extra.includes(l))];
  return labels.length === 0 ? '' : ` by (${labels.join(', ')})`;
}
function legend(m: MetricInfo, extra: readonly string[] = []): string {
  const labels = [...extra, ...m.labelNames.filter((l) => !extra.includes(l))];
  return labels.length === 0 ? m.name : labels.map((l) => `{{${l}}}`).join(' ');
}

/** A panel fitting the metric's type: plain gauge, counter rate or histogram quantiles. */
function genericPanel(m: MetricInfo, matchers: string[], extraBy: readonly string[]): PanelSpec {
  const s = sel(...matchers);
  const description = `${m.name} (${m.type})`;
  if (m.type === 'counter') {
    return ts(`${m.help} (per second)`, description, 'ops', t(`sum${byLabels(m, extraBy)} (rate(${m.name}${s}${RATE}))`, legend(m, extraBy)));
  }
  if (m.type === 'histogram') {
    const by = byLabels(m, ['le', ...extraBy]);
    const targets = [0.5, 0.9, 0.99].map((q) =>
      t(`histogram_quantile(${q}, sum${by} (rate(${m.name}_bucket${s}${RATE})))`, `p${Math.round(q * 100)} ${legend(m, extraBy)}`));
    return ts(`${m.help} (p50, p90, p99)`, description, 's', ...targets);
  }
  return ts(m.help, description, 'short', t(`sum${byLabels(m, extraBy)} (${m.name}${s})`, legend(m, extraBy)));
}

interface RowSpec { readonly title: string; readonly panels: readonly PanelSpec[] }

function rows(reg: Registry): RowSpec[] {
  const pool = name(poolAddresses);
  const alloc = name(allocations);
  const announced = name(speakerAnnounced);
  const sessionUp = name(speakerBgpSessionUp);
  const registered = registeredMetrics(reg).filter((m) => !processMetricNames().has(m.name));
  const bfd = registered.filter((m) => m.name.startsWith(BFD_PREFIX));
  const histograms = registered.filter((m) => m.type === 'histogram' && !m.name.startsWith(BFD_PREFIX));

  const out: RowSpec[] = [
    {
      title: 'Pools',
      panels: [
        ts('Pool usage (assigned / size)', 'Share of each pool\'s addresses assigned to Services', 'percentunit',
          t(`sum by (pool) (${pool}${sel(POOL, 'state="assigned"')}) / sum by (pool) (${pool}${sel(POOL)})`, '{{pool}}')),
        ts('Free addresses', 'Addresses still available per pool and family', 'short',
          t(`sum by (pool, family) (${pool}${sel(POOL, 'state="available"')})`, '{{pool}} {{family}}')),
        ts('Assigned addresses', 'Addresses assigned per pool and family', 'short',
          t(`sum by (pool, family) (${pool}${sel(POOL, 'state="assigned"')})`, '{{pool}} {{family}}')),
      ],
    },
    {
      title: 'Allocations',
      panels: [
        ts('Allocation decisions', 'Allocation decisions per second by result', 'ops',
          t(`sum by (result) (rate(${alloc}${RATE}))`, '{{result}}')),
        ts('Allocation failures', 'Failure episodes per second (a Service failing while retried counts once)', 'ops',
          t(`sum (rate(${alloc}${sel('result="failed"')}${RATE}))`, 'failed')),
        stat('Allocation paused', '1 while the leader writes nothing to Services (baregate pause)', 'short',
          t(`max (${name(allocationPaused)})`, 'paused')),
      ],
    },
    {
      title: 'Announcing',
      panels: [
        ts('Announced IPs per node', 'IPs each speaker announces, by mode (L2 answered now, BGP planned)', 'short',
          t(`sum by (instance, mode) (${announced}${sel(NODE)})`, '{{instance}} {{mode}}')),
        ts('Announcing nodes (L2 / BGP)', 'Speakers announcing at least one IP, by mode', 'short',
          t(`count by (mode) (${announced}${sel(NODE)} > 0)`, '{{mode}}')),
        ts('L2 ownership changes', 'IPs gained or lost per second, by node', 'ops',
          t(`sum by (instance, change) (rate(${name(speakerOwnershipChanges)}${sel(NODE)}${RATE}))`, '{{instance}} {{change}}')),
        ts('Gratuitous ARP / NA sent', 'Gratuitous ARP and unsolicited NA packets per second, by node', 'pps',
          t(`sum by (instance) (rate(${name(speakerGratuitousSent)}${sel(NODE)}${RATE}))`, '{{instance}}')),
        ts('ARP / NDP replies', 'ARP and NDP requests answered per second, by node', 'pps',
          t(`sum by (instance) (rate(${name(speakerResponsesSent)}${sel(NODE)}${RATE}))`, '{{instance}}')),
        ts('Heartbeats', 'Peers that stopped being heard, and heartbeats rejected by reason, per second', 'ops',
          t(`sum by (instance) (rate(${name(speakerHeartbeatLosses)}${sel(NODE)}${RATE}))`, 'losses {{instance}}'),
          t(`sum by (instance, reason) (rate(${name(speakerHeartbeatsRejected)}${sel(NODE)}${RATE}))`, 'rejected {{instance}} {{reason}}')),
      ],
    },
    {
      title: 'BGP',
      panels: [
        ts('Sessions up by peer', 'Nodes whose BGP session to the peer is Established', 'short',
          t(`sum by (peer) (${sessionUp}${sel(NODE)})`, '{{peer}}')),
        ts('Session state changes', 'Established/down transitions seen per node and peer in the interval', 'short',
          t(`sum by (instance, peer) (changes(${sessionUp}${sel(NODE)}${RATE}))`, '{{instance}} {{peer}}')),
        ts('UPDATEs sent', 'BGP UPDATE messages sent per second, by node and peer', 'ops',
          t(`sum by (instance, peer) (rate(${name(speakerBgpUpdates)}${sel(NODE)}${RATE}))`, '{{instance}} {{peer}}')),
        ts('Prefixes advertised', 'Prefixes in each peer\'s adj-RIB-out, by node', 'short',
          t(`sum by (instance, peer) (${name(speakerBgpPrefixes)}${sel(NODE)})`, '{{instance}} {{peer}}')),
      ],
    },
    {
      title: 'Controller health',
      panels: [
        stat('Leader', 'Replicas that are the leader (1 expected)', 'short',
          t(`sum (${name(isLeader)})`, 'leaders')),
        ts('Leader by replica', '1 on the replica holding the Lease', 'short',
          t(`max by (instance) (${name(isLeader)})`, '{{instance}}')),
        ts('Reconciles', 'Service reconciles per second', 'ops',
          t(`sum (rate(${name(reconciles)}${RATE}))`, 'reconciles')),
        ts('API writes', 'Writes to the Kubernetes API per second, by kind', 'ops',
          t(`sum by (kind) (rate(${name(apiWrites)}${RATE}))`, '{{kind}}')),
        ...histograms.map((m) => genericPanel(m, [], [])),
      ],
    },
  ];
  if (bfd.length > 0) {
    out.push({ title: 'BFD', panels: bfd.map((m) => genericPanel(m, [NODE], ['instance'])) });
  }
  return out;
}

const COLUMNS = 3;
const WIDTH = 24 / COLUMNS;
const HEIGHT = 8;

/** The dashboard as an object (Grafana schemaVersion 39). */
export function buildDashboard(reg: Registry = registry): Record<string, unknown> {
  const panels: Record<string, unknown>[] = [];
  let id = 1;
  let y = 0;
  for (const row of rows(reg)) {
    panels.push({ id: id++, type: 'row', title: row.title, collapsed: false, datasource: DS, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    row.panels.forEach((p, i) => {
      const panel: Record<string, unknown> = {
        id: id++,
        type: p.kind,
        title: p.title,
        description: p.description,
        datasource: DS,
        gridPos: { h: HEIGHT, w: WIDTH, x: (i % COLUMNS) * WIDTH, y: y + Math.floor(i / COLUMNS) * HEIGHT },
        fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
        options: p.kind === 'stat'
          ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'none' }
          : { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } },
        targets: p.targets.map((tg, j) => ({ refId: String.fromCharCode(65 + j), datasource: DS, expr: tg.expr, legendFormat: tg.legendFormat })),
      };
      panels.push(panel);
    });
    y += Math.ceil(row.panels.length / COLUMNS) * HEIGHT;
  }
  const query = (label: string, metric: string, l: string): Record<string, unknown> => ({
    name: l === 'instance' ? 'node' : l,
    label,
    type: 'query',
    datasource: DS,
    query: { query: `label_values(${metric}, ${l})`, refId: `${label}-values` },
    definition: `label_values(${metric}, ${l})`,
    refresh: 2,
    includeAll: true,
    multi: true,
    allValue: '.*',
    current: { selected: true, text: ['All'], value: ['$__all'] },
    sort: 1,
  });
  return {
    uid: 'baregate',
    title: 'baregate',
    description: 'Address pools, allocations, L2 and BGP announcement, BFD and controller health (generated from src/metrics; run npm run gen)',
    tags: ['baregate', 'load-balancer'],
    schemaVersion: 39,
    version: 1,
    editable: true,
    graphTooltip: 1,
    time: { from: 'now-6h', to: 'now' },
    refresh: '30s',
    timezone: '',
    annotations: { list: [] },
    links: [],
    templating: {
      list: [
        { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: {}, refresh: 1, hide: 0 },
        query('Node', name(speakerAnnounced), 'instance'),
        query('Pool', name(poolAddresses), 'pool'),
      ],
    },
    panels,
  };
}

/** The dashboard file's text (deploy/dashboards/baregate.json). */
export function renderDashboard(reg: Registry = registry): string {
  return JSON.stringify(buildDashboard(reg), null, 2) + '\n';
}
