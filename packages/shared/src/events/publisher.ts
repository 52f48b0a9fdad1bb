import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { RedisClient } from '../redis/connection.ts';
import { batchOf, isTerminal, type JobEvent, type ProgressUpdate } from '@herald/contract';
import { batchEventJson, type EventBody, jobEventJson, jobEventJsonParts, metadataJson } from './event-layout.ts';
import { createBatchScript } from '../redis/scripts/create-batch.ts';
import { type PublishReply, publishScript } from '../redis/scripts/publish.ts';
import type { FeedEvent } from '../redis/scripts/tag-feed.ts';
import { JOB_FIELDS } from './reader.ts';
import { keys } from '../redis/keys.ts';
import { type RelayGiveUp, RelayRetries } from './relay-retries.ts';
import { type RelayedEvent, TagRelay } from './tag-relay.ts';

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
  /**
   * Told when an event published here ended its job's batch (the batch's last job ended),
   * whoever published it (a worker, a cancel, a producer): the batch's webhook is due now.
   */
  readonly onBatchEnded?: (batchId: string) => void;
  /**
   * Told when an event published here ended its job (a terminal event was written), whoever
   * published it: the job's place among its key's jobs not ended is given back.
   */
  readonly onJobEnded?: (jobId: string) => void;
  /** What bounds a producer's publishes (publishAsProducer); without it, nothing does. */
  readonly producerLimits?: ProducerLimits;
  /**
   * MAX_METADATA_BYTES: the most bytes of JSON a job's merged metadata may hold, whoever publishes
   * (a patch past it is refused and nothing is published); without it, no bound.
   */
  readonly maxMetadataBytes?: number;
  /**
   * TAG_FEED_MAXLEN: a tagged job's events are relayed into its tags' feeds (docs/api.md, "A
   * tag's stream"), each capped at this many entries, after each publish; without it, none is.
   * A relay that fails does not fail the publish (the event is the job's): it is retried in the
   * background (events/relay-retries.ts), and `onRelayFailed` hears of one whose retries failed
   * too, or that found too many waiting; the job's next publish relays what it missed.
   */
  readonly tagFeedMaxLen?: number;
  /** TAG_FEED_MAX_BYTES: the bytes each tag's feed holds at most (absent or 0: no bound). */
  readonly tagFeedMaxBytes?: number;
  readonly onRelayFailed?: (error: unknown, jobId: string, why: RelayGiveUp) => void;
  readonly now?: () => number;
}

/**
 * A producer's writes, bounded (docs/api.md, "POST /v1/jobs/{id}/events"). Herald's own events
 * (workers, a cancel, the watchdog) are bounded by what writes them, and never refused for size.
 */
export interface ProducerLimits {
  /** MAX_TEXT_CHARS: the longest the job's answer may grow (offset + delta's length, UTF-16 units). */
  readonly maxTextChars: number;
  /** MAX_STREAM_CHARS: the longest each named stream may grow, counted as the answer is. */
  readonly maxStreamChars: number;
  /** MAX_EVENT_BYTES: one event's JSON as stored, escapes included, every field but `result`. */
  readonly maxEventBytes: number;
  /**
   * MAX_JOB_STREAM_BYTES: the bytes of event JSON the job's Stream may hold (a terminal event
   * passes), and the bytes of its texts together (the answer's and its named streams').
   */
  readonly maxStreamBytes: number;
  /** PUBLISH_RATE_PER_JOB: publishes a second, per job, all replicas together (0: no limit). */
  readonly ratePerSecond: number;
}

/**
 * The settings every process that publishes runs with (API and worker alike): retention, the
 * replicas a job's end waits for, who is told that a batch has ended (`batchEnded`: its
 * webhook's wake-up; a failure is only logged, the webhook looks again by itself), and that a job
 * has ended (`jobEnded`: gives its place back among its key's jobs not ended; a failure is
 * logged, the API's pruning mends it). That one runs whatever this process's own settings say
 * (a worker need not know API_KEYS or MAX_ACTIVE_JOBS_PER_KEY): a job without an owner costs
 * it one read.
 */
