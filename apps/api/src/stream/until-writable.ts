/**
 * What a stream writes to, as far as its backlog is concerned: a response (connection.ts), or any
 * Writable. Stated by shape, so that only connection.ts names node:http in stream/.
 */
export interface DrainingWriter {
  write(chunk: Buffer | string): boolean;
  /** Bytes written and not yet taken by the socket. */
  readonly writableLength: number;
  on(event: 'drain' | 'close', listener: () => void): unknown;
  once(event: 'drain', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
}

/**
 * Resolves once the writer can take more (its socket drained) or is gone: how a watcher paces
 * a long catch-up by its client's reading rather than cutting it off at the backlog bound.
 */
export function untilWritable(res: DrainingWriter): Promise<void> {
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
