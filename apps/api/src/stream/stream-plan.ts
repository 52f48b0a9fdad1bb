import { STREAM_START, batchOf, compareStreamIds, formatStreamId, isTerminal, parseStreamId, type StreamId } from '@herald/contract';
import { type BatchHead, type BatchRecord, type JobHead, type JobRecord, readTagEntryStatus, type TagOpening } from '@herald/shared';
import type { Owned } from '../auth/access.ts';
import { redisCall } from '../http/deadline.ts';
import { formatTagCursor } from './cursor.ts';
import { FanoutEvent } from './fanout-event.ts';
import { HistoryPages } from './history-pages.ts';
import type { FanoutHub, HistoryPage } from './hub.ts';
import type { StreamAsk } from './stream-request.ts';
import type { TagGate } from './tag-gate.ts';

/** What the plan reads: the topics' heads and records, their trims, their history (all from EventStreamDeps). */
export interface StreamPlanDeps {
  /** The job's head (a stream begins with it) or its whole record, or the 404 (jobs/job-service.ts). */
  readonly jobs: { head(jobId: string): Promise<JobHead>; record(jobId: string): Promise<JobRecord> };
  /** The batch's head (a stream begins with it, whatever the batch's size) or its whole record, or the 404 (jobs/batch-service.ts). */
  readonly batches: { head(batchId: string): Promise<BatchHead>; record(batchId: string): Promise<BatchRecord> };
  /** Whether a topic's history lost events after this id (STREAM_MAXLEN): then the stream resyncs. */
  readonly trimmedAfter: (topic: string, afterId: string) => Promise<boolean>;
  readonly hub: Pick<FanoutHub, 'history'>;
  /** A tag's feed, as a tag's stream reads it (docs/api.md, "A tag's stream"). */
  readonly tagFeed: {
    /**
     * Where a stream opened without a cursor begins: the feed's last entry, and the oldest open
     * job's first ms: `only`'s oldest for a stream that sees one key's jobs (null: anyone's).
     */
    open(tag: string, only: string | null): Promise<TagOpening>;
    /** One page after `afterId`, less the jobs ended by `openPoint` and those not `only`'s (tag-page-2.lua); `next` as HistoryPage's. */
    page(tag: string, afterId: string | null, openPoint: string | null, only: string | null): Promise<HistoryPage>;
    /** Settles a job the feed holds open that has ended or is gone (TagRelay.settle; `only`: its owner if unknown); whether anything changed. */
    settle(tag: string, jobId: string, only: string | null): Promise<boolean>;
    /** The feed's first entry's id (null: it holds none). */
    firstId(tag: string): Promise<string | null>;
  };
}

/** Where a tag's stream starts: a TopicStart, and the open point it replays up to (null: none to heed). */
export interface TagStart extends TopicStart {
  readonly openPoint: StreamId | null;
}

/** Jobs a fresh tag stream settles at most before it opens (StreamPlan.#tagOpening). */
const MAX_SETTLED_PER_OPEN = 4;

/** The greatest id of the ms before `ms`: a feed read after it starts at `ms`'s first entry (seq: the most a cursor may carry). */
const justBefore = (ms: number): StreamId => ({ ms: ms - 1, seq: 999_999_999_999_999 });

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

/** A tag's stream has no head to read: no 404 (a tag no job carries yet is an empty feed), no owner (each job has its own), no end. */
function tagState(topic: string): TopicState {
  return {
    topic,
    owned: { owner: null },
    last: null,
    ended: false,
    resyncData: () => Promise.reject(new Error('a tag’s stream has no state to resync to')),
  };
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
    if (ask.kind === 'tag') return Promise.resolve([tagState(ask.topics[0]!)]);
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

  /**
   * Where a tag's stream starts (docs/api.md, "A tag's stream"). Resumed: after its cursor, with
   * the open point it carries. Opened afresh: just before the oldest job not ended began, up to
   * the feed's last entry now (its open point; with no job open, simply after that entry). Either
   * way, when the feed no longer holds where it starts (TAG_FEED_MAXLEN, TAG_FEED_MAX_BYTES; for
   * a cursor, also a feed that expired or was made anew), a `resync` notice comes first: the
   * client may have missed events.
   */
  async tagStart(topic: string, tag: string, cursor: StreamId | null, openPoint: StreamId | null, only: string | null): Promise<TagStart> {
    let from = cursor;
    let replayTo = openPoint;
    if (from === null) {
      const opening = await this.#tagOpening(tag, only);
      const last = opening.openPoint === null ? null : parseStreamId(opening.openPoint);
      if (last === null) return { from: STREAM_START, done: false, resync: null, openPoint: null };
      [from, replayTo] = opening.oldestOpenMs === null ? [last, null] : [justBefore(opening.oldestOpenMs), last];
    }
    const trimmed = compareStreamIds(from, STREAM_START) > 0 && (await this.#tagTrimmedAfter(topic, tag, from, cursor !== null));
    const resync = trimmed
      ? new FanoutEvent(formatTagCursor(from, replayTo), from, 'resync', JSON.stringify({ tag, resync: true, ts: Date.now() }))
      : null;
    return { from, done: false, resync, openPoint: replayTo };
  }

  /**
   * Whether the feed lost entries after `from`. For a client's cursor — always an entry the feed
   * held — also when the feed holds none now, or begins after it: an expired feed, or one made
   * anew since, whose counters (what trimmedAfter reads) know nothing of what went before.
   */
  async #tagTrimmedAfter(topic: string, tag: string, from: StreamId, isCursor: boolean): Promise<boolean> {
    if (isCursor) {
      const first = await redisCall(this.#deps.tagFeed.firstId(tag));
      const firstId = first === null ? null : parseStreamId(first);
      if (firstId === null || compareStreamIds(firstId, from) > 0) return true;
    }
    return redisCall(this.#deps.trimmedAfter(topic, formatStreamId(from)));
  }

  /**
   * The feed's opening, its oldest open job first settled: one whose end was never relayed, or
   * that is gone, would hold every fresh stream to its first event. A few rounds at most: each
   * settles the oldest, the rest wait their turn (a later stream's). A stream that sees one key's
   * jobs (`only`) starts from that key's oldest: another key's cannot hold it back.
   */
  async #tagOpening(tag: string, only: string | null): Promise<TagOpening> {
    let opening = await redisCall(this.#deps.tagFeed.open(tag, only));
    for (let round = 0; round < MAX_SETTLED_PER_OPEN && opening.oldestOpenJob !== null; round += 1) {
      if (!(await redisCall(this.#deps.tagFeed.settle(tag, opening.oldestOpenJob, only)))) break;
      opening = await redisCall(this.#deps.tagFeed.open(tag, only));
    }
    return opening;
  }

  /** A tag's feed after `from`, as its gate's watcher may see it: the jobs of its open point, and only those it may see. */
  tagPages(gate: TagGate, tag: string, from: StreamId): HistoryPages {
    const openPoint = gate.openPoint === null ? null : formatStreamId(gate.openPoint);
    return new HistoryPages(
      async (after) => {
        // The script drops other keys' jobs already; the gate's check stays, as for a live event.
        const page = await redisCall(this.#deps.tagFeed.page(tag, after, openPoint, gate.only));
        return { events: page.events.filter((event) => gate.seesOwner(readTagEntryStatus(event.status)?.owner)), next: page.next };
      },
      compareStreamIds(from, STREAM_START) === 0 ? null : formatStreamId(from),
      (after) => redisCall(this.#deps.trimmedAfter(gate.topic, after)),
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
