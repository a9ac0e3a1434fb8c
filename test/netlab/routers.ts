/**
 * Real BGP routers for netlab tests and benches: BIRD 2 and GoBGP run inside a {@link Lab} namespace,
 * with their configuration, control sockets and pid files in a temporary directory of the test, and
 * their state read back (session state, received routes) in one shape for both, so a test can say
 * "the peer holds this prefix with these attributes" without caring which router it is.
 *
 * Both routers only receive: BIRD has no `protocol kernel` (its tables never reach a kernel FIB; the
 * `protocol device` it needs to know its own interfaces only reads them) and every channel is
 * `import all; export none`; GoBGP runs without zebra, so it never touches a FIB either.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Control, type Lab } from './netns.ts';
import type { PeerStats } from '../../src/bgp/speaker.ts';
import { until } from '../harness/wait.ts';

/** Why the routers cannot run here (a missing binary, naming its Debian package), or undefined. */
export const routersSkip: string | undefined = ((): string | undefined => {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin'].filter((d) => d !== '');
  const found = (bin: string): boolean => dirs.some((d) => {
    try { accessSync(join(d, bin), constants.X_OK); return true; } catch { return false; }
  });
  const missing = new Set<string>();
  for (const [bin, pkg] of [['bird', 'bird2'], ['birdc', 'bird2'], ['gobgpd', 'gobgpd'], ['gobgp', 'gobgpd']] as const) {
    if (!found(bin)) missing.add(pkg);
  }
  if (missing.size === 0) return undefined;
  return `BIRD/GoBGP binaries missing: apt-get install ${[...missing].join(' ')}`;
})();

/** A route as a peer holds it, the same shape for BIRD and GoBGP. */
export interface Route {
  prefix: string;
  /** The BGP next hop (for IPv6 the global one; a link-local second next hop is dropped). */
  nextHop: string;
  /** Standard communities as `ASN:value`, in the order the router shows them. */
  communities: string[];
  /** Large communities as `global:local1:local2`. */
  largeCommunities: string[];
  localPref: number | undefined;
  med: number | undefined;
  /** The AS numbers of the AS_PATH (sequences and sets flattened), empty for a route from an iBGP peer. */
  asPath: number[];
  /** GoBGP's stale mark during a peer's graceful restart (BIRD does not show one per route). */
  stale: boolean;
  /** The peer the route came from, when the router says so. */
  from: string | undefined;
  /** BIRD: when the route last changed, as BIRD prints it (`timeformat route iso long ms`). */
  since?: string | undefined;
}

/** A session as the router sees it. */
export interface SessionState {
  /** The FSM state name: Idle, Connect, Active, OpenSent, OpenConfirm, Established (BIRD may also say Down). */
  state: string;
  established: boolean;
  /** Everything the router printed about the session, for assertion messages. */
  raw: string;
  /** BIRD: when the protocol entered its current state (`timeformat protocol iso long ms`). */
  since?: string | undefined;
}


/** Polling: see test/harness/wait.ts (re-exported for the netlab files that import it from here). */
export { until } from '../harness/wait.ts';

/** Waits for a child to exit (resolves at once when it already has). */
function exited(child: ChildProcessWithoutNullStreams, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => { resolve(false); }, ms);
    child.once('exit', () => { clearTimeout(t); resolve(true); });
  });
}

/** Keeps the last `max` characters of a child's stdout+stderr, for failure messages. */
function tail(child: ChildProcessWithoutNullStreams, sink: { log: string }, max = 20_000): void {
  const add = (d: Buffer): void => { sink.log = (sink.log + d.toString()).slice(-max); };
  child.stdout.on('data', add);
  child.stderr.on('data', add);
}

/** A temporary directory for one test's router configs, sockets and pid files; remove it with rmSync. */
export function routersDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `bg-${tag}-`));
}

// ───────────────────────────── BIRD ─────────────────────────────

