import { Queue, Worker, type Job } from 'bullmq';
import type { Registry } from 'prom-client';
import {
  EventPublisher,
  QUEUE_NAME,
  bullConnection,
  connectRedis,
  countedRole,
  queuePrefix,
  type Config,
  type ConnectionRole,
  type Logger,
  type SummarizeJobData,
} from '@herald/shared';
import { CancellationWatcher } from './jobs/cancellation.ts';
import { finalFailureEvent, retryEvent } from './jobs/failure.ts';
import { startQueueJanitor } from './jobs/queue-janitor.ts';
import { runSummarizeJob } from './jobs/summarize-job.ts';
import { startMetricsServer, type MetricsServer } from './metrics-server.ts';
import { createWorkerMetrics, type FinalStatus } from './metrics.ts';
import { extractiveSummarizer, type Summarizer } from './summarizer/index.ts';

export interface WorkerOptions {
  readonly config: Config;
  readonly logger: Logger;
  /** The built-in extractive summarizer unless another is plugged in (tests plug failing ones). */
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

export async function startWorker({ config, logger, summarizer, registry }: WorkerOptions): Promise<RunningWorker> {
  const metrics = createWorkerMetrics(registry ? { registry } : {});
  const role = (name: string): ConnectionRole => countedRole(metrics.redisReconnects, name);
  // First, so /healthz and the reconnect counts answer while the worker still waits for Redis.
  const metricsServer = registry ? null : await startMetricsServer(metrics.registry, config.HOST, config.METRICS_PORT, logger);
  const commands = connectRedis(config.REDIS_URL, role('herald:worker:commands'));
  const subscriber = connectRedis(config.REDIS_URL, role('herald:worker:cancel'));
  const publisher = new EventPublisher(commands, {
    ttlSeconds: config.JOB_TTL_SECONDS,
    streamMaxLen: config.STREAM_MAXLEN,
  });
  for (const [name, connection] of [['commands', commands], ['cancel', subscriber]] as const) {
    connection.on('error', (err: Error) => logger.warn({ connection: name, err: err.message }, 'redis connection error'));
  }
  const cancellation = new CancellationWatcher(commands, subscriber);
  await cancellation.start();

  const deps = {
    publisher,
    cancellation,
    summarizer: summarizer ?? extractiveSummarizer,
    stageDelayMs: config.STAGE_DELAY_MS,
  };

  /** Counted once per job: by whoever writes its terminal event (a publish that returned an id). */
  const finished = (job: Job<SummarizeJobData>, status: FinalStatus, log: Logger): void => {
    const seconds = Math.max(0, Date.now() - job.timestamp) / 1000;
    metrics.finished.inc({ status });
    metrics.duration.observe({ status }, seconds);
    log.info({ status, durationMs: Math.round(seconds * 1000) }, 'job finished');
  };

  const process = async (job: Job<SummarizeJobData>): Promise<void> => {
    const jobId = job.id as string;
    const attempts = job.opts.attempts ?? 1;
    const attempt = job.attemptsMade + 1;
    const log = logger.child({ jobId, attempt });
    log.info({ attempts, chars: job.data.text.length }, 'job started');
    metrics.active.inc();
    try {
      const ended = await runSummarizeJob({ jobId, data: job.data, attempt, attempts }, deps);
      if (ended) finished(job, ended, log);
      else log.info('job run stopped: the job had already ended');
    } catch (error) {
      const final = attempt >= attempts;
      log.warn({ attempts, final, err: error }, 'job run failed');
      const published = await publisher.publish(jobId, final ? finalFailureEvent(error) : retryEvent(error, attempt, attempts));
      if (final && published) finished(job, 'error', log);
      throw error;
    } finally {
      metrics.active.dec();
    }
  };

  const worker = new Worker<SummarizeJobData>(QUEUE_NAME, process, {
    connection: bullConnection(config, role('herald:worker:bullmq')),
    prefix: queuePrefix,
    concurrency: config.WORKER_CONCURRENCY,
    // A worker that goes silent (killed, frozen) loses its job after JOB_LOCK_MS; the stalled
    // check runs twice as often so another worker takes it up within about 1.5 × JOB_LOCK_MS.
    lockDuration: config.JOB_LOCK_MS,
    stalledInterval: Math.max(500, Math.floor(config.JOB_LOCK_MS / 2)),
    maxStalledCount: config.JOB_ATTEMPTS,
  });

  // A job can also fail where the processor cannot report it (stalled too often): tell its
  // watchers. Harmless when the processor already did: the job's terminal event stays the last.
  worker.on('failed', (job, error) => {
    if (!job?.id) return;
    const jobId = job.id;
    const log = logger.child({ jobId, attempt: job.attemptsMade });
    job
      .getState()
      .then((state) => (state === 'failed' ? publisher.publish(jobId, finalFailureEvent(error)) : null))
      .then((published) => {
        if (published) finished(job, 'error', log);
      })
      .catch((err: unknown) => log.error({ err }, 'could not report a failed job'));
  });
  worker.on('error', (err) => logger.error({ err }, 'worker error'));
  await worker.waitUntilReady();
  const queue = new Queue(QUEUE_NAME, { connection: bullConnection(config, role('herald:worker:janitor')), prefix: queuePrefix });
  // Without a listener BullMQ prints its connection errors with console.error, outside the JSON log.
  queue.on('error', (err: Error) => logger.warn({ connection: 'janitor', err: err.message }, 'redis connection error'));
  const janitor = startQueueJanitor(queue, config.JOB_TTL_SECONDS, logger);
  logger.info({ concurrency: config.WORKER_CONCURRENCY }, 'worker started');

  return {
    metricsServer: metricsServer && { port: metricsServer.port, url: metricsServer.url },
    registry: metrics.registry,
    async close() {
      const grace = setTimeout(() => {
        logger.warn('shutdown grace period over; abandoning active jobs to other workers');
        void worker.close(true);
      }, config.SHUTDOWN_GRACE_MS);
      await worker.close();
      clearTimeout(grace);
      await janitor.stop();
      await queue.close();
      await metricsServer?.close();
      commands.disconnect();
      subscriber.disconnect();
      logger.info('worker stopped');
    },
  };
}
