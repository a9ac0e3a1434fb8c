import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { Kinds } from './keys.ts';
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

type Props = Record<string, { properties?: Props }>;
function specProps(plural: string, part = 'spec'): string[] {
  const text = renderCRDs()[`${plural}.baregate.io.yaml`];
  assert.ok(text, `no CRD for ${plural}`);
  const crd = parse(text) as { spec: { versions: { schema: { openAPIV3Schema: { properties: Props } } }[] } };
  return Object.keys(crd.spec.versions[0]?.schema.openAPIV3Schema.properties[part]?.properties ?? {}).sort();
}

test('every kind in keys.ts has a CRD named <plural>.baregate.io of that kind', () => {
  const kinds = Object.values(renderCRDs()).map((t) => (parse(t) as { spec: { names: { kind: string; plural: string } }; metadata: { name: string } }));
  for (const k of Object.values(Kinds)) {
    const crd = kinds.find((c) => c.spec.names.kind === k.kind);
    assert.ok(crd, `no CRD for ${k.kind}`);
    assert.equal(crd.metadata.name, `${k.plural}.baregate.io`);
  }
});

test('advertisement and peer fields are named as MetalLB names them (a MetalLB YAML converts by apiVersion alone)', () => {
  assert.deepEqual(specProps('l2advertisements'), ['interfaces', 'ipAddressPoolSelectors', 'ipAddressPools', 'nodeSelectors']);
  assert.deepEqual(specProps('bgpadvertisements'), ['aggregationLength', 'aggregationLengthV6', 'communities', 'ipAddressPoolSelectors', 'ipAddressPools', 'largeCommunities', 'localPref', 'nodeSelectors', 'peers']);
  assert.deepEqual(specProps('bgppeers'), ['bfdProfile', 'connectTime', 'dynamicASN', 'ebgpMultiHop', 'enableGracefulRestart', 'gracefulRestart', 'holdTime', 'keepaliveTime', 'myASN',
    'nodeSelectors', 'passive', 'password', 'passwordSecret', 'peerASN', 'peerAddress', 'peerPort', 'routerID', 'sourceAddress', 'vrf']);
  assert.deepEqual(specProps('speakerstatuses'), [], 'SpeakerStatus has no spec');
  assert.deepEqual(specProps('speakerstatuses', 'status'), ['announcements', 'conditions', 'members', 'node', 'sessions', 'summary']);
});
