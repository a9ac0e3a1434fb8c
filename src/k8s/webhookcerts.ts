/**
 * The webhook's TLS, managed by the controller itself: a CA and a serving certificate in the Secret
 * WEBHOOK_CERT_SECRET, the CA bundle patched into both webhook configurations, and every replica serving the
 * Secret's current certificate, so no cert-manager is needed and a rotation needs no restart.
 *
 * Split as everywhere: {@link certPlan} is a pure decision on the Secret's contents and the time (keep, renew the
 * serving certificate, rotate the CA, drop an old CA), {@link applyCertPlan} makes the new contents, and
 * {@link CertManager} is the loop around them (read, decide, write, patch, serve).
 *
 * A rotation never breaks the webhook, because trust always moves ahead of use:
 *  1. rotate-ca: a new CA joins the bundle (ca.crt holds new and old); the serving certificate stays the one the old
 *     CA signed; the leader patches the bundle into the configurations right away.
 *  2. renew-serving: only once the new CA has been trusted for `propagationMs` (the apiserver reloads webhook
 *     configurations within about a second), the serving certificate is reissued by the new CA.
 *  3. drop-old-ca: once the serving certificate signed by the new CA has been out for `propagationMs` (every
 *     replica re-reads the Secret every `pollMs`, which must be well below it), the old CA leaves the bundle.
 * A CA is rotated when less than a third of its life is left (5-year CA: after ~3 years 4 months), the serving
 * certificate renewed when less than a third of its life is left (1 year: after 8 months) or its names changed.
 *
 * Mode `external` (cert-manager writes the Secret and injects the CA bundle): read and serve, never write.
 */
import { X509Certificate } from 'node:crypto';
import { APP_NAME, MUTATING_WEBHOOK, VALIDATING_WEBHOOK, WEBHOOK_CA_KEY, WEBHOOK_CERT_SECRET } from '../api/keys.ts';
import type { Clock, Timer } from '../clock.ts';
import type { Logger } from '../log.ts';
import { statusMessage, type ApiResponse } from './client.ts';
import type { Requester } from './ports.ts';
import {
  BACKDATE_MS, canonicalNames, certNames, createCA, createServingCert, keyMatches, parseCertificates, splitNames, validity, type CertKeyPem,
} from './x509.ts';

const YEAR = 365 * 24 * 3600 * 1000;

/** Lifetimes and the trust propagation delay. */
export interface CertTiming {
  readonly caValidityMs: number;
  readonly servingValidityMs: number;
  /** How long a new CA is trusted before it signs the served certificate, and a new certificate served before the old CA goes. */
  readonly propagationMs: number;
}

/** 5-year CA, 1-year serving certificate, 2 minutes for the apiserver and every replica to see a change. */
export const DEFAULT_CERT_TIMING: CertTiming = { caValidityMs: 5 * YEAR, servingValidityMs: YEAR, propagationMs: 2 * 60_000 };

/** The Secret's contents as PEM texts (what its data keys hold, decoded). */
export interface CertMaterial {
  /** ca.crt: the trust bundle, the current CA first, older CAs still trusted after it. */
  readonly caBundle: string;
  /** ca.key: the current CA's key. */
  readonly caKey: string;
  /** tls.crt */
  readonly cert: string;
  /** tls.key */
  readonly key: string;
}

/** What to do with the Secret now; `why` is for the log. */
export type CertPlan =
  | { readonly action: 'keep'; readonly why: string; /** wall ms of the next time-driven step (0: none known) */ readonly recheckAt: number }
  | { readonly action: 'rotate-ca'; readonly why: string; /** the serving certificate is unusable anyway: reissue it from the new CA now */ readonly reissueServing: boolean }
  | { readonly action: 'renew-serving'; readonly why: string }
  | { readonly action: 'drop-old-ca'; readonly why: string };

interface Parsed {
  readonly current: X509Certificate | undefined;
  readonly olds: readonly X509Certificate[];
  readonly serving: X509Certificate | undefined;
  readonly servingKeyOk: boolean;
}

