/**
 * How `baregate lab down|status|failover` reach the running `baregate lab up`, and how `down` cleans up after an
 * `up` that died without tearing down (SIGKILL, OOM, a power cut of the terminal).
 *
 * One lab per machine, in a fixed run directory (default /run/baregate-lab, root's, mode 0700):
 * - `state.json`: the lock and the inventory. Created exclusively by `up` (a second `up` finds it and says one is
 *   running); it names the owner process (pid + kernel start time, so a recycled pid is not mistaken for it), the
 *   namespace prefix, the namespaces, the lab's directories and every process the owner started, refreshed while
 *   it runs. When the owner is gone this file is all `down` needs to remove what is left.
 * - `control.sock`: a unix socket the owner serves. A request is one JSON line `{"op": "..."}`; the answer is JSON
 *   lines `{"out": "text"}` (progress, printed as it comes) and a last `{"done": true, "code": N}`.
 *
 * Everything here is about processes, files and namespace names; nothing touches an interface or an address.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';

/** The run directory (BAREGATE_LAB_RUN_DIR overrides it: the e2e test uses its own, so it never meets a user's lab). */
export function labRunDir(): string {
  return process.env.BAREGATE_LAB_RUN_DIR ?? '/run/baregate-lab';
}

/** Paths in a run directory. */
export const statePath = (dir: string): string => join(dir, 'state.json');
export const socketPath = (dir: string): string => join(dir, 'control.sock');

/** A process as the kernel knows it: pid, start time (clock ticks since boot: pid + start is unique) and command. */
export interface ProcRef {
  readonly pid: number;
  readonly start: string;
  readonly cmd: string;
}

/** What `state.json` holds. */
export interface LabState {
  readonly version: 1;
  /** The `up` process. */
  readonly owner: ProcRef;
  readonly tag: string;
  readonly nodes: number;
  phase: 'starting' | 'up' | 'stopping';
  readonly startedAt: string;
  /** Namespace name prefix (`bg<tag>-…`), once the lab has made its namespaces. */
  nsPrefix?: string;
  /** Namespaces seen so far. */
  namespaces: string[];
  kubeconfig?: string;
  /** Directories the lab wrote (removed by a cleanup, when they are temporary). */
  dirs: string[];
  binDir?: string;
  /** Every process the owner started (descendants), refreshed while it runs. */
  procs: ProcRef[];
  /** Client namespaces and Service URLs (for the usage text and `status`). */
  info?: Record<string, string>;
}

/** The process `pid` now, or undefined when there is none. */
export function procRef(pid: number): ProcRef | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command (which is in parentheses and may hold blanks): state ppid … starttime is the 20th
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((x) => x !== '').join(' ').slice(0, 300);
    return { pid, start: rest[19] ?? '', cmd };
  } catch {
    return undefined;
  }
}

/** Whether `ref` still runs (the same process, not a new one with a recycled pid). */
export function alive(ref: ProcRef): boolean {
  return procRef(ref.pid)?.start === ref.start;
}

/** Every live descendant of `root` (children, their children, …), from /proc. */
export function descendants(root: number): ProcRef[] {
  const kids = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = kids.get(ppid) ?? [];
      list.push(Number(e));
      kids.set(ppid, list);
    } catch { /* gone meanwhile */ }
  }
  const out: ProcRef[] = [];
  const todo = [...(kids.get(root) ?? [])];
  for (let pid = todo.pop(); pid !== undefined; pid = todo.pop()) {
    const r = procRef(pid);
    if (r) out.push(r);
    todo.push(...(kids.get(pid) ?? []));
  }
  return out;
}

/** Reads the state file; undefined when there is none or it cannot be read as one. */
export function readState(dir: string): LabState | undefined {
  let text: string;
  try { text = readFileSync(statePath(dir), 'utf8'); } catch { return undefined; }
  try {
    const s = JSON.parse(text) as Partial<LabState>;
    if (s.version !== 1 || typeof s.owner?.pid !== 'number') return undefined;
    return { ...s, namespaces: s.namespaces ?? [], dirs: s.dirs ?? [], procs: s.procs ?? [] } as LabState;
  } catch {
    return undefined;
  }
}

