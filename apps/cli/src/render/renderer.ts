import { createBarRenderer } from './bar.ts';
import { createLineRenderer } from './lines.ts';
import type { Renderer } from './types.ts';

/**
 * The bar only where a person is looking at a terminal: cursor tricks in a log file or a CI
 * transcript are noise, so anything else (or --plain) gets one line per event.
 */
export function createRenderer(stream: NodeJS.WriteStream, plain: boolean): Renderer {
  return !plain && stream.isTTY ? createBarRenderer(stream) : createLineRenderer(stream);
}
