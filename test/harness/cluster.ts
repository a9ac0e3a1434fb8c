/**
 * A throwaway Kubernetes control plane (etcd + kube-apiserver, both on 127.0.0.1) for integration tests.
 *
 * Why a real apiserver: watch/resync semantics, RBAC, server-side apply and CRD validation are what the
 * controllers depend on, and fakes get them subtly wrong. Only the API runs (no kubelet, scheduler or
 * controller-manager), so objects exist but nothing is ever scheduled and no traffic leaves the process.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { relayTcpToUnix, type Relay } from '../netlab/relay.ts';

/** Handle on a running test control plane; everything a test needs to talk to it, break it and tear it down. */
export interface TestCluster {
  /** Admin kubeconfig (client cert CN=admin, O=system:masters): bypasses RBAC so fixtures can be set up freely. */
  kubeconfigPath: string;
  /** https://127.0.0.1:PORT, for clients built without a kubeconfig. */
  server: string;
  /** Directory holding kube-apiserver, kubectl and etcd, so tests can run other kubectl-like tools of the same version. */
  binDir: string;
  /** Temp dir holding certs, etcd data and logs (kept after stop() with BAREGATE_KEEP_CLUSTER=1 for post-mortems). */
  dataDir: string;
  /**
   * The apiserver's audit log (JSON lines): every write to Services, pools, events and Leases, with the user
   * that made it, so tests can assert WHICH replica wrote (each test replica has its own client certificate).
   */
  auditLogPath: string;
  /** Kubeconfig for an unprivileged identity (client cert with the given user name and groups), for RBAC tests. */
  userKubeconfig(user: string, groups?: string[]): Promise<string>;
  /** Stops and starts kube-apiserver only (same port, same etcd, same certs) to test client watch/retry recovery. */
  restartApiserver(opts?: { downMs?: number }): Promise<void>;
  /** Runs kubectl as admin (KUBECONFIG env, so an explicit --kubeconfig arg wins); never throws on a non-zero exit. */
  kubectl(args: string[], stdin?: string): Promise<RunResult>;
  /** Idempotent: kills both process groups and removes dataDir unless BAREGATE_KEEP_CLUSTER=1. */
  stop(): Promise<void>;
}

/** Outcome of a finished command; a failure is a non-zero code so tests can assert on denials (e.g. `auth can-i`). */
export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

const READY_TIMEOUT_MS = 120_000;

/**
 * Audit policy: writes (and Lease reads, to see a standby campaigning) at Metadata level: who, what, when,
 * the answer's code; Lease writes with their body (holder, renewTime), to check takeovers waited for
 * expiry. Nothing else, so the log stays small.
 */
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Request
  verbs: [create, update, patch, delete]
  resources:
  - group: coordination.k8s.io
    resources: [leases]
- level: Metadata
  verbs: [get]
  resources:
  - group: coordination.k8s.io
    resources: [leases]
- level: Metadata
  verbs: [create, update, patch, delete]
  resources:
  - group: ""
    resources: [services, services/status, events]
  - group: events.k8s.io
    resources: [events]
  - group: baregate.io
