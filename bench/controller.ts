/**
 * Controller benchmark on a real apiserver: Services/s from creation to status written, controller RSS,
 * and a restart with everything allocated (IP changes and writes must both be zero). The controller runs
 * as its own process from the compiled dist/, as in production.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeClient } from '../src/k8s/client.ts';
import { Informer } from '../src/k8s/informer.ts';
import type { Service } from '../src/lb/service.ts';
import { rootLogger } from '../src/log.ts';
import { startCluster } from '../test/harness/cluster.ts';
import { Api, waitFor } from '../test/harness/kube.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const progress = (m: string): void => { process.stderr.write(`[bench] ${m}\n`); };

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => { resolve(p); }); });
  });
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

interface Proc { child: ChildProcess; port: number; restored: Promise<number> }

async function startController(kubeconfig: string): Promise<Proc> {
  const port = await freePort();
  const nodeFlags = (process.env.BAREGATE_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
  const child = spawn(process.execPath, [...nodeFlags, join(root, 'dist/cli/main.js'), 'controller', '--kubeconfig', kubeconfig, '--identity', `bench-${port}`,
    '--metrics-port', String(port), '--metrics-host', '127.0.0.1'], { env: { ...process.env, BAREGATE_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const restored = new Promise<number>((resolve) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /"event":"restored","services":(\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
      if (buf.length > 1e6) buf = buf.slice(-1e5);
    });
  });
  return { child, port, restored };
}

async function writes(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^baregate_api_writes_total\{kind="service_[a-z]+"\} (\d+)/gm)) n += Number(m[1]);
  return n;
}

async function stopProc(p: Proc): Promise<void> {
  if (p.child.exitCode !== null) return;
  const done = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGTERM');
  await done;
}

/** Runs the controller benchmark with `n` Services. */
export async function controllerBench(n: number): Promise<Record<string, number>> {
  progress('building dist/ (tsc)');
  await new Promise<void>((resolve, reject) => {
    const c = spawn('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
    c.on('exit', (code) => { if (code === 0) resolve(); else reject(new Error(`tsc exited ${code}`)); });
  });
  progress('starting cluster');
  const cluster = await startCluster({ crdDir: join(root, 'deploy', 'crds') });
  const client = KubeClient.create({ kubeconfig: cluster.kubeconfigPath, maxSockets: 64 });
  const api = new Api(client);
  const procs: Proc[] = [];
  try {
    await api.namespace('baregate-system');
    await api.namespace('bench');
    await api.pool('bench', { addresses: ['2001:db8:b::/112'] });
    const seen = new Informer<Service>(client, { path: '/api/v1/namespaces/bench/services', log: rootLogger.child({ op: 'bench' }) });
    seen.start();
    await seen.synced;
    const allocated = (): number => seen.list().filter((s) => (s.status?.loadBalancer?.ingress?.length ?? 0) > 0).length;

    // the Services exist before the controller starts, so what is timed is the controller alone
    // (on 2 cores the apiserver's create rate, not the controller, would otherwise set the pace)
    progress(`creating ${n} Services`);
    const tc = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: 48 }, async () => {
      while (next < n) {
        const i = next++;
        await api.service('bench', `s${i}`, { spec: { ipFamilies: ['IPv6'], ipFamilyPolicy: 'SingleStack', allocateLoadBalancerNodePorts: false } });
      }
    }));
    const createMs = performance.now() - tc;
    progress('starting the controller');
    const first = await startController(cluster.kubeconfigPath);
    procs.push(first);
    await first.restored;
    const t0 = performance.now();
    await waitFor(`${n} Services allocated`, () => Promise.resolve(allocated() === n), 600_000);
    const t1 = performance.now();
    await new Promise((r) => setTimeout(r, 2000));
    const rss = rssMiB(first.child.pid!);
    const firstWrites = await writes(first.port);
    const ips = new Map(seen.list().map((s) => [s.metadata.name, JSON.stringify(s.status?.loadBalancer?.ingress)]));
    await stopProc(first);

    progress('restarting the controller');
    const tr = performance.now();
    const second = await startController(cluster.kubeconfigPath);
    procs.push(second);
    const restored = await second.restored;
    const restoreMs = performance.now() - tr;
    await new Promise((r) => setTimeout(r, 3000));
    const restartWrites = await writes(second.port);
    let changed = 0;
    for (const s of seen.list()) if (ips.get(s.metadata.name) !== JSON.stringify(s.status?.loadBalancer?.ingress)) changed++;
    const rss2 = rssMiB(second.child.pid!);
    seen.stop();
    return {
      controller_services: n,
      controller_services_per_s: Math.round(n / ((t1 - t0) / 1000)),
      controller_all_allocated_ms: Math.round(t1 - t0),
      controller_service_writes: firstWrites,
      apiserver_create_rate_per_s: Math.round(n / (createMs / 1000)),
      controller_rss_mib: rss,
      restart_restored_services: restored,
      restart_to_restored_ms: Math.round(restoreMs),
      restart_ip_changes: changed,
      restart_service_writes: restartWrites,
      restart_rss_mib: rss2,
    };
  } finally {
    for (const p of procs) await stopProc(p);
    client.destroy();
    await cluster.stop();
  }
}
