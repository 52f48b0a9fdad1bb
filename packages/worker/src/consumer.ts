import { UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { RedisUnavailableError, asRedisFailure, kindQueueName, queuePrefix, type Chores, type Config, type Logger } from '@herald/shared';
import { type FailedKind, finalFailureEvent, isRetryable, retryEvent } from './jobs/failure.ts';
import { JobError } from './jobs/job-error.ts';
import type { AnyJobKind, JobKind } from './jobs/kind.ts';
import { runJob, type RunJobDeps } from './jobs/run-job.ts';

/** How a job ended, as this process wrote its terminal event. */
export type FinalStatus = 'done' | 'error' | 'cancelled';

/** Told of the jobs a consumer runs (Herald's worker process counts them in its metrics). */
export interface ConsumerObserver {
  /** A run began (attempts counted one each); `runEnded` follows it. */
  runStarted(): void;
  runEnded(): void;
  /** This process wrote the job's terminal event, `seconds` after its submission. */
  jobFinished(status: FinalStatus, seconds: number): void;
}

export const NO_OBSERVER: ConsumerObserver = { runStarted() {}, runEnded() {}, jobFinished() {} };

export interface ConsumerDeps {
  readonly config: Pick<Config, 'WORKER_CONCURRENCY' | 'JOB_LOCK_MS' | 'JOB_ATTEMPTS'>;
  readonly logger: Logger;
  readonly observer: ConsumerObserver;
  /** What a run needs: the publisher, cancellation, the flush interval. */
  readonly job: RunJobDeps;
  /** The kind this consumer runs: its jobs wait on the queue named after it (kindQueueName). */
  readonly kind: AnyJobKind;
  /** Told of each job this process ended, so its webhook goes at once. */
  readonly chores: Chores;
  /** BullMQ's connection (bullConnection: its name in CLIENT LIST, its reconnect counter). */
  readonly connection: ConnectionOptions;
}

/** A failed job's `error` event that Redis refused is tried again after this, doubling up to the max. */
const REPORT_RETRY_MS = 500;
const REPORT_RETRY_MAX_MS = 10_000;

/**
 * Where a kind's jobs are taken and run: the BullMQ Worker on the kind's queue. Each job runs its
 * kind (the job's name, the queue's) through runJob, its data the kind's input; a failed run is announced as a retry or, on the last attempt, as the
 * job's `error` event, and BullMQ retries with backoff. Counts each job once, when its terminal
 * event is written by this process, and wakes its webhook then.
 */
export function startConsumer({
  config,
  logger,
  observer,
  job: jobDeps,
  kind: ownKind,
  chores,
  connection,
}: ConsumerDeps): Worker<unknown> {
  const { publisher } = jobDeps;
  const kinds = new Map([[ownKind.name, ownKind]]);
  const finished = (job: Job<unknown>, status: FinalStatus, log: Logger): void => {
    const seconds = Math.max(0, Date.now() - job.timestamp) / 1000;
    observer.jobFinished(status, seconds);
    log.info({ status, durationMs: Math.round(seconds * 1000) }, 'job finished');
    chores.jobEnded(job.id as string).catch((err: unknown) => log.warn({ err }, 'could not wake the webhook (it looks again by itself)'));
  };

  /** The job's kind as its failure is reported: one this worker runs, or just the name it was queued with. */
  const failedKind = (job: Job<unknown>): FailedKind => kinds.get(job.name) ?? { name: job.name };

  /** The job's kind and its checked input; a job no run could ever mend fails at once. */
  const prepare = (job: Job<unknown>): { kind: JobKind<unknown>; input: unknown } => {
    const kind = kinds.get(job.name) as JobKind<unknown> | undefined;
    if (!kind) throw new JobError('unknown_kind', `This worker runs no jobs of kind ${JSON.stringify(job.name.slice(0, 50))}`, false);
    const input = kind.input.safeParse(job.data);
    if (!input.success) throw new JobError('invalid_input', `The job's input is not what a ${kind.name} job takes`, false);
    return { kind, input: input.data };
  };

  const processJob = async (job: Job<unknown>): Promise<void> => {
    const jobId = job.id as string;
    const attempts = job.opts.attempts ?? 1;
    const attempt = job.attemptsMade + 1;
    const log = logger.child({ jobId, attempt });
    log.info({ attempts, kind: job.name }, 'job started');
    observer.runStarted();
    try {
      const { kind, input } = prepare(job);
      const ended = await runJob({ jobId, kind, input, attempt, attempts, logger: log }, jobDeps);
      if (ended) finished(job, ended, log);
      else log.info('job run stopped: the job had already ended');
    } catch (error) {
      const final = attempt >= attempts || !isRetryable(error);
      log.warn({ attempts, final, err: error }, 'job run failed');
      const kind = failedKind(job);
      const published = await publisher.publish(jobId, final ? finalFailureEvent(error, kind) : retryEvent(error, kind, attempt, attempts));
      if (final && published) finished(job, 'error', log);
      // A failure no retry can mend ends the job now, not after JOB_ATTEMPTS tries.
      throw final && attempt < attempts ? new UnrecoverableError((error as Error).message) : error;
    } finally {
      observer.runEnded();
    }
  };

  const worker = new Worker<unknown>(kindQueueName(ownKind.name), processJob, {
    connection,
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
  // While Redis refuses it (out of memory, or not answering) the report is tried again, or the
  // job would stay `processing` for ever, with no TTL (docs/api.md, "Redis at its memory limit").
  worker.on('failed', (job, error) => {
    if (!job?.id) return;
    const jobId = job.id;
    const log = logger.child({ jobId, attempt: job.attemptsMade });
    const report = (delayMs: number): void => {
      job
        .getState()
        .then((state) => (state === 'failed' ? publisher.publish(jobId, finalFailureEvent(error, failedKind(job))) : null))
        .then((published) => {
          if (published) finished(job, 'error', log);
        })
        .catch((err: unknown) => {
          const notNow = asRedisFailure(err) instanceof RedisUnavailableError;
          log.error({ err, retryInMs: notNow ? delayMs : undefined }, 'could not report a failed job');
          if (notNow && worker.closing === undefined) setTimeout(() => report(Math.min(delayMs * 2, REPORT_RETRY_MAX_MS)), delayMs).unref();
        });
    };
    report(REPORT_RETRY_MS);
  });
  worker.on('error', (err) => logger.error({ err }, 'worker error'));
  return worker;
}
