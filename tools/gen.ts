/**
 * Writes the generated files of deploy/ from the TypeScript source of truth (src/api): the CRDs
 * (deploy/crds/*.yaml), the install bundle (deploy/baregate.yaml), its kustomization and the Helm chart's crds/, and from
 * src/metrics the Grafana dashboard (deploy/dashboards/baregate.json). With --check it
 * writes nothing and exits 1 when a checked-in file differs, which the unit tests and CI use.
 *
 * deploy/ holds hand-written things too (the Helm chart): only deploy/crds/ is checked for
 * files the generator does not produce, and the chart's crds/.
 */
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { bundleObjects, renderBundle, renderKustomization } from '../src/api/bundle.ts';
import { allCRDs, renderCRDs } from '../src/api/render.ts';
import { renderDashboard } from '../src/metrics/dashboard.ts';

const deploy = join(import.meta.dirname, '..', 'deploy');
const crdDir = join(deploy, 'crds');
// Helm reads a chart's crds/ verbatim (no templating): it holds the bundle's CRDs (deploy/crds plus the bundle labels)
const chartCrdDir = join(deploy, 'helm', 'baregate', 'crds');
const chartCRDs: Record<string, string> = {};
const bundleCRDs = bundleObjects().filter((o) => o.kind === 'CustomResourceDefinition');
for (const [file, crd] of Object.entries(allCRDs())) {
  const name = (crd.metadata as { name: string }).name;
  const o = bundleCRDs.find((c) => (c.metadata as { name: string }).name === name);
  if (!o) throw new Error(`the bundle has no CRD ${name}`);
  chartCRDs[join(chartCrdDir, file)] = '# Generated from src/api (the CRDs of deploy/baregate.yaml, with its labels). Do not edit.\n'
    + stringify(o, { lineWidth: 0, aliasDuplicateObjects: false });
}
const check = process.argv.includes('--check');

const want: Record<string, string> = {
  ...Object.fromEntries(Object.entries(renderCRDs()).map(([f, text]) => [join(crdDir, f), text])),
  [join(deploy, 'baregate.yaml')]: renderBundle(),
  [join(deploy, 'kustomization.yaml')]: renderKustomization(),
  ...chartCRDs,
  [join(deploy, 'dashboards', 'baregate.json')]: renderDashboard(),
};
await mkdir(crdDir, { recursive: true });
if (!check) await mkdir(join(deploy, 'dashboards'), { recursive: true });
let stale = 0;
for (const [path, text] of Object.entries(want)) {
  const have = await readFile(path, 'utf8').catch(() => '');
  if (have === text) continue;
  if (check) { console.error(`stale: ${path} differs from the generator (run npm run gen)`); stale++; }
  else { await writeFile(path, text); console.log(`wrote ${path}`); }
}
for (const dir of [crdDir, chartCrdDir]) {
  for (const f of await readdir(dir)) {
    if (!(join(dir, f) in want)) { console.error(`unexpected file ${join(dir, f)}: not produced by the generator`); stale++; }
  }
}
process.exitCode = stale > 0 ? 1 : 0;
