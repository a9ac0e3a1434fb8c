/** Starts an in-process controller replica against the test cluster with short, test-friendly leases. */
import { runController, type ControllerHandle } from '../../src/cli/controller.ts';
import type { AddressController } from '../../src/lb/controller.ts';
import { kubeconfig, waitFor } from './kube.ts';

/** A replica plus its identity. */
export interface TestReplica extends ControllerHandle {
  readonly identity: string;
  lost: number;
}

/** Starts a replica; `lease` separates test files so each file's replicas compete only with each other. */
export function startReplica(identity: string, lease: string): TestReplica {
  const r = { identity, lost: 0 } as TestReplica;
  const h = runController({
    kubeconfig: kubeconfig(), identity, leaseName: lease, leaseNamespace: 'baregate-system',
    leaseDurationSeconds: 3, renewDeadlineMs: 2000, retryPeriodMs: 250,
    onLostLeadership: () => { r.lost++; },
  });
  return Object.assign(r, h);
}

/** Waits until the replica leads and its informers are synced. */
export async function leading(r: ControllerHandle): Promise<AddressController> {
  const ctl = await waitFor('replica to lead', () => Promise.resolve(r.current()), 30_000);
  await Promise.all([ctl.services.synced, ctl.pools.synced, ctl.namespaces.synced]);
  return ctl;
}
