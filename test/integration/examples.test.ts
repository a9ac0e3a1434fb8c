/**
 * The examples (examples/**) and the gateway fixtures (test/fixtures/gateway) against a real apiserver.
 *
 * Why: the examples are what users copy. Every manifest in them must be accepted as written by an apiserver that
 * has our CRDs (the harness installs deploy/crds), the Gateway API CRDs and Istio's Gateway/VirtualService CRDs
 * (both vendored as fixtures), and the addresses they ask for must lie in the pools they define, or a user who
 * applies them gets a GatewayIntegration that can never be Ready. The fixtures are the Services the charts render;
 * they must parse, hold Services, be accepted by the apiserver and agree with the example values they were
 * rendered from (a fixture left behind after a values change is caught here).
 *
 * Only the apiserver runs (no controller, no webhook): this checks schemas and CEL rules, not behaviour; the
 * gateway integration test does that with these fixtures.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { GATEWAY_API_GROUP, ServiceAnnotations } from '../../src/api/keys.ts';
import { parseIP, parseRange, type Range } from '../../src/net/ip.ts';
import { k8sBinDir, type RunResult } from '../harness/cluster.ts';
import { dataDir, kubeconfig } from '../harness/kube.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES = join(root, 'examples');
const GATEWAY_FIXTURES = join(root, 'test', 'fixtures', 'gateway');
const GATEWAY_API_CRDS = join(root, 'test', 'fixtures', 'gateway-api');
const ISTIO_CRDS = join(root, 'test', 'fixtures', 'istio', 'crds.yaml');
const OUR_CRDS = join(root, 'deploy', 'crds');
const FIELD_MANAGER = 'examples-test';
/** Helm values files sit beside the manifests: they are input to `helm install -f`, never applied. */
const VALUES_FILE = /^values.*\.ya?ml$/;

interface Meta { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: { uid?: string | null }[] }
interface KObj { apiVersion?: string; kind?: string; metadata?: Meta; spec?: Record<string, unknown>; [k: string]: unknown }

let bin = '';

/** Runs kubectl as admin; never throws on a non-zero exit (the caller asserts on it). */
function kubectl(args: readonly string[], stdin?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(bin, 'kubectl'), ['--kubeconfig', kubeconfig(), ...args], {
      stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, KUBECACHEDIR: join(dataDir(), 'kube-cache-examples') },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => undefined); // kubectl exited before reading its input: its exit code says why
    child.on('error', reject);
    child.on('close', (code) => { resolve({ stdout, stderr, code: code ?? 1 }); });
    child.stdin.end(stdin ?? '');
  });
}

/** kubectl that must succeed; fails the test with its output otherwise. */
async function mustKubectl(args: readonly string[], stdin?: string): Promise<string> {
  const r = await kubectl(args, stdin);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} exited ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return r.stdout;
}

/** Every file under `dir` (recursively) whose name ends in .yaml or .yml, sorted. */
function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...yamlFiles(p));
    else if (/\.ya?ml$/.test(name)) out.push(p);
  }
  return out;
}

/** The documents of a YAML file (empty documents dropped); fails on any parse error or warning. */
function docsOf(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const out: unknown[] = [];
  for (const d of docs) {
    assert.deepEqual(d.errors.map((e) => e.message), [], `${relative(root, file)}: YAML errors`);
    assert.deepEqual(d.warnings.map((e) => e.message), [], `${relative(root, file)}: YAML warnings`);
    const js: unknown = d.toJS();
    if (js !== null && js !== undefined) out.push(js);
  }
  return out;
}

/** The Kubernetes objects of a manifest file: each must name apiVersion, kind and metadata.name. */
function objectsOf(file: string): KObj[] {
  return docsOf(file).map((d, i) => {
    const o = d as KObj;
    const where = `${relative(root, file)} document ${i + 1}`;
    assert.ok(typeof o === 'object' && !Array.isArray(o), `${where} is not a mapping`);
    assert.ok(o.apiVersion && o.kind && o.metadata?.name, `${where} lacks apiVersion, kind or metadata.name`);
    return o;
  });
}

const manifestFiles = (): string[] => yamlFiles(EXAMPLES).filter((f) => !VALUES_FILE.test(basename(f)));
const valuesFiles = (): string[] => yamlFiles(EXAMPLES).filter((f) => VALUES_FILE.test(basename(f)));
/** The example a file belongs to: its first folder under examples/ (examples/istio/gateway-api/x.yaml → istio). */
const exampleOf = (file: string): string => relative(EXAMPLES, file).split(/[\\/]/)[0] ?? '';

