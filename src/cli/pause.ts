/** `baregate pause` / `baregate resume`. STUB (lead). */
export interface PauseFlags { kubeconfig?: string; namespace: string }
/** Sets or clears the pause annotation; resolves to the exit code. */
export function runPauseCommand(paused: boolean, flags: PauseFlags): Promise<number> {
  void paused; void flags;
  return Promise.resolve(2);
}
