/**
 * Behaviour of the conversion, per kind and per format: golden inputs (test/fixtures/metallb/*.yaml) to the expected
 * baregate objects and report items; community aliases; name clashes; Secrets never printed; defaults filled in by
 * an apiserver; input order not mattering (randomised, seed printed).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments, stringify } from 'yaml';
import { parseDocuments, type SourceDoc } from './input.ts';
import { migrate, type Migration } from './migration.ts';
import { formatReportJSON, formatReportText, type Finding } from './report.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'metallb');
const NS = 'metallb-system';

function docsOf(text: string, source = 'input.yaml'): SourceDoc[] {
  const d = parseDocuments(text, source);
  assert.ok(!('error' in d), JSON.stringify(d));
  return d;
}
const fixture = (name: string): SourceDoc[] => docsOf(readFileSync(join(FIXTURES, name), 'utf8'), name);
const run = (docs: SourceDoc[]): Migration => migrate(docs, { metallbNamespace: NS, sources: ['test'] });
const yamlOf = (objs: unknown[]): string => objs.map((o) => `---\n${stringify(o)}`).join('');
/** The output objects, parsed back from the YAML the command writes. */
const written = (m: Migration): unknown[] => parseAllDocuments(m.yaml).map((d) => d.toJS() as unknown).filter((o) => o !== null);
const has = (m: Migration, level: Finding['level'], subject: RegExp, field?: string, message?: RegExp): Finding | undefined =>
  m.report.findings.find((f) => f.level === level && subject.test(f.subject) && (field === undefined || f.field === field) && (message === undefined || message.test(f.message)));
function must(m: Migration, level: Finding['level'], subject: RegExp, field?: string, message?: RegExp): Finding {
  const f = has(m, level, subject, field, message);
  assert.ok(f, `expected a ${level} finding for ${String(subject)} ${field ?? ''} ${message ? String(message) : ''}; got:\n${formatReportText(m.report)}`);
  return f;
}

const v1 = 'baregate.io/v1beta1';

