import { formatStreamId } from '@herald/contract';
import type { Logger } from '@herald/shared';
import type { Access, Caller } from '../auth/access.ts';
import { redisCall } from '../http/deadline.ts';
import { serviceUnavailable } from '../http/errors.ts';
import { requestIdFor, requestLogger } from '../http/request-context.ts';
import type { StreamSlots } from '../limits/stream-slots.ts';
import type { OpeningConnection, StreamRequest } from './connection.ts';
import type { EndPacer } from './end-pacer.ts';
import type { EventsRequest } from './events-route.ts';
import type { FanoutEvent } from './fanout-event.ts';
import { retryFrame } from './frames.ts';
import type { HistoryPages } from './history-pages.ts';
import type { FanoutHub } from './hub.ts';
import { StreamPlan, nothingMore, type StreamPlanDeps, type TopicStart, type TopicState } from './stream-plan.ts';
import { readStreamRequest, type StreamAsk } from './stream-request.ts';
import { TagGate } from './tag-gate.ts';
import type { TopicGate } from './topic-gate.ts';
import { Watcher } from './watcher.ts';
import type { WatcherEnd, WatcherLimits } from './watcher-limits.ts';
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

export interface EventStreamDeps extends StreamPlanDeps {
  readonly settings: EventStreamSettings;
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

/**
 * The four event streams (docs/api.md, "Events"): a job's, a batch's (every event of its jobs
 * and its own), several jobs' on one connection, and a tag's (its feed, as one topic whose gate
 * filters: tag-gate.ts) — one path for all four, a watcher with 1 to n topics. The order is what makes history + live exact: subscribe first, then read the
 * history after the cursor, then let live events through — each topic's gate drops any whose id
 * is not after the last one sent, so the overlap is neither lost nor repeated.
 */
export class EventStream {
  readonly #deps: EventStreamDeps;
  readonly #plan: StreamPlan;
  /** The watchers' limits, one object per kind of stream ([typed][job, jobs, tag]) rather than one per watcher. */
  readonly #limits: readonly (readonly WatcherLimits[])[];

