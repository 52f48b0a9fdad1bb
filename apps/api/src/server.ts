import type { Server } from 'node:http';
import { Queue } from 'bullmq';
import type { Registry } from 'prom-client';
import {
  Chores,
  EventPublisher,
  publisherOptions,
  releaseActiveJob,
  EventReader,
  QUEUE_NAME,
  bullConnection,
  checkMemoryPolicy,
  connectRedis,
  describeRedis,
  createBroker,
  openChoreQueues,
  releaseBullConnection,
  countedRole,
  queuePrefix,
  KindRegistry,
  TagRelay,
  tagFeedFirstId,
  tagOpenScript,
  tagPageScript,
  type Config,
  type ConnectionRole,
  type Logger,
} from '@herald/shared';
import { accessFromConfig } from './auth/access-from-config.ts';
import { createFront, type RequestHandler } from './front.ts';
import { edgeHeaders, streamEdgeHeaders } from './http/edge-headers.ts';
import { IdempotencyStore } from './jobs/idempotency.ts';
import { BatchService } from './jobs/batch-service.ts';
import { JobIndex } from './jobs/job-index.ts';
import { JobService } from './jobs/job-service.ts';
import { KindQueues } from './jobs/kind-queues.ts';
import { Kinds } from './jobs/kinds.ts';
import { ActiveJobs } from './limits/active-jobs.ts';
import { StreamSlots } from './limits/stream-slots.ts';
import { SubmissionLimiter } from './limits/submission-limiter.ts';
import { QUEUE_STATES, createApiMetrics } from './metrics.ts';
import { createApp } from './routes/app.ts';
import { EventStream } from './stream/event-stream.ts';
import { FanoutHub } from './stream/hub.ts';
import { EndPacer } from './stream/end-pacer.ts';
import { WatcherRegistry } from './stream/watcher-registry.ts';

export interface ApiOptions {
  readonly config: Config;
  readonly logger: Logger;
}

export interface RunningApi {
  readonly server: Server;
  /** http://127.0.0.1:<port>, handy for tests that listen on port 0. */
  readonly url: string;
  /** What /metrics serves; `npm start` adds the worker's metrics to it. */
  readonly registry: Registry;
  /**
   * Drains and stops: /readyz turns 503, new streams are refused, watchers are told to come back
   * (to another replica) and closed, in-flight requests finish within SHUTDOWN_GRACE_MS.
   */
  close(): Promise<void>;
}