function parse(m: CertMaterial | undefined): Parsed {
  const cas = parseCertificates(m?.caBundle ?? '');
  const current = m ? cas.find((c) => c.ca && keyMatches(c, m.caKey)) : undefined;
  const serving = parseCertificates(m?.cert ?? '')[0];
  return { current, olds: cas.filter((c) => c !== current), serving, servingKeyOk: serving !== undefined && m !== undefined && keyMatches(serving, m.key) };
}

const iso = (ms: number): string => new Date(ms).toISOString();
/** When a certificate was made (notBefore is backdated by {@link BACKDATE_MS}). */
const issuedAt = (c: X509Certificate): number => validity(c).notBefore + BACKDATE_MS;
const thirdLeft = (c: X509Certificate): number => { const v = validity(c); return v.notAfter - (v.notAfter - issuedAt(c)) / 3; };
const signedBy = (c: X509Certificate, ca: X509Certificate): boolean => c.checkIssued(ca) && c.verify(ca.publicKey);
const sameNames = (c: X509Certificate, names: readonly string[]): boolean => JSON.stringify(certNames(c)) === JSON.stringify(canonicalNames(names));

/**
 * The next step for the Secret's contents at wall time `now`, for a serving certificate valid for `names`.
 * Apply it with {@link applyCertPlan} and plan again until `keep`: the steps that must wait for trust to
 * propagate answer `keep` (with `recheckAt`) until their time has come.
 */
export function certPlan(material: CertMaterial | undefined, now: number, names: readonly string[], timing: CertTiming = DEFAULT_CERT_TIMING): CertPlan {
  const { current, olds, serving, servingKeyOk } = parse(material);
  if (!current) return { action: 'rotate-ca', why: material ? 'no usable CA: ca.key matches no CA in ca.crt' : 'no certificate Secret yet', reissueServing: true };
  const ca = validity(current);
  const servingBroken = !serving ? 'no serving certificate'
    : !servingKeyOk ? 'tls.key does not belong to tls.crt'
    : now >= validity(serving).notAfter ? `serving certificate expired at ${iso(validity(serving).notAfter)}`
    : !olds.concat(current).some((c) => signedBy(serving, c)) ? 'serving certificate signed by no CA in the bundle'
    : !sameNames(serving, names) ? `serving certificate names changed (has ${serving.subjectAltName ?? 'none'}, wants ${names.join(', ')})`
    : undefined;
  // an expired CA is trusted by nobody: start over. A CA that is merely due still signs a broken serving
  // certificate's replacement first, so the apiserver never sees a certificate from a CA it does not trust yet
  if (now >= ca.notAfter) return { action: 'rotate-ca', why: `CA expired at ${iso(ca.notAfter)}`, reissueServing: true };
  if (servingBroken !== undefined || !serving) return { action: 'renew-serving', why: servingBroken ?? 'no serving certificate' };
  if (now >= thirdLeft(current)) return { action: 'rotate-ca', why: `CA expires at ${iso(ca.notAfter)}: less than a third of its life left`, reissueServing: false };
  const waits: number[] = [thirdLeft(current), thirdLeft(serving)];
  if (!signedBy(serving, current)) {
    const trustedSince = issuedAt(current);
    if (now >= trustedSince + timing.propagationMs) return { action: 'renew-serving', why: `serving certificate is signed by the previous CA; the new one is trusted since ${iso(trustedSince)}` };
    waits.push(trustedSince + timing.propagationMs);
  } else if (now >= thirdLeft(serving)) {
    return { action: 'renew-serving', why: `serving certificate expires at ${iso(validity(serving).notAfter)}: less than a third of its life left` };
  }
  if (olds.length > 0) {
    const servedSince = signedBy(serving, current) ? issuedAt(serving) : Number.POSITIVE_INFINITY;
    if (olds.some((o) => now >= validity(o).notAfter) || now >= servedSince + timing.propagationMs) return { action: 'drop-old-ca', why: 'the old CA signs nothing served any more' };
    if (Number.isFinite(servedSince)) waits.push(servedSince + timing.propagationMs);
  }
  return { action: 'keep', why: 'certificates valid', recheckAt: Math.min(...waits) };
}