  constructor(deps: EventStreamDeps) {
    this.#deps = deps;
    this.#plan = new StreamPlan(deps);
    // One closure for every watcher (not one each): ends a finished stream through the pacer.
    const endFinished = (end: () => void): void => deps.endPacer.end(end);
    const base = { maxBacklogBytes: deps.settings.maxBacklogBytes, maxPendingEvents: MAX_HELD_EVENTS, endFinished };
    this.#limits = [false, true].map((typed) => [
      { ...base, typed },
      { ...base, typed, composite: true },
      { ...base, typed, tag: true },
    ]);
  }

  async handle(req: StreamRequest, connection: OpeningConnection, request: EventsRequest): Promise<void> {
    const { access, hub, registry, settings } = this.#deps;
    // The order of checks is docs/api.md's: the request itself (400), draining, the credential, …
    const ask = readStreamRequest(req, request, settings.maxJobsPerStream);
    this.#checkDraining();
    // Before the job is looked up: without a credential, nobody learns whether a job exists.
    // A tag's stream: whose jobs of the tag the caller sees (null: every one's).
    let only: string | null = null;
    let caller: Caller;
    if (ask.kind === 'tag') ({ caller, only } = await access.requireTagWatcher(req, ask.ids[0]!, ask.tokens[0] ?? null));
    else if (ask.kind === 'jobs') caller = await access.requireWatcherOfAll(req, ask.ids, ask.tokens);
    else caller = await access.requireWatcher(req, ask.ids[0]!, ask.tokens[0] ?? null, ask.kind);
    this.#checkCapacity();
    const states = await this.#plan.states(ask);
    // Another key's job is as unknown as a job that does not exist.
    for (const state of states) access.requireReach(caller, state.owned, ask.kind === 'batch' ? 'batch' : 'job');
    if (nothingMore(states, ask.cursors)) return connection.noContent(requestIdFor(req));
    const slot = await this.#slot(caller, connection);
    if (!slot) return;
    const limits = this.#limits[Number(ask.typed)]![ask.kind === 'jobs' ? 1 : ask.kind === 'tag' ? 2 : 0]!;
    const watcher = new Watcher(connection, ask.topics, limits, this.#onEnd(req, slot, ask.about), only);
    const gates = watcher.gates;
    const leaveAll = (): void => {
      for (const gate of gates) hub.leave(gate.topic, gate);
    };
    const opening: FanoutEvent[] = [];
    let histories: (HistoryPages | null)[];
    try {
      const starts = await this.#starts(ask, states, gates);
      for (const [i, start] of starts.entries()) {
        watcher.begin(gates[i]!, start.from, start.done);
        if (start.resync) opening.push(start.resync);
      }
      const open = gates.filter((gate) => !gate.done);
      await redisCall(Promise.all(open.map((gate) => hub.join(gate.topic, gate))));
      histories = gates.map((gate) =>
        gate.done
          ? null
          : gate instanceof TagGate
            ? this.#plan.tagPages(gate, ask.ids[0]!, gate.position)
            : this.#plan.pages(gate.topic, gate.position),
      );
      // The first topic's first page before the stream opens (a failing Redis is a 503); the rest as the client reads.
      await histories.find((pages) => pages !== null)?.prefetch();
    } catch (error) {
      leaveAll();
      slot.release();
      throw error;
    }
    // The client left while we read: a topic joined after its end must not stay subscribed.
    if (watcher.ended) return leaveAll();
    registry.add(watcher);
    this.#logConnected(req, ask, opening.length > 0);
    connection.open(requestIdFor(req), retryFrame(settings.retryMs));
    await watcher.start(opening, histories);
  }

  /** Where each topic starts; a tag's stream's one gate also learns its open point. */
  async #starts(ask: StreamAsk, states: readonly TopicState[], gates: readonly TopicGate[]): Promise<TopicStart[]> {
    const gate = gates[0];
    if (!(gate instanceof TagGate)) return this.#plan.starts(states, ask.cursors);
    const start = await this.#plan.tagStart(gate.topic, ask.ids[0]!, ask.cursors?.[0] ?? null, ask.openPoint, gate.only);
    gate.openPoint = start.openPoint;
    return [start];
  }

  /** What a watcher's end does; a closure of its own, holding only what it needs for the stream's life. */
  #onEnd(req: StreamRequest, slot: { release(): void }, about: StreamAsk['about']): (watcher: Watcher, how: WatcherEnd) => void {
    return (watcher, how) => {
      const { hub, registry, observer } = this.#deps;
      slot.release();
      for (let gate: TopicGate | null = watcher.first; gate !== null; gate = gate.next) hub.leave(gate.topic, gate);
      registry.delete(watcher);
      observer.ended(how);
      this.#logEnd(req, how, about);
    };
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
  async #slot(caller: Caller, connection: OpeningConnection): Promise<{ release(): void } | null> {
    const slot = await this.#deps.slots.acquire(caller.ip);
    if (connection.closed) {
      // The client left while we counted: nothing below would notice (its 'close' has passed).
      slot.release();
      return null;
    }
    return slot;
  }

  #logConnected(req: StreamRequest, ask: StreamAsk, resync: boolean): void {
    if (!this.#deps.logger.isLevelEnabled('debug')) return;
    const cursor = ask.cursors === null ? null : ask.cursors.map(formatStreamId).join(',');
    requestLogger(req, this.#deps.logger).debug({ ...ask.about, cursor, resync }, 'watcher connected');
  }

  /** Lines about a stream carry the request's id; no logger is made per stream unless one is written. */
  #logEnd(req: StreamRequest, how: WatcherEnd, about: StreamAsk['about']): void {
    if (how === 'cut-off') {
      requestLogger(req, this.#deps.logger).warn(
        { ...about, how },
        'watcher cut off: too slow to read its events (it resumes from its cursor)',
      );
    } else if (this.#deps.logger.isLevelEnabled('debug')) requestLogger(req, this.#deps.logger).debug({ ...about, how }, 'watcher ended');
  }
}
