/**
 * The lab program behind `npm run lab` and `baregate lab` (issue 10): `up` brings the lab up (tools/lab/cluster.ts),
 * applies the example configuration, deploys a demo app with an L2 and a BGP Service, shows that both clients
 * reach them, adds the ingress gateways (tools/lab/gateway.ts: nginx pods behind ingress-nginx- and Istio-shaped
 * Services whose fixed IPs and NodePorts-off come from GatewayIntegrations) and shows them reached, then stays up and serves the control socket (control.ts) until Ctrl-C, SIGTERM or `lab down`.
 * `up --once` checks and tears down, its exit code saying whether traffic flowed. `down`, `status` and
 * `failover` talk to the running `up` through the socket; `down` also cleans up after an `up` that died.
 *
 *   node --import tsx tools/lab/main.ts up|down|status|failover [--nodes N] [--once] [--tag T]
 *
 * Output is for a person at a terminal: plain lines, no stack traces (BAREGATE_LAB_DEBUG=1 adds them).
 * BAREGATE_LAB_RUN_DIR moves the run directory (control.ts); BAREGATE_LAB_IMPL names another module exporting
 * `startLab` (to try this program against a stand-in).
 */
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { formatProblems, labFlags, labPrerequisites, machineProbe, type LabFlags } from '../../src/cli/lab.ts';
import { formatTable, statusReport, type StatusReport } from '../../src/cli/status.ts';
import { KubeClient } from '../../src/k8s/client.ts';
import { readStatusInputs } from '../../src/k8s/speakerstatus.ts';
import { until } from '../../test/harness/wait.ts';
import type { HttpResult } from '../../test/netlab/topology.ts';
import type { LabCluster, StartLab } from './api.ts';
import { checkGateways, DEFAULT_GATEWAY_MODE, deployGateways, formatGatewayChecks, GatewayModes, type GatewayCheck, type LabGateway } from './gateway.ts';
import {
  alive, claim, cleanLeftovers, descendants, labNamespaces, labRunDir, listNamespaces, procRef, readState,
  release, requestControl, serveControl, writeState, type LabState,
} from './control.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEBUG = process.env.BAREGATE_LAB_DEBUG === '1';
const CLI = 'npm run -s baregate --';

/** The demo: one app on every node, an L2 Service and a BGP Service selecting it. */
const DEMO = { app: 'demo', l2: 'demo', bgp: 'demo-routed', l2Pool: 'lan', bgpPool: 'routed' } as const;

const say = (s = ''): void => { process.stdout.write(`${s}\n`); };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const errText = (e: unknown): string => (e instanceof Error ? (DEBUG ? e.stack ?? e.message : e.message) : String(e));
const url = (ip: string, path = '/'): string => `http://${ip.includes(':') ? `[${ip}]` : ip}${path}`;
const has = (cmd: string): boolean => machineProbe().has(cmd);

/** One checked Service IP: who announces it and what the client got. */
interface IPCheck {
  readonly service: string;
  readonly ip: string;
  readonly mode: 'L2' | 'BGP';
  /** Namespace name (short) the request came from. */
  readonly from: 'client' | 'wclient';
  /** Nodes announcing it, from the SpeakerStatus objects (what `baregate status` shows). */
  owners: string[];
  /** L2: the node whose MAC answered ARP/NDP from the client. */
  answeredBy?: string;
  answer?: string;
  error?: string;
  /** Time from the start of the check to the first answer. */
  ms?: number;
}

// ───────────── up ─────────────

/** The lab's status report from the SpeakerStatus objects (in-process `baregate status`). */
async function report(lab: LabCluster): Promise<StatusReport> {
  const client = KubeClient.create({ kubeconfig: lab.kubeconfigPath, component: 'lab' });
  try {
    return statusReport(await readStatusInputs(client), Date.now());
  } finally {
    client.destroy();
  }
}

