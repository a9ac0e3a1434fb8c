/**
 * `baregate pause` / `baregate resume`: the switch that lets baregate be installed beside a running MetalLB (or any
 * other controller that wrote the Services' addresses) without touching a Service, and take over later with every
 * address kept. The switch itself is in src/k8s/pause.ts; the controller's side in src/lb/controller.ts.
 */
import { ALLOCATION_PAUSED_ANNOTATION } from '../api/keys.ts';
import { KubeClient } from '../k8s/client.ts';
import { setAllocationPaused } from '../k8s/pause.ts';

/** The `baregate pause|resume` flags, as commander parses them. */
export interface PauseFlags {
  kubeconfig?: string;
  /** baregate's namespace (default baregate-system). */
  namespace: string;
}

/** Sets (`paused`) or clears the pause annotation; resolves to the exit code (0 done or already so, 1 failed). */
export async function runPauseCommand(paused: boolean, flags: PauseFlags, write: (s: string) => void = (s) => { process.stdout.write(s); }): Promise<number> {
  const what = paused ? 'pause' : 'resume';
  let client: KubeClient | undefined;
  try {
    client = KubeClient.create({ kubeconfig: flags.kubeconfig, component: what });
    const r = await setAllocationPaused(client, flags.namespace, paused);
    if (r.kind === 'failed') { process.stderr.write(`${what}: ${r.message}\n`); return 1; }
    const ns = flags.namespace;
    if (paused) {
      write(`${r.createdNamespace ? `created namespace ${ns}; ` : ''}allocation ${r.changed ? 'paused' : 'was already paused'} (${ALLOCATION_PAUSED_ANNOTATION}=true on namespace ${ns}): `
        + 'the controller writes nothing to any Service until `baregate resume`\n');
    } else {
      write(r.changed
        ? `allocation resumed: the controller adopts every address the Services show, then allocates (check: baregate status, baregate doctor)\n`
        : `allocation was not paused (namespace ${ns} carries no ${ALLOCATION_PAUSED_ANNOTATION}=true)\n`);
    }
    return 0;
  } catch (e) {
    process.stderr.write(`${what}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    client?.destroy();
  }
}
