/**
 * `baregate controller`: leader election around the address controller, plus /metrics and health
 * endpoints. Only the leader runs informers and writes; a standby waits for the Lease.
 *
 * Every replica, leading or not, also serves the admission webhooks (both sit behind the webhook Service) with
 * the certificate of the Secret WEBHOOK_CERT_SECRET; the leader creates and rotates that Secret, patches the CA
 * bundle into the webhook configurations, and creates the speakers' heartbeat key Secret when it is absent.
 */
import http from 'node:http';
import os from 'node:os';
import { CONTROLLER_LEASE, LOAD_BALANCER_CLASS, SYSTEM_NAMESPACE, WEBHOOK_PORT, WEBHOOK_SERVICE } from '../api/keys.ts';
import { realClock, type Clock, type Timer } from '../clock.ts';
import { GatewayController } from '../gateway/controller.ts';
import { gatewayMutator } from '../gateway/mutate.ts';
import { planGateways } from '../gateway/plan.ts';
import { KubeClient } from '../k8s/client.ts';
import { GatewayCaches, gatewayServiceInformer, RestGatewayWriter } from '../k8s/gatewayports.ts';
import { LeaderElector } from '../k8s/leader.ts';
import type { Health, ServiceMutator } from '../k8s/ports.ts';
import { ensureHeartbeatSecret } from '../k8s/secrets.ts';
import { apiSnapshotReader, serviceMutationHandler, validatingHandler, WebhookServer } from '../k8s/webhook.ts';
import { CertManager, type CertTiming } from '../k8s/webhookcerts.ts';
import { AddressController } from '../lb/controller.ts';
import { logger, rootLogger } from '../log.ts';
import { enableDefaultMetrics, isLeader, registry } from '../metrics/metrics.ts';

/** Settings of one controller replica. */
export interface ControllerRunOptions {
  kubeconfig?: string | undefined;
  onlyOwnClass?: boolean;
  /** The `spec.loadBalancerClass` this replica serves (`--lb-class`); default `baregate.io/lb`. */
  lbClass?: string;
  identity?: string;
  leaseNamespace?: string;
  leaseName?: string;
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  concurrency?: number;
  /** What to do when leadership is lost: the process exits by default (Kubernetes restarts it clean). */
  onLostLeadership?: () => void;
  /** Namespace of the component's Secrets (webhook certificate, heartbeat key); default SYSTEM_NAMESPACE. */
  namespace?: string;
  /** Admission webhooks and their TLS; absent: off (the default here, so tests that do not care need no TLS). */
  webhook?: WebhookRunOptions;
  /** Whether the leader creates the heartbeat key Secret when it is absent (default off here; on in the command). */
  heartbeatSecret?: boolean;
}

/** Settings of the webhook server and its certificate management. */
export interface WebhookRunOptions {
  /** Port of the HTTPS server; 0: the OS picks one (tests; read it from the handle). */
  port: number;
  /** Address to listen on (default 0.0.0.0). */
  host?: string;
  /** Service name in front of the replicas (default WEBHOOK_SERVICE): the certificate's DNS names derive from it. */
  service?: string;
  /** More DNS names or IPs for the certificate (tests, out-of-cluster runs). */
  extraSans?: readonly string[];
  /** `self`: create/rotate the Secret and patch the caBundle; `external`: cert-manager does, we only read. */
  certMode?: 'self' | 'external';
  /** How often every replica re-reads the certificate Secret, ms (default 10 s). */
  pollMs?: number;
  timing?: Partial<CertTiming>;
  /** Clock of the certificate loop and the handler deadline (default the real one). */
  clock?: Clock;
  /** More Service mutators, after the gateway integrations' own (tests). */
  mutators?: readonly ServiceMutator[];
}

/** The DNS names of the webhook Service as the apiserver may dial it, then the extra names. */
export function webhookNames(service: string, namespace: string, extra: readonly string[] = []): string[] {
  return [...new Set([service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, ...extra])];
}

