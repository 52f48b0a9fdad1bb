import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import type { Registry } from 'prom-client';
import type { Logger, RedisClient } from '@herald/shared';
import { routeNotFound, writeError } from '../http/errors.ts';
import { requestLogger } from '../http/request-context.ts';
import { adminRoutes, type AdminRoutesDeps } from './admin-routes.ts';
import { apiDocsRoutes } from './api-docs-routes.ts';
import { batchRoutes, type BatchRoutesDeps } from './batch-routes.ts';
import { jobRoutes, type JobRoutesDeps } from './job-routes.ts';
import { kindRoutes, type KindRoutesDeps } from './kind-routes.ts';
import { openApiRoutes } from './openapi.ts';
import { opsRoutes } from './ops-routes.ts';
import { pageRoutes } from './page-routes.ts';

export interface AppDeps extends JobRoutesDeps, Omit<BatchRoutesDeps, keyof JobRoutesDeps>, KindRoutesDeps {
  /** What /readyz pings. */
  readonly redis: RedisClient;
  /** What /metrics serves. */
  readonly registry: Registry;
  readonly isDraining: () => boolean;
  /** Security and CORS headers (http/edge-headers.ts). */
  readonly edge: RequestHandler;
  /** The queues' admin view at /admin, when ADMIN_API_KEYS names a key; null: no such route. */
  readonly admin: AdminRoutesDeps | null;
  /** MAX_DELTA_CHARS, for the OpenAPI document (the job service enforces it). */
  readonly maxDeltaChars: number;
}

/** The Express app: every route but the event stream, which the front serves beside it. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(deps.edge);
  app.use(pageRoutes());
  app.use(opsRoutes(deps.redis, deps.registry, deps.isDraining));
  app.use(
    openApiRoutes({
      maxTextChars: deps.maxTextChars,
      maxDeltaChars: deps.maxDeltaChars,
      maxBatchItems: deps.maxBatchItems,
      admin: deps.admin !== null,
      listKinds: deps.listKinds,
    }),
  );
  app.use(apiDocsRoutes());
  if (deps.admin) app.use(adminRoutes(deps.admin));
  app.use(jobRoutes(deps));
  app.use(kindRoutes(deps));
  app.use(batchRoutes(deps));
  app.use((_req, _res, next) => next(routeNotFound()));
  app.use(errorHandler(deps.logger));
  return app;
}

/** Every error thrown in a route ends here and becomes the JSON error (http/errors.ts). */
function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    writeError(res, error, (err) =>
      requestLogger(req, logger).error({ err, method: req.method, path: req.path.slice(0, 200) }, 'request failed'),
    );
  };
}
