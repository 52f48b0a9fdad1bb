import type { JobEvent } from '../client.ts';
import { label, oneLine } from './format.ts';

/** How `watch --tag` shows the tag's jobs: one line per job. */
export interface TagView {
  /** A job's event, with its text so far (shown while it is written). */
  event(event: JobEvent, partial: string): void;
  /** News that is no job's: a resync, a reconnection. */
  notice(text: string): void;
  /** Leaves the terminal clean (the live lines kept, the cursor below them). */
  stop(): void;
}

const WRITING_TAIL = 60;

/** `<jobId>  <label> <progress>%  <message>`: what a job's line says, producer text on one line. */
export function jobLine(event: JobEvent, partial: string): string {
  const writing = event.delta !== undefined && event.stream === undefined && partial !== '';
  // While the answer is written, its latest words; only its end is read, however long it grows.
  const text = writing ? (partial.length > WRITING_TAIL ? `…${partial.slice(-WRITING_TAIL)}` : partial) : event.message;
  return `${oneLine(event.jobId)}  ${oneLine(label(event))} ${String(event.progress).padStart(3)}%  ${oneLine(text)}`;
}

/**
 * Not a terminal: one line per event, prefixed by the job id, tab-separated as `watch --batch`'s
 * (`<jobId>\t<status>\t<progress>%\t<message>`); notices on `errors`.
 */
export function createTagLines(out: NodeJS.WritableStream, errors: NodeJS.WritableStream): TagView {
  return {
    event(event) {
      out.write(`${oneLine(event.jobId)}\t${event.status}\t${event.progress}%\t${oneLine(event.message)}\n`);
    },
    notice(text) {
      errors.write(`herald: ${text}\n`);
    },
    stop() {},
  };
}

const ESC = '\u001b[';

/**
 * A terminal: the jobs under way as live lines at the bottom, each rewritten in place as its
 * events come; a job that ends has its last line written above them for good and leaves the live
 * set, so what is kept (and redrawn) is only the jobs under way. Lines are cut to the terminal's
 * width (a wrapped line would throw the redraw off by a row), and at most `rows - 2` live lines
 * are drawn, then a count of the rest. Notices are written for good above the live lines too:
 * stderr would tear them.
 */
export function createTagBoard(out: NodeJS.WriteStream): TagView {
  const live = new Map<string, string>();
  let drawn = 0;
  let stopped = false;
  const width = (): number => Math.max(20, (out.columns ?? 80) - 1);
  const fit = (line: string): string => {
    const chars = [...line];
    return chars.length <= width() ? line : `${chars.slice(0, width() - 1).join('')}…`;
  };
  /** Clears the live lines, writes `permanent` lines, then draws the live ones again. */
  const redraw = (permanent: readonly string[]): void => {
    if (stopped) return;
    let frame = drawn > 0 ? `${ESC}${drawn}F${ESC}J` : '';
    for (const line of permanent) frame += `${fit(line)}\n`;
    const room = Math.max(1, (out.rows ?? 24) - 2);
    const lines = [...live.values()];
    const shown = lines.length > room ? [...lines.slice(0, room - 1), `… and ${lines.length - room + 1} more jobs under way`] : lines;
    for (const line of shown) frame += `${fit(line)}\n`;
    drawn = shown.length;
    out.write(frame);
  };
  return {
    event(event, partial) {
      const line = jobLine(event, partial);
      if (event.status === 'done' || event.status === 'error' || event.status === 'cancelled') {
        live.delete(event.jobId);
        redraw([line]);
      } else {
        live.set(event.jobId, line);
        redraw([]);
      }
    },
    notice(text) {
      redraw([`herald: ${oneLine(text)}`]);
    },
    stop() {
      stopped = true;
    },
  };
}