/** The `baregate controller` flags, as commander parses them. */
export interface ControllerFlags {
  kubeconfig?: string;
  lbClass: string;
  onlyOwnClass: boolean;
  identity?: string;
  leaseNamespace: string;
  leaseDuration: number;
  metricsPort: number;
  metricsHost: string;
  /** fatal, error, warn, info, debug or trace (default info). */
  logLevel?: string;
  /** HTTPS port of the admission webhooks; 0 turns webhooks and certificate management off. */
  webhookPort?: number;
  webhookHost?: string;
  webhookService?: string;
  /** Comma list of more DNS names or IPs for the serving certificate. */
  webhookExtraSans?: string;
  webhookCertMode?: 'self' | 'external';
  /** Namespace of the Secrets (default $POD_NAMESPACE, then SYSTEM_NAMESPACE). */
  namespace?: string;
}

/** Maps the command's flags to replica settings (one place, so a flag cannot be parsed and then dropped). */
export function runOptionsFromFlags(f: ControllerFlags): ControllerRunOptions {
  const port = f.webhookPort ?? WEBHOOK_PORT;
  const extra = (f.webhookExtraSans ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '');
  return {
    kubeconfig: f.kubeconfig, lbClass: f.lbClass, onlyOwnClass: f.onlyOwnClass, leaseNamespace: f.leaseNamespace, leaseDurationSeconds: f.leaseDuration,
    ...(f.identity !== undefined ? { identity: f.identity } : {}),
    namespace: f.namespace ?? process.env.POD_NAMESPACE ?? SYSTEM_NAMESPACE,
    heartbeatSecret: true,
    ...(port > 0 ? { webhook: { port, host: f.webhookHost ?? '0.0.0.0', service: f.webhookService ?? WEBHOOK_SERVICE, extraSans: extra, certMode: f.webhookCertMode ?? 'self' } } : {}),
  };
}

/** The webhook parts of a running replica. */
export interface WebhookRuntime {
  readonly server: WebhookServer;
  readonly certs: CertManager;
  /** Resolves once the server is bound (rejects when the port cannot be bound). */
  readonly listening: Promise<void>;
}

/** A running replica. */
export interface ControllerHandle {
  readonly elector: LeaderElector;
  /** The address controller while this replica leads. */
  current(): AddressController | undefined;
  /** The gateway integrations' controller while this replica leads. */
  gateway(): GatewayController | undefined;
  /** The gateway caches every replica keeps (the mutating webhook reads them). */
  readonly gatewayCaches: GatewayCaches;
  /** What /healthz reports: a leader whose caches stopped following the cluster is unhealthy; a standby is healthy. */
  health(): Health;
  /** What /readyz reports: not ready while webhooks are on and no certificate is loaded yet. */
  ready(): Health;
  /** The webhook server and certificate manager, when webhooks are on. */
  readonly webhook: WebhookRuntime | undefined;
  stop(): Promise<void>;
}