- level: None
`;

/** One audited request (the fields tests use). */
export interface AuditEvent {
  user: string;
  userAgent: string;
  verb: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  code: number;
  /** When the apiserver received the request, ms since the epoch (µs in the log, truncated). */
  receivedAt: number;
  /** The request body, for Lease writes. */
  requestObject: unknown;
}

/** Reads the audit log of a cluster whose data dir is `dataDir` (from any process). */
export function readAudit(dataDir: string): AuditEvent[] {
  let text = '';
  try { text = readFileSync(join(dataDir, 'audit.log'), 'utf8'); } catch { return []; }
  const out: AuditEvent[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let e: { user?: { username?: string }; userAgent?: string; verb?: string; objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string }; responseStatus?: { code?: number }; requestReceivedTimestamp?: string; stage?: string; requestObject?: unknown };
    try { e = JSON.parse(line) as typeof e; } catch { continue; } // a line being written right now
    if (e.stage !== 'ResponseComplete') continue;
    out.push({
      user: e.user?.username ?? '', userAgent: e.userAgent ?? '', verb: e.verb ?? '',
      resource: e.objectRef?.resource ?? '', subresource: e.objectRef?.subresource ?? '', namespace: e.objectRef?.namespace ?? '', name: e.objectRef?.name ?? '',
      code: e.responseStatus?.code ?? 0, receivedAt: Date.parse(e.requestReceivedTimestamp ?? ''), requestObject: e.requestObject,
    });
  }
  return out;
}

/**
 * A kubeconfig with its own client certificate (CN=user, O=each group) for the cluster in `dataDir`, made
 * synchronously so harness code that must stay synchronous (starting a replica) can give every replica its
 * own identity. The server comes from the admin kubeconfig unless `serverOverride` names another (the lab's
 * components reach the apiserver at its namespace address, the root namespace through a relay).
 */
export function clientKubeconfigSync(dataDir: string, user: string, groups: string[] = [], serverOverride?: string): string {
  const pki = join(dataDir, 'pki');
  const name = `u-${user.replace(/[^a-zA-Z0-9-]/g, '-')}-${randomBytes(4).toString('hex')}`;
  const cnf = join(pki, 'openssl.cnf');
  const csr = execFileSync('openssl', ['req', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-keyout', join(pki, `${name}.key`), '-subj', subj(user, groups), '-config', cnf], { stdio: ['ignore', 'pipe', 'pipe'] });
  execFileSync('openssl', ['x509', '-req', '-CA', join(pki, 'ca.crt'), '-CAkey', join(pki, 'ca.key'), '-days', '7',
    '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-extfile', cnf, '-extensions', 'client', '-out', join(pki, `${name}.crt`)], { input: csr, stdio: ['pipe', 'pipe', 'pipe'] });
  const admin = JSON.parse(readFileSync(join(dataDir, 'admin.kubeconfig'), 'utf8')) as { clusters: { cluster: { server: string } }[] };
  const server = serverOverride ?? admin.clusters[0]?.cluster.server ?? '';
  const b64 = (f: string) => readFileSync(join(pki, f)).toString('base64');
  const path = join(dataDir, `${name}.kubeconfig`);
  writeFileSync(path, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'baregate-test',
    clusters: [{ name: 'baregate-test', cluster: { server, 'certificate-authority-data': b64('ca.crt') } }],
    users: [{ name, user: { 'client-certificate-data': b64(`${name}.crt`), 'client-key-data': b64(`${name}.key`) } }],
    contexts: [{ name: 'baregate-test', context: { cluster: 'baregate-test', user: name, namespace: 'default' } }],
  }, null, 2), { mode: 0o600 });
  return path;
}
const KILL_GRACE_MS = 5_000;
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

const openSslCnf = (sans: readonly string[]): string => `[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = ${['IP:127.0.0.1', 'DNS:localhost', ...sans.map((a) => (/^[0-9.:a-fA-F]+$/.test(a) ? `IP:${a}` : `DNS:${a}`))].join(',')}
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
`;

function run(cmd: string, args: string[], opts: { stdin?: string | undefined; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => undefined); // EPIPE when the command ignores its stdin
    child.on('error', reject);
    child.on('close', (code) => { resolve({ stdout, stderr, code: code ?? 1 }); });
    child.stdin.end(opts.stdin ?? '');
  });
}

async function mustRun(cmd: string, args: string[], stdin?: string, env?: NodeJS.ProcessEnv): Promise<string> {
  const r = await run(cmd, args, { stdin, ...(env && { env }) });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

let binDirPromise: Promise<string> | undefined;

/**
 * Directory with kube-apiserver, kubectl and etcd. Delegates to tools/build-k8s.sh (cached after the first build) so
 * tests and CI share one source of truth for versions; its stderr is passed through because a cold build takes minutes.
 */
export function k8sBinDir(): Promise<string> {
  return (binDirPromise ??= new Promise<string>((resolve, reject) => {
    const child = spawn('bash', [join(repoRoot, 'tools/build-k8s.sh')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const dir = out.trim().split('\n').pop()?.trim();
      if (code === 0 && dir) resolve(dir);
      else reject(new Error(`tools/build-k8s.sh exited ${code} (output: ${out.trim() || 'none'})`));
    });
  }).catch((e: unknown) => {
    binDirPromise = undefined;
    throw e;
  }));
}

/**
 * Binds port 0 on `n` sockets at once (so the ports are distinct) and releases them for the daemons (and for the
 * tests' webhook servers, which bind `::`).
 */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<Server>((resolve, reject) => {
    const s = createServer().once('error', reject);
    s.listen(0, host, () => { resolve(s); });
  })));
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

interface Daemon { name: string; logFile: string; child: ChildProcess; running: boolean; exit: string; exited: Promise<void> }

/** Own process group (detached) so a kill reaches anything it forks; unref'd so a forgotten stop() can't hang node. */
function startDaemon(name: string, bin: string, args: string[], logFile: string, netns?: string): Daemon {
  const fd = openSync(logFile, 'a');
  // `ip netns exec` execs the daemon in place (same pid), so the process group signals still reach it
  const child = netns === undefined
    ? spawn(bin, args, { cwd: repoRoot, detached: true, stdio: ['ignore', fd, fd] })
    : spawn('ip', ['netns', 'exec', netns, bin, ...args], { cwd: repoRoot, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  const d: Daemon = { name, logFile, child, running: true, exit: '', exited: Promise.resolve() };
  d.exited = new Promise((resolve) => {
    const done = (why: string) => { d.running = false; d.exit ||= why; resolve(); };
    child.once('exit', (code, sig) => { done(sig ? `signal ${sig}` : `code ${code}`); });
    child.once('error', (e) => { done(e.message); });
  });
  return d;
}

function signalGroup(d: Daemon, sig: NodeJS.Signals): void {
  if (!d.running || d.child.pid === undefined) return;
  try { process.kill(-d.child.pid, sig); } catch { /* already gone */ }
}

async function stopDaemon(d: Daemon): Promise<void> {
  d.child.ref(); // an unref'd child's exit would not keep node alive long enough to await it
  signalGroup(d, 'SIGTERM');
  const timedOut = await Promise.race([d.exited.then(() => false), sleep(KILL_GRACE_MS, true, { ref: false })]);
  if (timedOut) { signalGroup(d, 'SIGKILL'); await d.exited; }
}

// Crash safety: whatever happens to the test process, no etcd/apiserver outlives it.
const exitCleanups = new Set<() => void>();
let hooksInstalled = false;
function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  const cleanup = () => { for (const f of exitCleanups) f(); };
  process.once('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      cleanup();
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig); // re-raise: default action
    });
  }
}

async function tail(file: string, lines = 40): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return `--- last ${lines} lines of ${file} ---\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`;
}

/** Polls `probe` every 100 ms; fails fast if the daemon died, and with its log tail at the deadline. */
async function poll(what: string, deadline: number, d: Daemon, probe: () => Promise<boolean>): Promise<void> {
  for (;;) {
    if (!d.running) throw new Error(`${d.name} exited (${d.exit}) while waiting for ${what}\n${await tail(d.logFile)}`);
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${READY_TIMEOUT_MS} ms waiting for ${what}\n${await tail(d.logFile)}`);
    await sleep(100);
  }
}

