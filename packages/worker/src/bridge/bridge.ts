import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_TAGS_PER_JOB, TAG_PATTERN } from '@herald/contract';
import {
  type Config,
  connectRedis,
  createLogger,
  EventPublisher,
  JOB_FIELDS,
  keys,
  loadConfig,
  type Logger,
  type ProducerUpdate,
  PublishRefusedError,
  publisherOptions,
  type RedisClient,
  releaseActiveJob,
} from '@herald/shared';
import { Redis, type RedisOptions } from 'ioredis';
import { apiKeyId, bridgedJobId, bullmqTag } from './ids.ts';
import { BridgeLease, LEASE_MS } from './lease.ts';
import { type BullmqEvent, QUEUED, retryUpdate, stepOf } from './translate.ts';

// The BullMQ bridge (docs/api.md, "The BullMQ bridge"): a Herald job for every job of a BullMQ
// queue whose producers and workers are the team's own and know nothing of Herald, its events
// made from BullMQ's own. It reads the queue's events Stream (`<prefix>:<queue>:events`, what
// BullMQ's QueueEvents reads) itself, one event after another: QueueEvents emits each event
// without waiting for its listener, so a position stored after a listener could pass events still
// being published, and a bridge killed then would miss them. Here an event's Herald event is
// published (idempotently, keyed on the BullMQ event's id) before its id is stored as the
// cursor, so a restarted bridge goes on from the cursor, missing nothing, and an event published
// again (killed between the two) adds nothing.

export interface BridgeQueueOptions {
  /** The BullMQ queue's name. */
  readonly queue: string;
  /**
   * Where the BullMQ queue's Redis is, as BullMQ's own `connection` says it: ioredis options (with
   * `url`, as BullMQ takes them), a URL, or an ioredis connection (duplicated, never used itself).
   */
  readonly connection: string | (RedisOptions & { readonly url?: string }) | Redis;
  /** The queue's BullMQ prefix; BullMQ's default, `bull`. */
  readonly prefix?: string;
  /**
   * The API key that owns the bridged jobs (as if it had submitted them: it lists and watches
   * them); its id is derived with Herald's WATCH_TOKEN_SECRET, which `herald` must then hold.
   * Without it (nor `ownerKeyId`), the jobs have no owner: what a job made with auth off has.
   */
  readonly ownerKey?: string;
  /** Or the owning key's id itself (12 hex characters, as Herald logs it), when the bridge should not hold the secret. */
  readonly ownerKeyId?: string;
  /** More tags for every bridged job, after its `bullmq:…` one (together at most MAX_TAGS_PER_JOB). */
  readonly tags?: readonly string[];
  /** Herald's settings (its Redis, JOB_TTL_SECONDS, …); by default, from the environment, as Herald's own processes read them. */
  readonly herald?: Config;
  readonly logger?: Logger;
  /** The lease's time (LEASE_MS by default). */
  readonly leaseMs?: number;
}

export interface BullmqBridge {
  /** Whether this bridge holds the queue's lease now (a second bridge waits). */
  readonly leading: boolean;
  /** Stops after the event in hand, gives the lease up, closes its connections. */
  close(): Promise<void>;
}

/** Herald jobs the bridge knows exist, so that it need not ask again: the most recent ones only. */
const KNOWN_JOBS = 1000;
/** BullMQ events read at once. */
const READ_COUNT = 100;
/** After a Redis failure, before trying again (the same event: the cursor has not moved). */
const RETRY_MS = 500;
/** The idempotency key of a bridged job's `queued` event: one per job. */
const CREATE_KEY = 'bullmq-bridge:create';

