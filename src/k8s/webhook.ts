/**
 * The admission webhook server the controller runs on every replica (both sit behind the webhook Service): HTTPS
 * with the certificate the {@link CertManager} hands it (swapped with `setSecureContext`, no restart), AdmissionReview
 * v1 in and out on WebhookPaths.validate and WebhookPaths.mutateService, /healthz.
 *
 * Network input never ends the process and never hangs a connection: a body over the limit is 413, garbage is 400,
 * a handler that takes too long is answered at the deadline (validation: refused, with the reason; mutation:
 * allowed unchanged, as `failurePolicy: Ignore` would), and every socket has an 'error' listener.
 *
 * The validating handler reads the config it decides on from the API for every request (five LISTs in parallel,
 * each with a deadline well under the apiserver's 10 s webhook timeout) instead of a cache: a standby replica has
 * no informers, and a LIST is a consistent read, so a pool created a moment ago is seen by the advertisement
 * created right after it (a cache could still miss it and refuse a valid object). Config objects are few and
 * writes to them rare, so the cost is a handful of small reads per write.
 */
import https from 'node:https';
import type http from 'node:http';
import { GROUP, Kinds, SYSTEM_NAMESPACE, VERSION, WebhookPaths } from '../api/keys.ts';
import type { Clock } from '../clock.ts';
import { validateAdmission, type AdmissionInput } from '../config/admission.ts';
import type { ConfigSnapshot, SecretObject } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { statusMessage } from './client.ts';
import type { JsonPatchOp, Requester, ServiceMutator } from './ports.ts';
import type { ServingPair } from './webhookcerts.ts';

/** The request part of an AdmissionReview v1. */
export interface AdmissionRequest {
  readonly uid: string;
  readonly kind?: { readonly group?: string; readonly version?: string; readonly kind?: string };
  readonly operation?: string;
  readonly name?: string;
  readonly namespace?: string;
  readonly object?: unknown;
  readonly oldObject?: unknown;
  readonly dryRun?: boolean;
}

/** The response part of an AdmissionReview v1. */
export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly status?: { readonly code: number; readonly message: string; readonly reason?: string };
  readonly warnings?: readonly string[];
  readonly patchType?: 'JSONPatch';
  /** base64 of the JSON patch. */
  readonly patch?: string;
}

/** One admission handler: never throws on bad input (the server turns a throw into a refusal anyway). */
export type AdmissionHandler = (req: AdmissionRequest) => Promise<Omit<AdmissionResponse, 'uid'>>;

/** Where the validating handler gets the config from. */
export type SnapshotReader = () => Promise<ConfigSnapshot>;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads the config snapshot parseConfig() takes: the config kinds (BFD profiles included) and the Secrets of `namespace`, in parallel,
 * each LIST with its own deadline. Rejects when any read fails (the caller refuses the write: validating on a
 * partial config could accept a broken one).
 */
export function apiSnapshotReader(client: Requester, namespace: string = SYSTEM_NAMESPACE, timeoutMs = 3000): SnapshotReader {
  const list = async (path: string): Promise<unknown[]> => {
    const r = await client.request<{ items?: unknown[] }>('GET', path, undefined, undefined, { timeoutMs });
    if (r.status !== 200) throw new Error(`GET ${path}: ${statusMessage(r)}`);
    return Array.isArray(r.body.items) ? r.body.items : [];
  };
  const kind = (plural: string): Promise<unknown[]> => list(`/apis/${GROUP}/${VERSION}/${plural}`);
  return async () => {
    const [pools, l2Advertisements, bgpAdvertisements, bgpPeers, bfdProfiles, secrets] = await Promise.all([
      kind(Kinds.IPAddressPool.plural), kind(Kinds.L2Advertisement.plural), kind(Kinds.BGPAdvertisement.plural), kind(Kinds.BGPPeer.plural),
      kind(Kinds.BFDProfile.plural), list(`/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`),
    ]);
    return { pools, l2Advertisements, bgpAdvertisements, bgpPeers, bfdProfiles, secrets: secrets as SecretObject[] };
  };
}

/** The validating handler: {@link validateAdmission} on the snapshot read for this request. */
export function validatingHandler(read: SnapshotReader): AdmissionHandler {
  return async (req) => {
    if (req.kind?.group !== undefined && req.kind.group !== GROUP) return { allowed: true };
    let snapshot: ConfigSnapshot;
    try {
      snapshot = await read();
    } catch (e) {
      return { allowed: false, status: { code: 500, reason: 'InternalError', message: `baregate could not read the current config to check this object against: ${e instanceof Error ? e.message : String(e)}` } };
    }
    const input: AdmissionInput = { operation: req.operation ?? '', kind: req.kind?.kind ?? '', name: req.name, object: req.object, oldObject: req.oldObject };
    const d = validateAdmission(snapshot, input);
    const warnings = d.warnings.length > 0 ? { warnings: d.warnings } : {};
    return d.allowed ? { allowed: true, ...warnings } : { allowed: false, status: { code: 422, reason: 'Invalid', message: d.message }, ...warnings };
  };
}

