/**
 * Controller replicas against the test cluster with short, test-friendly leases. Every replica has its
 * own client certificate (user `replica:<identity>`), so the apiserver's audit log says which replica
 * made each write: tests assert the writer's identity instead of counting in-process writes.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runController, type ControllerHandle } from '../../src/cli/controller.ts';
import type { AddressController } from '../../src/lb/controller.ts';
import { clientKubeconfigSync } from './cluster.ts';
import { dataDir, waitFor } from './kube.ts';

/**
 * Lease timing of test replicas: a standby takes over 8 s after the last renewal it saw; a leader steps
 * down 5 s after its last confirmed renewal was sent (each Lease request may take 2.5 s). Generous on
 * purpose: on a loaded CI machine a 2 s renew deadline was seen to pass, and a leader that (correctly)
 * steps down mid-test makes the writer assertions about something else than the test means.
 */
export const TEST_LEASE = { leaseDurationSeconds: 8, renewDeadlineMs: 5000, retryPeriodMs: 500 } as const;

/** The apiserver user name of a replica (what the audit log shows for its requests). */
export const replicaUser = (identity: string): string => `replica:${identity}`;

/** A replica plus its identity. */
export interface TestReplica extends ControllerHandle {
  readonly identity: string;
  lost: number;
}

/** A kubeconfig with the replica's own identity (in system:masters: RBAC is not what these tests are about). */
export function replicaKubeconfig(identity: string): string {
  return clientKubeconfigSync(dataDir(), replicaUser(identity), ['system:masters']);
}

/** Starts an in-process replica; `lease` separates test files so each file's replicas compete only with each other. */
export function startReplica(identity: string, lease: string): TestReplica {
  const r = { identity, lost: 0 } as TestReplica;
  const h = runController({
    kubeconfig: replicaKubeconfig(identity), identity, leaseName: lease, leaseNamespace: 'baregate-system',
    ...TEST_LEASE,
    onLostLeadership: () => { r.lost++; },
  });
  return Object.assign(r, h);
}

/** A replica in a child process. */
export interface ProcessReplica {
  readonly identity: string;
  /** Resolves when it leads with synced informers. */
  readonly leading: Promise<void>;
  /** SIGKILL, as a crash or power loss would: nothing is released. Resolves once the process is gone. */
  kill(): Promise<void>;
}

/** Starts a replica as its own process (see replica-main.ts). */
export function spawnReplica(identity: string, lease: string): ProcessReplica {
  const script = fileURLToPath(new URL('./replica-main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, replicaKubeconfig(identity), identity, lease, JSON.stringify(TEST_LEASE)],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve(); }); });
  const leading = new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; if (out.split('\n').includes('leading')) resolve(); });
    child.once('exit', (code, sig) => { reject(new Error(`replica ${identity} exited (${sig ?? String(code)}) before leading`)); });
  });
  leading.catch(() => undefined);
  return {
    identity, leading,
    kill: async () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); await exited; },
  };
}

/** Waits until the replica leads and its informers are synced. */
export async function leading(r: ControllerHandle): Promise<AddressController> {
  const ctl = await waitFor('replica to lead', () => Promise.resolve(r.current()), 30_000);
  await Promise.all([ctl.services.synced, ctl.pools.synced, ctl.namespaces.synced]);
  return ctl;
}
