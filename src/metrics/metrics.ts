/** Prometheus metrics (prom-client). Names are `baregate_…`; one registry per process. */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** The process registry, served on /metrics. */
export const registry = new Registry();

let defaults = false;
/** Adds Node.js process metrics (once). */
export function enableDefaultMetrics(): void {
  if (defaults) return;
  defaults = true;
  collectDefaultMetrics({ register: registry, prefix: 'baregate_' });
}

/**
 * Allocation decisions by outcome (allocated, unchanged, failed, released). `failed` counts failure
 * episodes: a Service that keeps failing while it is retried counts once until it succeeds or goes.
 */
export const allocations = new Counter({
  name: 'baregate_allocations_total',
  help: 'Address allocation decisions by result',
  labelNames: ['result'] as const,
  registers: [registry],
});

/**
 * Write requests to the Kubernetes API by kind (service_status, service_annotation, pool_status,
 * event_create, event_patch), whatever their answer: the load we put on the apiserver.
 */
export const apiWrites = new Counter({
  name: 'baregate_api_writes_total',
  help: 'Writes the controller made to the Kubernetes API',
  labelNames: ['kind'] as const,
  registers: [registry],
});

/** Service reconciles (each time the controller decides one Service): ~1 per Service change is the target. */
export const reconciles = new Counter({
  name: 'baregate_reconciles_total',
  help: 'Service reconciles by the address controller',
  registers: [registry],
});

/** Addresses per pool, family and state (assigned / available). Large pools saturate at 2^53; series of deleted pools are removed. */
export const poolAddresses = new Gauge({
  name: 'baregate_pool_addresses',
  help: 'Addresses per pool by family and state',
  labelNames: ['pool', 'family', 'state'] as const,
  registers: [registry],
});

/** 1 while this process is the leader. */
export const isLeader = new Gauge({ name: 'baregate_leader', help: '1 if this controller replica is the leader', registers: [registry] });
