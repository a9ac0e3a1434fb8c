/**
 * The hand-written X.509: Node's own parser reads what we write, signatures verify against the CA, the
 * extensions say what the apiserver needs, and a real TLS handshake over loopback is accepted by a client that
 * trusts only our CA, and refused for a name the certificate does not carry.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import {
  BACKDATE_MS, canonicalNames, certNames, createCA, createServingCert, der, derNamedBits, derOid, derTime, derUnsigned,
  keyMatches, parseCertificates, pemDecode, pemEncode, validity,
} from './x509.ts';

const DAY = 86_400_000;
const now = Date.now();

test('DER primitives: lengths, minimal integers, OIDs, named bits, both time forms', () => {
  assert.deepEqual(der(0x04, Buffer.alloc(3)), Buffer.from([0x04, 3, 0, 0, 0]));
  assert.deepEqual(der(0x04, Buffer.alloc(200)).subarray(0, 3), Buffer.from([0x04, 0x81, 200]));
  assert.deepEqual(der(0x04, Buffer.alloc(300)).subarray(0, 4), Buffer.from([0x04, 0x82, 0x01, 0x2c]));
  assert.deepEqual(derUnsigned(Buffer.from([0, 0, 0x7f])), Buffer.from([0x02, 1, 0x7f]));
  assert.deepEqual(derUnsigned(Buffer.from([0x80])), Buffer.from([0x02, 2, 0, 0x80]), 'a set top bit gets a 0x00: stays positive');
  assert.deepEqual(derUnsigned(Buffer.from([0, 0])), Buffer.from([0x02, 1, 0]));
  assert.deepEqual(derOid('1.2.840.10045.4.3.2'), Buffer.from('06082a8648ce3d040302', 'hex'));
  assert.deepEqual(derOid('2.5.29.19'), Buffer.from('0603551d13', 'hex'));
  assert.deepEqual(derNamedBits([5, 6]), Buffer.from([0x03, 2, 1, 0x06]), 'keyCertSign|cRLSign: one unused bit');
  assert.deepEqual(derNamedBits([0]), Buffer.from([0x03, 2, 7, 0x80]), 'digitalSignature: seven unused bits');
  assert.equal(derTime(Date.UTC(2026, 0, 2, 3, 4, 5)).subarray(2).toString(), '260102030405Z');
  assert.equal(derTime(Date.UTC(2051, 0, 2, 3, 4, 5)).subarray(2).toString(), '20510102030405Z');
  assert.equal(derTime(Date.UTC(2051, 0, 2))[0], 0x18, 'GeneralizedTime from 2050 on');
});

test('PEM round trip, several blocks, junk around them', () => {
  const a = Buffer.from('hello'), b = Buffer.alloc(100, 7);
  const text = `junk\n${pemEncode('CERTIFICATE', a)}between\n${pemEncode('CERTIFICATE', b)}${pemEncode('PRIVATE KEY', a)}`;
  assert.deepEqual(pemDecode(text, 'CERTIFICATE'), [a, b]);
  assert.ok(pemEncode('X', b).split('\n').every((l) => l.length <= 64));
  assert.deepEqual(parseCertificates('not a certificate'), []);
});

test('the CA: self-signed, CA:TRUE, validity from the given clock, key matches', () => {
  const ca = createCA({ commonName: 'baregate-webhook-ca', now, validityMs: 5 * 365 * DAY });
  const c = new X509Certificate(ca.certPem);
  assert.equal(c.ca, true);
  assert.ok(c.verify(c.publicKey), 'self-signed');
  assert.ok(c.checkIssued(c));
  assert.match(c.subject, /CN=baregate-webhook-ca/);
  assert.equal(c.subject, c.issuer);
  const v = validity(c);
  assert.equal(v.notBefore, Math.floor((now - BACKDATE_MS) / 1000) * 1000);
  assert.equal(v.notAfter, Math.floor((now + 5 * 365 * DAY) / 1000) * 1000);
  assert.ok(keyMatches(c, ca.keyPem));
  assert.ok(!keyMatches(c, createCA({ commonName: 'other', now, validityMs: DAY }).keyPem));
  assert.ok(!keyMatches(c, 'garbage'));
  assert.match(c.serialNumber, /^[0-9A-F]{32}$/, '128-bit serial');
});

test('a serving certificate: signed by the CA, CA:FALSE, serverAuth, the SANs, distinct serials', () => {
  const ca = createCA({ commonName: 'ca', now, validityMs: 10 * DAY });
  const s = createServingCert({ commonName: 'baregate-webhook', now, validityMs: DAY, dnsNames: ['baregate-webhook.baregate-system.svc', 'localhost'], ips: ['127.0.0.1', '2001:db8::1'] }, ca);
  const c = new X509Certificate(s.certPem);
  const caCert = new X509Certificate(ca.certPem);
  assert.ok(c.verify(caCert.publicKey));
  assert.ok(c.checkIssued(caCert));
  assert.ok(!c.checkIssued(new X509Certificate(createCA({ commonName: 'ca', now, validityMs: DAY }).certPem)), 'same CN, other key: not the issuer');
  assert.equal(c.ca, false);
  assert.deepEqual(c.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  assert.equal(c.subjectAltName, 'DNS:baregate-webhook.baregate-system.svc, DNS:localhost, IP Address:127.0.0.1, IP Address:2001:DB8:0:0:0:0:0:1');
  assert.deepEqual(certNames(c), { dnsNames: ['baregate-webhook.baregate-system.svc', 'localhost'], ips: ['127.0.0.1', '2001:db8::1'] });
  assert.deepEqual(canonicalNames(['LOCALHOST', '2001:DB8:0::1', 'baregate-webhook.baregate-system.svc', '127.0.0.1', 'localhost']), certNames(c));
  assert.ok(c.checkHost('localhost'));
  assert.equal(c.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(validity(c).notAfter, Math.floor((now + DAY) / 1000) * 1000);
  assert.ok(keyMatches(c, s.keyPem));
  const again = new X509Certificate(createServingCert({ commonName: 'x', now, validityMs: DAY, dnsNames: ['a'], ips: [] }, ca).certPem);
  assert.notEqual(again.serialNumber, c.serialNumber);
});

async function handshake(ca: string, serving: { certPem: string; keyPem: string }, servername: string): Promise<string> {
  const server = https.createServer({ cert: serving.certPem, key: serving.keyPem }, (_req, res) => { res.end('ok'); });
  server.on('error', () => undefined);
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => { server.listen(0, '127.0.0.1', r); });
  try {
    const port = (server.address() as AddressInfo).port;
    return await new Promise<string>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, servername, ca, path: '/', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => { resolve(body); });
      });
      req.on('error', reject);
      req.end();
    });
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

test('TLS over loopback: a client trusting only the CA accepts the right name and refuses a wrong one', async () => {
  const ca = createCA({ commonName: 'ca', now, validityMs: 10 * DAY });
  const serving = createServingCert({ commonName: 'svc', now, validityMs: DAY, dnsNames: ['localhost', 'baregate-webhook.baregate-system.svc'], ips: ['127.0.0.1'] }, ca);
  assert.equal(await handshake(ca.certPem, serving, 'baregate-webhook.baregate-system.svc'), 'ok');
  assert.equal(await handshake(ca.certPem, serving, 'localhost'), 'ok');
  await assert.rejects(handshake(ca.certPem, serving, 'other.example'), /ERR_TLS_CERT_ALTNAME_INVALID|does not match/);
  const stranger = createCA({ commonName: 'ca', now, validityMs: 10 * DAY });
  await assert.rejects(handshake(stranger.certPem, serving, 'localhost'), /signature|self.signed|unable to verify|UNABLE_TO_VERIFY|certificate/i);
});

test('an expired serving certificate is refused by the client', async () => {
  const ca = createCA({ commonName: 'ca', now: now - 10 * DAY, validityMs: 100 * DAY });
  const serving = createServingCert({ commonName: 'svc', now: now - 10 * DAY, validityMs: DAY, dnsNames: ['localhost'], ips: [] }, ca);
  await assert.rejects(handshake(ca.certPem, serving, 'localhost'), /expired/i);
});
