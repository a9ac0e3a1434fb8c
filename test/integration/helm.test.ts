/**
 * The Helm chart deploy/helm/baregate against the generated bundle and a real apiserver: the chart must
 * render exactly the objects of `bundleObjects(values)` for the default values and for non-default ones
 * (so the chart and the bundle cannot drift apart), pass `helm lint --strict`, be accepted by the
 * apiserver (server-side dry run), and install, upgrade and uninstall the way its README says.
 *
 * helm comes from tools/build-helm.sh (cached after the first build). It runs with its cache, config and
 * data directories in a temp dir, so nothing outside the test's own files changes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { bundleObjects, DEFAULT_VALUES, type BundleValues } from '../../src/api/bundle.ts';
import { SYSTEM_NAMESPACE } from '../../src/api/keys.ts';
import { k8sBinDir, type RunResult } from '../harness/cluster.ts';
import { kubeconfig } from '../harness/kube.ts';

const root = join(import.meta.dirname, '..', '..');
const chart = join(root, 'deploy', 'helm', 'baregate');
/** Values the chart has and the bundle does not (they decide how Helm installs, not what is installed). */
const CHART_ONLY_VALUES = ['createNamespace'] as const;
/** First line of every file in the chart's crds/ (Helm cannot template that directory, so the files are generated). */
const CRD_HEADER = '# Generated from src/api (the CRDs of deploy/baregate.yaml, with its labels). Do not edit.\n';

type Obj = Record<string, unknown>;
/** Helm values as a user writes them: any subset, nested like the defaults. */
type DeepPartial<T> = { [K in keyof T]?: T[K] extends readonly unknown[] ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K] };
type Overrides = DeepPartial<BundleValues> & { createNamespace?: boolean };

let helm = '';
let kubectl = '';
let work = '';

/** Runs a command to completion; never throws on a non-zero exit (the caller asserts on it). */
function run(cmd: string, args: readonly string[], input?: string): Promise<RunResult> {
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        ...process.env,
        KUBECONFIG: kubeconfig(),
        HELM_CACHE_HOME: join(work, 'cache'), HELM_CONFIG_HOME: join(work, 'config'), HELM_DATA_HOME: join(work, 'data'),
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => { /* the tool exited before reading its input: its exit code says why */ });
    child.on('error', reject);
    child.on('close', (code) => { resolve({ stdout, stderr, code: code ?? 1 }); });
    child.stdin.end(input ?? '');
  });
}

/** Runs a command and fails the test with its output when it exits non-zero. */
async function ok(cmd: string, args: readonly string[], input?: string): Promise<string> {
  const r = await run(cmd, args, input);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} exited ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return r.stdout;
}