test('current API (v1beta1 kinds, BGPPeer v1beta2): every field converts as expected or is reported', () => {
  const m = run(fixture('current.yaml'));
  assert.deepEqual(written(m), [
    { apiVersion: v1, kind: 'IPAddressPool', metadata: { name: 'internal' }, spec: { addresses: ['198.51.100.0/24'], autoAssign: false } },
    {
      apiVersion: v1, kind: 'IPAddressPool', metadata: { name: 'public', labels: { tier: 'public' }, annotations: { team: 'edge' } },
      spec: {
        addresses: ['192.0.2.0/25', '192.0.2.200-192.0.2.210', '2001:db8:1::/120'], avoidBuggyIPs: true,
        serviceAllocation: { namespaceSelectors: [{ matchLabels: { env: 'prod' } }], namespaces: ['web', 'shop'], priority: 10, serviceSelectors: [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['frontend'] }] }] },
      },
    },
    { apiVersion: v1, kind: 'L2Advertisement', metadata: { name: 'l2-internal' }, spec: { ipAddressPools: ['internal'] } },
    {
      apiVersion: v1, kind: 'L2Advertisement', metadata: { name: 'l2-public' },
      spec: { ipAddressPools: ['public'], ipAddressPoolSelectors: [{ matchLabels: { tier: 'public' } }], nodeSelectors: [{ matchLabels: { 'node-role.kubernetes.io/edge': '' } }], interfaces: ['eth0', 'bond0'] },
    },
    {
      apiVersion: v1, kind: 'BGPAdvertisement', metadata: { name: 'bgp-public' },
      spec: {
        localPref: 100, communities: ['65535:65282', 'large:64512:1:2', '64512:300'], ipAddressPools: ['public'],
        ipAddressPoolSelectors: [{ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }], nodeSelectors: [{ matchLabels: { bgp: 'true' } }], peers: ['tor1', 'tor2'],
      },
    },
    { apiVersion: v1, kind: 'BFDProfile', metadata: { name: 'fast' }, spec: { receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3, echoInterval: 50, echoMode: false, passiveMode: false, minimumTtl: 254 } },
    {
      apiVersion: v1, kind: 'BGPPeer', metadata: { name: 'tor1' },
      spec: {
        myASN: 64512, peerASN: 64501, peerAddress: '198.51.100.251', sourceAddress: '198.51.100.250', peerPort: 1179, holdTime: '90s', keepaliveTime: '30s', connectTime: '5s',
        routerID: '198.51.100.250', nodeSelectors: [{ matchLabels: { rack: 'r1' } }], passwordSecret: { name: 'tor1-password', namespace: 'baregate-system' }, bfdProfile: 'fast', enableGracefulRestart: true, ebgpMultiHop: true,
      },
    },
    { apiVersion: v1, kind: 'BGPPeer', metadata: { name: 'tor2' }, spec: { myASN: 64512, dynamicASN: 'external', peerAddress: '198.51.100.241', nodeSelectors: [{ matchLabels: { rack: 'r2' } }], password: 'hunter2-plain' } },
    { apiVersion: v1, kind: 'BGPPeer', metadata: { name: 'tor3-local-as' }, spec: { myASN: 64512, peerASN: 64502, peerAddress: '198.51.100.242', nodeSelectors: [{ matchLabels: { rack: 'r3' } }] } },
  ]);
  // no equivalent: dropped (or the object left out), each with its reason
  must(m, 'no-equivalent', /^L2Advertisement metallb-system\/l2-public/, 'spec.serviceSelectors', /announces every Service of its pools/);
  must(m, 'no-equivalent', /^L2Advertisement metallb-system\/l2-public/, 'spec.preferredNodeSelectors');
  must(m, 'no-equivalent', /^BGPAdvertisement metallb-system\/bgp-public/, 'spec.asPathPrepend');
  must(m, 'no-equivalent', /^BGPAdvertisement metallb-system\/bgp-public/, 'spec.serviceSelectors');
  // BFD: the profile converts (echo mode off, the echo interval copied without effect), the peer keeps its reference
  must(m, 'converted', /^BFDProfile metallb-system\/fast/, undefined, /→ BFDProfile\/fast/);
  must(m, 'info', /^BFDProfile metallb-system\/fast/, 'spec.echoInterval', /without effect/);
  assert.equal(m.report.findings.filter((f) => /^BFDProfile /.test(f.subject) && f.level !== 'converted' && f.level !== 'info').length, 0, 'nothing else to say about the profile');
  assert.equal(has(m, 'info', /^BGPPeer metallb-system\/tor1 /, 'spec.bfdProfile'), undefined, 'its profile is in the input');
  must(m, 'no-equivalent', /^BGPPeer metallb-system\/tor3-local-as/, 'spec.localASN');
  must(m, 'no-equivalent', /^BGPPeer metallb-system\/unnumbered/, 'spec.interface');
  must(m, 'no-equivalent', /^BGPPeer metallb-system\/in-vrf/, 'spec.vrf', /default VRF/);
  // changed meaning
  must(m, 'changed', /^BGPPeer metallb-system\/tor1 /, 'spec.passwordSecret.namespace', /metallb-system → baregate-system/);
  must(m, 'changed', /^L2Advertisement metallb-system\/l2-internal/, 'spec.interfaces', /subnet/);
  assert.equal(has(m, 'changed', /^L2Advertisement metallb-system\/l2-public/, 'spec.interfaces'), undefined, 'interfaces listed: nothing changes');
  must(m, 'changed', /^BGPPeer metallb-system\/tor2/, 'spec.dualStackAddressFamily');
  assert.equal(has(m, 'changed', /^BGPPeer metallb-system\/tor1 /, 'spec.dualStackAddressFamily'), undefined, 'dualStackAddressFamily: true is what baregate does');
  must(m, 'changed', /^BGPPeer metallb-system\/tor3-local-as/, 'spec.disableMP');
  // what to do
  const copy = must(m, 'action', /^BGPPeer metallb-system\/tor1 /, 'spec.passwordSecret');
  assert.equal(copy.command, 'kubectl get secret -n metallb-system tor1-password -o go-template=\'{{index .data "password" | base64decode}}\' | kubectl create secret generic tor1-password -n baregate-system --type=kubernetes.io/basic-auth --from-file=password=/dev/stdin');
  must(m, 'action', /^BGPPeer metallb-system\/tor2/, 'spec.password', /passwordSecret/);
  must(m, 'converted', /^BGPAdvertisement metallb-system\/bgp-public/, 'spec.communities', /alias "no-advertise-upstream" inlined as 65535:65282/);
  must(m, 'converted', /^BGPAdvertisement metallb-system\/bgp-public/, 'spec.communities', /alias "big" inlined as large:64512:1:2/);
  must(m, 'info', /^metadata.annotations$/, undefined, /1 bookkeeping annotation/);
  assert.equal(m.report.exitCode, 1);
  assert.ok(m.yaml.startsWith('# baregate.io objects converted'), 'a header comment');
  assert.match(m.yaml, /# Sources: test\./);
});

