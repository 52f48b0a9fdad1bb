import { formatLine } from './format.ts';
import type { Renderer } from './types.ts';

/**
 * One plain line per event, for pipes, files and CI logs; the summary, while it is written, as
 * it comes: its text runs on after a `writing` line, piece by piece, and a new line starts when
 * the next event comes. A retried attempt that starts its text again says so and starts afresh.
 */
export function createLineRenderer(stream: NodeJS.WritableStream): Renderer {
  /** How much of the summary is on screen; null when no text is being shown. */
  let shown: number | null = null;
  const endText = (): void => {
    if (shown !== null) stream.write('\n');
    shown = null;
  };
  return {
    event(event, partial) {
      // A named stream's piece (`stream`) is not the summary: a line of its own, as any event.
      if (event.delta === undefined || event.offset === undefined || event.stream !== undefined) {
        endText();
        stream.write(`${formatLine(event)}\n`);
        return;
      }
      if (shown !== null && event.offset < shown) {
        endText();
        stream.write('herald: the summary starts again (a retried attempt)\n');
      }
      if (shown === null) {
        stream.write(`${formatLine(event)}\n`);
        shown = 0;
      }
      stream.write(partial.slice(shown));
      shown = partial.length;
    },
    notice(text) {
      endText();
      stream.write(`herald: ${text}\n`);
    },
    stop() {
      endText();
    },
  };
}
