/**
 * `baregate speaker`: the per-node speaker process. This file is the composition root: it builds the real
 * ports (informers on the apiserver, AF_PACKET links, the BGP speaker, UDP heartbeats, the membership Lease,
 * the SpeakerStatus writer, events) and hands them to {@link SpeakerDaemon}; it serves /metrics, /healthz and
 * /readyz, and turns SIGTERM into the daemon's hand-over sequence with a hard deadline.
 *
 * {@link startSpeaker} takes overrides for the data-plane ports, so the integration test runs this very wiring
 * against a real apiserver with fake links, BGP and datagrams (no root, no namespaces).
 */
import http from 'node:http';
import os from 'node:os';
import v8 from 'node:v8';
import { SPEAKER_NAME } from '../api/keys.ts';
import { Speaker } from '../bgp/speaker.ts';
import { realClock, type Clock } from '../clock.ts';
import { parseConfig } from '../config/config.ts';
import { KubeClient, type RequestOptions } from '../k8s/client.ts';
import { ApiEventRecorder } from '../k8s/events.ts';
import type { Health, Requester } from '../k8s/ports.ts';
import { RestSpeakerStatus } from '../k8s/speakerstatus.ts';
import { CarrierWatch } from '../l2/carrier.ts';
import type { NodeInterface } from '../l2/interfaces.ts';
import { logger, rootLogger, type Logger } from '../log.ts';
import { enableDefaultMetrics, observeSpeaker, registry } from '../metrics/metrics.ts';
import { SpeakerDaemon, type BfdPort, type BgpFactory, type CarrierPort, type LinkOpener } from '../speaker/daemon.ts';
import { LeaseWatch, SpeakerLease } from '../speaker/lease.ts';
import { Liveness, UdpPort, type DatagramPort } from '../speaker/liveness.ts';
import { plan } from '../speaker/plan.ts';
import { ClusterSources, informerFactory } from '../speaker/sources.ts';
import type { SpeakerStatusContent, StatusSink } from '../speaker/status.ts';
import { HANDOFF_DRAIN_MS, Handoff, execNft, type NftRunner } from '../speaker/handoff.ts';
import { Takeover } from '../speaker/takeover.ts';

/** The `baregate speaker` flags, as commander parses them. */
export interface SpeakerFlags {
  nodeName?: string;
  kubeconfig?: string;
  metricsPort: number;
  metricsHost: string;
  heartbeatPort: number;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  leaseDuration: number;
  bgpPort: number;
  logLevel: string;
  /**
   * How long connections of a gracefully leaving owner are passed on to it after we take its IP, ms (default
   * HANDOFF_DRAIN_MS; 0 turns connection hand-off off). Needs `nft` and CAP_NET_ADMIN; without them it switches
   * itself off with one warning.
   */
  handoffDrainMs?: number;
}

/** Data-plane ports a caller may replace (tests); everything else is always the real one. */
export interface SpeakerOverrides {
  clock?: Clock;
  openLink?: LinkOpener;
  bgp?: BgpFactory;
  /** BFD sessions (default: real UDP sockets, unless `bgp` is replaced: then none, as nothing real peers). */
  bfd?: BfdPort;
  datagrams?: DatagramPort;
  carrier?: CarrierPort;
  interfaces?: () => readonly NodeInterface[];
  /** Client for every API request (default: from --kubeconfig). */
  client?: KubeClient;
  /** Applies hand-off nft scripts (default: `nft -f -`). */
  nft?: NftRunner;
}

/** A running speaker. */
export interface SpeakerHandle {
  readonly daemon: SpeakerDaemon;
  /** Resolves when caches synced and the first plan ran. */
  readonly started: Promise<void>;
  /** The hand-over sequence, then every socket closed. */
  stop(): Promise<void>;
}

