import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@herald/shared';

export const REQUEST_ID_HEADER = 'X-Request-Id';

/** What an incoming X-Request-Id may look like to be kept: short, and safe in a log line. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** The caller's X-Request-Id when it is sane, else a fresh UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const header = req.headers['x-request-id'];
  return typeof header === 'string' && SANE_REQUEST_ID.test(header) ? header : randomUUID();
}

const loggers = new WeakMap<IncomingMessage, Logger>();

/** Routes that probes and scrapers hit every few seconds: their lines go at debug, not info. */
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
const MAX_LOGGED_PATH = 200;

/**
 * Gives a request its id (echoed in X-Request-Id) and a child logger carrying it, and logs one
 * line when the response is over: method, path (no query), status, duration. Runs before any
 * route, the SSE one included.
 */
export function beginRequest(req: IncomingMessage, res: ServerResponse, logger: Logger): Logger {
  const reqId = requestIdOf(req);
  res.setHeader(REQUEST_ID_HEADER, reqId);
  const log = logger.child({ reqId });
  loggers.set(req, log);
  const started = performance.now();
  res.once('close', () => {
    const path = (req.url ?? '').split('?', 1)[0]!.slice(0, MAX_LOGGED_PATH);
    const line = {
      method: req.method,
      path,
      status: res.statusCode,
      ms: Math.round(performance.now() - started),
      ...(res.writableFinished ? {} : { aborted: true }),
    };
    if (QUIET_PATHS.has(path)) log.debug(line, 'request completed');
    else log.info(line, 'request completed');
  });
  return log;
}

/** The request's child logger ({reqId}); `fallback` for a request that did not pass beginRequest. */
export function requestLogger(req: IncomingMessage, fallback: Logger): Logger {
  return loggers.get(req) ?? fallback;
}
