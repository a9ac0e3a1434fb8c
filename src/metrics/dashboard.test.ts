/**
 * The Grafana dashboard against the registry: every metric a panel queries is registered and queried as its type
 * allows (counters in rate(), gauges plain, histograms via histogram_quantile over rate() of _bucket); every
 * registered baregate_ metric is on a panel or excluded on purpose; BFD metrics get their row by themselves; the
 * checked-in deploy/dashboards/baregate.json is the generated one; every panel uses the datasource variable; ids are
 * unique and panels do not overlap.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { BFD_PREFIX, buildDashboard, EXCLUDED_METRICS, processMetricNames, registeredMetrics, renderDashboard, type MetricInfo } from './dashboard.ts';
import { enableDefaultMetrics, registry } from './metrics.ts';

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { expr: string; datasource?: { uid: string } }[];
}
interface Variable { name: string; type: string; query: unknown; datasource?: { uid: string } }
interface Dashboard { uid: string; schemaVersion: number; panels: Panel[]; templating: { list: Variable[] } }

function dash(reg?: Registry): Dashboard {
  return buildDashboard(reg) as unknown as Dashboard;
}
function exprs(d: Dashboard): string[] {
  return d.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
}
function variableQueries(d: Dashboard): string[] {
  return d.templating.list.flatMap((v) => (typeof v.query === 'object' && v.query !== null ? [(v.query as { query: string }).query] : []));
}

const AGGREGATORS = new Set(['sum', 'min', 'max', 'avg', 'count', 'topk', 'bottomk', 'stddev', 'stdvar', 'group', 'quantile']);

/** The functions enclosing position `at` in a PromQL expression, innermost first (aggregations left out). */
function enclosingFunctions(expr: string, at: number): string[] {
  const out: string[] = [];
  let depth = 0;
  for (let i = at - 1; i >= 0; i--) {
    const c = expr[i];
    if (c === ')') { depth++; continue; }
    if (c !== '(') continue;
    if (depth > 0) { depth--; continue; }
    // an unmatched '(': what stands before it is a function, an aggregation (maybe with a by/without clause) or nothing
    let j = i - 1;
    while (j >= 0 && expr[j] === ' ') j--;
    if (expr[j] === ')') {
      // `agg by (labels) (` — skip the label list and the keyword, then the aggregation's name
      let d = 0;
      for (; j >= 0; j--) { if (expr[j] === ')') d++; else if (expr[j] === '(') { d--; if (d === 0) break; } }
      j--;
      while (j >= 0 && expr[j] === ' ') j--;
    }
    const end = j + 1;
    while (j >= 0 && /[a-z_]/.test(expr[j] ?? '')) j--;
    let word = expr.slice(j + 1, end);
    if (word === 'by' || word === 'without') {
      while (j >= 0 && expr[j] === ' ') j--;
      const e2 = j + 1;
      while (j >= 0 && /[a-z_]/.test(expr[j] ?? '')) j--;
      word = expr.slice(j + 1, e2);
    }
    if (word !== '' && !AGGREGATORS.has(word)) out.push(word);
    i = j + 1;
  }
  return out;
}

const COUNTER_FNS = new Set(['rate', 'irate', 'increase']);

/** Why `expr` uses the registered metrics wrongly (empty when fine). */
function misuses(expr: string, known: ReadonlyMap<string, MetricInfo>): string[] {
  const problems: string[] = [];
  for (const m of expr.matchAll(/baregate_[a-z0-9_]+/g)) {
    const token = m[0];
    const fns = enclosingFunctions(expr, m.index);
    const inner = fns[0];
    const direct = known.get(token);
    const hist = token.endsWith('_bucket') ? known.get(token.slice(0, -'_bucket'.length)) : undefined;
    if (hist?.type === 'histogram') {
      if (inner !== 'rate' || fns[1] !== 'histogram_quantile') problems.push(`${token}: a histogram's buckets need histogram_quantile(rate(...)) in ${expr}`);
      continue;
    }
    if (!direct) { problems.push(`${token} is not registered (${expr})`); continue; }
    if (direct.type === 'counter' && !(inner !== undefined && COUNTER_FNS.has(inner))) problems.push(`counter ${token} outside rate() in ${expr}`);
    if (direct.type === 'gauge' && (fns.some((f) => COUNTER_FNS.has(f)) || fns.includes('histogram_quantile'))) problems.push(`gauge ${token} under rate/histogram_quantile in ${expr}`);
    if (direct.type === 'histogram' || direct.type === 'summary') problems.push(`${direct.type} ${token} used without its _bucket series in ${expr}`);
  }
  return problems;
}

