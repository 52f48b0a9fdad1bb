import type { IncomingMessage, ServerResponse } from 'node:http';
import { STREAM_START, batchOf, compareStreamIds, formatStreamId, isTerminal, parseStreamId, type StreamId } from '@herald/contract';
import { topics, type BatchHead, type BatchRecord, type JobHead, type JobRecord, type Logger } from '@herald/shared';
import type { Access, Caller, Owned } from '../auth/access.ts';
import { redisCall } from '../http/deadline.ts';
import { badRequest, serviceUnavailable } from '../http/errors.ts';
import { REQUEST_ID_HEADER, requestIdFor, requestLogger } from '../http/request-context.ts';
import type { StreamSlots } from '../limits/stream-slots.ts';
import { readCursor, readCursors } from './cursor.ts';
import type { EventsRequest } from './events-route.ts';
import { FanoutEvent } from './fanout-event.ts';
import { SSE_HEADERS, retryFrame } from './frames.ts';
import { HistoryPages } from './history-pages.ts';
import type { FanoutHub } from './hub.ts';
import { MultiWatcher } from './multi-watcher.ts';
import { SseWatcher, type WatcherEnd } from './watcher.ts';
import type { EndPacer } from './end-pacer.ts';
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
  /** MAX_JOBS_PER_STREAM: the most jobs one GET /v1/events may follow. */
  readonly maxJobsPerStream: number;
}

export interface EventStreamDeps {
  readonly settings: EventStreamSettings;
  /** The job's head (a stream begins with it) or its whole record, or the 404 (jobs/job-service.ts). */
  readonly jobs: { head(jobId: string): Promise<JobHead>; record(jobId: string): Promise<JobRecord> };
  /** The batch's head (a stream begins with it, whatever the batch's size) or its whole record, or the 404 (jobs/batch-service.ts). */
  readonly batches: { head(batchId: string): Promise<BatchHead>; record(batchId: string): Promise<BatchRecord> };
  /** Whether a topic's history lost events after this id (STREAM_MAXLEN): then the stream resyncs. */
  readonly trimmedAfter: (topic: string, afterId: string) => Promise<boolean>;
  readonly hub: FanoutHub;
  readonly registry: WatcherRegistry;
  /** Paces the ends of finished jobs' streams (STREAM_END_RATE). */
  readonly endPacer: Pick<EndPacer, 'end'>;
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

/** One topic a stream follows, as it stood when the stream began. */
export interface TopicState {
  /** The hub's topic: a job's id, or `batch:<batchId>`. */
  readonly topic: string;
  readonly owned: Owned;
  readonly last: StreamId | null;
  readonly ended: boolean;
  /**
   * The topic's current state as one event (`resync: true`), for a cursor its history cannot
   * serve, with the id of the last event that state includes.
   */
  readonly resyncData: () => Promise<{ readonly data: string; readonly lastEventId: string; readonly ended: boolean }>;
}

/**
 * The three event streams (docs/api.md, "Events"): a job's, a batch's (every event of its jobs
 * and its own), and several jobs' on one connection. The order is what makes history + live
 * exact: subscribe first, then read the history after the cursor, then let live events through —
 * the watcher drops any whose id is not after the last one it sent, so the overlap is neither
 * lost nor repeated. A cursor the history can no longer serve (trimmed, or ahead of the topic's
 * last event: a failover lost it) gets the topic's current state first, marked `resync: true`.
 */
export class EventStream {
  readonly #deps: EventStreamDeps;
  /** One closure for every watcher (not one each): ends a finished stream through the pacer. */
  readonly #endFinished: (end: () => void) => void;

  constructor(deps: EventStreamDeps) {
    this.#deps = deps;
    this.#endFinished = (end) => deps.endPacer.end(end);
  }

