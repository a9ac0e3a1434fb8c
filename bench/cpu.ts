/**
 * Process CPU time for the pure-code benchmarks. On a shared machine wall-clock time also bills other
 * processes' time slices, so allocator and planner rounds are timed in CPU time, each after the garbage of
 * the earlier rounds has been collected.
 */

/** CPU nanoseconds of the whole process so far (microsecond resolution). */
export function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

/** With --expose-gc: collects garbage, then idles until the GC helper threads stop using CPU (at most 0.5 s). */
export function settle(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return;
  gc();
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 50; i++) {
    const t = cpuNs();
    Atomics.wait(cell, 0, 0, 10);
    if (cpuNs() - t < 100_000) return;
  }
}
