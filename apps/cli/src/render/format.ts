import type { JobEvent } from '../client.ts';

/** `analyzing` for an event with a stage, else its status (`queued`, `done`, …). */
export const label = (event: JobEvent): string => event.stage ?? event.status;

/** `[ 30%] analyzing: Analyzing 3 sentences` — fixed-width percentage so a log lines up. */
export function formatLine(event: JobEvent): string {
  return `[${String(event.progress).padStart(3)}%] ${oneLine(label(event))}: ${oneLine(event.message)}`;
}

/**
 * A producer's text (a title, a message, a stage) on one terminal line: each run of control
 * characters (C0, DEL, C1: line breaks, tabs, and ESC, which would start an escape sequence that
 * rewrites the reader's terminal) becomes one space. One pass over the characters.
 */
export function oneLine(text: string): string {
  let out = '';
  let inRun = false;
  for (const char of text) {
    const code = char.charCodeAt(0);
    const control = code <= 0x1f || (code >= 0x7f && code <= 0x9f);
    if (!control) out += char;
    else if (!inRun) out += ' ';
    inRun = control;
  }
  return out;
}
