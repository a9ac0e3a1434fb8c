/**
 * Runs integration test files against real clusters (etcd + kube-apiserver, our CRDs from deploy/):
 * ONE FRESH CLUSTER PER FILE, the files one after another, and always stops each cluster, also on
 * failure or Ctrl-C.
 *
 * Why a cluster per file: a file's controllers watch the whole cluster, and what one file leaves behind
 * (Services, pools, Leases, events) is work for the next file's controllers: their writes then show up
 * in another file's "writes nothing" assertions, and their load widens every race. A fresh cluster costs a
 * few seconds and makes each file's result depend on that file alone.
 *
 * The spec reporter's output of every file is passed through; a combined summary (`ℹ pass N`, ...) is
 * printed last, so tools/test.sh, which reads the last summary, counts all files.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, type TestCluster } from './cluster.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const files = process.argv.slice(2);
if (files.length === 0) { console.error('no integration test files given'); process.exit(1); }

const totals = new Map<string, number>();
const COUNTED = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo'];

/** Runs one file on `cluster`, echoing its output and adding its summary to the totals; resolves with its exit code. */
function runFile(file: string, cluster: TestCluster): Promise<number> {
  // --test-force-exit: a handle left open by a failing test (an informer, a socket) must not hang the run
  const args = ['--import', 'tsx', '--test', '--test-force-exit', '--test-timeout=300000', '--test-concurrency=1', '--test-reporter=spec', file];
  return new Promise<number>((resolve) => {
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, BAREGATE_TEST_KUBECONFIG: cluster.kubeconfigPath, BAREGATE_TEST_DATADIR: cluster.dataDir, BAREGATE_LOG_LEVEL: process.env.BAREGATE_LOG_LEVEL ?? 'warn' },
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { process.stdout.write(d); out += d; });
    child.on('exit', (c, sig) => {
      // the file's own summary: the last `ℹ <name> <n>` line of each kind
      for (const name of COUNTED) {
        const m = [...out.matchAll(new RegExp(`^ℹ ${name} (\\d+)$`, 'gm'))].at(-1);
        totals.set(name, (totals.get(name) ?? 0) + Number(m?.[1] ?? 0));
      }
      resolve(c ?? (sig ? 1 : 0));
    });
  });
}

let code = 0;
for (const file of files) {
  const t0 = Date.now();
  console.log(`\n[cluster] starting a fresh cluster for ${file}`);
  let cluster: TestCluster | undefined;
  try {
    cluster = await startCluster({ crdDir: join(root, 'deploy', 'crds'), log: (m) => { console.log(`[cluster] ${m}`); } });
    console.log(`[cluster] ready in ${Date.now() - t0} ms at ${cluster.server}`);
    const ns = await cluster.kubectl(['create', 'namespace', 'baregate-system']);
    if (ns.code !== 0) throw new Error(`create baregate-system: ${ns.stderr}`);
    const rc = await runFile(file, cluster);
    if (rc !== 0) code = rc;
  } catch (e) {
    console.error(`[cluster] ${file}: ${e instanceof Error ? e.message : String(e)}`);
    totals.set('fail', (totals.get('fail') ?? 0) + 1);
    code = 1;
  } finally {
    await cluster?.stop();
  }
}
console.log(`\nintegration: ${files.length} file(s), each on its own cluster`);
for (const name of COUNTED) console.log(`ℹ ${name} ${totals.get(name) ?? 0}`);
process.exit(code);
