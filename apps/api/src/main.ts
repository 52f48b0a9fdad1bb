import { ConfigError, createLogger, loadConfig, onShutdownSignal } from '@herald/shared';
import { startApi, type RunningApi } from './server.ts';

try {
  const config = loadConfig();
  const logger = createLogger('api', config.LOG_LEVEL);
  let api: RunningApi | undefined;
  onShutdownSignal(logger, async () => api?.close());
  api = await startApi({ config, logger });
} catch (error) {
  console.error(error instanceof ConfigError ? `herald api: ${error.message}` : error);
  process.exit(1);
}
