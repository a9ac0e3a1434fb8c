/**
 * Gateway planner benchmark: one `planGateways` pass over 10k Services and 20 GatewayIntegrations (half the
 * Services matched; 10 integrations with fixed addresses, 10 with a pool), and the webhook's `gatewayMutator` per
 * Service creation. The planner runs on every cache change of the leader (debounced), so its cost bounds how
 * fast the gateway controller follows a busy cluster. Pure code, in-memory data only: IPv4 from 198.18.0.0/15
 * (RFC 2544's benchmark range, never on a wire), pools by prefix. CPU time, median over rounds after warm-up.
 */
import type { GatewayIntegration } from '../src/api/gatewayintegration.ts';
import { gatewayMutator } from '../src/gateway/mutate.ts';
import { planGateways } from '../src/gateway/plan.ts';
import type { GatewayService, GatewayWorld, MutationWorld } from '../src/gateway/types.ts';
import { cpuNs, settle } from './cpu.ts';

const v4 = (i: number): string => `198.${18 + ((i >> 16) & 1)}.${(i >> 8) & 255}.${i & 255}`;

/** The benchmark world: `services` Services, `integrations` integrations, every other Service matched. */
export function gatewayWorld(services: number, integrations: number): GatewayWorld {
  const ints: GatewayIntegration[] = [];
  for (let k = 0; k < integrations; k++) {
    const fixed = k % 2 === 0;
    ints.push({
      metadata: { name: `gi${k}`, creationTimestamp: `2026-01-01T00:00:${String(k).padStart(2, '0')}Z` },
      spec: {
        profile: 'custom', selector: { matchLabels: { gw: `g${k}` } }, disableNodePorts: true,
        // fixed integrations: two addresses each (one held, one free); the others allocate from the pool
        ...(fixed ? { addresses: [v4(60_000 + 2 * k), v4(60_001 + 2 * k)] } : { pool: 'gw' }),
      },
    });
  }
  const svcs: GatewayService[] = [];
  for (let n = 0; n < services; n++) {
    const matched = n % 2 === 0;
    svcs.push({
      metadata: {
        name: `s${n}`, namespace: `ns${n % 50}`, uid: `u${n}`, creationTimestamp: '2026-01-02T00:00:00Z',
        labels: matched ? { gw: `g${(n / 2) % integrations}` } : { app: 'other' },
      },
      spec: { type: 'LoadBalancer', ipFamilies: ['IPv4'], ports: [{ name: 'http', port: 80, protocol: 'TCP', ...(n % 3 === 0 ? { nodePort: 30000 + (n % 2000) } : {}) }] },
      status: { loadBalancer: { ingress: [{ ip: v4(n) }] } },
    });
  }
  return { integrations: ints, services: svcs, gateways: [], namespaceLabels: () => ({}), poolOf: (ip) => (ip.startsWith('198.1') ? 'gw' : undefined) };
}

function medianMs(rounds: number, f: () => void): number {
  const xs: number[] = [];
  for (let r = 0; r < rounds + 2; r++) {
    settle();
    const t = cpuNs();
    f();
    if (r >= 2) xs.push((cpuNs() - t) / 1e6);
  }
  xs.sort((a, b) => a - b);
  return Number((xs[Math.floor(xs.length / 2)] ?? 0).toFixed(2));
}

/** `gateway_plan_10k_x20_ms` (one planning pass), `gateway_mutate_us` (one admission, 20 integrations). */
export function gatewayBench(): Record<string, unknown> {
  const world = gatewayWorld(10_000, 20);
  let matched = 0;
  const planMs = medianMs(7, () => { matched = planGateways(world).services.size; });
  const mw: MutationWorld = { integrations: world.integrations, namespaceLabels: () => ({}), gateways: [] };
  const mutate = gatewayMutator(() => mw);
  const creations = world.services.slice(0, 2000).map((s) => ({ ...s, status: {} }));
  let ops = 0;
  const batchMs = medianMs(5, () => { for (const s of creations) ops += (mutate(s, s.metadata.namespace ?? '') as readonly unknown[]).length; });
  return {
    gateway_plan_10k_x20_ms: planMs,
    gateway_plan_matched: matched,
    gateway_mutate_us: Number(((batchMs * 1000) / creations.length).toFixed(2)),
    gateway_mutate_ops: ops > 0,
  };
}