/** Waits for an IP's announcers and an HTTP answer from its client (both bounded); never throws. */
async function checkIP(lab: LabCluster, c: IPCheck, waitMs: number): Promise<IPCheck> {
  const t0 = Date.now();
  const owners = until(`announcers of ${c.ip}`, async () => {
    const a = (await report(lab)).services.flatMap((s) => s.announcements).find((x) => x.ip === c.ip);
    return a !== undefined && a.nodes.length > 0 && a.mode.includes(c.mode) ? [...a.nodes] : undefined;
  }, waitMs, 250).then((o) => { c.owners = o; }, () => undefined);
  let last = '';
  const answer = until(() => `an answer from ${c.ip}: ${last}`, async () => {
    const r = await lab.httpGet(c.from, url(c.ip), 2000);
    if (r.status === 200) return r.body ?? '';
    last = r.error ?? `HTTP ${String(r.status)}`;
    return undefined;
  }, waitMs, 300).then((body) => { c.answer = body.trim(); c.ms = Date.now() - t0; }, () => { c.error = last || 'no answer'; });
  await Promise.all([owners, answer]);
  if (c.mode === 'L2') {
    const macs = await lab.whoAnswers(c.ip).catch(() => []);
    const names = macs.map((m) => lab.nodeByMac(m)?.name ?? m);
    if (names.length > 0) c.answeredBy = names.join(',');
  }
  return c;
}

/** The IPs of both demo Services, checked from their clients (L2: the LAN client; BGP: the client behind the router). */
async function checkDemo(lab: LabCluster, waitMs: number): Promise<IPCheck[]> {
  const [l2, bgp] = await Promise.all([lab.waitServiceIPs(DEMO.l2, 2, waitMs), lab.waitServiceIPs(DEMO.bgp, 2, waitMs)]);
  const checks: IPCheck[] = [
    ...l2.map((ip): IPCheck => ({ service: DEMO.l2, ip, mode: 'L2', from: 'client', owners: [] })),
    ...bgp.map((ip): IPCheck => ({ service: DEMO.bgp, ip, mode: 'BGP', from: 'wclient', owners: [] })),
  ];
  return Promise.all(checks.map((c) => checkIP(lab, c, waitMs)));
}

