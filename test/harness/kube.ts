/**
 * Helpers for integration tests: a client for the shared test cluster, object builders and polling.
 * Tests assert on behaviour (what the API shows), with generous deadlines that only bound a hang.
 */
import { KubeClient } from '../../src/k8s/client.ts';
import { readAudit, type AuditEvent } from './cluster.ts';
import type { Service } from '../../src/lb/service.ts';
import type { IPAddressPoolSpec, IPAddressPool } from '../../src/api/ipaddresspool.ts';
import { until } from './wait.ts';

/** Kubeconfig of the run's cluster (set by run-integration.ts). */
export function kubeconfig(): string {
  const k = process.env.BAREGATE_TEST_KUBECONFIG;
  if (!k) throw new Error('BAREGATE_TEST_KUBECONFIG is not set: run integration tests through `npm run test:integration`');
  return k;
}

/** Data dir of the run's cluster (PKI, audit log; set by run-integration.ts). */
export function dataDir(): string {
  const d = process.env.BAREGATE_TEST_DATADIR;
  if (!d) throw new Error('BAREGATE_TEST_DATADIR is not set: run integration tests through `npm run test:integration`');
  return d;
}

/** The run cluster's audit log so far (writes to Services, pools, events, Leases; Lease reads). */
export function audit(): AuditEvent[] {
  return readAudit(dataDir());
}

/** Successful writes (2xx) to one Service, status and metadata alike, in the order the apiserver got them. */
export function serviceWrites(ns: string, name: string): AuditEvent[] {
  return audit().filter((e) => e.resource === 'services' && e.namespace === ns && e.name === name && e.verb !== 'create' && e.verb !== 'delete' && e.code >= 200 && e.code < 300);
}

/** A client as admin. */
export function client(): KubeClient {
  return KubeClient.create({ kubeconfig: kubeconfig() });
}

/** Polls `fn` until it returns a value other than undefined/false; fails with `what` after the deadline. */
export function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  return until(what, fn, timeoutMs);
}

/** Test API helper bound to one client. */
export class Api {
  constructor(readonly c: KubeClient = client()) {}

  async must<T>(method: string, path: string, body?: unknown, ct?: string): Promise<T> {
    const r = await this.c.request<T>(method, path, body, ct);
    if (r.status >= 300) throw new Error(`${method} ${path}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async namespace(name: string, labels: Record<string, string> = {}): Promise<void> {
    const r = await this.c.request('POST', '/api/v1/namespaces', { metadata: { name, labels } });
    if (r.status !== 201 && r.status !== 409) throw new Error(`create ns ${name}: ${r.status}`);
  }

  async pool(name: string, spec: IPAddressPoolSpec): Promise<IPAddressPool> {
    await this.c.request('DELETE', `/apis/baregate.io/v1beta1/ipaddresspools/${name}`);
    await waitFor(`pool ${name} gone`, async () => (await this.c.request('GET', `/apis/baregate.io/v1beta1/ipaddresspools/${name}`)).status === 404);
    return this.must('POST', '/apis/baregate.io/v1beta1/ipaddresspools', { apiVersion: 'baregate.io/v1beta1', kind: 'IPAddressPool', metadata: { name }, spec });
  }

  async getPool(name: string): Promise<IPAddressPool> {
    return this.must('GET', `/apis/baregate.io/v1beta1/ipaddresspools/${name}`);
  }

  async patchPool(name: string, spec: Partial<IPAddressPoolSpec>): Promise<void> {
    await this.must('PATCH', `/apis/baregate.io/v1beta1/ipaddresspools/${name}`, { spec }, 'application/merge-patch+json');
  }

  async deletePool(name: string): Promise<void> {
    await this.c.request('DELETE', `/apis/baregate.io/v1beta1/ipaddresspools/${name}`);
  }

  async service(ns: string, name: string, opts: { annotations?: Record<string, string>; labels?: Record<string, string>; spec?: Service['spec'] } = {}): Promise<Service> {
    return this.must('POST', `/api/v1/namespaces/${ns}/services`, {
      metadata: { name, namespace: ns, annotations: opts.annotations ?? {}, labels: opts.labels ?? {} },
      spec: { type: 'LoadBalancer', ports: [{ name: 'http', port: 80, protocol: 'TCP' }], selector: { app: name }, ...opts.spec },
    });
  }

  async getService(ns: string, name: string): Promise<Service> {
    return this.must('GET', `/api/v1/namespaces/${ns}/services/${name}`);
  }

  async patchService(ns: string, name: string, patch: unknown): Promise<Service> {
    return this.must('PATCH', `/api/v1/namespaces/${ns}/services/${name}`, patch, 'application/merge-patch+json');
  }

  async deleteService(ns: string, name: string): Promise<void> {
    await this.c.request('DELETE', `/api/v1/namespaces/${ns}/services/${name}`);
  }

  /** Status IPs of a Service. */
  async ips(ns: string, name: string): Promise<string[]> {
    const s = await this.getService(ns, name);
    return (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '');
  }

  /** Waits until the Service shows exactly `n` IPs and returns them. */
  async waitIPs(ns: string, name: string, n = 1, timeoutMs?: number): Promise<string[]> {
    return waitFor(`${ns}/${name} to get ${n} IP(s)`, async () => {
      const ips = await this.ips(ns, name);
      return ips.length === n ? ips : undefined;
    }, timeoutMs);
  }

  /** Events about an object, oldest first. */
  async events(ns: string, name: string): Promise<{ reason: string; message: string; type: string }[]> {
    const r = await this.must<{ items: { reason: string; message: string; type: string; involvedObject: { name: string }; metadata: { creationTimestamp: string } }[] }>(
      'GET', `/api/v1/namespaces/${ns}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`);
    return r.items.filter((e) => e.involvedObject.name === name);
  }

  /** Waits for an event with this reason whose message matches. */
  async waitEvent(ns: string, name: string, reason: string, message: RegExp = /.*/): Promise<string> {
    return waitFor(`event ${reason} ${String(message)} on ${ns}/${name}`, async () => {
      const e = (await this.events(ns, name)).find((x) => x.reason === reason && message.test(x.message));
      return e?.message;
    });
  }
}
