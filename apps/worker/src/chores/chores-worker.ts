import { DelayedError, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { isTerminal } from '@herald/contract';
import {
  CHORES,
  CHORES_QUEUE_NAME,
  JOB_FIELDS,
  WATCHDOGS_QUEUE_NAME,
  WEBHOOK_RECHECK_MS,
  hostKey,
  keys,
  queuePrefix,
  releaseWebhookHostSlot,
  takeWebhookHostSlot,
  type ChoreData,
  type Chores,
  type Config,
  type EventPublisher,
  type EventReader,
  type Logger,
  type RedisClient,
} from '@herald/shared';
import { deliverWebhook } from './deliver-webhook.ts';
import { WebhookAttemptFailed, retryAfterMs, webhookRetryDelay } from './webhook-retries.ts';

/** Webhook deliveries one worker process runs at once. */
const WEBHOOK_CONCURRENCY = 8;
/** Watchdogs one worker process runs at once: each is a read and maybe one publish. */
const WATCHDOG_CONCURRENCY = 4;
/** A delivery whose host is busy (WEBHOOK_CONCURRENCY_PER_HOST) looks again after up to this long. */
const HOST_BUSY_WAIT_MS = 1000;
/** A host slot outlives its delivery's deadline by this much, should the worker die holding it. */
const HOST_SLOT_MARGIN_MS = 5000;

export interface ChoresWorkerDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly redis: RedisClient;
  readonly reader: EventReader;
  readonly publisher: EventPublisher;
  readonly chores: Chores;
  /** BullMQ's connection (bullConnection). */
  readonly connection: ConnectionOptions;
  /** Told of every webhook attempt's outcome (the worker's herald_webhook_attempts_total). */
  readonly webhookAttempted?: (outcome: WebhookAttemptOutcome) => void;
}

/** How one attempt at a webhook ended: the delivery's state once it is over. */
export const WEBHOOK_ATTEMPT_OUTCOMES = ['delivered', 'pending', 'failed', 'refused', 'gone'] as const;
export type WebhookAttemptOutcome = (typeof WEBHOOK_ATTEMPT_OUTCOMES)[number];

/** What a webhook is about: a job, or a batch (docs/api.md, "Webhooks"). */
interface WebhookSubject {
  /** The job's or batch's id: the webhook-id is `msg_<id>`. */
  readonly id: string;
  /** What its log lines name: `{jobId}` or `{batchId}`. */
  readonly about: Record<string, string>;
  readonly callbackUrl: string | null;
  readonly ended: boolean;
  /** `job.done`, `batch.cancelled`, … */
  readonly type: string;
  readonly updatedAt: number;
  /** The snapshot the webhook carries, without the delivery's own state. */
  readonly data: unknown;
  /** The hash the delivery's state is written to. */
  readonly stateKey: string;
}

async function webhookSubject(reader: EventReader, chore: ChoreData): Promise<WebhookSubject | null> {
  if ('batchId' in chore) {
    const record = await reader.batchRecord(chore.batchId);
    if (!record) return null;
    const { webhook: _state, ...data } = record.snapshot;
    return {
      id: chore.batchId,
      about: { batchId: chore.batchId },
      callbackUrl: record.callbackUrl,
      ended: isTerminal(data.status),
      type: `batch.${data.status}`,
      updatedAt: data.updatedAt,
      data,
      stateKey: keys.batch(chore.batchId),
    };
  }
  const record = await reader.record(chore.jobId);
  if (!record) return null;
  const { webhook: _state, ...data } = record.snapshot;
  return {
    id: chore.jobId,
    about: { jobId: chore.jobId },
    callbackUrl: record.callbackUrl,
    ended: isTerminal(data.status),
    type: `job.${data.status}`,
    updatedAt: data.updatedAt,
    data,
    stateKey: keys.snapshot(chore.jobId),
  };
}

/** The chores' two BullMQ Workers, started and stopped together. */
export interface ChoresWorkers {
  waitUntilReady(): Promise<void>;
  /** `force`: abandon the chores under way to other workers. */
  close(force?: boolean): Promise<void>;
}

