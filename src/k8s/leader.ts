/**
 * Leader election on a coordination.k8s.io/v1 Lease, the same protocol client-go uses: the holder
 * renews `renewTime`; others take over once they have seen the record unchanged for a whole
 * `leaseDurationSeconds` (measured on their own clock, so clock skew between nodes does not matter).
 * Updates carry the resourceVersion, so two candidates can never both win.
 */
import type { Logger } from '../log.ts';
import { statusMessage, type KubeClient } from './client.ts';

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

/** Leader election settings. */
export interface LeaderOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds?: number;
  /** How long the leader keeps trying to renew before it gives up leadership. */
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log: Logger;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

const microTime = (d: Date): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/** See the module comment. */
export class LeaderElector {
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private observed: { raw: string; at: number } | undefined;
  private lastRenew = 0;

  constructor(private readonly client: KubeClient, private readonly o: LeaderOptions) {}

  /** Whether this process currently holds the lease. */
  get isLeader(): boolean {
    return this.leading;
  }

  /** Starts campaigning in the background. */
  start(): void {
    this.stopped = false;
    void this.tick();
  }

  /** Stops; a leader releases the lease so a standby takes over without waiting for expiry. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.leading) {
      this.leading = false;
      try {
        const cur = await this.get();
        if (cur && cur.spec.holderIdentity === this.o.identity) {
          cur.spec.holderIdentity = '';
          cur.spec.leaseDurationSeconds = 1;
          await this.client.request('PUT', this.path(cur.metadata.name), cur);
        }
      } catch (e) {
        this.o.log.warn({ event: 'lease_release_failed', err: String(e) }, 'could not release lease');
      }
    }
  }

  /** Re-read after awaits: stop() may have run meanwhile. */
  private isStopped(): boolean {
    return this.stopped;
  }

  private path(name?: string): string {
    const base = `/apis/coordination.k8s.io/v1/namespaces/${this.o.namespace}/leases`;
    return name ? `${base}/${name}` : base;
  }

  private async get(): Promise<Lease | undefined> {
    const r = await this.client.request<Lease>('GET', this.path(this.o.name));
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new Error(`get lease: ${statusMessage(r)}`);
    return r.body;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew();
    } catch (e) {
      this.o.log.warn({ event: 'lease_error', err: String(e) }, 'lease request failed');
    }
    const now = Date.now();
    if (ok) this.lastRenew = now;
    if (ok && !this.leading && !this.isStopped()) {
      this.leading = true;
      this.o.log.info({ event: 'leader_elected', identity: this.o.identity }, 'became leader');
      this.o.onStartedLeading();
    } else if (!ok && this.leading && now - this.lastRenew > (this.o.renewDeadlineMs ?? 10_000)) {
      this.leading = false;
      this.o.log.warn({ event: 'leader_lost', identity: this.o.identity }, 'lost leadership');
      this.o.onStoppedLeading();
    }
    if (!this.isStopped()) this.timer = setTimeout(() => { void this.tick(); }, this.o.retryPeriodMs ?? 2000);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const duration = this.o.leaseDurationSeconds ?? 15;
    const cur = await this.get();
    if (!cur) {
      const lease: Lease = {
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
        metadata: { name: this.o.name, namespace: this.o.namespace },
        spec: { holderIdentity: this.o.identity, leaseDurationSeconds: duration, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
      };
      const r = await this.client.request('POST', this.path(), lease);
      return r.status === 201;
    }
    const raw = JSON.stringify(cur.spec);
    if (this.observed?.raw !== raw) this.observed = { raw, at: now.getTime() };
    const holder = cur.spec.holderIdentity ?? '';
    const mine = holder === this.o.identity;
    const expired = this.observed.at + (cur.spec.leaseDurationSeconds ?? duration) * 1000 < now.getTime();
    if (!mine && holder !== '' && !expired) return false;
    const spec = {
      holderIdentity: this.o.identity,
      leaseDurationSeconds: duration,
      acquireTime: mine ? cur.spec.acquireTime ?? microTime(now) : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: (cur.spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
    };
    const r = await this.client.request<Lease>('PUT', this.path(this.o.name), { ...cur, spec });
    if (r.status === 200) {
      this.observed = { raw: JSON.stringify(r.body.spec), at: now.getTime() };
      return true;
    }
    return false;
  }
}
