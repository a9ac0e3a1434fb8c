/**
 * Speaker memory at scale (issue 9: resident set ≤ 120 MiB with 10k Services), on the netlab topology (root
 * only): one node namespace running a real `baregate speaker` process, no controller. The bench writes the
 * Services itself, as the controller would: each is created with `baregate.io/ip-allocated-from-pool`, then its
 * `/status` gets one IPv6 ingress IP from a pool inside the node's LAN subnet, so the speaker announces every one
 * of them in L2 mode on eth0 (ICMPv6 NDP; nothing leaves the topology's namespaces).
 *
 * Measured: the speaker process's VmRSS once `status.summary.announced` of its SpeakerStatus equals the count
 * and ~5 s have passed, its VmHWM (peak RSS), and the time from the first status patch to that summary. The
 * speaker is the compiled JS (`node out/cli/main.js speaker`, as a production image runs it; its V8 heap settings
 * come from the speaker command itself, see SPEAKER_V8_FLAGS), or with BENCH_SPEAKER_RUNTIME=tsx the netlab way
 * (`--import tsx`, whose loader adds to the RSS). BENCH_SPEAKER_NODE_ARGS adds node flags (e.g. `--import` of a
 * heap sampler). BENCH_SPEAKER_SERVICES sets the count (default 10000).
 *
 * Of the RSS, ~45 MiB are pages of the node binary itself (file-backed, the same for any node process) and ~15 MiB
 * node's own start-up heap and buffers: the idle speaker is ~70-75 MiB, so the target leaves ~50 MiB for 10k
 * Services, their plan, the takeover state and the L2 announcers.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { API_VERSION, ALLOCATED_FROM_POOL, GROUP, Kinds, VERSION } from '../src/api/keys.ts';
import { KubeClient } from '../src/k8s/client.ts';
import { netlabSkip } from '../test/netlab/netns.ts';
import { Topology, until, type SpeakerProc } from '../test/netlab/topology.ts';
import { descendants } from '../tools/lab/control.ts';

const POOL = 'bench-mem';
/** Inside the node LAN 2001:db8:2::/64, so the speaker picks eth0 by subnet; 65536 addresses, room for the count. */
const POOL_CIDR = '2001:db8:2::1:0/112';
const NS = 'default';
const NODE = 'n1';
const CONCURRENCY = 32;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The i-th Service IP of the pool (i < 65536). */
function ipOf(i: number): string {
  return `2001:db8:2::1:${i.toString(16)}`;
}

/** VmRSS / VmHWM of a process in MiB, from /proc/PID/status. */
function procMemMiB(pid: number): { rss: number; hwm: number } {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(st);
    if (!m?.[1]) throw new Error(`no ${key} in /proc/${pid}/status`);
    return Number(m[1]);
  };
  return { rss: Math.round((kb('VmRSS') / 1024) * 10) / 10, hwm: Math.round((kb('VmHWM') / 1024) * 10) / 10 };
}

/**
 * The pid of the node process running the speaker: `ip netns exec` execs its command, so normally the child's
 * own pid; otherwise the first `node` process among its descendants.
 */
function speakerNodePid(rootPid: number): number {
  const comm = (pid: number): string => { try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return ''; } };
  if (comm(rootPid) === 'node') return rootPid;
  const child = descendants(rootPid).find((r) => comm(r.pid) === 'node');
  if (child) return child.pid;
  throw new Error(`no node process under pid ${rootPid} (comm ${comm(rootPid)})`);
}

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/**
 * Compiles src (tsconfig.build.json) into a temp dir laid out like the checkout (`out/` next to symlinks to
 * package.json, node_modules and the native addon's build dir, which the compiled code finds by relative
 * paths), so the shared `dist/` is not touched. Returns the temp dir and the compiled CLI entry.
 */
