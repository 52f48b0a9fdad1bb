import { pino, type DestinationStream, type Logger } from 'pino';

export type { DestinationStream, Logger };

/**
 * What must never reach a log line, whatever a call site passes: the job's text and summary,
 * and credentials. Call sites do not log these; this is the second line of defence.
 */
const REDACTED_PATHS = [
  'text',
  '*.text',
  'result',
  '*.result',
  'summary',
  '*.summary',
  'password',
  '*.password',
  'REDIS_URL',
  '*.REDIS_URL',
  'REDIS_PASSWORD',
  '*.REDIS_PASSWORD',
  'REDIS_SENTINEL_PASSWORD',
  '*.REDIS_SENTINEL_PASSWORD',
  'sentinelPassword',
  '*.sentinelPassword',
  'OPENAI_API_KEY',
  '*.OPENAI_API_KEY',
  'apiKey',
  '*.apiKey',
  'partial',
  '*.partial',
  'delta',
  '*.delta',
  'headers.authorization',
  'headers.cookie',
  '*.headers.authorization',
  '*.headers.cookie',
];

/**
 * An error as a log line may show it: its class, message, code and stack. Never its other
 * properties — ioredis and BullMQ errors carry the command and its arguments (a job's text, an
 * event's summary), body-parser errors the raw body.
 */
export function serializeError(error: unknown, depth = 0): unknown {
  if (typeof error === 'string') return error;
  if (!(error instanceof Error)) return { type: typeof error, message: 'non-Error value thrown' };
  const out: Record<string, unknown> = { type: error.name, message: error.message };
  const { code } = error as { code?: unknown };
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  if (error.stack) out.stack = error.stack;
  if (error.cause !== undefined && depth < 2) out.cause = serializeError(error.cause, depth + 1);
  return out;
}

/** A URL with its credentials (user and password) replaced, e.g. REDIS_URL before it is logged. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[\s\S]*@/i, '$1***@');
}

/**
 * JSON logs, on stdout unless `destination` says otherwise (tests capture them). Every line has
 * `level` (a name), `time` (ISO), `component` (api, worker, …) and `msg`; request and job lines
 * add `reqId` / `jobId` through child loggers.
 */
export function createLogger(component: string, level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { component },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    serializers: { err: serializeError, error: serializeError },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}