/** An API replica: the composition root, where the objects are built and wired, and nothing else. */
export async function startApi({ config, logger }: ApiOptions): Promise<RunningApi> {
  // Read at scrape time; they refer to what is built below.
  const metrics = createApiMetrics({
    watchers: () => registry.size,
    watchedJobs: () => hub.watchedJobs,
    queueCounts: () => queue.getJobCounts(...QUEUE_STATES),
  });
  const role = (name: string, options: Omit<ConnectionRole, 'name'> = {}): ConnectionRole =>
    countedRole(metrics.redisReconnects, name, options);

  // A fixed set of connections per replica, whatever the number of watchers and jobs: commands,
  // the fan-out subscriber (on a Cluster: one per master that owns a watched job), and BullMQ's
  // two queues (jobs, chores).
  const redis = connectRedis(config, role('herald:api:commands', { whileDown: 'fail-fast' }));
  const reader = new EventReader(redis);
  const broker = createBroker(config, redis, reader, logger, role('herald:api:fanout'));
  const queueConnection = bullConnection(config, role('herald:api:queue'));
  const queue = new Queue(QUEUE_NAME, {
    // Waits for Redis rather than failing: requests are bounded by their deadline instead
    // (http/deadline.ts), and an enqueue is only reached once the job's first event was
    // written on the fail-fast connection anyway.
    connection: queueConnection,
    prefix: queuePrefix,
    skipWaitingForReady: true,
  });
  redis.on('error', (err: Error) => logger.warn({ connection: 'commands', err: err.message }, 'redis connection error'));
  queue.on('error', (err: Error) => logger.warn({ connection: 'queue', err: err.message }, 'redis connection error'));
  await firstReady(redis);
  void checkMemoryPolicy(redis, logger, describeRedis(config)); // a warning at most; never awaited
  const access = accessFromConfig(config, logger, redis);
  const choresConnection = bullConnection(config, role('herald:api:chores'));
  const choreQueues = openChoreQueues(choresConnection, { skipWaitingForReady: true });
  for (const choreQueue of [choreQueues.webhooks, choreQueues.watchdogs])
    choreQueue.on('error', (err: Error) => logger.warn({ connection: 'chores', err: err.message }, 'redis connection error'));
  const chores = new Chores(choreQueues, {
    webhookAttempts: config.WEBHOOK_ATTEMPTS,
    webhookBackoffMs: config.WEBHOOK_BACKOFF_MS,
    ttlSeconds: config.JOB_TTL_SECONDS,
  });

  // A batch's webhook goes as soon as this process publishes the batch's end (Chores.batchEnded);
  // a job's end gives its place back among its key's jobs not ended (MAX_ACTIVE_JOBS_PER_KEY).
  const publisher = new EventPublisher(
    redis,
    publisherOptions(
      config,
      logger,
      (batchId) => chores.batchEnded(batchId),
      (jobId) => releaseActiveJob(redis, jobId),
    ),
  );
  const idempotency = new IdempotencyStore(redis, config.JOB_TTL_SECONDS);
  const index = new JobIndex(redis, reader, config.JOB_TTL_SECONDS, config.JOB_INDEX_GRACE_SECONDS);
  // The registered kinds (docs/api.md, "Kinds"): the built-ins, the registry's own; the rest
  // registered by their workers. Each kind's queue is made once, when its first job comes.
  const kindRegistry = new KindRegistry(redis);
  const kinds = new Kinds(kindRegistry);
  const kindQueues = new KindQueues(queue, queueConnection, logger);
  const queueOf = (kind: string): Queue => kindQueues.of(kind);
  const jobs = new JobService({ config, redis, queue, queueOf, kinds, chores, publisher, reader, idempotency, index });
  const batches = new BatchService({ config, redis, queue, chores, publisher, reader, idempotency, jobs, index });
  // Limits shared by every replica through Redis (limits/); refusals counted by limit.
  const submissions = SubmissionLimiter.fromConfig(redis, config, (limit) => metrics.limitsRefused.inc({ limit }));
  const active = ActiveJobs.fromConfig(redis, config, () => metrics.limitsRefused.inc({ limit: 'active_key' }));
  const reads = SubmissionLimiter.forReads(redis, config, (limit) => metrics.limitsRefused.inc({ limit }));
  const slots = StreamSlots.fromConfig(redis, logger, config, () => metrics.limitsRefused.inc({ limit: 'streams_ip' }));

  const hub = new FanoutHub(broker, logger, {
    pageEvents: config.HISTORY_PAGE_EVENTS,
    observe: (event, watchers) => {
      metrics.eventsFannedOut.inc();
      metrics.eventDeliveries.inc(watchers);
      if (event.ts !== null) metrics.fanoutLatency.observe(Math.max(0, Date.now() - event.ts) / 1000);
    },
  });
  const registry = new WatcherRegistry(config.HEARTBEAT_MS, config.SSE_WRITE_DEADLINE_MS);
  const endPacer = new EndPacer(config.STREAM_END_RATE);
  const isDraining = (): boolean => front.draining;
  const tagSettler = new TagRelay(redis, {
    maxLen: config.TAG_FEED_MAXLEN,
    maxBytes: config.TAG_FEED_MAX_BYTES,
    ttlSeconds: config.JOB_TTL_SECONDS,
  });
  const stream = new EventStream({
    settings: {
      retryMs: config.SSE_RETRY_MS,
      maxClients: config.MAX_SSE_CLIENTS,
      maxBacklogBytes: config.SSE_MAX_BACKLOG_BYTES,
      maxJobsPerStream: config.MAX_JOBS_PER_STREAM,
    },
    jobs,
    batches,
    trimmedAfter: (topic, afterId) => reader.trimmedAfter(topic, afterId),
    tagFeed: {
      open: (tag, only) => tagOpenScript(redis, tag, only),
      page: async (tag, afterId, openPoint, only) => {
        const page = await tagPageScript(redis, tag, afterId, config.HISTORY_PAGE_EVENTS, openPoint, only);
        // A short read is the feed's end; the next page starts after the last entry read, kept or not.
        return { events: page.events, next: page.read < config.HISTORY_PAGE_EVENTS ? null : page.lastRead };
      },
      settle: (tag, jobId, only) => tagSettler.settle(tag, jobId, only),
      firstId: (tag) => tagFeedFirstId(redis, tag),
    },
    hub,
    registry,
    endPacer,
    observer: {
      ended: (how) => metrics.streamsEnded.inc({ how }),
      refusedFull: () => metrics.limitsRefused.inc({ limit: 'streams_replica' }),
    },
    isDraining,
    access,
    slots,
    logger,
  });
  const app = createApp({
    jobs,
    batches,
    index,
    maxBatchItems: config.MAX_BATCH_ITEMS,
    access,
    submissions,
    active,
    reads,
    observer: {
      submitted: () => metrics.jobsSubmitted.inc(),
      cancelledHere: () => metrics.jobsCancelledQueued.inc(),
    },
    maxTextChars: config.MAX_TEXT_CHARS,
    maxDeltaChars: config.MAX_DELTA_CHARS,
    listKinds: () => kindRegistry.list(),
    logger,
    redis,
    registry: metrics.registry,
    isDraining,
    edge: edgeHeaders(config.CORS_ORIGINS),
    admin: config.ADMIN_API_KEYS.length > 0 ? { access, queues: [queue, choreQueues.webhooks, choreQueues.watchdogs] } : null,
  });
  const front = createFront({
    app: app as unknown as RequestHandler,
    stream,
    streamEdge: streamEdgeHeaders(config.CORS_ORIGINS),
    logger,
    reader: config.STREAM_READER,
  });
  const port = await front.listen(config.PORT, config.HOST);
  logger.info({ port }, 'api listening');

  return {
    server: front.server,
    url: `http://127.0.0.1:${port}`,
    registry: metrics.registry,
    async close() {
      await front.close(config.SHUTDOWN_GRACE_MS, () => {
        endPacer.flush(); // finished streams end as completed, not drained
        registry.drain(config.SSE_RETRY_MS, config.DRAIN_SPREAD_MS);
        registry.stop();
      });
      await slots.stop(); // every stream has ended; gives this replica's per-IP counts back
      await Promise.all([queue.close(), kindQueues.close(), choreQueues.webhooks.close(), choreQueues.watchdogs.close()]);
      releaseBullConnection(queueConnection);
      releaseBullConnection(choresConnection);
      broker.close();
      redis.disconnect();
      logger.info('api stopped');
    },
  };
}

/**
 * Not required to start (/readyz says 503 until Redis answers), but a replica that starts with
 * Redis up should not turn its first requests away while the connection opens.
 */
function firstReady(redis: ReturnType<typeof connectRedis>): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2000).unref();
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
