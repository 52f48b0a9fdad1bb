import { startApi, type RunningApi } from '@herald/api';
import { ConfigError, createLogger, loadConfig, onShutdownSignal } from '@herald/shared';
import { startWorker, type RunningWorker } from '@herald/worker';
import { ensureRedis } from './private-redis.ts';

// `npm start`: the whole system in one process — one API replica and one worker.
try {
  const config = loadConfig();
  const logger = createLogger('herald', config.LOG_LEVEL);
  let api: RunningApi | undefined;
  let worker: RunningWorker | undefined;
  let stopRedis: (() => Promise<void>) | null = null;
  onShutdownSignal(logger, async () => {
    await api?.close();
    await worker?.close();
    await stopRedis?.();
  });
  stopRedis = await ensureRedis(config.REDIS_URL, logger);
  worker = await startWorker({ config, logger: createLogger('worker', config.LOG_LEVEL) });
  api = await startApi({ config, logger: createLogger('api', config.LOG_LEVEL) });
  logger.info(`Herald is up: open http://localhost:${config.PORT}/`);
} catch (error) {
  console.error(error instanceof ConfigError ? `herald: ${error.message}` : error);
  process.exit(1);
}
