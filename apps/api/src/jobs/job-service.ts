import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { DEFAULT_MAX_SENTENCES, isTerminal, submitRequestSchema, type JobSnapshot } from '@herald/contract';
import {
  type EventPublisher,
  type EventReader,
  QUEUE_NAME,
  channels,
  keys,
  summarizeJobOptions,
  type Config,
  type SummarizeJobData,
} from '@herald/shared';
import { redisCall } from '../http/deadline.ts';
import { conflict, jobNotFound } from '../http/errors.ts';
import type { IdempotencyStore } from './idempotency.ts';
import { isJobId, newJobId } from './job-id.ts';

export interface Submitted {
  readonly jobId: string;
  readonly status: string;
  /** False when an Idempotency-Key replay returned an existing job. */
  readonly created: boolean;
}

export interface JobServiceDeps {
  readonly config: Config;
  readonly redis: Redis;
  readonly queue: Queue;
  readonly publisher: EventPublisher;
  readonly reader: EventReader;
  readonly idempotency: IdempotencyStore;
}

const WAITING_STATES = new Set(['waiting', 'delayed', 'prioritized', 'waiting-children', 'paused']);

/** Submitting, looking at and cancelling jobs; HTTP-free so the rules read in one place. */
export class JobService {
  readonly #deps: JobServiceDeps;
  readonly #schema: ReturnType<typeof submitRequestSchema>;

  constructor(deps: JobServiceDeps) {
    this.#deps = deps;
    this.#schema = submitRequestSchema(deps.config.MAX_TEXT_CHARS);
  }

  async submit(body: unknown, idempotencyKey: string | undefined): Promise<Submitted> {
    const request = this.#schema.parse(body);
    const data: SummarizeJobData = {
      text: request.text,
      maxSentences: request.options?.maxSentences ?? DEFAULT_MAX_SENTENCES,
    };
    const jobId = newJobId();
    if (idempotencyKey !== undefined) {
      const claim = await redisCall(this.#deps.idempotency.claim(idempotencyKey, data, jobId));
      if (claim.kind === 'conflict') {
        throw conflict('idempotency_conflict', 'This Idempotency-Key was used with a different body');
      }
      if (claim.kind === 'replay') {
        const snapshot = await this.snapshot(claim.jobId).catch(() => null);
        return { jobId: claim.jobId, status: snapshot?.status ?? 'queued', created: false };
      }
    }
    try {
      await this.#enqueue(jobId, data);
    } catch (error) {
      if (idempotencyKey !== undefined) await this.#deps.idempotency.release(idempotencyKey).catch(() => {});
      throw error;
    }
    return { jobId, status: 'queued', created: true };
  }

  async snapshot(jobId: string): Promise<JobSnapshot> {
    const snapshot = isJobId(jobId) ? await redisCall(this.#deps.reader.snapshot(jobId)) : null;
    if (!snapshot) throw jobNotFound();
    return snapshot;
  }

  /**
   * Cancels from any replica: the cancel key and notice reach whichever worker holds the job; a
   * job still in the queue is removed so it never runs, and its `cancelled` event is sent here
   * (`removedFromQueue`: this call ended the job, so no worker will count it).
   */
  async cancel(jobId: string): Promise<{ snapshot: JobSnapshot; removedFromQueue: boolean }> {
    const { redis, queue, publisher, config } = this.#deps;
    const before = await this.snapshot(jobId);
    if (isTerminal(before.status)) throw conflict('already_finished', `The job has already ended (${before.status})`);
    await redisCall(redis.multi().set(keys.cancel(jobId), '1', 'EX', config.JOB_TTL_SECONDS).publish(channels.cancel, jobId).exec());
    // Only a job still waiting is removed here: one a worker holds is locked (remove fails), and
    // one that has just finished must stay as it ended.
    const job = await redisCall(queue.getJob(jobId));
    const state = job ? await redisCall(job.getState()) : 'unknown';
    const removed =
      job && WAITING_STATES.has(state)
        ? await job
            .remove()
            .then(() => true)
            .catch(() => false)
        : !job;
    const ended = removed
      ? (await redisCall(publisher.publish(jobId, { status: 'cancelled', progress: 0, message: 'Cancelled' }))) !== null
      : false;
    return { snapshot: await this.snapshot(jobId), removedFromQueue: ended };
  }

  async #enqueue(jobId: string, data: SummarizeJobData): Promise<void> {
    const { publisher, queue, config } = this.#deps;
    // The `queued` event goes first so it is always the job's first event, before any worker's.
    await redisCall(publisher.publish(jobId, { status: 'queued', stage: 'queued', progress: 0, message: 'Waiting for a worker' }));
    await redisCall(queue.add(QUEUE_NAME, data, summarizeJobOptions(config, jobId)));
  }
}
