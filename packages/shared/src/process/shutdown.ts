import type { Logger } from 'pino';

/**
 * Runs `stop` on the first SIGTERM or SIGINT, then exits 0 (1 if stopping failed). A second
 * signal exits at once, for the operator who does not want to wait. A stop that takes longer
 * than `deadlineMs` (closing a connection to a Redis that is gone can wait for ever) is given up:
 * the process exits 1 rather than staying on, half stopped, until someone kills it.
 */
export function onShutdownSignal(logger: Logger, stop: () => Promise<void>, deadlineMs = Number.POSITIVE_INFINITY): void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    if (Number.isFinite(deadlineMs)) {
      setTimeout(() => {
        logger.error({ deadlineMs }, 'stopping took too long; exiting without finishing');
        process.exit(1);
      }, deadlineMs).unref();
    }
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
}
