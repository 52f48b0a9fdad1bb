import { commentFrame, retryFrame } from './frames.ts';

const HEARTBEAT = Buffer.from(commentFrame());
/** The heartbeat goes out in slices this far apart, each to its share of the watchers. */
const BEAT_SLICE_MS = 100;

/** What the registry needs of a watcher (watcher.ts). */
export interface RegisteredWatcher {
  /** Writes a buffer shared by all watchers. */
  writeRaw(chunk: Buffer): void;
  end(how: 'drained'): void;
  /** Since when its backlog has waited to drain (ms since the epoch; 0: it has not). */
  readonly backlogSince: number;
  /** Drops a client too slow to read (it resumes from its cursor). */
  cutOff(): void;
}

/**
 * The replica's connected watchers: one heartbeat timer for all of them (not one per client),
 * the count the replica's limit and metrics read, and the list a drain walks.
 *
 * Each watcher gets its heartbeat once per HEARTBEAT_MS, but not all in the same tick: the
 * interval is cut into slices of BEAT_SLICE_MS and each slice writes to the next share of the
 * watchers. One loop over 2,500 sockets held a replica's event loop for 40-60 ms (the `wide`
 * bench's worst latencies, docs/benchmarks.md); a slice writes to 1/150 of them.
 *
 * The same sweep cuts off each watcher whose backlog has not drained for SSE_WRITE_DEADLINE_MS
 * (history included): one number per watcher (`backlogSince`) and no timer per client, at the
 * price of acting up to one HEARTBEAT_MS late.
 */
export class WatcherRegistry {
  readonly #watchers = new Set<RegisteredWatcher>();
  readonly #slices: number;
  readonly #writeDeadlineMs: number;
  #timer: NodeJS.Timeout | undefined;
  /** Where the current round of heartbeats has got to, and the slice it is in. */
  #round: Iterator<RegisteredWatcher> = this.#watchers.values();
  #slice = 0;

  constructor(heartbeatMs: number, writeDeadlineMs: number) {
    this.#writeDeadlineMs = writeDeadlineMs;
    this.#slices = Math.max(1, Math.round(heartbeatMs / BEAT_SLICE_MS));
    this.#timer = setInterval(() => this.#beat(), heartbeatMs / this.#slices);
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

  /** One slice: the next share of this round's watchers (a round is HEARTBEAT_MS; the Set's iterator skips those that left). */
  #beat(): void {
    if (this.#slice === 0) this.#round = this.#watchers.values();
    const share = Math.ceil(this.#watchers.size / this.#slices);
    const stuckSince = Date.now() - this.#writeDeadlineMs;
    for (let i = 0; i < share; i += 1) {
      const next = this.#round.next();
      if (next.done) break;
      const since = next.value.backlogSince;
      if (since !== 0 && since <= stuckSince) next.value.cutOff();
      else next.value.writeRaw(HEARTBEAT);
    }
    this.#slice = (this.#slice + 1) % this.#slices;
  }
}
