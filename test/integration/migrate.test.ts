/**
 * `baregate migrate` against a real apiserver.
 *
 * 1. Every sample configuration (test/fixtures/metallb/*.yaml, which between them set every field of MetalLB's
 *    current API, the AddressPool kind, the legacy ConfigMap and Helm's configInline) converts to objects that the
 *    apiserver ACCEPTS with our CRDs (schemas and CEL rules), and stores without pruning a field.
 * 2. With MetalLB's vendored CRDs installed, the same MetalLB objects, the legacy ConfigMap and annotated
 *    LoadBalancer Services (with the status MetalLB wrote) created on the apiserver: `--from-cluster` writes exactly
 *    the objects that the file-based conversion of those files writes, and its report lists the Services.
 *
 * Only the apiserver runs: this checks what the apiserver accepts and what the reader finds, not the controller.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { Kinds } from '../../src/api/keys.ts';
import { METALLB_GROUP, METALLB_NAMESPACE, MetalLBKinds } from '../../src/api/metallb.ts';
import { runMigrateCommand } from '../../src/cli/migrate.ts';
import { parseDocuments, type SourceDoc } from '../../src/migrate/input.ts';
import { migrate } from '../../src/migrate/migration.ts';
import type { MigrateReport } from '../../src/migrate/report.ts';
import { k8sBinDir } from '../harness/cluster.ts';
import { Api, dataDir, kubeconfig, waitFor } from '../harness/kube.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = join(root, 'test', 'fixtures', 'metallb');
const METALLB_CRDS = join(FIXTURES, 'crds');
/** The samples, each converted on its own (together their pools overlap, which is not what this checks). */
const SAMPLES = ['current.yaml', 'addresspools.yaml', 'legacy-configmap.yaml', 'helm-values.yaml'];

interface KObj { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: unknown }; spec?: Record<string, unknown>; status?: unknown; [k: string]: unknown }

const api = new Api();
const tmp = mkdtempSync(join(tmpdir(), 'migrate-it-'));

function docs(file: string): SourceDoc[] {
  const d = parseDocuments(readFileSync(join(FIXTURES, file), 'utf8'), file);
  assert.ok(!('error' in d), JSON.stringify(d));
  return d;
}
const objectsOf = (yaml: string): KObj[] => parseAllDocuments(yaml).map((d) => d.toJS() as KObj | null).filter((o): o is KObj => o !== null);
const pluralOf = (kind: string): string => {
  const k = Object.values(Kinds).find((x) => x.kind === kind);
  assert.ok(k, `baregate kind ${kind}`);
  return k.plural;
};

