/**
 * Just enough X.509 to run an admission webhook without cert-manager: a DER writer, a self-signed ECDSA P-256
 * CA and serving certificates signed by it, PEM in and out. node:crypto signs and parses; it cannot build a
 * certificate, and an npm dependency for ~200 lines of ASN.1 would be a supply-chain risk in the component that
 * holds a CA key. Pure apart from randomness (serials) and the key generation in {@link newKeyPair}.
 *
 * What gets written (RFC 5280): v3, a random positive 128-bit serial, ecdsa-with-SHA256, a subject of one CN
 * (plus O), notBefore backdated a little against clock skew between the controller and the apiserver; the CA has
 * basicConstraints CA:TRUE (critical), keyUsage keyCertSign|cRLSign (critical) and a subject key identifier; a
 * serving certificate has CA:FALSE, keyUsage digitalSignature, extKeyUsage serverAuth, the DNS and IP names as
 * subjectAltName (Go's TLS, the apiserver's, ignores the CN) and the CA's key identifier as authority key id.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { parseIP } from '../net/ip.ts';

// ───────────── DER

/** DER tag bytes used here (universal, and the context-specific ones of the certificate structures). */
const Tag = {
  boolean: 0x01, integer: 0x02, bitString: 0x03, octetString: 0x04, oid: 0x06, utf8String: 0x0c,
  utcTime: 0x17, generalizedTime: 0x18, sequence: 0x30, set: 0x31,
  /** [0] EXPLICIT (version), [3] EXPLICIT (extensions). */
  explicit0: 0xa0, explicit3: 0xa3,
  /** GeneralName dNSName [2] and iPAddress [7], IMPLICIT primitives; AKI keyIdentifier [0] IMPLICIT. */
  dnsName: 0x82, ipAddress: 0x87, keyIdentifier: 0x80,
} as const;

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One TLV: tag, DER length, contents. */
export function der(tag: number, ...contents: readonly Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), lengthBytes(body.length), body]);
}

/** An INTEGER from unsigned big-endian bytes: minimal (leading zeros stripped), with a 0x00 when the top bit is set. */
export function derUnsigned(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const v = bytes.subarray(i);
  return der(Tag.integer, (v[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v.length === 0 ? Buffer.from([0]) : v);
}

/** An OBJECT IDENTIFIER from its dotted text. */
export function derOid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((a) => BigInt(a));
  const [a = 0n, b = 0n, ...rest] = arcs;
  const out: number[] = [];
  for (const arc of [a * 40n + b, ...rest]) {
    const groups: number[] = [];
    let v = arc;
    do { groups.unshift(Number(v & 0x7fn)); v >>= 7n; } while (v > 0n);
    for (let i = 0; i < groups.length; i++) out.push((groups[i] ?? 0) | (i < groups.length - 1 ? 0x80 : 0));
  }
  return der(Tag.oid, Buffer.from(out));
}

/** A BIT STRING of whole bytes (signatures, key material). */
const derBits = (bytes: Buffer): Buffer => der(Tag.bitString, Buffer.from([0]), bytes);

/**
 * A BIT STRING of named bits (bit 0 is the most significant bit of the first byte), in DER's minimal form:
 * trailing zero bits dropped, the unused-bit count in front.
 */
export function derNamedBits(bits: readonly number[]): Buffer {
  const top = Math.max(-1, ...bits);
  const bytes = Buffer.alloc(top < 0 ? 0 : Math.floor(top / 8) + 1);
  for (const b of bits) bytes[b >> 3] = (bytes[b >> 3] ?? 0) | (0x80 >> (b & 7));
  const unused = top < 0 ? 0 : 7 - (top & 7);
  return der(Tag.bitString, Buffer.from([unused]), bytes);
}

const two = (n: number): string => String(n).padStart(2, '0');

/** UTCTime for 1950–2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5), to the second, in UTC. */
export function derTime(ms: number): Buffer {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  const y = d.getUTCFullYear();
  const rest = `${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}Z`;
  return y >= 1950 && y < 2050 ? der(Tag.utcTime, Buffer.from(`${two(y % 100)}${rest}`, 'ascii')) : der(Tag.generalizedTime, Buffer.from(`${String(y).padStart(4, '0')}${rest}`, 'ascii'));
}

/** The contents of one TLV (after tag and length). */
export function derContents(tlv: Buffer): Buffer {
  const first = tlv[1] ?? 0;
  const header = first < 0x80 ? 2 : 2 + (first & 0x7f);
  return tlv.subarray(header);
}

/** Reads the TLVs directly inside a constructed DER value (one level); throws RangeError on truncated input. */
export function derChildren(value: Buffer): Buffer[] {
  if (value.length < 2) throw new RangeError('DER value too short');
  const headerLen = (buf: Buffer, at: number): { header: number; len: number } => {
    const first = buf[at + 1];
    if (first === undefined) throw new RangeError('DER length missing');
    if (first < 0x80) return { header: 2, len: first };
    const n = first & 0x7f;
    if (n === 0 || n > 4 || at + 2 + n > buf.length) throw new RangeError('bad DER length');
    let len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[at + 2 + i] ?? 0);
    return { header: 2 + n, len };
  };
  const outer = headerLen(value, 0);
  const end = outer.header + outer.len;
  if (end > value.length) throw new RangeError('DER value truncated');
  const out: Buffer[] = [];
  for (let at = outer.header; at < end;) {
    const h = headerLen(value, at);
    if (at + h.header + h.len > end) throw new RangeError('DER child truncated');
    out.push(value.subarray(at, at + h.header + h.len));
    at += h.header + h.len;
  }
  return out;
}