/** Starts one replica: campaigns for the lease and runs the controller while leading. */
export function runController(o: ControllerRunOptions = {}): ControllerHandle {
  const identity = o.identity ?? process.env.POD_NAME ?? `${os.hostname()}-${process.pid}`;
  const log = logger('controller', { identity });
  const client = KubeClient.create({ kubeconfig: o.kubeconfig });
  const namespace = o.namespace ?? SYSTEM_NAMESPACE;
  let ctl: AddressController | undefined;
  let gw: GatewayController | undefined;
  // every replica: the mutating webhook answers from these; the leader's gateway controller reads them too
  const gatewayCaches = new GatewayCaches(client, { log });
  gatewayCaches.start();
  const webhook = o.webhook ? startWebhook(o.webhook, client, namespace, gatewayCaches) : undefined;
  const heartbeat = o.heartbeatSecret === true ? new HeartbeatKeeper(client, namespace) : undefined;
  const elector = new LeaderElector(client, {
    namespace: o.leaseNamespace ?? SYSTEM_NAMESPACE,
    name: o.leaseName ?? CONTROLLER_LEASE,
    identity,
    log,
    ...(o.leaseDurationSeconds !== undefined ? { leaseDurationSeconds: o.leaseDurationSeconds } : {}),
    ...(o.renewDeadlineMs !== undefined ? { renewDeadlineMs: o.renewDeadlineMs } : {}),
    ...(o.retryPeriodMs !== undefined ? { retryPeriodMs: o.retryPeriodMs } : {}),
    onStartedLeading: () => {
      isLeader.set(1);
      webhook?.certs.setLeader(true);
      heartbeat?.start();
      // hold wired both ways: the allocator asks the gateway controller before allocating; the gateway controller
      // requeues a Service in the allocator once its intent is on it
      const lb: AddressController = new AddressController({
        client, log, onlyOwnClass: o.onlyOwnClass ?? false, lbClass: o.lbClass ?? LOAD_BALANCER_CLASS,
        ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
        hold: (svc): string | undefined => gateway.holdReason(svc),
        pauseNamespace: o.namespace ?? SYSTEM_NAMESPACE,
      });
      const gateway: GatewayController = new GatewayController({
        sources: { integrations: gatewayCaches.integrations, namespaces: gatewayCaches.namespaces, namespaceLabels: gatewayCaches.namespaceLabels, gateways: gatewayCaches.gateways, services: gatewayServiceInformer(client, { log }) },
        writer: new RestGatewayWriter(client), events: lb.events, plan: planGateways, log,
        poolOf: (ip) => lb.poolOf(ip), requeue: (key) => { lb.requeue(key); }, alsoWatch: [lb.pools],
      });
      ctl = lb;
      gw = gateway;
      // the allocator starts once the gateway caches listed (its hold answers from them); the gateway controller
      // once the allocator parsed its pools (poolOf)
      gatewayCaches.synced.then(() => (ctl === lb ? lb.start() : undefined)).then(() => (gw === gateway ? gateway.start() : undefined))
        .catch((e: unknown) => { log.error({ event: 'start_failed', err: String(e) }, 'controller start failed'); });
    },
    onStoppedLeading: () => {
      isLeader.set(0);
      webhook?.certs.setLeader(false);
      heartbeat?.stop();
      gw?.stop();
      gw = undefined;
      ctl?.stop();
      ctl = undefined;
      if (o.onLostLeadership) o.onLostLeadership();
      else { log.error({ event: 'exit' }, 'lost leadership; exiting so a clean replica takes over'); process.exit(1); }
    },
  });
  elector.start();
  return {
    elector,
    current: () => ctl,
    gateway: () => gw,
    gatewayCaches,
    health: () => ctl?.health() ?? { ok: true },
    ready: () => (!webhook || webhook.server.ready() ? { ok: true } : { ok: false, reason: webhook.certs.hasServing() ? 'webhook server not listening' : 'webhook certificate not loaded yet' }),
    webhook,
    stop: async () => {
      gw?.stop();
      gw = undefined;
      ctl?.stop();
      ctl = undefined;
      gatewayCaches.stop();
      heartbeat?.stop();
      webhook?.certs.stop();
      await webhook?.server.close();
      await elector.stop();
      isLeader.set(0);
      client.destroy();
    },
  };
}