/** The checks as a table a person reads. */
function printChecks(lab: LabCluster, checks: readonly IPCheck[]): void {
  const rows = checks.map((c) => [
    c.service, c.ip, c.mode, c.owners.length > 0 ? c.owners.join(',') : '<none yet>',
    c.answeredBy !== undefined ? c.answeredBy : c.mode === 'L2' ? '<nobody>' : '-',
    `${c.from} (${lab.lab.ns(c.from)})`,
    c.answer !== undefined ? `${c.answer} (after ${secs(c.ms ?? 0)})` : `FAILED: ${c.error ?? '?'}`,
  ]);
  const head = ['SERVICE', 'IP', 'MODE', 'ANNOUNCED BY', 'ARP/NDP', 'FROM', 'HTTP ANSWER'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  for (const r of [head, ...rows]) say(`  ${r.map((x, i) => (i === r.length - 1 ? x : x.padEnd(w[i] ?? 0))).join('  ')}`);
}

/** How to use the running lab (printed after `up`). */
function usage(lab: LabCluster, checks: readonly IPCheck[], gateways: readonly LabGateway[]): string[] {
  const l2v4 = checks.find((c) => c.mode === 'L2' && !c.ip.includes(':'))?.ip ?? '192.0.2.200';
  const l2v6 = checks.find((c) => c.mode === 'L2' && c.ip.includes(':'))?.ip;
  const bgpv4 = checks.find((c) => c.mode === 'BGP' && !c.ip.includes(':'))?.ip ?? '198.51.100.10';
  const curl = has('curl');
  const get = (ns: string, ip: string): string => (curl
    ? `ip netns exec ${lab.lab.ns(ns)} curl '${url(ip)}'`
    : `ip netns exec ${lab.lab.ns(ns)} node -e "fetch('${url(ip)}').then((r) => r.text()).then(console.log)"`);
  return [
    'The lab is up. In another terminal, as root, in this checkout:',
    `  export KUBECONFIG=${lab.kubeconfigPath}`,
    `  ${lab.binDir}/kubectl get svc,pods -o wide          # kubectl of the lab's Kubernetes release`,
    `  ${CLI} status --kubeconfig ${lab.kubeconfigPath}   # which node announces which IP, BGP sessions`,
    `  ${get('client', l2v4)}      # the LAN client (L2)`,
    ...(l2v6 !== undefined ? [`  ${get('client', l2v6)}`] : []),
    `  ${get('wclient', bgpv4)}      # the client behind the BGP router`,
    ...gateways.slice(0, 2).map((g) => `  ${get('client', g.spec.ips[0])}${curl ? ' -i' : ''}      # gateway ${g.spec.service} (nginx; see X-Gateway)`),
    ...(curl ? [] : ['  (curl is not installed here, so the lines above use node; apt-get install curl for curl)']),
    `  ${CLI} lab failover   # kill the node announcing ${l2v4} and time how long traffic stops`,
    `  ${CLI} lab status     # Services, IPs, owners, nodes`,
    `  ${CLI} lab down       # tear it down (or Ctrl-C here)`,
    `Logs of every component: ${lab.dir}`,
  ];
}

/** Explains why startLab failed, plainly. */
function explainStartFailure(e: unknown): string {
  const msg = errText(e);
  if (/build-k8s/.test(msg)) {
    return [
      'baregate lab: the Kubernetes binaries could not be built (tools/build-k8s.sh failed; its output is above).',
      '  fix: run `bash tools/build-k8s.sh` to see why. It needs Go and access to the Go module proxy',
      '  (proxy.golang.org) the first time; later runs reuse ~/.cache/baregate.',
      `  detail: ${msg}`,
    ].join('\n');
  }
  return `baregate lab: the lab could not start: ${msg}`;
}

/** `up` (and `up --once`). */
async function up(flags: LabFlags): Promise<number> {
  const t0 = Date.now();
  const dir = labRunDir();
  const me = procRef(process.pid);
  if (!me) { say('baregate lab: cannot read /proc (is this Linux?)'); return 2; }
  const tag = flags.tag ?? 'lab';
  const state: LabState = { version: 1, owner: me, tag, nodes: flags.nodes, phase: 'starting', startedAt: new Date().toISOString(), namespaces: [], dirs: [], procs: [] };
  for (let attempt = 0; ; attempt++) {
    const c = claim(dir, state);
    if (c.kind === 'claimed') break;
    if (c.kind === 'running') {
      say(`baregate lab: a lab is already running (pid ${c.state.owner.pid}, ${c.state.nodes} node(s), since ${c.state.startedAt}, ${c.state.phase}).`);
      say(`  ${CLI} lab status shows it; ${CLI} lab down stops it.`);
      return 1;
    }
    if (attempt > 0) { say(`baregate lab: cannot take ${dir}/state.json`); return 1; }
    say(`A lab${c.state ? ` (pid ${c.state.owner.pid})` : ''} ended without tearing down; cleaning up what it left:`);
    for (const l of cleanLeftovers(dir, c.state)) say(`  ${l}`);
  }
  process.on('exit', () => { release(dir, me); });

  let lab: LabCluster | undefined;
  let stopping: Promise<never> | undefined;
  let busy = false;
  const saveState = (): void => {
    state.procs = descendants(process.pid);
    if (lab) state.namespaces = labNamespaces(state, listNamespaces());
    writeState(dir, state);
  };
  const shutdown = (why: string, code: number): Promise<never> => (stopping ??= (async (): Promise<never> => {
    const t = Date.now();
    state.phase = 'stopping';
    try { saveState(); } catch { /* best effort */ }
    say(`\n${why}: tearing the lab down…`);
    if (lab) {
      const ok = await Promise.race([lab.destroy().then(() => true, (e: unknown) => { say(`  teardown: ${errText(e)}`); return false; }), sleep(90_000).then(() => false)]);
      if (!ok) say('  teardown did not finish: what is left is removed as this process exits');
    }
    const left = labNamespaces(state, listNamespaces());
    say(left.length === 0 ? `Lab down in ${secs(Date.now() - t)}: no namespace left.` : `Lab down; ${left.length} namespace(s) still there: ${CLI} lab down removes them.`);
    release(dir, me);
    process.exit(code);
  })());

  const server = await serveControl(dir, async (op, out) => {
    if (op === 'down') { out('stopping the lab…'); setImmediate(() => { void shutdown('lab down', 0); }); return 0; }
    if (op === 'status') return statusOp(lab, state, out);
    if (op === 'failover') {
      if (!lab || state.phase !== 'up') { out(`the lab is not up yet (${state.phase})`); return 1; }
      if (busy) { out('a failover is already running'); return 1; }
      busy = true;
      try { return await failoverOp(lab, out); } finally { busy = false; try { saveState(); } catch { /* next refresh */ } }
    }
    out(`unknown request ${JSON.stringify(op)}`);
    return 2;
  });
  server.unref();

  say(`baregate lab: ${flags.nodes} node(s), namespaces bg${tag}-…${flags.once ? ', --once (check, then tear down)' : ''}`);
  say('Starting the control plane (etcd, kube-apiserver, kube-controller-manager, baregate controller), the nodes');
  say('(kube-proxy, speaker), the BIRD router and the clients. Kubernetes binaries missing from ~/.cache/baregate are');
  say('built first, from the Go module proxy: several minutes on 2 cores.');
  // BAREGATE_LAB_IMPL: another module exporting startLab (trying this program against a stand-in)
  const { startLab } = await (process.env.BAREGATE_LAB_IMPL !== undefined
    ? import(pathToFileURL(process.env.BAREGATE_LAB_IMPL).href) as Promise<{ startLab: StartLab }>
    : import('./cluster.ts'));
  try {
    lab = await startLab({ nodes: flags.nodes, tag, log: (m) => { say(`  ${m}`); } });
  } catch (e) {
    say(explainStartFailure(e));
    return 1;
  }
  const tUp = Date.now();
  // the signal handlers test/netlab and the cluster harness install kill everything at once and exit; from here the
  // lab is torn down in order instead (their 'exit' handlers stay as the safety net)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.removeAllListeners(sig);
    process.on(sig, () => {
      if (stopping) { say('\nforced exit: the exit handlers remove what is left'); process.exit(130); }
      void shutdown(sig === 'SIGINT' ? 'Ctrl-C' : sig, flags.once ? 130 : 0);
    });
  }
  state.nsPrefix = lab.lab.prefix;
  state.kubeconfig = lab.kubeconfigPath;
  state.binDir = lab.binDir;
  state.dirs = [...new Set([lab.dir, dirname(lab.kubeconfigPath)])];
  saveState();
  say(`Lab up in ${secs(tUp - t0)}.`);

  let checks: IPCheck[];
  let gateways: LabGateway[] = [];
  let gwChecks: GatewayCheck[] = [];
  try {
    say('Applying the example pools (lan: L2, routed: BGP), the L2Advertisement, BGP peers and advertisement…');
    await lab.applyBaseConfig({ bgp: true });
    const nodes = lab.nodes.map((n) => n.name);
    say(`Deploying app ${DEMO.app}: one pod on each of ${nodes.join(', ')}…`);
    await lab.deployApp(DEMO.app, nodes);
    say(`Creating LoadBalancer Services ${DEMO.l2} (pool ${DEMO.l2Pool}, L2) and ${DEMO.bgp} (pool ${DEMO.bgpPool}, BGP), dual-stack…`);
    await lab.lbService(DEMO.l2, { pool: DEMO.l2Pool, selector: DEMO.app });
    await lab.lbService(DEMO.bgp, { pool: DEMO.bgpPool, selector: DEMO.app });
    checks = await checkDemo(lab, 45_000);
    if (!has('nginx')) {
      say('Ingress gateways skipped: nginx is not installed (it serves the gateway pods). Fix: sudo bash tools/setup-debian.sh nginx');
    } else {
      say(`Ingress gateways: nginx pods (ingress-nginx, istio-ingressgateway) proxying to ${DEMO.l2}; their Services, shaped as the charts render them, get fixed IPs and no NodePorts ${DEFAULT_GATEWAY_MODE === GatewayModes.integration ? 'from GatewayIntegrations' : '(stand-in: from their own annotations)'}…`);
      gateways = await deployGateways(lab, { upstream: DEMO.l2, nodes, log: (m) => { say(`  ${m}`); } });
      gwChecks = await checkGateways(lab, gateways, { waitMs: 45_000 });
    }
  } catch (e) {
    say(`baregate lab: setting up the demo failed: ${errText(e)}`);
    if (DEBUG) say(lab.logs());
    return shutdown('demo failed', 1);
  }
  const tChecked = Date.now();
  say();
  printChecks(lab, checks);
  say();
  if (gwChecks.length > 0) {
    for (const l of formatGatewayChecks(gwChecks)) say(l);
    say();
  }
  const ok = (from: string): boolean => checks.filter((c) => c.from === from).every((c) => c.answer !== undefined) && checks.some((c) => c.from === from);
  const gwOk = !has('nginx') || gwChecks.length > 0 && gwChecks.every((c) => c.answer !== undefined && c.nodePorts.length === 0 && c.nodePortNodes.length === 0);
  const flowed = ok('client') && ok('wclient') && gwOk;
  say(flowed
    ? 'Traffic flows: the LAN client reached demo (L2) and the routed client reached demo-routed (BGP), IPv4 and IPv6;\n'
      + (gateways.length > 0 ? `and reached every gateway at its fixed IP through nginx, with no NodePort open for them on any node (${gateways.length} gateway Services).` : '(no ingress gateways: nginx is not installed).')
    : `Traffic did NOT flow everywhere, or a gateway has NodePorts (see FAILED / NODEPORTS above). Component logs: ${lab.dir}`);
  state.phase = 'up';
  state.info = {
    client: lab.lab.ns('client'), wclient: lab.lab.ns('wclient'), ...Object.fromEntries(checks.map((c) => [`${c.service} ${c.ip}`, url(c.ip)])),
    ...Object.fromEntries(gwChecks.map((c) => [`${c.service} ${c.ip}`, url(c.ip)])),
  };
  saveState();

  if (flags.once) {
    say(`Timings: lab up ${secs(tUp - t0)}, demo applied and checked ${secs(tChecked - tUp)}.`);
    return shutdown(flowed ? '--once: checked' : '--once: traffic did not flow', flowed ? 0 : 1);
  }
  say();
  for (const l of usage(lab, checks, gateways)) say(l);
  say('\nCtrl-C tears everything down.');
  server.ref();
  setInterval(() => { try { saveState(); } catch { /* next time */ } }, 10_000).unref();
  return new Promise<number>(() => undefined); // runs until shutdown() exits the process
}