  async handle(req: IncomingMessage, res: ServerResponse, request: EventsRequest): Promise<void> {
    // The order of checks is docs/api.md's: the request itself (400), draining, the credential, …
    const typed = readTyped(request.query);
    if (request.kind === 'jobs') return this.#many(req, res, request.query, typed);
    const cursor = readCursor(req, request.query);
    this.#checkDraining();
    // Before the job is looked up: without a credential, nobody learns whether a job exists.
    const caller = this.#deps.access.requireWatcher(req, request.id, readToken(request.query));
    this.#checkCapacity();
    const state = request.kind === 'job' ? await this.#jobState(request.id) : await this.#batchState(request.id);
    // Another key's job is as unknown as a job that does not exist.
    this.#deps.access.requireReach(caller, state.owned, request.kind);
    if (cursor && endedAt(state, cursor)) {
      // Nothing more will ever come: 204 tells an EventSource not to reconnect.
      res.writeHead(204, { [REQUEST_ID_HEADER]: requestIdFor(req) }).end();
      return;
    }
    await this.#single(req, res, caller, state, cursor, typed, request.kind === 'job' ? { jobId: request.id } : { batchId: request.id });
  }

  /** `about`: what its log lines name (`jobId` or `batchId`). */
  async #single(
    req: IncomingMessage,
    res: ServerResponse,
    caller: Caller,
    state: TopicState,
    cursor: StreamId | null,
    typed: boolean,
    about: Record<string, string>,
  ): Promise<void> {
    const { settings, hub, registry, observer } = this.#deps;
    const { topic } = state;
    const slot = await this.#slot(caller, res);
    if (!slot) return;
    const log = (): Logger => requestLogger(req, this.#deps.logger);
    const debugging = this.#deps.logger.isLevelEnabled('debug');
    const onEnd = (ended: SseWatcher, how: WatcherEnd): void => {
      slot.release();
      hub.leave(topic, ended);
      registry.delete(ended);
      observer.ended(how);
      this.#logEnd(log, how, about);
    };
    let resync: { readonly event: FanoutEvent; readonly ended: boolean } | null = null;
    let history: HistoryPages;
    let watcher: SseWatcher | null = null;
    try {
      resync = cursor ? await this.#resyncFor(state, cursor) : null;
      // After a resync the stream goes on from the state it sent.
      const from = resync ? resync.event.position : (cursor ?? STREAM_START);
      watcher = new SseWatcher(
        res,
        from,
        { maxBacklogBytes: settings.maxBacklogBytes, maxPendingEvents: MAX_HELD_EVENTS, typed, endFinished: this.#endFinished },
        onEnd,
      );
      await redisCall(hub.join(topic, watcher));
      history = this.#pages(topic, from);
      await history.prefetch();
    } catch (error) {
      if (watcher) hub.leave(topic, watcher);
      slot.release();
      throw error;
    }
    if (watcher.ended) return; // the client left while we read

    registry.add(watcher);
    if (debugging) log().debug({ ...about, cursor: cursor && formatStreamId(cursor), resync: resync !== null }, 'watcher connected');
    this.#open(req, res);
    if (resync) {
      res.write(typed ? resync.event.typedFrame : resync.event.frame);
      // The topic had already ended: its state was its last word.
      if (resync.ended) return watcher.end('completed');
    }
    await watcher.start(history);
  }

  /** GET /v1/events?jobs=a,b,c: several jobs on one connection, resumed by one composite cursor. */
  async #many(req: IncomingMessage, res: ServerResponse, query: URLSearchParams, typed: boolean): Promise<void> {
    const { settings, access, hub, registry, observer } = this.#deps;
    const jobIds = readJobList(query, settings.maxJobsPerStream);
    const cursors = readCursors(req, query, jobIds.length);
    this.#checkDraining();
    const caller = access.requireWatcherOfAll(req, jobIds, query.getAll('token'));
    this.#checkCapacity();
    const states = await Promise.all(jobIds.map((jobId) => this.#jobState(jobId)));
    for (const state of states) access.requireReach(caller, state.owned);
    const done = states.map((state, i) => cursors !== null && endedAt(state, cursors[i]!));
    if (done.every(Boolean)) {
      res.writeHead(204, { [REQUEST_ID_HEADER]: requestIdFor(req) }).end();
      return;
    }
    const slot = await this.#slot(caller, res);
    if (!slot) return;
    const log = (): Logger => requestLogger(req, this.#deps.logger);
    const leaveAll = (): void => {
      for (const [i, sink] of watcher.sinks.entries()) hub.leave(jobIds[i]!, sink);
    };
    const watcher: MultiWatcher = new MultiWatcher(
      res,
      jobIds,
      { maxBacklogBytes: settings.maxBacklogBytes, maxPendingEvents: MAX_HELD_EVENTS, typed },
      (how) => {
        slot.release();
        leaveAll();
        registry.delete(watcher);
        observer.ended(how);
        this.#logEnd(log, how, { jobs: jobIds.length });
      },
    );
    let opening: FanoutEvent[];
    let histories: (HistoryPages | null)[];
    try {
      const resyncs = await Promise.all(states.map((state, i) => (cursors && !done[i] ? this.#resyncFor(state, cursors[i]!) : null)));
      opening = resyncs.flatMap((resync) => (resync === null ? [] : [resync.event]));
      for (const [i, resync] of resyncs.entries()) {
        const from = resync?.event.position ?? cursors?.[i] ?? STREAM_START;
        watcher.begin(i, from, done[i]! || resync?.ended === true);
      }
      const open = jobIds.map((_, i) => i).filter((i) => !watcher.hasEnded(i));
      await redisCall(Promise.all(open.map((i) => hub.join(jobIds[i]!, watcher.sinks[i]!))));
      histories = jobIds.map((jobId, i) => (watcher.hasEnded(i) ? null : this.#pages(jobId, watcher.sinks[i]!.position)));
      // The first job's first page before the stream opens (a failing Redis is a 503); the rest as the client reads.
      await histories.find((pages) => pages !== null)?.prefetch();
    } catch (error) {
      leaveAll();
      slot.release();
      throw error;
    }
    if (watcher.ended) return;
    registry.add(watcher);
    this.#open(req, res);
    await watcher.start(opening, histories);
  }

  /** The topic's history after `from`, read a page at a time as the client takes it (each read under the Redis deadline). */
  #pages(topic: string, from: StreamId): HistoryPages {
    const afterId = compareStreamIds(from, STREAM_START) === 0 ? null : formatStreamId(from);
    return new HistoryPages(
      (after) => redisCall(this.#deps.hub.history(topic, after)),
      afterId,
      (after) => redisCall(this.#deps.trimmedAfter(topic, after)),
    );
  }

  async #jobState(jobId: string): Promise<TopicState> {
    const { owner, status, lastEventId } = await this.#deps.jobs.head(jobId);
    const batchId = batchOf(jobId);
    return {
      topic: jobId,
      owned: { owner },
      last: parseStreamId(lastEventId),
      ended: isTerminal(status),
      // Only a resync needs the job's state (its text so far included): read then, not for each watcher that connects.
      resyncData: async () => {
        const { jobId: _id, webhook: _webhook, ...state } = (await this.#deps.jobs.record(jobId)).snapshot;
        const data = JSON.stringify({ jobId, ...(batchId === null ? {} : { batchId }), ...state, resync: true, ts: Date.now() });
        return { data, lastEventId: state.lastEventId, ended: isTerminal(state.status) };
      },
    };
  }

  async #batchState(batchId: string): Promise<TopicState> {
    const { owner, status, lastEventId } = await this.#deps.batches.head(batchId);
    return {
      topic: topics.batch(batchId),
      owned: { owner },
      last: parseStreamId(lastEventId),
      ended: isTerminal(status),
      // Only a resync needs every job's state: read then, not for each watcher that connects.
      resyncData: async () => {
        const { webhook: _webhook, ...state } = (await this.#deps.batches.record(batchId)).snapshot;
        return {
          data: JSON.stringify({ ...state, resync: true, ts: Date.now() }),
          lastEventId: state.lastEventId,
          ended: isTerminal(state.status),
        };
      },
    };
  }

  /**
   * The resync event when the cursor is past the topic's last event (ids went back: a failover
   * lost events) or the history after it was trimmed away; null when the history serves it.
   */
  async #resyncFor(state: TopicState, cursor: StreamId): Promise<{ readonly event: FanoutEvent; readonly ended: boolean } | null> {
    if (!state.last) return null;
    const ahead = compareStreamIds(cursor, state.last) > 0;
    if (
      !ahead &&
      (compareStreamIds(cursor, state.last) === 0 || !(await redisCall(this.#deps.trimmedAfter(state.topic, formatStreamId(cursor)))))
    ) {
      return null;
    }
    const { data, lastEventId, ended } = await redisCall(state.resyncData());
    const position = parseStreamId(lastEventId) ?? state.last;
    return { event: new FanoutEvent(formatStreamId(position), position, 'resync', data), ended };
  }

  #checkDraining(): void {
    if (this.#deps.isDraining()) throw serviceUnavailable('draining', 'This replica is shutting down; reconnect', 1);
  }

  #checkCapacity(): void {
    if (this.#deps.registry.size >= this.#deps.settings.maxClients) {
      this.#deps.observer.refusedFull();
      throw serviceUnavailable('replica_full', 'This replica has all the watchers it can take', 2);
    }
  }

  /** The client IP's stream slot (the 429 when it holds all it may, on any replica); null when the client left meanwhile. */
  async #slot(caller: Caller, res: ServerResponse): Promise<{ release(): void } | null> {
    const slot = await this.#deps.slots.acquire(caller.ip);
    if (res.destroyed) {
      // The client left while we counted: nothing below would notice (its 'close' has passed).
      slot.release();
      return null;
    }
    return slot;
  }

  #open(req: IncomingMessage, res: ServerResponse): void {
    res.socket?.setNoDelay(true);
    // Close-delimited rather than chunked: each event is one plain write of the shared buffer,
    // and the socket is freed as soon as the stream ends.
    res.useChunkedEncodingByDefault = false;
    res.shouldKeepAlive = false;
    res.writeHead(200, { ...SSE_HEADERS, [REQUEST_ID_HEADER]: requestIdFor(req) });
    res.write(retryFrame(this.#deps.settings.retryMs));
  }

  /** Lines about a stream carry the request's id; no logger is made per stream unless one is written. */
  #logEnd(log: () => Logger, how: WatcherEnd, what: Record<string, unknown>): void {
    if (how === 'cut-off') log().warn({ ...what, how }, 'watcher cut off: too slow to read its events (it resumes from its cursor)');
    else if (this.#deps.logger.isLevelEnabled('debug')) log().debug({ ...what, how }, 'watcher ended');
  }
}

/** Whether nothing more will come after `cursor`: the topic has ended and the cursor is at or past its end. */
function endedAt(state: TopicState, cursor: StreamId): boolean {
  return state.ended && state.last !== null && compareStreamIds(cursor, state.last) >= 0;
}

/** `?token=`: what an EventSource, which cannot send headers, authenticates with. */
function readToken(query: URLSearchParams): string | null {
  const tokens = query.getAll('token');
  if (tokens.length > 1 || (tokens[0]?.length ?? 0) > 512) throw badRequest('token must be a single watch token');
  return tokens[0] ?? null;
}

/** `?typed=1`: named events (docs/api.md, "Typed events"). */
function readTyped(query: URLSearchParams): boolean {
  const values = query.getAll('typed');
  if (values.length === 0) return false;
  if (values.length > 1 || !['1', 'true', '0', 'false'].includes(values[0]!)) throw badRequest('typed must be 1 or 0');
  return values[0] === '1' || values[0] === 'true';
}

/** `?jobs=a,b,c`: 1 to MAX_JOBS_PER_STREAM job ids, each once. */
function readJobList(query: URLSearchParams, max: number): string[] {
  const raw = query.getAll('jobs').join(',');
  const jobIds = raw === '' ? [] : raw.split(',');
  if (jobIds.length === 0) throw badRequest('jobs must list the job ids to follow, comma-separated: /v1/events?jobs=a,b,c');
  if (jobIds.length > max) throw badRequest(`jobs may list at most ${max} jobs (MAX_JOBS_PER_STREAM)`);
  if (new Set(jobIds).size !== jobIds.length) throw badRequest('jobs must list each job once');
  return jobIds;
}
