import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout; `component` tells API and worker lines apart in one stream. */
export function createLogger(component: string, level: string): Logger {
  return pino({ level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime });
}
