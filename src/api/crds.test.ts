import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { renderCRDs } from './render.ts';

const dir = join(import.meta.dirname, '..', '..', 'deploy', 'crds');

test('deploy/crds matches the generator exactly (run `npm run gen` after changing src/api)', () => {
  const want = renderCRDs();
  const have = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
  assert.ok(have.length > 0, 'deploy/crds holds no CRD files');
  assert.deepEqual(have, Object.keys(want).sort());
  for (const f of have) assert.equal(readFileSync(join(dir, f), 'utf8'), want[f], `${f} is stale`);
});

test('every generated CRD is a structural apiextensions.k8s.io/v1 CRD with a status subresource', () => {
  for (const text of Object.values(renderCRDs())) {
    const crd = parse(text) as { apiVersion: string; kind: string; spec: { group: string; scope: string; versions: { storage: boolean; subresources?: { status?: object }; schema: { openAPIV3Schema: { type: string } } }[] } };
    assert.equal(crd.apiVersion, 'apiextensions.k8s.io/v1');
    assert.equal(crd.spec.group, 'baregate.io');
    assert.equal(crd.spec.scope, 'Cluster');
    assert.equal(crd.spec.versions.filter((v) => v.storage).length, 1);
    for (const v of crd.spec.versions) {
      assert.equal(v.schema.openAPIV3Schema.type, 'object');
      assert.ok(v.subresources?.status);
    }
  }
});
