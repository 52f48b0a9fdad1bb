import { STREAM_START, batchOf, compareStreamIds, formatStreamId, isTerminal, parseStreamId, type StreamId } from '@herald/contract';
import type { BatchHead, BatchRecord, JobHead, JobRecord } from '@herald/shared';
import type { Owned } from '../auth/access.ts';
import { redisCall } from '../http/deadline.ts';
import { FanoutEvent } from './fanout-event.ts';
import { HistoryPages } from './history-pages.ts';
import type { FanoutHub } from './hub.ts';
import type { StreamAsk } from './stream-request.ts';

/** What the plan reads: the topics' heads and records, their trims, their history (all from EventStreamDeps). */
export interface StreamPlanDeps {
  /** The job's head (a stream begins with it) or its whole record, or the 404 (jobs/job-service.ts). */
  readonly jobs: { head(jobId: string): Promise<JobHead>; record(jobId: string): Promise<JobRecord> };
  /** The batch's head (a stream begins with it, whatever the batch's size) or its whole record, or the 404 (jobs/batch-service.ts). */
  readonly batches: { head(batchId: string): Promise<BatchHead>; record(batchId: string): Promise<BatchRecord> };
  /** Whether a topic's history lost events after this id (STREAM_MAXLEN): then the stream resyncs. */
  readonly trimmedAfter: (topic: string, afterId: string) => Promise<boolean>;
  readonly hub: Pick<FanoutHub, 'history'>;
}

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

/** Where a topic starts for the client: after its cursor, or after the resync event sent first. */
export interface TopicStart {
  readonly from: StreamId;
  /** Nothing more will come of the topic for this client. */
  readonly done: boolean;
  readonly resync: FanoutEvent | null;
}

/** Whether nothing more will come after `cursor`: the topic has ended and the cursor is at or past its end. */
export function endedAt(state: TopicState, cursor: StreamId): boolean {
  return state.ended && state.last !== null && compareStreamIds(cursor, state.last) >= 0;
}

/** Whether no topic has anything more for the client's cursors: the 204 that tells an EventSource not to reconnect. */
export function nothingMore(states: readonly TopicState[], cursors: readonly StreamId[] | null): boolean {
  return cursors !== null && states.every((state, i) => endedAt(state, cursors[i]!));
}

/**
 * Where each topic of a stream starts, from the client's cursors: its history after the cursor,
 * or — for a cursor the history can no longer serve (trimmed, or ahead of the topic's last event:
 * a failover lost it) — the topic's current state first, marked `resync: true`.
 */
export class StreamPlan {
  readonly #deps: StreamPlanDeps;

  constructor(deps: StreamPlanDeps) {
    this.#deps = deps;
  }

  /** Each topic's head (the 404s), looked up together. */
  states(ask: StreamAsk): Promise<TopicState[]> {
    if (ask.kind === 'batch') return Promise.all([this.#batchState(ask.ids[0]!, ask.topics[0]!)]);
    return Promise.all(ask.ids.map((jobId) => this.#jobState(jobId)));
  }

  starts(states: readonly TopicState[], cursors: readonly StreamId[] | null): Promise<TopicStart[]> {
    return Promise.all(
      states.map(async (state, i): Promise<TopicStart> => {
        const cursor = cursors?.[i] ?? null;
        if (cursor === null) return { from: STREAM_START, done: false, resync: null };
        if (endedAt(state, cursor)) return { from: cursor, done: true, resync: null };
        const resync = await this.#resyncFor(state, cursor);
        // After a resync the topic goes on from the state it sent; a topic that had ended said its last word.
        return resync
          ? { from: resync.event.position, done: resync.ended, resync: resync.event }
          : { from: cursor, done: false, resync: null };
      }),
    );
  }

  /** The topic's history after `from`, read a page at a time as the client takes it (each read under the Redis deadline). */
  pages(topic: string, from: StreamId): HistoryPages {
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

  async #batchState(batchId: string, topic: string): Promise<TopicState> {
    const { owner, status, lastEventId } = await this.#deps.batches.head(batchId);
    return {
      topic,
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
}
