/**
 * `baregate doctor`: checks a live cluster for what breaks load balancing most often (kube-proxy strictARP, pools,
 * advertisements, speakers, BGP sessions, the webhook certificate, another load balancer) and prints each finding with
 * its severity and fix. The exit code is the worst finding, so scripts and CI can gate on it: 0 none or info only,
 * 1 warning, 2 error, 3 the cluster could not be talked to.
 *
 * The checks are pure (src/doctor/checks.ts `diagnose`), the reading is src/k8s/doctorread.ts; this file only
 * prints, by a pure function ({@link formatFindings}) for the table and the report's JSON for `-o json`.
 */
import { countBySeverity, diagnose, doctorReport, type Finding } from '../doctor/checks.ts';
import { KubeClient } from '../k8s/client.ts';
import { readDoctorSnapshot } from '../k8s/doctorread.ts';

/** The `baregate doctor` flags, as commander parses them (main.ts defines them). */
export interface DoctorFlags {
  kubeconfig?: string;
  output: 'table' | 'json';
  /** baregate's namespace (default baregate-system). */
  namespace: string;
}

/** Exit code when the cluster could not be talked to (no answer, credentials refused, no kubeconfig). */
export const EXIT_UNREACHABLE = 3;

/** Left-aligned columns, two spaces apart (the last column is not padded). */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

/**
 * The findings as a person reads them: one row per finding (SEVERITY, CODE, OBJECT, MESSAGE), its fix on the line
 * below (a fix is a command or a sentence, too long for a column), then a count per severity.
 */
export function formatFindings(findings: readonly Finding[]): string {
  if (findings.length === 0) return 'No problems found.\n';
  const [header = '', ...rows] = table(['SEVERITY', 'CODE', 'OBJECT', 'MESSAGE'], findings.map((f) => [f.severity.toUpperCase(), f.code, f.object, f.message]));
  const out = [header];
  findings.forEach((f, i) => { out.push(rows[i] ?? '', `  fix: ${f.fix}`); });
  const n = countBySeverity(findings);
  out.push('', `${n.error} error(s), ${n.warning} warning(s), ${n.info} info`);
  return `${out.join('\n')}\n`;
}

/** Runs the command; resolves to the process exit code (the worst finding, or 3 when the cluster cannot be reached). */
export async function runDoctorCommand(flags: DoctorFlags, write: (s: string) => void = (s) => { process.stdout.write(s); }): Promise<number> {
  const output: string = flags.output;
  if (output !== 'json' && output !== 'table') { process.stderr.write(`doctor: -o must be table or json, not ${output}\n`); return EXIT_UNREACHABLE; }
  let client: KubeClient | undefined;
  try {
    client = KubeClient.create({ kubeconfig: flags.kubeconfig, component: 'doctor' });
    const read = await readDoctorSnapshot(client, flags.namespace);
    if (read.kind === 'unreachable') { process.stderr.write(`doctor: could not talk to the cluster at ${client.server}: ${read.message}\n`); return EXIT_UNREACHABLE; }
    const report = doctorReport(diagnose(read.snapshot, new Date()));
    write(flags.output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatFindings(report.findings));
    return report.exitCode;
  } catch (e) {
    process.stderr.write(`doctor: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT_UNREACHABLE;
  } finally {
    client?.destroy();
  }
}
