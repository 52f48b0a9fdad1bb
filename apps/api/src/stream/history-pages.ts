import type { BrokerEvent } from '@herald/shared';
import { toFanoutEvent, type FanoutEvent } from './fanout-event.ts';
import type { HistoryPage } from './hub.ts';

/** Reads one page of a topic's history after an id (from the first when null): the hub's, under the Redis deadline. */
export type PageReader = (afterId: string | null) => Promise<HistoryPage>;

/**
 * Whether a topic's Stream lost entries after an id (trimmed by STREAM_MAXLEN, or deleted): the
 * check made on each page after the first, before its events are sent.
 */
export type GapCheck = (afterId: string) => Promise<boolean>;

/**
 * The Stream was trimmed past where the client stands between two pages: what it lacks is gone.
 * Its watcher is cut off; the client comes back with its cursor and gets a resync.
 */
class HistoryGap extends Error {
  override readonly name = 'HistoryGap';
}

/**
 * A topic's history as a watcher catches up on it: pulled a page at a time (HISTORY_PAGE_EVENTS
 * events, one XRANGE … COUNT), the next page read only once the watcher has written the last
 * one out and its socket has drained. A client that stops reading therefore holds one page and
 * its socket's backlog, however long the history, until SSE_WRITE_DEADLINE_MS cuts it off; and
 * Redis never builds a whole history into one reply. Every watcher (watcher.ts) catches up
 * through it.
 */
export class HistoryPages {
  readonly #read: PageReader;
  readonly #gapAfter: GapCheck;
  /** Where the next page starts (null: at the first event). */
  #after: string | null;
  /** Pages read so far: the first is the cursor's, which the stream checked when it began. */
  #reads = 0;
  #prefetched: BrokerEvent[] | null = null;
  #done = false;

  /** `afterId`: the cursor (null: from the topic's first event). */
  constructor(read: PageReader, afterId: string | null, gapAfter: GapCheck) {
    this.#read = read;
    this.#after = afterId;
    this.#gapAfter = gapAfter;
  }

  /**
   * Reads the first page now: before a stream opens, so a Redis that fails it is still a 503
   * rather than a stream cut short.
   */
  async prefetch(): Promise<void> {
    this.#prefetched = await this.#take();
  }

  /**
   * Sends every event, oldest first, framed as it goes, through `send`, which resolves once the
   * event is written and the socket can take more, to false when the stream has ended (then
   * nothing more is read). What is sent is let go at once: a stalled reader holds only the rest
   * of its page. Resolves to whether the history was sent to its end. When entries between two
   * pages were trimmed away meanwhile, `cutOff` ends the stream instead (HistoryGap).
   */
  async sendAll(send: (event: FanoutEvent) => Promise<boolean>, cutOff: () => void): Promise<boolean> {
    try {
      for (let page = await this.#next(); page !== null; page = await this.#next()) {
        const rest = page.reverse();
        for (let stored = rest.pop(); stored; stored = rest.pop()) {
          const event = toFanoutEvent(stored); // null: an id that is not an event id, skipped
          if (event && !(await send(event))) return false;
        }
      }
      return true;
    } catch (error) {
      if (!(error instanceof HistoryGap)) throw error;
      cutOff();
      return false;
    }
  }

  async #next(): Promise<BrokerEvent[] | null> {
    const prefetched = this.#prefetched;
    if (prefetched) {
      this.#prefetched = null;
      return prefetched;
    }
    return this.#done ? null : this.#take();
  }

  async #take(): Promise<BrokerEvent[]> {
    const after = this.#after;
    const page = await this.#read(after);
    // Checked after the read: a trim before it shows; one after it costs a needless resync only.
    if (this.#reads++ > 0 && after !== null && (await this.#gapAfter(after))) throw new HistoryGap(`history trimmed after ${after}`);
    this.#after = page.next;
    this.#done = page.next === null;
    return page.events;
  }
}