/** The bin directory tools/build-helm.sh prints on its last stdout line. */
async function helmBinDir(): Promise<string> {
  const r = await new Promise<RunResult>((resolve, reject) => {
    const child = spawn('bash', [join(root, 'tools', 'build-helm.sh')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => { resolve({ stdout, stderr: '', code: code ?? 1 }); });
  });
  const dir = r.stdout.trim().split('\n').pop()?.trim();
  assert.ok(r.code === 0 && dir, `tools/build-helm.sh exited ${r.code} (stdout: ${r.stdout})`);
  return dir;
}

/** Every YAML document of a multi-document text as plain data; empty documents (a template that rendered nothing) dropped. */
function parseDocs(text: string, what: string, version: '1.1' | '1.2' = '1.2'): Obj[] {
  const out: Obj[] = [];
  for (const d of parseAllDocuments(text, { version })) {
    assert.equal(d.errors.length, 0, `${what}: YAML error ${d.errors.map((e) => e.message).join('; ')}`);
    const v: unknown = d.toJS();
    if (v === null || v === undefined) continue;
    assert.ok(typeof v === 'object' && !Array.isArray(v), `${what}: a document that is not an object: ${JSON.stringify(v)}`);
    out.push(v as Obj);
  }
  return out;
}

/** apiVersion/kind/namespace/name: what makes an object the same object for the apiserver. */
function keyOf(o: Obj): string {
  const md = (o.metadata ?? {}) as { name?: string; namespace?: string };
  return `${String(o.apiVersion)}/${String(o.kind)}/${md.namespace ?? ''}/${md.name ?? ''}`;
}

/** Objects keyed by {@link keyOf}; a key seen twice fails (a set must not hold duplicates). */
function keyed(objs: readonly Obj[], what: string): Map<string, Obj> {
  const m = new Map<string, Obj>();
  for (const o of objs) {
    const k = keyOf(o);
    assert.ok(!m.has(k), `${what}: ${k} appears twice`);
    m.set(k, o);
  }
  return m;
}

/** Readable differences between two values: one line per differing path, at most `max`. */
function differences(a: unknown, b: unknown, path: string, out: string[], max = 25): string[] {
  if (out.length >= max || isDeepStrictEqual(a, b)) return out;
  const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) out.push(`${path}: helm has ${a.length} items, the bundle ${b.length}`);
    for (let i = 0; i < Math.min(a.length, b.length); i++) differences(a[i], b[i], `${path}[${i}]`, out, max);
    if (a.length !== b.length) out.push(`  helm:   ${JSON.stringify(a)}`, `  bundle: ${JSON.stringify(b)}`);
    return out;
  }
  if (isObj(a) && isObj(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (!(k in a)) out.push(`${path}.${k}: only in the bundle: ${JSON.stringify(b[k])}`);
      else if (!(k in b)) out.push(`${path}.${k}: only in helm: ${JSON.stringify(a[k])}`);
      else differences(a[k], b[k], `${path}.${k}`, out, max);
    }
    return out;
  }
  out.push(`${path}: helm ${JSON.stringify(a)} (${typeof a}), bundle ${JSON.stringify(b)} (${typeof b})`);
  return out;
}

/** Asserts the two object lists are the same set of objects, each deep-equal; on a difference, shows the first differing object. */
function assertSameObjects(helmObjs: readonly Obj[], want: readonly Obj[], what: string): void {
  const h = keyed(helmObjs, `${what}: helm template`);
  const b = keyed(want, `${what}: bundleObjects`);
  const missing = [...b.keys()].filter((k) => !h.has(k));
  const extra = [...h.keys()].filter((k) => !b.has(k));
  assert.ok(missing.length === 0 && extra.length === 0,
    `${what}: different object sets\n  only in the bundle: ${missing.join(', ') || 'none'}\n  only in helm: ${extra.join(', ') || 'none'}`);
  for (const [k, wantObj] of b) {
    const got = h.get(k);
    if (isDeepStrictEqual(got, wantObj)) continue;
    const diff = differences(got, wantObj, '', []);
    assert.fail(`${what}: ${k} differs between helm template and bundleObjects():\n${diff.join('\n')}\n--- helm:\n${stringify(got)}--- bundle:\n${stringify(wantObj)}`);
  }
}

/** Helm's values merge: maps merge key by key, anything else (lists included) replaces. */
function mergeValues(base: unknown, over: unknown): unknown {
  const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObj(base) || !isObj(over)) return over === undefined ? base : over;
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = mergeValues(base[k], v);
  return out;
}

/** What the bundle generator makes of these chart values (JSON round trip: what an API client would send). */
function expected(over: Overrides): Obj[] {
  const { createNamespace, ...bundleOver } = over;
  const values = mergeValues(DEFAULT_VALUES, bundleOver) as BundleValues;
  const objs = JSON.parse(JSON.stringify(bundleObjects(values))) as Obj[];
  return createNamespace === false ? objs.filter((o) => !(o.kind === 'Namespace' && o.apiVersion === 'v1')) : objs;
}

