import type { RedisClient } from '../redis/connection.ts';
import { isTerminal, type JobEvent, type ProgressUpdate } from '@herald/contract';
import { type PublishReply, publishScript } from '../redis/scripts/publish.ts';

export interface PublisherOptions {
  /** How long a job's Stream and snapshot live after its terminal event. */
  readonly ttlSeconds: number;
  /** Approximate cap on a job's Stream length (XADD MAXLEN ~). */
  readonly streamMaxLen: number;
  /**
   * REDIS_WAIT_REPLICAS: a terminal event resolves once this many replicas have it (WAIT, up to
   * `waitTimeoutMs`), so a master that dies right after cannot take a job's end with it.
   */
  readonly waitReplicas?: number;
  readonly waitTimeoutMs?: number;
  /** Told when the replicas did not confirm in time; waiting then pauses for WAIT_PAUSE_MS. */
  readonly onUnreplicated?: (replicated: number, wanted: number) => void;
  readonly now?: () => number;
}

export interface PublishedEvent {
  readonly id: string;
  readonly event: JobEvent;
}

/** A producer's event: without a progress, the job's stays where it is. */
export type ProducerUpdate = Omit<ProgressUpdate, 'progress'> & { readonly progress?: number | undefined };

/** What a producer's publish through the API came to (the script's guards, as outcomes). */
export type ProducerPublish = Exclude<PublishReply, { outcome: 'published' }> | { readonly outcome: 'published'; readonly id: string };

/**
 * Where an event is published: one atomic script appends it to the job's Stream, updates the
 * snapshot (and the text being written) and publishes the wake-up
 * (redis/scripts/publish-3.lua). Used by workers, by the API for the events it owns (`queued`,
 * `cancelled` for a job no worker holds) and for external jobs' producers.
 */
/**
 * After a WAIT that the replicas did not answer in time (one down, or far behind), terminal
 * events stop waiting for this long: WAIT blocks the connection it runs on, and a missing
 * replica would otherwise stall every job's end by the full timeout.
 */
export const WAIT_PAUSE_MS = 10_000;

export class EventPublisher {
  readonly #redis: RedisClient;
  readonly #options: PublisherOptions;
  #waitPausedUntil = 0;

  constructor(redis: RedisClient, options: PublisherOptions) {
    this.#redis = redis;
    this.#options = options;
  }

  /**
   * Herald's own events. Resolves to null when the job has already ended: its terminal event
   * stays the last one. A lower progress is raised to the job's.
   */
  async publish(jobId: string, update: ProgressUpdate): Promise<PublishedEvent | null> {
    const reply = await this.#run(jobId, update, 'clamp');
    if (reply.reply.outcome === 'ended') return null;
    if (reply.reply.outcome !== 'published') throw new Error(`publish refused: ${reply.reply.outcome}`);
    return { id: reply.reply.id, event: { jobId, ...update, progress: reply.reply.progress, ts: reply.ts } };
  }

  /** A job's first event, with what the job is (its kind, owner, …): kept in its snapshot. */
  async create(jobId: string, first: ProgressUpdate, jobFields: Readonly<Record<string, string>>): Promise<PublishedEvent | null> {
    const reply = await this.#run(jobId, first, 'clamp', { jobFields });
    if (reply.reply.outcome !== 'published') return null;
    return { id: reply.reply.id, event: { jobId, ...first, progress: reply.reply.progress, ts: reply.ts } };
  }

  /**
   * A producer's event, through the API: refused rather than mended when it breaks a rule
   * (progress going back, after the end, a bad offset, no such job); with an idempotency key, a
   * repeat returns the first publish's id.
   */
  async publishAsProducer(jobId: string, update: ProducerUpdate, idempotencyKeyHash?: string): Promise<ProducerPublish> {
    const { reply } = await this.#run(jobId, update, 'strict', idempotencyKeyHash === undefined ? {} : { idempotencyKeyHash });
    return reply.outcome === 'published' ? { outcome: 'published', id: reply.id } : reply;
  }

  #durable(): { replicas: number; timeoutMs: number; short: (replicated: number) => void } {
    const replicas = this.#options.waitReplicas ?? 0;
    return {
      replicas,
      timeoutMs: this.#options.waitTimeoutMs ?? 250,
      short: (replicated) => {
        this.#waitPausedUntil = Date.now() + WAIT_PAUSE_MS;
        this.#options.onUnreplicated?.(replicated, replicas);
      },
    };
  }

  async #run(
    jobId: string,
    update: ProducerUpdate,
    mode: 'clamp' | 'strict',
    extra: { idempotencyKeyHash?: string; jobFields?: Readonly<Record<string, string>> } = {},
  ): Promise<{ reply: PublishReply; ts: number }> {
    const ts = (this.#options.now ?? Date.now)();
    const { status, progress, ...rest } = update;
    // The JSON is split around the progress value so the script can raise it without parsing;
    // `ts` goes last, where the fan-out reads it without parsing either (stream/fanout-event.ts).
    const reply = await publishScript(this.#redis, {
      jobId,
      status,
      progress: progress ?? null,
      jsonHead: `{"jobId":${JSON.stringify(jobId)},"status":${JSON.stringify(status)},"progress":`,
      jsonTail: `,${JSON.stringify({ ...rest, ts }).slice(1)}`,
      streamMaxLen: this.#options.streamMaxLen,
      ttlSeconds: this.#options.ttlSeconds,
      ts,
      mode,
      ...(update.delta !== undefined && update.offset !== undefined ? { text: { delta: update.delta, offset: update.offset } } : {}),
      ...(isTerminal(status) && (this.#options.waitReplicas ?? 0) > 0 && ts >= this.#waitPausedUntil ? { durable: this.#durable() } : {}),
      ...extra,
    });
    return { reply, ts };
  }
}