describe('baregate migrate on a real apiserver', () => {
  after(() => { rmSync(tmp, { recursive: true, force: true }); });

  for (const sample of SAMPLES) {
    test(`${sample}: the converted objects are accepted by baregate's CRDs and stored unpruned`, async () => {
      const m = migrate(docs(sample), { metallbNamespace: METALLB_NAMESPACE, sources: [sample] });
      const objs = objectsOf(m.yaml);
      assert.ok(objs.length >= 2, `${sample} converts to objects (${objs.length})`);
      for (const o of objs) {
        const path = `/apis/baregate.io/v1beta1/${pluralOf(o.kind)}`;
        const r = await api.c.request<KObj>('POST', path, o);
        assert.equal(r.status, 201, `${sample}: ${o.kind}/${o.metadata.name} refused: ${JSON.stringify(r.body)}`);
        for (const [k, v] of Object.entries(o.spec ?? {})) assert.deepEqual(r.body.spec?.[k], v, `${sample}: ${o.kind}/${o.metadata.name} spec.${k} stored as sent`);
      }
      for (const o of objs) await api.c.request('DELETE', `/apis/baregate.io/v1beta1/${pluralOf(o.kind)}/${o.metadata.name}`);
      for (const o of objs) await waitFor(`${o.kind}/${o.metadata.name} deleted`, async () => (await api.c.request('GET', `/apis/baregate.io/v1beta1/${pluralOf(o.kind)}/${o.metadata.name}`)).status === 404);
    });
  }

  describe('--from-cluster', () => {
    const files = ['current.yaml', 'addresspools.yaml', 'legacy-configmap.yaml', 'services.yaml'];
    const input = files.flatMap(docs);

    before(async () => {
      const crds = readdirSync(METALLB_CRDS).filter((f) => f.endsWith('.yaml')).sort()
        .flatMap((f) => parseAllDocuments(readFileSync(join(METALLB_CRDS, f), 'utf8')).map((d) => d.toJS() as KObj))
        .filter((o) => o.kind === 'CustomResourceDefinition');
      assert.ok(crds.length >= 7, `MetalLB's CRDs are vendored (${crds.length})`);
      for (const crd of crds) await api.must('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
      await waitFor('MetalLB\'s CRDs served', async () => {
        const served = await Promise.all(Object.values(MetalLBKinds).flatMap((k) => k.versions.map(async (v) => {
          const r = await api.c.request<{ resources?: { name: string }[] }>('GET', `/apis/${METALLB_GROUP}/${v}`);
          return r.status === 200 && (r.body.resources ?? []).some((x) => x.name === k.plural);
        })));
        return served.every(Boolean);
      });
      for (const ns of [METALLB_NAMESPACE, 'shop', 'default']) await api.namespace(ns);
      for (const d of input) {
        const o = d.obj as KObj;
        if (o.apiVersion.startsWith(`${METALLB_GROUP}/`)) {
          const k = Object.values(MetalLBKinds).find((x) => x.kind === o.kind);
          assert.ok(k, o.kind);
          // a CRD just served may still answer 404 for a moment: retried until created
          await waitFor(`create ${o.kind} ${o.metadata.name}`, async () => {
            const r = await api.c.request('POST', `/apis/${o.apiVersion}/namespaces/${METALLB_NAMESPACE}/${k.plural}`, o);
            assert.ok(r.status === 201 || r.status === 404, `${o.kind} ${o.metadata.name}: ${JSON.stringify(r.body)}`);
            return r.status === 201;
          });
        } else if (o.kind === 'ConfigMap' || o.kind === 'Secret') {
          await api.must('POST', `/api/v1/namespaces/${o.metadata.namespace ?? 'default'}/${o.kind === 'Secret' ? 'secrets' : 'configmaps'}`, o);
        } else if (o.kind === 'Service') {
          const ns = o.metadata.namespace ?? 'default';
          const { status, ...svc } = o;
          await api.must('POST', `/api/v1/namespaces/${ns}/services`, svc);
          if (status !== undefined) await api.must('PATCH', `/api/v1/namespaces/${ns}/services/${o.metadata.name}/status`, { status }, 'application/merge-patch+json');
        }
      }
    });

    test('writes the same objects as the file-based conversion of the same objects, and reports the Services', async () => {
      const out = join(tmp, 'from-cluster.yaml');
      const reportFile = join(tmp, 'report.json');
      const script = join(tmp, 'rewrite.sh');
      const code = await runMigrateCommand([], {
        fromCluster: true, kubeconfig: kubeconfig(), output: out, report: reportFile, reportFormat: 'json', rewriteAnnotations: script, metallbNamespace: METALLB_NAMESPACE,
      });
      const report = JSON.parse(readFileSync(reportFile, 'utf8')) as MigrateReport;
      const fromFiles = migrate(input, { metallbNamespace: METALLB_NAMESPACE, sources: files });
      assert.equal(code, fromFiles.report.exitCode, 'the same exit code as the files give');
      assert.equal(code, 1, 'the samples hold fields with no equivalent and a Service whose address is in no pool');
      const got = objectsOf(readFileSync(out, 'utf8'));
      assert.deepEqual(got, objectsOf(fromFiles.yaml));
      assert.ok(got.length >= 12, `objects of every kind (${got.length})`);
      assert.ok(report.findings.some((f) => f.level === 'info' && /^ConfigMap metallb-system\/config/.test(f.subject) && /read only those/.test(f.message)), 'the ConfigMap beside the CRDs is a leftover');
      // the text too, once the header line naming the sources is set aside
      const body = (s: string): string => s.replace(/^# Sources: .*$/m, '');
      assert.equal(body(readFileSync(out, 'utf8')), body(fromFiles.yaml));
      assert.match(report.sources.join(' '), /cluster namespace metallb-system \(metallb\.io v1alpha1, v1beta1, v1beta2, legacy ConfigMap\) and 4 LoadBalancer Service\(s\)/);
      assert.deepEqual(report.services, fromFiles.report.services);
      assert.deepEqual(report.services.map((s) => s.service), ['default/classy', 'default/lost', 'shop/api', 'shop/web']);
      const web = report.services.find((s) => s.service === 'shop/web');
      assert.deepEqual(web?.annotations.map((a) => a.key), ['metallb.universe.tf/loadBalancerIPs', 'metallb.universe.tf/allow-shared-ip']);
      assert.ok(report.findings.some((f) => f.level === 'error' && f.subject === 'Service default/lost' && /203\.0\.113\.205 lies in no converted IPAddressPool/.test(f.message)));
      assert.ok(report.findings.some((f) => f.level === 'action' && /--lb-class metallb\.io\/metallb/.test(f.message)));
      const noHeader = (t: string): string => t.replace(/^# Moves .*$/m, '');
      assert.equal(noHeader(readFileSync(script, 'utf8')), noHeader(fromFiles.script));
      assert.match(fromFiles.script, /service web baregate\.io\/loadBalancerIPs=192\.0\.2\.10 /);
      const text = readFileSync(out, 'utf8') + readFileSync(reportFile, 'utf8');
      assert.ok(!text.includes('secret-from-secret') && !text.includes(Buffer.from('secret-from-secret').toString('base64')), 'the Secret in metallb-system is never read');
    });

    test('the command the report gives for a peer\'s Secret copies it to baregate-system, printing nothing of it', async () => {
      const fromFiles = migrate(input, { metallbNamespace: METALLB_NAMESPACE, sources: files });
      const copy = fromFiles.report.findings.find((f) => f.level === 'action' && f.command !== undefined && f.command.includes('tor1-password'));
      assert.ok(copy?.command, 'a copy command for tor1-password');
      const bin = await k8sBinDir();
      const printed = execFileSync('sh', ['-c', copy.command], {
        encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, KUBECONFIG: kubeconfig(), KUBECACHEDIR: join(dataDir(), 'kube-cache-migrate') },
      });
      assert.ok(!printed.includes('secret-from-secret'), `the command printed the password: ${printed}`);
      const s = await api.must<{ type: string; data: Record<string, string> }>('GET', '/api/v1/namespaces/baregate-system/secrets/tor1-password');
      assert.equal(s.type, 'kubernetes.io/basic-auth');
      assert.equal(Buffer.from(s.data.password ?? '', 'base64').toString('utf8'), 'secret-from-secret');
    });

    test('MetalLB\'s CRDs not installed is a finding, not an error (the legacy ConfigMap alone converts)', async () => {
      // MetalLB ≤ v0.12 had no CRDs: deleting them leaves the ConfigMap and the Services (this is the file's last test)
      for (const k of Object.values(MetalLBKinds)) await api.c.request('DELETE', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${k.plural}.${METALLB_GROUP}`);
      for (const k of ['configurationstates', 'servicebgpstatuses', 'servicel2statuses']) await api.c.request('DELETE', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${k}.${METALLB_GROUP}`);
      // the CRDs go once their objects are removed and discovery follows later: under CI load that took over 30 s
      await waitFor('metallb.io no longer served', async () => (await api.c.request('GET', `/apis/${METALLB_GROUP}`)).status === 404, 180_000);
      const out = join(tmp, 'legacy-only.yaml');
      const reportFile = join(tmp, 'legacy-only.json');
      const code = await runMigrateCommand([], { fromCluster: true, kubeconfig: kubeconfig(), output: out, report: reportFile, reportFormat: 'json', metallbNamespace: METALLB_NAMESPACE });
      const report = JSON.parse(readFileSync(reportFile, 'utf8')) as MigrateReport;
      assert.notEqual(code, 2, 'not an input error');
      assert.ok(report.findings.some((f) => f.level === 'info' && /MetalLB's CRDs are not installed/.test(f.message)));
      const fromFile = migrate([...docs('legacy-configmap.yaml'), ...docs('services.yaml')], { metallbNamespace: METALLB_NAMESPACE, sources: [] });
      assert.deepEqual(objectsOf(readFileSync(out, 'utf8')), objectsOf(fromFile.yaml));
    });
  });
});
