/**
 * Announcement config against a real apiserver: the CRDs' CEL rules accept what MetalLB users write and
 * reject what the parser would reject, and the controller tells a Service whose pool no advertisement
 * covers (`NotAnnounced`) once, and stops once an L2Advertisement selects the pool.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiEventRecorder } from '../../src/k8s/events.ts';
import type { AddressController } from '../../src/lb/controller.ts';
import { leading, startReplica, type TestReplica } from '../harness/controller.ts';
import { Api, waitFor } from '../harness/kube.ts';

const api = new Api();
const base = '/apis/baregate.io/v1beta1';
const created: string[] = [];

/** Creates an object of ours; resolves with the HTTP status and the apiserver's message. */
async function create(plural: string, name: string, body: Record<string, unknown>): Promise<{ status: number; message: string }> {
  const kind = { l2advertisements: 'L2Advertisement', bgpadvertisements: 'BGPAdvertisement', bgppeers: 'BGPPeer', speakerstatuses: 'SpeakerStatus' }[plural] ?? '';
  const r = await api.c.request<{ message?: string }>('POST', `${base}/${plural}`, { apiVersion: 'baregate.io/v1beta1', kind, metadata: { name }, ...body });
  if (r.status === 201) created.push(`${base}/${plural}/${name}`);
  return { status: r.status, message: r.body.message ?? '' };
}

async function deleteCreated(): Promise<void> {
  for (const path of created.splice(0).reverse()) await api.c.request('DELETE', path);
}
after(async () => {
  await deleteCreated();
  api.c.destroy();
});

describe('CRD validation (CEL)', () => {
  // an advertisement left behind would cover every pool in the NotAnnounced tests
  after(deleteCreated);
  test('BGPPeer: MetalLB durations and whole seconds accepted; bad ones, both ASNs, both passwords rejected', async () => {
    const peer = (spec: Record<string, unknown>): Record<string, unknown> => ({ spec: { myASN: 64512, peerASN: 64513, peerAddress: '192.0.2.1', ...spec } });
    for (const [i, spec] of [{ holdTime: '1m30s', keepaliveTime: '30s', connectTime: '10s' }, { holdTime: 90 }, { holdTime: '0s' }, { passwordSecret: { name: 'r1-auth' } }, { dynamicASN: 'internal', peerASN: undefined }].entries()) {
      const r = await create('bgppeers', `ok-${i}`, peer(spec));
      assert.equal(r.status, 201, `${JSON.stringify(spec)}: ${r.message}`);
    }
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ holdTime: '2s' }, /0 or 3\.\.65535 seconds/],
      [{ holdTime: '90' }, /duration such as 90s/],
      [{ holdTime: 'soon' }, /duration such as 90s/],
      [{ dynamicASN: 'external' }, /exactly one of peerASN and dynamicASN/],
      [{ peerASN: undefined }, /exactly one of peerASN and dynamicASN/],
      [{ password: 'x', passwordSecret: { name: 's' } }, /password or passwordSecret, not both/],
      [{ passwordSecret: { name: 's', namespace: 'default' } }, /baregate-system/],
      [{ peerAddress: '192.0.2.300' }, /must be an IP address/],
      [{ sourceAddress: '2001:db8::1' }, /same IP family/],
      [{ routerID: '2001:db8::1' }, /non-zero IPv4/],
      [{ enableGracefulRestart: true, gracefulRestart: false }, /disagree/],
      [{ vrf: 'red' }, /VRFs are not supported/],
    ];
    for (const [i, [spec, msg]] of bad.entries()) {
      const r = await create('bgppeers', `bad-${i}`, peer(spec));
      assert.equal(r.status, 422, `${JSON.stringify(spec)} must be rejected`);
      assert.match(r.message, msg, JSON.stringify(spec));
    }
  });

  test('advertisements: communities, aggregation and selectors are checked', async () => {
    assert.equal((await create('bgpadvertisements', 'ok', { spec: { communities: ['no-export', '64512:100', 'large:64512:1:4294967295'], largeCommunities: ['4200000000:1:2'], aggregationLength: 24 } })).status, 201);
    assert.equal((await create('l2advertisements', 'ok', { spec: { ipAddressPools: ['x'], interfaces: ['eth0'], nodeSelectors: [{ matchLabels: { 'kubernetes.io/hostname': 'n1' } }] } })).status, 201);
    const bad: [string, Record<string, unknown>, RegExp][] = [
      ['bgpadvertisements', { communities: ['65536:1'] }, /ASN:value/],
      ['bgpadvertisements', { communities: ['large:1:2'] }, /ASN:value/],
      ['bgpadvertisements', { largeCommunities: ['1:2'] }, /global:local1:local2/],
      ['bgpadvertisements', { aggregationLength: 33 }, /aggregationLength/],
      ['l2advertisements', { ipAddressPoolSelectors: [{ matchExpressions: [{ key: 'k', operator: 'In' }] }] }, /In and NotIn need values/],
      ['l2advertisements', { interfaces: ['eth/0'] }, /interface name/],
    ];
    for (const [i, [plural, spec, msg]] of bad.entries()) {
      const r = await create(plural, `bad-${i}`, { spec });
      assert.equal(r.status, 422, `${JSON.stringify(spec)} must be rejected`);
      assert.match(r.message, msg);
    }
    const adv = await api.must<{ spec: { aggregationLength: number; aggregationLengthV6: number } }>('GET', `${base}/bgpadvertisements/ok`);
    assert.equal(adv.spec.aggregationLengthV6, 128, 'defaulted');
  });

  test('SpeakerStatus: status only, written through the status subresource', async () => {
    assert.equal((await create('speakerstatuses', 'node-1', {})).status, 201);
    const status = { node: 'node-1', announcements: [{ ip: '192.0.2.10', services: ['ns/a'], mode: 'L2', interfaces: ['eth0'] }], sessions: [{ peer: 'r1', address: '192.0.2.1', state: 'Established', establishedSince: '2026-01-01T00:00:00Z', prefixesSent: 1 }], members: [{ node: 'node-1', state: 'alive' }], summary: { announced: 1, sessionsEstablished: 1, sessions: 1, membersAlive: 1, members: 1 } };
    const r = await api.must<{ status?: typeof status }>('PATCH', `${base}/speakerstatuses/node-1/status`, { status }, 'application/merge-patch+json');
    assert.deepEqual(r.status, status);
    const bad = await api.c.request('PATCH', `${base}/speakerstatuses/node-1/status`, { status: { announcements: [{ ip: '192.0.2.10', services: [], mode: 'ARP' }] } }, 'application/merge-patch+json');
    assert.equal(bad.status, 422, 'mode is L2 or BGP');
  });
});

