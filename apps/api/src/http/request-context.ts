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

interface RequestContext {
  readonly reqId: string;
  readonly base: Logger;
  /** Made on first use: most requests, and every quiet stream, never need one. */
  child: Logger | undefined;
}

const contexts = new WeakMap<IncomingMessage, RequestContext>();

/** Routes that probes and scrapers hit every few seconds: their lines go at debug, not info. */
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
const MAX_LOGGED_PATH = 200;

/**
 * Gives a request its id for every line logged about it, and logs one line when the response is
 * over: method, path (no query), status, duration. Runs before any route, the SSE one included.
 * The caller echoes the id in X-Request-Id: at once with setHeader for most routes, in its
 * writeHead for a stream (setHeader would give each stream a header map kept for its whole
 * life). The child logger carrying the id is made only when a line needs it (requestLogger): a
 * replica holds thousands of streams that never log until they end.
 */
export function beginRequest(req: IncomingMessage, res: ServerResponse, logger: Logger): string {
  const reqId = requestIdOf(req);
  contexts.set(req, { reqId, base: logger, child: undefined });
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
    if (QUIET_PATHS.has(path)) logger.debug({ reqId, ...line }, 'request completed');
    else logger.info({ reqId, ...line }, 'request completed');
  });
  return reqId;
}

/** The id beginRequest gave the request ('' for one that did not pass it). */
export function requestIdFor(req: IncomingMessage): string {
  return contexts.get(req)?.reqId ?? '';
}

/** The request's child logger ({reqId}); `fallback` for a request that did not pass beginRequest. */
export function requestLogger(req: IncomingMessage, fallback: Logger): Logger {
  const context = contexts.get(req);
  if (!context) return fallback;
  context.child ??= context.base.child({ reqId: context.reqId });
  return context.child;
}