/** One `protocol bgp` of BIRD. */
export interface BirdPeer {
  /** Protocol name (also what `show route protocol` filters on). */
  name: string;
  /** BIRD's own address for the session (`local … as …`). */
  localAddress: string;
  localAS: number;
  neighbor: string;
  neighborAS: number;
  neighborPort?: number;
  /** BIRD's listening port (`local … port N`); default 179. */
  localPort?: number;
  /** Channels to open; default both. Each is `import all; export none`. */
  families?: readonly ('ipv4' | 'ipv6')[];
  /** TCP-MD5 key (`password`). */
  password?: string;
  holdTime?: number;
  keepaliveTime?: number;
  /** `graceful restart on|off`; omitted: BIRD's default (`aware`: it helps a restarting peer but does not restart itself). */
  gracefulRestart?: boolean;
  /** `multihop N` instead of `direct`. */
  multihop?: number;
  /** `passive on`: only accept connections. */
  passive?: boolean;
  /** `ttl security on` (GTSM, RFC 5082): send with TTL 255, accept only 255 on a direct session. */
  ttlSecurity?: boolean;
}

/** Everything that goes into one bird.conf. */
export interface BirdOptions {
  routerId: string;
  peers: readonly BirdPeer[];
  /** `debug protocols all` for the BGP protocols (logged to stderr, kept in {@link Bird.log}). */
  debug?: boolean;
}

/** Renders a bird.conf that only receives: device scan, BGP protocols importing everything, no kernel protocol. */
export function birdConfig(o: BirdOptions): string {
  const lines = [
    `router id ${o.routerId};`,
    'log stderr all;',
    // millisecond timestamps in `show route` / `show protocols` (the bench reads them)
    'timeformat route iso long ms;',
    'timeformat protocol iso long ms;',
    // device: BIRD learns its interfaces (needed for `direct` sessions and next hop resolution); it
    // writes nothing anywhere. There is deliberately no `protocol kernel`: no route leaves BIRD.
    'protocol device { scan time 5; }',
  ];
  for (const p of o.peers) {
    const body = [
      `local ${p.localAddress}${p.localPort !== undefined ? ` port ${p.localPort}` : ''} as ${p.localAS};`,
      `neighbor ${p.neighbor}${p.neighborPort !== undefined ? ` port ${p.neighborPort}` : ''} as ${p.neighborAS};`,
      p.multihop !== undefined ? `multihop ${p.multihop};` : 'direct;',
      // tests restart sessions on purpose: retry fast instead of BIRD's 5 s / 120 s / 60-300 s defaults
      'connect delay time 1;',
      'connect retry time 2;',
      'error wait time 1, 3;',
      'error forget time 10;',
      ...(p.holdTime !== undefined ? [`hold time ${p.holdTime};`] : []),
      ...(p.keepaliveTime !== undefined ? [`keepalive time ${p.keepaliveTime};`] : []),
      ...(p.gracefulRestart !== undefined ? [`graceful restart ${p.gracefulRestart ? 'on' : 'off'};`] : []),
      ...(p.password !== undefined ? [`password "${p.password}";`] : []),
      ...(p.passive ? ['passive on;'] : []),
      ...(p.ttlSecurity ? ['ttl security on;'] : []),
      ...(o.debug ? ['debug all;'] : []),
      ...(p.families ?? ['ipv4', 'ipv6']).map((f) => `${f} { import all; export none; };`),
    ];
    lines.push(`protocol bgp ${p.name} {`, ...body.map((l) => `  ${l}`), '}');
  }
  return `${lines.join('\n')}\n`;
}

/** Splits a BIRD community list `(64512,100) (65535,0)` or large list `(64512, 1, 2)` into `a:b[:c]` strings. */
function birdPairs(v: string): string[] {
  return [...v.matchAll(/\(([^)]*)\)/g)].map((m) => (m[1] ?? '').split(',').map((s) => s.trim()).join(':'));
}

