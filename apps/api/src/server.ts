import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { Queue } from 'bullmq';
import type { Registry } from 'prom-client';
import {
  EventPublisher,
  EventReader,
  QUEUE_NAME,
  bullConnection,
  ConfigError,
  connectRedis,
  countedRole,
  queuePrefix,
  type Config,
  type ConnectionRole,
  type Logger,
} from '@herald/shared';
import { createApp } from './app.ts';
import { Access } from './auth/access.ts';
import { ApiKeys } from './auth/api-keys.ts';
import { WatchTokens } from './auth/watch-tokens.ts';
import { clientIpResolver } from './http/client-ip.ts';
import { edgeHeaders, streamEdgeHeaders } from './http/edge-headers.ts';
import { badRequest, clientErrorResponse, routeNotFound, writeError } from './errors.ts';
import { matchEventsRoute } from './sse/events-route.ts';
import { FanoutHub } from './fanout/hub.ts';
import { IdempotencyStore } from './jobs/idempotency.ts';
import { JobService } from './jobs/job-service.ts';
import { StreamSlots } from './limits/stream-slots.ts';
import { SubmissionLimiter } from './limits/submission-limiter.ts';
import { REQUEST_ID_HEADER, beginRequest, requestLogger } from './http/request-context.ts';
import { QUEUE_STATES, createApiMetrics } from './metrics.ts';
import { EventStream } from './sse/event-stream.ts';
import { WatcherRegistry } from './sse/watcher-registry.ts';

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

