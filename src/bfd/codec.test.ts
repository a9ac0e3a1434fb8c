/** BFD control packets: golden bytes, every reception check of RFC 5880 §6.8.6 the codec owns, fuzzing. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { BfdState, CONTROL_LENGTH, Diag, decodeControl, diagText, encodeControl, type ControlPacket } from './codec.ts';

const base: ControlPacket = {
  diag: Diag.None, state: BfdState.Down, poll: false, final: false, cpi: false, demand: false, detectMult: 3,
  myDiscriminator: 0x01020304, yourDiscriminator: 0, desiredMinTxInterval: 1_000_000, requiredMinRxInterval: 300_000, requiredMinEchoRxInterval: 0,
};

describe('codec', () => {
  test('golden bytes of a Down packet and of an Up packet with P', () => {
    assert.equal(encodeControl(base).toString('hex'), [
      '20', // version 1 (001), diag 0
      '40', // state Down (01), no flags
      '03', // detect multiplier 3
      '18', // length 24
      '01020304', // my discriminator
      '00000000', // your discriminator
      '000f4240', // desired min TX 1 000 000 µs
      '000493e0', // required min RX 300 000 µs
      '00000000', // required min echo RX 0
    ].join(''));
    const up = encodeControl({ ...base, state: BfdState.Up, poll: true, diag: Diag.NeighborSignaledSessionDown, yourDiscriminator: 7, desiredMinTxInterval: 300_000 });
    assert.equal(up.subarray(0, 2).toString('hex'), '23e0'); // version 1 | diag 3; Up (11) | P (0x20)
    assert.equal(CONTROL_LENGTH, 24);
  });

  test('round trip of every flag, state and diagnostic', () => {
    for (const state of [0, 1, 2, 3] as const) {
      for (const [poll, final, cpi, demand] of [[true, false, false, false], [false, true, true, false], [false, false, false, true]] as const) {
        const p: ControlPacket = { ...base, state, poll, final, cpi, demand, diag: state + 4, yourDiscriminator: 9 };
        const r = decodeControl(encodeControl(p));
        assert.ok(r.ok);
        assert.deepEqual(r.packet, { ...p, auth: false });
      }
    }
    assert.equal(diagText(1), 'control detection time expired');
    assert.equal(diagText(31), 'diag 31');
  });

  test('reception checks: version, length, multiplier, M bit, discriminators; the A bit is reported', () => {
    const ok = encodeControl({ ...base, yourDiscriminator: 5, state: BfdState.Up });
    const mut = (f: (b: Buffer) => void, from = ok): Buffer => { const b = Buffer.from(from); f(b); return b; };
    const err = (b: Buffer): string => { const r = decodeControl(b); return r.ok ? 'ok' : r.error; };
    assert.equal(err(ok), 'ok');
    assert.equal(err(ok.subarray(0, 23)), 'short');
    assert.equal(err(mut((b) => { b[0] = 0x40; })), 'bad-version');
    assert.equal(err(mut((b) => { b[3] = 23; })), 'bad-length');
    assert.equal(err(mut((b) => { b[3] = 25; })), 'bad-length', 'length beyond the payload');
    assert.equal(err(mut((b) => { b[2] = 0; })), 'zero-multiplier');
    assert.equal(err(mut((b) => { b[1] = (b[1] ?? 0) | 0x01; })), 'multipoint');
    assert.equal(err(mut((b) => { b.writeUInt32BE(0, 4); })), 'zero-my-discriminator');
    assert.equal(err(mut((b) => { b.writeUInt32BE(0, 8); })), 'zero-your-discriminator', 'Up with your discriminator 0');
    assert.equal(err(encodeControl({ ...base, state: BfdState.AdminDown })), 'ok', 'AdminDown may carry 0');
    assert.equal(err(mut((b) => { b[1] = (b[1] ?? 0) | 0x04; })), 'bad-length', 'the A bit needs at least 26 bytes');
    const withAuth = Buffer.concat([mut((b) => { b[1] = (b[1] ?? 0) | 0x04; b[3] = 28; }), Buffer.from([1, 4, 0, 0])]);
    const r = decodeControl(withAuth);
    assert.ok(r.ok);
    assert.equal(r.packet.auth, true);
  });

  test('fuzz: decoding never throws; what decodes re-encodes to the same 24 bytes (bar the A bit and extra bytes)', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 64 }), (bytes) => {
      const b = Buffer.from(bytes);
      const r = decodeControl(b);
      if (!r.ok || r.packet.auth) return;
      const again = encodeControl(r.packet);
      assert.deepEqual(again.subarray(4), b.subarray(4, 24));
      assert.equal(again[0], b[0]);
      assert.equal(again[1], (b[1] ?? 0) & ~0x04);
    }), { numRuns: 10_000 });
    fc.assert(fc.property(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 255 }), (i, v) => {
      const b = encodeControl({ ...base, yourDiscriminator: 3, state: BfdState.Init });
      b[i] = v;
      decodeControl(b);
    }), { numRuns: 5000 });
  });
});
