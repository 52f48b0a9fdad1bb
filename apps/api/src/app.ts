import express, { type ErrorRequestHandler, type Express } from 'express';
import type { Logger } from '@herald/shared';
import { internalError, routeNotFound, toHttpError } from './errors.ts';
import { jobRoutes } from './http/job-routes.ts';
import { opsRoutes } from './http/ops-routes.ts';
import { pageRoutes } from './http/page-routes.ts';
import type { JobService } from './jobs/job-service.ts';
import type { ApiMetrics } from './metrics.ts';
import type { EventStream } from './sse/event-stream.ts';
import type { Redis } from 'ioredis';

export interface AppDeps {
  readonly jobs: JobService;
  readonly events: EventStream;
  readonly metrics: ApiMetrics;
  readonly redis: Redis;
  readonly logger: Logger;
  readonly maxTextChars: number;
  readonly isDraining: () => boolean;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(pageRoutes());
  app.use(opsRoutes(deps.redis, deps.metrics.registry, deps.isDraining));
  app.use(jobRoutes(deps.jobs, deps.events, deps.metrics, deps.maxTextChars));
  app.use((_req, _res, next) => next(routeNotFound()));
  app.use(errorHandler(deps.logger));
  return app;
}

/** The one place a thrown error becomes a response: the SPEC's JSON, never a stack trace. */
function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const httpError = toHttpError(error) ?? internalError();
    if (httpError.status >= 500) {
      logger.error({ err: error, method: req.method, path: req.path }, 'request failed');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(httpError.status).set(httpError.headers).json(httpError.toBody());
  };
}
