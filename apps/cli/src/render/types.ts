import type { JobEvent } from '../client.ts';

/** How `watch` shows progress on stderr; stdout is kept for the summary alone, in both modes. */
export interface Renderer {
  /** An event, with the summary as written so far (the fold of the deltas up to it). */
  event(event: JobEvent, partial: string): void;
  /** Something that is not an event but worth saying, e.g. a reconnect. */
  notice(text: string): void;
  /** Leaves the terminal clean (cursor back, line ended) before anything else is printed. */
  stop(): void;
}
