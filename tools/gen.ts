/**
 * Writes deploy/crds/*.yaml from the TypeScript source of truth (src/api). With --check it writes
 * nothing and exits 1 when a checked-in file differs, which the unit tests and CI use.
 */
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { renderCRDs } from '../src/api/render.ts';

const dir = join(import.meta.dirname, '..', 'deploy', 'crds');
const check = process.argv.includes('--check');
const want = renderCRDs();
await mkdir(dir, { recursive: true });
let stale = 0;
for (const [file, text] of Object.entries(want)) {
  const path = join(dir, file);
  const have = await readFile(path, 'utf8').catch(() => '');
  if (have === text) continue;
  if (check) { console.error(`stale: ${path} differs from the generator (run npm run gen)`); stale++; }
  else { await writeFile(path, text); console.log(`wrote ${path}`); }
}
for (const f of await readdir(dir)) {
  if (!(f in want)) { console.error(`unexpected file ${join(dir, f)}: not produced by the generator`); stale++; }
}
process.exitCode = stale > 0 ? 1 : 0;
