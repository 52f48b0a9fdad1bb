import { startApi } from '@herald/api';
import { createLogger, runService } from '@herald/shared';
import { startWorker } from '@herald/worker';
import { ensureRedis } from './private-redis.ts';

// `npm start`: the whole system in one process — one API replica and one worker.
await runService('herald', async (config, logger) => {
  const stopRedis = await ensureRedis(config.REDIS_URL, logger);
  const worker = await startWorker({ config, logger: createLogger('worker', config.LOG_LEVEL) });
  const api = await startApi({ config, logger: createLogger('api', config.LOG_LEVEL) });
  logger.info(`Herald is up: open http://localhost:${config.PORT}/`);
  return {
    async close() {
      await api.close();
      await worker.close();
      await stopRedis?.();
    },
  };
});