// ───────────── requests served by `up` ─────────────

/** `lab status` inside the `up` process. */
async function statusOp(lab: LabCluster | undefined, state: LabState, out: (s: string) => void): Promise<number> {
  out(`Lab (pid ${state.owner.pid}) ${state.phase}, since ${state.startedAt}; ${state.nodes} node(s); namespaces ${state.nsPrefix ?? `bg${state.tag}-…`}-*`);
  if (!lab) return 0;
  out(`KUBECONFIG=${lab.kubeconfigPath}   kubectl: ${lab.binDir}/kubectl`);
  out(`clients: ${lab.lab.ns('client')} (LAN, L2), ${lab.lab.ns('wclient')} (behind the router, BGP)`);
  out('');
  out(formatTable(await report(lab)).trimEnd());
  out('');
  const pods = [...lab.pods.values()];
  out(pods.length === 0 ? 'No pods.' : 'PODS');
  for (const p of pods) out(`  ${p.name.padEnd(14)} node ${p.node.padEnd(4)} ${p.ipv4.padEnd(16)} ${p.ipv6}  app=${p.app}`);
  const nodes = lab.nodes.map((n) => `${n.name} ${n.ipv4} ${n.ipv6} speaker ${lab.speakerRunning(n.name) ? 'running' : 'STOPPED'}, kube-proxy ${lab.kubeProxyRunning(n.name) ? 'running' : 'STOPPED'}`);
  out('NODES');
  for (const n of nodes) out(`  ${n}`);
  return 0;
}

