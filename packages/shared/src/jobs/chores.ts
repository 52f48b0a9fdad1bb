import { Queue, type ConnectionOptions } from 'bullmq';
import { CHORES_QUEUE_NAME, WATCHDOGS_QUEUE_NAME } from '../redis/keys.ts';
import { queuePrefix } from './queue.ts';

/**
 * The BullMQ backoff type of webhook chores: the chores worker's `settings.backoffStrategy`
 * computes their waits (doubling, jittered, Retry-After honoured).
 */
export const WEBHOOK_BACKOFF_TYPE = 'webhook';

/** A chore's BullMQ job name, and its id for one Herald job (BullMQ ids may not hold ':'). */
export const CHORES = {
  /** POSTs the job's end to its callbackUrl (docs/api.md, "Webhooks"). */
  webhook: { name: 'webhook', id: (jobId: string) => `webhook-${jobId}`, batchId: (batchId: string) => `webhook-batch-${batchId}` },
  /** Ends an external job whose producer went silent (EXTERNAL_IDLE_TIMEOUT_SECONDS). */
  watchdog: { name: 'producer-watchdog', id: (jobId: string) => `watchdog-${jobId}` },
} as const;

/** What a chore's job carries: the job it is about, or (a batch's webhook) the batch. */
export type ChoreData = { readonly jobId: string } | { readonly batchId: string };

export interface ChoreSettings {
  readonly webhookAttempts: number;
  readonly webhookBackoffMs: number;
  /** How long finished chores are kept (JOB_TTL_SECONDS). */
  readonly ttlSeconds: number;
}

/**
 * While a job with a callback runs, its webhook chore waits (delayed) and looks again this often,
 * in case whoever ended the job could not wake it (a process killed at that instant).
 */
export const WEBHOOK_RECHECK_MS = 60_000;

/** The BullMQ queues chores go on: webhooks (CHORES_QUEUE_NAME), watchdogs (WATCHDOGS_QUEUE_NAME). */
export interface ChoreQueues {
  readonly webhooks: Queue;
  readonly watchdogs: Queue;
}

/** Both chore queues, on one connection (BullMQ's, bullConnection). */
export function openChoreQueues(connection: ConnectionOptions, options: { readonly skipWaitingForReady?: boolean } = {}): ChoreQueues {
  const open = (name: string) => new Queue(name, { connection, prefix: queuePrefix, ...options });
  return { webhooks: open(CHORES_QUEUE_NAME), watchdogs: open(WATCHDOGS_QUEUE_NAME) };
}

/**
 * Herald's errands about jobs, on BullMQ queues of their own, run by the workers: webhooks on
 * one, the producers' watchdogs on another, so slow receivers never hold up a watchdog.
 * Each is scheduled when its job is made, as a delayed BullMQ job, so nothing about it can be
 * lost between processes: the webhook chore is woken (promoted) by whoever writes the job's
 * terminal event, and otherwise wakes itself every WEBHOOK_RECHECK_MS.
 */
export class Chores {
  readonly #webhooks: Queue;
  readonly #watchdogs: Queue;
  readonly #settings: ChoreSettings;

  constructor(queues: ChoreQueues, settings: ChoreSettings) {
    this.#webhooks = queues.webhooks;
    this.#watchdogs = queues.watchdogs;
    this.#settings = settings;
  }

  async scheduleWebhook(jobId: string): Promise<void> {
    await this.#webhook({ jobId }, CHORES.webhook.id(jobId));
  }

  /** A batch's webhook: due once its last job has ended. */
  async scheduleBatchWebhook(batchId: string): Promise<void> {
    await this.#webhook({ batchId }, CHORES.webhook.batchId(batchId));
  }

  async #webhook(data: ChoreData, choreId: string): Promise<void> {
    await this.#webhooks.add(CHORES.webhook.name, data, {
      jobId: choreId,
      delay: WEBHOOK_RECHECK_MS,
      attempts: this.#settings.webhookAttempts,
      backoff: { type: WEBHOOK_BACKOFF_TYPE, delay: this.#settings.webhookBackoffMs },
      removeOnComplete: { age: this.#settings.ttlSeconds },
      removeOnFail: { age: this.#settings.ttlSeconds },
    });
  }

  async scheduleWatchdog(jobId: string, idleMs: number): Promise<void> {
    const data: ChoreData = { jobId };
    await this.#watchdogs.add(CHORES.watchdog.name, data, {
      jobId: CHORES.watchdog.id(jobId),
      delay: idleMs,
      removeOnComplete: true,
      removeOnFail: { age: this.#settings.ttlSeconds },
    });
  }

  /** Removes a job's chores, or a batch's webhook (`batchId`), scheduled by a submission that failed. */
  async unschedule(owner: { readonly jobId: string } | { readonly batchId: string }): Promise<void> {
    if ('batchId' in owner) {
      await this.#webhooks.remove(CHORES.webhook.batchId(owner.batchId));
      return;
    }
    await this.#webhooks.remove(CHORES.webhook.id(owner.jobId));
    await this.#watchdogs.remove(CHORES.watchdog.id(owner.jobId));
  }

  /**
   * The job has just ended (this process wrote its terminal event): its webhook goes now rather
   * than at its next look. Best effort — the chore looks again by itself.
   */
  async jobEnded(jobId: string): Promise<void> {
    const chore = await this.#webhooks.getJob(CHORES.webhook.id(jobId));
    await chore?.promote().catch(() => {}); // not delayed any more: already on its way
  }

  /** The batch has just ended (this process wrote its terminal event): its webhook goes now. */
  async batchEnded(batchId: string): Promise<void> {
    const chore = await this.#webhooks.getJob(CHORES.webhook.batchId(batchId));
    await chore?.promote().catch(() => {});
  }
}
