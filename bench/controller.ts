/**
 * Controller benchmark on a real apiserver: Services/s from creation to status written, against the
 * apiserver-bound limit (a bare client making the same writes per Service, with the same concurrency, on
 * the same apiserver in the same run); controller RSS; a restart with everything allocated (IP changes
 * and writes of any kind must all be zero); and reconciles and writes per Service while Services are
 * being created under a running controller. The controller runs as its own process from the compiled
 * dist/, as in production.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ALLOCATED_FROM_POOL } from '../src/api/keys.ts';
import { KubeClient } from '../src/k8s/client.ts';
import { Informer } from '../src/k8s/informer.ts';
import { RestStatusWriter } from '../src/k8s/ports.ts';
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
    '--metrics-port', String(port), '--metrics-host', '127.0.0.1', '--webhook-port', '0'], { env: { ...process.env, BAREGATE_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'] });
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

/** Write requests of every kind (Service status and annotation, pool status, events) and reconciles so far. */
async function counters(port: number): Promise<{ writes: number; serviceWrites: number; reconciles: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let writes = 0;
  let serviceWrites = 0;
  for (const m of text.matchAll(/^baregate_api_writes_total\{kind="([a-z_]+)"\} (\d+)/gm)) {
    writes += Number(m[2]);
    if (m[1]?.startsWith('service_') === true) serviceWrites += Number(m[2]);
  }
  const reconciles = Number(/^baregate_reconciles_total (\d+)/m.exec(text)?.[1] ?? NaN);
  return { writes, serviceWrites, reconciles };
}

/** The controller's work queue concurrency and client socket limit (its defaults). */
const CONCURRENCY = 16;

/** Creates Services `prefix0..n-1` in `ns` with 48 creators in parallel; returns the time taken. */
async function createServices(api: Api, ns: string, prefix: string, n: number, spec: Record<string, unknown> = {}): Promise<number> {
  const t = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: 48 }, async () => {
    while (next < n) {
      const i = next++;
      await api.service(ns, `${prefix}${i}`, { spec: { ipFamilies: ['IPv6'], ipFamilyPolicy: 'SingleStack', allocateLoadBalancerNodePorts: false, ...spec } });
    }
  }));
  return performance.now() - t;
}

/**
 * The apiserver-bound limit: the writes the controller makes for a new Service (status patch, then the
 * pool annotation patch, through the same REST writer), for `n` Services of a class no controller
 * serves, by `CONCURRENCY` workers on a client with as many sockets, as fast as they can.
 */
async function bareWrites(kubeconfig: string, ns: string, prefix: string, n: number): Promise<number> {
  const client = KubeClient.create({ kubeconfig, maxSockets: CONCURRENCY });
  const writer = new RestStatusWriter(client);
  try {
    const t = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) {
        const i = next++;
        const ip = `2001:db8:bb::${i.toString(16)}`;
        const a = await writer.serviceIngress(ns, `${prefix}${i}`, [{ ip, ipMode: 'VIP' }]);
        if (a.kind !== 'ok') throw new Error(`bare status write: ${JSON.stringify(a)}`);
        const b = await writer.serviceAnnotation(ns, `${prefix}${i}`, ALLOCATED_FROM_POOL, 'bench');
        if (b.kind !== 'ok') throw new Error(`bare annotation write: ${JSON.stringify(b)}`);
      }
    }));
    return performance.now() - t;
  } finally {
    client.destroy();
  }
}

async function stopProc(p: Proc): Promise<void> {
  if (p.child.exitCode !== null) return;
  const done = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGTERM');
  await done;
}