/**
 * `lab failover` inside the `up` process: the owner of demo's IPv4 crashes (cable cut, speaker SIGKILLed, its pods
 * marked NotReady as the node lifecycle controller would later), a client loop (one new connection every 20 ms)
 * shows how long traffic stops; then the node is brought back.
 */
async function failoverOp(lab: LabCluster, out: (s: string) => void): Promise<number> {
  if (lab.nodes.length < 2) { out(`failover needs at least 2 nodes (this lab has ${lab.nodes.length}): ${CLI} lab up --nodes 3`); return 1; }
  const ip = (await lab.serviceIPs(DEMO.l2)).find((x) => !x.includes(':'));
  if (ip === undefined) { out(`Service ${DEMO.l2} has no IPv4 address`); return 1; }
  const before = await lab.waitOwner(ip, undefined, 10_000);
  const beforeMac = lab.node(before).mac;
  out(`${ip} (Service ${DEMO.l2}) is announced by ${before} (${beforeMac}).`);
  const loop = lab.httpLoop(url(ip), { from: 'client', intervalMs: 20, timeoutMs: 500 });
  const watch = lab.watchNeighbor(ip, { from: 'client', intervalMs: 20 });
  try {
    await until('the client loop answering before the crash', () => loop.results.filter((r) => r.ok).length >= 5 || undefined, 10_000, 20);
    out(`Client ${lab.lab.ns('client')}: one GET every 20 ms (new connection each). Crashing ${before}: cable cut, speaker SIGKILLed…`);
    const t0 = await lab.crash(before);
    const evicted = lab.evictNode(before).then(() => true, (e: unknown) => { out(`  marking ${before}'s pods NotReady failed: ${errText(e)}`); return false; });
    const first = await until('an ARP reply from another node', () => watch.replies.find((r) => r.t >= t0 && r.mac !== beforeMac), 20_000, 5).catch(() => undefined);
    // the outage: from the first request that failed after the crash to the first answer to a request started
    // after that one (requests started while the cable was still being pulled may still succeed)
    const firstFail = (): HttpResult | undefined => loop.results.find((r) => r.t >= t0 && !r.ok);
    const backAfter = (f: HttpResult): HttpResult | undefined => loop.results.find((r) => r.t > f.t && r.ok);
    const settled = await until('traffic to come back after the crash', () => {
      const f = firstFail();
      if (f) { const b = backAfter(f); return b ? { back: b } : undefined; }
      return first !== undefined && Date.now() - first.t > 2000 ? { back: undefined } : undefined;
    }, 20_000, 5).catch(() => undefined);
    await evicted;
    await sleep(1000);
    const results = await loop.stop();
    const since = results.filter((r) => r.t >= t0);
    const failed = since.filter((r) => !r.ok).length;
    const newOwner = lab.nodeByMac(first?.mac ?? '')?.name ?? '?';
    out(`New owner: ${newOwner}${first ? ` (first ARP reply ${first.t - t0} ms after the crash)` : ' (no ARP reply from another node within 20 s)'}.`);
    const back = settled?.back;
    if (!settled) out('Traffic did not come back within 20 s.');
    else if (!back) out(`No request failed: ${since.length} requests since the crash, all answered.`);
    else {
      const answers = [...new Set(results.filter((r) => r.t >= back.t && r.ok).map((r) => r.body ?? ''))].sort();
      out(`Traffic back ${back.t + back.ms - t0} ms after the crash; ${failed} of ${since.length} requests since the crash failed; answers now come from ${answers.join(', ')}.`);
    }
    out(`(${before}'s pods were marked NotReady at once, standing in for the node lifecycle controller's grace period.)`);
    out(`Bringing ${before} back (cable in, speaker restarted, its pods Ready)…`);
    try {
      await lab.revive(before);
      for (const p of lab.pods.values()) if (p.node === before) await lab.setPodReady(p.name, true);
      out(`${before} is back.`);
    } catch (e) {
      out(`${before} could not be brought back: ${errText(e)}; ${CLI} lab down, then up, gives a fresh lab`);
    }
    return settled ? 0 : 1;
  } finally {
    await watch.stop();
    await loop.stop();
  }
}

