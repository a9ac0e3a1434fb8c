import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chooseInterfaces, isVirtual, type InterfaceAddress, type NodeInterface } from './interfaces.ts';

let macCounter = 0;
/** An interface with addresses given as CIDRs (address/prefix, as os.networkInterfaces reports them). */
function iface(name: string, ...cidrs: string[]): NodeInterface {
  const addresses: InterfaceAddress[] = cidrs.map((cidr) => ({
    address: cidr.split('/')[0]!,
    cidr,
    family: cidr.includes(':') ? 'IPv6' : 'IPv4',
  }));
  macCounter++;
  return { name, mac: `00:00:5e:00:53:${macCounter.toString(16).padStart(2, '0')}`, addresses };
}

const eth0 = iface('eth0', '192.0.2.5/24', 'fe80::1/64');
const eth1 = iface('eth1', '198.51.100.5/24', '2001:db8:1::5/64', 'fe80::2/64');
const bond0 = iface('bond0', '203.0.113.5/25');
const node = [eth1, bond0, eth0];

describe('chooseInterfaces', () => {
  test('explicit list wins, even for virtual names and without a subnet match', () => {
    const all = [...node, iface('cni0', '192.0.2.129/25'), iface('lo', '192.0.2.200/32')];
    assert.deepEqual(chooseInterfaces('192.0.2.10', all, ['eth1']), ['eth1']);
    assert.deepEqual(chooseInterfaces('192.0.2.10', all, ['lo', 'cni0']), ['cni0', 'lo']);
    assert.deepEqual(chooseInterfaces('2001:db8:1::10', all, ['bond0', 'missing0']), ['bond0'], 'names not on this node are ignored');
    assert.deepEqual(chooseInterfaces('not-an-ip', all, ['eth0']), ['eth0']);
  });

  test('IPv4 subnet match', () => {
    assert.deepEqual(chooseInterfaces('192.0.2.10', node), ['eth0']);
    assert.deepEqual(chooseInterfaces('198.51.100.200', node), ['eth1']);
    assert.deepEqual(chooseInterfaces('203.0.113.127', node), ['bond0'], 'last address of the /25');
    assert.deepEqual(chooseInterfaces('203.0.113.128', node), [], 'just outside the /25');
  });

  test('IPv6 subnet match', () => {
    assert.deepEqual(chooseInterfaces('2001:db8:1::10', node), ['eth1']);
    assert.deepEqual(chooseInterfaces('2001:db8:1:0:ffff:ffff:ffff:ffff', node), ['eth1']);
    assert.deepEqual(chooseInterfaces('2001:DB8:1:0::10', node), ['eth1'], 'non-canonical text');
    assert.deepEqual(chooseInterfaces('2001:db8:2::10', node), []);
  });

  test('several matching interfaces come back in name order', () => {
    const two = [iface('eth2', '192.0.2.6/24'), iface('eth0', '192.0.2.5/24')];
    assert.deepEqual(chooseInterfaces('192.0.2.10', two), ['eth0', 'eth2']);
  });

  test('link-local addresses never match', () => {
    assert.deepEqual(chooseInterfaces('fe80::99', node), []);
    assert.deepEqual(chooseInterfaces('fe80::99', [iface('eth3', 'FE80::3/64')]), [], 'upper case');
    assert.deepEqual(chooseInterfaces('fe80::99', [iface('eth3', 'fe80:0:0:0::3/64')]), [], 'uncompressed');
  });

  test('families never cross', () => {
    assert.deepEqual(chooseInterfaces('192.0.2.10', [iface('eth5', '2001:db8::5/0')]), []);
    assert.deepEqual(chooseInterfaces('2001:db8::10', [iface('eth5', '192.0.2.5/0')]), []);
  });

  test('addresses without a cidr, and interfaces without a MAC, are skipped', () => {
    const noCidr: NodeInterface = { name: 'eth6', mac: '00:00:5e:00:53:66', addresses: [{ address: '192.0.2.5', cidr: null, family: 'IPv4' }] };
    const noMac: NodeInterface = { ...iface('wg0', '192.0.2.7/24'), mac: '00:00:00:00:00:00' };
    assert.deepEqual(chooseInterfaces('192.0.2.10', [noCidr, noMac]), []);
  });

  test('virtual interfaces are skipped unless listed', () => {
    const virtual = ['lo', 'veth123', 'cni0', 'docker0', 'kube-ipvs0', 'cali1a2b3c4d5e6', 'flannel.1', 'cilium_host', 'vxlan.calico', 'br-0123456789ab', 'tunl0'];
    const ifaces = virtual.map((n) => iface(n, '192.0.2.50/24', '2001:db8::50/64'));
    for (const n of virtual) assert.ok(isVirtual(n), n);
    assert.deepEqual(chooseInterfaces('192.0.2.10', ifaces), []);
    assert.deepEqual(chooseInterfaces('2001:db8::10', ifaces), []);
    assert.deepEqual(chooseInterfaces('192.0.2.10', [...ifaces, eth0]), ['eth0']);
    assert.deepEqual(chooseInterfaces('192.0.2.10', ifaces, ['veth123', 'flannel.1']), ['flannel.1', 'veth123']);
  });

  test('ordinary NIC names are not virtual', () => {
    for (const n of ['eth0', 'ens3', 'enp1s0', 'eno1', 'bond0', 'br0', 'eth0.100', 'wlan0']) assert.ok(!isVirtual(n), n);
  });

  test('no match gives []', () => {
    assert.deepEqual(chooseInterfaces('198.51.100.10', [eth0, bond0]), []);
    assert.deepEqual(chooseInterfaces('192.0.2.10', []), []);
    assert.deepEqual(chooseInterfaces('not-an-ip', node), []);
  });
});