function httpStatus(url: string, tls?: https.RequestOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? https.get : http.get;
    const req = get(url, { ...tls, agent: false, timeout: 2000 }, (res) => {
      res.resume().on('end', () => { resolve(res.statusCode ?? 0); });
    });
    req.on('timeout', () => req.destroy(new Error('timeout'))).on('error', reject);
  });
}

const subj = (cn: string, orgs: string[]) => [`CN=${cn}`, ...orgs.map((o) => `O=${o}`)].map((p) => `/${p.replace(/[\\/]/g, '\\$&')}`).join('');

/** Key + cert signed by the test CA; the CSR goes through a pipe so only the final files land in pki/. */
async function issue(pki: string, name: string, subject: string, ext: 'server' | 'client'): Promise<void> {
  const cnf = join(pki, 'openssl.cnf');
  const csr = await mustRun('openssl', ['req', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-keyout', join(pki, `${name}.key`), '-subj', subject, '-config', cnf]);
  await mustRun('openssl', ['x509', '-req', '-CA', join(pki, 'ca.crt'), '-CAkey', join(pki, 'ca.key'), '-days', '7',
    '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-extfile', cnf, '-extensions', ext, '-out', join(pki, `${name}.crt`)], csr);
}

async function writeKubeconfig(path: string, server: string, pki: string, name: string): Promise<void> {
  const b64 = async (f: string) => (await readFile(join(pki, f))).toString('base64');
  const config = {
    apiVersion: 'v1', kind: 'Config', 'current-context': 'baregate-test',
    clusters: [{ name: 'baregate-test', cluster: { server, 'certificate-authority-data': await b64('ca.crt') } }],
    users: [{ name, user: { 'client-certificate-data': await b64(`${name}.crt`), 'client-key-data': await b64(`${name}.key`) } }],
    contexts: [{ name: 'baregate-test', context: { cluster: 'baregate-test', user: name, namespace: 'default' } }],
  };
  await writeFile(path, JSON.stringify(config, null, 2), { mode: 0o600 }); // JSON is valid kubeconfig YAML
}

/** Options of {@link startCluster}; every one but crdDir/log exists for the lab (tools/lab), whose control plane lives in a namespace. */
export interface ClusterOptions {
  /** CRD manifests applied (server-side) and waited for. */
  crdDir?: string;
  log?: (msg: string) => void;
  /**
   * Run etcd and kube-apiserver inside this (existing) network namespace. The root namespace then reaches the
   * apiserver only through a relay: a listener on 127.0.0.1:PORT (in this process) → a unix socket (a file) → a
   * relay process inside the namespace → 127.0.0.1:apiPort there. `server` and the admin kubeconfig name the
   * root-side listener; nothing gets an address or a route in the root namespace.
   */
  netns?: string;
  /** The apiserver's port (inside `netns`; default a free port). */
  apiPort?: number;
  /** --bind-address (default 127.0.0.1; `0.0.0.0` in a namespace so other namespaces can connect). */
  bindAddress?: string;
  /** --advertise-address (default 127.0.0.1). */
  advertiseAddress?: string;
  /** --service-cluster-ip-range (default 10.96.0.0/16 + fd00:10:96::/108: allocation only, never routed). */
  serviceCIDRs?: readonly string[];
  /** Extra subjectAltNames of the serving certificate (IP or DNS), besides 127.0.0.1 and localhost. */
  extraSANs?: readonly string[];
  /** --endpoint-reconciler-type (default none: a loopback advertise address is invalid in Endpoints). */
  endpointReconciler?: 'none' | 'lease' | 'master-count';
  /**
   * --enable-aggregator-routing: the apiserver reaches webhook (and aggregated API) Services at their
   * EndpointSlice addresses instead of their ClusterIP. The lab needs it: no kube-proxy runs where the apiserver runs.
   */
  aggregatorRouting?: boolean;
}

/**
 * Starts etcd and kube-apiserver on free loopback ports with fresh certs, waits until the API is usable (readyz,
 * default namespace, optional CRDs Established) and returns a handle. Tests get an isolated cluster in a few seconds.
 */
export async function startCluster(opts: ClusterOptions = {}): Promise<TestCluster> {
  const t0 = Date.now();
  const log = (msg: string) => opts.log?.(`+${Date.now() - t0}ms ${msg}`);
  const deadline = t0 + READY_TIMEOUT_MS;
  installExitHooks();
  const [binDir, dataDir, ports] = await Promise.all([k8sBinDir(), mkdtemp(join(tmpdir(), 'baregate-cluster-')), freePorts(3)]);
  const [etcdPort, peerPort, freeApiPort] = ports as [number, number, number];
  const apiPort = opts.apiPort ?? freeApiPort;
  const netns = opts.netns;
  const keep = process.env.BAREGATE_KEEP_CLUSTER === '1';
  // in a namespace: the root side of the relay listens on the free port; the apiserver on apiPort in there
  const server = `https://127.0.0.1:${netns === undefined ? apiPort : freeApiPort}`;
  const relaySock = join(dataDir, 'api.sock');
  let rootRelay: Relay | undefined;
  let nsRelay: Daemon | undefined;
  const pki = join(dataDir, 'pki');
  const kubeconfigPath = join(dataDir, 'admin.kubeconfig');
  const auditLogPath = join(dataDir, 'audit.log');
  const env = { ...process.env, KUBECONFIG: kubeconfigPath, KUBECACHEDIR: join(dataDir, 'kube-cache') }; // no stale discovery across clusters
  let etcd: Daemon | undefined;
  let api: Daemon | undefined;
  let stopping: Promise<void> | undefined;
  let users = 0;

  const syncCleanup = () => {
    for (const d of [api, etcd, nsRelay]) if (d) signalGroup(d, 'SIGKILL');
    if (!keep) rmSync(dataDir, { recursive: true, force: true });
  };
  exitCleanups.add(syncCleanup);
  const stop = () => (stopping ??= (async () => {
    if (api) await stopDaemon(api); // apiserver first: it drains against a live etcd
    if (etcd) await stopDaemon(etcd);
    if (nsRelay) await stopDaemon(nsRelay);
    await rootRelay?.close();
    exitCleanups.delete(syncCleanup);
    if (keep) log(`kept ${dataDir}`);
    else await rm(dataDir, { recursive: true, force: true });
  })());

  const kubectl = (args: string[], stdin?: string) => run(join(binDir, 'kubectl'), args, { stdin, env });

  try {
    await mkdir(pki);
    await writeFile(join(pki, 'openssl.cnf'), openSslCnf(opts.extraSANs ?? []));
    await mustRun('openssl', ['req', '-x509', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-keyout',
      join(pki, 'ca.key'), '-out', join(pki, 'ca.crt'), '-subj', '/CN=baregate-test-ca', '-days', '7', '-config', join(pki, 'openssl.cnf'), '-extensions', 'ca']);
    await Promise.all([
      issue(pki, 'apiserver', subj('kube-apiserver', []), 'server'),
      issue(pki, 'admin', subj('admin', ['system:masters']), 'client'),
      mustRun('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', join(pki, 'sa.key')])
        .then(() => mustRun('openssl', ['pkey', '-in', join(pki, 'sa.key'), '-pubout', '-out', join(pki, 'sa.pub')])),
    ]);
    await writeKubeconfig(kubeconfigPath, server, pki, 'admin');
    await writeFile(join(dataDir, 'audit-policy.yaml'), AUDIT_POLICY);
    log(`certs ready in ${dataDir}`);

    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    etcd = startDaemon('etcd', join(binDir, 'etcd'), ['--name=default', `--data-dir=${join(dataDir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`, `--advertise-client-urls=${etcdUrl}`, `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`, `--initial-cluster=default=${peerUrl}`, '--unsafe-no-fsync'], join(dataDir, 'etcd.log'), netns);
    await poll('etcd /health', deadline, etcd, async () => (netns === undefined
      ? (await httpStatus(`${etcdUrl}/health`)) === 200
      : (await run('ip', ['netns', 'exec', netns, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', `${etcdUrl}/health`])).stdout === '200'));
    if (netns !== undefined) {
      // the relay: unix socket → 127.0.0.1:apiPort inside the namespace (a process there), 127.0.0.1:PORT → the socket here
      nsRelay = startDaemon('relay', process.execPath, ['--import', 'tsx', join(repoRoot, 'test/netlab/relay.ts'), '--unix', relaySock, '--connect', `127.0.0.1:${apiPort}`],
        join(dataDir, 'relay.log'), netns);
      rootRelay = await relayTcpToUnix('127.0.0.1', freeApiPort, relaySock);
    }
    log(`etcd healthy on ${etcdUrl}`);

    const apiArgs = [
      `--etcd-servers=${etcdUrl}`, `--bind-address=${opts.bindAddress ?? '127.0.0.1'}`, `--secure-port=${apiPort}`,
      `--advertise-address=${opts.advertiseAddress ?? '127.0.0.1'}`,
      `--tls-cert-file=${join(pki, 'apiserver.crt')}`, `--tls-private-key-file=${join(pki, 'apiserver.key')}`,
      `--client-ca-file=${join(pki, 'ca.crt')}`, '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc', `--service-account-key-file=${join(pki, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
      `--service-cluster-ip-range=${(opts.serviceCIDRs ?? ['10.96.0.0/16', 'fd00:10:96::/108']).join(',')}`, // by default allocation only; never routed
      '--disable-admission-plugins=ServiceAccount', // no controller-manager, hence no token controller
      '--enable-priority-and-fairness=false', '--allow-privileged=true',
      // informer tests need a watch to hit an expired resourceVersion (410) within seconds: etcd compacts every
      // 10 s, and ConfigMap watches bypass the watch cache (which would otherwise replay recent history)
      '--etcd-compaction-interval=10s', '--watch-cache-sizes=configmaps#0',
      `--endpoint-reconciler-type=${opts.endpointReconciler ?? 'none'}`, // a loopback advertise address is invalid in Endpoints
      // who wrote what: tests assert the writer's identity, not counters another process could move
      `--audit-policy-file=${join(dataDir, 'audit-policy.yaml')}`, `--audit-log-path=${auditLogPath}`, '--audit-log-format=json',
      '--audit-log-mode=blocking', '--audit-log-maxsize=0',
      ...(opts.aggregatorRouting === true ? ['--enable-aggregator-routing=true'] : []),
    ];
    const tls = { ca: await readFile(join(pki, 'ca.crt')), cert: await readFile(join(pki, 'admin.crt')), key: await readFile(join(pki, 'admin.key')) };
    const startApiserver = async (until: number) => {
      const a = (api = startDaemon('kube-apiserver', join(binDir, 'kube-apiserver'), apiArgs, join(dataDir, 'kube-apiserver.log'), netns));
      await poll('kube-apiserver /readyz', until, a, async () => (await httpStatus(`${server}/readyz`, tls)) === 200);
      return a;
    };
    const first = await startApiserver(deadline);
    log(`kube-apiserver ready on ${server}`);
    await poll('namespace "default"', deadline, first, async () => (await kubectl(['get', 'ns', 'default', '-o', 'name'])).code === 0);

    if (opts.crdDir) {
      const files = (await readdir(opts.crdDir)).filter((f) => /\.ya?ml$/.test(f));
      if (files.length === 0) throw new Error(`crdDir ${opts.crdDir} contains no *.yaml files`);
      // Server-side apply: big CRDs (e.g. Gateway API) overflow the client-side last-applied annotation.
      await mustRun(join(binDir, 'kubectl'), ['apply', '--server-side', '-f', opts.crdDir], undefined, env);
      await mustRun(join(binDir, 'kubectl'), ['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s'], undefined, env);
      log(`${files.length} CRD file(s) applied and Established`);
    }
    log('cluster ready');

    return {
      kubeconfigPath, server, binDir, dataDir, auditLogPath, kubectl, stop,
      async userKubeconfig(user, groups = []) {
        const name = `user-${++users}`;
        await issue(pki, name, subj(user, groups), 'client');
        const path = join(dataDir, `${name}.kubeconfig`);
        await writeKubeconfig(path, server, pki, name);
        return path;
      },
      async restartApiserver({ downMs = 2000 } = {}) {
        if (stopping) throw new Error('cluster is stopped');
        if (api) await stopDaemon(api);
        await sleep(downMs);
        await appendFile(join(dataDir, 'kube-apiserver.log'), `\n===== restart at ${new Date().toISOString()} =====\n`);
        await startApiserver(Date.now() + READY_TIMEOUT_MS);
      },
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