/** Parsed pool ranges by pool name, of every IPAddressPool in the example's manifests. */
function poolsOf(example: string): Map<string, Range[]> {
  const pools = new Map<string, Range[]>();
  for (const f of manifestFiles().filter((x) => exampleOf(x) === example)) {
    for (const o of objectsOf(f)) {
      if (o.kind !== 'IPAddressPool') continue;
      const ranges = ((o.spec?.addresses ?? []) as string[]).map((a) => {
        const r = parseRange(a);
        assert.ok(!('error' in r), `pool ${o.metadata?.name ?? ''}: ${a}: ${'error' in r ? r.error : ''}`);
        return r;
      });
      pools.set(o.metadata?.name ?? '', ranges);
    }
  }
  return pools;
}

/** The pools (by name) holding `ip`; fails when `ip` is not an IP. */
function poolsHolding(ip: string, pools: Map<string, Range[]>): string[] {
  const a = parseIP(ip);
  assert.ok(a, `${ip} is not an IP address`);
  return [...pools].filter(([, rs]) => rs.some((r) => r.family === a.family && r.lo <= a.value && a.value <= r.hi)).map(([n]) => n);
}

/** Splits a baregate.io/loadBalancerIPs value (comma list). */
const ipList = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);

/** Every value of `key` in a nested object (Helm values put annotations at different depths per chart). */
function valuesOfKey(o: unknown, key: string): unknown[] {
  if (o === null || typeof o !== 'object') return [];
  const out: unknown[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (k === key) out.push(v);
    out.push(...valuesOfKey(v, key));
  }
  return out;
}