// ───────────── certificates

const Oid = {
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

/** keyUsage bit numbers (RFC 5280 §4.2.1.3). */
const KeyUsageBit = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

/** How far notBefore lies before "now": clocks of the controller and the apiserver's host may disagree a little. */
export const BACKDATE_MS = 60 * 60 * 1000;

const ORGANIZATION = 'baregate';

function name(cn: string): Buffer {
  const rdn = (oid: string, value: string): Buffer => der(Tag.set, der(Tag.sequence, derOid(oid), der(Tag.utf8String, Buffer.from(value, 'utf8'))));
  return der(Tag.sequence, rdn(Oid.organization, ORGANIZATION), rdn(Oid.commonName, cn));
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return der(Tag.sequence, derOid(oid), ...(critical ? [der(Tag.boolean, Buffer.from([0xff]))] : []), der(Tag.octetString, value));
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits (not of the whole SPKI). */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const bits = derChildren(spki)[1];
  if (!bits) throw new RangeError('SPKI without a public key');
  return createHash('sha1').update(derContents(bits).subarray(1)).digest(); // skip the unused-bits byte
}

/** A key pair and the certificate for it, as PEM. */
export interface CertKeyPem {
  readonly certPem: string;
  readonly keyPem: string;
}

/** The time window and subject of a certificate to issue. */
export interface CertSpec {
  /** Common name (informational for the apiserver; SANs are what it checks). */
  readonly commonName: string;
  /** Wall-clock ms when the certificate is made; notBefore is {@link BACKDATE_MS} earlier. */
  readonly now: number;
  /** Lifetime from `now`, ms. */
  readonly validityMs: number;
}

/** A fresh ECDSA P-256 key pair (what the apiserver, Go's TLS, and Node all accept, and fast to make). */
export function newKeyPair(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

function randomSerial(): Buffer {
  const b = randomBytes(16);
  b[0] = ((b[0] ?? 0) & 0x7f) | 0x40; // positive, and never shortened below 16 bytes by leading zeros
  return b;
}

function certificate(spec: CertSpec, issuer: Buffer, subjectPublicKey: KeyObject, signer: KeyObject, extensions: readonly Buffer[]): string {
  const alg = der(Tag.sequence, derOid(Oid.ecdsaWithSHA256));
  const tbs = der(Tag.sequence,
    der(Tag.explicit0, derUnsigned(Buffer.from([2]))),
    derUnsigned(randomSerial()),
    alg,
    issuer,
    der(Tag.sequence, derTime(spec.now - BACKDATE_MS), derTime(spec.now + spec.validityMs)),
    name(spec.commonName),
    subjectPublicKey.export({ type: 'spki', format: 'der' }),
    der(Tag.explicit3, der(Tag.sequence, ...extensions)));
  const signature = sign('sha256', tbs, signer);
  return pemEncode('CERTIFICATE', der(Tag.sequence, tbs, alg, derBits(signature)));
}

/** A self-signed CA certificate and its new key. */
export function createCA(spec: CertSpec): CertKeyPem {
  const { publicKey, privateKey } = newKeyPair();
  const certPem = certificate(spec, name(spec.commonName), publicKey, privateKey, [
    extension(Oid.basicConstraints, true, der(Tag.sequence, der(Tag.boolean, Buffer.from([0xff])))),
    extension(Oid.keyUsage, true, derNamedBits([KeyUsageBit.keyCertSign, KeyUsageBit.cRLSign])),
    extension(Oid.subjectKeyIdentifier, false, der(Tag.octetString, keyIdentifier(publicKey))),
  ]);
  return { certPem, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** DNS names and IP addresses a serving certificate is valid for. */
export interface ServingSpec extends CertSpec {
  readonly dnsNames: readonly string[];
  readonly ips: readonly string[];
}

/** Splits a mixed list of names into DNS names and IP addresses (IPs canonical). */
export function splitNames(names: readonly string[]): { dnsNames: string[]; ips: string[] } {
  const dnsNames: string[] = [];
  const ips: string[] = [];
  for (const n of names) {
    const bare = n.replace(/^\[(.*)\]$/, '$1');
    if (isIP(bare) !== 0) ips.push(bare); else if (n !== '') dnsNames.push(n.toLowerCase());
  }
  return { dnsNames, ips };
}

function ipBytes(ip: string): Buffer {
  const a = parseIP(ip);
  if (!a) throw new RangeError(`not an IP address: ${ip}`);
  const len = a.family === 'IPv4' ? 4 : 16;
  const out = Buffer.alloc(len);
  let v = a.value;
  for (let i = len - 1; i >= 0; i--) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return out;
}

/** A serving certificate for the given names, signed by the CA (certificate + key PEM). */
export function createServingCert(spec: ServingSpec, ca: CertKeyPem): CertKeyPem {
  const caCert = new X509Certificate(ca.certPem);
  const caKey = createPrivateKey(ca.keyPem);
  const { publicKey, privateKey } = newKeyPair();
  const sans = [
    ...spec.dnsNames.map((d) => der(Tag.dnsName, Buffer.from(d, 'ascii'))),
    ...spec.ips.map((ip) => der(Tag.ipAddress, ipBytes(ip))),
  ];
  const certPem = certificate(spec, subjectOf(caCert), publicKey, caKey, [
    extension(Oid.basicConstraints, true, der(Tag.sequence)),
    extension(Oid.keyUsage, true, derNamedBits([KeyUsageBit.digitalSignature])),
    extension(Oid.extKeyUsage, false, der(Tag.sequence, derOid(Oid.serverAuth))),
    extension(Oid.subjectAltName, false, der(Tag.sequence, ...sans)),
    extension(Oid.authorityKeyIdentifier, false, der(Tag.sequence, der(Tag.keyIdentifier, keyIdentifier(caCert.publicKey)))),
  ]);
  return { certPem, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** The subject Name of a certificate, as its DER bytes (the issuer of what it signs must be byte-identical). */
function subjectOf(cert: X509Certificate): Buffer {
  // Certificate ::= SEQUENCE { tbs, alg, sig }; tbs ::= SEQUENCE { [0] version, serial, alg, issuer, validity, subject, ... }
  const [tbs] = derChildren(cert.raw);
  const subject = tbs ? derChildren(tbs)[5] : undefined;
  if (!subject) throw new RangeError('certificate without a subject');
  return subject;
}

/** Whether the private key (PEM) belongs to the certificate. */
export function keyMatches(cert: X509Certificate, keyPem: string): boolean {
  try {
    return cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** The public key of a private key PEM (for matching a CA key to one of several CA certificates). */
export function publicKeyOf(keyPem: string): KeyObject {
  return createPublicKey(createPrivateKey(keyPem));
}

// ───────────── PEM

/** Base64 in 64-character lines between BEGIN/END markers. */
export function pemEncode(label: string, bytes: Buffer): string {
  const b64 = bytes.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** Every block of the label in a PEM text, decoded, in order; text around and between blocks is ignored. */
export function pemDecode(text: string, label: string): Buffer[] {
  const out: Buffer[] = [];
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]*?)-----END ${label}-----`, 'g');
  for (const m of text.matchAll(re)) out.push(Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64'));
  return out;
}

/** The certificates of a PEM bundle that parse (others are skipped). */
export function parseCertificates(text: string): X509Certificate[] {
  return pemDecode(text, 'CERTIFICATE').flatMap((b) => { try { return [new X509Certificate(b)]; } catch { return []; } });
}

/** Validity of a parsed certificate as wall-clock ms. */
export function validity(cert: X509Certificate): { notBefore: number; notAfter: number } {
  return { notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo) };
}

/** The DNS and IP names of a certificate's subjectAltName, each list sorted (IPs canonical). */
export function certNames(cert: X509Certificate): { dnsNames: string[]; ips: string[] } {
  const dnsNames: string[] = [];
  const ips: string[] = [];
  for (const part of (cert.subjectAltName ?? '').split(/,\s*/)) {
    if (part.startsWith('DNS:')) dnsNames.push(part.slice(4).toLowerCase());
    else if (part.startsWith('IP Address:')) ips.push(part.slice(11));
  }
  const canon = (ip: string): string => (parseIP(ip) ? ipCanon(ip) : ip);
  return { dnsNames: dnsNames.sort(), ips: ips.map(canon).sort() };
}

function ipCanon(ip: string): string {
  const bytes = ipBytes(ip);
  if (bytes.length === 4) return [...bytes].join('.');
  return new URL(`http://[${ip}]/`).hostname.replace(/^\[(.*)\]$/, '$1');
}

/** Canonical, sorted, deduplicated form of a mixed name list, comparable with {@link certNames}. */
export function canonicalNames(names: readonly string[]): { dnsNames: string[]; ips: string[] } {
  const s = splitNames(names);
  return { dnsNames: [...new Set(s.dnsNames)].sort(), ips: [...new Set(s.ips.map(ipCanon))].sort() };
}