test('AddressPool (v1alpha1, v1beta1): an IPAddressPool and its advertisement, communities from Community objects', () => {
  const m = run(fixture('addresspools.yaml'));
  assert.deepEqual(written(m), [
    { apiVersion: v1, kind: 'IPAddressPool', metadata: { name: 'old-bgp' }, spec: { addresses: ['203.0.113.32/28'], autoAssign: false } },
    { apiVersion: v1, kind: 'IPAddressPool', metadata: { name: 'old-l2' }, spec: { addresses: ['203.0.113.16/28'] } },
    { apiVersion: v1, kind: 'L2Advertisement', metadata: { name: 'old-l2' }, spec: { ipAddressPools: ['old-l2'] } },
    { apiVersion: v1, kind: 'BGPAdvertisement', metadata: { name: 'old-bgp' }, spec: { localPref: 200, communities: ['64512:10', '64512:9'], ipAddressPools: ['old-bgp'] } },
  ]);
  must(m, 'info', /^AddressPool metallb-system\/old-l2/, undefined, /v1alpha1 AddressPool/);
  must(m, 'converted', /^AddressPool metallb-system\/old-bgp/, 'spec.communities', /alias "cm-a" inlined as 64512:10/);
  assert.equal(m.report.exitCode, 0, formatReportText(m.report));
});

