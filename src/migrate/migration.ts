/**
 * One migration from start to end, pure: documents in (files or what the cluster returned), the baregate objects as
 * YAML text, the report and the annotation script out. The CLI (src/cli/migrate.ts) only reads inputs and writes these
 * texts, so the file path and the `--from-cluster` path produce byte-identical objects from the same MetalLB objects.
 */
import { stringify } from 'yaml';
import { convert } from './convert.ts';
import { classify, type SourceDoc } from './input.ts';
import { exitCodeOf, Levels, type Finding, type MigrateReport, type OutputObject } from './report.ts';
import { analyzeServices, rewriteScript } from './services.ts';

/** Options of {@link migrate}. */
export interface MigrationOptions {
  readonly metallbNamespace: string;
  /** How the header and the report name the inputs (`file pools.yaml`, `cluster (metallb.io v1beta1, v1beta2)`). */
  readonly sources: readonly string[];
  /** Findings of the reading itself (a missing CRD group, a ConfigMap that is not there). */
  readonly readFindings?: readonly Finding[];
}

/** What {@link migrate} returns. */
export interface Migration {
  readonly objects: readonly OutputObject[];
  /** The objects as multi-document YAML with a header comment (empty text when there are none). */
  readonly yaml: string;
  readonly report: MigrateReport;
  /** The `--rewrite-annotations` script. */
  readonly script: string;
}

/** The objects as YAML: a header naming the sources, then one document per object in output order. */
export function renderObjects(objects: readonly OutputObject[], sources: readonly string[]): string {
  const header = [
    '# baregate.io objects converted from MetalLB\'s configuration by `baregate migrate`.',
    `# Sources: ${sources.length > 0 ? sources.join('; ') : 'none'}.`,
    '# Read the report before applying: it lists what changed meaning and what has no equivalent.',
  ].join('\n');
  const docs = objects.map((o) => `---\n${stringify(o, { lineWidth: 0 })}`);
  return `${header}\n${docs.join('')}`;
}

/**
 * Runs the migration on documents that were read successfully. Exit code 2 (input error) only when nothing of
 * MetalLB's was found; otherwise 0 or 1 by the findings (report.ts).
 */
export function migrate(docs: readonly SourceDoc[], opts: MigrationOptions): Migration {
  const inputs = classify(docs, opts.metallbNamespace);
  // MetalLB v0.13 replaced the legacy configuration by its CRDs and reads nothing else: beside metallb.io objects a
  // legacy configuration is a leftover, not the configuration in effect
  const skipLegacy = inputs.metallb.length > 0 && inputs.legacy.length > 0;
  const legacyNotes: Finding[] = skipLegacy
    ? inputs.legacy.map((l) => ({ level: Levels.info, subject: l.subject, message: 'not converted: the input holds metallb.io objects, and MetalLB v0.13 and later read only those (convert this file on its own if it is the configuration in effect)' }))
    : [];
  const conv = convert(inputs.metallb, skipLegacy ? [] : inputs.legacy, opts.metallbNamespace);
  const svc = analyzeServices(inputs.services, conv.objects);
  const findings: Finding[] = [...(opts.readFindings ?? []), ...inputs.findings, ...legacyNotes, ...conv.findings, ...svc.findings];
  const nothing = inputs.metallb.length === 0 && inputs.legacy.length === 0;
  if (nothing) findings.unshift({ level: Levels.error, subject: 'input', message: 'nothing of MetalLB\'s found: no metallb.io objects, no legacy config ConfigMap, no Helm values with configInline' });
  const report: MigrateReport = {
    sources: [...opts.sources],
    objects: conv.objects.map((o) => `${o.kind}/${o.metadata.name}`),
    findings,
    services: svc.services,
    exitCode: nothing ? 2 : exitCodeOf(findings),
  };
  return { objects: conv.objects, yaml: renderObjects(conv.objects, opts.sources), report, script: rewriteScript(svc.rewrite, opts.sources) };
}
