import { createHash } from 'node:crypto';
import type { Queue } from 'bullmq';
import {
  DEFAULT_MAX_SENTENCES,
  ERROR_CODES,
  isTerminal,
  MAX_STREAMS_PER_JOB,
  isBuiltInKind,
  KIND_NAME,
  producerEventSchema,
  registeredSubmitSchema,
  submitRequestSchema,
  type JobSnapshot,
  type SubmitRequest,
} from '@herald/contract';
import {
  type Chores,
  type EventPublisher,
  type EventReader,
  type ProducerBound,
  type ProducerUpdate,
  JOB_FIELDS,
  type JobHead,
  type JobRecord,
  QUEUE_NAME,
  channels,
  keys,
  refusedCallback,
  summarizeJobOptions,
  type Config,
  type SummarizeJobData,
  type RedisClient,
} from '@herald/shared';
import { redisCall } from '../http/deadline.ts';
import { badRequest, conflict, HttpError, jobNotFound, payloadTooLarge, rateLimited } from '../http/errors.ts';
import type { IdempotencyStore } from './idempotency.ts';
import { isJobId, newJobId } from './job-id.ts';
import type { JobIndex } from './job-index.ts';
import type { Kinds } from './kinds.ts';
import { Rollback } from './rollback.ts';

export interface Submitted {
  readonly jobId: string;
  readonly kind: SubmitRequest['kind'];
  readonly status: string;
  /** False when an Idempotency-Key replay returned an existing job. */
  readonly created: boolean;
}

export interface Published {
  readonly eventId: string;
  /** False when an Idempotency-Key replay returned the event published before. */
  readonly created: boolean;
  /** The event ended the job. */
  readonly terminal: boolean;
}

export interface JobServiceDeps {
  readonly config: Config;
  readonly redis: RedisClient;
  readonly queue: Queue;
  /** The queue a registered kind's jobs wait on (named after it: kindQueueName), made once per kind. */
  readonly queueOf: (kind: string) => Queue;
  /** The registered kinds: which exist, and whether an input fits (jobs/kinds.ts). */
  readonly kinds: Kinds;
  readonly chores: Chores;
  readonly publisher: EventPublisher;
  readonly reader: EventReader;
  readonly idempotency: IdempotencyStore;
  /** Where GET /v1/jobs finds jobs: each job is filed there once it exists. */
  readonly index: JobIndex;
}

/**
 * What a submission's jobs must pass once its body is known, before anything is written (the
 * routes wire the limits: a batch's other items against the submission limits, the key's jobs
 * not ended); resolves to what gives back what it took, should the creation then fail. An
 * Idempotency-Key replay creates nothing and is not admitted.
 */
export type Admission = (jobIds: readonly string[]) => Promise<() => Promise<void>>;
/** Nothing to pass (callers without limits). */
export const ADMIT_ALL: Admission = async () => async () => {};

const WAITING_STATES = new Set(['waiting', 'delayed', 'prioritized', 'waiting-children', 'paused']);
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * Submitting, looking at, cancelling and (for external jobs) publishing into jobs; HTTP-free so
 * the rules read in one place. Who may do it is the routes' to check (auth/access.ts).
 */
export class JobService {
  readonly #deps: JobServiceDeps;
  readonly #schema: ReturnType<typeof submitRequestSchema>;
  readonly #registeredSchema: ReturnType<typeof registeredSubmitSchema>;
  readonly #eventSchema: ReturnType<typeof producerEventSchema>;

  constructor(deps: JobServiceDeps) {
    this.#deps = deps;
    this.#schema = submitRequestSchema(deps.config.MAX_TEXT_CHARS, deps.config.MAX_METADATA_BYTES);
    this.#registeredSchema = registeredSubmitSchema(deps.config.MAX_METADATA_BYTES);
    this.#eventSchema = producerEventSchema(deps.config.MAX_TEXT_CHARS, deps.config.MAX_DELTA_CHARS);
  }

