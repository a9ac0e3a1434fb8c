/**
 * The Kubernetes REST client. Connection settings come from kubeconfig.ts (or, for auth plugins, from
 * @kubernetes/client-node, loaded only then); requests go over one keep-alive HTTPS agent as plain JSON, so custom resources and
 * unknown fields pass through untouched and watches can be restarted exactly where they stopped.
 *
 * Every request has a deadline (a bound on the whole exchange, not an idle timeout) and names us in
 * its User-Agent, so the apiserver's audit log and metrics show which component made it. Requests
 * that must not queue behind others (Lease renewals) can ask for a dedicated connection.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import { realClock, type Clock } from '../clock.ts';
import { inClusterConnection, KubeconfigError, kubeconfigConnection, type Connection } from './kubeconfig.ts';

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
  /** Default deadline of a non-watch request (whole exchange, ms); a watch gets it for its response headers. */
  timeoutMs?: number;
  /** Which part of baregate this is (`controller`, `speaker`, ...): User-Agent `baregate-<component>/<version>`. */
  component?: string;
  /** Replaces the whole User-Agent (tests; embedding). */
  userAgent?: string;
  /** Source of time for deadlines and token refresh. */
  clock?: Clock;
}

/** Per-call options of {@link KubeClient.request}. */
export interface RequestOptions {
  /** Deadline for this call (ms from now), replacing the client's default. */
  timeoutMs?: number;
  /** Aborts the call: it rejects with an {@link ApiAbortedError} and its connection is destroyed. */
  signal?: AbortSignal;
  /**
   * Name of a dedicated connection: calls with the same name share one socket of their own, never
   * the shared pool, so they cannot wait behind a stuck or busy shared connection.
   */
  connection?: string;
  /**
   * False: a 2xx answer's body is read and dropped, not decoded (the response's `body` is `{}`); error answers are
   * decoded as always. For writes whose echo nobody reads: the apiserver returns the whole object, and for a
   * SpeakerStatus listing 10k IPs that is a megabyte of text and tens of thousands of objects per write.
   */
  decode?: boolean;
}

/** A request that got no complete answer before its deadline; the connection it used is destroyed. */
export class ApiTimeoutError extends Error {
  constructor(readonly method: string, readonly path: string, readonly timeoutMs: number) {
    super(`${method} ${path}: no answer within ${timeoutMs} ms`);
    this.name = 'ApiTimeoutError';
  }
}

/** A request cancelled by its caller's AbortSignal. */
export class ApiAbortedError extends Error {
  constructor(readonly method: string, readonly path: string, reason?: unknown) {
    super(`${method} ${path}: aborted`, { cause: reason });
    this.name = 'ApiAbortedError';
  }
}

/** The package version, for the User-Agent (read once; "unknown" when package.json is not beside the code). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * The User-Agent for a component, in client-go's shape (`name/version (os/arch)`), so audit logs and
 * `apiserver_request_total{userAgent}`-style metrics name us instead of showing `?` or `node`.
 */
export function userAgent(component: string): string {
  return `baregate-${component}/${packageVersion()} (${process.platform}/${process.arch}) node/${process.version}`;
}

/** A stream that can be closed by its consumer. */
export interface Closable {
  close(): void;
}

/** See the module comment. */
export class KubeClient {
  private authCache: { at: number; opts: https.RequestOptions } | undefined;
  private readonly agent: https.Agent | http.Agent;
  private readonly dedicated = new Map<string, https.Agent | http.Agent>();
  private url: URL | undefined;
  private full: Promise<FullKubeConfig> | undefined;
  /** The User-Agent sent with every request. */
  readonly userAgent: string;
  private readonly clock: Clock;

  private constructor(private readonly conn: Connection | { fallback: string | undefined }, private readonly timeoutMs: number, maxSockets: number, opts: ClientOptions) {
    this.url = 'server' in conn ? new URL(conn.server) : undefined;
    this.agent = this.newAgent(maxSockets);
    this.userAgent = opts.userAgent ?? userAgent(opts.component ?? 'controller');
    this.clock = opts.clock ?? realClock;
  }

