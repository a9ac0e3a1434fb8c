/**
 * The `baregate` command line, built once for each name it runs under: `baregate` (src/cli/main.ts) and
 * `kubectl baregate` (src/cli/kubectl-plugin.ts, which kubectl finds as `kubectl-baregate` on PATH). Subcommands are
 * thin: each loads and calls into its package only when it runs.
 */
import { readFileSync } from 'node:fs';
import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { HEARTBEAT_PORT, LOAD_BALANCER_CLASS, SYSTEM_NAMESPACE, WEBHOOK_PORT, WEBHOOK_SERVICE } from '../api/keys.ts';
import { METALLB_NAMESPACE } from '../api/metallb.ts';
import { DEFAULT_SCHEDULE } from '../l2/announcer.ts';
import { logger } from '../log.ts';
import { HANDOFF_DRAIN_MS } from '../speaker/handoff.ts';
import type { ControllerFlags } from './controller.ts';
import type { DoctorFlags } from './doctor.ts';
import type { MigrateFlags } from './migrate.ts';
import type { PauseFlags } from './pause.ts';
import type { SpeakerFlags } from './speaker.ts';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
};

/** Where the commands that talk to the API server find it: kubectl runs plugins with its own $KUBECONFIG, not a flag. */
const KUBECONFIG_HELP = 'kubeconfig file (default: in-cluster, else $KUBECONFIG, else ~/.kube/config)';