/** The mutating Service handler: every mutator's patch, in order; none (or no ops): allowed unchanged. */
export function serviceMutationHandler(mutators: readonly ServiceMutator[]): AdmissionHandler {
  return async (req) => {
    if (req.operation !== 'CREATE' || !isObj(req.object) || mutators.length === 0) return { allowed: true };
    const svc = req.object;
    const ns = req.namespace ?? '';
    const ops: JsonPatchOp[] = [];
    for (const m of mutators) ops.push(...await m(svc, ns));
    if (ops.length === 0) return { allowed: true };
    return { allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') };
  };
}

/** Settings of a {@link WebhookServer}. */
export interface WebhookServerOptions {
  readonly port: number;
  readonly host: string;
  readonly log: Logger;
  readonly clock: Clock;
  readonly validate: AdmissionHandler;
  readonly mutateService: AdmissionHandler;
  /** Largest request body accepted (an AdmissionReview carries object and oldObject), bytes. */
  readonly maxBodyBytes?: number;
  /** A handler not done by then is answered anyway (below the apiserver's webhook timeout), ms. */
  readonly handlerDeadlineMs?: number;
  /** Whole-request receive deadline (slow clients), ms. */
  readonly requestTimeoutMs?: number;
}

/** Default body limit: object + oldObject of the largest object etcd stores (1.5 MiB each), plus the envelope. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** See the module comment. */
export class WebhookServer {
  private readonly server: https.Server;
  private hasCert = false;

  constructor(private readonly o: WebhookServerOptions) {
    // no certificate yet: handshakes fail until setCertificate(); /readyz of the controller says so meanwhile
    this.server = https.createServer({ minVersion: 'TLSv1.2' }, (req, res) => { this.handle(req, res); });
    this.server.requestTimeout = o.requestTimeoutMs ?? 10_000;
    this.server.headersTimeout = Math.min(this.server.requestTimeout, 10_000);
    this.server.on('error', (e) => { o.log.error({ event: 'webhook_server_error', err: String(e) }, 'webhook server error'); });
    this.server.on('tlsClientError', (e) => { o.log.debug({ event: 'webhook_tls_error', err: String(e) }, 'TLS handshake failed'); });
    this.server.on('clientError', (e, socket) => {
      o.log.debug({ event: 'webhook_client_error', err: String(e) }, 'bad request');
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'); else socket.destroy();
    });
    this.server.on('secureConnection', (s) => { s.on('error', () => undefined); });
  }

  /** Listens; resolves once bound (rejects when the port cannot be bound). */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error): void => { reject(e); };
      this.server.once('error', onError);
      this.server.listen(this.o.port, this.o.host, () => { this.server.off('error', onError); resolve(); });
    });
  }

  /** The bound port (for `--webhook-port 0`-style tests: the OS picks). */
  port(): number {
    const a = this.server.address();
    return a !== null && typeof a === 'object' ? a.port : 0;
  }

  /** Serves with this certificate from the next handshake on; connections already open keep theirs. */
  setCertificate(pair: ServingPair): void {
    this.server.setSecureContext({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' });
    this.hasCert = true;
  }

  /** Whether it listens and has a certificate (the controller's readiness). */
  ready(): boolean {
    return this.hasCert && this.server.listening;
  }

  /** Stops accepting and closes every connection. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => { resolve(); });
      this.server.closeAllConnections();
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    const path = (req.url ?? '').split('?')[0] ?? '';
    const plain = (code: number, text: string): void => {
      if (res.headersSent) return;
      res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(text);
    };
    if (path === '/healthz') { plain(200, 'ok'); return; }
    const handler = path === WebhookPaths.validate ? this.o.validate : path === WebhookPaths.mutateService ? this.o.mutateService : undefined;
    if (!handler) { plain(404, 'not found'); return; }
    if (req.method !== 'POST') { plain(405, 'POST an AdmissionReview'); return; }
    const limit = this.o.maxBodyBytes ?? MAX_BODY_BYTES;
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c: Buffer) => {
      if (tooBig) return;
      size += c.length;
      if (size > limit) {
        tooBig = true;
        chunks.length = 0;
        res.setHeader('Connection', 'close');
        plain(413, `request body over ${limit} bytes`);
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (tooBig) return;
      let review: unknown;
      try { review = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { plain(400, 'body is not JSON'); return; }
      const request = isObj(review) && isObj(review.request) ? review.request : undefined;
      if (!request || typeof request.uid !== 'string' || request.uid === '') { plain(400, 'not an AdmissionReview v1 with a request.uid'); return; }
      void this.answer(handler, path, request as unknown as AdmissionRequest, res);
    });
  }

  private async answer(handler: AdmissionHandler, path: string, request: AdmissionRequest, res: http.ServerResponse): Promise<void> {
    const deadlineMs = this.o.handlerDeadlineMs ?? 8000;
    const validating = path === WebhookPaths.validate;
    let timer: { cancel(): void } | undefined;
    const late = new Promise<Omit<AdmissionResponse, 'uid'>>((resolve) => {
      timer = this.o.clock.setTimeout(() => {
        resolve(validating
          ? { allowed: false, status: { code: 504, reason: 'Timeout', message: `baregate could not check this object within ${deadlineMs} ms; try again` } }
          : { allowed: true });
      }, deadlineMs);
    });
    let out: Omit<AdmissionResponse, 'uid'>;
    try {
      out = await Promise.race([handler(request), late]);
    } catch (e) {
      this.o.log.error({ event: 'webhook_handler_failed', path, err: String(e) }, 'admission handler threw');
      out = validating ? { allowed: false, status: { code: 500, reason: 'InternalError', message: `baregate admission check failed: ${String(e)}` } } : { allowed: true };
    } finally {
      timer?.cancel();
    }
    const kind = request.kind?.kind ?? '';
    this.o.log.debug({ event: 'admission', path, kind, name: request.name, operation: request.operation, allowed: out.allowed }, 'admission request');
    if (!out.allowed) this.o.log.info({ event: 'admission_denied', kind, name: request.name, operation: request.operation, err: out.status?.message }, 'admission denied');
    const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: request.uid, ...out } });
    if (res.headersSent || res.destroyed) return;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }
}
