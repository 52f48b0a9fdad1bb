import { formatLine } from './format.ts';
import type { Renderer } from './types.ts';

/** One plain line per event: for pipes, files and CI logs. */
export function createLineRenderer(stream: NodeJS.WritableStream): Renderer {
  return {
    event(event) {
      stream.write(`${formatLine(event)}\n`);
    },
    notice(text) {
      stream.write(`herald: ${text}\n`);
    },
    stop() {},
  };
}
