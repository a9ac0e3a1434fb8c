/**
 * `baregate lab up|down|status|failover`: the local lab of issue 10 (a whole bare-metal cluster in network
 * namespaces on one Linux machine). The lab itself is test infrastructure that lives in the source checkout
 * (`tools/lab/main.ts`, run with tsx): it starts kube-apiserver, kube-proxy and BIRD, which an installed
 * package does not carry. So this command is thin: it checks what can be checked without starting anything
 * (Linux, root, the commands the lab runs), says plainly what is missing and how to fix it, and runs the lab
 * program (in this process when it runs from TypeScript sources, else as a tsx child, passing signals on). From
 * an installed package (no `tools/`) it says where the lab runs.
 *
 * The checks and the argument handling are pure functions ({@link labPrerequisites}, {@link labArgv},
 * {@link parseLabNodes}) so their messages are unit-tested without root.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The subcommands, in the order the help lists them. */
export const LAB_ACTIONS = ['up', 'down', 'status', 'failover'] as const;
/** One of {@link LAB_ACTIONS}. */
export type LabAction = (typeof LAB_ACTIONS)[number];

/**
 * Upper bound of `--nodes`. The same number as `LAB_MAX_NODES` in tools/lab/api.ts (the pod /29s must fit in the
 * lab's /26): product code cannot import tools/, so the unit test holds the two equal.
 */
export const LAB_NODES_MAX = 8;
/** Default `--nodes`. */
export const LAB_NODES_DEFAULT = 3;

/** Flags of `baregate lab`. */
export interface LabFlags {
  nodes: number;
  once: boolean;
  /** Namespace tag (network namespaces are `bg<tag>-…`); advanced, hidden from the help. */
  tag?: string;
}

/** A prerequisite that is not met: what, and the command that fixes it. */
export interface LabProblem {
  readonly problem: string;
  readonly fix: string;
}

/** What {@link labPrerequisites} looks at: the machine, injected so the messages are testable anywhere. */
export interface LabProbe {
  readonly platform: string;
  /** Effective uid (undefined where there is none, i.e. not POSIX). */
  readonly uid: number | undefined;
  /** Whether an executable of this name is on PATH. */
  has(cmd: string): boolean;
}

/** Commands the lab runs, with the Debian package that carries each. */
export const LAB_COMMANDS = [
  { cmd: 'ip', pkg: 'iproute2', why: 'network namespaces, veths and bridges' },
  { cmd: 'nft', pkg: 'nftables', why: 'kube-proxy (nftables mode) and the lab\'s partitions' },
  { cmd: 'bird', pkg: 'bird2', why: 'the BGP router' },
  { cmd: 'birdc', pkg: 'bird2', why: 'reading the router\'s routes' },
  { cmd: 'arping', pkg: 'arping', why: 'finding the node that answers ARP for a Service IP' },
  { cmd: 'ndisc6', pkg: 'ndisc6', why: 'finding the node that answers NDP for a Service IP' },
  { cmd: 'nginx', pkg: 'nginx', why: 'the ingress gateways\' data plane (run only inside lab pods)' },
] as const;

/** Tag characters: the tag is part of network namespace names (15-character interface names are built from them). */
const TAG_RE = /^[a-z0-9]{1,6}$/;

/**
 * Everything that stops `action` from working on this machine, each with its fix. `up` needs Linux, root and every
 * command of {@link LAB_COMMANDS}; the other actions only talk to (or clean up after) a running lab, which needs
 * Linux and root too (the run directory and the namespaces are root's).
 */
export function labPrerequisites(action: LabAction, probe: LabProbe): LabProblem[] {
  if (probe.platform !== 'linux') {
    return [{ problem: `the lab runs on Linux only (it builds a cluster out of network namespaces); this machine is ${probe.platform}`, fix: 'run it on a Linux machine or VM (Debian 12 or newer is what setup knows)' }];
  }
  const out: LabProblem[] = [];
  if (probe.uid !== 0) {
    const fix = action === 'up' ? 'sudo npm run lab' : `sudo npm run -s baregate -- lab ${action}`;
    out.push({ problem: 'the lab creates network namespaces: run it as root', fix: `e.g. ${fix}` });
  }
  if (action !== 'up') return out;
  for (const c of LAB_COMMANDS.filter((x) => !probe.has(x.cmd))) {
    out.push({ problem: `\`${c.cmd}\` is not installed (${c.why})`, fix: `sudo apt-get install ${c.pkg}, or sudo bash tools/setup.sh --k8s (installs everything the lab needs)` });
  }
  return out;
}

/** The problems as the user reads them (one line each, then its fix). */
export function formatProblems(problems: readonly LabProblem[]): string {
  return problems.map((p) => `baregate lab: ${p.problem}\n  fix: ${p.fix}\n`).join('');
}

/** Parses `--nodes`: an integer 1..{@link LAB_NODES_MAX}; throws an Error whose message says what is allowed. */
export function parseLabNodes(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isInteger(n) || n < 1 || n > LAB_NODES_MAX) {
    throw new Error(`--nodes must be a whole number from 1 to ${LAB_NODES_MAX} (got ${JSON.stringify(v)})`);
  }
  return n;
}

