import type { Queue } from 'bullmq';
import type { Logger } from '@herald/shared';

const BATCH = 1000;

/**
 * Removes finished BullMQ jobs (and the text they carry) JOB_TTL_SECONDS after they ended.
 * BullMQ's own removeOnComplete/removeOnFail age is only applied when a later job finishes the
 * same way, so after a burst, or for failures in a healthy system, entries would otherwise stay
 * indefinitely. Every worker runs it; cleaning is idempotent.
 */
export function startQueueJanitor(queue: Queue, ttlSeconds: number, logger: Logger): { stop(): Promise<void> } {
  const ttlMs = ttlSeconds * 1000;
  let running: Promise<void> = Promise.resolve();
  const sweep = async (): Promise<void> => {
    for (const type of ['completed', 'failed'] as const) {
      while ((await queue.clean(ttlMs, BATCH, type)).length === BATCH);
    }
  };
  const timer = setInterval(
    () => {
      running = running.then(sweep).catch((err: unknown) => logger.warn({ err }, 'queue clean-up failed; next round retries'));
    },
    Math.min(60_000, Math.max(1000, ttlMs / 2)),
  );
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