/** The Secret's contents after a step of {@link certPlan} (new keys and certificates where the step makes them). */
export function applyCertPlan(material: CertMaterial | undefined, plan: CertPlan, now: number, names: readonly string[], commonName: string, timing: CertTiming = DEFAULT_CERT_TIMING): CertMaterial | undefined {
  const { current, olds, serving } = parse(material);
  const { dnsNames, ips } = splitNames(names);
  const issue = (ca: CertKeyPem): CertKeyPem => createServingCert({ commonName, now, validityMs: timing.servingValidityMs, dnsNames, ips }, ca);
  switch (plan.action) {
    case 'keep': return material;
    case 'rotate-ca': {
      const ca = createCA({ commonName: `${commonName}-ca`, now, validityMs: timing.caValidityMs });
      // still-valid older CAs stay trusted: the served certificate may be signed by one of them
      const keep = [current, ...olds].filter((c): c is X509Certificate => c !== undefined && now < validity(c).notAfter);
      const s = plan.reissueServing || !material ? issue(ca) : { certPem: material.cert, keyPem: material.key };
      return { caBundle: [ca.certPem, ...keep.map((c) => c.toString())].join(''), caKey: ca.keyPem, cert: s.certPem, key: s.keyPem };
    }
    case 'renew-serving': {
      if (!material || !current) return material;
      const s = issue({ certPem: current.toString(), keyPem: material.caKey });
      return { ...material, cert: s.certPem, key: s.keyPem };
    }
    case 'drop-old-ca': {
      if (!material || !current) return material;
      const stillNeeded = olds.filter((o) => now < validity(o).notAfter && serving !== undefined && signedBy(serving, o));
      return { ...material, caBundle: [current, ...stillNeeded].map((c) => c.toString()).join('') };
    }
  }
}

/** A Secret as the manager reads and writes it. */
interface SecretBody {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
  type?: string;
  data?: Record<string, string>;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string => (typeof s === 'string' ? Buffer.from(s, 'base64').toString('utf8') : '');

/** The PEM texts of a certificate Secret (missing keys read as ''). */
export function materialOf(secret: SecretBody | undefined): CertMaterial | undefined {
  const d = secret?.data;
  if (!d) return undefined;
  return { caBundle: unb64(d['ca.crt']), caKey: unb64(d[WEBHOOK_CA_KEY]), cert: unb64(d['tls.crt']), key: unb64(d['tls.key']) };
}

/** The serving pair a server can use: a certificate and the key that belongs to it, both PEM. */
export interface ServingPair {
  readonly cert: string;
  readonly key: string;
}

/** Settings of a {@link CertManager}. */
export interface CertManagerOptions {
  readonly client: Requester;
  readonly namespace: string;
  /** DNS names and IPs of the serving certificate. */
  readonly names: readonly string[];
  readonly mode: 'self' | 'external';
  readonly clock: Clock;
  readonly log: Logger;
  /** Called with every new usable serving pair (also the first). */
  readonly onServing: (pair: ServingPair) => void;
  readonly secretName?: string;
  /** Configurations whose webhooks get the CA bundle (default the bundle's two). */
  readonly configurations?: readonly { readonly resource: 'validatingwebhookconfigurations' | 'mutatingwebhookconfigurations'; readonly name: string }[];
  readonly timing?: Partial<CertTiming>;
  /** How often every replica re-reads the Secret (and the leader re-checks the configurations), ms. */
  readonly pollMs?: number;
  /** Deadline of each API request, ms. */
  readonly requestTimeoutMs?: number;
  readonly commonName?: string;
}

const ADMISSION = '/apis/admissionregistration.k8s.io/v1';

/** See the module comment. Never throws out of its loop: every failure is logged and retried at the next poll. */
export class CertManager {
  private leader = false;
  private running = false;
  private timer: Timer | undefined;
  private ticking: Promise<void> | undefined;
  private again = false;
  private forced: 'serving' | 'ca' | undefined;
  private served = '';
  private material: CertMaterial | undefined;
  private readonly missingLogged = new Set<string>();
  private readonly timing: CertTiming;
  private readonly secretPath: string;
  /** Writes made (Secret creates/updates and configuration patches): tests count them. */
  writes = 0;

  constructor(private readonly o: CertManagerOptions) {
    this.timing = { ...DEFAULT_CERT_TIMING, ...o.timing };
    this.secretPath = `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/secrets/${encodeURIComponent(o.secretName ?? WEBHOOK_CERT_SECRET)}`;
  }