/** Parses `birdc show route [all] …` output into routes (any number of tables, several routes per prefix). */
export function parseBirdRoutes(text: string): Route[] {
  const out: Route[] = [];
  let prefix = '';
  let cur: Route | undefined;
  for (const line of text.split('\n')) {
    // a route line: "198.51.100.10/32     unicast [bg4 2026-11-21 12:00:00.123] * (100) [AS64512i]" (with
    // " from ADDR" before "]" when the neighbor is not the next hop), or the same without the prefix for a
    // second route of the same prefix; attribute lines start with a tab and have no "word [" in them
    const m = /^(\S+)?\s+(\w+)\s+\[(\S+)\s+([^\]]*?)(?:\s+from\s+(\S+))?\]/.exec(line);
    if (m && !line.startsWith('\t') && (m[1] !== undefined || cur !== undefined)) {
      if (m[1] !== undefined) prefix = m[1];
      cur = {
        prefix, nextHop: '', communities: [], largeCommunities: [], localPref: undefined, med: undefined, asPath: [], stale: false,
        from: m[5], since: m[4],
      };
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    const a = /^\s+BGP\.(\w+):\s?(.*)$/.exec(line);
    if (!a) continue;
    const [, key, value = ''] = a;
    switch (key) {
      case 'next_hop': cur.nextHop = value.trim().split(/\s+/)[0] ?? ''; break;
      case 'local_pref': cur.localPref = Number(value); break;
      case 'med': cur.med = Number(value); break;
      case 'as_path': cur.asPath = (value.match(/\d+/g) ?? []).map(Number); break;
      case 'community': cur.communities = birdPairs(value); break;
      case 'large_community': cur.largeCommunities = birdPairs(value); break;
      default: break;
    }
  }
  return out;
}

const FSM_STATES = /\b(Idle|Connect|Active|OpenSent|OpenConfirm|Established|Down)\b/;

/** Parses `birdc show protocols [all] NAME`. */
export function parseBirdProtocol(text: string): SessionState {
  // header line: "bg4  BGP  ---  up  2026-11-21 12:00:00.123  Established"
  const header = /^\S+\s+BGP\s+\S+\s+\S+\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?|\S+)\s+(.*)$/m.exec(text);
  const state = /BGP state:\s+(\S+)/.exec(text)?.[1] ?? FSM_STATES.exec(header?.[2] ?? '')?.[1] ?? 'unknown';
  return { state, established: state === 'Established', raw: text.trim(), since: header?.[1] };
}

/** Parses the totals of `birdc show route … count`: "12 of 12 routes for 12 networks in table master4", summed over tables. */
export function parseBirdCount(text: string): number {
  const total = /Total: (\d+) of \d+ routes/.exec(text);
  if (total) return Number(total[1]);
  let n = 0;
  for (const m of text.matchAll(/(\d+) of \d+ routes for \d+ networks in table/g)) n += Number(m[1]);
  return n;
}

/** A minimal client of BIRD's control socket protocol (the one birdc speaks): one command at a time. */
export class BirdSocket {
  private buf = '';
  private pending: { resolve: (s: string) => void; reject: (e: Error) => void; lines: string[] } | undefined;
  private greeting: Promise<void>;

  private constructor(private readonly sock: Socket) {
    let ready!: () => void;
    this.greeting = new Promise((r) => { ready = r; });
    let greeted = false;
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        if (!greeted) { greeted = true; ready(); continue; } // "0001 BIRD 2.0.12 ready."
        const p = this.pending;
        if (!p) continue;
        p.lines.push(line.replace(/^\d{4}[- ]|^ /, ''));
        if (/^\d{4} /.test(line)) { // a code followed by a space ends the reply
          this.pending = undefined;
          if (/^[89]/.test(line)) p.reject(new Error(`bird: ${p.lines.join('\n')}`));
          else p.resolve(p.lines.join('\n'));
        }
      }
    });
    const fail = (e: Error): void => { const p = this.pending; this.pending = undefined; p?.reject(e); };
    sock.on('error', fail);
    sock.on('close', () => { fail(new Error('bird control socket closed')); });
  }

  /** Connects to a control socket (a file path: this is IPC, no network). */
  static connect(path: string): Promise<BirdSocket> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path);
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        const b = new BirdSocket(s);
        void b.greeting.then(() => { resolve(b); });
      });
    });
  }

  /** Sends one command and returns the reply text (codes stripped); rejects on a BIRD error reply. */
  cmd(line: string): Promise<string> {
    if (this.pending) return Promise.reject(new Error('BirdSocket: one command at a time'));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject, lines: [] };
      this.sock.write(`${line}\n`);
    });
  }

  close(): void { this.sock.destroy(); }
}

