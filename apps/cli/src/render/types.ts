import type { JobEvent } from '@herald/contract';

/** How `watch` shows progress on stderr; stdout is kept for the summary alone, in both modes. */
export interface Renderer {
  event(event: JobEvent): void;
  /** Something that is not an event but worth saying, e.g. a reconnect. */
  notice(text: string): void;
  /** Leaves the terminal clean (cursor back, line ended) before anything else is printed. */
  stop(): void;
}
