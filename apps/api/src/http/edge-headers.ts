import type { IncomingMessage, ServerResponse } from 'node:http';
import cors from 'cors';
import helmet from 'helmet';

export type Middleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/**
 * The headers Express's responses get: helmet's security headers and, when CORS_ORIGINS allows
 * any origin, CORS for exactly those origins. The page overrides the CSP with its own.
 */
export function edgeHeaders(corsOrigins: readonly string[]): Middleware {
  const securityHeaders = helmet({
    // A JSON API: nothing to load, nothing to frame.
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    // Allowed origins read the API cross-origin; CORS, not CORP, is what guards that.
    crossOriginResourcePolicy: { policy: corsOrigins.length > 0 ? 'cross-origin' : 'same-origin' },
  }) as Middleware;
  return chain([securityHeaders, ...corsStep(corsOrigins)]);
}

/**
 * The event stream's: CORS alone. Helmet's set (CSP, framing, COOP…) means nothing for a
 * text/event-stream, and a stream's response keeps its headers for its whole life: ~700 bytes
 * and a dozen header entries per watcher, for nothing. SSE_HEADERS carries nosniff.
 */
export function streamEdgeHeaders(corsOrigins: readonly string[]): Middleware {
  return chain(corsStep(corsOrigins));
}

function corsStep(corsOrigins: readonly string[]): Middleware[] {
  if (corsOrigins.length === 0) return [];
  return [
    cors({
      origin: corsOrigins.includes('*') ? '*' : [...corsOrigins],
      methods: ['GET', 'POST', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'Last-Event-ID', 'X-Request-Id'],
      exposedHeaders: ['Location', 'Retry-After', 'X-Request-Id'],
      maxAge: 600,
    }) as Middleware,
  ];
}

function chain(steps: readonly Middleware[]): Middleware {
  return (req, res, next) => {
    let i = 0;
    const step = (error?: unknown): void => {
      const current = steps[i++];
      if (error !== undefined || current === undefined) next(error);
      else current(req, res, step);
    };
    step();
  };
}