/** `helm template` of the chart, CRDs included (the bundle holds them too), with extra helm arguments. */
async function render(args: readonly string[]): Promise<Obj[]> {
  const text = await ok(helm, ['template', 'baregate', chart, '--include-crds', ...args]);
  const objs = parseDocs(text, `helm template ${args.join(' ')}`);
  // kubectl and the apiserver read YAML 1.1 (an unquoted `on` is a boolean there): the render must mean the same in both
  const as11 = parseDocs(text, `helm template ${args.join(' ')} (YAML 1.1)`, '1.1');
  assert.ok(isDeepStrictEqual(as11, objs), `helm template ${args.join(' ')}: the render reads differently as YAML 1.1:\n${differences(as11, objs, '', []).join('\n')}`);
  return objs;
}

/**
 * Writes a values file for `helm -f`, as JSON: a YAML document with one reading (helm reads values as YAML 1.1,
 * where an unquoted `yes` is a boolean; the point is to test the chart, not YAML versions).
 */
function valuesFile(name: string, over: Overrides): string {
  const path = join(work, `${name}.values.json`);
  writeFileSync(path, JSON.stringify(over, null, 2));
  return path;
}

/** Non-default value sets: each is given to helm as a values file and to bundleObjects() merged over the defaults. */
const VALUE_SETS: Record<string, Overrides> = {
  'three controller replicas, debug logs, another image': {
    logLevel: 'debug',
    controller: { replicas: 3 },
    image: { repository: 'registry.example.test/lb/baregate', tag: '1.0', pullPolicy: 'Always' },
  },
  'webhooks off, own class only, another class': {
    webhooks: { enabled: false },
    onlyOwnClass: true,
    lbClass: 'example.com/metal',
  },
  'cert-manager and ServiceMonitor on': {
    webhooks: { certManager: true },
    serviceMonitor: true,
  },
  'custom placement, resources and timing': {
    controller: {
      leaseDurationSeconds: 30,
      nodeSelector: { 'node-role.kubernetes.io/infra': '', 'kubernetes.io/os': 'linux' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'infra', effect: 'NoSchedule' }],
      resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
    },
    speaker: {
      leaseDurationSeconds: 20,
      heartbeatIntervalMs: 250,
      heartbeatTimeoutMs: 900,
      nodeSelector: { 'baregate.io/speaker-node': 'true' },
      tolerations: [{ operator: 'Exists' }],
      resources: { requests: { cpu: '20m', memory: '32Mi' }, limits: { cpu: '1', memory: '256Mi' } },
    },
  },
  'namespace not created by the chart': { createNamespace: false },
};

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'bg-helm-'));
  helm = join(await helmBinDir(), 'helm');
  kubectl = join(await k8sBinDir(), 'kubectl');
});
after(() => { rmSync(work, { recursive: true, force: true }); });

