import cliProgress from 'cli-progress';
import type { JobEvent } from '../client.ts';
import { label } from './format.ts';
import type { Renderer } from './types.ts';

/** The end of a text as one short line: what the bar's message slot can hold. */
const tail = (text: string, width = 48): string => {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= width ? line : `…${line.slice(-(width - 1))}`;
};

/** A live cli-progress bar on a terminal: `[=====-----] 30% | analyzing: Analyzing 3 sentences`. */
export function createBarRenderer(stream: NodeJS.WriteStream): Renderer {
  const bar = new cliProgress.SingleBar({
    stream,
    format: '[{bar}] {percentage}% | {label}: {message}',
    barsize: 30,
    hideCursor: true,
    // cli-progress would catch SIGINT just to stop the bar, which also cancels Node's exit on
    // Ctrl-C; watch handles SIGINT itself and calls stop().
    gracefulExit: false,
  });
  let started = false;
  let value = 0;
  let stopped = false;

  const show = (progress: number, payload: { label: string; message: string }): void => {
    if (stopped) return;
    value = progress;
    if (started) {
      bar.update(progress, payload);
    } else {
      bar.start(100, progress, payload);
      started = true;
    }
  };

  return {
    // While the summary is written, the message slot shows its latest words, on one line.
    event(event: JobEvent, partial: string) {
      const writing = event.delta !== undefined && event.stream === undefined && partial !== '';
      show(event.progress, { label: label(event), message: writing ? tail(partial) : event.message });
    },
    // A notice takes the message slot until the next event replaces it: it is transient news
    // ("reconnecting in 3 s"), and a line printed above a live bar would be torn by its redraw.
    notice(text) {
      show(value, { label: 'herald', message: text });
    },
    stop() {
      if (started && !stopped) bar.stop();
      stopped = true;
    },
  };
}