  private newAgent(maxSockets: number): https.Agent | http.Agent {
    const agentOpts = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets };
    return this.url?.protocol === 'http:' ? new http.Agent(agentOpts) : new https.Agent(agentOpts);
  }

  /**
   * Builds a client from a kubeconfig path, the in-cluster service account, or the default kubeconfig.
   * Throws a {@link KubeconfigError} (which file, why, what to pass instead) when none can be read.
   */
  static create(opts: ClientOptions = {}): KubeClient {
    const inCluster = !opts.kubeconfig && process.env.KUBERNETES_SERVICE_HOST !== undefined;
    const conn = inCluster ? inClusterConnection() : kubeconfigConnection(opts.kubeconfig);
    return new KubeClient(conn ?? { fallback: opts.kubeconfig }, opts.timeoutMs ?? 30_000, opts.maxSockets ?? 16, opts);
  }

  /** Auth plugins and merged files: client-node's complete kubeconfig implementation, loaded only then. */
  private async loadFull(path: string | undefined): Promise<FullKubeConfig> {
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    try {
      if (path) kc.loadFromFile(path); else kc.loadFromDefault();
    } catch (e) {
      throw new KubeconfigError(path ?? process.env.KUBECONFIG ?? '~/.kube/config', e instanceof Error ? e.message : String(e));
    }
    const server = kc.getCurrentCluster()?.server;
    if (!server) throw new KubeconfigError(path ?? process.env.KUBECONFIG ?? '~/.kube/config', 'its current context names no cluster with a server');
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
    const now = this.clock.now();
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

  private agentFor(connection: string | undefined): https.Agent | http.Agent {
    if (connection === undefined) return this.agent;
    let a = this.dedicated.get(connection);
    if (!a) { a = this.newAgent(1); this.dedicated.set(connection, a); }
    return a;
  }

  private async open(method: string, path: string, headers: Record<string, string>, connection: string | undefined): Promise<http.ClientRequest> {
    const auth = await this.auth();
    const url = this.url;
    if (!url) throw new Error('apiserver URL unknown');
    const mod = url.protocol === 'http:' ? http : https;
    return mod.request({
      ...auth,
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port,
      path: url.pathname.replace(/\/$/, '') + path,
      method,
      agent: this.agentFor(connection),
      headers: { ...(auth.headers as Record<string, string> | undefined), Accept: 'application/json', 'User-Agent': this.userAgent, ...headers },
    });
  }

  /**
   * One request. Resolves with the status code and JSON body for every HTTP answer (also 4xx/5xx);
   * rejects only when no complete answer came: connection refused or reset, the deadline passed
   * ({@link ApiTimeoutError}; the connection is destroyed, so a silently dead socket is not reused),
   * or the caller aborted.
   */
  async request<T = unknown>(method: string, path: string, body?: unknown, contentType = 'application/json', opts: RequestOptions = {}): Promise<ApiResponse<T>> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = payload ? { 'Content-Type': contentType, 'Content-Length': String(payload.length) } : {};
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    return new Promise((resolve, reject) => {
      let req: http.ClientRequest | undefined;
      let done = false;
      const finish = (err: Error | undefined, value?: ApiResponse<T>): void => {
        if (done) return;
        done = true;
        timer.cancel();
        opts.signal?.removeEventListener('abort', onAbort);
        if (err) { req?.destroy(err); reject(err); } else if (value) resolve(value);
      };
      // the deadline covers everything: credentials, connecting, sending, the whole body
      const timer = this.clock.setTimeout(() => { finish(new ApiTimeoutError(method, path, timeoutMs)); }, timeoutMs);
      const onAbort = (): void => { finish(new ApiAbortedError(method, path, opts.signal?.reason)); };
      if (opts.signal?.aborted) { onAbort(); return; }
      opts.signal?.addEventListener('abort', onAbort);
      this.open(method, path, headers, opts.connection).then((r) => {
        req = r;
        r.on('error', (e) => { finish(e); });
        if (done) { r.destroy(); return; }
        r.on('response', (res) => {
          const chunks: Buffer[] = [];
          const code = res.statusCode ?? 0;
          const drop = opts.decode === false && code >= 200 && code < 300;
          res.on('data', (c: Buffer) => { if (!drop) chunks.push(c); });
          res.on('error', (e) => { finish(e); });
          res.on('end', () => {
            if (drop) { finish(undefined, { status: code, body: {} as T }); return; }
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try { parsed = text === '' ? {} : JSON.parse(text); } catch { /* non-JSON error page: keep the text */ }
            finish(undefined, { status: res.statusCode ?? 0, body: parsed as T });
          });
        });
        r.end(payload);
      }, (e: unknown) => { finish(e instanceof Error ? e : new Error(String(e))); });
    });
  }

  /**
   * Opens a watch stream; `onEvent` gets each decoded event, `onEnd` is called once when the stream
   * ends for any reason (with the error, if there was one); `onOpen` when the apiserver accepted it
   * (HTTP 200). Call `close()` to stop it. The response
   * headers must arrive within the client's deadline; after that the stream has no client-side
   * timeout here: the informer watches for silence itself (bookmarks are its heartbeat).
   */
  async watch<T>(path: string, onEvent: (e: WatchEvent<T>) => void, onEnd: (err?: Error) => void, onOpen?: () => void): Promise<Closable> {
    const req = await this.open('GET', path, {}, undefined);
    let ended = false;
    const headerTimer = this.clock.setTimeout(() => { req.destroy(new ApiTimeoutError('GET', path, this.timeoutMs)); }, this.timeoutMs);
    const end = (err?: Error): void => { headerTimer.cancel(); if (!ended) { ended = true; onEnd(err); } };
    req.on('error', (e) => { end(e); });
    req.on('response', (res) => {
      headerTimer.cancel();
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => { end(new WatchHttpError(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'))); });
        return;
      }
      onOpen?.();
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
    return { close: () => { ended = true; headerTimer.cancel(); req.destroy(); } };
  }

  /** Releases sockets (tests and shutdown). */
  destroy(): void {
    this.agent.destroy();
    for (const a of this.dedicated.values()) a.destroy();
    this.dedicated.clear();
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