function referenced(expr: string): string[] {
  return [...expr.matchAll(/baregate_[a-z0-9_]+/g)].map((m) => m[0].replace(/_bucket$/, ''));
}

test('the PromQL scanner finds the functions around a metric, skipping aggregations', () => {
  const e = 'histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))';
  assert.deepEqual(enclosingFunctions(e, e.indexOf('x_bucket')), ['rate', 'histogram_quantile']);
  const g = 'sum by (pool) (g{a="b"}) / sum(rate(c[1m]))';
  assert.deepEqual(enclosingFunctions(g, g.indexOf('g{')), []);
  assert.deepEqual(enclosingFunctions(g, g.indexOf('c[')), ['rate']);
  const k = 'count by (mode) (changes(g[5m]) > 0)';
  assert.deepEqual(enclosingFunctions(k, k.indexOf('g[')), ['changes']);
});

test('the type rules catch a counter without rate(), a rated gauge and a histogram without its buckets', () => {
  const reg = new Registry();
  new Counter({ name: 'baregate_c_total', help: 'c', registers: [reg] });
  new Gauge({ name: 'baregate_g', help: 'g', registers: [reg] });
  new Histogram({ name: 'baregate_h_seconds', help: 'h', registers: [reg] });
  const known = new Map(registeredMetrics(reg).map((m) => [m.name, m]));
  assert.equal(misuses('sum(baregate_c_total)', known).length, 1);
  assert.equal(misuses('rate(baregate_g[5m])', known).length, 1);
  assert.equal(misuses('rate(baregate_h_seconds_bucket[5m])', known).length, 1);
  assert.equal(misuses('baregate_h_seconds', known).length, 1);
  assert.equal(misuses('baregate_nope', known).length, 1);
  assert.deepEqual(misuses('sum(rate(baregate_c_total[5m])) / max(baregate_g)', known), []);
  assert.deepEqual(misuses('histogram_quantile(0.5, sum by (le) (rate(baregate_h_seconds_bucket[5m])))', known), []);
});

test('every metric a panel or variable queries is registered and used as its type allows', () => {
  const known = new Map(registeredMetrics(registry).map((m) => [m.name, m]));
  const d = dash();
  const all = [...exprs(d), ...variableQueries(d)];
  assert.ok(all.length > 20);
  assert.deepEqual(all.flatMap((e) => misuses(e, known)), []);
});

test('every registered baregate_ metric is on some panel or excluded on purpose', () => {
  const used = new Set(exprs(dash()).flatMap(referenced));
  for (const x of EXCLUDED_METRICS) assert.ok(!used.has(x), `${x} is excluded but on a panel`);
  const missing = registeredMetrics(registry).map((m) => m.name).filter((n) => !used.has(n) && !EXCLUDED_METRICS.includes(n));
  assert.deepEqual(missing, []);
  for (const x of EXCLUDED_METRICS) assert.ok(registeredMetrics(registry).some((m) => m.name === x), `excluded ${x} is not registered`);
});

