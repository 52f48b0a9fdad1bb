import { isTerminal, parseStreamId, type StoredEvent, type StreamId } from '@herald/shared';
import { eventFrame } from '../sse/frames.ts';

/** An event ready for every watcher of its job: parsed and framed once per replica. */
export interface FanoutEvent {
  readonly id: string;
  readonly position: StreamId;
  readonly terminal: boolean;
  readonly frame: Buffer;
}

export function toFanoutEvent(event: StoredEvent): FanoutEvent | null {
  const position = parseStreamId(event.id);
  if (!position) return null;
  return {
    id: event.id,
    position,
    terminal: isTerminal(event.status),
    frame: Buffer.from(eventFrame(event.id, event.data)),
  };
}

/** What the hub hands events to: one SSE response, or anything else that watches a job. */
export interface EventSink {
  /** The last event id this sink has, so a replica can re-read what it missed. */
  readonly position: StreamId;
  deliver(event: FanoutEvent): void;
  /** Holds writes back until uncork, so several events in one tick leave in one syscall. */
  cork(): void;
  uncork(): void;
}