before(async () => {
  bin = await k8sBinDir();
  // the CRDs the examples need besides ours (the harness installed deploy/crds; waited for below all the same)
  const crdFiles = [...yamlFiles(GATEWAY_API_CRDS), ISTIO_CRDS];
  for (const f of crdFiles) await mustKubectl(['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '-f', f]);
  const names = [...yamlFiles(OUR_CRDS), ...crdFiles].flatMap((f) => objectsOf(f)).filter((o) => o.kind === 'CustomResourceDefinition').map((o) => `crd/${o.metadata?.name ?? ''}`);
  await mustKubectl(['wait', '--for=condition=Established', '--timeout=60s', ...names]);
});

describe('examples', () => {
  test('every manifest of every YAML file under examples/ is accepted by the apiserver (server-side apply)', async () => {
    const files = manifestFiles();
    assert.ok(files.length > 0, 'examples/ holds no manifest');
    for (const ex of ['istio', 'ingress-nginx']) assert.ok(files.some((f) => exampleOf(f) === ex), `no manifest in examples/${ex}`);
    const objects = files.flatMap((f) => objectsOf(f).map((o) => ({ file: f, o })));
    assert.ok(objects.length > 0, 'the manifests hold no object');
    // the namespaces the objects live in, made first (a Namespace in the files is applied over it)
    const namespaces = new Set(objects.map(({ o }) => o.metadata?.namespace).filter((n): n is string => n !== undefined));
    for (const ns of namespaces) {
      const r = await kubectl(['create', 'namespace', ns]);
      assert.ok(r.code === 0 || /AlreadyExists/.test(r.stderr), `create namespace ${ns}: ${r.stderr}`);
    }
    for (const f of files) {
      const out = await mustKubectl(['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '-f', f]);
      assert.equal(out.trim().split('\n').filter(Boolean).length, objectsOf(f).length, `${relative(root, f)}: one line per object\n${out}`);
    }
    // each object is stored (read back from the file's own references: kind, group, name, namespace)
    for (const f of files) {
      const got = JSON.parse(await mustKubectl(['get', '-f', f, '-o', 'json'])) as KObj & { items?: KObj[] };
      const stored = got.kind === 'List' ? got.items ?? [] : [got]; // one object comes back alone, several as a List
      const key = (o: KObj): string => `${o.kind ?? ''}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
      assert.deepEqual(stored.map(key).sort(), objectsOf(f).map(key).sort(), `${relative(root, f)}: every object stored`);
    }
  });

  test('the Helm values files parse as YAML mappings and ask for addresses that lie in their example\'s pool', () => {
    const files = valuesFiles();
    assert.ok(files.length >= 2, `expected values.yaml for istio and ingress-nginx, found ${files.map((f) => relative(root, f)).join(', ')}`);
    for (const f of files) {
      const docs = docsOf(f);
      assert.equal(docs.length, 1, `${relative(root, f)}: one document`);
      assert.ok(typeof docs[0] === 'object' && docs[0] !== null && !Array.isArray(docs[0]), `${relative(root, f)}: a mapping`);
      const ips = valuesOfKey(docs[0], ServiceAnnotations.loadBalancerIPs[0]);
      assert.ok(ips.length > 0, `${relative(root, f)}: no ${ServiceAnnotations.loadBalancerIPs[0]} annotation`);
      const pools = poolsOf(exampleOf(f));
      for (const v of ips) for (const ip of ipList(String(v))) assert.ok(poolsHolding(ip, pools).length > 0, `${relative(root, f)}: ${ip} is in no pool of examples/${exampleOf(f)}`);
      assert.deepEqual(valuesOfKey(docs[0], 'allocateLoadBalancerNodePorts'), [false], `${relative(root, f)}: allocateLoadBalancerNodePorts false`);
    }
  });

  test('every GatewayIntegration\'s addresses and pool, and every Gateway\'s spec.addresses, lie in its example\'s pools', () => {
    let integrations = 0;
    for (const f of manifestFiles()) {
      const pools = poolsOf(exampleOf(f));
      for (const o of objectsOf(f)) {
        const where = `${relative(root, f)}: ${o.kind ?? ''} ${o.metadata?.name ?? ''}`;
        if (o.kind === 'GatewayIntegration') {
          integrations++;
          const addresses = (o.spec?.addresses ?? []) as string[];
          const pool = o.spec?.pool as string | undefined;
          assert.ok(addresses.length > 0 || pool !== undefined, `${where}: neither addresses nor pool`);
          for (const ip of addresses) assert.ok(poolsHolding(ip, pools).length > 0, `${where}: ${ip} is in no pool of examples/${exampleOf(f)}`);
          if (pool !== undefined) assert.ok(pools.has(pool), `${where}: pool ${pool} is not defined in examples/${exampleOf(f)}`);
        }
        if (o.kind === 'Gateway' && o.apiVersion?.startsWith(`${GATEWAY_API_GROUP}/`) === true) {
          const addrs = (o.spec?.addresses ?? []) as { type?: string; value: string }[];
          assert.ok(addrs.length > 0, `${where}: the example Gateway asks for no address`);
          for (const a of addrs) {
            assert.equal(a.type ?? 'IPAddress', 'IPAddress', `${where}: address type`);
            assert.ok(poolsHolding(a.value, pools).length > 0, `${where}: ${a.value} is in no pool of examples/${exampleOf(f)}`);
          }
        }
      }
    }
    assert.ok(integrations >= 3, `expected the istio, istio-gateway-api and ingress-nginx integrations, found ${integrations}`);
  });

  test('no two example pools overlap and no fixed address is asked for twice (the examples can be applied together)', () => {
    const all = [...new Set(manifestFiles().map(exampleOf))].flatMap((ex) => [...poolsOf(ex)].flatMap(([name, rs]) => rs.map((r) => ({ name, r }))));
    for (const [i, a] of all.entries()) {
      for (const b of all.slice(i + 1)) {
        assert.ok(a.r.family !== b.r.family || a.r.hi < b.r.lo || b.r.hi < a.r.lo, `pools ${a.name} and ${b.name} overlap`);
      }
    }
    const fixed = manifestFiles().flatMap((f) => objectsOf(f)).filter((o) => o.kind === 'GatewayIntegration').flatMap((o) => (o.spec?.addresses ?? []) as string[]);
    assert.equal(new Set(fixed).size, fixed.length, `a fixed address is in two integrations: ${fixed.join(', ')}`);
  });
});

describe('gateway fixtures', () => {
  /** Fixture files and their Services. */
  const fixtures = (): { file: string; services: KObj[] }[] => {
    const files = yamlFiles(GATEWAY_FIXTURES);
    assert.ok(files.length > 0, 'test/fixtures/gateway holds no YAML file');
    return files.map((file) => ({ file, services: objectsOf(file).filter((o) => o.apiVersion === 'v1' && o.kind === 'Service') }));
  };

  test('every fixture file parses, holds at least one Service, and records its source in a header', () => {
    for (const { file, services } of fixtures()) {
      assert.ok(services.length >= 1, `${relative(root, file)} holds no Service`);
      const text = readFileSync(file, 'utf8');
      assert.match(text, /^# .*(Chart: |istio\.io\/istio@)/m, `${relative(root, file)}: header names the chart or module`);
      assert.match(text, /^# Regenerate: bash tools\/render-gateway-fixtures\.sh/m, `${relative(root, file)}: header says how to regenerate`);
      for (const s of services) assert.ok(Array.isArray(s.spec?.ports) && (s.spec.ports as unknown[]).length > 0, `${relative(root, file)}: Service ${s.metadata?.name ?? ''} has ports`);
    }
  });

  test('the fixtures cover each profile: the istio chart Service, the ingress-nginx controller beside its ClusterIP Services, istiod\'s Gateway Service', () => {
    const all = fixtures().flatMap(({ services }) => services);
    const lb = all.filter((s) => s.spec?.type === 'LoadBalancer');
    assert.ok(lb.some((s) => s.metadata?.labels?.istio === 'ingress'), 'an istio/gateway Service with istio=ingress (release istio-ingress)');
    assert.ok(lb.some((s) => s.metadata?.labels?.istio === 'ingressgateway'), 'an istio/gateway Service with istio=ingressgateway');
    assert.ok(lb.some((s) => s.metadata?.labels?.['app.kubernetes.io/name'] === 'ingress-nginx' && s.metadata.labels['app.kubernetes.io/component'] === 'controller'), 'the ingress-nginx controller Service');
    const nginxClusterIP = all.filter((s) => s.metadata?.labels?.['app.kubernetes.io/name'] === 'ingress-nginx' && s.spec?.type !== 'LoadBalancer').map((s) => s.metadata?.name);
    assert.ok(nginxClusterIP.includes('ingress-nginx-controller-admission') && nginxClusterIP.includes('ingress-nginx-controller-metrics'), `the -admission and -metrics Services: ${nginxClusterIP.join(', ')}`);
    assert.ok(lb.some((s) => s.metadata?.labels?.['gateway.istio.io/managed'] === 'istio.io-gateway-controller' && s.metadata.ownerReferences?.length === 1), 'istiod\'s Gateway Service');
  });

  test('the fixtures rendered with the example values carry those values (re-render after a values change)', () => {
    for (const [fixture, values] of [['istio-gateway.values.yaml', 'istio/values.yaml'], ['ingress-nginx.values.yaml', 'ingress-nginx/values.yaml']] as const) {
      const want = valuesOfKey(docsOf(join(EXAMPLES, values))[0], ServiceAnnotations.loadBalancerIPs[0]).map(String);
      const lb = objectsOf(join(GATEWAY_FIXTURES, fixture)).filter((o) => o.kind === 'Service' && o.spec?.type === 'LoadBalancer');
      assert.equal(lb.length, 1, `${fixture}: one LoadBalancer Service`);
      assert.deepEqual([lb[0]?.metadata?.annotations?.[ServiceAnnotations.loadBalancerIPs[0]]], want, `${fixture}: the annotation of ${values}`);
      assert.equal(lb[0]?.spec?.allocateLoadBalancerNodePorts, false, `${fixture}: allocateLoadBalancerNodePorts false`);
    }
    for (const fixture of ['istio-gateway.default.yaml', 'ingress-nginx.default.yaml']) {
      const lb = objectsOf(join(GATEWAY_FIXTURES, fixture)).filter((o) => o.kind === 'Service' && o.spec?.type === 'LoadBalancer');
      assert.equal(lb.length, 1, `${fixture}: one LoadBalancer Service`);
      assert.equal(lb[0]?.spec?.allocateLoadBalancerNodePorts, undefined, `${fixture}: the chart default leaves NodePorts on (what the webhook must fix)`);
    }
  });

  test('every fixture Service is accepted by the apiserver (server-side dry run)', async () => {
    for (const { file, services } of fixtures()) {
      for (const s of services) {
        const ns = s.metadata?.namespace ?? 'default';
        const r = await kubectl(['create', 'namespace', ns]);
        assert.ok(r.code === 0 || /AlreadyExists/.test(r.stderr), `create namespace ${ns}: ${r.stderr}`);
        // istiod's golden file has no owner uid (its test fake sets none): any uid stands in for the Gateway's
        const obj: KObj = { ...s, metadata: { ...s.metadata, ...(s.metadata?.ownerReferences && { ownerReferences: s.metadata.ownerReferences.map((o) => ({ ...o, uid: o.uid ?? '00000000-0000-4000-8000-000000000000' })) }) } };
        const created = await kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], JSON.stringify(obj));
        assert.equal(created.code, 0, `${relative(root, file)}: Service ${ns}/${s.metadata?.name ?? ''} refused: ${created.stderr}`);
      }
    }
  });
});
