import { untilWritable, type DrainingWriter } from './until-writable.ts';

/**
 * What a watcher has written that its client has not taken yet, and since when. `since` is the
 * one number the registry's heartbeat sweep reads to cut off a client whose backlog has not
 * drained within SSE_WRITE_DEADLINE_MS (no timer per client): it is set when a write leaves the
 * socket full and cleared by the socket's next 'drain'.
 */
export class Backlog {
  readonly #res: DrainingWriter;
  #since = 0;
  /** A catch-up write waits for the socket to drain. */
  #waiting = false;
  readonly #drained = (): void => {
    this.#since = 0;
  };

  constructor(res: DrainingWriter) {
    this.#res = res;
  }

  /** When the socket filled without draining since (ms since the epoch); 0 while it takes writes. */
  get since(): number {
    // Nothing left unsent is drained too, whether or not a 'drain' has reached the response yet —
    // unless a catch-up write is waiting for that 'drain': then the stream is stuck all the same,
    // and the clock runs on to the cut-off.
    if (this.#since !== 0 && !this.#waiting && this.#res.writableLength === 0) {
      this.#res.off('drain', this.#drained);
      this.#since = 0;
    }
    return this.#since;
  }

  /** Unsent bytes. */
  get bytes(): number {
    return this.#res.writableLength;
  }

  /** Writes the chunk; false when the socket is full (the backlog's clock then runs until it drains). */
  write(chunk: Buffer | string): boolean {
    if (this.#res.write(chunk)) return true;
    if (this.#since === 0) {
      this.#since = Date.now();
      this.#res.once('drain', this.#drained);
    }
    return false;
  }

  /** Writes the chunk and, when that filled the socket, resolves once it drains (or closes): how catch-up is paced. */
  async writePaced(chunk: Buffer | string): Promise<void> {
    if (this.write(chunk)) return;
    this.#waiting = true;
    await untilWritable(this.#res);
    this.#waiting = false;
  }
}
