/**
 * `baregate migrate`: MetalLB configuration (files or the live cluster) to baregate objects, with a report.
 * STUB (contract): the migrate helper replaces the body.
 */

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

/** Runs the command; resolves to the process exit code. */
export function runMigrateCommand(files: readonly string[], flags: MigrateFlags): Promise<number> {
  void files; void flags;
  return Promise.resolve(2);
}