// ───────────── clients of a running up ─────────────

/** `lab status`. */
async function status(): Promise<number> {
  const dir = labRunDir();
  const s = readState(dir);
  const r = await requestControl(dir, 'status', say, 30_000);
  if (r !== 'absent') return r;
  if (s && !alive(s.owner)) { say(`No lab is running; one (pid ${s.owner.pid}) ended without tearing down: ${CLI} lab down removes what it left.`); return 1; }
  say(s ? `The lab (pid ${s.owner.pid}) is ${s.phase} and not answering yet; try again in a moment.` : 'No lab is running (start one with: sudo npm run lab).');
  return 1;
}

/** `lab failover`. */
async function failover(): Promise<number> {
  const r = await requestControl(labRunDir(), 'failover', say, 120_000);
  if (r !== 'absent') return r;
  say('No lab is running (start one with: sudo npm run lab).');
  return 1;
}

/** `lab down`: asks the running lab to stop; cleans up itself when that lab is gone or does not stop. */
async function down(): Promise<number> {
  const dir = labRunDir();
  const s = readState(dir);
  if (s && alive(s.owner)) {
    const r = await requestControl(dir, 'down', say, 10_000);
    if (r === 'absent') {
      say(`The lab (pid ${s.owner.pid}) does not answer on its socket: sending it SIGTERM.`);
      try { process.kill(s.owner.pid, 'SIGTERM'); } catch { /* gone meanwhile */ }
    }
    const gone = await until('the lab process to exit', () => !alive(s.owner) || undefined, 120_000, 200).then(() => true, () => false);
    if (gone && readState(dir) === undefined && labNamespaces(s, listNamespaces()).length === 0) { say('Lab down.'); return 0; }
    say(gone ? 'The lab process ended but left things behind: removing them.' : `The lab process ${s.owner.pid} did not stop within 120 s: killing it and removing what it left.`);
    for (const l of cleanLeftovers(dir, s)) say(`  ${l}`);
    return 0;
  }
  if (!s) {
    // no state: still remove lab namespaces whose owner (the pid in their name) no longer exists
    const orphans = listNamespaces().filter((n) => {
      const m = /^bg[a-z0-9]{1,6}-([0-9a-z]+)[0-9a-z]{3}-/.exec(n);
      if (!m?.[1] || !n.startsWith('bglab-')) return false;
      return procRef(parseInt(m[1], 36)) === undefined;
    });
    if (orphans.length === 0) { say('No lab is running; nothing to clean.'); return 0; }
    for (const ns of orphans) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    say(`No lab is running; removed ${orphans.length} namespace(s) a dead lab left (${orphans[0] ?? ''} …).`);
    return 0;
  }
  say(`The lab (pid ${s.owner.pid}) is gone without tearing down; removing what it left:`);
  for (const l of cleanLeftovers(dir, s)) say(`  ${l}`);
  return 0;
}

