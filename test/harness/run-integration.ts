/**
 * Runs the integration test files against ONE real cluster per run: starts etcd + kube-apiserver,
 * installs our CRDs from deploy/, runs the files one after another (they share the cluster and
 * isolate by namespace and address range), and always stops the cluster, also on failure or Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster } from './cluster.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const files = process.argv.slice(2);
if (files.length === 0) { console.error('no integration test files given'); process.exit(1); }

const t0 = Date.now();
const cluster = await startCluster({ crdDir: join(root, 'deploy', 'crds'), log: (m) => { console.log(`[cluster] ${m}`); } });
console.log(`[cluster] ready in ${Date.now() - t0} ms at ${cluster.server}`);
let code = 1;
try {
  const ns = await cluster.kubectl(['create', 'namespace', 'baregate-system']);
  if (ns.code !== 0) throw new Error(`create baregate-system: ${ns.stderr}`);
  // --test-force-exit: a handle left open by a failing test (an informer, a socket) must not hang the run
  const args = ['--import', 'tsx', '--test', '--test-force-exit', '--test-timeout=300000', '--test-concurrency=1', '--test-reporter=spec', ...files];
  code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, args, {
      stdio: 'inherit',
      env: { ...process.env, BAREGATE_TEST_KUBECONFIG: cluster.kubeconfigPath, BAREGATE_TEST_DATADIR: cluster.dataDir, BAREGATE_LOG_LEVEL: process.env.BAREGATE_LOG_LEVEL ?? 'warn' },
    });
    child.on('exit', (c, sig) => { resolve(c ?? (sig ? 1 : 0)); });
  });
} finally {
  await cluster.stop();
}
process.exit(code);