test('a BFD row appears for registered baregate_bfd_* metrics, with no code change', () => {
  const rowTitles = (d: Dashboard): string[] => d.panels.filter((p) => p.type === 'row').map((p) => p.title);
  const bfdOnDefault = registeredMetrics(registry).filter((m) => m.name.startsWith(BFD_PREFIX)).map((m) => m.name);
  const d = dash();
  assert.equal(rowTitles(d).includes('BFD'), bfdOnDefault.length > 0);
  const used = new Set(exprs(d).flatMap(referenced));
  for (const n of bfdOnDefault) assert.ok(used.has(n), `${n} is on no panel`);

  // a registry without BFD metrics has no BFD row; one gaining a new baregate_bfd_* metric of any type gets it
  const bare = new Registry();
  new Gauge({ name: 'baregate_other', help: 'x', registers: [bare] });
  assert.ok(!rowTitles(dash(bare)).includes('BFD'));
  const reg = new Registry();
  new Gauge({ name: 'baregate_bfd_session_up', help: 'up', labelNames: ['peer'], registers: [reg] });
  new Counter({ name: 'baregate_bfd_echo_total', help: 'echo', labelNames: ['peer'], registers: [reg] });
  new Histogram({ name: 'baregate_bfd_rtt_seconds', help: 'rtt', registers: [reg] });
  const withBfd = dash(reg);
  assert.ok(rowTitles(withBfd).includes('BFD'));
  const known = new Map(registeredMetrics(reg).map((m) => [m.name, m]));
  const bfdExprs = exprs(withBfd).filter((e) => e.includes(BFD_PREFIX));
  assert.deepEqual(new Set(bfdExprs.flatMap(referenced)), new Set(['baregate_bfd_session_up', 'baregate_bfd_echo_total', 'baregate_bfd_rtt_seconds']));
  assert.deepEqual(bfdExprs.flatMap((e) => misuses(e, known)), []);
});

test('a registered histogram gets quantile panels under Controller health', () => {
  const reg = new Registry();
  new Histogram({ name: 'baregate_reconcile_duration_seconds', help: 'Reconcile duration', registers: [reg] });
  const d = dash(reg);
  const e = exprs(d).filter((x) => x.includes('baregate_reconcile_duration_seconds_bucket'));
  assert.equal(e.length, 3);
  assert.ok(e.every((x) => x.startsWith('histogram_quantile(')));
});

test('deploy/dashboards/baregate.json is the generated dashboard (run npm run gen after a metric change)', async () => {
  const file = join(import.meta.dirname, '..', '..', 'deploy', 'dashboards', 'baregate.json');
  assert.equal(await readFile(file, 'utf8'), renderDashboard());
});

test('the dashboard has uid baregate, schemaVersion 39 and a Prometheus datasource variable every panel uses', () => {
  const d = dash();
  assert.equal(d.uid, 'baregate');
  assert.equal(d.schemaVersion, 39);
  const ds = d.templating.list.find((v) => v.name === 'datasource');
  assert.ok(ds);
  assert.equal(ds.type, 'datasource');
  assert.equal(ds.query, 'prometheus');
  for (const v of d.templating.list) if (v.type === 'query') assert.equal(v.datasource?.uid, '${datasource}', v.name);
  assert.ok(d.templating.list.some((v) => v.name === 'node') && d.templating.list.some((v) => v.name === 'pool'));
  for (const p of d.panels) {
    assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, p.title);
    if (p.type === 'row') continue;
    assert.ok((p.targets ?? []).length > 0, p.title);
    for (const t of p.targets ?? []) assert.equal(t.datasource?.uid, '${datasource}', p.title);
  }
});

test('panel ids are unique and panels do not overlap on the grid', () => {
  const reg = new Registry();
  for (const m of registeredMetrics(registry)) new Gauge({ name: m.name, help: m.help, registers: [reg] });
  new Histogram({ name: 'baregate_x_seconds', help: 'x', registers: [reg] });
  for (const d of [dash(), dash(reg)]) {
    const ids = d.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    const boxes = d.panels.map((p) => p.gridPos);
    for (const b of boxes) assert.ok(b.x >= 0 && b.w > 0 && b.x + b.w <= 24 && b.h > 0 && b.y >= 0);
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i]!, b = boxes[j]!;
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        assert.ok(!overlap, `panels ${d.panels[i]!.title} and ${d.panels[j]!.title} overlap`);
      }
    }
  }
});

test('with the process metrics enabled, the only baregate_ metrics on no panel are the Node.js defaults, and the dashboard stays the same', () => {
  const before = renderDashboard();
  enableDefaultMetrics();
  assert.ok(registeredMetrics(registry).some((m) => m.type === 'histogram'), 'the defaults include a histogram (GC duration)');
  const used = new Set(exprs(dash()).flatMap(referenced));
  const unshown = registeredMetrics(registry).map((m) => m.name).filter((n) => !used.has(n) && !EXCLUDED_METRICS.includes(n));
  assert.ok(unshown.length > 0);
  assert.deepEqual(unshown.filter((n) => !processMetricNames().has(n)), []);
  assert.equal(renderDashboard(), before);
});
