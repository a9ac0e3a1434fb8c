/**
 * One controller replica as its own process, so a test can crash it for real (SIGKILL: no release, no
 * cleanup, requests in flight cut). Started by spawnReplica() in controller.ts; prints `leading` once it
 * leads with synced informers, `lost` when it loses leadership.
 * Arguments: kubeconfig identity leaseName timingJSON
 */
import { runController } from '../../src/cli/controller.ts';

const [kubeconfig = '', identity = '', lease = '', timing = '{}'] = process.argv.slice(2);
const t = JSON.parse(timing) as { leaseDurationSeconds: number; renewDeadlineMs: number; retryPeriodMs: number };
const h = runController({
  kubeconfig, identity, leaseName: lease, leaseNamespace: 'baregate-system', ...t,
  onLostLeadership: () => { process.stdout.write('lost\n'); },
});
let announced = false;
setInterval(() => {
  const c = h.current();
  if (!c || announced) return;
  announced = true;
  Promise.all([c.services.synced, c.pools.synced, c.namespaces.synced])
    .then(() => { process.stdout.write('leading\n'); }, (e: unknown) => { process.stderr.write(`sync failed: ${String(e)}\n`); });
}, 50);
