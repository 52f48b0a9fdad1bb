import express, { type ErrorRequestHandler, type Express } from 'express';
import type { Logger } from '@herald/shared';
import type { Access } from './auth/access.ts';
import { routeNotFound, writeError } from './errors.ts';
import { jobRoutes } from './http/job-routes.ts';
import { opsRoutes } from './http/ops-routes.ts';
import { pageRoutes } from './http/page-routes.ts';
import { requestLogger } from './http/request-context.ts';
import type { JobService } from './jobs/job-service.ts';
import type { SubmissionLimiter } from './limits/submission-limiter.ts';
import type { ApiMetrics } from './metrics.ts';
import type { Redis } from 'ioredis';

export interface AppDeps {
  readonly jobs: JobService;
  readonly metrics: ApiMetrics;
  readonly redis: Redis;
  readonly logger: Logger;
  readonly maxTextChars: number;
  readonly isDraining: () => boolean;
  readonly access: Access;
  /** Security and CORS headers (http/edge-headers.ts), shared with the SSE route. */
  readonly edge: express.RequestHandler;
  /** Submissions per API key and per client IP, shared by all replicas. */
  readonly submissions: SubmissionLimiter;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(deps.edge);
  app.use(pageRoutes());
  app.use(opsRoutes(deps.redis, deps.metrics.registry, deps.isDraining));
  app.use(jobRoutes(deps.jobs, deps.access, deps.submissions, deps.metrics, deps.maxTextChars, deps.logger));
  app.use((_req, _res, next) => next(routeNotFound()));
  app.use(errorHandler(deps.logger));
  return app;
}

/** Every error thrown in a route ends here and becomes the SPEC's JSON (errors.ts). */
function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    writeError(res, error, (err) => requestLogger(req, logger).error({ err, method: req.method, path: req.path.slice(0, 200) }, 'request failed'));
  };
}