  /** `owner`: the submitting key's id (null with auth off); Idempotency-Keys are the owner's own. */
  async submit(body: unknown, idempotencyKey: string | undefined, owner: string | null, admit: Admission = ADMIT_ALL): Promise<Submitted> {
    const request = await this.#parse(body);
    if (request.callbackUrl !== undefined) this.checkCallback(request.callbackUrl);
    const jobId = newJobId();
    if (idempotencyKey !== undefined) {
      const claim = await redisCall(this.#deps.idempotency.claim(owner, idempotencyKey, request, jobId));
      if (claim.kind === 'conflict') {
        throw conflict('idempotency_conflict', ERROR_CODES.idempotency_conflict.message);
      }
      if (claim.kind === 'replay') {
        const snapshot = await this.snapshot(claim.jobId).catch(() => null);
        return { jobId: claim.jobId, kind: request.kind, status: snapshot?.status ?? 'queued', created: false };
      }
    }
    let release: (() => Promise<void>) | undefined;
    try {
      release = await admit([jobId]);
      await this.#create(jobId, request, owner);
    } catch (error) {
      await release?.().catch(() => {});
      if (idempotencyKey !== undefined) await this.#deps.idempotency.release(owner, idempotencyKey).catch(() => {});
      throw error;
    }
    return { jobId, kind: request.kind, status: 'queued', created: true };
  }

  /** The job as Herald keeps it (its owner, its callback), or the 404. */
  async record(jobId: string): Promise<JobRecord> {
    const record = isJobId(jobId) ? await redisCall(this.#deps.reader.record(jobId)) : null;
    if (!record) throw jobNotFound();
    return record;
  }

  /** What an access check needs of the job (its owner, status, last event id, kind), or the 404: one small read. */
  async head(jobId: string): Promise<JobHead> {
    const head = isJobId(jobId) ? await redisCall(this.#deps.reader.jobHead(jobId)) : null;
    if (!head) throw jobNotFound();
    return head;
  }

  async snapshot(jobId: string): Promise<JobSnapshot> {
    return (await this.record(jobId)).snapshot;
  }

  /**
   * Cancels from any replica: the cancel key and notice reach whichever worker holds the job; a
   * job still in the queue is removed so it never runs, and an external job ends at once; then
   * its `cancelled` event is sent here (`endedHere`: this call ended the job, so no worker will
   * count it). An external job's producer learns it from its next publish (409).
   */
  async cancel(jobId: string): Promise<{ snapshot: JobSnapshot; endedHere: boolean }> {
    const { redis, queue, publisher, config } = this.#deps;
    const before = await this.head(jobId);
    if (isTerminal(before.status)) throw conflict('already_finished', `The job has already ended (${before.status})`);
    let removed = true;
    if (before.kind !== 'external') {
      await redisCall(redis.multi().set(keys.cancel(jobId), '1', 'EX', config.JOB_TTL_SECONDS).publish(channels.cancel, jobId).exec());
      // Only a job still waiting is removed here: one a worker holds is locked (remove fails),
      // and one that has just finished must stay as it ended.
      // The job waits on its kind's queue (summarize's, or a registered kind's own).
      const kindQueue = before.kind === null || before.kind === 'summarize' ? queue : this.#deps.queueOf(before.kind);
      const job = await redisCall(kindQueue.getJob(jobId));
      const state = job ? await redisCall(job.getState()) : 'unknown';
      removed =
        job && WAITING_STATES.has(state)
          ? await job
              .remove()
              .then(() => true)
              .catch(() => false)
          : !job;
    }
    const ended = removed
      ? (await redisCall(publisher.publish(jobId, { status: 'cancelled', progress: 0, message: 'Cancelled' }))) !== null
      : false;
    if (ended) await this.#ended(jobId);
    return { snapshot: await this.snapshot(jobId), endedHere: ended };
  }

  /**
   * One event from an external job's producer, under the job's rules and bounds, enforced in the
   * publish script (one round trip, which reads none of the job's text): 404 for no such job,
   * 409 for one Herald runs, after the end or for progress going back (with the job's state in
   * `details`), for an offset that does not fit the text written so far; 413 past a bound, 429
   * over the job's publish rate; 400 for a bad body. With an Idempotency-Key, a retry gets the
   * first publish's event id and adds nothing.
   */
  async publish(jobId: string, body: unknown, idempotencyKey: string | undefined): Promise<Published> {
    const event = this.#eventSchema.parse(body);
    if (!isJobId(jobId)) throw jobNotFound();
    // `done` without a progress means all of it; otherwise the job's stays as it is.
    const update: ProducerUpdate = event.progress === undefined && event.status === 'done' ? { ...event, progress: 100 } : event;
    const keyHash = idempotencyKey === undefined ? undefined : sha256(idempotencyKey);
    const outcome = await redisCall(this.#deps.publisher.publishAsProducer(jobId, update, keyHash));
    const state = async (): Promise<JobSnapshot> => (await this.record(jobId)).snapshot;
    switch (outcome.outcome) {
      case 'published':
        if (isTerminal(event.status)) await this.#ended(jobId);
        return { eventId: outcome.id, created: true, terminal: isTerminal(event.status) };
      case 'replayed':
        return { eventId: outcome.id, created: false, terminal: false };
      case 'ended':
        throw conflict('already_finished', `The job has already ended (${outcome.status}): nothing more can be published`, await state());
      case 'backwards':
        throw conflict('progress_backwards', `Progress cannot go back: the job is at ${outcome.progress}`, await state());
      case 'bad_offset':
        throw conflict('bad_offset', ERROR_CODES.bad_offset.message, await state());
      case 'too_many_streams':
        throw conflict('too_many_streams', `The job already has ${MAX_STREAMS_PER_JOB} named streams, the most it may have`);
      case 'metadata_too_large':
        throw new HttpError(
          413,
          'metadata_too_large',
          `The job's metadata, merged, would be larger than MAX_METADATA_BYTES (${this.#deps.config.MAX_METADATA_BYTES} bytes of JSON); nothing was published`,
        );
      case 'missing':
        throw jobNotFound();
      case 'not_external':
        throw conflict('not_external', ERROR_CODES.not_external.message);
      case 'rate_limited':
        throw rateLimited(
          `Over this job's publish rate (PUBLISH_RATE_PER_JOB: ${this.#deps.config.PUBLISH_RATE_PER_JOB} a second)`,
          outcome.retryAfterMs / 1000,
        );
      case 'too_large':
        throw this.#tooLarge(outcome.bound);
    }
  }

  /** The 413 for a producer's event past one of its bounds, naming the setting. */
  #tooLarge(bound: ProducerBound): HttpError {
    const { MAX_TEXT_CHARS, MAX_STREAM_CHARS, MAX_EVENT_BYTES, MAX_JOB_STREAM_BYTES } = this.#deps.config;
    const message = {
      text: `The job's text would pass MAX_TEXT_CHARS (${MAX_TEXT_CHARS} UTF-16 code units): offset + delta's length is too large`,
      streamText: `The stream's text would pass MAX_STREAM_CHARS (${MAX_STREAM_CHARS} UTF-16 code units): offset + delta's length is too large`,
      texts: `The job's texts together (its answer and its named streams) would hold more than MAX_JOB_STREAM_BYTES (${MAX_JOB_STREAM_BYTES} bytes)`,
      event: `The event is over MAX_EVENT_BYTES (${MAX_EVENT_BYTES} bytes of JSON, escapes included, result aside)`,
      stream: `The job's stream would hold more than MAX_JOB_STREAM_BYTES (${MAX_JOB_STREAM_BYTES} bytes); only its terminal event can still be published`,
    }[bound];
    return payloadTooLarge(message);
  }

  /**
   * The body, by its kind: a built-in kind's (absent: summarize), or a registered kind's, whose
   * kind must be registered (400 unknown_kind) and whose input must fit its schema (400).
   */
  async #parse(body: unknown): Promise<SubmitRequest> {
    const named = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as { kind?: unknown }).kind : undefined;
    if (typeof named !== 'string' || isBuiltInKind(named) || !KIND_NAME.test(named)) return this.#schema.parse(body);
    // The kind first: a body for a kind no one runs is unknown_kind, whatever else it holds.
    const { kinds } = this.#deps;
    const kind = await kinds.require(named);
    const request = this.#registeredSchema.parse(body);
    kinds.check(kind, request.input);
    return request;
  }

  /** The job's first event and its fields, its chores, and (summarize, a registered kind) its place in its queue. */
  async #create(jobId: string, request: SubmitRequest, owner: string | null): Promise<void> {
    const { redis, publisher, queue, chores, config, index } = this.#deps;
    const fields: Record<string, string> = { [JOB_FIELDS.kind]: request.kind };
    if (owner !== null) fields[JOB_FIELDS.owner] = owner;
    if (request.tags !== undefined && request.tags.length > 0) fields[JOB_FIELDS.tags] = JSON.stringify(request.tags);
    if (request.callbackUrl !== undefined) {
      fields[JOB_FIELDS.callbackUrl] = request.callbackUrl;
      fields[JOB_FIELDS.webhook] = JSON.stringify({ state: 'pending', attempts: 0 });
    }
    if ('title' in request && request.title !== undefined) fields[JOB_FIELDS.title] = request.title;
    // The metadata given is where merging starts: the first event carries it as its patch, and the
    // publish script merges it into nothing (docs/api.md, "Metadata").
    const metadata = 'metadata' in request && request.metadata !== undefined ? { metadata: request.metadata } : {};
    // The `queued` event goes first so it is always the job's first event, before any worker's.
    const waiting = request.kind === 'external' ? 'Waiting for the producer' : 'Waiting for a worker';
    // A step that fails (Redis out of memory) undoes those before it: nothing is half-written.
    const rollback = new Rollback();
    try {
      rollback.add(() => redis.del(keys.events(jobId), keys.snapshot(jobId)));
      await redisCall(publisher.create(jobId, { status: 'queued', stage: 'queued', progress: 0, message: waiting, ...metadata }, fields));
      // Filed once it exists (a listing drops an entry whose job it cannot find); should the
      // creation fail after this, the entry is such a one.
      await redisCall(index.add([{ jobId, owner, tags: request.tags ?? [] }], Date.now()));
      // Chores before the work, so none can end before its chores exist.
      rollback.add(() => chores.unschedule({ jobId }));
      if (request.callbackUrl !== undefined) await redisCall(chores.scheduleWebhook(jobId));
      if (request.kind === 'external') {
        await redisCall(chores.scheduleWatchdog(jobId, config.EXTERNAL_IDLE_TIMEOUT_SECONDS * 1000));
        return;
      }
      // A job's data is its kind's input; the BullMQ job's name is the kind, its id the job's.
      const [target, data] =
        'input' in request
          ? [this.#deps.queueOf(request.kind), request.input]
          : request.kind === 'summarize'
            ? [
                queue,
                { text: request.text, maxSentences: request.options?.maxSentences ?? DEFAULT_MAX_SENTENCES } satisfies SummarizeJobData,
              ]
            : [queue, null];
      rollback.add(() => target.remove(jobId));
      await redisCall(target.add(request.kind, data, summarizeJobOptions(config, jobId)));
    } catch (error) {
      await rollback.run();
      throw error;
    }
  }

  /** A callbackUrl is taken only when webhooks are set up and its host may be called (400 otherwise). */
  checkCallback(url: string): void {
    if (this.#deps.config.WEBHOOK_SECRET === undefined) {
      throw badRequest('callbackUrl needs webhooks to be set up on this server (WEBHOOK_SECRET)', [
        { path: 'callbackUrl', message: 'webhooks are off here' },
      ]);
    }
    const refused = refusedCallback(url, this.#deps.config.WEBHOOK_ALLOWED_HOSTS);
    if (refused !== null) throw badRequest('The callbackUrl is not allowed', [{ path: 'callbackUrl', message: refused }]);
  }

  /** This replica wrote the job's terminal event: its webhook goes now (best effort; it looks again anyway). */
  async #ended(jobId: string): Promise<void> {
    await this.#deps.chores.jobEnded(jobId).catch(() => {});
  }
}

export { QUEUE_NAME };