export function publisherOptions(
  config: Config,
  logger: Logger,
  batchEnded: (batchId: string) => Promise<void>,
  jobEnded: (jobId: string) => Promise<void>,
): PublisherOptions {
  return {
    ttlSeconds: config.JOB_TTL_SECONDS,
    streamMaxLen: config.STREAM_MAXLEN,
    waitReplicas: config.REDIS_WAIT_REPLICAS,
    waitTimeoutMs: config.REDIS_WAIT_TIMEOUT_MS,
    onUnreplicated: (replicated, wanted) =>
      logger.warn({ replicated, wanted }, 'a job’s end reached fewer replicas than REDIS_WAIT_REPLICAS in time; not waiting for 10 s'),
    onBatchEnded: (batchId) => {
      batchEnded(batchId).catch((err: unknown) =>
        logger.warn({ err, batchId }, 'could not wake the batch webhook (it looks again by itself)'),
      );
    },
    onJobEnded: (jobId) => {
      jobEnded(jobId).catch((err: unknown) =>
        logger.warn({ err, jobId }, 'could not give an ended job’s place back (MAX_ACTIVE_JOBS_PER_KEY; pruning mends it)'),
      );
    },
    maxMetadataBytes: config.MAX_METADATA_BYTES,
    tagFeedMaxLen: config.TAG_FEED_MAXLEN,
    tagFeedMaxBytes: config.TAG_FEED_MAX_BYTES,
    onRelayFailed: (err, jobId, why) =>
      logger.warn(
        { err, jobId, why },
        why === 'too-many-pending'
          ? 'could not relay a tagged job’s event into its tags’ feeds, and too many retries wait: dropped (its next publish relays it)'
          : 'could not relay a tagged job’s event into its tags’ feeds, retried twice (its next publish relays it)',
      ),
    producerLimits: {
      maxTextChars: config.MAX_TEXT_CHARS,
      maxStreamChars: config.MAX_STREAM_CHARS,
      maxEventBytes: config.MAX_EVENT_BYTES,
      maxStreamBytes: config.MAX_JOB_STREAM_BYTES,
      ratePerSecond: config.PUBLISH_RATE_PER_JOB,
    },
  };
}

export interface PublishedEvent {
  readonly id: string;
  readonly event: JobEvent;
}

/** A producer's event: without a progress, the job's stays where it is. */
export type ProducerUpdate = EventBody;

/**
 * Which of a producer's bounds (ProducerLimits) an event would break: its answer's length, its
 * named stream's, its own size, its Stream's bytes, its texts' bytes together.
 */
export type ProducerBound = 'text' | 'streamText' | 'event' | 'stream' | 'texts';

/** What a producer's publish through the API came to (the script's guards and the bounds, as outcomes). */
export type ProducerPublish =
  | Exclude<PublishReply, { outcome: 'published' | 'stream_full' | 'texts_full' }>
  | { readonly outcome: 'published'; readonly id: string }
  | { readonly outcome: 'too_large'; readonly bound: ProducerBound };

/**
 * After a WAIT that the replicas did not answer in time (one down, or far behind), terminal
 * events stop waiting for this long: WAIT blocks the connection it runs on, and a missing
 * replica would otherwise stall every job's end by the full timeout.
 */
export const WAIT_PAUSE_MS = 10_000;

/**
 * Where an event is published: one atomic script appends it to the job's Stream, updates the
 * snapshot (and the text being written) and publishes the wake-up
 * (redis/scripts/publish-6.lua). Used by workers, by the API for the events it owns (`queued`,
 * `cancelled` for a job no worker holds) and for external jobs' producers.
 */

export class EventPublisher {
  readonly #redis: RedisClient;
  readonly #options: PublisherOptions;
  readonly #tagRelay: TagRelay | null;
  readonly #relayRetries: RelayRetries;
  #waitPausedUntil = 0;

  constructor(redis: RedisClient, options: PublisherOptions) {
    this.#redis = redis;
    this.#options = options;
    const { tagFeedMaxLen, tagFeedMaxBytes, ttlSeconds, now } = options;
    this.#tagRelay = tagFeedMaxLen
      ? new TagRelay(redis, { maxLen: tagFeedMaxLen, maxBytes: tagFeedMaxBytes ?? 0, ttlSeconds, ...(now ? { now } : {}) })
      : null;
    this.#relayRetries = new RelayRetries((error, jobId, why) => options.onRelayFailed?.(error, jobId, why));
  }

  /**
   * Herald's own events. Resolves to null when the job has already ended: its terminal event
   * stays the last one. A lower progress is raised to the job's; without one, the job's stays.
   */
  async publish(jobId: string, update: ProducerUpdate, options: PublishOptions = {}): Promise<PublishedEvent | null> {
    const reply = await this.#run(jobId, update, 'clamp', idempotency(options));
    if (reply.reply.outcome === 'ended' || reply.reply.outcome === 'replayed') return null;
    if (reply.reply.outcome !== 'published') throw new PublishRefusedError(reply.reply.outcome);
    const batchId = batchOf(jobId);
    return {
      id: reply.reply.id,
      event: { jobId, ...(batchId === null ? {} : { batchId }), ...update, progress: reply.reply.progress, ts: reply.ts },
    };
  }

