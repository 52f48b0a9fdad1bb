import { isTerminal, parseStreamId, type StreamId } from '@herald/contract';
import type { BrokerEvent } from '@herald/shared';
import { eventFrame } from './frames.ts';

/** An event ready for every watcher of its job: parsed and framed once per replica. */
export interface FanoutEvent {
  readonly id: string;
  readonly position: StreamId;
  readonly terminal: boolean;
  readonly frame: Buffer;
  /** When the worker published it (the event's `ts`, ms epoch), or null if it has none. */
  readonly ts: number | null;
}

const TS_FIELD = '"ts":';

/**
 * The event's `ts` without parsing its JSON: the publisher writes it as the last field, and the
 * text `"ts":` cannot occur inside a JSON string (its quotes would be escaped).
 */
export function publishedAt(data: string): number | null {
  const at = data.lastIndexOf(TS_FIELD);
  if (at < 0) return null;
  const ts = Number.parseInt(data.slice(at + TS_FIELD.length, at + TS_FIELD.length + 20), 10);
  return Number.isFinite(ts) ? ts : null;
}

export function toFanoutEvent(event: BrokerEvent): FanoutEvent | null {
  const position = parseStreamId(event.id);
  if (!position) return null;
  return {
    id: event.id,
    position,
    terminal: isTerminal(event.status),
    frame: Buffer.from(eventFrame(event.id, event.data)),
    ts: publishedAt(event.data),
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