/** A BIRD 2 daemon in a lab namespace: `bird -f -c conf -s sock -P pid`, driven with `birdc -s sock`. */
export class Bird {
  readonly conf: string;
  readonly sock: string;
  readonly pidFile: string;
  child: ChildProcessWithoutNullStreams | undefined;
  /** The tail of BIRD's own log (stderr), across restarts. */
  log = '';

  constructor(readonly lab: Lab, readonly host: string, readonly dir: string, public options: BirdOptions) {
    this.conf = join(dir, `bird-${host}.conf`);
    this.sock = join(dir, `bird-${host}.ctl`);
    this.pidFile = join(dir, `bird-${host}.pid`);
  }

  /** Writes the config and starts BIRD; resolves once its control socket answers. */
  async start(options?: BirdOptions): Promise<void> {
    if (options) this.options = options;
    if (this.child) throw new Error('BIRD is already running');
    writeFileSync(this.conf, birdConfig(this.options));
    rmSync(this.sock, { force: true });
    const child = this.lab.start(this.host, 'bird', ['-f', '-c', this.conf, '-s', this.sock, '-P', this.pidFile]);
    this.child = child;
    this.log += `\n--- bird start ${new Date().toISOString()}\n`;
    tail(child, this);
    child.on('exit', () => { if (this.child === child) this.child = undefined; });
    await until(`BIRD in ${this.host} answers on ${this.sock}; log:\n${this.log}`, async () => {
      if (!this.child) throw new Error(`BIRD exited at start; config:\n${readFileSync(this.conf, 'utf8')}\nlog:\n${this.log}`);
      const r = await this.lab.run(this.host, 'birdc', ['-s', this.sock, 'show', 'status'], 5000);
      return r.code === 0 && r.stdout.includes('Daemon is up') ? true : undefined;
    }, 10_000);
  }

  /** Sends a signal (default SIGKILL: "the router died") and waits for the process to be gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const c = this.child;
    if (!c) return;
    c.kill(signal);
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') return;
    if (!(await exited(c, 10_000))) { c.kill('SIGKILL'); await exited(c, 5000); }
    this.child = undefined;
  }

  /** Freezes BIRD (SIGSTOP): its TCP sessions stay open in the kernel but it sends nothing, so the peer's hold timer runs out. */
  freeze(): void { this.child?.kill('SIGSTOP'); }

  /** A clean stop (`birdc down`: BIRD closes its sessions with a Cease NOTIFICATION) and wait for the exit. */
  async stop(): Promise<void> {
    const c = this.child;
    if (!c) return;
    await this.lab.run(this.host, 'birdc', ['-s', this.sock, 'down'], 5000);
    if (!(await exited(c, 10_000))) c.kill('SIGKILL');
    await exited(c, 5000);
    this.child = undefined;
  }

  /** Clean stop, then start again (with new options when given). */
  async restart(options?: BirdOptions): Promise<void> {
    await this.stop();
    await this.start(options);
  }

  /** `birdc -s SOCK args…`; returns the reply without the greeting, throws when birdc fails. */
  async birdc(...args: string[]): Promise<string> {
    const r = await this.lab.run(this.host, 'birdc', ['-s', this.sock, ...args], 10_000);
    if (r.code !== 0) throw new Error(`birdc ${args.join(' ')} failed (${r.code}): ${r.stdout}${r.stderr}`);
    return r.stdout.replace(/^BIRD .* ready\.\n/, '');
  }

