import type { IncomingMessage, ServerResponse } from 'node:http';
import { STREAM_START, compareStreamIds, formatStreamId, isTerminal, parseStreamId } from '@herald/contract';
import type { JobRecord, Logger } from '@herald/shared';
import type { Access } from '../auth/access.ts';
import { redisCall } from '../http/deadline.ts';
import { badRequest, serviceUnavailable } from '../http/errors.ts';
import { REQUEST_ID_HEADER, requestIdFor, requestLogger } from '../http/request-context.ts';
import type { StreamSlots } from '../limits/stream-slots.ts';
import { readCursor } from './cursor.ts';
import type { EventsRequest } from './events-route.ts';
import type { FanoutEvent } from './fanout-event.ts';
import { SSE_HEADERS, retryFrame } from './frames.ts';
import type { FanoutHub } from './hub.ts';
import { SseWatcher, type WatcherEnd } from './watcher.ts';
import type { WatcherRegistry } from './watcher-registry.ts';

/** What the replica's metrics hear from the stream route; the stream knows nothing of Prometheus. */
export interface StreamObserver {
  ended(how: WatcherEnd): void;
  /** A stream refused because the replica holds MAX_SSE_CLIENTS. */
  refusedFull(): void;
}

export interface EventStreamSettings {
  readonly retryMs: number;
  readonly maxClients: number;
  readonly maxBacklogBytes: number;
}

export interface EventStreamDeps {
  readonly settings: EventStreamSettings;
  /** The job as Herald keeps it, or the 404 (jobs/job-service.ts). */
  readonly jobs: { record(jobId: string): Promise<JobRecord> };
  readonly hub: FanoutHub;
  readonly registry: WatcherRegistry;
  readonly observer: StreamObserver;
  readonly isDraining: () => boolean;
  readonly access: Access;
  /** Streams per client IP, shared by all replicas. */
  readonly slots: StreamSlots;
  /** The replica's; lines about a stream go through the request's child (requestLogger). */
  readonly logger: Logger;
}

/** Live events a watcher may have waiting while its history is still being sent. */
const MAX_HELD_EVENTS = 1000;

/**
 * GET /v1/jobs/{id}/events. The order is what makes history + live exact: subscribe first,
 * then read the history after the cursor, then let live events through — the watcher drops any
 * whose id is not after the last one it sent, so the overlap is neither lost nor repeated.
 */
export class EventStream {
  readonly #deps: EventStreamDeps;

  constructor(deps: EventStreamDeps) {
    this.#deps = deps;
  }

  async handle(req: IncomingMessage, res: ServerResponse, { jobId, query }: EventsRequest): Promise<void> {
    const { settings, jobs, hub, registry, observer, access, slots } = this.#deps;
    const cursor = readCursor(req, query);
    if (this.#deps.isDraining()) {
      throw serviceUnavailable('draining', 'This replica is shutting down; reconnect', 1);
    }
    // Before the job is looked up: without a credential, nobody learns whether a job exists.
    const caller = access.requireWatcher(req, jobId, readToken(query));
    if (registry.size >= settings.maxClients) {
      observer.refusedFull();
      throw serviceUnavailable('replica_full', 'This replica has all the watchers it can take', 2);
    }
    const { snapshot, ...owned } = await jobs.record(jobId);
    // Another key's job is as unknown as a job that does not exist.
    access.requireReach(caller, owned);
    const last = parseStreamId(snapshot.lastEventId);
    if (cursor && last && isTerminal(snapshot.status) && compareStreamIds(cursor, last) >= 0) {
      // Nothing more will ever come: 204 tells an EventSource not to reconnect.
      res.writeHead(204, { [REQUEST_ID_HEADER]: requestIdFor(req) }).end();
      return;
    }

    // Throws the 429 when the client's IP holds all the streams it may, on any replica.
    const slot = await slots.acquire(caller.ip);
    if (res.destroyed) {
      // The client left while we counted: nothing below would notice (its 'close' has passed).
      slot.release();
      return;
    }

    // Lines about the stream carry the request's id and the job's; no logger is made per stream
    // unless one is written (a replica holds thousands of streams).
    const log = (): Logger => requestLogger(req, this.#deps.logger);
    const debugging = this.#deps.logger.isLevelEnabled('debug');
    const onEnd = (ended: SseWatcher, how: WatcherEnd): void => {
      slot.release();
      hub.leave(jobId, ended);
      registry.delete(ended);
      observer.ended(how);
      if (how === 'cut-off') log().warn({ jobId, how }, 'watcher cut off: too slow to read its events (it resumes from its cursor)');
      else if (debugging) log().debug({ jobId, how }, 'watcher ended');
    };
    const watcher = new SseWatcher(
      res,
      cursor ?? STREAM_START,
      { maxBacklogBytes: settings.maxBacklogBytes, maxPendingEvents: MAX_HELD_EVENTS },
      onEnd,
    );
    let history: FanoutEvent[];
    try {
      await redisCall(hub.join(jobId, watcher));
      history = await redisCall(hub.history(jobId, cursor && formatStreamId(cursor)));
    } catch (error) {
      hub.leave(jobId, watcher);
      slot.release();
      throw error;
    }
    if (watcher.ended) return; // the client left while we read

    registry.add(watcher);
    if (debugging) log().debug({ jobId, cursor: cursor && formatStreamId(cursor), history: history.length }, 'watcher connected');
    res.socket?.setNoDelay(true);
    // Close-delimited rather than chunked: each event is one plain write of the shared buffer,
    // and the socket is freed as soon as the stream ends.
    res.useChunkedEncodingByDefault = false;
    res.shouldKeepAlive = false;
    res.writeHead(200, { ...SSE_HEADERS, [REQUEST_ID_HEADER]: requestIdFor(req) });
    res.write(retryFrame(settings.retryMs));
    await watcher.start(history);
  }
}

/** `?token=`: what an EventSource, which cannot send headers, authenticates with. */
function readToken(query: URLSearchParams): string | null {
  const tokens = query.getAll('token');
  if (tokens.length > 1 || (tokens[0]?.length ?? 0) > 512) throw badRequest('token must be a single watch token');
  return tokens[0] ?? null;
}