describe('chart metadata', () => {
  test('Chart.yaml version and appVersion are the package version', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    const c = parse(readFileSync(join(chart, 'Chart.yaml'), 'utf8')) as { version: string; appVersion: string; name: string };
    assert.equal(c.name, 'baregate');
    assert.equal(c.version, pkg.version);
    assert.equal(c.appVersion, pkg.version);
  });

  test('values.yaml defaults are exactly DEFAULT_VALUES (plus the chart-only values)', () => {
    const v = parse(readFileSync(join(chart, 'values.yaml'), 'utf8')) as Obj;
    for (const k of CHART_ONLY_VALUES) assert.ok(k in v, `values.yaml lacks the chart-only value ${k}`);
    const rest = Object.fromEntries(Object.entries(v).filter(([k]) => !(CHART_ONLY_VALUES as readonly string[]).includes(k)));
    assert.deepEqual(rest, JSON.parse(JSON.stringify(DEFAULT_VALUES)));
  });

  test('crds/ holds the bundle\'s CRDs: deploy/crds plus the bundle labels, one file each', () => {
    const want = readdirSync(join(root, 'deploy', 'crds')).sort();
    assert.ok(want.length > 0, 'deploy/crds is empty');
    assert.deepEqual(readdirSync(join(chart, 'crds')).sort(), want, 'the chart\'s crds/ has the file names of deploy/crds');
    const bundleCRDs = expected({}).filter((o) => o.kind === 'CustomResourceDefinition');
    for (const f of want) {
      const generated = parse(readFileSync(join(root, 'deploy', 'crds', f), 'utf8')) as Obj;
      const name = (generated.metadata as { name: string }).name;
      const inBundle = bundleCRDs.find((o) => (o.metadata as { name: string }).name === name);
      assert.ok(inBundle, `the bundle has no CRD ${name}`);
      // the bundle's CRD is the generated one with the bundle labels: nothing else may differ
      const bundleMeta: Obj = { ...(inBundle.metadata as Obj) };
      delete bundleMeta.labels;
      assert.deepEqual({ ...inBundle, metadata: bundleMeta }, generated, `the bundle's ${name} is deploy/crds/${f} plus labels`);
      assert.equal(readFileSync(join(chart, 'crds', f), 'utf8'), CRD_HEADER + stringify(inBundle, { lineWidth: 0, aliasDuplicateObjects: false }),
        `deploy/helm/baregate/crds/${f} is stale: regenerate the chart's crds/ (deploy/helm/baregate/README.md, "Maintainers")`);
    }
  });
});

describe('helm lint', () => {
  test('passes with the default values, also --strict', async () => {
    await ok(helm, ['lint', chart]);
    await ok(helm, ['lint', '--strict', chart]);
  });

  test('passes --strict with every non-default value set', async () => {
    for (const [name, over] of Object.entries(VALUE_SETS)) await ok(helm, ['lint', '--strict', chart, '-f', valuesFile(`lint-${name.replace(/\W+/g, '-')}`, over)]);
  });
});