  /** `show protocols all NAME`, parsed. */
  async session(name: string): Promise<SessionState> {
    return parseBirdProtocol(await this.birdc('show', 'protocols', 'all', name));
  }

  /** Routes received by protocol NAME (`show route all protocol NAME`), parsed. */
  async routes(name: string): Promise<Route[]> {
    return parseBirdRoutes(await this.birdc('show', 'route', 'all', 'protocol', name));
  }

  /** How many routes protocol NAME holds (`show route protocol NAME count`). */
  async count(name: string): Promise<number> {
    return parseBirdCount(await this.birdc('show', 'route', 'protocol', name, 'count'));
  }

  /** A direct control-socket client, for polling faster than one birdc process per query allows. */
  socket(): Promise<BirdSocket> { return BirdSocket.connect(this.sock); }
}

// ───────────────────────────── GoBGP ─────────────────────────────

/** One GoBGP neighbor. */
export interface GobgpNeighbor {
  address: string;
  peerAS: number;
  /** Local AS for this neighbor when it differs from the global one. */
  localAS?: number;
  /** GoBGP's own address for the session (`transport.config.local-address`). */
  localAddress?: string;
  /** Port on the neighbor to connect to; default 179. */
  remotePort?: number;
  families?: readonly ('ipv4' | 'ipv6')[];
  /** TCP-MD5 key (`auth-password`). */
  password?: string;
  holdTime?: number;
  keepaliveTime?: number;
  /** `graceful-restart` with restart time 120 and per-family MP-GR; default off. */
  gracefulRestart?: boolean;
  /** `ebgp-multihop` TTL. */
  multihop?: number;
  passive?: boolean;
}

/** Everything that goes into one gobgpd config. */
export interface GobgpOptions {
  routerId: string;
  as: number;
  /** BGP listening port; default 179. */
  listenPort?: number;
  listenAddresses?: readonly string[];
  neighbors: readonly GobgpNeighbor[];
  /** gRPC API port on the namespace's loopback; default 50051. */
  apiPort?: number;
}

const familyName = { ipv4: 'ipv4-unicast', ipv6: 'ipv6-unicast' } as const;
const q = (s: string): string => JSON.stringify(s);

/** Renders a gobgpd TOML config (no zebra section: GoBGP never touches a FIB). */
export function gobgpConfig(o: GobgpOptions): string {
  const l = [
    '[global.config]',
    `  as = ${o.as}`,
    `  router-id = ${q(o.routerId)}`,
    `  port = ${o.listenPort ?? 179}`,
    ...(o.listenAddresses ? [`  local-address-list = [${o.listenAddresses.map(q).join(', ')}]`] : []),
  ];
  for (const n of o.neighbors) {
    l.push('', '[[neighbors]]', '  [neighbors.config]', `    neighbor-address = ${q(n.address)}`, `    peer-as = ${n.peerAS}`);
    if (n.localAS !== undefined) l.push(`    local-as = ${n.localAS}`);
    if (n.password !== undefined) l.push(`    auth-password = ${q(n.password)}`);
    l.push('  [neighbors.timers.config]', '    connect-retry = 1');
    if (n.holdTime !== undefined) l.push(`    hold-time = ${n.holdTime}`);
    if (n.keepaliveTime !== undefined) l.push(`    keepalive-interval = ${n.keepaliveTime}`);
    l.push('  [neighbors.transport.config]');
    if (n.localAddress !== undefined) l.push(`    local-address = ${q(n.localAddress)}`);
    if (n.remotePort !== undefined) l.push(`    remote-port = ${n.remotePort}`);
    if (n.passive) l.push('    passive-mode = true');
    if (n.multihop !== undefined) l.push('  [neighbors.ebgp-multihop.config]', '    enabled = true', `    multihop-ttl = ${n.multihop}`);
    if (n.gracefulRestart) l.push('  [neighbors.graceful-restart.config]', '    enabled = true', '    restart-time = 120');
    for (const f of n.families ?? ['ipv4', 'ipv6']) {
      l.push('  [[neighbors.afi-safis]]', '    [neighbors.afi-safis.config]', `      afi-safi-name = ${q(familyName[f])}`);
      if (n.gracefulRestart) l.push('    [neighbors.afi-safis.mp-graceful-restart.config]', '      enabled = true');
    }
  }
  return `${l.join('\n')}\n`;
}

