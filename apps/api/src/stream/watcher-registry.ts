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

  /** Asks every client to come back (to another replica) soon, then closes its stream. */
  drain(retryMs: number): void {
    const hint = Buffer.from(retryFrame(retryMs));
    for (const watcher of [...this.#watchers]) {
      watcher.writeRaw(hint);
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