// ───────────── entry ─────────────

/**
 * Runs the lab program with `argv` (`up --nodes 2 --once`, `status`, …) and resolves with its exit code (`up`
 * without --once never resolves: it exits the process when torn down). `baregate lab` calls it in-process when
 * it runs from TypeScript sources; otherwise this file is started as a program.
 */
export async function runLabProgram(argv: string[]): Promise<number> {
  process.chdir(ROOT);
  // `lab status | head`: a closed pipe ends the output, not with a stack trace
  process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(0); });
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { nodes: { type: 'string' }, once: { type: 'boolean' }, tag: { type: 'string' } } });
  } catch (e) {
    say(`baregate lab: ${errText(e)}`);
    return 2;
  }
  if (parsed.positionals.length > 1) { say(`baregate lab: one action at a time (got ${parsed.positionals.join(' ')})`); return 2; }
  const f = labFlags(parsed.positionals[0] ?? 'up', parsed.values);
  if (typeof f === 'string') { say(`baregate lab: ${f}`); return 2; }
  const problems = labPrerequisites(f.action, machineProbe());
  if (problems.length > 0) { process.stdout.write(formatProblems(problems)); return 2; }
  if (f.action !== 'up' && parsed.values.nodes !== undefined) say(`(--nodes is for up; ignored by ${f.action})`);
  switch (f.action) {
    case 'up': return up(f.flags);
    case 'down': return down();
    case 'status': return status();
    case 'failover': return failover();
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runLabProgram(process.argv.slice(2)).then((code) => { process.exit(code); }, (e: unknown) => {
    say(`baregate lab: ${errText(e)}`);
    process.exit(1);
  });
}
