import type { Queue } from 'bullmq';
import {
  DEFAULT_MAX_SENTENCES,
  ERROR_CODES,
  batchJobId,
  batchJobTags,
  batchRequestSchema,
  isTerminal,
  type BatchRequest,
  type BatchSnapshot,
} from '@herald/contract';
import {
  type BatchHead,
  type BatchRecord,
  type Chores,
  type Config,
  type EventPublisher,
  type EventReader,
  type RedisClient,
  type SummarizeJobData,
  JOB_FIELDS,
  keys,
  summarizeJobOptions,
} from '@herald/shared';
import { redisCall } from '../http/deadline.ts';
import { HttpError, batchNotFound, conflict } from '../http/errors.ts';
import type { IdempotencyStore } from './idempotency.ts';
import type { JobIndex } from './job-index.ts';
import { ADMIT_ALL, type Admission, type JobService } from './job-service.ts';
import { isBatchId, newJobId } from './job-id.ts';
import { Rollback } from './rollback.ts';

export interface BatchSubmitted {
  readonly batchId: string;
  readonly jobIds: readonly string[];
  readonly status: string;
  /** False when an Idempotency-Key replay returned an existing batch. */
  readonly created: boolean;
}

export interface BatchServiceDeps {
  readonly config: Config;
  readonly redis: RedisClient;
  readonly queue: Queue;
  readonly chores: Chores;
  readonly publisher: EventPublisher;
  readonly reader: EventReader;
  readonly idempotency: IdempotencyStore;
  /** Each job of a batch is an ordinary job: cancelled as one, checked as one. */
  readonly jobs: JobService;
  /** Where GET /v1/jobs finds a batch's jobs. */
  readonly index: JobIndex;
}

/** A batch's Idempotency-Keys are apart from single jobs': the same key may name one of each. */
const IDEMPOTENCY_SCOPE = 'batch:';
/** Jobs cancelled at once when a batch is cancelled: enough to be quick, few enough to be gentle. */
const CANCEL_CONCURRENCY = 16;

/**
 * Batches (docs/api.md, "Batches"): many summarize jobs submitted, watched and cancelled as one.
 * The batch and all its jobs are created in one step (their `queued` events, the batch's
 * aggregates), then queued in one MULTI; from there each job runs as any other, and the publish
 * script keeps the batch's counts, overall progress and stream in step with its jobs.
 */
export class BatchService {
  readonly #deps: BatchServiceDeps;
  readonly #schema: ReturnType<typeof batchRequestSchema>;

  constructor(deps: BatchServiceDeps) {
    this.#deps = deps;
    this.#schema = batchRequestSchema(deps.config.MAX_TEXT_CHARS, deps.config.MAX_BATCH_ITEMS);
  }

