import { commentFrame, retryFrame } from './frames.ts';

const HEARTBEAT = Buffer.from(commentFrame());

/** What the registry needs of a watcher (an SseWatcher). */
export interface RegisteredWatcher {
  /** Writes a buffer shared by all watchers. */
  writeRaw(chunk: Buffer): void;
  end(how: 'drained'): void;
}

/**
 * The replica's connected watchers: one heartbeat timer for all of them (not one per client),
 * the count the replica's limit and metrics read, and the list a drain walks.
 */
export class WatcherRegistry {
  readonly #watchers = new Set<RegisteredWatcher>();
  #timer: NodeJS.Timeout | undefined;

  constructor(heartbeatMs: number) {
    this.#timer = setInterval(() => this.#beat(), heartbeatMs);
    this.#timer.unref();
  }

  get size(): number {
    return this.#watchers.size;
  }

  add(watcher: RegisteredWatcher): void {
    this.#watchers.add(watcher);
  }

  delete(watcher: RegisteredWatcher): void {
    this.#watchers.delete(watcher);
  }

  /**
   * Asks every client to come back (to another replica), then closes its stream. Each gets its
   * own `retry:`, from `retryMs` to `retryMs + spreadMs` in even steps, so n watchers reconnect
   * at about n / spreadMs per ms instead of all in the same instant (a stampede on the
   * survivors). The replica itself need not wait: the clients do.
   */
  drain(retryMs: number, spreadMs = 0): void {
    const watchers = [...this.#watchers];
    const shared = spreadMs === 0 ? Buffer.from(retryFrame(retryMs)) : null;
    for (const [i, watcher] of watchers.entries()) {
      watcher.writeRaw(shared ?? Buffer.from(retryFrame(retryMs + Math.floor((i * spreadMs) / watchers.length))));
      watcher.end('drained');
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #beat(): void {
    for (const watcher of this.#watchers) watcher.writeRaw(HEARTBEAT);
  }
}
