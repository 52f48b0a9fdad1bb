import { Queue } from 'bullmq';
import {
  Chores,
  EventPublisher,
  bullConnection,
  connectRedis,
  createLogger,
  loadConfig,
  openChoreQueues,
  publisherOptions,
  releaseActiveJob,
  releaseBullConnection,
  kindQueueName,
  queuePrefix,
  type Config,
  type Logger,
} from '@herald/shared';
import { NO_OBSERVER } from './consumer.ts';
import { CancellationWatcher } from './jobs/cancellation.ts';
import type { AnyJobKind } from './jobs/kind.ts';
import { startKindWorkers } from './kind-workers.ts';
import { startQueueJanitor } from './queue-janitor.ts';
import { registerKinds } from './registration.ts';

/** Herald's Redis settings (README, "Configuration"), by the names of its environment variables. */
export const REDIS_SETTINGS = [
  'REDIS_URL',
  'REDIS_CLUSTER_NODES',
  'REDIS_SENTINELS',
  'REDIS_SENTINEL_NAME',
  'REDIS_USERNAME',
  'REDIS_PASSWORD',
  'REDIS_SENTINEL_PASSWORD',
  'REDIS_TLS',
  'REDIS_TLS_CA_FILE',
  'REDIS_WAIT_REPLICAS',
  'REDIS_WAIT_TIMEOUT_MS',
] as const;

/** Where Herald's Redis is, as Herald is told: e.g. `{ REDIS_SENTINELS: 'a:26379,b:26379', REDIS_SENTINEL_NAME: 'mymaster' }`. */
export type RedisSettingsInput = Partial<Record<(typeof REDIS_SETTINGS)[number], string>>;

export interface StartWorkerOptions {
  /** The kinds this worker runs (defineKind). */
  readonly kinds: readonly AnyJobKind[];
  /** Herald's Redis: a URL, or its REDIS_* settings. Default: the environment's REDIS_* (then redis://127.0.0.1:6379). */
  readonly redis?: string | RedisSettingsInput;
  /** Jobs of each kind run at once (default WORKER_CONCURRENCY, 4). */
  readonly concurrency?: number;
  /**
   * Herald's other settings, which must match Herald's own: JOB_LOCK_MS, JOB_ATTEMPTS,
   * STREAM_FLUSH_MS, SHUTDOWN_GRACE_MS, KIND_TTL_SECONDS, JOB_TTL_SECONDS… Default: process.env.
   */
  readonly env?: NodeJS.ProcessEnv;
  /** A pino logger; default: JSON lines on stdout at LOG_LEVEL. */
  readonly logger?: Logger;
  /** @internal Herald's own process: its built-in kinds are the API's to register. */
  readonly registerKinds?: boolean;
}

export interface StartedWorker {
  /** Stops taking jobs, lets active ones end (up to SHUTDOWN_GRACE_MS), stops renewing the kinds, closes connections. */
  close(): Promise<void>;
}

/** The settings a worker of yours runs with: the environment's, its Redis replaced by `redis` when given. */
export function workerConfig({ redis, concurrency, env = process.env }: Pick<StartWorkerOptions, 'redis' | 'concurrency' | 'env'>): Config {
  const settings: NodeJS.ProcessEnv = { ...env };
  if (redis !== undefined) {
    for (const name of REDIS_SETTINGS) delete settings[name];
    Object.assign(settings, typeof redis === 'string' ? { REDIS_URL: redis } : redis);
  }
  if (concurrency !== undefined) settings.WORKER_CONCURRENCY = String(concurrency);
  return loadConfig(settings);
}

/**
 * Runs your kinds against Herald's Redis: registers each (name and input JSON Schema, renewed
 * every third of KIND_TTL_SECONDS), and takes their jobs from their queues, from any API
 * replica's submission, reporting through Herald's events as Herald's own worker does.
 */