export async function startApi({ config, logger }: ApiOptions): Promise<RunningApi> {
  const access = createAccess(config, logger);
  const edge = edgeHeaders(config.CORS_ORIGINS);
  const streamEdge = streamEdgeHeaders(config.CORS_ORIGINS);
  // Read at scrape time; they refer to what is built below.
  const metrics = createApiMetrics({
    watchers: () => registry.size,
    watchedJobs: () => hub.watchedJobs,
    queueCounts: () => queue.getJobCounts(...QUEUE_STATES),
  });
  const role = (name: string, whileDown?: ConnectionRole['whileDown']): ConnectionRole =>
    countedRole(metrics.redisReconnects, name, whileDown);
  // Three connections per replica, whatever the number of watchers and jobs.
  const redis = connectRedis(config.REDIS_URL, role('herald:api:commands', 'fail-fast'));
  const subscriber = connectRedis(config.REDIS_URL, role('herald:api:fanout'));
  const queue = new Queue(QUEUE_NAME, {
    // Waits for Redis rather than failing: requests are bounded by withinDeadline instead, and
    // an enqueue is only reached once the job's first event was written (fail-fast) anyway.
    connection: bullConnection(config, role('herald:api:queue')),
    prefix: queuePrefix,
    skipWaitingForReady: true,
  });
  for (const [name, emitter] of [['commands', redis], ['fanout', subscriber], ['queue', queue]] as const) {
    emitter.on('error', (err: Error) => logger.warn({ connection: name, err: err.message }, 'redis connection error'));
  }

  // Not required to start (/readyz says 503 until Redis answers), but a replica that starts
  // with Redis up should not turn its first requests away while the connection opens.
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2000).unref();
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });

  // Limits shared by every replica through Redis (limits/); refusals counted by limit.
  const submissions = SubmissionLimiter.fromConfig(redis, config, (limit) => metrics.limitsRefused.inc({ limit }));
  const slots = StreamSlots.fromConfig(redis, logger, config, () => metrics.limitsRefused.inc({ limit: 'streams_ip' }));

  let draining = false;
  const isDraining = () => draining;
  const reader = new EventReader(redis);
  const publisher = new EventPublisher(redis, { ttlSeconds: config.JOB_TTL_SECONDS, streamMaxLen: config.STREAM_MAXLEN });
  const hub = new FanoutHub(subscriber, reader, logger, (event, watchers) => {
    metrics.eventsFannedOut.inc();
    metrics.eventDeliveries.inc(watchers);
    if (event.ts !== null) metrics.fanoutLatency.observe(Math.max(0, Date.now() - event.ts) / 1000);
  });
  const registry = new WatcherRegistry(config.HEARTBEAT_MS);
  const jobs = new JobService({
    config,
    redis,
    queue,
    publisher,
    reader,
    idempotency: new IdempotencyStore(redis, config.JOB_TTL_SECONDS),
  });
  const events = new EventStream({ config, reader, hub, registry, metrics, isDraining, access, slots, logger });
  const app = createApp({ jobs, metrics, redis, logger, maxTextChars: config.MAX_TEXT_CHARS, isDraining, access, edge, submissions });
  // An Express app is also a (req, res, done) handler; its typings only show the Express types.
  const handle = app as unknown as (req: IncomingMessage, res: ServerResponse, done: (error?: unknown) => void) => void;

  // Timeouts are checked every second, not Node's default 30 s, so a slow-loris client is cut
  // close to headersTimeout/requestTimeout rather than half a minute later.
  // HTTP/1.1 requires a Host header; Node's own check answers without a body, ours in JSON.
  const server = createServer({ connectionsCheckingInterval: 1000, requireHostHeader: false }, (req, res) => {
    const reqId = beginRequest(req, res, logger);
    const log = (): Logger => requestLogger(req, logger);
    const eventsRequest = matchEventsRoute(req);
    // The stream writes its id with its own headers (request-context.ts says why).
    if (!eventsRequest) res.setHeader(REQUEST_ID_HEADER, reqId);
    if (req.httpVersion === '1.1' && !req.headers.host) {
      res.setHeader(REQUEST_ID_HEADER, reqId);
      res.shouldKeepAlive = false;
      writeError(res, badRequest('The Host header is required'), () => {});
      return;
    }
    if (!eventsRequest) {
      // The final handler: a URL Express cannot route at all still gets the JSON 404.
      handle(req, res, (error) => writeError(res, error ?? routeNotFound(), (err) => log().error({ err }, 'request failed')));
      return;
    }
    const failed = (error: unknown): void => {
      if (!res.headersSent) res.setHeader(REQUEST_ID_HEADER, reqId);
      writeError(res, error, (err) => log().error({ err, jobId: eventsRequest.jobId.slice(0, 100) }, 'event stream failed'));
    };
    streamEdge(req, res, (error) => {
      if (error !== undefined) failed(error);
      else events.handle(req, res, eventsRequest).catch(failed);
    });
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (socket.writable && !socket.writableEnded) socket.end(clientErrorResponse(error.code));
    else socket.destroy();
  });
  // In-flight requests, so a drain can close every socket as soon as the last one is answered
  // (closeIdleConnections alone leaves sockets that never sent a request, e.g. pre-connects).
  let inflight = 0;
  server.on('request', (_req, res) => {
    inflight += 1;
    res.once('close', () => {
      inflight -= 1;
      if (draining && inflight === 0) server.closeAllConnections();
    });
  });
  // Both bound how long a client may take to *send* its request (slow-loris), not how long a
  // response may last: an SSE stream's request is complete before its first event.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.listen(config.PORT, config.HOST);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  logger.info({ port }, 'api listening');

  return {
    server,
    url: `http://127.0.0.1:${port}`,
    registry: metrics.registry,
    async close() {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      registry.drain(config.SSE_RETRY_MS);
      registry.stop();
      const grace = setTimeout(() => server.closeAllConnections(), config.SHUTDOWN_GRACE_MS);
      if (inflight === 0) server.closeAllConnections();
      await closed;
      clearTimeout(grace);
      await slots.stop(); // every stream has ended; gives this replica's per-IP counts back
      await queue.close();
      redis.disconnect();
      subscriber.disconnect();
      logger.info('api stopped');
    },
  };
}

/** Keys, tokens and trusted proxies, checked at start-up: a bad one stops the replica here. */
function createAccess(config: Config, logger: Logger): Access {
  const keys = ApiKeys.fromConfig(config);
  const tokens = config.WATCH_TOKEN_SECRET === undefined ? null : new WatchTokens(config.WATCH_TOKEN_SECRET, config.WATCH_TOKEN_TTL_SECONDS);
  let ipOf;
  try {
    ipOf = clientIpResolver(config.TRUSTED_PROXIES);
  } catch (error) {
    throw new ConfigError(`TRUSTED_PROXIES: ${(error as Error).message}`);
  }
  if (!keys.enabled) {
    logger.warn('API_KEYS is not set: anyone who can reach this replica may submit, cancel and watch jobs (docs/security.md)');
  }
  return new Access(keys, tokens, ipOf);
}
