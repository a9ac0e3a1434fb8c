import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BpfInstruction } from '../native/index.ts';
import { ARP_FILTER, NEIGHBOR_DISCOVERY_FILTER } from './filters.ts';
import { arpProbe, buildArpFrame, buildNsFrame, gratuitousArp, unsolicitedNa } from './frames.ts';

const MAC = '00:00:5e:00:53:0a';

/**
 * A classic BPF interpreter for the instructions the filters use (ld h/b abs, jeq k, ret k), written from the
 * kernel's semantics: a load past the end of the packet drops it; jumps are relative to the next instruction.
 */
function run(prog: readonly BpfInstruction[], pkt: Buffer): number {
  let a = 0;
  for (let pc = 0; pc < prog.length;) {
    const [code, jt, jf, k] = prog[pc]!;
    switch (code) {
      case 0x28: if (k + 2 > pkt.length) return 0; a = pkt.readUInt16BE(k); pc++; break;
      case 0x30: if (k + 1 > pkt.length) return 0; a = pkt[k]!; pc++; break;
      case 0x15: pc += 1 + (a === k ? jt : jf); break;
      case 0x06: return k;
      default: throw new Error(`instruction ${code} not modelled`);
    }
  }
  throw new Error('fell off the end of the program');
}

/** An IPv6 frame with an ICMPv6 message of `type` (or another next header). */
function icmp6(type: number, nextHeader = 58): Buffer {
  const b = Buffer.alloc(14 + 40 + 8);
  b.writeUInt16BE(0x86dd, 12);
  b[14] = 0x60;
  b[20] = nextHeader;
  b[54] = type;
  return b;
}

describe('BPF filters', () => {
  test('ARP: every operation passes (requests, replies, probes), nothing else', () => {
    const reply = buildArpFrame({ dst: MAC, src: MAC }, { oper: 2, sha: MAC, spa: '192.0.2.1', tha: MAC, tpa: '192.0.2.2' });
    for (const f of [...gratuitousArp('192.0.2.10', MAC), arpProbe('192.0.2.10', MAC), reply]) assert.ok(run(ARP_FILTER, f) > 0);
    assert.equal(run(ARP_FILTER, unsolicitedNa('2001:db8::1', MAC)), 0);
    assert.equal(run(ARP_FILTER, Buffer.alloc(10)), 0, 'too short');
  });

  test('ND: solicitations and advertisements pass; other ICMPv6, other protocols and ARP do not', () => {
    assert.ok(run(NEIGHBOR_DISCOVERY_FILTER, buildNsFrame({ target: '2001:db8::1', mac: MAC, srcIp: '::' })) > 0);
    assert.ok(run(NEIGHBOR_DISCOVERY_FILTER, buildNsFrame({ target: '2001:db8::1', mac: MAC, srcIp: '2001:db8::2' })) > 0);
    assert.ok(run(NEIGHBOR_DISCOVERY_FILTER, unsolicitedNa('2001:db8::1', MAC)) > 0);
    for (const t of [128, 129, 133, 134, 137, 143]) assert.equal(run(NEIGHBOR_DISCOVERY_FILTER, icmp6(t)), 0, `ICMPv6 type ${t}`);
    assert.equal(run(NEIGHBOR_DISCOVERY_FILTER, icmp6(135, 6)), 0, 'TCP whose byte 54 happens to be 135');
    assert.equal(run(NEIGHBOR_DISCOVERY_FILTER, icmp6(136, 0)), 0, 'hop-by-hop header first');
    assert.equal(run(NEIGHBOR_DISCOVERY_FILTER, gratuitousArp('192.0.2.10', MAC)[0]!), 0);
  });

  test('frames are accepted whole', () => {
    assert.equal(run(ARP_FILTER, arpProbe('192.0.2.10', MAC)), 0x40000);
    assert.equal(run(NEIGHBOR_DISCOVERY_FILTER, unsolicitedNa('2001:db8::1', MAC)), 0x40000);
  });
});