describe('helm template renders the bundle', () => {
  test('default values: exactly bundleObjects() and the committed deploy/baregate.yaml', async () => {
    const got = await render([]);
    assertSameObjects(got, expected({}), 'default values');
    assertSameObjects(got, parseDocs(readFileSync(join(root, 'deploy', 'baregate.yaml'), 'utf8'), 'deploy/baregate.yaml'), 'default values vs deploy/baregate.yaml');
    // the release name and namespace change nothing: every object has a fixed name in baregate-system
    const other = await ok(helm, ['template', 'other', chart, '--include-crds', '--namespace', 'elsewhere']);
    assertSameObjects(parseDocs(other, 'helm template other -n elsewhere'), expected({}), 'another release name and namespace');
  });

  for (const [name, over] of Object.entries(VALUE_SETS)) {
    test(`values file: ${name}`, async () => {
      const got = await render(['-f', valuesFile(name.replace(/\W+/g, '-'), over)]);
      assertSameObjects(got, expected(over), name);
      assert.ok(!isDeepStrictEqual(got, expected({})), `${name}: the values changed nothing (a value set that tests nothing)`);
    });
  }

  test('random value sets (fast-check; seed printed): the render is always bundleObjects()', async () => {
    const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
    console.log(`helm random values: seed ${seed} (re-run with FC_SEED=${seed})`);
    // strings YAML likes to read as something else, and characters that need quoting
    const tricky = fc.oneof(fc.constantFrom('1.0', '010', '0x1F', 'true', 'yes', 'on', 'null', '~', '', ' a', 'a: b', '- x', '#c', '"q"', "'s'", '{}', '[]', 'é\u00e0', '%d', '{{ .Values }}'),
      // not what the npm yaml package's YAML 1.1 reader takes for a float although no digit comes before the point
      // or exponent (`.`, `._`, `E72`: NaN there); Go's reader (kubectl's) fails to parse them as floats and keeps
      // a string, so they are a false difference of the 1.1 check, like `e7` below
      fc.string({ maxLength: 12 }).filter((x) => !(/^[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?$/.test(x) && Number.isNaN(Number(x.replace(/_/g, ''))))));
    const labelMap = fc.dictionary(fc.oneof(fc.constantFrom('kubernetes.io/os', 'node-role.kubernetes.io/infra', 'zone', 'a.b/c'), fc.stringMatching(/^[a-df-z][a-z0-9.-]{0,10}$/)), tricky, { maxKeys: 3 });
    const toleration = fc.record({
      // no key starts with 'e': the npm yaml package's YAML 1.1 reader takes a plain `e7` for a float, which
      // Go's YAML 1.1 (kubectl) does not (its floats need a digit first), so the 1.1 check would report a false difference
      key: fc.stringMatching(/^[a-df-z][a-z0-9./-]{0,15}$/), operator: fc.constantFrom('Exists' as const, 'Equal' as const), value: tricky,
      effect: fc.constantFrom('NoSchedule' as const, 'PreferNoSchedule' as const, 'NoExecute' as const), tolerationSeconds: fc.nat(100_000),
    }, { requiredKeys: [] });
    const resources = fc.record({ requests: fc.dictionary(fc.constantFrom('cpu', 'memory'), fc.constantFrom('1', '100m', '64Mi', '1.5Gi')), limits: fc.dictionary(fc.constantFrom('cpu', 'memory'), fc.constantFrom('2', '256Mi')) }, { requiredKeys: [] });
    const bigNat = fc.oneof(fc.nat(1000), fc.constantFrom(1_000_000, 123_456_789, 2 ** 31 - 1));
    const overrides: fc.Arbitrary<Overrides> = fc.record({
      createNamespace: fc.boolean(),
      image: fc.record({ repository: tricky, tag: tricky, pullPolicy: fc.constantFrom('IfNotPresent' as const, 'Always' as const, 'Never' as const) }, { requiredKeys: [] }),
      logLevel: fc.constantFrom('fatal' as const, 'error' as const, 'warn' as const, 'info' as const, 'debug' as const, 'trace' as const),
      lbClass: tricky,
      onlyOwnClass: fc.boolean(),
      controller: fc.record({ replicas: fc.nat(5), leaseDurationSeconds: bigNat, nodeSelector: labelMap, tolerations: fc.array(toleration, { maxLength: 2 }), resources }, { requiredKeys: [] }),
      speaker: fc.record({ leaseDurationSeconds: bigNat, heartbeatIntervalMs: bigNat, heartbeatTimeoutMs: bigNat, nodeSelector: labelMap, tolerations: fc.array(toleration, { maxLength: 2 }), resources }, { requiredKeys: [] }),
      webhooks: fc.record({ enabled: fc.boolean(), certManager: fc.boolean() }, { requiredKeys: [] }),
      serviceMonitor: fc.boolean(),
    }, { requiredKeys: [] });
    let n = 0;
    await fc.assert(fc.asyncProperty(overrides, async (over) => {
      const got = await render(['-f', valuesFile(`random-${n++}`, over)]);
      assertSameObjects(got, expected(over), `random values ${JSON.stringify(over)}`);
    }), { seed, numRuns: Number(process.env.HELM_RANDOM_RUNS ?? 25), endOnFailure: true });
  });

  test('--set on the command line: the same as the equivalent values file', async () => {
    const got = await render(['--set', 'controller.replicas=5', '--set', 'logLevel=warn', '--set', 'speaker.heartbeatTimeoutMs=500', '--set', 'webhooks.enabled=false']);
    assertSameObjects(got, expected({ controller: { replicas: 5 }, logLevel: 'warn', speaker: { heartbeatTimeoutMs: 500 }, webhooks: { enabled: false } }), '--set');
  });
});

describe('the apiserver accepts the rendered objects', () => {
  /** Server-side dry run of a render; objects whose API the cluster does not serve are left out, with a printed note. */
  async function dryRun(what: string, objs: readonly Obj[]): Promise<void> {
    const served = new Set((await ok(kubectl, ['api-versions'])).split('\n').map((l) => l.trim()).filter(Boolean));
    const apply: Obj[] = [];
    for (const o of objs) {
      if (served.has(String(o.apiVersion))) apply.push(o);
      else console.log(`# note (${what}): skipped ${keyOf(o)}: the cluster does not serve ${String(o.apiVersion)} (its CRDs are not installed here)`);
    }
    assert.ok(apply.length > 0, `${what}: nothing left to apply`);
    const out = await ok(kubectl, ['apply', '--dry-run=server', '--server-side', '-f', '-'], apply.map((o) => stringify(o)).join('---\n'));
    assert.equal(out.trim().split('\n').filter((l) => l.includes('(server dry run)')).length, apply.length, `${what}: one line per object\n${out}`);
  }

  test('default values', async () => {
    await dryRun('default values', await render([]));
  });

  for (const [name, over] of Object.entries(VALUE_SETS)) {
    test(name, async () => {
      await dryRun(name, await render(['-f', valuesFile(`dry-${name.replace(/\W+/g, '-')}`, over)]));
    });
  }
});

describe('helm install, upgrade, uninstall (as the chart README says)', () => {
  /** The controller Deployment's replicas, or undefined when it does not exist. */
  async function controllerReplicas(): Promise<number | undefined> {
    const r = await run(kubectl, ['-n', SYSTEM_NAMESPACE, 'get', 'deployment', 'baregate-controller', '-o', 'json']);
    if (r.code !== 0) return undefined;
    return (JSON.parse(r.stdout) as { spec: { replicas: number } }).spec.replicas;
  }

  test('install into the existing namespace, upgrade a value, uninstall removes all but the CRDs', async () => {
    const base = ['--namespace', SYSTEM_NAMESPACE, '--create-namespace', '--set', 'createNamespace=false'];
    const notes = await ok(helm, ['install', 'baregate', chart, ...base]);
    assert.match(notes, /kubectl -n baregate-system get pods/, 'NOTES.txt says how to check the pods');
    assert.match(notes, /baregate status/, 'NOTES.txt names baregate status');
    assert.equal(await controllerReplicas(), DEFAULT_VALUES.controller.replicas);
    const installed = expected({ createNamespace: false }).filter((o) => o.kind !== 'CustomResourceDefinition');
    // kubectl get -f fails when any one of them does not exist
    const names = await ok(kubectl, ['get', '-f', '-', '-o', 'name'], installed.map((o) => stringify(o)).join('---\n'));
    assert.equal(names.trim().split('\n').length, installed.length, `every installed object exists:\n${names}`);

    // the README's upgrade: the chart's CRDs first (Helm never upgrades crds/), then helm upgrade
    await ok(kubectl, ['apply', '--server-side', '--force-conflicts', '-f', join(chart, 'crds')]);
    const crd = JSON.parse(await ok(kubectl, ['get', 'crd', 'ipaddresspools.baregate.io', '-o', 'json'])) as { metadata: { labels?: Record<string, string> } };
    assert.equal(crd.metadata.labels?.['app.kubernetes.io/component'], 'crd', 'the chart CRDs (with the bundle labels) were applied');
    await ok(helm, ['upgrade', 'baregate', chart, ...base.filter((a) => a !== '--create-namespace'), '--set', 'controller.replicas=3']);
    assert.equal(await controllerReplicas(), 3, 'helm upgrade changed the Deployment');

    await ok(helm, ['uninstall', 'baregate', '--namespace', SYSTEM_NAMESPACE, '--wait', '--timeout', '60s']);
    assert.equal(await controllerReplicas(), undefined, 'the Deployment is gone after uninstall');
    const crds = await ok(kubectl, ['get', 'crd', '-o', 'name']);
    assert.match(crds, /ipaddresspools\.baregate\.io/, 'helm never deletes the CRDs of crds/');
  });
});
