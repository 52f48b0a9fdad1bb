import { startApi } from '@herald/api';
import { createLogger, describeRedis, runService } from '@herald/shared';
import { startWorker } from '@herald/worker-process';
import { ensureRedis } from './private-redis.ts';

// `npm start`: the whole system in one process — one API replica and one worker. The worker
// registers its metrics in the API's registry, served on the API's /metrics, and opens no
// METRICS_PORT: one scrape target, with herald_jobs_* next to herald_sse_*, and the process
// metrics once (herald_api_*).
await runService('herald', async (config, logger) => {
  // One Redis by URL may be started here when absent; a Cluster or Sentinel is the operator's.
  if (config.REDIS_URL === undefined) logger.info(`using ${describeRedis(config)}`);
  const stopRedis = config.REDIS_URL === undefined ? null : await ensureRedis(config.REDIS_URL, logger);
  const api = await startApi({ config, logger: createLogger('api', config.LOG_LEVEL) });
  const worker = await startWorker({ config, logger: createLogger('worker', config.LOG_LEVEL), registry: api.registry });
  logger.info(`Herald is up: open http://localhost:${config.PORT}/`);
  return {
    async close() {
      await api.close();
      await worker.close();
      await stopRedis?.();
    },
  };
});
