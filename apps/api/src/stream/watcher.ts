import type { ServerResponse } from 'node:http';
import { compareStreamIds, type StreamId } from '@herald/contract';
import { Backlog } from './backlog.ts';
import type { EventSink, FanoutEvent } from './fanout-event.ts';
import type { HistoryPages } from './history-pages.ts';

export interface WatcherLimits {
  /** Unsent bytes a client may have queued before it is cut off (it resumes from its cursor). */
  readonly maxBacklogBytes: number;
  /** Live events held while history is still being sent; more means the client is too slow. */
  readonly maxPendingEvents: number;
  /** `?typed=1`: each event with its `event:` line (FanoutEvent.typedFrame). */
  readonly typed?: boolean;
  /**
   * Runs the end of a stream whose terminal event went out live (the replica's EndPacer, so
   * that many jobs finishing together do not crowd out others' events); by default at once.
   */
  readonly endFinished?: (end: () => void) => void;
}

/** How a stream ends: after its job's terminal event, by its client, cut off as too slow, or drained. */
export const WATCHER_ENDS = ['completed', 'client-left', 'cut-off', 'drained'] as const;
export type WatcherEnd = (typeof WATCHER_ENDS)[number];

/**
 * One SSE client. Until `start` it holds live events aside; `start` sends the history read
 * after subscribing, then the held events, then goes live. Every event passes one gate: its id
 * must be after the last one sent, which removes the overlap between history and live and any
 * repeat after a resync. The job's terminal event ends the stream whatever the gate said. Per client: a position, the response, and a bounded backlog — nothing
 * that grows with the job or with time.
 */
export class SseWatcher implements EventSink {
  readonly #res: ServerResponse;
  readonly #backlog: Backlog;
  readonly #limits: WatcherLimits;
  readonly #onEnd: (watcher: SseWatcher, how: WatcherEnd) => void;
  #position: StreamId;
  #held: FanoutEvent[] | null = [];
  #ended = false;
  /** Its terminal event is sent and its end is waiting for the pacer. */
  #finished = false;

  constructor(res: ServerResponse, position: StreamId, limits: WatcherLimits, onEnd: (watcher: SseWatcher, how: WatcherEnd) => void) {
    this.#res = res;
    this.#backlog = new Backlog(res);
    this.#position = position;
    this.#limits = limits;
    this.#onEnd = onEnd;
    res.once('close', () => this.#finish('client-left'));
  }

  get position(): StreamId {
    return this.#position;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Since when its backlog has waited to drain (0: it has not); the registry cuts it off past SSE_WRITE_DEADLINE_MS. */
  get backlogSince(): number {
    return this.#backlog.since;
  }

  deliver(event: FanoutEvent): void {
    if (this.#ended || this.#finished) return;
    if (this.#held) {
      if (this.#held.length >= this.#limits.maxPendingEvents) this.cutOff();
      else this.#held.push(event);
      return;
    }
    this.#send(event);
  }

  /**
   * Sends the history, a page at a time, then what arrived meanwhile, then goes live. The
   * history is paced by the socket ('drain') rather than cut off at the backlog bound: a client
   * resuming far behind must be able to catch up, as long as its backlog keeps draining
   * (SSE_WRITE_DEADLINE_MS). Live events wait aside meanwhile, within their own bound.
   */
  async start(history: HistoryPages): Promise<void> {
    if (
      !(await history.sendAll(
        (event) => this.#paced(event),
        () => this.cutOff(),
      ))
    )
      return;
    for (let event = this.#held?.shift(); event; event = this.#held?.shift()) {
      if (!(await this.#paced(event))) return;
    }
    this.#held = null;
  }

  /** Sends one catch-up event, waiting for the socket to drain when it is full. */
  async #paced(event: FanoutEvent): Promise<boolean> {
    if (this.#ended) return false;
    if (compareStreamIds(event.position, this.#position) > 0) {
      this.#position = event.position;
      await this.#backlog.writePaced(this.#frameOf(event));
    }
    this.#endAfter(event);
    return !this.#ended;
  }

  cork(): void {
    this.#res.socket?.cork();
  }

  uncork(): void {
    this.#res.socket?.uncork();
  }

  /** Writes a buffer shared by all watchers (heartbeats, drain notices). */
  writeRaw(chunk: Buffer): void {
    if (!this.#ended && !this.#finished) this.#write(chunk);
  }

  /** Ends the stream: after the terminal event, or when draining (the client then reconnects). */
  end(how: WatcherEnd): void {
    if (this.#ended) return;
    this.#res.end();
    this.#finish(how);
  }

  #send(event: FanoutEvent): void {
    if (this.#ended) return;
    if (compareStreamIds(event.position, this.#position) > 0) {
      this.#position = event.position;
      this.#write(this.#frameOf(event));
    }
    if (!event.terminal) return;
    // Sent at once, with this tick's other events; the connection's end may wait its turn, and
    // nothing more is written meanwhile.
    this.#finished = true;
    (this.#limits.endFinished ?? endAtOnce)(() => this.end('completed'));
  }

  /**
   * The job's terminal event ends the stream, sent or not: nothing will follow it. Not sent means
   * the client's cursor was at or past it — one from the future holds no stream open for ever.
   */
  #endAfter(event: FanoutEvent): void {
    if (event.terminal) this.end('completed');
  }

  #frameOf(event: FanoutEvent): Buffer {
    return this.#limits.typed ? event.typedFrame : event.frame;
  }

  #write(chunk: Buffer): void {
    this.#backlog.write(chunk);
    if (this.#backlog.bytes > this.#limits.maxBacklogBytes) this.cutOff();
  }

  /** Cuts off a client too slow to read its events; it resumes from its cursor. */
  cutOff(): void {
    if (this.#ended) return;
    // Destroy rather than end: a slow client's queued bytes are dropped, not drained.
    this.#finish('cut-off');
    this.#res.destroy();
  }

  #finish(how: WatcherEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#held = null;
    this.#onEnd(this, how);
  }
}

const endAtOnce = (end: () => void): void => end();
