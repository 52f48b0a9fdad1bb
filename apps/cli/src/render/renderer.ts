import type { JobEvent } from '@herald/shared/event';
import { createBarRenderer } from './bar.ts';
import { createLineRenderer } from './lines.ts';

/** How `watch` shows progress on stderr; stdout is kept for the summary alone, in both modes. */
export interface Renderer {
  event(event: JobEvent): void;
  /** Something that is not an event but worth saying, e.g. a reconnect. */
  notice(text: string): void;
  /** Leaves the terminal clean (cursor back, line ended) before anything else is printed. */
  stop(): void;
}

/**
 * The bar only where a person is looking at a terminal: cursor tricks in a log file or a CI
 * transcript are noise, so anything else (or --plain) gets one line per event.
 */
export function createRenderer(stream: NodeJS.WriteStream, plain: boolean): Renderer {
  return !plain && stream.isTTY ? createBarRenderer(stream) : createLineRenderer(stream);
}
