import type { ServerResponse } from 'node:http';
import { compareStreamIds, type StreamId } from '@herald/shared';
import type { EventSink, FanoutEvent } from '../fanout/fanout-event.ts';

export interface WatcherLimits {
  /** Unsent bytes a client may have queued before it is cut off (it resumes from its cursor). */
  readonly maxBacklogBytes: number;
  /** Live events held while history is still being sent; more means the client is too slow. */
  readonly maxPendingEvents: number;
}

export type WatcherEnd = 'completed' | 'client-left' | 'cut-off' | 'drained';

/**
 * One SSE client. Until `start` it holds live events aside; `start` sends the history read
 * after subscribing, then the held events, then goes live. Every event passes one gate: its id
 * must be after the last one sent, which removes the overlap between history and live and any
 * repeat after a resync. Per client: a position, the response, and a bounded backlog — nothing
 * that grows with the job or with time.
 */
export class SseWatcher implements EventSink {
  readonly #res: ServerResponse;
  readonly #limits: WatcherLimits;
  readonly #onEnd: (watcher: SseWatcher, how: WatcherEnd) => void;
  #position: StreamId;
  #held: FanoutEvent[] | null = [];
  #ended = false;

  constructor(
    res: ServerResponse,
    position: StreamId,
    limits: WatcherLimits,
    onEnd: (watcher: SseWatcher, how: WatcherEnd) => void,
  ) {
    this.#res = res;
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

  deliver(event: FanoutEvent): void {
    if (this.#ended) return;
    if (this.#held) {
      if (this.#held.length >= this.#limits.maxPendingEvents) this.#cutOff();
      else this.#held.push(event);
      return;
    }
    this.#send(event);
  }

  /** Sends the history (already framed), then what arrived meanwhile, then goes live. */
  start(history: readonly FanoutEvent[]): void {
    const held = this.#held ?? [];
    this.#held = null;
    this.#res.cork();
    for (const event of history) this.#send(event);
    for (const event of held) this.#send(event);
    process.nextTick(() => this.#res.uncork());
  }

  /** Writes a buffer shared by all watchers (heartbeats, drain notices). */
  writeRaw(chunk: Buffer): void {
    if (!this.#ended) this.#write(chunk);
  }

  /** Ends the stream on the server's initiative (draining); the client reconnects elsewhere. */
  end(how: WatcherEnd): void {
    if (this.#ended) return;
    this.#res.end();
    this.#finish(how);
  }

  #send(event: FanoutEvent): void {
    if (this.#ended || compareStreamIds(event.position, this.#position) <= 0) return;
    this.#position = event.position;
    this.#write(event.frame);
    if (event.terminal) this.end('completed');
  }

  #write(chunk: Buffer): void {
    this.#res.write(chunk);
    if (this.#res.writableLength > this.#limits.maxBacklogBytes) this.#cutOff();
  }

  #cutOff(): void {
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