interface GobgpAttr {
  type: number;
  value?: unknown;
  nexthop?: string;
  metric?: number;
  communities?: number[];
  as_paths?: { segment_type: number; asns?: number[] }[];
}
interface GobgpPath { nlri?: { prefix?: string }; attrs?: GobgpAttr[]; stale?: boolean; 'neighbor-ip'?: string; 'source-id'?: string }

/** Parses `gobgp global rib -a FAMILY -j` (an object from prefix to its paths). */
export function parseGobgpRib(json: string): Route[] {
  const trimmed = json.trim();
  if (trimmed === '' || trimmed === 'null') return [];
  const rib = JSON.parse(trimmed) as Record<string, GobgpPath[] | null>;
  const out: Route[] = [];
  for (const [prefix, paths] of Object.entries(rib)) {
    for (const p of paths ?? []) {
      const r: Route = {
        prefix: p.nlri?.prefix ?? prefix, nextHop: '', communities: [], largeCommunities: [], localPref: undefined,
        med: undefined, asPath: [], stale: p.stale ?? false, from: p['neighbor-ip'],
      };
      for (const a of p.attrs ?? []) {
        switch (a.type) {
          case 2: r.asPath = (a.as_paths ?? []).flatMap((s) => s.asns ?? []); break;
          case 3: r.nextHop = a.nexthop ?? ''; break;
          case 4: r.med = a.metric; break;
          case 5: r.localPref = typeof a.value === 'number' ? a.value : undefined; break;
          case 8: r.communities = (a.communities ?? []).map((c) => `${Math.floor(c / 65536)}:${c % 65536}`); break;
          case 14: r.nextHop = a.nexthop ?? r.nextHop; break;
          case 32: r.largeCommunities = ((a.value ?? []) as { ASN: number; LocalData1: number; LocalData2: number }[])
            .map((c) => `${c.ASN}:${c.LocalData1}:${c.LocalData2}`); break;
          default: break;
        }
      }
      out.push(r);
    }
  }
  return out;
}

/** GoBGP's numeric session states (its API enum) by name. */
const gobgpStates: Record<number, string> = { 0: 'Unknown', 1: 'Idle', 2: 'Connect', 3: 'Active', 4: 'OpenSent', 5: 'OpenConfirm', 6: 'Established' };

/** Parses one neighbor of `gobgp neighbor -j` (state is numeric or a name like "established" / "BGP_FSM_ESTABLISHED"). */
export function parseGobgpNeighbor(n: unknown): SessionState {
  const st = (n as { state?: { session_state?: number | string } }).state?.session_state;
  let state: string;
  if (typeof st === 'number') state = gobgpStates[st] ?? String(st);
  else {
    const s = (st ?? 'unknown').replace(/^BGP_FSM_|^SESSION_STATE_/i, '').toLowerCase();
    state = Object.values(gobgpStates).find((v) => v.toLowerCase() === s) ?? s;
  }
  return { state, established: state === 'Established', raw: JSON.stringify(n) };
}

/** A gobgpd in a lab namespace, its API on the namespace's own loopback, driven with `gobgp -u 127.0.0.1 -p PORT`. */
export class Gobgp {
  readonly conf: string;
  child: ChildProcessWithoutNullStreams | undefined;
  /** The tail of gobgpd's log, across restarts. */
  log = '';

  constructor(readonly lab: Lab, readonly host: string, readonly dir: string, public options: GobgpOptions) {
    this.conf = join(dir, `gobgp-${host}.toml`);
  }

  private get apiPort(): number { return this.options.apiPort ?? 50051; }