/** The webhook server (listening at once, serving once a certificate is there) and its certificate manager. */
function startWebhook(w: WebhookRunOptions, client: KubeClient, namespace: string, gateways: GatewayCaches): WebhookRuntime {
  const log = logger('webhook');
  const clock = w.clock ?? realClock;
  const server = new WebhookServer({
    port: w.port, host: w.host ?? '0.0.0.0', log, clock,
    validate: validatingHandler(apiSnapshotReader(client, namespace)),
    mutateService: serviceMutationHandler([gatewayMutator(() => gateways.mutationWorld()), ...(w.mutators ?? [])]),
  });
  const certs = new CertManager({
    client, namespace, names: webhookNames(w.service ?? WEBHOOK_SERVICE, namespace, w.extraSans ?? []), mode: w.certMode ?? 'self', clock, log,
    onServing: (pair) => { server.setCertificate(pair); },
    ...(w.pollMs !== undefined ? { pollMs: w.pollMs } : {}),
    ...(w.timing !== undefined ? { timing: w.timing } : {}),
  });
  const listening = server.listen();
  listening.then(() => { log.info({ event: 'webhook_listening', port: server.port() }, 'webhook server listening'); },
    (e: unknown) => { log.error({ event: 'webhook_listen_failed', err: String(e) }, 'webhook server cannot listen'); });
  certs.start();
  return { server, certs, listening };
}

/**
 * Creates the heartbeat key Secret while leading: at once, retried every 10 s until it is there, then looked at
 * every 5 minutes (a deleted key is made again; an existing one is never replaced).
 */
class HeartbeatKeeper {
  private timer: Timer | undefined;
  private running = false;
  private readonly log = logger('controller', { part: 'heartbeat-secret' });

  constructor(private readonly client: KubeClient, private readonly namespace: string) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.check();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
  }

  private async check(): Promise<void> {
    const r = await ensureHeartbeatSecret(this.client, this.namespace, this.log);
    if (this.running) this.timer = realClock.setTimeout(() => { void this.check(); }, r === 'failed' ? 10_000 : 300_000);
  }
}

/**
 * Serves /metrics, /healthz and /readyz on the given port. /healthz answers 503 with the reason when
 * `health` says the process has stopped working (so the kubelet restarts it); /readyz answers 503 while
 * `ready` says no (the webhook has no certificate yet: the Service must not send the apiserver here).
 */
export function serveMetrics(port: number, host: string, health: () => Health = () => ({ ok: true }), ready: () => Health = () => ({ ok: true })): http.Server {
  enableDefaultMetrics();
  const server = http.createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then((text) => { res.writeHead(200, { 'Content-Type': registry.contentType }); res.end(text); })
        .catch((e: unknown) => { res.writeHead(500); res.end(String(e)); });
    } else if (req.url === '/healthz') {
      let h: Health;
      try { h = health(); } catch (e) { h = { ok: false, reason: `health check threw: ${String(e)}` }; }
      if (h.ok) { res.writeHead(200); res.end('ok'); } else { res.writeHead(503); res.end(h.reason ?? 'unhealthy'); }
    } else if (req.url === '/readyz') {
      let h: Health;
      try { h = ready(); } catch (e) { h = { ok: false, reason: `readiness check threw: ${String(e)}` }; }
      if (h.ok) { res.writeHead(200); res.end('ok'); } else { res.writeHead(503); res.end(h.reason ?? 'not ready'); }
    } else {
      res.writeHead(404); res.end();
    }
  });
  server.on('error', (e) => { logger('metrics').error({ event: 'metrics_server_error', err: String(e) }, 'metrics server error'); });
  server.listen(port, host);
  return server;
}

/** `baregate controller`: runs a replica until SIGTERM/SIGINT. */
export function runControllerCommand(flags: ControllerFlags): void {
  rootLogger.level = flags.logLevel ?? 'info';
  const log = logger('cli');
  const handle = runController(runOptionsFromFlags(flags));
  const server = flags.metricsPort > 0 ? serveMetrics(flags.metricsPort, flags.metricsHost, () => handle.health(), () => handle.ready()) : undefined;
  // the process runs until a signal: the clock's timers are unref'd by design, so without this a
  // replica with --metrics-port 0 could exit while it waits for its next Lease attempt
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const shutdown = (sig: string): void => {
    log.info({ event: 'shutdown', signal: sig }, 'stopping');
    clearInterval(keepAlive);
    server?.close();
    void handle.stop().finally(() => process.exit(0));
  };
  process.once('SIGTERM', () => { shutdown('SIGTERM'); });
  process.once('SIGINT', () => { shutdown('SIGINT'); });
}