/** Parses the hidden `--tag`: 1-6 lowercase letters or digits (it becomes part of namespace names). */
export function parseLabTag(v: string): string {
  if (!TAG_RE.test(v)) throw new Error(`--tag must be 1 to 6 lowercase letters or digits (got ${JSON.stringify(v)})`);
  return v;
}

/**
 * Validates what commander parsed (`action` is one of the choices already, but this is also the lab program's own
 * parser): the flags, or the message that says what is wrong.
 */
export function labFlags(action: string, raw: { nodes?: string | undefined; once?: boolean | undefined; tag?: string | undefined }): { action: LabAction; flags: LabFlags } | string {
  const act = LAB_ACTIONS.find((a) => a === action);
  if (act === undefined) return `unknown action ${JSON.stringify(action)}: use one of ${LAB_ACTIONS.join(', ')}`;
  try {
    const nodes = raw.nodes === undefined ? LAB_NODES_DEFAULT : parseLabNodes(raw.nodes);
    const tag = raw.tag === undefined ? undefined : parseLabTag(raw.tag);
    if (raw.once === true && act !== 'up') return `--once belongs to \`up\` (bring up, check, tear down), not to \`${act}\``;
    return { action: act, flags: { nodes, once: raw.once === true, ...(tag !== undefined && { tag }) } };
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/**
 * The lab program's arguments for `action` and `flags` (what tools/lab/main.ts parses): the flags belong to `up`
 * (the other actions find the running lab by its run directory, whatever its size or tag).
 */
export function labArgv(action: LabAction, flags: LabFlags): string[] {
  if (action !== 'up') return [action];
  return [action, '--nodes', String(flags.nodes), ...(flags.once ? ['--once'] : []), ...(flags.tag !== undefined ? ['--tag', flags.tag] : [])];
}

/** The lab program in the checkout at `root`, or undefined when this is an installed package (no tools/ or no tsx). */
export function labEntry(root: string): string | undefined {
  const main = join(root, 'tools', 'lab', 'main.ts');
  return existsSync(main) && existsSync(join(root, 'node_modules', 'tsx')) ? main : undefined;
}

/** What an installed package says instead of running the lab. */
export const NOT_A_CHECKOUT = [
  'baregate lab: the lab runs from a source checkout (it starts kube-apiserver, kube-proxy and BIRD in network',
  'namespaces with the project\'s test tooling, which the installed package does not carry). To run it:',
  '  git clone <the baregate repository> && cd baregate',
  '  sudo npm run lab          # installs what it needs, then: baregate lab up',
  '',
].join('\n');

/** Whether `cmd` is an executable on PATH. */
function onPath(cmd: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try { accessSync(join(dir, cmd), constants.X_OK); return true; } catch { /* next */ }
  }
  return false;
}

/** This machine, for {@link labPrerequisites}. */
export function machineProbe(): LabProbe {
  return { platform: process.platform, uid: process.getuid?.(), has: onPath };
}

/**
 * Runs `baregate lab ACTION`: checks, then the lab program (in-process from sources, else as a child with this
 * terminal); returns its exit code.
 * Ctrl-C reaches the child directly (same process group); SIGTERM/SIGHUP sent to this process are passed on, and
 * this process waits for the child's teardown rather than leaving namespaces behind.
 */
export async function runLabCommand(action: LabAction, flags: LabFlags, opts: { root?: string; probe?: LabProbe; write?: (s: string) => void } = {}): Promise<number> {
  const write = opts.write ?? ((s: string): void => { process.stderr.write(s); });
  const root = opts.root ?? fileURLToPath(new URL('../../', import.meta.url));
  const entry = labEntry(root);
  if (entry === undefined) { write(NOT_A_CHECKOUT); return 2; }
  const problems = labPrerequisites(action, opts.probe ?? machineProbe());
  if (problems.length > 0) { write(formatProblems(problems)); return 2; }
  if (import.meta.url.endsWith('.ts')) {
    // running from TypeScript sources: a TS loader is active, so the lab program runs in this process (one node
    // start less: seconds on a busy machine). The path is computed, so the build never follows it into tools/.
    const program = await import(pathToFileURL(entry).href) as { runLabProgram: (argv: string[]) => Promise<number> };
    return program.runLabProgram(labArgv(action, flags));
  }
  return new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry, ...labArgv(action, flags)], { cwd: root, stdio: 'inherit' });
    const pass = (sig: NodeJS.Signals) => (): void => { child.kill(sig); };
    // Ctrl-C goes to the whole foreground group, the child included: this process only has to stay alive for it
    const handlers = { SIGINT: (): void => undefined, SIGTERM: pass('SIGTERM'), SIGHUP: pass('SIGTERM') } as const;
    for (const [sig, h] of Object.entries(handlers)) process.on(sig, h);
    const done = (code: number): void => {
      for (const [sig, h] of Object.entries(handlers)) process.off(sig, h);
      resolve(code);
    };
    child.on('error', (e) => { write(`baregate lab: could not start the lab program: ${e.message}\n`); done(2); });
    child.on('exit', (code, sig) => { done(code ?? (sig === 'SIGINT' ? 130 : 1)); });
  });
}