  /** Writes the config and starts gobgpd; resolves once its API answers. */
  async start(options?: GobgpOptions): Promise<void> {
    if (options) this.options = options;
    if (this.child) throw new Error('gobgpd is already running');
    writeFileSync(this.conf, gobgpConfig(this.options));
    const child = this.lab.start(this.host, 'gobgpd', [
      '-f', this.conf, '-t', 'toml', '--api-hosts', `127.0.0.1:${this.apiPort}`, '--pprof-disable', '-p', '-l', 'info',
    ]);
    this.child = child;
    this.log += `\n--- gobgpd start ${new Date().toISOString()}\n`;
    tail(child, this);
    child.on('exit', () => { if (this.child === child) this.child = undefined; });
    await until(`gobgpd in ${this.host} answers; log:\n${this.log}`, async () => {
      if (!this.child) throw new Error(`gobgpd exited at start; config:\n${readFileSync(this.conf, 'utf8')}\nlog:\n${this.log}`);
      const r = await this.lab.run(this.host, 'gobgp', ['-u', '127.0.0.1', '-p', String(this.apiPort), 'neighbor', '-j'], 5000);
      // the neighbors are configured from the file right after the API comes up: wait until all are there
      if (r.code !== 0) return undefined;
      const ns = JSON.parse(r.stdout.trim() || '[]') as unknown[] | null;
      return (ns ?? []).length >= this.options.neighbors.length ? true : undefined;
    }, 15_000, 100);
  }

  /** Sends a signal (default SIGKILL) and waits for the process to be gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const c = this.child;
    if (!c) return;
    c.kill(signal);
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') return;
    if (!(await exited(c, 10_000))) { c.kill('SIGKILL'); await exited(c, 5000); }
    this.child = undefined;
  }

  /** A clean stop (SIGTERM: gobgpd closes its sessions) and wait for the exit. */
  stop(): Promise<void> { return this.kill('SIGTERM'); }

  /** Clean stop, then start again (with new options when given). */
  async restart(options?: GobgpOptions): Promise<void> {
    await this.stop();
    await this.start(options);
  }