describe('NotAnnounced', () => {
  let replica: TestReplica;
  let ctl: AddressController;
  before(async () => {
    replica = startReplica('announce-1', 'announce-test');
    ctl = await leading(replica);
  });
  after(async () => { await replica.stop(); });

  /** Occurrences of NotAnnounced on a Service, summed over its Events (repeats are counted on one Event). */
  async function notAnnouncedCount(ns: string, name: string): Promise<number> {
    const r = await api.must<{ items: { reason: string; count?: number; involvedObject: { name: string } }[] }>('GET', `/api/v1/namespaces/${ns}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`);
    return r.items.filter((e) => e.involvedObject.name === name && e.reason === 'NotAnnounced').reduce((n, e) => n + (e.count ?? 1), 0);
  }

  /** Everything the controller decided so far has been posted as events. */
  async function settled(): Promise<void> {
    await ctl.idle();
    assert.ok(ctl.events instanceof ApiEventRecorder);
    await ctl.events.flushed();
  }

  test('a Service from a pool without advertisement is told once; an L2Advertisement for the pool stops further ones', async () => {
    const ns = 'announce';
    await api.namespace(ns);
    await api.pool('announce-lonely', { addresses: ['203.0.113.200-203.0.113.203'], serviceAllocation: { namespaces: [ns] } });
    created.push(`${base}/ipaddresspools/announce-lonely`);
    await api.service(ns, 'first');
    const [ip] = await api.waitIPs(ns, 'first');
    assert.match(await api.waitEvent(ns, 'first', 'NotAnnounced'), new RegExp(`${(ip ?? '').replace(/\./g, '\\.')} from pool "announce-lonely".*L2Advertisement or BGPAdvertisement`));
    const reconciles = ctl.reconciles;
    const writes = ctl.serviceWrites;

    assert.equal((await create('l2advertisements', 'announce-lonely', { spec: { ipAddressPools: ['announce-lonely'] } })).status, 201);
    await waitFor('the advertisement to be seen', () => Promise.resolve(ctl.announce?.l2Advertisements.get('announce-lonely')));
    await api.service(ns, 'second');
    await api.waitIPs(ns, 'second');
    await api.waitEvent(ns, 'second', 'IPAllocated');
    await settled();
    assert.deepEqual((await api.events(ns, 'second')).filter((e) => e.reason === 'NotAnnounced'), [], 'covered now: no warning');
    assert.equal(await notAnnouncedCount(ns, 'first'), 1, 'first was told once');
    assert.equal(ctl.reconciles, reconciles + 1, 'the advertisement reconciled no Service (only the new one was)');
    assert.equal(ctl.serviceWrites, writes + 2, 'and wrote nothing but the new Service\'s status and annotation');

    // the advertisement goes: both are told, once each
    await api.must('DELETE', `${base}/l2advertisements/announce-lonely`);
    assert.match(await api.waitEvent(ns, 'second', 'NotAnnounced'), /announce-lonely/);
    // the same message again: the recorder counts it on the existing Event (count 2), as client-go does
    await waitFor('first told again', async () => ((await notAnnouncedCount(ns, 'first')) === 2) || undefined);
    await settled();
    assert.equal(await notAnnouncedCount(ns, 'second'), 1);
    assert.equal(ctl.serviceWrites, writes + 2, 'deleting an advertisement writes no Service either');
  });
});
