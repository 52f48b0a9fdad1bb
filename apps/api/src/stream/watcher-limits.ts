/** Shared by every watcher of one kind (the stream route holds one per kind), not one per watcher. */
export interface WatcherLimits {
  /** Unsent bytes a client may have queued before it is cut off (it resumes from its cursor). */
  readonly maxBacklogBytes: number;
  /** Live events held while history is still being sent; more means the client is too slow. */
  readonly maxPendingEvents: number;
  /** `?typed=1`: each event with its `event:` line (FanoutEvent.typedFrame). */
  readonly typed?: boolean;
  /**
   * `?jobs=`: each event's `id:` is the composite cursor, every topic's position in order, so one
   * Last-Event-ID resumes them all (that line is the one part framed per connection). Otherwise
   * the event's own frame, shared by every watcher of the replica.
   */
  readonly composite?: boolean;
  /** A tag's stream: its one gate is a TagGate, which admits live events and frames its own ids before its open point. */
  readonly tag?: boolean;
  /**
   * Runs the end of a stream whose last topic's terminal event went out live (the replica's
   * EndPacer, so that many jobs finishing together do not crowd out others' events); by default
   * at once.
   */
  readonly endFinished?: (end: () => void) => void;
}

/** How a stream ends: after its topics' terminal events, by its client, cut off as too slow, or drained. */
export const WATCHER_ENDS = ['completed', 'client-left', 'cut-off', 'drained'] as const;
export type WatcherEnd = (typeof WATCHER_ENDS)[number];