  /** `gobgp -u 127.0.0.1 -p PORT args…`; throws when it fails. */
  async gobgp(...args: string[]): Promise<string> {
    const r = await this.lab.run(this.host, 'gobgp', ['-u', '127.0.0.1', '-p', String(this.apiPort), ...args], 10_000);
    if (r.code !== 0) throw new Error(`gobgp ${args.join(' ')} failed (${r.code}): ${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  /** The session with one neighbor (`gobgp neighbor -j`). */
  async session(address: string): Promise<SessionState> {
    const all = JSON.parse((await this.gobgp('neighbor', '-j')).trim() || '[]') as { conf?: { neighbor_address?: string } }[] | null;
    const n = (all ?? []).find((x) => x.conf?.neighbor_address === address);
    if (!n) return { state: 'unknown', established: false, raw: `no neighbor ${address} in ${JSON.stringify(all)}` };
    return parseGobgpNeighbor(n);
  }

  /** Routes of one family in the global RIB (`gobgp global rib -a ipv4|ipv6 -j`), optionally only those from one neighbor. */
  async routes(family: 'ipv4' | 'ipv6', from?: string): Promise<Route[]> {
    const all = parseGobgpRib(await this.gobgp('global', 'rib', '-a', family, '-j'));
    return from === undefined ? all : all.filter((r) => r.from === from);
  }
}

// ───────────────────────────── the system under test ─────────────────────────────

/** One peer in `bgp-announce` stats: the speaker's own type. */
export type { PeerStats } from '../../src/bgp/speaker.ts';

/** The `stats` control reply of `bgp-announce`. */
export interface SpeakerStats { peers: PeerStats[]; rssBytes: number }

/**
 * `baregate bgp-announce --config FILE --control` in a lab namespace, driven over its control channel.
 * `command` is how to run baregate: by default the TypeScript sources through tsx.
 */
export class Speaker {
  /** The tail of everything it printed (JSON logs and control lines on stdout, stderr). */
  log = '';

  private constructor(readonly ctl: Control, readonly child: ChildProcessWithoutNullStreams) {
    tail(child, this);
  }

  /** Starts it and waits for the `ready` line (fails fast when the process exits first). */
  static async start(lab: Lab, host: string, configFile: string, command: readonly string[]): Promise<Speaker> {
    const child = lab.start(host, process.execPath, [...command, 'bgp-announce', '--config', configFile, '--control']);
    const s = new Speaker(new Control(child), child);
    const died = new Promise<never>((_, reject) => {
      child.once('exit', (code, sig) => {
        reject(new Error(`bgp-announce exited before ready (${String(code ?? sig)}): ${s.log.slice(-3000)}`));
      });
    });
    died.catch(() => undefined); // only raced below
    const ready = await Promise.race([s.ctl.next(30_000), died]);
    if (ready.ctl !== 'ready') throw new Error(`first control line is not ready: ${JSON.stringify(ready)}`);
    return s;
  }

  /** Sends a control command; throws unless the reply is `ok` (or the expected `ctl`). */
  async send(line: string, expect = 'ok'): Promise<Record<string, unknown>> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`bgp-announce is not running; log: ${this.log.slice(-3000)}`);
    const r = await this.ctl.send(line);
    if (r.ctl !== expect) throw new Error(`${line.slice(0, 80)} → ${JSON.stringify(r)}`);
    return r;
  }

  /** The `stats` reply. */
  async stats(): Promise<SpeakerStats> {
    return (await this.send('stats', 'stats')) as unknown as SpeakerStats;
  }

  /** One peer's stats (throws when there is no such peer). */
  async peer(name: string): Promise<PeerStats> {
    const s = await this.stats();
    const p = s.peers.find((x) => x.name === name);
    if (!p) throw new Error(`no peer ${name} in stats: ${JSON.stringify(s)}`);
    return p;
  }

  /** Waits until every named peer is in `state` (default Established). */
  async waitState(names: readonly string[], ms: number, state = 'Established'): Promise<SpeakerStats> {
    return until(`bgp-announce peers ${names.join(', ')} ${state}`, async () => {
      const s = await this.stats();
      return names.every((n) => s.peers.find((p) => p.name === n)?.state === state) ? s : undefined;
    }, ms, 100);
  }

  /** SIGKILL: the speaker dies without a word on the wire (the kernel still closes its TCP connections). */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await exited(this.child, 10_000);
  }
}

/** What {@link scriptedConnection} saw: the bytes received until the speaker closed, and how it ended. */
export interface ScriptedResult { received: Buffer; ended: string }

const SCRIPTED_CLIENT = `
import net from 'node:net';
const [host, port, local, hex] = process.argv.slice(1);
const got = [];
const c = net.connect({ host, port: Number(port), localAddress: local });
const done = (how) => { process.stdout.write(JSON.stringify({ hex: Buffer.concat(got).toString('hex'), how }) + '\\n'); process.exit(0); };
c.on('connect', () => { c.write(Buffer.from(hex, 'hex')); });
c.on('data', (d) => { got.push(d); });
c.on('error', (e) => done('error ' + e.code));
c.on('close', () => done('closed'));
setTimeout(() => done('timeout'), 10000);
`;

/**
 * A scripted BGP connection from inside a lab host: connects from `local` to `host:port`, sends `bytes`
 * (e.g. an OPEN) and returns what came back until the other side closed (bounded by 10 s). Lets a test
 * force a collision against a live session deterministically.
 */
export async function scriptedConnection(lab: Lab, from: string, local: string, host: string, port: number, bytes: Buffer): Promise<ScriptedResult> {
  const r = await lab.run(from, process.execPath, ['--input-type=module', '-e', SCRIPTED_CLIENT, host, String(port), local, bytes.toString('hex')], 20_000);
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  if (!line.startsWith('{')) throw new Error(`scripted client failed (${r.code}): ${r.stderr.slice(-1000)}`);
  const o = JSON.parse(line) as { hex: string; how: string };
  return { received: Buffer.from(o.hex, 'hex'), ended: o.how };
}