  /** Starts polling (the first read right away). */
  start(): void {
    if (this.running) return;
    this.running = true;
    void this.kick();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
  }

  /** Leading replicas create, rotate and publish; the others only serve. Gaining leadership checks at once. */
  setLeader(leader: boolean): void {
    const gained = leader && !this.leader;
    this.leader = leader;
    if (gained && this.running) void this.kick();
  }

  /** Whether a usable serving pair has been handed to the server. */
  hasServing(): boolean {
    return this.served !== '';
  }

  /** The Secret's contents as last read or written. */
  current(): CertMaterial | undefined {
    return this.material;
  }

  /**
   * Forces the next step (tests, and an operator's way out after a key leak): `serving` reissues the serving
   * certificate, `ca` starts a CA rotation (which then proceeds as a due one would). Leader only; resolves after
   * the check it triggers.
   */
  async force(what: 'serving' | 'ca'): Promise<void> {
    this.forced = what;
    await this.kick();
  }

  /** Runs one check now (or right after the running one); resolves when it is done. */
  kick(): Promise<void> {
    if (this.ticking) { this.again = true; return this.ticking; }
    this.timer?.cancel();
    this.ticking = (async () => {
      this.again = false;
      for (;;) {
        try { await this.tick(); } catch (e) { this.o.log.error({ event: 'webhook_cert_error', err: String(e) }, 'webhook certificate check failed'); }
        if (!this.takeAgain() || !this.running) break;
      }
    })().finally(() => {
      this.ticking = undefined;
      if (this.running) this.timer = this.o.clock.setTimeout(() => { void this.kick(); }, this.o.pollMs ?? 10_000);
    });
    return this.ticking;
  }

  /** Whether another check was asked for meanwhile (and clears the request). */
  private takeAgain(): boolean {
    const a = this.again;
    this.again = false;
    return a;
  }

  private async req(method: string, path: string, body?: unknown, contentType?: string): Promise<ApiResponse | undefined> {
    try {
      return await this.o.client.request(method, path, body, contentType, { timeoutMs: this.o.requestTimeoutMs ?? 5000 });
    } catch (e) {
      this.o.log.warn({ event: 'webhook_cert_request_failed', method, path, err: String(e) }, 'API request failed; retrying at the next poll');
      return undefined;
    }
  }

  private async tick(): Promise<void> {
    const r = await this.req('GET', this.secretPath);
    if (!r) return;
    if (r.status !== 200 && r.status !== 404) { this.o.log.warn({ event: 'webhook_cert_read_failed', err: statusMessage(r) }, 'cannot read the certificate Secret'); return; }
    let secret = r.status === 200 ? r.body as SecretBody : undefined;
    let material = materialOf(secret);
    if (this.leader && this.o.mode === 'self') {
      const next = this.evolve(material);
      if (next !== material && next !== undefined) {
        const written = await this.write(secret, next);
        if (!written) return;
        secret = written;
        material = next;
      }
    }
    this.material = material;
    this.serve(material);
    if (this.leader && this.o.mode === 'self' && material) await this.publish(material.caBundle);
  }

  /** Plans and applies until `keep` (at most a few steps: the ones that must wait say keep). */
  private evolve(m0: CertMaterial | undefined): CertMaterial | undefined {
    let m = m0;
    const names = this.o.names;
    const cn = this.o.commonName ?? 'baregate-webhook';
    for (let i = 0; i < 4; i++) {
      const now = this.o.clock.wall();
      let plan = certPlan(m, now, names, this.timing);
      if (this.forced !== undefined && plan.action === 'keep' && m !== undefined) {
        plan = this.forced === 'ca' ? { action: 'rotate-ca', why: 'forced', reissueServing: false } : { action: 'renew-serving', why: 'forced' };
      }
      this.forced = undefined;
      if (plan.action === 'keep') break;
      this.o.log.info({ event: 'webhook_cert_step', action: plan.action, why: plan.why }, `webhook certificate: ${plan.action}`);
      m = applyCertPlan(m, plan, now, names, cn, this.timing);
    }
    return m;
  }

