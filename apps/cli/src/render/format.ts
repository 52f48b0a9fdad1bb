import type { JobEvent } from '../client.ts';

/** `analyzing` for an event with a stage, else its status (`queued`, `done`, …). */
export const label = (event: JobEvent): string => event.stage ?? event.status;

/** `[ 30%] analyzing: Analyzing 3 sentences` — fixed-width percentage so a log lines up. */
export function formatLine(event: JobEvent): string {
  return `[${String(event.progress).padStart(3)}%] ${label(event)}: ${event.message}`;
}
