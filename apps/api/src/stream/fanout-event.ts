import { isTerminal, parseStreamId, type StreamId } from '@herald/contract';
import { type BrokerEvent, carriesDelta, isBatchEvent, publishedAt, readTagEntryStatus, type TagEntryStatus } from '@herald/shared';
import { dataLines, eventFrame } from './frames.ts';

// The event's JSON is read here without parsing it, through its layout's owner (@herald/shared,
// events/event-layout.ts): `ts` is its last key, a batch's own event starts with `{"batchId":`,
// text being written is a top-level `"delta":`. Once per event per replica.

/** The `event:` names of a typed stream (`?typed=1`; docs/api.md, "Typed events"). */
export type EventName = 'progress' | 'delta' | 'done' | 'error' | 'cancelled' | 'batch' | 'resync' | 'created';

/**
 * An event's name from its stored status and JSON, unparsed: a batch's own event is told by its
 * first key; a job's event in a batch's stream has status `job:<status>`, in a tag's feed
 * `<status>/<owner>/<first>` (tag-entry.ts: a job's first entry there is its `created`); text
 * being written carries a top-level `delta` (event-layout.ts).
 */
export function eventName(status: string, data: string): EventName {
  if (status === 'resync') return 'resync';
  if (isBatchEvent(data)) return 'batch';
  const entry = status.includes('/') ? readTagEntryStatus(status) : null;
  if (entry?.first) return 'created';
  const jobStatus = entry ? entry.status : status.startsWith('job:') ? status.slice(4) : status;
  if (jobStatus === 'done' || jobStatus === 'error' || jobStatus === 'cancelled') return jobStatus;
  return carriesDelta(data) ? 'delta' : 'progress';
}

/**
 * An event ready for every watcher of its topic: parsed and framed once per replica. The typed
 * frame (with its `event:` line) is built the first time a typed stream asks for it, then shared.
 */
export class FanoutEvent {
  readonly id: string;
  readonly position: StreamId;
  /** The topic's last event: a job's terminal one, or a batch's own end. */
  readonly terminal: boolean;
  readonly status: string;
  /** The event's JSON, as stored. */
  readonly data: string;
  readonly frame: Buffer;
  /** When the worker published it (the event's `ts`, ms epoch), or null if it has none. */
  readonly ts: number | null;
  #typed: Buffer | undefined;
  #name: EventName | undefined;
  #tagEntry: TagEntryStatus | null | undefined;
  #dataLines: string | undefined;

  constructor(id: string, position: StreamId, status: string, data: string, frame?: Buffer) {
    this.id = id;
    this.position = position;
    this.status = status;
    this.data = data;
    this.terminal = isTerminal(status);
    this.frame = frame ?? Buffer.from(eventFrame(id, data));
    this.ts = publishedAt(data);
  }

  /** A tag feed entry's parts (its job's owner: whose watchers see it), read once per replica; null for any other event. */
  get tagEntry(): TagEntryStatus | null {
    if (this.#tagEntry === undefined) this.#tagEntry = readTagEntryStatus(this.status);
    return this.#tagEntry;
  }

  /** Worked out once per replica, whatever the number of typed streams asking. */
  get name(): EventName {
    this.#name ??= eventName(this.status, this.data);
    return this.#name;
  }

  /**
   * The frame's `data:` lines, for streams whose `id:` line is their own (several jobs on one
   * connection: a composite cursor); framed once per replica like the rest.
   */
  get dataLines(): string {
    this.#dataLines ??= dataLines(this.data);
    return this.#dataLines;
  }

  /** The frame with its `event:` line, for `?typed=1` streams. */
  get typedFrame(): Buffer {
    this.#typed ??= Buffer.from(eventFrame(this.id, this.data, this.name));
    return this.#typed;
  }
}

export function toFanoutEvent(event: BrokerEvent): FanoutEvent | null {
  const position = parseStreamId(event.id);
  return position ? new FanoutEvent(event.id, position, event.status, event.data) : null;
}

/** What the hub hands events to: one SSE response, or anything else that watches a topic. */
export interface EventSink {
  /** The last event id this sink has, so a replica can re-read what it missed. */
  readonly position: StreamId;
  deliver(event: FanoutEvent): void;
  /** Holds writes back until uncork, so several events in one tick leave in one syscall. */
  cork(): void;
  uncork(): void;
}
