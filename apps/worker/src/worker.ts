import { Queue } from 'bullmq';
import type { Registry } from 'prom-client';
import {
  Chores,
  EventPublisher,
  publisherOptions,
  releaseActiveJob,
  EventReader,
  QUEUE_NAME,
  bullConnection,
  openChoreQueues,
  checkMemoryPolicy,
  connectRedis,
  describeRedis,
  releaseBullConnection,
  countedRole,
  redactUrl,
  queuePrefix,
  type Config,
  type ConnectionRole,
  type Logger,
} from '@herald/shared';
import { CancellationWatcher, drainWithin, startKindWorkers, startQueueJanitor, type AnyJobKind } from '@herald/worker/internal';
import { startChoresWorker } from './chores/chores-worker.ts';
import { startMetricsServer, type MetricsServer } from './metrics-server.ts';
import { createWorkerMetrics, metricsObserver } from './metrics.ts';
import { summarizeKind } from './kinds/summarize.ts';
import { summarizerFromConfig } from './summarizer/from-config.ts';
import type { Summarizer } from './summarizer/index.ts';

export interface WorkerOptions {
  readonly config: Config;
  readonly logger: Logger;
  /** SUMMARIZER's unless another is plugged in (tests plug failing ones). */
  readonly summarizer?: Summarizer;
  /**
   * Metrics go into this registry, which its owner serves, and no metrics server is opened:
   * `npm start` serves them on the API's /metrics. Without it the worker serves its own
   * registry on METRICS_PORT.
   */
  readonly registry?: Registry;
}

export interface RunningWorker {
  /** The worker's metrics and health server (GET /metrics, GET /healthz); null when not serving. */
  readonly metricsServer: Pick<MetricsServer, 'port' | 'url'> | null;
  readonly registry: Registry;
  /** Stops taking jobs, lets active ones end (up to SHUTDOWN_GRACE_MS), closes connections. */
  close(): Promise<void>;
}

/** A worker process: the composition root, where the objects are built and wired. */
export async function startWorker({ config, logger, summarizer, registry }: WorkerOptions): Promise<RunningWorker> {
  const metrics = createWorkerMetrics(registry ? { registry } : {});
  const role = (name: string): ConnectionRole => countedRole(metrics.redisReconnects, name);
  // First, so /healthz and the reconnect counts answer while the worker still waits for Redis.
  const metricsServer = registry ? null : await startMetricsServer(metrics.registry, config.HOST, config.METRICS_PORT, logger);
  const commands = connectRedis(config, role('herald:worker:commands'));
  // Cancel notices are rare and go to every worker: classic pub/sub (on a Cluster, one
  // subscriber connection to any node; the notice reaches every node).
  const subscriber = connectRedis(config, role('herald:worker:cancel'));
  commands.on('error', (err: Error) => logger.warn({ connection: 'commands', err: err.message }, 'redis connection error'));
  subscriber.on('error', (err: Error) => logger.warn({ connection: 'cancel', err: err.message }, 'redis connection error'));
  void checkMemoryPolicy(commands, logger, describeRedis(config)); // a warning at most; never awaited
  // A batch's webhook goes as soon as this process publishes the batch's end (Chores.batchEnded);
  // a job's end gives its place back among its key's jobs not ended (MAX_ACTIVE_JOBS_PER_KEY).
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

  const summarize = summarizer ?? summarizerFromConfig(config);
  // The kinds this worker runs: one registration each (README, "Add a job kind"). The API
  // registers Herald's built-in kinds itself (docs/api.md, "Kinds"): nothing to register here.
  const kinds: AnyJobKind[] = [summarizeKind(summarize)];

  // BullMQ's connections: made here, closed in close() (on a Cluster they are instances).
  const bull = {
    choresQueue: bullConnection(config, role('herald:worker:chores-queue')),
    chores: bullConnection(config, role('herald:worker:chores')),
    janitor: bullConnection(config, role('herald:worker:janitor')),
  };
  const choreQueues = openChoreQueues(bull.choresQueue);
  const chores = new Chores(choreQueues, {
    webhookAttempts: config.WEBHOOK_ATTEMPTS,
    webhookBackoffMs: config.WEBHOOK_BACKOFF_MS,
    ttlSeconds: config.JOB_TTL_SECONDS,
  });
  // On @herald/worker, as a worker of anyone's kinds: one BullMQ Worker per kind, on its queue.
  const consumer = startKindWorkers({
    config,
    logger,
    observer: metricsObserver(metrics),
    job: { publisher, cancellation, flushMs: config.STREAM_FLUSH_MS },
    kinds,
    chores,
    connect: (kind) => bullConnection(config, role(kind === QUEUE_NAME ? 'herald:worker:bullmq' : `herald:worker:bullmq:${kind}`)),
  });
  const choresWorker = startChoresWorker({
    config,
    logger,
    redis: commands,
    reader: new EventReader(commands),
    publisher,
    chores,
    connection: bull.chores,
    webhookAttempted: (outcome) => metrics.webhookAttempts.inc({ outcome }),
  });
  await Promise.all([consumer.waitUntilReady(), choresWorker.waitUntilReady()]);
  const queue = new Queue(QUEUE_NAME, { connection: bull.janitor, prefix: queuePrefix });
  // Without a listener BullMQ prints its connection errors with console.error, outside the JSON log.
  for (const [name, emitter] of [
    ['janitor', queue],
    ['chores-queue', choreQueues.webhooks],
    ['watchdogs-queue', choreQueues.watchdogs],
  ] as const) {
    emitter.on('error', (err: Error) => logger.warn({ connection: name, err: err.message }, 'redis connection error'));
  }
  const janitor = startQueueJanitor(queue, config.JOB_TTL_SECONDS, logger);
  logger.info(
    {
      concurrency: config.WORKER_CONCURRENCY,
      summarizer: summarize.name,
      ...(config.SUMMARIZER === 'openai' ? { modelServer: redactUrl(config.OPENAI_BASE_URL) } : {}),
    },
    'worker started',
  );

  return {
    metricsServer: metricsServer && { port: metricsServer.port, url: metricsServer.url },
    registry: metrics.registry,
    async close() {
      // Active jobs have SHUTDOWN_GRACE_MS to end. After it the worker stops waiting for them and
      // closes: their runs are abandoned, their locks lapse, and another worker takes them up
      // after JOB_LOCK_MS (a stalled run, which counts towards job_stalled).
      await drainWithin(Promise.all([consumer.drain(), choresWorker.close()]), config.SHUTDOWN_GRACE_MS, logger);
      consumer.release();
      await janitor.stop();
      await Promise.all([queue.close(), choreQueues.webhooks.close(), choreQueues.watchdogs.close()]);
      for (const connection of Object.values(bull)) releaseBullConnection(connection);
      await metricsServer?.close();
      commands.disconnect();
      subscriber.disconnect();
      logger.info('worker stopped');
    },
  };
}
