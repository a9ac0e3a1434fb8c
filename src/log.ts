/** Structured JSON logging (pino). Every line carries `op` (the component) and usually `event`. */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Root logger; level from BAREGATE_LOG_LEVEL (default info; tests set silent or warn). */
export const rootLogger: Logger = pino({
  level: process.env.BAREGATE_LOG_LEVEL ?? 'info',
  base: { pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
});

/** A child logger for one component. */
export function logger(op: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger.child({ op, ...bindings });
}
