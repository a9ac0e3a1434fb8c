/**
 * `baregate doctor`: checks a live cluster for what breaks load balancing most often and prints each finding with
 * its severity and fix. STUB (contract): the doctor helper replaces the body.
 */

/** The `baregate doctor` flags, as commander parses them (main.ts defines them). */
export interface DoctorFlags {
  kubeconfig?: string;
  output: 'table' | 'json';
  /** baregate's namespace (default baregate-system). */
  namespace: string;
}

/** Runs the command; resolves to the process exit code (the worst finding). */
export function runDoctorCommand(flags: DoctorFlags): Promise<number> {
  void flags;
  return Promise.resolve(3);
}
