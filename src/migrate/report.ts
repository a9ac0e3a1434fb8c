/**
 * The report of `baregate migrate`: what every MetalLB object became, what changed meaning, what has no equivalent,
 * what the user must do, and the Services whose addresses are at stake; plus the exit code it implies. Pure: the types
 * every migrate file shares, and the text and JSON printers (the CLI only writes what these return).
 */

/** How much a finding matters. The exit code follows from the worst one (see {@link exitCodeOf}). */
export const Levels = {
  /** Converted as-is (the object, or a field worth naming such as an inlined community). */
  converted: 'converted',
  /** Converted, with another meaning: the message says how. Exit code 0. */
  changed: 'changed',
  /** baregate cannot do it: dropped or left out, the message says why and what happens. Exit code 1. */
  none: 'no-equivalent',
  /** Something breaks unless fixed: a Service would lose its address, an object could not be converted. Exit code 1. */
  error: 'error',
  /** Something the user must do (copy a Secret, start the controller with a flag). Exit code 0. */
  action: 'action',
  /** For the record (objects skipped, bookkeeping dropped). */
  info: 'info',
} as const;
/** One of {@link Levels}. */
export type Level = (typeof Levels)[keyof typeof Levels];

/** One line of the report. */
export interface Finding {
  readonly level: Level;
  /** What it is about: a MetalLB object (`BGPPeer metallb-system/tor1`), a Service (`Service default/web`). */
  readonly subject: string;
  /** Field path in the MetalLB object, when it is about one field. */
  readonly field?: string;
  readonly message: string;
  /** A command that does what the message asks (never one that prints a Secret). */
  readonly command?: string;
}

/** A baregate object the migration writes (cluster-scoped, so no namespace). */
export interface OutputObject {
  readonly apiVersion: string;
  readonly kind: OutputKind;
  readonly metadata: { readonly name: string; readonly labels?: Readonly<Record<string, string>>; readonly annotations?: Readonly<Record<string, string>> };
  readonly spec: Readonly<Record<string, unknown>>;
}

/** The kinds a migration writes, in output order (a BFDProfile before the BGPPeers that name it). */
export const OUTPUT_KINDS = ['IPAddressPool', 'L2Advertisement', 'BGPAdvertisement', 'BFDProfile', 'BGPPeer'] as const;
/** One of {@link OUTPUT_KINDS}. */
export type OutputKind = (typeof OUTPUT_KINDS)[number];

/** One MetalLB annotation on a Service that baregate reads unchanged. */
export interface AcceptedAnnotation {
  readonly key: string;
  readonly value: string;
  /** The baregate.io key with the same meaning (what `--rewrite-annotations` moves it to). */
  readonly baregateKey: string;
}

/** One LoadBalancer Service. */
export interface ServiceEntry {
  /** `namespace/name`. */
  readonly service: string;
  /** Addresses it holds (status) and asks for (annotation, spec.loadBalancerIP), deduplicated. */
  readonly addresses: readonly string[];
  /** The converted pool each address lies in (`''`: none: the address would be lost). */
  readonly pools: readonly string[];
  readonly annotations: readonly AcceptedAnnotation[];
  /** `spec.loadBalancerClass`, when set. */
  readonly loadBalancerClass?: string;
}

/** The whole report (`--report-format json` prints exactly this). */
export interface MigrateReport {
  /** Where the input came from (files, the cluster). */
  readonly sources: readonly string[];
  /** What was written, as `Kind/name`. */
  readonly objects: readonly string[];
  readonly findings: readonly Finding[];
  readonly services: readonly ServiceEntry[];
  /** 0: all converted (changes of meaning reported); 1: something has no equivalent or a Service would lose its address; 2: input error. */
  readonly exitCode: 0 | 1 | 2;
}

/** The exit code findings imply when the input could be read: 1 for any `no-equivalent` or `error`, else 0. */
export function exitCodeOf(findings: readonly Finding[]): 0 | 1 {
  return findings.some((f) => f.level === Levels.none || f.level === Levels.error) ? 1 : 0;
}

const SECTIONS: readonly { level: Level; title: string }[] = [
  { level: Levels.error, title: 'ERRORS (fix these before switching)' },
  { level: Levels.none, title: 'NO EQUIVALENT in baregate (dropped or left out)' },
  { level: Levels.changed, title: 'CHANGED MEANING' },
  { level: Levels.action, title: 'TO DO' },
  { level: Levels.converted, title: 'CONVERTED AS-IS' },
  { level: Levels.info, title: 'NOTES' },
];

const EXIT_TEXT: Readonly<Record<number, string>> = {
  0: 'exit 0: everything converted (changes of meaning are listed above)',
  1: 'exit 1: something has no equivalent or a Service would lose its address (see above)',
  2: 'exit 2: the input could not be read',
};

/** The report as a person reads it: sections from the most to the least urgent, then the Services. */
export function formatReportText(r: MigrateReport): string {
  const out: string[] = [];
  out.push(`baregate migrate: ${r.sources.length > 0 ? r.sources.join('; ') : 'no input'}`);
  out.push(`wrote ${r.objects.length} object(s)${r.objects.length > 0 ? `: ${r.objects.join(', ')}` : ''}`);
  for (const s of SECTIONS) {
    const items = r.findings.filter((f) => f.level === s.level);
    if (items.length === 0) continue;
    out.push('', `${s.title}:`);
    for (const f of items) {
      out.push(`  - ${f.subject}${f.field !== undefined ? ` ${f.field}` : ''}: ${f.message}`);
      if (f.command !== undefined) out.push(`      $ ${f.command}`);
    }
  }
  if (r.services.length > 0) {
    out.push('', 'SERVICES (type LoadBalancer):');
    for (const s of r.services) {
      const addrs = s.addresses.map((a, i) => `${a} (${(s.pools[i] ?? '') === '' ? 'IN NO POOL' : `pool ${s.pools[i] ?? ''}`})`).join(', ');
      out.push(`  - ${s.service}: ${addrs === '' ? 'no address yet' : addrs}${s.loadBalancerClass !== undefined ? `; class ${s.loadBalancerClass}` : ''}`);
      for (const a of s.annotations) out.push(`      ${a.key}=${a.value}  (accepted unchanged; baregate's key: ${a.baregateKey})`);
    }
  }
  out.push('', EXIT_TEXT[r.exitCode] ?? `exit ${r.exitCode}`);
  return `${out.join('\n')}\n`;
}

/** The report as JSON (stable key order: the interface's). */
export function formatReportJSON(r: MigrateReport): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}
