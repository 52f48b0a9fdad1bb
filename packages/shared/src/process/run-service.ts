import { loadConfig, ConfigError, type Config } from '../config.ts';
import { createLogger, type Logger } from '../logger.ts';
import { onShutdownSignal } from './shutdown.ts';

export interface Service {
  close(): Promise<void>;
}

/**
 * The body of every entry point: parse the configuration (a bad value exits 1 with a message
 * naming it, no stack), start, and stop gracefully on SIGTERM/SIGINT — also while still
 * starting, e.g. waiting for Redis.
 */
export async function runService(name: string, start: (config: Config, logger: Logger) => Promise<Service>): Promise<void> {
  try {
    const config = loadConfig();
    const logger = createLogger(name, config.LOG_LEVEL);
    let service: Service | undefined;
    // The drain may take SHUTDOWN_GRACE_MS; what follows it (closing connections) a few seconds.
    onShutdownSignal(logger, async () => service?.close(), config.SHUTDOWN_GRACE_MS + 5000);
    service = await start(config, logger);
  } catch (error) {
    console.error(error instanceof ConfigError ? `herald ${name}: ${error.message}` : error);
    process.exit(1);
  }
}