export async function startWorker(options: StartWorkerOptions): Promise<StartedWorker> {
  const config = workerConfig(options);
  const logger = options.logger ?? createLogger('worker', config.LOG_LEVEL);
  const role = (name: string) => ({ name });
  const commands = connectRedis(config, role('herald:kind-worker:commands'));
  const subscriber = connectRedis(config, role('herald:kind-worker:cancel'));
  commands.on('error', (err: Error) => logger.warn({ connection: 'commands', err: err.message }, 'redis connection error'));
  subscriber.on('error', (err: Error) => logger.warn({ connection: 'cancel', err: err.message }, 'redis connection error'));
  const choresConnection = bullConnection(config, role('herald:kind-worker:chores-queue'));
  const choreQueues = openChoreQueues(choresConnection);
  for (const queue of [choreQueues.webhooks, choreQueues.watchdogs]) {
    queue.on('error', (err: Error) => logger.warn({ connection: 'chores-queue', err: err.message }, 'redis connection error'));
  }
  // A job's end wakes its webhook and frees its place among its key's jobs, as Herald's worker does.
  const chores = new Chores(choreQueues, {
    webhookAttempts: config.WEBHOOK_ATTEMPTS,
    webhookBackoffMs: config.WEBHOOK_BACKOFF_MS,
    ttlSeconds: config.JOB_TTL_SECONDS,
  });
  const publisher = new EventPublisher(
    commands,
    publisherOptions(
      config,
      logger,
      (batchId) => chores.batchEnded(batchId),
      (jobId) => releaseActiveJob(commands, jobId),
    ),
  );
  const cancellation = new CancellationWatcher(commands, subscriber);
  await cancellation.start();
  const registration =
    options.registerKinds === false ? null : await registerKinds(commands, options.kinds, config.KIND_TTL_SECONDS, logger);
  const workers = startKindWorkers({
    config,
    logger,
    observer: NO_OBSERVER,
    job: { publisher, cancellation, flushMs: config.STREAM_FLUSH_MS },
    kinds: options.kinds,
    chores,
    connect: (kind) => bullConnection(config, role(`herald:kind-worker:${kind}`)),
  });
  await workers.waitUntilReady();
  // Each kind's finished BullMQ entries go JOB_TTL_SECONDS after they ended, as summarize's do.
  const janitorConnection = bullConnection(config, role('herald:kind-worker:janitor'));
  const janitors = options.kinds.map((kind) => {
    const queue = new Queue(kindQueueName(kind.name), { connection: janitorConnection, prefix: queuePrefix });
    queue.on('error', (err: Error) => logger.warn({ connection: 'janitor', err: err.message }, 'redis connection error'));
    return { queue, janitor: startQueueJanitor(queue, config.JOB_TTL_SECONDS, logger) };
  });
  logger.info({ kinds: options.kinds.map((kind) => kind.name), concurrency: config.WORKER_CONCURRENCY }, 'worker started');

  return {
    async close() {
      registration?.stop();
      await drainWithin(workers.drain(), config.SHUTDOWN_GRACE_MS, logger);
      workers.release();
      await Promise.all(janitors.map(({ janitor }) => janitor.stop()));
      await Promise.all([...janitors.map(({ queue }) => queue.close()), choreQueues.webhooks.close(), choreQueues.watchdogs.close()]);
      releaseBullConnection(janitorConnection);
      releaseBullConnection(choresConnection);
      commands.disconnect();
      subscriber.disconnect();
      logger.info('worker stopped');
    },
  };
}

/**
 * Waits for the active jobs to end, up to `graceMs`. After it the worker stops waiting: their
 * runs are abandoned, their locks lapse, and another worker takes them up after JOB_LOCK_MS.
 * BullMQ's close(true) cannot do this once a close() is under way: it returns that close, still waiting.
 */
export async function drainWithin(drained: Promise<unknown>, graceMs: number, logger: Logger): Promise<void> {
  let graceOver = (): void => {};
  const grace = setTimeout(() => {
    logger.warn('shutdown grace period over; abandoning active jobs to other workers');
    graceOver();
  }, graceMs);
  await Promise.race([drained, new Promise<void>((resolve) => (graceOver = resolve))]);
  clearTimeout(grace);
}
