/**
 * `baregate controller`: leader election around the address controller, plus /metrics and health
 * endpoints. Only the leader runs informers and writes; a standby waits for the Lease.
 */
import http from 'node:http';
import os from 'node:os';
import { CONTROLLER_LEASE, LOAD_BALANCER_CLASS, SYSTEM_NAMESPACE } from '../api/keys.ts';
import { KubeClient } from '../k8s/client.ts';
import { LeaderElector } from '../k8s/leader.ts';
import type { Health } from '../k8s/ports.ts';
import { AddressController } from '../lb/controller.ts';
import { logger } from '../log.ts';
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
}

/** Maps the command's flags to replica settings (one place, so a flag cannot be parsed and then dropped). */
export function runOptionsFromFlags(f: ControllerFlags): ControllerRunOptions {
  return {
    kubeconfig: f.kubeconfig, lbClass: f.lbClass, onlyOwnClass: f.onlyOwnClass, leaseNamespace: f.leaseNamespace, leaseDurationSeconds: f.leaseDuration,
    ...(f.identity !== undefined ? { identity: f.identity } : {}),
  };
}

/** A running replica. */
export interface ControllerHandle {
  readonly elector: LeaderElector;
  /** The address controller while this replica leads. */
  current(): AddressController | undefined;
  /** What /healthz reports: a leader whose caches stopped following the cluster is unhealthy; a standby is healthy. */
  health(): Health;
  stop(): Promise<void>;
}

/** Starts one replica: campaigns for the lease and runs the controller while leading. */
export function runController(o: ControllerRunOptions = {}): ControllerHandle {
  const identity = o.identity ?? process.env.POD_NAME ?? `${os.hostname()}-${process.pid}`;
  const log = logger('controller', { identity });
  const client = KubeClient.create({ kubeconfig: o.kubeconfig });
  let ctl: AddressController | undefined;
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
      ctl = new AddressController({
        client, log, onlyOwnClass: o.onlyOwnClass ?? false, lbClass: o.lbClass ?? LOAD_BALANCER_CLASS,
        ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
      });
      ctl.start().catch((e: unknown) => { log.error({ event: 'start_failed', err: String(e) }, 'controller start failed'); });
    },
    onStoppedLeading: () => {
      isLeader.set(0);
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
    health: () => ctl?.health() ?? { ok: true },
    stop: async () => {
      ctl?.stop();
      ctl = undefined;
      await elector.stop();
      isLeader.set(0);
      client.destroy();
    },
  };
}

/**
 * Serves /metrics, /healthz and /readyz on the given port. /healthz answers 503 with the reason when
 * `health` says the process has stopped working (so the kubelet restarts it); /readyz is always ok.
 */
export function serveMetrics(port: number, host: string, health: () => Health = () => ({ ok: true })): http.Server {
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
      res.writeHead(200); res.end('ok');
    } else {
      res.writeHead(404); res.end();
    }
  });
  server.on('error', (e) => { logger('metrics').error({ event: 'metrics_server_error', err: String(e) }, 'metrics server error'); });
  server.listen(port, host);
  return server;
}
