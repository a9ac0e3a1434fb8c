/**
 * The Kubernetes REST client. Connection settings come from kubeconfig.ts (or, for auth plugins, from
 * @kubernetes/client-node, loaded only then); requests go over one keep-alive HTTPS agent as plain JSON, so custom resources and
 * unknown fields pass through untouched and watches can be restarted exactly where they stopped.
 */
import https from 'node:https';
import http from 'node:http';
import { inClusterConnection, kubeconfigConnection, type Connection } from './kubeconfig.ts';

/** Result of one API call: status code and parsed JSON body (a `Status` object on errors). */
export interface ApiResponse<T = unknown> {
  readonly status: number;
  readonly body: T;
}

/** A `metav1.Status` error body. */
export interface ApiStatus {
  kind?: 'Status';
  code?: number;
  reason?: string;
  message?: string;
}

/** One watch event. */
export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** Options for {@link KubeClient.create}. */
export interface ClientOptions {
  /** Path of a kubeconfig file; otherwise in-cluster config, then the default kubeconfig. */
  kubeconfig?: string | undefined;
  /** Upper bound on parallel connections to the apiserver. */
  maxSockets?: number;
  /** Per-request timeout for non-watch calls. */
  timeoutMs?: number;
}

/** A stream that can be closed by its consumer. */
export interface Closable {
  close(): void;
}

/** See the module comment. */
export class KubeClient {
  private authCache: { at: number; opts: https.RequestOptions } | undefined;
  private readonly agent: https.Agent | http.Agent;
  private url: URL | undefined;
  private full: Promise<FullKubeConfig> | undefined;

  private constructor(private readonly conn: Connection | { fallback: string | undefined }, private readonly timeoutMs: number, maxSockets: number) {
    this.url = 'server' in conn ? new URL(conn.server) : undefined;
    const agentOpts = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets };
    this.agent = this.url?.protocol === 'http:' ? new http.Agent(agentOpts) : new https.Agent(agentOpts);
  }

  /** Builds a client from a kubeconfig path, the in-cluster service account, or the default kubeconfig. */
  static create(opts: ClientOptions = {}): KubeClient {
    const inCluster = !opts.kubeconfig && process.env.KUBERNETES_SERVICE_HOST !== undefined;
    const conn = inCluster ? inClusterConnection() : kubeconfigConnection(opts.kubeconfig);
    return new KubeClient(conn ?? { fallback: opts.kubeconfig }, opts.timeoutMs ?? 30_000, opts.maxSockets ?? 16);
  }

  /** Auth plugins and merged files: client-node's complete kubeconfig implementation, loaded only then. */
  private async loadFull(path: string | undefined): Promise<FullKubeConfig> {
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    if (path) kc.loadFromFile(path); else kc.loadFromDefault();
    const server = kc.getCurrentCluster()?.server;
    if (!server) throw new Error('kubeconfig has no current cluster server');
    this.url = new URL(server);
    if (this.url.protocol !== 'https:') throw new Error(`kubeconfig server ${server}: only https is supported with auth plugins`);
    return kc;
  }

  /** The apiserver URL (for logs). */
  get server(): string {
    return this.url?.toString() ?? '(not yet resolved)';
  }

  /** Authentication options, refreshed every minute so rotated service-account tokens are picked up. */
  private async auth(): Promise<https.RequestOptions> {
    const now = Date.now();
    if (this.authCache && now - this.authCache.at < 60_000) return this.authCache.opts;
    const opts: https.RequestOptions = {};
    if ('fallback' in this.conn) {
      this.full ??= this.loadFull(this.conn.fallback);
      await (await this.full).applyToHTTPSOptions(opts);
    } else {
      Object.assign(opts, this.conn.tls);
      if (this.conn.token) opts.headers = { Authorization: `Bearer ${this.conn.token()}` };
    }
    this.authCache = { at: now, opts };
    return opts;
  }

  private async open(method: string, path: string, headers: Record<string, string>, timeoutMs: number | undefined): Promise<http.ClientRequest> {
    const auth = await this.auth();
    const url = this.url;
    if (!url) throw new Error('apiserver URL unknown');
    const mod = url.protocol === 'http:' ? http : https;
    const req = mod.request({
      ...auth,
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port,
      path: url.pathname.replace(/\/$/, '') + path,
      method,
      agent: this.agent,
      headers: { ...(auth.headers as Record<string, string> | undefined), Accept: 'application/json', ...headers },
    });
    if (timeoutMs !== undefined) req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: timed out after ${timeoutMs} ms`)));
    return req;
  }

  /**
   * One request. Resolves with the status code and JSON body for every HTTP answer (also 4xx/5xx);
   * rejects only when no answer came (connection refused, reset, timeout).
   */
  async request<T = unknown>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<ApiResponse<T>> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = payload ? { 'Content-Type': contentType, 'Content-Length': String(payload.length) } : {};
    const req = await this.open(method, path, headers, this.timeoutMs);
    return new Promise((resolve, reject) => {
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try { parsed = text === '' ? {} : JSON.parse(text); } catch { /* non-JSON error page: keep the text */ }
          resolve({ status: res.statusCode ?? 0, body: parsed as T });
        });
      });
      req.end(payload);
    });
  }

  /**
   * Opens a watch stream; `onEvent` gets each decoded event, `onEnd` is called once when the stream
   * ends for any reason (with the error, if there was one). Call `close()` to stop it.
   */
  async watch<T>(path: string, onEvent: (e: WatchEvent<T>) => void, onEnd: (err?: Error) => void): Promise<Closable> {
    const req = await this.open('GET', path, {}, undefined);
    let ended = false;
    const end = (err?: Error): void => { if (!ended) { ended = true; onEnd(err); } };
    req.on('error', (e) => { end(e); });
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => { end(new WatchHttpError(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'))); });
        return;
      }
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim() === '') continue;
          try { onEvent(JSON.parse(line) as WatchEvent<T>); } catch (e) { req.destroy(e as Error); return; }
        }
      });
      res.on('end', () => { end(); });
      res.on('error', (e) => { end(e); });
      res.on('close', () => { end(); });
    });
    req.end();
    return { close: () => { ended = true; req.destroy(); } };
  }

  /** Releases sockets (tests and shutdown). */
  destroy(): void {
    this.agent.destroy();
  }
}

/** The part of client-node's KubeConfig used for kubeconfigs that need its auth plugins. */
interface FullKubeConfig {
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

/** A watch that the apiserver refused with an HTTP status. */
export class WatchHttpError extends Error {
  constructor(readonly status: number, body: string) {
    super(`watch failed with HTTP ${status}: ${body.slice(0, 300)}`);
  }
}

/** Human-readable message from an error response body. */
export function statusMessage(r: ApiResponse): string {
  const b = r.body as ApiStatus | string;
  if (typeof b === 'string') return `HTTP ${r.status}: ${b.slice(0, 200)}`;
  return `HTTP ${r.status}${b.reason ? ` ${b.reason}` : ''}: ${b.message ?? ''}`;
}