/** This node's interfaces with addresses (os.networkInterfaces; MACs lower-case). */
export function nodeInterfaces(): NodeInterface[] {
  const out: NodeInterface[] = [];
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    if (!addrs || addrs.length === 0) continue;
    out.push({
      name, mac: (addrs[0]?.mac ?? '').toLowerCase(),
      addresses: addrs.map((a) => ({ address: a.address, cidr: a.cidr, family: a.family === 'IPv6' ? 'IPv6' as const : 'IPv4' as const })),
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** {@link CarrierPort} over a {@link CarrierWatch} (sysfs polling every 100 ms). */
function carrierPort(clock: Clock, log: Logger): CarrierPort {
  const cbs: ((ifname: string, up: boolean) => void)[] = [];
  const w = new CarrierWatch({
    clock, onChange: (ifname, up) => { for (const cb of cbs) cb(ifname, up); },
    onError: (err, ifname) => { log.warn({ event: 'carrier_read_failed', ifname, err: String(err) }, 'carrier watch error'); },
  });
  return {
    setInterfaces: (names) => { w.setInterfaces(names); },
    isUp: (ifname) => w.isUp(ifname),
    onChange: (cb) => { cbs.push(cb); },
    stop: () => { w.stop(); },
  };
}

/** The real AF_PACKET links, loaded only when a link is first needed (the native addon). */
async function nativeLinkOpener(clock: Clock, log: Logger): Promise<LinkOpener> {
  const [{ L2Link }, { nativeLinkIo }] = await Promise.all([import('../l2/link.ts'), import('../l2/linkio.ts')]);
  return (ifname, onClaim) => new L2Link({ ifname, log: log.child({ ifname }), io: nativeLinkIo, clock, onClaim });
}

/** BFD on the native addon's UDP sockets (opened only once a BGPPeer names a BFDProfile). */
async function nativeBfd(clock: Clock, log: Logger): Promise<BfdPort> {
  const [{ BfdSessions }, { udpTransport }] = await Promise.all([import('../bfd/sessions.ts'), import('../bfd/socket.ts')]);
  const l = log.child({ part: 'bfd' });
  return new BfdSessions({ transport: udpTransport(l), clock, log: l });
}

/** Starts a speaker for `flags` (with `o` replacing data-plane ports). Throws only for bad settings. */
export async function startSpeaker(flags: SpeakerFlags, o: SpeakerOverrides = {}): Promise<SpeakerHandle> {
  const node = flags.nodeName ?? process.env.NODE_NAME ?? '';
  if (node === '') throw new Error('--node-name (or $NODE_NAME) is required');
  const clock = o.clock ?? realClock;
  const log = logger('speaker', { node });
  const client = o.client ?? KubeClient.create({ kubeconfig: flags.kubeconfig, component: 'speaker' });
  const datagrams = o.datagrams ?? await UdpPort.open({ port: flags.heartbeatPort, log: log.child({ part: 'heartbeat' }), clock });
  const liveness = new Liveness({
    node, port: datagrams, log: log.child({ part: 'liveness' }), clock,
    intervalMs: flags.heartbeatIntervalMs, timeoutMs: flags.heartbeatTimeoutMs, peerPort: flags.heartbeatPort,
  });
  const openLink = o.openLink ?? await nativeLinkOpener(clock, log);
  // a status write's 2xx answer echoes the whole object (~1 MB listing 10k IPs) and nobody reads it: not decoded
  const statusClient: Requester = {
    request: <T>(method: string, path: string, body?: unknown, contentType?: string, opts?: RequestOptions) =>
      client.request<T>(method, path, body, contentType, method === 'PATCH' ? { ...opts, decode: false } : opts),
  };
  const statusRest = new RestSpeakerStatus(statusClient);
  const status: StatusSink = {
    read: async (n) => {
      const r = await statusRest.read(n);
      return r.kind === 'ok' ? { kind: 'ok', status: r.value?.status as SpeakerStatusContent | undefined } : r;
    },
    write: async (n, s) => {
      const r = await statusRest.write(n, s as unknown as Readonly<Record<string, unknown>>);
      return r.kind === 'ok' ? { kind: 'ok' } : r;
    },
  };
  const bgp: BgpFactory = o.bgp ?? ((cfg) => new Speaker({
    config: { routerID: cfg.routerID, myASN: cfg.myASN, listenPort: flags.bgpPort, peers: [], prefixes: [] },
    log: log.child({ part: 'bgp' }), clock,
  }));
  const bfd = o.bfd ?? (o.bgp ? undefined : await nativeBfd(clock, log));
  const drainMs = flags.handoffDrainMs ?? HANDOFF_DRAIN_MS;
  const handoff = drainMs > 0 ? new Handoff({ clock, log: log.child({ part: 'handoff' }), run: o.nft ?? execNft(), drainMs }) : undefined;
  handoff?.start();
  const daemon = new SpeakerDaemon({
    node, clock, log, ...(handoff && { handoff }),
    sources: new ClusterSources(informerFactory(client, log, clock)),
    parseConfig, plan, liveness,
    leases: new LeaseWatch({ clock, defaultDurationSeconds: flags.leaseDuration, log }),
    lease: new SpeakerLease(client, { node, log: log.child({ part: 'lease' }), clock, leaseDurationSeconds: flags.leaseDuration }),
    takeover: (ports) => new Takeover({ node, ports, clock, log: log.child({ part: 'takeover' }) }),
    openLink,
    carrier: o.carrier ?? carrierPort(clock, log),
    interfaces: o.interfaces ?? nodeInterfaces,
    bgp,
    ...(bfd && { bfd }),
    status,
    events: new ApiEventRecorder({ client, component: SPEAKER_NAME, log, clock }),
  });
  const started = daemon.start().catch((e: unknown) => { log.error({ event: 'start_failed', err: String(e) }, 'speaker start failed'); });
  return {
    daemon, started,
    stop: async () => {
      await daemon.shutdown();
      datagrams.close();
      if (!o.client) client.destroy();
    },
  };
}

/**
 * Serves /metrics (the speaker series brought up to date first), /healthz (process sane: never the apiserver's
 * state, see SpeakerDaemon.health) and /readyz (caches synced and own Lease renewed).
 */
export function serveSpeakerMetrics(port: number, host: string, daemon: SpeakerDaemon, log: Logger): http.Server {
  enableDefaultMetrics();
  const answer = (res: http.ServerResponse, h: Health): void => {
    if (h.ok) { res.writeHead(200); res.end('ok'); } else { res.writeHead(503); res.end(h.reason ?? 'not ok'); }
  };
  const server = http.createServer((req, res) => {
    try {
      if (req.url === '/metrics') {
        observeSpeaker(daemon.metrics());
        registry.metrics().then((text) => { res.writeHead(200, { 'Content-Type': registry.contentType }); res.end(text); })
          .catch((e: unknown) => { res.writeHead(500); res.end(String(e)); });
      } else if (req.url === '/healthz') answer(res, daemon.health());
      else if (req.url === '/readyz') answer(res, daemon.readiness());
      else { res.writeHead(404); res.end(); }
    } catch (e) {
      log.error({ event: 'metrics_handler_failed', err: String(e) }, 'metrics handler threw');
      res.writeHead(500); res.end();
    }
  });
  server.on('error', (e) => { log.error({ event: 'metrics_server_error', err: String(e) }, 'metrics server error'); });
  server.on('clientError', (_e, sock) => { sock.destroy(); });
  server.listen(port, host);
  return server;
}

/** Longest the SIGTERM sequence may take before the process exits anyway (the pod's grace period is 30 s by default). */
const SHUTDOWN_DEADLINE_MS = 9_500;

/**
 * V8 heap settings of the speaker process, set when `baregate speaker` starts (so every way of starting it, the
 * DaemonSet included, has them; no NODE_OPTIONS needed, and these two are not allowed there anyway).
 *
 * Why: the speaker's live heap at 10k Services is ~30-50 MiB, but V8's defaults are tuned for throughput: the old
 * generation may grow to ~4x the live size between full GCs and the young generation to 32 MiB, which took the
 * process to ~200-250 MiB RSS during a 10k-Service ramp against a target of 120 MiB, on every node of the cluster.
 * The work is bursty (re-plans, status writes) and small between bursts, so a tighter heap costs little CPU:
 * - `--heap-growing-percent=50`: the next full GC comes when the old generation has grown by half of what
 *   survived the last one (V8 picks 10-300% by its own heuristics);
 * - `--semi-space-growth-factor=1`: the young generation keeps its initial size instead of doubling up to 32 MiB.
 * Both are read by V8 whenever it recomputes its limits, so setting them at start-up takes effect (a semi-space
 * maximum would have to be given before the heap exists, i.e. on the node command line). A flag the operator set
 * on the command line or in NODE_OPTIONS wins.
 */
export const SPEAKER_V8_FLAGS: readonly string[] = ['--heap-growing-percent=50', '--semi-space-growth-factor=1'];

/** Applies {@link SPEAKER_V8_FLAGS} except those the process was started with; returns the ones applied. */
export function applySpeakerHeapFlags(given: readonly string[] = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]): string[] {
  const norm = (f: string): string => f.split('=')[0]?.replace(/_/g, '-') ?? f;
  const set = new Set(given.map(norm));
  const applied = SPEAKER_V8_FLAGS.filter((f) => !set.has(norm(f)));
  for (const f of applied) v8.setFlagsFromString(f);
  return applied;
}

/** `baregate speaker`: runs until SIGTERM/SIGINT, then hands over and exits 0. */
export async function runSpeakerCommand(flags: SpeakerFlags): Promise<void> {
  const heapFlags = applySpeakerHeapFlags();
  rootLogger.level = flags.logLevel;
  const log = logger('speaker-cli');
  log.debug({ event: 'v8_flags', flags: heapFlags }, 'heap settings applied');
  const h = await startSpeaker(flags);
  const server = flags.metricsPort > 0 ? serveSpeakerMetrics(flags.metricsPort, flags.metricsHost, h.daemon, log) : undefined;
  // clock timers are unref'd by design: the process lives until a signal
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let stopping = false;
  const shutdown = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ event: 'shutdown', signal: sig }, 'stopping: handing over');
    const t0 = Date.now();
    setTimeout(() => { log.warn({ event: 'shutdown_deadline', ms: SHUTDOWN_DEADLINE_MS }, 'shutdown took too long; exiting'); process.exit(0); }, SHUTDOWN_DEADLINE_MS).unref();
    void h.stop().finally(() => {
      clearInterval(keepAlive);
      server?.close();
      log.info({ event: 'exit', ms: Date.now() - t0 }, 'stopped');
      process.exit(0);
    });
  };
  process.once('SIGTERM', () => { shutdown('SIGTERM'); });
  process.once('SIGINT', () => { shutdown('SIGINT'); });
}