/** Replaces the state file atomically (the owner only). */
export function writeState(dir: string, s: LabState): void {
  const tmp = `${statePath(dir)}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, statePath(dir));
}

/** Outcome of {@link claim}. */
export type Claim =
  | { readonly kind: 'claimed' }
  | { readonly kind: 'running'; readonly state: LabState }
  | { readonly kind: 'stale'; readonly state: LabState | undefined };

/**
 * Takes the machine's lab lock by creating the state file exclusively: `running` when another live `up` holds it,
 * `stale` when the file names a process that is gone (or cannot be read), for the caller to clean and claim again.
 */
export function claim(dir: string, s: LabState): Claim {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    writeFileSync(statePath(dir), `${JSON.stringify(s, null, 2)}\n`, { flag: 'wx', mode: 0o600 });
    return { kind: 'claimed' };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const held = readState(dir);
  if (held && alive(held.owner)) return { kind: 'running', state: held };
  return { kind: 'stale', state: held };
}

/** Removes the state file and the socket if `owner` holds them (synchronous: also runs from an 'exit' handler). */
export function release(dir: string, owner: ProcRef): void {
  const s = readState(dir);
  if (s && (s.owner.pid !== owner.pid || s.owner.start !== owner.start)) return;
  rmSync(statePath(dir), { force: true });
  rmSync(socketPath(dir), { force: true });
}

/** Network namespace names (`ip netns list`). */
export function listNamespaces(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter((x) => x !== '');
}

/**
 * The namespaces of the lab `s` describes among `names`: those it recorded, those under its prefix, and those whose
 * name carries its owner's pid the way test/netlab/netns.ts builds prefixes (`bg<tag>-<pid base 36><3 chars>-…`):
 * so a lab killed before it could record anything is still found.
 */
export function labNamespaces(s: Pick<LabState, 'tag' | 'owner' | 'namespaces' | 'nsPrefix'>, names: readonly string[]): string[] {
  const byPid = `bg${s.tag}-${s.owner.pid.toString(36)}`;
  return names.filter((n) => s.namespaces.includes(n)
    || (s.nsPrefix !== undefined && n.startsWith(`${s.nsPrefix}-`))
    || (n.startsWith(byPid) && /^[0-9a-z]{3}-/.test(n.slice(byPid.length))));
}

/** Whether `p` is a temporary directory (only those are removed by a cleanup: never a cache or a checkout). */
function isTemp(p: string): boolean {
  const t = resolve(tmpdir());
  const r = resolve(p);
  return r.startsWith(t + sep) && r !== t;
}

/**
 * Removes what a lab whose owner is gone left behind: its processes (only those that are still the same process),
 * every process inside its namespaces, the namespaces, its temporary directories, the state file and socket.
 * Returns what it did, one line each.
 */
export function cleanLeftovers(dir: string, s: LabState | undefined): string[] {
  const done: string[] = [];
  if (s) {
    if (alive(s.owner)) { try { process.kill(s.owner.pid, 'SIGKILL'); done.push(`killed the lab process ${s.owner.pid}`); } catch { /* gone */ } }
    let killed = 0;
    for (const p of s.procs) {
      if (!alive(p)) continue;
      try { process.kill(p.pid, 'SIGKILL'); killed++; } catch { /* gone */ }
    }
    if (killed > 0) done.push(`killed ${killed} process(es) it had started`);
    const nss = labNamespaces(s, listNamespaces());
    for (const ns of nss) {
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split('\n').map(Number).filter((n) => Number.isInteger(n) && n > 0);
      for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    }
    if (nss.length > 0) done.push(`removed ${nss.length} network namespace(s) (${nss[0] ?? ''} …)`);
    for (const d of s.dirs) {
      if (!isTemp(d) || (s.binDir !== undefined && resolve(d) === resolve(s.binDir))) continue;
      rmSync(d, { recursive: true, force: true });
      done.push(`removed ${d}`);
    }
  }
  rmSync(statePath(dir), { force: true });
  rmSync(socketPath(dir), { force: true });
  done.push('removed the state file');
  return done;
}

/** A control request handler: writes progress with `out`, resolves with the exit code the client should return. */
export type ControlHandler = (op: string, out: (text: string) => void) => Promise<number>;

/** Serves the control socket (the owner only, after {@link claim}). Never throws on what a client sends. */
export function serveControl(dir: string, handle: ControlHandler): Promise<Server> {
  rmSync(socketPath(dir), { force: true });
  const server = createServer((sock: Socket) => {
    sock.on('error', () => undefined);
    const send = (o: unknown): void => { if (!sock.destroyed) sock.write(`${JSON.stringify(o)}\n`); };
    const rl = createInterface({ input: sock });
    rl.on('error', () => undefined);
    rl.once('line', (line) => {
      rl.close();
      let op = '';
      try { const v = (JSON.parse(line) as { op?: unknown }).op; op = typeof v === 'string' ? v : ''; } catch { /* answered below */ }
      handle(op, (text) => { send({ out: text }); })
        .catch((e: unknown) => { send({ out: `error: ${e instanceof Error ? e.message : String(e)}` }); return 1; })
        .then((code) => { send({ done: true, code }); sock.end(); }, () => undefined);
    });
  });
  return new Promise((resolveServer, reject) => {
    server.once('error', reject);
    server.listen(socketPath(dir), () => {
      server.off('error', reject);
      server.on('error', () => undefined);
      resolveServer(server);
    });
  });
}

/**
 * Sends one request to the running lab. Resolves with the code it answered, or `absent` when nothing listens
 * (no socket, connection refused) or the connection ended before an answer.
 */
export function requestControl(dir: string, op: string, out: (text: string) => void, timeoutMs = 120_000): Promise<number | 'absent'> {
  return new Promise((resolveReq) => {
    let settled = false;
    const finish = (v: number | 'absent'): void => { if (!settled) { settled = true; clearTimeout(t); sock.destroy(); resolveReq(v); } };
    const sock = createConnection(socketPath(dir));
    const t = setTimeout(() => { out(`no answer from the lab within ${timeoutMs} ms`); finish(1); }, timeoutMs);
    sock.on('error', () => { finish('absent'); });
    sock.on('close', () => { finish('absent'); });
    sock.on('connect', () => { sock.write(`${JSON.stringify({ op })}\n`); });
    const rl = createInterface({ input: sock });
    rl.on('error', () => undefined);
    rl.on('line', (line) => {
      let o: { out?: unknown; done?: unknown; code?: unknown };
      try { o = JSON.parse(line) as typeof o; } catch { return; }
      if (typeof o.out === 'string') out(o.out);
      if (o.done === true) finish(typeof o.code === 'number' ? o.code : 1);
    });
  });
}
