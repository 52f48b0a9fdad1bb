import { compareStreamIds, STREAM_START, type StreamId } from '@herald/contract';
import { formatTagCursor } from './cursor.ts';
import type { FanoutEvent } from './fanout-event.ts';
import { type GateOwner, TopicGate } from './topic-gate.ts';

/**
 * The one gate of a tag's stream (docs/api.md, "A tag's stream"): a TopicGate on the tag's feed
 * that also knows which of the feed's jobs its watcher may see, and the stream's open point.
 *
 * The feed holds every job of the tag; a watcher sees one key's jobs (`only`), or, as an admin,
 * with auth off or with a watch JWT naming the tag, every one (null). A stream opened afresh
 * replays the feed from the first event of the oldest job not ended, up to its open point (the
 * feed's last entry then), leaving out the jobs that had ended by then: that replay is the
 * feed's reader's (tag-page-2.lua), so a live event at or before the open point is one the
 * replay already has.
 */
export class TagGate extends TopicGate {
  /** The feed's last entry when the stream first opened (null: it was empty, or the cursor is past it). */
  openPoint: StreamId | null = null;
  readonly #only: string | null;

  constructor(owner: GateOwner, topic: string, only: string | null) {
    super(owner, topic, STREAM_START, null);
    this.#only = only;
  }

  /** The one key whose jobs the watcher sees (null: every key's). */
  get only(): string | null {
    return this.#only;
  }

  /** Whether the watcher may see the job of a feed entry (its owner rides in the entry: FanoutEvent.tagEntry). */
  sees(event: FanoutEvent): boolean {
    return this.seesOwner(event.tagEntry?.owner);
  }

  /** Whether the watcher may see a job of this owner (undefined: an entry that is not a tag feed's, seen only by those who see all). */
  seesOwner(owner: string | null | undefined): boolean {
    return this.#only === null || owner === this.#only;
  }

  /** Whether a live event is one for this watcher: past the open point (the replay has the rest), and of a job it may see. */
  admits(event: FanoutEvent): boolean {
    return (this.openPoint === null || compareStreamIds(event.position, this.openPoint) > 0) && this.sees(event);
  }

  /** The `id:` of this watcher's frame of the event when it is its own (at or before the open point), else null: the shared frame's. */
  cursorOf(event: FanoutEvent): string | null {
    const { openPoint } = this;
    return openPoint !== null && compareStreamIds(event.position, openPoint) <= 0 ? formatTagCursor(event.position, openPoint) : null;
  }
}
