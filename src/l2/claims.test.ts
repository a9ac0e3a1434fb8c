import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { claimIn } from './claims.ts';
import {
  BROADCAST_MAC, arpProbe, buildArpFrame, buildNaFrame, buildNsFrame, gratuitousArp, icmp6Checksum, multicastMac, parseNaFrame, unsolicitedNa,
} from './frames.ts';
import { handleFrame, type ResponderContext } from './responder.ts';

const OUR_MAC = '00:00:5e:00:53:0a'; // RFC 7042 documentation MACs
const RIVAL_MAC = '00:00:5e:00:53:0b';
const CLIENT_MAC = '00:00:5e:00:53:01';
const ZERO_MAC = '00:00:00:00:00:00';
const V4 = '192.0.2.10';
const V6 = '2001:db8::10';

const rival: ResponderContext = { mac: RIVAL_MAC, owns: (ip) => ip === V4 || ip === V6 };

describe('claimIn: what counts as someone else claiming an address', () => {
  test("a rival's gratuitous ARP (request and reply) and unsolicited NA are claims for its MAC", () => {
    for (const f of gratuitousArp(V4, RIVAL_MAC)) assert.deepEqual(claimIn(f, OUR_MAC), { ip: V4, mac: RIVAL_MAC });
    assert.deepEqual(claimIn(unsolicitedNa(V6, RIVAL_MAC), OUR_MAC), { ip: V6, mac: RIVAL_MAC });
  });

  test("the holder's answers to our probes are claims: ARP reply (broadcast) and the DAD-defending NA", () => {
    const arpAnswer = handleFrame(arpProbe(V4, OUR_MAC), rival);
    assert.ok('reply' in arpAnswer);
    assert.deepEqual(claimIn(arpAnswer.reply, OUR_MAC), { ip: V4, mac: RIVAL_MAC });
    const naAnswer = handleFrame(buildNsFrame({ target: V6, mac: OUR_MAC, srcIp: '::' }), rival);
    assert.ok('reply' in naAnswer);
    assert.deepEqual(claimIn(naAnswer.reply, OUR_MAC), { ip: V6, mac: RIVAL_MAC });
  });

  test('a solicited NA (unicast) is a claim; the target link-layer option names the MAC', () => {
    const na = buildNaFrame({ target: V6, mac: RIVAL_MAC, dstMac: CLIENT_MAC, dstIp: '2001:db8::1', srcIp: V6, solicited: true });
    assert.deepEqual(claimIn(na, OUR_MAC), { ip: V6, mac: RIVAL_MAC });
  });

  test('an ordinary ARP request claims its sender IP (RFC 5227 2.4), not its target', () => {
    const req = buildArpFrame({ dst: BROADCAST_MAC, src: RIVAL_MAC }, { oper: 1, sha: RIVAL_MAC, spa: V4, tha: ZERO_MAC, tpa: '192.0.2.1' });
    assert.deepEqual(claimIn(req, OUR_MAC), { ip: V4, mac: RIVAL_MAC });
  });

  test('our own frames are never claims: announcements, probes, answers', () => {
    for (const f of gratuitousArp(V4, OUR_MAC)) assert.equal(claimIn(f, OUR_MAC), undefined);
    assert.equal(claimIn(unsolicitedNa(V6, OUR_MAC), OUR_MAC), undefined);
    assert.equal(claimIn(arpProbe(V4, OUR_MAC), OUR_MAC), undefined);
    assert.equal(claimIn(buildNsFrame({ target: V6, mac: OUR_MAC, srcIp: '::' }), OUR_MAC), undefined);
    assert.equal(claimIn(gratuitousArp(V4, OUR_MAC)[0]!, OUR_MAC.toUpperCase()), undefined, 'MAC case does not matter');
  });

  test('questions are not claims: a rival ARP probe (0.0.0.0), a DAD NS, an ordinary NS', () => {
    assert.equal(claimIn(arpProbe(V4, RIVAL_MAC), OUR_MAC), undefined);
    assert.equal(claimIn(buildNsFrame({ target: V6, mac: RIVAL_MAC, srcIp: '::' }), OUR_MAC), undefined);
    assert.equal(claimIn(buildNsFrame({ target: V6, mac: RIVAL_MAC, srcIp: '2001:db8::2' }), OUR_MAC), undefined);
    assert.equal(claimIn(buildNsFrame({ target: V6, mac: RIVAL_MAC, srcIp: V6 }), OUR_MAC), undefined);
  });

  test('invalid or odd frames claim nothing: other ARP operations, zero or group sender MAC, bad NA', () => {
    const rarp = buildArpFrame({ dst: BROADCAST_MAC, src: RIVAL_MAC }, { oper: 3, sha: RIVAL_MAC, spa: V4, tha: ZERO_MAC, tpa: V4 });
    assert.equal(claimIn(rarp, OUR_MAC), undefined);
    for (const sha of [ZERO_MAC, BROADCAST_MAC, '01:00:5e:00:00:01']) {
      assert.equal(claimIn(buildArpFrame({ dst: BROADCAST_MAC, src: RIVAL_MAC }, { oper: 2, sha, spa: V4, tha: ZERO_MAC, tpa: V4 }), OUR_MAC), undefined, sha);
    }
    // solicited flag on a multicast NA (RFC 4861 7.1.2)
    const badNa = buildNaFrame({ target: V6, mac: RIVAL_MAC, dstMac: multicastMac('ff02::1'), dstIp: 'ff02::1', srcIp: V6, solicited: true });
    assert.deepEqual(parseNaFrame(badNa), { drop: 'bad-na' });
    assert.equal(claimIn(badNa, OUR_MAC), undefined);
    const corrupt = Buffer.from(unsolicitedNa(V6, RIVAL_MAC));
    corrupt[60] = (corrupt[60] ?? 0) ^ 0xff; // inside the target address: checksum no longer matches
    assert.deepEqual(parseNaFrame(corrupt), { drop: 'bad-checksum' });
    assert.equal(claimIn(corrupt, OUR_MAC), undefined);
    assert.equal(claimIn(Buffer.alloc(5), OUR_MAC), undefined);
  });

  test('an NA without a target link-layer option is claimed for its Ethernet source', () => {
    const na = Buffer.from(unsolicitedNa(V6, RIVAL_MAC));
    // drop the 8-byte option: shorten the payload and recompute the checksum
    const cut = na.subarray(0, na.length - 8);
    cut.writeUInt16BE(24, 18);
    cut.writeUInt16BE(0, 56);
    cut.writeUInt16BE(icmp6Checksum(V6, 'ff02::1', cut.subarray(54)), 56);
    const p = parseNaFrame(cut);
    assert.ok(!('drop' in p), JSON.stringify(p));
    assert.equal(p.targetMac, undefined);
    assert.deepEqual(claimIn(cut, OUR_MAC), { ip: V6, mac: RIVAL_MAC });
  });

  test('fuzz: claimIn never throws, and a claim is never our MAC nor a group/zero MAC', () => {
    const seed = Date.now() ^ (process.pid << 8);
    process.stdout.write(`claims fuzz seed ${seed}\n`);
    const bases = [...gratuitousArp(V4, RIVAL_MAC), unsolicitedNa(V6, RIVAL_MAC), arpProbe(V4, RIVAL_MAC), unsolicitedNa(V6, OUR_MAC)];
    const frames = fc.oneof(
      fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.from(b)),
      fc.tuple(fc.constantFrom(...bases), fc.array(fc.tuple(fc.nat(85), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat(100))
        .map(([b, flips, cut]) => { const c = Buffer.from(b); for (const [i, v] of flips) if (i < c.length) c[i] = v; return c.subarray(0, Math.max(cut, 14)); }),
    );
    fc.assert(fc.property(frames, (f) => {
      const c = claimIn(f, OUR_MAC);
      if (!c) return;
      assert.notEqual(c.mac, OUR_MAC);
      assert.match(c.mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      assert.equal(parseInt(c.mac.slice(0, 2), 16) & 1, 0);
      assert.notEqual(c.mac, ZERO_MAC);
    }), { numRuns: 20_000, seed });
  });
});