  /** The whole body is checked before anything is written; `owner` and `admit` as for JobService.submit. */
  async submit(
    body: unknown,
    idempotencyKey: string | undefined,
    owner: string | null,
    admit: Admission = ADMIT_ALL,
  ): Promise<BatchSubmitted> {
    const request = this.#schema.parse(body);
    if (request.callbackUrl !== undefined) this.#deps.jobs.checkCallback(request.callbackUrl);
    const batchId = newJobId();
    const jobIds = request.items.map((_, index) => batchJobId(batchId, index));
    if (idempotencyKey !== undefined) {
      const claim = await redisCall(this.#deps.idempotency.claim(owner, IDEMPOTENCY_SCOPE + idempotencyKey, request, batchId));
      if (claim.kind === 'conflict') throw conflict('idempotency_conflict', ERROR_CODES.idempotency_conflict.message);
      if (claim.kind === 'replay') {
        const snapshot = await this.snapshot(claim.jobId).catch(() => null);
        const ids = request.items.map((_, index) => batchJobId(claim.jobId, index));
        return { batchId: claim.jobId, jobIds: ids, status: snapshot?.status ?? 'queued', created: false };
      }
    }
    let release: (() => Promise<void>) | undefined;
    try {
      release = await admit(jobIds);
      await this.#create(batchId, jobIds, request, owner);
    } catch (error) {
      await release?.().catch(() => {});
      if (idempotencyKey !== undefined) await this.#deps.idempotency.release(owner, IDEMPOTENCY_SCOPE + idempotencyKey).catch(() => {});
      throw error;
    }
    return { batchId, jobIds, status: 'queued', created: true };
  }

  /** The batch as Herald keeps it (its owner, its callback), or the 404. */
  async record(batchId: string): Promise<BatchRecord> {
    const record = isBatchId(batchId) ? await redisCall(this.#deps.reader.batchRecord(batchId)) : null;
    if (!record) throw batchNotFound();
    return record;
  }

  /** The batch's owner and where its stream stands, without its jobs (one read), or the 404. */
  async head(batchId: string): Promise<BatchHead> {
    const head = isBatchId(batchId) ? await redisCall(this.#deps.reader.batchHead(batchId)) : null;
    if (!head) throw batchNotFound();
    return head;
  }

  async snapshot(batchId: string): Promise<BatchSnapshot> {
    return (await this.record(batchId)).snapshot;
  }

  /**
   * Cancels every job of the batch that has not ended; the batch then ends as `cancelled` (with
   * its jobs' own ends in `counts`). 409 when the batch has already ended.
   */
  async cancel(batchId: string): Promise<{ snapshot: BatchSnapshot; cancelledHere: number }> {
    const before = await this.snapshot(batchId);
    if (isTerminal(before.status)) throw conflict('already_finished', `The batch has already ended (${before.status})`);
    // Read by the publish script when the last job ends: the batch ends `cancelled`, not `done`.
    await redisCall(this.#deps.redis.hset(keys.batch(batchId), 'cancelling', '1'));
    const open = before.jobs.filter((job) => !isTerminal(job.status)).map((job) => job.jobId);
    let cancelledHere = 0;
    for (let at = 0; at < open.length; at += CANCEL_CONCURRENCY) {
      const results = await Promise.allSettled(open.slice(at, at + CANCEL_CONCURRENCY).map((jobId) => this.#deps.jobs.cancel(jobId)));
      for (const result of results) {
        if (result.status === 'fulfilled') {
          if (result.value.endedHere) cancelledHere += 1;
        } else if (!(result.reason instanceof HttpError && result.reason.status === 409)) {
          throw result.reason; // a job that ended meanwhile is fine; Redis failing is not
        }
      }
    }
    return { snapshot: await this.snapshot(batchId), cancelledHere };
  }

  async #create(batchId: string, jobIds: readonly string[], request: BatchRequest, owner: string | null): Promise<void> {
    const { redis, publisher, queue, chores, config, index } = this.#deps;
    const jobFields: Record<string, string> = { [JOB_FIELDS.kind]: 'summarize' };
    const batchFields: Record<string, string> = {};
    if (request.tags !== undefined && request.tags.length > 0) batchFields[JOB_FIELDS.tags] = JSON.stringify(request.tags);
    const tags = request.items.map((item) => batchJobTags(request.tags, item.tags));
    if (owner !== null) {
      jobFields[JOB_FIELDS.owner] = owner;
      batchFields[JOB_FIELDS.owner] = owner;
    }
    if (request.callbackUrl !== undefined) {
      batchFields[JOB_FIELDS.callbackUrl] = request.callbackUrl;
      batchFields[JOB_FIELDS.webhook] = JSON.stringify({ state: 'pending', attempts: 0 });
    }
    const first = { status: 'queued', stage: 'queued', progress: 0, message: 'Waiting for a worker' } as const;
    const entries = request.items.map((item, index) => {
      const data: SummarizeJobData = { text: item.text, maxSentences: item.options?.maxSentences ?? DEFAULT_MAX_SENTENCES };
      return { name: 'summarize', data, opts: summarizeJobOptions(config, jobIds[index]!) };
    });
    // A step that fails (Redis out of memory) undoes those before it: nothing of the batch stays.
    const rollback = new Rollback();
    let taken = false; // another batch's id: nothing here to undo
    try {
      const everyKey = [keys.batch(batchId), keys.batchEvents(batchId), ...jobIds.flatMap((id) => [keys.events(id), keys.snapshot(id)])];
      rollback.add(() => redis.del(...everyKey)); // one hash tag: one Cluster slot
      taken = !(await redisCall(publisher.createBatch(batchId, jobIds, first, { batch: batchFields, job: jobFields, tags })));
      if (taken) throw new Error(`batch id ${batchId} was taken`); // 128 random bits: never, in practice
      // One ZADD per index its jobs enter, however many they are (jobs/job-index.ts).
      await redisCall(
        index.add(
          jobIds.map((jobId, i) => ({ jobId, owner, tags: tags[i]! })),
          Date.now(),
        ),
      );
      // The webhook before the work, so the batch cannot end before its webhook exists.
      rollback.add(() => chores.unschedule({ batchId }));
      if (request.callbackUrl !== undefined) await redisCall(chores.scheduleBatchWebhook(batchId));
      // One MULTI: every job is queued, or none is.
      rollback.add(() => Promise.all(jobIds.map((jobId) => queue.remove(jobId))));
      await redisCall(queue.addBulk(entries));
    } catch (error) {
      if (!taken) await rollback.run();
      throw error;
    }
  }
}
