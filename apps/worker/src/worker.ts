import { Queue, Worker, type Job } from 'bullmq';
import {
  EventPublisher,
  QUEUE_NAME,
  bullConnection,
  connectRedis,
  queuePrefix,
  type Config,
  type Logger,
  type SummarizeJobData,
} from '@herald/shared';
import { CancellationWatcher } from './jobs/cancellation.ts';
import { finalFailureEvent, retryEvent } from './jobs/failure.ts';
import { startQueueJanitor } from './jobs/queue-janitor.ts';
import { runSummarizeJob } from './jobs/summarize-job.ts';
import { extractiveSummarizer, type Summarizer } from './summarizer/index.ts';

export interface WorkerOptions {
  readonly config: Config;
  readonly logger: Logger;
  /** The built-in extractive summarizer unless another is plugged in (tests plug failing ones). */
  readonly summarizer?: Summarizer;
}

export interface RunningWorker {
  /** Stops taking jobs, lets active ones end (up to SHUTDOWN_GRACE_MS), closes connections. */
  close(): Promise<void>;
}

export async function startWorker({ config, logger, summarizer }: WorkerOptions): Promise<RunningWorker> {
  const commands = connectRedis(config.REDIS_URL, { name: 'herald:worker:commands' });
  const subscriber = connectRedis(config.REDIS_URL, { name: 'herald:worker:cancel' });
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

  const process = async (job: Job<SummarizeJobData>): Promise<void> => {
    const jobId = job.id as string;
    const attempts = job.opts.attempts ?? 1;
    const attempt = job.attemptsMade + 1;
    try {
      await runSummarizeJob({ jobId, data: job.data, attempt, attempts }, deps);
    } catch (error) {
      const final = attempt >= attempts;
      logger.warn({ jobId, attempt, attempts, final, err: error }, 'job run failed');
      await publisher.publish(jobId, final ? finalFailureEvent(error) : retryEvent(error, attempt, attempts));
      throw error;
    }
  };

  const worker = new Worker<SummarizeJobData>(QUEUE_NAME, process, {
    connection: bullConnection(config, { name: 'herald:worker:bullmq' }),
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
    job
      .getState()
      .then((state) => (state === 'failed' ? publisher.publish(jobId, finalFailureEvent(error)) : null))
      .catch((err: unknown) => logger.error({ jobId, err }, 'could not report a failed job'));
  });
  worker.on('error', (err) => logger.error({ err }, 'worker error'));
  await worker.waitUntilReady();
  const queue = new Queue(QUEUE_NAME, { connection: bullConnection(config, { name: 'herald:worker:janitor' }), prefix: queuePrefix });
  const janitor = startQueueJanitor(queue, config.JOB_TTL_SECONDS, logger);
  logger.info({ concurrency: config.WORKER_CONCURRENCY }, 'worker started');

  return {
    async close() {
      const grace = setTimeout(() => {
        logger.warn('shutdown grace period over; abandoning active jobs to other workers');
        void worker.close(true);
      }, config.SHUTDOWN_GRACE_MS);
      await worker.close();
      clearTimeout(grace);
      await janitor.stop();
      await queue.close();
      commands.disconnect();
      subscriber.disconnect();
      logger.info('worker stopped');
    },
  };
}
