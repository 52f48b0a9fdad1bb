import type { IncomingMessage, ServerResponse } from 'node:http';
import cors from 'cors';
import helmet from 'helmet';

type Middleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/**
 * The headers every response gets, JSON and SSE alike, applied by Express for its routes and
 * by the server for the event stream (served beside Express): helmet's security headers and,
 * when CORS_ORIGINS allows any origin, CORS for exactly those origins. None of them touches
 * buffering or the body, so they are safe on a stream. The page overrides the CSP with its own.
 */
export function edgeHeaders(corsOrigins: readonly string[]): Middleware {
  const steps: Middleware[] = [
    helmet({
      // A JSON API: nothing to load, nothing to frame.
      contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
      // Allowed origins read the API cross-origin; CORS, not CORP, is what guards that.
      crossOriginResourcePolicy: { policy: corsOrigins.length > 0 ? 'cross-origin' : 'same-origin' },
    }) as Middleware,
  ];
  if (corsOrigins.length > 0) {
    steps.push(
      cors({
        origin: corsOrigins.includes('*') ? '*' : [...corsOrigins],
        methods: ['GET', 'POST', 'DELETE'],
        allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'Last-Event-ID', 'X-Request-Id'],
        exposedHeaders: ['Location', 'Retry-After', 'X-Request-Id'],
        maxAge: 600,
      }) as Middleware,
    );
  }
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