/**
 * Herald's errands about jobs, in every worker, each on its own queue and with its own
 * concurrency, so slow webhook receivers can never starve the watchdogs:
 * - a job's completion webhook (CHORES_QUEUE_NAME), delivered at least once: retried
 *   (WEBHOOK_ATTEMPTS) after a doubling, jittered backoff (WEBHOOK_BACKOFF_MS) that honours the
 *   receiver's Retry-After, the same webhook-id each time, its state kept in the job's snapshot;
 *   at most WEBHOOK_CONCURRENCY_PER_HOST deliveries to one host at once, across processes;
 * - the watchdog of an external job (WATCHDOGS_QUEUE_NAME), which ends it with producer_timeout
 *   once its producer has published nothing for EXTERNAL_IDLE_TIMEOUT_SECONDS.
 * A chore whose job is not ready for it yet, or whose host is busy, puts itself back (delayed)
 * without spending an attempt.
 */
export function startChoresWorker(deps: ChoresWorkerDeps): ChoresWorkers {
  const { config, logger } = deps;

  const later = async (job: Job<ChoreData>, at: number, token: string | undefined): Promise<never> => {
    await job.moveToDelayed(at, token);
    throw new DelayedError();
  };

  const webhook = async (job: Job<ChoreData>, token: string | undefined): Promise<void> => {
    const subject = await webhookSubject(deps.reader, job.data);
    if (!subject?.callbackUrl) return; // expired, or never had one
    const { id, stateKey } = subject;
    if (!subject.ended) await later(job, Date.now() + WEBHOOK_RECHECK_MS, token);
    if (config.WEBHOOK_SECRET === undefined) {
      // A worker set up without the secret leaves the delivery to one that has it (or to itself,
      // restarted with it) rather than losing it; it gives up when the job expires.
      logger.error(subject.about, 'a webhook is due but WEBHOOK_SECRET is not set on this worker: set it on every worker');
      return later(job, Date.now() + WEBHOOK_RECHECK_MS, token);
    }
    const body = JSON.stringify({ type: subject.type, timestamp: new Date(subject.updatedAt).toISOString(), data: subject.data });
    const slot = {
      host: hostKey(new URL(subject.callbackUrl).hostname),
      deliveryId: job.id ?? id,
      leaseMs: config.WEBHOOK_TIMEOUT_MS + HOST_SLOT_MARGIN_MS,
    };
    if (!(await takeWebhookHostSlot(deps.redis, slot, config.WEBHOOK_CONCURRENCY_PER_HOST))) {
      await later(job, Date.now() + Math.round(HOST_BUSY_WAIT_MS * (0.5 + Math.random() / 2)), token);
    }
    const outcome = await deliverWebhook(
      { url: subject.callbackUrl, id: `msg_${id}`, body },
      { secret: config.WEBHOOK_SECRET, allowedHosts: config.WEBHOOK_ALLOWED_HOSTS, timeoutMs: config.WEBHOOK_TIMEOUT_MS },
    ).finally(() => releaseWebhookHostSlot(deps.redis, slot).catch(() => {})); // else its lease runs out
    const attempts = job.attemptsMade + 1;
    const log = logger.child({ ...subject.about, attempt: attempts });
    const answered = outcome.kind === 'answered' ? outcome : null;
    // The owner learns the status only from a receiver on the public internet: from one Herald
    // reaches on a private host (WEBHOOK_ALLOWED_HOSTS) it would be a probe of that network.
    const lastStatus = answered?.routable ? { lastStatus: answered.status } : {};
    const delivered = answered !== null && answered.status >= 200 && answered.status < 300;
    const gone = answered?.status === 410;
    const given = job.opts.attempts ?? 1;
    const state: WebhookAttemptOutcome = delivered
      ? 'delivered'
      : outcome.kind === 'refused'
        ? 'refused'
        : gone
          ? 'gone'
          : attempts >= given
            ? 'failed'
            : 'pending';
    // The snapshot (the batch's hash) says where the delivery stands; it keeps its own TTL.
    // EXPIRE NX: should the hash have expired since it was read, the field written here does
    // not leave a hash behind for ever.
    await deps.redis
      .multi()
      .hset(stateKey, JOB_FIELDS.webhook, JSON.stringify({ state, attempts, ...lastStatus }))
      .expire(stateKey, config.JOB_TTL_SECONDS, 'NX')
      .exec();
    deps.webhookAttempted?.(state);
    if (delivered) {
      log.info({ status: answered.status }, 'webhook delivered');
      return;
    }
    const why = outcome.kind === 'answered' ? `answered ${outcome.status}` : outcome.reason;
    if (outcome.kind === 'refused') {
      log.warn({ reason: outcome.reason }, 'webhook refused: its host is not allowed (WEBHOOK_ALLOWED_HOSTS)');
      throw new UnrecoverableError(`webhook refused: ${why}`);
    }
    if (gone) {
      log.warn('webhook receiver answered 410 Gone: no more attempts');
      throw new UnrecoverableError('webhook gone: answered 410');
    }
    log.warn({ why, final: state === 'failed' }, 'webhook not delivered');
    throw new WebhookAttemptFailed(`webhook not delivered: ${why}`, answered ? retryAfterMs(answered.retryAfter, Date.now()) : null);
  };

  const watchdog = async (job: Job<ChoreData>, token: string | undefined): Promise<void> => {
    if (!('jobId' in job.data)) throw new UnrecoverableError('a watchdog chore names a job');
    const { jobId } = job.data;
    const record = await deps.reader.record(jobId);
    if (!record || isTerminal(record.snapshot.status)) return;
    const idleMs = config.EXTERNAL_IDLE_TIMEOUT_SECONDS * 1000;
    const quietSince = record.snapshot.updatedAt;
    // The producer spoke since this chore was set: look again when its new silence would be too long.
    if (Date.now() - quietSince < idleMs) await later(job, quietSince + idleMs + 10, token);
    const ended = await deps.publisher.publish(jobId, {
      status: 'error',
      progress: 0,
      message: `The producer published nothing for ${config.EXTERNAL_IDLE_TIMEOUT_SECONDS} s`,
      error: { code: 'producer_timeout', message: `No event from the job's producer for ${config.EXTERNAL_IDLE_TIMEOUT_SECONDS} s` },
    });
    if (ended) {
      logger.info({ jobId }, 'external job ended: its producer went silent');
      await deps.chores.jobEnded(jobId);
    }
  };

  const common = {
    connection: deps.connection,
    prefix: queuePrefix,
    // As for jobs (consumer.ts): a chore whose worker died is taken up again within about 1.5 × JOB_LOCK_MS.
    lockDuration: config.JOB_LOCK_MS,
    stalledInterval: Math.max(500, Math.floor(config.JOB_LOCK_MS / 2)),
  };
  const webhooks = new Worker<ChoreData>(
    CHORES_QUEUE_NAME,
    async (job, token) => {
      if (job.name === CHORES.webhook.name) return webhook(job, token);
      // Scheduled before watchdogs had their own queue: run where they are.
      if (job.name === CHORES.watchdog.name) return watchdog(job, token);
      throw new UnrecoverableError(`unknown chore ${job.name}`);
    },
    {
      ...common,
      concurrency: WEBHOOK_CONCURRENCY,
      settings: {
        backoffStrategy: (attemptsMade, _type, error) =>
          webhookRetryDelay(attemptsMade, config.WEBHOOK_BACKOFF_MS, error instanceof WebhookAttemptFailed ? error.retryAfterMs : null),
      },
    },
  );
  const watchdogs = new Worker<ChoreData>(
    WATCHDOGS_QUEUE_NAME,
    async (job, token) => {
      if (job.name === CHORES.watchdog.name) return watchdog(job, token);
      throw new UnrecoverableError(`unknown chore ${job.name}`);
    },
    { ...common, concurrency: WATCHDOG_CONCURRENCY },
  );
  webhooks.on('error', (err) => logger.error({ err }, 'chores worker error'));
  watchdogs.on('error', (err) => logger.error({ err }, 'watchdogs worker error'));
  return {
    async waitUntilReady() {
      await Promise.all([webhooks.waitUntilReady(), watchdogs.waitUntilReady()]);
    },
    async close(force = false) {
      await Promise.all([webhooks.close(force), watchdogs.close(force)]);
    },
  };
}
