/**
 * `baregate migrate`: MetalLB configuration (files or the live cluster) to baregate objects, with a report.
 *
 * Reads the files (multi-document YAML; `-` is stdin) and, with `--from-cluster`, MetalLB's objects, its legacy
 * ConfigMap and the LoadBalancer Services (src/k8s/metallbread.ts); converts them (src/migrate/migration.ts, pure);
 * writes the objects (`-o FILE`, default stdout), the report (`--report FILE`, default stderr; text or json) and, with
 * `--rewrite-annotations FILE`, a sh script that moves the Services' MetalLB annotations to baregate.io keys.
 *
 * Exit code: 0 everything converted (changes of meaning are reported), 1 something has no equivalent or a Service
 * would lose its address, 2 input error (unreadable file, bad YAML, nothing of MetalLB's found, cluster unreachable).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { METALLB_GROUP } from '../api/metallb.ts';
import { KubeClient } from '../k8s/client.ts';
import { readMetalLBFromCluster } from '../k8s/metallbread.ts';
import { parseDocuments, type SourceDoc } from '../migrate/input.ts';
import { migrate } from '../migrate/migration.ts';
import { formatReportJSON, formatReportText, Levels, type Finding, type MigrateReport } from '../migrate/report.ts';

/** The `baregate migrate` flags, as commander parses them (main.ts defines them). */
export interface MigrateFlags {
  kubeconfig?: string;
  /** Read MetalLB's objects (and the Services) from the cluster instead of / besides files. */
  fromCluster: boolean;
  /** Where the baregate objects go (multi-document YAML); absent or `-`: stdout. */
  output?: string;
  /** Where the report goes; absent: stderr. */
  report?: string;
  reportFormat: 'text' | 'json';
  /** Write the annotation patches (MetalLB keys to baregate.io keys) to this file. */
  rewriteAnnotations?: string;
  /** Namespace MetalLB runs in (default metallb-system). */
  metallbNamespace: string;
}

/** Where the command's text goes; tests replace it. */
export interface MigrateIO {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  readonly stdin: () => string;
}

const processIO: MigrateIO = {
  stdout: (s) => { process.stdout.write(s); },
  stderr: (s) => { process.stderr.write(s); },
  stdin: () => readFileSync(0, 'utf8'),
};

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** A report of an input error (exit code 2), in the requested format. */
function inputErrorReport(sources: readonly string[], text: string): MigrateReport {
  return { sources: [...sources], objects: [], findings: [{ level: Levels.error, subject: 'input', message: text }], services: [], exitCode: 2 };
}

/** Runs the command; resolves to the process exit code. */
export async function runMigrateCommand(files: readonly string[], flags: MigrateFlags, io: MigrateIO = processIO): Promise<number> {
  const sources: string[] = [];
  const docs: SourceDoc[] = [];
  const readFindings: Finding[] = [];
  const writeReport = (r: MigrateReport): void => {
    const text = flags.reportFormat === 'json' ? formatReportJSON(r) : formatReportText(r);
    if (flags.report !== undefined && flags.report !== '-') writeFileSync(flags.report, text);
    else io.stderr(text);
  };
  const fail = (text: string): number => {
    try { writeReport(inputErrorReport(sources, text)); } catch (e) { io.stderr(`migrate: ${text}\nmigrate: cannot write the report: ${message(e)}\n`); }
    return 2;
  };

  if (files.length === 0 && !flags.fromCluster) return fail('no input: name YAML files (- for stdin) or use --from-cluster');
  for (const f of files) {
    let text: string;
    try { text = f === '-' ? io.stdin() : readFileSync(f, 'utf8'); } catch (e) { return fail(`cannot read ${f}: ${message(e)}`); }
    const name = f === '-' ? 'stdin' : f;
    sources.push(f === '-' ? 'stdin' : `file ${f}`);
    const parsed = parseDocuments(text, name);
    if ('error' in parsed) return fail(`not valid YAML: ${parsed.error}`);
    docs.push(...parsed);
  }

  if (flags.fromCluster) {
    let client: KubeClient | undefined;
    try {
      client = KubeClient.create({ kubeconfig: flags.kubeconfig, component: 'migrate' });
      const read = await readMetalLBFromCluster(client, flags.metallbNamespace);
      sources.push(`cluster namespace ${flags.metallbNamespace} (${read.versions.length > 0 ? `${METALLB_GROUP} ${read.versions.join(', ')}` : `no ${METALLB_GROUP} CRDs`}${read.configMap ? ', legacy ConfigMap' : ''}) and ${read.services.length} LoadBalancer Service(s)`);
      for (const n of read.notes) readFindings.push({ level: Levels.info, subject: 'cluster', message: n });
      let index = 0;
      for (const obj of [...read.objects, ...(read.configMap ? [read.configMap] : []), ...read.services]) docs.push({ source: 'cluster', index: ++index, obj });
    } catch (e) {
      return fail(`cannot read the cluster: ${message(e)}`);
    } finally {
      client?.destroy();
    }
  }

  const m = migrate(docs, { metallbNamespace: flags.metallbNamespace, sources, readFindings });
  try {
    if (m.report.exitCode !== 2) {
      if (flags.output !== undefined && flags.output !== '-') writeFileSync(flags.output, m.yaml);
      else io.stdout(m.yaml);
      if (flags.rewriteAnnotations !== undefined) writeFileSync(flags.rewriteAnnotations, m.script, { mode: 0o755 });
    }
    writeReport(m.report);
  } catch (e) {
    io.stderr(`migrate: cannot write: ${message(e)}\n`);
    return 2;
  }
  return m.report.exitCode;
}
