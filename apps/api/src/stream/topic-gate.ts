import { compareStreamIds, type StreamId } from '@herald/contract';
import type { EventSink, FanoutEvent } from './fanout-event.ts';

/** What a gate hands its topic's events to: its watcher. */
export interface GateOwner {
  take(gate: TopicGate, event: FanoutEvent): void;
  cork(): void;
  uncork(): void;
}

/**
 * One topic of a watcher, and the hub's sink for it: where the client stands in the topic (the
 * gate: an event passes when its id is after that, which removes the overlap between history and
 * live and any repeat after a resync) and whether the topic is done for it. A watcher's gates are
 * a chain (`next`) rather than an array: one object per topic, nothing more per watcher.
 */
export class TopicGate implements EventSink {
  /** The hub's topic: a job's id, or `batch:<batchId>`. */
  readonly topic: string;
  readonly next: TopicGate | null;
  position: StreamId;
  /** The topic has had its last event for this client: its terminal one, or it had ended before the cursor. */
  done = false;
  readonly #owner: GateOwner;

  constructor(owner: GateOwner, topic: string, position: StreamId, next: TopicGate | null) {
    this.#owner = owner;
    this.topic = topic;
    this.position = position;
    this.next = next;
  }

  deliver(event: FanoutEvent): void {
    this.#owner.take(this, event);
  }

  cork(): void {
    this.#owner.cork();
  }

  uncork(): void {
    this.#owner.uncork();
  }

  /** Whether the event is after the position; if so, the position moves to it. */
  pass(event: FanoutEvent): boolean {
    if (compareStreamIds(event.position, this.position) <= 0) return false;
    this.position = event.position;
    return true;
  }
}