/** The commands of `baregate`; `name` is what usage and help show (`baregate` or `kubectl baregate`). */
export function buildProgram(name: string): Command {
  const program = new Command(name).description('Load balancer for bare-metal Kubernetes').version(version());

  program.command('version').description('print the version').action(() => { console.log(version()); });

  program.command('controller')
    .description('run the address controller (leader-elected) and the admission webhooks')
    .option('--kubeconfig <path>', KUBECONFIG_HELP)
    .option('--lb-class <name>', 'the spec.loadBalancerClass served (keep the class your Services already carry)', LOAD_BALANCER_CLASS)
    .option('--only-own-class', 'only handle Services whose loadBalancerClass is the --lb-class one (not those with no class)', false)
    .option('--identity <name>', 'leader election identity (default: $POD_NAME or hostname-pid)')
    .option('--lease-namespace <ns>', 'namespace of the leader election Lease', 'baregate-system')
    .option('--lease-duration <seconds>', 'leader lease duration', int, 15)
    .option('--metrics-port <port>', 'port for /metrics and /healthz (0 disables)', int, 7472)
    .option('--metrics-host <host>', 'address to serve metrics on', '0.0.0.0')
    .option('--namespace <ns>', 'namespace of the webhook certificate and heartbeat key Secrets (default: $POD_NAMESPACE, then baregate-system)')
    .option('--webhook-port <port>', 'HTTPS port of the admission webhooks (0 disables webhooks and certificate management)', int, WEBHOOK_PORT)
    .option('--webhook-host <host>', 'address the webhook server listens on', '0.0.0.0')
    .option('--webhook-service <name>', 'Service in front of the webhook (the certificate names derive from it)', WEBHOOK_SERVICE)
    .option('--webhook-extra-sans <names>', 'comma list of more DNS names or IPs for the webhook certificate', '')
    .addOption(new Option('--webhook-cert-mode <mode>', 'self: the controller makes and rotates its CA and certificate; external: cert-manager does').choices(['self', 'external']).default('self'))
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace', 'info')
    .action(async (opts: ControllerFlags) => {
      // each subcommand loads only its own modules: the speaker commands stay small in memory
      const { runControllerCommand } = await import('./controller.ts');
      runControllerCommand(opts);
    });

  program.command('speaker')
    .description('run the per-node speaker: announce Service IPs (L2 ARP/NDP, BGP) with fast failover')
    .option('--node-name <name>', 'this node (default: $NODE_NAME)')
    .option('--kubeconfig <path>', KUBECONFIG_HELP)
    .option('--metrics-port <port>', 'port for /metrics, /healthz and /readyz (0 disables)', int, 7473)
    .option('--metrics-host <host>', 'address to serve metrics on', '0.0.0.0')
    .option('--heartbeat-port <port>', 'UDP port of speaker heartbeats (the same on every node)', int, HEARTBEAT_PORT)
    .option('--heartbeat-interval-ms <ms>', 'time between heartbeats', int, 100)
    .option('--heartbeat-timeout-ms <ms>', 'a speaker not heard for this long is no longer alive', int, 350)
    .option('--lease-duration <seconds>', 'duration of the speaker membership Lease', int, 15)
    .option('--bgp-port <port>', 'TCP port BGP listens on for passive peers', int, 179)
    .option('--handoff-drain-ms <ms>', 'after a graceful L2 move, pass the old owner\'s connections on to it this long (needs nft and NET_ADMIN; 0: off)', int, HANDOFF_DRAIN_MS)
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace', 'info')
    .action(async (opts: SpeakerFlags) => {
      const { runSpeakerCommand } = await import('./speaker.ts');
      try {
        await runSpeakerCommand(opts);
      } catch (e) {
        console.error(`speaker: ${e instanceof Error ? e.message : String(e)}`);
        process.exit(2);
      }
    });

  program.command('status')
    .description('show every LoadBalancer Service with its IPs, pool, mode and announcing nodes, and each node\'s BGP sessions')
    .option('--kubeconfig <path>', KUBECONFIG_HELP)
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (opts: { kubeconfig?: string; output: string }) => {
      const { runStatusCommand } = await import('./status.ts');
      process.exitCode = await runStatusCommand(opts);
    });

  program.command('migrate')
    .description('convert MetalLB configuration (files or --from-cluster) into baregate objects, with a report of what changed meaning or has no equivalent')
    .argument('[files...]', 'YAML files, multi-document: MetalLB objects (metallb.io v1beta1/v1beta2/v1alpha1), the legacy config ConfigMap, Helm values with configInline, Services; - reads stdin')
    .option('--from-cluster', 'read MetalLB\'s objects, its legacy ConfigMap and the LoadBalancer Services from the cluster', false)
    .option('--kubeconfig <path>', KUBECONFIG_HELP)
    .option('-o, --output <file>', 'write the baregate objects here (default: stdout)')
    .option('--report <file>', 'write the report here (default: stderr)')
    .addOption(new Option('--report-format <format>', 'report as text or json').choices(['text', 'json']).default('text'))
    .option('--rewrite-annotations <file>', 'also write a script of kubectl commands that move the Services\' MetalLB annotations to baregate.io keys')
    .option('--metallb-namespace <ns>', 'the namespace MetalLB runs in', METALLB_NAMESPACE)
    .action(async (files: string[], opts: MigrateFlags) => {
      const { runMigrateCommand } = await import('./migrate.ts');
      process.exitCode = await runMigrateCommand(files, opts);
    });

  program.command('doctor')
    .description('check the cluster for what breaks load balancing (kube-proxy strictARP, pools, advertisements, speakers, BGP sessions, certificates, another load balancer) and print each finding with its fix; the exit code is the worst finding (0 none, 1 warning, 2 error, 3 could not check)')
    .option('--kubeconfig <path>', KUBECONFIG_HELP)
    .addOption(new Option('-o, --output <format>', 'table or json').choices(['table', 'json']).default('table'))
    .option('--namespace <ns>', 'the namespace baregate runs in', SYSTEM_NAMESPACE)
    .action(async (opts: DoctorFlags) => {
      const { runDoctorCommand } = await import('./doctor.ts');
      process.exitCode = await runDoctorCommand(opts);
    });

  for (const [verb, pause, description] of [
    ['pause', true, 'pause allocation: the controller writes nothing to any Service until resume (annotates the baregate namespace, creating it if needed); for switching from MetalLB'],
    ['resume', false, 'resume allocation after pause: the controller adopts every address the Services show, then allocates'],
  ] as const) {
    program.command(verb)
      .description(description)
      .option('--kubeconfig <path>', KUBECONFIG_HELP)
      .option('--namespace <ns>', 'the namespace baregate runs in', SYSTEM_NAMESPACE)
      .action(async (opts: PauseFlags) => {
        const { runPauseCommand } = await import('./pause.ts');
        process.exitCode = await runPauseCommand(pause, opts);
      });
  }

  program.command('lab')
    .description('a whole bare-metal cluster in network namespaces on this machine (source checkout, root): up, down, status, failover')
    .addArgument(new Argument('[action]', 'up: bring it up and keep it until Ctrl-C; down: stop it; status: Services, IPs, owners; failover: kill the owner of demo\'s IPv4 and time the gap').choices(['up', 'down', 'status', 'failover']).default('up'))
    .option('--nodes <n>', 'number of nodes, 1 to 8 (up)', '3')
    .option('--once', 'up: bring up, check traffic from both clients, tear down; exit code 0 only if traffic flowed', false)
    .addOption(new Option('--tag <tag>', 'namespace tag (network namespaces are bg<tag>-…)').hideHelp())
    .action(async (action: string, opts: { nodes: string; once: boolean; tag?: string }) => {
      const { labFlags, runLabCommand } = await import('./lab.ts');
      const parsed = labFlags(action, opts);
      if (typeof parsed === 'string') { process.stderr.write(`baregate lab: ${parsed}\n`); process.exitCode = 2; return; }
      process.exit(await runLabCommand(parsed.action, parsed.flags)); // the lab's child handles must not keep the CLI alive
    });

  program.command('l2-announce')
    .description('answer ARP/NDP for IPs on one interface, with gratuitous announcements (no Kubernetes needed)')
    .requiredOption('--interface <name>', 'interface to answer on')
    .option('--ip <ip...>', 'IPs to own from the start', [])
    .option('--control', 'read "add IP..." / "del IP..." / "stats" / "fds" lines from stdin, answer in JSON', false)
    .option('--announce-schedule <ms,...>', 'when to send gratuitous announcements after a gain, ms', (v: string) => {
      const xs = v.split(',').map(Number);
      if (xs.length === 0 || xs.some((x) => !Number.isInteger(x) || x < 0)) throw new InvalidArgumentError('a comma list of non-negative integers');
      return xs;
    }, [...DEFAULT_SCHEDULE])
    .action(async (opts: { interface: string; ip: string[]; control: boolean; announceSchedule: number[] }) => {
      const { l2Announce } = await import('./l2announce.ts'); // loads the native addon only for this command
      l2Announce(opts);
    });

  program.command('bgp-announce')
    .description('run the BGP speaker standalone and announce the prefixes of a config file (no Kubernetes needed)')
    .requiredOption('--config <file>', 'YAML/JSON: routerID, myASN, peers[], prefixes[] (see README)')
    .option('--control', 'read announce/withdraw/announce-many/withdraw-all/shutdown/stats lines from stdin, answer in JSON', false)
    .action(async (opts: { config: string; control: boolean }) => {
      const { bgpAnnounce } = await import('./bgpannounce.ts'); // loads the native addon only for this command
      try {
        await bgpAnnounce(opts);
      } catch (e) {
        console.error(`bgp-announce: ${e instanceof Error ? e.message : String(e)}`);
        process.exit(2);
      }
    });

  return program;
}

/** Runs the command line of process.argv under `name`; a failure that escapes a command exits 2 with its message. */
export function runCli(name: string): void {
  process.on('unhandledRejection', (e) => { logger('cli').error({ event: 'unhandled_rejection', err: String(e) }, 'unhandled rejection'); });
  buildProgram(name).parseAsync().catch((e: unknown) => { console.error(e instanceof Error ? e.message : String(e)); process.exit(2); });
}