  /**
   * A job's first event, with what the job is (its kind, owner, …): kept in its snapshot. With an
   * idempotency key, a repeat (a retried create) adds nothing and resolves to null.
   */
  async create(
    jobId: string,
    first: ProgressUpdate,
    jobFields: Readonly<Record<string, string>>,
    options: PublishOptions = {},
  ): Promise<PublishedEvent | null> {
    const reply = await this.#run(jobId, first, 'clamp', { jobFields, ...idempotency(options) });
    if (reply.reply.outcome !== 'published') return null;
    return { id: reply.reply.id, event: { jobId, ...first, progress: reply.reply.progress, ts: reply.ts } };
  }

  /**
   * A batch and its jobs, each with its first event (`first`, the same for all), in one step
   * (redis/scripts/create-batch-n.lua). Resolves to false when the batch id was taken.
   */
  async createBatch(
    batchId: string,
    jobIds: readonly string[],
    first: ProgressUpdate,
    fields: {
      readonly batch: Readonly<Record<string, string>>;
      readonly job: Readonly<Record<string, string>>;
      /** Each job's tags, in the order of `jobIds` (JOB_FIELDS.tags; an empty list writes none). */
      readonly tags?: readonly (readonly string[])[];
    },
  ): Promise<boolean> {
    const ts = (this.#options.now ?? Date.now)();
    const counts = { queued: jobIds.length, processing: 0, done: 0, error: 0, cancelled: 0 };
    const jobs = jobIds.map((jobId, i) => ({ jobId, event: jobEventJson(jobId, batchOf(jobId), first, ts), tags: fields.tags?.[i] ?? [] }));
    const reply = await createBatchScript(this.#redis, {
      batchId,
      jobs: jobs.map(({ jobId, event, tags }) => ({ jobId, event, ...(tags.length > 0 ? { tags: JSON.stringify(tags) } : {}) })),
      batchEvent: batchEventJson(batchId, 'queued', 0, counts, ts),
      ts,
      streamMaxLen: this.#options.streamMaxLen,
      batchFields: fields.batch,
      jobFields: fields.job,
    });
    if (reply.outcome !== 'created') return false;
    const owner = fields.job[JOB_FIELDS.owner] ?? null;
    // One relay per tag, of all its jobs at once (TagRelay.relayMany): a call per job and tag
    // would be thousands of round trips inside the request's Redis deadline.
    const byTag = new Map<string, RelayedEvent[]>();
    for (const [i, { jobId, event, tags }] of jobs.entries()) {
      for (const tag of tags) {
        const list = byTag.get(tag) ?? [];
        list.push({ jobId, owner, prev: null, event: { id: reply.jobEventIds[i]!, status: first.status, data: event } });
        byTag.set(tag, list);
      }
    }
    const relay = this.#tagRelay;
    if (relay) {
      await Promise.all([...byTag].map(([tag, list]) => this.#relayRetries.run(list[0]!.jobId, () => relay.relayMany(tag, list))));
    }
    return true;
  }

  /**
   * A producer's event, through the API: refused rather than mended when it breaks a rule
   * (progress going back, after the end, a bad offset, no such job, a job Herald runs) or a bound
   * (ProducerLimits: its text and its size here, before Redis is asked; its rate and its
   * Stream's bytes in the script); with an idempotency key, a repeat returns the first
   * publish's id.
   */
  async publishAsProducer(jobId: string, update: ProducerUpdate, idempotencyKeyHash?: string): Promise<ProducerPublish> {
    const limits = this.#options.producerLimits;
    // The script refuses an offset past the text, so offset + delta's length is the text's new length.
    if (limits && update.delta !== undefined) {
      const [cap, bound] =
        update.stream === undefined ? [limits.maxTextChars, 'text' as const] : [limits.maxStreamChars, 'streamText' as const];
      if ((update.offset ?? 0) + update.delta.length > cap) return { outcome: 'too_large', bound };
    }
    if (limits && eventBytes(jobId, update, (this.#options.now ?? Date.now)()) > limits.maxEventBytes) {
      return { outcome: 'too_large', bound: 'event' };
    }
    const { reply } = await this.#run(jobId, update, 'strict', {
      ...(idempotencyKeyHash === undefined ? {} : { idempotencyKeyHash }),
      ...(limits ? { ratePerSecond: limits.ratePerSecond, maxStreamBytes: limits.maxStreamBytes } : {}),
    });
    if (reply.outcome === 'stream_full') return { outcome: 'too_large', bound: 'stream' };
    if (reply.outcome === 'texts_full') return { outcome: 'too_large', bound: 'texts' };
    return reply.outcome === 'published' ? { outcome: 'published', id: reply.id } : reply;
  }

  /** Into each tag's feed; a failure is retried in the background, never thrown: the event is published. */
  async #relay(tags: readonly string[], jobId: string, owner: string | null, prev: string | null, event: FeedEvent): Promise<void> {
    const relay = this.#tagRelay;
    if (!relay || tags.length === 0) return;
    await this.#relayRetries.run(jobId, () => relay.relay(tags, jobId, owner, prev, event));
  }

  /**
   * A publish replayed by its idempotency key: its first try may have died before its relay (a
   * bridge SIGKILLed, a producer's request cut), so the event is relayed again (a no-op when
   * the feeds have it). Retried and told, not thrown, as any relay.
   */
  async #relayReplayed(jobId: string, eventId: string): Promise<void> {
    const relay = this.#tagRelay;
    if (!relay) return;
    await this.#relayRetries.run(jobId, async () => {
      const [tags = null, owner = null] = await this.#redis.hmget(keys.snapshot(jobId), JOB_FIELDS.tags, JOB_FIELDS.owner);
      if (tags !== null) await relay.relayPublished(tagList(tags), jobId, owner, eventId);
    });
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
    extra: {
      idempotencyKeyHash?: string;
      jobFields?: Readonly<Record<string, string>>;
      ratePerSecond?: number;
      maxStreamBytes?: number;
    } = {},
  ): Promise<{ reply: PublishReply; ts: number }> {
    const ts = (this.#options.now ?? Date.now)();
    const { status, progress } = update;
    // The JSON is split around the progress value so the script can raise it without parsing.
    const [jsonHead, jsonTail] = jobEventJsonParts(jobId, batchOf(jobId), update, ts);
    const reply = await publishScript(this.#redis, {
      jobId,
      status,
      progress: progress ?? null,
      jsonHead,
      jsonTail,
      streamMaxLen: this.#options.streamMaxLen,
      ttlSeconds: this.#options.ttlSeconds,
      ts,
      mode,
      ...(update.delta !== undefined && update.offset !== undefined
        ? { text: { delta: update.delta, offset: update.offset, stream: update.stream } }
        : {}),
      ...(update.metadata === undefined ? {} : { metadataPatch: metadataJson(update.metadata) }),
      ...(this.#options.maxMetadataBytes ? { maxMetadataBytes: this.#options.maxMetadataBytes } : {}),
      ...(isTerminal(status) && (this.#options.waitReplicas ?? 0) > 0 && ts >= this.#waitPausedUntil ? { durable: this.#durable() } : {}),
      ...extra,
    });
    if (reply.outcome === 'published' && reply.tags !== null) {
      await this.#relay(tagList(reply.tags), jobId, reply.owner, reply.prev, {
        id: reply.id,
        status,
        data: jsonHead + reply.progress + jsonTail,
      });
    }
    if (reply.outcome === 'replayed') await this.#relayReplayed(jobId, reply.id);
    if (reply.outcome === 'published' && isTerminal(status)) this.#options.onJobEnded?.(jobId);
    if (reply.outcome === 'published' && reply.batchEnded) this.#options.onBatchEnded?.(batchOf(jobId)!);
    return { reply, ts };
  }
}

