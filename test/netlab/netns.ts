/**
 * Network namespaces for netlab tests and the lab: every namespace, veth and bridge is created here,
 * inside namespaces this module made, with documentation addresses only; all of it is deleted on
 * destroy(), on process exit and on SIGINT/SIGTERM, also when a test fails.
 */
import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Why netlab cannot run here, or undefined when it can (root, Linux, iproute2). */
export const netlabSkip: string | undefined = ((): string | undefined => {
  if (process.platform !== 'linux') return `netlab needs root on Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return `netlab needs root: running as uid ${String(process.getuid?.())}`;
  if (spawnSync('ip', ['-V']).error) return 'netlab needs the `ip` command (iproute2)';
  return undefined;
})();
if (netlabSkip) process.stderr.write(`\n*** ${netlabSkip}: netlab tests SKIPPED ***\n\n`);

const live = new Set<Lab>();
function cleanupAll(): void { for (const l of live) l.destroySync(); }
process.on('exit', cleanupAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { cleanupAll(); process.exit(130); });

/** Result of a command run inside a namespace. */
export interface Run { code: number; stdout: string; stderr: string }

/** A set of namespaces with a common prefix. */
export class Lab {
  private readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcessWithoutNullStreams>();
  readonly prefix: string;

  constructor(tag: string) {
    this.prefix = `bg${tag}-${process.pid.toString(36)}${Date.now().toString(36).slice(-3)}`;
    live.add(this);
  }

  /** Full name of a namespace of this lab. */
  ns(name: string): string {
    return `${this.prefix}-${name}`;
  }

  /** Creates a namespace with loopback up. */
  addNamespace(name: string): string {
    const ns = this.ns(name);
    execFileSync('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    this.ip(name, 'link', 'set', 'lo', 'up');
    return ns;
  }

  /** `ip -n NS args…` (throws on failure). */
  ip(name: string, ...args: string[]): string {
    return execFileSync('ip', ['-n', this.ns(name), ...args], { encoding: 'utf8' });
  }

  /** Many `ip` commands in one namespace at once (`ip -n NS -batch -`, one command per line, without `ip`): fast for hundreds of addresses. */
  ipBatch(name: string, lines: string[]): void {
    execFileSync('ip', ['-n', this.ns(name), '-batch', '-'], { input: `${lines.join('\n')}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
  }

  /** Writes a sysctl inside a namespace. */
  sysctl(name: string, key: string, value: string): void {
    execFileSync('ip', ['netns', 'exec', this.ns(name), 'sysctl', '-q', '-w', `${key}=${value}`]);
  }

  /** A bridge `br0` in namespace `sw`; hosts are attached with {@link attach}. */
  addSwitch(sw: string): void {
    this.addNamespace(sw);
    this.ip(sw, 'link', 'add', 'br0', 'type', 'bridge');
    this.ip(sw, 'link', 'set', 'br0', 'up');
  }

  /** A host namespace whose `eth0` is plugged into the switch, with the given addresses (IPv6 without DAD). */
  addHost(name: string, sw: string, addrs: string[]): { mac: string } {
    this.addNamespace(name);
    const port = this.switchPort(name);
    this.ip(sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns(name));
    this.ip(sw, 'link', 'set', port, 'master', 'br0');
    this.ip(sw, 'link', 'set', port, 'up');
    for (const a of addrs) this.ip(name, 'addr', 'add', a, 'dev', 'eth0', ...(a.includes(':') ? ['nodad'] : []));
    this.ip(name, 'link', 'set', 'eth0', 'up');
    const mac = (JSON.parse(this.ip(name, '-j', 'link', 'show', 'eth0')) as { address: string }[])[0]?.address ?? '';
    return { mac };
  }

  /**
   * Plugs an existing namespace into a switch with one more interface `ifname` (the lab's management link):
   * `switchPort(host)` on that switch cuts it.
   */
  attach(host: string, sw: string, ifname: string, addrs: string[]): void {
    const port = this.switchPort(host);
    this.ip(sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', ifname, 'netns', this.ns(host));
    this.ip(sw, 'link', 'set', port, 'master', 'br0');
    this.ip(sw, 'link', 'set', port, 'up');
    for (const a of addrs) this.ip(host, 'addr', 'add', a, 'dev', ifname, ...(a.includes(':') ? ['nodad'] : []));
    this.ip(host, 'link', 'set', ifname, 'up');
  }

  /** Deletes one namespace of this lab (a lab pod going away); its veths go with it. Killing its processes is the caller's part. */
  delNamespace(name: string): void {
    const ns = this.ns(name);
    const i = this.namespaces.indexOf(ns);
    if (i >= 0) this.namespaces.splice(i, 1);
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }

  /** Name of a host's port on the switch (see {@link addHost}): `ip -n SW link set PORT down` cuts the host's cable. */
  switchPort(host: string): string {
    return `p-${host}`.slice(0, 15);
  }

  /** A point-to-point veth between two namespaces of this lab (`ifA` in `a`, `ifB` in `b`), both ends up, no addresses. */
  addLink(a: string, ifA: string, b: string, ifB: string): void {
    this.ip(a, 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', this.ns(b));
    this.ip(a, 'link', 'set', ifA, 'up');
    this.ip(b, 'link', 'set', ifB, 'up');
  }

  /** Runs a command inside a namespace synchronously (optional stdin) and returns its stdout; throws on failure. */
  exec(name: string, cmd: string, args: string[], input?: string): string {
    return execFileSync('ip', ['netns', 'exec', this.ns(name), cmd, ...args], { encoding: 'utf8', ...(input !== undefined && { input }), stdio: ['pipe', 'pipe', 'pipe'] });
  }

  /** Runs a command inside a namespace and collects its output (never throws on a non-zero exit). */
  run(name: string, cmd: string, args: string[], timeoutMs = 30_000): Promise<Run> {
    return new Promise((resolve) => {
      const c = spawn('ip', ['netns', 'exec', this.ns(name), cmd, ...args]);
      let stdout = '', stderr = '';
      c.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      c.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
      c.on('close', (code) => { clearTimeout(t); resolve({ code: code ?? -1, stdout, stderr }); });
    });
  }

  /** Starts a long-running process inside a namespace; it is killed on destroy(). */
  start(name: string, cmd: string, args: string[]): ChildProcessWithoutNullStreams {
    const c = spawn('ip', ['netns', 'exec', this.ns(name), cmd, ...args], { stdio: 'pipe' });
    this.children.add(c);
    c.on('exit', () => this.children.delete(c));
    return c;
  }

  /** Deletes every namespace (and with them their interfaces) and kills every child. */
  destroySync(): void {
    for (const c of this.children) c.kill('SIGKILL');
    this.children.clear();
    for (const ns of this.namespaces.splice(0)) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    live.delete(this);
  }
}

/** A JSON-lines control channel to a child (e.g. `baregate l2-announce --control`). */
export class Control {
  private readonly waiting: ((o: Record<string, unknown>) => void)[] = [];
  private readonly early: Record<string, unknown>[] = [];
  stderr = '';

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!line.includes('"ctl"')) return; // structured logs share stdout
      const o = JSON.parse(line) as Record<string, unknown>;
      const w = this.waiting.shift();
      if (w) w(o); else this.early.push(o);
    });
    child.stderr.on('data', (d: Buffer) => { this.stderr += d.toString(); });
  }

  /** The next control line (e.g. the `ready` line after start). */
  next(timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const e = this.early.shift();
    if (e) return Promise.resolve(e);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { reject(new Error(`no control reply within ${timeoutMs} ms; stderr: ${this.stderr.slice(-2000)}`)); }, timeoutMs);
      this.waiting.push((o) => { clearTimeout(t); resolve(o); });
    });
  }

  /** Sends a command and returns its reply. */
  send(line: string): Promise<Record<string, unknown>> {
    this.child.stdin.write(`${line}\n`);
    return this.next();
  }
}