export async function bridgeQueue(options: BridgeQueueOptions): Promise<BullmqBridge> {
  const config = options.herald ?? loadConfig(process.env);
  const logger = options.logger ?? createLogger('bullmq-bridge', config.LOG_LEVEL);
  const prefix = options.prefix ?? 'bull';
  const { queue } = options;
  const extraTags = [...(options.tags ?? [])];
  for (const tag of extraTags)
    if (!TAG_PATTERN.test(tag)) throw new TypeError(`bridgeQueue: tag ${JSON.stringify(tag)} breaks the tag rule`);
  if (extraTags.length > MAX_TAGS_PER_JOB - 1)
    throw new TypeError(`bridgeQueue: at most ${MAX_TAGS_PER_JOB - 1} tags besides the bullmq one`);
  if (new Set(extraTags).size !== extraTags.length) throw new TypeError('bridgeQueue: tags must not repeat a tag');
  const owner = ownerOf(options, config);

  const herald = connectRedis(config, { name: 'herald:bullmq-bridge' });
  herald.on('error', (err: Error) => logger.warn({ err: err.message }, 'herald redis connection error'));
  const bull = bullConnection(options.connection);
  bull.on('error', (err: Error) => logger.warn({ err: err.message }, 'bullmq redis connection error'));
  const publisher = new EventPublisher(
    herald,
    publisherOptions(
      config,
      logger,
      async () => {}, // a bridged job is in no batch
      (jobId) => releaseActiveJob(herald, jobId),
    ),
  );
  const bridge = new Bridge({
    herald,
    bull,
    publisher,
    lease: new BridgeLease(herald, prefix, queue, options.leaseMs ?? LEASE_MS),
    logger,
    prefix,
    queue,
    eventsKey: `${prefix}:${queue}:events`, // BullMQ's QueueKeys.toKey(queue, 'events')
    fields: (bullmqJobId) => {
      const tag = bullmqTag(queue, bullmqJobId);
      const tags = [tag, ...extraTags.filter((extra) => extra !== tag)];
      return { [JOB_FIELDS.kind]: 'bullmq', [JOB_FIELDS.tags]: JSON.stringify(tags), ...(owner ? { [JOB_FIELDS.owner]: owner } : {}) };
    },
  });
  bridge.start();
  return bridge;
}

function ownerOf(options: BridgeQueueOptions, config: Config): string | null {
  if (options.ownerKeyId !== undefined) {
    if (!/^[0-9a-f]{12}$/.test(options.ownerKeyId)) throw new TypeError('bridgeQueue: ownerKeyId is 12 lowercase hex characters');
    return options.ownerKeyId;
  }
  if (options.ownerKey === undefined) return null;
  if (config.WATCH_TOKEN_SECRET === undefined) throw new TypeError('bridgeQueue: ownerKey needs WATCH_TOKEN_SECRET (or give ownerKeyId)');
  return apiKeyId(config.WATCH_TOKEN_SECRET, options.ownerKey);
}

/** A connection of the bridge's own to the queue's Redis: its reads block. */
function bullConnection(connection: BridgeQueueOptions['connection']): Redis {
  if (connection instanceof Redis) return connection.duplicate();
  const own = { maxRetriesPerRequest: null, connectionName: 'herald:bullmq-bridge' };
  if (typeof connection === 'string') return new Redis(connection, own);
  const { url, ...options } = connection;
  return url === undefined ? new Redis({ ...options, ...own }) : new Redis(url, { ...options, ...own });
}

interface BridgeParts {
  readonly herald: RedisClient;
  readonly bull: Redis;
  readonly publisher: EventPublisher;
  readonly lease: BridgeLease;
  readonly logger: Logger;
  readonly prefix: string;
  readonly queue: string;
  readonly eventsKey: string;
  readonly fields: (bullmqJobId: string) => Record<string, string>;
}

class Bridge implements BullmqBridge {
  readonly #parts: BridgeParts;
  /** Herald job ids known to exist, oldest first; at most KNOWN_JOBS. */
  readonly #known = new Set<string>();
  #leading = false;
  /** Whether it has said that it waits for the lease (said once a wait). */
  #waiting = false;
  #closing = false;
  #loop: Promise<void> = Promise.resolve();
  #renewal: NodeJS.Timeout | null = null;

  constructor(parts: BridgeParts) {
    this.#parts = parts;
  }

  get leading(): boolean {
    return this.#leading;
  }