  private async write(old: SecretBody | undefined, m: CertMaterial): Promise<SecretBody | undefined> {
    const name = this.o.secretName ?? WEBHOOK_CERT_SECRET;
    const body: SecretBody & { apiVersion: string; kind: string } = {
      apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls',
      metadata: { name, namespace: this.o.namespace, labels: { 'app.kubernetes.io/name': APP_NAME, 'app.kubernetes.io/component': 'controller' }, ...(old?.metadata?.resourceVersion !== undefined ? { resourceVersion: old.metadata.resourceVersion } : {}) },
      data: { 'ca.crt': b64(m.caBundle), [WEBHOOK_CA_KEY]: b64(m.caKey), 'tls.crt': b64(m.cert), 'tls.key': b64(m.key) },
    };
    // create when absent, else update with the resourceVersion read: two leaders (a handover) cannot both win
    const r = old ? await this.req('PUT', this.secretPath, body) : await this.req('POST', `/api/v1/namespaces/${encodeURIComponent(this.o.namespace)}/secrets`, body);
    if (!r) return undefined;
    if (r.status === 200 || r.status === 201) { this.writes++; return r.body as SecretBody; }
    if (r.status === 409) { this.o.log.info({ event: 'webhook_cert_conflict' }, 'certificate Secret changed meanwhile; re-reading'); this.again = true; return undefined; }
    this.o.log.warn({ event: 'webhook_cert_write_failed', err: statusMessage(r) }, 'cannot write the certificate Secret');
    return undefined;
  }

  private serve(m: CertMaterial | undefined): void {
    if (!m || m.cert === '' || m.key === '') return;
    const id = m.cert + m.key;
    if (id === this.served) return;
    const [c] = parseCertificates(m.cert);
    if (!c || !keyMatches(c, m.key)) { this.o.log.warn({ event: 'webhook_cert_unusable' }, 'tls.crt/tls.key in the Secret are not a usable pair'); return; }
    try {
      this.o.onServing({ cert: m.cert, key: m.key });
    } catch (e) {
      this.o.log.error({ event: 'webhook_cert_rejected', err: String(e) }, 'the TLS server refused the certificate');
      return;
    }
    this.served = id;
    this.o.log.info({ event: 'webhook_cert_serving', serial: c.serialNumber, notAfter: c.validTo }, 'serving the webhook certificate');
  }

  /** Sets `caBundle` on every webhook of the configurations where it differs; a missing configuration is logged once. */
  private async publish(bundle: string): Promise<void> {
    const want = b64(bundle);
    const configs = this.o.configurations ?? [
      { resource: 'validatingwebhookconfigurations', name: VALIDATING_WEBHOOK },
      { resource: 'mutatingwebhookconfigurations', name: MUTATING_WEBHOOK },
    ];
    for (const c of configs) {
      const path = `${ADMISSION}/${c.resource}/${encodeURIComponent(c.name)}`;
      const r = await this.req('GET', path);
      if (!r) continue;
      if (r.status === 404) {
        if (!this.missingLogged.has(path)) { this.missingLogged.add(path); this.o.log.warn({ event: 'webhook_config_missing', resource: c.resource, name: c.name }, 'webhook configuration not found; its caBundle is set once it exists'); }
        continue;
      }
      this.missingLogged.delete(path);
      if (r.status !== 200) { this.o.log.warn({ event: 'webhook_config_read_failed', err: statusMessage(r) }, 'cannot read a webhook configuration'); continue; }
      const hooks = (r.body as { webhooks?: { name?: string; clientConfig?: { caBundle?: string } }[] }).webhooks ?? [];
      const ops = hooks.flatMap((h, i) => (h.clientConfig?.caBundle === want ? [] : [
        { op: 'test', path: `/webhooks/${i}/name`, value: h.name },
        { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: want },
      ]));
      if (ops.length === 0) continue;
      const p = await this.req('PATCH', path, ops, 'application/json-patch+json');
      if (p?.status === 200) { this.writes++; this.o.log.info({ event: 'webhook_cabundle_patched', name: c.name, webhooks: ops.length / 2 }, 'caBundle set'); }
      else if (p) { this.o.log.warn({ event: 'webhook_cabundle_patch_failed', name: c.name, err: statusMessage(p) }, 'cannot set the caBundle; retrying'); }
    }
  }
}
