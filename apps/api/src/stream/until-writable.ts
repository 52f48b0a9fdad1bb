import type { ServerResponse } from 'node:http';

/**
 * Resolves once the response can take more (its socket drained) or is gone: how a watcher paces
 * a long catch-up by its client's reading rather than cutting it off at the backlog bound.
 */
export function untilWritable(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
