/** Polling for tests: the one helper every harness and netlab file waits with. */

/**
 * Polls `fn` every `everyMs` until it returns a value other than undefined or false, or throws after `ms` (a
 * bound on a hang, not a timing assertion). A throw from `fn` counts as "not yet" and is named in the failure.
 * `what` may be a function, called only on failure, to describe the last state seen.
 */
export async function until<T>(what: string | (() => string), fn: () => Promise<T | undefined | false> | T | undefined | false, ms: number, everyMs = 50): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${typeof what === 'string' ? what : what()}${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
