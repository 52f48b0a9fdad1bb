import { ConfigError, createLogger, loadConfig, onShutdownSignal } from '@herald/shared';
import { startWorker, type RunningWorker } from './worker.ts';

try {
  const config = loadConfig();
  const logger = createLogger('worker', config.LOG_LEVEL);
  let worker: RunningWorker | undefined;
  // Registered first: a worker still waiting for Redis must stop on SIGTERM too.
  onShutdownSignal(logger, async () => worker?.close());
  worker = await startWorker({ config, logger });
} catch (error) {
  console.error(error instanceof ConfigError ? `herald worker: ${error.message}` : error);
  process.exit(1);
}
