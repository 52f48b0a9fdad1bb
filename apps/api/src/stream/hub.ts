import { compareStreamIds, formatStreamId } from '@herald/contract';
import type { Broker, BrokerEvent, Logger } from '@herald/shared';
import { toFanoutEvent, type EventSink, type FanoutEvent } from './fanout-event.ts';

interface Topic {
  readonly jobId: string;
  readonly sinks: Set<EventSink>;
  /** Settles when the broker has confirmed the subscription. */
  readonly subscribed: Promise<unknown>;
}

/** Told of each event the hub fans out, once per event (not per watcher): metrics. */
export type FanoutObserver = (event: FanoutEvent, watchers: number) => void;

export interface HubOptions {
  readonly observe?: FanoutObserver;
  /** Re-reads of one job's history after a resync signal, before giving up (one every `retryMs`). */
  readonly resyncAttempts?: number;
  readonly resyncRetryMs?: number;
  /** HISTORY_PAGE_EVENTS: the most events one history read fetches (XRANGE … COUNT). */
  readonly pageEvents?: number;
}

/**
 * One page of a job's history, as stored (framed one event at a time as it is sent, so a reader
 * that stops holds the rest of its page once, not twice), and the id the next page starts after
 * (null: this was the last). The array is the reader's own.
 */
export interface HistoryPage {
  readonly events: BrokerEvent[];
  readonly next: string | null;
}

/**
 * Where an event is fanned out: the replica's one subscription per watched job, shared by all
 * its watchers. A job is subscribed while at least one local watcher watches it (reference
 * counted by the topic's sinks) and unsubscribed when the last leaves. Each event is framed
 * once, then the same buffer goes to every sink of the job.
 *
 * The hub never sees Redis: it talks to a Broker. When the broker says live delivery may have
 * had a gap, the hub re-reads each named job's history from the oldest position its sinks hold;
 * the sinks drop what they already have.
 */
export class FanoutHub {
  readonly #broker: Broker;
  readonly #logger: Logger;
  readonly #observe: FanoutObserver;
  readonly #resyncAttempts: number;
  readonly #resyncRetryMs: number;
  readonly #pageEvents: number;
  readonly #topics = new Map<string, Topic>();
  /** Sinks written to in this tick, uncorked together when it ends. */
  readonly #corked = new Set<EventSink>();
  readonly #uncorkAll = (): void => {
    for (const sink of this.#corked) sink.uncork();
    this.#corked.clear();
  };

  constructor(broker: Broker, logger: Logger, options: HubOptions = {}) {
    this.#broker = broker;
    this.#logger = logger;
    this.#observe = options.observe ?? (() => {});
    this.#resyncAttempts = options.resyncAttempts ?? 20;
    this.#resyncRetryMs = options.resyncRetryMs ?? 250;
    this.#pageEvents = options.pageEvents ?? 100;
    broker.listen({
      event: (jobId, event) => this.#onEvent(jobId, event),
      resync: (jobIds) => {
        for (const jobId of jobIds) {
          const topic = this.#topics.get(jobId);
          if (topic) void this.#resync(topic);
        }
      },
    });
  }

  get watchedJobs(): number {
    return this.#topics.size;
  }

  /** Adds a sink to its job's topic; resolves once live events for the job will reach it. */
  async join(jobId: string, sink: EventSink): Promise<void> {
    let topic = this.#topics.get(jobId);
    if (!topic) {
      topic = { jobId, sinks: new Set(), subscribed: this.#broker.subscribe(jobId) };
      this.#topics.set(jobId, topic);
    }
    topic.sinks.add(sink);
    try {
      await topic.subscribed;
    } catch (error) {
      this.leave(jobId, sink);
      throw error;
    }
  }

  leave(jobId: string, sink: EventSink): void {
    const topic = this.#topics.get(jobId);
    if (!topic?.sinks.delete(sink) || topic.sinks.size > 0) return;
    this.#topics.delete(jobId);
    this.#broker.unsubscribe(jobId);
  }

  /**
   * One page of the job's stored events after `afterId` (from the first when null): what a
   * joining sink catches up on, a page at a time (HistoryPages).
   */
  async history(jobId: string, afterId: string | null): Promise<HistoryPage> {
    const events = await this.#broker.history(jobId, afterId, this.#pageEvents);
    // A short page is the last; the next starts after this one's last entry.
    return { events, next: events.length < this.#pageEvents ? null : events.at(-1)!.id };
  }

  #onEvent(jobId: string, stored: BrokerEvent): void {
    const topic = this.#topics.get(jobId);
    if (!topic) return;
    const event = toFanoutEvent(stored);
    if (!event) {
      this.#logger.warn({ jobId }, 'dropped an event with a malformed id');
      return;
    }
    this.#dispatch(topic, event);
  }

  #dispatch(topic: Topic, event: FanoutEvent): void {
    // Events that arrive in one read from the broker are dispatched in one tick: cork each sink
    // once and uncork them all after the tick, so a busy job's watchers get one write per tick.
    if (this.#corked.size === 0) process.nextTick(this.#uncorkAll);
    this.#observe(event, topic.sinks.size);
    // Sinks may leave during the loop (terminal event, cut-off): a Set iterates safely past that.
    for (const sink of topic.sinks) {
      if (!this.#corked.has(sink)) {
        this.#corked.add(sink);
        sink.cork();
      }
      sink.deliver(event);
    }
  }

  async #resync(topic: Topic): Promise<void> {
    for (let attempt = 0; attempt < this.#resyncAttempts; attempt += 1) {
      let oldest: EventSink['position'] | null = null;
      for (const sink of topic.sinks) {
        if (!oldest || compareStreamIds(sink.position, oldest) < 0) oldest = sink.position;
      }
      if (!oldest) return; // every sink left meanwhile
      try {
        // A page at a time, each dispatched before the next is read: never a whole history held.
        for (let after: string | null = formatStreamId(oldest); after !== null; ) {
          const page = await this.history(topic.jobId, after);
          for (const stored of page.events) {
            const event = toFanoutEvent(stored);
            if (event) this.#dispatch(topic, event);
          }
          after = page.next;
        }
        return;
      } catch (err) {
        // The broker's history connection reconnects on its own schedule; wait for it.
        this.#logger.debug({ err, jobId: topic.jobId, attempt }, 'resync read failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, this.#resyncRetryMs));
      }
    }
    this.#logger.warn({ jobId: topic.jobId }, 'gave up re-reading a job history after a reconnect');
  }
}