  start(): void {
    const { lease, logger } = this.#parts;
    this.#renewal = setInterval(() => {
      if (!this.#leading) return;
      lease.renew().then(
        (held) => {
          if (!held && this.#leading) {
            logger.warn('lost the BullMQ bridge lease; waiting to take it again');
            this.#leading = false;
          }
        },
        (err: unknown) => logger.warn({ err }, 'could not renew the BullMQ bridge lease'),
      );
    }, lease.leaseMs / 3);
    this.#loop = this.#run();
  }

  async close(): Promise<void> {
    this.#closing = true;
    if (this.#renewal) clearInterval(this.#renewal);
    // A read blocked on BullMQ's Redis ends with its connection.
    this.#parts.bull.disconnect();
    await this.#loop;
    if (this.#leading) await this.#parts.lease.release().catch(() => {});
    this.#leading = false;
    await this.#parts.herald.quit().catch(() => {});
  }

  async #run(): Promise<void> {
    const { lease, logger, bull, eventsKey } = this.#parts;
    let cursor = '0';
    // How long a read waits for events: well within the lease, so that its renewal is never late by much.
    const blockMs = Math.max(100, Math.min(1000, Math.floor(lease.leaseMs / 3)));
    while (!this.#closing) {
      try {
        if (!this.#leading) {
          if (!(await lease.acquire())) {
            if (!this.#waiting) logger.info({ queue: this.#parts.queue }, 'another bridge holds the BullMQ queue; waiting for its lease');
            this.#waiting = true;
            await sleep(Math.min(1000, lease.leaseMs / 4));
            continue;
          }
          this.#leading = true;
          this.#waiting = false;
          // Where the last holder stopped; on the very first run, the start of the Stream (BullMQ keeps its last ~10,000 events).
          cursor = (await lease.cursor()) ?? '0';
          logger.info({ queue: this.#parts.queue, cursor }, 'bridging the BullMQ queue');
        }
        const reply = (await bull.xread('COUNT', READ_COUNT, 'BLOCK', blockMs, 'STREAMS', eventsKey, cursor)) as
          | [string, [string, string[]][]][]
          | null;
        for (const [id, flat] of reply?.[0]?.[1] ?? []) {
          if (this.#closing || !this.#leading) break;
          await this.#bridge(id, record(flat));
          if (!(await lease.store(id))) {
            this.#leading = false;
            break;
          }
          cursor = id;
        }
      } catch (err) {
        if (this.#closing) break;
        logger.warn({ err }, 'BullMQ bridge: a Redis call failed; trying again');
        await sleep(RETRY_MS);
      }
    }
  }

  /** One BullMQ event's Herald event, published once whoever publishes it how often (keyed on `eventId`). */
  async #bridge(eventId: string, event: BullmqEvent): Promise<void> {
    const step = stepOf(event);
    if (step.kind === 'skip') return;
    const jobId = await this.#ensure(step.bullmqJobId);
    const idempotencyKeyHash = `bullmq-bridge:${eventId}`;
    switch (step.kind) {
      case 'create':
        return;
      case 'publish':
        await this.#publish(jobId, step.update, idempotencyKeyHash);
        return;
      case 'retry':
      case 'retry-if-failed': {
        const reason = await this.#parts.bull.hget(`${this.#parts.prefix}:${this.#parts.queue}:${step.bullmqJobId}`, 'failedReason');
        if (step.kind === 'retry-if-failed' && !reason) return; // a job added with a delay: nothing failed
        await this.#publish(jobId, retryUpdate(reason), idempotencyKeyHash);
        return;
      }
    }
  }

  /**
   * An event Herald refuses by its rules (metadata past MAX_METADATA_BYTES) is left out and told,
   * never retried: it would hold every later event up. A Redis failure throws, and the same event
   * is tried again.
   */
  async #publish(jobId: string, update: ProducerUpdate, idempotencyKeyHash: string): Promise<void> {
    try {
      await this.#parts.publisher.publish(jobId, update, { idempotencyKeyHash });
    } catch (err) {
      if (!(err instanceof PublishRefusedError)) throw err;
      this.#parts.logger.warn({ err: err.message, jobId }, 'Herald refused a bridged event; left out');
    }
  }

  /** The Herald job of a BullMQ job, made (its `queued` event) when it does not exist yet. */
  async #ensure(bullmqJobId: string): Promise<string> {
    const { prefix, queue, herald, publisher, fields } = this.#parts;
    const jobId = bridgedJobId(prefix, queue, bullmqJobId);
    if (this.#known.has(jobId)) return jobId;
    // Idempotent as well: two bridges that both found no job make one.
    if ((await herald.exists(keys.snapshot(jobId))) === 0) {
      await publisher.create(jobId, QUEUED, fields(bullmqJobId), { idempotencyKeyHash: CREATE_KEY });
    }
    this.#known.add(jobId);
    if (this.#known.size > KNOWN_JOBS) this.#known.delete(this.#known.values().next().value!);
    return jobId;
  }
}

/** A Stream entry's flat [field, value, …] as a record. */
function record(flat: readonly string[]): BullmqEvent {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
  return fields;
}