/** Runs the controller benchmark with `n` Services, then `churn` more created under the running controller. */
export async function controllerBench(n: number, churn = 2000): Promise<Record<string, number>> {
  progress('building dist/ (tsc)');
  const built = Date.now();
  await new Promise<void>((resolve, reject) => {
    const c = spawn('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    c.on('exit', (code) => {
      // tsc emits despite type errors; those are the typecheck's business, a stale dist/ is not
      const main = join(root, 'dist/cli/main.js');
      if (code === 0) resolve();
      else if (existsSync(main) && statSync(main).mtimeMs >= built - 1000) { progress(`tsc exited ${String(code)}; measuring the code it emitted`); resolve(); }
      else reject(new Error(`tsc exited ${String(code)} and emitted no dist/cli/main.js`));
    });
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
    // an advertisement covering every pool: without one each Service would also get a NotAnnounced event
    const adv = await client.request('POST', '/apis/baregate.io/v1beta1/l2advertisements', { apiVersion: 'baregate.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'bench' }, spec: {} });
    if (adv.status !== 201) throw new Error(`creating the L2Advertisement: HTTP ${String(adv.status)}`);
    const seen = new Informer<Service>(client, { path: '/api/v1/namespaces/bench/services', log: rootLogger.child({ op: 'bench' }) });
    seen.start();
    await seen.synced;
    const allocated = (): number => seen.list().filter((s) => (s.status?.loadBalancer?.ingress?.length ?? 0) > 0).length;

    // the Services exist before the controller starts, so what is timed is the controller alone
    // (on 2 cores the apiserver's create rate, not the controller, would otherwise set the pace)
    progress(`creating ${n} Services`);
    const createMs = await createServices(api, 'bench', 's', n);

    // the same writes by a bare client, on Services no controller serves, before any controller runs
    progress(`apiserver-bound limit: a bare client writing status + annotation of ${n} Services`);
    await api.namespace('bench-bare');
    await createServices(api, 'bench-bare', 'b', n, { loadBalancerClass: 'bench.example/none' });
    const bareMs = await bareWrites(cluster.kubeconfigPath, 'bench-bare', 'b', n);
    // gone before the controller starts, so its per-Service counts are about its own Services only
    let del = 0;
    await Promise.all(Array.from({ length: 48 }, async () => {
      while (del < n) await api.deleteService('bench-bare', `b${del++}`);
    }));
    await waitFor('bare Services deleted', async () => {
      const r = await client.request<{ items?: unknown[] }>('GET', '/api/v1/namespaces/bench-bare/services?limit=1');
      return (r.body.items?.length ?? 1) === 0;
    }, 120_000);

    progress('starting the controller');
    const first = await startController(cluster.kubeconfigPath);
    procs.push(first);
    await first.restored;
    const t0 = performance.now();
    await waitFor(`${n} Services allocated`, () => Promise.resolve(allocated() === n), 600_000);
    const t1 = performance.now();
    await new Promise((r) => setTimeout(r, 2000));
    const rss = rssMiB(first.child.pid!);
    const firstCounts = await counters(first.port);
    const ips = new Map(seen.list().map((s) => [s.metadata.name, JSON.stringify(s.status?.loadBalancer?.ingress)]));
    await stopProc(first);

    progress('restarting the controller');
    const tr = performance.now();
    const second = await startController(cluster.kubeconfigPath);
    procs.push(second);
    const restored = await second.restored;
    const restoreMs = performance.now() - tr;
    await new Promise((r) => setTimeout(r, 3000));
    const restartCounts = await counters(second.port);
    let changed = 0;
    for (const s of seen.list()) if (ips.get(s.metadata.name) !== JSON.stringify(s.status?.loadBalancer?.ingress)) changed++;
    const rss2 = rssMiB(second.child.pid!);

    // Services created while the controller runs: what each costs in reconciles and writes of any kind
    progress(`creating ${churn} Services under the running controller`);
    await api.namespace('bench-churn');
    const churnSeen = new Informer<Service>(client, { path: '/api/v1/namespaces/bench-churn/services', log: rootLogger.child({ op: 'bench' }) });
    churnSeen.start();
    await churnSeen.synced;
    const churnBefore = await counters(second.port);
    const tcc = performance.now();
    await createServices(api, 'bench-churn', 'c', churn);
    await waitFor(`${churn} created Services allocated`, () => Promise.resolve(churnSeen.list().filter((s) => (s.status?.loadBalancer?.ingress?.length ?? 0) > 0).length === churn), 600_000);
    const churnMs = performance.now() - tcc;
    await new Promise((r) => setTimeout(r, 2000)); // pool status and events are written after a delay
    const churnAfter = await counters(second.port);
    churnSeen.stop();
    seen.stop();
    const perSecond = n / ((t1 - t0) / 1000);
    const barePerSecond = n / (bareMs / 1000);
    return {
      controller_services: n,
      controller_services_per_s: Math.round(perSecond),
      controller_all_allocated_ms: Math.round(t1 - t0),
      bare_client_services_per_s: Math.round(barePerSecond),
      controller_fraction_of_apiserver_bound: Math.round((perSecond / barePerSecond) * 100) / 100,
      controller_service_writes: firstCounts.serviceWrites,
      controller_writes: firstCounts.writes,
      controller_writes_per_service: Math.round((firstCounts.writes / n) * 100) / 100,
      controller_reconciles_per_service: Math.round((firstCounts.reconciles / n) * 100) / 100,
      apiserver_create_rate_per_s: Math.round(n / (createMs / 1000)),
      controller_rss_mib: rss,
      restart_restored_services: restored,
      restart_to_restored_ms: Math.round(restoreMs),
      restart_ip_changes: changed,
      restart_writes: restartCounts.writes,
      restart_rss_mib: rss2,
      churn_services: churn,
      churn_create_to_allocated_ms: Math.round(churnMs),
      churn_reconciles_per_service: Math.round(((churnAfter.reconciles - churnBefore.reconciles) / churn) * 100) / 100,
      churn_writes_per_service: Math.round(((churnAfter.writes - churnBefore.writes) / churn) * 100) / 100,
      churn_service_writes_per_service: Math.round(((churnAfter.serviceWrites - churnBefore.serviceWrites) / churn) * 100) / 100,
    };
  } finally {
    for (const p of procs) await stopProc(p);
    client.destroy();
    await cluster.stop();
  }
}
