/**
 * Writes the generated files of deploy/ from the TypeScript source of truth (src/api): the CRDs
 * (deploy/crds/*.yaml), the install bundle (deploy/baregate.yaml) and its kustomization. With --check it
 * writes nothing and exits 1 when a checked-in file differs, which the unit tests and CI use.
 *
 * deploy/ holds hand-written things too (the Helm chart, dashboards): only deploy/crds/ is checked for
 * files the generator does not produce.
 */
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { renderBundle, renderKustomization } from '../src/api/bundle.ts';
import { renderCRDs } from '../src/api/render.ts';

const deploy = join(import.meta.dirname, '..', 'deploy');
const crdDir = join(deploy, 'crds');
const check = process.argv.includes('--check');

const want: Record<string, string> = {
  ...Object.fromEntries(Object.entries(renderCRDs()).map(([f, text]) => [join(crdDir, f), text])),
  [join(deploy, 'baregate.yaml')]: renderBundle(),
  [join(deploy, 'kustomization.yaml')]: renderKustomization(),
};
await mkdir(crdDir, { recursive: true });
let stale = 0;
for (const [path, text] of Object.entries(want)) {
  const have = await readFile(path, 'utf8').catch(() => '');
  if (have === text) continue;
  if (check) { console.error(`stale: ${path} differs from the generator (run npm run gen)`); stale++; }
  else { await writeFile(path, text); console.log(`wrote ${path}`); }
}
for (const f of await readdir(crdDir)) {
  if (!(join(crdDir, f) in want)) { console.error(`unexpected file ${join(crdDir, f)}: not produced by the generator`); stale++; }
}
process.exitCode = stale > 0 ? 1 : 0;
