import type { RedisClient } from '@herald/shared';
import { Router } from 'express';
import type { Registry } from 'prom-client';
import { PROBE_DEADLINE_MS, redisCall } from '../http/deadline.ts';

/** Liveness, readiness (Redis answers and the replica is not draining) and Prometheus metrics. */
export function opsRoutes(redis: RedisClient, registry: Registry, isDraining: () => boolean): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/readyz', async (_req, res) => {
    const redisUp = await redisCall(redis.ping(), PROBE_DEADLINE_MS).then(
      () => true,
      () => false,
    );
    const ready = redisUp && !isDraining();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', redis: redisUp, draining: isDraining() });
  });

  router.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });

  return router;
}