test('legacy config ConfigMap: every key of the format converts or is reported; Go YAML typing (yes, 65535:65282)', () => {
  const m = run(fixture('legacy-configmap.yaml'));
  assert.deepEqual(written(m), [
    { apiVersion: v1, kind: 'IPAddressPool', metadata: { name: 'bgppool' }, spec: { addresses: ['198.51.100.0/24'], autoAssign: false, avoidBuggyIPs: true } },
    { apiVersion: v1, kind: 'IPAddressPool', metadata: { name: 'l2pool' }, spec: { addresses: ['192.0.2.0/26', '192.0.2.100-192.0.2.110'] } },
    { apiVersion: v1, kind: 'L2Advertisement', metadata: { name: 'l2pool' }, spec: { ipAddressPools: ['l2pool'] } },
    { apiVersion: v1, kind: 'BGPAdvertisement', metadata: { name: 'bgppool-1' }, spec: { localPref: 50, communities: ['65535:65282', '64512:1'], ipAddressPools: ['bgppool'] } },
    { apiVersion: v1, kind: 'BGPAdvertisement', metadata: { name: 'bgppool-2' }, spec: { aggregationLength: 24, aggregationLengthV6: 120, communities: ['large:64512:7:8'], ipAddressPools: ['bgppool'] } },
    { apiVersion: v1, kind: 'BFDProfile', metadata: { name: 'slow' }, spec: { receiveInterval: 500, transmitInterval: 500, detectMultiplier: 5, echoInterval: 60, echoMode: false, passiveMode: true, minimumTtl: 250 } },
    {
      apiVersion: v1, kind: 'BGPPeer', metadata: { name: 'peer-198-51-100-251' },
      spec: {
        myASN: 64512, peerASN: 64500, peerAddress: '198.51.100.251', sourceAddress: '198.51.100.250', peerPort: 1179, holdTime: '120s', keepaliveTime: '40s', routerID: '198.51.100.250',
        nodeSelectors: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'NotIn', values: ['node-9'] }], matchLabels: { rack: 'r1' } }],
        password: 'legacy-plain-pw', bfdProfile: 'slow', ebgpMultiHop: true,
      },
    },
    { apiVersion: v1, kind: 'BGPPeer', metadata: { name: 'peer-2001-db8-ffff-1' }, spec: { myASN: 64512, peerASN: 64512, peerAddress: '2001:db8:ffff::1' } },
  ]);
  must(m, 'converted', /^bfd-profile #1 of ConfigMap metallb-system\/config/, undefined, /→ BFDProfile\/slow/);
  assert.equal(has(m, 'info', /^peer #1 \(198\.51\.100\.251\)/, 'spec.bfdProfile'), undefined, 'its profile is in the input');
  must(m, 'action', /^peer #1 \(198\.51\.100\.251\)/, 'spec.password');
  assert.equal(m.report.findings.filter((f) => /not a key of MetalLB's legacy format/.test(f.message)).length, 0, 'the fixture uses only keys of the format');
  assert.equal(m.report.exitCode, 0, formatReportText(m.report));
});

const peerDoc = (name: string, address: string, profile?: string): string =>
  `apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: { name: ${name}, namespace: ${NS} }\nspec: { myASN: 64512, peerASN: 64513, peerAddress: ${address}, dualStackAddressFamily: true, connectTime: 5s${profile !== undefined ? `, bfdProfile: ${profile}` : ''} }\n`;
const profileDoc = (name: string, spec: string): string => `apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: { name: ${name}, namespace: ${NS} }\nspec: ${spec}\n`;
type Written = { kind: string; metadata: { name: string; namespace?: string }; spec: Record<string, unknown> };
const ofKind = (m: Migration, kind: string): Written[] => (written(m) as Written[]).filter((o) => o.kind === kind);

test('BFDProfile: cluster-scoped, same name and values; written before the peers, which keep their reference; no default filled in', () => {
  const m = run(docsOf([peerDoc('tor', '198.51.100.251', 'fast'), profileDoc('fast', '{ receiveInterval: 50, transmitInterval: 60, detectMultiplier: 4, passiveMode: true, minimumTtl: 250 }'), profileDoc('bare', '{}')].join('---\n')));
  assert.deepEqual(m.report.objects, ['BFDProfile/bare', 'BFDProfile/fast', 'BGPPeer/tor'], 'profiles before the peers that name them');
  assert.deepEqual(ofKind(m, 'BFDProfile'), [
    { apiVersion: v1, kind: 'BFDProfile', metadata: { name: 'bare' }, spec: {} },
    { apiVersion: v1, kind: 'BFDProfile', metadata: { name: 'fast' }, spec: { receiveInterval: 50, transmitInterval: 60, detectMultiplier: 4, passiveMode: true, minimumTtl: 250 } },
  ]);
  assert.equal(ofKind(m, 'BGPPeer')[0]?.spec.bfdProfile, 'fast');
  must(m, 'converted', /^BFDProfile metallb-system\/fast/, undefined, /→ BFDProfile\/fast/);
  assert.equal(m.report.findings.some((f) => /\(converted\)$/.test(f.subject)), false, `baregate accepts the objects:\n${formatReportText(m.report)}`);
  assert.equal(m.report.exitCode, 0, formatReportText(m.report));
});

test('BFDProfile: echo mode is dropped (changed meaning), the echo interval is copied without effect', () => {
  const m = run(docsOf([peerDoc('tor', '198.51.100.251', 'echo'), profileDoc('echo', '{ echoMode: true, echoInterval: 100, transmitInterval: 2000 }')].join('---\n')));
  assert.deepEqual(ofKind(m, 'BFDProfile'), [{ apiVersion: v1, kind: 'BFDProfile', metadata: { name: 'echo' }, spec: { transmitInterval: 2000, echoInterval: 100 } }]);
  must(m, 'changed', /^BFDProfile metallb-system\/echo/, 'spec.echoMode', /asynchronous mode only.*same time/);
  must(m, 'changed', /^BFDProfile metallb-system\/echo/, 'spec.echoInterval', /without effect/);
  assert.equal(m.report.exitCode, 0, `a change of meaning, not a loss:\n${formatReportText(m.report)}`);
  const off = run(docsOf(profileDoc('p', '{ echoMode: false, echoInterval: 100 }')));
  assert.deepEqual(ofKind(off, 'BFDProfile')[0]?.spec, { echoInterval: 100, echoMode: false });
  must(off, 'info', /^BFDProfile metallb-system\/p/, 'spec.echoInterval', /without effect/);
  assert.equal(has(off, 'changed', /^BFDProfile/), undefined, 'echo mode off: nothing changes meaning');
});

test('BFDProfile: a value outside baregate\'s ranges is an error and the profile is not written; its peers keep the name, noted', () => {
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config', namespace: NS }, data: { config: 'peers:\n- my-asn: 64512\n  peer-asn: 64513\n  peer-address: 198.51.100.251\n  bfd-profile: wild\nbfd-profiles:\n- name: wild\n  receive-interval: 5\n  detect-multiplier: 300\n  minimum-ttl: 254\n- name: fine\n  transmit-interval: 10\n  echo-mode: yes\n' } };
  const m = run([{ source: 'cm.yaml', index: 1, obj: cm }]);
  assert.deepEqual(m.report.objects, ['BFDProfile/fine', 'BGPPeer/peer-198-51-100-251']);
  must(m, 'error', /^bfd-profile #1 of ConfigMap/, 'spec.receiveInterval', /outside baregate's range \(an integer 10–60000/);
  must(m, 'error', /^bfd-profile #1 of ConfigMap/, 'spec.detectMultiplier', /2–255/);
  assert.equal(has(m, 'error', /^bfd-profile #1 of ConfigMap/, 'spec.minimumTtl'), undefined, 'in range');
  must(m, 'no-equivalent', /^bfd-profile #1 of ConfigMap/, undefined, /not converted/);
  assert.equal(ofKind(m, 'BGPPeer')[0]?.spec.bfdProfile, 'wild');
  must(m, 'info', /^peer #1 \(198\.51\.100\.251\)/, 'spec.bfdProfile', /"wild", which is not converted/);
  // the legacy keys read like the object's fields: echo-mode yes is echo mode on
  assert.deepEqual(ofKind(m, 'BFDProfile')[0]?.spec, { transmitInterval: 10 });
  must(m, 'changed', /^bfd-profile #2 of ConfigMap/, 'spec.echoMode', /dropped/);
  assert.equal(m.report.exitCode, 1);
});

test('BGPPeer.bfdProfile naming a profile that is not in the input: kept, with the note', () => {
  const m = run(docsOf(peerDoc('tor', '198.51.100.251', 'elsewhere')));
  assert.equal(ofKind(m, 'BGPPeer')[0]?.spec.bfdProfile, 'elsewhere');
  must(m, 'info', /^BGPPeer metallb-system\/tor/, 'spec.bfdProfile', /"elsewhere", which is not in the input: kept/);
  assert.equal(m.report.exitCode, 0, formatReportText(m.report));
});

test('BFDProfile name clash between two sources: the second is renamed and its peers follow; an identical one is written once', () => {
  const legacy = (profile: string, address: string): string => `peers:\n- my-asn: 64512\n  peer-asn: 64513\n  peer-address: ${address}\n  bfd-profile: fast\nbfd-profiles:\n- name: fast\n  ${profile}\n`;
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config', namespace: NS }, data: { config: legacy('receive-interval: 100', '198.51.100.251') } };
  const helm = (profile: string): unknown => ({ configInline: legacy(profile, '198.51.100.252') });
  const m = run([{ source: 'values.yaml', index: 1, obj: helm('receive-interval: 200') }, { source: 'cm.yaml', index: 1, obj: cm }]);
  assert.deepEqual(ofKind(m, 'BFDProfile').map((o) => [o.metadata.name, o.spec.receiveInterval]), [['fast', 100], ['fast-2', 200]], 'the ConfigMap sorts first and keeps the name');
  assert.deepEqual(Object.fromEntries(ofKind(m, 'BGPPeer').map((o) => [o.metadata.name, o.spec.bfdProfile])), { 'peer-198-51-100-251': 'fast', 'peer-198-51-100-252': 'fast-2' });
  must(m, 'changed', /^bfd-profile #1 of Helm values/, 'metadata.name', /renamed to fast-2/);
  const same = run([{ source: 'values.yaml', index: 1, obj: helm('receive-interval: 100') }, { source: 'cm.yaml', index: 1, obj: cm }]);
  assert.deepEqual(ofKind(same, 'BFDProfile').map((o) => o.metadata.name), ['fast']);
  must(same, 'info', /^bfd-profile #1 of Helm values/, undefined, /written once/);
  assert.deepEqual(ofKind(same, 'BGPPeer').map((o) => o.spec.bfdProfile), ['fast', 'fast']);
  // the same peer and profile in both: each written once (the peer's reference resolves to the same profile)
  const twice = run([{ source: 'values.yaml', index: 1, obj: { configInline: cm.data.config } }, { source: 'cm.yaml', index: 1, obj: cm }]);
  assert.deepEqual(twice.report.objects, ['BFDProfile/fast', 'BGPPeer/peer-198-51-100-251']);
  must(twice, 'info', /^peer #1 \(198\.51\.100\.251\) of Helm values/, undefined, /written once/);
  // the same peer naming profiles that differ: the peer is not merged, it follows its own profile's rename
  const differ = run([{ source: 'values.yaml', index: 1, obj: { configInline: cm.data.config.replace('receive-interval: 100', 'receive-interval: 200') } }, { source: 'cm.yaml', index: 1, obj: cm }]);
  assert.deepEqual(Object.fromEntries(ofKind(differ, 'BGPPeer').map((o) => [o.metadata.name, o.spec.bfdProfile])), { 'peer-198-51-100-251': 'fast', 'peer-198-51-100-251-2': 'fast-2' });
});

test('legacy format: unknown keys and values of the wrong type are reported, not guessed', () => {
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config', namespace: NS }, data: { config: 'address-pools:\n- name: p\n  protocol: layer2\n  addresses: [192.0.2.0/28]\n  auto-assign: maybe\n  colour: blue\npeers:\n- my-asn: lots\n  peer-asn: 1\n  peer-address: 198.51.100.251\n' } };
  const m = run([{ source: 'x', index: 1, obj: cm }]);
  must(m, 'no-equivalent', /ConfigMap metallb-system\/config/, 'address-pools[].colour', /refused unknown keys/);
  must(m, 'error', /address pool #1/, 'auto-assign', /"maybe" is not true or false/);
  must(m, 'error', /peer #1/, 'my-asn', /not a non-negative integer/);
  assert.deepEqual(m.report.objects, [], 'nothing half-read is written');
  assert.equal(m.report.exitCode, 1);
});

test('Helm values with configInline, as an object and as YAML text', () => {
  const obj = run(fixture('helm-values.yaml'));
  assert.deepEqual(obj.report.objects, ['IPAddressPool/default', 'L2Advertisement/default']);
  const text = run(docsOf('configInline: |\n  address-pools:\n  - name: default\n    protocol: layer2\n    addresses:\n    - 203.0.113.0/28\n'));
  assert.equal(text.yaml.replace(/^# Sources.*$/m, ''), obj.yaml.replace(/^# Sources.*$/m, ''));
  assert.equal(obj.report.exitCode, 0);
});

test('communities: an alias wins over a literal of the same text, an unknown alias is an error, duplicates are written once', () => {
  const m = run(docsOf(`
apiVersion: metallb.io/v1beta1
kind: Community
metadata: { name: c, namespace: ${NS} }
spec:
  communities:
    - { name: "64512:1", value: "64512:999" }
    - { name: edge, value: "large:1:2:3" }
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: { name: p, namespace: ${NS} }
spec: { addresses: [192.0.2.0/28] }
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: { name: a, namespace: ${NS} }
spec: { communities: ["64512:1", edge, nope, "64512:999"] }
`));
  const adv = written(m).find((o) => (o as { kind: string }).kind === 'BGPAdvertisement') as { spec: { communities: string[] } };
  assert.deepEqual(adv.spec.communities, ['64512:999', 'large:1:2:3']);
  must(m, 'error', /^BGPAdvertisement metallb-system\/a/, 'spec.communities', /"nope" is neither a community/);
  assert.equal(m.report.exitCode, 1);
});

test('name clash: the second object is renamed and references from its own source follow; an identical one is written once', () => {
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config', namespace: NS }, data: { config: 'address-pools:\n- name: p\n  protocol: layer2\n  addresses: [198.51.100.0/28]\n' } };
  const helm = { configInline: { 'address-pools': [{ name: 'p', protocol: 'bgp', addresses: ['192.0.2.0/28'] }, { name: 'q', protocol: 'layer2', addresses: ['192.0.2.16/28'] }] } };
  const m = run([{ source: 'values.yaml', index: 1, obj: helm }, { source: 'cm.yaml', index: 1, obj: cm }]);
  const objs = written(m) as { kind: string; metadata: { name: string }; spec: { addresses?: string[]; ipAddressPools?: string[] } }[];
  const pools = objs.filter((o) => o.kind === 'IPAddressPool').map((o) => [o.metadata.name, o.spec.addresses?.[0]]);
  // ConfigMap sorts before Helm values: the ConfigMap's pool keeps the name, whatever the input order
  assert.deepEqual(pools, [['p', '198.51.100.0/28'], ['p-2', '192.0.2.0/28'], ['q', '192.0.2.16/28']]);
  const refs = (k: string): Record<string, string[] | undefined> => Object.fromEntries(objs.filter((o) => o.kind === k).map((o) => [o.metadata.name, o.spec.ipAddressPools]));
  assert.deepEqual(refs('L2Advertisement'), { p: ['p'], q: ['q'] });
  assert.deepEqual(refs('BGPAdvertisement'), { p: ['p-2'] }, 'the Helm values\' advertisement follows its pool\'s rename');
  must(m, 'changed', /address pool "p" of Helm values/, 'metadata.name', /renamed to p-2/);

  const crdPool = { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'p', namespace: NS }, spec: { addresses: ['192.0.2.0/28'] } };
  const beside = run([{ source: 'cm.yaml', index: 1, obj: cm }, { source: 'crd.yaml', index: 1, obj: crdPool }]);
  assert.deepEqual(beside.report.objects, ['IPAddressPool/p'], 'beside metallb.io objects the legacy ConfigMap is a leftover');
  must(beside, 'info', /^ConfigMap metallb-system\/config/, undefined, /MetalLB v0\.13 and later read only those/);

  const crd = [crdPool];

  const same = run([{ source: 'a.yaml', index: 1, obj: crd[0] }, { source: 'b.yaml', index: 1, obj: crd[0] }]);
  assert.deepEqual(same.report.objects, ['IPAddressPool/p']);
  must(same, 'info', /IPAddressPool metallb-system\/p \(b\.yaml #1\)/, undefined, /written once/);
});

test('Secrets are never printed: not their data, not a password from a ConfigMap or object in the report', () => {
  const secretValue = 'secret-from-secret';
  const m = run([...fixture('current.yaml'), ...fixture('services.yaml')]);
  const legacy = run(fixture('legacy-configmap.yaml'));
  assert.ok(legacy.yaml.includes('password: legacy-plain-pw'));
  const report = [m, legacy].map((x) => formatReportText(x.report) + formatReportJSON(x.report)).join('');
  for (const needle of [secretValue, Buffer.from(secretValue).toString('base64'), 'hunter2-plain', 'legacy-plain-pw']) {
    assert.ok(!report.includes(needle), `the report shows ${needle}`);
  }
  assert.ok(!m.yaml.includes(secretValue) && !m.yaml.includes(Buffer.from(secretValue).toString('base64')), 'Secret data in the output');
  assert.ok(!m.script.includes(secretValue), 'Secret data in the script');
  // plaintext passwords given in plaintext stay in the converted object (baregate accepts them with a warning)
  assert.ok(m.yaml.includes('password: hunter2-plain'));
  must(m, 'info', /^Secret metallb-system\/tor1-password/, undefined, /not read/);
});

test('an apiserver\'s defaults (autoAssign, aggregationLength, peerPort, disableMP, …) convert like their absence', () => {
  const bare = [
    { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'p', namespace: NS }, spec: { addresses: ['192.0.2.0/28'] } },
    { apiVersion: 'metallb.io/v1beta1', kind: 'BGPAdvertisement', metadata: { name: 'a', namespace: NS }, spec: {} },
    { apiVersion: 'metallb.io/v1beta2', kind: 'BGPPeer', metadata: { name: 'r', namespace: NS }, spec: { myASN: 1, peerASN: 2, peerAddress: '198.51.100.251' } },
  ];
  const defaulted = [
    { ...bare[0], metadata: { ...bare[0]?.metadata, uid: 'u1', resourceVersion: '5', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } }, spec: { avoidBuggyIPs: false, autoAssign: true, addresses: ['192.0.2.0/28'] } },
    { ...bare[1], spec: { aggregationLengthV6: 128, aggregationLength: 32 } },
    { ...bare[2], spec: { peerPort: 179, disableMP: false, dualStackAddressFamily: false, peerAddress: '198.51.100.251', peerASN: 2, myASN: 1 } },
  ];
  const a = run(bare.map((obj, i) => ({ source: 'file', index: i + 1, obj })));
  const b = run(defaulted.map((obj, i) => ({ source: 'cluster', index: i + 1, obj })));
  assert.equal(a.yaml, b.yaml);
});

test('input order does not matter (randomised; the seed is printed)', () => {
  const seed = Number(process.env.MIGRATE_SEED ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`input order seed ${seed} (MIGRATE_SEED=${seed} repeats it)`);
  let s = seed;
  const rand = (): number => { s = (s * 1103515245 + 12345) % 2 ** 31; return s / 2 ** 31; };
  const docs = [...fixture('current.yaml'), ...fixture('addresspools.yaml'), ...fixture('services.yaml')];
  const want = run(docs);
  for (let round = 0; round < 5; round++) {
    const shuffled = [...docs];
    for (let i = shuffled.length - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); [shuffled[i], shuffled[j]] = [shuffled[j] as SourceDoc, shuffled[i] as SourceDoc]; }
    const got = run(shuffled);
    assert.equal(got.yaml, want.yaml, `seed ${seed} round ${round}`);
    assert.equal(got.script, want.script, `seed ${seed} round ${round}`);
    assert.deepEqual(got.report.services, want.report.services);
  }
});

test('objects outside MetalLB\'s namespace, status kinds and foreign documents are skipped and said so; unknown fields reported', () => {
  const m = run(docsOf(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: { name: elsewhere, namespace: other }
spec: { addresses: [192.0.2.0/28] }
---
apiVersion: metallb.io/v1beta1
kind: ServiceL2Status
metadata: { name: s, namespace: ${NS} }
status: { node: n1 }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: controller }
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: { name: p }
spec: { addresses: [192.0.2.16/28], colour: blue }
`));
  assert.deepEqual(m.report.objects, ['IPAddressPool/p'], 'an object without namespace is taken to be in MetalLB\'s');
  must(m, 'info', /^IPAddressPool other\/elsewhere/, undefined, /not in metallb-system/);
  must(m, 'info', /^ServiceL2Status/, undefined, /nothing to convert/);
  must(m, 'info', /^apps\/v1 Deployment$/, undefined, /not MetalLB's: skipped/);
  must(m, 'no-equivalent', /^IPAddressPool p/, 'spec.colour', /no such field/);
  must(m, 'info', /^IPAddressPool\/p \(converted\)$/, undefined, /announced by nobody/);
});

test('peers that disagree on myASN for the same nodes: no equivalent (one BGP speaker per node)', () => {
  const m = run(docsOf(`
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: { name: a, namespace: ${NS} }
spec: { myASN: 64512, peerASN: 1, peerAddress: 198.51.100.251 }
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: { name: b, namespace: ${NS} }
spec: { myASN: 64513, peerASN: 1, peerAddress: 198.51.100.252 }
`));
  must(m, 'no-equivalent', /^BGPPeers$/, 'spec.myASN', /64512 \(a\); 64513 \(b\)/);
});

test('what baregate itself refuses is an error: an advertisement naming a pool that is not converted', () => {
  const m = run(docsOf(`
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: { name: l2, namespace: ${NS} }
spec: { ipAddressPools: [missing] }
`));
  must(m, 'error', /^L2Advertisement\/l2 \(converted\)/, 'spec.ipAddressPools', /no IPAddressPool named "missing"/);
});

test('the switch scenario (pools, L2, BGP peer and advertisement, annotated Services) converts with exit code 0', () => {
  const objs = [
    { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'prod', namespace: NS }, spec: { addresses: ['203.0.113.0/28', '2001:db8:5::/124'] } },
    { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'reserved', namespace: NS }, spec: { addresses: ['203.0.113.64-203.0.113.79'], autoAssign: false } },
    { apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'l2', namespace: NS }, spec: { ipAddressPools: ['prod'] } },
    { apiVersion: 'metallb.io/v1beta2', kind: 'BGPPeer', metadata: { name: 'tor', namespace: NS }, spec: { myASN: 64512, peerASN: 64513, peerAddress: '198.51.100.1' } },
    { apiVersion: 'metallb.io/v1beta1', kind: 'BGPAdvertisement', metadata: { name: 'bgp', namespace: NS }, spec: { ipAddressPools: ['reserved'] } },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'apps', annotations: { 'metallb.universe.tf/address-pool': 'reserved' } }, spec: { type: 'LoadBalancer' }, status: { loadBalancer: { ingress: [{ ip: '203.0.113.66' }] } } },
  ];
  const m = run(objs.map((obj, i) => ({ source: 'x', index: i + 1, obj })));
  assert.equal(m.report.exitCode, 0, formatReportText(m.report));
  assert.equal(yamlOf(written(m)).includes('metallb-system'), false, 'no namespace in the output');
});

test('nothing of MetalLB\'s in the input: exit code 2', () => {
  const m = run(docsOf('apiVersion: v1\nkind: Service\nmetadata: { name: s }\nspec: { type: LoadBalancer }\n'));
  assert.equal(m.report.exitCode, 2);
  must(m, 'error', /^input$/, undefined, /nothing of MetalLB's found/);
});