/** A publish of Herald's own that the job's rules refused (its metadata past MAX_METADATA_BYTES, …): not a Redis failure, so trying again is no use. */
export class PublishRefusedError extends Error {
  readonly outcome: string;
  constructor(outcome: string) {
    super(`publish refused: ${outcome}`);
    this.name = 'PublishRefusedError';
    this.outcome = outcome;
  }
}

/** What Herald's own publishes may add. */
export interface PublishOptions {
  /**
   * A publish retried with the same key (a digest, or any short text of [A-Za-z0-9:_-]) adds
   * nothing and resolves to null, even once the job has ended; the key lives JOB_TTL_SECONDS
   * from the first publish (publish-6.lua, "Idempotency"). The BullMQ bridge keys each event
   * on the BullMQ event it comes from.
   */
  readonly idempotencyKeyHash?: string;
}

const idempotency = (options: PublishOptions): { idempotencyKeyHash?: string } =>
  options.idempotencyKeyHash === undefined ? {} : { idempotencyKeyHash: options.idempotencyKeyHash };

/** A job's tags as its snapshot keeps them (JSON; JOB_FIELDS.tags): a list of strings, or none for anything else. */
function tagList(json: string): string[] {
  try {
    const tags: unknown = JSON.parse(json);
    return Array.isArray(tags) ? tags.filter((tag): tag is string => typeof tag === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * The bytes of an event's JSON as the publish script stores it, every field but `result` (which
 * MAX_TEXT_CHARS bounds): UTF-8, escapes included (a control character is 6 bytes, `\u00XX`),
 * the progress as given (3 digits when the job's own is kept). MAX_EVENT_BYTES bounds it.
 */
export function eventBytes(jobId: string, update: ProducerUpdate, ts: number): number {
  const { result: _result, ...measured } = update;
  const [head, tail] = jobEventJsonParts(jobId, batchOf(jobId), measured, ts);
  return Buffer.byteLength(head) + String(update.progress ?? 100).length + Buffer.byteLength(tail);
}