function buildDist(log: (m: string) => void): { dir: string; main: string } {
  const dir = mkdtempSync(join(tmpdir(), 'bg-speakermem-'));
  for (const f of ['package.json', 'node_modules']) symlinkSync(join(ROOT, f), join(dir, f));
  mkdirSync(join(dir, 'src', 'native'), { recursive: true });
  symlinkSync(join(ROOT, 'src', 'native', 'build'), join(dir, 'src', 'native', 'build'));
  const t = Date.now();
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(dir, 'out')], { cwd: ROOT, encoding: 'utf8' });
  const main = join(dir, 'out', 'cli', 'main.js');
  // type errors in files in flight elsewhere still emit JS; only a missing entry point is fatal
  if (r.status !== 0) log(`tsc exited ${String(r.status)} (emitted anyway): ${(r.stdout + r.stderr).slice(0, 1500)}`);
  if (!existsSync(main)) { rmSync(dir, { recursive: true, force: true }); throw new Error(`build produced no ${main}`); }
  log(`compiled src in ${Date.now() - t} ms`);
  return { dir, main };
}

/** Starts the compiled speaker in a node namespace and registers it with the topology (so waitReady and destroy see it). */
function startDistSpeaker(topo: Topology, node: string, main: string): SpeakerProc {
  const nodeArgs = (process.env.BENCH_SPEAKER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child = topo.lab.start(node, process.execPath, [...nodeArgs, main, 'speaker', '--node-name', node, '--kubeconfig', topo.node(node).kubeconfig]);
  const exited = new Promise<string>((resolve) => { child.once('exit', (code, sig) => { resolve(sig ? `signal ${sig}` : `code ${String(code)}`); }); });
  const p: SpeakerProc = { node, child, log: '', exited };
  const add = (d: Buffer): void => { p.log = (p.log + d.toString()).slice(-200_000); };
  child.stdout.on('data', add);
  child.stderr.on('data', add);
  topo.speakers.set(node, p);
  return p;
}

/** Runs `fn(i)` for i in [0, n) with `CONCURRENCY` workers; logs progress every `every` items. */
async function forAll(n: number, what: string, fn: (i: number) => Promise<void>, log: (m: string) => void, every = 1000): Promise<void> {
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < n; i = next++) {
      await fn(i);
      if (++done % every === 0) log(`${what}: ${done}/${n}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));
}

/** Runs the bench; returns the `speaker_*` keys (or a skip reason when not root). */
export async function speakerMemoryBench(count = Number(process.env.BENCH_SPEAKER_SERVICES ?? 10_000)): Promise<Record<string, unknown>> {
  if (netlabSkip) {
    process.stderr.write(`\n*** speaker memory bench SKIPPED: ${netlabSkip} ***\n\n`);
    return { speaker_memory: { skipped: netlabSkip } };
  }
  if (!(count > 0 && count <= 65_536)) throw new Error(`BENCH_SPEAKER_SERVICES must be in 1..65536, not ${count}`);
  const runtime = process.env.BENCH_SPEAKER_RUNTIME ?? 'dist';
  if (runtime !== 'dist' && runtime !== 'tsx') throw new Error(`BENCH_SPEAKER_RUNTIME must be dist or tsx, not ${runtime}`);
  const log = (m: string): void => { process.stderr.write(`[speakermem] ${m}\n`); };
  const dist = runtime === 'dist' ? buildDist(log) : undefined;
  const topo = await Topology.start({ nodes: 1, tag: 'sm', bird: false, log }).catch((e: unknown) => {
    if (dist) rmSync(dist.dir, { recursive: true, force: true });
    throw e;
  });
  try {
    const api = KubeClient.create({ kubeconfig: topo.cluster.kubeconfigPath, maxSockets: CONCURRENCY });
    const must = async (method: string, path: string, body?: unknown, ct?: string): Promise<unknown> => {
      for (let attempt = 0; ; attempt++) {
        const r = await api.request(method, path, body, ct).catch((e: unknown) => ({ status: 0, body: String(e) }));
        if (r.status >= 200 && r.status < 300) return r.body;
        // a busy apiserver (429/5xx/connection reset) is retried a few times, anything else is a bench bug
        if (attempt >= 5 || (r.status !== 0 && r.status !== 429 && r.status < 500)) throw new Error(`${method} ${path}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 500)}`);
        await sleep(200 * (attempt + 1));
      }
    };
    await topo.apply(
      { apiVersion: API_VERSION, kind: Kinds.IPAddressPool.kind, metadata: { name: POOL }, spec: { addresses: [POOL_CIDR], autoAssign: false } },
      { apiVersion: API_VERSION, kind: Kinds.L2Advertisement.kind, metadata: { name: POOL }, spec: { ipAddressPools: [POOL] } },
    );
    const sp = dist ? startDistSpeaker(topo, NODE, dist.main) : topo.startSpeaker(NODE);
    await topo.waitReady(NODE);
    const pid = speakerNodePid(sp.child.pid ?? -1);
    const idle = procMemMiB(pid);
    log(`speaker pid ${pid} (child pid ${String(sp.child.pid)}), idle RSS ${idle.rss} MiB`);

    const statusPath = `/apis/${GROUP}/${VERSION}/${Kinds.SpeakerStatus.plural}/${NODE}`;
    const announced = async (): Promise<number> => {
      const r = await api.request<{ status?: { summary?: { announced?: number } } }>('GET', statusPath);
      return r.status === 200 ? r.body.status?.summary?.announced ?? 0 : 0;
    };

    const tCreate = Date.now();
    await forAll(count, 'created', async (i) => {
      const name = `mem-${i}`;
      await must('POST', `/api/v1/namespaces/${NS}/services`, {
        metadata: { name, namespace: NS, annotations: { [ALLOCATED_FROM_POOL]: POOL } },
        spec: { type: 'LoadBalancer', allocateLoadBalancerNodePorts: false, ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6'], ports: [{ port: 80, protocol: 'TCP' }], selector: { app: name } },
      });
    }, log);
    const createMs = Date.now() - tCreate;
    log(`${count} Services created in ${createMs} ms`);

    const tPatch = Date.now();
    let tPatched = 0;
    const patching = forAll(count, 'status patched', async (i) => {
      await must('PATCH', `/api/v1/namespaces/${NS}/services/mem-${i}/status`, { status: { loadBalancer: { ingress: [{ ip: ipOf(i), ipMode: 'VIP' }] } } }, 'application/merge-patch+json');
    }, log).then(() => { tPatched = Date.now(); log(`${count} statuses patched in ${tPatched - tPatch} ms`); });
    let lastLog = 0;
    let seen = 0;
    const tAll = await until(() => `summary.announced to reach ${count} (last ${seen}); speaker log tail:\n${sp.log.slice(-2000)}`, async () => {
      if (sp.child.exitCode !== null || sp.child.signalCode !== null) throw new Error(`speaker exited (${await sp.exited}):\n${sp.log.slice(-3000)}`);
      seen = await announced();
      if (Date.now() - lastLog > 5000) { lastLog = Date.now(); log(`announced ${seen}/${count}, RSS ${procMemMiB(pid).rss} MiB`); }
      return seen >= count ? Date.now() : undefined;
    }, 600_000, 250);
    await patching;
    const announceAllMs = tAll - tPatch;
    log(`announced ${count} ${announceAllMs} ms after the first status patch (${tAll - tPatched} ms after the last)`);
    await sleep(5000);
    const mem = procMemMiB(pid);
    log(`speaker RSS ${mem.rss} MiB, peak ${mem.hwm} MiB`);
    // whether the 5 s figure is garbage V8 has not collected yet (nothing changes any more) or live data
    await sleep(25_000);
    const later = procMemMiB(pid);
    log(`speaker RSS 30 s after: ${later.rss} MiB`);
    return {
      speaker_services: count,
      speaker_rss_mib: mem.rss,
      speaker_peak_rss_mib: mem.hwm,
      speaker_announce_all_ms: announceAllMs,
      speaker_memory: {
        runtime: dist ? 'compiled JS (tsconfig.build.json), node cli/main.js' : 'node --import tsx src/cli/main.ts',
        nodeArgs: dist ? process.env.BENCH_SPEAKER_NODE_ARGS ?? '' : undefined,
        idleRssMiB: idle.rss,
        rssAfter30sMiB: later.rss,
        createServicesMs: createMs,
        patchStatusesMs: tPatched - tPatch,
        announcedAfterLastPatchMs: tAll - tPatched,
        method: `1 node, ${count} single-stack IPv6 LoadBalancer Services (L2, pool ${POOL_CIDR} on eth0), no controller: Services and their status written by the bench at concurrency ${CONCURRENCY}; RSS = VmRSS of the speaker node process 5 s after status.summary.announced reached the count`,
        targets: { rssMiB: 120 },
      },
    };
  } finally {
    try { await topo.destroy(); } finally { if (dist) rmSync(dist.dir, { recursive: true, force: true }); }
  }
}
